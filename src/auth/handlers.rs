//! Login, logout, `/me`, and changing one's own password.

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::throttle::{self, Key};
use super::{revocation, Caller, RequestId, Revocations, Tokens};
use crate::accounts::store;
use crate::accounts::{self, Passwords, Role, User};
use crate::config::LoginThrottleSettings;
use crate::db::audit::{Actor, Event};
use crate::db::Db;
use crate::error::ApiError;
use crate::extract::JsonBody;
use crate::http::routes::resource;
use crate::http::time;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    username: String,
    password: String,
}

#[derive(Serialize)]
struct TokenResponse {
    access_token: String,
    token_type: &'static str,
    expires_in: u64,
    /// The account holds a temporary password: the token only allows
    /// changing it (`POST /api/v1/me/password`), `GET /api/v1/me` and logout.
    password_change_required: bool,
}

fn token_response(tokens: &Tokens, user: &User) -> Result<HttpResponse, ApiError> {
    let access_token = tokens.issue(user)?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(TokenResponse {
            access_token,
            token_type: "Bearer",
            expires_in: tokens.lifetime_seconds,
            password_change_required: user.must_change_password,
        }))
}

/// The client's address, for throttling: the connection's peer, or the
/// first `X-Forwarded-For` entry behind a trusted proxy.
fn client_address(req: &HttpRequest, settings: &LoginThrottleSettings) -> String {
    let forwarded = settings
        .trust_forwarded_for
        .then(|| {
            req.headers()
                .get("x-forwarded-for")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.split(',').next())
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty() && v.len() <= 64)
        })
        .flatten();
    forwarded
        .or_else(|| req.peer_addr().map(|a| a.ip().to_string()))
        .unwrap_or_else(|| "unknown".into())
}

/// `POST /api/v1/auth/login`: exchanges a username and password for a token.
///
/// A locked username or address gets 429 with `Retry-After` before the
/// password is checked. An unknown username and a wrong password get the
/// same 401 after the same work (one argon2 verification, one write that
/// counts the failure and audits it); a success clears the username's count.
pub async fn login(
    req: HttpRequest,
    db: web::Data<Db>,
    tokens: web::Data<Tokens>,
    passwords: web::Data<Passwords>,
    throttling: web::Data<LoginThrottleSettings>,
    body: JsonBody<LoginRequest>,
) -> Result<HttpResponse, ApiError> {
    let LoginRequest { username, password } = body.value;
    let throttling = **throttling;
    let keys = [
        Key::username(&username),
        Key::address(&client_address(&req, &throttling)),
    ];
    let cost = passwords.cost;
    let (locked_for, user) = {
        let keys = keys.clone();
        // The lookup and the (deliberately slow) hash check run off the async workers.
        db.read(move |conn| {
            if let Some(seconds) = throttle::locked_for(conn, &keys, time::now())? {
                return Ok((Some(seconds), None));
            }
            let user = accounts::find_by_username(conn, &username)?;
            Ok(match user {
                Some(user) if user.password_matches(&password) && !user.disabled => {
                    (None, Some(Ok(user)))
                }
                Some(user) => (None, Some(Err(Some(user.id)))),
                None => {
                    accounts::spend_verification_time(&password, &cost);
                    (None, Some(Err(None)))
                }
            })
        })
        .await?
    };
    if let Some(retry_after_seconds) = locked_for {
        return Err(ApiError::LoginThrottled {
            retry_after_seconds,
        });
    }
    let request_id = RequestId::of(&req);
    match user {
        Some(Ok(user)) => {
            let actor = Actor::account(user.id, &user.username, user.role.as_str(), request_id);
            let username_key = keys[0].clone();
            let user_id = user.id;
            db.write(&actor, move |unit| {
                throttle::clear(unit, &username_key)?;
                unit.audit(Event::new("auth.login").resource("account", user_id));
                Ok(())
            })
            .await?;
            tracing::info!(user_id = %user.id, role = %user.role, "login");
            token_response(&tokens, &user)
        }
        failed => {
            // The account tried, if it exists; never the typed username.
            let target = failed.and_then(|f| f.err()).flatten();
            db.write(&Actor::anonymous(request_id), move |unit| {
                for key in &keys {
                    throttle::record_failure(unit, key, &throttling, time::now())?;
                }
                let mut event = Event::new("auth.login_failed");
                if let Some(account) = target {
                    event = event.resource("account", account);
                }
                unit.audit(event);
                Ok(())
            })
            .await?;
            Err(ApiError::Unauthorized {
                detail: "wrong username or password",
                invalid_token: false,
            })
        }
    }
}

