//! Bulk CSV imports: `POST /api/v1/imports` and the template.

use refuge::accounts::Role;
use reqwest::Method;
use serde_json::{json, Value};

use crate::backend_tests;
use crate::helpers::{Backend, Response, TestApp};

backend_tests!(
    one_bad_row_in_ten_thousand_writes_nothing_and_the_fixed_file_imports_once,
    a_dry_run_validates_and_writes_nothing,
    multipart_and_text_csv_uploads_both_work_and_other_media_types_get_415,
    unknown_and_missing_columns_are_named_on_line_1,
    rows_of_a_household_must_be_consecutive_and_agree,
    changed_content_on_reimport_is_refused_on_its_line,
    registrars_get_row_errors_outside_their_centers_and_analysts_403,
    a_bom_quotes_formulas_and_armenian_names_are_stored_exactly,
    the_template_is_downloadable_and_imports_cleanly,
    batch_and_single_registration_store_identical_rows_and_statistics,
);

pub const HEADER: &str = "household_ref,center_code,arrived_at,origin_settlement,intended_destination,phone,\
given_name,family_name,patronymic,name_latin,sex,birth_date,estimated_age,relationship,document_type,document_number,needs";

const GIVEN: [(&str, &str, &str); 8] = [
    ("Արամ", "Aram", "male"),
    ("Անի", "Ani", "female"),
    ("Նարեկ", "Narek", "male"),
    ("Մարիամ", "Mariam", "female"),
    ("Տիգրան", "Tigran", "male"),
    ("Լուսինե", "Lusine", "female"),
    ("Դավիթ", "Davit", "male"),
    ("Գայանե", "Gayane", "female"),
];

const FAMILY: [(&str, &str); 5] = [
    ("Սարգսյան", "Sargsyan"),
    ("Հովհաննիսյան", "Hovhannisyan"),
    ("Պետրոսյան", "Petrosyan"),
    ("Գրիգորյան", "Grigoryan"),
    ("Տեր-Ավետիսյան", "Ter-Avetisyan"),
];

/// A valid file of `households` households of 4 at `center`, Armenian names
/// in Armenian script with a Latin transliteration, household fields given
/// on the first row of each household only (and repeated on some).
pub fn csv_file(center: &str, households: usize) -> String {
    let mut out = String::from(HEADER);
    out.push('\n');
    for h in 0..households {
        let (family, family_latin) = FAMILY[h % FAMILY.len()];
        let minute = h % 60;
        let hour = 8 + (h / 60) % 12;
        let day = 24 + (h / 720) % 6;
        for m in 0..4 {
            let (given, given_latin, sex) = GIVEN[(h + m) % GIVEN.len()];
            let relationship = ["head", "spouse", "child", "child"][m];
            let household_fields = if m == 0 || (m == 3 && h % 7 == 0) {
                format!(
                    "{center},2023-09-{day} {hour:02}:{minute:02},Ստեփանակերտ,AM-KT,+3749100{h:04}"
                )
            } else {
                ",,,,".into()
            };
            let (birth_date, estimated_age) = if m == 3 && h % 3 == 0 {
                (String::new(), "9".to_string())
            } else {
                (
                    format!("{}-0{}-1{}", 1970 + m * 12 + h % 9, 1 + m, h % 10),
                    String::new(),
                )
            };
            let (document_type, document_number) = if m == 0 {
                ("passport", format!("AN{h:07}"))
            } else {
                ("", String::new())
            };
            let needs = match (m, h % 5) {
                (0, 0) => "SM-WD",
                (1, 1) => "DS;SM",
                _ => "",
            };
            out.push_str(&format!(
                "GOR-{h:05},{household_fields},{given},{family},,{given_latin} {family_latin},{sex},{birth_date},{estimated_age},{relationship},{document_type},{document_number},{needs}\n"
            ));
        }
    }
    out
}

