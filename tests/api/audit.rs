//! The audit trail (issue 12): who saw or changed whose data, when and where.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use diesel::connection::SimpleConnection;
use refuge::accounts::Role;
use reqwest::Method;
use serde_json::{json, Value};

use crate::backend_tests;
use crate::helpers::{household, TestApp};

backend_tests!(
    reads_searches_and_writes_of_personal_data_are_recorded,
    only_admins_and_auditors_read_the_trail,
    a_refused_write_leaves_no_entry_and_a_correction_records_its_version,
    logins_failures_logouts_and_account_changes_are_recorded,
    person_level_exports_and_imports_are_recorded_with_their_row_count,
    the_database_refuses_to_change_or_delete_the_trail,
);

/// Every entry matching `query` (`action=...&person_id=...`), as an auditor sees it.
async fn entries(app: &TestApp, query: &str) -> Vec<Value> {
    let response = app
        .get(
            &format!("/api/v1/audit?limit=500&{query}"),
            Some(app.admin()),
        )
        .await;
    assert_eq!(response.status, 200, "{}", response.text);
    response.body["items"].as_array().unwrap().clone()
}

async fn reads_searches_and_writes_of_personal_data_are_recorded(app: TestApp) {
    let goris = app.center("GORIS").await;
    let registrar = app.user("reg", Role::Registrar, &["GORIS"]).await;
    let registered = app
        .post(
            "/api/v1/households",
            Some(&registrar),
            &household(&goris, 2),
        )
        .await
        .created();
    let household_id = registered["id"].as_str().unwrap().to_string();
    let person = registered["members"][0]["id"].as_str().unwrap().to_string();

    let read = app
        .get(&format!("/api/v1/persons/{person}"), Some(&registrar))
        .await;
    assert_eq!(read.status, 200);
    let request_id = read.header("x-request-id").unwrap().to_string();
    let found = app
        .get("/api/v1/persons?name=%D5%80%D5%B8%D5%BE", Some(&registrar))
        .await;
    assert_eq!(found.status, 200);
    assert_eq!(found.body["items"].as_array().unwrap().len(), 2);
    app.get(
        &format!("/api/v1/households/{household_id}"),
        Some(&registrar),
    )
    .await;
    // Exported by an admin, corrected by another registrar.
    let export = app
        .get("/api/v1/reports/registrations.csv", Some(app.admin()))
        .await;
    assert_eq!(export.status, 200);
    let other = app.user("reg2", Role::Registrar, &["GORIS"]).await;
    let corrected = app
        .patch(
            &format!("/api/v1/households/{household_id}"),
            Some(&other),
            &json!({"phone": "+37491000000"}),
            Some("\"1\""),
        )
        .await;
    assert_eq!(corrected.status, 200, "{}", corrected.text);

    let seen = entries(&app, &format!("person_id={person}")).await;
    let actions: Vec<&str> = seen.iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(
        actions,
        vec![
            "household.create",
            "person.read",
            "person.search",
            "household.read",
            "report.export",
            "household.update"
        ]
    );
    let who: Vec<&str> = seen
        .iter()
        .map(|e| e["username"].as_str().unwrap())
        .collect();
    assert_eq!(who, vec!["reg", "reg", "reg", "reg", "admin", "reg2"]);
    assert_eq!(seen[5]["version"], 2);
    // No name, phone number, document or search text in the trail.
    let everything = app
        .get("/api/v1/audit?limit=500", Some(app.admin()))
        .await
        .text;
    for personal in [
        "Արամ",
        "Հովհաննիսյան",
        "Ստեփանակերտ",
        "37491234567",
        "37491000000",
        "%D5",
    ] {
        assert!(!everything.contains(personal), "{personal} in the trail");
    }
    let created = &seen[0];
    assert_eq!(created["version"], 1);
    assert_eq!(created["household_ids"], json!([household_id]));
    let person_read = &seen[1];
    assert_eq!(person_read["username"], "reg");
    assert_eq!(person_read["role"], "registrar");
    assert_eq!(person_read["center_id"], goris.as_str());
    assert_eq!(person_read["request_id"], request_id.as_str());
    assert_eq!(person_read["resource_type"], "person");
    assert_eq!(person_read["resource_id"], person.as_str());
    // A search names the persons it returned, never what was searched for.
    let search = &seen[2];
    assert_eq!(search["person_ids"].as_array().unwrap().len(), 2);
    let text = search.to_string();
    assert!(!text.contains("Հով") && !text.contains("%D5"), "{text}");
    assert_eq!(search["detail"]["by_name"], true);

    // Who saw this person, and when.
    let access = app
        .get(
            &format!("/api/v1/persons/{person}/access"),
            Some(app.admin()),
        )
        .await;
    assert_eq!(access.status, 200, "{}", access.text);
    assert_eq!(access.body["items"].as_array().unwrap().len(), 6);
    assert!(access.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .all(|e| e["account_id"].is_string() && e["occurred_at"].is_string()));
    let unknown = app
        .get(
            &format!("/api/v1/persons/{}/access", uuid::Uuid::new_v4()),
            Some(app.admin()),
        )
        .await;
    assert_eq!(unknown.status, 404);

    // Filters combine, and the trail pages.
    let by_action = entries(
        &app,
        &format!("action=person.read&household_id={household_id}"),
    )
    .await;
    assert_eq!(by_action.len(), 1);
    let first = app
        .get(
            &format!("/api/v1/audit?person_id={person}&limit=3"),
            Some(app.admin()),
        )
        .await;
    let cursor = first.body["next_cursor"].as_str().unwrap();
    let rest = app
        .get(
            &format!("/api/v1/audit?person_id={person}&limit=3&cursor={cursor}"),
            Some(app.admin()),
        )
        .await;
    assert_eq!(rest.body["items"][0]["action"], "household.read");
    assert_eq!(rest.body["items"].as_array().unwrap().len(), 3);
    assert_eq!(rest.body["next_cursor"], Value::Null);
}

