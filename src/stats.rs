//! Statistics for dashboards: totals as of any instant, arrivals over time,
//! demographics and specific needs, with small-cell suppression for callers
//! who may not see person-level records.
//!
//! Reading a million persons per dashboard poll is too slow, so every
//! registration and correction keeps `arrival_counts` current inside its own
//! transaction ([`record`]): per center, UTC hour of arrival, and dimension
//! (sex × age band, origin, destination, household size, specific need). The
//! table always equals what [`expected_counts`] computes from the records; a
//! test and `refuge stats verify` check exactly that.
//!
//! The aggregates describe the records as they are now. A summary as of a past
//! instant T also undoes the corrections made after T, from the snapshots in
//! `household_revisions`, so a figure published at T can be reproduced later.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use actix_web::{web, HttpResponse};
use chrono::{DateTime, NaiveDateTime, TimeDelta, Utc};
use chrono_tz::Tz;
use diesel::prelude::*;
use diesel::upsert::excluded;
use serde::Deserialize;
use serde_json::{json, Map, Value};
use uuid::Uuid;

use crate::accounts::Role;
use crate::age_bands::AgeBand;
use crate::auth::{Caller, CenterScope};
use crate::config::StatsSettings;
use crate::db::{Db, DbConnection};
use crate::error::ApiError;
use crate::extract::Query;
use crate::http::stored;
use crate::http::time::{self, Timestamp};
use crate::registration::{self, Household, Sex};
use crate::schema::{arrival_counts, arrival_totals, centers, household_revisions, households};
use crate::suppression::{Cell, Table};

/// The dimensions `arrival_counts` keeps, one row per value.
pub mod dimension {
    /// `female|18-59`: persons by sex and age band on arrival.
    pub const SEX_AGE: &str = "sex_age";
    /// Origin settlement: persons and households.
    pub const ORIGIN: &str = "origin";
    /// Intended destination province (`""` when not given): persons and households.
    pub const DESTINATION: &str = "destination";
    /// Household size: persons and households.
    pub const SIZE: &str = "size";
    /// Specific-needs code: persons.
    pub const NEED: &str = "need";
}

/// One aggregate row's key: center, hour of arrival, dimension, value.
pub type Key = (Uuid, NaiveDateTime, &'static str, String);

/// Per center and hour: the totals kept in `arrival_totals`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Totals {
    pub persons: i64,
    pub households: i64,
    pub female: i64,
    pub male: i64,
    pub other: i64,
    pub unknown: i64,
}

impl Totals {
    fn sex_mut(&mut self, sex: &str) -> &mut i64 {
        match sex {
            "female" => &mut self.female,
            "male" => &mut self.male,
            "other" => &mut self.other,
            _ => &mut self.unknown,
        }
    }
}

/// Both aggregate tables: the breakdowns and the per center-hour totals.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Aggregates {
    pub counts: BTreeMap<Key, Count>,
    pub totals: BTreeMap<(Uuid, NaiveDateTime), Totals>,
}

impl Aggregates {
    /// How many rows of either table differ between `self` and `other`.
    pub fn differing_rows(&self, other: &Aggregates) -> usize {
        fn differing<K: Ord, V: PartialEq>(a: &BTreeMap<K, V>, b: &BTreeMap<K, V>) -> usize {
            let keys: BTreeSet<&K> = a.keys().chain(b.keys()).collect();
            keys.into_iter().filter(|k| a.get(*k) != b.get(*k)).count()
        }
        differing(&self.counts, &other.counts) + differing(&self.totals, &other.totals)
    }

    /// Aggregates whose totals are derived from `counts`.
    fn from_counts(counts: BTreeMap<Key, Count>) -> Aggregates {
        let totals = totals_of(&counts);
        Aggregates { counts, totals }
    }
}

/// The per center-hour totals implied by breakdown rows.
fn totals_of(counts: &BTreeMap<Key, Count>) -> BTreeMap<(Uuid, NaiveDateTime), Totals> {
    let mut out: BTreeMap<(Uuid, NaiveDateTime), Totals> = BTreeMap::new();
    for ((center, bucket, dim, value), count) in counts {
        let totals = out.entry((*center, *bucket)).or_default();
        match *dim {
            dimension::SIZE => {
                totals.persons += count.persons;
                totals.households += count.households;
            }
            dimension::SEX_AGE => {
                *totals.sex_mut(value.split('|').next().unwrap_or("unknown")) += count.persons;
            }
            _ => {}
        }
    }
    out.retain(|_, t| *t != Totals::default());
    out
}

