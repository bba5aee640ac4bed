//! `GET /api/v1/stats/summary`: the headline totals as of now or of any past
//! instant (corrections made after it undone from their snapshots).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use actix_web::{web, HttpResponse};
use chrono::{NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::Deserialize;
use serde_json::{json, Value};
use uuid::Uuid;

use super::access::{
    access, center_infos, object, suppression_note, Access, CenterInfo, Publisher,
};
use super::aggregates::{contributions, SEXES};
use super::queries::total_sum;
use crate::auth::{Caller, CenterScope};
use crate::config::StatsSettings;
use crate::db::aggregates::{dimension, Count, Key};
use crate::db::{Db, DbConnection};
use crate::error::ApiError;
use crate::extract::Query;
use crate::http::stored;
use crate::http::time::{self, Timestamp};
use crate::registration::{self, Household};
use crate::schema::{arrival_totals, household_revisions, households};
use crate::suppression::{Cell, Table};

/// `GET /api/v1/stats/summary` query.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SummaryQuery {
    as_of: Option<Timestamp>,
    center_id: Option<Uuid>,
    suppress: Option<bool>,
}

/// Registered persons and households, per center, as of an instant.
#[derive(Debug, Default, Clone)]
struct Registered {
    persons: i64,
    households: i64,
    by_sex: BTreeMap<&'static str, i64>,
}

fn add_contribution(into: &mut HashMap<Uuid, Registered>, key: &Key, count: Count, sign: i64) {
    let (center, _, dim, value) = key;
    let entry = into.entry(*center).or_default();
    match *dim {
        dimension::SIZE => {
            entry.persons += sign * count.persons;
            entry.households += sign * count.households;
        }
        dimension::SEX_AGE => {
            let sex = value.split('|').next().unwrap_or("unknown");
            let sex = SEXES.into_iter().find(|s| *s == sex).unwrap_or("unknown");
            *entry.by_sex.entry(sex).or_default() += sign * count.persons;
        }
        _ => {}
    }
}

/// Registered persons, households and sexes per center as they stood at `as_of`.
fn registered_as_of(
    conn: &mut DbConnection,
    as_of: NaiveDateTime,
) -> Result<HashMap<Uuid, Registered>, ApiError> {
    let mut out: HashMap<Uuid, Registered> = HashMap::new();
    let hour = time::hour_of(as_of);
    // Whole hours before as_of, from the per center-hour totals.
    let rows: Vec<(String, i64, i64, i64, i64, i64, i64)> = arrival_totals::table
        .filter(arrival_totals::bucket.lt(hour))
        .group_by(arrival_totals::center_id)
        .select((
            arrival_totals::center_id,
            total_sum("persons"),
            total_sum("households"),
            total_sum("female"),
            total_sum("male"),
            total_sum("other"),
            total_sum("unknown"),
        ))
        .load(conn)?;
    for (center, persons, households, female, male, other, unknown) in rows {
        let entry = out.entry(stored::id(&center)?).or_default();
        entry.persons += persons;
        entry.households += households;
        for (sex, n) in SEXES.into_iter().zip([female, male, other, unknown]) {
            *entry.by_sex.entry(sex).or_default() += n;
        }
    }
    // The part of the last hour up to and including as_of, from the records.
    for household in registration::arrived_between(conn, hour, as_of)? {
        for (key, count) in contributions(&household.arrival()) {
            add_contribution(&mut out, &key, count, 1);
        }
    }
    // Corrections made after as_of: count those households as they were then.
    let later: Vec<(String, i32)> = household_revisions::table
        .filter(household_revisions::replaced_at.gt(as_of))
        .group_by(household_revisions::household_id)
        .select((
            household_revisions::household_id,
            diesel::dsl::min(household_revisions::version).assume_not_null(),
        ))
        .load(conn)?;
    for (household_id, version) in later {
        let snapshot: String = household_revisions::table
            .find((&household_id, version))
            .select(household_revisions::snapshot)
            .first(conn)?;
        let then: Household = serde_json::from_str(&snapshot).map_err(ApiError::internal)?;
        let now = registration::find(conn, stored::id(&household_id)?)?
            .ok_or_else(|| ApiError::internal("a revised household is missing"))?;
        if now.arrived_at.naive_utc() <= as_of {
            for (key, count) in contributions(&now.arrival()) {
                add_contribution(&mut out, &key, count, -1);
            }
        }
        if then.arrived_at.naive_utc() <= as_of {
            for (key, count) in contributions(&then.arrival()) {
                add_contribution(&mut out, &key, count, 1);
            }
        }
    }
    Ok(out)
}

