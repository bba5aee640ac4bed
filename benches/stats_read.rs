//! Statistics read benchmark: seeds N registered persons (households of 1 to
//! 7, spread over 30 days and 5 centers, through the registration domain code
//! so the aggregates are maintained as in production), then their aid, also
//! through the domain code, and measures latency of the dashboard queries
//! over HTTP with concurrent clients.
//!
//! The aid: 6 organizations (2 of them government, whose sites are
//! state-provided accommodation); 200 sites over the 6 destination provinces,
//! with beds for twice the persons in all, half of them with a floor area (2
//! to 8 m² per person expected at the end, so some below Sphere); a
//! food parcel (10,000 kcal; 1 per person per 3 days) and fuel (5 liters per
//! household, once) with those entitlements, and stock of both at every
//! center before the first arrival; then, per household, drawn
//! deterministically: 60% placed at a site of their intended destination 2 to
//! 8 hours after arrival (a fifth of them checked out 1 to 21 days later), 70%
//! given food 1 to 3 times in the following days, 30% given fuel once, 25%
//! boarded on a 50-seat bus from their center (the next 17:00 departure),
//! applied in time order in transactions of 5,000 acts (the aid of some
//! 2,000 households). Endpoints measured: the summary, arrivals,
//! demographics and needs, coverage, and occupancy per province and per site.
//!
//!   cargo bench --bench stats_read -- --persons 100000
//!   cargo bench --bench stats_read -- --persons 1000000 --database postgres://postgres@127.0.0.1/refuge_bench_stats
//!
//! A PostgreSQL database named in --database (or a SQLite file named in
//! --sqlite) is dropped and created afresh, unless --reuse finds persons in
//! it: then it is measured as an earlier run left it (after a migration, say).
//! A benchmark, not a test: it measures and prints, it asserts nothing about speed.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeDelta, Utc};
use clap::Parser;
use diesel::{Connection, RunQueryDsl};
use refuge::app::Application;
use refuge::auth::CenterScope;
use refuge::config::Settings;
use refuge::db::audit::Actor;
use refuge::db::{Db, DbConnection, Unit};
use refuge::distributions::{self, NewDistribution};
use refuge::entitlements::{self, Basis, NewEntitlement};
use refuge::error::ApiError;
use refuge::housing::{self, Checkout, CheckoutReason, NewPlacement, NewSite, SiteKind};
use refuge::http::paging::PageQuery;
use refuge::http::time::Timestamp;
use refuge::organizations::{self, NewOrganization, OrganizationKind};
use refuge::provinces::Provinces;
use refuge::registration::{self, ListQuery, NewHousehold};
use refuge::stock::{self, NewItem, NewReceipt, Sector};
use refuge::transport::{self, NewBoarding, NewTrip};
use secrecy::SecretString;
use serde_json::json;
use uuid::Uuid;

#[derive(Parser, Debug)]
struct Args {
    /// Registered persons to seed.
    #[arg(long, default_value_t = 100_000)]
    persons: usize,
    /// PostgreSQL database to (re)create and use; SQLite in a temp dir by default.
    #[arg(long)]
    database: Option<String>,
    /// SQLite file to use (and keep) instead of one in a temp dir.
    #[arg(long)]
    sqlite: Option<std::path::PathBuf>,
    /// Measure the database as an earlier run left it, if it holds anyone:
    /// no drop, no seeding (seeding 1M persons' aid on PostgreSQL takes half
    /// an hour).
    #[arg(long)]
    reuse: bool,
    /// Requests per endpoint.
    #[arg(long, default_value_t = 2_000)]
    requests: usize,
    /// Concurrent clients.
    #[arg(long, default_value_t = 4)]
    clients: usize,
    /// Measure only the endpoints whose names contain this (say, for a
    /// profile of one).
    #[arg(long)]
    only: Option<String>,
    /// cargo bench passes --bench; ignored.
    #[arg(long, hide = true)]
    bench: bool,
}

const PASSWORD: &str = "benchmark admin lantern 2023";
const CENTERS: [&str; 5] = ["KORNIDZOR", "GORIS", "VAYK", "PARAKAR", "YEREVAN"];
const ORIGINS: [&str; 8] = [
    "Ստեփանակերտ",
    "Մարտակերտ",
    "Ասկերան",
    "Մարտունի",
    "Շուշի",
    "Հադրութ",
    "Քարվաճառ",
    "Բերդաձոր",
];
const DESTINATIONS: [&str; 6] = ["AM-ER", "AM-SU", "AM-KT", "AM-AR", "AM-VD", "AM-GR"];

