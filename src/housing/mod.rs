//! Housing: sites with a capacity in beds, and the placements of households
//! in them (check-in, move, check-out) with a history that is never edited.
//!
//! Capacity is enforced by the database, in the placing transaction: a
//! placement takes its beds with one conditional UPDATE of the site row
//! (`occupied_beds + n <= capacity_beds`). On PostgreSQL a concurrent
//! placement into the same site waits for that row and re-checks the
//! condition, so no interleaving of requests, from any number of server
//! processes, can overfill a site; on SQLite writes are serialized. A CHECK
//! constraint on the table backs it up. `occupied_beds` always equals the
//! persons in the site's open placements ([`verify`] checks exactly that).

pub mod occupancy;
pub mod placements;
pub mod sites;

pub use occupancy::*;
pub use placements::*;
pub use sites::*;

use actix_web::web;

use crate::http::routes::resource;

/// The housing routes, under `/api/v1`.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        resource("/sites")
            .get(sites::list_sites)
            .post(sites::create_site_handler),
    )
    .service(
        resource("/sites/{id}")
            .get(sites::get_site)
            .patch(sites::patch_site),
    )
    .service(
        resource("/sites/{id}/placements")
            .get(placements::site_placements)
            .post(placements::place_handler),
    )
    .service(resource("/sites/{id}/occupancy").get(occupancy::site_occupancy))
    .service(resource("/placements/{id}").get(placements::get_placement))
    .service(resource("/placements/{id}/checkout").post(placements::checkout_handler))
    .service(resource("/occupancy").get(occupancy::province_occupancy));
}
