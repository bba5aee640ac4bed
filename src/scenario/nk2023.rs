//! The September–October 2023 exodus: the documented figures, the places, and
//! the plan built from them. Every number here is explained, with its source,
//! in `data/SOURCES.md`.

use chrono::{DateTime, FixedOffset, TimeZone, Timelike, Utc};
use chrono_tz::Asia::Yerevan;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::curve::Profile;
use super::households::{self, Dresser, Moment, Person, Skeleton};
use super::names::{DESTINATIONS, MOBILE_PREFIXES, ORIGINS};
use super::{accommodation, aid, buses, CenterSpec, Event, Observation, Options, PlannedHousehold};
use crate::registration::Sex;
use sha2::{Digest, Sha256};
use uuid::Uuid;

/// The dated official figures, embedded at build time.
const OBSERVATIONS_CSV: &str = include_str!("data/nk-2023-observations.csv");

/// The crossing where people (and vehicles) were counted.
const CROSSING: &str = "KORNIDZOR";

/// First arrivals: the afternoon of Sunday 24 September (about 30 refugees
/// and 23 wounded by ambulance during the day; 1,050 by about 22:00).
const FLOW_START: &str = "2023-09-24T13:00:00+04:00";

/// Registration opened at Kornidzor and Goris the same afternoon.
const REGISTRATION_START: &str = "2023-09-24T14:00:00+04:00";

/// Cumulative crossings at local midnight from the government's day-by-day
/// series (Deputy PM Khachatryan, 28 Sep: 9,000 on 24–25 Sep, 22,800 on
/// 26 Sep, 26,600 on 27 Sep; 28 and 29 Sep interpolated between the
/// checkpoints around midnight). Where they conflict with an observation the
/// observation wins: each is clamped between its neighbouring observations.
const DAILY: [(&str, i64); 6] = [
    ("2023-09-25T00:00:00+04:00", 1_510),
    ("2023-09-26T00:00:00+04:00", 9_000),
    ("2023-09-27T00:00:00+04:00", 31_800),
    ("2023-09-28T00:00:00+04:00", 58_400),
    ("2023-09-29T00:00:00+04:00", 79_960),
    ("2023-09-30T00:00:00+04:00", 98_900),
];

/// Cumulative registrations estimated by the reference scenario (sources.md
/// §9, marked as estimates there) at the end of each surge day, and IOM's "more than
/// 97,840" on 10 Oct; afterwards about 400 a day until 20 Oct. Like
/// [`DAILY`], each is clamped between its neighbouring observations.
const REGISTERED_DAILY: [(&str, i64); 6] = [
    ("2023-09-26T00:00:00+04:00", 7_000),
    ("2023-09-27T00:00:00+04:00", 22_000),
    ("2023-09-28T00:00:00+04:00", 37_000),
    ("2023-09-29T00:00:00+04:00", 59_000),
    ("2023-09-30T00:00:00+04:00", 78_000),
    ("2023-10-10T23:59:00+04:00", 97_840),
];

/// Persons per vehicle after the last vehicle count (3 Oct): the overall ratio.
const PERSONS_PER_VEHICLE: f64 = 4.75;

/// Relative traffic at the crossing by local hour: the border was open day
/// and night, with queues, but busier by day.
const CROSSING_BY_HOUR: [f64; 24] = [
    0.70, 0.65, 0.60, 0.60, 0.60, 0.65, 0.75, 0.90, 1.05, 1.15, 1.20, 1.25, 1.25, 1.25, 1.25, 1.20,
    1.15, 1.10, 1.05, 1.00, 0.95, 0.90, 0.80, 0.75,
];

/// Relative registrations by local hour during the surge: "about 1,000
/// people registered every hour, non-stop" (28 Sep), a little less at night.
const REGISTRATION_BY_HOUR_SURGE: [f64; 24] = [
    0.85, 0.85, 0.85, 0.85, 0.85, 0.85, 0.90, 0.95, 1.00, 1.05, 1.10, 1.10, 1.10, 1.10, 1.10, 1.10,
    1.10, 1.05, 1.05, 1.00, 1.00, 0.95, 0.90, 0.90,
];

