//! Registrations in the database: one transaction writes a household, its
//! members, their needs and search keys and the statistics; reads load
//! households with their members; a correction keeps the previous state as
//! a revision.

use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;
use uuid::Uuid;

use super::model::{
    apply_patch, validate_patched, Document, DocumentType, Household, HouseholdPatch, ListQuery,
    Member, NewHousehold, Relationship, Sex,
};
use crate::auth::CenterScope;
use crate::db::{self, DbConnection, Unit};
use crate::error::ApiError;
use crate::http::idempotent::{self};
use crate::http::paging::Page;
use crate::http::paging::{Cursor, PageQuery};
use crate::http::stored;
use crate::http::time;
use crate::matching::keys as match_keys;
use crate::matching::Profile;
use crate::persons::name_keys;
use crate::provinces::Provinces;
use crate::schema::{household_revisions, households, person_needs, persons as persons_table};
use crate::stats::aggregates::{self, Reached, Sector};

/// Registers a validated household and its members; used by the API and by
/// every other writer (scenario replay, imports) so that all go through the
/// same rules.
pub fn register(
    unit: &mut Unit<'_>,
    new: NewHousehold,
    registered_by: Uuid,
) -> Result<Household, ApiError> {
    insert(unit, prepare(new, registered_by))
}

/// A validated household as it will be stored: its ids (the client's, or
/// new ones) and times given, ready for [`insert`] (the API matches it
/// against everyone registered in between, outside the write).
pub fn prepare(new: NewHousehold, registered_by: Uuid) -> Household {
    household_from_new(new, registered_by, time::now())
}

/// Stores a [`prepare`]d household and its members, in the caller's
/// transaction.
pub fn insert(unit: &mut Unit<'_>, household: Household) -> Result<Household, ApiError> {
    let conn = unit.conn();
    let now = household.created_at.naive_utc();
    diesel::insert_into(households::table)
        .values(HouseholdInsert::of(&household, None, now))
        .execute(conn)
        .map_err(household_insert_error(
            || household.center_id,
            || household.id,
        ))?;
    insert_members(conn, household.id, 0, &household.members, now)?;
    // Matched through the in-memory index; the keys are written within a
    // minute, in batches (see `match_keys::pending_rows`).
    match_keys::pend(conn, household.members.iter().map(|m| m.id))?;
    unit.record(aggregates::change(None, Some(&household.arrival())));
    Ok(household)
}

/// Registers many validated households in the caller's transaction: the
/// same rows and statistics as [`register`] for each, written with
/// multi-row INSERTs (households, persons, needs, search keys) and one
/// statistics delta instead of a dozen statements per household. For bulk
/// writers (imports): each household comes with its import fingerprint,
/// stored in its row. Each statement stays under SQLite's bound-parameter
/// limit.
pub fn register_many(
    unit: &mut Unit<'_>,
    news: Vec<(NewHousehold, String)>,
    registered_by: Uuid,
) -> Result<Vec<Household>, ApiError> {
    let conn = unit.conn();
    let now = time::now();
    let (news, fingerprints): (Vec<NewHousehold>, Vec<String>) = news.into_iter().unzip();
    let households: Vec<Household> = news
        .into_iter()
        .map(|new| household_from_new(new, registered_by, now))
        .collect();
    if households.is_empty() {
        return Ok(households);
    }
    let members: Vec<&Member> = households.iter().flat_map(|h| &h.members).collect();
    // The search keys (Unicode folding and transliteration, a tenth of a bulk
    // write's time) are derived on a second thread while the rows go in.
    std::thread::scope(|scope| {
        let keys = scope.spawn(|| {
            let names =
                name_keys::name_key_rows(members.iter().map(|m| (m.id.to_string(), m.names())));
            let profiles: Vec<(Uuid, Profile)> =
                households.iter().flat_map(Household::profiles).collect();
            let matching = match_keys::key_rows(
                profiles
                    .iter()
                    .map(|(id, profile)| (id.to_string(), profile)),
            );
            (names, matching)
        });
        let rows: Vec<HouseholdInsert<'_>> = households
            .iter()
            .zip(&fingerprints)
            .map(|(h, fingerprint)| HouseholdInsert::of(h, Some(fingerprint), now))
            .collect();
        for chunk in rows.chunks(db::rows_per_insert(HouseholdInsert::COLUMNS)) {
            crate::per_backend!(conn, |c| diesel::insert_into(households::table)
                .values(chunk)
                .execute(c))
            .map_err(household_insert_error(
                // Which household failed is not reported portably; the caller
                // validated the centers, so this is a race with a center change.
                || households[0].center_id,
                || households[0].id,
            ))?;
        }
        let persons: Vec<PersonInsert<'_>> = households
            .iter()
            .flat_map(|h| {
                let household_id = h.id.to_string();
                h.members
                    .iter()
                    .enumerate()
                    .map(move |(i, m)| PersonInsert::of(household_id.clone(), i as i32, m, now))
            })
            .collect();
        for chunk in persons.chunks(db::rows_per_insert(PersonInsert::COLUMNS)) {
            crate::per_backend!(conn, |c| diesel::insert_into(persons_table::table)
                .values(chunk)
                .execute(c))
            .map_err(person_insert_error)?;
        }
        insert_needs(conn, &members)?;
        let (names, matching) = keys
            .join()
            .map_err(|_| ApiError::internal("deriving search keys failed"))?;
        name_keys::insert_name_key_rows(conn, &names)?;
        Ok::<_, ApiError>(match_keys::insert_keys(conn, &matching, false)?)
    })?;
    unit.record(aggregates::registrations(
        households.iter().map(Household::arrival),
    ));
    Ok(households)
}

