//! The real binary, started the way the README says, with settings from the
//! environment: it serves, logs JSON lines, and never logs personal data.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::json;

#[test]
fn the_binary_serves_from_environment_settings_and_logs_no_personal_data() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_refuge"))
        .arg("serve")
        .current_dir(dir.path())
        .env("REFUGE__SERVER__PORT", "0")
        .env("REFUGE__LOG__FORMAT", "json")
        .env("REFUGE__LOG__LEVEL", "debug")
        .env(
            "REFUGE__BOOTSTRAP__ADMIN_PASSWORD",
            "a long enough admin password",
        )
        .env_remove("RUST_LOG")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("refuge starts");
    let stdout = child.stdout.take().unwrap();
    let (lines_tx, lines_rx) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if lines_tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut logged = Vec::new();
    let address = loop {
        let line = lines_rx
            .recv_timeout(Duration::from_secs(60))
            .expect("refuge logs that it is listening");
        let event: serde_json::Value = serde_json::from_str(&line).expect("log lines are JSON");
        logged.push(line);
        if event["message"] == "refuge is listening" {
            break event["address"].as_str().unwrap().to_string();
        }
    };
    assert!(
        dir.path().join("data/refuge.db").exists(),
        "the SQLite file is created on first start"
    );

    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let client = reqwest::Client::new();
        let base = format!("http://{address}");
        let login: serde_json::Value = client
            .post(format!("{base}/api/v1/auth/login"))
            .json(&json!({"username": "admin", "password": "a long enough admin password"}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let token = login["access_token"].as_str().unwrap();
        let center: serde_json::Value = client
            .post(format!("{base}/api/v1/centers"))
            .bearer_auth(token)
            .json(&json!({"code": "GORIS", "name": "Goris", "kind": "registration_center", "province": "AM-SU"}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let mut body = crate::helpers::household(center["id"].as_str().unwrap(), 2);
        body["members"][0]["given_name"] = json!("Զարուհի");
        body["members"][0]["document"] = json!({"type": "passport", "number": "AR7654321"});
        body["members"][0]["needs"] = json!(["SV"]);
        body["phone"] = json!("+37499887766");
        let created = client.post(format!("{base}/api/v1/households")).bearer_auth(token).json(&body).send().await.unwrap();
        assert_eq!(created.status(), 201);
        let search = client
            .get(format!("{base}/api/v1/persons?name=%D5%A6%D5%A1%D6%80"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        assert_eq!(search.status(), 200);
        let count = crate::flows::count_body(center["id"].as_str().unwrap(), "2023-09-26T10:00:00Z");
        let counted = client.post(format!("{base}/api/v1/flow-counts")).bearer_auth(token).json(&count).send().await.unwrap();
        assert_eq!(counted.status(), 201);
        let invalid = client.post(format!("{base}/api/v1/households")).bearer_auth(token).json(&json!({"phone": "Զարուհի"})).send().await.unwrap();
        assert_eq!(invalid.status(), 422);
        // A trip, a boarding, its manifest and a referral with a status change.
        let household: serde_json::Value = created.json().await.unwrap();
        let person = household["members"][0]["id"].as_str().unwrap();
        let household = household["id"].as_str().unwrap();
        let organization: serde_json::Value = client.post(format!("{base}/api/v1/organizations")).bearer_auth(token).json(&json!({"code": "MLSA", "name": "Ministry", "kind": "government"})).send().await.unwrap().json().await.unwrap();
        let trip = crate::transport::trip_body(center["id"].as_str().unwrap(), organization["id"].as_str().unwrap(), 40);
        let trip: serde_json::Value = client.post(format!("{base}/api/v1/trips")).bearer_auth(token).json(&trip).send().await.unwrap().json().await.unwrap();
        let trip = trip["id"].as_str().unwrap();
        let boarded = client.post(format!("{base}/api/v1/trips/{trip}/boardings")).bearer_auth(token).json(&json!({"household_id": household})).send().await.unwrap();
        assert_eq!(boarded.status(), 201);
        let manifest = client.get(format!("{base}/api/v1/trips/{trip}/manifest")).bearer_auth(token).send().await.unwrap();
        assert_eq!(manifest.status(), 200);
        let referral = client.post(format!("{base}/api/v1/referrals")).bearer_auth(token).json(&crate::referrals::referral_body(household, person)).send().await.unwrap();
        assert_eq!(referral.status(), 201);
        let referral: serde_json::Value = referral.json().await.unwrap();
        let accepted = client.patch(format!("{base}/api/v1/referrals/{}", referral["id"].as_str().unwrap())).bearer_auth(token).header("if-match", "\"1\"").json(&json!({"status": "accepted"})).send().await.unwrap();
        assert_eq!(accepted.status(), 200);
    });
    std::thread::sleep(Duration::from_millis(300));
    child.kill().unwrap();
    let _ = child.wait();
    logged.extend(lines_rx.try_iter());
    let all = logged.join("\n");
    assert!(
        all.contains("\"route\":\"/api/v1/households\""),
        "requests are logged with their route: {all}"
    );
    for secret in [
        "Զարուհի",
        "Հովհաննիսյան",
        "AR7654321",
        "37499887766",
        "\"SV\"",
        "%D5%A6",
        "a long enough admin password",
        // Flow counts are not personal data, but bodies are never logged either.
        "by_sex_age",
        // Nor is a referral's category or priority.
        "emergency",
        "\"burn\"",
    ] {
        assert!(!all.contains(secret), "the log contains {secret:?}:\n{all}");
    }
}