/// From 2 October, registration in office hours (the Yerevan and Parakar
/// points, Goris by appointment).
const REGISTRATION_BY_HOUR_LATER: [f64; 24] = [
    0.05, 0.05, 0.05, 0.05, 0.05, 0.05, 0.10, 0.40, 1.00, 1.40, 1.50, 1.50, 1.40, 1.50, 1.50, 1.50,
    1.40, 1.20, 0.90, 0.60, 0.40, 0.25, 0.15, 0.10,
];

/// When registration settled into office hours.
const OFFICE_HOURS_FROM: &str = "2023-10-02T00:00:00+04:00";

/// Patients injured in the operation and the fuel depot explosion, in
/// Armenian hospitals on 29 Sep; evacuated first, so most register early.
const WOUNDED: i64 = 337;
const WOUNDED_EARLY_SHARE: f64 = 0.8;
const WOUNDED_EARLY_UNTIL: &str = "2023-09-27T00:00:00+04:00";

/// Until this briefing, pregnancy was rarely recorded (133 among the first
/// ~55,000 registered); afterwards always.
const FIRST_DAYS_UNTIL: &str = "2023-09-28T19:00:00+04:00";
const PREGNANCY_RECORDED_FIRST_DAYS: f64 = 0.06;

/// Registration places over time: Goris registered most people; Kornidzor
/// did primary registration at the crossing; Vayk from the start; Parakar
/// (near Yerevan) and Yerevan more as people moved on.
const CENTERS_UNTIL_27_SEP: &[(&str, u32)] = &[("GORIS", 88), ("KORNIDZOR", 9), ("VAYK", 3)];
const CENTERS_28_SEP_TO_1_OCT: &[(&str, u32)] = &[
    ("GORIS", 88),
    ("KORNIDZOR", 5),
    ("VAYK", 3),
    ("PARAKAR", 2),
    ("YEREVAN", 2),
];
const CENTERS_FROM_2_OCT: &[(&str, u32)] = &[
    ("GORIS", 62),
    ("KORNIDZOR", 2),
    ("VAYK", 4),
    ("PARAKAR", 10),
    ("YEREVAN", 22),
];

/// Heads with a phone number recorded, households with a destination recorded.
const HEADS_WITH_PHONE: f64 = 0.88;
const WITH_DESTINATION: f64 = 0.94;

/// The documented observations, parsed from the embedded CSV.
pub fn observations() -> Vec<Observation> {
    csv::Reader::from_reader(OBSERVATIONS_CSV.as_bytes())
        .deserialize()
        .collect::<Result<_, _>>()
        .expect("the embedded observations CSV is valid (checked by a test)")
}

/// The crossing and the registration points named in the sources.
pub fn centers() -> Vec<CenterSpec> {
    vec![
        CenterSpec {
            code: "KORNIDZOR",
            name: "Kornidzor reception point (Hakari bridge crossing)",
            kind: "border_crossing",
            province: "AM-SU",
            latitude: 39.5481,
            longitude: 46.5311,
        },
        CenterSpec {
            code: "GORIS",
            name: "Goris Humanitarian Center",
            kind: "registration_center",
            province: "AM-SU",
            latitude: 39.5078,
            longitude: 46.3386,
        },
        CenterSpec {
            code: "VAYK",
            name: "Vayk registration center",
            kind: "registration_center",
            province: "AM-VD",
            latitude: 39.6917,
            longitude: 45.4653,
        },
        CenterSpec {
            code: "PARAKAR",
            name: "Parakar coordination center",
            kind: "registration_center",
            province: "AM-AV",
            latitude: 40.1639,
            longitude: 44.4058,
        },
        CenterSpec {
            code: "YEREVAN",
            name: "Yerevan registration point",
            kind: "registration_center",
            province: "AM-ER",
            latitude: 40.1777,
            longitude: 44.5126,
        },
    ]
}

