//! Transport: free bus trips from a center (Goris, say) to anywhere in the
//! country, and the persons who boarded them.
//!
//! Seats are held by the database the way beds are in [`crate::housing`]: a
//! boarding takes its seats with one conditional UPDATE of the trip row
//! (`seats_taken + n <= seats`) inside the boarding transaction. On
//! PostgreSQL a concurrent boarding of the same trip waits for that row and
//! re-checks the condition, so no interleaving of requests, from any number of
//! server processes, can overfill a bus; on SQLite writes are serialized. A
//! CHECK constraint on the table backs it up. `seats_taken` always equals the
//! trip's rows in `boardings` ([`verify`] checks exactly that).
//!
//! A boarding is one request: some or all members of one household getting
//! on one trip. It is stored as one `boardings` row per person (so that a
//! person can never hold two seats on a trip: `UNIQUE (trip_id, person_id)`),
//! and the rows of one request share a `group_id`, which is the boarding's id
//! in the API. Rows are never edited.

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::auth::Caller;
use crate::centers;
use crate::db::audit::Event;
use crate::db::{self, Db, DbConnection, Unit};
use crate::error::{ApiError, FieldError};
use crate::extract::{JsonBody, Query};
use crate::http::idempotent::{self, ClientId, Created};
use crate::http::paging::{Cursor, PageQuery};
use crate::http::routes::resource;
use crate::http::stored;
use crate::http::time::{self, Timestamp};
use crate::organizations;
use crate::provinces::Provinces;
use crate::registration;
use crate::schema::{boardings, persons, trips};
use crate::stats::Sector;

/// Most seats a trip may have (a large coach has some 60; this leaves room
/// for a train while catching a mistyped number).
pub const MAX_SEATS: i32 = 1000;

/// A trip as the API returns it.
#[derive(Debug, Clone, Serialize)]
pub struct Trip {
    pub id: Uuid,
    /// The departure center.
    pub center_id: Uuid,
    pub destination_province: String,
    pub destination_settlement: Option<String>,
    pub departs_at: DateTime<Utc>,
    /// Plate or bus number.
    pub vehicle: String,
    pub seats: i32,
    pub seats_taken: i32,
    pub seats_free: i32,
    /// Who provides the transport.
    pub organization_id: Uuid,
    pub created_by: Uuid,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = trips)]
struct TripRow {
    id: String,
    center_id: String,
    destination_province: String,
    destination_settlement: Option<String>,
    departs_at: NaiveDateTime,
    vehicle: String,
    seats: i32,
    seats_taken: i32,
    organization_id: String,
    created_by: String,
    created_at: NaiveDateTime,
    updated_at: NaiveDateTime,
}

impl TryFrom<TripRow> for Trip {
    type Error = ApiError;

    fn try_from(row: TripRow) -> Result<Trip, ApiError> {
        Ok(Trip {
            id: stored::id(&row.id)?,
            center_id: stored::id(&row.center_id)?,
            destination_province: row.destination_province,
            destination_settlement: row.destination_settlement,
            departs_at: row.departs_at.and_utc(),
            vehicle: row.vehicle,
            seats: row.seats,
            seats_taken: row.seats_taken,
            seats_free: row.seats - row.seats_taken,
            organization_id: stored::id(&row.organization_id)?,
            created_by: stored::id(&row.created_by)?,
            created_at: row.created_at.and_utc(),
            updated_at: row.updated_at.and_utc(),
        })
    }
}

/// `POST /api/v1/trips` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewTrip {
    /// Client-chosen id: makes retries safe without an `Idempotency-Key`.
    #[serde(default)]
    pub id: Option<Uuid>,
    pub center_id: Uuid,
    pub destination_province: String,
    #[serde(default)]
    pub destination_settlement: Option<String>,
    pub departs_at: Timestamp,
    pub vehicle: String,
    pub seats: i32,
    pub organization_id: Uuid,
}

fn not_blank_within(text: &str, max: usize) -> bool {
    !text.trim().is_empty() && text.chars().count() <= max
}

