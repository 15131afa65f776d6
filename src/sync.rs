//! The one switch between `std` and `loom`.
//!
//! Every atomic, every tracked cell and the futex wait/wake used by the ring algorithms come
//! from here. Under `--cfg ipcring_loom` they are loom's (the futex is modelled as a
//! `Mutex` + `Condvar` owned by the word, with futex's check-then-sleep atomicity);
//! otherwise they are `core`'s atomics, zero-sized cells and the real `futex(2)` system call.
//! Nothing else in the crate names loom (the crossbeam / tokio pattern, with a crate-prefixed
//! cfg so that a user's own `--cfg loom` never swaps our internals), but `lib.rs`, which
//! leaves out of loom builds, at their `mod` lines, the modules the models do not drive (the
//! API types, addresses, the fallback transports, the inspector). A module that must behave
//! differently under the model asks [`MODEL`] (or uses what this module gives), never the cfg.
//!
//! The types keep the std build's memory layout identical to the shared layout: `AtomicU32`
//! and `AtomicU64` are `core`'s (same size and alignment as `u32`/`u64`), `FutexWord` is a
//! `repr(transparent)` `AtomicU32`, and `AccessTracker` is zero-sized. Under loom they are
//! larger heap objects; the layout's const asserts only apply to the std build.

#[cfg(not(ipcring_loom))]
mod imp {
    pub use core::sync::atomic::{compiler_fence, fence, AtomicU32, AtomicU64, Ordering};

    /// Registers this process for the asymmetric barrier ([`heavy_barrier`]): the
    /// `membarrier(2)` registration, once per process.
    pub fn register_barrier() -> std::io::Result<()> {
        crate::sys::membarrier::register()
    }

    /// The heavy side of the asymmetric barrier: `membarrier(MEMBARRIER_CMD_GLOBAL_EXPEDITED)`.
    /// When it returns, every thread of every registered process has passed a full memory
    /// barrier since it began (see `wait`'s module docs for what that buys). The compiler
    /// fences keep the compiler from moving this thread's own accesses across the call.
    #[inline]
    pub fn heavy_barrier() {
        fence(Ordering::SeqCst);
        crate::sys::membarrier::global_expedited();
        compiler_fence(Ordering::SeqCst);
    }

    /// Whether blocking calls spin before parking (loom models skip straight to the park
    /// protocol: spinning only multiplies the interleavings without testing anything new).
    pub const SPIN: bool = true;

    /// Whether this build runs under the model checker. Then the shared types are model
    /// objects rather than the shared layout (no pinned offsets), tables are kept small (every
    /// interleaving is explored), and the `sem_t` backend is modelled by the bell's futex
    /// word. The rest of the crate asks this instead of naming loom.
    pub const MODEL: bool = false;

    /// Runs `f`, a unit test over the shared types, where those types work: in the std
    /// build, simply calls it; under the model checker, runs it as a loom model (loom's
    /// atomics exist only inside one). Unit tests ask this instead of naming loom.
    #[cfg(test)]
    pub fn model_test(f: impl Fn() + Sync + Send + 'static) {
        f()
    }

    /// A 32-bit futex word shared between processes.
    #[repr(transparent)]
    #[derive(Debug)]
    pub struct FutexWord(AtomicU32);

    impl FutexWord {
        /// A word holding `v`.
        pub fn new(v: u32) -> Self {
            FutexWord(AtomicU32::new(v))
        }
        /// The atomic itself.
        pub fn atomic(&self) -> &AtomicU32 {
            &self.0
        }
        /// Sleeps while the word holds `expected`, until woken or until the absolute
        /// CLOCK_MONOTONIC `deadline`. May return spuriously; the caller re-checks its state.
        pub fn wait(&self, expected: u32, deadline: Option<&libc::timespec>) {
            crate::sys::futex::wait_at(self.0.as_ptr(), expected, deadline)
        }
        /// Wakes up to `n` sleepers.
        pub fn wake(&self, n: u32) {
            crate::sys::futex::wake_at(self.0.as_ptr(), n)
        }
    }

