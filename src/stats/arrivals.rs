//! `GET /api/v1/stats/arrivals`: new and cumulative arrivals per day or hour,
//! by group, from the aggregates (registered) or the flow counts (crossed).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use actix_web::{web, HttpResponse};
use chrono::{NaiveDateTime, TimeDelta};
use chrono_tz::Tz;
use diesel::prelude::*;
use serde::Deserialize;
use serde_json::{json, Value};
use uuid::Uuid;

use super::access::{
    access, center_infos, object, suppression_note, Access, CenterInfo, Publisher,
};
use super::queries::{range, sum_persons, total_sum, Range, MAX_DAYS, MAX_HOURS};
use crate::auth::{Caller, CenterScope};
use crate::config::StatsSettings;
use crate::db::aggregates::dimension;
use crate::db::{Db, DbConnection};
use crate::error::ApiError;
use crate::extract::Query;
use crate::http::stored;
use crate::http::time::Timestamp;
use crate::schema::{arrival_counts, arrival_totals};
use crate::suppression::{Cell, Table};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Interval {
    Day,
    Hour,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GroupBy {
    Center,
    Origin,
    Destination,
    Sex,
    AgeBand,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    Registered,
    Crossed,
}

/// `GET /api/v1/stats/arrivals` query.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ArrivalsQuery {
    from: Option<Timestamp>,
    to: Option<Timestamp>,
    interval: Option<Interval>,
    group_by: Option<GroupBy>,
    source: Option<Source>,
    center_id: Option<Uuid>,
    suppress: Option<bool>,
}

/// A series' group: its key in the response and a label for charts.
fn group_of(
    group_by: Option<GroupBy>,
    center: &Uuid,
    value: &str,
    centers: &HashMap<Uuid, CenterInfo>,
) -> (String, String) {
    match group_by {
        None => ("total".into(), "All arrivals".into()),
        Some(GroupBy::Center) => {
            let info = centers.get(center);
            (
                center.to_string(),
                info.map(|c| format!("{} ({})", c.name, c.code))
                    .unwrap_or_default(),
            )
        }
        Some(GroupBy::Origin) => (value.to_string(), value.to_string()),
        Some(GroupBy::Destination) if value.is_empty() => ("none".into(), "not stated".into()),
        Some(GroupBy::Destination) => (value.to_string(), value.to_string()),
        Some(GroupBy::Sex) => {
            let sex = value.split('|').next().unwrap_or("unknown").to_string();
            (sex.clone(), sex)
        }
        Some(GroupBy::AgeBand) => {
            let band = value.split('|').nth(1).unwrap_or("unknown").to_string();
            (band.clone(), band)
        }
    }
}

fn dimension_for(group_by: Option<GroupBy>) -> &'static str {
    match group_by {
        None | Some(GroupBy::Center) => dimension::SIZE,
        Some(GroupBy::Origin) => dimension::ORIGIN,
        Some(GroupBy::Destination) => dimension::DESTINATION,
        Some(GroupBy::Sex) | Some(GroupBy::AgeBand) => dimension::SEX_AGE,
    }
}

/// Persons per (center, hour, value) in `range`, and per (center, value) before it.
pub type Hourly = Vec<(Uuid, NaiveDateTime, String, i64)>;
pub type Before = Vec<(Uuid, String, i64)>;

/// Registered persons per (center, hour, value of `dim`) in `range`, and per
/// (center, value) before it.
pub fn registered_series(
    conn: &mut DbConnection,
    dim: &'static str,
    range: Range,
    scope: &CenterScope,
) -> Result<(Hourly, Before), ApiError> {
    if dim == dimension::SIZE {
        return registered_totals_series(conn, range, scope);
    }
    let mut q = arrival_counts::table
        .filter(arrival_counts::dimension.eq(dim))
        .filter(arrival_counts::bucket.ge(range.from))
        .filter(arrival_counts::bucket.lt(range.to))
        .group_by((
            arrival_counts::center_id,
            arrival_counts::bucket,
            arrival_counts::value,
        ))
        .select((
            arrival_counts::center_id,
            arrival_counts::bucket,
            arrival_counts::value,
            sum_persons(),
        ))
        .into_boxed();
    let mut b = arrival_counts::table
        .filter(arrival_counts::dimension.eq(dim))
        .filter(arrival_counts::bucket.lt(range.from))
        .group_by((arrival_counts::center_id, arrival_counts::value))
        .select((
            arrival_counts::center_id,
            arrival_counts::value,
            sum_persons(),
        ))
        .into_boxed();
    if let CenterScope::Only(centers) = scope {
        let centers: Vec<String> = centers.iter().map(Uuid::to_string).collect();
        q = q.filter(arrival_counts::center_id.eq_any(centers.clone()));
        b = b.filter(arrival_counts::center_id.eq_any(centers));
    }
    let rows: Vec<(String, NaiveDateTime, String, i64)> = q.load(conn)?;
    let before: Vec<(String, String, i64)> = b.load(conn)?;
    let rows = rows
        .into_iter()
        .map(|(c, t, v, n)| Ok((stored::id(&c)?, t, v, n)))
        .collect::<Result<_, ApiError>>()?;
    let before = before
        .into_iter()
        .map(|(c, v, n)| Ok((stored::id(&c)?, v, n)))
        .collect::<Result<_, ApiError>>()?;
    Ok((rows, before))
}

