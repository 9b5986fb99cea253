//! The webhook receiver of `scripts/bench` (issue 12): answers every `POST` 200 at
//! once and counts it; `GET /` returns the count. In Rust, so that on
//! a 2-core machine the receiver (a studio's server, elsewhere in production)
//! takes as little as possible of the CPU the server under test needs: the Python
//! receiver it replaces cost about as much per delivery as the server's claim.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use anyhow::Context as _;
use axum::extract::State;
use axum::routing::get;
use axum::Router;

/// What `kgen-bench receiver` takes.
#[derive(Debug, clap::Args)]
pub struct ReceiverArgs {
    /// Port on 127.0.0.1.
    #[arg(long)]
    port: u16,
}

/// Serves until killed.
pub async fn run(args: ReceiverArgs) -> anyhow::Result<()> {
    let received = Arc::new(AtomicU64::new(0));
    let app = Router::new()
        .route("/", get(count))
        .fallback(receive)
        .with_state(received);
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", args.port))
        .await
        .with_context(|| format!("binding 127.0.0.1:{}", args.port))?;
    axum::serve(listener, app).await.context("serving")
}

async fn count(State(received): State<Arc<AtomicU64>>) -> String {
    received.load(Ordering::Relaxed).to_string()
}

async fn receive(State(received): State<Arc<AtomicU64>>, _body: axum::body::Bytes) {
    received.fetch_add(1, Ordering::Relaxed);
}
