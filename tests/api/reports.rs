//! CSV reports of arrivals and registrations: contents, filters, who may pull
//! them, suppression, formula injection, Armenian text, HXL, streaming.

use refuge::accounts::Role;
use serde_json::{json, Value};

use crate::backend_tests;
use crate::helpers::{check_hxl, csv_cell, household, parse_csv, Response, TestApp};

backend_tests!(
    registrations_report_lists_every_person_with_the_household,
    registrations_report_is_for_admins_and_the_centers_registrars,
    registrations_report_filters_and_chooses_columns,
    displacement_report_counts_crossings_and_registrations_per_day,
    displacement_report_withholds_small_counts_like_the_statistics,
    report_parameters_are_checked,
    large_reports_stream_every_row
);

async fn report(app: &TestApp, path: &str, token: &str) -> Response {
    let response = app.get(path, Some(token)).await;
    assert_eq!(response.status, 200, "{path}: {}", response.text);
    assert_eq!(
        response.header("content-type"),
        Some("text/csv; charset=utf-8; header=present")
    );
    response
}

async fn registrations_report_lists_every_person_with_the_household(app: TestApp) {
    let goris = app.center("GORIS").await;
    let mut body = household(&goris, 3);
    // Text that a spreadsheet would run, and Armenian script.
    body["origin_settlement"] = json!("=HYPERLINK(\"http://evil.example\",\"click\")");
    body["members"][0]["given_name"] = json!("@SUM(1+1)");
    body["members"][1]["given_name"] = json!("-Անի");
    body["members"][1]["needs"] = json!(["SM-WD", "DS"]);
    body["members"][2]["document"] = json!({"type": "passport", "number": "+AN123"});
    let registered = app.register(&body).await;
    let household_id = registered["id"].as_str().unwrap();

    let response = report(&app, "/api/v1/reports/registrations.csv", app.admin()).await;
    assert_eq!(
        response.header("content-disposition"),
        Some("attachment; filename=\"refuge-registrations_all-dates.csv\"")
    );
    assert!(response.text.contains("\r\n"), "RFC 4180 line ends");
    let (header, rows) = parse_csv(&response.text);
    assert_eq!(header[0], "household_id");
    assert_eq!(rows.len(), 3);
    for (position, row) in rows.iter().enumerate() {
        assert_eq!(csv_cell(&header, row, "household_id"), household_id);
        assert_eq!(csv_cell(&header, row, "position"), position.to_string());
        assert_eq!(csv_cell(&header, row, "center_code"), "GORIS");
        assert_eq!(csv_cell(&header, row, "arrived_at"), "2023-09-26T10:30:00Z");
        assert_eq!(csv_cell(&header, row, "household_size"), "3");
        assert_eq!(
            csv_cell(&header, row, "person_id"),
            registered["members"][position]["id"].as_str().unwrap()
        );
        // Never a formula: an apostrophe makes spreadsheets show it as text.
        assert_eq!(
            csv_cell(&header, row, "origin_settlement"),
            "'=HYPERLINK(\"http://evil.example\",\"click\")"
        );
        assert_eq!(csv_cell(&header, row, "phone"), "'+37491234567");
        assert_eq!(csv_cell(&header, row, "family_name"), "Հովհաննիսյան");
    }
    assert_eq!(csv_cell(&header, &rows[0], "given_name"), "'@SUM(1+1)");
    assert_eq!(csv_cell(&header, &rows[1], "given_name"), "'-Անի");
    assert_eq!(csv_cell(&header, &rows[2], "given_name"), "Նարեկ");
    assert_eq!(csv_cell(&header, &rows[1], "needs"), "DS;SM-WD");
    assert_eq!(csv_cell(&header, &rows[2], "document_number"), "'+AN123");
    assert_eq!(csv_cell(&header, &rows[2], "document_type"), "passport");
    assert_eq!(csv_cell(&header, &rows[0], "relationship"), "head");
    assert_eq!(csv_cell(&header, &rows[0], "age_band"), "18-59");

    // Excel's byte-order mark, and the HXL variant passes libhxl.
    let response = report(
        &app,
        "/api/v1/reports/registrations.csv?bom=1&hxl=1",
        app.admin(),
    )
    .await;
    assert!(response.text.starts_with('\u{feff}'));
    let second_line = response.text.lines().nth(1).unwrap();
    assert!(
        second_line.starts_with("#respondee+hh+code,#loc+code"),
        "{second_line}"
    );
    check_hxl("registrations.csv", &response.text);
}

