//! [`RingOptions`]: what a ring is created with, and what an opener expects of it. A leaf
//! (it imports only `kind`); the geometry the options describe is derived in `layout`
//! ([`RingOptions::validate`]).

use crate::kind::{FenceMode, Kind, WakeBackend};
use std::time::Duration;

/// Options for creating (and expectations for opening) a ring.
///
/// Unset options take their defaults at create (`Kind::Spsc`, capacity 1024, msg_size 256,
/// bytes from capacity and msg_size,
/// `WakeBackend::Futex`, perm 0600) and are not checked at open; set ones must match the
/// region at open, or the open fails with [`Error::Mismatch`](crate::error::Error::Mismatch).
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
    bytes: Option<u64>,
    msg_size: Option<u64>,
    wake: Option<WakeBackend>,
    fence: Option<FenceMode>,
    perm: u32,
    open_timeout: Duration,
    spin: Option<bool>,
}

impl Default for RingOptions {
    fn default() -> Self {
        RingOptions {
            kind: None,
            capacity: None,
            bytes: None,
            msg_size: None,
            wake: None,
            fence: None,
            perm: 0o600,
            open_timeout: Duration::from_secs(1),
            spin: None,
        }
    }
}

impl RingOptions {
    /// Default capacity: messages of an SPSC ring sized without `bytes`, slots of an MPMC ring.
    pub const DEFAULT_CAPACITY: u64 = 1024;
    /// Default largest message in bytes.
    pub const DEFAULT_MSG_SIZE: u64 = 256;

    /// The `kind` (`mode`) asked for, if any.
    pub(crate) fn kind_given(&self) -> Option<Kind> {
        self.kind
    }

    /// The `capacity` asked for, if any.
    pub(crate) fn capacity_given(&self) -> Option<u64> {
        self.capacity
    }

    /// The `bytes` asked for, if any.
    pub(crate) fn bytes_given(&self) -> Option<u64> {
        self.bytes
    }

    /// The `msg_size` asked for, if any.
    pub(crate) fn msg_size_given(&self) -> Option<u64> {
        self.msg_size
    }

    /// The `wake` backend asked for, if any.
    pub(crate) fn wake_given(&self) -> Option<WakeBackend> {
        self.wake
    }

    /// The `fence` mode asked for, if any.
    pub(crate) fn fence_given(&self) -> Option<FenceMode> {
        self.fence
    }

    /// The permission bits for a created object.
    pub(crate) fn perm_bits(&self) -> u32 {
        self.perm
    }

    /// Options with nothing set.
    ///
    /// # Examples
    ///
    /// ```
    /// let g = ipcring::RingOptions::new().validate().unwrap();
    /// assert_eq!(g.capacity, 1024);
    /// ```
    #[must_use = "a builder method returns the changed options; it does not change them in place"]
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
    #[must_use = "a builder method returns the changed options; it does not change them in place"]
    pub fn kind(mut self, kind: Kind) -> Self {
        self.kind = Some(kind);
        self
    }
    /// How many messages the ring holds at once: any count from 1 to 2^24 (not rounded).
    /// On SPSC, a bound on the queued messages (the area is `capacity` messages of `msg_size`
    /// unless [`bytes`](Self::bytes) sizes it); on MPMC, its slots.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(ipcring::RingOptions::new().capacity(10).validate().unwrap().capacity, 10);
    /// assert!(ipcring::RingOptions::new().capacity(0).validate().is_err());
    /// ```
    #[must_use = "a builder method returns the changed options; it does not change them in place"]
    pub fn capacity(mut self, capacity: u64) -> Self {
        self.capacity = Some(capacity);
        self
    }
    /// SPSC: the size of the data area in bytes, independent of `msg_size`: a multiple of 8,
    /// at least `msg_size` (rounded up to 8). Messages are packed records of 8 bytes plus
    /// the payload rounded up to 8 (an 8-byte message takes 16 bytes), so a ring for
    /// messages of up to 1 MiB that are mostly 100 bytes holds thousands of them in 1 MiB.
    /// The object in `/dev/shm` is the 4 KiB header plus `bytes`. Without
    /// [`capacity`](Self::capacity) the bytes are the only bound. MPMC rings have fixed slots
    /// and refuse it.
    ///
    /// # Examples
    ///
    /// ```
    /// let g = ipcring::RingOptions::new().msg_size(1 << 20).bytes(1 << 20).validate().unwrap();
    /// assert_eq!(g.region_size, 4096 + (1 << 20));
    /// assert!(ipcring::RingOptions::new().bytes(100).validate().is_err());
    /// ```
    #[must_use = "a builder method returns the changed options; it does not change them in place"]
    pub fn bytes(mut self, bytes: u64) -> Self {
        self.bytes = Some(bytes);
        self
    }
    /// Largest message in bytes: 1 ..= 256 MiB.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(ipcring::RingOptions::new().msg_size(0).validate().is_err());
    /// ```
    #[must_use = "a builder method returns the changed options; it does not change them in place"]
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
    #[must_use = "a builder method returns the changed options; it does not change them in place"]
    pub fn wake(mut self, wake: WakeBackend) -> Self {
        self.wake = Some(wake);
        self
    }
    /// Which barriers the sleep/wake handshake uses (address `fence=`). Unset, a creator picks
    /// [`FenceMode::Asymmetric`] if this process can register for `membarrier(2)`'s
    /// expedited barriers, [`FenceMode::Full`] if it cannot or if the environment says
    /// `IPCRING_FENCE=full`. `Full` forces symmetric fences; `Asymmetric` requires the
    /// asymmetric barrier (create fails with `FenceUnavailable` where it cannot be had). At
    /// open, a mode set here must be the ring's.
    ///
    /// # Examples
    ///
    /// ```
    /// let o = ipcring::RingOptions::new().fence(ipcring::FenceMode::Full);
    /// assert!(o.validate().is_ok());
    /// ```
    #[must_use = "a builder method returns the changed options; it does not change them in place"]
    pub fn fence(mut self, fence: FenceMode) -> Self {
        self.fence = Some(fence);
        self
    }
    /// Permission bits of a created object (default 0600, applied regardless of the umask).
    /// At open, the most the opener accepts: an existing ring whose mode lets group or others
    /// write beyond these bits (e.g. a 0666 object pre-created by someone else) is refused
    /// with [`Error::PermissionDenied`](crate::error::Error::PermissionDenied); peers of a ring created with `0660` open it with
    /// `0660` too (`?perm=0660` in an address). Read bits for others are not refused.
    ///
    /// # Examples
    ///
    /// ```
    /// let o = ipcring::RingOptions::new().perm(0o640);
    /// # let _ = o;
    /// ```
    #[must_use = "a builder method returns the changed options; it does not change them in place"]
    pub fn perm(mut self, perm: u32) -> Self {
        self.perm = perm;
        self
    }

