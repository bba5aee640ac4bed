//! Storage invariants: the two migration folders stay in lockstep, every
//! migration reverts cleanly, `src/schema.rs` matches both databases, and a
//! SQLite writer beside another process waits for it instead of failing.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use diesel::connection::SimpleConnection;
use diesel::migration::MigrationSource;
use diesel::prelude::*;
use diesel::sql_types::{Integer, Text};
use diesel_migrations::{FileBasedMigrations, MigrationHarness};

use crate::backend_tests;
use crate::helpers::{Backend, TestApp};

fn migration_names(backend: &str) -> BTreeSet<String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("migrations")
        .join(backend);
    std::fs::read_dir(&dir)
        .unwrap()
        .map(|entry| {
            let entry = entry.unwrap();
            for file in ["up.sql", "down.sql"] {
                assert!(
                    entry.path().join(file).exists(),
                    "{} lacks {file}",
                    entry.path().display()
                );
            }
            entry.file_name().to_string_lossy().into_owned()
        })
        .collect()
}

#[test]
fn every_migration_exists_for_both_backends() {
    assert_eq!(migration_names("sqlite"), migration_names("postgres"));
}

/// A column as schema.rs declares it: (sql type, nullable).
type Columns = BTreeMap<String, (String, bool)>;

/// Reads the `diesel::table!` blocks of src/schema.rs.
fn declared_schema() -> BTreeMap<String, Columns> {
    let text =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/src/schema.rs")).unwrap();
    let mut tables = BTreeMap::new();
    for block in text.split("diesel::table! {").skip(1) {
        let mut lines = block.lines().map(str::trim).filter(|l| !l.is_empty());
        let header = lines.next().unwrap();
        let name = header.split_whitespace().next().unwrap().to_string();
        let mut columns = Columns::new();
        for line in lines {
            if line.starts_with('}') {
                break;
            }
            let (column, sql_type) = line.trim_end_matches(',').split_once("->").unwrap();
            let sql_type = sql_type.trim();
            let (sql_type, nullable) = match sql_type.strip_prefix("Nullable<") {
                Some(inner) => (inner.trim_end_matches('>').to_string(), true),
                None => (sql_type.to_string(), false),
            };
            columns.insert(column.trim().to_string(), (sql_type, nullable));
        }
        tables.insert(name, columns);
    }
    tables
}

#[derive(QueryableByName)]
struct ColumnInfo {
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = Text)]
    data_type: String,
    #[diesel(sql_type = Integer)]
    not_null: i32,
}

/// The diesel type a database column type corresponds to.
fn diesel_type(database_type: &str) -> &'static str {
    match database_type.to_lowercase().as_str() {
        "text" => "Text",
        "timestamp" | "timestamp without time zone" => "Timestamp",
        "date" => "Date",
        "integer" => "Integer",
        "bigint" => "BigInt",
        "double" | "double precision" => "Double",
        "boolean" => "Bool",
        other => panic!("column type {other} has no mapping in this test"),
    }
}

backend_tests!(
    schema_rs_matches_the_migrated_database,
    migrations_revert_and_reapply_cleanly,
    a_unit_touching_more_aggregate_rows_than_one_statement_carries_commits,
);

/// A unit of work whose statistics touch more rows than one INSERT may carry
/// parameters for (SQLite: 32,766) is written in several statements. (The
/// statistics benchmark's seeding, 2,000 households a unit, found it.)
async fn a_unit_touching_more_aggregate_rows_than_one_statement_carries_commits(app: TestApp) {
    use refuge::db::aggregates::{dimension, Count, Delta};
    let center: uuid::Uuid = app.center("GORIS").await.parse().unwrap();
    let written = app
        .with_db(move |conn| {
            let start = chrono::DateTime::from_timestamp(1_695_542_400, 0)
                .unwrap()
                .naive_utc();
            let mut delta = Delta::default();
            for hour in 0..6_000 {
                let bucket = start + chrono::TimeDelta::hours(hour);
                let count = Count {
                    persons: 1,
                    households: 1,
                };
                delta.add(
                    (center, bucket, dimension::ORIGIN, "Stepanakert".into()),
                    count,
                    1,
                );
            }
            refuge::db::Unit::transaction::<_, refuge::error::ApiError>(
                conn,
                &refuge::db::audit::Actor::system("test"),
                |unit| {
                    unit.record(delta);
                    Ok(())
                },
            )
            .unwrap();
            refuge::schema::arrival_counts::table
                .count()
                .get_result::<i64>(conn)
                .unwrap()
        })
        .await;
    assert_eq!(written, 6_000);
}

