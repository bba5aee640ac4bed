//! Builds the HTTP application: routes, shared state and middleware. `main`
//! and the tests both start the service through [`Application::build`].

use std::net::TcpListener;
use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{Server, ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::middleware::{ErrorHandlerResponse, ErrorHandlers, Next};
use actix_web::{web, App, HttpServer, ResponseError};
use uuid::Uuid;

use crate::config::Settings;
use crate::db::Db;
use crate::error::{ApiError, PROBLEM_JSON};
use crate::provinces::Provinces;
use crate::{
    accounts, assistance, auth, centers, coverage, distributions, entitlements, flows, health,
    housing, imports, needs, organizations, persons, referrals, registration, reports, stats,
    stock, transport,
};

/// Why the service could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("{0}")]
    Config(String),
    #[error(transparent)]
    Database(#[from] crate::db::DbError),
    #[error("cannot listen on {address}: {source}")]
    Bind {
        address: String,
        source: std::io::Error,
    },
}

/// A built, bound, not yet running service.
pub struct Application {
    port: u16,
    server: Server,
    db: Db,
}

impl Application {
    /// Opens and migrates the database, creates the first admin if there is
    /// no account, and binds the listener (port 0 picks a free port).
    pub fn build(settings: &Settings) -> Result<Application, StartError> {
        settings.check().map_err(StartError::Config)?;
        let provinces = Provinces::new(&settings.provinces.extra).map_err(StartError::Config)?;
        let db = Db::open(&settings.database)?;
        let applied = db.migrate()?;
        if applied > 0 {
            tracing::info!(applied, backend = db.backend_name(), "migrations applied");
        }
        bootstrap(&db, settings)?;

        let address = format!("{}:{}", settings.server.host, settings.server.port);
        let listener = TcpListener::bind(&address).map_err(|source| StartError::Bind {
            address: address.clone(),
            source,
        })?;
        let port = listener
            .local_addr()
            .map_err(|source| StartError::Bind { address, source })?
            .port();

        let background_db = db.clone();
        let db = web::Data::new(db);
        let tokens = web::Data::new(auth::Tokens::new(&settings.auth));
        let provinces = web::Data::new(provinces);
        let stats_settings = web::Data::new(settings.stats.clone());
        let import_settings = web::Data::new(settings.imports.clone());
        let body_limit = settings.server.body_limit_bytes;
        let mut server = HttpServer::new(move || {
            App::new()
                .app_data(db.clone())
                .app_data(tokens.clone())
                .app_data(provinces.clone())
                .app_data(stats_settings.clone())
                .app_data(import_settings.clone())
                .app_data(web::PayloadConfig::new(body_limit))
                .app_data(crate::extract::BodyLimit(body_limit))
                .app_data(web::PathConfig::default().error_handler(|_, _| {
                    ApiError::NotFound("no resource has this id".into()).into()
                }))
                .configure(routes)
                .default_service(web::to(|| async {
                    Err::<actix_web::HttpResponse, _>(ApiError::NotFound("no such route".into()))
                }))
                .wrap(ErrorHandlers::new().default_handler(problem_for_framework_errors))
                .wrap(actix_web::middleware::from_fn(request_log))
        })
        .listen(listener)
        .map_err(|source| StartError::Bind {
            address: format!("port {port}"),
            source,
        })?;
        if settings.server.workers > 0 {
            server = server.workers(settings.server.workers);
        }
        Ok(Application {
            port,
            server: server.run(),
            db: background_db,
        })
    }

    /// The port the service listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Serves until the process is told to stop (SIGINT/SIGTERM drain in-flight requests).
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let compaction = tokio::spawn(compact_statistics(self.db));
        let result = self.server.await;
        compaction.abort();
        result
    }
}

/// How often statistics shards are folded together (PostgreSQL only).
const COMPACTION_INTERVAL: std::time::Duration = std::time::Duration::from_secs(60);

