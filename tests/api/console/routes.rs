//! Roles and tenant scoping on every kind of route, games and keys, events,
//! withdrawals, the audit log, and the console API in the OpenAPI document.

use kgen_loyalty::domain::console::operators::Role;
use reqwest::Method;
use serde_json::json;

use super::{call, get, operator_session};
use crate::helpers::{spawn_app, TestClient};

#[tokio::test]
async fn a_scoped_operator_sees_only_its_games_and_another_games_gamer_is_404() {
    let app = spawn_app().await;
    let (game_a, game_b) = (app.create_client().await, app.create_client().await);
    app.login(&game_b, "bob").await;
    let viewer = operator_session(&app, "a@studio.example", Role::Viewer, &[&game_a.id]).await;

    let games = get(&app, &viewer, "/console/api/games").await;
    let foreign = get(
        &app,
        &viewer,
        &format!("/console/api/games/{}/gamers/bob", game_b.id),
    )
    .await;
    let missing = get(&app, &viewer, "/console/api/games/no-such-game/gamers/bob").await;
    let foreign_stats = get(
        &app,
        &viewer,
        &format!("/console/api/games/{}/stats", game_b.id),
    )
    .await;

    assert_eq!(games.status, 200);
    assert_eq!(
        games.body["games"],
        json!([{"clientID": game_a.id, "name": "Test Game", "isActive": true}])
    );
    foreign.assert_error(404, "RECORD_NOT_FOUND");
    missing.assert_error(404, "RECORD_NOT_FOUND");
    assert_eq!(
        foreign.body, missing.body,
        "a foreign game answers like a missing one"
    );
    foreign_stats.assert_error(404, "RECORD_NOT_FOUND");
}

#[tokio::test]
async fn a_viewer_asking_for_a_change_is_403_but_a_foreign_game_is_404_first() {
    let app = spawn_app().await;
    let (game_a, game_b) = (app.create_client().await, app.create_client().await);
    let viewer = operator_session(&app, "v@studio.example", Role::Viewer, &[&game_a.id]).await;
    let body = json!({"eventType": "DailyBonus", "rewardAmount": 10});

    let own = call(
        &app,
        &viewer,
        Method::PUT,
        &format!("/console/api/games/{}/events", game_a.id),
        Some(body.clone()),
    )
    .await;
    let foreign = call(
        &app,
        &viewer,
        Method::PUT,
        &format!("/console/api/games/{}/events", game_b.id),
        Some(body),
    )
    .await;
    let bad_body = call(
        &app,
        &viewer,
        Method::PUT,
        &format!("/console/api/games/{}/events", game_a.id),
        Some(json!([1])),
    )
    .await;
    let create_game = call(
        &app,
        &viewer,
        Method::POST,
        "/console/api/games",
        Some(json!({"name": "X"})),
    )
    .await;

    own.assert_error(403, "FORBIDDEN");
    foreign.assert_error(404, "RECORD_NOT_FOUND");
    bad_body.assert_error(403, "FORBIDDEN");
    create_game.assert_error(403, "FORBIDDEN");
    assert_eq!(app.scalar("select count(*) from events").await, 0);
}