/// The rules a trip's own fields must follow (no database needed).
fn check_trip(new: &NewTrip, provinces: &Provinces) -> Vec<FieldError> {
    let mut errors = Vec::new();
    if !provinces.contains(&new.destination_province) {
        errors.push(FieldError::new(
            "destination_province",
            "unknown",
            provinces.expected(),
        ));
    }
    if new
        .destination_settlement
        .as_deref()
        .is_some_and(|s| !not_blank_within(s, 200))
    {
        errors.push(FieldError::new(
            "destination_settlement",
            "length",
            "1 to 200 characters, not only spaces",
        ));
    }
    if !not_blank_within(&new.vehicle, 64) {
        errors.push(FieldError::new(
            "vehicle",
            "length",
            "the plate or bus number: 1 to 64 characters, not only spaces",
        ));
    }
    if !(1..=MAX_SEATS).contains(&new.seats) {
        errors.push(FieldError::new(
            "seats",
            "range",
            format!("must be between 1 and {MAX_SEATS}"),
        ));
    }
    errors
}

/// Loads a trip by id.
pub fn find_trip(conn: &mut DbConnection, id: Uuid) -> Result<Option<Trip>, ApiError> {
    trips::table
        .find(id.to_string())
        .select(TripRow::as_select())
        .first(conn)
        .optional()?
        .map(Trip::try_from)
        .transpose()
}

fn trip_not_found(id: Uuid) -> ApiError {
    ApiError::NotFound(format!("no trip with id {id}"))
}

/// Creates a trip, in the caller's transaction.
pub fn create_trip(
    conn: &mut DbConnection,
    new: NewTrip,
    created_by: Uuid,
    provinces: &Provinces,
) -> Result<Trip, ApiError> {
    let errors = check_trip(&new, provinces);
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    if centers::find(conn, new.center_id)?.is_none() {
        return Err(ApiError::invalid(
            "center_id",
            "unknown",
            format!("no center with id {}", new.center_id),
        ));
    }
    organizations::require(conn, new.organization_id, "organization_id")?;
    let id = new.id.unwrap_or_else(Uuid::now_v7);
    let now = time::now();
    diesel::insert_into(trips::table)
        .values((
            trips::id.eq(id.to_string()),
            trips::center_id.eq(new.center_id.to_string()),
            trips::destination_province.eq(&new.destination_province),
            trips::destination_settlement.eq(&new.destination_settlement),
            trips::departs_at.eq(new.departs_at.stored()),
            trips::vehicle.eq(&new.vehicle),
            trips::seats.eq(new.seats),
            trips::seats_taken.eq(0),
            trips::organization_id.eq(new.organization_id.to_string()),
            trips::created_by.eq(created_by.to_string()),
            trips::created_at.eq(now),
            trips::updated_at.eq(now),
        ))
        .execute(conn)?;
    find_trip(conn, id)?.ok_or_else(|| ApiError::internal("trip vanished after insert"))
}

/// `POST /api/v1/trips/{id}/boardings` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewBoarding {
    /// Client-chosen id of the boarding: makes retries safe without an
    /// `Idempotency-Key`.
    #[serde(default)]
    pub id: Option<Uuid>,
    pub household_id: Uuid,
    /// The members who board; default (absent or null): the whole household.
    #[serde(default)]
    pub person_ids: Option<Vec<Uuid>>,
}

/// A boarding: persons of one household on one trip, recorded by one request.
#[derive(Debug, Clone, Serialize)]
pub struct Boarding {
    pub id: Uuid,
    pub trip_id: Uuid,
    pub household_id: Uuid,
    /// The persons who boarded, in the household's member order.
    pub persons: Vec<Uuid>,
    /// Seats taken: one per person.
    pub seats: i32,
    pub boarded_at: DateTime<Utc>,
}

/// Takes `seats` on `trip` if they are free; false if the trip is too full.
fn take_seats(conn: &mut DbConnection, trip: Uuid, seats: i32) -> Result<bool, ApiError> {
    crate::db::lock_counters(conn)?;
    let updated = diesel::update(
        trips::table
            .find(trip.to_string())
            .filter((trips::seats_taken + seats).le(trips::seats)),
    )
    .set((
        trips::seats_taken.eq(trips::seats_taken + seats),
        trips::updated_at.eq(time::now()),
    ))
    .execute(conn)?;
    Ok(updated == 1)
}

fn already_boarded(persons: &[String]) -> ApiError {
    ApiError::Conflict {
        code: "already-boarded",
        detail: format!(
            "already on this trip: person {}; a person takes one seat per trip",
            persons.join(", ")
        ),
    }
}

