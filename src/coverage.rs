//! Coverage: how much of the registered population the response reached
//! (housing, food, fuel, transport), per center and local day, and the gaps against Sphere minimum standards
//! where the data allows (living space per person in sites with a known
//! floor area; food energy distributed against 2,100 kcal per person per day).
//!
//! Counts of households follow the statistics' suppression rules: for
//! callers who may not see person-level records, counts from 1 to k-1 are
//! withheld, and so is anything they could be worked out from (the day-to-day
//! differences of the cumulative series, the total over centers, a share).

use std::collections::{BTreeMap, HashMap};

use actix_web::{web, HttpResponse};
use chrono::{NaiveDate, NaiveDateTime, TimeZone};
use diesel::prelude::*;
use serde::Deserialize;
use serde_json::{json, Map, Value};
use uuid::Uuid;

use crate::auth::{Caller, CenterScope};
use crate::config::StatsSettings;
use crate::db::{Db, DbConnection};
use crate::error::ApiError;
use crate::extract::Query;
use crate::housing::SPHERE_MIN_AREA_PER_PERSON_M2;
use crate::http::routes::resource;
use crate::http::stored;
use crate::http::time::Timestamp;
use crate::schema::{boardings, distributions, households, items, placements, sites, trips};
use crate::stats::{self, CenterInfo, Publisher};
use crate::suppression::{Cell, Table};

/// Sphere: 2,100 kcal per person per day.
pub const SPHERE_KCAL_PER_PERSON_DAY: i64 = 2_100;

/// Sphere: covered living space in cold climates (Armenia, October to March).
pub const SPHERE_COLD_AREA_PER_PERSON_M2: f64 = 4.5;

/// The kinds of assistance whose coverage is reported.
const SECTORS: [&str; 4] = ["housing", "food", "fuel", "transport"];

/// A household, and when it first received each kind of assistance.
struct Reached {
    center: Uuid,
    arrived_at: NaiveDateTime,
    persons: i64,
    first: [Option<NaiveDateTime>; SECTORS.len()],
}

fn first_times(
    rows: Vec<(String, Option<NaiveDateTime>)>,
) -> Result<HashMap<Uuid, NaiveDateTime>, ApiError> {
    rows.into_iter()
        .filter_map(|(h, t)| t.map(|t| (h, t)))
        .map(|(h, t)| Ok((stored::id(&h)?, t)))
        .collect()
}

fn first_distribution(
    conn: &mut DbConnection,
    sector: &str,
) -> Result<HashMap<Uuid, NaiveDateTime>, ApiError> {
    let rows: Vec<(String, Option<NaiveDateTime>)> = distributions::table
        .inner_join(items::table)
        .filter(items::sector.eq(sector))
        .group_by(distributions::household_id)
        .select((
            distributions::household_id,
            diesel::dsl::min(distributions::distributed_at),
        ))
        .load(conn)?;
    first_times(rows)
}

fn reached(conn: &mut DbConnection, scope: &CenterScope) -> Result<Vec<Reached>, ApiError> {
    let housed: Vec<(String, Option<NaiveDateTime>)> = placements::table
        .group_by(placements::household_id)
        .select((
            placements::household_id,
            diesel::dsl::min(placements::checked_in_at),
        ))
        .load(conn)?;
    let housed = first_times(housed)?;
    let food = first_distribution(conn, "food")?;
    let fuel = first_distribution(conn, "fuel")?;
    // Transported when the first trip it boarded left.
    let boarded: Vec<(String, Option<NaiveDateTime>)> = boardings::table
        .inner_join(trips::table)
        .group_by(boardings::household_id)
        .select((boardings::household_id, diesel::dsl::min(trips::departs_at)))
        .load(conn)?;
    let boarded = first_times(boarded)?;
    let rows: Vec<(String, String, NaiveDateTime, i32)> = households::table
        .select((
            households::id,
            households::center_id,
            households::arrived_at,
            households::size,
        ))
        .load(conn)?;
    let mut out = Vec::with_capacity(rows.len());
    for (id, center, arrived_at, size) in rows {
        let center = stored::id(&center)?;
        if !scope.allows(center) {
            continue;
        }
        let id = stored::id(&id)?;
        out.push(Reached {
            center,
            arrived_at,
            persons: i64::from(size),
            first: [
                housed.get(&id).copied(),
                food.get(&id).copied(),
                fuel.get(&id).copied(),
                boarded.get(&id).copied(),
            ],
        });
    }
    Ok(out)
}

/// How many of `sorted` are before `end`.
fn before(sorted: &[NaiveDateTime], end: NaiveDateTime) -> i64 {
    sorted.partition_point(|t| *t < end) as i64
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
    let (reached, centers, living_space, kcal) = db
        .read(move |conn| {
            Ok((
                reached(conn, &scope)?,
                stats::center_infos(conn)?,
                living_space(conn, range.to)?,
                kcal_distributed(conn, &scope, range.from, range.to)?,
            ))
        })
        .await?;
    let body = report(
        &reached,
        &centers,
        &living_space,
        &kcal,
        range.from,
        range.to,
        access.suppress_below,
    );
    Ok(HttpResponse::Ok().json(body))
}

