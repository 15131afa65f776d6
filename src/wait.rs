//! Blocking: spin, then park on a shared futex word (or a process-shared `sem_t`), with
//! timeouts.
//!
//! # The protocol (the same for both backends, and the one the loom models check)
//!
//! A waiter, after its fast-path attempt failed and its spin budget is spent (an endpoint
//! opened with `spin=off`, [`RingOptions::spin`], has none: it goes straight to step 1):
//!
//! 1. reads the bell's futex word `seq` (Acquire);
//! 2. announces itself: `waiters += 1` and arms the bell (`swap(armed, 1)`), then the
//!    Store→Load barrier: a SeqCst fence on a ring with full fences, the heavy barrier
//!    `membarrier(MEMBARRIER_CMD_GLOBAL_EXPEDITED)` on a ring with asymmetric fences (see
//!    "Asymmetric fences" below);
//! 3. re-checks the ring (the state, never the futex word, decides);
//! 4. sleeps while `seq` still holds the value read in 1 (futex) or until posted (sem), at
//!    most until its deadline or one `PARK_SLICE`, whichever is sooner;
//! 5. `waiters -= 1` and goes round again (re-arming if it parks again).
//!
//! A waker, after publishing (a cursor or sequence store, Release):
//!
//! 1. a SeqCst fence (full fences) or only a compiler fence (asymmetric fences), then reads
//!    `waiters` (Relaxed);
//! 2. only if that is non-zero and its own `swap(armed, 0)` returns 1: `seq += 1` and
//!    `FUTEX_WAKE` of every sleeper (or one `sem_post` per announced waiter).
//!
//! The two barriers make the classic store/load (Dekker) pattern safe: either the waiter's
//! re-check sees the publication, or the waker sees the announcement (`waiters`) and its swap
//! finds `armed` set (or set and already taken by a waker whose ring is on its way). A busy
//! ring with nobody parked makes no system call per message. `seq` changing between 1 and 4 makes the
//! futex wait return at once, so a ring between the re-check and the sleep is not lost.
//!
//! # Asymmetric fences: who pays the Store→Load barrier
//!
//! Both sides do a store then a load of something the other side stores (the waiter:
//! `waiters`/`armed`, then the ring; the waker: the ring, then `waiters`/`armed`). Without a
//! Store→Load barrier on each side both loads may miss both stores (each store still in its
//! core's store buffer): the waiter sleeps on a published message and the waker does not
//! ring. With full fences ([`FenceMode::Full`]) each side pays its own `fence(SeqCst)`, and on
//! the waker's side that is every publication: the fence waits until the just-written line
//! has left the store buffer (an `mfence` or locked instruction on x86, ~30 ns when the line
//! must cross cores). A ring with asymmetric fences ([`FenceMode::Asymmetric`], the default
//! where it works) moves the whole cost to the side about to sleep, which is about to make a
//! system call anyway:
//!
//! - the waker: publish (Release), `compiler_fence(SeqCst)`, load `waiters` (Relaxed). The
//!   compiler fence only keeps the compiler from hoisting the load above the store, so the
//!   two are in that order in the instruction stream; the processor may still reorder them.
//! - the waiter: announce (`waiters += 1`, `swap(armed, 1)`), then
//!   `membarrier(MEMBARRIER_CMD_GLOBAL_EXPEDITED)` ([`crate::sync::heavy_barrier`]), then the
//!   re-check. The call begins with a full barrier on the caller's CPU (so the announcement
//!   is globally visible first), sends an IPI to every CPU that runs a thread of a
//!   registered process, each of which runs a full barrier (`smp_mb`) in its handler, and
//!   returns only when all have: then a full barrier on the caller, and the re-check.
//!
//! The waker's full barrier (the IPI's, `B`) pairs with the waiter's two (the call's entry
//! `E`, before which the announcement `A` is visible, and its exit `X`, before the re-check
//! `R`). Interrupts are precise, so `B` lands at one point of the waker's instruction
//! stream, between two instructions; with the publication `P` and the load `L` (in that
//! program order, kept by the compiler fence), there are three cases:
//!
//! 1. `B` before `P` (the waker was not even publishing yet, or was elsewhere): `L` comes
//!    after `B`, which came after `E`, after which `A` was visible: `L` sees the
//!    announcement, and the waker rings.
//! 2. `B` after `L` (both retired before the interrupt): `B` drains the store buffer, so `P`
//!    is globally visible before the IPI completes, hence before `X` and the re-check `R`:
//!    the waiter sees the publication and does not sleep. (Whatever `L` read.)
//! 3. `B` between `P` and `L` (the straddling case; on x86 `L` may even have *executed*
//!    before `P` drained, which is exactly the reordering in question): `P` is before `B`,
//!    so `R` sees it as in case 2; and `L` is after `B`, so it also sees `A` as in case 1.
//!    Both sides see each other: a harmless extra ring at most.
//!
//! A waker that was not running at all (preempted, or asleep) passes a full barrier in the
//! scheduler when it is switched out and in, which membarrier relies on for threads it does
//! not interrupt: its `P` before the switch is visible to `R`, its `L` after it sees `A`.
//! `Relaxed` is enough for the load: what must hold is only that it is not satisfied before
//! `B` when it follows `B` in program order, which the full barrier itself guarantees;
//! Acquire would order the waker's *later* accesses, which nothing here needs (what it does
//! when it sees a waiter, the swap of `armed` and the `FUTEX_WAKE`, are ordered by
//! themselves). The same holds for the other loads of `notify` (`fd_waiters`, the plain load
//! of `armed`): they are after `P` in program order, so cases 1–3 apply to each.
//!
//! Why every process must be registered: `GLOBAL_EXPEDITED` interrupts only CPUs running
//! threads of processes that registered (`MEMBARRIER_CMD_REGISTER_GLOBAL_EXPEDITED`), for
//! their sake (the unregistered are left alone to keep the IPIs off other workloads). A waker
//! in an unregistered process would get no `B` while running, and case 3 would become a lost
//! wake-up. So the creator picks asymmetric fences only if it can register, and every opener
//! of an asymmetric ring registers first (once per process, a `OnceLock`) or is refused
//! with [`Error::FenceUnavailable`]; a forked child inherits the registration with the
//! memory map (and the `OnceLock` with it); `exec` loses both, and the new image registers at
//! its own open. PID and mount namespaces do not matter: membarrier acts on CPUs and on the
//! memory maps of registered processes, not on PIDs or names, so a waker in another
//! container's namespaces (sharing the object through a bind-mounted `/dev/shm`, say) is
//! covered exactly when its process registered, which its open did. (A different *user* or
//! seccomp policy is what can refuse it; then its open fails, it never joins unprotected.)
//! Where the call is refused or missing (seccomp, kernels before 4.16), the creator falls
//! back to [`FenceMode::Full`]; `fence=full` in the address or `IPCRING_FENCE=full` in the
//! creator's environment choose it outright (where seccomp is unknown, and to test it).
//! The choice lives in the header (`Identity::fences`), so all the ring's processes agree.
//!
//! Close and poison ([`notify_all`]) keep a SeqCst fence on both kinds of ring: they are
//! rare, and a full fence pairs with either of the waiter's barriers.
//!
//! Loom cannot run `membarrier`; `sync::barrier` models it (every other live thread runs
//! `fence(SeqCst)` at one of its shim operations before the call returns, a sleeping or
//! finished one around its context switch), so the loom models explore every placement of
//! `B`; the mutant `wait_no_membarrier` (the waiter keeps only its own fence) makes the
//! blocking models fail with a lost wake-up.
//!
//! # One wake per sleep, not one per publication
//!
//! `armed` is what keeps a saturated ring at (nearly) zero system calls per message. The
//! waiter count alone cannot: it stays non-zero from the wake until the woken waiter is
//! scheduled and retracts (tens of microseconds on a busy machine), and every publication in
//! that window would ring again, one `FUTEX_WAKE` per message. With `armed`, the first waker
//! takes the flag and rings; the others find it 0 and skip (an atomic swap on the bell's line
//! instead of a system call). That is safe because a waker that finds 0 can only be racing a ring that is already certain to reach every waiter that
//! armed before it: a waiter arms *after* reading `seq` (step 1 before 2), the taker bumps
//! `seq` *after* its swap, so that waiter's futex wait either sees the new value and returns
//! or is asleep when the taker's `FUTEX_WAKE` (of all sleepers) comes. A waiter whose
//! re-check raced the ring re-arms on its next round. Every write of `armed` is a swap
//! (waiters arm with `swap(1)`, never a plain store): read-modify-writes are totally
//! ordered and always read the newest value, which is what the argument above needs. (loom
//! 0.7 orders a plain store only by causality, so with a plain arm it let a waker's swap read
//! a value older than a re-arm it should have seen; `blocking_wakeup_2x2` and the simpler
//! blocking models deadlocked on that until the arm became a swap.) The loom models check
//! all this (they model the futex with its compare-and-sleep atomicity and no timeouts, so a
//! lost wake-up is a deadlock there), and the mutant `wait_arm_after_recheck` (arming after the re-check)
//! makes them fail.
//!
//! The futex is never a private one (no private flag): the word lives in a shared mapping at different
//! addresses in different processes, and only a shared futex (keyed by the backing object)
//! reaches the peer. Timed waits use `FUTEX_WAIT_BITSET` with an absolute `CLOCK_MONOTONIC`
//! deadline; `EINTR` goes back round the loop with the same deadline, so it never surfaces and
//! never extends the wait. `PARK_SLICE` bounds every sleep so that a waiter re-checks
//! periodically even if a peer dies before ringing (the robustness work builds on this).

