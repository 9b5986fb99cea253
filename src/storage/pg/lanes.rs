//! Group commit on PostgreSQL: write jobs (claims and session starts) queue on a
//! few lanes; each lane takes what has queued since its last commit, runs it in one
//! transaction and commits once. One job alone is not held back waiting for
//! company: a lane starts as soon as it has anything, and a batch is whatever
//! arrived meanwhile.
//!
//! A batch begins by locking every gamer its claims touch, in id order (`BEGIN`,
//! then the locks: see `storage::begin_then`), so two batches (of this server or
//! another) take gamer locks in the same order, then runs its claims in rounds of
//! shared statements ([`run_jobs`]) and its session starts in one more
//! (`storage::pg::sessions`). A gamer's claims and session starts share its lane
//! (`gamer id mod lanes`; a user not yet a gamer goes by a hash, and its new id is
//! picked to match), and so do its issuing shard's (`storage::ledger::ISSUING_SHARDS`
//! is a multiple of the lanes), so the lanes of one server share no gamer and no
//! shard (gamers created before ids followed lanes excepted). A job's refusal
//! writes nothing (see `storage::pg::claims`), so it needs no savepoint. A statement
//! that fails aborts the transaction: the batch is rolled back and every job runs
//! again alone, in a transaction of its own. A failed commit answers every job of
//! the batch with the error. Each job is answered only after the commit that holds
//! its write.
//!
//! When the database goes away (a failover), a batch whose connection breaks is
//! answered with that error at once rather than rerun job by job, and a job that
//! has waited in its lane past the pool's acquire timeout is answered "unavailable"
//! without a try: no claim waits longer than `KGEN_DB_TIMEOUT_SECONDS` for a lane
//! stuck behind a dead connection. Each batch takes a fresh pool connection, so a
//! lane recovers as soon as the pool reaches the new primary.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use sqlx::AnyPool;
use std::future::Future;
use std::pin::Pin;
use tokio::sync::{mpsc, RwLock, RwLockWriteGuard};

use super::super::claims::ClaimRow;
use super::super::Tx;
use super::claims::{self, ClaimScene, ClaimWrite, SceneRequest};
use super::sessions::{self, SessionWrite, SessionWritten};

/// A boxed future that may move between threads.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Most jobs in one transaction.
const BATCH_MAX: usize = 64;

/// Jobs waiting per lane before callers wait to queue.
const QUEUE: usize = 4096;

/// One claim that can run inside a shared transaction. A batch runs its claims
/// in two shared statements (read every scene, then write every granted claim
/// with its outbox event: `storage::pg::claims::read_scenes`, `write_claims`),
/// the domain judging each scene in between; a claim of an event with a budget
/// runs its own statements in the same transaction ([`BatchJob::run`]).
pub trait BatchJob: Send + 'static {
    /// The gamer whose row the job locks; also its lane and its place in a batch.
    fn gamer_id(&self) -> i64;
    /// What the batch's shared read fetches for this job.
    fn scene_request(&mut self) -> SceneRequest<'_>;
    /// Judges the scene the shared read fetched, keeping the answer or the write.
    fn judge(&mut self, scene: ClaimScene) -> Step;
    /// The write the job asked for with [`Step::Write`].
    fn write(&self) -> Option<ClaimWrite<'_>>;
    /// The shared write wrote the job's claim (and its outbox event): keeps the answer.
    fn written(&mut self, claim: ClaimRow);
    /// Runs the job's own statements in the batch's transaction, keeping its
    /// outcome for later. An error aborts the batch.
    fn run<'a>(&'a mut self, tx: &'a mut Tx) -> BoxFuture<'a, Result<(), sqlx::Error>>;
    /// The batch committed: answer with the kept outcome.
    fn committed(self: Box<Self>);
    /// The batch could not begin or commit: answer with this error.
    fn failed(self: Box<Self>, error: &sqlx::Error);
    /// Another job's statement aborted the batch: run alone and answer.
    fn alone(self: Box<Self>) -> BoxFuture<'static, ()>;
}

/// What a job makes of its scene.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// The answer is known without writing (refused, or an idempotent replay).
    Answered,
    /// The claim is granted: write it with the batch.
    Write,
    /// The claim needs its own statements ([`BatchJob::run`]): a guarded payout.
    ByItself,
}

