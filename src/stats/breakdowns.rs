//! `GET /api/v1/stats/demographics` and `/stats/needs`: one dimension of the
//! aggregates summed per center (age-sex pyramid, household sizes, needs).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use actix_web::{web, HttpResponse};
use serde::Deserialize;
use serde_json::{json, Value};
use uuid::Uuid;

use super::access::{
    access, center_infos, object, suppression_note, Access, CenterInfo, Publisher,
};
use super::aggregates::SEXES;
use super::queries::{breakdown, range, Range};
use crate::age_bands::AgeBand;
use crate::auth::Caller;
use crate::config::StatsSettings;
use crate::db::aggregates::dimension;
use crate::db::Db;
use crate::error::ApiError;
use crate::extract::Query;
use crate::http::time::Timestamp;
use crate::suppression::{Cell, Table};

/// `GET /api/v1/stats/demographics` and `/stats/needs` query.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BreakdownQuery {
    from: Option<Timestamp>,
    to: Option<Timestamp>,
    center_id: Option<Uuid>,
    suppress: Option<bool>,
}

fn optional_range(query: &BreakdownQuery) -> Result<Option<Range>, ApiError> {
    if query.from.is_none() && query.to.is_none() {
        return Ok(None);
    }
    let from = query
        .from
        .or_else(|| Timestamp::parse("1990-01-01T00:00:00Z").ok());
    range(from, query.to, 0).map(Some)
}

/// `GET /api/v1/stats/demographics`: age-sex pyramid and households by size.
pub async fn demographics(
    caller: Caller,
    db: web::Data<Db>,
    settings: web::Data<StatsSettings>,
    query: Query<BreakdownQuery>,
) -> Result<HttpResponse, ApiError> {
    let query = query.0;
    let access = access(
        &caller,
        query.center_id,
        query.suppress,
        settings.suppression_k,
    )?;
    let range = optional_range(&query)?;
    let body = db
        .read(move |conn| {
            let pyramid = breakdown(conn, dimension::SEX_AGE, range, &access.scope)?;
            let sizes = breakdown(conn, dimension::SIZE, range, &access.scope)?;
            Ok(demographics_body(&access, range, pyramid, sizes))
        })
        .await?;
    Ok(HttpResponse::Ok().json(body))
}

