//! Duplicates: the same person registered at two centers, in two scripts,
//! with day and month swapped, is proposed at the second registration;
//! a `same_person` decision makes the statistics count one person and the
//! entitlements one share, and undoing it restores both.

use std::collections::HashMap;

use diesel::prelude::*;
use refuge::accounts::Role;
use refuge::schema::{derived_versions, person_match_keys};
use reqwest::Method;
use serde_json::{json, Value};

use crate::backend_tests;
use crate::helpers::{Response, TestApp};

backend_tests!(
    the_same_person_registered_twice_is_proposed_merged_and_restored,
    a_pair_decided_distinct_is_not_proposed_again_and_decisions_are_checked,
    the_matching_index_follows_corrections_and_other_servers
);

fn ani(center: &str, given: &str, family: &str, born: &str) -> Value {
    json!({
        "center_id": center,
        "arrived_at": "2023-09-26T14:30:00+04:00",
        "origin_settlement": "Ստեփանակերտ",
        "members": [{"given_name": given, "family_name": family, "sex": "female",
                     "relationship": "head", "birth_date": born}]
    })
}

async fn decide(app: &TestApp, token: &str, id: &str, version: i64, decision: &str) -> Response {
    let body = json!({"decision": decision, "reason": "same passport photo and parents' names"});
    app.send(
        Method::POST,
        &format!("/api/v1/duplicates/{id}/decision"),
        Some(token),
        Some(body.to_string().into_bytes()),
        &[
            ("content-type", "application/json"),
            ("if-match", &format!("\"{version}\"")),
        ],
    )
    .await
}

async fn registered(app: &TestApp, as_of: Option<&str>) -> i64 {
    let path = match as_of {
        Some(t) => format!(
            "/api/v1/stats/summary?suppress=false&as_of={}",
            t.replace('+', "%2B")
        ),
        None => "/api/v1/stats/summary?suppress=false".to_string(),
    };
    let summary = app.get(&path, Some(app.admin())).await;
    assert_eq!(summary.status, 200, "{}", summary.text);
    summary.body["registered"]["persons"].as_i64().unwrap()
}

/// `reviews.csv` as `token` pulls it: no names in it.
async fn reviews_csv(app: &TestApp, token: &str) -> Vec<HashMap<String, String>> {
    let (text, rows) = app.reviews_report(token).await;
    for name in ["Ani", "Անի", "Hovhannisyan"] {
        assert!(!text.contains(name), "{text}");
    }
    rows
}

async fn aggregates_match_a_recount(app: &TestApp) {
    let (stored, expected) = app.aggregates_and_recount().await;
    assert_eq!(stored.differing_rows(&expected), 0, "stats verify");
}

