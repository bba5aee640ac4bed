//! Pairs of records that may be one person, in the database: proposed by
//! registrations, imports and scans (one row per pair of persons, ever, so
//! that a pair decided `distinct` is never proposed again), listed for
//! review, and decided.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::auth::CenterScope;
use crate::centers;
use crate::db::{DbConnection, Unit};
use crate::error::ApiError;
use crate::http::paging::{Cursor, Page, PageQuery};
use crate::http::stored;
use crate::http::time;
use crate::matching::keys::Record;
use crate::matching::{MatchedField, Score};
use crate::registration::{self, Document, PersonRow, Sex};
use crate::schema::{duplicate_pairs, households, persons};

crate::stored_enum! {
    /// Where a pair stands in review.
    pub enum Status {
        Pending = "pending",
        Distinct = "distinct",
        SamePerson = "same_person",
    }
}

crate::stored_enum! {
    /// What a reviewer decides of a pair.
    pub enum Decision {
        SamePerson = "same_person",
        Distinct = "distinct",
        /// Reverses the pair's decision: it is pending again.
        Undo = "undo",
    }
}

/// A proposed pair, as a registration's response lists it.
#[derive(Debug, Clone, Serialize)]
pub struct PossibleDuplicate {
    pub duplicate_id: Uuid,
    /// The member of the new registration.
    pub member_id: Uuid,
    pub score: f64,
    pub matched_fields: Vec<MatchedField>,
    pub record: MatchedRecord,
}

/// The stored record a new one may duplicate, as much as the caller may see.
#[derive(Debug, Clone, Serialize)]
pub struct MatchedRecord {
    pub person_id: Uuid,
    pub household_id: Uuid,
    pub center_id: Uuid,
    pub center_code: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub given_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub family_name: Option<String>,
}

/// A new record found to be a possible duplicate of a stored one.
pub struct Proposal<'a> {
    pub person: Uuid,
    pub center: Uuid,
    pub record: &'a Record,
    pub score: &'a Score,
}

