//! User accounts: roles, center scopes, argon2id password hashes, and the
//! first admin created on an empty database.

use std::fmt;
use std::io::Write;
use std::str::FromStr;
use std::sync::Mutex;

use argon2::password_hash::rand_core::{OsRng, RngCore};
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Version};
use base64::Engine;
use diesel::prelude::*;
use secrecy::ExposeSecret;
use uuid::Uuid;

use crate::config::{BootstrapSettings, PasswordHashSettings};
use crate::db::{self, DbConnection};
use crate::error::{ApiError, FieldError};
use crate::http::stored;
use crate::http::time;
use crate::schema::{centers, user_centers, users};

crate::stored_enum! {
    /// What a user may do. Registrars and aid workers are scoped to centers.
    #[derive(Hash)]
    pub enum Role {
        /// Everything, everywhere, including centers and accounts.
        Admin = "admin",
        /// Registers and corrects households at their centers.
        Registrar = "registrar",
        /// Reads households at their centers to deliver aid.
        AidWorker = "aid_worker",
        /// Aggregate statistics only; never person-level data.
        Analyst = "analyst",
        /// Reads everything, changes nothing.
        Auditor = "auditor",
    }
}

impl Role {
    /// Registrars and aid workers act only at the centers they are assigned to.
    pub fn is_center_scoped(self) -> bool {
        matches!(self, Role::Registrar | Role::AidWorker)
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = String;

    fn from_str(s: &str) -> Result<Role, String> {
        Role::ALL
            .iter()
            .copied()
            .find(|role| role.as_str() == s)
            .ok_or_else(|| format!("unknown role {s:?}; expected one of admin, registrar, aid_worker, analyst, auditor"))
    }
}

/// A stored account, with the centers it is scoped to.
#[derive(Debug, Clone)]
pub struct User {
    pub id: Uuid,
    pub username: String,
    pub role: Role,
    pub centers: Vec<Uuid>,
    pub disabled: bool,
    password_hash: String,
}

impl User {
    /// Checks `password` against the stored argon2id hash. Slow on purpose.
    pub fn password_matches(&self, password: &str) -> bool {
        verify(&self.password_hash, password)
    }
}

/// Runs a full verification against a fixed hash made with `cost`, so that
/// an unknown username takes as long to refuse as a wrong password.
pub fn spend_verification_time(password: &str, cost: &PasswordHashSettings) {
    // One dummy hash per cost in use (a process normally has one).
    static DUMMIES: Mutex<Vec<(PasswordHashSettings, String)>> = Mutex::new(Vec::new());
    let dummy = {
        let mut dummies = DUMMIES.lock().unwrap_or_else(|p| p.into_inner());
        match dummies.iter().find(|(c, _)| c == cost) {
            Some((_, hash)) => hash.clone(),
            None => match hash_password("dummy password for timing", cost) {
                Ok(hash) => {
                    dummies.push((*cost, hash.clone()));
                    hash
                }
                Err(_) => return,
            },
        }
    };
    verify(&dummy, password);
}

/// Checks `password` against a PHC string. The hash names its own algorithm
/// and parameters, so hashes made under an earlier `[auth.password_hash]`
/// still verify.
fn verify(hash: &str, password: &str) -> bool {
    PasswordHash::new(hash)
        .map(|parsed| {
            Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
        })
        .unwrap_or(false)
}

/// Hashes a password with argon2id at `cost` and a random salt (PHC string format).
pub fn hash_password(password: &str, cost: &PasswordHashSettings) -> Result<String, ApiError> {
    let params = cost.params().map_err(ApiError::internal)?;
    let salt = SaltString::generate(&mut OsRng);
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
        .hash_password(password.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(ApiError::internal)
}

/// What creating an account needs.
pub struct NewUser<'a> {
    pub username: &'a str,
    pub password: &'a str,
    pub role: Role,
    /// Center codes (e.g. `GORIS`), required for center-scoped roles.
    pub center_codes: &'a [String],
    /// The argon2id cost of the password hash (`[auth.password_hash]`).
    pub password_cost: &'a PasswordHashSettings,
}

/// Shortest password accepted for an account.
pub const MIN_PASSWORD_LENGTH: usize = 12;

/// Creates an account; refuses taken usernames, weak passwords, unknown
/// centers, and center scopes on roles that are not center-scoped.
pub fn create_user(conn: &mut DbConnection, new: NewUser<'_>) -> Result<User, ApiError> {
    let mut errors = Vec::new();
    let valid_username = (3..=64).contains(&new.username.len())
        && new
            .username
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b));
    if !valid_username {
        errors.push(FieldError::new(
            "username",
            "invalid",
            "3 to 64 characters: lower-case letters, digits, '.', '_' or '-'",
        ));
    }
    if new.password.chars().count() < MIN_PASSWORD_LENGTH {
        errors.push(FieldError::new(
            "password",
            "too_short",
            format!("at least {MIN_PASSWORD_LENGTH} characters"),
        ));
    }
    match (new.role.is_center_scoped(), new.center_codes.is_empty()) {
        (true, true) => errors.push(FieldError::new(
            "centers",
            "required",
            "this role needs at least one center",
        )),
        (false, false) => errors.push(FieldError::new(
            "centers",
            "not_allowed",
            "this role is not scoped to centers",
        )),
        _ => {}
    }
    let mut center_ids = Vec::new();
    for code in new.center_codes {
        let found: Option<String> = centers::table
            .filter(centers::code.eq(code))
            .select(centers::id)
            .first(conn)
            .optional()?;
        match found {
            Some(id) => center_ids.push(stored::id(&id)?),
            None => errors.push(FieldError::new(
                "centers",
                "unknown",
                format!("no center with code {code}"),
            )),
        }
    }
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    let id = Uuid::new_v4();
    diesel::insert_into(users::table)
        .values((
            users::id.eq(id.to_string()),
            users::username.eq(new.username),
            users::password_hash.eq(hash_password(new.password, new.password_cost)?),
            users::role.eq(new.role.as_str()),
            users::disabled.eq(false),
            users::created_at.eq(time::now()),
        ))
        .execute(conn)
        .map_err(db::unique_violation(|| ApiError::Conflict {
            code: "username-taken",
            detail: format!("the username {} is already taken", new.username),
        }))?;
    for center_id in &center_ids {
        diesel::insert_into(user_centers::table)
            .values((
                user_centers::user_id.eq(id.to_string()),
                user_centers::center_id.eq(center_id.to_string()),
            ))
            .execute(conn)?;
    }
    find_by_username(conn, new.username)?
        .ok_or_else(|| ApiError::internal("user vanished after insert"))
}

