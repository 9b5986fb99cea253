//! One connection's life, whatever its protocol: it must send a complete request
//! head within the read timeout of being accepted, and is closed once it has had
//! no request in flight for the idle timeout. hyper's own HTTP/1 header timeout
//! covers neither a connection whose protocol is not known yet nor HTTP/2, and it
//! would cut an idle keep-alive connection after the read timeout instead.
//!
//! Also the accept loop's back-off when the process runs out of descriptors.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use axum::http::Response;
use hyper::body::{Frame, SizeHint};
use tokio::sync::watch;
use tokio::time::Instant;

/// The two limits on a connection that is not working.
#[derive(Clone, Copy, Debug)]
pub struct Timeouts {
    /// From accept to the first complete request head.
    pub first_head: Duration,
    /// With no request in flight, after the first one.
    pub idle: Duration,
}

/// How long a connection closed for a timeout gets to say goodbye (an HTTP/2
/// GOAWAY) before its socket is dropped.
const CLOSE_GRACE: Duration = Duration::from_millis(500);

/// What a connection's requests tell its watchdog: plain atomics, so that a
/// request costs no lock and no wake-up.
#[derive(Debug)]
pub struct Clock {
    opened: Instant,
    /// A request head has arrived.
    started: AtomicBool,
    /// Requests whose head has arrived and whose response body is not done.
    in_flight: AtomicUsize,
    /// When the last request finished, in milliseconds after `opened`.
    idle_since_ms: AtomicU64,
}

impl Clock {
    /// The clock of a connection accepted now.
    pub fn start() -> Arc<Clock> {
        Arc::new(Clock {
            opened: Instant::now(),
            started: AtomicBool::new(false),
            in_flight: AtomicUsize::new(0),
            idle_since_ms: AtomicU64::new(0),
        })
    }

    /// A request head has arrived; the request is in flight until the guard drops.
    pub fn request_started(self: &Arc<Clock>) -> InFlight {
        self.started.store(true, Ordering::Release);
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        InFlight(Arc::clone(self))
    }

    /// When the connection is to be closed if nothing changes; `None` while a
    /// request is in flight.
    fn deadline(&self, timeouts: Timeouts) -> Option<Instant> {
        if self.in_flight.load(Ordering::Acquire) > 0 {
            return None;
        }
        if !self.started.load(Ordering::Acquire) {
            return Some(self.opened + timeouts.first_head);
        }
        let idle_since = Duration::from_millis(self.idle_since_ms.load(Ordering::Acquire));
        Some(self.opened + idle_since + timeouts.idle)
    }
}

/// One request in flight on a connection (dropped with its response body).
#[derive(Debug)]
pub struct InFlight(Arc<Clock>);

impl Drop for InFlight {
    fn drop(&mut self) {
        let clock = &self.0;
        let now = u64::try_from(clock.opened.elapsed().as_millis()).unwrap_or(u64::MAX);
        clock.idle_since_ms.fetch_max(now, Ordering::AcqRel);
        clock.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A response body that keeps its request in flight until it is sent or dropped.
#[derive(Debug)]
pub struct TrackedBody {
    inner: Body,
    _in_flight: InFlight,
}

/// Attaches the request's [`InFlight`] guard to its response.
pub fn track(response: Response<Body>, in_flight: InFlight) -> Response<TrackedBody> {
    response.map(|inner| TrackedBody {
        inner,
        _in_flight: in_flight,
    })
}

impl hyper::body::Body for TrackedBody {
    type Data = <Body as hyper::body::Body>::Data;
    type Error = <Body as hyper::body::Body>::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// Why a connection is being shut down.
enum Ending {
    TimedOut,
    ServerStopping,
}

/// Drives `connection` to its end: shuts it down gracefully (`shut_down`) when
/// its [`Clock`] runs out or when `stop` fires; after a timeout the socket is
/// dropped at most [`CLOSE_GRACE`] later. While the server stops, in-flight
/// requests finish (the caller bounds that wait).
pub async fn drive<C, E>(
    connection: C,
    clock: Arc<Clock>,
    timeouts: Timeouts,
    mut stop: watch::Receiver<()>,
    shut_down: impl FnOnce(Pin<&mut C>),
) where
    C: Future<Output = Result<(), E>>,
    E: std::fmt::Display,
{
    tokio::pin!(connection);
    let first_deadline = clock.deadline(timeouts).unwrap_or_else(Instant::now);
    let timer = tokio::time::sleep_until(first_deadline);
    tokio::pin!(timer);
    let ending = loop {
        tokio::select! {
            result = connection.as_mut() => {
                if let Err(error) = result {
                    tracing::debug!(%error, "connection ended with an error");
                }
                return;
            }
            () = timer.as_mut() => match clock.deadline(timeouts) {
                Some(deadline) if deadline <= Instant::now() => break Ending::TimedOut,
                Some(deadline) => timer.as_mut().reset(deadline),
                // A request is in flight: look again one idle timeout later.
                None => timer.as_mut().reset(Instant::now() + timeouts.idle),
            },
            _ = stop.changed() => break Ending::ServerStopping,
        }
    };
    shut_down(connection.as_mut());
    match ending {
        Ending::TimedOut => {
            tracing::debug!("closing a connection that sent no request in time");
            tokio::time::timeout(CLOSE_GRACE, connection).await.ok();
        }
        Ending::ServerStopping => {
            connection.await.ok();
        }
    }
}

/// The accept loop's answer to failures such as "too many open files": wait,
/// doubling from 10 ms up to 1 s, and log once per episode rather than once per
/// failure.
#[derive(Debug, Default)]
pub struct AcceptBackoff {
    failures: u32,
}

impl AcceptBackoff {
    const FIRST: Duration = Duration::from_millis(10);
    const MOST: Duration = Duration::from_secs(1);

    /// Handles a failed accept: a connection that died in the backlog is no
    /// reason to wait; anything else (descriptors, memory) is.
    pub async fn failed(&mut self, error: &std::io::Error) {
        use std::io::ErrorKind as K;
        if matches!(
            error.kind(),
            K::ConnectionAborted | K::ConnectionReset | K::Interrupted
        ) {
            tracing::debug!(%error, "accept failed for one connection");
            return;
        }
        if self.failures == 0 {
            tracing::warn!(%error, "accept failed; backing off until it succeeds again");
        }
        let delay = Self::FIRST.saturating_mul(1 << self.failures.min(10));
        self.failures = self.failures.saturating_add(1);
        tokio::time::sleep(delay.min(Self::MOST)).await;
    }

    /// A connection was accepted: ends a failure episode.
    pub fn succeeded(&mut self) {
        if self.failures > 0 {
            tracing::info!(
                failures = self.failures,
                "accepting connections again after failures"
            );
            self.failures = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TIMEOUTS: Timeouts = Timeouts {
        first_head: Duration::from_secs(10),
        idle: Duration::from_secs(60),
    };

    #[tokio::test]
    async fn the_deadline_runs_from_accept_then_from_the_last_finished_request() {
        let clock = Clock::start();
        let opened = clock.opened;

        assert_eq!(clock.deadline(TIMEOUTS), Some(opened + TIMEOUTS.first_head));
        let request = clock.request_started();
        assert_eq!(clock.deadline(TIMEOUTS), None);
        tokio::time::sleep(Duration::from_millis(30)).await;
        drop(request);
        let deadline = clock.deadline(TIMEOUTS).expect("idle again");
        assert!(deadline >= opened + Duration::from_millis(30) + TIMEOUTS.idle);
        assert!(deadline <= Instant::now() + TIMEOUTS.idle);
    }
}
