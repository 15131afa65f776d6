//! Read-only inspection of the rings in `/dev/shm`: what `ipcs` is for System V objects.
//! [`inspect`] describes one ring, [`list`] every object in `/dev/shm` (rings and others);
//! `ipcring ls` and `ipcring stat` print them.
//!
//! # Never attaches, never maps
//!
//! An object is opened `O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC` (a FIFO planted in
//! `/dev/shm` cannot block us, a symlink is refused), `fstat`ed, and its header page is
//! copied with `pread` into a local, properly aligned header. Nothing is mapped, so a
//! peer that truncates the object meanwhile cannot SIGBUS the inspector (a short read is
//! reported as such), and nothing is written: no endpoint is attached, no lock taken, no
//! epoch bumped. The copy is validated with [`Geometry::from_header`] against the object's
//! real size before any field is believed; a header that fails is reported with the typed
//! error ([`State::Invalid`]), and only fields that sit where our layout says (magic, ABI
//! version and layout hash all ours) are shown at all.
//!
//! # Liveness is what the kernel says
//!
//! - An endpoint entry is *alive* iff its OFD lock byte is held (`F_OFD_GETLK`, which works
//!   through a read-only descriptor). The entry's `role`, `pid` and `generation` only name
//!   the last holder: an entry whose role says sender or receiver but whose lock is free is
//!   *stale*. Its holder died, or closed (closing releases the lock and leaves the entry as
//!   it was: the entry cannot be cleared on close, because after `fork` another process may
//!   still share the lock). PIDs are shown, never trusted.
//! - The init lock (byte 64 of the object) tells a ring still being initialised
//!   (lock held, not READY: [`State::Initialising`]) from one whose creator died (lock free,
//!   not READY: [`State::CreatorDied`]).
//!
//! Everything is a snapshot: a live ring's cursors and endpoints move while they are read.
//! The two cursors are read so that they are consistent with each other when the ring holds
//! still long enough (see [`Counters::fill`]).

use crate::error::{Error, Result};
use crate::layout::{layout_hash, Geometry, Header, Kind, ABI_VERSION, HEADER_SIZE, MAGIC, MAX_ENDPOINTS};
use crate::region::{self, INIT_LOCK_BYTE};
use crate::sync::Ordering;
use crate::sys::lock;
use std::fs::File;
use std::os::fd::{AsRawFd, FromRawFd, RawFd};
use std::time::Duration;

/// What a ring object is doing, as far as its header and the kernel's locks say.
#[derive(Debug)]
#[non_exhaustive]
pub enum State {
    /// Initialised (READY) and its header is valid for this build.
    Ready,
    /// Not READY yet, and its creator holds the init lock: a live creator is at work (or is
    /// stopped: a stopped process is alive).
    Initialising,
    /// Not READY and nobody holds the init lock: its creator died (or was killed) while
    /// initialising it. `ipcring rm` / [`crate::channel::remove`] removes it without `force`.
    CreatorDied,
    /// An ipcring object this build cannot use, with the typed error `open` would give:
    /// [`Error::AbiMismatch`] / [`Error::LayoutMismatch`] (another version or target),
    /// [`Error::SizeMismatch`] (truncated or grown), [`Error::Corrupted`] (nonsense in the
    /// header, cursors more than `capacity` apart, an object truncated below its header).
    Invalid(Error),
}

/// The role recorded in an endpoint entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndpointRole {
    /// 0: no role recorded (an entry whose lock is held with no role is attaching now).
    Free,
    /// A sender.
    Sender,
    /// A receiver.
    Receiver,
    /// A value that is none of the above (the raw value), or `Unknown(0)` when the header's
    /// layout is not ours and the entry cannot be read.
    Unknown(u32),
}

impl EndpointRole {
    fn from_raw(raw: u32) -> EndpointRole {
        match raw {
            0 => EndpointRole::Free,
            1 => EndpointRole::Sender,
            2 => EndpointRole::Receiver,
            other => EndpointRole::Unknown(other),
        }
    }

    /// `"free"`, `"sender"`, `"receiver"` or `"unknown"`.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(ipcring::inspect::EndpointRole::Sender.name(), "sender");
    /// ```
    pub fn name(self) -> &'static str {
        match self {
            EndpointRole::Free => "free",
            EndpointRole::Sender => "sender",
            EndpointRole::Receiver => "receiver",
            EndpointRole::Unknown(_) => "unknown",
        }
    }
}

