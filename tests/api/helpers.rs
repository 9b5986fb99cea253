//! The test harness: `spawn_app()` starts the real server on a random port with a
//! fresh database, and `TestApp` has one method per endpoint plus fixtures.
//!
//! Backend: a fresh SQLite file in a temp dir by default; with
//! `KGEN_TEST_POSTGRES_URL=postgres://…` set, a fresh PostgreSQL database per test
//! (created on that server), so the same suite runs against both.
//!
//! Behind PgBouncer (`scripts/pgbouncer-test`): `KGEN_TEST_POSTGRES_URL` names
//! the PgBouncer that the servers under test connect through, and
//! `KGEN_TEST_POSTGRES_ADMIN_URL` the PostgreSQL behind it, where each test's
//! database is created and where each server keeps its direct connection
//! (`KGEN_DB_DIRECT_URL`: the wallet-change LISTEN and the migrations).

use std::future::Future;
use std::sync::Arc;

use kgen_loyalty::app::{self, AppState};
use kgen_loyalty::config::Config;
use kgen_loyalty::domain::address::{AddressDeriver, Branch};
use kgen_loyalty::domain::clients::{self, NewClient};
use kgen_loyalty::domain::settlement::{Decision, DecisionFuture, Settler};
use kgen_loyalty::storage::withdrawals::WithdrawalRow;
use kgen_loyalty::storage::{Db, PoolSettings};
use reqwest::Method;
use serde_json::{json, Value};
use sqlx::Connection as _;
use tempfile::TempDir;
use tokio::sync::oneshot;

/// The environment variable that switches the suite to PostgreSQL.
pub const POSTGRES_ENV: &str = "KGEN_TEST_POSTGRES_URL";

/// The environment variable naming the PostgreSQL server itself when
/// `KGEN_TEST_POSTGRES_URL` is a PgBouncer in front of it.
pub const POSTGRES_ADMIN_ENV: &str = "KGEN_TEST_POSTGRES_ADMIN_URL";

fn env_url(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|url| !url.is_empty())
}

/// `base` with its database name replaced by `database_url`'s.
fn with_database_of(base: &str, database_url: &str) -> String {
    let name = url::Url::parse(database_url)
        .expect("a PostgreSQL test database URL is a URL")
        .path()
        .to_owned();
    let mut url = url::Url::parse(base).expect("the admin URL is a URL");
    url.set_path(&name);
    url.to_string()
}

/// The direct URL of a test database when the servers reach it through
/// PgBouncer (`KGEN_DB_DIRECT_URL` of the server); `None` otherwise.
pub fn direct_url(database_url: &str) -> Option<String> {
    if !database_url.starts_with("postgres") {
        return None;
    }
    env_url(POSTGRES_ADMIN_ENV).map(|admin| with_database_of(&admin, database_url))
}

/// The pool settings of a test server on `database_url`: the defaults, with the
/// direct URL when behind PgBouncer.
pub fn pool_settings(database_url: &str) -> PoolSettings {
    PoolSettings {
        direct_url: direct_url(database_url),
        ..PoolSettings::default()
    }
}

/// A fresh, empty database URL for one test, and the temp dir that holds it.
pub async fn fresh_database_url() -> (String, TempDir) {
    let dir = tempfile::tempdir().expect("creating a temp dir");
    match env_url(POSTGRES_ENV) {
        Some(server_url) => {
            let name = format!("kgen_test_{}", uuid::Uuid::new_v4().simple());
            // Created directly on PostgreSQL: PgBouncer serves existing databases.
            let admin_url = env_url(POSTGRES_ADMIN_ENV).unwrap_or_else(|| server_url.clone());
            let mut admin = sqlx::PgConnection::connect(&admin_url)
                .await
                .expect("connecting to the test PostgreSQL");
            sqlx::query(&format!("create database {name}"))
                .execute(&mut admin)
                .await
                .expect("creating a test database");
            admin.close().await.ok();
            let mut url = url::Url::parse(&server_url).expect("KGEN_TEST_POSTGRES_URL is a URL");
            url.set_path(&name);
            (url.to_string(), dir)
        }
        None => {
            let path = dir.path().join("test.db");
            (format!("sqlite://{}?mode=rwc", path.display()), dir)
        }
    }
}

/// A registered game client.
#[derive(Clone, Debug)]
pub struct TestClient {
    /// Client id.
    pub id: String,
    /// Client secret.
    pub secret: String,
}

/// An answer of the server.
#[derive(Debug)]
pub struct Answer {
    /// HTTP status.
    pub status: u16,
    /// Parsed JSON body (Null when empty or not JSON).
    pub body: Value,
    /// Response headers.
    pub headers: reqwest::header::HeaderMap,
}

