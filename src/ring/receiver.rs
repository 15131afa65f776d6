//! The receiving end of a shared-memory ring (behind `channel::Receiver`).

use super::door::Listener;
use super::peers::PeerCache;
use super::{Fast, Guarded, RingInterrupter, Shared};
use crate::endpoint::{self, Endpoint, Role};
use crate::error::{Error, Result};
use crate::kind::Kind;
use crate::layout::Geometry;
use crate::mpmc::MpmcConsumer;
use crate::spsc::SpscConsumer;
use crate::stats::Stats;
use crate::timeout::Timeout;
use crate::wait::{self, Phase};
use crate::sys::intr::Wake;
use std::os::fd::BorrowedFd;
use std::sync::{Arc, OnceLock};

/// Rounds of `Backoff::spin` (1, 2, 4, ... 32 pause instructions: about 63 in all, a
/// microsecond or two) that a receive or send gives a peer between its claim and its
/// publish (or release) before asking the kernel whether it is alive (see
/// `RingReceiver::claim_grace`).
pub(super) const CLAIM_GRACE_ROUNDS: u32 = 6;

#[derive(Debug)]
enum RecvImp {
    Spsc(SpscConsumer),
    Mpmc(MpmcConsumer),
}

/// A ring's receiving end, behind `channel::Receiver`: owned by one thread at a time.
/// Dropping it detaches the endpoint; when the last receiver of a ring has gone, senders get
/// `Disconnected`.
#[derive(Debug)]
pub struct RingReceiver {
    shared: Arc<Shared>,
    ep: Option<Endpoint>,
    imp: RecvImp,
    peers: PeerCache,
    stats: Stats,
    /// This end's interrupt token (see [`RingInterrupter`]).
    wake: Arc<Wake>,
    /// This end's descriptor, once asked for (see `door`).
    listener: OnceLock<Listener>,
    /// The lengths of the messages seen by the last `peek_batch_raw` (for the statistics).
    batch_lens: Vec<usize>,
}

impl RingReceiver {
    pub(super) fn attach(shared: Arc<Shared>) -> Result<RingReceiver> {
        shared.check_poison()?;
        let ep = endpoint::attach(&shared.raw, shared.lock_fd(), Role::Receiver)?;
        let imp = match shared.raw.geom().kind {
            Kind::Spsc => RecvImp::Spsc(SpscConsumer::new(shared.raw)?),
            Kind::Mpmc => RecvImp::Mpmc(MpmcConsumer::new(shared.raw, ep.index())),
        };
        let peers = match PeerCache::new(&shared, Role::Sender) {
            Ok(p) => p,
            Err(e) => {
                shared.close(ep);
                return Err(e);
            }
        };
        Ok(RingReceiver {
            shared,
            ep: Some(ep),
            imp,
            peers,
            stats: Stats::default(),
            wake: Wake::new(),
            listener: OnceLock::new(),
            batch_lens: Vec::new(),
        })
    }

    /// Attaches another receiver to the same ring (MPMC; on SPSC this is [`Error::Busy`]).
    pub fn try_clone(&self) -> Result<RingReceiver> {
        RingReceiver::attach(self.shared.clone())
    }

    /// The largest message this ring carries.
    pub fn max_msg_size(&self) -> usize {
        self.shared.raw.geom().max_msg()
    }

    /// What wakes this end's blocked call from another thread: the call then returns
    /// [`Error::Interrupted`] (see [`RingInterrupter`]).
    pub fn interrupter(&self) -> RingInterrupter {
        RingInterrupter {
            shared: self.shared.clone(),
            wake: self.wake.clone(),
            space: false,
        }
    }

