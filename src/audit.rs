//! Reading the audit trail: `GET /api/v1/audit`, `GET
//! /api/v1/persons/{id}/access`, the CSV export (`refuge audit export`) and
//! the retention purge. Admins and auditors only; reading the trail is
//! itself recorded (`audit.read`).
//!
//! What is recorded, and how, is the toolkit's business (`db::audit`,
//! `db::Unit::audit`, `Db::record`): every write in its own transaction,
//! every read of personal data durably before the response is sent.

use std::collections::HashMap;
use std::io::Write;

use actix_web::{web, HttpResponse};
use chrono::{DateTime, NaiveDateTime, TimeDelta, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::auth::Caller;
use crate::db::audit::{self as trail, Actor, Entry, Event, Filter, Subject};
use crate::db::{Db, DbConnection};
use crate::error::ApiError;
use crate::extract::Query;
use crate::http::paging::{Cursor, Page, PageQuery};
use crate::http::routes::resource;
use crate::http::time::{self, Timestamp};
use crate::schema::persons;

/// The entries about a person: those naming the person, and those about
/// the person's household as a whole (its registration, reads of the whole
/// household, its assistance).
fn about_person(conn: &mut DbConnection, person: Uuid) -> Result<Option<Vec<Subject>>, ApiError> {
    let household: Option<String> = persons::table
        .find(person.to_string())
        .select(persons::household_id)
        .first(conn)
        .optional()?;
    household
        .map(|h| {
            Ok(vec![
                Subject::Person(person),
                Subject::Household(crate::http::stored::id(&h)?),
            ])
        })
        .transpose()
}

/// The entries about a household: those naming it, and those naming any of
/// its members.
fn about_household(conn: &mut DbConnection, household: Uuid) -> Result<Vec<Subject>, ApiError> {
    let members: Vec<String> = persons::table
        .filter(persons::household_id.eq(household.to_string()))
        .select(persons::id)
        .load(conn)?;
    let mut subjects = vec![Subject::Household(household)];
    for member in members {
        subjects.push(Subject::Person(crate::http::stored::id(&member)?));
    }
    Ok(subjects)
}

/// An audit entry as the API and the CSV export show it.
#[derive(Debug, Serialize)]
pub struct EntryView {
    id: String,
    occurred_at: DateTime<Utc>,
    request_id: Option<String>,
    account_id: Option<String>,
    username: Option<String>,
    role: Option<String>,
    action: String,
    center_id: Option<String>,
    resource_type: Option<String>,
    resource_id: Option<String>,
    version: Option<i32>,
    detail: Option<serde_json::Value>,
    person_ids: Vec<String>,
    household_ids: Vec<String>,
}

/// The entries with the persons and households each touched.
fn views(conn: &mut DbConnection, entries: Vec<Entry>) -> Result<Vec<EntryView>, ApiError> {
    let ids: Vec<String> = entries.iter().map(|e| e.id.clone()).collect();
    // Grouped once: an export's entry may name a great many households.
    let mut subjects: HashMap<String, (Vec<String>, Vec<String>)> = HashMap::new();
    for (event, kind, id) in trail::subjects_of(conn, &ids)? {
        let (persons, households) = subjects.entry(event).or_default();
        match kind.as_str() {
            "person" => persons.push(id),
            _ => households.push(id),
        }
    }
    Ok(entries
        .into_iter()
        .map(|e| {
            let (person_ids, household_ids) = subjects.remove(&e.id).unwrap_or_default();
            EntryView {
                person_ids,
                household_ids,
                detail: e
                    .detail
                    .as_deref()
                    .and_then(|d| serde_json::from_str(d).ok()),
                id: e.id,
                occurred_at: e.occurred_at.and_utc(),
                request_id: e.request_id,
                account_id: e.account_id,
                username: e.username,
                role: e.role,
                action: e.action,
                center_id: e.center_id,
                resource_type: e.resource_type,
                resource_id: e.resource_id,
                version: e.version,
            }
        })
        .collect())
}

/// `GET /api/v1/audit` query.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    account_id: Option<Uuid>,
    person_id: Option<Uuid>,
    household_id: Option<Uuid>,
    action: Option<String>,
    center_id: Option<Uuid>,
    from: Option<Timestamp>,
    to: Option<Timestamp>,
    limit: Option<i64>,
    cursor: Option<String>,
}

/// A page of entries matching `filter` (and about `person` and `household`,
/// if given), oldest first.
async fn page(
    db: &Db,
    mut filter: Filter,
    person: Option<Uuid>,
    household: Option<Uuid>,
    paging: PageQuery,
) -> Result<Page<EntryView>, ApiError> {
    filter.after = paging.after.as_ref().map(|c| c.id.clone());
    db.read(move |conn| {
        if let Some(person) = person {
            // An unknown person has no entries but its own.
            filter
                .subjects
                .push(about_person(conn, person)?.unwrap_or(vec![Subject::Person(person)]));
        }
        if let Some(household) = household {
            filter.subjects.push(about_household(conn, household)?);
        }
        let entries = trail::entries(conn, &filter, paging.rows_to_load())?;
        paging.page(
            entries,
            |e| Cursor::encode(e.occurred_at, &e.id),
            |entries| views(conn, entries),
        )
    })
    .await
}

fn check_action(action: &Option<String>) -> Result<(), ApiError> {
    match action {
        Some(a)
            if a.is_empty()
                || a.len() > 64
                || !a
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b"._".contains(&b)) =>
        {
            Err(ApiError::bad_parameter(
                "action",
                "an action name such as household.read: lower-case letters, '.' and '_'",
            ))
        }
        _ => Ok(()),
    }
}

