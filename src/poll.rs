//! Waiting on many: [`poll`] over senders, receivers and plain descriptors at once, like
//! `zmq_poll` (the C library's `ipcring_poll` is this function).
//!
//! Each round, every ring handle is looked at (its ring and peers, with no system call in the
//! usual case: its descriptor stays armed until a ring makes it readable, see the README's
//! "Event loops"); if none is ready, one `ppoll(2)` waits on all the descriptors (the
//! handles' and the plain ones) until one is readable or the timeout ends; then the handles
//! whose descriptor fired are looked at again, deeply (the descriptor drained and armed
//! again), so a spurious wake-up of a ring handle is not reported. A fallback
//! handle's descriptor is exact and is reported as `ppoll` says.
//!
//! A set of rings only could sleep on the rings' futex words themselves (`futex_waitv(2)`,
//! Linux 5.16+); this function does not: every handle has a descriptor, the doorbells are
//! rung only for endpoints that announced themselves, and one code path serves every set.
//! `benches/ring.rs` and `ipcring bench` measure what a poll over 64 rings costs against one.

use crate::channel::{Receiver, Sender};
use crate::error::{Error, Result};
use crate::timeout::Timeout;
use std::os::fd::{AsRawFd, BorrowedFd, RawFd};

/// The events of a [`PollItem`]: what it waits for (`events`) and what happened (`revents`).
/// The same bits as the C library's `IPCRING_POLLIN`, `IPCRING_POLLOUT`, `IPCRING_POLLERR`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct Events(u16);

impl Events {
    /// No event.
    pub const NONE: Events = Events(0);
    /// A receive would not return `WouldBlock` (a message, end of stream, or an error to
    /// report); for a plain descriptor, `POLLIN`.
    pub const IN: Events = Events(1);
    /// A send would not return `WouldBlock` (room, or the receivers gone); for a plain
    /// descriptor, `POLLOUT`.
    pub const OUT: Events = Events(2);
    /// In `revents` only: the next call on the handle fails, and says why (for a plain
    /// descriptor: `POLLERR`, `POLLHUP` or `POLLNVAL`).
    pub const ERR: Events = Events(4);

    /// The raw bits.
    pub const fn bits(self) -> u16 {
        self.0
    }
    /// Events from raw bits (unknown bits are dropped).
    pub fn from_bits(bits: u16) -> Events {
        Events(bits & 7)
    }
    /// Whether every bit of `other` is set.
    pub fn contains(self, other: Events) -> bool {
        self.0 & other.0 == other.0
    }
    /// Whether no bit is set.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }
}

impl std::ops::BitOr for Events {
    type Output = Events;
    fn bitor(self, rhs: Events) -> Events {
        Events(self.0 | rhs.0)
    }
}

impl std::ops::BitOrAssign for Events {
    fn bitor_assign(&mut self, rhs: Events) {
        self.0 |= rhs.0;
    }
}

