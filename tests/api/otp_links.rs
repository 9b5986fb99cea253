//! Proves what a verified link gives (CONTRACT sections 2 and 3): the linked
//! account in `linked-mobile-number`, later sessions and their access tokens; one
//! KGeN account per phone shared across games, at most one gamer per game, and the
//! 409 conflicts at register and again at verify, also under concurrency.

use base64::Engine as _;
use serde_json::{json, Value};

use crate::helpers::concurrently;
use crate::sms_receiver::{linking_app, Linking};

const PHONE: &str = "9876543210";

fn claims_of(token: &str) -> Value {
    let part = token.split('.').nth(1).expect("a JWT has three parts");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part)
        .expect("base64url");
    serde_json::from_slice(&bytes).expect("JSON claims")
}

#[tokio::test]
async fn a_later_session_shows_the_linked_account_and_its_token_does_not() {
    let linking = linking_app(|_| {}).await;
    let token = linking.login("asha").await;
    linking.link(&token, PHONE).await;
    let linked = linking.linked(&token).await;

    let session = linking
        .app
        .session(&linking.client, json!({"user_id": "asha"}))
        .await;

    assert_eq!(session.status, 200, "{:?}", session.body);
    assert_eq!(session.body["indigg_id"], linked.body["KGenID"]);
    assert_eq!(
        session.body["indigg_wallet_address"],
        linked.body["IndiggWalletAddress"]
    );
    assert_eq!(session.body["linked_phone"], "+919876543210");
    // The token itself carries none of it (CONTRACT section 2: no phone, no KGeN id).
    let claims = claims_of(&session.str("access_token"));
    for private in ["indigg_id", "indigg_wallet_address", "linked_phone"] {
        assert!(claims.get(private).is_none(), "{private} in the token");
    }
}

#[tokio::test]
async fn linked_mobile_number_is_404_until_a_phone_is_verified() {
    let linking = linking_app(|_| {}).await;
    let token = linking.login("asha").await;

    linking
        .linked(&token)
        .await
        .assert_error(404, "RECORD_NOT_FOUND");
    linking.register_ok(&token, PHONE).await;
    linking
        .linked(&token)
        .await
        .assert_error(404, "RECORD_NOT_FOUND");
}

/// A second game on the same server.
async fn second_game(linking: &Linking) -> crate::helpers::TestClient {
    linking.app.create_client().await
}

#[tokio::test]
async fn one_phone_links_one_gamer_per_game_to_one_kgen_account() {
    let linking = linking_app(|_| {}).await;
    let other_game = second_game(&linking).await;
    let asha = linking.login("asha").await;
    let asha_elsewhere = linking.app.login(&other_game, "asha-7").await;
    let ravi = linking.login("ravi").await;
    linking.link(&asha, PHONE).await;

    let register = linking.register(&asha_elsewhere, PHONE).await;
    assert_eq!(register.status, 200, "{:?}", register.body);
    assert_eq!(
        register.body["isNewUser"], false,
        "the phone has an account"
    );
    let otp = linking.sms.last_otp();
    let answer = linking
        .verify(&asha_elsewhere, PHONE, &register.str("authCode"), &otp)
        .await;
    assert_eq!(answer.status, 200, "{:?}", answer.body);
    let here = linking.linked(&asha).await;
    let elsewhere = linking.linked(&asha_elsewhere).await;
    assert_eq!(here.body["KGenID"], elsewhere.body["KGenID"]);
    assert_eq!(
        here.body["IndiggWalletAddress"],
        elsewhere.body["IndiggWalletAddress"]
    );
    assert_ne!(here.body["WalletAddress"], elsewhere.body["WalletAddress"]);

    let sent = linking.sms.count();
    let conflict = linking.register(&ravi, PHONE).await;
    conflict.assert_error(409, "PHONE_ALREADY_LINKED");
    assert_eq!(linking.sms.count(), sent, "no SMS for a refused register");
    let accounts: i64 = sqlx::query_scalar("select count(*) from kgen_accounts")
        .fetch_one(linking.app.db.reader())
        .await
        .unwrap();
    assert_eq!(accounts, 1);
    linking.app.assert_ledger_holds().await;
}

#[tokio::test]
async fn a_linked_gamer_cannot_register_another_phone() {
    let linking = linking_app(|_| {}).await;
    let token = linking.login("asha").await;
    linking.link(&token, PHONE).await;
    let sent = linking.sms.count();

    let answer = linking.register(&token, "9000000001").await;

    answer.assert_error(409, "ALREADY_LINKED");
    assert_eq!(linking.sms.count(), sent, "no SMS for a refused register");
}

#[tokio::test]
async fn link_conflicts_are_checked_again_at_verify() {
    let linking = linking_app(|_| {}).await;
    let asha = linking.login("asha").await;
    let ravi = linking.login("ravi").await;
    let (asha_code, asha_otp) = linking.register_ok(&asha, PHONE).await;
    let (ravi_code, ravi_otp) = linking.register_ok(&ravi, PHONE).await;
    let (other_code, other_otp) = linking.register_ok(&asha, "9000000001").await;

    let first = linking.verify(&asha, PHONE, &asha_code, &asha_otp).await;
    assert_eq!(first.status, 200, "{:?}", first.body);
    let taken = linking.verify(&ravi, PHONE, &ravi_code, &ravi_otp).await;
    taken.assert_error(409, "PHONE_ALREADY_LINKED");
    let second_phone = linking
        .verify(&asha, "9000000001", &other_code, &other_otp)
        .await;
    second_phone.assert_error(409, "ALREADY_LINKED");
    linking
        .linked(&ravi)
        .await
        .assert_error(404, "RECORD_NOT_FOUND");
}

#[tokio::test]
async fn concurrent_verifies_of_one_phone_link_one_gamer_per_game_and_one_account() {
    let linking = linking_app(|_| {}).await;
    let other_game = second_game(&linking).await;
    let mut requests = Vec::new();
    for (client, user) in [
        (&linking.client, "asha"),
        (&linking.client, "ravi"),
        (&other_game, "asha-7"),
        (&other_game, "ravi-7"),
    ] {
        let token = linking.app.login(client, user).await;
        let (auth_code, otp) = linking.register_ok(&token, PHONE).await;
        requests.push((token, auth_code, otp));
    }
    let linking = std::sync::Arc::new(linking);

    let answers = concurrently(requests.len(), |i| {
        let linking = std::sync::Arc::clone(&linking);
        let (token, auth_code, otp) = requests[i].clone();
        async move {
            let answer = linking.verify(&token, PHONE, &auth_code, &otp).await;
            (answer.status, answer.code().to_owned())
        }
    })
    .await;

    for game in [&answers[..2], &answers[2..]] {
        let mut statuses: Vec<u16> = game.iter().map(|(status, _)| *status).collect();
        statuses.sort_unstable();
        assert_eq!(statuses, [200, 409], "one gamer per game: {answers:?}");
    }
    let accounts: i64 = sqlx::query_scalar("select count(*) from kgen_accounts")
        .fetch_one(linking.app.db.reader())
        .await
        .unwrap();
    assert_eq!(accounts, 1, "one KGeN account per phone");
    linking.app.assert_ledger_holds().await;
}
