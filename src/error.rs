//! One error type for the whole API, rendered as `application/problem+json`
//! (RFC 9457) with a stable `type` URI, and the offending fields for
//! validation problems.
//!
//! Causes of server-side failures are logged once, here, and never sent to the
//! client. Nothing logged here carries request data, so no personal data can
//! reach the logs through an error.

use std::fmt;

use actix_web::http::{header, StatusCode};
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;

/// Media type of every error body.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// Prefix of every problem `type`: `urn:refuge:problem:<code>`.
pub const PROBLEM_TYPE_PREFIX: &str = "urn:refuge:problem:";

/// One offending field: where (`members[1].birth_date`), a stable code, and a sentence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    pub field: String,
    pub code: String,
    pub message: String,
}

impl FieldError {
    pub fn new(
        field: impl Into<String>,
        code: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        FieldError {
            field: field.into(),
            code: code.into(),
            message: message.into(),
        }
    }
}

/// One problem in an import file: the physical line (1 is the header), the
/// CSV column (None for the whole row), a stable code and a sentence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RowError {
    pub line: u64,
    pub column: Option<String>,
    pub code: String,
    pub message: String,
}

/// What an invalid import file gets back: the first errors by line, how
/// many there are in all, and how many data rows the file has.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportErrors {
    pub errors: Vec<RowError>,
    pub error_count: usize,
    pub rows: u64,
}

/// Every way a request can fail.
#[derive(Debug)]
pub enum ApiError {
    /// 400: the body is not JSON at all (syntax error, truncated).
    MalformedBody(String),
    /// 400: a query, path or header parameter is wrong.
    BadRequest {
        detail: String,
        errors: Vec<FieldError>,
    },
    /// 401: no token, or a token that is invalid or expired. `invalid_token`
    /// tells the client (via WWW-Authenticate) that a token was sent but refused.
    Unauthorized {
        detail: &'static str,
        invalid_token: bool,
    },
    /// 401: a token that was valid, but has been revoked (logout, or the
    /// account was disabled, changed or had its password reset).
    TokenRevoked,
    /// 403: authenticated, but the role or center scope does not allow this.
    Forbidden(String),
    /// 403: the account holds a temporary password; only changing it
    /// (`POST /api/v1/me/password`), `GET /api/v1/me` and logout are allowed.
    PasswordChangeRequired,
    /// 404: no such resource (or route).
    NotFound(String),
    /// 405: the route exists, the method does not; `allow` lists the methods it has.
    MethodNotAllowed { allow: String },
    /// 409: the request conflicts with stored state; `code` names the conflict.
    Conflict { code: &'static str, detail: String },
    /// 409: a distribution beyond (or outside) the household's entitlement;
    /// `entitlement` says what it was entitled to and already received.
    EntitlementRefused {
        code: &'static str,
        detail: String,
        entitlement: serde_json::Value,
    },
    /// 412: `If-Match` names a version that is no longer current.
    PreconditionFailed { current_version: i32 },
    /// 413: the body is larger than the configured limit.
    PayloadTooLarge { limit: usize },
    /// 415: the body is not of the media type the operation takes (named here,
    /// e.g. `application/json`).
    UnsupportedMediaType(&'static str),
    /// 422: the body is JSON but its content is invalid.
    Validation(Vec<FieldError>),
    /// 422: an idempotency key was reused for a different request.
    IdempotencyKeyReused,
    /// 422: an import file has invalid rows; nothing was imported.
    ImportInvalid(Box<ImportErrors>),
    /// 428: a conditional request is required (`If-Match`).
    PreconditionRequired,
    /// 429: too many failed logins; try again after `retry_after_seconds`.
    LoginThrottled { retry_after_seconds: u64 },
    /// 503: the database is unreachable or the pool is exhausted.
    Unavailable(String),
    /// 500: a bug or an unexpected failure; the cause is logged, not sent.
    Internal(String),
}

impl ApiError {
    /// A 500 whose cause is logged when the response is rendered.
    pub fn internal(cause: impl fmt::Display) -> ApiError {
        ApiError::Internal(cause.to_string())
    }

    /// A 503 for a database that cannot be reached right now.
    pub fn unavailable(cause: impl fmt::Display) -> ApiError {
        ApiError::Unavailable(cause.to_string())
    }

    /// A 422 naming a single field.
    pub fn invalid(
        field: impl Into<String>,
        code: impl Into<String>,
        message: impl Into<String>,
    ) -> ApiError {
        ApiError::Validation(vec![FieldError::new(field, code, message)])
    }

    /// A 400 naming a single query, path or header parameter.
    pub fn bad_parameter(field: impl Into<String>, message: impl Into<String>) -> ApiError {
        let message = message.into();
        ApiError::BadRequest {
            detail: format!("invalid parameter: {message}"),
            errors: vec![FieldError::new(field, "invalid", message)],
        }
    }

    fn code(&self) -> &'static str {
        match self {
            ApiError::MalformedBody(_) => "malformed-body",
            ApiError::BadRequest { .. } => "bad-request",
            ApiError::Unauthorized { .. } => "unauthorized",
            ApiError::TokenRevoked => "token-revoked",
            ApiError::Forbidden(_) => "forbidden",
            ApiError::PasswordChangeRequired => "password-change-required",
            ApiError::LoginThrottled { .. } => "login-throttled",
            ApiError::NotFound(_) => "not-found",
            ApiError::MethodNotAllowed { .. } => "method-not-allowed",
            ApiError::Conflict { code, .. } | ApiError::EntitlementRefused { code, .. } => code,
            ApiError::PreconditionFailed { .. } => "precondition-failed",
            ApiError::PayloadTooLarge { .. } => "payload-too-large",
            ApiError::UnsupportedMediaType(_) => "unsupported-media-type",
            ApiError::Validation(_) => "validation-failed",
            ApiError::IdempotencyKeyReused => "idempotency-key-reused",
            ApiError::ImportInvalid(_) => "import-invalid",
            ApiError::PreconditionRequired => "precondition-required",
            ApiError::Unavailable(_) => "service-unavailable",
            ApiError::Internal(_) => "internal-error",
        }
    }

    fn title(&self) -> &'static str {
        match self {
            ApiError::MalformedBody(_) => "Malformed request body",
            ApiError::BadRequest { .. } => "Bad request",
            ApiError::Unauthorized { .. } => "Authentication required",
            ApiError::TokenRevoked => "Token revoked",
            ApiError::Forbidden(_) => "Not allowed",
            ApiError::PasswordChangeRequired => "Password change required",
            ApiError::LoginThrottled { .. } => "Too many failed logins",
            ApiError::NotFound(_) => "Not found",
            ApiError::MethodNotAllowed { .. } => "Method not allowed",
            ApiError::Conflict { .. } => "Conflict",
            ApiError::EntitlementRefused { .. } => "Beyond the entitlement",
            ApiError::PreconditionFailed { .. } => "Version mismatch",
            ApiError::PayloadTooLarge { .. } => "Request body too large",
            ApiError::UnsupportedMediaType(_) => "Unsupported media type",
            ApiError::Validation(_) => "Invalid request",
            ApiError::IdempotencyKeyReused => "Idempotency key reused",
            ApiError::ImportInvalid(_) => "Invalid import file",
            ApiError::PreconditionRequired => "Precondition required",
            ApiError::Unavailable(_) => "Service unavailable",
            ApiError::Internal(_) => "Internal error",
        }
    }

