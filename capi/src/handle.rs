//! Handle shells: what an `ipcring_t *` points at, and the pool of closed shells.
//!
//! A shell is never returned to the allocator: a closed shell is marked closed and parked for
//! reuse by a later open, so a call on a closed handle reads valid memory and is recognised.
//!
//! The parked shells form a lock-free stack (Treiber's), not a list behind a mutex: a
//! multi-threaded program that forks while another thread is inside `ipcring_open` or
//! `ipcring_close` must not leave its child a lock that nobody will ever release. The stack is
//! free of ABA by construction: a pop never compares against a `next` pointer it read
//! earlier; it takes the whole stack with one `swap(null)`, keeps the first shell and puts
//! the rest back (one CAS onto an empty stack, or, if shells were parked meanwhile, a CAS
//! loop that links the rest in front of them). A push links one shell, or a chain owned by
//! the pusher, in front of the head it read and publishes it with a CAS on that head, which
//! is right whatever happened to the head between the read and the CAS. A fork taken in the
//! middle of a pop leaves the child without the shells that were in flight: they leak there,
//! nothing else happens.

use crate::status::{fail, Status, IPCRING_EBADHANDLE, IPCRING_ECLOSED, IPCRING_EINVAL};
use ipcring::channel::{Interrupter, Receiver, Sender};
use std::cell::UnsafeCell;
use std::ptr;
use std::sync::atomic::{AtomicPtr, AtomicU32, Ordering};

/// An open channel endpoint (opaque). Holds a sender, a receiver, or both, as opened.
///
/// Fork: libipcring takes no process-wide lock (its pool of handle shells is lock-free), so a
/// child of a multi-threaded process can open, use and close handles even when it was forked
/// while another thread was inside an ipcring call. (The calls allocate: that relies on the
/// allocator being fork-safe, as glibc's malloc is; POSIX itself promises only
/// async-signal-safe functions in such a child.) A handle open before `fork()` exists in both
/// processes; each closes the ends it does not use (see `ipcring_pair`).
///
/// Threads: calls on one handle must not overlap, with one exception: `ipcring_interrupt(ch)`
/// may be called from another thread while a call on `ch` is blocked (not while `ch` is
/// being closed), and makes that call return `IPCRING_EINTR`.
///
/// Signals: no ipcring call is async-signal-safe (they allocate and may take the C library's
/// locks): never call one from a signal handler.
#[allow(non_camel_case_types)] // the C name (cbindgen copies it into the header)
pub struct ipcring_t {
    state: AtomicU32,
    /// Boxed so that a parked shell costs 40 bytes (with `wakers`), whatever an endpoint weighs.
    inner: UnsafeCell<Option<Box<Ends>>>,
    /// The interrupters of the ends in `inner`, beside them and not inside: `ipcring_interrupt`
    /// reads this while another thread's blocked call holds `inner` exclusively. Written only
    /// by the open that fills the shell and the close that empties it, which
    /// `ipcring_interrupt` must not overlap.
    wakers: UnsafeCell<Option<Box<[Interrupter]>>>,
    /// The next parked shell while this one is parked in `SPARE` (null at the bottom).
    next: AtomicPtr<ipcring_t>,
}

// SAFETY: `inner` is touched only by whoever owns the shell: the open or close that took it
// out of `SPARE` (a pop hands each shell to one caller), or a call on the open handle, where
// the documented rule is that calls on one handle never overlap. `state` and `next` are
// atomic, so a closed shell can be recognised, and the stack walked, from any thread.
// `wakers` is written only by the open and the close of the handle (which nothing overlaps)
// and otherwise only read, by `ipcring_interrupt`, which may overlap other calls.
unsafe impl Sync for ipcring_t {}

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

/// Closed shells waiting to be reused (never freed): the top of the stack linked through
/// `ipcring_t::next`, null when empty. See the module docs for why it is ABA-free.
static SPARE: AtomicPtr<ipcring_t> = AtomicPtr::new(ptr::null_mut());

/// Parks the chain of shells `first ..= last` (linked through `next`; the caller owns every
/// shell of it) on top of `SPARE`.
fn park(first: &'static ipcring_t, last: &'static ipcring_t) {
    let first = first as *const ipcring_t as *mut ipcring_t;
    let mut head = SPARE.load(Ordering::Relaxed);
    loop {
        // Relaxed: the Release CAS below publishes it; nothing reads `head`'s contents here.
        last.next.store(head, Ordering::Relaxed);
        match SPARE.compare_exchange_weak(head, first, Ordering::Release, Ordering::Relaxed) {
            Ok(_) => return,
            Err(now) => head = now,
        }
    }
}