/// The household a validated registration creates (ids generated where the
/// client chose none).
fn household_from_new(new: NewHousehold, registered_by: Uuid, now: NaiveDateTime) -> Household {
    Household {
        id: new.id.unwrap_or_else(Uuid::now_v7),
        center_id: new.center_id,
        arrived_at: new.arrived_at.stored().and_utc(),
        origin_settlement: new.origin_settlement,
        intended_destination: new.intended_destination,
        phone: new.phone,
        size: new.members.len() as i32,
        version: 1,
        registered_by,
        created_at: now.and_utc(),
        updated_at: now.and_utc(),
        members: new.members.into_iter().map(Member::from_new).collect(),
        duplicate: false,
        reached: Default::default(),
    }
}

/// Maps the failures of a household INSERT to API errors.
fn household_insert_error(
    center: impl FnOnce() -> Uuid,
    id: impl FnOnce() -> Uuid,
) -> impl FnOnce(diesel::result::Error) -> ApiError {
    move |error| {
        match error {
            // The only foreign keys of a household row: the center (checked by
            // the database rather than by a separate query) and the registering user.
            diesel::result::Error::DatabaseError(
                diesel::result::DatabaseErrorKind::ForeignKeyViolation,
                _,
            ) => ApiError::invalid(
                "center_id",
                "unknown",
                format!("no center with id {}", center()),
            ),
            diesel::result::Error::DatabaseError(
                diesel::result::DatabaseErrorKind::UniqueViolation,
                _,
            ) => idempotent::id_taken("household-exists", "household", id()),
            other => other.into(),
        }
    }
}

fn person_insert_error(error: diesel::result::Error) -> ApiError {
    db::unique_violation(|| ApiError::Conflict {
        code: "person-exists",
        detail: "a member id is already registered to another household".into(),
    })(error)
}

/// A `households` row to insert.
///
/// `treat_none_as_default_value = false` (here and on [`PersonInsert`]): an
/// absent value is NULL, as it is anyway (these columns have no defaults),
/// and a batch becomes one multi-row INSERT on SQLite too. With diesel's
/// default, SQLite would run one INSERT per row (to write DEFAULT for
/// `None`), which was a fifth of a bulk import's write time.
#[derive(Insertable)]
#[diesel(table_name = households, treat_none_as_default_value = false)]
struct HouseholdInsert<'a> {
    id: String,
    center_id: String,
    arrived_at: NaiveDateTime,
    origin_settlement: &'a str,
    intended_destination: Option<&'a str>,
    phone: Option<&'a str>,
    size: i32,
    version: i32,
    registered_by: String,
    created_at: NaiveDateTime,
    updated_at: NaiveDateTime,
    import_fingerprint: Option<&'a str>,
}

impl<'a> HouseholdInsert<'a> {
    const COLUMNS: usize = 12;

    fn of(
        household: &'a Household,
        import_fingerprint: Option<&'a str>,
        now: NaiveDateTime,
    ) -> Self {
        HouseholdInsert {
            id: household.id.to_string(),
            center_id: household.center_id.to_string(),
            arrived_at: household.arrived_at.naive_utc(),
            origin_settlement: &household.origin_settlement,
            intended_destination: household.intended_destination.as_deref(),
            phone: household.phone.as_deref(),
            size: household.size,
            version: household.version,
            registered_by: household.registered_by.to_string(),
            created_at: now,
            updated_at: now,
            import_fingerprint,
        }
    }
}

/// A `persons` row to insert (one multi-row INSERT per batch, see
/// [`HouseholdInsert`]).
#[derive(Insertable)]
#[diesel(table_name = persons_table, treat_none_as_default_value = false)]
struct PersonInsert<'a> {
    id: String,
    household_id: String,
    position: i32,
    given_name: &'a str,
    family_name: &'a str,
    patronymic: Option<&'a str>,
    name_latin: Option<&'a str>,
    sex: &'static str,
    birth_date: Option<NaiveDate>,
    estimated_age: Option<i32>,
    relationship: &'static str,
    document_type: Option<&'static str>,
    document_number: Option<&'a str>,
    created_at: NaiveDateTime,
    updated_at: NaiveDateTime,
    tracing_consent: bool,
}

impl<'a> PersonInsert<'a> {
    const COLUMNS: usize = 16;

