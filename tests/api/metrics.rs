//! `GET /metrics`: the named series, after the work they count; readable
//! with the metrics token only; and no path, id or name in them.

use std::collections::HashMap;

use reqwest::Method;
use secrecy::SecretString;

use crate::backend_tests;
use crate::helpers::{household, Backend, TestApp, METRICS_TOKEN};
use crate::imports::{csv_file, upload};

backend_tests!(metrics_count_the_work_and_name_no_one);

/// The samples of a scrape: `name{labels}` → value.
fn samples(text: &str) -> HashMap<String, f64> {
    text.lines()
        .filter(|line| !line.starts_with('#') && !line.is_empty())
        .map(|line| {
            let (series, value) = line.rsplit_once(' ').expect("a sample line");
            (series.to_string(), value.parse().expect("a number"))
        })
        .collect()
}

fn value(samples: &HashMap<String, f64>, series: &str) -> f64 {
    *samples
        .get(series)
        .unwrap_or_else(|| panic!("no series {series} in the scrape"))
}

/// Whether `text` holds anything shaped like a UUID.
fn has_uuid(text: &str) -> bool {
    let bytes = text.as_bytes();
    bytes.windows(36).any(|w| {
        w.iter().enumerate().all(|(i, b)| match i {
            8 | 13 | 18 | 23 => *b == b'-',
            _ => b.is_ascii_hexdigit(),
        })
    })
}

async fn metrics_count_the_work_and_name_no_one(app: TestApp) {
    let admin = app.admin().to_string();
    // Nobody reads them without the metrics token: not even an admin.
    for token in [
        None,
        Some(admin.as_str()),
        Some("not-the-metrics-token-at-all"),
    ] {
        let refused = app.get("/metrics", token).await;
        assert_eq!(refused.status, 401, "token {token:?}");
        assert_eq!(refused.body["code"], "unauthorized");
    }

    // Work of every kind the metrics count.
    let center = app.center("GORIS").await;
    let registered = app.register(&household(&center, 3)).await;
    let household_id = registered["id"].as_str().unwrap().to_string();
    let read = app
        .get(&format!("/api/v1/households/{household_id}"), Some(&admin))
        .await;
    assert_eq!(read.status, 200);
    let names: Vec<String> = read.body["members"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|m| [m["given_name"].clone(), m["family_name"].clone()])
        .map(|n| n.as_str().unwrap().to_string())
        .collect();
    let file = csv_file("GORIS", 3);
    let imported = upload(&app, &admin, &file, false).await;
    assert_eq!(imported.status, 201, "{}", imported.text);
    let report = app
        .get("/api/v1/reports/registrations.csv", Some(&admin))
        .await;
    assert_eq!(report.status, 200);

    let scrape = app.get("/metrics", Some(METRICS_TOKEN)).await;
    assert_eq!(scrape.status, 200, "{}", scrape.text);
    assert_eq!(
        scrape.header("content-type"),
        Some("text/plain; version=0.0.4")
    );
    let s = samples(&scrape.text);
    // Several test servers share the process (and its metrics), so counts
    // are at least this test's own.
    let created =
        r#"refuge_http_requests_total{method="POST",route="/api/v1/households",status="201"}"#;
    assert!(value(&s, created) >= 1.0);
    let bucket = r#"refuge_http_request_duration_seconds_bucket{method="GET",route="/api/v1/households/{id}",le="+Inf"}"#;
    assert!(value(&s, bucket) >= 1.0);
    assert!(value(&s, "refuge_db_writer_queue_depth") >= 0.0);
    assert!(value(&s, "refuge_db_writer_group_size_count") >= 1.0);
    assert!(value(&s, r#"refuge_db_writer_groups_total{outcome="committed"}"#) >= 1.0);
    assert!(value(&s, "refuge_db_writer_group_duration_seconds_count") >= 1.0);
    let pools: &[&str] = match app.backend {
        Backend::Sqlite => &["read", "write"],
        Backend::Postgres => &["all"],
    };
    for pool in pools {
        assert!(
            value(
                &s,
                &format!(r#"refuge_db_pool_connections{{pool="{pool}"}}"#)
            ) >= 1.0
        );
        assert!(
            value(
                &s,
                &format!(r#"refuge_db_pool_connections_in_use{{pool="{pool}"}}"#)
            ) >= 0.0
        );
        assert!(
            value(
                &s,
                &format!(r#"refuge_db_pool_wait_seconds_count{{pool="{pool}"}}"#)
            ) >= 1.0
        );
    }
    assert!(value(&s, "refuge_imports_running") >= 0.0);
    let validated = value(&s, r#"refuge_import_bytes_read_total{pass="validating"}"#);
    assert!(
        validated >= file.len() as f64,
        "{validated} < {}",
        file.len()
    );
    assert!(value(&s, r#"refuge_import_bytes_read_total{pass="writing"}"#) >= 1.0);
    assert!(value(&s, r#"refuge_import_households_total{outcome="created"}"#) >= 3.0);
    assert!(value(&s, r#"refuge_exports_running{report="registrations"}"#) >= 0.0);
    // 3 registered and 12 imported persons, one row each.
    assert!(value(&s, r#"refuge_export_rows_total{report="registrations"}"#) >= 15.0);
    assert!(value(&s, "refuge_audit_write_lag_seconds_count") >= 1.0);
    assert!(value(&s, "refuge_audit_events_written_total") >= 1.0);
    assert!(value(&s, "process_resident_memory_bytes") > 0.0);

    // Route templates only: no id, no name, no query.
    assert!(!has_uuid(&scrape.text), "an id in the metrics");
    for name in &names {
        assert!(
            !scrape.text.contains(name.as_str()),
            "{name} in the metrics"
        );
    }
    assert!(!scrape.text.contains('?'));

    // Without a token configured, metrics are off (and a request without
    // a token is still refused as such).
    if app.backend == Backend::Sqlite {
        let off = TestApp::spawn_with(Backend::Sqlite, |settings| {
            settings.metrics.token = SecretString::from(String::new());
        })
        .await
        .unwrap();
        let response = off
            .send(Method::GET, "/metrics", Some(METRICS_TOKEN), None, &[])
            .await;
        assert_eq!(response.status, 404);
        assert_eq!(off.get("/metrics", None).await.status, 401);
    }
}