/// Persons and households counted under one key.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Count {
    pub persons: i64,
    pub households: i64,
}

fn sex_label(sex: Sex) -> &'static str {
    match sex {
        Sex::Female => "female",
        Sex::Male => "male",
        Sex::Other => "other",
        Sex::Unknown => "unknown",
    }
}

const SEXES: [&str; 4] = ["female", "male", "other", "unknown"];

/// What one household adds to the aggregates.
pub fn contributions(household: &Household) -> BTreeMap<Key, Count> {
    let mut out: BTreeMap<Key, Count> = BTreeMap::new();
    let bucket = time::hour_of(household.arrived_at.naive_utc());
    let center = household.center_id;
    let mut add = |dimension: &'static str, value: String, persons: i64, households: i64| {
        let count = out.entry((center, bucket, dimension, value)).or_default();
        count.persons += persons;
        count.households += households;
    };
    let size = household.members.len() as i64;
    let arrival_date = household.arrived_at.date_naive();
    for member in &household.members {
        let band = AgeBand::of_person(member.birth_date, member.estimated_age, arrival_date);
        add(
            dimension::SEX_AGE,
            format!("{}|{}", sex_label(member.sex), band.label()),
            1,
            0,
        );
        for need in &member.needs {
            add(dimension::NEED, need.clone(), 1, 0);
        }
    }
    add(
        dimension::ORIGIN,
        household.origin_settlement.clone(),
        size,
        1,
    );
    add(
        dimension::DESTINATION,
        household.intended_destination.clone().unwrap_or_default(),
        size,
        1,
    );
    add(dimension::SIZE, size.to_string(), size, 1);
    out
}

/// Shards per aggregate row on PostgreSQL (see the migration): enough that
/// concurrent registrations rarely wait for each other's row locks, few
/// enough that reads stay small.
const POSTGRES_SHARDS: i32 = 8;

/// The shard this transaction adds to.
fn shard(conn: &DbConnection) -> i32 {
    match conn {
        DbConnection::Sqlite(_) => 0,
        // Shard 0 is left to the compaction (and rebuild), which folds the others into it.
        DbConnection::Postgres(_) => rand::random_range(1..=POSTGRES_SHARDS),
    }
}

/// Applies a registration (`before` = None), a correction, or a removal
/// (`after` = None) to the aggregates, inside the caller's transaction.
///
/// Inside a group commit (see [`Deferred`]) the change is added to the
/// group's delta instead, which is written once before the group commits.
pub fn record(
    conn: &mut DbConnection,
    before: Option<&Household>,
    after: Option<&Household>,
) -> Result<(), ApiError> {
    let mut delta = Delta::default();
    delta.add(after, 1);
    delta.add(before, -1);
    apply(conn, delta)
}

/// Applies many registrations to the aggregates at once: what [`record`]
/// does for each of them, summed into one delta (one upsert per aggregate
/// table, or nothing but a sum inside a group commit).
pub fn record_registrations(
    conn: &mut DbConnection,
    households: &[Household],
) -> Result<(), ApiError> {
    let mut delta = Delta::default();
    for household in households {
        delta.add(Some(household), 1);
    }
    apply(conn, delta)
}

/// Adds `delta` to the group's delta inside a group commit, else writes it.
fn apply(conn: &mut DbConnection, delta: Delta) -> Result<(), ApiError> {
    let delta = match DEFERRED.with_borrow_mut(|deferred| match deferred {
        Some(pending) => {
            pending.merge(delta);
            None
        }
        None => Some(delta),
    }) {
        Some(delta) => delta,
        None => return Ok(()),
    };
    delta.write(conn)
}

/// A change to the aggregates: what some registrations and corrections add
/// (and take away), not yet written.
#[derive(Debug, Default)]
pub struct Delta(BTreeMap<Key, Count>);

impl Delta {
    fn add(&mut self, household: Option<&Household>, sign: i64) {
        for (key, count) in household.map(contributions).unwrap_or_default() {
            let entry = self.0.entry(key).or_default();
            entry.persons += sign * count.persons;
            entry.households += sign * count.households;
        }
    }

