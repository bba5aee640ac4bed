//! Tracing requests and their matches in the database: a request stored
//! with its candidate keys (while it is open), matched against everyone who
//! may be traced when it is opened and against every later registration,
//! its matches reviewed one by one.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::model::{Kinship, NewRequest};
use crate::age_bands::AgeBand;
use crate::auth::CenterScope;
use crate::db::{self, DbConnection};
use crate::error::ApiError;
use crate::http::idempotent;
use crate::http::paging::{Cursor, Page, PageQuery};
use crate::http::stored;
use crate::http::time;
use crate::matching::blocking;
use crate::matching::{self, keys::Record, Birth, MatchedField, Profile, Score, Weights};
use crate::needs::ALWAYS_TRACEABLE;
use crate::registration::Sex;
use crate::schema::{
    centers, households, person_needs, persons, tracing_matches, tracing_request_keys,
    tracing_requests,
};

crate::stored_enum! {
    /// Whether a request is still looked for.
    pub enum RequestStatus {
        Open = "open",
        Closed = "closed",
    }
}

crate::stored_enum! {
    /// Where a match stands in review.
    pub enum MatchStatus {
        Proposed = "proposed",
        Confirmed = "confirmed",
        Rejected = "rejected",
    }
}

/// Most matches a request is given when it is opened (the best-scoring);
/// later registrations add theirs.
const MAX_MATCHES_AT_OPENING: usize = 20;

/// Candidate keys looked up per query when matching new registrations.
const PROBES_PER_QUERY: usize = 50;

/// A `tracing_requests` row.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = tracing_requests)]
pub(super) struct RequestRow {
    id: String,
    center_id: String,
    enquirer_person_id: String,
    enquirer_household_id: String,
    given_name: String,
    family_name: String,
    patronymic: Option<String>,
    sex: String,
    birth_date: Option<NaiveDate>,
    approximate_age: Option<i32>,
    relationship: String,
    origin_settlement: Option<String>,
    last_seen_place: Option<String>,
    last_seen_on: Option<NaiveDate>,
    status: String,
    version: i32,
    created_by: String,
    created_at: NaiveDateTime,
    updated_at: NaiveDateTime,
}

impl RequestRow {
    /// The sought relative as the matcher sees them.
    fn sought(&self) -> Profile {
        Profile {
            given_name: self.given_name.clone(),
            family_name: self.family_name.clone(),
            patronymic: self.patronymic.clone(),
            sex: Some(self.sex.clone()).filter(|s| s != Sex::Unknown.as_str()),
            // An approximate age is as of when they were last seen (the age
            // a mother remembers), else as of the request.
            birth: Birth {
                date: self.birth_date,
                estimated_age: self.approximate_age,
                registered_on: self.last_seen_on.unwrap_or(self.created_at.date()),
            },
            document_number: None,
            phone: None,
            origin_settlement: self.origin_settlement.clone(),
            household_size: None,
        }
    }

    pub(super) fn center(&self) -> Result<Uuid, ApiError> {
        stored::id(&self.center_id)
    }

    pub(super) fn enquirer(&self) -> Result<Uuid, ApiError> {
        stored::id(&self.enquirer_person_id)
    }
}

/// The enquirer as stored: their household and its center.
pub struct EnquirerRecord {
    pub person_id: Uuid,
    pub household_id: Uuid,
    pub center_id: Uuid,
}

/// The registered person who opens a request (422 if there is none, or if
/// the record was merged into another: the request belongs with that one).
pub fn enquirer(conn: &mut DbConnection, person: Uuid) -> Result<EnquirerRecord, ApiError> {
    let found: Option<(String, Option<String>, String)> = persons::table
        .inner_join(households::table)
        .filter(persons::id.eq(person.to_string()))
        .select((
            persons::household_id,
            persons::merged_into,
            households::center_id,
        ))
        .first(conn)
        .optional()?;
    let Some((household, merged_into, center)) = found else {
        return Err(ApiError::invalid(
            "enquirer_id",
            "unknown",
            format!("no registered person with id {person}"),
        ));
    };
    if let Some(into) = merged_into {
        return Err(ApiError::invalid(
            "enquirer_id",
            "merged",
            format!("this record was merged into person {into}: open the request for that one"),
        ));
    }
    Ok(EnquirerRecord {
        person_id: person,
        household_id: stored::id(&household)?,
        center_id: stored::id(&center)?,
    })
}

