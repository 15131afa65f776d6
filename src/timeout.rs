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
#[cfg(ipcring_test)] // the tests' hang bounds; not an API (it is process-wide)
pub fn set_park_slice(d: Duration) {
    let ns = d.max(Duration::from_millis(1)).as_nanos().min(u64::MAX as u128) as u64;
    SLICE_NS.store(ns, std::sync::atomic::Ordering::Relaxed);
}

/// How long a call may wait: `Forever`, not at all (`NonBlocking`: the call returns
/// [`Error::WouldBlock`] instead of waiting), or until a [`Deadline`] ([`Error::TimedOut`]
/// after it). `Duration`, `Option<Duration>` (`None`: forever) and `Instant` convert into it.
///
/// # Examples
///
/// ```
/// use ipcring::Timeout;
/// use std::time::Duration;
/// assert_eq!(Timeout::from_nanos(-1), Timeout::Forever);
/// assert_eq!(Timeout::from_nanos(0), Timeout::NonBlocking);
/// assert!(!Timeout::after(Duration::from_secs(5)).expired());
/// assert_eq!(Timeout::from(None::<Duration>), Timeout::Forever);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Timeout {
    /// Wait as long as it takes.
    Forever,
    /// Do not wait at all: [`Error::WouldBlock`] where a call would have to wait (C:
    /// `IPCRING_NONBLOCK`).
    NonBlocking,
    /// Wait until this deadline ([`Error::TimedOut`] after it).
    At(Deadline),
}

/// A point in time on the `CLOCK_MONOTONIC` clock (the clock of `std::time::Instant` on
/// Linux), at which a wait gives up. Absolute, so a call that retries after an interruption
/// or a spurious wake-up never waits longer than asked.
///
/// # Examples
///
/// ```
/// use ipcring::Deadline;
/// use std::time::{Duration, Instant};
/// let d = Deadline::after(Duration::from_secs(60));
/// assert!(!d.has_passed() && d.remaining() > Duration::from_secs(59));
/// assert!(Deadline::from(Instant::now()) <= Deadline::now());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Deadline {
    // Field order is the comparison order.
    sec: i64,
    nsec: u32,
}

impl Deadline {
    /// Now.
    #[must_use]
    pub fn now() -> Deadline {
        Deadline::from_timespec(&monotonic_now())
    }

    /// `d` from now (saturating far in the future).
    #[must_use]
    pub fn after(d: Duration) -> Deadline {
        let now = Deadline::now();
        let ns = now.nsec as u64 + d.subsec_nanos() as u64;
        let secs = (now.sec as u64)
            .saturating_add(d.as_secs())
            .saturating_add(ns / 1_000_000_000);
        Deadline {
            sec: secs.min(i64::MAX as u64 / 2) as i64,
            nsec: (ns % 1_000_000_000) as u32,
        }
    }

    /// Whether it has passed.
    #[must_use]
    pub fn has_passed(&self) -> bool {
        *self <= Deadline::now()
    }

    /// How long until it passes (zero once it has).
    #[must_use]
    pub fn remaining(&self) -> Duration {
        let now = Deadline::now();
        if *self <= now {
            return Duration::ZERO;
        }
        let ns = (self.sec - now.sec) as i128 * 1_000_000_000 + self.nsec as i128 - now.nsec as i128;
        Duration::from_nanos(u64::try_from(ns).unwrap_or(u64::MAX))
    }

    pub(crate) fn from_timespec(ts: &libc::timespec) -> Deadline {
        Deadline {
            sec: ts.tv_sec, // time_t is i64 on the 64-bit Linux targets the shared layout supports
            nsec: ts.tv_nsec.clamp(0, 999_999_999) as u32,
        }
    }

    /// The deadline as the `timespec` the kernel's absolute waits take.
    pub(crate) fn as_timespec(&self) -> libc::timespec {
        libc::timespec {
            tv_sec: self.sec as libc::time_t,
            tv_nsec: self.nsec as _,
        }
    }
}

impl From<std::time::Instant> for Deadline {
    /// The same moment on the monotonic clock (to within the microseconds the conversion
    /// takes: `Instant` does not expose its clock reading).
    fn from(t: std::time::Instant) -> Deadline {
        Deadline::after(t.saturating_duration_since(std::time::Instant::now()))
    }
}

