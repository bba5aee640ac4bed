//! Writes a [`plan`](super::plan) into the database through the same domain
//! code the API uses (validation, registration, flow counts, corrections),
//! never raw SQL, then checks the statistics against the documented figures.
//!
//! Every planned record has a deterministic id, so a replay that is stopped
//! and started again skips what is already there and registers nothing twice.

use std::collections::BTreeMap;

use chrono::{DateTime, FixedOffset, Utc};
use diesel::Connection;
use indicatif::{ProgressBar, ProgressStyle};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::{
    accommodation, aid, centers as planned_centers, checkpoints, nk2023, plan, state_site_code,
    Checkpoint, Event, Options, STATE_ORGANIZATION,
};
use crate::accounts::{self, NewUser, Passwords, Role};
use crate::centers::{self, CenterKind, NewCenter};
use crate::config::PasswordHashSettings;
use crate::db::audit::{Actor, Event as AuditEvent};
use crate::db::{DbConnection, Unit};
use crate::distributions::{self, NewDistribution};
use crate::entitlements::{self, Basis, NewEntitlement};
use crate::error::ApiError;
use crate::flows::{self, Direction, NewFlowCount};
use crate::housing::{self, Checkout, CheckoutReason, NewPlacement, NewSite, SiteKind};
use crate::http::time::Timestamp;
use crate::organizations::{self, NewOrganization, OrganizationKind};
use crate::provinces::Provinces;
use crate::registration::{self, Correction, HouseholdPatch, MemberPatch};
use crate::stats;
use crate::stock::{self, NewItem, NewReceipt};
use crate::transport::{self, NewBoarding, NewTrip};

/// The account a replay writes as.
pub const REPLAY_USER: &str = "scenario-replay";

/// Events per transaction: large enough to be fast, small enough that an
/// interrupted replay loses little.
const BATCH: usize = 500;

/// What a replay did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Report {
    pub flow_counts: usize,
    pub households: usize,
    pub persons: usize,
    pub corrections: usize,
    /// Households placed in state accommodation (moves included).
    pub placements: usize,
    /// Households that left state accommodation.
    pub departures: usize,
    /// Stock receipts (fuel and cash at each center).
    pub receipts: usize,
    /// Fuel and cash handed to households.
    pub distributions: usize,
    /// State buses to the provinces.
    pub trips: usize,
    /// Families on them.
    pub boardings: usize,
    /// Events already in the database from an earlier run.
    pub already_there: usize,
}

/// A documented figure the statistics do not reproduce.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mismatch {
    pub observed_at: DateTime<FixedOffset>,
    /// e.g. `registered`, `state_accommodation`, `state_accommodation AM-KT`.
    pub figure: String,
    pub documented: i64,
    pub reported: i64,
}

