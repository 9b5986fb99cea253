//! Keeps transport abuse closed: made-up methods and paths cannot grow `/metrics`
//! (HTTP/1.1 and HTTP/2), `/metrics` can require a token, connections that never
//! send a request head are closed whatever their protocol, idle ones after the idle
//! timeout, a forged `x-request-id` is replaced, and a declared oversized body is
//! refused before it is sent.

use std::time::{Duration, Instant};

use axum::http::{Method, Request};
use reqwest::Method as ReqwestMethod;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::{spawn_app, spawn_app_with, TestApp};

mod binary;

/// The read timeout the connection tests run with.
const READ_TIMEOUT: Duration = Duration::from_secs(1);
/// The idle timeout the connection tests run with.
const IDLE_TIMEOUT: Duration = Duration::from_secs(3);
/// What the server may take beyond a timeout to close a connection (a noisy machine).
const MARGIN: Duration = Duration::from_millis(2500);

const HEALTHZ: &[u8] = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
/// An empty HTTP/2 SETTINGS frame.
const H2_EMPTY_SETTINGS: &[u8] = &[0, 0, 0, 4, 0, 0, 0, 0, 0];

async fn spawn_app_with_short_timeouts() -> TestApp {
    spawn_app_with(|config| {
        config.read_timeout_seconds = READ_TIMEOUT.as_secs();
        config.idle_timeout_seconds = IDLE_TIMEOUT.as_secs();
    })
    .await
}

async fn connect(app: &TestApp) -> TcpStream {
    TcpStream::connect(app.base_url.trim_start_matches("http://"))
        .await
        .expect("connecting to the server")
}

/// Reads until the server closes the connection (EOF or reset); the time it took.
async fn time_until_closed(stream: &mut TcpStream, limit: Duration) -> Duration {
    let started = Instant::now();
    let mut buffer = vec![0; 16 * 1024];
    loop {
        match tokio::time::timeout_at((started + limit).into(), stream.read(&mut buffer)).await {
            Ok(Ok(0) | Err(_)) => return started.elapsed(),
            Ok(Ok(_)) => {}
            Err(_) => panic!("the connection was still open after {limit:?}"),
        }
    }
}

/// Reads until `needle` has arrived; the text read.
async fn read_until(stream: &mut TcpStream, needle: &str, limit: Duration) -> String {
    let deadline = Instant::now() + limit;
    let mut text = Vec::new();
    let mut buffer = vec![0; 16 * 1024];
    while !String::from_utf8_lossy(&text).contains(needle) {
        let read = tokio::time::timeout_at(deadline.into(), stream.read(&mut buffer))
            .await
            .unwrap_or_else(|_| panic!("no {needle:?} within {limit:?}: {text:?}"))
            .expect("reading the answer");
        assert_ne!(
            read,
            0,
            "closed before {needle:?}: {:?}",
            String::from_utf8_lossy(&text)
        );
        text.extend_from_slice(&buffer[..read]);
    }
    String::from_utf8_lossy(&text).into_owned()
}

async fn metrics_text(app: &TestApp) -> String {
    let response = app.request(ReqwestMethod::GET, "/metrics").send().await;
    response.unwrap().text().await.unwrap()
}

/// A method name nobody registered: `index` makes it unique, `length` long.
fn made_up_method(index: usize, length: usize) -> String {
    format!("M{index}{}", "X".repeat(length))
}

#[tokio::test]
async fn made_up_methods_and_paths_over_http1_leave_metrics_small() {
    let app = spawn_app().await;
    let stream = connect(&app).await;
    let count = 2_000;
    let mut requests = String::new();
    for index in 0..count {
        let method = made_up_method(index, 1024);
        requests.push_str(&format!(
            "{method} /no/such/{index} HTTP/1.1\r\nHost: x\r\n\r\n"
        ));
    }
    requests.push_str("GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");

    // Written while the answers are read, so that neither side's buffer fills up.
    let (mut reader, mut writer) = stream.into_split();
    // The write half is handed back, not dropped: dropping it would half-close.
    let writing =
        tokio::spawn(async move { writer.write_all(requests.as_bytes()).await.map(|()| writer) });
    let mut answers = String::new();
    reader.read_to_string(&mut answers).await.unwrap();
    drop(writing.await.unwrap().unwrap());
    let metrics = metrics_text(&app).await;

    assert_eq!(answers.matches("HTTP/1.1 ").count(), count + 1);
    assert!(
        metrics.len() < 64 * 1024,
        "/metrics grew to {} bytes",
        metrics.len()
    );
    assert!(
        metrics.contains(&format!(
            r#"kgen_http_requests_total{{method="other",route="other",status="404"}} {count}"#
        )),
        "{metrics}"
    );
}

