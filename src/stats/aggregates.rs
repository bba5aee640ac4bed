//! What a registration contributes to the arrival statistics.
//!
//! Every registration and correction records the change it makes on its
//! write's [`Unit`](crate::db::Unit) (see `registration`), so the aggregate
//! tables (stored by [`crate::db::aggregates`]) commit with the records they
//! count. This module decides what is counted: per center, UTC hour of
//! arrival and dimension (sex × age band, origin, destination, household
//! size, specific need), and per center and hour when each kind of
//! assistance first reached a household (what coverage counts).

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use uuid::Uuid;

use crate::age_bands::AgeBand;
use crate::db::aggregates::{dimension, Count, Delta, Key};
use crate::http::time;

/// The sexes the statistics count, as registration stores them.
pub(super) const SEXES: [&str; 4] = ["female", "male", "other", "unknown"];

/// The kinds of assistance whose reach the coverage statistics count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sector {
    Housing,
    Food,
    Fuel,
    Transport,
}

impl Sector {
    /// Every sector, in the order of [`Arrival::reached`].
    pub const ALL: [Sector; 4] = [
        Sector::Housing,
        Sector::Food,
        Sector::Fuel,
        Sector::Transport,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Sector::Housing => "housing",
            Sector::Food => "food",
            Sector::Fuel => "fuel",
            Sector::Transport => "transport",
        }
    }

    /// The sector of a distributed item (`items.sector`), if coverage counts it.
    pub fn of_item(sector: &str) -> Option<Sector> {
        match sector {
            "food" => Some(Sector::Food),
            "fuel" => Some(Sector::Fuel),
            _ => None,
        }
    }

    /// Position in [`Sector::ALL`] and in [`Arrival::reached`].
    pub fn index(self) -> usize {
        self as usize
    }
}

/// When each kind of assistance first reached a household (in the order of
/// [`Sector::ALL`]): the earliest check-in, food or fuel distribution, or
/// departure of a trip it boarded.
pub type Reached = [Option<NaiveDateTime>; 4];

/// A household as the arrival statistics count it: where and when it
/// arrived, and who.
#[derive(Debug, Clone)]
pub struct Arrival<'a> {
    pub center_id: Uuid,
    pub arrived_at: DateTime<Utc>,
    pub origin_settlement: &'a str,
    pub intended_destination: Option<&'a str>,
    pub persons: Vec<Arriving<'a>>,
    pub reached: Reached,
}

/// One person of an [`Arrival`].
#[derive(Debug, Clone)]
pub struct Arriving<'a> {
    /// One of [`SEXES`]; anything else counts as unknown.
    pub sex: &'a str,
    pub birth_date: Option<NaiveDate>,
    pub estimated_age: Option<i32>,
    pub needs: &'a [String],
}

/// What one household adds to the aggregates (nothing, if it has no one
/// left to count).
pub fn contributions(arrival: &Arrival<'_>) -> BTreeMap<Key, Count> {
    let mut out: BTreeMap<Key, Count> = BTreeMap::new();
    if arrival.persons.is_empty() {
        // A household whose every member was merged into another record:
        // counted where they were registered first.
        return out;
    }
    let bucket = time::hour_of(arrival.arrived_at.naive_utc());
    let center = arrival.center_id;
    let mut add = |dimension: &'static str, value: String, persons: i64, households: i64| {
        let count = out.entry((center, bucket, dimension, value)).or_default();
        count.persons += persons;
        count.households += households;
    };
    let size = arrival.persons.len() as i64;
    let arrival_date = arrival.arrived_at.date_naive();
    for person in &arrival.persons {
        let band = AgeBand::of_person(person.birth_date, person.estimated_age, arrival_date);
        let sex = SEXES
            .into_iter()
            .find(|s| *s == person.sex)
            .unwrap_or("unknown");
        add(dimension::SEX_AGE, format!("{sex}|{}", band.label()), 1, 0);
        for need in person.needs {
            add(dimension::NEED, need.clone(), 1, 0);
        }
    }
    add(
        dimension::ORIGIN,
        arrival.origin_settlement.to_string(),
        size,
        1,
    );
    add(
        dimension::DESTINATION,
        arrival.intended_destination.unwrap_or_default().to_string(),
        size,
        1,
    );
    add(dimension::SIZE, size.to_string(), size, 1);
    let arrived = arrival.arrived_at.naive_utc();
    for (sector, first) in Sector::ALL.into_iter().zip(arrival.reached) {
        if let Some(first) = first {
            let count = out
                .entry(reached_key(center, arrived, sector, first))
                .or_default();
            count.persons += size;
            count.households += 1;
        }
    }
    out
}

/// Where a household reached by `sector` at `first` is counted: reached
/// once registered, so in the later of that hour and its arrival's.
fn reached_key(center: Uuid, arrived: NaiveDateTime, sector: Sector, first: NaiveDateTime) -> Key {
    (
        center,
        time::hour_of(first.max(arrived)),
        dimension::REACHED,
        sector.as_str().to_string(),
    )
}

/// The change to the aggregates when `sector` first reaches a household
/// at `now` rather than at `before`: the household (`persons` counted, at
/// `center`, arrived at `arrived`) moves to the hour of `now`. Nothing for a
/// household no longer counted (`persons` 0: all merged elsewhere).
pub fn reach_change(
    center: Uuid,
    arrived: NaiveDateTime,
    persons: i64,
    sector: Sector,
    before: Option<NaiveDateTime>,
    now: NaiveDateTime,
) -> Delta {
    let mut delta = Delta::default();
    if persons == 0 {
        return delta;
    }
    let count = Count {
        persons,
        households: 1,
    };
    delta.add(reached_key(center, arrived, sector, now), count, 1);
    if let Some(before) = before {
        delta.add(reached_key(center, arrived, sector, before), count, -1);
    }
    delta
}

/// The change a write makes to the aggregates: a registration (`before` =
/// None), a correction, or a removal (`after` = None).
pub fn change(before: Option<&Arrival<'_>>, after: Option<&Arrival<'_>>) -> Delta {
    let mut delta = Delta::default();
    add(&mut delta, after, 1);
    add(&mut delta, before, -1);
    delta
}

/// What many registrations add, summed (one upsert per table for a bulk write).
pub fn registrations<'a>(arrivals: impl IntoIterator<Item = Arrival<'a>>) -> Delta {
    let mut delta = Delta::default();
    for arrival in arrivals {
        add(&mut delta, Some(&arrival), 1);
    }
    delta
}

fn add(delta: &mut Delta, arrival: Option<&Arrival<'_>>, sign: i64) {
    for (key, count) in arrival.map(contributions).unwrap_or_default() {
        delta.add(key, count, sign);
    }
}
