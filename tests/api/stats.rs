//! Statistics: aggregates that always equal the records, figures as of a past
//! instant, local-date buckets, and small-cell suppression that cannot be undone.

use refuge::accounts::Role;
use serde_json::{json, Value};

use crate::backend_tests;
use crate::helpers::{household, TestApp};

backend_tests!(
    aggregates_always_equal_a_rebuild_from_the_records,
    summary_as_of_counts_what_was_recorded_then,
    arrivals_are_bucketed_by_the_centers_local_date,
    analysts_never_see_small_counts_nor_derive_them,
    statistics_parameters_are_checked,
    crossings_and_backlog_come_from_flow_counts
);

/// A household with a mix of sexes, ages, needs and an unknown age.
fn varied_household(center: &str, arrived_at: &str, destination: Option<&str>) -> Value {
    json!({
        "center_id": center,
        "arrived_at": arrived_at,
        "origin_settlement": "Մարտակերտ",
        "intended_destination": destination,
        "members": [
            {"given_name": "Գոհար", "family_name": "Սարգսյան", "sex": "female", "relationship": "head", "birth_date": "1950-02-11", "needs": ["ER", "DS"]},
            {"given_name": "Արմեն", "family_name": "Սարգսյան", "sex": "male", "relationship": "child", "estimated_age": 40, "needs": []},
            {"given_name": "Նուշիկ", "family_name": "Սարգսյան", "sex": "unknown", "relationship": "grandchild", "birth_date": "2021-05-01", "needs": ["SM"]},
            {"given_name": "Վարդան", "family_name": "Սարգսյան", "sex": "other", "relationship": "other_relative", "needs": []}
        ]
    })
}

async fn correct(app: &TestApp, household: &Value, patch: Value) -> Value {
    let path = format!("/api/v1/households/{}", household["id"].as_str().unwrap());
    let version = format!("\"{}\"", household["version"]);
    let response = app
        .patch(&path, Some(app.admin()), &patch, Some(&version))
        .await;
    assert_eq!(response.status, 200, "{}", response.text);
    response.body
}

async fn assert_aggregates_match(app: &TestApp) {
    let (stored, expected) = app.aggregates_and_recount().await;
    assert!(!expected.counts.is_empty() && !expected.totals.is_empty());
    assert_eq!(stored, expected, "aggregates drifted from the records");
}

