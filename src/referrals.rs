//! Medical referrals: wounded and sick people referred to a hospital or
//! clinic, with how urgent it is and how it went.
//!
//! Deliberately coarse: a category (injury, burn, illness...) and a
//! priority, never a diagnosis or any clinical text. That is what the
//! response needs to plan transport and follow up, and all a registration
//! desk should hold about someone's health.
//!
//! A referral moves `referred` -> `accepted` -> `completed`, or is
//! `cancelled` before it completes. Each change needs `If-Match` with the
//! version read (like household corrections), and is appended to
//! `referral_status_changes`, which the database refuses to update or
//! delete: the history cannot be edited.

use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::auth::{Caller, CenterScope};
use crate::db::audit::Event;
use crate::db::{Db, DbConnection};
use crate::error::{ApiError, FieldError};
use crate::extract::{JsonBody, Query};
use crate::http::etag::{etag, expected_version};
use crate::http::idempotent::{self, ClientId, Created};
use crate::http::paging::{Cursor, PageQuery};
use crate::http::routes::resource;
use crate::http::stored;
use crate::http::time::{self, Timestamp};
use crate::organizations;
use crate::provinces::Provinces;
use crate::registration::{self, Household};
use crate::schema::{households, referral_status_changes, referrals};

crate::stored_enum! {
    /// What the referral is for, coarsely (never a diagnosis).
    pub enum Category {
        Injury = "injury",
        Burn = "burn",
        Illness = "illness",
        ChronicCondition = "chronic_condition",
        Pregnancy = "pregnancy",
        Other = "other",
    }
}

crate::stored_enum! {
    /// How soon the person must be seen.
    pub enum Priority {
        Emergency = "emergency",
        Urgent = "urgent",
        Routine = "routine",
    }
}

crate::stored_enum! {
    /// Where a referral stands; see [`Status::next`] for the allowed moves.
    pub enum Status {
        /// Recorded by the desk; the facility has not confirmed yet.
        Referred = "referred",
        /// The facility took the person in (or booked them).
        Accepted = "accepted",
        /// Seen or treated; the referral is closed.
        Completed = "completed",
        /// Will not happen (the person left, went elsewhere...); closed.
        Cancelled = "cancelled",
    }
}

impl Status {
    /// The statuses a referral in this status may move to.
    pub fn next(self) -> &'static [Status] {
        match self {
            Status::Referred => &[Status::Accepted, Status::Cancelled],
            Status::Accepted => &[Status::Completed, Status::Cancelled],
            Status::Completed | Status::Cancelled => &[],
        }
    }
}

/// A referral as lists return it.
#[derive(Debug, Clone, Serialize)]
pub struct Referral {
    pub id: Uuid,
    pub household_id: Uuid,
    pub person_id: Uuid,
    pub facility: String,
    pub facility_province: Option<String>,
    pub category: Category,
    pub priority: Priority,
    pub status: Status,
    pub organization_id: Option<Uuid>,
    pub referred_at: DateTime<Utc>,
    pub version: i32,
    pub recorded_by: Uuid,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = referrals)]
struct ReferralRow {
    id: String,
    household_id: String,
    person_id: String,
    facility: String,
    facility_province: Option<String>,
    category: String,
    priority: String,
    status: String,
    organization_id: Option<String>,
    referred_at: NaiveDateTime,
    version: i32,
    recorded_by: String,
    created_at: NaiveDateTime,
    updated_at: NaiveDateTime,
}

impl TryFrom<ReferralRow> for Referral {
    type Error = ApiError;

    fn try_from(row: ReferralRow) -> Result<Referral, ApiError> {
        Ok(Referral {
            id: stored::id(&row.id)?,
            household_id: stored::id(&row.household_id)?,
            person_id: stored::id(&row.person_id)?,
            facility: row.facility,
            facility_province: row.facility_province,
            category: Category::from_stored(&row.category)?,
            priority: Priority::from_stored(&row.priority)?,
            status: Status::from_stored(&row.status)?,
            organization_id: row.organization_id.as_deref().map(stored::id).transpose()?,
            referred_at: row.referred_at.and_utc(),
            version: row.version,
            recorded_by: stored::id(&row.recorded_by)?,
            created_at: row.created_at.and_utc(),
            updated_at: row.updated_at.and_utc(),
        })
    }
}

/// One entry of a referral's history.
#[derive(Debug, Clone, Serialize)]
pub struct StatusChange {
    /// The referral's version from this change on.
    pub version: i32,
    pub status: Status,
    pub changed_at: DateTime<Utc>,
    pub changed_by: Uuid,
}

/// A referral with every status it has had, oldest first (one read, a
/// create and a status change return this).
#[derive(Debug, Clone, Serialize)]
pub struct ReferralRecord {
    #[serde(flatten)]
    pub referral: Referral,
    pub history: Vec<StatusChange>,
}