async fn only_admins_and_auditors_read_the_trail(app: TestApp) {
    app.center("GORIS").await;
    let auditor = app.user("aud", Role::Auditor, &[]).await;
    assert_eq!(app.get("/api/v1/audit", Some(&auditor)).await.status, 200);
    for (name, role, centers) in [
        ("reg", Role::Registrar, &["GORIS"][..]),
        ("aid", Role::AidWorker, &["GORIS"][..]),
        ("ana", Role::Analyst, &[][..]),
    ] {
        let token = app.user(name, role, centers).await;
        assert_eq!(app.get("/api/v1/audit", Some(&token)).await.status, 403);
    }
    let bad = app
        .get("/api/v1/audit?action=DROP%20TABLE", Some(&auditor))
        .await;
    assert_eq!(bad.status, 400);
}

async fn a_refused_write_leaves_no_entry_and_a_correction_records_its_version(app: TestApp) {
    let goris = app.center("GORIS").await;
    let before = entries(&app, "action=household.create").await.len();
    let mut invalid = household(&goris, 1);
    invalid["members"] = json!([]);
    let refused = app
        .post("/api/v1/households", Some(app.admin()), &invalid)
        .await;
    assert_eq!(refused.status, 422);
    assert_eq!(entries(&app, "action=household.create").await.len(), before);

    let registered = app.register(&household(&goris, 1)).await;
    let id = registered["id"].as_str().unwrap();
    let corrected = app
        .patch(
            &format!("/api/v1/households/{id}"),
            Some(app.admin()),
            &json!({"phone": "+37491000000"}),
            Some("\"1\""),
        )
        .await;
    assert_eq!(corrected.status, 200, "{}", corrected.text);
    let updates = entries(&app, &format!("action=household.update&household_id={id}")).await;
    assert_eq!(updates.len(), 1);
    assert_eq!(updates[0]["version"], 2);
    assert_eq!(updates[0]["username"], "admin");
}

