//! Coverage: how much of the registered population the response reached
//! (housing, food, fuel, transport), per center and local day, and the gaps
//! against Sphere minimum standards where the data allows (living space per
//! person in sites with a known floor area; food energy distributed against
//! 2,100 kcal per person per day).
//!
//! Everything is read from aggregates kept in the write transactions, so a
//! request reads rows per center and hour, never per household:
//! - registered households and persons: the arrival totals (households
//!   whose every member was merged into another record are not counted, as
//!   in every statistic);
//! - households reached: the `reached` breakdown, which counts each household
//!   once per kind of assistance, in the hour it first received it (or
//!   arrived, if later), as kept by `registration::record_reach`;
//! - food energy: the quantities distributed per center, day and item, and
//!   per hour for the partial days at the range's edges ([`tallies`]);
//! - living space: occupancy at the end of the range (`housing::occupied_at`).
//!
//! Counts of households follow the statistics' suppression rules: for
//! callers who may not see person-level records, counts from 1 to k-1 are
//! withheld, and so is anything they could be worked out from (the day-to-day
//! differences of the cumulative series, the total over centers, a share).

use std::collections::{BTreeMap, HashMap};

use actix_web::{web, HttpResponse};
use chrono::{NaiveDate, NaiveDateTime, TimeDelta, TimeZone};
use diesel::prelude::*;
use serde::Deserialize;
use serde_json::{json, Map, Value};
use uuid::Uuid;

use crate::auth::{Caller, CenterScope};
use crate::config::StatsSettings;
use crate::db::{tallies, Db, DbConnection};
use crate::error::ApiError;
use crate::extract::Query;
use crate::housing::{self, SPHERE_MIN_AREA_PER_PERSON_M2};
use crate::http::routes::resource;
use crate::http::time::{self, Timestamp};
use crate::schema::{items, sites};
use crate::stats::{self, dimension, CenterInfo, Publisher, Sector};
use crate::suppression::{Cell, Table};

/// Sphere: 2,100 kcal per person per day.
pub const SPHERE_KCAL_PER_PERSON_DAY: i64 = 2_100;

/// Sphere: covered living space in cold climates (Armenia, October to March).
pub const SPHERE_COLD_AREA_PER_PERSON_M2: f64 = 4.5;

/// The measures of a center's day: registered households, then those
/// reached by each kind of assistance (in the order of [`Sector::ALL`]).
const MEASURES: usize = 1 + Sector::ALL.len();

/// A count kept per hour and per UTC day, as loaded for a range of local
/// days: what was counted before the first day loaded, the days loaded, and
/// the hours loaded (those [`partial_hours`] lists for each day boundary).
#[derive(Default)]
struct Counted {
    before_days: i64,
    days: BTreeMap<NaiveDateTime, i64>,
    hours: HashMap<NaiveDateTime, i64>,
}

impl Counted {
    /// What was counted in the hours before `end`, a local day boundary:
    /// the whole UTC days before it, then either the hours of its UTC day
    /// before it or, nearer the day's end, that whole day less the hours
    /// from `end` on.
    fn before(&self, end: NaiveDateTime) -> i64 {
        let day = time::day_of(end);
        let days: i64 = self.before_days + self.days.range(..day).map(|(_, n)| n).sum::<i64>();
        let partial: i64 = partial_hours(end)
            .map(|hour| self.hours.get(&hour).copied().unwrap_or(0))
            .sum();
        if counts_from_midnight(end) {
            days + partial
        } else {
            days + self.days.get(&day).copied().unwrap_or(0) - partial
        }
    }
}

/// Whether the count before `end` adds the hours after its UTC midnight
/// (true) or takes the hours up to the next midnight away from the whole day.
fn counts_from_midnight(end: NaiveDateTime) -> bool {
    end - time::day_of(end) <= TimeDelta::hours(12)
}