/// Center ids by code.
type CenterIds = Vec<(&'static str, Uuid)>;

/// State accommodation site ids by province.
type SiteIds = Vec<(&'static str, Uuid)>;

/// The beds each state site needs: its highest planned occupancy.
pub(super) fn site_capacity(options: &Options, province: &str) -> i32 {
    nk2023::accommodation_snapshots(options.scale)
        .iter()
        .map(|s| s.target.get(province).copied().unwrap_or(0))
        .max()
        .unwrap_or(0)
        .max(1) as i32
}

/// Organization ids by code, creating the replay's organizations if missing.
fn prepare_organizations(conn: &mut DbConnection) -> Result<Vec<(&'static str, Uuid)>, ApiError> {
    let mut ids = Vec::new();
    for (code, name, kind) in aid::ORGANIZATIONS {
        let id = match organizations::find_by_code(conn, code)? {
            Some(o) => o.id,
            None => {
                let kind: OrganizationKind =
                    serde_json::from_value(serde_json::Value::String(kind.into()))
                        .map_err(ApiError::internal)?;
                organizations::create(
                    conn,
                    NewOrganization {
                        code: code.into(),
                        name: name.into(),
                        kind,
                    },
                )?
                .id
            }
        };
        ids.push((code, id));
    }
    Ok(ids)
}

/// Creates the state's accommodation sites if missing (run by `organization`).
fn prepare_sites(
    conn: &mut DbConnection,
    options: &Options,
    provinces: &Provinces,
    organization: Uuid,
) -> Result<SiteIds, ApiError> {
    let mut ids = Vec::new();
    for province in accommodation::PROVINCES
        .iter()
        .chain([&accommodation::TRANSIT])
    {
        let code = state_site_code(province);
        let site = match housing::find_site_by_code(conn, &code)? {
            Some(site) => site,
            None => housing::create_site(
                conn,
                NewSite {
                    name: state_site_name(province),
                    code,
                    kind: SiteKind::CollectiveCenter,
                    province: province.to_string(),
                    settlement: None,
                    capacity_beds: site_capacity(options, province),
                    floor_area_m2: None,
                    organization_id: organization,
                },
                provinces,
            )?,
        };
        ids.push((*province, site.id));
    }
    Ok(ids)
}

/// Item ids by code, creating the replay's items and their entitlement
/// rules if missing.
fn prepare_items(conn: &mut DbConnection) -> Result<Vec<(&'static str, Uuid)>, ApiError> {
    let mut ids = Vec::new();
    for (code, name, unit, sector, kcal_per_unit) in aid::ITEMS {
        let item = match stock::find_item_by_code(conn, code)? {
            Some(item) => item,
            None => stock::create_item(
                conn,
                NewItem {
                    code: code.into(),
                    name: name.into(),
                    unit: serde_json::from_value(serde_json::Value::String(unit.into()))
                        .map_err(ApiError::internal)?,
                    sector: serde_json::from_value(serde_json::Value::String(sector.into()))
                        .map_err(ApiError::internal)?,
                    kcal_per_unit,
                },
            )?,
        };
        if entitlements::for_item(conn, item.id)?.is_none() {
            if let Some(rule) = aid_rule(code, item.id)? {
                entitlements::create(conn, rule)?;
            }
        }
        ids.push((code, item.id));
    }
    Ok(ids)
}

/// The entitlement of a replay item: fuel per family once, cash per person
/// once from the first payment day; none for food parcels (a family gets
/// one per 4 people, which a rule per household or person cannot say).
pub(super) fn aid_rule(code: &str, item: Uuid) -> Result<Option<NewEntitlement>, ApiError> {
    let (basis, quantity, starts_at) = match code {
        aid::FUEL => (Basis::Household, aid::FUEL_PER_HOUSEHOLD, None),
        aid::CASH => (Basis::Person, aid::CASH_PER_PERSON, Some(aid::CASH_FROM)),
        _ => return Ok(None),
    };
    Ok(Some(NewEntitlement {
        item_id: item,
        basis,
        quantity,
        every_days: None,
        every_months: None,
        max_times: None,
        starts_at: starts_at
            .map(|t| Timestamp::parse(t).map_err(ApiError::internal))
            .transpose()?,
    }))
}

/// A state site's name: the province's, or the Yerevan transit site.
pub(super) fn state_site_name(province: &str) -> String {
    let name = crate::provinces::ARMENIA
        .iter()
        .find(|(code, _)| *code == province)
        .map_or(province, |(_, name)| name);
    if province == accommodation::TRANSIT {
        format!("State transit accommodation, {name}")
    } else {
        format!("State-provided accommodation, {name}")
    }
}

/// Creates the scenario's centers and account if missing; returns the
/// account id and the center ids by code.
fn prepare(conn: &mut DbConnection, provinces: &Provinces) -> Result<(Uuid, CenterIds), ApiError> {
    let user = match accounts::find_by_username(conn, REPLAY_USER)? {
        Some(user) => user.id,
        None => {
            // Nobody logs in as this account: its password is random and discarded.
            let password = format!("{}{}", Uuid::new_v4().simple(), Uuid::new_v4().simple());
            accounts::create_user(
                conn,
                NewUser {
                    username: REPLAY_USER,
                    password: &password,
                    role: Role::Admin,
                    center_codes: &[],
                    // Nobody logs in as it: the least cost the settings allow.
                    display_name: None,
                    passwords: &Passwords {
                        cost: PasswordHashSettings::OWASP_MINIMUM,
                        min_score: 0,
                    },
                },
            )?
            .id
        }
    };
    let mut ids = Vec::new();
    for spec in planned_centers() {
        let center = match centers::find_by_code(conn, spec.code)? {
            Some(center) => center,
            None => {
                let kind: CenterKind =
                    serde_json::from_value(serde_json::Value::String(spec.kind.into()))
                        .map_err(ApiError::internal)?;
                centers::create(
                    conn,
                    NewCenter {
                        code: spec.code.into(),
                        name: spec.name.into(),
                        kind,
                        province: spec.province.into(),
                        latitude: Some(spec.latitude),
                        longitude: Some(spec.longitude),
                        timezone: None,
                        contact: None,
                    },
                    provinces,
                )?
            }
        };
        ids.push((spec.code, center.id));
    }
    Ok((user, ids))
}

/// A stable id for a planned flow count (the plan gives registrations theirs).
pub(super) fn flow_id(options: &Options, center: &str, start: DateTime<Utc>) -> Uuid {
    let digest = Sha256::new()
        .chain_update(b"refuge scenario nk-2023 flow count\0")
        .chain_update(options.seed.to_le_bytes())
        .chain_update(options.scale.to_le_bytes())
        .chain_update(center.as_bytes())
        .chain_update(start.timestamp_micros().to_le_bytes())
        .finalize();
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    uuid::Builder::from_random_bytes(bytes).into_uuid()
}

/// An error that means "this event was replayed before".
fn already_there(error: &ApiError) -> bool {
    matches!(
        error,
        ApiError::Conflict {
            code: "household-exists"
                | "flow-count-exists"
                | "household-already-placed"
                | "already-checked-out"
                | "movement-exists"
                | "already-boarded",
            ..
        }
    )
}

/// A progress bar for a terminal (hidden when standard error is not one).
pub fn progress_bar(len: u64) -> ProgressBar {
    let bar = ProgressBar::new(len);
    bar.set_style(
        ProgressStyle::with_template(
            "{elapsed_precise} [{bar:40}] {pos}/{len} events ({per_sec}, {eta} left) {msg}",
        )
        .expect("a valid template")
        .progress_chars("=> "),
    );
    bar
}

/// Replays the plan for `options` into the database.
pub fn replay(
    conn: &mut DbConnection,
    options: &Options,
    provinces: &Provinces,
    progress: &ProgressBar,
) -> Result<Report, ApiError> {
    let (user, center_ids) = conn.transaction(|conn| prepare(conn, provinces))?;
    let organization_ids = conn.transaction(prepare_organizations)?;
    let state = lookup(&organization_ids, "organization")(STATE_ORGANIZATION)?;
    let site_ids = conn.transaction(|conn| prepare_sites(conn, options, provinces, state))?;
    let item_ids = conn.transaction(prepare_items)?;
    let (center, site, item, organization) = (
        lookup(&center_ids, "center"),
        lookup(&site_ids, "state site in"),
        lookup(&item_ids, "item"),
        lookup(&organization_ids, "organization"),
    );
    let places = Places {
        center: &center,
        site: &site,
        item: &item,
        organization: &organization,
    };
    let events = plan(options);
    progress.set_length(events.len() as u64);
    let mut report = Report::default();
    let mut events = events.into_iter().peekable();
    while events.peek().is_some() {
        let batch: Vec<Event> = events.by_ref().take(BATCH).collect();
        let done = batch.len() as u64;
        let apply_all = |conn: &mut DbConnection, savepoints, report: &mut Report| {
            apply_batch(conn, &batch, savepoints, report, |unit, event| {
                apply(unit, event, options, provinces, user, &places)
            })
        };
        // A fresh replay needs no savepoints (each costs two statements per
        // event). A batch that meets an event replayed before (a replay
        // resumed after an interruption) is rolled back and replayed again
        // with each event in a savepoint of its own, so that the one already
        // there is skipped without undoing the rest.
        let mut counted = report.clone();
        match apply_all(conn, Savepoints::None, &mut counted) {
            Err(error) if already_there(&error) => {
                counted = report.clone();
                apply_all(conn, Savepoints::PerEvent, &mut counted)?;
            }
            outcome => outcome?,
        }
        report = counted;
        progress.inc(done);
    }
    progress.finish_with_message("replayed");
    Ok(report)
}

/// Whether each event of a batch runs in a savepoint of its own.
#[derive(Clone, Copy)]
enum Savepoints {
    None,
    PerEvent,
}

/// Applies a batch of events in one transaction, whose unit of work commits
/// the statistics its registrations and corrections record with them, and
/// counts them in `report`. Without savepoints, an event replayed before
/// fails the batch; with them, it is counted as already there.
fn apply_batch(
    conn: &mut DbConnection,
    batch: &[Event],
    savepoints: Savepoints,
    report: &mut Report,
    apply: impl Fn(&mut Unit<'_>, Event) -> Result<Applied, ApiError>,
) -> Result<(), ApiError> {
    Unit::transaction(conn, &Actor::system("scenario"), |unit| {
        for event in batch.iter().cloned() {
            let outcome = match savepoints {
                Savepoints::None => apply(unit, event),
                Savepoints::PerEvent => unit.savepoint(|unit| apply(unit, event)),
            };
            match outcome {
                Ok(Applied::Flow) => report.flow_counts += 1,
                Ok(Applied::Household(persons)) => {
                    report.households += 1;
                    report.persons += persons;
                }
                Ok(Applied::Correction) => report.corrections += 1,
                Ok(Applied::Placement) => report.placements += 1,
                Ok(Applied::Departure) => report.departures += 1,
                Ok(Applied::Receipt) => report.receipts += 1,
                Ok(Applied::Distribution) => report.distributions += 1,
                Ok(Applied::Trip) => report.trips += 1,
                Ok(Applied::Boarding) => report.boardings += 1,
                Ok(Applied::Nothing) => report.already_there += 1,
                Err(error)
                    if matches!(savepoints, Savepoints::PerEvent) && already_there(&error) =>
                {
                    report.already_there += 1
                }
                Err(error) => return Err(error),
            }
        }
        unit.audit(
            AuditEvent::new("scenario.replay").detail(serde_json::json!({ "events": batch.len() })),
        );
        Ok(())
    })
}

enum Applied {
    Flow,
    Household(usize),
    Correction,
    Placement,
    Departure,
    Receipt,
    Distribution,
    Trip,
    Boarding,
    Nothing,
}

/// Finds the id of what the plan names by `code` (a center, item, province).
fn lookup<'a>(
    ids: &'a [(&'static str, Uuid)],
    what: &'static str,
) -> impl Fn(&str) -> Result<Uuid, ApiError> + 'a {
    move |code| {
        ids.iter()
            .find(|(c, _)| *c == code)
            .map(|(_, id)| *id)
            .ok_or_else(|| ApiError::internal(format!("the plan names an unknown {what} {code}")))
    }
}

