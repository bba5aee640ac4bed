//! Border flow counts, in the style of IOM DTM flow monitoring: staff at a
//! crossing record how many people (and vehicles) crossed in one direction
//! during a time window, optionally broken down by sex and age band.
//!
//! Counts are aggregate data, not personal data. The rule that matters is
//! **no double counting**: two counts of one center and direction may not
//! cover the same instant. Windows are half-open, `[window_start,
//! window_end)`, so a count that ends exactly when the next begins does not
//! overlap it. Corrections keep the record's history in
//! `flow_count_corrections`.

use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use chrono::{DateTime, NaiveDate, NaiveDateTime, SecondsFormat, TimeDelta, Utc};
use diesel::dsl::sum;
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use uuid::Uuid;
use validator::Validate;

use crate::age_bands::AgeBand;
use crate::auth::{Caller, CenterScope};
use crate::db::audit::Event;
use crate::db::{self, Db, DbConnection};
use crate::error::{self, ApiError, FieldError};
use crate::extract::{non_null, nullable, JsonBody, Query};
use crate::http::etag::{etag, expected_version};
use crate::http::idempotent::{self, ClientId, Created};
use crate::http::paging::{Cursor, PageQuery};
use crate::http::routes::resource;
use crate::http::stored;
use crate::http::time::{self, Timestamp};
use crate::registration::Sex;
use crate::schema::{centers, flow_count_corrections, flow_counts};

/// Longest window one count may cover.
pub const MAX_WINDOW: TimeDelta = TimeDelta::days(7);

/// Longest correction reason, in characters.
pub const MAX_REASON: usize = 500;

crate::stored_enum! {
    /// Which way people crossed.
    #[derive(Hash)]
    pub enum Direction {
        In = "in",
        Out = "out",
    }
}

/// People of one sex and age band within a count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Validate)]
#[serde(deny_unknown_fields)]
pub struct SexAgeCount {
    pub sex: Sex,
    pub age_band: AgeBand,
    #[validate(range(min = 0, message = "must not be negative"))]
    pub people: i32,
}

/// `POST /api/v1/flow-counts` body, and the input of [`record`].
#[derive(Debug, Clone, Deserialize, Validate)]
#[serde(deny_unknown_fields)]
pub struct NewFlowCount {
    #[serde(default)]
    pub id: Option<Uuid>,
    pub center_id: Uuid,
    pub window_start: Timestamp,
    pub window_end: Timestamp,
    pub direction: Direction,
    #[validate(range(min = 0, message = "must not be negative"))]
    pub people: i32,
    /// May exceed `people`: empty vehicles cross too.
    #[serde(default)]
    #[validate(range(min = 0, message = "must not be negative"))]
    pub vehicles: Option<i32>,
    #[serde(default)]
    #[validate(nested)]
    pub by_sex_age: Option<Vec<SexAgeCount>>,
}

/// A flow count as the API returns it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FlowCount {
    pub id: Uuid,
    pub center_id: Uuid,
    pub window_start: DateTime<Utc>,
    pub window_end: DateTime<Utc>,
    pub direction: Direction,
    pub people: i32,
    pub vehicles: Option<i32>,
    pub by_sex_age: Option<Vec<SexAgeCount>>,
    pub version: i32,
    pub recorded_by: Uuid,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// One entry of a count's correction history.
#[derive(Debug, Clone, Serialize)]
pub struct Correction {
    /// The version the correction produced.
    pub version: i32,
    pub reason: String,
    /// The count as it was before the correction.
    pub previous: FlowCount,
    pub corrected_by: Uuid,
    pub corrected_at: DateTime<Utc>,
}

