//! Account administration, token revocation and login throttling (issue 12).

use std::time::{Duration, Instant};

use refuge::accounts::Role;
use reqwest::Method;
use serde_json::json;

use crate::backend_tests;
use crate::helpers::{TestApp, ADMIN_PASSWORD, USER_PASSWORD};

backend_tests!(
    admins_create_list_read_and_change_accounts,
    accounts_are_for_admins_only,
    disabling_or_changing_an_account_revokes_its_tokens_at_once,
    a_revocation_made_elsewhere_reaches_this_process_within_five_seconds,
    logout_revokes_the_presented_token_only,
    a_reset_password_must_be_changed_before_anything_else,
    the_last_active_admin_can_be_neither_disabled_nor_demoted,
    stale_login_throttles_are_forgotten,
);

const STRONG: &str = "copper meadow violin 1987";

async fn create(app: &TestApp, body: serde_json::Value) -> crate::helpers::Response {
    app.post("/api/v1/users", Some(app.admin()), &body).await
}

async fn admins_create_list_read_and_change_accounts(app: TestApp) {
    let goris = app.center("GORIS").await;
    let kornidzor = app.center("KORNIDZOR").await;
    let created = create(
        &app,
        json!({"username": "anahit", "display_name": "Anahit Petrosyan", "password": STRONG,
               "role": "registrar", "centers": [goris]}),
    )
    .await;
    assert_eq!(created.status, 201, "{}", created.text);
    assert_eq!(created.header("etag"), Some("\"1\""));
    let id = created.id();
    assert_eq!(
        created.header("location"),
        Some(format!("/api/v1/users/{id}").as_str())
    );
    assert_eq!(created.body["role"], "registrar");
    assert_eq!(created.body["centers"], json!([goris]));
    assert_eq!(created.body["must_change_password"], false);
    assert!(created.body.get("password").is_none() && created.body.get("password_hash").is_none());
    // The new account logs in.
    app.login("anahit", STRONG).await;

    // Weak, common and personal passwords are refused, naming the field.
    for (username, weak) in [
        ("weak", "short"),
        ("weak", "password1234"),
        ("weak", "qwertyuiop12"),
        // Strong on its own, but made of the account's own name.
        ("anahit.petrosyan", "anahit.petrosyan2023"),
    ] {
        let refused = create(
            &app,
            json!({"username": username, "password": weak, "role": "analyst"}),
        )
        .await;
        assert_eq!(refused.status, 422, "{weak}: {}", refused.text);
        assert_eq!(refused.error_fields(), vec!["password"], "{weak}");
    }
    let taken = create(
        &app,
        json!({"username": "anahit", "password": STRONG, "role": "analyst"}),
    )
    .await;
    assert_eq!(taken.status, 409);
    assert_eq!(taken.body["code"], "username-taken");
    let unscoped = create(
        &app,
        json!({"username": "nocenter", "password": STRONG, "role": "aid_worker"}),
    )
    .await;
    assert_eq!(unscoped.status, 422);
    assert_eq!(unscoped.error_fields(), vec!["centers"]);

    let registrars = app
        .get("/api/v1/users?role=registrar", Some(app.admin()))
        .await;
    assert_eq!(registrars.status, 200);
    let names: Vec<&str> = registrars.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["username"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["anahit"]);
    let first = app.get("/api/v1/users?limit=1", Some(app.admin())).await;
    assert_eq!(first.body["items"][0]["username"], "admin");
    let cursor = first.body["next_cursor"].as_str().unwrap().to_string();
    let second = app
        .get(
            &format!("/api/v1/users?limit=1&cursor={cursor}"),
            Some(app.admin()),
        )
        .await;
    assert_eq!(second.body["items"][0]["username"], "anahit");

    let path = format!("/api/v1/users/{id}");
    let read = app.get(&path, Some(app.admin())).await;
    assert_eq!(read.status, 200);
    assert_eq!(read.body["display_name"], "Anahit Petrosyan");
    assert_eq!(read.body["locked_until"], serde_json::Value::Null);

    let change = json!({"centers": [goris, kornidzor], "display_name": "Anahit P."});
    let unconditional = app.patch(&path, Some(app.admin()), &change, None).await;
    assert_eq!(unconditional.status, 428);
    let stale = app
        .patch(&path, Some(app.admin()), &change, Some("\"7\""))
        .await;
    assert_eq!(stale.status, 412);
    let changed = app
        .patch(&path, Some(app.admin()), &change, Some("\"1\""))
        .await;
    assert_eq!(changed.status, 200, "{}", changed.text);
    assert_eq!(changed.body["version"], 2);
    assert_eq!(changed.header("etag"), Some("\"2\""));
    assert_eq!(changed.body["display_name"], "Anahit P.");
    let mut both = vec![goris.clone(), kornidzor.clone()];
    both.sort();
    assert_eq!(changed.body["centers"], json!(both));
    let demoted = app
        .patch(
            &path,
            Some(app.admin()),
            &json!({"role": "analyst"}),
            Some("\"2\""),
        )
        .await;
    assert_eq!(demoted.status, 200, "{}", demoted.text);
    assert_eq!(
        demoted.body["centers"],
        json!([]),
        "an analyst has no centers"
    );
    let unknown = app
        .get(
            &format!("/api/v1/users/{}", uuid::Uuid::new_v4()),
            Some(app.admin()),
        )
        .await;
    assert_eq!(unknown.status, 404);
}

