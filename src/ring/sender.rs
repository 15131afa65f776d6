//! The sending end of a shared-memory ring (behind `channel::Sender`).

use super::door::Listener;
use super::peers::PeerCache;
use super::{Fast, Guarded, RingInterrupter, Shared};
use crate::endpoint::{self, Endpoint, Role};
use crate::error::{Error, Result};
use crate::kind::Kind;
use crate::layout::{Geometry, TOMBSTONE};
use crate::mpmc::MpmcProducer;
use crate::spsc::SpscProducer;
use crate::stats::Stats;
use crate::timeout::Timeout;
use crate::wait::{self, Phase};
use crate::sys::intr::Wake;
use std::os::fd::BorrowedFd;
use std::sync::{Arc, OnceLock};

#[derive(Debug)]
enum SendImp {
    Spsc(SpscProducer),
    Mpmc(MpmcProducer),
}

/// A ring's sending end, behind `channel::Sender`: owned by one thread at a time. Dropping
/// it detaches the endpoint; when the last sender of a ring has gone, receivers see
/// `EndOfStream` once they have drained it.
#[derive(Debug)]
pub struct RingSender {
    shared: Arc<Shared>,
    ep: Option<Endpoint>,
    imp: SendImp,
    peers: PeerCache,
    stats: Stats,
    /// This end's interrupt token (see [`RingInterrupter`]).
    wake: Arc<Wake>,
    /// This end's descriptor, once asked for (see `door`).
    listener: OnceLock<Listener>,
}

impl RingSender {
    pub(super) fn attach(shared: Arc<Shared>) -> Result<RingSender> {
        shared.check_poison()?;
        let ep = endpoint::attach(&shared.raw, shared.lock_fd(), Role::Sender)?;
        let imp = match shared.raw.geom().kind {
            Kind::Spsc => SendImp::Spsc(SpscProducer::new(shared.raw)?),
            Kind::Mpmc => SendImp::Mpmc(MpmcProducer::new(shared.raw, ep.index(), ep.owner_id())),
        };
        let peers = match PeerCache::new(&shared, Role::Receiver) {
            Ok(p) => p,
            Err(e) => {
                shared.close(ep);
                return Err(e);
            }
        };
        Ok(RingSender {
            shared,
            ep: Some(ep),
            imp,
            peers,
            stats: Stats::default(),
            wake: Wake::new(),
            listener: OnceLock::new(),
        })
    }

    /// Attaches another sender to the same ring (MPMC; on SPSC this is [`Error::Busy`]).
    pub fn try_clone(&self) -> Result<RingSender> {
        RingSender::attach(self.shared.clone())
    }

    /// The largest message this ring takes.
    pub fn max_msg_size(&self) -> usize {
        self.shared.raw.geom().max_msg()
    }

    /// What wakes this end's blocked call from another thread: the call then returns
    /// [`Error::Interrupted`] (see [`RingInterrupter`]).
    pub fn interrupter(&self) -> RingInterrupter {
        RingInterrupter {
            shared: self.shared.clone(),
            wake: self.wake.clone(),
            space: true,
        }
    }

