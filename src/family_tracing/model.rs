//! What a tracing request is: who looks for whom, and the rules a request
//! meets.

use chrono::{NaiveDate, Utc};
use serde::Deserialize;
use uuid::Uuid;
use validator::Validate;

use crate::error::{self, ApiError, FieldError};
use crate::http::time::Date;
use crate::registration::Sex;
use crate::validate::{person_name, place_name};

crate::stored_enum! {
    /// Who the sought person is to the enquirer.
    pub enum Kinship {
        Spouse = "spouse",
        Child = "child",
        Parent = "parent",
        Sibling = "sibling",
        Grandchild = "grandchild",
        Grandparent = "grandparent",
        OtherRelative = "other_relative",
    }
}

/// The relative sought, as an enquirer describes them.
#[derive(Debug, Deserialize, Validate)]
#[serde(deny_unknown_fields)]
pub struct NewSought {
    #[validate(custom(function = "person_name"))]
    pub given_name: String,
    #[validate(custom(function = "person_name"))]
    pub family_name: String,
    #[serde(default)]
    #[validate(custom(function = "person_name"))]
    pub patronymic: Option<String>,
    pub sex: Sex,
    #[serde(default)]
    pub birth_date: Option<Date>,
    /// Age in whole years as the enquirer remembers it: when last seen
    /// (`last_seen_on`), or today if that is not given.
    #[serde(default)]
    #[validate(range(min = 0, max = 120, message = "must be between 0 and 120"))]
    pub approximate_age: Option<i32>,
    #[serde(default)]
    #[validate(custom(function = "place_name"))]
    pub origin_settlement: Option<String>,
}

/// `POST /api/v1/tracing-requests` body.
#[derive(Debug, Deserialize, Validate)]
#[serde(deny_unknown_fields)]
pub struct NewRequest {
    #[serde(default)]
    pub id: Option<Uuid>,
    /// The registered person looking for a relative.
    pub enquirer_id: Uuid,
    pub relationship: Kinship,
    #[validate(nested)]
    pub sought: NewSought,
    #[serde(default)]
    #[validate(custom(function = "place_name"))]
    pub last_seen_place: Option<String>,
    #[serde(default)]
    pub last_seen_on: Option<Date>,
}

/// Checks a request: the field rules, then dates (not in the future) and a
/// birth date or an approximate age, not both.
pub fn validate_new(new: &NewRequest) -> Result<(), ApiError> {
    let mut errors: Vec<FieldError> = match new.validate() {
        Ok(()) => Vec::new(),
        Err(errors) => error::from_validation(&errors),
    };
    let today = Utc::now().date_naive();
    let birth_date: Option<NaiveDate> = new.sought.birth_date.map(Into::into);
    if birth_date.is_some_and(|d| d > today) {
        errors.push(FieldError::new(
            "sought.birth_date",
            "in_future",
            "must not be in the future",
        ));
    }
    if birth_date.is_some() && new.sought.approximate_age.is_some() {
        errors.push(FieldError::new(
            "sought.approximate_age",
            "exclusive",
            "give either birth_date or approximate_age, not both",
        ));
    }
    let last_seen: Option<NaiveDate> = new.last_seen_on.map(Into::into);
    if last_seen.is_some_and(|d| d > today) {
        errors.push(FieldError::new(
            "last_seen_on",
            "in_future",
            "must not be in the future",
        ));
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ApiError::Validation(errors))
    }
}
