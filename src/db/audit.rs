//! The audit trail's storage: who did or saw what, when and where.
//!
//! Entries are appended, never changed: the database itself refuses an
//! UPDATE of `audit_events` or `audit_subjects`, and a DELETE of entries
//! younger than 365 days (migration `2026-12-04-000001`), so neither a bug
//! nor a hand-typed statement can rewrite history; [`purge`] removes only
//! entries older than the retention period.
//!
//! An entry's id is a UUIDv7: ordered by time, so the trail pages by id.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use uuid::Uuid;

use super::DbConnection;
use crate::error::ApiError;
use crate::schema::{audit_events, audit_subjects};

/// Who acted: an account (with the role it held then) or the system itself,
/// and the request it came in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    pub account_id: Option<Uuid>,
    pub username: Option<String>,
    pub role: Option<String>,
    pub request_id: Option<String>,
}

impl Actor {
    /// An account acting in a request.
    pub fn account(
        account_id: Uuid,
        username: &str,
        role: &str,
        request_id: Option<String>,
    ) -> Actor {
        Actor {
            account_id: Some(account_id),
            username: Some(username.to_string()),
            role: Some(role.to_string()),
            request_id,
        }
    }

    /// Someone not (yet) authenticated: a failed login names no account.
    pub fn anonymous(request_id: Option<String>) -> Actor {
        Actor {
            account_id: None,
            username: None,
            role: None,
            request_id,
        }
    }

    /// The service itself, or an operator at the server's command line
    /// (`who` says which: `"cli"`, `"import"`, `"scenario"`).
    pub fn system(who: &str) -> Actor {
        Actor {
            account_id: None,
            username: Some(who.to_string()),
            role: Some("system".to_string()),
            request_id: None,
        }
    }
}

/// One thing that happened: an action on a resource, at a center, touching
/// persons and households. A household subject means the household's
/// record as a whole (all its members); a person subject, that person only.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Event {
    pub action: String,
    pub center_id: Option<Uuid>,
    pub resource_type: Option<&'static str>,
    pub resource_id: Option<String>,
    pub version: Option<i32>,
    /// Structured context (a report's filters and row count, a changed
    /// account's fields); never personal data such as a searched name.
    pub detail: Option<serde_json::Value>,
    pub persons: Vec<Uuid>,
    pub households: Vec<Uuid>,
}

impl Event {
    /// An event named `action`, such as `household.read` or `auth.login`.
    pub fn new(action: impl Into<String>) -> Event {
        Event {
            action: action.into(),
            ..Event::default()
        }
    }

    /// The resource acted on: its type and id.
    pub fn resource(mut self, kind: &'static str, id: impl ToString) -> Event {
        self.resource_type = Some(kind);
        self.resource_id = Some(id.to_string());
        self
    }

    /// The center the resource belongs to.
    pub fn center(mut self, center: Uuid) -> Event {
        self.center_id = Some(center);
        self
    }

    /// The center, if known.
    pub fn center_opt(mut self, center: Option<Uuid>) -> Event {
        self.center_id = center;
        self
    }

    /// The version a write produced.
    pub fn version(mut self, version: i32) -> Event {
        self.version = Some(version);
        self
    }

    /// Context for the entry.
    pub fn detail(mut self, detail: serde_json::Value) -> Event {
        self.detail = Some(detail);
        self
    }

    /// A household whose data the event shows or changes.
    pub fn household(mut self, household: Uuid) -> Event {
        self.households.push(household);
        self
    }

    /// Persons whose data the event shows or changes.
    pub fn persons(mut self, persons: impl IntoIterator<Item = Uuid>) -> Event {
        self.persons.extend(persons);
        self
    }

    /// Households whose data the event shows or changes.
    pub fn households(mut self, households: impl IntoIterator<Item = Uuid>) -> Event {
        self.households.extend(households);
        self
    }
}

/// Appends `events`, done by `actor`, at `at`, on `conn` (inside the
/// caller's transaction).
pub fn append(
    conn: &mut DbConnection,
    actor: &Actor,
    at: NaiveDateTime,
    events: &[Event],
) -> Result<(), ApiError> {
    append_all(conn, at, [(actor, events)])
}

