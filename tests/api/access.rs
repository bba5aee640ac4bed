//! Who may call what: every endpoint, every role, and no token at all.

use refuge::accounts::Role;
use reqwest::Method;
use serde_json::json;

use crate::backend_tests;
use crate::flows::count_body;
use crate::helpers::{household, TestApp};

backend_tests!(every_endpoint_answers_each_role_as_documented);

const ROLES: [&str; 7] = [
    "none",
    "admin",
    "registrar_here",
    "registrar_elsewhere",
    "aid_worker_here",
    "analyst",
    "auditor",
];

async fn every_endpoint_answers_each_role_as_documented(app: TestApp) {
    let goris = app.center("GORIS").await;
    app.center("KAPAN").await;
    let created = app
        .post(
            "/api/v1/households",
            Some(app.admin()),
            &household(&goris, 2),
        )
        .await;
    let household_id = created.body["id"].as_str().unwrap().to_string();
    let counted = app
        .post(
            "/api/v1/flow-counts",
            Some(app.admin()),
            &count_body(&goris, "2023-09-25T08:00:00Z"),
        )
        .await;
    let flow_count_id = counted.body["id"].as_str().unwrap().to_string();
    let person_id = created.body["members"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let tokens = [
        None,
        Some(app.admin().to_string()),
        Some(app.user("reg.goris", Role::Registrar, &["GORIS"]).await),
        Some(app.user("reg.kapan", Role::Registrar, &["KAPAN"]).await),
        Some(app.user("aid.goris", Role::AidWorker, &["GORIS"]).await),
        Some(app.user("analyst", Role::Analyst, &[]).await),
        Some(app.user("auditor", Role::Auditor, &[]).await),
    ];

    let organization = app
        .post(
            "/api/v1/organizations",
            Some(app.admin()),
            &json!({"code": "MLSA", "name": "Ministry", "kind": "government"}),
        )
        .await
        .body["id"]
        .clone();
    let site = app
        .post(
            "/api/v1/sites",
            Some(app.admin()),
            &json!({"code": "HOTEL", "name": "Hotel", "kind": "hotel", "province": "AM-SU",
                    "capacity_beds": 20, "organization_id": organization}),
        )
        .await
        .body["id"]
        .as_str()
        .unwrap()
        .to_string();
    let placement = app
        .post(
            &format!("/api/v1/sites/{site}/placements"),
            Some(app.admin()),
            &json!({"household_id": household_id}),
        )
        .await
        .body["id"]
        .as_str()
        .unwrap()
        .to_string();
    let item = app
        .post(
            "/api/v1/items",
            Some(app.admin()),
            &json!({"code": "FUEL", "name": "Fuel", "unit": "liter", "sector": "fuel"}),
        )
        .await
        .body["id"]
        .as_str()
        .unwrap()
        .to_string();
    let received = app
        .post(
            "/api/v1/stock/receipts",
            Some(app.admin()),
            &json!({"center_id": goris, "item_id": item, "quantity": 1000, "organization_id": organization}),
        )
        .await;
    assert_eq!(received.status, 201, "{}", received.text);
    let distribution = app
        .post(
            "/api/v1/distributions",
            Some(app.admin()),
            &json!({"household_id": household_id, "center_id": goris, "item_id": item,
                    "quantity": 5, "organization_id": organization}),
        )
        .await
        .body["id"]
        .as_str()
        .unwrap()
        .to_string();
    let trip = app
        .post(
            "/api/v1/trips",
            Some(app.admin()),
            &crate::transport::trip_body(&goris, organization.as_str().unwrap(), 50),
        )
        .await
        .body["id"]
        .as_str()
        .unwrap()
        .to_string();
    let referral = app
        .post(
            "/api/v1/referrals",
            Some(app.admin()),
            &crate::referrals::referral_body(&household_id, &person_id),
        )
        .await
        .body["id"]
        .as_str()
        .unwrap()
        .to_string();
    let center_path = format!("/api/v1/centers/{goris}");
    let household_path = format!("/api/v1/households/{household_id}");
    let person_path = format!("/api/v1/persons/{person_id}");
    let flow_count_path = format!("/api/v1/flow-counts/{flow_count_id}");
    // Expected status per role, in ROLES order.
    let cases: Vec<(Method, String, Option<serde_json::Value>, [u16; 7])> = vec![
        (
            Method::GET,
            "/api/v1/me".into(),
            None,
            [401, 200, 200, 200, 200, 200, 200],
        ),
        (
            Method::GET,
            "/api/v1/codes/needs".into(),
            None,
            [401, 200, 200, 200, 200, 200, 200],
        ),
        (
            Method::GET,
            "/api/v1/centers".into(),
            None,
            [401, 200, 200, 200, 200, 200, 200],
        ),
        (
            Method::GET,
            center_path.clone(),
            None,
            [401, 200, 200, 200, 200, 200, 200],
        ),
        (
            Method::POST,
            "/api/v1/centers".into(),
            Some(json!({"code": "NEW", "name": "n", "kind": "aid_point", "province": "AM-ER"})),
            [401, 201, 403, 403, 403, 403, 403],
        ),
        (
            Method::PATCH,
            center_path.clone(),
            Some(json!({"name": "Goris"})),
            [401, 200, 403, 403, 403, 403, 403],
        ),
        (
            Method::POST,
            "/api/v1/households".into(),
            Some(household(&goris, 1)),
            [401, 201, 201, 403, 403, 403, 403],
        ),
        (
            Method::GET,
            "/api/v1/households".into(),
            None,
            [401, 200, 200, 200, 200, 403, 200],
        ),
        (
            Method::GET,
            household_path.clone(),
            None,
            [401, 200, 200, 403, 200, 403, 200],
        ),
        (
            Method::PATCH,
            household_path.clone(),
            Some(json!({"origin_settlement": "Ասկերան"})),
            [401, 200, 200, 403, 403, 403, 403],
        ),
        (
            Method::GET,
            "/api/v1/persons?name=a".into(),
            None,
            [401, 200, 200, 200, 200, 403, 200],
        ),
        (
            Method::GET,
            person_path.clone(),
            None,
            [401, 200, 200, 403, 200, 403, 200],
        ),
        // Flow counts are aggregate data: analysts read them too.
        (
            Method::POST,
            "/api/v1/flow-counts".into(),
            Some(count_body(&goris, "2023-09-26T00:00:00Z")),
            [401, 201, 201, 403, 403, 403, 403],
        ),
        (
            Method::GET,
            "/api/v1/flow-counts".into(),
            None,
            [401, 200, 200, 200, 200, 200, 200],
        ),
        (
            Method::GET,
            flow_count_path.clone(),
            None,
            [401, 200, 200, 403, 200, 200, 200],
        ),
        (
            Method::PATCH,
            flow_count_path.clone(),
            Some(json!({"reason": "recount", "vehicles": 4})),
            [401, 200, 200, 403, 403, 403, 403],
        ),
        (
            Method::GET,
            format!("{flow_count_path}/corrections"),
            None,
            [401, 200, 200, 403, 200, 200, 200],
        ),
        // Organizations, sites and occupancy are not personal data;
        // placements name households, so they are scoped like households.
        (
            Method::GET,
            "/api/v1/organizations".into(),
            None,
            [401, 200, 200, 200, 200, 200, 200],
        ),
        (
            Method::POST,
            "/api/v1/organizations".into(),
            Some(json!({"code": "UNHCR", "name": "UNHCR", "kind": "un_agency"})),
            [401, 201, 403, 403, 403, 403, 403],
        ),
        (
            Method::GET,
            "/api/v1/sites".into(),
            None,
            [401, 200, 200, 200, 200, 200, 200],
        ),
        (
            Method::POST,
            "/api/v1/sites".into(),
            Some(
                json!({"code": "DORM", "name": "Dorm", "kind": "dormitory", "province": "AM-KT",
                        "capacity_beds": 40, "organization_id": organization}),
            ),
            [401, 201, 403, 403, 403, 403, 403],
        ),
        (
            Method::GET,
            format!("/api/v1/sites/{site}/occupancy"),
            None,
            [401, 200, 200, 200, 200, 200, 200],
        ),
        (
            Method::GET,
            "/api/v1/occupancy".into(),
            None,
            [401, 200, 200, 200, 200, 200, 200],
        ),
        (
            Method::GET,
            format!("/api/v1/sites/{site}/placements"),
            None,
            [401, 200, 200, 200, 200, 403, 200],
        ),
        (
            Method::GET,
            format!("/api/v1/placements/{placement}"),
            None,
            [401, 200, 200, 403, 200, 403, 200],
        ),
        (
            Method::POST,
            format!("/api/v1/placements/{placement}/checkout"),
            Some(json!({})),
            // Desks at the household's center may too; the admin closed it first.
            [401, 200, 409, 403, 409, 403, 403],
        ),
        // The catalogue, rules and stock are not personal data; stock is
        // moved by the center's staff. Distributions name households.
        (
            Method::GET,
            "/api/v1/items".into(),
            None,
            [401, 200, 200, 200, 200, 200, 200],
        ),
        (
            Method::POST,
            "/api/v1/items".into(),
            Some(json!({"code": "KIT", "name": "Kit", "unit": "kit", "sector": "wash"})),
            [401, 201, 403, 403, 403, 403, 403],
        ),
        (
            Method::GET,
            "/api/v1/entitlements".into(),
            None,
            [401, 200, 200, 200, 200, 200, 200],
        ),
        (
            Method::GET,
            "/api/v1/stock".into(),
            None,
            [401, 200, 200, 200, 200, 200, 200],
        ),
        (
            Method::GET,
            format!("/api/v1/stock?center_id={goris}"),
            None,
            [401, 200, 200, 403, 200, 200, 200],
        ),
        (
            Method::GET,
            "/api/v1/stock/movements".into(),
            None,
            [401, 200, 200, 200, 200, 200, 200],
        ),
        (
            Method::POST,
            "/api/v1/stock/receipts".into(),
            Some(
                json!({"center_id": goris, "item_id": item, "quantity": 10, "organization_id": organization}),
            ),
            [401, 201, 201, 403, 201, 403, 403],
        ),
        (
            Method::POST,
            "/api/v1/stock/adjustments".into(),
            Some(json!({"center_id": goris, "item_id": item, "quantity": -1, "reason": "recount"})),
            [401, 201, 201, 403, 201, 403, 403],
        ),
        (
            Method::POST,
            "/api/v1/distributions".into(),
            Some(
                json!({"household_id": household_id, "center_id": goris, "item_id": item,
                        "quantity": 1, "organization_id": organization}),
            ),
            [401, 201, 201, 403, 201, 403, 403],
        ),
        (
            Method::GET,
            "/api/v1/distributions".into(),
            None,
            [401, 200, 200, 200, 200, 403, 200],
        ),
        (
            Method::GET,
            format!("/api/v1/distributions/{distribution}"),
            None,
            [401, 200, 200, 403, 200, 403, 200],
        ),
        (
            Method::GET,
            format!("{household_path}/assistance"),
            None,
            [401, 200, 200, 403, 200, 403, 200],
        ),
        (
            Method::GET,
            "/api/v1/stats/summary".into(),
            None,
            [401, 200, 200, 200, 200, 200, 200],
        ),
        (
            Method::GET,
            "/api/v1/stats/summary?suppress=false".into(),
            None,
            [401, 200, 200, 200, 200, 403, 200],
        ),
        (
            Method::GET,
            format!("/api/v1/stats/arrivals?center_id={goris}"),
            None,
            [401, 200, 200, 403, 200, 200, 200],
        ),
        (
            Method::GET,
            "/api/v1/stats/coverage".into(),
            None,
            [401, 200, 200, 200, 200, 200, 200],
        ),
        (
            Method::GET,
            format!("/api/v1/stats/coverage?center_id={goris}&suppress=false"),
            None,
            [401, 200, 200, 403, 200, 403, 200],
        ),
        (
            Method::GET,
            "/api/v1/stats/demographics".into(),
            None,
            [401, 200, 200, 200, 200, 200, 200],
        ),
        (
            Method::GET,
            format!("/api/v1/stats/needs?center_id={goris}"),
            None,
            [401, 200, 200, 403, 200, 200, 200],
        ),
        // Trips are not personal data; their manifests name people, so
        // they are scoped by the departure center like households.
        (
            Method::GET,
            "/api/v1/trips".into(),
            None,
            [401, 200, 200, 200, 200, 200, 200],
        ),
        (
            Method::POST,
            "/api/v1/trips".into(),
            Some(crate::transport::trip_body(
                &goris,
                organization.as_str().unwrap(),
                20,
            )),
            [401, 201, 201, 403, 201, 403, 403],
        ),
        (
            Method::GET,
            format!("/api/v1/trips/{trip}"),
            None,
            [401, 200, 200, 200, 200, 200, 200],
        ),
        (
            Method::POST,
            format!("/api/v1/trips/{trip}/boardings"),
            Some(json!({"household_id": household_id, "person_ids": [person_id]})),
            // Desks at the trip's center may too; the admin boarded the person first.
            [401, 201, 409, 403, 409, 403, 403],
        ),
        (
            Method::GET,
            format!("/api/v1/trips/{trip}/manifest"),
            None,
            [401, 200, 200, 403, 200, 403, 200],
        ),
        // Referrals are person-level, scoped by the household's center.
        (
            Method::GET,
            "/api/v1/referrals".into(),
            None,
            [401, 200, 200, 200, 200, 403, 200],
        ),
        (
            Method::POST,
            "/api/v1/referrals".into(),
            Some(crate::referrals::referral_body(&household_id, &person_id)),
            [401, 201, 201, 403, 201, 403, 403],
        ),
        (
            Method::GET,
            format!("/api/v1/referrals/{referral}"),
            None,
            [401, 200, 200, 403, 200, 403, 200],
        ),
        (
            Method::PATCH,
            format!("/api/v1/referrals/{referral}"),
            Some(json!({"status": "accepted"})),
            // Desks at the household's center may too; the admin accepted it first.
            [401, 200, 409, 403, 409, 403, 403],
        ),
    ];
    for (method, path, body, expected) in cases {
        for (i, token) in tokens.iter().enumerate() {
            let mut headers = Vec::new();
            let version;
            let versioned = path.starts_with("/api/v1/households/")
                || path.starts_with("/api/v1/flow-counts/")
                || path.starts_with("/api/v1/referrals/");
            if method == Method::PATCH && versioned {
                let current = app.get(&path, Some(app.admin())).await;
                version = current.header("etag").unwrap().to_string();
                headers.push(("if-match", version.as_str()));
            }
            let mut body = body.clone();
            if let (Some(b), true) = (body.as_mut(), path == "/api/v1/centers") {
                b["code"] = json!(format!("NEW{i}"));
            }
            // Each role records its own hour, so that no count overlaps another.
            if let (Some(b), true) = (body.as_mut(), path == "/api/v1/flow-counts") {
                *b = count_body(&goris, &format!("2023-09-26T{i:02}:00:00Z"));
            }
            let response = app
                .send(
                    method.clone(),
                    &path,
                    token.as_deref(),
                    body.map(|b| b.to_string().into_bytes()),
                    &headers,
                )
                .await;
            assert_eq!(
                response.status, expected[i],
                "{method} {path} as {}: {}",
                ROLES[i], response.text
            );
        }
    }
    // A registrar elsewhere sees an empty list, not Goris's households.
    let elsewhere = app.get("/api/v1/households", tokens[3].as_deref()).await;
    assert_eq!(elsewhere.body["items"], json!([]));
    let forbidden_filter = app
        .get(
            &format!("/api/v1/households?center_id={goris}"),
            tokens[3].as_deref(),
        )
        .await;
    assert_eq!(forbidden_filter.status, 403);
    // The same for flow counts: a registrar elsewhere sees none of Goris's.
    let elsewhere = app.get("/api/v1/flow-counts", tokens[3].as_deref()).await;
    assert_eq!(elsewhere.body["items"], json!([]));
    let here = app.get("/api/v1/flow-counts", tokens[4].as_deref()).await;
    assert_eq!(here.body["items"].as_array().unwrap().len(), 3);
    let forbidden_filter = app
        .get(
            &format!("/api/v1/flow-counts?center_id={goris}"),
            tokens[3].as_deref(),
        )
        .await;
    assert_eq!(forbidden_filter.status, 403);
    let analyst_filter = app
        .get(
            &format!("/api/v1/flow-counts?center_id={goris}"),
            tokens[5].as_deref(),
        )
        .await;
    assert_eq!(analyst_filter.body["items"].as_array().unwrap().len(), 3);
}
