//! A matching index kept in memory by each process that registers: every
//! stored record reduced for scoring ([`Compared`]) and filed under its
//! candidate keys ([`blocking::stored_keys`]), so that a registration finds
//! and scores its candidates without reading them from the database.
//!
//! Read from the database, one block of candidates costs a key-table read
//! and a person and household read for each candidate, on a reader whose
//! page cache every commit empties (SQLite in WAL mode): at a million
//! persons, registrations spent most of their time there (BENCHMARKS.md,
//! "Matching at scale"). In memory a candidate costs a hash lookup and a
//! score of values already reduced.
//!
//! The index is only a filter. The few records it finds at or above the
//! threshold are read again from the database and scored there
//! (`duplicates::detect::find_indexed`), so a record the index holds in an
//! older state is scored as it is now, and a record it lacks is left to
//! `refuge duplicates scan`, as one registered at the same instant always
//! was.
//!
//! It stays current by reading `match_changes`, the log of the persons
//! whose matching fields changed, which triggers write in the same
//! transaction as the change (migration `match_changes`): whatever wrote
//! it (this process, another API process on the same PostgreSQL, an
//! import, a command), the next registration's [`MatchIndex::catch_up`]
//! reads those persons again. A PostgreSQL sequence number is taken when
//! the row is written, not at commit, so a later number may be seen first:
//! the numbers skipped are kept as gaps and looked for again until they
//! appear or [`GAP_PATIENCE`] has passed (a transaction rolled back never
//! fills its gap).
//!
//! Until it has loaded (before serving for a small database, in the
//! background from start-up for a large one: some seconds per million
//! persons), and in processes that never load it (commands), the
//! candidates are read from the database as before.
//!
//! Memory: about 330 bytes per person (the reduced record, its key
//! entries and its place by id; names are shared), some 330 MiB at a
//! million persons (BENCHMARKS.md, "Third round").

use std::collections::{BTreeMap, HashMap, HashSet};
use std::hash::{Hash, Hasher};
use std::sync::{Mutex, RwLock};
use std::time::{Duration, Instant};

use diesel::prelude::*;
use uuid::Uuid;

use super::blocking::{self, UNKNOWN_YEAR};
use super::keys::{self, Record, MAX_CANDIDATES};
use super::score::{score_at_least, Compared, Reducer, Weights};
use crate::db::{Db, DbConnection};
use crate::error::ApiError;
use crate::schema::{match_changes, persons};

/// How long a sequence number skipped in `match_changes` is looked for
/// again: longer than any transaction that writes persons runs.
pub const GAP_PATIENCE: Duration = Duration::from_secs(600);

/// A process that has not read the log for this long reloads its index
/// whole instead: the daily maintenance prunes rows older than twice this
/// ([`CHANGES_KEPT_HOURS`]).
const RELOAD_AFTER: Duration = Duration::from_secs(12 * 3600);

/// Hours `match_changes` rows are kept (see [`prune_changes`]).
pub const CHANGES_KEPT_HOURS: i64 = 24;

/// Log rows read per query when catching up.
const CHANGES_PER_QUERY: i64 = 5_000;

/// Sequence numbers below the highest at load time read again by the first
/// catch-up: transactions that took their number before the load began and
/// committed after it read its records.
const RECHECK_AFTER_LOAD: i64 = 1_000;

/// Most skipped sequence numbers kept as gaps: a rolled-back import can
/// skip more, and those are given up at once.
const MAX_GAPS: usize = 100_000;

/// Most ranges of gaps looked for again.
const MAX_GAP_RANGES: usize = 64;

/// Below this many persons the index loads before the server serves.
const LOAD_BEFORE_SERVING: i64 = 50_000;

/// Records read per statement when loading or catching up.
const RECORDS_PER_QUERY: i64 = 5_000;

/// The end of a chain of key entries.
const NONE: u32 = u32::MAX;

/// One stored record as the index holds it.
struct Slot {
    person: Uuid,
    household: Uuid,
    compared: Compared,
    /// False once the record changed (its newer state has another slot) or
    /// was merged into another.
    live: bool,
}

