//! `registrations.csv`: one row per registered person, with their
//! household's fields, households in order of arrival and members in their
//! order within the household. Person-level data: admins, and registrars of
//! the household's center only.
//!
//! Read in chunks of households (keyset-paged on `(arrived_at, id)`, which
//! `households_arrived` indexes), then their members and needs, so that the
//! report never holds more than one chunk whatever its size.

use std::collections::HashMap;
use std::io::Write;

use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;

use super::{column, Column, Csv, Request};
use crate::age_bands::AgeBand;
use crate::centers::Center;
use crate::db::DbConnection;
use crate::error::ApiError;
use crate::schema::{households, person_needs, persons};

pub const COLUMNS: &[Column] = &[
    column("household_id", "#respondee+hh+code"),
    column("center_code", "#loc+code"),
    column("center_name", "#loc+name"),
    column("province_code", "#adm1+code"),
    column("arrived_at", "#date+start"),
    column("origin_settlement", "#loc+origin+name"),
    column("intended_destination", "#adm1+dest+code"),
    column("phone", "#contact+phone"),
    column("household_size", "#respondee+hh+num"),
    column("person_id", "#respondee+ind+code"),
    column("position", "#meta+num"),
    column("given_name", "#respondee+ind+name"),
    column("family_name", "#respondee+hh+name"),
    column("patronymic", "#respondee+name"),
    column("name_latin", "#respondee+name+text"),
    column("sex", "#respondee+ind+type"),
    column("birth_date", "#date"),
    column("estimated_age", "#respondee+num"),
    column("age_band", "#beneficiary+code"),
    column("relationship", "#respondee+hh+type"),
    column("document_type", "#meta+type"),
    column("document_number", "#meta+id"),
    column("needs", "#need+code"),
    column("registered_at", "#date+reported"),
];

/// Households per chunk: about [`super::CHUNK_ROWS`] persons at the usual
/// household size of four.
const HOUSEHOLDS_PER_CHUNK: i64 = super::CHUNK_ROWS / 4;

type HouseholdRow = (
    String,
    String,
    NaiveDateTime,
    String,
    Option<String>,
    Option<String>,
    i32,
    NaiveDateTime,
);

type PersonRow = (
    String,
    String,
    i32,
    String,
    String,
    Option<String>,
    Option<String>,
    String,
    Option<NaiveDate>,
    Option<i32>,
    String,
    Option<String>,
    Option<String>,
);

/// One chunk: households, their members (by household and position) and
/// the members' needs.
struct Chunk {
    households: Vec<HouseholdRow>,
    members: Vec<PersonRow>,
    needs: Vec<(String, String)>,
}

pub fn write<W: Write>(
    conn: &mut DbConnection,
    request: &Request,
    out: &mut Csv<W>,
) -> Result<(), ApiError> {
    let centers = super::centers_by_id(conn)?;
    // The database reads the next chunk while this thread writes the last
    // one: on two cores that overlaps the two halves of the work.
    std::thread::scope(|scope| {
        let (chunks, received) = std::sync::mpsc::sync_channel::<Result<Chunk, ApiError>>(1);
        scope.spawn(move || {
            let mut after: Option<(NaiveDateTime, String)> = None;
            loop {
                let chunk = read_chunk(conn, request, after.as_ref());
                if let Ok(chunk) = &chunk {
                    let Some(last) = chunk.households.last() else {
                        return;
                    };
                    after = Some((last.2, last.0.clone()));
                }
                let failed = chunk.is_err();
                // A closed channel means the writer stopped (say, the client left).
                if chunks.send(chunk).is_err() || failed {
                    return;
                }
            }
        });
        for chunk in received {
            write_chunk(out, &centers, &chunk?)?;
        }
        Ok(())
    })
}