/// The headline figures as of an instant, across every center: what the
/// summary reports unsuppressed (used to check a replay against its sources).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Figures {
    pub registered: i64,
    pub registered_male: i64,
    pub registered_female: i64,
    pub registered_unknown: i64,
    pub crossed: i64,
    pub vehicles: i64,
}

/// [`Figures`] as of `as_of`.
pub fn figures_as_of(conn: &mut DbConnection, as_of: NaiveDateTime) -> Result<Figures, ApiError> {
    let mut figures = Figures::default();
    for registered in registered_as_of(conn, as_of)?.values() {
        figures.registered += registered.persons;
        figures.registered_male += registered.by_sex.get("male").copied().unwrap_or(0);
        figures.registered_female += registered.by_sex.get("female").copied().unwrap_or(0);
        figures.registered_unknown += registered.by_sex.get("unknown").copied().unwrap_or(0);
    }
    for (people, vehicles) in
        crate::flows::crossed_by_center(conn, crate::flows::Direction::In, as_of)?.values()
    {
        figures.crossed += people;
        figures.vehicles += vehicles;
    }
    Ok(figures)
}

/// `GET /api/v1/stats/summary`: totals as of now or of a past instant.
pub async fn summary(
    caller: Caller,
    db: web::Data<Db>,
    settings: web::Data<StatsSettings>,
    query: Query<SummaryQuery>,
) -> Result<HttpResponse, ApiError> {
    let query = query.0;
    let access = access(
        &caller,
        query.center_id,
        query.suppress,
        settings.suppression_k,
    )?;
    let as_of = query
        .as_of
        .map(|t| t.with_timezone(&Utc).naive_utc())
        .unwrap_or_else(time::now);
    let origin_population = settings.origin_population;
    let body = db
        .read(move |conn| {
            let centers = center_infos(conn)?;
            let registered = registered_as_of(conn, as_of)?;
            let crossed =
                crate::flows::crossed_by_center(conn, crate::flows::Direction::In, as_of)?;
            let (first, last) = arrival_range(conn, as_of, &access.scope)?;
            Ok(summary_body(
                as_of,
                origin_population,
                &access,
                &centers,
                &registered,
                &crossed,
                first,
                last,
            ))
        })
        .await?;
    Ok(HttpResponse::Ok().json(body))
}

fn arrival_range(
    conn: &mut DbConnection,
    as_of: NaiveDateTime,
    scope: &CenterScope,
) -> Result<(Option<NaiveDateTime>, Option<NaiveDateTime>), ApiError> {
    // Two index lookups: min and max in one query would scan every arrival.
    let query = || {
        let mut q = households::table
            .filter(households::arrived_at.le(as_of))
            .select(households::arrived_at)
            .into_boxed();
        if let CenterScope::Only(centers) = scope {
            let centers: Vec<String> = centers.iter().map(Uuid::to_string).collect();
            q = q.filter(households::center_id.eq_any(centers));
        }
        q
    };
    let first = query()
        .order(households::arrived_at.asc())
        .first(conn)
        .optional()?;
    let last = query()
        .order(households::arrived_at.desc())
        .first(conn)
        .optional()?;
    Ok((first, last))
}