/// The rules of a count that span fields or need the clock, as field errors.
fn check(new: &NewFlowCount, now: DateTime<Utc>) -> Vec<FieldError> {
    let mut errors = match new.validate() {
        Ok(()) => Vec::new(),
        Err(errors) => error::from_validation(&errors),
    };
    let start = new.window_start.with_timezone(&Utc);
    let end = new.window_end.with_timezone(&Utc);
    if end <= start {
        errors.push(FieldError::new(
            "window_end",
            "not_after_start",
            "must be later than window_start",
        ));
    } else if end - start > MAX_WINDOW {
        errors.push(FieldError::new(
            "window_end",
            "window_too_long",
            "a window covers at most 7 days",
        ));
    }
    if time::in_future(end.naive_utc(), now.naive_utc()) {
        errors.push(FieldError::new(
            "window_end",
            "in_future",
            "must not be in the future",
        ));
    }
    let earliest = NaiveDate::from_ymd_opt(1990, 1, 1)
        .expect("valid date")
        .and_hms_opt(0, 0, 0)
        .expect("valid time")
        .and_utc();
    if start < earliest {
        errors.push(FieldError::new(
            "window_start",
            "too_early",
            "must be after 1990-01-01",
        ));
    }
    if let Some(entries) = &new.by_sex_age {
        for (i, entry) in entries.iter().enumerate() {
            let twice = entries[..i]
                .iter()
                .any(|e| e.sex == entry.sex && e.age_band == entry.age_band);
            if twice {
                errors.push(FieldError::new(
                    format!("by_sex_age[{i}]"),
                    "duplicate",
                    "this sex and age band is listed twice",
                ));
            }
        }
        // i64: the sum of many i32 must not overflow.
        let total: i64 = entries.iter().map(|e| i64::from(e.people)).sum();
        if total != i64::from(new.people) {
            errors.push(FieldError::new(
                "by_sex_age",
                "sum_mismatch",
                format!(
                    "the entries add up to {total} people but people is {}",
                    new.people
                ),
            ));
        }
    }
    errors
}

/// Checks every rule of a count that needs no database: `window_end` after
/// `window_start`, at most 7 days, not ending more than 5 minutes after
/// `now`, starting after 1990-01-01, no negative numbers, and a breakdown by
/// sex and age with each pair once, adding up to `people`. Every violation is
/// reported (422). Call it before [`record`]; `now` is a parameter so that
/// replays can use their own clock.
pub fn validate(new: &NewFlowCount, now: DateTime<Utc>) -> Result<(), ApiError> {
    let errors = check(new, now);
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ApiError::Validation(errors))
    }
}

/// Locks the center's row until the transaction ends, so that the overlap
/// check and the write it guards cannot interleave with another process's.
/// On PostgreSQL the no-op update takes a row lock (a second writer waits,
/// then sees the first one's committed count); SQLite writes are serialized
/// by its single writer. An unknown center is a 422.
fn lock_center(conn: &mut DbConnection, center: Uuid) -> Result<(), ApiError> {
    let locked = diesel::update(centers::table.find(center.to_string()))
        .set(centers::updated_at.eq(centers::updated_at))
        .execute(conn)?;
    if locked == 0 {
        return Err(ApiError::invalid(
            "center_id",
            "unknown",
            format!("no center with id {center}"),
        ));
    }
    Ok(())
}

/// Refuses a window that overlaps a stored count of the same center and
/// direction (other than `except`, the count being corrected). Windows are
/// half-open, so touching ones do not overlap. Run after [`lock_center`].
fn refuse_overlap(
    conn: &mut DbConnection,
    center: Uuid,
    direction: Direction,
    start: NaiveDateTime,
    end: NaiveDateTime,
    except: Option<Uuid>,
) -> Result<(), ApiError> {
    let mut q = flow_counts::table
        .filter(flow_counts::center_id.eq(center.to_string()))
        .filter(flow_counts::direction.eq(direction.as_str()))
        .filter(flow_counts::window_start.lt(end))
        .filter(flow_counts::window_end.gt(start))
        .select((
            flow_counts::id,
            flow_counts::window_start,
            flow_counts::window_end,
        ))
        .order((flow_counts::window_start, flow_counts::id))
        .into_boxed();
    if let Some(id) = except {
        q = q.filter(flow_counts::id.ne(id.to_string()));
    }
    let clash: Option<(String, NaiveDateTime, NaiveDateTime)> = q.first(conn).optional()?;
    match clash {
        None => Ok(()),
        Some((id, other_start, other_end)) => Err(ApiError::Conflict {
            code: "flow-window-overlap",
            detail: format!(
                "the window overlaps flow count {id} ({} to {}) of the same center and direction; \
                 correct that count instead of counting the same people twice",
                other_start
                    .and_utc()
                    .to_rfc3339_opts(SecondsFormat::AutoSi, true),
                other_end
                    .and_utc()
                    .to_rfc3339_opts(SecondsFormat::AutoSi, true),
            ),
        }),
    }
}

fn exists_conflict(id: Uuid) -> ApiError {
    idempotent::id_taken("flow-count-exists", "flow count", id)
}