use crate::error::{Error, Result};
use crate::layout::{Bell, FenceMode, WakeBackend};
use crate::options::RingOptions;
use crate::sync::{compiler_fence, fence, heavy_barrier, orderings, Ordering, MODEL, SPIN};
use crate::timeout::{Deadline, Timeout};
use std::time::Duration;

/// Spin rounds before parking: 1 + 2 + ... + 64 + 64 + 64 + 64 = 319 pause instructions,
/// a few microseconds, enough to catch a peer that is actively sending or receiving.
const SPIN_ROUNDS: usize = 10;

/// Sleeps for `step`, but never past `timeout`'s deadline: the back-off of retried opens and
/// connects. The sleep ends at an absolute `CLOCK_MONOTONIC` time and `EINTR` goes back to
/// the same time, so signals cannot stretch it. (`std::thread::sleep` re-sleeps the time the
/// kernel says is left, which the timer slack keeps from shrinking when signals come faster
/// than about 50 µs: the sleep then never ends.)
///
/// # Errors
///
/// [`Error::WouldBlock`] for `Timeout::NonBlocking`, [`Error::TimedOut`] once the deadline has
/// passed (checked before sleeping; the caller's next attempt comes after a sleep that ended
/// at the deadline).
pub fn nap(step: Duration, timeout: &Timeout) -> Result<()> {
    timeout.remaining()?;
    let mut until = Deadline::after(step.max(Duration::from_nanos(1)));
    if let Timeout::At(t) = timeout {
        until = until.min(*t);
    }
    let until = until.as_timespec();
    loop {
        crate::sys::count::one();
        // SAFETY: until is a valid timespec; a null remainder is allowed with TIMER_ABSTIME.
        let rc =
            unsafe { libc::clock_nanosleep(libc::CLOCK_MONOTONIC, libc::TIMER_ABSTIME, &until, std::ptr::null_mut()) };
        if rc != libc::EINTR {
            return Ok(());
        }
    }
}

