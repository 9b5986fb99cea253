//! Assembly: `serve`, which runs the HTTP server and the background tasks on an
//! already-bound listener until `shutdown` resolves. The state it serves lives in
//! [`crate::state`]; `AppState` is re-exported here for callers of `serve`.

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

use crate::connection;
use crate::domain::analytics;
use crate::domain::settlement;
use crate::heap;

pub use crate::state::{AppState, Shared};

/// How often expired cache entries are dropped even when no request comes.
const CACHE_SWEEP_INTERVAL: Duration = Duration::from_secs(5);

/// Drops expired cache entries every [`CACHE_SWEEP_INTERVAL`], forever, and then
/// gives the C heap's free pages back if the interval was quiet ([`heap`]).
async fn sweep_caches(state: AppState) {
    let mut ticks = tokio::time::interval(CACHE_SWEEP_INTERVAL);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut heap = heap::Trimmer::default();
    loop {
        ticks.tick().await;
        state.sessions.run_pending_tasks();
        state.wallets.run_pending_tasks();
        if let Some(ids) = state.db.gamer_ids() {
            ids.run_pending_tasks();
        }
        heap.tick(CACHE_SWEEP_INTERVAL);
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
    let deliverer = tokio::spawn(state.webhooks.clone().run(stop_rx.clone()));
    let retention = tokio::spawn(analytics::run_retention(
        state.db.clone(),
        Duration::from_secs(u64::from(state.config.analytics_retention_days) * 86_400),
        stop_rx.clone(),
    ));
    let rollups = (state.config.console_stats_interval_seconds > 0).then(|| {
        tokio::spawn(crate::domain::console::stats::run_catch_up(
            state.db.clone(),
            Duration::from_secs(state.config.console_stats_lag_seconds),
            Duration::from_secs(state.config.console_stats_interval_seconds),
            stop_rx.clone(),
        ))
    });
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
    deliverer.await.ok();
    if let Some(rollups) = rollups {
        rollups.await.ok();
    }
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