    fn of(household_id: String, position: i32, m: &'a Member, now: NaiveDateTime) -> Self {
        PersonInsert {
            id: m.id.to_string(),
            household_id,
            position,
            given_name: &m.given_name,
            family_name: &m.family_name,
            patronymic: m.patronymic.as_deref(),
            name_latin: m.name_latin.as_deref(),
            sex: m.sex.as_str(),
            birth_date: m.birth_date,
            estimated_age: m.estimated_age,
            relationship: m.relationship.as_str(),
            document_type: m.document.as_ref().map(|d| d.kind.as_str()),
            document_number: m.document.as_ref().map(|d| d.number.as_str()),
            created_at: now,
            updated_at: now,
            tracing_consent: m.tracing_consent,
        }
    }
}

/// Inserts member rows (from `first_position` on), their needs and search keys.
fn insert_members(
    conn: &mut DbConnection,
    household_id: Uuid,
    first_position: i32,
    members: &[Member],
    now: NaiveDateTime,
) -> Result<(), ApiError> {
    let household_id = household_id.to_string();
    let rows: Vec<PersonInsert<'_>> = members
        .iter()
        .enumerate()
        .map(|(i, m)| PersonInsert::of(household_id.clone(), first_position + i as i32, m, now))
        .collect();
    crate::per_backend!(conn, |c| diesel::insert_into(persons_table::table)
        .values(&rows)
        .execute(c))
    .map_err(person_insert_error)?;
    insert_needs_and_keys(conn, members.iter().collect())
}

fn insert_needs_and_keys(conn: &mut DbConnection, members: Vec<&Member>) -> Result<(), ApiError> {
    insert_needs(conn, &members)?;
    name_keys::insert_name_keys(conn, members.into_iter().map(|m| (m.id, m.names())))
}

/// Stores the match keys of every member of a household (a row already
/// there is left).
fn insert_match_keys(conn: &mut DbConnection, household: &Household) -> Result<(), ApiError> {
    let profiles = household.profiles();
    let rows = match_keys::key_rows(
        profiles
            .iter()
            .map(|(id, profile)| (id.to_string(), profile)),
    );
    Ok(match_keys::insert_keys(conn, &rows, true)?)
}

fn insert_needs(conn: &mut DbConnection, members: &[&Member]) -> Result<(), ApiError> {
    let needs: Vec<_> = members
        .iter()
        .flat_map(|m| {
            m.needs.iter().map(move |code| {
                (
                    person_needs::person_id.eq(m.id.to_string()),
                    person_needs::code.eq(code.as_str()),
                )
            })
        })
        .collect();
    for chunk in needs.chunks(db::rows_per_insert(2)) {
        crate::per_backend!(conn, |c| diesel::insert_into(person_needs::table)
            .values(chunk)
            .execute(c))?;
    }
    Ok(())
}

/// A `households` row as stored.
#[derive(Queryable, Selectable)]
#[diesel(table_name = households)]
pub(super) struct HouseholdRow {
    id: String,
    center_id: String,
    arrived_at: NaiveDateTime,
    origin_settlement: String,
    intended_destination: Option<String>,
    phone: Option<String>,
    size: i32,
    version: i32,
    registered_by: String,
    created_at: NaiveDateTime,
    updated_at: NaiveDateTime,
    reached_housing_at: Option<NaiveDateTime>,
    reached_food_at: Option<NaiveDateTime>,
    reached_fuel_at: Option<NaiveDateTime>,
    reached_transport_at: Option<NaiveDateTime>,
}

/// The columns of a `persons` row that make up a member.
#[derive(Queryable, Selectable)]
#[diesel(table_name = persons_table)]
pub(crate) struct PersonRow {
    id: String,
    household_id: String,
    given_name: String,
    family_name: String,
    patronymic: Option<String>,
    name_latin: Option<String>,
    sex: String,
    birth_date: Option<NaiveDate>,
    estimated_age: Option<i32>,
    relationship: String,
    document_type: Option<String>,
    document_number: Option<String>,
    merged_into: Option<String>,
    tracing_consent: bool,
}

/// Builds members from person rows, attaching their needs (one query for all).
pub(crate) fn members_from_rows(
    conn: &mut DbConnection,
    rows: Vec<PersonRow>,
) -> Result<Vec<(Uuid, Member)>, ApiError> {
    let ids: Vec<&String> = rows.iter().map(|r| &r.id).collect();
    let mut needs: Vec<(String, String)> = Vec::new();
    for chunk in ids.chunks(500) {
        needs.extend(
            person_needs::table
                .filter(person_needs::person_id.eq_any(chunk))
                .select((person_needs::person_id, person_needs::code))
                .order((person_needs::person_id, person_needs::code))
                .load::<(String, String)>(conn)?,
        );
    }
    rows.into_iter()
        .map(|row| {
            let PersonRow {
                id,
                household_id,
                given_name,
                family_name,
                patronymic,
                name_latin,
                sex,
                birth_date,
                estimated_age,
                relationship,
                document_type,
                document_number,
                merged_into,
                tracing_consent,
            } = row;
            let document = match (document_type, document_number) {
                (Some(kind), Some(number)) => Some(Document {
                    kind: DocumentType::from_stored(&kind)?,
                    number,
                }),
                _ => None,
            };
            let member_needs = needs
                .iter()
                .filter(|(p, _)| *p == id)
                .map(|(_, c)| c.clone())
                .collect();
            Ok((
                stored::id(&household_id)?,
                Member {
                    id: stored::id(&id)?,
                    given_name,
                    family_name,
                    patronymic,
                    name_latin,
                    sex: Sex::from_stored(&sex)?,
                    birth_date,
                    estimated_age,
                    relationship: Relationship::from_stored(&relationship)?,
                    document,
                    needs: member_needs,
                    merged_into: merged_into.as_deref().map(stored::id).transpose()?,
                    tracing_consent,
                },
            ))
        })
        .collect()
}

