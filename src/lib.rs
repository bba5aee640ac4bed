//! refuge registers refugees at border crossings and reception centers and
//! tracks the aid they receive.
//!
//! A tour, in the order a request travels:
//!
//! - [`app`] builds the HTTP service: it composes the routes each domain
//!   module declares, the middleware and the shared state, and brings the
//!   database up to date at start-up ([`app::migrate`]: migrations, then the
//!   derived rows whose derivation changed).
//! - [`auth`] turns a bearer token into a [`auth::Caller`] and decides what it may
//!   do, including the one center-scope check ([`auth::CenterScope::require`]);
//!   [`accounts`] stores users, roles and password hashes.
//! - [`extract`] parses request bodies and query strings strictly; [`error`]
//!   renders every failure as problem+json.
//! - [`http`] is the toolkit every handler shares: idempotent creates
//!   ([`http::idempotent`]), keyset paging ([`http::paging`]), `If-Match` and
//!   ETags, stored ids and enums ([`http::stored`]), the time rules (instants
//!   and dates a client may send), and route declaration (405 with `Allow`,
//!   a panicking handler answers 500). [`validate`] holds the field rules
//!   several domains share (codes, names, provinces).
//! - Domain modules, one concept each: [`centers`], [`registration`]
//!   (households and members: model, store, handlers), [`persons`] (reading
//!   and name search, with the derived search keys in
//!   [`persons::name_keys`]), [`flows`] (border flow counts: people crossing
//!   per time window), [`needs`] (the specific-needs code list),
//!   [`provinces`], [`age_bands`], [`organizations`] (donors and agencies).
//! - Aid: [`housing`] (sites, placements, occupancy), [`stock`] (items and the
//!   stock ledger), [`entitlements`] (rules as data), [`distributions`] (aid
//!   handed out, checked against entitlement and stock), [`assistance`]
//!   (everything one household received), [`transport`] (trips, seats,
//!   manifests), [`referrals`] (medical referrals).
//! - [`stats`] answers dashboards from aggregates every registration and
//!   correction records on its unit of work ([`stats::aggregates`]);
//!   [`coverage`] says who was reached; [`suppression`] withholds small
//!   counts.
//! - [`reports`] streams CSV exports (with HXL hashtags) for aid agencies.
//! - [`imports`] loads households in bulk from CSV files through the same
//!   rules, idempotently.
//! - [`scenario`] plans a replay of the documented 2023 exodus (pure data)
//!   and replays it, locally or over HTTP, for demonstrations, load tests
//!   and checks of the reports.
//! - [`db`] is storage, below every domain module: one diesel connection
//!   type over SQLite and PostgreSQL, pools, migrations, the group-commit
//!   writer, and the unit of work ([`db::Unit`]) each write gets, which
//!   carries its connection and its statistics delta
//!   ([`db::aggregates`]) so that both commit together; [`schema`] the
//!   tables.
//! - [`dashboard`] serves the single-page dashboard, whose files are
//!   compiled into the binary; it reads everything from the API.
//! - [`config`] loads settings; [`health`] answers probes.

pub mod accounts;
pub mod age_bands;
pub mod app;
pub mod assistance;
pub mod audit;
pub mod auth;
pub mod centers;
pub mod config;
pub mod coverage;
pub mod dashboard;
pub mod db;
pub mod distributions;
pub mod duplicates;
pub mod entitlements;
pub mod error;
pub mod extract;
pub mod family_tracing;
pub mod flows;
pub mod health;
pub mod housing;
pub mod http;
pub mod imports;
pub mod matching;
pub mod metrics;
pub mod needs;
pub mod organizations;
pub mod persons;
pub mod provinces;
pub mod referrals;
pub mod registration;
pub mod reports;
pub mod scenario;
pub mod schema;
pub mod stats;
pub mod stock;
pub mod suppression;
pub mod transport;
pub mod validate;

/// Sets up logging: human-readable text or JSON lines on stdout, panics included.
pub fn init_logging(settings: &config::LogSettings) {
    use tracing_subscriber::EnvFilter;
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(&settings.level));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false);
    let _ = match settings.format {
        config::LogFormat::Json => builder.json().flatten_event(true).try_init(),
        config::LogFormat::Text => builder.try_init(),
    };
    log_panics();
}

/// Logs every panic through the log, with where it happened. The message is
/// logged only when it is a literal from the code (`expect("...")`): a
/// formatted one (`unwrap()` on an error, say) may carry request data, and
/// so personal data, which never goes into the log.
fn log_panics() {
    std::panic::set_hook(Box::new(|info| {
        let location = info
            .location()
            .map(|l| format!("{}:{}", l.file(), l.line()))
            .unwrap_or_default();
        let message = info
            .payload()
            .downcast_ref::<&'static str>()
            .copied()
            .unwrap_or("(formatted message withheld: it may carry request data)");
        tracing::error!(%location, message, "panic");
    }));
}
