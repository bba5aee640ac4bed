//! Coverage statistics: the share of registered households housed, fed,
//! given fuel and transported, per center and local day; Sphere gaps; and
//! suppression that leaves no small count visible or derivable.

use refuge::accounts::Role;
use serde_json::{json, Value};

use crate::backend_tests;
use crate::helpers::{household, TestApp};

backend_tests!(
    coverage_counts_what_each_household_received_by_day,
    living_space_covers_every_site_with_a_floor_area_and_no_other,
);

async fn post(app: &TestApp, path: &str, body: Value) -> Value {
    let response = app.post(path, Some(app.admin()), &body).await;
    assert_eq!(response.status, 201, "{path}: {}", response.text);
    response.body
}

fn id(v: &Value) -> String {
    v["id"].as_str().unwrap().to_string()
}

/// The ministry whose sites and stock the tests use.
async fn ministry(app: &TestApp) -> String {
    id(&post(
        app,
        "/api/v1/organizations",
        json!({"code": "MLSA", "name": "Ministry", "kind": "government"}),
    )
    .await)
}

async fn coverage_counts_what_each_household_received_by_day(app: TestApp) {
    let goris = app.center("GORIS").await;
    let ministry = ministry(&app).await;
    // 20 m² for up to 10 beds: below 3.5 m² per person once 6 are in.
    let site = id(&post(
        &app,
        "/api/v1/sites",
        json!({"code": "HALL", "name": "Sports hall", "kind": "collective_center",
               "province": "AM-SU", "capacity_beds": 200, "floor_area_m2": 20.0,
               "organization_id": ministry}),
    )
    .await);
    let food = id(&post(
        &app,
        "/api/v1/items",
        json!({"code": "FOOD-RATION", "name": "Daily ration", "unit": "ration",
               "sector": "food", "kcal_per_unit": 2100}),
    )
    .await);
    let fuel = id(&post(
        &app,
        "/api/v1/items",
        json!({"code": "FUEL", "name": "Fuel", "unit": "liter", "sector": "fuel"}),
    )
    .await);
    for item in [&food, &fuel] {
        post(
            &app,
            "/api/v1/stock/receipts",
            json!({"center_id": goris, "item_id": item, "quantity": 10000,
                   "organization_id": ministry, "received_at": "2023-09-25T00:00:00+04:00"}),
        )
        .await;
    }
    let trip = id(&post(
        &app,
        "/api/v1/trips",
        crate::transport::trip_body(&goris, &ministry, 100),
    )
    .await);

    // 12 one-person households arrive on 26 September (local), 8 on the 27th.
    let mut households = Vec::new();
    for i in 0..20 {
        let mut body = household(&goris, 1);
        body["arrived_at"] = json!(if i < 12 {
            "2023-09-26T09:00:00+04:00"
        } else {
            "2023-09-27T09:00:00+04:00"
        });
        households.push(id(&post(&app, "/api/v1/households", body).await));
    }
    let day1 = "2023-09-26T20:00:00+04:00";
    let day2 = "2023-09-27T20:00:00+04:00";
    // Housed: 6 on day 1, 2 more on day 2. Food: 10 on day 1, then every
    // household on day 2, one ration each. Fuel: 7 on day 2. Transport: 3
    // households on the 27th.
    for (i, h) in households.iter().enumerate() {
        if i < 6 || (12..14).contains(&i) {
            let at = if i < 6 { day1 } else { day2 };
            post(
                &app,
                &format!("/api/v1/sites/{site}/placements"),
                json!({"household_id": h, "checked_in_at": at}),
            )
            .await;
        }
        if i < 10 {
            post(
                &app,
                "/api/v1/distributions",
                json!({"household_id": h, "center_id": goris, "item_id": food, "quantity": 1,
                       "organization_id": ministry, "distributed_at": day1}),
            )
            .await;
        }
        post(
            &app,
            "/api/v1/distributions",
            json!({"household_id": h, "center_id": goris, "item_id": food, "quantity": 1,
                   "organization_id": ministry, "distributed_at": day2}),
        )
        .await;
        if i < 7 {
            post(
                &app,
                "/api/v1/distributions",
                json!({"household_id": h, "center_id": goris, "item_id": fuel, "quantity": 5,
                       "organization_id": ministry, "distributed_at": day2}),
            )
            .await;
        }
        if i < 3 {
            post(
                &app,
                &format!("/api/v1/trips/{trip}/boardings"),
                json!({"household_id": h}),
            )
            .await;
        }
    }

    let path = |suppress: bool| {
        format!(
            "/api/v1/stats/coverage?from=2023-09-26T00:00:00%2B04:00&to=2023-09-28T00:00:00%2B04:00&suppress={suppress}"
        )
    };
    let full = app.get(&path(false), Some(app.admin())).await;
    assert_eq!(full.status, 200, "{}", full.text);
    let days = &full.body["centers"][0]["days"];
    assert_eq!(days.as_array().unwrap().len(), 2, "{}", full.text);
    let day = |d: usize, field: &str| days[d][field].clone();
    assert_eq!(day(0, "date"), "2023-09-26");
    assert_eq!(day(0, "registered_households"), 12);
    assert_eq!(day(1, "registered_households"), 20);
    assert_eq!(day(0, "housing")["households"], 6);
    assert_eq!(day(0, "housing")["share"], 0.5);
    assert_eq!(day(1, "housing")["households"], 8);
    assert_eq!(day(1, "housing")["share"], 0.4);
    assert_eq!(day(0, "food")["households"], 10);
    assert_eq!(day(1, "food")["households"], 20);
    assert_eq!(day(1, "food")["share"], 1.0);
    assert_eq!(day(0, "fuel")["households"], 0);
    assert_eq!(day(1, "fuel")["households"], 7);
    assert_eq!(day(1, "transport")["households"], 3);
    assert_eq!(full.body["total"]["days"][1]["housing"]["households"], 8);

    // Sphere: 8 people on 20 m² at the end of the range.
    let living = &full.body["sphere"]["living_space"];
    assert_eq!(living["persons_in_sites_with_area"], 8);
    assert_eq!(living["persons_below_standard"], 8);
    assert_eq!(living["sites_below_standard"], 1);
    // Food: 30 rations of 2,100 kcal against 12 + 20 person-days.
    let energy = &full.body["sphere"]["food_energy"]["centers"][0];
    assert_eq!(energy["kcal_distributed"], 30 * 2100);
    assert_eq!(energy["kcal_required"], 32 * 2100);
    assert_eq!(energy["share"], 0.9375);

    // An analyst gets the same table with small counts withheld (3
    // transported) and none recoverable from its neighbours (housing went
    // 6 -> 8: publishing both would reveal the 2 housed on the 27th).
    let analyst = app.user("analyst", Role::Analyst, &[]).await;
    assert_eq!(app.get(&path(false), Some(&analyst)).await.status, 403);
    let suppressed = app.get(&path(true), Some(&analyst)).await;
    assert_eq!(suppressed.status, 200, "{}", suppressed.text);
    let mut small = Vec::new();
    scan(&suppressed.body, "", &mut small);
    assert!(small.is_empty(), "small counts published: {small:?}");
    let analyst_days = &suppressed.body["centers"][0]["days"];
    assert_eq!(analyst_days[1]["transport"]["households"], Value::Null);
    assert!(
        analyst_days[0]["housing"]["households"].is_null()
            || analyst_days[1]["housing"]["households"].is_null(),
        "{analyst_days}"
    );
    assert_eq!(analyst_days[1]["food"]["households"], 20);
    // The food requirement is persons registered day by day: withheld for
    // the analyst (a one-day range would give the center's persons that day).
    let energy = &suppressed.body["sphere"]["food_energy"]["centers"][0];
    assert_eq!(energy["kcal_distributed"], 30 * 2100);
    assert_eq!(energy["kcal_required"], Value::Null);
    assert_eq!(energy["share"], Value::Null);
    assert_eq!(energy["suppressed"], json!(["kcal_required", "share"]));
    for series in [
        &suppressed.body["centers"][0]["days"],
        &suppressed.body["total"]["days"],
    ] {
        let days = series.as_array().unwrap();
        for measure in ["housing", "food", "fuel", "transport"] {
            let values: Vec<Option<i64>> = days
                .iter()
                .map(|d| d[measure]["households"].as_i64())
                .collect();
            for pair in values.windows(2) {
                if let [Some(a), Some(b)] = pair {
                    assert!(
                        !(1..5).contains(&(b - a)),
                        "{measure}: {a} -> {b} reveals a small count"
                    );
                }
            }
            for d in days {
                if d[measure]["households"].is_null() {
                    assert_eq!(d[measure]["share"], Value::Null);
                }
            }
        }
    }
    // One center: its total must be withheld exactly when the center's is.
    for (c, t) in suppressed.body["centers"][0]["days"]
        .as_array()
        .unwrap()
        .iter()
        .zip(suppressed.body["total"]["days"].as_array().unwrap())
    {
        for measure in ["housing", "food", "fuel", "transport"] {
            assert_eq!(
                c[measure]["households"].is_null(),
                t[measure]["households"].is_null()
            );
        }
    }
    let bad = app
        .get(
            "/api/v1/stats/coverage?from=2023-09-28T00:00:00Z&to=2023-09-27T00:00:00Z",
            Some(app.admin()),
        )
        .await;
    assert_eq!(bad.status, 400);
}

