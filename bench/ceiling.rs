//! The raw-SQL ceilings: the statements that one reward claim, or one new gamer's
//! first session, commits, run in a loop straight against the database. They use the
//! server's own `Db` (same sqlx `Any` driver, same pools: on SQLite one writer
//! connection and `synchronous = FULL`) and its own storage functions, each of which
//! is one SQL statement, in the order `domain::claims::claim_event_reward` and
//! `domain::sessions::write_session` run them. What is left out is everything that is
//! not the transaction: HTTP, JSON, the JWT check and the session lookup, the client
//! lookup, key and wallet-address derivation. If the domain code changes which
//! statements a claim or a session runs, change them here too (and in the pgbench
//! scripts `bench/pg_*.sql`).

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{ensure, Context as _};
use kgen_loyalty::domain::sessions::{issuing_account, Profile};
use kgen_loyalty::domain::tokens;
use kgen_loyalty::storage::claims::{self, ClaimRow};
use kgen_loyalty::storage::clients::{self, ClientRow};
use kgen_loyalty::storage::ledger::{self, kind, AccountKey, NewTransfer, WalletEntryRow};
use kgen_loyalty::storage::{self, events, gamers, sessions, Db, PoolSettings};

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
    let gamer_ids: Vec<i64> =
        sqlx::query_scalar("select id from gamers where client_id = $1 order by id")
            .bind(&args.load.client_id)
            .fetch_all(db.reader())
            .await?;
    ensure!(!gamer_ids.is_empty(), "the client has no gamers");
    let context = Arc::new((db, args.load.client_id.clone(), args.event_id, gamer_ids));
    drive(&args.load, move || {
        let context = Arc::clone(&context);
        async move {
            let (db, client_id, event_id, gamer_ids) = &*context;
            let pick = rand::random::<usize>() % gamer_ids.len();
            claim_once(db, client_id, event_id, gamer_ids[pick]).await
        }
    })
    .await
}

/// Starts first sessions of new gamers of the client until the time is up.
pub async fn run_sessions(args: SessionArgs) -> anyhow::Result<()> {
    let db = open(&args.load).await?;
    let client = clients::find_client(db.reader(), &args.load.client_id)
        .await?
        .context("no such client")?;
    let context = Arc::new((db, client));
    drive(&args.load, move || {
        let context = Arc::clone(&context);
        async move { first_session_once(&context.0, &context.1).await }
    })
    .await
}

async fn open(load: &LoadArgs) -> anyhow::Result<Db> {
    let settings = PoolSettings {
        max_connections: load.pool_size,
        ..PoolSettings::default()
    };
    Db::connect(&load.database_url, &settings).await
}