fn by_sex_age_text(entries: &Option<Vec<SexAgeCount>>) -> Result<Option<String>, ApiError> {
    entries
        .as_ref()
        .map(|e| serde_json::to_string(e).map_err(ApiError::internal))
        .transpose()
}

/// Records a count that [`validate`] accepted: locks the center, refuses an
/// overlapping window (409 `flow-window-overlap`) or a taken id (409
/// `flow-count-exists`), and inserts. Run it inside a transaction (as
/// [`Db::write`] does), so that the lock holds until the count is committed.
/// Used by the API and by every other writer (scenario replay, imports).
pub fn record(
    conn: &mut DbConnection,
    new: NewFlowCount,
    recorded_by: Uuid,
) -> Result<FlowCount, ApiError> {
    let now = time::now();
    let count = FlowCount {
        id: new.id.unwrap_or_else(Uuid::now_v7),
        center_id: new.center_id,
        window_start: new.window_start.stored().and_utc(),
        window_end: new.window_end.stored().and_utc(),
        direction: new.direction,
        people: new.people,
        vehicles: new.vehicles,
        by_sex_age: new.by_sex_age,
        version: 1,
        recorded_by,
        created_at: now.and_utc(),
        updated_at: now.and_utc(),
    };
    lock_center(conn, count.center_id)?;
    let taken = flow_counts::table
        .find(count.id.to_string())
        .select(flow_counts::id)
        .first::<String>(conn)
        .optional()?
        .is_some();
    if taken {
        return Err(exists_conflict(count.id));
    }
    refuse_overlap(
        conn,
        count.center_id,
        count.direction,
        count.window_start.naive_utc(),
        count.window_end.naive_utc(),
        None,
    )?;
    diesel::insert_into(flow_counts::table)
        .values((
            flow_counts::id.eq(count.id.to_string()),
            flow_counts::center_id.eq(count.center_id.to_string()),
            flow_counts::window_start.eq(count.window_start.naive_utc()),
            flow_counts::window_end.eq(count.window_end.naive_utc()),
            flow_counts::direction.eq(count.direction.as_str()),
            flow_counts::people.eq(count.people),
            flow_counts::vehicles.eq(count.vehicles),
            flow_counts::by_sex_age.eq(by_sex_age_text(&count.by_sex_age)?),
            flow_counts::version.eq(count.version),
            flow_counts::recorded_by.eq(count.recorded_by.to_string()),
            flow_counts::created_at.eq(now),
            flow_counts::updated_at.eq(now),
        ))
        .execute(conn)
        .map_err(db::unique_violation(|| exists_conflict(count.id)))?;
    tracing::info!(flow_count_id = %count.id, "flow count recorded");
    Ok(count)
}

/// People and vehicles that crossed at `center` (or at every center) in
/// `direction`, summed over the counts whose window had closed by `as_of`
/// (`window_end <= as_of`): a window counts once, when it closes. A count
/// without vehicles adds none.
pub fn crossed_as_of(
    conn: &mut DbConnection,
    center: Option<Uuid>,
    direction: Direction,
    as_of: NaiveDateTime,
) -> Result<(i64, i64), ApiError> {
    Ok(crossed_by_center(conn, direction, as_of)?
        .into_iter()
        .filter(|(c, _)| center.is_none_or(|wanted| *c == wanted))
        .fold((0, 0), |(p, v), (_, (people, vehicles))| {
            (p + people, v + vehicles)
        }))
}

/// [`crossed_as_of`] per center.
pub fn crossed_by_center(
    conn: &mut DbConnection,
    direction: Direction,
    as_of: NaiveDateTime,
) -> Result<std::collections::HashMap<Uuid, (i64, i64)>, ApiError> {
    let rows: Vec<(String, Option<i64>, Option<i64>)> = flow_counts::table
        .filter(flow_counts::direction.eq(direction.as_str()))
        .filter(flow_counts::window_end.le(as_of))
        .group_by(flow_counts::center_id)
        .select((
            flow_counts::center_id,
            sum(flow_counts::people),
            sum(flow_counts::vehicles),
        ))
        .load(conn)?;
    rows.into_iter()
        .map(|(center, people, vehicles)| {
            Ok((
                stored::id(&center)?,
                (people.unwrap_or(0), vehicles.unwrap_or(0)),
            ))
        })
        .collect()
}

