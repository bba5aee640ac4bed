//! The HTTP toolkit: what every handler shares, in one place.
//!
//! - [`etag`]: versions as ETags, and `If-Match` on corrections.
//! - [`idempotent`]: creates that are safe to retry (`Idempotency-Key`,
//!   client-chosen ids), and the responses they answer with.
//! - [`routes`]: declaring routes (405 with `Allow`, panics caught).
//! - [`time`]: the instants and dates a client may send, how they are
//!   stored, and the clock-skew rule for "when it happened".

pub mod etag;
pub mod idempotent;
pub mod routes;
pub mod time;