async fn schema_rs_matches_the_migrated_database(app: TestApp) {
    let url = secrecy::ExposeSecret::expose_secret(&app.settings.database.url).to_string();
    let backend = app.backend;
    tokio::task::spawn_blocking(move || {
        #[derive(QueryableByName)]
        struct Table {
            #[diesel(sql_type = Text)]
            name: String,
        }
        let tables: Vec<Table> = match backend {
            Backend::Sqlite => diesel::sql_query(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name NOT LIKE '__diesel%'",
            )
            .load(&mut SqliteConnection::establish(url.trim_start_matches("sqlite://")).unwrap())
            .unwrap(),
            Backend::Postgres => diesel::sql_query(
                "SELECT table_name::text AS name FROM information_schema.tables \
                 WHERE table_schema = 'public' AND table_name NOT LIKE '__diesel%'",
            )
            .load(&mut PgConnection::establish(&url).unwrap())
            .unwrap(),
        };
        let tables: BTreeSet<String> = tables.into_iter().map(|t| t.name).collect();
        assert_eq!(tables, declared_schema().into_keys().collect(), "tables in the database vs src/schema.rs");
        for (table, declared) in declared_schema() {
            let actual: Vec<ColumnInfo> = match backend {
                Backend::Sqlite => {
                    let mut conn = SqliteConnection::establish(url.trim_start_matches("sqlite://")).unwrap();
                    // A lone INTEGER PRIMARY KEY is the table's 64-bit rowid.
                    diesel::sql_query(format!(
                        "SELECT name, CASE WHEN upper(type) = 'INTEGER' AND pk = 1 \
                         AND (SELECT count(*) FROM pragma_table_info('{table}') WHERE pk > 0) = 1 \
                         THEN 'bigint' ELSE type END AS data_type, \
                         (\"notnull\" OR pk > 0) AS not_null FROM pragma_table_info('{table}')"
                    ))
                    .load(&mut conn)
                    .unwrap()
                }
                Backend::Postgres => {
                    let mut conn = PgConnection::establish(&url).unwrap();
                    diesel::sql_query(
                        "SELECT column_name::text AS name, data_type::text AS data_type, \
                         (is_nullable = 'NO')::int AS not_null \
                         FROM information_schema.columns WHERE table_schema = 'public' AND table_name = $1",
                    )
                    .bind::<Text, _>(&table)
                    .load(&mut conn)
                    .unwrap()
                }
            };
            let actual: Columns = actual
                .into_iter()
                .map(|c| (c.name, (diesel_type(&c.data_type).to_string(), c.not_null == 0)))
                .collect();
            assert_eq!(actual, declared, "table {table}: the database (left) differs from src/schema.rs (right)");
        }
    })
    .await
    .unwrap();
}

async fn migrations_revert_and_reapply_cleanly(app: TestApp) {
    let url = secrecy::ExposeSecret::expose_secret(&app.settings.database.url).to_string();
    let backend = app.backend;
    tokio::task::spawn_blocking(move || {
        fn cycle<C, S>(conn: &mut C, source: S)
        where
            C: MigrationHarness<C::Backend> + Connection,
            S: MigrationSource<C::Backend> + Clone,
        {
            let reverted = conn
                .revert_all_migrations(source.clone())
                .expect("every down.sql runs");
            assert!(!reverted.is_empty());
            conn.run_pending_migrations(source)
                .expect("every up.sql runs again");
        }
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations");
        match backend {
            Backend::Sqlite => {
                let mut conn =
                    SqliteConnection::establish(url.trim_start_matches("sqlite://")).unwrap();
                conn.batch_execute("PRAGMA foreign_keys = ON").unwrap();
                cycle(
                    &mut conn,
                    FileBasedMigrations::from_path(dir.join("sqlite")).unwrap(),
                );
            }
            Backend::Postgres => {
                let mut conn = PgConnection::establish(&url).unwrap();
                cycle(
                    &mut conn,
                    FileBasedMigrations::from_path(dir.join("postgres")).unwrap(),
                );
            }
        }
    })
    .await
    .unwrap();
    // The service still works on the re-created schema.
    assert_eq!(app.get("/readyz", None).await.status, 200);
}

/// On SQLite, a write transaction that has read first and then writes does
/// not fail when another connection (the command line beside a running
/// server) writes meanwhile: it began IMMEDIATE, so the other writer waits
/// for it, within its busy timeout. Begun deferred, its first write failed at
/// once with "database is locked", whatever the timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sqlite_write_beside_another_writer_waits_instead_of_failing() {
    use refuge::schema::centers;
    use secrecy::ExposeSecret;

    let app = TestApp::spawn(Backend::Sqlite).await;
    app.center("GORIS").await;
    let url = app.settings.database.url.expose_secret().to_string();
    let path = url.strip_prefix("sqlite://").unwrap().to_string();
    let db = app.db.clone();
    tokio::task::spawn_blocking(move || {
        let mut conn = db.connection_for_setup().unwrap();
        let (read, after_read) = std::sync::mpsc::channel();
        let other = std::thread::spawn(move || {
            after_read.recv().unwrap();
            let mut other = diesel::SqliteConnection::establish(&path).unwrap();
            other.batch_execute("PRAGMA busy_timeout = 10000").unwrap();
            // A change: an UPDATE that leaves a row as it was writes nothing.
            diesel::update(centers::table)
                .set(centers::name.eq("written by another process"))
                .execute(&mut other)
        });
        refuge::db::write_transaction::<_, diesel::result::Error>(&mut conn, |conn| {
            let count: i64 = centers::table.count().get_result(conn)?;
            assert!(count > 0);
            read.send(()).unwrap();
            // Long enough for the other connection to commit, if it may.
            std::thread::sleep(std::time::Duration::from_millis(300));
            diesel::update(centers::table)
                .set(centers::name.eq("written by the transaction that read first"))
                .execute(conn)?;
            Ok(())
        })
        .expect("the transaction that read first writes");
        let updated = other
            .join()
            .unwrap()
            .expect("the other writer waits, then writes");
        assert!(updated > 0);
    })
    .await
    .unwrap();
}