/// Ids of what the plan names by code.
struct Places<'a> {
    center: &'a dyn Fn(&str) -> Result<Uuid, ApiError>,
    site: &'a dyn Fn(&str) -> Result<Uuid, ApiError>,
    item: &'a dyn Fn(&str) -> Result<Uuid, ApiError>,
    organization: &'a dyn Fn(&str) -> Result<Uuid, ApiError>,
}

fn apply(
    unit: &mut Unit<'_>,
    event: Event,
    options: &Options,
    provinces: &Provinces,
    user: Uuid,
    places: &Places<'_>,
) -> Result<Applied, ApiError> {
    let Places {
        center,
        site,
        item,
        organization,
    } = places;
    let now = Utc::now();
    match event {
        Event::Flow {
            center: code,
            start,
            end,
            people,
            vehicles,
        } => {
            let new = NewFlowCount {
                id: Some(flow_id(options, code, start)),
                center_id: center(code)?,
                window_start: Timestamp::trusted(start),
                window_end: Timestamp::trusted(end),
                direction: Direction::In,
                people,
                vehicles,
                by_sex_age: None,
            };
            flows::validate(&new, now)?;
            flows::record(unit, new, user)?;
            Ok(Applied::Flow)
        }
        Event::Register {
            center: code,
            household,
        } => {
            let new = household.into_new(center(code)?);
            registration::validate_new(&new, provinces)?;
            let persons = new.members.len();
            registration::register(unit, new, user)?;
            Ok(Applied::Household(persons))
        }
        Event::SetSex {
            at,
            household_id,
            member_id,
            sex,
        } => {
            let household = registration::find(unit, household_id)?
                .ok_or_else(|| ApiError::internal("a corrected household was not registered"))?;
            if household
                .members
                .iter()
                .any(|m| m.id == member_id && m.sex == sex)
            {
                return Ok(Applied::Nothing);
            }
            let correction = Correction {
                id: household_id,
                expected_version: household.version,
                patch: HouseholdPatch {
                    members: vec![MemberPatch {
                        id: member_id,
                        sex: Some(sex),
                        ..MemberPatch::default()
                    }],
                    ..HouseholdPatch::default()
                },
                corrected_by: user,
                effective_at: at.naive_utc(),
            };
            registration::correct(unit, correction, provinces, |_| Ok(()))?;
            Ok(Applied::Correction)
        }
        Event::Place {
            at,
            placement_id,
            household_id,
            province,
            moved,
        } => {
            let new = NewPlacement {
                id: Some(placement_id),
                household_id,
                checked_in_at: Some(Timestamp::trusted(at)),
                r#move: moved,
            };
            housing::place(unit, site(province)?, new, user, |_| Ok(()))?;
            Ok(Applied::Placement)
        }
        Event::Leave { at, placement_id } => {
            let checkout = Checkout {
                checked_out_at: Some(Timestamp::trusted(at)),
                reason: Some(CheckoutReason::Left),
            };
            housing::check_out(unit, placement_id, checkout, user, |_| Ok(()))?;
            Ok(Applied::Departure)
        }
        Event::Trip {
            at,
            trip_id,
            center: code,
            province,
            seats,
        } => {
            if transport::find_trip(unit, trip_id)?.is_some() {
                return Ok(Applied::Nothing);
            }
            let trip = NewTrip {
                id: Some(trip_id),
                center_id: center(code)?,
                destination_province: province.to_string(),
                destination_settlement: None,
                departs_at: Timestamp::trusted(at),
                vehicle: "state bus".into(),
                seats,
                organization_id: organization(STATE_ORGANIZATION)?,
            };
            transport::create_trip(unit, trip, user, provinces)?;
            Ok(Applied::Trip)
        }
        Event::Board {
            boarding_id,
            trip_id,
            household_id,
            ..
        } => {
            let boarding = NewBoarding {
                id: Some(boarding_id),
                household_id,
                person_ids: None,
            };
            transport::board(unit, trip_id, boarding, user, |_| Ok(()))?;
            Ok(Applied::Boarding)
        }
        Event::Receive {
            at,
            receipt_id,
            center: code,
            item: item_code,
            quantity,
            organization: supplier,
        } => {
            let receipt = NewReceipt {
                id: Some(receipt_id),
                center_id: center(code)?,
                item_id: item(item_code)?,
                quantity,
                organization_id: organization(supplier)?,
                received_at: Some(Timestamp::trusted(at)),
                reference: None,
            };
            stock::receive(unit, receipt, user)?;
            Ok(Applied::Receipt)
        }
        Event::Distribute {
            at,
            distribution_id,
            household_id,
            center: code,
            item: item_code,
            quantity,
            organization: giver,
        } => {
            if distributions::exists(unit, distribution_id)? {
                return Ok(Applied::Nothing);
            }
            let new = NewDistribution {
                id: Some(distribution_id),
                household_id,
                center_id: center(code)?,
                item_id: item(item_code)?,
                quantity: Some(quantity),
                organization_id: organization(giver)?,
                distributed_at: Some(Timestamp::trusted(at)),
                override_reason: None,
            };
            distributions::distribute(unit, new, user)?;
            Ok(Applied::Distribution)
        }
    }
}

