//! Which tokens no longer count, checked on every request without a
//! database read in the common case.
//!
//! Every account has a token generation, carried in each token it is
//! issued. Disabling the account, changing its role or centers, or resetting
//! its password bumps the generation, which revokes every token issued
//! before; logout revokes one token by its id (`revoked_tokens`, kept until
//! the token would have expired anyway).
//!
//! Each server process keeps a copy of all generations (and of the revoked
//! token ids) in memory, reloads it when it is older than
//! `auth.revocation_refresh_seconds` (1 to 5 s), and at once after a
//! revocation of its own: a revocation takes effect at once in the process
//! that made it (one SQLite process), and within that refresh time in every
//! other process of a PostgreSQL deployment. The reload is two small
//! queries (one row per account, one per token revoked and not yet expired),
//! done by one request at a time while the others use the copy they have.
//! If the database cannot be read for 30 s, requests fail closed with 503
//! rather than trust a copy that old.

use std::collections::{HashMap, HashSet};
use std::sync::RwLock;
use std::time::{Duration, Instant};

use diesel::prelude::*;
use uuid::Uuid;

use super::tokens::Claims;
use crate::db::{Db, DbConnection};
use crate::error::ApiError;
use crate::http::{stored, time};
use crate::schema::{revoked_tokens, users};

/// How old the copy may get, when the database cannot be read, before
/// requests are refused.
const FAIL_CLOSED_AFTER: Duration = Duration::from_secs(30);

/// The process's copy of the revocation state.
pub struct Revocations {
    refresh: Duration,
    state: RwLock<State>,
    /// Held by the one request reloading the copy.
    reloading: tokio::sync::Mutex<()>,
}

#[derive(Default)]
struct State {
    /// Per account: its token generation, and whether it is disabled.
    accounts: HashMap<Uuid, (i32, bool)>,
    revoked: HashSet<Uuid>,
    /// When the copy was read; None: never, or invalidated.
    loaded_at: Option<Instant>,
    /// When a reload last succeeded (for failing closed).
    last_success: Option<Instant>,
}

impl Revocations {
    pub fn new(refresh_seconds: u64) -> Revocations {
        Revocations {
            refresh: Duration::from_secs(refresh_seconds),
            state: RwLock::new(State::default()),
            reloading: tokio::sync::Mutex::new(()),
        }
    }

    /// Forgets the copy, so that the next request reloads it: called by this
    /// process right after it revokes something.
    pub fn invalidate(&self) {
        self.state
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .loaded_at = None;
    }

    /// Ok if the token still counts; 401 `token-revoked` if not.
    pub(super) async fn check(&self, db: &Db, claims: &Claims) -> Result<(), ApiError> {
        if let Some(verdict) = self.verdict(claims, false) {
            return verdict;
        }
        // The copy is stale, or does not know the account: an account
        // created since the copy was read (its token is signed, so this
        // cannot be forced with made-up accounts) is looked up at once
        // rather than refused until the next reload.
        self.reload(db).await?;
        self.verdict(claims, true)
            .unwrap_or(Err(ApiError::TokenRevoked))
    }

    /// The token's verdict from the copy, under one lock; None if the copy
    /// cannot give it yet (stale, or without the account) unless `anyway`.
    fn verdict(&self, claims: &Claims, anyway: bool) -> Option<Result<(), ApiError>> {
        let state = self.state.read().unwrap_or_else(|p| p.into_inner());
        let fresh = state
            .loaded_at
            .is_some_and(|at| at.elapsed() < self.refresh);
        match state.accounts.get(&claims.sub) {
            Some(&(generation, disabled)) if fresh || anyway => {
                let counts =
                    !disabled && generation == claims.gen && !state.revoked.contains(&claims.jti);
                Some(if counts {
                    Ok(())
                } else {
                    Err(ApiError::TokenRevoked)
                })
            }
            None if anyway => Some(Err(ApiError::TokenRevoked)),
            _ => None,
        }
    }

    async fn reload(&self, db: &Db) -> Result<(), ApiError> {
        let asked_at = Instant::now();
        let _one_at_a_time = self.reloading.lock().await;
        let reloaded_meanwhile = self
            .state
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .loaded_at
            .is_some_and(|at| at >= asked_at);
        if reloaded_meanwhile {
            return Ok(()); // another request reloaded it while this one waited
        }
        match db.read(load).await {
            Ok((accounts, revoked)) => {
                let mut state = self.state.write().unwrap_or_else(|p| p.into_inner());
                let now = Instant::now();
                *state = State {
                    accounts,
                    revoked,
                    loaded_at: Some(now),
                    last_success: Some(now),
                };
                Ok(())
            }
            Err(error) => {
                let last_success = self
                    .state
                    .read()
                    .unwrap_or_else(|p| p.into_inner())
                    .last_success;
                match last_success {
                    Some(at) if at.elapsed() < FAIL_CLOSED_AFTER => {
                        tracing::warn!(%error, "cannot reload token revocations; using the copy from less than 30 s ago");
                        Ok(())
                    }
                    _ => Err(ApiError::unavailable(format!(
                        "token revocations cannot be checked: {error}"
                    ))),
                }
            }
        }
    }
}

type Loaded = (HashMap<Uuid, (i32, bool)>, HashSet<Uuid>);

fn load(conn: &mut DbConnection) -> Result<Loaded, ApiError> {
    let accounts = users::table
        .select((users::id, users::token_generation, users::disabled))
        .load::<(String, i32, bool)>(conn)?
        .into_iter()
        .map(|(id, generation, disabled)| Ok((stored::id(&id)?, (generation, disabled))))
        .collect::<Result<_, ApiError>>()?;
    let revoked = revoked_tokens::table
        .filter(revoked_tokens::expires_at.gt(time::now()))
        .select(revoked_tokens::jti)
        .load::<String>(conn)?
        .iter()
        .map(|jti| stored::id(jti))
        .collect::<Result<_, _>>()?;
    Ok((accounts, revoked))
}

/// Revokes one token (logout) until it would have expired anyway; expired
/// entries are dropped on the way.
pub(super) fn revoke_token(
    conn: &mut DbConnection,
    jti: Uuid,
    user: Uuid,
    expires_at: chrono::NaiveDateTime,
) -> Result<(), ApiError> {
    diesel::delete(revoked_tokens::table.filter(revoked_tokens::expires_at.le(time::now())))
        .execute(conn)?;
    // Logging out twice revokes nothing more.
    crate::per_backend!(conn, |c| diesel::insert_into(revoked_tokens::table)
        .values((
            revoked_tokens::jti.eq(jti.to_string()),
            revoked_tokens::user_id.eq(user.to_string()),
            revoked_tokens::expires_at.eq(expires_at),
        ))
        .on_conflict_do_nothing()
        .execute(c))?;
    Ok(())
}
