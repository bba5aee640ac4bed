//! The aid reports (`assistance`, `stock`, `shelters`, `transport`): exact
//! rows from a small fixture built through the API, the `from`/`to`/
//! `center_id` filters, who may pull what, small-cell suppression,
//! formula-safe and Armenian text, and valid HXL.

use std::collections::BTreeMap;

use refuge::accounts::Role;
use serde_json::{json, Value};

use crate::backend_tests;
use crate::helpers::{check_hxl, household, Response, TestApp};

backend_tests!(
    assistance_sums_each_day_per_organization_and_item_and_withholds_small_rows,
    assistance_is_filtered_and_scoped_like_the_statistics,
    stock_lists_levels_then_every_movement_of_the_period,
    shelters_show_each_site_at_the_end_of_the_period,
    transport_lists_every_trip_with_its_manifest_by_person_id,
    aid_reports_are_valid_hxl_with_bom_and_dated_filenames,
);

/// A spreadsheet would run this as a formula if it were not escaped.
const EVIL: &str = "=HYPERLINK(\"http://evil\")";
const EVIL_SAFE: &str = "'=HYPERLINK(\"http://evil\")";
const HOTEL: &str = "Գորիսի հյուրանոց";

/// Everything the reports read: two centers (GORIS in Syunik, YER in
/// Yerevan), three organizations (one named like a formula), two items, six
/// households, receipts, distributions over two local days, an adjustment
/// and a transfer, two sites with placements, three trips.
struct Fixture {
    goris: String,
    yer: String,
    /// Households 1 to 5 at GORIS (2, 3, 4, 1 and 2 members), 6 at YER (5).
    households: Vec<String>,
    members: Vec<Vec<String>>,
    /// Departing 2023-09-28 10:00 from GORIS, 2023-09-30 10:00 from GORIS,
    /// 2023-09-28 12:00 from YER (+04:00).
    trips: [String; 3],
}

async fn created(app: &TestApp, path: &str, body: Value) -> Value {
    app.post(path, Some(app.admin()), &body).await.created()
}

fn id(body: &Value) -> String {
    body["id"].as_str().unwrap().to_string()
}

