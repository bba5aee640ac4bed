//! Sites: the places households are housed (collective centers, hotels,
//! host families...), with their beds, and corrections to them.

use actix_web::http::header;
use actix_web::{web, HttpResponse};
use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::json;
use uuid::Uuid;

use crate::auth::Caller;
use crate::db::audit::Event;
use crate::db::{self, Db, DbConnection};
use crate::error::{ApiError, FieldError};
use crate::extract::{non_null, nullable, JsonBody, Query};
use crate::http::stored;
use crate::http::time::{self};
use crate::organizations::{self};
use crate::provinces::{self, Provinces};
use crate::schema::sites;
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

pub(super) fn site_not_found(id: Uuid) -> ApiError {
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
    crate::db::lock_counters(conn)?;
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
        .write(&caller.actor(), move |unit| {
            let site = create_site(unit, body.value, &provinces)?;
            unit.audit(Event::new("site.create").resource("site", site.id));
            Ok(site)
        })
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
        .write(&caller.actor(), move |unit| {
            let site = correct_site(unit, id, body.value)?;
            unit.audit(Event::new("site.update").resource("site", site.id));
            Ok(site)
        })
        .await?;
    Ok(HttpResponse::Ok().json(site))
}
