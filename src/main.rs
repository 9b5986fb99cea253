//! The `kgen-loyalty` command line: `serve`, `clients …`, `keys rotate` and
//! `ledger verify` (CONTRACT Part 2, "Running it"). Only this file reads the
//! environment (through clap).

use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use kgen_loyalty::config::{Config, LogFormat, DEFAULT_DATABASE_URL};
use kgen_loyalty::domain::clients::{self, NewClient};
use kgen_loyalty::domain::console::{audit, operators};
use kgen_loyalty::domain::secrets::ServerKeys;
use kgen_loyalty::storage::{Db, PoolSettings};
use serde_json::json;

/// mimalloc: hands freed memory back to the system (glibc keeps the buffers of a
/// burst of connections for good) and makes the many small allocations of JSON
/// and row decoding cheaper.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// `mi_option_purge_delay` in mimalloc.h's `mi_option_e`, the same in v2 and v3
/// (libmimalloc-sys names no constant for it); its default is 1000 ms in v3 (the
/// one built here), 10 ms in v2.
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Makes mimalloc return freed pages to the system at once. By default it waits
/// a while and then purges only when the thread allocates again, so after a burst
/// of connections an idle server kept their buffers (RSS 45 MB instead of 25 MB
/// after 1 000 connections closed); purging at once costs no measurable speed.
/// Transparent huge pages off for the process too: mimalloc asks for them on its
/// arenas (before `main`), every 2 MiB region touched at all then becomes resident,
/// and khugepaged kept collapsing an idle server's heap into huge pages (RSS 46 MB
/// after a load, 65 MB twenty idle seconds later).
#[expect(unsafe_code, reason = "the one FFI call that sets a mimalloc option")]
fn return_freed_memory_at_once() {
    // SAFETY: mi_option_get/mi_option_set read and store one integer option; they
    // are thread-safe and take no pointers.
    unsafe {
        let default = libmimalloc_sys::mi_option_get(MI_OPTION_PURGE_DELAY);
        debug_assert!(
            matches!(default, 10 | 1000),
            "not the purge delay: {default}"
        );
        libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, 0);
    }
    // SAFETY: prctl with PR_SET_THP_DISABLE takes integers only; failure (an old
    // kernel) leaves THP as it was, which costs memory, not correctness.
    unsafe {
        libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0);
    }
}

#[derive(Debug, Parser)]
#[command(
    name = "kgen-loyalty",
    version,
    about = "KGeN Loyalty Protocol V1 server"
)]
struct Cli {
    /// Database: `sqlite://FILE` (default: kgen-loyalty.db here) or `postgres://…`.
    #[arg(long, global = true, env = "DATABASE_URL", default_value = DEFAULT_DATABASE_URL)]
    database_url: String,

    /// PostgreSQL behind a transaction-pooling PgBouncer: a URL of the same
    /// database that reaches PostgreSQL directly, for the wallet-change LISTEN and
    /// the migrations (default: the database URL).
    #[arg(
        long,
        global = true,
        env = "KGEN_DB_DIRECT_URL",
        hide_env_values = true
    )]
    db_direct_url: Option<String>,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the server.
    Serve(Box<Config>),
    /// Manage game clients.
    #[command(subcommand)]
    Clients(ClientsCommand),
    /// Manage token signing keys.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Check the ledger.
    #[command(subcommand)]
    Ledger(LedgerCommand),
    /// Manage console operators.
    #[command(subcommand)]
    Operators(OperatorsCommand),
}