/// A connection to the `postgres` database of the server `url` names, and
/// the name of the database there that `url` names. The parameters after
/// the name (`?sslmode=disable`) are the server's.
fn postgres_admin(url: &str) -> (diesel::PgConnection, &str) {
    let (server, name) = url.rsplit_once('/').expect("postgres://.../DATABASE");
    let (name, parameters) = name.split_at(name.find('?').unwrap_or(name.len()));
    let admin = diesel::PgConnection::establish(&format!("{server}/postgres{parameters}"))
        .expect("postgres");
    (admin, name)
}

/// Recreates the PostgreSQL database named by `url`.
fn fresh_postgres(url: &str) {
    let (mut admin, name) = postgres_admin(url);
    diesel::sql_query(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .execute(&mut admin)
        .unwrap();
    diesel::sql_query(format!(
        "CREATE DATABASE {name} ENCODING 'UTF8' TEMPLATE template0"
    ))
    .execute(&mut admin)
    .unwrap();
}

/// Whether the database of `settings` exists and holds persons: what
/// `--reuse` measures as it is.
fn seeded_before(args: &Args, settings: &Settings) -> bool {
    match (&args.database, &args.sqlite) {
        (Some(url), _) => {
            // (Its name without the URL's parameters: with them, no database
            // was ever found and a 1M database was seeded again, 25 minutes.)
            let (mut admin, name) = postgres_admin(url);
            let found: Vec<Named> = diesel::sql_query(format!(
                "SELECT datname AS name FROM pg_database WHERE datname = '{name}'"
            ))
            .load(&mut admin)
            .unwrap();
            if found.is_empty() {
                return false;
            }
        }
        (None, Some(file)) if file.exists() => {}
        (None, _) => return false,
    }
    let db = Db::open(&settings.database).unwrap();
    let mut conn = db.connection_for_setup().unwrap();
    let persons: Vec<Count> = diesel::sql_query("SELECT COUNT(*) AS n FROM persons")
        .load(&mut *conn)
        .unwrap();
    persons.first().is_some_and(|c| c.n > 0)
}

#[derive(diesel::QueryableByName)]
struct Named {
    #[diesel(sql_type = diesel::sql_types::Text)]
    name: String,
}

#[derive(diesel::QueryableByName)]
struct Count {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

/// The site whose occupancy the benchmark reads (the first of Syunik's).
fn measured_site(settings: &Settings) -> Uuid {
    let db = Db::open(&settings.database).unwrap();
    let mut conn = db.connection_for_setup().unwrap();
    let site: Vec<Named> =
        diesel::sql_query("SELECT id AS name FROM sites WHERE code = 'SITE-001'")
            .load(&mut *conn)
            .unwrap();
    site.first().expect("site SITE-001").name.parse().unwrap()
}

fn settings(args: &Args, dir: &std::path::Path) -> Settings {
    let mut settings = Settings::load(None).expect("settings");
    settings.server.port = 0;
    settings.database.url = SecretString::from(args.database.clone().unwrap_or_else(|| {
        let file = args.sqlite.clone().unwrap_or_else(|| dir.join("bench.db"));
        format!("sqlite://{}", file.display())
    }));
    settings.database.pool_size = 16;
    // The seeding connections write beside the server, whose background
    // task writes the match keys of the persons just seeded: at 1M persons
    // one of its transactions outlasted the default 10 s wait on SQLite.
    settings.database.sqlite_busy_timeout_ms = 600_000;
    settings.bootstrap.admin_password = SecretString::from(PASSWORD);
    settings.bootstrap.admin_password_file = String::new();
    settings.log.level = "warn".into();
    settings
}

/// A deterministic pseudo-random number (SplitMix64), so runs are comparable.
fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

fn seed(settings: &Settings, persons: usize, centers: &[String]) -> Duration {
    let db = Db::open(&settings.database).unwrap();
    let mut conn = db.connection_for_setup().unwrap();
    let admin = refuge::accounts::find_by_username(&mut conn, "admin")
        .unwrap()
        .expect("admin")
        .id;
    let start = chrono::DateTime::parse_from_rfc3339("2023-09-24T12:00:00+04:00").unwrap();
    let span_seconds = 30 * 24 * 3600;
    let started = Instant::now();
    let mut seeded = 0usize;
    let mut n = 0u64;
    while seeded < persons {
        Unit::transaction::<_, refuge::error::ApiError>(&mut conn, &refuge::db::audit::Actor::system("bench"), |unit| {
            for _ in 0..2000 {
                if seeded >= persons {
                    break;
                }
                n += 1;
                let r = mix(n);
                let size = ((r % 7) as usize + 1).min(persons - seeded);
                // Earlier days are busier, as in an exodus.
                let offset = ((r >> 8) % span_seconds) * ((r >> 40) % span_seconds) / span_seconds;
                let arrived = start + chrono::TimeDelta::seconds(offset as i64);
                let members: Vec<_> = (0..size)
                    .map(|i| {
                        let m = mix(r ^ i as u64);
                        json!({
                            "given_name": "Արամ",
                            "family_name": "Հովհաննիսյան",
                            "sex": if m % 100 < 52 { "female" } else { "male" },
                            "relationship": if i == 0 { "head" } else { "child" },
                            "estimated_age": (m >> 8) % 90,
                            "needs": if m % 50 == 0 { json!(["DS"]) } else { json!([]) },
                        })
                    })
                    .collect();
                let body = json!({
                    "center_id": centers[(r >> 16) as usize % centers.len()],
                    "arrived_at": arrived.to_rfc3339(),
                    "origin_settlement": ORIGINS[(r >> 20) as usize % ORIGINS.len()],
                    "intended_destination": DESTINATIONS[(r >> 24) as usize % DESTINATIONS.len()],
                    "members": members,
                });
                let new: NewHousehold = serde_json::from_value(body).unwrap();
                registration::register(unit, new, admin)?;
                seeded += size;
            }
            Ok(())
        })
        .unwrap_or_else(|error| {
            // The panic hook withholds panic messages (they may carry request data).
            eprintln!("seeding failed: {error:?}");
            std::process::exit(1)
        });
        if seeded % 100_000 < 8_000 {
            eprintln!("seeded {seeded} persons");
        }
    }
    started.elapsed()
}

/// Organizations of the seeded response: code, name, kind.
const ORGANIZATIONS: [(&str, &str, OrganizationKind); 6] = [
    (
        "MTAD",
        "Ministry of Territorial Administration",
        OrganizationKind::Government,
    ),
    ("UNHCR", "UNHCR", OrganizationKind::UnAgency),
    (
        "ARCS",
        "Armenian Red Cross Society",
        OrganizationKind::RedCrossRedCrescent,
    ),
    (
        "MLSA",
        "Ministry of Labour and Social Affairs",
        OrganizationKind::Government,
    ),
    ("HOSTS", "Host families network", OrganizationKind::Ngo),
    ("WFP", "World Food Programme", OrganizationKind::UnAgency),
];
const SITES: usize = 200;
const SITE_KINDS: [SiteKind; 4] = [
    SiteKind::CollectiveCenter,
    SiteKind::Hotel,
    SiteKind::Dormitory,
    SiteKind::RentedApartment,
];
/// Food parcels: one per person per 3 days (the entitlement), 10,000 kcal each.
const FOOD_KCAL: i32 = 10_000;
const FOOD_EVERY_DAYS: i64 = 3;
/// Fuel: 5 liters per household, once (the entitlement).
const FUEL_LITERS: i64 = 5;
/// Seats of a bus.
const BUS_SEATS: i32 = 50;
/// Aid events per transaction: about the aid of 2,000 households.
const AID_BATCH: usize = 5_000;

/// A registered household, as the aid plan needs it.
struct Household {
    id: Uuid,
    center: Uuid,
    arrived: DateTime<Utc>,
    size: i64,
    destination: Option<String>,
}

enum Aid {
    Place { site: Uuid, placement: Uuid },
    CheckOut { placement: Uuid },
    Food,
    Fuel,
    Board { trip: Uuid },
}

/// A bus being filled: the trip's id and its seats taken.
type Bus = (Uuid, i32);

/// One planned act of aid: applied in time order.
struct Planned {
    at: DateTime<Utc>,
    household: usize,
    aid: Aid,
}

/// What the aid seeding did.
#[derive(Debug, Default)]
struct AidCounts {
    sites: usize,
    trips: usize,
    placements: usize,
    checkouts: usize,
    food: usize,
    fuel: usize,
    boardings: usize,
    /// A seeded site, for `GET /sites/{id}/occupancy`.
    site: Uuid,
}

fn exit_on<T>(what: &str) -> impl FnOnce(ApiError) -> T + '_ {
    move |error| {
        // The panic hook withholds panic messages (they may carry request data).
        eprintln!("{what} failed: {error:?}");
        std::process::exit(1)
    }
}

fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .unwrap()
        .with_timezone(&Utc)
}