/// Living space is read for the sites with a floor area only: one without
/// an area is left out, and one whose first household checked in during the
/// range's last (partial) hour, with no hour behind it yet, is counted.
async fn living_space_covers_every_site_with_a_floor_area_and_no_other(app: TestApp) {
    let goris = app.center("GORIS").await;
    let ministry = ministry(&app).await;
    let site = |code: &str, area: Option<f64>| {
        json!({"code": code, "name": code, "kind": "collective_center",
               "province": "AM-SU", "capacity_beds": 50, "floor_area_m2": area,
               "organization_id": ministry})
    };
    // 12 m² for 4 persons: below 3.5 m² a person. 100 m²: well above.
    let small = id(&post(&app, "/api/v1/sites", site("SMALL", Some(12.0))).await);
    let unmeasured = id(&post(&app, "/api/v1/sites", site("TENTS", None)).await);
    let late = id(&post(&app, "/api/v1/sites", site("SCHOOL", Some(100.0))).await);
    let mut households = Vec::new();
    for _ in 0..3 {
        let mut body = household(&goris, 4);
        body["arrived_at"] = json!("2023-09-26T09:00:00+04:00");
        households.push(id(&post(&app, "/api/v1/households", body).await));
    }
    for (household, site, at) in [
        (&households[0], &small, "2023-09-26T12:00:00+04:00"),
        (&households[1], &unmeasured, "2023-09-26T12:00:00+04:00"),
        // The range ends at midnight: the last half hour of its last hour.
        (&households[2], &late, "2023-09-27T23:30:00+04:00"),
    ] {
        post(
            &app,
            &format!("/api/v1/sites/{site}/placements"),
            json!({"household_id": household, "checked_in_at": at}),
        )
        .await;
    }
    let response = app
        .get(
            "/api/v1/stats/coverage?from=2023-09-26T00:00:00%2B04:00&to=2023-09-28T00:00:00%2B04:00&suppress=false",
            Some(app.admin()),
        )
        .await;
    assert_eq!(response.status, 200, "{}", response.text);
    let living = &response.body["sphere"]["living_space"];
    assert_eq!(living["sites_with_area"], 2, "{living}");
    assert_eq!(living["persons_in_sites_with_area"], 8, "{living}");
    assert_eq!(living["sites_below_standard"], 1, "{living}");
    assert_eq!(living["persons_below_standard"], 4, "{living}");
}

/// Every household count from 1 to 4 anywhere in the body.
fn scan(value: &Value, path: &str, found: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (key, v) in map {
                let counted = matches!(
                    key.as_str(),
                    "households"
                        | "registered_households"
                        | "persons_in_sites_with_area"
                        | "persons_below_standard"
                        | "persons_below_cold_climate_standard"
                );
                if let (true, Some(n)) = (counted, v.as_i64()) {
                    if (1..5).contains(&n) {
                        found.push(format!("{path}.{key} = {n}"));
                    }
                }
                scan(v, &format!("{path}.{key}"), found);
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                scan(v, &format!("{path}[{i}]"), found);
            }
        }
        _ => {}
    }
}
