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
    pub use core::sync::atomic::{fence, AtomicU32, AtomicU64, Ordering};

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
    pub use loom::sync::atomic::{fence, AtomicU32, AtomicU64, Ordering};

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
            drop(self.cond.wait(guard).unwrap());
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

    /// Whether a waiter arms its bell before its re-check (must be true: arming after it lets
    /// a publication between the two skip the wake-up, and the waiter sleeps through it).
    pub const WAIT_ARM_BEFORE_RECHECK: bool = !cfg!(ipcring_mutant = "wait_arm_after_recheck");

    /// Whether an MPMC claimer records its range before the claiming CAS (must be true: crash
    /// recovery tells a live claimer's slot from a dead one's by that record).
    pub const MPMC_CLAIM_RECORD: bool = !cfg!(ipcring_mutant = "mpmc_no_claim_record");

    /// Whether an end counts a peer that attached after it (the per-role attach counter
    /// moved since its snapshot) as one that concerns it (must be true: otherwise a receiver
    /// that came first to a ring left by an earlier run never ends its stream).
    pub const PEERS_ATTACH_COUNTER: bool = !cfg!(ipcring_mutant = "peers_no_attach_counter");
}
