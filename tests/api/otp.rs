//! Proves phone linking by OTP (CONTRACT section 3) through a real webhook: the
//! exact answers, the keyed hash at rest, bad bodies, verify's codes and the death
//! of a request after 5 wrong tries, and resend and replace semantics.

use regex::Regex;
use serde_json::{json, Value};

use crate::helpers::concurrently;
use crate::sms_receiver::linking_app;

const PHONE: &str = "9876543210";

fn sorted_keys(value: &Value) -> Vec<String> {
    let mut keys: Vec<String> = value
        .as_object()
        .expect("an object")
        .keys()
        .cloned()
        .collect();
    keys.sort();
    keys
}

#[tokio::test]
async fn registering_and_verifying_links_the_phone_through_the_webhook() {
    let linking = linking_app(|_| {}).await;
    let session = linking
        .app
        .session(&linking.client, json!({"user_id": "asha"}))
        .await;
    let token = session.str("access_token");

    let answer = linking.register(&token, PHONE).await;

    assert_eq!(answer.status, 200, "{:?}", answer.body);
    assert_eq!(sorted_keys(&answer.body), ["authCode", "isNewUser"]);
    let auth_code = answer.str("authCode");
    assert!(
        Regex::new("^[1-9][0-9]{7}$").unwrap().is_match(&auth_code),
        "{auth_code}"
    );
    assert_eq!(answer.body["isNewUser"], true);
    let message = linking.last();
    assert_eq!(sorted_keys(&message), ["authCode", "message", "otp", "to"]);
    assert_eq!(message["to"], "+919876543210");
    assert_eq!(message["authCode"], auth_code.as_str());
    let otp = linking.sms.last_otp();
    assert!(Regex::new("^[0-9]{6}$").unwrap().is_match(&otp), "{otp}");
    assert!(message["message"].as_str().unwrap().contains(&otp));

    // Both codes as JSON numbers: the OTP loses its leading zeros and is padded back.
    let body = json!({"phone_number": PHONE, "countryCode": "+91",
                      "authCode": auth_code.parse::<u64>().unwrap(),
                      "otp": otp.parse::<u64>().unwrap()});
    let verified = linking
        .post(&token, "/fe/users/auth/otp/verify", body)
        .await;

    assert_eq!(verified.status, 200, "{:?}", verified.body);
    assert_eq!(
        verified.body,
        json!({"message": "Users linked successfully"})
    );
    let linked = linking.linked(&token).await;
    assert_eq!(linked.status, 200, "{:?}", linked.body);
    let kgen_id = linked.str("KGenID");
    let kgen_wallet = linked.str("IndiggWalletAddress");
    assert!(uuid::Uuid::parse_str(&kgen_id).is_ok(), "{kgen_id}");
    assert!(Regex::new("^0x[0-9a-fA-F]{40}$")
        .unwrap()
        .is_match(&kgen_wallet));
    assert_eq!(
        linked.body,
        json!({"UserID": "asha",
               "NameSpacedThirdPartyUserID": format!("{}#asha", linking.client.id),
               "WalletAddress": session.str("wallet_address"),
               "IndiggWalletAddress": kgen_wallet,
               "LinkedPhone": "+919876543210",
               "KGenID": kgen_id})
    );
    let ledger_address: String =
        sqlx::query_scalar("select address from accounts where kind = 'KGEN'")
            .fetch_one(linking.app.db.reader())
            .await
            .unwrap();
    assert_eq!(
        ledger_address, kgen_wallet,
        "the KGeN wallet has its ledger account"
    );
    linking.app.assert_ledger_holds().await;
}

#[tokio::test]
async fn the_otp_is_stored_only_as_a_keyed_hash() {
    let linking = linking_app(|_| {}).await;
    let token = linking.login("asha").await;

    let (auth_code, otp) = linking.register_ok(&token, PHONE).await;

    let stored: String =
        sqlx::query_scalar("select otp_hash from otp_requests where auth_code = $1")
            .bind(&auth_code)
            .fetch_one(linking.app.db.reader())
            .await
            .unwrap();
    assert_ne!(stored, otp);
    assert!(!stored.contains(&otp), "the hash does not embed the OTP");
    assert!(
        Regex::new("^[0-9a-f]{64}$").unwrap().is_match(&stored),
        "{stored}"
    );
}

