//! The shared-memory ring: [`Ring`] (a region, named, anonymous or in-process) and its
//! [`RingOptions`], and the ring's ends behind [`Sender`] and [`Receiver`] (attach, send,
//! receive, batches, zero-copy, statistics). Dispatches to the SPSC or MPMC algorithm and to
//! the blocking layer. The public ends, shared with the fallback transports, are in
//! [`crate::channel`].
//!
//! Semantics (the README's "Semantics"): one send is one message of `0..=msg_size` bytes; a receive returns
//! one whole message. Blocking calls take a [`Timeout`](crate::timeout::Timeout): `Forever`, `NonBlocking` (`WouldBlock`) or a
//! deadline (`TimedOut`). When every sender has gone (closed, or its process died) and the
//! ring is drained, receives return `EndOfStream`; when every receiver has gone, sends return
//! `Disconnected`. Before the first peer of the other side attaches, calls wait as usual.
//!
//! | file | owns |
//! |---|---|
//! | `mod.rs` | [`Ring`] (create, open, anonymous, in-process, remove), the mapping shared by a ring's ends, poison |
//! | `peers` | what an end last learned about the other side's endpoints |
//! | `sender` | the ring's sending end |
//! | `receiver` | the ring's receiving end |

mod door;
mod peers;
mod receiver;
mod sender;

use crate::endpoint::{self, Endpoint};
use crate::error::{Error, Result};
use crate::kind::Kind;
use crate::layout::{Geometry, RawRing};
pub use crate::options::RingOptions;
use crate::region::{self, init_ring, HeapRegion, ShmRegion};
use crate::sync::Ordering;
use crate::wait;
// The ends are `pub` here, and so is what the loom models call on them: this module is
// private in a normal build (only the crate sees them) and public under the test and loom cfgs.
pub use receiver::RingReceiver;
pub use sender::RingSender;
use std::os::fd::RawFd;
use std::sync::Arc;

/// Wakes one end of a ring out of its blocked call (behind `channel::Interrupter`): raises
/// the end's token, which the end checks in the re-check before each sleep, and rings the
/// bell that end sleeps on. The ring wakes every sleeper on that bell, in every process;
/// the others find nothing changed and sleep again (one spurious re-check each). On the
/// `sem_t` backend the ring posts once per announced waiter; a post nobody consumed costs one
/// spurious re-check later.
#[derive(Debug, Clone)]
pub struct RingInterrupter {
    shared: Arc<Shared>,
    wake: Arc<crate::sys::intr::Wake>,
    /// The space bell (a sender's) rather than the data bell (a receiver's).
    space: bool,
}

impl RingInterrupter {
    /// Raises the token and wakes the sleeper (see the type's docs).
    pub fn interrupt(&self) {
        self.wake.raise();
        let h = self.shared.raw.header();
        let bell = if self.space { &h.space_bell } else { &h.data_bell };
        if crate::wait::notify_all(bell, self.shared.raw.geom().wake) {
            self.shared.ring_door(bell, self.space);
        }
    }
}

/// What a ring end's inline fast path did (`RingSender::send_fast_mpmc`,
/// `RingReceiver::recv_fast_spsc` and `recv_fast_mpmc`).
enum Fast<T> {
    /// The whole call, with its result.
    Done(T),
    /// Nothing, having found nothing published at the receiver's position, or (MPMC) no
    /// free slot for the sender: a non-blocking call may be `WouldBlock` at once.
    Empty,
    /// Nothing: the general path takes the call.
    No,
    /// The call's error (the ring algorithm's: corruption, a short buffer), nothing taken.
    Failed(Error),
}

#[derive(Debug)]
enum Backing {
    Shm(ShmRegion),
    Heap(HeapRegion),
}

