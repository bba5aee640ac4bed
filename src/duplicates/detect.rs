//! Finding duplicates: records matched against everyone registered and the
//! pairs found put in the review queue, for a registration, an import's
//! batch ([`match_records`]) and `refuge duplicates scan` ([`scan`]: the
//! records already there, registered before matching existed or at the
//! same instant at two centers, a page at a time so memory stays flat).

use diesel::prelude::*;
use uuid::Uuid;

use super::store::{propose, PossibleDuplicate, Proposal};
use crate::auth::CenterScope;
use crate::db::{Db, DbConnection};
use crate::error::ApiError;
use crate::matching::index::MatchIndex;
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
///
/// The pages are matched side by side, one per core, each on a connection
/// for reading ([`find`]); what they find is stored by this thread, a page
/// per transaction. At most a few pages are in memory at any time, however
/// many records there are.
pub fn scan(db: &Db, weights: &Weights, progress: impl Fn(u64)) -> Result<Summary, ApiError> {
    // One reader for the pages, the others match.
    let workers = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(db.readers_beside_setup().saturating_sub(1))
        .max(1);
    let mut conn = db
        .connection_for_long_job()
        .map_err(ApiError::unavailable)?;
    // The keys of persons registered since the server last wrote them.
    conn.transaction(keys::write_pending)?;
    let (pages_tx, pages_rx) = std::sync::mpsc::sync_channel::<Vec<keys::Record>>(workers);
    // Shared by the workers, and dropped with the last of them: a reader
    // waiting to hand over a page then stops too.
    let pages_rx = std::sync::Arc::new(std::sync::Mutex::new(pages_rx));
    let (found_tx, found_rx) =
        std::sync::mpsc::sync_channel::<Result<(u64, Vec<Pair>), ApiError>>(workers);
    std::thread::scope(|scope| {
        for _ in 0..workers {
            let (pages_rx, found_tx) = (pages_rx.clone(), found_tx.clone());
            scope.spawn(move || {
                let mut conn = match db.connection_for_reading() {
                    Ok(conn) => conn,
                    Err(e) => return drop(found_tx.send(Err(ApiError::unavailable(e)))),
                };
                loop {
                    let page = pages_rx
                        .lock()
                        .unwrap_or_else(|poisoned| poisoned.into_inner())
                        .recv();
                    let Ok(page) = page else { return };
                    let found =
                        find(&mut conn, &page, true, weights).map(|p| (page.len() as u64, p));
                    if found_tx.send(found).is_err() {
                        return;
                    }
                }
            });
        }
        drop((found_tx, pages_rx));
        // Pages are read on their own thread, so that reading the next
        // overlaps with matching and storing.
        let reader = scope.spawn(move || -> Result<(), ApiError> {
            let mut conn = db.connection_for_reading().map_err(ApiError::unavailable)?;
            let mut after = String::new();
            loop {
                let from = after.clone();
                let page = keys::stored_records(&mut conn, move |q| {
                    q.filter(persons::id.gt(from))
                        .order(persons::id)
                        .limit(PAGE)
                })?;
                let Some(last) = page.last() else {
                    return Ok(());
                };
                after = last.person_id.to_string();
                if pages_tx.send(page).is_err() {
                    return Ok(());
                }
            }
        });
        let mut summary = Summary::default();
        let mut failed = None;
        for found in found_rx {
            let stored = found.and_then(|(persons, pairs)| {
                let matched = conn.transaction(|conn| store(conn, &pairs, &CenterScope::All))?;
                Ok((persons, matched))
            });
            match stored {
                Ok((persons, matched)) => {
                    summary.pairs += matched.pairs;
                    summary.pending += matched.pending.len() as u64;
                    summary.persons += persons;
                    progress(summary.persons);
                }
                Err(e) => {
                    // Dropping the receiver stops the workers and the reader.
                    failed = Some(e);
                    break;
                }
            }
        }
        let read = reader
            .join()
            .unwrap_or_else(|_| Err(ApiError::internal("the scan's reader panicked")));
        match failed {
            Some(e) => Err(e),
            None => read.map(|()| summary),
        }
    })
}