#[tokio::test]
async fn every_phone_linking_endpoint_needs_an_access_token_before_its_body() {
    let linking = linking_app(|_| {}).await;
    let app = &linking.app;

    for (method, path) in [
        (reqwest::Method::POST, "/fe/users/auth/otp/register"),
        (reqwest::Method::POST, "/fe/users/auth/otp/resend"),
        (reqwest::Method::POST, "/fe/users/auth/otp/verify"),
        (
            reqwest::Method::GET,
            "/fe/users/account/linked-mobile-number",
        ),
    ] {
        let answer = app
            .send(app.request(method.clone(), path).body("not json"))
            .await;
        answer.assert_error(401, "UN_AUTHORIZED");
        let answer = app.fe("forged", method, path, Some(json!({}))).await;
        answer.assert_error(401, "UN_AUTHORIZED");
    }
    assert_eq!(linking.sms.count(), 0);
}

#[tokio::test]
async fn invalid_phones_are_400_on_register_resend_and_verify_and_send_nothing() {
    let linking = linking_app(|_| {}).await;
    let token = linking.login("asha").await;
    let cases = [
        (json!({"countryCode": "+91"}), "phone_number missing"),
        (json!({"phone_number": PHONE}), "countryCode missing"),
        (
            json!({"phone_number": "98765x3210", "countryCode": "+91"}),
            "a letter",
        ),
        (
            json!({"phone_number": "1234", "countryCode": "+91"}),
            "7 digits in all",
        ),
        (
            json!({"phone_number": "98765432101234", "countryCode": "+91"}),
            "16 digits",
        ),
        (
            json!({"phone_number": PHONE, "countryCode": "+0"}),
            "country code 0",
        ),
        (
            json!({"phone_number": PHONE, "countryCode": "+9a"}),
            "letter in country code",
        ),
        (
            json!({"phone_number": "+919876543210", "countryCode": "+91"}),
            "plus in number",
        ),
        (
            json!({"phone_number": true, "countryCode": "+91"}),
            "boolean number",
        ),
        (
            json!({"phone_number": "", "countryCode": "+91"}),
            "empty number",
        ),
    ];

    for path in ["register", "resend", "verify"] {
        for (body, why) in &cases {
            let mut body = body.clone();
            body["authCode"] = json!("12345678");
            body["otp"] = json!("123456");
            let answer = linking
                .post(&token, &format!("/fe/users/auth/otp/{path}"), body)
                .await;
            assert_eq!(
                (answer.status, answer.code()),
                (400, "BAD_REQUEST"),
                "{path} with {why} must be 400: {:?}",
                answer.body
            );
        }
    }
    assert_eq!(linking.sms.count(), 0, "no OTP was sent");
}

#[tokio::test]
async fn verify_without_codes_or_with_codes_of_the_wrong_type_is_400() {
    let linking = linking_app(|_| {}).await;
    let token = linking.login("asha").await;
    let (auth_code, otp) = linking.register_ok(&token, PHONE).await;
    let cases = [
        (json!({"otp": otp}), "authCode missing"),
        (json!({"authCode": auth_code}), "otp missing"),
        (json!({"authCode": auth_code, "otp": 1.5}), "fractional otp"),
        (
            json!({"authCode": auth_code, "otp": -596097}),
            "negative otp",
        ),
        (json!({"authCode": auth_code, "otp": true}), "boolean otp"),
        (
            json!({"authCode": {"code": 1}, "otp": otp}),
            "object authCode",
        ),
        (
            json!({"authCode": auth_code, "otp": "1".repeat(65)}),
            "65-character otp",
        ),
    ];

    for (mut body, why) in cases {
        body["phone_number"] = json!(PHONE);
        body["countryCode"] = json!("+91");
        let answer = linking
            .post(&token, "/fe/users/auth/otp/verify", body)
            .await;
        assert_eq!(
            (answer.status, answer.code()),
            (400, "BAD_REQUEST"),
            "{why} must be 400: {:?}",
            answer.body
        );
    }
    let answer = linking.verify(&token, PHONE, &auth_code, &otp).await;
    assert_eq!(
        answer.status, 200,
        "the 400s counted no wrong try: {:?}",
        answer.body
    );
}

