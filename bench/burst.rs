//! The burst scenario of `scripts/bench` (issue 10): a live event starts and
//! `count` different gamers claim at the same moment. Every gamer gets its own
//! connection, opened before the start (`GET /healthz`), so that what is timed is
//! the claims, not the TCP handshakes; then all claims are sent at once. Prints one
//! `RESULT` line (rate over the whole burst, percentiles, non-2xx or failed as errors).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{ensure, Context as _};
use tokio::sync::Barrier;

/// What `kgen-bench burst` takes.
#[derive(Debug, clap::Args)]
pub struct BurstArgs {
    /// Server base URL.
    #[arg(long)]
    url: String,
    /// File of `access_token eventID` lines (one per gamer), as `seed` writes it.
    #[arg(long)]
    tokens: PathBuf,
    /// Gamers claiming at once (the first `count` lines of the file).
    #[arg(long, default_value_t = 2000)]
    count: usize,
}

/// Sends the burst and prints its figures.
pub async fn run(args: BurstArgs) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(&args.tokens).context("reading the tokens file")?;
    let gamers: Vec<(String, String)> = text
        .lines()
        .filter_map(|line| {
            let mut words = line.split_whitespace();
            Some((words.next()?.to_owned(), words.next()?.to_owned()))
        })
        .take(args.count)
        .collect();
    ensure!(
        gamers.len() == args.count,
        "the file has fewer than {} gamers",
        args.count
    );
    let barrier = Arc::new(Barrier::new(gamers.len() + 1));
    let mut tasks = Vec::new();
    for (token, event) in gamers {
        let (barrier, base) = (Arc::clone(&barrier), args.url.clone());
        tasks.push(tokio::spawn(async move {
            // One client per gamer: one connection each, warmed before the start.
            let client = reqwest::Client::builder()
                .pool_max_idle_per_host(1)
                .build()?;
            client.get(format!("{base}/healthz")).send().await?;
            barrier.wait().await;
            let begun = Instant::now();
            let response = client
                .post(format!(
                    "{base}/fe/loyalty/event-reward-user-claims/events/{event}"
                ))
                .header("user-jwt-token", token)
                .send()
                .await?;
            let ok = response.status().is_success();
            response.bytes().await?;
            anyhow::Ok((begun.elapsed().as_micros(), ok))
        }));
    }
    barrier.wait().await;
    let started = Instant::now();
    let (mut latencies, mut errors) = (Vec::new(), 0_u64);
    for task in tasks {
        match task.await? {
            Ok((micros, true)) => latencies.push(micros),
            Ok((micros, false)) => {
                latencies.push(micros);
                errors += 1;
            }
            Err(error) => {
                if errors == 0 {
                    eprintln!("kgen-bench burst: a claim failed: {error:#}");
                }
                errors += 1;
            }
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    crate::ceiling::print_result(&mut latencies, seconds, errors);
    Ok(())
}
