//! Idempotent writes: a retried request gets the original response and never
//! a second record, even when the retry races the original. Every POST that
//! creates something goes through [`create`]; a client-chosen id that is
//! taken by another request is refused by [`id_taken`].
//!
//! The stored outcome is written in the same transaction as the work it
//! describes, so one cannot exist without the other. A retry — concurrent with
//! the original or long after it — does the work again, but cannot commit it:
//! its insert of the key (or of a client-chosen id) hits a unique constraint
//! (on PostgreSQL after waiting for the original's transaction to end), which
//! rolls back everything the retry wrote; the retry then gets the response the
//! original stored.

use actix_web::http::{header, StatusCode};
use actix_web::{HttpRequest, HttpResponse};
use diesel::prelude::*;
use sha2::{Digest, Sha256};

use serde::Serialize;
use uuid::Uuid;

use super::time;
use crate::auth::Caller;
use crate::db::audit::{Actor, Event};
use crate::db::{Db, DbConnection, Unit};
use crate::error::ApiError;
use crate::schema::idempotency_keys;

/// Header a client sends to make a POST safely retryable.
pub const HEADER: &str = "Idempotency-Key";

/// Where an idempotency key lives: per user for explicit keys (clients choose
/// them independently), global for client-chosen resource ids.
#[derive(Debug, Clone)]
struct Key {
    scope: String,
    key: String,
}

impl Key {
    /// The caller's `Idempotency-Key` header, if sent: 1 to 255 visible ASCII characters.
    fn from_header(req: &HttpRequest, caller: &Caller) -> Result<Option<Key>, ApiError> {
        let Some(value) = req.headers().get(HEADER) else {
            return Ok(None);
        };
        let key = value
            .to_str()
            .ok()
            .filter(|k| !k.is_empty() && k.len() <= 255 && k.bytes().all(|b| b.is_ascii_graphic()))
            .ok_or_else(|| {
                ApiError::bad_parameter(HEADER, "1 to 255 visible ASCII characters, e.g. a UUID")
            })?;
        Ok(Some(Key {
            scope: format!("user:{}", caller.user_id),
            key: key.to_string(),
        }))
    }

    /// The keys guarding a create request: the caller's `Idempotency-Key`
    /// header, if sent, and the resource's id, if the client chose it.
    fn for_create(
        req: &HttpRequest,
        caller: &Caller,
        client_id: ClientId,
    ) -> Result<Vec<Key>, ApiError> {
        let mut keys = Vec::new();
        keys.extend(Key::from_header(req, caller)?);
        keys.extend(client_id.id.map(|id| Key::for_resource(client_id.kind, id)));
        Ok(keys)
    }

    /// The implicit key of a resource whose id the client chose.
    fn for_resource(kind: &str, id: Uuid) -> Key {
        Key {
            scope: "resource".into(),
            key: format!("{kind}:{id}"),
        }
    }
}

/// Identifies a request: method, path and the body with insignificant
/// whitespace and key order removed, so a byte-different retry of the same
/// request still matches.
fn fingerprint(req: &HttpRequest, canonical: &serde_json::Value) -> Result<String, ApiError> {
    let mut hasher = Sha256::new();
    hasher.update(req.method().as_str());
    hasher.update(b"\n");
    hasher.update(req.path());
    hasher.update(b"\n");
    hasher.update(serde_json::to_vec(canonical).map_err(ApiError::internal)?);
    Ok(hex::encode(hasher.finalize()))
}

/// What a write made: the resource to send back, where it lives, and its
/// version if it has one. [`create`] answers 201 with it unless told
/// otherwise ([`Created::status`]).
#[derive(Debug)]
pub struct Created<T> {
    body: T,
    location: String,
    version: Option<i32>,
    status: StatusCode,
}

impl<T> Created<T> {
    /// A new resource at `location` (an API path, sent as `Location`).
    pub fn new(body: T, location: impl Into<String>) -> Created<T> {
        Created {
            body,
            location: location.into(),
            version: None,
            status: StatusCode::CREATED,
        }
    }

