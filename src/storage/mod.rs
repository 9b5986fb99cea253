//! Storage: the connection pools of the configured backend, migrations, and small
//! named SQL functions, one file per table group. Every function takes the executor
//! first and, where a tenant owns the rows, the client id: a foreign id looks exactly
//! like a missing one. SQL is written in the subset that SQLite and PostgreSQL share
//! (`$1` placeholders, bigint nanosecond timestamps, 0/1 flags).
//!
//! SQLite allows one writer at a time, so on SQLite every write transaction goes
//! through a pool of exactly one connection (`writer`): writers queue in the pool
//! instead of failing with `SQLITE_BUSY`, and reads use a separate pool. On
//! PostgreSQL both are the same pool.
//!
//! PostgreSQL behind PgBouncer in transaction pooling: a server connection is ours
//! only inside a transaction, so nothing here may rely on session state between
//! transactions. Two things do, and use a direct connection instead
//! ([`PoolSettings::direct_url`]): the LISTEN of wallet changes ([`changes`]) and
//! the migrations, whose runner holds a session advisory lock. Everything else is
//! plain statements and transactions; the statement cache is turned off in the
//! pooled URL (`statement-cache-capacity=0`, README "Running several servers").

pub mod changes;
pub mod claims;
pub mod clients;
pub mod console;
pub mod events;
pub mod gamers;
pub mod idempotency;
pub mod keys;
pub mod kgen_accounts;
pub mod kinds;
pub mod ledger;
pub mod lite;
pub mod otp;
pub mod pg;
pub mod sessions;
pub mod settings;
pub mod tracker;
pub mod webhooks;
pub mod withdrawals;

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{Any, AnyPool, Connection as _, Executor, Transaction};

/// A write transaction.
pub type Tx = Transaction<'static, Any>;

/// Which database engine a URL selects.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// Embedded SQLite file.
    Sqlite,
    /// PostgreSQL server.
    Postgres,
}

impl Backend {
    /// The backend a database URL names.
    pub fn of_url(url: &str) -> anyhow::Result<Backend> {
        if url.starts_with("sqlite:") {
            Ok(Backend::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Backend::Postgres)
        } else {
            anyhow::bail!("DATABASE_URL must start with sqlite: or postgres://")
        }
    }
}

/// How the pools are sized and how long a request may wait for a connection.
#[derive(Clone, Debug)]
pub struct PoolSettings {
    /// Most connections (PostgreSQL) or readers (SQLite).
    pub max_connections: u32,
    /// Wait for a connection at most this long; then the request answers 503.
    pub acquire_timeout: Duration,
    /// PostgreSQL: a URL of the same database that does not go through a
    /// transaction-pooling PgBouncer, for what needs a session of its own (the
    /// wallet-change LISTEN, the migrations' advisory lock). `None`: the database
    /// URL itself.
    pub direct_url: Option<String>,
}

impl Default for PoolSettings {
    fn default() -> PoolSettings {
        PoolSettings {
            max_connections: 16,
            acquire_timeout: Duration::from_secs(5),
            direct_url: None,
        }
    }
}

/// The database: a writer pool and a reader pool of one backend.
#[derive(Clone)]
pub struct Db {
    writer: AnyPool,
    reader: AnyPool,
    backend: Backend,
    /// Which wallets changed (see [`changes`]).
    changes: Arc<changes::WalletChanges>,
    /// PostgreSQL only: the session-keeping URL (see [`PoolSettings::direct_url`])
    /// where the server listens for wallet changes and runs migrations.
    direct_url: Option<Arc<str>>,
    /// SQLite only: the group-commit writer of claims and sessions.
    lite: Option<lite::LiteWriter>,
    /// PostgreSQL only: the group-commit lanes of claims and session starts.
    lanes: Option<pg::lanes::Lanes>,
    /// PostgreSQL only: new gamers' ids, taken ahead of their session start, and
    /// known gamers'.
    gamer_ids: Option<Arc<pg::sessions::GamerIds>>,
}

impl std::fmt::Debug for Db {
    // By hand: the direct URL may carry a password.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Db")
            .field("backend", &self.backend)
            .field("writer", &self.writer)
            .field("reader", &self.reader)
            .finish_non_exhaustive()
    }
}

/// Group-commit lanes of claims and session starts on PostgreSQL: batches in flight at once, one per
/// CPU core (a power of two from 2 to 16, so that lanes share no issuing shard of
/// `storage::ledger::ISSUING_SHARDS`). Each holds a pool connection only while it
/// runs; gamers are spread over the lanes so that lanes share no gamer. Fewer
/// lanes make bigger batches: on 2 cores, 2 lanes took 314 µs of PostgreSQL CPU
/// per claim and 4 lanes 405 µs (the same claims, issue 10).
fn pg_lanes() -> usize {
    let cores = std::thread::available_parallelism().map_or(2, usize::from);
    let lanes = 1 << cores.clamp(2, 16).ilog2();
    debug_assert_eq!(ledger::ISSUING_SHARDS as usize % lanes, 0);
    lanes
}

