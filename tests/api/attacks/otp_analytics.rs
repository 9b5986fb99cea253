//! Keeps OTP and analytics abuse closed (issue 13, items 4 and 6): a phone spelled
//! with trunk zeros is one phone for every limit, link and check; one game client
//! cannot pump more than its hourly SMS sends, even concurrently on two servers;
//! one gamer token cannot store more than its daily drops, even concurrently on two
//! servers; and drops past retention are deleted in the background.

use std::sync::Arc;
use std::time::Duration;

use chrono::Timelike;
use kgen_loyalty::config::{Config, SmsMode};
use kgen_loyalty::storage::Backend;
use reqwest::Method;
use serde_json::json;

use crate::helpers::{concurrently, spawn_app, spawn_app_on, spawn_app_with, Answer, TestApp};
use crate::sms_receiver::{linking_app, Linking};

/// One Indian mobile number, as its national digits.
const PHONE: &str = "9812345670";

/// The `Retry-After` of a 429 TOO_MANY_REQUESTS, in seconds.
#[track_caller]
fn retry_after(answer: &Answer) -> i64 {
    answer.assert_error(429, "TOO_MANY_REQUESTS");
    answer.headers["retry-after"]
        .to_str()
        .expect("Retry-After is text")
        .parse()
        .expect("Retry-After is whole seconds")
}

/// A register for `countryCode` + `phone_number` exactly as given.
async fn register(linking: &Linking, token: &str, country_code: &str, number: &str) -> Answer {
    let body = json!({"phone_number": number, "countryCode": country_code});
    linking
        .post(token, "/fe/users/auth/otp/register", body)
        .await
}

/// A second server on `app`'s database on PostgreSQL (SQLite is one server per
/// database file, so there the one server takes every request).
async fn second_server(app: &TestApp, configure: impl FnOnce(&mut Config)) -> Option<TestApp> {
    if app.db.backend() != Backend::Postgres {
        return None;
    }
    let dir = tempfile::tempdir().expect("a temp dir");
    Some(spawn_app_on(app.database_url.clone(), dir, configure).await)
}

#[tokio::test]
async fn one_phone_spelled_with_trunk_zeros_is_one_phone_for_the_send_limits() {
    let linking = linking_app(|config| config.otp_resend_cooldown_seconds = 30).await;
    let asha = linking.login("asha").await;
    let ravi = linking.login("ravi").await;
    let first = register(&linking, &asha, "+91", PHONE).await;
    assert_eq!(first.status, 200, "{:?}", first.body);

    let spellings = [
        ("91", "09812345670"),
        ("+91", "009812345670"),
        ("+91", "98123-45670"),
    ];
    let mut answers = Vec::new();
    for (country_code, number) in spellings {
        answers.push(register(&linking, &ravi, country_code, number).await);
    }

    for ((country_code, number), answer) in spellings.iter().zip(&answers) {
        let seconds = retry_after(answer);
        assert!(
            (1..=30).contains(&seconds),
            "{country_code} {number}: {seconds}"
        );
    }
    assert_eq!(linking.sms.count(), 1, "one SMS to the one phone");
    assert_eq!(linking.last()["to"], "+919812345670");
}

#[tokio::test]
async fn verify_and_the_one_gamer_per_phone_rule_see_the_normalised_phone() {
    let linking = linking_app(|_| {}).await;
    let asha = linking.login("asha").await;
    let ravi = linking.login("ravi").await;
    let registered = register(&linking, &asha, "91", "0 98123 45670").await;
    assert_eq!(registered.status, 200, "{:?}", registered.body);
    let body = json!({"phone_number": PHONE, "countryCode": "+91",
                      "authCode": registered.str("authCode"), "otp": linking.sms.last_otp()});

    let verified = linking.post(&asha, "/fe/users/auth/otp/verify", body).await;
    let taken = register(&linking, &ravi, "+91", "009812345670").await;

    assert_eq!(verified.status, 200, "{:?}", verified.body);
    assert_eq!(
        linking.linked(&asha).await.str("LinkedPhone"),
        "+919812345670"
    );
    taken.assert_error(409, "PHONE_ALREADY_LINKED");
}

