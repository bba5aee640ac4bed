//! The test harness: a real server on a free port, over a real database
//! (a temporary SQLite file, or a fresh PostgreSQL database cloned from a
//! once-migrated template and dropped afterwards), and an HTTP client whose
//! every response is checked against openapi.yaml.
//!
//! What makes the suite fast, in tests only (measured, see `.ci/run`):
//! PostgreSQL databases are cloned from a template migrated once per
//! migration set, and commit without waiting for the disk; SQLite runs with
//! `synchronous = NORMAL`; password hashes use the cheapest argon2 cost.
//! Production settings cannot go below OWASP's minimum (see `config.rs`).

use std::io::Write;
use std::sync::{LazyLock, Once, OnceLock};

use diesel::{Connection, RunQueryDsl};
use refuge::accounts::{self, NewUser, Role, User};
use refuge::app::Application;
use refuge::config::{PasswordHashSettings, Settings, SqliteSynchronous};
use refuge::db::Db;
use reqwest::Method;
use secrecy::SecretString;
use serde_json::{json, Value};

pub const ADMIN_PASSWORD: &str = "correct horse battery staple";
pub const USER_PASSWORD: &str = "amber lantern orchard 47";

/// Runs each named `async fn(TestApp)` once per backend, as `name::sqlite`
/// and `name::postgres`.
#[macro_export]
macro_rules! backend_tests {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    let app = $crate::helpers::TestApp::spawn($crate::helpers::Backend::Sqlite).await;
                    super::$name(app).await;
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    if let Some(app) = $crate::helpers::TestApp::spawn_postgres().await {
                        super::$name(app).await;
                    }
                }
            }
        )*
    };
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// The PostgreSQL server the suite uses, as a maintenance-database URL.
///
/// Without TLS unless the URL says otherwise: the suite talks to a local
/// server, and libpq's OpenSSL registers an exit handler that can crash a
/// process exiting while other threads still hold TLS connections (diesel
/// issue #3441), which is exactly how a test binary ends.
pub fn postgres_admin_url() -> String {
    let url = std::env::var("REFUGE_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    if url.contains("sslmode=") {
        url
    } else if url.contains('?') {
        format!("{url}&sslmode=disable")
    } else {
        format!("{url}?sslmode=disable")
    }
}

/// Whether a missing PostgreSQL fails the suite (CI) or skips its half.
pub fn postgres_required() -> bool {
    std::env::var("REFUGE_REQUIRE_POSTGRES").is_ok_and(|v| v == "1")
}

static SKIP_NOTICE: Once = Once::new();

/// The argon2 cost of passwords in tests: the least argon2 accepts. A
/// production hash costs ~2,400 times as much, and every test logs in.
pub const TEST_PASSWORD_COST: PasswordHashSettings = PasswordHashSettings {
    memory_kib: 8,
    iterations: 1,
    parallelism: 1,
};

/// The settings every test server starts from, on the database at `url`.
pub fn test_settings(url: String) -> Settings {
    let mut settings = Settings::load(None).expect("default settings");
    settings.server.port = 0;
    settings.server.workers = 2;
    settings.server.body_limit_bytes = 64 * 1024;
    settings.database.url = SecretString::from(url);
    settings.database.pool_size = 4;
    // A test database is thrown away: an acknowledged write need not survive
    // power loss. (WAL with NORMAL stays consistent after a crash.)
    settings.database.sqlite_synchronous = SqliteSynchronous::Normal;
    settings.auth.password_hash = TEST_PASSWORD_COST;
    settings.bootstrap.admin_password = SecretString::from(ADMIN_PASSWORD);
    settings.bootstrap.admin_password_file = String::new();
    settings.metrics.token = SecretString::from(METRICS_TOKEN);
    settings
}

/// The token that reads `/metrics` on every test server.
pub const METRICS_TOKEN: &str = "test-metrics-token-0123456789";