/// Appends the events of several actors at once: two multi-row INSERTs for
/// a whole group commit, however many writes and reads it carries.
pub fn append_all<'a>(
    conn: &mut DbConnection,
    at: NaiveDateTime,
    batch: impl IntoIterator<Item = (&'a Actor, &'a [Event])>,
) -> Result<(), ApiError> {
    let mut rows = Vec::new();
    let mut subjects = Vec::new();
    for (actor, events) in batch {
        let account_id = actor.account_id.map(|id| id.to_string());
        for event in events {
            let id = Uuid::now_v7().to_string();
            let detail = event
                .detail
                .as_ref()
                .map(serde_json::to_string)
                .transpose()
                .map_err(ApiError::internal)?;
            for (kind, ids) in [("person", &event.persons), ("household", &event.households)] {
                let mut ids: Vec<Uuid> = ids.clone();
                ids.sort_unstable();
                ids.dedup();
                subjects.extend(ids.into_iter().map(|subject| {
                    (
                        audit_subjects::subject_type.eq(kind),
                        audit_subjects::subject_id.eq(subject.to_string()),
                        audit_subjects::event_id.eq(id.clone()),
                    )
                }));
            }
            rows.push((
                audit_events::id.eq(id),
                audit_events::occurred_at.eq(at),
                audit_events::request_id.eq(actor.request_id.clone()),
                audit_events::account_id.eq(account_id.clone()),
                audit_events::username.eq(actor.username.clone()),
                audit_events::role.eq(actor.role.clone()),
                audit_events::action.eq(event.action.clone()),
                audit_events::center_id.eq(event.center_id.map(|c| c.to_string())),
                audit_events::resource_type.eq(event.resource_type),
                audit_events::resource_id.eq(event.resource_id.clone()),
                audit_events::version.eq(event.version),
                audit_events::detail.eq(detail),
            ));
        }
    }
    if rows.is_empty() {
        return Ok(());
    }
    for chunk in rows.chunks(super::rows_per_insert(12)) {
        crate::per_backend!(conn, |c| diesel::insert_into(audit_events::table)
            .values(chunk)
            .execute(c))?;
    }
    for chunk in subjects.chunks(super::rows_per_insert(3)) {
        crate::per_backend!(conn, |c| diesel::insert_into(audit_subjects::table)
            .values(chunk)
            .execute(c))?;
    }
    Ok(())
}

/// A stored entry.
#[derive(Debug, Clone, Queryable)]
pub struct Entry {
    pub id: String,
    pub occurred_at: NaiveDateTime,
    pub request_id: Option<String>,
    pub account_id: Option<String>,
    pub username: Option<String>,
    pub role: Option<String>,
    pub action: String,
    pub center_id: Option<String>,
    pub resource_type: Option<String>,
    pub resource_id: Option<String>,
    pub version: Option<i32>,
    pub detail: Option<String>,
}

/// A person or household an entry touched, as stored in `audit_subjects`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Subject {
    Person(Uuid),
    Household(Uuid),
}

/// Which entries to read.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub account_id: Option<Uuid>,
    /// Each set: entries touching at least one of its subjects (all sets must match).
    pub subjects: Vec<Vec<Subject>>,
    pub action: Option<String>,
    pub center_id: Option<Uuid>,
    pub from: Option<NaiveDateTime>,
    pub to: Option<NaiveDateTime>,
    /// Entries after this id (the previous page's last), in id order.
    pub after: Option<String>,
}

