//! Proves `POST /s2s/session` (CONTRACT section 2): the exact response, gamer and
//! wallet creation with one welcome bonus even under concurrency, profile updates,
//! and tenant separation of user ids.

use regex::Regex;
use serde_json::{json, Value};

use crate::helpers::{concurrently, spawn_app, TestApp, TestClient};

fn jwt_part(token: &str, index: usize) -> Value {
    use base64::Engine as _;
    let part = token.split('.').nth(index).expect("a JWT has three parts");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part)
        .expect("base64url");
    serde_json::from_slice(&bytes).expect("JSON")
}

#[tokio::test]
async fn the_first_session_creates_the_gamer_and_answers_every_field() {
    let app = spawn_app().await;
    let client = app.create_client().await;

    let answer = app
        .session(
            &client,
            json!({"user_id": "FTC_User1", "name": "Asha", "level": 7, "screen_height": 1920,
                   "screen_width": "1080", "os_name": "Android"}),
        )
        .await;

    assert_eq!(answer.status, 200, "{:?}", answer.body);
    let body = answer.body.as_object().unwrap();
    let expected_fields = [
        "session_id",
        "user_id",
        "name",
        "username",
        "email",
        "device_id",
        "phonenumber",
        "level",
        "rank",
        "date_joined",
        "playertag",
        "location",
        "location_name",
        "device_model",
        "screen_height",
        "screen_width",
        "os_name",
        "os_version",
        "browser_name",
        "indigg_id",
        "indigg_wallet_address",
        "third_party_client_id",
        "third_party_client_name",
        "namespaced_third_party_user_id",
        "wallet_address",
        "is_new_user",
        "access_token",
        "token",
        "refresh_token",
        "linked_phone",
        "session_start_time",
    ];
    let mut actual: Vec<&str> = body.keys().map(String::as_str).collect();
    actual.sort_unstable();
    let mut expected = expected_fields.to_vec();
    expected.sort_unstable();
    assert_eq!(actual, expected, "exactly the contract's fields");
    assert_eq!(body["user_id"], "FTC_User1");
    assert_eq!(body["name"], "Asha");
    assert_eq!(body["level"], 7);
    assert_eq!(body["rank"], 0);
    assert_eq!(
        body["screen_height"], "1920",
        "numbers are accepted for screen sizes"
    );
    assert_eq!(body["screen_width"], "1080");
    assert_eq!(body["email"], "");
    assert_eq!(body["indigg_id"], Value::Null);
    assert_eq!(body["indigg_wallet_address"], "");
    assert_eq!(body["linked_phone"], "");
    assert_eq!(body["third_party_client_id"], client.id.as_str());
    assert_eq!(body["third_party_client_name"], "Test Game");
    assert_eq!(
        body["namespaced_third_party_user_id"],
        format!("{}#FTC_User1", client.id)
    );
    assert_eq!(body["is_new_user"], true);
    assert_eq!(body["token"], body["access_token"]);
    assert!(uuid::Uuid::parse_str(&answer.str("session_id")).is_ok());
    assert!(answer.str("refresh_token").len() >= 40);
    let wallet = answer.str("wallet_address");
    let raw = hex::decode(wallet[2..].to_lowercase()).unwrap();
    assert_eq!(raw.len(), 20);
    assert_eq!(
        kgen_loyalty::domain::address::checksum_address(&raw),
        wallet,
        "the wallet address is EIP-55 cased"
    );
    let start =
        Regex::new(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}(\.\d{1,9})? \+0000 UTC$").unwrap();
    assert!(
        start.is_match(&answer.str("session_start_time")),
        "{}",
        answer.str("session_start_time")
    );
}