async fn fixture(app: &TestApp) -> Fixture {
    let goris = app.center("GORIS").await;
    let yer = id(&created(
        app,
        "/api/v1/centers",
        json!({"code": "YER", "name": "Yerevan center", "kind": "registration_center", "province": "AM-ER"}),
    )
    .await);
    let organization =
        |code: &str, name: &str, kind: &str| json!({"code": code, "name": name, "kind": kind});
    let unhcr = id(&created(
        app,
        "/api/v1/organizations",
        organization("UNHCR", "UNHCR", "un_agency"),
    )
    .await);
    let mlsa = id(&created(
        app,
        "/api/v1/organizations",
        organization(
            "MLSA",
            "Ministry of Labour and Social Affairs",
            "government",
        ),
    )
    .await);
    let evil = id(&created(
        app,
        "/api/v1/organizations",
        organization("EVIL", EVIL, "ngo"),
    )
    .await);
    let item = |code: &str, name: &str, unit: &str, sector: &str| json!({"code": code, "name": name, "unit": unit, "sector": sector});
    let food = id(&created(
        app,
        "/api/v1/items",
        item("FOOD-PARCEL", "Սննդի փաթեթ", "parcel", "food"),
    )
    .await);
    let kits = id(&created(
        app,
        "/api/v1/items",
        item("HYGIENE-KIT", "Hygiene kit", "kit", "wash"),
    )
    .await);

    for (center, item, quantity, at, reference) in [
        (&goris, &food, 100, "2023-09-25T10:00:00+04:00", "WB-1"),
        (&goris, &kits, 50, "2023-09-25T11:00:00+04:00", "WB-2"),
        (&yer, &food, 20, "2023-09-25T12:00:00+04:00", "WB-3"),
    ] {
        created(
            app,
            "/api/v1/stock/receipts",
            json!({"center_id": center, "item_id": item, "quantity": quantity,
                   "organization_id": unhcr, "received_at": at, "reference": reference}),
        )
        .await;
    }

    let mut households = Vec::new();
    let mut members = Vec::new();
    for (center, size) in [
        (&goris, 2),
        (&goris, 3),
        (&goris, 4),
        (&goris, 1),
        (&goris, 2),
        (&yer, 5),
    ] {
        let body = created(app, "/api/v1/households", household(center, size)).await;
        households.push(id(&body));
        members.push(
            body["members"]
                .as_array()
                .unwrap()
                .iter()
                .map(id)
                .collect::<Vec<_>>(),
        );
    }

    // 27 September (local): a food parcel for each GORIS household, a second
    // one for the first in the evening, and two for the YER household. 28
    // September: hygiene kits for three GORIS households, the first of them
    // at 01:00 local, which is still the 27th in UTC.
    let given: [(usize, &String, &String, &String, i64, &str); 10] = [
        (0, &goris, &food, &unhcr, 1, "2023-09-27T10:00:00+04:00"),
        (1, &goris, &food, &unhcr, 1, "2023-09-27T10:10:00+04:00"),
        (2, &goris, &food, &unhcr, 1, "2023-09-27T10:20:00+04:00"),
        (3, &goris, &food, &unhcr, 1, "2023-09-27T10:30:00+04:00"),
        (4, &goris, &food, &unhcr, 1, "2023-09-27T10:40:00+04:00"),
        (0, &goris, &food, &unhcr, 1, "2023-09-27T22:30:00+04:00"),
        (5, &yer, &food, &unhcr, 2, "2023-09-27T12:00:00+04:00"),
        (2, &goris, &kits, &evil, 1, "2023-09-28T01:00:00+04:00"),
        (0, &goris, &kits, &evil, 1, "2023-09-28T10:00:00+04:00"),
        (1, &goris, &kits, &evil, 1, "2023-09-28T11:00:00+04:00"),
    ];
    for (h, center, item, organization, quantity, at) in given {
        created(
            app,
            "/api/v1/distributions",
            json!({"household_id": households[h], "center_id": center, "item_id": item,
                   "quantity": quantity, "organization_id": organization, "distributed_at": at}),
        )
        .await;
    }
    created(
        app,
        "/api/v1/stock/adjustments",
        json!({"center_id": goris, "item_id": kits, "quantity": -2, "reason": "+SUM(A1)",
               "adjusted_at": "2023-09-29T09:00:00+04:00"}),
    )
    .await;
    created(
        app,
        "/api/v1/stock/transfers",
        json!({"from_center_id": goris, "to_center_id": yer, "item_id": food, "quantity": 10,
               "transferred_at": "2023-09-29T12:00:00+04:00", "reference": "TR-7"}),
    )
    .await;

    let hotel = id(&created(
        app,
        "/api/v1/sites",
        json!({"code": "GOR-H1", "name": HOTEL, "kind": "hotel", "province": "AM-SU",
               "settlement": "Գորիս", "capacity_beds": 20, "floor_area_m2": 60.0,
               "organization_id": mlsa}),
    )
    .await);
    let hall = id(&created(
        app,
        "/api/v1/sites",
        json!({"code": "EVIL-1", "name": EVIL, "kind": "collective_center", "province": "AM-ER",
               "settlement": "Երևան", "capacity_beds": 10, "organization_id": evil}),
    )
    .await);
    let place = |h: usize, at: &str| json!({"household_id": households[h], "checked_in_at": at});
    created(
        app,
        &format!("/api/v1/sites/{hotel}/placements"),
        place(0, "2023-09-27T15:00:00+04:00"),
    )
    .await;
    let second = created(
        app,
        &format!("/api/v1/sites/{hotel}/placements"),
        place(1, "2023-09-27T15:30:00+04:00"),
    )
    .await;
    created(
        app,
        &format!("/api/v1/sites/{hall}/placements"),
        place(5, "2023-09-27T16:00:00+04:00"),
    )
    .await;
    let out = app
        .post(
            &format!("/api/v1/placements/{}/checkout", id(&second)),
            Some(app.admin()),
            &json!({"checked_out_at": "2023-09-29T10:00:00+04:00"}),
        )
        .await;
    assert_eq!(out.status, 200, "{}", out.text);

    let trip = |center: &String, at: &str| {
        json!({"center_id": center, "destination_province": "AM-KT",
               "destination_settlement": "Աբովյան", "departs_at": at,
               "vehicle": "35 TU 123", "seats": 10, "organization_id": mlsa})
    };
    let first_trip = id(&created(
        app,
        "/api/v1/trips",
        trip(&goris, "2023-09-28T10:00:00+04:00"),
    )
    .await);
    let empty_trip = id(&created(
        app,
        "/api/v1/trips",
        trip(&goris, "2023-09-30T10:00:00+04:00"),
    )
    .await);
    let yer_trip = id(&created(
        app,
        "/api/v1/trips",
        trip(&yer, "2023-09-28T12:00:00+04:00"),
    )
    .await);
    let boardings = [
        (&first_trip, json!({"household_id": households[0]})),
        (
            &first_trip,
            json!({"household_id": households[1], "person_ids": [members[1][0]]}),
        ),
        (&yer_trip, json!({"household_id": households[5]})),
    ];
    for (trip, body) in boardings {
        created(app, &format!("/api/v1/trips/{trip}/boardings"), body).await;
    }
    Fixture {
        goris,
        yer,
        households,
        members,
        trips: [first_trip, empty_trip, yer_trip],
    }
}