/// Takes one parked shell, if any; the caller then owns it.
fn unpark() -> Option<&'static ipcring_t> {
    // Acquire: pairs with the Release CAS of every park before (all writes to SPARE are
    // read-modify-writes, so each park's release sequence reaches this swap).
    let top = SPARE.swap(ptr::null_mut(), Ordering::Acquire);
    if top.is_null() {
        return None;
    }
    // SAFETY: every pointer ever put in SPARE is a leaked shell, never freed.
    let first: &'static ipcring_t = unsafe { &*top };
    let rest = first.next.load(Ordering::Relaxed);
    if rest.is_null() {
        return Some(first);
    }
    // The rest of the stack is ours alone now. Put it back: usually nothing was parked
    // meanwhile and one CAS does it; otherwise link it in front of what was.
    if SPARE
        .compare_exchange(ptr::null_mut(), rest, Ordering::Release, Ordering::Relaxed)
        .is_err()
    {
        // SAFETY: as above, shells are never freed.
        let rest_ref: &'static ipcring_t = unsafe { &*rest };
        let mut last = rest_ref;
        loop {
            let next = last.next.load(Ordering::Relaxed);
            if next.is_null() {
                break;
            }
            // SAFETY: as above; the chain is ours, so nobody relinks it while we walk it.
            last = unsafe { &*next };
        }
        park(rest_ref, last);
    }
    Some(first)
}

/// The open handle behind `ch`, or the status that says why there is none.
///
/// # Safety
/// `ch` is NULL or a pointer the caller got from ipcring (or at least points at readable,
/// aligned memory of a `ipcring_t`'s size), and no other call on the same handle is running.
pub(crate) unsafe fn ends<'a>(ch: *mut ipcring_t) -> Result<&'a mut Ends, Status> {
    // SAFETY: the caller's contract.
    let h = unsafe { open_shell(ch) }?;
    // SAFETY: the handle is open, and the caller guarantees no overlapping call on it, so
    // this is the only reference to its contents for the duration of the call.
    let inner = unsafe { &mut *h.inner.get() };
    inner
        .as_deref_mut()
        .ok_or_else(|| fail(IPCRING_EBADHANDLE, "pointer is not an ipcring handle"))
}

/// The interrupters of the open handle `ch` (one per end it holds).
///
/// # Safety
/// As [`ends`], except that other calls on the handle may be running: only `ipcring_close`
/// (and the open that made it) must not.
pub(crate) unsafe fn interrupters<'a>(ch: *mut ipcring_t) -> Result<&'a [Interrupter], Status> {
    // SAFETY: the caller's contract.
    let h = unsafe { open_shell(ch) }?;
    // SAFETY: `wakers` is only written by the open and the close of this handle, which the
    // caller's contract excludes; a shared reference beside a running call's `inner` is fine.
    let w = unsafe { &*h.wakers.get() };
    Ok(w.as_deref().unwrap_or(&[]))
}

/// The shell behind `ch` if it is an open handle.
///
/// # Safety
/// As [`ends`] (readable, aligned memory of a shell's size, or NULL).
unsafe fn open_shell<'a>(ch: *mut ipcring_t) -> Result<&'a ipcring_t, Status> {
    if ch.is_null() {
        return Err(fail(IPCRING_EINVAL, "handle is NULL"));
    }
    if ch as usize % std::mem::align_of::<ipcring_t>() != 0 {
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
    Ok(h)
}

/// A fresh (or recycled) open handle holding these ends, with nothing reserved or peeked,
/// and their interrupters beside them.
///
/// # Errors
///
/// The status of an end that cannot make its interrupter (a fallback's eventfd).
pub(crate) fn new_handle(tx: Option<Sender>, rx: Option<Receiver>) -> Result<*mut ipcring_t, Status> {
    let mut w = Vec::new();
    for i in [
        tx.as_ref().map(Sender::interrupter),
        rx.as_ref().map(Receiver::interrupter),
    ]
    .into_iter()
    .flatten()
    {
        w.push(i.map_err(crate::status::err)?);
    }
    let e = Ends {
        tx,
        rx,
        reserved: None,
        peeked: None,
    };
    let h: &'static ipcring_t = unpark().unwrap_or_else(|| {
        Box::leak(Box::new(ipcring_t {
            state: AtomicU32::new(CLOSED),
            inner: UnsafeCell::new(None),
            wakers: UnsafeCell::new(None),
            next: AtomicPtr::new(ptr::null_mut()),
        }))
    });
    // SAFETY: the shell is closed and owned by this call alone (just popped or just made).
    // SAFETY: as above.
    unsafe {
        *h.inner.get() = Some(Box::new(e));
        *h.wakers.get() = Some(w.into_boxed_slice());
    }
    h.state.store(OPEN, Ordering::Release);
    Ok(h as *const ipcring_t as *mut ipcring_t)
}

/// Marks the open handle `ch` closed, parks its shell for reuse and returns what it held.
///
/// # Safety
/// `ch` is an open handle ([`ends`] accepted it) and no other call on it is running.
pub(crate) unsafe fn close_handle(ch: *mut ipcring_t) -> Option<Box<Ends>> {
    // SAFETY: the caller's contract: `ch` points at one of our shells, never freed.
    let h: &'static ipcring_t = unsafe { &*ch };
    h.state.store(CLOSED, Ordering::Release);
    // SAFETY: the handle is ours alone for this call (no overlapping calls).
    let taken = unsafe { (*h.inner.get()).take() };
    // SAFETY: as above (ipcring_interrupt must not overlap the close either).
    drop(unsafe { (*h.wakers.get()).take() });
    park(h, h);
    taken
}