#[tokio::test]
async fn a_game_admin_manages_events_with_the_s2s_shapes_and_an_xss_name_comes_back_verbatim() {
    let app = spawn_app().await;
    let game = app.create_client().await;
    let admin = operator_session(&app, "admin@studio.example", Role::Admin, &[&game.id]).await;
    let base = format!("/console/api/games/{}/events", game.id);
    let xss = "<img src=x onerror=alert(1)><script>alert('x')</script>";

    let created = call(
        &app,
        &admin,
        Method::PUT,
        &base,
        Some(json!({
            "eventType": "DailyBonus", "eventName": xss, "rewardAmount": 25,
            "maxClaimsPerUser": 2, "claimPeriod": "DAILY", "totalBudget": 1000
        })),
    )
    .await;
    let id = created.str("eventID");
    let read = get(&app, &admin, &format!("{base}/{id}")).await;
    let list = get(&app, &admin, &format!("{base}?isActive=true&limit=1")).await;
    let via_s2s = app
        .s2s(
            &game,
            Method::GET,
            &format!("/s2s/loyalty/rewardable-events/{id}"),
            None,
        )
        .await;
    let bad = call(
        &app,
        &admin,
        Method::PUT,
        &base,
        Some(json!({"eventType": "X", "rewardAmount": 1.5})),
    )
    .await;
    let deleted = call(&app, &admin, Method::DELETE, &format!("{base}/{id}"), None).await;
    let after = get(&app, &admin, &format!("{base}/{id}")).await;

    assert_eq!(created.status, 201, "{:?}", created.body);
    assert_eq!(
        created.body["eventName"], xss,
        "stored and returned verbatim as JSON"
    );
    assert_eq!(created.body["claimPeriod"], "DAILY");
    let mut read_event = read.body.clone();
    let paid_out = read_event.as_object_mut().unwrap().remove("paidOut");
    assert_eq!(paid_out, Some(json!(0)), "the console adds the budget used");
    assert_eq!(read_event, created.body);
    assert_eq!(via_s2s.body, created.body, "the same event as /s2s sees it");
    assert_eq!(list.body["events"][0]["eventID"], id.as_str());
    assert_eq!(list.body["cursor"], "");
    assert!(read.headers["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/json"));
    bad.assert_error(400, "BAD_REQUEST");
    assert_eq!(deleted.status, 204);
    after.assert_error(404, "RECORD_NOT_FOUND");
}

#[tokio::test]
async fn a_platform_admin_creates_rotates_and_disables_games() {
    let app = spawn_app().await;
    let admin = operator_session(&app, "root@platform.example", Role::Admin, &[]).await;

    let created = call(
        &app,
        &admin,
        Method::POST,
        "/console/api/games",
        Some(json!({"name": "Callbreak", "welcomeBonus": 10, "minWithdraw": 100})),
    )
    .await;
    let client = TestClient {
        id: created.str("clientID"),
        secret: created.str("clientSecret"),
    };
    let works = app
        .s2s(&client, Method::GET, "/s2s/loyalty/rewardable-events", None)
        .await;
    let rotated = call(
        &app,
        &admin,
        Method::POST,
        &format!("/console/api/games/{}/rotate-secret", client.id),
        None,
    )
    .await;
    let old_secret = app
        .s2s(&client, Method::GET, "/s2s/loyalty/rewardable-events", None)
        .await;
    let disabled = call(
        &app,
        &admin,
        Method::POST,
        &format!("/console/api/games/{}/disable", client.id),
        None,
    )
    .await;
    let games = get(&app, &admin, "/console/api/games").await;

    assert_eq!(created.status, 201, "{:?}", created.body);
    assert_eq!(created.body["name"], "Callbreak");
    assert_eq!(works.status, 200);
    assert_eq!(rotated.status, 200);
    assert_eq!(rotated.body["clientID"], client.id.as_str());
    assert_ne!(rotated.str("clientSecret"), client.secret);
    old_secret.assert_error(401, "UN_AUTHORIZED");
    assert_eq!(disabled.status, 204);
    assert_eq!(games.body["games"][0]["isActive"], false);
    let audit = get(&app, &admin, "/console/api/audit").await;
    let actions: Vec<&str> = audit.body["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        &actions[..4],
        ["game.disable", "game.rotate_secret", "game.create", "login"]
    );
    assert_eq!(
        audit.body["entries"][3]["clientID"],
        serde_json::Value::Null
    );
    assert_eq!(
        audit.body["entries"][0]["operator"],
        "root@platform.example"
    );
}

