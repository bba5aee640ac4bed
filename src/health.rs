//! Probes for orchestrators and load balancers (no authentication).

use actix_web::{web, HttpResponse};

use crate::db::Db;
use crate::error::ApiError;
use crate::http::routes::resource;
use crate::matching::index::MatchIndex;

/// `GET /healthz`: the process is up and serving HTTP.
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({ "status": "ok" }))
}

/// `GET /readyz`: the database answers and its migrations are all applied.
/// Says too whether the matching index has loaded (until it has,
/// registrations read their candidates from the database: slower at a
/// million persons, and without the last minute's registrations), without
/// holding readiness back for it.
pub async fn readyz(
    db: web::Data<Db>,
    index: web::Data<MatchIndex>,
) -> Result<HttpResponse, ApiError> {
    db.readiness().await.map_err(ApiError::Unavailable)?;
    let index = if index.is_ready() { "ready" } else { "loading" };
    Ok(HttpResponse::Ok().json(serde_json::json!({
        "status": "ready",
        "database": db.backend_name(),
        "matching_index": index,
    })))
}

/// The health routes, at the root (outside `/api/v1`).
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/healthz").get(healthz))
        .service(resource("/readyz").get(readyz));
}