/// People who crossed in, per center and UTC hour of their window's start,
/// within `range`, and per center before it: the `source=crossed` series.
#[allow(clippy::type_complexity)]
pub fn crossed_series(
    conn: &mut DbConnection,
    range: crate::stats::queries::Range,
    scope: &CenterScope,
) -> Result<
    (
        Vec<(Uuid, NaiveDateTime, String, i64)>,
        Vec<(Uuid, String, i64)>,
    ),
    ApiError,
> {
    let mut q = flow_counts::table
        .filter(flow_counts::direction.eq(Direction::In.as_str()))
        .filter(flow_counts::window_start.lt(range.to))
        .select((
            flow_counts::center_id,
            flow_counts::window_start,
            flow_counts::people,
        ))
        .into_boxed();
    if let CenterScope::Only(centers) = scope {
        let centers: Vec<String> = centers.iter().map(Uuid::to_string).collect();
        q = q.filter(flow_counts::center_id.eq_any(centers));
    }
    let rows: Vec<(String, NaiveDateTime, i32)> = q.load(conn)?;
    let mut within = Vec::new();
    let mut before: std::collections::BTreeMap<Uuid, i64> = std::collections::BTreeMap::new();
    for (center, start, people) in rows {
        let center = stored::id(&center)?;
        let hour = time::hour_of(start);
        if hour < range.from {
            *before.entry(center).or_default() += i64::from(people);
        } else {
            within.push((center, hour, String::new(), i64::from(people)));
        }
    }
    Ok((
        within,
        before
            .into_iter()
            .map(|(c, n)| (c, String::new(), n))
            .collect(),
    ))
}

/// A `flow_counts` row as stored.
#[derive(Queryable, Selectable)]
#[diesel(table_name = flow_counts)]
struct FlowCountRow {
    id: String,
    center_id: String,
    window_start: NaiveDateTime,
    window_end: NaiveDateTime,
    direction: String,
    people: i32,
    vehicles: Option<i32>,
    by_sex_age: Option<String>,
    version: i32,
    recorded_by: String,
    created_at: NaiveDateTime,
    updated_at: NaiveDateTime,
}

impl FlowCountRow {
    fn into_count(self) -> Result<FlowCount, ApiError> {
        let by_sex_age = self
            .by_sex_age
            .as_deref()
            .map(serde_json::from_str)
            .transpose()
            .map_err(|e| ApiError::internal(format!("malformed stored by_sex_age: {e}")))?;
        Ok(FlowCount {
            id: stored::id(&self.id)?,
            center_id: stored::id(&self.center_id)?,
            window_start: self.window_start.and_utc(),
            window_end: self.window_end.and_utc(),
            direction: Direction::from_stored(&self.direction)?,
            people: self.people,
            vehicles: self.vehicles,
            by_sex_age,
            version: self.version,
            recorded_by: stored::id(&self.recorded_by)?,
            created_at: self.created_at.and_utc(),
            updated_at: self.updated_at.and_utc(),
        })
    }
}

/// Loads one count.
pub fn find(conn: &mut DbConnection, id: Uuid) -> Result<Option<FlowCount>, ApiError> {
    flow_counts::table
        .find(id.to_string())
        .select(FlowCountRow::as_select())
        .first(conn)
        .optional()?
        .map(FlowCountRow::into_count)
        .transpose()
}

fn not_found(id: Uuid) -> ApiError {
    ApiError::NotFound(format!("no flow count with id {id}"))
}

fn location(id: Uuid) -> String {
    format!("/api/v1/flow-counts/{id}")
}

fn respond_with(status: StatusCode, count: &FlowCount) -> HttpResponse {
    HttpResponse::build(status)
        .insert_header((header::ETAG, etag(count.version)))
        .insert_header((header::LOCATION, location(count.id)))
        .json(count)
}

/// `POST /api/v1/flow-counts`: records a count; safe to retry.
pub async fn create(
    req: HttpRequest,
    caller: Caller,
    db: web::Data<Db>,
    body: JsonBody<NewFlowCount>,
) -> Result<HttpResponse, ApiError> {
    let new = body.value;
    validate(&new, Utc::now())?;
    caller.require_registration(new.center_id)?;
    let user_id = caller.user_id;
    let client_id = ClientId::of("flow_count", new.id);
    idempotent::create(&db, &req, &caller, &body.document, client_id, move |conn| {
        let count = record(conn, new, user_id)?;
        conn.audit(
            Event::new("flow_count.create")
                .resource("flow_count", count.id)
                .center(count.center_id)
                .version(count.version),
        );
        let (location, version) = (location(count.id), count.version);
        Ok(Created::new(count, location).versioned(version))
    })
    .await
}

