//! The plan against the documented figures and the registration rules.

use std::collections::{HashMap, HashSet};
use std::sync::OnceLock;

use chrono::{DateTime, FixedOffset, NaiveDate, TimeDelta, Utc};
use uuid::Uuid;

use super::*;
use crate::age_bands::AgeBand;
use crate::provinces::Provinces;
use crate::registration::{self, Relationship, Sex};

/// The full-scale plan with the default seed, built once for all tests.
fn full() -> &'static [Event] {
    static PLAN: OnceLock<Vec<Event>> = OnceLock::new();
    PLAN.get_or_init(|| plan(&Options::default()))
}

fn households(events: &[Event]) -> impl Iterator<Item = (&'static str, &PlannedHousehold)> {
    events.iter().filter_map(|e| match e {
        Event::Register { center, household } => Some((*center, household)),
        _ => None,
    })
}

fn local(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .unwrap()
        .with_timezone(&Utc)
}

fn yerevan() -> FixedOffset {
    FixedOffset::east_opt(4 * 3600).unwrap()
}

#[derive(Debug, Default, Clone, Copy, PartialEq)]
struct Totals {
    crossed: i64,
    vehicles: i64,
    registered: i64,
    male: i64,
    female: i64,
    unknown: i64,
}

/// Replays `events` and reads the totals at each of `times` (ascending):
/// everything with an instant at or before the time counts.
fn replay(events: &[Event], times: &[DateTime<Utc>]) -> Vec<Totals> {
    let mut totals = Totals::default();
    let mut unknown: HashSet<Uuid> = HashSet::new();
    let mut out = Vec::new();
    let mut next = 0;
    for &time in times {
        while next < events.len() && events[next].at() <= time {
            match &events[next] {
                Event::Flow {
                    center,
                    people,
                    vehicles,
                    ..
                } => {
                    assert_eq!(*center, "KORNIDZOR");
                    totals.crossed += i64::from(*people);
                    totals.vehicles += i64::from(vehicles.unwrap_or(0));
                }
                Event::Register { household, .. } => {
                    for m in &household.members {
                        totals.registered += 1;
                        match m.sex {
                            Sex::Male => totals.male += 1,
                            Sex::Female => totals.female += 1,
                            _ => {
                                totals.unknown += 1;
                                unknown.insert(m.id.unwrap());
                            }
                        }
                    }
                }
                Event::SetSex { member_id, sex, .. } => {
                    assert!(unknown.remove(member_id), "correction of a recorded sex");
                    totals.unknown -= 1;
                    match sex {
                        Sex::Male => totals.male += 1,
                        Sex::Female => totals.female += 1,
                        _ => panic!("a correction records male or female"),
                    }
                }
                // Checked by their own tests below.
                Event::Place { .. }
                | Event::Leave { .. }
                | Event::Receive { .. }
                | Event::Distribute { .. }
                | Event::Trip { .. }
                | Event::Board { .. } => {}
            }
            next += 1;
        }
        out.push(totals);
    }
    out
}

/// Checks every figure of `checkpoints` against a replay of `events`.
fn assert_reproduces(events: &[Event], checkpoints: &[Checkpoint]) {
    let times: Vec<DateTime<Utc>> = checkpoints
        .iter()
        .map(|c| c.observed_at.with_timezone(&Utc))
        .collect();
    for (c, t) in checkpoints.iter().zip(replay(events, &times)) {
        let at = c.observed_at;
        let check = |what: &str, expected: Option<i64>, actual: i64| {
            if let Some(expected) = expected {
                assert_eq!(actual, expected, "{what} at {at}");
            }
        };
        check("crossed", c.crossed, t.crossed);
        check("vehicles", c.vehicles, t.vehicles);
        check("registered", c.registered, t.registered);
        check("registered male", c.registered_male, t.male);
        check("registered female", c.registered_female, t.female);
        check("registered without sex", c.registered_unknown, t.unknown);
    }
}

fn age_on_arrival(member: &registration::NewMember, arrived: NaiveDate) -> i32 {
    match (member.birth_date, member.estimated_age) {
        (Some(born), _) => arrived.years_since(*born).unwrap() as i32,
        (None, Some(age)) => age,
        (None, None) => panic!("every planned member has an age"),
    }
}

