//! Housing: organizations, sites, placements (check-in, move, check-out) and
//! occupancy; a site never holds more people than its beds, whatever the
//! concurrency, and its bed count always equals its open placements.

use futures_util::future::join_all;
use refuge::accounts::Role;
use reqwest::Method;
use serde_json::{json, Value};

use crate::backend_tests;
use crate::helpers::{household, Response, TestApp};

backend_tests!(
    organizations_and_sites_are_validated_and_admin_only,
    households_check_in_move_and_check_out_with_history,
    concurrent_placements_never_overfill_a_site,
    placements_are_by_role_and_center_and_safe_to_retry
);

async fn organization(app: &TestApp, code: &str, kind: &str) -> String {
    let response = app
        .post(
            "/api/v1/organizations",
            Some(app.admin()),
            &json!({"code": code, "name": format!("{code} (test)"), "kind": kind}),
        )
        .await;
    assert_eq!(response.status, 201, "{}", response.text);
    response.body["id"].as_str().unwrap().to_string()
}

async fn site(app: &TestApp, code: &str, province: &str, beds: i32, organization: &str) -> String {
    let response = app
        .post(
            "/api/v1/sites",
            Some(app.admin()),
            &json!({
                "code": code,
                "name": format!("Հյուրանոց {code}"),
                "kind": "hotel",
                "province": province,
                "settlement": "Գորիս",
                "capacity_beds": beds,
                "floor_area_m2": 120.0,
                "organization_id": organization,
            }),
        )
        .await;
    assert_eq!(response.status, 201, "{}", response.text);
    response.body["id"].as_str().unwrap().to_string()
}

async fn register(app: &TestApp, center: &str, size: usize) -> String {
    app.register(&household(center, size)).await["id"]
        .as_str()
        .unwrap()
        .to_string()
}

async fn place(app: &TestApp, token: &str, site: &str, body: Value) -> Response {
    app.post(
        &format!("/api/v1/sites/{site}/placements"),
        Some(token),
        &body,
    )
    .await
}

async fn assert_beds_match_placements(app: &TestApp) {
    let drift = app
        .with_db(|conn| refuge::housing::verify(conn).unwrap())
        .await;
    assert!(
        drift.is_empty(),
        "occupied_beds differs from open placements: {drift:?}"
    );
}