/// The hours [`Counted::before`] reads for a day boundary: at most 12.
fn partial_hours(end: NaiveDateTime) -> impl Iterator<Item = NaiveDateTime> {
    let day = time::day_of(end);
    let (from, to) = if counts_from_midnight(end) {
        (day, end)
    } else {
        (
            time::hour_of(end - TimeDelta::microseconds(1)) + TimeDelta::hours(1),
            day + TimeDelta::days(1),
        )
    };
    // The hour an instant within it falls in counts before that instant,
    // as the hours it begins after count after it.
    let from = time::hour_of(from);
    (0..)
        .map(move |i| from + TimeDelta::hours(i))
        .take_while(move |hour| *hour < to)
}

/// Per center: registered households and the households each kind of
/// assistance had reached, and registered persons.
#[derive(Default)]
struct Series {
    households: [Counted; MEASURES],
    persons: Counted,
}

/// The local day boundaries of `range` at a center: the start of its first
/// local day to the end of its last.
fn boundaries(tz: chrono_tz::Tz, range: stats::Range) -> Vec<NaiveDateTime> {
    let first = range.from.and_utc().with_timezone(&tz).date_naive();
    let last = (range.to - TimeDelta::microseconds(1))
        .and_utc()
        .with_timezone(&tz)
        .date_naive();
    first
        .iter_days()
        .take_while(|d| *d <= last.succ_opt().unwrap_or(last))
        .map(|d| day_start(tz, d))
        .collect()
}

/// The breakdowns coverage reads: household sizes (their sum is the
/// registered households and persons) and the kinds of assistance reached.
const DIMENSIONS: [&str; 2] = [dimension::SIZE, dimension::REACHED];

/// The measure a breakdown row counts under: registered households (and
/// persons) are the sum over household sizes; households reached, one
/// measure per sector.
fn measure(dim: &str, value: &str) -> Option<usize> {
    if dim == dimension::SIZE {
        Some(0)
    } else {
        sector_index(value)
    }
}

/// The coverage aggregates of the centers `scope` allows, as much of them as
/// the local days of `range` need: everything before the first UTC day they
/// touch summed, then the days, and a few hours at each day boundary. Only
/// centers that have registered anyone (counted now) are listed.
///
/// Three reads, whatever the range: the daily rows of both breakdowns (the
/// days before the range summed, which with those after also tell the
/// centers that have registered anyone, and the range's days; household
/// sizes summed by the database into the households registered), then the
/// boundary hours of each.
fn series(
    conn: &mut DbConnection,
    scope: &CenterScope,
    range: stats::Range,
    centers: &HashMap<Uuid, CenterInfo>,
) -> Result<HashMap<Uuid, Series>, ApiError> {
    let mut ends: Vec<NaiveDateTime> = Vec::new();
    for (center, info) in centers {
        if scope.allows(*center) {
            ends.extend(boundaries(info.timezone, range));
        }
    }
    let (Some(first), Some(last)) = (ends.iter().min(), ends.iter().max()) else {
        return Ok(HashMap::new());
    };
    let (first_day, after_last_day) = (
        time::day_of(*first),
        time::day_of(*last) + TimeDelta::days(1),
    );
    let mut hours: Vec<NaiveDateTime> = ends.iter().flat_map(|end| partial_hours(*end)).collect();
    hours.sort();
    hours.dedup();

    let daily = stats::daily_span(
        conn,
        &DIMENSIONS,
        dimension::SIZE,
        first_day,
        after_last_day,
        scope,
    )?;
    let mut registered: HashMap<Uuid, i64> = HashMap::new();
    for (_, row) in daily.iter().filter(|(_, r)| r.dimension == dimension::SIZE) {
        *registered.entry(row.center).or_default() += row.households;
    }
    let mut out: HashMap<Uuid, Series> = registered
        .into_iter()
        .filter(|(_, households)| *households != 0)
        .map(|(center, _)| (center, Series::default()))
        .collect();
    for (_, row) in daily
        .iter()
        .filter(|(span, _)| *span == stats::Span::Before)
    {
        if let (Some(series), Some(m)) =
            (out.get_mut(&row.center), measure(row.dimension, &row.value))
        {
            series.households[m].before_days += row.households;
            if m == 0 {
                series.persons.before_days += row.persons;
            }
        }
    }
    let daily = daily
        .into_iter()
        .filter(|(span, _)| *span == stats::Span::Within)
        .map(|(_, row)| row);

    // Registered per hour from the totals, one row per center-hour rather
    // than one per household size.
    let mut hourly = stats::hourly_breakdown(conn, dimension::REACHED, &hours, scope)?;
    hourly.extend(stats::totals_at(conn, &hours, scope)?.into_iter().map(
        |(center, at, persons, households)| stats::TimedRow {
            center,
            at,
            dimension: dimension::SIZE,
            value: String::new(),
            persons,
            households,
        },
    ));
    let rows = daily
        .map(|row| (row, true))
        .chain(hourly.into_iter().map(|row| (row, false)));
    for (row, is_day) in rows {
        let (Some(series), Some(m)) =
            (out.get_mut(&row.center), measure(row.dimension, &row.value))
        else {
            continue;
        };
        let add = |counted: &mut Counted, n: i64| {
            let slot = if is_day {
                counted.days.entry(row.at).or_default()
            } else {
                counted.hours.entry(row.at).or_default()
            };
            *slot += n;
        };
        add(&mut series.households[m], row.households);
        if m == 0 {
            add(&mut series.persons, row.persons);
        }
    }
    Ok(out)
}