/// `POST /api/v1/referrals` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewReferral {
    /// Client-chosen id: makes retries safe without an `Idempotency-Key`.
    #[serde(default)]
    pub id: Option<Uuid>,
    pub household_id: Uuid,
    /// The member referred.
    pub person_id: Uuid,
    /// E.g. "Goris Medical Center".
    pub facility: String,
    #[serde(default)]
    pub facility_province: Option<String>,
    pub category: Category,
    pub priority: Priority,
    /// The organization that arranged or pays for it, if any.
    #[serde(default)]
    pub organization_id: Option<Uuid>,
    /// Default: now. Not in the future, not before the household arrived.
    #[serde(default)]
    pub referred_at: Option<Timestamp>,
}

/// `PATCH /api/v1/referrals/{id}` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReferralPatch {
    pub status: Status,
}

/// Loads a referral by id.
pub fn find(conn: &mut DbConnection, id: Uuid) -> Result<Option<Referral>, ApiError> {
    referrals::table
        .find(id.to_string())
        .select(ReferralRow::as_select())
        .first(conn)
        .optional()?
        .map(Referral::try_from)
        .transpose()
}

fn not_found(id: Uuid) -> ApiError {
    ApiError::NotFound(format!("no referral with id {id}"))
}

fn history(conn: &mut DbConnection, id: Uuid) -> Result<Vec<StatusChange>, ApiError> {
    let rows: Vec<(i32, String, NaiveDateTime, String)> = referral_status_changes::table
        .filter(referral_status_changes::referral_id.eq(id.to_string()))
        .order(referral_status_changes::version)
        .select((
            referral_status_changes::version,
            referral_status_changes::status,
            referral_status_changes::changed_at,
            referral_status_changes::changed_by,
        ))
        .load(conn)?;
    rows.into_iter()
        .map(|(version, status, changed_at, changed_by)| {
            Ok(StatusChange {
                version,
                status: Status::from_stored(&status)?,
                changed_at: changed_at.and_utc(),
                changed_by: stored::id(&changed_by)?,
            })
        })
        .collect()
}

/// Loads a referral with its history.
pub fn find_record(conn: &mut DbConnection, id: Uuid) -> Result<Option<ReferralRecord>, ApiError> {
    let Some(referral) = find(conn, id)? else {
        return Ok(None);
    };
    let history = history(conn, id)?;
    Ok(Some(ReferralRecord { referral, history }))
}

fn center_of(conn: &mut DbConnection, household_id: Uuid) -> Result<Uuid, ApiError> {
    let center: String = households::table
        .find(household_id.to_string())
        .select(households::center_id)
        .first(conn)?;
    stored::id(&center)
}

fn append_status(
    conn: &mut DbConnection,
    id: Uuid,
    version: i32,
    status: Status,
    at: NaiveDateTime,
    by: Uuid,
) -> Result<(), ApiError> {
    diesel::insert_into(referral_status_changes::table)
        .values((
            referral_status_changes::referral_id.eq(id.to_string()),
            referral_status_changes::version.eq(version),
            referral_status_changes::status.eq(status.as_str()),
            referral_status_changes::changed_at.eq(at),
            referral_status_changes::changed_by.eq(by.to_string()),
        ))
        .execute(conn)?;
    Ok(())
}

/// The rules a referral's own fields must follow (no database needed);
/// returns the instant it was made.
fn check_new(
    new: &NewReferral,
    provinces: &Provinces,
    now: NaiveDateTime,
) -> Result<NaiveDateTime, ApiError> {
    let mut errors = Vec::new();
    if new.facility.trim().is_empty() || new.facility.chars().count() > 200 {
        errors.push(FieldError::new(
            "facility",
            "length",
            "the facility's name: 1 to 200 characters, not only spaces",
        ));
    }
    if let Some(province) = &new.facility_province {
        if !provinces.contains(province) {
            errors.push(FieldError::new(
                "facility_province",
                "unknown",
                provinces.expected(),
            ));
        }
    }
    let referred_at = time::happened_at(new.referred_at, "referred_at", now, &mut errors);
    if errors.is_empty() {
        Ok(referred_at)
    } else {
        Err(ApiError::Validation(errors))
    }
}