#[tokio::test]
async fn made_up_methods_over_http2_leave_metrics_small() {
    let app = spawn_app().await;
    let (mut client, connection) = h2::client::handshake(connect(&app).await).await.unwrap();
    tokio::spawn(connection);
    let count = 500;

    for index in 0..count {
        let method = Method::from_bytes(made_up_method(index, 1024).as_bytes()).unwrap();
        let request = Request::builder()
            .method(method)
            .uri(format!("{}/healthz", app.base_url))
            .body(())
            .unwrap();
        client = client.ready().await.unwrap();
        let (answer, _) = client.send_request(request, true).unwrap();
        assert_eq!(answer.await.unwrap().status(), 405);
    }
    let metrics = metrics_text(&app).await;

    assert!(
        metrics.len() < 64 * 1024,
        "/metrics grew to {} bytes",
        metrics.len()
    );
    assert!(
        metrics.contains(&format!(
            r#"kgen_http_requests_total{{method="other",route="/healthz",status="405"}} {count}"#
        )),
        "{metrics}"
    );
}

#[tokio::test]
async fn metrics_need_the_bearer_token_when_one_is_configured() {
    let app =
        spawn_app_with(|config| config.metrics_token = Some("s3cret-T0ken".parse().unwrap())).await;
    let metrics = |token: Option<&str>| {
        let request = app.request(ReqwestMethod::GET, "/metrics");
        match token {
            Some(token) => request.header("authorization", format!("Bearer {token}")),
            None => request,
        }
    };

    let without = app.send(metrics(None)).await;
    let wrong = app.send(metrics(Some("s3cret-T0kem"))).await;
    let prefix = app.send(metrics(Some("s3cret"))).await;
    let right = metrics(Some("s3cret-T0ken")).send().await.unwrap();

    without.assert_error(401, "UN_AUTHORIZED");
    wrong.assert_error(401, "UN_AUTHORIZED");
    prefix.assert_error(401, "UN_AUTHORIZED");
    assert_eq!(right.status(), 200);
    assert!(right
        .text()
        .await
        .unwrap()
        .contains("kgen_http_requests_total"));
}

#[tokio::test]
async fn a_connection_that_sends_nothing_is_closed_after_the_read_timeout() {
    let app = spawn_app_with_short_timeouts().await;
    let mut stream = connect(&app).await;

    let open_for = time_until_closed(&mut stream, READ_TIMEOUT + MARGIN).await;

    assert!(
        open_for >= READ_TIMEOUT - Duration::from_millis(200),
        "{open_for:?}"
    );
}

#[tokio::test]
async fn a_connection_that_sends_one_byte_is_closed_after_the_read_timeout() {
    let app = spawn_app_with_short_timeouts().await;
    let mut stream = connect(&app).await;
    // "P" could still become the HTTP/2 preface: the protocol is not known yet.
    stream.write_all(b"P").await.unwrap();

    let open_for = time_until_closed(&mut stream, READ_TIMEOUT + MARGIN).await;

    assert!(
        open_for >= READ_TIMEOUT - Duration::from_millis(200),
        "{open_for:?}"
    );
}

