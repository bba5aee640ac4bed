//! Storage of the arrival statistics: the `arrival_counts` (breakdowns) and
//! `arrival_totals` (per center and hour) tables, and the [`Delta`] a write
//! adds to them.
//!
//! What a registration contributes is the domain's business (`stats`); this
//! module only sums changes, upserts them and reads them back. A [`Delta`] is
//! carried by the write's [`Unit`](super::Unit) and committed with its rows:
//! the group-commit writer sums the deltas of a group's jobs and upserts the
//! sum once.

use std::collections::{BTreeMap, BTreeSet};

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::upsert::excluded;
use uuid::Uuid;

use super::DbConnection;
use crate::error::ApiError;
use crate::http::stored;
use crate::schema::{arrival_counts, arrival_totals};

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
    pub fn from_counts(counts: BTreeMap<Key, Count>) -> Aggregates {
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

/// A change to the aggregates: what some registrations and corrections add
/// (and take away), not yet written.
#[derive(Debug, Default)]
pub struct Delta(BTreeMap<Key, Count>);

impl Delta {
    /// Adds `sign` times `count` under `key`.
    pub fn add(&mut self, key: Key, count: Count, sign: i64) {
        let entry = self.0.entry(key).or_default();
        entry.persons += sign * count.persons;
        entry.households += sign * count.households;
    }

    /// Adds another delta to this one.
    pub fn merge(&mut self, other: Delta) {
        for (key, count) in other.0 {
            self.add(key, count, 1);
        }
    }

    /// Upserts the delta into both aggregate tables, in the caller's transaction.
    pub fn write(mut self, conn: &mut DbConnection) -> Result<(), ApiError> {
        let mut delta = std::mem::take(&mut self.0);
        delta.retain(|_, c| *c != Count::default());
        if delta.is_empty() {
            return Ok(());
        }
        upsert(conn, delta)
    }
}

fn upsert(conn: &mut DbConnection, delta: BTreeMap<Key, Count>) -> Result<(), ApiError> {
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
    // A large unit (a bulk load, a replay's day) can touch more rows than one
    // statement may carry parameters for.
    for totals in totals.chunks(super::rows_per_insert(9)) {
        crate::per_backend!(conn, |c| diesel::insert_into(arrival_totals::table)
            .values(totals)
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
    for rows in rows.chunks(super::rows_per_insert(7)) {
        crate::per_backend!(conn, |c| diesel::insert_into(arrival_counts::table)
            .values(rows)
            .on_conflict((
                arrival_counts::center_id,
                arrival_counts::bucket,
                arrival_counts::dimension,
                arrival_counts::value,
                arrival_counts::shard,
            ))
            .do_update()
            .set((
                arrival_counts::persons
                    .eq(arrival_counts::persons + excluded(arrival_counts::persons)),
                arrival_counts::households
                    .eq(arrival_counts::households + excluded(arrival_counts::households)),
            ))
            .execute(c))?;
    }
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

/// Replaces the stored aggregates with `aggregates` (all in shard 0), in the
/// caller's transaction; returns how many rows it wrote.
pub fn replace(conn: &mut DbConnection, aggregates: Aggregates) -> Result<usize, ApiError> {
    let Aggregates {
        counts: expected,
        totals,
    } = aggregates;
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
