//! Storage of the assistance tallies the statistics read instead of the
//! records: quantities distributed per center, UTC hour and item
//! (`distributed_totals`), and the change in who is present at each site per
//! UTC hour and per UTC day (`occupancy_changes`, `occupancy_changes_daily`).
//!
//! Each write adds to them in its own transaction, so they commit with the
//! records they count; on PostgreSQL into a random shard, as the arrival
//! aggregates do ([`super::aggregates`]), folded later by [`compact`].
//! [`recount`] computes them from the records, for `refuge stats verify` and
//! `rebuild`.

use std::collections::BTreeMap;

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text, Timestamp};
use diesel::upsert::excluded;
use uuid::Uuid;

use super::shards::{fold_shards, shard};
use super::DbConnection;
use crate::error::ApiError;
use crate::http::stored;
use crate::http::time;
use crate::schema::{distributed_totals, occupancy_changes, occupancy_changes_daily};

/// Persons and households present: a change, or a sum of changes.
pub type Presence = (i64, i64);

/// The tallies, as stored or as recounted (rows that net out to zero left out).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tallies {
    /// (center, hour, item) → quantity distributed.
    pub distributed: BTreeMap<(Uuid, NaiveDateTime, Uuid), i64>,
    /// (site, hour) → change in persons and households present.
    pub occupancy: BTreeMap<(Uuid, NaiveDateTime), Presence>,
    /// (site, UTC midnight) → the same per day.
    pub occupancy_daily: BTreeMap<(Uuid, NaiveDateTime), Presence>,
}

impl Tallies {
    /// How many rows of the three tables differ between `self` and `other`.
    pub fn differing_rows(&self, other: &Tallies) -> usize {
        fn differing<K: Ord, V: PartialEq>(a: &BTreeMap<K, V>, b: &BTreeMap<K, V>) -> usize {
            a.keys()
                .chain(b.keys().filter(|k| !a.contains_key(*k)))
                .filter(|k| a.get(*k) != b.get(*k))
                .count()
        }
        differing(&self.distributed, &other.distributed)
            + differing(&self.occupancy, &other.occupancy)
            + differing(&self.occupancy_daily, &other.occupancy_daily)
    }

    pub fn rows(&self) -> usize {
        self.distributed.len() + self.occupancy.len() + self.occupancy_daily.len()
    }
}

/// A change to the tallies: what some distributions, check-ins and
/// check-outs add, not yet written. Carried, with the arrival aggregates'
/// change, by the write's unit ([`super::aggregates::Delta`]), so a group of
/// writes (or a replay's batch) writes each row it touches once.
#[derive(Debug, Default)]
pub struct TallyDelta {
    distributed: BTreeMap<(Uuid, NaiveDateTime, Uuid), i64>,
    occupancy: BTreeMap<(Uuid, NaiveDateTime), Presence>,
}

impl TallyDelta {
    /// A distribution of `quantity` of `item` at `center`, at `at`.
    pub fn distributed(center: Uuid, item: Uuid, at: NaiveDateTime, quantity: i64) -> TallyDelta {
        let mut delta = TallyDelta::default();
        delta
            .distributed
            .insert((center, time::hour_of(at), item), quantity);
        delta
    }

    /// A change in who is present at `site`, at `at`: a check-in (positive)
    /// or a check-out (negative).
    pub fn occupancy(site: Uuid, at: NaiveDateTime, presence: Presence) -> TallyDelta {
        let mut delta = TallyDelta::default();
        delta.occupancy.insert((site, time::hour_of(at)), presence);
        delta
    }

    pub fn merge(&mut self, other: TallyDelta) {
        for (key, quantity) in other.distributed {
            *self.distributed.entry(key).or_default() += quantity;
        }
        for (key, (persons, households)) in other.occupancy {
            let sum = self.occupancy.entry(key).or_default();
            sum.0 += persons;
            sum.1 += households;
        }
    }

