//! State-provided accommodation in the replay: which registered households
//! the state placed, where and when, so that the persons in state
//! accommodation match every documented figure at its timestamp, in total
//! (`state_accommodation` in `data/nk-2023-observations.csv`) and per
//! province wherever the source attributes them
//! (`data/nk-2023-state-accommodation-by-province.csv`).
//!
//! The figures are completed where the sources leave gaps (see
//! `data/SOURCES.md`):
//! - before the first province list (26 Sep 20:00), totals are spread over
//!   the provinces in proportion to that list;
//! - on 28 Sep the briefing's total exceeds its list by 300: the replay
//!   holds them for a day at a state transit site in Yerevan, the one
//!   province absent from every list, and moves them to the provinces by
//!   29 Sep 20:00 (whose list adds up to its total);
//! - on 1 Oct four provinces are missing from the list: the remainder is
//!   spread over them between their 30 Sep and 2 Oct figures.
//!
//! After the peak on 2 Oct households leave for hosts and rented homes: about
//! 50 % of arrivals remain on 3 Oct and 40 % on 10 Oct (IOM), a shape rather
//! than exact figures.

use std::collections::BTreeMap;

use chrono::{DateTime, FixedOffset, TimeDelta, Utc};
use rand::seq::SliceRandom;
use rand::Rng;
use rand_chacha::ChaCha8Rng;

/// The documented province figures, embedded at build time.
const BY_PROVINCE_CSV: &str = include_str!("data/nk-2023-state-accommodation-by-province.csv");

/// The provinces where the state placed people.
pub const PROVINCES: [&str; 10] = [
    "AM-AG", "AM-AR", "AM-AV", "AM-GR", "AM-KT", "AM-LO", "AM-SH", "AM-SU", "AM-TV", "AM-VD",
];

/// Where the 28 Sep briefing's unattributed persons stay for a day.
pub const TRANSIT: &str = "AM-ER";

/// After the peak: (instant, share of the people who had crossed by then
/// still in state accommodation).
const DECLINE: [(&str, f64); 2] = [
    ("2023-10-03T20:00:00+04:00", 0.50),
    ("2023-10-10T23:59:00+04:00", 0.40),
];

#[derive(Debug, serde::Deserialize)]
struct ProvinceRow {
    observed_at: DateTime<FixedOffset>,
    province: String,
    people: i64,
}

/// Persons in state accommodation at one documented instant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    pub observed_at: DateTime<FixedOffset>,
    /// The documented total (scaled), which the targets add up to.
    pub total: i64,
    /// The provinces the source lists at this instant, with their figures (scaled).
    pub documented: BTreeMap<&'static str, i64>,
    /// Every province's figure (and the transit site's), documented or completed.
    pub target: BTreeMap<&'static str, i64>,
}

fn province(code: &str) -> &'static str {
    PROVINCES
        .iter()
        .chain([&TRANSIT])
        .find(|p| **p == code)
        .copied()
        .unwrap_or_else(|| panic!("unexpected province {code} in the accommodation figures"))
}

/// Splits `total` over slots between `lo` and `hi` (inclusive), in
/// proportion to their room `hi - lo`, with largest remainders.
fn spread(total: i64, lo: &[i64], hi: &[i64]) -> Vec<i64> {
    let (floor, ceil): (i64, i64) = (lo.iter().sum(), hi.iter().sum());
    assert!(
        (floor..=ceil).contains(&total),
        "{total} cannot be spread between {floor} and {ceil}"
    );
    let room = ceil - floor;
    let extra = total - floor;
    if room == 0 {
        return lo.to_vec();
    }
    let mut out: Vec<i64> = lo.to_vec();
    let mut remainders = Vec::new();
    let mut given = 0;
    for i in 0..lo.len() {
        let share = (hi[i] - lo[i]) as i128 * extra as i128;
        let whole = (share / room as i128) as i64;
        out[i] += whole;
        given += whole;
        remainders.push((share % room as i128, i));
    }
    remainders.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    for (_, i) in remainders.into_iter().take((extra - given) as usize) {
        out[i] += 1;
    }
    out
}

