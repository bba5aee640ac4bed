use reqwest::Method;
use serde_json::{json, Value};

use crate::backend_tests;
use crate::helpers::{household, TestApp};

backend_tests!(
    armenian_names_round_trip_byte_for_byte,
    invalid_registrations_name_the_offending_field_and_write_nothing,
    malformed_bodies_get_400_413_415_not_500,
    corrections_need_the_current_version,
    households_are_listed_by_arrival_a_page_at_a_time,
);

async fn armenian_names_round_trip_byte_for_byte(app: TestApp) {
    let center = app.center("GORIS").await;
    let mut body = household(&center, 5);
    body["members"][0]["patronymic"] = json!("Գրիգորի");
    body["members"][0]["name_latin"] = json!("Aram Hovhannisyan");
    body["members"][0]["document"] = json!({"type": "passport", "number": "AN0123456"});
    body["members"][0]["needs"] = json!(["SM-WD", "DS"]);
    body["members"][4]["birth_date"] = Value::Null;
    body["members"][4]["estimated_age"] = json!(3);
    // Decomposed and unusual forms must survive untouched too.
    body["members"][3]["given_name"] = json!("Մարիամ\u{0301}");
    body["members"][2]["family_name"] = json!("Տեր-Պետրոսյան");
    let created = app
        .post("/api/v1/households", Some(app.admin()), &body)
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    assert_eq!(created.header("etag"), Some("\"1\""));
    let id = created.body["id"].as_str().unwrap();
    assert_eq!(created.body["size"], 5);
    assert_eq!(created.body["arrived_at"], "2023-09-26T10:30:00Z");

    let read = app
        .get(&format!("/api/v1/households/{id}"), Some(app.admin()))
        .await;
    assert_eq!(read.status, 200);
    // A read returns exactly what the registration returned, less the
    // registration's list of possible duplicates (none here).
    let mut registered = created.body.clone();
    let possible = registered
        .as_object_mut()
        .unwrap()
        .remove("possible_duplicates");
    assert_eq!(possible, Some(json!([])));
    assert_eq!(
        read.body, registered,
        "a read returns exactly what the registration returned"
    );
    for (i, member) in body["members"].as_array().unwrap().iter().enumerate() {
        for field in ["given_name", "family_name", "patronymic", "name_latin"] {
            if !member[field].is_null() {
                assert_eq!(
                    read.body["members"][i][field].as_str().unwrap().as_bytes(),
                    member[field].as_str().unwrap().as_bytes()
                );
            }
        }
    }
    assert_eq!(read.body["members"][0]["needs"], json!(["DS", "SM-WD"]));
    assert_eq!(
        read.body["members"][0]["document"],
        json!({"type": "passport", "number": "AN0123456"})
    );
    assert_eq!(read.body["origin_settlement"], "Ստեփանակերտ");
}

/// One invalid change to an otherwise valid registration, and the field it must be reported on.
fn invalid_cases(center: &str) -> Vec<(&'static str, Value, &'static str)> {
    let base = household(center, 3);
    let with = |pointer: &str, value: Value| {
        let mut body = base.clone();
        let (parent, key) = pointer.rsplit_once('/').unwrap();
        body.pointer_mut(parent)
            .unwrap()
            .as_object_mut()
            .unwrap()
            .insert(key.to_string(), value);
        body
    };
    let mut two_heads = base.clone();
    two_heads["members"][1]["relationship"] = json!("head");
    let mut both_ages = base.clone();
    both_ages["members"][1]["estimated_age"] = json!(40);
    let mut unknown_field = base.clone();
    unknown_field["members"][0]["nickname"] = json!("Ara");
    let mut duplicate_ids = base.clone();
    let id = uuid::Uuid::new_v4().to_string();
    duplicate_ids["members"][0]["id"] = json!(id);
    duplicate_ids["members"][1]["id"] = json!(id);
    vec![
        (
            "no head",
            with("/members/0/relationship", json!("spouse")),
            "members",
        ),
        ("two heads", two_heads, "members"),
        ("no members", with("/members", json!([])), "members"),
        (
            "birth date in the future",
            with("/members/1/birth_date", json!("2099-01-01")),
            "members[1].birth_date",
        ),
        (
            "older than 120",
            with("/members/1/birth_date", json!("1900-01-01")),
            "members[1].birth_date",
        ),
        (
            "estimated age over 120",
            with("/members/2/estimated_age", json!(121)),
            "members[2].estimated_age",
        ),
        (
            "birth date and estimated age",
            both_ages,
            "members[1].estimated_age",
        ),
        (
            "phone not E.164",
            with("/phone", json!("091 23 45 67")),
            "phone",
        ),
        (
            "unknown needs code",
            with("/members/2/needs", json!(["XX"])),
            "members[2].needs[0]",
        ),
        (
            "needs code twice",
            with("/members/2/needs", json!(["DS", "DS"])),
            "members[2].needs[1]",
        ),
        (
            "unknown destination",
            with("/intended_destination", json!("AM-XX")),
            "intended_destination",
        ),
        (
            "arrival in the future",
            with("/arrived_at", json!("2099-01-01T00:00:00Z")),
            "arrived_at",
        ),
        (
            "arrival without offset",
            with("/arrived_at", json!("2023-09-26 10:00")),
            "arrived_at",
        ),
        (
            "blank given name",
            with("/members/0/given_name", json!("  ")),
            "members[0].given_name",
        ),
        (
            "blank origin",
            with("/origin_settlement", json!("")),
            "origin_settlement",
        ),
        (
            "unknown sex",
            with("/members/1/sex", json!("f")),
            "members[1].sex",
        ),
        (
            "age as text",
            with("/members/2/estimated_age", json!("3")),
            "members[2].estimated_age",
        ),
        ("unknown member field", unknown_field, "members[0]"),
        (
            "unknown document type",
            with(
                "/members/0/document",
                json!({"type": "visa", "number": "1"}),
            ),
            "members[0].document.type",
        ),
        ("duplicate member ids", duplicate_ids, "members[1].id"),
        (
            "unknown center",
            with("/center_id", json!(uuid::Uuid::new_v4().to_string())),
            "center_id",
        ),
        (
            "center not a uuid",
            with("/center_id", json!("GORIS")),
            "center_id",
        ),
    ]
}

