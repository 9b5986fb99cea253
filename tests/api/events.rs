//! Proves the rewardable-events API of CONTRACT section 1: defaults, full
//! replacement, validation with nothing written, soft delete, tenant isolation,
//! the isActive filter and cursor pagination.

use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::{spawn_app, TestApp, TestClient};

async fn event_count(app: &TestApp, client: &TestClient) -> usize {
    let list = app.list_events(client, "limit=500").await;
    list.body["rewardableEvents"].as_array().unwrap().len()
}

#[tokio::test]
async fn create_with_only_required_fields_applies_every_default() {
    let app = spawn_app().await;
    let client = app.create_client().await;

    let answer = app
        .put_event(
            &client,
            json!({"eventType": "DailyBonus", "rewardAmount": 100}),
        )
        .await;

    assert_eq!(answer.status, 201, "{:?}", answer.body);
    let body = answer.body.as_object().unwrap();
    let id = answer.str("eventID");
    assert!(uuid::Uuid::parse_str(&id).is_ok(), "eventID is a UUID");
    let expected = json!({
        "eventID": id, "eventType": "DailyBonus", "eventName": "", "eventDescription": "",
        "rewardAmount": 100, "rewardCategory": "EARNED", "entityType": "GAME",
        "entityID": client.id, "isActive": true, "isActivityTraceEnabled": false,
        "activityTraceActivityID": "", "maxClaimsPerUser": null, "claimPeriod": "LIFETIME",
        "cooldownSeconds": null, "totalBudget": null, "startsAt": null, "endsAt": null,
        "createdAt": body["createdAt"], "updatedAt": body["updatedAt"],
    });
    assert_eq!(answer.body, expected);
    let created = answer.str("createdAt");
    assert!(
        chrono::DateTime::parse_from_rfc3339(&created).is_ok() && created.ends_with('Z'),
        "createdAt is RFC 3339 UTC: {created}"
    );
    assert_eq!(created, answer.str("updatedAt"));
}

#[tokio::test]
async fn update_replaces_every_field_and_keeps_created_at() {
    let app = spawn_app().await;
    let client = app.create_client().await;
    let full = json!({
        "eventType": "BattlePass", "eventName": "Tier 5", "eventDescription": "Reach tier 5",
        "rewardAmount": 250, "rewardCategory": "BONUS", "entityType": "SEASON",
        "entityID": "season-1", "isActive": false, "isActivityTraceEnabled": true,
        "activityTraceActivityID": "tier5-reached", "maxClaimsPerUser": 3,
        "claimPeriod": "WEEKLY", "cooldownSeconds": 60, "totalBudget": 10000,
        "startsAt": "2024-01-01T00:00:00Z", "endsAt": "2030-01-01T00:00:00Z",
    });
    let created = app.put_event(&client, full.clone()).await;
    assert_eq!(created.status, 201, "{:?}", created.body);
    for field in full.as_object().unwrap().keys() {
        if field != "startsAt" && field != "endsAt" {
            assert_eq!(created.body[field], full[field], "{field} round-trips");
        }
    }
    assert_eq!(created.str("startsAt"), "2024-01-01T00:00:00.000000000Z");
    assert_eq!(created.str("endsAt"), "2030-01-01T00:00:00.000000000Z");
    let id = created.str("eventID");

    let updated = app
        .put_event(
            &client,
            json!({"eventID": id, "eventType": "Renamed", "rewardAmount": 5}),
        )
        .await;

    assert_eq!(updated.status, 201, "{:?}", updated.body);
    assert_eq!(updated.str("eventID"), id);
    assert_eq!(updated.str("createdAt"), created.str("createdAt"));
    assert_ne!(updated.str("updatedAt"), created.str("updatedAt"));
    assert_eq!(updated.body["eventType"], "Renamed");
    assert_eq!(
        updated.body["eventName"], "",
        "left-out fields take their defaults"
    );
    assert_eq!(updated.body["rewardCategory"], "EARNED");
    assert_eq!(updated.body["isActive"], true);
    assert_eq!(
        updated.body["maxClaimsPerUser"],
        Value::Null,
        "policy fields are cleared"
    );
    assert_eq!(updated.body["totalBudget"], Value::Null);
    assert_eq!(updated.body["claimPeriod"], "LIFETIME");
    let read = app
        .s2s(
            &client,
            Method::GET,
            &format!("/s2s/loyalty/rewardable-events/{id}"),
            None,
        )
        .await;
    assert_eq!(read.body, updated.body, "GET shows the stored update");
    assert_eq!(
        event_count(&app, &client).await,
        1,
        "an update creates nothing"
    );
}