#[derive(Debug, Subcommand)]
enum OperatorsCommand {
    /// Create an operator and print its generated password (shown only now).
    Create {
        /// Email (unique, case-insensitively).
        #[arg(long)]
        email: String,
        /// `admin` (changes) or `viewer` (reads).
        #[arg(long)]
        role: String,
        /// A game the operator is scoped to (repeat for more; none: every game, admins only).
        #[arg(long = "client")]
        clients: Vec<String>,
        /// Print JSON only.
        #[arg(long)]
        json: bool,
    },
    /// List operators (never passwords).
    List {
        /// Print JSON only.
        #[arg(long)]
        json: bool,
    },
    /// Disable an operator; its console sessions end at once.
    Disable {
        /// Email.
        email: String,
    },
    /// Give an operator a new generated password; its sessions end at once.
    ResetPassword {
        /// Email.
        email: String,
        /// Print JSON only.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
enum ClientsCommand {
    /// Create a client and print its id and secret (the secret is shown only now).
    Create {
        /// Display name of the game.
        #[arg(long)]
        name: String,
        /// Explicit client id (default: a new UUID).
        #[arg(long)]
        id: Option<String>,
        /// KCash credited to each new gamer.
        #[arg(long, default_value_t = 50)]
        welcome_bonus: i64,
        /// Least withdrawable balance a gamer may withdraw.
        #[arg(long, default_value_t = 300)]
        min_withdraw: i64,
        /// Print JSON only.
        #[arg(long)]
        json: bool,
        /// Wallet xpub, as for `serve`.
        #[arg(long, env = "KGEN_WALLET_XPUB", hide = true)]
        wallet_xpub: Option<String>,
    },
    /// List clients (never their secrets).
    List {
        /// Print JSON only.
        #[arg(long)]
        json: bool,
    },
    /// Give a client a new secret; the old one stops working.
    RotateSecret {
        /// Client id.
        id: String,
        /// Print JSON only.
        #[arg(long)]
        json: bool,
    },
    /// Disable a client; its gamers' tokens stop working too.
    Disable {
        /// Client id.
        id: String,
    },
}

#[derive(Debug, Subcommand)]
enum KeysCommand {
    /// Sign new tokens with a new key; tokens of older keys stay valid until they expire.
    Rotate,
}

#[derive(Debug, Subcommand)]
enum LedgerCommand {
    /// Check every ledger invariant over the whole database.
    Verify,
}

fn init_logging(format: LogFormat, default_filter: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_filter));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

/// The pools of a CLI command: the defaults, with the direct URL if one is set.
fn cli_pool_settings(cli: &Cli) -> PoolSettings {
    PoolSettings {
        direct_url: cli.db_direct_url.clone(),
        ..PoolSettings::default()
    }
}

async fn open_db(url: &str, settings: &PoolSettings) -> anyhow::Result<Db> {
    let db = Db::connect(url, settings).await?;
    db.migrate().await?;
    Ok(db)
}

#[tokio::main]
async fn main() -> ExitCode {
    return_freed_memory_at_once();
    kgen_loyalty::storage::lite::without_memory_statistics();
    let cli = Cli::parse();
    match run(cli).await {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let pool_settings = cli_pool_settings(&cli);
    match cli.command {
        Command::Serve(config) => {
            init_logging(config.log_format, "info,sqlx=warn");
            serve(&cli.database_url, pool_settings.direct_url, *config).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Clients(command) => {
            init_logging(LogFormat::Text, "warn");
            let db = open_db(&cli.database_url, &pool_settings).await?;
            clients_command(&db, command).await
        }
        Command::Operators(command) => {
            init_logging(LogFormat::Text, "warn");
            let db = open_db(&cli.database_url, &pool_settings).await?;
            operators_command(&db, command).await
        }
        Command::Keys(KeysCommand::Rotate) => {
            init_logging(LogFormat::Text, "warn");
            let db = open_db(&cli.database_url, &pool_settings).await?;
            let kid = kgen_loyalty::domain::tokens::rotate_keys(&db).await?;
            cli_audit(&db, "keys.rotate", None, &kid).await?;
            println!("new signing keys are in use: {kid}");
            Ok(ExitCode::SUCCESS)
        }
        Command::Ledger(LedgerCommand::Verify) => {
            init_logging(LogFormat::Text, "warn");
            let db = open_db(&cli.database_url, &pool_settings).await?;
            let report = kgen_loyalty::domain::ledger::verify(&db).await?;
            print!("{report}");
            kgen_loyalty::storage::console::insert_verification(
                db.writer(),
                kgen_loyalty::storage::now_nanos(),
                report.holds(),
                &report.to_string(),
            )
            .await?;
            Ok(if report.holds() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
    }
}

async fn serve(
    database_url: &str,
    direct_url: Option<String>,
    config: Config,
) -> anyhow::Result<()> {
    let settings = PoolSettings {
        max_connections: config.db_max_connections,
        acquire_timeout: config.db_timeout(),
        direct_url,
    };
    let db = open_db(database_url, &settings).await?;
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("binding {}", config.listen))?;
    tracing::info!(
        listen = %listener.local_addr()?,
        backend = ?db.backend(),
        "kgen-loyalty listening"
    );
    let state = kgen_loyalty::state::AppState::new(db.clone(), config).await?;
    kgen_loyalty::app::serve(listener, state, shutdown_signal()).await?;
    db.close().await;
    tracing::info!("stopped");
    Ok(())
}

/// Resolves on SIGINT or SIGTERM.
async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut terminate =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                .expect("installing the SIGTERM handler");
        tokio::select! {
            _ = interrupt => {},
            _ = terminate.recv() => {},
        }
    }
    #[cfg(not(unix))]
    interrupt.await.ok();
    tracing::info!("shutdown signal received: finishing in-flight requests");
}

async fn clients_command(db: &Db, command: ClientsCommand) -> anyhow::Result<ExitCode> {
    match command {
        ClientsCommand::Create {
            name,
            id,
            welcome_bonus,
            min_withdraw,
            json,
            wallet_xpub,
        } => {
            let keys = ServerKeys::load(db, wallet_xpub.as_deref()).await?;
            let new = NewClient {
                id,
                name,
                welcome_bonus,
                min_withdraw,
            };
            let (client, secret) = clients::create_client(db, &keys.addresses, new).await?;
            cli_audit(db, "game.create", Some(&client.id), &client.id).await?;
            if json {
                let out = json!({
                    "client_id": client.id,
                    "client_secret": secret.expose(),
                    "name": client.name,
                });
                println!("{out}");
            } else {
                println!("client_id:     {}", client.id);
                println!("client_secret: {}", secret.expose());
                println!("name:          {}", client.name);
                println!("(the secret is shown only now; it is stored as a hash)");
            }
        }
        ClientsCommand::List { json } => {
            let rows = kgen_loyalty::storage::clients::list_clients(db.reader()).await?;
            if json {
                let list: Vec<_> = rows
                    .iter()
                    .map(|c| {
                        json!({
                            "client_id": c.id,
                            "name": c.name,
                            "welcome_bonus": c.welcome_bonus,
                            "min_withdraw": c.min_withdraw,
                            "disabled": c.is_disabled != 0,
                            "created_at": kgen_loyalty::domain::time::rfc3339(c.created_at),
                        })
                    })
                    .collect();
                println!("{}", serde_json::Value::Array(list));
            } else {
                for c in &rows {
                    let state = if c.is_disabled != 0 {
                        "disabled"
                    } else {
                        "enabled"
                    };
                    println!("{}\t{}\t{state}", c.id, c.name);
                }
            }
        }
        ClientsCommand::RotateSecret { id, json } => {
            let secret = clients::rotate_secret(db, &id).await?;
            cli_audit(db, "game.rotate_secret", Some(&id), &id).await?;
            if json {
                println!(
                    "{}",
                    json!({"client_id": id, "client_secret": secret.expose()})
                );
            } else {
                println!("client_id:     {id}");
                println!("client_secret: {}", secret.expose());
            }
        }
        ClientsCommand::Disable { id } => {
            clients::disable_client(db, &id).await?;
            cli_audit(db, "game.disable", Some(&id), &id).await?;
            println!("client {id} disabled");
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Writes a CLI command in the audit log (operator `cli`).
async fn cli_audit(
    db: &Db,
    action: &str,
    client_id: Option<&str>,
    target: &str,
) -> anyhow::Result<()> {
    let actor = audit::Actor::Cli;
    audit::record(db, &actor, action, client_id, target, json!({})).await?;
    Ok(())
}

async fn operators_command(db: &Db, command: OperatorsCommand) -> anyhow::Result<ExitCode> {
    match command {
        OperatorsCommand::Create {
            email,
            role,
            clients,
            json,
        } => {
            let role = operators::Role::parse(&role)?;
            let (operator, password) =
                operators::create_operator(db, &email, role, &clients).await?;
            let out = json!({
                "email": operator.row.email,
                "password": password.expose(),
                "role": operator.row.role,
                "clients": operator.clients,
            });
            if json {
                println!("{out}");
            } else {
                println!("email:    {}", operator.row.email);
                println!("password: {}", password.expose());
                println!("role:     {}", operator.row.role);
                println!("clients:  {}", operator.clients.join(", "));
                println!("(the password is shown only now; it is stored as an Argon2id hash)");
            }
        }
        OperatorsCommand::List { json } => {
            let list = operators::list_operators(db).await?;
            if json {
                let rows: Vec<_> = list
                    .iter()
                    .map(|o| {
                        json!({
                            "email": o.row.email,
                            "role": o.row.role,
                            "clients": o.clients,
                            "disabled": o.row.is_disabled != 0,
                            "created_at": kgen_loyalty::domain::time::rfc3339(o.row.created_at),
                        })
                    })
                    .collect();
                println!("{}", serde_json::Value::Array(rows));
            } else {
                for o in &list {
                    let state = if o.row.is_disabled != 0 {
                        "disabled"
                    } else {
                        "enabled"
                    };
                    let scope = if o.clients.is_empty() {
                        "*".to_owned()
                    } else {
                        o.clients.join(",")
                    };
                    println!("{}\t{}\t{scope}\t{state}", o.row.email, o.row.role);
                }
            }
        }
        OperatorsCommand::Disable { email } => {
            operators::disable_operator(db, &email).await?;
            println!("operator {email} disabled");
        }
        OperatorsCommand::ResetPassword { email, json } => {
            let password = operators::reset_password(db, &email).await?;
            if json {
                println!("{}", json!({"email": email, "password": password.expose()}));
            } else {
                println!("email:    {email}");
                println!("password: {}", password.expose());
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn verify_cli() {
        Cli::command().debug_assert();
    }
}
