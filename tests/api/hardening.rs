//! Proves the defences against abuse: rate limits per client and per gamer with
//! `Retry-After` and `RateLimit`, CORS only on `/fe/*` and only for configured
//! origins, slow or oversized requests cut off, and hostile text stored exactly or
//! refused — never a 500.

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::helpers::{spawn_app, spawn_app_with};

#[tokio::test]
async fn each_client_has_its_own_rate_limit() {
    let app = spawn_app_with(|c| {
        c.rate_limit_client_per_second = 1;
        c.rate_limit_client_burst = 3;
    })
    .await;
    let client = app.create_client().await;
    let other = app.create_client().await;
    for _ in 0..3 {
        assert_eq!(app.list_events(&client, "").await.status, 200);
    }

    let limited = app.list_events(&client, "").await;

    limited.assert_error(429, "TOO_MANY_REQUESTS");
    let retry_after: u64 = limited.headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=2).contains(&retry_after), "Retry-After {retry_after}");
    let ratelimit = limited.headers["ratelimit"].to_str().unwrap();
    assert!(
        ratelimit.starts_with("limit=1, remaining=0, reset="),
        "{ratelimit}"
    );
    assert_eq!(
        app.list_events(&other, "").await.status,
        200,
        "other clients are not limited"
    );
}

#[tokio::test]
async fn each_gamer_has_its_own_rate_limit_and_refused_requests_write_nothing() {
    let app = spawn_app_with(|c| {
        c.rate_limit_gamer_per_second = 1;
        c.rate_limit_gamer_burst = 2;
    })
    .await;
    let client = app.create_client().await;
    let event = app.create_event(&client, 10, json!({})).await;
    let token = app.login(&client, "spammer").await;
    let other = app.login(&client, "calm").await;
    assert_eq!(app.claim(&token, &event).await.status, 201);
    assert_eq!(app.claim(&token, &event).await.status, 201);

    app.claim(&token, &event)
        .await
        .assert_error(429, "TOO_MANY_REQUESTS");

    assert_eq!(app.claim(&other, &event).await.status, 201);
    assert_eq!(app.scalar("select count(*) from claims").await, 3);
}

#[tokio::test]
async fn cors_answers_configured_origins_on_front_end_routes_only() {
    let app = spawn_app_with(|c| c.cors_origins = vec!["https://game.example".to_owned()]).await;
    let client = app.create_client().await;
    let token = app.login(&client, "p").await;
    let preflight = |path: &str, origin: &str| {
        app.request(Method::OPTIONS, path)
            .header("Origin", origin)
            .header("Access-Control-Request-Method", "GET")
            .header("Access-Control-Request-Headers", "user-jwt-token")
    };

    let allowed = app
        .send(preflight("/fe/wallet/balance", "https://game.example"))
        .await;
    assert!(allowed.status < 300, "preflight status {}", allowed.status);
    assert_eq!(
        allowed.headers["access-control-allow-origin"],
        "https://game.example"
    );
    let headers = allowed.headers["access-control-allow-headers"]
        .to_str()
        .unwrap();
    assert!(headers.contains("user-jwt-token"), "{headers}");

    let foreign = app
        .send(preflight("/fe/wallet/balance", "https://evil.example"))
        .await;
    assert!(foreign.headers.get("access-control-allow-origin").is_none());

    let server_route = app
        .send(preflight("/s2s/session", "https://game.example"))
        .await;
    assert!(
        server_route
            .headers
            .get("access-control-allow-origin")
            .is_none(),
        "/s2s never answers CORS"
    );
    assert_eq!(server_route.status, 405);

    let get = app
        .send(
            app.request(Method::GET, "/fe/wallet/balance")
                .header("Origin", "https://game.example")
                .header("user-jwt-token", &token),
        )
        .await;
    assert_eq!(get.status, 200);
    assert_eq!(
        get.headers["access-control-allow-origin"],
        "https://game.example"
    );
    let s2s = app
        .send(
            app.request(Method::GET, "/s2s/loyalty/rewardable-events")
                .header("Origin", "https://game.example")
                .header("x-client-id", &client.id)
                .header("x-client-secret", &client.secret),
        )
        .await;
    assert!(s2s.headers.get("access-control-allow-origin").is_none());
}