    pub fn merge(&mut self, other: Delta) {
        for (key, count) in other.0 {
            let entry = self.0.entry(key).or_default();
            entry.persons += count.persons;
            entry.households += count.households;
        }
    }

    /// Upserts the delta into both aggregate tables, in the caller's transaction.
    pub fn write(mut self, conn: &mut DbConnection) -> Result<(), ApiError> {
        let mut delta = std::mem::take(&mut self.0);
        delta.retain(|_, c| *c != Count::default());
        if delta.is_empty() {
            return Ok(());
        }
        write_delta(conn, delta)
    }
}

thread_local! {
    static DEFERRED: std::cell::RefCell<Option<Delta>> = const { std::cell::RefCell::new(None) };
}

/// Runs `work` (one job of a group commit, see `db::Writer`) with the
/// aggregate changes it records collected rather than written, and returns
/// them with its result.
///
/// The jobs of a group would each upsert the same aggregate rows (same
/// center, same hour); the writer sums their deltas and writes the sum once,
/// in the same transaction as the records, so the aggregates stay exact at a
/// fraction of the cost.
pub fn deferring<T>(work: impl FnOnce() -> T) -> (T, Delta) {
    /// Leaves the thread writing directly again, even if `work` panics.
    struct Reset;
    impl Drop for Reset {
        fn drop(&mut self) {
            DEFERRED.with_borrow_mut(|d| *d = None);
        }
    }
    DEFERRED.with_borrow_mut(|d| *d = Some(Delta::default()));
    let _reset = Reset;
    let result = work();
    let delta = DEFERRED.with_borrow_mut(|d| d.take()).unwrap_or_default();
    (result, delta)
}

fn write_delta(conn: &mut DbConnection, delta: BTreeMap<Key, Count>) -> Result<(), ApiError> {
    let shard = shard(conn);
    // Totals first, then breakdowns, each in key order: concurrent
    // transactions lock shared rows in the same order, so they wait for each
    // other instead of deadlocking.
    let totals: Vec<_> = totals_of(&delta)
        .into_iter()
        .map(|((center, bucket), t)| {
            (
                arrival_totals::center_id.eq(center.to_string()),
                arrival_totals::bucket.eq(bucket),
                arrival_totals::shard.eq(shard),
                arrival_totals::persons.eq(t.persons),
                arrival_totals::households.eq(t.households),
                arrival_totals::female.eq(t.female),
                arrival_totals::male.eq(t.male),
                arrival_totals::other.eq(t.other),
                arrival_totals::unknown.eq(t.unknown),
            )
        })
        .collect();
    if !totals.is_empty() {
        crate::per_backend!(conn, |c| diesel::insert_into(arrival_totals::table)
            .values(&totals)
            .on_conflict((
                arrival_totals::center_id,
                arrival_totals::bucket,
                arrival_totals::shard,
            ))
            .do_update()
            .set((
                arrival_totals::persons
                    .eq(arrival_totals::persons + excluded(arrival_totals::persons)),
                arrival_totals::households
                    .eq(arrival_totals::households + excluded(arrival_totals::households)),
                arrival_totals::female
                    .eq(arrival_totals::female + excluded(arrival_totals::female)),
                arrival_totals::male.eq(arrival_totals::male + excluded(arrival_totals::male)),
                arrival_totals::other.eq(arrival_totals::other + excluded(arrival_totals::other)),
                arrival_totals::unknown
                    .eq(arrival_totals::unknown + excluded(arrival_totals::unknown)),
            ))
            .execute(c))?;
    }
    let rows: Vec<_> = delta
        .into_iter()
        .map(|((center, bucket, dimension, value), count)| {
            (
                arrival_counts::center_id.eq(center.to_string()),
                arrival_counts::bucket.eq(bucket),
                arrival_counts::dimension.eq(dimension),
                arrival_counts::value.eq(value),
                arrival_counts::shard.eq(shard),
                arrival_counts::persons.eq(count.persons),
                arrival_counts::households.eq(count.households),
            )
        })
        .collect();
    crate::per_backend!(conn, |c| diesel::insert_into(arrival_counts::table)
        .values(&rows)
        .on_conflict((
            arrival_counts::center_id,
            arrival_counts::bucket,
            arrival_counts::dimension,
            arrival_counts::value,
            arrival_counts::shard,
        ))
        .do_update()
        .set((
            arrival_counts::persons.eq(arrival_counts::persons + excluded(arrival_counts::persons)),
            arrival_counts::households
                .eq(arrival_counts::households + excluded(arrival_counts::households)),
        ))
        .execute(c))?;
    Ok(())
}

