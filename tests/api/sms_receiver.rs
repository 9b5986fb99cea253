//! A real SMS webhook for the tests: a small HTTP server on 127.0.0.1 that records
//! every JSON body it receives and answers 200, or 500 when told to fail, or late
//! when told to be slow. Also `Linking`, the phone-linking fixture built on it: a
//! server whose OTPs go to the receiver, with one method per OTP endpoint.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use axum::Router;
use kgen_loyalty::config::{Config, SmsMode};
use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::{spawn_app_on, spawn_app_with, Answer, TestApp, TestClient};

#[derive(Default)]
struct Shared {
    received: Mutex<Vec<Value>>,
    failing: AtomicBool,
    delay_ms: AtomicU64,
}

/// A running webhook receiver.
pub struct SmsReceiver {
    /// The URL to configure as `KGEN_SMS_WEBHOOK_URL`.
    pub url: String,
    shared: Arc<Shared>,
    server: tokio::task::JoinHandle<()>,
}

async fn receive(State(shared): State<Arc<Shared>>, body: axum::body::Bytes) -> StatusCode {
    let body = serde_json::from_slice(&body).unwrap_or(Value::Null);
    shared.received.lock().expect("receiver lock").push(body);
    let delay = shared.delay_ms.load(Ordering::SeqCst);
    if delay > 0 {
        tokio::time::sleep(Duration::from_millis(delay)).await;
    }
    if shared.failing.load(Ordering::SeqCst) {
        StatusCode::INTERNAL_SERVER_ERROR
    } else {
        StatusCode::OK
    }
}

impl SmsReceiver {
    /// Starts a receiver on a random port.
    pub async fn start() -> SmsReceiver {
        let shared = Arc::new(Shared::default());
        let router = Router::new()
            .route("/sms", post(receive))
            .with_state(Arc::clone(&shared));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("binding the receiver");
        let url = format!("http://{}/sms", listener.local_addr().unwrap());
        let server = tokio::spawn(async move {
            axum::serve(listener, router).await.ok();
        });
        SmsReceiver {
            url,
            shared,
            server,
        }
    }

    /// From now on, answer 500 (`true`) or 200 (`false`).
    pub fn fail(&self, failing: bool) {
        self.shared.failing.store(failing, Ordering::SeqCst);
    }

    /// From now on, answer only after `delay`.
    pub fn delay(&self, delay: Duration) {
        let millis = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX);
        self.shared.delay_ms.store(millis, Ordering::SeqCst);
    }

    /// Every body received so far, oldest first.
    pub fn messages(&self) -> Vec<Value> {
        self.shared.received.lock().expect("receiver lock").clone()
    }

    /// The number of bodies received so far.
    pub fn count(&self) -> usize {
        self.shared.received.lock().expect("receiver lock").len()
    }

    /// The last body received.
    #[track_caller]
    pub fn last(&self) -> Value {
        self.messages()
            .last()
            .cloned()
            .expect("the webhook received a message")
    }

    /// The OTP of the last body received.
    #[track_caller]
    pub fn last_otp(&self) -> String {
        self.last()["otp"]
            .as_str()
            .expect("the message has an otp")
            .to_owned()
    }
}

impl Drop for SmsReceiver {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// The country code the linking tests use.
pub const COUNTRY_CODE: &str = "+91";

/// A server that delivers OTPs to a receiver, and one game client on it.
pub struct Linking {
    /// The server.
    pub app: TestApp,
    /// The webhook it delivers to.
    pub sms: SmsReceiver,
    /// A registered game.
    pub client: TestClient,
}

/// Points `config` at `sms` with limits that stay out of the way (no cooldown,
/// many sends per hour); `configure` then changes what a test needs.
fn webhook_config(config: &mut Config, url: &str, configure: impl FnOnce(&mut Config)) {
    config.sms = SmsMode::Webhook;
    config.sms_webhook_url = Some(url.to_owned());
    config.otp_resend_cooldown_seconds = 0;
    config.otp_sends_per_hour_max = 1000;
    configure(config);
}

/// Starts a server whose OTPs go to a fresh receiver.
pub async fn linking_app(configure: impl FnOnce(&mut Config)) -> Linking {
    let sms = SmsReceiver::start().await;
    let url = sms.url.clone();
    let app = spawn_app_with(|config| webhook_config(config, &url, configure)).await;
    let client = app.create_client().await;
    Linking { app, sms, client }
}

impl Linking {
    /// Restarts the server on the same database and receiver with new settings.
    pub async fn restart(self, configure: impl FnOnce(&mut Config)) -> Linking {
        let Linking { app, sms, client } = self;
        let (database_url, dir) = app.stop().await;
        let url = sms.url.clone();
        let app = spawn_app_on(database_url, dir, |config| {
            webhook_config(config, &url, configure)
        })
        .await;
        Linking { app, sms, client }
    }

    /// A session of `user_id` in this fixture's game; returns its access token.
    pub async fn login(&self, user_id: &str) -> String {
        self.app.login(&self.client, user_id).await
    }

    /// `POST /fe/users/auth/otp/register` for `+91<phone>`.
    pub async fn register(&self, token: &str, phone: &str) -> Answer {
        let body = json!({"phone_number": phone, "countryCode": COUNTRY_CODE});
        self.post(token, "/fe/users/auth/otp/register", body).await
    }

    /// `POST /fe/users/auth/otp/resend` for `+91<phone>`.
    pub async fn resend(&self, token: &str, phone: &str) -> Answer {
        let body = json!({"phone_number": phone, "countryCode": COUNTRY_CODE});
        self.post(token, "/fe/users/auth/otp/resend", body).await
    }

    /// `POST /fe/users/auth/otp/verify` for `+91<phone>` with string codes.
    pub async fn verify(&self, token: &str, phone: &str, auth_code: &str, otp: &str) -> Answer {
        let body = json!({"phone_number": phone, "countryCode": COUNTRY_CODE,
                          "authCode": auth_code, "otp": otp});
        self.post(token, "/fe/users/auth/otp/verify", body).await
    }

    /// A POST with this access token and body.
    pub async fn post(&self, token: &str, path: &str, body: Value) -> Answer {
        self.app.fe(token, Method::POST, path, Some(body)).await
    }

    /// `GET /fe/users/account/linked-mobile-number`.
    pub async fn linked(&self, token: &str) -> Answer {
        let path = "/fe/users/account/linked-mobile-number";
        self.app.fe(token, Method::GET, path, None).await
    }

    /// Registers `+91<phone>` and returns the authCode and the delivered OTP.
    pub async fn register_ok(&self, token: &str, phone: &str) -> (String, String) {
        let answer = self.register(token, phone).await;
        assert_eq!(answer.status, 200, "register: {:?}", answer.body);
        let auth_code = answer.str("authCode");
        assert_eq!(self.last()["authCode"], auth_code.as_str());
        (auth_code, self.sms.last_otp())
    }

    /// Links the gamer of `token` to `+91<phone>` (register, then verify).
    pub async fn link(&self, token: &str, phone: &str) {
        let (auth_code, otp) = self.register_ok(token, phone).await;
        let answer = self.verify(token, phone, &auth_code, &otp).await;
        assert_eq!(answer.status, 200, "verify: {:?}", answer.body);
    }

    /// The last message the webhook received.
    pub fn last(&self) -> Value {
        self.sms.last()
    }
}