#[derive(Debug)]
struct Shared {
    raw: RawRing,
    backing: Backing,
    /// Set once a call on this mapping returned `Corrupted`. The shared `poison` word says the
    /// same to every process, but a hostile peer can clear it and the fast paths do not read
    /// it; this flag keeps the ring poisoned for this process: every later call fails at once
    /// (tests/live_scribble.rs found calls that worked again, or waited out their timeout).
    corrupted: std::sync::atomic::AtomicBool,
    /// The doorbells the handles' descriptors listen on (`door`).
    doors: door::Doors,
    /// The positions at which the last bounded waits of non-blocking MPMC receives and sends
    /// gave up on a peer that stayed mid-operation (`wait_held_up`): a call held up at the same
    /// position again waits only briefly. Process-local hints (`u64::MAX`: none).
    stalled: [std::sync::atomic::AtomicU64; 2],
    /// The last MPMC claimer found alive by [`claim_live`](Shared::claim_live), per role (0
    /// senders, 1 receivers): its entry index and generation (`index << 32 | generation`),
    /// and until when (monotonic nanoseconds) that is trusted. Process-local hints.
    live_claim: [(std::sync::atomic::AtomicU64, std::sync::atomic::AtomicU64); 2],
    /// Whether blocking calls on this mapping's ends spin before they sleep
    /// ([`RingOptions::spin`]; process-local, never stored in the ring).
    spin: bool,
}

impl Shared {
    /// `Corrupted` if this process has found the ring corrupted, or any process poisoned it.
    #[inline]
    fn check_poison(&self) -> Result<()> {
        if self.poisoned() {
            self.corrupted.store(true, std::sync::atomic::Ordering::Relaxed);
            return Err(Error::Corrupted {
                what: "ring poisoned: it was found corrupted",
            });
        }
        Ok(())
    }

    /// Whether this process has found the ring corrupted, or any process poisoned it (the
    /// test of [`check_poison`](Shared::check_poison), for the fast paths).
    #[inline(always)]
    fn poisoned(&self) -> bool {
        self.corrupted.load(std::sync::atomic::Ordering::Relaxed) || self.raw.is_poisoned()
    }

    /// An operation's error as the call's: a `Corrupted` is remembered for
    /// [`check_poison`](Shared::check_poison) (every later call on the mapping fails at
    /// once), any other error returned as it is. Inline, so that the common errors
    /// (`WouldBlock` of a poll) cost a test of the variant and no call.
    #[inline(always)]
    fn fail<T>(&self, e: Error) -> Result<T> {
        if let Error::Corrupted { .. } = e {
            self.remember_corrupted();
        }
        Err(e)
    }

    #[cold]
    #[inline(never)]
    fn remember_corrupted(&self) {
        self.corrupted.store(true, std::sync::atomic::Ordering::Relaxed);
    }

    /// MPMC: positions claimed and not yet consumed now, a snapshot of the cursors clamped
    /// to the capacity. SPSC: messages published and not yet consumed (the counts in the
    /// cursor words; a message whose producer was killed before counting it is not counted
    /// until the next producer repairs the word, see `spsc`).
    fn span(&self) -> u64 {
        let h = self.raw.header();
        let g = self.raw.geom();
        match g.kind {
            Kind::Spsc => {
                // Head first: a later tail is at or after it, except for the records a
                // producer published and has not counted in its word yet, which the consumer
                // may have taken (a difference that wrapped: nothing counted is queued).
                let head = h.head.0.load(Ordering::Acquire);
                let tail = h.tail.0.load(Ordering::Acquire);
                let n = crate::spsc::messages_between(head, tail);
                if n > g.max_queued() {
                    0
                } else {
                    n
                }
            }
            Kind::Mpmc => {
                let head = h.head.0.load(Ordering::Acquire);
                let tail = h.tail.0.load(Ordering::Acquire);
                crate::mpmc::distance(g, head, tail).unwrap_or(g.capacity).min(g.capacity)
            }
        }
    }

    /// Messages in the ring now: the [`span`](Self::span); on MPMC the published messages in
    /// it, not claims still being written or tombstones (see `mpmc::messages`).
    fn queued(&self) -> u64 {
        let n = self.span();
        if n == 0 || self.raw.geom().kind != Kind::Mpmc {
            return n;
        }
        // MPMC: count messages, not claims (a slot still being written) or tombstones.
        crate::mpmc::messages(&self.raw)
    }

    /// Whether a message of `msg_size` would fit now (a snapshot): on MPMC a slot not claimed,
    /// on SPSC the message bound not reached and room for a record of `msg_size` at the tail
    /// (after the padding at the end of the area, if it needs one).
    fn has_room(&self) -> bool {
        let g = self.raw.geom();
        if g.kind == Kind::Mpmc {
            return self.span() < g.capacity;
        }
        let h = self.raw.header();
        let head = h.head.0.load(Ordering::Acquire);
        let tail = h.tail.0.load(Ordering::Acquire);
        crate::spsc::fits(head, tail, g.area(), g.max_queued(), g.slot_size).unwrap_or(true)
    }