/// Folds the PostgreSQL shard rows of hours before `before` into shard 0;
/// returns how many shard-0 rows it wrote. It never waits for a lock held by a
/// registration (`SKIP LOCKED`: a busy row is folded next time) and writers
/// never touch shard 0, so it cannot deadlock with them; an advisory lock
/// keeps two server processes from folding at the same time.
pub fn compact(conn: &mut DbConnection, before: NaiveDateTime) -> Result<usize, ApiError> {
    use diesel::sql_types::{Bool, Timestamp};
    #[derive(QueryableByName)]
    struct Locked {
        #[diesel(sql_type = Bool)]
        locked: bool,
    }
    let DbConnection::Postgres(pg) = conn else {
        return Ok(0);
    };
    // Released at the end of the caller's transaction.
    let lock: Locked = diesel::sql_query("SELECT pg_try_advisory_xact_lock(7366020231) AS locked")
        .get_result(pg)?;
    if !lock.locked {
        return Ok(0);
    }
    let totals = diesel::sql_query(
        "WITH picked AS (
            SELECT center_id, bucket, shard FROM arrival_totals
            WHERE shard <> 0 AND bucket < $1
            FOR UPDATE SKIP LOCKED),
         moved AS (
            DELETE FROM arrival_totals t USING picked p
            WHERE t.center_id = p.center_id AND t.bucket = p.bucket AND t.shard = p.shard
            RETURNING t.center_id, t.bucket, t.persons, t.households, t.female, t.male,
                      t.other, t.unknown)
         INSERT INTO arrival_totals
             (center_id, bucket, shard, persons, households, female, male, other, unknown)
         SELECT center_id, bucket, 0, SUM(persons), SUM(households), SUM(female), SUM(male),
                SUM(other), SUM(unknown)
         FROM moved GROUP BY center_id, bucket
         ON CONFLICT (center_id, bucket, shard) DO UPDATE SET
             persons = arrival_totals.persons + excluded.persons,
             households = arrival_totals.households + excluded.households,
             female = arrival_totals.female + excluded.female,
             male = arrival_totals.male + excluded.male,
             other = arrival_totals.other + excluded.other,
             unknown = arrival_totals.unknown + excluded.unknown",
    )
    .bind::<Timestamp, _>(before)
    .execute(pg)?;
    let counts = diesel::sql_query(
        "WITH picked AS (
            SELECT center_id, bucket, dimension, value, shard FROM arrival_counts
            WHERE shard <> 0 AND bucket < $1
            FOR UPDATE SKIP LOCKED),
         moved AS (
            DELETE FROM arrival_counts t USING picked p
            WHERE t.center_id = p.center_id AND t.bucket = p.bucket
              AND t.dimension = p.dimension AND t.value = p.value AND t.shard = p.shard
            RETURNING t.center_id, t.bucket, t.dimension, t.value, t.persons, t.households)
         INSERT INTO arrival_counts (center_id, bucket, dimension, value, shard, persons, households)
         SELECT center_id, bucket, dimension, value, 0, SUM(persons), SUM(households)
         FROM moved GROUP BY center_id, bucket, dimension, value
         ON CONFLICT (center_id, bucket, dimension, value, shard) DO UPDATE SET
             persons = arrival_counts.persons + excluded.persons,
             households = arrival_counts.households + excluded.households",
    )
    .bind::<Timestamp, _>(before)
    .execute(pg)?;
    Ok(totals + counts)
}

