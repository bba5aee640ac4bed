//! Authentication and authorization: login, signed access tokens, and the
//! `Caller` extractor that every protected handler takes.
//!
//! Tokens are HS256 JWTs; the algorithm is pinned on verification so a token
//! cannot choose its own (`alg: none` or a key-confusion attack), and `exp`,
//! `iat`, `iss` and `aud` are all required and checked. The role and center
//! scope travel in the token, so a request needs no database read to be
//! authorized; changes to an account take effect at its next login, at most
//! one token lifetime later.

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{web, FromRequest, HttpRequest, HttpResponse};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use std::future::{ready, Ready};
use uuid::Uuid;

use crate::accounts::{self, Role, User};
use crate::config::{AuthSettings, PasswordHashSettings};
use crate::db::Db;
use crate::error::ApiError;
use crate::extract::JsonBody;
use crate::http::routes::resource;

/// The claims of an access token.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Claims {
    sub: Uuid,
    username: String,
    role: Role,
    centers: Vec<Uuid>,
    iat: u64,
    exp: u64,
    iss: String,
    aud: String,
    jti: Uuid,
}

/// Issues and verifies access tokens.
pub struct Tokens {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    issuer: String,
    audience: String,
    lifetime_seconds: u64,
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

    fn issue(&self, user: &User) -> Result<String, ApiError> {
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
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(ApiError::internal)
    }

    fn verify(&self, token: &str) -> Result<Claims, ApiError> {
        jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map(|data| data.claims)
            .map_err(|_| ApiError::Unauthorized {
                detail: "the access token is invalid or expired; log in again",
                invalid_token: true,
            })
    }
}

/// The authenticated user making a request.
#[derive(Debug, Clone)]
pub struct Caller {
    pub user_id: Uuid,
    pub username: String,
    pub role: Role,
    pub centers: Vec<Uuid>,
}

/// Which centers' person-level records a caller may see.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CenterScope {
    All,
    Only(Vec<Uuid>),
}

impl CenterScope {
    /// Whether the scope takes in `center` (for filtering rows).
    pub fn allows(&self, center: Uuid) -> bool {
        match self {
            CenterScope::All => true,
            CenterScope::Only(centers) => centers.contains(&center),
        }
    }

    /// The one check of "may this caller see or act on center X": 403
    /// unless the scope takes in `center`. `whose` says in the message whose
    /// center it is: `"this household's center"`, `"this center"`.
    pub fn require(&self, center: Uuid, whose: &str) -> Result<(), ApiError> {
        if self.allows(center) {
            Ok(())
        } else {
            Err(ApiError::Forbidden(format!(
                "you are not assigned to {whose}"
            )))
        }
    }

    /// A list's `center_id` filter, if sent, must lie inside the scope (403),
    /// rather than answer an empty list that looks like "nothing there".
    pub fn require_filter(&self, center: Option<Uuid>) -> Result<(), ApiError> {
        match center {
            Some(center) => self.require(center, "this center"),
            None => Ok(()),
        }
    }
}

impl Caller {
    /// Admins only (centers, accounts).
    pub fn require_admin(&self) -> Result<(), ApiError> {
        match self.role {
            Role::Admin => Ok(()),
            _ => Err(ApiError::Forbidden("only an admin may do this".into())),
        }
    }

    /// Person-level read access: admins and auditors everywhere, registrars
    /// and aid workers at their centers, analysts nowhere.
    pub fn person_read_scope(&self) -> Result<CenterScope, ApiError> {
        match self.role {
            Role::Admin | Role::Auditor => Ok(CenterScope::All),
            Role::Registrar | Role::AidWorker => Ok(CenterScope::Only(self.centers.clone())),
            Role::Analyst => Err(ApiError::Forbidden(
                "the analyst role sees aggregate statistics only, not person-level records".into(),
            )),
        }
    }

    /// May read person-level records at `center`.
    pub fn require_person_read(&self, center: Uuid) -> Result<(), ApiError> {
        self.person_read_scope()?
            .require(center, "this household's center")
    }