async fn aggregates_always_equal_a_rebuild_from_the_records(app: TestApp) {
    let goris = app.center("GORIS").await;
    let vayk = app.center("VAYK").await;
    let first = app
        .register(&varied_household(
            &goris,
            "2023-09-25T10:15:00+04:00",
            Some("AM-SU"),
        ))
        .await;
    let second = app.register(&household(&vayk, 5)).await;
    app.register(&varied_household(&goris, "2023-09-26T23:30:00+04:00", None))
        .await;
    assert_aggregates_match(&app).await;

    // Corrections that move a household between hours, sexes, bands,
    // needs, destinations and sizes.
    let member = first["members"][2]["id"].as_str().unwrap();
    let first = correct(
        &app,
        &first,
        json!({
            "arrived_at": "2023-09-24T21:05:00+04:00",
            "intended_destination": null,
            "members": [{"id": member, "sex": "female", "needs": ["SM", "SC-SC"], "birth_date": "2010-01-01"}],
            "add_members": [{"given_name": "Աննա", "family_name": "Սարգսյան", "sex": "female", "relationship": "grandchild", "estimated_age": 3, "needs": []}]
        }),
    )
    .await;
    correct(
        &app,
        &second,
        json!({"origin_settlement": "Ասկերան", "intended_destination": "AM-ER"}),
    )
    .await;
    correct(
        &app,
        &first,
        json!({"members": [{"id": member, "needs": []}]}),
    )
    .await;
    assert_aggregates_match(&app).await;

    // Assistance: counted in the hour it first reached a household, or in
    // the hour the household arrived if that is later.
    let first = assist(&app, &goris, &vayk, &first, &second).await;
    assert_aggregates_match(&app).await;
    // A correction that moves the arrival past the first check-in moves the
    // housing count with it.
    correct(
        &app,
        &first,
        json!({"arrived_at": "2023-09-25T11:00:00+04:00"}),
    )
    .await;
    assert_aggregates_match(&app).await;

    // The summary agrees with the records.
    let summary = app
        .get("/api/v1/stats/summary?suppress=false", Some(app.admin()))
        .await;
    assert_eq!(summary.status, 200, "{}", summary.text);
    assert_eq!(summary.body["registered"]["persons"], 14);
    assert_eq!(summary.body["registered"]["households"], 3);
    assert_eq!(summary.body["registered"]["female"], 1 + 2 + 1 + 2);
    assert_eq!(summary.body["registered"]["male"], 1 + 3 + 1);
    assert_eq!(summary.body["registered"]["other"], 2);
    assert_eq!(summary.body["registered"]["unknown"], 1);

    // Folding the PostgreSQL shards together changes no figure.
    let far = chrono::NaiveDate::from_ymd_opt(2100, 1, 1)
        .unwrap()
        .and_hms_opt(0, 0, 0)
        .unwrap();
    let left = app
        .with_db(move |conn| {
            use diesel::prelude::*;
            use refuge::schema::{arrival_counts, arrival_counts_daily, arrival_totals};
            refuge::stats::compact(conn, far).unwrap();
            let counts: i64 = arrival_counts::table
                .filter(arrival_counts::shard.ne(0))
                .count()
                .get_result(conn)
                .unwrap();
            let totals: i64 = arrival_totals::table
                .filter(arrival_totals::shard.ne(0))
                .count()
                .get_result(conn)
                .unwrap();
            let daily: i64 = arrival_counts_daily::table
                .filter(arrival_counts_daily::shard.ne(0))
                .count()
                .get_result(conn)
                .unwrap();
            counts + totals + daily
        })
        .await;
    assert_eq!(left, 0, "every shard row is folded into shard 0");
    assert_aggregates_match(&app).await;

    // A rebuild from scratch gives the same table.
    let rebuilt = app
        .with_db(|conn| refuge::stats::rebuild(conn).unwrap())
        .await;
    assert!(rebuilt > 0);
    assert_aggregates_match(&app).await;

    // What a household keeps of when assistance first reached it is checked
    // against the records too, and a rebuild repairs it.
    app.with_db(|conn| {
        use diesel::prelude::*;
        use refuge::schema::households;
        diesel::update(households::table)
            .set(households::reached_food_at.eq(None::<chrono::NaiveDateTime>))
            .execute(conn)
            .unwrap();
        // The aggregates follow what the households keep, as a write would.
        refuge::stats::rebuild(conn).unwrap();
    })
    .await;
    assert_aggregates_match(&app).await;
    let kept: i64 = app
        .with_db(|conn| {
            use diesel::prelude::*;
            use refuge::schema::households;
            households::table
                .filter(households::reached_food_at.is_not_null())
                .count()
                .get_result(conn)
                .unwrap()
        })
        .await;
    assert_eq!(
        kept, 2,
        "the rebuild set the food times again from the distributions"
    );
}

/// Places both households, gives them food (the first twice, the earlier
/// time second) and boards the first on a trip; returns the first as it is
/// now.
async fn assist(app: &TestApp, goris: &str, vayk: &str, first: &Value, second: &Value) -> Value {
    async fn post(app: &TestApp, path: &str, body: Value) -> String {
        let response = app.post(path, Some(app.admin()), &body).await;
        assert_eq!(response.status, 201, "{path}: {}", response.text);
        response.body["id"].as_str().unwrap().to_string()
    }
    let ministry = post(
        app,
        "/api/v1/organizations",
        json!({"code": "MLSA", "name": "Ministry", "kind": "government"}),
    )
    .await;
    let site = post(
        app,
        "/api/v1/sites",
        json!({"code": "HALL", "name": "Sports hall", "kind": "collective_center",
               "province": "AM-SU", "capacity_beds": 50, "organization_id": ministry}),
    )
    .await;
    let food = post(
        app,
        "/api/v1/items",
        json!({"code": "FOOD-RATION", "name": "Daily ration", "unit": "ration",
               "sector": "food", "kcal_per_unit": 2100}),
    )
    .await;
    for center in [goris, vayk] {
        post(
            app,
            "/api/v1/stock/receipts",
            json!({"center_id": center, "item_id": food, "quantity": 100,
                   "organization_id": ministry, "received_at": "2023-09-24T00:00:00+04:00"}),
        )
        .await;
    }
    let trip = post(
        app,
        "/api/v1/trips",
        crate::transport::trip_body(goris, &ministry, 20),
    )
    .await;
    let (first_id, second_id) = (
        first["id"].as_str().unwrap(),
        second["id"].as_str().unwrap(),
    );
    for (household, at) in [
        (first_id, "2023-09-25T08:00:00+04:00"),
        (second_id, "2023-09-26T18:00:00+04:00"),
    ] {
        post(
            app,
            &format!("/api/v1/sites/{site}/placements"),
            json!({"household_id": household, "checked_in_at": at}),
        )
        .await;
    }
    for (household, center, at) in [
        (first_id, goris, "2023-09-25T12:00:00+04:00"),
        (first_id, goris, "2023-09-25T09:00:00+04:00"),
        (second_id, vayk, "2023-09-26T19:00:00+04:00"),
    ] {
        post(
            app,
            "/api/v1/distributions",
            json!({"household_id": household, "center_id": center, "item_id": food,
                   "quantity": 1, "organization_id": ministry, "distributed_at": at}),
        )
        .await;
    }
    post(
        app,
        &format!("/api/v1/trips/{trip}/boardings"),
        json!({"household_id": first_id}),
    )
    .await;
    let now = app
        .get(&format!("/api/v1/households/{first_id}"), Some(app.admin()))
        .await;
    assert_eq!(now.status, 200, "{}", now.text);
    now.body
}