/// Most SQLite reader connections, whatever `KGEN_DB_MAX_CONNECTIONS` says.
const SQLITE_READERS_MAX: u32 = 4;

/// SQLite pragmas set on every connection: WAL so readers never block the writer,
/// `synchronous = FULL` so every acknowledged commit survives a power cut.
const SQLITE_PRAGMAS: &str = "pragma journal_mode = wal; pragma synchronous = full; \
     pragma foreign_keys = on; pragma busy_timeout = 10000;";

impl Db {
    /// Opens the pools for `url` (creating the SQLite file when missing).
    pub async fn connect(url: &str, settings: &PoolSettings) -> anyhow::Result<Db> {
        sqlx::any::install_default_drivers();
        let backend = Backend::of_url(url)?;
        let url = match backend {
            Backend::Sqlite if !url.contains("mode=") => {
                let separator = if url.contains('?') { '&' } else { '?' };
                format!("{url}{separator}mode=rwc")
            }
            _ => url.to_owned(),
        };
        if backend == Backend::Postgres && settings.direct_url.is_none() && is_pooled(&url) {
            anyhow::bail!(
                "DATABASE_URL turns the statement cache off (statement-cache-capacity=0), as \
                 behind a transaction-pooling PgBouncer: set KGEN_DB_DIRECT_URL to the same \
                 database without PgBouncer (the wallet-change LISTEN and the migrations need \
                 a session of their own; through PgBouncer, cached balances would miss other \
                 servers' changes)"
            );
        }
        let options = AnyConnectOptions::from_str(&url).context("parsing DATABASE_URL")?;
        let pool = |max: u32| {
            AnyPoolOptions::new()
                .max_connections(max)
                .min_connections(0)
                .acquire_timeout(settings.acquire_timeout)
                // A pooled connection is checked with a round trip before use, so one
                // that died in a failover (cut by HAProxy, or its server gone) is
                // dropped and replaced instead of failing the request.
                .test_before_acquire(true)
                .after_connect(move |conn, _meta| {
                    Box::pin(async move {
                        if backend == Backend::Sqlite {
                            conn.execute(SQLITE_PRAGMAS).await?;
                        }
                        Ok(())
                    })
                })
                .connect_lazy_with(options.clone())
        };
        let db = match backend {
            Backend::Sqlite => {
                let writer = pool(1);
                let busy = writer.clone();
                // A checked-out connection of the one-connection pool is a write
                // transaction in progress: the group-commit writer lets it finish.
                let others_writing = move || busy.size() > busy.num_idle() as u32;
                Db {
                    writer,
                    // Readers beyond a few add threads and page caches, not speed: each
                    // query already runs on its connection's own worker thread.
                    reader: pool(settings.max_connections.clamp(1, SQLITE_READERS_MAX)),
                    backend,
                    changes: Arc::new(changes::WalletChanges::new(true)),
                    direct_url: None,
                    lite: Some(lite::LiteWriter::open(sqlite_path(&url), others_writing)?),
                    lanes: None,
                    gamer_ids: None,
                }
            }
            Backend::Postgres => {
                let shared = pool(settings.max_connections.max(2));
                let shared_writer = shared.clone();
                let lanes = pg_lanes();
                Db {
                    writer: shared.clone(),
                    reader: shared,
                    backend,
                    changes: Arc::new(changes::WalletChanges::new(false)),
                    direct_url: Some(settings.direct_url.as_deref().unwrap_or(&url).into()),
                    lite: None,
                    lanes: Some(pg::lanes::Lanes::start(
                        shared_writer,
                        lanes,
                        settings.acquire_timeout,
                    )),
                    gamer_ids: Some(Arc::new(pg::sessions::GamerIds::new(lanes))),
                }
            }
        };
        // Fail fast on a wrong URL or an unreachable server.
        db.writer
            .acquire()
            .await
            .with_context(|| format!("connecting to the {backend:?} database"))?;
        Ok(db)
    }