async fn report(app: &TestApp, token: &str, name: &str, query: &str) -> Response {
    app.get(&format!("/api/v1/reports/{name}.csv?{query}"), Some(token))
        .await
}

/// A CSV report's rows as maps from column name to value, after checking
/// the status and that the header is the report's columns.
fn rows(response: &Response, columns: &[refuge::reports::Column]) -> Vec<BTreeMap<String, String>> {
    assert_eq!(response.status, 200, "{}", response.text);
    let mut reader = csv::Reader::from_reader(response.text.as_bytes());
    let header: Vec<String> = reader
        .headers()
        .unwrap()
        .iter()
        .map(str::to_string)
        .collect();
    let names: Vec<&str> = columns.iter().map(|c| c.name).collect();
    assert_eq!(header, names);
    reader
        .records()
        .map(|record| {
            let record = record.unwrap();
            header
                .iter()
                .cloned()
                .zip(record.iter().map(str::to_string))
                .collect()
        })
        .collect()
}

/// The named columns of each row.
fn pick(rows: &[BTreeMap<String, String>], columns: &[&str]) -> Vec<Vec<String>> {
    rows.iter()
        .map(|row| columns.iter().map(|c| row[*c].clone()).collect())
        .collect()
}

fn strings(rows: &[&[&str]]) -> Vec<Vec<String>> {
    rows.iter()
        .map(|row| row.iter().map(|v| v.to_string()).collect())
        .collect()
}

const ASSISTANCE: &[refuge::reports::Column] = refuge::reports::assistance::COLUMNS;
const STOCK: &[refuge::reports::Column] = refuge::reports::stock::COLUMNS;
const SHELTERS: &[refuge::reports::Column] = refuge::reports::shelters::COLUMNS;
const TRANSPORT: &[refuge::reports::Column] = refuge::reports::transport::COLUMNS;

const WITHHELD_DISTRIBUTION: &str = "households_reached;persons_reached;quantity;first_at;last_at";
const WITHHELD_SHELTER: &str = "households_reached;persons_reached;first_at;last_at";

async fn assistance_sums_each_day_per_organization_and_item_and_withholds_small_rows(app: TestApp) {
    fixture(&app).await;
    let all = rows(
        &report(&app, app.admin(), "assistance", "suppress=0").await,
        ASSISTANCE,
    );
    let evil = EVIL_SAFE;
    let expected: Vec<Vec<String>> = strings(&[
        &[
            "2023-09-27",
            "GORIS",
            "GORIS center",
            "AM-SU",
            "Syunik",
            "UNHCR",
            "UNHCR",
            "un_agency",
            "food",
            "FOOD-PARCEL",
            "Սննդի փաթեթ",
            "parcel",
            // Six parcels to five households: the first household's members once.
            "5",
            "12",
            "6",
            "2023-09-27T06:00:00Z",
            "2023-09-27T18:30:00Z",
            "",
        ],
        &[
            "2023-09-27",
            "YER",
            "Yerevan center",
            "AM-ER",
            "Yerevan",
            "UNHCR",
            "UNHCR",
            "un_agency",
            "food",
            "FOOD-PARCEL",
            "Սննդի փաթեթ",
            "parcel",
            "1",
            "5",
            "2",
            "2023-09-27T08:00:00Z",
            "2023-09-27T08:00:00Z",
            "",
        ],
        &[
            "2023-09-27",
            "",
            "",
            "AM-ER",
            "Yerevan",
            "EVIL",
            evil,
            "ngo",
            "shelter",
            "",
            "",
            "",
            "1",
            "5",
            "",
            "2023-09-27T12:00:00Z",
            "2023-09-27T12:00:00Z",
            "",
        ],
        &[
            "2023-09-27",
            "",
            "",
            "AM-SU",
            "Syunik",
            "MLSA",
            "Ministry of Labour and Social Affairs",
            "government",
            "shelter",
            "",
            "",
            "",
            "2",
            "5",
            "",
            "2023-09-27T11:00:00Z",
            "2023-09-27T11:30:00Z",
            "",
        ],
        &[
            // 01:00 on the 28th in Yerevan is the 27th in UTC: the local day counts.
            "2023-09-28",
            "GORIS",
            "GORIS center",
            "AM-SU",
            "Syunik",
            "EVIL",
            evil,
            "ngo",
            "wash",
            "HYGIENE-KIT",
            "Hygiene kit",
            "kit",
            "3",
            "9",
            "3",
            "2023-09-27T21:00:00Z",
            "2023-09-28T07:00:00Z",
            "",
        ],
    ]);
    let names: Vec<&str> = ASSISTANCE.iter().map(|c| c.name).collect();
    assert_eq!(pick(&all, &names), expected);

    // By default, even for an admin: rows of 1 to 4 households are withheld
    // whole, the cells empty (never text) and named in `suppressed`.
    let suppressed = rows(
        &report(&app, app.admin(), "assistance", "").await,
        ASSISTANCE,
    );
    let counts = [
        "households_reached",
        "persons_reached",
        "quantity",
        "first_at",
        "last_at",
        "suppressed",
    ];
    assert_eq!(
        pick(&suppressed, &counts),
        strings(&[
            &[
                "5",
                "12",
                "6",
                "2023-09-27T06:00:00Z",
                "2023-09-27T18:30:00Z",
                ""
            ],
            &["", "", "", "", "", WITHHELD_DISTRIBUTION],
            &["", "", "", "", "", WITHHELD_SHELTER],
            &["", "", "", "", "", WITHHELD_SHELTER],
            &["", "", "", "", "", WITHHELD_DISTRIBUTION],
        ])
    );
    // The rows themselves (who, what, where) stay.
    assert_eq!(
        pick(&suppressed, &["date", "organization_name", "item_code"]),
        pick(&all, &["date", "organization_name", "item_code"])
    );
    let explicit = rows(
        &report(&app, app.admin(), "assistance", "suppress=1").await,
        ASSISTANCE,
    );
    assert_eq!(explicit, suppressed);
}

