//! `refuge duplicates scan`: the records already there (registered before
//! matching existed, or at the same instant at two centers) matched against
//! each other, a page at a time, so memory stays flat whatever the size.

use diesel::prelude::*;

use super::store::{propose, Proposal};
use crate::auth::CenterScope;
use crate::db::DbConnection;
use crate::error::ApiError;
use crate::matching::{self, keys, Weights};
use crate::schema::persons;

/// Records matched per page.
const PAGE: i64 = 1_000;
/// Records whose candidates one query finds.
const PROBES_PER_QUERY: usize = 50;

/// What a scan did.
#[derive(Debug, Default, Clone, Copy)]
pub struct Summary {
    pub persons: u64,
    /// Pairs at or above the threshold, whether new or already proposed.
    pub pairs: u64,
    /// Of those, pending review now.
    pub pending: u64,
}

/// Matches every record not merged into another against the others; each
/// pair is scored once (from its later id) and stored if it scores at the
/// threshold or more. A pair already decided keeps its decision.
/// `progress` is told how many records have been matched so far.
pub fn scan(
    conn: &mut DbConnection,
    weights: &Weights,
    progress: impl Fn(u64),
) -> Result<Summary, ApiError> {
    let mut summary = Summary::default();
    let mut after = String::new();
    loop {
        let from = after.clone();
        let page = keys::stored_records(conn, move |q| {
            q.filter(persons::id.gt(from)).order(persons::id).limit(PAGE)
        })?;
        let Some(last) = page.last() else { break };
        after = last.person_id.to_string();
        let mut found = Vec::new();
        for chunk in page.chunks(PROBES_PER_QUERY) {
            let profiles: Vec<_> = chunk.iter().map(|r| r.profile.clone()).collect();
            let candidates = keys::candidates(conn, &matching::probes(&profiles))?;
            for record in chunk {
                let me = record.person_id.to_string();
                let earlier: Vec<keys::Record> = candidates
                    .iter()
                    .filter(|c| c.person_id.to_string() < me)
                    .cloned()
                    .collect();
                for f in matching::find(
                    std::slice::from_ref(&record.profile),
                    Some(record.household_id),
                    &earlier,
                    weights,
                ) {
                    found.push((record.person_id, record.center_id, f));
                }
            }
        }
        let proposals: Vec<Proposal<'_>> = found
            .iter()
            .map(|(person, center, f)| Proposal {
                person: *person,
                center: *center,
                record: &f.record,
                score: &f.score,
            })
            .collect();
        let pending = conn.transaction(|conn| propose(conn, &proposals, &CenterScope::All))?;
        summary.pairs += proposals.len() as u64;
        summary.pending += pending.len() as u64;
        summary.persons += page.len() as u64;
        progress(summary.persons);
    }
    Ok(summary)
}

/// How many records a scan would match (for a progress bar).
pub fn records_to_scan(conn: &mut DbConnection) -> Result<u64, ApiError> {
    let n: i64 = persons::table
        .filter(persons::merged_into.is_null())
        .count()
        .get_result(conn)?;
    Ok(n as u64)
}
