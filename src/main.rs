//! The `refuge` command: serve the API, migrate the database, manage accounts and centers.

use std::io::BufRead;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use refuge::accounts::store::{self as account_store, Change};
use refuge::accounts::{self, NewUser, Passwords, Role, User};
use refuge::centers::{self, CenterKind, NewCenter};
use refuge::config::Settings;
use refuge::db::audit::{Actor, Event};
use refuge::db::{Db, DbConnection, Unit};
use refuge::error::ApiError;
use refuge::provinces::Provinces;
use refuge::reports::{self, Report, ReportQuery};

/// Registration of refugees and tracking of the aid they receive.
#[derive(Parser)]
#[command(name = "refuge", version, about)]
struct Cli {
    /// A TOML file applied over the built-in defaults (config/default.toml);
    /// REFUGE__SECTION__KEY environment variables override both.
    #[arg(long, global = true, env = "REFUGE_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the HTTP API (applies pending migrations first).
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Manage user accounts.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Manage centers.
    Center {
        #[command(subcommand)]
        command: CenterCommand,
    },
    /// Replay a documented displacement through the registration path.
    Scenario {
        #[command(subcommand)]
        command: ScenarioCommand,
    },
    /// Write a CSV report to a file, as `GET /api/v1/reports/{name}.csv`
    /// gives it to an admin (see the README's "Reports").
    Export(ExportArgs),
    /// Import households and members from a CSV file (layout: README, or
    /// GET /api/v1/imports/template.csv). The whole file is validated first;
    /// nothing is written unless every row is valid. Importing the same file
    /// again changes nothing.
    Import {
        /// The CSV file (UTF-8, header row, one row per person).
        file: PathBuf,
        /// Only validate the file and report what would be created.
        #[arg(long)]
        dry_run: bool,
        /// The account the import acts as and records as `registered_by`:
        /// an admin, or a registrar assigned to the file's centers.
        #[arg(long, default_value = "admin")]
        username: String,
    },
    /// Read or purge the audit trail.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Check or rebuild the statistics aggregates.
    Stats {
        #[command(subcommand)]
        command: StatsCommand,
    },
    /// Find possible duplicates among the records already registered.
    Duplicates {
        #[command(subcommand)]
        command: DuplicatesCommand,
    },
}

#[derive(Subcommand)]
enum DuplicatesCommand {
    /// Match every record against the others (records registered before
    /// matching existed, imports, two centers in the same instant) and put
    /// the pairs found in the review queue; decided pairs keep their decision.
    Scan,
}

#[derive(Subcommand)]
enum ScenarioCommand {
    /// The September-October 2023 exodus from Nagorno-Karabakh: flow counts at
    /// Kornidzor and registrations at Goris and four other centers that
    /// reproduce every dated official figure (sources: src/scenario/data/SOURCES.md).
    /// Deterministic for a seed; safe to run again (nothing is registered twice).
    #[command(name = "nk-2023")]
    Nk2023 {
        /// Multiply every documented figure by this (0.01 gives about 1,000 people).
        #[arg(long, default_value_t = 1.0)]
        scale: f64,
        /// Seed for names, household make-up and timing within each hour.
        #[arg(long, default_value_t = 2023)]
        seed: u64,
        /// Send the replay to the running server at this URL (e.g.
        /// http://127.0.0.1:8080) through its API, instead of writing to the
        /// configured database. Logs in as an admin, with the password from
        /// the REFUGE_PASSWORD environment variable.
        #[arg(long)]
        url: Option<String>,
        /// The admin account to log in as with --url.
        #[arg(
            long,
            env = "REFUGE_USERNAME",
            default_value = "admin",
            requires = "url"
        )]
        username: String,
    },
}

#[derive(clap::Args)]
struct ExportArgs {
    /// displacement, registrations, assistance, stock, shelters or transport.
    #[arg(value_parser = parse_report)]
    name: Report,
    /// The file to write (replaced only once the whole report is written);
    /// `-` for standard output.
    #[arg(long)]
    out: PathBuf,
    /// A date (a whole day in Asia/Yerevan) or an RFC 3339 instant.
    #[arg(long)]
    from: Option<String>,
    /// A date (included) or an RFC 3339 instant (excluded).
    #[arg(long)]
    to: Option<String>,
    /// Only this center (its code, e.g. GORIS).
    #[arg(long)]
    center: Option<String>,
    /// Start with a UTF-8 byte-order mark, for Excel.
    #[arg(long)]
    bom: bool,
    /// Add the HXL hashtag row under the header.
    #[arg(long)]
    hxl: bool,
    /// Comma-separated column names, in the order wanted.
    #[arg(long)]
    columns: Option<String>,
    /// displacement only: one row per sex and age band.
    #[arg(long, value_parser = ["sex_age"])]
    disaggregate: Option<String>,
    /// Exact counts: do not withhold small counts (suppression is on by
    /// default, as for the API, since exports travel).
    #[arg(long)]
    no_suppress: bool,
}

