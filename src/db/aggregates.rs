//! Storage of the arrival statistics: the `arrival_counts` (breakdowns per
//! hour), `arrival_counts_daily` (the same per UTC day) and `arrival_totals`
//! (per center and hour) tables, and the [`Delta`] a write adds to them.
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

use super::shards::{fold_shards, shard};
use super::tallies::{Tallies, TallyDelta};
use super::DbConnection;
use crate::error::ApiError;
use crate::http::{stored, time};
use crate::schema::{arrival_counts, arrival_counts_daily, arrival_totals};

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
    /// A kind of assistance (`housing`, `food`, `fuel`, `transport`) first
    /// reaching a household: persons and households.
    pub const REACHED: &str = "reached";
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

/// The aggregate tables: the breakdowns per hour and per day, the per
/// center-hour totals, and the assistance tallies.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Aggregates {
    pub counts: BTreeMap<Key, Count>,
    /// The breakdowns summed per UTC day (the key's time is midnight).
    pub daily: BTreeMap<Key, Count>,
    pub totals: BTreeMap<(Uuid, NaiveDateTime), Totals>,
    pub tallies: Tallies,
}

impl Aggregates {
    /// How many rows of either table differ between `self` and `other`.
    pub fn differing_rows(&self, other: &Aggregates) -> usize {
        fn differing<K: Ord, V: PartialEq>(a: &BTreeMap<K, V>, b: &BTreeMap<K, V>) -> usize {
            let keys: BTreeSet<&K> = a.keys().chain(b.keys()).collect();
            keys.into_iter().filter(|k| a.get(*k) != b.get(*k)).count()
        }
        differing(&self.counts, &other.counts)
            + differing(&self.daily, &other.daily)
            + differing(&self.totals, &other.totals)
            + self.tallies.differing_rows(&other.tallies)
    }

    /// How many rows the aggregate tables hold.
    pub fn rows(&self) -> usize {
        self.counts.len() + self.daily.len() + self.totals.len() + self.tallies.rows()
    }

    /// Aggregates whose daily breakdowns and totals are derived from `counts`.
    pub fn from_counts(counts: BTreeMap<Key, Count>) -> Aggregates {
        let totals = totals_of(&counts);
        let daily = daily_of(&counts);
        Aggregates {
            counts,
            daily,
            totals,
            tallies: Tallies::default(),
        }
    }
}

