//! The process-shared `sem_t` wake backend: initialisation, wait with an absolute deadline,
//! post, and the open-time check that a region's semaphore is a process-shared one.
//!
//! Where glibc's 64-bit layout is known (`struct new_sem { u64 data; int private; int pad; }`,
//! `data` = value in the low 32 bits, waiter count in the high 32), the semaphore protocol
//! runs here over the same words, with the futex flags fixed (shared, never private) and
//! the deadline ours; elsewhere the C library's own `sem_clockwait` / `sem_post` are called.
//! [`GLIBC_LAYOUT`] selects one of the two, once.
//!
//! Why not always the C library's calls (live-scribble fix, tests/live_scribble.rs found
//! it): glibc's sem_clockwait and sem_post read the sem_t's `private` word from the shared
//! region at every futex call and pass it to the kernel as futex flags. A peer that
//! scribbles that word after the open-time check ([`looks_shared`]) made glibc abort the
//! whole process ("The futex facility returned an unexpected error code.", SIGABRT), or spin
//! for ever inside sem_clockwait (a futex call that fails with EINVAL is retried without
//! looking at the deadline). The words stay those of glibc's semaphore: a peer calling
//! sem_post/sem_wait interoperates.
//!
//! EINTR policy: a wait returns on a post, a timeout or EINTR alike (the caller re-checks and
//! goes round with the same absolute deadline); a post is never interrupted. Every system
//! call counts itself in [`count`](super::count) (the futex calls in [`futex`](super::futex)).

use core::cell::UnsafeCell;

/// Whether glibc's 64-bit little-endian `sem_t` layout is the one in use: the one place the
/// backend is selected.
const GLIBC_LAYOUT: bool = cfg!(all(
    target_os = "linux",
    target_env = "gnu",
    target_pointer_width = "64",
    target_endian = "little"
));

/// Fixed-size, fixed-alignment storage for a `sem_t` (64 bytes; `sem_t` is 32 on Linux),
/// part of the shared layout (`layout::Bell::sem`). An `UnsafeCell`: the C library writes it
/// through pointers derived from a shared reference.
#[repr(C, align(16))]
#[derive(Debug)]
pub struct SemStorage(pub UnsafeCell<[u8; 64]>);

impl SemStorage {
    /// Zeroed storage (an uninitialised semaphore).
    pub(crate) const fn zeroed() -> Self {
        SemStorage(UnsafeCell::new([0; 64]))
    }

    fn ptr(&self) -> *mut libc::sem_t {
        self.0.get() as *mut libc::sem_t
    }
}

// The storage holds a sem_t.
const _: () = {
    assert!(core::mem::size_of::<libc::sem_t>() <= core::mem::size_of::<SemStorage>());
    assert!(core::mem::align_of::<libc::sem_t>() <= core::mem::align_of::<SemStorage>());
};

