//! The studio console's web app (`/console/`) and the interactive API reference
//! (`/docs`): static files compiled into the binary, so both work on a machine
//! with no internet and `serve` needs no Node.js. The files live in `console/app/`
//! and `console/docs/` (see `console/README.md`); the console's JSON API under
//! `/console/api/` is another module's.
//!
//! Every answer carries a `Content-Security-Policy` that allows only this origin
//! and no inline script, `X-Content-Type-Options: nosniff`, and an `ETag` with
//! `Cache-Control: no-cache`: browsers keep the files but ask each time whether
//! they changed, so a new binary is picked up at once (file names carry no hash).

use std::collections::HashMap;
use std::sync::LazyLock;

use axum::extract::Path;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use sha2::{Digest, Sha256};
use utoipa_axum::router::OpenApiRouter;

use super::error::ApiError;

/// The console's policy: only this origin, no inline script or style, no framing.
const CONSOLE_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     img-src 'self'; connect-src 'self'; form-action 'self'; base-uri 'none'; \
     frame-ancestors 'none'";

/// The reference's policy. Swagger UI sets `style` attributes from script and
/// uses `data:` images in its stylesheet; neither reaches another origin, and
/// script stays `'self'` only.
const DOCS_CSP: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; \
     form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

/// One embedded file.
struct Asset {
    /// Path below the folder's URL prefix.
    path: &'static str,
    /// `Content-Type` it is served with.
    content_type: &'static str,
    /// The file.
    bytes: &'static [u8],
}

/// Declares an embedded file of `console/<folder>/<path>`.
macro_rules! asset {
    ($folder:literal, $path:literal, $type:expr) => {
        Asset {
            path: $path,
            content_type: $type,
            bytes: include_bytes!(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/console/",
                $folder,
                "/",
                $path
            )),
        }
    };
}

const HTML: &str = "text/html; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";
const JS: &str = "text/javascript; charset=utf-8";
const SVG: &str = "image/svg+xml";

/// The web app: `index.html` is `/console/`, the rest is under `/console/assets/`.
const APP: &[Asset] = &[
    asset!("app", "index.html", HTML),
    asset!("app", "app.css", CSS),
    asset!("app", "icon.svg", SVG),
    asset!("app", "js/main.js", JS),
    asset!("app", "js/api.js", JS),
    asset!("app", "js/dom.js", JS),
    asset!("app", "js/format.js", JS),
    asset!("app", "js/charts.js", JS),
    asset!("app", "js/shell.js", JS),
    asset!("app", "js/pages/login.js", JS),
    asset!("app", "js/pages/games.js", JS),
    asset!("app", "js/pages/dashboard.js", JS),
    asset!("app", "js/pages/events.js", JS),
    asset!("app", "js/pages/event_form.js", JS),
    asset!("app", "js/pages/gamers.js", JS),
    asset!("app", "js/pages/gamer.js", JS),
    asset!("app", "js/pages/adjustments.js", JS),
    asset!("app", "js/pages/withdrawals.js", JS),
    asset!("app", "js/pages/audit.js", JS),
    asset!("app", "js/pages/webhooks.js", JS),
];

/// The API reference: `docs.html` is `/docs`, the rest is under `/docs/assets/`.
const DOCS: &[Asset] = &[
    asset!("docs", "docs.html", HTML),
    asset!("docs", "docs.css", CSS),
    asset!("docs", "docs.js", JS),
    asset!("docs", "vendor/swagger-ui-bundle.js", JS),
    asset!("docs", "vendor/swagger-ui.css", CSS),
];

/// An embedded file ready to serve: its headers are computed once.
struct Served {
    asset: &'static Asset,
    etag: HeaderValue,
    csp: &'static str,
}

/// Every file by its URL path, with its `ETag` (a hash of the bytes).
static FILES: LazyLock<HashMap<String, Served>> = LazyLock::new(|| {
    let app = APP
        .iter()
        .map(|asset| (asset, "/console/assets/", CONSOLE_CSP));
    let docs = DOCS.iter().map(|asset| (asset, "/docs/assets/", DOCS_CSP));
    app.chain(docs)
        .map(|(asset, prefix, csp)| {
            let digest = Sha256::digest(asset.bytes);
            let etag = format!("\"{}\"", hex::encode(&digest[..12]));
            let served = Served {
                asset,
                etag: HeaderValue::from_str(&etag).expect("a hex ETag is a valid header"),
                csp,
            };
            (format!("{prefix}{}", asset.path), served)
        })
        .collect()
});

/// The routes of the app and of the reference (outside the OpenAPI document:
/// they serve pages, not API).
pub fn router<S: Clone + Send + Sync + 'static>() -> OpenApiRouter<S> {
    OpenApiRouter::new()
        .route(
            "/console",
            get(|| async { Redirect::permanent("/console/") }),
        )
        .route("/console/", get(app_page))
        .route("/console/assets/{*path}", get(app_asset))
        .route("/docs", get(docs_page))
        .route("/docs/", get(|| async { Redirect::permanent("/docs") }))
        .route("/docs/assets/{*path}", get(docs_asset))
}

async fn app_page(headers: HeaderMap) -> Response {
    serve("/console/assets/index.html", &headers)
}

async fn app_asset(Path(path): Path<String>, headers: HeaderMap) -> Response {
    serve(&format!("/console/assets/{path}"), &headers)
}

async fn docs_page(headers: HeaderMap) -> Response {
    serve("/docs/assets/docs.html", &headers)
}

async fn docs_asset(Path(path): Path<String>, headers: HeaderMap) -> Response {
    serve(&format!("/docs/assets/{path}"), &headers)
}

/// Answers one file, or 304 when the browser's copy is current, or the usual
/// 404 envelope for a path that is not embedded.
fn serve(key: &str, request: &HeaderMap) -> Response {
    let Some(file) = FILES.get(key) else {
        return ApiError::RouteNotFound.into_response();
    };
    let fresh = request
        .get(header::IF_NONE_MATCH)
        .is_some_and(|tags| tags.as_bytes() == file.etag.as_bytes());
    let headers = [
        (
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(file.csp),
        ),
        (
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ),
        (header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")),
        (
            header::REFERRER_POLICY,
            HeaderValue::from_static("same-origin"),
        ),
        (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        (header::ETAG, file.etag.clone()),
    ];
    if fresh {
        return (StatusCode::NOT_MODIFIED, headers).into_response();
    }
    let content_type = (
        header::CONTENT_TYPE,
        HeaderValue::from_static(file.asset.content_type),
    );
    (headers, [content_type], file.asset.bytes).into_response()
}
