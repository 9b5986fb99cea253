//! Assembly: `serve`, which runs the HTTP server and the background tasks on an
//! already-bound listener until `shutdown` resolves. The state it serves lives in
//! [`crate::state`]; `AppState` is re-exported here for callers of `serve`.

use std::future::Future;
use std::sync::Arc;

use std::time::Duration;

use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder as ConnectionBuilder;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::domain::settlement;

pub use crate::state::{AppState, Shared};

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
/// stops the settlement worker between two withdrawals, and gives in-flight
/// requests `shutdown_timeout_seconds` to finish.
///
/// Connections are served by hyper directly (not `axum::serve`) so that a client
/// that is slow to send its headers is cut off after `read_timeout_seconds`.
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
    let rollups = (state.config.console_stats_interval_seconds > 0).then(|| {
        tokio::spawn(crate::domain::console::stats::run_catch_up(
            state.db.clone(),
            Duration::from_secs(state.config.console_stats_lag_seconds),
            Duration::from_secs(state.config.console_stats_interval_seconds),
            stop_rx.clone(),
        ))
    });
    let grace = Duration::from_secs(state.config.shutdown_timeout_seconds);
    let read_timeout = Duration::from_secs(state.config.read_timeout_seconds.max(1));
    let router = crate::http::router(state);
    let mut builder = ConnectionBuilder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(read_timeout)
        .max_buf_size(crate::http::HEADER_LIMIT_BYTES);
    let connections = GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let stream = match accepted {
                    Ok((stream, _peer)) => stream,
                    Err(error) => {
                        // Out of file descriptors and the like: wait instead of spinning.
                        tracing::warn!(%error, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                stream.set_nodelay(true).ok();
                let service = TowerToHyperService::new(router.clone());
                let connection = builder
                    .serve_connection_with_upgrades(TokioIo::new(stream), service)
                    .into_owned();
                let connection = connections.watch(connection);
                tokio::spawn(async move {
                    if let Err(error) = connection.await {
                        tracing::debug!(error = %error, "connection ended with an error");
                    }
                });
            }
            () = &mut shutdown => break,
        }
    }
    drop(listener);
    stop_tx.send(true).ok();
    tokio::select! {
        () = connections.shutdown() => {}
        () = tokio::time::sleep(grace) => {
            tracing::warn!("in-flight requests outlasted the shutdown timeout; closing them");
        }
    }
    worker.await.ok();
    if let Some(rollups) = rollups {
        rollups.await.ok();
    }
    if let Some(follower) = follower {
        follower.abort();
    }
    sweeper.abort();
    Ok(())
}