/// `GET /api/v1/flow-counts/{id}`.
pub async fn get(
    caller: Caller,
    db: web::Data<Db>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let scope = caller.aggregate_read_scope();
    let id = id.into_inner();
    let count = db
        .read(move |conn| find(conn, id))
        .await?
        .ok_or_else(|| not_found(id))?;
    scope.require(count.center_id, "this flow count's center")?;
    Ok(respond_with(StatusCode::OK, &count))
}

/// `GET /api/v1/flow-counts` query.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    center_id: Option<Uuid>,
    direction: Option<Direction>,
    from: Option<Timestamp>,
    to: Option<Timestamp>,
    limit: Option<i64>,
    cursor: Option<String>,
}

/// `GET /api/v1/flow-counts`: counts by window start, filtered, a page at a time.
pub async fn list(
    caller: Caller,
    db: web::Data<Db>,
    query: Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    let scope = caller.aggregate_read_scope();
    let query = query.0;
    scope.require_filter(query.center_id)?;
    let paging = PageQuery::new(query.limit, query.cursor.as_deref())?;
    let page = db
        .read(move |conn| {
            let mut q = flow_counts::table
                .select(FlowCountRow::as_select())
                .into_boxed();
            if let Some(center) = query.center_id {
                q = q.filter(flow_counts::center_id.eq(center.to_string()));
            }
            if let CenterScope::Only(centers) = &scope {
                let centers: Vec<String> = centers.iter().map(Uuid::to_string).collect();
                q = q.filter(flow_counts::center_id.eq_any(centers));
            }
            if let Some(direction) = query.direction {
                q = q.filter(flow_counts::direction.eq(direction.as_str()));
            }
            // Windows that overlap [from, to).
            if let Some(from) = query.from {
                q = q.filter(flow_counts::window_end.gt(from.naive_utc()));
            }
            if let Some(to) = query.to {
                q = q.filter(flow_counts::window_start.lt(to.naive_utc()));
            }
            if let Some(Cursor { at, id }) = paging.after.clone() {
                q = q.filter(
                    flow_counts::window_start
                        .gt(at)
                        .or(flow_counts::window_start.eq(at).and(flow_counts::id.gt(id))),
                );
            }
            let rows: Vec<FlowCountRow> = q
                .order((flow_counts::window_start, flow_counts::id))
                .limit(paging.rows_to_load())
                .load(conn)?;
            paging.page(
                rows,
                |r| Cursor::encode(r.window_start, &r.id),
                |rows| rows.into_iter().map(FlowCountRow::into_count).collect(),
            )
        })
        .await?;
    Ok(HttpResponse::Ok().json(page))
}

/// `PATCH /api/v1/flow-counts/{id}` body: a correction and why. Fields sent
/// replace the stored ones (`null` clears `vehicles` or `by_sex_age`); the
/// center and direction cannot change (record a new count instead).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FlowCountPatch {
    /// Required; optional here so that its absence is reported by name with the other errors.
    #[serde(default)]
    reason: Option<String>,
    #[serde(default, deserialize_with = "non_null")]
    window_start: Option<Timestamp>,
    #[serde(default, deserialize_with = "non_null")]
    window_end: Option<Timestamp>,
    #[serde(default, deserialize_with = "non_null")]
    people: Option<i32>,
    #[serde(default, deserialize_with = "nullable")]
    vehicles: Option<Option<i32>>,
    #[serde(default, deserialize_with = "nullable")]
    by_sex_age: Option<Option<Vec<SexAgeCount>>>,
}

fn check_reason(reason: Option<&str>) -> Option<FieldError> {
    match reason {
        None => Some(FieldError::new(
            "reason",
            "required",
            "say why the count is corrected",
        )),
        Some(text) if text.trim().is_empty() || text.chars().count() > MAX_REASON => {
            Some(FieldError::new(
                "reason",
                "invalid_reason",
                format!("1 to {MAX_REASON} characters, not only spaces"),
            ))
        }
        Some(_) => None,
    }
}