/// The members of `household` that `listed` names (all of them when None),
/// in member order; 422 naming `person_ids[i]` for an id that is not a
/// member or is listed twice.
fn boarding_persons(
    household: &registration::Household,
    listed: Option<Vec<Uuid>>,
) -> Result<Vec<Uuid>, ApiError> {
    let members: Vec<Uuid> = household.members.iter().map(|m| m.id).collect();
    let Some(listed) = listed else {
        return Ok(members);
    };
    if listed.is_empty() {
        return Err(ApiError::invalid(
            "person_ids",
            "empty",
            "list at least one member, or leave person_ids out to board the whole household",
        ));
    }
    let mut errors = Vec::new();
    for (i, id) in listed.iter().enumerate() {
        if !members.contains(id) {
            errors.push(FieldError::new(
                format!("person_ids[{i}]"),
                "not_member",
                "no member with this id in this household",
            ));
        } else if listed[..i].contains(id) {
            errors.push(FieldError::new(
                format!("person_ids[{i}]"),
                "duplicate",
                "this person is already listed",
            ));
        }
    }
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    Ok(members.into_iter().filter(|m| listed.contains(m)).collect())
}

/// Boards persons of a household onto a trip, in the caller's transaction.
/// `authorize` sees the trip before anything else is read or written.
pub fn board(
    unit: &mut Unit<'_>,
    trip_id: Uuid,
    new: NewBoarding,
    recorded_by: Uuid,
    authorize: impl FnOnce(&Trip) -> Result<(), ApiError>,
) -> Result<Boarding, ApiError> {
    let conn = unit.conn();
    let trip = find_trip(conn, trip_id)?.ok_or_else(|| trip_not_found(trip_id))?;
    authorize(&trip)?;
    let household = registration::find(conn, new.household_id)?.ok_or_else(|| {
        ApiError::invalid(
            "household_id",
            "unknown",
            format!("no household with id {}", new.household_id),
        )
    })?;
    let persons = boarding_persons(&household, new.person_ids)?;
    let person_ids: Vec<String> = persons.iter().map(Uuid::to_string).collect();
    let on_board: Vec<String> = boardings::table
        .filter(boardings::trip_id.eq(trip.id.to_string()))
        .filter(boardings::person_id.eq_any(&person_ids))
        .select(boardings::person_id)
        .load(conn)?;
    if !on_board.is_empty() {
        return Err(already_boarded(&on_board));
    }
    let seats = persons.len() as i32;
    if !take_seats(conn, trip.id, seats)? {
        let free = find_trip(conn, trip.id)?.map_or(0, |t| t.seats_free);
        return Err(ApiError::Conflict {
            code: "trip-full",
            detail: format!("the boarding needs {seats} seats; the trip has {free} free"),
        });
    }
    let id = new.id.unwrap_or_else(Uuid::now_v7);
    let now = time::now();
    for person in &person_ids {
        // A concurrent request that boarded the same person committed after
        // the check above: the unique (trip, person) key catches it, and this
        // whole transaction, seats included, rolls back.
        diesel::insert_into(boardings::table)
            .values((
                boardings::id.eq(Uuid::now_v7().to_string()),
                boardings::group_id.eq(id.to_string()),
                boardings::trip_id.eq(trip.id.to_string()),
                boardings::household_id.eq(household.id.to_string()),
                boardings::person_id.eq(person),
                boardings::boarded_at.eq(now),
                boardings::recorded_by.eq(recorded_by.to_string()),
                boardings::created_at.eq(now),
            ))
            .execute(conn)
            .map_err(db::unique_violation(|| {
                already_boarded(std::slice::from_ref(person))
            }))?;
    }
    registration::record_reach(
        unit,
        household.id,
        &household.reached,
        Sector::Transport,
        trip.departs_at.naive_utc(),
    )?;
    Ok(Boarding {
        id,
        trip_id: trip.id,
        household_id: household.id,
        persons,
        seats,
        boarded_at: now.and_utc(),
    })
}

/// A person on a trip's manifest.
#[derive(Debug, Clone, Serialize)]
pub struct Passenger {
    pub person_id: Uuid,
    pub household_id: Uuid,
    pub given_name: String,
    pub family_name: String,
    pub name_latin: Option<String>,
    pub sex: String,
    pub boarded_at: DateTime<Utc>,
}

/// A trip with everyone on board.
#[derive(Debug, Clone, Serialize)]
pub struct Manifest {
    #[serde(flatten)]
    pub trip: Trip,
    /// By household, then member order.
    pub passengers: Vec<Passenger>,
}

type PassengerRow = (
    String,
    String,
    String,
    String,
    Option<String>,
    String,
    NaiveDateTime,
);

