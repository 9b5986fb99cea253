//! The SQLite group-commit writer: one thread owns a rusqlite connection (WAL,
//! `synchronous = FULL`) and runs every claim and new-gamer session. It takes all
//! the write jobs queued since its last commit and runs them in ONE transaction,
//! each inside its own savepoint: a job that fails (a refused claim) rolls back to
//! its savepoint alone and its neighbours keep their writes. One commit (one fsync)
//! covers the batch; only then does each caller get its answer. If the commit
//! fails, every member of the batch is told so and nothing of it is written.
//!
//! The batch size adapts by itself: a lone job is run at once (nothing waits for
//! company); jobs that arrive while a commit is being synced queue up and form the
//! next batch. sqlx keeps serving reads and the rarer writes; those take SQLite's
//! write lock through `busy_timeout` like any second writer.
//!
//! WAL checkpoints run on a thread of their own (`kgen-sqlite-checkpoint`, with its
//! own connection): SQLite's automatic checkpoint would run inside the writer's
//! commit, and every batch queued behind it would wait for its copying and fsync.

pub mod claims;
pub mod clients;
pub mod reader;
pub mod sessions;

use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use rusqlite::{Connection, ToSql};
use tokio::sync::{mpsc, oneshot};

/// Most jobs committed together.
const MAX_BATCH: usize = 512;

/// How long the writer waits at most, before a batch, for a sqlx write
/// transaction in progress to end, and how often it looks.
const YIELD_AT_MOST: Duration = Duration::from_millis(200);
const YIELD_STEP: Duration = Duration::from_micros(200);

/// Jobs waiting for the writer at most (then callers wait to enqueue).
const QUEUE: usize = 8192;

/// The least time between two checkpoints: under load the WAL grows by a few
/// thousand pages a second, about what SQLite's automatic checkpoint (1000 pages)
/// would copy as often.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(250);

/// The size the WAL file is kept near (see [`WalLimit`]).
const WAL_LIMIT_BYTES: u64 = 64 * 1024 * 1024;

/// How long the writer waits, at most, for readers to leave the WAL when it
/// finishes a checkpoint itself, and how long it then leaves before trying again.
const WAL_RESTART_WAIT: Duration = Duration::from_millis(20);
const WAL_RESTART_BACKOFF: Duration = Duration::from_secs(1);

/// Turns SQLite's memory statistics off, for the whole process: with them on,
/// every allocation and free of SQLite's takes one global mutex, 10–12 % of the
/// writer thread's time in a profile of claims. Nothing here reads them. Call it
/// first thing in `main`, before any SQLite connection opens and while no other
/// thread uses SQLite; once SQLite is initialized the call changes nothing.
#[expect(unsafe_code, reason = "the one FFI call that configures SQLite")]
pub fn without_memory_statistics() {
    // SAFETY: sqlite3_config with SQLITE_CONFIG_MEMSTATUS takes one int; it must run
    // before sqlite3_initialize and not race other SQLite calls, which the caller
    // promises (see above). Afterwards it returns SQLITE_MISUSE and does nothing.
    let rc = unsafe {
        rusqlite::ffi::sqlite3_config(rusqlite::ffi::SQLITE_CONFIG_MEMSTATUS, 0 as std::ffi::c_int)
    };
    if rc != rusqlite::ffi::SQLITE_OK {
        tracing::debug!(
            rc,
            "SQLite was initialized already: memory statistics stay on"
        );
    }
}

/// Why a job got no answer of its own.
#[derive(Debug, thiserror::Error)]
pub enum WriteFailed {
    /// The batch holding the job did not commit: nothing of it was written.
    #[error("the batch did not commit: {0}")]
    NotCommitted(String),
    /// The writer thread is gone.
    #[error("the SQLite writer has stopped")]
    Stopped,
}

/// A queued job: its work, then its answer once the batch's fate is known.
trait Job: Send {
    /// Runs the work; whether its writes stay.
    fn run(&mut self, conn: &Connection) -> bool;
    /// Its writes were rolled back after all: it must not answer success.
    fn lose(&mut self);
    /// Answers the caller: `Ok` once the batch committed, else why not.
    fn answer(self: Box<Self>, committed: Result<(), String>);
}

