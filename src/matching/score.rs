//! Scoring a pair of person records: Fellegi-Sunter style, each field adds
//! the weight of how well it agrees (positive: evidence for one person,
//! negative: against), and the score explains itself field by field.

use serde::Serialize;

use super::dates::{self, Birth, BirthAgreement};
use super::names;

/// What the matcher knows of a person.
#[derive(Debug, Clone)]
pub struct Profile {
    pub given_name: String,
    pub family_name: String,
    pub patronymic: Option<String>,
    pub sex: Option<String>,
    pub birth: Birth,
    pub document_number: Option<String>,
    pub phone: Option<String>,
    pub origin_settlement: Option<String>,
    pub household_size: Option<i32>,
}

/// The weights of each level of agreement, and the threshold above which a
/// pair is a possible duplicate. Defaults are set for the 2023 registrations;
/// all are settings.
#[derive(Debug, Clone, Copy, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Weights {
    /// Name similarity (0-1) from which a name counts as the same.
    pub name_same: f64,
    /// Name similarity from which a name counts as close.
    pub name_close: f64,
    pub given_same: f64,
    pub given_close: f64,
    pub given_different: f64,
    pub family_same: f64,
    pub family_close: f64,
    pub family_different: f64,
    pub patronymic_same: f64,
    pub patronymic_different: f64,
    pub sex_same: f64,
    pub sex_different: f64,
    pub birth_exact: f64,
    pub birth_swapped: f64,
    pub birth_within_year: f64,
    pub birth_estimated_age: f64,
    pub birth_different: f64,
    pub document_same: f64,
    pub document_different: f64,
    pub phone_same: f64,
    /// Both phones known, different numbers (a new SIM is common, so mild).
    pub phone_different: f64,
    pub origin_same: f64,
    pub household_size_same: f64,
    /// A pair scoring at least this is a possible duplicate.
    pub threshold: f64,
    /// A registered person scoring at least this against a tracing
    /// request's sought relative is a match to review.
    pub tracing_threshold: f64,
}

impl Default for Weights {
    fn default() -> Weights {
        Weights {
            name_same: 0.95,
            name_close: 0.88,
            given_same: 4.0,
            given_close: 2.5,
            given_different: -4.0,
            family_same: 3.0,
            family_close: 2.0,
            family_different: -3.0,
            patronymic_same: 2.0,
            patronymic_different: -1.5,
            sex_same: 0.5,
            sex_different: -6.0,
            birth_exact: 6.0,
            birth_swapped: 4.5,
            birth_within_year: 1.5,
            birth_estimated_age: 2.5,
            birth_different: -5.0,
            document_same: 10.0,
            document_different: -4.0,
            phone_same: 3.0,
            phone_different: -2.0,
            origin_same: 1.0,
            household_size_same: 0.5,
            threshold: 11.0,
            tracing_threshold: 6.0,
        }
    }
}

/// One field's part of a score.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FieldScore {
    pub field: &'static str,
    /// How it agreed: `same`, `close`, `different`, `day_month_swapped`...
    pub agreement: &'static str,
    pub weight: f64,
}

/// A pair's score and why.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Score {
    pub total: f64,
    pub fields: Vec<FieldScore>,
}

impl Score {
    /// Whether the pair is a possible duplicate under `weights`.
    pub fn is_candidate(&self, weights: &Weights) -> bool {
        self.total >= weights.threshold
    }

    /// Whether a registered person is a tracing match under `weights`.
    pub fn is_tracing_match(&self, weights: &Weights) -> bool {
        self.total >= weights.tracing_threshold
    }
}

/// The best of a field's weights.
fn best_of(weights: &[f64]) -> f64 {
    weights.iter().copied().fold(f64::MIN, f64::max)
}

impl Weights {
    /// The best that the given and family names (always compared) can add.
    fn best_names(&self) -> f64 {
        best_of(&[self.given_same, self.given_close, self.given_different])
            + best_of(&[self.family_same, self.family_close, self.family_different])
    }

    /// The best score a pair can reach whose births agree with `birth`
    /// (a weight) and whose document numbers do not agree: every other
    /// field at its best, each optional field left out where that is
    /// better.
    pub fn best_with_birth(&self, birth: f64) -> f64 {
        let optional = |weights: &[f64]| best_of(weights).max(0.0);
        self.best_names()
            + optional(&[self.patronymic_same, self.patronymic_different])
            + optional(&[self.sex_same, self.sex_different])
            + birth
            + optional(&[self.document_different])
            + optional(&[self.phone_same, self.phone_different])
            + optional(&[self.origin_same])
            + optional(&[self.household_size_same])
    }
}

