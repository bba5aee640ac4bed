//! Field rules shared by several domains (centers, organizations, sites,
//! items): codes, names and provinces are checked the same way everywhere.
//! Each adds a [`FieldError`] naming the field to the request's list, so a
//! request hears about every bad field at once.

use crate::error::FieldError;
use crate::provinces::Provinces;

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
