//! The matching engine's storage: every person's candidate keys
//! (`person_match_keys`, see [`blocking`]), written with the records by
//! registration, corrections and imports, rebuilt whole when their
//! derivation changes; and the candidates a record's probes find.

use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;
use uuid::Uuid;

use super::blocking::{self, Probe, UNKNOWN_YEAR};
use super::{Birth, Profile};
use crate::db::DbConnection;
use crate::error::ApiError;
use crate::http::stored;
use crate::schema::{households, match_keys_pending, person_match_keys, persons};

/// Which derivation of the keys is stored (`derived_versions`). Change it
/// whenever [`blocking::stored_keys`] would give other keys for the same
/// record: every database then rebuilds its keys on its next start.
pub const MATCH_KEYS_VERSION: &str =
    "3: n (dated) or e (undated) family4|given3, F family, G given, b given|day-month, f family|day-month, d document; Cyrillic y";

/// The `derived_versions` row of the match keys.
const MATCH_KEYS: &str = "person_match_keys";

/// Most candidate key rows one record's lookup reads: a block this large
/// (a key of names the skeleton reduces to almost nothing) says little,
/// and scoring it all would slow the registration desk down. A lookup for
/// several records at once reads this many per record.
pub const MAX_CANDIDATES: i64 = 2_000;

/// (key, birth year, person id) rows to store.
pub type KeyRow = (String, i32, String);

/// The key rows of the given persons; deriving them takes no connection, so
/// a bulk write can derive them on another thread.
pub fn key_rows<'a>(persons: impl Iterator<Item = (String, &'a Profile)>) -> Vec<KeyRow> {
    persons
        .flat_map(|(id, profile)| {
            blocking::stored_keys(profile)
                .into_iter()
                .map(move |(key, year)| (key, year, id.clone()))
        })
        .collect()
}

/// Stores key rows; with `skip_existing`, rows already there are left.
pub fn insert_keys(
    conn: &mut DbConnection,
    rows: &[KeyRow],
    skip_existing: bool,
) -> QueryResult<()> {
    let rows: Vec<_> = rows
        .iter()
        .map(|(key, year, id)| {
            (
                person_match_keys::match_key.eq(key),
                person_match_keys::birth_year.eq(year),
                person_match_keys::person_id.eq(id),
            )
        })
        .collect();
    for chunk in rows.chunks(crate::db::rows_per_insert(3)) {
        let insert = diesel::insert_into(person_match_keys::table).values(chunk);
        if skip_existing {
            crate::per_backend!(conn, |c| insert.on_conflict_do_nothing().execute(c))?;
        } else {
            crate::per_backend!(conn, |c| insert.execute(c))?;
        }
    }
    Ok(())
}

/// Removes the keys a person's record (as stored until now) gave. Recomputed
/// rather than looked up by person (no index by person needed): stored keys
/// are always of the current derivation.
pub fn delete_keys(conn: &mut DbConnection, person: Uuid, profile: &Profile) -> QueryResult<()> {
    let keys: Vec<String> = blocking::stored_keys(profile)
        .into_iter()
        .map(|(key, _)| key)
        .collect();
    diesel::delete(
        person_match_keys::table
            .filter(person_match_keys::match_key.eq_any(&keys))
            .filter(person_match_keys::person_id.eq(person.to_string())),
    )
    .execute(conn)?;
    Ok(())
}

/// The key rows of stored persons (read with their households).
fn rows_of(stored: &[(PersonRow, HouseholdRow)]) -> Vec<KeyRow> {
    let profiles: Vec<(String, Profile)> = stored
        .iter()
        .map(|(person, household)| (person.id.clone(), person.profile(household)))
        .collect();
    key_rows(profiles.iter().map(|(id, profile)| (id.clone(), profile)))
}

/// Lists persons whose keys are to be written ([`write_pending`]), in the
/// caller's transaction: what a registration does instead of writing them.
pub fn pend(conn: &mut DbConnection, persons: impl Iterator<Item = Uuid>) -> QueryResult<()> {
    let rows: Vec<_> = persons
        .map(|id| match_keys_pending::person_id.eq(id.to_string()))
        .collect();
    for chunk in rows.chunks(crate::db::rows_per_insert(1)) {
        let insert = diesel::insert_into(match_keys_pending::table).values(chunk);
        crate::per_backend!(conn, |c| insert.on_conflict_do_nothing().execute(c))?;
    }
    Ok(())
}

/// The persons listed by [`pend`] (at most `at_most`, in id order) and
/// their key rows, sorted by key: written in that order, neighbouring rows
/// share their pages. Only reads: the server writes the rows a range of
/// keys per transaction (see [`write_pending`] for one transaction).
/// A record merged into another gets its keys too (undoing the merge needs
/// them).
pub fn pending_rows(
    conn: &mut DbConnection,
    at_most: i64,
) -> QueryResult<(Vec<String>, Vec<KeyRow>)> {
    let listed: Vec<String> = match_keys_pending::table
        .select(match_keys_pending::person_id)
        .order(match_keys_pending::person_id)
        .limit(at_most)
        .load(conn)?;
    let mut rows = Vec::new();
    for chunk in listed.chunks(REBUILD_CHUNK as usize) {
        let stored: Vec<(PersonRow, HouseholdRow)> = persons::table
            .inner_join(households::table)
            .filter(persons::id.eq_any(chunk))
            .select((PersonRow::as_select(), HouseholdRow::as_select()))
            .load(conn)?;
        rows.extend(rows_of(&stored));
    }
    rows.sort_unstable();
    Ok((listed, rows))
}