fn parse_report(name: &str) -> Result<Report, String> {
    Report::from_name(name).ok_or_else(|| {
        let names: Vec<&str> = Report::ALL.iter().map(|r| r.name()).collect();
        format!("expected one of {}", names.join(", "))
    })
}

#[derive(Subcommand)]
enum StatsCommand {
    /// Compare the aggregates with a recount from the records; exits 1 if they differ.
    Verify,
    /// Replace the aggregates with a recount from the records (e.g. after a partial restore).
    Rebuild,
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Write the audit entries of a period as CSV (oldest first).
    Export {
        /// A date (a whole day in Asia/Yerevan, as for `refuge export`) or an
        /// RFC 3339 instant; included.
        #[arg(long)]
        from: Option<String>,
        /// A date (included) or an RFC 3339 instant (excluded).
        #[arg(long)]
        to: Option<String>,
        /// The file to write; `-` (the default) for standard output.
        #[arg(long, default_value = "-")]
        out: PathBuf,
    },
    /// Delete the entries older than `audit.retention_days` (at least 365).
    /// `refuge serve` does this daily.
    Purge,
}

#[derive(Subcommand)]
enum UserCommand {
    /// Create an account. The password is read from the first line of standard input.
    Add {
        username: String,
        /// admin, registrar, aid_worker, analyst or auditor.
        #[arg(long)]
        role: Role,
        /// Center code the account is scoped to (repeat for several); required
        /// for registrars and aid workers, refused for the other roles.
        #[arg(long = "center")]
        centers: Vec<String>,
        /// The person's name, as admins see it.
        #[arg(long)]
        display_name: Option<String>,
        /// Read the password from standard input (the only way: never on the command line).
        #[arg(long, required = true)]
        password_stdin: bool,
    },
    /// List the accounts, with their role, centers and state.
    List,
    /// Disable an account: its tokens stop working (within
    /// auth.revocation_refresh_seconds on running servers) and it cannot log in.
    Disable { username: String },
    /// Enable a disabled account.
    Enable { username: String },
    /// Change an account's role (and centers); its tokens stop working.
    SetRole {
        username: String,
        #[arg(long)]
        role: Role,
        /// Center code (repeat for several): required for registrars and aid workers.
        #[arg(long = "center")]
        centers: Vec<String>,
    },
    /// Set a temporary password, read from the first line of standard input;
    /// the account must change it at its next login, and its tokens stop working.
    ResetPassword {
        username: String,
        #[arg(long, required = true)]
        password_stdin: bool,
    },
    /// Clear the failed logins that lock an account's username.
    Unlock { username: String },
}

#[derive(Subcommand)]
enum CenterCommand {
    /// Create a center.
    Add {
        /// Unique short code, e.g. GORIS.
        #[arg(long)]
        code: String,
        #[arg(long)]
        name: String,
        /// border_crossing, registration_center, aid_point, collective_shelter or warehouse.
        #[arg(long, value_parser = parse_kind)]
        kind: CenterKind,
        /// ISO 3166-2 province code, e.g. AM-SU.
        #[arg(long)]
        province: String,
        #[arg(long, allow_hyphen_values = true)]
        latitude: Option<f64>,
        #[arg(long, allow_hyphen_values = true)]
        longitude: Option<f64>,
        /// IANA timezone for the center's day boundaries.
        #[arg(long, default_value = centers::DEFAULT_TIMEZONE)]
        timezone: String,
        /// How other centers reach this one (shown with confirmed tracing
        /// matches), e.g. "tracing desk +374 284 2 21 00".
        #[arg(long)]
        contact: Option<String>,
    },
}

fn parse_kind(text: &str) -> Result<CenterKind, String> {
    CenterKind::parse(text).ok_or_else(|| {
        "expected border_crossing, registration_center, aid_point, collective_shelter or warehouse".to_string()
    })
}