#[derive(Debug)]
enum Target<'a> {
    Sender(&'a mut Sender),
    Receiver(&'a mut Receiver),
    Fd(BorrowedFd<'a>),
}

/// One entry of a [`poll`]: a sender (ready for [`Events::OUT`]), a receiver (ready for
/// [`Events::IN`]) or a plain descriptor with the events it waits for.
#[derive(Debug)]
pub struct PollItem<'a> {
    target: Target<'a>,
    events: Events,
    revents: Events,
}

impl<'a> PollItem<'a> {
    /// Waits until `rx` can receive (a message, end of stream, or an error to report).
    pub fn receiver(rx: &'a mut Receiver) -> PollItem<'a> {
        PollItem {
            target: Target::Receiver(rx),
            events: Events::IN,
            revents: Events::NONE,
        }
    }
    /// Waits until `tx` can send (room, or the receivers gone).
    pub fn sender(tx: &'a mut Sender) -> PollItem<'a> {
        PollItem {
            target: Target::Sender(tx),
            events: Events::OUT,
            revents: Events::NONE,
        }
    }
    /// Waits until `fd` is readable ([`Events::IN`]) and/or writable ([`Events::OUT`]).
    pub fn fd(fd: BorrowedFd<'a>, events: Events) -> PollItem<'a> {
        PollItem {
            target: Target::Fd(fd),
            events,
            revents: Events::NONE,
        }
    }
    /// What happened at the last [`poll`].
    pub fn revents(&self) -> Events {
        self.revents
    }
    /// Whether the last [`poll`] found this item ready.
    pub fn is_ready(&self) -> bool {
        !self.revents.is_empty()
    }

    fn raw_fd(&self) -> RawFd {
        match &self.target {
            Target::Sender(t) => t.as_raw_fd(),
            Target::Receiver(r) => r.as_raw_fd(),
            Target::Fd(fd) => fd.as_raw_fd(),
        }
    }

    /// What `ppoll` waits for on this item's descriptor: readability for every handle (the
    /// handles' descriptors are readable when they can make progress, whatever the direction).
    fn poll_events(&self) -> libc::c_short {
        match &self.target {
            Target::Fd(_) => {
                let mut e = 0;
                if self.events.contains(Events::IN) {
                    e |= libc::POLLIN;
                }
                if self.events.contains(Events::OUT) {
                    e |= libc::POLLOUT;
                }
                e
            }
            _ => libc::POLLIN,
        }
    }

    /// Looks at a handle that decides its own readiness: `Some(revents)`, or `None` for one
    /// whose descriptor is exact (or a plain descriptor). `deep` after its descriptor fired
    /// (see `RingReceiver::poll_ready`).
    fn look(&mut self, deep: bool) -> Option<Events> {
        let (r, ready) = match &mut self.target {
            Target::Sender(t) => (t.poll_ready(deep)?, Events::OUT),
            Target::Receiver(r) => (r.poll_ready(deep)?, Events::IN),
            Target::Fd(_) => return None,
        };
        Some(match r {
            Ok(()) => ready,
            Err(Error::WouldBlock) => Events::NONE,
            Err(Error::EndOfStream) => ready,
            Err(e) if e.is_disconnected() => ready,
            Err(_) => ready | Events::ERR,
        })
    }

    fn reported(&self, re: libc::c_short) -> Events {
        let mut ev = Events::NONE;
        let bad = re & (libc::POLLERR | libc::POLLHUP | libc::POLLNVAL) != 0;
        match &self.target {
            Target::Fd(_) => {
                if re & libc::POLLIN != 0 {
                    ev |= Events::IN;
                }
                if re & libc::POLLOUT != 0 {
                    ev |= Events::OUT;
                }
                if bad {
                    ev |= Events::ERR;
                }
            }
            // A fallback handle's descriptor is readable when its call can make progress.
            Target::Sender(_) if re != 0 => ev |= Events::OUT,
            Target::Receiver(_) if re != 0 => ev |= Events::IN,
            _ => {}
        }
        ev
    }
}

/// Items polled without allocating (see [`poll`]).
const ON_STACK: usize = 64;

/// Waits until at least one of `items` is ready, or `timeout` ends; returns how many are
/// ready (their [`PollItem::revents`] say what), 0 if the timeout ended first
/// (`Timeout::NonBlocking` looks once). A handle reported ready will not return
/// `WouldBlock` from its next non-blocking call in that direction, unless another thread or
/// process took the message or the room first (competing receivers on MPMC). Up to 64
/// items, a call allocates nothing.
///
/// # Errors
///
/// [`Error::Io`] if `ppoll` fails (e.g. a plain descriptor that is not open is reported as
/// `Events::ERR`, not an error); [`Error::InvalidOption`] for more than 65536 items.
///
/// # Examples
///
/// ```
/// use ipcring::{poll, PollItem, Timeout};
/// let (mut tx1, mut rx1) = ipcring::pair_at("shm://?capacity=4")?;
/// let (_tx2, mut rx2) = ipcring::pair_at("pipe://")?;
/// tx1.send(b"first")?;
/// let mut items = [PollItem::receiver(&mut rx1), PollItem::receiver(&mut rx2)];
/// assert_eq!(poll(&mut items, Timeout::after(std::time::Duration::from_secs(5)))?, 1);
/// assert!(items[0].is_ready() && !items[1].is_ready());
/// assert_eq!(rx1.try_recv_vec()?, b"first");
/// # Ok::<(), ipcring::Error>(())
/// ```
pub fn poll(items: &mut [PollItem<'_>], timeout: Timeout) -> Result<usize> {
    if items.len() > 65536 {
        return Err(Error::InvalidOption {
            option: "items",
            value: items.len() as u64,
            reason: "at most 65536 items per poll",
        });
    }
    // Up to ON_STACK items (an event loop's usual set) are polled without allocating.
    const NO_FD: libc::pollfd = libc::pollfd {
        fd: -1,
        events: 0,
        revents: 0,
    };
    let (mut pfds_stack, mut looked_stack) = ([NO_FD; ON_STACK], [false; ON_STACK]);
    let (mut pfds_heap, mut looked_heap) = (Vec::new(), Vec::new());
    let (pfds, looked): (&mut [libc::pollfd], &mut [bool]) = if items.len() <= ON_STACK {
        (&mut pfds_stack[..items.len()], &mut looked_stack[..items.len()])
    } else {
        pfds_heap.resize(items.len(), NO_FD);
        looked_heap.resize(items.len(), false);
        (&mut pfds_heap, &mut looked_heap)
    };
    loop {
        // 1. Look at the handles that decide for themselves, arming their descriptors.
        let mut ready = 0;
        looked.fill(false);
        for (i, it) in items.iter_mut().enumerate() {
            it.revents = Events::NONE;
            if let Some(ev) = it.look(false) {
                looked[i] = true;
                it.revents = ev;
                ready += usize::from(!ev.is_empty());
            }
        }
        // 2. One ppoll over every descriptor: without waiting if a handle is ready already.
        for (p, it) in pfds.iter_mut().zip(items.iter()) {
            *p = libc::pollfd {
                fd: it.raw_fd(),
                events: it.poll_events(),
                revents: 0,
            };
        }
        let wait = if ready > 0 { Timeout::NonBlocking } else { timeout };
        let fired = crate::sys::fd::poll_count(pfds, &wait)?;
        if fired == 0 && ready == 0 {
            return Ok(0); // the timeout ended (or NonBlocking)
        }
        // 3. The descriptors' verdicts: exact for the fallbacks and plain descriptors; for the
        //    handles that decide themselves, a reason to look again.
        for (i, (it, p)) in items.iter_mut().zip(pfds.iter()).enumerate() {
            if looked[i] {
                if it.revents.is_empty() && p.revents != 0 {
                    if let Some(ev) = it.look(true) {
                        it.revents = ev;
                        ready += usize::from(!ev.is_empty());
                    }
                }
            } else {
                it.revents = it.reported(p.revents);
                ready += usize::from(!it.revents.is_empty());
            }
        }
        if ready > 0 {
            return Ok(ready);
        }
        // Only spurious wake-ups: wait again (the deadline is absolute).
    }
}
