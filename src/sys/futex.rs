//! Shared futex wait and wake: the only `futex(2)` calls in the crate.
//!
//! The futex is never a process-private one (the op carries no private flag): the words live
//! in shared mappings at different addresses in different processes, and only a shared futex
//! (keyed by the backing object) reaches the peer. Timed waits use `FUTEX_WAIT_BITSET`, whose deadline
//! is an absolute `CLOCK_MONOTONIC` time.
//!
//! EINTR policy: none of its own. A wait returns on a wake, a timeout, `EAGAIN` (the value
//! had changed), `EINTR` and `EFAULT` alike: every caller re-checks its state and deadline
//! and goes round again with the same absolute deadline, so a signal never surfaces and
//! never extends a wait. Each call counts itself in [`count`](super::count).

/// Sleeps while the 32-bit word at `word` holds `expected`, until woken or until the
/// absolute CLOCK_MONOTONIC `deadline` (`None`: no deadline). The kernel only reads the word
/// (an address it cannot read is `EFAULT`, a return like any other); the caller keeps the
/// word alive for the call.
pub(crate) fn wait_at(word: *const u32, expected: u32, deadline: Option<&libc::timespec>) {
    let ts = deadline.map_or(core::ptr::null(), |t| t as *const libc::timespec);
    super::count::one();
    // SAFETY: the kernel reads the word at `word` (EFAULT if unmapped, never a write) and the
    // timespec at `ts` (null or a valid reference for the call); FUTEX_WAIT_BITSET without
    // FUTEX_CLOCK_REALTIME takes an absolute CLOCK_MONOTONIC deadline. Every error (EAGAIN,
    // ETIMEDOUT, EINTR) means "re-check", which the caller does.
    unsafe {
        libc::syscall(
            libc::SYS_futex,
            word,
            libc::FUTEX_WAIT_BITSET,
            expected,
            ts,
            core::ptr::null::<u32>(),
            // val3 is the kernel's u32 bitset (libc spells the all-ones mask as -1i32).
            libc::FUTEX_BITSET_MATCH_ANY as u32,
        );
    }
}

/// Wakes up to `n` waiters sleeping on the word at `word` (its address is the key).
pub(crate) fn wake_at(word: *const u32, n: u32) {
    let n = n.min(i32::MAX as u32) as libc::c_int;
    super::count::one();
    // SAFETY: FUTEX_WAKE only uses the address as the key of the wait queue; it does not
    // dereference the word.
    unsafe {
        libc::syscall(libc::SYS_futex, word, libc::FUTEX_WAKE, n);
    }
}