/// The records and their key entries.
#[derive(Default)]
struct Records {
    slots: Vec<Slot>,
    by_person: HashMap<Uuid, u32>,
    /// The hash of a (key, birth year) to the newest entry filed under it.
    heads: HashMap<u64, u32>,
    /// Entries: (slot, the next older entry under the same key).
    entries: Vec<(u32, u32)>,
    /// The earliest and latest birth years filed (for a record whose own
    /// birth year is unknown: it is looked up in every year).
    years: Option<(i32, i32)>,
    reducer: Reducer,
    dead: usize,
}

fn key_hash(key: &str, year: i32) -> u64 {
    // SipHash with fixed keys; a collision only adds candidates, which the
    // score then rejects.
    let mut h = std::hash::DefaultHasher::new();
    key.hash(&mut h);
    year.hash(&mut h);
    h.finish()
}

impl Records {
    fn put(&mut self, record: &Record) {
        self.remove(record.person_id);
        let slot = self.slots.len() as u32;
        for (key, year) in blocking::stored_keys(&record.profile) {
            let head = self.heads.entry(key_hash(&key, year)).or_insert(NONE);
            self.entries.push((slot, *head));
            *head = (self.entries.len() - 1) as u32;
            if year != UNKNOWN_YEAR {
                self.years = Some(match self.years {
                    Some((from, to)) => (from.min(year), to.max(year)),
                    None => (year, year),
                });
            }
        }
        self.slots.push(Slot {
            person: record.person_id,
            household: record.household_id,
            compared: self.reducer.reduce(&record.profile),
            live: true,
        });
        self.by_person.insert(record.person_id, slot);
    }

    fn remove(&mut self, person: Uuid) {
        if let Some(slot) = self.by_person.remove(&person) {
            self.slots[slot as usize].live = false;
            self.dead += 1;
        }
    }

    /// The live slots filed under any of `lookup`'s keys in its years (and
    /// the unknown year), at most [`MAX_CANDIDATES`] per lookup, as the
    /// database lookup reads them.
    fn candidates(&self, probe: &blocking::Probe, out: &mut HashSet<u32>) {
        for lookup in &probe.lookups {
            let (from, to) = match lookup.years.or(self.years) {
                Some(years) => years,
                None => (UNKNOWN_YEAR, UNKNOWN_YEAR),
            };
            let mut read = 0;
            'keys: for key in &lookup.keys {
                for year in (from..=to).chain([UNKNOWN_YEAR]) {
                    let Some(&head) = self.heads.get(&key_hash(key, year)) else {
                        continue;
                    };
                    let mut at = head;
                    while at != NONE {
                        let (slot, next) = self.entries[at as usize];
                        if self.slots[slot as usize].live {
                            out.insert(slot);
                            read += 1;
                            if read >= MAX_CANDIDATES {
                                break 'keys;
                            }
                        }
                        at = next;
                    }
                }
            }
        }
    }
}

/// Where the index is in `match_changes`.
struct Log {
    /// The highest sequence number read.
    top: i64,
    /// Numbers below `top` not seen yet, with when they were first missed.
    gaps: BTreeMap<i64, Instant>,
    /// When the last catch-up began (one that began after a registration
    /// asked covers it).
    polled: Instant,
}

/// The per-process matching index (see the module's documentation).
pub struct MatchIndex {
    records: RwLock<Option<Records>>,
    log: Mutex<Option<Log>>,
}

impl Default for MatchIndex {
    fn default() -> Self {
        MatchIndex::new()
    }
}

impl MatchIndex {
    /// An index not loaded yet: matching reads the database until it is.
    pub fn new() -> MatchIndex {
        MatchIndex {
            records: RwLock::new(None),
            log: Mutex::new(None),
        }
    }

    /// Whether the index has loaded (and is used).
    pub fn is_ready(&self) -> bool {
        self.records
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .is_some()
    }

