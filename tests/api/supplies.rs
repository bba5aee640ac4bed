//! Supplies: the item catalogue, the stock ledger (receipts, transfers,
//! adjustments), entitlement rules and distributions. Stock never goes
//! negative and entitlements are never exceeded, whatever the concurrency;
//! every level equals the sum of its ledger rows.

use futures_util::future::join_all;
use refuge::accounts::Role;
use reqwest::Method;
use serde_json::{json, Value};

use crate::backend_tests;
use crate::helpers::{household, Response, TestApp};

backend_tests!(
    the_stock_ledger_records_receipts_transfers_and_adjustments,
    entitlements_refuse_double_issuance_and_accept_overrides,
    concurrent_distributions_never_oversell_nor_exceed_entitlements,
    a_household_lists_everything_it_received,
    a_backdated_outflow_may_not_take_what_was_not_there_yet,
);

struct Setup {
    goris: String,
    kapan: String,
    unhcr: String,
}

async fn setup(app: &TestApp) -> Setup {
    let goris = app.center("GORIS").await;
    let kapan = app.center("KAPAN").await;
    let unhcr = app
        .post(
            "/api/v1/organizations",
            Some(app.admin()),
            &json!({"code": "UNHCR", "name": "UNHCR", "kind": "un_agency"}),
        )
        .await;
    assert_eq!(unhcr.status, 201, "{}", unhcr.text);
    Setup {
        goris,
        kapan,
        unhcr: unhcr.body["id"].as_str().unwrap().to_string(),
    }
}

async fn item(app: &TestApp, code: &str, unit: &str, sector: &str) -> String {
    let response = app
        .post(
            "/api/v1/items",
            Some(app.admin()),
            &json!({"code": code, "name": format!("{code} item"), "unit": unit, "sector": sector}),
        )
        .await;
    assert_eq!(response.status, 201, "{}", response.text);
    response.body["id"].as_str().unwrap().to_string()
}

async fn receive(app: &TestApp, s: &Setup, center: &str, item: &str, quantity: i64) -> Response {
    app.post(
        "/api/v1/stock/receipts",
        Some(app.admin()),
        &json!({"center_id": center, "item_id": item, "quantity": quantity,
                "organization_id": s.unhcr, "received_at": "2023-09-25T10:00:00+04:00",
                "reference": "WB-2023-0925-01"}),
    )
    .await
}

async fn level(app: &TestApp, center: &str, item: &str, as_of: Option<&str>) -> i64 {
    let path = match as_of {
        Some(t) => format!(
            "/api/v1/stock?center_id={center}&as_of={}",
            t.replace('+', "%2B")
        ),
        None => format!("/api/v1/stock?center_id={center}"),
    };
    let response = app.get(&path, Some(app.admin())).await;
    assert_eq!(response.status, 200, "{}", response.text);
    response.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["item_id"] == item)
        .map_or(0, |l| l["quantity"].as_i64().unwrap())
}

async fn entitlement(app: &TestApp, body: Value) -> Value {
    let response = app
        .post("/api/v1/entitlements", Some(app.admin()), &body)
        .await;
    assert_eq!(response.status, 201, "{}", response.text);
    response.body
}

async fn register(app: &TestApp, center: &str, size: usize) -> String {
    let response = app
        .post(
            "/api/v1/households",
            Some(app.admin()),
            &household(center, size),
        )
        .await;
    assert_eq!(response.status, 201, "{}", response.text);
    response.body["id"].as_str().unwrap().to_string()
}

async fn distribute(app: &TestApp, token: &str, body: Value) -> Response {
    app.post("/api/v1/distributions", Some(token), &body).await
}

async fn assert_levels_match_ledger(app: &TestApp) {
    let drift = app
        .with_db(|conn| refuge::stock::verify(conn).unwrap())
        .await;
    assert!(
        drift.is_empty(),
        "stock levels differ from the ledger: {drift:?}"
    );
}