/// Records a referral, in the caller's transaction. `authorize` sees the
/// household before anything is written.
pub fn create(
    conn: &mut DbConnection,
    new: NewReferral,
    recorded_by: Uuid,
    provinces: &Provinces,
    authorize: impl FnOnce(&Household) -> Result<(), ApiError>,
) -> Result<ReferralRecord, ApiError> {
    let now = time::now();
    let referred_at = check_new(&new, provinces, now)?;
    let household = registration::find(conn, new.household_id)?.ok_or_else(|| {
        ApiError::invalid(
            "household_id",
            "unknown",
            format!("no household with id {}", new.household_id),
        )
    })?;
    authorize(&household)?;
    if !household.members.iter().any(|m| m.id == new.person_id) {
        return Err(ApiError::invalid(
            "person_id",
            "not_member",
            "no member with this id in this household",
        ));
    }
    if referred_at < household.arrived_at.naive_utc() {
        return Err(ApiError::invalid(
            "referred_at",
            "before_arrival",
            "a referral cannot be made before the household arrived",
        ));
    }
    if let Some(organization) = new.organization_id {
        organizations::require(conn, organization, "organization_id")?;
    }
    let id = new.id.unwrap_or_else(Uuid::now_v7);
    diesel::insert_into(referrals::table)
        .values((
            referrals::id.eq(id.to_string()),
            referrals::household_id.eq(household.id.to_string()),
            referrals::person_id.eq(new.person_id.to_string()),
            referrals::facility.eq(&new.facility),
            referrals::facility_province.eq(&new.facility_province),
            referrals::category.eq(new.category.as_str()),
            referrals::priority.eq(new.priority.as_str()),
            referrals::status.eq(Status::Referred.as_str()),
            referrals::organization_id.eq(new.organization_id.map(|o| o.to_string())),
            referrals::referred_at.eq(referred_at),
            referrals::version.eq(1),
            referrals::recorded_by.eq(recorded_by.to_string()),
            referrals::created_at.eq(now),
            referrals::updated_at.eq(now),
        ))
        .execute(conn)?;
    append_status(conn, id, 1, Status::Referred, referred_at, recorded_by)?;
    find_record(conn, id)?.ok_or_else(|| ApiError::internal("referral vanished after insert"))
}

/// Moves a referral to `status`, in the caller's transaction, if the
/// version read is still current (412 otherwise) and the move is allowed
/// (409 `invalid-status-transition` otherwise). `authorize` sees the
/// household's center before anything is written.
pub fn change_status(
    conn: &mut DbConnection,
    id: Uuid,
    expected: i32,
    status: Status,
    by: Uuid,
    authorize: impl FnOnce(Uuid) -> Result<(), ApiError>,
) -> Result<ReferralRecord, ApiError> {
    let current = find(conn, id)?.ok_or_else(|| not_found(id))?;
    authorize(center_of(conn, current.household_id)?)?;
    if current.version != expected {
        return Err(ApiError::PreconditionFailed {
            current_version: current.version,
        });
    }
    if !current.status.next().contains(&status) {
        let allowed: Vec<&str> = current.status.next().iter().map(|s| s.as_str()).collect();
        return Err(ApiError::Conflict {
            code: "invalid-status-transition",
            detail: format!(
                "a {} referral cannot become {}; it may become: {}",
                current.status.as_str(),
                status.as_str(),
                if allowed.is_empty() {
                    "nothing (it is closed)".to_string()
                } else {
                    allowed.join(", ")
                }
            ),
        });
    }
    let now = time::now();
    let version = expected + 1;
    // The version in the WHERE clause makes a concurrent change (another
    // process between our read and this write) fail cleanly.
    let updated = diesel::update(
        referrals::table
            .find(id.to_string())
            .filter(referrals::version.eq(expected)),
    )
    .set((
        referrals::status.eq(status.as_str()),
        referrals::version.eq(version),
        referrals::updated_at.eq(now),
    ))
    .execute(conn)?;
    if updated == 0 {
        let current = find(conn, id)?.ok_or_else(|| not_found(id))?;
        return Err(ApiError::PreconditionFailed {
            current_version: current.version,
        });
    }
    append_status(conn, id, version, status, now, by)?;
    tracing::info!(referral_id = %id, version, "referral status changed");
    find_record(conn, id)?.ok_or_else(|| ApiError::internal("referral vanished"))
}

/// A household's referrals, oldest first.
pub fn of_household(
    conn: &mut DbConnection,
    household_id: Uuid,
) -> Result<Vec<Referral>, ApiError> {
    referrals::table
        .filter(referrals::household_id.eq(household_id.to_string()))
        .order((referrals::referred_at, referrals::id))
        .select(ReferralRow::as_select())
        .load(conn)?
        .into_iter()
        .map(Referral::try_from)
        .collect()
}

// ---------------------------------------------------------------- HTTP

fn location(id: Uuid) -> String {
    format!("/api/v1/referrals/{id}")
}

fn respond_with(status: StatusCode, record: &ReferralRecord) -> HttpResponse {
    HttpResponse::build(status)
        .insert_header((header::ETAG, etag(record.referral.version)))
        .insert_header((header::LOCATION, location(record.referral.id)))
        .json(record)
}

