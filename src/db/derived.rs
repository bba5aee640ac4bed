//! Derived tables (search keys, match keys): rows computed from the records
//! by code, stored with the records, and rebuilt whole when the code that
//! derives them changes. `derived_versions` says which derivation each
//! table holds.

use diesel::prelude::*;

use super::DbConnection;
use crate::http::time;
use crate::schema::derived_versions;

/// Rebuilds the derived table `name` with `rebuild` unless it already holds
/// derivation `version`; `rebuild` starts from an empty table of its own
/// clearing and returns how many records it derived from. Returns that
/// count if it rebuilt.
///
/// One transaction: readers see the old rows or the new, never a mix. On
/// PostgreSQL, processes starting together queue on a lock and the later
/// ones find the work done.
pub fn rebuild_if_stale(
    conn: &mut DbConnection,
    name: &str,
    version: &str,
    rebuild: impl FnOnce(&mut DbConnection) -> QueryResult<u64>,
) -> QueryResult<Option<u64>> {
    conn.transaction(|conn| {
        if let DbConnection::Postgres(pg) = conn {
            diesel::sql_query("LOCK TABLE derived_versions IN EXCLUSIVE MODE").execute(pg)?;
        }
        let stored: Option<String> = derived_versions::table
            .find(name)
            .select(derived_versions::version)
            .first(conn)
            .optional()?;
        if stored.as_deref() == Some(version) {
            return Ok(None);
        }
        let derived = rebuild(conn)?;
        diesel::delete(derived_versions::table.find(name)).execute(conn)?;
        diesel::insert_into(derived_versions::table)
            .values((
                derived_versions::name.eq(name),
                derived_versions::version.eq(version),
                derived_versions::rebuilt_at.eq(time::now()),
            ))
            .execute(conn)?;
        tracing::info!(
            table = name,
            records = derived,
            version,
            "derived rows rebuilt"
        );
        Ok(Some(derived))
    })
}