/// The transaction of `claim_event_reward` for an event without policies and a
/// request without an idempotency key.
async fn claim_once(db: &Db, client_id: &str, event_id: &str, gamer_id: i64) -> anyhow::Result<()> {
    let now = storage::now_nanos();
    let mut tx = db.begin().await?;
    gamers::lock_gamer_by_id(&mut tx, gamer_id).await?;
    let event = events::find_event(&mut *tx, client_id, event_id)
        .await?
        .context("no such event")?;
    // No claim limit: the window starts at i64::MAX, as the domain passes it.
    claims::claim_history(
        &mut tx,
        gamer_id,
        &event.id,
        i64::MAX,
        &event.activity_trace_activity_id,
    )
    .await?;
    let claim = ClaimRow {
        seq: 0,
        id: uuid::Uuid::new_v4().to_string(),
        event_id: event.id.clone(),
        amount: event.reward_amount,
        status: "REWARDED".to_owned(),
        trace_watermark: None,
        created_at: now,
        updated_at: now,
    };
    let claim = claims::insert_claim(&mut tx, client_id, gamer_id, &claim).await?;
    let to = AccountKey {
        kind: kind::EARNED,
        client_id,
        owner_id: gamer_id,
    };
    let entry = credit(&mut tx, &claim.id, "EVENT_REWARD", to, claim.amount, now).await?;
    ledger::insert_wallet_entry(
        &mut tx,
        &WalletEntryRow {
            name: if event.event_name.is_empty() {
                event.event_type.clone()
            } else {
                event.event_name.clone()
            },
            description: format!("Reward for {}", event.event_type),
            ..entry
        },
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// The transaction of `write_session` for a user id the client has not seen.
async fn first_session_once(db: &Db, client: &ClientRow) -> anyhow::Result<()> {
    let user_id = format!("raw-{}", uuid::Uuid::new_v4().simple());
    let session_id = uuid::Uuid::new_v4().to_string();
    let refresh_hash = tokens::hash_refresh_token(&tokens::generate_refresh_token());
    let address = format!("0x{}", hex::encode(rand::random::<[u8; 20]>()));
    let profile = serde_json::to_string(&Profile::default())?;
    let now = storage::now_nanos();
    let mut tx = db.begin().await?;
    let existing = gamers::lock_gamer(&mut tx, &client.id, &user_id, now).await?;
    ensure!(existing.is_none(), "user id {user_id} exists already");
    let gamer_id = gamers::insert_gamer(&mut tx, &client.id, &user_id, &profile, now)
        .await?
        .context("user id taken")?;
    gamers::set_wallet_address(&mut tx, gamer_id, &address).await?;
    ledger::insert_wallet_accounts(&mut tx, &client.id, gamer_id, &address, now).await?;
    if client.welcome_bonus > 0 {
        let uid = uuid::Uuid::new_v4().to_string();
        let to = AccountKey {
            kind: kind::BONUS,
            client_id: &client.id,
            owner_id: gamer_id,
        };
        let entry = credit(
            &mut tx,
            &uid,
            "WELCOME_BONUS",
            to,
            client.welcome_bonus,
            now,
        )
        .await?;
        ledger::insert_wallet_entry(
            &mut tx,
            &WalletEntryRow {
                name: "Welcome bonus".to_owned(),
                description: format!("Welcome bonus from {}", client.name),
                ..entry
            },
        )
        .await?;
    }
    gamers::find_gamer(&mut *tx, gamer_id)
        .await?
        .context("the new gamer vanished")?;
    sessions::insert_session(&mut tx, &session_id, &client.id, gamer_id, now).await?;
    let expires_at = now + 30 * 24 * 3600 * 1_000_000_000;
    sessions::insert_refresh_token(&mut tx, &refresh_hash, &session_id, expires_at, now).await?;
    tx.commit().await?;
    Ok(())
}

/// Posts a transfer from the gamer's issuing shard to `to`, and returns the wallet
/// history line for it (name and description still to fill in).
async fn credit(
    tx: &mut storage::Tx,
    uid: &str,
    transfer_kind: &'static str,
    to: AccountKey<'_>,
    amount: i64,
    now: i64,
) -> anyhow::Result<WalletEntryRow> {
    let sides = ledger::post_transfer(
        tx,
        NewTransfer {
            uid,
            kind: transfer_kind,
            from: issuing_account(to.client_id, to.owner_id),
            to,
            amount,
            now,
        },
    )
    .await?
    .context("the issuing shard refused a debit")?;
    Ok(WalletEntryRow {
        id: 0,
        uid: uid.to_owned(),
        gamer_id: to.owner_id,
        kind: transfer_kind.to_owned(),
        direction: "CREDIT".to_owned(),
        amount,
        from_address: sides.from_address,
        to_address: sides.to_address,
        name: String::new(),
        description: String::new(),
        sync_status: "COMPLETED".to_owned(),
        created_at: now,
    })
}

/// Runs `op` from `concurrency` tasks until the time is up and prints the rate,
/// latency percentiles and error count as one `RESULT` line.
async fn drive<F, Fut>(load: &LoadArgs, op: F) -> anyhow::Result<()>
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
    Ok(())
}