    fn new(backing: Backing, opts: &RingOptions) -> Result<Arc<Shared>> {
        let (raw, doors) = match &backing {
            Backing::Shm(r) => match r.name() {
                Some(name) => {
                    let st = crate::sys::fd::fstat(r.fd())?;
                    (r.raw(), door::Doors::named(name, &st))
                }
                None => (r.raw(), door::Doors::anonymous()?),
            },
            // Miri and loom run the algorithms, not the kernel: no pipes there (and no
            // descriptors asked for).
            Backing::Heap(r) if cfg!(miri) || crate::sync::MODEL => (r.raw(), door::Doors::default()),
            Backing::Heap(r) => (r.raw(), door::Doors::anonymous()?),
        };
        Ok(Arc::new(Shared {
            raw,
            backing,
            corrupted: std::sync::atomic::AtomicBool::new(false),
            stalled: [
                std::sync::atomic::AtomicU64::new(u64::MAX),
                std::sync::atomic::AtomicU64::new(u64::MAX),
            ],
            live_claim: [
                (std::sync::atomic::AtomicU64::new(u64::MAX), std::sync::atomic::AtomicU64::new(0)),
                (std::sync::atomic::AtomicU64::new(u64::MAX), std::sync::atomic::AtomicU64::new(0)),
            ],
            doors,
            spin: opts.spins(),
        }))
    }

    /// Whether a live endpoint of `role` still claims the MPMC position `pos`
    /// (`endpoint::live_claim_covers`: a scan of the endpoint table and a system call per
    /// candidate). The endpoint found alive is trusted for [`LIVE_CLAIM_TRUST`]: while its
    /// entry, in the same generation, has a claim record covering the position asked about,
    /// the answer is "alive" without the system call. A consumer spinning on slots whose
    /// producer is still writing large messages (or holds reservations) asked the kernel once
    /// per call before, 17-21 times per 1 MiB message in `ipcring bench`'s `shm-mpmc/zc` row.
    /// A claimer that dies is then found dead up to that much later.
    fn claim_live(&self, role: endpoint::Role, pos: u64) -> Result<bool> {
        use std::sync::atomic::Ordering::Relaxed;
        if crate::sync::MODEL {
            return Ok(endpoint::live_claim_covers(&self.raw, self.lock_fd(), role, pos)?.is_some());
        }
        let (who, until) = &self.live_claim[(role == endpoint::Role::Receiver) as usize];
        let now = || {
            let ts = crate::timeout::monotonic_now();
            (ts.tv_sec as u64).saturating_mul(1_000_000_000).saturating_add(ts.tv_nsec as u64)
        };
        // The clock only once an endpoint is cached and its record covers `pos`.
        let (w, trusted_until) = (who.load(Relaxed), until.load(Relaxed));
        if trusted_until != 0
            && endpoint::claim_covers(&self.raw, (w >> 32) as usize, role, w as u32, pos)
            && now() < trusted_until
        {
            return Ok(true);
        }
        let Some((i, generation)) = endpoint::live_claim_covers(&self.raw, self.lock_fd(), role, pos)? else {
            return Ok(false);
        };
        // Two hints, not one value: a race between threads can only pair an endpoint with
        // another recent "alive" window.
        who.store((i as u64) << 32 | generation as u64, Relaxed);
        until.store(now() + LIVE_CLAIM_TRUST.as_nanos() as u64, Relaxed);
        Ok(true)
    }

    /// Writes the doorbell of `bell` (the space bell if `senders`) if an endpoint waits on its
    /// descriptor for it; called after the bell's futex was rung.
    #[cold]
    fn ring_door(&self, bell: &crate::layout::Bell, senders: bool) {
        if bell.fd_waiters.load(Ordering::Relaxed) != 0 {
            self.doors.ring(senders);
        }
    }

