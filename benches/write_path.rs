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
//! A benchmark, not a test: it measures and prints, it asserts nothing about speed.

use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;
use refuge::app::Application;
use refuge::config::Settings;
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
    /// cargo bench passes --bench; ignored.
    #[arg(long, hide = true)]
    bench: bool,
}

const PASSWORD: &str = "benchmark admin lantern 2023";

fn start_server(args: &Args, dir: &std::path::Path) -> String {
    let mut settings = Settings::load(None).expect("settings");
    settings.server.port = 0;
    settings.server.workers = args.workers;
    settings.database.url = SecretString::from(
        args.database
            .clone()
            .unwrap_or_else(|| format!("sqlite://{}", dir.join("bench.db").display())),
    );
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
        let token = Arc::new(token);
        let started = Instant::now();
        let mut tasks = Vec::new();
        for c in 0..args.clients {
            let (client, base, token, center) = (client.clone(), base.clone(), token.clone(), center.clone());
            let share = (c..args.households).step_by(args.clients).collect::<Vec<_>>();
            tasks.push(tokio::spawn(async move {
                let mut latencies = Vec::with_capacity(share.len());
                let mut persons = Vec::with_capacity(share.len());
                let mut errors = 0usize;
                for n in share {
                    let body = household(&center, n);
                    let sent = Instant::now();
                    let response = client
                        .post(format!("{base}/api/v1/households"))
                        .bearer_auth(token.as_str())
                        .header("Idempotency-Key", format!("bench-{}-{n}", std::process::id()))
                        .json(&body)
                        .send()
                        .await;
                    match response {
                        Ok(r) if r.status() == 201 => {
                            let body = r.bytes().await.unwrap_or_default();
                            latencies.push(sent.elapsed());
                            if let Ok(household) = serde_json::from_slice::<serde_json::Value>(&body) {
                                if let Some(id) = household["members"][n % 4]["id"].as_str() {
                                    persons.push(id.to_string());
                                }
                            }
                        }
                        _ => errors += 1,
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
        let pct = |p: f64| latencies[((latencies.len() as f64 * p).ceil() as usize).saturating_sub(1)].as_secs_f64() * 1000.0;
        let backend = if args.url.is_some() {
            "external".to_string()
        } else if args.database.as_deref().is_some_and(|d| d.starts_with("postgres")) {
            "postgres".to_string()
        } else {
            "sqlite (synchronous=FULL)".to_string()
        };
        println!(
            "write_path backend={backend} clients={} households={} errors={errors} elapsed={:.2}s \
             households/s={:.0} p50={:.2}ms p99={:.2}ms",
            args.clients,
            latencies.len(),
            elapsed.as_secs_f64(),
            latencies.len() as f64 / elapsed.as_secs_f64(),
            pct(0.50),
            pct(0.99),
        );
        if args.reads > 0 && !persons.is_empty() {
            read_persons(&client, &base, &token, persons, &args, &backend).await;
        }
    });
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
    let pct = |p: f64| {
        latencies[((latencies.len() as f64 * p).ceil() as usize).saturating_sub(1)].as_secs_f64()
            * 1000.0
    };
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
