//! Giving the C heap's free pages back to the system when the server is quiet.
//!
//! Rust allocates through mimalloc, which returns freed pages at once (see
//! `main.rs`). SQLite is C and allocates through glibc's `malloc`: its page caches
//! and statement buffers live in one glibc arena per thread that used them, and
//! glibc keeps an arena's freed chunks resident. After a load an idle SQLite
//! server held ~16 MB of such free pages (RSS 55.7 MB; `malloc_trim(0)` from gdb
//! brought it to 39.2 MB). [`Trimmer`] calls `malloc_trim(0)` after an interval in
//! which the process was nearly idle, so it never competes with a load for the
//! arenas' locks, and pages it releases are not faulted back in at once.

use std::time::Duration;

/// A quiet interval: the process used less CPU than this share of one core.
const QUIET_CPU_SHARE: f64 = 0.1;

/// Watches the process's CPU time between calls of [`Trimmer::tick`].
#[derive(Debug, Default)]
pub struct Trimmer {
    last_cpu: Option<Duration>,
}

impl Trimmer {
    /// Called every `interval`: trims the C heap when the interval since the last
    /// call was quiet. Returns whether it trimmed.
    pub fn tick(&mut self, interval: Duration) -> bool {
        let Some(cpu) = process_cpu() else {
            return false;
        };
        let quiet = self.last_cpu.is_some_and(|last| {
            cpu.saturating_sub(last).as_secs_f64() < interval.as_secs_f64() * QUIET_CPU_SHARE
        });
        self.last_cpu = Some(cpu);
        if quiet {
            trim();
        }
        quiet
    }
}

/// User and system CPU time of the whole process so far.
#[expect(unsafe_code, reason = "getrusage fills a struct the caller owns")]
fn process_cpu() -> Option<Duration> {
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: getrusage writes one `rusage` into the pointer it is given, which
    // points at a zeroed value of that type owned here.
    let status = unsafe { libc::getrusage(libc::RUSAGE_SELF, usage.as_mut_ptr()) };
    if status != 0 {
        return None;
    }
    // SAFETY: getrusage succeeded, so the value is initialised (it was zeroed
    // before, so it was a valid `rusage` even without that).
    let usage = unsafe { usage.assume_init() };
    let time = |t: libc::timeval| {
        Duration::from_secs(u64::try_from(t.tv_sec).unwrap_or(0))
            + Duration::from_micros(u64::try_from(t.tv_usec).unwrap_or(0))
    };
    Some(time(usage.ru_utime) + time(usage.ru_stime))
}

/// Releases the free pages of every glibc arena.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[expect(
    unsafe_code,
    reason = "malloc_trim takes an integer and touches only glibc's heap"
)]
fn trim() {
    // SAFETY: malloc_trim is thread-safe (it locks each arena) and takes no pointer.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Other C libraries: nothing to do.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn trim() {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_busy_interval_does_not_trim_and_a_quiet_one_does() {
        let mut trimmer = Trimmer::default();
        assert!(
            !trimmer.tick(Duration::from_millis(50)),
            "the first call has nothing to compare"
        );
        // Burn more CPU than 10 % of the 50 ms interval.
        let started = std::time::Instant::now();
        let mut x = 0u64;
        while started.elapsed() < Duration::from_millis(30) {
            x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(7));
        }
        assert!(
            !trimmer.tick(Duration::from_millis(50)),
            "30 ms of CPU in a 50 ms interval is busy"
        );
        std::thread::sleep(Duration::from_millis(50));
        assert!(
            trimmer.tick(Duration::from_secs(10)),
            "no CPU to speak of in 10 s is quiet"
        );
    }
}
