//! The shared-memory ring: [`Ring`] (a region, named, anonymous or in-process) and its
//! [`RingOptions`], and the ring's ends behind [`Sender`] and [`Receiver`] (attach, send,
//! receive, batches, zero-copy, statistics). Dispatches to the SPSC or MPMC algorithm and to
//! the blocking layer. The public ends, shared with the fallback transports, are in
//! [`crate::channel`].
//!
//! Semantics (DESIGN §3): one send is one message of `0..=msg_size` bytes; a receive returns
//! one whole message. Blocking calls take a [`Timeout`]: `Forever`, `Never` (`WouldBlock`) or a
//! deadline (`TimedOut`). When every sender has gone (closed, or its process died) and the
//! ring is drained, receives return `EndOfStream`; when every receiver has gone, sends return
//! `Disconnected`. Before the first peer of the other side attaches, calls wait as usual.

use crate::channel::{Receiver, Sender};
use crate::endpoint::{self, Endpoint, Role};
use crate::error::{Error, Result};
use crate::layout::{Geometry, HeapRegion, Kind, RawRing, WakeBackend, INIT_READY, TOMBSTONE};
use crate::mpmc::{MpmcConsumer, MpmcProducer};
use crate::shm::{self, ShmRegion};
use crate::spsc::{SpscConsumer, SpscProducer};
use crate::stats::Stats;
use crate::sync::Ordering;
use crate::wait::{self, park_slice, Phase, Timeout};
use std::os::fd::RawFd;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Options for creating (and expectations for opening) a ring.
///
/// Unset options take their defaults at create (`Kind::Spsc`, capacity 1024, msg_size 256,
/// `WakeBackend::Futex`, mode 0600) and are not checked at open; set ones must match the
/// region at open, or the open fails with [`Error::Mismatch`].
///
/// # Examples
///
/// ```
/// use ipcring::{Kind, RingOptions};
/// let opts = RingOptions::new().kind(Kind::Mpmc).capacity(64).msg_size(128);
/// let g = opts.validate().unwrap();
/// assert_eq!((g.capacity, g.msg_size), (64, 128));
/// ```
#[derive(Debug, Clone)]
pub struct RingOptions {
    kind: Option<Kind>,
    capacity: Option<u64>,
    msg_size: Option<u64>,
    wake: Option<WakeBackend>,
    mode: u32,
    open_timeout: Duration,
}

impl Default for RingOptions {
    fn default() -> Self {
        RingOptions {
            kind: None,
            capacity: None,
            msg_size: None,
            wake: None,
            mode: 0o600,
            open_timeout: Duration::from_secs(1),
        }
    }
}

impl RingOptions {
    /// Default capacity in slots.
    pub const DEFAULT_CAPACITY: u64 = 1024;
    /// Default largest message in bytes.
    pub const DEFAULT_MSG_SIZE: u64 = 256;

    /// The `kind` (`mode`) asked for, if any.
    #[cfg_attr(ipcring_loom, allow(dead_code))] // used by the transports, which loom builds leave out
    pub(crate) fn kind_given(&self) -> Option<Kind> {
        self.kind
    }

    /// The `capacity` asked for, if any.
    #[cfg_attr(ipcring_loom, allow(dead_code))] // used by the transports, which loom builds leave out
    pub(crate) fn capacity_given(&self) -> Option<u64> {
        self.capacity
    }

    /// The `msg_size` asked for, if any.
    #[cfg_attr(ipcring_loom, allow(dead_code))] // used by the transports, which loom builds leave out
    pub(crate) fn msg_size_given(&self) -> Option<u64> {
        self.msg_size
    }

    /// The `wake` backend asked for, if any.
    #[cfg_attr(ipcring_loom, allow(dead_code))] // used by the transports, which loom builds leave out
    pub(crate) fn wake_given(&self) -> Option<WakeBackend> {
        self.wake
    }

    /// The permission bits for a created object.
    #[cfg_attr(ipcring_loom, allow(dead_code))] // used by the transports, which loom builds leave out
    pub(crate) fn perm(&self) -> u32 {
        self.mode
    }

