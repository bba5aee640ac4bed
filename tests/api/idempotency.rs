use futures_util::future::join_all;
use reqwest::Method;
use serde_json::json;

use crate::backend_tests;
use crate::helpers::{household, Response, TestApp};

backend_tests!(
    retried_registration_with_same_key_creates_one_household,
    concurrent_registrations_with_one_key_create_one_household,
    reusing_a_key_for_another_request_is_refused,
    a_client_chosen_id_makes_retries_safe_without_a_key,
);

async fn register(app: &TestApp, body: &serde_json::Value, key: Option<&str>) -> Response {
    let headers: Vec<(&str, &str)> = key
        .map(|k| vec![("idempotency-key", k)])
        .unwrap_or_default();
    app.send(
        Method::POST,
        "/api/v1/households",
        Some(app.admin()),
        Some(body.to_string().into_bytes()),
        &headers,
    )
    .await
}

async fn household_count(app: &TestApp) -> usize {
    app.get("/api/v1/households", Some(app.admin())).await.body["items"]
        .as_array()
        .unwrap()
        .len()
}

async fn retried_registration_with_same_key_creates_one_household(app: TestApp) {
    let center = app.center("GORIS").await;
    let body = household(&center, 4);
    let first = register(&app, &body, Some("desk-3-0001")).await;
    assert_eq!(first.status, 201);
    assert_eq!(first.header("idempotent-replayed"), None);
    // A retry whose JSON differs only in whitespace and key order is the same request.
    let reordered: serde_json::Value =
        serde_json::from_str(&serde_json::to_string_pretty(&body).unwrap()).unwrap();
    let retry = register(&app, &reordered, Some("desk-3-0001")).await;
    assert_eq!(retry.status, 201);
    assert_eq!(retry.text, first.text, "the retry gets the original body");
    assert_eq!(retry.header("idempotent-replayed"), Some("true"));
    assert_eq!(retry.header("location"), first.header("location"));
    assert_eq!(household_count(&app).await, 1);
    // Another key is another registration.
    assert_eq!(register(&app, &body, Some("desk-3-0002")).await.status, 201);
    assert_eq!(household_count(&app).await, 2);
}

async fn concurrent_registrations_with_one_key_create_one_household(app: TestApp) {
    let center = app.center("GORIS").await;
    let body = household(&center, 4);
    let attempts = (0..8).map(|_| register(&app, &body, Some("bad-network-retry")));
    let responses = join_all(attempts).await;
    for response in &responses {
        assert_eq!(response.status, 201, "{}", response.text);
        assert_eq!(response.body["id"], responses[0].body["id"]);
    }
    assert_eq!(
        responses
            .iter()
            .filter(|r| r.header("idempotent-replayed").is_none())
            .count(),
        1
    );
    assert_eq!(household_count(&app).await, 1);
    let persons = app
        .get("/api/v1/persons?name=%D5%B0%D5%B8%D5%BE", Some(app.admin()))
        .await;
    assert_eq!(
        persons.body["items"].as_array().unwrap().len(),
        4,
        "no member was stored twice"
    );
    // The attempts that lost had already added to the statistics before
    // failing on the key; their share was rolled back with them.
    let (stored, expected) = app.aggregates_and_recount().await;
    assert_eq!(
        stored, expected,
        "aggregates count only the household stored"
    );
}

async fn reusing_a_key_for_another_request_is_refused(app: TestApp) {
    let center = app.center("GORIS").await;
    assert_eq!(
        register(&app, &household(&center, 2), Some("k1"))
            .await
            .status,
        201
    );
    let other = register(&app, &household(&center, 3), Some("k1")).await;
    assert_eq!(other.status, 422);
    assert_eq!(other.body["code"], "idempotency-key-reused");
    let bad_key = register(&app, &household(&center, 2), Some("")).await;
    assert_eq!(bad_key.status, 400);
    assert_eq!(household_count(&app).await, 1);
}

async fn a_client_chosen_id_makes_retries_safe_without_a_key(app: TestApp) {
    let center = app.center("GORIS").await;
    let mut body = household(&center, 3);
    let id = uuid::Uuid::new_v4().to_string();
    body["id"] = json!(id);
    body["members"][0]["id"] = json!(uuid::Uuid::new_v4());
    let responses = join_all((0..4).map(|_| register(&app, &body, None))).await;
    for response in &responses {
        assert_eq!(response.status, 201, "{}", response.text);
        assert_eq!(response.body["id"], id);
    }
    assert_eq!(household_count(&app).await, 1);
    let mut changed = body.clone();
    changed["origin_settlement"] = json!("Մարտունի");
    let conflicting = register(&app, &changed, None).await;
    assert_eq!(
        conflicting.status, 422,
        "same id, different registration: {}",
        conflicting.text
    );
    // The same member id inside another household is a conflict, not a second person.
    let mut reused_member = household(&center, 1);
    reused_member["members"][0]["id"] = body["members"][0]["id"].clone();
    let conflict = register(&app, &reused_member, None).await;
    assert_eq!(conflict.status, 409);
    assert_eq!(conflict.body["code"], "person-exists");
    assert_eq!(household_count(&app).await, 1);
}
