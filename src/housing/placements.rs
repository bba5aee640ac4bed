//! Placements: a household's stay at a site. Placing takes beds and
//! checking out (or moving) gives them back, in the same transaction, so a
//! site is never over capacity, whatever races.

use std::collections::BTreeMap;

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::json;
use uuid::Uuid;

use super::sites::{find_site, site_not_found};
use crate::auth::Caller;
use crate::db::aggregates::Delta;
use crate::db::audit::Event;
use crate::db::tallies::TallyDelta;
use crate::db::{self, Db, DbConnection, Unit};
use crate::error::ApiError;
use crate::extract::{JsonBody, Query};
use crate::http::idempotent::{self, ClientId, Created};
use crate::http::stored;
use crate::http::time::{self, Timestamp};
use crate::registration::{self, Household};
use crate::schema::{households, placements, sites};
use crate::stats::Sector;

crate::stored_enum! {
    pub enum CheckoutReason {
        /// The household left (for a host, a rented home, another country...).
        Left = "left",
        /// The household moved to another site (closed by the new placement).
        Moved = "moved",
        Other = "other",
    }
}

/// A household's stay at a site.
#[derive(Debug, Clone, Serialize)]
pub struct Placement {
    pub id: Uuid,
    pub household_id: Uuid,
    pub site_id: Uuid,
    /// Beds taken: the household's members at check-in.
    pub persons: i32,
    pub checked_in_at: DateTime<Utc>,
    pub checked_out_at: Option<DateTime<Utc>>,
    pub checkout_reason: Option<CheckoutReason>,
    /// The placement this one replaced, for a move.
    pub moved_from: Option<Uuid>,
    pub placed_by: Uuid,
    pub checked_out_by: Option<Uuid>,
    pub created_at: DateTime<Utc>,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = placements)]
struct PlacementRow {
    id: String,
    household_id: String,
    site_id: String,
    persons: i32,
    checked_in_at: NaiveDateTime,
    checked_out_at: Option<NaiveDateTime>,
    checkout_reason: Option<String>,
    moved_from: Option<String>,
    placed_by: String,
    checked_out_by: Option<String>,
    created_at: NaiveDateTime,
}

impl TryFrom<PlacementRow> for Placement {
    type Error = ApiError;

    fn try_from(row: PlacementRow) -> Result<Placement, ApiError> {
        Ok(Placement {
            id: stored::id(&row.id)?,
            household_id: stored::id(&row.household_id)?,
            site_id: stored::id(&row.site_id)?,
            persons: row.persons,
            checked_in_at: row.checked_in_at.and_utc(),
            checked_out_at: row.checked_out_at.map(|t| t.and_utc()),
            checkout_reason: row
                .checkout_reason
                .as_deref()
                .map(CheckoutReason::from_stored)
                .transpose()?,
            moved_from: row.moved_from.as_deref().map(stored::id).transpose()?,
            placed_by: stored::id(&row.placed_by)?,
            checked_out_by: row.checked_out_by.as_deref().map(stored::id).transpose()?,
            created_at: row.created_at.and_utc(),
        })
    }
}

/// `POST /api/v1/sites/{id}/placements` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewPlacement {
    /// Client-chosen id: makes retries safe without an `Idempotency-Key`.
    #[serde(default)]
    pub id: Option<Uuid>,
    pub household_id: Uuid,
    /// Default: now. Not in the future, not before the household arrived.
    #[serde(default)]
    pub checked_in_at: Option<Timestamp>,
    /// The household is placed elsewhere and moves here: its open placement
    /// is closed at `checked_in_at` in the same transaction. Without it, a
    /// household that is already placed gets 409.
    #[serde(default)]
    pub r#move: bool,
}

/// `POST /api/v1/placements/{id}/checkout` body (may be empty: `{}`).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Checkout {
    /// Default: now.
    #[serde(default)]
    pub checked_out_at: Option<Timestamp>,
    /// Default: `left`. (`moved` is set by a move.)
    #[serde(default)]
    pub reason: Option<CheckoutReason>,
}

fn find_placement(conn: &mut DbConnection, id: Uuid) -> Result<Option<Placement>, ApiError> {
    placements::table
        .find(id.to_string())
        .select(PlacementRow::as_select())
        .first(conn)
        .optional()?
        .map(Placement::try_from)
        .transpose()
}

fn open_placement_of(
    conn: &mut DbConnection,
    household_id: Uuid,
) -> Result<Option<Placement>, ApiError> {
    placements::table
        .filter(placements::household_id.eq(household_id.to_string()))
        .filter(placements::checked_out_at.is_null())
        .select(PlacementRow::as_select())
        .first(conn)
        .optional()?
        .map(Placement::try_from)
        .transpose()
}

