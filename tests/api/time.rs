//! Instants and dates outside the years the service accepts (1900 to 2100)
//! are refused with 422 naming the field, wherever they are sent: in a query
//! string, in a body, in a report's period. Before, a far-future bound
//! crashed the statistics.

use serde_json::json;

use crate::backend_tests;
use crate::contract::schema_accepts;
use crate::helpers::{household, Backend, TestApp};

backend_tests!(far_dates_anywhere_get_422_naming_the_field);

async fn far_dates_anywhere_get_422_naming_the_field(app: TestApp) {
    let center = app.center("GORIS").await;
    let token = app.admin();

    let far = [
        "2263-01-01T00:00:00Z",
        "0001-01-01T00:00:00Z",
        "0393-08-10T10:36:04.4-12:39",
        "1899-12-31T23:59:59Z",
        "2101-01-01T00:00:00Z",
    ];
    let queries = [
        ("/api/v1/stats/summary", "as_of"),
        ("/api/v1/stats/arrivals", "from"),
        ("/api/v1/stats/arrivals", "to"),
        ("/api/v1/stats/coverage", "to"),
        ("/api/v1/stats/demographics", "from"),
        ("/api/v1/stats/needs", "to"),
        ("/api/v1/households", "arrived_from"),
        ("/api/v1/occupancy", "as_of"),
        ("/api/v1/stock", "as_of"),
        ("/api/v1/reports/displacement.csv", "from"),
        ("/api/v1/reports/registrations.csv", "to"),
    ];
    for (path, field) in queries {
        for at in far {
            let encoded = at.replace('+', "%2B").replace(':', "%3A");
            let response = app
                .get(&format!("{path}?{field}={encoded}"), Some(token))
                .await;
            assert_eq!(
                response.status, 422,
                "{path}?{field}={at}: {}",
                response.text
            );
            assert_eq!(response.error_fields(), [field], "{path}?{field}={at}");
            assert_eq!(response.body["errors"][0]["code"], "out_of_range");
        }
    }
    // A report's period may also be a date.
    let response = app
        .get(
            "/api/v1/reports/displacement.csv?to=2263-01-01",
            Some(token),
        )
        .await;
    assert_eq!(response.status, 422, "{}", response.text);
    assert_eq!(response.error_fields(), ["to"]);

    // In bodies.
    let mut body = household(&center, 2);
    body["arrived_at"] = json!("2263-01-01T00:00:00Z");
    body["members"][1]["birth_date"] = json!("0001-01-01");
    let response = app.post("/api/v1/households", Some(token), &body).await;
    assert_eq!(response.status, 422, "{}", response.text);
    assert_eq!(response.error_fields(), ["arrived_at"]);
    let mut body = household(&center, 2);
    body["members"][1]["birth_date"] = json!("1899-12-31");
    let response = app.post("/api/v1/households", Some(token), &body).await;
    assert_eq!(response.status, 422, "{}", response.text);
    assert_eq!(response.error_fields(), ["members[1].birth_date"]);
    assert_eq!(response.body["errors"][0]["code"], "out_of_range");

    let response = app
        .post(
            "/api/v1/flow-counts",
            Some(token),
            &json!({
                "center_id": center, "direction": "in", "people": 10, "vehicles": 1,
                "window_start": "0393-08-10T10:36:04.4-12:39", "window_end": "2023-09-26T15:00:00+04:00"
            }),
        )
        .await;
    assert_eq!(response.status, 422, "{}", response.text);
    assert_eq!(response.error_fields(), ["window_start"]);

    // Nothing was written, and the service still answers.
    let response = app.get("/api/v1/households", Some(token)).await;
    assert_eq!(response.status, 200);
    assert_eq!(response.body["items"], json!([]));
}

/// openapi.yaml's `Instant` and `Day` patterns and the server's parsers agree
/// on every value below: a client (or a fuzzer) that follows the document is
/// never refused for the shape of a time, and one that breaks it always is.
/// Parsing does not depend on the database, so SQLite alone is enough.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_takes_exactly_the_times_openapi_describes() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let token = app.admin();
    let instants = [
        "2023-09-26T14:30:00+04:00",
        "2023-09-26T14:30:00Z",
        "2023-09-26T14:30:00.5Z",
        "2023-09-26T14:30:00.123456789-23:59",
        "1900-01-01T00:00:00+00:00",
        "2100-12-31T23:59:59Z",
        "2024-02-29T00:00:00Z",
        "2000-02-29T00:00:00Z",
        "1900-02-29T00:00:00Z",
        "2023-02-29T00:00:00Z",
        "2023-04-31T00:00:00Z",
        "2023-09-26t14:30:00Z",
        "2023-09-26T14:30:00z",
        "2023-09-26 14:30:00Z",
        "2023-12-31T23:59:60Z",
        "2023-09-26T14:30:00.1234567890Z",
        "2023-09-26T14:30:00.Z",
        "2023-09-26T24:00:00Z",
        "2023-09-26T14:30:00+24:00",
        "2023-09-26T14:30:00+04:60",
        "2023-09-26T14:30:00+0400",
        "2023-09-26T14:30:00",
        "2263-01-01T00:00:00Z",
        "0393-08-10T10:36:04.4-12:39",
        "+2023-09-26T14:30:00Z",
        "2023-09-26T14:30:00Z ",
        "",
    ];
    for at in instants {
        let documented = schema_accepts("/components/schemas/Instant", &json!(at));
        let encoded = percent_encoded(at);
        let response = app
            .get(
                &format!("/api/v1/stats/summary?as_of={encoded}"),
                Some(token),
            )
            .await;
        let taken = response.status == 200;
        assert_eq!(
            taken, documented,
            "as_of={at:?}: openapi.yaml says {documented}, the server answered {} {}",
            response.status, response.text
        );
    }

    let center = app.center("GORIS").await;
    let days = [
        "1975-03-01",
        "2000-02-29",
        "2020-02-29",
        "1900-02-29",
        "1975-02-29",
        "1975-04-31",
        "1975-3-1",
        "+1975-03-01",
        "19750301",
        "1975-03-01T00:00:00Z",
        "0001-01-01",
        "1899-12-31",
    ];
    for day in days {
        let documented = schema_accepts("/components/schemas/Day", &json!(day));
        let mut body = household(&center, 1);
        body["members"][0]["birth_date"] = json!(day);
        body["members"][0]
            .as_object_mut()
            .unwrap()
            .remove("estimated_age");
        let response = app.post("/api/v1/households", Some(token), &body).await;
        let taken = response.status == 201;
        assert_eq!(
            taken, documented,
            "birth_date={day:?}: openapi.yaml says {documented}, the server answered {} {}",
            response.status, response.text
        );
    }
}

/// Percent-encodes a query value (`+` and `:` included).
fn percent_encoded(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
