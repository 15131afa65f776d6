//! The readiness descriptor of a fallback end ([`Readiness`], over the primitives of
//! `sys::ready`): what `AsFd` on a `Sender` or
//! `Receiver` of `pipe://`, `fifo://`, `mq://`, `unix://` and `tcp://` hands out.
//!
//! The contract (the README's "Event loops"): the descriptor is *readable* — for a sender as
//! well as for a receiver — while a non-blocking call in the end's direction would not return
//! `WouldBlock`. Level-triggered in effect; spurious readiness is allowed, missed readiness
//! is not.
//!
//! A kernel object's own readiness is not quite that (a sender wants `POLLOUT`, not
//! `POLLIN`; a stream receiver may hold whole frames in user space while its pipe is empty;
//! the end of a POSIX queue's senders is learnt from locks, not from the queue), so every
//! fallback end owns one `epoll` instance, made at open, that is the descriptor. In it:
//!
//! - the end's kernel objects, with the interest that means progress (`EPOLLIN` for a
//!   receiver, `EPOLLOUT` for a sender; `EPOLLERR`/`EPOLLHUP` always count), added and
//!   removed by the end as they come and go ([`Readiness::watch`], [`Readiness::unwatch`]);
//! - an `eventfd`, set while the end holds user-space state that lets a call return at once
//!   (a buffered whole frame, a kept message, a persistent `Disconnected` / end of stream);
//! - for ends whose progress depends on something the kernel cannot signal (a POSIX queue's
//!   peers, a lazy sender waiting for its receiver to appear), a periodic `timerfd` (every
//!   [`POLL_PERIOD`]) while such a wait is possible: a tick is a spurious wake-up on which the
//!   next call looks again, exactly as a blocked call of that end polls.
//!
//! Cost: the eventfd and timer are kept up to date only once the descriptor has been asked
//! for ([`Readiness::fd`] arms it); before that a call only notes the end's state in two
//! relaxed stores, so that arming sets the eventfd and starts the timer as that state says.
//! Armed, a call makes a system call only when the user-space state changes (eventfd set or
//! cleared) or a wait ended (`WouldBlock` drains a ticking timer).

use crate::error::{Error, Result};
use crate::sys::ready;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// How often the timer of a polled end ticks while a wait on it is possible (the same slice a
/// blocked call of a POSIX queue end polls with).
pub const POLL_PERIOD: Duration = Duration::from_millis(20);

/// Interest of a receiving end in a kernel object.
pub const IN: u32 = libc::EPOLLIN as u32;
/// Interest of a sending end in a kernel object (room).
pub const OUT: u32 = libc::EPOLLOUT as u32;

/// One fallback end's readiness descriptor: see the module docs.
#[derive(Debug)]
pub struct Readiness {
    ep: OwnedFd,
    ev: OwnedFd,
    timer: Option<OwnedFd>,
    /// The descriptor has been handed out: keep the eventfd and the timer up to date.
    armed: AtomicBool,
    /// The end's own user-space state lets a call return at once.
    own: AtomicBool,
    /// The channel layer holds a message for the next call (a peeked, unreleased slot).
    held: AtomicBool,
    /// The eventfd's counter is non-zero.
    ev_on: AtomicBool,
    /// The end may wait for something only polling notices: the timer should tick.
    want_tick: AtomicBool,
    /// The timer is armed.
    ticking: AtomicBool,
}

impl Readiness {
    /// A new descriptor: an epoll instance holding an eventfd and, if `polled`, a timerfd
    /// (stopped until the descriptor is handed out).
    ///
    /// # Errors
    ///
    /// [`Error::Io`] if a descriptor cannot be made (out of descriptors).
    pub fn new(polled: bool) -> Result<Readiness> {
        let ep = ready::epoll_new()?;
        let ev = ready::eventfd_new(0)?;
        let timer = if polled { Some(ready::timerfd_new()?) } else { None };
        let r = Readiness {
            ep,
            ev,
            timer,
            armed: AtomicBool::new(false),
            own: AtomicBool::new(false),
            held: AtomicBool::new(false),
            ev_on: AtomicBool::new(false),
            want_tick: AtomicBool::new(polled),
            ticking: AtomicBool::new(false),
        };
        ready::epoll_add(r.ep.as_raw_fd(), r.ev.as_raw_fd(), IN, r.ev.as_raw_fd() as u64)?;
        if let Some(t) = &r.timer {
            ready::epoll_add(r.ep.as_raw_fd(), t.as_raw_fd(), IN, t.as_raw_fd() as u64)?;
        }
        Ok(r)
    }

