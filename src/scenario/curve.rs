//! Cumulative counts over time that pass exactly through documented points.
//!
//! A [`Profile`] is built from a few `(instant, cumulative count)` points. A
//! monotone cubic through the points gives the trend (so the rate changes
//! smoothly from one checkpoint to the next instead of jumping), a daily
//! profile makes days busier than nights, and each stretch between two points
//! is then rescaled so that it adds up to exactly the documented difference.

/// Seconds in an hour.
pub(super) const HOUR: i64 = 3600;

/// Monotone cubic Hermite interpolation (Fritsch–Butland tangents, the
/// "PCHIP" of numerical libraries): never overshoots, never decreases when
/// the points do not.
struct MonotoneCubic {
    x: Vec<f64>,
    y: Vec<f64>,
    slope: Vec<f64>,
}

impl MonotoneCubic {
    /// With `taper_end`, the rate falls to zero at the last point; otherwise
    /// it keeps the last stretch's average rate.
    fn new(x: Vec<f64>, y: Vec<f64>, taper_end: bool) -> MonotoneCubic {
        let n = x.len();
        let h: Vec<f64> = x.windows(2).map(|w| w[1] - w[0]).collect();
        let d: Vec<f64> = (0..n - 1).map(|k| (y[k + 1] - y[k]) / h[k]).collect();
        // Zero slope at the start: the flow ramps up from nothing.
        let mut slope = vec![0.0; n];
        if !taper_end {
            slope[n - 1] = d[n - 2];
        }
        for k in 1..n - 1 {
            if d[k - 1] > 0.0 && d[k] > 0.0 {
                let w1 = 2.0 * h[k] + h[k - 1];
                let w2 = h[k] + 2.0 * h[k - 1];
                slope[k] = (w1 + w2) / (w1 / d[k - 1] + w2 / d[k]);
            }
        }
        MonotoneCubic { x, y, slope }
    }

    fn eval(&self, at: f64) -> f64 {
        let n = self.x.len();
        if at <= self.x[0] {
            return self.y[0];
        }
        if at >= self.x[n - 1] {
            return self.y[n - 1];
        }
        let k = self.x.partition_point(|&x| x <= at) - 1;
        let h = self.x[k + 1] - self.x[k];
        let t = (at - self.x[k]) / h;
        let (t2, t3) = (t * t, t * t * t);
        (2.0 * t3 - 3.0 * t2 + 1.0) * self.y[k]
            + (t3 - 2.0 * t2 + t) * h * self.slope[k]
            + (-2.0 * t3 + 3.0 * t2) * self.y[k + 1]
            + (t3 - t2) * h * self.slope[k + 1]
    }
}

/// A cumulative count known at every boundary of a time grid (hourly, plus
/// every point's instant), linear within a grid cell.
#[derive(Debug, Clone)]
pub(super) struct Profile {
    /// Grid boundaries, Unix seconds, increasing.
    bounds: Vec<i64>,
    /// The cumulative count at each boundary (exact integers at the points).
    cumulative: Vec<f64>,
}

