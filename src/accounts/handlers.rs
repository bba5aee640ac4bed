//! `/api/v1/users`: account administration, for admins.
//!
//! Every change is audited (`account.*` entries) in its own transaction;
//! one that disables the account, changes its role or centers, or sets its
//! password revokes the account's tokens at once (see `auth::revocation`).

use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::store::{self, Change, Filter};
use super::{Passwords, Role, User};
use crate::auth::throttle::{self, Key};
use crate::auth::{Caller, Revocations};
use crate::db::audit::Event;
use crate::db::Db;
use crate::error::ApiError;
use crate::extract::{non_null, JsonBody, Query};
use crate::http::etag::{etag, expected_version};
use crate::http::idempotent::{self, ClientId, Created};
use crate::http::paging::{Cursor, PageQuery};
use crate::http::routes::resource;
use crate::http::time;

/// An account as the API shows it (never its password hash).
#[derive(Debug, Serialize)]
pub struct UserView {
    id: Uuid,
    username: String,
    display_name: Option<String>,
    role: Role,
    centers: Vec<Uuid>,
    disabled: bool,
    must_change_password: bool,
    /// Until when failed logins keep this username locked (null: not locked).
    locked_until: Option<DateTime<Utc>>,
    version: i32,
    created_at: DateTime<Utc>,
    updated_at: Option<DateTime<Utc>>,
}

impl UserView {
    fn of(user: User, locked_until: Option<chrono::NaiveDateTime>) -> UserView {
        UserView {
            id: user.id,
            username: user.username,
            display_name: user.display_name,
            role: user.role,
            centers: user.centers,
            disabled: user.disabled,
            must_change_password: user.must_change_password,
            locked_until: locked_until.map(|at| at.and_utc()),
            version: user.version,
            created_at: user.created_at.and_utc(),
            updated_at: user.updated_at.map(|at| at.and_utc()),
        }
    }
}

/// An account with its lockout, read on `conn`.
fn view(conn: &mut crate::db::DbConnection, user: User) -> Result<UserView, ApiError> {
    let locked_until = throttle::username_locked_until(conn, &user.username, time::now())?;
    Ok(UserView::of(user, locked_until))
}

fn respond(status: StatusCode, user: &UserView) -> HttpResponse {
    HttpResponse::build(status)
        .insert_header((header::ETAG, etag(user.version)))
        .json(user)
}

fn not_found(id: Uuid) -> ApiError {
    ApiError::NotFound(format!("no account with id {id}"))
}

/// `GET /api/v1/users` query.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    role: Option<Role>,
    center_id: Option<Uuid>,
    disabled: Option<bool>,
    limit: Option<i64>,
    cursor: Option<String>,
}

/// `GET /api/v1/users`: accounts, oldest first, a page at a time (admin).
pub async fn list(
    caller: Caller,
    db: web::Data<Db>,
    query: Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    caller.require_admin()?;
    let query = query.0;
    let paging = PageQuery::new(query.limit, query.cursor.as_deref())?;
    let filter = Filter {
        role: query.role,
        center_id: query.center_id,
        disabled: query.disabled,
    };
    let page = db
        .read(move |conn| {
            let users = store::list(conn, &filter, &paging)?;
            paging.page(
                users,
                |u| Cursor::encode(u.created_at, &u.id.to_string()),
                |users| users.into_iter().map(|u| view(conn, u)).collect(),
            )
        })
        .await?;
    Ok(HttpResponse::Ok().json(page))
}

/// `POST /api/v1/users` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewAccount {
    username: String,
    #[serde(default, deserialize_with = "non_null")]
    display_name: Option<String>,
    password: String,
    role: Role,
    #[serde(default)]
    centers: Vec<Uuid>,
}