async fn logins_failures_logouts_and_account_changes_are_recorded(app: TestApp) {
    let user = app.create_user_with("mane", Role::Analyst, &[]).await;
    let token = app.login("mane", crate::helpers::USER_PASSWORD).await;
    let failed = app
        .post(
            "/api/v1/auth/login",
            None,
            &json!({"username": "mane", "password": "a wrong guess"}),
        )
        .await;
    assert_eq!(failed.status, 401);
    app.send(Method::POST, "/api/v1/auth/logout", Some(&token), None, &[])
        .await;
    let disabled = app
        .patch(
            &format!("/api/v1/users/{}", user.id),
            Some(app.admin()),
            &json!({"disabled": true}),
            Some("\"1\""),
        )
        .await;
    assert_eq!(disabled.status, 200);
    let about: Vec<String> = entries(&app, "")
        .await
        .iter()
        .filter(|e| e["resource_id"] == user.id.to_string().as_str())
        .map(|e| e["action"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        about,
        vec![
            "auth.login",
            "auth.login_failed",
            "auth.logout",
            "account.update"
        ]
    );
    let failure = entries(&app, "action=auth.login_failed").await;
    assert_eq!(
        failure[0]["account_id"],
        Value::Null,
        "nobody authenticated"
    );
    assert!(
        !failure[0].to_string().contains("a wrong guess"),
        "no password is kept"
    );
    let change = entries(&app, "action=account.update").await;
    assert_eq!(change[0]["detail"]["tokens_revoked"], true);
    assert_eq!(change[0]["version"], 2);
}

async fn person_level_exports_and_imports_are_recorded_with_their_row_count(app: TestApp) {
    let goris = app.center("GORIS").await;
    app.register(&household(&goris, 3)).await;
    let export = app
        .get(
            &format!("/api/v1/reports/registrations.csv?center_id={goris}&from=2023-09-01"),
            Some(app.admin()),
        )
        .await;
    assert_eq!(export.status, 200);
    let recorded = entries(&app, "action=report.export").await;
    assert_eq!(recorded.len(), 1);
    assert_eq!(recorded[0]["detail"]["report"], "registrations");
    assert_eq!(recorded[0]["detail"]["rows"], 3);
    assert_eq!(recorded[0]["detail"]["centers"], json!([goris]));
    assert_eq!(recorded[0]["household_ids"].as_array().unwrap().len(), 1);
    assert!(recorded[0]["detail"]["from"].is_string());
    // Aggregate reports hold no personal data and are not recorded.
    let displacement = app
        .get("/api/v1/reports/displacement.csv", Some(app.admin()))
        .await;
    assert_eq!(displacement.status, 200);
    assert_eq!(entries(&app, "action=report.export").await.len(), 1);

    let csv = crate::imports::csv_file("GORIS", 1);
    let imported = crate::imports::upload(&app, app.admin(), &csv, false).await;
    assert_eq!(imported.status, 201, "{}", imported.text);
    let import = entries(&app, "action=import.create").await;
    assert_eq!(import.len(), 1);
    assert_eq!(import[0]["detail"]["households_created"], 1);
    assert_eq!(import[0]["detail"]["rows"], imported.body["rows"]);
}

async fn the_database_refuses_to_change_or_delete_the_trail(app: TestApp) {
    let goris = app.center("GORIS").await;
    // An entry with subjects (the household).
    app.register(&household(&goris, 1)).await;
    assert!(!entries(&app, "").await.is_empty());
    let refused = app
        .with_db(|conn| {
            [
                "UPDATE audit_events SET action = 'nothing'",
                "DELETE FROM audit_events",
                "UPDATE audit_subjects SET subject_id = 'x'",
                "DELETE FROM audit_subjects",
            ]
            .map(|statement| conn.batch_execute(statement).is_err())
        })
        .await;
    assert_eq!(refused, [true; 4]);
    // Past the retention period (at least a year), the purge removes entries.
    let purged = app
        .with_db(|conn| {
            conn.batch_execute(
                "INSERT INTO audit_events (id, occurred_at, action) \
                 VALUES ('00000000-0000-7000-8000-000000000001', '2020-01-01 00:00:00', 'old.entry')",
            )
            .unwrap();
            refuge::audit::purge(conn, 365, &refuge::db::audit::Actor::system("test")).unwrap()
        })
        .await;
    assert_eq!(purged, 1);
    assert!(entries(&app, "action=old.entry").await.is_empty());
    assert_eq!(entries(&app, "action=audit.purge").await.len(), 1);
}

/// A read is recorded durably before its response is sent: the server is
/// killed (SIGKILL, no chance to flush anything) the moment the response
/// arrives, and the entry is in the database when it is opened again.
#[test]
fn an_acknowledged_read_survives_a_crash_of_the_server() {
    let dir = tempfile::tempdir().unwrap();
    let database = format!("sqlite://{}/crash.db", dir.path().display());
    let password = "crash test admin password 77";
    let mut child = Command::new(env!("CARGO_BIN_EXE_refuge"))
        .arg("serve")
        .env("REFUGE__DATABASE__URL", &database)
        .env("REFUGE__SERVER__PORT", "0")
        .env("REFUGE__BOOTSTRAP__ADMIN_PASSWORD", password)
        .env("REFUGE__BOOTSTRAP__ADMIN_PASSWORD_FILE", "")
        .env("REFUGE__LOG__FORMAT", "json")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The listening line names the address.
    let stdout = child.stdout.take().unwrap();
    let mut port = None;
    for line in BufReader::new(stdout).lines() {
        let line = line.unwrap();
        let event: Value = serde_json::from_str(&line).unwrap();
        if event["message"] == "refuge is listening" {
            let address = event["address"].as_str().unwrap().to_string();
            port = address.rsplit(':').next().map(str::to_string);
            break;
        }
    }
    let base = format!("http://127.0.0.1:{}", port.expect("the server starts"));
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let person = runtime.block_on(async {
        let client = reqwest::Client::new();
        let token: Value = client
            .post(format!("{base}/api/v1/auth/login"))
            .json(&json!({"username": "admin", "password": password}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let token = token["access_token"].as_str().unwrap().to_string();
        let center: Value = client
            .post(format!("{base}/api/v1/centers"))
            .bearer_auth(&token)
            .json(&json!({"code": "GORIS", "name": "Goris", "kind": "registration_center", "province": "AM-SU"}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let registered: Value = client
            .post(format!("{base}/api/v1/households"))
            .bearer_auth(&token)
            .json(&household(center["id"].as_str().unwrap(), 1))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let person = registered["members"][0]["id"].as_str().unwrap().to_string();
        let read = client
            .get(format!("{base}/api/v1/persons/{person}"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(read.status(), 200);
        person
    });
    // Killed the moment the read is acknowledged.
    child.kill().unwrap();
    child.wait().unwrap();
    let export = Command::new(env!("CARGO_BIN_EXE_refuge"))
        .args(["audit", "export"])
        .env("REFUGE__DATABASE__URL", &database)
        .env("REFUGE__LOG__LEVEL", "warn")
        .output()
        .unwrap();
    assert!(
        export.status.success(),
        "{}",
        String::from_utf8_lossy(&export.stderr)
    );
    let csv = String::from_utf8(export.stdout).unwrap();
    let reads: Vec<&str> = csv
        .lines()
        .filter(|line| line.contains(",person.read,") && line.contains(&person))
        .collect();
    assert_eq!(reads.len(), 1, "{csv}");
    assert!(csv.starts_with("id,occurred_at,request_id,account_id,username,role,action,"));
}