#[tokio::test]
async fn the_access_token_carries_the_contract_claims() {
    let app = spawn_app().await;
    let client = app.create_client().await;
    let answer = app.session(&client, json!({"user_id": "u-1"})).await;
    let token = answer.str("access_token");

    let header = jwt_part(&token, 0);
    let claims = jwt_part(&token, 1);

    assert_eq!(header["alg"], "HS256");
    assert!(header["kid"].as_str().is_some_and(|k| !k.is_empty()));
    assert_eq!(claims["sub"], "u-1");
    assert_eq!(claims["user_id"], "u-1");
    assert_eq!(claims["client_id"], client.id.as_str());
    assert_eq!(claims["iss"], client.id.as_str());
    assert_eq!(claims["third_party_client_id"], client.id.as_str());
    assert_eq!(claims["third_party_client_name"], "Test Game");
    assert_eq!(
        claims["namespaced_third_party_user_id"],
        format!("{}#u-1", client.id)
    );
    assert_eq!(claims["wallet_address"], answer.body["wallet_address"]);
    assert_eq!(claims["is_new_user"], true);
    assert_eq!(claims["sid"], answer.body["session_id"]);
    let lifetime = claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap();
    assert_eq!(lifetime, 86_400, "valid 24 h by default");
}

#[tokio::test]
async fn a_later_session_keeps_the_wallet_and_updates_only_sent_fields() {
    let app = spawn_app().await;
    let client = app.create_client().await;
    let first = app
        .session(
            &client,
            json!({"user_id": "p1", "name": "Asha", "level": 2, "os_name": "iOS"}),
        )
        .await;

    let second = app
        .session(&client, json!({"user_id": "p1", "level": 3}))
        .await;

    assert_eq!(second.status, 200);
    assert_eq!(second.body["is_new_user"], false);
    assert_eq!(second.body["wallet_address"], first.body["wallet_address"]);
    assert_ne!(
        second.body["session_id"], first.body["session_id"],
        "every call starts a session"
    );
    assert_eq!(second.body["name"], "Asha", "fields not sent are kept");
    assert_eq!(second.body["os_name"], "iOS");
    assert_eq!(second.body["level"], 3, "sent fields are updated");
    let balance = app.balance(&second.str("access_token")).await;
    assert_eq!(
        balance.body["bonus_balance"], 50,
        "the welcome bonus is paid once"
    );
}

#[tokio::test]
async fn integer_user_ids_are_read_as_text_and_bad_ones_are_400() {
    let app = spawn_app().await;
    let client = app.create_client().await;
    let numeric = app.session(&client, json!({"user_id": 12345})).await;
    assert_eq!(numeric.status, 200);
    assert_eq!(numeric.body["user_id"], "12345");
    let same = app.session(&client, json!({"user_id": "12345"})).await;
    assert_eq!(
        same.body["is_new_user"], false,
        "12345 and \"12345\" are one gamer"
    );

    let cases = [
        ("missing", json!({})),
        ("empty", json!({"user_id": ""})),
        ("too long", json!({"user_id": "x".repeat(129)})),
        ("fractional", json!({"user_id": 1.5})),
        ("boolean", json!({"user_id": true})),
        ("object", json!({"user_id": {"id": 1}})),
        ("newline", json!({"user_id": "evil\nINFO forged log line"})),
        (
            "level not an integer",
            json!({"user_id": "ok", "level": "high"}),
        ),
        ("name not a string", json!({"user_id": "ok", "name": 5})),
        (
            "profile field too long",
            json!({"user_id": "ok", "email": "e".repeat(300)}),
        ),
    ];
    for (description, body) in cases {
        let answer = app.session(&client, body).await;
        assert_eq!(
            (answer.status, answer.code()),
            (400, "BAD_REQUEST"),
            "{description}: {:?}",
            answer.body
        );
    }
    let longest = app
        .session(&client, json!({"user_id": "y".repeat(128)}))
        .await;
    assert_eq!(longest.status, 200, "128 characters are allowed");
    let count: i64 = sqlx::query_scalar("select count(*) from gamers")
        .fetch_one(app.db.reader())
        .await
        .unwrap();
    assert_eq!(count, 2, "no refused session created a gamer");
    app.assert_ledger_holds().await;
}