    /// Options with nothing set.
    ///
    /// # Examples
    ///
    /// ```
    /// let g = ipcring::RingOptions::new().validate().unwrap();
    /// assert_eq!(g.capacity, 1024);
    /// ```
    pub fn new() -> Self {
        Self::default()
    }
    /// SPSC (default) or MPMC.
    ///
    /// # Examples
    ///
    /// ```
    /// let o = ipcring::RingOptions::new().kind(ipcring::Kind::Mpmc);
    /// assert_eq!(o.validate().unwrap().kind, ipcring::Kind::Mpmc);
    /// ```
    pub fn kind(mut self, kind: Kind) -> Self {
        self.kind = Some(kind);
        self
    }
    /// Slots in the ring: a power of two, at most 2^24 (not rounded: anything else is an error).
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(ipcring::RingOptions::new().capacity(6).validate().is_err());
    /// ```
    pub fn capacity(mut self, capacity: u64) -> Self {
        self.capacity = Some(capacity);
        self
    }
    /// Largest message in bytes: 1 ..= 256 MiB.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(ipcring::RingOptions::new().msg_size(0).validate().is_err());
    /// ```
    pub fn msg_size(mut self, msg_size: u64) -> Self {
        self.msg_size = Some(msg_size);
        self
    }
    /// How blocked callers sleep: futex (default) or a process-shared `sem_t`.
    ///
    /// # Examples
    ///
    /// ```
    /// let o = ipcring::RingOptions::new().wake(ipcring::WakeBackend::Sem);
    /// assert_eq!(o.validate().unwrap().wake, ipcring::WakeBackend::Sem);
    /// ```
    pub fn wake(mut self, wake: WakeBackend) -> Self {
        self.wake = Some(wake);
        self
    }
    /// Permission bits of a created object (default 0600, applied regardless of the umask).
    /// At open, the most the opener accepts: an existing ring whose mode lets group or others
    /// write beyond these bits (e.g. a 0666 object pre-created by someone else) is refused
    /// with [`Error::PermissionDenied`]; peers of a ring created with `0660` open it with
    /// `0660` too (`?perm=0660` in an address). Read bits for others are not refused.
    ///
    /// # Examples
    ///
    /// ```
    /// let o = ipcring::RingOptions::new().mode(0o640);
    /// # let _ = o;
    /// ```
    pub fn mode(mut self, mode: u32) -> Self {
        self.mode = mode;
        self
    }
    /// How long `open` waits for a creator to finish initialising (default 1 s).
    ///
    /// # Examples
    ///
    /// ```
    /// let o = ipcring::RingOptions::new().open_timeout(std::time::Duration::from_millis(10));
    /// # let _ = o;
    /// ```
    pub fn open_timeout(mut self, t: Duration) -> Self {
        self.open_timeout = t;
        self
    }
    /// The geometry these options create, or the error that creating would give.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(ipcring::RingOptions::new().capacity(0).validate().is_err());
    /// ```
    pub fn validate(&self) -> Result<Geometry> {
        Geometry::new(
            self.kind.unwrap_or(Kind::Spsc),
            self.wake.unwrap_or_default(),
            self.capacity.unwrap_or(Self::DEFAULT_CAPACITY),
            self.msg_size.unwrap_or(Self::DEFAULT_MSG_SIZE),
        )
    }

    fn check(&self, g: &Geometry) -> Result<()> {
        let mismatch = |field, expected: u64, found: u64| Err(Error::Mismatch { field, expected, found });
        if let Some(k) = self.kind {
            if k != g.kind {
                return mismatch("kind", k as u64, g.kind as u64);
            }
        }
        if let Some(c) = self.capacity {
            if c != g.capacity {
                return mismatch("capacity", c, g.capacity);
            }
        }
        if let Some(m) = self.msg_size {
            if m != g.msg_size {
                return mismatch("msg_size", m, g.msg_size);
            }
        }
        if let Some(w) = self.wake {
            if w != g.wake {
                return mismatch("wake", w as u64, g.wake as u64);
            }
        }
        Ok(())
    }
}

/// Writes a fresh, zeroed region's header, prepares slots and bells, and publishes READY
/// last with Release.
pub(crate) fn init_ring(raw: &RawRing) -> Result<()> {
    let g = raw.geom();
    let h = raw.header();
    g.write_header(h);
    if g.kind == Kind::Mpmc {
        crate::mpmc::init_slots(raw);
    }
    wait::init_bell(&h.data_bell, g.wake)?;
    wait::init_bell(&h.space_bell, g.wake)?;
    crate::failpoint::hit(crate::failpoint::INIT_BEFORE_READY);
    h.id.0.init.store(INIT_READY, Ordering::Release);
    Ok(())
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
}

impl Shared {
    /// `Corrupted` if this process has found the ring corrupted, or any process poisoned it.
    #[inline]
    fn check_poison(&self) -> Result<()> {
        use std::sync::atomic::Ordering::Relaxed;
        if self.corrupted.load(Relaxed) || self.raw.is_poisoned() {
            self.corrupted.store(true, Relaxed);
            return Err(Error::Corrupted {
                what: "ring poisoned: it was found corrupted",
            });
        }
        Ok(())
    }

