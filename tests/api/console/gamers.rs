//! Gamers in the console: search by user id prefix, wallet address and KGeN id,
//! a gamer's page (balances, masked phone, sessions), its history unmasked, and
//! "revoke all sessions".

use kgen_loyalty::domain::console::operators::Role;
use reqwest::Method;
use serde_json::json;

use super::{call, get, operator_session};
use crate::helpers::spawn_app;

#[tokio::test]
async fn gamers_are_found_by_user_id_prefix_wallet_address_and_kgen_id() {
    let app = spawn_app().await;
    let game = app.create_client().await;
    let other = app.create_client().await;
    for user in [
        "alice-1",
        "alice-2",
        "Alice-3",
        "bob",
        "<script>alert(1)</script>",
    ] {
        app.login(&game, user).await;
    }
    app.login(&other, "alice-9").await;
    let bob = app.session(&game, json!({"user_id": "bob"})).await;
    app.link_phone_directly(&game, "bob", "+919876543210").await;
    let kgen_id: String = sqlx::query_scalar("select kgen_id from kgen_accounts")
        .fetch_one(app.db.reader())
        .await
        .unwrap();
    let viewer = operator_session(&app, "v@studio.example", Role::Viewer, &[&game.id]).await;
    let base = format!("/console/api/games/{}/gamers", game.id);
    let users = |answer: &crate::helpers::Answer| -> Vec<String> {
        answer.body["gamers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|g| g["userID"].as_str().unwrap().to_owned())
            .collect()
    };

    let prefix = get(&app, &viewer, &format!("{base}?q=alice")).await;
    let paged = get(&app, &viewer, &format!("{base}?q=alice&limit=1")).await;
    let next = get(
        &app,
        &viewer,
        &format!("{base}?q=alice&limit=1&cursor={}", paged.str("cursor")),
    )
    .await;
    let wallet = bob.str("wallet_address").to_lowercase();
    let by_wallet = get(&app, &viewer, &format!("{base}?q={wallet}")).await;
    let by_kgen = get(&app, &viewer, &format!("{base}?q={kgen_id}")).await;
    let all = get(&app, &viewer, &base).await;
    let xss = get(&app, &viewer, &format!("{base}?q=%3Cscript")).await;

    assert_eq!(
        users(&prefix),
        ["alice-2", "alice-1"],
        "case-sensitive prefix, newest first, own game only"
    );
    assert_eq!(users(&paged), ["alice-2"]);
    assert_eq!(users(&next), ["alice-1"]);
    assert_eq!(next.body["cursor"], "");
    assert_eq!(users(&by_wallet), ["bob"]);
    assert_eq!(
        by_wallet.body["gamers"][0]["walletAddress"],
        bob.body["wallet_address"]
    );
    assert_eq!(by_wallet.body["gamers"][0]["lazyBalance"], 50);
    assert_eq!(users(&by_kgen), ["bob"]);
    assert_eq!(users(&all).len(), 5);
    assert_eq!(
        users(&xss),
        ["<script>alert(1)</script>"],
        "returned verbatim as JSON"
    );
}

#[tokio::test]
async fn a_gamers_page_shows_balances_masked_phone_sessions_and_unmasked_history() {
    let app = spawn_app().await;
    let game = app.create_client().await;
    let started = app
        .session(&game, json!({"user_id": "bob", "name": "Bob", "level": 7}))
        .await;
    app.link_phone_directly(&game, "bob", "+919876543210").await;
    let viewer = operator_session(&app, "v@studio.example", Role::Viewer, &[&game.id]).await;
    let base = format!("/console/api/games/{}/gamers/bob", game.id);

    let page = get(&app, &viewer, &base).await;
    let history = get(&app, &viewer, &format!("{base}/transactions")).await;
    let missing = get(
        &app,
        &viewer,
        &format!("/console/api/games/{}/gamers/nobody", game.id),
    )
    .await;

    assert_eq!(page.status, 200, "{:?}", page.body);
    assert_eq!(page.body["userID"], "bob");
    assert_eq!(page.body["profile"]["name"], "Bob");
    assert_eq!(page.body["profile"]["level"], 7);
    assert_eq!(page.body["walletAddress"], started.body["wallet_address"]);
    assert_eq!(page.body["balance"]["bonus_balance"], 50);
    assert_eq!(page.body["balance"]["lazy_balance"], 50);
    assert_eq!(page.body["balance"]["minWalletBalToWithdraw"], 300);
    assert_eq!(page.body["linkedPhone"], "+91******3210");
    assert!(page.body["kgenID"].is_string());
    assert_eq!(page.body["sessions"], json!({"active": 1}));
    let line = &history.body["transactions"][0];
    assert_eq!(line["description"]["type"], "WELCOME_BONUS");
    assert_eq!(
        line["to_wallet"], started.body["wallet_address"],
        "addresses unmasked"
    );
    assert!(!line["from_wallet"].as_str().unwrap().contains('*'));
    assert_eq!(history.body["cursor"], "");
    missing.assert_error(404, "RECORD_NOT_FOUND");
}

#[tokio::test]
async fn revoking_sessions_kills_every_token_of_the_gamer_but_not_later_sessions() {
    let app = spawn_app().await;
    let game = app.create_client().await;
    let first = app.session(&game, json!({"user_id": "bob"})).await;
    let second = app.session(&game, json!({"user_id": "bob"})).await;
    let bystander = app.login(&game, "carol").await;
    let admin = operator_session(&app, "admin@studio.example", Role::Admin, &[&game.id]).await;
    let viewer = operator_session(&app, "v@studio.example", Role::Viewer, &[&game.id]).await;
    let path = format!("/console/api/games/{}/gamers/bob/sessions/revoke", game.id);
    assert_eq!(app.balance(&first.str("access_token")).await.status, 200);

    let refused = call(&app, &viewer, Method::POST, &path, None).await;
    let revoked = call(&app, &admin, Method::POST, &path, None).await;

    refused.assert_error(403, "FORBIDDEN");
    assert_eq!(revoked.status, 204);
    for session in [&first, &second] {
        app.balance(&session.str("access_token"))
            .await
            .assert_error(401, "UN_AUTHORIZED");
        let refresh = app
            .send(
                app.request(Method::POST, "/fe/users/auth/token/refresh")
                    .json(&json!({"refresh_token": session.str("refresh_token")})),
            )
            .await;
        refresh.assert_error(401, "UN_AUTHORIZED");
    }
    assert_eq!(app.balance(&bystander).await.status, 200);
    let later = app.login(&game, "bob").await;
    assert_eq!(app.balance(&later).await.status, 200);
    let page = get(
        &app,
        &admin,
        &format!("/console/api/games/{}/gamers/bob", game.id),
    )
    .await;
    assert_eq!(page.body["sessions"]["active"], 1);
}
