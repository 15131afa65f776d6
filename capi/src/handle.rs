//! Handle shells: what an `ipcring_t *` points at, and the pool of closed shells.
//!
//! A shell is never returned to the allocator: a closed shell is marked closed and parked for
//! reuse by a later open, so a call on a closed handle reads valid memory and is recognised.

use crate::status::{fail, Status, IPCRING_EBADHANDLE, IPCRING_ECLOSED, IPCRING_EINVAL};
use ipcring::channel::{Receiver, Sender};
use std::cell::UnsafeCell;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Mutex;

/// An open channel endpoint (opaque). Holds a sender, a receiver, or both, as opened.
pub struct Handle {
    state: AtomicU32,
    /// Boxed so that a parked shell costs 16 bytes, whatever an endpoint weighs.
    inner: UnsafeCell<Option<Box<Ends>>>,
}

// SAFETY: the shells are shared only through the spare list (under its mutex) and through
// pointers given to C, where the documented rule is that calls on one handle never overlap;
// `state` is atomic so that a closed shell can be recognised from any thread.
unsafe impl Sync for Handle {}

/// What an open handle holds.
pub(crate) struct Ends {
    pub(crate) tx: Option<Sender>,
    pub(crate) rx: Option<Receiver>,
    /// Position of a slot reserved by `ipcring_reserve` and not yet committed or cancelled.
    pub(crate) reserved: Option<u64>,
    /// Position and length of a message seen by `ipcring_peek` and not yet released.
    pub(crate) peeked: Option<(u64, usize)>,
}

const OPEN: u32 = u32::from_be_bytes(*b"OPEN");
const CLOSED: u32 = u32::from_be_bytes(*b"SHUT");

/// Closed shells waiting to be reused (never freed; see the module docs).
static SPARE: Mutex<Vec<&'static Handle>> = Mutex::new(Vec::new());

/// The open handle behind `ch`, or the status that says why there is none.
///
/// # Safety
/// `ch` is NULL or a pointer the caller got from ipcring (or at least points at readable,
/// aligned memory of a `Handle`'s size), and no other call on the same handle is running.
pub(crate) unsafe fn ends<'a>(ch: *mut Handle) -> Result<&'a mut Ends, Status> {
    if ch.is_null() {
        return Err(fail(IPCRING_EINVAL, "handle is NULL"));
    }
    if ch as usize % std::mem::align_of::<Handle>() != 0 {
        return Err(fail(
            IPCRING_EBADHANDLE,
            "pointer is not an ipcring handle (misaligned)",
        ));
    }
    // SAFETY: non-NULL and aligned; ipcring's shells are never freed, so even a closed
    // handle's state can be read (the caller's contract covers foreign pointers).
    let h = unsafe { &*ch };
    match h.state.load(Ordering::Acquire) {
        OPEN => {}
        CLOSED => return Err(fail(IPCRING_ECLOSED, "handle was already closed")),
        _ => return Err(fail(IPCRING_EBADHANDLE, "pointer is not an ipcring handle")),
    }
    // SAFETY: the handle is open, and the caller guarantees no overlapping call on it, so
    // this is the only reference to its contents for the duration of the call.
    let inner = unsafe { &mut *h.inner.get() };
    inner
        .as_deref_mut()
        .ok_or_else(|| fail(IPCRING_EBADHANDLE, "pointer is not an ipcring handle"))
}

/// A fresh (or recycled) open handle holding these ends, with nothing reserved or peeked.
pub(crate) fn new_handle(tx: Option<Sender>, rx: Option<Receiver>) -> *mut Handle {
    let e = Ends {
        tx,
        rx,
        reserved: None,
        peeked: None,
    };
    let spare = SPARE.lock().unwrap_or_else(|p| p.into_inner()).pop();
    let h: &'static Handle = spare.unwrap_or_else(|| {
        Box::leak(Box::new(Handle {
            state: AtomicU32::new(CLOSED),
            inner: UnsafeCell::new(None),
        }))
    });
    // SAFETY: the shell is closed and owned by this call alone (just popped or just made).
    unsafe { *h.inner.get() = Some(Box::new(e)) };
    h.state.store(OPEN, Ordering::Release);
    h as *const Handle as *mut Handle
}

/// Marks the open handle `ch` closed, parks its shell for reuse and returns what it held.
///
/// # Safety
/// `ch` is an open handle ([`ends`] accepted it) and no other call on it is running.
pub(crate) unsafe fn close_handle(ch: *mut Handle) -> Option<Box<Ends>> {
    // SAFETY: the caller's contract: `ch` points at one of our shells, never freed.
    let h: &'static Handle = unsafe { &*ch };
    h.state.store(CLOSED, Ordering::Release);
    // SAFETY: the handle is ours alone for this call (no overlapping calls).
    let taken = unsafe { (*h.inner.get()).take() };
    SPARE.lock().unwrap_or_else(|p| p.into_inner()).push(h);
    taken
}
