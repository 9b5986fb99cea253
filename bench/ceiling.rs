//! The "own statements" ceilings: one reward claim, or one new gamer's first
//! session, run in a loop through the server's own domain code
//! (`domain::claims::claim_event_reward`, `domain::sessions::start_session`) and its
//! own `Db`, with no HTTP in front. The SQL is the server's: nothing here copies a
//! statement, so the figure follows the code. What is left out is everything that
//! is not the transaction: HTTP, JSON, the JWT check and the session lookup.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{ensure, Context as _};
use kgen_loyalty::domain::auth::Gamer;
use kgen_loyalty::domain::secrets::ServerKeys;
use kgen_loyalty::domain::sessions::{self, Profile, TokenTtls};
use kgen_loyalty::domain::tokens::KeyRing;
use kgen_loyalty::domain::{claims, clients, tokens};
use kgen_loyalty::storage::sessions::SessionGamerRow;
use kgen_loyalty::storage::{Db, PoolSettings};

/// How hard and how long to drive the database.
#[derive(Debug, clap::Args)]
pub struct LoadArgs {
    /// Database URL, as the server takes it.
    #[arg(long, env = "DATABASE_URL")]
    database_url: String,
    /// The game client whose gamers claim, or who gets the new gamers.
    #[arg(long)]
    client_id: String,
    /// Operations in flight at once (the load generator's connections).
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// Pool size, as the server's `--db-max-connections`.
    #[arg(long, default_value_t = 16)]
    pool_size: u32,
    /// How long to run.
    #[arg(long)]
    seconds: f64,
}

/// What `kgen-bench raw-claims` takes.
#[derive(Debug, clap::Args)]
pub struct ClaimArgs {
    #[command(flatten)]
    load: LoadArgs,
    /// The event claimed (no policies: the usual case).
    #[arg(long)]
    event_id: String,
}

/// What `kgen-bench raw-sessions` takes.
#[derive(Debug, clap::Args)]
pub struct SessionArgs {
    #[command(flatten)]
    load: LoadArgs,
}

/// Claims the event for random gamers of the client until the time is up.
pub async fn run_claims(args: ClaimArgs) -> anyhow::Result<()> {
    let db = open(&args.load).await?;
    let gamers = session_gamers(&db, &args.load.client_id).await?;
    ensure!(!gamers.is_empty(), "the client has no gamers");
    let context = Arc::new((db, args.event_id, gamers));
    drive(&Drive::from(&args.load), move || {
        let context = Arc::clone(&context);
        async move {
            let (db, event_id, gamers) = &*context;
            let gamer = &gamers[rand::random::<usize>() % gamers.len()];
            claims::claim_event_reward(db, gamer, event_id, None).await?;
            Ok(())
        }
    })
    .await
}

/// Starts first sessions of new gamers of the client until the time is up.
pub async fn run_sessions(args: SessionArgs) -> anyhow::Result<()> {
    let db = open(&args.load).await?;
    let client = clients::find_session_client(&db, &args.load.client_id)
        .await?
        .context("no such client")?;
    tokens::ensure_keys(&db).await?;
    let keys = ServerKeys::load(&db, None).await?;
    let context = Arc::new((db, keys, KeyRing::default(), client));
    drive(&Drive::from(&args.load), move || {
        let context = Arc::clone(&context);
        async move {
            let (db, keys, ring, client) = &*context;
            let user_id = format!("raw-{}", uuid::Uuid::new_v4().simple());
            let ttls = TokenTtls {
                access: Duration::from_secs(3600),
                refresh: Duration::from_secs(30 * 24 * 3600),
            };
            let started = sessions::start_session(
                db,
                keys,
                ring,
                ttls,
                client,
                &user_id,
                &Profile::default(),
            )
            .await?;
            ensure!(started.is_new_user, "user id {user_id} existed already");
            Ok(())
        }
    })
    .await
}

/// One live session of each gamer of the client, as `authenticate` returns it.
async fn session_gamers(db: &Db, client_id: &str) -> anyhow::Result<Vec<Gamer>> {
    let rows: Vec<SessionGamerRow> = sqlx::query_as(
        "select s.id as session_id, g.id as gamer_id, c.id as client_id,
                c.name as client_name, c.min_withdraw, g.user_id, g.wallet_address,
                g.kgen_account_id
         from gamers g
         join clients c on c.id = g.client_id
         join sessions s on s.id = (select id from sessions
                                   where gamer_id = g.id and revoked_at is null
                                   order by created_at desc limit 1)
         where g.client_id = $1
         order by g.id",
    )
    .bind(client_id)
    .fetch_all(db.reader())
    .await?;
    Ok(rows.into_iter().map(Gamer::from).collect())
}

async fn open(load: &LoadArgs) -> anyhow::Result<Db> {
    let settings = PoolSettings {
        max_connections: load.pool_size,
        ..PoolSettings::default()
    };
    Db::connect(&load.database_url, &settings).await
}

/// How many operations run at once, and for how long.
#[derive(Clone, Copy, Debug)]
pub struct Drive {
    /// Operations in flight at once.
    pub concurrency: usize,
    /// Seconds to run.
    pub seconds: f64,
}

impl From<&LoadArgs> for Drive {
    fn from(load: &LoadArgs) -> Drive {
        Drive {
            concurrency: load.concurrency,
            seconds: load.seconds,
        }
    }
}

/// Runs `op` from `concurrency` tasks until the time is up and prints the rate,
/// latency percentiles and error count as one `RESULT` line.
pub async fn drive<F, Fut>(load: &Drive, op: F) -> anyhow::Result<()>
where
    F: Fn() -> Fut + Clone + Send + 'static,
    Fut: Future<Output = anyhow::Result<()>> + Send,
{
    let started = Instant::now();
    let deadline = started + Duration::from_secs_f64(load.seconds);
    let mut tasks = Vec::new();
    for _ in 0..load.concurrency.max(1) {
        let op = op.clone();
        tasks.push(tokio::spawn(async move {
            let (mut latencies_us, mut errors) = (Vec::new(), 0_u64);
            while Instant::now() < deadline {
                let begun = Instant::now();
                match op().await {
                    Ok(()) => latencies_us.push(begun.elapsed().as_micros()),
                    Err(error) => {
                        if errors == 0 {
                            eprintln!("kgen-bench: operation failed: {error:#}");
                        }
                        errors += 1;
                    }
                }
            }
            (latencies_us, errors)
        }));
    }
    let (mut latencies_us, mut errors) = (Vec::new(), 0);
    for task in tasks {
        let (mut mine, my_errors) = task.await.context("load task panicked")?;
        latencies_us.append(&mut mine);
        errors += my_errors;
    }
    let seconds = started.elapsed().as_secs_f64();
    print_result(&mut latencies_us, seconds, errors);
    Ok(())
}

/// Prints the `RESULT` line of a run: completed operations over `seconds`, the
/// nearest-rank latency percentiles and the errors.
pub fn print_result(latencies_us: &mut [u128], seconds: f64, errors: u64) {
    latencies_us.sort_unstable();
    let percentile = |p: f64| {
        let rank = (p / 100.0 * latencies_us.len() as f64).ceil() as usize;
        latencies_us
            .get(rank.saturating_sub(1))
            .copied()
            .unwrap_or(0)
    };
    println!(
        "RESULT requests={} seconds={seconds:.3} rate={:.1} p50_us={} p99_us={} p999_us={} errors={errors}",
        latencies_us.len(),
        latencies_us.len() as f64 / seconds,
        percentile(50.0),
        percentile(99.0),
        percentile(99.9),
    );
}
