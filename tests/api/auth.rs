use jsonwebtoken::{Algorithm, EncodingKey, Header};
use refuge::accounts::Role;
use serde_json::json;

use crate::backend_tests;
use crate::helpers::{TestApp, ADMIN_PASSWORD};

backend_tests!(
    login_returns_a_bearer_token_and_me_describes_the_caller,
    wrong_password_and_unknown_user_are_refused_alike,
    requests_without_a_valid_token_get_401,
    scoped_roles_see_their_centers_in_me,
);

async fn login_returns_a_bearer_token_and_me_describes_the_caller(app: TestApp) {
    let response = app
        .post(
            "/api/v1/auth/login",
            None,
            &json!({"username": "admin", "password": ADMIN_PASSWORD}),
        )
        .await;
    assert_eq!(response.status, 200);
    assert_eq!(response.body["token_type"], "Bearer");
    assert_eq!(response.body["expires_in"], 28800);
    assert_eq!(response.header("cache-control"), Some("no-store"));
    let token = response.body["access_token"].as_str().unwrap();

    let me = app.get("/api/v1/me", Some(token)).await;
    assert_eq!(me.status, 200);
    assert_eq!(me.body["username"], "admin");
    assert_eq!(me.body["role"], "admin");
    assert_eq!(me.body["centers"], json!([]));
}

async fn wrong_password_and_unknown_user_are_refused_alike(app: TestApp) {
    let wrong = app
        .post(
            "/api/v1/auth/login",
            None,
            &json!({"username": "admin", "password": "not the password"}),
        )
        .await;
    let unknown = app
        .post(
            "/api/v1/auth/login",
            None,
            &json!({"username": "nobody", "password": "whatever"}),
        )
        .await;
    assert_eq!(wrong.status, 401);
    assert_eq!(unknown.status, 401);
    assert_eq!(
        wrong.body["detail"], unknown.body["detail"],
        "no hint about which part was wrong"
    );
    let missing = app
        .post("/api/v1/auth/login", None, &json!({"username": "admin"}))
        .await;
    assert_eq!(missing.status, 422);
}

async fn requests_without_a_valid_token_get_401(app: TestApp) {
    let none = app.get("/api/v1/me", None).await;
    assert_eq!(none.status, 401);
    assert_eq!(
        none.header("www-authenticate"),
        Some(r#"Bearer realm="refuge""#)
    );

    let garbage = app.get("/api/v1/me", Some("not-a-jwt")).await;
    assert_eq!(garbage.status, 401);
    assert!(garbage
        .header("www-authenticate")
        .unwrap()
        .contains("invalid_token"));

    let now = chrono::Utc::now().timestamp() as u64;
    let admin = app.get("/api/v1/me", Some(app.admin())).await.body["id"].clone();
    let claims = |exp: u64, aud: &str| {
        json!({"sub": admin, "username": "admin", "role": "admin", "centers": [],
               "iat": now, "exp": exp, "iss": "refuge", "aud": aud, "jti": uuid::Uuid::new_v4(),
               "gen": 0, "pwc": false})
    };
    let sign = |claims: &serde_json::Value, secret: &str, alg: Algorithm| {
        jsonwebtoken::encode(
            &Header::new(alg),
            claims,
            &EncodingKey::from_secret(secret.as_bytes()),
        )
        .unwrap()
    };
    let secret = refuge::config::DEVELOPMENT_JWT_SECRET;
    let forged = sign(
        &claims(now + 600, "refuge-api"),
        "another secret",
        Algorithm::HS256,
    );
    let expired = sign(&claims(now - 3600, "refuge-api"), secret, Algorithm::HS256);
    let wrong_audience = sign(&claims(now + 600, "someone-else"), secret, Algorithm::HS256);
    let other_algorithm = sign(&claims(now + 600, "refuge-api"), secret, Algorithm::HS512);
    let valid = sign(&claims(now + 600, "refuge-api"), secret, Algorithm::HS256);
    for (name, token) in [
        ("forged", forged),
        ("expired", expired),
        ("audience", wrong_audience),
        ("alg", other_algorithm),
    ] {
        let response = app.get("/api/v1/me", Some(&token)).await;
        assert_eq!(response.status, 401, "{name} token must be refused");
    }
    assert_eq!(
        app.get("/api/v1/me", Some(&valid)).await.status,
        200,
        "the control token is accepted"
    );
    // Signed, but for an account that does not exist (or of an older generation).
    let mut stranger = claims(now + 600, "refuge-api");
    stranger["sub"] = json!(uuid::Uuid::new_v4());
    let stranger = sign(&stranger, secret, Algorithm::HS256);
    let mut stale = claims(now + 600, "refuge-api");
    stale["gen"] = json!(-1);
    let stale = sign(&stale, secret, Algorithm::HS256);
    for token in [stranger, stale] {
        let response = app.get("/api/v1/me", Some(&token)).await;
        assert_eq!(response.status, 401);
        assert_eq!(response.body["code"], "token-revoked");
    }
}

async fn scoped_roles_see_their_centers_in_me(app: TestApp) {
    let goris = app.center("GORIS").await;
    let token = app.user("anna", Role::Registrar, &["GORIS"]).await;
    let me = app.get("/api/v1/me", Some(&token)).await;
    assert_eq!(me.body["role"], "registrar");
    assert_eq!(me.body["centers"], json!([goris]));
}