impl Answer {
    /// The `code` of an error envelope.
    pub fn code(&self) -> &str {
        self.body["code"].as_str().unwrap_or("<no code>")
    }

    /// Asserts an error envelope with this status and code.
    #[track_caller]
    pub fn assert_error(&self, status: u16, code: &str) {
        assert_eq!(
            (self.status, self.code()),
            (status, code),
            "unexpected answer: {:?}",
            self.body
        );
        assert!(
            self.body["message"].is_string(),
            "an error has a message: {:?}",
            self.body
        );
    }

    /// A string field of the body.
    #[track_caller]
    pub fn str(&self, field: &str) -> String {
        self.body[field]
            .as_str()
            .unwrap_or_else(|| panic!("{field} is not a string in {:?}", self.body))
            .to_owned()
    }
}

/// A running server with its own database.
pub struct TestApp {
    /// `http://127.0.0.1:PORT`.
    pub base_url: String,
    /// HTTP client.
    pub http: reqwest::Client,
    /// The server's database.
    pub db: Db,
    /// The server's state (keys, config).
    pub state: AppState,
    /// The database URL (for CLI tests).
    pub database_url: String,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
    _dir: TempDir,
}

/// Starts a server with default settings.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// Starts a server with settings changed by `configure`.
pub async fn spawn_app_with(configure: impl FnOnce(&mut Config)) -> TestApp {
    let (database_url, dir) = fresh_database_url().await;
    spawn_app_on(database_url, dir, configure).await
}

/// Starts a server on an existing database.
pub async fn spawn_app_on(
    database_url: String,
    dir: TempDir,
    configure: impl FnOnce(&mut Config),
) -> TestApp {
    spawn_app_custom(database_url, dir, configure, |_| {}).await
}

/// Starts a server whose settlement decisions come from `settler`.
pub async fn spawn_app_with_settler(settler: Arc<dyn Settler>) -> TestApp {
    let (database_url, dir) = fresh_database_url().await;
    spawn_app_custom(
        database_url,
        dir,
        |_| {},
        move |state| {
            state
                .parts_mut()
                .expect("the state is not shared yet")
                .settler = settler;
        },
    )
    .await
}

/// Starts a server on an existing database, with its config and state adjusted.
pub async fn spawn_app_custom(
    database_url: String,
    dir: TempDir,
    configure: impl FnOnce(&mut Config),
    customize: impl FnOnce(&mut AppState),
) -> TestApp {
    let mut config = Config::defaults();
    config.settlement_interval_ms = 50;
    configure(&mut config);
    let db = Db::connect(&database_url, &pool_settings(&database_url))
        .await
        .expect("connecting to the test database");
    db.migrate().await.expect("migrating the test database");
    let mut state = AppState::new(db.clone(), config)
        .await
        .expect("building the app state");
    customize(&mut state);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("binding a port");
    let base_url = format!("http://{}", listener.local_addr().unwrap());
    let (tx, rx) = oneshot::channel::<()>();
    let server = tokio::spawn(app::serve(listener, state.clone(), async move {
        rx.await.ok();
    }));
    TestApp {
        base_url,
        http: reqwest::Client::new(),
        db,
        state,
        database_url,
        shutdown: Some(tx),
        server: Some(server),
        _dir: dir,
    }
}

impl TestApp {
    /// Stops the server (in-flight requests finish) and returns the temp dir, so
    /// another server can start on the same database.
    pub async fn stop(mut self) -> (String, TempDir) {
        if let Some(tx) = self.shutdown.take() {
            tx.send(()).ok();
        }
        if let Some(server) = self.server.take() {
            server
                .await
                .expect("server task")
                .expect("server exits cleanly");
        }
        self.db.close().await;
        let dir = std::mem::replace(&mut self._dir, tempfile::tempdir().unwrap());
        (self.database_url.clone(), dir)
    }

    /// Registers a client with the default welcome bonus and threshold.
    pub async fn create_client(&self) -> TestClient {
        self.create_client_with(50, 300).await
    }

    /// Registers a client with this welcome bonus and withdrawal threshold.
    pub async fn create_client_with(&self, welcome_bonus: i64, min_withdraw: i64) -> TestClient {
        let new = NewClient {
            id: None,
            name: "Test Game".to_owned(),
            welcome_bonus,
            min_withdraw,
        };
        let (client, secret) = clients::create_client(&self.db, &self.state.keys.addresses, new)
            .await
            .expect("creating a client");
        TestClient {
            id: client.id,
            secret: secret.expose().to_owned(),
        }
    }

