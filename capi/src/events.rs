//! The event-loop calls (DESIGN §9, the README's "Event loops"): `ipcring_fd`, a handle's
//! descriptor for poll/epoll/select, and `ipcring_poll`, waiting on many handles and plain
//! descriptors at once (over `ipcring::poll`).

use super::{guard, out_ptr};
use crate::handle::{ends, ipcring_t, Ends};
use crate::status::*;
use ipcring::{Events, PollItem, Timeout};
use std::ffi::c_int;
use std::os::fd::{AsRawFd, BorrowedFd};

/// `events` / `revents` bit: a receive would not return `IPCRING_EAGAIN` (a message, end of
/// stream, or an error to report); for a plain descriptor, `POLLIN`.
pub const IPCRING_POLLIN: i16 = 1;
/// `events` / `revents` bit: a send would not return `IPCRING_EAGAIN` (room, or the receivers
/// gone); for a plain descriptor, `POLLOUT`.
pub const IPCRING_POLLOUT: i16 = 2;
/// `revents` bit only: the next call on the handle fails, and its status says why (for a plain
/// descriptor: `POLLERR`, `POLLHUP` or `POLLNVAL`).
pub const IPCRING_POLLERR: i16 = 4;

// The C bits are the Rust API's.
const _: () = assert!(
    IPCRING_POLLIN as u16 == Events::IN.bits()
        && IPCRING_POLLOUT as u16 == Events::OUT.bits()
        && IPCRING_POLLERR as u16 == Events::ERR.bits()
);

/// One entry of `ipcring_poll`: a handle (`ch`), or when `ch` is NULL a plain descriptor
/// (`fd`; a negative `fd` is ignored, as by poll(2)). `events` is what to wait for
/// (`IPCRING_POLLIN` on a receiving handle, `IPCRING_POLLOUT` on a sending one, either on a
/// descriptor); `revents` is set by the call.
#[allow(non_camel_case_types)] // the C name (cbindgen copies it into the header)
#[repr(C)]
pub struct ipcring_pollitem_t {
    /// A handle, or NULL for a plain descriptor.
    pub ch: *mut ipcring_t,
    /// The plain descriptor when `ch` is NULL.
    pub fd: c_int,
    /// What to wait for: `IPCRING_POLLIN` and/or `IPCRING_POLLOUT`.
    pub events: i16,
    /// What happened: set by `ipcring_poll` (`IPCRING_POLLIN`, `IPCRING_POLLOUT`,
    /// `IPCRING_POLLERR`).
    pub revents: i16,
}

/// Writes to `*fd` the handle's descriptor, for poll(2), epoll(7), select(2) or a library's
/// event loop. It is readable (`POLLIN`/`EPOLLIN`, whatever the handle's direction) while a
/// call with `IPCRING_NONBLOCK` would not return `IPCRING_EAGAIN`: a message, end of stream
/// or an error to report for a receiving handle; room or the receivers gone for a sending one.
/// Level-triggered in effect: a readable descriptor may still give `IPCRING_EAGAIN` (spurious
/// readiness: wait again), but it never stays unreadable while a call could make progress.
/// Register it for reading, and after it reads ready, call with `IPCRING_NONBLOCK` until
/// `IPCRING_EAGAIN` (edge-triggered use must also drain that way).
///
/// Ownership: the handle owns the descriptor; never read, write or close it. It stays valid
/// until `ipcring_close(ch)`; remove it from your epoll set before closing the handle. On a
/// handle opened for both directions it is the receiving direction's descriptor (use
/// `ipcring_poll` with `IPCRING_POLLOUT` for the sending direction).
///
/// On `shm://` rings it is an epoll set of the handle's own over the ring's doorbell (a FIFO
/// `/dev/shm/NAME.bell-rx` or `.bell-tx`, made with the ring, with its permissions, and
/// removed with it) and pidfds of the peers' processes, so a peer's death makes it
/// ready at once; a busy ring rings the doorbell only when an endpoint waits on its
/// descriptor. On the other transports it is built on the kernel object's own readiness.
///
/// Thread safety: calls on one handle must not overlap.
///
/// # Safety
/// `ch` is NULL or a handle from ipcring; `fd` is NULL or valid for one write.
#[no_mangle]
pub unsafe extern "C" fn ipcring_fd(ch: *mut ipcring_t, fd: *mut c_int) -> c_int {
    guard(|| {
        let fd = out_ptr(fd, "fd")?;
        // SAFETY: the caller's contract.
        let e = unsafe { ends(ch) }?;
        let raw = match (&e.rx, &e.tx) {
            (Some(rx), _) => rx.as_raw_fd(),
            (None, Some(tx)) => tx.as_raw_fd(),
            (None, None) => return Err(fail(IPCRING_EBADHANDLE, "handle has no end")),
        };
        // SAFETY: checked non-NULL; valid for a write by the caller's contract.
        unsafe { fd.write(raw) };
        Ok(IPCRING_OK)
    })
}