/// The environment variable that makes a creator pick [`FenceMode::Full`] (`full`) or
/// require [`FenceMode::Asymmetric`] (`asymmetric`) when its options leave the mode unset.
pub const FENCE_ENV: &str = "IPCRING_FENCE";

/// The fence mode a creator gives its ring: the one `opts` asks for, else the one
/// `IPCRING_FENCE` names, else [`FenceMode::Asymmetric`] if this process can register for
/// the asymmetric barrier and [`FenceMode::Full`] if it cannot. Registers this process when
/// the answer is asymmetric.
///
/// # Errors
///
/// [`Error::FenceUnavailable`] when asymmetric fences were required and this process cannot
/// register; [`Error::InvalidOption`] for an `IPCRING_FENCE` that names no mode.
pub(crate) fn choose_fence(opts: &RingOptions) -> Result<FenceMode> {
    let asked = match opts.fence_given() {
        Some(f) => Some(f),
        None if MODEL => None,
        None => match std::env::var_os(FENCE_ENV) {
            None => None,
            Some(v) => match v.to_str().map(str::trim) {
                Some("") => None,
                Some("full") => Some(FenceMode::Full),
                Some("asymmetric") => Some(FenceMode::Asymmetric),
                _ => {
                    return Err(Error::InvalidOption {
                        option: "IPCRING_FENCE",
                        value: 0,
                        reason: "must be full or asymmetric",
                    })
                }
            },
        },
    };
    match asked {
        Some(FenceMode::Full) => Ok(FenceMode::Full),
        Some(FenceMode::Asymmetric) => join_fence(FenceMode::Asymmetric).map(|()| FenceMode::Asymmetric),
        None if crate::sync::register_barrier().is_ok() => Ok(FenceMode::Asymmetric),
        None => Ok(FenceMode::Full),
    }
}