    /// This endpoint's counters.
    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// Whether a non-blocking call would not return `WouldBlock` now (a message (a snapshot of the cursors; on MPMC a message still being written counts, so it may be spurious)), having got
    /// the descriptor ready to wait for a change like a call that found nothing (see
    /// `door`): `Ok(())` ready, `Err(WouldBlock)` not, another error is what the next call
    /// reports (end of stream, `Disconnected`, corruption). Behind `ipcring::poll`.
    ///
    /// `deep`: whether to get the descriptor ready again as well (after it was reported
    /// readable); without it, only the ring and the peers are looked at, with no system call
    /// in the usual case: a descriptor that has not been readable since it was last made
    /// ready is still armed (every ring that takes the arm writes the doorbell).
    pub fn poll_ready(&mut self, deep: bool) -> Result<()> {
        let _ = self.fd();
        let sh = self.shared.clone();
        let op = |imp: &mut RecvImp| match imp {
            // SPSC: the record at our position tells, counted in the cursors or not yet.
            RecvImp::Spsc(c) => Ok(c.has_message()?.then_some(())),
            RecvImp::Mpmc(_) => Ok((sh.queued() > 0).then_some(())),
        };
        if deep {
            self.guarded(|me| me.park_for_data(Timeout::NonBlocking, op))
        } else {
            self.guarded(|me| me.park_for_data_once(Timeout::NonBlocking, op))
        }
    }

