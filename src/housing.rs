//! Housing: sites with a capacity in beds, and the placements of households
//! in them (check-in, move, check-out) with a history that is never edited.
//!
//! Capacity is enforced by the database, in the placing transaction: a
//! placement takes its beds with one conditional UPDATE of the site row
//! (`occupied_beds + n <= capacity_beds`). On PostgreSQL a concurrent
//! placement into the same site waits for that row and re-checks the
//! condition, so no interleaving of requests, from any number of server
//! processes, can overfill a site; on SQLite writes are serialized. A CHECK
//! constraint on the table backs it up. `occupied_beds` always equals the
//! persons in the site's open placements ([`verify`] checks exactly that).

use std::collections::BTreeMap;

use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::json;
use uuid::Uuid;

use crate::auth::Caller;
use crate::db::{self, Db, DbConnection};
use crate::error::{ApiError, FieldError};
use crate::extract::{non_null, nullable, JsonBody, Query};
use crate::http::idempotent::{self, ClientId, Created};
use crate::http::stored;
use crate::http::time::{self, Timestamp};
use crate::organizations::{self, OrganizationKind};
use crate::provinces::{self, Provinces};
use crate::registration::{self, Household};
use crate::schema::{households, organizations as organizations_table, placements, sites};
use crate::validate::{check_code, check_name, check_province};

/// Sphere minimum covered living space per person, m² (Sphere Handbook 2018;
/// 4.5-5.5 in cold climates).
pub const SPHERE_MIN_AREA_PER_PERSON_M2: f64 = 3.5;

crate::stored_enum! {
    pub enum SiteKind {
        CollectiveCenter = "collective_center",
        Hotel = "hotel",
        Dormitory = "dormitory",
        HostFamily = "host_family",
        RentedApartment = "rented_apartment",
        Other = "other",
    }
}

/// A site as the API returns it.
#[derive(Debug, Clone, Serialize)]
pub struct Site {
    pub id: Uuid,
    pub code: String,
    pub name: String,
    pub kind: SiteKind,
    pub province: String,
    pub settlement: Option<String>,
    pub capacity_beds: i32,
    pub floor_area_m2: Option<f64>,
    pub organization_id: Uuid,
    pub occupied_beds: i32,
    pub version: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = sites)]
struct SiteRow {
    id: String,
    code: String,
    name: String,
    kind: String,
    province: String,
    settlement: Option<String>,
    capacity_beds: i32,
    floor_area_m2: Option<f64>,
    organization_id: String,
    occupied_beds: i32,
    version: i32,
    created_at: NaiveDateTime,
    updated_at: NaiveDateTime,
}

impl TryFrom<SiteRow> for Site {
    type Error = ApiError;

    fn try_from(row: SiteRow) -> Result<Site, ApiError> {
        Ok(Site {
            id: stored::id(&row.id)?,
            code: row.code,
            name: row.name,
            kind: SiteKind::from_stored(&row.kind)?,
            province: row.province,
            settlement: row.settlement,
            capacity_beds: row.capacity_beds,
            floor_area_m2: row.floor_area_m2,
            organization_id: stored::id(&row.organization_id)?,
            occupied_beds: row.occupied_beds,
            version: row.version,
            created_at: row.created_at.and_utc(),
            updated_at: row.updated_at.and_utc(),
        })
    }
}

/// `POST /api/v1/sites` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewSite {
    pub code: String,
    pub name: String,
    pub kind: SiteKind,
    pub province: String,
    #[serde(default)]
    pub settlement: Option<String>,
    pub capacity_beds: i32,
    #[serde(default)]
    pub floor_area_m2: Option<f64>,
    pub organization_id: Uuid,
}

/// `PATCH /api/v1/sites/{id}` body: only the fields sent change.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SitePatch {
    #[serde(default, deserialize_with = "non_null")]
    name: Option<String>,
    #[serde(default, deserialize_with = "non_null")]
    kind: Option<SiteKind>,
    #[serde(default, deserialize_with = "nullable")]
    settlement: Option<Option<String>>,
    #[serde(default, deserialize_with = "non_null")]
    capacity_beds: Option<i32>,
    #[serde(default, deserialize_with = "nullable")]
    floor_area_m2: Option<Option<f64>>,
    #[serde(default, deserialize_with = "non_null")]
    organization_id: Option<Uuid>,
}