/// The aggregates as stored (rows that netted out to zero left out).
pub fn stored(conn: &mut DbConnection) -> Result<Aggregates, ApiError> {
    let counts = stored_counts(conn)?;
    type Row = (String, NaiveDateTime, i64, i64, i64, i64, i64, i64);
    let rows: Vec<Row> = arrival_totals::table
        .select((
            arrival_totals::center_id,
            arrival_totals::bucket,
            arrival_totals::persons,
            arrival_totals::households,
            arrival_totals::female,
            arrival_totals::male,
            arrival_totals::other,
            arrival_totals::unknown,
        ))
        .load(conn)?;
    let mut totals: BTreeMap<(Uuid, NaiveDateTime), Totals> = BTreeMap::new();
    for (center, bucket, persons, households, female, male, other, unknown) in rows {
        let t = totals.entry((stored::id(&center)?, bucket)).or_default();
        t.persons += persons;
        t.households += households;
        t.female += female;
        t.male += male;
        t.other += other;
        t.unknown += unknown;
    }
    totals.retain(|_, t| *t != Totals::default());
    Ok(Aggregates { counts, totals })
}

fn stored_counts(conn: &mut DbConnection) -> Result<BTreeMap<Key, Count>, ApiError> {
    let rows: Vec<(String, NaiveDateTime, String, String, i64, i64)> = arrival_counts::table
        .select((
            arrival_counts::center_id,
            arrival_counts::bucket,
            arrival_counts::dimension,
            arrival_counts::value,
            arrival_counts::persons,
            arrival_counts::households,
        ))
        .load(conn)?;
    let mut out: BTreeMap<Key, Count> = BTreeMap::new();
    for (center, bucket, dim, value, persons, households) in rows {
        let count = out
            .entry((stored::id(&center)?, bucket, dimension_name(&dim)?, value))
            .or_default();
        count.persons += persons;
        count.households += households;
    }
    out.retain(|_, c| *c != Count::default());
    Ok(out)
}

fn dimension_name(stored: &str) -> Result<&'static str, ApiError> {
    [
        dimension::SEX_AGE,
        dimension::ORIGIN,
        dimension::DESTINATION,
        dimension::SIZE,
        dimension::NEED,
    ]
    .into_iter()
    .find(|d| *d == stored)
    .ok_or_else(|| ApiError::internal(format!("unknown stored dimension {stored:?}")))
}

/// The aggregates computed from scratch from every household.
pub fn expected(conn: &mut DbConnection) -> Result<Aggregates, ApiError> {
    Ok(Aggregates::from_counts(expected_counts(conn)?))
}

fn expected_counts(conn: &mut DbConnection) -> Result<BTreeMap<Key, Count>, ApiError> {
    let mut out: BTreeMap<Key, Count> = BTreeMap::new();
    let mut after = None;
    loop {
        let page = registration::page_by_id(conn, after, 1000)?;
        let Some(last) = page.last() else { break };
        after = Some(last.id);
        for household in &page {
            for (key, count) in contributions(household) {
                let entry = out.entry(key).or_default();
                entry.persons += count.persons;
                entry.households += count.households;
            }
        }
    }
    Ok(out)
}

/// Replaces the aggregates with ones computed from the records (for repair
/// after a restore, or when a new dimension is added).
pub fn rebuild(conn: &mut DbConnection) -> Result<usize, ApiError> {
    let Aggregates {
        counts: expected,
        totals,
    } = expected(conn)?;
    diesel::delete(arrival_counts::table).execute(conn)?;
    diesel::delete(arrival_totals::table).execute(conn)?;
    let total_rows: Vec<_> = totals
        .iter()
        .map(|((center, bucket), t)| {
            (
                arrival_totals::center_id.eq(center.to_string()),
                arrival_totals::bucket.eq(*bucket),
                arrival_totals::shard.eq(0),
                arrival_totals::persons.eq(t.persons),
                arrival_totals::households.eq(t.households),
                arrival_totals::female.eq(t.female),
                arrival_totals::male.eq(t.male),
                arrival_totals::other.eq(t.other),
                arrival_totals::unknown.eq(t.unknown),
            )
        })
        .collect();
    for chunk in total_rows.chunks(500) {
        crate::per_backend!(conn, |c| diesel::insert_into(arrival_totals::table)
            .values(chunk)
            .execute(c))?;
    }
    let rows: Vec<_> = expected
        .iter()
        .map(|((center, bucket, dimension, value), count)| {
            (
                arrival_counts::center_id.eq(center.to_string()),
                arrival_counts::bucket.eq(*bucket),
                arrival_counts::dimension.eq(*dimension),
                arrival_counts::value.eq(value.clone()),
                arrival_counts::shard.eq(0),
                arrival_counts::persons.eq(count.persons),
                arrival_counts::households.eq(count.households),
            )
        })
        .collect();
    for chunk in rows.chunks(500) {
        crate::per_backend!(conn, |c| diesel::insert_into(arrival_counts::table)
            .values(chunk)
            .execute(c))?;
    }
    Ok(expected.len() + totals.len())
}