    fn detail(&self) -> String {
        match self {
            ApiError::MalformedBody(detail) => format!("the body is not valid JSON: {detail}"),
            ApiError::BadRequest { detail, .. } => detail.clone(),
            ApiError::Unauthorized { detail, .. } => detail.to_string(),
            ApiError::Forbidden(detail) | ApiError::NotFound(detail) => detail.clone(),
            ApiError::TokenRevoked => {
                "this token was revoked (logout, or a change to the account); log in again".into()
            }
            ApiError::PasswordChangeRequired => "this account has a temporary password: \
                change it with POST /api/v1/me/password before doing anything else"
                .into(),
            ApiError::LoginThrottled {
                retry_after_seconds,
            } => format!(
                "too many failed logins for this username or from this address; \
                 try again in {retry_after_seconds} s"
            ),
            ApiError::MethodNotAllowed { allow } => {
                format!("this resource does not support that method; it allows {allow}")
            }
            ApiError::Conflict { detail, .. } | ApiError::EntitlementRefused { detail, .. } => {
                detail.clone()
            }
            ApiError::PreconditionFailed { current_version } => format!(
                "the resource was changed by someone else; its current version is {current_version}: \
                 fetch it again, reapply the correction and send If-Match: \"{current_version}\""
            ),
            ApiError::PayloadTooLarge { limit } => format!("the body exceeds the limit of {limit} bytes"),
            ApiError::UnsupportedMediaType(expected) => format!("send the body as {expected}"),
            ApiError::Validation(errors) => match errors.len() {
                1 => format!("{}: {}", errors[0].field, errors[0].message),
                n => format!("{n} fields are invalid; see errors"),
            },
            ApiError::ImportInvalid(report) => match report.errors.first() {
                Some(first) if report.error_count == 1 => format!(
                    "line {}{}: {}; nothing was imported",
                    first.line,
                    first.column.as_ref().map(|c| format!(", column {c}")).unwrap_or_default(),
                    first.message
                ),
                _ => format!(
                    "{} errors in the file (the first {} by line are listed); nothing was imported",
                    report.error_count,
                    report.errors.len()
                ),
            },
            ApiError::IdempotencyKeyReused => "this Idempotency-Key was already used for a different request; \
                 a retry must repeat the original request exactly, and a new request needs a new key"
                .into(),
            ApiError::PreconditionRequired => {
                "send If-Match with the ETag from your last read, so that concurrent corrections are not lost"
                    .into()
            }
            ApiError::Unavailable(_) => "the database is not reachable right now; retry shortly".into(),
            ApiError::Internal(_) => "an unexpected error occurred; it has been logged".into(),
        }
    }