async fn assistance_is_filtered_and_scoped_like_the_statistics(app: TestApp) {
    let f = fixture(&app).await;
    let key = [
        "date",
        "center_code",
        "province_code",
        "organization_code",
        "sector",
        "households_reached",
    ];
    let get = |token: String, query: String| {
        let app = &app;
        async move { report(app, &token, "assistance", &query).await }
    };
    let admin = app.admin().to_string();

    let from = rows(
        &get(admin.clone(), "suppress=0&from=2023-09-28".into()).await,
        ASSISTANCE,
    );
    assert_eq!(
        pick(&from, &key),
        strings(&[&["2023-09-28", "GORIS", "AM-SU", "EVIL", "wash", "3"]])
    );
    let to = rows(
        &get(admin.clone(), "suppress=0&to=2023-09-27".into()).await,
        ASSISTANCE,
    );
    assert_eq!(to.len(), 4);
    assert!(to.iter().all(|r| r["date"] == "2023-09-27"));
    // An instant bound: only the morning of the 27th (UTC 06:00 to 06:25).
    let morning = rows(
        &get(
            admin.clone(),
            "suppress=0&from=2023-09-27T06:00:00Z&to=2023-09-27T06:25:00Z".into(),
        )
        .await,
        ASSISTANCE,
    );
    assert_eq!(
        pick(
            &morning,
            &["households_reached", "persons_reached", "quantity"]
        ),
        strings(&[&["3", "9", "3"]])
    );
    // A center: its distributions, and the placements of its households.
    let yer = rows(
        &get(admin.clone(), format!("suppress=0&center_id={}", f.yer)).await,
        ASSISTANCE,
    );
    assert_eq!(
        pick(&yer, &key),
        strings(&[
            &["2023-09-27", "YER", "AM-ER", "UNHCR", "food", "1"],
            &["2023-09-27", "", "AM-ER", "EVIL", "shelter", "1"],
        ])
    );

    // A registrar: their center only, unsuppressed if they ask (they may see
    // the records themselves); another center is refused.
    let registrar = app
        .user("goris-registrar", Role::Registrar, &["GORIS"])
        .await;
    let own = rows(
        &get(registrar.clone(), "suppress=0".into()).await,
        ASSISTANCE,
    );
    assert_eq!(
        pick(&own, &key),
        strings(&[
            &["2023-09-27", "GORIS", "AM-SU", "UNHCR", "food", "5"],
            &["2023-09-27", "", "AM-SU", "MLSA", "shelter", "2"],
            &["2023-09-28", "GORIS", "AM-SU", "EVIL", "wash", "3"],
        ])
    );
    let elsewhere = get(registrar.clone(), format!("center_id={}", f.yer)).await;
    assert_eq!(elsewhere.status, 403, "{}", elsewhere.text);
    let named = rows(
        &get(registrar, format!("suppress=0&center_id={}", f.goris)).await,
        ASSISTANCE,
    );
    assert_eq!(named, own);

    // An analyst: everything, always suppressed.
    let analyst = app.user("analyst", Role::Analyst, &[]).await;
    let seen = rows(&get(analyst.clone(), String::new()).await, ASSISTANCE);
    assert_eq!(seen.len(), 5);
    assert_eq!(seen[1]["suppressed"], WITHHELD_DISTRIBUTION);
    let refused = get(analyst, "suppress=0".into()).await;
    assert_eq!(refused.status, 403, "{}", refused.text);
    let bad = get(admin, "from=yesterday".into()).await;
    assert_eq!(bad.status, 400, "{}", bad.text);
    assert_eq!(bad.error_fields(), ["from"]);
}