async fn summary_as_of_counts_what_was_recorded_then(app: TestApp) {
    let goris = app.center("GORIS").await;
    let first = app.register(&household(&goris, 3)).await; // 2023-09-26T14:30+04:00
    let later = app
        .register(&varied_household(
            &goris,
            "2023-09-26T16:20:00+04:00",
            Some("AM-KT"),
        ))
        .await;
    let before_correction = chrono::Utc::now();
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let member = later["members"][2]["id"].as_str().unwrap();
    correct(
        &app,
        &later,
        json!({"members": [{"id": member, "sex": "male"}]}),
    )
    .await;

    let at = |t: &str| {
        format!(
            "/api/v1/stats/summary?suppress=false&as_of={}",
            t.replace('+', "%2B")
        )
    };
    let cases = [
        ("2023-09-26T14:29:59+04:00", 0),
        ("2023-09-26T14:30:00+04:00", 3),
        ("2023-09-26T16:19:00+04:00", 3),
        ("2023-09-26T16:20:00+04:00", 7),
        ("2023-09-27T00:00:00+04:00", 7),
    ];
    for (as_of, persons) in cases {
        let response = app.get(&at(as_of), Some(app.admin())).await;
        assert_eq!(response.status, 200, "{}", response.text);
        assert_eq!(
            response.body["registered"]["persons"], persons,
            "as of {as_of}"
        );
    }
    let then = app
        .get(&at(&before_correction.to_rfc3339()), Some(app.admin()))
        .await;
    assert_eq!(
        then.body["registered"]["unknown"], 1,
        "before the correction"
    );
    assert_eq!(then.body["registered"]["male"], 3);
    let now = app
        .get("/api/v1/stats/summary?suppress=false", Some(app.admin()))
        .await;
    assert_eq!(now.body["registered"]["unknown"], 0, "after the correction");
    assert_eq!(now.body["registered"]["male"], 4);
    assert_eq!(now.body["first_arrival"], "2023-09-26T10:30:00Z");
    assert_eq!(now.body["last_arrival"], "2023-09-26T12:20:00Z");
    assert_eq!(now.body["centers"][0]["code"], "GORIS");
    assert_eq!(now.body["centers"][0]["registered_persons"], 7);

    // A correction noted at the desk on 28 September and entered now counts
    // from 28 September.
    let path = format!("/api/v1/households/{}", first["id"].as_str().unwrap());
    let member = first["members"][0]["id"].as_str().unwrap();
    assert_ne!(first["members"][0]["sex"], "other");
    let backdated =
        |at: &str| json!({"effective_at": at, "members": [{"id": member, "sex": "other"}]});
    for (at, code) in [
        ("2099-01-01T00:00:00+04:00", "in_future"),
        ("2023-09-26T14:29:00+04:00", "before_arrival"),
    ] {
        let refused = app
            .patch(&path, Some(app.admin()), &backdated(at), Some("\"1\""))
            .await;
        assert_eq!(refused.status, 422, "{}", refused.text);
        assert_eq!(refused.body["errors"][0]["field"], "effective_at");
        assert_eq!(refused.body["errors"][0]["code"], code);
    }
    correct(&app, &first, backdated("2023-09-28T09:00:00+04:00")).await;
    let other_at = |t: &'static str| {
        let app = &app;
        let path = at(t);
        async move {
            let response = app.get(&path, Some(app.admin())).await;
            response.body["registered"]["other"].as_i64().unwrap()
        }
    };
    assert_eq!(
        other_at("2023-09-28T09:00:00+04:00").await - other_at("2023-09-28T08:59:59+04:00").await,
        1,
        "the backdated correction counts from the time it took effect"
    );
    // Nothing can take effect before it any more.
    let too_early = app
        .patch(
            &path,
            Some(app.admin()),
            &json!({"effective_at": "2023-09-27T00:00:00+04:00", "phone": null}),
            Some("\"2\""),
        )
        .await;
    assert_eq!(too_early.status, 422, "{}", too_early.text);
    assert_eq!(too_early.body["errors"][0]["code"], "before_previous");
    assert_aggregates_match(&app).await;
}