fn check_site(
    name: &str,
    settlement: Option<&str>,
    capacity_beds: i32,
    floor_area_m2: Option<f64>,
    errors: &mut Vec<FieldError>,
) {
    check_name(name, errors);
    if settlement.is_some_and(|s| s.trim().is_empty() || s.chars().count() > 200) {
        errors.push(FieldError::new(
            "settlement",
            "length",
            "1 to 200 characters, not only spaces",
        ));
    }
    if !(0..=100_000).contains(&capacity_beds) {
        errors.push(FieldError::new(
            "capacity_beds",
            "range",
            "must be between 0 and 100000",
        ));
    }
    if floor_area_m2.is_some_and(|a| !(a.is_finite() && a > 0.0 && a <= 1_000_000.0)) {
        errors.push(FieldError::new(
            "floor_area_m2",
            "range",
            "must be greater than 0 and at most 1000000",
        ));
    }
}

/// Loads a site by id.
pub fn find_site(conn: &mut DbConnection, id: Uuid) -> Result<Option<Site>, ApiError> {
    sites::table
        .find(id.to_string())
        .select(SiteRow::as_select())
        .first(conn)
        .optional()?
        .map(Site::try_from)
        .transpose()
}

/// Loads a site by code.
pub fn find_site_by_code(conn: &mut DbConnection, code: &str) -> Result<Option<Site>, ApiError> {
    sites::table
        .filter(sites::code.eq(code))
        .select(SiteRow::as_select())
        .first(conn)
        .optional()?
        .map(Site::try_from)
        .transpose()
}

fn site_not_found(id: Uuid) -> ApiError {
    ApiError::NotFound(format!("no site with id {id}"))
}

/// Creates a site (the API and the scenario replay share this).
pub fn create_site(
    conn: &mut DbConnection,
    new: NewSite,
    provinces: &Provinces,
) -> Result<Site, ApiError> {
    let mut errors = Vec::new();
    check_code(&new.code, &mut errors);
    check_province(&new.province, provinces, &mut errors);
    check_site(
        &new.name,
        new.settlement.as_deref(),
        new.capacity_beds,
        new.floor_area_m2,
        &mut errors,
    );
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    organizations::require(conn, new.organization_id, "organization_id")?;
    let id = Uuid::new_v4();
    let now = time::now();
    diesel::insert_into(sites::table)
        .values((
            sites::id.eq(id.to_string()),
            sites::code.eq(&new.code),
            sites::name.eq(&new.name),
            sites::kind.eq(new.kind.as_str()),
            sites::province.eq(&new.province),
            sites::settlement.eq(&new.settlement),
            sites::capacity_beds.eq(new.capacity_beds),
            sites::floor_area_m2.eq(new.floor_area_m2),
            sites::organization_id.eq(new.organization_id.to_string()),
            sites::occupied_beds.eq(0),
            sites::version.eq(1),
            sites::created_at.eq(now),
            sites::updated_at.eq(now),
        ))
        .execute(conn)
        .map_err(db::unique_violation(|| ApiError::Conflict {
            code: "site-code-taken",
            detail: format!("a site with code {} already exists", new.code),
        }))?;
    find_site(conn, id)?.ok_or_else(|| ApiError::internal("site vanished after insert"))
}

/// Changes a site. Its capacity cannot drop below the beds now occupied
/// (409): check people out or move them first.
fn correct_site(conn: &mut DbConnection, id: Uuid, patch: SitePatch) -> Result<Site, ApiError> {
    let current = find_site(conn, id)?.ok_or_else(|| site_not_found(id))?;
    let name = patch.name.unwrap_or(current.name);
    let kind = patch.kind.unwrap_or(current.kind);
    let settlement = patch.settlement.unwrap_or(current.settlement);
    let capacity = patch.capacity_beds.unwrap_or(current.capacity_beds);
    let area = patch.floor_area_m2.unwrap_or(current.floor_area_m2);
    let organization = patch.organization_id.unwrap_or(current.organization_id);
    let mut errors = Vec::new();
    check_site(&name, settlement.as_deref(), capacity, area, &mut errors);
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    organizations::require(conn, organization, "organization_id")?;
    // The occupancy is re-checked by the same statement that changes the
    // capacity, so a placement committed in between cannot be overbooked.
    let updated = diesel::update(
        sites::table
            .find(id.to_string())
            .filter(sites::occupied_beds.le(capacity)),
    )
    .set((
        sites::name.eq(&name),
        sites::kind.eq(kind.as_str()),
        sites::settlement.eq(&settlement),
        sites::capacity_beds.eq(capacity),
        sites::floor_area_m2.eq(area),
        sites::organization_id.eq(organization.to_string()),
        sites::version.eq(sites::version + 1),
        sites::updated_at.eq(time::now()),
    ))
    .execute(conn)?;
    let site = find_site(conn, id)?.ok_or_else(|| site_not_found(id))?;
    if updated == 0 {
        return Err(ApiError::Conflict {
            code: "capacity-below-occupancy",
            detail: format!(
                "{} beds are occupied; the capacity cannot be set to {capacity}",
                site.occupied_beds
            ),
        });
    }
    Ok(site)
}

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
    conn: &mut DbConnection,
    site_id: Uuid,
    new: NewPlacement,
    placed_by: Uuid,
    authorize: impl FnOnce(&Household) -> Result<(), ApiError>,
) -> Result<Placement, ApiError> {
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
    find_placement(conn, id)?.ok_or_else(|| ApiError::internal("placement vanished after insert"))
}