#[allow(clippy::too_many_arguments)]
fn summary_body(
    as_of: NaiveDateTime,
    origin_population: i64,
    access: &Access,
    centers: &HashMap<Uuid, CenterInfo>,
    registered: &HashMap<Uuid, Registered>,
    crossed: &HashMap<Uuid, (i64, i64)>,
    first: Option<NaiveDateTime>,
    last: Option<NaiveDateTime>,
) -> Value {
    let mut ids: Vec<Uuid> = registered
        .iter()
        .filter(|(_, r)| r.persons != 0 || r.households != 0)
        .map(|(id, _)| *id)
        .chain(crossed.keys().copied())
        .filter(|id| access.scope.allows(*id))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    ids.sort_by_key(|id| centers.get(id).map(|c| c.code.clone()));

    let mut t = Table::new();
    struct Row {
        id: Uuid,
        persons: Cell,
        households: Cell,
        sexes: Vec<Cell>,
        crossed: Cell,
        vehicles: Cell,
        backlog: Cell,
    }
    let empty = Registered::default();
    let rows: Vec<Row> = ids
        .iter()
        .map(|id| {
            let r = registered.get(id).unwrap_or(&empty);
            let (people, vehicles) = crossed.get(id).copied().unwrap_or((0, 0));
            let persons = t.cell(r.persons);
            let sexes: Vec<Cell> = SEXES
                .iter()
                .map(|s| t.cell(r.by_sex.get(s).copied().unwrap_or(0)))
                .collect();
            t.sum(persons, &sexes);
            let crossed = t.cell(people);
            let backlog = t.cell(people - r.persons);
            t.relation(&[(crossed, 1), (persons, -1), (backlog, -1)]);
            Row {
                id: *id,
                persons,
                households: t.cell(r.households),
                sexes,
                crossed,
                vehicles: t.cell(vehicles),
                backlog,
            }
        })
        .collect();
    let total =
        |t: &Table, f: &dyn Fn(&Row) -> Cell| rows.iter().map(|r| t.value(f(r))).sum::<i64>();
    let v = total(&t, &|r| r.persons);
    let persons = t.cell(v);
    let v = total(&t, &|r| r.households);
    let households = t.cell(v);
    let sexes: Vec<Cell> = (0..SEXES.len())
        .map(|i| {
            let v = total(&t, &|r| r.sexes[i]);
            t.cell(v)
        })
        .collect();
    let v = total(&t, &|r| r.crossed);
    let crossed_total = t.cell(v);
    let v = total(&t, &|r| r.vehicles);
    let vehicles_total = t.cell(v);
    let v = total(&t, &|r| r.backlog);
    let backlog_total = t.cell(v);
    t.sum(persons, &rows.iter().map(|r| r.persons).collect::<Vec<_>>());
    t.sum(
        households,
        &rows.iter().map(|r| r.households).collect::<Vec<_>>(),
    );
    for (i, &sex) in sexes.iter().enumerate() {
        t.sum(sex, &rows.iter().map(|r| r.sexes[i]).collect::<Vec<_>>());
    }
    t.sum(persons, &sexes);
    t.sum(
        crossed_total,
        &rows.iter().map(|r| r.crossed).collect::<Vec<_>>(),
    );
    t.sum(
        vehicles_total,
        &rows.iter().map(|r| r.vehicles).collect::<Vec<_>>(),
    );
    t.sum(
        backlog_total,
        &rows.iter().map(|r| r.backlog).collect::<Vec<_>>(),
    );
    t.relation(&[(crossed_total, 1), (persons, -1), (backlog_total, -1)]);
    let p = Publisher::finish(t, access.suppress_below);

    let mut registered_obj = object();
    p.put(&mut registered_obj, "persons", persons);
    p.put(&mut registered_obj, "households", households);
    for (i, sex) in SEXES.iter().enumerate() {
        p.put(&mut registered_obj, sex, sexes[i]);
    }
    let mut crossed_obj = object();
    p.put(&mut crossed_obj, "people", crossed_total);
    p.put(&mut crossed_obj, "vehicles", vehicles_total);
    let mut top = object();
    p.put(&mut top, "backlog", backlog_total);
    let share = |cell: Cell| {
        (!p.hidden(cell)).then(|| {
            let value = p.value(cell) as f64 / origin_population as f64;
            (value * 10_000.0).round() / 10_000.0
        })
    };
    let center_rows: Vec<Value> = rows
        .iter()
        .map(|r| {
            let info = centers.get(&r.id);
            let mut o = object();
            o.insert("center_id".into(), json!(r.id));
            o.insert("code".into(), json!(info.map(|c| c.code.clone())));
            o.insert("name".into(), json!(info.map(|c| c.name.clone())));
            p.put(&mut o, "registered_persons", r.persons);
            p.put(&mut o, "registered_households", r.households);
            for (i, sex) in SEXES.iter().enumerate() {
                p.put(&mut o, &format!("registered_{sex}"), r.sexes[i]);
            }
            p.put(&mut o, "crossed_people", r.crossed);
            p.put(&mut o, "crossed_vehicles", r.vehicles);
            p.put(&mut o, "backlog", r.backlog);
            Value::Object(o)
        })
        .collect();
    json!({
        "as_of": as_of.and_utc(),
        "origin_population": origin_population,
        "registered": registered_obj,
        "crossed": crossed_obj,
        "backlog": top["backlog"],
        "share_of_origin_population": {
            "crossed": share(crossed_total),
            "registered": share(persons),
        },
        "first_arrival": first.map(|t| t.and_utc()),
        "last_arrival": last.map(|t| t.and_utc()),
        "centers": center_rows,
        "suppressed": top["suppressed"],
        "suppression": suppression_note(access.suppress_below),
    })
}
