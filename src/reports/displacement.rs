//! `displacement.csv`: per local date and center, the people who crossed the
//! border and the people registered, new that day and cumulative; with
//! `disaggregate=sex_age`, registrations per sex and age band as well.
//!
//! The figures come from the same aggregates as `/api/v1/stats/arrivals` and
//! are withheld the same way: counts from 1 to k-1, and every count that the
//! published ones would give away through the report's relations (a
//! cumulative count is the previous one plus the day's; a center's day is the
//! sum of its sexes and age bands; all centers' day is the sum of the
//! centers', as the statistics API publishes it). A withheld cell is empty,
//! never text, and the `suppressed` column names the withheld columns.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::Write;

use chrono::{NaiveDate, NaiveDateTime, TimeDelta};
use chrono_tz::Tz;
use diesel::prelude::*;
use uuid::Uuid;

use super::{column, Column, Csv, Options, Request};
use crate::auth::CenterScope;
use crate::centers::{self, Center};
use crate::db::DbConnection;
use crate::error::ApiError;
use crate::http::time;
use crate::schema::{arrival_totals, flow_counts};
use crate::stats::{self, dimension, Range};
use crate::suppression::{Cell, Table};

const PLACE: [Column; 6] = [
    column("date", "#date"),
    column("center_code", "#loc+code"),
    column("center_name", "#loc+name"),
    column("center_type", "#loc+type"),
    column("province_code", "#adm1+code"),
    column("province_name", "#adm1+name"),
];

/// Columns per date and center.
pub const BY_CENTER: &[Column] = &[
    PLACE[0],
    PLACE[1],
    PLACE[2],
    PLACE[3],
    PLACE[4],
    PLACE[5],
    column("crossed", "#affected+displaced+ind"),
    column("crossed_cumulative", "#population+displaced+ind"),
    column("registered", "#reached+refugees+ind"),
    column("registered_cumulative", "#population+refugees+ind"),
    column("suppressed", "#meta"),
];

/// Columns per date, center, sex and age band (border counts are not
/// recorded by sex and age, so they are not in this variant).
pub const BY_SEX_AND_AGE: &[Column] = &[
    PLACE[0],
    PLACE[1],
    PLACE[2],
    PLACE[3],
    PLACE[4],
    PLACE[5],
    column("sex", "#beneficiary+type"),
    column("age_band", "#beneficiary+code"),
    column("registered", "#reached+refugees+ind"),
    column("registered_cumulative", "#population+refugees+ind"),
    column("suppressed", "#meta"),
];

pub fn columns(options: &Options) -> &'static [Column] {
    if options.by_sex_and_age {
        BY_SEX_AND_AGE
    } else {
        BY_CENTER
    }
}

/// A sex and an age band, as the aggregates label them.
type SexAndBand = (String, String);

/// The longest report: a year and a bit of days.
const MAX_DAYS: i64 = stats::MAX_DAYS;

/// A series of daily counts: the count before the first day, then per day
/// the new count and the cumulative one, as cells of the suppression table.
struct Series {
    before: Cell,
    new: Vec<Cell>,
    cumulative: Vec<Cell>,
}

impl Series {
    fn build(table: &mut Table, before: i64, daily: &[i64]) -> Series {
        let before_cell = table.cell(before);
        let mut running = before;
        let mut previous = before_cell;
        let mut new = Vec::with_capacity(daily.len());
        let mut cumulative = Vec::with_capacity(daily.len());
        for &n in daily {
            running += n;
            let n_cell = table.cell(n);
            let c_cell = table.cell(running);
            table.relation(&[(previous, 1), (n_cell, 1), (c_cell, -1)]);
            previous = c_cell;
            new.push(n_cell);
            cumulative.push(c_cell);
        }
        Series {
            before: before_cell,
            new,
            cumulative,
        }
    }

    /// A series that is the sum of `parts`, day by day.
    fn total(table: &mut Table, parts: &[&Series], days: usize) -> Series {
        let before: i64 = parts.iter().map(|s| table.value(s.before)).sum();
        let daily: Vec<i64> = (0..days)
            .map(|d| parts.iter().map(|s| table.value(s.new[d])).sum())
            .collect();
        let total = Series::build(table, before, &daily);
        let cells = |pick: &dyn Fn(&Series) -> Cell| -> Vec<Cell> {
            parts.iter().map(|s| pick(s)).collect()
        };
        table.sum(total.before, &cells(&|s| s.before));
        for d in 0..days {
            table.sum(total.new[d], &cells(&|s| s.new[d]));
            table.sum(total.cumulative[d], &cells(&|s| s.cumulative[d]));
        }
        total
    }
}

/// Daily persons of one group (a center, or a center's sex and age band).
#[derive(Default)]
struct Daily {
    before: i64,
    by_day: BTreeMap<NaiveDate, i64>,
}

impl Daily {
    fn values(&self, days: &[NaiveDate]) -> Vec<i64> {
        days.iter()
            .map(|d| self.by_day.get(d).copied().unwrap_or(0))
            .collect()
    }
}