/// The figures of one observation at a given scale: what [`plan`] reproduces
/// exactly at `observed_at` (replaying every event at or before it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    pub observed_at: DateTime<FixedOffset>,
    pub crossed: Option<i64>,
    pub vehicles: Option<i64>,
    pub registered: Option<i64>,
    pub registered_male: Option<i64>,
    pub registered_female: Option<i64>,
    /// Registered persons whose sex was not recorded (given with the sex figures).
    pub registered_unknown: Option<i64>,
}

fn scaled(value: i64, scale: f64) -> i64 {
    (value as f64 * scale).round() as i64
}

fn check_scale(scale: f64) {
    assert!(
        scale.is_finite() && scale > 0.0,
        "the scenario scale must be finite and positive (got {scale})"
    );
}

/// Every observation's figures multiplied by `scale` and rounded. Series stay
/// non-decreasing; at the sex checkpoints male, female and unknown add up to
/// the registered total (the figure a rounding would break is the female
/// one, which is then the difference).
///
/// # Panics
/// If `scale` is not finite and positive.
pub fn checkpoints(scale: f64) -> Vec<Checkpoint> {
    check_scale(scale);
    let mut highest = [0_i64; 3];
    let mut monotone = |series: usize, value: Option<i64>| {
        value.map(|v| {
            highest[series] = highest[series].max(scaled(v, scale));
            highest[series]
        })
    };
    let (mut male_before, mut female_before, mut unknown_before) = (0, 0, i64::MAX);
    observations()
        .into_iter()
        .map(|o| {
            let crossed = monotone(0, o.crossed);
            let vehicles = monotone(1, o.vehicles);
            let registered = monotone(2, o.registered);
            let (mut male, mut female, mut unknown) = (None, None, None);
            if let (Some(m), Some(f)) = (o.registered_male, o.registered_female) {
                let total = o
                    .registered
                    .expect("sex figures come with a registered total");
                let reg = registered.expect("set above");
                let u = scaled(total - m - f, scale)
                    .clamp(0, unknown_before)
                    .min(reg);
                let mut m = scaled(m, scale).min(reg - u).max(male_before);
                let mut f = reg - u - m;
                if f < female_before {
                    f = female_before;
                    m = reg - u - f;
                }
                (male_before, female_before, unknown_before) = (m, f, u);
                (male, female, unknown) = (Some(m), Some(f), Some(u));
            }
            Checkpoint {
                observed_at: o.observed_at,
                crossed,
                vehicles,
                registered,
                registered_male: male,
                registered_female: female,
                registered_unknown: unknown,
            }
        })
        .collect()
}

/// Persons in state-provided accommodation at every documented instant, in
/// total and per province, at `scale` (at scale 1 exactly as documented).
pub fn accommodation_snapshots(scale: f64) -> Vec<accommodation::Snapshot> {
    let totals: Vec<_> = observations()
        .into_iter()
        .filter_map(|o| Some((o.observed_at, o.state_accommodation?)))
        .collect();
    accommodation::snapshots(&totals, scale)
}

