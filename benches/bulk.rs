//! Bulk CSV benchmarks: `refuge export registrations` against the database's
//! own CSV dump of the same rows, and `refuge import` against a raw batched
//! insert of the same rows. Each side runs as its own process, timed from
//! spawn to exit, with its peak resident memory (`getrusage`).
//!
//!   cargo bench --bench bulk -- export --persons 1000000
//!   cargo bench --bench bulk -- export --persons 1000000 --database postgres://postgres@127.0.0.1:5432/refuge_bulk
//!   cargo bench --bench bulk -- import --rows 100000 [--database postgres://...]
//!
//! PostgreSQL databases are dropped and created afresh (the URL's database
//! name must start with `refuge_bulk`). The dumps are `sqlite3 -csv` and
//! `psql -c "COPY (...) TO STDOUT CSV"`; both must be on the PATH.
//!
//! A benchmark, not a test: it measures and prints, it asserts nothing about speed.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use chrono::{NaiveDate, NaiveDateTime, TimeDelta};
use clap::{Parser, Subcommand};
use diesel::prelude::*;
use rand::{Rng, SeedableRng};
use refuge::config::Settings;
use refuge::db::{Db, DbConnection};
use refuge::schema::{centers, households, person_name_keys, person_needs, persons, users};
use secrecy::SecretString;

#[derive(Parser, Debug)]
struct Args {
    #[command(subcommand)]
    what: What,
    /// cargo bench passes --bench; ignored.
    #[arg(long, hide = true, global = true)]
    bench: bool,
}

#[derive(Subcommand, Debug)]
enum What {
    /// Export N persons with `refuge export registrations` and with the
    /// database's own CSV dump.
    Export {
        #[arg(long, default_value_t = 1_000_000)]
        persons: usize,
        /// PostgreSQL URL (its database is recreated); SQLite in a temp dir by default.
        #[arg(long)]
        database: Option<String>,
    },
    /// Import an N-row CSV with `refuge import`, and insert the same rows
    /// raw, in batches, into a fresh database.
    Import {
        #[arg(long, default_value_t = 100_000)]
        rows: usize,
        #[arg(long)]
        database: Option<String>,
        /// Keep the generated file and SQLite databases (prints where).
        #[arg(long)]
        keep: bool,
    },
    /// Run by the benchmark itself, as its own process: seed a migrated
    /// database with N persons inserted raw; prints the seconds the inserts
    /// took.
    #[command(hide = true)]
    RawInsert {
        #[arg(long)]
        rows: usize,
        #[arg(long)]
        database: String,
        /// Also the rows refuge derives (search keys, fingerprints).
        #[arg(long)]
        derived: bool,
    },
}

/// Persons per household in the generated data (the scenario's mean is about 3.8).
const HOUSEHOLD_SIZE: usize = 4;
const GIVEN: [&str; 8] = [
    "Արամ",
    "Անի",
    "Նարեկ",
    "Մարիամ",
    "Տիգրան",
    "Լուսինե",
    "Դավիթ",
    "Գայանե",
];
const FAMILY: [&str; 6] = [
    "Հովհաննիսյան",
    "Սարգսյան",
    "Գրիգորյան",
    "Պետրոսյան",
    "Հարությունյան",
    "Ավետիսյան",
];
const SETTLEMENTS: [&str; 4] = ["Ստեփանակերտ", "Մարտունի", "Բերձոր", "Ասկերան"];
const RELATIONSHIP: [&str; 4] = ["head", "spouse", "child", "child"];

/// One generated person with their household's fields.
struct Row {
    household: usize,
    position: usize,
    /// The ids `refuge import` gives this row's household and person (UUIDv5s
    /// of the center and the household's reference): the raw baseline
    /// inserts the very rows the import writes.
    household_id: String,
    person_id: String,
    arrived_at: NaiveDateTime,
    given: &'static str,
    family: &'static str,
    settlement: &'static str,
    phone: String,
    sex: &'static str,
    birth_date: NaiveDate,
    document: String,
    needs: Option<&'static str>,
}

