//! Write-path load generator: registers synthetic 4-member households over
//! HTTP with N concurrent clients and prints households/s and latency
//! percentiles. Starts its own server (SQLite in a temp dir, or the
//! PostgreSQL database given) unless `--url` names a running one.
//!
//!   cargo bench --bench write_path -- --clients 16 --households 20000
//!   cargo bench --bench write_path -- --clients 16 --database postgres://postgres@127.0.0.1/refuge_bench
//!
//! With `--reads N`, the same clients then read N persons registered in the
//! first phase (`GET /api/v1/persons/{id}`, in a shuffled order) and the
//! reads' rate and latency are printed too: the audited read path.
//!
//! With `--realistic`, the timed households are the scenario's
//! (`refuge::scenario::plan` at `--plan-scale`, seed `--seed`): Armenian-script
//! names drawn from the real distributions, each household registered at its
//! planned center (the scenario's centers are created first), so that the
//! duplicate matching of each registration sees realistic candidate blocks.
//! `--rounds R` registers R successive slices of `--households` from that plan.
//!
//! With `--preload-scale S`, before the timed phase the scenario's households
//! at scale S and seed `--preload-seed` (another seed than the timed ones) are
//! written as an import file and imported through `POST /api/v1/imports`
//! (text/csv), timed: the database then holds about 101,848 × S persons more.
//! With `--households 0` only the preload runs (to seed a database given by
//! `--database` for other measurements, e.g. `refuge duplicates scan`).
//!
//!   cargo bench --bench write_path -- --realistic --clients 16 --households 10000 --preload-scale 9.82
//!
//! A benchmark, not a test: it measures and prints, it asserts nothing about speed.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;
use refuge::app::Application;
use refuge::config::Settings;
use refuge::scenario::{plan, Event, Options, PlannedHousehold};
use secrecy::SecretString;
use serde_json::json;

#[derive(Parser, Debug)]
struct Args {
    /// Concurrent clients.
    #[arg(long, default_value_t = 16)]
    clients: usize,
    /// Households to register in total.
    #[arg(long, default_value_t = 20_000)]
    households: usize,
    /// Database for the server this benchmark starts (default: SQLite in a temp dir).
    #[arg(long)]
    database: Option<String>,
    /// Benchmark a running server instead (its admin password in REFUGE_BENCH_PASSWORD).
    #[arg(long)]
    url: Option<String>,
    /// HTTP workers of the started server (0: one per core).
    #[arg(long, default_value_t = 0)]
    workers: usize,
    /// Database connections of the started server's pool.
    #[arg(long, default_value_t = 32)]
    pool_size: u32,
    /// PostgreSQL writer threads of the started server (0: one per core).
    #[arg(long, default_value_t = 0)]
    writers: usize,
    /// Person reads after the writes (0: none).
    #[arg(long, default_value_t = 0)]
    reads: usize,
    /// Timed households from the scenario's plan instead of the synthetic ones.
    #[arg(long)]
    realistic: bool,
    /// Scale of the plan the timed households are taken from (--realistic).
    #[arg(long, default_value_t = 1.0)]
    plan_scale: f64,
    /// Seed of the plan the timed households are taken from (--realistic).
    #[arg(long, default_value_t = 7)]
    seed: u64,
    /// Timed phases, one after another (--realistic: each its own slice of the plan).
    #[arg(long, default_value_t = 1)]
    rounds: usize,
    /// Import the scenario's households at this scale before the timed phase.
    #[arg(long)]
    preload_scale: Option<f64>,
    /// Seed of the preloaded households.
    #[arg(long, default_value_t = 1)]
    preload_seed: u64,
    /// cargo bench passes --bench; ignored.
    #[arg(long, hide = true)]
    bench: bool,
}

const PASSWORD: &str = "benchmark admin lantern 2023";

/// The database the benchmark writes to: `--database`, or a new SQLite
/// file in `dir`.
fn database_url(args: &Args, dir: &std::path::Path) -> String {
    args.database
        .clone()
        .unwrap_or_else(|| format!("sqlite://{}", dir.join("bench.db").display()))
}