// ---------------------------------------------------------------------------
// Who sees what

/// How a statistics request is scoped and whether small counts are withheld.
pub(crate) struct Access {
    pub(crate) scope: CenterScope,
    pub(crate) suppress_below: Option<i64>,
}

pub(crate) fn access(
    caller: &Caller,
    center: Option<Uuid>,
    suppress: Option<bool>,
    k: i64,
) -> Result<Access, ApiError> {
    let scope = caller.aggregate_read_scope();
    scope.require_filter(center)?;
    let suppressed = match (suppress, caller.role) {
        (Some(false), Role::Analyst) => {
            return Err(ApiError::Forbidden(
                "the analyst role sees suppressed statistics only".into(),
            ))
        }
        (Some(wanted), _) => wanted,
        (None, _) => true,
    };
    let scope = match center {
        Some(center) => CenterScope::Only(vec![center]),
        None => scope,
    };
    Ok(Access {
        scope,
        suppress_below: suppressed.then_some(k),
    })
}

/// Centers by id: code, name and timezone.
#[derive(Debug, Clone)]
pub(crate) struct CenterInfo {
    pub(crate) code: String,
    pub(crate) name: String,
    pub(crate) timezone: Tz,
}

pub(crate) fn center_infos(conn: &mut DbConnection) -> Result<HashMap<Uuid, CenterInfo>, ApiError> {
    let rows: Vec<(String, String, String, String)> = centers::table
        .select((centers::id, centers::code, centers::name, centers::timezone))
        .load(conn)?;
    rows.into_iter()
        .map(|(id, code, name, timezone)| {
            let timezone = timezone.parse::<Tz>().unwrap_or(chrono_tz::Asia::Yerevan);
            Ok((
                stored::id(&id)?,
                CenterInfo {
                    code,
                    name,
                    timezone,
                },
            ))
        })
        .collect()
}

/// Publishes counts: the value, or null when withheld, and the names of
/// withheld fields in the object's `suppressed` list.
pub(crate) struct Publisher {
    table: Table,
    hidden: Vec<bool>,
}

impl Publisher {
    pub(crate) fn finish(table: Table, k: Option<i64>) -> Publisher {
        let hidden = match k {
            Some(k) => table.suppress(k),
            None => vec![false; table.len()],
        };
        Publisher { table, hidden }
    }

    pub(crate) fn put(&self, object: &mut Map<String, Value>, field: &str, cell: Cell) {
        if self.hidden[cell] {
            object.insert(field.into(), Value::Null);
            let list = object
                .entry("suppressed")
                .or_insert_with(|| Value::Array(vec![]));
            if let Value::Array(list) = list {
                list.push(Value::String(field.into()));
            }
        } else {
            object.insert(field.into(), json!(self.table.value(cell)));
        }
    }

    pub(crate) fn value(&self, cell: Cell) -> i64 {
        self.table.value(cell)
    }

    pub(crate) fn hidden(&self, cell: Cell) -> bool {
        self.hidden[cell]
    }
}

/// `SUM` of a BIGINT column is NUMERIC on PostgreSQL; the cast keeps one
/// result type for both backends.
fn sum_persons() -> diesel::expression::SqlLiteral<diesel::sql_types::BigInt> {
    diesel::dsl::sql("CAST(SUM(arrival_counts.persons) AS BIGINT)")
}

fn sum_households() -> diesel::expression::SqlLiteral<diesel::sql_types::BigInt> {
    diesel::dsl::sql("CAST(SUM(arrival_counts.households) AS BIGINT)")
}

/// `SUM` of an `arrival_totals` column (a fixed name, never user input).
fn total_sum(column: &'static str) -> diesel::expression::SqlLiteral<diesel::sql_types::BigInt> {
    diesel::dsl::sql(&format!("CAST(SUM(arrival_totals.{column}) AS BIGINT)"))
}