async fn the_same_person_registered_twice_is_proposed_merged_and_restored(app: TestApp) {
    let kornidzor = app.center("KORNIDZOR").await;
    let goris = app.center("GORIS").await;
    let first = app
        .register(&ani(&kornidzor, "Անի", "Հովհաննիսյան", "1985-03-02"))
        .await;
    assert_eq!(first["possible_duplicates"], json!([]));
    let first_person = first["members"][0]["id"].as_str().unwrap().to_string();

    // At Goris, in Latin script, day and month swapped, by Goris's registrar:
    // proposed, with the center code and score but no names from Kornidzor.
    let registrar = app.user("reg.goris", Role::Registrar, &["GORIS"]).await;
    let second = app
        .post(
            "/api/v1/households",
            Some(&registrar),
            &ani(&goris, "Ani", "Hovhannisyan", "1985-02-03"),
        )
        .await;
    assert_eq!(second.status, 201, "{}", second.text);
    let proposed = second.body["possible_duplicates"].as_array().unwrap();
    assert_eq!(proposed.len(), 1, "{}", second.text);
    let record = &proposed[0]["record"];
    assert_eq!(record["center_code"], "KORNIDZOR");
    assert_eq!(record["person_id"], first_person.as_str());
    assert!(record.get("given_name").is_none(), "{record}");
    assert!(proposed[0]["score"].as_f64().unwrap() >= 11.0);
    let birth = proposed[0]["matched_fields"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["field"] == "birth")
        .unwrap();
    assert_eq!(birth["agreement"], "day_month_swapped");
    let pair = proposed[0]["duplicate_id"].as_str().unwrap().to_string();
    let second_household = second.body["id"].as_str().unwrap().to_string();
    let second_person = second.body["members"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();

    // Admins see both records side by side; the queue lists the pair.
    let queue = app
        .get("/api/v1/duplicates?status=pending", Some(app.admin()))
        .await;
    assert_eq!(queue.status, 200, "{}", queue.text);
    assert_eq!(queue.body["items"].as_array().unwrap().len(), 1);
    let view = app
        .get(&format!("/api/v1/duplicates/{pair}"), Some(app.admin()))
        .await;
    assert_eq!(view.status, 200, "{}", view.text);
    assert_eq!(view.header("etag"), Some("\"1\""));
    let names: Vec<&str> = view.body["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["given_name"].as_str().unwrap())
        .collect();
    assert!(
        names.contains(&"Անի") && names.contains(&"Ani"),
        "{names:?}"
    );
    // Goris's registrar sees their own record, not Kornidzor's.
    let theirs = app
        .get(&format!("/api/v1/duplicates/{pair}"), Some(&registrar))
        .await;
    assert_eq!(theirs.status, 200, "{}", theirs.text);
    for r in theirs.body["records"].as_array().unwrap() {
        assert_eq!(r["visible"], r["center_code"] == "GORIS", "{r}");
        assert_eq!(r.get("given_name").is_some(), r["center_code"] == "GORIS");
    }

    // The Queues page's CSV lists the pair, without names or person ids.
    let reviews = reviews_csv(&app, app.admin()).await;
    assert_eq!(reviews.len(), 1, "{reviews:?}");
    let row = &reviews[0];
    assert_eq!(
        (
            row["queue"].as_str(),
            row["id"].as_str(),
            row["status"].as_str()
        ),
        ("duplicate", pair.as_str(), "pending")
    );
    let mut centers = [
        row["center_code"].as_str(),
        row["matched_center_code"].as_str(),
    ];
    centers.sort_unstable();
    assert_eq!(centers, ["GORIS", "KORNIDZOR"]);
    assert_eq!(row["decided_at"], "");
    assert_eq!(reviews_csv(&app, &registrar).await.len(), 1);
    let analyst = app.user("analyst", Role::Analyst, &[]).await;
    let refused = app.get("/api/v1/reports/reviews.csv", Some(&analyst)).await;
    assert_eq!(refused.status, 403, "{}", refused.text);

    // Cash: 100,000 AMD per person, once. Paid at Goris before the merge.
    let unhcr = app
        .post(
            "/api/v1/organizations",
            Some(app.admin()),
            &json!({"code": "UNHCR", "name": "UNHCR", "kind": "un_agency"}),
        )
        .await
        .id();
    let cash = app
        .post(
            "/api/v1/items",
            Some(app.admin()),
            &json!({"code": "CASH-AMD", "name": "Cash", "unit": "amd", "sector": "cash"}),
        )
        .await
        .id();
    for center in [&kornidzor, &goris] {
        let received = app
            .post(
                "/api/v1/stock/receipts",
                Some(app.admin()),
                &json!({"center_id": center, "item_id": cash, "quantity": 1_000_000,
                        "organization_id": unhcr, "received_at": "2023-09-25T10:00:00+04:00"}),
            )
            .await;
        assert_eq!(received.status, 201, "{}", received.text);
    }
    let rule = app
        .post(
            "/api/v1/entitlements",
            Some(app.admin()),
            &json!({"item_id": cash, "basis": "person", "quantity": 100000}),
        )
        .await;
    assert_eq!(rule.status, 201, "{}", rule.text);
    let pay = |household: &str, center: &str| {
        json!({"household_id": household, "center_id": center, "item_id": cash,
               "organization_id": unhcr, "distributed_at": "2023-09-27T12:00:00+04:00"})
    };
    let paid = app
        .post(
            "/api/v1/distributions",
            Some(app.admin()),
            &pay(&second_household, &goris),
        )
        .await;
    assert_eq!(paid.status, 201, "{}", paid.text);

    assert_eq!(registered(&app, None).await, 2);
    let before_merge = chrono::Utc::now().to_rfc3339();
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;

    // The decision needs If-Match and a registrar of one of the centers.
    let no_if_match = app
        .post(
            &format!("/api/v1/duplicates/{pair}/decision"),
            Some(&registrar),
            &json!({"decision": "same_person", "reason": "same person"}),
        )
        .await;
    assert_eq!(no_if_match.status, 428, "{}", no_if_match.text);
    app.center("KAPAN").await;
    let elsewhere = app.user("reg.kapan", Role::Registrar, &["KAPAN"]).await;
    assert_eq!(
        decide(&app, &elsewhere, &pair, 1, "same_person")
            .await
            .status,
        403
    );
    let merged = decide(&app, &registrar, &pair, 1, "same_person").await;
    assert_eq!(merged.status, 200, "{}", merged.text);
    assert_eq!(merged.body["status"], "same_person");
    // The later record (Goris) is merged into the earlier (Kornidzor).
    assert_eq!(merged.body["merged_person_id"], second_person.as_str());
    assert_eq!(merged.header("etag"), Some("\"2\""));
    assert_eq!(
        decide(&app, &registrar, &pair, 1, "distinct").await.status,
        412
    );
    let again = decide(&app, &registrar, &pair, 2, "distinct").await;
    assert_eq!(again.status, 409);
    assert_eq!(again.body["code"], "already-decided");
    let reviews = reviews_csv(&app, app.admin()).await;
    assert_eq!(reviews[0]["status"], "same_person");
    assert_ne!(reviews[0]["decided_at"], "");
    assert!(reviews_csv(&app, &elsewhere).await.is_empty());

    // A start that rebuilds stale match keys keys the merged record too:
    // undoing the merge needs them.
    app.with_db(|conn| diesel::delete(derived_versions::table).execute(conn))
        .await
        .unwrap();
    app.migrate_as_at_start().await;
    let person = second_person.clone();
    let keys = app
        .with_db(move |conn| {
            person_match_keys::table
                .filter(person_match_keys::person_id.eq(person))
                .count()
                .get_result::<i64>(conn)
        })
        .await
        .unwrap();
    assert!(
        keys > 0,
        "the merged record has no match keys after a rebuild"
    );

    // One person now; as of before the merge, still two.
    assert_eq!(registered(&app, None).await, 1);
    assert_eq!(registered(&app, Some(&before_merge)).await, 2);
    aggregates_match_a_recount(&app).await;
    let household = app
        .get(
            &format!("/api/v1/households/{second_household}"),
            Some(app.admin()),
        )
        .await;
    assert_eq!(household.body["duplicate"], true);
    assert_eq!(
        household.body["members"][0]["merged_into"],
        first_person.as_str()
    );

    // A second cash payment, at Kornidzor, is refused: what the Goris
    // record received counts.
    let first_household = first["id"].as_str().unwrap();
    let twice = app
        .post(
            "/api/v1/distributions",
            Some(app.admin()),
            &pay(first_household, &kornidzor),
        )
        .await;
    assert_eq!(twice.status, 409, "{}", twice.text);
    assert_eq!(twice.body["code"], "entitlement-exceeded");
    assert_eq!(twice.body["entitlement"]["received"], 100000);
    // The person's aid history follows the merge.
    let history = app
        .get(
            &format!("/api/v1/households/{first_household}/assistance"),
            Some(app.admin()),
        )
        .await;
    assert_eq!(history.status, 200, "{}", history.text);
    assert_eq!(history.body["merged_households"], json!([second_household]));
    assert_eq!(
        history.body["distributions"][0]["household_id"],
        second_household.as_str(),
        "{}",
        history.text
    );

    // Undone: both records count again, and Kornidzor's record may be paid.
    let undone = decide(&app, &registrar, &pair, 2, "undo").await;
    assert_eq!(undone.status, 200, "{}", undone.text);
    assert_eq!(undone.body["status"], "pending");
    assert_eq!(undone.body["merged_person_id"], Value::Null);
    assert_eq!(registered(&app, None).await, 2);
    aggregates_match_a_recount(&app).await;
    let household = app
        .get(
            &format!("/api/v1/households/{second_household}"),
            Some(app.admin()),
        )
        .await;
    assert_eq!(household.body["duplicate"], false);
    let paid = app
        .post(
            "/api/v1/distributions",
            Some(app.admin()),
            &pay(first_household, &kornidzor),
        )
        .await;
    assert_eq!(paid.status, 201, "{}", paid.text);

    // Every view and decision is in the audit trail.
    for action in [
        "duplicate.propose",
        "duplicate.read",
        "duplicate.list",
        "duplicate.decide",
    ] {
        let trail = app
            .get(&format!("/api/v1/audit?action={action}"), Some(app.admin()))
            .await;
        assert_eq!(trail.status, 200, "{}", trail.text);
        assert!(
            !trail.body["items"].as_array().unwrap().is_empty(),
            "{action}: {}",
            trail.text
        );
    }
    let access = app
        .get(
            &format!("/api/v1/persons/{first_person}/access"),
            Some(app.admin()),
        )
        .await;
    assert!(access.text.contains("duplicate.decide"), "{}", access.text);
    assert!(access.text.contains("report.export"), "{}", access.text);
}

async fn a_pair_decided_distinct_is_not_proposed_again_and_decisions_are_checked(app: TestApp) {
    let goris = app.center("GORIS").await;
    app.register(&ani(&goris, "Ani", "Hovhannisyan", "1985-03-02"))
        .await;
    let twin = app
        .register(&ani(&goris, "Ани", "Оганесян", "1985-03-02"))
        .await;
    let pair = twin["possible_duplicates"][0]["duplicate_id"]
        .as_str()
        .unwrap()
        .to_string();
    let analyst = app.user("analyst", Role::Analyst, &[]).await;
    assert_eq!(
        app.get("/api/v1/duplicates", Some(&analyst)).await.status,
        403
    );
    assert_eq!(
        decide(&app, app.admin(), &pair, 1, "undo").await.body["code"],
        "not-decided"
    );
    let bad = app
        .send(
            Method::POST,
            &format!("/api/v1/duplicates/{pair}/decision"),
            Some(app.admin()),
            Some(
                json!({"decision": "maybe", "reason": " "})
                    .to_string()
                    .into_bytes(),
            ),
            &[("content-type", "application/json"), ("if-match", "\"1\"")],
        )
        .await;
    assert_eq!(bad.status, 422, "{}", bad.text);
    let distinct = decide(&app, app.admin(), &pair, 1, "distinct").await;
    assert_eq!(distinct.status, 200, "{}", distinct.text);
    assert_eq!(distinct.body["status"], "distinct");

    // Proposed again by a scan or a re-registration of the same records:
    // the stored decision stands.
    let twin_person: uuid::Uuid = twin["members"][0]["id"].as_str().unwrap().parse().unwrap();
    let reproposed = app
        .with_db(move |conn| {
            let records = refuge::matching::keys::stored_records(conn, |q| {
                use diesel::prelude::*;
                q.filter(refuge::schema::persons::id.ne(twin_person.to_string()))
            })
            .unwrap();
            let score = refuge::matching::Score {
                total: 20.0,
                fields: vec![],
            };
            let proposals: Vec<_> = records
                .iter()
                .map(|record| refuge::duplicates::Proposal {
                    person: twin_person,
                    center: record.center_id,
                    record,
                    score: &score,
                })
                .collect();
            refuge::duplicates::propose(conn, &proposals, &refuge::auth::CenterScope::All).unwrap()
        })
        .await;
    assert!(reproposed.is_empty(), "{reproposed:?}");
    let pending = app
        .get("/api/v1/duplicates?status=pending", Some(app.admin()))
        .await;
    assert_eq!(pending.body["items"], json!([]));
}

/// Waits until the server at `base` has loaded its matching index.
async fn index_loaded(app: &TestApp, base: &str) {
    for _ in 0..200 {
        let ready = app
            .send_to(base, Method::GET, "/readyz", None, None, &[])
            .await;
        assert_eq!(ready.status, 200, "{}", ready.text);
        if ready.body["matching_index"] == "ready" {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("the matching index of {base} did not load");
}

/// The persons a registration's 201 proposes as possible duplicates,
/// sorted.
fn proposed(registered: &Value) -> Vec<String> {
    let mut ids: Vec<String> = registered["possible_duplicates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["record"]["person_id"].as_str().unwrap().to_string())
        .collect();
    ids.sort_unstable();
    ids
}

/// Registers `body` (as admin) at the server at `base`; returns the 201's body.
async fn register_at(app: &TestApp, base: &str, body: &Value) -> Value {
    let response = app
        .send_to(
            base,
            Method::POST,
            "/api/v1/households",
            Some(app.admin()),
            Some(body.to_string().into_bytes()),
            &[],
        )
        .await;
    assert_eq!(response.status, 201, "{}", response.text);
    response.body
}

/// Registrations are matched through each process's index in memory; the
/// index follows what changed in the database whoever changed it (the
/// `match_changes` log): a correction here, a registration by another API
/// process on the same PostgreSQL.
async fn the_matching_index_follows_corrections_and_other_servers(app: TestApp) {
    let kornidzor = app.center("KORNIDZOR").await;
    let goris = app.center("GORIS").await;
    index_loaded(&app, &app.address).await;

    // Registered with another birth date, then corrected to hers: the
    // index holds her as corrected, so the next registration finds her.
    let first = app
        .register(&ani(&kornidzor, "Անի", "Հովհաննիսյան", "1990-07-14"))
        .await;
    let household = first["id"].as_str().unwrap().to_string();
    let member = first["members"][0]["id"].as_str().unwrap().to_string();
    let latin = app
        .register(&ani(&goris, "Ani", "Hovhannisyan", "1985-02-03"))
        .await;
    assert_eq!(proposed(&latin), Vec::<String>::new(), "{latin}");
    let corrected = app
        .patch(
            &format!("/api/v1/households/{household}"),
            Some(app.admin()),
            &json!({"members": [{"id": member, "birth_date": "1985-03-02"}]}),
            Some("\"1\""),
        )
        .await;
    assert_eq!(corrected.status, 200, "{}", corrected.text);
    let again = app
        .register(&ani(&goris, "Ani", "Hovhannisyan", "1985-02-03"))
        .await;
    assert!(proposed(&again).contains(&member), "{again}");

    // Another API process on the same database (PostgreSQL only): what it
    // registers is found here, and the other way round.
    let Some(second) = app.second_server().await else {
        return;
    };
    index_loaded(&app, &second).await;
    let there = register_at(
        &app,
        &second,
        &ani(&kornidzor, "Նարինե", "Պետրոսյան", "1979-11-05"),
    )
    .await;
    let narine = there["members"][0]["id"].as_str().unwrap().to_string();
    let here = app
        .register(&ani(&goris, "Narine", "Petrosyan", "1979-11-05"))
        .await;
    assert_eq!(proposed(&here), vec![narine.clone()], "{here}");
    let here_person = here["members"][0]["id"].as_str().unwrap().to_string();
    let back = register_at(
        &app,
        &second,
        &ani(&goris, "Нарине", "Петросян", "1979-11-05"),
    )
    .await;
    let mut expected = vec![narine, here_person];
    expected.sort_unstable();
    assert_eq!(proposed(&back), expected, "{back}");
}
