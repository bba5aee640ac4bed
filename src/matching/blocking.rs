//! Which records are worth scoring against a new one: blocking keys.
//!
//! Scoring every pair is out of the question at a million records, so each
//! record is stored under a few keys, and a new record is scored only
//! against the records that share one of its keys within its birth-year
//! window (or whose birth year is unknown). The keys tolerate what the
//! score tolerates:
//!
//! - `n`: the first letters of the family and given names' skeletons
//!   ([`names::skeleton`]: one key for Հովհաննիսյան, Hovannisian and
//!   Оганесян), looked up also with given and family swapped;
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
//! Sex is left to the score (a sex written wrongly at a busy desk should
//! not hide a duplicate).

use chrono::Datelike;

use super::names;
use super::score::{document_key, Profile};

/// The birth year stored for a record whose birth year is unknown: such
/// records are candidates for every year.
pub const UNKNOWN_YEAR: i32 = 0;

/// How far apart two birth years may be and their records still be
/// compared (the tolerance of an estimated age, [`super::dates::AGE_TOLERANCE`]).
pub const YEAR_WINDOW: i32 = super::dates::AGE_TOLERANCE;

/// Letters of the family and given names' skeletons in an `n` key.
const FAMILY_LETTERS: usize = 4;
const GIVEN_LETTERS: usize = 2;

fn skeleton(name: &str) -> String {
    names::skeletons(name).concat()
}

fn prefix(s: &str, n: usize) -> &str {
    // Skeletons are ASCII.
    &s[..s.len().min(n)]
}

fn name_key(first: &str, second: &str) -> String {
    format!(
        "n:{}|{}",
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
    let (given, family) = (
        skeleton(&profile.given_name),
        skeleton(&profile.family_name),
    );
    let mut keys = vec![
        (name_key(&family, &given), year),
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

/// What to look up for a record: keys, and the birth years to look in
/// (None: every year).
pub struct Probe {
    pub keys: Vec<String>,
    pub years: Option<(i32, i32)>,
}

/// The lookups that find a record's candidates.
pub fn probe(profile: &Profile) -> Probe {
    let (given, family) = (
        skeleton(&profile.given_name),
        skeleton(&profile.family_name),
    );
    let mut keys = vec![name_key(&family, &given), name_key(&given, &family)];
    if let Some(dm) = day_month(profile) {
        keys.push(format!("b:{given}|{dm}"));
        keys.push(format!("b:{family}|{dm}"));
        keys.push(format!("f:{family}|{dm}"));
        keys.push(format!("f:{given}|{dm}"));
    }
    if let Some(document) = document_key(profile.document_number.as_deref()) {
        keys.push(format!("d:{document}"));
    }
    keys.sort();
    keys.dedup();
    Probe {
        keys,
        years: profile
            .birth
            .year()
            .map(|y| (y - YEAR_WINDOW, y + YEAR_WINDOW)),
    }
}

/// The lookups that find the persons a tracing request may be about (or
/// the requests a person may answer): those of [`probe`], and either whole
/// name in its birth years. A relative gives an age, not a date, so there
/// is no day and month to key a misspelt name on; the whole-name blocks are
/// large, which a tracing request (a few a day) can afford and a
/// registration (thousands) cannot.
pub fn tracing_probe(profile: &Profile) -> Probe {
    let mut probe = probe(profile);
    let (given, family) = (
        skeleton(&profile.given_name),
        skeleton(&profile.family_name),
    );
    probe.keys.extend([
        format!("F:{family}"),
        format!("F:{given}"),
        format!("G:{given}"),
        format!("G:{family}"),
    ]);
    probe.keys.sort();
    probe.keys.dedup();
    probe
}

/// Whether a stored key with `year` answers `probe` (what the database
/// query checks, for scans that match in memory).
pub fn answers(probe: &Probe, key: &str, year: i32) -> bool {
    probe.keys.iter().any(|k| k == key)
        && (year == UNKNOWN_YEAR
            || key.starts_with("d:")
            || probe
                .years
                .is_none_or(|(from, to)| (from..=to).contains(&year)))
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
        let probe = probe(a);
        stored_keys(b)
            .iter()
            .any(|(key, year)| answers(&probe, key, *year))
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