/// Up to `limit` entries matching `filter`, oldest first.
pub fn entries(
    conn: &mut DbConnection,
    filter: &Filter,
    limit: i64,
) -> Result<Vec<Entry>, ApiError> {
    let mut query = audit_events::table.into_boxed();
    if let Some(account) = filter.account_id {
        query = query.filter(audit_events::account_id.eq(account.to_string()));
    }
    if let Some(action) = &filter.action {
        query = query.filter(audit_events::action.eq(action.clone()));
    }
    if let Some(center) = filter.center_id {
        query = query.filter(audit_events::center_id.eq(center.to_string()));
    }
    if let Some(from) = filter.from {
        query = query
            .filter(audit_events::id.ge(first_id_at(from)))
            .filter(audit_events::occurred_at.ge(from));
    }
    if let Some(to) = filter.to {
        query = query.filter(audit_events::occurred_at.lt(to));
    }
    if let Some(after) = &filter.after {
        query = query.filter(audit_events::id.gt(after.clone()));
    }
    for any_of in &filter.subjects {
        let of_kind = |kind: &str| -> Vec<String> {
            any_of
                .iter()
                .filter_map(|s| match (s, kind) {
                    (Subject::Person(id), "person") | (Subject::Household(id), "household") => {
                        Some(id.to_string())
                    }
                    _ => None,
                })
                .collect()
        };
        query = query.filter(
            audit_events::id
                .eq_any(
                    audit_subjects::table
                        .filter(audit_subjects::subject_type.eq("person"))
                        .filter(audit_subjects::subject_id.eq_any(of_kind("person")))
                        .select(audit_subjects::event_id),
                )
                .or(audit_events::id.eq_any(
                    audit_subjects::table
                        .filter(audit_subjects::subject_type.eq("household"))
                        .filter(audit_subjects::subject_id.eq_any(of_kind("household")))
                        .select(audit_subjects::event_id),
                )),
        );
    }
    Ok(query
        .order(audit_events::id.asc())
        .limit(limit)
        .load::<Entry>(conn)?)
}

/// The smallest id an entry made at `at` or later can have: ids are
/// UUIDv7, whose text begins with the milliseconds since the epoch, and an
/// entry's id is made after its time is taken. Lets time ranges use the
/// primary key.
fn first_id_at(at: NaiveDateTime) -> String {
    let millis = at.and_utc().timestamp_millis().max(0) as u64;
    let hex = format!("{:012x}", millis & 0xffff_ffff_ffff);
    format!("{}-{}-0000-0000-000000000000", &hex[..8], &hex[8..])
}

/// The persons and households each of `events` touched, as
/// `(event_id, subject_type, subject_id)`.
pub fn subjects_of(
    conn: &mut DbConnection,
    events: &[String],
) -> Result<Vec<(String, String, String)>, ApiError> {
    let mut found = Vec::new();
    for chunk in events.chunks(super::MAX_BIND_PARAMS - 1) {
        found.extend(
            audit_subjects::table
                .filter(audit_subjects::event_id.eq_any(chunk))
                .select((
                    audit_subjects::event_id,
                    audit_subjects::subject_type,
                    audit_subjects::subject_id,
                ))
                .order((
                    audit_subjects::event_id,
                    audit_subjects::subject_type,
                    audit_subjects::subject_id,
                ))
                .load::<(String, String, String)>(conn)?,
        );
    }
    Ok(found)
}

/// Deletes the entries that happened before `before` (the retention
/// purge); the database refuses it for entries younger than 365 days.
/// Returns how many entries went.
pub fn purge(conn: &mut DbConnection, before: NaiveDateTime) -> Result<usize, ApiError> {
    // Every entry before `before` has an id below this (see `first_id_at`).
    let bound = first_id_at(before + chrono::TimeDelta::milliseconds(1));
    conn.transaction(|conn| {
        let old = audit_events::table
            .filter(audit_events::id.lt(bound.clone()))
            .filter(audit_events::occurred_at.lt(before))
            .select(audit_events::id);
        diesel::delete(audit_subjects::table.filter(audit_subjects::event_id.eq_any(old)))
            .execute(conn)?;
        Ok(diesel::delete(
            audit_events::table
                .filter(audit_events::id.lt(bound))
                .filter(audit_events::occurred_at.lt(before)),
        )
        .execute(conn)?)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_made_at_or_after_an_instant_sort_after_its_first_id() {
        let at = chrono::Utc::now().naive_utc();
        let id = Uuid::now_v7().to_string();
        let bound = first_id_at(at);
        assert!(id >= bound, "{id} < {bound}");
        let later = first_id_at(at + chrono::TimeDelta::seconds(1));
        assert!(id < later, "{id} >= {later}");
        assert_eq!(first_id_at(at).len(), 36);
    }
}
