//! Household registration: a household and all its members, registered in one
//! transaction, read back, listed, and corrected under optimistic concurrency.
//!
//! Names are stored exactly as entered (Armenian script round-trips byte for
//! byte); search keys derived from them live in `persons`.
//!
//! - [`model`]: the household and its members, and every rule they meet.
//! - [`store`]: the transaction that registers or corrects one (or many,
//!   for imports), and the reads.
//! - `handlers`: the HTTP endpoints, composed by [`routes`].

mod handlers;
pub mod model;
pub mod store;

pub use model::*;
pub use store::*;

use actix_web::web;

use crate::http::routes::resource;

/// The household routes, under `/api/v1`.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        resource("/households")
            .get(handlers::list_handler)
            .post(handlers::create),
    )
    .service(
        resource("/households/{id}")
            .get(handlers::get)
            .patch(handlers::patch),
    );
}
