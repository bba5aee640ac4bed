//! The matching engine that duplicate detection and family tracing share
//! (issue 13): which records may be the same person, how strongly, and why.
//!
//! - `names`: names compared across Armenian, Latin and Cyrillic spellings.
//! - `dates`: birth dates compared with tolerance (swapped day and month,
//!   estimated ages).
//! - `score`: a pair of records scored field by field, with the weights and
//!   threshold as settings, every score explaining itself.
//!
//! Pure functions over values: the candidate search (from the folded name
//! keys, sex and birth year) and the storage of pairs and decisions build
//! on it.

pub mod blocking;
pub mod dates;
pub mod keys;
pub mod names;
pub mod score;

pub use dates::{Birth, BirthAgreement};
pub use score::{score, FieldScore, Profile, Score, Weights};

use uuid::Uuid;

/// A new record (by its position among those matched) that may be the same
/// person as a stored one.
#[derive(Debug, Clone)]
pub struct Found {
    pub index: usize,
    pub record: keys::Record,
    pub score: Score,
}

/// Scores each new record against the candidates its probes found, and
/// keeps the pairs at or above the threshold, best first per record. A
/// household's own members are never its duplicates.
pub fn find(
    new: &[Profile],
    household: Option<Uuid>,
    candidates: &[keys::Record],
    weights: &Weights,
) -> Vec<Found> {
    let mut found = Vec::new();
    for (index, profile) in new.iter().enumerate() {
        let mut mine: Vec<Found> = candidates
            .iter()
            .filter(|c| Some(c.household_id) != household)
            .filter_map(|c| {
                let score = score(profile, &c.profile, weights);
                score.is_candidate(weights).then(|| Found {
                    index,
                    record: c.clone(),
                    score,
                })
            })
            .collect();
        mine.sort_by(|a, b| b.score.total.total_cmp(&a.score.total));
        found.extend(mine);
    }
    found
}

/// The probes of new records (see [`blocking`]).
pub fn probes(new: &[Profile]) -> Vec<blocking::Probe> {
    new.iter().map(blocking::probe).collect()
}
