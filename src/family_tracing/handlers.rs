//! The HTTP face of family tracing. Every request and match shown, and
//! every change, is in the audit trail with the persons it concerned.

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use uuid::Uuid;

use super::model::validate_new;
use super::model::NewRequest;
use super::store::{self, ListQuery, MatchStatus, Request, RequestStatus, Review};
use crate::auth::{Caller, CenterScope};
use crate::db::audit::Event;
use crate::db::Db;
use crate::error::ApiError;
use crate::extract::{JsonBody, Query};
use crate::http::etag::{etag, expected_version};
use crate::http::idempotent::{self, ClientId, Created};
use crate::http::paging::PageQuery;
use crate::matching::Weights;

fn location(id: Uuid) -> String {
    format!("/api/v1/tracing-requests/{id}")
}

fn respond(request: &Request) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::ETAG, etag(request.version)))
        .json(request)
}

/// `POST /api/v1/tracing-requests`: a registered person looks for a
/// relative; matched at once against everyone who may be traced.
pub async fn create(
    req: HttpRequest,
    caller: Caller,
    db: web::Data<Db>,
    weights: web::Data<Weights>,
    body: JsonBody<NewRequest>,
) -> Result<HttpResponse, ApiError> {
    let new = body.value;
    validate_new(&new)?;
    let weights = **weights;
    let acting = caller.clone();
    let client_id = ClientId::of("tracing_request", new.id);
    idempotent::create(&db, &req, &caller, &body.document, client_id, move |unit| {
        let enquirer = store::enquirer(unit.conn(), new.enquirer_id)?;
        acting.require_registration(enquirer.center_id)?;
        let id = store::open(unit.conn(), new, &enquirer, acting.user_id, &weights)?;
        let request = store::find(unit.conn(), id, &CenterScope::All)?;
        unit.audit(
            Event::new("tracing.create")
                .resource("tracing_request", id)
                .center(enquirer.center_id)
                .household(enquirer.household_id)
                .version(request.version)
                .detail(serde_json::json!({ "matches_proposed": request.matches.proposed }))
                .persons([enquirer.person_id]),
        );
        let version = request.version;
        Ok(Created::new(request, location(id)).versioned(version))
    })
    .await
}

/// `GET /api/v1/tracing-requests`: the requests the caller may see;
/// `has_new_matches=true` lists those with matches still to review.
pub async fn list(
    caller: Caller,
    db: web::Data<Db>,
    query: Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    let scope = caller.person_read_scope()?;
    let query = query.0;
    scope.require_filter(query.center_id)?;
    let paging = PageQuery::new(query.limit, query.cursor.as_deref())?;
    let detail = serde_json::json!({
        "status": query.status,
        "center_id": query.center_id,
        "has_new_matches": query.has_new_matches,
    });
    let page = db
        .read(move |conn| store::list(conn, &query, &scope, &paging))
        .await?;
    db.record(
        &caller.actor(),
        vec![Event::new("tracing.list")
            .detail(detail)
            .persons(page.items.iter().map(|r| r.enquirer.person_id))],
    )
    .await?;
    Ok(HttpResponse::Ok().json(page))
}

/// `GET /api/v1/tracing-requests/{id}`.
pub async fn get(
    caller: Caller,
    db: web::Data<Db>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let scope = caller.person_read_scope()?;
    let id = id.into_inner();
    let request = db.read(move |conn| store::find(conn, id, &scope)).await?;
    db.record(
        &caller.actor(),
        vec![Event::new("tracing.read")
            .resource("tracing_request", id)
            .center(request.center_id)
            .version(request.version)
            .persons([request.enquirer.person_id])],
    )
    .await?;
    Ok(respond(&request))
}

/// `PATCH /api/v1/tracing-requests/{id}` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RequestPatch {
    pub status: RequestStatus,
}

/// `PATCH /api/v1/tracing-requests/{id}`: closes a request (found, or
/// given up) or reopens it, with `If-Match`.
pub async fn patch(
    req: HttpRequest,
    caller: Caller,
    db: web::Data<Db>,
    weights: web::Data<Weights>,
    id: web::Path<Uuid>,
    body: JsonBody<RequestPatch>,
) -> Result<HttpResponse, ApiError> {
    let expected = expected_version(&req)?;
    let id = id.into_inner();
    let status = body.value.status;
    let weights = **weights;
    let acting = caller.clone();
    db.write(&caller.actor(), move |unit| {
        let row = store::set_status(unit.conn(), id, expected, status, &weights, |center| {
            acting.require_registration(center)
        })?;
        unit.audit(
            Event::new("tracing.update")
                .resource("tracing_request", id)
                .center(row.center()?)
                .version(expected + 1)
                .detail(serde_json::json!({ "status": status }))
                .persons([row.enquirer()?]),
        );
        Ok(())
    })
    .await?;
    let scope = caller.person_read_scope()?;
    let request = db.read(move |conn| store::find(conn, id, &scope)).await?;
    Ok(respond(&request))
}

