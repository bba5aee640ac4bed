//! The command line: migrate, center add, user add (password on stdin), --help.

use std::io::Write;
use std::process::{Command, Output, Stdio};

fn refuge(dir: &std::path::Path, args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_refuge"))
        .args(args)
        .current_dir(dir)
        .env("REFUGE__DATABASE__URL", "sqlite://cli.db")
        .env("REFUGE__LOG__LEVEL", "warn")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

#[test]
fn accounts_and_centers_can_be_created_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let migrate = refuge(dir.path(), &["migrate"], "");
    assert!(migrate.status.success(), "{}", text(&migrate));
    let migrations = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations/sqlite"))
        .unwrap()
        .count();
    assert!(
        text(&migrate).contains(&format!(
            "{migrations} migration(s) applied to the sqlite database"
        )),
        "{}",
        text(&migrate)
    );

    let center = refuge(
        dir.path(),
        &[
            "center",
            "add",
            "--code",
            "GORIS",
            "--name",
            "Goris hub",
            "--kind",
            "registration_center",
            "--province",
            "AM-SU",
        ],
        "",
    );
    assert!(center.status.success(), "{}", text(&center));

    let user = refuge(
        dir.path(),
        &[
            "user",
            "add",
            "anna",
            "--role",
            "registrar",
            "--center",
            "GORIS",
            "--password-stdin",
        ],
        "a registrar password\n",
    );
    assert!(user.status.success(), "{}", text(&user));
    assert!(text(&user).contains("created registrar anna"));

    let taken = refuge(
        dir.path(),
        &[
            "user",
            "add",
            "anna",
            "--role",
            "analyst",
            "--password-stdin",
        ],
        "another long password\n",
    );
    assert!(!taken.status.success());
    assert!(text(&taken).contains("already taken"), "{}", text(&taken));

    let unscoped = refuge(
        dir.path(),
        &[
            "user",
            "add",
            "bob",
            "--role",
            "registrar",
            "--password-stdin",
        ],
        "a registrar password\n",
    );
    assert!(!unscoped.status.success());
    assert!(text(&unscoped).contains("centers"), "{}", text(&unscoped));

    let weak = refuge(
        dir.path(),
        &[
            "user",
            "add",
            "carl",
            "--role",
            "auditor",
            "--password-stdin",
        ],
        "short\n",
    );
    assert!(!weak.status.success());

    let bad_province = refuge(
        dir.path(),
        &[
            "center",
            "add",
            "--code",
            "X",
            "--name",
            "x",
            "--kind",
            "warehouse",
            "--province",
            "Syunik",
        ],
        "",
    );
    assert!(!bad_province.status.success());

    for args in [
        &["--help"][..],
        &["serve", "--help"],
        &["user", "add", "--help"],
        &["center", "add", "--help"],
    ] {
        let help = refuge(dir.path(), args, "");
        assert!(help.status.success(), "{args:?}: {}", text(&help));
    }
}

#[test]
fn production_mode_refuses_the_development_secret() {
    let dir = tempfile::tempdir().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_refuge"))
        .arg("serve")
        .current_dir(dir.path())
        .env("REFUGE__ENVIRONMENT", "production")
        .env("REFUGE__SERVER__PORT", "0")
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(
        text(&output).contains("development JWT secret"),
        "{}",
        text(&output)
    );
}

#[test]
fn a_small_scenario_replay_reproduces_its_figures_and_can_run_again() {
    let dir = tempfile::tempdir().unwrap();
    let first = refuge(dir.path(), &["scenario", "nk-2023", "--scale", "0.01"], "");
    assert!(first.status.success(), "{}", text(&first));
    assert!(
        text(&first).contains("every documented figure is reproduced"),
        "{}",
        text(&first)
    );
    let again = refuge(dir.path(), &["scenario", "nk-2023", "--scale", "0.01"], "");
    assert!(again.status.success(), "{}", text(&again));
    assert!(
        text(&again).contains("0 flow counts, 0 households (0 persons), 0 corrections"),
        "{}",
        text(&again)
    );
    let verify = refuge(dir.path(), &["stats", "verify"], "");
    assert!(verify.status.success(), "{}", text(&verify));
    assert!(text(&verify).contains("aggregate rows match the records"));
    let bad = refuge(dir.path(), &["scenario", "nk-2023", "--scale", "0"], "");
    assert!(!bad.status.success());
    assert!(text(&bad).contains("--scale"), "{}", text(&bad));
}