/// One entry of a ring's endpoint table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointInfo {
    /// The entry's index in the table (its lock byte).
    pub index: usize,
    /// The role the entry records (its current or last holder's).
    pub role: EndpointRole,
    /// The pid the holder recorded (informational: never used to decide liveness).
    pub pid: u32,
    /// Bumped at each attach to this entry.
    pub generation: u32,
    /// Whether the entry's OFD lock is held now: a live endpoint, as the kernel says.
    pub alive: bool,
    /// MPMC: the positions `[lo, hi)` the holder claimed last, if it recorded a claim (a
    /// non-empty range). `None` on SPSC rings and for an empty record.
    pub claim: Option<(u64, u64)>,
}

impl EndpointInfo {
    /// Whether the entry names a sender or receiver that is gone: its lock is free (the
    /// holder died or closed).
    ///
    /// # Examples
    ///
    /// ```
    /// use ipcring::inspect::{EndpointInfo, EndpointRole};
    /// let e = EndpointInfo { index: 0, role: EndpointRole::Sender, pid: 1, generation: 1, alive: false, claim: None };
    /// assert!(e.stale());
    /// ```
    pub fn stale(&self) -> bool {
        !self.alive && matches!(self.role, EndpointRole::Sender | EndpointRole::Receiver)
    }
}

/// A bell's shared counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BellInfo {
    /// The futex word, bumped once per wake-up rung on this bell (wrapping).
    pub seq: u32,
    /// How many waiters have announced themselves: parked now, or about to park.
    pub waiters: u32,
    /// How many endpoints wait on their descriptor for this bell (`AsFd`, `ipcring_fd`).
    pub fd_waiters: u32,
}

/// The shared counters of a ring whose header layout is ours.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Counters {
    /// The producer cursor as stored: on MPMC the messages sent (claimed) since creation (a
    /// slot position, see `mpmc`), on SPSC a cursor word (`count << 37 | offset`, the offset
    /// in bytes and the low 27 bits of the messages sent).
    pub tail: u64,
    /// The consumer cursor as stored (as `tail`).
    pub head: u64,
    /// SPSC: the full message counts, `(sent, received)` since creation (wrapping; the
    /// words beside the cursors brought up to the counts in the cursor words). `None` on MPMC, whose cursors count messages.
    pub counts: Option<(u64, u64)>,
    /// The messages (records) in the ring, when the cursors make sense (and the geometry is
    /// valid). The cursors are read head, tail, head until the two head reads agree, which
    /// makes the pair one instant's; if the ring never holds still for that, the value is
    /// clamped to what the ring holds (approximate, as any fill of a busy ring is). `None`
    /// when the geometry is unknown or a consistent pair is out of range (then
    /// [`RingInfo::state`] says the cursors are corrupt).
    pub fill: Option<u64>,
    /// The bytes of the data area in use, with `fill`: SPSC the bytes between the cursors
    /// (records and padding), MPMC `fill` slots.
    pub fill_bytes: Option<u64>,
    /// Whether a process has marked the ring corrupted (every operation on it then fails).
    pub poisoned: bool,
    /// Bumped at every attach and close.
    pub epoch: u32,
    /// Whether a sender has ever attached.
    pub ever_sender: bool,
    /// Whether a receiver has ever attached.
    pub ever_receiver: bool,
    /// Where receivers park (senders ring it after publishing).
    pub data_bell: BellInfo,
    /// Where senders park (receivers ring it after consuming).
    pub space_bell: BellInfo,
}

/// Everything [`inspect`] learnt about one object.
#[derive(Debug)]
pub struct RingInfo {
    /// The object's name, without the leading `/` (its address is `shm://NAME`).
    pub name: String,
    /// What the ring is doing.
    pub state: State,
    /// The validated geometry (kind, wake backend, capacity, msg_size, slot_size,
    /// region_size): `Some` only when the header passed [`Geometry::from_header`] against
    /// the object's real size.
    pub geometry: Option<Geometry>,
    /// The object's size in bytes (`fstat`).
    pub size: u64,
    /// The object's permission bits (e.g. `0o600`).
    pub mode: u32,
    /// The object's owner.
    pub uid: u32,
    /// The pid of the ring's creator as it recorded it (informational; `None` when the
    /// header's layout is not ours).
    pub creator_pid: Option<u32>,
    /// The shared counters, when the header's layout is ours (magic, ABI version and layout
    /// hash all match), even if the ring is otherwise invalid.
    pub counters: Option<Counters>,
    /// Entries whose role is recorded or whose lock is held, by index.
    pub endpoints: Vec<EndpointInfo>,
    /// The ring's doorbell FIFOs that exist now (`/dev/shm/NAME.bell-rx`, `.bell-tx`: made
    /// when a process maps the ring, removed with it), as paths.
    pub doorbells: Vec<std::path::PathBuf>,
}