/// An OTP that differs from `otp`.
fn wrong(otp: &str) -> String {
    let last = otp.as_bytes()[5] - b'0';
    format!("{}{}", &otp[..5], (last + 1) % 10)
}

#[tokio::test]
async fn five_wrong_tries_are_401_and_then_even_the_right_otp_is_429() {
    let linking = linking_app(|_| {}).await;
    let token = linking.login("asha").await;
    let (auth_code, otp) = linking.register_ok(&token, PHONE).await;

    for attempt in 1..=5 {
        let answer = linking
            .verify(&token, PHONE, &auth_code, &wrong(&otp))
            .await;
        assert_eq!(
            (answer.status, answer.code()),
            (401, "INVALID_OTP"),
            "wrong try {attempt}: {:?}",
            answer.body
        );
    }
    for otp in [otp.clone(), wrong(&otp)] {
        let answer = linking.verify(&token, PHONE, &auth_code, &otp).await;
        answer.assert_error(429, "TOO_MANY_ATTEMPTS");
    }

    linking
        .linked(&token)
        .await
        .assert_error(404, "RECORD_NOT_FOUND");
    let resend = linking.resend(&token, PHONE).await;
    resend.assert_error(404, "RECORD_NOT_FOUND");
    linking.link(&token, PHONE).await;
}

#[tokio::test]
async fn concurrent_wrong_tries_are_counted_exactly() {
    let linking = std::sync::Arc::new(linking_app(|_| {}).await);
    let token = linking.login("asha").await;
    let (auth_code, otp) = linking.register_ok(&token, PHONE).await;

    let codes = concurrently(20, |_| {
        let linking = std::sync::Arc::clone(&linking);
        let (token, auth_code, wrong_otp) = (token.clone(), auth_code.clone(), wrong(&otp));
        async move {
            let answer = linking.verify(&token, PHONE, &auth_code, &wrong_otp).await;
            answer.code().to_owned()
        }
    })
    .await;

    let invalid = codes.iter().filter(|code| *code == "INVALID_OTP").count();
    let dead = codes
        .iter()
        .filter(|code| *code == "TOO_MANY_ATTEMPTS")
        .count();
    assert_eq!((invalid, dead), (5, 15), "{codes:?}");
    let right = linking.verify(&token, PHONE, &auth_code, &otp).await;
    right.assert_error(429, "TOO_MANY_ATTEMPTS");
}

#[tokio::test]
async fn unknown_used_and_foreign_auth_codes_are_401_invalid_otp() {
    let linking = linking_app(|_| {}).await;
    let asha = linking.login("asha").await;
    let ravi = linking.login("ravi").await;
    let (ravi_code, ravi_otp) = linking.register_ok(&ravi, "9000000001").await;
    let (auth_code, otp) = linking.register_ok(&asha, PHONE).await;

    let unknown = linking.verify(&asha, PHONE, "12345678", &otp).await;
    unknown.assert_error(401, "INVALID_OTP");
    let foreign = linking
        .verify(&asha, "9000000001", &ravi_code, &ravi_otp)
        .await;
    foreign.assert_error(401, "INVALID_OTP");
    let other_phone = linking.verify(&asha, "9000000002", &auth_code, &otp).await;
    other_phone.assert_error(401, "INVALID_OTP");
    let answer = linking.verify(&asha, PHONE, &auth_code, &otp).await;
    assert_eq!(answer.status, 200, "{:?}", answer.body);
    let used = linking.verify(&asha, PHONE, &auth_code, &otp).await;
    used.assert_error(401, "INVALID_OTP");

    let ravi_answer = linking
        .verify(&ravi, "9000000001", &ravi_code, &ravi_otp)
        .await;
    assert_eq!(ravi_answer.status, 200, "asha's tries were not ravi's");
}