/// What a process must do before it uses a ring whose fences are `mode`: for
/// [`FenceMode::Asymmetric`], register for the asymmetric barrier (once per process), so that
/// its wakers are covered by the barriers of the ring's waiters.
///
/// # Errors
///
/// [`Error::FenceUnavailable`] if it cannot register: it must not join the ring.
pub(crate) fn join_fence(mode: FenceMode) -> Result<()> {
    match mode {
        FenceMode::Full => Ok(()),
        FenceMode::Asymmetric => crate::sync::register_barrier().map_err(|e| Error::FenceUnavailable {
            errno: e.raw_os_error().unwrap_or(libc::ENOSYS),
        }),
    }
}

/// The Store→Load barrier of a waiter that has just announced itself (step 2): its own
/// `SeqCst` fence on a ring with full fences, the heavy barrier (`membarrier`) on one with
/// asymmetric fences.
#[inline]
fn announce_barrier(mode: FenceMode) {
    match mode {
        FenceMode::Asymmetric if orderings::WAIT_MEMBARRIER => heavy_barrier(),
        _ => fence(Ordering::SeqCst),
    }
}

/// Prepares a freshly created bell for its backend.
pub(crate) fn init_bell(bell: &Bell, backend: WakeBackend) -> Result<()> {
    match backend {
        WakeBackend::Futex => Ok(()),
        WakeBackend::Sem => crate::sys::sem::init(&bell.sem).map_err(|source| Error::Io { op: "sem_init", source }),
    }
}

/// Why a blocking call polls the ring.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    /// The first try and the spin loop: only the ring itself is looked at.
    Spin,
    /// The last look of a call that may not wait (`Timeout::NonBlocking`).
    Idle,
    /// Just before a sleep: the moment for checks too costly for the spin loop.
    Park,
}

/// One poll of the ring by a blocking call: `Ok(Some(v))` done, `Ok(None)` not yet,
/// `Err(e)` give up with `e`. The [`Phase`] says why it polls: before each sleep is the moment
/// for checks too costly for the spin loop (e.g. whether any peer is still attached).
/// `parks` counts the sleeps; `syscalls` gains every system call made meanwhile (the sleeps,
/// and whatever the polls make: peer checks, recovery).
/// `spin`: whether to spin before the first sleep ([`RingOptions::spin`]); either way the
/// sleep/wake protocol is the same.
#[allow(clippy::too_many_arguments)] // the bell's three facts, the call's three, the endpoint's spin setting, the poll
pub(crate) fn block_on<T>(
    bell: &Bell,
    backend: WakeBackend,
    fences: FenceMode,
    timeout: Timeout,
    parks: &mut u64,
    syscalls: &mut u64,
    spin: bool,
    poll: impl FnMut(Phase) -> Result<Option<T>>,
) -> Result<T> {
    crate::sys::count::counting(syscalls, || block_on_counted(bell, backend, fences, timeout, parks, spin, poll))
}

