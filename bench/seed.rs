//! Seeding through the API, as a game's server would: one rewardable event, then one
//! `POST /s2s/session` per new gamer. The gamers' access tokens go to a file that the
//! wrk script reads, so each request of a run can speak for a different gamer.

use std::io::Write as _;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use anyhow::{bail, Context as _};
use serde_json::{json, Value};

/// What `kgen-bench seed` takes.
#[derive(Debug, clap::Args)]
pub struct SeedArgs {
    /// Server base URL, e.g. http://127.0.0.1:18080.
    #[arg(long)]
    url: String,
    /// The game client's id.
    #[arg(long)]
    client_id: String,
    /// The game client's secret.
    #[arg(long)]
    client_secret: String,
    /// Gamers to create.
    #[arg(long)]
    gamers: usize,
    /// Prefix of the gamers' user ids (`<prefix>-<n>`).
    #[arg(long)]
    prefix: String,
    /// Sessions in flight at once.
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    /// File to append `access_token eventID` lines to.
    #[arg(long)]
    out: PathBuf,
    /// Reuse this event of the client instead of creating one.
    #[arg(long)]
    event_id: Option<String>,
}

/// Creates the event (unless given) and the gamers; prints the eventID.
pub async fn run(args: SeedArgs) -> anyhow::Result<()> {
    let http = reqwest::Client::new();
    let event_id = match &args.event_id {
        Some(id) => id.clone(),
        None => create_event(&http, &args).await?,
    };
    let next = Arc::new(AtomicUsize::new(0));
    let args = Arc::new(args);
    let mut workers = Vec::new();
    for _ in 0..args.concurrency.max(1) {
        let (http, args, next) = (http.clone(), Arc::clone(&args), Arc::clone(&next));
        workers.push(tokio::spawn(async move {
            let mut tokens = Vec::new();
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                if n >= args.gamers {
                    return Ok::<_, anyhow::Error>(tokens);
                }
                tokens.push(start_session(&http, &args, &format!("{}-{n}", args.prefix)).await?);
            }
        }));
    }
    let mut lines = String::new();
    for worker in workers {
        for token in worker.await.context("seeding task panicked")?? {
            lines.push_str(&format!("{token} {event_id}\n"));
        }
    }
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&args.out)
        .with_context(|| format!("opening {}", args.out.display()))?;
    file.write_all(lines.as_bytes())?;
    println!("{event_id}");
    Ok(())
}

async fn create_event(http: &reqwest::Client, args: &SeedArgs) -> anyhow::Result<String> {
    let body = json!({"eventType": "BenchReward", "eventName": "Bench reward", "rewardAmount": 1});
    let response = http
        .put(format!("{}/s2s/loyalty/rewardable-events", args.url))
        .header("x-client-id", &args.client_id)
        .header("x-client-secret", &args.client_secret)
        .json(&body)
        .send()
        .await
        .context("creating the event")?;
    let event = checked_json(response, 201, "PUT /s2s/loyalty/rewardable-events").await?;
    event["eventID"]
        .as_str()
        .map(str::to_owned)
        .context("the event has no eventID")
}

async fn start_session(
    http: &reqwest::Client,
    args: &SeedArgs,
    user_id: &str,
) -> anyhow::Result<String> {
    let response = http
        .post(format!("{}/s2s/session", args.url))
        .header("x-client-id", &args.client_id)
        .header("x-client-secret", &args.client_secret)
        .json(&json!({"user_id": user_id}))
        .send()
        .await
        .context("starting a session")?;
    let session = checked_json(response, 200, "POST /s2s/session").await?;
    session["access_token"]
        .as_str()
        .map(str::to_owned)
        .context("the session has no access_token")
}

async fn checked_json(
    response: reqwest::Response,
    status: u16,
    what: &str,
) -> anyhow::Result<Value> {
    let got = response.status().as_u16();
    let text = response.text().await?;
    if got != status {
        bail!("{what} answered {got}, not {status}: {text}");
    }
    serde_json::from_str(&text).with_context(|| format!("{what} answered non-JSON: {text}"))
}