struct Pending<F, T, E> {
    work: Option<F>,
    result: Option<Result<T, E>>,
    reply: oneshot::Sender<Result<Result<T, E>, String>>,
}

impl<F, T, E> Job for Pending<F, T, E>
where
    F: FnOnce(&Connection) -> Result<T, E> + Send,
    T: Send,
    E: Send,
{
    fn run(&mut self, conn: &Connection) -> bool {
        let Some(work) = self.work.take() else {
            return false;
        };
        let result = work(conn);
        let keep = result.is_ok();
        self.result = Some(result);
        keep
    }

    fn lose(&mut self) {
        self.result = None;
    }

    fn answer(self: Box<Self>, committed: Result<(), String>) {
        let answer = match (committed, self.result) {
            (Ok(()), Some(result)) => Ok(result),
            (Ok(()), None) => Err("the job did not run".to_owned()),
            (Err(why), _) => Err(why),
        };
        let _ = self.reply.send(answer);
    }
}

/// Handle of the writer thread; cheap to clone.
#[derive(Clone, Debug)]
pub struct LiteWriter {
    jobs: mpsc::Sender<Box<dyn Job>>,
    faults: Arc<AtomicU32>,
    /// Taken by the writer before it forms a batch; a test holds it to let jobs
    /// queue up, so that they form one batch.
    gate: Arc<Mutex<()>>,
    /// The most jobs one batch has held.
    largest_batch: Arc<AtomicUsize>,
    /// New gamers' ids, taken ahead of their session start's job.
    gamer_ids: Arc<sessions::GamerIds>,
    /// Clients whose secret was presented lately.
    known_clients: Arc<clients::KnownClients>,
    /// The reader thread, for reads on the path of a request.
    reader: reader::LiteReader,
}

impl LiteWriter {
    /// Opens the writer's own connection to the SQLite file at `path` and starts
    /// its thread.
    pub fn open(
        path: &str,
        others_writing: impl Fn() -> bool + Send + 'static,
    ) -> anyhow::Result<LiteWriter> {
        LiteWriter::open_with_wal_limit(path, others_writing, WAL_LIMIT_BYTES)
    }

    /// [`LiteWriter::open`], keeping the WAL file near `wal_limit` bytes.
    fn open_with_wal_limit(
        path: &str,
        others_writing: impl Fn() -> bool + Send + 'static,
        wal_limit: u64,
    ) -> anyhow::Result<LiteWriter> {
        let conn = Connection::open(path)?;
        let checkpointer = Checkpointer::start(path);
        // `temp_store = memory` keeps each job's savepoint sub-journal in memory:
        // on a file it spilled to a temporary file past 64 KiB, 10 % of the writer's
        // CPU under webhook load. Durability is the WAL's and is unchanged: the
        // sub-journal only undoes a failed job inside the open batch.
        conn.execute_batch(
            "pragma journal_mode = wal; pragma synchronous = full; pragma foreign_keys = on; \
             pragma temp_store = memory;",
        )?;
        conn.busy_timeout(WRITER_BUSY_TIMEOUT)?;
        conn.execute_batch(&format!("pragma journal_size_limit = {wal_limit}"))?;
        let wal = WalLimit {
            wal: std::path::PathBuf::from(format!("{path}-wal")),
            bytes: wal_limit,
            next_try: std::time::Instant::now(),
            checkpointing: checkpointer.as_ref().map(|it| Arc::clone(&it.running)),
        };
        if checkpointer.is_some() {
            conn.execute_batch("pragma wal_autocheckpoint = 0")?;
        }
        conn.set_prepared_statement_cache_capacity(64);
        let faults = Arc::new(AtomicU32::new(0));
        let hook_faults = Arc::clone(&faults);
        // A commit hook that returns true turns the commit into a rollback: how a
        // test makes a batch's commit fail for real (see `fail_next_commits`).
        conn.commit_hook(Some(move || {
            hook_faults
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_ok()
        }));
        let (jobs, queue) = mpsc::channel(QUEUE);
        let writer = LiteWriter {
            jobs,
            faults,
            gate: Arc::default(),
            largest_batch: Arc::default(),
            gamer_ids: Arc::default(),
            known_clients: Arc::default(),
            reader: reader::LiteReader::open(path)?,
        };
        let (gate, largest) = (Arc::clone(&writer.gate), Arc::clone(&writer.largest_batch));
        std::thread::Builder::new()
            .name("kgen-sqlite-writer".into())
            .spawn(move || {
                run(
                    &conn,
                    queue,
                    &gate,
                    &largest,
                    &others_writing,
                    checkpointer,
                    wal,
                );
            })?;
        Ok(writer)
    }