    /// This endpoint's counters.
    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// Whether a non-blocking call would not return `WouldBlock` now (room (a snapshot of the cursors; an MPMC slot still being written or read counts, so it may be spurious)), having got
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
        let op = |_: &mut _| Ok(sh.has_room().then_some(()));
        if deep {
            self.guarded(|me| me.park_for_room(Timeout::NonBlocking, op))
        } else {
            self.guarded(|me| me.park_for_room_once(Timeout::NonBlocking, op))
        }
    }

    /// This end's descriptor for event loops, made at the first call (see `door`), readable
    /// while a non-blocking call would not return `WouldBlock`. Owned by the end.
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.listener
            .get_or_init(|| Listener::new(&self.shared, Role::Sender))
            .fd(&self.shared)
    }

    #[inline]
    fn check_len(&self, len: usize) -> Result<()> {
        let max = self.max_msg_size();
        if len > max {
            return Err(Error::TooLarge { len, max });
        }
        Ok(())
    }

    /// Fails with `Disconnected` if the attach/close epoch moved and no receiver is left.
    #[inline]
    fn check_receivers(&mut self) -> Result<()> {
        // Only an attach or a close moves the epoch, and no receiver comes back without
        // attaching: while the epoch stands still, the last verdict holds.
        if endpoint::epoch(&self.shared.raw) != self.peers.epoch || self.peers.gone {
            return self.recount_receivers();
        }
        Ok(())
    }

    /// [`check_receivers`](Self::check_receivers) once the epoch moved (or the last verdict
    /// was "gone"): recounts the receivers, out of line.
    #[cold]
    #[inline(never)]
    fn recount_receivers(&mut self) -> Result<()> {
        let moved = endpoint::epoch(&self.shared.raw) != self.peers.epoch;
        let gone = if moved {
            let (peers, shared) = (&mut self.peers, &self.shared);
            crate::sys::count::counting(&mut self.stats.syscalls, || peers.gone(shared, Phase::Idle))?
        } else {
            self.peers.gone
        };
        if gone {
            return Err(self.peers.ending());
        }
        Ok(())
    }

    /// The checks made before each sleep: poison, and whether any receiver is left.
    fn slow_checks(shared: &Shared, peers: &mut PeerCache, phase: Phase) -> Result<()> {
        shared.check_poison()?;
        if peers.gone(shared, phase)? {
            return Err(peers.ending());
        }
        Ok(())
    }

    /// One attempt of a waiting send: `op`, and off the spin phase, if there was no room,
    /// freeing a slot a dead consumer held (MPMC, see `mpmc`) and trying once more.
    fn attempt<T>(
        shared: &Shared,
        imp: &mut SendImp,
        phase: Phase,
        mut op: impl FnMut(&mut SendImp) -> Result<Option<T>>,
    ) -> Result<Option<T>> {
        if let Some(v) = op(imp)? {
            return Ok(Some(v));
        }
        if let SendImp::Spsc(p) = imp {
            if p.take_lone_padding() {
                // A padding record went out alone (see `spsc`): ring as for a message.
                Self::ring_data(shared);
            }
        }
        if let (SendImp::Mpmc(_), true) = (&*imp, phase != Phase::Spin) {
            // As a receive does before asking whether a producer lives
            // (`RingReceiver::claim_grace`): a consumer between its claim and its release
            // finishes within nanoseconds; a few short pauses for it first, while one holds a
            // slot (the ring not full by the cursors, yet no room).
            if !crate::sync::MODEL {
                let backoff = crossbeam_utils::Backoff::new();
                for _ in 0..super::receiver::CLAIM_GRACE_ROUNDS {
                    if shared.span() >= shared.raw.geom().capacity {
                        break;
                    }
                    backoff.spin();
                    if let Some(v) = op(imp)? {
                        return Ok(Some(v));
                    }
                }
            }
        }
        if let (SendImp::Mpmc(p), true) = (&*imp, phase != Phase::Spin) {
            let claim_live = |pos| shared.claim_live(Role::Receiver, pos);
            if p.reclaim_dead_hold(claim_live)? {
                return op(imp);
            }
        }
        // A non-blocking send reports full only if the ring is (see `wait_held_up`): only an
        // MPMC ring can be held up, and `wait_held_up` starts with a clock read, so it is
        // entered only when a slot is. (Under loom it gives up at once: no scan either.)
        if phase == Phase::Idle && !crate::sync::MODEL && matches!(&*imp, SendImp::Mpmc(p) if p.held_up_at().is_some()) {
            return super::wait_held_up(
                shared,
                1,
                Role::Receiver,
                imp,
                |imp| match imp {
                    SendImp::Mpmc(p) => p.held_up_at(),
                    SendImp::Spsc(_) => None,
                },
                |imp, live| match imp {
                    SendImp::Mpmc(p) => p.reclaim_dead_hold(live),
                    SendImp::Spsc(_) => Ok(false),
                },
                &mut op,
            );
        }
        Ok(None)
    }

    /// Rings the data bell (and the receivers' doorbell) outside the statistics.
    #[cold]
    fn ring_data(shared: &Shared) {
        let h = shared.raw.header();
        if wait::notify(&h.data_bell, shared.raw.geom().wake, shared.raw.geom().fence).is_some() {
            shared.ring_door(&h.data_bell, false);
        }
    }

    /// Wakes the receivers if any may sleep: the first look inline (one fence and two loads
    /// of the bell's line, see `wait::anyone_waits`), the rest out of line.
    #[inline(always)]
    fn wake_receivers(&mut self) {
        crate::failpoint::hit(crate::failpoint::SEND_BEFORE_WAKE);
        let raw = &self.shared.raw;
        if wait::anyone_waits(&raw.header().data_bell, raw.geom().fence) {
            self.ring_receivers();
        }
    }

    /// [`wake_receivers`](Self::wake_receivers) once somebody may be waiting.
    #[cold]
    #[inline(never)]
    fn ring_receivers(&mut self) {
        let raw = &self.shared.raw;
        if let Some(calls) = wait::notify(&raw.header().data_bell, raw.geom().wake, raw.geom().fence) {
            self.stats.wakes += 1;
            self.stats.syscalls += calls;
            let shared = &self.shared;
            crate::sys::count::counting(&mut self.stats.syscalls, || {
                shared.ring_door(&raw.header().data_bell, false)
            });
        }
    }

    /// Sends `msg`, waiting as long as `timeout` allows for room.
    #[inline(always)]
    pub fn send_with_timeout(&mut self, msg: &[u8], timeout: Timeout) -> Result<()> {
        let fast = match &self.imp {
            SendImp::Spsc(_) => {
                if self.send_fast_spsc(msg) {
                    return Ok(());
                }
                Fast::No
            }
            SendImp::Mpmc(_) => self.send_fast_mpmc(msg),
        };
        match fast {
            Fast::Done(()) => Ok(()),
            Fast::Empty if timeout == Timeout::NonBlocking => self.send_after_full_look(msg),
            Fast::Failed(e) => self.shared.fail(e),
            _ => self.send_general(msg, timeout),
        }
    }

    /// Whether the fast paths may send: the ring is not poisoned and the receivers' last
    /// verdict stands (the attach/close epoch did not move).
    #[inline(always)]
    fn fast_checks(&self) -> bool {
        !self.shared.poisoned() && endpoint::epoch(&self.shared.raw) == self.peers.epoch && !self.peers.gone
    }

    /// What the fast paths do after a send: the statistics and the wake-up.
    #[inline(always)]
    fn sent(&mut self, len: usize) {
        self.stats.messages += 1;
        self.stats.bytes += len as u64;
        self.wake_receivers();
    }

    /// The SPSC fast path, inline in the caller: [`fast_checks`](Self::fast_checks), and room
    /// by the producer's cached bounds for a message no longer than `msg_size`
    /// (`SpscProducer::send_fast`). `false`, having done nothing, sends the caller on to
    /// [`send_general`](Self::send_general), which makes every check again. Small and free
    /// of calls but the cold wake-up, so that it costs no register saves and inlines into
    /// `channel::Sender` (`scripts/hotpath-profile.sh`).
    #[inline(always)]
    fn send_fast_spsc(&mut self, msg: &[u8]) -> bool {
        if !self.fast_checks() {
            return false;
        }
        let SendImp::Spsc(p) = &mut self.imp else { return false };
        if !p.send_fast(msg) {
            return false;
        }
        self.sent(msg.len());
        true
    }

    /// The MPMC fast path, inline in the caller as the SPSC one:
    /// [`fast_checks`](Self::fast_checks), then one `MpmcProducer::try_send` (its own fast
    /// path inline, its slow looks out of line). `Fast::Empty` when no slot was free,
    /// `Fast::Failed` with a corruption error, `Fast::No` (nothing done) for everything the
    /// general path must look at.
    #[inline(always)]
    fn send_fast_mpmc(&mut self, msg: &[u8]) -> Fast<()> {
        if !self.fast_checks() || msg.len() > self.shared.raw.geom().max_msg() {
            return Fast::No;
        }
        let SendImp::Mpmc(p) = &mut self.imp else { return Fast::No };
        match p.try_send(msg) {
            Ok(true) => {}
            Ok(false) => return Fast::Empty,
            Err(e) => return Fast::Failed(e),
        }
        self.sent(msg.len());
        Fast::Done(())
    }

    /// A non-blocking MPMC send whose fast path found no free slot: `WouldBlock` at once
    /// when the cursors say full and nothing else needs a look (as in `send_checked`);
    /// otherwise the general path.
    #[inline(never)]
    fn send_after_full_look(&mut self, msg: &[u8]) -> Result<()> {
        if self.full_poll_done() {
            return Err(Error::WouldBlock);
        }
        self.send_general(msg, Timeout::NonBlocking)
    }

    /// After a look that found no room, on a call that may not wait: whether that look was
    /// the whole call, so that it is `WouldBlock` now. A spinning caller on a full SPSC ring
    /// as a receive on an empty one (see `RingReceiver::empty_poll_done`): nothing to ring
    /// for a lone padding record, the receivers' verdict cached. On MPMC once the cursors
    /// say full (`MpmcProducer::cursors_full`: no slot held by a consumer). The caller has
    /// checked the poison.
    #[inline(always)]
    fn full_poll_done(&mut self) -> bool {
        let nothing_behind = match &self.imp {
            SendImp::Spsc(p) => !p.lone_padding(),
            SendImp::Mpmc(p) => p.cursors_full(),
        };
        nothing_behind && self.listener.get().is_none() && self.peers.quiet(&self.shared)
    }

    /// Every send the fast path did not take: the length, poison and receivers checks with
    /// their errors, MPMC, and the slow paths (a refresh of the consumer's cursor, a wrap,
    /// full: spinning, sleeping, peer checks).
    #[inline(never)]
    fn send_general(&mut self, msg: &[u8], timeout: Timeout) -> Result<()> {
        self.check_len(msg.len())?;
        self.guarded(|me| me.send_checked(msg, timeout))
    }

    #[inline]
    fn send_checked(&mut self, msg: &[u8], timeout: Timeout) -> Result<()> {
        self.check_receivers()?;
        // Room now. Everything else (spinning, sleeping, peer checks) is cold.
        let sent = match &mut self.imp {
            SendImp::Spsc(p) => p.try_send(msg)?,
            SendImp::Mpmc(p) => p.try_send(msg)?,
        };
        if !sent {
            if timeout == Timeout::NonBlocking && self.full_poll_done() {
                return Err(Error::WouldBlock);
            }
            self.send_slow(msg, timeout)?;
        }
        self.stats.messages += 1;
        self.stats.bytes += msg.len() as u64;
        self.wake_receivers();
        Ok(())
    }

    #[cold]
    #[inline(never)]
    fn send_slow(&mut self, msg: &[u8], timeout: Timeout) -> Result<()> {
        let mut op = |imp: &mut SendImp| {
            let sent = match imp {
                SendImp::Spsc(p) => p.try_send(msg)?,
                SendImp::Mpmc(p) => p.try_send(msg)?,
            };
            Ok(sent.then_some(()))
        };
        if timeout == Timeout::NonBlocking && self.listener.get().is_none() {
            // What `block_on` does for a call that may not wait (a `Phase::Spin` attempt, then
            // the `Phase::Idle` one after the checks made before it), minus the first
            // attempt, which the fast path has just made.
            let (shared, peers, imp) = (&self.shared, &mut self.peers, &mut self.imp);
            let r = crate::sys::count::counting(&mut self.stats.syscalls, || {
                Self::slow_checks(shared, peers, Phase::Idle)?;
                Self::attempt(shared, imp, Phase::Idle, &mut op)
            });
            return r?.ok_or(Error::WouldBlock);
        }
        // The fast path has just looked: `block_on`'s first look (its `Phase::Spin` attempt)
        // would try the ring again for nothing, so that one call of the attempt finds nothing.
        let mut looked = true;
        self.park_for_room(timeout, |imp| {
            if std::mem::take(&mut looked) {
                return Ok(None);
            }
            op(imp)
        })
    }

    /// [`park_for_room_once`](Self::park_for_room_once), and for an end whose descriptor was asked for,
    /// the descriptor's second look before `WouldBlock` (see `door`): prepare the listener,
    /// announce and arm, look again; a look that found work after draining the doorbell
    /// puts a byte back.
    fn park_for_room<T>(
        &mut self,
        timeout: Timeout,
        mut op: impl FnMut(&mut SendImp) -> Result<Option<T>>,
    ) -> Result<T> {
        let r = self.park_for_room_once(timeout, &mut op);
        if !matches!(r, Err(Error::WouldBlock)) || self.listener.get().is_none() {
            return r;
        }
        let Some(listener) = self.listener.get_mut() else { return r };
        let (shared, peers) = (&self.shared, &mut self.peers);
        let drained =
            crate::sys::count::counting(&mut self.stats.syscalls, || listener.prepare(shared, Role::Sender, peers))?;
        if let Some(announced) = listener.announced() {
            wait::announce_fd(&shared.raw.header().space_bell, shared.raw.geom().fence, announced);
        }
        let r = self.park_for_room_once(Timeout::NonBlocking, &mut op);
        if drained && !matches!(r, Err(Error::WouldBlock)) {
            if let Some(l) = self.listener.get() {
                crate::sys::count::counting(&mut self.stats.syscalls, || l.put_back());
            }
        }
        r
    }

    /// Waits as `timeout` allows on the space bell until `op` (an attempt on the ring) gives
    /// a value: spinning, then parking; before each sleep, the poison and receivers checks
    /// and, on MPMC, the recovery of a slot a dead consumer held. Parks and system calls go
    /// to this end's statistics.
    fn park_for_room_once<T>(
        &mut self,
        timeout: Timeout,
        mut op: impl FnMut(&mut SendImp) -> Result<Option<T>>,
    ) -> Result<T> {
        let raw = self.shared.raw;
        let (shared, peers, imp, wake) = (&self.shared, &mut self.peers, &mut self.imp, &self.wake);
        wait::block_on(
            &raw.header().space_bell,
            raw.geom().wake,
            raw.geom().fence,
            timeout,
            &mut self.stats.parks,
            &mut self.stats.syscalls,
            shared.spin,
            |phase| {
                if phase != Phase::Spin {
                    Self::slow_checks(shared, peers, phase)?;
                }
                let r = Self::attempt(shared, imp, phase, &mut op)?;
                // The re-check before a sleep: the only place the token is taken.
                if r.is_none() && phase == Phase::Park && wake.take() {
                    return Err(Error::Interrupted);
                }
                Ok(r)
            },
        )
    }

    /// Sends `msgs` in order, publishing each run that fits with one cursor store (SPSC) or
    /// one claim (MPMC) and one wake-up. Waits for room as `timeout` allows and returns how
    /// many were sent: fewer than `msgs.len()` only if the wait ended (`msgs[n..]` were not
    /// sent). Lengths are all checked first: one too large is [`Error::TooLarge`] with nothing
    /// sent.
    pub fn send_batch<M: AsRef<[u8]>>(&mut self, msgs: &[M], timeout: Timeout) -> Result<usize> {
        for m in msgs {
            self.check_len(m.as_ref().len())?;
        }
        self.guarded(|me| me.send_batch_checked(msgs, timeout))
    }

    fn send_batch_checked<M: AsRef<[u8]>>(&mut self, msgs: &[M], timeout: Timeout) -> Result<usize> {
        self.check_receivers()?;
        let mut sent = 0;
        while sent < msgs.len() {
            let rest = &msgs[sent..];
            let r = self.park_for_room(timeout, |imp| {
                let n = match imp {
                    SendImp::Spsc(p) => p.try_send_batch(rest)?,
                    SendImp::Mpmc(p) => p.try_send_batch(rest)?,
                };
                Ok((n > 0).then_some(n))
            });
            match r {
                Ok(n) => {
                    self.stats.messages += n as u64;
                    self.stats.bytes += rest[..n].iter().map(|m| m.as_ref().len() as u64).sum::<u64>();
                    sent += n;
                    self.wake_receivers();
                }
                Err(Error::WouldBlock | Error::TimedOut | Error::Interrupted | Error::Disconnected | Error::ReceiverDied)
                    if sent > 0 =>
                {
                    break
                }
                Err(e) => return Err(e),
            }
        }
        Ok(sent)
    }

    /// [`reserve`](crate::channel::Sender::reserve) without the borrow: the slot's payload pointer and its
    /// position, to be passed to [`commit_raw`](Self::commit_raw) or
    /// [`cancel_raw`](Self::cancel_raw) before any other send on this sender. The C ABI
    /// keeps the pair in its handle between calls.
    #[inline]
    pub fn reserve_raw(&mut self, timeout: Timeout) -> Result<(*mut u8, u64)> {
        // The fast path, as a send's: SPSC room by the cached bounds, or one MPMC claim won
        // inline. Anything else (full, an error) goes to the general path, which makes every
        // check again and gives every error.
        if self.fast_checks() {
            match &mut self.imp {
                SendImp::Spsc(p) => {
                    if let Some(ptr) = p.reserve_fast() {
                        return Ok((ptr, 0));
                    }
                }
                SendImp::Mpmc(p) => {
                    if let Ok(Some((pos, ptr))) = p.reserve_fast() {
                        return Ok((ptr, pos));
                    }
                }
            }
        }
        self.reserve_general(timeout)
    }

    #[inline(never)]
    fn reserve_general(&mut self, timeout: Timeout) -> Result<(*mut u8, u64)> {
        self.guarded(|me| me.reserve_checked(timeout))
    }

    fn reserve_checked(&mut self, timeout: Timeout) -> Result<(*mut u8, u64)> {
        self.check_receivers()?;
        self.park_for_room(timeout, |imp| {
            Ok(match imp {
                SendImp::Spsc(p) => p.reserve()?.map(|ptr| (ptr, 0)),
                SendImp::Mpmc(p) => p.claim(1)?.map(|(pos, _)| (p.payload(pos), pos)),
            })
        })
    }

    /// Publishes `len` bytes of the slot reserved at `pos`. `len > msg_size` is
    /// [`Error::TooLarge`] and leaves the reservation standing.
    #[inline]
    pub fn commit_raw(&mut self, pos: u64, len: usize) -> Result<()> {
        self.check_len(len)?;
        match &mut self.imp {
            SendImp::Spsc(p) => p.commit(len),
            SendImp::Mpmc(p) => p.publish(pos, len as u32),
        }
        self.sent(len);
        Ok(())
    }

    /// Gives up the slot reserved at `pos` without sending anything. SPSC simply forgets it;
    /// an MPMC claim cannot be undone, so it is published as a tombstone that receivers skip
    /// (and they are woken, since one may be waiting for this very position).
    pub fn cancel_raw(&mut self, pos: u64) {
        if let SendImp::Mpmc(p) = &self.imp {
            p.publish(pos, TOMBSTONE);
            self.wake_receivers();
        }
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

impl Drop for RingSender {
    fn drop(&mut self) {
        if let Some(announced) = self.listener.get_mut().and_then(Listener::announced) {
            wait::retract_fd(&self.shared.raw.header().space_bell, announced);
        }
        if let Some(ep) = self.ep.take() {
            self.shared.close(ep);
        }
    }
}

impl Guarded for RingSender {
    fn shared(&self) -> &Shared {
        &self.shared
    }
}
