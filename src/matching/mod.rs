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
pub mod index;
pub mod keys;
pub mod names;
pub mod score;

pub use dates::{Birth, BirthAgreement};
pub use score::{score, Compared, FieldScore, MatchedField, Profile, Reducer, Score, Weights};

use uuid::Uuid;

/// A stored record that may be the same person as the one matched.
#[derive(Debug, Clone)]
pub struct Found {
    pub record: keys::Record,
    pub score: Score,
}

/// Scores a record (of `household`) against candidates and keeps those at
/// or above the threshold, best first. Its own household's members are
/// never its duplicates.
pub fn find<'a>(
    profile: &Profile,
    household: Uuid,
    candidates: impl IntoIterator<Item = &'a keys::Record>,
    weights: &Weights,
) -> Vec<Found> {
    let mut reducer = Reducer::default();
    let compared = reducer.reduce(profile);
    let mut found: Vec<Found> = candidates
        .into_iter()
        .filter(|c| c.household_id != household)
        .filter_map(|c| {
            let candidate = reducer.reduce(&c.profile);
            let score = score::score_at_least(&compared, &candidate, weights, weights.threshold)?;
            Some(Found {
                record: c.clone(),
                score,
            })
        })
        .collect();
    found.sort_by(|a, b| b.score.total.total_cmp(&a.score.total));
    found
}

/// The probes that find records' possible duplicates under `weights` (see
/// [`blocking`]).
pub fn probes<'a>(
    profiles: impl IntoIterator<Item = &'a Profile>,
    weights: &Weights,
) -> Vec<blocking::Probe> {
    profiles
        .into_iter()
        .map(|p| blocking::probe(p, weights))
        .collect()
}
