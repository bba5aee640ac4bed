use reqwest::Method;

use crate::backend_tests;
use crate::helpers::{TestApp, OPENAPI};

backend_tests!(
    health_and_readiness_probes_answer,
    every_documented_operation_is_routed_and_protected
);

async fn health_and_readiness_probes_answer(app: TestApp) {
    let health = app.get("/healthz", None).await;
    assert_eq!(health.status, 200);
    let ready = app.get("/readyz", None).await;
    assert_eq!(ready.status, 200);
    let expected = match app.backend {
        crate::helpers::Backend::Sqlite => "sqlite",
        crate::helpers::Backend::Postgres => "postgres",
    };
    assert_eq!(ready.body["database"], expected);
    assert!(ready.header("x-request-id").is_some());
    let echoed = app
        .send(
            Method::GET,
            "/healthz",
            None,
            None,
            &[("x-request-id", "desk-7-42")],
        )
        .await;
    assert_eq!(echoed.header("x-request-id"), Some("desk-7-42"));
    let unknown = app.get("/api/v1/no-such-thing", Some(app.admin())).await;
    assert_eq!(unknown.status, 404);
    assert_eq!(unknown.body["code"], "not-found");
    let wrong_method = app
        .send(
            Method::DELETE,
            "/api/v1/centers",
            Some(app.admin()),
            None,
            &[],
        )
        .await;
    assert_eq!(wrong_method.status, 405);
}

/// Every operation in openapi.yaml exists, and all but the public ones refuse
/// a request without a token: the document describes no route the service lacks.
async fn every_documented_operation_is_routed_and_protected(app: TestApp) {
    let public = [
        "/healthz",
        "/readyz",
        "/api/v1/auth/login",
        "/",
        "/dashboard",
        "/dashboard/",
        "/dashboard/{file}",
    ];
    let mut checked = 0;
    for (template, item) in OPENAPI["paths"].as_object().unwrap() {
        for method in ["get", "post", "patch", "put", "delete"] {
            let Some(operation) = item.get(method) else {
                continue;
            };
            let path = template
                .replace("{id}", &uuid::Uuid::new_v4().to_string())
                .replace("{file}", "app.js");
            let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let response = app.send(method.clone(), &path, None, None, &[]).await;
            if public.contains(&template.as_str()) {
                assert!(
                    operation.get("security").is_some(),
                    "{method} {template} must declare security: []"
                );
                assert_ne!(
                    response.status, 404,
                    "{method} {template} is documented but not routed"
                );
            } else {
                assert_eq!(
                    response.status, 401,
                    "{method} {template} must require a token"
                );
            }
            checked += 1;
        }
    }
    assert!(
        checked >= 14,
        "openapi.yaml lists only {checked} operations"
    );
}