/// A duration of up to `max` seconds, from a pseudo-random number.
fn within(r: u64, max: i64) -> TimeDelta {
    TimeDelta::seconds((r % max as u64) as i64)
}

/// Every registered household, in arrival order (the domain's list, 500 a page).
fn households(conn: &mut DbConnection) -> Vec<Household> {
    let query = ListQuery {
        center_id: None,
        arrived_from: None,
        arrived_to: None,
        origin_settlement: None,
        limit: None,
        cursor: None,
    };
    let mut out = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let paging = PageQuery::new(Some(500), cursor.as_deref()).unwrap();
        let page = registration::list(conn, &query, &CenterScope::All, &paging)
            .unwrap_or_else(exit_on("reading households"));
        out.extend(page.items.into_iter().map(|h| Household {
            id: h.id,
            center: h.center_id,
            arrived: h.arrived_at,
            size: h.members.len() as i64,
            destination: h.intended_destination,
        }));
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => return out,
        }
    }
}

/// The next bus departure (17:00 in Yerevan) at least two hours after `arrived`.
fn departure(arrived: DateTime<Utc>) -> DateTime<Utc> {
    let yerevan = chrono::FixedOffset::east_opt(4 * 3600).unwrap();
    let ready = (arrived + TimeDelta::hours(2)).with_timezone(&yerevan);
    let mut day = ready.date_naive();
    if ready.time() > chrono::NaiveTime::from_hms_opt(17, 0, 0).unwrap() {
        day = day.succ_opt().unwrap();
    }
    day.and_hms_opt(17, 0, 0)
        .unwrap()
        .and_local_timezone(yerevan)
        .unwrap()
        .with_timezone(&Utc)
}