async fn accounts_are_for_admins_only(app: TestApp) {
    app.center("GORIS").await;
    let auditor = app.user("aud", Role::Auditor, &[]).await;
    let registrar = app.user("reg", Role::Registrar, &["GORIS"]).await;
    for token in [&auditor, &registrar] {
        assert_eq!(app.get("/api/v1/users", Some(token)).await.status, 403);
        let create = app
            .post(
                "/api/v1/users",
                Some(token),
                &json!({"username": "x1x", "password": STRONG, "role": "admin"}),
            )
            .await;
        assert_eq!(create.status, 403);
    }
}

/// The token works, then answers 401 token-revoked.
async fn assert_revoked(app: &TestApp, token: &str) {
    let refused = app.get("/api/v1/centers", Some(token)).await;
    assert_eq!(refused.status, 401, "{}", refused.text);
    assert_eq!(refused.body["code"], "token-revoked");
    assert!(refused
        .header("www-authenticate")
        .unwrap()
        .contains("invalid_token"));
}

async fn disabling_or_changing_an_account_revokes_its_tokens_at_once(app: TestApp) {
    app.center("GORIS").await;
    let kornidzor = app.center("KORNIDZOR").await;
    let user = app
        .create_user_with("narek", Role::Registrar, &["GORIS"])
        .await;
    let path = format!("/api/v1/users/{}", user.id);
    let token = app.login("narek", USER_PASSWORD).await;
    let other = app.login("narek", USER_PASSWORD).await;
    assert_eq!(app.get("/api/v1/centers", Some(&token)).await.status, 200);

    // A display name is not a reason to cut anyone off.
    let renamed = app
        .patch(
            &path,
            Some(app.admin()),
            &json!({"display_name": "Narek"}),
            Some("\"1\""),
        )
        .await;
    assert_eq!(renamed.status, 200);
    assert_eq!(app.get("/api/v1/centers", Some(&token)).await.status, 200);

    let disabled = app
        .patch(
            &path,
            Some(app.admin()),
            &json!({"disabled": true}),
            Some("\"2\""),
        )
        .await;
    assert_eq!(disabled.status, 200, "{}", disabled.text);
    // At once, in this process: every token the account holds.
    assert_revoked(&app, &token).await;
    assert_revoked(&app, &other).await;
    let login = app
        .post(
            "/api/v1/auth/login",
            None,
            &json!({"username": "narek", "password": USER_PASSWORD}),
        )
        .await;
    assert_eq!(login.status, 401);

    let enabled = app
        .patch(
            &path,
            Some(app.admin()),
            &json!({"disabled": false}),
            Some("\"3\""),
        )
        .await;
    assert_eq!(enabled.status, 200);
    let token = app.login("narek", USER_PASSWORD).await;
    let moved = app
        .patch(
            &path,
            Some(app.admin()),
            &json!({"centers": [kornidzor]}),
            Some("\"4\""),
        )
        .await;
    assert_eq!(moved.status, 200);
    assert_revoked(&app, &token).await;
    // The next token carries the new centers.
    let token = app.login("narek", USER_PASSWORD).await;
    let me = app.get("/api/v1/me", Some(&token)).await;
    assert_eq!(me.body["centers"], json!([kornidzor]));
}