/// The measure a stored sector name counts under.
fn sector_index(sector: &str) -> Option<usize> {
    Sector::ALL
        .iter()
        .position(|s| s.as_str() == sector)
        .map(|i| i + 1)
}

/// The UTC instant a local date begins at in `tz`.
fn day_start(tz: chrono_tz::Tz, date: NaiveDate) -> NaiveDateTime {
    let midnight = date.and_hms_opt(0, 0, 0).expect("midnight exists");
    tz.from_local_datetime(&midnight)
        .earliest()
        .map_or(midnight, |t| t.naive_utc())
}

/// `GET /api/v1/stats/coverage` query.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CoverageQuery {
    from: Option<Timestamp>,
    to: Option<Timestamp>,
    center_id: Option<Uuid>,
    suppress: Option<bool>,
}

/// `GET /api/v1/stats/coverage`: per center and local day, the registered
/// households and how many of them had been housed, given food, given fuel
/// and transported (with the share), plus the Sphere gaps.
pub async fn coverage(
    caller: Caller,
    db: web::Data<Db>,
    settings: web::Data<StatsSettings>,
    query: Query<CoverageQuery>,
) -> Result<HttpResponse, ApiError> {
    let query = query.0;
    let access = stats::access(
        &caller,
        query.center_id,
        query.suppress,
        settings.suppression_k,
    )?;
    let range = stats::range(query.from, query.to, 30)?;
    if (range.to - range.from).num_days() > stats::MAX_DAYS {
        return Err(ApiError::bad_parameter(
            "from",
            format!("at most {} days per request", stats::MAX_DAYS),
        ));
    }
    let scope = access.scope.clone();
    let (series, centers, living_space, kcal) = db
        .read(move |conn| {
            let centers = stats::center_infos(conn)?;
            Ok((
                series(conn, &scope, range, &centers)?,
                centers,
                living_space(conn, range.to)?,
                kcal_distributed(conn, &scope, range.from, range.to)?,
            ))
        })
        .await?;
    let body = report(
        series,
        &centers,
        &living_space,
        &kcal,
        range.from,
        range.to,
        access.suppress_below,
    );
    Ok(HttpResponse::Ok().json(body))
}