#[allow(clippy::too_many_arguments)] // as block_on
fn block_on_counted<T>(
    bell: &Bell,
    backend: WakeBackend,
    fences: FenceMode,
    timeout: Timeout,
    parks: &mut u64,
    spin: bool,
    mut poll: impl FnMut(Phase) -> Result<Option<T>>,
) -> Result<T> {
    if let Some(v) = poll(Phase::Spin)? {
        return Ok(v);
    }
    if let Timeout::NonBlocking = timeout {
        return match poll(Phase::Idle)? {
            Some(v) => Ok(v),
            None => Err(Error::WouldBlock),
        };
    }
    if SPIN && spin {
        // Spin only (exponential pause loops, never sched_yield: a yield on a loaded machine
        // hands whole time slices to other processes before we even get to sleep), for
        // SPIN_ROUNDS rounds. `Backoff::spin` alone never reports completion, so count here.
        let backoff = crossbeam_utils::Backoff::new();
        for _ in 0..SPIN_ROUNDS {
            crate::failpoint::hit(crate::failpoint::WAIT_SPIN);
            backoff.spin();
            if let Some(v) = poll(Phase::Spin)? {
                return Ok(v);
            }
        }
    }
    loop {
        // 1. read the doorbell, 2. announce, 3. re-check.
        let seq = bell.seq.atomic().load(Ordering::Acquire);
        bell.waiters.fetch_add(1, Ordering::SeqCst);
        if orderings::WAIT_ARM_BEFORE_RECHECK {
            bell.armed.swap(1, Ordering::SeqCst);
        }
        announce_barrier(fences);
        if orderings::WAIT_RECHECK {
            match poll(Phase::Park) {
                Ok(None) => {}
                done => {
                    bell.waiters.fetch_sub(1, Ordering::Relaxed);
                    return done.map(|v| v.expect("poll returned Some"));
                }
            }
        }
        if !orderings::WAIT_ARM_BEFORE_RECHECK {
            bell.armed.swap(1, Ordering::SeqCst);
        }
        if timeout.expired() {
            bell.waiters.fetch_sub(1, Ordering::Relaxed);
            return Err(Error::TimedOut);
        }
        // 4. sleep (bounded), 5. retract and go round.
        let until = timeout.slice();
        *parks += 1;
        crate::failpoint::hit(crate::failpoint::WAIT_BEFORE_PARK);
        match backend {
            WakeBackend::Futex => bell.seq.wait(seq, Some(&until)),
            WakeBackend::Sem if MODEL => bell.seq.wait(seq, Some(&until)),
            WakeBackend::Sem => crate::sys::sem::wait(&bell.sem, &until),
        }
        bell.waiters.fetch_sub(1, Ordering::Relaxed);
        if let Some(v) = poll(Phase::Spin)? {
            return Ok(v);
        }
    }
}

/// Rings `bell` after a publication that can satisfy waiters: only if a waiter armed it
/// since the last ring, and only one of the wakers that race for it; so a busy ring makes no
/// system call, and a saturated one about one per sleep (see the module docs). Returns
/// `None` if it did not ring, else how many system calls the ring made (the `sem_t` backend
/// makes none when nobody sleeps in the semaphore yet).
#[inline]
pub(crate) fn notify(bell: &Bell, backend: WakeBackend, fences: FenceMode) -> Option<u64> {
    match fences {
        // Only the compiler is kept from hoisting the loads below above the publication;
        // the processor's Store→Load order is the waiters' membarrier's business.
        FenceMode::Asymmetric => compiler_fence(Ordering::SeqCst),
        FenceMode::Full => fence(Ordering::SeqCst),
    }
    // The waiter counts decide whether anybody may need a ring at all (the fast path: two
    // loads of one line); the swap, an RMW that always reads the newest value, decides who
    // rings. The plain load of `armed` before the swap keeps a ring where a descriptor waiter
    // stays announced (its count stands while it is not in a call) free of a
    // read-modify-write per message: the flag is 0 between re-arms. It cannot miss an arm:
    // by the two fences, a load after ours sees a waiter's swap made before its fence.
    let sleepers = bell.waiters.load(Ordering::Relaxed);
    if (sleepers == 0 && bell.fd_waiters.load(Ordering::Relaxed) == 0)
        || bell.armed.load(Ordering::Relaxed) == 0
        || bell.armed.swap(0, Ordering::SeqCst) == 0
    {
        return None;
    }
    // The futex only if someone may sleep on it: a descriptor waiter is woken by the
    // doorbell, which the caller writes (it knows the bell's doorbell; this layer does not).
    // A futex sleeper that announced after our load re-checks after its own fence and sees
    // what we published.
    let mut calls = 0;
    if sleepers != 0 {
        crate::sys::count::counting(&mut calls, || ring(bell, backend));
    }
    Some(calls)
}