/// Loads households (in the given order) with their members.
pub(super) fn load_households(
    conn: &mut DbConnection,
    rows: Vec<HouseholdRow>,
) -> Result<Vec<Household>, ApiError> {
    let ids: Vec<&String> = rows.iter().map(|r| &r.id).collect();
    let person_rows: Vec<PersonRow> = persons_table::table
        .filter(persons_table::household_id.eq_any(&ids))
        .order((persons_table::household_id, persons_table::position))
        .select(PersonRow::as_select())
        .load(conn)?;
    let mut members: std::collections::HashMap<Uuid, Vec<Member>> =
        std::collections::HashMap::with_capacity(rows.len());
    for (household, member) in members_from_rows(conn, person_rows)? {
        members.entry(household).or_default().push(member);
    }
    rows.into_iter()
        .map(|row| {
            let HouseholdRow {
                id,
                center_id,
                arrived_at,
                origin_settlement,
                intended_destination,
                phone,
                size,
                version,
                registered_by,
                created_at,
                updated_at,
                reached_housing_at,
                reached_food_at,
                reached_fuel_at,
                reached_transport_at,
            } = row;
            let id = stored::id(&id)?;
            let mut household = Household {
                id,
                center_id: stored::id(&center_id)?,
                arrived_at: arrived_at.and_utc(),
                origin_settlement,
                intended_destination,
                phone,
                size,
                version,
                registered_by: stored::id(&registered_by)?,
                created_at: created_at.and_utc(),
                updated_at: updated_at.and_utc(),
                members: members.remove(&id).unwrap_or_default(),
                duplicate: false,
                reached: [
                    reached_housing_at,
                    reached_food_at,
                    reached_fuel_at,
                    reached_transport_at,
                ],
            };
            household.duplicate = household.is_duplicate();
            Ok(household)
        })
        .collect()
}

/// Households (with members) that arrived in `[from, to]`, in arrival order.
pub(crate) fn arrived_between(
    conn: &mut DbConnection,
    from: NaiveDateTime,
    to: NaiveDateTime,
) -> Result<Vec<Household>, ApiError> {
    let rows: Vec<HouseholdRow> = households::table
        .filter(households::arrived_at.between(from, to))
        .order((households::arrived_at, households::id))
        .select(HouseholdRow::as_select())
        .load(conn)?;
    load_households(conn, rows)
}

/// Up to `limit` households after `after` in id order, for scans over all records.
pub(crate) fn page_by_id(
    conn: &mut DbConnection,
    after: Option<Uuid>,
    limit: i64,
) -> Result<Vec<Household>, ApiError> {
    let mut q = households::table
        .select(HouseholdRow::as_select())
        .order(households::id)
        .limit(limit)
        .into_boxed();
    if let Some(after) = after {
        q = q.filter(households::id.gt(after.to_string()));
    }
    let rows = q.load(conn)?;
    load_households(conn, rows)
}

/// Loads one household with its members.
pub fn find(conn: &mut DbConnection, id: Uuid) -> Result<Option<Household>, ApiError> {
    let row: Option<HouseholdRow> = households::table
        .find(id.to_string())
        .select(HouseholdRow::as_select())
        .first(conn)
        .optional()?;
    match row {
        Some(row) => Ok(load_households(conn, vec![row])?.pop()),
        None => Ok(None),
    }
}

pub(super) fn not_found(id: Uuid) -> ApiError {
    ApiError::NotFound(format!("no household with id {id}"))
}

/// A correction to apply to a stored household.
pub struct Correction {
    pub id: Uuid,
    /// The version the corrector read; another version means someone else
    /// corrected the household in between (412).
    pub expected_version: i32,
    pub patch: HouseholdPatch,
    pub corrected_by: Uuid,
    /// When the correction takes effect for statistics as of a past instant:
    /// now, unless the client says it took effect earlier; the replayed time
    /// for a scenario replay. Never before the household's arrival nor before
    /// its previous correction.
    pub effective_at: NaiveDateTime,
}

