//! Finding duplicates: records matched against everyone registered and the
//! pairs found put in the review queue, for a registration, an import's
//! batch ([`match_records`]) and `refuge duplicates scan` ([`scan`]: the
//! records already there, registered before matching existed or at the
//! same instant at two centers, a page at a time so memory stays flat).

use diesel::prelude::*;

use super::store::{propose, PossibleDuplicate, Proposal};
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
        let matched =
            conn.transaction(|conn| match_records(conn, &page, true, weights, &CenterScope::All))?;
        summary.pairs += matched.pairs;
        summary.pending += matched.pending.len() as u64;
        summary.persons += page.len() as u64;
        progress(summary.persons);
    }
    Ok(summary)
}

/// What [`match_records`] found.
pub struct Matched {
    /// Pairs at or above the threshold, whether new or already proposed.
    pub pairs: u64,
    /// Those pending review, once each, as the caller may see them.
    pub pending: Vec<PossibleDuplicate>,
}

/// Matches `records` against everyone registered (with `earlier_only`, only
/// against records of smaller id: a scan meets each pair from both sides)
/// and stores the pairs found, in the caller's transaction; `scope` says
/// whose names the pending pairs show.
pub fn match_records(
    conn: &mut DbConnection,
    records: &[keys::Record],
    earlier_only: bool,
    weights: &Weights,
    scope: &CenterScope,
) -> Result<Matched, ApiError> {
    let mut found = Vec::new();
    for chunk in records.chunks(PROBES_PER_QUERY) {
        let probes = matching::probes(chunk.iter().map(|r| &r.profile));
        let (candidates, per_probe) = keys::candidates(conn, &probes)?;
        for (record, mine) in chunk.iter().zip(per_probe) {
            let me = record.person_id.to_string();
            let others = mine
                .into_iter()
                .map(|i| &candidates[i])
                .filter(|c| c.person_id != record.person_id)
                .filter(|c| !earlier_only || c.person_id.to_string() < me);
            for f in matching::find(&record.profile, record.household_id, others, weights) {
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
    let pending = propose(conn, &proposals, scope)?;
    Ok(Matched {
        pairs: proposals.len() as u64,
        pending,
    })
}

/// How many records a scan would match (for a progress bar).
pub fn records_to_scan(conn: &mut DbConnection) -> Result<u64, ApiError> {
    let n: i64 = persons::table
        .filter(persons::merged_into.is_null())
        .count()
        .get_result(conn)?;
    Ok(n as u64)
}