#[tokio::test]
async fn italys_leading_zero_is_kept_and_numbers_that_are_not_real_are_400() {
    let linking = linking_app(|_| {}).await;
    let token = linking.login("asha").await;

    let milan = register(&linking, &token, "+39", "02 1234 5678").await;
    let refused = [
        ("+39", "002 1234 5678", "a second zero in Italy"),
        (
            "+1",
            "123 456 7890",
            "an unallocated US area code (possible, not valid)",
        ),
        ("+91", "1234", "too short"),
        ("+999", PHONE, "an unassigned country code"),
        ("+91", "98123 4567O", "a letter O"),
    ];

    assert_eq!(milan.status, 200, "{:?}", milan.body);
    assert_eq!(linking.last()["to"], "+390212345678");
    for (country_code, number, why) in refused {
        let answer = register(&linking, &token, country_code, number).await;
        assert_eq!(
            (answer.status, answer.code()),
            (400, "BAD_REQUEST"),
            "{why}: {:?}",
            answer.body
        );
    }
    assert_eq!(linking.sms.count(), 1, "a refused phone gets no SMS");
    assert_eq!(
        app_sends(&linking.app).await,
        1,
        "a refused send is not recorded"
    );
}

/// Every recorded OTP send.
async fn app_sends(app: &TestApp) -> i64 {
    app.scalar("select count(*) from otp_sends").await
}

#[tokio::test]
async fn a_client_past_its_hourly_sends_is_429_for_every_gamer_and_other_clients_are_not() {
    let linking = linking_app(|config| config.otp_sends_per_client_per_hour_max = 3).await;
    let mut tokens = Vec::new();
    for i in 0..5 {
        tokens.push(linking.login(&format!("gamer-{i}")).await);
    }
    linking.sms.fail(true);
    let failed = register(&linking, &tokens[0], "+91", "9812345600").await;
    failed.assert_error(502, "SMS_DELIVERY_FAILED");
    linking.sms.fail(false);
    for (i, token) in tokens.iter().take(3).enumerate() {
        let sent = register(&linking, token, "+91", &format!("98123456{i:02}")).await;
        assert_eq!(
            sent.status, 200,
            "send {i} is under the cap: {:?}",
            sent.body
        );
    }

    let fourth = register(&linking, &tokens[3], "+91", "9812345603").await;
    let resend = linking.resend(&tokens[0], "9812345600").await;
    let other_client = linking.app.create_client().await;
    let stranger = linking.app.login(&other_client, "gamer-0").await;
    let elsewhere = register(&linking, &stranger, "+91", "9812345604").await;

    let seconds = retry_after(&fourth);
    assert!((3590..=3600).contains(&seconds), "Retry-After {seconds}");
    retry_after(&resend);
    assert_eq!(
        elsewhere.status, 200,
        "the cap is per client: {:?}",
        elsewhere.body
    );
    assert_eq!(
        linking.sms.count(),
        1 + 3 + 1,
        "the failed send and four SMS"
    );
}

#[tokio::test]
async fn a_client_at_its_cap_still_answers_400_409_and_404_first() {
    let linking = linking_app(|config| config.otp_sends_per_client_per_hour_max = 1).await;
    let first = linking.login("gamer-0").await;
    let holder = linking.login("gamer-1").await;
    let caller = linking.login("gamer-2").await;
    linking.register_ok(&first, "9812345600").await;
    let client = &linking.client;
    linking
        .app
        .link_phone_directly(client, "gamer-1", "+919812345611")
        .await;

    let cases = [
        (&caller, "register", "1234", 400, "BAD_REQUEST"),
        (
            &caller,
            "register",
            "09812345611",
            409,
            "PHONE_ALREADY_LINKED",
        ),
        (&holder, "register", "9812345622", 409, "ALREADY_LINKED"),
        (&caller, "resend", "9812345622", 404, "RECORD_NOT_FOUND"),
        (&caller, "register", "9812345622", 429, "TOO_MANY_REQUESTS"),
    ];

    for (token, path, phone, status, code) in cases {
        let body = json!({"phone_number": phone, "countryCode": "+91"});
        let answer = linking
            .post(token, &format!("/fe/users/auth/otp/{path}"), body)
            .await;
        assert_eq!(
            (answer.status, answer.code()),
            (status, code),
            "{path} {phone}: {:?}",
            answer.body
        );
    }
    assert_eq!(linking.sms.count(), 1);
}

