//! Storage of the assistance tallies the statistics read instead of the
//! records: quantities distributed per center, UTC hour and item
//! (`distributed_totals`) and per UTC day (`distributed_totals_daily`), and
//! who is present at each site at the end of every UTC hour in which that
//! changed (`occupancy_at_hour_end`).
//!
//! Each write adds to them in its own transaction, so they commit with the
//! records they count. The quantities take the change into a random shard
//! on PostgreSQL, as the arrival aggregates do ([`super::aggregates`]),
//! folded later by [`compact`]. The hour ends are running totals, one row
//! per site and hour: a change rewrites its hour's row and every later one,
//! under the site's row lock, which every writer of a check-in or check-out
//! holds already (it takes or releases the site's beds in the same
//! transaction).
//! [`recount`] computes them from the records, for `refuge stats verify` and
//! `rebuild`.

use std::collections::BTreeMap;

use chrono::{NaiveDateTime, TimeDelta};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text, Timestamp};
use diesel::upsert::excluded;
use uuid::Uuid;

use super::shards::{fold_shards, shard};
use super::DbConnection;
use crate::error::ApiError;
use crate::http::stored;
use crate::http::time;
use crate::schema::{distributed_totals, distributed_totals_daily, occupancy_at_hour_end};

/// Persons and households present: a change, or a sum of changes.
pub type Presence = (i64, i64);

/// The tallies, as stored or as recounted (rows that net out to zero left out).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tallies {
    /// (center, hour, item) → quantity distributed.
    pub distributed: BTreeMap<(Uuid, NaiveDateTime, Uuid), i64>,
    /// (center, UTC midnight, item) → the same per day.
    pub distributed_daily: BTreeMap<(Uuid, NaiveDateTime, Uuid), i64>,
    /// (site, hour) → persons and households present at the end of that
    /// hour, in the hours where that differs from the hour before (see
    /// [`changed_hour_ends`]).
    pub occupancy_at_hour_end: BTreeMap<(Uuid, NaiveDateTime), Presence>,
}

impl Tallies {
    /// How many rows of the tables differ between `self` and `other`.
    pub fn differing_rows(&self, other: &Tallies) -> usize {
        fn differing<K: Ord, V: PartialEq>(a: &BTreeMap<K, V>, b: &BTreeMap<K, V>) -> usize {
            a.keys()
                .chain(b.keys().filter(|k| !a.contains_key(*k)))
                .filter(|k| a.get(*k) != b.get(*k))
                .count()
        }
        differing(&self.distributed, &other.distributed)
            + differing(&self.distributed_daily, &other.distributed_daily)
            + differing(&self.occupancy_at_hour_end, &other.occupancy_at_hour_end)
    }

    pub fn rows(&self) -> usize {
        self.distributed.len() + self.distributed_daily.len() + self.occupancy_at_hour_end.len()
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
        let distributed_daily: Vec<_> = daily_of(&self.distributed)
            .into_iter()
            .filter(|(_, quantity)| *quantity != 0)
            .map(|((center, day, item), quantity)| {
                (
                    distributed_totals_daily::center_id.eq(center.to_string()),
                    distributed_totals_daily::day.eq(day),
                    distributed_totals_daily::item_id.eq(item.to_string()),
                    distributed_totals_daily::shard.eq(shard),
                    distributed_totals_daily::quantity.eq(quantity),
                )
            })
            .collect();
        for rows in distributed_daily.chunks(super::rows_per_insert(5)) {
            crate::per_backend!(conn, |c| diesel::insert_into(
                distributed_totals_daily::table
            )
            .values(rows)
            .on_conflict((
                distributed_totals_daily::center_id,
                distributed_totals_daily::day,
                distributed_totals_daily::item_id,
                distributed_totals_daily::shard,
            ))
            .do_update()
            .set(
                distributed_totals_daily::quantity.eq(distributed_totals_daily::quantity
                    + excluded(distributed_totals_daily::quantity)),
            )
            .execute(c))?;
        }
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
        for ((site, hour), change) in self.occupancy {
            if change != (0, 0) {
                add_to_hour_ends(conn, site, hour, change)?;
            }
        }
        Ok(())
    }
}