/// `POST /api/v1/referrals`: admins anywhere; registrars and aid workers for
/// households of their centers.
pub async fn create_handler(
    req: HttpRequest,
    caller: Caller,
    db: web::Data<Db>,
    provinces: web::Data<Provinces>,
    body: JsonBody<NewReferral>,
) -> Result<HttpResponse, ApiError> {
    let new = body.value;
    let user_id = caller.user_id;
    let provinces = provinces.into_inner();
    let client_id = ClientId::of("referral", new.id);
    let guard = caller.clone();
    idempotent::create(&db, &req, &guard, &body.document, client_id, move |conn| {
        let record = create(conn, new, user_id, &provinces, |household| {
            caller.require_aid(household.center_id)
        })?;
        conn.audit(
            Event::new("referral.create")
                .resource("referral", record.referral.id)
                .persons([record.referral.person_id])
                .version(record.referral.version),
        );
        let (location, version) = (location(record.referral.id), record.referral.version);
        Ok(Created::new(record, location).versioned(version))
    })
    .await
}

/// `GET /api/v1/referrals` query.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    household_id: Option<Uuid>,
    status: Option<Status>,
    center_id: Option<Uuid>,
    limit: Option<i64>,
    cursor: Option<String>,
}

/// `GET /api/v1/referrals`: referrals by `referred_at`, filtered, a page at a
/// time. Person-level: callers limited to some centers see their households'
/// referrals only; analysts get 403.
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
        "household_id": query.household_id,
        "center_id": query.center_id,
        "status": query.status,
    });
    let page = db
        .read(move |conn| {
            let mut q = referrals::table
                .inner_join(households::table)
                .select(ReferralRow::as_select())
                .into_boxed();
            if let Some(household) = query.household_id {
                q = q.filter(referrals::household_id.eq(household.to_string()));
            }
            if let Some(status) = query.status {
                q = q.filter(referrals::status.eq(status.as_str()));
            }
            if let Some(center) = query.center_id {
                q = q.filter(households::center_id.eq(center.to_string()));
            }
            if let CenterScope::Only(centers) = &scope {
                let centers: Vec<String> = centers.iter().map(Uuid::to_string).collect();
                q = q.filter(households::center_id.eq_any(centers));
            }
            if let Some(Cursor { at, id }) = paging.after.clone() {
                q = q.filter(
                    referrals::referred_at
                        .gt(at)
                        .or(referrals::referred_at.eq(at).and(referrals::id.gt(id))),
                );
            }
            let rows: Vec<ReferralRow> = q
                .order((referrals::referred_at, referrals::id))
                .limit(paging.rows_to_load())
                .load(conn)?;
            paging.page(
                rows,
                |r| Cursor::encode(r.referred_at, &r.id),
                |rows| rows.into_iter().map(Referral::try_from).collect(),
            )
        })
        .await?;
    db.record(
        &caller.actor(),
        vec![Event::new("referral.list")
            .detail(detail)
            .persons(page.items.iter().map(|r| r.person_id))],
    )
    .await?;
    Ok(HttpResponse::Ok().json(page))
}

/// `GET /api/v1/referrals/{id}`: person-level, by the household's center.
pub async fn get(
    caller: Caller,
    db: web::Data<Db>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let scope = caller.person_read_scope()?;
    let id = id.into_inner();
    let (record, center) = db
        .read(move |conn| {
            let record = find_record(conn, id)?.ok_or_else(|| not_found(id))?;
            let center = center_of(conn, record.referral.household_id)?;
            scope.require(center, "this household's center")?;
            Ok((record, center))
        })
        .await?;
    db.record(
        &caller.actor(),
        vec![Event::new("referral.read")
            .resource("referral", record.referral.id)
            .center(center)
            .persons([record.referral.person_id])],
    )
    .await?;
    Ok(respond_with(StatusCode::OK, &record))
}

/// `PATCH /api/v1/referrals/{id}`: a status change, with `If-Match` required.
pub async fn patch(
    req: HttpRequest,
    caller: Caller,
    db: web::Data<Db>,
    id: web::Path<Uuid>,
    body: JsonBody<ReferralPatch>,
) -> Result<HttpResponse, ApiError> {
    let expected = expected_version(&req)?;
    let id = id.into_inner();
    let status = body.value.status;
    let record = db
        .write(&caller.actor(), move |unit| {
            let record = change_status(unit, id, expected, status, caller.user_id, |center| {
                caller.require_aid(center)
            })?;
            unit.audit(
                Event::new("referral.update")
                    .resource("referral", record.referral.id)
                    .persons([record.referral.person_id])
                    .version(record.referral.version),
            );
            Ok(record)
        })
        .await?;
    Ok(respond_with(StatusCode::OK, &record))
}

/// The referrals routes, under `/api/v1`.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/referrals").get(list).post(create_handler))
        .service(resource("/referrals/{id}").get(get).patch(patch));
}