async fn stock_lists_levels_then_every_movement_of_the_period(app: TestApp) {
    let f = fixture(&app).await;
    let all = rows(&report(&app, app.admin(), "stock", "").await, STOCK);
    let levels: Vec<_> = all
        .iter()
        .filter(|r| r["record"] == "level")
        .cloned()
        .collect();
    let shape = ["center_code", "item_code", "sector", "unit", "quantity"];
    assert_eq!(
        pick(&levels, &shape),
        strings(&[
            &["GORIS", "FOOD-PARCEL", "food", "parcel", "84"],
            &["GORIS", "HYGIENE-KIT", "wash", "kit", "45"],
            &["YER", "FOOD-PARCEL", "food", "parcel", "28"],
        ])
    );
    assert!(levels
        .iter()
        .all(|r| !r["as_of"].is_empty() && r["occurred_at"].is_empty()));
    let movements: Vec<_> = all.iter().skip(3).cloned().collect();
    assert!(movements
        .iter()
        .all(|r| r["record"] == "movement" && r["as_of"].is_empty()));
    let columns = [
        "occurred_at",
        "center_code",
        "item_code",
        "quantity",
        "kind",
        "organization_code",
        "transfer_from",
        "transfer_to",
        "reason",
        "reference",
    ];
    let food = |at: &str, center: &str, quantity: &str| -> Vec<String> {
        [
            at,
            center,
            "FOOD-PARCEL",
            quantity,
            "distribution",
            "UNHCR",
            "",
            "",
            "",
            "",
        ]
        .iter()
        .map(|v| v.to_string())
        .collect()
    };
    let kit = |at: &str| -> Vec<String> {
        [
            at,
            "GORIS",
            "HYGIENE-KIT",
            "-1",
            "distribution",
            "EVIL",
            "",
            "",
            "",
            "",
        ]
        .iter()
        .map(|v| v.to_string())
        .collect()
    };
    let mut expected = strings(&[
        &[
            "2023-09-25T06:00:00Z",
            "GORIS",
            "FOOD-PARCEL",
            "100",
            "receipt",
            "UNHCR",
            "",
            "",
            "",
            "WB-1",
        ],
        &[
            "2023-09-25T07:00:00Z",
            "GORIS",
            "HYGIENE-KIT",
            "50",
            "receipt",
            "UNHCR",
            "",
            "",
            "",
            "WB-2",
        ],
        &[
            "2023-09-25T08:00:00Z",
            "YER",
            "FOOD-PARCEL",
            "20",
            "receipt",
            "UNHCR",
            "",
            "",
            "",
            "WB-3",
        ],
    ]);
    expected.extend([
        food("2023-09-27T06:00:00Z", "GORIS", "-1"),
        food("2023-09-27T06:10:00Z", "GORIS", "-1"),
        food("2023-09-27T06:20:00Z", "GORIS", "-1"),
        food("2023-09-27T06:30:00Z", "GORIS", "-1"),
        food("2023-09-27T06:40:00Z", "GORIS", "-1"),
        food("2023-09-27T08:00:00Z", "YER", "-2"),
        food("2023-09-27T18:30:00Z", "GORIS", "-1"),
        kit("2023-09-27T21:00:00Z"),
        kit("2023-09-28T06:00:00Z"),
        kit("2023-09-28T07:00:00Z"),
    ]);
    // The reason typed at the desk would run as a formula: it is escaped.
    expected.extend(strings(&[&[
        "2023-09-29T05:00:00Z",
        "GORIS",
        "HYGIENE-KIT",
        "-2",
        "adjustment",
        "",
        "",
        "",
        "'+SUM(A1)",
        "",
    ]]));
    let mut got = pick(&movements, &columns);
    // Both legs of the transfer share their instant: compare them in a fixed order.
    let mut legs = got.split_off(14);
    legs.sort();
    assert_eq!(got, expected);
    assert_eq!(
        legs,
        strings(&[
            &[
                "2023-09-29T08:00:00Z",
                "GORIS",
                "FOOD-PARCEL",
                "-10",
                "transfer_out",
                "",
                "GORIS",
                "YER",
                "",
                "TR-7"
            ],
            &[
                "2023-09-29T08:00:00Z",
                "YER",
                "FOOD-PARCEL",
                "10",
                "transfer_in",
                "",
                "GORIS",
                "YER",
                "",
                "TR-7"
            ],
        ])
    );

    // To the end of the 28th (local): levels then, and the movements before.
    let to = rows(
        &report(&app, app.admin(), "stock", "to=2023-09-28").await,
        STOCK,
    );
    assert_eq!(
        pick(
            &to[..3],
            &["record", "as_of", "center_code", "item_code", "quantity"]
        ),
        strings(&[
            &[
                "level",
                "2023-09-28T20:00:00Z",
                "GORIS",
                "FOOD-PARCEL",
                "94"
            ],
            &[
                "level",
                "2023-09-28T20:00:00Z",
                "GORIS",
                "HYGIENE-KIT",
                "47"
            ],
            &["level", "2023-09-28T20:00:00Z", "YER", "FOOD-PARCEL", "18"],
        ])
    );
    assert_eq!(pick(&to[3..], &columns), expected[..13].to_vec());
    // From the 29th: the levels now, and that day's movements.
    let from = rows(
        &report(&app, app.admin(), "stock", "from=2023-09-29").await,
        STOCK,
    );
    assert_eq!(pick(&from[..3], &shape), pick(&levels, &shape));
    let mut kinds = pick(&from[3..], &["record", "kind"]);
    kinds.sort();
    assert_eq!(
        kinds,
        strings(&[
            &["movement", "adjustment"],
            &["movement", "transfer_in"],
            &["movement", "transfer_out"],
        ])
    );

    // A registrar sees their center's stock; the center filter narrows; an
    // analyst sees all of it (not personal data).
    let registrar = app.user("goris-aid", Role::AidWorker, &["GORIS"]).await;
    let own = rows(&report(&app, &registrar, "stock", "").await, STOCK);
    assert!(own.iter().all(|r| r["center_code"] == "GORIS"), "{own:?}");
    assert_eq!(own.len(), 2 + 13);
    let refused = report(&app, &registrar, "stock", &format!("center_id={}", f.yer)).await;
    assert_eq!(refused.status, 403, "{}", refused.text);
    let yer = rows(
        &report(&app, app.admin(), "stock", &format!("center_id={}", f.yer)).await,
        STOCK,
    );
    assert_eq!(
        pick(&yer, &["record", "kind", "quantity"]),
        strings(&[
            &["level", "", "28"],
            &["movement", "receipt", "20"],
            &["movement", "distribution", "-2"],
            &["movement", "transfer_in", "10"],
        ])
    );
    let analyst = app.user("analyst", Role::Analyst, &[]).await;
    assert_eq!(
        rows(
            &report(&app, &analyst, "stock", "to=2023-09-30").await,
            STOCK
        ),
        rows(
            &report(&app, app.admin(), "stock", "to=2023-09-30").await,
            STOCK
        )
    );
    let unsuppressible = report(&app, app.admin(), "stock", "suppress=0").await;
    assert_eq!(unsuppressible.status, 400, "{}", unsuppressible.text);
}