/// `url` (a server's maintenance-database URL) pointing at database `name` instead.
fn database_url(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, format!("?{query}")),
        None => (url, String::new()),
    };
    match base.rsplit_once('/') {
        Some((server, _)) => format!("{server}/{name}{query}"),
        None => panic!("REFUGE_TEST_POSTGRES_URL must end with /DATABASE"),
    }
}

/// The name of the template for the current PostgreSQL migrations: a hash
/// of their files, so that a changed or added migration gets a new template
/// (and a stale one is never cloned).
fn template_name() -> String {
    use sha2::{Digest, Sha256};
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations/postgres");
    let mut files = Vec::new();
    let mut dirs = vec![root.clone()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).expect("migrations/postgres") {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else {
                files.push(path);
            }
        }
    }
    files.sort();
    let mut hash = Sha256::new();
    for file in files {
        hash.update(
            file.strip_prefix(&root)
                .unwrap()
                .to_string_lossy()
                .as_bytes(),
        );
        hash.update([0]);
        hash.update(std::fs::read(&file).unwrap());
        hash.update([0]);
    }
    format!("refuge_template_{}", &hex::encode(hash.finalize())[..16])
}

/// Any number, as long as it is this suite's: the advisory lock under which
/// a template is built, across threads, test binaries and worktrees.
const TEMPLATE_LOCK: i64 = 0x7265_6675_6765;

/// Makes sure the template database for the current migrations exists on
/// the server, building it if needed, and returns its name. Built once per
/// process at most; across processes, the advisory lock makes one build and
/// the others wait for it. It is built under a temporary name and renamed
/// when complete, so an interrupted build is never cloned.
fn template(admin: &mut diesel::PgConnection, admin_url: &str) -> String {
    static TEMPLATE: OnceLock<String> = OnceLock::new();
    TEMPLATE
        .get_or_init(|| {
            let name = template_name();
            diesel::sql_query(format!("SELECT pg_advisory_lock({TEMPLATE_LOCK})"))
                .execute(admin)
                .expect("take the template lock");
            if !database_exists(admin, &name) {
                build_template(admin, admin_url, &name);
            }
            diesel::sql_query(format!("SELECT pg_advisory_unlock({TEMPLATE_LOCK})"))
                .execute(admin)
                .expect("release the template lock");
            name
        })
        .clone()
}

