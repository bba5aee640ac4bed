//! The aggregates recomputed from the records: what `refuge stats verify`
//! compares with the stored ones, and `refuge stats rebuild` writes.

use std::collections::BTreeMap;

use diesel::Connection;

use super::aggregates::contributions;
use crate::db::aggregates::{self, Aggregates, Count, Key};
use crate::db::DbConnection;
use crate::error::ApiError;
use crate::registration;

/// The aggregates computed from scratch from every household.
pub fn expected(conn: &mut DbConnection) -> Result<Aggregates, ApiError> {
    let mut out: BTreeMap<Key, Count> = BTreeMap::new();
    let mut after = None;
    loop {
        let page = registration::page_by_id(conn, after, 1000)?;
        let Some(last) = page.last() else { break };
        after = Some(last.id);
        for household in &page {
            for (key, count) in contributions(&household.arrival()) {
                let entry = out.entry(key).or_default();
                entry.persons += count.persons;
                entry.households += count.households;
            }
        }
    }
    Ok(Aggregates::from_counts(out))
}

/// Replaces the aggregates with ones computed from the records (for repair
/// after a restore, or when a new dimension is added), in one transaction;
/// returns how many rows it wrote.
pub fn rebuild(conn: &mut DbConnection) -> Result<usize, ApiError> {
    conn.transaction(|conn| {
        let expected = expected(conn)?;
        aggregates::replace(conn, expected)
    })
}