/// The documented instants with their complete targets, at `scale` (every
/// province figure scaled and rounded, kept non-decreasing; the total is
/// their sum, which at scale 1 is the documented total).
pub fn snapshots(totals: &[(DateTime<FixedOffset>, i64)], scale: f64) -> Vec<Snapshot> {
    let mut lists: BTreeMap<DateTime<FixedOffset>, BTreeMap<&'static str, i64>> = BTreeMap::new();
    for row in csv::Reader::from_reader(BY_PROVINCE_CSV.as_bytes()).deserialize::<ProvinceRow>() {
        let row = row.expect("the embedded province CSV is valid (checked by a test)");
        lists
            .entry(row.observed_at)
            .or_default()
            .insert(province(&row.province), row.people);
    }
    let slots: Vec<&'static str> = PROVINCES.iter().copied().chain([TRANSIT]).collect();
    let complete = |list: &BTreeMap<&'static str, i64>| -> Vec<i64> {
        slots
            .iter()
            .map(|p| list.get(p).copied().unwrap_or(0))
            .collect()
    };
    // First pass, at scale 1: every instant's complete target.
    let mut unscaled: Vec<(DateTime<FixedOffset>, i64, Vec<i64>)> = Vec::new();
    for (i, &(at, total)) in totals.iter().enumerate() {
        let previous = unscaled
            .last()
            .map(|(_, _, v)| v.clone())
            .unwrap_or_else(|| vec![0; slots.len()]);
        // The next instant with any list, and the next with every province.
        let next_listed = totals[i..].iter().find_map(|(t, _)| lists.get(t));
        let next_full = totals[i..]
            .iter()
            .find_map(|(t, _)| lists.get(t).filter(|l| l.len() == PROVINCES.len()));
        let target = match lists.get(&at) {
            // Listed provinces are exact. The others lie between their last
            // figure and the next full list; when every province is listed,
            // the transit site takes what the list leaves out of the total.
            Some(list) => {
                let (mut lo, mut hi) = (complete(list), complete(list));
                let listed: i64 = list.values().sum();
                for (j, slot) in slots.iter().enumerate() {
                    if list.contains_key(slot) {
                        continue;
                    }
                    if *slot == TRANSIT {
                        let rest = if list.len() == PROVINCES.len() {
                            total - listed
                        } else {
                            0
                        };
                        (lo[j], hi[j]) = (rest, rest);
                    } else {
                        lo[j] = previous[j];
                        hi[j] = next_full
                            .map_or(previous[j], |n| complete(n)[j])
                            .max(previous[j]);
                    }
                }
                spread(total, &lo, &hi)
            }
            // A total alone: spread like the next list.
            None => {
                let next = next_listed.expect("a province list follows every total");
                spread(total, &previous, &complete(next))
            }
        };
        unscaled.push((at, total, target));
    }
    // Second pass: scale, keeping each province non-decreasing (the transit
    // site may empty).
    let mut highest = vec![0_i64; slots.len()];
    unscaled
        .into_iter()
        .map(|(at, _, target)| {
            let scaled: Vec<i64> = target
                .iter()
                .enumerate()
                .map(|(j, v)| {
                    let v = (*v as f64 * scale).round() as i64;
                    if slots[j] == TRANSIT {
                        v
                    } else {
                        highest[j] = highest[j].max(v);
                        highest[j]
                    }
                })
                .collect();
            let target: BTreeMap<&'static str, i64> =
                slots.iter().copied().zip(scaled.iter().copied()).collect();
            let documented = lists
                .get(&at)
                .map(|l| l.keys().map(|p| (*p, target[p])).collect())
                .unwrap_or_default();
            Snapshot {
                observed_at: at,
                total: scaled.iter().sum(),
                documented,
                target,
            }
        })
        .collect()
}

/// A step of the accommodation plan, for household `household` (an index
/// into the households given to [`plan`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Checked in at the state site of `province`.
    Place {
        household: usize,
        province: &'static str,
        at: DateTime<Utc>,
    },
    /// Moved from the transit site to the state site of `province`.
    Move {
        household: usize,
        province: &'static str,
        at: DateTime<Utc>,
    },
    /// Left state accommodation (for a host family or a rented home).
    Leave { household: usize, at: DateTime<Utc> },
}

/// A registered household: when it arrived and how many it counts.
#[derive(Debug, Clone, Copy)]
pub struct Candidate {
    pub arrived_at: DateTime<Utc>,
    pub persons: i64,
}

/// Chooses `need` persons' worth of households from `pool` (in its order):
/// exactly whenever the pool allows, else as close below as it can (only
/// at very small scales). The chosen leave the pool.
fn fill(need: i64, pool: &mut Vec<usize>, households: &[Candidate]) -> Vec<usize> {
    let mut remaining = need;
    let mut chosen = Vec::new();
    let mut kept = Vec::with_capacity(pool.len());
    for &h in pool.iter() {
        if remaining > 0 && households[h].persons <= remaining {
            remaining -= households[h].persons;
            chosen.push(h);
        } else {
            kept.push(h);
        }
    }
    *pool = kept;
    chosen
}

/// A random instant in `(from, to]`, on the minute where possible.
fn between(rng: &mut ChaCha8Rng, from: DateTime<Utc>, to: DateTime<Utc>) -> DateTime<Utc> {
    let span = (to - from).num_seconds();
    if span <= 60 {
        return to;
    }
    let at = from + TimeDelta::seconds(rng.random_range(1..=span / 60) * 60);
    at.min(to)
}

