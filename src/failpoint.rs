//! Failpoints: named steps where a test makes this process die (`SIGKILL`), hang, stop or
//! pause, so that a crash "exactly between step 3 and step 4" is a test and not a hope.
//!
//! Test support, compiled in only under `--cfg ipcring_test` (`RUSTFLAGS`, as
//! `scripts/test-all.sh` sets it): not a cargo feature, so no crate in a dependent's build can
//! switch it on, and a normal build never reads `IPCRING_FAILPOINTS`. Without the cfg this
//! module is private, [`hit`] is an empty `#[inline(always)]` function and every point
//! compiles to nothing; with it, a point that is not armed costs one relaxed atomic load.
//!
//! # Points
//!
//! Each point is a `&'static str` constant; [`ALL`] lists them (a test can pick one at
//! random). Placed:
//!
//! | point | where |
//! |---|---|
//! | [`INIT_AFTER_OPEN`] `init.after_open` | `region::create`: the object exists (size 0), nothing else done |
//! | [`INIT_AFTER_LOCK`] `init.after_lock` | `region::create`: the init lock is held |
//! | [`INIT_AFTER_RESERVE`] `init.after_reserve` | `region::create`: mode set, memory reserved (full size) |
//! | [`INIT_AFTER_MAP`] `init.after_map` | `region::create`: mapped, header not yet written |
//! | [`INIT_BEFORE_READY`] `init.before_ready` | `region::init_ring`: header, slots and bells written, READY not yet published |
//! | [`CLEANUP_AFTER_OPEN`] `cleanup.after_open` | `region::remove`: the object is open, no lock taken yet |
//! | [`CLEANUP_AFTER_CHECK`] `cleanup.after_check` | `region::remove`: locks held, identity and liveness checked, about to decide |
//! | [`CLEANUP_BEFORE_UNLINK`] `cleanup.before_unlink` | `region::remove`: decided to remove, just before `shm_unlink` |
//! | [`CLEANUP_AFTER_UNLINK`] `cleanup.after_unlink` | `region::remove`: unlinked, the cleanup lock still held |
//! | [`WAIT_BEFORE_PARK`] `wait.before_park` | `wait::block_on`: announced and re-checked, just before sleeping |
//! | [`WAIT_SPIN`] `wait.spin` | `wait::block_on`: each round of the spin before the first sleep (never reached with `spin=off`) |
//!
//! | [`SEND_AFTER_CLAIM`] `send.after_claim` | `spsc` (room found, by send or reserve) / `mpmc` (the tail CAS won): nothing written yet |
//! | [`SEND_AFTER_WRITE`] `send.after_write` | `spsc` / `mpmc`: payload and length written, not published |
//! | [`SEND_BEFORE_PUBLISH`] `send.before_publish` | `spsc` (the tail store) / `mpmc` (the slot's full stamp): just before it |
//! | [`SEND_BEFORE_WAKE`] `send.before_wake` | `ring`: published, receivers not yet rung |
//! | [`RECV_AFTER_CLAIM`] `recv.after_claim` | `spsc` (a message seen) / `mpmc` (the head CAS won): not yet read |
//! | [`RECV_BEFORE_RELEASE`] `recv.before_release` | `spsc` (the head store) / `mpmc` (the slot freed for the next lap, also when skipping a tombstone or a dead claim): just before it |
//! | [`FENCE_REGISTER`] `fence.register` | `sys::membarrier::register`: armed with `fail`, this process cannot register for asymmetric barriers (as under a seccomp profile without `membarrier`) |
//!
//! # Arming
//!
//! In the process itself with [`arm`] and [`disarm_all`], or from the environment variable
//! `IPCRING_FAILPOINTS`, read once, at the first hit of any point (so spawned processes and C
//! programs can be armed too): a comma-separated list of `NAME=ACTION[@N]`, where `ACTION` is
//! `kill`, `stop`, `sigstop`, `abort`, `sleep:MS` or `fail` (the points that can fail, asked
//! with [`fails`], do; elsewhere it does nothing) and `@N` (default `@1`) makes the point
//! fire from its `N`-th hit on. For example
//! `IPCRING_FAILPOINTS="init.after_map=kill,wait.before_park=sleep:50@3"`. An unknown name or
//! action there is a test bug: the process prints why and aborts at that first hit.
//! [`arm`] reads the variable first, so what it arms wins.
//!
//! Hits are counted per process, from the moment of arming; once a point fires, it fires at
//! every later hit too. The hit path takes no lock and allocates nothing once the variable
//! has been read, so a point may sit anywhere (the actions are plain system calls).
//!
//! # Examples
//!
//! `tests/crash_init.rs` and `tests/kill_matrix.rs` arm points in forked children and check
//! what the survivors see.

