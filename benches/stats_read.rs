//! Statistics read benchmark: seeds N registered persons (households of 1 to
//! 7, spread over 30 days and 5 centers, through the registration domain code
//! so the aggregates are maintained as in production), then measures latency
//! of the dashboard queries over HTTP with concurrent clients.
//!
//!   cargo bench --bench stats_read -- --persons 100000
//!   cargo bench --bench stats_read -- --persons 1000000 --database postgres://postgres@127.0.0.1/refuge_bench_stats
//!
//! A PostgreSQL database named in --database is dropped and created afresh.
//! A benchmark, not a test: it measures and prints, it asserts nothing about speed.

use std::time::{Duration, Instant};

use clap::Parser;
use diesel::{Connection, RunQueryDsl};
use refuge::app::Application;
use refuge::config::Settings;
use refuge::db::{Db, Unit};
use refuge::registration::{self, NewHousehold};
use secrecy::SecretString;
use serde_json::json;

#[derive(Parser, Debug)]
struct Args {
    /// Registered persons to seed.
    #[arg(long, default_value_t = 100_000)]
    persons: usize,
    /// PostgreSQL database to (re)create and use; SQLite in a temp dir by default.
    #[arg(long)]
    database: Option<String>,
    /// Requests per endpoint.
    #[arg(long, default_value_t = 2_000)]
    requests: usize,
    /// Concurrent clients.
    #[arg(long, default_value_t = 4)]
    clients: usize,
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

/// Recreates the PostgreSQL database named by `url`.
fn fresh_postgres(url: &str) {
    let (server, name) = url.rsplit_once('/').expect("postgres://.../DATABASE");
    let mut admin =
        diesel::PgConnection::establish(&format!("{server}/postgres")).expect("postgres");
    diesel::sql_query(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .execute(&mut admin)
        .unwrap();
    diesel::sql_query(format!(
        "CREATE DATABASE {name} ENCODING 'UTF8' TEMPLATE template0"
    ))
    .execute(&mut admin)
    .unwrap();
}

fn settings(args: &Args, dir: &std::path::Path) -> Settings {
    let mut settings = Settings::load(None).expect("settings");
    settings.server.port = 0;
    settings.database.url = SecretString::from(
        args.database
            .clone()
            .unwrap_or_else(|| format!("sqlite://{}", dir.join("bench.db").display())),
    );
    settings.database.pool_size = 16;
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

/// Folds the statistics shards and vacuums, as the running service and
/// autovacuum would shortly after the seeding.
fn settle(settings: &Settings) {
    let db = Db::open(&settings.database).unwrap();
    let mut conn = db.connection_for_setup().unwrap();
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
}

fn main() {
    let args = Args::parse();
    let dir = tempfile::tempdir().unwrap();
    if let Some(url) = &args.database {
        fresh_postgres(url);
    }
    let settings = settings(&args, dir.path());
    refuge::init_logging(&settings.log);
    let (tx, rx) = std::sync::mpsc::channel();
    let server_settings = settings.clone();
    std::thread::spawn(move || {
        actix_web::rt::System::new().block_on(async move {
            let app = Application::build(&server_settings).expect("server starts");
            tx.send(app.port()).unwrap();
            app.run_until_stopped().await.unwrap();
        })
    });
    let base = format!("http://127.0.0.1:{}", rx.recv().unwrap());
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
        let seeding = tokio::task::spawn_blocking(move || seed(&seed_settings, persons, &centers))
            .await
            .unwrap();
        // Steady state, as a running service reaches it: the shards of past
        // hours folded (the server does it every minute) and the tables
        // vacuumed and analysed (autovacuum does it).
        let settle_settings = settings.clone();
        tokio::task::spawn_blocking(move || settle(&settle_settings))
            .await
            .unwrap();
        let backend = if args.database.is_some() { "postgres" } else { "sqlite" };
        println!(
            "stats_read backend={backend} persons={} seeded_in={:.1}s",
            args.persons,
            seeding.as_secs_f64()
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
        ];
        for (name, path) in endpoints {
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
