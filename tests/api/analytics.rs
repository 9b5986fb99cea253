//! Proves tracker drops (CONTRACT section 6): a flat object of string and number
//! attributes is appended with gamer, client, eventID and time; every other shape
//! or size, and a bad eventID, is 400 and stores nothing.

use reqwest::Method;
use serde_json::{json, Map, Value};

use crate::helpers::{spawn_app, TestApp};

fn drop_path(event_id: &str) -> String {
    format!("/fe/analytics/px-tracker/events/{event_id}/drop")
}

/// Every stored drop: (client_id, gamer user id, event_id, attributes).
async fn stored_drops(app: &TestApp) -> Vec<(String, String, String, Value)> {
    let rows: Vec<(String, String, String, String, i64)> = sqlx::query_as(
        "select d.client_id, g.user_id, d.event_id, d.attributes, d.created_at
         from tracker_drops d
         join gamers g on g.id = d.gamer_id
         order by d.id",
    )
    .fetch_all(app.db.reader())
    .await
    .unwrap();
    rows.into_iter()
        .map(|(client, user, event, attributes, created_at)| {
            assert!(created_at > 0, "a drop has its time");
            let attributes = serde_json::from_str(&attributes).expect("attributes are JSON");
            (client, user, event, attributes)
        })
        .collect()
}

#[tokio::test]
async fn a_flat_object_of_strings_and_numbers_is_dropped_and_stored() {
    let app = spawn_app().await;
    let client = app.create_client().await;
    let token = app.login(&client, "asha").await;
    let attributes = json!({"attr1": "attr1Value", "level": 7, "score": 12.5, "delta": -3});

    let answer = app
        .fe(
            &token,
            Method::POST,
            &drop_path("level_complete"),
            Some(attributes.clone()),
        )
        .await;
    let again = app
        .fe(
            &token,
            Method::POST,
            &drop_path("level_complete"),
            Some(json!({})),
        )
        .await;

    assert_eq!(answer.status, 200, "{:?}", answer.body);
    assert_eq!(answer.body, json!({"msg": "event dropped successfully"}));
    assert_eq!(
        again.status, 200,
        "an empty object is a drop without attributes"
    );
    let event = "level_complete".to_owned();
    assert_eq!(
        stored_drops(&app).await,
        [
            (
                client.id.clone(),
                "asha".to_owned(),
                event.clone(),
                attributes
            ),
            (client.id.clone(), "asha".to_owned(), event, json!({})),
        ],
        "drops are appended, one row each"
    );
}

#[tokio::test]
async fn the_limits_themselves_are_accepted() {
    let app = spawn_app().await;
    let client = app.create_client().await;
    let token = app.login(&client, "asha").await;
    let mut attributes: Map<String, Value> = (0..63).map(|i| (format!("k{i}"), json!(i))).collect();
    attributes.insert("k".repeat(64), json!("é".repeat(1024)));

    let answer = app
        .fe(
            &token,
            Method::POST,
            &drop_path(&"e".repeat(128)),
            Some(Value::Object(attributes)),
        )
        .await;

    assert_eq!(answer.status, 200, "{:?}", answer.body);
}

#[tokio::test]
async fn invalid_drops_are_400_and_store_nothing() {
    let app = spawn_app().await;
    let client = app.create_client().await;
    let token = app.login(&client, "asha").await;
    let too_many: Map<String, Value> = (0..65).map(|i| (format!("k{i}"), json!(i))).collect();
    let cases: Vec<(String, String, &str, &str)> = vec![
        (
            drop_path("e"),
            r#"{"flag": true}"#.into(),
            "boolean",
            "a boolean value",
        ),
        (
            drop_path("e"),
            r#"{"gone": null}"#.into(),
            "null",
            "a null value",
        ),
        (
            drop_path("e"),
            r#"{"nested": {"a": 1}}"#.into(),
            "object",
            "an object value",
        ),
        (
            drop_path("e"),
            r#"{"list": [1, 2]}"#.into(),
            "array",
            "an array value",
        ),
        (
            drop_path("e"),
            Value::Object(too_many).to_string(),
            "64",
            "65 attributes",
        ),
        (
            drop_path("e"),
            json!({ "k".repeat(65): 1 }).to_string(),
            "64",
            "a 65-character key",
        ),
        (
            drop_path("e"),
            json!({"k": "v".repeat(1025)}).to_string(),
            "1024",
            "a long string",
        ),
        (drop_path("e"), "[1, 2]".into(), "JSON", "an array body"),
        (drop_path("e"), r#""text""#.into(), "JSON", "a string body"),
        (drop_path("e"), r#"{"a": 1"#.into(), "EOF", "malformed JSON"),
        (
            drop_path("e"),
            "\n".into(),
            "JSON",
            "a whitespace-only body",
        ),
        (
            drop_path("e"),
            r#"{"big": 1e400}"#.into(),
            "range",
            "a number JSON cannot hold",
        ),
        (
            drop_path(&"e".repeat(129)),
            "{}".into(),
            "eventID",
            "a 129-character eventID",
        ),
        (
            drop_path("bad%0Aid"),
            "{}".into(),
            "eventID",
            "a newline in the eventID",
        ),
        (
            drop_path("bad%00id"),
            "{}".into(),
            "eventID",
            "a NUL in the eventID",
        ),
    ];

    for (path, body, mention, why) in cases {
        let request = app
            .request(Method::POST, &path)
            .header("user-jwt-token", &token)
            .body(body);
        let answer = app.send(request).await;
        assert_eq!(
            (answer.status, answer.code()),
            (400, "BAD_REQUEST"),
            "{why} must be 400: {:?}",
            answer.body
        );
        let message = answer.body["message"].as_str().unwrap_or_default();
        assert!(
            message.contains(mention),
            "{why}: the message names the problem ({mention}): {message}"
        );
    }
    assert!(stored_drops(&app).await.is_empty(), "nothing was stored");
}

#[tokio::test]
async fn a_drop_needs_an_access_token_before_its_body_is_read() {
    let app = spawn_app().await;

    let request = app
        .request(Method::POST, &drop_path("e"))
        .body(r#"{"flag": true}"#);
    let answer = app.send(request).await;

    answer.assert_error(401, "UN_AUTHORIZED");
    assert!(stored_drops(&app).await.is_empty());
}