fn database_exists(admin: &mut diesel::PgConnection, name: &str) -> bool {
    #[derive(diesel::QueryableByName)]
    struct Found {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    diesel::sql_query("SELECT count(*) AS n FROM pg_database WHERE datname = $1")
        .bind::<diesel::sql_types::Text, _>(name)
        .get_result::<Found>(admin)
        .expect("read pg_database")
        .n
        > 0
}

fn build_template(admin: &mut diesel::PgConnection, admin_url: &str, name: &str) {
    let building = format!("{name}_building");
    for statement in [
        format!("DROP DATABASE IF EXISTS {building} WITH (FORCE)"),
        format!("CREATE DATABASE {building} ENCODING 'UTF8' TEMPLATE template0"),
    ] {
        diesel::sql_query(statement)
            .execute(admin)
            .expect("create the template database");
    }
    // `migrate` as the service runs it, derived-row rebuilds included, so a
    // clone has nothing left to do at start-up.
    let db = Db::open(&test_settings(database_url(admin_url, &building)).database)
        .expect("open the template database");
    db.migrate().expect("migrate the template database");
    drop(db);
    // The pool's connections are closed, but the server may not have noticed
    // yet; a database with sessions can be neither renamed nor cloned.
    diesel::sql_query(format!(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE datname = '{building}' AND pid <> pg_backend_pid()"
    ))
    .execute(admin)
    .expect("close the template's sessions");
    let mut attempts = 0;
    while let Err(error) =
        diesel::sql_query(format!("ALTER DATABASE {building} RENAME TO {name}")).execute(admin)
    {
        attempts += 1;
        assert!(
            attempts < 50,
            "cannot rename the template database: {error}"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    diesel::sql_query(format!("ALTER DATABASE {name} IS_TEMPLATE true"))
        .execute(admin)
        .expect("mark the template database");
}

/// A database of the suite's own on the PostgreSQL server, dropped with it.
pub struct PgDatabase {
    admin_url: String,
    name: String,
    /// Its URL (TLS off unless `REFUGE_TEST_POSTGRES_URL` says otherwise).
    pub url: String,
}

/// A fresh PostgreSQL database cloned from the migrated template, or `None`
/// (with a notice on the terminal) when no PostgreSQL server is reachable
/// and CI does not require one.
pub fn postgres_database() -> Option<PgDatabase> {
    let admin_url = postgres_admin_url();
    let mut admin = match diesel::PgConnection::establish(&admin_url) {
        Ok(conn) => conn,
        Err(error) if !postgres_required() => {
            SKIP_NOTICE.call_once(|| {
                // Written past the test harness's output capture on purpose.
                let _ = writeln!(
                    std::io::stderr(),
                    "\nNOTE: PostgreSQL suite SKIPPED: no server at {admin_url} ({error}). \
                     Set REFUGE_TEST_POSTGRES_URL, or run .ci/run, to test PostgreSQL too.\n"
                );
            });
            return None;
        }
        Err(error) => panic!(
            "REFUGE_REQUIRE_POSTGRES=1 but PostgreSQL is unreachable at {admin_url}: {error}"
        ),
    };
    let template = template(&mut admin, &admin_url);
    let name = format!("refuge_test_{}", uuid::Uuid::new_v4().simple());
    for statement in [
        format!("CREATE DATABASE {name} TEMPLATE {template}"),
        // A test database is thrown away: commits need not wait for the disk.
        format!("ALTER DATABASE {name} SET synchronous_commit = off"),
        // Autovacuum may never analyze a test's tables while it runs, and a
        // generic plan made while they were empty then scans them in full
        // for the rest of the test. Custom plans see the parameters.
        format!("ALTER DATABASE {name} SET plan_cache_mode = force_custom_plan"),
    ] {
        diesel::sql_query(statement)
            .execute(&mut admin)
            .expect("create the test database");
    }
    let url = database_url(&admin_url, &name);
    Some(PgDatabase {
        admin_url,
        name,
        url,
    })
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        if let Ok(mut conn) = diesel::PgConnection::establish(&self.admin_url) {
            let _ = diesel::sql_query(format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ))
            .execute(&mut conn);
        }
    }
}

pub struct TestApp {
    pub address: String,
    pub backend: Backend,
    pub settings: Settings,
    /// The server's own database handle: helpers use it rather than open pools of their own.
    pub db: Db,
    client: reqwest::Client,
    admin_token: String,
    _sqlite_dir: Option<tempfile::TempDir>,
    _pg: Option<PgDatabase>,
}

/// A response, with its body parsed as JSON when it is JSON.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
    pub text: String,
}

impl Response {
    /// The body of a `201 Created`; panics, showing the response, on any other status.
    #[track_caller]
    pub fn created(self) -> Value {
        assert_eq!(self.status, 201, "expected 201 Created: {}", self.text);
        self.body
    }

    /// The `id` of the resource in the body.
    #[track_caller]
    pub fn id(&self) -> String {
        self.body["id"]
            .as_str()
            .unwrap_or_else(|| panic!("no id in {}", self.text))
            .to_string()
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The `field` of each entry in a problem's `errors`.
    pub fn error_fields(&self) -> Vec<String> {
        self.body["errors"]
            .as_array()
            .map(|errors| {
                errors
                    .iter()
                    .map(|e| e["field"].as_str().unwrap_or_default().to_string())
                    .collect()
            })
            .unwrap_or_default()
    }
}

impl TestApp {
    pub async fn spawn(backend: Backend) -> TestApp {
        Self::spawn_with(backend, |_| {})
            .await
            .expect("PostgreSQL is required for this test")
    }