#[test]
fn a_csv_file_imports_once_from_the_command_line_after_a_dry_run() {
    let dir = tempfile::tempdir().unwrap();
    let center = refuge(
        dir.path(),
        &[
            "center",
            "add",
            "--code",
            "GORIS",
            "--name",
            "Goris hub",
            "--kind",
            "registration_center",
            "--province",
            "AM-SU",
        ],
        "",
    );
    assert!(center.status.success(), "{}", text(&center));
    let admin = refuge(
        dir.path(),
        &[
            "user",
            "add",
            "admin",
            "--role",
            "admin",
            "--password-stdin",
        ],
        "an admin password\n",
    );
    assert!(admin.status.success(), "{}", text(&admin));
    let file = dir.path().join("goris.csv");
    std::fs::write(&file, crate::imports::csv_file("GORIS", 50)).unwrap();
    let file = file.to_str().unwrap();
    let summary = |output: &Output| -> serde_json::Value {
        serde_json::from_slice(&output.stdout)
            .unwrap_or_else(|_| panic!("a JSON summary: {}", text(output)))
    };

    let dry = refuge(dir.path(), &["import", file, "--dry-run"], "");
    assert!(dry.status.success(), "{}", text(&dry));
    assert_eq!(summary(&dry)["dry_run"], true);
    assert_eq!(summary(&dry)["created"]["households"], 50);

    let imported = refuge(dir.path(), &["import", file], "");
    assert!(imported.status.success(), "{}", text(&imported));
    assert_eq!(
        summary(&imported)["created"],
        serde_json::json!({"households": 50, "persons": 200})
    );
    let again = refuge(dir.path(), &["import", file, "--username", "admin"], "");
    assert!(again.status.success(), "{}", text(&again));
    assert_eq!(summary(&again)["created"]["households"], 0);
    assert_eq!(summary(&again)["unchanged"]["households"], 50);
    let verify = refuge(dir.path(), &["stats", "verify"], "");
    assert!(verify.status.success(), "{}", text(&verify));

    let bad = dir.path().join("bad.csv");
    let content = crate::imports::csv_file("GORIS", 2).replacen(",male,", ",M,", 1);
    std::fs::write(&bad, content).unwrap();
    let refused = refuge(dir.path(), &["import", bad.to_str().unwrap()], "");
    assert!(!refused.status.success());
    assert!(
        text(&refused).contains("bad.csv:2 sex: expected"),
        "{}",
        text(&refused)
    );
    assert!(text(&refused).contains("1 error(s)"), "{}", text(&refused));

    let nobody = refuge(dir.path(), &["import", file, "--username", "nobody"], "");
    assert!(!nobody.status.success());
    assert!(
        text(&nobody).contains("no active account"),
        "{}",
        text(&nobody)
    );

    // The first family registered again, an hour later: the import
    // queues its four members' pairs, and the scan finds them again
    // without queueing them twice.
    let again = dir.path().join("again.csv");
    let content = crate::imports::csv_file("GORIS", 1)
        .replace(" 08:00,", " 09:00,")
        .replace("GOR-00000,", "GOR-AGAIN,");
    std::fs::write(&again, content).unwrap();
    let imported = refuge(dir.path(), &["import", again.to_str().unwrap()], "");
    assert!(imported.status.success(), "{}", text(&imported));
    assert_eq!(summary(&imported)["created"]["households"], 1);
    let pending = |output: &Output| -> u64 {
        let out = text(output);
        let words: Vec<&str> = out.split_whitespace().collect();
        assert_eq!(words.first(), Some(&"matched"), "{out}");
        assert_eq!(words[1], "204", "{out}");
        let at = words.iter().position(|w| *w == "pending").unwrap();
        words[at - 1].parse().unwrap()
    };
    let scan = refuge(dir.path(), &["duplicates", "scan"], "");
    assert!(scan.status.success(), "{}", text(&scan));
    let found = pending(&scan);
    assert!(found >= 4, "{}", text(&scan));
    let rescan = refuge(dir.path(), &["duplicates", "scan"], "");
    assert_eq!(pending(&rescan), found, "{}", text(&rescan));
}

/// The binary links its own libpq and OpenSSL (Cargo.toml: pq-sys `bundled`,
/// openssl-sys `vendored`); this proves TLS works with them. With
/// `sslmode=require` libpq refuses to talk without TLS, so a migration that
/// succeeds went over TLS.
#[test]
fn the_binary_connects_to_postgresql_over_tls() {
    use diesel::{Connection, RunQueryDsl};
    #[derive(diesel::QueryableByName)]
    struct Ssl {
        #[diesel(sql_type = diesel::sql_types::Text)]
        ssl: String,
    }
    let Some(database) = crate::helpers::postgres_database() else {
        return;
    };
    let mut conn = diesel::PgConnection::establish(&database.url).unwrap();
    let ssl = diesel::sql_query("SHOW ssl")
        .get_result::<Ssl>(&mut conn)
        .unwrap()
        .ssl;
    drop(conn);
    if ssl != "on" {
        let advice = "the PostgreSQL server has ssl = off, so TLS cannot be tested: \
                      turn it on (ALTER SYSTEM SET ssl = on, with a certificate and key, \
                      e.g. Debian's ssl-cert-snakeoil; then SELECT pg_reload_conf()), as .ci/run does";
        assert!(!crate::helpers::postgres_required(), "{advice}");
        eprintln!("TLS test skipped: {advice}");
        return;
    }
    let (base, query) = database.url.split_once('?').unwrap_or((&database.url, ""));
    let query: Vec<&str> = query
        .split('&')
        .filter(|p| !p.is_empty() && !p.starts_with("sslmode="))
        .chain(["sslmode=require"])
        .collect();
    let url = format!("{base}?{}", query.join("&"));
    let dir = tempfile::tempdir().unwrap();
    for args in [&["migrate"][..], &["stats", "verify"]] {
        let output = Command::new(env!("CARGO_BIN_EXE_refuge"))
            .args(args)
            .current_dir(dir.path())
            .env("REFUGE__DATABASE__URL", &url)
            .env("REFUGE__LOG__LEVEL", "warn")
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "refuge {args:?} over sslmode=require: {}",
            text(&output)
        );
    }
}

