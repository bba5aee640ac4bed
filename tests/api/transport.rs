//! Transport: trips, boardings and manifests. A trip never carries more
//! people than its seats, whatever the concurrency, no person takes two seats
//! on one trip, and `seats_taken` always equals the trip's boardings rows.

use futures_util::future::join_all;
use refuge::accounts::Role;
use reqwest::Method;
use serde_json::{json, Value};

use crate::backend_tests;
use crate::helpers::{household, Response, TestApp};

backend_tests!(
    trips_are_scheduled_and_listed_with_validation,
    households_board_and_appear_on_the_manifest,
    concurrent_boardings_never_overfill_a_trip,
    nobody_boards_the_same_trip_twice,
    boardings_are_by_role_and_center_and_safe_to_retry
);

pub async fn organization(app: &TestApp, code: &str) -> String {
    let response = app
        .post(
            "/api/v1/organizations",
            Some(app.admin()),
            &json!({"code": code, "name": format!("{code} (test)"), "kind": "government"}),
        )
        .await;
    assert_eq!(response.status, 201, "{}", response.text);
    response.body["id"].as_str().unwrap().to_string()
}

pub fn trip_body(center: &str, organization: &str, seats: i32) -> Value {
    json!({
        "center_id": center,
        "destination_province": "AM-KT",
        "destination_settlement": "Աբովյան",
        "departs_at": "2023-09-27T10:00:00+04:00",
        "vehicle": "35 TU 123",
        "seats": seats,
        "organization_id": organization,
    })
}

async fn trip(app: &TestApp, center: &str, organization: &str, seats: i32) -> String {
    let response = app
        .post(
            "/api/v1/trips",
            Some(app.admin()),
            &trip_body(center, organization, seats),
        )
        .await;
    assert_eq!(response.status, 201, "{}", response.text);
    response.body["id"].as_str().unwrap().to_string()
}