/// What [`match_records`] found.
pub struct Matched {
    /// Pairs at or above the threshold, whether new or already proposed.
    pub pairs: u64,
    /// Those pending review, once each, as the caller may see them.
    pub pending: Vec<PossibleDuplicate>,
}

/// A record (of `person`, registered at `center`) that may be `person`
/// registered again: a pair to propose.
pub struct Pair {
    pub person: Uuid,
    pub center: Uuid,
    pub found: matching::Found,
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
    // The keys of persons registered since are written first.
    keys::write_pending(conn)?;
    let pairs = find(conn, records, earlier_only, weights)?;
    store(conn, &pairs, scope)
}

/// Finds the pairs of `records` and the records stored (only reads: a
/// registration finds them before its write, so that the single SQLite
/// writer only stores them).
pub fn find(
    conn: &mut DbConnection,
    records: &[keys::Record],
    earlier_only: bool,
    weights: &Weights,
) -> Result<Vec<Pair>, ApiError> {
    let mut pairs = Vec::new();
    for chunk in records.chunks(PROBES_PER_QUERY) {
        let probes = matching::probes(chunk.iter().map(|r| &r.profile), weights);
        let (candidates, per_probe) = keys::candidates(conn, &probes)?;
        for (record, mine) in chunk.iter().zip(per_probe) {
            let me = record.person_id.to_string();
            let others = mine
                .into_iter()
                .map(|i| &candidates[i])
                .filter(|c| c.person_id != record.person_id)
                .filter(|c| !earlier_only || c.person_id.to_string() < me);
            pairs.extend(pairs_of(record, others, weights));
        }
    }
    Ok(pairs)
}

/// The pairs `record` makes with those of `others` that score at or above
/// the threshold.
fn pairs_of<'a>(
    record: &keys::Record,
    others: impl IntoIterator<Item = &'a keys::Record>,
    weights: &Weights,
) -> impl Iterator<Item = Pair> {
    let (person, center) = (record.person_id, record.center_id);
    matching::find(&record.profile, record.household_id, others, weights)
        .into_iter()
        .map(move |found| Pair {
            person,
            center,
            found,
        })
}

/// [`find`] for a registration, through the process's matching index
/// ([`MatchIndex`]): the index, brought up to date, names the few records
/// that score at or above the threshold, and only those are read and
/// scored again here (the database is the truth; the index may hold an
/// older state of a record). Before the index has loaded, [`find`] (which
/// misses the persons whose keys are still pending: the last minute's).
pub fn find_indexed(
    conn: &mut DbConnection,
    index: &MatchIndex,
    records: &[keys::Record],
    weights: &Weights,
) -> Result<Vec<Pair>, ApiError> {
    index.catch_up(conn)?;
    let Some(hits) = index.find(records, weights) else {
        return find(conn, records, false, weights);
    };
    let mut ids: Vec<String> = hits.iter().flatten().map(Uuid::to_string).collect();
    ids.sort_unstable();
    ids.dedup();
    let stored: std::collections::HashMap<Uuid, keys::Record> =
        keys::stored_records_by_id(conn, &ids)?
            .into_iter()
            .map(|record| (record.person_id, record))
            .collect();
    let mut pairs = Vec::new();
    for (record, mine) in records.iter().zip(hits) {
        let others = mine.iter().filter_map(|id| stored.get(id));
        pairs.extend(pairs_of(record, others, weights));
    }
    Ok(pairs)
}

/// Stores the pairs [`find`] found, in the caller's transaction (a pair
/// already stored keeps its status); `scope` says whose names the pending
/// pairs show.
pub fn store(
    conn: &mut DbConnection,
    pairs: &[Pair],
    scope: &CenterScope,
) -> Result<Matched, ApiError> {
    let proposals: Vec<Proposal<'_>> = pairs
        .iter()
        .map(|p| Proposal {
            person: p.person,
            center: p.center,
            record: &p.found.record,
            score: &p.found.score,
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