    /// A descriptor this mapping owns for its whole life, standing in for an end's descriptor
    /// that could not be made (see `door::Listener`): the region's file (which `poll` reports
    /// readable, so the next call says what failed) or the in-process ring's doorbell pipe.
    fn last_resort_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        match &self.backing {
            // SAFETY: the region's file stays open as long as `self`.
            Backing::Shm(r) => unsafe { std::os::fd::BorrowedFd::borrow_raw(r.fd()) },
            Backing::Heap(_) => self.doors.any_fd(),
        }
    }
    /// Detaches `ep` and wakes everybody parked on either side, so that they recount the
    /// endpoints (end of stream, `Disconnected`).
    fn close(&self, ep: Endpoint) {
        endpoint::detach(&self.raw, self.lock_fd(), ep);
        let h = self.raw.header();
        if wait::notify_all(&h.data_bell, self.raw.geom().wake) {
            self.ring_door(&h.data_bell, false);
        }
        if wait::notify_all(&h.space_bell, self.raw.geom().wake) {
            self.ring_door(&h.space_bell, true);
        }
    }

    fn lock_fd(&self) -> Option<RawFd> {
        match &self.backing {
            Backing::Shm(r) => Some(r.fd()),
            Backing::Heap(_) => None,
        }
    }
}

/// How long a non-blocking MPMC call waits for a peer that holds up the slot at the cursor
/// (see [`wait_held_up`]). Generous, because a peer preempted between its claim and its
/// publish (or release) on a loaded machine stays off the CPU for whole time slices; only a
/// stopped peer or one that holds a zero-copy reservation or a peeked message makes a call
/// pay it, and then once per position.
const HELD_UP_WAIT: std::time::Duration = std::time::Duration::from_millis(50);

/// How long [`Shared::claim_live`] trusts that a claimer it found alive still is.
const LIVE_CLAIM_TRUST: std::time::Duration = std::time::Duration::from_millis(1);

/// Tries after which a call held up at the position where the last wait gave up stops.
const HELD_UP_AGAIN_TRIES: u32 = 64;

/// The bounded wait of a non-blocking MPMC call that found nothing although the ring is not
/// really empty (receive) or full (send): `held_up` names the position whose slot a peer of
/// `role` has claimed and not yet finished while a later slot is ready
/// (`MpmcConsumer::held_up_at`, `MpmcProducer::held_up_at`). While it does, tries `op`
/// again, pausing between tries (spin, then yield, so a preempted peer can run); checks at
/// the first try and every 64th whether a live endpoint of `role` still claims that position,
/// and if none does runs `recover` (the dead-claim recovery, which re-checks) and goes on.
/// Gives up (`Ok(None)`: the caller reports `WouldBlock`) once `held_up` finds the ring
/// really empty or full, or after [`HELD_UP_WAIT`] with the peer alive (a stopped peer must
/// not hang a non-blocking call), or after [`HELD_UP_AGAIN_TRIES`] at the position the last
/// wait gave up on. `which`: 0 for receives, 1 for sends.
#[allow(clippy::too_many_arguments)]
fn wait_held_up<I, T>(
    shared: &Shared,
    which: usize,
    role: endpoint::Role,
    imp: &mut I,
    held_up: impl Fn(&I) -> Option<u64>,
    recover: impl Fn(&I, &dyn Fn(u64) -> Result<bool>) -> Result<bool>,
    op: &mut impl FnMut(&mut I) -> Result<Option<T>>,
) -> Result<Option<T>> {
    use std::sync::atomic::Ordering::Relaxed;
    if crate::sync::MODEL {
        // loom runs the claim protocol; this wait is a bounded retry on top of it.
        return Ok(None);
    }
    let claim_live = |pos| shared.claim_live(role, pos);
    let stalled = &shared.stalled[which];
    let backoff = crossbeam_utils::Backoff::new();
    let start = std::time::Instant::now();
    let mut tries = 0u32;
    loop {
        let Some(pos) = held_up(imp) else { return Ok(None) };
        if let Some(v) = op(imp)? {
            return Ok(Some(v));
        }
        if tries % 64 == 0 && !claim_live(pos)? && recover(imp, &claim_live)? {
            // A dead peer's claim was recovered: look again at once.
            continue;
        }
        tries += 1;
        let again = stalled.load(Relaxed) == pos;
        if (again && tries >= HELD_UP_AGAIN_TRIES) || (!again && start.elapsed() >= HELD_UP_WAIT) {
            stalled.store(pos, Relaxed);
            return Ok(None);
        }
        if backoff.is_completed() {
            std::thread::yield_now();
        } else {
            backoff.snooze();
        }
    }
}