/// Starts every published object with an empty `suppressed` list.
pub(crate) fn object() -> Map<String, Value> {
    let mut map = Map::new();
    map.insert("suppressed".into(), Value::Array(vec![]));
    map
}

pub(crate) fn suppression_note(k: Option<i64>) -> Value {
    match k {
        Some(k) => json!({ "applied": true, "k": k }),
        None => json!({ "applied": false, "k": null }),
    }
}

// ---------------------------------------------------------------------------
// Summary

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
        for (key, count) in contributions(&household) {
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
            for (key, count) in contributions(&now) {
                add_contribution(&mut out, &key, count, -1);
            }
        }
        if then.arrived_at.naive_utc() <= as_of {
            for (key, count) in contributions(&then) {
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
            let value = p.table.value(cell) as f64 / origin_population as f64;
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

// ---------------------------------------------------------------------------
// Arrivals over time

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

/// Longest range per interval: a year of days, a month of hours.
pub(crate) const MAX_DAYS: i64 = 400;
const MAX_HOURS: i64 = 31 * 24;

/// A time range at hour precision: `[from, to)`, both on the hour.
#[derive(Debug, Clone, Copy)]
pub struct Range {
    pub from: NaiveDateTime,
    pub to: NaiveDateTime,
}

pub(crate) fn range(
    from: Option<Timestamp>,
    to: Option<Timestamp>,
    default_days: i64,
) -> Result<Range, ApiError> {
    let ceil_hour = |t: DateTime<Utc>| {
        let floor = time::hour_of(t.naive_utc());
        if floor == t.naive_utc() {
            floor
        } else {
            floor + TimeDelta::hours(1)
        }
    };
    let to = ceil_hour(to.map(|t| t.with_timezone(&Utc)).unwrap_or_else(Utc::now));
    let from = match from {
        Some(from) => time::hour_of(from.naive_utc()),
        None => to - TimeDelta::days(default_days),
    };
    if from >= to {
        return Err(ApiError::bad_parameter("from", "must be before `to`"));
    }
    Ok(Range { from, to })
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
pub(crate) type Hourly = Vec<(Uuid, NaiveDateTime, String, i64)>;
pub(crate) type Before = Vec<(Uuid, String, i64)>;

/// Registered persons per (center, hour, value of `dim`) in `range`, and per
/// (center, value) before it.
pub(crate) fn registered_series(
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

// ---------------------------------------------------------------------------
// Demographics and needs

/// `GET /api/v1/stats/demographics` and `/stats/needs` query.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BreakdownQuery {
    from: Option<Timestamp>,
    to: Option<Timestamp>,
    center_id: Option<Uuid>,
    suppress: Option<bool>,
}

/// Sums one dimension over `range` (all time when absent): (center, value) → count.
fn totals(
    conn: &mut DbConnection,
    dim: &'static str,
    range: Option<Range>,
    scope: &CenterScope,
) -> Result<Vec<(Uuid, String, i64, i64)>, ApiError> {
    let mut q = arrival_counts::table
        .filter(arrival_counts::dimension.eq(dim))
        .group_by((arrival_counts::center_id, arrival_counts::value))
        .select((
            arrival_counts::center_id,
            arrival_counts::value,
            sum_persons(),
            sum_households(),
        ))
        .into_boxed();
    if let Some(range) = range {
        q = q
            .filter(arrival_counts::bucket.ge(range.from))
            .filter(arrival_counts::bucket.lt(range.to));
    }
    if let CenterScope::Only(centers) = scope {
        let centers: Vec<String> = centers.iter().map(Uuid::to_string).collect();
        q = q.filter(arrival_counts::center_id.eq_any(centers));
    }
    let rows: Vec<(String, String, i64, i64)> = q.load(conn)?;
    rows.into_iter()
        .map(|(c, v, p, h)| Ok((stored::id(&c)?, v, p, h)))
        .collect()
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
            let pyramid = totals(conn, dimension::SEX_AGE, range, &access.scope)?;
            let sizes = totals(conn, dimension::SIZE, range, &access.scope)?;
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
            let rows = totals(conn, dimension::NEED, range, &access.scope)?;
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
