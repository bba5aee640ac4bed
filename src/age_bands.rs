//! The age bands every statistic and report uses (0-4, 5-11, 12-17, 18-59,
//! 60+), the breakdown humanitarian dashboards and the 2023 government
//! briefings share. A person's band is their age on the day they arrived.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

/// An age band; `Unknown` when neither a birth date nor an estimated age was recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum AgeBand {
    #[serde(rename = "0-4")]
    Under5,
    #[serde(rename = "5-11")]
    From5To11,
    #[serde(rename = "12-17")]
    From12To17,
    #[serde(rename = "18-59")]
    From18To59,
    #[serde(rename = "60+")]
    From60,
    #[serde(rename = "unknown")]
    Unknown,
}

impl AgeBand {
    /// Every band, youngest first, `Unknown` last.
    pub const ALL: [AgeBand; 6] = [
        AgeBand::Under5,
        AgeBand::From5To11,
        AgeBand::From12To17,
        AgeBand::From18To59,
        AgeBand::From60,
        AgeBand::Unknown,
    ];

    /// The band of an age in whole years.
    pub fn of_age(age: i32) -> AgeBand {
        match age {
            i32::MIN..=4 => AgeBand::Under5,
            5..=11 => AgeBand::From5To11,
            12..=17 => AgeBand::From12To17,
            18..=59 => AgeBand::From18To59,
            _ => AgeBand::From60,
        }
    }

    /// The band of a person on `on` (their arrival date): from the birth date
    /// when known, else from the estimated age.
    pub fn of_person(
        birth_date: Option<NaiveDate>,
        estimated_age: Option<i32>,
        on: NaiveDate,
    ) -> AgeBand {
        match (birth_date, estimated_age) {
            (Some(born), _) => AgeBand::of_age(on.years_since(born).map_or(0, |y| y as i32)),
            (None, Some(age)) => AgeBand::of_age(age),
            (None, None) => AgeBand::Unknown,
        }
    }

    /// The label used in the API and reports (`"0-4"`, ..., `"60+"`, `"unknown"`).
    pub fn label(self) -> &'static str {
        match self {
            AgeBand::Under5 => "0-4",
            AgeBand::From5To11 => "5-11",
            AgeBand::From12To17 => "12-17",
            AgeBand::From18To59 => "18-59",
            AgeBand::From60 => "60+",
            AgeBand::Unknown => "unknown",
        }
    }

    /// The band with this label.
    pub fn from_label(label: &str) -> Option<AgeBand> {
        AgeBand::ALL.into_iter().find(|band| band.label() == label)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bands_have_inclusive_bounds() {
        assert_eq!(AgeBand::of_age(0), AgeBand::Under5);
        assert_eq!(AgeBand::of_age(4), AgeBand::Under5);
        assert_eq!(AgeBand::of_age(5), AgeBand::From5To11);
        assert_eq!(AgeBand::of_age(17), AgeBand::From12To17);
        assert_eq!(AgeBand::of_age(18), AgeBand::From18To59);
        assert_eq!(AgeBand::of_age(59), AgeBand::From18To59);
        assert_eq!(AgeBand::of_age(60), AgeBand::From60);
    }

    #[test]
    fn age_is_counted_on_the_arrival_date() {
        let born = NaiveDate::from_ymd_opt(2018, 9, 27).unwrap();
        let before_birthday = NaiveDate::from_ymd_opt(2023, 9, 26).unwrap();
        let birthday = NaiveDate::from_ymd_opt(2023, 9, 27).unwrap();
        assert_eq!(
            AgeBand::of_person(Some(born), None, before_birthday),
            AgeBand::Under5
        );
        assert_eq!(
            AgeBand::of_person(Some(born), None, birthday),
            AgeBand::From5To11
        );
        assert_eq!(AgeBand::of_person(None, None, birthday), AgeBand::Unknown);
        for band in AgeBand::ALL {
            assert_eq!(AgeBand::from_label(band.label()), Some(band));
        }
    }
}
