//! Instants and dates outside the years the service accepts (1900 to 2100)
//! are refused with 422 naming the field, wherever they are sent: in a query
//! string, in a body, in a report's period. Before, a far-future bound
//! crashed the statistics.

use serde_json::json;

use crate::backend_tests;
use crate::helpers::{household, TestApp};

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
