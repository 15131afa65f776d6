//! The readiness descriptor of a fallback end ([`Readiness`]): what `AsFd` on a `Sender` or
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
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// How often the timer of a polled end ticks while a wait on it is possible (the same slice a
/// blocked call of a POSIX queue end polls with).
pub const POLL_PERIOD: Duration = Duration::from_millis(20);

/// Interest of a receiving end in a kernel object.
pub const IN: u32 = libc::EPOLLIN as u32;
/// Interest of a sending end in a kernel object (room).
pub const OUT: u32 = libc::EPOLLOUT as u32;

fn io_err(op: &'static str) -> Error {
    Error::Io {
        op,
        source: io::Error::last_os_error(),
    }
}

fn own(fd: libc::c_int, op: &'static str) -> Result<OwnedFd> {
    if fd < 0 {
        return Err(io_err(op));
    }
    // SAFETY: fd was just returned by the kernel and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

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
        // SAFETY: epoll_create1 takes no pointers.
        let ep = own(unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) }, "epoll_create1")?;
        // SAFETY: eventfd takes no pointers.
        let ev = own(unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) }, "eventfd")?;
        let timer = if polled {
            // SAFETY: timerfd_create takes no pointers.
            let t = unsafe {
                libc::timerfd_create(libc::CLOCK_MONOTONIC, libc::TFD_CLOEXEC | libc::TFD_NONBLOCK)
            };
            Some(own(t, "timerfd_create")?)
        } else {
            None
        };
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
        r.ctl(libc::EPOLL_CTL_ADD, r.ev.as_raw_fd(), IN)?;
        if let Some(t) = &r.timer {
            r.ctl(libc::EPOLL_CTL_ADD, t.as_raw_fd(), IN)?;
        }
        Ok(r)
    }

    fn ctl(&self, op: libc::c_int, fd: RawFd, events: u32) -> Result<()> {
        let mut ev = libc::epoll_event {
            events,
            u64: fd as u64,
        };
        super::count::one();
        // SAFETY: ep is our epoll instance; ev is a valid epoll_event; fd is open (the
        // caller's) — the kernel checks it.
        if unsafe { libc::epoll_ctl(self.ep.as_raw_fd(), op, fd, &mut ev) } != 0 {
            return Err(io_err("epoll_ctl"));
        }
        Ok(())
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
        self.ctl(libc::EPOLL_CTL_ADD, fd, events)
    }

    /// Removes a kernel object added by [`watch`](Self::watch) (nothing if it is not there).
    pub fn unwatch(&self, fd: RawFd) {
        let _ = self.ctl(libc::EPOLL_CTL_DEL, fd, 0);
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
            } else if poll && waited {
                self.drain(self.timer.as_ref().map(AsRawFd::as_raw_fd));
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
            let one: u64 = 1;
            super::count::one();
            // SAFETY: ev is our open eventfd; the buffer is 8 readable bytes. A full counter
            // (EAGAIN) is readable all the same.
            let _ = unsafe { libc::write(self.ev.as_raw_fd(), (&one as *const u64).cast(), 8) };
        } else {
            self.drain(Some(self.ev.as_raw_fd()));
        }
    }

    /// Reads an eventfd or timerfd's counter to zero (non-blocking: `EAGAIN` when it is).
    fn drain(&self, fd: Option<RawFd>) {
        if let Some(fd) = fd {
            let mut v: u64 = 0;
            super::count::one();
            // SAFETY: fd is our open, non-blocking eventfd or timerfd; v is 8 writable bytes.
            let _ = unsafe { libc::read(fd, (&mut v as *mut u64).cast(), 8) };
        }
    }

    /// Starts (every [`POLL_PERIOD`], first tick after one period) or stops the timer.
    fn tick(&self, on: bool) {
        let Some(t) = &self.timer else { return };
        let period = libc::timespec {
            tv_sec: 0,
            tv_nsec: if on { POLL_PERIOD.as_nanos() as _ } else { 0 },
        };
        let spec = libc::itimerspec {
            it_interval: period,
            it_value: period,
        };
        super::count::one();
        // SAFETY: t is our timerfd; spec is a valid itimerspec; the old value is not wanted.
        let rc = unsafe { libc::timerfd_settime(t.as_raw_fd(), 0, &spec, std::ptr::null_mut()) };
        if rc == 0 {
            self.ticking.store(on, Ordering::Relaxed);
            if !on {
                self.drain(Some(t.as_raw_fd()));
            }
        }
    }
}