#[tokio::test]
async fn an_http2_connection_that_sends_only_the_preface_is_closed_after_the_read_timeout() {
    let app = spawn_app_with_short_timeouts().await;
    let mut stream = connect(&app).await;
    stream.write_all(H2_PREFACE).await.unwrap();
    stream.write_all(H2_EMPTY_SETTINGS).await.unwrap();

    let open_for = time_until_closed(&mut stream, READ_TIMEOUT + MARGIN).await;

    assert!(
        open_for >= READ_TIMEOUT - Duration::from_millis(200),
        "{open_for:?}"
    );
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed_after_the_idle_timeout_not_before() {
    let app = spawn_app_with_short_timeouts().await;
    let mut stream = connect(&app).await;
    stream.write_all(HEALTHZ).await.unwrap();
    read_until(&mut stream, "\"ok\"}", Duration::from_secs(5)).await;

    let open_for = time_until_closed(&mut stream, IDLE_TIMEOUT + MARGIN).await;

    assert!(
        open_for >= IDLE_TIMEOUT - Duration::from_millis(200),
        "{open_for:?}"
    );
}

#[tokio::test]
async fn an_idle_http2_connection_is_closed_after_the_idle_timeout_not_before() {
    let app = spawn_app_with_short_timeouts().await;
    let (client, connection) = h2::client::handshake(connect(&app).await).await.unwrap();
    let connection = tokio::spawn(connection);
    let request = Request::get(format!("{}/healthz", app.base_url))
        .body(())
        .unwrap();
    let mut client = client.ready().await.unwrap();
    let (answer, _) = client.send_request(request, true).unwrap();
    assert_eq!(answer.await.unwrap().status(), 200);
    let started = Instant::now();

    tokio::time::timeout(IDLE_TIMEOUT + MARGIN, connection)
        .await
        .expect("the server closes the idle HTTP/2 connection")
        .unwrap()
        .ok();

    let open_for = started.elapsed();
    assert!(
        open_for >= IDLE_TIMEOUT - Duration::from_millis(200),
        "{open_for:?}"
    );
    drop(client);
}

#[tokio::test]
async fn a_keep_alive_connection_serves_a_request_after_a_pause_longer_than_the_read_timeout() {
    let app = spawn_app_with_short_timeouts().await;
    let mut stream = connect(&app).await;
    stream.write_all(HEALTHZ).await.unwrap();
    read_until(&mut stream, "\"ok\"}", Duration::from_secs(5)).await;

    tokio::time::sleep(READ_TIMEOUT + Duration::from_millis(700)).await;
    stream.write_all(HEALTHZ).await.unwrap();
    let second = read_until(&mut stream, "\"ok\"}", Duration::from_secs(5)).await;

    assert!(second.starts_with("HTTP/1.1 200"), "{second}");
}

#[tokio::test]
async fn a_request_id_of_the_contract_form_is_echoed() {
    let app = spawn_app().await;
    for id in ["Req-1_2.3", "a", &"A".repeat(64)] {
        let answer = app
            .send(
                app.request(ReqwestMethod::GET, "/healthz")
                    .header("x-request-id", id),
            )
            .await;

        assert_eq!(answer.headers["x-request-id"], id);
    }
}

#[tokio::test]
async fn a_request_id_of_another_form_is_replaced_by_the_servers_own() {
    let app = spawn_app().await;
    let forged = [
        "",
        "abc otp=123456 phone=+919812345670",
        "a/b",
        "é",
        &"A".repeat(65),
    ];
    for id in forged {
        let answer = app
            .send(
                app.request(ReqwestMethod::GET, "/healthz")
                    .header("x-request-id", id),
            )
            .await;

        let echoed = answer.headers["x-request-id"].to_str().unwrap();
        assert_ne!(echoed, id);
        assert!(uuid::Uuid::parse_str(echoed).is_ok(), "{echoed}");
    }
}

#[tokio::test]
async fn a_declared_body_over_64_kib_is_refused_413_before_it_is_sent() {
    let app = spawn_app().await;
    let client = app.create_client().await;
    let mut stream = connect(&app).await;
    let head = format!(
        "PUT /s2s/loyalty/rewardable-events HTTP/1.1\r\nHost: x\r\nx-client-id: {}\r\n\
         x-client-secret: {}\r\ncontent-type: application/json\r\ncontent-length: 10000000\r\n\r\n",
        client.id, client.secret
    );
    let started = Instant::now();

    stream.write_all(head.as_bytes()).await.unwrap();
    let answer = read_until(&mut stream, "PAYLOAD_TOO_LARGE", Duration::from_secs(3)).await;

    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(
        started.elapsed() < Duration::from_millis(1500),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(
        app.list_events(&client, "").await.body["rewardableEvents"],
        serde_json::json!([])
    );
}

/// hyper answers these itself, before any of our code runs: the status is right,
/// the body is empty (see the README's Decisions), and the server keeps serving.
#[tokio::test]
async fn malformed_request_heads_are_4xx_and_the_server_keeps_serving() {
    let app = spawn_app().await;
    let too_large = format!(
        "GET /healthz HTTP/1.1\r\nHost: x\r\nx-big: {}\r\n\r\n",
        "a".repeat(70_000)
    );
    let cases = [
        (
            b"GET /healthz HTTP/1.1\r\nHost: x\r\nno colon here\r\n\r\n".to_vec(),
            "HTTP/1.1 400",
        ),
        (
            b"GET /a b c HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(),
            "HTTP/1.1 400",
        ),
        (too_large.into_bytes(), "HTTP/1.1 431"),
    ];
    for (request, status) in cases {
        let mut stream = connect(&app).await;
        stream.write_all(&request).await.ok();

        let answer = read_until(&mut stream, "\r\n\r\n", Duration::from_secs(5)).await;

        assert!(answer.starts_with(status), "{answer}");
    }
    assert_eq!(
        app.send(app.request(ReqwestMethod::GET, "/healthz"))
            .await
            .status,
        200
    );
}