async fn the_stock_ledger_records_receipts_transfers_and_adjustments(app: TestApp) {
    let s = setup(&app).await;
    let kits = item(&app, "HYGIENE-KIT", "kit", "wash").await;
    let taken = app
        .post(
            "/api/v1/items",
            Some(app.admin()),
            &json!({"code": "HYGIENE-KIT", "name": "Again", "unit": "kit", "sector": "wash"}),
        )
        .await;
    assert_eq!(taken.status, 409);
    assert_eq!(taken.body["code"], "item-code-taken");
    let bad_item = app
        .post(
            "/api/v1/items",
            Some(app.admin()),
            &json!({"code": "x", "name": "", "unit": "kit", "sector": "wash", "kcal_per_unit": 0}),
        )
        .await;
    assert_eq!(bad_item.status, 422);
    assert_eq!(bad_item.error_fields(), ["code", "name", "kcal_per_unit"]);

    let bad = app
        .post(
            "/api/v1/stock/receipts",
            Some(app.admin()),
            &json!({"center_id": s.goris, "item_id": kits, "quantity": 0,
                    "organization_id": s.unhcr, "received_at": "2099-01-01T00:00:00Z"}),
        )
        .await;
    assert_eq!(bad.status, 422, "{}", bad.text);
    assert_eq!(bad.error_fields(), ["quantity", "received_at"]);
    let unknown = app
        .post(
            "/api/v1/stock/receipts",
            Some(app.admin()),
            &json!({"center_id": s.goris, "item_id": uuid::Uuid::new_v4(), "quantity": 5,
                    "organization_id": s.unhcr}),
        )
        .await;
    assert_eq!(unknown.status, 422);
    assert_eq!(unknown.error_fields(), ["item_id"]);

    let received = receive(&app, &s, &s.goris, &kits, 100).await;
    assert_eq!(received.status, 201, "{}", received.text);
    assert_eq!(received.body["kind"], "receipt");
    assert_eq!(received.body["quantity"], 100);

    let transfer = app
        .post(
            "/api/v1/stock/transfers",
            Some(app.admin()),
            &json!({"from_center_id": s.goris, "to_center_id": s.kapan, "item_id": kits,
                    "quantity": 30, "transferred_at": "2023-09-27T09:00:00+04:00"}),
        )
        .await;
    assert_eq!(transfer.status, 201, "{}", transfer.text);
    assert_eq!(transfer.body["out"]["quantity"], -30);
    assert_eq!(transfer.body["in"]["quantity"], 30);
    let too_much = app
        .post(
            "/api/v1/stock/transfers",
            Some(app.admin()),
            &json!({"from_center_id": s.kapan, "to_center_id": s.goris, "item_id": kits, "quantity": 31}),
        )
        .await;
    assert_eq!(too_much.status, 409, "{}", too_much.text);
    assert_eq!(too_much.body["code"], "insufficient-stock");
    let same = app
        .post(
            "/api/v1/stock/transfers",
            Some(app.admin()),
            &json!({"from_center_id": s.kapan, "to_center_id": s.kapan, "item_id": kits, "quantity": 1}),
        )
        .await;
    assert_eq!(same.status, 422);
    assert_eq!(same.error_fields(), ["to_center_id"]);

    // A recount finds 2 kits damaged; an adjustment needs a reason and
    // cannot take the stock below zero.
    let no_reason = app
        .post(
            "/api/v1/stock/adjustments",
            Some(app.admin()),
            &json!({"center_id": s.goris, "item_id": kits, "quantity": -2, "reason": " "}),
        )
        .await;
    assert_eq!(no_reason.status, 422);
    assert_eq!(no_reason.error_fields(), ["reason"]);
    let adjusted = app
        .post(
            "/api/v1/stock/adjustments",
            Some(app.admin()),
            &json!({"center_id": s.goris, "item_id": kits, "quantity": -2,
                    "reason": "water damage found at the recount"}),
        )
        .await;
    assert_eq!(adjusted.status, 201, "{}", adjusted.text);
    let below_zero = app
        .post(
            "/api/v1/stock/adjustments",
            Some(app.admin()),
            &json!({"center_id": s.goris, "item_id": kits, "quantity": -69, "reason": "lost"}),
        )
        .await;
    assert_eq!(below_zero.status, 409);

    assert_eq!(level(&app, &s.goris, &kits, None).await, 68);
    assert_eq!(level(&app, &s.kapan, &kits, None).await, 30);
    assert_eq!(
        level(&app, &s.goris, &kits, Some("2023-09-26T00:00:00+04:00")).await,
        100
    );
    assert_eq!(
        level(&app, &s.kapan, &kits, Some("2023-09-26T00:00:00+04:00")).await,
        0
    );

    // The ledger, a page at a time.
    let first = app
        .get(
            &format!("/api/v1/stock/movements?center_id={}&limit=2", s.goris),
            Some(app.admin()),
        )
        .await;
    assert_eq!(first.status, 200, "{}", first.text);
    let kinds: Vec<&str> = first.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["receipt", "transfer_out"]);
    let cursor = first.body["next_cursor"].as_str().unwrap();
    let rest = app
        .get(
            &format!(
                "/api/v1/stock/movements?center_id={}&limit=2&cursor={cursor}",
                s.goris
            ),
            Some(app.admin()),
        )
        .await;
    assert_eq!(rest.body["items"][0]["kind"], "adjustment");
    assert_eq!(
        rest.body["items"][0]["reason"],
        "water damage found at the recount"
    );
    assert_eq!(rest.body["next_cursor"], Value::Null);
    let location = transfer.header("location").unwrap().to_string();
    let legs = app.get(&location, Some(app.admin())).await;
    assert_eq!(legs.body["items"].as_array().unwrap().len(), 2);

    // Who may move stock: staff of the center.
    let aid_kapan = app.user("aid.kapan", Role::AidWorker, &["KAPAN"]).await;
    let analyst = app.user("analyst", Role::Analyst, &[]).await;
    let body =
        json!({"center_id": s.goris, "item_id": kits, "quantity": 1, "organization_id": s.unhcr});
    assert_eq!(
        app.post("/api/v1/stock/receipts", Some(&aid_kapan), &body)
            .await
            .status,
        403
    );
    assert_eq!(
        app.post("/api/v1/stock/receipts", Some(&analyst), &body)
            .await
            .status,
        403
    );
    let kapan_only = app.get("/api/v1/stock", Some(&aid_kapan)).await;
    assert_eq!(kapan_only.body["items"].as_array().unwrap().len(), 1);
    assert_eq!(
        app.get(
            &format!("/api/v1/stock?center_id={}", s.goris),
            Some(&aid_kapan)
        )
        .await
        .status,
        403
    );
    assert_levels_match_ledger(&app).await;
}