/// A trip's passengers, by household then member position.
pub fn passengers(conn: &mut DbConnection, trip_id: Uuid) -> Result<Vec<Passenger>, ApiError> {
    let rows: Vec<PassengerRow> = boardings::table
        .inner_join(persons::table)
        .filter(boardings::trip_id.eq(trip_id.to_string()))
        .order((boardings::household_id, persons::position))
        .select((
            boardings::person_id,
            boardings::household_id,
            persons::given_name,
            persons::family_name,
            persons::name_latin,
            persons::sex,
            boardings::boarded_at,
        ))
        .load(conn)?;
    rows.into_iter()
        .map(
            |(person, household, given_name, family_name, name_latin, sex, boarded_at)| {
                Ok(Passenger {
                    person_id: stored::id(&person)?,
                    household_id: stored::id(&household)?,
                    given_name,
                    family_name,
                    name_latin,
                    sex,
                    boarded_at: boarded_at.and_utc(),
                })
            },
        )
        .collect()
}

/// A trip some members of a household took, for the household's assistance listing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HouseholdTrip {
    pub trip_id: Uuid,
    pub destination_province: String,
    pub destination_settlement: Option<String>,
    pub departs_at: DateTime<Utc>,
    /// The household's members on the trip, in member order.
    pub persons: Vec<Uuid>,
}

/// The trips a household's members boarded, by departure.
pub fn boardings_of(
    conn: &mut DbConnection,
    household_id: Uuid,
) -> Result<Vec<HouseholdTrip>, ApiError> {
    let rows: Vec<(String, String, Option<String>, NaiveDateTime, String)> = boardings::table
        .inner_join(trips::table)
        .inner_join(persons::table)
        .filter(boardings::household_id.eq(household_id.to_string()))
        .order((trips::departs_at, trips::id, persons::position))
        .select((
            trips::id,
            trips::destination_province,
            trips::destination_settlement,
            trips::departs_at,
            boardings::person_id,
        ))
        .load(conn)?;
    let mut out: Vec<HouseholdTrip> = Vec::new();
    for (trip, province, settlement, departs_at, person) in rows {
        let trip = stored::id(&trip)?;
        let person = stored::id(&person)?;
        match out.last_mut() {
            Some(last) if last.trip_id == trip => last.persons.push(person),
            _ => out.push(HouseholdTrip {
                trip_id: trip,
                destination_province: province,
                destination_settlement: settlement,
                departs_at: departs_at.and_utc(),
                persons: vec![person],
            }),
        }
    }
    Ok(out)
}

/// Trips whose `seats_taken` differs from their rows in `boardings`:
/// (trip, stored, counted). Empty when the invariant holds.
pub fn verify(conn: &mut DbConnection) -> Result<Vec<(Uuid, i32, i64)>, ApiError> {
    let counted: Vec<(String, i64)> = boardings::table
        .group_by(boardings::trip_id)
        .select((boardings::trip_id, diesel::dsl::count_star()))
        .load(conn)?;
    let counted: std::collections::BTreeMap<String, i64> = counted.into_iter().collect();
    let stored: Vec<(String, i32)> = trips::table
        .select((trips::id, trips::seats_taken))
        .load(conn)?;
    let mut out = Vec::new();
    for (trip, taken) in stored {
        let count = counted.get(&trip).copied().unwrap_or(0);
        if i64::from(taken) != count {
            out.push((stored::id(&trip)?, taken, count));
        }
    }
    Ok(out)
}

// ---------------------------------------------------------------- HTTP

fn trip_location(id: Uuid) -> String {
    format!("/api/v1/trips/{id}")
}

/// `GET /api/v1/trips` query.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TripsQuery {
    center_id: Option<Uuid>,
    /// Departing at or after this instant.
    from: Option<Timestamp>,
    /// Departing before this instant.
    to: Option<Timestamp>,
    limit: Option<i64>,
    cursor: Option<String>,
}