#[tokio::test]
async fn audit_entries_without_a_game_are_for_platform_admins_only() {
    let app = spawn_app().await;
    let game = app.create_client().await;
    let studio = operator_session(&app, "admin@studio.example", Role::Admin, &[&game.id]).await;
    let root = operator_session(&app, "root@platform.example", Role::Admin, &[]).await;
    call(
        &app,
        &studio,
        Method::PUT,
        &format!("/console/api/games/{}/events", game.id),
        Some(json!({"eventType": "DailyBonus", "rewardAmount": 5})),
    )
    .await;

    let studio_view = get(&app, &studio, "/console/api/audit").await;
    let root_view = get(&app, &root, "/console/api/audit?limit=500").await;
    let edit = call(&app, &root, Method::DELETE, "/console/api/audit", None).await;

    let studio_entries = studio_view.body["entries"].as_array().unwrap();
    assert_eq!(studio_entries.len(), 1, "{studio_entries:?}");
    assert_eq!(studio_entries[0]["action"], "event.upsert");
    assert_eq!(studio_entries[0]["clientID"], game.id.as_str());
    let root_actions: Vec<&str> = root_view.body["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert!(
        root_actions.contains(&"operator.create") && root_actions.contains(&"login"),
        "{root_actions:?}"
    );
    edit.assert_error(405, "METHOD_NOT_ALLOWED");
}

#[tokio::test]
async fn withdrawals_list_by_game_and_status_with_their_age() {
    let app = spawn_app().await;
    let game = app.create_client_with(400, 300).await;
    let token = app.login(&game, "rich").await;
    app.link_phone_directly(&game, "rich", "+919876543210")
        .await;
    assert_eq!(app.withdraw(&token, None).await.status, 200);
    let viewer = operator_session(&app, "v@studio.example", Role::Viewer, &[&game.id]).await;

    let all = get(&app, &viewer, "/console/api/withdrawals").await;
    let failed = get(
        &app,
        &viewer,
        &format!(
            "/console/api/withdrawals?clientID={}&status=FAILED",
            game.id
        ),
    )
    .await;
    let bad = get(&app, &viewer, "/console/api/withdrawals?status=LOST").await;

    assert_eq!(all.status, 200, "{:?}", all.body);
    let first = &all.body["withdrawals"][0];
    assert_eq!(first["clientID"], game.id.as_str());
    assert_eq!(first["userID"], "rich");
    assert_eq!(first["amount"], 400);
    assert!(first["ageSeconds"].as_i64().unwrap() >= 0);
    for field in ["uid", "sync_status", "createdAt"] {
        assert!(first[field].is_string(), "{field}");
    }
    assert_eq!(failed.body["withdrawals"], json!([]));
    bad.assert_error(400, "BAD_REQUEST");
}

#[tokio::test]
async fn the_console_api_is_in_the_openapi_document_with_a_cookie_scheme() {
    let app = spawn_app().await;

    let doc = app.send(app.request(Method::GET, "/openapi.json")).await;

    let scheme = &doc.body["components"]["securitySchemes"]["console_session"];
    assert_eq!(scheme["type"], "apiKey");
    assert_eq!(scheme["in"], "cookie");
    assert_eq!(scheme["name"], "kgen_console");
    let paths = doc.body["paths"].as_object().unwrap();
    for path in [
        "/console/api/login",
        "/console/api/session",
        "/console/api/logout",
        "/console/api/games",
        "/console/api/games/{clientID}/events/{eventID}",
        "/console/api/withdrawals",
        "/console/api/games/{clientID}/stats",
        "/console/api/games/{clientID}/gamers/{userID}/adjustments",
        "/console/api/games/{clientID}/gamers/{userID}/sessions/revoke",
        "/console/api/audit",
    ] {
        assert!(paths.contains_key(path), "{path} missing");
    }
    assert_eq!(
        doc.body["paths"]["/console/api/audit"]["get"]["tags"],
        json!(["console"])
    );
}