async fn raw_connection(base_url: &str) -> tokio::net::TcpStream {
    tokio::net::TcpStream::connect(base_url.trim_start_matches("http://"))
        .await
        .unwrap()
}

#[tokio::test]
async fn a_client_slow_to_send_its_headers_is_disconnected() {
    let app = spawn_app_with(|c| c.read_timeout_seconds = 1).await;
    let mut stream = raw_connection(&app.base_url).await;
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let started = Instant::now();

    let mut buffer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut buffer)).await;

    assert!(
        read.is_ok(),
        "the server closed the connection instead of waiting forever"
    );
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(
        app.send(app.request(Method::GET, "/healthz")).await.status,
        200
    );
}

#[tokio::test]
async fn a_client_slow_to_send_its_body_gets_an_error_not_a_hang() {
    let app = spawn_app_with(|c| c.read_timeout_seconds = 1).await;
    let client = app.create_client().await;
    let mut stream = raw_connection(&app.base_url).await;
    let head = format!(
        "PUT /s2s/loyalty/rewardable-events HTTP/1.1\r\nHost: x\r\nx-client-id: {}\r\nx-client-secret: {}\r\ncontent-length: 100\r\n\r\n{{\"eventType\"",
        client.id, client.secret
    );
    stream.write_all(head.as_bytes()).await.unwrap();

    let mut buffer = vec![0; 4096];
    let read = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut buffer))
        .await
        .expect("the server answers within its read timeout")
        .unwrap();

    let answer = String::from_utf8_lossy(&buffer[..read]);
    assert!(answer.starts_with("HTTP/1.1 4"), "{answer}");
    assert!(
        answer.contains("\"code\""),
        "in the error envelope: {answer}"
    );
    assert_eq!(
        app.list_events(&client, "").await.body["rewardableEvents"],
        json!([])
    );
}

#[tokio::test]
async fn oversized_headers_are_refused_without_a_crash() {
    let app = spawn_app().await;
    let answer = app
        .request(Method::GET, "/healthz")
        .header("x-padding", "a".repeat(200_000))
        .send()
        .await;
    if let Ok(response) = answer {
        assert!(response.status().is_client_error(), "{}", response.status());
    }
    assert_eq!(
        app.send(app.request(Method::GET, "/healthz")).await.status,
        200
    );
}

#[tokio::test]
async fn unicode_is_stored_exactly_and_control_characters_are_refused() {
    let app = spawn_app().await;
    let client = app.create_client().await;
    let texts = [
        "Ünïcödé 🎮🏆",
        "שלום עולם",
        "每日奖励",
        "Zalgo t̶̢̧e̵x̷t",
        "emoji\u{200d}join",
        "'; drop table events; --",
    ];
    for text in texts {
        let answer = app
            .put_event(&client, json!({"eventType": text, "eventName": text, "eventDescription": format!("{text}\nline two"), "rewardAmount": 1}))
            .await;
        assert_eq!(answer.status, 201, "{text}: {:?}", answer.body);
        assert_eq!(answer.body["eventType"], text);
        if text.contains('\u{200d}') {
            // A format character: a name may hold it, an identifier may not.
            app.session(&client, json!({"user_id": text}))
                .await
                .assert_error(400, "BAD_REQUEST");
            continue;
        }
        let session = app
            .session(&client, json!({"user_id": text, "name": text}))
            .await;
        assert_eq!(session.status, 200, "{text}");
        assert_eq!(session.body["user_id"], text);
        assert_eq!(
            session.body["namespaced_third_party_user_id"],
            format!("{}#{text}", client.id)
        );
    }
    for bad in [
        "a\u{0}b",
        "tab\there",
        "bell\u{7}",
        "esc\u{1b}[2J",
        "line\r\nbreak",
        "del\u{7f}",
    ] {
        let event = app
            .put_event(&client, json!({"eventType": bad, "rewardAmount": 1}))
            .await;
        assert_eq!(
            (event.status, event.code()),
            (400, "BAD_REQUEST"),
            "{bad:?}"
        );
        let session = app.session(&client, json!({"user_id": bad})).await;
        assert_eq!(
            (session.status, session.code()),
            (400, "BAD_REQUEST"),
            "{bad:?}"
        );
    }
    let invalid_utf8 = app
        .send(
            app.request(Method::POST, "/s2s/session")
                .header("x-client-id", &client.id)
                .header("x-client-secret", &client.secret)
                .body(vec![
                    b'{', b'"', b'u', b'"', b':', b'"', 0xff, 0xfe, b'"', b'}',
                ]),
        )
        .await;
    invalid_utf8.assert_error(400, "BAD_REQUEST");
}