/// Seeds aid for the registered households through the domain code: sites
/// of six provinces, items with their entitlements and stock, buses, and per
/// household placements (some checked out), food, fuel and boardings, all
/// dated after the household's arrival and applied in time order.
fn seed_aid(settings: &Settings, persons: usize, centers: &[String]) -> (Duration, AidCounts) {
    let db = Db::open(&settings.database).unwrap();
    let mut conn = db.connection_for_setup().unwrap();
    let provinces = Provinces::new(&settings.provinces.extra).unwrap();
    let actor = Actor::system("bench");
    let admin = refuge::accounts::find_by_username(&mut conn, "admin")
        .unwrap()
        .expect("admin")
        .id;
    let centers: Vec<Uuid> = centers.iter().map(|c| c.parse().unwrap()).collect();
    // The server writes the match keys of the registrations in the
    // background: beside it, the aid's seeding shared the cores and (on
    // SQLite) the write lock with it. At 1M persons on PostgreSQL it ran at
    // about 110 events/s beside it, against 510 after it (with autovacuum
    // on and without TLS as well; BENCHMARKS.md).
    let waited = wait_for_match_keys(&mut conn);
    println!(
        "stats_read match keys of the registrations written in the background: waited {:.0}s",
        waited.as_secs_f64()
    );
    let started = Instant::now();
    let mut counts = AidCounts::default();

    // Organizations, items and their entitlements, sites.
    let (organization, food, fuel, sites) =
        Unit::transaction::<_, ApiError>(&mut conn, &actor, |unit| {
            let mut organization = BTreeMap::new();
            for (code, name, kind) in ORGANIZATIONS {
                let new = NewOrganization {
                    code: code.into(),
                    name: name.into(),
                    kind,
                };
                organization.insert(code, organizations::create(unit, new)?.id);
            }
            let food = stock::create_item(
                unit,
                NewItem {
                    code: "FOOD-PARCEL".into(),
                    name: "Food parcel".into(),
                    unit: stock::Unit::Parcel,
                    sector: Sector::Food,
                    kcal_per_unit: Some(FOOD_KCAL),
                },
            )?
            .id;
            let fuel = stock::create_item(
                unit,
                NewItem {
                    code: "FUEL".into(),
                    name: "Fuel (petrol)".into(),
                    unit: stock::Unit::Liter,
                    sector: Sector::Fuel,
                    kcal_per_unit: None,
                },
            )?
            .id;
            entitlements::create(
                unit,
                NewEntitlement {
                    item_id: food,
                    basis: Basis::Person,
                    quantity: 1,
                    every_days: Some(FOOD_EVERY_DAYS as i32),
                    every_months: None,
                    max_times: None,
                    starts_at: None,
                },
            )?;
            entitlements::create(
                unit,
                NewEntitlement {
                    item_id: fuel,
                    basis: Basis::Household,
                    quantity: FUEL_LITERS,
                    every_days: None,
                    every_months: None,
                    max_times: None,
                    starts_at: None,
                },
            )?;
            // Twice the persons in beds over all sites: no placement is
            // refused for capacity, whatever the draw.
            let capacity = (persons * 2 / SITES + 100).min(100_000) as i32;
            // Persons in a site at the end: about half the registered.
            let expected = (persons / 2 / SITES).max(1) as f64;
            let mut sites: BTreeMap<&str, Vec<Uuid>> = BTreeMap::new();
            for i in 0..SITES {
                let r = mix(0x517E_0000 + i as u64);
                let province = DESTINATIONS[i % DESTINATIONS.len()];
                let owner = ORGANIZATIONS[(r % 5) as usize].0;
                let new = NewSite {
                    code: format!("SITE-{i:03}"),
                    name: format!("Site {i} ({province})"),
                    kind: SITE_KINDS[(r >> 8) as usize % SITE_KINDS.len()],
                    province: province.into(),
                    settlement: None,
                    capacity_beds: capacity,
                    // Half the sites with a floor area, 2 to 8 m² per person
                    // of the expected occupancy: some below the Sphere
                    // standards.
                    floor_area_m2: ((r >> 16) % 2 == 0)
                        .then(|| expected * (2.0 + ((r >> 24) % 60) as f64 / 10.0)),
                    organization_id: organization[owner],
                };
                let site = housing::create_site(unit, new, &provinces)?;
                sites.entry(province).or_default().push(site.id);
            }
            Ok((organization, food, fuel, sites))
        })
        .unwrap_or_else(exit_on("seeding sites"));
    counts.sites = SITES;
    counts.site = sites[DESTINATIONS[1]][0];

    // The plan: per household, in arrival order.
    let households = households(&mut conn);
    let mut plan: Vec<Planned> = Vec::new();
    let mut food_needed: BTreeMap<Uuid, i64> = BTreeMap::new();
    let mut fuel_needed: BTreeMap<Uuid, i64> = BTreeMap::new();
    // Buses per center and departure, filled in order.
    let mut buses: BTreeMap<(Uuid, DateTime<Utc>), Vec<Bus>> = BTreeMap::new();
    for (i, h) in households.iter().enumerate() {
        let r = mix(0xA1D0_0000_0000 ^ i as u64);
        if r % 100 < 60 {
            let province = h
                .destination
                .as_deref()
                .filter(|p| sites.contains_key(p))
                .unwrap_or(DESTINATIONS[(r >> 8) as usize % DESTINATIONS.len()]);
            let candidates = &sites[province];
            let site = candidates[(r >> 12) as usize % candidates.len()];
            let placement = Uuid::now_v7();
            let checked_in = h.arrived + TimeDelta::hours(2) + within(r >> 20, 6 * 3600);
            plan.push(Planned {
                at: checked_in,
                household: i,
                aid: Aid::Place { site, placement },
            });
            if (r >> 32) % 100 < 20 {
                plan.push(Planned {
                    at: checked_in + TimeDelta::days(1) + within(r >> 40, 20 * 86_400),
                    household: i,
                    aid: Aid::CheckOut { placement },
                });
            }
        }
        let f = mix(r ^ 0xF00D);
        if f % 100 < 70 {
            // One to three parcels per person, each in its own 3-day period.
            for k in 0..1 + (f >> 8) % 3 {
                let start = TimeDelta::days(FOOD_EVERY_DAYS * k as i64) + TimeDelta::minutes(30);
                plan.push(Planned {
                    at: h.arrived + start + within(mix(f ^ k), 2 * 86_400),
                    household: i,
                    aid: Aid::Food,
                });
                *food_needed.entry(h.center).or_default() += h.size;
            }
        }
        let g = mix(r ^ 0xF0E1);
        if g % 100 < 30 {
            plan.push(Planned {
                at: h.arrived + TimeDelta::hours(1) + within(g >> 8, 3 * 86_400),
                household: i,
                aid: Aid::Fuel,
            });
            *fuel_needed.entry(h.center).or_default() += FUEL_LITERS;
        }
        let b = mix(r ^ 0xB05);
        if b % 100 < 25 {
            let departs = departure(h.arrived);
            let trips = buses.entry((h.center, departs)).or_default();
            let size = h.size as i32;
            match trips.last_mut() {
                Some((_, taken)) if *taken + size <= BUS_SEATS => *taken += size,
                _ => trips.push((Uuid::now_v7(), size)),
            }
            plan.push(Planned {
                at: departs - TimeDelta::minutes(30),
                household: i,
                aid: Aid::Board {
                    trip: trips.last().unwrap().0,
                },
            });
        }
    }
    // Time order: a backdated stock withdrawal reads the later movements of
    // its item, so applied in time order each reads none.
    plan.sort_by_key(|p| p.at);

    // Stock at every center before the first arrival, and the buses.
    let stocked_at = Timestamp::trusted(at("2023-09-24T00:00:00+04:00"));
    Unit::transaction::<_, ApiError>(&mut conn, &actor, |unit| {
        for &center in &centers {
            for (item, needed, supplier) in
                [(food, &food_needed, "WFP"), (fuel, &fuel_needed, "MTAD")]
            {
                let receipt = NewReceipt {
                    id: None,
                    center_id: center,
                    item_id: item,
                    quantity: needed.get(&center).copied().unwrap_or(0) + 1_000,
                    organization_id: organization[supplier],
                    received_at: Some(stocked_at),
                    reference: None,
                };
                stock::receive(unit, receipt, admin)?;
            }
        }
        for (n, ((center, departs), trips)) in buses.iter().enumerate() {
            for (k, (trip, _)) in trips.iter().enumerate() {
                let new = NewTrip {
                    id: Some(*trip),
                    center_id: *center,
                    destination_province: DESTINATIONS[(n + k) % DESTINATIONS.len()].into(),
                    destination_settlement: None,
                    departs_at: Timestamp::trusted(*departs),
                    vehicle: format!("BUS-{n}-{k}"),
                    seats: BUS_SEATS,
                    organization_id: organization["MTAD"],
                };
                transport::create_trip(unit, new, admin, &provinces)?;
                counts.trips += 1;
            }
        }
        Ok(())
    })
    .unwrap_or_else(exit_on("seeding stock and trips"));

    // The aid itself.
    for (b, batch) in plan.chunks(AID_BATCH).enumerate() {
        Unit::transaction::<_, ApiError>(&mut conn, &actor, |unit| {
            for p in batch {
                let h = &households[p.household];
                let at = Some(Timestamp::trusted(p.at));
                match p.aid {
                    Aid::Place { site, placement } => {
                        let new = NewPlacement {
                            id: Some(placement),
                            household_id: h.id,
                            checked_in_at: at,
                            r#move: false,
                        };
                        housing::place(unit, site, new, admin, |_| Ok(()))?;
                        counts.placements += 1;
                    }
                    Aid::CheckOut { placement } => {
                        let checkout = Checkout {
                            checked_out_at: at,
                            reason: Some(CheckoutReason::Left),
                        };
                        housing::check_out(unit, placement, checkout, admin, |_| Ok(()))?;
                        counts.checkouts += 1;
                    }
                    Aid::Food | Aid::Fuel => {
                        let (item, quantity, giver) = match p.aid {
                            Aid::Food => (food, h.size, "WFP"),
                            _ => (fuel, FUEL_LITERS, "MTAD"),
                        };
                        let new = NewDistribution {
                            id: None,
                            household_id: h.id,
                            center_id: h.center,
                            item_id: item,
                            quantity: Some(quantity),
                            organization_id: organization[giver],
                            distributed_at: at,
                            override_reason: None,
                        };
                        distributions::distribute(unit, new, admin)?;
                        match p.aid {
                            Aid::Food => counts.food += 1,
                            _ => counts.fuel += 1,
                        }
                    }
                    Aid::Board { trip } => {
                        let new = NewBoarding {
                            id: None,
                            household_id: h.id,
                            person_ids: None,
                        };
                        transport::board(unit, trip, new, admin, |_| Ok(()))?;
                        counts.boardings += 1;
                    }
                }
            }
            Ok(())
        })
        .unwrap_or_else(exit_on("seeding aid"));
        if (b + 1) % 40 == 0 {
            eprintln!(
                "seeded {} of {} aid events",
                (b + 1) * AID_BATCH,
                plan.len()
            );
        }
    }
    (started.elapsed(), counts)
}

