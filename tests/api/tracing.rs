//! Family tracing: a mother registered at Kornidzor looks for her son; the
//! boy, registered later at Goris under a Latin spelling, is proposed; only
//! after Goris confirms does Kornidzor see where he is. Requests are
//! checked, closed and reopened; imports answer them too.

use refuge::accounts::Role;
use serde_json::{json, Value};

use crate::backend_tests;
use crate::helpers::{Response, TestApp};
use crate::imports::{upload, HEADER};

backend_tests!(
    a_child_registered_later_elsewhere_is_proposed_and_contact_follows_confirmation,
    requests_are_checked_matched_at_opening_closed_reopened_and_answered_by_imports
);

fn one(center: &str, given: &str, family: &str, sex: &str, age: i64, extra: Value) -> Value {
    let mut member = json!({"given_name": given, "family_name": family, "sex": sex,
                            "relationship": "head", "estimated_age": age});
    for (k, v) in extra.as_object().unwrap() {
        member[k] = v.clone();
    }
    json!({
        "center_id": center,
        "arrived_at": "2023-09-27T10:00:00+04:00",
        "origin_settlement": "Stepanakert",
        "members": [member]
    })
}

fn seeking_narek(enquirer: &str) -> Value {
    json!({
        "enquirer_id": enquirer,
        "relationship": "child",
        "sought": {"given_name": "Նարեկ", "family_name": "Պետրոսյան", "sex": "male",
                   "approximate_age": 9, "origin_settlement": "Ստեփանակերտ"},
        "last_seen_place": "Lachin road, near the Hakari bridge",
        "last_seen_on": "2023-09-25"
    })
}

async fn review(
    app: &TestApp,
    token: &str,
    request: &str,
    found: &str,
    status: &str,
    version: Option<&str>,
) -> Response {
    app.patch(
        &format!("/api/v1/tracing-requests/{request}/matches/{found}"),
        Some(token),
        &json!({"status": status, "reason": "the boy named his mother and his school"}),
        version,
    )
    .await
}

async fn matches(app: &TestApp, token: &str, request: &str) -> Response {
    app.get(
        &format!("/api/v1/tracing-requests/{request}/matches"),
        Some(token),
    )
    .await
}

async fn listed(app: &TestApp, token: &str, query: &str) -> Vec<String> {
    let list = app
        .get(&format!("/api/v1/tracing-requests?{query}"), Some(token))
        .await;
    assert_eq!(list.status, 200, "{}", list.text);
    list.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_string())
        .collect()
}

