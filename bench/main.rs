//! `kgen-bench`: the helper binary of `scripts/bench` (issue 7). It is not part of the
//! server. It seeds a running server through its API, runs the ceilings (the
//! minimal ledger transaction through rusqlite; a claim or a new session through the
//! server's own code without HTTP), and grows the ledger for the `--big`
//! comparison. Every run prints one `RESULT key=value …` line that the script parses.

mod burst;
mod ceiling;
mod grow;
mod ledger;
mod receiver;
mod seed;

use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use sqlx::Connection as _;

#[derive(Debug, Parser)]
#[command(name = "kgen-bench", about = "Helper of scripts/bench")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Create one rewardable event and N gamers of a client through the API, and
    /// append one `access_token eventID` line per gamer to a file.
    Seed(seed::SeedArgs),
    /// Own-statements claim rate: the server's claim code, no HTTP, in a loop.
    RawClaims(ceiling::ClaimArgs),
    /// Own-statements session rate: the server's new-session code, no HTTP.
    RawSessions(ceiling::SessionArgs),
    /// The burst: N gamers claim at the same moment.
    Burst(burst::BurstArgs),
    /// Write ceiling on SQLite: the minimal ledger transaction through rusqlite.
    LedgerSqlite(ledger::LedgerArgs),
    /// Append rows to `transfers` and `wallet_entries` of a client's gamers.
    GrowLedger(grow::GrowArgs),
    /// The webhook receiver: answers every POST 200 and counts it (GET / says how many).
    Receiver(receiver::ReceiverArgs),
    /// Print the first column of the first row of a query (an integer).
    Scalar {
        /// Database URL, as the server takes it.
        #[arg(long, env = "DATABASE_URL")]
        database_url: String,
        /// The query.
        sql: String,
    },
}

#[tokio::main]
async fn main() -> ExitCode {
    kgen_loyalty::storage::lite::without_memory_statistics();
    match run(Cli::parse()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("kgen-bench: {error:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Seed(args) => seed::run(args).await,
        Command::RawClaims(args) => ceiling::run_claims(args).await,
        Command::RawSessions(args) => ceiling::run_sessions(args).await,
        Command::Burst(args) => burst::run(args).await,
        Command::LedgerSqlite(args) => ledger::run(args).await,
        Command::GrowLedger(args) => grow::run(args).await,
        Command::Receiver(args) => receiver::run(args).await,
        Command::Scalar { database_url, sql } => {
            let mut conn = connect_one(&database_url).await?;
            let value: i64 = sqlx::query_scalar(&sql)
                .fetch_one(&mut conn)
                .await
                .with_context(|| format!("running {sql}"))?;
            println!("{value}");
            Ok(())
        }
    }
}

/// One plain connection (no pool) to the database of `url`.
async fn connect_one(url: &str) -> anyhow::Result<sqlx::AnyConnection> {
    sqlx::any::install_default_drivers();
    sqlx::AnyConnection::connect(url)
        .await
        .with_context(|| format!("connecting to {url}"))
}