fn main() -> ExitCode {
    // Initialise the OpenSSL that libpq links without its exit-time clean-up:
    // that clean-up runs while r2d2's threads may still hold (or be opening)
    // TLS connections to PostgreSQL, and crashes the process as it exits
    // (diesel issue #3441), turning a successful command into a failure.
    openssl_sys::init();
    let cli = Cli::parse();
    let settings = match Settings::load(cli.config.as_deref()) {
        Ok(settings) => settings,
        Err(error) => {
            eprintln!("refuge: configuration: {error}");
            return ExitCode::from(2);
        }
    };
    let mut log = settings.log.clone();
    if matches!(
        cli.command,
        Command::Scenario { .. } | Command::Import { .. } | Command::Duplicates { .. }
    ) && log.level == "info"
    {
        // Log lines would drown the progress bar.
        log.level = "warn".into();
    }
    refuge::init_logging(&log);
    match run(cli.command, settings) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("refuge: {message}");
            ExitCode::FAILURE
        }
    }
}

fn run(command: Command, settings: Settings) -> Result<(), String> {
    match command {
        Command::Serve => serve(settings),
        Command::Stats { command } => stats(command, &settings),
        Command::Duplicates {
            command: DuplicatesCommand::Scan,
        } => scan_duplicates(&settings),
        Command::Export(args) => export(args, &settings),
        Command::Import {
            file,
            dry_run,
            username,
        } => import(file, dry_run, &username, &settings),
        Command::Scenario {
            command:
                ScenarioCommand::Nk2023 {
                    scale,
                    seed,
                    url,
                    username,
                },
        } => scenario(scale, seed, url.map(|url| (url, username)), &settings),
        Command::Migrate => {
            let db = open(&settings)?;
            let applied = refuge::app::migrate(&db).map_err(|e| e.to_string())?;
            println!(
                "{applied} migration(s) applied to the {} database",
                db.backend_name()
            );
            Ok(())
        }
        Command::User { command } => user(command, &settings),
        Command::Audit { command } => audit(command, &settings),
        Command::Center {
            command:
                CenterCommand::Add {
                    code,
                    name,
                    kind,
                    province,
                    latitude,
                    longitude,
                    timezone,
                    contact,
                },
        } => {
            let provinces = Provinces::new(&settings.provinces.extra)?;
            let db = open(&settings)?;
            refuge::app::migrate(&db).map_err(|e| e.to_string())?;
            let mut conn = db.connection_for_setup().map_err(|e| e.to_string())?;
            let new = NewCenter {
                code,
                name,
                kind,
                province,
                latitude,
                longitude,
                timezone: Some(timezone),
                contact,
            };
            let center = centers::create(&mut conn, new, &provinces).map_err(|e| e.to_string())?;
            println!("created center {} ({})", center.code, center.id);
            Ok(())
        }
    }
}

fn scenario(
    scale: f64,
    seed: u64,
    remote: Option<(String, String)>,
    settings: &Settings,
) -> Result<(), String> {
    use refuge::scenario::{remote as http, replay, Options};
    if !(scale.is_finite() && scale > 0.0 && scale <= 10.0) {
        return Err("--scale must be greater than 0 and at most 10".into());
    }
    let options = Options { scale, seed };
    let progress = replay::progress_bar(0);
    let (report, mismatches) = match remote {
        Some((url, username)) => {
            let password = std::env::var("REFUGE_PASSWORD")
                .map_err(|_| "--url needs the password of the admin account in REFUGE_PASSWORD")?;
            let server = http::Server::login(&url, &username, &password)?;
            let report = http::replay(&server, &options, &progress)?;
            (report, http::check(&server, &options)?)
        }
        None => {
            let provinces = Provinces::new(&settings.provinces.extra)?;
            let db = open(settings)?;
            refuge::app::migrate(&db).map_err(|e| e.to_string())?;
            let mut conn = db.connection_for_setup().map_err(|e| e.to_string())?;
            let report = replay::replay(&mut conn, &options, &provinces, &progress)
                .map_err(|e| e.to_string())?;
            (
                report,
                replay::check(&mut conn, &options).map_err(|e| e.to_string())?,
            )
        }
    };
    println!(
        "replayed nk-2023 (scale {scale}, seed {seed}): {} flow counts, {} households ({} persons), \
         {} corrections, {} placements in state accommodation, {} departures, {} stock receipts, \
         {} distributions (fuel, cash, food), {} bus trips carrying {} families; \
         {} events were already recorded",
        report.flow_counts,
        report.households,
        report.persons,
        report.corrections,
        report.placements,
        report.departures,
        report.receipts,
        report.distributions,
        report.trips,
        report.boardings,
        report.already_there
    );
    if mismatches.is_empty() {
        println!(
            "every documented figure is reproduced by the statistics at its timestamp ({} checkpoints)",
            refuge::scenario::checkpoints(scale).len()
        );
        let (met, all) =
            refuge::scenario::nk2023::accommodation_met(&refuge::scenario::plan(&options), scale);
        if met == all {
            println!(
                "state-provided accommodation matches all {all} documented figures (totals and provinces)"
            );
        } else {
            println!(
                "state-provided accommodation matches the plan; at scale {scale} whole households make up \
                 {met} of the {all} documented figures exactly (all of them at scale 1)"
            );
        }
        Ok(())
    } else {
        for m in &mismatches {
            eprintln!(
                "{} {}: documented {}, statistics report {}",
                m.observed_at, m.figure, m.documented, m.reported
            );
        }
        Err(format!(
            "{} documented figure(s) not reproduced (was the database used for other registrations?)",
            mismatches.len()
        ))
    }
}