/// The placements (and moves, and departures) that reproduce `snapshots`
/// with the households given, and then the decline after the peak. `crossed`
/// gives the people who had crossed by an instant (for the decline's shares).
///
/// Every target is met exactly when whole households can make it up, which
/// they always can at full scale; at very small scales (a handful of
/// households) a figure may fall short, and the shortfall is made up later.
/// [`occupancy`] tells what a plan achieves.
pub fn plan(
    snapshots: &[Snapshot],
    households: &[Candidate],
    crossed: impl Fn(DateTime<Utc>) -> i64,
    rng: &mut ChaCha8Rng,
) -> Vec<Step> {
    let mut order: Vec<usize> = (0..households.len()).collect();
    order.sort_by_key(|&h| households[h].arrived_at);
    let mut next_arrival = 0;
    let mut pool: Vec<usize> = Vec::new();
    let mut placed: BTreeMap<&'static str, Vec<usize>> = BTreeMap::new();
    let mut current: BTreeMap<&'static str, i64> = BTreeMap::new();
    let mut steps = Vec::new();
    let mut previous_at: Option<DateTime<Utc>> = None;
    for snapshot in snapshots {
        let at = snapshot.observed_at.with_timezone(&Utc);
        while next_arrival < order.len() && households[order[next_arrival]].arrived_at <= at {
            pool.push(order[next_arrival]);
            next_arrival += 1;
        }
        pool.shuffle(rng);
        let since = |h: usize| {
            previous_at.map_or(households[h].arrived_at, |p| {
                p.max(households[h].arrived_at)
            })
        };
        // The transit site empties first, into provinces that grow.
        let transit_target = snapshot.target.get(TRANSIT).copied().unwrap_or(0);
        let mut need: BTreeMap<&'static str, i64> = PROVINCES
            .iter()
            .map(|p| {
                (
                    *p,
                    snapshot.target[p] - current.get(p).copied().unwrap_or(0),
                )
            })
            .collect();
        if current.get(TRANSIT).copied().unwrap_or(0) > transit_target {
            let leaving = placed.remove(TRANSIT).unwrap_or_default();
            for h in leaving {
                let persons = households[h].persons;
                // The province that can take it exactly, else the one that
                // needs the most (only at very small scales).
                let province = need
                    .iter()
                    .find(|(_, n)| **n >= persons)
                    .or_else(|| need.iter().max_by_key(|(_, n)| **n))
                    .map(|(p, _)| *p)
                    .unwrap_or(PROVINCES[0]);
                *need.entry(province).or_default() -= persons;
                *current.entry(TRANSIT).or_default() -= persons;
                *current.entry(province).or_default() += persons;
                placed.entry(province).or_default().push(h);
                steps.push(Step::Move {
                    household: h,
                    province,
                    at: between(rng, previous_at.unwrap_or(at), at),
                });
            }
        }
        need.insert(
            TRANSIT,
            transit_target - current.get(TRANSIT).copied().unwrap_or(0),
        );
        for (province, n) in need {
            if n <= 0 {
                continue;
            }
            for h in fill(n, &mut pool, households) {
                *current.entry(province).or_default() += households[h].persons;
                placed.entry(province).or_default().push(h);
                let from = since(h);
                steps.push(Step::Place {
                    household: h,
                    province,
                    at: between(rng, from, at),
                });
            }
        }
        previous_at = Some(at);
    }
    // After the peak: households leave, towards the documented shares.
    let mut staying: Vec<usize> = placed.into_values().flatten().collect();
    staying.shuffle(rng);
    let mut in_state: i64 = staying.iter().map(|h| households[*h].persons).sum();
    let mut from = previous_at.unwrap_or_default();
    for (when, share) in DECLINE {
        let until = when
            .parse::<DateTime<FixedOffset>>()
            .expect("a valid instant")
            .with_timezone(&Utc);
        let goal = (crossed(until) as f64 * share).round() as i64;
        while in_state > goal {
            let Some(h) = staying.pop() else { break };
            in_state -= households[h].persons;
            steps.push(Step::Leave {
                household: h,
                at: between(rng, from.max(households[h].arrived_at), until),
            });
        }
        from = until;
    }
    steps
}

