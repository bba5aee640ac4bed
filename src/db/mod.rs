//! Storage: one connection type over SQLite and PostgreSQL, connection pools,
//! embedded migrations, and the way handlers run database work off the async
//! workers.
//!
//! SQLite (the embedded default) gets one writer connection and a pool of
//! readers: in WAL mode readers never block the writer, and a single writer
//! means transactions never fail on a lock upgrade. PostgreSQL gets one pool
//! for both; its invariants rely on row locks and constraints, so they hold
//! with several API processes on one database. On both, writes are
//! group-committed (see `writer`), and every write carries a [`Unit`]: its
//! connection and the statistics it changes, committed together.

use std::path::Path;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use diesel::connection::SimpleConnection;
use diesel::pg::PgConnection;
use diesel::r2d2::{self, CustomizeConnection, ManageConnection, R2D2Connection};
use diesel::sqlite::SqliteConnection;
use diesel::Connection;
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};
use secrecy::ExposeSecret;

use crate::config::{DatabaseSettings, SqliteSynchronous};
use crate::error::ApiError;

pub mod aggregates;
pub mod audit;
mod checkpointer;
pub mod derived;
mod shards;
pub mod tallies;
mod unit;
mod writer;

use checkpointer::Checkpointer;
pub use unit::Unit;
use writer::Writer;

const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");
const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");

/// A connection to either backend. Queries written against it run on both.
#[derive(diesel::MultiConnection)]
pub enum DbConnection {
    Postgres(PgConnection),
    Sqlite(SqliteConnection),
}

/// Which database a URL selects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Backend {
    Postgres { url: String },
    Sqlite { path: String },
}

impl Backend {
    /// `postgres://` or `postgresql://` selects PostgreSQL; `sqlite://PATH` or a plain path, SQLite.
    pub fn from_url(url: &str) -> Backend {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Backend::Postgres {
                url: url.to_string(),
            }
        } else {
            let path = url.strip_prefix("sqlite://").unwrap_or(url);
            Backend::Sqlite {
                path: path.to_string(),
            }
        }
    }

    pub fn name(&self) -> &'static str {
        match self {
            Backend::Postgres { .. } => "postgres",
            Backend::Sqlite { .. } => "sqlite",
        }
    }

    fn establish(&self) -> Result<DbConnection, diesel::ConnectionError> {
        match self {
            Backend::Postgres { url } => PgConnection::establish(url).map(DbConnection::Postgres),
            Backend::Sqlite { path } => SqliteConnection::establish(path).map(DbConnection::Sqlite),
        }
    }
}

/// Opens connections for the backend the URL names, and only that one
/// (diesel's derived `establish` would try each backend in turn).
pub struct Manager(Backend);

impl ManageConnection for Manager {
    type Connection = DbConnection;
    type Error = r2d2::Error;

    fn connect(&self) -> Result<DbConnection, r2d2::Error> {
        self.0.establish().map_err(r2d2::Error::ConnectionError)
    }

    fn is_valid(&self, conn: &mut DbConnection) -> Result<(), r2d2::Error> {
        conn.ping().map_err(r2d2::Error::QueryError)
    }

    fn has_broken(&self, conn: &mut DbConnection) -> bool {
        conn.is_broken()
    }
}

/// Statements run on every new connection.
#[derive(Debug)]
struct InitStatements(String);

impl CustomizeConnection<DbConnection, r2d2::Error> for InitStatements {
    fn on_acquire(&self, conn: &mut DbConnection) -> Result<(), r2d2::Error> {
        conn.batch_execute(&self.0).map_err(r2d2::Error::QueryError)
    }
}

type Pool = r2d2::Pool<Manager>;

/// The SQLite writer's page cache (64 MiB): a bulk import's transaction
/// then neither spills dirty pages to the WAL mid-way nor re-reads them.
const WRITER_CACHE: &str = "PRAGMA cache_size = -65536;";
/// SQLite's default page cache (2 MiB), which readers keep, and no memory
/// map: what a long job holds with the writer connection.
const READER_CACHE: &str = "PRAGMA cache_size = -2000; PRAGMA mmap_size = 0;";

/// The SQLite writer's page cache and memory map (see [`Db::open`]).
fn writer_pages(mmap_bytes: u64) -> String {
    format!("{WRITER_CACHE} PRAGMA mmap_size = {mmap_bytes};")
}

/// A writer connection with a reader's page cache ([`Db::connection_for_long_job`]),
/// and the statements that give it back the writer's.
pub struct LongJobConnection(r2d2::PooledConnection<Manager>, String);

impl std::ops::Deref for LongJobConnection {
    type Target = DbConnection;
    fn deref(&self) -> &DbConnection {
        &self.0
    }
}

