//! Duplicates: records that may be one person registered twice (at
//! Kornidzor, then again at Goris), found by the matching engine
//! ([`crate::matching`]) at every registration, import and scan, reviewed,
//! and merged or kept apart.
//!
//! - [`detect`]: records matched and pairs proposed (registration, import,
//!   scan).
//! - [`store`]: the pairs, their review queue and decisions (a `same_person`
//!   decision merges the later record into the earlier through
//!   `registration::set_merged`; nothing is deleted and `undo` restores it).
//! - `handlers`: `/api/v1/duplicates`, `/api/v1/duplicates/{id}` and
//!   `/api/v1/duplicates/{id}/decision`, composed by [`routes`].

pub mod detect;
mod handlers;
pub mod store;

pub use detect::match_records;
pub use store::{propose, PossibleDuplicate, Proposal};

use actix_web::web;

use crate::http::routes::resource;

/// The duplicate review routes, under `/api/v1`.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/duplicates").get(handlers::list))
        .service(resource("/duplicates/{id}").get(handlers::get))
        .service(resource("/duplicates/{id}/decision").post(handlers::decide));
}