/// One field's part of a score (a [`FieldScore`]) as stored with a pair or
/// a match and shown by the API.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct MatchedField {
    pub field: String,
    pub agreement: String,
    pub weight: f64,
}

impl From<&FieldScore> for MatchedField {
    fn from(f: &FieldScore) -> MatchedField {
        MatchedField {
            field: f.field.to_string(),
            agreement: f.agreement.to_string(),
            weight: f.weight,
        }
    }
}

/// A document number as compared: letters and digits only, upper case
/// ("AR 1234567" and "ar1234567" are one document); None when nothing is left.
pub fn document_key(value: Option<&str>) -> Option<String> {
    value
        .map(|v| {
            v.chars()
                .filter(char::is_ascii_alphanumeric)
                .collect::<String>()
                .to_ascii_uppercase()
        })
        .filter(|v| !v.is_empty())
}

/// A name as the score compares it: the skeletons of its words
/// ([`names::skeletons`], the costly part of a score).
pub type Words = std::sync::Arc<[String]>;

/// The last digits of a phone number, as compared: two phones are the same
/// subscriber if their last `min(8, either's length)` digits agree, whatever
/// prefix was written (+374, 0, nothing).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PhoneTail {
    /// The last [`PHONE_DIGITS`] digits (fewer if the number has fewer).
    digits: u32,
    len: u8,
}

/// Digits of a phone number compared.
const PHONE_DIGITS: usize = 8;

impl PhoneTail {
    /// None for a number of fewer than 6 digits (nothing to compare).
    fn of(phone: &str) -> Option<PhoneTail> {
        let digits: Vec<u32> = phone.chars().filter_map(|c| c.to_digit(10)).collect();
        if digits.len() < 6 {
            return None;
        }
        let tail = &digits[digits.len().saturating_sub(PHONE_DIGITS)..];
        Some(PhoneTail {
            digits: tail.iter().fold(0, |n, d| n * 10 + d),
            len: tail.len() as u8,
        })
    }

    fn same(self, other: PhoneTail) -> bool {
        let modulus = 10u32.pow(self.len.min(other.len) as u32);
        self.digits % modulus == other.digits % modulus
    }
}

/// A record as the score compares it: each field reduced once per record
/// rather than once per pair, names to their skeletons, a document to a
/// 64-bit hash of its [`document_key`] (two documents are the same only if
/// their hashes are; at 2^-64 a pair, a false "same" is not a concern),
/// a phone to its last digits. Small and owned, so that a matching index
/// can keep one per person in memory.
#[derive(Debug, Clone)]
pub struct Compared {
    given: Words,
    family: Words,
    patronymic: Option<Words>,
    origin: Option<Words>,
    sex: Option<std::sync::Arc<str>>,
    birth: Birth,
    document: Option<u64>,
    phone: Option<PhoneTail>,
    household_size: Option<i32>,
}

impl Compared {
    /// A record reduced on its own (see [`Reducer`] to reduce many).
    pub fn new(profile: &Profile) -> Compared {
        Reducer::default().reduce(profile)
    }
}

/// Reduces records to [`Compared`], deriving each distinct name's skeletons
/// once and sharing them (a block of candidates has few distinct names; a
/// million records a few thousand).
#[derive(Default)]
pub struct Reducer {
    words: std::collections::HashMap<String, Words>,
    sexes: Vec<std::sync::Arc<str>>,
}

impl Reducer {
    pub fn reduce(&mut self, p: &Profile) -> Compared {
        Compared {
            given: self.words(&p.given_name),
            family: self.words(&p.family_name),
            patronymic: p.patronymic.as_deref().map(|n| self.words(n)),
            origin: p.origin_settlement.as_deref().map(|n| self.words(n)),
            sex: p.sex.as_deref().map(|s| self.sex(s)),
            birth: p.birth,
            document: document_key(p.document_number.as_deref()).map(|d| {
                use std::hash::{Hash, Hasher};
                // SipHash with fixed keys: the same hash in every process.
                let mut h = std::hash::DefaultHasher::new();
                d.hash(&mut h);
                h.finish()
            }),
            phone: p.phone.as_deref().and_then(PhoneTail::of),
            household_size: p.household_size,
        }
    }

    fn words(&mut self, name: &str) -> Words {
        if let Some(w) = self.words.get(name) {
            return w.clone();
        }
        let w: Words = names::skeletons(name).into();
        self.words.insert(name.to_string(), w.clone());
        w
    }

    fn sex(&mut self, sex: &str) -> std::sync::Arc<str> {
        if let Some(s) = self.sexes.iter().find(|s| &***s == sex) {
            return s.clone();
        }
        let s: std::sync::Arc<str> = sex.into();
        self.sexes.push(s.clone());
        s
    }
}