#[test]
fn the_embedded_observations_parse() {
    let observations = observations();
    assert_eq!(observations.len(), 30);
    let first = &observations[0];
    assert_eq!(first.observed_at, local("2023-09-24T22:00:00+04:00"));
    assert_eq!(first.crossed, Some(1_050));
    assert_eq!(first.registered, None);
    let last = observations.last().unwrap();
    assert_eq!(last.registered, Some(101_848));
    assert_eq!(last.registered_male, Some(48_964));
    assert_eq!(last.registered_female, Some(52_884));
    assert!(observations
        .iter()
        .all(|o| o.observed_at.offset() == &yerevan() && !o.source.is_empty()));
    assert!(observations
        .windows(2)
        .all(|w| w[0].observed_at < w[1].observed_at));
}

#[test]
fn centers_are_the_documented_places() {
    let provinces = Provinces::new(&[]).unwrap();
    let centers = centers();
    let codes: Vec<&str> = centers.iter().map(|c| c.code).collect();
    assert_eq!(codes, ["KORNIDZOR", "GORIS", "VAYK", "PARAKAR", "YEREVAN"]);
    assert_eq!(centers[0].kind, "border_crossing");
    assert!(centers[1..].iter().all(|c| c.kind == "registration_center"));
    for c in &centers {
        assert!(provinces.contains(c.province), "{}", c.code);
        assert!((38.8..41.3).contains(&c.latitude) && (43.4..46.7).contains(&c.longitude));
    }
    let planned: HashSet<&str> = households(full()).map(|(center, _)| center).collect();
    assert!(planned.iter().all(|c| codes.contains(c)));
}

#[test]
fn every_observation_is_reproduced_exactly_at_full_scale() {
    // At scale 1 the checkpoints are the observations themselves...
    let checkpoints = checkpoints(1.0);
    for (c, o) in checkpoints.iter().zip(observations()) {
        assert_eq!(c.crossed, o.crossed);
        assert_eq!(c.vehicles, o.vehicles);
        assert_eq!(c.registered, o.registered);
        assert_eq!(c.registered_male, o.registered_male);
        assert_eq!(c.registered_female, o.registered_female);
    }
    // ...with the three registered persons whose sex was not recorded.
    let unknown: Vec<Option<i64>> = checkpoints
        .iter()
        .filter_map(|c| c.registered_male.map(|_| c.registered_unknown))
        .collect();
    assert_eq!(unknown, [Some(3), Some(0), Some(0)]);
    assert_reproduces(full(), &checkpoints);
}

#[test]
fn three_members_registered_without_sex_are_corrected_by_1_october() {
    let registered_at: HashMap<Uuid, DateTime<Utc>> = households(full())
        .flat_map(|(_, h)| {
            h.members
                .iter()
                .filter(|m| m.sex == Sex::Unknown)
                .map(|m| (m.id.unwrap(), h.arrived_at.with_timezone(&Utc)))
        })
        .collect();
    assert_eq!(registered_at.len(), 3);
    let corrections: Vec<(&DateTime<Utc>, &Uuid)> = full()
        .iter()
        .filter_map(|e| match e {
            Event::SetSex { at, member_id, .. } => Some((at, member_id)),
            _ => None,
        })
        .collect();
    assert_eq!(corrections.len(), 3);
    let (briefing, next) = (
        local("2023-09-28T19:00:00+04:00"),
        local("2023-10-01T15:00:00+04:00"),
    );
    for (at, member) in corrections {
        assert!(registered_at[member] <= briefing);
        assert!(*at > briefing && *at <= next, "{at}");
    }
}