/// Takes persons off the list once their keys are written.
pub fn unpend(conn: &mut DbConnection, persons: &[String]) -> QueryResult<()> {
    for chunk in persons.chunks(REBUILD_CHUNK as usize) {
        diesel::delete(
            match_keys_pending::table.filter(match_keys_pending::person_id.eq_any(chunk)),
        )
        .execute(conn)?;
    }
    Ok(())
}

/// Persons whose keys [`write_pending`] derives at a time.
const PENDING_CHUNK: i64 = 20_000;

/// Writes the keys of every person listed by [`pend`] in the caller's
/// transaction: what the readers of the key table that must see everyone
/// (an import's matching, a new tracing request, the scan) do first.
/// Returns how many persons. A key row already there is left; keys of an
/// older state of a record may remain (a correction writes its own at once,
/// while a batch here may have read the record before it): candidates are
/// scored as they are now, so such a key only adds a candidate, never
/// hides one.
pub fn write_pending(conn: &mut DbConnection) -> QueryResult<usize> {
    let mut written = 0;
    loop {
        let (listed, rows) = pending_rows(conn, PENDING_CHUNK)?;
        if listed.is_empty() {
            return Ok(written);
        }
        insert_keys(conn, &rows, true)?;
        unpend(conn, &listed)?;
        written += listed.len();
    }
}

/// Persons whose keys are derived per statement when rebuilding.
const REBUILD_CHUNK: i64 = 5_000;

/// Rebuilds every person's match keys if they were derived differently from
/// [`MATCH_KEYS_VERSION`] (or never, as in a database registered before
/// matching existed): run on start, after the migrations.
pub fn rebuild_stale_match_keys(conn: &mut DbConnection) -> QueryResult<Option<u64>> {
    crate::db::derived::rebuild_if_stale(conn, MATCH_KEYS, MATCH_KEYS_VERSION, |conn| {
        diesel::delete(person_match_keys::table).execute(conn)?;
        diesel::delete(match_keys_pending::table).execute(conn)?;
        let mut rekeyed = 0u64;
        let mut after = String::new();
        loop {
            // Merged persons too, as [`pending_rows`]: undoing a merge needs
            // their keys.
            let chunk: Vec<(PersonRow, HouseholdRow)> = persons::table
                .inner_join(households::table)
                .filter(persons::id.gt(&after))
                .order(persons::id)
                .limit(REBUILD_CHUNK)
                .select((PersonRow::as_select(), HouseholdRow::as_select()))
                .load(conn)?;
            let Some((last, _)) = chunk.last() else {
                break;
            };
            after = last.id.clone();
            rekeyed += chunk.len() as u64;
            insert_keys(conn, &rows_of(&chunk), true)?;
        }
        Ok(rekeyed)
    })
}

/// A stored person as the matcher sees it.
#[derive(Debug, Clone)]
pub struct Record {
    pub person_id: Uuid,
    pub household_id: Uuid,
    pub center_id: Uuid,
    pub profile: Profile,
}

/// The persons columns of a [`Record`].
#[derive(Queryable, Selectable)]
#[diesel(table_name = persons)]
struct PersonRow {
    id: String,
    household_id: String,
    given_name: String,
    family_name: String,
    patronymic: Option<String>,
    sex: String,
    birth_date: Option<NaiveDate>,
    estimated_age: Option<i32>,
    document_number: Option<String>,
}

/// The households columns of a [`Record`].
#[derive(Queryable, Selectable, Clone)]
#[diesel(table_name = households)]
struct HouseholdRow {
    id: String,
    center_id: String,
    arrived_at: NaiveDateTime,
    origin_settlement: String,
    phone: Option<String>,
    size: i32,
}

impl PersonRow {
    /// The person (of `household`) as the matcher sees it.
    fn profile(&self, household: &HouseholdRow) -> Profile {
        Profile {
            given_name: self.given_name.clone(),
            family_name: self.family_name.clone(),
            patronymic: self.patronymic.clone(),
            // A sex not recorded is no evidence either way.
            sex: Some(self.sex.clone()).filter(|s| s != "unknown"),
            birth: Birth {
                date: self.birth_date,
                estimated_age: self.estimated_age,
                registered_on: household.arrived_at.date(),
            },
            document_number: self.document_number.clone(),
            phone: household.phone.clone(),
            origin_settlement: Some(household.origin_settlement.clone()),
            household_size: Some(household.size),
        }
    }

    fn record(&self, household: &HouseholdRow) -> Result<Record, ApiError> {
        Ok(Record {
            person_id: stored::id(&self.id)?,
            household_id: stored::id(&self.household_id)?,
            center_id: stored::id(&household.center_id)?,
            profile: self.profile(household),
        })
    }
}