async fn registrations_report_is_for_admins_and_the_centers_registrars(app: TestApp) {
    let goris = app.center("GORIS").await;
    let parakar = app.center("PARAKAR").await;
    app.register(&household(&goris, 2)).await;
    app.register(&household(&parakar, 4)).await;

    let registrar = app.user("anna", Role::Registrar, &["GORIS"]).await;
    let response = report(&app, "/api/v1/reports/registrations.csv", &registrar).await;
    let (header, rows) = parse_csv(&response.text);
    assert_eq!(rows.len(), 2, "only Goris's persons");
    assert!(rows
        .iter()
        .all(|r| csv_cell(&header, r, "center_code") == "GORIS"));
    let response = app
        .get(
            &format!("/api/v1/reports/registrations.csv?center_id={parakar}"),
            Some(&registrar),
        )
        .await;
    assert_eq!(response.status, 403, "{}", response.text);

    for (name, role, centers) in [
        ("aida", Role::AidWorker, vec!["GORIS"]),
        ("ara", Role::Analyst, vec![]),
        ("aram", Role::Auditor, vec![]),
    ] {
        let token = app.user(name, role, &centers).await;
        let response = app
            .get("/api/v1/reports/registrations.csv", Some(&token))
            .await;
        assert_eq!(response.status, 403, "{role:?}: {}", response.text);
        assert_eq!(response.body["code"], "forbidden");
    }
    let response = app.get("/api/v1/reports/registrations.csv", None).await;
    assert_eq!(response.status, 401);

    let response = report(&app, "/api/v1/reports/registrations.csv", app.admin()).await;
    assert_eq!(parse_csv(&response.text).1.len(), 6);
}

async fn registrations_report_filters_and_chooses_columns(app: TestApp) {
    let goris = app.center("GORIS").await;
    let parakar = app.center("PARAKAR").await;
    for (center, arrived_at, size) in [
        (&goris, "2023-09-24T23:30:00+04:00", 1),
        (&goris, "2023-09-25T00:30:00+04:00", 2),
        (&goris, "2023-09-26T12:00:00+04:00", 3),
        (&parakar, "2023-09-25T12:00:00+04:00", 4),
    ] {
        let mut body = household(center, size);
        body["arrived_at"] = json!(arrived_at);
        app.register(&body).await;
    }
    let count = |text: &str| parse_csv(text).1.len();

    // Dates are whole days in Yerevan; `to` includes its day.
    let response = report(
        &app,
        "/api/v1/reports/registrations.csv?from=2023-09-25&to=2023-09-25",
        app.admin(),
    )
    .await;
    assert_eq!(count(&response.text), 2 + 4);
    assert_eq!(
        response.header("content-disposition"),
        Some("attachment; filename=\"refuge-registrations_2023-09-25_2023-09-25.csv\"")
    );
    let response = report(
        &app,
        &format!("/api/v1/reports/registrations.csv?from=2023-09-25&center_id={goris}"),
        app.admin(),
    )
    .await;
    assert_eq!(count(&response.text), 2 + 3);
    assert_eq!(
        response.header("content-disposition"),
        Some("attachment; filename=\"refuge-registrations_from-2023-09-25.csv\"")
    );
    // Instants: `to` is excluded.
    let response = report(
        &app,
        "/api/v1/reports/registrations.csv?to=2023-09-25T00:30:00%2B04:00",
        app.admin(),
    )
    .await;
    assert_eq!(count(&response.text), 1);

    // Chosen columns, in the order asked.
    let response = report(
        &app,
        "/api/v1/reports/registrations.csv?columns=family_name,given_name,center_code&hxl=1",
        app.admin(),
    )
    .await;
    let mut lines = response.text.lines();
    assert_eq!(lines.next(), Some("family_name,given_name,center_code"));
    assert_eq!(
        lines.next(),
        Some("#respondee+hh+name,#respondee+ind+name,#loc+code")
    );
    assert_eq!(lines.next(), Some("Հովհաննիսյան,Արամ,GORIS"));
    let response = app
        .get(
            "/api/v1/reports/registrations.csv?columns=given_name,shoe_size",
            Some(app.admin()),
        )
        .await;
    assert_eq!(response.status, 400, "{}", response.text);
    assert_eq!(response.error_fields(), vec!["columns"]);
    assert!(response.text.contains("shoe_size"));
}