/// `GET /api/v1/tracing-requests/{id}/matches` filter.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MatchesQuery {
    pub status: Option<MatchStatus>,
}

/// The matches list: `{"items": [...]}`, best first.
#[derive(serde::Serialize)]
struct MatchList {
    items: Vec<store::Match>,
}

/// `GET /api/v1/tracing-requests/{id}/matches`: who may be the one
/// sought, in minimal fields; contact only once confirmed.
pub async fn matches(
    caller: Caller,
    db: web::Data<Db>,
    id: web::Path<Uuid>,
    query: Query<MatchesQuery>,
) -> Result<HttpResponse, ApiError> {
    let scope = caller.person_read_scope()?;
    let id = id.into_inner();
    let status = query.0.status;
    let items = db
        .read(move |conn| store::matches(conn, id, status, &scope))
        .await?;
    db.record(
        &caller.actor(),
        vec![Event::new("tracing.matches")
            .resource("tracing_request", id)
            .detail(serde_json::json!({
                "matches": items.iter().map(|m| m.id).collect::<Vec<_>>(),
                "contacts": items.iter().filter(|m| m.contact.is_some()).count(),
            }))
            .persons(store::persons_shown(&items))],
    )
    .await?;
    Ok(HttpResponse::Ok().json(MatchList { items }))
}

/// `GET /api/v1/tracing-requests/{id}/matches/{match_id}`.
pub async fn get_match(
    caller: Caller,
    db: web::Data<Db>,
    path: web::Path<(Uuid, Uuid)>,
) -> Result<HttpResponse, ApiError> {
    let scope = caller.person_read_scope()?;
    let (request, id) = path.into_inner();
    let found = db
        .read(move |conn| store::find_match(conn, request, id, &scope))
        .await?;
    db.record(
        &caller.actor(),
        vec![Event::new("tracing.match.read")
            .resource("tracing_match", id)
            .center(found.center_id)
            .version(found.version)
            .detail(serde_json::json!({
                "request_id": request,
                "contact": found.contact.is_some(),
            }))
            .persons(store::persons_shown(std::slice::from_ref(&found)))],
    )
    .await?;
    Ok(HttpResponse::Ok()
        .insert_header((header::ETAG, etag(found.version)))
        .json(found))
}

/// `PATCH /api/v1/tracing-requests/{id}/matches/{match_id}` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MatchPatch {
    pub status: MatchStatus,
    pub reason: String,
}

/// `PATCH /api/v1/tracing-requests/{id}/matches/{match_id}`: a registrar
/// confirms a match (at the match's own center: they have seen the person)
/// or rejects it (at either center), with a reason and `If-Match`;
/// `proposed` takes a decision back.
pub async fn review(
    req: HttpRequest,
    caller: Caller,
    db: web::Data<Db>,
    path: web::Path<(Uuid, Uuid)>,
    body: JsonBody<MatchPatch>,
) -> Result<HttpResponse, ApiError> {
    let expected = expected_version(&req)?;
    let (request, id) = path.into_inner();
    let MatchPatch { status, reason } = body.value;
    crate::validate::check_reason(&reason)?;
    let acting = caller.clone();
    db.write(&caller.actor(), move |unit| {
        let review = Review {
            request,
            id,
            expected_version: expected,
            status,
            reason,
            decided_by: acting.user_id,
        };
        let reviewed = store::review(unit.conn(), review, |status, enquirers, matched| {
            match status {
                // Only who has seen the person confirms: their contact
                // goes to the enquirer's center from then on.
                MatchStatus::Confirmed => acting.require_registration(matched),
                _ => acting
                    .require_registration(matched)
                    .or_else(|_| acting.require_registration(enquirers)),
            }
        })?;
        unit.audit(
            Event::new("tracing.review")
                .resource("tracing_match", id)
                .center(reviewed.match_center)
                .version(expected + 1)
                .detail(serde_json::json!({
                    "request_id": request,
                    "status": status,
                    "enquirer_center_id": reviewed.request_center,
                }))
                .persons([reviewed.person, reviewed.enquirer]),
        );
        Ok(())
    })
    .await?;
    let scope = caller.person_read_scope()?;
    let found = db
        .read(move |conn| store::find_match(conn, request, id, &scope))
        .await?;
    Ok(HttpResponse::Ok()
        .insert_header((header::ETAG, etag(found.version)))
        .json(found))
}