    /// A versioned resource: its version goes out as the `ETag`.
    pub fn versioned(mut self, version: i32) -> Created<T> {
        self.version = Some(version);
        self
    }

    /// Answers `status` instead of 201 (a state change such as a checkout).
    pub fn status(mut self, status: StatusCode) -> Created<T> {
        self.status = status;
        self
    }
}

/// The id a client chose for the resource it creates, if it chose one: the
/// resource's implicit idempotency key, so that resending the same create
/// without an `Idempotency-Key` still replays.
#[derive(Debug, Clone, Copy)]
pub struct ClientId {
    kind: &'static str,
    id: Option<Uuid>,
}

impl ClientId {
    /// The id (if any) of a `kind` resource (`"household"`, `"trip"`...).
    pub fn of(kind: &'static str, id: Option<Uuid>) -> ClientId {
        ClientId { kind, id }
    }

    /// The request creates nothing with an id of the client's choosing.
    pub fn none() -> ClientId {
        ClientId { kind: "", id: None }
    }
}

/// Runs a create (or another retryable POST) idempotently and answers it:
/// `work` runs in one write transaction together with storing its response
/// under the request's keys (the `Idempotency-Key` header, if sent, and the
/// client-chosen id, if any). A retry of the same request gets the stored
/// response again, marked `Idempotent-Replayed: true`; a key reused for a
/// different request is 422.
pub async fn create<T, F>(
    db: &Db,
    req: &HttpRequest,
    caller: &Caller,
    document: &serde_json::Value,
    client_id: ClientId,
    work: F,
) -> Result<HttpResponse, ApiError>
where
    T: Serialize,
    F: FnOnce(&mut Unit<'_>) -> Result<Created<T>, ApiError> + Send + 'static,
{
    let keys = Key::for_create(req, caller, client_id)?;
    let request_hash = fingerprint(req, document)?;
    let actor = caller.actor();
    let (stored, replayed) = run(db, &actor, keys, request_hash, move |conn| {
        let created = work(conn)?;
        Ok(Stored {
            status: created.status.as_u16(),
            body: serde_json::to_string(&created.body).map_err(ApiError::internal)?,
            location: created.location,
            version: created.version,
        })
    })
    .await?;
    if replayed {
        // A replay sends the stored response again: a read of what it holds.
        db.record(
            &actor,
            vec![Event::new("request.replayed").resource("response", &stored.location)],
        )
        .await?;
    }
    Ok(stored.respond(replayed))
}

/// The 409 for a client-chosen id that another request already used: the
/// same id with a different body is not a retry, so it is refused rather
/// than replayed. `code` is the problem's code (`"household-exists"`).
pub fn id_taken(code: &'static str, what: &str, id: Uuid) -> ApiError {
    ApiError::Conflict {
        code,
        detail: format!("a {what} with id {id} already exists (and this is not a retry of it)"),
    }
}

/// A response worth replaying, as stored with its keys.
#[derive(Debug, Clone)]
struct Stored {
    status: u16,
    /// JSON.
    body: String,
    /// API path of the created or changed resource (sent as Location).
    location: String,
    /// Version of a versioned resource, sent as its ETag.
    version: Option<i32>,
}

impl Stored {
    /// Renders the response; `replayed` marks it with `Idempotent-Replayed: true`.
    fn respond(&self, replayed: bool) -> HttpResponse {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::OK);
        let mut response = HttpResponse::build(status);
        response
            .content_type("application/json")
            .insert_header((header::LOCATION, self.location.clone()));
        if let Some(version) = self.version {
            response.insert_header((header::ETAG, super::etag::etag(version)));
        }
        if replayed {
            response.insert_header(("Idempotent-Replayed", "true"));
        }
        response.body(self.body.clone())
    }
}

/// Why a keyed transaction did not commit.
enum Abort {
    Api(ApiError),
    /// Another request with the same key committed first.
    Race,
}

