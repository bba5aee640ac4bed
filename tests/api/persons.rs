use diesel::prelude::*;
use refuge::accounts::Role;
use refuge::schema::{derived_versions, person_name_keys, person_name_keys_recent};
use serde_json::json;

use crate::backend_tests;
use crate::helpers::{household, TestApp};

backend_tests!(
    persons_are_found_by_name_prefix_in_either_script,
    person_reads_are_scoped_to_centers,
    name_keys_follow_corrections_and_are_rebuilt_when_stale
);

fn names(response: &crate::helpers::Response) -> Vec<String> {
    let mut names: Vec<String> = response.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            format!(
                "{} {}",
                p["given_name"].as_str().unwrap(),
                p["family_name"].as_str().unwrap()
            )
        })
        .collect();
    names.sort();
    names
}

async fn persons_are_found_by_name_prefix_in_either_script(app: TestApp) {
    let center = app.center("GORIS").await;
    let mut first = household(&center, 2);
    first["members"][1]["name_latin"] = json!("Ani Hovhannisyan");
    app.post("/api/v1/households", Some(app.admin()), &first)
        .await;
    let mut second = household(&center, 1);
    second["members"][0]["given_name"] = json!("Գոհար");
    second["members"][0]["family_name"] = json!("Ղազարյան");
    second["members"][0]["birth_date"] = json!("1950-05-05");
    app.post("/api/v1/households", Some(app.admin()), &second)
        .await;

    let search = |query: &str| {
        let app = &app;
        let path = format!("/api/v1/persons?{query}");
        async move {
            let response = app.get(&path, Some(app.admin())).await;
            assert_eq!(response.status, 200, "{path}: {}", response.text);
            names(&response)
        }
    };
    let family = vec![
        "Անի Հովհաննիսյան".to_string(),
        "Արամ Հովհաննիսյան".to_string(),
    ];
    assert_eq!(
        search("name=%D5%80%D5%B8%D5%BE%D5%B0").await,
        family,
        "Հովհ (capital) finds by Armenian prefix"
    );
    assert_eq!(
        search("name=%D5%B0%D5%B8%D5%BE%D5%B0").await,
        family,
        "հովհ (lower case)"
    );
    assert_eq!(
        search("name=HOVH").await,
        family,
        "Latin transliteration, any case"
    );
    assert_eq!(
        search("name=%D5%A1%D5%B6%D5%AB+%D5%B0%D5%B8%D5%BE").await,
        vec!["Անի Հովհաննիսյան"],
        "two words: Անի Հով"
    );
    assert_eq!(search("name=ani+hov").await, vec!["Անի Հովհաննիսյան"]);
    assert_eq!(search("name=ghaz").await, vec!["Գոհար Ղազարյան"]);
    assert_eq!(
        search("birth_date=1950-05-05").await,
        vec!["Գոհար Ղազարյան"]
    );
    assert_eq!(
        search("name=hovh&birth_date=1950-05-05").await,
        Vec::<String>::new()
    );
    assert_eq!(search("name=zzz").await, Vec::<String>::new());
    assert_eq!(
        search("name=%25").await,
        Vec::<String>::new(),
        "LIKE wildcards are plain text"
    );

    let paged = app
        .get("/api/v1/persons?name=hovh&limit=1", Some(app.admin()))
        .await;
    let cursor = paged.body["next_cursor"].as_str().unwrap();
    let rest = app
        .get(
            &format!("/api/v1/persons?name=hovh&limit=1&cursor={cursor}"),
            Some(app.admin()),
        )
        .await;
    assert_eq!(rest.body["items"].as_array().unwrap().len(), 1);
    assert_ne!(rest.body["items"][0]["id"], paged.body["items"][0]["id"]);
    assert_eq!(rest.body["next_cursor"], serde_json::Value::Null);

    let no_criteria = app.get("/api/v1/persons", Some(app.admin())).await;
    assert_eq!(no_criteria.status, 400);
    assert_eq!(no_criteria.error_fields(), ["name"]);
    assert_eq!(
        app.get("/api/v1/persons?birth_date=1950-13-01", Some(app.admin()))
            .await
            .status,
        400
    );
}

async fn person_reads_are_scoped_to_centers(app: TestApp) {
    let goris = app.center("GORIS").await;
    let kapan = app.center("KAPAN").await;
    let at_goris = app
        .post(
            "/api/v1/households",
            Some(app.admin()),
            &household(&goris, 1),
        )
        .await;
    let mut other = household(&kapan, 1);
    other["members"][0]["given_name"] = json!("Արամ");
    app.post("/api/v1/households", Some(app.admin()), &other)
        .await;
    let person = at_goris.body["members"][0]["id"].as_str().unwrap();

    let goris_worker = app.user("worker", Role::AidWorker, &["GORIS"]).await;
    let kapan_registrar = app.user("kapan", Role::Registrar, &["KAPAN"]).await;
    let read = app
        .get(&format!("/api/v1/persons/{person}"), Some(&goris_worker))
        .await;
    assert_eq!(read.status, 200);
    assert_eq!(read.body["household_id"], at_goris.body["id"]);
    assert_eq!(read.body["center_id"], goris);
    assert_eq!(
        app.get(&format!("/api/v1/persons/{person}"), Some(&kapan_registrar))
            .await
            .status,
        403
    );
    let found = app
        .get(
            "/api/v1/persons?name=%D5%A1%D6%80%D5%A1%D5%B4",
            Some(&kapan_registrar),
        )
        .await;
    assert_eq!(
        found.body["items"].as_array().unwrap().len(),
        1,
        "only the Kapan Արամ"
    );
    assert_eq!(found.body["items"][0]["center_id"], kapan);
    assert_eq!(
        app.get(
            &format!("/api/v1/persons/{}", uuid::Uuid::new_v4()),
            Some(app.admin())
        )
        .await
        .status,
        404
    );
}