impl RingInfo {
    /// Live endpoints of `role`.
    ///
    /// # Examples
    ///
    /// ```
    /// use ipcring::{Ring, RingOptions, inspect::{inspect, EndpointRole}};
    /// let name = format!("ipcring-doc-inspect-live-{}", std::process::id());
    /// let ring = Ring::create(&name, &RingOptions::new())?;
    /// let rx = ring.receiver()?;
    /// assert_eq!(inspect(&name)?.live(EndpointRole::Receiver), 1);
    /// drop(rx);
    /// assert_eq!(inspect(&name)?.live(EndpointRole::Receiver), 0);
    /// Ring::unlink(&name)?;
    /// # Ok::<(), ipcring::Error>(())
    /// ```
    pub fn live(&self, role: EndpointRole) -> usize {
        self.endpoints.iter().filter(|e| e.alive && e.role == role).count()
    }

    /// Stale entries of `role` (see [`EndpointInfo::stale`]).
    ///
    /// # Examples
    ///
    /// ```
    /// use ipcring::{Ring, RingOptions, inspect::{inspect, EndpointRole}};
    /// let name = format!("ipcring-doc-inspect-stale-{}", std::process::id());
    /// let ring = Ring::create(&name, &RingOptions::new())?;
    /// drop(ring.sender()?);
    /// assert_eq!(inspect(&name)?.stale(EndpointRole::Sender), 1);
    /// Ring::unlink(&name)?;
    /// # Ok::<(), ipcring::Error>(())
    /// ```
    pub fn stale(&self, role: EndpointRole) -> usize {
        self.endpoints.iter().filter(|e| e.stale() && e.role == role).count()
    }
}

/// One object of `/dev/shm`, as [`list`] found it.
#[derive(Debug)]
pub struct Listed {
    /// Its name (lossily converted if it is not UTF-8).
    pub name: String,
    /// What [`inspect`] said: `Err(NotARing { .. })` for a foreign object (`"bad magic
    /// number"`, `"object smaller than a ring header"`, `"empty object"`),
    /// `Err(PermissionDenied)` for one we may not read, `Err(InvalidName { .. })` for a name
    /// no ring can have.
    pub info: Result<RingInfo>,
}

/// How often a header that fails validation is read again before it is believed: a copy
/// taken while the creator writes the identity can be torn (READY read after the other
/// fields were read, or the other way round); a real fault stays.
const READ_ATTEMPTS: u32 = 3;
/// How often the cursors are read before a busy ring's fill is given as approximate.
const CURSOR_ATTEMPTS: u32 = 100;

/// Where named rings live: `shm://NAME` is the file `SHM_DIR/NAME`.
pub const SHM_DIR: &str = region::SHM_DIR;

/// Checks a ring name (`NAME` or `/NAME`: no other `/`, not empty, within the length limit)
/// the way every open does, before any system call.
///
/// # Errors
///
/// [`Error::InvalidName`] saying which rule the name breaks.
pub fn validate_name(name: &str) -> Result<()> {
    region::validate_name(name).map(|_| ())
}

/// The companion lock file that an `mq://NAME` queue's ends hold (their liveness, as a
/// ring's endpoint table gives it); `ipcring rm` and `ipcring::remove` remove it with the queue.
pub fn mq_companion_path(name: &str) -> std::path::PathBuf {
    crate::transport::mq::companion_path(name)
}