// Without the cfg only `hit` and the point names are used (by the library's own call sites).
#![cfg_attr(not(ipcring_test), allow(dead_code))]

use crate::error::{Error, Result};

/// `region::create`: the object was just made by `shm_open` (size 0); nothing else done.
pub const INIT_AFTER_OPEN: &str = "init.after_open";
/// `region::create`: the creator holds the init lock.
pub const INIT_AFTER_LOCK: &str = "init.after_lock";
/// `region::create`: the mode is set and the memory reserved (the object has its full size).
pub const INIT_AFTER_RESERVE: &str = "init.after_reserve";
/// `region::create`: the region is mapped; the header is not written yet.
pub const INIT_AFTER_MAP: &str = "init.after_map";
/// `region::init_ring`: everything written but READY (also on anonymous rings).
pub const INIT_BEFORE_READY: &str = "init.before_ready";
/// `region::remove`: the object is open; no lock taken yet.
pub const CLEANUP_AFTER_OPEN: &str = "cleanup.after_open";
/// `region::remove`: cleanup and init locks held, identity and liveness checked; the verdict
/// (remove, or refuse) comes next.
pub const CLEANUP_AFTER_CHECK: &str = "cleanup.after_check";
/// `region::remove`: about to `shm_unlink`.
pub const CLEANUP_BEFORE_UNLINK: &str = "cleanup.before_unlink";
/// `region::remove`: unlinked; the cleanup lock is still held.
pub const CLEANUP_AFTER_UNLINK: &str = "cleanup.after_unlink";
/// `wait::block_on`: announced as a waiter and re-checked, just before sleeping.
pub const WAIT_BEFORE_PARK: &str = "wait.before_park";
/// `wait::block_on`: each round of the spin before the first sleep.
pub const WAIT_SPIN: &str = "wait.spin";
/// A send has claimed its slot (MPMC: the tail CAS won) and not written it.
pub const SEND_AFTER_CLAIM: &str = "send.after_claim";
/// A send has written the payload and not published it.
pub const SEND_AFTER_WRITE: &str = "send.after_write";
/// A send is about to publish (the stamp or tail store).
pub const SEND_BEFORE_PUBLISH: &str = "send.before_publish";
/// A send has published and is about to wake the receivers.
pub const SEND_BEFORE_WAKE: &str = "send.before_wake";
/// A receive has claimed its slot (MPMC: the head CAS won) and not read it.
pub const RECV_AFTER_CLAIM: &str = "recv.after_claim";
/// A receive has read the message and not released the slot.
pub const RECV_BEFORE_RELEASE: &str = "recv.before_release";
/// Registering for asymmetric barriers (`membarrier`): a point that can `fail`.
pub const FENCE_REGISTER: &str = "fence.register";

/// Every point, in the order of the table in the module docs.
pub const ALL: &[&str] = &[
    INIT_AFTER_OPEN,
    INIT_AFTER_LOCK,
    INIT_AFTER_RESERVE,
    INIT_AFTER_MAP,
    INIT_BEFORE_READY,
    CLEANUP_AFTER_OPEN,
    CLEANUP_AFTER_CHECK,
    CLEANUP_BEFORE_UNLINK,
    CLEANUP_AFTER_UNLINK,
    WAIT_BEFORE_PARK,
    WAIT_SPIN,
    SEND_AFTER_CLAIM,
    SEND_AFTER_WRITE,
    SEND_BEFORE_PUBLISH,
    SEND_BEFORE_WAKE,
    RECV_AFTER_CLAIM,
    RECV_BEFORE_RELEASE,
    FENCE_REGISTER,
];