/// Applies a correction in the caller's transaction: keeps the previous state
/// as a revision, bumps the version and keeps the statistics current.
/// `authorize` sees the stored household before anything is written.
pub fn correct(
    unit: &mut Unit<'_>,
    correction: Correction,
    provinces: &Provinces,
    authorize: impl FnOnce(&Household) -> Result<(), ApiError>,
) -> Result<Household, ApiError> {
    let conn = unit.conn();
    let Correction {
        id,
        expected_version: expected,
        patch,
        corrected_by,
        effective_at,
    } = correction;
    let mut household = find(conn, id)?.ok_or_else(|| not_found(id))?;
    authorize(&household)?;
    if household.version != expected {
        return Err(ApiError::PreconditionFailed {
            current_version: household.version,
        });
    }
    if effective_at < household.arrived_at.naive_utc() {
        return Err(ApiError::invalid(
            "effective_at",
            "before_arrival",
            "a correction cannot take effect before the household arrived",
        ));
    }
    let mut before = household.clone();
    let old_count = household.members.len();
    apply_patch(&mut household, patch)?;
    validate_patched(&household, provinces)?;
    let last_effective: Option<NaiveDateTime> = household_revisions::table
        .filter(household_revisions::household_id.eq(id.to_string()))
        .select(diesel::dsl::max(household_revisions::replaced_at))
        .first(conn)?;
    if last_effective.is_some_and(|last| effective_at < last) {
        return Err(ApiError::invalid(
            "effective_at",
            "before_previous",
            "a correction cannot take effect before the previous one",
        ));
    }
    let now = time::now();
    household.version += 1;
    household.updated_at = now.and_utc();
    // The version in the WHERE clause makes a concurrent correction
    // (another process between our read and this write) fail cleanly.
    let updated = diesel::update(
        households::table
            .find(id.to_string())
            .filter(households::version.eq(expected)),
    )
    .set((
        households::arrived_at.eq(household.arrived_at.naive_utc()),
        households::origin_settlement.eq(&household.origin_settlement),
        households::intended_destination.eq(&household.intended_destination),
        households::phone.eq(&household.phone),
        households::size.eq(household.size),
        households::version.eq(household.version),
        households::updated_at.eq(now),
    ))
    .execute(conn)?;
    if updated == 0 {
        let current: i32 = households::table
            .find(id.to_string())
            .select(households::version)
            .first(conn)?;
        return Err(ApiError::PreconditionFailed {
            current_version: current,
        });
    }
    // When assistance first reached the household is kept outside its
    // version (`record_reach`): read it again now that this transaction
    // holds the row, so the statistics move what is kept now.
    let reached = reached_of(conn, id)?;
    before.reached = reached;
    household.reached = reached;
    insert_revision(conn, &before, effective_at, corrected_by, now)?;
    let (existing, added) = household.members.split_at(old_count);
    for member in existing {
        diesel::update(persons_table::table.find(member.id.to_string()))
            .set((
                persons_table::given_name.eq(&member.given_name),
                persons_table::family_name.eq(&member.family_name),
                persons_table::patronymic.eq(&member.patronymic),
                persons_table::name_latin.eq(&member.name_latin),
                persons_table::sex.eq(member.sex.as_str()),
                persons_table::birth_date.eq(member.birth_date),
                persons_table::estimated_age.eq(member.estimated_age),
                persons_table::relationship.eq(member.relationship.as_str()),
                persons_table::document_type.eq(member.document.as_ref().map(|d| d.kind.as_str())),
                persons_table::document_number
                    .eq(member.document.as_ref().map(|d| d.number.clone())),
                persons_table::tracing_consent.eq(member.tracing_consent),
                persons_table::updated_at.eq(now),
            ))
            .execute(conn)?;
    }
    let existing_ids: Vec<String> = existing.iter().map(|m| m.id.to_string()).collect();
    diesel::delete(person_needs::table.filter(person_needs::person_id.eq_any(&existing_ids)))
        .execute(conn)?;
    for member in &before.members {
        name_keys::delete_name_keys(conn, member.id, &member.names())?;
    }
    for (person, profile) in before.profiles() {
        match_keys::delete_keys(conn, person, &profile)?;
    }
    insert_needs_and_keys(conn, existing.iter().collect())?;
    if !added.is_empty() {
        insert_members(conn, id, old_count as i32, added, now)?;
    }
    // A correction writes its keys at once (a batch of pending keys may
    // have read the record before it; see `match_keys::write_pending`).
    insert_match_keys(conn, &household)?;
    unit.record(aggregates::change(
        Some(&before.arrival()),
        Some(&household.arrival()),
    ));
    tracing::info!(household_id = %id, version = household.version, "household corrected");
    Ok(household)
}

/// Keeps a household's state before a change as a revision: what it was
/// until `replaced_at` (statistics as of an earlier instant count it so).
fn insert_revision(
    conn: &mut DbConnection,
    before: &Household,
    replaced_at: NaiveDateTime,
    by: Uuid,
    now: NaiveDateTime,
) -> Result<(), ApiError> {
    diesel::insert_into(household_revisions::table)
        .values((
            household_revisions::household_id.eq(before.id.to_string()),
            household_revisions::version.eq(before.version),
            household_revisions::snapshot
                .eq(serde_json::to_string(before).map_err(ApiError::internal)?),
            household_revisions::replaced_at.eq(replaced_at),
            household_revisions::replaced_by.eq(by.to_string()),
            household_revisions::recorded_at.eq(now),
        ))
        .execute(conn)?;
    Ok(())
}

