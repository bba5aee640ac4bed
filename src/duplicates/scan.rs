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
            q.filter(persons::id.gt(from))
                .order(persons::id)
                .limit(PAGE)
        })?;
        let Some(last) = page.last() else { break };
        after = last.person_id.to_string();
        let (pairs, pending) =
            conn.transaction(|conn| match_records(conn, &page, true, weights))?;
        summary.pairs += pairs;
        summary.pending += pending;
        summary.persons += page.len() as u64;
        progress(summary.persons);
    }
    Ok(summary)
}

/// Matches `records` against everyone registered (with `earlier_only`, only
/// against records of smaller id: a scan meets each pair from both sides)
/// and stores the pairs found, in the caller's transaction. Returns how
/// many pairs were found, and how many of them are pending review.
pub fn match_records(
    conn: &mut DbConnection,
    records: &[keys::Record],
    earlier_only: bool,
    weights: &Weights,
) -> Result<(u64, u64), ApiError> {
    let mut found = Vec::new();
    for chunk in records.chunks(PROBES_PER_QUERY) {
        let profiles: Vec<_> = chunk.iter().map(|r| r.profile.clone()).collect();
        let (candidates, per_probe) =
            keys::candidates_per_probe(conn, &matching::probes(&profiles))?;
        for (record, mine) in chunk.iter().zip(per_probe) {
            let me = record.person_id.to_string();
            let others: Vec<keys::Record> = mine
                .into_iter()
                .map(|i| &candidates[i])
                .filter(|c| c.person_id != record.person_id)
                .filter(|c| !earlier_only || c.person_id.to_string() < me)
                .cloned()
                .collect();
            for f in matching::find(
                std::slice::from_ref(&record.profile),
                Some(record.household_id),
                &others,
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
    let pending = propose(conn, &proposals, &CenterScope::All)?;
    Ok((proposals.len() as u64, pending.len() as u64))
}

/// How many records a scan would match (for a progress bar).
pub fn records_to_scan(conn: &mut DbConnection) -> Result<u64, ApiError> {
    let n: i64 = persons::table
        .filter(persons::merged_into.is_null())
        .count()
        .get_result(conn)?;
    Ok(n as u64)
}