/// Stores a validated request of `enquirer`, with its keys, and matches it
/// against everyone who may be traced. Returns its id.
pub fn open(
    conn: &mut DbConnection,
    new: NewRequest,
    enquirer: &EnquirerRecord,
    created_by: Uuid,
    weights: &Weights,
) -> Result<Uuid, ApiError> {
    let id = new.id.unwrap_or_else(Uuid::now_v7);
    let now = time::now();
    let sought = new.sought;
    let row = RequestRow {
        id: id.to_string(),
        center_id: enquirer.center_id.to_string(),
        enquirer_person_id: enquirer.person_id.to_string(),
        enquirer_household_id: enquirer.household_id.to_string(),
        given_name: sought.given_name,
        family_name: sought.family_name,
        patronymic: sought.patronymic,
        sex: sought.sex.as_str().to_string(),
        birth_date: sought.birth_date.map(Into::into),
        approximate_age: sought.approximate_age,
        relationship: new.relationship.as_str().to_string(),
        origin_settlement: sought.origin_settlement,
        last_seen_place: new.last_seen_place,
        last_seen_on: new.last_seen_on.map(Into::into),
        status: RequestStatus::Open.as_str().to_string(),
        version: 1,
        created_by: created_by.to_string(),
        created_at: now,
        updated_at: now,
    };
    diesel::insert_into(tracing_requests::table)
        .values(&row)
        .execute(conn)
        .map_err(db::unique_violation(|| {
            idempotent::id_taken("tracing-request-exists", "tracing request", id)
        }))?;
    insert_keys(conn, &row)?;
    match_request(conn, &row, weights)?;
    Ok(id)
}

/// Stores an open request's candidate keys (the sought relative's, as a
/// person's are stored).
fn insert_keys(conn: &mut DbConnection, row: &RequestRow) -> Result<(), ApiError> {
    let rows: Vec<_> = blocking::stored_keys(&row.sought())
        .into_iter()
        .map(|(key, year)| {
            (
                tracing_request_keys::match_key.eq(key),
                tracing_request_keys::birth_year.eq(year),
                tracing_request_keys::request_id.eq(row.id.clone()),
            )
        })
        .collect();
    crate::per_backend!(conn, |c| diesel::insert_into(tracing_request_keys::table)
        .values(&rows)
        .on_conflict_do_nothing()
        .execute(c))?;
    Ok(())
}

/// Of these persons, those who may be traced: they consented, or they are
/// unaccompanied or separated children.
fn traceable(conn: &mut DbConnection, ids: &[String]) -> Result<HashSet<String>, ApiError> {
    let mut out = HashSet::new();
    for chunk in ids.chunks(500) {
        out.extend(
            persons::table
                .filter(persons::id.eq_any(chunk))
                .filter(persons::tracing_consent.eq(true))
                .select(persons::id)
                .load::<String>(conn)?,
        );
        out.extend(
            person_needs::table
                .filter(person_needs::person_id.eq_any(chunk))
                .filter(person_needs::code.eq_any(ALWAYS_TRACEABLE))
                .select(person_needs::person_id)
                .load::<String>(conn)?,
        );
    }
    Ok(out)
}

/// Matches a request against everyone who may be traced, at every center
/// (never the enquirer's own household), and proposes the best.
fn match_request(
    conn: &mut DbConnection,
    row: &RequestRow,
    weights: &Weights,
) -> Result<usize, ApiError> {
    // The keys of persons registered since are written first.
    matching::keys::write_pending(conn)?;
    let sought = row.sought();
    let probe = blocking::tracing_probe(&sought);
    let (candidates, per_probe) = matching::keys::candidates(conn, std::slice::from_ref(&probe))?;
    let household = stored::id(&row.enquirer_household_id)?;
    let mine: Vec<&Record> = per_probe
        .into_iter()
        .flatten()
        .map(|i| &candidates[i])
        .filter(|c| c.household_id != household)
        .collect();
    let ids: Vec<String> = mine.iter().map(|c| c.person_id.to_string()).collect();
    let traceable = traceable(conn, &ids)?;
    let mut reducer = matching::Reducer::default();
    let compared = reducer.reduce(&sought);
    let mut found: Vec<(&Record, Score)> = mine
        .into_iter()
        .filter(|c| traceable.contains(&c.person_id.to_string()))
        .filter_map(|c| {
            let score = matching::score::score_at_least(
                &compared,
                &reducer.reduce(&c.profile),
                weights,
                weights.tracing_threshold,
            )?;
            Some((c, score))
        })
        .collect();
    found.sort_by(|a, b| b.1.total.total_cmp(&a.1.total));
    found.truncate(MAX_MATCHES_AT_OPENING);
    let proposals: Vec<(&str, &Record, &Score)> = found
        .iter()
        .map(|(c, s)| (row.id.as_str(), *c, s))
        .collect();
    propose(conn, &proposals)
}

