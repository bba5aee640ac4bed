//! Statistics for dashboards: totals as of any instant, arrivals over time,
//! demographics and specific needs, with small-cell suppression for callers
//! who may not see person-level records.
//!
//! Reading a million persons per dashboard poll is too slow, so every
//! registration and correction records what it changes in the aggregates
//! ([`aggregates`]) on its write's unit of work, and the aggregates commit
//! with the records: per center, UTC hour of arrival (and UTC day), and
//! dimension (sex × age band, origin, destination, household size, specific
//! need, and the kinds of assistance that first reached the household in
//! that hour). The tables (kept by [`crate::db::aggregates`]), and the
//! assistance tallies coverage and occupancy read ([`crate::db::tallies`]),
//! always equal what [`check::expected`] computes from the records; a test
//! and `refuge stats verify` check exactly that.
//!
//! The aggregates describe the records as they are now. A summary as of a past
//! instant T also undoes the corrections made after T, from the snapshots in
//! `household_revisions` ([`summary`]), so a figure published at T can be
//! reproduced later.
//!
//! - [`aggregates`]: what a household contributes;
//! - [`check`]: the aggregates recomputed from the records (verify, rebuild);
//! - [`access`]: who sees what, and publishing with suppression;
//! - [`queries`]: the time range of a request and the sums every read shares
//!   (whole days from the daily rows, partial days from the hourly ones);
//! - [`summary`]: `GET /stats/summary`, as of any instant;
//! - [`arrivals`]: `GET /stats/arrivals`, series over time;
//! - [`breakdowns`]: `GET /stats/demographics` and `/stats/needs`.

use actix_web::web;

use crate::http::routes::resource;

pub mod access;
pub mod aggregates;
pub mod arrivals;
pub mod breakdowns;
pub mod check;
pub mod queries;
pub mod summary;

pub use crate::db::aggregates::{
    compact, dimension, stored, Aggregates, Count, Delta, Key, Totals,
};
pub use access::{access, center_infos, object, suppression_note, Access, CenterInfo, Publisher};
pub use aggregates::Sector;
pub use arrivals::{registered_series, Before, Hourly};
pub use check::{expected, rebuild};
pub use queries::{
    breakdown, daily_span, hourly_breakdown, range, totals_at, Range, Span, TimedRow, MAX_DAYS,
};
pub use summary::{figures_as_of, Figures};

/// The statistics routes, under `/api/v1`.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/stats/summary").get(summary::summary))
        .service(resource("/stats/arrivals").get(arrivals::arrivals))
        .service(resource("/stats/demographics").get(breakdowns::demographics))
        .service(resource("/stats/needs").get(breakdowns::needs));
}