#[test]
fn scaled_plans_reproduce_the_scaled_figures() {
    for scale in [0.05, 0.01] {
        let checkpoints = checkpoints(scale);
        // Every figure is the observation times the scale, rounded; only the
        // female count may differ by one so that the sexes add up.
        for (c, o) in checkpoints.iter().zip(observations()) {
            let scaled = |v: Option<i64>| v.map(|v| (v as f64 * scale).round() as i64);
            assert_eq!(c.crossed, scaled(o.crossed));
            assert_eq!(c.vehicles, scaled(o.vehicles));
            assert_eq!(c.registered, scaled(o.registered));
            assert_eq!(c.registered_male, scaled(o.registered_male));
            if let (Some(f), Some(expected)) = (c.registered_female, scaled(o.registered_female)) {
                assert!((f - expected).abs() <= 1, "female {f} vs {expected}");
                assert_eq!(
                    c.registered.unwrap(),
                    c.registered_male.unwrap() + f + c.registered_unknown.unwrap()
                );
            }
        }
        let events = plan(&Options { scale, seed: 2023 });
        assert_reproduces(&events, &checkpoints);
    }
}

#[test]
fn tiny_scales_still_give_a_consistent_plan() {
    for scale in [0.001, 0.0003] {
        let checkpoints = checkpoints(scale);
        let events = plan(&Options { scale, seed: 1 });
        assert_reproduces(&events, &checkpoints);
    }
}

#[test]
#[should_panic(expected = "finite and positive")]
fn a_zero_scale_is_refused() {
    plan(&Options {
        scale: 0.0,
        seed: 1,
    });
}

#[test]
fn headline_figures_hold() {
    let flows: Vec<(DateTime<Utc>, DateTime<Utc>, i64)> = full()
        .iter()
        .filter_map(|e| match e {
            Event::Flow {
                start, end, people, ..
            } => Some((*start, *end, i64::from(*people))),
            _ => None,
        })
        .collect();
    let crossed_by =
        |t: DateTime<Utc>| -> i64 { flows.iter().filter(|f| f.1 <= t).map(|f| f.2).sum() };

    // First arrivals on 24 September, local time.
    let first = flows.iter().find(|f| f.2 > 0).unwrap();
    assert_eq!(
        first.0.with_timezone(&yerevan()).date_naive(),
        NaiveDate::from_ymd_opt(2023, 9, 24).unwrap()
    );
    // More than 100,000 within 7 days of the first arrival.
    assert!(crossed_by(first.0 + TimeDelta::days(7)) > 100_000);
    // Over three quarters of the 120,000 by the end of 29 September.
    assert!(crossed_by(local("2023-09-29T23:59:00+04:00")) > 90_000);
    // The peak calendar day is 27 September (26,600 documented).
    let mut by_day: HashMap<NaiveDate, i64> = HashMap::new();
    for (start, _, people) in &flows {
        *by_day
            .entry(start.with_timezone(&yerevan()).date_naive())
            .or_default() += people;
    }
    let (peak, peak_people) = by_day.iter().max_by_key(|(_, p)| **p).unwrap();
    assert_eq!(*peak, NaiveDate::from_ymd_opt(2023, 9, 27).unwrap());
    assert_eq!(*peak_people, 26_600);
    assert_eq!(
        by_day[&NaiveDate::from_ymd_opt(2023, 9, 26).unwrap()],
        22_800
    );

    let (mut households_count, mut persons, mut female) = (0, 0, 0);
    for (_, h) in households(full()) {
        households_count += 1;
        persons += h.members.len();
        female += h.members.iter().filter(|m| m.sex == Sex::Female).count();
    }
    let mean = persons as f64 / households_count as f64;
    assert!((3.6..=4.2).contains(&mean), "mean household size {mean}");
    let female_share = female as f64 / persons as f64;
    assert!((0.51..=0.53).contains(&female_share), "{female_share}");
}