    fn errors(&self) -> Option<ProblemErrors<'_>> {
        match self {
            ApiError::Validation(errors) => Some(ProblemErrors::Fields(errors)),
            ApiError::BadRequest { errors, .. } if !errors.is_empty() => {
                Some(ProblemErrors::Fields(errors))
            }
            ApiError::ImportInvalid(report) => Some(ProblemErrors::Rows(&report.errors)),
            _ => None,
        }
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.title(), self.detail())
    }
}

impl std::error::Error for ApiError {}

impl From<crate::http::etag::IfMatchError> for ApiError {
    fn from(error: crate::http::etag::IfMatchError) -> ApiError {
        match error {
            crate::http::etag::IfMatchError::Missing => ApiError::PreconditionRequired,
            crate::http::etag::IfMatchError::Malformed => {
                ApiError::bad_parameter("If-Match", "the ETag from your last read, e.g. \"3\"")
            }
        }
    }
}

impl From<diesel::result::Error> for ApiError {
    fn from(error: diesel::result::Error) -> ApiError {
        use diesel::result::{DatabaseErrorKind, Error};
        match &error {
            // PostgreSQL resolved a conflict between concurrent transactions by
            // failing this one (40001, or 40P01 "deadlock detected"): nothing
            // was written and the same request can simply be sent again.
            Error::DatabaseError(DatabaseErrorKind::SerializationFailure, _) => {
                ApiError::unavailable("a concurrent write conflicted with this one; retry")
            }
            Error::DatabaseError(_, info) if info.message().starts_with("deadlock detected") => {
                ApiError::unavailable("a concurrent write conflicted with this one; retry")
            }
            // A constraint that the query's own code did not map to a precise
            // error (see `db::unique_violation`): still the request's doing,
            // e.g. a client-chosen id that another record already has.
            Error::DatabaseError(DatabaseErrorKind::UniqueViolation, info) => {
                tracing::info!(constraint = info.constraint_name(), "unique violation");
                ApiError::Conflict {
                    code: "already-exists",
                    detail: "a record with the same id or key already exists".into(),
                }
            }
            Error::DatabaseError(DatabaseErrorKind::ForeignKeyViolation, info) => {
                tracing::info!(constraint = info.constraint_name(), "foreign key violation");
                ApiError::Validation(vec![FieldError::new(
                    "",
                    "unknown",
                    "refers to a record that does not exist",
                )])
            }
            // diesel's Display shows the database's message, never the bound values.
            _ => ApiError::internal(error),
        }
    }
}

