//! Border flow counts: recording, reading, listing, the no-double-counting
//! rule (also under concurrency), idempotent retries, and corrections.

use futures_util::future::join_all;
use refuge::flows::{self, Direction, NewFlowCount};
use reqwest::Method;
use serde_json::{json, Value};

use crate::backend_tests;
use crate::helpers::{Response, TestApp};

backend_tests!(
    flow_counts_are_recorded_read_and_listed_a_page_at_a_time,
    invalid_counts_name_every_offending_field_and_write_nothing,
    overlapping_windows_of_one_center_and_direction_are_refused,
    concurrent_overlapping_counts_record_exactly_one,
    retried_counts_with_one_key_record_one_count,
    a_client_chosen_id_makes_retries_safe_and_cannot_take_another_counts_id,
    reusing_a_key_for_another_count_is_refused,
    corrections_need_the_current_version_and_a_reason_and_are_kept,
    a_corrected_window_must_not_overlap_another_count,
    crossings_are_summed_once_their_window_closes,
);

/// A valid count of 12 people entering at `center` from `start` for one hour
/// (`start` is an RFC 3339 instant).
pub fn count_body(center: &str, start: &str) -> Value {
    let start = chrono::DateTime::parse_from_rfc3339(start).unwrap();
    let end = start + chrono::TimeDelta::hours(1);
    json!({
        "center_id": center,
        "window_start": start.to_rfc3339(),
        "window_end": end.to_rfc3339(),
        "direction": "in",
        "people": 12,
        "vehicles": 3,
        "by_sex_age": [
            {"sex": "female", "age_band": "18-59", "people": 5},
            {"sex": "male", "age_band": "18-59", "people": 4},
            {"sex": "female", "age_band": "0-4", "people": 2},
            {"sex": "unknown", "age_band": "unknown", "people": 1}
        ]
    })
}

async fn post_count(app: &TestApp, body: &Value, key: Option<&str>) -> Response {
    let headers: Vec<(&str, &str)> = key
        .map(|k| vec![("idempotency-key", k)])
        .unwrap_or_default();
    app.send(
        Method::POST,
        "/api/v1/flow-counts",
        Some(app.admin()),
        Some(body.to_string().into_bytes()),
        &headers,
    )
    .await
}

async fn count_ids(app: &TestApp, query: &str) -> Vec<String> {
    let page = app
        .get(&format!("/api/v1/flow-counts?{query}"), Some(app.admin()))
        .await;
    assert_eq!(page.status, 200, "{}", page.text);
    page.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap().to_string())
        .collect()
}