async fn organizations_and_sites_are_validated_and_admin_only(app: TestApp) {
    let ministry = organization(&app, "MLSA", "government").await;
    let again = app
        .post(
            "/api/v1/organizations",
            Some(app.admin()),
            &json!({"code": "MLSA", "name": "Another", "kind": "ngo"}),
        )
        .await;
    assert_eq!(again.status, 409, "{}", again.text);
    assert_eq!(again.body["code"], "organization-code-taken");
    let bad = app
        .post(
            "/api/v1/organizations",
            Some(app.admin()),
            &json!({"code": "x", "name": " ", "kind": "government"}),
        )
        .await;
    assert_eq!(bad.status, 422, "{}", bad.text);
    assert_eq!(bad.error_fields(), ["code", "name"]);
    let unknown_kind = app
        .post(
            "/api/v1/organizations",
            Some(app.admin()),
            &json!({"code": "XX", "name": "X", "kind": "cartel"}),
        )
        .await;
    assert_eq!(unknown_kind.status, 422, "{}", unknown_kind.text);

    app.center("GORIS").await;
    let registrar = app.user("reg", Role::Registrar, &["GORIS"]).await;
    let refused = app
        .post(
            "/api/v1/organizations",
            Some(&registrar),
            &json!({"code": "UNHCR", "name": "UNHCR", "kind": "un_agency"}),
        )
        .await;
    assert_eq!(refused.status, 403);
    let listed = app.get("/api/v1/organizations", Some(&registrar)).await;
    assert_eq!(listed.status, 200);
    assert_eq!(listed.body["items"][0]["code"], "MLSA");

    let bad_site = app
        .post(
            "/api/v1/sites",
            Some(app.admin()),
            &json!({
                "code": "S1", "name": "Site", "kind": "hotel", "province": "AM-XX",
                "capacity_beds": -1, "floor_area_m2": 0, "organization_id": ministry,
            }),
        )
        .await;
    assert_eq!(bad_site.status, 422, "{}", bad_site.text);
    assert_eq!(
        bad_site.error_fields(),
        ["province", "capacity_beds", "floor_area_m2"]
    );
    let no_org = app
        .post(
            "/api/v1/sites",
            Some(app.admin()),
            &json!({
                "code": "S1", "name": "Site", "kind": "hotel", "province": "AM-SU",
                "capacity_beds": 10, "organization_id": uuid::Uuid::new_v4(),
            }),
        )
        .await;
    assert_eq!(no_org.status, 422, "{}", no_org.text);
    assert_eq!(no_org.error_fields(), ["organization_id"]);
    let id = site(&app, "GORIS-HOTEL", "AM-SU", 10, &ministry).await;
    let fetched = app
        .get(&format!("/api/v1/sites/{id}"), Some(&registrar))
        .await;
    assert_eq!(fetched.body["capacity_beds"], 10);
    assert_eq!(fetched.body["occupied_beds"], 0);
    assert_eq!(
        app.get("/api/v1/sites?province=AM-SU", Some(&registrar))
            .await
            .body["items"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        app.get("/api/v1/sites?province=AM-KT", Some(&registrar))
            .await
            .body["items"],
        json!([])
    );
    let patch = app
        .patch(
            &format!("/api/v1/sites/{id}"),
            Some(&registrar),
            &json!({"capacity_beds": 20}),
            None,
        )
        .await;
    assert_eq!(patch.status, 403);
}

async fn households_check_in_move_and_check_out_with_history(app: TestApp) {
    let goris = app.center("GORIS").await;
    let ministry = organization(&app, "MLSA", "government").await;
    let ngo = organization(&app, "HOSTS", "ngo").await;
    let hotel = site(&app, "GORIS-HOTEL", "AM-SU", 10, &ministry).await;
    let hosts = site(&app, "ABOVYAN-HOSTS", "AM-KT", 6, &ngo).await;
    let family = register(&app, &goris, 4).await; // arrived 2023-09-26T14:30+04:00
    let pair = register(&app, &goris, 2).await;

    let early = place(
        &app,
        app.admin(),
        &hotel,
        json!({"household_id": family, "checked_in_at": "2023-09-26T14:00:00+04:00"}),
    )
    .await;
    assert_eq!(early.status, 422, "{}", early.text);
    assert_eq!(early.body["errors"][0]["code"], "before_arrival");
    let unknown = place(
        &app,
        app.admin(),
        &hotel,
        json!({"household_id": uuid::Uuid::new_v4()}),
    )
    .await;
    assert_eq!(unknown.status, 422);
    assert_eq!(unknown.error_fields(), ["household_id"]);
    let nowhere = place(
        &app,
        app.admin(),
        &uuid::Uuid::new_v4().to_string(),
        json!({"household_id": family}),
    )
    .await;
    assert_eq!(nowhere.status, 404);

    let first = place(
        &app,
        app.admin(),
        &hotel,
        json!({"household_id": family, "checked_in_at": "2023-09-26T18:00:00+04:00"}),
    )
    .await;
    assert_eq!(first.status, 201, "{}", first.text);
    assert_eq!(first.body["persons"], 4);
    assert_eq!(first.body["checked_out_at"], Value::Null);
    let twice = place(&app, app.admin(), &hosts, json!({"household_id": family})).await;
    assert_eq!(twice.status, 409, "{}", twice.text);
    assert_eq!(twice.body["code"], "household-already-placed");
    let pair_placed = place(
        &app,
        app.admin(),
        &hotel,
        json!({"household_id": pair, "checked_in_at": "2023-09-27T09:00:00+04:00"}),
    )
    .await;
    assert_eq!(pair_placed.status, 201, "{}", pair_placed.text);

    // The hotel has 10 beds and 6 taken: its capacity cannot drop below 6.
    let shrink = app
        .patch(
            &format!("/api/v1/sites/{hotel}"),
            Some(app.admin()),
            &json!({"capacity_beds": 5}),
            None,
        )
        .await;
    assert_eq!(shrink.status, 409, "{}", shrink.text);
    assert_eq!(shrink.body["code"], "capacity-below-occupancy");

    // The family moves to a host family on 1 October: one transaction closes
    // the hotel placement and opens the new one.
    let moved = place(
        &app,
        app.admin(),
        &hosts,
        json!({"household_id": family, "move": true, "checked_in_at": "2023-10-01T12:00:00+04:00"}),
    )
    .await;
    assert_eq!(moved.status, 201, "{}", moved.text);
    assert_eq!(moved.body["moved_from"], first.body["id"]);
    let old = app
        .get(
            &format!("/api/v1/placements/{}", first.body["id"].as_str().unwrap()),
            Some(app.admin()),
        )
        .await;
    assert_eq!(old.body["checkout_reason"], "moved");
    assert_eq!(old.body["checked_out_at"], "2023-10-01T08:00:00Z");

    let occupancy = |site: &str, as_of: Option<&str>| {
        let path = match as_of {
            Some(t) => format!(
                "/api/v1/sites/{site}/occupancy?as_of={}",
                t.replace('+', "%2B")
            ),
            None => format!("/api/v1/sites/{site}/occupancy"),
        };
        let app = &app;
        async move {
            let response = app.get(&path, Some(app.admin())).await;
            assert_eq!(response.status, 200, "{}", response.text);
            response.body
        }
    };
    let hotel_now = occupancy(&hotel, None).await;
    assert_eq!(
        (
            &hotel_now["occupied_beds"],
            &hotel_now["available_beds"],
            &hotel_now["households"]
        ),
        (&json!(2), &json!(8), &json!(1))
    );
    assert_eq!(hotel_now["area_per_person_m2"], 60.0);
    let hotel_then = occupancy(&hotel, Some("2023-09-30T00:00:00+04:00")).await;
    assert_eq!(hotel_then["occupied_beds"], 6);
    assert_eq!(occupancy(&hosts, None).await["occupied_beds"], 4);

    let provinces = app
        .get(
            "/api/v1/occupancy?as_of=2023-09-30T00:00:00%2B04:00",
            Some(app.admin()),
        )
        .await;
    assert_eq!(provinces.status, 200, "{}", provinces.text);
    assert_eq!(provinces.body["provinces"][1]["province"], "AM-SU");
    assert_eq!(provinces.body["provinces"][1]["occupied_beds"], 6);
    assert_eq!(provinces.body["provinces"][1]["state_provided_persons"], 6);
    assert_eq!(provinces.body["total"]["occupied_beds"], 6);
    let provinces_now = app.get("/api/v1/occupancy", Some(app.admin())).await;
    assert_eq!(provinces_now.body["provinces"][0]["province"], "AM-KT");
    assert_eq!(
        provinces_now.body["provinces"][0]["state_provided_persons"],
        0
    );
    assert_eq!(provinces_now.body["total"]["occupied_beds"], 6);

    // Check-out, once.
    let pair_id = pair_placed.body["id"].as_str().unwrap();
    let checkout = format!("/api/v1/placements/{pair_id}/checkout");
    let too_early = app
        .post(
            &checkout,
            Some(app.admin()),
            &json!({"checked_out_at": "2023-09-27T08:00:00+04:00"}),
        )
        .await;
    assert_eq!(too_early.status, 422, "{}", too_early.text);
    assert_eq!(too_early.body["errors"][0]["code"], "before_check_in");
    let out = app.post(&checkout, Some(app.admin()), &json!({})).await;
    assert_eq!(out.status, 200, "{}", out.text);
    assert_eq!(out.body["checkout_reason"], "left");
    let again = app.post(&checkout, Some(app.admin()), &json!({})).await;
    assert_eq!(again.status, 409);
    assert_eq!(again.body["code"], "already-checked-out");
    assert_eq!(occupancy(&hotel, None).await["occupied_beds"], 0);

    // The hotel's history keeps both stays; only the family's host stay is open.
    let history = app
        .get(
            &format!("/api/v1/sites/{hotel}/placements"),
            Some(app.admin()),
        )
        .await;
    assert_eq!(history.body["items"].as_array().unwrap().len(), 2);
    let open = app
        .get(
            &format!("/api/v1/sites/{hosts}/placements?open=true"),
            Some(app.admin()),
        )
        .await;
    assert_eq!(open.body["items"].as_array().unwrap().len(), 1);
    assert_beds_match_placements(&app).await;

    // A stay entered after the fact (28 September, once 1 October and today
    // are recorded): occupancy on every later day includes it.
    let late = register(&app, &goris, 3).await;
    let late_placed = place(
        &app,
        app.admin(),
        &hotel,
        json!({"household_id": late, "checked_in_at": "2023-09-28T10:00:00+04:00"}),
    )
    .await;
    assert_eq!(late_placed.status, 201, "{}", late_placed.text);
    // Within a day, by the hour: the stay's check-in hour and the move's
    // check-out hour (08:00 UTC on 1 October), each part-way through and
    // after it.
    for (as_of, beds) in [
        (Some("2023-09-28T09:00:00+04:00"), 6),
        (Some("2023-09-28T10:30:00+04:00"), 9),
        (Some("2023-09-28T11:30:00+04:00"), 9),
        (Some("2023-09-30T00:00:00+04:00"), 9),
        (Some("2023-10-01T11:30:00+04:00"), 9),
        (Some("2023-10-01T12:30:00+04:00"), 5),
        (Some("2023-10-01T13:30:00+04:00"), 5),
        (Some("2023-10-02T00:00:00+04:00"), 5),
        (None, 3),
    ] {
        assert_eq!(
            occupancy(&hotel, as_of).await["occupied_beds"],
            beds,
            "{as_of:?}"
        );
    }
    let provinces = app
        .get(
            "/api/v1/occupancy?as_of=2023-09-30T00:00:00%2B04:00",
            Some(app.admin()),
        )
        .await;
    assert_eq!(provinces.body["total"]["occupied_beds"], 9);
    assert_beds_match_placements(&app).await;
    let (stored, recount) = app.aggregates_and_recount().await;
    assert_eq!(stored.differing_rows(&recount), 0, "stats verify");
}

async fn concurrent_placements_never_overfill_a_site(app: TestApp) {
    let goris = app.center("GORIS").await;
    let ministry = organization(&app, "MLSA", "government").await;
    let small = site(&app, "SMALL", "AM-SU", 50, &ministry).await;
    let households: Vec<String> = join_all((0..200).map(|_| register(&app, &goris, 1))).await;
    // 200 one-person households race for 50 beds, half of them through a
    // second server process when the database is PostgreSQL.
    let second = app.second_server().await;
    let attempts = households.iter().enumerate().map(|(i, household)| {
        let base = match &second {
            Some(second) if i % 2 == 1 => second.clone(),
            _ => app.address.clone(),
        };
        let path = format!("/api/v1/sites/{small}/placements");
        let body = json!({"household_id": household}).to_string().into_bytes();
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
    });
    let responses = join_all(attempts).await;
    let created = responses.iter().filter(|r| r.status == 201).count();
    let full = responses
        .iter()
        .filter(|r| r.status == 409 && r.body["code"] == "site-full")
        .count();
    assert_eq!(
        (created, full),
        (50, 150),
        "{:?}",
        responses.iter().map(|r| r.status).collect::<Vec<_>>()
    );
    let occupancy = app
        .get(
            &format!("/api/v1/sites/{small}/occupancy"),
            Some(app.admin()),
        )
        .await;
    assert_eq!(occupancy.body["occupied_beds"], 50);
    assert_eq!(occupancy.body["available_beds"], 0);

    // Households of 3 into 20 beds: never more than 20 people.
    let medium = site(&app, "MEDIUM", "AM-SU", 20, &ministry).await;
    let threes: Vec<String> = join_all((0..20).map(|_| register(&app, &goris, 3))).await;
    let responses = join_all(threes.iter().enumerate().map(|(i, household)| {
        let base = match &second {
            Some(second) if i % 2 == 1 => second.clone(),
            _ => app.address.clone(),
        };
        let path = format!("/api/v1/sites/{medium}/placements");
        let body = json!({"household_id": household}).to_string().into_bytes();
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
    assert_eq!(responses.iter().filter(|r| r.status == 201).count(), 6);
    let site = app
        .get(&format!("/api/v1/sites/{medium}"), Some(app.admin()))
        .await;
    assert_eq!(site.body["occupied_beds"], 18);
    assert_beds_match_placements(&app).await;
}

async fn placements_are_by_role_and_center_and_safe_to_retry(app: TestApp) {
    let goris = app.center("GORIS").await;
    app.center("VAYK").await;
    let ministry = organization(&app, "MLSA", "government").await;
    let hotel = site(&app, "HOTEL", "AM-SU", 30, &ministry).await;
    let family = register(&app, &goris, 3).await;
    let other = register(&app, &goris, 2).await;
    let aid_goris = app.user("aid-goris", Role::AidWorker, &["GORIS"]).await;
    let aid_vayk = app.user("aid-vayk", Role::AidWorker, &["VAYK"]).await;
    let analyst = app.user("analyst", Role::Analyst, &[]).await;

    let wrong_center = place(&app, &aid_vayk, &hotel, json!({"household_id": family})).await;
    assert_eq!(wrong_center.status, 403, "{}", wrong_center.text);
    let not_a_desk = place(&app, &analyst, &hotel, json!({"household_id": family})).await;
    assert_eq!(not_a_desk.status, 403);

    // A retry with the same key gets the same placement back.
    let key = [("idempotency-key", "desk-4-placement-0001")];
    let body = json!({"household_id": family}).to_string().into_bytes();
    let path = format!("/api/v1/sites/{hotel}/placements");
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
    assert_eq!(retry.body["id"], first.body["id"]);
    // A client-chosen id does the same without a key.
    let id = uuid::Uuid::new_v4();
    let with_id = json!({"id": id, "household_id": other});
    for _ in 0..2 {
        let response = place(&app, &aid_goris, &hotel, with_id.clone()).await;
        assert_eq!(response.status, 201, "{}", response.text);
        assert_eq!(response.body["id"], id.to_string());
    }
    let site = app
        .get(&format!("/api/v1/sites/{hotel}"), Some(app.admin()))
        .await;
    assert_eq!(site.body["occupied_beds"], 5);

    // Placements name households: person-level, by center.
    let placement = first.body["id"].as_str().unwrap();
    assert_eq!(
        app.get(&format!("/api/v1/placements/{placement}"), Some(&analyst))
            .await
            .status,
        403
    );
    assert_eq!(
        app.get(&format!("/api/v1/placements/{placement}"), Some(&aid_vayk))
            .await
            .status,
        403
    );
    assert_eq!(
        app.get(&format!("/api/v1/placements/{placement}"), Some(&aid_goris))
            .await
            .status,
        200
    );
    let seen_from_vayk = app
        .get(
            &format!("/api/v1/sites/{hotel}/placements"),
            Some(&aid_vayk),
        )
        .await;
    assert_eq!(seen_from_vayk.body["items"], json!([]));
    // Occupancy is aggregate: anyone may read it.
    assert_eq!(
        app.get(&format!("/api/v1/sites/{hotel}/occupancy"), Some(&analyst))
            .await
            .body["occupied_beds"],
        5
    );
    let checkout = app
        .post(
            &format!("/api/v1/placements/{placement}/checkout"),
            Some(&aid_vayk),
            &json!({}),
        )
        .await;
    assert_eq!(checkout.status, 403);
    assert_beds_match_placements(&app).await;
}