/// Loads an account and its centers by username.
pub fn find_by_username(conn: &mut DbConnection, username: &str) -> Result<Option<User>, ApiError> {
    let row: Option<(String, String, String, String, bool)> = users::table
        .filter(users::username.eq(username))
        .select((
            users::id,
            users::username,
            users::password_hash,
            users::role,
            users::disabled,
        ))
        .first(conn)
        .optional()?;
    let Some((id, username, password_hash, role, disabled)) = row else {
        return Ok(None);
    };
    let centers = user_centers::table
        .filter(user_centers::user_id.eq(&id))
        .select(user_centers::center_id)
        .order(user_centers::center_id)
        .load::<String>(conn)?
        .iter()
        .map(|c| stored::id(c))
        .collect::<Result<_, _>>()?;
    Ok(Some(User {
        id: stored::id(&id)?,
        username,
        role: Role::from_stored(&role)?,
        centers,
        disabled,
        password_hash,
    }))
}

/// Creates the first admin when the database has no account at all. The
/// password comes from the settings or is generated and written to a file
/// readable only by its owner; it is never logged.
pub fn bootstrap_admin(
    conn: &mut DbConnection,
    settings: &BootstrapSettings,
    password_cost: &PasswordHashSettings,
) -> Result<Option<String>, String> {
    let existing: i64 = users::table
        .count()
        .get_result(conn)
        .map_err(|e| e.to_string())?;
    if existing > 0 {
        return Ok(None);
    }
    let configured = settings.admin_password.expose_secret();
    let (password, written_to) = if configured.is_empty() {
        let mut bytes = [0u8; 18];
        OsRng.fill_bytes(&mut bytes);
        let password = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
        write_secret_file(&settings.admin_password_file, &password)?;
        (password, Some(settings.admin_password_file.clone()))
    } else {
        (configured.to_string(), None)
    };
    create_user(
        conn,
        NewUser {
            username: &settings.admin_username,
            password: &password,
            role: Role::Admin,
            center_codes: &[],
            password_cost,
        },
    )
    .map_err(|e| format!("cannot create the first admin: {e}"))?;
    Ok(Some(match written_to {
        Some(path) => format!(
            "created the first admin {:?}; its password is in {path} (readable only by you)",
            settings.admin_username
        ),
        None => format!(
            "created the first admin {:?} with the configured password",
            settings.admin_username
        ),
    }))
}

fn write_secret_file(path: &str, secret: &str) -> Result<(), String> {
    if let Some(dir) = std::path::Path::new(path).parent() {
        if !dir.as_os_str().is_empty() {
            std::fs::create_dir_all(dir)
                .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        }
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options
        .open(path)
        .map_err(|e| format!("cannot write {path}: {e}"))?;
    writeln!(file, "{secret}").map_err(|e| format!("cannot write {path}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHEAP: PasswordHashSettings = PasswordHashSettings {
        memory_kib: 8,
        iterations: 1,
        parallelism: 1,
    };

    #[test]
    fn a_hash_verifies_whatever_cost_it_was_made_with() {
        for cost in [CHEAP, PasswordHashSettings::OWASP_MINIMUM] {
            let hash = hash_password("correct horse battery staple", &cost).unwrap();
            assert!(hash.starts_with(&format!(
                "$argon2id$v=19$m={},t={},p={}$",
                cost.memory_kib, cost.iterations, cost.parallelism
            )));
            assert!(verify(&hash, "correct horse battery staple"));
            assert!(!verify(&hash, "correct horse battery stapler"));
        }
        // A hash made by argon2's defaults before the cost was a setting.
        let salt = SaltString::generate(&mut OsRng);
        let old = Argon2::default()
            .hash_password(b"an older password", &salt)
            .unwrap()
            .to_string();
        assert!(verify(&old, "an older password"));
    }
}