/// The query [`stored_records`] refines: persons not merged into another,
/// with their households.
pub type RecordQuery<'a> = diesel::helper_types::IntoBoxed<
    'a,
    diesel::dsl::Filter<
        diesel::dsl::InnerJoin<persons::table, households::table>,
        diesel::dsl::IsNull<persons::merged_into>,
    >,
    <DbConnection as diesel::Connection>::Backend,
>;

fn load(
    conn: &mut DbConnection,
    refine: impl FnOnce(RecordQuery<'static>) -> RecordQuery<'static>,
) -> QueryResult<Vec<(PersonRow, HouseholdRow)>> {
    let query = persons::table
        .inner_join(households::table)
        .filter(persons::merged_into.is_null())
        .into_boxed();
    refine(query)
        .select((PersonRow::as_select(), HouseholdRow::as_select()))
        .load(conn)
}

/// Loads the records that `refine` selects among persons not merged into
/// another.
pub fn stored_records(
    conn: &mut DbConnection,
    refine: impl FnOnce(RecordQuery<'static>) -> RecordQuery<'static>,
) -> Result<Vec<Record>, ApiError> {
    load(conn, refine)?
        .iter()
        .map(|(person, household)| person.record(household))
        .collect()
}

/// Ids read per statement by [`stored_records_by_id`].
const IDS_PER_QUERY: usize = 1_000;

/// The stored records of `ids` that are not merged into another, in no
/// particular order.
pub fn stored_records_by_id(
    conn: &mut DbConnection,
    ids: &[String],
) -> Result<Vec<Record>, ApiError> {
    let mut out = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(IDS_PER_QUERY) {
        let chunk = chunk.to_vec();
        out.extend(stored_records(conn, move |q| {
            q.filter(persons::id.eq_any(chunk))
        })?);
    }
    Ok(out)
}

/// The stored records that any of `probes` finds, and for each probe which
/// of them (indices) it found (persons merged into another are not
/// candidates: the one they were merged into is). Each lookup of a probe
/// reads its own keys in its own birth years (and the unknown year):
/// equalities on both columns of the key table's primary key, so it reads
/// only its own block, however large the table (one query for all the
/// probes of a registration read the union of their years, nearly every
/// year, and so whole blocks). At most [`MAX_CANDIDATES`] rows per lookup.
/// The records are then read by id. Only lookups by primary key: a plan
/// that cannot turn into a scan while a fresh table's statistics lag behind
/// its growth.
pub fn candidates(
    conn: &mut DbConnection,
    probes: &[Probe],
) -> Result<(Vec<Record>, Vec<Vec<usize>>), ApiError> {
    let mut found: Vec<Vec<usize>> = vec![Vec::new(); probes.len()];
    let mut answered: Vec<(usize, String)> = Vec::new();
    for (i, probe) in probes.iter().enumerate() {
        for lookup in probe.lookups.iter().filter(|l| !l.keys.is_empty()) {
            let mut query = person_match_keys::table
                .filter(person_match_keys::match_key.eq_any(&lookup.keys))
                .into_boxed();
            if let Some((from, to)) = lookup.years {
                let years: Vec<i32> = (from..=to).chain([UNKNOWN_YEAR]).collect();
                query = query.filter(person_match_keys::birth_year.eq_any(years));
            }
            let rows: Vec<String> = query
                .select(person_match_keys::person_id)
                .limit(MAX_CANDIDATES)
                .load(conn)?;
            // The query asked for exactly this lookup's keys and years
            // (document keys are stored under the unknown year): every row
            // answers it.
            answered.extend(rows.into_iter().map(|id| (i, id)));
        }
    }
    let mut ids: Vec<String> = answered.iter().map(|(_, id)| id.clone()).collect();
    ids.sort_unstable();
    ids.dedup();
    let mut out = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(500) {
        let persons: Vec<PersonRow> = persons::table
            .filter(persons::id.eq_any(chunk))
            .filter(persons::merged_into.is_null())
            .select(PersonRow::as_select())
            .load(conn)?;
        let household_ids: Vec<&String> = persons.iter().map(|p| &p.household_id).collect();
        let households: std::collections::HashMap<String, HouseholdRow> = households::table
            .filter(households::id.eq_any(household_ids))
            .select(HouseholdRow::as_select())
            .load::<HouseholdRow>(conn)?
            .into_iter()
            .map(|h| (h.id.clone(), h))
            .collect();
        for person in persons {
            let household = households
                .get(&person.household_id)
                .ok_or_else(|| ApiError::internal("a person's household is missing"))?;
            out.push(person.record(household)?);
        }
    }
    let position: std::collections::HashMap<String, usize> = out
        .iter()
        .enumerate()
        .map(|(i, r)| (r.person_id.to_string(), i))
        .collect();
    let mut seen = std::collections::HashSet::new();
    for (probe, id) in answered {
        // Merged records were left out.
        if let Some(&at) = position.get(&id) {
            if seen.insert((probe, at)) {
                found[probe].push(at);
            }
        }
    }
    Ok((out, found))
}
