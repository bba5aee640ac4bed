//! The HTTP toolkit: what every handler shares, in one place.
//!
//! - [`time`]: the instants and dates a client may send, how they are
//!   stored, and the clock-skew rule for "when it happened".

pub mod routes;
pub mod time;
