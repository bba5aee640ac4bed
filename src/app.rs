//! Builds the HTTP application: routes, shared state and middleware. `main`
//! and the tests both start the service through [`Application::build`].

use std::net::TcpListener;
use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{Server, ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::middleware::{ErrorHandlerResponse, ErrorHandlers, Next};
use actix_web::{web, App, HttpMessage, HttpServer, ResponseError};
use uuid::Uuid;

use crate::config::Settings;
use crate::db::audit::Actor;
use crate::db::{Db, DbError};
use crate::error::{ApiError, PROBLEM_JSON};
use crate::http::time;
use crate::matching::index::MatchIndex;
use crate::provinces::Provinces;
use crate::{
    accounts, assistance, audit, auth, centers, coverage, dashboard, distributions, entitlements,
    flows, health, housing, imports, metrics, needs, organizations, persons, referrals,
    registration, reports, stats, stock, transport,
};

/// Why the service could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("{0}")]
    Config(String),
    #[error(transparent)]
    Database(#[from] DbError),
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
    index: web::Data<MatchIndex>,
    audit_retention_days: u32,
    login_throttle: crate::config::LoginThrottleSettings,
}

impl Application {
    /// Opens and migrates the database, creates the first admin if there is
    /// no account, and binds the listener (port 0 picks a free port).
    pub fn build(settings: &Settings) -> Result<Application, StartError> {
        Application::build_with(settings, |_| {})
    }

    /// [`Application::build`] with `extra` routes mounted beside the API's,
    /// under the same middleware: for tests that need a handler the API does
    /// not have (one that panics, say).
    pub fn build_with(
        settings: &Settings,
        extra: fn(&mut web::ServiceConfig),
    ) -> Result<Application, StartError> {
        settings.check().map_err(StartError::Config)?;
        let provinces = Provinces::new(&settings.provinces.extra).map_err(StartError::Config)?;
        let db = Db::open(&settings.database)?;
        let applied = migrate(&db)?;
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
        let passwords = web::Data::new(accounts::Passwords::new(&settings.auth));
        let revocations = web::Data::new(auth::Revocations::new(
            settings.auth.revocation_refresh_seconds,
        ));
        let login_throttle = web::Data::new(settings.auth.login_throttle);
        let provinces = web::Data::new(provinces);
        let stats_settings = web::Data::new(settings.stats.clone());
        let import_settings = web::Data::new(settings.imports.clone());
        let matching = web::Data::new(settings.matching);
        let scrape_token = web::Data::new(metrics::ScrapeToken::new(&settings.metrics));
        let index = web::Data::new(MatchIndex::new());
        index.clone().into_inner().load(background_db.clone())?;
        let index_handle = index.clone();
        let body_limit = settings.server.body_limit_bytes;
        let mut server = HttpServer::new(move || {
            App::new()
                .app_data(db.clone())
                .app_data(tokens.clone())
                .app_data(passwords.clone())
                .app_data(revocations.clone())
                .app_data(login_throttle.clone())
                .app_data(provinces.clone())
                .app_data(stats_settings.clone())
                .app_data(import_settings.clone())
                .app_data(matching.clone())
                .app_data(index.clone())
                .app_data(scrape_token.clone())
                .app_data(web::PayloadConfig::new(body_limit))
                .app_data(crate::extract::BodyLimit(body_limit))
                .app_data(web::PathConfig::default().error_handler(|_, _| {
                    ApiError::NotFound("no resource has this id".into()).into()
                }))
                .configure(routes)
                .configure(extra)
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
            index: index_handle,
            audit_retention_days: settings.audit.retention_days,
            login_throttle: settings.auth.login_throttle,
        })
    }

    /// The port the service listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The matching index, which loads in the background on a large
    /// database (for benchmarks that must wait until it has).
    pub fn matching_index(&self) -> web::Data<MatchIndex> {
        self.index.clone()
    }

    /// The service's database handle (for tests and tools that run beside it
    /// without opening a second set of pools).
    pub fn db(&self) -> Db {
        self.db.clone()
    }

    /// Serves until the process is told to stop (SIGINT/SIGTERM drain in-flight requests).
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let compaction = tokio::spawn(compact_statistics(self.db.clone()));
        let match_keys = tokio::spawn(write_match_keys(self.db.clone()));
        let name_keys = tokio::spawn(merge_name_keys(self.db.clone()));
        let purge = tokio::spawn(daily_maintenance(
            self.db,
            self.audit_retention_days,
            self.login_throttle,
        ));
        let result = self.server.await;
        compaction.abort();
        match_keys.abort();
        name_keys.abort();
        purge.abort();
        result
    }
}

