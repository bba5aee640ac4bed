//! Signed access tokens.
//!
//! Tokens are HS256 JWTs; the algorithm is pinned on verification so a token
//! cannot choose its own (`alg: none` or a key-confusion attack), and `exp`,
//! `iat`, `iss` and `aud` are all required and checked. The role and center
//! scope travel in the token, and so does the account's token generation
//! (`gen`): a request is authorized without reading the account, and the
//! token is revoked when the account's generation moves on (see
//! [`super::revocation`]).

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::accounts::{Role, User};
use crate::config::AuthSettings;
use crate::error::ApiError;

/// The claims of an access token.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct Claims {
    pub sub: Uuid,
    pub username: String,
    pub role: Role,
    pub centers: Vec<Uuid>,
    pub iat: u64,
    pub exp: u64,
    pub iss: String,
    pub aud: String,
    /// The token's own id, for revoking this one token (logout).
    pub jti: Uuid,
    /// The account's token generation when the token was issued.
    pub gen: i32,
    /// The account holds a temporary password that must be changed first.
    pub pwc: bool,
}

/// Issues and verifies access tokens.
pub struct Tokens {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    issuer: String,
    audience: String,
    pub(super) lifetime_seconds: u64,
}

impl Tokens {
    pub fn new(settings: &AuthSettings) -> Tokens {
        let secret = settings.jwt_secret.expose_secret().as_bytes();
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[&settings.issuer]);
        validation.set_audience(&[&settings.audience]);
        validation.set_required_spec_claims(&["exp", "iat", "iss", "aud", "sub"]);
        validation.leeway = 30;
        Tokens {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
            issuer: settings.issuer.clone(),
            audience: settings.audience.clone(),
            lifetime_seconds: settings.token_lifetime_seconds,
        }
    }

    /// A token for `user`, carrying its current token generation.
    pub(super) fn issue(&self, user: &User) -> Result<String, ApiError> {
        let now = chrono::Utc::now().timestamp().max(0) as u64;
        let claims = Claims {
            sub: user.id,
            username: user.username.clone(),
            role: user.role,
            centers: user.centers.clone(),
            iat: now,
            exp: now + self.lifetime_seconds,
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            jti: Uuid::new_v4(),
            gen: user.token_generation,
            pwc: user.must_change_password,
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(ApiError::internal)
    }

    pub(super) fn verify(&self, token: &str) -> Result<Claims, ApiError> {
        jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map(|data| data.claims)
            .map_err(|_| ApiError::Unauthorized {
                detail: "the access token is invalid or expired; log in again",
                invalid_token: true,
            })
    }
}