#[tokio::test]
async fn the_welcome_bonus_is_per_client_and_zero_is_allowed() {
    let app = spawn_app().await;
    let default = app.create_client().await;
    let generous = app.create_client_with(75, 300).await;
    let none = app.create_client_with(0, 300).await;

    for (client, expected) in [(&default, 50), (&generous, 75), (&none, 0)] {
        let token = app.login(client, "same-user").await;
        let balance = app.balance(&token).await;
        assert_eq!(balance.status, 200, "{:?}", balance.body);
        assert_eq!(balance.body["bonus_balance"], expected);
        assert_eq!(balance.body["earned_balance"], 0);
        assert_eq!(balance.body["lazy_balance"], expected);
    }
    app.assert_ledger_holds().await;
}

/// Changes client `id` straight in the database, behind the server's back, as
/// another process (the CLI, a second server) would.
async fn change_client_directly(app: &TestApp, id: &str, set: &str) {
    let changed = sqlx::query(&format!("update clients set {set} where id = $1"))
        .bind(id)
        .execute(app.db.writer())
        .await
        .unwrap();
    assert_eq!(changed.rows_affected(), 1);
}

/// A session start may authenticate its client against the row it read for an
/// earlier one (SQLite: `KnownClients`); its write reads the row again in its own
/// transaction, so a secret changed, a client disabled or a welcome bonus changed
/// behind the server's back takes effect at the very next session start, and a
/// refused one writes nothing.
#[tokio::test]
async fn a_client_changed_behind_the_servers_back_counts_at_the_next_session_start() {
    let app = spawn_app().await;
    let client = app.create_client_with(75, 300).await;
    let token = app.login(&client, "first").await;
    assert_eq!(app.balance(&token).await.body["bonus_balance"], 75);

    change_client_directly(&app, &client.id, "welcome_bonus = 9").await;
    let token = app.login(&client, "second").await;
    assert_eq!(app.balance(&token).await.body["bonus_balance"], 9);

    let renewed = TestClient {
        id: client.id.clone(),
        secret: "a-secret-set-by-another-process-0123456789".to_owned(),
    };
    let hash = kgen_loyalty::domain::clients::hash_secret(&renewed.secret);
    change_client_directly(&app, &client.id, &format!("secret_hash = '{hash}'")).await;
    app.session(&client, json!({"user_id": "third"}))
        .await
        .assert_error(401, "UN_AUTHORIZED");
    let gamers = "select count(*) from gamers where user_id in ('third', 'fourth')";
    assert_eq!(
        app.scalar(gamers).await,
        0,
        "a refused session start wrote nothing"
    );
    let token = app.login(&renewed, "third").await;
    assert_eq!(app.balance(&token).await.body["bonus_balance"], 9);

    change_client_directly(&app, &client.id, "is_disabled = 1").await;
    app.session(&renewed, json!({"user_id": "fourth"}))
        .await
        .assert_error(401, "UN_AUTHORIZED");
    assert_eq!(app.scalar(gamers).await, 1, "only the third gamer exists");
    app.assert_ledger_holds().await;
}

#[tokio::test]
async fn the_same_user_id_in_two_games_is_two_gamers() {
    let app = spawn_app().await;
    let game_a = app.create_client().await;
    let game_b = app.create_client().await;

    let a = app.session(&game_a, json!({"user_id": "shared"})).await;
    let b = app.session(&game_b, json!({"user_id": "shared"})).await;

    assert_eq!(a.body["is_new_user"], true);
    assert_eq!(b.body["is_new_user"], true);
    assert_ne!(a.body["wallet_address"], b.body["wallet_address"]);
    for answer in [&a, &b] {
        let balance = app.balance(&answer.str("access_token")).await;
        assert_eq!(balance.body["bonus_balance"], 50);
        assert_eq!(
            balance.body["wallet_address"],
            answer.body["wallet_address"]
        );
    }
}