    /// Runs `work` inside the next batch and returns its result after the batch
    /// committed. An `Err` from `work` rolls back its own writes only.
    pub async fn write<T, E>(
        &self,
        work: impl FnOnce(&Connection) -> Result<T, E> + Send + 'static,
    ) -> Result<Result<T, E>, WriteFailed>
    where
        T: Send + 'static,
        E: Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let job: Box<dyn Job> = Box::new(Pending {
            work: Some(work),
            result: None,
            reply,
        });
        self.jobs
            .send(job)
            .await
            .map_err(|_| WriteFailed::Stopped)?;
        match answer.await {
            Ok(Ok(result)) => Ok(result),
            Ok(Err(why)) => Err(WriteFailed::NotCommitted(why)),
            Err(_) => Err(WriteFailed::Stopped),
        }
    }

    /// Makes the next `count` batch commits fail (SQLite rolls them back): for
    /// tests of what callers see when a commit fails.
    #[doc(hidden)]
    pub fn fail_next_commits(&self, count: u32) {
        self.faults.store(count, Ordering::SeqCst);
    }

    /// Holds the writer before its next batch until the guard is dropped, so that
    /// the jobs sent meanwhile form one batch: for tests.
    #[doc(hidden)]
    pub fn hold(&self) -> Hold<'_> {
        Hold(self.gate.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// Jobs waiting in the queue (not counting one the writer has taken).
    pub fn queued(&self) -> usize {
        self.jobs.max_capacity() - self.jobs.capacity()
    }

    /// New gamers' ids (see [`sessions::GamerIds`]).
    pub fn gamer_ids(&self) -> &sessions::GamerIds {
        &self.gamer_ids
    }

    /// Clients whose secret was presented lately (see [`clients::KnownClients`]).
    pub fn known_clients(&self) -> &clients::KnownClients {
        &self.known_clients
    }

    /// The reader thread of the same file.
    pub fn reader(&self) -> &reader::LiteReader {
        &self.reader
    }

    /// The most jobs one batch has held so far.
    pub fn largest_batch(&self) -> usize {
        self.largest_batch.load(Ordering::Relaxed)
    }
}

/// Keeps the writer from forming its next batch while it lives (see
/// [`LiteWriter::hold`]). Holding it across an await is its purpose: the writer is
/// a thread of its own, never a task that the holder could block.
#[doc(hidden)]
#[derive(Debug)]
pub struct Hold<'a>(#[allow(dead_code)] MutexGuard<'a, ()>);

/// The writer thread: a batch per wake-up, until every handle is dropped.
fn run(
    conn: &Connection,
    mut queue: mpsc::Receiver<Box<dyn Job>>,
    gate: &Mutex<()>,
    largest: &AtomicUsize,
    others_writing: &dyn Fn() -> bool,
    mut checkpointer: Option<Checkpointer>,
    mut wal: WalLimit,
) {
    while let Some(first) = queue.blocking_recv() {
        drop(gate.lock().unwrap_or_else(PoisonError::into_inner));
        // Let a write transaction of the sqlx pool in: SQLite's busy handler
        // sleeps, so without this, back-to-back batches would starve it.
        let mut waited = Duration::ZERO;
        while others_writing() && waited < YIELD_AT_MOST {
            std::thread::sleep(YIELD_STEP);
            waited += YIELD_STEP;
        }
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match queue.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        largest.fetch_max(batch.len(), Ordering::Relaxed);
        run_batch(conn, batch);
        wal.keep(conn);
        if checkpointer.as_ref().is_some_and(|it| !it.poke()) {
            tracing::error!("the checkpoint thread has stopped: the writer checkpoints itself");
            let _ = conn.execute_batch("pragma wal_autocheckpoint = 1000");
            checkpointer = None;
        }
    }
}