async fn flow_counts_are_recorded_read_and_listed_a_page_at_a_time(app: TestApp) {
    let agarak = app.center("AGARAK").await;
    let kornidzor = app.center("KORNIDZOR").await;
    let created = post_count(
        &app,
        &count_body(&kornidzor, "2023-09-26T14:00:00+04:00"),
        None,
    )
    .await;
    assert_eq!(created.status, 201, "{}", created.text);
    assert_eq!(created.header("etag"), Some("\"1\""));
    let id = created.body["id"].as_str().unwrap().to_string();
    assert_eq!(
        created.header("location"),
        Some(format!("/api/v1/flow-counts/{id}").as_str())
    );
    assert_eq!(created.body["window_start"], "2023-09-26T10:00:00Z");
    assert_eq!(created.body["window_end"], "2023-09-26T11:00:00Z");
    assert_eq!(created.body["direction"], "in");
    assert_eq!(created.body["people"], 12);
    assert_eq!(created.body["vehicles"], 3);
    assert_eq!(created.body["by_sex_age"][3]["age_band"], "unknown");
    assert_eq!(created.body["version"], 1);

    let read = app
        .get(&format!("/api/v1/flow-counts/{id}"), Some(app.admin()))
        .await;
    assert_eq!(read.status, 200);
    assert_eq!(read.header("etag"), Some("\"1\""));
    assert_eq!(
        read.body, created.body,
        "a read returns what recording returned"
    );
    let missing = app
        .get(
            &format!("/api/v1/flow-counts/{}", uuid::Uuid::new_v4()),
            Some(app.admin()),
        )
        .await;
    assert_eq!(missing.status, 404);

    // Empty vehicles cross too; no breakdown; leaving rather than entering.
    let mut cars = count_body(&kornidzor, "2023-09-26T15:00:00+04:00");
    cars["people"] = json!(0);
    cars["vehicles"] = json!(7);
    cars["by_sex_age"] = Value::Null;
    cars["direction"] = json!("out");
    let cars = post_count(&app, &cars, None).await;
    assert_eq!(cars.status, 201, "{}", cars.text);
    assert_eq!(cars.body["by_sex_age"], Value::Null);

    let mut expected = vec![(
        created.body["window_start"].as_str().unwrap().to_string(),
        id.clone(),
    )];
    expected.push((
        cars.body["window_start"].as_str().unwrap().to_string(),
        cars.body["id"].as_str().unwrap().to_string(),
    ));
    for (center, start) in [
        (&agarak, "2023-09-25T09:00:00Z"),
        (&agarak, "2023-09-26T10:00:00Z"),
        (&kornidzor, "2023-09-24T23:30:00Z"),
    ] {
        let mut body = count_body(center, start);
        body["vehicles"] = Value::Null;
        let response = post_count(&app, &body, None).await;
        assert_eq!(response.status, 201, "{}", response.text);
        assert_eq!(response.body["vehicles"], Value::Null);
        expected.push((
            response.body["window_start"].as_str().unwrap().to_string(),
            response.body["id"].as_str().unwrap().to_string(),
        ));
    }
    expected.sort();
    let expected: Vec<String> = expected.into_iter().map(|(_, id)| id).collect();

    let mut seen = Vec::new();
    let mut path = "/api/v1/flow-counts?limit=2".to_string();
    loop {
        let page = app.get(&path, Some(app.admin())).await;
        assert_eq!(page.status, 200, "{}", page.text);
        assert!(page.body["items"].as_array().unwrap().len() <= 2);
        seen.extend(
            page.body["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c["id"].as_str().unwrap().to_string()),
        );
        match page.body["next_cursor"].as_str() {
            Some(cursor) => path = format!("/api/v1/flow-counts?limit=2&cursor={cursor}"),
            None => break,
        }
    }
    assert_eq!(seen, expected, "every count once, by window start");

    assert_eq!(
        count_ids(&app, &format!("center_id={agarak}")).await.len(),
        2
    );
    assert_eq!(
        count_ids(&app, "direction=out").await,
        [cars.body["id"].as_str().unwrap()]
    );
    assert_eq!(count_ids(&app, "direction=in").await.len(), 4);
    // from/to select windows overlapping [from, to): one ending exactly at
    // `from`, or starting exactly at `to`, is outside.
    assert_eq!(
        count_ids(&app, "from=2023-09-26T11:00:00Z").await,
        [cars.body["id"].as_str().unwrap()],
        "windows ending after 11:00"
    );
    assert_eq!(
        count_ids(&app, "to=2023-09-26T10:00:00%2B00:00")
            .await
            .len(),
        2,
        "windows starting before 10:00"
    );
    assert_eq!(
        count_ids(
            &app,
            "from=2023-09-26T10:30:00Z&to=2023-09-26T10:45:00Z&direction=in"
        )
        .await
        .len(),
        2
    );

    for (query, field) in [
        ("limit=0", "limit"),
        ("limit=501", "limit"),
        ("direction=sideways", "direction"),
        ("from=yesterday", "from"),
        ("center_id=AGARAK", "center_id"),
        ("cursor=abc", "cursor"),
        ("colour=red", "colour"),
    ] {
        let bad = app
            .get(&format!("/api/v1/flow-counts?{query}"), Some(app.admin()))
            .await;
        assert_eq!(bad.status, 400, "{query}: {}", bad.text);
        assert!(
            bad.error_fields()
                .iter()
                .any(|f| f == field || f.starts_with(field)),
            "{query}: expected an error on {field}, got {:?}",
            bad.error_fields()
        );
    }
}

/// One invalid change to an otherwise valid count, and the field it must be reported on.
fn invalid_cases(center: &str) -> Vec<(&'static str, Value, &'static str)> {
    let base = count_body(center, "2023-09-26T10:00:00Z");
    let with = |pairs: &[(&str, Value)]| {
        let mut body = base.clone();
        for (pointer, value) in pairs {
            let (parent, key) = pointer.rsplit_once('/').unwrap();
            match body.pointer_mut(parent).unwrap() {
                Value::Object(object) => {
                    object.insert(key.to_string(), value.clone());
                }
                Value::Array(array) => array[key.parse::<usize>().unwrap()] = value.clone(),
                _ => unreachable!(),
            }
        }
        body
    };
    let mut unknown_field = base.clone();
    unknown_field["crossing"] = json!("Agarak");
    let mut no_people = base.clone();
    no_people.as_object_mut().unwrap().remove("people");
    vec![
        (
            "end before start",
            with(&[("/window_end", json!("2023-09-26T09:00:00Z"))]),
            "window_end",
        ),
        (
            "empty window",
            with(&[("/window_end", json!("2023-09-26T10:00:00Z"))]),
            "window_end",
        ),
        (
            "window over 7 days",
            with(&[("/window_end", json!("2023-10-03T10:00:01Z"))]),
            "window_end",
        ),
        (
            "window ends in the future",
            with(&[
                ("/window_start", json!("2099-01-01T00:00:00Z")),
                ("/window_end", json!("2099-01-01T01:00:00Z")),
            ]),
            "window_end",
        ),
        (
            "window starts before 1990",
            with(&[
                ("/window_start", json!("1989-12-31T23:00:00Z")),
                ("/window_end", json!("1990-01-01T01:00:00Z")),
            ]),
            "window_start",
        ),
        (
            "window without offset",
            with(&[("/window_start", json!("2023-09-26 10:00"))]),
            "window_start",
        ),
        ("negative people", with(&[("/people", json!(-1))]), "people"),
        (
            "people as text",
            with(&[("/people", json!("12"))]),
            "people",
        ),
        ("people missing", no_people, ""),
        (
            "negative vehicles",
            with(&[("/vehicles", json!(-2))]),
            "vehicles",
        ),
        (
            "unknown direction",
            with(&[("/direction", json!("across"))]),
            "direction",
        ),
        (
            "breakdown does not add up",
            with(&[("/by_sex_age/0/people", json!(6))]),
            "by_sex_age",
        ),
        (
            "sex and age band twice",
            with(&[(
                "/by_sex_age/1",
                json!({"sex": "female", "age_band": "18-59", "people": 4}),
            )]),
            "by_sex_age[1]",
        ),
        (
            "negative breakdown entry",
            with(&[
                ("/by_sex_age/0/people", json!(-1)),
                ("/by_sex_age/1/people", json!(10)),
            ]),
            "by_sex_age[0].people",
        ),
        (
            "unknown sex",
            with(&[("/by_sex_age/0/sex", json!("f"))]),
            "by_sex_age[0].sex",
        ),
        (
            "unknown age band",
            with(&[("/by_sex_age/2/age_band", json!("0-5"))]),
            "by_sex_age[2].age_band",
        ),
        ("unknown field", unknown_field, ""),
        (
            "unknown center",
            with(&[("/center_id", json!(uuid::Uuid::new_v4().to_string()))]),
            "center_id",
        ),
        (
            "center not a uuid",
            with(&[("/center_id", json!("AGARAK"))]),
            "center_id",
        ),
    ]
}

async fn invalid_counts_name_every_offending_field_and_write_nothing(app: TestApp) {
    let center = app.center("AGARAK").await;
    for (case, body, field) in invalid_cases(&center) {
        let response = post_count(&app, &body, None).await;
        assert_eq!(response.status, 422, "{case}: {}", response.text);
        assert_eq!(
            response.header("content-type"),
            Some("application/problem+json"),
            "{case}"
        );
        assert_eq!(response.body["code"], "validation-failed", "{case}");
        assert!(
            response.error_fields().iter().any(|f| f.starts_with(field)),
            "{case}: expected an error on {field}, got {:?}",
            response.error_fields()
        );
    }
    // Every broken rule is reported at once.
    let mut many = count_body(&center, "1989-12-31T23:30:00Z");
    many["window_end"] = json!("1989-12-31T23:00:00Z");
    many["people"] = json!(-1);
    many["vehicles"] = json!(-1);
    many["by_sex_age"][1]["sex"] = json!("female");
    let response = post_count(&app, &many, None).await;
    assert_eq!(response.status, 422);
    let mut fields = response.error_fields();
    fields.sort();
    assert_eq!(
        fields,
        [
            "by_sex_age",
            "by_sex_age[1]",
            "people",
            "vehicles",
            "window_end",
            "window_start"
        ],
        "{}",
        response.text
    );
    assert!(count_ids(&app, "").await.is_empty(), "nothing was written");

    // Limits are inclusive: a window of exactly 7 days, ending now, is fine.
    let end = chrono::Utc::now();
    let mut week = count_body(&center, "2023-09-26T10:00:00Z");
    week["window_start"] = json!((end - chrono::TimeDelta::days(7)).to_rfc3339());
    week["window_end"] = json!(end.to_rfc3339());
    let response = post_count(&app, &week, None).await;
    assert_eq!(response.status, 201, "{}", response.text);
}

async fn overlapping_windows_of_one_center_and_direction_are_refused(app: TestApp) {
    let agarak = app.center("AGARAK").await;
    let kornidzor = app.center("KORNIDZOR").await;
    let first = post_count(&app, &count_body(&agarak, "2023-09-26T10:00:00Z"), None).await;
    assert_eq!(first.status, 201);
    let first_id = first.body["id"].as_str().unwrap().to_string();

    let window = |start: &str, end: &str| {
        let mut body = count_body(&agarak, "2023-09-26T10:00:00Z");
        body["window_start"] = json!(start);
        body["window_end"] = json!(end);
        body
    };
    for (case, body) in [
        (
            "later half",
            window("2023-09-26T10:30:00Z", "2023-09-26T11:30:00Z"),
        ),
        (
            "earlier half",
            window("2023-09-26T09:30:00Z", "2023-09-26T10:00:00.000001Z"),
        ),
        (
            "inside",
            window("2023-09-26T10:15:00Z", "2023-09-26T10:45:00Z"),
        ),
        (
            "around",
            window("2023-09-26T08:00:00Z", "2023-09-26T12:00:00Z"),
        ),
        (
            "same",
            window("2023-09-26T10:00:00Z", "2023-09-26T11:00:00Z"),
        ),
        (
            "same, other offset",
            window("2023-09-26T14:00:00+04:00", "2023-09-26T15:00:00+04:00"),
        ),
    ] {
        let response = post_count(&app, &body, None).await;
        assert_eq!(response.status, 409, "{case}: {}", response.text);
        assert_eq!(response.body["code"], "flow-window-overlap", "{case}");
        let detail = response.body["detail"].as_str().unwrap();
        assert!(detail.contains(&first_id), "{case}: {detail}");
        assert!(detail.contains("2023-09-26T10:00:00Z"), "{case}: {detail}");
    }
    assert_eq!(count_ids(&app, "").await, [first_id.as_str()]);

    // Touching windows, the other direction, another center: all fine.
    let mut allowed = vec![
        window("2023-09-26T11:00:00Z", "2023-09-26T12:00:00Z"),
        window("2023-09-26T09:00:00Z", "2023-09-26T10:00:00Z"),
    ];
    let mut out = count_body(&agarak, "2023-09-26T10:00:00Z");
    out["direction"] = json!("out");
    allowed.push(out);
    allowed.push(count_body(&kornidzor, "2023-09-26T10:00:00Z"));
    for body in &allowed {
        let response = post_count(&app, body, None).await;
        assert_eq!(response.status, 201, "{body}: {}", response.text);
    }
    assert_eq!(count_ids(&app, "").await.len(), 5);
    // The gap-filling window between two touching counts still overlaps both.
    let response = post_count(
        &app,
        &window("2023-09-26T09:59:59Z", "2023-09-26T11:00:01Z"),
        None,
    )
    .await;
    assert_eq!(response.status, 409);
}

async fn concurrent_overlapping_counts_record_exactly_one(app: TestApp) {
    let center = app.center("AGARAK").await;
    // Ten staff members count the same hour (shifted by a few minutes each):
    // every pair overlaps, so exactly one may be recorded.
    let bodies: Vec<Value> = (0..10)
        .map(|i| {
            let mut body = count_body(&center, &format!("2023-09-26T10:{:02}:00Z", i * 3));
            body["people"] = json!(100 + i);
            body["by_sex_age"] = Value::Null;
            body
        })
        .collect();
    let responses = join_all(bodies.iter().map(|body| post_count(&app, body, None))).await;
    let created = responses.iter().filter(|r| r.status == 201).count();
    let refused = responses
        .iter()
        .filter(|r| r.status == 409 && r.body["code"] == "flow-window-overlap")
        .count();
    assert_eq!(
        (created, refused),
        (1, 9),
        "{:?}",
        responses.iter().map(|r| r.status).collect::<Vec<_>>()
    );
    assert_eq!(count_ids(&app, "").await.len(), 1);

    // The same again, for another hour, in another direction: one more each.
    let outs: Vec<Value> = bodies
        .iter()
        .map(|body| {
            let mut body = body.clone();
            body["direction"] = json!("out");
            body
        })
        .collect();
    let responses = join_all(outs.iter().map(|body| post_count(&app, body, None))).await;
    assert_eq!(responses.iter().filter(|r| r.status == 201).count(), 1);
    assert_eq!(count_ids(&app, "").await.len(), 2);

    // A second server process on the same PostgreSQL database races the first.
    let Some(second_address) = app.second_server().await else {
        return;
    };
    let client = reqwest::Client::new();
    let statuses = join_all(bodies.iter().enumerate().map(|(i, body)| {
        let mut body = body.clone();
        body["window_start"] = json!(format!("2023-09-27T10:{:02}:00Z", i * 3));
        body["window_end"] = json!(format!("2023-09-27T11:{:02}:00Z", i * 3));
        let address = if i % 2 == 0 {
            &app.address
        } else {
            &second_address
        };
        let request = client
            .post(format!("{address}/api/v1/flow-counts"))
            .bearer_auth(app.admin())
            .json(&body);
        async move { request.send().await.unwrap().status().as_u16() }
    }))
    .await;
    assert_eq!(
        (
            statuses.iter().filter(|s| **s == 201).count(),
            statuses.iter().filter(|s| **s == 409).count()
        ),
        (1, 9),
        "{statuses:?}"
    );
    assert_eq!(count_ids(&app, "").await.len(), 3);
}

async fn retried_counts_with_one_key_record_one_count(app: TestApp) {
    let center = app.center("AGARAK").await;
    let body = count_body(&center, "2023-09-26T10:00:00Z");
    let first = post_count(&app, &body, Some("crossing-7-0001")).await;
    assert_eq!(first.status, 201, "{}", first.text);
    assert_eq!(first.header("idempotent-replayed"), None);
    // Whitespace and key order do not make another request.
    let reordered: Value =
        serde_json::from_str(&serde_json::to_string_pretty(&body).unwrap()).unwrap();
    let retry = post_count(&app, &reordered, Some("crossing-7-0001")).await;
    assert_eq!(retry.status, 201, "{}", retry.text);
    assert_eq!(retry.text, first.text, "the retry gets the original body");
    assert_eq!(retry.header("idempotent-replayed"), Some("true"));
    assert_eq!(retry.header("location"), first.header("location"));
    assert_eq!(retry.header("etag"), Some("\"1\""));
    assert_eq!(count_ids(&app, "").await.len(), 1);

    // Concurrent retries of one request: one count, one original response.
    let body = count_body(&center, "2023-09-26T12:00:00Z");
    let responses =
        join_all((0..8).map(|_| post_count(&app, &body, Some("crossing-7-0002")))).await;
    for response in &responses {
        assert_eq!(response.status, 201, "{}", response.text);
        assert_eq!(response.body["id"], responses[0].body["id"]);
    }
    assert_eq!(
        responses
            .iter()
            .filter(|r| r.header("idempotent-replayed").is_none())
            .count(),
        1
    );
    assert_eq!(count_ids(&app, "").await.len(), 2);
}

async fn a_client_chosen_id_makes_retries_safe_and_cannot_take_another_counts_id(app: TestApp) {
    let center = app.center("AGARAK").await;
    let id = uuid::Uuid::new_v4().to_string();
    let mut body = count_body(&center, "2023-09-26T10:00:00Z");
    body["id"] = json!(id);
    let responses = join_all((0..6).map(|_| post_count(&app, &body, None))).await;
    for response in &responses {
        assert_eq!(response.status, 201, "{}", response.text);
        assert_eq!(response.body["id"], id);
    }
    assert_eq!(
        responses
            .iter()
            .filter(|r| r.header("idempotent-replayed").is_none())
            .count(),
        1
    );
    let retry = post_count(&app, &body, None).await;
    assert_eq!(retry.status, 201);
    assert_eq!(retry.header("idempotent-replayed"), Some("true"));
    assert_eq!(count_ids(&app, "").await, [id.as_str()]);

    // Same id, another count: refused as a reused key.
    let mut changed = body.clone();
    changed["people"] = json!(13);
    changed["by_sex_age"] = Value::Null;
    let reused = post_count(&app, &changed, None).await;
    assert_eq!(reused.status, 422, "{}", reused.text);
    assert_eq!(reused.body["code"], "idempotency-key-reused");

    // The id of a count recorded without a client id is taken.
    let other = post_count(&app, &count_body(&center, "2023-09-27T10:00:00Z"), None).await;
    assert_eq!(other.status, 201);
    let mut taken = count_body(&center, "2023-09-28T10:00:00Z");
    taken["id"] = other.body["id"].clone();
    let conflict = post_count(&app, &taken, None).await;
    assert_eq!(conflict.status, 409, "{}", conflict.text);
    assert_eq!(conflict.body["code"], "flow-count-exists");
    assert_eq!(count_ids(&app, "").await.len(), 2);
}

async fn reusing_a_key_for_another_count_is_refused(app: TestApp) {
    let center = app.center("AGARAK").await;
    let first = post_count(
        &app,
        &count_body(&center, "2023-09-26T10:00:00Z"),
        Some("k1"),
    )
    .await;
    assert_eq!(first.status, 201);
    // Another window under the same key: refused, and nothing recorded.
    let other = post_count(
        &app,
        &count_body(&center, "2023-09-26T12:00:00Z"),
        Some("k1"),
    )
    .await;
    assert_eq!(other.status, 422, "{}", other.text);
    assert_eq!(other.body["code"], "idempotency-key-reused");
    // Also when the other request would have overlapped.
    let mut overlapping = count_body(&center, "2023-09-26T10:00:00Z");
    overlapping["people"] = json!(13);
    overlapping["by_sex_age"] = Value::Null;
    let overlapping = post_count(&app, &overlapping, Some("k1")).await;
    assert_eq!(overlapping.status, 422);
    let bad_key = post_count(&app, &count_body(&center, "2023-09-26T14:00:00Z"), Some("")).await;
    assert_eq!(bad_key.status, 400);
    assert_eq!(count_ids(&app, "").await.len(), 1);
}

async fn corrections_need_the_current_version_and_a_reason_and_are_kept(app: TestApp) {
    let center = app.center("AGARAK").await;
    let created = post_count(&app, &count_body(&center, "2023-09-26T10:00:00Z"), None).await;
    let id = created.body["id"].as_str().unwrap().to_string();
    let path = format!("/api/v1/flow-counts/{id}");
    let history = format!("{path}/corrections");
    let empty = app.get(&history, Some(app.admin())).await;
    assert_eq!(empty.status, 200);
    assert_eq!(empty.body["items"], json!([]));

    let correction = json!({
        "reason": "tally sheet re-read: two more children",
        "people": 14,
        "vehicles": null,
        "window_end": "2023-09-26T11:30:00Z",
        "by_sex_age": [
            {"sex": "female", "age_band": "18-59", "people": 5},
            {"sex": "male", "age_band": "18-59", "people": 4},
            {"sex": "female", "age_band": "0-4", "people": 2},
            {"sex": "male", "age_band": "5-11", "people": 2},
            {"sex": "unknown", "age_band": "unknown", "people": 1}
        ]
    });
    let unconditional = app.patch(&path, Some(app.admin()), &correction, None).await;
    assert_eq!(unconditional.status, 428);
    let stale = app
        .patch(&path, Some(app.admin()), &correction, Some("\"7\""))
        .await;
    assert_eq!(stale.status, 412);
    assert_eq!(stale.header("etag"), Some("\"1\""));
    let mut no_reason = correction.clone();
    no_reason.as_object_mut().unwrap().remove("reason");
    let mut blank_reason = correction.clone();
    blank_reason["reason"] = json!("   ");
    let mut long_reason = correction.clone();
    long_reason["reason"] = json!("x".repeat(501));
    let mut wrong_sum = correction.clone();
    wrong_sum["people"] = json!(15);
    let mut reversed = correction.clone();
    reversed["window_start"] = json!("2023-09-26T12:00:00Z");
    let mut direction = correction.clone();
    direction["direction"] = json!("out");
    for (case, body, field) in [
        ("no reason", no_reason, "reason"),
        ("blank reason", blank_reason, "reason"),
        ("reason over 500 characters", long_reason, "reason"),
        ("breakdown does not add up", wrong_sum, "by_sex_age"),
        ("window ends before it starts", reversed, "window_end"),
        ("direction cannot change", direction, ""),
    ] {
        let response = app
            .patch(&path, Some(app.admin()), &body, Some("\"1\""))
            .await;
        assert_eq!(response.status, 422, "{case}: {}", response.text);
        assert!(
            response.error_fields().iter().any(|f| f.starts_with(field)),
            "{case}: expected an error on {field}, got {:?}",
            response.error_fields()
        );
    }
    let mut reason_500 = correction.clone();
    reason_500["reason"] = json!("ա".repeat(500));
    assert_eq!(
        app.get(&path, Some(app.admin())).await.body,
        created.body,
        "nothing changed"
    );

    let corrected = app
        .patch(&path, Some(app.admin()), &reason_500, Some("\"1\""))
        .await;
    assert_eq!(corrected.status, 200, "{}", corrected.text);
    assert_eq!(corrected.header("etag"), Some("\"2\""));
    assert_eq!(corrected.body["version"], 2);
    assert_eq!(corrected.body["people"], 14);
    assert_eq!(corrected.body["vehicles"], Value::Null);
    assert_eq!(corrected.body["window_start"], "2023-09-26T10:00:00Z");
    assert_eq!(corrected.body["window_end"], "2023-09-26T11:30:00Z");
    assert_eq!(corrected.body["created_at"], created.body["created_at"]);
    assert_eq!(app.get(&path, Some(app.admin())).await.body, corrected.body);
    // The same correction against the old version is now stale.
    let replayed = app
        .patch(&path, Some(app.admin()), &correction, Some("\"1\""))
        .await;
    assert_eq!(replayed.status, 412);
    assert_eq!(replayed.header("etag"), Some("\"2\""));

    let second = app
        .patch(
            &path,
            Some(app.admin()),
            &json!({"reason": "breakdown was a guess", "by_sex_age": null, "vehicles": 4}),
            Some("\"2\""),
        )
        .await;
    assert_eq!(second.status, 200, "{}", second.text);
    assert_eq!(second.body["by_sex_age"], Value::Null);
    assert_eq!(second.body["vehicles"], 4);
    assert_eq!(second.body["people"], 14);

    let me = app.get("/api/v1/me", Some(app.admin())).await;
    let kept = app.get(&history, Some(app.admin())).await;
    assert_eq!(kept.status, 200, "{}", kept.text);
    let items = kept.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 2, "{}", kept.text);
    assert_eq!(items[0]["version"], 2);
    assert_eq!(items[0]["reason"], reason_500["reason"]);
    assert_eq!(
        items[0]["previous"], created.body,
        "the state before the first correction"
    );
    assert_eq!(items[0]["corrected_by"], me.body["id"]);
    assert_eq!(items[1]["version"], 3);
    assert_eq!(items[1]["reason"], "breakdown was a guess");
    assert_eq!(items[1]["previous"], corrected.body);

    let missing = format!("/api/v1/flow-counts/{}", uuid::Uuid::new_v4());
    let not_found = app
        .patch(
            &missing,
            Some(app.admin()),
            &json!({"reason": "x"}),
            Some("\"1\""),
        )
        .await;
    assert_eq!(not_found.status, 404);
    assert_eq!(
        app.get(&format!("{missing}/corrections"), Some(app.admin()))
            .await
            .status,
        404
    );
}