fn report(
    series: HashMap<Uuid, Series>,
    centers: &HashMap<Uuid, CenterInfo>,
    living: &LivingSpace,
    kcal: &HashMap<Uuid, i64>,
    from: NaiveDateTime,
    to: NaiveDateTime,
    k: Option<i64>,
) -> Value {
    let by_center: BTreeMap<(String, Uuid), Series> = series
        .into_iter()
        .map(|(center, series)| {
            let code = centers
                .get(&center)
                .map(|c| c.code.clone())
                .unwrap_or_default();
            ((code, center), series)
        })
        .collect();

    // The table: per center, day and measure (registered + each sector), the
    // cumulative count and the unpublished new count it implies; the total
    // over centers per day and measure.
    let mut t = Table::new();
    let measures = MEASURES;
    let mut days_of: Vec<Vec<(NaiveDate, Vec<Cell>)>> = Vec::new();
    let mut total: BTreeMap<NaiveDate, Vec<Vec<Cell>>> = BTreeMap::new();
    for ((_, center), series) in &by_center {
        let tz = centers
            .get(center)
            .map_or(chrono_tz::Asia::Yerevan, |c| c.timezone);
        let first = from.and_utc().with_timezone(&tz).date_naive();
        let last = (to - chrono::TimeDelta::microseconds(1))
            .and_utc()
            .with_timezone(&tz)
            .date_naive();
        let mut days = Vec::new();
        let mut previous: Option<Vec<Cell>> = None;
        let start = day_start(tz, first);
        let before_start: Vec<i64> = series.households.iter().map(|m| m.before(start)).collect();
        let base: Vec<Cell> = before_start.iter().map(|v| t.cell(*v)).collect();
        for date in first.iter_days().take_while(|d| *d <= last) {
            let end = day_start(tz, date.succ_opt().expect("a next day"));
            let values: Vec<i64> = series.households.iter().map(|m| m.before(end)).collect();
            let cells: Vec<Cell> = values.iter().map(|v| t.cell(*v)).collect();
            let prior = previous.as_ref().unwrap_or(&base);
            for m in 0..measures {
                let new = t.cell(values[m] - t.value(prior[m]));
                t.relation(&[(cells[m], 1), (prior[m], -1), (new, -1)]);
            }
            let day_total = total.entry(date).or_insert_with(|| vec![vec![]; measures]);
            for (parts, cell) in day_total.iter_mut().zip(&cells) {
                parts.push(*cell);
            }
            previous = Some(cells.clone());
            days.push((date, cells));
        }
        days_of.push(days);
    }
    let totals: BTreeMap<NaiveDate, Vec<Cell>> = total
        .into_iter()
        .map(|(date, parts)| {
            let cells: Vec<Cell> = parts
                .iter()
                .map(|parts| {
                    let cell = t.cell(parts.iter().map(|c| t.value(*c)).sum());
                    t.sum(cell, parts);
                    cell
                })
                .collect();
            (date, cells)
        })
        .collect();
    let living_cells = [
        t.cell(living.persons),
        t.cell(living.persons_below),
        t.cell(living.persons_below_cold),
    ];
    let p = Publisher::finish(t, k);

    let day_object = |date: &NaiveDate, cells: &[Cell]| {
        let mut day = stats::object();
        day.insert("date".into(), json!(date));
        p.put(&mut day, "registered_households", cells[0]);
        for (i, sector) in Sector::ALL.iter().map(|s| s.as_str()).enumerate() {
            let mut o = stats::object();
            p.put(&mut o, "households", cells[i + 1]);
            let share = if p.hidden(cells[0]) || p.hidden(cells[i + 1]) {
                Value::Null
            } else {
                share(p.value(cells[i + 1]), p.value(cells[0]))
            };
            o.insert("share".into(), share);
            day.insert(sector.into(), Value::Object(o));
        }
        Value::Object(day)
    };
    let center_list: Vec<Value> = by_center
        .keys()
        .zip(&days_of)
        .map(|((code, center), days)| {
            let info = centers.get(center);
            let mut object = json!({
                "center_id": center,
                "code": code,
                "name": info.map(|c| c.name.clone()),
            });
            // Moved in: `json!` would serialize the days again, a copy.
            object["days"] = days.iter().map(|(d, cells)| day_object(d, cells)).collect();
            object
        })
        .collect();
    let total_days: Vec<Value> = totals
        .iter()
        .map(|(d, cells)| day_object(d, cells))
        .collect();

    let mut living_object = Map::new();
    living_object.insert(
        "standard_m2_per_person".into(),
        json!(SPHERE_MIN_AREA_PER_PERSON_M2),
    );
    living_object.insert(
        "cold_climate_m2_per_person".into(),
        json!(SPHERE_COLD_AREA_PER_PERSON_M2),
    );
    living_object.insert("sites_with_area".into(), json!(living.sites));
    living_object.insert("sites_below_standard".into(), json!(living.sites_below));
    living_object.insert("suppressed".into(), json!([]));
    p.put(
        &mut living_object,
        "persons_in_sites_with_area",
        living_cells[0],
    );
    p.put(
        &mut living_object,
        "persons_below_standard",
        living_cells[1],
    );
    p.put(
        &mut living_object,
        "persons_below_cold_climate_standard",
        living_cells[2],
    );

    // Food energy: kcal handed out against 2,100 kcal per registered person
    // per day over the range (person-days counted per local day). The
    // requirement is the persons registered at the center, times 2,100, day
    // by day: for a one-day range, the center's registered persons that day,
    // and two adjacent days give the new arrivals the series withhold. So
    // where counts are suppressed, it (and the share that divides by it) is
    // withheld whatever its size.
    let food: Vec<Value> = by_center
        .iter()
        .map(|((code, center), series)| {
            let distributed = kcal.get(center).copied().unwrap_or(0);
            if k.is_some() {
                return json!({
                    "center_id": center,
                    "code": code,
                    "kcal_distributed": distributed,
                    "kcal_required": null,
                    "share": null,
                    "suppressed": ["kcal_required", "share"],
                });
            }
            let tz = centers
                .get(center)
                .map_or(chrono_tz::Asia::Yerevan, |c| c.timezone);
            let first = from.and_utc().with_timezone(&tz).date_naive();
            let last = (to - chrono::TimeDelta::microseconds(1))
                .and_utc()
                .with_timezone(&tz)
                .date_naive();
            let mut person_days = 0;
            for date in first.iter_days().take_while(|d| *d <= last) {
                let end = day_start(tz, date.succ_opt().expect("a next day"));
                person_days += series.persons.before(end);
            }
            let required = person_days * SPHERE_KCAL_PER_PERSON_DAY;
            json!({
                "center_id": center,
                "code": code,
                "kcal_distributed": distributed,
                "kcal_required": required,
                "share": share(distributed, required),
            })
        })
        .collect();

    let mut body = json!({
        "from": from.and_utc(),
        "to": to.and_utc(),
        "sectors": Sector::ALL.map(Sector::as_str),
        "total": {},
        "sphere": {
            "food_energy": {
                "standard_kcal_per_person_day": SPHERE_KCAL_PER_PERSON_DAY,
            },
        },
        "suppression": stats::suppression_note(k),
    });
    // The large parts are moved in rather than through `json!`, which would
    // serialize them into a copy.
    body["centers"] = Value::Array(center_list);
    body["total"]["days"] = Value::Array(total_days);
    body["sphere"]["living_space"] = Value::Object(living_object);
    body["sphere"]["food_energy"]["centers"] = Value::Array(food);
    body
}