/// Per center: arrival times and, per sector, first-receipt times, sorted.
struct Series {
    arrivals: Vec<NaiveDateTime>,
    persons_arrivals: Vec<(NaiveDateTime, i64)>,
    sectors: [Vec<NaiveDateTime>; SECTORS.len()],
}

fn report(
    reached: &[Reached],
    centers: &HashMap<Uuid, CenterInfo>,
    living: &LivingSpace,
    kcal: &HashMap<Uuid, i64>,
    from: NaiveDateTime,
    to: NaiveDateTime,
    k: Option<i64>,
) -> Value {
    let mut by_center: BTreeMap<(String, Uuid), Series> = BTreeMap::new();
    for r in reached {
        let code = centers
            .get(&r.center)
            .map(|c| c.code.clone())
            .unwrap_or_default();
        let series = by_center.entry((code, r.center)).or_insert_with(|| Series {
            arrivals: vec![],
            persons_arrivals: vec![],
            sectors: Default::default(),
        });
        series.arrivals.push(r.arrived_at);
        series.persons_arrivals.push((r.arrived_at, r.persons));
        for (i, first) in r.first.iter().enumerate() {
            if let Some(first) = first {
                // Counted once the household is registered.
                series.sectors[i].push((*first).max(r.arrived_at));
            }
        }
    }
    for series in by_center.values_mut() {
        series.arrivals.sort();
        series.persons_arrivals.sort();
        for s in &mut series.sectors {
            s.sort();
        }
    }

    // The table: per center, day and measure (registered + each sector), the
    // cumulative count and the unpublished new count it implies; the total
    // over centers per day and measure.
    let mut t = Table::new();
    let measures = 1 + SECTORS.len();
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
        let before_start: Vec<i64> = std::iter::once(before(&series.arrivals, start))
            .chain(series.sectors.iter().map(|s| before(s, start)))
            .collect();
        let base: Vec<Cell> = before_start.iter().map(|v| t.cell(*v)).collect();
        for date in first.iter_days().take_while(|d| *d <= last) {
            let end = day_start(tz, date.succ_opt().expect("a next day"));
            let values: Vec<i64> = std::iter::once(before(&series.arrivals, end))
                .chain(series.sectors.iter().map(|s| before(s, end)))
                .collect();
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
        for (i, sector) in SECTORS.iter().enumerate() {
            let mut o = stats::object();
            p.put(&mut o, "households", cells[i + 1]);
            let share = if p.hidden(cells[0]) || p.hidden(cells[i + 1]) {
                Value::Null
            } else {
                share(p.value(cells[i + 1]), p.value(cells[0]))
            };
            o.insert("share".into(), share);
            day.insert((*sector).into(), Value::Object(o));
        }
        Value::Object(day)
    };
    let center_list: Vec<Value> = by_center
        .keys()
        .zip(&days_of)
        .map(|((code, center), days)| {
            let info = centers.get(center);
            json!({
                "center_id": center,
                "code": code,
                "name": info.map(|c| c.name.clone()),
                "days": days.iter().map(|(d, cells)| day_object(d, cells)).collect::<Vec<_>>(),
            })
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
                person_days += series
                    .persons_arrivals
                    .iter()
                    .take_while(|(t, _)| *t < end)
                    .map(|(_, p)| p)
                    .sum::<i64>();
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

    json!({
        "from": from.and_utc(),
        "to": to.and_utc(),
        "sectors": SECTORS,
        "centers": center_list,
        "total": { "days": total_days },
        "sphere": {
            "living_space": Value::Object(living_object),
            "food_energy": {
                "standard_kcal_per_person_day": SPHERE_KCAL_PER_PERSON_DAY,
                "centers": food,
            },
        },
        "suppression": stats::suppression_note(k),
    })
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
    let present: Vec<(String, Option<i64>)> = placements::table
        .filter(placements::checked_in_at.lt(at))
        .filter(
            placements::checked_out_at
                .is_null()
                .or(placements::checked_out_at.ge(at)),
        )
        .group_by(placements::site_id)
        .select((placements::site_id, diesel::dsl::sum(placements::persons)))
        .load(conn)?;
    let present: HashMap<String, i64> = present
        .into_iter()
        .map(|(site, persons)| (site, persons.unwrap_or(0)))
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

/// Food energy distributed per center in `[from, to)`.
fn kcal_distributed(
    conn: &mut DbConnection,
    scope: &CenterScope,
    from: NaiveDateTime,
    to: NaiveDateTime,
) -> Result<HashMap<Uuid, i64>, ApiError> {
    let rows: Vec<(String, i64, Option<i32>)> = distributions::table
        .inner_join(items::table)
        .filter(items::sector.eq("food"))
        .filter(distributions::distributed_at.ge(from))
        .filter(distributions::distributed_at.lt(to))
        .select((
            distributions::center_id,
            distributions::quantity,
            items::kcal_per_unit,
        ))
        .load(conn)?;
    let mut out = HashMap::new();
    for (center, quantity, kcal) in rows {
        let center = stored::id(&center)?;
        if scope.allows(center) {
            *out.entry(center).or_insert(0) += quantity * i64::from(kcal.unwrap_or(0));
        }
    }
    Ok(out)
}

/// The coverage routes, under `/api/v1`.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/stats/coverage").get(coverage));
}