    /// Adds the change to the tables, in the caller's transaction.
    pub fn write(self, conn: &mut DbConnection) -> Result<(), ApiError> {
        let shard = shard(conn);
        let distributed: Vec<_> = self
            .distributed
            .into_iter()
            .filter(|(_, quantity)| *quantity != 0)
            .map(|((center, bucket, item), quantity)| {
                (
                    distributed_totals::center_id.eq(center.to_string()),
                    distributed_totals::bucket.eq(bucket),
                    distributed_totals::item_id.eq(item.to_string()),
                    distributed_totals::shard.eq(shard),
                    distributed_totals::quantity.eq(quantity),
                )
            })
            .collect();
        for rows in distributed.chunks(super::rows_per_insert(5)) {
            crate::per_backend!(conn, |c| diesel::insert_into(distributed_totals::table)
                .values(rows)
                .on_conflict((
                    distributed_totals::center_id,
                    distributed_totals::bucket,
                    distributed_totals::item_id,
                    distributed_totals::shard,
                ))
                .do_update()
                .set(
                    distributed_totals::quantity
                        .eq(distributed_totals::quantity + excluded(distributed_totals::quantity)),
                )
                .execute(c))?;
        }
        let mut daily: BTreeMap<(Uuid, NaiveDateTime), Presence> = BTreeMap::new();
        for ((site, hour), (persons, households)) in &self.occupancy {
            let sum = daily.entry((*site, time::day_of(*hour))).or_default();
            sum.0 += persons;
            sum.1 += households;
        }
        let hourly: Vec<_> = self
            .occupancy
            .into_iter()
            .filter(|(_, presence)| *presence != (0, 0))
            .map(|((site, bucket), (persons, households))| {
                (
                    occupancy_changes::site_id.eq(site.to_string()),
                    occupancy_changes::bucket.eq(bucket),
                    occupancy_changes::shard.eq(shard),
                    occupancy_changes::persons.eq(persons),
                    occupancy_changes::households.eq(households),
                )
            })
            .collect();
        for rows in hourly.chunks(super::rows_per_insert(5)) {
            crate::per_backend!(conn, |c| diesel::insert_into(occupancy_changes::table)
                .values(rows)
                .on_conflict((
                    occupancy_changes::site_id,
                    occupancy_changes::bucket,
                    occupancy_changes::shard,
                ))
                .do_update()
                .set(
                    (
                        occupancy_changes::persons
                            .eq(occupancy_changes::persons + excluded(occupancy_changes::persons)),
                        occupancy_changes::households
                            .eq(occupancy_changes::households
                                + excluded(occupancy_changes::households)),
                    )
                )
                .execute(c))?;
        }
        let daily: Vec<_> = daily
            .into_iter()
            .filter(|(_, presence)| *presence != (0, 0))
            .map(|((site, day), (persons, households))| {
                (
                    occupancy_changes_daily::site_id.eq(site.to_string()),
                    occupancy_changes_daily::day.eq(day),
                    occupancy_changes_daily::shard.eq(shard),
                    occupancy_changes_daily::persons.eq(persons),
                    occupancy_changes_daily::households.eq(households),
                )
            })
            .collect();
        for rows in daily.chunks(super::rows_per_insert(5)) {
            crate::per_backend!(conn, |c| diesel::insert_into(
                occupancy_changes_daily::table
            )
            .values(rows)
            .on_conflict((
                occupancy_changes_daily::site_id,
                occupancy_changes_daily::day,
                occupancy_changes_daily::shard,
            ))
            .do_update()
            .set((
                occupancy_changes_daily::persons
                    .eq(occupancy_changes_daily::persons
                        + excluded(occupancy_changes_daily::persons)),
                occupancy_changes_daily::households.eq(occupancy_changes_daily::households
                    + excluded(occupancy_changes_daily::households)),
            ))
            .execute(c))?;
        }
        Ok(())
    }
}

/// Quantities of `items` distributed in `[from, to)` (whole hours), per
/// center and item, at the centers listed (all when `None`).
pub fn distributed(
    conn: &mut DbConnection,
    items: &[String],
    from: NaiveDateTime,
    to: NaiveDateTime,
    centers: Option<Vec<String>>,
) -> Result<Vec<(Uuid, Uuid, i64)>, ApiError> {
    let mut q = distributed_totals::table
        .filter(distributed_totals::bucket.ge(from))
        .filter(distributed_totals::bucket.lt(to))
        .filter(distributed_totals::item_id.eq_any(items))
        .group_by((distributed_totals::center_id, distributed_totals::item_id))
        .select((
            distributed_totals::center_id,
            distributed_totals::item_id,
            diesel::dsl::sql::<BigInt>("CAST(SUM(distributed_totals.quantity) AS BIGINT)"),
        ))
        .into_boxed();
    if let Some(centers) = centers {
        q = q.filter(distributed_totals::center_id.eq_any(centers));
    }
    let rows: Vec<(String, String, i64)> = q.load(conn)?;
    rows.into_iter()
        .map(|(center, item, quantity)| Ok((stored::id(&center)?, stored::id(&item)?, quantity)))
        .collect()
}