/// Stores proposed pairs (a pair already stored, whatever its status, is
/// left as it is) and returns those pending review, as the caller may see
/// them.
pub fn propose(
    conn: &mut DbConnection,
    proposals: &[Proposal<'_>],
    scope: &CenterScope,
) -> Result<Vec<PossibleDuplicate>, ApiError> {
    if proposals.is_empty() {
        return Ok(Vec::new());
    }
    let now = time::now();
    let mut rows = Vec::with_capacity(proposals.len());
    for p in proposals {
        let (a, b) = ordered(
            (p.person, p.center),
            (p.record.person_id, p.record.center_id),
        );
        rows.push((
            duplicate_pairs::id.eq(Uuid::now_v7().to_string()),
            duplicate_pairs::person_a.eq(a.0.to_string()),
            duplicate_pairs::person_b.eq(b.0.to_string()),
            duplicate_pairs::center_a.eq(a.1.to_string()),
            duplicate_pairs::center_b.eq(b.1.to_string()),
            duplicate_pairs::score.eq(p.score.total),
            duplicate_pairs::fields
                .eq(serde_json::to_string(&p.score.fields).map_err(ApiError::internal)?),
            duplicate_pairs::status.eq(Status::Pending.as_str()),
            duplicate_pairs::version.eq(1),
            duplicate_pairs::proposed_at.eq(now),
        ));
    }
    for chunk in rows.chunks(crate::db::rows_per_insert(10)) {
        let insert = diesel::insert_into(duplicate_pairs::table).values(chunk);
        crate::per_backend!(conn, |c| insert.on_conflict_do_nothing().execute(c))?;
    }
    let codes = centers::codes(conn)?;
    // The pairs now pending among those proposed, read back in chunks.
    let mut pending: HashMap<(String, String), String> = HashMap::new();
    let firsts: Vec<String> = rows_first(proposals);
    for chunk in firsts.chunks(500) {
        // Status is checked here, not in SQL: given both, SQLite's planner
        // took the status index and read every pending pair (7,580 at a
        // million persons, a tenth of the writer's time) for each
        // registration with a proposal; a person is in a few pairs at most.
        let rows: Vec<(String, String, String, String)> = duplicate_pairs::table
            .filter(duplicate_pairs::person_a.eq_any(chunk))
            .select((
                duplicate_pairs::id,
                duplicate_pairs::person_a,
                duplicate_pairs::person_b,
                duplicate_pairs::status,
            ))
            .load(conn)?;
        for (id, a, b, status) in rows {
            if status == Status::Pending.as_str() {
                pending.insert((a, b), id);
            }
        }
    }
    let mut out: Vec<PossibleDuplicate> = Vec::new();
    let mut listed = std::collections::HashSet::new();
    for p in proposals {
        let (a, b) = ordered(
            (p.person, p.center),
            (p.record.person_id, p.record.center_id),
        );
        let Some(id) = pending.get(&(a.0.to_string(), b.0.to_string())) else {
            continue;
        };
        if !listed.insert(id.clone()) {
            // The same pair met from both sides (two records of one import).
            continue;
        }
        let visible = scope.allows(p.record.center_id);
        out.push(PossibleDuplicate {
            duplicate_id: stored::id(id)?,
            member_id: p.person,
            score: p.score.total,
            matched_fields: p.score.fields.iter().map(MatchedField::from).collect(),
            record: MatchedRecord {
                person_id: p.record.person_id,
                household_id: p.record.household_id,
                center_id: p.record.center_id,
                center_code: codes.get(&p.record.center_id).cloned().unwrap_or_default(),
                given_name: visible.then(|| p.record.profile.given_name.clone()),
                family_name: visible.then(|| p.record.profile.family_name.clone()),
            },
        });
    }
    Ok(out)
}

/// The first persons (in id order) of the proposed pairs, once each.
fn rows_first(proposals: &[Proposal<'_>]) -> Vec<String> {
    let mut firsts: Vec<String> = proposals
        .iter()
        .map(|p| {
            let (a, _) = ordered(
                (p.person, p.center),
                (p.record.person_id, p.record.center_id),
            );
            a.0.to_string()
        })
        .collect();
    firsts.sort_unstable();
    firsts.dedup();
    firsts
}

/// A pair is stored with its persons in id order.
fn ordered(x: (Uuid, Uuid), y: (Uuid, Uuid)) -> ((Uuid, Uuid), (Uuid, Uuid)) {
    if x.0.to_string() < y.0.to_string() {
        (x, y)
    } else {
        (y, x)
    }
}

/// A pair as the review API shows it.
#[derive(Debug, Clone, Serialize)]
pub struct Duplicate {
    pub id: Uuid,
    pub status: Status,
    pub score: f64,
    pub matched_fields: Vec<MatchedField>,
    pub version: i32,
    pub proposed_at: DateTime<Utc>,
    pub decided_at: Option<DateTime<Utc>>,
    pub decided_by: Option<Uuid>,
    pub reason: Option<String>,
    pub merged_person_id: Option<Uuid>,
    /// The two records, in id order.
    pub records: [DuplicateRecord; 2],
}

/// One record of a pair; its personal fields only if the caller may see
/// that center's records.
#[derive(Debug, Clone, Serialize)]
pub struct DuplicateRecord {
    pub person_id: Uuid,
    pub household_id: Uuid,
    pub center_id: Uuid,
    pub center_code: String,
    pub visible: bool,
    pub merged_into: Option<Uuid>,
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub fields: Option<RecordFields>,
}

/// The personal fields of a record, side by side with the other's.
#[derive(Debug, Clone, Serialize)]
pub struct RecordFields {
    pub given_name: String,
    pub family_name: String,
    pub patronymic: Option<String>,
    pub sex: Sex,
    pub birth_date: Option<NaiveDate>,
    pub estimated_age: Option<i32>,
    pub document: Option<Document>,
    pub phone: Option<String>,
    pub origin_settlement: String,
    pub household_size: i32,
    pub registered_at: DateTime<Utc>,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = duplicate_pairs)]
struct PairRow {
    id: String,
    person_a: String,
    person_b: String,
    center_a: String,
    center_b: String,
    score: f64,
    fields: String,
    status: String,
    version: i32,
    proposed_at: NaiveDateTime,
    decided_at: Option<NaiveDateTime>,
    decided_by: Option<String>,
    reason: Option<String>,
    merged_person_id: Option<String>,
}

/// The records of the given persons, as `scope` may see them (members as
/// registration reads them, with their households' fields).
fn records(
    conn: &mut DbConnection,
    ids: &[String],
    scope: &CenterScope,
) -> Result<HashMap<String, DuplicateRecord>, ApiError> {
    let codes = centers::codes(conn)?;
    let rows: Vec<PersonRow> = persons::table
        .filter(persons::id.eq_any(ids))
        .select(PersonRow::as_select())
        .load(conn)?;
    let members = registration::members_from_rows(conn, rows)?;
    let household_ids: Vec<String> = members.iter().map(|(h, _)| h.to_string()).collect();
    let households: HashMap<String, (String, NaiveDateTime, String, Option<String>, i32)> =
        households::table
            .filter(households::id.eq_any(&household_ids))
            .select((
                households::id,
                (
                    households::center_id,
                    households::arrived_at,
                    households::origin_settlement,
                    households::phone,
                    households::size,
                ),
            ))
            .load::<(String, (String, NaiveDateTime, String, Option<String>, i32))>(conn)?
            .into_iter()
            .collect();
    let mut out = HashMap::with_capacity(members.len());
    for (household_id, member) in members {
        let (center, arrived_at, origin, phone, size) = households
            .get(&household_id.to_string())
            .cloned()
            .ok_or_else(|| ApiError::internal("a person's household is missing"))?;
        let center_id = stored::id(&center)?;
        let visible = scope.allows(center_id);
        let person_id = member.id;
        let merged_into = member.merged_into;
        let fields = RecordFields {
            given_name: member.given_name,
            family_name: member.family_name,
            patronymic: member.patronymic,
            sex: member.sex,
            birth_date: member.birth_date,
            estimated_age: member.estimated_age,
            document: member.document,
            phone,
            origin_settlement: origin,
            household_size: size,
            registered_at: arrived_at.and_utc(),
        };
        out.insert(
            person_id.to_string(),
            DuplicateRecord {
                person_id,
                household_id,
                center_id,
                center_code: codes.get(&center_id).cloned().unwrap_or_default(),
                visible,
                merged_into,
                fields: visible.then_some(fields),
            },
        );
    }
    Ok(out)
}

fn render(
    conn: &mut DbConnection,
    rows: Vec<PairRow>,
    scope: &CenterScope,
) -> Result<Vec<Duplicate>, ApiError> {
    let ids: Vec<String> = rows
        .iter()
        .flat_map(|r| [r.person_a.clone(), r.person_b.clone()])
        .collect();
    let records = records(conn, &ids, scope)?;
    let record = |id: &str| {
        records
            .get(id)
            .cloned()
            .ok_or_else(|| ApiError::internal("a pair's person is missing"))
    };
    rows.into_iter()
        .map(|r| {
            Ok(Duplicate {
                id: stored::id(&r.id)?,
                status: Status::from_stored(&r.status)?,
                score: r.score,
                matched_fields: serde_json::from_str(&r.fields).map_err(ApiError::internal)?,
                version: r.version,
                proposed_at: r.proposed_at.and_utc(),
                decided_at: r.decided_at.map(|t| t.and_utc()),
                decided_by: r.decided_by.as_deref().map(stored::id).transpose()?,
                reason: r.reason,
                merged_person_id: r.merged_person_id.as_deref().map(stored::id).transpose()?,
                records: [record(&r.person_a)?, record(&r.person_b)?],
            })
        })
        .collect()
}

/// `GET /api/v1/duplicates` filters.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    pub status: Option<Status>,
    pub center_id: Option<Uuid>,
    pub min_score: Option<f64>,
    pub limit: Option<i64>,
    pub cursor: Option<String>,
}