/// Stores proposed matches (request id, person, score); a request and
/// person already matched, whatever the review said, are left as they are.
fn propose(
    conn: &mut DbConnection,
    proposals: &[(&str, &Record, &Score)],
) -> Result<usize, ApiError> {
    let now = time::now();
    let mut rows = Vec::with_capacity(proposals.len());
    for (request, record, score) in proposals {
        let fields: Vec<MatchedField> = score.fields.iter().map(MatchedField::from).collect();
        rows.push((
            tracing_matches::id.eq(Uuid::now_v7().to_string()),
            tracing_matches::request_id.eq(request.to_string()),
            tracing_matches::person_id.eq(record.person_id.to_string()),
            tracing_matches::center_id.eq(record.center_id.to_string()),
            tracing_matches::score.eq(score.total),
            tracing_matches::fields.eq(serde_json::to_string(&fields).map_err(ApiError::internal)?),
            tracing_matches::status.eq(MatchStatus::Proposed.as_str()),
            tracing_matches::version.eq(1),
            tracing_matches::proposed_at.eq(now),
        ));
    }
    let mut inserted = 0;
    for chunk in rows.chunks(db::rows_per_insert(9)) {
        let insert = diesel::insert_into(tracing_matches::table).values(chunk);
        inserted += crate::per_backend!(conn, |c| insert.on_conflict_do_nothing().execute(c))?;
    }
    Ok(inserted)
}

/// Matches newly registered (or corrected) records of persons who may be
/// traced against every open request, in the caller's transaction: a
/// record scoring at the tracing threshold against a request's sought
/// relative is proposed to that request. A request never matches its
/// enquirer's own household. Returns how many matches were proposed.
pub fn match_records(
    conn: &mut DbConnection,
    traced: &[Record],
    weights: &Weights,
) -> Result<usize, ApiError> {
    let mut proposed = 0;
    for chunk in traced.chunks(PROBES_PER_QUERY) {
        let probes: Vec<_> = chunk
            .iter()
            .map(|r| blocking::tracing_probe(&r.profile))
            .collect();
        let mut keys: Vec<&str> = probes.iter().flat_map(|p| p.keys()).collect();
        keys.sort_unstable();
        keys.dedup();
        if keys.is_empty() {
            continue;
        }
        let rows: Vec<(String, i32, String)> = tracing_request_keys::table
            .filter(tracing_request_keys::match_key.eq_any(&keys))
            .select((
                tracing_request_keys::match_key,
                tracing_request_keys::birth_year,
                tracing_request_keys::request_id,
            ))
            .load(conn)?;
        if rows.is_empty() {
            continue;
        }
        let mut answered: Vec<(usize, String)> = Vec::new();
        for (key, year, request) in rows {
            for (i, probe) in probes.iter().enumerate() {
                if probe.answers(&key, year) {
                    answered.push((i, request.clone()));
                }
            }
        }
        let mut ids: Vec<&String> = answered.iter().map(|(_, r)| r).collect();
        ids.sort_unstable();
        ids.dedup();
        let requests: HashMap<String, RequestRow> = tracing_requests::table
            .filter(tracing_requests::id.eq_any(ids))
            .filter(tracing_requests::status.eq(RequestStatus::Open.as_str()))
            .select(RequestRow::as_select())
            .load::<RequestRow>(conn)?
            .into_iter()
            .map(|r| (r.id.clone(), r))
            .collect();
        let mut found: Vec<(&str, &Record, Score)> = Vec::new();
        for (i, request) in &answered {
            let Some(row) = requests.get(request) else {
                continue;
            };
            let record = &chunk[*i];
            if row.enquirer_household_id == record.household_id.to_string() {
                continue;
            }
            let score = matching::score(&row.sought(), &record.profile, weights);
            if score.is_tracing_match(weights) {
                found.push((row.id.as_str(), record, score));
            }
        }
        let proposals: Vec<(&str, &Record, &Score)> =
            found.iter().map(|(r, c, s)| (*r, *c, s)).collect();
        proposed += propose(conn, &proposals)?;
    }
    Ok(proposed)
}