/// Checks a household out of its placement, in the caller's transaction.
pub fn check_out(
    conn: &mut DbConnection,
    id: Uuid,
    checkout: Checkout,
    by: Uuid,
    authorize: impl FnOnce(Uuid) -> Result<(), ApiError>,
) -> Result<Placement, ApiError> {
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
    find_placement(conn, id)?.ok_or_else(|| ApiError::internal("placement vanished"))
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

/// Persons and households at each site at `as_of`, from the placements
/// themselves: those checked in at or before it and not checked out by then.
pub(crate) fn occupied_at(
    conn: &mut DbConnection,
    as_of: NaiveDateTime,
    site: Option<Uuid>,
) -> Result<BTreeMap<Uuid, (i64, i64)>, ApiError> {
    let mut query = placements::table
        .filter(placements::checked_in_at.le(as_of))
        .filter(
            placements::checked_out_at
                .is_null()
                .or(placements::checked_out_at.gt(as_of)),
        )
        .group_by(placements::site_id)
        .select((
            placements::site_id,
            diesel::dsl::sum(placements::persons),
            diesel::dsl::count_star(),
        ))
        .into_boxed();
    if let Some(site) = site {
        query = query.filter(placements::site_id.eq(site.to_string()));
    }
    let rows: Vec<(String, Option<i64>, i64)> = query.load(conn)?;
    rows.into_iter()
        .map(|(site, persons, households)| {
            Ok((stored::id(&site)?, (persons.unwrap_or(0), households)))
        })
        .collect()
}

/// A site's occupancy.
#[derive(Debug, Clone, Serialize)]
pub struct Occupancy {
    pub site_id: Uuid,
    pub code: String,
    pub name: String,
    pub kind: SiteKind,
    pub province: String,
    pub as_of: DateTime<Utc>,
    pub capacity_beds: i32,
    pub occupied_beds: i64,
    pub available_beds: i64,
    pub households: i64,
    pub floor_area_m2: Option<f64>,
    /// Floor area per person present; null without an area or without people.
    pub area_per_person_m2: Option<f64>,
    /// Sphere minimum covered living space (3.5 m² per person).
    pub sphere_min_area_per_person_m2: f64,
}

fn occupancy_of(site: Site, as_of: NaiveDateTime, persons: i64, households: i64) -> Occupancy {
    Occupancy {
        site_id: site.id,
        code: site.code,
        name: site.name,
        kind: site.kind,
        province: site.province,
        as_of: as_of.and_utc(),
        capacity_beds: site.capacity_beds,
        occupied_beds: persons,
        available_beds: (i64::from(site.capacity_beds) - persons).max(0),
        households,
        floor_area_m2: site.floor_area_m2,
        area_per_person_m2: site
            .floor_area_m2
            .filter(|_| persons > 0)
            .map(|area| area / persons as f64),
        sphere_min_area_per_person_m2: SPHERE_MIN_AREA_PER_PERSON_M2,
    }
}

/// Occupancy per province at `as_of`: sites, beds, persons, households, and
/// persons in state-provided accommodation (sites of a government organization).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ProvinceOccupancy {
    pub province: String,
    pub sites: i64,
    pub capacity_beds: i64,
    pub occupied_beds: i64,
    pub households: i64,
    pub state_provided_persons: i64,
}

pub fn occupancy_by_province(
    conn: &mut DbConnection,
    as_of: NaiveDateTime,
) -> Result<Vec<ProvinceOccupancy>, ApiError> {
    let occupied = occupied_at(conn, as_of, None)?;
    let rows: Vec<(String, String, i32, String)> = sites::table
        .inner_join(organizations_table::table)
        .select((
            sites::id,
            sites::province,
            sites::capacity_beds,
            organizations_table::kind,
        ))
        .load(conn)?;
    let mut out: BTreeMap<String, ProvinceOccupancy> = BTreeMap::new();
    for (site, province, capacity, kind) in rows {
        let (persons, households) = occupied.get(&stored::id(&site)?).copied().unwrap_or((0, 0));
        let entry = out
            .entry(province.clone())
            .or_insert_with(|| ProvinceOccupancy {
                province,
                ..ProvinceOccupancy::default()
            });
        entry.sites += 1;
        entry.capacity_beds += i64::from(capacity);
        entry.occupied_beds += persons;
        entry.households += households;
        if kind == OrganizationKind::Government.as_str() {
            entry.state_provided_persons += persons;
        }
    }
    Ok(out.into_values().collect())
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

// ---------------------------------------------------------------- HTTP

/// `GET /api/v1/sites` query.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SitesQuery {
    province: Option<provinces::Filter>,
}