impl std::ops::DerefMut for LongJobConnection {
    fn deref_mut(&mut self) -> &mut DbConnection {
        &mut self.0
    }
}

impl Drop for LongJobConnection {
    fn drop(&mut self) {
        if let DbConnection::Sqlite(c) = &mut *self.0 {
            // Failing, the pooled connection keeps the smaller cache:
            // slower bulk writes, nothing wrong.
            let _ = c.batch_execute(&self.1);
        }
    }
}

/// Errors from opening or migrating the database, reported at start-up.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("cannot create the directory for the SQLite database {path}: {source}")]
    Directory {
        path: String,
        source: std::io::Error,
    },
    #[error("cannot connect to {url}: {source}")]
    Connect {
        url: String,
        source: diesel::ConnectionError,
    },
    #[error("cannot open the connection pool for {url}: {source}")]
    Pool {
        url: String,
        source: r2d2::PoolError,
    },
    #[error("database set-up failed: {0}")]
    Setup(#[from] diesel::result::Error),
    #[error("migration failed: {0}")]
    Migration(String),
}

/// The application's handle on its database; cheap to clone.
#[derive(Clone)]
pub struct Db {
    backend: Backend,
    read: Pool,
    write: Pool,
    /// The group-commit writer, started on the first write.
    writer: Arc<OnceLock<Writer>>,
    /// How many writer threads it runs.
    writers: usize,
    /// SQLite: the thread checkpointing the WAL, stopped with the last clone.
    _checkpointer: Option<Arc<Checkpointer>>,
    /// SQLite: the writer's memory map, in bytes.
    writer_mmap_bytes: u64,
}

