//! `scripts/bench --big`: grows the ledger to millions of rows straight in SQL, so the
//! reads can be measured again on a large history. Row `n` goes to the client's gamer
//! `n mod gamers`, so each gamer's history is spread over the whole table as it would
//! be in production, and every row is a valid transfer (issuing shard → EARNED
//! bucket, amount 1) with its wallet history line. Balances are raised by what was
//! added, so the ledger invariants still hold afterwards. PostgreSQL generates the rows
//! with `generate_series`, SQLite with a recursive CTE; batches commit one by one.

use std::time::Instant;

use anyhow::{ensure, Context as _};
use kgen_loyalty::storage::ledger::ISSUING_SHARDS;
use kgen_loyalty::storage::{self, Backend};
use sqlx::{Connection as _, Executor as _};

/// What `kgen-bench grow-ledger` takes.
#[derive(Debug, clap::Args)]
pub struct GrowArgs {
    /// Database URL, as the server takes it.
    #[arg(long, env = "DATABASE_URL")]
    database_url: String,
    /// The client whose gamers get the rows.
    #[arg(long)]
    client_id: String,
    /// Transfers to add (each with one wallet history line).
    #[arg(long)]
    rows: i64,
    /// Only the gamers whose user id starts with this.
    #[arg(long, default_value = "")]
    user_prefix: String,
    /// Rows per committed batch.
    #[arg(long, default_value_t = 1_000_000)]
    batch: i64,
}

/// The row source of a batch `$1..=$2` as a table `s(n)`: the clause before the
/// `insert`, the `from` clause, and the uid of row `n` (`$5` is the run's prefix).
fn series(backend: Backend) -> (&'static str, &'static str, &'static str) {
    match backend {
        Backend::Postgres => (
            "",
            "from generate_series(cast($1 as bigint), cast($2 as bigint)) as s(n)",
            "$5 || lpad(cast(s.n as text), 12, '0')",
        ),
        Backend::Sqlite => (
            "with recursive s(n) as (select $1 union all select n + 1 from s where n < $2) ",
            "from s",
            "$5 || printf('%012d', s.n)",
        ),
    }
}

/// Adds the rows; prints one `RESULT` line.
pub async fn run(args: GrowArgs) -> anyhow::Result<()> {
    let backend = Backend::of_url(&args.database_url)?;
    let mut conn = crate::connect_one(&args.database_url).await?;
    if backend == Backend::Sqlite {
        conn.execute(
            "pragma foreign_keys = on; pragma busy_timeout = 10000; pragma cache_size = -1000000;",
        )
        .await?;
    }
    let started = Instant::now();
    let gamers = map_gamers(&mut conn, &args.client_id, &args.user_prefix).await?;
    ensure!(gamers > 0, "the client has no gamers");
    let (with, from, uid) = series(backend);
    let now = storage::now_nanos();
    // Transaction uids unique to this run: grow-{now}-{n}.
    let uid_prefix = format!("grow-{now}-");
    let transfers = format!(
        "{with}insert into transfers (uid, kind, debit_account_id, credit_account_id, amount,
                                      created_at)
         select {uid}, 'EVENT_REWARD', m.debit_id, m.credit_id, 1, $3
         {from}
         join bench_map m on m.k = s.n % $4"
    );
    let entries = format!(
        "{with}insert into wallet_entries (uid, gamer_id, kind, direction, amount, from_address,
                                           to_address, name, description, sync_status,
                                           created_at)
         select {uid}, m.gamer_id, 'EVENT_REWARD', 'CREDIT', 1, m.from_address, m.to_address,
                'Bench reward', 'Reward for BenchReward', 'COMPLETED', $3
         {from}
         join bench_map m on m.k = s.n % $4"
    );
    let mut first = 0;
    while first < args.rows {
        let last = (first + args.batch).min(args.rows) - 1;
        let mut tx = conn.begin().await?;
        for sql in [&transfers, &entries] {
            sqlx::query(sql)
                .bind(first)
                .bind(last)
                .bind(now)
                .bind(gamers)
                .bind(&uid_prefix)
                .execute(&mut *tx)
                .await
                .context("inserting a batch")?;
        }
        tx.commit().await?;
        first = last + 1;
        eprintln!(
            "kgen-bench: {first} of {} rows ({:.0} s)",
            args.rows,
            started.elapsed().as_secs_f64()
        );
    }
    raise_balances(&mut conn, args.rows, gamers).await?;
    match backend {
        Backend::Postgres => {
            conn.execute("vacuum analyze transfers, wallet_entries")
                .await?
        }
        Backend::Sqlite => conn.execute("pragma wal_checkpoint(truncate)").await?,
    };
    println!(
        "RESULT rows={} gamers={gamers} seconds={:.1}",
        args.rows,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Numbers the client's gamers (those whose user id starts with `prefix`) 0..n with
/// the ids of their EARNED bucket and issuing shard, in a temporary table; returns n.
async fn map_gamers(
    conn: &mut sqlx::AnyConnection,
    client_id: &str,
    prefix: &str,
) -> anyhow::Result<i64> {
    conn.execute(
        "create temporary table bench_map (
             k bigint primary key,
             gamer_id bigint not null,
             debit_id bigint not null,
             credit_id bigint not null,
             from_address text not null,
             to_address text not null
         )",
    )
    .await?;
    sqlx::query(&format!(
        "insert into bench_map (k, gamer_id, debit_id, credit_id, from_address, to_address)
         select row_number() over (order by g.id) - 1, g.id, d.id, c.id, d.address, c.address
         from gamers g
         join accounts c on c.kind = 'EARNED' and c.client_id = g.client_id
                        and c.owner_id = g.id
         join accounts d on d.kind = 'ISSUING' and d.client_id = g.client_id
                        and d.owner_id = g.id % {ISSUING_SHARDS}
         where g.client_id = $1
           and substr(g.user_id, 1, cast($2 as integer)) = $3"
    ))
    .bind(client_id)
    .bind(i64::try_from(prefix.len())?)
    .bind(prefix)
    .execute(&mut *conn)
    .await?;
    Ok(sqlx::query_scalar("select count(*) from bench_map")
        .fetch_one(&mut *conn)
        .await?)
}

/// Raises each EARNED bucket by the rows it received and lowers each issuing shard by
/// as much: gamer `k` received `rows / n` rows, plus one if `k < rows mod n`.
async fn raise_balances(
    conn: &mut sqlx::AnyConnection,
    rows: i64,
    gamers: i64,
) -> anyhow::Result<()> {
    let received = "$1 + case when m.k < $2 then 1 else 0 end";
    let mut tx = conn.begin().await?;
    sqlx::query(&format!(
        "update accounts
         set balance = balance + (select {received} from bench_map m
                                  where m.credit_id = accounts.id)
         where id in (select credit_id from bench_map)"
    ))
    .bind(rows / gamers)
    .bind(rows % gamers)
    .execute(&mut *tx)
    .await?;
    sqlx::query(&format!(
        "update accounts
         set balance = balance - (select cast(sum({received}) as bigint) from bench_map m
                                  where m.debit_id = accounts.id)
         where id in (select debit_id from bench_map)"
    ))
    .bind(rows / gamers)
    .bind(rows % gamers)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}
