//! The SQLite reader thread, for a read on the path of a request that missed its
//! cache (the session of a front-end request, once it left the session cache): one
//! rusqlite connection (`query_only`) on a thread of its own, which runs every read
//! queued since it last woke, one after the other, each statement in autocommit.
//! So it holds a WAL read lock only while a statement runs, and never keeps a
//! checkpoint waiting.
//!
//! Through sqlx, a read is handed to a worker thread and back, and its row decoded
//! by the `Any` driver: in a burst of claims from 2 000 gamers whose sessions had
//! left the cache (a live event starting), sqlx's worker thread alone took 14 % of
//! the server's CPU. Here a read costs its statement, one channel send and one
//! wake-up, and a burst wakes the thread once for many reads. (The wallet reads of
//! a cache miss were tried here too, and were no cheaper than through sqlx: their
//! cost is elsewhere, so they stay there.)

use std::panic::AssertUnwindSafe;
use std::time::Duration;

use rusqlite::Connection;
use tokio::sync::{mpsc, oneshot};

/// Reads waiting at most; a sender waits for room beyond that.
const QUEUE: usize = 8192;

/// How long a read waits for SQLite's locks (a WAL being restarted).
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// A queued read: it answers its caller itself.
type Read = Box<dyn FnOnce(&Connection) + Send>;

/// Why a read got no answer.
#[derive(Debug, thiserror::Error)]
pub enum ReadFailed {
    /// SQLite refused the read.
    #[error(transparent)]
    Sqlite(#[from] rusqlite::Error),
    /// The reader thread is gone (or the read panicked).
    #[error("the SQLite reader has stopped")]
    Stopped,
}

/// Handle of the reader thread; cheap to clone.
#[derive(Clone, Debug)]
pub struct LiteReader {
    reads: mpsc::Sender<Read>,
}

impl LiteReader {
    /// Opens the reader's connection to the SQLite file at `path` and starts its
    /// thread.
    pub fn open(path: &str) -> anyhow::Result<LiteReader> {
        let conn = Connection::open(path)?;
        conn.execute_batch("pragma query_only = on")?;
        conn.busy_timeout(BUSY_TIMEOUT)?;
        conn.set_prepared_statement_cache_capacity(16);
        let (reads, queue) = mpsc::channel(QUEUE);
        std::thread::Builder::new()
            .name("kgen-sqlite-reader".into())
            .spawn(move || run(&conn, queue))?;
        Ok(LiteReader { reads })
    }

    /// Runs `work` on the reader's connection and returns what it read.
    pub async fn read<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> Result<T, ReadFailed> {
        let (reply, answer) = oneshot::channel();
        let read: Read = Box::new(move |conn| {
            let _ = reply.send(work(conn));
        });
        self.reads
            .send(read)
            .await
            .map_err(|_| ReadFailed::Stopped)?;
        Ok(answer.await.map_err(|_| ReadFailed::Stopped)??)
    }
}

/// The reader thread: every queued read in turn, until every handle is dropped. A
/// read that panics drops its answer (its caller gets `Stopped`); the others go on.
fn run(conn: &Connection, mut queue: mpsc::Receiver<Read>) {
    while let Some(read) = queue.blocking_recv() {
        if std::panic::catch_unwind(AssertUnwindSafe(|| read(conn))).is_err() {
            tracing::error!("a SQLite read panicked");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn reads_see_what_another_connection_committed_and_refuse_writes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("read.db");
        let path = path.to_str().unwrap().to_owned();
        let writer = Connection::open(&path).unwrap();
        writer
            .execute_batch(
                "pragma journal_mode = wal; create table t (v integer); insert into t values (1);",
            )
            .unwrap();
        let reader = LiteReader::open(&path).unwrap();
        let sum = |reader: LiteReader| async move {
            reader
                .read(|conn| conn.query_row("select sum(v) from t", [], |row| row.get::<_, i64>(0)))
                .await
                .unwrap()
        };
        assert_eq!(sum(reader.clone()).await, 1);
        writer.execute("insert into t values (41)", []).unwrap();
        assert_eq!(sum(reader.clone()).await, 42);

        let refused = reader
            .read(|conn| conn.execute("insert into t values (1)", []))
            .await;
        assert!(
            matches!(&refused, Err(ReadFailed::Sqlite(error)) if error.to_string().contains("readonly")),
            "{refused:?}"
        );
        assert_eq!(sum(reader.clone()).await, 42);

        let panicked = reader
            .read(|_| -> rusqlite::Result<()> { panic!("boom") })
            .await;
        assert!(matches!(panicked, Err(ReadFailed::Stopped)), "{panicked:?}");
        assert_eq!(sum(reader).await, 42, "the thread goes on after a panic");
    }
}