fn export(args: ExportArgs, settings: &Settings) -> Result<(), String> {
    let db = open(settings)?;
    refuge::app::migrate(&db).map_err(|e| e.to_string())?;
    let mut conn = db.connection_for_reading().map_err(|e| e.to_string())?;
    let center_id = match &args.center {
        Some(code) => Some(
            centers::find_by_code(&mut conn, code)
                .map_err(|e| e.to_string())?
                .ok_or_else(|| format!("no center has the code {code}"))?
                .id,
        ),
        None => None,
    };
    let query = ReportQuery {
        from: args.from,
        to: args.to,
        center_id,
        bom: Some(args.bom),
        hxl: Some(args.hxl),
        suppress: args.no_suppress.then_some(false),
        columns: args.columns,
        disaggregate: args.disaggregate.map(|_| reports::Disaggregate::SexAge),
    };
    let request = query
        .resolve_for_operator(args.name, settings.stats.suppression_k)
        .map_err(|e| e.to_string())?;
    if args.out.as_os_str() == "-" {
        let stdout = std::io::stdout().lock();
        let (_, _, event) = reports::export(&mut conn, &request, std::io::BufWriter::new(stdout))
            .map_err(|e| e.to_string())?;
        drop(conn);
        return record_export(settings, event);
    }
    // Written beside the target and renamed at the end, so that a failed
    // export never leaves a file that looks complete.
    let partial = args.out.with_extension("csv.partial");
    let file = std::fs::File::create(&partial)
        .map_err(|e| format!("cannot create {}: {e}", partial.display()))?;
    let (rows, _, event) = reports::export(&mut conn, &request, std::io::BufWriter::new(file))
        .inspect_err(|_| {
            let _ = std::fs::remove_file(&partial);
        })
        .map_err(|e| e.to_string())?;
    std::fs::rename(&partial, &args.out)
        .map_err(|e| format!("cannot write {}: {e}", args.out.display()))?;
    drop(conn);
    record_export(settings, event)?;
    eprintln!(
        "wrote {rows} rows of the {} report to {}",
        args.name.name(),
        args.out.display()
    );
    Ok(())
}

/// Records a person-level export in the audit trail (aggregate reports are not personal data).
fn record_export(settings: &Settings, event: Option<Event>) -> Result<(), String> {
    match event {
        Some(event) => as_operator(settings, |unit| {
            unit.audit(event);
            Ok(())
        }),
        None => Ok(()),
    }
}