async fn arrivals_are_bucketed_by_the_centers_local_date(app: TestApp) {
    let goris = app.center("GORIS").await;
    let kapan = app.center("KAPAN").await;
    // 23:30 and 00:30 local are both on 26 September in UTC.
    app.register(&varied_household(&goris, "2023-09-26T23:30:00+04:00", None))
        .await;
    app.register(&varied_household(&goris, "2023-09-27T00:30:00+04:00", None))
        .await;
    app.register(&household(&kapan, 2)).await; // 26 Sep 14:30 local
    let path = "/api/v1/stats/arrivals?suppress=false&group_by=center&from=2023-09-26T00:00:00%2B04:00&to=2023-09-28T00:00:00%2B04:00";
    let response = app.get(path, Some(app.admin())).await;
    assert_eq!(response.status, 200, "{}", response.text);
    assert_eq!(
        response.body["buckets"],
        json!(["2023-09-26", "2023-09-27"])
    );
    let series = response.body["series"].as_array().unwrap();
    let goris_series = series
        .iter()
        .find(|s| s["group"] == goris.as_str())
        .unwrap();
    let news: Vec<&Value> = goris_series["points"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| &p["new"])
        .collect();
    assert_eq!(news, [&json!(4), &json!(4)]);
    assert_eq!(goris_series["points"][1]["cumulative"], 8);
    let total = &response.body["total"]["points"];
    assert_eq!(total[0]["new"], 6);
    assert_eq!(total[1]["cumulative"], 10);

    // Sex groups, hourly: the first bucket starts at `from`.
    let hourly = app
        .get(
            "/api/v1/stats/arrivals?suppress=false&interval=hour&group_by=sex&from=2023-09-26T23:00:00%2B04:00&to=2023-09-27T01:00:00%2B04:00",
            Some(app.admin()),
        )
        .await;
    assert_eq!(hourly.status, 200, "{}", hourly.text);
    assert_eq!(
        hourly.body["buckets"],
        json!(["2023-09-26T19:00:00Z", "2023-09-26T20:00:00Z"])
    );
    let female = hourly.body["series"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["group"] == "female")
        .unwrap();
    assert_eq!(female["points"][0]["new"], 1);
    assert_eq!(
        female["cumulative_before"], 1,
        "the Kapan household's woman arrived earlier"
    );
}

/// Every count in a statistics body: integers under these keys.
const COUNT_KEYS: [&str; 22] = [
    "persons",
    "households",
    "female",
    "male",
    "other",
    "unknown",
    "total",
    "new",
    "cumulative",
    "cumulative_before",
    "people",
    "vehicles",
    "backlog",
    "registered_persons",
    "registered_households",
    "registered_female",
    "registered_male",
    "registered_other",
    "registered_unknown",
    "crossed_people",
    "crossed_vehicles",
    "persons_total",
];

fn counts(value: &Value, k: i64, path: &str, found: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (key, v) in map {
                if let (true, Some(n)) = (COUNT_KEYS.contains(&key.as_str()), v.as_i64()) {
                    if n > 0 && n < k {
                        found.push(format!("{path}.{key} = {n}"));
                    }
                }
                counts(v, k, &format!("{path}.{key}"), found);
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                counts(v, k, &format!("{path}[{i}]"), found);
            }
        }
        _ => {}
    }
}

/// Fails when a row `parts` + `total` has exactly one withheld value: it
/// would follow from the others.
fn assert_not_derivable(what: &str, values: &[&Value]) {
    let hidden = values.iter().filter(|v| v.is_null()).count();
    assert_ne!(
        hidden, 1,
        "{what}: one withheld value among {values:?} can be derived"
    );
}

