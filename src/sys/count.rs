//! Counts the system calls the library makes, per thread, so that each endpoint's
//! `Stats::syscalls` can say what its operations cost.
//!
//! Every call site of a system call that a send or a receive can make (futex, `sem_t`
//! waits and posts, OFD lock checks, and the fallbacks' reads, writes, polls, queue and
//! socket calls) calls [`one`] next to it. An endpoint takes [`now`] before and after a
//! stretch of work that may make calls and adds the difference to its statistics; the ring's
//! fast path, which makes none by design, is left out of those stretches and costs nothing.
//! vDSO calls (`clock_gettime`) are not system calls and are not counted.

use std::cell::Cell;

thread_local! {
    static CALLS: Cell<u64> = const { Cell::new(0) };
}

/// Notes one system call made by this thread.
#[inline]
pub(crate) fn one() {
    CALLS.with(|c| c.set(c.get().wrapping_add(1)));
}

/// System calls this thread has noted so far (a running count: take differences).
#[inline]
pub(crate) fn now() -> u64 {
    CALLS.with(|c| c.get())
}

/// The calls noted while `f` ran, with its result.
#[inline]
pub(crate) fn counting<T>(calls: &mut u64, f: impl FnOnce() -> T) -> T {
    let before = now();
    let r = f();
    *calls += now().wrapping_sub(before);
    r
}