/// One page of pairs, oldest proposal first, with a record at a center in
/// `scope`.
pub fn list(
    conn: &mut DbConnection,
    query: &ListQuery,
    scope: &CenterScope,
    paging: &PageQuery,
) -> Result<Page<Duplicate>, ApiError> {
    let mut q = duplicate_pairs::table
        .select(PairRow::as_select())
        .into_boxed();
    if let Some(status) = query.status {
        q = q.filter(duplicate_pairs::status.eq(status.as_str()));
    }
    if let Some(center) = query.center_id {
        let center = center.to_string();
        q = q.filter(
            duplicate_pairs::center_a
                .eq(center.clone())
                .or(duplicate_pairs::center_b.eq(center)),
        );
    }
    if let CenterScope::Only(centers) = scope {
        let centers: Vec<String> = centers.iter().map(Uuid::to_string).collect();
        q = q.filter(
            duplicate_pairs::center_a
                .eq_any(centers.clone())
                .or(duplicate_pairs::center_b.eq_any(centers)),
        );
    }
    if let Some(min) = query.min_score {
        q = q.filter(duplicate_pairs::score.ge(min));
    }
    if let Some(Cursor { at, id }) = paging.after.clone() {
        q = q.filter(
            duplicate_pairs::proposed_at
                .gt(at)
                .or(duplicate_pairs::proposed_at
                    .eq(at)
                    .and(duplicate_pairs::id.gt(id))),
        );
    }
    let rows: Vec<PairRow> = q
        .order((duplicate_pairs::proposed_at, duplicate_pairs::id))
        .limit(paging.rows_to_load())
        .load(conn)?;
    paging.page(
        rows,
        |r| Cursor::encode(r.proposed_at, &r.id),
        |rows| render(conn, rows, scope),
    )
}

