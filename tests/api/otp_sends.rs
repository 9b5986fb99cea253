//! Proves the sending side of phone linking (CONTRACT section 3): the per-phone
//! cooldown and hourly limit with `Retry-After`, failed deliveries that leave no
//! usable OTP and do not count, the 400 → 409 → 404 → 429 → 502 answer order, one
//! send per cooldown under concurrency, and start-up refusing a webhook mode
//! without a URL.

use std::time::{Duration, Instant};

use kgen_loyalty::app::AppState;
use kgen_loyalty::config::{Config, SmsMode};
use kgen_loyalty::storage::Db;
use serde_json::json;

use crate::helpers::{concurrently, fresh_database_url, Answer};
use crate::sms_receiver::linking_app;

const PHONE: &str = "9876543210";

/// The `Retry-After` of a 429, in seconds.
#[track_caller]
fn retry_after(answer: &Answer) -> u64 {
    answer.assert_error(429, "TOO_MANY_REQUESTS");
    answer
        .headers
        .get("retry-after")
        .expect("a 429 has Retry-After")
        .to_str()
        .unwrap()
        .parse()
        .expect("Retry-After is whole seconds")
}

#[tokio::test]
async fn a_second_send_to_a_phone_inside_the_cooldown_is_429_with_retry_after() {
    let linking = linking_app(|config| config.otp_resend_cooldown_seconds = 30).await;
    let asha = linking.login("asha").await;
    let ravi = linking.login("ravi").await;
    linking.register_ok(&asha, PHONE).await;

    let again = linking.register(&asha, PHONE).await;
    let resend = linking.resend(&asha, PHONE).await;
    let other_gamer = linking.register(&ravi, PHONE).await;

    for answer in [&again, &resend, &other_gamer] {
        let seconds = retry_after(answer);
        assert!((1..=30).contains(&seconds), "Retry-After {seconds}");
    }
    assert_eq!(linking.sms.count(), 1, "refused sends reach no phone");
    let other_phone = linking.register(&ravi, "9000000001").await;
    assert_eq!(other_phone.status, 200, "the cooldown is per phone");
}

#[tokio::test]
async fn the_hourly_limit_counts_only_delivered_sends() {
    let linking = linking_app(|config| config.otp_sends_per_hour_max = 3).await;
    let token = linking.login("asha").await;
    linking.sms.fail(true);
    linking
        .register(&token, PHONE)
        .await
        .assert_error(502, "SMS_DELIVERY_FAILED");
    linking.sms.fail(false);

    linking.register_ok(&token, PHONE).await;
    for _ in 0..2 {
        let resent = linking.resend(&token, PHONE).await;
        assert_eq!(resent.status, 200, "{:?}", resent.body);
    }
    let refused = linking.resend(&token, PHONE).await;
    let also_refused = linking.register(&token, PHONE).await;

    for answer in [&refused, &also_refused] {
        let seconds = retry_after(answer);
        assert!(
            (3500..=3600).contains(&seconds),
            "the oldest send leaves the hour in about an hour: {seconds}"
        );
    }
    assert_eq!(linking.sms.count(), 4, "one failed and three delivered");
}

#[tokio::test]
async fn a_failed_register_is_502_and_leaves_the_earlier_request_as_it_was() {
    let linking = linking_app(|_| {}).await;
    let token = linking.login("asha").await;
    let (auth_code, otp) = linking.register_ok(&token, PHONE).await;
    linking.sms.fail(true);

    let failed = linking.register(&token, PHONE).await;

    failed.assert_error(502, "SMS_DELIVERY_FAILED");
    let lost_code = linking.last()["authCode"].as_str().unwrap().to_owned();
    let lost_otp = linking.sms.last_otp();
    assert_ne!(lost_code, auth_code);
    let stored: i64 = sqlx::query_scalar("select count(*) from otp_requests where auth_code = $1")
        .bind(&lost_code)
        .fetch_one(linking.app.db.reader())
        .await
        .unwrap();
    assert_eq!(stored, 0, "the failed request is discarded");
    let lost = linking.verify(&token, PHONE, &lost_code, &lost_otp).await;
    lost.assert_error(401, "INVALID_OTP");
    let answer = linking.verify(&token, PHONE, &auth_code, &otp).await;
    assert_eq!(
        answer.status, 200,
        "the earlier request still works: {:?}",
        answer.body
    );
}