/// An end of a ring (sender or receiver): what [`Guarded::guarded`] needs of it.
trait Guarded: Sized {
    /// The mapping the end works on.
    fn shared(&self) -> &Shared;

    /// Runs the operation `op` on this end unless the ring is poisoned (for this process or
    /// by any), remembering a `Corrupted` that `op` returns, so that every later call on the
    /// mapping fails at once.
    #[inline]
    fn guarded<T>(&mut self, op: impl FnOnce(&mut Self) -> Result<T>) -> Result<T> {
        self.shared().check_poison()?;
        match op(self) {
            Ok(v) => Ok(v),
            Err(e) => self.shared().fail(e),
        }
    }
}

/// A mapped ring. Cheap to clone (the mapping is shared); attach endpoints with
/// [`sender`](Ring::sender) and [`receiver`](Ring::receiver).
///
/// # Examples
///
/// ```
/// use ipcring::{Ring, RingOptions};
/// let name = format!("ipcring-doc-ring-{}", std::process::id());
/// let ring = Ring::create(&name, &RingOptions::new().capacity(8).msg_size(64))?;
/// let mut tx = ring.sender()?;
/// let mut rx = Ring::open(&name)?.receiver()?;
/// tx.send(b"hello")?;
/// assert_eq!(rx.recv_vec()?, b"hello");
/// Ring::unlink(&name)?;
/// # Ok::<(), ipcring::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct Ring {
    shared: Arc<Shared>,
}

impl Ring {
    /// Creates the shared-memory ring `name` (`/dev/shm/NAME`). Fails with
    /// [`Error::AlreadyExists`] if the name is taken.
    ///
    /// # Examples
    ///
    /// ```
    /// let name = format!("ipcring-doc-create-{}", std::process::id());
    /// let ring = ipcring::Ring::create(&name, &ipcring::RingOptions::new())?;
    /// assert!(matches!(ipcring::Ring::create(&name, &ipcring::RingOptions::new()), Err(ipcring::Error::AlreadyExists { .. })));
    /// ipcring::Ring::unlink(&name)?;
    /// # drop(ring); Ok::<(), ipcring::Error>(())
    /// ```
    pub fn create(name: &str, opts: &RingOptions) -> Result<Ring> {
        let g = opts.validate()?.with_fence(wait::choose_fence(opts)?);
        let region = region::create(name, &g, opts.perm_bits(), init_ring).map_err(|e| e.on(&shm_address(name)))?;
        Ok(Ring {
            shared: Shared::new(Backing::Shm(region), opts)?,
        })
    }

    /// Opens the existing ring `name`, whatever its geometry.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(matches!(ipcring::Ring::open("ipcring-doc-absent"), Err(ipcring::Error::NotFound { .. })));
    /// ```
    pub fn open(name: &str) -> Result<Ring> {
        Self::open_with(name, &RingOptions::new())
    }

    /// Opens the existing ring `name`, checking every option set in `opts` against it.
    ///
    /// # Examples
    ///
    /// ```
    /// use ipcring::{Error, Kind, Ring, RingOptions};
    /// let name = format!("ipcring-doc-open-with-{}", std::process::id());
    /// let _ring = Ring::create(&name, &RingOptions::new().kind(Kind::Spsc))?;
    /// let err = Ring::open_with(&name, &RingOptions::new().kind(Kind::Mpmc)).unwrap_err();
    /// assert!(matches!(err, Error::Mismatch { field: "kind", .. }));
    /// Ring::unlink(&name)?;
    /// # Ok::<(), ipcring::Error>(())
    /// ```
    pub fn open_with(name: &str, opts: &RingOptions) -> Result<Ring> {
        // Refuses an object group/others may write unless opts asked for it (open_errors.rs).
        let region = region::open_perm(name, opts.open_timeout_given(), opts.perm_bits())
            .map_err(|e| e.on(&shm_address(name)))?;
        opts.check(&region.geometry())?;
        // A ring with asymmetric fences covers only registered processes' wakers: one that
        // cannot register must not join (Error::FenceUnavailable names the fix).
        wait::join_fence(region.geometry().fence)?;
        Ok(Ring {
            shared: Shared::new(Backing::Shm(region), opts)?,
        })
    }

