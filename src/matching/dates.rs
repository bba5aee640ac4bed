//! Birth dates compared with the tolerance real registrations need: dates
//! are estimated, or written with day and month swapped, and some persons
//! only have an estimated age.

use chrono::{Datelike, NaiveDate};
use serde::Serialize;

/// What is known of a person's birth.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Birth {
    pub date: Option<NaiveDate>,
    pub estimated_age: Option<i32>,
    /// When the person was registered (an estimated age is as of then).
    pub registered_on: NaiveDate,
}

impl Birth {
    /// The birth year: the date's, or the one an estimated age gives.
    pub fn year(&self) -> Option<i32> {
        self.date.map(|d| d.year()).or_else(|| {
            self.estimated_age
                .map(|age| self.registered_on.year() - age)
        })
    }
}

/// How many years apart two birth years may be and still agree when one
/// side has only an estimated age (a guess of a stranger's age is rarely
/// closer).
pub const AGE_TOLERANCE: i32 = 3;

/// How well two births agree, strongest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BirthAgreement {
    /// The same date.
    Exact,
    /// The same date with day and month swapped (1985-03-02 and 1985-02-03).
    DayMonthSwapped,
    /// Dates less than a year apart, or the same day and month a year
    /// apart (a year mistyped by one).
    WithinYear,
    /// Birth years (from a date or an estimated age) at most
    /// [`AGE_TOLERANCE`] apart.
    EstimatedAge,
    /// Known on both sides, and further apart than that.
    Different,
    /// Unknown on at least one side.
    Unknown,
}

/// Compares two births.
pub fn compare(a: &Birth, b: &Birth) -> BirthAgreement {
    if let (Some(x), Some(y)) = (a.date, b.date) {
        if x == y {
            return BirthAgreement::Exact;
        }
        let swapped = NaiveDate::from_ymd_opt(x.year(), x.day(), x.month());
        if x.year() == y.year() && swapped == Some(y) {
            return BirthAgreement::DayMonthSwapped;
        }
        let year_typo =
            x.month() == y.month() && x.day() == y.day() && (x.year() - y.year()).abs() == 1;
        if (x - y).num_days().abs() < 365 || year_typo {
            return BirthAgreement::WithinYear;
        }
        return BirthAgreement::Different;
    }
    match (a.year(), b.year()) {
        (Some(x), Some(y)) if (x - y).abs() <= AGE_TOLERANCE => BirthAgreement::EstimatedAge,
        (Some(_), Some(_)) => BirthAgreement::Different,
        _ => BirthAgreement::Unknown,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn born(date: &str) -> Birth {
        Birth {
            date: Some(date.parse().unwrap()),
            estimated_age: None,
            registered_on: "2023-09-26".parse().unwrap(),
        }
    }

    fn aged(age: i32) -> Birth {
        Birth {
            date: None,
            estimated_age: Some(age),
            registered_on: "2023-09-26".parse().unwrap(),
        }
    }

    #[test]
    fn births_agree_at_the_tolerance_levels() {
        use BirthAgreement::*;
        assert_eq!(compare(&born("1985-03-02"), &born("1985-03-02")), Exact);
        assert_eq!(
            compare(&born("1985-03-02"), &born("1985-02-03")),
            DayMonthSwapped
        );
        assert_eq!(
            compare(&born("1985-03-02"), &born("1985-11-20")),
            WithinYear
        );
        assert_eq!(compare(&born("1985-03-02"), &born("1991-03-02")), Different);
        assert_eq!(compare(&born("1985-03-02"), &aged(40)), EstimatedAge);
        assert_eq!(compare(&aged(9), &aged(8)), EstimatedAge);
        assert_eq!(compare(&born("2015-01-01"), &aged(30)), Different);
        let unknown = Birth {
            date: None,
            estimated_age: None,
            registered_on: "2023-09-26".parse().unwrap(),
        };
        assert_eq!(compare(&born("1985-03-02"), &unknown), Unknown);
        // A swap that is no date (1985-02-30) is just another date.
        assert_eq!(
            compare(&born("1985-01-30"), &born("1985-01-31")),
            WithinYear
        );
    }
}
