//! The dashboard: a single-page app in the browser, served by the binary
//! itself so that it works on a center's network cut off from the internet.
//!
//! Its files (`dashboard/` at the top of the repository, Chart.js vendored
//! in `dashboard/vendor/`) are compiled into the binary. They hold no data
//! and need no token: the page logs in with the API's login and reads every
//! figure from the API with its bearer token, so each role sees exactly
//! what the API lets it see.
//!
//! Each file is sent with a strong ETag (a hash of its bytes) and
//! `Cache-Control: no-cache`: a browser keeps its copy and revalidates it
//! on every load (a 304 costs a round trip, not the file), so a new binary's
//! files are never mixed with an old cached one. A strict
//! Content-Security-Policy allows scripts, styles and connections to this
//! origin only, and no inline script or style.

use std::sync::LazyLock;

use actix_web::http::header::{self, HeaderValue};
use actix_web::{web, HttpRequest, HttpResponse};
use sha2::{Digest, Sha256};

use crate::error::ApiError;
use crate::http::routes::resource;

/// Where the dashboard lives; `/` and `/dashboard` redirect here.
pub const PATH: &str = "/dashboard/";

/// The policy every dashboard file is sent with: this origin only, no
/// inline script or style, no plugins, no framing. `data:` and `blob:`
/// images are the page's own icon and the charts' images; downloads are
/// object URLs of blobs fetched with the token.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; \
     style-src 'self'; img-src 'self' data: blob:; connect-src 'self'; font-src 'self'; \
     object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// One embedded file.
struct Asset {
    /// Its name under `/dashboard/` (`""` for the page itself).
    name: &'static str,
    content_type: &'static str,
    body: &'static [u8],
}

const HTML: &str = "text/html; charset=utf-8";
const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";

/// Every file the dashboard has. openapi.yaml lists the same names.
const ASSETS: &[Asset] = &[
    Asset {
        name: "",
        content_type: HTML,
        body: include_bytes!("../dashboard/index.html"),
    },
    Asset {
        name: "app.js",
        content_type: JS,
        body: include_bytes!("../dashboard/app.js"),
    },
    Asset {
        name: "i18n.js",
        content_type: JS,
        body: include_bytes!("../dashboard/i18n.js"),
    },
    Asset {
        name: "app.css",
        content_type: CSS,
        body: include_bytes!("../dashboard/app.css"),
    },
    Asset {
        name: "chart.umd.min.js",
        content_type: JS,
        body: include_bytes!("../dashboard/vendor/chart.umd.min.js"),
    },
];

/// Each asset's strong ETag, in the order of [`ASSETS`]: the first 128 bits
/// of the SHA-256 of its bytes, computed once.
static ETAGS: LazyLock<Vec<String>> = LazyLock::new(|| {
    ASSETS
        .iter()
        .map(|asset| {
            let digest = Sha256::digest(asset.body);
            format!("\"{}\"", hex::encode(&digest[..16]))
        })
        .collect()
});

/// `GET /` and `GET /dashboard`: to the dashboard.
async fn redirect() -> HttpResponse {
    HttpResponse::Found()
        .insert_header((header::LOCATION, PATH))
        .finish()
}

/// `GET /dashboard/`: the page.
async fn index(req: HttpRequest) -> HttpResponse {
    serve(&req, 0)
}

/// `GET /dashboard/{file}`: a script or style sheet the page loads.
async fn file(req: HttpRequest, name: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let name = name.into_inner();
    ASSETS
        .iter()
        .position(|asset| !asset.name.is_empty() && asset.name == name)
        .map(|at| serve(&req, at))
        .ok_or_else(|| ApiError::NotFound("the dashboard has no such file".into()))
}

/// The asset at `at`, or 304 when the request's `If-None-Match` names its
/// ETag (or is `*`).
fn serve(req: &HttpRequest, at: usize) -> HttpResponse {
    let asset = &ASSETS[at];
    let etag = &ETAGS[at];
    let unchanged = not_modified(req, etag);
    let mut response = if unchanged {
        HttpResponse::NotModified()
    } else {
        HttpResponse::Ok()
    };
    response
        .insert_header((header::ETAG, etag.as_str()))
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .insert_header((header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::REFERRER_POLICY, "no-referrer"));
    if unchanged {
        response.finish()
    } else {
        response
            .insert_header((header::CONTENT_TYPE, asset.content_type))
            .body(asset.body)
    }
}

/// Whether `If-None-Match` matches `etag` (RFC 9110 §13.1.2: `*`, or any
/// listed tag, compared weakly). A header that cannot be read matches
/// nothing, so the file is sent.
fn not_modified(req: &HttpRequest, etag: &str) -> bool {
    req.headers()
        .get_all(header::IF_NONE_MATCH)
        .filter_map(|value: &HeaderValue| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(str::trim)
        .any(|tag| tag == "*" || tag.strip_prefix("W/").unwrap_or(tag) == etag)
}

/// The dashboard's routes, at the root (outside `/api/v1`), without
/// authentication: the files hold no data.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/").get(redirect))
        .service(resource("/dashboard").get(redirect))
        .service(resource(PATH).get(index))
        .service(resource("/dashboard/{file}").get(file));
}