/// The name keys' rows in the large table and among the recent ones.
async fn key_rows(app: &TestApp) -> (i64, i64) {
    app.with_db(|conn| {
        let merged = person_name_keys::table.count().get_result(conn)?;
        let recent = person_name_keys_recent::table.count().get_result(conn)?;
        Ok::<_, diesel::result::Error>((merged, recent))
    })
    .await
    .unwrap()
}

/// Moves every recent name key into the large table, `per_write` rows per
/// transaction, as the server does once there are many; returns how many
/// transactions it took.
async fn merge_recent_keys(app: &TestApp, per_write: i64) -> usize {
    app.with_db(move |conn| refuge::persons::name_keys::merge_all_recent(conn, per_write))
        .await
        .unwrap()
}

/// The name keys are derived rows: written with a registration among the
/// recent ones and found there at once; found as well once moved into the
/// large table; a correction replaces a renamed person's keys wherever
/// they are; and keys derived differently (here: wiped and unrecorded, as
/// an upgrade from the earlier derivation leaves them) are rebuilt on start.
async fn name_keys_follow_corrections_and_are_rebuilt_when_stale(app: TestApp) {
    let center = app.center("GORIS").await;
    let created = app
        .post(
            "/api/v1/households",
            Some(app.admin()),
            &household(&center, 2),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    let found = |query: &'static str| {
        let app = &app;
        async move {
            let response = app
                .get(&format!("/api/v1/persons?{query}"), Some(app.admin()))
                .await;
            assert_eq!(response.status, 200, "{}", response.text);
            names(&response)
        }
    };
    assert_eq!(found("name=ani").await, vec!["Անի Հովհաննիսյան"]);
    assert_eq!(
        key_rows(&app).await,
        (0, 4),
        "aram, ani and hovhannisyan for each, among the recent keys"
    );
    // Moved 3 rows a transaction (the server moves 20,000): two ranges
    // of keys, then the rest.
    assert_eq!(merge_recent_keys(&app, 3).await, 2);
    assert_eq!(key_rows(&app).await, (4, 0));
    assert_eq!(found("name=ani").await, vec!["Անի Հովհաննիսյան"]);
    assert_eq!(
        found("name=hovh").await,
        vec!["Անի Հովհաննիսյան", "Արամ Հովհաննիսյան"]
    );

    // Անի becomes Անահիտ: found by the new name only.
    let path = format!(
        "/api/v1/households/{}",
        created.body["id"].as_str().unwrap()
    );
    let correction = json!({
        "members": [{"id": created.body["members"][1]["id"], "given_name": "Անահիտ"}]
    });
    let corrected = app
        .patch(&path, Some(app.admin()), &correction, Some("\"1\""))
        .await;
    assert_eq!(corrected.status, 200, "{}", corrected.text);
    assert_eq!(found("name=ani").await, Vec::<String>::new());
    assert_eq!(found("name=anah").await, vec!["Անահիտ Հովհաննիսյան"]);
    assert_eq!(
        key_rows(&app).await,
        (0, 4),
        "the corrected household's keys among the recent ones, Ani's gone: none left behind"
    );
    assert_eq!(merge_recent_keys(&app, 20_000).await, 1);
    assert_eq!(key_rows(&app).await, (4, 0));
    assert_eq!(found("name=ani").await, Vec::<String>::new());
    assert_eq!(found("name=anah").await, vec!["Անահիտ Հովհաննիսյան"]);

    // Keys of an older derivation: wiped, no version recorded.
    app.with_db(|conn| {
        diesel::delete(person_name_keys::table).execute(conn)?;
        diesel::delete(derived_versions::table).execute(conn)
    })
    .await
    .unwrap();
    assert_eq!(found("name=hovh").await, Vec::<String>::new());
    // What every start (and `refuge migrate`) runs: the migrations, then the
    // rebuild of stale derived rows.
    app.migrate_as_at_start().await;
    assert_eq!(
        found("name=hovh").await,
        vec!["Անահիտ Հովհաննիսյան", "Արամ Հովհաննիսյան"]
    );
    let again = app
        .with_db(refuge::persons::name_keys::rebuild_stale_name_keys)
        .await
        .unwrap();
    assert_eq!(again, None, "a later start finds the keys current");

    // The rebuild re-keys every person when the keys are stale.
    app.with_db(|conn| diesel::delete(derived_versions::table).execute(conn))
        .await
        .unwrap();
    let rebuilt = app
        .with_db(refuge::persons::name_keys::rebuild_stale_name_keys)
        .await
        .unwrap();
    assert_eq!(rebuilt, Some(2));
    assert_eq!(
        found("name=hovh").await,
        vec!["Անահիտ Հովհաննիսյան", "Արամ Հովհաննիսյան"]
    );
}