/// Hourly breakdown rows summed per UTC day.
fn daily_of(counts: &BTreeMap<Key, Count>) -> BTreeMap<Key, Count> {
    let mut out: BTreeMap<Key, Count> = BTreeMap::new();
    for ((center, bucket, dim, value), count) in counts {
        let entry = out
            .entry((*center, time::day_of(*bucket), *dim, value.clone()))
            .or_default();
        entry.persons += count.persons;
        entry.households += count.households;
    }
    out.retain(|_, c| *c != Count::default());
    out
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

/// A change to the aggregates: what some registrations and corrections add
/// (and take away), not yet written.
#[derive(Debug, Default)]
pub struct Delta {
    counts: BTreeMap<Key, Count>,
    /// The assistance tallies' change, written with the aggregates.
    tallies: TallyDelta,
}

impl From<TallyDelta> for Delta {
    fn from(tallies: TallyDelta) -> Delta {
        Delta {
            tallies,
            ..Delta::default()
        }
    }
}

impl Delta {
    /// Adds `sign` times `count` under `key`.
    pub fn add(&mut self, key: Key, count: Count, sign: i64) {
        let entry = self.counts.entry(key).or_default();
        entry.persons += sign * count.persons;
        entry.households += sign * count.households;
    }

    /// Adds another delta to this one.
    pub fn merge(&mut self, other: Delta) {
        for (key, count) in other.counts {
            self.add(key, count, 1);
        }
        self.tallies.merge(other.tallies);
    }

    /// Upserts the delta into the aggregate and tally tables, in the
    /// caller's transaction.
    pub fn write(self, conn: &mut DbConnection) -> Result<(), ApiError> {
        self.tallies.write(conn)?;
        let mut delta = self.counts;
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
    let daily: Vec<_> = daily_of(&delta)
        .into_iter()
        .map(|((center, day, dimension, value), count)| {
            (
                arrival_counts_daily::center_id.eq(center.to_string()),
                arrival_counts_daily::day.eq(day),
                arrival_counts_daily::dimension.eq(dimension),
                arrival_counts_daily::value.eq(value),
                arrival_counts_daily::shard.eq(shard),
                arrival_counts_daily::persons.eq(count.persons),
                arrival_counts_daily::households.eq(count.households),
            )
        })
        .collect();
    for rows in daily.chunks(super::rows_per_insert(7)) {
        crate::per_backend!(conn, |c| diesel::insert_into(arrival_counts_daily::table)
            .values(rows)
            .on_conflict((
                arrival_counts_daily::center_id,
                arrival_counts_daily::day,
                arrival_counts_daily::dimension,
                arrival_counts_daily::value,
                arrival_counts_daily::shard,
            ))
            .do_update()
            .set((
                arrival_counts_daily::persons
                    .eq(arrival_counts_daily::persons + excluded(arrival_counts_daily::persons)),
                arrival_counts_daily::households
                    .eq(arrival_counts_daily::households
                        + excluded(arrival_counts_daily::households)),
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
    use diesel::sql_types::Bool;
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
    let totals = fold_shards(
        pg,
        "arrival_totals",
        &["center_id", "bucket"],
        &[
            "persons",
            "households",
            "female",
            "male",
            "other",
            "unknown",
        ],
        before,
    )?;
    let counts = fold_shards(pg, "arrival_counts", BREAKDOWN_KEY, &SUMS, before)?;
    // A day is folded once it has ended before `before`.
    let yesterday = before - chrono::TimeDelta::days(1);
    let daily = fold_shards(pg, "arrival_counts_daily", DAILY_KEY, &SUMS, yesterday)?;
    let tallies = super::tallies::compact(pg, before)?;
    Ok(totals + counts + daily + tallies)
}

const BREAKDOWN_KEY: &[&str] = &["center_id", "bucket", "dimension", "value"];
const DAILY_KEY: &[&str] = &["center_id", "day", "dimension", "value"];
const SUMS: [&str; 2] = ["persons", "households"];

/// The aggregates as stored (rows that netted out to zero left out).
pub fn stored(conn: &mut DbConnection) -> Result<Aggregates, ApiError> {
    let counts = summed(
        arrival_counts::table
            .select((
                arrival_counts::center_id,
                arrival_counts::bucket,
                arrival_counts::dimension,
                arrival_counts::value,
                arrival_counts::persons,
                arrival_counts::households,
            ))
            .load(conn)?,
    )?;
    let daily = summed(
        arrival_counts_daily::table
            .select((
                arrival_counts_daily::center_id,
                arrival_counts_daily::day,
                arrival_counts_daily::dimension,
                arrival_counts_daily::value,
                arrival_counts_daily::persons,
                arrival_counts_daily::households,
            ))
            .load(conn)?,
    )?;
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
    Ok(Aggregates {
        counts,
        daily,
        totals,
        tallies: super::tallies::stored(conn)?,
    })
}

/// Stored breakdown rows summed over their shards.
fn summed(
    rows: Vec<(String, NaiveDateTime, String, String, i64, i64)>,
) -> Result<BTreeMap<Key, Count>, ApiError> {
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
        dimension::REACHED,
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
        daily,
        totals,
        tallies,
    } = aggregates;
    diesel::delete(arrival_counts::table).execute(conn)?;
    diesel::delete(arrival_counts_daily::table).execute(conn)?;
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
    let daily_rows: Vec<_> = daily
        .iter()
        .map(|((center, day, dimension, value), count)| {
            (
                arrival_counts_daily::center_id.eq(center.to_string()),
                arrival_counts_daily::day.eq(*day),
                arrival_counts_daily::dimension.eq(*dimension),
                arrival_counts_daily::value.eq(value.clone()),
                arrival_counts_daily::shard.eq(0),
                arrival_counts_daily::persons.eq(count.persons),
                arrival_counts_daily::households.eq(count.households),
            )
        })
        .collect();
    for chunk in daily_rows.chunks(500) {
        crate::per_backend!(conn, |c| diesel::insert_into(arrival_counts_daily::table)
            .values(chunk)
            .execute(c))?;
    }
    let tallied = super::tallies::replace(conn, &tallies)?;
    Ok(expected.len() + daily.len() + totals.len() + tallied)
}