/// Flow counts at the border and registrations at two centers.
async fn displacement_fixture(app: &TestApp) -> (String, String, String) {
    let kornidzor = app.center("KORNIDZOR").await;
    let goris = app.center("GORIS").await;
    let parakar = app.center("PARAKAR").await;
    for (start, end, people) in [
        (
            "2023-09-24T10:00:00+04:00",
            "2023-09-24T12:00:00+04:00",
            120,
        ),
        (
            "2023-09-25T10:00:00+04:00",
            "2023-09-25T12:00:00+04:00",
            300,
        ),
    ] {
        let response = app
            .post(
                "/api/v1/flow-counts",
                Some(app.admin()),
                &json!({"center_id": kornidzor, "window_start": start, "window_end": end,
                        "direction": "in", "people": people}),
            )
            .await;
        assert_eq!(response.status, 201, "{}", response.text);
    }
    for (center, arrived_at, size) in [
        (&goris, "2023-09-24T14:00:00+04:00", 5),
        (&goris, "2023-09-24T15:00:00+04:00", 6),
        (&goris, "2023-09-25T09:00:00+04:00", 7),
        (&parakar, "2023-09-25T16:00:00+04:00", 3),
    ] {
        let mut body = household(center, size);
        body["arrived_at"] = json!(arrived_at);
        app.register(&body).await;
    }
    (kornidzor, goris, parakar)
}