#[tokio::test]
async fn an_empty_event_id_creates_and_unknown_foreign_or_deleted_ids_are_404() {
    let app = spawn_app().await;
    let client = app.create_client().await;
    let other = app.create_client().await;
    let foreign = app.create_event(&other, 10, json!({})).await;
    let deleted = app.create_event(&client, 10, json!({})).await;
    let path = format!("/s2s/loyalty/rewardable-events/{deleted}");
    assert_eq!(
        app.s2s(&client, Method::DELETE, &path, None).await.status,
        204
    );

    let created = app
        .put_event(
            &client,
            json!({"eventID": "", "eventType": "A", "rewardAmount": 1}),
        )
        .await;
    assert_eq!(created.status, 201);
    assert_ne!(created.str("eventID"), "");

    for id in [uuid::Uuid::new_v4().to_string(), foreign.clone(), deleted] {
        let answer = app
            .put_event(
                &client,
                json!({"eventID": id, "eventType": "A", "rewardAmount": 1}),
            )
            .await;
        answer.assert_error(404, "RECORD_NOT_FOUND");
    }
    let untouched = app
        .s2s(
            &other,
            Method::GET,
            &format!("/s2s/loyalty/rewardable-events/{foreign}"),
            None,
        )
        .await;
    assert_eq!(
        untouched.body["rewardAmount"], 10,
        "the foreign event is unchanged"
    );
}