/// The tables the statistics read that the seeding leaves many times their
/// live size on PostgreSQL (see [`settle`]).
const CHURNED_TABLES: &str = "arrival_counts, arrival_counts_daily, arrival_totals, sites, \
     occupancy_at_hour_end, distributed_totals, distributed_totals_daily";

/// Folds the statistics shards and vacuums, as the running service and
/// autovacuum would shortly after the seeding.
///
/// On PostgreSQL it also rewrites the aggregate tables at their live size.
/// The seeding writes weeks of aid, dated in 2023, in minutes: every event
/// adds shard rows to hours the running compaction has already folded, so
/// rows are inserted and folded away again hundreds of times a second, and
/// the tables end up 15 to 66 times their live size (`arrival_counts_daily`:
/// 1,168 pages for 5,400 rows at 1M), which every read then scans. A center
/// writes to the current hour, whose shard rows are updated in place and
/// folded once, at rates autovacuum keeps up with. (BENCHMARKS.md gives the
/// figures both ways.)
fn settle(settings: &Settings) {
    let db = Db::open(&settings.database).unwrap();
    let mut conn = db.connection_for_setup().unwrap();
    // Measured meanwhile, every read would share the two cores with it.
    let waited = wait_for_match_keys(&mut conn);
    println!(
        "stats_read match keys written in the background: waited {:.0}s",
        waited.as_secs_f64()
    );
    let before = refuge::http::time::now() - chrono::TimeDelta::hours(2);
    conn.transaction::<_, refuge::error::ApiError, _>(|conn| {
        refuge::stats::compact(conn, before).map(|_| ())
    })
    .expect("compaction");
    let statement = match &*conn {
        refuge::db::DbConnection::Postgres(_) => "VACUUM ANALYZE",
        refuge::db::DbConnection::Sqlite(_) => "ANALYZE",
    };
    diesel::sql_query(statement)
        .execute(&mut *conn)
        .expect("vacuum");
    if let refuge::db::DbConnection::Postgres(_) = &*conn {
        diesel::sql_query(format!("VACUUM FULL ANALYZE {CHURNED_TABLES}"))
            .execute(&mut *conn)
            .expect("vacuum full");
    }
}

