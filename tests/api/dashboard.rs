//! The dashboard's files: served without a token, with their media types,
//! a strict Content-Security-Policy, and ETags a browser revalidates.

use reqwest::Method;

use crate::backend_tests;
use crate::helpers::TestApp;

backend_tests!(
    the_root_and_dashboard_redirect_to_the_page,
    every_dashboard_file_is_served_with_its_type_policy_and_etag,
    unknown_dashboard_files_and_other_methods_are_refused
);

/// Every file the page loads, with the media type it must have.
const FILES: [(&str, &str); 5] = [
    ("/dashboard/", "text/html; charset=utf-8"),
    ("/dashboard/app.js", "text/javascript; charset=utf-8"),
    ("/dashboard/i18n.js", "text/javascript; charset=utf-8"),
    ("/dashboard/app.css", "text/css; charset=utf-8"),
    (
        "/dashboard/chart.umd.min.js",
        "text/javascript; charset=utf-8",
    ),
];

async fn the_root_and_dashboard_redirect_to_the_page(app: TestApp) {
    for path in ["/", "/dashboard"] {
        let response = app.get(path, None).await;
        assert_eq!(response.status, 302, "{path}: {}", response.text);
        assert_eq!(response.header("location"), Some("/dashboard/"), "{path}");
    }
}

async fn every_dashboard_file_is_served_with_its_type_policy_and_etag(app: TestApp) {
    let mut etags = Vec::new();
    for (path, content_type) in FILES {
        let response = app.get(path, None).await;
        assert_eq!(response.status, 200, "{path}: {}", response.text);
        assert_eq!(
            response.header("content-type"),
            Some(content_type),
            "{path}"
        );
        assert!(!response.text.is_empty(), "{path} has a body");
        let policy = response.header("content-security-policy").unwrap_or("");
        for directive in [
            "default-src 'self'",
            "script-src 'self'",
            "style-src 'self'",
            "connect-src 'self'",
            "object-src 'none'",
            "frame-ancestors 'none'",
        ] {
            assert!(
                policy.contains(directive),
                "{path}: {directive} in {policy}"
            );
        }
        assert!(
            !policy.contains("unsafe-inline") && !policy.contains("unsafe-eval"),
            "{path}: {policy}"
        );
        assert_eq!(response.header("x-content-type-options"), Some("nosniff"));
        assert_eq!(response.header("referrer-policy"), Some("no-referrer"));
        assert_eq!(response.header("cache-control"), Some("no-cache"));
        let etag = response.header("etag").expect("an ETag").to_string();
        assert!(
            etag.starts_with('"') && !etag.starts_with("W/"),
            "{path}: a strong ETag, not {etag}"
        );

        // The browser's copy is current: 304 without a body, also when the
        // tag is one of several, weakly compared, or `*`.
        for if_none_match in [etag.clone(), format!("\"0123\", W/{etag}"), "*".to_string()] {
            let unchanged = app
                .send(
                    Method::GET,
                    path,
                    None,
                    None,
                    &[("if-none-match", &if_none_match)],
                )
                .await;
            assert_eq!(
                unchanged.status, 304,
                "{path} If-None-Match: {if_none_match}"
            );
            assert!(unchanged.text.is_empty());
            assert_eq!(unchanged.header("etag"), Some(etag.as_str()));
        }
        // A copy of another version is replaced.
        let stale = app
            .send(
                Method::GET,
                path,
                None,
                None,
                &[("if-none-match", "\"0123456789abcdef0123456789abcdef\"")],
            )
            .await;
        assert_eq!(stale.status, 200, "{path}");
        assert_eq!(stale.text, response.text);
        etags.push(etag);
    }
    etags.sort();
    etags.dedup();
    assert_eq!(etags.len(), FILES.len(), "each file its own ETag");

    // The page loads these files, from this origin only; the app imports
    // its strings.
    let page = app.get("/dashboard/", None).await.text;
    for path in [
        "/dashboard/app.css",
        "/dashboard/chart.umd.min.js",
        "/dashboard/app.js",
    ] {
        assert!(
            page.contains(&format!("\"{path}\"")),
            "the page loads {path}"
        );
    }
    assert!(!page.contains("http://") && !page.contains("https://"));
    assert!(!page.contains("<script>"), "no inline script");
    let script = app.get("/dashboard/app.js", None).await.text;
    assert!(
        script.contains("from './i18n.js'"),
        "the app imports i18n.js"
    );
}

async fn unknown_dashboard_files_and_other_methods_are_refused(app: TestApp) {
    for path in [
        "/dashboard/nothing.js",
        "/dashboard/index.html",
        "/dashboard/vendor/chart.umd.min.js",
        "/dashboard/..%2Fopenapi.yaml",
    ] {
        let response = app.get(path, None).await;
        assert_eq!(response.status, 404, "{path}");
        assert!(
            response
                .header("content-type")
                .is_some_and(|t| t.starts_with("application/problem+json")),
            "{path}"
        );
        assert_eq!(response.body["code"], "not-found", "{path}");
    }
    for path in ["/", "/dashboard", "/dashboard/", "/dashboard/app.js"] {
        let response = app
            .send(Method::POST, path, None, Some(b"{}".to_vec()), &[])
            .await;
        assert_eq!(response.status, 405, "POST {path}");
        assert_eq!(response.header("allow"), Some("GET"), "POST {path}");
        assert_eq!(response.body["code"], "method-not-allowed");
    }
}
