//! Staff accounts: roles, center scopes, passwords, and their
//! administration over the API and the command line.
//!
//! - `passwords`: the password policy and argon2id hashing.
//! - `store`: reading and changing accounts (the last-admin rule, token
//!   generations that revoke tokens).
//! - `handlers`: the `/api/v1/users` routes.

use std::fmt;
use std::io::Write;
use std::str::FromStr;

use argon2::password_hash::rand_core::{OsRng, RngCore};
use base64::Engine;
use chrono::NaiveDateTime;
use secrecy::ExposeSecret;
use uuid::Uuid;

use crate::config::BootstrapSettings;
use crate::db::DbConnection;

mod handlers;
pub mod passwords;
pub mod store;

pub use handlers::routes;
pub use passwords::{hash_password, spend_verification_time, Passwords};
pub use store::{create_user, find_by_username, NewUser};

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
    pub display_name: Option<String>,
    pub role: Role,
    pub centers: Vec<Uuid>,
    pub disabled: bool,
    /// Bumped whenever the account's tokens must stop working.
    pub token_generation: i32,
    /// Holds a temporary password (set by an admin) that must be changed.
    pub must_change_password: bool,
    pub version: i32,
    pub created_at: NaiveDateTime,
    pub updated_at: Option<NaiveDateTime>,
    password_hash: String,
}

impl User {
    /// Checks `password` against the stored argon2id hash. Slow on purpose.
    pub fn password_matches(&self, password: &str) -> bool {
        passwords::verify(&self.password_hash, password)
    }

    /// The words a password of this account must not lean on.
    pub fn own_words(&self) -> Vec<&str> {
        let mut words = vec![self.username.as_str()];
        words.extend(self.display_name.as_deref());
        words
    }
}

/// Creates the first admin when the database has no account at all. The
/// password comes from the settings or is generated and written to a file
/// readable only by its owner; it is never logged.
pub fn bootstrap_admin(
    conn: &mut DbConnection,
    settings: &BootstrapSettings,
    passwords: &Passwords,
) -> Result<Option<String>, String> {
    if store::count(conn).map_err(|e| e.to_string())? > 0 {
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
            display_name: None,
            password: &password,
            role: Role::Admin,
            center_codes: &[],
            passwords,
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