/// The environment variable read at the first hit.
pub const ENV: &str = "IPCRING_FAILPOINTS";


/// What an armed point does when it fires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// `SIGKILL` to this process: `kill -9` at exactly this step (`kill`).
    Kill,
    /// The calling thread sleeps for ever: a live process stuck at this step (`stop`).
    Stop,
    /// `SIGSTOP` to this process: stopped at this step until someone sends `SIGCONT`, then
    /// it goes on (`sigstop`). A parent sees it with `waitpid(WUNTRACED)`.
    SigStop,
    /// `abort()` (`abort`).
    Abort,
    /// The calling thread sleeps this many milliseconds, then goes on (`sleep:MS`).
    Sleep(u32),
    /// The step fails as the system could make it fail (`fail`; only where the code asks
    /// [`fails`], e.g. [`FENCE_REGISTER`]; a no-op at the other points).
    Fail,
}

impl Action {
    /// Parses `kill`, `stop`, `sigstop`, `abort` or `sleep:MS`.
    pub fn parse(s: &str) -> Option<Action> {
        match s {
            "kill" => Some(Action::Kill),
            "stop" => Some(Action::Stop),
            "sigstop" => Some(Action::SigStop),
            "abort" => Some(Action::Abort),
            "fail" => Some(Action::Fail),
            _ => {
                let ms = s.strip_prefix("sleep:")?.parse::<u32>().ok()?;
                (ms <= MAX_SLEEP_MS).then_some(Action::Sleep(ms))
            }
        }
    }
}

/// The longest `Sleep` (24 bits of milliseconds, about 4.6 hours).
pub const MAX_SLEEP_MS: u32 = (1 << 24) - 1;

fn index_of(name: &str) -> Option<usize> {
    ALL.iter().position(|n| *n == name)
}

/// Marks a failpoint. Compiles to nothing without `--cfg ipcring_test`; with it, costs
/// one relaxed load unless something is armed.
#[inline(always)]
pub fn hit(name: &'static str) {
    #[cfg(ipcring_test)]
    imp::hit(name);
    #[cfg(not(ipcring_test))]
    let _ = name;
}

/// Whether the point `name` is armed with [`Action::Fail`] and due to fire (counting this as
/// one of its hits). Always false without `--cfg ipcring_test`.
#[inline(always)]
pub fn fails(name: &'static str) -> bool {
    #[cfg(ipcring_test)]
    return imp::fails(name);
    #[cfg(not(ipcring_test))]
    {
        let _ = name;
        false
    }
}

/// Arms `name` with `action`, to fire on its `skip + 1`-th hit in this process (counted
/// from now) and every hit after it. Replaces an earlier arming of the same point.
///
/// # Errors
///
/// [`Error::InvalidName`] for a name not in [`ALL`]; [`Error::InvalidOption`] for a sleep
/// longer than [`MAX_SLEEP_MS`]; [`Error::Unsupported`] without `--cfg ipcring_test`.
pub fn arm(name: &str, action: Action, skip: u32) -> Result<()> {
    let Some(i) = index_of(name) else {
        return Err(Error::InvalidName {
            name: name.to_string(),
            reason: "not a failpoint (see ipcring::failpoint::ALL)",
        });
    };
    if let Action::Sleep(ms) = action {
        if ms > MAX_SLEEP_MS {
            return Err(Error::InvalidOption {
                option: "failpoint sleep",
                value: ms as u64,
                reason: "at most 2^24 - 1 ms",
            });
        }
    }
    #[cfg(ipcring_test)]
    {
        imp::arm(i, action, skip);
        Ok(())
    }
    #[cfg(not(ipcring_test))]
    {
        let _ = (i, skip);
        Err(Error::Unsupported {
            what: "failpoints (build with RUSTFLAGS=\"--cfg ipcring_test\")",
        })
    }
}

/// Disarms every point (those armed from the environment too, which is not read again).
pub fn disarm_all() {
    #[cfg(ipcring_test)]
    imp::disarm_all();
}