    /// Marks the non-atomic payload bytes of a slot so that loom can check that every read
    /// of a payload happens-after the write it reads. Zero-sized (and free) in the std build.
    #[repr(C)]
    #[derive(Debug, Default)]
    pub struct AccessTracker;

    impl AccessTracker {
        /// A new tracker.
        pub fn new() -> Self {
            AccessTracker
        }
        /// Records a read of the tracked bytes.
        #[inline(always)]
        pub fn read(&self) {}
        /// Records a write of the tracked bytes.
        #[inline(always)]
        pub fn write(&self) {}
    }
}

#[cfg(ipcring_loom)]
mod imp {
    pub use loom::sync::atomic::Ordering;

    /// The model of `membarrier(2)`'s `GLOBAL_EXPEDITED` (loom has none). The kernel runs a
    /// full barrier on every CPU that runs a thread of a registered process, and returns when
    /// all have run it; a thread that is not running passes one when it is scheduled in. So:
    ///
    /// - the caller runs `fence(SeqCst)`, marks every other live, running thread as owing a
    ///   barrier (`pending`), sleeps (a loom condition variable) until each has paid it, then
    ///   runs `fence(SeqCst)` again;
    /// - every thread checks, at each of its shim operations (every atomic access and fence
    ///   below goes through [`point`]), whether it owes a barrier, and if so runs
    ///   `fence(SeqCst)` there and acknowledges. Loom explores every interleaving of those
    ///   operations with the caller's, so the barrier lands in every gap of the other
    ///   thread's program (before its publication, between its store and its load, after
    ///   its load);
    /// - a thread asleep (the futex model's wait, or a test's `join` through [`blocked`])
    ///   owes nothing while it sleeps: it runs `fence(SeqCst)` when it goes to sleep and when
    ///   it wakes (the scheduler's barriers around a context switch, which membarrier relies
    ///   on for threads it does not interrupt); a finished thread owes nothing (it ran one
    ///   when it ended); a thread that has not yet made its first shim operation runs
    ///   `fence(SeqCst)` first (it was not running either).
    ///
    /// Loom's `fence(SeqCst)` joins one total order of SeqCst fences, in execution order, so
    /// a barrier paid after the caller's first fence sees everything before it, and the
    /// caller's last fence sees everything before every barrier paid: the two directions of
    /// the argument in `wait`. The bookkeeping is process-local (`std` mutex, reset per
    /// execution by `lazy_static`), invisible to loom's scheduler, which is deterministic.
    pub mod barrier {
        use std::sync::{Arc, Mutex};

        #[derive(Default)]
        struct State {
            next: usize,
            live: u64,
            asleep: u64,
            pending: u64,
        }

        /// The bookkeeping (std: invisible to loom's scheduler) and a loom lock and
        /// condition variable on which a caller sleeps until its barriers are paid (a
        /// yielding spin would let two callers hand the processor to each other for ever).
        struct Shared {
            state: Mutex<State>,
            lock: loom::sync::Mutex<()>,
            paid: loom::sync::Condvar,
        }

        impl Shared {
            /// Acknowledges the barriers `bits` owed (paid, or no longer owed).
            fn ack(&self, bits: u64) {
                self.state.lock().unwrap().pending &= !bits;
                let _g = self.lock.lock().unwrap();
                self.paid.notify_all();
            }
        }

        loom::lazy_static! {
            static ref SHARED: Arc<Shared> = Arc::new(Shared {
                state: Mutex::new(State::default()),
                lock: loom::sync::Mutex::new(()),
                paid: loom::sync::Condvar::new(),
            });
        }

        /// A thread's bit, and the execution's state (held here: a thread-local is dropped
        /// after the execution's statics at the end of the model).
        struct Me(u64, Arc<Shared>);