/// One page of `GET /api/v1/households`: households by arrival (then id),
/// filtered, limited to the centers in `scope`.
pub fn list(
    conn: &mut DbConnection,
    query: &ListQuery,
    scope: &CenterScope,
    paging: &PageQuery,
) -> Result<Page<Household>, ApiError> {
    let mut q = households::table
        .select(HouseholdRow::as_select())
        .into_boxed();
    if let Some(center) = query.center_id {
        q = q.filter(households::center_id.eq(center.to_string()));
    }
    if let CenterScope::Only(centers) = scope {
        let centers: Vec<String> = centers.iter().map(Uuid::to_string).collect();
        q = q.filter(households::center_id.eq_any(centers));
    }
    if let Some(from) = query.arrived_from {
        q = q.filter(households::arrived_at.ge(from.naive_utc()));
    }
    if let Some(to) = query.arrived_to {
        q = q.filter(households::arrived_at.lt(to.naive_utc()));
    }
    if let Some(origin) = &query.origin_settlement {
        q = q.filter(households::origin_settlement.eq(origin.clone()));
    }
    if let Some(Cursor { at, id }) = paging.after.clone() {
        q = q.filter(
            households::arrived_at
                .gt(at)
                .or(households::arrived_at.eq(at).and(households::id.gt(id))),
        );
    }
    let rows: Vec<HouseholdRow> = q
        .order((households::arrived_at, households::id))
        .limit(paging.rows_to_load())
        .load(conn)?;
    paging.page(
        rows,
        |r| Cursor::encode(r.arrived_at, &r.id),
        |rows| load_households(conn, rows),
    )
}

/// Marks `person` as merged into `into` (a duplicate decision: the same
/// person registered earlier), or no longer merged (`into` = None: the
/// decision undone), in the caller's transaction. Nothing is deleted: the
/// person's household keeps its record as it was as a revision (so
/// statistics as of before the change still report what they did), gets a
/// new version, and from now on counts the person only if not merged.
/// Returns the person's household as it is now.
pub fn set_merged(
    unit: &mut Unit<'_>,
    person: Uuid,
    into: Option<Uuid>,
    by: Uuid,
) -> Result<Household, ApiError> {
    let conn = unit.conn();
    let household_id: String = persons_table::table
        .find(person.to_string())
        .select(persons_table::household_id)
        .first(conn)
        .optional()?
        .ok_or_else(|| ApiError::NotFound(format!("no person with id {person}")))?;
    let household_id = stored::id(&household_id)?;
    if let Some(into) = into {
        // Whoever gives aid to the record merged into waits for this merge
        // (distributions lock the households of a merge group).
        let kept: String = persons_table::table
            .find(into.to_string())
            .select(persons_table::household_id)
            .first(conn)?;
        diesel::update(households::table.find(kept))
            .set(households::version.eq(households::version))
            .execute(conn)?;
    }
    let mut before = find(conn, household_id)?.ok_or_else(|| not_found(household_id))?;
    let now = time::now();
    let mut after = before.clone();
    after.version += 1;
    after.updated_at = now.and_utc();
    for member in after.members.iter_mut().filter(|m| m.id == person) {
        member.merged_into = into;
    }
    after.duplicate = after.is_duplicate();
    let changed = diesel::update(
        households::table
            .find(household_id.to_string())
            .filter(households::version.eq(before.version)),
    )
    .set((
        households::version.eq(after.version),
        households::updated_at.eq(now),
    ))
    .execute(conn)?;
    if changed == 0 {
        return Err(ApiError::Conflict {
            code: "household-changed",
            detail: "a household of this pair changed meanwhile; try again".into(),
        });
    }
    // As in a correction: what assistance reached is read with the row held.
    let reached = reached_of(conn, household_id)?;
    before.reached = reached;
    after.reached = reached;
    diesel::update(persons_table::table.find(person.to_string()))
        .set((
            persons_table::merged_into.eq(into.map(|id| id.to_string())),
            persons_table::merged_at.eq(into.map(|_| now)),
            persons_table::updated_at.eq(now),
        ))
        .execute(conn)?;
    insert_revision(conn, &before, now, by, now)?;
    unit.record(aggregates::change(
        Some(&before.arrival()),
        Some(&after.arrival()),
    ));
    Ok(after)
}