/// The sought relative, as the API shows a request.
#[derive(Debug, Clone, Serialize)]
pub struct SoughtPerson {
    pub given_name: String,
    pub family_name: String,
    pub patronymic: Option<String>,
    pub sex: Sex,
    pub birth_date: Option<NaiveDate>,
    pub approximate_age: Option<i32>,
    pub origin_settlement: Option<String>,
}

/// Who opened a request.
#[derive(Debug, Clone, Serialize)]
pub struct Enquirer {
    pub person_id: Uuid,
    pub household_id: Uuid,
    pub given_name: String,
    pub family_name: String,
}

/// How many matches a request has, by review status.
#[derive(Debug, Clone, Default, Serialize)]
pub struct MatchCounts {
    pub proposed: i64,
    pub confirmed: i64,
    pub rejected: i64,
}

/// A tracing request as the API returns it.
#[derive(Debug, Clone, Serialize)]
pub struct Request {
    pub id: Uuid,
    pub status: RequestStatus,
    /// The enquirer's center: the one that sees a confirmed match's contact.
    pub center_id: Uuid,
    pub center_code: String,
    pub enquirer: Enquirer,
    /// Who the sought person is to the enquirer.
    pub relationship: Kinship,
    pub sought: SoughtPerson,
    pub last_seen_place: Option<String>,
    pub last_seen_on: Option<NaiveDate>,
    pub matches: MatchCounts,
    pub version: i32,
    pub created_by: Uuid,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

fn render(conn: &mut DbConnection, rows: Vec<RequestRow>) -> Result<Vec<Request>, ApiError> {
    let codes = crate::centers::codes(conn)?;
    let ids: Vec<&String> = rows.iter().map(|r| &r.id).collect();
    let mut counts: HashMap<String, MatchCounts> = HashMap::new();
    let tallies: Vec<(String, String, i64)> = tracing_matches::table
        .filter(tracing_matches::request_id.eq_any(&ids))
        .group_by((tracing_matches::request_id, tracing_matches::status))
        .select((
            tracing_matches::request_id,
            tracing_matches::status,
            diesel::dsl::count_star(),
        ))
        .load(conn)?;
    for (request, status, n) in tallies {
        let c = counts.entry(request).or_default();
        match MatchStatus::from_stored(&status)? {
            MatchStatus::Proposed => c.proposed = n,
            MatchStatus::Confirmed => c.confirmed = n,
            MatchStatus::Rejected => c.rejected = n,
        }
    }
    let enquirers: Vec<&String> = rows.iter().map(|r| &r.enquirer_person_id).collect();
    let names: HashMap<String, (String, String)> = persons::table
        .filter(persons::id.eq_any(&enquirers))
        .select((persons::id, (persons::given_name, persons::family_name)))
        .load::<(String, (String, String))>(conn)?
        .into_iter()
        .collect();
    rows.into_iter()
        .map(|r| {
            let (given_name, family_name) = names
                .get(&r.enquirer_person_id)
                .cloned()
                .ok_or_else(|| ApiError::internal("a tracing request's enquirer is missing"))?;
            let center_id = stored::id(&r.center_id)?;
            Ok(Request {
                id: stored::id(&r.id)?,
                status: RequestStatus::from_stored(&r.status)?,
                center_id,
                center_code: codes.get(&center_id).cloned().unwrap_or_default(),
                enquirer: Enquirer {
                    person_id: stored::id(&r.enquirer_person_id)?,
                    household_id: stored::id(&r.enquirer_household_id)?,
                    given_name,
                    family_name,
                },
                relationship: Kinship::from_stored(&r.relationship)?,
                sought: SoughtPerson {
                    given_name: r.given_name,
                    family_name: r.family_name,
                    patronymic: r.patronymic,
                    sex: Sex::from_stored(&r.sex)?,
                    birth_date: r.birth_date,
                    approximate_age: r.approximate_age,
                    origin_settlement: r.origin_settlement,
                },
                last_seen_place: r.last_seen_place,
                last_seen_on: r.last_seen_on,
                matches: counts.remove(&r.id).unwrap_or_default(),
                version: r.version,
                created_by: stored::id(&r.created_by)?,
                created_at: r.created_at.and_utc(),
                updated_at: r.updated_at.and_utc(),
            })
        })
        .collect()
}

fn load_request(conn: &mut DbConnection, id: Uuid) -> Result<RequestRow, ApiError> {
    tracing_requests::table
        .find(id.to_string())
        .select(RequestRow::as_select())
        .first(conn)
        .optional()?
        .ok_or_else(|| ApiError::NotFound(format!("no tracing request with id {id}")))
}

/// Who may see a request: staff of the enquirer's center, and staff of a
/// center where one of its matches is registered (they review it).
fn require_visible(
    conn: &mut DbConnection,
    row: &RequestRow,
    scope: &CenterScope,
) -> Result<(), ApiError> {
    let CenterScope::Only(mine) = scope else {
        return Ok(());
    };
    if scope.allows(row.center()?) {
        return Ok(());
    }
    let mine: Vec<String> = mine.iter().map(Uuid::to_string).collect();
    let here: i64 = tracing_matches::table
        .filter(tracing_matches::request_id.eq(&row.id))
        .filter(tracing_matches::center_id.eq_any(&mine))
        .count()
        .get_result(conn)?;
    if here > 0 {
        Ok(())
    } else {
        Err(ApiError::Forbidden(
            "this request is neither from your centers nor matched to anyone at them".into(),
        ))
    }
}

/// One request, if the caller may see it (403 otherwise).
pub fn find(conn: &mut DbConnection, id: Uuid, scope: &CenterScope) -> Result<Request, ApiError> {
    let row = load_request(conn, id)?;
    require_visible(conn, &row, scope)?;
    render(conn, vec![row])?
        .pop()
        .ok_or_else(|| ApiError::internal("a tracing request vanished"))
}

/// `GET /api/v1/tracing-requests` filters.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    pub status: Option<RequestStatus>,
    /// Requests from this center (the enquirer's).
    pub center_id: Option<Uuid>,
    /// Only requests with (`true`) or without (`false`) matches still to
    /// review.
    pub has_new_matches: Option<bool>,
    pub limit: Option<i64>,
    pub cursor: Option<String>,
}