fn start_server(args: &Args, dir: &std::path::Path) -> String {
    let mut settings = Settings::load(None).expect("settings");
    settings.server.port = 0;
    settings.server.workers = args.workers;
    settings.database.url = SecretString::from(database_url(args, dir));
    settings.database.pool_size = args.pool_size;
    settings.database.writers = args.writers;
    settings.bootstrap.admin_password = SecretString::from(PASSWORD);
    settings.log.level = "warn".into();
    refuge::init_logging(&settings.log);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        actix_web::rt::System::new().block_on(async move {
            let app = Application::build(&settings).expect("server starts");
            tx.send(app.port()).unwrap();
            app.run_until_stopped().await.unwrap();
        })
    });
    format!("http://127.0.0.1:{}", rx.recv().unwrap())
}

fn household(center: &str, n: usize) -> serde_json::Value {
    const GIVEN: [&str; 4] = ["Արամ", "Անի", "Նարեկ", "Մարիամ"];
    const RELATIONSHIP: [&str; 4] = ["head", "spouse", "child", "child"];
    let members: Vec<_> = (0..4)
        .map(|i| {
            json!({
                "given_name": GIVEN[i],
                "family_name": format!("Հովհաննիսյան{}", n % 997),
                "name_latin": format!("Hovhannisyan {n}"),
                "sex": if i % 2 == 0 { "male" } else { "female" },
                "relationship": RELATIONSHIP[i],
                "birth_date": format!("{}-0{}-1{}", 1960 + i * 12 + n % 7, 1 + n % 9, n % 10),
                "needs": if i == 0 && n % 10 == 0 { json!(["SM"]) } else { json!([]) },
            })
        })
        .collect();
    json!({
        "center_id": center,
        "arrived_at": "2023-09-27T12:00:00+04:00",
        "origin_settlement": "Ստեփանակերտ",
        "intended_destination": "AM-KT",
        "phone": format!("+3749{:07}", n),
        "members": members,
    })
}

/// The scenario's households (Register events) of the plan at `scale`, `seed`,
/// in the plan's order, with their center's code.
fn planned(scale: f64, seed: u64) -> Vec<(&'static str, PlannedHousehold)> {
    plan(&Options { scale, seed })
        .into_iter()
        .filter_map(|e| match e {
            Event::Register { center, household } => Some((center, household)),
            _ => None,
        })
        .collect()
}