fn share(part: i64, whole: i64) -> Value {
    if whole == 0 {
        Value::Null
    } else {
        json!((part as f64 / whole as f64 * 10_000.0).round() / 10_000.0)
    }
}

/// Living space at the end of the range, over sites with a known floor area.
#[derive(Debug, Default)]
struct LivingSpace {
    sites: i64,
    sites_below: i64,
    persons: i64,
    persons_below: i64,
    persons_below_cold: i64,
}

fn living_space(conn: &mut DbConnection, at: NaiveDateTime) -> Result<LivingSpace, ApiError> {
    // Present at the end of the range: checked in before `at`, not checked
    // out by then; read for the sites with a floor area only.
    let present: HashMap<String, i64> = housing::occupied_at(
        conn,
        at - TimeDelta::microseconds(1),
        housing::SiteSet::WithFloorArea,
    )?
    .into_iter()
    .map(|(site, (persons, _))| (site.to_string(), persons))
    .collect();
    let areas: Vec<(String, Option<f64>)> = sites::table
        .filter(sites::floor_area_m2.is_not_null())
        .select((sites::id, sites::floor_area_m2))
        .load(conn)?;
    let mut out = LivingSpace::default();
    for (site, area) in areas {
        let (Some(area), Some(&persons)) = (area, present.get(&site)) else {
            out.sites += 1;
            continue;
        };
        out.sites += 1;
        out.persons += persons;
        if persons > 0 && area / (persons as f64) < SPHERE_MIN_AREA_PER_PERSON_M2 {
            out.sites_below += 1;
            out.persons_below += persons;
        }
        if persons > 0 && area / (persons as f64) < SPHERE_COLD_AREA_PER_PERSON_M2 {
            out.persons_below_cold += persons;
        }
    }
    Ok(out)
}