/// Brings the database up to date: applies the pending migrations, then
/// rebuilds the derived rows whose derivation changed (the name search
/// keys). Start-up, `refuge migrate` and every command that opens the
/// database run it; storage itself knows nothing of derived rows.
pub fn migrate(db: &Db) -> Result<usize, DbError> {
    let applied = db.migrate()?;
    let mut conn = db.connection_for_setup()?;
    persons::name_keys::rebuild_stale_name_keys(&mut conn)
        .map_err(|e| DbError::Migration(format!("rebuilding the name search keys: {e}")))?;
    crate::matching::keys::rebuild_stale_match_keys(&mut conn)
        .map_err(|e| DbError::Migration(format!("rebuilding the match keys: {e}")))?;
    Ok(applied)
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
        let before = time::now() - chrono::TimeDelta::hours(2);
        match db
            .write(&Actor::system("compaction"), move |conn| {
                crate::stats::compact(conn, before)
            })
            .await
        {
            Ok(0) => {}
            Ok(rows) => tracing::debug!(rows, "statistics shards compacted"),
            Err(error) => tracing::warn!(%error, "statistics compaction failed; retrying later"),
        }
    }
}

/// How often the candidate keys of persons registered since are written.
const MATCH_KEYS_INTERVAL: std::time::Duration = std::time::Duration::from_secs(60);

/// Persons whose keys one pass derives (about 7 key rows each).
const MATCH_KEYS_PER_PASS: i64 = 50_000;

/// Key rows written per write transaction (the writer serves
/// registrations between two).
const MATCH_KEY_ROWS_PER_WRITE: usize = 20_000;

/// Every minute, writes the candidate keys of the persons registered since
/// (`matching::keys::pending_rows`): sorted, a range of keys per
/// transaction, so that rows landing on one page are written together.
/// Written in each registration's transaction instead, each key row cost
/// a page of its own at a million persons, and a third of a single SQLite
/// writer's throughput. Registrations are matched through the in-memory
/// index meanwhile; the key table's readers that must see everyone write
/// what is pending first.
async fn write_match_keys(db: Db) {
    repeat(MATCH_KEYS_INTERVAL, "writing match keys", || {
        write_pending_match_keys(&db)
    })
    .await
}

/// Runs `job` every `interval` (the first time at once), a run at a time;
/// a failure is logged and the job retried at the next tick.
async fn repeat<F, Fut>(interval: std::time::Duration, what: &'static str, mut job: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<(), ApiError>>,
{
    let mut interval = tokio::time::interval(interval);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        interval.tick().await;
        if let Err(error) = job().await {
            tracing::warn!(%error, "{what} failed; retrying later");
        }
    }
}

async fn write_pending_match_keys(db: &Db) -> Result<(), ApiError> {
    let actor = Actor::system("match-keys");
    loop {
        let (listed, rows) = db
            .read(|conn| {
                Ok(crate::matching::keys::pending_rows(
                    conn,
                    MATCH_KEYS_PER_PASS,
                )?)
            })
            .await?;
        if listed.is_empty() {
            return Ok(());
        }
        let rows = std::sync::Arc::new(rows);
        for from in (0..rows.len()).step_by(MATCH_KEY_ROWS_PER_WRITE) {
            let rows = rows.clone();
            db.write(&actor, move |conn| {
                let to = (from + MATCH_KEY_ROWS_PER_WRITE).min(rows.len());
                Ok(crate::matching::keys::insert_keys(
                    conn,
                    &rows[from..to],
                    true,
                )?)
            })
            .await?;
        }
        let done = listed.len() as i64;
        db.write(&actor, move |conn| {
            Ok(crate::matching::keys::unpend(conn, &listed)?)
        })
        .await?;
        if done < MATCH_KEYS_PER_PASS {
            return Ok(());
        }
    }
}

/// How often the server looks at how many recent name keys wait.
const NAME_KEYS_INTERVAL: std::time::Duration = std::time::Duration::from_secs(5);

/// Recent name key rows (about 4.4 a person) at which they join the
/// others: some 57,000 persons, about 10 MB. The more rows are written
/// together, sorted, the more of them share each page of the large table
/// they touch; the recent table stays small enough for the writer's cache.
const NAME_KEYS_MERGE_AT: i64 = 250_000;

/// Recent name key rows moved per write transaction (the writer serves
/// registrations between two).
const NAME_KEY_ROWS_PER_WRITE: i64 = 20_000;

/// Moves the name search keys of the persons registered and corrected
/// lately into the large key table once there are
/// [`NAME_KEYS_MERGE_AT`] of them (`persons::name_keys::merge_recent`).
async fn merge_name_keys(db: Db) {
    repeat(NAME_KEYS_INTERVAL, "merging recent name keys", || {
        merge_name_keys_if_due(&db)
    })
    .await
}

