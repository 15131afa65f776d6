//! The ring's descriptors: the doorbells a waker writes ([`Doors`], one per mapping) and the
//! descriptor each end hands to event loops ([`Listener`]).
//!
//! # The mechanism
//!
//! A handle's descriptor is an epoll set of its own, readable while a member is:
//!
//! - **the doorbell** its side listens on: a FIFO beside a named ring (`region::bell`,
//!   reached by name, so unrelated processes pass no descriptors; each mapping opens both
//!   when it maps the ring), or a pipe made with an anonymous (memfd) or in-process ring
//!   (shared across `fork` like the ring). A waker
//!   writes one byte to it when it rings the bell's futex and an endpoint has announced
//!   that it waits on its descriptor (`Bell::fd_waiters`): the announcement is the futex
//!   waiters' (`wait::announce_fd`), so a busy ring rings nothing and makes no system call.
//! - **a pidfd per live peer endpoint** of the other side (Linux 5.3+): the kernel makes it
//!   readable when that process exits, so a peer's death (end of stream, `Disconnected`, a
//!   claim to recover) wakes the loop at once, with no timer. The pid comes from the peer's
//!   endpoint entry; it is trusted only if the entry is still held by the same attachment
//!   after the pidfd was opened (the OFD lock says the holder lives, so the pid was not
//!   recycled under it).
//! - **a timerfd** ticking every park slice, armed only while some live peer cannot be
//!   watched that way (another PID namespace, no pidfd support, or an endpoint held through
//!   `fork` by a process other than the one that attached it: its parent exited, or closed
//!   its copy, which then clears the recorded pid): such a death is then noticed within the
//!   bound blocked calls meet.
//!
//! # When it is ready (level-triggered in effect)
//!
//! The descriptor is made announced and armed, with a byte in its doorbell: readable at once,
//! so the first call looks at whatever is there. A non-blocking call that finds nothing to do, on an end whose descriptor was asked for,
//! does not return `WouldBlock` at once: it drains its doorbell (and timer), drops the
//! watches of peers that died (and recounts the peers), rebuilds the watches if endpoints
//! attached or closed, announces itself and arms the bell, and looks again; only then
//! `WouldBlock`. A publication after that look finds the bell armed and writes the doorbell;
//! one before it was seen by the look (the fences of `wait`). A look that found work after
//! draining a byte puts a byte back: another endpoint listening on the same bell may have
//! been woken for it. So the descriptor stays readable from a ring until the next
//! `WouldBlock`, spurious readiness costs one call, and no readiness is missed.

use super::peers::PeerCache;
use super::Shared;
use crate::endpoint::{self, Role};
use crate::error::{Error, Result};
use crate::sys::ready;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::sync::OnceLock;

/// Tags of the epoll members: the doorbell, the timer, then `WATCH + entry index`.
const BELL: u64 = 0;
const TIMER: u64 = 1;
const WATCH: u64 = 2;

/// The doorbells of one mapping of a ring: how this process rings them.
#[derive(Debug, Default)]
pub(super) struct Doors {
    /// A named ring: its object name (`/NAME`), and its permission bits and identity (for
    /// making the bells).
    named: Option<(String, crate::region::bell::Make)>,
    /// Anonymous and in-process rings: a pipe per bell, `[receivers', senders']`, as
    /// (read end, write end), made with the ring.
    pipes: [OnceLock<(OwnedFd, OwnedFd)>; 2],
    /// A named ring: this mapping's descriptor of each bell (`[receivers', senders']`), for
    /// listening and ringing alike: opened (and made if missing) when the ring is mapped, so
    /// that a ring unlinked while in use keeps its bells for every process that mapped it
    /// before; opened at first use if that failed.
    bells: [OnceLock<OwnedFd>; 2],
}