/// `GET /api/v1/audit`: the trail, filtered, oldest first, a page at a time.
pub async fn list(
    caller: Caller,
    db: web::Data<Db>,
    query: Query<AuditQuery>,
) -> Result<HttpResponse, ApiError> {
    caller.require_auditor()?;
    let query = query.0;
    check_action(&query.action)?;
    let paging = PageQuery::new(query.limit, query.cursor.as_deref())?;
    let filter = Filter {
        account_id: query.account_id,
        subjects: Vec::new(),
        action: query.action,
        center_id: query.center_id,
        from: query.from.map(|t| t.stored()),
        to: query.to.map(|t| t.stored()),
        after: None,
    };
    let detail = serde_json::json!({
        "account_id": filter.account_id,
        "person_id": query.person_id,
        "household_id": query.household_id,
        "action": filter.action,
        "center_id": filter.center_id,
    });
    let page = page(&db, filter, query.person_id, query.household_id, paging).await?;
    db.record(
        &caller.actor(),
        vec![Event::new("audit.read").detail(detail)],
    )
    .await?;
    Ok(HttpResponse::Ok().json(page))
}

/// `GET /api/v1/persons/{id}/access` query.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccessQuery {
    from: Option<Timestamp>,
    to: Option<Timestamp>,
    limit: Option<i64>,
    cursor: Option<String>,
}

/// `GET /api/v1/persons/{id}/access`: who saw or changed this person's
/// data, and when (the trail's entries naming the person), oldest first.
pub async fn person_access(
    caller: Caller,
    db: web::Data<Db>,
    id: web::Path<Uuid>,
    query: Query<AccessQuery>,
) -> Result<HttpResponse, ApiError> {
    caller.require_auditor()?;
    let id = id.into_inner();
    let query = query.0;
    let paging = PageQuery::new(query.limit, query.cursor.as_deref())?;
    let about = db
        .read(move |conn| about_person(conn, id))
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no person with id {id}")))?;
    let filter = Filter {
        subjects: vec![about],
        from: query.from.map(|t| t.stored()),
        to: query.to.map(|t| t.stored()),
        ..Filter::default()
    };
    let page = page(&db, filter, None, None, paging).await?;
    db.record(
        &caller.actor(),
        vec![Event::new("audit.read").detail(serde_json::json!({ "person_id": id }))],
    )
    .await?;
    Ok(HttpResponse::Ok().json(page))
}

/// The CSV columns of `refuge audit export`.
const CSV_HEADER: [&str; 14] = [
    "id",
    "occurred_at",
    "request_id",
    "account_id",
    "username",
    "role",
    "action",
    "center_id",
    "resource_type",
    "resource_id",
    "version",
    "detail",
    "person_ids",
    "household_ids",
];

/// Entries read per query while exporting.
const EXPORT_CHUNK: i64 = 1_000;

/// Writes the entries from `from` (included) to `to` (excluded) as CSV,
/// oldest first; returns how many. Lists of ids are space-separated.
pub fn export_csv(
    conn: &mut DbConnection,
    from: Option<NaiveDateTime>,
    to: Option<NaiveDateTime>,
    out: impl Write,
) -> Result<u64, ApiError> {
    let mut csv = csv::Writer::from_writer(out);
    csv.write_record(CSV_HEADER).map_err(ApiError::internal)?;
    let mut filter = Filter {
        from,
        to,
        ..Filter::default()
    };
    let mut written = 0;
    loop {
        let entries = trail::entries(conn, &filter, EXPORT_CHUNK)?;
        let Some(last) = entries.last() else { break };
        filter.after = Some(last.id.clone());
        for e in views(conn, entries)? {
            csv.write_record([
                e.id,
                e.occurred_at
                    .to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
                e.request_id.unwrap_or_default(),
                e.account_id.unwrap_or_default(),
                e.username.unwrap_or_default(),
                e.role.unwrap_or_default(),
                e.action,
                e.center_id.unwrap_or_default(),
                e.resource_type.unwrap_or_default(),
                e.resource_id.unwrap_or_default(),
                e.version.map(|v| v.to_string()).unwrap_or_default(),
                e.detail.map(|d| d.to_string()).unwrap_or_default(),
                e.person_ids.join(" "),
                e.household_ids.join(" "),
            ])
            .map_err(ApiError::internal)?;
            written += 1;
        }
    }
    csv.flush().map_err(ApiError::internal)?;
    Ok(written)
}

/// Deletes the entries older than `retention_days` (at least 365; the
/// database refuses younger ones) and records that it did; returns how many
/// went.
pub fn purge(
    conn: &mut DbConnection,
    retention_days: u32,
    actor: &Actor,
) -> Result<usize, ApiError> {
    let before = time::now() - TimeDelta::days(i64::from(retention_days.max(365)));
    conn.transaction(|conn| {
        let purged = trail::purge(conn, before)?;
        if purged > 0 {
            trail::append(
                conn,
                actor,
                time::now(),
                &[Event::new("audit.purge").detail(serde_json::json!({
                    "before": before.and_utc(),
                    "entries": purged,
                }))],
            )?;
        }
        Ok(purged)
    })
}

/// The audit routes, under `/api/v1`.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/audit").get(list))
        .service(resource("/persons/{id}/access").get(person_access));
}
