//! Assembly: `AppState` (cheap to clone), and `serve`, which runs the HTTP server
//! and the background tasks on an already-bound listener until `shutdown` resolves.

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;

use std::time::Duration;

use axum::http::Request;
use axum::routing::future::RouteFuture;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder as ConnectionBuilder;
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tower::ServiceExt;

use crate::config::Config;
use crate::connection;
use crate::domain::analytics;
use crate::domain::otp::OtpPolicy;
use crate::domain::phone;
use crate::domain::rate_limit::RateLimits;
use crate::domain::secrets::ServerKeys;
use crate::domain::sessions::{SessionCache, TokenTtls};
use crate::domain::settlement::{self, InternalSettler, Settler};
use crate::domain::sms::{self, OtpSender};
use crate::domain::store;
use crate::domain::tokens::{self, KeyRing};
use crate::domain::wallet::WalletCache;
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
}

impl AppState {
    /// Loads keys from the (migrated) database and builds the state. A setting that
    /// cannot work (`KGEN_SMS=webhook` without a URL, a bad `KGEN_STORE_URL`) is an
    /// error here rather than on the first request.
    pub async fn new(db: Db, config: Config) -> anyhow::Result<AppState> {
        let sms = sms::sender_from_config(&config)?;
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
        Ok(AppState(Arc::new(Shared {
            db,
            config: Arc::new(config),
            keys: Arc::new(keys),
            ring: Arc::new(KeyRing::default()),
            metrics: Arc::new(Metrics::default()),
            settler: Arc::new(InternalSettler),
            limits: Arc::new(limits),
            sessions,
            wallets,
            sms,
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

/// How often expired cache entries are dropped even when no request comes.
const CACHE_SWEEP_INTERVAL: Duration = Duration::from_secs(5);

/// Drops expired cache entries every [`CACHE_SWEEP_INTERVAL`], forever.
async fn sweep_caches(state: AppState) {
    let mut ticks = tokio::time::interval(CACHE_SWEEP_INTERVAL);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        state.sessions.run_pending_tasks();
        state.wallets.run_pending_tasks();
    }
}

/// Serves the API on `listener` until `shutdown` resolves; then stops accepting,
/// stops the settlement worker between two withdrawals and analytics retention
/// between two batches, and gives in-flight
/// requests `shutdown_timeout_seconds` to finish.
///
/// Connections are served by hyper directly (not `axum::serve`) so that each one
/// is watched by a [`connection::Clock`]: closed if it sends no complete request
/// head within `read_timeout_seconds`, or stays idle for `idle_timeout_seconds`.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let (stop_tx, stop_rx) = watch::channel(false);
    let worker = tokio::spawn(settlement::run_worker(
        state.db.clone(),
        Arc::clone(&state.settler),
        Duration::from_millis(state.config.settlement_interval_ms),
        stop_rx.clone(),
    ));
    // PostgreSQL: follow other servers' wallet changes while serving.
    let follower = state
        .wallets
        .is_enabled()
        .then(|| state.db.follow_wallet_changes())
        .flatten()
        .map(tokio::spawn);
    let sweeper = tokio::spawn(sweep_caches(state.clone()));
    let retention = tokio::spawn(analytics::run_retention(
        state.db.clone(),
        Duration::from_secs(u64::from(state.config.analytics_retention_days) * 86_400),
        stop_rx.clone(),
    ));
    let grace = Duration::from_secs(state.config.shutdown_timeout_seconds);
    let timeouts = connection::Timeouts {
        first_head: Duration::from_secs(state.config.read_timeout_seconds.max(1)),
        idle: Duration::from_secs(state.config.idle_timeout_seconds.max(1)),
    };
    let router = crate::http::router(state);
    let builder = Arc::new(connection_builder());
    let (connections_stop, _) = watch::channel(());
    tokio::pin!(shutdown);
    let mut backoff = connection::AcceptBackoff::default();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _peer)) => {
                    backoff.succeeded();
                    let stop = connections_stop.subscribe();
                    let builder = Arc::clone(&builder);
                    tokio::spawn(serve_connection(builder, stream, router.clone(), timeouts, stop));
                }
                Err(error) => backoff.failed(&error).await,
            },
            () = &mut shutdown => break,
        }
    }
    drop(listener);
    stop_tx.send(true).ok();
    connections_stop.send(()).ok();
    tokio::select! {
        () = connections_stop.closed() => {}
        () = tokio::time::sleep(grace) => {
            tracing::warn!("in-flight requests outlasted the shutdown timeout; closing them");
        }
    }
    worker.await.ok();
    retention.await.ok();
    if let Some(follower) = follower {
        follower.abort();
    }
    sweeper.abort();
    Ok(())
}

/// How hyper serves a connection: HTTP/1.1 or HTTP/2, told apart by the preface.
fn connection_builder() -> ConnectionBuilder<TokioExecutor> {
    let mut builder = ConnectionBuilder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        // Each connection's clock times request heads, for both protocols.
        .header_read_timeout(None)
        .max_buf_size(crate::http::HEADER_LIMIT_BYTES);
    builder.http2().timer(TokioTimer::new());
    builder
}

/// Serves one accepted connection (HTTP/1.1 or HTTP/2, told apart by hyper)
/// under its [`connection::Clock`] until it ends, times out, or `stop` fires.
async fn serve_connection(
    builder: Arc<ConnectionBuilder<TokioExecutor>>,
    stream: TcpStream,
    router: axum::Router,
    timeouts: connection::Timeouts,
    stop: watch::Receiver<()>,
) {
    stream.set_nodelay(true).ok();
    let clock = connection::Clock::start();
    let requests = Arc::clone(&clock);
    let track = move |response: RouteFuture<Infallible>| {
        // hyper calls the service once a request head is complete.
        let in_flight = requests.request_started();
        async move {
            response
                .await
                .map(|response| connection::track(response, in_flight))
        }
    };
    let service = ServiceExt::<Request<Incoming>>::map_future(router, track);
    let connection = builder
        .serve_connection_with_upgrades(TokioIo::new(stream), TowerToHyperService::new(service));
    connection::drive(connection, clock, timeouts, stop, |connection| {
        connection.graceful_shutdown();
    })
    .await;
}