impl Doors {
    /// The doors of the named ring `name` (`/NAME`) whose object has the status `st`: both
    /// bells opened, and made if missing, with the ring's permission bits. A bell that cannot
    /// be opened now is tried again at first use (its error is reported then, by the
    /// descriptor: the ring itself works without bells).
    pub(super) fn named(name: &str, st: &libc::stat) -> Doors {
        let make = crate::region::bell::Make {
            mode: st.st_mode & 0o777,
            dev: st.st_dev,
            ino: st.st_ino,
        };
        let d = Doors {
            named: Some((name.to_string(), make)),
            ..Doors::default()
        };
        for senders in [false, true] {
            let _ = d.bell(senders);
        }
        d
    }

    /// The doors of an anonymous ring, whose pipes must exist before it is shared by `fork`,
    /// or of an in-process one (which then always owns a descriptor, see
    /// `Shared::last_resort_fd`).
    pub(super) fn anonymous() -> Result<Doors> {
        let d = Doors::default();
        for p in &d.pipes {
            let _ = p.set(ready::pipe()?);
        }
        Ok(d)
    }

    /// The receivers' pipe's read end, of a ring that has pipes (see `Doors::anonymous`).
    pub(super) fn any_fd(&self) -> BorrowedFd<'_> {
        use std::os::fd::AsFd;
        match self.pipes[0].get() {
            Some((r, _)) => r.as_fd(),
            None => unreachable!("an in-process ring's pipes are made with it"),
        }
    }

    /// A named ring's bell of `senders` (or receivers), opened (made if missing) at the first
    /// call that succeeds.
    fn bell(&self, senders: bool) -> Result<RawFd> {
        let i = senders as usize;
        if let Some(fd) = self.bells[i].get() {
            return Ok(fd.as_raw_fd());
        }
        let Some((name, make)) = &self.named else {
            return Err(Error::Unsupported {
                what: "a doorbell of a ring without a name",
            });
        };
        let fd = crate::region::bell::open(name, senders, Some(*make))?;
        let _ = self.bells[i].set(fd); // a racing opener's stays; ours closes
        Ok(self.bells[i].get().expect("set above").as_raw_fd())
    }

    /// Writes the bell that `senders` (or receivers) listen on.
    #[cold]
    pub(super) fn ring(&self, senders: bool) {
        let i = senders as usize;
        let fd = match &self.named {
            Some(_) => match self.bell(senders) {
                Ok(fd) => fd,
                Err(_) => return, // no bell: nobody can listen on it
            },
            None => match self.pipes[i].get() {
                Some((_, w)) => w.as_raw_fd(),
                None => return,
            },
        };
        ready::ring(fd);
    }

    /// The descriptor to listen on the bell of `senders` (or receivers), owned by the mapping:
    /// the FIFO of a named ring, the pipe's read end of the others.
    fn listen(&self, senders: bool) -> Result<RawFd> {
        let i = senders as usize;
        match &self.named {
            Some(_) => self.bell(senders),
            None => match self.pipes[i].get() {
                Some((r, _)) => Ok(r.as_raw_fd()),
                None => Err(Error::Unsupported {
                    what: "a descriptor on a ring without doorbells",
                }),
            },
        }
    }
}

/// One watched peer endpoint.
#[derive(Debug)]
struct Watch {
    index: usize,
    generation: u32,
    pid: u32,
    pidfd: OwnedFd,
}

/// An end's descriptor: see the module docs.
#[derive(Debug)]
pub(super) enum Listener {
    /// The epoll set and its members.
    Ready(Box<Set>),
    /// The descriptor could not be set up: an eventfd that is always readable, and why; the
    /// calls that would return `WouldBlock` return this error instead.
    Failed {
        efd: Option<OwnedFd>,
        op: &'static str,
        err: io::Error,
    },
}

/// The epoll set of a [`Listener`].
#[derive(Debug)]
pub(super) struct Set {
    ep: OwnedFd,
    /// The doorbell this end listens on, owned by the mapping (`Doors`).
    bell: RawFd,
    timer: Option<OwnedFd>,
    timer_armed: bool,
    watches: Vec<Watch>,
    /// Entries (index, generation) known live whose recorded pid is gone or unreachable.
    unwatchable: Vec<(usize, u32)>,
    epoch: Option<u32>,
    /// Whether this end is counted in its bell's `fd_waiters` (see `wait::announce_fd`).
    pub(super) announced: bool,
}