    /// Creates an anonymous ring (memfd) to share with child processes across `fork`.
    ///
    /// # Examples
    ///
    /// ```
    /// let ring = ipcring::Ring::anonymous(&ipcring::RingOptions::new())?;
    /// assert!(ring.name().is_none());
    /// # Ok::<(), ipcring::Error>(())
    /// ```
    pub fn anonymous(opts: &RingOptions) -> Result<Ring> {
        let g = opts.validate()?.with_fence(wait::choose_fence(opts)?);
        let region = region::anonymous(&g, init_ring)?;
        Ok(Ring {
            shared: Shared::new(Backing::Shm(region), opts)?,
        })
    }

    /// Creates a ring in this process's heap: the same algorithms, for threads.
    ///
    /// # Examples
    ///
    /// ```
    /// let ring = ipcring::Ring::in_process(&ipcring::RingOptions::new().capacity(4))?;
    /// let (mut tx, mut rx) = (ring.sender()?, ring.receiver()?);
    /// tx.send(&[1, 2, 3])?;
    /// assert_eq!(rx.recv_vec()?, [1, 2, 3]);
    /// # Ok::<(), ipcring::Error>(())
    /// ```
    pub fn in_process(opts: &RingOptions) -> Result<Ring> {
        let g = opts.validate()?.with_fence(wait::choose_fence(opts)?);
        Ok(Ring {
            shared: Shared::new(Backing::Heap(HeapRegion::new(g)?), opts)?,
        })
    }

    /// Removes the shared-memory object `name`, whoever uses it. Processes that have it
    /// mapped keep using it. [`Ring::remove`] is the careful version (it refuses a ring in
    /// use, and never races another cleaner into removing a new ring).
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(ipcring::Ring::unlink("bad/name").is_err());
    /// ```
    pub fn unlink(name: &str) -> Result<()> {
        region::unlink(name).map_err(|e| e.on(&shm_address(name)))
    }

    /// Removes the shared-memory ring `name` unless it is in use: a live endpoint (in any
    /// process, this one included) or a live creator still initialising it makes it
    /// [`Error::InUse`], unless `force`. A ring whose endpoints have all closed or died, and
    /// the half-made object of a creator that died, are removed without `force`. Liveness
    /// is what the kernel says (the endpoints' and the creator's OFD locks), never a PID or a
    /// timeout; a stopped process is alive.
    ///
    /// Safe against other cleaners: two removes racing for the same ring never remove a
    /// new ring created under the name after the first one succeeded (the loser gets
    /// [`Error::NotFound`]); see `region::cleanup`'s module docs for the protocol. [`Ring::unlink`]
    /// removes the name unconditionally and takes no part in it.
    ///
    /// # Errors
    ///
    /// [`Error::NotFound`]; [`Error::InUse`]; [`Error::Busy`] (role `"cleaner"`) if another
    /// cleaner kept the ring for a while (2 s); [`Error::NotARing`] for an object that
    /// cannot be a ring (unless `force`); [`Error::PermissionDenied`].
    ///
    /// # Examples
    ///
    /// ```
    /// use ipcring::{Error, Ring, RingOptions};
    /// let name = format!("ipcring-doc-remove-{}", std::process::id());
    /// let ring = Ring::create(&name, &RingOptions::new())?;
    /// let rx = ring.receiver()?;
    /// assert!(matches!(Ring::remove(&name, false), Err(Error::InUse { endpoints: 1, initialising: false })));
    /// drop(rx); // (or its process dies)
    /// Ring::remove(&name, false)?;
    /// assert!(matches!(Ring::remove(&name, true), Err(Error::NotFound { .. })));
    /// # Ok::<(), ipcring::Error>(())
    /// ```
    pub fn remove(name: &str, force: bool) -> Result<()> {
        region::remove(name, force).map_err(|e| e.on(&shm_address(name)))
    }

    internal_fn! {
        /// Attaches this ring's sending end (the API's `Ring::sender` wraps it in a `Sender`;
        /// the loom models drive it directly). On SPSC a second live sender is [`Error::Busy`].
        fn attach_sender(&self) -> Result<RingSender> {
            RingSender::attach(self.shared.clone())
        }
    }

