//! Everything a household received, in one place: housing placements,
//! distributed items (with cash and fuel), transport and medical referrals.
//! A person found to be registered twice keeps their aid history: the
//! distributions of every household joined to this one by merges are
//! listed too (they count against the same entitlements).

use actix_web::{web, HttpResponse};
use serde_json::json;
use uuid::Uuid;

use crate::auth::Caller;
use crate::db::audit::Event;
use crate::db::Db;
use crate::error::ApiError;
use crate::http::routes::resource;
use crate::{distributions, housing, referrals, registration, transport};

/// `GET /api/v1/households/{id}/assistance`: person-level, for callers who
/// may read the household (its center's staff, admins, auditors).
pub async fn of_household(
    caller: Caller,
    db: web::Data<Db>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let scope = caller.person_read_scope()?;
    let id = id.into_inner();
    let (center, body) = db
        .read(move |conn| {
            let household = registration::find(conn, id)?
                .ok_or_else(|| ApiError::NotFound(format!("no household with id {id}")))?;
            let group = registration::merge_group(conn, id)?;
            let mut received = Vec::new();
            for member in &group.households {
                received.extend(distributions::of_household(conn, *member)?);
            }
            received.sort_by_key(|d| (d.distributed_at, d.id));
            let merged: Vec<Uuid> = group.households.into_iter().filter(|h| *h != id).collect();
            Ok((
                household.center_id,
                json!({
                    "household_id": id,
                    "merged_households": merged,
                    "placements": housing::placements_of(conn, id)?,
                    "distributions": received,
                    "trips": transport::boardings_of(conn, id)?,
                    "referrals": referrals::of_household(conn, id)?,
                }),
            ))
        })
        .await?;
    scope.require(center, "this household's center")?;
    db.record(
        &caller.actor(),
        vec![Event::new("assistance.read")
            .resource("household", id)
            .center(center)
            .household(id)],
    )
    .await?;
    Ok(HttpResponse::Ok().json(body))
}

/// The assistance routes, under `/api/v1`.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/households/{id}/assistance").get(of_household));
}