/// Splits hourly rows into daily counts per group, in each center's timezone.
fn daily<K: Ord + Clone>(
    hourly: stats::Hourly,
    before: stats::Before,
    timezone: impl Fn(&Uuid) -> Tz,
    key: impl Fn(&Uuid, &str) -> Option<K>,
) -> BTreeMap<K, Daily> {
    let mut out: BTreeMap<K, Daily> = BTreeMap::new();
    for (center, hour, value, n) in hourly {
        if let Some(k) = key(&center, &value) {
            let day = hour
                .and_utc()
                .with_timezone(&timezone(&center))
                .date_naive();
            *out.entry(k).or_default().by_day.entry(day).or_default() += n;
        }
    }
    for (center, value, n) in before {
        if let Some(k) = key(&center, &value) {
            out.entry(k).or_default().before += n;
        }
    }
    out
}

pub fn write<W: Write>(
    conn: &mut DbConnection,
    request: &Request,
    out: &mut Csv<W>,
) -> Result<(), ApiError> {
    let centers: HashMap<Uuid, Center> = centers::all(conn)?
        .into_iter()
        .filter(|c| request.scope.allows(c.id))
        .map(|c| (c.id, c))
        .collect();
    let Some(range) = range(conn, request, &centers)? else {
        return Ok(()); // nothing recorded yet: the header alone
    };
    let tz = |center: &Uuid| {
        centers
            .get(center)
            .and_then(|c| c.timezone.parse::<Tz>().ok())
            .unwrap_or(super::timezone())
    };
    let scope = CenterScope::Only(centers.keys().copied().collect());
    // The report's days: local dates of the range in the reports' timezone.
    let first = range
        .from
        .and_utc()
        .with_timezone(&super::timezone())
        .date_naive();
    let last = (range.to - TimeDelta::microseconds(1))
        .and_utc()
        .with_timezone(&super::timezone())
        .date_naive();
    let days: Vec<NaiveDate> = first.iter_days().take_while(|d| *d <= last).collect();

    let mut table = Table::new();
    if request.options.by_sex_and_age {
        let (hourly, before) = stats::registered_series(conn, dimension::SEX_AGE, range, &scope)?;
        let groups = daily(hourly, before, tz, |center, value| {
            let (sex, band) = value.split_once('|')?;
            Some((*center, sex.to_string(), band.to_string()))
        });
        // Each center's groups, and the center's own series as their sum.
        let mut by_center: BTreeMap<Uuid, Vec<(SexAndBand, Series)>> = BTreeMap::new();
        for ((center, sex, band), counts) in &groups {
            let series = Series::build(&mut table, counts.before, &counts.values(&days));
            by_center
                .entry(*center)
                .or_default()
                .push(((sex.clone(), band.clone()), series));
        }
        let totals: Vec<Series> = by_center
            .values()
            .map(|groups| {
                let parts: Vec<&Series> = groups.iter().map(|(_, s)| s).collect();
                Series::total(&mut table, &parts, days.len())
            })
            .collect();
        let parts: Vec<&Series> = totals.iter().collect();
        Series::total(&mut table, &parts, days.len());
        let hidden = hidden(&table, request.suppress_below);
        let mut rows: Vec<(NaiveDate, &str, &Uuid, usize, &str, &str, &Series)> = Vec::new();
        for (center, groups) in &by_center {
            let Some(info) = centers.get(center) else {
                continue;
            };
            for ((sex, band), series) in groups {
                for (d, day) in days.iter().enumerate() {
                    rows.push((*day, &info.code, center, d, sex, band, series));
                }
            }
        }
        rows.sort_by(|a, b| {
            (a.0, a.1, sex_order(a.4), band_order(a.5)).cmp(&(
                b.0,
                b.1,
                sex_order(b.4),
                band_order(b.5),
            ))
        });
        for (day, _, center, d, sex, band, series) in rows {
            place(out, day, &centers[center]);
            out.text(sex);
            out.text(band);
            counts(
                out,
                &table,
                &hidden,
                &[
                    ("registered", series.new[d]),
                    ("registered_cumulative", series.cumulative[d]),
                ],
            );
            out.end_row()?;
        }
    } else {
        let (hourly, before) = stats::registered_series(conn, dimension::SIZE, range, &scope)?;
        let registered = daily(hourly, before, tz, |center, _| Some(*center));
        let (hourly, before) = crate::flows::crossed_series(conn, range, &scope)?;
        let crossed = daily(hourly, before, tz, |center, _| Some(*center));
        let with_data: BTreeSet<Uuid> = registered.keys().chain(crossed.keys()).copied().collect();
        let none = Daily::default();
        let mut series: BTreeMap<Uuid, (Series, Series)> = BTreeMap::new();
        for center in &with_data {
            let c = crossed.get(center).unwrap_or(&none);
            let r = registered.get(center).unwrap_or(&none);
            let c = Series::build(&mut table, c.before, &c.values(&days));
            let r = Series::build(&mut table, r.before, &r.values(&days));
            series.insert(*center, (c, r));
        }
        let crossed_parts: Vec<&Series> = series.values().map(|(c, _)| c).collect();
        Series::total(&mut table, &crossed_parts, days.len());
        let registered_parts: Vec<&Series> = series.values().map(|(_, r)| r).collect();
        Series::total(&mut table, &registered_parts, days.len());
        let hidden = hidden(&table, request.suppress_below);
        let mut order: Vec<(&str, &Uuid)> = series
            .keys()
            .filter_map(|id| centers.get(id).map(|c| (c.code.as_str(), id)))
            .collect();
        order.sort();
        for (d, day) in days.iter().enumerate() {
            for (_, center) in &order {
                let (c, r) = &series[*center];
                place(out, *day, &centers[*center]);
                counts(
                    out,
                    &table,
                    &hidden,
                    &[
                        ("crossed", c.new[d]),
                        ("crossed_cumulative", c.cumulative[d]),
                        ("registered", r.new[d]),
                        ("registered_cumulative", r.cumulative[d]),
                    ],
                );
                out.end_row()?;
            }
        }
    }
    Ok(())
}

