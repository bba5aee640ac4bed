//! The aggregates recomputed from the records: what `refuge stats verify`
//! compares with the stored ones, and `refuge stats rebuild` writes.

use std::collections::BTreeMap;

use diesel::Connection;

use super::aggregates::contributions;
use crate::db::aggregates::{self, Aggregates, Count, Key};
use crate::db::tallies;
use crate::db::DbConnection;
use crate::error::ApiError;
use crate::registration;

/// The aggregates computed from scratch from every household, and from the
/// assistance records for when each kind of assistance first reached it
/// (not from what the households keep of it, so a drift there shows too).
pub fn expected(conn: &mut DbConnection) -> Result<Aggregates, ApiError> {
    let mut out: BTreeMap<Key, Count> = BTreeMap::new();
    let mut after = None;
    loop {
        let mut page = registration::page_by_id(conn, after, 1000)?;
        let Some(last) = page.last() else { break };
        after = Some(last.id);
        let ids: Vec<_> = page.iter().map(|h| h.id).collect();
        let mut reached = registration::reached_from_records(conn, &ids)?;
        for household in &mut page {
            household.reached = reached.remove(&household.id).unwrap_or_default();
        }
        for household in &page {
            for (key, count) in contributions(&household.arrival()) {
                let entry = out.entry(key).or_default();
                entry.persons += count.persons;
                entry.households += count.households;
            }
        }
    }
    Ok(Aggregates {
        tallies: tallies::recount(conn)?,
        ..Aggregates::from_counts(out)
    })
}

/// Replaces the aggregates with ones computed from the records (for repair
/// after a restore, or when a new dimension is added), and what households
/// keep of when assistance first reached them, in one transaction; returns
/// how many aggregate rows it wrote.
pub fn rebuild(conn: &mut DbConnection) -> Result<usize, ApiError> {
    conn.transaction(|conn| {
        registration::rewrite_reached(conn)?;
        let expected = expected(conn)?;
        aggregates::replace(conn, expected)
    })
}
