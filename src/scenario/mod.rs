//! A deterministic replay of the documented 2023 exodus from Nagorno-Karabakh
//! into Armenia: the plan as plain data (no database, no clock), and
//! [`replay`], which writes it through the domain code.
//!
//! [`plan`] turns the dated official figures (`data/nk-2023-observations.csv`,
//! sources in `data/SOURCES.md`) into a time-ordered list of [`Event`]s:
//! hourly counts of people and vehicles crossing at Kornidzor, one
//! registration per household at the reception centers, and the few later
//! corrections of a member's sex. Replayed in order, the events reproduce
//! every documented cumulative figure exactly at its timestamp (times scaled
//! by [`Options::scale`] and rounded, see [`checkpoints`]). Between the
//! figures the shape is modelled: a smooth trend through the checkpoints,
//! busier days than nights, the day-by-day series of the government's
//! briefings, realistic households.
//!
//! The same seed and scale always give the same plan, ids included, so a
//! replay that is interrupted and run again registers nothing twice.
//!
//! - [`nk2023`] holds the documented figures and builds the plan;
//! - `curve` makes cumulative series through the checkpoints;
//! - `households` composes households and what their registration records;
//! - `names` lists the curated Armenian names and places;
//! - [`replay`] writes a plan through the domain code and checks the result.

pub mod accommodation;
pub mod aid;
pub mod buses;
mod curve;
mod households;
mod names;
pub mod nk2023;
pub mod remote;
pub mod replay;

use chrono::{DateTime, FixedOffset, Utc};
use uuid::Uuid;

use crate::http::time::Timestamp;
use crate::registration::{NewHousehold, NewMember, Sex};

pub use nk2023::{centers, checkpoints, observations, plan, Checkpoint};

/// One dated official figure set, as documented (see `data/SOURCES.md`).
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
pub struct Observation {
    /// When the figures were true (local time, +04:00).
    pub observed_at: DateTime<FixedOffset>,
    /// People who had crossed into Armenia since 24 September.
    #[serde(rename = "crossed_cumulative")]
    pub crossed: Option<i64>,
    /// Vehicles that had crossed the Hakari bridge.
    #[serde(rename = "vehicles_cumulative")]
    pub vehicles: Option<i64>,
    /// People registered by the Migration and Citizenship Service.
    #[serde(rename = "registered_cumulative")]
    pub registered: Option<i64>,
    pub registered_male: Option<i64>,
    pub registered_female: Option<i64>,
    /// People in state-provided accommodation at that time.
    pub state_accommodation: Option<i64>,
    pub source: String,
    pub note: String,
}

/// How to build the plan.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Options {
    /// Multiplies every documented figure (rounded to whole people); 1.0 is
    /// the real size (about 100,000 people), 0.01 about 1,000. Must be
    /// finite and positive.
    pub scale: f64,
    /// Seeds names, household sizes, ids: a different seed gives different
    /// people but the same figures.
    pub seed: u64,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            scale: 1.0,
            seed: 2023,
        }
    }
}

/// A place where people crossed or registered, as documented.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CenterSpec {
    /// Stable code, a valid center code (e.g. `GORIS`).
    pub code: &'static str,
    pub name: &'static str,
    /// `border_crossing` or `registration_center`.
    pub kind: &'static str,
    /// ISO 3166-2 province code.
    pub province: &'static str,
    pub latitude: f64,
    pub longitude: f64,
}