/// Persons per center and hour from the totals table (no breakdown needed).
fn registered_totals_series(
    conn: &mut DbConnection,
    range: Range,
    scope: &CenterScope,
) -> Result<(Hourly, Before), ApiError> {
    // Summed over shards in the database: one row per center-hour comes back.
    let mut q = arrival_totals::table
        .filter(arrival_totals::bucket.ge(range.from))
        .filter(arrival_totals::bucket.lt(range.to))
        .group_by((arrival_totals::center_id, arrival_totals::bucket))
        .select((
            arrival_totals::center_id,
            arrival_totals::bucket,
            total_sum("persons"),
        ))
        .into_boxed();
    let mut b = arrival_totals::table
        .filter(arrival_totals::bucket.lt(range.from))
        .group_by(arrival_totals::center_id)
        .select((arrival_totals::center_id, total_sum("persons")))
        .into_boxed();
    if let CenterScope::Only(centers) = scope {
        let centers: Vec<String> = centers.iter().map(Uuid::to_string).collect();
        q = q.filter(arrival_totals::center_id.eq_any(centers.clone()));
        b = b.filter(arrival_totals::center_id.eq_any(centers));
    }
    let rows: Vec<(String, NaiveDateTime, i64)> = q.load(conn)?;
    let before: Vec<(String, i64)> = b.load(conn)?;
    let rows = rows
        .into_iter()
        .map(|(c, t, n)| Ok((stored::id(&c)?, t, String::new(), n)))
        .collect::<Result<_, ApiError>>()?;
    let before = before
        .into_iter()
        .map(|(c, n)| Ok((stored::id(&c)?, String::new(), n)))
        .collect::<Result<_, ApiError>>()?;
    Ok((rows, before))
}

/// `GET /api/v1/stats/arrivals`: new and cumulative arrivals per day (the
/// center's local date) or hour, by group.
pub async fn arrivals(
    caller: Caller,
    db: web::Data<Db>,
    settings: web::Data<StatsSettings>,
    query: Query<ArrivalsQuery>,
) -> Result<HttpResponse, ApiError> {
    let query = query.0;
    let access = access(
        &caller,
        query.center_id,
        query.suppress,
        settings.suppression_k,
    )?;
    let interval = query.interval.unwrap_or(Interval::Day);
    let source = query.source.unwrap_or(Source::Registered);
    let group_by = query.group_by;
    if source == Source::Crossed && !matches!(group_by, None | Some(GroupBy::Center)) {
        return Err(ApiError::bad_parameter(
            "group_by",
            "crossings are counted per center only: use group_by=center or none",
        ));
    }
    let range = range(query.from, query.to, 30)?;
    let (limit, unit) = match interval {
        Interval::Day => (MAX_DAYS, TimeDelta::days(1)),
        Interval::Hour => (MAX_HOURS, TimeDelta::hours(1)),
    };
    if (range.to - range.from) > unit * limit as i32 {
        return Err(ApiError::bad_parameter(
            "from",
            format!("the range may span at most {limit} buckets of this interval"),
        ));
    }
    let body = db
        .read(move |conn| {
            let centers = center_infos(conn)?;
            let (rows, before) = match source {
                Source::Registered => {
                    registered_series(conn, dimension_for(group_by), range, &access.scope)?
                }
                Source::Crossed => crate::flows::crossed_series(conn, range, &access.scope)?,
            };
            Ok(series_body(
                interval, group_by, source, range, &access, &centers, rows, before,
            ))
        })
        .await?;
    Ok(HttpResponse::Ok().json(body))
}

fn bucket_label(interval: Interval, hour: NaiveDateTime, timezone: Tz) -> String {
    match interval {
        Interval::Day => hour
            .and_utc()
            .with_timezone(&timezone)
            .date_naive()
            .to_string(),
        Interval::Hour => hour
            .and_utc()
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
    }
}