fn generate(persons: usize) -> impl Iterator<Item = Row> {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(2023);
    let start = NaiveDate::from_ymd_opt(2023, 9, 24)
        .unwrap()
        .and_hms_opt(6, 0, 0)
        .unwrap();
    let center = uuid::Uuid::parse_str(&uuid(1, 1)).unwrap();
    (0..persons).map(move |i| {
        let household = i / HOUSEHOLD_SIZE;
        let position = i % HOUSEHOLD_SIZE;
        let household_id = refuge::imports::household_id(center, &household_ref(household));
        Row {
            household,
            position,
            household_id: household_id.to_string(),
            person_id: refuge::imports::member_id(household_id, position).to_string(),
            arrived_at: start + TimeDelta::seconds(household as i64 * 2),
            given: GIVEN[rng.random_range(0..GIVEN.len())],
            family: FAMILY[household % FAMILY.len()],
            settlement: SETTLEMENTS[household % SETTLEMENTS.len()],
            phone: format!("+3749{:07}", household % 10_000_000),
            sex: if position % 2 == 0 { "male" } else { "female" },
            birth_date: NaiveDate::from_ymd_opt(
                [1961, 1965, 1994, 1999][position] + (household % 7) as i32,
                1 + (household % 12) as u32,
                1 + (i % 28) as u32,
            )
            .unwrap(),
            document: format!("AN{:07}", i % 10_000_000),
            needs: (rng.random_range(0..10) == 0).then_some("SM"),
        }
    })
}

/// The `household_ref` of the n-th generated household in the import file.
fn household_ref(n: usize) -> String {
    format!("F-{n:07}")
}

fn uuid(kind: u128, n: usize) -> String {
    uuid::Uuid::from_u128((kind << 96) | n as u128).to_string()
}

/// A database for one measurement: SQLite in `dir`, or the PostgreSQL one
/// named, dropped and created afresh.
fn fresh_database(url: Option<&str>, dir: &Path, name: &str) -> String {
    match url {
        None => format!("sqlite://{}", dir.join(format!("{name}.db")).display()),
        Some(url) => {
            let (server, database) = url.rsplit_once('/').expect("a database URL");
            let database = database.split('?').next().unwrap();
            assert!(
                database.starts_with("refuge_bulk"),
                "the benchmark drops its database: name it refuge_bulk..."
            );
            let database = format!("{database}_{name}");
            let admin = format!("{server}/postgres");
            // CHECKPOINT: each measurement starts with the previous one's
            // WAL written out, not competing with its checkpoint.
            for sql in [
                format!("DROP DATABASE IF EXISTS {database} WITH (FORCE)"),
                format!("CREATE DATABASE {database}"),
                "CHECKPOINT".to_string(),
            ] {
                let status = Command::new("psql")
                    .args([admin.as_str(), "-q", "-c", sql.as_str()])
                    .status()
                    .expect("psql runs");
                assert!(status.success(), "{sql}");
            }
            format!("{server}/{database}")
        }
    }
}

fn open(url: &str) -> Db {
    let mut settings = Settings::load(None).expect("settings");
    settings.database.url = SecretString::from(url.to_string());
    let db = Db::open(&settings.database).expect("database opens");
    // As the service does: migrations, then the derived-rows stamp, so that the
    // first measured command does not rebuild the name keys of the seeded rows.
    refuge::app::migrate(&db).expect("migrations");
    db
}

/// Seeds the database at `url` with `rows` persons inserted raw, in a child
/// process (this benchmark run with `raw-insert`), so that its memory and its
/// connection are its own: a child's peak memory would start at its
/// parent's size at `fork`. Returns the time of the inserts alone (the
/// child's own measure, without start-up and migrations) and the child's
/// peak memory.
fn raw_insert(url: &str, rows: usize, derived: bool) -> (Duration, i64) {
    let output = tempfile::NamedTempFile::new().unwrap();
    let mut command = Command::new(std::env::current_exe().unwrap());
    command
        .args(["raw-insert", "--rows", &rows.to_string(), "--database", url])
        .stdout(output.reopen().unwrap());
    if derived {
        command.arg("--derived");
    }
    let (_, rss) = measure(&mut command);
    let printed = std::fs::read_to_string(output.path()).unwrap();
    let seconds: f64 = printed
        .trim()
        .parse()
        .expect("raw-insert prints its seconds");
    (Duration::from_secs_f64(seconds), rss)
}

