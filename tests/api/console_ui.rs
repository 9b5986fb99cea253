//! Proves that the console app (`/console/`) and the API reference (`/docs`) are
//! served from the binary with their security and caching headers, and that a
//! path that is not an embedded file answers the usual 404 envelope.

use reqwest::header;

use crate::helpers::spawn_app;

#[tokio::test]
async fn console_page_is_html_with_a_self_only_csp_nosniff_and_an_etag() {
    // Arrange
    let app = spawn_app().await;

    // Act
    let response = app
        .http
        .get(format!("{}/console/", app.base_url))
        .send()
        .await
        .expect("request");

    // Assert
    assert_eq!(response.status(), 200);
    let headers = response.headers().clone();
    let get = |name: header::HeaderName| headers[name].to_str().expect("ascii").to_owned();
    assert_eq!(get(header::CONTENT_TYPE), "text/html; charset=utf-8");
    let csp = get(header::CONTENT_SECURITY_POLICY);
    assert!(csp.contains("script-src 'self';"), "{csp}");
    assert!(csp.contains("default-src 'none'"), "{csp}");
    assert!(!csp.contains("unsafe") && !csp.contains("http"), "{csp}");
    assert_eq!(get(header::X_CONTENT_TYPE_OPTIONS), "nosniff");
    assert_eq!(get(header::CACHE_CONTROL), "no-cache");
    assert!(get(header::ETAG).starts_with('"'));
    let body = response.text().await.expect("body");
    assert!(body.contains(r#"<script type="module" src="/console/assets/js/main.js">"#));
    assert!(!body.contains("<script>"), "no inline script");
}

#[tokio::test]
async fn every_asset_the_pages_name_is_served_with_its_content_type() {
    // Arrange
    let app = spawn_app().await;
    let cases = [
        (
            "/console/assets/js/main.js",
            "text/javascript; charset=utf-8",
        ),
        (
            "/console/assets/js/pages/gamer.js",
            "text/javascript; charset=utf-8",
        ),
        ("/console/assets/app.css", "text/css; charset=utf-8"),
        ("/console/assets/icon.svg", "image/svg+xml"),
        ("/docs", "text/html; charset=utf-8"),
        ("/docs/assets/docs.js", "text/javascript; charset=utf-8"),
        (
            "/docs/assets/vendor/swagger-ui-bundle.js",
            "text/javascript; charset=utf-8",
        ),
        (
            "/docs/assets/vendor/swagger-ui.css",
            "text/css; charset=utf-8",
        ),
    ];

    for (path, content_type) in cases {
        // Act
        let response = app
            .http
            .get(format!("{}{path}", app.base_url))
            .send()
            .await
            .expect("request");

        // Assert
        assert_eq!(response.status(), 200, "{path}");
        assert_eq!(
            response.headers()[header::CONTENT_TYPE],
            content_type,
            "{path}"
        );
        assert_eq!(
            response.headers()[header::X_CONTENT_TYPE_OPTIONS],
            "nosniff",
            "{path}"
        );
    }
}

#[tokio::test]
async fn a_browser_copy_with_the_current_etag_gets_304_without_a_body() {
    // Arrange
    let app = spawn_app().await;
    let url = format!("{}/console/assets/app.css", app.base_url);
    let first = app.http.get(&url).send().await.expect("request");
    let etag = first.headers()[header::ETAG].clone();

    // Act
    let again = app
        .http
        .get(&url)
        .header(header::IF_NONE_MATCH, etag)
        .send()
        .await
        .expect("request");

    // Assert
    assert_eq!(again.status(), 304);
    assert!(again.bytes().await.expect("body").is_empty());
}

#[tokio::test]
async fn an_unknown_asset_answers_404_in_the_error_envelope() {
    // Arrange
    let app = spawn_app().await;

    for path in [
        "/console/assets/nope.js",
        "/console/assets/../../Cargo.toml",
        "/docs/assets/x",
    ] {
        // Act
        let response = app
            .http
            .get(format!("{}{path}", app.base_url))
            .send()
            .await
            .expect("request");

        // Assert
        assert_eq!(response.status(), 404, "{path}");
        let body: serde_json::Value = response.json().await.expect("json");
        assert!(body["code"].is_string(), "{path}: {body}");
    }
}

#[tokio::test]
async fn console_without_a_slash_redirects_to_the_app() {
    // Arrange
    let app = spawn_app().await;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");

    // Act
    let response = http
        .get(format!("{}/console", app.base_url))
        .send()
        .await
        .expect("request");

    // Assert
    assert_eq!(response.status(), 308);
    assert_eq!(response.headers()[header::LOCATION], "/console/");
}
