//! The HTTP face of registration: `/api/v1/households` and
//! `/api/v1/households/{id}`.

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use uuid::Uuid;

use super::model::{validate_new, Household, HouseholdPatch, ListQuery, NewHousehold};
use super::store::{correct, find, insert, list, not_found, prepare, Correction};
use crate::auth::Caller;
use crate::db::audit::Event;
use crate::db::Db;
use crate::duplicates::{self, PossibleDuplicate};
use crate::error::ApiError;
use crate::extract::{JsonBody, Query};
use crate::family_tracing;
use crate::http::etag::{etag, expected_version};
use crate::http::idempotent::{self, ClientId, Created};
use crate::http::paging::PageQuery;
use crate::http::time;
use crate::matching::index::MatchIndex;
use crate::matching::Weights;
use crate::provinces::Provinces;

fn location(id: Uuid) -> String {
    format!("/api/v1/households/{id}")
}

fn respond_with(status: actix_web::http::StatusCode, household: &Household) -> HttpResponse {
    HttpResponse::build(status)
        .insert_header((header::ETAG, etag(household.version)))
        .insert_header((header::LOCATION, location(household.id)))
        .json(household)
}

/// A registration's 201: the household, and the records it may duplicate.
#[derive(serde::Serialize)]
struct Registered {
    #[serde(flatten)]
    household: Household,
    possible_duplicates: Vec<PossibleDuplicate>,
}

/// `POST /api/v1/households`: registers a household with all its members,
/// and lists the records at any center its members may duplicate (never
/// refused for that: the pairs go to the review queue).
pub async fn create(
    req: HttpRequest,
    caller: Caller,
    db: web::Data<Db>,
    provinces: web::Data<Provinces>,
    weights: web::Data<Weights>,
    index: web::Data<MatchIndex>,
    body: JsonBody<NewHousehold>,
) -> Result<HttpResponse, ApiError> {
    let new = body.value;
    validate_new(&new, &provinces)?;
    caller.require_registration(new.center_id)?;
    let scope = caller.person_read_scope()?;
    let user_id = caller.user_id;
    let client_id = ClientId::of("household", new.id);
    let weights = **weights;
    let household = prepare(new, user_id);
    // Matched against everyone registered, through the process's matching
    // index, on a connection for reading and before the write: the desks'
    // matching runs side by side, and the one SQLite writer (or a
    // PostgreSQL writer's connection) only stores the pairs. A
    // registration committing meanwhile elsewhere is left to `refuge
    // duplicates scan`, as one committing at the same instant is.
    let records = household.records();
    let pairs = db
        .read(move |conn| duplicates::detect::find_indexed(conn, &index, &records, &weights))
        .await?;
    idempotent::create(&db, &req, &caller, &body.document, client_id, move |conn| {
        let household = insert(conn, household)?;
        conn.audit(
            Event::new("household.create")
                .resource("household", household.id)
                .center(household.center_id)
                .household(household.id)
                .version(household.version),
        );
        let possible_duplicates = duplicates::detect::store(conn.conn(), &pairs, &scope)?.pending;
        // Those who may be traced answer the open tracing requests.
        family_tracing::match_records(conn.conn(), &household.traced_records(), &weights)?;
        if !possible_duplicates.is_empty() {
            // The response shows records of other households.
            conn.audit(
                Event::new("duplicate.propose")
                    .resource("household", household.id)
                    .center(household.center_id)
                    .detail(serde_json::json!({ "pairs": possible_duplicates.len() }))
                    .persons(
                        possible_duplicates
                            .iter()
                            .flat_map(|d| [d.member_id, d.record.person_id]),
                    ),
            );
        }
        let (location, version) = (location(household.id), household.version);
        let registered = Registered {
            household,
            possible_duplicates,
        };
        Ok(Created::new(registered, location).versioned(version))
    })
    .await
}

/// `GET /api/v1/households/{id}`.
pub async fn get(
    caller: Caller,
    db: web::Data<Db>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let scope = caller.person_read_scope()?;
    let id = id.into_inner();
    let household = db
        .read(move |conn| find(conn, id))
        .await?
        .ok_or_else(|| not_found(id))?;
    scope.require(household.center_id, "this household's center")?;
    db.record(
        &caller.actor(),
        vec![Event::new("household.read")
            .resource("household", household.id)
            .center(household.center_id)
            .household(household.id)],
    )
    .await?;
    Ok(respond_with(actix_web::http::StatusCode::OK, &household))
}

/// `GET /api/v1/households`: households by arrival, filtered, a page at a time.
pub async fn list_handler(
    caller: Caller,
    db: web::Data<Db>,
    query: Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    let scope = caller.person_read_scope()?;
    let query = query.0;
    scope.require_filter(query.center_id)?;
    let paging = PageQuery::new(query.limit, query.cursor.as_deref())?;
    let detail = serde_json::json!({
        "center_id": query.center_id,
        "by_arrival": query.arrived_from.is_some() || query.arrived_to.is_some(),
        "by_origin": query.origin_settlement.is_some(),
    });
    let page = db
        .read(move |conn| list(conn, &query, &scope, &paging))
        .await?;
    db.record(
        &caller.actor(),
        vec![Event::new("household.list")
            .detail(detail)
            .households(page.items.iter().map(|h| h.id))],
    )
    .await?;
    Ok(HttpResponse::Ok().json(page))
}

/// `PATCH /api/v1/households/{id}`: corrections, with `If-Match` required.
/// A member who may now be traced (consent given, a name corrected) answers
/// the open tracing requests as a new registration does.
pub async fn patch(
    req: HttpRequest,
    caller: Caller,
    db: web::Data<Db>,
    provinces: web::Data<Provinces>,
    weights: web::Data<Weights>,
    id: web::Path<Uuid>,
    body: JsonBody<HouseholdPatch>,
) -> Result<HttpResponse, ApiError> {
    let weights = **weights;
    let expected = expected_version(&req)?;
    let id = id.into_inner();
    let mut patch = body.value;
    let now = time::now();
    let effective_at = match patch.effective_at.take() {
        None => now,
        Some(at) if time::in_future(at.naive_utc(), now) => {
            return Err(ApiError::invalid(
                "effective_at",
                "in_future",
                "a correction cannot take effect in the future",
            ))
        }
        Some(at) => at.stored(),
    };
    let household = db
        .write(&caller.actor(), move |conn| {
            let correction = Correction {
                id,
                expected_version: expected,
                patch,
                corrected_by: caller.user_id,
                effective_at,
            };
            let household = correct(conn, correction, &provinces, |household| {
                caller.require_registration(household.center_id)
            })?;
            family_tracing::match_records(conn.conn(), &household.traced_records(), &weights)?;
            conn.audit(
                Event::new("household.update")
                    .resource("household", household.id)
                    .center(household.center_id)
                    .household(household.id)
                    .version(household.version),
            );
            Ok(household)
        })
        .await?;
    Ok(respond_with(actix_web::http::StatusCode::OK, &household))
}