async fn entitlements_refuse_double_issuance_and_accept_overrides(app: TestApp) {
    let s = setup(&app).await;
    let fuel = item(&app, "FUEL", "liter", "fuel").await;
    let cash = item(&app, "CASH-AMD", "amd", "cash").await;
    let food = item(&app, "FOOD-RATION", "ration", "food").await;
    let rent = item(&app, "RENT-SUPPORT", "amd", "cash").await;
    for (item, quantity) in [
        (&fuel, 1000),
        (&cash, 10_000_000),
        (&food, 1000),
        (&rent, 10_000_000),
    ] {
        assert_eq!(
            receive(&app, &s, &s.goris, item, quantity).await.status,
            201
        );
    }
    let bad_rule = app
        .post(
            "/api/v1/entitlements",
            Some(app.admin()),
            &json!({"item_id": fuel, "basis": "household", "quantity": 0,
                    "every_days": 7, "every_months": 1, "max_times": 0}),
        )
        .await;
    assert_eq!(bad_rule.status, 422);
    assert_eq!(
        bad_rule.error_fields(),
        ["quantity", "every_months", "max_times"]
    );
    entitlement(
        &app,
        json!({"item_id": fuel, "basis": "household", "quantity": 5}),
    )
    .await;
    let twice = app
        .post(
            "/api/v1/entitlements",
            Some(app.admin()),
            &json!({"item_id": fuel, "basis": "household", "quantity": 10}),
        )
        .await;
    assert_eq!(twice.status, 409);
    entitlement(
        &app,
        json!({"item_id": cash, "basis": "person", "quantity": 100000,
               "starts_at": "2023-10-02T00:00:00+04:00"}),
    )
    .await;
    entitlement(
        &app,
        json!({"item_id": food, "basis": "person", "quantity": 1, "every_days": 7}),
    )
    .await;
    entitlement(
        &app,
        json!({"item_id": rent, "basis": "person", "quantity": 50000, "every_months": 1,
               "max_times": 6, "starts_at": "2023-10-01T00:00:00+04:00"}),
    )
    .await;

    let family = register(&app, &s.goris, 4).await; // arrived 2023-09-26T14:30+04:00
    let registrar = app.user("reg.goris", Role::Registrar, &["GORIS"]).await;
    let aid = app.user("aid.goris", Role::AidWorker, &["GORIS"]).await;
    let give = |item: &str, at: &str, quantity: Option<i64>| {
        let mut body = json!({"household_id": family, "center_id": s.goris, "item_id": item,
                              "organization_id": s.unhcr, "distributed_at": at});
        if let Some(q) = quantity {
            body["quantity"] = json!(q);
        }
        body
    };

    // Fuel: 5 liters per family, once. The quantity defaults to the entitlement.
    let fuel_given = distribute(
        &app,
        &registrar,
        give(&fuel, "2023-09-26T15:00:00+04:00", None),
    )
    .await;
    assert_eq!(fuel_given.status, 201, "{}", fuel_given.text);
    assert_eq!(fuel_given.body["quantity"], 5);
    assert_eq!(fuel_given.body["persons"], 4);
    let again = distribute(
        &app,
        &registrar,
        give(&fuel, "2023-09-27T10:00:00+04:00", Some(5)),
    )
    .await;
    assert_eq!(again.status, 409, "{}", again.text);
    assert_eq!(again.body["code"], "entitlement-exceeded");
    assert_eq!(again.body["entitlement"]["received"], 5);
    assert_eq!(again.body["entitlement"]["allowed"], 5);
    assert_eq!(
        again.body["entitlement"]["last_received_at"],
        "2023-09-26T11:00:00Z"
    );
    // An override needs a reason and an admin or aid worker.
    let mut overridden = give(&fuel, "2023-09-27T10:00:00+04:00", Some(5));
    overridden["override_reason"] = json!("the family's car broke down on the way to Yerevan");
    assert_eq!(
        distribute(&app, &registrar, overridden.clone())
            .await
            .status,
        403
    );
    let mut no_quantity = overridden.clone();
    no_quantity.as_object_mut().unwrap().remove("quantity");
    let refused = distribute(&app, &aid, no_quantity).await;
    assert_eq!(refused.status, 422);
    assert_eq!(refused.error_fields(), ["quantity"]);
    let accepted = distribute(&app, &aid, overridden).await;
    assert_eq!(accepted.status, 201, "{}", accepted.text);
    assert_eq!(
        accepted.body["override_reason"],
        "the family's car broke down on the way to Yerevan"
    );

    // Cash: 100,000 AMD per person, once, from 2 October.
    let early = distribute(
        &app,
        &registrar,
        give(&cash, "2023-10-01T12:00:00+04:00", None),
    )
    .await;
    assert_eq!(early.status, 409, "{}", early.text);
    assert_eq!(early.body["code"], "not-entitled");
    let paid = distribute(
        &app,
        &registrar,
        give(&cash, "2023-10-03T12:00:00+04:00", None),
    )
    .await;
    assert_eq!(paid.status, 201, "{}", paid.text);
    assert_eq!(paid.body["quantity"], 400_000);

    // Food: one ration per person per 7 days from arrival; partial handouts add up.
    for q in [2, 2] {
        let r = distribute(
            &app,
            &registrar,
            give(&food, "2023-09-27T12:00:00+04:00", Some(q)),
        )
        .await;
        assert_eq!(r.status, 201, "{}", r.text);
    }
    let fifth = distribute(
        &app,
        &registrar,
        give(&food, "2023-10-03T14:00:00+04:00", Some(1)),
    )
    .await;
    assert_eq!(fifth.status, 409);
    assert_eq!(fifth.body["entitlement"]["period"], 1);
    let next_week = distribute(
        &app,
        &registrar,
        give(&food, "2023-10-03T14:30:00+04:00", None),
    )
    .await;
    assert_eq!(next_week.status, 201, "{}", next_week.text);
    assert_eq!(next_week.body["quantity"], 4);

    // Rent support: every month for 6 months from 1 October.
    for month in [
        "2023-10-05",
        "2023-11-05",
        "2023-12-05",
        "2024-01-05",
        "2024-02-05",
        "2024-03-05",
    ] {
        let r = distribute(
            &app,
            &aid,
            give(&rent, &format!("{month}T10:00:00+04:00"), None),
        )
        .await;
        assert_eq!(r.status, 201, "{month}: {}", r.text);
        assert_eq!(r.body["quantity"], 200_000);
    }
    let seventh = distribute(&app, &aid, give(&rent, "2024-04-05T10:00:00+04:00", None)).await;
    assert_eq!(seventh.status, 409);
    assert_eq!(seventh.body["code"], "not-entitled");

    // Items without a rule need a quantity; stock still applies.
    let blanket = item(&app, "BLANKET", "piece", "nfi").await;
    let no_q = distribute(
        &app,
        &registrar,
        give(&blanket, "2023-09-27T12:00:00+04:00", None),
    )
    .await;
    assert_eq!(no_q.status, 422);
    assert_eq!(no_q.error_fields(), ["quantity"]);
    let no_stock = distribute(
        &app,
        &registrar,
        give(&blanket, "2023-09-27T12:00:00+04:00", Some(2)),
    )
    .await;
    assert_eq!(no_stock.status, 409);
    assert_eq!(no_stock.body["code"], "insufficient-stock");
    let before_arrival = distribute(
        &app,
        &registrar,
        give(&fuel, "2023-09-20T12:00:00+04:00", Some(1)),
    )
    .await;
    assert_eq!(before_arrival.status, 422);
    assert_eq!(before_arrival.error_fields(), ["distributed_at"]);

    assert_eq!(level(&app, &s.goris, &fuel, None).await, 1000 - 10);
    assert_eq!(
        level(&app, &s.goris, &cash, None).await,
        10_000_000 - 400_000
    );
    assert_levels_match_ledger(&app).await;
}