/// Persons per province (and transit site) at each of `instants` under a
/// plan's steps.
pub fn occupancy(
    steps: &[Step],
    households: &[Candidate],
    instants: &[DateTime<Utc>],
) -> Vec<BTreeMap<&'static str, i64>> {
    instants
        .iter()
        .map(|at| {
            let mut where_: BTreeMap<usize, &'static str> = BTreeMap::new();
            let mut ordered: Vec<&Step> = steps.iter().collect();
            ordered.sort_by_key(|s| match s {
                Step::Place { at, .. } => (*at, 0),
                Step::Move { at, .. } => (*at, 1),
                Step::Leave { at, .. } => (*at, 2),
            });
            for step in ordered {
                match step {
                    Step::Place {
                        household,
                        province,
                        at: t,
                    }
                    | Step::Move {
                        household,
                        province,
                        at: t,
                    } if t <= at => {
                        where_.insert(*household, province);
                    }
                    Step::Leave { household, at: t } if t <= at => {
                        where_.remove(household);
                    }
                    _ => {}
                }
            }
            let mut persons: BTreeMap<&'static str, i64> = BTreeMap::new();
            for (h, p) in where_ {
                *persons.entry(p).or_default() += households[h].persons;
            }
            persons
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn spreading_stays_within_bounds_and_adds_up() {
        assert_eq!(spread(10, &[0, 0, 0], &[5, 5, 0]), vec![5, 5, 0]);
        assert_eq!(spread(7, &[1, 1], &[5, 10]), vec![3, 4]);
        let r = spread(
            22_868,
            &[1852, 7640, 3009, 2862],
            &[2454, 13050, 5186, 4337],
        );
        assert_eq!(r.iter().sum::<i64>(), 22_868);
        for (v, (lo, hi)) in r.iter().zip(
            [1852, 7640, 3009, 2862]
                .iter()
                .zip([2454, 13050, 5186, 4337]),
        ) {
            assert!((*lo..=hi).contains(v));
        }
    }

    fn documented_totals() -> Vec<(DateTime<FixedOffset>, i64)> {
        crate::scenario::observations()
            .into_iter()
            .filter_map(|o| Some((o.observed_at, o.state_accommodation?)))
            .collect()
    }

    #[test]
    fn at_full_scale_every_documented_figure_is_a_target() {
        let snapshots = snapshots(&documented_totals(), 1.0);
        assert_eq!(snapshots.len(), 10);
        let rows: Vec<ProvinceRow> = csv::Reader::from_reader(BY_PROVINCE_CSV.as_bytes())
            .deserialize()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(rows.len(), 59);
        for row in rows {
            let s = snapshots
                .iter()
                .find(|s| s.observed_at == row.observed_at)
                .unwrap();
            assert_eq!(s.target[province(&row.province)], row.people, "{row:?}");
            assert_eq!(s.documented[province(&row.province)], row.people);
        }
        for (s, (_, total)) in snapshots.iter().zip(documented_totals()) {
            assert_eq!(s.total, total, "{}", s.observed_at);
        }
        let on_28_sep = &snapshots[5];
        assert_eq!(on_28_sep.target[TRANSIT], 300);
        assert!(snapshots
            .iter()
            .filter(|s| s.observed_at != on_28_sep.observed_at)
            .all(|s| s.target[TRANSIT] == 0));
        // Provinces never shrink before the peak.
        for pair in snapshots.windows(2) {
            for p in PROVINCES {
                assert!(
                    pair[1].target[p] >= pair[0].target[p],
                    "{p} at {}",
                    pair[1].observed_at
                );
            }
        }
    }

    #[test]
    fn the_plan_meets_every_target_with_whole_households() {
        let snapshots = snapshots(&documented_totals(), 0.2);
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        // Households of 1 to 6 arriving evenly from 24 Sep 14:00, about 25,000 persons.
        let start: DateTime<Utc> = "2023-09-24T10:00:00Z".parse().unwrap();
        let households: Vec<Candidate> = (0..6_500)
            .map(|i| Candidate {
                arrived_at: start + TimeDelta::seconds(i * 60),
                persons: 1 + (i * 7 % 6),
            })
            .collect();
        let steps = plan(&snapshots, &households, |_| 20_000, &mut rng);
        for step in &steps {
            if let Step::Place { household, at, .. } | Step::Move { household, at, .. } = step {
                assert!(households[*household].arrived_at <= *at);
            }
        }
        let instants: Vec<_> = snapshots
            .iter()
            .map(|s| s.observed_at.with_timezone(&Utc))
            .collect();
        for (s, persons) in snapshots
            .iter()
            .zip(occupancy(&steps, &households, &instants))
        {
            for (p, target) in &s.target {
                assert_eq!(
                    persons.get(p).copied().unwrap_or(0),
                    *target,
                    "{p} at {}",
                    s.observed_at
                );
            }
        }
        assert!(steps.iter().any(|s| matches!(s, Step::Move { .. })));
        assert!(steps.iter().any(|s| matches!(s, Step::Leave { .. })));
    }
}