    /// A server whose settings `configure` adjusted first; `None` for
    /// PostgreSQL when it is unreachable and not required (see [`TestApp::spawn_postgres`]).
    pub async fn spawn_with(backend: Backend, configure: fn(&mut Settings)) -> Option<TestApp> {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().expect("temp dir");
                let url = format!("sqlite://{}", dir.path().join("refuge.db").display());
                Some(Self::start(backend, url, Some(dir), None, configure).await)
            }
            Backend::Postgres => Self::spawn_postgres_with(configure).await,
        }
    }

    /// A server on a fresh PostgreSQL database, or `None` (with a notice on
    /// the terminal) when no PostgreSQL server is reachable and CI does not require one.
    pub async fn spawn_postgres() -> Option<TestApp> {
        Self::spawn_postgres_with(|_| {}).await
    }

    async fn spawn_postgres_with(configure: fn(&mut Settings)) -> Option<TestApp> {
        let pg = postgres_database()?;
        let url = pg.url.clone();
        Some(Self::start(Backend::Postgres, url, None, Some(pg), configure).await)
    }

    async fn start(
        backend: Backend,
        url: String,
        dir: Option<tempfile::TempDir>,
        pg: Option<PgDatabase>,
        configure: fn(&mut Settings),
    ) -> TestApp {
        let mut settings = test_settings(url);
        configure(&mut settings);
        let build_settings = settings.clone();
        let app = tokio::task::spawn_blocking(move || Application::build(&build_settings))
            .await
            .unwrap()
            .expect("the application starts");
        let address = format!("http://127.0.0.1:{}", app.port());
        let db = app.db();
        tokio::spawn(app.run_until_stopped());
        let mut test_app = TestApp {
            address,
            backend,
            settings,
            db,
            // Redirects are answers to check against openapi.yaml, not to follow.
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("an HTTP client"),
            admin_token: String::new(),
            _sqlite_dir: dir,
            _pg: pg,
        };
        test_app.admin_token = test_app.login("admin", ADMIN_PASSWORD).await;
        test_app
    }

    /// A token for the first admin.
    pub fn admin(&self) -> &str {
        &self.admin_token
    }

    /// Logs in and returns the access token.
    pub async fn login(&self, username: &str, password: &str) -> String {
        let response = self
            .post(
                "/api/v1/auth/login",
                None,
                &json!({ "username": username, "password": password }),
            )
            .await;
        assert_eq!(
            response.status, 200,
            "login as {username}: {}",
            response.text
        );
        response.body["access_token"].as_str().unwrap().to_string()
    }

    /// Creates an account directly in the database (as `refuge user add` does) and logs in.
    pub async fn user(&self, username: &str, role: Role, center_codes: &[&str]) -> String {
        self.create_user_with(username, role, center_codes).await;
        self.login(username, USER_PASSWORD).await
    }

    /// Creates an account with `role` at the centers with `center_codes`
    /// (their codes, e.g. `GORIS`), whose password is [`USER_PASSWORD`].
    pub async fn create_user_with(
        &self,
        username: &str,
        role: Role,
        center_codes: &[&str],
    ) -> User {
        let username = username.to_string();
        let codes: Vec<String> = center_codes.iter().map(|c| c.to_string()).collect();
        self.with_db(move |conn| {
            accounts::create_user(
                conn,
                NewUser {
                    username: &username,
                    display_name: None,
                    password: USER_PASSWORD,
                    role,
                    center_codes: &codes,
                    passwords: &refuge::accounts::Passwords {
                        cost: TEST_PASSWORD_COST,
                        min_score: 3,
                    },
                },
            )
            .unwrap()
        })
        .await
    }

    /// What every start (and `refuge migrate`) runs, on a connection of its
    /// own: the migrations, then the rebuild of stale derived rows.
    pub async fn migrate_as_at_start(&self) {
        let settings = self.settings.database.clone();
        tokio::task::spawn_blocking(move || {
            let db = refuge::db::Db::open(&settings).unwrap();
            refuge::app::migrate(&db).unwrap()
        })
        .await
        .unwrap();
    }

    /// `reviews.csv` as `token` pulls it (checked as HXL): its text, and
    /// one map from column to value per row.
    pub async fn reviews_report(
        &self,
        token: &str,
    ) -> (String, Vec<std::collections::HashMap<String, String>>) {
        let response = self
            .get("/api/v1/reports/reviews.csv?hxl=1", Some(token))
            .await;
        assert_eq!(response.status, 200, "{}", response.text);
        check_hxl("reviews.csv", &response.text);
        let (header, rows) = parse_csv(&response.text);
        let rows = rows
            .iter()
            .skip(1) // the HXL hashtags
            .map(|row| header.iter().cloned().zip(row.iter().cloned()).collect())
            .collect();
        (response.text, rows)
    }

    /// Runs `work` on the app's writer connection (as start-up and the
    /// command line do), off the async workers.
    /// The statistics aggregates as stored, and as a recount of the
    /// records gives them (what `refuge stats verify` compares).
    pub async fn aggregates_and_recount(
        &self,
    ) -> (refuge::stats::Aggregates, refuge::stats::Aggregates) {
        self.with_db(|conn| {
            (
                refuge::stats::stored(conn).unwrap(),
                refuge::stats::expected(conn).unwrap(),
            )
        })
        .await
    }

    pub async fn with_db<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut refuge::db::DbConnection) -> T + Send + 'static,
    ) -> T {
        let db = self.db.clone();
        tokio::task::spawn_blocking(move || {
            let mut conn = db.connection_for_setup().unwrap();
            work(&mut conn)
        })
        .await
        .unwrap()
    }

    /// PostgreSQL may be shared by several API processes: a second server on
    /// the same database (its own pool and writers, nothing shared in memory)
    /// to race the first. None on SQLite, which is single-process by design.
    pub async fn second_server(&self) -> Option<String> {
        if self.backend != Backend::Postgres {
            return None;
        }
        let settings = self.settings.clone();
        let second =
            tokio::task::spawn_blocking(move || refuge::app::Application::build(&settings))
                .await
                .unwrap()
                .expect("a second server starts on the same database");
        let address = format!("http://127.0.0.1:{}", second.port());
        tokio::spawn(second.run_until_stopped());
        Some(address)
    }

    /// Creates a center (as admin) and returns its id.
    pub async fn center(&self, code: &str) -> String {
        let response = self
            .post(
                "/api/v1/centers",
                Some(self.admin()),
                &json!({ "code": code, "name": format!("{code} center"), "kind": "registration_center", "province": "AM-SU" }),
            )
            .await;
        assert_eq!(response.status, 201, "{}", response.text);
        response.id()
    }

    /// Registers a household (`body`, e.g. from [`household`]) as admin and
    /// returns it as created.
    pub async fn register(&self, body: &Value) -> Value {
        self.post("/api/v1/households", Some(self.admin()), body)
            .await
            .created()
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> Response {
        self.send(Method::GET, path, token, None, &[]).await
    }

    pub async fn post(&self, path: &str, token: Option<&str>, body: &Value) -> Response {
        self.send(
            Method::POST,
            path,
            token,
            Some(body.to_string().into_bytes()),
            &[],
        )
        .await
    }

    pub async fn patch(
        &self,
        path: &str,
        token: Option<&str>,
        body: &Value,
        if_match: Option<&str>,
    ) -> Response {
        let headers: Vec<(&str, &str)> =
            if_match.map(|v| vec![("if-match", v)]).unwrap_or_default();
        self.send(
            Method::PATCH,
            path,
            token,
            Some(body.to_string().into_bytes()),
            &headers,
        )
        .await
    }

    /// Sends any request; a body is sent as application/json unless `headers` set a content type.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Vec<u8>>,
        headers: &[(&str, &str)],
    ) -> Response {
        self.send_to(&self.address, method, path, token, body, headers)
            .await
    }

    /// [`TestApp::send`] to the server at `base` (e.g. a [`TestApp::second_server`]).
    pub async fn send_to(
        &self,
        base: &str,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Vec<u8>>,
        headers: &[(&str, &str)],
    ) -> Response {
        let mut request = self.client.request(method.clone(), format!("{base}{path}"));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let sets_content_type = headers
            .iter()
            .any(|(name, _)| name.eq_ignore_ascii_case("content-type"));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        if let Some(body) = body {
            if !sets_content_type {
                request = request.header("content-type", "application/json");
            }
            request = request.body(body);
        }
        let response = request.send().await.expect("the server answers");
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = response.text().await.unwrap();
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        let response = Response {
            status,
            headers,
            body,
            text,
        };
        crate::contract::check(&method, path, &response);
        response
    }
}