impl Listener {
    /// Sets up the descriptor of an end of `role` on `shared` (see the module docs). Never
    /// fails: a set-up that fails gives [`Listener::Failed`].
    pub(super) fn new(shared: &Shared, role: Role) -> Listener {
        match Set::new(shared, role) {
            Ok(mut s) => {
                // Ready from the start: announced and armed, so a publication from now on
                // rings; and readable once, so that whatever is there already is looked at
                // (a call that finds nothing drains it and re-arms).
                let h = shared.raw.header();
                let bell = if role == Role::Sender { &h.space_bell } else { &h.data_bell };
                crate::wait::announce_fd(bell, shared.raw.geom().fence, &mut s.announced);
                ready::ring(s.bell);
                Listener::Ready(Box::new(s))
            }
            Err(e) => {
                let (op, err) = match e {
                    Error::Io { op, source } => (op, source),
                    other => ("doorbell", io::Error::other(other.to_string())),
                };
                match ready::eventfd_new(1) {
                    Ok(efd) => Listener::Failed { efd: Some(efd), op, err },
                    // Out of descriptors twice over: the mapping's own descriptor stands in
                    // (see `Shared::last_resort_fd`), and the calls say why.
                    Err(_) => Listener::Failed { efd: None, op, err },
                }
            }
        }
    }

    /// The descriptor (`shared` is the mapping the end works on).
    pub(super) fn fd<'a>(&'a self, shared: &'a Shared) -> BorrowedFd<'a> {
        use std::os::fd::AsFd;
        match self {
            Listener::Ready(s) => s.ep.as_fd(),
            Listener::Failed { efd: Some(efd), .. } => efd.as_fd(),
            Listener::Failed { efd: None, .. } => shared.last_resort_fd(),
        }
    }

    /// Gets the end ready to wait on its descriptor after a look found nothing (the module
    /// docs): drains the doorbell and the timer, drops the watches of dead peers (then makes
    /// `peers` recount), rebuilds the watches if the endpoints changed. Returns whether a
    /// byte was drained from the doorbell. The caller then announces, arms and looks again.
    pub(super) fn prepare(&mut self, shared: &Shared, role: Role, peers: &mut PeerCache) -> Result<bool> {
        let s = match self {
            Listener::Ready(s) => s,
            Listener::Failed { op, err, .. } => {
                return Err(Error::Io {
                    op,
                    source: io::Error::new(err.kind(), err.to_string()),
                })
            }
        };
        // The doorbell first: after a ring (the usual case) that is the one call. Deaths and
        // the timer are looked for when it held nothing (a pidfd or the timer stays readable,
        // so one that fired meanwhile wakes the next wait, which comes back here).
        // (The attach/close epoch is a load of the shared header: it is looked at always.)
        let drained = ready::drain(s.bell);
        let fired = if drained {
            Vec::new()
        } else {
            ready::epoll_ready(s.ep.as_raw_fd(), s.watches.len() + 2)?
        };
        if let (true, Some(t)) = (fired.contains(&TIMER), &s.timer) {
            ready::drain(t.as_raw_fd());
            peers.forget();
        }
        let mut died = false;
        for tag in fired.into_iter().filter(|t| *t >= WATCH) {
            let index = (tag - WATCH) as usize;
            if let Some(k) = s.watches.iter().position(|w| w.index == index) {
                let w = s.watches.swap_remove(k);
                let _ = ready::epoll_del(s.ep.as_raw_fd(), w.pidfd.as_raw_fd());
                // Its process exited; if the entry is still held, a child that inherited it
                // lives on, and only the timer can watch it.
                if endpoint::still_held(&shared.raw, shared.lock_fd(), role.peer(), w.index, w.generation)? {
                    s.unwatchable.push((w.index, w.generation));
                }
                died = true;
            }
        }
        if died {
            peers.forget();
        }
        let epoch = endpoint::epoch(&shared.raw);
        if died || s.epoch != Some(epoch) {
            s.rebuild(shared, role)?;
            s.epoch = Some(epoch);
        }
        Ok(drained)
    }