async fn concurrent_distributions_never_oversell_nor_exceed_entitlements(app: TestApp) {
    let s = setup(&app).await;
    let kits = item(&app, "MEDICINE-KIT", "kit", "health").await;
    assert_eq!(receive(&app, &s, &s.goris, &kits, 40).await.status, 201);
    let households: Vec<String> = join_all((0..100).map(|_| register(&app, &s.goris, 1))).await;
    let second = app.second_server().await;
    let send = |i: usize, body: Value| {
        let base = match &second {
            Some(second) if i % 2 == 1 => second.clone(),
            _ => app.address.clone(),
        };
        let app = &app;
        async move {
            app.send_to(
                &base,
                Method::POST,
                "/api/v1/distributions",
                Some(app.admin()),
                Some(body.to_string().into_bytes()),
                &[],
            )
            .await
        }
    };
    // 100 households, one kit each, 40 in stock.
    let responses = join_all(households.iter().enumerate().map(|(i, h)| {
        send(
            i,
            json!({"household_id": h, "center_id": s.goris, "item_id": kits, "quantity": 1,
                   "organization_id": s.unhcr}),
        )
    }))
    .await;
    let given = responses.iter().filter(|r| r.status == 201).count();
    let out = responses
        .iter()
        .filter(|r| r.status == 409 && r.body["code"] == "insufficient-stock")
        .count();
    assert_eq!((given, out), (40, 60));
    assert_eq!(level(&app, &s.goris, &kits, None).await, 0);

    // One household, ten desks at once, 5 liters of fuel once: one succeeds.
    let fuel = item(&app, "FUEL", "liter", "fuel").await;
    assert_eq!(receive(&app, &s, &s.goris, &fuel, 1000).await.status, 201);
    entitlement(
        &app,
        json!({"item_id": fuel, "basis": "household", "quantity": 5}),
    )
    .await;
    let family = &households[0];
    let responses = join_all((0..10).map(|i| {
        send(
            i,
            json!({"household_id": family, "center_id": s.goris, "item_id": fuel,
                   "organization_id": s.unhcr}),
        )
    }))
    .await;
    let statuses: Vec<u16> = responses.iter().map(|r| r.status).collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == 201).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        responses
            .iter()
            .filter(|r| r.body["code"] == "entitlement-exceeded")
            .count(),
        9
    );
    assert_eq!(level(&app, &s.goris, &fuel, None).await, 995);

    // A retried distribution (same key) is one distribution.
    let retry = json!({"household_id": households[1], "center_id": s.goris, "item_id": fuel,
                       "organization_id": s.unhcr})
    .to_string()
    .into_bytes();
    let key = [("idempotency-key", "desk-2-fuel-0001")];
    let tries = join_all((0..4).map(|_| {
        app.send(
            Method::POST,
            "/api/v1/distributions",
            Some(app.admin()),
            Some(retry.clone()),
            &key,
        )
    }))
    .await;
    assert!(
        tries.iter().all(|r| r.status == 201),
        "{:?}",
        tries.iter().map(|r| r.status).collect::<Vec<_>>()
    );
    assert_eq!(level(&app, &s.goris, &fuel, None).await, 990);
    assert_levels_match_ledger(&app).await;
}