/// Moves the recent name keys if there are at least [`NAME_KEYS_MERGE_AT`]
/// rows: those there when it starts, a range of keys per transaction (rows
/// registered meanwhile may wait for the next time).
async fn merge_name_keys_if_due(db: &Db) -> Result<(), ApiError> {
    let waiting = db
        .read(|conn| Ok(persons::name_keys::recent_rows(conn)?))
        .await?;
    if waiting < NAME_KEYS_MERGE_AT {
        return Ok(());
    }
    let actor = Actor::system("name-keys");
    for _ in 0..=waiting / NAME_KEY_ROWS_PER_WRITE {
        let more = db
            .write(&actor, |conn| {
                Ok(persons::name_keys::merge_recent(
                    conn,
                    NAME_KEY_ROWS_PER_WRITE,
                )?)
            })
            .await?;
        if !more {
            break;
        }
    }
    Ok(())
}

/// How often the daily maintenance runs.
const MAINTENANCE_INTERVAL: std::time::Duration = std::time::Duration::from_secs(24 * 3600);

/// Once a day (and at start-up): deletes the audit entries older than
/// `audit.retention_days`, the login-throttle rows that no longer hold
/// anything back, and the matching indexes' change log older than a day.
async fn daily_maintenance(
    db: Db,
    retention_days: u32,
    throttle: crate::config::LoginThrottleSettings,
) {
    let mut interval = tokio::time::interval(MAINTENANCE_INTERVAL);
    loop {
        interval.tick().await;
        let db = db.clone();
        let done = actix_web::web::block(move || {
            let mut conn = db.connection_for_setup().map_err(ApiError::unavailable)?;
            let entries = audit::purge(&mut conn, retention_days, &Actor::system("retention"))?;
            let throttles = auth::throttle::forget_stale(&mut conn, &throttle, time::now())?;
            let changes = crate::matching::index::prune_changes(&mut conn)?;
            if changes > 0 {
                tracing::debug!(rows = changes, "old matching-index change rows deleted");
            }
            Ok::<_, ApiError>((entries, throttles))
        })
        .await;
        match done {
            Ok(Ok((entries, throttles))) => {
                if entries > 0 {
                    tracing::info!(entries, retention_days, "audit entries purged");
                }
                if throttles > 0 {
                    tracing::debug!(rows = throttles, "stale login-throttle rows deleted");
                }
            }
            Ok(Err(error)) => tracing::warn!(%error, "daily maintenance failed; retrying tomorrow"),
            Err(error) => tracing::warn!(%error, "daily maintenance failed; retrying tomorrow"),
        }
    }
}

fn bootstrap(db: &Db, settings: &Settings) -> Result<(), StartError> {
    let mut conn = db.connection_for_setup()?;
    let passwords = accounts::Passwords::new(&settings.auth);
    match accounts::bootstrap_admin(&mut conn, &settings.bootstrap, &passwords) {
        Ok(Some(message)) => {
            tracing::warn!("{message}");
            Ok(())
        }
        Ok(None) => Ok(()),
        Err(message) => Err(StartError::Config(message)),
    }
}

/// Every route. Paths are part of the API contract (see openapi.yaml); each
/// domain module declares its own.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.configure(dashboard::routes);
    cfg.configure(health::routes)
        .configure(metrics::routes)
        .service(
            web::scope("/api/v1")
                .configure(auth::routes)
                .configure(accounts::routes)
                .configure(audit::routes)
                .configure(needs::routes)
                .configure(centers::routes)
                .configure(registration::routes)
                .configure(crate::duplicates::routes)
                .configure(crate::family_tracing::routes)
                .configure(imports::routes)
                .configure(persons::routes)
                .configure(flows::routes)
                .configure(organizations::routes)
                .configure(housing::routes)
                .configure(stock::routes)
                .configure(entitlements::routes)
                .configure(distributions::routes)
                .configure(assistance::routes)
                .configure(transport::routes)
                .configure(referrals::routes)
                .configure(stats::routes)
                .configure(coverage::routes)
                .configure(reports::routes),
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
        405 => ApiError::MethodNotAllowed {
            allow: res
                .headers()
                .get(header::ALLOW)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_string(),
        },
        413 => ApiError::PayloadTooLarge {
            limit: res
                .request()
                .app_data::<crate::extract::BodyLimit>()
                .map_or(0, |limit| limit.0),
        },
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
/// or query, which can carry names), status, latency and request id; and the
/// same, but the id, counted in the request metrics.
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
    req.extensions_mut()
        .insert(auth::RequestId(request_id.clone()));
    let mut res = next.call(req).await?;
    let route = res
        .request()
        .match_pattern()
        .unwrap_or_else(|| "<unmatched>".to_string());
    let status = res.status().as_u16();
    let elapsed = started.elapsed();
    metrics::http_request(method.as_str(), &route, status, elapsed);
    let latency_ms = elapsed.as_secs_f64() * 1000.0;
    tracing::info!(request_id = %request_id, method = %method, route = %route, status, latency_ms, "request");
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        res.headers_mut().insert(REQUEST_ID, value);
    }
    Ok(res)
}