#[tokio::test]
async fn concurrent_sends_of_one_client_on_two_servers_stop_exactly_at_the_cap() {
    let cap = 4;
    let linking = linking_app(|config| config.otp_sends_per_client_per_hour_max = cap).await;
    let url = linking.sms.url.clone();
    let second = second_server(&linking.app, |config| {
        config.sms = SmsMode::Webhook;
        config.sms_webhook_url = Some(url);
        config.otp_resend_cooldown_seconds = 0;
        config.otp_sends_per_client_per_hour_max = cap;
    })
    .await;
    let mut tokens = Vec::new();
    for i in 0..12 {
        tokens.push(linking.login(&format!("gamer-{i}")).await);
    }
    let servers: Arc<Vec<String>> = Arc::new(
        std::iter::once(&linking.app)
            .chain(second.as_ref())
            .map(|app| app.base_url.clone())
            .collect(),
    );
    let http = linking.app.http.clone();

    let statuses = concurrently(tokens.len(), |i| {
        let url = format!("{}/fe/users/auth/otp/register", servers[i % servers.len()]);
        let request = http
            .post(url)
            .header("user-jwt-token", &tokens[i])
            .json(&json!({"phone_number": format!("98123456{i:02}"), "countryCode": "+91"}));
        async move {
            request
                .send()
                .await
                .expect("the server answers")
                .status()
                .as_u16()
        }
    })
    .await;

    let sent = statuses.iter().filter(|&&status| status == 200).count();
    let refused = statuses.iter().filter(|&&status| status == 429).count();
    assert_eq!(
        (sent, refused),
        (cap as usize, 12 - cap as usize),
        "{statuses:?}"
    );
    assert_eq!(linking.sms.count(), cap as usize);
    assert_eq!(app_sends(&linking.app).await, i64::from(cap));
}

/// `POST` a drop of `event_id` with one attribute to `base_url`.
async fn drop_on(app: &TestApp, base_url: &str, token: &str, event_id: &str) -> Answer {
    let url = format!("{base_url}/fe/analytics/px-tracker/events/{event_id}/drop");
    let request = app
        .http
        .request(Method::POST, url)
        .header("user-jwt-token", token)
        .json(&json!({"level": 7}));
    app.send(request).await
}

/// The stored drops of gamer `user_id`.
async fn drops_of(app: &TestApp, user_id: &str) -> i64 {
    sqlx::query_scalar(
        "select count(*) from tracker_drops d join gamers g on g.id = d.gamer_id
         where g.user_id = $1",
    )
    .bind(user_id)
    .fetch_one(app.db.reader())
    .await
    .unwrap()
}

#[tokio::test]
async fn a_gamer_past_its_daily_drops_is_429_until_midnight_utc_and_stores_nothing() {
    let app = spawn_app_with(|config| config.analytics_drops_per_gamer_per_day = 3).await;
    let client = app.create_client().await;
    let asha = app.login(&client, "asha").await;
    let ravi = app.login(&client, "ravi").await;
    for i in 0..3 {
        let answer = drop_on(&app, &app.base_url, &asha, "level_complete").await;
        assert_eq!(answer.status, 200, "drop {i} is within the quota");
    }

    let fourth = drop_on(&app, &app.base_url, &asha, "level_complete").await;
    let now = chrono::Utc::now();
    let other_gamer = drop_on(&app, &app.base_url, &ravi, "level_complete").await;

    let until_midnight = 86_400 - i64::from(now.num_seconds_from_midnight());
    let seconds = retry_after(&fourth);
    assert!(
        (until_midnight - 2..=until_midnight + 1).contains(&seconds),
        "Retry-After {seconds}, expected about {until_midnight}"
    );
    assert_eq!(
        drops_of(&app, "asha").await,
        3,
        "the refused drop stored nothing"
    );
    assert_eq!(other_gamer.status, 200, "the quota is per gamer");
}