/// Compares the statistics with every documented figure of the plan's
/// checkpoints, and the state accommodation with what the plan placed (see
/// [`nk2023::accommodation_planned`]); empty when the replay reproduces them all.
pub fn check(conn: &mut DbConnection, options: &Options) -> Result<Vec<Mismatch>, ApiError> {
    let mut mismatches = Vec::new();
    for checkpoint in checkpoints(options.scale) {
        let figures = stats::figures_as_of(conn, checkpoint.observed_at.naive_utc())?;
        mismatches.extend(compare(&checkpoint, &figures));
    }
    let (paid_by, _) = aid::CASH_PAID_BY;
    let paid_by: DateTime<FixedOffset> = paid_by.parse().map_err(ApiError::internal)?;
    let paid = distributions::persons_reached(conn, aid::CASH, paid_by.naive_utc())?;
    mismatches.extend(compare_cash(paid_by, options.scale, paid));
    for (at, planned) in nk2023::accommodation_planned(&plan(options), options.scale) {
        let by_province: BTreeMap<String, i64> =
            housing::occupancy_by_province(conn, at.naive_utc())?
                .into_iter()
                .map(|p| (p.province, p.state_provided_persons))
                .collect();
        mismatches.extend(compare_accommodation(at, &planned, &by_province));
    }
    Ok(mismatches)
}