    /// Passes `r` on, remembering a `Corrupted` for [`check_poison`](Shared::check_poison).
    #[inline]
    fn note<T>(&self, r: Result<T>) -> Result<T> {
        if let Err(Error::Corrupted { .. }) = &r {
            self.corrupted.store(true, std::sync::atomic::Ordering::Relaxed);
        }
        r
    }

    /// Messages in the ring now: a snapshot of tail - head, clamped to the capacity.
    fn queued(&self) -> u64 {
        let h = self.raw.header();
        let head = h.head.0.load(Ordering::Acquire);
        let tail = h.tail.0.load(Ordering::Acquire);
        tail.wrapping_sub(head).min(self.raw.geom().capacity)
    }

    fn new(backing: Backing) -> Arc<Shared> {
        let raw = match &backing {
            Backing::Shm(r) => r.raw(),
            Backing::Heap(r) => r.raw(),
        };
        Arc::new(Shared {
            raw,
            backing,
            corrupted: std::sync::atomic::AtomicBool::new(false),
        })
    }
    /// Detaches `ep` and wakes everybody parked on either side, so that they recount the
    /// endpoints (end of stream, `Disconnected`).
    fn close(&self, ep: Endpoint) {
        endpoint::detach(&self.raw, ep);
        let h = self.raw.header();
        wait::notify_all(&h.data_bell, self.raw.geom().wake);
        wait::notify_all(&h.space_bell, self.raw.geom().wake);
    }