fn demographics_body(
    access: &Access,
    range: Option<Range>,
    pyramid: Vec<(Uuid, String, i64, i64)>,
    sizes: Vec<(Uuid, String, i64, i64)>,
) -> Value {
    let mut cells: HashMap<(AgeBand, &'static str), i64> = HashMap::new();
    for (_, value, persons, _) in pyramid {
        let mut parts = value.split('|');
        let sex = parts.next().unwrap_or("unknown");
        let sex = SEXES.into_iter().find(|s| *s == sex).unwrap_or("unknown");
        let band = parts
            .next()
            .and_then(AgeBand::from_label)
            .unwrap_or(AgeBand::Unknown);
        *cells.entry((band, sex)).or_default() += persons;
    }
    let mut by_size: BTreeMap<i64, i64> = BTreeMap::new();
    for (_, value, _, households) in sizes {
        *by_size.entry(value.parse().unwrap_or(0)).or_default() += households;
    }

    let mut t = Table::new();
    let grid: Vec<Vec<Cell>> = AgeBand::ALL
        .iter()
        .map(|band| {
            SEXES
                .iter()
                .map(|sex| t.cell(cells.get(&(*band, *sex)).copied().unwrap_or(0)))
                .collect()
        })
        .collect();
    let band_totals: Vec<Cell> = grid
        .iter()
        .map(|row| {
            let v = row.iter().map(|&c| t.value(c)).sum();
            let total = t.cell(v);
            t.sum(total, row);
            total
        })
        .collect();
    let sex_totals: Vec<Cell> = (0..SEXES.len())
        .map(|j| {
            let column: Vec<Cell> = grid.iter().map(|row| row[j]).collect();
            let v = column.iter().map(|&c| t.value(c)).sum();
            let total = t.cell(v);
            t.sum(total, &column);
            total
        })
        .collect();
    let v = band_totals.iter().map(|&c| t.value(c)).sum();
    let persons = t.cell(v);
    t.sum(persons, &band_totals);
    t.sum(persons, &sex_totals);
    let size_cells: Vec<(i64, Cell)> = by_size.iter().map(|(s, h)| (*s, t.cell(*h))).collect();
    let v = size_cells.iter().map(|(_, c)| t.value(*c)).sum();
    let households = t.cell(v);
    t.sum(
        households,
        &size_cells.iter().map(|(_, c)| *c).collect::<Vec<_>>(),
    );
    let p = Publisher::finish(t, access.suppress_below);

    let bands: Vec<Value> = AgeBand::ALL
        .iter()
        .enumerate()
        .map(|(i, band)| {
            let mut o = object();
            o.insert("age_band".into(), json!(band.label()));
            for (j, sex) in SEXES.iter().enumerate() {
                p.put(&mut o, sex, grid[i][j]);
            }
            p.put(&mut o, "total", band_totals[i]);
            Value::Object(o)
        })
        .collect();
    let mut totals = object();
    for (j, sex) in SEXES.iter().enumerate() {
        p.put(&mut totals, sex, sex_totals[j]);
    }
    p.put(&mut totals, "total", persons);
    let sizes: Vec<Value> = size_cells
        .iter()
        .map(|(size, cell)| {
            let mut o = object();
            o.insert("size".into(), json!(size));
            p.put(&mut o, "households", *cell);
            Value::Object(o)
        })
        .collect();
    let mut households_obj = object();
    p.put(&mut households_obj, "households", households);
    json!({
        "from": range.map(|r| r.from.and_utc()),
        "to": range.map(|r| r.to.and_utc()),
        "pyramid": bands,
        "persons": totals,
        "households_by_size": sizes,
        "households": households_obj,
        "suppression": suppression_note(access.suppress_below),
    })
}

/// `GET /api/v1/stats/needs`: persons per specific-needs code, per center.
pub async fn needs(
    caller: Caller,
    db: web::Data<Db>,
    settings: web::Data<StatsSettings>,
    query: Query<BreakdownQuery>,
) -> Result<HttpResponse, ApiError> {
    let query = query.0;
    let access = access(
        &caller,
        query.center_id,
        query.suppress,
        settings.suppression_k,
    )?;
    let range = optional_range(&query)?;
    let body = db
        .read(move |conn| {
            let centers = center_infos(conn)?;
            let rows = breakdown(conn, dimension::NEED, range, &access.scope)?;
            Ok(needs_body(&access, range, &centers, rows))
        })
        .await?;
    Ok(HttpResponse::Ok().json(body))
}

fn needs_body(
    access: &Access,
    range: Option<Range>,
    centers: &HashMap<Uuid, CenterInfo>,
    rows: Vec<(Uuid, String, i64, i64)>,
) -> Value {
    let mut counts: BTreeMap<(String, Uuid), i64> = BTreeMap::new();
    let mut center_ids: BTreeSet<Uuid> = BTreeSet::new();
    for (center, code, persons, _) in rows {
        center_ids.insert(center);
        *counts.entry((code, center)).or_default() += persons;
    }
    let mut center_ids: Vec<Uuid> = center_ids.into_iter().collect();
    center_ids.sort_by_key(|id| centers.get(id).map(|c| c.code.clone()));
    let mut t = Table::new();
    let rows: Vec<(&'static str, Vec<Cell>, Cell)> = crate::needs::CODES
        .iter()
        .map(|code| {
            let cells: Vec<Cell> = center_ids
                .iter()
                .map(|c| {
                    t.cell(
                        counts
                            .get(&(code.code.to_string(), *c))
                            .copied()
                            .unwrap_or(0),
                    )
                })
                .collect();
            let v = cells.iter().map(|&c| t.value(c)).sum();
            let total = t.cell(v);
            t.sum(total, &cells);
            (code.code, cells, total)
        })
        .collect();
    let p = Publisher::finish(t, access.suppress_below);
    let items: Vec<Value> = rows
        .iter()
        .map(|(code, cells, total)| {
            let mut o = object();
            o.insert("code".into(), json!(code));
            p.put(&mut o, "persons", *total);
            let by_center: Vec<Value> = center_ids
                .iter()
                .zip(cells)
                .map(|(id, cell)| {
                    let mut c = object();
                    c.insert("center_id".into(), json!(id));
                    c.insert(
                        "code".into(),
                        json!(centers.get(id).map(|c| c.code.clone())),
                    );
                    p.put(&mut c, "persons", *cell);
                    Value::Object(c)
                })
                .collect();
            o.insert("centers".into(), json!(by_center));
            Value::Object(o)
        })
        .collect();
    json!({
        "version": crate::needs::VERSION,
        "from": range.map(|r| r.from.and_utc()),
        "to": range.map(|r| r.to.and_utc()),
        "items": items,
        "suppression": suppression_note(access.suppress_below),
    })
}