/// One session start that can run inside a shared transaction: the batch writes
/// every start in one statement (`storage::pg::sessions::write_sessions`).
pub trait SessionJob: Send + 'static {
    /// What the start writes.
    fn write(&self) -> &SessionWrite;
    /// The shared statement wrote it: keeps the answer.
    fn written(&mut self, written: SessionWritten);
    /// The batch committed: answer with the kept outcome, or (a start that the
    /// statement did not write: its new gamer was raced) start again alone.
    fn committed(self: Box<Self>);
    /// The batch could not begin or commit: answer with this error.
    fn failed(self: Box<Self>, error: &sqlx::Error);
    /// Another job's statement aborted the batch: run alone and answer.
    fn alone(self: Box<Self>) -> BoxFuture<'static, ()>;
}

/// A queued job of either kind.
enum Job {
    Claim(Box<dyn BatchJob>),
    Session(Box<dyn SessionJob>),
}

/// A job in a lane's queue, with when it was queued.
type Queued = (Instant, Job);

/// The jobs of one batch: claims sorted by gamer, then session starts.
#[derive(Default)]
struct Batch {
    claims: Vec<Box<dyn BatchJob>>,
    sessions: Vec<Box<dyn SessionJob>>,
}

impl Batch {
    fn push(&mut self, job: Job) {
        match job {
            Job::Claim(job) => self.claims.push(job),
            Job::Session(job) => self.sessions.push(job),
        }
    }

    fn len(&self) -> usize {
        self.claims.len() + self.sessions.len()
    }

    fn is_empty(&self) -> bool {
        self.claims.is_empty() && self.sessions.is_empty()
    }

    fn committed(self) {
        self.claims.into_iter().for_each(|job| job.committed());
        self.sessions.into_iter().for_each(|job| job.committed());
    }

    fn failed(self, error: &sqlx::Error) {
        tracing::warn!(%error, jobs = self.len(), "a batch of writes was not committed");
        self.claims.into_iter().for_each(|job| job.failed(error));
        self.sessions.into_iter().for_each(|job| job.failed(error));
    }

    /// One after another: the job that failed may fail again, the others not.
    async fn alone(self) {
        for job in self.claims {
            job.alone().await;
        }
        for job in self.sessions {
            job.alone().await;
        }
    }
}

/// The lanes of one database.
#[derive(Clone, Debug)]
pub struct Lanes {
    lanes: Vec<mpsc::Sender<Queued>>,
    shared: Arc<Shared>,
}

/// What the lanes share: test hooks and figures.
#[derive(Debug)]
struct Shared {
    /// Held (written) by a test to keep every lane from forming its next batch.
    gate: RwLock<()>,
    /// Lanes that took a job and wait at the gate.
    waiting: AtomicUsize,
    /// The most jobs one batch has held so far.
    largest_batch: AtomicUsize,
    /// Batches that aborted and ran their jobs alone.
    reruns: AtomicUsize,
    /// Commits still to fail (tests).
    faults: AtomicU32,
    /// A job queued longer than this is answered "unavailable" without a try.
    wait_max: Duration,
}

impl Lanes {
    /// Starts `count` lanes on `pool`. A gamer always uses the same lane, so one
    /// gamer's jobs commit in the order they queued. A job still queued after
    /// `wait_max` (the pool's acquire timeout) is answered `PoolTimedOut`.
    pub fn start(pool: AnyPool, count: usize, wait_max: Duration) -> Lanes {
        let shared = Arc::new(Shared {
            gate: RwLock::default(),
            waiting: AtomicUsize::default(),
            largest_batch: AtomicUsize::default(),
            reruns: AtomicUsize::default(),
            faults: AtomicU32::default(),
            wait_max,
        });
        let lanes = (0..count.max(1))
            .map(|_| {
                let (sender, receiver) = mpsc::channel(QUEUE);
                tokio::spawn(run_lane(pool.clone(), receiver, Arc::clone(&shared)));
                sender
            })
            .collect();
        Lanes { lanes, shared }
    }

    /// How many lanes there are; a gamer's lane is its id modulo this.
    pub fn count(&self) -> usize {
        self.lanes.len()
    }