    /// Loads the index: at once if the database holds fewer than
    /// [`LOAD_BEFORE_SERVING`] persons (well under a second), on a thread
    /// of its own otherwise, trying again every half minute while the
    /// database does not answer.
    pub fn load(self: std::sync::Arc<Self>, db: Db) -> Result<(), crate::db::DbError> {
        let mut conn = db.connection_for_reading()?;
        // Whether there are that many, without counting them all.
        let large = persons::table
            .select(persons::id)
            .offset(LOAD_BEFORE_SERVING - 1)
            .limit(1)
            .first::<String>(&mut conn)
            .optional()
            .map_err(|e| crate::db::DbError::Migration(format!("reading persons: {e}")))?
            .is_some();
        if !large {
            if let Ok(loaded) = self.load_from(&mut conn) {
                tracing::debug!(persons = loaded, "matching index loaded");
                return Ok(());
            }
        }
        drop(conn);
        std::thread::spawn(move || loop {
            let started = Instant::now();
            let loaded = db
                .connection_for_reading()
                .map_err(ApiError::unavailable)
                .and_then(|mut conn| self.load_from(&mut conn));
            match loaded {
                Ok(persons) => {
                    tracing::info!(
                        persons,
                        seconds = started.elapsed().as_secs_f64(),
                        "matching index loaded"
                    );
                    return;
                }
                Err(error) => {
                    tracing::warn!(%error, "matching index not loaded; trying again in 30 s");
                    std::thread::sleep(Duration::from_secs(30));
                }
            }
        });
        Ok(())
    }

    /// Loads every record not merged into another, replacing what was
    /// held; returns how many. Catch-ups wait for nothing meanwhile: until
    /// it is done they find the index not loaded.
    pub fn load_from(&self, conn: &mut DbConnection) -> Result<usize, ApiError> {
        let (records, log) = read_all(conn)?;
        let mut guard = self.log.lock().unwrap_or_else(|p| p.into_inner());
        Ok(self.replace(records, log, &mut guard))
    }

    fn replace(&self, records: Records, log: Log, guard: &mut Option<Log>) -> usize {
        let persons = records.by_person.len();
        *self.records.write().unwrap_or_else(|p| p.into_inner()) = Some(records);
        *guard = Some(log);
        persons
    }

    /// Reads the persons changed since the last catch-up (by this process
    /// or any other) into the index. Does nothing before the index has
    /// loaded, nor if a catch-up began meanwhile (it covers what committed
    /// before it began).
    pub fn catch_up(&self, conn: &mut DbConnection) -> Result<(), ApiError> {
        let asked = Instant::now();
        let mut guard = self.log.lock().unwrap_or_else(|p| p.into_inner());
        match guard.as_ref() {
            None => return Ok(()),
            Some(log) if log.polled >= asked => return Ok(()),
            Some(log) if log.polled.elapsed() > RELOAD_AFTER => {
                // The log may have been pruned past what this index read.
                let (records, log) = read_all(conn)?;
                self.replace(records, log, &mut guard);
                return Ok(());
            }
            Some(_) => {}
        }
        let Some(log) = guard.as_mut() else {
            return Ok(());
        };
        log.polled = Instant::now();
        loop {
            let changes = read_changes(conn, log)?;
            let complete = (changes.len() as i64) < CHANGES_PER_QUERY;
            let mut changed: Vec<String> = Vec::with_capacity(changes.len());
            for (seq, person) in changes {
                log.note(seq);
                changed.push(person);
            }
            changed.sort_unstable();
            changed.dedup();
            self.reread(conn, &changed)?;
            if complete {
                break;
            }
        }
        log.gaps.retain(|_, missed| missed.elapsed() < GAP_PATIENCE);
        Ok(())
    }

    /// Reads `persons` again: a record not merged is put (in its present
    /// state), any other removed.
    fn reread(&self, conn: &mut DbConnection, persons_changed: &[String]) -> Result<(), ApiError> {
        for chunk in persons_changed.chunks(RECORDS_PER_QUERY as usize) {
            let found = keys::stored_records_by_id(conn, chunk)?;
            let mut guard = self.records.write().unwrap_or_else(|p| p.into_inner());
            let Some(records) = guard.as_mut() else {
                return Ok(());
            };
            let kept: HashSet<Uuid> = found.iter().map(|r| r.person_id).collect();
            for id in chunk {
                if let Ok(id) = Uuid::parse_str(id) {
                    if !kept.contains(&id) {
                        records.remove(id);
                    }
                }
            }
            for record in &found {
                records.put(record);
            }
        }
        Ok(())
    }

