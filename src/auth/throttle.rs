//! Login throttling: failed logins are counted per username and per client
//! address in `login_throttles`, so every server process sees the same
//! counts. Past `auth.login_throttle.max_failures_*` failures within the
//! window, the key is locked for `lockout_seconds`, doubled at each further
//! lockout up to `max_lockout_seconds`; a locked key gets 429 with
//! `Retry-After` before its password is even checked.
//!
//! Usernames are keyed by a SHA-256 of the lower-cased name: an unknown
//! username is throttled exactly like a known one (so the answer does not
//! tell which exist), and no typed username (sometimes a password typed in
//! the wrong field) is stored.

use chrono::{NaiveDateTime, TimeDelta};
use diesel::prelude::*;
use sha2::{Digest, Sha256};

use crate::config::LoginThrottleSettings;
use crate::db::DbConnection;
use crate::error::ApiError;
use crate::schema::login_throttles;

/// A throttled key: a username or a client address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Key {
    key: String,
    per_username: bool,
}

impl Key {
    pub fn username(username: &str) -> Key {
        let digest = Sha256::digest(username.trim().to_lowercase().as_bytes());
        Key {
            key: format!("user:{}", hex::encode(digest)),
            per_username: true,
        }
    }

    pub fn address(address: &str) -> Key {
        Key {
            key: format!("address:{address}"),
            per_username: false,
        }
    }

    fn limit(&self, settings: &LoginThrottleSettings) -> i32 {
        let limit = if self.per_username {
            settings.max_failures_per_username
        } else {
            settings.max_failures_per_address
        };
        i32::try_from(limit).unwrap_or(i32::MAX)
    }
}

/// Seconds until the latest lockout among `keys` ends, if one is in force.
pub fn locked_for(
    conn: &mut DbConnection,
    keys: &[Key],
    now: NaiveDateTime,
) -> Result<Option<u64>, ApiError> {
    let names: Vec<&str> = keys.iter().map(|k| k.key.as_str()).collect();
    let until: Vec<Option<NaiveDateTime>> = login_throttles::table
        .filter(login_throttles::throttle_key.eq_any(names))
        .select(login_throttles::locked_until)
        .load(conn)?;
    Ok(until
        .into_iter()
        .flatten()
        .filter(|until| *until > now)
        .max()
        .map(|until| seconds_until(now, until)))
}

/// When `username`'s lockout ends, if one is in force (shown to admins).
pub fn username_locked_until(
    conn: &mut DbConnection,
    username: &str,
    now: NaiveDateTime,
) -> Result<Option<NaiveDateTime>, ApiError> {
    let until: Option<Option<NaiveDateTime>> = login_throttles::table
        .find(Key::username(username).key)
        .select(login_throttles::locked_until)
        .first(conn)
        .optional()?;
    Ok(until.flatten().filter(|until| *until > now))
}

/// Counts a failed login against `key`; locks it once the count reaches the
/// limit within the window. The row is updated in place (row-locked on
/// PostgreSQL), so concurrent failures on several processes all count.
pub fn record_failure(
    conn: &mut DbConnection,
    key: &Key,
    settings: &LoginThrottleSettings,
    now: NaiveDateTime,
) -> Result<(), ApiError> {
    crate::per_backend!(conn, |c| diesel::insert_into(login_throttles::table)
        .values((
            login_throttles::throttle_key.eq(&key.key),
            login_throttles::failures.eq(0),
            login_throttles::window_started_at.eq(now),
            login_throttles::lockouts.eq(0),
        ))
        .on_conflict_do_nothing()
        .execute(c))?;
    let (failures, window_started_at, lockouts): (i32, NaiveDateTime, i32) =
        diesel::update(login_throttles::table.find(&key.key))
            .set(login_throttles::failures.eq(login_throttles::failures + 1))
            .returning((
                login_throttles::failures,
                login_throttles::window_started_at,
                login_throttles::lockouts,
            ))
            .get_result(conn)?;
    let window = TimeDelta::seconds(settings.window_seconds as i64);
    if now - window_started_at > window {
        // The window has passed: this failure starts a new one.
        diesel::update(login_throttles::table.find(&key.key))
            .set((
                login_throttles::failures.eq(1),
                login_throttles::window_started_at.eq(now),
            ))
            .execute(conn)?;
        if 1 < key.limit(settings) {
            return Ok(());
        }
    } else if failures < key.limit(settings) {
        return Ok(());
    }
    let doublings = lockouts.clamp(0, 30) as u32;
    let lockout = settings
        .lockout_seconds
        .saturating_mul(1u64 << doublings)
        .min(settings.max_lockout_seconds);
    diesel::update(login_throttles::table.find(&key.key))
        .set((
            login_throttles::failures.eq(0),
            login_throttles::window_started_at.eq(now),
            login_throttles::lockouts.eq(lockouts.saturating_add(1)),
            login_throttles::locked_until.eq(now + TimeDelta::seconds(lockout as i64)),
        ))
        .execute(conn)?;
    Ok(())
}

/// Deletes the rows that no longer hold anything back: failures whose
/// window has passed, of keys not locked for at least the longest lockout
/// (so that a key's doubling history outlives its lockout). Keeps the table
/// small however many addresses and usernames were tried. Returns how many went.
pub fn forget_stale(
    conn: &mut DbConnection,
    settings: &LoginThrottleSettings,
    now: NaiveDateTime,
) -> Result<usize, ApiError> {
    let window_start = now - TimeDelta::seconds(settings.window_seconds as i64);
    let lock_end = now - TimeDelta::seconds(settings.max_lockout_seconds as i64);
    Ok(diesel::delete(
        login_throttles::table
            .filter(login_throttles::window_started_at.lt(window_start))
            .filter(
                login_throttles::locked_until
                    .is_null()
                    .or(login_throttles::locked_until.lt(lock_end)),
            ),
    )
    .execute(conn)?)
}

/// Clears a key's failures and lockouts (a successful login, or an admin's unlock).
pub fn clear(conn: &mut DbConnection, key: &Key) -> Result<bool, ApiError> {
    Ok(diesel::delete(login_throttles::table.find(&key.key)).execute(conn)? > 0)
}

fn seconds_until(now: NaiveDateTime, until: NaiveDateTime) -> u64 {
    let millis = (until - now).num_milliseconds().max(0) as u64;
    millis.div_ceil(1000).max(1)
}