    /// Rings this end's own doorbell: a look that found work after draining puts back what it
    /// took (see the module docs).
    pub(super) fn put_back(&self) {
        if let Listener::Ready(s) = self {
            ready::ring(s.bell);
        }
    }

    /// Whether this end is counted in its bell's descriptor waiters.
    pub(super) fn announced(&mut self) -> Option<&mut bool> {
        match self {
            Listener::Ready(s) => Some(&mut s.announced),
            Listener::Failed { .. } => None,
        }
    }
}

impl Set {
    fn new(shared: &Shared, role: Role) -> Result<Set> {
        let ep = ready::epoll_new()?;
        let bell = shared.doors.listen(role == Role::Sender)?;
        ready::epoll_add(ep.as_raw_fd(), bell, libc::EPOLLIN as u32, BELL)?;
        let mut s = Set {
            ep,
            bell,
            timer: None,
            timer_armed: false,
            watches: Vec::new(),
            unwatchable: Vec::new(),
            epoch: None,
            announced: false,
        };
        s.epoch = Some(endpoint::epoch(&shared.raw));
        s.rebuild(shared, role)?;
        Ok(s)
    }

    /// Watches every live peer endpoint by pidfd where it can, and arms the timer while some
    /// cannot be (see the module docs). Only a shared region has processes to watch; in an
    /// in-process ring every close rings the bells.
    fn rebuild(&mut self, shared: &Shared, role: Role) -> Result<()> {
        let Some(lock_fd) = shared.lock_fd() else {
            return Ok(());
        };
        let peer = role.peer();
        let live = endpoint::live(&shared.raw, Some(lock_fd), peer)?;
        // Forget what is no longer live.
        let ep = self.ep.as_raw_fd();
        // A watch stands while its entry is held by the same attachment with the same
        // recorded pid (a detach that leaves the entry to a forked child clears the pid).
        self.watches.retain(|w| {
            let keep = live.iter().any(|&(i, g, p)| i == w.index && g == w.generation && p == w.pid);
            if !keep {
                let _ = ready::epoll_del(ep, w.pidfd.as_raw_fd());
            }
            keep
        });
        self.unwatchable
            .retain(|&(i, g)| live.iter().any(|&(li, lg, _)| li == i && lg == g));
        for (index, generation, pid) in live {
            let known = self
                .watches
                .iter()
                .any(|w| w.index == index && w.generation == generation && w.pid == pid)
                || self.unwatchable.contains(&(index, generation));
            if known {
                continue;
            }
            let pidfd = if pid == 0 { None } else { ready::pidfd_open(pid)? };
            match pidfd {
                // Trusted only if the same attachment still holds the entry now.
                Some(pidfd) if endpoint::still_held(&shared.raw, Some(lock_fd), peer, index, generation)? => {
                    ready::epoll_add(ep, pidfd.as_raw_fd(), libc::EPOLLIN as u32, WATCH + index as u64)?;
                    self.watches.push(Watch {
                        index,
                        generation,
                        pid,
                        pidfd,
                    });
                }
                Some(_) => {} // it closed or died meanwhile: the epoch moved, the next look sees it
                None => self.unwatchable.push((index, generation)),
            }
        }
        let want = !self.unwatchable.is_empty();
        if want != self.timer_armed {
            if self.timer.is_none() {
                let t = ready::timerfd_new()?;
                ready::epoll_add(ep, t.as_raw_fd(), libc::EPOLLIN as u32, TIMER)?;
                self.timer = Some(t);
            }
            let t = self.timer.as_ref().expect("made above").as_raw_fd();
            ready::timerfd_every(t, want.then(crate::timeout::park_slice))?;
            self.timer_armed = want;
        }
        Ok(())
    }
}