/// Waits until at least one of the `n` items at `items` is ready, or `timeout_ns` ends
/// (`IPCRING_FOREVER`, `IPCRING_NONBLOCK` to look once, or nanoseconds), like `zmq_poll`.
/// Returns how many items are ready (their `revents` say what; the others' are 0), 0 if the
/// time ended first, or a negative status: `IPCRING_EINVAL` for a NULL `items`, `n` of 0 or
/// above 65536, or a handle listed twice; `IPCRING_EDIRECTION` for `IPCRING_POLLIN` on a
/// handle that does not receive (or `IPCRING_POLLOUT` on one that does not send); the status
/// of a bad or closed handle; `IPCRING_EIO` if the system's poll fails. A handle reported
/// ready will not give `IPCRING_EAGAIN` at its next non-blocking call in that direction,
/// unless a competing receiver (or sender) in another thread or process was first.
///
/// Handles may be of any transport, mixed with plain descriptors (sockets, pipes, timers).
/// Each round looks at every handle (arming its descriptor, as a non-blocking call that found
/// nothing does), then sleeps in one ppoll(2) over all the descriptors.
///
/// Thread safety: no other call may overlap on any handle of the set (an `ipcring_interrupt`
/// does not wake this call: add an eventfd of your own to the set for that).
///
/// # Safety
/// `items` is NULL or valid for `n` items of reads and writes; each `ch` is NULL or a handle
/// from ipcring.
#[no_mangle]
pub unsafe extern "C" fn ipcring_poll(items: *mut ipcring_pollitem_t, n: usize, timeout_ns: i64) -> c_int {
    guard(|| {
        if items.is_null() || n == 0 || n > 65536 {
            return Err(fail(
                IPCRING_EINVAL,
                "ipcring_poll: items must be non-NULL and n between 1 and 65536",
            ));
        }
        // SAFETY: checked non-NULL; valid for n items by the caller's contract.
        let items = unsafe { std::slice::from_raw_parts_mut(items, n) };
        let mut handles: Vec<*mut ipcring_t> = items.iter().map(|i| i.ch).filter(|c| !c.is_null()).collect();
        handles.sort();
        if handles.windows(2).any(|w| w[0] == w[1]) {
            return Err(fail(IPCRING_EINVAL, "ipcring_poll: a handle is listed twice"));
        }
        // Each C item becomes one or two Rust items; `owner[k]` is the C item of Rust item k.
        let mut rust: Vec<PollItem<'_>> = Vec::with_capacity(n);
        let mut owner: Vec<usize> = Vec::with_capacity(n);
        for (i, it) in items.iter_mut().enumerate() {
            it.revents = 0;
            let ev = Events::from_bits(it.events as u16);
            if it.ch.is_null() {
                if it.fd >= 0 {
                    // SAFETY: a descriptor the caller passed for the duration of the call (a
                    // closed one is reported as POLLERR by ppoll, not used otherwise).
                    rust.push(PollItem::fd(unsafe { BorrowedFd::borrow_raw(it.fd) }, ev));
                    owner.push(i);
                }
                continue;
            }
            // SAFETY: the caller's contract; each handle appears once (checked above), so the
            // ends borrowed here do not alias.
            let Ends { tx, rx, .. } = unsafe { ends(it.ch) }?;
            if ev.contains(Events::IN) {
                let rx = rx
                    .as_mut()
                    .ok_or_else(|| fail(IPCRING_EDIRECTION, "IPCRING_POLLIN on a handle that does not receive"))?;
                rust.push(PollItem::receiver(rx));
                owner.push(i);
            }
            if ev.contains(Events::OUT) {
                let tx = tx
                    .as_mut()
                    .ok_or_else(|| fail(IPCRING_EDIRECTION, "IPCRING_POLLOUT on a handle that does not send"))?;
                rust.push(PollItem::sender(tx));
                owner.push(i);
            }
        }
        if rust.is_empty() {
            return Err(fail(IPCRING_EINVAL, "ipcring_poll: nothing to wait for"));
        }
        ipcring::poll(&mut rust, Timeout::from_nanos(timeout_ns)).map_err(err)?;
        for (r, &i) in rust.iter().zip(&owner) {
            items[i].revents |= r.revents().bits() as i16;
        }
        Ok(items.iter().filter(|i| i.revents != 0).count() as c_int)
    })
}