#[tokio::test]
async fn another_tenants_ids_answer_exactly_like_missing_ones_everywhere() {
    let app = spawn_app().await;
    let victim = app.create_client().await;
    let attacker = app.create_client().await;
    let event = app.create_event(&victim, 100, json!({})).await;
    app.create_event(&victim, 5, json!({"isActive": false}))
        .await;
    let victim_token = app.login(&victim, "victim").await;
    let attacker_token = app.login(&attacker, "victim").await;
    for _ in 0..3 {
        app.claim(&victim_token, &event).await;
    }
    let missing = uuid::Uuid::new_v4().to_string();
    let event_path = |id: &str| format!("/s2s/loyalty/rewardable-events/{id}");

    for id in [&event, &missing] {
        let get = app.s2s(&attacker, Method::GET, &event_path(id), None).await;
        let delete = app
            .s2s(&attacker, Method::DELETE, &event_path(id), None)
            .await;
        let update = app
            .put_event(
                &attacker,
                json!({"eventID": id, "eventType": "Stolen", "rewardAmount": 1_000_000}),
            )
            .await;
        let claim = app.claim(&attacker_token, id).await;
        for answer in [get, delete, update, claim] {
            answer.assert_error(404, "RECORD_NOT_FOUND");
            assert_eq!(
                answer.body["message"], "record not found",
                "foreign and missing look alike"
            );
        }
    }
    let listed = app.list_events(&attacker, "").await;
    assert_eq!(listed.body["rewardableEvents"], json!([]));

    // Cursors of the victim's lists are refused for the attacker's lists.
    let events_cursor = app.list_events(&victim, "limit=1").await.body["offset"].clone();
    let rewards = app
        .fe(
            &victim_token,
            Method::GET,
            "/fe/loyalty/event-reward-user-claims/user?limit=1",
            None,
        )
        .await;
    let history = app.transactions(&victim_token, "limit=1").await;
    app.list_events(
        &attacker,
        &format!("offset={}", events_cursor.as_str().unwrap()),
    )
    .await
    .assert_error(400, "BAD_REQUEST");
    app.fe(
        &attacker_token,
        Method::GET,
        &format!(
            "/fe/loyalty/event-reward-user-claims/user?offset={}",
            rewards.str("offset")
        ),
        None,
    )
    .await
    .assert_error(400, "BAD_REQUEST");
    app.transactions(
        &attacker_token,
        &format!("last_evaluated_key={}", history.str("last_evaluated_key")),
    )
    .await
    .assert_error(400, "BAD_REQUEST");

    // The same user_id in the attacker's game is a different gamer with its own wallet.
    let balance = app.balance(&attacker_token).await.body;
    assert_eq!(balance["earned_balance"], 0);
    assert_eq!(app.balance(&victim_token).await.body["earned_balance"], 300);
    let read = app
        .s2s(&victim, Method::GET, &event_path(&event), None)
        .await;
    assert_eq!(
        read.body["eventType"], "DailyBonus",
        "the victim's event is untouched"
    );
    app.assert_ledger_holds().await;
}

#[tokio::test]
async fn sms_flooding_is_limited_per_gamer_across_phones() {
    let linking =
        crate::sms_receiver::linking_app(|c| c.otp_sends_per_gamer_per_hour_max = 3).await;
    let flooder = linking.login("flooder").await;
    let calm = linking.login("calm").await;
    for phone in ["9876500001", "9876500002", "9876500003"] {
        assert_eq!(linking.register(&flooder, phone).await.status, 200);
    }

    let refused = linking.register(&flooder, "9876500004").await;

    refused.assert_error(429, "TOO_MANY_REQUESTS");
    let retry_after: u64 = refused.headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        (3500..=3600).contains(&retry_after),
        "Retry-After {retry_after}"
    );
    assert_eq!(linking.sms.count(), 3, "no SMS for the refused request");
    assert_eq!(
        linking.register(&calm, "9876500004").await.status,
        200,
        "other gamers are not limited"
    );
}