async fn a_corrected_window_must_not_overlap_another_count(app: TestApp) {
    let center = app.center("AGARAK").await;
    let morning = post_count(&app, &count_body(&center, "2023-09-26T09:00:00Z"), None).await;
    let later = post_count(&app, &count_body(&center, "2023-09-26T11:00:00Z"), None).await;
    let morning_id = morning.body["id"].as_str().unwrap().to_string();
    let later_path = format!("/api/v1/flow-counts/{}", later.body["id"].as_str().unwrap());

    let onto_morning = json!({"reason": "clock was wrong", "window_start": "2023-09-26T09:30:00Z"});
    let refused = app
        .patch(&later_path, Some(app.admin()), &onto_morning, Some("\"1\""))
        .await;
    assert_eq!(refused.status, 409, "{}", refused.text);
    assert_eq!(refused.body["code"], "flow-window-overlap");
    assert!(refused.body["detail"]
        .as_str()
        .unwrap()
        .contains(&morning_id));
    assert_eq!(
        app.get(&later_path, Some(app.admin())).await.body,
        later.body
    );
    assert_eq!(
        app.get(&format!("{later_path}/corrections"), Some(app.admin()))
            .await
            .body["items"],
        json!([]),
        "a refused correction leaves no history"
    );

    // Moving within its own window, or up to the neighbour, is fine.
    let touching = json!({"reason": "clock was wrong", "window_start": "2023-09-26T10:00:00Z"});
    let moved = app
        .patch(&later_path, Some(app.admin()), &touching, Some("\"1\""))
        .await;
    assert_eq!(moved.status, 200, "{}", moved.text);
    let shrunk = json!({"reason": "closed early", "window_end": "2023-09-26T11:30:00Z"});
    let shrunk = app
        .patch(&later_path, Some(app.admin()), &shrunk, Some("\"2\""))
        .await;
    assert_eq!(shrunk.status, 200, "{}", shrunk.text);
    assert_eq!(shrunk.body["window_start"], "2023-09-26T10:00:00Z");
}