/// Persons in state accommodation per province (and transit site) that the
/// plan's events give at every documented instant. At full scale these are
/// the documented figures (a test checks it); at very small scales whole
/// households may not make them up exactly.
pub fn accommodation_planned(
    events: &[Event],
    scale: f64,
) -> Vec<(
    DateTime<FixedOffset>,
    std::collections::BTreeMap<&'static str, i64>,
)> {
    use std::collections::{BTreeMap, HashMap};
    let sizes: HashMap<Uuid, i64> = events
        .iter()
        .filter_map(|e| match e {
            Event::Register { household, .. } => {
                Some((household.id, household.members.len() as i64))
            }
            _ => None,
        })
        .collect();
    accommodation_snapshots(scale)
        .into_iter()
        .map(|snapshot| {
            let until = snapshot.observed_at.with_timezone(&Utc);
            let mut placement_of: HashMap<Uuid, Uuid> = HashMap::new();
            let mut where_: HashMap<Uuid, &'static str> = HashMap::new();
            for event in events.iter().filter(|e| e.at() <= until) {
                match event {
                    Event::Place {
                        placement_id,
                        household_id,
                        province,
                        ..
                    } => {
                        placement_of.insert(*placement_id, *household_id);
                        where_.insert(*household_id, province);
                    }
                    Event::Leave { placement_id, .. } => {
                        if let Some(household) = placement_of.get(placement_id) {
                            where_.remove(household);
                        }
                    }
                    _ => {}
                }
            }
            let mut persons: BTreeMap<&'static str, i64> = BTreeMap::new();
            for (household, province) in where_ {
                *persons.entry(province).or_default() +=
                    sizes.get(&household).copied().unwrap_or(0);
            }
            (snapshot.observed_at, persons)
        })
        .collect()
}

/// How many documented state-accommodation figures (totals and provinces)
/// the plan meets exactly, out of how many: all of them at full scale.
pub fn accommodation_met(events: &[Event], scale: f64) -> (usize, usize) {
    let snapshots = accommodation_snapshots(scale);
    let totals: Vec<i64> = observations()
        .into_iter()
        .filter_map(|o| o.state_accommodation)
        .map(|v| (v as f64 * scale).round() as i64)
        .collect();
    let mut met = 0;
    let mut all = 0;
    for ((_, persons), (snapshot, total)) in accommodation_planned(events, scale)
        .iter()
        .zip(snapshots.iter().zip(totals))
    {
        all += 1;
        met +=
            usize::from(persons.values().sum::<i64>() == snapshot.total && snapshot.total == total);
        for (province, documented) in &snapshot.documented {
            all += 1;
            met += usize::from(persons.get(province).copied().unwrap_or(0) == *documented);
        }
    }
    (met, all)
}

/// A stable id for a planned placement.
fn placement_id(household: Uuid, moved: bool) -> Uuid {
    let digest = Sha256::new()
        .chain_update(b"refuge scenario nk-2023 placement\0")
        .chain_update(household.as_bytes())
        .chain_update([u8::from(moved)])
        .finalize();
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    uuid::Builder::from_random_bytes(bytes).into_uuid()
}

/// State accommodation for the registered households of `events`.
fn accommodation_events(
    events: &[Event],
    checkpoints: &[Checkpoint],
    options: &Options,
) -> Vec<Event> {
    let households: Vec<(Uuid, accommodation::Candidate)> = events
        .iter()
        .filter_map(|e| match e {
            Event::Register { household, .. } => Some((
                household.id,
                accommodation::Candidate {
                    arrived_at: household.arrived_at.with_timezone(&Utc),
                    persons: household.members.len() as i64,
                },
            )),
            _ => None,
        })
        .collect();
    let candidates: Vec<_> = households.iter().map(|(_, c)| *c).collect();
    let crossed = |at: DateTime<Utc>| {
        checkpoints
            .iter()
            .filter(|c| c.observed_at.with_timezone(&Utc) <= at)
            .filter_map(|c| c.crossed)
            .max()
            .unwrap_or(0)
    };
    // A stream of its own, so that the registrations stay what they were.
    let mut rng = ChaCha8Rng::seed_from_u64(options.seed ^ 0x5354_4154_455f_4143);
    let steps = accommodation::plan(
        &accommodation_snapshots(options.scale),
        &candidates,
        crossed,
        &mut rng,
    );
    let mut current: std::collections::HashMap<usize, Uuid> = Default::default();
    steps
        .into_iter()
        .map(|step| match step {
            accommodation::Step::Place {
                household,
                province,
                at,
            }
            | accommodation::Step::Move {
                household,
                province,
                at,
            } => {
                let moved = matches!(step, accommodation::Step::Move { .. });
                let (household_id, _) = households[household];
                let id = placement_id(household_id, moved);
                current.insert(household, id);
                Event::Place {
                    at,
                    placement_id: id,
                    household_id,
                    province,
                    moved,
                }
            }
            accommodation::Step::Leave { household, at } => Event::Leave {
                at,
                placement_id: current[&household],
            },
        })
        .collect()
}