#[test]
fn flows_are_hourly_windows_ending_at_every_checkpoint() {
    let flows: Vec<(DateTime<Utc>, DateTime<Utc>, i32, i32)> = full()
        .iter()
        .filter_map(|e| match e {
            Event::Flow {
                start,
                end,
                people,
                vehicles,
                ..
            } => Some((*start, *end, *people, vehicles.unwrap())),
            _ => None,
        })
        .collect();
    assert_eq!(flows[0].0, local("2023-09-24T13:00:00+04:00"));
    assert_eq!(flows.last().unwrap().1, local("2023-10-10T23:59:00+04:00"));
    for w in flows.windows(2) {
        assert_eq!(w[0].1, w[1].0, "windows are contiguous");
    }
    for f in &flows {
        assert!(f.1 > f.0 && f.1 - f.0 <= TimeDelta::hours(1));
        assert!(f.2 >= 0 && f.3 >= 0);
    }
    let ends: HashSet<DateTime<Utc>> = flows.iter().map(|f| f.1).collect();
    for o in observations() {
        if o.crossed.is_some() || o.vehicles.is_some() {
            assert!(ends.contains(&o.observed_at.with_timezone(&Utc)));
        }
    }
    // About 4.8 persons per vehicle until 28 Sep 20:00; about 12 (buses) on
    // the last full day.
    let ratio = |from: &str, to: &str| {
        let (from, to) = (local(from), local(to));
        let (p, v) = flows
            .iter()
            .filter(|f| f.0 >= from && f.1 <= to)
            .fold((0, 0), |(p, v), f| (p + f.2, v + f.3));
        f64::from(p) / f64::from(v)
    };
    let early = ratio("2023-09-25T00:00:00+04:00", "2023-09-28T20:00:00+04:00");
    assert!((4.6..5.0).contains(&early), "{early}");
    let buses = ratio("2023-09-29T20:00:00+04:00", "2023-09-30T22:00:00+04:00");
    assert!((10.0..14.0).contains(&buses), "{buses}");
    // Busier by day than at night (where the figures allow it: the night of
    // 26-27 Sep was busier than the next day).
    let hour = |h: u32| {
        let start = local(&format!("2023-09-28T{h:02}:00:00+04:00"));
        flows.iter().find(|f| f.0 == start).unwrap().2
    };
    assert!(hour(12) > hour(3));
}

#[test]
fn registrations_run_at_about_1000_an_hour_at_the_peak() {
    let mut by_hour: HashMap<DateTime<Utc>, usize> = HashMap::new();
    for (_, h) in households(full()) {
        let t = h.arrived_at.with_timezone(&Utc);
        let hour = t - TimeDelta::seconds(t.timestamp().rem_euclid(3600));
        *by_hour.entry(hour).or_default() += h.members.len();
    }
    let day = |h: u32| {
        by_hour
            .get(&local(&format!("2023-09-28T{h:02}:00:00+04:00")))
            .copied()
            .unwrap_or(0)
    };
    let peak = (0..24).map(day).max().unwrap();
    assert!((800..=1_500).contains(&peak), "peak hour on 28 Sep: {peak}");
    assert!(day(12) > day(4));
    let first = households(full()).next().unwrap().1.arrived_at;
    assert_eq!(
        first.date_naive(),
        NaiveDate::from_ymd_opt(2023, 9, 24).unwrap()
    );
    let last = households(full()).last().unwrap().1.arrived_at;
    assert!(last <= local("2023-10-20T20:00:00+04:00"));
    assert!(last > local("2023-10-19T00:00:00+04:00"));
}

#[test]
fn every_household_passes_the_registration_rules() {
    let provinces = Provinces::new(&[]).unwrap();
    for events in [
        full(),
        &plan(&Options {
            scale: 0.01,
            seed: 9,
        })[..],
    ] {
        for (center, h) in households(events) {
            let new = h.to_new(Uuid::nil());
            if let Err(error) = registration::validate_new(&new, &provinces) {
                panic!("household {} at {center} is invalid: {error:?}", h.id);
            }
        }
    }
}