    /// The old name of [`perm`](RingOptions::perm) (in an address, `mode=` is the ring's
    /// kind, `perm=` the permission bits; the builder now says the same).
    #[deprecated(since = "0.2.0", note = "use RingOptions::perm (the permission bits)")]
    #[must_use = "a builder method returns the changed options; it does not change them in place"]
    pub fn mode(self, mode: u32) -> Self {
        self.perm(mode)
    }
    /// How long `open` waits for a creator to finish initialising (default 1 s).
    ///
    /// # Examples
    ///
    /// ```
    /// let o = ipcring::RingOptions::new().open_timeout(std::time::Duration::from_millis(10));
    /// # let _ = o;
    /// ```
    #[must_use = "a builder method returns the changed options; it does not change them in place"]
    pub fn open_timeout(mut self, t: Duration) -> Self {
        self.open_timeout = t;
        self
    }

    /// How long `open` waits for a creator to finish initialising.
    pub(crate) fn open_timeout_given(&self) -> Duration {
        self.open_timeout
    }

    /// Whether blocking calls spin before they sleep (address `spin=on|off`; default on).
    ///
    /// On (the default), a blocking `send` or `recv` that finds the ring full or empty first
    /// spins for a few microseconds, then sleeps on the futex: a peer running on another CPU
    /// answers within the spin, with no system call and a round trip of a few hundred
    /// nanoseconds. Off, it sleeps at once. Turn it off for endpoints that must not busy-wait
    /// (a background process that should leave CPUs to others) and where busy endpoints
    /// outnumber the CPUs (two producers and two consumers on two CPUs): there a spinner
    /// holds the CPU that the peer it waits for needs, and sleeping at once hands it over
    /// (`docs/benchmarks.md`, "Stop 25", "`spin=off`: two producers and two consumers on two
    /// CPUs"). Wake-ups then take a system call and tens of microseconds each. Non-blocking
    /// calls never spin.
    ///
    /// Local to this process: it applies to every endpoint made from this `Ring` (or
    /// channel), is not stored in the ring, and is never checked at open; other processes
    /// choose their own.
    ///
    /// # Examples
    ///
    /// ```
    /// let ring = ipcring::Ring::in_process(&ipcring::RingOptions::new().spin(false))?;
    /// let (mut tx, mut rx) = (ring.sender()?, ring.receiver()?);
    /// tx.send(b"no spinning")?;
    /// assert_eq!(rx.recv_vec()?, b"no spinning");
    /// # Ok::<(), ipcring::Error>(())
    /// ```
    #[must_use = "a builder method returns the changed options; it does not change them in place"]
    pub fn spin(mut self, on: bool) -> Self {
        self.spin = Some(on);
        self
    }

    /// The `spin` setting asked for, if any.
    pub(crate) fn spin_given(&self) -> Option<bool> {
        self.spin
    }

    /// Whether blocking calls spin before they sleep (on unless asked otherwise).
    pub(crate) fn spins(&self) -> bool {
        self.spin.unwrap_or(true)
    }
}
