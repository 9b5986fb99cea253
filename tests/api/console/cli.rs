//! The `operators` CLI through the real binary: create (JSON shape, duplicates,
//! roles, unknown clients, viewers without games), list, disable, reset-password,
//! and `ledger verify` runs reaching the audit of the dashboard.

use serde_json::json;

use super::{get, post_login, sign_in};
use crate::helpers::spawn_app;
use crate::process::{json_of, run_cli};

#[tokio::test]
async fn operators_create_prints_json_once_and_the_operator_can_sign_in() {
    let app = spawn_app().await;
    let game = app.create_client().await;

    let (ok, stdout, stderr) = run_cli(
        &app.database_url,
        &[
            "operators",
            "create",
            "--email",
            "Support@Studio.example",
            "--role",
            "viewer",
            "--client",
            &game.id,
            "--json",
        ],
    );

    assert!(ok, "{stderr}");
    let created = json_of(&stdout);
    assert_eq!(created.as_object().unwrap().len(), 4, "{created}");
    assert_eq!(created["email"], "Support@Studio.example");
    assert_eq!(created["role"], "viewer");
    assert_eq!(created["clients"], json!([game.id]));
    let password = created["password"].as_str().unwrap();
    assert!(password.len() >= 20);
    let stored: String = sqlx::query_scalar("select password_hash from operators")
        .fetch_one(app.db.reader())
        .await
        .unwrap();
    assert!(stored.starts_with("$argon2id$"), "{stored}");
    let session = sign_in(&app, "support@studio.example", password).await;
    assert_eq!(get(&app, &session, "/console/api/games").await.status, 200);
}

#[tokio::test]
async fn operators_create_refuses_duplicates_bad_roles_unknown_clients_and_bare_viewers() {
    let app = spawn_app().await;
    let game = app.create_client().await;
    let url = &app.database_url;
    assert!(
        run_cli(
            url,
            &[
                "operators",
                "create",
                "--email",
                "a@x.example",
                "--role",
                "admin"
            ]
        )
        .0
    );

    let cases: [(&[&str], &str); 4] = [
        (
            &[
                "operators",
                "create",
                "--email",
                "A@X.example",
                "--role",
                "admin",
            ],
            "duplicate email",
        ),
        (
            &[
                "operators",
                "create",
                "--email",
                "b@x.example",
                "--role",
                "root",
            ],
            "unknown role",
        ),
        (
            &[
                "operators",
                "create",
                "--email",
                "c@x.example",
                "--role",
                "admin",
                "--client",
                "nope",
            ],
            "unknown client",
        ),
        (
            &[
                "operators",
                "create",
                "--email",
                "d@x.example",
                "--role",
                "viewer",
            ],
            "viewer without a client",
        ),
    ];

    for (args, description) in cases {
        let (ok, stdout, _) = run_cli(url, args);
        assert!(!ok, "{description} must fail: {stdout}");
    }
    let (ok, stdout, _) = run_cli(url, &["operators", "list", "--json"]);
    assert!(ok);
    let list = json_of(&stdout);
    assert_eq!(list.as_array().unwrap().len(), 1, "{list}");
    assert!(
        !stdout.contains("argon2") && list[0].get("password").is_none(),
        "never passwords"
    );
    assert!(
        run_cli(
            url,
            &[
                "operators",
                "create",
                "--email",
                "e@x.example",
                "--role",
                "viewer",
                "--client",
                &game.id
            ]
        )
        .0
    );
}

#[tokio::test]
async fn disable_and_reset_password_end_sessions_and_are_audited_as_cli() {
    let app = spawn_app().await;
    let url = &app.database_url;
    let (_, stdout, _) = run_cli(
        url,
        &[
            "operators",
            "create",
            "--email",
            "root@x.example",
            "--role",
            "admin",
            "--json",
        ],
    );
    let password = json_of(&stdout)["password"].as_str().unwrap().to_owned();
    let (_, stdout, _) = run_cli(
        url,
        &[
            "operators",
            "create",
            "--email",
            "ops@x.example",
            "--role",
            "admin",
            "--json",
        ],
    );
    let ops_password = json_of(&stdout)["password"].as_str().unwrap().to_owned();
    let root = sign_in(&app, "root@x.example", &password).await;
    let ops = sign_in(&app, "ops@x.example", &ops_password).await;

    let (reset_ok, reset_out, _) = run_cli(
        url,
        &["operators", "reset-password", "root@x.example", "--json"],
    );
    let (disable_ok, _, _) = run_cli(url, &["operators", "disable", "ops@x.example"]);
    let (unknown_ok, _, _) = run_cli(url, &["operators", "disable", "nobody@x.example"]);

    assert!(reset_ok && disable_ok && !unknown_ok);
    let reset = json_of(&reset_out);
    assert_eq!(reset["email"], "root@x.example");
    get(&app, &root, "/console/api/games")
        .await
        .assert_error(401, "UN_AUTHORIZED");
    get(&app, &ops, "/console/api/games")
        .await
        .assert_error(401, "UN_AUTHORIZED");
    post_login(&app, "root@x.example", &password)
        .await
        .assert_error(401, "UN_AUTHORIZED");
    let root = sign_in(&app, "root@x.example", reset["password"].as_str().unwrap()).await;
    let (verify_ok, _, _) = run_cli(url, &["ledger", "verify"]);
    assert!(verify_ok);
    let audit = get(&app, &root, "/console/api/audit").await;
    let entries: Vec<(String, String)> = audit.body["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["operator"].as_str().unwrap().to_owned(),
                e["action"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    for action in [
        "operator.create",
        "operator.reset_password",
        "operator.disable",
    ] {
        assert!(
            entries.contains(&("cli".to_owned(), action.to_owned())),
            "{action} in {entries:?}"
        );
    }
    let game = app.create_client().await;
    let stats = get(
        &app,
        &root,
        &format!("/console/api/games/{}/stats?days=1", game.id),
    )
    .await;
    assert_eq!(stats.body["lastLedgerVerify"]["ok"], true);
}