/// One page of requests the caller may see, oldest first.
pub fn list(
    conn: &mut DbConnection,
    query: &ListQuery,
    scope: &CenterScope,
    paging: &PageQuery,
) -> Result<Page<Request>, ApiError> {
    let mut q = tracing_requests::table
        .select(RequestRow::as_select())
        .into_boxed();
    if let Some(status) = query.status {
        q = q.filter(tracing_requests::status.eq(status.as_str()));
    }
    if let Some(center) = query.center_id {
        q = q.filter(tracing_requests::center_id.eq(center.to_string()));
    }
    if let CenterScope::Only(centers) = scope {
        let centers: Vec<String> = centers.iter().map(Uuid::to_string).collect();
        let matched_here = tracing_matches::table
            .filter(tracing_matches::center_id.eq_any(centers.clone()))
            .select(tracing_matches::request_id);
        q = q.filter(
            tracing_requests::center_id
                .eq_any(centers)
                .or(tracing_requests::id.eq_any(matched_here)),
        );
    }
    if let Some(new) = query.has_new_matches {
        let with_new = tracing_matches::table
            .filter(tracing_matches::status.eq(MatchStatus::Proposed.as_str()))
            .select(tracing_matches::request_id);
        q = if new {
            q.filter(tracing_requests::id.eq_any(with_new))
        } else {
            q.filter(diesel::dsl::not(tracing_requests::id.eq_any(with_new)))
        };
    }
    if let Some(Cursor { at, id }) = paging.after.clone() {
        q = q.filter(
            tracing_requests::created_at
                .gt(at)
                .or(tracing_requests::created_at
                    .eq(at)
                    .and(tracing_requests::id.gt(id))),
        );
    }
    let rows: Vec<RequestRow> = q
        .order((tracing_requests::created_at, tracing_requests::id))
        .limit(paging.rows_to_load())
        .load(conn)?;
    paging.page(
        rows,
        |r| Cursor::encode(r.created_at, &r.id),
        |rows| render(conn, rows),
    )
}