/// The domain functions other modules use, without HTTP.
async fn crossings_are_summed_once_their_window_closes(app: TestApp) {
    let agarak = app.center("AGARAK").await;
    let kornidzor = app.center("KORNIDZOR").await;
    let admin: uuid::Uuid = app.get("/api/v1/me", Some(app.admin())).await.body["id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let mut out = count_body(&agarak, "2023-09-26T12:00:00Z");
    out["direction"] = json!("out");
    out["people"] = json!(1000);
    out["by_sex_age"] = Value::Null;
    assert_eq!(post_count(&app, &out, None).await.status, 201);
    let agarak: uuid::Uuid = agarak.parse().unwrap();
    let kornidzor: uuid::Uuid = kornidzor.parse().unwrap();
    app.with_db(move |conn| {
        use diesel::Connection;
        let at = |text: &str| refuge::http::time::Timestamp::parse(text).unwrap();
        let new = |center, start: &str, end: &str, people, vehicles| NewFlowCount {
            id: None,
            center_id: center,
            window_start: at(start),
            window_end: at(end),
            direction: Direction::In,
            people,
            vehicles,
            by_sex_age: None,
        };
        let counts = [
            new(
                agarak,
                "2023-09-26T08:00:00Z",
                "2023-09-26T09:00:00Z",
                10,
                Some(2),
            ),
            new(
                agarak,
                "2023-09-26T09:00:00Z",
                "2023-09-26T10:00:00Z",
                20,
                None,
            ),
            new(
                kornidzor,
                "2023-09-26T08:30:00Z",
                "2023-09-26T09:30:00Z",
                5,
                Some(1),
            ),
        ];
        for count in counts.clone() {
            flows::validate(&count, chrono::Utc::now()).unwrap();
            conn.transaction(|c| flows::record(c, count, admin))
                .unwrap();
        }
        // The domain function refuses double counting too, and writes nothing.
        let again = conn.transaction(|c| flows::record(c, counts[0].clone(), admin));
        assert!(
            matches!(
                &again,
                Err(refuge::error::ApiError::Conflict {
                    code: "flow-window-overlap",
                    ..
                })
            ),
            "{again:?}"
        );
        // validate uses the clock it is given.
        let early_clock = at("2023-09-26T09:00:00Z").to_utc();
        assert!(flows::validate(&counts[1], early_clock).is_err());
        assert!(flows::validate(&counts[0], early_clock).is_ok());

        let as_of = |text: &str| at(text).naive_utc();
        let mut crossed = |center, text: &str| {
            flows::crossed_as_of(conn, center, Direction::In, as_of(text)).unwrap()
        };
        assert_eq!(crossed(None, "2023-09-26T08:59:59Z"), (0, 0));
        assert_eq!(
            crossed(None, "2023-09-26T09:00:00Z"),
            (10, 2),
            "closed at 09:00"
        );
        assert_eq!(crossed(None, "2023-09-26T09:45:00Z"), (15, 3));
        assert_eq!(crossed(None, "2023-09-26T10:00:00Z"), (35, 3));
        assert_eq!(crossed(Some(agarak), "2023-09-27T00:00:00Z"), (30, 2));
        assert_eq!(crossed(Some(kornidzor), "2023-09-27T00:00:00Z"), (5, 1));
        let out = flows::crossed_as_of(conn, None, Direction::Out, as_of("2023-09-27T00:00:00Z"))
            .unwrap();
        assert_eq!(out, (1000, 3));
    })
    .await;
    assert_eq!(count_ids(&app, "direction=in").await.len(), 3);
}