/// `refuge import`: the API's import, run directly on the configured database.
fn import(file: PathBuf, dry_run: bool, username: &str, settings: &Settings) -> Result<(), String> {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;

    use refuge::imports::{self, Pass};

    let size = std::fs::metadata(&file)
        .map_err(|e| format!("cannot read {}: {e}", file.display()))?
        .len();
    let provinces = Provinces::new(&settings.provinces.extra)?;
    let db = open(settings)?;
    refuge::app::migrate(&db).map_err(|e| e.to_string())?;
    let user = {
        let mut conn = db.connection_for_setup().map_err(|e| e.to_string())?;
        accounts::find_by_username(&mut conn, username).map_err(|e| e.to_string())?
    }
    .filter(|user| !user.disabled)
    .ok_or_else(|| format!("no active account named {username:?}"))?;
    let caller = refuge::auth::Caller::acting_as(&user);
    let scope = caller
        .registration_scope()
        .map_err(|e| format!("{username}: {e}"))?;

    let bar = indicatif::ProgressBar::new(size);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{elapsed_precise} [{bar:40}] {bytes}/{total_bytes} ({bytes_per_sec}, {eta} left) {msg}",
        )
        .expect("a valid template")
        .progress_chars("=> "),
    );
    bar.set_message("validating");
    let writing = AtomicBool::new(false);
    let progress_bar = bar.clone();
    let progress: imports::Progress = Arc::new(move |pass, bytes| {
        if pass == Pass::Writing && !writing.swap(true, Ordering::Relaxed) {
            progress_bar.set_message("importing");
            progress_bar.reset();
        }
        progress_bar.set_position(bytes);
    });
    let options = imports::Options {
        dry_run,
        registered_by: caller.user_id,
        actor: caller.actor(),
        scope,
        provinces,
        weights: settings.matching,
    };
    let result = actix_web::rt::System::new().block_on(imports::run(
        &db,
        Arc::new(file.clone()),
        options,
        progress,
    ));
    bar.finish_and_clear();
    match result {
        Ok(summary) => {
            println!(
                "{}",
                serde_json::to_string_pretty(&summary).map_err(|e| e.to_string())?
            );
            Ok(())
        }
        Err(refuge::error::ApiError::ImportInvalid(report)) => {
            for error in &report.errors {
                eprintln!(
                    "{}:{}{}: {} ({})",
                    file.display(),
                    error.line,
                    error
                        .column
                        .as_ref()
                        .map(|c| format!(" {c}"))
                        .unwrap_or_default(),
                    error.message,
                    error.code
                );
            }
            if report.error_count > report.errors.len() {
                eprintln!("... and {} more", report.error_count - report.errors.len());
            }
            Err(format!(
                "{} error(s) in {} ({} rows); nothing was imported",
                report.error_count,
                file.display(),
                report.rows
            ))
        }
        Err(error) => Err(error.to_string()),
    }
}

fn read_password() -> Result<String, String> {
    let mut password = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut password)
        .map_err(|e| format!("cannot read the password: {e}"))?;
    Ok(password.trim_end_matches(['\r', '\n']).to_string())
}

