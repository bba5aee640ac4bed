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

pub mod dates;
pub mod names;
pub mod score;

pub use dates::{Birth, BirthAgreement};
pub use score::{score, FieldScore, Profile, Score, Weights};
