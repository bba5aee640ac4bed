//! Probes for orchestrators and load balancers (no authentication).

use actix_web::{web, HttpResponse};

use crate::db::Db;
use crate::error::ApiError;
use crate::http::routes::resource;

/// `GET /healthz`: the process is up and serving HTTP.
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({ "status": "ok" }))
}

/// `GET /readyz`: the database answers and its migrations are all applied.
pub async fn readyz(db: web::Data<Db>) -> Result<HttpResponse, ApiError> {
    db.readiness().await.map_err(ApiError::Unavailable)?;
    Ok(HttpResponse::Ok()
        .json(serde_json::json!({ "status": "ready", "database": db.backend_name() })))
}

/// The health routes, at the root (outside `/api/v1`).
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/healthz").get(healthz))
        .service(resource("/readyz").get(readyz));
}