async fn analysts_never_see_small_counts_nor_derive_them(app: TestApp) {
    let goris = app.center("GORIS").await;
    let vayk = app.center("VAYK").await;
    for i in 0..6 {
        let arrived = format!("2023-09-26T1{i}:10:00+04:00");
        app.register(&varied_household(&goris, &arrived, Some("AM-SU")))
            .await;
    }
    app.register(&household(&vayk, 3)).await;
    let analyst = app.user("analyst", Role::Analyst, &[]).await;
    let k = app.settings.stats.suppression_k;
    let range = "from=2023-09-25T00:00:00%2B04:00&to=2023-09-28T00:00:00%2B04:00";
    let paths = [
        "/api/v1/stats/summary".to_string(),
        format!("/api/v1/stats/arrivals?group_by=center&{range}"),
        format!("/api/v1/stats/arrivals?group_by=sex&{range}"),
        format!("/api/v1/stats/arrivals?group_by=age_band&interval=hour&{range}"),
        "/api/v1/stats/demographics".to_string(),
        "/api/v1/stats/needs".to_string(),
    ];
    let mut withheld = 0;
    for path in &paths {
        let response = app.get(path, Some(&analyst)).await;
        assert_eq!(response.status, 200, "{path}: {}", response.text);
        let mut small = Vec::new();
        counts(&response.body, k, "", &mut small);
        assert!(small.is_empty(), "{path} shows small counts: {small:?}");
        withheld += response.text.matches("\"suppressed\":[\"").count();
    }
    assert!(
        withheld > 0,
        "the data has small cells, so something must be withheld"
    );

    // Rows and columns of the pyramid.
    let demographics = app
        .get("/api/v1/stats/demographics", Some(&analyst))
        .await
        .body;
    let sexes = ["female", "male", "other", "unknown"];
    for row in demographics["pyramid"].as_array().unwrap() {
        let mut values: Vec<&Value> = sexes.iter().map(|s| &row[*s]).collect();
        values.push(&row["total"]);
        assert_not_derivable(&format!("band {}", row["age_band"]), &values);
    }
    for sex in sexes {
        let mut values: Vec<&Value> = demographics["pyramid"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| &r[sex])
            .collect();
        values.push(&demographics["persons"][sex]);
        assert_not_derivable(sex, &values);
    }
    let mut sizes: Vec<&Value> = demographics["households_by_size"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| &r["households"])
        .collect();
    sizes.push(&demographics["households"]["households"]);
    assert_not_derivable("households by size", &sizes);

    // Each bucket across groups, and each series along time.
    let arrivals = app
        .get(
            &format!("/api/v1/stats/arrivals?group_by=center&{range}"),
            Some(&analyst),
        )
        .await
        .body;
    let series = arrivals["series"].as_array().unwrap();
    for (i, bucket) in arrivals["buckets"].as_array().unwrap().iter().enumerate() {
        let mut values: Vec<&Value> = series.iter().map(|s| &s["points"][i]["new"]).collect();
        values.push(&arrivals["total"]["points"][i]["new"]);
        assert_not_derivable(&format!("new on {bucket}"), &values);
    }
    for s in series {
        let points = s["points"].as_array().unwrap();
        let mut previous = &s["cumulative_before"];
        for point in points {
            assert_not_derivable(
                "cumulative step",
                &[previous, &point["new"], &point["cumulative"]],
            );
            previous = &point["cumulative"];
        }
    }
    let needs = app.get("/api/v1/stats/needs", Some(&analyst)).await.body;
    for item in needs["items"].as_array().unwrap() {
        let mut values: Vec<&Value> = item["centers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| &c["persons"])
            .collect();
        values.push(&item["persons"]);
        assert_not_derivable(&format!("need {}", item["code"]), &values);
    }

    // Analysts cannot switch suppression off; admins can, and get exact figures.
    let refused = app
        .get("/api/v1/stats/summary?suppress=false", Some(&analyst))
        .await;
    assert_eq!(refused.status, 403);
    let exact = app
        .get("/api/v1/stats/summary?suppress=false", Some(app.admin()))
        .await;
    assert_eq!(exact.body["registered"]["persons"], 27);
    assert_eq!(exact.body["suppression"]["applied"], false);
    let vayk_row = exact.body["centers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["code"] == "VAYK")
        .unwrap();
    assert_eq!(vayk_row["registered_persons"], 3);

    // A registrar sees only their center, and may not ask for another.
    let registrar = app.user("reg.vayk", Role::Registrar, &["VAYK"]).await;
    let own = app
        .get("/api/v1/stats/summary?suppress=false", Some(&registrar))
        .await;
    assert_eq!(own.status, 200, "{}", own.text);
    assert_eq!(own.body["registered"]["persons"], 3);
    let other = app
        .get(
            &format!("/api/v1/stats/summary?center_id={goris}"),
            Some(&registrar),
        )
        .await;
    assert_eq!(other.status, 403);
}

async fn statistics_parameters_are_checked(app: TestApp) {
    let bad = [
        "/api/v1/stats/arrivals?interval=week",
        "/api/v1/stats/arrivals?group_by=colour",
        "/api/v1/stats/arrivals?source=crossed&group_by=origin",
        "/api/v1/stats/arrivals?from=2023-10-01T00:00:00Z&to=2023-09-01T00:00:00Z",
        "/api/v1/stats/arrivals?interval=hour&from=2023-01-01T00:00:00Z&to=2023-09-01T00:00:00Z",
        "/api/v1/stats/summary?as_of=yesterday",
        "/api/v1/stats/summary?center_id=not-a-uuid",
        "/api/v1/stats/demographics?suppress=maybe",
        "/api/v1/stats/needs?colour=red",
    ];
    for path in bad {
        let response = app.get(path, Some(app.admin())).await;
        assert_eq!(response.status, 400, "{path}: {}", response.text);
        assert!(
            !response.error_fields().is_empty(),
            "{path}: names the parameter"
        );
    }
    let empty = app.get("/api/v1/stats/summary", Some(app.admin())).await;
    assert_eq!(empty.status, 200, "{}", empty.text);
    assert_eq!(empty.body["registered"]["persons"], 0);
    assert_eq!(empty.body["first_arrival"], Value::Null);
}

async fn crossings_and_backlog_come_from_flow_counts(app: TestApp) {
    let kornidzor = app.center("KORNIDZOR").await;
    let goris = app.center("GORIS").await;
    let windows = [
        (
            "2023-09-26T12:00:00+04:00",
            "2023-09-26T13:00:00+04:00",
            120,
            30,
        ),
        (
            "2023-09-26T13:00:00+04:00",
            "2023-09-26T14:00:00+04:00",
            200,
            41,
        ),
        (
            "2023-09-27T09:00:00+04:00",
            "2023-09-27T10:00:00+04:00",
            80,
            17,
        ),
    ];
    for (start, end, people, vehicles) in windows {
        let response = app
            .post(
                "/api/v1/flow-counts",
                Some(app.admin()),
                &json!({"center_id": kornidzor, "window_start": start, "window_end": end,
                        "direction": "in", "people": people, "vehicles": vehicles}),
            )
            .await;
        assert_eq!(response.status, 201, "{}", response.text);
    }
    app.register(&household(&goris, 5)).await; // 26 Sep 14:30 local

    let at = |t: &str| {
        format!(
            "/api/v1/stats/summary?suppress=false&as_of={}",
            t.replace('+', "%2B")
        )
    };
    // A window counts once it has closed.
    let mid = app
        .get(&at("2023-09-26T13:30:00+04:00"), Some(app.admin()))
        .await;
    assert_eq!(mid.body["crossed"]["people"], 120);
    assert_eq!(mid.body["crossed"]["vehicles"], 30);
    assert_eq!(mid.body["backlog"], 120);
    let evening = app
        .get(&at("2023-09-26T20:00:00+04:00"), Some(app.admin()))
        .await;
    assert_eq!(evening.body["crossed"]["people"], 320);
    assert_eq!(evening.body["registered"]["persons"], 5);
    assert_eq!(evening.body["backlog"], 315);
    assert_eq!(
        evening.body["share_of_origin_population"]["crossed"],
        0.0027
    );
    let rows = evening.body["centers"].as_array().unwrap();
    let kornidzor_row = rows.iter().find(|c| c["code"] == "KORNIDZOR").unwrap();
    assert_eq!(kornidzor_row["crossed_people"], 320);
    assert_eq!(kornidzor_row["backlog"], 320);
    let goris_row = rows.iter().find(|c| c["code"] == "GORIS").unwrap();
    assert_eq!(goris_row["backlog"], -5);

    let series = app
        .get(
            "/api/v1/stats/arrivals?suppress=false&source=crossed&from=2023-09-26T00:00:00%2B04:00&to=2023-09-28T00:00:00%2B04:00",
            Some(app.admin()),
        )
        .await;
    assert_eq!(series.status, 200, "{}", series.text);
    let points = &series.body["total"]["points"];
    assert_eq!(points[0]["new"], 320);
    assert_eq!(points[1]["new"], 80);
    assert_eq!(points[1]["cumulative"], 400);
}