/// Adds `change`, which happened in `hour`, to who is present at `site` at
/// the end of that hour and of every later hour: the hour's row, created
/// from the last one before it if the site saw no change in that hour yet,
/// then the rows after it (none, unless the change was recorded after the
/// fact).
///
/// Sound only while the caller holds `site`'s row lock, as a check-in or
/// check-out does: two writers creating rows for different hours of one site
/// would each miss the other's change. A row that exists already when this
/// creates it means that did not hold, and fails the transaction.
fn add_to_hour_ends(
    conn: &mut DbConnection,
    site: Uuid,
    hour: NaiveDateTime,
    (persons, households): Presence,
) -> Result<(), ApiError> {
    let site = site.to_string();
    let last: Option<(NaiveDateTime, i64, i64)> = occupancy_at_hour_end::table
        .filter(occupancy_at_hour_end::site_id.eq(&site))
        .filter(occupancy_at_hour_end::hour.le(hour))
        .order(occupancy_at_hour_end::hour.desc())
        .select((
            occupancy_at_hour_end::hour,
            occupancy_at_hour_end::persons,
            occupancy_at_hour_end::households,
        ))
        .first(conn)
        .optional()?;
    // The rows to add the change to: from the hour's own if it was there,
    // else from the next hour (its own row is created with the change).
    let from = match last {
        Some((last, _, _)) if last == hour => hour,
        _ => {
            let (before_persons, before_households) = last.map_or((0, 0), |(_, p, h)| (p, h));
            diesel::insert_into(occupancy_at_hour_end::table)
                .values((
                    occupancy_at_hour_end::site_id.eq(&site),
                    occupancy_at_hour_end::hour.eq(hour),
                    occupancy_at_hour_end::persons.eq(before_persons + persons),
                    occupancy_at_hour_end::households.eq(before_households + households),
                ))
                .execute(conn)?;
            hour + TimeDelta::hours(1)
        }
    };
    diesel::update(
        occupancy_at_hour_end::table
            .filter(occupancy_at_hour_end::site_id.eq(&site))
            .filter(occupancy_at_hour_end::hour.ge(from)),
    )
    .set((
        occupancy_at_hour_end::persons.eq(occupancy_at_hour_end::persons + persons),
        occupancy_at_hour_end::households.eq(occupancy_at_hour_end::households + households),
    ))
    .execute(conn)?;
    Ok(())
}

/// Quantities per center, UTC day and item, from quantities per hour.
fn daily_of(
    hourly: &BTreeMap<(Uuid, NaiveDateTime, Uuid), i64>,
) -> BTreeMap<(Uuid, NaiveDateTime, Uuid), i64> {
    let mut daily = BTreeMap::new();
    for ((center, hour, item), quantity) in hourly {
        *daily
            .entry((*center, time::day_of(*hour), *item))
            .or_default() += quantity;
    }
    daily
}

/// Quantities of `items` distributed in `[from, to)` (whole hours), per
/// center and item, at the centers listed (all when `None`): the whole UTC
/// days from the daily sums, the hours at either edge from the hourly ones
/// ([`time::whole_days`]).
pub fn distributed(
    conn: &mut DbConnection,
    items: &[String],
    from: NaiveDateTime,
    to: NaiveDateTime,
    centers: Option<Vec<String>>,
) -> Result<Vec<(Uuid, Uuid, i64)>, ApiError> {
    let centers = centers.as_deref();
    let split = time::whole_days(from, to);
    let mut rows = Vec::new();
    for (from, to) in split.hours {
        rows.extend(distributed_in_hours(conn, items, from, to, centers)?);
    }
    if let Some((first, last)) = split.days {
        rows.extend(distributed_on_days(conn, items, first, last, centers)?);
    }
    let mut sums: BTreeMap<(String, String), i64> = BTreeMap::new();
    for (center, item, quantity) in rows {
        *sums.entry((center, item)).or_default() += quantity;
    }
    sums.into_iter()
        .map(|((center, item), quantity)| Ok((stored::id(&center)?, stored::id(&item)?, quantity)))
        .collect()
}

/// Hourly quantities of `items` in `[from, to)`, summed per center and item.
fn distributed_in_hours(
    conn: &mut DbConnection,
    items: &[String],
    from: NaiveDateTime,
    to: NaiveDateTime,
    centers: Option<&[String]>,
) -> Result<Vec<(String, String, i64)>, ApiError> {
    if from >= to {
        return Ok(Vec::new());
    }
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
    Ok(q.load(conn)?)
}

/// Daily quantities of `items` on the UTC days in `[from, to)`, summed per
/// center and item.
fn distributed_on_days(
    conn: &mut DbConnection,
    items: &[String],
    from: NaiveDateTime,
    to: NaiveDateTime,
    centers: Option<&[String]>,
) -> Result<Vec<(String, String, i64)>, ApiError> {
    let mut q = distributed_totals_daily::table
        .filter(distributed_totals_daily::day.ge(from))
        .filter(distributed_totals_daily::day.lt(to))
        .filter(distributed_totals_daily::item_id.eq_any(items))
        .group_by((
            distributed_totals_daily::center_id,
            distributed_totals_daily::item_id,
        ))
        .select((
            distributed_totals_daily::center_id,
            distributed_totals_daily::item_id,
            diesel::dsl::sql::<BigInt>("CAST(SUM(distributed_totals_daily.quantity) AS BIGINT)"),
        ))
        .into_boxed();
    if let Some(centers) = centers {
        q = q.filter(distributed_totals_daily::center_id.eq_any(centers));
    }
    Ok(q.load(conn)?)
}

