//! `transport.csv`: trips and their manifests, one row per person on board
//! with the trip's columns repeated, trips by departure and each trip's
//! passengers by household then member order; a trip nobody boarded has one
//! row with the boarding columns empty.
//!
//! Columns (HXL): `trip_id` (`#meta+id`), `departure_center_code`
//! (`#loc+code+origin`), `departure_center_name` (`#loc+name+origin`),
//! `departs_at` (`#date+start`, UTC), `vehicle` (`#meta+code`), `seats`
//! (`#capacity+num`), `seats_taken` (`#capacity+num+used`),
//! `organization_code` (`#org+code`), `organization_name` (`#org+name`),
//! `destination_province` (`#adm1+code+dest`), `destination_settlement`
//! (`#adm3+name+dest`), `household_id` (`#respondee+hh+code`), `person_id`
//! (`#respondee+ind+code`) and `boarded_at` (`#date+reported`: when the
//! boarding was recorded, UTC).
//!
//! No names: person ids only (names are in `registrations.csv`, for those
//! allowed to see them). Still person-level, so access is as trip
//! manifests: admins and auditors everywhere, registrars and aid workers for
//! trips leaving their centers, never analysts. `from`/`to` apply to
//! `departs_at`, `center_id` to the departure center.
//!
//! Trips are read in keyset-paged chunks on `(departs_at, id)` (index
//! `trips_departs`), then the chunk's boardings.

use std::collections::HashMap;
use std::io::Write;

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::{column, Column, Csv, Keyset, Request};
use crate::centers::Center;
use crate::db::DbConnection;
use crate::error::ApiError;
use crate::schema::{boardings, organizations, persons, trips};

pub const COLUMNS: &[Column] = &[
    column("trip_id", "#meta+id"),
    column("departure_center_code", "#loc+code+origin"),
    column("departure_center_name", "#loc+name+origin"),
    column("departs_at", "#date+start"),
    column("vehicle", "#meta+code"),
    column("seats", "#capacity+num"),
    column("seats_taken", "#capacity+num+used"),
    column("organization_code", "#org+code"),
    column("organization_name", "#org+name"),
    column("destination_province", "#adm1+code+dest"),
    column("destination_settlement", "#adm3+name+dest"),
    column("household_id", "#respondee+hh+code"),
    column("person_id", "#respondee+ind+code"),
    column("boarded_at", "#date+reported"),
];

/// Trips per chunk: about [`super::CHUNK_ROWS`] passengers at some fifty
/// seats a bus.
const TRIPS_PER_CHUNK: i64 = super::CHUNK_ROWS / 50;

/// id, center, departs_at, vehicle, seats, seats taken, organization code
/// and name, destination province and settlement.
type TripRow = (
    String,
    String,
    NaiveDateTime,
    String,
    i32,
    i32,
    String,
    String,
    String,
    Option<String>,
);

/// trip, household, person, boarded_at.
type BoardingRow = (String, String, String, NaiveDateTime);

pub fn write<W: Write>(
    conn: &mut DbConnection,
    request: &Request,
    out: &mut Csv<W>,
) -> Result<(), ApiError> {
    let centers = super::centers_by_id(conn)?;
    let mut after: Option<Keyset> = None;
    loop {
        let chunk = next_trips(conn, request, after.as_ref())?;
        let Some(last) = chunk.last() else {
            return Ok(());
        };
        after = Some((last.2, last.0.clone()));
        let ids: Vec<&str> = chunk.iter().map(|t| t.0.as_str()).collect();
        let on_board: Vec<BoardingRow> = boardings::table
            .inner_join(persons::table)
            .filter(boardings::trip_id.eq_any(&ids))
            .order((
                boardings::trip_id.asc(),
                boardings::household_id.asc(),
                persons::position.asc(),
            ))
            .select((
                boardings::trip_id,
                boardings::household_id,
                boardings::person_id,
                boardings::boarded_at,
            ))
            .load(conn)?;
        let mut passengers: HashMap<&str, Vec<&BoardingRow>> = HashMap::new();
        for boarding in &on_board {
            passengers.entry(&boarding.0).or_default().push(boarding);
        }
        for trip in &chunk {
            match passengers.get(trip.0.as_str()) {
                Some(list) => {
                    for (_, household, person, boarded_at) in list {
                        out.touched_person(person);
                        trip_columns(out, &centers, trip);
                        out.text(household);
                        out.text(person);
                        out.instant(*boarded_at);
                        out.end_row()?;
                    }
                }
                None => {
                    trip_columns(out, &centers, trip);
                    out.empty();
                    out.empty();
                    out.empty();
                    out.end_row()?;
                }
            }
        }
    }
}

fn trip_columns<W: Write>(out: &mut Csv<W>, centers: &HashMap<String, Center>, trip: &TripRow) {
    let center = centers.get(&trip.1);
    out.text(&trip.0);
    out.opt_text(center.map(|c| c.code.as_str()));
    out.opt_text(center.map(|c| c.name.as_str()));
    out.instant(trip.2);
    out.text(&trip.3);
    out.int(i64::from(trip.4));
    out.int(i64::from(trip.5));
    out.text(&trip.6);
    out.text(&trip.7);
    out.text(&trip.8);
    out.opt_text(trip.9.as_deref());
}

/// The next chunk of trips in the period and scope, by departure.
fn next_trips(
    conn: &mut DbConnection,
    request: &Request,
    after: Option<&Keyset>,
) -> Result<Vec<TripRow>, ApiError> {
    let mut query = trips::table
        .inner_join(organizations::table)
        .select((
            trips::id,
            trips::center_id,
            trips::departs_at,
            trips::vehicle,
            trips::seats,
            trips::seats_taken,
            organizations::code,
            organizations::name,
            trips::destination_province,
            trips::destination_settlement,
        ))
        .order((trips::departs_at.asc(), trips::id.asc()))
        .limit(TRIPS_PER_CHUNK)
        .into_boxed();
    in_window!(
        query,
        request,
        after,
        center: trips::center_id,
        time: trips::departs_at,
        id: trips::id,
    );
    Ok(query.load(conn)?)
}