    /// The descriptor (the epoll instance). The first call arms the bookkeeping (see the
    /// module docs).
    #[inline]
    pub fn fd(&self) -> BorrowedFd<'_> {
        if !self.armed.load(Ordering::Relaxed) {
            self.arm();
        }
        self.ep.as_fd()
    }

    #[cold]
    fn arm(&self) {
        if self.armed.swap(true, Ordering::SeqCst) {
            return;
        }
        self.refresh_event();
        if self.want_tick.load(Ordering::Relaxed) {
            self.tick(true);
        }
    }

    /// Whether the descriptor has been handed out.
    #[inline]
    pub fn armed(&self) -> bool {
        self.armed.load(Ordering::Relaxed)
    }

    /// Adds a kernel object with `events` ([`IN`] or [`OUT`]; `EPOLLERR` and `EPOLLHUP`
    /// always count). It must be [`unwatch`](Self::unwatch)ed before it is closed (a copy of
    /// it in another process would keep it in the set).
    ///
    /// # Errors
    ///
    /// [`Error::Io`] if `epoll_ctl` fails (out of memory, or the descriptor is already there).
    pub fn watch(&self, fd: RawFd, events: u32) -> Result<()> {
        ready::epoll_add(self.ep.as_raw_fd(), fd, events, fd as u64)
    }

    /// Removes a kernel object added by [`watch`](Self::watch) (nothing if it is not there).
    pub fn unwatch(&self, fd: RawFd) {
        let _ = ready::epoll_del(self.ep.as_raw_fd(), fd);
    }

    /// After a call of the end: `own` says whether the end's user-space state lets the next
    /// call return at once, `poll` whether the end may now wait for something only polling
    /// notices (the timer ticks while it does). A call that ended with an error other than
    /// `WouldBlock` / `TimedOut` / `Interrupted` / `TooLarge` counts as ready (its next call
    /// returns at once, most likely with the same error); a call that would have waited
    /// drains the timer's ticks. No system call while the descriptor is not armed.
    #[inline]
    pub fn after<T>(&self, r: &Result<T>, own: impl FnOnce() -> bool, poll: impl FnOnce() -> bool) {
        let (ready, waited) = match r {
            Ok(_) | Err(Error::TooLarge { .. }) => (own(), false),
            Err(Error::WouldBlock | Error::TimedOut | Error::Interrupted) => (own(), true),
            Err(_) => (true, false),
        };
        // Kept up to date even unarmed (plain stores), so that arming knows the state.
        self.own.store(ready, Ordering::Relaxed);
        let poll = self.timer.is_some() && poll();
        self.want_tick.store(poll, Ordering::Relaxed);
        if self.armed() {
            self.update(waited, poll);
        }
    }

    fn update(&self, waited: bool, poll: bool) {
        self.refresh_event();
        if self.timer.is_some() {
            if poll != self.ticking.load(Ordering::Relaxed) {
                self.tick(poll);
            } else if let (true, true, Some(t)) = (poll, waited, &self.timer) {
                ready::drain(t.as_raw_fd());
            }
        }
    }

    /// The channel layer holds (or no longer holds) a message for the next receive.
    pub fn set_held(&self, held: bool) {
        if self.held.swap(held, Ordering::Relaxed) != held && self.armed() {
            self.refresh_event();
        }
    }

    /// Sets or clears the eventfd to match `own || held`.
    fn refresh_event(&self) {
        let want = self.own.load(Ordering::Relaxed) || self.held.load(Ordering::Relaxed);
        if self.ev_on.swap(want, Ordering::Relaxed) == want {
            return;
        }
        if want {
            // A full counter (EAGAIN) is readable all the same.
            let _ = ready::eventfd_add(self.ev.as_raw_fd());
        } else {
            ready::drain(self.ev.as_raw_fd());
        }
    }

    /// Starts (every [`POLL_PERIOD`], first tick after one period) or stops the timer.
    fn tick(&self, on: bool) {
        let Some(t) = &self.timer else { return };
        if ready::timerfd_every(t.as_raw_fd(), on.then_some(POLL_PERIOD)).is_ok() {
            self.ticking.store(on, Ordering::Relaxed);
            if !on {
                ready::drain(t.as_raw_fd());
            }
        }
    }
}
