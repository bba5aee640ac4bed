//! Versions as ETags: a versioned resource is sent with `ETag: "<version>"`,
//! and a correction must name the version it corrects in `If-Match`, so that
//! two desks correcting the same record cannot overwrite each other.

//!
//! This file knows headers, not the API's errors: a bad `If-Match` is an
//! [`IfMatchError`], which `error` turns into its problem (428 or 400), so
//! that `error` can use [`etag`] for the 412's `ETag` without a cycle.

use actix_web::http::header;
use actix_web::HttpRequest;

/// Why a correction's `If-Match` cannot be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IfMatchError {
    /// No `If-Match` header: 428.
    Missing,
    /// Not a version's ETag: 400 naming the header.
    Malformed,
}

/// The version named by the request's `If-Match`: `"3"` (a weak `W/"3"` or a
/// bare `3` is taken too). Missing is 428; anything else is 400.
pub fn expected_version(req: &HttpRequest) -> Result<i32, IfMatchError> {
    let value = req
        .headers()
        .get(header::IF_MATCH)
        .ok_or(IfMatchError::Missing)?;
    value
        .to_str()
        .ok()
        .and_then(parse)
        .ok_or(IfMatchError::Malformed)
}

/// `W/`, then up to 9 digits, optionally quoted: the pattern openapi.yaml gives.
fn parse(value: &str) -> Option<i32> {
    let value = value.strip_prefix("W/").unwrap_or(value);
    let value = value.strip_prefix('"').unwrap_or(value);
    let value = value.strip_suffix('"').unwrap_or(value);
    if (1..=9).contains(&value.len()) && value.bytes().all(|b| b.is_ascii_digit()) {
        value.parse().ok()
    } else {
        None
    }
}

/// The `ETag` header value for a version.
pub fn etag(version: i32) -> String {
    format!("\"{version}\"")
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn if_match_takes_the_version_in_its_usual_spellings_only() {
        assert_eq!(parse("\"3\""), Some(3));
        assert_eq!(parse("W/\"12\""), Some(12));
        assert_eq!(parse("7"), Some(7));
        for bad in [
            "",
            "\"\"",
            "\"+3\"",
            " \"3\"",
            "\"3\" ",
            "\"1234567890\"",
            "*",
            "\"-1\"",
        ] {
            assert_eq!(parse(bad), None, "{bad:?}");
        }
    }
}