fn instant(text: &str) -> i64 {
    DateTime::parse_from_rfc3339(text)
        .expect("valid timestamp constant")
        .timestamp()
}

fn utc(t: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(t, 0).single().expect("in range")
}

fn local(t: i64) -> DateTime<FixedOffset> {
    utc(t).with_timezone(&Yerevan).fixed_offset()
}

fn local_hour(t: i64) -> usize {
    utc(t).with_timezone(&Yerevan).hour() as usize
}

/// The whole replay, ordered by time (flows by their end, registrations by
/// arrival, corrections by their time).
///
/// # Panics
/// If `options.scale` is not finite and positive.
pub fn plan(options: &Options) -> Vec<Event> {
    check_scale(options.scale);
    let checkpoints = checkpoints(options.scale);
    let mut rng = ChaCha8Rng::seed_from_u64(options.seed);
    let mut events = flows(&checkpoints, options.scale);
    events.extend(registrations(&checkpoints, options.scale, &mut rng));
    let accommodation = accommodation_events(&events, &checkpoints, options);
    let families: Vec<aid::Family> = events
        .iter()
        .filter_map(|e| match e {
            Event::Register { center, household } => Some(aid::Family {
                id: household.id,
                center,
                arrived_at: household.arrived_at.with_timezone(&Utc),
                persons: household.members.len() as i64,
            }),
            _ => None,
        })
        .collect();
    // A stream of its own, so that the other events stay what they were.
    let mut aid_rng = ChaCha8Rng::seed_from_u64(options.seed ^ 0x4149_445f_4341_5348);
    let passengers: Vec<buses::Passenger> = {
        let by_id: std::collections::HashMap<Uuid, &aid::Family> =
            families.iter().map(|f| (f.id, f)).collect();
        accommodation
            .iter()
            .filter_map(|e| match e {
                Event::Place {
                    at,
                    household_id,
                    province,
                    moved: false,
                    ..
                } => {
                    let family = by_id.get(household_id)?;
                    Some(buses::Passenger {
                        household_id: *household_id,
                        center: family.center,
                        province,
                        arrived_at: family.arrived_at,
                        check_in: *at,
                        persons: family.persons,
                    })
                }
                _ => None,
            })
            .collect()
    };
    events.extend(accommodation);
    events.extend(aid::plan(&families, options.scale, &mut aid_rng));
    events.extend(buses::plan(&passengers));
    let rank = |e: &Event| match e {
        Event::Receive { .. } => 0,
        Event::Flow { .. } => 1,
        Event::Register { .. } => 2,
        Event::SetSex { .. } => 3,
        Event::Distribute { .. } => 4,
        Event::Trip { .. } => 5,
        Event::Board { .. } => 6,
        Event::Place { moved: false, .. } => 7,
        Event::Place { moved: true, .. } => 8,
        Event::Leave { .. } => 9,
    };
    events.sort_by_key(|e| (e.at(), rank(e)));
    events
}