    internal_fn! {
        /// Attaches this ring's receiving end (see [`attach_sender`](Ring::attach_sender)).
        fn attach_receiver(&self) -> Result<RingReceiver> {
            RingReceiver::attach(self.shared.clone())
        }
    }

    /// The ring's geometry.
    ///
    /// # Examples
    ///
    /// ```
    /// let ring = ipcring::Ring::in_process(&ipcring::RingOptions::new().msg_size(8))?;
    /// assert_eq!(ring.geometry().msg_size, 8);
    /// # Ok::<(), ipcring::Error>(())
    /// ```
    pub fn geometry(&self) -> Geometry {
        *self.shared.raw.geom()
    }

    /// The object name (`/NAME`), or `None` for anonymous and in-process rings.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(ipcring::Ring::in_process(&Default::default())?.name().is_none());
    /// # Ok::<(), ipcring::Error>(())
    /// ```
    pub fn name(&self) -> Option<&str> {
        match &self.shared.backing {
            Backing::Shm(r) => r.name(),
            Backing::Heap(_) => None,
        }
    }

    /// Messages in the ring at this instant (a snapshot that may be stale at once). On MPMC
    /// these are the published messages: a slot a producer is still writing, or a cancelled
    /// reservation's tombstone, is not one (found by a scan of at most `capacity` slots).
    ///
    /// # Examples
    ///
    /// ```
    /// let ring = ipcring::Ring::in_process(&Default::default())?;
    /// ring.sender()?.send(b"x")?;
    /// assert_eq!(ring.len(), 1);
    /// # Ok::<(), ipcring::Error>(())
    /// ```
    pub fn len(&self) -> u64 {
        self.shared.queued()
    }

    /// Whether [`len`](Ring::len) is zero.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(ipcring::Ring::in_process(&Default::default())?.is_empty());
    /// # Ok::<(), ipcring::Error>(())
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Test hook, not API: restarts a fresh ring at cursor position `pos` (MPMC: head = tail =
    /// `pos`, or the start of the next lap if `pos`'s slot index is not below a capacity that
    /// is not a power of two, slots stamped free for the lap from there; SPSC: message counts
    /// at `pos`, offsets at `pos` reduced into the area) with both
    /// bells' futex words at
    /// `bell`, so tests can drive the cursors across 2^64 and the futex words across 2^32.
    /// Only before any endpoint has attached and while the ring is untouched; otherwise
    /// [`Error::Unsupported`].
    #[doc(hidden)]
    pub fn debug_start_at(&self, pos: u64, bell: u32) -> Result<()> {
        let raw = &self.shared.raw;
        let h = raw.header();
        let untouched = h.id.0.ever.load(Ordering::Acquire) == 0
            && h.tail.0.load(Ordering::Acquire) == 0
            && h.head.0.load(Ordering::Acquire) == 0;
        if !untouched {
            return Err(Error::Unsupported {
                what: "debug_start_at on a ring already in use",
            });
        }
        let g = raw.geom();
        let at = match g.kind {
            Kind::Mpmc => {
                let at = crate::mpmc::position_near(g, pos);
                let mut p = at;
                for _ in 0..g.capacity {
                    raw.slot(p).seq.store(crate::mpmc::free_stamp(p), Ordering::Relaxed);
                    p = crate::mpmc::next(g, p);
                }
                at
            }
            Kind::Spsc => {
                // The message counts start at `pos`, the offsets at `pos` reduced into the
                // area.
                h.head.1.store(pos, Ordering::Relaxed);
                h.tail.1.store(pos, Ordering::Relaxed);
                crate::spsc::cursor_near(pos, g.area())
            }
        };
        h.data_bell.seq.atomic().store(bell, Ordering::Relaxed);
        h.space_bell.seq.atomic().store(bell, Ordering::Relaxed);
        h.head.0.store(at, Ordering::Release);
        h.tail.0.store(at, Ordering::Release);
        Ok(())
    }
}

/// The address of the named ring `name` (`NAME` or `/NAME`), as errors name it.
fn shm_address(name: &str) -> String {
    format!("shm://{}", name.trim_start_matches('/'))
}