#[test]
fn households_are_consistent_families() {
    let mut ids = HashSet::new();
    let mut sizes = HashSet::new();
    for (_, h) in households(full()) {
        assert!(ids.insert(h.id));
        sizes.insert(h.members.len());
        let arrived = h.arrived_at.date_naive();
        let head = &h.members[0];
        assert_eq!(head.relationship, Relationship::Head);
        let age = |m| age_on_arrival(m, arrived);
        let head_age = age(head);
        let spouse = h
            .members
            .iter()
            .find(|m| m.relationship == Relationship::Spouse);
        for m in &h.members {
            assert!(ids.insert(m.id.unwrap()));
            assert_eq!(m.family_name, head.family_name, "one family name");
            if let Some(born) = m.birth_date {
                assert!(*born <= arrived);
            }
            let a = age(m);
            assert!((0..=120).contains(&a));
            match m.relationship {
                Relationship::Child => {
                    assert!(a + 15 <= head_age, "child {a}, head {head_age}");
                    if let Some(s) = spouse {
                        assert!(a + 15 <= age(s));
                    }
                }
                Relationship::Grandchild => assert!(a + 30 <= head_age),
                Relationship::Parent => assert!(a >= head_age + 15),
                Relationship::Spouse => assert!(a >= 18),
                _ => {}
            }
            if a < 18 {
                assert!(m.patronymic.is_none());
            }
            let latin = m.name_latin.as_deref().unwrap();
            assert!(latin.is_ascii() && latin.ends_with(family_latin(&m.family_name)));
        }
        // Sex adjustments to the documented figures never break a couple.
        if let Some(spouse) = spouse {
            assert_ne!(spouse.sex, head.sex, "household {}", h.id);
        }
        if let Some(phone) = &h.phone {
            assert!(phone.starts_with("+3749") && phone.len() == 12, "{phone}");
        }
    }
    assert_eq!(sizes.iter().min(), Some(&1));
    assert_eq!(sizes.iter().max(), Some(&11));
}

fn family_latin(armenian: &str) -> &'static str {
    names::FAMILY_NAMES
        .iter()
        .find(|(a, _)| *a == armenian)
        .map(|(_, l)| *l)
        .unwrap()
}

#[test]
fn the_population_looks_like_the_documented_one() {
    let mut persons = 0.0;
    let mut count: HashMap<&str, f64> = HashMap::new();
    let mut need: HashMap<String, f64> = HashMap::new();
    let mut centers: HashMap<&str, f64> = HashMap::new();
    let mut origins: HashMap<&str, f64> = HashMap::new();
    let mut destinations: HashMap<Option<&str>, f64> = HashMap::new();
    let (mut pregnant_first_days, mut first_days) = (0.0, 0.0);
    let mut wounded_early = 0.0;
    let first_days_until = DateTime::parse_from_rfc3339("2023-09-28T19:00:00+04:00").unwrap();
    let early_until = DateTime::parse_from_rfc3339("2023-09-27T00:00:00+04:00").unwrap();
    for (center, h) in households(full()) {
        *centers.entry(center).or_default() += 1.0;
        *origins.entry(h.origin_settlement).or_default() += 1.0;
        *destinations.entry(h.intended_destination).or_default() += 1.0;
        let arrived = h.arrived_at.date_naive();
        for m in &h.members {
            persons += 1.0;
            let age = age_on_arrival(m, arrived);
            let band = AgeBand::of_person(m.birth_date.map(Into::into), m.estimated_age, arrived);
            *count.entry(band.label()).or_default() += 1.0;
            if age < 18 {
                *count.entry("under 18").or_default() += 1.0;
            }
            if age <= 5 {
                *count.entry("0-5").or_default() += 1.0;
            }
            if age > 65 {
                *count.entry("over 65").or_default() += 1.0;
            }
            if m.estimated_age.is_some() {
                *count.entry("estimated age").or_default() += 1.0;
            }
            if m.document.is_none() {
                *count.entry("no document").or_default() += 1.0;
            }
            for code in &m.needs {
                assert!(crate::needs::is_known(code), "{code}");
                *need.entry(code.clone()).or_default() += 1.0;
                if code == "SM-WD" && h.arrived_at < early_until {
                    wounded_early += 1.0;
                }
                if code == "WR-PL" {
                    assert_eq!(m.sex, Sex::Female);
                }
            }
            if h.arrived_at <= first_days_until {
                first_days += 1.0;
                if m.needs.iter().any(|c| c == "WR-PL") {
                    pregnant_first_days += 1.0;
                }
            }
        }
    }
    let share =
        |map: &HashMap<&str, f64>, key: &str| map.get(key).copied().unwrap_or(0.0) / persons;
    let between = |what: &str, value: f64, lo: f64, hi: f64| {
        assert!((lo..=hi).contains(&value), "{what}: {value:.4}");
    };
    between("under 18", share(&count, "under 18"), 0.28, 0.34);
    between("aged 0-5", share(&count, "0-5"), 0.065, 0.10);
    between("over 65", share(&count, "over 65"), 0.15, 0.21);
    between("estimated age", share(&count, "estimated age"), 0.01, 0.05);
    between("no document", share(&count, "no document"), 0.03, 0.12);
    assert_eq!(count.get("unknown"), None, "every member has an age band");
    let need_share = |code: &str| need.get(code).copied().unwrap_or(0.0) / persons;
    between("disability", need_share("DS"), 0.017, 0.025);
    between("serious medical", need_share("SM"), 0.007, 0.013);
    assert_eq!(need["SM-WD"], 337.0);
    assert!(wounded_early >= 0.75 * 337.0);
    between(
        "pregnant or lactating (count)",
        need["WR-PL"],
        2_000.0,
        3_000.0,
    );
    between(
        "pregnant or lactating, first days",
        pregnant_first_days,
        100.0,
        170.0,
    );
    assert!(first_days == 55_248.0);
    assert!(need.get("SC-UC").copied().unwrap_or(0.0) < 40.0);
    assert!(need["ER"] > 0.0 && need["SP"] > 0.0 && need["WR"] > 0.0);

    let households_count: f64 = centers.values().sum();
    between(
        "registered at Goris",
        centers["GORIS"] / households_count,
        0.78,
        0.9,
    );
    assert!(centers["YEREVAN"] > 0.0 && centers["PARAKAR"] > 0.0 && centers["VAYK"] > 0.0);
    between(
        "from Stepanakert",
        origins["Ստեփանակերտ"] / households_count,
        0.33,
        0.41,
    );
    let to = |code| destinations.get(&Some(code)).copied().unwrap_or(0.0) / households_count;
    between("to Yerevan", to("AM-ER"), 0.32, 0.40);
    between("to Syunik", to("AM-SU"), 0.13, 0.17);
    assert!(destinations[&None] > 0.0);
}