/// Hourly crossing counts at Kornidzor, with extra boundaries at every
/// checkpoint that is not on the hour (e.g. 23:59).
fn flows(checkpoints: &[Checkpoint], scale: f64) -> Vec<Event> {
    let mut points = vec![(instant(FLOW_START), 0)];
    points.extend(
        checkpoints
            .iter()
            .filter_map(|c| Some((c.observed_at.timestamp(), c.crossed?))),
    );
    add_estimates(&mut points, &DAILY, scale);
    let profile = Profile::build(&points, |t| CROSSING_BY_HOUR[local_hour(t)], true);
    let bounds = profile.bounds();
    let people = profile.counts();

    let mut vehicle_points = vec![(bounds[0], 0)];
    for c in checkpoints {
        if let Some(v) = c.vehicles {
            assert!(
                c.crossed.is_some(),
                "a vehicle count comes with a crossing count"
            );
            vehicle_points.push((c.observed_at.timestamp(), v));
        }
    }
    let vehicles = vehicle_counts(bounds, &people, &vehicle_points);

    bounds
        .windows(2)
        .enumerate()
        .map(|(j, w)| Event::Flow {
            center: CROSSING,
            start: utc(w[0]),
            end: utc(w[1]),
            people: (people[j + 1] - people[j]) as i32,
            vehicles: Some((vehicles[j + 1] - vehicles[j]) as i32),
        })
        .collect()
}

/// Adds documented estimates (scaled) to observed points, each clamped
/// between its neighbouring observations so that observations always win,
/// and sorts the points by time.
fn add_estimates(points: &mut Vec<(i64, i64)>, estimates: &[(&str, i64)], scale: f64) {
    let observed = points.clone();
    for &(at, value) in estimates {
        let t = instant(at);
        if observed.iter().any(|p| p.0 == t) {
            continue;
        }
        let before = observed.iter().filter(|p| p.0 < t).map(|p| p.1).max();
        let after = observed.iter().filter(|p| p.0 > t).map(|p| p.1).min();
        let value = scaled(value, scale)
            .max(before.unwrap_or(0))
            .min(after.unwrap_or(i64::MAX));
        points.push((t, value));
    }
    points.sort_unstable();
}

/// Cumulative vehicles at each boundary: between two vehicle counts in
/// proportion to the people who crossed (so the persons-per-vehicle ratio of
/// each stretch is the documented one: about 4.8, then about 12 on 30 Sep when
/// buses brought the last people), after the last count at 4.75 persons per
/// vehicle.
fn vehicle_counts(bounds: &[i64], people: &[i64], points: &[(i64, i64)]) -> Vec<i64> {
    let people_at = |t: i64| {
        let i = bounds
            .binary_search(&t)
            .expect("vehicle counts are at crossing checkpoints");
        people[i]
    };
    bounds
        .iter()
        .zip(people)
        .map(|(&t, &c)| {
            let k = points.partition_point(|p| p.0 <= t);
            let (t0, v0) = points[k - 1];
            let c0 = people_at(t0);
            match points.get(k) {
                None => v0 + ((c - c0) as f64 / PERSONS_PER_VEHICLE).round() as i64,
                Some(&(t1, v1)) => {
                    let c1 = people_at(t1);
                    let share = if c1 > c0 {
                        (c - c0) as f64 / (c1 - c0) as f64
                    } else {
                        (t - t0) as f64 / (t1 - t0) as f64
                    };
                    v0 + (share * (v1 - v0) as f64).round() as i64
                }
            }
        })
        .collect()
}

/// Sex figures at one checkpoint.
struct SexCheckpoint {
    at: i64,
    male: i64,
    female: i64,
    unknown: i64,
}

