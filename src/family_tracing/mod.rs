//! Family tracing: a registered person (the enquirer) looks for a relative
//! lost on the road (a child, a parent), and the matching engine
//! ([`crate::matching`]) proposes registered persons who may be them, at
//! every center, now and at every later registration or import.
//!
//! Only members who consented to be traced (`tracing_consent`), and
//! unaccompanied and separated children (needs `SC-UC`, `SC-SC`), are ever
//! proposed. A match shows the enquirer's center minimal fields (given and
//! family name, age band, center code, score); a registrar at the match's
//! center, who can ask the person, confirms it, and only then does the
//! enquirer's center see the household's and the center's contact.
//!
//! - [`model`]: a request and its rules.
//! - [`store`]: requests, their candidate keys and matches in the database.
//! - `handlers`: `/api/v1/tracing-requests` and below, composed by
//!   [`routes`].

mod handlers;
pub mod model;
pub mod store;

pub use store::match_records;

use actix_web::web;

use crate::http::routes::resource;

/// The tracing routes, under `/api/v1`.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        resource("/tracing-requests")
            .get(handlers::list)
            .post(handlers::create),
    )
    .service(
        resource("/tracing-requests/{id}")
            .get(handlers::get)
            .patch(handlers::patch),
    )
    .service(resource("/tracing-requests/{id}/matches").get(handlers::matches))
    .service(
        resource("/tracing-requests/{id}/matches/{match_id}")
            .get(handlers::get_match)
            .patch(handlers::review),
    );
}