/// `PATCH /api/v1/flow-counts/{id}`: a correction, with `If-Match` required.
/// The corrected count is validated as a whole, and its previous state is kept.
pub async fn patch(
    req: HttpRequest,
    caller: Caller,
    db: web::Data<Db>,
    id: web::Path<Uuid>,
    body: JsonBody<FlowCountPatch>,
) -> Result<HttpResponse, ApiError> {
    let expected = expected_version(&req)?;
    let id = id.into_inner();
    let patch = body.value;
    let count = db
        .write(&caller.actor(), move |conn| {
            let previous = find(conn, id)?.ok_or_else(|| not_found(id))?;
            caller.require_registration(previous.center_id)?;
            if previous.version != expected {
                return Err(ApiError::PreconditionFailed {
                    current_version: previous.version,
                });
            }
            let corrected = NewFlowCount {
                id: Some(previous.id),
                center_id: previous.center_id,
                window_start: patch
                    .window_start
                    .unwrap_or_else(|| Timestamp::trusted(previous.window_start)),
                window_end: patch
                    .window_end
                    .unwrap_or_else(|| Timestamp::trusted(previous.window_end)),
                direction: previous.direction,
                people: patch.people.unwrap_or(previous.people),
                vehicles: patch.vehicles.unwrap_or(previous.vehicles),
                by_sex_age: patch
                    .by_sex_age
                    .unwrap_or_else(|| previous.by_sex_age.clone()),
            };
            let mut errors: Vec<FieldError> =
                check_reason(patch.reason.as_deref()).into_iter().collect();
            errors.extend(check(&corrected, Utc::now()));
            if !errors.is_empty() {
                return Err(ApiError::Validation(errors));
            }
            let now = time::now();
            let count = FlowCount {
                window_start: corrected.window_start.stored().and_utc(),
                window_end: corrected.window_end.stored().and_utc(),
                people: corrected.people,
                vehicles: corrected.vehicles,
                by_sex_age: corrected.by_sex_age,
                version: previous.version + 1,
                updated_at: now.and_utc(),
                ..previous.clone()
            };
            if (count.window_start, count.window_end)
                != (previous.window_start, previous.window_end)
            {
                lock_center(conn, count.center_id)?;
                refuse_overlap(
                    conn,
                    count.center_id,
                    count.direction,
                    count.window_start.naive_utc(),
                    count.window_end.naive_utc(),
                    Some(count.id),
                )?;
            }
            // The version in the WHERE clause makes a concurrent correction
            // (another process between our read and this write) fail cleanly.
            let updated = diesel::update(
                flow_counts::table
                    .find(id.to_string())
                    .filter(flow_counts::version.eq(expected)),
            )
            .set((
                flow_counts::window_start.eq(count.window_start.naive_utc()),
                flow_counts::window_end.eq(count.window_end.naive_utc()),
                flow_counts::people.eq(count.people),
                flow_counts::vehicles.eq(count.vehicles),
                flow_counts::by_sex_age.eq(by_sex_age_text(&count.by_sex_age)?),
                flow_counts::version.eq(count.version),
                flow_counts::updated_at.eq(now),
            ))
            .execute(conn.conn())?;
            if updated == 0 {
                let current: i32 = flow_counts::table
                    .find(id.to_string())
                    .select(flow_counts::version)
                    .first(conn.conn())?;
                return Err(ApiError::PreconditionFailed {
                    current_version: current,
                });
            }
            diesel::insert_into(flow_count_corrections::table)
                .values((
                    flow_count_corrections::flow_count_id.eq(id.to_string()),
                    flow_count_corrections::version.eq(count.version),
                    flow_count_corrections::reason.eq(patch.reason.unwrap_or_default()),
                    flow_count_corrections::previous
                        .eq(serde_json::to_string(&previous).map_err(ApiError::internal)?),
                    flow_count_corrections::corrected_by.eq(caller.user_id.to_string()),
                    flow_count_corrections::corrected_at.eq(now),
                ))
                .execute(conn.conn())?;
            tracing::info!(flow_count_id = %id, version = count.version, "flow count corrected");
            conn.audit(
                Event::new("flow_count.update")
                    .resource("flow_count", id)
                    .center(count.center_id)
                    .version(count.version),
            );
            Ok(count)
        })
        .await?;
    Ok(respond_with(StatusCode::OK, &count))
}

/// A `flow_count_corrections` row as stored.
#[derive(Queryable, Selectable)]
#[diesel(table_name = flow_count_corrections)]
struct CorrectionRow {
    version: i32,
    reason: String,
    previous: String,
    corrected_by: String,
    corrected_at: NaiveDateTime,
}