    /// For each of `records`, the persons the index holds that score at
    /// least the threshold against it (never itself nor its household's
    /// members); None while the index has not loaded.
    pub fn find(&self, records: &[Record], weights: &Weights) -> Option<Vec<Vec<Uuid>>> {
        let guard = self.records.read().unwrap_or_else(|p| p.into_inner());
        let index = guard.as_ref()?;
        let mut reducer = Reducer::default();
        let mut found = Vec::with_capacity(records.len());
        let mut slots = HashSet::new();
        for record in records {
            slots.clear();
            index.candidates(&blocking::probe(&record.profile, weights), &mut slots);
            let compared = reducer.reduce(&record.profile);
            let mut mine: Vec<Uuid> = slots
                .iter()
                .map(|&s| &index.slots[s as usize])
                .filter(|s| s.person != record.person_id && s.household != record.household_id)
                .filter(|s| {
                    score_at_least(&compared, &s.compared, weights, weights.threshold).is_some()
                })
                .map(|s| s.person)
                .collect();
            mine.sort_unstable();
            found.push(mine);
        }
        Some(found)
    }

    /// How many records the index holds, and how many older states of
    /// records it still keeps.
    #[cfg(test)]
    fn size(&self) -> Option<(usize, usize)> {
        let guard = self.records.read().unwrap_or_else(|p| p.into_inner());
        guard.as_ref().map(|r| (r.by_person.len(), r.dead))
    }
}

impl Log {
    /// Notes that `seq` was read: a gap filled, or the numbers skipped
    /// below it kept as gaps.
    fn note(&mut self, seq: i64) {
        if seq <= self.top {
            self.gaps.remove(&seq);
            return;
        }
        let skipped = seq - self.top - 1;
        if skipped > 0 && self.gaps.len() + (skipped as usize) <= MAX_GAPS {
            let now = Instant::now();
            for missing in self.top + 1..seq {
                self.gaps.insert(missing, now);
            }
        }
        self.top = seq;
    }

    /// The gaps as ranges of consecutive numbers, the newest
    /// [`MAX_GAP_RANGES`] (older ones are given up: each range is a term of
    /// the query).
    fn gap_ranges(&mut self) -> Vec<(i64, i64)> {
        let mut ranges: Vec<(i64, i64)> = Vec::new();
        for &seq in self.gaps.keys() {
            match ranges.last_mut() {
                Some((_, to)) if *to + 1 == seq => *to = seq,
                _ => ranges.push((seq, seq)),
            }
        }
        if ranges.len() > MAX_GAP_RANGES {
            let (dropped, kept) = ranges.split_at(ranges.len() - MAX_GAP_RANGES);
            for &(from, to) in dropped {
                for seq in from..=to {
                    self.gaps.remove(&seq);
                }
            }
            ranges = kept.to_vec();
        }
        ranges
    }
}

/// Every record not merged into another, and where the log stood before
/// they were read.
fn read_all(conn: &mut DbConnection) -> Result<(Records, Log), ApiError> {
    let top: Option<i64> = match_changes::table
        .select(diesel::dsl::max(match_changes::seq))
        .first(conn)?;
    let mut records = Records::default();
    let mut after = String::new();
    loop {
        let from = after.clone();
        let page = keys::stored_records(conn, move |q| {
            q.filter(persons::id.gt(from))
                .order(persons::id)
                .limit(RECORDS_PER_QUERY)
        })?;
        let Some(last) = page.last() else { break };
        after = last.person_id.to_string();
        for record in &page {
            records.put(record);
        }
    }
    let log = Log {
        top: top.unwrap_or(0).saturating_sub(RECHECK_AFTER_LOAD).max(0),
        gaps: BTreeMap::new(),
        polled: Instant::now(),
    };
    Ok((records, log))
}

/// The log rows above what `log` read, and those of its gaps that have
/// appeared, in order.
fn read_changes(conn: &mut DbConnection, log: &mut Log) -> Result<Vec<(i64, String)>, ApiError> {
    let ranges = log.gap_ranges();
    let mut query = match_changes::table
        .filter(match_changes::seq.gt(log.top))
        .into_boxed();
    for (from, to) in ranges {
        query = query.or_filter(match_changes::seq.between(from, to));
    }
    Ok(query
        .order(match_changes::seq)
        .limit(CHANGES_PER_QUERY)
        .select((match_changes::seq, match_changes::person_id))
        .load(conn)?)
}