#[tokio::test]
async fn a_failed_resend_is_502_and_the_previous_otp_still_works() {
    let linking = linking_app(|_| {}).await;
    let token = linking.login("asha").await;
    let (auth_code, otp) = linking.register_ok(&token, PHONE).await;
    linking.sms.fail(true);

    let failed = linking.resend(&token, PHONE).await;

    failed.assert_error(502, "SMS_DELIVERY_FAILED");
    let lost_otp = linking.sms.last_otp();
    if lost_otp != otp {
        let lost = linking.verify(&token, PHONE, &auth_code, &lost_otp).await;
        lost.assert_error(401, "INVALID_OTP");
    }
    let answer = linking.verify(&token, PHONE, &auth_code, &otp).await;
    assert_eq!(answer.status, 200, "{:?}", answer.body);
}

#[tokio::test]
async fn an_unreachable_or_slow_webhook_is_502() {
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let closed_url = format!("http://{}/sms", closed.local_addr().unwrap());
    drop(closed);
    let linking = linking_app(|config| {
        config.sms_webhook_url = Some(closed_url);
    })
    .await;
    let token = linking.login("asha").await;
    let unreachable = linking.register(&token, PHONE).await;
    unreachable.assert_error(502, "SMS_DELIVERY_FAILED");

    let linking = linking_app(|config| config.sms_webhook_timeout_seconds = 1).await;
    let token = linking.login("asha").await;
    linking.sms.delay(Duration::from_secs(5));
    let started = Instant::now();
    let slow = linking.register(&token, PHONE).await;
    slow.assert_error(502, "SMS_DELIVERY_FAILED");
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "the timeout cut it short"
    );
    linking.sms.delay(Duration::ZERO);
    linking.register_ok(&token, PHONE).await;
}

#[tokio::test]
async fn register_and_resend_answer_in_the_contract_order() {
    let linking = linking_app(|config| config.otp_resend_cooldown_seconds = 3600).await;
    let asha = linking.login("asha").await;
    let ravi = linking.login("ravi").await;
    let mira = linking.login("mira").await;
    linking.link(&asha, PHONE).await;
    linking.register_ok(&mira, "9000000001").await;
    linking.sms.fail(true);

    let cases = [
        (
            &asha,
            "register",
            "12",
            400,
            "BAD_REQUEST",
            "400 before 409",
        ),
        (
            &ravi,
            "register",
            PHONE,
            409,
            "PHONE_ALREADY_LINKED",
            "409 before 429",
        ),
        (
            &ravi,
            "resend",
            PHONE,
            409,
            "PHONE_ALREADY_LINKED",
            "409 before 404",
        ),
        (
            &ravi,
            "resend",
            "9000000001",
            404,
            "RECORD_NOT_FOUND",
            "404 before 429",
        ),
        (
            &ravi,
            "register",
            "9000000001",
            429,
            "TOO_MANY_REQUESTS",
            "429 before 502",
        ),
        (
            &ravi,
            "register",
            "9000000002",
            502,
            "SMS_DELIVERY_FAILED",
            "then 502",
        ),
    ];

    for (token, path, phone, status, code, why) in cases {
        let body = json!({"phone_number": phone, "countryCode": "+91"});
        let answer = linking
            .post(token, &format!("/fe/users/auth/otp/{path}"), body)
            .await;
        assert_eq!(
            (answer.status, answer.code()),
            (status, code),
            "{why}: {:?}",
            answer.body
        );
    }
}

#[tokio::test]
async fn concurrent_registers_for_one_phone_send_once_inside_the_cooldown() {
    let linking = linking_app(|config| config.otp_resend_cooldown_seconds = 60).await;
    let mut tokens = Vec::new();
    for i in 0..8 {
        tokens.push(linking.login(&format!("gamer-{i}")).await);
    }
    let linking = std::sync::Arc::new(linking);

    let statuses = concurrently(tokens.len(), |i| {
        let linking = std::sync::Arc::clone(&linking);
        let token = tokens[i].clone();
        async move { linking.register(&token, PHONE).await.status }
    })
    .await;

    let delivered = statuses.iter().filter(|&&status| status == 200).count();
    let refused = statuses.iter().filter(|&&status| status == 429).count();
    assert_eq!((delivered, refused), (1, 7), "{statuses:?}");
    assert_eq!(linking.sms.count(), 1);
}

#[tokio::test]
async fn webhook_delivery_without_a_url_refuses_to_start() {
    let (database_url, _dir) = fresh_database_url().await;
    let db = Db::connect(&database_url, &crate::helpers::pool_settings(&database_url))
        .await
        .unwrap();
    db.migrate().await.unwrap();
    let mut config = Config::defaults();
    config.sms = SmsMode::Webhook;

    let error = AppState::new(db, config).await.unwrap_err();

    assert!(
        error.to_string().contains("KGEN_SMS_WEBHOOK_URL"),
        "the error names the missing setting: {error}"
    );
}
