//! Settings: `config/default.toml` (compiled in), an optional file, then
//! `REFUGE__SECTION__KEY` environment variables, in that order of precedence.

use std::path::Path;

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

/// The JWT secret shipped in `config/default.toml`; production refuses it.
pub const DEVELOPMENT_JWT_SECRET: &str = "development-only-secret-do-not-use-in-production";

const DEFAULTS: &str = include_str!("../config/default.toml");

/// Everything the service can be configured with.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    pub environment: Environment,
    pub server: ServerSettings,
    pub database: DatabaseSettings,
    pub auth: AuthSettings,
    pub log: LogSettings,
    pub bootstrap: BootstrapSettings,
    pub provinces: ProvinceSettings,
    pub stats: StatsSettings,
    pub imports: ImportSettings,
    pub audit: AuditSettings,
    /// `[matching]`: the duplicate and tracing matcher's weights and threshold.
    pub matching: crate::matching::Weights,
    pub metrics: MetricsSettings,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Environment {
    Development,
    Production,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSettings {
    pub host: String,
    pub port: u16,
    pub workers: usize,
    pub body_limit_bytes: usize,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseSettings {
    /// May hold a password: never logged as a whole (see [`DatabaseSettings::redacted_url`]).
    pub url: SecretString,
    pub pool_size: u32,
    /// PostgreSQL only: group-commit writer threads (0: one per core, at least 2).
    pub writers: usize,
    pub connect_timeout_seconds: u64,
    pub sqlite_synchronous: SqliteSynchronous,
    pub sqlite_busy_timeout_ms: u32,
    /// SQLite: bytes of the database file the writer reads through a memory map (0: none).
    pub sqlite_mmap_bytes: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SqliteSynchronous {
    Full,
    Normal,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthSettings {
    pub jwt_secret: SecretString,
    pub issuer: String,
    pub audience: String,
    pub token_lifetime_seconds: u64,
    /// How stale (in seconds, 1 to 5) a server's copy of the revocations may
    /// get before a request reloads it: another process's revocation takes
    /// effect here within this time.
    pub revocation_refresh_seconds: u64,
    /// Least zxcvbn strength score (0 to 4) a new password must reach.
    pub password_min_score: u8,
    pub password_hash: PasswordHashSettings,
    pub login_throttle: LoginThrottleSettings,
}

/// `[auth.login_throttle]`: how failed logins are slowed down.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoginThrottleSettings {
    /// Failed logins for one username within the window before it is locked.
    pub max_failures_per_username: u32,
    /// Failed logins from one client address within the window before it is locked.
    pub max_failures_per_address: u32,
    /// The window failures are counted in, in seconds.
    pub window_seconds: u64,
    /// The first lockout, in seconds; each further one doubles it.
    pub lockout_seconds: u64,
    /// The longest lockout, in seconds.
    pub max_lockout_seconds: u64,
    /// Take the client address from the first X-Forwarded-For entry (only
    /// behind a reverse proxy that sets it), not from the connection.
    pub trust_forwarded_for: bool,
}

/// `[metrics]`: who may read `/metrics`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsSettings {
    /// The bearer token a scraper sends; empty turns `/metrics` off (404).
    pub token: SecretString,
}

impl MetricsSettings {
    /// Refuses a token too short to withstand guessing.
    pub fn check(&self) -> Result<(), String> {
        let token = self.token.expose_secret();
        if !token.is_empty() && token.len() < 24 {
            return Err(
                "metrics.token must be empty (metrics off) or at least 24 characters".into(),
            );
        }
        Ok(())
    }
}

/// `[audit]`: the audit trail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditSettings {
    /// Days an audit entry is kept before the purge removes it: at least
    /// 365 (the database refuses to delete younger entries).
    pub retention_days: u32,
}

/// `[auth.password_hash]`: the argon2id cost of new password hashes. A stored
/// hash carries the parameters it was made with, so changing these never
/// locks anyone out: old hashes verify with their own, new ones get these.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PasswordHashSettings {
    /// Memory per hash, in KiB.
    pub memory_kib: u32,
    /// Passes over that memory.
    pub iterations: u32,
    /// Lanes computed in parallel.
    pub parallelism: u32,
}

impl PasswordHashSettings {
    /// OWASP's minimum for argon2id (Password Storage Cheat Sheet): 19 MiB,
    /// 2 passes, 1 lane. Also argon2's own default. The configuration loader
    /// refuses anything cheaper; only code (the test harness) can go below.
    pub const OWASP_MINIMUM: PasswordHashSettings = PasswordHashSettings {
        memory_kib: 19_456,
        iterations: 2,
        parallelism: 1,
    };