async fn invalid_registrations_name_the_offending_field_and_write_nothing(app: TestApp) {
    let center = app.center("GORIS").await;
    for (case, body, field) in invalid_cases(&center) {
        let response = app
            .post("/api/v1/households", Some(app.admin()), &body)
            .await;
        assert_eq!(response.status, 422, "{case}: {}", response.text);
        assert_eq!(
            response.header("content-type"),
            Some("application/problem+json"),
            "{case}"
        );
        assert!(
            response.error_fields().iter().any(|f| f.starts_with(field)),
            "{case}: expected an error on {field}, got {:?}",
            response.error_fields()
        );
    }
    let list = app.get("/api/v1/households", Some(app.admin())).await;
    assert_eq!(
        list.body["items"],
        json!([]),
        "no invalid registration left anything behind"
    );
    let persons = app
        .get("/api/v1/persons?name=%D5%B0", Some(app.admin()))
        .await;
    assert_eq!(persons.body["items"], json!([]));
}

async fn malformed_bodies_get_400_413_415_not_500(app: TestApp) {
    let center = app.center("GORIS").await;
    let send = |body: Vec<u8>, content_type: &'static str| {
        let app = &app;
        async move {
            app.send(
                Method::POST,
                "/api/v1/households",
                Some(app.admin()),
                Some(body),
                &[("content-type", content_type)],
            )
            .await
        }
    };
    let truncated = send(b"{\"center_id\": ".to_vec(), "application/json").await;
    assert_eq!(truncated.status, 400);
    assert_eq!(truncated.body["code"], "malformed-body");
    let not_json = send(b"center_id=1".to_vec(), "application/x-www-form-urlencoded").await;
    assert_eq!(not_json.status, 415);
    let mut big = household(&center, 3);
    big["origin_settlement"] = json!("x".repeat(70 * 1024));
    let too_large = send(big.to_string().into_bytes(), "application/json").await;
    assert_eq!(too_large.status, 413);
    let array = send(b"[]".to_vec(), "application/json").await;
    assert_eq!(array.status, 422);
    let list = app.get("/api/v1/households", Some(app.admin())).await;
    assert_eq!(list.body["items"], json!([]));
}

