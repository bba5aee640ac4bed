//! Request extractors that report bad input as problem+json naming the field.
//!
//! actix's own `Json` and `Query` extractors report every failure as a
//! plain-text 400 without saying which field was wrong. `JsonBody` answers
//! 415 for another media type, 413 past the body limit, 400 for a body that is
//! not JSON, and 422 naming the field (`members[2].sex`) for wrong types,
//! unknown fields or missing ones — always as problem+json. It keeps the
//! parsed document so that idempotency can fingerprint the request.

use actix_web::dev::Payload;
use actix_web::error::PayloadError;
use actix_web::{web, FromRequest, HttpMessage, HttpRequest};
use futures_util::future::LocalBoxFuture;
use serde::de::DeserializeOwned;

use crate::error::{ApiError, FieldError};
use crate::http::time;

/// The configured body limit, for the 413 message (actix's `PayloadConfig` enforces it).
#[derive(Debug, Clone, Copy)]
pub struct BodyLimit(pub usize);

const DEFAULT_BODY_LIMIT: usize = 262_144;

/// A JSON body parsed into `T`, with the JSON document it was read from.
pub struct JsonBody<T> {
    pub value: T,
    pub document: serde_json::Value,
}

impl<T: DeserializeOwned + 'static> FromRequest for JsonBody<T> {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let is_json = matches!(
            req.mime_type(),
            Ok(Some(mime)) if mime.type_() == "application"
                && (mime.subtype() == "json" || mime.suffix().is_some_and(|s| s == "json"))
        );
        let limit = req
            .app_data::<BodyLimit>()
            .map_or(DEFAULT_BODY_LIMIT, |l| l.0);
        let bytes = web::Bytes::from_request(req, payload);
        Box::pin(async move {
            if !is_json {
                return Err(ApiError::UnsupportedMediaType("application/json"));
            }
            let raw = bytes
                .await
                .map_err(|error| match error.as_error::<PayloadError>() {
                    Some(PayloadError::Overflow) => ApiError::PayloadTooLarge { limit },
                    _ => ApiError::MalformedBody("the body could not be read".into()),
                })?;
            let document = parse_document(&raw)?;
            let value = from_document(&document)?;
            Ok(JsonBody { value, document })
        })
    }
}

/// Query-string parameters parsed into `T`; a wrong one is a 400 naming it.
pub struct Query<T>(pub T);

impl<T: DeserializeOwned> FromRequest for Query<T> {
    type Error = ApiError;
    type Future = std::future::Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let deserializer = serde_urlencoded::Deserializer::new(form_urlencoded::parse(
            req.query_string().as_bytes(),
        ));
        if let Some((name, _)) = form_urlencoded::parse(req.query_string().as_bytes())
            .find(|(k, v)| k.contains('\0') || v.contains('\0'))
        {
            let name = name.replace('\0', "\\u0000");
            let message = "must not contain the NUL character (U+0000)";
            return std::future::ready(Err(ApiError::BadRequest {
                detail: format!("invalid query parameter {name}: {message}"),
                errors: vec![FieldError::new(name, "nul_character", message)],
            }));
        }
        let result = serde_path_to_error::deserialize(deserializer)
            .map(Query)
            .map_err(|error| {
                let field = error.path().to_string();
                let message = error.into_inner().to_string();
                let field = if field == "." {
                    "query".to_string()
                } else {
                    field
                };
                // Well-formed, but outside what the service accepts: 422 as in a body.
                if let Some(error) = time::out_of_range_error(&field, &message) {
                    return ApiError::Validation(vec![error]);
                }
                ApiError::BadRequest {
                    detail: format!("invalid query parameter {field}: {message}"),
                    errors: vec![FieldError::new(field, "invalid", message)],
                }
            });
        std::future::ready(result)
    }
}

/// Parses `bytes` as `T`, naming the offending field on failure.
pub fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    from_document(&parse_document(bytes)?)
}

/// Parses `bytes` as a JSON document; anything but well-formed JSON is a 400.
pub fn parse_document(bytes: &[u8]) -> Result<serde_json::Value, ApiError> {
    let mut document =
        serde_json::from_slice(bytes).map_err(|e| ApiError::MalformedBody(e.to_string()))?;
    integral_numbers_as_integers(&mut document);
    if let Some(field) = nul_character(&document, String::new()) {
        return Err(ApiError::Validation(vec![FieldError::new(
            field,
            "nul_character",
            "must not contain the NUL character (U+0000)",
        )]));
    }
    Ok(document)
}

/// The path (`members[1].given_name`) of the first string holding U+0000,
/// which no name or place contains and PostgreSQL cannot store in text: it is
/// refused for every field in one place rather than failing at the insert.
fn nul_character(value: &serde_json::Value, path: String) -> Option<String> {
    use serde_json::Value;
    match value {
        Value::String(text) => text.contains('\0').then_some(path),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .find_map(|(i, item)| nul_character(item, format!("{path}[{i}]"))),
        Value::Object(fields) => fields.iter().find_map(|(name, field)| {
            // A key holding it is named with the character escaped: the error
            // must not carry it either.
            let escaped = name.replace('\0', "\\u0000");
            let path = if path.is_empty() {
                escaped.clone()
            } else {
                format!("{path}.{escaped}")
            };
            if escaped != *name {
                return Some(path);
            }
            nul_character(field, path)
        }),
        Value::Null | Value::Bool(_) | Value::Number(_) => None,
    }
}