    /// Makes the next `count` batch commits fail (rolled back instead): for tests
    /// of what callers see when a commit fails.
    #[doc(hidden)]
    pub fn fail_next_commits(&self, count: u32) {
        self.shared.faults.store(count, Ordering::SeqCst);
    }

    /// Holds every lane before its next batch until the guard is dropped, so that
    /// the jobs sent meanwhile form one batch per lane: for tests.
    #[doc(hidden)]
    pub async fn hold(&self) -> RwLockWriteGuard<'_, ()> {
        self.shared.gate.write().await
    }

    /// Jobs sent and not yet run (queued, or taken by a lane held at the gate).
    pub fn pending(&self) -> usize {
        let queued: usize = self
            .lanes
            .iter()
            .map(|lane| lane.max_capacity() - lane.capacity())
            .sum();
        queued + self.shared.waiting.load(Ordering::SeqCst)
    }

    /// The most jobs one batch has held so far.
    pub fn largest_batch(&self) -> usize {
        self.shared.largest_batch.load(Ordering::Relaxed)
    }

    /// Batches so far that aborted on a statement and ran their jobs alone.
    pub fn reruns(&self) -> usize {
        self.shared.reruns.load(Ordering::Relaxed)
    }

    /// Queues a claim on its gamer's lane.
    pub async fn submit(&self, job: Box<dyn BatchJob>) -> Result<(), Closed> {
        let lane = job.gamer_id().rem_euclid(self.lanes.len() as i64) as usize;
        self.send(lane, Job::Claim(job)).await
    }

    /// Queues a session start on `lane` (see `storage::pg::sessions`).
    pub async fn submit_session(
        &self,
        lane: usize,
        job: Box<dyn SessionJob>,
    ) -> Result<(), Closed> {
        self.send(lane, Job::Session(job)).await
    }

    async fn send(&self, lane: usize, job: Job) -> Result<(), Closed> {
        self.lanes[lane % self.lanes.len()]
            .send((Instant::now(), job))
            .await
            .map_err(|_| Closed)
    }
}

/// The lanes are gone (the server is shutting down): the job was not queued.
#[derive(Debug)]
pub struct Closed;

async fn run_lane(pool: AnyPool, mut jobs: mpsc::Receiver<Queued>, shared: Arc<Shared>) {
    while let Some(first) = jobs.recv().await {
        shared.waiting.fetch_add(1, Ordering::SeqCst);
        drop(shared.gate.read().await);
        shared.waiting.fetch_sub(1, Ordering::SeqCst);
        let mut batch = Batch::default();
        let mut expired = Batch::default();
        let mut next = Some(first);
        while let Some((queued_at, job)) = next.take() {
            if queued_at.elapsed() > shared.wait_max {
                expired.push(job);
            } else {
                batch.push(job);
            }
            if batch.len() < BATCH_MAX {
                next = jobs.try_recv().ok();
            }
        }
        if !expired.is_empty() {
            expired.failed(&sqlx::Error::PoolTimedOut);
        }
        if batch.is_empty() {
            continue;
        }
        shared
            .largest_batch
            .fetch_max(batch.len(), Ordering::Relaxed);
        run_batch(&pool, batch, &shared).await;
    }
}

async fn run_batch(pool: &AnyPool, mut batch: Batch, shared: &Shared) {
    // Stable: one gamer's jobs keep their order.
    batch.claims.sort_by_key(|job| job.gamer_id());
    let begun = match batch.claims.is_empty() {
        true => pool.begin().await,
        false => crate::storage::begin_then(pool, lock_gamers(&batch.claims)).await,
    };
    let mut tx = match begun {
        Ok(tx) => tx,
        Err(error) => return batch.failed(&error),
    };
    let mut ran = run_jobs(&mut tx, &mut batch.claims).await;
    if ran.is_ok() && !batch.sessions.is_empty() {
        ran = run_sessions(&mut tx, &mut batch.sessions).await;
    }
    if let Err(error) = ran {
        drop(tx);
        // A lost connection is not this job's fault: rerunning the batch job by
        // job would make each wait for the database in turn.
        if crate::storage::is_unavailable(&error) {
            return batch.failed(&error);
        }
        tracing::debug!(%error, jobs = batch.len(), "a batch aborted; its jobs run alone");
        shared.reruns.fetch_add(1, Ordering::Relaxed);
        return batch.alone().await;
    }
    let injected = shared
        .faults
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |left| {
            left.checked_sub(1)
        })
        .is_ok();
    if injected {
        drop(tx);
        let error = sqlx::Error::Protocol("injected commit failure (test)".to_owned());
        return batch.failed(&error);
    }
    match tx.commit().await {
        Ok(()) => batch.committed(),
        Err(error) => batch.failed(&error),
    }
}