/// A valid registration body for a household of `size` members at `center_id`,
/// with Armenian names.
pub fn household(center_id: &str, size: usize) -> Value {
    let given = [
        "Արամ",
        "Անի",
        "Նարեկ",
        "Մարիամ",
        "Տիգրան",
        "Լուսինե",
        "Դավիթ",
    ];
    let members: Vec<Value> = (0..size)
        .map(|i| {
            json!({
                "given_name": given[i % given.len()],
                "family_name": "Հովհաննիսյան",
                "sex": if i % 2 == 0 { "male" } else { "female" },
                "relationship": match i { 0 => "head", 1 => "spouse", _ => "child" },
                "birth_date": format!("{}-03-0{}", 1975 + i * 7, 1 + i % 9),
                "needs": []
            })
        })
        .collect();
    json!({
        "center_id": center_id,
        "arrived_at": "2023-09-26T14:30:00+04:00",
        "origin_settlement": "Ստեփանակերտ",
        "intended_destination": "AM-KT",
        "phone": "+37491234567",
        "members": members
    })
}

/// The openapi.yaml document, parsed once.
pub static OPENAPI: LazyLock<Value> = LazyLock::new(|| {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/openapi.yaml"))
        .expect("openapi.yaml");
    serde_yaml::from_str(&text).expect("openapi.yaml parses")
});