fn load_pair(conn: &mut DbConnection, id: Uuid) -> Result<PairRow, ApiError> {
    duplicate_pairs::table
        .find(id.to_string())
        .select(PairRow::as_select())
        .first(conn)
        .optional()?
        .ok_or_else(|| ApiError::NotFound(format!("no duplicate pair with id {id}")))
}

/// One pair, if a record of it is at a center in `scope` (else 403).
pub fn find(conn: &mut DbConnection, id: Uuid, scope: &CenterScope) -> Result<Duplicate, ApiError> {
    let row = load_pair(conn, id)?;
    require_scope(&row, scope)?;
    render(conn, vec![row], scope)?
        .pop()
        .ok_or_else(|| ApiError::internal("a pair vanished"))
}

fn centers_of(row: &PairRow) -> Result<[Uuid; 2], ApiError> {
    Ok([stored::id(&row.center_a)?, stored::id(&row.center_b)?])
}

fn require_scope(row: &PairRow, scope: &CenterScope) -> Result<(), ApiError> {
    let [a, b] = centers_of(row)?;
    if scope.allows(a) || scope.allows(b) {
        Ok(())
    } else {
        Err(ApiError::Forbidden(
            "you are not assigned to the center of either record".into(),
        ))
    }
}

/// A decision on a pair.
pub struct Deciding {
    pub id: Uuid,
    pub expected_version: i32,
    pub decision: Decision,
    pub reason: String,
    pub decided_by: Uuid,
}

/// What a decision changed: the pair's centers and persons, and the
/// household whose record was merged or unmerged, if any (for the audit
/// trail).
pub struct Decided {
    pub centers: [Uuid; 2],
    pub persons: [Uuid; 2],
    pub household: Option<Uuid>,
}