#[tokio::test]
async fn concurrent_first_sessions_create_one_gamer_one_wallet_one_bonus() {
    let app = std::sync::Arc::new(spawn_app().await);
    let client = app.create_client().await;

    let answers = concurrently(20, |_| {
        let app = app.clone();
        let client = client.clone();
        async move { app.session(&client, json!({"user_id": "racer"})).await }
    })
    .await;

    assert!(
        answers.iter().all(|a| a.status == 200),
        "every session succeeds"
    );
    let new_users = answers
        .iter()
        .filter(|a| a.body["is_new_user"] == true)
        .count();
    assert_eq!(new_users, 1, "exactly one call created the gamer");
    let wallets: std::collections::HashSet<_> =
        answers.iter().map(|a| a.str("wallet_address")).collect();
    assert_eq!(wallets.len(), 1, "one wallet");
    let balance = app.balance(&answers[0].str("access_token")).await;
    assert_eq!(balance.body["bonus_balance"], 50, "one welcome bonus");
    let transfers: i64 = sqlx::query_scalar("select count(*) from transfers")
        .fetch_one(app.db.reader())
        .await
        .unwrap();
    assert_eq!(transfers, 1);
    app.assert_ledger_holds().await;
}

/// Every new gamer's wallet address is the one derived from its own id, while new
/// and returning users start sessions at once (SQLite picks new gamers' ids and
/// addresses before their writes, PostgreSQL from its sequence); and on SQLite,
/// when the ids it picked are taken after all, a session start still creates the
/// gamer, with an id of SQLite's choosing and that id's address.
#[tokio::test]
async fn new_gamers_get_the_address_of_their_id_even_when_picked_ids_are_taken() {
    use kgen_loyalty::domain::address::{AddressDeriver, Branch};

    // Arrange: a returning user, then 12 new and 12 returning starts at once.
    let app = std::sync::Arc::new(spawn_app().await);
    let client = app.create_client().await;
    assert_eq!(
        app.session(&client, json!({"user_id": "old"})).await.status,
        200
    );
    let answers = concurrently(24, |i| {
        let app = app.clone();
        let client = client.clone();
        let user = if i % 2 == 0 {
            format!("new-{i}")
        } else {
            "old".to_owned()
        };
        async move { app.session(&client, json!({"user_id": user})).await }
    })
    .await;
    assert!(answers.iter().all(|a| a.status == 200));
    let xpub: String = sqlx::query_scalar("select value from settings where name = 'wallet_xpub'")
        .fetch_one(app.db.reader())
        .await
        .unwrap();
    let deriver = AddressDeriver::new(&xpub).unwrap();
    let assert_addresses = |rows: Vec<(i64, String)>| {
        for (id, address) in rows {
            assert_eq!(
                address,
                deriver.address(Branch::Gamer, id).unwrap(),
                "gamer {id}"
            );
        }
    };
    let rows: Vec<(i64, String)> = sqlx::query_as("select id, wallet_address from gamers")
        .fetch_all(app.db.reader())
        .await
        .unwrap();
    assert_eq!(rows.len(), 13, "one gamer per user");
    assert_addresses(rows);
    if app.db.lite().is_none() {
        app.assert_ledger_holds().await;
        return;
    }

    // Act: another process's gamers (as a restore might leave) take every free id
    // up to 100 past the largest, those picked and given back included; then a
    // new user starts.
    let largest = app.scalar("select max(id) from gamers").await;
    for id in 1..=largest + 100 {
        sqlx::query(
            "insert into gamers (id, client_id, user_id, profile, created_at, updated_at)
             values ($1, $2, $3, '{}', 0, 0) on conflict do nothing",
        )
        .bind(id)
        .bind(&client.id)
        .bind(format!("foreign-{id}"))
        .execute(app.db.writer())
        .await
        .unwrap();
    }
    let late = app.session(&client, json!({"user_id": "late"})).await;

    // Assert
    assert_eq!(late.status, 200, "{:?}", late.body);
    assert_eq!(late.body["is_new_user"], true);
    let (id, address): (i64, String) =
        sqlx::query_as("select id, wallet_address from gamers where user_id = 'late'")
            .fetch_one(app.db.reader())
            .await
            .unwrap();
    assert!(
        id > largest + 100,
        "gamer {id} took none of the foreign ids"
    );
    assert_eq!(late.str("wallet_address"), address);
    assert_addresses(vec![(id, address)]);
    let balance = app.balance(&late.str("access_token")).await;
    assert_eq!(balance.body["bonus_balance"], 50, "the welcome bonus");
    app.assert_ledger_holds().await;
}