#[cfg(ipcring_test)]
mod imp {
    //! The state: one `u64` per point, `[skip: 32][action: 8][sleep ms: 24]` from the low
    //! bits (action 0: not armed), and one word saying whether anything may be armed.
    //! Process-local (never in shared memory), so plain std atomics, not `sync`'s.

    use super::{index_of, Action, ALL, ENV};
    use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

    /// 0: nothing armed; 1: something may be armed; 2: the environment is not read yet.
    static STATE: AtomicU32 = AtomicU32::new(UNREAD);
    const NOTHING: u32 = 0;
    const SOME: u32 = 1;
    const UNREAD: u32 = 2;

    #[allow(clippy::declare_interior_mutable_const)] // an array initialiser, copied per element
    const UNARMED: AtomicU64 = AtomicU64::new(0);
    static POINTS: [AtomicU64; ALL.len()] = [UNARMED; ALL.len()];

    fn encode(action: Action, skip: u32) -> u64 {
        let (code, ms) = match action {
            Action::Kill => (1u64, 0u32),
            Action::Stop => (2, 0),
            Action::SigStop => (3, 0),
            Action::Abort => (4, 0),
            Action::Sleep(ms) => (5, ms),
            Action::Fail => (6, 0),
        };
        (skip as u64) << 32 | code << 24 | (ms as u64 & 0x00ff_ffff)
    }

    #[inline(always)]
    pub(super) fn hit(name: &'static str) {
        if STATE.load(Ordering::Relaxed) == NOTHING {
            return;
        }
        hit_slow(name);
    }

    pub(super) fn fails(name: &'static str) -> bool {
        if STATE.load(Ordering::Relaxed) == NOTHING {
            return false;
        }
        let Some(i) = index_of(name) else { return false };
        if STATE.load(Ordering::Acquire) == UNREAD {
            read_env();
        }
        let w = POINTS[i].load(Ordering::Acquire);
        if (w >> 24) & 0xff != 6 {
            return false;
        }
        // Due now if its skip count is used up; otherwise this hit counts down.
        hit_slow(name);
        w >> 32 == 0
    }

    #[cold]
    #[inline(never)]
    fn hit_slow(name: &'static str) {
        if STATE.load(Ordering::Acquire) == UNREAD {
            read_env();
        }
        let Some(i) = index_of(name) else { return };
        let word = &POINTS[i];
        let mut cur = word.load(Ordering::Acquire);
        loop {
            if (cur >> 24) & 0xff == 0 {
                return;
            }
            let skip = cur >> 32;
            if skip == 0 {
                break;
            }
            // Not this hit yet: count it.
            match word.compare_exchange_weak(cur, cur - (1 << 32), Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => return,
                Err(now) => cur = now,
            }
        }
        fire((cur >> 24) & 0xff, (cur & 0x00ff_ffff) as u32);
    }

    fn fire(code: u64, ms: u32) {
        match code {
            1 => loop {
                // SAFETY: raise is async-signal-safe; SIGKILL ends the process here.
                unsafe { libc::raise(libc::SIGKILL) };
            },
            2 => loop {
                sleep_ms(1000);
            },
            3 => {
                // SAFETY: raise is async-signal-safe; the process stops until SIGCONT.
                unsafe { libc::raise(libc::SIGSTOP) };
            }
            4 => std::process::abort(),
            5 => sleep_ms(ms),
            _ => {}
        }
    }