/// The sites an occupancy read covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SiteSet {
    All,
    One(Uuid),
    /// The sites with a known floor area (living space).
    WithFloorArea,
}

/// Per site of `sites`, who is present at `hour` (a whole hour): as at the
/// end of the last hour before it that changed anything there, nobody if
/// none did. The placements of the hour itself are the caller's to add.
///
/// One row per site of the set, whatever the number of hours behind it.
pub fn occupancy_before(
    conn: &mut DbConnection,
    hour: NaiveDateTime,
    sites: SiteSet,
) -> Result<BTreeMap<Uuid, Presence>, ApiError> {
    // Each site's last row before `hour`, found through the primary key
    // (site, hour), one probe per site. PostgreSQL hash-joined every row
    // with the correlated form SQLite gets (which it runs per site as
    // written); SQLite has no LATERAL.
    let (all_sites, one_site) = match conn {
        DbConnection::Postgres(_) => (
            "SELECT s.id AS site_id, COALESCE(e.persons, 0) AS persons,
                    COALESCE(e.households, 0) AS households
             FROM sites s
             LEFT JOIN LATERAL (SELECT persons, households FROM occupancy_at_hour_end e
                                WHERE e.site_id = s.id AND e.hour < $1
                                ORDER BY e.hour DESC LIMIT 1) e ON true",
            " WHERE s.id = $2",
        ),
        DbConnection::Sqlite(_) => (
            "SELECT s.id AS site_id, COALESCE(e.persons, 0) AS persons,
                    COALESCE(e.households, 0) AS households
             FROM sites s
             LEFT JOIN occupancy_at_hour_end e ON e.site_id = s.id
              AND e.hour = (SELECT MAX(l.hour) FROM occupancy_at_hour_end l
                            WHERE l.site_id = s.id AND l.hour < ?)",
            " WHERE s.id = ?",
        ),
    };
    let sql = match sites {
        SiteSet::All => all_sites.to_string(),
        SiteSet::One(_) => format!("{all_sites}{one_site}"),
        SiteSet::WithFloorArea => format!("{all_sites} WHERE s.floor_area_m2 IS NOT NULL"),
    };
    let query = diesel::sql_query(sql).bind::<Timestamp, _>(hour);
    let hour_ends: Vec<HourEndRow> = match sites {
        SiteSet::One(site) => query.bind::<Text, _>(site.to_string()).load(conn)?,
        SiteSet::All | SiteSet::WithFloorArea => query.load(conn)?,
    };
    hour_ends
        .into_iter()
        .map(|row| Ok((stored::id(&row.site_id)?, (row.persons, row.households))))
        .collect()
}

#[derive(QueryableByName)]
struct HourEndRow {
    #[diesel(sql_type = Text)]
    site_id: String,
    #[diesel(sql_type = BigInt)]
    persons: i64,
    #[diesel(sql_type = BigInt)]
    households: i64,
}

