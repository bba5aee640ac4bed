//! Bulk imports of registrations from CSV files: the layout, parsing and
//! validation, the write, and the HTTP handlers. `refuge import FILE` runs
//! the same code without HTTP.
//!
//! A file has one row per person; the rows of one household are consecutive
//! and share a `household_ref` (the source's own id: a paper form number, a
//! KoboToolbox `_uuid`). An import reads the file twice:
//!
//! 1. **Validation**, streaming: every row is parsed, every household is
//!    checked with the same rules as `POST /api/v1/households`
//!    ([`crate::registration::validate_new`]), and its fingerprint is compared with
//!    what an earlier import stored. Nothing is written unless every row is
//!    valid; otherwise the errors come back by line and column.
//! 2. **Writing**, streaming again: households go to the database in
//!    transactions of [`BATCH`] through the group-commit writer
//!    ([`crate::db::Db::write`]), so desk registrations are never blocked for long.
//!
//! Memory stays flat: at most one household's rows, one batch, and per
//! household a 64-bit key and a line number (to tell a household whose rows
//! are not consecutive) are held; uploads are spooled to a temporary file.
//!
//! **Idempotency.** A household's id is a UUIDv5 of its center and
//! `household_ref` (in a namespace only imports use), its members' ids
//! UUIDv5s of the household id and their position. Each imported household
//! stores a fingerprint of its content in its row
//! (`households.import_fingerprint`), written with it. Importing the same
//! household again finds the same fingerprint and skips it (`unchanged`);
//! the same `household_ref` with different content is a validation error on
//! its line. So re-running an import that was interrupted half-way writes
//! the rest and nothing twice.
//!
//! - [`layout`]: the columns, the template, batch sizes and ids;
//! - `errors`: the errors collected by line;
//! - `reader`: rows with their physical lines, grouped into households;
//! - `validation`: a household from its rows, and its fingerprint;
//! - `run`: the two passes ([`run()`]);
//! - `handlers`: `POST /api/v1/imports` and the template download.

use actix_web::web;

use crate::http::routes::resource;

mod errors;
mod handlers;
pub mod layout;
mod reader;
mod run;
#[cfg(test)]
mod tests;
mod validation;

pub use handlers::{create, template, ImportQuery};
pub use layout::{
    household_id, member_id, BATCH, COLUMNS, MAX_LISTED_ERRORS, REQUIRED_COLUMNS, TEMPLATE,
};
pub use run::{run, Created, Options, Pass, Progress, Source, Spooled, Summary, Unchanged};
pub use validation::Context;

/// The import routes, under `/api/v1`.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/imports").post(handlers::create))
        .service(resource("/imports/template.csv").get(handlers::template));
}
