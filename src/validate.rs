//! Field rules shared by several domains (centers, organizations, sites,
//! items, registrations, tracing requests): codes, names, places and
//! provinces are checked the same way everywhere.
//! Each adds a [`FieldError`] naming the field to the request's list, so a
//! request hears about every bad field at once.

use validator::ValidationError;

use crate::error::{ApiError, FieldError};
use crate::provinces::Provinces;

/// Text a person types (a name, a place, a reason, a contact): 1 to `max`
/// characters, not only spaces, no control characters.
pub fn is_text(value: &str, max: usize) -> bool {
    !value.trim().is_empty() && value.chars().count() <= max && !value.chars().any(char::is_control)
}

/// The reason a reviewer gives for a decision (duplicates, tracing
/// matches): [`is_text`] of at most 500 characters, else 422 naming it.
pub fn check_reason(reason: &str) -> Result<(), ApiError> {
    if is_text(reason, 500) {
        Ok(())
    } else {
        Err(ApiError::invalid(
            "reason",
            "invalid_reason",
            "1 to 500 characters, not only spaces, no control characters",
        ))
    }
}

/// A person's name as entered (any script): 1 to 100 characters, not only
/// spaces, no control characters. For `#[validate(custom(...))]`.
pub fn person_name(name: &str) -> Result<(), ValidationError> {
    if !is_text(name, 100) {
        return Err(ValidationError::new("invalid_name")
            .with_message("1 to 100 characters, not only spaces, no control characters".into()));
    }
    Ok(())
}

/// A place (a settlement, where someone was last seen): 1 to 200
/// characters, not only spaces, no control characters.
pub fn place_name(name: &str) -> Result<(), ValidationError> {
    if !is_text(name, 200) {
        return Err(ValidationError::new("invalid_place")
            .with_message("1 to 200 characters, not only spaces, no control characters".into()));
    }
    Ok(())
}

/// A short code (`GORIS`, `UNHCR`): 2 to 32 of A-Z, 0-9, `_` and `-`.
pub fn check_code(code: &str, errors: &mut Vec<FieldError>) {
    let ok = (2..=32).contains(&code.len())
        && code
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
    if !ok {
        errors.push(FieldError::new(
            "code",
            "invalid",
            "2 to 32 characters: A-Z, 0-9, '_' or '-' (e.g. GORIS, UNHCR)",
        ));
    }
}

/// A display name: 1 to 200 characters, not only spaces.
pub fn check_name(name: &str, errors: &mut Vec<FieldError>) {
    if name.trim().is_empty() || name.chars().count() > 200 {
        errors.push(FieldError::new(
            "name",
            "length",
            "1 to 200 characters, not only spaces",
        ));
    }
}

/// One of the configured provinces.
pub fn check_province(province: &str, provinces: &Provinces, errors: &mut Vec<FieldError>) {
    if !provinces.contains(province) {
        errors.push(FieldError::new("province", "unknown", provinces.expected()));
    }
}
