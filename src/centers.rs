//! Centers: border crossings, registration centers, aid points, shelters and
//! warehouses. Every registration and (later) every allocation happens at one.

use std::collections::HashMap;

use actix_web::http::header;
use actix_web::{web, HttpResponse};
use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::auth::Caller;
use crate::db::audit::Event;
use crate::db::{self, Db, DbConnection};
use crate::error::{ApiError, FieldError};
use crate::extract::{non_null, nullable, JsonBody};
use crate::http::routes::resource;
use crate::http::stored;
use crate::http::time;
use crate::provinces::Provinces;
use crate::schema::centers;
use crate::validate::{check_code, check_name, check_province, is_text};

/// The timezone used for a center's day boundaries when none is given.
pub const DEFAULT_TIMEZONE: &str = "Asia/Yerevan";

crate::stored_enum! {
    pub enum CenterKind {
        BorderCrossing = "border_crossing",
        RegistrationCenter = "registration_center",
        AidPoint = "aid_point",
        CollectiveShelter = "collective_shelter",
        Warehouse = "warehouse",
    }
}

/// A center as the API returns it.
#[derive(Debug, Clone, Serialize)]
pub struct Center {
    pub id: Uuid,
    pub code: String,
    pub name: String,
    pub kind: CenterKind,
    pub province: String,
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
    pub timezone: String,
    /// How other centers reach this one (a desk's phone, an address): shown
    /// to an enquirer's center once a tracing match here is confirmed.
    pub contact: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A `centers` row as stored.
#[derive(Queryable, Selectable)]
#[diesel(table_name = centers)]
struct CenterRow {
    id: String,
    code: String,
    name: String,
    kind: String,
    province: String,
    latitude: Option<f64>,
    longitude: Option<f64>,
    timezone: String,
    contact: Option<String>,
    created_at: NaiveDateTime,
    updated_at: NaiveDateTime,
}

impl Center {
    fn from_row(row: CenterRow) -> Result<Center, ApiError> {
        let CenterRow {
            id,
            code,
            name,
            kind,
            province,
            latitude,
            longitude,
            timezone,
            contact,
            created_at,
            updated_at,
        } = row;
        Ok(Center {
            id: stored::id(&id)?,
            code,
            name,
            kind: CenterKind::from_stored(&kind)?,
            province,
            latitude,
            longitude,
            timezone,
            contact,
            created_at: created_at.and_utc(),
            updated_at: updated_at.and_utc(),
        })
    }
}

/// `POST /api/v1/centers` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewCenter {
    pub code: String,
    pub name: String,
    pub kind: CenterKind,
    pub province: String,
    #[serde(default)]
    pub latitude: Option<f64>,
    #[serde(default)]
    pub longitude: Option<f64>,
    #[serde(default)]
    pub timezone: Option<String>,
    #[serde(default)]
    pub contact: Option<String>,
}

/// `PATCH /api/v1/centers/{id}` body: only the fields sent change; `null` clears an optional one.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CenterPatch {
    #[serde(default, deserialize_with = "non_null")]
    code: Option<String>,
    #[serde(default, deserialize_with = "non_null")]
    name: Option<String>,
    #[serde(default, deserialize_with = "non_null")]
    kind: Option<CenterKind>,
    #[serde(default, deserialize_with = "non_null")]
    province: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    latitude: Option<Option<f64>>,
    #[serde(default, deserialize_with = "nullable")]
    longitude: Option<Option<f64>>,
    #[serde(default, deserialize_with = "non_null")]
    timezone: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    contact: Option<Option<String>>,
}

fn check_coordinates(latitude: Option<f64>, longitude: Option<f64>, errors: &mut Vec<FieldError>) {
    if latitude.is_some_and(|v| !(-90.0..=90.0).contains(&v)) {
        errors.push(FieldError::new(
            "latitude",
            "range",
            "must be between -90 and 90",
        ));
    }
    if longitude.is_some_and(|v| !(-180.0..=180.0).contains(&v)) {
        errors.push(FieldError::new(
            "longitude",
            "range",
            "must be between -180 and 180",
        ));
    }
}