async fn a_child_registered_later_elsewhere_is_proposed_and_contact_follows_confirmation(
    app: TestApp,
) {
    let kornidzor = app.center("KORNIDZOR").await;
    let goris = app.center("GORIS").await;
    let vayk = app.center("VAYK").await;
    let desk = "Goris hub, tracing desk: +374 284 2 21 00";
    let contact = app
        .patch(
            &format!("/api/v1/centers/{goris}"),
            Some(app.admin()),
            &json!({"contact": desk}),
            None,
        )
        .await;
    assert_eq!(contact.status, 200, "{}", contact.text);
    let at_kornidzor = app
        .user("reg.kornidzor", Role::Registrar, &["KORNIDZOR"])
        .await;
    let at_goris = app.user("reg.goris", Role::Registrar, &["GORIS"]).await;
    let at_vayk = app.user("reg.vayk", Role::Registrar, &["VAYK"]).await;

    // The mother, registered at Kornidzor, opens a request for her son.
    let mother = app
        .register(&one(
            &kornidzor,
            "Մարիամ",
            "Պետրոսյան",
            "female",
            34,
            json!({}),
        ))
        .await;
    let mother_id = mother["members"][0]["id"].as_str().unwrap().to_string();
    let opened = app
        .post(
            "/api/v1/tracing-requests",
            Some(&at_kornidzor),
            &seeking_narek(&mother_id),
        )
        .await;
    assert_eq!(opened.status, 201, "{}", opened.text);
    assert_eq!(opened.body["matches"]["proposed"], 0);
    assert_eq!(opened.header("etag"), Some("\"1\""));
    let request = opened.id();
    assert_eq!(
        opened.header("location"),
        Some(format!("/api/v1/tracing-requests/{request}").as_str())
    );
    // Another center's registrar may not open requests for Kornidzor's people.
    let elsewhere = app
        .post(
            "/api/v1/tracing-requests",
            Some(&at_goris),
            &seeking_narek(&mother_id),
        )
        .await;
    assert_eq!(elsewhere.status, 403, "{}", elsewhere.text);

    // A boy of the same name and age at Vayk who did not consent, and a man
    // of that name at Goris, are never proposed.
    let unconsenting = app
        .register(&one(&vayk, "Narek", "Petrosyan", "male", 9, json!({})))
        .await;
    app.register(&one(
        &goris,
        "Narek",
        "Petrosyan",
        "male",
        41,
        json!({"tracing_consent": true}),
    ))
    .await;
    // The boy, registered later at Goris as an unaccompanied child.
    let boy = app
        .post(
            "/api/v1/households",
            Some(&at_goris),
            &one(
                &goris,
                "Narek",
                "Petrosyan",
                "male",
                9,
                json!({"needs": ["SC-UC"]}),
            ),
        )
        .await;
    assert_eq!(boy.status, 201, "{}", boy.text);
    let boy_id = boy.body["members"][0]["id"].as_str().unwrap().to_string();
    let boy_household = boy.body["id"].as_str().unwrap().to_string();

    // Kornidzor sees that the request needs attention, and the match in
    // minimal fields: no record id, no contact.
    assert_eq!(
        listed(&app, &at_kornidzor, "has_new_matches=true").await,
        vec![request.clone()]
    );
    let seen = matches(&app, &at_kornidzor, &request).await;
    assert_eq!(seen.status, 200, "{}", seen.text);
    let items = seen.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{}", seen.text);
    let found = &items[0];
    assert_eq!(found["given_name"], "Narek");
    assert_eq!(found["family_name"], "Petrosyan");
    assert_eq!(found["age_band"], "5-11");
    assert_eq!(found["center_code"], "GORIS");
    assert_eq!(found["status"], "proposed");
    assert!(found["score"].as_f64().unwrap() >= 6.0, "{found}");
    assert!(found.get("person_id").is_none(), "{found}");
    assert!(found.get("contact").is_none(), "{found}");
    let found_id = found["id"].as_str().unwrap().to_string();

    // Vayk has nothing to do with it.
    let outsider = matches(&app, &at_vayk, &request).await;
    assert_eq!(outsider.status, 403, "{}", outsider.text);
    let outsider = app
        .get(
            &format!("/api/v1/tracing-requests/{request}"),
            Some(&at_vayk),
        )
        .await;
    assert_eq!(outsider.status, 403, "{}", outsider.text);
    assert!(listed(&app, &at_vayk, "").await.is_empty());

    // The Queues page's CSV: the match, with the request and both centers,
    // no names; nothing of it for Vayk.
    let (text, rows) = app.reviews_report(&at_kornidzor).await;
    let row = rows
        .iter()
        .find(|r| r["queue"] == "tracing_match")
        .unwrap_or_else(|| panic!("{text}"));
    assert_eq!(row["id"], found_id);
    assert_eq!(row["tracing_request_id"], request);
    assert_eq!(row["status"], "proposed");
    assert_eq!(
        (
            row["center_code"].as_str(),
            row["matched_center_code"].as_str()
        ),
        ("KORNIDZOR", "GORIS")
    );
    assert!(!text.contains("Narek") && !text.contains(&boy_id), "{text}");
    let (_, rows) = app.reviews_report(&at_vayk).await;
    assert!(
        rows.iter().all(|r| r["queue"] != "tracing_match"),
        "{rows:?}"
    );

    // Only Goris, who can ask the boy, confirms; with If-Match.
    let premature = review(
        &app,
        &at_kornidzor,
        &request,
        &found_id,
        "confirmed",
        Some("\"1\""),
    )
    .await;
    assert_eq!(premature.status, 403, "{}", premature.text);
    assert_eq!(
        listed(&app, &at_goris, "has_new_matches=true").await,
        vec![request.clone()]
    );
    let theirs = matches(&app, &at_goris, &request).await;
    assert_eq!(theirs.body["items"][0]["person_id"], boy_id.as_str());
    let blind = review(&app, &at_goris, &request, &found_id, "confirmed", None).await;
    assert_eq!(blind.status, 428, "{}", blind.text);
    let stale = review(
        &app,
        &at_goris,
        &request,
        &found_id,
        "confirmed",
        Some("\"7\""),
    )
    .await;
    assert_eq!(stale.status, 412, "{}", stale.text);
    let confirmed = review(
        &app,
        &at_goris,
        &request,
        &found_id,
        "confirmed",
        Some("\"1\""),
    )
    .await;
    assert_eq!(confirmed.status, 200, "{}", confirmed.text);
    assert_eq!(confirmed.body["status"], "confirmed");
    assert_eq!(confirmed.header("etag"), Some("\"2\""));
    let again = review(
        &app,
        &at_goris,
        &request,
        &found_id,
        "confirmed",
        Some("\"2\""),
    )
    .await;
    assert_eq!(again.status, 409, "{}", again.text);

    // Now Kornidzor sees where the boy is, and whom to call.
    let seen = matches(&app, &at_kornidzor, &request).await;
    let contact = &seen.body["items"][0]["contact"];
    assert_eq!(
        contact["household_id"],
        boy_household.as_str(),
        "{}",
        seen.text
    );
    assert_eq!(contact["center"]["code"], "GORIS");
    assert_eq!(contact["center"]["contact"], desk);
    // Vayk still sees nothing; the request needs no more attention.
    assert_eq!(matches(&app, &at_vayk, &request).await.status, 403);
    assert!(listed(&app, &at_kornidzor, "has_new_matches=true")
        .await
        .is_empty());
    assert_eq!(
        listed(&app, &at_kornidzor, "has_new_matches=false").await,
        vec![request.clone()]
    );
    let one_match = app
        .get(
            &format!("/api/v1/tracing-requests/{request}/matches/{found_id}"),
            Some(&at_kornidzor),
        )
        .await;
    assert_eq!(one_match.status, 200, "{}", one_match.text);
    assert_eq!(one_match.body["contact"]["center"]["code"], "GORIS");

    // Every view and decision is in the audit trail, and the boy's record
    // shows who saw him.
    for action in [
        "tracing.create",
        "tracing.list",
        "tracing.matches",
        "tracing.match.read",
        "tracing.review",
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
            &format!("/api/v1/persons/{boy_id}/access"),
            Some(app.admin()),
        )
        .await;
    assert!(access.text.contains("tracing.matches"), "{}", access.text);
    assert!(access.text.contains("tracing.review"), "{}", access.text);

    // The boy at Vayk consents later: the correction answers the request.
    let corrected = app
        .patch(
            &format!("/api/v1/households/{}", unconsenting["id"].as_str().unwrap()),
            Some(app.admin()),
            &json!({"members": [{"id": unconsenting["members"][0]["id"], "tracing_consent": true}]}),
            Some("\"1\""),
        )
        .await;
    assert_eq!(corrected.status, 200, "{}", corrected.text);
    assert_eq!(corrected.body["members"][0]["tracing_consent"], true);
    assert_eq!(
        listed(&app, &at_vayk, "has_new_matches=true").await,
        vec![request.clone()]
    );
}