#[test]
fn accounts_are_administered_and_the_trail_exported_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str], stdin: &str| {
        let output = refuge(dir.path(), args, stdin);
        (output.status.success(), text(&output))
    };
    assert!(run(&["migrate"], "").0);
    let (ok, out) = run(
        &[
            "center",
            "add",
            "--code",
            "GORIS",
            "--name",
            "Goris hub",
            "--kind",
            "registration_center",
            "--province",
            "AM-SU",
        ],
        "",
    );
    assert!(ok, "{out}");
    for (name, role) in [("boss", "admin"), ("anna", "registrar")] {
        let mut args = vec!["user", "add", name, "--role", role, "--password-stdin"];
        if role == "registrar" {
            args.extend(["--center", "GORIS", "--display-name", "Anna K."]);
        }
        let (ok, out) = run(&args, "copper meadow violin 1987\n");
        assert!(ok, "{out}");
    }
    let (ok, out) = run(&["user", "disable", "anna"], "");
    assert!(ok && out.contains("disabled anna"), "{out}");
    let (_, listed) = run(&["user", "list"], "");
    let anna = listed.lines().find(|l| l.starts_with("anna ")).unwrap();
    assert!(
        anna.contains("registrar") && anna.contains("disabled"),
        "{listed}"
    );
    assert!(run(&["user", "enable", "anna"], "").0);
    let (ok, out) = run(
        &[
            "user",
            "set-role",
            "anna",
            "--role",
            "aid_worker",
            "--center",
            "GORIS",
        ],
        "",
    );
    assert!(ok && out.contains("is now aid_worker"), "{out}");
    let (ok, out) = run(&["user", "set-role", "anna", "--role", "aid_worker"], "");
    assert!(!ok && out.contains("centers"), "{out}");
    let (ok, out) = run(
        &["user", "reset-password", "anna", "--password-stdin"],
        "password123\n",
    );
    assert!(
        !ok && out.contains("password"),
        "a weak temporary password is refused: {out}"
    );
    let (ok, out) = run(
        &["user", "reset-password", "anna", "--password-stdin"],
        "temporary harbor kettle 55\n",
    );
    assert!(ok && out.contains("temporary password"), "{out}");
    let (_, listed) = run(&["user", "list"], "");
    assert!(
        listed
            .lines()
            .any(|l| l.starts_with("anna ") && l.contains("temporary")),
        "{listed}"
    );
    assert!(run(&["user", "unlock", "anna"], "").0);
    let (ok, out) = run(&["user", "disable", "boss"], "");
    assert!(!ok && out.contains("last active admin"), "{out}");
    let (ok, out) = run(&["user", "disable", "nobody"], "");
    assert!(!ok && out.contains("no account named"), "{out}");

    let (ok, out) = run(
        &[
            "audit",
            "export",
            "--from",
            "2020-01-01",
            "--out",
            "audit.csv",
        ],
        "",
    );
    assert!(ok, "{out}");
    let csv = std::fs::read_to_string(dir.path().join("audit.csv")).unwrap();
    let actions: Vec<&str> = csv
        .lines()
        .skip(1)
        .map(|l| l.split(',').nth(6).unwrap())
        .collect();
    assert_eq!(
        actions,
        vec![
            "account.create",
            "account.create",
            "account.update",
            "account.update",
            "account.update",
            "account.password_reset",
            "account.unlock"
        ],
        "{csv}"
    );
    assert!(
        csv.lines().skip(1).all(|l| l.contains(",cli,system,")),
        "{csv}"
    );
    let (ok, out) = run(&["audit", "export", "--to", "2020-01-01"], "");
    assert!(
        ok && out.starts_with("id,occurred_at") && out.contains("wrote 0 audit entries"),
        "{out}"
    );
    let (ok, out) = run(&["audit", "purge"], "");
    assert!(
        ok && out.contains("purged 0 audit entries older than 730 days"),
        "{out}"
    );
}