#[allow(clippy::too_many_arguments)]
fn series_body(
    interval: Interval,
    group_by: Option<GroupBy>,
    source: Source,
    range: Range,
    access: &Access,
    centers: &HashMap<Uuid, CenterInfo>,
    rows: Hourly,
    before: Before,
) -> Value {
    let default_tz = chrono_tz::Asia::Yerevan;
    let tz_of = |center: &Uuid| centers.get(center).map_or(default_tz, |c| c.timezone);
    // Every bucket in the range, so that charts get explicit zeros.
    let mut labels: BTreeSet<String> = BTreeSet::new();
    let mut hour = range.from;
    while hour < range.to {
        labels.insert(bucket_label(interval, hour, default_tz));
        hour += TimeDelta::hours(1);
    }
    let mut group_labels: BTreeMap<String, String> = BTreeMap::new();
    let mut new: BTreeMap<String, BTreeMap<String, i64>> = BTreeMap::new();
    let mut base: BTreeMap<String, i64> = BTreeMap::new();
    for (center, hour, value, n) in rows {
        let (key, label) = group_of(group_by, &center, &value, centers);
        group_labels.entry(key.clone()).or_insert(label);
        let bucket = bucket_label(interval, hour, tz_of(&center));
        labels.insert(bucket.clone());
        *new.entry(key).or_default().entry(bucket).or_default() += n;
    }
    for (center, value, n) in before {
        let (key, label) = group_of(group_by, &center, &value, centers);
        group_labels.entry(key.clone()).or_insert(label);
        *base.entry(key).or_default() += n;
    }
    let labels: Vec<String> = labels.into_iter().collect();
    if group_by.is_none() {
        group_labels
            .entry("total".into())
            .or_insert_with(|| "All arrivals".into());
    }

    let mut t = Table::new();
    struct Series {
        key: String,
        before: Cell,
        new: Vec<Cell>,
        cumulative: Vec<Cell>,
    }
    let mut series: Vec<Series> = Vec::new();
    for key in group_labels.keys() {
        let before_value = base.get(key).copied().unwrap_or(0);
        let before = t.cell(before_value);
        let mut running = before_value;
        let mut previous = before;
        let mut new_cells = Vec::new();
        let mut cum_cells = Vec::new();
        for label in &labels {
            let n = new
                .get(key)
                .and_then(|m| m.get(label))
                .copied()
                .unwrap_or(0);
            running += n;
            let n_cell = t.cell(n);
            let c_cell = t.cell(running);
            t.relation(&[(previous, 1), (n_cell, 1), (c_cell, -1)]);
            previous = c_cell;
            new_cells.push(n_cell);
            cum_cells.push(c_cell);
        }
        series.push(Series {
            key: key.clone(),
            before,
            new: new_cells,
            cumulative: cum_cells,
        });
    }
    // Totals across groups, which a chart's stacked bars show anyway.
    let total_before = {
        let v = series.iter().map(|s| t.value(s.before)).sum();
        let cell = t.cell(v);
        t.sum(cell, &series.iter().map(|s| s.before).collect::<Vec<_>>());
        cell
    };
    let mut total_new = Vec::new();
    let mut total_cum = Vec::new();
    for i in 0..labels.len() {
        let v = series.iter().map(|s| t.value(s.new[i])).sum();
        let n = t.cell(v);
        t.sum(n, &series.iter().map(|s| s.new[i]).collect::<Vec<_>>());
        let v = series.iter().map(|s| t.value(s.cumulative[i])).sum();
        let c = t.cell(v);
        t.sum(
            c,
            &series.iter().map(|s| s.cumulative[i]).collect::<Vec<_>>(),
        );
        total_new.push(n);
        total_cum.push(c);
    }
    let p = Publisher::finish(t, access.suppress_below);
    let points = |new: &[Cell], cumulative: &[Cell]| -> Vec<Value> {
        labels
            .iter()
            .enumerate()
            .map(|(i, label)| {
                let mut o = object();
                o.insert("bucket".into(), json!(label));
                p.put(&mut o, "new", new[i]);
                p.put(&mut o, "cumulative", cumulative[i]);
                Value::Object(o)
            })
            .collect()
    };
    let series_json: Vec<Value> = series
        .iter()
        .map(|s| {
            let mut o = object();
            o.insert("group".into(), json!(s.key));
            o.insert("label".into(), json!(group_labels[&s.key]));
            p.put(&mut o, "cumulative_before", s.before);
            o.insert("points".into(), json!(points(&s.new, &s.cumulative)));
            Value::Object(o)
        })
        .collect();
    let mut total = object();
    p.put(&mut total, "cumulative_before", total_before);
    total.insert("points".into(), json!(points(&total_new, &total_cum)));
    json!({
        "source": match source { Source::Registered => "registered", Source::Crossed => "crossed" },
        "interval": match interval { Interval::Day => "day", Interval::Hour => "hour" },
        "group_by": group_by.map(|g| match g {
            GroupBy::Center => "center",
            GroupBy::Origin => "origin",
            GroupBy::Destination => "destination",
            GroupBy::Sex => "sex",
            GroupBy::AgeBand => "age_band",
        }),
        "from": range.from.and_utc(),
        "to": range.to.and_utc(),
        "buckets": labels,
        "series": series_json,
        "total": total,
        "suppression": suppression_note(access.suppress_below),
    })
}