/// The session starts of a batch, in one statement of its transaction.
async fn run_sessions(tx: &mut Tx, jobs: &mut [Box<dyn SessionJob>]) -> Result<(), sqlx::Error> {
    let writes: Vec<&SessionWrite> = jobs.iter().map(|job| job.write()).collect();
    let written = sessions::write_sessions(&mut **tx, &writes).await?;
    drop(writes);
    for (job, written) in jobs.iter_mut().zip(written) {
        if let Some(written) = written {
            job.written(written);
        }
    }
    Ok(())
}

/// The statements of a batch (sorted by gamer), in its transaction, in rounds:
/// round `r` takes the `r`-th job of each gamer, reads all their scenes in one
/// statement, judges them and writes every granted claim in one more; the jobs
/// that need their own statements run at the end of their round. A gamer's jobs
/// thus run in the order they queued, each seeing the one before.
async fn run_jobs(tx: &mut Tx, batch: &mut [Box<dyn BatchJob>]) -> Result<(), sqlx::Error> {
    let mut pending: Vec<usize> = (0..batch.len()).collect();
    while !pending.is_empty() {
        let mut round: Vec<usize> = Vec::new();
        let mut later = Vec::new();
        for index in pending {
            let gamer = batch[index].gamer_id();
            // Sorted by gamer: a gamer's second job follows its first.
            match round.last() {
                Some(&last) if batch[last].gamer_id() == gamer => later.push(index),
                _ => round.push(index),
            }
        }
        run_round(tx, batch, &round).await?;
        pending = later;
    }
    Ok(())
}

/// One round of [`run_jobs`]: the jobs `round` of `batch`, each of another gamer.
async fn run_round(
    tx: &mut Tx,
    batch: &mut [Box<dyn BatchJob>],
    round: &[usize],
) -> Result<(), sqlx::Error> {
    let mut requests = Vec::with_capacity(round.len());
    for (index, job) in batch.iter_mut().enumerate() {
        if round.binary_search(&index).is_ok() {
            requests.push(job.scene_request());
        }
    }
    let scenes = claims::read_scenes(tx, &requests).await?;
    drop(requests);
    let (mut writing, mut by_itself) = (Vec::new(), Vec::new());
    for (&index, scene) in round.iter().zip(scenes) {
        match batch[index].judge(scene) {
            Step::Answered => {}
            Step::Write => writing.push(index),
            Step::ByItself => by_itself.push(index),
        }
    }
    if !writing.is_empty() {
        let writes: Vec<ClaimWrite<'_>> = writing
            .iter()
            .map(|&index| batch[index].write())
            .collect::<Option<_>>()
            .ok_or_else(|| sqlx::Error::Protocol("a granted claim had nothing to write".into()))?;
        let rows = claims::write_claims(tx, &writes).await?;
        drop(writes);
        for (&index, row) in writing.iter().zip(rows) {
            match row {
                Some(row) => batch[index].written(row),
                // Its event has a budget by now: judged again, on the guarded path.
                None => by_itself.push(index),
            }
        }
    }
    by_itself.sort_unstable();
    for index in by_itself {
        batch[index].run(tx).await?;
    }
    Ok(())
}

/// The gamer locks of a batch, taken first in its transaction. Integers formatted
/// into the text: nothing to escape.
fn lock_gamers(batch: &[Box<dyn BatchJob>]) -> String {
    let gamers: BTreeSet<i64> = batch.iter().map(|job| job.gamer_id()).collect();
    let mut sql = String::from("select 1 from gamers where id in (");
    for (position, gamer) in gamers.iter().enumerate() {
        let separator = if position == 0 { "" } else { "," };
        let _ = write!(sql, "{separator}{gamer}");
    }
    sql.push_str(") order by id for no key update");
    sql
}