    /// Sends a request and reads the answer.
    pub async fn send(&self, request: reqwest::RequestBuilder) -> Answer {
        let response = request.send().await.expect("the server answers");
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let bytes = response.bytes().await.expect("reading the body");
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Answer {
            status,
            body,
            headers,
        }
    }

    /// A request to `path` with no credentials.
    pub fn request(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        self.http
            .request(method, format!("{}{path}", self.base_url))
    }

    /// A server-to-server request with this client's credentials.
    pub async fn s2s(
        &self,
        client: &TestClient,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Answer {
        let mut request = self
            .request(method, path)
            .header("x-client-id", &client.id)
            .header("x-client-secret", &client.secret);
        if let Some(body) = body {
            request = request.json(&body);
        }
        self.send(request).await
    }

    /// A front-end request with this access token.
    pub async fn fe(&self, token: &str, method: Method, path: &str, body: Option<Value>) -> Answer {
        let mut request = self.request(method, path).header("user-jwt-token", token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        self.send(request).await
    }

    /// `PUT /s2s/loyalty/rewardable-events`.
    pub async fn put_event(&self, client: &TestClient, body: Value) -> Answer {
        self.s2s(
            client,
            Method::PUT,
            "/s2s/loyalty/rewardable-events",
            Some(body),
        )
        .await
    }

    /// Creates an event with this reward and extra fields; returns its id.
    pub async fn create_event(&self, client: &TestClient, reward: i64, extra: Value) -> String {
        let mut body = json!({"eventType": "DailyBonus", "rewardAmount": reward});
        if let (Some(body), Some(extra)) = (body.as_object_mut(), extra.as_object()) {
            body.extend(extra.clone());
        }
        let answer = self.put_event(client, body).await;
        assert_eq!(answer.status, 201, "creating an event: {:?}", answer.body);
        answer.str("eventID")
    }

    /// `GET /s2s/loyalty/rewardable-events?<query>`.
    pub async fn list_events(&self, client: &TestClient, query: &str) -> Answer {
        self.s2s(
            client,
            Method::GET,
            &format!("/s2s/loyalty/rewardable-events?{query}"),
            None,
        )
        .await
    }

    /// `POST /s2s/session` with this body.
    pub async fn session(&self, client: &TestClient, body: Value) -> Answer {
        self.s2s(client, Method::POST, "/s2s/session", Some(body))
            .await
    }

    /// Starts a session for `user_id` and returns its access token.
    pub async fn login(&self, client: &TestClient, user_id: &str) -> String {
        let answer = self.session(client, json!({"user_id": user_id})).await;
        assert_eq!(answer.status, 200, "starting a session: {:?}", answer.body);
        answer.str("access_token")
    }

    /// `GET /fe/wallet/balance`.
    pub async fn balance(&self, token: &str) -> Answer {
        self.fe(token, Method::GET, "/fe/wallet/balance", None)
            .await
    }

    /// `POST /fe/loyalty/event-reward-user-claims/events/{event_id}`.
    pub async fn claim(&self, token: &str, event_id: &str) -> Answer {
        let path = format!("/fe/loyalty/event-reward-user-claims/events/{event_id}");
        self.fe(token, Method::POST, &path, None).await
    }

    /// A claim with an `Idempotency-Key`.
    pub async fn claim_with_key(&self, token: &str, event_id: &str, key: &str) -> Answer {
        let path = format!("/fe/loyalty/event-reward-user-claims/events/{event_id}");
        self.send(
            self.request(Method::POST, &path)
                .header("user-jwt-token", token)
                .header("Idempotency-Key", key),
        )
        .await
    }

    /// `POST /fe/wallet/withdraw`, optionally with an `Idempotency-Key`.
    pub async fn withdraw(&self, token: &str, key: Option<&str>) -> Answer {
        let mut request = self
            .request(Method::POST, "/fe/wallet/withdraw")
            .header("user-jwt-token", token);
        if let Some(key) = key {
            request = request.header("Idempotency-Key", key);
        }
        self.send(request).await
    }

    /// `GET /fe/wallet/transactions?<query>`.
    pub async fn transactions(&self, token: &str, query: &str) -> Answer {
        let path = format!("/fe/wallet/transactions?{query}");
        self.fe(token, Method::GET, &path, None).await
    }

    /// Waits (bounded) until `check` holds for the gamer's balance.
    pub async fn wait_for_balance(&self, token: &str, check: impl Fn(&Value) -> bool) -> Value {
        for _ in 0..200 {
            let balance = self.balance(token).await;
            if check(&balance.body) {
                return balance.body;
            }
            tokio::time::sleep(std::time::Duration::from_millis(25)).await;
        }
        panic!(
            "the balance never reached the expected state: {:?}",
            self.balance(token).await.body
        );
    }

    /// Checks every ledger invariant and panics with the report if one is broken.
    pub async fn assert_ledger_holds(&self) {
        let report = kgen_loyalty::domain::ledger::verify(&self.db)
            .await
            .expect("running ledger verify");
        assert!(report.holds(), "ledger invariants broken:\n{report}");
    }
}

/// Runs `count` copies of a future at once and collects their outputs in order.
pub async fn concurrently<F, Fut, T>(count: usize, make: F) -> Vec<T>
where
    F: Fn(usize) -> Fut,
    Fut: Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    let handles: Vec<_> = (0..count).map(|i| tokio::spawn(make(i))).collect();
    let mut out = Vec::with_capacity(count);
    for handle in handles {
        out.push(handle.await.expect("task"));
    }
    out
}

/// A settler that always gives the same decision.
#[derive(Debug)]
pub struct FixedSettler(pub Decision);

impl Settler for FixedSettler {
    fn settle<'a>(&'a self, _withdrawal: &'a WithdrawalRow) -> DecisionFuture<'a> {
        let decision = self.0;
        Box::pin(async move { decision })
    }
}

impl TestApp {
    /// Links a gamer to a new KGeN account straight in the database: the fixture
    /// for wallet tests that are about withdrawals, not about the OTP flow (which
    /// has its own tests). Returns the KGeN account's internal id.
    pub async fn link_phone_directly(
        &self,
        client: &TestClient,
        user_id: &str,
        phone: &str,
    ) -> i64 {
        let gamer_id: i64 =
            sqlx::query_scalar("select id from gamers where client_id = $1 and user_id = $2")
                .bind(&client.id)
                .bind(user_id)
                .fetch_one(self.db.reader())
                .await
                .unwrap();
        link_gamer_directly(&self.db, &self.state.keys.addresses, gamer_id, phone).await
    }