/// Parses a CSV body (after an optional BOM) into header and rows.
pub fn parse_csv(text: &str) -> (Vec<String>, Vec<Vec<String>>) {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut reader = csv::ReaderBuilder::new().from_reader(text.as_bytes());
    let header = reader
        .headers()
        .unwrap()
        .iter()
        .map(str::to_string)
        .collect();
    let rows = reader
        .records()
        .map(|r| r.unwrap().iter().map(str::to_string).collect())
        .collect();
    (header, rows)
}

/// The value of `column` in `row`.
pub fn csv_cell<'a>(header: &[String], row: &'a [String], column: &str) -> &'a str {
    let i = header
        .iter()
        .position(|h| h == column)
        .unwrap_or_else(|| panic!("no column {column} in {header:?}"));
    &row[i]
}

/// Checks a CSV export with the reference HXL library (tests/hxl/check.py:
/// libhxl's validation and the HXL 1.1 dictionary of standard hashtags and
/// attributes); panics with the checker's output when it finds an error.
/// Skipped, with a note, where python3 or libhxl is missing, unless
/// `REFUGE_REQUIRE_HXL=1` (as in CI).
pub fn check_hxl(name: &str, csv: &str) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(name);
    std::fs::write(&path, csv).unwrap();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/hxl/check.py");
    let required = std::env::var("REFUGE_REQUIRE_HXL").is_ok_and(|v| v == "1");
    let output = match std::process::Command::new("python3")
        .arg(script)
        .arg(&path)
        .output()
    {
        Ok(output) => output,
        Err(error) if !required => {
            eprintln!("HXL check of {name} skipped: python3 is not available ({error})");
            return;
        }
        Err(error) => panic!("REFUGE_REQUIRE_HXL=1 but python3 cannot run: {error}"),
    };
    let printed = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    match output.status.code() {
        Some(0) => {}
        Some(2) if !required => eprintln!("HXL check of {name} skipped: {printed}"),
        _ => panic!("{name} fails the HXL check:\n{printed}\n--- the file:\n{csv}"),
    }
}