        impl Drop for Me {
            fn drop(&mut self) {
                // Switched out for good: the scheduler's barrier.
                loom::sync::atomic::fence(super::Ordering::SeqCst);
                let owed = {
                    let mut s = self.1.state.lock().unwrap();
                    s.live &= !self.0;
                    s.pending & self.0
                };
                if owed != 0 {
                    self.1.ack(owed);
                }
            }
        }

        loom::thread_local! {
            static ME: Me = {
                let shared = SHARED.clone();
                let bit = {
                    let mut s = shared.state.lock().unwrap();
                    let bit = 1u64 << s.next;
                    s.next += 1;
                    s.live |= bit;
                    bit
                };
                // Not running until now: the scheduler's barrier.
                loom::sync::atomic::fence(super::Ordering::SeqCst);
                Me(bit, shared)
            };
        }

        /// This thread's bit and the state (none while its thread-locals are destroyed).
        fn me() -> Option<(u64, Arc<Shared>)> {
            ME.try_with(|m| (m.0, m.1.clone())).ok()
        }

        /// Pays a barrier this thread owes (called at each shim operation).
        #[inline]
        pub fn point() {
            let Some((me, shared)) = me() else { return };
            let owes = shared.state.lock().unwrap().pending & me != 0;
            if owes {
                loom::sync::atomic::fence(super::Ordering::SeqCst);
                shared.ack(me);
            }
        }

        /// `membarrier(MEMBARRIER_CMD_GLOBAL_EXPEDITED)`, modelled. The caller counts as
        /// asleep while it waits: between its two fences it runs nothing, so a barrier
        /// another caller asks of it is paid by its second fence.
        pub fn global() {
            let Some((me, shared)) = me() else { return };
            point();
            loom::sync::atomic::fence(super::Ordering::SeqCst);
            let asked = {
                let mut s = shared.state.lock().unwrap();
                s.asleep |= me;
                let asked = s.live & !s.asleep;
                s.pending |= asked;
                asked
            };
            let mut g = shared.lock.lock().unwrap();
            while shared.state.lock().unwrap().pending & asked != 0 {
                g = shared.paid.wait(g).unwrap();
            }
            drop(g);
            shared.state.lock().unwrap().asleep &= !me;
            loom::sync::atomic::fence(super::Ordering::SeqCst);
        }

        /// Runs `f`, which may sleep, as a thread that is not running: it owes no barrier
        /// meanwhile, and passes one when it goes to sleep and when `f` returns.
        pub fn asleep<R>(f: impl FnOnce() -> R) -> R {
            let Some((me, shared)) = me() else { return f() };
            point();
            // Switched out: the scheduler's barrier.
            loom::sync::atomic::fence(super::Ordering::SeqCst);
            let owed = {
                let mut s = shared.state.lock().unwrap();
                s.asleep |= me;
                s.pending & me
            };
            if owed != 0 {
                shared.ack(owed);
            }
            let r = f();
            shared.state.lock().unwrap().asleep &= !me;
            loom::sync::atomic::fence(super::Ordering::SeqCst);
            r
        }
    }

    /// A loom fence that is also a barrier point (see [`barrier`]).
    pub fn fence(order: Ordering) {
        barrier::point();
        loom::sync::atomic::fence(order);
    }

    /// A compiler fence: nothing to model (loom reorders nothing a compiler would not; the
    /// orderings it checks are the memory model's).
    pub fn compiler_fence(_order: Ordering) {
        barrier::point();
    }

    /// Registration always succeeds in the model.
    pub fn register_barrier() -> std::io::Result<()> {
        Ok(())
    }

    /// The modelled `membarrier` (see [`barrier`]).
    pub fn heavy_barrier() {
        barrier::global()
    }