fn check_timezone(timezone: &str, errors: &mut Vec<FieldError>) {
    if timezone.parse::<chrono_tz::Tz>().is_err() {
        errors.push(FieldError::new(
            "timezone",
            "unknown",
            "an IANA timezone name, e.g. Asia/Yerevan",
        ));
    }
}

fn check_contact(contact: Option<&str>, errors: &mut Vec<FieldError>) {
    if contact.is_some_and(|c| !is_text(c, 200)) {
        errors.push(FieldError::new(
            "contact",
            "invalid",
            "1 to 200 characters, not only spaces, no control characters",
        ));
    }
}

fn code_taken(code: &str) -> impl FnOnce() -> ApiError + '_ {
    move || ApiError::Conflict {
        code: "center-code-taken",
        detail: format!("a center with code {code} already exists"),
    }
}

/// Loads a center by id.
pub fn find(conn: &mut DbConnection, id: Uuid) -> Result<Option<Center>, ApiError> {
    centers::table
        .find(id.to_string())
        .select(CenterRow::as_select())
        .first(conn)
        .optional()?
        .map(Center::from_row)
        .transpose()
}

/// Every center, by code.
pub fn all(conn: &mut DbConnection) -> Result<Vec<Center>, ApiError> {
    centers::table
        .order(centers::code.asc())
        .select(CenterRow::as_select())
        .load(conn)?
        .into_iter()
        .map(Center::from_row)
        .collect()
}

/// Every center's code, by id (for views that name other centers' records
/// by code only).
pub fn codes(conn: &mut DbConnection) -> Result<HashMap<Uuid, String>, ApiError> {
    centers::table
        .select((centers::id, centers::code))
        .load::<(String, String)>(conn)?
        .into_iter()
        .map(|(id, code)| Ok((stored::id(&id)?, code)))
        .collect()
}

/// Loads a center by its code.
pub fn find_by_code(conn: &mut DbConnection, code: &str) -> Result<Option<Center>, ApiError> {
    centers::table
        .filter(centers::code.eq(code))
        .select(CenterRow::as_select())
        .first(conn)
        .optional()?
        .map(Center::from_row)
        .transpose()
}

/// Creates a center (the CLI and the API share this).
pub fn create(
    conn: &mut DbConnection,
    new: NewCenter,
    provinces: &Provinces,
) -> Result<Center, ApiError> {
    let mut errors = Vec::new();
    check_code(&new.code, &mut errors);
    check_name(&new.name, &mut errors);
    check_province(&new.province, provinces, &mut errors);
    check_coordinates(new.latitude, new.longitude, &mut errors);
    let timezone = new.timezone.unwrap_or_else(|| DEFAULT_TIMEZONE.to_string());
    check_timezone(&timezone, &mut errors);
    check_contact(new.contact.as_deref(), &mut errors);
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    let id = Uuid::new_v4();
    let now = time::now();
    diesel::insert_into(centers::table)
        .values((
            centers::id.eq(id.to_string()),
            centers::code.eq(&new.code),
            centers::name.eq(&new.name),
            centers::kind.eq(new.kind.as_str()),
            centers::province.eq(&new.province),
            centers::latitude.eq(new.latitude),
            centers::longitude.eq(new.longitude),
            centers::timezone.eq(&timezone),
            centers::contact.eq(&new.contact),
            centers::created_at.eq(now),
            centers::updated_at.eq(now),
        ))
        .execute(conn)
        .map_err(db::unique_violation(code_taken(&new.code)))?;
    find(conn, id)?.ok_or_else(|| ApiError::internal("center vanished after insert"))
}

