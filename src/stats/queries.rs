//! What every statistics read shares: the time range of a request, at hour
//! precision, the SQL sums that give one result type on both backends, and
//! a breakdown summed over a range from the daily and hourly rows.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDateTime, TimeDelta, Utc};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};
use uuid::Uuid;

use crate::auth::CenterScope;
use crate::db::DbConnection;
use crate::error::ApiError;
use crate::http::stored;
use crate::http::time::{self, Timestamp};
use crate::schema::{arrival_counts, arrival_counts_daily, arrival_totals};

/// Longest range per interval: a year of days, a month of hours.
pub const MAX_DAYS: i64 = 400;
pub(super) const MAX_HOURS: i64 = 31 * 24;

/// A time range at hour precision: `[from, to)`, both on the hour.
#[derive(Debug, Clone, Copy)]
pub struct Range {
    pub from: NaiveDateTime,
    pub to: NaiveDateTime,
}

pub fn range(
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

/// `SUM` of a BIGINT column is NUMERIC on PostgreSQL; the cast keeps one
/// result type for both backends.
pub(super) fn sum_persons() -> diesel::expression::SqlLiteral<diesel::sql_types::BigInt> {
    diesel::dsl::sql("CAST(SUM(arrival_counts.persons) AS BIGINT)")
}

pub(super) fn sum_households() -> diesel::expression::SqlLiteral<diesel::sql_types::BigInt> {
    diesel::dsl::sql("CAST(SUM(arrival_counts.households) AS BIGINT)")
}

/// `SUM` of an `arrival_totals` column (a fixed name, never user input).
pub(super) fn total_sum(
    column: &'static str,
) -> diesel::expression::SqlLiteral<diesel::sql_types::BigInt> {
    diesel::dsl::sql(&format!("CAST(SUM(arrival_totals.{column}) AS BIGINT)"))
}

/// One dimension of the breakdowns summed per center and value over `range`
/// (all time when absent), for the centers `scope` allows: (center, value,
/// persons, households).
///
/// Whole UTC days come from the daily rows and only the partial days at the
/// edges of the range from the hourly ones ([`time::whole_days`]).
pub fn breakdown(
    conn: &mut DbConnection,
    dim: &'static str,
    range: Option<Range>,
    scope: &CenterScope,
) -> Result<Vec<(Uuid, String, i64, i64)>, ApiError> {
    let mut rows = Vec::new();
    match range {
        None => rows.extend(daily(conn, dim, None, None, scope)?),
        Some(Range { from, to }) => {
            let split = time::whole_days(from, to);
            for (from, to) in split.hours {
                rows.extend(hourly(conn, dim, from, to, scope)?);
            }
            if let Some((first, last)) = split.days {
                rows.extend(daily(conn, dim, Some(first), Some(last), scope)?);
            }
        }
    }
    let mut sums: BTreeMap<(String, String), (i64, i64)> = BTreeMap::new();
    for (center, value, persons, households) in rows {
        let sum = sums.entry((center, value)).or_default();
        sum.0 += persons;
        sum.1 += households;
    }
    sums.into_iter()
        .map(|((center, value), (persons, households))| {
            Ok((stored::id(&center)?, value, persons, households))
        })
        .collect()
}

type BreakdownRow = (String, String, i64, i64);

/// Hourly breakdown rows in `[from, to)`, summed per center and value.
fn hourly(
    conn: &mut DbConnection,
    dim: &'static str,
    from: NaiveDateTime,
    to: NaiveDateTime,
    scope: &CenterScope,
) -> Result<Vec<BreakdownRow>, ApiError> {
    if from >= to {
        return Ok(Vec::new());
    }
    let mut q = arrival_counts::table
        .filter(arrival_counts::dimension.eq(dim))
        .filter(arrival_counts::bucket.ge(from))
        .filter(arrival_counts::bucket.lt(to))
        .group_by((arrival_counts::center_id, arrival_counts::value))
        .select((
            arrival_counts::center_id,
            arrival_counts::value,
            sum_persons(),
            sum_households(),
        ))
        .into_boxed();
    if let Some(centers) = scope.stored_ids() {
        q = q.filter(arrival_counts::center_id.eq_any(centers));
    }
    Ok(q.load(conn)?)
}

/// Daily breakdown rows of the days in `[from, to)`, summed per center and value.
fn daily(
    conn: &mut DbConnection,
    dim: &'static str,
    from: Option<NaiveDateTime>,
    to: Option<NaiveDateTime>,
    scope: &CenterScope,
) -> Result<Vec<BreakdownRow>, ApiError> {
    let mut q = arrival_counts_daily::table
        .filter(arrival_counts_daily::dimension.eq(dim))
        .group_by((arrival_counts_daily::center_id, arrival_counts_daily::value))
        .select((
            arrival_counts_daily::center_id,
            arrival_counts_daily::value,
            diesel::dsl::sql::<BigInt>("CAST(SUM(arrival_counts_daily.persons) AS BIGINT)"),
            diesel::dsl::sql::<BigInt>("CAST(SUM(arrival_counts_daily.households) AS BIGINT)"),
        ))
        .into_boxed();
    if let Some(from) = from {
        q = q.filter(arrival_counts_daily::day.ge(from));
    }
    if let Some(to) = to {
        q = q.filter(arrival_counts_daily::day.lt(to));
    }
    if let Some(centers) = scope.stored_ids() {
        q = q.filter(arrival_counts_daily::center_id.eq_any(centers));
    }
    Ok(q.load(conn)?)
}

/// A breakdown row of one hour or day: center, its first instant,
/// dimension, value, persons, households.
pub struct TimedRow {
    pub center: Uuid,
    pub at: NaiveDateTime,
    pub dimension: &'static str,
    pub value: String,
    pub persons: i64,
    pub households: i64,
}

/// One dimension of the breakdowns per center, hour and value, for the
/// hours listed, one row per shard.
pub fn hourly_breakdown(
    conn: &mut DbConnection,
    dim: &'static str,
    hours: &[NaiveDateTime],
    scope: &CenterScope,
) -> Result<Vec<TimedRow>, ApiError> {
    let mut rows = Vec::new();
    for hours in hours.chunks(1000) {
        let mut q = arrival_counts::table
            .filter(arrival_counts::dimension.eq(dim))
            .filter(arrival_counts::bucket.eq_any(hours))
            .select((
                arrival_counts::center_id,
                arrival_counts::bucket,
                arrival_counts::value,
                arrival_counts::persons,
                arrival_counts::households,
            ))
            .into_boxed();
        if let Some(centers) = scope.stored_ids() {
            q = q.filter(arrival_counts::center_id.eq_any(centers));
        }
        let loaded: Vec<(String, NaiveDateTime, String, i64, i64)> = q.load(conn)?;
        for (center, at, value, persons, households) in loaded {
            rows.push(TimedRow {
                center: stored::id(&center)?,
                at,
                dimension: dim,
                value,
                persons,
                households,
            });
        }
    }
    Ok(rows)
}

/// Rows as stored with their ids read, and their dimension one of `dims`.
fn timed(
    rows: Vec<(String, NaiveDateTime, String, String, i64, i64)>,
    dims: &[&'static str],
) -> Result<Vec<TimedRow>, ApiError> {
    rows.into_iter()
        .map(|(center, at, dimension, value, persons, households)| {
            let dimension = dims
                .iter()
                .copied()
                .find(|dim| *dim == dimension)
                .ok_or_else(|| ApiError::internal(format!("unexpected dimension {dimension}")))?;
            Ok(TimedRow {
                center: stored::id(&center)?,
                at,
                dimension,
                value,
                persons,
                households,
            })
        })
        .collect()
}

/// Where a row of [`daily_span`] lies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Span {
    /// Summed over the days before the span.
    Before,
    /// One day of the span (its shards summed).
    Within,
    /// Summed over the days from the span's end on.
    After,
}

/// The dimensions `dims` of the breakdowns per center and value, in one
/// read of the daily rows: summed over the UTC days before `from`, per day
/// of `[from, to)`, and summed over the days from `to` on. A row's `at` is
/// its day within the span; the rows outside it are grouped under the day
/// before `from` and under `to`. The dimension `values_summed` comes back
/// summed over its values, one row per center and day with the value `""`
/// (household sizes summed are the households registered): half the rows.
pub fn daily_span(
    conn: &mut DbConnection,
    dims: &[&'static str],
    values_summed: &'static str,
    from: NaiveDateTime,
    to: NaiveDateTime,
    scope: &CenterScope,
) -> Result<Vec<(Span, TimedRow)>, ApiError> {
    use diesel::sql_types::Timestamp as SqlTimestamp;
    let before = from - TimeDelta::days(1);
    let value = diesel::dsl::sql::<Text>("CASE WHEN arrival_counts_daily.dimension = ")
        .bind::<Text, _>(values_summed)
        .sql(" THEN '' ELSE arrival_counts_daily.value END");
    let day = diesel::dsl::sql::<SqlTimestamp>("CASE WHEN arrival_counts_daily.day < ")
        .bind::<SqlTimestamp, _>(from)
        .sql(" THEN ")
        .bind::<SqlTimestamp, _>(before)
        .sql(" WHEN arrival_counts_daily.day >= ")
        .bind::<SqlTimestamp, _>(to)
        .sql(" THEN ")
        .bind::<SqlTimestamp, _>(to)
        .sql(" ELSE arrival_counts_daily.day END");
    // Grouped by position (the second column is the day as grouped): both
    // backends take positions, and the expression's parameters are bound once.
    // Diesel checks a GROUP BY of columns only, so every column selected is
    // spelled out too (fixed names, never input).
    let column = |name: &str| diesel::dsl::sql::<Text>(&format!("arrival_counts_daily.{name}"));
    let mut q = arrival_counts_daily::table
        .filter(arrival_counts_daily::dimension.eq_any(dims))
        .group_by(diesel::dsl::sql::<Text>("1, 2, 3, 4"))
        .select((
            column("center_id"),
            day,
            column("dimension"),
            value,
            diesel::dsl::sql::<BigInt>("CAST(SUM(arrival_counts_daily.persons) AS BIGINT)"),
            diesel::dsl::sql::<BigInt>("CAST(SUM(arrival_counts_daily.households) AS BIGINT)"),
        ))
        .into_boxed();
    if let Some(centers) = scope.stored_ids() {
        q = q.filter(arrival_counts_daily::center_id.eq_any(centers));
    }
    Ok(timed(q.load(conn)?, dims)?
        .into_iter()
        .map(|row| {
            let span = if row.at < from {
                Span::Before
            } else if row.at >= to {
                Span::After
            } else {
                Span::Within
            };
            (span, row)
        })
        .collect())
}

/// Registered persons and households per center and hour, for the hours
/// listed: (center, hour, persons, households), one row per shard.
pub fn totals_at(
    conn: &mut DbConnection,
    hours: &[NaiveDateTime],
    scope: &CenterScope,
) -> Result<Vec<(Uuid, NaiveDateTime, i64, i64)>, ApiError> {
    let mut out = Vec::new();
    for hours in hours.chunks(1000) {
        let mut q = arrival_totals::table
            .filter(arrival_totals::bucket.eq_any(hours))
            .select((
                arrival_totals::center_id,
                arrival_totals::bucket,
                arrival_totals::persons,
                arrival_totals::households,
            ))
            .into_boxed();
        if let Some(centers) = scope.stored_ids() {
            q = q.filter(arrival_totals::center_id.eq_any(centers));
        }
        let rows: Vec<(String, NaiveDateTime, i64, i64)> = q.load(conn)?;
        for (center, hour, persons, households) in rows {
            out.push((stored::id(&center)?, hour, persons, households));
        }
    }
    Ok(out)
}