    /// Whether these parameters cost less than [`Self::OWASP_MINIMUM`] in any dimension.
    pub fn is_below_minimum(&self) -> bool {
        let min = Self::OWASP_MINIMUM;
        self.memory_kib < min.memory_kib
            || self.iterations < min.iterations
            || self.parallelism < min.parallelism
    }

    /// The argon2 parameters, or why argon2 refuses them.
    pub fn params(&self) -> Result<argon2::Params, String> {
        argon2::Params::new(self.memory_kib, self.iterations, self.parallelism, None)
            .map_err(|e| format!("auth.password_hash: {e}"))
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogSettings {
    pub format: LogFormat,
    pub level: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BootstrapSettings {
    pub admin_username: String,
    pub admin_password: SecretString,
    pub admin_password_file: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProvinceSettings {
    pub extra: Vec<String>,
}

/// `[stats]`: statistics for dashboards.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatsSettings {
    /// Population of the area of origin before the displacement.
    pub origin_population: i64,
    /// Counts from 1 to k-1 are suppressed for callers without person-level access.
    pub suppression_k: i64,
}

/// `[imports]`: bulk CSV imports of registrations.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImportSettings {
    /// Largest accepted upload to `POST /api/v1/imports`, in bytes (413 past it).
    pub max_bytes: u64,
}

impl Settings {
    /// Loads the defaults, then `file` if given, then the environment.
    /// Refuses a password hash cheaper than [`PasswordHashSettings::OWASP_MINIMUM`]:
    /// whatever the environment, a configured service hashes at least that hard.
    pub fn load(file: Option<&Path>) -> Result<Settings, config::ConfigError> {
        let settings = Self::load_unchecked(file)?;
        let hash = settings.auth.password_hash;
        if hash.is_below_minimum() {
            let min = PasswordHashSettings::OWASP_MINIMUM;
            return Err(config::ConfigError::Message(format!(
                "auth.password_hash is below the OWASP minimum for argon2id \
                 (memory_kib >= {}, iterations >= {}, parallelism >= {}); got \
                 memory_kib = {}, iterations = {}, parallelism = {}",
                min.memory_kib,
                min.iterations,
                min.parallelism,
                hash.memory_kib,
                hash.iterations,
                hash.parallelism
            )));
        }
        Ok(settings)
    }

    fn load_unchecked(file: Option<&Path>) -> Result<Settings, config::ConfigError> {
        let mut builder = config::Config::builder()
            .add_source(config::File::from_str(DEFAULTS, config::FileFormat::Toml));
        if let Some(file) = file {
            builder = builder.add_source(config::File::from(file).required(true));
        }
        builder
            .add_source(
                config::Environment::with_prefix("REFUGE")
                    .prefix_separator("__")
                    .separator("__")
                    .try_parsing(true)
                    .list_separator(",")
                    .with_list_parse_key("provinces.extra"),
            )
            .build()?
            .try_deserialize()
    }

    /// Refuses settings that are unsafe for the configured environment.
    pub fn check(&self) -> Result<(), String> {
        if self.environment == Environment::Production {
            let secret = self.auth.jwt_secret.expose_secret();
            if secret == DEVELOPMENT_JWT_SECRET {
                return Err("production mode refuses the development JWT secret: set REFUGE__AUTH__JWT_SECRET".into());
            }
            if secret.len() < 32 {
                return Err("production mode needs a JWT secret of at least 32 bytes".into());
            }
        }
        if self.database.pool_size == 0 {
            return Err("database.pool_size must be at least 1".into());
        }
        if self.database.writers as u64 > u64::from(self.database.pool_size) {
            return Err("database.writers cannot exceed database.pool_size".into());
        }
        self.auth.password_hash.params()?;
        self.metrics.check()?;
        if self.auth.token_lifetime_seconds == 0 {
            return Err("auth.token_lifetime_seconds must be at least 1".into());
        }
        if !(1..=5).contains(&self.auth.revocation_refresh_seconds) {
            return Err("auth.revocation_refresh_seconds must be 1 to 5".into());
        }
        if self.auth.password_min_score > 4 {
            return Err("auth.password_min_score must be 0 to 4".into());
        }
        let throttle = &self.auth.login_throttle;
        if throttle.max_failures_per_username == 0
            || throttle.max_failures_per_address == 0
            || throttle.window_seconds == 0
            || throttle.lockout_seconds == 0
            || throttle.max_lockout_seconds < throttle.lockout_seconds
        {
            return Err(
                "auth.login_throttle: failures, window and lockout must be at least 1, \
                        and max_lockout_seconds at least lockout_seconds"
                    .into(),
            );
        }
        let m = &self.matching;
        if !(0.0 < m.name_close && m.name_close <= m.name_same && m.name_same <= 1.0) {
            return Err("matching: 0 < name_close <= name_same <= 1 is required".into());
        }
        if !(m.threshold.is_finite() && m.threshold > 0.0) {
            return Err("matching.threshold must be a positive number".into());
        }
        if !(m.tracing_threshold.is_finite() && m.tracing_threshold > 0.0) {
            return Err("matching.tracing_threshold must be a positive number".into());
        }
        if self.audit.retention_days < 365 {
            return Err("audit.retention_days must be at least 365".into());
        }
        if self.stats.origin_population < 1 {
            return Err("stats.origin_population must be at least 1".into());
        }
        if self.imports.max_bytes == 0 {
            return Err("imports.max_bytes must be at least 1".into());
        }
        if self.stats.suppression_k < 2 {
            return Err("stats.suppression_k must be at least 2".into());
        }
        Ok(())
    }
}

impl DatabaseSettings {
    /// The URL with any password replaced, for logs and error messages.
    pub fn redacted_url(&self) -> String {
        let url = self.url.expose_secret();
        match (url.find("://"), url.rfind('@')) {
            (Some(scheme_end), Some(at)) if at > scheme_end => {
                let credentials = &url[scheme_end + 3..at];
                match credentials.find(':') {
                    Some(colon) => format!(
                        "{}{}:***{}",
                        &url[..scheme_end + 3],
                        &credentials[..colon],
                        &url[at..]
                    ),
                    None => url.to_string(),
                }
            }
            _ => url.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compiled_defaults_load_and_pass_checks() {
        let settings = Settings::load(None).expect("defaults load");
        assert_eq!(settings.environment, Environment::Development);
        assert_eq!(settings.server.port, 8080);
        settings
            .check()
            .expect("development defaults are acceptable");
    }

    #[test]
    fn the_shipped_matching_settings_are_the_engines_defaults() {
        // The weights measured in BENCHMARKS.md are `Weights::default()`;
        // config/default.toml must ship the same ones.
        let settings = Settings::load(None).unwrap();
        assert_eq!(settings.matching, crate::matching::Weights::default());
    }

    #[test]
    fn production_refuses_the_development_secret() {
        let mut settings = Settings::load(None).unwrap();
        settings.environment = Environment::Production;
        assert!(settings
            .check()
            .unwrap_err()
            .contains("development JWT secret"));
        settings.auth.jwt_secret = SecretString::from("short");
        assert!(settings.check().unwrap_err().contains("32 bytes"));
        settings.auth.jwt_secret = SecretString::from("a".repeat(40));
        settings.check().unwrap();
    }

    #[test]
    fn the_loader_refuses_a_password_hash_below_the_owasp_minimum() {
        let dir = tempfile::tempdir().unwrap();
        let defaults = Settings::load(None).unwrap().auth.password_hash;
        assert_eq!(defaults, PasswordHashSettings::OWASP_MINIMUM);
        for (key, value) in [("memory_kib", 8), ("iterations", 1), ("parallelism", 0)] {
            let file = dir.path().join(format!("{key}.toml"));
            std::fs::write(&file, format!("[auth.password_hash]\n{key} = {value}\n")).unwrap();
            let error = Settings::load(Some(&file)).unwrap_err().to_string();
            assert!(
                error.contains("below the OWASP minimum")
                    && error.contains(&format!("{key} = {value}")),
                "{key}: {error}"
            );
        }
        let file = dir.path().join("stronger.toml");
        std::fs::write(
            &file,
            "[auth.password_hash]\nmemory_kib = 65536\niterations = 3\n",
        )
        .unwrap();
        let stronger = Settings::load(Some(&file)).unwrap();
        assert_eq!(stronger.auth.password_hash.memory_kib, 65536);
        stronger.check().unwrap();
    }

    #[test]
    fn check_refuses_parameters_argon2_cannot_use() {
        let mut settings = Settings::load(None).unwrap();
        settings.auth.password_hash.parallelism = 0;
        assert!(settings.check().unwrap_err().contains("auth.password_hash"));
        // Below the minimum but usable: allowed to code that builds settings (tests).
        settings.auth.password_hash = PasswordHashSettings {
            memory_kib: 8,
            iterations: 1,
            parallelism: 1,
        };
        settings.check().unwrap();
    }

    #[test]
    fn redacted_url_hides_the_password_only() {
        let mut settings = Settings::load(None).unwrap().database;
        settings.url = SecretString::from("postgres://refuge:s3cret@db:5432/refuge");
        assert_eq!(
            settings.redacted_url(),
            "postgres://refuge:***@db:5432/refuge"
        );
        settings.url = SecretString::from("sqlite://data/refuge.db");
        assert_eq!(settings.redacted_url(), "sqlite://data/refuge.db");
    }
}