/// A field's part: (field, agreement, weight).
type Part = (&'static str, &'static str, f64);

/// The parts of the fields compared without names: sex, birth, document,
/// phone and household size.
fn plain_parts(a: &Compared, b: &Compared, w: &Weights) -> [Option<Part>; 5] {
    let sex = match (&a.sex, &b.sex) {
        (Some(x), Some(y)) if x == y => Some(("sex", "same", w.sex_same)),
        (Some(_), Some(_)) => Some(("sex", "different", w.sex_different)),
        _ => None,
    };
    let (agreement, weight) = match dates::compare(&a.birth, &b.birth) {
        BirthAgreement::Exact => ("exact", w.birth_exact),
        BirthAgreement::DayMonthSwapped => ("day_month_swapped", w.birth_swapped),
        BirthAgreement::WithinYear => ("within_year", w.birth_within_year),
        BirthAgreement::EstimatedAge => ("estimated_age", w.birth_estimated_age),
        BirthAgreement::Different => ("different", w.birth_different),
        BirthAgreement::Unknown => ("unknown", 0.0),
    };
    let birth = Some(("birth", agreement, weight));
    let document = match (a.document, b.document) {
        (Some(x), Some(y)) if x == y => Some(("document", "same", w.document_same)),
        (Some(_), Some(_)) => Some(("document", "different", w.document_different)),
        _ => None,
    };
    let phone = match (a.phone, b.phone) {
        (Some(x), Some(y)) if x.same(y) => Some(("phone", "same", w.phone_same)),
        (Some(_), Some(_)) => Some(("phone", "different", w.phone_different)),
        _ => None,
    };
    let size = match (a.household_size, b.household_size) {
        (Some(x), Some(y)) if x == y => Some(("household_size", "same", w.household_size_same)),
        _ => None,
    };
    [sex, birth, document, phone, size]
}

/// Scores two records, field by field.
pub fn score(a: &Profile, b: &Profile, w: &Weights) -> Score {
    score_compared(&Compared::new(a), &Compared::new(b), w)
}

/// Scores `a` against `b` if the pair can reach `at_least`: the fields
/// compared without names first, and the names only if the most they
/// could add still reaches it (most candidates of a block are someone
/// else: another sex, another year, another phone).
pub fn score_at_least(a: &Compared, b: &Compared, w: &Weights, at_least: f64) -> Option<Score> {
    let plain: f64 = plain_parts(a, b, w)
        .iter()
        .flatten()
        .map(|(_, _, weight)| weight)
        .sum();
    let mut names = w.best_names();
    if a.patronymic.is_some() && b.patronymic.is_some() {
        names += best_of(&[w.patronymic_same, w.patronymic_different]);
    }
    if a.origin.is_some() && b.origin.is_some() {
        names += w.origin_same.max(0.0);
    }
    // (Totals are rounded to hundredths: a bound just under may round up.)
    if plain + names < at_least - 0.005 {
        return None;
    }
    let score = score_compared(a, b, w);
    (score.total >= at_least).then_some(score)
}