/// The correction history of a count, oldest first.
pub fn corrections_of(conn: &mut DbConnection, id: Uuid) -> Result<Vec<Correction>, ApiError> {
    let rows: Vec<CorrectionRow> = flow_count_corrections::table
        .filter(flow_count_corrections::flow_count_id.eq(id.to_string()))
        .order(flow_count_corrections::version)
        .select(CorrectionRow::as_select())
        .load(conn)?;
    rows.into_iter()
        .map(|row| {
            Ok(Correction {
                version: row.version,
                reason: row.reason,
                previous: serde_json::from_str(&row.previous)
                    .map_err(|e| ApiError::internal(format!("malformed stored correction: {e}")))?,
                corrected_by: stored::id(&row.corrected_by)?,
                corrected_at: row.corrected_at.and_utc(),
            })
        })
        .collect()
}

/// `GET /api/v1/flow-counts/{id}/corrections`: how a count was corrected.
pub async fn corrections(
    caller: Caller,
    db: web::Data<Db>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let scope = caller.aggregate_read_scope();
    let id = id.into_inner();
    let items = db
        .read(move |conn| {
            let count = find(conn, id)?.ok_or_else(|| not_found(id))?;
            scope.require(count.center_id, "this flow count's center")?;
            corrections_of(conn, id)
        })
        .await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "items": items })))
}

/// The flows routes, under `/api/v1`.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/flow-counts").get(list).post(create))
        .service(resource("/flow-counts/{id}").get(get).patch(patch))
        .service(resource("/flow-counts/{id}/corrections").get(corrections));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn count(start: &str, end: &str, people: i32) -> NewFlowCount {
        NewFlowCount {
            id: None,
            center_id: Uuid::nil(),
            window_start: serde_json::from_value(start.into()).unwrap(),
            window_end: serde_json::from_value(end.into()).unwrap(),
            direction: Direction::In,
            people,
            vehicles: None,
            by_sex_age: None,
        }
    }

    fn fields(new: &NewFlowCount, now: DateTime<Utc>) -> Vec<String> {
        check(new, now).into_iter().map(|e| e.field).collect()
    }

    #[test]
    fn limits_are_inclusive() {
        let now = DateTime::parse_from_rfc3339("2023-10-01T12:00:00Z")
            .unwrap()
            .to_utc();
        let week = count("2023-09-24T12:05:00Z", "2023-10-01T12:05:00Z", 1);
        assert!(
            fields(&week, now).is_empty(),
            "7 days, ending now + 5 minutes"
        );
        let longer = count("2023-09-24T12:04:59Z", "2023-10-01T12:05:00Z", 1);
        assert_eq!(fields(&longer, now), ["window_end"]);
        let later = count("2023-10-01T12:00:00Z", "2023-10-01T12:05:00.000001Z", 1);
        assert_eq!(fields(&later, now), ["window_end"]);
        let first = count("1990-01-01T00:00:00Z", "1990-01-01T01:00:00Z", 1);
        assert!(fields(&first, now).is_empty());
        let earlier = count("1990-01-01T03:59:59+04:00", "1990-01-01T05:00:00+04:00", 1);
        assert_eq!(fields(&earlier, now), ["window_start"]);
    }

    #[test]
    fn the_breakdown_adds_up_with_each_pair_once() {
        let now = Utc::now();
        let entry = |sex, age_band, people| SexAgeCount {
            sex,
            age_band,
            people,
        };
        let mut new = count("2023-09-26T10:00:00Z", "2023-09-26T11:00:00Z", 3);
        new.by_sex_age = Some(vec![
            entry(Sex::Female, AgeBand::Under5, 1),
            entry(Sex::Male, AgeBand::Under5, 2),
        ]);
        assert!(fields(&new, now).is_empty());
        new.by_sex_age = Some(vec![
            entry(Sex::Female, AgeBand::Under5, 1),
            entry(Sex::Female, AgeBand::Under5, 2),
        ]);
        assert_eq!(fields(&new, now), ["by_sex_age[1]"]);
        new.by_sex_age = Some(vec![entry(Sex::Other, AgeBand::From60, i32::MAX); 3]);
        assert_eq!(
            fields(&new, now),
            ["by_sex_age[1]", "by_sex_age[2]", "by_sex_age"],
            "no overflow"
        );
        new.by_sex_age = Some(vec![]);
        assert_eq!(fields(&new, now), ["by_sex_age"]);
        new.people = 0;
        assert!(fields(&new, now).is_empty());
    }
}
