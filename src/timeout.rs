//! [`Timeout`] (how long a call may wait), the monotonic clock every deadline uses and the
//! park slice (the longest single sleep of a blocked call). A leaf: it imports only `error`.
//! (The sleep itself, `wait::nap`, is a system call and lives above `sys`.)

use crate::error::{Error, Result};
use std::time::Duration;

/// The longest single sleep; a parked caller re-checks the ring, and whether its peers are
/// alive, at least this often. It bounds how long a blocked caller takes to notice a peer
/// that died without closing (about one slice; `tests/death_latency.rs` measures it). An
/// idle waiter wakes 50 times a second for it, a few microseconds of CPU each.
pub const PARK_SLICE: Duration = Duration::from_millis(20);

/// The sleep bound in force in this process, in nanoseconds (0: not yet read).
static SLICE_NS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// The sleep bound in force: [`PARK_SLICE`], unless the environment variable
/// `IPCRING_PARK_SLICE_MS` (read at the first sleep) or [`set_park_slice`] set another.
pub fn park_slice() -> Duration {
    use std::sync::atomic::Ordering::Relaxed;
    let ns = SLICE_NS.load(Relaxed);
    if ns != 0 {
        return Duration::from_nanos(ns);
    }
    let slice = std::env::var("IPCRING_PARK_SLICE_MS")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
        .filter(|&ms| ms > 0)
        .map_or(PARK_SLICE, Duration::from_millis);
    let _ = SLICE_NS.compare_exchange(0, slice.as_nanos() as u64, Relaxed, Relaxed);
    Duration::from_nanos(SLICE_NS.load(Relaxed))
}

/// Sets this process's sleep bound (at least 1 ms). For tests and diagnosis: with a long
/// slice, a wake-up that never arrives shows up as a hang instead of being hidden by the
/// periodic re-check; with a short one, a peer's death is noticed sooner.
#[cfg(any(ipcring_test, ipcring_loom))] // the tests' hang bounds; not an API (it is process-wide)
pub fn set_park_slice(d: Duration) {
    let ns = d.max(Duration::from_millis(1)).as_nanos().min(u64::MAX as u128) as u64;
    SLICE_NS.store(ns, std::sync::atomic::Ordering::Relaxed);
}

/// How long a call may wait.
///
/// # Examples
///
/// ```
/// use ipcring::Timeout;
/// use std::time::Duration;
/// assert!(matches!(Timeout::from_nanos(-1), Timeout::Forever));
/// assert!(matches!(Timeout::from_nanos(0), Timeout::Never));
/// assert!(!Timeout::after(Duration::from_secs(5)).expired());
/// ```
#[derive(Debug, Clone, Copy)]
pub enum Timeout {
    /// Wait as long as it takes.
    Forever,
    /// Do not wait at all (`WouldBlock`).
    Never,
    /// Wait until this absolute CLOCK_MONOTONIC time (`TimedOut` after it).
    At(libc::timespec),
}

impl Timeout {
    /// A deadline `d` from now (`Never` for a zero duration).
    ///
    /// # Examples
    ///
    /// ```
    /// use ipcring::Timeout;
    /// assert!(matches!(Timeout::after(std::time::Duration::ZERO), Timeout::Never));
    /// ```
    pub fn after(d: Duration) -> Timeout {
        if d.is_zero() {
            return Timeout::Never;
        }
        let now = monotonic_now();
        let ns = now.tv_nsec as u64 + d.subsec_nanos() as u64;
        let secs = (now.tv_sec as u64)
            .saturating_add(d.as_secs())
            .saturating_add(ns / 1_000_000_000);
        Timeout::At(libc::timespec {
            tv_sec: secs.min(i64::MAX as u64 / 2) as libc::time_t,
            tv_nsec: (ns % 1_000_000_000) as _,
        })
    }

    /// The C convention: `< 0` forever, `0` no wait, `> 0` at most that many nanoseconds.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(matches!(ipcring::Timeout::from_nanos(1_000), ipcring::Timeout::At(_)));
    /// ```
    pub fn from_nanos(ns: i64) -> Timeout {
        match ns {
            n if n < 0 => Timeout::Forever,
            0 => Timeout::Never,
            n => Timeout::after(Duration::from_nanos(n as u64)),
        }
    }

    /// `None` waits forever, `Some(d)` at most `d`.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(matches!(ipcring::Timeout::from_option(None), ipcring::Timeout::Forever));
    /// ```
    pub fn from_option(d: Option<Duration>) -> Timeout {
        d.map_or(Timeout::Forever, Timeout::after)
    }

    /// Whether the deadline has passed (`Never` always has; `Forever` never does).
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(ipcring::Timeout::Never.expired());
    /// assert!(!ipcring::Timeout::Forever.expired());
    /// ```
    pub fn expired(&self) -> bool {
        match self {
            Timeout::Forever => false,
            Timeout::Never => true,
            Timeout::At(t) => ts_le(t, &monotonic_now()),
        }
    }

    /// How long a wait may still last: `Ok(None)` for ever, `Ok(Some(d))` with `d > 0`, or the
    /// error a wait ends with now ([`Error::WouldBlock`] for `Never`, [`Error::TimedOut`] once
    /// the deadline has passed). For waits outside the ring (poll, retried opens).
    ///
    /// # Examples
    ///
    /// ```
    /// use ipcring::{Error, Timeout};
    /// assert!(matches!(Timeout::Forever.remaining(), Ok(None)));
    /// assert!(matches!(Timeout::Never.remaining(), Err(Error::WouldBlock)));
    /// assert!(Timeout::after(std::time::Duration::from_secs(60)).remaining().unwrap().is_some());
    /// ```
    pub fn remaining(&self) -> Result<Option<Duration>> {
        match self {
            Timeout::Forever => Ok(None),
            Timeout::Never => Err(Error::WouldBlock),
            Timeout::At(t) => {
                let now = monotonic_now();
                let ns = (t.tv_sec as i128 - now.tv_sec as i128) * 1_000_000_000 + (t.tv_nsec - now.tv_nsec) as i128;
                if ns <= 0 {
                    return Err(Error::TimedOut);
                }
                Ok(Some(Duration::from_nanos(u64::try_from(ns).unwrap_or(u64::MAX))))
            }
        }
    }

    /// The deadline of the next sleep: the sooner of ours and one park slice from now.
    pub(crate) fn slice(&self) -> libc::timespec {
        let Timeout::At(slice) = Timeout::after(park_slice()) else {
            unreachable!("the park slice is not zero")
        };
        match self {
            Timeout::At(t) if ts_le(t, &slice) => *t,
            _ => slice,
        }
    }
}

pub(crate) fn ts_le(a: &libc::timespec, b: &libc::timespec) -> bool {
    (a.tv_sec, a.tv_nsec) <= (b.tv_sec, b.tv_nsec)
}

/// The current CLOCK_MONOTONIC time (the clock every deadline uses).
pub fn monotonic_now() -> libc::timespec {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: ts is a valid out-pointer; CLOCK_MONOTONIC always exists on Linux.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    debug_assert_eq!(rc, 0);
    ts
}

#[cfg(test)]
mod examples {
    //! What the items above do, shown as tests (their module is not public API, so these
    //! are unit tests, not doc examples).

    #[test]
    fn park_slice() {
        assert!(crate::timeout::park_slice() > std::time::Duration::ZERO);
    }


    #[test]
    fn monotonic_now() {
        let a = crate::timeout::monotonic_now();
        let b = crate::timeout::monotonic_now();
        assert!((a.tv_sec, a.tv_nsec) <= (b.tv_sec, b.tv_nsec));
    }
}