    /// Runs `f` (a `join`, say) as a thread that sleeps, for the barrier model: the models'
    /// threads call it around anything that blocks outside the crate's own shims.
    pub fn blocked<R>(f: impl FnOnce() -> R) -> R {
        barrier::asleep(f)
    }

    macro_rules! atomic {
        ($name:ident, $int:ty) => {
            /// A loom atomic whose every operation is a barrier point (see [`barrier`]).
            #[derive(Debug, Default)]
            pub struct $name(loom::sync::atomic::$name);

            impl $name {
                pub fn new(v: $int) -> Self {
                    $name(loom::sync::atomic::$name::new(v))
                }
                pub fn load(&self, o: Ordering) -> $int {
                    barrier::point();
                    self.0.load(o)
                }
                pub fn store(&self, v: $int, o: Ordering) {
                    barrier::point();
                    self.0.store(v, o)
                }
                pub fn swap(&self, v: $int, o: Ordering) -> $int {
                    barrier::point();
                    self.0.swap(v, o)
                }
                pub fn fetch_add(&self, v: $int, o: Ordering) -> $int {
                    barrier::point();
                    self.0.fetch_add(v, o)
                }
                pub fn fetch_sub(&self, v: $int, o: Ordering) -> $int {
                    barrier::point();
                    self.0.fetch_sub(v, o)
                }
                pub fn fetch_or(&self, v: $int, o: Ordering) -> $int {
                    barrier::point();
                    self.0.fetch_or(v, o)
                }
                pub fn fetch_and(&self, v: $int, o: Ordering) -> $int {
                    barrier::point();
                    self.0.fetch_and(v, o)
                }
                pub fn fetch_max(&self, v: $int, o: Ordering) -> $int {
                    barrier::point();
                    self.0.fetch_max(v, o)
                }
                pub fn compare_exchange(&self, c: $int, n: $int, s: Ordering, f: Ordering) -> Result<$int, $int> {
                    barrier::point();
                    self.0.compare_exchange(c, n, s, f)
                }
                pub fn compare_exchange_weak(
                    &self,
                    c: $int,
                    n: $int,
                    s: Ordering,
                    f: Ordering,
                ) -> Result<$int, $int> {
                    barrier::point();
                    self.0.compare_exchange_weak(c, n, s, f)
                }
                pub fn fetch_update<F: FnMut($int) -> Option<$int>>(
                    &self,
                    s: Ordering,
                    l: Ordering,
                    f: F,
                ) -> Result<$int, $int> {
                    barrier::point();
                    self.0.fetch_update(s, l, f)
                }
            }
        };
    }
    atomic!(AtomicU32, u32);
    atomic!(AtomicU64, u64);

    pub const SPIN: bool = false;

    pub const MODEL: bool = true;

    #[cfg(test)]
    pub fn model_test(f: impl Fn() + Sync + Send + 'static) {
        loom::model(f)
    }

    /// The futex modelled for loom: the word plus a lock and condition variable owned by it.
    /// `wait` checks the value and sleeps under the lock; `wake` takes the lock and notifies,
    /// which gives futex's "compare and sleep atomically with respect to wake" guarantee.
    /// Timeouts are not modelled: a wait with a deadline sleeps like one without, so a lost
    /// wake-up shows up as a loom deadlock instead of being hidden by a timeout.
    #[derive(Debug)]
    pub struct FutexWord {
        word: AtomicU32,
        lock: loom::sync::Mutex<()>,
        cond: loom::sync::Condvar,
    }

    impl FutexWord {
        pub fn new(v: u32) -> Self {
            FutexWord {
                word: AtomicU32::new(v),
                lock: loom::sync::Mutex::new(()),
                cond: loom::sync::Condvar::new(),
            }
        }
        pub fn atomic(&self) -> &AtomicU32 {
            &self.word
        }
        pub fn wait(&self, expected: u32, _deadline: Option<&libc::timespec>) {
            let guard = self.lock.lock().unwrap();
            if self.word.load(Ordering::SeqCst) != expected {
                return;
            }
            // Asleep: it owes the modelled membarrier nothing until it wakes.
            barrier::asleep(|| drop(self.cond.wait(guard).unwrap()));
        }
        pub fn wake(&self, _n: u32) {
            let _guard = self.lock.lock().unwrap();
            self.cond.notify_all();
        }
    }

