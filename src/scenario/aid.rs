//! Aid in the replay: 5 liters of fuel per family, handed out where the
//! family registered; the one-time cash payment of 100,000 AMD per person
//! from the week of 2 October, of which 95,200 persons had received it by
//! 20 October [O]; and the World Food Programme's family food parcels for
//! 30,000 people, one per 4 people [O] (see `data/SOURCES.md`). All go
//! through the stock ledger, fuel and cash through entitlement rules too.

use std::collections::BTreeMap;

use chrono::{DateTime, FixedOffset, TimeDelta, Utc};
use rand::seq::SliceRandom;
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::Event;

/// Fuel, in liters.
pub const FUEL: &str = "FUEL";
/// Cash assistance, in Armenian dram.
pub const CASH: &str = "CASH-AMD";
/// A family food parcel (for 4 people).
pub const FOOD: &str = "FOOD-PARCEL";

/// The World Food Programme, which supplied the food parcels.
pub const WFP: &str = "WFP";

/// Organizations of the replay: code, name, kind.
pub const ORGANIZATIONS: [(&str, &str, &str); 2] = [
    (
        super::STATE_ORGANIZATION,
        "Government of Armenia (Humanitarian Center)",
        "government",
    ),
    (WFP, "World Food Programme", "un_agency"),
];

/// Parcels for 30,000 people at 4 people per parcel, handed out at Goris
/// from 28 September to 10 October [E: where and when].
pub const FOOD_PARCELS: i64 = 7_500;
pub const PERSONS_PER_PARCEL: i64 = 4;
pub const FOOD_CENTER: &str = "GORIS";
pub const FOOD_FROM: &str = "2023-09-28T09:00:00+04:00";
pub const FOOD_UNTIL: &str = "2023-10-10T20:00:00+04:00";

/// 5 liters per family.
pub const FUEL_PER_HOUSEHOLD: i64 = 5;
/// 100,000 AMD per person, once.
pub const CASH_PER_PERSON: i64 = 100_000;
/// Payments began in the week of 2 October (decided on 28 September).
pub const CASH_FROM: &str = "2023-10-02T09:00:00+04:00";
/// "More than 95,200" persons had been paid by 20 October [O].
pub const CASH_PAID_BY: (&str, i64) = ("2023-10-20T20:00:00+04:00", 95_200);
/// When each center's stock of fuel and cash arrives: before the first family.
pub const STOCK_AT: &str = "2023-09-24T12:00:00+04:00";

/// Food energy of a parcel: about 3.75 kg of grains, pulses and oil [D]
/// at about 4,000 kcal per kg [E] (see `data/SOURCES.md`).
pub const FOOD_PARCEL_KCAL: i32 = 15_000;

/// An item of the replay's catalogue: code, name, unit, sector, and food
/// energy per unit.
pub const ITEMS: [(&str, &str, &str, &str, Option<i32>); 3] = [
    (FUEL, "Fuel (petrol)", "liter", "fuel", None),
    (CASH, "Cash assistance", "amd", "cash", None),
    (
        FOOD,
        "Family food parcel (4 people)",
        "parcel",
        "food",
        Some(FOOD_PARCEL_KCAL),
    ),
];

/// A registered household, where and when.
#[derive(Debug, Clone, Copy)]
pub struct Family {
    pub id: Uuid,
    pub center: &'static str,
    pub arrived_at: DateTime<Utc>,
    pub persons: i64,
}

fn instant(text: &str) -> DateTime<Utc> {
    text.parse::<DateTime<FixedOffset>>()
        .expect("a valid instant constant")
        .with_timezone(&Utc)
}

/// A stable id for a planned distribution or receipt.
pub fn id(kind: &str, key: &[u8]) -> Uuid {
    let digest = Sha256::new()
        .chain_update(b"refuge scenario nk-2023 aid\0")
        .chain_update(kind.as_bytes())
        .chain_update(key)
        .finalize();
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    uuid::Builder::from_random_bytes(bytes).into_uuid()
}