#[test]
fn the_same_seed_gives_the_same_plan_and_another_seed_other_people() {
    assert_eq!(full(), plan(&Options::default()));
    let options = Options {
        scale: 0.05,
        seed: 11,
    };
    let a = plan(&options);
    assert_eq!(a, plan(&options));
    let b = plan(&Options {
        seed: 12,
        ..options
    });
    assert_ne!(a, b);
    let names = |events: &[Event]| -> Vec<String> {
        households(events)
            .map(|(_, h)| h.members[0].name_latin.clone().unwrap())
            .collect()
    };
    assert_ne!(names(&a), names(&b));
    assert_reproduces(&b, &checkpoints(0.05));
}

#[test]
fn events_are_in_time_order() {
    assert!(full().windows(2).all(|w| w[0].at() <= w[1].at()));
}

#[test]
fn state_accommodation_is_exactly_as_documented_at_full_scale() {
    let planned = super::nk2023::accommodation_planned(full(), 1.0);
    let snapshots = super::nk2023::accommodation_snapshots(1.0);
    let documented_totals: Vec<i64> = super::observations()
        .into_iter()
        .filter_map(|o| o.state_accommodation)
        .collect();
    assert_eq!(planned.len(), 10);
    for ((at, persons), (snapshot, total)) in
        planned.iter().zip(snapshots.iter().zip(documented_totals))
    {
        assert_eq!(*at, snapshot.observed_at);
        assert_eq!(persons.values().sum::<i64>(), total, "total at {at}");
        for (province, documented) in &snapshot.documented {
            assert_eq!(
                persons.get(province).copied().unwrap_or(0),
                *documented,
                "{province} at {at}"
            );
        }
    }
    // Every placement follows its household's registration; every household
    // leaves at most once, after it was placed.
    let mut registered = HashSet::new();
    let mut placed = HashSet::new();
    for event in full() {
        match event {
            Event::Register { household, .. } => {
                registered.insert(household.id);
            }
            Event::Place {
                household_id,
                placement_id,
                ..
            } => {
                assert!(registered.contains(household_id));
                placed.insert(*placement_id);
            }
            Event::Leave { placement_id, .. } => assert!(placed.remove(placement_id)),
            _ => {}
        }
    }
}