#[tokio::test]
async fn every_invalid_field_is_400_naming_it_and_writes_nothing() {
    let app = spawn_app().await;
    let client = app.create_client().await;
    let cases: Vec<(&str, Value, &str)> = vec![
        ("missing eventType", json!({"rewardAmount": 1}), "eventType"),
        (
            "empty eventType",
            json!({"eventType": "", "rewardAmount": 1}),
            "eventType",
        ),
        (
            "eventType not a string",
            json!({"eventType": 5, "rewardAmount": 1}),
            "eventType",
        ),
        (
            "missing rewardAmount",
            json!({"eventType": "A"}),
            "rewardAmount",
        ),
        (
            "fractional amount",
            json!({"eventType": "A", "rewardAmount": 100.0}),
            "rewardAmount",
        ),
        (
            "negative amount",
            json!({"eventType": "A", "rewardAmount": -1}),
            "rewardAmount",
        ),
        (
            "amount too large",
            json!({"eventType": "A", "rewardAmount": 1_000_000_001}),
            "rewardAmount",
        ),
        (
            "amount as string",
            json!({"eventType": "A", "rewardAmount": "5"}),
            "rewardAmount",
        ),
        (
            "unknown category",
            json!({"eventType": "A", "rewardAmount": 1, "rewardCategory": "GOLD"}),
            "rewardCategory",
        ),
        (
            "trace without id",
            json!({"eventType": "A", "rewardAmount": 1, "isActivityTraceEnabled": true}),
            "activityTraceActivityID",
        ),
        (
            "isActive not a bool",
            json!({"eventType": "A", "rewardAmount": 1, "isActive": "yes"}),
            "isActive",
        ),
        (
            "eventName not a string",
            json!({"eventType": "A", "rewardAmount": 1, "eventName": 3}),
            "eventName",
        ),
        (
            "maxClaimsPerUser zero",
            json!({"eventType": "A", "rewardAmount": 1, "maxClaimsPerUser": 0}),
            "maxClaimsPerUser",
        ),
        (
            "maxClaimsPerUser fractional",
            json!({"eventType": "A", "rewardAmount": 1, "maxClaimsPerUser": 1.5}),
            "maxClaimsPerUser",
        ),
        (
            "unknown claimPeriod",
            json!({"eventType": "A", "rewardAmount": 1, "claimPeriod": "HOURLY"}),
            "claimPeriod",
        ),
        (
            "negative cooldown",
            json!({"eventType": "A", "rewardAmount": 1, "cooldownSeconds": -5}),
            "cooldownSeconds",
        ),
        (
            "fractional budget",
            json!({"eventType": "A", "rewardAmount": 1, "totalBudget": 10.5}),
            "totalBudget",
        ),
        (
            "bad startsAt",
            json!({"eventType": "A", "rewardAmount": 1, "startsAt": "tomorrow"}),
            "startsAt",
        ),
        (
            "endsAt before startsAt",
            json!({"eventType": "A", "rewardAmount": 1, "startsAt": "2025-01-02T00:00:00Z", "endsAt": "2025-01-01T00:00:00Z"}),
            "endsAt",
        ),
        (
            "control character",
            json!({"eventType": "A\u{0}B", "rewardAmount": 1}),
            "eventType",
        ),
        (
            "eventType too long",
            json!({"eventType": "x".repeat(129), "rewardAmount": 1}),
            "eventType",
        ),
        ("body not an object", json!([1, 2]), ""),
    ];
    for (description, body, field) in cases {
        let answer = app.put_event(&client, body).await;
        assert_eq!(answer.status, 400, "{description}: {:?}", answer.body);
        assert_eq!(answer.code(), "BAD_REQUEST", "{description}");
        assert!(
            answer.body["message"].as_str().unwrap().contains(field),
            "{description}: the message names {field}: {:?}",
            answer.body
        );
    }
    let malformed = app
        .send(
            app.request(Method::PUT, "/s2s/loyalty/rewardable-events")
                .header("x-client-id", &client.id)
                .header("x-client-secret", &client.secret)
                .body("{\"eventType\": "),
        )
        .await;
    malformed.assert_error(400, "BAD_REQUEST");
    assert_eq!(
        event_count(&app, &client).await,
        0,
        "no refused request wrote an event"
    );
}

