//! Proves the K-Store redirect (CONTRACT section 6): the URL carries a session
//! token that a store verifies offline with nothing but `/.well-known/jwks.json`,
//! with every claim as specified, and key rotation keeps issued tokens verifiable.

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::{spawn_app, spawn_app_with, TestApp};

const REDIRECT: &str = "/fe/users/k-store/generate-redirect-uri";

/// The JWKS as a store fetches it: no credentials.
async fn jwks(app: &TestApp) -> (Value, JwkSet) {
    let answer = app
        .send(app.request(Method::GET, "/.well-known/jwks.json"))
        .await;
    assert_eq!(answer.status, 200, "{:?}", answer.body);
    let set = serde_json::from_value(answer.body.clone()).expect("a JWK set");
    (answer.body, set)
}

/// Verifies `token` as the store would: the key of its `kid` from the JWKS, EdDSA,
/// audience "k-store", unexpired. Returns the claims.
fn verify_offline(set: &JwkSet, token: &str) -> Value {
    let header = jsonwebtoken::decode_header(token).expect("a JWT header");
    assert_eq!(header.alg, Algorithm::EdDSA);
    let kid = header.kid.expect("the token names its key");
    let jwk = set.find(&kid).expect("the JWKS lists the token's key");
    let key = DecodingKey::from_jwk(jwk).expect("an Ed25519 JWK");
    let mut validation = Validation::new(Algorithm::EdDSA);
    validation.set_audience(&["k-store"]);
    validation.set_required_spec_claims(&["exp", "iat", "sub", "aud", "jti"]);
    jsonwebtoken::decode::<Value>(token, &key, &validation)
        .expect("the token verifies with the published key")
        .claims
}

/// The `sessionToken` of a redirect URL, and the URL's other parameters.
fn session_token(url: &str) -> (String, Vec<(String, String)>) {
    let url = url::Url::parse(url).expect("a URL");
    let mut token = None;
    let mut others = Vec::new();
    for (name, value) in url.query_pairs() {
        if name == "sessionToken" {
            assert!(token.is_none(), "one sessionToken");
            token = Some(value.into_owned());
        } else {
            others.push((name.into_owned(), value.into_owned()));
        }
    }
    (token.expect("the URL has a sessionToken"), others)
}

#[tokio::test]
async fn the_redirect_token_verifies_offline_with_the_jwks_and_carries_every_claim() {
    let app = spawn_app_with(|config| config.store_url = "https://store.example/shop".into()).await;
    let client = app.create_client().await;
    let session = app.session(&client, json!({"user_id": "asha"})).await;
    let token = session.str("access_token");

    let answer = app.fe(&token, Method::POST, REDIRECT, None).await;

    assert_eq!(answer.status, 200, "{:?}", answer.body);
    assert_eq!(answer.body.as_object().unwrap().len(), 1, "only url");
    let url = answer.str("url");
    assert!(
        url.starts_with("https://store.example/shop?sessionToken="),
        "{url}"
    );
    let (store_token, others) = session_token(&url);
    assert!(others.is_empty());
    let (body, set) = jwks(&app).await;
    let claims = verify_offline(&set, &store_token);
    assert_eq!(claims["sub"], format!("{}#asha", client.id));
    assert_eq!(claims["aud"], "k-store");
    assert_eq!(claims["wallet_address"], session.body["wallet_address"]);
    let iat = claims["iat"].as_i64().unwrap();
    let now = chrono::Utc::now().timestamp();
    assert!((now - 60..=now + 5).contains(&iat), "iat {iat} is now");
    assert_eq!(claims["exp"].as_i64().unwrap(), iat + 600);
    assert!(uuid::Uuid::parse_str(claims["jti"].as_str().unwrap()).is_ok());
    for key in body["keys"].as_array().unwrap() {
        let mut fields: Vec<&str> = key
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        fields.sort_unstable();
        assert_eq!(fields, ["alg", "crv", "kid", "kty", "use", "x"]);
        assert_eq!(
            (&key["kty"], &key["crv"], &key["alg"], &key["use"]),
            (
                &json!("OKP"),
                &json!("Ed25519"),
                &json!("EdDSA"),
                &json!("sig")
            )
        );
    }
}

#[tokio::test]
async fn every_token_has_its_own_jti_and_the_base_url_keeps_its_query() {
    let base = "https://store.example/shop?ref=game&sessionToken=stale";
    let app = spawn_app_with(|config| config.store_url = base.into()).await;
    let client = app.create_client().await;
    let token = app.login(&client, "asha").await;

    let first = app
        .fe(&token, Method::POST, REDIRECT, None)
        .await
        .str("url");
    let second = app
        .fe(&token, Method::POST, REDIRECT, None)
        .await
        .str("url");

    let (_, set) = jwks(&app).await;
    let (first_token, others) = session_token(&first);
    assert_eq!(others, [("ref".to_owned(), "game".to_owned())]);
    let (second_token, _) = session_token(&second);
    assert_ne!(
        verify_offline(&set, &first_token)["jti"],
        verify_offline(&set, &second_token)["jti"]
    );
}

#[tokio::test]
async fn tokens_of_the_previous_key_still_verify_after_a_rotation() {
    let app = spawn_app().await;
    let client = app.create_client().await;
    let token = app.login(&client, "asha").await;
    let before = app
        .fe(&token, Method::POST, REDIRECT, None)
        .await
        .str("url");
    let (old_token, _) = session_token(&before);

    kgen_loyalty::domain::tokens::rotate_keys(&app.db)
        .await
        .unwrap();
    let after = app
        .fe(&token, Method::POST, REDIRECT, None)
        .await
        .str("url");
    let (new_token, _) = session_token(&after);

    let (body, set) = jwks(&app).await;
    assert_eq!(
        body["keys"].as_array().unwrap().len(),
        2,
        "current and previous"
    );
    let old_kid = jsonwebtoken::decode_header(&old_token).unwrap().kid;
    let new_kid = jsonwebtoken::decode_header(&new_token).unwrap().kid;
    assert_ne!(old_kid, new_kid, "the new token is signed with the new key");
    assert_eq!(verify_offline(&set, &old_token)["aud"], "k-store");
    assert_eq!(verify_offline(&set, &new_token)["aud"], "k-store");
}

#[tokio::test]
async fn the_redirect_needs_an_access_token_and_the_jwks_does_not() {
    let app = spawn_app().await;

    let answer = app.send(app.request(Method::POST, REDIRECT)).await;
    answer.assert_error(401, "UN_AUTHORIZED");
    let (body, _) = jwks(&app).await;
    assert_eq!(body["keys"].as_array().unwrap().len(), 1);
}
