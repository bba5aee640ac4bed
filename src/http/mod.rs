//! The HTTP toolkit: what every handler shares, in one place.
//!
//! - [`etag`]: versions as ETags, and `If-Match` on corrections.
//! - [`idempotent`]: creates that are safe to retry (`Idempotency-Key`,
//!   client-chosen ids), and the responses they answer with.
//! - [`paging`]: keyset pages for every list (`limit`, `cursor`, one
//!   typed [`paging::Page`]).
//! - [`routes`]: declaring routes (405 with `Allow`, panics caught).
//! - [`stored`]: ids and closed value sets as the database keeps them
//!   (`stored::id`, [`stored_enum!`](crate::stored_enum)).
//! - [`time`]: the instants and dates a client may send, how they are
//!   stored, and the clock-skew rule for "when it happened".

pub mod etag;
pub mod idempotent;
pub mod paging;
pub mod routes;
pub mod stored;
pub mod time;