impl Profile {
    /// Builds the profile through `points` (Unix seconds, cumulative count;
    /// increasing instants, non-decreasing counts, the first on a whole hour).
    /// `daily(t)` weighs the cell starting at `t` (e.g. by local hour of day).
    /// With `taper_end` the rate dies out towards the last point.
    pub(super) fn build(
        points: &[(i64, i64)],
        daily: impl Fn(i64) -> f64,
        taper_end: bool,
    ) -> Profile {
        assert!(points.len() >= 2, "a profile needs at least two points");
        for pair in points.windows(2) {
            assert!(
                pair[0].0 < pair[1].0 && pair[0].1 <= pair[1].1,
                "profile points must move forward in time and never decrease: {pair:?}"
            );
        }
        let (start, end) = (points[0].0, points[points.len() - 1].0);
        let mut bounds: Vec<i64> = (0..)
            .map(|k| start + k * HOUR)
            .take_while(|&t| t < end)
            .chain(points.iter().map(|p| p.0))
            .collect();
        bounds.sort_unstable();
        bounds.dedup();

        let hours = |t: i64| (t - start) as f64 / HOUR as f64;
        let trend = MonotoneCubic::new(
            points.iter().map(|p| hours(p.0)).collect(),
            points.iter().map(|p| p.1 as f64).collect(),
            taper_end,
        );

        let mut cumulative = vec![0.0; bounds.len()];
        let mut cell = 0;
        for pair in points.windows(2) {
            let ((t0, y0), (t1, y1)) = (pair[0], pair[1]);
            let first = cell;
            while bounds[cell] < t1 {
                cell += 1;
            }
            // Cells first..cell lie between the two points.
            let weight = |j: usize, by_trend: bool| {
                let (a, b) = (bounds[j], bounds[j + 1]);
                let base = if by_trend {
                    (trend.eval(hours(b)) - trend.eval(hours(a))).max(0.0)
                } else {
                    (b - a) as f64
                };
                base * daily(a)
            };
            let mut weights: Vec<f64> = (first..cell).map(|j| weight(j, true)).collect();
            if weights.iter().sum::<f64>() <= 0.0 {
                weights = (first..cell).map(|j| weight(j, false)).collect();
            }
            let total: f64 = weights.iter().sum();
            cumulative[first] = y0 as f64;
            let mut running = 0.0;
            for (i, w) in weights.iter().enumerate() {
                running += w;
                cumulative[first + i + 1] = y0 as f64 + (y1 - y0) as f64 * running / total;
            }
            debug_assert_eq!(bounds[first], t0);
            // Exactly the documented figure, whatever the rounding above did.
            cumulative[cell] = y1 as f64;
        }
        Profile { bounds, cumulative }
    }

    /// The grid boundaries (Unix seconds).
    pub(super) fn bounds(&self) -> &[i64] {
        &self.bounds
    }

    /// The whole-number cumulative count at each boundary: exact at the
    /// points, never decreasing.
    pub(super) fn counts(&self) -> Vec<i64> {
        self.cumulative.iter().map(|c| c.round() as i64).collect()
    }

    /// The instant (Unix seconds, fractional) at which the cumulative count
    /// reaches `value`.
    pub(super) fn time_of(&self, value: f64) -> f64 {
        let k = self.cumulative.partition_point(|&c| c < value);
        if k == 0 {
            return self.bounds[0] as f64;
        }
        if k == self.bounds.len() {
            return self.bounds[k - 1] as f64;
        }
        let (c0, c1) = (self.cumulative[k - 1], self.cumulative[k]);
        let (t0, t1) = (self.bounds[k - 1] as f64, self.bounds[k] as f64);
        t0 + (value - c0) / (c1 - c0) * (t1 - t0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interpolation_is_monotone_and_exact_at_points() {
        let curve = MonotoneCubic::new(
            vec![0.0, 9.0, 11.0, 17.0, 20.0, 40.0],
            vec![0.0, 1050.0, 1510.0, 2906.0, 9000.0, 9010.0],
            true,
        );
        let mut last = 0.0;
        for i in 0..=400 {
            let y = curve.eval(i as f64 * 0.1);
            assert!(y >= last - 1e-9, "decreases at {}", i as f64 * 0.1);
            last = y;
        }
        assert_eq!(curve.eval(9.0), 1050.0);
        assert_eq!(curve.eval(40.0), 9010.0);
    }

    #[test]
    fn profile_hits_every_point_and_splits_cells_at_points() {
        let points = [
            (0, 0),
            (3 * HOUR + 1800, 100),
            (10 * HOUR, 100),
            (12 * HOUR, 130),
        ];
        let profile = Profile::build(&points, |_| 1.0, false);
        let counts = profile.counts();
        for (t, y) in points {
            let i = profile.bounds().iter().position(|&b| b == t).unwrap();
            assert_eq!(counts[i], y);
        }
        assert!(counts.windows(2).all(|w| w[0] <= w[1]));
        assert!(profile.bounds().contains(&(3 * HOUR)));
        let t = profile.time_of(50.0);
        assert!(t > 0.0 && t < (3 * HOUR + 1800) as f64);
        let t = profile.time_of(115.0);
        assert!(t > (10 * HOUR) as f64 && t < (12 * HOUR) as f64);
    }
}
