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

/// A record's names as the score compares them: the skeletons of their
/// words ([`names::skeletons`], the costly part of a score), derived once
/// per record rather than once per pair.
pub struct Compared<'a> {
    pub profile: &'a Profile,
    given: Vec<String>,
    family: Vec<String>,
    patronymic: Option<Vec<String>>,
    origin: Option<Vec<String>>,
}

impl<'a> Compared<'a> {
    pub fn new(profile: &'a Profile) -> Compared<'a> {
        Compared {
            profile,
            given: names::skeletons(&profile.given_name),
            family: names::skeletons(&profile.family_name),
            patronymic: profile.patronymic.as_deref().map(names::skeletons),
            origin: profile.origin_settlement.as_deref().map(names::skeletons),
        }
    }
}

/// A field's part: (field, agreement, weight).
type Part = (&'static str, &'static str, f64);

/// The parts of the fields compared without names: sex, birth, document,
/// phone and household size.
fn plain_parts(a: &Profile, b: &Profile, w: &Weights) -> [Option<Part>; 5] {
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
    let document = match (
        document_key(a.document_number.as_deref()),
        document_key(b.document_number.as_deref()),
    ) {
        (Some(x), Some(y)) if x == y => Some(("document", "same", w.document_same)),
        (Some(_), Some(_)) => Some(("document", "different", w.document_different)),
        _ => None,
    };
    let digits = |p: &Option<String>| {
        p.as_deref()
            .map(|p| p.chars().filter(char::is_ascii_digit).collect::<String>())
            .filter(|d| d.len() >= 6)
    };
    let phone = match (digits(&a.phone), digits(&b.phone)) {
        // The same subscriber number, whatever the prefix written.
        (Some(x), Some(y))
            if x.ends_with(&y[y.len().saturating_sub(8)..])
                || y.ends_with(&x[x.len().saturating_sub(8)..]) =>
        {
            Some(("phone", "same", w.phone_same))
        }
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
pub fn score_at_least(a: &Compared<'_>, b: &Profile, w: &Weights, at_least: f64) -> Option<Score> {
    let plain: f64 = plain_parts(a.profile, b, w)
        .iter()
        .flatten()
        .map(|(_, _, weight)| weight)
        .sum();
    let mut names = w.best_names();
    if a.profile.patronymic.is_some() && b.patronymic.is_some() {
        names += best_of(&[w.patronymic_same, w.patronymic_different]);
    }
    if a.profile.origin_settlement.is_some() && b.origin_settlement.is_some() {
        names += w.origin_same.max(0.0);
    }
    // (Totals are rounded to hundredths: a bound just under may round up.)
    if plain + names < at_least - 0.005 {
        return None;
    }
    let score = score_compared(a, &Compared::new(b), w);
    (score.total >= at_least).then_some(score)
}

/// Scores two records whose names are compared already.
fn score_compared(a: &Compared<'_>, b: &Compared<'_>, w: &Weights) -> Score {
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
    let [sex, birth, document, phone, size] = plain_parts(a.profile, b.profile, w);
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