/// Records that a kind of assistance reached a household at `at`, in the
/// caller's transaction: housing (a check-in), food or fuel (a distribution)
/// or transport (the departure of a trip it boarded). Coverage counts a
/// household from the first time each kind reached it, so only an earlier
/// time than the one kept changes anything: the household's count then moves
/// to the hour of `at` (or of its arrival, if later) in the statistics
/// written with this unit.
///
/// `known` is what the caller read with the household row (its
/// [`Household::reached`], or [`arrival_of`]): most assistance is not the
/// first of its kind, and then nothing more is read or written. If it is
/// out of date, the write below finds so and the times are read again.
pub fn record_reach(
    unit: &mut Unit<'_>,
    household: Uuid,
    known: &Reached,
    sector: Sector,
    at: NaiveDateTime,
) -> Result<(), ApiError> {
    let id = household.to_string();
    let mut kept = known[sector.index()];
    loop {
        if kept.is_some_and(|first| first <= at) {
            return Ok(());
        }
        let conn = unit.conn();
        // Set only if it still holds what was read: assistance recorded
        // meanwhile for the same household (another API process) makes this
        // write nothing, and the loop reads again. Once it is set, this
        // transaction holds the row until it commits, so where the household
        // is counted is read with the row held.
        macro_rules! set_if_unchanged {
            ($column:expr) => {{
                let target = households::table.find(&id);
                let counted_at = (households::center_id, households::arrived_at);
                match kept {
                    Some(kept) => diesel::update(target.filter($column.eq(kept)))
                        .set($column.eq(at))
                        .returning(counted_at)
                        .get_result::<(String, NaiveDateTime)>(conn)
                        .optional()?,
                    None => diesel::update(target.filter($column.is_null()))
                        .set($column.eq(at))
                        .returning(counted_at)
                        .get_result::<(String, NaiveDateTime)>(conn)
                        .optional()?,
                }
            }};
        }
        let set = match sector {
            Sector::Housing => set_if_unchanged!(households::reached_housing_at),
            Sector::Food => set_if_unchanged!(households::reached_food_at),
            Sector::Fuel => set_if_unchanged!(households::reached_fuel_at),
            Sector::Transport => set_if_unchanged!(households::reached_transport_at),
        };
        let Some((center, arrived)) = set else {
            kept = reached_of(conn, household)?[sector.index()];
            continue;
        };
        let counted: i64 = persons_table::table
            .filter(persons_table::household_id.eq(&id))
            .filter(persons_table::merged_into.is_null())
            .count()
            .get_result(conn)?;
        unit.record(aggregates::reach_change(
            stored::id(&center)?,
            arrived,
            counted,
            sector,
            kept,
            at,
        ));
        return Ok(());
    }
}

/// When each kind of assistance first reached a household, as it keeps it.
fn reached_of(conn: &mut DbConnection, household: Uuid) -> Result<Reached, ApiError> {
    Ok(arrival_of(conn, household)?
        .ok_or_else(|| not_found(household))?
        .1)
}

/// When a household arrived, and when each kind of assistance first reached
/// it: what recording assistance checks, and passes to [`record_reach`].
/// `None` if there is no such household.
pub fn arrival_of(
    conn: &mut DbConnection,
    household: Uuid,
) -> Result<Option<(NaiveDateTime, Reached)>, ApiError> {
    type Row = (
        NaiveDateTime,
        Option<NaiveDateTime>,
        Option<NaiveDateTime>,
        Option<NaiveDateTime>,
        Option<NaiveDateTime>,
    );
    let row: Option<Row> = households::table
        .find(household.to_string())
        .select((
            households::arrived_at,
            households::reached_housing_at,
            households::reached_food_at,
            households::reached_fuel_at,
            households::reached_transport_at,
        ))
        .first(conn)
        .optional()?;
    Ok(row.map(|(arrived, housing, food, fuel, transport)| {
        (arrived, [housing, food, fuel, transport])
    }))
}

/// When each kind of assistance first reached each of `households`, from
/// the records themselves (placements, distributions, boardings): what
/// [`record_reach`] keeps, recomputed (for `refuge stats verify`).
pub fn reached_from_records(
    conn: &mut DbConnection,
    households: &[Uuid],
) -> Result<std::collections::HashMap<Uuid, Reached>, ApiError> {
    use crate::schema::{boardings, distributions, items, placements, trips};
    let ids: Vec<String> = households.iter().map(Uuid::to_string).collect();
    let mut out: std::collections::HashMap<Uuid, Reached> = std::collections::HashMap::new();
    let mut put = |rows: Vec<(String, Option<NaiveDateTime>)>, sector: Sector| {
        for (household, first) in rows {
            out.entry(stored::id(&household)?).or_default()[sector.index()] = first;
        }
        Ok::<_, ApiError>(())
    };
    for chunk in ids.chunks(500) {
        put(
            placements::table
                .filter(placements::household_id.eq_any(chunk))
                .group_by(placements::household_id)
                .select((
                    placements::household_id,
                    diesel::dsl::min(placements::checked_in_at),
                ))
                .load(conn)?,
            Sector::Housing,
        )?;
        for sector in [Sector::Food, Sector::Fuel] {
            put(
                distributions::table
                    .inner_join(items::table)
                    .filter(distributions::household_id.eq_any(chunk))
                    .filter(items::sector.eq(sector.as_str()))
                    .group_by(distributions::household_id)
                    .select((
                        distributions::household_id,
                        diesel::dsl::min(distributions::distributed_at),
                    ))
                    .load(conn)?,
                sector,
            )?;
        }
        put(
            boardings::table
                .inner_join(trips::table)
                .filter(boardings::household_id.eq_any(chunk))
                .group_by(boardings::household_id)
                .select((boardings::household_id, diesel::dsl::min(trips::departs_at)))
                .load(conn)?,
            Sector::Transport,
        )?;
    }
    Ok(out)
}