    /// Applies the migrations of this backend that are not applied yet.
    pub async fn migrate(&self) -> anyhow::Result<()> {
        let migrator = match self.backend {
            Backend::Sqlite => sqlx::migrate!("./migrations/sqlite"),
            Backend::Postgres => sqlx::migrate!("./migrations/postgres"),
        };
        match &self.direct_url {
            // The runner holds a session advisory lock across its statements:
            // through a transaction-pooling PgBouncer, its unlock could reach
            // another server connection and leave the lock held there.
            Some(direct_url) => {
                let mut conn = sqlx::AnyConnection::connect(direct_url)
                    .await
                    .context("connecting to the direct database URL to migrate")?;
                migrator
                    .run(&mut conn)
                    .await
                    .context("running migrations")?;
                conn.close().await.ok();
            }
            None => migrator
                .run(&self.writer)
                .await
                .context("running migrations")?,
        }
        Ok(())
    }

    /// The backend of this database.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The pool for reads outside a write transaction.
    pub fn reader(&self) -> &AnyPool {
        &self.reader
    }

    /// The pool for single-statement writes.
    pub fn writer(&self) -> &AnyPool {
        &self.writer
    }

    /// On SQLite, the group-commit writer that runs claims and new sessions.
    pub fn lite(&self) -> Option<&lite::LiteWriter> {
        self.lite.as_ref()
    }

    /// PostgreSQL: the group-commit lanes of claims and session starts.
    pub fn lanes(&self) -> Option<&pg::lanes::Lanes> {
        self.lanes.as_ref()
    }

    /// PostgreSQL: new and known gamers' ids (see `pg::sessions`).
    pub fn gamer_ids(&self) -> Option<&pg::sessions::GamerIds> {
        self.gamer_ids.as_deref()
    }

    /// Which gamer wallets changed: note a generation before reading a wallet.
    pub fn wallet_changes(&self) -> &changes::WalletChanges {
        &self.changes
    }

    /// Records that `gamer_id`'s wallet changed; call after the commit.
    pub fn wallet_changed(&self, gamer_id: i64) {
        self.changes.changed(gamer_id);
    }

    /// On PostgreSQL, the task that follows other servers' wallet changes (run it
    /// for as long as wallet reads are cached); `None` on SQLite.
    pub fn follow_wallet_changes(&self) -> Option<impl std::future::Future<Output = ()> + 'static> {
        let url = self.direct_url.clone()?;
        Some(changes::follow_postgres(url, Arc::clone(&self.changes)))
    }

    /// Begins a read-only transaction on the reader pool whose statements all read
    /// one snapshot: for an answer assembled from several queries (a page of rows
    /// and the rows under each), so that a write committed between them cannot make
    /// it contradict itself. SQLite's deferred transaction reads one WAL snapshot
    /// from its first read to its end.
    pub async fn begin_snapshot(&self) -> Result<Tx, sqlx::Error> {
        match self.backend {
            Backend::Sqlite => self.reader.begin().await,
            Backend::Postgres => {
                self.reader
                    .begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                    .await
            }
        }
    }

    /// Begins a write transaction. On SQLite it takes the write lock at once
    /// (`BEGIN IMMEDIATE`): the group-commit writer (`storage::lite`) is a second
    /// writer connection, and a deferred transaction that has read first cannot
    /// wait for it (SQLite answers BUSY at once rather than upgrade its lock).
    pub async fn begin(&self) -> Result<Tx, sqlx::Error> {
        match self.backend {
            Backend::Sqlite => self.writer.begin_with("BEGIN IMMEDIATE").await,
            Backend::Postgres => self.writer.begin().await,
        }
    }

    /// PostgreSQL: begins a transaction that holds the gamer's row lock (what
    /// serialises one gamer's claims and withdrawals). Statements after it take
    /// their snapshots after the lock, so they see every write of the gamer's
    /// previous transaction.
    pub async fn begin_locking_gamer(&self, gamer_id: i64) -> Result<Tx, sqlx::Error> {
        debug_assert_eq!(self.backend, Backend::Postgres);
        // An integer formatted into the text: nothing to escape.
        begin_then(
            &self.writer,
            format!("select 1 from gamers where id = {gamer_id} for no key update"),
        )
        .await
    }

    /// Whether the database answers a trivial query.
    pub async fn ping(&self) -> bool {
        sqlx::query("select 1").execute(&self.reader).await.is_ok()
    }

    /// Closes both pools.
    pub async fn close(&self) {
        self.writer.close().await;
        self.reader.close().await;
    }
}

/// Whether a PostgreSQL URL is set up for a transaction-pooling PgBouncer: its
/// statement cache is off (README "Running several servers").
fn is_pooled(url: &str) -> bool {
    url.split_once('?').is_some_and(|(_, query)| {
        query
            .split('&')
            .any(|pair| pair.replace(' ', "") == "statement-cache-capacity=0")
    })
}