/// Initialises the semaphore as process-shared with value 0.
pub(crate) fn init(sem: &SemStorage) -> std::io::Result<()> {
    // SAFETY: the storage is 64 bytes aligned to 16, which holds a sem_t (const-asserted
    // above); the region is fresh and no other process uses this semaphore yet.
    let rc = unsafe { libc::sem_init(sem.ptr(), 1, 0) };
    if rc != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// Waits for a post, once, until the absolute CLOCK_MONOTONIC `deadline`. Returns on a post,
/// a timeout or EINTR alike: the caller re-checks.
pub(crate) fn wait(sem: &SemStorage, deadline: &libc::timespec) {
    if GLIBC_LAYOUT {
        glibc::wait(sem, deadline)
    } else {
        portable::wait(sem, deadline)
    }
}

/// Posts `n` times (fewer if the value reaches its maximum: wake-ups are pending already).
pub(crate) fn post(sem: &SemStorage, n: u32) {
    if GLIBC_LAYOUT {
        glibc::post(sem, n)
    } else {
        portable::post(sem, n)
    }
}

/// Whether the storage looks like a process-shared glibc semaphore. In glibc's 64-bit layout
/// (`struct new_sem { u64 data; int private; int pad; }`) the `private` word holds the futex
/// flags of every wake and wait, and glibc aborts the process if the kernel refuses them;
/// `sem_init(.., 1, ..)` sets it to the "shared" value (128 in glibc 2.36, whose flag sense
/// is inverted), so the word must equal what `sem_init` writes here. Other C libraries (and
/// 32-bit glibc, whose layout differs) are not checked; nor is anything under Miri.
pub(crate) fn looks_shared(sem: &SemStorage) -> bool {
    if !cfg!(all(target_env = "gnu", target_pointer_width = "64", not(miri))) {
        return true;
    }
    let word = |p: *const u8| {
        // SAFETY: p points to at least 12 readable bytes (a 64-byte storage or a sem_t of 32
        // bytes); a volatile read of plain bytes a peer may write.
        unsafe { core::ptr::read_volatile(p.add(8) as *const u32) }
    };
    let mut probe = [0u64; 8];
    let p = probe.as_mut_ptr() as *mut libc::sem_t;
    // SAFETY: probe is 64 bytes aligned to 8, enough for a sem_t (32 bytes, align 8); it is
    // initialised, read and destroyed here, and never shared.
    let shared = unsafe {
        if libc::sem_init(p, 1, 0) != 0 {
            return true;
        }
        let w = word(p as *const u8);
        libc::sem_destroy(p);
        w
    };
    word(sem.0.get() as *const u8) == shared
}

/// The C library's own calls, where its semaphore's layout is not known here.
mod portable {
    use super::SemStorage;

    extern "C" {
        // glibc >= 2.30; the libc crate does not bind it on every version.
        fn sem_clockwait(sem: *mut libc::sem_t, clock: libc::clockid_t, abstime: *const libc::timespec) -> libc::c_int;
    }

    pub(super) fn wait(sem: &SemStorage, deadline: &libc::timespec) {
        super::super::count::one();
        // SAFETY: the semaphore was initialised by the ring's creator (the Sem backend is
        // only used when the header says so); a corrupted sem_t can at worst make this call
        // return early or fail, and the wait is bounded by the deadline.
        unsafe {
            sem_clockwait(sem.ptr(), libc::CLOCK_MONOTONIC, deadline);
        }
    }

    pub(super) fn post(sem: &SemStorage, n: u32) {
        for _ in 0..n {
            super::super::count::one();
            // SAFETY: as in `wait`. EOVERFLOW (value at SEM_VALUE_MAX) just means enough
            // wake-ups are already pending.
            unsafe {
                libc::sem_post(sem.ptr());
            }
        }
    }
}

/// glibc's protocol over its own words, with shared futex calls.
mod glibc {
    use super::SemStorage;
    use crate::sys::futex;
    use core::sync::atomic::{AtomicU64, Ordering};

    /// One announced waiter in `data`'s high half.
    const ONE_WAITER: u64 = 1 << 32;
    /// glibc's SEM_VALUE_MAX.
    const VALUE_MAX: u32 = i32::MAX as u32;
    /// Compare-and-swap attempts against a word a peer may keep changing.
    const TRIES: usize = 64;

    fn data(sem: &SemStorage) -> &AtomicU64 {
        // SAFETY: the storage is 64 bytes aligned to 16 (its type says so), so its first 8
        // bytes are an aligned u64 that lives as long as `sem`; every process accesses it
        // atomically (as glibc does); AtomicU64 has the layout of u64, and the storage is an
        // UnsafeCell, so shared mutation through it is allowed.
        unsafe { &*(sem.0.get() as *const AtomicU64) }
    }

    /// Takes one pending post (value - 1), retiring `waiter` from the count with it.
    fn take(data: &AtomicU64, waiter: u64) -> bool {
        let mut d = data.load(Ordering::Relaxed);
        for _ in 0..TRIES {
            if d as u32 == 0 {
                return false;
            }
            let new = d.wrapping_sub(1).wrapping_sub(waiter);
            match data.compare_exchange_weak(d, new, Ordering::Acquire, Ordering::Relaxed) {
                Ok(_) => return true,
                Err(now) => d = now,
            }
        }
        false
    }

    /// The futex word of the semaphore: the value, the low half of `data` (little-endian).
    fn word(data: &AtomicU64) -> *const u32 {
        data.as_ptr() as *const u32
    }

    pub(super) fn wait(sem: &SemStorage, deadline: &libc::timespec) {
        let data = data(sem);
        if take(data, 0) {
            return;
        }
        data.fetch_add(ONE_WAITER, Ordering::Relaxed);
        if take(data, ONE_WAITER) {
            return;
        }
        // Sleeps while the value is 0; every outcome means "re-check", which the caller does.
        futex::wait_at(word(data), 0, Some(deadline));
        if !take(data, ONE_WAITER) {
            data.fetch_sub(ONE_WAITER, Ordering::Relaxed);
        }
    }

    pub(super) fn post(sem: &SemStorage, n: u32) {
        let data = data(sem);
        for _ in 0..n {
            let mut d = data.load(Ordering::Relaxed);
            let mut posted = false;
            for _ in 0..TRIES {
                if d as u32 >= VALUE_MAX {
                    break; // EOVERFLOW: wake-ups are pending already
                }
                match data.compare_exchange_weak(d, d.wrapping_add(1), Ordering::Release, Ordering::Relaxed) {
                    Ok(_) => {
                        posted = true;
                        break;
                    }
                    Err(now) => d = now,
                }
            }
            if !posted {
                return;
            }
            if d >> 32 != 0 {
                futex::wake_at(word(data), 1);
            }
        }
    }
}