/// One step of the replay.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// People (and vehicles) who crossed at the border crossing during [start, end).
    Flow {
        center: &'static str,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
        people: i32,
        vehicles: Option<i32>,
    },
    /// One household registered at `center`; `household.arrived_at` is the
    /// registration instant and every id is set, so a re-run is idempotent.
    Register {
        center: &'static str,
        household: PlannedHousehold,
    },
    /// A correction at `at`: member `member_id` of household `household_id`
    /// gets its sex recorded.
    SetSex {
        at: DateTime<Utc>,
        household_id: Uuid,
        member_id: Uuid,
        sex: Sex,
    },
    /// The state places household `household_id` at its site in `province`
    /// (see [`accommodation`]), moving it from the transit site if `moved`.
    Place {
        at: DateTime<Utc>,
        placement_id: Uuid,
        household_id: Uuid,
        province: &'static str,
        moved: bool,
    },
    /// The household of placement `placement_id` leaves state accommodation.
    Leave {
        at: DateTime<Utc>,
        placement_id: Uuid,
    },
    /// Stock of `item` (a code of [`aid::ITEMS`]) arrives at `center`.
    Receive {
        at: DateTime<Utc>,
        receipt_id: Uuid,
        center: &'static str,
        item: &'static str,
        quantity: i64,
        /// The supplying organization's code (see [`aid::ORGANIZATIONS`]).
        organization: &'static str,
    },
    /// A state bus leaves `center` for `province` (see [`buses`]).
    Trip {
        at: DateTime<Utc>,
        trip_id: Uuid,
        center: &'static str,
        province: &'static str,
        seats: i32,
    },
    /// A whole household boards trip `trip_id`.
    Board {
        at: DateTime<Utc>,
        boarding_id: Uuid,
        trip_id: Uuid,
        household_id: Uuid,
    },
    /// `quantity` of `item` is handed to a household at `center`.
    Distribute {
        at: DateTime<Utc>,
        distribution_id: Uuid,
        household_id: Uuid,
        center: &'static str,
        item: &'static str,
        quantity: i64,
        /// The handing-out organization's code (see [`aid::ORGANIZATIONS`]).
        organization: &'static str,
    },
}

/// The code of the state-provided accommodation site of a province.
pub fn state_site_code(province: &str) -> String {
    if province == accommodation::TRANSIT {
        format!("STATE-{province}-TRANSIT")
    } else {
        format!("STATE-{province}")
    }
}

/// The organization that runs the state-provided accommodation.
pub const STATE_ORGANIZATION: &str = "GOV-AM";

impl Event {
    /// The instant the event is ordered by: a flow's end, a registration's
    /// arrival, the time of anything else.
    pub fn at(&self) -> DateTime<Utc> {
        match self {
            Event::Flow { end, .. } => *end,
            Event::Register { household, .. } => household.arrived_at.with_timezone(&Utc),
            Event::SetSex { at, .. }
            | Event::Place { at, .. }
            | Event::Leave { at, .. }
            | Event::Receive { at, .. }
            | Event::Distribute { at, .. }
            | Event::Trip { at, .. }
            | Event::Board { at, .. } => *at,
        }
    }
}

/// A household registration, complete except for the center's id.
#[derive(Debug, Clone, PartialEq)]
pub struct PlannedHousehold {
    pub id: Uuid,
    /// Registration instant, local time (+04:00).
    pub arrived_at: DateTime<FixedOffset>,
    /// Settlement of origin, in Armenian script.
    pub origin_settlement: &'static str,
    /// ISO 3166-2 province the household intends to go to.
    pub intended_destination: Option<&'static str>,
    /// E.164 mobile number of the head.
    pub phone: Option<String>,
    /// Members, the head first; every member has its id set.
    pub members: Vec<NewMember>,
}

impl PlannedHousehold {
    /// The registration request for this household at the center `center_id`.
    pub fn to_new(&self, center_id: Uuid) -> NewHousehold {
        self.clone().into_new(center_id)
    }

    /// Like [`PlannedHousehold::to_new`], without copying the members.
    pub fn into_new(self, center_id: Uuid) -> NewHousehold {
        NewHousehold {
            id: Some(self.id),
            center_id,
            arrived_at: Timestamp::trusted(self.arrived_at),
            origin_settlement: self.origin_settlement.to_string(),
            intended_destination: self.intended_destination.map(str::to_string),
            phone: self.phone,
            members: self.members,
        }
    }
}

#[cfg(test)]
mod tests;