/// Describes the ring `name` (`NAME` or `/NAME`), read-only (see the module docs).
///
/// # Errors
///
/// [`Error::InvalidName`]; [`Error::NotFound`]; [`Error::PermissionDenied`];
/// [`Error::NotARing`] for an object that is not an ipcring ring (a wrong magic number, too
/// small or empty with no creator at work, not a regular file); [`Error::Io`]. A ring object
/// that this build cannot use is not an error: it is described, with [`State::Invalid`].
///
/// # Examples
///
/// ```
/// use ipcring::{Kind, Ring, RingOptions};
/// use ipcring::inspect::{inspect, EndpointRole, State};
/// let name = format!("ipcring-doc-inspect-{}", std::process::id());
/// let ring = Ring::create(&name, &RingOptions::new().kind(Kind::Spsc).capacity(8).msg_size(32))?;
/// let mut tx = ring.sender()?;
/// let rx = ring.receiver()?;
/// tx.send(b"one")?;
/// tx.send(b"two")?;
///
/// let info = inspect(&name)?;
/// assert!(matches!(info.state, State::Ready));
/// let g = info.geometry.unwrap();
/// assert_eq!((g.kind, g.capacity, g.msg_size), (Kind::Spsc, 8, 32));
/// let c = info.counters.as_ref().unwrap();
/// // SPSC cursor words: the offset in bytes (two records of 8 + 8 bytes) and above bit 37
/// // the message count; the full counts beside them.
/// assert_eq!((c.tail, c.head), (2 << 37 | 32, 0));
/// assert_eq!((c.counts, c.fill, c.fill_bytes), (Some((2, 0)), Some(2), Some(32)));
/// assert_eq!((info.live(EndpointRole::Sender), info.live(EndpointRole::Receiver)), (1, 1));
///
/// drop(rx); // closed (or its process died): the kernel released its lock
/// let info = inspect(&name)?;
/// assert_eq!((info.live(EndpointRole::Receiver), info.stale(EndpointRole::Receiver)), (0, 1));
/// Ring::unlink(&name)?;
/// assert!(matches!(inspect(&name), Err(ipcring::Error::NotFound { .. })));
/// # Ok::<(), ipcring::Error>(())
/// ```
pub fn inspect(name: &str) -> Result<RingInfo> {
    use std::os::unix::fs::MetadataExt;
    let cname = region::validate_name(name)?;
    // SAFETY: cname is a valid C string. Read-only: nothing is ever written; O_NOFOLLOW
    // refuses a symlink, O_NONBLOCK keeps a FIFO planted under the name from blocking us.
    let fd = unsafe {
        libc::shm_open(
            cname.as_ptr(),
            libc::O_RDONLY | libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC,
            0,
        )
    };
    if fd < 0 {
        return Err(Error::last_os("shm_open"));
    }
    // SAFETY: fd was just returned by shm_open and is owned by nobody else.
    let file = unsafe { File::from_raw_fd(fd) };
    let mut attempt = 1;
    loop {
        let meta = file.metadata().map_err(|source| Error::Io { op: "fstat", source })?;
        if !meta.file_type().is_file() {
            return Err(Error::NotARing {
                reason: "not a regular file",
            });
        }
        let size = meta.len();
        let (state, header, geometry) = read_state(&file, size)?;
        if matches!(state, State::Invalid(_)) && attempt < READ_ATTEMPTS {
            attempt += 1;
            std::thread::sleep(Duration::from_millis(2));
            continue;
        }
        let mut info = RingInfo {
            name: name.trim_start_matches('/').to_string(),
            state,
            geometry,
            size,
            mode: meta.mode() & 0o7777,
            uid: meta.uid(),
            creator_pid: None,
            counters: None,
            endpoints: Vec::new(),
            doorbells: doorbells(name),
        };
        describe(&file, header.as_deref(), &mut info)?;
        return Ok(info);
    }
}

/// The doorbell FIFOs of ring `name` that exist now.
fn doorbells(name: &str) -> Vec<std::path::PathBuf> {
    use std::os::unix::fs::FileTypeExt;
    let bare = name.trim_start_matches('/');
    region::bell::SUFFIXES
        .iter()
        .map(|s| std::path::Path::new(SHM_DIR).join(format!("{bare}{s}")))
        .filter(|p| std::fs::symlink_metadata(p).is_ok_and(|m| m.file_type().is_fifo()))
        .collect()
}