/// Persons paid in cash by 20 October at `scale`.
pub fn cash_paid_target(scale: f64) -> i64 {
    (CASH_PAID_BY.1 as f64 * scale).round() as i64
}

/// The stock receipts and distributions for `families`.
pub fn plan(families: &[Family], scale: f64, rng: &mut ChaCha8Rng) -> Vec<Event> {
    let mut events = Vec::new();
    let mut needed: BTreeMap<(&'static str, &'static str), i64> = BTreeMap::new();
    for f in families {
        events.push(Event::Distribute {
            at: f.arrived_at + TimeDelta::minutes(10),
            distribution_id: id(FUEL, f.id.as_bytes()),
            household_id: f.id,
            center: f.center,
            item: FUEL,
            quantity: FUEL_PER_HOUSEHOLD,
            organization: super::STATE_ORGANIZATION,
        });
        *needed.entry((f.center, FUEL)).or_default() += FUEL_PER_HOUSEHOLD;
    }
    // Cash: households registered by the deadline, in random order, until
    // exactly the documented number of persons (whole families; at very
    // small scales as close below as they allow).
    let (from, by) = (instant(CASH_FROM), instant(CASH_PAID_BY.0));
    let mut eligible: Vec<&Family> = families.iter().filter(|f| f.arrived_at < by).collect();
    eligible.shuffle(rng);
    let mut remaining = cash_paid_target(scale);
    for f in eligible {
        if f.persons > remaining {
            continue;
        }
        remaining -= f.persons;
        let start = from.max(f.arrived_at);
        let span = (by - start).num_minutes().max(1);
        events.push(Event::Distribute {
            at: start + TimeDelta::minutes(rng.random_range(0..span)),
            distribution_id: id(CASH, f.id.as_bytes()),
            household_id: f.id,
            center: f.center,
            item: CASH,
            quantity: CASH_PER_PERSON * f.persons,
            organization: super::STATE_ORGANIZATION,
        });
        *needed.entry((f.center, CASH)).or_default() += CASH_PER_PERSON * f.persons;
        if remaining == 0 {
            break;
        }
    }
    for ((center, item), quantity) in needed {
        events.push(Event::Receive {
            at: instant(STOCK_AT),
            receipt_id: id("receipt", format!("{center}/{item}").as_bytes()),
            center,
            item,
            quantity,
            organization: super::STATE_ORGANIZATION,
        });
    }
    // Food parcels: one per 4 people (rounded up), to families registered at
    // Goris, until the parcels run out.
    let (from, until) = (instant(FOOD_FROM), instant(FOOD_UNTIL));
    let parcels = (FOOD_PARCELS as f64 * scale).round() as i64;
    let mut remaining = parcels;
    let mut goris: Vec<&Family> = families
        .iter()
        .filter(|f| f.center == FOOD_CENTER && f.arrived_at < until)
        .collect();
    goris.shuffle(rng);
    for f in goris {
        let quantity = (f.persons + PERSONS_PER_PARCEL - 1) / PERSONS_PER_PARCEL;
        if quantity > remaining {
            continue;
        }
        remaining -= quantity;
        let start = from.max(f.arrived_at);
        let span = (until - start).num_minutes().max(1);
        events.push(Event::Distribute {
            at: start + TimeDelta::minutes(rng.random_range(0..span)),
            distribution_id: id(FOOD, f.id.as_bytes()),
            household_id: f.id,
            center: FOOD_CENTER,
            item: FOOD,
            quantity,
            organization: WFP,
        });
        if remaining == 0 {
            break;
        }
    }
    if parcels > remaining {
        events.push(Event::Receive {
            at: instant("2023-09-27T12:00:00+04:00"),
            receipt_id: id("receipt", format!("{FOOD_CENTER}/{FOOD}").as_bytes()),
            center: FOOD_CENTER,
            item: FOOD,
            quantity: parcels - remaining,
            organization: WFP,
        });
    }
    events
}
