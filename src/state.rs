//! The shared state of a running server: `AppState` (cheap to clone) and its
//! parts. It lives apart from `app` (which runs the server) so that `http` can
//! name the state without importing the module that imports `http`.

use std::sync::Arc;
use std::time::Duration;

use crate::config::Config;
use crate::domain::auth::SessionCache;
use crate::domain::otp::OtpPolicy;
use crate::domain::phone;
use crate::domain::rate_limit::RateLimits;
use crate::domain::secrets::ServerKeys;
use crate::domain::sessions::TokenTtls;
use crate::domain::settlement::{InternalSettler, Settler};
use crate::domain::sms::{self, OtpSender};
use crate::domain::store;
use crate::domain::tokens::{self, KeyRing};
use crate::domain::wallet::WalletCache;
use crate::domain::webhooks::deliver::Deliverer;
use crate::domain::webhooks::WebhookSettings;
use crate::metrics::Metrics;
use crate::storage::Db;

/// What every handler can reach: one shared [`Shared`], so that handing it to a
/// request is one reference-count increment.
#[derive(Clone, Debug)]
pub struct AppState(Arc<Shared>);

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// The parts of the [`AppState`].
#[derive(Debug)]
pub struct Shared {
    /// The database.
    pub db: Db,
    /// Settings.
    pub config: Arc<Config>,
    /// Server-wide keys (cursors, OTP hashing, wallet addresses).
    pub keys: Arc<ServerKeys>,
    /// Token signing keys (cached by `kid`).
    pub ring: Arc<KeyRing>,
    /// Prometheus metrics.
    pub metrics: Arc<Metrics>,
    /// Decides the fate of PENDING withdrawals.
    pub settler: Arc<dyn Settler>,
    /// Per-client and per-gamer request rate limits.
    pub limits: Arc<RateLimits>,
    /// Recently authenticated sessions.
    pub sessions: SessionCache,
    /// Recent wallet reads (balance, first history page).
    pub wallets: WalletCache,
    /// OTP delivery (`KGEN_SMS`).
    pub sms: Arc<dyn OtpSender>,
    /// The webhook deliverer and its settings (`KGEN_WEBHOOK_*`, parsed once).
    pub webhooks: Deliverer,
}

impl AppState {
    /// Loads keys from the (migrated) database and builds the state. A setting that
    /// cannot work (`KGEN_SMS=webhook` without a URL, a bad `KGEN_STORE_URL` or
    /// `KGEN_WEBHOOK_RETRY_SCHEDULE`) is an
    /// error here rather than on the first request.
    pub async fn new(db: Db, config: Config) -> anyhow::Result<AppState> {
        let sms = sms::sender_from_config(&config)?;
        let webhook_settings = WebhookSettings::from_config(&config)?;
        tokio::task::spawn_blocking(phone::load_metadata).await?;
        store::check_store_url(&config.store_url)?;
        let keys = ServerKeys::load(&db, config.wallet_xpub.as_deref()).await?;
        tokens::ensure_keys(&db).await?;
        let limits = RateLimits::new(
            (
                config.rate_limit_client_per_second,
                config.rate_limit_client_burst,
            ),
            (
                config.rate_limit_gamer_per_second,
                config.rate_limit_gamer_burst,
            ),
        );
        let sessions = SessionCache::new(Duration::from_secs(config.auth_cache_seconds));
        let wallets = WalletCache::new(
            config.wallet_cache_mb.saturating_mul(1024 * 1024),
            WALLET_CACHE_TTL,
            WALLET_CACHE_IDLE,
        );
        let metrics = Arc::new(Metrics::default());
        let webhooks = Deliverer::new(db.clone(), Arc::new(webhook_settings), Arc::clone(&metrics));
        Ok(AppState(Arc::new(Shared {
            db,
            config: Arc::new(config),
            keys: Arc::new(keys),
            ring: Arc::new(KeyRing::default()),
            metrics,
            settler: Arc::new(InternalSettler),
            limits: Arc::new(limits),
            sessions,
            wallets,
            sms,
            webhooks,
        })))
    }
}

impl AppState {
    /// The parts, to change before the state is first shared (tests swap the
    /// settler); `None` once it is.
    pub fn parts_mut(&mut self) -> Option<&mut Shared> {
        Arc::get_mut(&mut self.0)
    }

    /// Token lifetimes from the configuration.
    pub fn token_ttls(&self) -> TokenTtls {
        TokenTtls {
            access: self.config.jwt_ttl(),
            refresh: std::time::Duration::from_secs(self.config.refresh_ttl_seconds),
        }
    }

    /// OTP validity, tries and send limits from the configuration.
    pub fn otp_policy(&self) -> OtpPolicy {
        OtpPolicy {
            ttl: std::time::Duration::from_secs(self.config.otp_ttl_seconds),
            attempts_max: self.config.otp_attempts_max,
            resend_cooldown: std::time::Duration::from_secs(
                self.config.otp_resend_cooldown_seconds,
            ),
            sends_per_hour_max: self.config.otp_sends_per_hour_max,
            sends_per_gamer_per_hour_max: self.config.otp_sends_per_gamer_per_hour_max,
            sends_per_client_per_hour_max: self.config.otp_sends_per_client_per_hour_max,
        }
    }
}

/// The longest a cached wallet read lives: the bound on another server's write
/// going unseen should this server's PostgreSQL listener silently lose its
/// connection (the same 60 s the contract allows for a session revocation).
const WALLET_CACHE_TTL: Duration = Duration::from_secs(60);

/// A cached wallet read nobody asked for this long is dropped: the cache holds
/// the wallets of players who are playing, and an idle server gives it back.
const WALLET_CACHE_IDLE: Duration = Duration::from_secs(15);