/// Scores two records whose names are compared already.
fn score_compared(a: &Compared, b: &Compared, w: &Weights) -> Score {
    let mut fields = Vec::new();
    let mut add = |field: &'static str, agreement: &'static str, weight: f64| {
        fields.push(FieldScore {
            field,
            agreement,
            weight,
        });
    };
    let name = |x: &[String], y: &[String], same: f64, close: f64, different: f64| {
        let s = names::similarity_of(x, y);
        if s >= w.name_same {
            ("same", same)
        } else if s >= w.name_close {
            ("close", close)
        } else {
            ("different", different)
        }
    };
    // Given and family names as written, and swapped (a desk under
    // pressure writes them in the other order): the better reading counts.
    let names_of = |given: &[String], family: &[String]| {
        [
            name(
                &a.given,
                given,
                w.given_same,
                w.given_close,
                w.given_different,
            ),
            name(
                &a.family,
                family,
                w.family_same,
                w.family_close,
                w.family_different,
            ),
        ]
    };
    let direct = names_of(&b.given, &b.family);
    let swapped = names_of(&b.family, &b.given);
    let total_of = |n: &[(&'static str, f64); 2]| n[0].1 + n[1].1;
    let [(given, given_weight), (family, family_weight)] = if total_of(&swapped) > total_of(&direct)
    {
        add("name_order", "swapped", 0.0);
        swapped
    } else {
        direct
    };
    add("given_name", given, given_weight);
    add("family_name", family, family_weight);
    if let (Some(x), Some(y)) = (&a.patronymic, &b.patronymic) {
        let (agreement, weight) = name(
            x,
            y,
            w.patronymic_same,
            w.patronymic_same / 2.0,
            w.patronymic_different,
        );
        add("patronymic", agreement, weight);
    }
    let [sex, birth, document, phone, size] = plain_parts(a, b, w);
    for (field, agreement, weight) in [sex, birth, document, phone].into_iter().flatten() {
        add(field, agreement, weight);
    }
    if let (Some(x), Some(y)) = (&a.origin, &b.origin) {
        if names::similarity_of(x, y) >= w.name_close {
            add("origin_settlement", "same", w.origin_same);
        }
    }
    if let Some((field, agreement, weight)) = size {
        add(field, agreement, weight);
    }
    let total = fields.iter().map(|f| f.weight).sum::<f64>();
    Score {
        total: (total * 100.0).round() / 100.0,
        fields,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn person(given: &str, family: &str, sex: &str, born: &str) -> Profile {
        Profile {
            given_name: given.into(),
            family_name: family.into(),
            patronymic: None,
            sex: Some(sex.into()),
            birth: Birth {
                date: Some(born.parse().unwrap()),
                estimated_age: None,
                registered_on: "2023-09-26".parse().unwrap(),
            },
            document_number: None,
            phone: None,
            origin_settlement: Some("Ստեփանակերտ".into()),
            household_size: Some(4),
        }
    }

    #[test]
    fn the_same_person_registered_twice_in_two_scripts_is_a_candidate() {
        let w = Weights::default();
        let at_kornidzor = person("Անի", "Հովհաննիսյան", "female", "1985-03-02");
        let mut at_goris = person("Ani", "Hovhannisyan", "female", "1985-02-03");
        at_goris.origin_settlement = Some("Stepanakert".into());
        let s = score(&at_kornidzor, &at_goris, &w);
        assert!(s.is_candidate(&w), "{s:?}");
        let birth = s.fields.iter().find(|f| f.field == "birth").unwrap();
        assert_eq!(birth.agreement, "day_month_swapped");
        // Explained field by field, and the weights add up to the total.
        let sum: f64 = s.fields.iter().map(|f| f.weight).sum();
        assert!((sum - s.total).abs() < 0.01);
    }

    #[test]
    fn relatives_and_namesakes_are_not_candidates() {
        let w = Weights::default();
        let ani = person("Անի", "Հովհաննիսյան", "female", "1985-03-02");
        // Her brother, and her mother with another given name.
        let brother = person("Արամ", "Հովհաննիսյան", "male", "1988-07-14");
        let mother = person("Մարիամ", "Հովհաննիսյան", "female", "1960-01-20");
        // A namesake thirty years older.
        let namesake = person("Ani", "Hovhannisyan", "female", "1955-03-02");
        for other in [brother, mother, namesake] {
            let s = score(&ani, &other, &w);
            assert!(!s.is_candidate(&w), "{other:?}: {s:?}");
        }
    }

    #[test]
    fn phones_are_the_same_subscriber_whatever_prefix_was_written() {
        // As the score compared digit strings before they were reduced to
        // their last digits: one ends with the other's last 8 digits.
        let by_strings = |a: &str, b: &str| {
            let digits = |p: &str| p.chars().filter(char::is_ascii_digit).collect::<String>();
            let (x, y) = (digits(a), digits(b));
            x.ends_with(&y[y.len().saturating_sub(8)..])
                || y.ends_with(&x[x.len().saturating_sub(8)..])
        };
        let phones = [
            "+374 91 234567",
            "091234567",
            "91234567",
            "(091) 23-45-67",
            "234567",
            "1234567",
            "0234567",
            "+374 91 234568",
            "+7 912 345 67 89",
            "89123456789",
            "00234567",
        ];
        for a in phones {
            for b in phones {
                let (x, y) = (PhoneTail::of(a).unwrap(), PhoneTail::of(b).unwrap());
                assert_eq!(x.same(y), by_strings(a, b), "{a} ~ {b}");
            }
        }
        assert_eq!(PhoneTail::of("12-34-5"), None);
    }

    #[test]
    fn a_shared_document_number_is_strong_evidence() {
        let w = Weights::default();
        let mut a = person("Narek", "Petrosyan", "male", "1990-05-05");
        let mut b = person("Нарек", "Петросян", "male", "1991-01-01");
        a.document_number = Some("AR 1234567".into());
        b.document_number = Some("ar1234567".into());
        let s = score(&a, &b, &w);
        assert!(s.is_candidate(&w), "{s:?}");
        assert!(s
            .fields
            .iter()
            .any(|f| f.field == "document" && f.agreement == "same"));
    }
}