/// `POST /api/v1/users`: creates an account (admin). Safe to retry with an
/// `Idempotency-Key`; the password is left out of the stored request
/// fingerprint, so no digest of it is kept.
pub async fn create(
    req: HttpRequest,
    caller: Caller,
    db: web::Data<Db>,
    passwords: web::Data<Passwords>,
    body: JsonBody<NewAccount>,
) -> Result<HttpResponse, ApiError> {
    caller.require_admin()?;
    let mut fingerprinted = body.document.clone();
    if let Some(fields) = fingerprinted.as_object_mut() {
        fields.remove("password");
    }
    let new = body.value;
    let passwords = **passwords;
    idempotent::create(
        &db,
        &req,
        &caller,
        &fingerprinted,
        ClientId::none(),
        move |unit| {
            let errors = store::unknown_centers(unit, &new.centers)?;
            if !errors.is_empty() {
                return Err(ApiError::Validation(errors));
            }
            let user = store::insert(
                unit,
                &new.username,
                new.display_name.as_deref(),
                &new.password,
                new.role,
                &new.centers,
                &passwords,
            )?;
            unit.audit(
                Event::new("account.create")
                    .resource("account", user.id)
                    .version(user.version)
                    .detail(serde_json::json!({ "role": user.role, "centers": user.centers })),
            );
            let view = view(unit, user)?;
            let location = format!("/api/v1/users/{}", view.id);
            let version = view.version;
            Ok(Created::new(view, location).versioned(version))
        },
    )
    .await
}

/// `GET /api/v1/users/{id}` (admin).
pub async fn get(
    caller: Caller,
    db: web::Data<Db>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    caller.require_admin()?;
    let id = id.into_inner();
    let user = db
        .read(move |conn| {
            let user = store::find(conn, id)?.ok_or_else(|| not_found(id))?;
            view(conn, user)
        })
        .await?;
    Ok(respond(StatusCode::OK, &user))
}

/// `PATCH /api/v1/users/{id}` (admin, `If-Match` required): role, centers,
/// display name, disabled. Any change but the display name revokes the
/// account's tokens.
pub async fn patch(
    req: HttpRequest,
    caller: Caller,
    db: web::Data<Db>,
    revocations: web::Data<Revocations>,
    id: web::Path<Uuid>,
    body: JsonBody<Change>,
) -> Result<HttpResponse, ApiError> {
    caller.require_admin()?;
    let expected = expected_version(&req)?;
    let id = id.into_inner();
    let change = body.value;
    let (user, revoked) = db
        .write(&caller.actor(), move |unit| {
            let updated = store::update(unit, id, expected, change)?;
            Ok((view(unit, updated.user)?, updated.revoked))
        })
        .await?;
    if revoked {
        revocations.invalidate();
    }
    Ok(respond(StatusCode::OK, &user))
}

/// `POST /api/v1/users/{id}/password-reset` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PasswordReset {
    password: String,
}

/// `POST /api/v1/users/{id}/password-reset` (admin): sets a temporary
/// password, which the account must change at its next login; its tokens
/// stop working at once.
pub async fn reset_password(
    caller: Caller,
    db: web::Data<Db>,
    passwords: web::Data<Passwords>,
    revocations: web::Data<Revocations>,
    id: web::Path<Uuid>,
    body: JsonBody<PasswordReset>,
) -> Result<HttpResponse, ApiError> {
    caller.require_admin()?;
    let id = id.into_inner();
    let password = body.value.password;
    let passwords = **passwords;
    let user = db
        .write(&caller.actor(), move |unit| {
            let user = store::find(unit, id)?.ok_or_else(|| not_found(id))?;
            let user = store::set_password(unit, &user, &password, true, "password", &passwords)?;
            view(unit, user)
        })
        .await?;
    revocations.invalidate();
    Ok(respond(StatusCode::OK, &user))
}

/// `POST /api/v1/users/{id}/unlock` (admin): clears the failed logins that
/// lock the account's username.
pub async fn unlock(
    caller: Caller,
    db: web::Data<Db>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    caller.require_admin()?;
    let id = id.into_inner();
    let user = db
        .write(&caller.actor(), move |unit| {
            let user = store::find(unit, id)?.ok_or_else(|| not_found(id))?;
            let was_locked = throttle::clear(unit, &Key::username(&user.username))?;
            unit.audit(
                Event::new("account.unlock")
                    .resource("account", user.id)
                    .detail(serde_json::json!({ "was_throttled": was_locked })),
            );
            view(unit, user)
        })
        .await?;
    Ok(respond(StatusCode::OK, &user))
}

/// The account routes, under `/api/v1`.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/users").get(list).post(create))
        .service(resource("/users/{id}").get(get).patch(patch))
        .service(resource("/users/{id}/password-reset").post(reset_password))
        .service(resource("/users/{id}/unlock").post(unlock));
}
