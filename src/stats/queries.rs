//! What every statistics read shares: the time range of a request, at hour
//! precision, and the SQL sums that give one result type on both backends.

use chrono::{DateTime, NaiveDateTime, TimeDelta, Utc};

use crate::error::ApiError;
use crate::http::time::{self, Timestamp};

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