/// How long the writer waits for SQLite's write lock (a sqlx write in progress).
const WRITER_BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// Keeps the WAL file near a size. Under steady load the checkpoint thread's
/// PASSIVE checkpoints copy frames into the database but never let the WAL start
/// over, since another batch always follows: the file grew by a gigabyte in ten
/// seconds of session starts. Past the limit the writer, between two batches,
/// finishes the checkpoint itself (RESTART: what is left since the last passive
/// one, then it waits briefly for readers to leave the WAL), so that the next
/// batch writes the WAL from its start and `journal_size_limit` truncates it.
struct WalLimit {
    /// The WAL file.
    wal: std::path::PathBuf,
    /// Its size limit.
    bytes: u64,
    /// No restart before this (after one that readers blocked).
    next_try: std::time::Instant,
    /// Held by the checkpoint thread during its passive checkpoint. A restart waits
    /// for it: SQLite refuses a checkpoint while another runs, and that refusal
    /// looked like a reader's, putting the restart off by a whole backoff while the
    /// WAL grew (seen in a test that wrote 8 MiB in under a second).
    checkpointing: Option<Arc<Mutex<()>>>,
}

impl WalLimit {
    /// Restarts the WAL if it is over the limit (called between batches).
    fn keep(&mut self, conn: &Connection) {
        let over = std::fs::metadata(&self.wal).is_ok_and(|file| file.len() > self.bytes);
        if !over || std::time::Instant::now() < self.next_try {
            return;
        }
        let _alone = self.checkpointing.as_deref().map(crate::storage::lock);
        let restarted = conn.busy_timeout(WAL_RESTART_WAIT).and_then(|()| {
            conn.query_row("pragma wal_checkpoint(restart)", [], |row| {
                row.get::<_, i64>(0)
            })
        });
        if let Err(error) = conn.busy_timeout(WRITER_BUSY_TIMEOUT) {
            tracing::error!(%error, "the writer's busy timeout could not be restored");
        }
        match restarted {
            Ok(0) => {}
            Ok(_) => {
                tracing::debug!("a reader kept the WAL from restarting; trying again later");
                self.next_try = std::time::Instant::now() + WAL_RESTART_BACKOFF;
            }
            Err(error) => {
                tracing::warn!(%error, "the WAL could not be restarted");
                self.next_try = std::time::Instant::now() + WAL_RESTART_BACKOFF;
            }
        }
    }
}

/// Wakes the checkpoint thread after commits; dropping it stops the thread.
struct Checkpointer {
    poke: std::sync::mpsc::SyncSender<()>,
    /// Held while a checkpoint runs (see [`WalLimit::checkpointing`]).
    running: Arc<Mutex<()>>,
}

impl Checkpointer {
    /// Opens the checkpoint thread's connection and starts it; `None` (and the
    /// writer keeps SQLite's automatic checkpoint) if either fails.
    fn start(path: &str) -> Option<Checkpointer> {
        let opened = Connection::open(path).and_then(|conn| {
            conn.busy_timeout(Duration::from_secs(1))?;
            Ok(conn)
        });
        let conn = match opened {
            Ok(conn) => conn,
            Err(error) => {
                tracing::warn!(%error, "no checkpoint thread: the writer checkpoints itself");
                return None;
            }
        };
        let (poke, pokes) = std::sync::mpsc::sync_channel(1);
        let running = Arc::new(Mutex::new(()));
        let held = Arc::clone(&running);
        let spawned = std::thread::Builder::new()
            .name("kgen-sqlite-checkpoint".into())
            .spawn(move || {
                while pokes.recv().is_ok() {
                    // PASSIVE: copies what no reader still needs and never blocks
                    // the writer; what is left waits for the next round.
                    let checkpointed = {
                        let _running = crate::storage::lock(&held);
                        conn.query_row("pragma wal_checkpoint(passive)", [], |_| Ok(()))
                    };
                    if let Err(error) = checkpointed {
                        tracing::warn!(%error, "a WAL checkpoint failed");
                    }
                    std::thread::sleep(CHECKPOINT_EVERY);
                }
            });
        match spawned {
            Ok(_) => Some(Checkpointer { poke, running }),
            Err(error) => {
                tracing::warn!(%error, "no checkpoint thread: the writer checkpoints itself");
                None
            }
        }
    }