/// Closes or reopens a request (`If-Match`): a closed request keeps its
/// matches but is matched no more; reopened, it is matched again at once.
/// `authorize` sees the request's center first.
pub(super) fn set_status(
    conn: &mut DbConnection,
    id: Uuid,
    expected_version: i32,
    status: RequestStatus,
    weights: &Weights,
    authorize: impl FnOnce(Uuid) -> Result<(), ApiError>,
) -> Result<RequestRow, ApiError> {
    let mut row = load_request(conn, id)?;
    authorize(row.center()?)?;
    if row.version != expected_version {
        return Err(ApiError::PreconditionFailed {
            current_version: row.version,
        });
    }
    if row.status == status.as_str() {
        return Err(ApiError::Conflict {
            code: "unchanged",
            detail: format!("this request is already {}", status.as_str()),
        });
    }
    let now = time::now();
    let updated = diesel::update(
        tracing_requests::table
            .find(&row.id)
            .filter(tracing_requests::version.eq(expected_version)),
    )
    .set((
        tracing_requests::status.eq(status.as_str()),
        tracing_requests::version.eq(expected_version + 1),
        tracing_requests::updated_at.eq(now),
    ))
    .execute(conn)?;
    if updated == 0 {
        return Err(ApiError::PreconditionFailed {
            current_version: load_request(conn, id)?.version,
        });
    }
    row.status = status.as_str().to_string();
    row.version = expected_version + 1;
    row.updated_at = now;
    match status {
        RequestStatus::Closed => {
            diesel::delete(
                tracing_request_keys::table.filter(tracing_request_keys::request_id.eq(&row.id)),
            )
            .execute(conn)?;
        }
        RequestStatus::Open => {
            insert_keys(conn, &row)?;
            match_request(conn, &row, weights)?;
        }
    }
    Ok(row)
}

/// How to reach a confirmed match: the household and its center.
#[derive(Debug, Clone, Serialize)]
pub struct Contact {
    pub person_id: Uuid,
    pub household_id: Uuid,
    pub phone: Option<String>,
    pub intended_destination: Option<String>,
    pub center: CenterContact,
}

/// A center as a confirmed match's contact shows it.
#[derive(Debug, Clone, Serialize)]
pub struct CenterContact {
    pub id: Uuid,
    pub code: String,
    pub name: String,
    pub province: String,
    pub contact: Option<String>,
}

/// A registered person who may be the one a request seeks, in the minimal
/// fields the enquirer's center may see before a confirmation.
#[derive(Debug, Clone, Serialize)]
pub struct Match {
    pub id: Uuid,
    pub request_id: Uuid,
    pub status: MatchStatus,
    pub score: f64,
    pub matched_fields: Vec<MatchedField>,
    pub given_name: String,
    pub family_name: String,
    /// Age band on the day they were registered, as statistics count it
    /// (`0-4` ... `60+`, `unknown`).
    pub age_band: &'static str,
    pub center_id: Uuid,
    pub center_code: String,
    /// Only for staff of the match's own center (who review it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub person_id: Option<Uuid>,
    pub version: i32,
    pub proposed_at: DateTime<Utc>,
    pub decided_at: Option<DateTime<Utc>>,
    pub decided_by: Option<Uuid>,
    pub reason: Option<String>,
    /// Once confirmed, for staff of the enquirer's center (and the match's).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub contact: Option<Contact>,
    /// The person shown, for the audit trail (not sent).
    #[serde(skip)]
    pub shown: Uuid,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = tracing_matches)]
struct MatchRow {
    id: String,
    request_id: String,
    person_id: String,
    center_id: String,
    score: f64,
    fields: String,
    status: String,
    version: i32,
    proposed_at: NaiveDateTime,
    decided_at: Option<NaiveDateTime>,
    decided_by: Option<String>,
    reason: Option<String>,
}

/// The matched persons' fields a match shows.
#[derive(Queryable)]
struct MatchedPerson {
    id: String,
    household_id: String,
    given_name: String,
    family_name: String,
    birth_date: Option<NaiveDate>,
    estimated_age: Option<i32>,
    arrived_at: NaiveDateTime,
    phone: Option<String>,
    intended_destination: Option<String>,
}

