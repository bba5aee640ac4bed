use refuge::accounts::Role;
use serde_json::json;

use crate::backend_tests;
use crate::helpers::TestApp;

backend_tests!(
    centers_can_be_created_listed_read_and_corrected,
    invalid_centers_are_refused_with_every_offending_field,
    duplicate_center_codes_conflict,
);

async fn centers_can_be_created_listed_read_and_corrected(app: TestApp) {
    let body = json!({"code": "KORNIDZOR", "name": "Kornidzor crossing", "kind": "border_crossing",
                      "province": "AM-SU", "latitude": 39.2796, "longitude": 46.3006});
    let created = app.post("/api/v1/centers", Some(app.admin()), &body).await;
    assert_eq!(created.status, 201, "{}", created.text);
    let id = created.body["id"].as_str().unwrap();
    assert_eq!(
        created.header("location"),
        Some(format!("/api/v1/centers/{id}").as_str())
    );
    assert_eq!(created.body["timezone"], "Asia/Yerevan");

    let list = app.get("/api/v1/centers", Some(app.admin())).await;
    assert_eq!(list.body["items"].as_array().unwrap().len(), 1);

    let patched = app
        .patch(
            &format!("/api/v1/centers/{id}"),
            Some(app.admin()),
            &json!({"name": "Hakari bridge", "latitude": null}),
            None,
        )
        .await;
    assert_eq!(patched.status, 200, "{}", patched.text);
    assert_eq!(patched.body["name"], "Hakari bridge");
    assert_eq!(patched.body["latitude"], serde_json::Value::Null);
    assert_eq!(patched.body["longitude"], 46.3006);

    let read = app
        .get(&format!("/api/v1/centers/{id}"), Some(app.admin()))
        .await;
    assert_eq!(read.body, patched.body);
    let missing = app
        .get(
            &format!("/api/v1/centers/{}", uuid::Uuid::new_v4()),
            Some(app.admin()),
        )
        .await;
    assert_eq!(missing.status, 404);
    let malformed = app
        .get("/api/v1/centers/not-a-uuid", Some(app.admin()))
        .await;
    assert_eq!(malformed.status, 404);
}

async fn invalid_centers_are_refused_with_every_offending_field(app: TestApp) {
    let body = json!({"code": "goris hub", "name": " ", "kind": "registration_center", "province": "AM-XX",
                      "latitude": 91.0, "longitude": -181.0, "timezone": "Mars/Olympus"});
    let response = app.post("/api/v1/centers", Some(app.admin()), &body).await;
    assert_eq!(response.status, 422);
    assert_eq!(
        response.body["type"],
        "urn:refuge:problem:validation-failed"
    );
    let mut fields = response.error_fields();
    fields.sort();
    assert_eq!(
        fields,
        [
            "code",
            "latitude",
            "longitude",
            "name",
            "province",
            "timezone"
        ]
    );

    let wrong_kind = app
        .post(
            "/api/v1/centers",
            Some(app.admin()),
            &json!({"code": "X1", "name": "x", "kind": "hotel", "province": "AM-SU"}),
        )
        .await;
    assert_eq!(wrong_kind.status, 422);
    assert_eq!(wrong_kind.error_fields(), ["kind"]);
    let list = app.get("/api/v1/centers", Some(app.admin())).await;
    assert_eq!(list.body["items"], json!([]), "nothing was written");
    let registrar = app.user("reg", Role::Auditor, &[]).await;
    let forbidden = app
        .post(
            "/api/v1/centers",
            Some(&registrar),
            &json!({"code": "X1", "name": "x", "kind": "warehouse", "province": "AM-SU"}),
        )
        .await;
    assert_eq!(forbidden.status, 403);
}

async fn duplicate_center_codes_conflict(app: TestApp) {
    app.center("GORIS").await;
    let other = app.center("KAPAN").await;
    let again = app
        .post(
            "/api/v1/centers",
            Some(app.admin()),
            &json!({"code": "GORIS", "name": "x", "kind": "aid_point", "province": "AM-SU"}),
        )
        .await;
    assert_eq!(again.status, 409);
    assert_eq!(again.body["code"], "center-code-taken");
    let renamed = app
        .patch(
            &format!("/api/v1/centers/{other}"),
            Some(app.admin()),
            &json!({"code": "GORIS"}),
            None,
        )
        .await;
    assert_eq!(renamed.status, 409);
}

/// openapi.yaml's `Timezone` enum is exactly what a center's `timezone`
/// accepts (chrono-tz's IANA names): an upgrade of chrono-tz that adds or
/// drops a zone fails here instead of drifting from the spec.
#[test]
fn openapi_lists_exactly_the_timezones_a_center_accepts() {
    let listed: Vec<String> = crate::helpers::OPENAPI["components"]["schemas"]["Timezone"]["enum"]
        .as_array()
        .map(|names| {
            names
                .iter()
                .filter_map(|n| n.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    let accepted: Vec<String> = chrono_tz::TZ_VARIANTS
        .iter()
        .map(|tz| tz.name().to_string())
        .collect();
    assert!(
        listed == accepted,
        "openapi.yaml's Timezone enum should be:\n{}",
        accepted
            .iter()
            .map(|n| format!("        - {n}"))
            .collect::<Vec<_>>()
            .join("\n")
    );
}