/// Registers a household; returns its id and its members' ids.
async fn register(app: &TestApp, center: &str, size: usize) -> (String, Vec<String>) {
    let response = app
        .post(
            "/api/v1/households",
            Some(app.admin()),
            &household(center, size),
        )
        .await;
    assert_eq!(response.status, 201, "{}", response.text);
    let members = response.body["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap().to_string())
        .collect();
    (response.body["id"].as_str().unwrap().to_string(), members)
}

async fn board(app: &TestApp, token: &str, trip: &str, body: Value) -> Response {
    app.post(
        &format!("/api/v1/trips/{trip}/boardings"),
        Some(token),
        &body,
    )
    .await
}

async fn seats_taken(app: &TestApp, trip: &str) -> Value {
    let response = app
        .get(&format!("/api/v1/trips/{trip}"), Some(app.admin()))
        .await;
    assert_eq!(response.status, 200, "{}", response.text);
    response.body["seats_taken"].clone()
}

pub async fn assert_seats_match_boardings(app: &TestApp) {
    let drift = app
        .with_db(|conn| refuge::transport::verify(conn).unwrap())
        .await;
    assert!(
        drift.is_empty(),
        "seats_taken differs from boardings rows: {drift:?}"
    );
}

/// Sends one boarding per household at the same time, every other one
/// through `second` when there is one.
async fn board_all(
    app: &TestApp,
    second: &Option<String>,
    trip: &str,
    households: &[String],
) -> Vec<Response> {
    join_all(households.iter().enumerate().map(|(i, household)| {
        let base = match second {
            Some(second) if i % 2 == 1 => second.clone(),
            _ => app.address.clone(),
        };
        let path = format!("/api/v1/trips/{trip}/boardings");
        let body = json!({"household_id": household}).to_string().into_bytes();
        async move {
            app.send_to(
                &base,
                Method::POST,
                &path,
                Some(app.admin()),
                Some(body),
                &[],
            )
            .await
        }
    }))
    .await
}

async fn trips_are_scheduled_and_listed_with_validation(app: TestApp) {
    let goris = app.center("GORIS").await;
    let kapan = app.center("KAPAN").await;
    let ministry = organization(&app, "MLSA").await;

    let bad = app
        .post(
            "/api/v1/trips",
            Some(app.admin()),
            &json!({
                "center_id": goris, "destination_province": "AM-XX", "destination_settlement": " ",
                "departs_at": "2023-09-27T10:00:00+04:00", "vehicle": "", "seats": 0,
                "organization_id": ministry,
            }),
        )
        .await;
    assert_eq!(bad.status, 422, "{}", bad.text);
    assert_eq!(
        bad.error_fields(),
        [
            "destination_province",
            "destination_settlement",
            "vehicle",
            "seats"
        ]
    );
    let mut too_many = trip_body(&goris, &ministry, 1001);
    too_many["vehicle"] = json!("x".repeat(65));
    let too_many = app
        .post("/api/v1/trips", Some(app.admin()), &too_many)
        .await;
    assert_eq!(too_many.status, 422, "{}", too_many.text);
    assert_eq!(too_many.error_fields(), ["vehicle", "seats"]);
    let no_org = app
        .post(
            "/api/v1/trips",
            Some(app.admin()),
            &trip_body(&goris, &uuid::Uuid::new_v4().to_string(), 50),
        )
        .await;
    assert_eq!(no_org.status, 422, "{}", no_org.text);
    assert_eq!(no_org.error_fields(), ["organization_id"]);
    let no_center = app
        .post(
            "/api/v1/trips",
            Some(app.admin()),
            &trip_body(&uuid::Uuid::new_v4().to_string(), &ministry, 50),
        )
        .await;
    assert_eq!(no_center.status, 422, "{}", no_center.text);
    assert_eq!(no_center.error_fields(), ["center_id"]);
    let mut no_departure = trip_body(&goris, &ministry, 50);
    no_departure["departs_at"] = json!("tomorrow");
    let no_departure = app
        .post("/api/v1/trips", Some(app.admin()), &no_departure)
        .await;
    assert_eq!(no_departure.status, 422, "{}", no_departure.text);
    assert_eq!(no_departure.error_fields(), ["departs_at"]);

    let created = app
        .post(
            "/api/v1/trips",
            Some(app.admin()),
            &trip_body(&goris, &ministry, 50),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    let id = created.body["id"].as_str().unwrap();
    assert_eq!(
        created.header("location"),
        Some(format!("/api/v1/trips/{id}").as_str())
    );
    assert_eq!(created.body["departs_at"], "2023-09-27T06:00:00Z");
    assert_eq!(
        (
            &created.body["seats"],
            &created.body["seats_taken"],
            &created.body["seats_free"]
        ),
        (&json!(50), &json!(0), &json!(50))
    );
    let mut later = trip_body(&kapan, &ministry, 30);
    later["departs_at"] = json!("2023-09-28T08:00:00+04:00");
    later["destination_settlement"] = Value::Null;
    let later = app.post("/api/v1/trips", Some(app.admin()), &later).await;
    assert_eq!(later.status, 201, "{}", later.text);
    let mut earlier = trip_body(&goris, &ministry, 40);
    earlier["departs_at"] = json!("2023-09-26T18:00:00+04:00");
    let earlier = app.post("/api/v1/trips", Some(app.admin()), &earlier).await;
    assert_eq!(earlier.status, 201, "{}", earlier.text);

    // Trips are not personal data: an analyst lists them, by departure.
    let analyst = app.user("analyst", Role::Analyst, &[]).await;
    let ids = |response: &Response| -> Vec<Value> {
        response.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["id"].clone())
            .collect()
    };
    let all = app.get("/api/v1/trips", Some(&analyst)).await;
    assert_eq!(all.status, 200, "{}", all.text);
    assert_eq!(
        ids(&all),
        [
            earlier.body["id"].clone(),
            created.body["id"].clone(),
            later.body["id"].clone()
        ]
    );
    let from_goris = app
        .get(&format!("/api/v1/trips?center_id={goris}"), Some(&analyst))
        .await;
    assert_eq!(
        ids(&from_goris),
        [earlier.body["id"].clone(), created.body["id"].clone()]
    );
    let window = app
        .get(
            "/api/v1/trips?from=2023-09-27T10:00:00%2B04:00&to=2023-09-28T08:00:00%2B04:00",
            Some(&analyst),
        )
        .await;
    assert_eq!(ids(&window), [created.body["id"].clone()]);
    let first_page = app.get("/api/v1/trips?limit=2", Some(&analyst)).await;
    assert_eq!(ids(&first_page).len(), 2);
    let cursor = first_page.body["next_cursor"].as_str().unwrap();
    let second_page = app
        .get(
            &format!("/api/v1/trips?limit=2&cursor={cursor}"),
            Some(&analyst),
        )
        .await;
    assert_eq!(ids(&second_page), [later.body["id"].clone()]);
    assert_eq!(second_page.body["next_cursor"], Value::Null);
    let bad_query = app
        .get("/api/v1/trips?from=yesterday", Some(&analyst))
        .await;
    assert_eq!(bad_query.status, 400, "{}", bad_query.text);
    assert_eq!(bad_query.error_fields(), ["from"]);
    assert_eq!(
        app.get(&format!("/api/v1/trips/{id}"), Some(&analyst))
            .await
            .body["vehicle"],
        "35 TU 123"
    );
    assert_eq!(
        app.get(
            &format!("/api/v1/trips/{}", uuid::Uuid::new_v4()),
            Some(&analyst)
        )
        .await
        .status,
        404
    );

    // Desks schedule trips from their own center only; analysts and auditors never.
    let aid_goris = app.user("aid-goris", Role::AidWorker, &["GORIS"]).await;
    let auditor = app.user("auditor", Role::Auditor, &[]).await;
    let here = app
        .post(
            "/api/v1/trips",
            Some(&aid_goris),
            &trip_body(&goris, &ministry, 20),
        )
        .await;
    assert_eq!(here.status, 201, "{}", here.text);
    assert_eq!(
        here.body["created_by"],
        app.get("/api/v1/me", Some(&aid_goris)).await.body["id"]
    );
    for token in [&aid_goris, &analyst, &auditor] {
        let refused = app
            .post(
                "/api/v1/trips",
                Some(token),
                &trip_body(&kapan, &ministry, 20),
            )
            .await;
        assert_eq!(refused.status, 403, "{}", refused.text);
    }

    // A retried schedule with the same client id creates one trip.
    let mut retried = trip_body(&goris, &ministry, 20);
    retried["id"] = json!(uuid::Uuid::new_v4());
    let first = app.post("/api/v1/trips", Some(&aid_goris), &retried).await;
    let again = app.post("/api/v1/trips", Some(&aid_goris), &retried).await;
    assert_eq!((first.status, again.status), (201, 201), "{}", again.text);
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    assert_eq!(again.body, first.body);
    retried["seats"] = json!(21);
    let changed = app.post("/api/v1/trips", Some(&aid_goris), &retried).await;
    assert_eq!(changed.status, 422, "{}", changed.text);
    assert_eq!(changed.body["code"], "idempotency-key-reused");
    let from_goris = app
        .get(&format!("/api/v1/trips?center_id={goris}"), Some(&analyst))
        .await;
    assert_eq!(ids(&from_goris).len(), 4);
}

async fn households_board_and_appear_on_the_manifest(app: TestApp) {
    let goris = app.center("GORIS").await;
    let ministry = organization(&app, "MLSA").await;
    let bus = trip(&app, &goris, &ministry, 10).await;
    let (family, members) = register(&app, &goris, 4).await;
    let (pair, pair_members) = register(&app, &goris, 2).await;

    // The whole household by default.
    let boarded = board(&app, app.admin(), &bus, json!({"household_id": family})).await;
    assert_eq!(boarded.status, 201, "{}", boarded.text);
    assert_eq!(boarded.body["trip_id"], bus.as_str());
    assert_eq!(boarded.body["household_id"], family.as_str());
    assert_eq!(boarded.body["persons"], json!(members));
    assert_eq!(boarded.body["seats"], 4);
    assert_eq!(
        boarded.header("location"),
        Some(format!("/api/v1/trips/{bus}/manifest").as_str())
    );
    // Some members only, listed in any order, reported in member order.
    let part = board(
        &app,
        app.admin(),
        &bus,
        json!({"household_id": pair, "person_ids": [pair_members[1], pair_members[0]]}),
    )
    .await;
    assert_eq!(part.status, 201, "{}", part.text);
    assert_eq!(part.body["persons"], json!(pair_members));
    assert_eq!(part.body["seats"], 2);

    let trip_now = app
        .get(&format!("/api/v1/trips/{bus}"), Some(app.admin()))
        .await;
    assert_eq!(
        (&trip_now.body["seats_taken"], &trip_now.body["seats_free"]),
        (&json!(6), &json!(4))
    );

    // Bad input is named; nothing is taken.
    let unknown = board(
        &app,
        app.admin(),
        &bus,
        json!({"household_id": uuid::Uuid::new_v4()}),
    )
    .await;
    assert_eq!(unknown.status, 422, "{}", unknown.text);
    assert_eq!(unknown.error_fields(), ["household_id"]);
    let (third, third_members) = register(&app, &goris, 3).await;
    let strangers = board(
        &app,
        app.admin(),
        &bus,
        json!({"household_id": third,
               "person_ids": [third_members[0], members[0], uuid::Uuid::new_v4(), third_members[0]]}),
    )
    .await;
    assert_eq!(strangers.status, 422, "{}", strangers.text);
    assert_eq!(
        strangers.error_fields(),
        ["person_ids[1]", "person_ids[2]", "person_ids[3]"]
    );
    assert_eq!(
        strangers.body["errors"][2]["code"], "duplicate",
        "{}",
        strangers.text
    );
    let empty = board(
        &app,
        app.admin(),
        &bus,
        json!({"household_id": third, "person_ids": []}),
    )
    .await;
    assert_eq!(empty.status, 422, "{}", empty.text);
    assert_eq!(empty.error_fields(), ["person_ids"]);
    let malformed = board(
        &app,
        app.admin(),
        &bus,
        json!({"household_id": third, "person_ids": ["not-a-uuid"]}),
    )
    .await;
    assert_eq!(malformed.status, 422, "{}", malformed.text);
    assert_eq!(malformed.error_fields(), ["person_ids[0]"]);
    let extra = board(
        &app,
        app.admin(),
        &bus,
        json!({"household_id": third, "seats": 3}),
    )
    .await;
    assert_eq!(extra.status, 422, "{}", extra.text);
    let nowhere = board(
        &app,
        app.admin(),
        &uuid::Uuid::new_v4().to_string(),
        json!({"household_id": third}),
    )
    .await;
    assert_eq!(nowhere.status, 404, "{}", nowhere.text);

    // Five seats are needed, four are free.
    let (big, _) = register(&app, &goris, 5).await;
    let full = board(&app, app.admin(), &bus, json!({"household_id": big})).await;
    assert_eq!(full.status, 409, "{}", full.text);
    assert_eq!(full.body["code"], "trip-full");
    assert!(
        full.body["detail"]
            .as_str()
            .unwrap()
            .contains("needs 5 seats")
            && full.body["detail"].as_str().unwrap().contains("4 free"),
        "{}",
        full.text
    );
    assert_eq!(seats_taken(&app, &bus).await, 6);

    // The manifest names everyone, by household then member order.
    let manifest = app
        .get(&format!("/api/v1/trips/{bus}/manifest"), Some(app.admin()))
        .await;
    assert_eq!(manifest.status, 200, "{}", manifest.text);
    assert_eq!(manifest.body["id"], bus.as_str());
    assert_eq!(manifest.body["seats_taken"], 6);
    let passengers = manifest.body["passengers"].as_array().unwrap();
    let mut expected: Vec<(&str, &String)> = members
        .iter()
        .map(|m| (family.as_str(), m))
        .chain(pair_members.iter().map(|m| (pair.as_str(), m)))
        .collect();
    expected.sort_by_key(|(household, _)| *household);
    let listed: Vec<(&str, &str)> = passengers
        .iter()
        .map(|p| {
            (
                p["household_id"].as_str().unwrap(),
                p["person_id"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        listed,
        expected
            .iter()
            .map(|(h, p)| (*h, p.as_str()))
            .collect::<Vec<_>>()
    );
    let head = passengers
        .iter()
        .find(|p| p["person_id"] == members[0].as_str())
        .unwrap();
    assert_eq!(head["given_name"], "Արամ");
    assert_eq!(head["family_name"], "Հովհաննիսյան");
    assert_eq!(head["sex"], "male");

    // For the household's assistance listing.
    let family_id = uuid::Uuid::parse_str(&family).unwrap();
    let trips = app
        .with_db(move |conn| refuge::transport::boardings_of(conn, family_id).unwrap())
        .await;
    assert_eq!(trips.len(), 1);
    assert_eq!(trips[0].trip_id.to_string(), bus);
    assert_eq!(trips[0].destination_province, "AM-KT");
    assert_eq!(
        trips[0]
            .persons
            .iter()
            .map(|p| p.to_string())
            .collect::<Vec<_>>(),
        members
    );
    assert_seats_match_boardings(&app).await;
}

async fn concurrent_boardings_never_overfill_a_trip(app: TestApp) {
    let goris = app.center("GORIS").await;
    let ministry = organization(&app, "MLSA").await;
    let bus = trip(&app, &goris, &ministry, 25).await;
    let singles: Vec<String> = join_all((0..40).map(|_| register(&app, &goris, 1)))
        .await
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    // 40 one-person households race for 25 seats, half of them through a
    // second server process when the database is PostgreSQL.
    let second = app.second_server().await;
    let responses = board_all(&app, &second, &bus, &singles).await;
    let created = responses.iter().filter(|r| r.status == 201).count();
    let full = responses
        .iter()
        .filter(|r| r.status == 409 && r.body["code"] == "trip-full")
        .count();
    assert_eq!(
        (created, full),
        (25, 15),
        "{:?}",
        responses
            .iter()
            .map(|r| (r.status, r.body["code"].clone()))
            .collect::<Vec<_>>()
    );
    assert_eq!(seats_taken(&app, &bus).await, 25);

    // Households of two onto 15 seats: 7 board, one seat stays free.
    let minibus = trip(&app, &goris, &ministry, 15).await;
    let pairs: Vec<String> = join_all((0..12).map(|_| register(&app, &goris, 2)))
        .await
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    let responses = board_all(&app, &second, &minibus, &pairs).await;
    assert_eq!(
        responses.iter().filter(|r| r.status == 201).count(),
        7,
        "{:?}",
        responses.iter().map(|r| r.status).collect::<Vec<_>>()
    );
    assert!(responses
        .iter()
        .all(|r| r.status == 201 || r.body["code"] == "trip-full"));
    let trip = app
        .get(&format!("/api/v1/trips/{minibus}"), Some(app.admin()))
        .await;
    assert_eq!(
        (&trip.body["seats_taken"], &trip.body["seats_free"]),
        (&json!(14), &json!(1))
    );
    assert_seats_match_boardings(&app).await;
}

async fn nobody_boards_the_same_trip_twice(app: TestApp) {
    let goris = app.center("GORIS").await;
    let ministry = organization(&app, "MLSA").await;
    let bus = trip(&app, &goris, &ministry, 50).await;
    let other_bus = trip(&app, &goris, &ministry, 50).await;
    let (family, members) = register(&app, &goris, 3).await;

    let first = board(
        &app,
        app.admin(),
        &bus,
        json!({"household_id": family, "person_ids": [members[0]]}),
    )
    .await;
    assert_eq!(first.status, 201, "{}", first.text);
    // The whole household includes the member already on board: refused whole.
    let again = board(&app, app.admin(), &bus, json!({"household_id": family})).await;
    assert_eq!(again.status, 409, "{}", again.text);
    assert_eq!(again.body["code"], "already-boarded");
    assert!(again.body["detail"]
        .as_str()
        .unwrap()
        .contains(members[0].as_str()));
    assert_eq!(seats_taken(&app, &bus).await, 1);
    // The others may still board, and anyone may take another trip.
    let rest = board(
        &app,
        app.admin(),
        &bus,
        json!({"household_id": family, "person_ids": [members[1], members[2]]}),
    )
    .await;
    assert_eq!(rest.status, 201, "{}", rest.text);
    let elsewhere = board(
        &app,
        app.admin(),
        &other_bus,
        json!({"household_id": family}),
    )
    .await;
    assert_eq!(elsewhere.status, 201, "{}", elsewhere.text);

    // The same person sent by two requests at once (different ids, so not a
    // retry), through two servers on PostgreSQL: one seat, one 409.
    let third_bus = trip(&app, &goris, &ministry, 50).await;
    let second = app.second_server().await;
    let path = format!("/api/v1/trips/{third_bus}/boardings");
    let responses = join_all((0..6).map(|i| {
        let base = match &second {
            Some(second) if i % 2 == 1 => second.clone(),
            _ => app.address.clone(),
        };
        let body = json!({"household_id": family, "person_ids": [members[0]]})
            .to_string()
            .into_bytes();
        let path = path.clone();
        let app = &app;
        async move {
            app.send_to(
                &base,
                Method::POST,
                &path,
                Some(app.admin()),
                Some(body),
                &[],
            )
            .await
        }
    }))
    .await;
    assert_eq!(responses.iter().filter(|r| r.status == 201).count(), 1);
    assert!(responses
        .iter()
        .all(|r| r.status == 201 || r.body["code"] == "already-boarded"));
    assert_eq!(seats_taken(&app, &third_bus).await, 1);

    let family_id = uuid::Uuid::parse_str(&family).unwrap();
    let trips = app
        .with_db(move |conn| refuge::transport::boardings_of(conn, family_id).unwrap())
        .await;
    assert_eq!(trips.len(), 3);
    let first_trip = trips.iter().find(|t| t.trip_id.to_string() == bus).unwrap();
    assert_eq!(first_trip.persons.len(), 3, "two boardings, one trip");
    assert_seats_match_boardings(&app).await;
}

async fn boardings_are_by_role_and_center_and_safe_to_retry(app: TestApp) {
    let goris = app.center("GORIS").await;
    let kapan = app.center("KAPAN").await;
    let ministry = organization(&app, "MLSA").await;
    let bus = trip(&app, &goris, &ministry, 30).await;
    let (family, _) = register(&app, &goris, 3).await;
    let (other, _) = register(&app, &kapan, 2).await;
    let aid_goris = app.user("aid-goris", Role::AidWorker, &["GORIS"]).await;
    let reg_goris = app.user("reg-goris", Role::Registrar, &["GORIS"]).await;
    let aid_kapan = app.user("aid-kapan", Role::AidWorker, &["KAPAN"]).await;
    let analyst = app.user("analyst", Role::Analyst, &[]).await;
    let auditor = app.user("auditor", Role::Auditor, &[]).await;

    for token in [&aid_kapan, &analyst, &auditor] {
        let refused = board(&app, token, &bus, json!({"household_id": family})).await;
        assert_eq!(refused.status, 403, "{}", refused.text);
    }
    assert_eq!(seats_taken(&app, &bus).await, 0);

    // A retry with the same key gets the same boarding back.
    let key = [("idempotency-key", "goris-bus-0001")];
    let body = json!({"household_id": family}).to_string().into_bytes();
    let path = format!("/api/v1/trips/{bus}/boardings");
    let first = app
        .send(
            Method::POST,
            &path,
            Some(&aid_goris),
            Some(body.clone()),
            &key,
        )
        .await;
    assert_eq!(first.status, 201, "{}", first.text);
    let retry = app
        .send(Method::POST, &path, Some(&aid_goris), Some(body), &key)
        .await;
    assert_eq!(retry.status, 201, "{}", retry.text);
    assert_eq!(retry.header("idempotent-replayed"), Some("true"));
    assert_eq!(retry.body, first.body);
    let reused = app
        .send(
            Method::POST,
            &path,
            Some(&aid_goris),
            Some(json!({"household_id": other}).to_string().into_bytes()),
            &key,
        )
        .await;
    assert_eq!(reused.status, 422, "{}", reused.text);
    assert_eq!(reused.body["code"], "idempotency-key-reused");
    // A client-chosen id does the same without a key. The trip's center
    // decides, not the household's: Goris's desk boards Kapan's household.
    let id = uuid::Uuid::new_v4();
    let with_id = json!({"id": id, "household_id": other});
    for _ in 0..2 {
        let response = board(&app, &reg_goris, &bus, with_id.clone()).await;
        assert_eq!(response.status, 201, "{}", response.text);
        assert_eq!(response.body["id"], id.to_string());
    }
    assert_eq!(seats_taken(&app, &bus).await, 5);

    // The manifest names people: person-level, by the trip's center.
    let manifest = format!("/api/v1/trips/{bus}/manifest");
    for (token, status) in [
        (&analyst, 403),
        (&aid_kapan, 403),
        (&aid_goris, 200),
        (&reg_goris, 200),
        (&auditor, 200),
    ] {
        let response = app.get(&manifest, Some(token)).await;
        assert_eq!(response.status, status, "{}", response.text);
    }
    assert_eq!(
        app.get(&manifest, Some(&auditor)).await.body["passengers"]
            .as_array()
            .unwrap()
            .len(),
        5
    );
    assert_eq!(app.get(&manifest, None).await.status, 401);
    assert_seats_match_boardings(&app).await;
}