/// Follows a record's merges to the record it now counts as.
fn root(conn: &mut DbConnection, mut person: Uuid) -> Result<(Uuid, NaiveDateTime), ApiError> {
    // Merges point from a later record to an earlier one, so chains are
    // short and never loop; the bound is a guard against damaged data.
    for _ in 0..64 {
        match registration::merge_state(conn, person)? {
            (Some(into), _) => person = into,
            (None, created_at) => return Ok((person, created_at)),
        }
    }
    Err(ApiError::internal("a chain of merges does not end"))
}

/// Applies a decision in the caller's transaction. `authorize` sees the
/// pair's two centers before anything is written.
pub fn decide(
    unit: &mut Unit<'_>,
    deciding: Deciding,
    authorize: impl FnOnce([Uuid; 2]) -> Result<(), ApiError>,
) -> Result<Decided, ApiError> {
    let Deciding {
        id,
        expected_version,
        decision,
        reason,
        decided_by,
    } = deciding;
    let row = load_pair(unit.conn(), id)?;
    let centers = centers_of(&row)?;
    authorize(centers)?;
    if row.version != expected_version {
        return Err(ApiError::PreconditionFailed {
            current_version: row.version,
        });
    }
    let persons = [stored::id(&row.person_a)?, stored::id(&row.person_b)?];
    let status = Status::from_stored(&row.status)?;
    let mut household = None;
    let (status, merged) = match (decision, status) {
        (Decision::Undo, Status::Pending) => {
            return Err(ApiError::Conflict {
                code: "not-decided",
                detail: "this pair is pending: there is no decision to undo".into(),
            })
        }
        (Decision::SamePerson | Decision::Distinct, Status::Distinct | Status::SamePerson) => {
            return Err(ApiError::Conflict {
                code: "already-decided",
                detail: format!(
                    "this pair was decided {}; undo that decision first",
                    status.as_str()
                ),
            })
        }
        (Decision::Distinct, Status::Pending) => (Status::Distinct, None),
        (Decision::SamePerson, Status::Pending) => {
            let a = root(unit.conn(), persons[0])?;
            let b = root(unit.conn(), persons[1])?;
            if a.0 == b.0 {
                return Err(ApiError::Conflict {
                    code: "already-same-person",
                    detail: "these records were already merged into one person".into(),
                });
            }
            // The later registration is merged into the earlier one.
            let (kept, merged) = if (a.1, a.0.to_string()) <= (b.1, b.0.to_string()) {
                (a.0, b.0)
            } else {
                (b.0, a.0)
            };
            let changed = registration::set_merged(unit, merged, Some(kept), decided_by)?;
            household = Some(changed.id);
            (Status::SamePerson, Some(merged))
        }
        (Decision::Undo, Status::Distinct) => (Status::Pending, None),
        (Decision::Undo, Status::SamePerson) => {
            let merged = row
                .merged_person_id
                .as_deref()
                .map(stored::id)
                .transpose()?
                .ok_or_else(|| ApiError::internal("a same_person pair names no merged record"))?;
            let changed = registration::set_merged(unit, merged, None, decided_by)?;
            household = Some(changed.id);
            (Status::Pending, None)
        }
    };
    let now = time::now();
    let updated = diesel::update(
        duplicate_pairs::table
            .find(id.to_string())
            .filter(duplicate_pairs::version.eq(expected_version)),
    )
    .set((
        duplicate_pairs::status.eq(status.as_str()),
        duplicate_pairs::version.eq(expected_version + 1),
        duplicate_pairs::decided_at.eq(Some(now)),
        duplicate_pairs::decided_by.eq(Some(decided_by.to_string())),
        duplicate_pairs::reason.eq(Some(reason)),
        duplicate_pairs::merged_person_id.eq(merged.map(|m| m.to_string())),
    ))
    .execute(unit.conn())?;
    if updated == 0 {
        let current: i32 = duplicate_pairs::table
            .find(id.to_string())
            .select(duplicate_pairs::version)
            .first(unit.conn())?;
        return Err(ApiError::PreconditionFailed {
            current_version: current,
        });
    }
    Ok(Decided {
        centers,
        persons,
        household,
    })
}