impl Timeout {
    /// The old name of [`Timeout::NonBlocking`], which read as "never time out".
    #[deprecated(since = "0.2.0", note = "it means \"do not wait\": use Timeout::NonBlocking")]
    #[allow(non_upper_case_globals)]
    pub const Never: Timeout = Timeout::NonBlocking;

    /// A deadline `d` from now (`NonBlocking` for a zero duration).
    ///
    /// # Examples
    ///
    /// ```
    /// use ipcring::Timeout;
    /// assert_eq!(Timeout::after(std::time::Duration::ZERO), Timeout::NonBlocking);
    /// ```
    #[must_use]
    pub fn after(d: Duration) -> Timeout {
        if d.is_zero() {
            return Timeout::NonBlocking;
        }
        Timeout::At(Deadline::after(d))
    }

    /// The C convention: `< 0` forever, `0` no wait, `> 0` at most that many nanoseconds.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(matches!(ipcring::Timeout::from_nanos(1_000), ipcring::Timeout::At(_)));
    /// ```
    #[must_use]
    pub fn from_nanos(ns: i64) -> Timeout {
        match ns {
            n if n < 0 => Timeout::Forever,
            0 => Timeout::NonBlocking,
            n => Timeout::after(Duration::from_nanos(n as u64)),
        }
    }

    /// `None` waits forever, `Some(d)` at most `d`.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(ipcring::Timeout::from_option(None), ipcring::Timeout::Forever);
    /// ```
    #[must_use]
    pub fn from_option(d: Option<Duration>) -> Timeout {
        d.map_or(Timeout::Forever, Timeout::after)
    }

    /// Whether the deadline has passed (`NonBlocking` always has; `Forever` never does).
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(ipcring::Timeout::NonBlocking.expired());
    /// assert!(!ipcring::Timeout::Forever.expired());
    /// ```
    #[must_use]
    pub fn expired(&self) -> bool {
        match self {
            Timeout::Forever => false,
            Timeout::NonBlocking => true,
            Timeout::At(t) => t.has_passed(),
        }
    }

    /// How long a wait may still last: `Ok(None)` for ever, `Ok(Some(d))` with `d > 0`, or the
    /// error a call returns instead of waiting: [`Error::WouldBlock`] for `NonBlocking`,
    /// [`Error::TimedOut`] once the deadline has passed.
    ///
    /// # Examples
    ///
    /// ```
    /// use ipcring::{Error, Timeout};
    /// assert!(matches!(Timeout::Forever.remaining(), Ok(None)));
    /// assert!(matches!(Timeout::NonBlocking.remaining(), Err(Error::WouldBlock)));
    /// assert!(Timeout::after(std::time::Duration::from_secs(60)).remaining().unwrap().is_some());
    /// ```
    pub fn remaining(&self) -> Result<Option<Duration>> {
        match self {
            Timeout::Forever => Ok(None),
            Timeout::NonBlocking => Err(Error::WouldBlock),
            Timeout::At(t) => match t.remaining() {
                d if d.is_zero() => Err(Error::TimedOut),
                d => Ok(Some(d)),
            },
        }
    }

    /// The deadline of the next sleep: the sooner of ours and one park slice from now.
    pub(crate) fn slice(&self) -> libc::timespec {
        let slice = Deadline::after(park_slice());
        match self {
            Timeout::At(t) if *t <= slice => t.as_timespec(),
            _ => slice.as_timespec(),
        }
    }
}

impl From<Duration> for Timeout {
    /// [`Timeout::after`].
    fn from(d: Duration) -> Timeout {
        Timeout::after(d)
    }
}

impl From<Option<Duration>> for Timeout {
    /// [`Timeout::from_option`]: `None` waits forever.
    fn from(d: Option<Duration>) -> Timeout {
        Timeout::from_option(d)
    }
}

impl From<std::time::Instant> for Timeout {
    /// Wait until then.
    fn from(t: std::time::Instant) -> Timeout {
        Timeout::At(Deadline::from(t))
    }
}

impl From<Deadline> for Timeout {
    fn from(t: Deadline) -> Timeout {
        Timeout::At(t)
    }
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
        let a = crate::timeout::Deadline::from_timespec(&crate::timeout::monotonic_now());
        let b = crate::timeout::Deadline::from_timespec(&crate::timeout::monotonic_now());
        assert!(a <= b);
    }
}