/// Replaces the `column`th field (0-based) of physical line `line` (1-based).
fn with_cell(file: &str, line: usize, column: usize, value: &str) -> String {
    let mut lines: Vec<String> = file.lines().map(str::to_string).collect();
    let mut cells: Vec<&str> = lines[line - 1].split(',').collect();
    cells[column] = value;
    lines[line - 1] = cells.join(",");
    lines.join("\n") + "\n"
}

pub async fn upload(app: &TestApp, token: &str, file: &str, dry_run: bool) -> Response {
    let path = if dry_run {
        "/api/v1/imports?dry_run=true"
    } else {
        "/api/v1/imports"
    };
    app.send(
        Method::POST,
        path,
        Some(token),
        Some(file.as_bytes().to_vec()),
        &[("content-type", "text/csv; charset=utf-8")],
    )
    .await
}

async fn upload_multipart(app: &TestApp, part: &str, file: &str) -> Response {
    let boundary = "refuge-test-boundary-7MA4YWxkTrZu0gW";
    let mut body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\nSeptember forms\r\n\
         --{boundary}\r\nContent-Disposition: form-data; name=\"{part}\"; filename=\"goris.csv\"\r\n\
         Content-Type: text/csv\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(file.as_bytes());
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    let content_type = format!("multipart/form-data; boundary={boundary}");
    app.send(
        Method::POST,
        "/api/v1/imports",
        Some(app.admin()),
        Some(body),
        &[("content-type", &content_type)],
    )
    .await
}

/// Households and persons registered, as the statistics API reports them.
async fn registered(app: &TestApp) -> (i64, i64) {
    let summary = app
        .get("/api/v1/stats/summary?suppress=false", Some(app.admin()))
        .await;
    assert_eq!(summary.status, 200, "{}", summary.text);
    let registered = &summary.body["registered"];
    (
        registered["households"].as_i64().unwrap_or(0),
        registered["persons"].as_i64().unwrap_or(0),
    )
}

async fn no_household_stored(app: &TestApp) -> bool {
    let list = app
        .get("/api/v1/households?limit=1", Some(app.admin()))
        .await;
    assert_eq!(list.status, 200);
    list.body["items"].as_array().unwrap().is_empty()
}

async fn assert_aggregates_match(app: &TestApp) {
    let (stored, expected) = app.aggregates_and_recount().await;
    assert_eq!(stored, expected, "aggregates drifted from the records");
}