impl Db {
    /// Opens the database the settings name, creating the SQLite file (and its
    /// directory) on first start. Does not migrate: see [`Db::migrate`].
    pub fn open(settings: &DatabaseSettings) -> Result<Db, DbError> {
        let backend = Backend::from_url(settings.url.expose_secret());
        let redacted = settings.redacted_url();
        let timeout = Duration::from_secs(settings.connect_timeout_seconds);
        let build = |size: u32, init: String, pool: &'static str| {
            r2d2::Pool::builder()
                .event_handler(Box::new(crate::metrics::PoolEvents::new(pool)))
                .max_size(size)
                .min_idle(Some(1))
                .connection_timeout(timeout)
                .test_on_check_out(false)
                .connection_customizer(Box::new(InitStatements(init)))
                .build(Manager(backend.clone()))
                .map_err(|source| DbError::Pool {
                    url: redacted.clone(),
                    source,
                })
        };
        match &backend {
            Backend::Sqlite { path } => {
                create_parent_dir(path)?;
                // WAL is a property of the database file: set it once, before the pools open.
                let mut conn = backend.establish().map_err(|source| DbError::Connect {
                    url: redacted.clone(),
                    source,
                })?;
                conn.batch_execute("PRAGMA journal_mode = WAL;")?;
                drop(conn);
                let synchronous = match settings.sqlite_synchronous {
                    SqliteSynchronous::Full => "FULL",
                    SqliteSynchronous::Normal => "NORMAL",
                };
                let init = format!(
                    "PRAGMA busy_timeout = {}; PRAGMA foreign_keys = ON; PRAGMA synchronous = {synchronous};",
                    settings.sqlite_busy_timeout_ms
                );
                // The writer gets a larger page cache (64 MiB) and keeps
                // savepoint journals in memory: a bulk import's transaction
                // then neither spills dirty pages to the WAL mid-way nor
                // re-reads them, and each group's savepoints cost no file
                // writes. Readers keep SQLite's default 2 MiB each. The
                // writer reads pages its cache lacks through a memory map of
                // the file (up to `sqlite_mmap_bytes`): no system call and
                // no copy, which at a million persons is most of what a
                // registration's index lookups read. The checkpointer, not
                // the writer, copies the WAL back.
                let write = build(
                    1,
                    format!(
                        "{init} {} PRAGMA temp_store = MEMORY; PRAGMA wal_autocheckpoint = {};",
                        writer_pages(settings.sqlite_mmap_bytes),
                        checkpointer::WRITER_CHECKPOINT_PAGES
                    ),
                    "write",
                )?;
                let read = build(settings.pool_size, init.clone(), "read")?;
                Ok(Db {
                    backend: backend.clone(),
                    read,
                    write,
                    writer: Arc::new(OnceLock::new()),
                    writers: 1,
                    _checkpointer: Some(Arc::new(Checkpointer::start(&backend, init))),
                    writer_mmap_bytes: settings.sqlite_mmap_bytes,
                })
            }
            Backend::Postgres { .. } => {
                // One pool for reads and writes (metrics label "all").
                let pool = build(settings.pool_size, "SET TIME ZONE 'UTC';".into(), "all")?;
                Ok(Db {
                    backend,
                    read: pool.clone(),
                    write: pool,
                    writer: Arc::new(OnceLock::new()),
                    writers: match settings.writers {
                        0 => std::thread::available_parallelism()
                            .map_or(2, |n| n.get().max(2))
                            .min(settings.pool_size as usize),
                        n => n,
                    },
                    _checkpointer: None,
                    writer_mmap_bytes: 0,
                })
            }
        }
    }

    /// The backend in use ("sqlite" or "postgres").
    pub fn backend_name(&self) -> &'static str {
        self.backend.name()
    }

    /// Applies every pending migration of this backend. Derived rows (the
    /// name search keys) are rebuilt by the application after this: see
    /// `app::migrate`.
    pub fn migrate(&self) -> Result<usize, DbError> {
        let mut conn = self
            .write
            .get()
            .map_err(|e| DbError::Migration(format!("no connection: {e}")))?;
        let applied = match &mut *conn {
            DbConnection::Sqlite(c) => c.run_pending_migrations(SQLITE_MIGRATIONS),
            DbConnection::Postgres(c) => c.run_pending_migrations(POSTGRES_MIGRATIONS),
        }
        .map_err(|e| DbError::Migration(e.to_string()))?
        .len();
        Ok(applied)
    }

    /// Runs read-only work on a pooled connection, off the async workers.
    pub async fn read<F, T>(&self, work: F) -> Result<T, ApiError>
    where
        F: FnOnce(&mut DbConnection) -> Result<T, ApiError> + Send + 'static,
        T: Send + 'static,
    {
        let pool = self.read.clone();
        actix_web::web::block(move || {
            let mut conn = pool.get().map_err(ApiError::unavailable)?;
            work(&mut conn)
        })
        .await
        .map_err(ApiError::internal)?
    }

    /// A reader connection for command-line work that only reads (exports):
    /// SQLite's readers keep the default small page cache.
    pub fn connection_for_reading(&self) -> Result<r2d2::PooledConnection<Manager>, DbError> {
        self.read
            .get()
            .map_err(|e| DbError::Migration(format!("no connection: {e}")))
    }

    /// How many connections for reading command-line work may hold while it
    /// also holds one from [`Db::connection_for_setup`] (PostgreSQL's pools
    /// are one).
    pub fn readers_beside_setup(&self) -> usize {
        let size = self.read.max_size() as usize;
        match self.backend {
            Backend::Sqlite { .. } => size,
            Backend::Postgres { .. } => size.saturating_sub(1),
        }
    }

    /// A writer connection for start-up and command-line work.
    pub fn connection_for_setup(&self) -> Result<r2d2::PooledConnection<Manager>, DbError> {
        self.write
            .get()
            .map_err(|e| DbError::Migration(format!("no connection: {e}")))
    }

    /// A writer connection for a long job that reads much and writes
    /// little (the duplicates scan): on SQLite its page cache is a reader's
    /// (2 MiB) while it is held, not the writer's 64 MiB, so that the
    /// process does not grow with the pages such a job touches (a scan of
    /// 1M persons grew from 82 to 145 MiB with it, and stayed at 49-54
    /// MiB without), and it reads without the writer's memory map, whose
    /// pages would count in the process's memory too. The writer's cache
    /// and map are set back when it is dropped.
    pub fn connection_for_long_job(&self) -> Result<LongJobConnection, DbError> {
        let mut conn = self.connection_for_setup()?;
        if let DbConnection::Sqlite(c) = &mut *conn {
            c.batch_execute(READER_CACHE)
                .map_err(|e| DbError::Migration(format!("setting the page cache: {e}")))?;
        }
        Ok(LongJobConnection(
            conn,
            writer_pages(self.writer_mmap_bytes),
        ))
    }

    /// Readiness: the database answers and no migration is pending.
    pub async fn readiness(&self) -> Result<(), String> {
        let pool = self.read.clone();
        actix_web::web::block(move || {
            let mut conn = pool
                .get()
                .map_err(|e| format!("no database connection: {e}"))?;
            let pending = match &mut *conn {
                DbConnection::Sqlite(c) => c.has_pending_migration(SQLITE_MIGRATIONS),
                DbConnection::Postgres(c) => c.has_pending_migration(POSTGRES_MIGRATIONS),
            }
            .map_err(|e| format!("cannot read the migration state: {e}"))?;
            if pending {
                Err("migrations are pending: run `refuge migrate`".to_string())
            } else {
                Ok(())
            }
        })
        .await
        .map_err(|e| e.to_string())?
    }
}

