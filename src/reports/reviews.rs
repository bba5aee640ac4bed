//! `reviews.csv`: the review queues, as the dashboard's Queues page shows
//! them. One row per pair of records proposed as one person (`duplicate`)
//! and per person proposed for a family-tracing request (`tracing_match`),
//! whatever their status, so that a coordinator sees both what waits
//! (`pending`, `proposed`) and what was decided when. Duplicates first, then
//! tracing matches, each by proposal time.
//!
//! Columns (HXL): `queue` (`#meta+type`: `duplicate` or `tracing_match`),
//! `id` (`#meta+id`: the pair's or the match's id, as in
//! `/api/v1/duplicates/{id}` and `.../matches/{match_id}`),
//! `tracing_request_id` (`#meta+code`), `status` (`#status`), `score`
//! (`#indicator+num`), `center_code` (`#loc+code+origin`) and
//! `matched_center_code` (`#loc+code+dest`): a pair's two records' centers,
//! in the order of the pair's `records` in the API, or the enquirer's center
//! and the proposed person's;
//! `proposed_at` (`#date+reported`, UTC) and `decided_at` (`#date+end`, UTC;
//! empty while it waits).
//!
//! No names and no person ids: a reviewer opens the item in the API, which
//! shows what the caller may see. Still about persons, so access is as the
//! review lists (admins and auditors everywhere; registrars and aid workers
//! for items with a record, or an enquiry, at their centers; never
//! analysts), and each export is in the audit trail with the persons its
//! rows are about. `from`/`to` apply to `proposed_at`, `center_id` to
//! either center.

use std::io::Write;

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::{column, Column, Csv, Keyset, Paged, Request};
use crate::db::DbConnection;
use crate::error::ApiError;
use crate::schema::{duplicate_pairs, tracing_matches, tracing_requests};

pub const COLUMNS: &[Column] = &[
    column("queue", "#meta+type"),
    column("id", "#meta+id"),
    column("tracing_request_id", "#meta+code"),
    column("status", "#status"),
    column("score", "#indicator+num"),
    column("center_code", "#loc+code+origin"),
    column("matched_center_code", "#loc+code+dest"),
    column("proposed_at", "#date+reported"),
    column("decided_at", "#date+end"),
];

/// A pair: id, the two persons, their centers, score, status, proposed
/// and decided.
type PairRow = (
    String,
    String,
    String,
    String,
    String,
    f64,
    String,
    NaiveDateTime,
    Option<NaiveDateTime>,
);

/// A tracing match: id, request, the proposed person, the enquirer's center,
/// the person's center, score, status, proposed and decided.
type MatchRow = (
    String,
    String,
    String,
    String,
    String,
    f64,
    String,
    NaiveDateTime,
    Option<NaiveDateTime>,
);

pub fn write<W: Write>(
    conn: &mut DbConnection,
    request: &Request,
    out: &mut Csv<W>,
) -> Result<(), ApiError> {
    let centers = super::centers_by_id(conn)?;
    let code = |id: &str| centers.get(id).map(|c| c.code.as_str());

    let mut pairs = Paged::new(super::CHUNK_ROWS, next_pairs, |r: &PairRow| {
        (r.7, r.0.clone())
    });
    while let Some(pair) = pairs.next(conn, request)? {
        let (id, person_a, person_b, center_a, center_b, score, status, proposed, decided) = pair;
        out.touched_person(&person_a);
        out.touched_person(&person_b);
        out.text("duplicate");
        out.text(&id);
        out.empty();
        out.text(&status);
        out.float(score);
        out.opt_text(code(&center_a));
        out.opt_text(code(&center_b));
        out.instant(proposed);
        out.opt_instant(decided);
        out.end_row()?;
    }

    let mut matches = Paged::new(super::CHUNK_ROWS, next_matches, |r: &MatchRow| {
        (r.7, r.0.clone())
    });
    while let Some(found) = matches.next(conn, request)? {
        let (id, request_id, person, enquirer_center, center, score, status, proposed, decided) =
            found;
        out.touched_person(&person);
        out.text("tracing_match");
        out.text(&id);
        out.text(&request_id);
        out.text(&status);
        out.float(score);
        out.opt_text(code(&enquirer_center));
        out.opt_text(code(&center));
        out.instant(proposed);
        out.opt_instant(decided);
        out.end_row()?;
    }
    Ok(())
}

/// The next chunk of pairs in the period with a record in scope.
fn next_pairs(
    conn: &mut DbConnection,
    request: &Request,
    after: Option<&Keyset>,
    limit: i64,
) -> Result<Vec<PairRow>, ApiError> {
    let mut query = duplicate_pairs::table
        .select((
            duplicate_pairs::id,
            duplicate_pairs::person_a,
            duplicate_pairs::person_b,
            duplicate_pairs::center_a,
            duplicate_pairs::center_b,
            duplicate_pairs::score,
            duplicate_pairs::status,
            duplicate_pairs::proposed_at,
            duplicate_pairs::decided_at,
        ))
        .order((duplicate_pairs::proposed_at, duplicate_pairs::id))
        .limit(limit)
        .into_boxed();
    in_window!(
        query,
        request,
        after,
        either_center: (duplicate_pairs::center_a, duplicate_pairs::center_b),
        time: duplicate_pairs::proposed_at,
        id: duplicate_pairs::id,
    );
    Ok(query.load(conn)?)
}

/// The next chunk of tracing matches in the period whose enquiry or
/// proposed person is in scope.
fn next_matches(
    conn: &mut DbConnection,
    request: &Request,
    after: Option<&Keyset>,
    limit: i64,
) -> Result<Vec<MatchRow>, ApiError> {
    let mut query = tracing_matches::table
        .inner_join(tracing_requests::table)
        .select((
            tracing_matches::id,
            tracing_matches::request_id,
            tracing_matches::person_id,
            tracing_requests::center_id,
            tracing_matches::center_id,
            tracing_matches::score,
            tracing_matches::status,
            tracing_matches::proposed_at,
            tracing_matches::decided_at,
        ))
        .order((tracing_matches::proposed_at, tracing_matches::id))
        .limit(limit)
        .into_boxed();
    in_window!(
        query,
        request,
        after,
        either_center: (tracing_requests::center_id, tracing_matches::center_id),
        time: tracing_matches::proposed_at,
        id: tracing_matches::id,
    );
    Ok(query.load(conn)?)
}