/// Creates the scenario's centers (if missing) and returns their ids by code.
async fn scenario_centers(
    client: &reqwest::Client,
    base: &str,
    token: &str,
) -> HashMap<String, String> {
    for spec in refuge::scenario::centers() {
        let _ = client
            .post(format!("{base}/api/v1/centers"))
            .bearer_auth(token)
            .json(
                &json!({"code": spec.code, "name": spec.name, "kind": spec.kind,
                "province": spec.province, "latitude": spec.latitude, "longitude": spec.longitude}),
            )
            .send()
            .await
            .unwrap();
    }
    let list: serde_json::Value = client
        .get(format!("{base}/api/v1/centers"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    list["items"]
        .as_array()
        .expect("centers")
        .iter()
        .map(|c| {
            (
                c["code"].as_str().unwrap().to_string(),
                c["id"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// The import file (the layout of `src/imports/layout.rs`) of `households`.
fn preload_csv(path: &std::path::Path, households: &[(&'static str, PlannedHousehold)]) -> usize {
    let mut out = csv::Writer::from_path(path).unwrap();
    out.write_record(refuge::imports::COLUMNS).unwrap();
    let mut persons = 0;
    for (center, h) in households {
        let reference = h.id.to_string();
        let arrived = h.arrived_at.to_rfc3339();
        for (i, m) in h.members.iter().enumerate() {
            persons += 1;
            let v = serde_json::to_value(m).unwrap();
            let text = |key: &str| v[key].as_str().unwrap_or("").to_string();
            let first = i == 0;
            out.write_record([
                reference.as_str(),
                if first { center } else { "" },
                if first { arrived.as_str() } else { "" },
                if first { h.origin_settlement } else { "" },
                if first {
                    h.intended_destination.unwrap_or("")
                } else {
                    ""
                },
                if first {
                    h.phone.as_deref().unwrap_or("")
                } else {
                    ""
                },
                &m.given_name,
                &m.family_name,
                m.patronymic.as_deref().unwrap_or(""),
                m.name_latin.as_deref().unwrap_or(""),
                &text("sex"),
                &text("birth_date"),
                &m.estimated_age.map_or(String::new(), |a| a.to_string()),
                &text("relationship"),
                v["document"]["type"].as_str().unwrap_or(""),
                m.document.as_ref().map_or("", |d| d.number.as_str()),
                &m.needs.join(";"),
                if m.tracing_consent { "yes" } else { "no" },
            ])
            .unwrap();
        }
    }
    out.flush().unwrap();
    persons
}

/// Imports the scenario's households at `scale` through `POST /api/v1/imports`, timed.
async fn preload(
    client: &reqwest::Client,
    base: &str,
    token: &str,
    scale: f64,
    seed: u64,
    dir: &std::path::Path,
) {
    let started = Instant::now();
    let households = planned(scale, seed);
    let file = dir.join("preload.csv");
    let persons = preload_csv(&file, &households);
    let bytes = std::fs::read(&file).unwrap();
    std::fs::remove_file(&file).unwrap();
    println!(
        "preload: scale {scale} seed {seed}: {} households, {persons} persons, {:.1} MiB of CSV, planned and written in {:.1}s",
        households.len(),
        bytes.len() as f64 / (1024.0 * 1024.0),
        started.elapsed().as_secs_f64()
    );
    drop(households);
    let started = Instant::now();
    let response = client
        .post(format!("{base}/api/v1/imports"))
        .bearer_auth(token)
        .header("Content-Type", "text/csv")
        .body(bytes)
        .send()
        .await
        .unwrap();
    let status = response.status();
    let body = response.text().await.unwrap();
    let elapsed = started.elapsed();
    if !status.is_success() {
        eprintln!(
            "write_path: the preload import failed: {status} {}",
            &body[..body.len().min(2000)]
        );
        std::process::exit(1);
    }
    let summary: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
    println!(
        "preload import: {persons} persons in {:.1}s ({:.0} persons/s); created {}, duplicates {}",
        elapsed.as_secs_f64(),
        persons as f64 / elapsed.as_secs_f64(),
        summary["created"],
        summary
            .get("duplicates")
            .or(summary.get("possible_duplicates"))
            .unwrap_or(&serde_json::Value::Null),
    );
}

fn main() {
    let args = Args::parse();
    let dir = tempfile::tempdir().unwrap();
    let password = std::env::var("REFUGE_BENCH_PASSWORD").unwrap_or_else(|_| PASSWORD.into());
    let base = match &args.url {
        Some(url) => url.clone(),
        None => start_server(&args, dir.path()),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let client = reqwest::Client::builder().pool_max_idle_per_host(args.clients).build().unwrap();
        let login: serde_json::Value = client
            .post(format!("{base}/api/v1/auth/login"))
            .json(&json!({"username": "admin", "password": password}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let token = login["access_token"].as_str().expect("login").to_string();
        let centers = if args.realistic || args.preload_scale.is_some() {
            scenario_centers(&client, &base, &token).await
        } else {
            HashMap::new()
        };
        if let Some(scale) = args.preload_scale {
            preload(&client, &base, &token, scale, args.preload_seed, dir.path()).await;
        }
        if args.households == 0 {
            return;
        }
        if args.url.is_none() {
            index_loaded(&client, &base).await;
        }
        let code = format!("BENCH{}", std::process::id());
        let center: serde_json::Value = client
            .post(format!("{base}/api/v1/centers"))
            .bearer_auth(&token)
            .json(&json!({"code": code, "name": "Benchmark", "kind": "registration_center", "province": "AM-SU"}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let center = Arc::new(center["id"].as_str().expect("center").to_string());
        // The timed bodies, built before the clock starts.
        let bodies: Option<Arc<Vec<serde_json::Value>>> = args.realistic.then(|| {
            let households = planned(args.plan_scale, args.seed);
            let needed = args.households * args.rounds;
            assert!(
                households.len() >= needed,
                "the plan at scale {} has {} households, {needed} needed: raise --plan-scale",
                args.plan_scale,
                households.len()
            );
            let persons: usize = households[..needed].iter().map(|(_, h)| h.members.len()).sum();
            println!(
                "timed households: plan scale {} seed {}, {needed} households, {persons} persons",
                args.plan_scale, args.seed
            );
            Arc::new(
                households[..needed]
                    .iter()
                    .map(|(code, h)| {
                        let id = uuid::Uuid::parse_str(&centers[*code]).unwrap();
                        serde_json::to_value(h.to_new(id)).unwrap()
                    })
                    .collect(),
            )
        });
        let token = Arc::new(token);
        let mut persons: Vec<String> = Vec::new();
        for round in 0..args.rounds {
            persons = timed(&client, &base, &token, &center, bodies.clone(), round, &args).await;
        }
        if args.url.is_none() {
            println!("after the timed rounds: process memory {}", memory());
            write_pending_keys(&args, dir.path());
        }
        if args.reads > 0 && !persons.is_empty() {
            let backend = backend(&args);
            read_persons(&client, &base, &token, persons, &args, &backend).await;
        }
    });
}

/// Waits for the in-process server's matching index to load (until it has,
/// registrations read their candidates from the database) and prints how
/// long that took and the process's memory then.
async fn index_loaded(client: &reqwest::Client, base: &str) {
    let started = Instant::now();
    loop {
        let ready: serde_json::Value = client
            .get(format!("{base}/readyz"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if ready["matching_index"] == "ready" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    println!(
        "matching index loaded after {:.1} s; process memory {}",
        started.elapsed().as_secs_f64(),
        memory()
    );
}

/// Writes the candidate keys the registrations left pending (the server
/// writes them once a minute, in key order) and prints how long that took:
/// part of what a registration costs, paid later and in bulk.
fn write_pending_keys(args: &Args, dir: &std::path::Path) {
    let mut settings = Settings::load(None).expect("settings");
    settings.database.url = SecretString::from(database_url(args, dir));
    let db = refuge::db::Db::open(&settings.database).expect("database");
    let mut conn = db.connection_for_setup().expect("connection");
    let started = Instant::now();
    // Begun IMMEDIATE on SQLite: the server may be writing (merging name
    // keys) still.
    let persons = refuge::db::write_transaction(&mut conn, refuge::matching::keys::write_pending)
        .expect("pending keys written");
    println!(
        "pending match keys written after the rounds: {persons} persons in {:.2} s",
        started.elapsed().as_secs_f64()
    );
    // The recent name keys: the server moves them once there are 250,000,
    // so the rounds may have paid for some of them already.
    let started = Instant::now();
    let rows = refuge::persons::name_keys::recent_rows(&mut conn).expect("recent name keys");
    let writes = refuge::persons::name_keys::merge_all_recent(&mut conn, 20_000)
        .expect("recent name keys merged");
    println!(
        "recent name keys merged after the rounds: {rows} rows in {writes} transactions, {:.2} s",
        started.elapsed().as_secs_f64()
    );
}

/// The process's resident and peak resident memory, and the part of it that
/// is its own (anonymous) rather than mapped database file pages, which the
/// operating system's file cache holds and frees under pressure (Linux).
fn memory() -> String {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kb| kb.parse::<f64>().ok())
            .map_or("?".to_string(), |kb| format!("{:.1} MiB", kb / 1024.0))
    };
    format!(
        "RSS {} (anonymous {}), peak {}",
        field("VmRSS:"),
        field("RssAnon:"),
        field("VmHWM:")
    )
}

fn backend(args: &Args) -> String {
    if args.url.is_some() {
        "external".to_string()
    } else if args
        .database
        .as_deref()
        .is_some_and(|d| d.starts_with("postgres"))
    {
        "postgres".to_string()
    } else {
        "sqlite (synchronous=FULL)".to_string()
    }
}

/// One timed phase: `args.households` registrations over `args.clients`
/// clients; prints the rate and latencies, returns one person id per household.
async fn timed(
    client: &reqwest::Client,
    base: &str,
    token: &Arc<String>,
    center: &Arc<String>,
    bodies: Option<Arc<Vec<serde_json::Value>>>,
    round: usize,
    args: &Args,
) -> Vec<String> {
    let offset = round * args.households;
    let started = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..args.clients {
        let (client, base, token, center, bodies) = (
            client.clone(),
            base.to_string(),
            token.clone(),
            center.clone(),
            bodies.clone(),
        );
        let share = (offset + c..offset + args.households)
            .step_by(args.clients)
            .collect::<Vec<_>>();
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::with_capacity(share.len());
            let mut persons = Vec::with_capacity(share.len());
            let mut errors = 0usize;
            for n in share {
                let synthetic;
                let body = match &bodies {
                    Some(bodies) => &bodies[n],
                    None => {
                        synthetic = household(&center, n);
                        &synthetic
                    }
                };
                let sent = Instant::now();
                let response = client
                    .post(format!("{base}/api/v1/households"))
                    .bearer_auth(token.as_str())
                    .header(
                        "Idempotency-Key",
                        format!("bench-{}-{n}", std::process::id()),
                    )
                    .json(body)
                    .send()
                    .await;
                match response {
                    Ok(r) if r.status() == 201 => {
                        let body = r.bytes().await.unwrap_or_default();
                        latencies.push(sent.elapsed());
                        if let Ok(household) = serde_json::from_slice::<serde_json::Value>(&body) {
                            let members = household["members"]
                                .as_array()
                                .map_or(1, |m| m.len().max(1));
                            if let Some(id) = household["members"][n % members]["id"].as_str() {
                                persons.push(id.to_string());
                            }
                        }
                    }
                    Ok(r) => {
                        if errors == 0 {
                            let status = r.status();
                            eprintln!(
                                "write_path: {status} {}",
                                r.text().await.unwrap_or_default()
                            );
                        }
                        errors += 1
                    }
                    Err(_) => errors += 1,
                }
            }
            (latencies, errors, persons)
        }));
    }
    let mut latencies: Vec<Duration> = Vec::new();
    let mut persons: Vec<String> = Vec::new();
    let mut errors = 0;
    for task in tasks {
        let (l, e, p) = task.await.unwrap();
        latencies.extend(l);
        errors += e;
        persons.extend(p);
    }
    let elapsed = started.elapsed();
    if latencies.is_empty() {
        eprintln!("write_path: every request failed ({errors} errors)");
        std::process::exit(1);
    }
    latencies.sort();
    let pct = |p: f64| percentile_ms(&latencies, p);
    println!(
        "write_path backend={} mode={} round={} clients={} households={} errors={errors} elapsed={:.2}s \
         households/s={:.0} p50={:.2}ms p99={:.2}ms",
        backend(args),
        if args.realistic { "realistic" } else { "synthetic" },
        round + 1,
        args.clients,
        latencies.len(),
        elapsed.as_secs_f64(),
        latencies.len() as f64 / elapsed.as_secs_f64(),
        pct(0.50),
        pct(0.99),
    );
    persons
}

/// The read phase: `args.reads` person reads spread over the clients.
async fn read_persons(
    client: &reqwest::Client,
    base: &str,
    token: &Arc<String>,
    mut persons: Vec<String>,
    args: &Args,
    backend: &str,
) {
    // A fixed shuffle (an LCG), so that both builds of an A/B comparison read alike.
    let mut state = 2023u64;
    for i in (1..persons.len()).rev() {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        persons.swap(i, (state >> 33) as usize % (i + 1));
    }
    let persons = Arc::new(persons);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..args.clients {
        let (client, base, token, persons) = (
            client.clone(),
            base.to_string(),
            token.clone(),
            persons.clone(),
        );
        let share = (c..args.reads).step_by(args.clients).collect::<Vec<_>>();
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::with_capacity(share.len());
            let mut errors = 0usize;
            for n in share {
                let person = &persons[n % persons.len()];
                let sent = Instant::now();
                match client
                    .get(format!("{base}/api/v1/persons/{person}"))
                    .bearer_auth(token.as_str())
                    .send()
                    .await
                {
                    Ok(r) if r.status() == 200 => {
                        let _ = r.bytes().await;
                        latencies.push(sent.elapsed());
                    }
                    _ => errors += 1,
                }
            }
            (latencies, errors)
        }));
    }
    let mut latencies: Vec<Duration> = Vec::new();
    let mut errors = 0;
    for task in tasks {
        let (l, e) = task.await.unwrap();
        latencies.extend(l);
        errors += e;
    }
    let elapsed = started.elapsed();
    if latencies.is_empty() {
        eprintln!("write_path: every read failed ({errors} errors)");
        std::process::exit(1);
    }
    latencies.sort();
    let pct = |p: f64| percentile_ms(&latencies, p);
    println!(
        "person_read backend={backend} clients={} reads={} errors={errors} elapsed={:.2}s \
         reads/s={:.0} p50={:.2}ms p99={:.2}ms",
        args.clients,
        latencies.len(),
        elapsed.as_secs_f64(),
        latencies.len() as f64 / elapsed.as_secs_f64(),
        pct(0.50),
        pct(0.99),
    );
}

/// The `p` quantile (0-1) of sorted latencies, in milliseconds.
fn percentile_ms(sorted: &[Duration], p: f64) -> f64 {
    sorted[((sorted.len() as f64 * p).ceil() as usize).saturating_sub(1)].as_secs_f64() * 1000.0
}
