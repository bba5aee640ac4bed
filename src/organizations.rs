//! Organizations: the donors and implementing agencies of the response (who
//! does what where). Every site, stock receipt and distribution names one.

use actix_web::http::header;
use actix_web::{web, HttpResponse};
use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::auth::Caller;
use crate::db::audit::Event;
use crate::db::{self, Db, DbConnection};
use crate::error::ApiError;
use crate::extract::JsonBody;
use crate::http::routes::resource;
use crate::http::stored;
use crate::http::time;
use crate::schema::organizations;
use crate::validate::{check_code, check_name};

crate::stored_enum! {
    pub enum OrganizationKind {
        /// A ministry or state service; sites it provides are state-provided accommodation.
        Government = "government",
        UnAgency = "un_agency",
        RedCrossRedCrescent = "red_cross_red_crescent",
        Ngo = "ngo",
        Donor = "donor",
        PrivateSector = "private_sector",
        Other = "other",
    }
}

/// An organization as the API returns it.
#[derive(Debug, Clone, Serialize)]
pub struct Organization {
    pub id: Uuid,
    /// Short code, e.g. `UNHCR`, `ARCS`, `MLSA`.
    pub code: String,
    pub name: String,
    pub kind: OrganizationKind,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = organizations)]
struct OrganizationRow {
    id: String,
    code: String,
    name: String,
    kind: String,
    created_at: NaiveDateTime,
    updated_at: NaiveDateTime,
}

impl TryFrom<OrganizationRow> for Organization {
    type Error = ApiError;

    fn try_from(row: OrganizationRow) -> Result<Organization, ApiError> {
        Ok(Organization {
            id: stored::id(&row.id)?,
            code: row.code,
            name: row.name,
            kind: OrganizationKind::from_stored(&row.kind)?,
            created_at: row.created_at.and_utc(),
            updated_at: row.updated_at.and_utc(),
        })
    }
}

/// `POST /api/v1/organizations` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewOrganization {
    pub code: String,
    pub name: String,
    pub kind: OrganizationKind,
}

/// Loads an organization by id.
pub fn find(conn: &mut DbConnection, id: Uuid) -> Result<Option<Organization>, ApiError> {
    organizations::table
        .find(id.to_string())
        .select(OrganizationRow::as_select())
        .first(conn)
        .optional()?
        .map(Organization::try_from)
        .transpose()
}

/// Loads an organization by code.
pub fn find_by_code(conn: &mut DbConnection, code: &str) -> Result<Option<Organization>, ApiError> {
    organizations::table
        .filter(organizations::code.eq(code))
        .select(OrganizationRow::as_select())
        .first(conn)
        .optional()?
        .map(Organization::try_from)
        .transpose()
}

/// The organization a request names in `field`: 422 if there is none.
pub fn require(conn: &mut DbConnection, id: Uuid, field: &str) -> Result<Organization, ApiError> {
    find(conn, id)?
        .ok_or_else(|| ApiError::invalid(field, "unknown", format!("no organization with id {id}")))
}

/// Creates an organization (the API and the scenario replay share this).
pub fn create(conn: &mut DbConnection, new: NewOrganization) -> Result<Organization, ApiError> {
    let mut errors = Vec::new();
    check_code(&new.code, &mut errors);
    check_name(&new.name, &mut errors);
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    let id = Uuid::new_v4();
    let now = time::now();
    diesel::insert_into(organizations::table)
        .values((
            organizations::id.eq(id.to_string()),
            organizations::code.eq(&new.code),
            organizations::name.eq(&new.name),
            organizations::kind.eq(new.kind.as_str()),
            organizations::created_at.eq(now),
            organizations::updated_at.eq(now),
        ))
        .execute(conn)
        .map_err(db::unique_violation(|| ApiError::Conflict {
            code: "organization-code-taken",
            detail: format!("an organization with code {} already exists", new.code),
        }))?;
    find(conn, id)?.ok_or_else(|| ApiError::internal("organization vanished after insert"))
}

/// `GET /api/v1/organizations`: every organization, by code. Not personal
/// data: any role may list them.
pub async fn list(_caller: Caller, db: web::Data<Db>) -> Result<HttpResponse, ApiError> {
    let items = db
        .read(|conn| {
            organizations::table
                .select(OrganizationRow::as_select())
                .order(organizations::code)
                .load(conn)?
                .into_iter()
                .map(Organization::try_from)
                .collect::<Result<Vec<_>, _>>()
        })
        .await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "items": items })))
}

/// `POST /api/v1/organizations` (admin).
pub async fn create_handler(
    caller: Caller,
    db: web::Data<Db>,
    body: JsonBody<NewOrganization>,
) -> Result<HttpResponse, ApiError> {
    caller.require_admin()?;
    let organization = db
        .write(&caller.actor(), move |unit| {
            let organization = create(unit, body.value)?;
            unit.audit(Event::new("organization.create").resource("organization", organization.id));
            Ok(organization)
        })
        .await?;
    Ok(HttpResponse::Created()
        .insert_header((
            header::LOCATION,
            format!("/api/v1/organizations/{}", organization.id),
        ))
        .json(organization))
}

/// `GET /api/v1/organizations/{id}`.
pub async fn get(
    _caller: Caller,
    db: web::Data<Db>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let organization = db
        .read(move |conn| find(conn, id))
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no organization with id {id}")))?;
    Ok(HttpResponse::Ok().json(organization))
}

/// The organizations routes, under `/api/v1`.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/organizations").get(list).post(create_handler))
        .service(resource("/organizations/{id}").get(get));
}