/// Announces that an endpoint waits on its descriptor for `bell` and arms the bell (step 2
/// of the protocol, for a waiter that sleeps in `epoll_wait` or `poll` rather than on the
/// futex): the first time, `fd_waiters` goes up by one and stays up until [`retract_fd`];
/// every time, `armed` is set, then the waiter's barrier (the SeqCst fence, or `membarrier`
/// on a ring with asymmetric fences). The caller re-checks the ring after this
/// (step 3); a waker that publishes later sees the announcement and the arm, and the ring
/// layer writes the doorbell (the futex is woken only for `waiters`). The pairing is the
/// futex waiters': the waiter's count and fence before its re-check, the waker's fence
/// before its loads.
pub(crate) fn announce_fd(bell: &Bell, fences: FenceMode, announced: &mut bool) {
    if !*announced {
        bell.fd_waiters.fetch_add(1, Ordering::SeqCst);
        *announced = true;
    }
    bell.armed.swap(1, Ordering::SeqCst);
    announce_barrier(fences);
}

/// Withdraws an announcement made by [`announce_fd`] (the endpoint is closing).
pub(crate) fn retract_fd(bell: &Bell, announced: &mut bool) {
    if *announced {
        bell.fd_waiters.fetch_sub(1, Ordering::Relaxed);
        *announced = false;
    }
}

/// [`notify`]'s first look, for a fast path that calls `notify` (which makes it again) only
/// when it says yes: its fence, then whether any waiter is announced on `bell` (two loads of
/// one line). `false` is exactly `notify`'s `None` at its first test: nobody to wake.
#[inline(always)]
pub(crate) fn anyone_waits(bell: &Bell, fences: FenceMode) -> bool {
    if !crate::sync::orderings::WAKE_FAST_LOOK {
        return false;
    }
    match fences {
        FenceMode::Asymmetric => compiler_fence(Ordering::SeqCst),
        FenceMode::Full => fence(Ordering::SeqCst),
    }
    bell.waiters.load(Ordering::Relaxed) != 0 || bell.fd_waiters.load(Ordering::Relaxed) != 0
}

/// Wakes everybody parked on `bell` (close, poison), whoever armed it; whether anybody had
/// announced itself (and so was woken).
pub(crate) fn notify_all(bell: &Bell, backend: WakeBackend) -> bool {
    fence(Ordering::SeqCst);
    let sleepers = bell.waiters.load(Ordering::Relaxed);
    if sleepers == 0 && bell.fd_waiters.load(Ordering::Relaxed) == 0 {
        return false;
    }
    bell.armed.swap(0, Ordering::SeqCst);
    if sleepers != 0 {
        ring(bell, backend);
    }
    true
}

#[cold]
fn ring(bell: &Bell, backend: WakeBackend) {
    bell.seq.atomic().fetch_add(1, Ordering::Release);
    match backend {
        // Every sleeper: the armed flag this ring took stood for all of them.
        WakeBackend::Futex => bell.seq.wake(u32::MAX),
        WakeBackend::Sem if MODEL => bell.seq.wake(u32::MAX),
        // One post per announced waiter. Hostile-region fix (tests/hostile_regions.rs found
        // it): the count comes from the shared region, which a corrupted one can set to ~2^32,
        // and each post is a call: at most one waiter per endpoint can be parked, so more
        // posts than that wake nobody.
        WakeBackend::Sem => {
            let n = bell.waiters.load(Ordering::Relaxed).max(1);
            crate::sys::sem::post(&bell.sem, n.min(crate::layout::MAX_ENDPOINTS as u32))
        }
    }
}
