//! The write ceiling on SQLite: the minimal durable ledger transaction (one guarded
//! `UPDATE` of a balance, one `INSERT` of a ledger row, one commit each) through the
//! fastest client there is, rusqlite on its own connection (WAL,
//! `synchronous = FULL`), at the load generator's concurrency: `concurrency` tasks
//! hand their transactions to the one thread that owns the connection (SQLite has
//! one writer at a time), and each waits for its own commit. On PostgreSQL the same
//! transaction is `bench/pg_ledger.sql` under `pgbench -M prepared`. It runs in its
//! own database file and tables, so it never touches the server's data.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use tokio::sync::{mpsc, oneshot};

use crate::ceiling::{drive, Drive};

/// What `kgen-bench ledger-sqlite` takes.
#[derive(Debug, clap::Args)]
pub struct LedgerArgs {
    /// A database file to create (deleted first if it exists).
    #[arg(long)]
    path: PathBuf,
    /// Transactions in flight at once (the load generator's connections).
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// How long to run.
    #[arg(long)]
    seconds: f64,
}

/// Accounts the transactions spread over (as many as the claim runs' gamers).
const ACCOUNTS: i64 = 10_000;

type Job = (i64, oneshot::Sender<rusqlite::Result<()>>);

/// Runs the minimal ledger transaction until the time is up; prints a `RESULT` line.
pub async fn run(args: LedgerArgs) -> anyhow::Result<()> {
    for suffix in ["", "-wal", "-shm"] {
        let mut file = args.path.clone().into_os_string();
        file.push(suffix);
        let _ = std::fs::remove_file(file);
    }
    let conn = rusqlite::Connection::open(&args.path).context("opening the ceiling database")?;
    setup(&conn)?;
    let (sender, receiver) = mpsc::channel::<Job>(args.concurrency.max(1));
    let writer = std::thread::spawn(move || writer(conn, receiver));
    let sender = Arc::new(sender);
    drive(
        &Drive {
            concurrency: args.concurrency,
            seconds: args.seconds,
        },
        move || {
            let sender = Arc::clone(&sender);
            async move {
                let account = 1 + rand::random::<i64>().rem_euclid(ACCOUNTS);
                let (reply, answer) = oneshot::channel();
                sender.send((account, reply)).await?;
                answer.await??;
                Ok(())
            }
        },
    )
    .await?;
    writer
        .join()
        .map_err(|_| anyhow::anyhow!("the writer panicked"))?;
    Ok(())
}

fn setup(conn: &rusqlite::Connection) -> anyhow::Result<()> {
    conn.execute_batch(
        "pragma journal_mode = wal;
         pragma synchronous = full;
         create table ceiling_accounts (id integer primary key,
                                        balance bigint not null check (balance >= 0));
         create table ceiling_ledger (id integer primary key autoincrement,
                                      account_id bigint not null, amount bigint not null,
                                      created_at bigint not null);",
    )?;
    conn.execute(
        "insert into ceiling_accounts (id, balance)
         with recursive n(i) as (select 1 union all select i + 1 from n where i < ?1)
         select i, 1000000000000 from n",
        [ACCOUNTS],
    )?;
    conn.busy_timeout(Duration::from_secs(10))?;
    Ok(())
}

/// The one thread that owns the connection: one transaction, one commit, per job.
fn writer(conn: rusqlite::Connection, mut jobs: mpsc::Receiver<Job>) {
    while let Some((account, reply)) = jobs.blocking_recv() {
        let _ = reply.send(one_transaction(&conn, account));
    }
}

fn one_transaction(conn: &rusqlite::Connection, account: i64) -> rusqlite::Result<()> {
    conn.execute_batch("begin immediate")?;
    let result = (|| {
        let now = kgen_loyalty::storage::now_nanos();
        let updated = conn
            .prepare_cached(
                "update ceiling_accounts set balance = balance - 1
                 where id = ?1 and balance >= 1",
            )?
            .execute([account])?;
        if updated != 1 {
            return Err(rusqlite::Error::QueryReturnedNoRows);
        }
        conn.prepare_cached(
            "insert into ceiling_ledger (account_id, amount, created_at) values (?1, 1, ?2)",
        )?
        .execute([account, now])?;
        Ok(())
    })();
    match result {
        Ok(()) => conn.execute_batch("commit"),
        Err(error) => {
            let _ = conn.execute_batch("rollback");
            Err(error)
        }
    }
}