/// Deletes the log rows older than [`CHANGES_KEPT_HOURS`] (the daily
/// maintenance); returns how many.
pub fn prune_changes(conn: &mut DbConnection) -> Result<usize, ApiError> {
    let before = crate::http::time::now() - chrono::TimeDelta::hours(CHANGES_KEPT_HOURS);
    Ok(
        diesel::delete(match_changes::table.filter(match_changes::changed_at.lt(before)))
            .execute(conn)?,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::matching::{Birth, Profile};

    fn log() -> Log {
        Log {
            top: 10,
            gaps: BTreeMap::new(),
            polled: Instant::now(),
        }
    }

    #[test]
    fn numbers_seen_out_of_order_are_kept_as_gaps_until_they_appear() {
        let mut log = log();
        log.note(11);
        log.note(14);
        log.note(15);
        log.note(19);
        assert_eq!(log.top, 19);
        assert_eq!(log.gap_ranges(), vec![(12, 13), (16, 18)]);
        log.note(13);
        log.note(17);
        assert_eq!(log.gap_ranges(), vec![(12, 12), (16, 16), (18, 18)]);
        log.note(12);
        log.note(16);
        log.note(18);
        assert!(log.gaps.is_empty());
    }

    #[test]
    fn only_the_newest_gaps_are_looked_for() {
        let mut log = log();
        let mut seq = 10;
        for _ in 0..MAX_GAP_RANGES + 5 {
            seq += 2;
            log.note(seq);
        }
        let ranges = log.gap_ranges();
        assert_eq!(ranges.len(), MAX_GAP_RANGES);
        assert_eq!(ranges.last(), Some(&(seq - 1, seq - 1)));
        assert_eq!(log.gaps.len(), MAX_GAP_RANGES);
    }

    fn record(given: &str, family: &str, born: &str) -> Record {
        Record {
            person_id: Uuid::new_v4(),
            household_id: Uuid::new_v4(),
            center_id: Uuid::nil(),
            profile: Profile {
                given_name: given.into(),
                family_name: family.into(),
                patronymic: None,
                sex: Some("female".into()),
                birth: Birth {
                    date: Some(born.parse().unwrap()),
                    estimated_age: None,
                    registered_on: "2023-09-26".parse().unwrap(),
                },
                document_number: None,
                phone: Some("+374 91 234567".into()),
                origin_settlement: Some("Ստեփանակերտ".into()),
                household_size: Some(1),
            },
        }
    }

    fn index_of(records: &[&Record]) -> MatchIndex {
        let index = MatchIndex::new();
        let mut held = Records::default();
        for r in records {
            held.put(r);
        }
        *index.records.write().unwrap() = Some(held);
        index
    }

    #[test]
    fn the_index_finds_what_scores_at_the_threshold_and_follows_changes() {
        let w = Weights::default();
        let ani = record("Անի", "Հովհաննիսյան", "1985-03-02");
        let namesake = record("Ani", "Hovhannisyan", "1955-03-02");
        let brother = record("Արամ", "Հովհաննիսյան", "1985-03-02");
        let index = index_of(&[&ani, &namesake, &brother]);
        let again = record("Ani", "Hovhannisyan", "1985-02-03");
        assert_eq!(
            index.find(std::slice::from_ref(&again), &w),
            Some(vec![vec![ani.person_id]])
        );

        // Her household's members are never her duplicates.
        let mut same_household = again.clone();
        same_household.household_id = ani.household_id;
        assert_eq!(index.find(&[same_household], &w), Some(vec![vec![]]));

        // Corrected to another birth date, she is no longer a candidate;
        // removed (merged into another), neither.
        let mut corrected = ani.clone();
        corrected.profile.birth.date = Some("1990-07-14".parse().unwrap());
        let mut guard = index.records.write().unwrap();
        guard.as_mut().unwrap().put(&corrected);
        drop(guard);
        assert_eq!(
            index.find(std::slice::from_ref(&again), &w),
            Some(vec![vec![]])
        );
        let mut guard = index.records.write().unwrap();
        guard.as_mut().unwrap().put(&ani);
        guard.as_mut().unwrap().remove(ani.person_id);
        drop(guard);
        assert_eq!(index.find(&[again], &w), Some(vec![vec![]]));
        assert_eq!(index.size(), Some((2, 3)));
    }

    #[test]
    fn an_index_not_loaded_finds_nothing_and_says_so() {
        let index = MatchIndex::new();
        assert!(!index.is_ready());
        let ani = record("Ani", "Hovhannisyan", "1985-02-03");
        assert_eq!(index.find(&[ani], &Weights::default()), None);
    }
}