async fn shelters_show_each_site_at_the_end_of_the_period(app: TestApp) {
    let f = fixture(&app).await;
    let then = rows(
        &report(&app, app.admin(), "shelters", "to=2023-09-28").await,
        SHELTERS,
    );
    let names: Vec<&str> = SHELTERS.iter().map(|c| c.name).collect();
    assert_eq!(
        pick(&then, &names),
        strings(&[
            &[
                "EVIL-1",
                EVIL_SAFE,
                "collective_center",
                "AM-ER",
                "Yerevan",
                "Երևան",
                "EVIL",
                EVIL_SAFE,
                "ngo",
                "false",
                "2023-09-28T20:00:00Z",
                "10",
                "5",
                "5",
                "1",
                "5",
                "",
                "",
            ],
            &[
                "GOR-H1",
                HOTEL,
                "hotel",
                "AM-SU",
                "Syunik",
                "Գորիս",
                "MLSA",
                "Ministry of Labour and Social Affairs",
                "government",
                "true",
                "2023-09-28T20:00:00Z",
                "20",
                "5",
                "15",
                "2",
                "5",
                "60",
                "12",
            ],
        ])
    );
    // Now: the second household left the hotel on the 29th.
    let now = rows(&report(&app, app.admin(), "shelters", "").await, SHELTERS);
    assert_eq!(
        pick(
            &now,
            &[
                "site_code",
                "occupied_beds",
                "free_beds",
                "households",
                "area_per_person_m2"
            ]
        ),
        strings(&[
            &["EVIL-1", "5", "5", "1", ""],
            &["GOR-H1", "2", "18", "1", "30"]
        ])
    );
    // Before anyone arrived.
    let early = rows(
        &report(&app, app.admin(), "shelters", "to=2023-09-26").await,
        SHELTERS,
    );
    assert_eq!(
        pick(
            &early,
            &[
                "site_code",
                "occupied_beds",
                "households",
                "area_per_person_m2"
            ]
        ),
        strings(&[&["EVIL-1", "0", "0", ""], &["GOR-H1", "0", "0", ""]])
    );

    // A snapshot has no start.
    let from = report(&app, app.admin(), "shelters", "from=2023-09-27").await;
    assert_eq!(from.status, 400, "{}", from.text);
    assert_eq!(from.error_fields(), ["from"]);
    // A center: the sites in its province.
    let yer = rows(
        &report(
            &app,
            app.admin(),
            "shelters",
            &format!("center_id={}", f.yer),
        )
        .await,
        SHELTERS,
    );
    assert_eq!(pick(&yer, &["site_code"]), strings(&[&["EVIL-1"]]));
    // Any role may see sites (as GET /api/v1/occupancy), a registrar's
    // center filter only for their centers.
    let registrar = app
        .user("goris-registrar", Role::Registrar, &["GORIS"])
        .await;
    assert_eq!(
        rows(&report(&app, &registrar, "shelters", "").await, SHELTERS).len(),
        2
    );
    let own = rows(
        &report(
            &app,
            &registrar,
            "shelters",
            &format!("center_id={}", f.goris),
        )
        .await,
        SHELTERS,
    );
    assert_eq!(pick(&own, &["site_code"]), strings(&[&["GOR-H1"]]));
    let refused = report(
        &app,
        &registrar,
        "shelters",
        &format!("center_id={}", f.yer),
    )
    .await;
    assert_eq!(refused.status, 403, "{}", refused.text);
    let analyst = app.user("analyst", Role::Analyst, &[]).await;
    assert_eq!(
        rows(&report(&app, &analyst, "shelters", "").await, SHELTERS).len(),
        2
    );
}