/// `GET /api/v1/trips`: trips by departure, filtered, a page at a time.
/// Trips are not personal data: any role may list them.
pub async fn list_trips(
    _caller: Caller,
    db: web::Data<Db>,
    query: Query<TripsQuery>,
) -> Result<HttpResponse, ApiError> {
    let query = query.0;
    let paging = PageQuery::new(query.limit, query.cursor.as_deref())?;
    let page = db
        .read(move |conn| {
            let mut q = trips::table.select(TripRow::as_select()).into_boxed();
            if let Some(center) = query.center_id {
                q = q.filter(trips::center_id.eq(center.to_string()));
            }
            if let Some(from) = query.from {
                q = q.filter(trips::departs_at.ge(from.naive_utc()));
            }
            if let Some(to) = query.to {
                q = q.filter(trips::departs_at.lt(to.naive_utc()));
            }
            if let Some(Cursor { at, id }) = paging.after.clone() {
                q = q.filter(
                    trips::departs_at
                        .gt(at)
                        .or(trips::departs_at.eq(at).and(trips::id.gt(id))),
                );
            }
            let rows: Vec<TripRow> = q
                .order((trips::departs_at, trips::id))
                .limit(paging.rows_to_load())
                .load(conn)?;
            paging.page(
                rows,
                |r| Cursor::encode(r.departs_at, &r.id),
                |rows| rows.into_iter().map(Trip::try_from).collect(),
            )
        })
        .await?;
    Ok(HttpResponse::Ok().json(page))
}

/// `POST /api/v1/trips`: admins anywhere; registrars and aid workers at the
/// departure center.
pub async fn create_trip_handler(
    req: HttpRequest,
    caller: Caller,
    db: web::Data<Db>,
    provinces: web::Data<Provinces>,
    body: JsonBody<NewTrip>,
) -> Result<HttpResponse, ApiError> {
    let new = body.value;
    caller.require_aid(new.center_id)?;
    let user_id = caller.user_id;
    let provinces = provinces.into_inner();
    let client_id = ClientId::of("trip", new.id);
    idempotent::create(&db, &req, &caller, &body.document, client_id, move |conn| {
        let trip = create_trip(conn, new, user_id, &provinces)?;
        conn.audit(
            Event::new("trip.create")
                .resource("trip", trip.id)
                .center(trip.center_id),
        );
        let location = trip_location(trip.id);
        Ok(Created::new(trip, location))
    })
    .await
}

/// `GET /api/v1/trips/{id}`: any role.
pub async fn get_trip(
    _caller: Caller,
    db: web::Data<Db>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let trip = db
        .read(move |conn| find_trip(conn, id))
        .await?
        .ok_or_else(|| trip_not_found(id))?;
    Ok(HttpResponse::Ok()
        .insert_header((header::LOCATION, trip_location(trip.id)))
        .json(trip))
}

/// `POST /api/v1/trips/{id}/boardings`: admins anywhere; registrars and aid
/// workers at the trip's departure center.
pub async fn board_handler(
    req: HttpRequest,
    caller: Caller,
    db: web::Data<Db>,
    trip: web::Path<Uuid>,
    body: JsonBody<NewBoarding>,
) -> Result<HttpResponse, ApiError> {
    let trip = trip.into_inner();
    let new = body.value;
    let user_id = caller.user_id;
    let client_id = ClientId::of("boarding", new.id);
    let guard = caller.clone();
    idempotent::create(&db, &req, &guard, &body.document, client_id, move |conn| {
        let boarding = board(conn, trip, new, user_id, |trip| {
            caller.require_aid(trip.center_id)
        })?;
        conn.audit(
            Event::new("trip.boarding")
                .resource("boarding", boarding.id)
                .persons(boarding.persons.iter().copied()),
        );
        // A boarding has no page of its own: its persons are on the manifest.
        let location = format!("{}/manifest", trip_location(boarding.trip_id));
        Ok(Created::new(boarding, location))
    })
    .await
}

/// `GET /api/v1/trips/{id}/manifest`: the trip and everyone on board, by
/// name, so person-level: admins and auditors, and registrars and aid
/// workers at the departure center.
pub async fn manifest(
    caller: Caller,
    db: web::Data<Db>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let scope = caller.person_read_scope()?;
    let id = id.into_inner();
    let manifest = db
        .read(move |conn| {
            let trip = find_trip(conn, id)?.ok_or_else(|| trip_not_found(id))?;
            scope.require(trip.center_id, "this trip's departure center")?;
            let passengers = passengers(conn, id)?;
            Ok(Manifest { trip, passengers })
        })
        .await?;
    db.record(
        &caller.actor(),
        vec![Event::new("trip.manifest_read")
            .resource("trip", manifest.trip.id)
            .center(manifest.trip.center_id)
            .persons(manifest.passengers.iter().map(|p| p.person_id))],
    )
    .await?;
    Ok(HttpResponse::Ok().json(manifest))
}

/// The transport routes, under `/api/v1`.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/trips").get(list_trips).post(create_trip_handler))
        .service(resource("/trips/{id}").get(get_trip))
        .service(resource("/trips/{id}/boardings").post(board_handler))
        .service(resource("/trips/{id}/manifest").get(manifest));
}