/// The (line, column, code) of each listed error.
fn errors_of(response: &Response) -> Vec<(u64, Option<String>, String)> {
    response.body["errors"]
        .as_array()
        .unwrap_or(&vec![])
        .iter()
        .map(|e| {
            (
                e["line"].as_u64().unwrap(),
                e["column"].as_str().map(str::to_string),
                e["code"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn error(line: u64, column: Option<&str>, code: &str) -> (u64, Option<String>, String) {
    (line, column.map(str::to_string), code.to_string())
}

async fn one_bad_row_in_ten_thousand_writes_nothing_and_the_fixed_file_imports_once(app: TestApp) {
    app.center("GORIS").await;
    let good = csv_file("GORIS", 2_500);
    assert_eq!(good.lines().count(), 10_001);
    let bad = with_cell(&good, 5_678, 10, "M");

    let refused = upload(&app, app.admin(), &bad, false).await;
    assert_eq!(refused.status, 422, "{}", refused.text);
    assert_eq!(refused.body["code"], "import-invalid");
    assert_eq!(errors_of(&refused), [error(5_678, Some("sex"), "invalid")]);
    assert_eq!(refused.body["error_count"], 1);
    assert_eq!(refused.body["rows"], 10_000);
    assert!(
        refused.body["detail"]
            .as_str()
            .unwrap()
            .contains("line 5678"),
        "{}",
        refused.text
    );
    assert!(no_household_stored(&app).await, "nothing is written");

    let imported = upload(&app, app.admin(), &good, false).await;
    assert_eq!(imported.status, 201, "{}", imported.text);
    // The generated file repeats names and birth dates: namesakes born the
    // same day are proposed for review (never refused).
    let mut body = imported.body.clone();
    let proposed = body.as_object_mut().unwrap().remove("possible_duplicates");
    assert!(proposed.unwrap().as_u64().unwrap() > 0, "{}", imported.text);
    assert_eq!(
        body,
        json!({"dry_run": false, "rows": 10_000, "households": 2_500, "persons": 10_000,
               "created": {"households": 2_500, "persons": 10_000}, "unchanged": {"households": 0}})
    );
    assert_eq!(registered(&app).await, (2_500, 10_000));
    assert_aggregates_match(&app).await;

    let again = upload(&app, app.admin(), &good, false).await;
    assert_eq!(again.status, 200, "{}", again.text);
    assert_eq!(
        again.body,
        json!({"dry_run": false, "rows": 10_000, "households": 2_500, "persons": 10_000,
               "created": {"households": 0, "persons": 0}, "unchanged": {"households": 2_500},
               "possible_duplicates": 0})
    );
    assert_eq!(registered(&app).await, (2_500, 10_000));
    assert_aggregates_match(&app).await;

    // Imported persons are found by name like registered ones.
    let found = app
        .get("/api/v1/persons?name=sargsyan&limit=5", Some(app.admin()))
        .await;
    assert_eq!(found.status, 200, "{}", found.text);
    assert_eq!(found.body["items"].as_array().unwrap().len(), 5);
}

async fn a_dry_run_validates_and_writes_nothing(app: TestApp) {
    app.center("GORIS").await;
    let file = csv_file("GORIS", 30);
    let dry = upload(&app, app.admin(), &file, true).await;
    assert_eq!(dry.status, 200, "{}", dry.text);
    assert_eq!(
        dry.body,
        json!({"dry_run": true, "rows": 120, "households": 30, "persons": 120,
               "created": {"households": 30, "persons": 120}, "unchanged": {"households": 0},
               "possible_duplicates": 0})
    );
    assert!(no_household_stored(&app).await);

    let invalid = upload(
        &app,
        app.admin(),
        &with_cell(&file, 3, 11, "1975-02-30"),
        true,
    )
    .await;
    assert_eq!(invalid.status, 422);
    assert_eq!(
        errors_of(&invalid),
        [error(3, Some("birth_date"), "invalid")]
    );

    assert_eq!(upload(&app, app.admin(), &file, false).await.status, 201);
    let dry = upload(&app, app.admin(), &file, true).await;
    assert_eq!(dry.status, 200);
    assert_eq!(dry.body["created"], json!({"households": 0, "persons": 0}));
    assert_eq!(dry.body["unchanged"], json!({"households": 30}));
}

async fn multipart_and_text_csv_uploads_both_work_and_other_media_types_get_415(app: TestApp) {
    app.center("GORIS").await;
    let file = csv_file("GORIS", 3);
    let multipart = upload_multipart(&app, "file", &file).await;
    assert_eq!(multipart.status, 201, "{}", multipart.text);
    assert_eq!(multipart.body["created"]["persons"], 12);
    let text = upload(&app, app.admin(), &file, false).await;
    assert_eq!(text.status, 200, "{}", text.text);
    assert_eq!(text.body["unchanged"]["households"], 3);

    let no_file = upload_multipart(&app, "upload", &file).await;
    assert_eq!(no_file.status, 400, "{}", no_file.text);
    assert_eq!(no_file.error_fields(), ["file"]);

    let json = app
        .post("/api/v1/imports", Some(app.admin()), &json!({"rows": []}))
        .await;
    assert_eq!(json.status, 415, "{}", json.text);
    assert_eq!(json.body["code"], "unsupported-media-type");
    assert!(json.body["detail"].as_str().unwrap().contains("text/csv"));

    let anonymous = app
        .send(
            Method::POST,
            "/api/v1/imports",
            None,
            Some(file.into_bytes()),
            &[("content-type", "text/csv")],
        )
        .await;
    assert_eq!(anonymous.status, 401);
}

async fn unknown_and_missing_columns_are_named_on_line_1(app: TestApp) {
    app.center("GORIS").await;
    let file = "household_ref,center_code,arrived_at,Given_Name,family_name,sex,nickname\n\
                A1,GORIS,2023-09-26 10:00,Արամ,Սարգսյան,male,Ara\n";
    let response = upload(&app, app.admin(), file, false).await;
    assert_eq!(response.status, 422, "{}", response.text);
    let mut found = errors_of(&response);
    found.sort();
    assert_eq!(
        found,
        [
            error(1, Some("Given_Name"), "unknown_column"),
            error(1, Some("given_name"), "missing_column"),
            error(1, Some("nickname"), "unknown_column"),
            error(1, Some("origin_settlement"), "missing_column"),
            error(1, Some("relationship"), "missing_column"),
        ]
    );
    let empty = upload(&app, app.admin(), "", false).await;
    assert_eq!(empty.status, 422);
    assert_eq!(errors_of(&empty), [error(1, None, "empty_file")]);

    // Optional columns may be left out, in any order.
    let minimal = "relationship,sex,family_name,given_name,origin_settlement,arrived_at,center_code,household_ref\n\
                   head,female,Սարգսյան,Անի,Ստեփանակերտ,2023-09-26T10:00:00+04:00,GORIS,A1\n";
    let response = upload(&app, app.admin(), minimal, false).await;
    assert_eq!(response.status, 201, "{}", response.text);
}

async fn rows_of_a_household_must_be_consecutive_and_agree(app: TestApp) {
    app.center("GORIS").await;
    app.center("VAYK").await;
    let file = csv_file("GORIS", 3);
    let mut lines: Vec<&str> = file.lines().collect();
    // Household GOR-00000 (lines 2-5) gets a stray member after GOR-00001.
    let stray = lines.remove(5 - 1);
    lines.insert(9 - 1, stray);
    let scattered = lines.join("\n") + "\n";
    let response = upload(&app, app.admin(), &scattered, false).await;
    assert_eq!(response.status, 422, "{}", response.text);
    let found = errors_of(&response);
    assert!(
        found.contains(&error(9, Some("household_ref"), "not_consecutive")),
        "{found:?}"
    );
    assert!(
        response.text.contains("first seen on line 2"),
        "{}",
        response.text
    );

    // A household field repeated with another value, and a row without a reference.
    let disagreeing = with_cell(&file, 4, 1, "VAYK");
    let disagreeing = with_cell(&disagreeing, 7, 0, "");
    let response = upload(&app, app.admin(), &disagreeing, false).await;
    assert_eq!(response.status, 422);
    let found = errors_of(&response);
    assert!(
        found.contains(&error(4, Some("center_code"), "differs")),
        "{found:?}"
    );
    assert!(
        found.contains(&error(7, Some("household_ref"), "required")),
        "{found:?}"
    );

    // Household-level rules of the JSON API land on the household's first
    // line, member rules on the member's line.
    let two_heads = with_cell(&file, 3, 13, "head");
    let future = with_cell(&two_heads, 8, 11, "2099-01-01");
    let response = upload(&app, app.admin(), &future, false).await;
    assert_eq!(response.status, 422);
    assert_eq!(
        errors_of(&response),
        [
            error(2, Some("relationship"), "one_head"),
            error(8, Some("birth_date"), "in_future"),
        ]
    );
    assert!(no_household_stored(&app).await);
}

async fn changed_content_on_reimport_is_refused_on_its_line(app: TestApp) {
    app.center("GORIS").await;
    let file = csv_file("GORIS", 5);
    assert_eq!(upload(&app, app.admin(), &file, false).await.status, 201);
    // GOR-00003 starts on line 14; its third member's name changes.
    let changed = with_cell(&file, 16, 6, "Էլեն");
    let response = upload(&app, app.admin(), &changed, false).await;
    assert_eq!(response.status, 422, "{}", response.text);
    assert_eq!(errors_of(&response), [error(14, None, "changed")]);
    assert!(response
        .text
        .contains("already imported with different data"));
    assert_eq!(registered(&app).await, (5, 20));
}

async fn registrars_get_row_errors_outside_their_centers_and_analysts_403(app: TestApp) {
    app.center("GORIS").await;
    app.center("VAYK").await;
    let registrar = app.user("anna", Role::Registrar, &["GORIS"]).await;
    let analyst = app.user("olga", Role::Analyst, &[]).await;
    let goris = csv_file("GORIS", 2);
    let vayk = csv_file("VAYK", 2);
    let both = format!(
        "{goris}{}",
        vayk.split_once('\n').unwrap().1.replace("GOR-", "VAY-")
    );

    let response = upload(&app, &registrar, &both, false).await;
    assert_eq!(response.status, 422, "{}", response.text);
    assert_eq!(
        errors_of(&response),
        [
            error(10, Some("center_code"), "forbidden"),
            error(14, Some("center_code"), "forbidden"),
        ]
    );
    let response = upload(&app, &registrar, &goris, false).await;
    assert_eq!(response.status, 201, "{}", response.text);
    let household = app.get("/api/v1/households", Some(&registrar)).await;
    assert_eq!(
        household.body["items"][0]["registered_by"],
        app.get("/api/v1/me", Some(&registrar)).await.body["id"]
    );

    let response = upload(&app, &analyst, &goris, false).await;
    assert_eq!(response.status, 403, "{}", response.text);
    let template = app
        .get("/api/v1/imports/template.csv", Some(&analyst))
        .await;
    assert_eq!(template.status, 200);
}

async fn a_bom_quotes_formulas_and_armenian_names_are_stored_exactly(app: TestApp) {
    app.center("GORIS").await;
    let file = format!(
        "\u{feff}{HEADER}\r\n\r\n\
         F-1,GORIS,2023-09-26 14:30,\"Ստեփանակերտ, Shahumyan district\",AM-KT,,\
         \"=HYPERLINK(\"\"http://x\"\")\",Տեր-Պետրոսյան,Գրիգորի,\"Ter-Petrosyan, \"\"Jr\"\"\",male,1975-03-01,,head,,,\r\n\
         F-1,,,,,,Մարիամ\u{0301},Հովհաննիսյան,,,female,,44,spouse,passport,\"+AM 01\",DS; SM-WD\r\n"
    );
    let response = upload(&app, app.admin(), &file, false).await;
    assert_eq!(response.status, 201, "{}", response.text);
    assert_eq!(response.body["rows"], 2);
    let list = app.get("/api/v1/households", Some(app.admin())).await;
    let id = list.body["items"][0]["id"].as_str().unwrap().to_string();
    let household = app
        .get(&format!("/api/v1/households/{id}"), Some(app.admin()))
        .await;
    assert_eq!(household.status, 200);
    let h = &household.body;
    assert_eq!(
        h["arrived_at"], "2023-09-26T10:30:00Z",
        "local time at Goris (UTC+4)"
    );
    assert_eq!(h["origin_settlement"], "Ստեփանակերտ, Shahumyan district");
    assert_eq!(h["phone"], Value::Null);
    let head = &h["members"][0];
    assert_eq!(
        head["given_name"], "=HYPERLINK(\"http://x\")",
        "stored as text"
    );
    assert_eq!(
        head["family_name"].as_str().unwrap().as_bytes(),
        "Տեր-Պետրոսյան".as_bytes()
    );
    assert_eq!(head["patronymic"], "Գրիգորի");
    assert_eq!(head["name_latin"], "Ter-Petrosyan, \"Jr\"");
    let spouse = &h["members"][1];
    assert_eq!(
        spouse["given_name"].as_str().unwrap().as_bytes(),
        "Մարիամ\u{0301}".as_bytes(),
        "decomposed forms are kept byte for byte"
    );
    assert_eq!(spouse["estimated_age"], 44);
    assert_eq!(
        spouse["document"],
        json!({"type": "passport", "number": "+AM 01"})
    );
    assert_eq!(spouse["needs"], json!(["DS", "SM-WD"]));

    // A quoted field spanning lines is one field: it is refused (names have
    // no line breaks), and the lines after it keep their physical numbers.
    let multiline = format!(
        "{HEADER}\nM-1,GORIS,2023-09-26 14:30,Ստեփանակերտ,,,\"Արամ\nԱրամ\",Սարգսյան,,,male,,30,head,,,\n\
         M-2,GORIS,2023-09-26 14:30,Ստեփանակերտ,,,Անի,Սարգսյան,,,woman,,30,head,,,\n"
    );
    let response = upload(&app, app.admin(), &multiline, false).await;
    assert_eq!(response.status, 422, "{}", response.text);
    assert_eq!(
        errors_of(&response),
        [
            error(2, Some("given_name"), "invalid_name"),
            error(4, Some("sex"), "invalid"),
        ]
    );

    let latin1 = [
        HEADER.as_bytes(),
        b"\nL-1,GORIS,2023-09-26 14:30,Stepanakert,,,Ani,S\xe9rgsyan,,,female,,30,head,,,\n",
    ]
    .concat();
    let response = app
        .send(
            Method::POST,
            "/api/v1/imports",
            Some(app.admin()),
            Some(latin1),
            &[("content-type", "text/csv")],
        )
        .await;
    assert_eq!(response.status, 422, "{}", response.text);
    assert_eq!(
        errors_of(&response),
        [error(2, Some("family_name"), "invalid_utf8")]
    );
}

async fn the_template_is_downloadable_and_imports_cleanly(app: TestApp) {
    let template = app
        .get("/api/v1/imports/template.csv", Some(app.admin()))
        .await;
    assert_eq!(template.status, 200);
    assert_eq!(
        template.header("content-type"),
        Some("text/csv; charset=utf-8")
    );
    assert_eq!(
        template.header("content-disposition"),
        Some("attachment; filename=\"refuge-import-template.csv\"")
    );
    assert!(template.text.starts_with(HEADER));
    assert!(template.text.contains("Անի,Սարգսյան"));
    assert_eq!(
        app.get("/api/v1/imports/template.csv", None).await.status,
        401
    );

    app.center("GORIS").await;
    let response = upload(&app, app.admin(), &template.text, false).await;
    assert_eq!(response.status, 201, "{}", response.text);
    assert_eq!(
        response.body["created"],
        json!({"households": 1, "persons": 2})
    );
}

async fn batch_and_single_registration_store_identical_rows_and_statistics(app: TestApp) {
    let center: uuid::Uuid = app.center("GORIS").await.parse().unwrap();
    let (one, many) = app
        .with_db(move |conn| {
            use refuge::registration::{self, NewHousehold};
            let provinces = refuge::provinces::Provinces::new(&[]).unwrap();
            let user = refuge::accounts::find_by_username(conn, "admin")
                .unwrap()
                .unwrap()
                .id;
            let body = |n: usize| -> NewHousehold {
                let mut body = crate::helpers::household(&center.to_string(), 5);
                body["id"] = json!(uuid::Uuid::from_u128(n as u128));
                body["members"][0]["needs"] = json!(["SM-WD", "DS"]);
                body["members"][1]["patronymic"] = json!("Գրիգորի");
                body["members"][1]["name_latin"] = json!("Ani Hovhannisyan");
                body["members"][2]["document"] = json!({"type": "id_card", "number": "0042"});
                body["members"][3]["birth_date"] = Value::Null;
                body["members"][3]["estimated_age"] = json!(7);
                for (i, member) in body["members"]
                    .as_array_mut()
                    .unwrap()
                    .iter_mut()
                    .enumerate()
                {
                    member["id"] = json!(uuid::Uuid::from_u128((n * 100 + i) as u128));
                }
                let new: NewHousehold = serde_json::from_value(body).unwrap();
                registration::validate_new(&new, &provinces).unwrap();
                new
            };
            refuge::db::Unit::transaction::<_, refuge::error::ApiError>(
                conn,
                &refuge::db::audit::Actor::system("test"),
                |unit| {
                    let one = registration::register(unit, body(1), user)?;
                    let fingerprint = || "f".repeat(64);
                    let many = registration::register_many(
                        unit,
                        vec![(body(2), fingerprint()), (body(3), fingerprint())],
                        user,
                    )?;
                    Ok((one, many))
                },
            )
            .unwrap()
        })
        .await;
    let stored_one = app
        .get(&format!("/api/v1/households/{}", one.id), Some(app.admin()))
        .await
        .body;
    for household in &many {
        let stored = app
            .get(
                &format!("/api/v1/households/{}", household.id),
                Some(app.admin()),
            )
            .await
            .body;
        assert_eq!(normalized(&stored), normalized(&stored_one));
    }
    // Search keys too: the same per member, up to the ids (a single
    // registration's among the recent keys, a batch's in the large table).
    let (keys_one, keys_many) = app
        .with_db(move |conn| {
            use diesel::prelude::*;
            use refuge::schema::{person_name_keys, person_name_keys_recent};
            let mut keys = |household: u128| -> Vec<Vec<String>> {
                (0..5)
                    .map(|i| {
                        let person = uuid::Uuid::from_u128(household * 100 + i).to_string();
                        let mut keys: Vec<String> = person_name_keys::table
                            .filter(person_name_keys::person_id.eq(&person))
                            .select(person_name_keys::name_key)
                            .load(conn)
                            .unwrap();
                        keys.extend(
                            person_name_keys_recent::table
                                .filter(person_name_keys_recent::person_id.eq(&person))
                                .select(person_name_keys_recent::name_key)
                                .load::<String>(conn)
                                .unwrap(),
                        );
                        keys.sort();
                        keys
                    })
                    .collect()
            };
            (keys(1), keys(3))
        })
        .await;
    assert!(!keys_one[1].is_empty());
    assert_eq!(keys_one, keys_many);
    assert_aggregates_match(&app).await;
    assert_eq!(registered(&app).await, (3, 15));
}

/// A household as read back, without what differs between two registrations.
fn normalized(household: &Value) -> Value {
    let mut household = household.clone();
    for field in ["id", "created_at", "updated_at"] {
        household[field] = Value::Null;
    }
    for member in household["members"].as_array_mut().unwrap() {
        member["id"] = Value::Null;
    }
    household
}

mod over_the_size_limit {
    use super::*;

    fn small_limit(settings: &mut refuge::config::Settings) {
        settings.imports.max_bytes = 4_096;
    }

    async fn uploads_over_the_limit_get_413(app: TestApp) {
        app.center("GORIS").await;
        let small = csv_file("GORIS", 2);
        assert!(small.len() < 4_096);
        assert_eq!(upload(&app, app.admin(), &small, false).await.status, 201);
        let large = csv_file("GORIS", 40);
        assert!(large.len() > 4_096);
        let response = upload(&app, app.admin(), &large, false).await;
        assert_eq!(response.status, 413, "{}", response.text);
        assert_eq!(response.body["code"], "payload-too-large");
        assert!(response.text.contains("4096"), "{}", response.text);
        let response = upload_multipart(&app, "file", &large).await;
        assert_eq!(response.status, 413, "{}", response.text);
        assert_eq!(registered(&app).await.0, 2);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        let app = TestApp::spawn_with(Backend::Sqlite, small_limit)
            .await
            .unwrap();
        uploads_over_the_limit_get_413(app).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        if let Some(app) = TestApp::spawn_with(Backend::Postgres, small_limit).await {
            uploads_over_the_limit_get_413(app).await;
        }
    }
}