/// The child side of [`raw_insert`]: on the server's writer connection (the
/// one `refuge import` writes on, with the same settings), prepares the
/// database, then times the inserts.
fn raw_insert_child(rows: usize, url: &str, derived: bool) {
    let db = open(url);
    let mut conn = db.connection_for_setup().unwrap();
    let (center, user) = prepare(&mut conn);
    let started = Instant::now();
    insert_raw(&mut conn, &center, &user, generate(rows), derived);
    let elapsed = started.elapsed();
    if let DbConnection::Postgres(pg) = &mut *conn {
        use diesel::connection::SimpleConnection;
        pg.batch_execute("VACUUM ANALYZE").unwrap();
    }
    println!("{}", elapsed.as_secs_f64());
}

/// A center and an admin account (the registering user) to hang rows on.
fn prepare(conn: &mut DbConnection) -> (String, String) {
    let now = refuge::http::time::now();
    let center = uuid(1, 1);
    diesel::insert_into(centers::table)
        .values((
            centers::id.eq(&center),
            centers::code.eq("GORIS"),
            centers::name.eq("Goris Humanitarian Center"),
            centers::kind.eq("registration_center"),
            centers::province.eq("AM-SU"),
            centers::timezone.eq("Asia/Yerevan"),
            centers::created_at.eq(now),
            centers::updated_at.eq(now),
        ))
        .execute(conn)
        .unwrap();
    let user = uuid(2, 1);
    diesel::insert_into(users::table)
        .values((
            users::id.eq(&user),
            users::username.eq("admin"),
            users::password_hash.eq("not a hash: this account cannot log in"),
            users::role.eq("admin"),
            users::disabled.eq(false),
            users::created_at.eq(now),
        ))
        .execute(conn)
        .unwrap();
    (center, user)
}

/// Inserts `rows` with multi-row INSERTs of 1,000 persons (and their
/// households and needs), 20,000 persons per transaction: the raw baseline.
/// With `derived`, also the rows refuge derives from them: each person's
/// name search keys and each household's import fingerprint.
fn insert_raw(
    conn: &mut DbConnection,
    center: &str,
    user: &str,
    rows: impl Iterator<Item = Row>,
    derived: bool,
) {
    let now = refuge::http::time::now();
    // 20,000 rows at a time: memory stays small whatever the row count.
    let mut rows = rows.peekable();
    while rows.peek().is_some() {
        let transaction: Vec<Row> = rows.by_ref().take(20_000).collect();
        conn.transaction::<_, diesel::result::Error, _>(|conn| {
            for batch in transaction.chunks(1_000) {
                let households: Vec<_> = batch
                    .iter()
                    .filter(|r| r.position == 0)
                    .map(|r| {
                        (
                            households::id.eq(&r.household_id),
                            households::center_id.eq(center),
                            households::arrived_at.eq(r.arrived_at),
                            households::origin_settlement.eq(r.settlement),
                            households::intended_destination.eq(Some("AM-KT")),
                            households::phone.eq(Some(r.phone.clone())),
                            households::size.eq(HOUSEHOLD_SIZE as i32),
                            households::version.eq(1),
                            households::registered_by.eq(user),
                            households::created_at.eq(now),
                            households::updated_at.eq(now),
                            households::import_fingerprint
                                .eq(derived.then(|| format!("{:064x}", r.household))),
                        )
                    })
                    .collect();
                refuge::per_backend!(conn, |c| diesel::insert_into(households::table)
                    .values(&households)
                    .execute(c))?;
                let people: Vec<_> = batch
                    .iter()
                    .map(|r| {
                        (
                            persons::id.eq(&r.person_id),
                            persons::household_id.eq(&r.household_id),
                            persons::position.eq(r.position as i32),
                            persons::given_name.eq(r.given),
                            persons::family_name.eq(r.family),
                            persons::sex.eq(r.sex),
                            persons::birth_date.eq(Some(r.birth_date)),
                            persons::relationship.eq(RELATIONSHIP[r.position]),
                            persons::document_type.eq(Some("passport")),
                            persons::document_number.eq(Some(r.document.clone())),
                            persons::created_at.eq(now),
                            persons::updated_at.eq(now),
                        )
                    })
                    .collect();
                refuge::per_backend!(conn, |c| diesel::insert_into(persons::table)
                    .values(&people)
                    .execute(c))?;
                let needs: Vec<_> = batch
                    .iter()
                    .filter_map(|r| {
                        r.needs.map(|code| {
                            (
                                person_needs::person_id.eq(&r.person_id),
                                person_needs::code.eq(code),
                            )
                        })
                    })
                    .collect();
                if !needs.is_empty() {
                    refuge::per_backend!(conn, |c| diesel::insert_into(person_needs::table)
                        .values(&needs)
                        .execute(c))?;
                }
                if derived {
                    let keys: Vec<_> = batch
                        .iter()
                        .flat_map(|r| {
                            let person = &r.person_id;
                            refuge::persons::name_keys::search_keys(&[r.given, r.family])
                                .into_iter()
                                .map(move |key| {
                                    (
                                        person_name_keys::name_key.eq(key),
                                        person_name_keys::person_id.eq(person.clone()),
                                    )
                                })
                        })
                        .collect();
                    for chunk in keys.chunks(5_000) {
                        refuge::per_backend!(conn, |c| diesel::insert_into(
                            person_name_keys::table
                        )
                        .values(chunk)
                        .execute(c))?;
                    }
                }
            }
            Ok(())
        })
        .unwrap();
    }
}

