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
        crate::wait::notify_all(bell, self.shared.raw.geom().wake);
    }
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
        let r = op(self);
        self.shared().note(r)
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
        let g = opts.validate()?;
        let region = region::create(name, &g, opts.perm_bits(), init_ring).map_err(|e| e.on(&shm_address(name)))?;
        Ok(Ring {
            shared: Shared::new(Backing::Shm(region)),
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
        let region = region::anonymous(&g, init_ring)?;
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

/// The address of the named ring `name` (`NAME` or `/NAME`), as errors name it.
fn shm_address(name: &str) -> String {
    format!("shm://{}", name.trim_start_matches('/'))
}
