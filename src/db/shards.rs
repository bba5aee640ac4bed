//! Sharded counter rows on PostgreSQL: each transaction adds to one of a few
//! rows per key, chosen at random, so concurrent writers rarely wait for each
//! other's row locks; a periodic compaction folds the shards of past hours
//! into shard 0, which writers never touch. SQLite has one writer and adds
//! to shard 0 directly.

use chrono::NaiveDateTime;
use diesel::RunQueryDsl;

use super::DbConnection;
use crate::error::ApiError;

/// Shards per aggregate row on PostgreSQL (see the migration): enough that
/// concurrent registrations rarely wait for each other's row locks, few
/// enough that reads stay small.
const POSTGRES_SHARDS: i32 = 8;

/// The shard this transaction adds to.
pub(super) fn shard(conn: &DbConnection) -> i32 {
    match conn {
        DbConnection::Sqlite(_) => 0,
        // Shard 0 is left to the compaction (and rebuild), which folds the others into it.
        DbConnection::Postgres(_) => rand::random_range(1..=POSTGRES_SHARDS),
    }
}

/// Folds the rows of `table` in shards other than 0 whose time (the second
/// column of `key`) is before `before` into shard 0, adding up `sums`; never
/// waits for a row a writer holds. Table and column names are fixed names,
/// never user input.
pub(super) fn fold_shards(
    pg: &mut diesel::PgConnection,
    table: &str,
    key: &[&str],
    sums: &[&str],
    before: NaiveDateTime,
) -> Result<usize, ApiError> {
    let list = |columns: &[&str], each: &dyn Fn(&str) -> String, separator: &str| {
        columns
            .iter()
            .map(|c| each(c))
            .collect::<Vec<_>>()
            .join(separator)
    };
    let keys = key.join(", ");
    let sql = format!(
        "WITH picked AS (
            SELECT {keys}, shard FROM {table}
            WHERE shard <> 0 AND {time} < $1
            FOR UPDATE SKIP LOCKED),
         moved AS (
            DELETE FROM {table} t USING picked p
            WHERE {matched} AND t.shard = p.shard
            RETURNING {returned})
         INSERT INTO {table} ({keys}, shard, {sum_columns})
         SELECT {keys}, 0, {summed} FROM moved GROUP BY {keys}
         ON CONFLICT ({keys}, shard) DO UPDATE SET {added}",
        time = key[1],
        matched = list(key, &|k| format!("t.{k} = p.{k}"), " AND "),
        returned = list(&[key, sums].concat(), &|c| format!("t.{c}"), ", "),
        sum_columns = sums.join(", "),
        summed = list(sums, &|c| format!("SUM({c})"), ", "),
        added = list(sums, &|c| format!("{c} = {table}.{c} + excluded.{c}"), ", "),
    );
    Ok(diesel::sql_query(sql)
        .bind::<diesel::sql_types::Timestamp, _>(before)
        .execute(pg)?)
}