async fn displacement_report_counts_crossings_and_registrations_per_day(app: TestApp) {
    displacement_fixture(&app).await;
    let response = report(
        &app,
        "/api/v1/reports/displacement.csv?suppress=0&from=2023-09-24&to=2023-09-26",
        app.admin(),
    )
    .await;
    let (header, rows) = parse_csv(&response.text);
    let table: Vec<String> = rows
        .iter()
        .map(|r| {
            [
                "date",
                "center_code",
                "province_code",
                "crossed",
                "crossed_cumulative",
                "registered",
                "registered_cumulative",
                "suppressed",
            ]
            .iter()
            .map(|c| csv_cell(&header, r, c))
            .collect::<Vec<_>>()
            .join(" ")
        })
        .collect();
    assert_eq!(
        table,
        vec![
            "2023-09-24 GORIS AM-SU 0 0 11 11 ",
            "2023-09-24 KORNIDZOR AM-SU 120 120 0 0 ",
            "2023-09-24 PARAKAR AM-SU 0 0 0 0 ",
            "2023-09-25 GORIS AM-SU 0 0 7 18 ",
            "2023-09-25 KORNIDZOR AM-SU 300 420 0 0 ",
            "2023-09-25 PARAKAR AM-SU 0 0 3 3 ",
            "2023-09-26 GORIS AM-SU 0 0 0 18 ",
            "2023-09-26 KORNIDZOR AM-SU 0 420 0 0 ",
            "2023-09-26 PARAKAR AM-SU 0 0 0 3 ",
        ]
    );
    assert_eq!(csv_cell(&header, &rows[0], "province_name"), "Syunik");

    // Per sex and age band: the parts add up to each center's day.
    let response = report(
        &app,
        "/api/v1/reports/displacement.csv?suppress=0&disaggregate=sex_age&hxl=1&to=2023-09-25",
        app.admin(),
    )
    .await;
    check_hxl("displacement-sex-age.csv", &response.text);
    let mut lines: Vec<&str> = response.text.split("\r\n").collect();
    lines.remove(1); // the hashtags
    let (header, rows) = parse_csv(&lines.join("\r\n"));
    assert!(!header.contains(&"crossed".to_string()));
    let day = |date: &str, center: &str| -> i64 {
        rows.iter()
            .filter(|r| {
                csv_cell(&header, r, "date") == date
                    && csv_cell(&header, r, "center_code") == center
            })
            .map(|r| csv_cell(&header, r, "registered").parse::<i64>().unwrap())
            .sum()
    };
    assert_eq!(day("2023-09-24", "GORIS"), 11);
    assert_eq!(day("2023-09-25", "GORIS"), 7);
    assert_eq!(day("2023-09-25", "PARAKAR"), 3);
    let sexes: std::collections::BTreeSet<&str> =
        rows.iter().map(|r| csv_cell(&header, r, "sex")).collect();
    assert_eq!(sexes, ["female", "male"].into_iter().collect());

    // The default period runs from the first to the last recorded day.
    let response = report(&app, "/api/v1/reports/displacement.csv?hxl=1", app.admin()).await;
    check_hxl("displacement.csv", &response.text);
    let response = report(&app, "/api/v1/reports/displacement.csv", app.admin()).await;
    let (header, rows) = parse_csv(&response.text);
    let dates: std::collections::BTreeSet<&str> =
        rows.iter().map(|r| csv_cell(&header, r, "date")).collect();
    assert_eq!(dates, ["2023-09-24", "2023-09-25"].into_iter().collect());
}

async fn displacement_report_withholds_small_counts_like_the_statistics(app: TestApp) {
    let (_, goris, parakar) = displacement_fixture(&app).await;
    let analyst = app.user("ara", Role::Analyst, &[]).await;
    let path = "/api/v1/reports/displacement.csv?from=2023-09-24&to=2023-09-25";
    let response = report(&app, path, &analyst).await;
    let (header, rows) = parse_csv(&response.text);
    let parakar_25 = rows
        .iter()
        .find(|r| {
            csv_cell(&header, r, "date") == "2023-09-25"
                && csv_cell(&header, r, "center_code") == "PARAKAR"
        })
        .unwrap();
    // 3 persons: withheld, as an empty cell (never "<5"), and named.
    assert_eq!(csv_cell(&header, parakar_25, "registered"), "");
    assert_eq!(csv_cell(&header, parakar_25, "registered_cumulative"), "");
    let withheld = csv_cell(&header, parakar_25, "suppressed");
    assert!(withheld.contains("registered"), "{withheld}");
    // Its complement: the other cells of the day cannot give it away.
    let published: Vec<i64> = rows
        .iter()
        .filter(|r| csv_cell(&header, r, "date") == "2023-09-25")
        .filter_map(|r| csv_cell(&header, r, "registered").parse().ok())
        .collect();
    assert!(
        published.iter().sum::<i64>() != 10,
        "the day's published registrations must not reveal Parakar's 3: {published:?}"
    );
    assert!(!response.text.contains('<'));
    // Large counts stay.
    let goris_24 = rows
        .iter()
        .find(|r| {
            csv_cell(&header, r, "date") == "2023-09-24"
                && csv_cell(&header, r, "center_code") == "GORIS"
        })
        .unwrap();
    assert_eq!(csv_cell(&header, goris_24, "registered"), "11");

    // Analysts cannot ask for exact counts; admins can.
    let response = app.get(&format!("{path}&suppress=0"), Some(&analyst)).await;
    assert_eq!(response.status, 403, "{}", response.text);
    let response = report(&app, &format!("{path}&suppress=0"), app.admin()).await;
    assert!(response.text.contains(",3,3,\r\n"), "{}", response.text);

    // A registrar sees their own center only.
    let registrar = app.user("anna", Role::Registrar, &["GORIS"]).await;
    let response = report(&app, path, &registrar).await;
    let (header, rows) = parse_csv(&response.text);
    assert!(rows
        .iter()
        .all(|r| csv_cell(&header, r, "center_code") == "GORIS"));
    let response = app
        .get(&format!("{path}&center_id={parakar}"), Some(&registrar))
        .await;
    assert_eq!(response.status, 403);
    let _ = goris;
}