/// Per site, the changes in who is present before `hour` (a whole hour):
/// the days before its day, then the hours of its day before it. The
/// placements of the hour itself are the caller's to add.
pub fn occupancy_before(
    conn: &mut DbConnection,
    hour: NaiveDateTime,
    site: Option<Uuid>,
) -> Result<BTreeMap<Uuid, Presence>, ApiError> {
    let day = time::day_of(hour);
    let mut days = occupancy_changes_daily::table
        .filter(occupancy_changes_daily::day.lt(day))
        .group_by(occupancy_changes_daily::site_id)
        .select((
            occupancy_changes_daily::site_id,
            diesel::dsl::sql::<BigInt>("CAST(SUM(occupancy_changes_daily.persons) AS BIGINT)"),
            diesel::dsl::sql::<BigInt>("CAST(SUM(occupancy_changes_daily.households) AS BIGINT)"),
        ))
        .into_boxed();
    let mut hours = occupancy_changes::table
        .filter(occupancy_changes::bucket.ge(day))
        .filter(occupancy_changes::bucket.lt(hour))
        .group_by(occupancy_changes::site_id)
        .select((
            occupancy_changes::site_id,
            diesel::dsl::sql::<BigInt>("CAST(SUM(occupancy_changes.persons) AS BIGINT)"),
            diesel::dsl::sql::<BigInt>("CAST(SUM(occupancy_changes.households) AS BIGINT)"),
        ))
        .into_boxed();
    if let Some(site) = site {
        days = days.filter(occupancy_changes_daily::site_id.eq(site.to_string()));
        hours = hours.filter(occupancy_changes::site_id.eq(site.to_string()));
    }
    let mut rows: Vec<(String, i64, i64)> = days.load(conn)?;
    rows.extend(hours.load::<(String, i64, i64)>(conn)?);
    let mut out: BTreeMap<Uuid, Presence> = BTreeMap::new();
    for (site, persons, households) in rows {
        let present = out.entry(stored::id(&site)?).or_default();
        present.0 += persons;
        present.1 += households;
    }
    Ok(out)
}

/// Folds the PostgreSQL shard rows of hours (and days) ended before
/// `before` into shard 0, as [`super::aggregates::compact`] does for the
/// arrival aggregates (whose advisory lock the caller holds); returns how
/// many shard-0 rows it wrote.
pub(super) fn compact(
    pg: &mut diesel::PgConnection,
    before: NaiveDateTime,
) -> Result<usize, ApiError> {
    let presence = ["persons", "households"];
    Ok(fold_shards(
        pg,
        "distributed_totals",
        &["center_id", "bucket", "item_id"],
        &["quantity"],
        before,
    )? + fold_shards(
        pg,
        "occupancy_changes",
        &["site_id", "bucket"],
        &presence,
        before,
    )? + fold_shards(
        pg,
        "occupancy_changes_daily",
        &["site_id", "day"],
        &presence,
        before - chrono::TimeDelta::days(1),
    )?)
}

/// The tallies as stored, summed over their shards.
pub fn stored(conn: &mut DbConnection) -> Result<Tallies, ApiError> {
    let distributed: Vec<(String, NaiveDateTime, String, i64)> = distributed_totals::table
        .select((
            distributed_totals::center_id,
            distributed_totals::bucket,
            distributed_totals::item_id,
            distributed_totals::quantity,
        ))
        .load(conn)?;
    let occupancy: Vec<(String, NaiveDateTime, i64, i64)> = occupancy_changes::table
        .select((
            occupancy_changes::site_id,
            occupancy_changes::bucket,
            occupancy_changes::persons,
            occupancy_changes::households,
        ))
        .load(conn)?;
    let daily: Vec<(String, NaiveDateTime, i64, i64)> = occupancy_changes_daily::table
        .select((
            occupancy_changes_daily::site_id,
            occupancy_changes_daily::day,
            occupancy_changes_daily::persons,
            occupancy_changes_daily::households,
        ))
        .load(conn)?;
    tallies(distributed, occupancy, daily)
}

#[derive(QueryableByName)]
struct DistributedRow {
    #[diesel(sql_type = Text)]
    center_id: String,
    #[diesel(sql_type = Timestamp)]
    bucket: NaiveDateTime,
    #[diesel(sql_type = Text)]
    item_id: String,
    #[diesel(sql_type = BigInt)]
    quantity: i64,
}

#[derive(QueryableByName)]
struct PresenceRow {
    #[diesel(sql_type = Text)]
    site_id: String,
    #[diesel(sql_type = Timestamp)]
    bucket: NaiveDateTime,
    #[diesel(sql_type = BigInt)]
    persons: i64,
    #[diesel(sql_type = BigInt)]
    households: i64,
}