async fn transport_lists_every_trip_with_its_manifest_by_person_id(app: TestApp) {
    let f = fixture(&app).await;
    let all = rows(&report(&app, app.admin(), "transport", "").await, TRANSPORT);
    let [first, empty, yer] = &f.trips;
    let h = &f.households;
    let m = &f.members;
    // The first trip's households in id order, members in their order.
    let mut first_rows: Vec<(String, String)> = vec![
        (h[0].clone(), m[0][0].clone()),
        (h[0].clone(), m[0][1].clone()),
        (h[1].clone(), m[1][0].clone()),
    ];
    first_rows.sort_by(|a, b| a.0.cmp(&b.0));
    let mut expected: Vec<Vec<String>> = Vec::new();
    let trip = |id: &str, center: &str, at: &str, taken: &str| -> Vec<String> {
        let name = if center == "YER" {
            "Yerevan center"
        } else {
            "GORIS center"
        };
        [
            id,
            center,
            name,
            at,
            "35 TU 123",
            "10",
            taken,
            "MLSA",
            "Ministry of Labour and Social Affairs",
            "AM-KT",
            "Աբովյան",
        ]
        .iter()
        .map(|v| v.to_string())
        .collect()
    };
    for (household, person) in &first_rows {
        let mut row = trip(first, "GORIS", "2023-09-28T06:00:00Z", "3");
        row.extend([household.clone(), person.clone()]);
        expected.push(row);
    }
    for person in &m[5] {
        let mut row = trip(yer, "YER", "2023-09-28T08:00:00Z", "5");
        row.extend([h[5].clone(), person.clone()]);
        expected.push(row);
    }
    let mut row = trip(empty, "GORIS", "2023-09-30T06:00:00Z", "0");
    row.extend([String::new(), String::new()]);
    expected.push(row);
    let names: Vec<&str> = TRANSPORT
        .iter()
        .map(|c| c.name)
        .filter(|n| *n != "boarded_at")
        .collect();
    assert_eq!(pick(&all, &names), expected);
    // Boarded now (when recorded), in UTC; empty for the trip nobody boarded.
    assert!(all[..8].iter().all(|r| r["boarded_at"].ends_with('Z')));
    assert_eq!(all[8]["boarded_at"], "");
    // Person-level, yet no names.
    assert!(!all
        .iter()
        .any(|r| r.values().any(|v| v.contains("Հովհաննիսյան"))));

    let trips_of = |rows: &[BTreeMap<String, String>]| -> Vec<String> {
        let mut ids: Vec<String> = rows.iter().map(|r| r["trip_id"].clone()).collect();
        ids.dedup();
        ids
    };
    let later = rows(
        &report(&app, app.admin(), "transport", "from=2023-09-29").await,
        TRANSPORT,
    );
    assert_eq!(trips_of(&later), std::slice::from_ref(empty));
    let to = rows(
        &report(&app, app.admin(), "transport", "to=2023-09-28").await,
        TRANSPORT,
    );
    assert_eq!(trips_of(&to), [first.clone(), yer.clone()]);
    let from_yer = rows(
        &report(
            &app,
            app.admin(),
            "transport",
            &format!("center_id={}", f.yer),
        )
        .await,
        TRANSPORT,
    );
    assert_eq!(trips_of(&from_yer), std::slice::from_ref(yer));

    // Registrars: trips leaving their centers; analysts: never.
    let registrar = app
        .user("goris-registrar", Role::Registrar, &["GORIS"])
        .await;
    let own = rows(&report(&app, &registrar, "transport", "").await, TRANSPORT);
    assert_eq!(trips_of(&own), [first.clone(), empty.clone()]);
    let refused = report(
        &app,
        &registrar,
        "transport",
        &format!("center_id={}", f.yer),
    )
    .await;
    assert_eq!(refused.status, 403, "{}", refused.text);
    let analyst = app.user("analyst", Role::Analyst, &[]).await;
    let refused = report(&app, &analyst, "transport", "").await;
    assert_eq!(refused.status, 403, "{}", refused.text);
    let auditor = app.user("auditor", Role::Auditor, &[]).await;
    assert_eq!(
        rows(&report(&app, &auditor, "transport", "").await, TRANSPORT),
        all
    );
}