/// Runs `work` on the database as the operator at the command line, in one
/// transaction with the audit entries it records.
fn as_operator<T>(
    settings: &Settings,
    work: impl FnOnce(&mut Unit<'_>) -> Result<T, ApiError>,
) -> Result<T, String> {
    let db = open(settings)?;
    refuge::app::migrate(&db).map_err(|e| e.to_string())?;
    let mut conn = db.connection_for_setup().map_err(|e| e.to_string())?;
    Unit::transaction(&mut conn, &Actor::system("cli"), work).map_err(|e| e.to_string())
}

fn account_named(conn: &mut DbConnection, username: &str) -> Result<User, ApiError> {
    accounts::find_by_username(conn, username)?
        .ok_or_else(|| ApiError::NotFound(format!("no account named {username:?}")))
}

/// Changes the account named `username` as `change` (worked out in the same
/// transaction) says, as `PATCH /api/v1/users/{id}` does.
fn change_account(
    settings: &Settings,
    username: &str,
    change: impl FnOnce(&mut Unit<'_>) -> Result<Change, ApiError>,
) -> Result<User, String> {
    as_operator(settings, |unit| {
        let user = account_named(unit, username)?;
        let change = change(unit)?;
        Ok(account_store::update(unit, user.id, user.version, change)?.user)
    })
}

/// `refuge user ...`: the same rules as `/api/v1/users`.
fn user(command: UserCommand, settings: &Settings) -> Result<(), String> {
    let passwords = Passwords::new(&settings.auth);
    match command {
        UserCommand::Add {
            username,
            role,
            centers,
            display_name,
            password_stdin: _,
        } => {
            let password = read_password()?;
            let user = as_operator(settings, |unit| {
                let user = accounts::create_user(
                    unit,
                    NewUser {
                        username: &username,
                        display_name: display_name.as_deref(),
                        password: &password,
                        role,
                        center_codes: &centers,
                        passwords: &passwords,
                    },
                )?;
                unit.audit(
                    Event::new("account.create")
                        .resource("account", user.id)
                        .version(user.version),
                );
                Ok(user)
            })?;
            println!("created {} {} ({})", user.role, user.username, user.id);
        }
        UserCommand::List => {
            use refuge::http::paging::{Cursor, PageQuery};
            let db = open(settings)?;
            refuge::app::migrate(&db).map_err(|e| e.to_string())?;
            let mut conn = db.connection_for_reading().map_err(|e| e.to_string())?;
            println!(
                "{:<24} {:<11} {:<9} {:<8} centers",
                "username", "role", "state", "password"
            );
            let mut cursor: Option<String> = None;
            loop {
                let paging =
                    PageQuery::new(Some(500), cursor.as_deref()).map_err(|e| e.to_string())?;
                let users = account_store::list(&mut conn, &Default::default(), &paging)
                    .map_err(|e| e.to_string())?;
                let page = paging
                    .page(
                        users,
                        |u| Cursor::encode(u.created_at, &u.id.to_string()),
                        Ok,
                    )
                    .map_err(|e| e.to_string())?;
                for user in &page.items {
                    println!(
                        "{:<24} {:<11} {:<9} {:<8} {}",
                        user.username,
                        user.role,
                        if user.disabled { "disabled" } else { "active" },
                        if user.must_change_password {
                            "temporary"
                        } else {
                            "set"
                        },
                        user.centers
                            .iter()
                            .map(ToString::to_string)
                            .collect::<Vec<_>>()
                            .join(",")
                    );
                }
                match page.next_cursor {
                    Some(next) => cursor = Some(next),
                    None => break,
                }
            }
        }
        UserCommand::Disable { username } => {
            let user = change_account(settings, &username, |_| {
                Ok(Change {
                    disabled: Some(true),
                    ..Change::default()
                })
            })?;
            println!("disabled {}; its tokens no longer work", user.username);
        }
        UserCommand::Enable { username } => {
            let user = change_account(settings, &username, |_| {
                Ok(Change {
                    disabled: Some(false),
                    ..Change::default()
                })
            })?;
            println!("enabled {}", user.username);
        }
        UserCommand::SetRole {
            username,
            role,
            centers,
        } => {
            // The centers are looked up in the transaction that changes the account.
            let user = change_account(settings, &username, |unit| {
                let (ids, errors) = account_store::centers_by_code(unit, &centers)?;
                if !errors.is_empty() {
                    return Err(ApiError::Validation(errors));
                }
                Ok(Change {
                    role: Some(role),
                    centers: Some(ids),
                    ..Change::default()
                })
            })?;
            println!(
                "{} is now {}; its tokens no longer work",
                user.username, user.role
            );
        }
        UserCommand::ResetPassword {
            username,
            password_stdin: _,
        } => {
            let password = read_password()?;
            let user = as_operator(settings, |unit| {
                let user = account_named(unit, &username)?;
                account_store::set_password(unit, &user, &password, true, "password", &passwords)
            })?;
            println!(
                "set a temporary password for {}; it must be changed at the next login",
                user.username
            );
        }
        UserCommand::Unlock { username } => {
            let user = as_operator(settings, |unit| {
                let user = account_named(unit, &username)?;
                refuge::auth::throttle::clear(
                    unit,
                    &refuge::auth::throttle::Key::username(&username),
                )?;
                unit.audit(Event::new("account.unlock").resource("account", user.id));
                Ok(user)
            })?;
            println!("unlocked {}", user.username);
        }
    }
    Ok(())
}

fn audit(command: AuditCommand, settings: &Settings) -> Result<(), String> {
    match command {
        AuditCommand::Export { from, to, out } => {
            // Read as `refuge export` reads its period.
            let period = reports::Period::parse(from.as_deref(), to.as_deref())
                .map_err(|e| e.to_string())?;
            let (from, to) = (period.from, period.to);
            let db = open(settings)?;
            refuge::app::migrate(&db).map_err(|e| e.to_string())?;
            let mut conn = db.connection_for_reading().map_err(|e| e.to_string())?;
            let rows = if out.as_os_str() == "-" {
                let stdout = std::io::stdout().lock();
                refuge::audit::export_csv(&mut conn, from, to, std::io::BufWriter::new(stdout))
                    .map_err(|e| e.to_string())?
            } else {
                let partial = out.with_extension("csv.partial");
                let file = std::fs::File::create(&partial)
                    .map_err(|e| format!("cannot create {}: {e}", partial.display()))?;
                let rows =
                    refuge::audit::export_csv(&mut conn, from, to, std::io::BufWriter::new(file))
                        .inspect_err(|_| {
                            let _ = std::fs::remove_file(&partial);
                        })
                        .map_err(|e| e.to_string())?;
                std::fs::rename(&partial, &out)
                    .map_err(|e| format!("cannot write {}: {e}", out.display()))?;
                rows
            };
            drop(conn);
            as_operator(settings, |unit| {
                unit.audit(Event::new("audit.export").detail(serde_json::json!({
                    "from": from.map(|t| t.and_utc()),
                    "to": to.map(|t| t.and_utc()),
                    "rows": rows,
                })));
                Ok(())
            })?;
            eprintln!("wrote {rows} audit entries");
            Ok(())
        }
        AuditCommand::Purge => {
            let db = open(settings)?;
            refuge::app::migrate(&db).map_err(|e| e.to_string())?;
            let mut conn = db.connection_for_setup().map_err(|e| e.to_string())?;
            let purged = refuge::audit::purge(
                &mut conn,
                settings.audit.retention_days,
                &Actor::system("cli"),
            )
            .map_err(|e| e.to_string())?;
            println!(
                "purged {purged} audit entries older than {} days",
                settings.audit.retention_days
            );
            Ok(())
        }
    }
}

fn stats(command: StatsCommand, settings: &Settings) -> Result<(), String> {
    let db = open(settings)?;
    refuge::app::migrate(&db).map_err(|e| e.to_string())?;
    let mut conn = db.connection_for_setup().map_err(|e| e.to_string())?;
    match command {
        StatsCommand::Verify => {
            let stored = refuge::stats::stored(&mut conn).map_err(|e| e.to_string())?;
            let expected = refuge::stats::expected(&mut conn).map_err(|e| e.to_string())?;
            let differing = stored.differing_rows(&expected);
            if differing > 0 {
                return Err(format!(
                    "{differing} aggregate row(s) differ from the records: run `refuge stats rebuild`"
                ));
            }
            println!("{} aggregate rows match the records", expected.rows());
            Ok(())
        }
        StatsCommand::Rebuild => {
            use diesel::Connection;
            let rows = conn
                .transaction(|conn| refuge::stats::rebuild(conn))
                .map_err(|e| e.to_string())?;
            println!("rebuilt {rows} aggregate rows from the records");
            Ok(())
        }
    }
}

fn scan_duplicates(settings: &Settings) -> Result<(), String> {
    let db = open(settings)?;
    refuge::app::migrate(&db).map_err(|e| e.to_string())?;
    // Counted on a reader: the writer's large page cache stays for writes.
    let mut conn = db.connection_for_reading().map_err(|e| e.to_string())?;
    let total =
        refuge::duplicates::detect::records_to_scan(&mut conn).map_err(|e| e.to_string())?;
    let bar = indicatif::ProgressBar::new(total);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{elapsed_precise} [{bar:40}] {pos}/{len} records ({per_sec}, {eta} left)",
        )
        .expect("a valid template")
        .progress_chars("=> "),
    );
    drop(conn);
    let summary =
        refuge::duplicates::detect::scan(&db, &settings.matching, |n| bar.set_position(n))
            .map_err(|e| e.to_string())?;
    bar.finish_and_clear();
    println!(
        "matched {} records: {} possible duplicate pairs, {} pending review",
        summary.persons, summary.pairs, summary.pending
    );
    Ok(())
}

fn open(settings: &Settings) -> Result<Db, String> {
    settings.check()?;
    Db::open(&settings.database).map_err(|e| e.to_string())
}

#[actix_web::main]
async fn serve(settings: Settings) -> Result<(), String> {
    let app = refuge::app::Application::build(&settings).map_err(|e| e.to_string())?;
    tracing::info!(
        address = %format!("{}:{}", settings.server.host, app.port()),
        database = %settings.database.redacted_url(),
        "refuge is listening"
    );
    app.run_until_stopped().await.map_err(|e| e.to_string())
}