/// Folds the PostgreSQL shard rows of hours ended before `before` into
/// shard 0, as [`super::aggregates::compact`] does for the
/// arrival aggregates (whose advisory lock the caller holds); returns how
/// many shard-0 rows it wrote.
pub(super) fn compact(
    pg: &mut diesel::PgConnection,
    before: NaiveDateTime,
) -> Result<usize, ApiError> {
    Ok(fold_shards(
        pg,
        "distributed_totals",
        &["center_id", "bucket", "item_id"],
        &["quantity"],
        before,
    )? + fold_shards(
        pg,
        "distributed_totals_daily",
        &["center_id", "day", "item_id"],
        &["quantity"],
        before - TimeDelta::days(1),
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
    let distributed_daily: Vec<(String, NaiveDateTime, String, i64)> =
        distributed_totals_daily::table
            .select((
                distributed_totals_daily::center_id,
                distributed_totals_daily::day,
                distributed_totals_daily::item_id,
                distributed_totals_daily::quantity,
            ))
            .load(conn)?;
    let hour_ends: Vec<(String, NaiveDateTime, i64, i64)> = occupancy_at_hour_end::table
        .select((
            occupancy_at_hour_end::site_id,
            occupancy_at_hour_end::hour,
            occupancy_at_hour_end::persons,
            occupancy_at_hour_end::households,
        ))
        .load(conn)?;
    tallies(distributed, Some(distributed_daily), hour_ends)
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
    // Who is present at the end of each hour: the changes up to it, summed
    // in order of site and hour.
    let mut hourly: BTreeMap<(String, NaiveDateTime), Presence> = presence
        .into_iter()
        .map(|row| ((row.site_id, row.bucket), (row.persons, row.households)))
        .collect();
    let mut present: Option<(String, Presence)> = None;
    for ((site, _), change) in hourly.iter_mut() {
        let before = match &present {
            Some((last, before)) if last == site => *before,
            _ => (0, 0),
        };
        *change = (before.0 + change.0, before.1 + change.1);
        present = Some((site.clone(), *change));
    }
    tallies(
        distributed
            .into_iter()
            .map(|r| (r.center_id, r.bucket, r.item_id, r.quantity))
            .collect(),
        None,
        hourly
            .into_iter()
            .map(|((site, hour), (persons, households))| (site, hour, persons, households))
            .collect(),
    )
}

type PresenceRows = Vec<(String, NaiveDateTime, i64, i64)>;

type QuantityRows = Vec<(String, NaiveDateTime, String, i64)>;

/// The tallies from rows as stored (summed over their shards) or recounted;
/// a recount has no daily quantities and takes them from the hourly ones.
fn tallies(
    distributed: QuantityRows,
    distributed_daily: Option<QuantityRows>,
    hour_ends: PresenceRows,
) -> Result<Tallies, ApiError> {
    let quantities = |rows: QuantityRows| -> Result<BTreeMap<_, i64>, ApiError> {
        let mut out = BTreeMap::new();
        for (center, time, item, quantity) in rows {
            *out.entry((stored::id(&center)?, time, stored::id(&item)?))
                .or_default() += quantity;
        }
        out.retain(|_, q| *q != 0);
        Ok(out)
    };
    let mut out = Tallies {
        distributed: quantities(distributed)?,
        ..Tallies::default()
    };
    out.distributed_daily = match distributed_daily {
        Some(rows) => quantities(rows)?,
        None => {
            let mut daily = daily_of(&out.distributed);
            daily.retain(|_, q| *q != 0);
            daily
        }
    };
    let hour_ends: BTreeMap<(Uuid, NaiveDateTime), Presence> = hour_ends
        .into_iter()
        .map(|(site, hour, persons, households)| {
            Ok(((stored::id(&site)?, hour), (persons, households)))
        })
        .collect::<Result<_, ApiError>>()?;
    out.occupancy_at_hour_end = changed_hour_ends(hour_ends);
    Ok(out)
}

/// Hour ends with the rows that repeat the hour before left out (a site's
/// first row repeats an empty site): the same occupancy over time, written
/// one way. An hour whose check-ins and check-outs cancel out leaves such a
/// row behind in the table; a recount has none.
fn changed_hour_ends(
    hour_ends: BTreeMap<(Uuid, NaiveDateTime), Presence>,
) -> BTreeMap<(Uuid, NaiveDateTime), Presence> {
    let mut last: Option<(Uuid, Presence)> = None;
    hour_ends
        .into_iter()
        .filter(|((site, _), present)| {
            let before = match last {
                Some((last_site, before)) if last_site == *site => before,
                _ => (0, 0),
            };
            last = Some((*site, *present));
            *present != before
        })
        .collect()
}

/// Replaces the stored tallies with `tallies` (all in shard 0), in the
/// caller's transaction; returns how many rows it wrote.
pub fn replace(conn: &mut DbConnection, tallies: &Tallies) -> Result<usize, ApiError> {
    diesel::delete(distributed_totals::table).execute(conn)?;
    diesel::delete(distributed_totals_daily::table).execute(conn)?;
    diesel::delete(occupancy_at_hour_end::table).execute(conn)?;
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
    let distributed_daily: Vec<_> = tallies
        .distributed_daily
        .iter()
        .map(|((center, day, item), quantity)| {
            (
                distributed_totals_daily::center_id.eq(center.to_string()),
                distributed_totals_daily::day.eq(*day),
                distributed_totals_daily::item_id.eq(item.to_string()),
                distributed_totals_daily::shard.eq(0),
                distributed_totals_daily::quantity.eq(*quantity),
            )
        })
        .collect();
    for chunk in distributed_daily.chunks(500) {
        crate::per_backend!(conn, |c| diesel::insert_into(
            distributed_totals_daily::table
        )
        .values(chunk)
        .execute(c))?;
    }
    let hour_ends: Vec<_> = tallies
        .occupancy_at_hour_end
        .iter()
        .map(|((site, hour), (persons, households))| {
            (
                occupancy_at_hour_end::site_id.eq(site.to_string()),
                occupancy_at_hour_end::hour.eq(*hour),
                occupancy_at_hour_end::persons.eq(*persons),
                occupancy_at_hour_end::households.eq(*households),
            )
        })
        .collect();
    for chunk in hour_ends.chunks(500) {
        crate::per_backend!(conn, |c| diesel::insert_into(occupancy_at_hour_end::table)
            .values(chunk)
            .execute(c))?;
    }
    Ok(tallies.rows())
}