    /// Records a tracker drop straight in the database (the analytics endpoint has
    /// its own tests).
    pub async fn drop_tracker_event_directly(
        &self,
        client: &TestClient,
        user_id: &str,
        event_id: &str,
    ) {
        sqlx::query(
            "insert into tracker_drops (client_id, gamer_id, event_id, attributes, created_at)
             select $1, id, $3, '{}', $4 from gamers where client_id = $1 and user_id = $2",
        )
        .bind(&client.id)
        .bind(user_id)
        .bind(event_id)
        .bind(kgen_loyalty::storage::now_nanos())
        .execute(self.db.writer())
        .await
        .unwrap();
    }

    /// A single number from SQL.
    pub async fn scalar(&self, sql: &str) -> i64 {
        sqlx::query_scalar(sql)
            .fetch_one(self.db.reader())
            .await
            .unwrap()
    }
}

/// Links gamer `gamer_id` to a new KGeN account for `phone` (with its derived
/// wallet address and ledger account) straight in the database. Returns the KGeN
/// account's internal id.
pub async fn link_gamer_directly(
    db: &Db,
    addresses: &AddressDeriver,
    gamer_id: i64,
    phone: &str,
) -> i64 {
    let now = kgen_loyalty::storage::now_nanos();
    let mut tx = db.begin().await.unwrap();
    let id: i64 = sqlx::query_scalar(
        "insert into kgen_accounts (kgen_id, phone, created_at) values ($1, $2, $3) returning id",
    )
    .bind(uuid::Uuid::new_v4().to_string())
    .bind(phone)
    .bind(now)
    .fetch_one(&mut *tx)
    .await
    .unwrap();
    let address = addresses.address(Branch::Kgen, id).unwrap();
    sqlx::query("update kgen_accounts set wallet_address = $1 where id = $2")
        .bind(&address)
        .bind(id)
        .execute(&mut *tx)
        .await
        .unwrap();
    kgen_loyalty::storage::ledger::insert_kgen_account(&mut tx, id, &address, now)
        .await
        .unwrap();
    sqlx::query("update gamers set kgen_account_id = $1 where id = $2")
        .bind(id)
        .bind(gamer_id)
        .execute(&mut *tx)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    id
}

/// Asserts that every acknowledged claim (by rewardID) is stored with exactly one
/// transfer: the check of the crash and outage tests.
pub async fn assert_claims_recorded<'a>(db: &Db, reward_ids: impl IntoIterator<Item = &'a String>) {
    for reward_id in reward_ids {
        let transfers: i64 = sqlx::query_scalar(
            "select count(*) from claims c join transfers t on t.uid = c.id where c.id = $1",
        )
        .bind(reward_id)
        .fetch_one(db.reader())
        .await
        .unwrap();
        assert_eq!(
            transfers, 1,
            "acknowledged claim {reward_id} is present with its transfer"
        );
    }
}