    /// Something was committed: a checkpoint is due (at most one is pending).
    /// False if the thread is gone.
    fn poke(&self) -> bool {
        !matches!(
            self.poke.try_send(()),
            Err(std::sync::mpsc::TrySendError::Disconnected(_))
        )
    }
}

/// One transaction for the batch, a savepoint per job, one commit.
fn run_batch(conn: &Connection, mut batch: Vec<Box<dyn Job>>) {
    let committed = match conn.execute_batch("begin immediate") {
        Ok(()) => {
            let kept: Vec<bool> = batch.iter_mut().map(|job| run_job(conn, job)).collect();
            commit(conn, kept.len())
        }
        Err(error) => {
            tracing::error!(%error, "a write batch could not begin");
            Err(error.to_string())
        }
    };
    for job in batch {
        job.answer(committed.clone());
    }
}

fn commit(conn: &Connection, jobs: usize) -> Result<(), String> {
    match conn.execute_batch("commit") {
        Ok(()) => Ok(()),
        Err(error) => {
            tracing::error!(%error, jobs, "a write batch did not commit");
            if !conn.is_autocommit() {
                let _ = conn.execute_batch("rollback");
            }
            Err(error.to_string())
        }
    }
}

/// Runs one job inside its savepoint; a failed (or panicking) job rolls back alone.
fn run_job(conn: &Connection, job: &mut Box<dyn Job>) -> bool {
    if let Err(error) = conn.execute_batch("savepoint job") {
        tracing::error!(%error, "a write job got no savepoint");
        return false;
    }
    let keep = std::panic::catch_unwind(AssertUnwindSafe(|| job.run(conn))).unwrap_or_else(|_| {
        tracing::error!("a write job panicked");
        false
    });
    let end = if keep {
        conn.execute_batch("release job")
    } else {
        conn.execute_batch("rollback to job; release job")
    };
    if let Err(error) = end {
        tracing::error!(%error, "ending a job's savepoint failed");
        let _ = conn.execute_batch("rollback to job; release job");
        job.lose();
        return false;
    }
    keep
}

/// Runs a prepared, cached statement with `$1`…`$n` bound to `params` by name (the
/// SQL the sqlx functions use, where `$2` may come before `$1`).
pub fn statement<'c>(
    conn: &'c Connection,
    sql: &str,
    params: &[&dyn ToSql],
) -> rusqlite::Result<rusqlite::CachedStatement<'c>> {
    const NAMES: [&str; 12] = [
        "$1", "$2", "$3", "$4", "$5", "$6", "$7", "$8", "$9", "$10", "$11", "$12",
    ];
    let mut stmt = conn.prepare_cached(sql)?;
    for (i, value) in params.iter().enumerate() {
        let name = match NAMES.get(i) {
            Some(name) => std::borrow::Cow::Borrowed(*name),
            None => std::borrow::Cow::Owned(format!("${}", i + 1)),
        };
        if let Some(index) = stmt.parameter_index(&name)? {
            stmt.raw_bind_parameter(index, value)?;
        }
    }
    Ok(stmt)
}

/// Runs a write statement; the number of rows it changed.
pub fn execute(conn: &Connection, sql: &str, params: &[&dyn ToSql]) -> rusqlite::Result<usize> {
    statement(conn, sql, params)?.raw_execute()
}