    fn lock_fd(&self) -> Option<RawFd> {
        match &self.backing {
            Backing::Shm(r) => Some(r.fd()),
            Backing::Heap(_) => None,
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
    /// assert!(matches!(ipcring::Ring::create(&name, &ipcring::RingOptions::new()), Err(ipcring::Error::AlreadyExists)));
    /// ipcring::Ring::unlink(&name)?;
    /// # drop(ring); Ok::<(), ipcring::Error>(())
    /// ```
    pub fn create(name: &str, opts: &RingOptions) -> Result<Ring> {
        let g = opts.validate()?;
        let region = shm::create(name, &g, opts.mode, init_ring)?;
        Ok(Ring {
            shared: Shared::new(Backing::Shm(region)),
        })
    }

    /// Opens the existing ring `name`, whatever its geometry.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(matches!(ipcring::Ring::open("ipcring-doc-absent"), Err(ipcring::Error::NotFound)));
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
        let region = shm::open_perm(name, opts.open_timeout, opts.perm())?;
        opts.check(&region.geometry())?;
        Ok(Ring {
            shared: Shared::new(Backing::Shm(region)),
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
        let g = opts.validate()?;
        let region = shm::anonymous(&g, init_ring)?;
        Ok(Ring {
            shared: Shared::new(Backing::Shm(region)),
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
        let g = opts.validate()?;
        Ok(Ring {
            shared: Shared::new(Backing::Heap(HeapRegion::new(g)?)),
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
        shm::unlink(name)
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
    /// [`Error::NotFound`]); see `shm`'s module docs for the protocol. [`Ring::unlink`]
    /// removes the name unconditionally and takes no part in it.
    ///
    /// # Errors
    ///
    /// [`Error::NotFound`]; [`Error::InUse`]; [`Error::Busy`] (role `"cleaner"`) if another
    /// cleaner kept the ring for [`shm::CLEANUP_WAIT`]; [`Error::NotARing`] for an object that
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
    /// assert!(matches!(Ring::remove(&name, true), Err(Error::NotFound)));
    /// # Ok::<(), ipcring::Error>(())
    /// ```
    pub fn remove(name: &str, force: bool) -> Result<()> {
        shm::remove(name, force)
    }

    /// Attaches a sender. On SPSC a second live sender is [`Error::Busy`].
    ///
    /// # Examples
    ///
    /// ```
    /// let ring = ipcring::Ring::in_process(&ipcring::RingOptions::new())?;
    /// let _tx = ring.sender()?;
    /// assert!(matches!(ring.sender(), Err(ipcring::Error::Busy { role: "sender" })));
    /// # Ok::<(), ipcring::Error>(())
    /// ```
    pub fn sender(&self) -> Result<Sender> {
        RingSender::attach(self.shared.clone()).map(Sender::from_ring)
    }

    /// Attaches a receiver. On SPSC a second live receiver is [`Error::Busy`].
    ///
    /// # Examples
    ///
    /// ```
    /// let ring = ipcring::Ring::in_process(&ipcring::RingOptions::new())?;
    /// let rx = ring.receiver()?;
    /// # drop(rx); Ok::<(), ipcring::Error>(())
    /// ```
    pub fn receiver(&self) -> Result<Receiver> {
        RingReceiver::attach(self.shared.clone()).map(Receiver::from_ring)
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

    /// Messages in the ring at this instant (a snapshot that may be stale at once).
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

    /// Test hook, not API: restarts a fresh ring at cursor position `pos` (head = tail = `pos`,
    /// MPMC slots stamped free for `pos .. pos + capacity`) with both bells' futex words at
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
        if raw.geom().kind == Kind::Mpmc {
            for i in 0..raw.geom().capacity {
                let p = pos.wrapping_add(i);
                raw.slot(p).seq.store(crate::mpmc::free_stamp(p), Ordering::Relaxed);
            }
        }
        h.data_bell.seq.atomic().store(bell, Ordering::Relaxed);
        h.space_bell.seq.atomic().store(bell, Ordering::Relaxed);
        h.head.0.store(pos, Ordering::Release);
        h.tail.0.store(pos, Ordering::Release);
        Ok(())
    }
}

/// What this endpoint last learned about the other side's endpoints.
#[derive(Debug)]
struct PeerCache {
    peer: Role,
    epoch: u32,
    checked: Option<Instant>,
    gone: bool,
    polls: u32,
}

impl PeerCache {
    fn new(peer: Role) -> Self {
        PeerCache {
            peer,
            epoch: 0,
            checked: None,
            gone: false,
            polls: 0,
        }
    }

    /// Whether every peer is gone (at least one attached once, none now). Recounts when the
    /// attach/close epoch moved; otherwise, because a death does not move the epoch, when the
    /// last count is older than half a park slice. The age is checked before every sleep, and
    /// only every 64th time by calls that do not sleep: a clock read costs as much as a send.
    fn gone(&mut self, shared: &Shared, phase: Phase) -> Result<bool> {
        let epoch = endpoint::epoch(&shared.raw);
        if epoch == self.epoch && self.checked.is_some() {
            if phase != Phase::Park {
                self.polls = self.polls.wrapping_add(1);
                if self.polls % 64 != 0 {
                    return Ok(self.gone);
                }
            }
            if self.checked.is_some_and(|t| t.elapsed() < park_slice() / 2) {
                return Ok(self.gone);
            }
        }
        self.gone = endpoint::ever_attached(&shared.raw, self.peer)
            && !endpoint::any_alive(&shared.raw, shared.lock_fd(), self.peer)?;
        self.epoch = epoch;
        self.checked = Some(Instant::now());
        Ok(self.gone)
    }
}

fn poisoned(raw: &RawRing) -> Result<()> {
    if raw.is_poisoned() {
        return Err(Error::Corrupted {
            what: "ring poisoned by a process that found it corrupted",
        });
    }
    Ok(())
}

#[derive(Debug)]
enum SendImp {
    Spsc(SpscProducer),
    Mpmc(MpmcProducer),
}

/// The sending end of a ring.
///
/// Owned by one thread at a time (`Send`, not `Sync`). Dropping it detaches the endpoint;
/// when the last sender of a ring has gone, receivers see [`Error::EndOfStream`] once they
/// have drained it.
///
/// # Examples
///
/// ```
/// let (mut tx, mut rx) = ipcring::pair(&ipcring::RingOptions::new().capacity(2))?;
/// tx.send(b"a")?;
/// tx.try_send(b"b")?;
/// assert!(matches!(tx.try_send(b"c"), Err(ipcring::Error::WouldBlock)));
/// assert_eq!(rx.recv_vec()?, b"a");
/// # Ok::<(), ipcring::Error>(())
/// ```
#[derive(Debug)]
pub(crate) struct RingSender {
    shared: Arc<Shared>,
    ep: Option<Endpoint>,
    imp: SendImp,
    peers: PeerCache,
    stats: Stats,
}

impl RingSender {
    fn attach(shared: Arc<Shared>) -> Result<RingSender> {
        shared.check_poison()?;
        let ep = endpoint::attach(&shared.raw, shared.lock_fd(), Role::Sender)?;
        let imp = match shared.raw.geom().kind {
            Kind::Spsc => SendImp::Spsc(SpscProducer::new(shared.raw)?),
            Kind::Mpmc => SendImp::Mpmc(MpmcProducer::new(shared.raw, ep.index(), ep.owner_id())),
        };
        Ok(RingSender {
            shared,
            ep: Some(ep),
            imp,
            peers: PeerCache::new(Role::Receiver),
            stats: Stats::default(),
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

    /// This endpoint's counters.
    pub fn stats(&self) -> Stats {
        self.stats
    }

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
        let moved = endpoint::epoch(&self.shared.raw) != self.peers.epoch;
        let gone = if moved {
            let (peers, shared) = (&mut self.peers, &self.shared);
            crate::sys::count::counting(&mut self.stats.syscalls, || peers.gone(shared, Phase::Idle))?
        } else {
            self.peers.gone
        };
        if gone {
            return Err(Error::Disconnected);
        }
        Ok(())
    }

    /// The checks made before each sleep: poison, and whether any receiver is left.
    fn slow_checks(shared: &Shared, peers: &mut PeerCache, phase: Phase) -> Result<()> {
        poisoned(&shared.raw)?;
        if peers.gone(shared, phase)? {
            return Err(Error::Disconnected);
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
        if let (SendImp::Mpmc(p), true) = (&*imp, phase != Phase::Spin) {
            let claim_live = |pos| endpoint::live_claim_covers(&shared.raw, shared.lock_fd(), Role::Receiver, pos);
            if p.reclaim_dead_hold(claim_live)? {
                return op(imp);
            }
        }
        Ok(None)
    }

    #[inline]
    fn wake_receivers(&mut self) {
        crate::failpoint::hit(crate::failpoint::SEND_BEFORE_WAKE);
        let raw = &self.shared.raw;
        if let Some(calls) = wait::notify(&raw.header().data_bell, raw.geom().wake) {
            self.stats.wakes += 1;
            self.stats.syscalls += calls;
        }
    }

    /// Sends `msg`, waiting as long as `timeout` allows for room.
    #[inline]
    pub fn send_with_timeout(&mut self, msg: &[u8], timeout: Timeout) -> Result<()> {
        self.check_len(msg.len())?;
        self.shared.check_poison()?;
        let r = self.send_checked(msg, timeout);
        self.shared.note(r)
    }

    #[inline]
    fn send_checked(&mut self, msg: &[u8], timeout: Timeout) -> Result<()> {
        self.check_receivers()?;
        // The fast path: room now. Everything else (spinning, sleeping, peer checks) is cold.
        let sent = match &mut self.imp {
            SendImp::Spsc(p) => p.try_send(msg)?,
            SendImp::Mpmc(p) => p.try_send(msg)?,
        };
        if !sent {
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
        let raw = self.shared.raw;
        let shared = &self.shared;
        let peers = &mut self.peers;
        let imp = &mut self.imp;
        wait::block_on(
            &raw.header().space_bell,
            raw.geom().wake,
            timeout,
            &mut self.stats.parks,
            &mut self.stats.syscalls,
            |phase| {
                if phase != Phase::Spin {
                    Self::slow_checks(shared, peers, phase)?;
                }
                Self::attempt(shared, imp, phase, |imp| {
                    let sent = match imp {
                        SendImp::Spsc(p) => p.try_send(msg)?,
                        SendImp::Mpmc(p) => p.try_send(msg)?,
                    };
                    Ok(sent.then_some(()))
                })
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
        self.shared.check_poison()?;
        let r = self.send_batch_checked(msgs, timeout);
        self.shared.note(r)
    }

    fn send_batch_checked<M: AsRef<[u8]>>(&mut self, msgs: &[M], timeout: Timeout) -> Result<usize> {
        self.check_receivers()?;
        let raw = self.shared.raw;
        let mut sent = 0;
        while sent < msgs.len() {
            let shared = &self.shared;
            let peers = &mut self.peers;
            let imp = &mut self.imp;
            let rest = &msgs[sent..];
            let r = wait::block_on(
                &raw.header().space_bell,
                raw.geom().wake,
                timeout,
                &mut self.stats.parks,
                &mut self.stats.syscalls,
                |phase| {
                    if phase != Phase::Spin {
                        Self::slow_checks(shared, peers, phase)?;
                    }
                    Self::attempt(shared, imp, phase, |imp| {
                        let n = match imp {
                            SendImp::Spsc(p) => p.try_send_batch(rest)?,
                            SendImp::Mpmc(p) => p.try_send_batch(rest)?,
                        };
                        Ok((n > 0).then_some(n))
                    })
                },
            );
            match r {
                Ok(n) => {
                    self.stats.messages += n as u64;
                    self.stats.bytes += rest[..n].iter().map(|m| m.as_ref().len() as u64).sum::<u64>();
                    sent += n;
                    self.wake_receivers();
                }
                Err(Error::WouldBlock | Error::TimedOut | Error::Disconnected) if sent > 0 => break,
                Err(e) => return Err(e),
            }
        }
        Ok(sent)
    }

    /// [`reserve`](Sender::reserve) without the borrow: the slot's payload pointer and its
    /// position, to be passed to [`commit_raw`](Sender::commit_raw) or
    /// [`cancel_raw`](Sender::cancel_raw) before any other send on this sender. The C ABI
    /// keeps the pair in its handle between calls.
    pub(crate) fn reserve_raw(&mut self, timeout: Timeout) -> Result<(*mut u8, u64)> {
        self.shared.check_poison()?;
        let r = self.reserve_checked(timeout);
        self.shared.note(r)
    }

    fn reserve_checked(&mut self, timeout: Timeout) -> Result<(*mut u8, u64)> {
        self.check_receivers()?;
        let raw = self.shared.raw;
        let shared = &self.shared;
        let peers = &mut self.peers;
        let imp = &mut self.imp;
        wait::block_on(
            &raw.header().space_bell,
            raw.geom().wake,
            timeout,
            &mut self.stats.parks,
            &mut self.stats.syscalls,
            |phase| {
                if phase != Phase::Spin {
                    Self::slow_checks(shared, peers, phase)?;
                }
                Self::attempt(shared, imp, phase, |imp| {
                    Ok(match imp {
                        SendImp::Spsc(p) => p.reserve()?.map(|ptr| (ptr, 0)),
                        SendImp::Mpmc(p) => p.claim(1)?.map(|(pos, _)| (p.payload(pos), pos)),
                    })
                })
            },
        )
    }

    /// Publishes `len` bytes of the slot reserved at `pos`. `len > msg_size` is
    /// [`Error::TooLarge`] and leaves the reservation standing.
    pub(crate) fn commit_raw(&mut self, pos: u64, len: usize) -> Result<()> {
        self.check_len(len)?;
        match &mut self.imp {
            SendImp::Spsc(p) => p.commit(len),
            SendImp::Mpmc(p) => p.publish(pos, len as u32),
        }
        self.stats.messages += 1;
        self.stats.bytes += len as u64;
        self.wake_receivers();
        Ok(())
    }

    /// Gives up the slot reserved at `pos` without sending anything. SPSC simply forgets it;
    /// an MPMC claim cannot be undone, so it is published as a tombstone that receivers skip
    /// (and they are woken, since one may be waiting for this very position).
    pub(crate) fn cancel_raw(&mut self, pos: u64) {
        if let SendImp::Mpmc(p) = &self.imp {
            p.publish(pos, TOMBSTONE);
            self.wake_receivers();
        }
    }

    /// The ring's shape.
    pub(crate) fn geometry(&self) -> Geometry {
        *self.shared.raw.geom()
    }

    /// Messages in the ring now (a snapshot).
    pub(crate) fn queued(&self) -> u64 {
        self.shared.queued()
    }
}

impl Drop for RingSender {
    fn drop(&mut self) {
        if let Some(ep) = self.ep.take() {
            self.shared.close(ep);
        }
    }
}

#[derive(Debug)]
enum RecvImp {
    Spsc(SpscConsumer),
    Mpmc(MpmcConsumer),
}

/// The receiving end of a ring.
///
/// Owned by one thread at a time (`Send`, not `Sync`). Dropping it detaches the endpoint;
/// when the last receiver of a ring has gone, senders get [`Error::Disconnected`].
///
/// # Examples
///
/// ```
/// let (mut tx, mut rx) = ipcring::pair(&Default::default())?;
/// tx.send(b"hi")?;
/// let mut buf = [0u8; 16];
/// let n = rx.recv(&mut buf)?;
/// assert_eq!(&buf[..n], b"hi");
/// # Ok::<(), ipcring::Error>(())
/// ```
#[derive(Debug)]
pub(crate) struct RingReceiver {
    shared: Arc<Shared>,
    ep: Option<Endpoint>,
    imp: RecvImp,
    peers: PeerCache,
    stats: Stats,
    /// The lengths of the messages seen by the last `peek_batch_raw` (for the statistics).
    batch_lens: Vec<usize>,
}

impl RingReceiver {
    fn attach(shared: Arc<Shared>) -> Result<RingReceiver> {
        shared.check_poison()?;
        let ep = endpoint::attach(&shared.raw, shared.lock_fd(), Role::Receiver)?;
        let imp = match shared.raw.geom().kind {
            Kind::Spsc => RecvImp::Spsc(SpscConsumer::new(shared.raw)?),
            Kind::Mpmc => RecvImp::Mpmc(MpmcConsumer::new(shared.raw, ep.index())),
        };
        Ok(RingReceiver {
            shared,
            ep: Some(ep),
            imp,
            peers: PeerCache::new(Role::Sender),
            stats: Stats::default(),
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

    /// This endpoint's counters.
    pub fn stats(&self) -> Stats {
        self.stats
    }

    #[inline]
    fn wake_senders(&mut self) {
        let raw = &self.shared.raw;
        if let Some(calls) = wait::notify(&raw.header().space_bell, raw.geom().wake) {
            self.stats.wakes += 1;
            self.stats.syscalls += calls;
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
                let Some((pos, _)) = c.claim(1, limit)? else {
                    return Ok(None);
                };
                let (ptr, len) = match c.message(pos) {
                    Ok(m) if m.1 <= limit => m,
                    Ok(_) => {
                        c.release(pos, 1);
                        return Err(Error::Corrupted {
                            what: "message length changed while claimed",
                        });
                    }
                    Err(e) => {
                        c.release(pos, 1);
                        return Err(e);
                    }
                };
                // SAFETY: the claimed slot is ours until released; length validated.
                let r = f(unsafe { core::slice::from_raw_parts(ptr, len) });
                c.release(pos, 1);
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
        if phase == Phase::Spin {
            return Ok(None);
        }
        if let Some(v) = Self::skip_and_retry(shared, imp, &mut op)? {
            return Ok(Some(v));
        }
        poisoned(&shared.raw)?;
        if peers.gone(shared, phase)? {
            if let Some(v) = op(imp)? {
                return Ok(Some(v));
            }
            return Self::skip_and_retry(shared, imp, &mut op)?
                .map(Some)
                .ok_or(Error::EndOfStream);
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
        loop {
            let RecvImp::Mpmc(c) = &*imp else { return Ok(None) };
            let claim_live = |pos| endpoint::live_claim_covers(&shared.raw, shared.lock_fd(), Role::Sender, pos);
            if !c.skip_dead_claim(claim_live)? {
                return Ok(None);
            }
            if let Some(v) = op(imp)? {
                return Ok(Some(v));
            }
        }
    }

    #[inline]
    fn take<R>(&mut self, timeout: Timeout, limit: usize, f: impl FnMut(&[u8]) -> R) -> Result<R> {
        self.shared.check_poison()?;
        let r = self.take_checked(timeout, limit, f);
        self.shared.note(r)
    }

    #[inline]
    fn take_checked<R>(&mut self, timeout: Timeout, limit: usize, mut f: impl FnMut(&[u8]) -> R) -> Result<R> {
        // The fast path: a message now. Everything else is cold.
        let (r, len) = match Self::try_take(&mut self.imp, limit, &mut f)? {
            Some(got) => got,
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
        let raw = self.shared.raw;
        let shared = &self.shared;
        let peers = &mut self.peers;
        let imp = &mut self.imp;
        wait::block_on(
            &raw.header().data_bell,
            raw.geom().wake,
            timeout,
            &mut self.stats.parks,
            &mut self.stats.syscalls,
            |phase| Self::attempt(shared, peers, imp, phase, |imp| Self::try_take(imp, limit, &mut f)),
        )
    }

    /// Receives one message into `buf`, waiting as `timeout` allows; returns its length.
    pub fn recv_with_timeout(&mut self, buf: &mut [u8], timeout: Timeout) -> Result<usize> {
        let limit = buf.len();
        self.take(timeout, limit, |m| {
            crate::layout::copy_to(buf, m);
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
        self.shared.check_poison()?;
        let r = self.recv_batch_checked(max, timeout, f);
        self.shared.note(r)
    }

    fn recv_batch_checked(&mut self, max: usize, timeout: Timeout, mut f: impl FnMut(&[u8])) -> Result<usize> {
        let raw = self.shared.raw;
        let shared = &self.shared;
        let peers = &mut self.peers;
        let imp = &mut self.imp;
        let mut bytes = 0u64;
        let mut each = |m: &[u8]| {
            bytes += m.len() as u64;
            f(m)
        };
        let n = wait::block_on(
            &raw.header().data_bell,
            raw.geom().wake,
            timeout,
            &mut self.stats.parks,
            &mut self.stats.syscalls,
            |phase| {
                Self::attempt(shared, peers, imp, phase, |imp| {
                    let n = match imp {
                        RecvImp::Spsc(c) => c.try_recv_batch(max, &mut each)?,
                        RecvImp::Mpmc(c) => c.try_recv_batch(max, &mut each)?,
                    };
                    Ok((n > 0).then_some(n))
                })
            },
        )?;
        self.stats.messages += n as u64;
        self.stats.bytes += bytes;
        self.wake_senders();
        Ok(n)
    }

    /// [`peek`](Receiver::peek) without the borrow: the message's pointer, length and
    /// position, valid until [`release_raw`](Receiver::release_raw), which must come before
    /// any other receive on this receiver (on MPMC the message is claimed until then).
    pub(crate) fn peek_raw(&mut self, timeout: Timeout) -> Result<(*const u8, usize, u64)> {
        self.shared.check_poison()?;
        let r = self.peek_checked(timeout);
        self.shared.note(r)
    }

    fn peek_checked(&mut self, timeout: Timeout) -> Result<(*const u8, usize, u64)> {
        let raw = self.shared.raw;
        let shared = &self.shared;
        let peers = &mut self.peers;
        let imp = &mut self.imp;
        wait::block_on(
            &raw.header().data_bell,
            raw.geom().wake,
            timeout,
            &mut self.stats.parks,
            &mut self.stats.syscalls,
            |phase| {
                let look = |imp: &mut RecvImp| -> Result<Option<(*const u8, usize, u64)>> {
                    match imp {
                        RecvImp::Spsc(c) => Ok(c.peek()?.map(|(p, l)| (p, l, 0))),
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
                    }
                };
                Self::attempt(shared, peers, imp, phase, look)
            },
        )
    }

    /// Consumes the message returned by [`peek_raw`](Receiver::peek_raw).
    pub(crate) fn release_raw(&mut self, pos: u64, len: usize) {
        match &mut self.imp {
            RecvImp::Spsc(c) => c.release(),
            RecvImp::Mpmc(c) => c.release(pos, 1),
        }
        self.stats.messages += 1;
        self.stats.bytes += len as u64;
        self.wake_senders();
    }

    /// Looks at up to `max` messages in place (waiting as `timeout` allows for the first),
    /// handing each to `f`, without consuming them on SPSC; on MPMC they are claimed. Returns
    /// the position of the first and how many were seen (at least 1, since `max >= 1`); to be
    /// settled with [`release_batch_raw`](Self::release_batch_raw) before any other receive.
    pub(crate) fn peek_batch_raw(
        &mut self,
        max: usize,
        timeout: Timeout,
        f: impl FnMut(&[u8]),
    ) -> Result<(u64, usize)> {
        self.shared.check_poison()?;
        let r = self.peek_batch_checked(max.max(1), timeout, f);
        self.shared.note(r)
    }

    fn peek_batch_checked(&mut self, max: usize, timeout: Timeout, mut f: impl FnMut(&[u8])) -> Result<(u64, usize)> {
        let raw = self.shared.raw;
        let shared = &self.shared;
        let peers = &mut self.peers;
        let imp = &mut self.imp;
        let lens = &mut self.batch_lens;
        lens.clear();
        let mut each = |m: &[u8]| {
            lens.push(m.len());
            f(m)
        };
        wait::block_on(
            &raw.header().data_bell,
            raw.geom().wake,
            timeout,
            &mut self.stats.parks,
            &mut self.stats.syscalls,
            |phase| {
                Self::attempt(shared, peers, imp, phase, |imp| match imp {
                    RecvImp::Spsc(c) => {
                        let n = c.peek_batch(max, &mut each)?;
                        Ok((n > 0).then_some((0, n)))
                    }
                    RecvImp::Mpmc(c) => {
                        let Some((pos, n)) = c.claim(max, usize::MAX)? else {
                            return Ok(None);
                        };
                        for k in 0..n as u64 {
                            match c.message(pos.wrapping_add(k)) {
                                // SAFETY: the claimed slot is ours until released; len
                                // validated by `message`.
                                Ok((ptr, len)) => each(unsafe { core::slice::from_raw_parts(ptr, len) }),
                                Err(e) => {
                                    c.release(pos, n);
                                    return Err(e);
                                }
                            }
                        }
                        Ok(Some((pos, n)))
                    }
                })
            },
        )
    }

    /// Settles a [`peek_batch_raw`](Self::peek_batch_raw) of `seen` messages at `pos`:
    /// consumes the first `consume` of them (SPSC; the rest stay in the ring) or all of them
    /// (MPMC: claimed, so consumed either way).
    pub(crate) fn release_batch_raw(&mut self, pos: u64, seen: usize, consume: usize) {
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
    pub(crate) fn is_mpmc(&self) -> bool {
        matches!(self.imp, RecvImp::Mpmc(_))
    }

    /// The ring's shape.
    pub(crate) fn geometry(&self) -> Geometry {
        *self.shared.raw.geom()
    }

    /// Messages in the ring now (a snapshot).
    pub(crate) fn queued(&self) -> u64 {
        self.shared.queued()
    }
}

impl Drop for RingReceiver {
    fn drop(&mut self) {
        if let Some(ep) = self.ep.take() {
            self.shared.close(ep);
        }
    }
}