#[tokio::test]
async fn concurrent_drops_of_one_gamer_on_two_servers_store_exactly_the_quota() {
    let quota = 5;
    let app = spawn_app_with(|config| config.analytics_drops_per_gamer_per_day = quota).await;
    let second = second_server(&app, |config| {
        config.analytics_drops_per_gamer_per_day = quota;
    })
    .await;
    let client = app.create_client().await;
    let token = app.login(&client, "asha").await;
    let servers: Vec<String> = std::iter::once(&app)
        .chain(second.as_ref())
        .map(|app| app.base_url.clone())
        .collect();
    let app = Arc::new(app);

    let statuses = concurrently(30, |i| {
        let app = Arc::clone(&app);
        let base_url = servers[i % servers.len()].clone();
        let token = token.clone();
        async move { drop_on(&app, &base_url, &token, "tap").await.status }
    })
    .await;

    let stored = statuses.iter().filter(|&&status| status == 200).count();
    let refused = statuses.iter().filter(|&&status| status == 429).count();
    assert_eq!(
        (stored, refused),
        (quota as usize, 30 - quota as usize),
        "{statuses:?}"
    );
    assert_eq!(drops_of(&app, "asha").await, i64::from(quota));
}

#[tokio::test]
async fn drops_past_retention_are_deleted_in_batches_and_the_rest_are_kept() {
    let app = spawn_app().await;
    let client = app.create_client().await;
    let token = app.login(&client, "asha").await;
    let gamer_id = app.scalar("select id from gamers").await;
    let day = 86_400 * 1_000_000_000_i64;
    let now = kgen_loyalty::storage::now_nanos();
    // 2 500 drops 91 days old: more than one batch of the retention task.
    sqlx::query(
        "with recursive n(i) as (select 1 union all select i + 1 from n where i < 2500)
         insert into tracker_drops (client_id, gamer_id, event_id, attributes, created_at)
         select $1, $2, 'old', '{}', $3 - i from n",
    )
    .bind(&client.id)
    .bind(gamer_id)
    .bind(now - 91 * day)
    .execute(app.db.writer())
    .await
    .unwrap();
    app.drop_tracker_event_directly(&client, "asha", "recent")
        .await;
    sqlx::query("update tracker_drops set created_at = $1 where event_id = 'recent'")
        .bind(now - 89 * day)
        .execute(app.db.writer())
        .await
        .unwrap();
    sqlx::query("insert into tracker_drop_days (gamer_id, day, drops) values ($1, $2, 7)")
        .bind(gamer_id)
        .bind(now / day - 5)
        .execute(app.db.writer())
        .await
        .unwrap();
    assert_eq!(
        drop_on(&app, &app.base_url, &token, "today").await.status,
        200
    );

    // The retention task makes a pass when a server starts.
    let (database_url, dir) = app.stop().await;
    let app = spawn_app_on(database_url, dir, |_| {}).await;
    let old = "select count(*) from tracker_drops where event_id = 'old'";
    let counters = "select count(*) from tracker_drop_days";
    // The pass deletes the drops, then the old quota counters: wait for both.
    for _ in 0..400 {
        if app.scalar(old).await == 0 && app.scalar(counters).await == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }

    assert_eq!(app.scalar(old).await, 0, "drops past 90 days are deleted");
    let kept = app
        .scalar("select count(*) from tracker_drops where event_id in ('recent', 'today')")
        .await;
    assert_eq!(kept, 2, "drops within 90 days are kept");
    let days = app.scalar(counters).await;
    assert_eq!(days, 1, "only today's quota counter is left");
}