fn read_chunk(
    conn: &mut DbConnection,
    request: &Request,
    after: Option<&(NaiveDateTime, String)>,
) -> Result<Chunk, ApiError> {
    let households = next_households(conn, request, after)?;
    if households.is_empty() {
        return Ok(Chunk {
            households,
            members: Vec::new(),
            needs: Vec::new(),
        });
    }
    let ids: Vec<&str> = households.iter().map(|h| h.0.as_str()).collect();
    let members: Vec<PersonRow> = persons::table
        .filter(persons::household_id.eq_any(&ids))
        .order((persons::household_id.asc(), persons::position.asc()))
        .select((
            persons::id,
            persons::household_id,
            persons::position,
            persons::given_name,
            persons::family_name,
            persons::patronymic,
            persons::name_latin,
            persons::sex,
            persons::birth_date,
            persons::estimated_age,
            persons::relationship,
            persons::document_type,
            persons::document_number,
        ))
        .load(conn)?;
    let needs: Vec<(String, String)> = person_needs::table
        .inner_join(persons::table)
        .filter(persons::household_id.eq_any(&ids))
        .order((person_needs::person_id.asc(), person_needs::code.asc()))
        .select((person_needs::person_id, person_needs::code))
        .load(conn)?;
    Ok(Chunk {
        households,
        members,
        needs,
    })
}

fn write_chunk<W: Write>(
    out: &mut Csv<W>,
    centers: &HashMap<String, Center>,
    chunk: &Chunk,
) -> Result<(), ApiError> {
    let mut needs_of: HashMap<&str, Vec<&str>> = HashMap::new();
    for (person, code) in &chunk.needs {
        needs_of.entry(person).or_default().push(code);
    }
    let mut members_of: HashMap<&str, Vec<&PersonRow>> = HashMap::new();
    for member in &chunk.members {
        members_of.entry(&member.1).or_default().push(member);
    }
    for household in &chunk.households {
        out.touched_household(&household.0);
        let center = centers.get(&household.1);
        let arrival_date = household.2.date();
        for member in members_of.get(household.0.as_str()).into_iter().flatten() {
            out.text(&household.0);
            out.opt_text(center.map(|c| c.code.as_str()));
            out.opt_text(center.map(|c| c.name.as_str()));
            out.opt_text(center.map(|c| c.province.as_str()));
            out.instant(household.2);
            out.text(&household.3);
            out.opt_text(household.4.as_deref());
            out.opt_text(household.5.as_deref());
            out.int(i64::from(household.6));
            out.text(&member.0);
            out.int(i64::from(member.2));
            out.text(&member.3);
            out.text(&member.4);
            out.opt_text(member.5.as_deref());
            out.opt_text(member.6.as_deref());
            out.text(&member.7);
            match member.8 {
                Some(date) => out.date(date),
                None => out.empty(),
            }
            out.opt_int(member.9.map(i64::from));
            out.text(AgeBand::of_person(member.8, member.9, arrival_date).label());
            out.text(&member.10);
            out.opt_text(member.11.as_deref());
            out.opt_text(member.12.as_deref());
            match needs_of.get(member.0.as_str()) {
                Some(codes) => out.text(&codes.join(";")),
                None => out.empty(),
            }
            out.instant(household.7);
            out.end_row()?;
        }
    }
    Ok(())
}

/// The next chunk of households in arrival order, after `after`.
fn next_households(
    conn: &mut DbConnection,
    request: &Request,
    after: Option<&(NaiveDateTime, String)>,
) -> Result<Vec<HouseholdRow>, ApiError> {
    let mut query = households::table
        .select((
            households::id,
            households::center_id,
            households::arrived_at,
            households::origin_settlement,
            households::intended_destination,
            households::phone,
            households::size,
            households::created_at,
        ))
        .order((households::arrived_at.asc(), households::id.asc()))
        .limit(HOUSEHOLDS_PER_CHUNK)
        .into_boxed();
    in_window!(
        query,
        request,
        after,
        center: households::center_id,
        time: households::arrived_at,
        id: households::id,
    );
    Ok(query.load(conn)?)
}