async fn a_household_lists_everything_it_received(app: TestApp) {
    let s = setup(&app).await;
    let fuel = item(&app, "FUEL", "liter", "fuel").await;
    assert_eq!(receive(&app, &s, &s.goris, &fuel, 100).await.status, 201);
    let family = register(&app, &s.goris, 3).await;
    let given = distribute(
        &app,
        app.admin(),
        json!({"household_id": family, "center_id": s.goris, "item_id": fuel, "quantity": 5,
               "organization_id": s.unhcr, "distributed_at": "2023-09-26T16:00:00+04:00"}),
    )
    .await;
    assert_eq!(given.status, 201, "{}", given.text);
    let ministry = app
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
                    "capacity_beds": 10, "organization_id": ministry}),
        )
        .await
        .body["id"]
        .as_str()
        .unwrap()
        .to_string();
    let placed = app
        .post(
            &format!("/api/v1/sites/{site}/placements"),
            Some(app.admin()),
            &json!({"household_id": family, "checked_in_at": "2023-09-26T18:00:00+04:00"}),
        )
        .await;
    assert_eq!(placed.status, 201, "{}", placed.text);

    let trip = app
        .post(
            "/api/v1/trips",
            Some(app.admin()),
            &crate::transport::trip_body(&s.goris, ministry.as_str().unwrap(), 40),
        )
        .await
        .body["id"]
        .as_str()
        .unwrap()
        .to_string();
    let boarded = app
        .post(
            &format!("/api/v1/trips/{trip}/boardings"),
            Some(app.admin()),
            &json!({"household_id": family}),
        )
        .await;
    assert_eq!(boarded.status, 201, "{}", boarded.text);
    let member = app
        .get(&format!("/api/v1/households/{family}"), Some(app.admin()))
        .await
        .body["members"][1]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let referred = app
        .post(
            "/api/v1/referrals",
            Some(app.admin()),
            &crate::referrals::referral_body(&family, &member),
        )
        .await;
    assert_eq!(referred.status, 201, "{}", referred.text);

    let path = format!("/api/v1/households/{family}/assistance");
    let all = app.get(&path, Some(app.admin())).await;
    assert_eq!(all.status, 200, "{}", all.text);
    assert_eq!(all.body["distributions"][0]["quantity"], 5);
    assert_eq!(all.body["placements"][0]["site_id"], site);
    assert_eq!(all.body["trips"][0]["trip_id"], trip);
    assert_eq!(all.body["trips"][0]["persons"].as_array().unwrap().len(), 3);
    assert_eq!(all.body["referrals"][0]["person_id"], member);
    let aid_kapan = app.user("aid.kapan", Role::AidWorker, &["KAPAN"]).await;
    let analyst = app.user("analyst", Role::Analyst, &[]).await;
    assert_eq!(app.get(&path, Some(&aid_kapan)).await.status, 403);
    assert_eq!(app.get(&path, Some(&analyst)).await.status, 403);
    assert_eq!(
        app.get(
            &format!("/api/v1/households/{}/assistance", uuid::Uuid::new_v4()),
            Some(app.admin())
        )
        .await
        .status,
        404
    );
    let listed = app
        .get(
            &format!("/api/v1/distributions?household_id={family}"),
            Some(app.admin()),
        )
        .await;
    assert_eq!(listed.body["items"].as_array().unwrap().len(), 1);
    let one = app
        .get(
            &format!(
                "/api/v1/distributions/{}",
                given.body["id"].as_str().unwrap()
            ),
            Some(&aid_kapan),
        )
        .await;
    assert_eq!(one.status, 403);
}