/// JSON (and the JSON Schema of openapi.yaml) counts `2.0` as the integer 2;
/// serde would refuse it where an integer is expected. Integral numbers are
/// made integers before the body is read (a float field reads an integer
/// just as well), so every client's spelling of a count means the same.
fn integral_numbers_as_integers(value: &mut serde_json::Value) {
    use serde_json::Value;
    /// Beyond 2^53 a float no longer holds every integer exactly.
    const EXACT: f64 = 9_007_199_254_740_992.0;
    match value {
        Value::Number(number) => {
            if let Some(float) = number.as_f64().filter(|_| number.is_f64()) {
                if float.fract() == 0.0 && float.abs() <= EXACT {
                    *value = Value::from(float as i64);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(integral_numbers_as_integers),
        Value::Object(fields) => fields.values_mut().for_each(integral_numbers_as_integers),
        Value::Null | Value::Bool(_) | Value::String(_) => {}
    }
}

/// Reads `T` from a parsed document; a wrong field is a 422 naming it.
pub fn from_document<T: DeserializeOwned>(document: &serde_json::Value) -> Result<T, ApiError> {
    serde_path_to_error::deserialize(document).map_err(|error| {
        let path = error.path().to_string();
        let field = if path == "." { String::new() } else { path };
        let message = strip_position(error.inner());
        let error = time::out_of_range_error(&field, &message)
            .unwrap_or_else(|| FieldError::new(field, "invalid_type", message));
        ApiError::Validation(vec![error])
    })
}

/// serde_json appends " at line L column C", which means nothing once the error names the field.
fn strip_position(error: &serde_json::Error) -> String {
    let text = error.to_string();
    match text.rfind(" at line ") {
        Some(at) => text[..at].to_string(),
        None => text,
    }
}

/// For optional fields that may be left out but are never null: absent is
/// `None`, a value is `Some`, and `null` is refused (serde alone would read
/// `null` as absent, which openapi.yaml does not allow).
/// Use with `#[serde(default, deserialize_with = "non_null")]`.
pub fn non_null<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::Deserialize<'de>,
{
    T::deserialize(deserializer).map(Some)
}

/// For PATCH bodies: tells "absent" (`None`) from "null" (`Some(None)`).
/// Use with `#[serde(default, deserialize_with = "nullable")]`.
pub fn nullable<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::Deserialize<'de>,
{
    use serde::Deserialize;
    Option::<T>::deserialize(deserializer).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Outer {
        members: Vec<Inner>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Inner {
        age: u8,
    }

    fn field_of(error: ApiError) -> String {
        match error {
            ApiError::Validation(errors) => errors[0].field.clone(),
            other => panic!("expected a validation error, got {other:?}"),
        }
    }

    #[test]
    fn wrong_type_names_the_nested_field() {
        let error = parse::<Outer>(br#"{"members":[{"age":1},{"age":"x"}]}"#).unwrap_err();
        assert_eq!(field_of(error), "members[1].age");
    }

    #[test]
    fn unknown_field_is_a_validation_error() {
        let error = parse::<Outer>(br#"{"members":[],"extra":1}"#).unwrap_err();
        assert!(matches!(error, ApiError::Validation(_)));
    }

    #[test]
    fn integral_numbers_are_integers() {
        let outer = parse::<Outer>(br#"{"members":[{"age":2.0},{"age":3e1}]}"#).unwrap();
        assert_eq!(
            outer.members.iter().map(|m| m.age).collect::<Vec<_>>(),
            [2, 30]
        );
        let error = parse::<Outer>(br#"{"members":[{"age":2.5}]}"#).unwrap_err();
        assert_eq!(field_of(error), "members[0].age");
    }

    #[test]
    fn a_nul_character_anywhere_is_refused_naming_the_field() {
        let error =
            parse::<Outer>(b"{\"members\":[{\"age\":1},{\"age\":\"a\\u0000\"}]}").unwrap_err();
        assert_eq!(field_of(error), "members[1].age");
        let error = parse::<Outer>(b"{\"a\\u0000b\":1}").unwrap_err();
        assert_eq!(field_of(error), "a\\u0000b");
    }

    #[test]
    fn syntax_errors_and_trailing_garbage_are_malformed() {
        assert!(matches!(
            parse::<Outer>(br#"{"members":["#),
            Err(ApiError::MalformedBody(_))
        ));
        assert!(matches!(
            parse::<Outer>(br#"{"members":[]} x"#),
            Err(ApiError::MalformedBody(_))
        ));
    }
}