fn create_parent_dir(path: &str) -> Result<(), DbError> {
    match Path::new(path).parent() {
        Some(dir) if !dir.as_os_str().is_empty() => {
            std::fs::create_dir_all(dir).map_err(|source| DbError::Directory {
                path: path.to_string(),
                source,
            })
        }
        _ => Ok(()),
    }
}

/// Runs one statement that diesel can only build per backend (batch inserts
/// and upserts do not go through `MultiConnection`): `$body` is written once
/// and compiled for each backend, with `$c` bound to the concrete connection.
#[macro_export]
macro_rules! per_backend {
    ($conn:expr, |$c:ident| $body:expr) => {
        match $conn {
            $crate::db::DbConnection::Postgres($c) => $body,
            $crate::db::DbConnection::Sqlite($c) => $body,
        }
    };
}

/// Runs `work` in a transaction that writes: on SQLite begun with `BEGIN
/// IMMEDIATE`, so that it waits (up to the busy timeout) for another
/// process's write to end instead of failing. A transaction begun deferred
/// reads first; if another connection commits meanwhile, its first write
/// fails at once with "database is locked", whatever the timeout (the
/// command line, or a benchmark, writing beside a running server).
/// PostgreSQL's transactions need nothing of the kind.
pub fn write_transaction<T, E>(
    conn: &mut DbConnection,
    work: impl FnOnce(&mut DbConnection) -> Result<T, E>,
) -> Result<T, E>
where
    E: From<diesel::result::Error>,
{
    use diesel::connection::{AnsiTransactionManager, TransactionManager};
    type Manager = <DbConnection as Connection>::TransactionManager;
    let DbConnection::Sqlite(sqlite) = conn else {
        return conn.transaction(work);
    };
    let outermost = matches!(
        AnsiTransactionManager::transaction_manager_status_mut(sqlite).transaction_depth(),
        Ok(None)
    );
    if !outermost {
        // A savepoint in the transaction already open (which has the lock
        // it needs, or will fail as it would have).
        return conn.transaction(work);
    }
    // The same steps as `Connection::transaction`, with another BEGIN: the
    // multi-backend connection keeps its transaction state in the SQLite
    // connection's own manager, which this begins.
    AnsiTransactionManager::begin_transaction_sql(sqlite, "BEGIN IMMEDIATE")?;
    match work(conn) {
        Ok(value) => {
            Manager::commit_transaction(conn)?;
            Ok(value)
        }
        Err(error) => match Manager::rollback_transaction(conn) {
            Ok(()) | Err(diesel::result::Error::BrokenTransactionManager) => Err(error),
            Err(rollback) => Err(rollback.into()),
        },
    }
}

/// Takes the lock every write of a shared counter row (a site's occupied
/// beds, a trip's seats taken, a center's stock level) takes first, held to
/// the end of the caller's transaction; call it before such an UPDATE.
///
/// On PostgreSQL, several writer threads (and API processes) commit groups
/// of jobs at once, each group holding its row locks until its commit: two
/// groups updating two counter rows in opposite orders deadlocked, and one
/// of them failed after `deadlock_timeout` (1 s) with a 503 to retry (the
/// replay over HTTP met dozens). With this lock, a transaction that holds a
/// counter row always holds it too, so no two ever wait on each other's
/// counter rows; groups that touch no counter (registrations) are not
/// held up. SQLite has a single writer: nothing to do.
pub fn lock_counters(conn: &mut DbConnection) -> diesel::QueryResult<()> {
    /// The advisory lock's key: "refuge counters".
    const COUNTERS: i64 = 0x7265_6675_6765_0001;
    if let DbConnection::Postgres(c) = conn {
        diesel::RunQueryDsl::execute(
            diesel::sql_query("SELECT pg_advisory_xact_lock($1)")
                .bind::<diesel::sql_types::BigInt, _>(COUNTERS),
            c,
        )?;
    }
    Ok(())
}

/// Most bound parameters one statement may carry on both backends: SQLite's
/// limit (PostgreSQL allows 65,535).
pub const MAX_BIND_PARAMS: usize = 32_766;

/// Rows of `columns` values each that one multi-row INSERT may carry.
pub const fn rows_per_insert(columns: usize) -> usize {
    MAX_BIND_PARAMS / columns
}

/// Maps a unique-constraint violation to `on_conflict`, anything else to a 500.
/// Constraint names are only reported by PostgreSQL, so callers use this at
/// the one query that can hit the constraint they mean.
pub fn unique_violation(
    on_conflict: impl FnOnce() -> ApiError,
) -> impl FnOnce(diesel::result::Error) -> ApiError {
    move |error| match error {
        diesel::result::Error::DatabaseError(
            diesel::result::DatabaseErrorKind::UniqueViolation,
            _,
        ) => on_conflict(),
        other => ApiError::from(other),
    }
}
