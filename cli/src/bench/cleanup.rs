//! Named objects (shm rings, FIFOs, POSIX queues and their companion files, UNIX socket
//! paths) never outlive the bench.
//!
//! Three layers:
//! - a [`Named`] guard removes its object when dropped, on every return and error path;
//! - the bench calls [`Named::unlink_now`] as soon as both processes have opened the object
//!   (endpoints keep working on an unlinked object), so the name exists only while a case is
//!   being set up;
//! - while a name exists it is also in a fixed table that a SIGINT / SIGTERM / SIGHUP handler
//!   walks with async-signal-safe calls (`shm_unlink`, `mq_unlink`, `unlink`; a ring's
//!   doorbell FIFOs are entries of their own) before the
//!   signal takes its default course. Children inherit the table and the handler, and get
//!   SIGTERM when the bench dies (`PR_SET_PDEATHSIG`), so an object a child was creating
//!   just then is removed by the child itself; unlinking a name twice is harmless.

use std::ffi::CString;
use std::os::raw::c_char;
use std::ptr::null_mut;
use std::sync::atomic::{AtomicPtr, AtomicU8, Ordering};

/// How the signal handler removes an entry.
#[derive(Clone, Copy)]
#[repr(u8)]
enum Kind {
    Shm = 1,
    Mq = 2,
    Path = 3,
}

const SLOTS: usize = 32;
#[allow(clippy::declare_interior_mutable_const)]
const NO_NAME: AtomicPtr<c_char> = AtomicPtr::new(null_mut());
#[allow(clippy::declare_interior_mutable_const)]
const NO_KIND: AtomicU8 = AtomicU8::new(0);
/// Names to remove if a signal ends the bench (leaked `CString`s; null: free slot).
static NAMES: [AtomicPtr<c_char>; SLOTS] = [NO_NAME; SLOTS];
static KINDS: [AtomicU8; SLOTS] = [NO_KIND; SLOTS];

/// Puts a name in the table; its slot, or `None` if the table is full (then only the
/// guard's drop removes it).
fn register(kind: Kind, name: &str) -> Option<usize> {
    let c = CString::new(name).ok()?;
    let p = c.into_raw();
    // The bench is single-threaded: the only other reader is the signal handler, which
    // sees a slot's kind set before its name.
    for i in 0..SLOTS {
        if NAMES[i].load(Ordering::SeqCst).is_null() {
            KINDS[i].store(kind as u8, Ordering::SeqCst);
            NAMES[i].store(p, Ordering::SeqCst);
            return Some(i);
        }
    }
    // SAFETY: p came from CString::into_raw just above and was not stored anywhere.
    drop(unsafe { CString::from_raw(p) });
    None
}

/// Takes a name out of the table and frees it.
fn unregister(slot: usize) {
    let p = NAMES[slot].swap(null_mut(), Ordering::SeqCst);
    if !p.is_null() {
        // SAFETY: p came from CString::into_raw in `register`, and the swap made this the
        // only owner (the handler only reads names still in the table, on this thread).
        drop(unsafe { CString::from_raw(p) });
    }
}

extern "C" fn on_signal(sig: libc::c_int) {
    for i in 0..SLOTS {
        let p = NAMES[i].load(Ordering::SeqCst);
        if p.is_null() {
            continue;
        }
        // SAFETY: p is a NUL-terminated string leaked by `register` and still in the table;
        // the three calls are plain system calls (async-signal-safe in practice).
        unsafe {
            match KINDS[i].load(Ordering::SeqCst) {
                1 => {
                    libc::shm_unlink(p);
                }
                2 => {
                    libc::mq_unlink(p);
                }
                _ => {
                    libc::unlink(p);
                }
            }
        }
    }
    // SAFETY: restoring the default action and re-raising are async-signal-safe; the signal
    // then ends the process as it would have without the handler.
    unsafe {
        libc::signal(sig, libc::SIG_DFL);
        libc::raise(sig);
    }
}

/// Installs the handler for SIGINT, SIGTERM and SIGHUP (once, at the start of the bench).
pub fn install_signal_cleanup() {
    for sig in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
        // SAFETY: an all-zero sigaction is a valid starting value; the handler only uses
        // async-signal-safe calls and atomics.
        unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
            libc::sigemptyset(&mut sa.sa_mask);
            sa.sa_flags = libc::SA_RESTART;
            libc::sigaction(sig, &sa, std::ptr::null_mut());
        }
    }
}

/// A channel's named object, removed when dropped (or earlier with [`Named::unlink_now`]).
pub struct Named {
    addr: String,
    slots: Vec<usize>,
    live: bool,
}

impl Named {
    /// Guards the object of `addr` (scheme `shm`, `mq`, `fifo` or `unix`, target `target`);
    /// `None` for transports without one (`pipe://`, `tcp://`).
    pub fn new(scheme: &str, target: &str, addr: &str) -> Option<Named> {
        let entries: Vec<(Kind, String)> = match scheme {
            // The ring and its two doorbell FIFOs beside it (`NAME.bell-rx`, `NAME.bell-tx`;
            // `ipcring::unlink` removes all three, the signal handler needs each name).
            "shm" => vec![
                (Kind::Shm, format!("/{target}")),
                (Kind::Path, format!("/dev/shm/{target}.bell-rx")),
                (Kind::Path, format!("/dev/shm/{target}.bell-tx")),
            ],
            "mq" => vec![
                (Kind::Mq, format!("/{target}")),
                (
                    Kind::Path,
                    ipcring::inspect::mq_companion_path(target).display().to_string(),
                ),
            ],
            "fifo" | "unix" => vec![(Kind::Path, target.to_string())],
            _ => return None,
        };
        let slots = entries.iter().filter_map(|(k, n)| register(*k, n)).collect();
        Some(Named {
            addr: addr.to_string(),
            slots,
            live: true,
        })
    }

    /// Removes the object now (both processes have it open, and keep using it).
    pub fn unlink_now(&mut self) {
        if !self.live {
            return;
        }
        self.live = false;
        let _ = ipcring::unlink(&self.addr); // NotFound: never created, or already gone
        for s in self.slots.drain(..) {
            unregister(s);
        }
    }
}

impl Drop for Named {
    fn drop(&mut self) {
        self.unlink_now();
    }
}