/// Every minute, folds the sharded statistics rows of arrival hours older
/// than two hours into one row each, so that reads stay small; the hours
/// being registered now stay sharded for concurrent writers.
async fn compact_statistics(db: Db) {
    if db.backend_name() != "postgres" {
        return;
    }
    let mut interval = tokio::time::interval(COMPACTION_INTERVAL);
    loop {
        interval.tick().await;
        let before = crate::db::now() - chrono::TimeDelta::hours(2);
        match db
            .write(move |conn| crate::stats::compact(conn, before))
            .await
        {
            Ok(0) => {}
            Ok(rows) => tracing::debug!(rows, "statistics shards compacted"),
            Err(error) => tracing::warn!(%error, "statistics compaction failed; retrying later"),
        }
    }
}

fn bootstrap(db: &Db, settings: &Settings) -> Result<(), StartError> {
    let mut conn = db.connection_for_setup()?;
    match accounts::bootstrap_admin(&mut conn, &settings.bootstrap) {
        Ok(Some(message)) => {
            tracing::warn!("{message}");
            Ok(())
        }
        Ok(None) => Ok(()),
        Err(message) => Err(StartError::Config(message)),
    }
}

/// Every route. Paths are part of the API contract (see openapi.yaml).
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/healthz", web::get().to(health::healthz))
        .route("/readyz", web::get().to(health::readyz))
        .service(
            web::scope("/api/v1")
                .route("/auth/login", web::post().to(auth::login))
                .route("/me", web::get().to(auth::me))
                .route("/codes/needs", web::get().to(needs::list))
                .service(
                    web::resource("/centers")
                        .route(web::get().to(centers::list))
                        .route(web::post().to(centers::create_handler)),
                )
                .service(
                    web::resource("/centers/{id}")
                        .route(web::get().to(centers::get))
                        .route(web::patch().to(centers::patch)),
                )
                .service(
                    web::resource("/households")
                        .route(web::get().to(registration::list))
                        .route(web::post().to(registration::create)),
                )
                .service(
                    web::resource("/households/{id}")
                        .route(web::get().to(registration::get))
                        .route(web::patch().to(registration::patch)),
                )
                .route("/imports", web::post().to(imports::create))
                .route("/imports/template.csv", web::get().to(imports::template))
                .route("/persons", web::get().to(persons::search))
                .route("/persons/{id}", web::get().to(persons::get))
                .service(
                    web::resource("/flow-counts")
                        .route(web::get().to(flows::list))
                        .route(web::post().to(flows::create)),
                )
                .service(
                    web::resource("/flow-counts/{id}")
                        .route(web::get().to(flows::get))
                        .route(web::patch().to(flows::patch)),
                )
                .route(
                    "/flow-counts/{id}/corrections",
                    web::get().to(flows::corrections),
                )
                .service(
                    web::resource("/organizations")
                        .route(web::get().to(organizations::list))
                        .route(web::post().to(organizations::create_handler)),
                )
                .route("/organizations/{id}", web::get().to(organizations::get))
                .service(
                    web::resource("/sites")
                        .route(web::get().to(housing::list_sites))
                        .route(web::post().to(housing::create_site_handler)),
                )
                .service(
                    web::resource("/sites/{id}")
                        .route(web::get().to(housing::get_site))
                        .route(web::patch().to(housing::patch_site)),
                )
                .service(
                    web::resource("/sites/{id}/placements")
                        .route(web::get().to(housing::site_placements))
                        .route(web::post().to(housing::place_handler)),
                )
                .route(
                    "/sites/{id}/occupancy",
                    web::get().to(housing::site_occupancy),
                )
                .route("/placements/{id}", web::get().to(housing::get_placement))
                .route(
                    "/placements/{id}/checkout",
                    web::post().to(housing::checkout_handler),
                )
                .route("/occupancy", web::get().to(housing::province_occupancy))
                .service(
                    web::resource("/items")
                        .route(web::get().to(stock::list_items))
                        .route(web::post().to(stock::create_item_handler)),
                )
                .route("/items/{id}", web::get().to(stock::get_item))
                .route("/stock", web::get().to(stock::levels_handler))
                .route("/stock/movements", web::get().to(stock::movements_handler))
                .route("/stock/receipts", web::post().to(stock::receive_handler))
                .route("/stock/transfers", web::post().to(stock::transfer_handler))
                .route("/stock/adjustments", web::post().to(stock::adjust_handler))
                .service(
                    web::resource("/entitlements")
                        .route(web::get().to(entitlements::list))
                        .route(web::post().to(entitlements::create_handler)),
                )
                .route("/entitlements/{id}", web::get().to(entitlements::get))
                .service(
                    web::resource("/distributions")
                        .route(web::get().to(distributions::list))
                        .route(web::post().to(distributions::create)),
                )
                .route("/distributions/{id}", web::get().to(distributions::get))
                .route(
                    "/households/{id}/assistance",
                    web::get().to(assistance::of_household),
                )
                .service(
                    web::resource("/trips")
                        .route(web::get().to(transport::list_trips))
                        .route(web::post().to(transport::create_trip_handler)),
                )
                .route("/trips/{id}", web::get().to(transport::get_trip))
                .route(
                    "/trips/{id}/boardings",
                    web::post().to(transport::board_handler),
                )
                .route("/trips/{id}/manifest", web::get().to(transport::manifest))
                .service(
                    web::resource("/referrals")
                        .route(web::get().to(referrals::list))
                        .route(web::post().to(referrals::create_handler)),
                )
                .service(
                    web::resource("/referrals/{id}")
                        .route(web::get().to(referrals::get))
                        .route(web::patch().to(referrals::patch)),
                )
                .route("/stats/summary", web::get().to(stats::summary))
                .route("/stats/arrivals", web::get().to(stats::arrivals))
                .route("/stats/demographics", web::get().to(stats::demographics))
                .route("/stats/needs", web::get().to(stats::needs))
                .route("/stats/coverage", web::get().to(coverage::coverage))
                .route("/reports/{name}", web::get().to(reports::download)),
        );
}