/// The hour-aligned range to report: the period asked for, its missing ends
/// taken from the first and last days with records; `None` when nothing
/// has been recorded at the centers in scope.
fn range(
    conn: &mut DbConnection,
    request: &Request,
    centers: &HashMap<Uuid, Center>,
) -> Result<Option<Range>, ApiError> {
    let hour = |t: NaiveDateTime, up: bool| {
        let floor = time::hour_of(t);
        if up && floor < t {
            floor + TimeDelta::hours(1)
        } else {
            floor
        }
    };
    // Without bounds: from the first to the last day anything was recorded.
    let ids: Vec<String> = centers.keys().map(Uuid::to_string).collect();
    let (first_registered, last_registered): (Option<NaiveDateTime>, Option<NaiveDateTime>) =
        arrival_totals::table
            .filter(arrival_totals::center_id.eq_any(&ids))
            .select((
                diesel::dsl::min(arrival_totals::bucket),
                diesel::dsl::max(arrival_totals::bucket),
            ))
            .first(conn)?;
    let (first_crossed, last_crossed): (Option<NaiveDateTime>, Option<NaiveDateTime>) =
        flow_counts::table
            .filter(flow_counts::center_id.eq_any(&ids))
            .select((
                diesel::dsl::min(flow_counts::window_start),
                diesel::dsl::max(flow_counts::window_start),
            ))
            .first(conn)?;
    let first = first_registered.into_iter().chain(first_crossed).min();
    let last = last_registered.into_iter().chain(last_crossed).max();
    let (Some(first), Some(last)) = (first, last) else {
        return Ok(None);
    };
    let day_of = |t: NaiveDateTime| t.and_utc().with_timezone(&super::timezone()).date_naive();
    let whole_days = super::Period::parse(
        Some(&day_of(first).to_string()),
        Some(&day_of(last).to_string()),
    )?;
    let from = match request.period.from {
        Some(from) => hour(from, false),
        None => whole_days.from.unwrap_or(first),
    };
    let to = match request.period.to {
        Some(to) => hour(to, true),
        None => whole_days.to.unwrap_or(last).max(from + TimeDelta::days(1)),
    };
    if from >= to {
        return Err(ApiError::bad_parameter("from", "must be before `to`"));
    }
    if to - from > TimeDelta::days(MAX_DAYS) {
        return Err(ApiError::bad_parameter(
            "from",
            format!("a displacement report spans at most {MAX_DAYS} days: give `from` and `to`"),
        ));
    }
    Ok(Some(Range { from, to }))
}

fn hidden(table: &Table, k: Option<i64>) -> Vec<bool> {
    match k {
        Some(k) => table.suppress(k),
        None => vec![false; table.len()],
    }
}

fn place<W: Write>(out: &mut Csv<W>, day: NaiveDate, center: &Center) {
    out.date(day);
    out.text(&center.code);
    out.text(&center.name);
    out.text(center.kind.as_str());
    out.text(&center.province);
    out.text(crate::provinces::name(&center.province).unwrap_or(""));
}

/// The count columns, empty where withheld, then the `suppressed` list.
fn counts<W: Write>(out: &mut Csv<W>, table: &Table, hidden: &[bool], cells: &[(&str, Cell)]) {
    let mut withheld: Vec<&str> = Vec::new();
    for &(name, cell) in cells {
        if hidden[cell] {
            out.empty();
            withheld.push(name);
        } else {
            out.int(table.value(cell));
        }
    }
    out.text(&withheld.join(";"));
}

fn sex_order(sex: &str) -> usize {
    ["female", "male", "other", "unknown"]
        .iter()
        .position(|s| *s == sex)
        .unwrap_or(4)
}

fn band_order(band: &str) -> usize {
    crate::age_bands::AgeBand::from_label(band).map_or(usize::MAX, |b| b as usize)
}