async fn corrections_need_the_current_version(app: TestApp) {
    let center = app.center("GORIS").await;
    let created = app
        .post(
            "/api/v1/households",
            Some(app.admin()),
            &household(&center, 2),
        )
        .await;
    let id = created.body["id"].as_str().unwrap().to_string();
    let path = format!("/api/v1/households/{id}");
    let member = created.body["members"][1]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let correction = json!({
        "phone": null,
        "members": [{"id": member, "given_name": "Անահիտ", "needs": ["WR-PL"]}],
        "add_members": [{"given_name": "Նոր", "family_name": "Հովհաննիսյան", "sex": "female",
                         "relationship": "child", "birth_date": "2023-10-01"}]
    });

    let unconditional = app.patch(&path, Some(app.admin()), &correction, None).await;
    assert_eq!(unconditional.status, 428);
    let stale = app
        .patch(&path, Some(app.admin()), &correction, Some("\"7\""))
        .await;
    assert_eq!(stale.status, 412);
    assert_eq!(stale.header("etag"), Some("\"1\""));

    let corrected = app
        .patch(&path, Some(app.admin()), &correction, Some("\"1\""))
        .await;
    assert_eq!(corrected.status, 200, "{}", corrected.text);
    assert_eq!(corrected.header("etag"), Some("\"2\""));
    assert_eq!(corrected.body["version"], 2);
    assert_eq!(corrected.body["size"], 3);
    assert_eq!(corrected.body["phone"], Value::Null);
    assert_eq!(corrected.body["members"][1]["given_name"], "Անահիտ");
    assert_eq!(corrected.body["members"][1]["needs"], json!(["WR-PL"]));
    assert_eq!(corrected.body["members"][2]["given_name"], "Նոր");
    assert_eq!(app.get(&path, Some(app.admin())).await.body, corrected.body);

    // The same correction against the old version is now stale.
    let replayed = app
        .patch(&path, Some(app.admin()), &correction, Some("\"1\""))
        .await;
    assert_eq!(replayed.status, 412);
    // A correction that breaks a rule changes nothing.
    let two_heads = json!({"members": [{"id": member, "relationship": "head"}]});
    let invalid = app
        .patch(&path, Some(app.admin()), &two_heads, Some("\"2\""))
        .await;
    assert_eq!(invalid.status, 422);
    assert_eq!(app.get(&path, Some(app.admin())).await.body["version"], 2);
    let unknown_member = json!({"members": [{"id": uuid::Uuid::new_v4(), "given_name": "X"}]});
    assert_eq!(
        app.patch(&path, Some(app.admin()), &unknown_member, Some("\"2\""))
            .await
            .status,
        422
    );
    let missing = format!("/api/v1/households/{}", uuid::Uuid::new_v4());
    assert_eq!(
        app.patch(&missing, Some(app.admin()), &json!({}), Some("\"1\""))
            .await
            .status,
        404
    );
}

async fn households_are_listed_by_arrival_a_page_at_a_time(app: TestApp) {
    let goris = app.center("GORIS").await;
    let kapan = app.center("KAPAN").await;
    let mut ids = Vec::new();
    for (i, (center, origin)) in [
        (&goris, "Ստեփանակերտ"),
        (&goris, "Մարտակերտ"),
        (&kapan, "Ստեփանակերտ"),
        (&goris, "Ստեփանակերտ"),
        (&goris, "Ասկերան"),
    ]
    .into_iter()
    .enumerate()
    {
        let mut body = household(center, 1);
        body["arrived_at"] = json!(format!("2023-09-2{}T0{}:00:00+04:00", 5 + i % 2, i));
        body["origin_settlement"] = json!(origin);
        let created = app
            .post("/api/v1/households", Some(app.admin()), &body)
            .await;
        assert_eq!(created.status, 201);
        ids.push((
            created.body["arrived_at"].as_str().unwrap().to_string(),
            created.body["id"].as_str().unwrap().to_string(),
        ));
    }
    ids.sort();
    let expected: Vec<String> = ids.into_iter().map(|(_, id)| id).collect();

    let mut seen = Vec::new();
    let mut path = "/api/v1/households?limit=2".to_string();
    loop {
        let page = app.get(&path, Some(app.admin())).await;
        assert_eq!(page.status, 200, "{}", page.text);
        seen.extend(
            page.body["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|h| h["id"].as_str().unwrap().to_string()),
        );
        match page.body["next_cursor"].as_str() {
            Some(cursor) => path = format!("/api/v1/households?limit=2&cursor={cursor}"),
            None => break,
        }
    }
    assert_eq!(seen, expected, "every household once, in arrival order");

    let count = |query: String| {
        let app = &app;
        async move {
            app.get(&format!("/api/v1/households?{query}"), Some(app.admin()))
                .await
                .body["items"]
                .as_array()
                .unwrap()
                .len()
        }
    };
    assert_eq!(count(format!("center_id={kapan}")).await, 1);
    assert_eq!(
        count(
            "origin_settlement=%D5%8D%D5%BF%D5%A5%D6%83%D5%A1%D5%B6%D5%A1%D5%AF%D5%A5%D6%80%D5%BF"
                .into()
        )
        .await,
        3
    );
    assert_eq!(
        count("arrived_from=2023-09-26T00:00:00%2B04:00".into()).await,
        2
    );
    assert_eq!(
        count("arrived_to=2023-09-26T00:00:00%2B04:00".into()).await,
        3
    );
    let bad = app
        .get("/api/v1/households?limit=0", Some(app.admin()))
        .await;
    assert_eq!(bad.status, 400);
    assert_eq!(bad.error_fields(), ["limit"]);
    let bad_date = app
        .get(
            "/api/v1/households?arrived_from=yesterday",
            Some(app.admin()),
        )
        .await;
    assert_eq!(bad_date.status, 400);
    assert_eq!(bad_date.error_fields(), ["arrived_from"]);
    let bad_cursor = app
        .get("/api/v1/households?cursor=abc", Some(app.admin()))
        .await;
    assert_eq!(bad_cursor.status, 400);
}