#[tokio::test]
async fn unknown_fields_are_ignored_and_content_type_is_optional() {
    let app = spawn_app().await;
    let client = app.create_client().await;
    let answer = app
        .send(
            app.request(Method::PUT, "/s2s/loyalty/rewardable-events")
                .header("x-client-id", &client.id)
                .header("x-client-secret", &client.secret)
                .body(r#"{"eventType": "A", "rewardAmount": 7, "somethingNew": {"x": 1}}"#),
        )
        .await;
    assert_eq!(answer.status, 201, "{:?}", answer.body);
    assert_eq!(answer.body["rewardAmount"], 7);
    assert!(answer.body.get("somethingNew").is_none());
}

#[tokio::test]
async fn get_and_delete_answer_404_for_missing_foreign_and_deleted_events() {
    let app = spawn_app().await;
    let client = app.create_client().await;
    let other = app.create_client().await;
    let mine = app.create_event(&client, 10, json!({})).await;
    let theirs = app.create_event(&other, 10, json!({})).await;
    let path = |id: &str| format!("/s2s/loyalty/rewardable-events/{id}");

    let read = app.s2s(&client, Method::GET, &path(&mine), None).await;
    assert_eq!(read.status, 200);
    assert_eq!(read.str("eventID"), mine);
    for id in [theirs.as_str(), "no-such-event"] {
        app.s2s(&client, Method::GET, &path(id), None)
            .await
            .assert_error(404, "RECORD_NOT_FOUND");
        app.s2s(&client, Method::DELETE, &path(id), None)
            .await
            .assert_error(404, "RECORD_NOT_FOUND");
    }

    let deleted = app
        .send(
            app.request(Method::DELETE, &path(&mine))
                .header("x-client-id", &client.id)
                .header("x-client-secret", &client.secret),
        )
        .await;
    assert_eq!(deleted.status, 204);
    assert_eq!(deleted.body, Value::Null, "204 has no body");
    app.s2s(&client, Method::GET, &path(&mine), None)
        .await
        .assert_error(404, "RECORD_NOT_FOUND");
    app.s2s(&client, Method::DELETE, &path(&mine), None)
        .await
        .assert_error(404, "RECORD_NOT_FOUND");
    assert_eq!(
        event_count(&app, &client).await,
        0,
        "deleted events are not listed"
    );
    let still_there = app.s2s(&other, Method::GET, &path(&theirs), None).await;
    assert_eq!(
        still_there.status, 200,
        "the other client's event is untouched"
    );
}

#[tokio::test]
async fn the_list_filters_by_is_active_and_shows_only_the_callers_events() {
    let app = spawn_app().await;
    let client = app.create_client().await;
    let other = app.create_client().await;
    let active = app
        .create_event(&client, 1, json!({"isActive": true}))
        .await;
    let inactive = app
        .create_event(&client, 1, json!({"isActive": false}))
        .await;
    app.create_event(&other, 1, json!({})).await;

    let ids = |answer: &crate::helpers::Answer| -> Vec<String> {
        answer.body["rewardableEvents"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["eventID"].as_str().unwrap().to_owned())
            .collect()
    };
    let all = app.list_events(&client, "").await;
    assert_eq!(all.status, 200);
    assert_eq!(
        ids(&all),
        vec![inactive.clone(), active.clone()],
        "newest first"
    );
    assert_eq!(all.body["offset"], "");
    assert_eq!(
        ids(&app.list_events(&client, "isActive=true").await),
        vec![active]
    );
    assert_eq!(
        ids(&app.list_events(&client, "isActive=false").await),
        vec![inactive]
    );
    app.list_events(&client, "isActive=maybe")
        .await
        .assert_error(400, "BAD_REQUEST");
}

#[tokio::test]
async fn pagination_walks_every_event_once_newest_first() {
    let app = spawn_app().await;
    let client = app.create_client().await;
    let mut created = Vec::new();
    for i in 0..7 {
        created.push(app.create_event(&client, i, json!({})).await);
    }
    created.reverse();

    let mut seen = Vec::new();
    let mut offset = String::new();
    let mut pages = 0;
    loop {
        let page = app
            .list_events(&client, &format!("limit=3&offset={offset}"))
            .await;
        assert_eq!(page.status, 200, "{:?}", page.body);
        let events = page.body["rewardableEvents"].as_array().unwrap();
        assert!(events.len() <= 3);
        seen.extend(
            events
                .iter()
                .map(|e| e["eventID"].as_str().unwrap().to_owned()),
        );
        pages += 1;
        offset = page.str("offset");
        if offset.is_empty() {
            break;
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(seen, created, "every event once, newest first");
}

#[tokio::test]
async fn bad_limits_and_foreign_or_forged_cursors_are_400() {
    let app = spawn_app().await;
    let client = app.create_client().await;
    let other = app.create_client().await;
    for _ in 0..3 {
        app.create_event(&client, 1, json!({})).await;
        app.create_event(&other, 1, json!({})).await;
    }
    let page = app.list_events(&client, "limit=1").await;
    let cursor = page.str("offset");
    assert!(!cursor.is_empty());

    for (description, query) in [
        ("limit zero", "limit=0".to_owned()),
        ("negative limit", "limit=-3".to_owned()),
        ("limit not a number", "limit=ten".to_owned()),
        ("garbage cursor", "offset=abc".to_owned()),
        (
            "cursor with another filter",
            format!("isActive=true&offset={cursor}"),
        ),
    ] {
        let answer = app.list_events(&client, &query).await;
        assert_eq!(
            (answer.status, answer.code()),
            (400, "BAD_REQUEST"),
            "{description}"
        );
    }
    app.list_events(&other, &format!("offset={cursor}"))
        .await
        .assert_error(400, "BAD_REQUEST");
    let big = app.list_events(&client, "limit=100000").await;
    assert_eq!(big.status, 200, "a limit above 500 is read as 500");
    assert_eq!(big.body["rewardableEvents"].as_array().unwrap().len(), 3);
}