/// Takes `beds` at `site` if they are free; false if the site is too full.
fn take_beds(conn: &mut DbConnection, site: Uuid, beds: i32) -> Result<bool, ApiError> {
    crate::db::lock_counters(conn)?;
    let updated = diesel::update(
        sites::table
            .find(site.to_string())
            .filter((sites::occupied_beds + beds).le(sites::capacity_beds)),
    )
    .set((
        sites::occupied_beds.eq(sites::occupied_beds + beds),
        sites::updated_at.eq(time::now()),
    ))
    .execute(conn)?;
    Ok(updated == 1)
}

fn release_beds(conn: &mut DbConnection, site: Uuid, beds: i32) -> Result<(), ApiError> {
    crate::db::lock_counters(conn)?;
    diesel::update(sites::table.find(site.to_string()))
        .set((
            sites::occupied_beds.eq(sites::occupied_beds - beds),
            sites::updated_at.eq(time::now()),
        ))
        .execute(conn)?;
    Ok(())
}

/// Closes an open placement; false if it was closed meanwhile.
fn close(
    conn: &mut DbConnection,
    placement: &Placement,
    at: NaiveDateTime,
    reason: CheckoutReason,
    by: Uuid,
) -> Result<bool, ApiError> {
    if at < placement.checked_in_at.naive_utc() {
        return Err(ApiError::invalid(
            if reason == CheckoutReason::Moved {
                "checked_in_at"
            } else {
                "checked_out_at"
            },
            "before_check_in",
            format!(
                "the current placement began at {}; it cannot end before that",
                placement.checked_in_at.to_rfc3339()
            ),
        ));
    }
    let closed = diesel::update(
        placements::table
            .find(placement.id.to_string())
            .filter(placements::checked_out_at.is_null()),
    )
    .set((
        placements::checked_out_at.eq(at),
        placements::checkout_reason.eq(reason.as_str()),
        placements::checked_out_by.eq(by.to_string()),
    ))
    .execute(conn)?;
    Ok(closed == 1)
}

fn changed_meanwhile() -> ApiError {
    ApiError::Conflict {
        code: "placement-changed",
        detail: "the household's placement changed while this request ran; read it again and retry"
            .into(),
    }
}

/// Places a household at a site (moving it from its current site if
/// `new.move` says so), in the caller's transaction. `authorize` sees the
/// household before anything is written.
pub fn place(
    unit: &mut Unit<'_>,
    site_id: Uuid,
    new: NewPlacement,
    placed_by: Uuid,
    authorize: impl FnOnce(&Household) -> Result<(), ApiError>,
) -> Result<Placement, ApiError> {
    let conn = unit.conn();
    let now = time::now();
    let at = time::happened(new.checked_in_at, "checked_in_at", now)?;
    let site = find_site(conn, site_id)?.ok_or_else(|| site_not_found(site_id))?;
    let household = registration::find(conn, new.household_id)?.ok_or_else(|| {
        ApiError::invalid(
            "household_id",
            "unknown",
            format!("no household with id {}", new.household_id),
        )
    })?;
    authorize(&household)?;
    if at < household.arrived_at.naive_utc() {
        return Err(ApiError::invalid(
            "checked_in_at",
            "before_arrival",
            "a household cannot be placed before it arrived",
        ));
    }
    let persons = household.members.len() as i32;
    let current = open_placement_of(conn, household.id)?;
    let moved_from = match current {
        Some(current) if current.site_id == site.id => {
            return Err(ApiError::Conflict {
                code: "household-already-placed",
                detail: format!("the household is already placed at this site (placement {})", current.id),
            })
        }
        Some(current) if !new.r#move => {
            return Err(ApiError::Conflict {
                code: "household-already-placed",
                detail: format!(
                    "the household is placed at site {} (placement {}): send \"move\": true to move it here",
                    current.site_id, current.id
                ),
            })
        }
        Some(current) => {
            if !close(conn, &current, at, CheckoutReason::Moved, placed_by)? {
                return Err(changed_meanwhile());
            }
            Some(current)
        }
        None => None,
    };
    // Site rows are updated in id order, so two opposite moves wait for each
    // other instead of deadlocking.
    let mut updates: Vec<(Uuid, i32)> = moved_from
        .iter()
        .map(|p| (p.site_id, -p.persons))
        .chain([(site.id, persons)])
        .collect();
    updates.sort_by_key(|(site, _)| *site);
    for (site_id, beds) in updates {
        if beds < 0 {
            release_beds(conn, site_id, -beds)?;
        } else if !take_beds(conn, site_id, beds)? {
            let free = find_site(conn, site_id)?
                .map(|s| s.capacity_beds - s.occupied_beds)
                .unwrap_or(0);
            return Err(ApiError::Conflict {
                code: "site-full",
                detail: format!(
                    "the household needs {beds} beds; site {} has {free} free",
                    site.code
                ),
            });
        }
    }
    let id = new.id.unwrap_or_else(Uuid::now_v7);
    diesel::insert_into(placements::table)
        .values((
            placements::id.eq(id.to_string()),
            placements::household_id.eq(household.id.to_string()),
            placements::site_id.eq(site.id.to_string()),
            placements::persons.eq(persons),
            placements::checked_in_at.eq(at),
            placements::moved_from.eq(moved_from.as_ref().map(|p| p.id.to_string())),
            placements::placed_by.eq(placed_by.to_string()),
            placements::created_at.eq(now),
        ))
        .execute(conn)
        .map_err(db::unique_violation(|| ApiError::Conflict {
            // Either the client-chosen id is taken, or a concurrent request
            // placed the same household first (one open placement each).
            code: "household-already-placed",
            detail: "the household was placed by another request, or the placement id is taken"
                .into(),
        }))?;
    if let Some(left) = &moved_from {
        unit.record(checked_out(left, at));
    }
    unit.record(TallyDelta::occupancy(site.id, at, (i64::from(persons), 1)).into());
    registration::record_reach(unit, household.id, &household.reached, Sector::Housing, at)?;
    find_placement(unit.conn(), id)?
        .ok_or_else(|| ApiError::internal("placement vanished after insert"))
}