/// The first row of a query, mapped, if any.
pub fn query_row<T>(
    conn: &Connection,
    sql: &str,
    params: &[&dyn ToSql],
    map: impl FnOnce(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
) -> rusqlite::Result<Option<T>> {
    let mut stmt = statement(conn, sql, params)?;
    let mut rows = stmt.raw_query();
    match rows.next()? {
        Some(row) => map(row).map(Some),
        None => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A job that wrote and then failed is rolled back to its savepoint alone: the
    /// writes of the jobs before and after it in the same batch are committed.
    #[tokio::test]
    async fn a_failed_job_rolls_back_alone_inside_its_batch() {
        // Arrange: a table, and the writer held so that three jobs form one batch.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let writer = LiteWriter::open(path.to_str().unwrap(), || false).unwrap();
        writer
            .write(|conn| conn.execute_batch("create table t (v text)"))
            .await
            .unwrap()
            .unwrap();
        let insert = |value: &'static str, fail: bool| {
            let writer = writer.clone();
            tokio::spawn(async move {
                writer
                    .write(move |conn| {
                        conn.execute("insert into t (v) values (?1)", [value])?;
                        if fail {
                            return Err(rusqlite::Error::QueryReturnedNoRows);
                        }
                        Ok(())
                    })
                    .await
            })
        };
        let hold = writer.hold();

        // Act
        let jobs = [insert("a", false), insert("b", true), insert("c", false)];
        while writer.queued() < 2 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        drop(hold);
        let mut results = Vec::new();
        for job in jobs {
            results.push(job.await.unwrap().unwrap().is_ok());
        }

        // Assert
        assert_eq!(results, [true, false, true]);
        assert_eq!(writer.largest_batch(), 3);
        let values: Vec<String> = writer
            .write(|conn| {
                let mut stmt = conn.prepare("select v from t order by v")?;
                let rows = stmt.query_map([], |row| row.get(0))?;
                rows.collect::<rusqlite::Result<Vec<String>>>()
            })
            .await
            .unwrap()
            .unwrap();
        assert_eq!(values, ["a", "c"]);
    }

    /// The writer leaves checkpoints to the checkpoint thread, and that thread
    /// copies the WAL into the database file.
    #[tokio::test]
    async fn the_checkpoint_thread_copies_the_wal_into_the_database() {
        // Arrange
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let writer = LiteWriter::open(path.to_str().unwrap(), || false).unwrap();
        let own_interval: i64 = writer
            .write(|conn| conn.query_row("pragma wal_autocheckpoint", [], |row| row.get(0)))
            .await
            .unwrap()
            .unwrap();
        let before = std::fs::metadata(&path).unwrap().len();

        // Act: 2 MB of rows, in the WAL first.
        writer
            .write(|conn| conn.execute_batch("create table t (v blob)"))
            .await
            .unwrap()
            .unwrap();
        for _ in 0..64 {
            writer
                .write(|conn| conn.execute("insert into t (v) values (zeroblob(32768))", []))
                .await
                .unwrap()
                .unwrap();
        }
        let mut waited = 0;
        while std::fs::metadata(&path).unwrap().len() < 2_000_000 && waited < 100 {
            tokio::time::sleep(Duration::from_millis(50)).await;
            waited += 1;
        }

        // Assert
        assert_eq!(own_interval, 0, "the writer does not checkpoint itself");
        assert!(before < 100_000, "the file started small: {before} bytes");
        let after = std::fs::metadata(&path).unwrap().len();
        assert!(
            after >= 2_000_000,
            "the WAL was copied into the file: {after} bytes"
        );
    }

    /// Back-to-back writes do not grow the WAL past its limit: the writer restarts
    /// it between batches, and every row is still there.
    #[tokio::test]
    async fn the_wal_stays_near_its_limit_under_back_to_back_writes() {
        // Arrange
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let limit = 512 * 1024;
        let writer =
            LiteWriter::open_with_wal_limit(path.to_str().unwrap(), || false, limit).unwrap();
        writer
            .write(|conn| conn.execute_batch("create table t (v blob)"))
            .await
            .unwrap()
            .unwrap();

        // Act: 8 MiB of rows, 32 KiB per commit, each write waiting for the last.
        let mut largest_wal = 0;
        for _ in 0..256 {
            writer
                .write(|conn| conn.execute("insert into t (v) values (zeroblob(32768))", []))
                .await
                .unwrap()
                .unwrap();
            let wal = std::fs::metadata(dir.path().join("t.db-wal"))
                .unwrap()
                .len();
            largest_wal = largest_wal.max(wal);
        }

        // Assert: the limit plus one batch's frames, at most.
        let rows: i64 = writer
            .write(|conn| conn.query_row("select count(*) from t", [], |row| row.get(0)))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(rows, 256);
        assert!(
            largest_wal <= limit + 128 * 1024,
            "the WAL grew to {largest_wal} bytes (limit {limit})"
        );
    }
}
