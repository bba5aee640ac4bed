//! Which records are worth scoring against a new one: blocking keys.
//!
//! Scoring every pair is out of the question at a million records, so each
//! record is stored under a few keys, and a new record is scored only
//! against the records that share one of its keys within a window of birth
//! years (or whose birth year is unknown). The keys tolerate what the
//! score tolerates:
//!
//! - `n`: the first letters of the family and given names' skeletons
//!   ([`names::skeleton`]: one key for Հովհաննիսյան, Hovannisian and
//!   Оганесян), looked up also with given and family swapped; `e` is the
//!   same key of a record without a birth date (an estimated age, or
//!   nothing), kept apart because its window is wider (below);
//! - `b`: the whole given name with the day and month of birth in either
//!   order (a family name misspelt in its first letters; a swapped date);
//!   looked up with the family name too (given and family swapped);
//! - `f`: the whole family name with the day and month of birth (a given
//!   name misspelt in its first letters), looked up with the given name too;
//! - `F`, `G`: the whole family name, the whole given name (a name misspelt
//!   in its first letters), looked up only by tracing ([`tracing_probe`]):
//!   a relative gives an age, not a date to key on;
//! - `d`: the document number, whatever the name (any birth year).
//!
//! The windows: a guessed age agrees within [`AGE_TOLERANCE`] years, so a
//! record is looked up among those without a birth date that far apart.
//! Two birth dates agree only if less than a year apart (or the same day
//! and month a year apart); further apart they count as different, and a
//! pair with different births (and no shared document, which its own key
//! finds) cannot reach the threshold under the default weights
//! ([`Weights::best_with_birth`]): records with a date are looked up among
//! those with a date within a year only. Each record of the data has a
//! block of 3 years instead of 7.
//!
//! Sex is left to the score (a sex written wrongly at a busy desk should
//! not hide a duplicate).

use chrono::Datelike;

use super::dates::AGE_TOLERANCE;
use super::names;
use super::score::{document_key, Profile, Weights};

/// The birth year stored for a record whose birth year is unknown: such
/// records are candidates for every year.
pub const UNKNOWN_YEAR: i32 = 0;

/// How far apart two birth dates' years may be and still agree (less than
/// a year apart, or a year mistyped by one).
const DATES_WINDOW: i32 = 1;

/// Letters of the family and given names' skeletons in an `n` key.
const FAMILY_LETTERS: usize = 4;
const GIVEN_LETTERS: usize = 3;

fn skeleton(name: &str) -> String {
    names::skeletons(name).concat()
}

/// The skeletons of a record's given and family names.
fn given_and_family(profile: &Profile) -> (String, String) {
    (
        skeleton(&profile.given_name),
        skeleton(&profile.family_name),
    )
}

fn prefix(s: &str, n: usize) -> &str {
    // Skeletons are ASCII.
    &s[..s.len().min(n)]
}

/// An `n` or `e` key without its prefix.
fn name_key(first: &str, second: &str) -> String {
    format!(
        "{}|{}",
        prefix(first, FAMILY_LETTERS),
        prefix(second, GIVEN_LETTERS)
    )
}

/// Day and month of birth in a fixed order, so that a swapped date gives
/// the same key.
fn day_month(profile: &Profile) -> Option<String> {
    profile.birth.date.map(|d| {
        let (x, y) = (d.day().min(d.month()), d.day().max(d.month()));
        format!("{x:02}{y:02}")
    })
}

/// The keys a record is stored under, each with the record's birth year
/// ([`UNKNOWN_YEAR`] if unknown).
pub fn stored_keys(profile: &Profile) -> Vec<(String, i32)> {
    let year = profile.birth.year().unwrap_or(UNKNOWN_YEAR);
    let (given, family) = given_and_family(profile);
    let name = name_key(&family, &given);
    let name = match profile.birth.date {
        Some(_) => format!("n:{name}"),
        None => format!("e:{name}"),
    };
    let mut keys = vec![
        (name, year),
        (format!("F:{family}"), year),
        (format!("G:{given}"), year),
    ];
    if let Some(dm) = day_month(profile) {
        keys.push((format!("b:{given}|{dm}"), year));
        keys.push((format!("f:{family}|{dm}"), year));
    }
    if let Some(document) = document_key(profile.document_number.as_deref()) {
        keys.push((format!("d:{document}"), UNKNOWN_YEAR));
    }
    keys.sort();
    keys.dedup();
    keys
}

/// Keys to look up in a window of birth years (`years`, both ends
/// included, and always the unknown year; None: every year).
#[derive(Debug, Clone, PartialEq)]
pub struct Lookup {
    pub keys: Vec<String>,
    pub years: Option<(i32, i32)>,
}

impl Lookup {
    fn new(mut keys: Vec<String>, years: Option<(i32, i32)>) -> Lookup {
        keys.sort();
        keys.dedup();
        Lookup { keys, years }
    }

    /// Whether a stored key with `year` answers this lookup.
    pub fn answers(&self, key: &str, year: i32) -> bool {
        self.keys.iter().any(|k| k == key)
            && (year == UNKNOWN_YEAR
                || self
                    .years
                    .is_none_or(|(from, to)| (from..=to).contains(&year)))
    }
}

/// What to look up for a record: one or two [`Lookup`]s.
#[derive(Debug, Clone, PartialEq)]
pub struct Probe {
    pub lookups: Vec<Lookup>,
}

fn window(year: Option<i32>, tolerance: i32) -> Option<(i32, i32)> {
    year.map(|y| (y - tolerance, y + tolerance))
}