/// Checks a household out of its placement, in the caller's transaction.
pub fn check_out(
    unit: &mut Unit<'_>,
    id: Uuid,
    checkout: Checkout,
    by: Uuid,
    authorize: impl FnOnce(Uuid) -> Result<(), ApiError>,
) -> Result<Placement, ApiError> {
    let conn = unit.conn();
    let at = time::happened(checkout.checked_out_at, "checked_out_at", time::now())?;
    let reason = checkout.reason.unwrap_or(CheckoutReason::Left);
    if reason == CheckoutReason::Moved {
        return Err(ApiError::invalid(
            "reason",
            "moved",
            "a move is recorded by placing the household at its new site with \"move\": true",
        ));
    }
    let placement = find_placement(conn, id)?
        .ok_or_else(|| ApiError::NotFound(format!("no placement with id {id}")))?;
    authorize(center_of(conn, placement.household_id)?)?;
    if placement.checked_out_at.is_some() || !close(conn, &placement, at, reason, by)? {
        return Err(ApiError::Conflict {
            code: "already-checked-out",
            detail: "this placement is already closed".into(),
        });
    }
    release_beds(conn, placement.site_id, placement.persons)?;
    unit.record(checked_out(&placement, at));
    find_placement(unit.conn(), id)?.ok_or_else(|| ApiError::internal("placement vanished"))
}

/// What a placement closed at `at` takes from its site's occupancy.
fn checked_out(placement: &Placement, at: NaiveDateTime) -> Delta {
    let persons = i64::from(placement.persons);
    TallyDelta::occupancy(placement.site_id, at, (-persons, -1)).into()
}

fn center_of(conn: &mut DbConnection, household_id: Uuid) -> Result<Uuid, ApiError> {
    let center: String = households::table
        .find(household_id.to_string())
        .select(households::center_id)
        .first(conn)?;
    stored::id(&center)
}

/// A household's placements, oldest first.
pub fn placements_of(
    conn: &mut DbConnection,
    household_id: Uuid,
) -> Result<Vec<Placement>, ApiError> {
    placements::table
        .filter(placements::household_id.eq(household_id.to_string()))
        .order((placements::checked_in_at, placements::id))
        .select(PlacementRow::as_select())
        .load(conn)?
        .into_iter()
        .map(Placement::try_from)
        .collect()
}

/// Sites whose `occupied_beds` differs from the persons in their open
/// placements: (site, stored, counted). Empty when the invariant holds.
pub fn verify(conn: &mut DbConnection) -> Result<Vec<(Uuid, i32, i64)>, ApiError> {
    let rows: Vec<(String, Option<i64>)> = placements::table
        .filter(placements::checked_out_at.is_null())
        .group_by(placements::site_id)
        .select((placements::site_id, diesel::dsl::sum(placements::persons)))
        .load(conn)?;
    let open: BTreeMap<Uuid, i64> = rows
        .into_iter()
        .map(|(s, p)| Ok((stored::id(&s)?, p.unwrap_or(0))))
        .collect::<Result<_, ApiError>>()?;
    let stored: Vec<(String, i32)> = sites::table
        .select((sites::id, sites::occupied_beds))
        .load(conn)?;
    let mut out = Vec::new();
    for (site, beds) in stored {
        let site = stored::id(&site)?;
        let counted = open.get(&site).copied().unwrap_or(0);
        if i64::from(beds) != counted {
            out.push((site, beds, counted));
        }
    }
    Ok(out)
}