/// One registration per household, from 24 Sep to the last registered figure,
/// plus the corrections of the members registered without sex.
fn registrations(checkpoints: &[Checkpoint], scale: f64, rng: &mut ChaCha8Rng) -> Vec<Event> {
    let mut points = vec![(instant(REGISTRATION_START), 0)];
    points.extend(
        checkpoints
            .iter()
            .filter_map(|c| Some((c.observed_at.timestamp(), c.registered?))),
    );
    add_estimates(&mut points, &REGISTERED_DAILY, scale);
    let office_hours_from = instant(OFFICE_HOURS_FROM);
    let by_hour = |t: i64| {
        let hour = local_hour(t);
        if t < office_hours_from {
            REGISTRATION_BY_HOUR_SURGE[hour]
        } else {
            REGISTRATION_BY_HOUR_LATER[hour]
        }
    };
    // No taper: registration went on at a steady pace until the last figure.
    let profile = Profile::build(&points, by_hour, false);

    // Households between two checkpoints fill exactly the documented
    // difference: the last one is cut to the persons still missing.
    let mut skeletons: Vec<Skeleton> = Vec::new();
    for pair in points.windows(2) {
        let ((t0, r0), (t1, r1)) = (pair[0], pair[1]);
        let mut filled = 0;
        let mut last = t0 + 1;
        while filled < r1 - r0 {
            let size = households::size(rng).min((r1 - r0 - filled) as usize);
            let middle = (r0 + filled) as f64 + size as f64 / 2.0;
            let at = (profile.time_of(middle).floor() as i64)
                .clamp(t0 + 1, t1)
                .max(last);
            last = at;
            skeletons.push(households::skeleton(rng, at, size));
            filled += size as i64;
        }
    }

    let sexes: Vec<SexCheckpoint> = checkpoints
        .iter()
        .filter_map(|c| {
            Some(SexCheckpoint {
                at: c.observed_at.timestamp(),
                male: c.registered_male?,
                female: c.registered_female?,
                unknown: c.registered_unknown?,
            })
        })
        .collect();
    let corrections = match_sex_figures(&mut skeletons, &sexes, rng);
    choose_wounded(&mut skeletons, scaled(WOUNDED, scale), rng);

    let first_days_until = instant(FIRST_DAYS_UNTIL);
    let before_28_sep = instant("2023-09-28T00:00:00+04:00");
    let before_2_oct = instant("2023-10-02T00:00:00+04:00");
    let mut dresser = Dresser::new(rng);
    let mut events = Vec::with_capacity(skeletons.len() + corrections.len());
    let mut member_ids = Vec::with_capacity(skeletons.len());
    for skeleton in &skeletons {
        let arrived_at = local(skeleton.at);
        let moment = Moment {
            date: arrived_at.date_naive(),
            pregnancy_recorded: if skeleton.at <= first_days_until {
                PREGNANCY_RECORDED_FIRST_DAYS
            } else {
                1.0
            },
        };
        let dressed = dresser.dress(rng, skeleton, &moment);
        let centers = if skeleton.at < before_28_sep {
            CENTERS_UNTIL_27_SEP
        } else if skeleton.at < before_2_oct {
            CENTERS_28_SEP_TO_1_OCT
        } else {
            CENTERS_FROM_2_OCT
        };
        let center = households::pick(rng, centers);
        let origin_settlement = households::pick(rng, ORIGINS);
        let intended_destination = rng
            .random_bool(WITH_DESTINATION)
            .then(|| households::pick(rng, DESTINATIONS));
        let phone = rng.random_bool(HEADS_WITH_PHONE).then(|| {
            let prefix = households::pick(rng, MOBILE_PREFIXES);
            format!("+374{prefix}{:06}", rng.random_range(0..1_000_000))
        });
        let household = PlannedHousehold {
            id: households::uuid(rng),
            arrived_at,
            origin_settlement,
            intended_destination,
            phone,
            members: dressed,
        };
        member_ids.push((
            household.id,
            household
                .members
                .iter()
                .map(|m| m.id.expect("set"))
                .collect::<Vec<_>>(),
        ));
        events.push(Event::Register { center, household });
    }
    for (h, m, at) in corrections {
        let (household_id, members) = &member_ids[h];
        events.push(Event::SetSex {
            at: utc(at),
            household_id: *household_id,
            member_id: members[m],
            sex: skeletons[h].people[m].sex,
        });
    }
    events
}

