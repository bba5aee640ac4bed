//! The HTTP toolkit: what every handler shares, in one place.
//!
//! - [`etag`]: versions as ETags, and `If-Match` on corrections.
//! - [`routes`]: declaring routes (405 with `Allow`, panics caught).
//! - [`time`]: the instants and dates a client may send, how they are
//!   stored, and the clock-skew rule for "when it happened".

pub mod etag;
pub mod routes;
pub mod time;