async fn aid_reports_are_valid_hxl_with_bom_and_dated_filenames(app: TestApp) {
    fixture(&app).await;
    for (name, columns) in [
        ("assistance", ASSISTANCE),
        ("stock", STOCK),
        ("shelters", SHELTERS),
        ("transport", TRANSPORT),
    ] {
        // Suppressed cells (assistance by default) are empty, which HXL allows.
        let response = report(&app, app.admin(), name, "hxl=1&to=2023-09-29").await;
        assert_eq!(response.status, 200, "{}", response.text);
        let mut lines = response.text.split("\r\n");
        lines.next();
        let tags: Vec<&str> = columns.iter().map(|c| c.hxl).collect();
        assert_eq!(lines.next(), Some(tags.join(",").as_str()));
        check_hxl(&format!("{name}.csv"), &response.text);
        assert_eq!(
            response.header("content-disposition"),
            Some(format!("attachment; filename=\"refuge-{name}_to-2023-09-29.csv\"").as_str())
        );
        assert!(response
            .header("content-type")
            .is_some_and(|t| t.starts_with("text/csv")));

        // Excel needs the byte-order mark (raw bytes: text decoding drops it).
        let raw = reqwest::Client::new()
            .get(format!("{}/api/v1/reports/{name}.csv?bom=1", app.address))
            .bearer_auth(app.admin())
            .send()
            .await
            .unwrap();
        assert_eq!(raw.status(), 200);
        let disposition = raw
            .headers()
            .get("content-disposition")
            .unwrap()
            .to_str()
            .unwrap()
            .to_string();
        assert_eq!(
            disposition,
            format!("attachment; filename=\"refuge-{name}_all-dates.csv\"")
        );
        let bytes = raw.bytes().await.unwrap();
        assert!(bytes.starts_with(b"\xEF\xBB\xBF"), "{name}");
        assert!(bytes[3..].starts_with(columns[0].name.as_bytes()), "{name}");
    }
    let dated = report(
        &app,
        app.admin(),
        "assistance",
        "from=2023-09-27&to=2023-09-28",
    )
    .await;
    assert_eq!(
        dated.header("content-disposition"),
        Some("attachment; filename=\"refuge-assistance_2023-09-27_2023-09-28.csv\"")
    );
    let unknown = report(&app, app.admin(), "aid", "").await;
    assert_eq!(unknown.status, 404, "{}", unknown.text);
}