/// Food energy distributed per center in `[from, to)` (whole hours).
fn kcal_distributed(
    conn: &mut DbConnection,
    scope: &CenterScope,
    from: NaiveDateTime,
    to: NaiveDateTime,
) -> Result<HashMap<Uuid, i64>, ApiError> {
    let energy: HashMap<String, i32> = items::table
        .filter(items::sector.eq("food"))
        .filter(items::kcal_per_unit.is_not_null())
        .select((items::id, items::kcal_per_unit.assume_not_null()))
        .load::<(String, i32)>(conn)?
        .into_iter()
        .collect();
    let centers = scope.stored_ids();
    let mut out = HashMap::new();
    if energy.is_empty() {
        return Ok(out);
    }
    let foods: Vec<String> = energy.keys().cloned().collect();
    for (center, item, quantity) in tallies::distributed(conn, &foods, from, to, centers)? {
        if let Some(kcal) = energy.get(&item.to_string()) {
            *out.entry(center).or_insert(0) += quantity * i64::from(*kcal);
        }
    }
    Ok(out)
}

/// The coverage routes, under `/api/v1`.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/stats/coverage").get(coverage));
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Whichever side of UTC midnight a day boundary is counted from, and
    /// on the hour or not, the count equals the plain sum of the hours
    /// before it.
    #[test]
    fn a_count_before_a_boundary_is_the_sum_of_the_hours_before_it() {
        let start = NaiveDate::from_ymd_opt(2023, 9, 20)
            .unwrap()
            .and_time(chrono::NaiveTime::MIN);
        let hours: Vec<(NaiveDateTime, i64)> = (0..24 * 10)
            .map(|i| (start + TimeDelta::hours(i), (i * 7 % 13) - 3))
            .collect();
        let mut days: BTreeMap<NaiveDateTime, i64> = BTreeMap::new();
        for (hour, n) in &hours {
            *days.entry(time::day_of(*hour)).or_default() += n;
        }
        for minutes in (24 * 60..8 * 24 * 60).step_by(30) {
            let end = start + TimeDelta::minutes(minutes);
            let counted = Counted {
                before_days: 0,
                days: days.clone(),
                hours: hours
                    .iter()
                    .filter(|(hour, _)| partial_hours(end).any(|h| h == *hour))
                    .copied()
                    .collect(),
            };
            let expected: i64 = hours.iter().filter(|(h, _)| *h < end).map(|(_, n)| n).sum();
            assert_eq!(counted.before(end), expected, "before {end}");
        }
    }
}