/// The tallies computed from the distributions and placements themselves.
pub fn recount(conn: &mut DbConnection) -> Result<Tallies, ApiError> {
    let hour = |column: &str| match conn {
        DbConnection::Sqlite(_) => format!("strftime('%Y-%m-%d %H:00:00', {column})"),
        DbConnection::Postgres(_) => format!("date_trunc('hour', {column})"),
    };
    let (given, checked_in, checked_out) = (
        hour("distributed_at"),
        hour("checked_in_at"),
        hour("checked_out_at"),
    );
    let distributed: Vec<DistributedRow> = diesel::sql_query(format!(
        "SELECT center_id, {given} AS bucket, item_id, CAST(SUM(quantity) AS BIGINT) AS quantity
         FROM distributions GROUP BY center_id, {given}, item_id"
    ))
    .load(conn)?;
    let presence: Vec<PresenceRow> = diesel::sql_query(format!(
        "SELECT site_id, bucket, CAST(SUM(persons) AS BIGINT) AS persons,
                CAST(SUM(households) AS BIGINT) AS households
         FROM (SELECT site_id, {checked_in} AS bucket, persons, 1 AS households FROM placements
               UNION ALL
               SELECT site_id, {checked_out}, -persons, -1 FROM placements
               WHERE checked_out_at IS NOT NULL) AS change
         GROUP BY site_id, bucket"
    ))
    .load(conn)?;
    let mut daily: BTreeMap<(String, NaiveDateTime), Presence> = BTreeMap::new();
    for row in &presence {
        let sum = daily
            .entry((row.site_id.clone(), time::day_of(row.bucket)))
            .or_default();
        sum.0 += row.persons;
        sum.1 += row.households;
    }
    tallies(
        distributed
            .into_iter()
            .map(|r| (r.center_id, r.bucket, r.item_id, r.quantity))
            .collect(),
        presence
            .into_iter()
            .map(|r| (r.site_id, r.bucket, r.persons, r.households))
            .collect(),
        daily
            .into_iter()
            .map(|((site, day), (persons, households))| (site, day, persons, households))
            .collect(),
    )
}

type PresenceRows = Vec<(String, NaiveDateTime, i64, i64)>;

fn tallies(
    distributed: Vec<(String, NaiveDateTime, String, i64)>,
    occupancy: PresenceRows,
    daily: PresenceRows,
) -> Result<Tallies, ApiError> {
    let mut out = Tallies::default();
    for (center, bucket, item, quantity) in distributed {
        *out.distributed
            .entry((stored::id(&center)?, bucket, stored::id(&item)?))
            .or_default() += quantity;
    }
    out.distributed.retain(|_, q| *q != 0);
    for (rows, into) in [
        (occupancy, &mut out.occupancy),
        (daily, &mut out.occupancy_daily),
    ] {
        for (site, time, persons, households) in rows {
            let sum = into.entry((stored::id(&site)?, time)).or_default();
            sum.0 += persons;
            sum.1 += households;
        }
        into.retain(|_, p| *p != (0, 0));
    }
    Ok(out)
}

/// Replaces the stored tallies with `tallies` (all in shard 0), in the
/// caller's transaction; returns how many rows it wrote.
pub fn replace(conn: &mut DbConnection, tallies: &Tallies) -> Result<usize, ApiError> {
    diesel::delete(distributed_totals::table).execute(conn)?;
    diesel::delete(occupancy_changes::table).execute(conn)?;
    diesel::delete(occupancy_changes_daily::table).execute(conn)?;
    let distributed: Vec<_> = tallies
        .distributed
        .iter()
        .map(|((center, bucket, item), quantity)| {
            (
                distributed_totals::center_id.eq(center.to_string()),
                distributed_totals::bucket.eq(*bucket),
                distributed_totals::item_id.eq(item.to_string()),
                distributed_totals::shard.eq(0),
                distributed_totals::quantity.eq(*quantity),
            )
        })
        .collect();
    for chunk in distributed.chunks(500) {
        crate::per_backend!(conn, |c| diesel::insert_into(distributed_totals::table)
            .values(chunk)
            .execute(c))?;
    }
    let hourly: Vec<_> = tallies
        .occupancy
        .iter()
        .map(|((site, bucket), (persons, households))| {
            (
                occupancy_changes::site_id.eq(site.to_string()),
                occupancy_changes::bucket.eq(*bucket),
                occupancy_changes::shard.eq(0),
                occupancy_changes::persons.eq(*persons),
                occupancy_changes::households.eq(*households),
            )
        })
        .collect();
    for chunk in hourly.chunks(500) {
        crate::per_backend!(conn, |c| diesel::insert_into(occupancy_changes::table)
            .values(chunk)
            .execute(c))?;
    }
    let daily: Vec<_> = tallies
        .occupancy_daily
        .iter()
        .map(|((site, day), (persons, households))| {
            (
                occupancy_changes_daily::site_id.eq(site.to_string()),
                occupancy_changes_daily::day.eq(*day),
                occupancy_changes_daily::shard.eq(0),
                occupancy_changes_daily::persons.eq(*persons),
                occupancy_changes_daily::households.eq(*households),
            )
        })
        .collect();
    for chunk in daily.chunks(500) {
        crate::per_backend!(conn, |c| diesel::insert_into(
            occupancy_changes_daily::table
        )
        .values(chunk)
        .execute(c))?;
    }
    Ok(tallies.rows())
}