/// On PostgreSQL, a second server process on the same database; on SQLite
/// (one server process by design), the command line's direct change to the
/// database file. Either way the server that holds the token learns of the
/// revocation from the database, within `auth.revocation_refresh_seconds`.
async fn a_revocation_made_elsewhere_reaches_this_process_within_five_seconds(app: TestApp) {
    app.center("GORIS").await;
    let user = app
        .create_user_with("sona", Role::Registrar, &["GORIS"])
        .await;
    let token = app.login("sona", USER_PASSWORD).await;
    let second = app.second_server().await;
    let check = |token: String| {
        let app = &app;
        let second = second.clone();
        async move {
            match &second {
                Some(base) => {
                    app.send_to(
                        base,
                        Method::GET,
                        "/api/v1/centers",
                        Some(&token),
                        None,
                        &[],
                    )
                    .await
                }
                None => app.get("/api/v1/centers", Some(&token)).await,
            }
        }
    };
    // The token works on the other process (which has read the revocation state).
    assert_eq!(check(token.clone()).await.status, 200);
    let disabled_at = Instant::now();
    if second.is_some() {
        let disabled = app
            .patch(
                &format!("/api/v1/users/{}", user.id),
                Some(app.admin()),
                &json!({"disabled": true}),
                Some("\"1\""),
            )
            .await;
        assert_eq!(disabled.status, 200);
    } else {
        let id = user.id;
        app.with_db(move |conn| {
            let cli = refuge::db::audit::Actor::system("cli");
            refuge::db::Unit::transaction::<_, refuge::error::ApiError>(conn, &cli, |unit| {
                refuge::accounts::store::update(
                    unit,
                    id,
                    1,
                    refuge::accounts::store::Change {
                        disabled: Some(true),
                        ..Default::default()
                    },
                )
            })
            .unwrap();
        })
        .await;
    }
    loop {
        let response = check(token.clone()).await;
        if response.status == 401 {
            assert_eq!(response.body["code"], "token-revoked");
            break;
        }
        assert!(
            disabled_at.elapsed() < Duration::from_secs(5),
            "the disabled account's token still works after 5 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn logout_revokes_the_presented_token_only(app: TestApp) {
    let first = app.login("admin", ADMIN_PASSWORD).await;
    let second = app.login("admin", ADMIN_PASSWORD).await;
    let out = app
        .send(Method::POST, "/api/v1/auth/logout", Some(&first), None, &[])
        .await;
    assert_eq!(out.status, 204, "{}", out.text);
    assert_revoked(&app, &first).await;
    assert_eq!(app.get("/api/v1/centers", Some(&second)).await.status, 200);
    let again = app
        .send(Method::POST, "/api/v1/auth/logout", Some(&first), None, &[])
        .await;
    assert_eq!(again.status, 401);
}

async fn a_reset_password_must_be_changed_before_anything_else(app: TestApp) {
    let user = app.create_user_with("lilit", Role::Analyst, &[]).await;
    let old_token = app.login("lilit", USER_PASSWORD).await;
    let path = format!("/api/v1/users/{}/password-reset", user.id);
    let weak = app
        .post(&path, Some(app.admin()), &json!({"password": "12345678"}))
        .await;
    assert_eq!(weak.status, 422);
    let reset = app
        .post(
            &path,
            Some(app.admin()),
            &json!({"password": "temporary harbor kettle 55"}),
        )
        .await;
    assert_eq!(reset.status, 200, "{}", reset.text);
    assert_eq!(reset.body["must_change_password"], true);
    assert_revoked(&app, &old_token).await;
    let refused = app
        .post(
            "/api/v1/auth/login",
            None,
            &json!({"username": "lilit", "password": USER_PASSWORD}),
        )
        .await;
    assert_eq!(refused.status, 401, "the old password no longer works");

    let login = app
        .post(
            "/api/v1/auth/login",
            None,
            &json!({"username": "lilit", "password": "temporary harbor kettle 55"}),
        )
        .await;
    assert_eq!(login.status, 200);
    assert_eq!(login.body["password_change_required"], true);
    let temporary = login.body["access_token"].as_str().unwrap().to_string();
    let blocked = app.get("/api/v1/stats/summary", Some(&temporary)).await;
    assert_eq!(blocked.status, 403);
    assert_eq!(blocked.body["code"], "password-change-required");
    assert_eq!(app.get("/api/v1/me", Some(&temporary)).await.status, 200);

    let wrong = app
        .post(
            "/api/v1/me/password",
            Some(&temporary),
            &json!({"current_password": "not it at all", "new_password": STRONG}),
        )
        .await;
    assert_eq!(wrong.status, 422);
    assert_eq!(wrong.error_fields(), vec!["current_password"]);
    let too_weak = app
        .post(
            "/api/v1/me/password",
            Some(&temporary),
            &json!({"current_password": "temporary harbor kettle 55", "new_password": "lilit12345678"}),
        )
        .await;
    assert_eq!(too_weak.status, 422);
    assert_eq!(too_weak.error_fields(), vec!["new_password"]);
    let changed = app
        .post(
            "/api/v1/me/password",
            Some(&temporary),
            &json!({"current_password": "temporary harbor kettle 55", "new_password": STRONG}),
        )
        .await;
    assert_eq!(changed.status, 200, "{}", changed.text);
    assert_eq!(changed.body["password_change_required"], false);
    let fresh = changed.body["access_token"].as_str().unwrap().to_string();
    assert_revoked(&app, &temporary).await;
    assert_eq!(
        app.get("/api/v1/stats/summary", Some(&fresh)).await.status,
        200
    );
    app.login("lilit", STRONG).await;
}

async fn the_last_active_admin_can_be_neither_disabled_nor_demoted(app: TestApp) {
    let admin = app
        .with_db(|conn| {
            refuge::accounts::find_by_username(conn, "admin")
                .unwrap()
                .unwrap()
        })
        .await;
    let path = format!("/api/v1/users/{}", admin.id);
    for change in [json!({"disabled": true}), json!({"role": "auditor"})] {
        let refused = app
            .patch(&path, Some(app.admin()), &change, Some("\"1\""))
            .await;
        assert_eq!(refused.status, 409, "{change}: {}", refused.text);
        assert_eq!(refused.body["code"], "last-admin");
    }
    // With a second admin, the first may go.
    let second = create(
        &app,
        json!({"username": "second", "password": STRONG, "role": "admin"}),
    )
    .await;
    assert_eq!(second.status, 201);
    let disabled = app
        .patch(
            &path,
            Some(app.admin()),
            &json!({"disabled": true}),
            Some("\"1\""),
        )
        .await;
    assert_eq!(disabled.status, 200, "{}", disabled.text);
    // ...and then the second is the last.
    let token = app.login("second", STRONG).await;
    let last = app
        .patch(
            &format!("/api/v1/users/{}", second.id()),
            Some(&token),
            &json!({"role": "analyst"}),
            Some("\"1\""),
        )
        .await;
    assert_eq!(last.status, 409);
    assert_eq!(last.body["code"], "last-admin");
}

/// Failed logins, counted in the database: 30 wrong passwords for one
/// account, sent alternately to two server processes on PostgreSQL (one
/// process on SQLite), lead to 429 with `Retry-After`; the right password
/// works again once the lockout is over, and an admin can lift a lockout.
/// The lockout is set to 2 s here so that the test can wait it out.
mod failed_logins_are_throttled_across_processes {
    use super::*;
    use crate::helpers::Backend;

    fn short_lockout(settings: &mut refuge::config::Settings) {
        settings.auth.login_throttle.lockout_seconds = 2;
        settings.auth.login_throttle.max_lockout_seconds = 2;
    }

    async fn run(app: TestApp) {
        let user = app.create_user_with("gor", Role::Analyst, &[]).await;
        let second = app.second_server().await;
        let attempt = |n: usize, password: &'static str| {
            let app = &app;
            let base = match (&second, n % 2) {
                (Some(other), 1) => other.clone(),
                _ => app.address.clone(),
            };
            async move {
                let body = json!({"username": "gor", "password": password});
                app.send_to(
                    &base,
                    Method::POST,
                    "/api/v1/auth/login",
                    None,
                    Some(body.to_string().into_bytes()),
                    &[],
                )
                .await
            }
        };
        // A success clears the count: four failures, a success, then on.
        for n in 0..4 {
            assert_eq!(attempt(n, "wrong password guess").await.status, 401);
        }
        assert_eq!(attempt(4, USER_PASSWORD).await.status, 200);
        let mut statuses = Vec::new();
        let mut retry_after = None;
        for n in 0..30 {
            let response = attempt(n, "wrong password guess").await;
            if response.status == 429 {
                assert_eq!(response.body["code"], "login-throttled");
                retry_after = response.header("retry-after").map(str::to_string);
            }
            statuses.push(response.status);
        }
        // Five failures in the window, whichever process saw them, lock the username.
        assert_eq!(statuses[..5], [401; 5], "{statuses:?}");
        assert!(statuses[5..].iter().all(|s| *s == 429), "{statuses:?}");
        let retry_after: u64 = retry_after.unwrap().parse().unwrap();
        assert!((1..=2).contains(&retry_after), "{retry_after}");
        // Even the right password waits for the lockout...
        assert_eq!(attempt(0, USER_PASSWORD).await.status, 429);
        // ...an admin sees it...
        let path = format!("/api/v1/users/{}", user.id);
        let seen = app.get(&path, Some(app.admin())).await;
        assert!(seen.body["locked_until"].is_string(), "{}", seen.text);
        // ...and once it is over, the right password works on either process.
        tokio::time::sleep(Duration::from_millis(2_100)).await;
        assert_eq!(attempt(1, USER_PASSWORD).await.status, 200);

        // Locked again; an admin lifts the lock at once.
        for n in 0..5 {
            assert_eq!(attempt(n, "wrong password guess").await.status, 401);
        }
        assert_eq!(attempt(0, USER_PASSWORD).await.status, 429);
        let unlocked = app
            .send(
                Method::POST,
                &format!("{path}/unlock"),
                Some(app.admin()),
                None,
                &[],
            )
            .await;
        assert_eq!(unlocked.status, 200, "{}", unlocked.text);
        assert_eq!(unlocked.body["locked_until"], serde_json::Value::Null);
        assert_eq!(attempt(1, USER_PASSWORD).await.status, 200);

        // An unknown username is throttled exactly like a known one.
        let unknown = |n: usize| {
            let app = &app;
            async move {
                let _ = n;
                app.post(
                    "/api/v1/auth/login",
                    None,
                    &json!({"username": "nobody", "password": "wrong password guess"}),
                )
                .await
                .status
            }
        };
        for n in 0..5 {
            assert_eq!(unknown(n).await, 401);
        }
        assert_eq!(unknown(5).await, 429);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        run(TestApp::spawn_with(Backend::Sqlite, short_lockout)
            .await
            .unwrap())
        .await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        if let Some(app) = TestApp::spawn_with(Backend::Postgres, short_lockout).await {
            run(app).await;
        }
    }
}

/// The daily maintenance keeps `login_throttles` small: rows whose window
/// passed long ago go, a lockout still in force (or recent) stays.
async fn stale_login_throttles_are_forgotten(app: TestApp) {
    use refuge::auth::throttle::{self, Key};
    let settings = app.settings.auth.login_throttle;
    let (forgotten, still_locked) = app
        .with_db(move |conn| {
            // In one transaction: the server's own start-up maintenance may
            // be forgetting stale rows at this very moment, and must not
            // take the one written here before it is counted.
            use diesel::Connection;
            conn.transaction::<_, diesel::result::Error, _>(|conn| {
                let now = chrono::Utc::now().naive_utc();
                let long_ago = now - chrono::TimeDelta::days(2);
                // One failure two days ago, from an address tried once.
                throttle::record_failure(conn, &Key::address("203.0.113.7"), &settings, long_ago)
                    .unwrap();
                // A username locked just now.
                for _ in 0..settings.max_failures_per_username {
                    throttle::record_failure(conn, &Key::username("anna"), &settings, now).unwrap();
                }
                let forgotten = throttle::forget_stale(conn, &settings, now).unwrap();
                let locked = throttle::locked_for(conn, &[Key::username("anna")], now).unwrap();
                Ok((forgotten, locked))
            })
            .unwrap()
        })
        .await;
    assert_eq!(forgotten, 1);
    assert!(still_locked.is_some());
}