/// `GET /api/v1/centers`: every center, by code. Centers are not personal data: any role may list them.
pub async fn list(_caller: Caller, db: web::Data<Db>) -> Result<HttpResponse, ApiError> {
    let items = db
        .read(|conn| {
            centers::table
                .select(CenterRow::as_select())
                .order(centers::code)
                .load(conn)?
                .into_iter()
                .map(Center::from_row)
                .collect::<Result<Vec<_>, _>>()
        })
        .await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "items": items })))
}

/// `POST /api/v1/centers` (admin).
pub async fn create_handler(
    caller: Caller,
    db: web::Data<Db>,
    provinces: web::Data<Provinces>,
    body: JsonBody<NewCenter>,
) -> Result<HttpResponse, ApiError> {
    caller.require_admin()?;
    let provinces = provinces.into_inner();
    let center = db
        .write(&caller.actor(), move |unit| {
            let center = create(unit, body.value, &provinces)?;
            unit.audit(
                Event::new("center.create")
                    .resource("center", center.id)
                    .center(center.id),
            );
            Ok(center)
        })
        .await?;
    Ok(HttpResponse::Created()
        .insert_header((header::LOCATION, format!("/api/v1/centers/{}", center.id)))
        .json(center))
}

/// `GET /api/v1/centers/{id}`.
pub async fn get(
    _caller: Caller,
    db: web::Data<Db>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let center = db
        .read(move |conn| find(conn, id))
        .await?
        .ok_or_else(|| not_found(id))?;
    Ok(HttpResponse::Ok().json(center))
}

/// `PATCH /api/v1/centers/{id}` (admin).
pub async fn patch(
    caller: Caller,
    db: web::Data<Db>,
    provinces: web::Data<Provinces>,
    id: web::Path<Uuid>,
    body: JsonBody<CenterPatch>,
) -> Result<HttpResponse, ApiError> {
    caller.require_admin()?;
    let id = id.into_inner();
    let patch = body.value;
    let provinces = provinces.into_inner();
    let center = db
        .write(&caller.actor(), move |conn| {
            conn.audit(
                Event::new("center.update")
                    .resource("center", id)
                    .center(id),
            );
            let current = find(conn, id)?.ok_or_else(|| not_found(id))?;
            let code = patch.code.unwrap_or(current.code);
            let name = patch.name.unwrap_or(current.name);
            let kind = patch.kind.unwrap_or(current.kind);
            let province = patch.province.unwrap_or(current.province);
            let latitude = patch.latitude.unwrap_or(current.latitude);
            let longitude = patch.longitude.unwrap_or(current.longitude);
            let timezone = patch.timezone.unwrap_or(current.timezone);
            let contact = patch.contact.unwrap_or(current.contact);
            let mut errors = Vec::new();
            check_code(&code, &mut errors);
            check_name(&name, &mut errors);
            check_province(&province, &provinces, &mut errors);
            check_coordinates(latitude, longitude, &mut errors);
            check_timezone(&timezone, &mut errors);
            check_contact(contact.as_deref(), &mut errors);
            if !errors.is_empty() {
                return Err(ApiError::Validation(errors));
            }
            diesel::update(centers::table.find(id.to_string()))
                .set((
                    centers::code.eq(&code),
                    centers::name.eq(&name),
                    centers::kind.eq(kind.as_str()),
                    centers::province.eq(&province),
                    centers::latitude.eq(latitude),
                    centers::longitude.eq(longitude),
                    centers::timezone.eq(&timezone),
                    centers::contact.eq(&contact),
                    centers::updated_at.eq(time::now()),
                ))
                .execute(conn.conn())
                .map_err(db::unique_violation(code_taken(&code)))?;
            find(conn, id)?.ok_or_else(|| not_found(id))
        })
        .await?;
    Ok(HttpResponse::Ok().json(center))
}

fn not_found(id: Uuid) -> ApiError {
    ApiError::NotFound(format!("no center with id {id}"))
}

/// The centers routes, under `/api/v1`.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/centers").get(list).post(create_handler))
        .service(resource("/centers/{id}").get(get).patch(patch));
}