async fn requests_are_checked_matched_at_opening_closed_reopened_and_answered_by_imports(
    app: TestApp,
) {
    let goris = app.center("GORIS").await;
    let parakar = app.center("PARAKAR").await;
    // A grandmother at Goris, registered with a granddaughter named Ani.
    let family = app
        .register(&json!({
            "center_id": goris,
            "arrived_at": "2023-09-28T09:00:00+04:00",
            "origin_settlement": "Martakert",
            "members": [
                {"given_name": "Սիրանուշ", "family_name": "Ավանեսյան", "sex": "female",
                 "relationship": "head", "estimated_age": 67},
                {"given_name": "Անի", "family_name": "Ավանեսյան", "sex": "female",
                 "relationship": "grandchild", "estimated_age": 12, "tracing_consent": true}
            ]
        }))
        .await;
    let grandmother = family["members"][0]["id"].as_str().unwrap().to_string();
    // Her other granddaughter Ani, 12, already registered at Parakar with
    // consent (in Russian spelling).
    let cousin = app
        .register(&one(
            &parakar,
            "Ани",
            "Аванесян",
            "female",
            12,
            json!({"tracing_consent": true}),
        ))
        .await;
    let seeking_ani = |extra: Value| {
        let mut body = json!({
            "enquirer_id": grandmother,
            "relationship": "grandchild",
            "sought": {"given_name": "Ani", "family_name": "Avanesyan", "sex": "female",
                       "approximate_age": 12},
            "last_seen_on": "2023-09-26"
        });
        for (k, v) in extra.as_object().unwrap() {
            body[k] = v.clone();
        }
        body
    };

    // Bad requests are refused, naming the fields.
    for (body, field) in [
        (
            seeking_ani(json!({"enquirer_id": "018f7a2e-0000-7000-8000-000000000000"})),
            "enquirer_id",
        ),
        (
            seeking_ani(json!({"last_seen_on": "2999-01-01"})),
            "last_seen_on",
        ),
        (
            seeking_ani(
                json!({"sought": {"given_name": "Ani", "family_name": "Avanesyan",
                "sex": "female", "approximate_age": 12, "birth_date": "2011-05-05"}}),
            ),
            "sought.approximate_age",
        ),
        (
            seeking_ani(
                json!({"sought": {"given_name": " ", "family_name": "Avanesyan",
                "sex": "female"}}),
            ),
            "sought.given_name",
        ),
    ] {
        let refused = app
            .post("/api/v1/tracing-requests", Some(app.admin()), &body)
            .await;
        assert_eq!(refused.status, 422, "{}", refused.text);
        assert!(
            refused.error_fields().contains(&field.to_string()),
            "{field}: {}",
            refused.text
        );
    }
    let analyst = app.user("analyst", Role::Analyst, &[]).await;
    let list = app.get("/api/v1/tracing-requests", Some(&analyst)).await;
    assert_eq!(list.status, 403, "{}", list.text);

    // Matched at opening: the cousin at Parakar, never the granddaughter who
    // is in the grandmother's own household.
    let opened = app
        .post(
            "/api/v1/tracing-requests",
            Some(app.admin()),
            &seeking_ani(json!({})),
        )
        .await;
    assert_eq!(opened.status, 201, "{}", opened.text);
    let request = opened.id();
    assert_eq!(opened.body["matches"]["proposed"], 1, "{}", opened.text);
    let seen = matches(&app, app.admin(), &request).await;
    assert_eq!(
        seen.body["items"][0]["person_id"], cousin["members"][0]["id"],
        "{}",
        seen.text
    );
    let cousin_match = seen.body["items"][0]["id"].as_str().unwrap().to_string();

    // Closed: no longer matched, no confirmation; reopened: matched again.
    let path = format!("/api/v1/tracing-requests/{request}");
    let closed = app
        .patch(
            &path,
            Some(app.admin()),
            &json!({"status": "closed"}),
            Some("\"1\""),
        )
        .await;
    assert_eq!(closed.status, 200, "{}", closed.text);
    assert_eq!(closed.body["status"], "closed");
    assert_eq!(closed.header("etag"), Some("\"2\""));
    let unchanged = app
        .patch(
            &path,
            Some(app.admin()),
            &json!({"status": "closed"}),
            Some("\"2\""),
        )
        .await;
    assert_eq!(unchanged.status, 409, "{}", unchanged.text);
    let refused = review(
        &app,
        app.admin(),
        &request,
        &cousin_match,
        "confirmed",
        Some("\"1\""),
    )
    .await;
    assert_eq!(refused.status, 409, "{}", refused.text);
    assert_eq!(refused.body["code"], "request-closed", "{}", refused.text);
    app.register(&one(
        &parakar,
        "Ani",
        "Avanesian",
        "female",
        13,
        json!({"tracing_consent": true}),
    ))
    .await;
    let still = app.get(&path, Some(app.admin())).await;
    assert_eq!(still.body["matches"]["proposed"], 1, "{}", still.text);
    let reopened = app
        .patch(
            &path,
            Some(app.admin()),
            &json!({"status": "open"}),
            Some("\"2\""),
        )
        .await;
    assert_eq!(reopened.status, 200, "{}", reopened.text);
    assert_eq!(reopened.body["matches"]["proposed"], 2, "{}", reopened.text);

    // The enquirer's center may reject a match.
    let at_goris = app.user("reg.goris", Role::Registrar, &["GORIS"]).await;
    let rejected = review(
        &app,
        &at_goris,
        &request,
        &cousin_match,
        "rejected",
        Some("\"1\""),
    )
    .await;
    assert_eq!(rejected.status, 200, "{}", rejected.text);
    assert_eq!(rejected.body["status"], "rejected");

    // An import answers open requests as a registration does.
    let file = format!(
        "{HEADER},tracing_consent\nPAR-1,PARAKAR,2023-09-29 11:00,Martakert,,,Անի,Ավանեսյան,,,female,,11,head,,,,yes\n"
    );
    let imported = upload(&app, app.admin(), &file, false).await;
    assert_eq!(imported.status, 201, "{}", imported.text);
    let after = app.get(&path, Some(app.admin())).await;
    assert_eq!(after.body["matches"]["proposed"], 2, "{}", after.text);
    assert_eq!(after.body["matches"]["rejected"], 1, "{}", after.text);
    let statuses = matches(&app, app.admin(), &request).await;
    assert_eq!(statuses.body["items"].as_array().unwrap().len(), 3);
}