/// Runs a command to completion: wall time and peak resident memory (KiB).
#[allow(clippy::zombie_processes)] // reaped by wait4, which also reads its peak memory
fn measure(command: &mut Command) -> (Duration, i64) {
    let started = Instant::now();
    let child = command.spawn().expect("the command starts");
    let mut status = 0;
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: wait4 on our own child, with valid pointers to locals.
    let pid = unsafe { libc::wait4(child.id() as i32, &mut status, 0, &mut usage) };
    let elapsed = started.elapsed();
    assert_eq!(pid, child.id() as i32, "wait4");
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "{command:?} failed with status {status}"
    );
    (elapsed, usage.ru_maxrss)
}

fn refuge_command(database: &str, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_refuge"));
    command
        .args(args)
        .env("REFUGE__DATABASE__URL", database)
        .env("REFUGE__LOG__LEVEL", "warn");
    command
}

fn report(label: &str, (time, rss): (Duration, i64), bytes: Option<u64>) {
    let size = bytes.map_or(String::new(), |b| {
        format!(", {:.1} MiB written", b as f64 / (1024.0 * 1024.0))
    });
    println!(
        "{label:<52} {:>8.2} s   peak RSS {:>7.1} MiB{size}",
        time.as_secs_f64(),
        rss as f64 / 1024.0
    );
}

fn file_size(path: &Path) -> Option<u64> {
    std::fs::metadata(path).ok().map(|m| m.len())
}

/// The registrations report's rows, in its order, as one SQL query per backend.
fn dump_query(postgres: bool) -> String {
    let needs = if postgres {
        "(SELECT string_agg(code, ';' ORDER BY code) FROM person_needs n WHERE n.person_id = p.id)"
    } else {
        "(SELECT group_concat(code, ';') FROM (SELECT code FROM person_needs n WHERE n.person_id = p.id ORDER BY code))"
    };
    format!(
        "SELECT h.id, c.code, c.name, c.province, h.arrived_at, h.origin_settlement, \
         h.intended_destination, h.phone, h.size, p.id, p.position, p.given_name, p.family_name, \
         p.patronymic, p.name_latin, p.sex, p.birth_date, p.estimated_age, p.relationship, \
         p.document_type, p.document_number, {needs}, h.created_at \
         FROM persons p JOIN households h ON h.id = p.household_id JOIN centers c ON c.id = h.center_id \
         ORDER BY h.arrived_at, h.id, p.position"
    )
}