/// Sets every household's first-reached times from the records (for
/// `refuge stats rebuild`); returns how many households changed.
pub fn rewrite_reached(conn: &mut DbConnection) -> Result<usize, ApiError> {
    const FIRST_HOUSED: &str = "(SELECT MIN(p.checked_in_at) FROM placements p
        WHERE p.household_id = households.id)";
    const FIRST_TRANSPORTED: &str = "(SELECT MIN(t.departs_at) FROM boardings b
        JOIN trips t ON t.id = b.trip_id WHERE b.household_id = households.id)";
    let first_given = |sector: &str| {
        format!(
            "(SELECT MIN(d.distributed_at) FROM distributions d JOIN items i ON i.id = d.item_id
              WHERE d.household_id = households.id AND i.sector = '{sector}')"
        )
    };
    // `IS NOT` (SQLite) and `IS DISTINCT FROM` (PostgreSQL) both compare
    // NULLs as values: only the households whose times are wrong are written.
    let distinct = match conn {
        DbConnection::Sqlite(_) => "IS NOT",
        DbConnection::Postgres(_) => "IS DISTINCT FROM",
    };
    let (food, fuel) = (first_given("food"), first_given("fuel"));
    let statement = format!(
        "UPDATE households SET
             reached_housing_at = {FIRST_HOUSED},
             reached_food_at = {food},
             reached_fuel_at = {fuel},
             reached_transport_at = {FIRST_TRANSPORTED}
         WHERE reached_housing_at {distinct} {FIRST_HOUSED}
            OR reached_food_at {distinct} {food}
            OR reached_fuel_at {distinct} {fuel}
            OR reached_transport_at {distinct} {FIRST_TRANSPORTED}"
    );
    Ok(diesel::sql_query(statement).execute(conn)?)
}

/// The person a record was merged into, if it was, with when it was
/// registered (for choosing which of two records is the earlier).
pub fn merge_state(
    conn: &mut DbConnection,
    person: Uuid,
) -> Result<(Option<Uuid>, NaiveDateTime), ApiError> {
    let (merged_into, created_at): (Option<String>, NaiveDateTime) = persons_table::table
        .find(person.to_string())
        .select((persons_table::merged_into, persons_table::created_at))
        .first(conn)
        .optional()?
        .ok_or_else(|| ApiError::NotFound(format!("no person with id {person}")))?;
    Ok((
        merged_into.as_deref().map(stored::id).transpose()?,
        created_at,
    ))
}

/// Households joined by merges: a household, the households of the records
/// its members were merged into, of those merged into its members, and so
/// on. Entitlements count what the whole group received, so that a person
/// registered twice is not given twice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MergeGroup {
    /// In id order (the order to lock them in).
    pub households: Vec<Uuid>,
    /// Members of the group's households not merged into another record.
    pub persons: i64,
    /// The group's households with at least one such member.
    pub counted_households: i64,
    /// Members of the household itself not merged into another record.
    pub members: i64,
}

/// The [`MergeGroup`] of a household (itself alone if no merge touches it:
/// one query, for every distribution).
pub fn merge_group(conn: &mut DbConnection, household: Uuid) -> Result<MergeGroup, ApiError> {
    let mut group: std::collections::BTreeSet<String> = [household.to_string()].into();
    // Each round adds the households one merge away; chains are short.
    for _ in 0..64 {
        // The group's members, and the records merged into them: two
        // lookups by index (an OR of both in one query would scan every
        // person on PostgreSQL).
        let mut rows: Vec<(String, String, Option<String>)> = persons_table::table
            .filter(persons_table::household_id.eq_any(&group))
            .select((
                persons_table::id,
                persons_table::household_id,
                persons_table::merged_into,
            ))
            .load(conn)?;
        let member_ids: Vec<Option<String>> =
            rows.iter().map(|(id, _, _)| Some(id.clone())).collect();
        rows.extend(
            persons_table::table
                .filter(persons_table::merged_into.eq_any(member_ids))
                .filter(persons_table::household_id.ne_all(&group))
                .select((
                    persons_table::id,
                    persons_table::household_id,
                    persons_table::merged_into,
                ))
                .load::<(String, String, Option<String>)>(conn)?,
        );
        let targets: Vec<&String> = rows
            .iter()
            .filter(|(_, h, _)| group.contains(h))
            .filter_map(|(_, _, merged)| merged.as_ref())
            .collect();
        let mut linked: Vec<String> = rows
            .iter()
            .map(|(_, h, _)| h.clone())
            .filter(|h| !group.contains(h))
            .collect();
        if !targets.is_empty() {
            linked.extend(
                persons_table::table
                    .filter(persons_table::id.eq_any(&targets))
                    .select(persons_table::household_id)
                    .load::<String>(conn)?,
            );
        }
        let before = group.len();
        group.extend(linked);
        if group.len() == before {
            let counted: std::collections::BTreeSet<&String> = rows
                .iter()
                .filter(|(_, h, merged)| merged.is_none() && group.contains(h))
                .map(|(_, h, _)| h)
                .collect();
            let persons = rows
                .iter()
                .filter(|(_, h, merged)| merged.is_none() && group.contains(h))
                .count();
            let own = household.to_string();
            let members = rows
                .iter()
                .filter(|(_, h, merged)| merged.is_none() && *h == own)
                .count();
            return Ok(MergeGroup {
                households: group
                    .iter()
                    .map(|id| stored::id(id))
                    .collect::<Result<_, _>>()?,
                persons: persons as i64,
                counted_households: counted.len() as i64,
                members: members as i64,
            });
        }
    }
    Err(ApiError::internal(
        "a group of merged households does not end",
    ))
}
