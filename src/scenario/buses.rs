//! Free transport in the replay: every family the state places rides a
//! state bus from the center where it registered to the province of its
//! placement (arrivals got "free transport anywhere in Armenia"; 90 buses
//! carried those without vehicles [O]). A family leaves 90 minutes before
//! its check-in, or as soon as it has registered; families bound for the same
//! province from the same center within the same hour share a bus of 50
//! seats.

use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use uuid::Uuid;

use super::{aid, Event};

/// Seats per bus.
pub const SEATS: i32 = 50;

/// A family on its way to a state placement.
#[derive(Debug, Clone, Copy)]
pub struct Passenger {
    pub household_id: Uuid,
    pub center: &'static str,
    pub province: &'static str,
    pub arrived_at: DateTime<Utc>,
    pub check_in: DateTime<Utc>,
    pub persons: i64,
}

/// The trips and boardings for `passengers`.
pub fn plan(passengers: &[Passenger]) -> Vec<Event> {
    let departure = |p: &Passenger| (p.check_in - TimeDelta::minutes(90)).max(p.arrived_at);
    let hour = |t: DateTime<Utc>| t.duration_trunc(TimeDelta::hours(1)).unwrap_or(t);
    let mut order: Vec<&Passenger> = passengers.iter().collect();
    order.sort_by_key(|p| (p.center, p.province, departure(p), p.household_id));
    let mut events = Vec::new();
    // The bus being filled: its key, passengers, seats taken, latest
    // departure of a passenger and earliest check-in.
    struct Bus {
        key: (&'static str, &'static str, DateTime<Utc>),
        riders: Vec<Uuid>,
        seats: i64,
        leaves: DateTime<Utc>,
        first_check_in: DateTime<Utc>,
    }
    let mut bus: Option<Bus> = None;
    let mut number = 0;
    let mut depart = |bus: Bus, events: &mut Vec<Event>| {
        number += 1;
        let trip_id = aid::id(
            "trip",
            format!("{}/{}/{number}", bus.key.0, bus.key.1).as_bytes(),
        );
        events.push(Event::Trip {
            at: bus.leaves,
            trip_id,
            center: bus.key.0,
            province: bus.key.1,
            seats: SEATS,
        });
        for household_id in bus.riders {
            events.push(Event::Board {
                at: bus.leaves,
                boarding_id: aid::id("boarding", household_id.as_bytes()),
                trip_id,
                household_id,
            });
        }
    };
    for p in order {
        let leaves = departure(p);
        let key = (p.center, p.province, hour(leaves));
        let fits = bus.as_ref().is_some_and(|b| {
            b.key == key
                && b.seats + p.persons <= i64::from(SEATS)
                && leaves.max(b.leaves) <= b.first_check_in.min(p.check_in)
        });
        if !fits {
            if let Some(full) = bus.take() {
                depart(full, &mut events);
            }
            bus = Some(Bus {
                key,
                riders: vec![],
                seats: 0,
                leaves,
                first_check_in: p.check_in,
            });
        }
        let b = bus.as_mut().expect("a bus is being filled");
        b.riders.push(p.household_id);
        b.seats += p.persons;
        b.leaves = b.leaves.max(leaves);
        b.first_check_in = b.first_check_in.min(p.check_in);
    }
    if let Some(last) = bus.take() {
        depart(last, &mut events);
    }
    events
}