/// Begins a transaction, then runs `statement` in it (a lock), in two round trips.
///
/// Not as one `begin; …` string given to `begin_with`: when the statement after
/// `begin` fails (25006 on a node that stopped being the primary, a lock error),
/// sqlx counts no transaction and so never rolls it back, and the connection goes
/// back to the pool inside an aborted transaction, failing every later use
/// ("current transaction is aborted", seen in the failover test). Here the failed
/// statement drops a real `Transaction`, which rolls back.
pub fn begin_then(
    pool: &AnyPool,
    statement: String,
) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<Tx, sqlx::Error>> + Send>> {
    let pool = pool.clone();
    // Boxed as `Send` by name: the lanes spawn this future, and the compiler cannot
    // prove an `async fn` borrowing the transaction's connection `Send` for them.
    Box::pin(async move {
        let mut tx = pool.begin().await?;
        // Not kept as a prepared statement: the text differs with every id list.
        sqlx::query(&statement)
            .persistent(false)
            .execute(&mut *tx)
            .await?;
        Ok(tx)
    })
}

/// The file of a `sqlite:` URL (`sqlite://FILE?options` or `sqlite:FILE`).
fn sqlite_path(url: &str) -> &str {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .unwrap_or(url);
    rest.split('?').next().unwrap_or(rest)
}

/// Whether a database error means "try the transaction again": a PostgreSQL
/// serialization failure or deadlock, or SQLite still busy after its timeout.
pub fn is_contention(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Database(db) => {
            let code = db.code().unwrap_or_default();
            matches!(&*code, "40001" | "40P01" | "5" | "6" | "517" | "261")
        }
        _ => false,
    }
}

/// Whether a database error is a violation of a unique constraint.
pub fn is_unique_violation(error: &sqlx::Error) -> bool {
    matches!(error, sqlx::Error::Database(db) if db.is_unique_violation())
}

/// Whether a database error means the database cannot be reached right now.
pub fn is_unavailable(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) => true,
        sqlx::Error::Tls(_) | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(db) => {
            let code = db.code().unwrap_or_default();
            // PostgreSQL: connection exceptions (08…), shutdown (57P0…), too many
            // connections (53300), cannot connect now (57P03), and a write reaching
            // a node that is no longer the primary (25006, read-only transaction:
            // a connection opened just before a failover or demotion).
            code.starts_with("08") || code.starts_with("57P") || code == "53300" || code == "25006"
        }
        _ => false,
    }
}

/// Locks `mutex`; one poisoned by a panic is taken as it is: the state behind
/// each of these locks (spare ids, remembered client rows, the webhook deliverer's
/// counts, lanes, clients and checked targets) is valid between any two statements.
pub(crate) fn lock<T>(mutex: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The current time in nanoseconds since the Unix epoch, as stored.
pub fn now_nanos() -> i64 {
    chrono::Utc::now()
        .timestamp_nanos_opt()
        .expect("the clock is between 1677 and 2262")
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    #[test]
    fn a_url_without_statement_cache_counts_as_behind_pgbouncer() {
        assert!(super::is_pooled(
            "postgres://u@h:6432/db?statement-cache-capacity=0"
        ));
        assert!(super::is_pooled(
            "postgres://u@h/db?sslmode=disable&statement-cache-capacity=0"
        ));
        assert!(!super::is_pooled("postgres://u@h/db"));
        assert!(!super::is_pooled(
            "postgres://u@h/db?statement-cache-capacity=100"
        ));
    }

    /// The two migration folders hold the same numbers, and each PostgreSQL file
    /// is its SQLite twin with the one spelling that differs (identity keys).
    #[test]
    fn migration_folders_match() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations");
        let names = |backend: &str| -> Vec<String> {
            let mut names: Vec<String> = std::fs::read_dir(root.join(backend))
                .expect("the migrations folder exists")
                .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
                .collect();
            names.sort();
            names
        };
        assert_eq!(names("sqlite"), names("postgres"));
        // Migrations whose backends differ on purpose: 0002 exists on PostgreSQL
        // only (SQLite's file is a no-op); 0009 queues events by trigger on SQLite,
        // where PostgreSQL's statements write the queue row themselves.
        const DIFFER: [&str; 2] = ["0002_wallet_change_notices.sql", "0009_webhook_queue.sql"];
        for name in names("sqlite") {
            if DIFFER.contains(&name.as_str()) {
                continue;
            }
            let sqlite = std::fs::read_to_string(root.join("sqlite").join(&name)).unwrap();
            let postgres = std::fs::read_to_string(root.join("postgres").join(&name)).unwrap();
            let translated = sqlite.replace(
                "integer primary key autoincrement",
                "bigint generated always as identity primary key",
            );
            assert_eq!(translated, postgres, "{name} differs between the backends");
        }
    }
}