fn export(persons: usize, database: Option<&str>) {
    let dir = tempfile::tempdir().unwrap();
    let url = fresh_database(database, dir.path(), "export");
    let (seeding, _) = raw_insert(&url, persons, false);
    println!(
        "seeded {persons} persons in {:.1} s ({})",
        seeding.as_secs_f64(),
        if database.is_some() {
            "PostgreSQL"
        } else {
            "SQLite"
        }
    );

    let postgres = database.is_some();
    for round in 1..=2 {
        println!("-- round {round}");
        let out = dir.path().join("refuge.csv");
        let measured = measure(&mut refuge_command(
            &url,
            &["export", "registrations", "--out", out.to_str().unwrap()],
        ));
        report("refuge export registrations", measured, file_size(&out));

        let dump = dir.path().join("dump.csv");
        let file = std::fs::File::create(&dump).unwrap();
        let mut command = if postgres {
            let mut c = Command::new("psql");
            c.args([
                url.as_str(),
                "-q",
                "-c",
                &format!(
                    "COPY ({}) TO STDOUT WITH (FORMAT csv, HEADER)",
                    dump_query(true)
                ),
            ]);
            c
        } else {
            let path = url.trim_start_matches("sqlite://");
            let mut c = Command::new("sqlite3");
            c.args(["-csv", "-header", path, &dump_query(false)]);
            c
        };
        command.stdout(file);
        let label = if postgres {
            "psql COPY (same rows) TO STDOUT CSV"
        } else {
            "sqlite3 -csv (same rows)"
        };
        report(label, measure(&mut command), file_size(&dump));
    }
}

/// The import layout's header, and one row per person.
fn write_import_csv(path: &Path, rows: impl Iterator<Item = Row>) {
    let mut out = csv::Writer::from_path(path).unwrap();
    out.write_record([
        "household_ref",
        "center_code",
        "arrived_at",
        "origin_settlement",
        "intended_destination",
        "phone",
        "given_name",
        "family_name",
        "sex",
        "birth_date",
        "relationship",
        "document_type",
        "document_number",
        "needs",
    ])
    .unwrap();
    for r in rows {
        out.write_record([
            household_ref(r.household).as_str(),
            "GORIS",
            &r.arrived_at.and_utc().to_rfc3339(),
            r.settlement,
            "AM-KT",
            &r.phone,
            r.given,
            r.family,
            r.sex,
            &r.birth_date.to_string(),
            RELATIONSHIP[r.position],
            "passport",
            &r.document,
            r.needs.unwrap_or(""),
        ])
        .unwrap();
    }
    out.flush().unwrap();
}

/// `refuge import` of an N-row file against the raw insert of the same rows
/// (each in its own process, into its own fresh database), twice.
fn import(rows: usize, database: Option<&str>, keep: bool) {
    let dir = tempfile::tempdir().unwrap();
    if keep {
        println!("files in {}", dir.path().display());
    }
    let file: PathBuf = dir.path().join("import.csv");
    write_import_csv(&file, generate(rows));
    println!(
        "{rows} rows, {:.1} MiB of CSV",
        file_size(&file).unwrap() as f64 / (1024.0 * 1024.0)
    );
    for round in 1..=2 {
        println!("-- round {round}");
        for (derived, label) in [
            (false, "raw batched INSERT: households, persons, needs"),
            (true, "  + search keys and fingerprints (all import writes)"),
        ] {
            let url = fresh_database(database, dir.path(), &format!("raw{round}{derived}"));
            report(label, raw_insert(&url, rows, derived), None);
        }

        let url = fresh_database(database, dir.path(), &format!("import{round}"));
        raw_insert(&url, 0, false);
        let measured = measure(&mut refuge_command(
            &url,
            &["import", file.to_str().unwrap(), "--username", "admin"],
        ));
        report("refuge import", measured, None);
    }
    if keep {
        let _ = dir.keep();
    }
}

fn main() {
    let args = Args::parse();
    match args.what {
        What::Export { persons, database } => export(persons, database.as_deref()),
        What::Import {
            rows,
            database,
            keep,
        } => import(rows, database.as_deref(), keep),
        What::RawInsert {
            rows,
            database,
            derived,
        } => raw_insert_child(rows, &database, derived),
    }
}