/// The documented figures of `checkpoint` that `figures` do not reproduce.
pub(super) fn compare(checkpoint: &Checkpoint, figures: &stats::Figures) -> Vec<Mismatch> {
    let pairs = [
        ("crossed", checkpoint.crossed, figures.crossed),
        ("vehicles", checkpoint.vehicles, figures.vehicles),
        ("registered", checkpoint.registered, figures.registered),
        (
            "registered_male",
            checkpoint.registered_male,
            figures.registered_male,
        ),
        (
            "registered_female",
            checkpoint.registered_female,
            figures.registered_female,
        ),
        (
            "registered_unknown",
            checkpoint.registered_unknown,
            figures.registered_unknown,
        ),
    ];
    pairs
        .into_iter()
        .filter_map(|(figure, documented, reported)| {
            let documented = documented?;
            (documented != reported).then(|| Mismatch {
                observed_at: checkpoint.observed_at,
                figure: figure.to_string(),
                documented,
                reported,
            })
        })
        .collect()
}

/// The persons paid in cash by 20 October, against the documented figure
/// (at very small scales whole families may fall just short: not reported).
pub(super) fn compare_cash(at: DateTime<FixedOffset>, scale: f64, paid: i64) -> Vec<Mismatch> {
    let target = aid::cash_paid_target(scale);
    if paid == target || (scale < 0.05 && paid <= target && paid > target - 12) {
        return vec![];
    }
    vec![Mismatch {
        observed_at: at,
        figure: "cash_paid_persons".into(),
        documented: target,
        reported: paid,
    }]
}

/// Where the persons in state accommodation at `at` (total, and per
/// province and transit site) differ from the plan.
pub(super) fn compare_accommodation(
    at: DateTime<FixedOffset>,
    planned: &BTreeMap<&'static str, i64>,
    reported: &BTreeMap<String, i64>,
) -> Vec<Mismatch> {
    let mut out = Vec::new();
    let total = |m: &mut dyn Iterator<Item = i64>| m.sum::<i64>();
    let (p, r) = (
        total(&mut planned.values().copied()),
        total(&mut reported.values().copied()),
    );
    if p != r {
        out.push(Mismatch {
            observed_at: at,
            figure: "state_accommodation".into(),
            documented: p,
            reported: r,
        });
    }
    for province in accommodation::PROVINCES
        .iter()
        .chain([&accommodation::TRANSIT])
    {
        let p = planned.get(province).copied().unwrap_or(0);
        let r = reported.get(*province).copied().unwrap_or(0);
        if p != r {
            out.push(Mismatch {
                observed_at: at,
                figure: format!("state_accommodation {province}"),
                documented: p,
                reported: r,
            });
        }
    }
    out
}