async fn report_parameters_are_checked(app: TestApp) {
    let cases = [
        ("/api/v1/reports/nothing.csv", 404, None),
        ("/api/v1/reports/registrations.json", 404, None),
        (
            "/api/v1/reports/registrations.csv?from=yesterday",
            400,
            Some("from"),
        ),
        (
            "/api/v1/reports/registrations.csv?to=2023-02-30",
            400,
            Some("to"),
        ),
        (
            "/api/v1/reports/registrations.csv?from=2023-09-26&to=2023-09-25",
            400,
            Some("from"),
        ),
        (
            "/api/v1/reports/registrations.csv?bom=yes",
            400,
            Some("bom"),
        ),
        (
            "/api/v1/reports/registrations.csv?center_id=42",
            400,
            Some("center_id"),
        ),
        (
            "/api/v1/reports/registrations.csv?colour=red",
            400,
            Some("colour"),
        ),
        (
            "/api/v1/reports/registrations.csv?disaggregate=sex_age",
            400,
            Some("disaggregate"),
        ),
        (
            "/api/v1/reports/registrations.csv?suppress=1",
            400,
            Some("suppress"),
        ),
        (
            "/api/v1/reports/displacement.csv?disaggregate=age",
            400,
            Some("disaggregate"),
        ),
        (
            "/api/v1/reports/displacement.csv?from=2020-01-01&to=2023-09-25",
            400,
            Some("from"),
        ),
    ];
    app.center("GORIS").await;
    app.register(&household(&app.center("PARAKAR").await, 1))
        .await;
    for (path, status, field) in cases {
        let response = app.get(path, Some(app.admin())).await;
        assert_eq!(response.status, status, "{path}: {}", response.text);
        assert_eq!(
            response.header("content-type"),
            Some("application/problem+json"),
            "{path}"
        );
        if let Some(field) = field {
            assert_eq!(response.error_fields(), vec![field.to_string()], "{path}");
        }
    }
}

async fn large_reports_stream_every_row(app: TestApp) {
    // Well over one 64 KiB chunk of rows.
    let goris = app.center("GORIS").await;
    let households: Vec<Value> = (0..150).map(|_| household(&goris, 7)).collect();
    let app = std::sync::Arc::new(app);
    let mut tasks = Vec::new();
    for body in households {
        let app = app.clone();
        tasks.push(tokio::spawn(async move { app.register(&body).await }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let response = report(&app, "/api/v1/reports/registrations.csv", app.admin()).await;
    assert!(
        response.text.len() > 3 * 64 * 1024,
        "{} bytes",
        response.text.len()
    );
    let (header, rows) = parse_csv(&response.text);
    assert_eq!(rows.len(), 150 * 7);
    let households: std::collections::HashSet<&str> = rows
        .iter()
        .map(|r| csv_cell(&header, r, "household_id"))
        .collect();
    assert_eq!(households.len(), 150);
    // Households in arrival order, members in position order within each.
    for pair in rows.windows(2) {
        let same = csv_cell(&header, &pair[0], "household_id")
            == csv_cell(&header, &pair[1], "household_id");
        if same {
            let a: i64 = csv_cell(&header, &pair[0], "position").parse().unwrap();
            let b: i64 = csv_cell(&header, &pair[1], "position").parse().unwrap();
            assert_eq!(a + 1, b);
        }
    }
}