    #[derive(Debug)]
    pub struct AccessTracker(loom::cell::UnsafeCell<()>);

    impl Default for AccessTracker {
        fn default() -> Self {
            Self::new()
        }
    }

    impl AccessTracker {
        pub fn new() -> Self {
            AccessTracker(loom::cell::UnsafeCell::new(()))
        }
        pub fn read(&self) {
            self.0.with(|_| ());
        }
        pub fn write(&self) {
            self.0.with_mut(|_| ());
        }
    }
}

pub use imp::*;

/// Memory orderings that the loom "teeth" demonstrations weaken one at a time
/// (`--cfg ipcring_mutant="..."`, see tests/loom.rs). In a normal build each is the correct
/// ordering; a mutant build replaces exactly one of them with `Relaxed` (or drops a re-check),
/// and the matching loom model must then fail.
pub mod orderings {
    use super::Ordering;

    /// The SPSC producer's publish of its cursor (must be Release).
    #[cfg(not(ipcring_mutant = "spsc_relaxed_publish"))]
    pub const SPSC_PUBLISH: Ordering = Ordering::Release;
    #[cfg(ipcring_mutant = "spsc_relaxed_publish")]
    pub const SPSC_PUBLISH: Ordering = Ordering::Relaxed;

    /// The MPMC producer's store of a slot's sequence number (must be Release).
    #[cfg(not(ipcring_mutant = "mpmc_relaxed_seq"))]
    pub const MPMC_PUBLISH: Ordering = Ordering::Release;
    #[cfg(ipcring_mutant = "mpmc_relaxed_seq")]
    pub const MPMC_PUBLISH: Ordering = Ordering::Relaxed;

    /// Whether a waiter re-checks the ring after announcing itself (must be true).
    pub const WAIT_RECHECK: bool = !cfg!(ipcring_mutant = "wait_no_recheck");

    /// Whether a waiter on a ring with asymmetric fences runs the heavy barrier
    /// (`membarrier`) after announcing itself (must be true: with only its own SeqCst fence,
    /// a waker that pays only a compiler fence can read `waiters` before the announcement
    /// while the waiter's re-check reads the ring before the publication, a lost wake-up).
    pub const WAIT_MEMBARRIER: bool = !cfg!(ipcring_mutant = "wait_no_membarrier");

    /// Whether a waiter arms its bell before its re-check (must be true: arming after it lets
    /// a publication between the two skip the wake-up, and the waiter sleeps through it).
    pub const WAIT_ARM_BEFORE_RECHECK: bool = !cfg!(ipcring_mutant = "wait_arm_after_recheck");

    /// Whether the ring ends' fast paths look at the bell after a send or receive
    /// (`wait::anyone_waits`, must be true: a fast path that never looks leaves a parked
    /// peer asleep over the message or the room it was waiting for).
    pub const WAKE_FAST_LOOK: bool = !cfg!(ipcring_mutant = "wake_fast_no_look");

    /// Whether an MPMC claimer records its range before the claiming CAS (must be true: crash
    /// recovery tells a live claimer's slot from a dead one's by that record).
    pub const MPMC_CLAIM_RECORD: bool = !cfg!(ipcring_mutant = "mpmc_no_claim_record");

    /// Whether an end counts a peer that attached after it (the per-role attach counter
    /// moved since its snapshot) as one that concerns it (must be true: otherwise a receiver
    /// that came first to a ring left by an earlier run never ends its stream).
    pub const PEERS_ATTACH_COUNTER: bool = !cfg!(ipcring_mutant = "peers_no_attach_counter");
}