#[test]
fn tiny_scales_still_give_an_accommodation_plan() {
    for scale in [0.01, 0.001] {
        let events = plan(&Options { scale, seed: 3 });
        let planned = super::nk2023::accommodation_planned(&events, scale);
        assert_eq!(planned.len(), 10);
    }
}

#[test]
fn every_family_gets_fuel_cash_reaches_the_documented_persons_and_the_parcels_are_handed_out() {
    use super::aid;
    let mut registered: HashMap<Uuid, (&str, usize)> = HashMap::new();
    let mut fuel = HashSet::new();
    let mut cash_persons = 0;
    let mut parcels = 0;
    let mut stock: HashMap<(&str, &str), i64> = HashMap::new();
    let paid_by: DateTime<Utc> = aid::CASH_PAID_BY.0.parse().unwrap();
    let cash_from: DateTime<Utc> = aid::CASH_FROM.parse().unwrap();
    for event in full() {
        match event {
            Event::Register { center, household } => {
                registered.insert(household.id, (center, household.members.len()));
            }
            Event::Receive {
                center,
                item,
                quantity,
                ..
            } => {
                *stock.entry((center, item)).or_default() += quantity;
            }
            Event::Distribute {
                household_id,
                center,
                item,
                quantity,
                at,
                ..
            } => {
                let (registered_at, persons) = registered[household_id];
                assert_eq!(
                    *center, registered_at,
                    "handed out where the family registered"
                );
                let level = stock.entry((center, item)).or_default();
                *level -= quantity;
                assert!(*level >= 0, "{item} at {center} would run out");
                match *item {
                    aid::FUEL => {
                        assert_eq!(*quantity, aid::FUEL_PER_HOUSEHOLD);
                        assert!(fuel.insert(*household_id), "fuel twice");
                    }
                    aid::CASH => {
                        assert_eq!(*quantity, aid::CASH_PER_PERSON * persons as i64);
                        assert!(*at >= cash_from && *at <= paid_by);
                        cash_persons += persons as i64;
                    }
                    _ => {
                        assert_eq!(*item, aid::FOOD);
                        assert_eq!(
                            *quantity,
                            (persons as i64 + 3) / 4,
                            "one parcel per 4 people"
                        );
                        parcels += quantity;
                    }
                }
            }
            _ => {}
        }
    }
    assert_eq!(fuel.len(), registered.len());
    assert_eq!(cash_persons, 95_200);
    assert_eq!(parcels, aid::FOOD_PARCELS);
}

#[test]
fn families_placed_by_the_state_ride_a_bus_that_never_overfills() {
    let mut sizes: HashMap<Uuid, i64> = HashMap::new();
    let mut trips: HashMap<Uuid, (i64, i32, DateTime<Utc>)> = HashMap::new();
    let mut boarded: HashMap<Uuid, DateTime<Utc>> = HashMap::new();
    let mut placed = 0;
    for event in full() {
        match event {
            Event::Register { household, .. } => {
                sizes.insert(household.id, household.members.len() as i64);
            }
            Event::Trip {
                trip_id, seats, at, ..
            } => {
                trips.insert(*trip_id, (0, *seats, *at));
            }
            Event::Board {
                trip_id,
                household_id,
                at,
                ..
            } => {
                let trip = trips.get_mut(trip_id).expect("the trip comes first");
                trip.0 += sizes[household_id];
                assert!(trip.0 <= i64::from(trip.1), "a bus overfills");
                assert_eq!(*at, trip.2);
                assert!(
                    boarded.insert(*household_id, *at).is_none(),
                    "a family rides twice"
                );
            }
            Event::Place {
                household_id,
                moved: false,
                at,
                ..
            } => {
                placed += 1;
                assert!(
                    boarded[household_id] <= *at,
                    "the bus arrives after the check-in"
                );
            }
            _ => {}
        }
    }
    assert_eq!(boarded.len(), placed);
}