/// Renders errors produced by the framework itself (unknown route, wrong
/// method, oversized body...) as problem+json like every other error.
fn problem_for_framework_errors<B: MessageBody + 'static>(
    res: ServiceResponse<B>,
) -> actix_web::Result<ErrorHandlerResponse<B>> {
    let is_problem = res
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(PROBLEM_JSON.as_bytes()));
    if is_problem {
        return Ok(ErrorHandlerResponse::Response(res.map_into_left_body()));
    }
    let error = match res.status().as_u16() {
        404 => ApiError::NotFound("no such route".into()),
        405 => ApiError::MethodNotAllowed,
        413 => ApiError::PayloadTooLarge { limit: 0 },
        415 => ApiError::UnsupportedMediaType("application/json"),
        400 => ApiError::BadRequest {
            detail: "the request could not be understood".into(),
            errors: vec![],
        },
        503 => ApiError::Unavailable("unavailable".into()),
        _ => ApiError::internal(format!("framework error with status {}", res.status())),
    };
    let (req, _) = res.into_parts();
    let response = error.error_response();
    Ok(ErrorHandlerResponse::Response(
        ServiceResponse::new(req, response).map_into_right_body(),
    ))
}

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// One log line per request: method, route template (never the concrete path
/// or query, which can carry names), status, latency and request id.
async fn request_log(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = Instant::now();
    let request_id = req
        .headers()
        .get(&REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|v| {
            !v.is_empty()
                && v.len() <= 64
                && v.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
        .map(str::to_string)
        .unwrap_or_else(|| Uuid::new_v4().to_string());
    let method = req.method().clone();
    let mut res = next.call(req).await?;
    let route = res
        .request()
        .match_pattern()
        .unwrap_or_else(|| "<unmatched>".to_string());
    let status = res.status().as_u16();
    let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
    tracing::info!(request_id = %request_id, method = %method, route = %route, status, latency_ms, "request");
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        res.headers_mut().insert(REQUEST_ID, value);
    }
    Ok(res)
}