/// `GET /api/v1/sites`: every site (optionally of one province), by code.
/// Sites are not personal data: any role may list them.
pub async fn list_sites(
    _caller: Caller,
    db: web::Data<Db>,
    query: Query<SitesQuery>,
) -> Result<HttpResponse, ApiError> {
    let province = query.0.province;
    let items = db
        .read(move |conn| {
            let mut q = sites::table
                .select(SiteRow::as_select())
                .order(sites::code)
                .into_boxed();
            if let Some(provinces::Filter(province)) = province {
                q = q.filter(sites::province.eq(province));
            }
            q.load(conn)?
                .into_iter()
                .map(Site::try_from)
                .collect::<Result<Vec<_>, _>>()
        })
        .await?;
    Ok(HttpResponse::Ok().json(json!({ "items": items })))
}

/// `POST /api/v1/sites` (admin).
pub async fn create_site_handler(
    caller: Caller,
    db: web::Data<Db>,
    provinces: web::Data<Provinces>,
    body: JsonBody<NewSite>,
) -> Result<HttpResponse, ApiError> {
    caller.require_admin()?;
    let provinces = provinces.into_inner();
    let site = db
        .write(move |conn| create_site(conn, body.value, &provinces))
        .await?;
    Ok(HttpResponse::Created()
        .insert_header((header::LOCATION, format!("/api/v1/sites/{}", site.id)))
        .json(site))
}

/// `GET /api/v1/sites/{id}`.
pub async fn get_site(
    _caller: Caller,
    db: web::Data<Db>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let site = db
        .read(move |conn| find_site(conn, id))
        .await?
        .ok_or_else(|| site_not_found(id))?;
    Ok(HttpResponse::Ok().json(site))
}

/// `PATCH /api/v1/sites/{id}` (admin).
pub async fn patch_site(
    caller: Caller,
    db: web::Data<Db>,
    id: web::Path<Uuid>,
    body: JsonBody<SitePatch>,
) -> Result<HttpResponse, ApiError> {
    caller.require_admin()?;
    let id = id.into_inner();
    let site = db
        .write(move |conn| correct_site(conn, id, body.value))
        .await?;
    Ok(HttpResponse::Ok().json(site))
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
    Ok(HttpResponse::Ok().json(json!({ "items": items })))
}

/// `as_of` for occupancy reads.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AsOfQuery {
    as_of: Option<Timestamp>,
}

/// `GET /api/v1/sites/{id}/occupancy[?as_of=]`: capacity, beds taken,
/// households and living space. Aggregate: any role.
pub async fn site_occupancy(
    _caller: Caller,
    db: web::Data<Db>,
    id: web::Path<Uuid>,
    query: Query<AsOfQuery>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let as_of = query
        .0
        .as_of
        .map(|t| t.naive_utc())
        .unwrap_or_else(time::now);
    let occupancy = db
        .read(move |conn| {
            let site = find_site(conn, id)?.ok_or_else(|| site_not_found(id))?;
            let (persons, households) = occupied_at(conn, as_of, Some(id))?
                .get(&id)
                .copied()
                .unwrap_or((0, 0));
            Ok(occupancy_of(site, as_of, persons, households))
        })
        .await?;
    Ok(HttpResponse::Ok().json(occupancy))
}

/// `GET /api/v1/occupancy[?as_of=]`: occupancy per province. Aggregate: any role.
pub async fn province_occupancy(
    _caller: Caller,
    db: web::Data<Db>,
    query: Query<AsOfQuery>,
) -> Result<HttpResponse, ApiError> {
    let as_of = query
        .0
        .as_of
        .map(|t| t.naive_utc())
        .unwrap_or_else(time::now);
    let provinces = db
        .read(move |conn| occupancy_by_province(conn, as_of))
        .await?;
    let total = provinces
        .iter()
        .fold(ProvinceOccupancy::default(), |mut t, p| {
            t.sites += p.sites;
            t.capacity_beds += p.capacity_beds;
            t.occupied_beds += p.occupied_beds;
            t.households += p.households;
            t.state_provided_persons += p.state_provided_persons;
            t
        });
    Ok(HttpResponse::Ok().json(json!({
        "as_of": as_of.and_utc(),
        "provinces": provinces,
        "total": {
            "sites": total.sites,
            "capacity_beds": total.capacity_beds,
            "occupied_beds": total.occupied_beds,
            "households": total.households,
            "state_provided_persons": total.state_provided_persons,
        },
    })))
}
