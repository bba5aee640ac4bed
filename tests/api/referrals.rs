//! Medical referrals: recorded for a household member, read by center,
//! moved through their statuses with If-Match, with a history that cannot
//! be edited.

use refuge::accounts::Role;
use reqwest::Method;
use serde_json::{json, Value};

use crate::backend_tests;
use crate::helpers::{household, Response, TestApp};

backend_tests!(
    referrals_are_recorded_and_validated,
    referral_status_moves_forward_only_with_if_match,
    referrals_are_by_role_and_center_and_safe_to_retry,
    referral_history_cannot_be_edited
);

/// Registers a household; returns its id and its members' ids.
async fn register(app: &TestApp, center: &str, size: usize) -> (String, Vec<String>) {
    let body = app.register(&household(center, size)).await;
    let members = body["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap().to_string())
        .collect();
    (body["id"].as_str().unwrap().to_string(), members)
}

pub fn referral_body(household: &str, person: &str) -> Value {
    json!({
        "household_id": household,
        "person_id": person,
        "facility": "Goris Medical Center",
        "facility_province": "AM-SU",
        "category": "burn",
        "priority": "emergency",
        "referred_at": "2023-09-26T16:00:00+04:00",
    })
}

async fn refer(app: &TestApp, token: &str, body: &Value) -> Response {
    app.post("/api/v1/referrals", Some(token), body).await
}

async fn set_status(app: &TestApp, token: &str, id: &str, status: &str, etag: &str) -> Response {
    app.patch(
        &format!("/api/v1/referrals/{id}"),
        Some(token),
        &json!({"status": status}),
        Some(etag),
    )
    .await
}

async fn referrals_are_recorded_and_validated(app: TestApp) {
    let goris = app.center("GORIS").await;
    let (family, members) = register(&app, &goris, 3).await;
    let (_, strangers) = register(&app, &goris, 1).await;
    let ngo = app
        .post(
            "/api/v1/organizations",
            Some(app.admin()),
            &json!({"code": "ARCS", "name": "Armenian Red Cross", "kind": "red_cross_red_crescent"}),
        )
        .await
        .body["id"]
        .clone();

    let mut body = referral_body(&family, &members[1]);
    body["organization_id"] = ngo.clone();
    let created = refer(&app, app.admin(), &body).await;
    assert_eq!(created.status, 201, "{}", created.text);
    let id = created.body["id"].as_str().unwrap();
    assert_eq!(created.header("etag"), Some("\"1\""));
    assert_eq!(
        created.header("location"),
        Some(format!("/api/v1/referrals/{id}").as_str())
    );
    assert_eq!(created.body["status"], "referred");
    assert_eq!(created.body["version"], 1);
    assert_eq!(created.body["person_id"], members[1].as_str());
    assert_eq!(created.body["organization_id"], ngo);
    assert_eq!(created.body["referred_at"], "2023-09-26T12:00:00Z");
    assert_eq!(created.body["history"].as_array().unwrap().len(), 1);
    assert_eq!(created.body["history"][0]["status"], "referred");
    assert_eq!(
        created.body["history"][0]["changed_at"],
        "2023-09-26T12:00:00Z"
    );
    let fetched = app
        .get(&format!("/api/v1/referrals/{id}"), Some(app.admin()))
        .await;
    assert_eq!(fetched.status, 200, "{}", fetched.text);
    assert_eq!(fetched.header("etag"), Some("\"1\""));
    assert_eq!(fetched.body, created.body);

    // Optional fields may be left out; referred_at defaults to now.
    let minimal = refer(
        &app,
        app.admin(),
        &json!({"household_id": family, "person_id": members[0], "facility": "Yerevan Burn Center",
                "category": "injury", "priority": "urgent"}),
    )
    .await;
    assert_eq!(minimal.status, 201, "{}", minimal.text);
    assert_eq!(minimal.body["facility_province"], Value::Null);
    assert_eq!(minimal.body["organization_id"], Value::Null);

    // Every offending field is named.
    let bad = refer(
        &app,
        app.admin(),
        &json!({"household_id": family, "person_id": members[0], "facility": " ",
                "facility_province": "AM-XX", "category": "burn", "priority": "urgent",
                "referred_at": "2099-01-01T00:00:00Z"}),
    )
    .await;
    assert_eq!(bad.status, 422, "{}", bad.text);
    assert_eq!(
        bad.error_fields(),
        ["facility", "facility_province", "referred_at"]
    );
    let too_long = refer(
        &app,
        app.admin(),
        &json!({"household_id": family, "person_id": members[0], "facility": "x".repeat(201),
                "category": "burn", "priority": "urgent"}),
    )
    .await;
    assert_eq!(too_long.error_fields(), ["facility"]);
    let cases: [(&str, Value, &str); 8] = [
        (
            "unknown household",
            {
                let mut b = referral_body(&family, &members[0]);
                b["household_id"] = json!(uuid::Uuid::new_v4());
                b
            },
            "household_id",
        ),
        (
            "a person of another household",
            referral_body(&family, &strangers[0]),
            "person_id",
        ),
        (
            "before the household arrived",
            {
                let mut b = referral_body(&family, &members[0]);
                b["referred_at"] = json!("2023-09-26T10:00:00+04:00");
                b
            },
            "referred_at",
        ),
        (
            "unknown organization",
            {
                let mut b = referral_body(&family, &members[0]);
                b["organization_id"] = json!(uuid::Uuid::new_v4());
                b
            },
            "organization_id",
        ),
        (
            "a diagnosis is not a category",
            {
                let mut b = referral_body(&family, &members[0]);
                b["category"] = json!("shrapnel wound, left leg");
                b
            },
            "category",
        ),
        (
            "no free-text clinical field",
            {
                let mut b = referral_body(&family, &members[0]);
                b["diagnosis"] = json!("second-degree burns");
                b
            },
            "diagnosis",
        ),
        (
            "unknown priority",
            {
                let mut b = referral_body(&family, &members[0]);
                b["priority"] = json!("whenever");
                b
            },
            "priority",
        ),
        (
            "the status is not chosen at creation",
            {
                let mut b = referral_body(&family, &members[0]);
                b["status"] = json!("accepted");
                b
            },
            "status",
        ),
    ];
    for (case, body, field) in cases {
        let response = refer(&app, app.admin(), &body).await;
        assert_eq!(response.status, 422, "{case}: {}", response.text);
        assert_eq!(response.error_fields(), [field], "{case}");
    }

    // Lists filter by household, status and center, oldest first.
    let listed = app
        .get(
            &format!("/api/v1/referrals?household_id={family}"),
            Some(app.admin()),
        )
        .await;
    assert_eq!(listed.status, 200, "{}", listed.text);
    let items = listed.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    assert_eq!(items[0]["id"], id);
    assert!(items[0].get("history").is_none());
    assert_eq!(listed.body["next_cursor"], Value::Null);
    let page = app
        .get("/api/v1/referrals?limit=1", Some(app.admin()))
        .await;
    let cursor = page.body["next_cursor"].as_str().unwrap();
    let rest = app
        .get(
            &format!("/api/v1/referrals?limit=1&cursor={cursor}"),
            Some(app.admin()),
        )
        .await;
    assert_eq!(rest.body["items"][0]["id"], minimal.body["id"]);
    let bad_status = app
        .get("/api/v1/referrals?status=healed", Some(app.admin()))
        .await;
    assert_eq!(bad_status.status, 400, "{}", bad_status.text);
    assert_eq!(bad_status.error_fields(), ["status"]);

    let family_id = uuid::Uuid::parse_str(&family).unwrap();
    let of_household = app
        .with_db(move |conn| refuge::referrals::of_household(conn, family_id).unwrap())
        .await;
    assert_eq!(of_household.len(), 2);
    assert_eq!(of_household[0].id.to_string(), id);
}

async fn referral_status_moves_forward_only_with_if_match(app: TestApp) {
    let goris = app.center("GORIS").await;
    let (family, members) = register(&app, &goris, 2).await;
    let created = refer(&app, app.admin(), &referral_body(&family, &members[0])).await;
    let id = created.body["id"].as_str().unwrap().to_string();
    let path = format!("/api/v1/referrals/{id}");

    let no_if_match = app
        .patch(
            &path,
            Some(app.admin()),
            &json!({"status": "accepted"}),
            None,
        )
        .await;
    assert_eq!(no_if_match.status, 428, "{}", no_if_match.text);
    let garbled = set_status(&app, app.admin(), &id, "accepted", "yesterday").await;
    assert_eq!(garbled.status, 400, "{}", garbled.text);
    assert_eq!(garbled.error_fields(), ["If-Match"]);
    let stale = set_status(&app, app.admin(), &id, "accepted", "\"7\"").await;
    assert_eq!(stale.status, 412, "{}", stale.text);
    assert_eq!(stale.header("etag"), Some("\"1\""));
    let unknown_status = set_status(&app, app.admin(), &id, "healed", "\"1\"").await;
    assert_eq!(unknown_status.status, 422, "{}", unknown_status.text);
    assert_eq!(unknown_status.error_fields(), ["status"]);
    let other_fields = app
        .patch(
            &path,
            Some(app.admin()),
            &json!({"status": "accepted", "facility": "elsewhere"}),
            Some("\"1\""),
        )
        .await;
    assert_eq!(other_fields.status, 422, "{}", other_fields.text);

    // referred -> completed skips acceptance: refused, nothing changes.
    let skipped = set_status(&app, app.admin(), &id, "completed", "\"1\"").await;
    assert_eq!(skipped.status, 409, "{}", skipped.text);
    assert_eq!(skipped.body["code"], "invalid-status-transition");
    let same = set_status(&app, app.admin(), &id, "referred", "\"1\"").await;
    assert_eq!(same.status, 409, "{}", same.text);

    let accepted = set_status(&app, app.admin(), &id, "accepted", "\"1\"").await;
    assert_eq!(accepted.status, 200, "{}", accepted.text);
    assert_eq!(accepted.header("etag"), Some("\"2\""));
    assert_eq!(accepted.body["status"], "accepted");
    assert_eq!(accepted.body["version"], 2);
    // Someone who read version 1 and tries again is told it changed.
    let late = set_status(&app, app.admin(), &id, "cancelled", "\"1\"").await;
    assert_eq!(late.status, 412, "{}", late.text);
    assert_eq!(late.header("etag"), Some("\"2\""));
    let back = set_status(&app, app.admin(), &id, "referred", "\"2\"").await;
    assert_eq!(back.status, 409, "{}", back.text);
    assert_eq!(back.body["code"], "invalid-status-transition");
    let completed = set_status(&app, app.admin(), &id, "completed", "W/\"2\"").await;
    assert_eq!(completed.status, 200, "{}", completed.text);
    assert_eq!(completed.body["version"], 3);
    // Completed is final.
    for status in ["cancelled", "accepted", "referred"] {
        let refused = set_status(&app, app.admin(), &id, status, "\"3\"").await;
        assert_eq!(refused.status, 409, "{status}: {}", refused.text);
        assert_eq!(refused.body["code"], "invalid-status-transition");
    }
    let history: Vec<(Value, Value)> = completed.body["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| (h["version"].clone(), h["status"].clone()))
        .collect();
    assert_eq!(
        history,
        [
            (json!(1), json!("referred")),
            (json!(2), json!("accepted")),
            (json!(3), json!("completed"))
        ]
    );

    // Referred and accepted referrals may be cancelled; cancelled is final.
    let second = refer(&app, app.admin(), &referral_body(&family, &members[1])).await;
    let second_id = second.body["id"].as_str().unwrap();
    let cancelled = set_status(&app, app.admin(), second_id, "cancelled", "\"1\"").await;
    assert_eq!(cancelled.status, 200, "{}", cancelled.text);
    let revived = set_status(&app, app.admin(), second_id, "accepted", "\"2\"").await;
    assert_eq!(revived.status, 409, "{}", revived.text);
    let missing = set_status(
        &app,
        app.admin(),
        &uuid::Uuid::new_v4().to_string(),
        "accepted",
        "\"1\"",
    )
    .await;
    assert_eq!(missing.status, 404, "{}", missing.text);

    let by_status = app
        .get("/api/v1/referrals?status=cancelled", Some(app.admin()))
        .await;
    let items = by_status.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["id"], second_id);
}

async fn referrals_are_by_role_and_center_and_safe_to_retry(app: TestApp) {
    let goris = app.center("GORIS").await;
    let kapan = app.center("KAPAN").await;
    let (family, members) = register(&app, &goris, 2).await;
    let (kapan_family, kapan_members) = register(&app, &kapan, 1).await;
    let aid_goris = app.user("aid-goris", Role::AidWorker, &["GORIS"]).await;
    let reg_goris = app.user("reg-goris", Role::Registrar, &["GORIS"]).await;
    let aid_kapan = app.user("aid-kapan", Role::AidWorker, &["KAPAN"]).await;
    let analyst = app.user("analyst", Role::Analyst, &[]).await;
    let auditor = app.user("auditor", Role::Auditor, &[]).await;

    let body = referral_body(&family, &members[0]);
    for token in [&aid_kapan, &analyst, &auditor] {
        let refused = refer(&app, token, &body).await;
        assert_eq!(refused.status, 403, "{}", refused.text);
    }

    // A retry with the same key gets the same referral back.
    let key = [("idempotency-key", "goris-referral-0001")];
    let bytes = body.to_string().into_bytes();
    let first = app
        .send(
            Method::POST,
            "/api/v1/referrals",
            Some(&aid_goris),
            Some(bytes.clone()),
            &key,
        )
        .await;
    assert_eq!(first.status, 201, "{}", first.text);
    let retry = app
        .send(
            Method::POST,
            "/api/v1/referrals",
            Some(&aid_goris),
            Some(bytes),
            &key,
        )
        .await;
    assert_eq!(retry.status, 201, "{}", retry.text);
    assert_eq!(retry.header("idempotent-replayed"), Some("true"));
    assert_eq!(retry.header("etag"), Some("\"1\""));
    assert_eq!(retry.body, first.body);
    // So does a client-chosen id; the same id for something else is refused.
    let mut with_id = referral_body(&family, &members[1]);
    with_id["id"] = json!(uuid::Uuid::new_v4());
    for _ in 0..2 {
        let response = refer(&app, &reg_goris, &with_id).await;
        assert_eq!(response.status, 201, "{}", response.text);
        assert_eq!(response.body["id"], with_id["id"]);
    }
    with_id["priority"] = json!("routine");
    let reused = refer(&app, &reg_goris, &with_id).await;
    assert_eq!(reused.status, 422, "{}", reused.text);
    assert_eq!(reused.body["code"], "idempotency-key-reused");
    let kapan_referral = refer(
        &app,
        &aid_kapan,
        &referral_body(&kapan_family, &kapan_members[0]),
    )
    .await;
    assert_eq!(kapan_referral.status, 201, "{}", kapan_referral.text);

    // Reads are person-level, by the household's center.
    let id = first.body["id"].as_str().unwrap();
    let path = format!("/api/v1/referrals/{id}");
    for (token, status) in [
        (&analyst, 403),
        (&aid_kapan, 403),
        (&aid_goris, 200),
        (&auditor, 200),
    ] {
        let response = app.get(&path, Some(token)).await;
        assert_eq!(response.status, status, "{}", response.text);
    }
    assert_eq!(app.get(&path, None).await.status, 401);
    let count = |response: Response| response.body["items"].as_array().unwrap().len();
    assert_eq!(
        count(app.get("/api/v1/referrals", Some(&aid_goris)).await),
        2
    );
    assert_eq!(
        count(app.get("/api/v1/referrals", Some(&aid_kapan)).await),
        1
    );
    assert_eq!(count(app.get("/api/v1/referrals", Some(&auditor)).await), 3);
    assert_eq!(
        count(
            app.get(
                &format!("/api/v1/referrals?center_id={kapan}"),
                Some(app.admin())
            )
            .await
        ),
        1
    );
    // Another center's households are not listed, even by id.
    assert_eq!(
        count(
            app.get(
                &format!("/api/v1/referrals?household_id={family}"),
                Some(&aid_kapan)
            )
            .await
        ),
        0
    );
    assert_eq!(
        app.get(
            &format!("/api/v1/referrals?center_id={goris}"),
            Some(&aid_kapan)
        )
        .await
        .status,
        403
    );
    assert_eq!(
        app.get("/api/v1/referrals", Some(&analyst)).await.status,
        403
    );

    // Status changes: desks at the household's center only.
    for token in [&aid_kapan, &analyst, &auditor] {
        let refused = set_status(&app, token, id, "accepted", "\"1\"").await;
        assert_eq!(refused.status, 403, "{}", refused.text);
    }
    let accepted = set_status(&app, &aid_goris, id, "accepted", "\"1\"").await;
    assert_eq!(accepted.status, 200, "{}", accepted.text);
    assert_eq!(
        accepted.body["history"][1]["changed_by"],
        app.get("/api/v1/me", Some(&aid_goris)).await.body["id"]
    );
}

async fn referral_history_cannot_be_edited(app: TestApp) {
    let goris = app.center("GORIS").await;
    let (family, members) = register(&app, &goris, 1).await;
    let created = refer(&app, app.admin(), &referral_body(&family, &members[0])).await;
    let id = created.body["id"].as_str().unwrap().to_string();
    let accepted = set_status(&app, app.admin(), &id, "accepted", "\"1\"").await;
    assert_eq!(accepted.status, 200, "{}", accepted.text);

    // Even with direct database access, the history is append-only.
    let (update, delete) = app
        .with_db(move |conn| {
            use diesel::RunQueryDsl;
            let update = diesel::sql_query(format!(
                "UPDATE referral_status_changes SET status = 'cancelled' WHERE referral_id = '{id}'"
            ))
            .execute(conn);
            let delete = diesel::sql_query(format!(
                "DELETE FROM referral_status_changes WHERE referral_id = '{id}'"
            ))
            .execute(conn);
            (
                update.map_err(|e| e.to_string()),
                delete.map_err(|e| e.to_string()),
            )
        })
        .await;
    assert!(
        update.as_ref().is_err_and(|e| e.contains("append-only")),
        "{update:?}"
    );
    assert!(
        delete.as_ref().is_err_and(|e| e.contains("append-only")),
        "{delete:?}"
    );
    let history = app
        .get(
            &format!("/api/v1/referrals/{}", created.body["id"].as_str().unwrap()),
            Some(app.admin()),
        )
        .await
        .body["history"]
        .clone();
    assert_eq!(history.as_array().unwrap().len(), 2);
    assert_eq!(history[1]["status"], "accepted");
}
