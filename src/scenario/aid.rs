//! Aid in the replay: 5 liters of fuel per family, handed out where the
//! family registered, and the one-time cash payment of 100,000 AMD per person
//! from the week of 2 October, of which 95,200 persons had received it by
//! 20 October [O] (see `data/SOURCES.md`). Both go through the entitlement
//! rules and the stock ledger, like any distribution.

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

/// An item of the replay's catalogue: code, name, unit, sector.
pub const ITEMS: [(&str, &str, &str, &str); 2] = [
    (FUEL, "Fuel (petrol)", "liter", "fuel"),
    (CASH, "Cash assistance", "amd", "cash"),
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
        });
    }
    events
}
