//! The HTTP surface: merges each area's router, adds the OpenAPI document, the
//! 404/405 fallbacks in the error envelope, the 64 KiB body limit (a declared
//! length is refused from the head), request ids, tracing and metrics. Handlers
//! are thin: extract, call one domain function, map.

pub mod analytics;
pub mod auth;
pub mod claims;
pub mod console;
pub mod console_ui;
pub mod error;
pub mod events;
pub mod extract;
pub mod head;
pub mod ops;
pub mod otp;
pub mod schema;
pub mod session;
pub mod store;
pub mod wallet;
pub mod webhooks;

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::error_handling::HandleErrorLayer;
use axum::extract::DefaultBodyLimit;
use axum::http::{header, HeaderName, HeaderValue, Method, Request};
use axum::routing::get;
use axum::BoxError;
use axum::Router;
use tower::{ServiceBuilder, ServiceExt as _};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::timeout::RequestBodyTimeoutLayer;
use tower_http::trace::TraceLayer;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;

use crate::state::AppState;
use error::ApiError;

/// Largest request body accepted.
pub const BODY_LIMIT_BYTES: usize = 64 * 1024;

/// Largest request head (request line and headers) accepted; larger is 431.
pub const HEADER_LIMIT_BYTES: usize = 64 * 1024;

pub(crate) const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

#[derive(OpenApi)]
#[openapi(
    info(
        title = "kgen-loyalty",
        description = "KGeN Loyalty Protocol V1: rewardable events, gamer sessions, KCash wallets."
    ),
    modifiers(&SecuritySchemes),
    components(schemas(error::ErrorBody))
)]
struct ApiDoc;

struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        let header = |name: &str| SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::new(name)));
        components.add_security_scheme("client_id", header("x-client-id"));
        components.add_security_scheme("client_secret", header("x-client-secret"));
        components.add_security_scheme("user_jwt", header("user-jwt-token"));
        components.add_security_scheme(
            "console_session",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                console::COOKIE_NAME,
                "The console session cookie set by POST /console/api/login",
            ))),
        );
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
        components.add_security_scheme(
            "metrics_token",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// The routes a game's server calls, and the operational ones: no CORS.
fn server_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .merge(ops::router())
        .merge(console_ui::router())
        .merge(events::router())
        .merge(session::s2s_router())
        .merge(webhooks::router())
        .merge(console::router())
}

/// The routes a game's front end calls, possibly from a browser.
fn front_end_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .merge(session::fe_router())
        .merge(wallet::router())
        .merge(claims::router())
        .merge(otp::router())
        .merge(store::router())
        .merge(analytics::router())
}

/// Every route of the API, with its OpenAPI description.
fn api_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(server_routes())
        .merge(front_end_routes())
}

/// Puts CORS in front of the `/fe/*` paths only: a game's server never needs it,
/// so `/s2s/*` answers no preflight and sends no CORS headers.
fn with_front_end_cors(app: Router, cors: Option<CorsLayer>) -> Router {
    let Some(cors) = cors else {
        return app;
    };
    let with_cors = ServiceBuilder::new().layer(cors).service(app.clone());
    Router::new().fallback_service(tower::service_fn(move |request: Request<Body>| {
        let (plain, with_cors) = (app.clone(), with_cors.clone());
        async move {
            if request.uri().path().starts_with("/fe/") {
                with_cors.oneshot(request).await
            } else {
                plain.oneshot(request).await
            }
        }
    }))
}

/// CORS for browser front ends: the configured origins (`*` for any), any of our
/// methods, and the headers the front-end API reads.
fn cors_layer(origins: &[String]) -> Option<CorsLayer> {
    let origins: Vec<&String> = origins.iter().filter(|o| !o.trim().is_empty()).collect();
    if origins.is_empty() {
        return None;
    }
    let allow_origin = if origins.iter().any(|o| o.trim() == "*") {
        AllowOrigin::any()
    } else {
        let values = origins
            .iter()
            .filter_map(|o| HeaderValue::from_str(o.trim().trim_end_matches('/')).ok());
        AllowOrigin::list(values)
    };
    Some(
        CorsLayer::new()
            .allow_origin(allow_origin)
            .allow_methods([Method::GET, Method::POST, Method::PUT, Method::DELETE])
            .allow_headers([
                header::CONTENT_TYPE,
                header::AUTHORIZATION,
                HeaderName::from_static("user-jwt-token"),
                HeaderName::from_static("idempotency-key"),
            ])
            .expose_headers([header::RETRY_AFTER, HeaderName::from_static("ratelimit")])
            .max_age(Duration::from_secs(600)),
    )
}

/// A handler that panicked: logged, and answered like any internal error.
fn handler_panicked(_: Box<dyn std::any::Any + Send + 'static>) -> axum::response::Response {
    use axum::response::IntoResponse as _;
    ApiError::Domain(crate::domain::Error::Internal(anyhow::anyhow!(
        "a handler panicked"
    )))
    .into_response()
}

/// A request that outlived `request_timeout_seconds`.
async fn request_timed_out(_: BoxError) -> ApiError {
    ApiError::Domain(crate::domain::Error::Unavailable)
}

/// The complete application router.
pub fn router(state: AppState) -> Router {
    let config = Arc::clone(&state.config);
    let (router, mut api) = api_router().split_for_parts();
    console::document_guard(&mut api);
    let document = Arc::new(api.to_json().expect("the OpenAPI document serializes"));
    let openapi_json = move || {
        let document = Arc::clone(&document);
        async move {
            (
                [(axum::http::header::CONTENT_TYPE, "application/json")],
                document.as_str().to_owned(),
            )
        }
    };
    let app = router
        .route("/openapi.json", get(openapi_json))
        .fallback(ops::route_not_found)
        .method_not_allowed_fallback(ops::method_not_allowed)
        .layer(CatchPanicLayer::custom(handler_panicked))
        .layer(DefaultBodyLimit::max(BODY_LIMIT_BYTES))
        .layer(RequestBodyTimeoutLayer::new(Duration::from_secs(
            config.read_timeout_seconds.max(1),
        )))
        .layer(
            ServiceBuilder::new()
                .layer(HandleErrorLayer::new(request_timed_out))
                .timeout(Duration::from_secs(config.request_timeout_seconds.max(1))),
        )
        .layer(axum::middleware::map_request(
            head::refuse_declared_oversized_body,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            ops::track_requests,
        ))
        .layer(
            TraceLayer::new_for_http().make_span_with(|request: &Request<_>| {
                let request_id = request
                    .headers()
                    .get(&REQUEST_ID)
                    .and_then(|value| value.to_str().ok())
                    .unwrap_or_default();
                tracing::info_span!(
                    "request",
                    method = %request.method(),
                    path = %request.uri().path(),
                    request_id,
                )
            }),
        )
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
        .layer(axum::middleware::map_request(head::drop_forged_request_id))
        .with_state(state);
    with_front_end_cors(app, cors_layer(&config.cors_origins))
}