    /// Aggregate (not person-level) read access, such as border flow counts:
    /// admins, auditors and analysts everywhere, registrars and aid workers at
    /// their centers.
    pub fn aggregate_read_scope(&self) -> CenterScope {
        match self.role {
            Role::Admin | Role::Auditor | Role::Analyst => CenterScope::All,
            Role::Registrar | Role::AidWorker => CenterScope::Only(self.centers.clone()),
        }
    }

    /// May register or correct records (households, flow counts) at
    /// `center`: admins anywhere, registrars at their centers.
    pub fn require_registration(&self, center: Uuid) -> Result<(), ApiError> {
        match self.role {
            Role::Admin => Ok(()),
            Role::Registrar if self.centers.contains(&center) => Ok(()),
            Role::Registrar => Err(ApiError::Forbidden(
                "you are not assigned to this center".into(),
            )),
            _ => Err(ApiError::Forbidden(format!(
                "the {} role cannot register or correct records at centers",
                self.role
            ))),
        }
    }

    /// Where the caller may register records: admins everywhere, registrars
    /// at their centers; every other role nowhere (403).
    pub fn registration_scope(&self) -> Result<CenterScope, ApiError> {
        match self.role {
            Role::Admin => Ok(CenterScope::All),
            Role::Registrar => Ok(CenterScope::Only(self.centers.clone())),
            _ => Err(ApiError::Forbidden(format!(
                "the {} role cannot register or correct records at centers",
                self.role
            ))),
        }
    }

    /// May deliver aid (housing, items, transport) to households registered
    /// at `center`: admins anywhere, registrars and aid workers at their centers.
    pub fn require_aid(&self, center: Uuid) -> Result<(), ApiError> {
        match self.role {
            Role::Admin => Ok(()),
            Role::Registrar | Role::AidWorker if self.centers.contains(&center) => Ok(()),
            Role::Registrar | Role::AidWorker => Err(ApiError::Forbidden(
                "you are not assigned to this household's center".into(),
            )),
            _ => Err(ApiError::Forbidden(format!(
                "the {} role cannot record aid",
                self.role
            ))),
        }
    }
}

impl FromRequest for Caller {
    type Error = ApiError;
    type Future = Ready<Result<Caller, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(authenticate(req))
    }
}

fn authenticate(req: &HttpRequest) -> Result<Caller, ApiError> {
    let tokens = req
        .app_data::<web::Data<Tokens>>()
        .ok_or_else(|| ApiError::internal("token service not configured"))?;
    let value = req.headers().get(header::AUTHORIZATION).ok_or(ApiError::Unauthorized {
        detail: "send an access token: Authorization: Bearer <token> (POST /api/v1/auth/login gives one)",
        invalid_token: false,
    })?;
    let token = value
        .to_str()
        .ok()
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim)
        .ok_or(ApiError::Unauthorized {
            detail: "the Authorization header must be: Bearer <token>",
            invalid_token: true,
        })?;
    let claims = tokens.verify(token)?;
    Ok(Caller {
        user_id: claims.sub,
        username: claims.username,
        role: claims.role,
        centers: claims.centers,
    })
}

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
}

/// `POST /api/v1/auth/login`: exchanges a username and password for a token.
pub async fn login(
    db: web::Data<Db>,
    tokens: web::Data<Tokens>,
    password_cost: web::Data<PasswordHashSettings>,
    body: JsonBody<LoginRequest>,
) -> Result<HttpResponse, ApiError> {
    let LoginRequest { username, password } = body.value;
    let password_cost = **password_cost;
    // The lookup and the (deliberately slow) hash check both run off the async workers.
    let user = db
        .read(move |conn| {
            let user = accounts::find_by_username(conn, &username)?;
            Ok(match user {
                Some(user) if user.password_matches(&password) && !user.disabled => Some(user),
                Some(_) => None,
                None => {
                    accounts::spend_verification_time(&password, &password_cost);
                    None
                }
            })
        })
        .await?;
    let user = user.ok_or(ApiError::Unauthorized {
        detail: "wrong username or password",
        invalid_token: false,
    })?;
    tracing::info!(user_id = %user.id, role = %user.role, "login");
    let access_token = tokens.issue(&user)?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(TokenResponse {
            access_token,
            token_type: "Bearer",
            expires_in: tokens.lifetime_seconds,
        }))
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

/// The auth routes, under `/api/v1`.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/auth/login").post(login))
        .service(resource("/me").get(me));
}
