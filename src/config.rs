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
    pub fn load(file: Option<&Path>) -> Result<Settings, config::ConfigError> {
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
        if self.auth.token_lifetime_seconds == 0 {
            return Err("auth.token_lifetime_seconds must be at least 1".into());
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