impl From<ApiError> for Abort {
    fn from(error: ApiError) -> Abort {
        Abort::Api(error)
    }
}

impl From<diesel::result::Error> for Abort {
    fn from(error: diesel::result::Error) -> Abort {
        Abort::Api(error.into())
    }
}

/// Runs `work` in one write transaction, guarded by `keys` (none, one or
/// two). Returns the response to send and whether it is a replay.
async fn run<F>(
    db: &Db,
    actor: &Actor,
    keys: Vec<Key>,
    request_hash: String,
    work: F,
) -> Result<(Stored, bool), ApiError>
where
    F: FnOnce(&mut Unit<'_>) -> Result<Stored, ApiError> + Send + 'static,
{
    let lookup_keys = keys.clone();
    let hash = request_hash.clone();
    let result = db
        .write_with(actor, move |conn| -> Result<(Stored, bool), Abort> {
            // No lookup first: a fresh request (the common case) pays nothing
            // extra, and a retry fails on the stored key and is replayed below.
            let stored = work(conn)?;
            for key in &keys {
                save(conn, key, &request_hash, &stored)?;
            }
            Ok((stored, false))
        })
        .await;
    let abort = match result {
        Ok(outcome) => return Ok(outcome),
        Err(abort) => abort,
    };
    // The work failed or lost a race. If a request with the same key committed
    // meanwhile (a concurrent retry inserting the same client-chosen id fails
    // on that id, not on the key), this request is its retry: replay it.
    if !lookup_keys.is_empty() {
        if let Some(stored) = db
            .read(move |conn| replay(conn, &lookup_keys, &hash))
            .await?
        {
            return Ok((stored, true));
        }
    }
    Err(match abort {
        Abort::Api(error) => error,
        Abort::Race => {
            ApiError::internal("idempotency key conflicted but no stored response was found")
        }
    })
}

/// The stored response for the first of `keys` that has one, if it belongs
/// to the same request; a key used for another request is refused.
fn replay(
    conn: &mut DbConnection,
    keys: &[Key],
    request_hash: &str,
) -> Result<Option<Stored>, ApiError> {
    for key in keys {
        let found: Option<(String, i32, String, String)> = idempotency_keys::table
            .find((&key.scope, &key.key))
            .select((
                idempotency_keys::request_hash,
                idempotency_keys::response_status,
                idempotency_keys::response_body,
                idempotency_keys::resource_id,
            ))
            .first(conn)
            .optional()?;
        if let Some((hash, status, body, location)) = found {
            if hash != request_hash {
                return Err(ApiError::IdempotencyKeyReused);
            }
            // Versioned resources carry their version in the body; a replay sends it as the ETag again.
            let version = serde_json::from_str::<serde_json::Value>(&body)
                .ok()
                .and_then(|v| v.get("version").and_then(|v| v.as_i64()))
                .and_then(|v| i32::try_from(v).ok());
            return Ok(Some(Stored {
                status: status as u16,
                body,
                location,
                version,
            }));
        }
    }
    Ok(None)
}

fn save(
    conn: &mut DbConnection,
    key: &Key,
    request_hash: &str,
    stored: &Stored,
) -> Result<(), Abort> {
    diesel::insert_into(idempotency_keys::table)
        .values((
            idempotency_keys::scope.eq(&key.scope),
            idempotency_keys::idempotency_key.eq(&key.key),
            idempotency_keys::request_hash.eq(request_hash),
            idempotency_keys::response_status.eq(i32::from(stored.status)),
            idempotency_keys::response_body.eq(&stored.body),
            idempotency_keys::resource_id.eq(&stored.location),
            idempotency_keys::created_at.eq(time::now()),
        ))
        .execute(conn)
        .map(|_| ())
        .map_err(|error| match error {
            diesel::result::Error::DatabaseError(
                diesel::result::DatabaseErrorKind::UniqueViolation,
                _,
            ) => Abort::Race,
            other => Abort::from(other),
        })
}