    /// This end's descriptor for event loops, made at the first call (see `door`), readable
    /// while a non-blocking call would not return `WouldBlock`. Owned by the end.
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.listener
            .get_or_init(|| Listener::new(&self.shared, Role::Receiver))
            .fd(&self.shared)
    }

    /// Wakes the senders if any may sleep: the first look inline (one fence and two loads of
    /// the bell's line, see `wait::anyone_waits`), the rest out of line.
    #[inline(always)]
    fn wake_senders(&mut self) {
        let raw = &self.shared.raw;
        if wait::anyone_waits(&raw.header().space_bell, raw.geom().fence) {
            self.ring_senders();
        }
    }

    /// [`wake_senders`](Self::wake_senders) once somebody may be waiting.
    #[cold]
    #[inline(never)]
    fn ring_senders(&mut self) {
        let raw = &self.shared.raw;
        if let Some(calls) = wait::notify(&raw.header().space_bell, raw.geom().wake, raw.geom().fence) {
            self.stats.wakes += 1;
            self.stats.syscalls += calls;
            let shared = &self.shared;
            crate::sys::count::counting(&mut self.stats.syscalls, || {
                shared.ring_door(&raw.header().space_bell, true)
            });
        }
    }

    /// Takes one message of at most `limit` bytes, handing it to `f` in place.
    fn try_take<R>(imp: &mut RecvImp, limit: usize, f: &mut impl FnMut(&[u8]) -> R) -> Result<Option<(R, usize)>> {
        match imp {
            RecvImp::Spsc(c) => {
                let Some((ptr, len)) = c.peek()? else { return Ok(None) };
                if len > limit {
                    return Err(Error::BufferTooSmall {
                        needed: len,
                        capacity: limit,
                    });
                }
                // SAFETY: the message at head is published and ours until released; its
                // length was validated against msg_size.
                let r = f(unsafe { core::slice::from_raw_parts(ptr, len) });
                c.release();
                Ok(Some((r, len)))
            }
            RecvImp::Mpmc(c) => {
                let Some(m) = c.take(limit)? else {
                    return Ok(None);
                };
                let len = m.len;
                // SAFETY: the claimed slot is ours until released; its length was read once
                // and validated (at most msg_size and limit).
                let r = f(unsafe { core::slice::from_raw_parts(m.ptr, len) });
                c.release_taken(m);
                Ok(Some((r, len)))
            }
        }
    }

    /// One attempt of a waiting receive: `op`; off the spin phase, skipping slots whose
    /// producers died before publishing (MPMC, see `mpmc`) while `op` finds nothing; then the
    /// checks made before each sleep: poison, and end of stream once every sender has gone
    /// (after one more look, with the same skipping: what a sender published before it closed
    /// or died is visible now that we have seen it go).
    fn attempt<T>(
        shared: &Shared,
        peers: &mut PeerCache,
        imp: &mut RecvImp,
        phase: Phase,
        mut op: impl FnMut(&mut RecvImp) -> Result<Option<T>>,
    ) -> Result<Option<T>> {
        if let Some(v) = op(imp)? {
            return Ok(Some(v));
        }
        if let RecvImp::Spsc(c) = imp {
            if c.take_passed_padding() {
                // A padding record was passed with no message after it (see `spsc`): the
                // sender may wait for those bytes; ring as for a consumed message.
                let h = shared.raw.header();
                if wait::notify(&h.space_bell, shared.raw.geom().wake, shared.raw.geom().fence).is_some() {
                    shared.ring_door(&h.space_bell, true);
                }
            }
        }
        if phase == Phase::Spin {
            return Ok(None);
        }
        if let Some(v) = Self::skip_and_retry(shared, imp, &mut op)? {
            return Ok(Some(v));
        }
        // A non-blocking receive reports empty only if the ring is (see `wait_held_up`): only
        // an MPMC ring can be held up, and `wait_held_up` starts with a clock read, so it is
        // entered only when a slot is. (Under loom it gives up at once: no scan either.)
        if phase == Phase::Idle && !crate::sync::MODEL && matches!(&*imp, RecvImp::Mpmc(c) if c.held_up_at().is_some()) {
            let v = super::wait_held_up(
                shared,
                0,
                Role::Sender,
                imp,
                |imp| match imp {
                    RecvImp::Mpmc(c) => c.held_up_at(),
                    RecvImp::Spsc(_) => None,
                },
                |imp, live| match imp {
                    RecvImp::Mpmc(c) => c.skip_dead_claim(live),
                    RecvImp::Spsc(_) => Ok(false),
                },
                &mut op,
            )?;
            if v.is_some() {
                return Ok(v);
            }
        }
        shared.check_poison()?;
        if peers.gone(shared, phase)? {
            if let Some(v) = op(imp)? {
                return Ok(Some(v));
            }
            return Self::skip_and_retry(shared, imp, &mut op)?
                .map(Some)
                .ok_or_else(|| peers.ending());
        }
        Ok(None)
    }

    /// While the slot at `head` is one a dead producer claimed and never published (MPMC),
    /// skips it and tries `op` again.
    fn skip_and_retry<T>(
        shared: &Shared,
        imp: &mut RecvImp,
        op: &mut impl FnMut(&mut RecvImp) -> Result<Option<T>>,
    ) -> Result<Option<T>> {
        if let Some(v) = Self::claim_grace(shared, imp, op)? {
            return Ok(Some(v));
        }
        loop {
            let RecvImp::Mpmc(c) = &*imp else { return Ok(None) };
            let claim_live = |pos| shared.claim_live(Role::Sender, pos);
            if !c.skip_dead_claim(claim_live)? {
                return Ok(None);
            }
            if let Some(v) = op(imp)? {
                return Ok(Some(v));
            }
        }
    }

    /// Before `skip_dead_claim` asks the kernel whether the producer that claimed the slot
    /// at `head` is alive (a scan of the endpoint table and a system call), gives a live one,
    /// which publishes within nanoseconds of its claim, a few short pauses to do so: `op`
    /// again after each. Without it a spinning receiver that caught producers mid-write made
    /// about one system call a message (`ipcring bench`, `shm-mpmc/spin`). Only while a
    /// claim is outstanding (the cursors apart with nothing to take): on an empty ring this
    /// is one snapshot of the cursors. Not under loom (a bounded retry on top of the model).
    fn claim_grace<T>(
        shared: &Shared,
        imp: &mut RecvImp,
        op: &mut impl FnMut(&mut RecvImp) -> Result<Option<T>>,
    ) -> Result<Option<T>> {
        if crate::sync::MODEL || !matches!(imp, RecvImp::Mpmc(_)) {
            return Ok(None);
        }
        // The cursors apart: claimed positions not yet consumed (a corrupted pair only costs
        // the bounded rounds).
        let h = shared.raw.header();
        let outstanding = || {
            h.head.0.load(crate::sync::Ordering::Acquire) != h.tail.0.load(crate::sync::Ordering::Acquire)
        };
        if !outstanding() {
            return Ok(None);
        }
        let backoff = crossbeam_utils::Backoff::new();
        for _ in 0..CLAIM_GRACE_ROUNDS {
            backoff.spin();
            if let Some(v) = op(imp)? {
                return Ok(Some(v));
            }
            if !outstanding() {
                break;
            }
        }
        Ok(None)
    }

    #[inline]
    fn take<R>(&mut self, timeout: Timeout, limit: usize, f: impl FnMut(&[u8]) -> R) -> Result<R> {
        self.guarded(|me| me.take_checked(timeout, limit, f))
    }

    #[inline]
    fn take_checked<R>(&mut self, timeout: Timeout, limit: usize, mut f: impl FnMut(&[u8]) -> R) -> Result<R> {
        // The fast path: a message now. Everything else is cold.
        let (r, len) = match Self::try_take(&mut self.imp, limit, &mut f)? {
            Some(got) => got,
            // A spinning caller's empty poll (see `empty_poll_done`; the poison was checked
            // on the way in).
            None if timeout == Timeout::NonBlocking && self.empty_poll_done() => return Err(Error::WouldBlock),
            None => self.take_slow(timeout, limit, &mut f)?,
        };
        self.stats.messages += 1;
        self.stats.bytes += len as u64;
        self.wake_senders();
        Ok(r)
    }

    #[cold]
    #[inline(never)]
    fn take_slow<R>(&mut self, timeout: Timeout, limit: usize, mut f: impl FnMut(&[u8]) -> R) -> Result<(R, usize)> {
        if timeout == Timeout::NonBlocking && self.listener.get().is_none() {
            // What `block_on` does for a call that may not wait (a `Phase::Spin` look, then the
            // `Phase::Idle` attempt with its checks), minus the first look, which the fast path
            // has just made: a spinning caller's empty poll pays one look at the ring, not three.
            let (shared, peers, imp) = (&self.shared, &mut self.peers, &mut self.imp);
            let r = crate::sys::count::counting(&mut self.stats.syscalls, || {
                Self::attempt(shared, peers, imp, Phase::Idle, |imp| Self::try_take(imp, limit, &mut f))
            });
            return r?.ok_or(Error::WouldBlock);
        }
        // The fast path has just looked: `block_on`'s first look (its `Phase::Spin` attempt)
        // would poll the ring again for nothing, so that one call of `op` finds nothing.
        let mut looked = true;
        self.park_for_data(timeout, |imp| {
            if std::mem::take(&mut looked) {
                return Ok(None);
            }
            Self::try_take(imp, limit, &mut f)
        })
    }

    /// [`park_for_data_once`](Self::park_for_data_once), and for an end whose descriptor was asked for,
    /// the descriptor's second look before `WouldBlock` (see `door`): prepare the listener,
    /// announce and arm, look again; a look that found work after draining the doorbell
    /// puts a byte back.
    fn park_for_data<T>(
        &mut self,
        timeout: Timeout,
        mut op: impl FnMut(&mut RecvImp) -> Result<Option<T>>,
    ) -> Result<T> {
        let r = self.park_for_data_once(timeout, &mut op);
        if !matches!(r, Err(Error::WouldBlock)) || self.listener.get().is_none() {
            return r;
        }
        let Some(listener) = self.listener.get_mut() else { return r };
        let (shared, peers) = (&self.shared, &mut self.peers);
        let drained =
            crate::sys::count::counting(&mut self.stats.syscalls, || listener.prepare(shared, Role::Receiver, peers))?;
        if let Some(announced) = listener.announced() {
            wait::announce_fd(&shared.raw.header().data_bell, shared.raw.geom().fence, announced);
        }
        let r = self.park_for_data_once(Timeout::NonBlocking, &mut op);
        if drained && !matches!(r, Err(Error::WouldBlock)) {
            if let Some(l) = self.listener.get() {
                crate::sys::count::counting(&mut self.stats.syscalls, || l.put_back());
            }
        }
        r
    }

    /// Waits as `timeout` allows on the data bell until `op` (an attempt on the ring) gives
    /// a value: spinning, then parking; off the spin phase, skipping slots of dead producers
    /// (MPMC), the poison check and end of stream (see [`attempt`](Self::attempt)). Parks and
    /// system calls go to this end's statistics.
    fn park_for_data_once<T>(
        &mut self,
        timeout: Timeout,
        mut op: impl FnMut(&mut RecvImp) -> Result<Option<T>>,
    ) -> Result<T> {
        let raw = self.shared.raw;
        let (shared, peers, imp, wake) = (&self.shared, &mut self.peers, &mut self.imp, &self.wake);
        wait::block_on(
            &raw.header().data_bell,
            raw.geom().wake,
            raw.geom().fence,
            timeout,
            &mut self.stats.parks,
            &mut self.stats.syscalls,
            shared.spin,
            |phase| {
                let r = Self::attempt(shared, peers, imp, phase, &mut op)?;
                // The re-check before a sleep: the only place the token is taken.
                if r.is_none() && phase == Phase::Park && wake.take() {
                    return Err(Error::Interrupted);
                }
                Ok(r)
            },
        )
    }

    /// Receives one message into `buf`, waiting as `timeout` allows; returns its length.
    #[inline(always)]
    pub fn recv_with_timeout(&mut self, buf: &mut [u8], timeout: Timeout) -> Result<usize> {
        let fast = match &self.imp {
            RecvImp::Spsc(_) => match self.recv_fast_spsc(buf) {
                Fast::Done(len) => return Ok(len),
                f => f,
            },
            RecvImp::Mpmc(_) => self.recv_fast_mpmc(buf),
        };
        match fast {
            Fast::Done(len) => Ok(len),
            Fast::Empty if timeout == Timeout::NonBlocking => self.recv_after_empty_look(buf),
            Fast::Failed(e) => self.shared.fail(e),
            _ => self.recv_general(buf, timeout),
        }
    }

    /// What the fast paths do after a receive: the statistics and the wake-up.
    #[inline(always)]
    fn received(&mut self, len: usize) {
        self.stats.messages += 1;
        self.stats.bytes += len as u64;
        self.wake_senders();
    }

    /// The SPSC fast path, inline in the caller, on a ring that is not poisoned: a valid
    /// message record at our position that fits `buf` (`SpscConsumer::peek_fast`).
    /// `Fast::Empty`: nothing published at our position. `Fast::No`, having done nothing,
    /// sends the caller on to [`recv_general`](Self::recv_general), which makes every check
    /// again and tells a padding record, a corrupted header and a short buffer apart. Small
    /// and free of calls but the cold wake-up, so that it inlines into `channel::Receiver`.
    #[inline(always)]
    fn recv_fast_spsc(&mut self, buf: &mut [u8]) -> Fast<usize> {
        let RecvImp::Spsc(c) = &mut self.imp else { return Fast::No };
        if self.shared.poisoned() {
            return Fast::No;
        }
        let (ptr, len) = match c.peek_fast() {
            Ok(m) => m,
            Err(empty) => return if empty { Fast::Empty } else { Fast::No },
        };
        if len > buf.len() {
            return Fast::No;
        }
        // SAFETY: the record at our position is published (its header loaded with Acquire)
        // and the producer does not touch it until we release it; len <= msg_size and the
        // record inside the area were validated, and len <= buf.len() just now.
        unsafe { crate::copy::copy_bytes(ptr, buf.as_mut_ptr(), len) };
        c.release();
        self.received(len);
        Fast::Done(len)
    }

    /// The MPMC fast path, inline in the caller as the SPSC one: one `MpmcConsumer::take`
    /// on a ring that is not poisoned (its own fast path inline, its slow looks out of
    /// line). `Fast::Empty`: nothing ready at the head; `Fast::Failed`: corruption or a
    /// short buffer, the message left in the ring.
    #[inline(always)]
    fn recv_fast_mpmc(&mut self, buf: &mut [u8]) -> Fast<usize> {
        let RecvImp::Mpmc(c) = &mut self.imp else { return Fast::No };
        if self.shared.poisoned() {
            return Fast::No;
        }
        let m = match c.take(buf.len()) {
            Ok(Some(m)) => m,
            Ok(None) => return Fast::Empty,
            Err(e) => return Fast::Failed(e),
        };
        let len = m.len;
        // SAFETY: the claimed slot is ours until released; its length was read once and
        // validated (at most msg_size and buf.len()).
        unsafe { crate::copy::copy_bytes(m.ptr, buf.as_mut_ptr(), len) };
        c.release_taken(m);
        self.received(len);
        Fast::Done(len)
    }

    /// A non-blocking receive whose fast path found no record at all: a spinning caller's
    /// empty poll is `WouldBlock` at once when that look was the whole call (as in
    /// `take_checked`, without a second look); otherwise the general path.
    #[inline(never)]
    fn recv_after_empty_look(&mut self, buf: &mut [u8]) -> Result<usize> {
        if self.empty_poll_done() {
            return Err(Error::WouldBlock);
        }
        self.recv_general(buf, Timeout::NonBlocking)
    }

    /// After a look that found no record at all at our position, on a call that may not
    /// wait: whether that look was the whole call, so that it is `WouldBlock` now. On SPSC
    /// the record at our position is not published, and with the senders' verdict cached
    /// and nothing to ring for a passed padding record, that is all `take_slow` would find.
    /// On MPMC the same once the cursors say empty (`MpmcConsumer::cursors_empty`: no
    /// claim to wait for). The caller has checked the poison.
    #[inline(always)]
    fn empty_poll_done(&mut self) -> bool {
        let nothing_behind = match &self.imp {
            RecvImp::Spsc(c) => !c.passed_padding(),
            RecvImp::Mpmc(c) => c.cursors_empty(),
        };
        nothing_behind && self.listener.get().is_none() && self.peers.quiet(&self.shared)
    }

    /// Every receive the fast paths did not take (see
    /// [`recv_fast_spsc`](Self::recv_fast_spsc), [`recv_fast_mpmc`](Self::recv_fast_mpmc)).
    #[inline(never)]
    fn recv_general(&mut self, buf: &mut [u8], timeout: Timeout) -> Result<usize> {
        let limit = buf.len();
        self.take(timeout, limit, |m| {
            crate::copy::copy_to(buf, m);
            m.len()
        })
    }

    /// Receives one message as an owned `Vec`, waiting as `timeout` allows.
    pub fn recv_vec_with_timeout(&mut self, timeout: Timeout) -> Result<Vec<u8>> {
        self.take(timeout, usize::MAX, |m| m.to_vec())
    }

    /// Receives up to `max` messages, waiting as `timeout` allows for the first, and hands
    /// each to `f` in place; they are consumed with one cursor store (SPSC) or one claim
    /// (MPMC) and one wake-up. Returns how many were received: at least 1, or 0 at once when
    /// `max` is 0.
    pub fn recv_batch(&mut self, max: usize, timeout: Timeout, f: impl FnMut(&[u8])) -> Result<usize> {
        if max == 0 {
            return Ok(0);
        }
        self.guarded(|me| me.recv_batch_checked(max, timeout, f))
    }

    fn recv_batch_checked(&mut self, max: usize, timeout: Timeout, mut f: impl FnMut(&[u8])) -> Result<usize> {
        let mut bytes = 0u64;
        let mut each = |m: &[u8]| {
            bytes += m.len() as u64;
            f(m)
        };
        let n = self.park_for_data(timeout, |imp| {
            let n = match imp {
                RecvImp::Spsc(c) => c.try_recv_batch(max, &mut each)?,
                RecvImp::Mpmc(c) => c.try_recv_batch(max, &mut each)?,
            };
            Ok((n > 0).then_some(n))
        })?;
        self.stats.messages += n as u64;
        self.stats.bytes += bytes;
        self.wake_senders();
        Ok(n)
    }

    /// [`peek`](crate::channel::Receiver::peek) without the borrow: the message's pointer, length and
    /// position, valid until [`release_raw`](Self::release_raw), which must come before
    /// any other receive on this receiver (on MPMC the message is claimed until then).
    #[inline]
    pub fn peek_raw(&mut self, timeout: Timeout) -> Result<(*const u8, usize, u64)> {
        // The fast path, as a receive's: a valid message record at an SPSC consumer's
        // position, or one MPMC message claimed inline (`take`: its length validated, a
        // tombstone skipped). Anything else (empty, an error) goes to the general path.
        if !self.shared.poisoned() {
            match &mut self.imp {
                RecvImp::Spsc(c) => {
                    let pos = c.position();
                    if let Ok((ptr, len)) = c.peek_fast() {
                        return Ok((ptr, len, pos));
                    }
                }
                RecvImp::Mpmc(c) => {
                    if let Ok(Some(m)) = c.take(usize::MAX) {
                        return Ok((m.ptr, m.len, m.pos));
                    }
                }
            }
        }
        self.peek_general(timeout)
    }

    #[inline(never)]
    fn peek_general(&mut self, timeout: Timeout) -> Result<(*const u8, usize, u64)> {
        self.guarded(|me| me.peek_checked(timeout))
    }

    fn peek_checked(&mut self, timeout: Timeout) -> Result<(*const u8, usize, u64)> {
        self.park_for_data(timeout, |imp| match imp {
            RecvImp::Spsc(c) => {
                let pos = c.position();
                Ok(c.peek()?.map(|(p, l)| (p, l, pos)))
            }
            RecvImp::Mpmc(c) => match c.claim(1, usize::MAX)? {
                None => Ok(None),
                Some((pos, _)) => match c.message(pos) {
                    Ok((p, l)) => Ok(Some((p, l, pos))),
                    Err(e) => {
                        c.release(pos, 1);
                        Err(e)
                    }
                },
            },
        })
    }

    /// Consumes the message returned by [`peek_raw`](Self::peek_raw).
    #[inline]
    pub fn release_raw(&mut self, pos: u64, len: usize) {
        match &mut self.imp {
            RecvImp::Spsc(c) => c.release(),
            RecvImp::Mpmc(c) => c.release(pos, 1),
        }
        self.received(len);
    }

    /// Looks at up to `max` messages in place (waiting as `timeout` allows for the first),
    /// handing each to `f`, without consuming them on SPSC; on MPMC they are claimed. Returns
    /// the position of the first and how many were seen (at least 1, since `max >= 1`); to be
    /// settled with [`release_batch_raw`](Self::release_batch_raw) before any other receive.
    pub fn peek_batch_raw(
        &mut self,
        max: usize,
        timeout: Timeout,
        f: impl FnMut(&[u8]),
    ) -> Result<(u64, usize)> {
        self.guarded(|me| me.peek_batch_checked(max.max(1), timeout, f))
    }

    fn peek_batch_checked(&mut self, max: usize, timeout: Timeout, mut f: impl FnMut(&[u8])) -> Result<(u64, usize)> {
        // The lengths are collected in the end's own vector (kept for its allocation), moved
        // out for the wait so that the wait may borrow the end.
        let mut lens = std::mem::take(&mut self.batch_lens);
        lens.clear();
        let mut each = |m: &[u8]| {
            lens.push(m.len());
            f(m)
        };
        let r = self.park_for_data(timeout, |imp| match imp {
            RecvImp::Spsc(c) => {
                let pos = c.position();
                let n = c.peek_batch(max, &mut each)?;
                Ok((n > 0).then_some((pos, n)))
            }
            RecvImp::Mpmc(c) => {
                let Some((pos, n)) = c.claim(max, usize::MAX)? else {
                    return Ok(None);
                };
                for k in 0..n as u64 {
                    match c.message(c.position_after(pos, k)) {
                        // SAFETY: the claimed slot is ours until released; len validated by
                        // `message`.
                        Ok((ptr, len)) => each(unsafe { core::slice::from_raw_parts(ptr, len) }),
                        Err(e) => {
                            c.release(pos, n);
                            return Err(e);
                        }
                    }
                }
                Ok(Some((pos, n)))
            }
        });
        self.batch_lens = lens;
        r
    }

    /// Settles a [`peek_batch_raw`](Self::peek_batch_raw) of `seen` messages at `pos`:
    /// consumes the first `consume` of them (SPSC; the rest stay in the ring) or all of them
    /// (MPMC: claimed, so consumed either way).
    pub fn release_batch_raw(&mut self, pos: u64, seen: usize, consume: usize) {
        let n = match &mut self.imp {
            RecvImp::Spsc(c) => {
                let n = consume.min(seen);
                c.release_n(n);
                n
            }
            RecvImp::Mpmc(c) => {
                c.release(pos, seen);
                seen
            }
        };
        if n == 0 {
            return;
        }
        self.stats.messages += n as u64;
        self.stats.bytes += self.batch_lens.iter().take(n).map(|&l| l as u64).sum::<u64>();
        self.wake_senders();
    }

    /// Whether this is an MPMC ring (a peeked message is claimed, and consumed either way).
    pub fn is_mpmc(&self) -> bool {
        matches!(self.imp, RecvImp::Mpmc(_))
    }

    /// The ring's shape.
    pub fn geometry(&self) -> Geometry {
        *self.shared.raw.geom()
    }

    /// Messages in the ring now (a snapshot).
    pub fn queued(&self) -> u64 {
        self.shared.queued()
    }
}

impl Drop for RingReceiver {
    fn drop(&mut self) {
        if let Some(announced) = self.listener.get_mut().and_then(Listener::announced) {
            wait::retract_fd(&self.shared.raw.header().data_bell, announced);
        }
        if let Some(ep) = self.ep.take() {
            self.shared.close(ep);
        }
    }
}

impl Guarded for RingReceiver {
    fn shared(&self) -> &Shared {
        &self.shared
    }
}