/// Waits until the server has written, in the background (50,000 persons a
/// pass), the match keys of the persons seeded; returns how long it waited.
fn wait_for_match_keys(conn: &mut DbConnection) -> Duration {
    let started = Instant::now();
    loop {
        let pending: Vec<Count> = diesel::sql_query("SELECT COUNT(*) AS n FROM match_keys_pending")
            .load(conn)
            .unwrap();
        if pending.first().is_none_or(|c| c.n == 0) {
            return started.elapsed();
        }
        std::thread::sleep(Duration::from_secs(5));
    }
}

fn main() {
    let args = Args::parse();
    let dir = tempfile::tempdir().unwrap();
    let settings = settings(&args, dir.path());
    let reuse = args.reuse && seeded_before(&args, &settings);
    if !reuse {
        if let Some(url) = &args.database {
            fresh_postgres(url);
        }
        if let Some(file) = &args.sqlite {
            let _ = std::fs::remove_file(file);
        }
    }
    refuge::init_logging(&settings.log);
    let (tx, rx) = std::sync::mpsc::channel();
    let server_settings = settings.clone();
    std::thread::spawn(move || {
        actix_web::rt::System::new().block_on(async move {
            let app = Application::build(&server_settings).expect("server starts");
            tx.send((app.port(), app.matching_index())).unwrap();
            app.run_until_stopped().await.unwrap();
        })
    });
    let (port, matching_index) = rx.recv().unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let client = reqwest::Client::new();
        let login: serde_json::Value = client
            .post(format!("{base}/api/v1/auth/login"))
            .json(&json!({"username": "admin", "password": PASSWORD}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let token = login["access_token"].as_str().expect("login").to_string();
        let backend = if args.database.is_some() { "postgres" } else { "sqlite" };
        let site = if reuse {
            println!("stats_read backend={backend} reusing the database an earlier run seeded");
            measured_site(&settings)
        } else {
            let mut centers = Vec::new();
            for code in CENTERS {
                let center: serde_json::Value = client
                    .post(format!("{base}/api/v1/centers"))
                    .bearer_auth(&token)
                    .json(&json!({"code": code, "name": code, "kind": "registration_center", "province": "AM-SU"}))
                    .send()
                    .await
                    .unwrap()
                    .json()
                    .await
                    .unwrap();
                centers.push(center["id"].as_str().expect("center").to_string());
            }
            let seed_settings = settings.clone();
            let persons = args.persons;
            let (seeding, (aid_seeding, aid)) = tokio::task::spawn_blocking(move || {
                let seeding = seed(&seed_settings, persons, &centers);
                (seeding, seed_aid(&seed_settings, persons, &centers))
            })
            .await
            .unwrap();
            println!(
                "stats_read backend={backend} persons={} seeded_in={:.1}s",
                args.persons,
                seeding.as_secs_f64()
            );
            println!(
                "stats_read backend={backend} persons={} aid_seeded_in={:.1}s sites={} trips={} placements={} checkouts={} food_distributions={} fuel_distributions={} boardings={}",
                args.persons,
                aid_seeding.as_secs_f64(),
                aid.sites,
                aid.trips,
                aid.placements,
                aid.checkouts,
                aid.food,
                aid.fuel,
                aid.boardings,
            );
            aid.site
        };
        // Steady state, as a running service reaches it: the shards of past
        // hours folded (the server does it every minute) and the tables
        // vacuumed and analysed (autovacuum does it).
        let settle_settings = settings.clone();
        tokio::task::spawn_blocking(move || settle(&settle_settings))
            .await
            .unwrap();
        // The server loads its matching index in the background on a large
        // database (a reused one): measured meanwhile, every read shared
        // the cores with that load.
        let waiting = Instant::now();
        while !matching_index.is_ready() {
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        println!(
            "stats_read matching index loaded: waited {:.0}s",
            waiting.elapsed().as_secs_f64()
        );
        let endpoints = [
            ("summary", "/api/v1/stats/summary?suppress=false".to_string()),
            (
                "summary_as_of",
                "/api/v1/stats/summary?suppress=false&as_of=2023-10-01T15:00:00%2B04:00".to_string(),
            ),
            (
                "arrivals_30d_by_center",
                "/api/v1/stats/arrivals?suppress=false&group_by=center&from=2023-09-24T00:00:00%2B04:00&to=2023-10-24T00:00:00%2B04:00".to_string(),
            ),
            (
                "arrivals_30d_by_center_suppressed",
                "/api/v1/stats/arrivals?group_by=center&from=2023-09-24T00:00:00%2B04:00&to=2023-10-24T00:00:00%2B04:00".to_string(),
            ),
            ("demographics", "/api/v1/stats/demographics".to_string()),
            ("needs", "/api/v1/stats/needs".to_string()),
            (
                "coverage",
                "/api/v1/stats/coverage?suppress=false&from=2023-09-24T00:00:00%2B04:00&to=2023-10-24T00:00:00%2B04:00".to_string(),
            ),
            (
                "coverage_suppressed",
                "/api/v1/stats/coverage?from=2023-09-24T00:00:00%2B04:00&to=2023-10-24T00:00:00%2B04:00".to_string(),
            ),
            ("occupancy", "/api/v1/occupancy".to_string()),
            (
                "occupancy_as_of",
                "/api/v1/occupancy?as_of=2023-10-01T15:00:00%2B04:00".to_string(),
            ),
            (
                "site_occupancy_as_of",
                format!("/api/v1/sites/{site}/occupancy?as_of=2023-10-01T15:00:00%2B04:00"),
            ),
        ];
        for (name, path) in endpoints {
            if args.only.as_ref().is_some_and(|only| !name.contains(only.as_str())) {
                continue;
            }
            let url = format!("{base}{path}");
            // Warm-up.
            for _ in 0..20 {
                let r = client.get(&url).bearer_auth(&token).send().await.unwrap();
                assert_eq!(r.status(), 200, "{name}: {}", r.text().await.unwrap());
            }
            let started = Instant::now();
            let mut tasks = Vec::new();
            for c in 0..args.clients {
                let (client, url, token) = (client.clone(), url.clone(), token.clone());
                let count = (c..args.requests).step_by(args.clients).count();
                tasks.push(tokio::spawn(async move {
                    let mut latencies = Vec::with_capacity(count);
                    for _ in 0..count {
                        let sent = Instant::now();
                        let r = client.get(&url).bearer_auth(&token).send().await.unwrap();
                        let _ = r.bytes().await.unwrap();
                        latencies.push(sent.elapsed());
                    }
                    latencies
                }));
            }
            let mut latencies: Vec<Duration> = Vec::new();
            for task in tasks {
                latencies.extend(task.await.unwrap());
            }
            let elapsed = started.elapsed();
            latencies.sort();
            let pct = |p: f64| {
                latencies[((latencies.len() as f64 * p).ceil() as usize).saturating_sub(1)].as_secs_f64() * 1000.0
            };
            println!(
                "stats_read backend={backend} persons={} endpoint={name} clients={} requests={} req/s={:.0} p50={:.2}ms p99={:.2}ms max={:.2}ms",
                args.persons,
                args.clients,
                latencies.len(),
                latencies.len() as f64 / elapsed.as_secs_f64(),
                pct(0.50),
                pct(0.99),
                pct(1.0),
            );
        }
    });
}