/// Makes the sexes of the registered match every sex checkpoint exactly.
/// Members registered without sex are chosen before the first checkpoint and
/// corrected (at a random time) before the checkpoint where the unknown count
/// has dropped; in each stretch between checkpoints the other members'
/// sexes are then adjusted to the documented increase. Returns the
/// corrections: (household index, member index, instant).
fn match_sex_figures(
    skeletons: &mut [Skeleton],
    checkpoints: &[SexCheckpoint],
    rng: &mut ChaCha8Rng,
) -> Vec<(usize, usize, i64)> {
    let mut corrections = Vec::new();
    let Some(first) = checkpoints.first() else {
        return corrections;
    };

    // Members registered without sex, in the order they will be corrected.
    let mut unrecorded: Vec<(usize, usize)> = Vec::new();
    let candidates = skeletons.partition_point(|s| s.at <= first.at);
    let persons: usize = skeletons[..candidates].iter().map(|s| s.people.len()).sum();
    assert!(
        first.unknown as usize <= persons,
        "more unknowns than persons"
    );
    while unrecorded.len() < first.unknown as usize {
        let h = rng.random_range(0..candidates);
        let m = rng.random_range(0..skeletons[h].people.len());
        if !unrecorded.contains(&(h, m)) {
            skeletons[h].people[m].sex_unrecorded = true;
            unrecorded.push((h, m));
        }
    }

    let (mut start, mut from) = (0, i64::MIN);
    let (mut male_before, mut female_before, mut unknown_before) = (0, 0, first.unknown);
    for checkpoint in checkpoints {
        let end = skeletons.partition_point(|s| s.at <= checkpoint.at);
        let added_male = checkpoint.male - male_before;
        let added_female = checkpoint.female - female_before;
        // Corrections in this stretch, as male as the data allows.
        let resolved = (unknown_before - checkpoint.unknown) as usize;
        let fixed: Vec<(usize, usize)> = unrecorded.drain(..resolved).collect();
        let natural_male = fixed
            .iter()
            .filter(|&&(h, m)| skeletons[h].people[m].sex == Sex::Male)
            .count() as i64;
        let corrected_male =
            natural_male.clamp((resolved as i64 - added_female).max(0), added_male);
        for (i, &(h, m)) in fixed.iter().enumerate() {
            let person = &mut skeletons[h].people[m];
            person.sex = if (i as i64) < corrected_male {
                Sex::Male
            } else {
                Sex::Female
            };
            let at = rng.random_range(from.max(skeletons[h].at) + 1..=checkpoint.at);
            corrections.push((h, m, at));
        }
        let mut people: Vec<&mut Person> = skeletons[start..end]
            .iter_mut()
            .flat_map(|s| s.people.iter_mut())
            .collect();
        households::adjust_sexes(rng, &mut people, (added_male - corrected_male) as usize);
        (male_before, female_before, unknown_before) =
            (checkpoint.male, checkpoint.female, checkpoint.unknown);
        (start, from) = (end, checkpoint.at);
    }
    corrections
}

/// Marks `count` persons (aged 8 and over, mostly men) as wounded, most of
/// them among the first registered.
fn choose_wounded(skeletons: &mut [Skeleton], count: i64, rng: &mut ChaCha8Rng) {
    let early_until = instant(WOUNDED_EARLY_UNTIL);
    let early = (count as f64 * WOUNDED_EARLY_SHARE).round() as usize;
    let mut pools: [Vec<(f64, usize, usize)>; 2] = [Vec::new(), Vec::new()];
    for (h, skeleton) in skeletons.iter().enumerate() {
        let pool = usize::from(skeleton.at >= early_until);
        for (m, person) in skeleton.people.iter().enumerate() {
            if person.age >= 8 {
                let weight = if person.sex == Sex::Male { 1.0 } else { 0.45 };
                pools[pool].push((rng.random::<f64>() * weight, h, m));
            }
        }
    }
    let wanted = [early, (count as usize).saturating_sub(early)];
    for (pool, wanted) in pools.iter_mut().zip(wanted) {
        // The largest random keys: a weighted draw without replacement.
        pool.sort_by(|a, b| b.0.total_cmp(&a.0));
        for &(_, h, m) in pool.iter().take(wanted) {
            skeletons[h].people[m].wounded = true;
        }
    }
}