/// The keys that find a record: of records with a birth date (and the
/// document's), and of records without.
fn lookup_keys(profile: &Profile, given: &str, family: &str) -> (Vec<String>, Vec<String>) {
    let names = [name_key(family, given), name_key(given, family)];
    let undated: Vec<String> = names.iter().map(|n| format!("e:{n}")).collect();
    let mut dated: Vec<String> = names.iter().map(|n| format!("n:{n}")).collect();
    if let Some(dm) = day_month(profile) {
        dated.push(format!("b:{given}|{dm}"));
        dated.push(format!("b:{family}|{dm}"));
        dated.push(format!("f:{family}|{dm}"));
        dated.push(format!("f:{given}|{dm}"));
    }
    // Stored under the unknown year, which every lookup includes.
    if let Some(document) = document_key(profile.document_number.as_deref()) {
        dated.push(format!("d:{document}"));
    }
    (dated, undated)
}

/// The lookups that find a record's possible duplicates under `weights`.
pub fn probe(profile: &Profile, weights: &Weights) -> Probe {
    let (given, family) = given_and_family(profile);
    let (mut dated, undated) = lookup_keys(profile, &given, &family);
    let year = profile.birth.year();
    let lookups = if profile.birth.date.is_some() && dates_only_agree_within_a_year(weights) {
        vec![
            Lookup::new(dated, window(year, DATES_WINDOW)),
            Lookup::new(undated, window(year, AGE_TOLERANCE)),
        ]
    } else {
        dated.extend(undated);
        vec![Lookup::new(dated, window(year, AGE_TOLERANCE))]
    };
    Probe { lookups }
}

/// Whether a pair whose birth dates are more than a year apart scores
/// below the threshold (whatever else agrees, a shared document aside):
/// then records with a date need not be looked up further apart.
fn dates_only_agree_within_a_year(weights: &Weights) -> bool {
    weights.best_with_birth(weights.birth_different) < weights.threshold
}

/// The lookups that find the persons a tracing request may be about (or
/// the requests a person may answer): its name keys, dated or not, and
/// either whole name, all within the tolerance of a guessed age. A
/// relative gives an age, not a date, so there is no day and month to key
/// a misspelt name on; the whole-name blocks are large, which a tracing
/// request (a few a day) can afford and a registration (thousands) cannot.
pub fn tracing_probe(profile: &Profile) -> Probe {
    let (given, family) = given_and_family(profile);
    let (mut keys, undated) = lookup_keys(profile, &given, &family);
    keys.extend(undated);
    keys.extend([
        format!("F:{family}"),
        format!("F:{given}"),
        format!("G:{given}"),
        format!("G:{family}"),
    ]);
    Probe {
        lookups: vec![Lookup::new(
            keys,
            window(profile.birth.year(), AGE_TOLERANCE),
        )],
    }
}

impl Probe {
    /// Every key looked up.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.lookups
            .iter()
            .flat_map(|l| l.keys.iter().map(String::as_str))
    }

    /// Whether a stored key with `year` answers the probe (what the
    /// database query checks, for matching in memory).
    pub fn answers(&self, key: &str, year: i32) -> bool {
        self.lookups.iter().any(|l| l.answers(key, year))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::matching::Birth;

    fn person(given: &str, family: &str, born: Option<&str>, age: Option<i32>) -> Profile {
        Profile {
            given_name: given.into(),
            family_name: family.into(),
            patronymic: None,
            sex: Some("female".into()),
            birth: Birth {
                date: born.map(|b| b.parse().unwrap()),
                estimated_age: age,
                registered_on: "2023-09-26".parse().unwrap(),
            },
            document_number: None,
            phone: None,
            origin_settlement: None,
            household_size: None,
        }
    }

    /// Whether `b` is among the candidates of `a` (one of a's lookups finds
    /// one of b's stored keys).
    fn finds(a: &Profile, b: &Profile) -> bool {
        let probe = probe(a, &Weights::default());
        stored_keys(b)
            .iter()
            .any(|(key, year)| probe.answers(key, *year))
    }

    #[test]
    fn spellings_in_other_scripts_and_swapped_dates_share_a_key() {
        let kornidzor = person("Անի", "Հովհաննիսյան", Some("1985-03-02"), None);
        for other in [
            person("Ani", "Hovhannisyan", Some("1985-02-03"), None),
            person("Ани", "Оганесян", Some("1985-03-02"), None),
            person("Ani", "Ovanesyan", None, Some(38)),
            person("Ani", "Hovannisian", None, None),
            // Given and family swapped at the desk.
            person("Hovhannisyan", "Ani", Some("1985-03-02"), None),
            // The family name misspelt from its first letter.
            person("Ani", "Jovhannisyan", Some("1985-03-02"), None),
        ] {
            assert!(finds(&kornidzor, &other), "{other:?}");
            assert!(finds(&other, &kornidzor), "{other:?}");
        }
    }

    #[test]
    fn other_people_are_not_candidates() {
        let ani = person("Ani", "Hovhannisyan", Some("1985-03-02"), None);
        for other in [
            person("Aram", "Petrosyan", Some("1985-03-02"), None),
            person("Ani", "Hovhannisyan", Some("1960-03-02"), None),
            person("Ani", "Hovhannisyan", None, Some(70)),
        ] {
            assert!(!finds(&ani, &other), "{other:?}");
        }
    }

    #[test]
    fn a_shared_document_is_a_candidate_whatever_the_names() {
        let mut a = person("Narek", "Petrosyan", Some("1990-05-05"), None);
        let mut b = person("Vardan", "Sargsyan", Some("1950-01-01"), None);
        a.document_number = Some("AR 1234567".into());
        b.document_number = Some("ar1234567".into());
        assert!(finds(&a, &b));
    }
}