type CenterRow = (String, String, String, String, Option<String>);

fn render_matches(
    conn: &mut DbConnection,
    request: &RequestRow,
    rows: Vec<MatchRow>,
    scope: &CenterScope,
) -> Result<Vec<Match>, ApiError> {
    let ids: Vec<&String> = rows.iter().map(|r| &r.person_id).collect();
    let people: HashMap<String, MatchedPerson> = persons::table
        .inner_join(households::table)
        .filter(persons::id.eq_any(&ids))
        .select((
            persons::id,
            persons::household_id,
            persons::given_name,
            persons::family_name,
            persons::birth_date,
            persons::estimated_age,
            households::arrived_at,
            households::phone,
            households::intended_destination,
        ))
        .load::<MatchedPerson>(conn)?
        .into_iter()
        .map(|p| (p.id.clone(), p))
        .collect();
    let centers: HashMap<String, CenterRow> = centers::table
        .select((
            centers::id,
            centers::code,
            centers::name,
            centers::province,
            centers::contact,
        ))
        .load::<CenterRow>(conn)?
        .into_iter()
        .map(|c| (c.0.clone(), c))
        .collect();
    let enquirers_center = scope.allows(request.center()?);
    rows.into_iter()
        .map(|r| {
            let person = people
                .get(&r.person_id)
                .ok_or_else(|| ApiError::internal("a match's person is missing"))?;
            let center = centers
                .get(&r.center_id)
                .ok_or_else(|| ApiError::internal("a match's center is missing"))?;
            let center_id = stored::id(&r.center_id)?;
            let reviewing = scope.allows(center_id);
            let status = MatchStatus::from_stored(&r.status)?;
            let contact = (status == MatchStatus::Confirmed && (enquirers_center || reviewing))
                .then(|| -> Result<Contact, ApiError> {
                    Ok(Contact {
                        person_id: stored::id(&person.id)?,
                        household_id: stored::id(&person.household_id)?,
                        phone: person.phone.clone(),
                        intended_destination: person.intended_destination.clone(),
                        center: CenterContact {
                            id: center_id,
                            code: center.1.clone(),
                            name: center.2.clone(),
                            province: center.3.clone(),
                            contact: center.4.clone(),
                        },
                    })
                })
                .transpose()?;
            Ok(Match {
                id: stored::id(&r.id)?,
                request_id: stored::id(&r.request_id)?,
                status,
                score: r.score,
                matched_fields: serde_json::from_str(&r.fields).map_err(ApiError::internal)?,
                given_name: person.given_name.clone(),
                family_name: person.family_name.clone(),
                age_band: AgeBand::of_person(
                    person.birth_date,
                    person.estimated_age,
                    person.arrived_at.date(),
                )
                .label(),
                center_id,
                center_code: center.1.clone(),
                person_id: reviewing.then(|| stored::id(&person.id)).transpose()?,
                version: r.version,
                proposed_at: r.proposed_at.and_utc(),
                decided_at: r.decided_at.map(|t| t.and_utc()),
                decided_by: r.decided_by.as_deref().map(stored::id).transpose()?,
                reason: r.reason,
                contact,
                shown: stored::id(&person.id)?,
            })
        })
        .collect()
}

/// A request's matches the caller may see, best first: all of them for
/// staff of the enquirer's center, those at their own centers for staff
/// elsewhere (403 if none). `status` filters.
pub fn matches(
    conn: &mut DbConnection,
    id: Uuid,
    status: Option<MatchStatus>,
    scope: &CenterScope,
) -> Result<Vec<Match>, ApiError> {
    let request = load_request(conn, id)?;
    require_visible(conn, &request, scope)?;
    let mut q = tracing_matches::table
        .filter(tracing_matches::request_id.eq(&request.id))
        .select(MatchRow::as_select())
        .into_boxed();
    if let Some(status) = status {
        q = q.filter(tracing_matches::status.eq(status.as_str()));
    }
    if !scope.allows(request.center()?) {
        if let CenterScope::Only(mine) = scope {
            let mine: Vec<String> = mine.iter().map(Uuid::to_string).collect();
            q = q.filter(tracing_matches::center_id.eq_any(mine));
        }
    }
    let rows: Vec<MatchRow> = q
        .order((tracing_matches::score.desc(), tracing_matches::id))
        .load(conn)?;
    render_matches(conn, &request, rows, scope)
}

