//! The password policy and hashing: argon2id hashes (cost from
//! `[auth.password_hash]`), and new passwords refused when short or guessable.
//!
//! Guessability is judged by zxcvbn (the `zxcvbn` crate, a port of Dropbox's
//! estimator): it knows the commonly used passwords, names and words of its
//! frequency lists, keyboard patterns, dates, repeats and l33t substitutions,
//! and is given the account's username and display name so that a password
//! built from them scores low. A password must reach
//! `auth.password_min_score` (3 of 0-4 by default: "safely unguessable",
//! about 10^10 guesses) and be 12 to 256 characters long.

use std::sync::Mutex;

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Version};

use crate::config::{AuthSettings, PasswordHashSettings};
use crate::error::{ApiError, FieldError};

/// Shortest password accepted for an account.
pub const MIN_PASSWORD_LENGTH: usize = 12;
/// Longest password accepted (argon2 would take more, but nobody types more).
pub const MAX_PASSWORD_LENGTH: usize = 256;

/// How passwords are checked and hashed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Passwords {
    pub cost: PasswordHashSettings,
    pub min_score: u8,
}

impl Passwords {
    pub fn new(settings: &AuthSettings) -> Passwords {
        Passwords {
            cost: settings.password_hash,
            min_score: settings.password_min_score,
        }
    }

    /// Refuses a new password that is too short, too long or too easy to
    /// guess; `context` holds the account's own words (username, display
    /// name), which a password must not lean on. `field` names the request
    /// field in the error.
    pub fn check(&self, field: &str, password: &str, context: &[&str]) -> Option<FieldError> {
        let length = password.chars().count();
        if length < MIN_PASSWORD_LENGTH {
            return Some(FieldError::new(
                field,
                "too_short",
                format!("at least {MIN_PASSWORD_LENGTH} characters"),
            ));
        }
        if length > MAX_PASSWORD_LENGTH {
            return Some(FieldError::new(
                field,
                "too_long",
                format!("at most {MAX_PASSWORD_LENGTH} characters"),
            ));
        }
        let estimate = zxcvbn::zxcvbn(password, context);
        let score = u8::from(estimate.score());
        if score < self.min_score {
            let hint = estimate
                .feedback()
                .and_then(|f| f.warning().map(|w| w.to_string()))
                .unwrap_or_else(|| "it is too easy to guess".into());
            return Some(FieldError::new(
                field,
                "too_weak",
                format!(
                    "too easy to guess (strength {score} of 4, at least {} needed): {hint}; \
                     a few unrelated words make a strong password",
                    self.min_score
                ),
            ));
        }
        None
    }

    /// Hashes a password with argon2id at this cost and a random salt (PHC string format).
    pub fn hash(&self, password: &str) -> Result<String, ApiError> {
        hash_password(password, &self.cost)
    }
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

/// Checks `password` against a PHC string. The hash names its own algorithm
/// and parameters, so hashes made under an earlier `[auth.password_hash]`
/// still verify.
pub(super) fn verify(hash: &str, password: &str) -> bool {
    PasswordHash::new(hash)
        .map(|parsed| {
            Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
        })
        .unwrap_or(false)
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

    #[test]
    fn common_short_and_personal_passwords_are_refused() {
        let policy = Passwords {
            cost: CHEAP,
            min_score: 3,
        };
        let code = |password: &str, context: &[&str]| {
            policy
                .check("password", password, context)
                .map(|e| e.code.to_string())
        };
        assert_eq!(code("short1!", &[]).as_deref(), Some("too_short"));
        assert_eq!(code(&"x".repeat(257), &[]).as_deref(), Some("too_long"));
        for common in [
            "password1234",
            "qwertyuiop123",
            "123456789012",
            "iloveyou2023!",
        ] {
            assert_eq!(code(common, &[]).as_deref(), Some("too_weak"), "{common}");
        }
        // The account's own name does not make a password.
        assert_eq!(
            code(
                "anahit.petrosyan2023",
                &["anahit.petrosyan", "Anahit Petrosyan"]
            )
            .as_deref(),
            Some("too_weak")
        );
        assert_eq!(code("lantern orchard velvet 47", &[]), None);
    }
}