/// The `errors` of a problem: offending fields of a request, or offending
/// lines of an import file.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum ProblemErrors<'a> {
    Fields(&'a [FieldError]),
    Rows(&'a [RowError]),
}

/// The problem document sent for every error.
#[derive(Debug, Serialize)]
pub struct Problem<'a> {
    #[serde(rename = "type")]
    pub kind: String,
    pub title: &'a str,
    pub status: u16,
    pub detail: String,
    pub code: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errors: Option<ProblemErrors<'a>>,
    /// For `import-invalid`: how many errors the file has (only the first
    /// 1,000 by line are in `errors`) and how many data rows it has.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_count: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rows: Option<u64>,
    /// For `entitlement-exceeded` and `not-entitled`: the rule, what it
    /// allows in the period and what the household already received.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub entitlement: Option<&'a serde_json::Value>,
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::MalformedBody(_) | ApiError::BadRequest { .. } => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized { .. } | ApiError::TokenRevoked => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) | ApiError::PasswordChangeRequired => StatusCode::FORBIDDEN,
            ApiError::LoginThrottled { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Conflict { .. } | ApiError::EntitlementRefused { .. } => StatusCode::CONFLICT,
            ApiError::PreconditionFailed { .. } => StatusCode::PRECONDITION_FAILED,
            ApiError::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::Validation(_)
            | ApiError::IdempotencyKeyReused
            | ApiError::ImportInvalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::PreconditionRequired => StatusCode::PRECONDITION_REQUIRED,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        match self {
            ApiError::Internal(cause) => tracing::error!(%cause, "request failed"),
            ApiError::Unavailable(cause) => tracing::warn!(%cause, "database unavailable"),
            _ => {}
        }
        let status = self.status_code();
        let code = self.code();
        let problem = Problem {
            kind: format!("{PROBLEM_TYPE_PREFIX}{code}"),
            title: self.title(),
            status: status.as_u16(),
            detail: self.detail(),
            code,
            errors: self.errors(),
            error_count: match &self {
                ApiError::ImportInvalid(report) => Some(report.error_count),
                _ => None,
            },
            rows: match &self {
                ApiError::ImportInvalid(report) => Some(report.rows),
                _ => None,
            },
            entitlement: match &self {
                ApiError::EntitlementRefused { entitlement, .. } => Some(entitlement),
                _ => None,
            },
        };
        let mut response = HttpResponse::build(status);
        response.insert_header((header::CONTENT_TYPE, PROBLEM_JSON));
        match self {
            ApiError::Unauthorized {
                invalid_token: true,
                ..
            } => {
                response.insert_header((
                    header::WWW_AUTHENTICATE,
                    r#"Bearer realm="refuge", error="invalid_token""#,
                ));
            }
            ApiError::Unauthorized { .. } => {
                response.insert_header((header::WWW_AUTHENTICATE, r#"Bearer realm="refuge""#));
            }
            ApiError::TokenRevoked => {
                response.insert_header((
                    header::WWW_AUTHENTICATE,
                    r#"Bearer realm="refuge", error="invalid_token", error_description="revoked""#,
                ));
            }
            ApiError::LoginThrottled {
                retry_after_seconds,
            } => {
                response.insert_header((header::RETRY_AFTER, retry_after_seconds.to_string()));
            }
            ApiError::PreconditionFailed { current_version } => {
                response.insert_header((header::ETAG, crate::http::etag::etag(*current_version)));
            }
            ApiError::MethodNotAllowed { allow } => {
                response.insert_header((header::ALLOW, allow.as_str()));
            }
            ApiError::Unavailable(_) => {
                response.insert_header((header::RETRY_AFTER, "5"));
            }
            _ => {}
        }
        response.body(serde_json::to_string(&problem).expect("a problem always serializes"))
    }
}

/// Flattens the validator crate's nested errors into `members[1].birth_date`-style paths.
pub fn from_validation(errors: &validator::ValidationErrors) -> Vec<FieldError> {
    let mut out = Vec::new();
    collect_validation(errors, "", &mut out);
    out.sort_by(|a, b| a.field.cmp(&b.field).then(a.code.cmp(&b.code)));
    out
}

fn collect_validation(
    errors: &validator::ValidationErrors,
    prefix: &str,
    out: &mut Vec<FieldError>,
) {
    use validator::ValidationErrorsKind;
    for (field, kind) in errors.errors() {
        let path = if prefix.is_empty() {
            field.to_string()
        } else {
            format!("{prefix}.{field}")
        };
        match kind {
            ValidationErrorsKind::Field(list) => {
                for error in list {
                    let message = error
                        .message
                        .as_ref()
                        .map(|m| m.to_string())
                        .unwrap_or_else(|| default_message(error));
                    out.push(FieldError::new(
                        path.clone(),
                        error.code.to_string(),
                        message,
                    ));
                }
            }
            ValidationErrorsKind::Struct(inner) => collect_validation(inner, &path, out),
            ValidationErrorsKind::List(items) => {
                for (index, inner) in items {
                    collect_validation(inner, &format!("{path}[{index}]"), out);
                }
            }
        }
    }
}

fn default_message(error: &validator::ValidationError) -> String {
    let param = |name: &str| error.params.get(name).map(|v| v.to_string());
    match error.code.as_ref() {
        "length" => match (param("min"), param("max")) {
            (Some(min), Some(max)) => format!("length must be between {min} and {max}"),
            (Some(min), None) => format!("length must be at least {min}"),
            (None, Some(max)) => format!("length must be at most {max}"),
            _ => "invalid length".into(),
        },
        "range" => match (param("min"), param("max")) {
            (Some(min), Some(max)) => format!("must be between {min} and {max}"),
            _ => "out of range".into(),
        },
        code => format!("invalid ({code})"),
    }
}