fn load_match(
    conn: &mut DbConnection,
    request: &RequestRow,
    id: Uuid,
) -> Result<MatchRow, ApiError> {
    tracing_matches::table
        .find(id.to_string())
        .filter(tracing_matches::request_id.eq(&request.id))
        .select(MatchRow::as_select())
        .first(conn)
        .optional()?
        .ok_or_else(|| ApiError::NotFound(format!("no match {id} of this tracing request")))
}

/// Whether the caller may see this match: staff of the enquirer's center
/// or of the match's.
fn require_match_visible(
    request: &RequestRow,
    row: &MatchRow,
    scope: &CenterScope,
) -> Result<(), ApiError> {
    if scope.allows(request.center()?) || scope.allows(stored::id(&row.center_id)?) {
        Ok(())
    } else {
        Err(ApiError::Forbidden(
            "this match is neither of a request from your centers nor at them".into(),
        ))
    }
}

/// One match of a request.
pub fn find_match(
    conn: &mut DbConnection,
    request: Uuid,
    id: Uuid,
    scope: &CenterScope,
) -> Result<Match, ApiError> {
    let request = load_request(conn, request)?;
    let row = load_match(conn, &request, id)?;
    require_match_visible(&request, &row, scope)?;
    render_matches(conn, &request, vec![row], scope)?
        .pop()
        .ok_or_else(|| ApiError::internal("a match vanished"))
}

/// A review of a match.
pub struct Review {
    pub request: Uuid,
    pub id: Uuid,
    pub expected_version: i32,
    pub status: MatchStatus,
    pub reason: String,
    pub decided_by: Uuid,
}

/// What a review changed, for the audit trail.
pub struct Reviewed {
    pub request_center: Uuid,
    pub match_center: Uuid,
    pub person: Uuid,
    pub enquirer: Uuid,
}

/// Sets a match's status (`If-Match`). `authorize` sees the new status,
/// the enquirer's center and the match's before anything is written.
pub fn review(
    conn: &mut DbConnection,
    review: Review,
    authorize: impl FnOnce(MatchStatus, Uuid, Uuid) -> Result<(), ApiError>,
) -> Result<Reviewed, ApiError> {
    let request = load_request(conn, review.request)?;
    let row = load_match(conn, &request, review.id)?;
    let (request_center, match_center) = (request.center()?, stored::id(&row.center_id)?);
    authorize(review.status, request_center, match_center)?;
    if row.version != review.expected_version {
        return Err(ApiError::PreconditionFailed {
            current_version: row.version,
        });
    }
    if row.status == review.status.as_str() {
        return Err(ApiError::Conflict {
            code: "unchanged",
            detail: format!("this match is already {}", row.status),
        });
    }
    if request.status == RequestStatus::Closed.as_str() && review.status == MatchStatus::Confirmed {
        return Err(ApiError::Conflict {
            code: "request-closed",
            detail: "this request is closed: reopen it before confirming a match".into(),
        });
    }
    let updated = diesel::update(
        tracing_matches::table
            .find(&row.id)
            .filter(tracing_matches::version.eq(review.expected_version)),
    )
    .set((
        tracing_matches::status.eq(review.status.as_str()),
        tracing_matches::version.eq(review.expected_version + 1),
        tracing_matches::decided_at.eq(Some(time::now())),
        tracing_matches::decided_by.eq(Some(review.decided_by.to_string())),
        tracing_matches::reason.eq(Some(review.reason)),
    ))
    .execute(conn)?;
    if updated == 0 {
        let current: i32 = tracing_matches::table
            .find(&row.id)
            .select(tracing_matches::version)
            .first(conn)?;
        return Err(ApiError::PreconditionFailed {
            current_version: current,
        });
    }
    Ok(Reviewed {
        request_center,
        match_center,
        person: stored::id(&row.person_id)?,
        enquirer: request.enquirer()?,
    })
}

/// The persons a list of matches shows (for the audit trail, whether or
/// not the response names their ids).
pub fn persons_shown(matches: &[Match]) -> impl Iterator<Item = Uuid> + '_ {
    matches.iter().map(|m| m.shown)
}
