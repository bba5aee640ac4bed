//! The HTTP face of duplicate review. Every list, view and decision is in
//! the audit trail, with the persons of the pairs it showed.

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use uuid::Uuid;

use super::store::{self, Deciding, Decision, Duplicate, ListQuery};
use crate::auth::Caller;
use crate::db::audit::Event;
use crate::db::Db;
use crate::error::ApiError;
use crate::extract::{JsonBody, Query};
use crate::http::etag::{etag, expected_version};
use crate::http::paging::PageQuery;

fn respond(duplicate: &Duplicate) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::ETAG, etag(duplicate.version)))
        .json(duplicate)
}

fn persons(duplicate: &Duplicate) -> [Uuid; 2] {
    [
        duplicate.records[0].person_id,
        duplicate.records[1].person_id,
    ]
}

/// `GET /api/v1/duplicates`: the review queue.
pub async fn list(
    caller: Caller,
    db: web::Data<Db>,
    query: Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    let scope = caller.person_read_scope()?;
    let query = query.0;
    scope.require_filter(query.center_id)?;
    if query
        .min_score
        .is_some_and(|s| !(-1000.0..=1000.0).contains(&s))
    {
        return Err(ApiError::invalid(
            "min_score",
            "range",
            "must be between -1000 and 1000",
        ));
    }
    let paging = PageQuery::new(query.limit, query.cursor.as_deref())?;
    let detail = serde_json::json!({
        "status": query.status,
        "center_id": query.center_id,
        "min_score": query.min_score,
    });
    let page = db
        .read(move |conn| store::list(conn, &query, &scope, &paging))
        .await?;
    db.record(
        &caller.actor(),
        vec![Event::new("duplicate.list")
            .detail(detail)
            .persons(page.items.iter().flat_map(persons))],
    )
    .await?;
    Ok(HttpResponse::Ok().json(page))
}

/// `GET /api/v1/duplicates/{id}`: both records side by side.
pub async fn get(
    caller: Caller,
    db: web::Data<Db>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let scope = caller.person_read_scope()?;
    let id = id.into_inner();
    let duplicate = db.read(move |conn| store::find(conn, id, &scope)).await?;
    db.record(
        &caller.actor(),
        vec![Event::new("duplicate.read")
            .resource("duplicate", id)
            .version(duplicate.version)
            .persons(persons(&duplicate))],
    )
    .await?;
    Ok(respond(&duplicate))
}

/// `POST /api/v1/duplicates/{id}/decision` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DecisionBody {
    pub decision: Decision,
    pub reason: String,
}

/// `POST /api/v1/duplicates/{id}/decision`: `same_person`, `distinct` or
/// `undo`, with a reason and `If-Match`.
pub async fn decide(
    req: HttpRequest,
    caller: Caller,
    db: web::Data<Db>,
    id: web::Path<Uuid>,
    body: JsonBody<DecisionBody>,
) -> Result<HttpResponse, ApiError> {
    let expected = expected_version(&req)?;
    let id = id.into_inner();
    let DecisionBody { decision, reason } = body.value;
    crate::validate::check_reason(&reason)?;
    let scope = caller.person_read_scope()?;
    let acting = caller.clone();
    db.write(&caller.actor(), move |unit| {
        let deciding = Deciding {
            id,
            expected_version: expected,
            decision,
            reason,
            decided_by: acting.user_id,
        };
        let decided = store::decide(unit, deciding, |[a, b]| {
            acting
                .require_registration(a)
                .or_else(|_| acting.require_registration(b))
        })?;
        let mut event = Event::new("duplicate.decide")
            .resource("duplicate", id)
            .version(expected + 1)
            .center(decided.centers[0])
            .detail(serde_json::json!({ "decision": decision }))
            .persons(decided.persons);
        if let Some(household) = decided.household {
            event = event.household(household);
        }
        unit.audit(event);
        Ok(())
    })
    .await?;
    let duplicate = db.read(move |conn| store::find(conn, id, &scope)).await?;
    Ok(respond(&duplicate))
}
