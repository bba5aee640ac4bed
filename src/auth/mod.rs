//! Authentication and authorization: the `Caller` extractor that every
//! protected handler takes, and what a role may see and do.
//!
//! - [`tokens`]: signed access tokens (HS256 JWTs).
//! - [`revocation`]: tokens revoked by logout or by a change to the
//!   account, checked on every request.
//! - [`throttle`]: failed logins slowed down per username and address.
//! - [`handlers`]: login, logout, `/me` and changing one's own password.

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{web, FromRequest, HttpMessage, HttpRequest};
use futures_util::future::LocalBoxFuture;
use uuid::Uuid;

use crate::accounts::Role;
use crate::db::audit::Actor;
use crate::db::Db;
use crate::error::ApiError;

mod handlers;
pub mod revocation;
pub mod throttle;
pub mod tokens;

pub use handlers::routes;
pub use revocation::Revocations;
pub use tokens::Tokens;

/// The id of the request being served (`X-Request-Id`), put in the
/// request's extensions by the request log, and carried into audit entries.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

impl RequestId {
    /// The id of the request `req` is serving, if the request log set one.
    pub fn of(req: &HttpRequest) -> Option<String> {
        req.extensions().get::<RequestId>().map(|id| id.0.clone())
    }
}

/// The authenticated user making a request.
#[derive(Debug, Clone)]
pub struct Caller {
    pub user_id: Uuid,
    pub username: String,
    pub role: Role,
    pub centers: Vec<Uuid>,
    /// The token's id and expiry (for logout).
    pub token_id: Uuid,
    pub token_expires_at: u64,
    /// The request's id, for the audit trail.
    pub request_id: Option<String>,
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

    /// The centers' ids as stored, to filter a query by; `None` for all.
    pub fn stored_ids(&self) -> Option<Vec<String>> {
        match self {
            CenterScope::All => None,
            CenterScope::Only(centers) => Some(centers.iter().map(Uuid::to_string).collect()),
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
    /// An account acting at the server's command line (`refuge import
    /// --as`): no token, no request.
    pub fn acting_as(user: &crate::accounts::User) -> Caller {
        Caller {
            user_id: user.id,
            username: user.username.clone(),
            role: user.role,
            centers: user.centers.clone(),
            token_id: Uuid::nil(),
            token_expires_at: 0,
            request_id: None,
        }
    }

    /// Who is acting, for the audit trail.
    pub fn actor(&self) -> Actor {
        Actor::account(
            self.user_id,
            &self.username,
            self.role.as_str(),
            self.request_id.clone(),
        )
    }

    /// Reading the audit trail: admins and auditors.
    pub fn require_auditor(&self) -> Result<(), ApiError> {
        match self.role {
            Role::Admin | Role::Auditor => Ok(()),
            _ => Err(ApiError::Forbidden(
                "only an admin or an auditor may read the audit trail".into(),
            )),
        }
    }

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
    type Future = LocalBoxFuture<'static, Result<Caller, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move { authenticate(&req).await })
    }
}

/// What a token holding a temporary password may still reach.
const ALLOWED_WITH_TEMPORARY_PASSWORD: [&str; 3] =
    ["/api/v1/me", "/api/v1/me/password", "/api/v1/auth/logout"];

async fn authenticate(req: &HttpRequest) -> Result<Caller, ApiError> {
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
    let revocations = req
        .app_data::<web::Data<Revocations>>()
        .ok_or_else(|| ApiError::internal("revocations not configured"))?;
    let db = req
        .app_data::<web::Data<Db>>()
        .ok_or_else(|| ApiError::internal("database not configured"))?;
    revocations.check(db, &claims).await?;
    if claims.pwc && !ALLOWED_WITH_TEMPORARY_PASSWORD.contains(&req.path()) {
        return Err(ApiError::PasswordChangeRequired);
    }
    Ok(Caller {
        user_id: claims.sub,
        username: claims.username,
        role: claims.role,
        centers: claims.centers,
        token_id: claims.jti,
        token_expires_at: claims.exp,
        request_id: RequestId::of(req),
    })
}