/// Every regular file in `/dev/shm`, sorted by name, each with what [`inspect`] says about
/// it, and the doorbells left by rings that are gone. Objects removed while the directory is
/// read are left out.
///
/// # Errors
///
/// [`Error::Io`] if `/dev/shm` cannot be read (each object's own errors are in its
/// [`Listed::info`]).
///
/// # Examples
///
/// ```
/// use ipcring::{Ring, RingOptions};
/// let name = format!("ipcring-doc-list-{}", std::process::id());
/// let _ring = Ring::create(&name, &RingOptions::new())?;
/// let all = ipcring::inspect::list()?;
/// let ours = all.iter().find(|l| l.name == name).unwrap();
/// assert!(ours.info.is_ok());
/// Ring::unlink(&name)?;
/// # Ok::<(), ipcring::Error>(())
/// ```
pub fn list() -> Result<Vec<Listed>> {
    let io = |source| Error::Io {
        op: "read /dev/shm",
        source,
    };
    let mut out = Vec::new();
    for entry in std::fs::read_dir(SHM_DIR).map_err(io)? {
        let entry = entry.map_err(io)?;
        // file_type() does not follow symlinks: symlinks and directories are skipped; a
        // FIFO is listed only if it is a doorbell whose ring is gone (the others are shown
        // with their ring).
        use std::os::unix::fs::FileTypeExt;
        match entry.file_type() {
            Ok(t) if t.is_file() => {}
            Ok(t) if t.is_fifo() => {
                let name = entry.file_name().to_string_lossy().into_owned();
                if let Some(ring) = region::bell::ring_of(&name) {
                    if !std::path::Path::new(SHM_DIR).join(ring).exists() {
                        out.push(Listed {
                            name,
                            info: Err(Error::NotARing {
                                reason: "the doorbell of a ring that is gone (`ipcring rm shm://RING` removes it)",
                            }),
                        });
                    }
                }
                continue;
            }
            _ => continue,
        }
        let name = match entry.file_name().into_string() {
            Ok(name) => name,
            Err(raw) => {
                let name = raw.to_string_lossy().into_owned();
                out.push(Listed {
                    info: Err(Error::InvalidName {
                        name: name.clone(),
                        reason: "not UTF-8",
                    }),
                    name,
                });
                continue;
            }
        };
        match inspect(&name) {
            Err(Error::NotFound { .. }) => {} // removed meanwhile
            info => out.push(Listed { name, info }),
        }
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

/// Reads the object's header and decides its state: the state, the header copy (when the
/// object holds a whole header) and the validated geometry.
fn read_state(file: &File, size: u64) -> Result<(State, Option<Box<Header>>, Option<Geometry>)> {
    let fd = file.as_raw_fd();
    if size < HEADER_SIZE {
        // A creator takes its init lock before it reserves the object's size.
        if lock::held_by_other(fd, INIT_LOCK_BYTE)? {
            return Ok((State::Initialising, None, None));
        }
        if size == 0 {
            return Err(Error::NotARing { reason: "empty object" });
        }
        let mut magic = [0u8; 8];
        if size >= 8 && pread_exact(fd, magic.as_mut_ptr(), 8, 0).is_ok() && u64::from_le_bytes(magic) == MAGIC {
            let what = "object truncated below its header";
            return Ok((State::Invalid(Error::Corrupted { what }), None, None));
        }
        return Err(Error::NotARing {
            reason: "object smaller than a ring header",
        });
    }
    // A peer that truncates the object after our fstat makes the read come up short.
    let shrank = |e| match e {
        e @ Error::Corrupted { .. } => Ok((State::Invalid(e), None, None)),
        e => Err(e),
    };
    let mut h = match read_header(fd) {
        Ok(h) => h,
        Err(e) => return shrank(e),
    };
    let judged = match region::shm::header_geometry(&h, size) {
        Ok(None) if !lock::held_by_other(fd, INIT_LOCK_BYTE)? => {
            // The creator publishes READY before it releases the lock: look once more.
            h = match read_header(fd) {
                Ok(h) => h,
                Err(e) => return shrank(e),
            };
            match region::shm::header_geometry(&h, size) {
                Ok(None) => return Ok((State::CreatorDied, Some(h), None)),
                other => other,
            }
        }
        other => other,
    };
    match judged {
        Ok(Some(g)) => Ok((State::Ready, Some(h), Some(g))),
        Ok(None) => Ok((State::Initialising, Some(h), None)),
        Err(e @ Error::NotARing { .. }) => Err(e),
        Err(e) => Ok((State::Invalid(e), Some(h), None)),
    }
}

/// Copies the header at the start of the object into a local, aligned `Header`.
fn read_header(fd: RawFd) -> Result<Box<Header>> {
    let mut h = Box::new(Header::zeroed());
    let p = &mut *h as *mut Header as *mut u8;
    pread_exact(fd, p, core::mem::size_of::<Header>(), 0)?;
    Ok(h)
}

/// `pread` of exactly `len` bytes at `off` into `dst`, or `Corrupted` if the object is shorter
/// (a peer truncated it after our `fstat`).
///
/// `dst` must point to `len` writable bytes that are valid for any content. Only called with
/// a local `[u8; 8]` or a boxed [`Header`]: every `Header` field is an atomic integer or plain
/// bytes (the `sem_t` storage), so whatever bytes the kernel writes (and the padding between
/// fields) leave it a valid value.
fn pread_exact(fd: RawFd, dst: *mut u8, len: usize, off: u64) -> Result<()> {
    let mut done = 0usize;
    while done < len {
        // SAFETY: dst..dst+len is writable memory of ours (the caller's contract above), and
        // no reference to it is used while the kernel writes it; done < len keeps us in it.
        let n = unsafe {
            libc::pread(
                fd,
                dst.add(done) as *mut libc::c_void,
                len - done,
                (off + done as u64) as libc::off_t,
            )
        };
        if n < 0 {
            let e = std::io::Error::last_os_error();
            if e.kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return Err(Error::Io { op: "pread", source: e });
        }
        if n == 0 {
            return Err(Error::Corrupted {
                what: "object shrank while it was read",
            });
        }
        done += n as usize;
    }
    Ok(())
}

/// Reads one `u64` at `off` of the object.
fn pread_u64(fd: RawFd, off: usize) -> Result<u64> {
    let mut b = [0u8; 8];
    pread_exact(fd, b.as_mut_ptr(), 8, off as u64)?;
    Ok(u64::from_ne_bytes(b))
}

/// A cursor line as read: (position, message count).
type Line = (u64, u64);

/// `(head, tail)` (each with its message count) read as one instant's pair if the consumer
/// cursor holds still between two reads around the producer's, and whether it did.
fn cursors(fd: RawFd) -> Result<(Line, Line, bool)> {
    let head_at = core::mem::offset_of!(Header, head);
    let tail_at = core::mem::offset_of!(Header, tail);
    let line = |at: usize| -> Result<Line> { Ok((pread_u64(fd, at)?, pread_u64(fd, at + 8)?)) };
    let mut last = ((0, 0), (0, 0));
    for _ in 0..CURSOR_ATTEMPTS {
        let h1 = line(head_at)?;
        let t = line(tail_at)?;
        let h2 = line(head_at)?;
        if h1 == h2 {
            return Ok((h1, t, true));
        }
        last = (h2, t);
    }
    Ok((last.0, last.1, false))
}

/// Fills in what the header copy and the locks say: creator, counters, endpoints.
fn describe(file: &File, h: Option<&Header>, info: &mut RingInfo) -> Result<()> {
    let fd = file.as_raw_fd();
    let id = h.map(|h| &h.id.0);
    // Fields are where our layout says only if magic, ABI version and layout hash are ours.
    let ours = id.is_some_and(|id| {
        id.magic.load(Ordering::Relaxed) == MAGIC
            && id.abi_version.load(Ordering::Relaxed) == ABI_VERSION
            && id.layout_hash.load(Ordering::Relaxed) == layout_hash()
    });
    let h = h.filter(|_| ours);
    if let Some(h) = h {
        let id = &h.id.0;
        info.creator_pid = Some(id.creator_pid.load(Ordering::Relaxed));
        let (head, tail, still) = match cursors(fd) {
            Ok(c) => c,
            Err(Error::Corrupted { .. }) => (
                (h.head.0.load(Ordering::Relaxed), h.head.1.load(Ordering::Relaxed)),
                (h.tail.0.load(Ordering::Relaxed), h.tail.1.load(Ordering::Relaxed)),
                false,
            ),
            Err(e) => return Err(e),
        };
        let spsc = info.geometry.is_some_and(|g| g.kind == Kind::Spsc);
        // (messages, bytes) in flight, if the cursors make sense.
        let in_flight = info.geometry.and_then(|g| match g.kind {
            Kind::Spsc => match crate::spsc::used(head.0, tail.0, g.area()) {
                Some((bytes, msgs)) if msgs <= g.max_queued() => Some((msgs, bytes)),
                // The consumer took records the producer has not counted in its word yet (it
                // is between the two stores, or was killed there and the next producer
                // repairs the word, see `spsc`): nothing counted is queued.
                _ if crate::spsc::used(tail.0, head.0, g.area()).is_some() => Some((0, 0)),
                _ => None,
            },
            Kind::Mpmc => crate::mpmc::distance(&g, head.0, tail.0).map(|n| (n, n * g.slot_size)),
        });
        let (fill, fill_bytes) = match (&info.geometry, still, in_flight) {
            (Some(_), _, Some((n, b))) => (Some(n), Some(b)),
            (Some(g), true, None) => {
                info.state = State::Invalid(Error::Corrupted {
                    what: if g.kind == Kind::Spsc {
                        "cursors more than the area apart"
                    } else {
                        "cursors more than capacity apart"
                    },
                });
                (None, None)
            }
            // A busy ring: the pair may be from two instants.
            (Some(g), false, None) => {
                let n = if spsc {
                    crate::spsc::messages_between(head.0, tail.0)
                } else {
                    tail.0.wrapping_sub(head.0)
                };
                let n = if n > g.max_queued() { 0 } else { n };
                (Some(n), None)
            }
            (None, _, _) => (None, None),
        };
        let ever = id.ever.load(Ordering::Relaxed);
        let bell = |b: &crate::layout::Bell| BellInfo {
            seq: b.seq.atomic().load(Ordering::Relaxed),
            waiters: b.waiters.load(Ordering::Relaxed),
            fd_waiters: b.fd_waiters.load(Ordering::Relaxed),
        };
        info.counters = Some(Counters {
            tail: tail.0,
            head: head.0,
            counts: spsc.then_some((
                crate::spsc::full_count(tail.0, tail.1),
                crate::spsc::full_count(head.0, head.1),
            )),
            fill,
            fill_bytes,
            poisoned: id.poison.load(Ordering::Relaxed) != 0,
            epoch: id.epoch.load(Ordering::Relaxed),
            ever_sender: ever & 1 != 0,
            ever_receiver: ever & 2 != 0,
            data_bell: bell(&h.data_bell),
            space_bell: bell(&h.space_bell),
        });
    }
    let mpmc = info.geometry.is_some_and(|g| g.kind == Kind::Mpmc);
    for index in 0..MAX_ENDPOINTS {
        let alive = lock::held_by_other(fd, index)?;
        let (role, pid, generation, claim) = match h {
            Some(h) => {
                let e = &h.endpoints[index];
                let lo = e.claim_lo.load(Ordering::Relaxed);
                let hi = e.claim_hi.load(Ordering::Relaxed);
                (
                    EndpointRole::from_raw(e.role.load(Ordering::Relaxed)),
                    e.pid.load(Ordering::Relaxed),
                    e.generation.load(Ordering::Relaxed),
                    (mpmc && lo != hi).then_some((lo, hi)),
                )
            }
            None => (EndpointRole::Unknown(0), 0, 0, None),
        };
        if alive || !matches!(role, EndpointRole::Free | EndpointRole::Unknown(0)) {
            info.endpoints.push(EndpointInfo {
                index,
                role,
                pid,
                generation,
                alive,
                claim,
            });
        }
    }
    Ok(())
}

#[cfg(all(test, not(miri)))] // real /dev/shm objects, FIFOs and locks: foreign calls Miri cannot run
mod tests {
    use super::*;
    use crate::options::RingOptions;
    use crate::ring::Ring;
    use std::os::unix::fs::FileExt;

    fn name(tag: &str) -> String {
        format!("ipcring-test-inspect-{tag}-{}", std::process::id())
    }

    fn path(name: &str) -> std::path::PathBuf {
        std::path::Path::new(SHM_DIR).join(name)
    }

    /// Removes the object on drop, so a failed test leaves nothing in /dev/shm.
    struct Guard(String);
    impl Drop for Guard {
        fn drop(&mut self) {
            // The object may be one the test wrote by hand: remove it by path, and the ring's
            // doorbells with `unlink` (which takes them even when the object is gone).
            let _ = std::fs::remove_file(path(&self.0));
            let _ = crate::region::unlink(&self.0);
        }
    }

    #[test]
    fn ready_ring_counters_and_endpoints() {
        let n = name("ready");
        let _g = Guard(n.clone());
        let ring = Ring::create(&n, &RingOptions::new().kind(Kind::Mpmc).capacity(16).msg_size(40)).unwrap();
        let mut tx = ring.sender().unwrap();
        let tx2 = ring.sender().unwrap();
        let mut rx = ring.receiver().unwrap();
        for i in 0..5u8 {
            tx.send(&[i; 7]).unwrap();
        }
        assert_eq!(rx.recv_vec().unwrap(), vec![0u8; 7]);
        let before = std::fs::read(path(&n)).unwrap();
        let info = inspect(&n).unwrap();
        assert_eq!(std::fs::read(path(&n)).unwrap(), before, "inspect wrote to the object");
        assert!(matches!(info.state, State::Ready), "{:?}", info.state);
        assert_eq!(info.name, n);
        let g = info.geometry.unwrap();
        assert_eq!((g.kind, g.capacity, g.msg_size), (Kind::Mpmc, 16, 40));
        assert_eq!(info.size, g.region_size);
        assert_eq!(info.mode, 0o600);
        assert_eq!(info.creator_pid, Some(std::process::id()));
        let c = info.counters.as_ref().unwrap();
        assert_eq!((c.tail, c.head, c.fill, c.poisoned), (5, 1, Some(4), false));
        assert_eq!((c.counts, c.fill_bytes), (None, Some(4 * g.slot_size)));
        assert!(c.ever_sender && c.ever_receiver);
        assert_eq!(info.live(EndpointRole::Sender), 2);
        assert_eq!(info.live(EndpointRole::Receiver), 1);
        assert!(info.endpoints.iter().all(|e| e.alive && e.pid == std::process::id()));
        drop(tx2);
        let info = inspect(&n).unwrap();
        assert_eq!(
            (info.live(EndpointRole::Sender), info.stale(EndpointRole::Sender)),
            (1, 1)
        );
        drop((tx, rx, ring));
    }

    #[test]
    fn init_lock_tells_initialising_from_creator_died() {
        let n = name("init");
        let _g = Guard(n.clone());
        let g = Geometry::new(Kind::Spsc, crate::kind::WakeBackend::Futex, 8, 8).unwrap();
        let f = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(path(&n))
            .unwrap();
        f.set_len(g.region_size).unwrap();
        assert!(matches!(inspect(&n).unwrap().state, State::CreatorDied));
        // Hold the init lock through another description, as a live creator does.
        let holder = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(path(&n))
            .unwrap();
        assert!(crate::sys::lock::try_take(holder.as_raw_fd(), INIT_LOCK_BYTE, crate::sys::lock::Mode::Write).unwrap());
        let info = inspect(&n).unwrap();
        assert!(matches!(info.state, State::Initialising), "{:?}", info.state);
        assert!(info.counters.is_none() && info.geometry.is_none());
        drop(holder);
        assert!(matches!(inspect(&n).unwrap().state, State::CreatorDied));
    }

    #[test]
    fn foreign_truncated_and_hostile_objects() {
        let n = name("foreign");
        let _g = Guard(n.clone());
        std::fs::write(path(&n), vec![0x5au8; 8192]).unwrap();
        assert!(matches!(
            inspect(&n),
            Err(Error::NotARing {
                reason: "bad magic number"
            })
        ));
        std::fs::write(path(&n), b"").unwrap();
        assert!(matches!(inspect(&n), Err(Error::NotARing { reason: "empty object" })));
        std::fs::write(path(&n), b"tiny").unwrap();
        assert!(matches!(inspect(&n), Err(Error::NotARing { .. })));

        // A valid ring, then its header's ABI version changed, then truncated.
        std::fs::remove_file(path(&n)).unwrap();
        let ring = Ring::create(&n, &RingOptions::new().capacity(4).msg_size(8)).unwrap();
        let f = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(path(&n))
            .unwrap();
        f.write_all_at(&99u32.to_le_bytes(), 8).unwrap();
        match inspect(&n).unwrap().state {
            State::Invalid(Error::AbiMismatch { found: 99, .. }) => {}
            other => panic!("{other:?}"),
        }
        f.write_all_at(&ABI_VERSION.to_le_bytes(), 8).unwrap();
        f.set_len(HEADER_SIZE + 32).unwrap();
        let info = inspect(&n).unwrap();
        assert!(
            matches!(info.state, State::Invalid(Error::SizeMismatch { .. })),
            "{:?}",
            info.state
        );
        assert!(info.counters.is_some(), "the layout is ours: counters shown");
        f.set_len(128).unwrap(); // below the header page, past the identity line
        assert!(matches!(
            inspect(&n).unwrap().state,
            State::Invalid(Error::Corrupted { .. })
        ));
        // Cursors far apart in an otherwise valid ring (the truncation zeroed the fence
        // mode at offset 104: written back).
        f.set_len(ring.geometry().region_size).unwrap();
        f.write_all_at(&(ring.geometry().fence as u32).to_le_bytes(), 104)
            .unwrap();
        f.write_all_at(&1000u64.to_le_bytes(), 128).unwrap();
        match inspect(&n).unwrap() {
            RingInfo {
                state: State::Invalid(Error::Corrupted { what }),
                counters: Some(c),
                ..
            } => {
                assert_eq!(what, "cursors more than the area apart");
                assert_eq!((c.tail, c.fill), (1000, None));
            }
            other => panic!("{other:?}"),
        }
        drop(ring);
    }

    #[test]
    fn missing_and_bad_names() {
        assert!(matches!(inspect(&name("missing")), Err(Error::NotFound { .. })));
        assert!(matches!(inspect("a/b"), Err(Error::InvalidName { .. })));
        let n = name("dir");
        std::fs::create_dir(path(&n)).unwrap();
        let r = inspect(&n);
        std::fs::remove_dir(path(&n)).unwrap();
        assert!(matches!(r, Err(Error::NotARing { .. })), "{r:?}");
    }

    #[test]
    fn fifo_does_not_block() {
        let n = name("fifo");
        let p = path(&n);
        let c = std::ffi::CString::new(p.to_str().unwrap()).unwrap();
        // SAFETY: c is a valid path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let r = inspect(&n);
        std::fs::remove_file(&p).unwrap();
        assert!(
            matches!(
                r,
                Err(Error::NotARing {
                    reason: "not a regular file"
                })
            ),
            "{r:?}"
        );
    }
}