/// `GET /stock?as_of=` must never report a negative level: an outflow dated
/// in the past must have been covered at that time and at every instant
/// since, not only by today's level.
async fn a_backdated_outflow_may_not_take_what_was_not_there_yet(app: TestApp) {
    let s = setup(&app).await;
    let kits = item(&app, "HYG-KIT", "kit", "wash").await;
    let receipt = |quantity: i64, at: &'static str| {
        json!({"center_id": s.goris, "item_id": kits, "quantity": quantity,
               "organization_id": s.unhcr, "received_at": at})
    };
    let adjustment = |quantity: i64, at: &'static str| {
        json!({"center_id": s.goris, "item_id": kits, "quantity": quantity,
               "reason": "recount", "adjusted_at": at})
    };
    for body in [
        receipt(10, "2023-09-25T10:00:00+04:00"),
        receipt(10, "2023-09-28T10:00:00+04:00"),
    ] {
        let r = app
            .post("/api/v1/stock/receipts", Some(app.admin()), &body)
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
    }
    let taken = app
        .post(
            "/api/v1/stock/adjustments",
            Some(app.admin()),
            &adjustment(-8, "2023-09-27T10:00:00+04:00"),
        )
        .await;
    assert_eq!(taken.status, 201, "{}", taken.text);
    // Today's level (12) would cover 5, but on the 27th only 2 were left.
    for at in ["2023-09-26T10:00:00+04:00", "2023-09-24T10:00:00+04:00"] {
        let refused = app
            .post(
                "/api/v1/stock/adjustments",
                Some(app.admin()),
                &adjustment(-5, at),
            )
            .await;
        assert_eq!(refused.status, 409, "{at}: {}", refused.text);
        assert_eq!(refused.body["code"], "insufficient-stock");
    }
    assert_eq!(
        level(&app, &s.goris, &kits, Some("2023-09-27T12:00:00+04:00")).await,
        2
    );
    assert_eq!(level(&app, &s.goris, &kits, None).await, 12);
    // After the second receipt there is enough.
    let later = app
        .post(
            "/api/v1/stock/adjustments",
            Some(app.admin()),
            &adjustment(-5, "2023-09-29T10:00:00+04:00"),
        )
        .await;
    assert_eq!(later.status, 201, "{}", later.text);
    assert_eq!(level(&app, &s.goris, &kits, None).await, 7);
}