#[tokio::test]
async fn an_expired_otp_is_401_otp_expired_and_a_resend_revives_the_request() {
    let linking = linking_app(|config| config.otp_ttl_seconds = 0).await;
    let token = linking.login("asha").await;
    let (auth_code, expired_otp) = linking.register_ok(&token, PHONE).await;

    let expired = linking
        .verify(&token, PHONE, &auth_code, &expired_otp)
        .await;

    expired.assert_error(401, "OTP_EXPIRED");
    let linking = linking.restart(|config| config.otp_ttl_seconds = 300).await;
    let resent = linking.resend(&token, PHONE).await;
    assert_eq!(resent.status, 200, "{:?}", resent.body);
    assert_eq!(
        resent.str("authCode"),
        auth_code,
        "a resend keeps the authCode"
    );
    let otp = linking.sms.last_otp();
    if otp != expired_otp {
        let old = linking
            .verify(&token, PHONE, &auth_code, &expired_otp)
            .await;
        old.assert_error(401, "INVALID_OTP");
    }
    let answer = linking.verify(&token, PHONE, &auth_code, &otp).await;
    assert_eq!(answer.status, 200, "{:?}", answer.body);
}

#[tokio::test]
async fn a_resend_keeps_the_auth_code_and_only_its_otp_works() {
    let linking = linking_app(|_| {}).await;
    let token = linking.login("asha").await;
    let (auth_code, first_otp) = linking.register_ok(&token, PHONE).await;

    let mut otp = first_otp.clone();
    while otp == first_otp {
        let resent = linking.resend(&token, PHONE).await;
        assert_eq!(resent.status, 200, "{:?}", resent.body);
        assert_eq!(
            resent.body,
            json!({"authCode": auth_code, "isNewUser": true})
        );
        assert_eq!(linking.last()["authCode"], auth_code.as_str());
        otp = linking.sms.last_otp();
    }

    let old = linking.verify(&token, PHONE, &auth_code, &first_otp).await;
    old.assert_error(401, "INVALID_OTP");
    let answer = linking.verify(&token, PHONE, &auth_code, &otp).await;
    assert_eq!(answer.status, 200, "{:?}", answer.body);
}

#[tokio::test]
async fn a_resend_restarts_the_wrong_try_count() {
    let linking = linking_app(|_| {}).await;
    let token = linking.login("asha").await;
    let (auth_code, otp) = linking.register_ok(&token, PHONE).await;
    for _ in 0..4 {
        let answer = linking
            .verify(&token, PHONE, &auth_code, &wrong(&otp))
            .await;
        answer.assert_error(401, "INVALID_OTP");
    }

    let resent = linking.resend(&token, PHONE).await;
    assert_eq!(resent.status, 200, "{:?}", resent.body);
    let otp = linking.sms.last_otp();

    for attempt in 1..=4 {
        let answer = linking
            .verify(&token, PHONE, &auth_code, &wrong(&otp))
            .await;
        assert_eq!(
            answer.code(),
            "INVALID_OTP",
            "wrong try {attempt} after the resend"
        );
    }
    let answer = linking.verify(&token, PHONE, &auth_code, &otp).await;
    assert_eq!(answer.status, 200, "{:?}", answer.body);
}

#[tokio::test]
async fn a_new_register_replaces_the_open_request() {
    let linking = linking_app(|_| {}).await;
    let token = linking.login("asha").await;
    let (first_code, first_otp) = linking.register_ok(&token, PHONE).await;

    let (second_code, second_otp) = linking.register_ok(&token, PHONE).await;

    assert_ne!(first_code, second_code);
    let old = linking.verify(&token, PHONE, &first_code, &first_otp).await;
    old.assert_error(401, "INVALID_OTP");
    let answer = linking
        .verify(&token, PHONE, &second_code, &second_otp)
        .await;
    assert_eq!(answer.status, 200, "{:?}", answer.body);
}