/// `POST /api/v1/auth/logout`: revokes the token presented, at once here and
/// within `auth.revocation_refresh_seconds` on every other server process.
pub async fn logout(
    caller: Caller,
    db: web::Data<Db>,
    revocations: web::Data<Revocations>,
) -> Result<HttpResponse, ApiError> {
    let expires_at = chrono::DateTime::from_timestamp(caller.token_expires_at as i64, 0)
        .map(|at| at.naive_utc())
        .ok_or_else(|| ApiError::internal("token expiry out of range"))?;
    let (jti, user) = (caller.token_id, caller.user_id);
    db.write(&caller.actor(), move |unit| {
        revocation::revoke_token(unit, jti, user, expires_at)?;
        unit.audit(Event::new("auth.logout").resource("account", user));
        Ok(())
    })
    .await?;
    revocations.invalidate();
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Serialize)]
struct Me {
    id: Uuid,
    username: String,
    role: Role,
    centers: Vec<Uuid>,
}

/// `GET /api/v1/me`: who the token belongs to.
pub async fn me(caller: Caller) -> HttpResponse {
    HttpResponse::Ok().json(Me {
        id: caller.user_id,
        username: caller.username,
        role: caller.role,
        centers: caller.centers,
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PasswordChange {
    current_password: String,
    new_password: String,
}

/// `POST /api/v1/me/password`: changes the caller's own password, given the
/// current one. Every token the account holds stops working, and a new one
/// is returned. A wrong current password counts as a failed login.
#[allow(clippy::too_many_arguments)] // one per extractor
pub async fn change_password(
    req: HttpRequest,
    caller: Caller,
    db: web::Data<Db>,
    tokens: web::Data<Tokens>,
    passwords: web::Data<Passwords>,
    throttling: web::Data<LoginThrottleSettings>,
    revocations: web::Data<Revocations>,
    body: JsonBody<PasswordChange>,
) -> Result<HttpResponse, ApiError> {
    let PasswordChange {
        current_password,
        new_password,
    } = body.value;
    let throttling = **throttling;
    let keys = [
        Key::username(&caller.username),
        Key::address(&client_address(&req, &throttling)),
    ];
    let passwords = **passwords;
    let user_id = caller.user_id;
    let outcome = db
        .write(&caller.actor(), move |unit| {
            if let Some(retry_after_seconds) = throttle::locked_for(unit, &keys, time::now())? {
                unit.audit(
                    Event::new("account.password_change_throttled").resource("account", user_id),
                );
                return Ok(Err(ApiError::LoginThrottled {
                    retry_after_seconds,
                }));
            }
            let user = store::find(unit, user_id)?.ok_or(ApiError::TokenRevoked)?;
            if !user.password_matches(&current_password) {
                for key in &keys {
                    throttle::record_failure(unit, key, &throttling, time::now())?;
                }
                unit.audit(
                    Event::new("account.password_change_failed").resource("account", user_id),
                );
                return Ok(Err(ApiError::Validation(vec![
                    crate::error::FieldError::new(
                        "current_password",
                        "wrong",
                        "this is not the account's current password",
                    ),
                ])));
            }
            let user = store::set_password(
                unit,
                &user,
                &new_password,
                false,
                "new_password",
                &passwords,
            )?;
            Ok(Ok(user))
        })
        .await?;
    let user = outcome?;
    revocations.invalidate();
    token_response(&tokens, &user)
}

/// The auth routes, under `/api/v1`.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/auth/login").post(login))
        .service(resource("/auth/logout").post(logout))
        .service(resource("/me").get(me))
        .service(resource("/me/password").post(change_password));
}