fn placement_location(id: Uuid) -> String {
    format!("/api/v1/placements/{id}")
}

/// `POST /api/v1/sites/{id}/placements`: places (or moves) a household.
/// Admins anywhere; registrars and aid workers for households of their centers.
pub async fn place_handler(
    req: HttpRequest,
    caller: Caller,
    db: web::Data<Db>,
    site: web::Path<Uuid>,
    body: JsonBody<NewPlacement>,
) -> Result<HttpResponse, ApiError> {
    let site = site.into_inner();
    let new = body.value;
    let user_id = caller.user_id;
    let client_id = ClientId::of("placement", new.id);
    let guard = caller.clone();
    idempotent::create(&db, &req, &guard, &body.document, client_id, move |conn| {
        let placement = place(conn, site, new, user_id, |household| {
            caller.require_aid(household.center_id)
        })?;
        conn.audit(
            Event::new("placement.create")
                .resource("placement", placement.id)
                .household(placement.household_id),
        );
        let location = placement_location(placement.id);
        Ok(Created::new(placement, location))
    })
    .await
}

/// `POST /api/v1/placements/{id}/checkout`.
pub async fn checkout_handler(
    req: HttpRequest,
    caller: Caller,
    db: web::Data<Db>,
    id: web::Path<Uuid>,
    body: JsonBody<Checkout>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let checkout = body.value;
    let user_id = caller.user_id;
    let guard = caller.clone();
    idempotent::create(
        &db,
        &req,
        &guard,
        &body.document,
        ClientId::none(),
        move |conn| {
            let placement = check_out(conn, id, checkout, user_id, |center| {
                caller.require_aid(center)
            })?;
            conn.audit(
                Event::new("placement.checkout")
                    .resource("placement", placement.id)
                    .household(placement.household_id),
            );
            let location = placement_location(placement.id);
            Ok(Created::new(placement, location).status(StatusCode::OK))
        },
    )
    .await
}

/// `GET /api/v1/placements/{id}`: person-level (it names a household).
pub async fn get_placement(
    caller: Caller,
    db: web::Data<Db>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let scope = caller.person_read_scope()?;
    let id = id.into_inner();
    let (placement, center) = db
        .read(move |conn| {
            let placement = find_placement(conn, id)?
                .ok_or_else(|| ApiError::NotFound(format!("no placement with id {id}")))?;
            let center = center_of(conn, placement.household_id)?;
            Ok((placement, center))
        })
        .await?;
    scope.require(center, "this household's center")?;
    db.record(
        &caller.actor(),
        vec![Event::new("placement.read")
            .resource("placement", placement.id)
            .center(center)
            .household(placement.household_id)],
    )
    .await?;
    Ok(HttpResponse::Ok().json(placement))
}

/// `GET /api/v1/sites/{id}/placements` query.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlacementsQuery {
    /// Only the placements open now (default: the whole history).
    #[serde(default)]
    open: bool,
}

/// `GET /api/v1/sites/{id}/placements`: the site's placements (person-level:
/// callers limited to some centers see their households only).
pub async fn site_placements(
    caller: Caller,
    db: web::Data<Db>,
    id: web::Path<Uuid>,
    query: Query<PlacementsQuery>,
) -> Result<HttpResponse, ApiError> {
    let scope = caller.person_read_scope()?;
    let id = id.into_inner();
    let open = query.0.open;
    let items = db
        .read(move |conn| {
            find_site(conn, id)?.ok_or_else(|| site_not_found(id))?;
            let mut q = placements::table
                .inner_join(households::table)
                .filter(placements::site_id.eq(id.to_string()))
                .order((placements::checked_in_at, placements::id))
                .select((PlacementRow::as_select(), households::center_id))
                .into_boxed();
            if open {
                q = q.filter(placements::checked_out_at.is_null());
            }
            let rows: Vec<(PlacementRow, String)> = q.load(conn)?;
            let mut items = Vec::new();
            for (row, center) in rows {
                if scope.allows(stored::id(&center)?) {
                    items.push(Placement::try_from(row)?);
                }
            }
            Ok(items)
        })
        .await?;
    db.record(
        &caller.actor(),
        vec![Event::new("placement.list")
            .resource("site", id)
            .detail(json!({ "open": open }))
            .households(items.iter().map(|p: &Placement| p.household_id))],
    )
    .await?;
    Ok(HttpResponse::Ok().json(json!({ "items": items })))
}
