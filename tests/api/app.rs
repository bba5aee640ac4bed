//! The service as a whole, above any one endpoint: a handler that panics,
//! methods a resource does not have, bodies past the limit.

use refuge::app::Application;
use refuge::config::Settings;
use refuge::http::routes::resource;
use secrecy::SecretString;
use serde_json::{json, Value};

use crate::backend_tests;
use crate::helpers::{TestApp, ADMIN_PASSWORD};

backend_tests!(
    undeclared_methods_get_405_with_allow,
    bodies_past_the_limit_get_413_naming_it
);

/// A handler that panics answers 500 problem+json (its connection is not
/// dropped), and the server goes on serving, on every worker. The middleware
/// sits above storage, so SQLite alone shows it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_handler_answers_500_and_the_server_keeps_serving() {
    let dir = tempfile::tempdir().unwrap();
    let mut settings = Settings::load(None).unwrap();
    settings.server.port = 0;
    settings.server.workers = 2;
    settings.database.url = SecretString::from(format!(
        "sqlite://{}",
        dir.path().join("refuge.db").display()
    ));
    settings.database.pool_size = 2;
    settings.bootstrap.admin_password = SecretString::from(ADMIN_PASSWORD);
    settings.bootstrap.admin_password_file = String::new();
    let app = tokio::task::spawn_blocking(move || {
        // Declared like every route of the API.
        Application::build_with(&settings, |cfg| {
            cfg.service(resource("/test/panic").get(|| async {
                panic!("a handler bug");
                #[allow(unreachable_code)]
                actix_web::HttpResponse::Ok().finish()
            }));
        })
    })
    .await
    .unwrap()
    .unwrap();
    let base = format!("http://127.0.0.1:{}", app.port());
    tokio::spawn(app.run_until_stopped());
    let client = reqwest::Client::new();

    // More panics than workers: a worker that died with its panic would
    // leave later requests unanswered.
    for _ in 0..6 {
        let response = client
            .get(format!("{base}/test/panic"))
            .send()
            .await
            .expect("a panicking handler still answers");
        assert_eq!(response.status(), 500);
        assert_eq!(
            response.headers()["content-type"],
            "application/problem+json"
        );
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["code"], "internal-error");
        assert_eq!(body["status"], 500);
        assert!(
            !body.to_string().contains("a handler bug"),
            "the cause is logged, never sent: {body}"
        );
    }
    for _ in 0..4 {
        let response = client.get(format!("{base}/healthz")).send().await.unwrap();
        assert_eq!(response.status(), 200);
    }
    let login = client
        .post(format!("{base}/api/v1/auth/login"))
        .json(&json!({"username": "admin", "password": ADMIN_PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), 200);
}

async fn undeclared_methods_get_405_with_allow(app: TestApp) {
    for (method, path, allow) in [
        (reqwest::Method::DELETE, "/api/v1/centers", "GET, POST"),
        (
            reqwest::Method::PUT,
            "/api/v1/households/00000000-0000-0000-0000-000000000000",
            "GET, PATCH",
        ),
        (reqwest::Method::GET, "/api/v1/auth/login", "POST"),
        (reqwest::Method::OPTIONS, "/api/v1/stats/summary", "GET"),
        (reqwest::Method::TRACE, "/healthz", "GET"),
    ] {
        let response = app
            .send(method.clone(), path, Some(app.admin()), None, &[])
            .await;
        assert_eq!(response.status, 405, "{method} {path}: {}", response.text);
        assert_eq!(response.header("allow"), Some(allow), "{method} {path}");
        assert_eq!(response.body["code"], "method-not-allowed");
    }
}

async fn bodies_past_the_limit_get_413_naming_it(app: TestApp) {
    let limit = app.settings.server.body_limit_bytes;
    let big = json!({ "code": "X".repeat(limit), "name": "n", "kind": "registration_center", "province": "AM-SU" });
    let response = app.post("/api/v1/centers", Some(app.admin()), &big).await;
    assert_eq!(response.status, 413, "{}", response.text);
    assert_eq!(response.body["code"], "payload-too-large");
    let detail = response.body["detail"].as_str().unwrap();
    assert!(detail.contains(&limit.to_string()), "{detail}");
}