    /// Sleeps `ms` on CLOCK_MONOTONIC, to an absolute deadline so that signals cannot
    /// stretch or cut it.
    fn sleep_ms(ms: u32) {
        let mut until = libc::timespec { tv_sec: 0, tv_nsec: 0 };
        // SAFETY: until is a valid out-pointer.
        unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut until) };
        let ns = until.tv_nsec as u64 + (ms as u64 % 1000) * 1_000_000;
        until.tv_sec += (ms / 1000) as libc::time_t + (ns / 1_000_000_000) as libc::time_t;
        until.tv_nsec = (ns % 1_000_000_000) as _;
        // SAFETY: until is a valid timespec; a null remainder is allowed with TIMER_ABSTIME.
        while unsafe { libc::clock_nanosleep(libc::CLOCK_MONOTONIC, libc::TIMER_ABSTIME, &until, std::ptr::null_mut()) }
            == libc::EINTR
        {}
    }

    /// Reads `IPCRING_FAILPOINTS` once (the first caller does; racers find it done).
    fn read_env() {
        static READING: AtomicU32 = AtomicU32::new(0);
        if READING.swap(1, Ordering::AcqRel) != 0 {
            // Another thread is reading it: wait for it to finish (rare, and only once).
            while STATE.load(Ordering::Acquire) == UNREAD {
                std::thread::yield_now();
            }
            return;
        }
        let mut any = false;
        if let Some(spec) = std::env::var_os(ENV) {
            let spec = spec.to_string_lossy();
            for item in spec.split(',').map(str::trim).filter(|s| !s.is_empty()) {
                match parse_item(item) {
                    Ok((i, action, skip)) => {
                        POINTS[i].store(encode(action, skip), Ordering::Release);
                        any = true;
                    }
                    Err(why) => {
                        eprintln!("ipcring: {ENV}: {item:?}: {why}");
                        std::process::abort();
                    }
                }
            }
        }
        // `arm` and `disarm_all` read the variable first (and wait for a reader), so
        // nothing else has written STATE since it was UNREAD.
        STATE.store(if any { SOME } else { NOTHING }, Ordering::Release);
    }

    /// `NAME=ACTION[@N]` → (index, action, skip = N - 1).
    fn parse_item(item: &str) -> Result<(usize, Action, u32), &'static str> {
        let (name, rest) = item.split_once('=').ok_or("expected NAME=ACTION[@N]")?;
        let i = index_of(name.trim()).ok_or("unknown failpoint (see ipcring::failpoint::ALL)")?;
        let (action, n) = match rest.split_once('@') {
            Some((a, n)) => (a, n.trim().parse::<u32>().map_err(|_| "@N: N must be a number >= 1")?),
            None => (rest, 1),
        };
        if n == 0 {
            return Err("@N: N must be a number >= 1");
        }
        let action = Action::parse(action.trim()).ok_or("unknown action (kill, stop, sigstop, abort, sleep:MS, fail)")?;
        Ok((i, action, n - 1))
    }

    pub(super) fn arm(i: usize, action: Action, skip: u32) {
        if STATE.load(Ordering::Acquire) == UNREAD {
            read_env();
        }
        POINTS[i].store(encode(action, skip), Ordering::Release);
        STATE.store(SOME, Ordering::Release);
    }

    pub(super) fn disarm_all() {
        if STATE.load(Ordering::Acquire) == UNREAD {
            read_env();
        }
        for p in &POINTS {
            p.store(0, Ordering::Release);
        }
        STATE.store(NOTHING, Ordering::Release);
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn items_parse() {
            assert_eq!(parse_item("init.after_map=kill"), Ok((3, Action::Kill, 0)));
            assert_eq!(parse_item("wait.before_park=sleep:5@3"), Ok((9, Action::Sleep(5), 2)));
            assert!(parse_item("init.after_map=kill@0").is_err());
            assert!(parse_item("nope=kill").is_err());
            assert!(parse_item("init.after_map").is_err());
            assert!(parse_item("init.after_map=sleep:x").is_err());
        }

        #[test]
        fn encoding_round_trips() {
            let w = encode(Action::Sleep(MAX), 7);
            assert_eq!(w >> 32, 7);
            assert_eq!((w >> 24) & 0xff, 5);
            assert_eq!(w & 0x00ff_ffff, MAX as u64);
        }
        const MAX: u32 = super::super::MAX_SLEEP_MS;
    }
}

#[cfg(test)]
mod examples {
    //! What the items above do, shown as tests (their module is not public API, so these
    //! are unit tests, not doc examples).

    #[test]
    fn parse() {
        use crate::failpoint::Action;
        assert_eq!(Action::parse("sleep:20"), Some(Action::Sleep(20)));
        assert_eq!(Action::parse("kill"), Some(Action::Kill));
        assert_eq!(Action::parse("explode"), None);
    }
}
