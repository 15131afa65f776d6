//! Shared regions: naming, create / open / unlink of POSIX shared-memory objects, anonymous
//! (memfd) regions for rings shared across `fork`, size checks and mapping (memmap2 over the
//! object's file descriptor).
//!
//! - Names are validated before any system call: one optional leading `/`, then 1..=250
//!   bytes with no other `/` and no NUL, and not `.` or `..`.
//! - `create` uses `O_CREAT | O_EXCL | O_NOFOLLOW`, sets the mode with `fchmod` (so the umask
//!   cannot loosen or tighten it; 0600 unless asked), and reserves the memory up front with
//!   `posix_fallocate`, so a full `/dev/shm` is `NoSpace` at create and not a SIGBUS later.
//!   If anything fails after the object was created, it is unlinked again.
//! - `open` refuses an object that group or others may write unless the opener's own `perm`
//!   grants that too (`PermissionDenied`), waits (bounded) for the creator's READY mark,
//!   reading only the header page, and validates the header against the object's real size
//!   before mapping the rest.
//!
//! # Crashes around creation: the init lock
//!
//! Right after `shm_open`, before anything else, the creator takes an OFD write lock on byte
//! [`INIT_LOCK_BYTE`] (64; bytes `0..MAX_ENDPOINTS` are the endpoint locks) of the object, and
//! releases it only after publishing READY. The kernel releases it if the creator dies. So an
//! opener that finds the object not READY, with a size (the creator reserves the memory after
//! taking the lock) and the init lock free, knows that no creator is at work on it any more:
//! [`Error::CreatorDied`], at once instead of after the open timeout. A zero-size object with
//! a free lock may be a creator in its first microseconds (between `shm_open` and `fcntl`),
//! so that one is waited for as before ([`Error::NotReady`] at the timeout).
//!
//! # Removing: [`remove`] and the cleanup lock
//!
//! [`remove`] refuses an object that is in use, and removes one that is not (dead endpoints,
//! a dead creator's half-made object), without trusting PIDs or timeouts:
//!
//! 1. open the object by name (`O_NOFOLLOW`; no READY wait, nothing mapped);
//! 2. take the cleanup lock, an OFD write lock on byte [`CLEANUP_LOCK_BYTE`] (65), waiting up
//!    to [`CLEANUP_WAIT`] for another cleaner ([`Error::Busy`] with role `"cleaner"`);
//! 3. check that the name still names the inode we opened (`lstat("/dev/shm/NAME")` against
//!    `fstat` of our descriptor); if not, someone removed our object already: `NotFound`;
//! 4. take the init lock (held: a live creator is initialising the object) and ask for every
//!    endpoint lock (`F_OFD_GETLK`); any held is [`Error::InUse`] unless `force`;
//! 5. `shm_unlink`, then close (which releases both locks).
//!
//! Why the cleanup lock and the identity check: two cleaners that both opened object X must
//! not end with the second one unlinking a *new* X' that a creator made under the same name
//! after the first one removed X. The first cleaner holds X's cleanup lock from before its
//! check until after its `shm_unlink`, so the second one can only run its check after X is
//! gone; its check then finds the name naming X' (or nothing) instead of X, and it stops with
//! `NotFound`. Without the lock the second cleaner could check before the first unlinks and
//! unlink after the creator has made X'; without the check it would unlink X' outright.
//! A cleaner that only holds X's lock can still lose to a remover that does not take it
//! (`shm_unlink` by hand, [`unlink`]): use [`remove`] for cleanup.
//!
//! Why the cleaner takes the init lock rather than only asking for it: a creator between
//! `shm_open` and its `fcntl` holds nothing yet, so a cleaner that merely asked would remove
//! a brand-new object. Holding the init lock settles the race: whoever takes it first wins.
//! A creator that finds it taken leaves the object to the cleaner (which unlinks it) and
//! fails with `Busy { role: "cleaner" }`, and so does a creator that takes it after a cleaner
//! has come and gone (its object then has no name: `fstat` says no links); a creator that
//! took it first makes the cleaner refuse with `InUse`.

use crate::error::{Error, Result};
use crate::failpoint;
use crate::layout::{Geometry, Header, RawRing, HEADER_SIZE, INIT_READY, MAX_ENDPOINTS};
use crate::sync::Ordering;
use crate::sys::lock;
use memmap2::{MmapOptions, MmapRaw};
use std::ffi::CString;
use std::fs::File;
use std::os::fd::{AsRawFd, FromRawFd, RawFd};
use std::time::{Duration, Instant};

/// The longest name accepted, not counting the leading `/`.
pub const MAX_NAME_LEN: usize = 250;

/// Where the kernel's shared-memory objects live (`shm_open("/NAME")` is `SHM_DIR/NAME`).
pub const SHM_DIR: &str = "/dev/shm";

/// The byte of a named ring's object that its creator write-locks (OFD) from just after
/// `shm_open` until READY is published (see the module docs).
pub const INIT_LOCK_BYTE: usize = 64;

/// The byte of a named ring's object that [`remove`] write-locks while it checks and
/// removes the object (see the module docs).
pub const CLEANUP_LOCK_BYTE: usize = 65;

// The endpoint locks are bytes 0..MAX_ENDPOINTS.
const _: () = assert!(INIT_LOCK_BYTE >= MAX_ENDPOINTS && CLEANUP_LOCK_BYTE > INIT_LOCK_BYTE);

/// How long [`remove`] waits for another cleaner to finish before [`Error::Busy`].
pub const CLEANUP_WAIT: Duration = Duration::from_secs(2);

/// Takes the write lock on `byte` through `fd`'s description: `Ok(false)` if another
/// description holds a lock on it.
fn try_lock(fd: RawFd, byte: usize) -> Result<bool> {
    lock::try_take(fd, byte, lock::Mode::Write)
}

/// Whether `/dev/shm/NAME` is still the object open as `file` (same device and inode).
fn same_object(cname: &CString, file: &File) -> Result<bool> {
    use std::os::unix::fs::MetadataExt;
    let bare = cname
        .to_str()
        .expect("validated names are UTF-8")
        .trim_start_matches('/');
    let path = std::path::Path::new(SHM_DIR).join(bare);
    let named = match std::fs::symlink_metadata(&path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(source) => return Err(Error::Io { op: "lstat", source }),
    };
    let ours = file.metadata().map_err(|source| Error::Io { op: "fstat", source })?;
    Ok((named.dev(), named.ino()) == (ours.dev(), ours.ino()))
}

/// A creator's way out: removes the object it created, through the cleanup lock and the
/// identity check, so that it never unlinks another object that took the name meanwhile
/// (after a forced [`remove`] of ours). Best effort: nothing to report if it cannot.
fn remove_own(cname: &CString, file: &File) {
    if matches!(try_lock(file.as_raw_fd(), CLEANUP_LOCK_BYTE), Ok(false)) {
        return; // a cleaner is at it
    }
    if same_object(cname, file).unwrap_or(false) {
        // SAFETY: cname is a valid C string; the name is still our object.
        unsafe { libc::shm_unlink(cname.as_ptr()) };
    }
}

/// Validates a ring name and returns it in the form `shm_open` takes (`/NAME`).
///
/// # Examples
///
/// ```
/// assert_eq!(ipcring::shm::validate_name("jobs").unwrap().to_str().unwrap(), "/jobs");
/// assert_eq!(ipcring::shm::validate_name("/jobs").unwrap().to_str().unwrap(), "/jobs");
/// assert!(ipcring::shm::validate_name("a/b").is_err());
/// assert!(ipcring::shm::validate_name("").is_err());
/// ```
pub fn validate_name(name: &str) -> Result<CString> {
    let bad = |reason| {
        Err(Error::InvalidName {
            name: name.to_string(),
            reason,
        })
    };
    let bare = name.strip_prefix('/').unwrap_or(name);
    if bare.is_empty() {
        return bad("empty");
    }
    if bare.len() > MAX_NAME_LEN {
        return bad("longer than 250 bytes");
    }
    if bare.contains('/') {
        return bad("contains '/' after the leading one");
    }
    if bare.contains('\0') {
        return bad("contains a NUL byte");
    }
    if bare == "." || bare == ".." {
        return bad("'.' and '..' are not object names");
    }
    Ok(CString::new(format!("/{bare}")).expect("NUL excluded above"))
}

/// A mapped region: the mapping, the file it maps, and the validated geometry.
#[derive(Debug)]
pub struct ShmRegion {
    map: MmapRaw,
    file: File,
    geom: Geometry,
    name: Option<CString>,
}

impl ShmRegion {
    /// The ring view of the mapping.
    pub fn raw(&self) -> RawRing {
        // SAFETY: the mapping is region_size bytes (checked against fstat at open, reserved
        // at create), page-aligned, and lives as long as self; the header was validated.
        unsafe { RawRing::new(self.map.as_mut_ptr(), self.geom) }
    }

    /// The region's file descriptor (holds no endpoint locks itself).
    pub fn fd(&self) -> RawFd {
        self.file.as_raw_fd()
    }

    /// The geometry.
    pub fn geometry(&self) -> Geometry {
        self.geom
    }

    /// The object's name (`/NAME`), `None` for an anonymous region.
    pub fn name(&self) -> Option<&str> {
        self.name.as_ref().and_then(|n| n.to_str().ok())
    }
}

fn check_mode(mode: u32) -> Result<libc::mode_t> {
    if mode & !0o777 != 0 {
        return Err(Error::InvalidOption {
            option: "mode",
            value: mode as u64,
            reason: "only permission bits (0o777) are allowed",
        });
    }
    Ok(mode as libc::mode_t)
}

fn reserve(file: &File, size: u64) -> Result<()> {
    // SAFETY: the fd is open for writing; posix_fallocate returns an errno value.
    let rc = unsafe { libc::posix_fallocate(file.as_raw_fd(), 0, size as libc::off_t) };
    match rc {
        0 => Ok(()),
        libc::ENOSPC | libc::EFBIG => Err(Error::NoSpace { size }),
        e => Err(Error::Io {
            op: "posix_fallocate",
            source: std::io::Error::from_raw_os_error(e),
        }),
    }
}

fn map(file: &File, len: u64) -> Result<MmapRaw> {
    MmapOptions::new()
        .len(len as usize)
        .map_raw(file)
        .map_err(|source| Error::Io { op: "mmap", source })
}

/// Creates the object `name`, reserves and maps `geom.region_size` bytes, and runs `init` on
/// the fresh (zeroed) ring, which must publish READY last. The init lock is held from just
/// after `shm_open` until `init` has returned (see the module docs). On failure nothing is
/// left behind; if a concurrent [`remove`] took the fresh object for an abandoned one (it
/// holds the init lock), the error is `Busy { role: "cleaner" }` and the cleaner removes it.
pub fn create(name: &str, geom: &Geometry, mode: u32, init: impl FnOnce(&RawRing) -> Result<()>) -> Result<ShmRegion> {
    let cname = validate_name(name)?;
    let mode = check_mode(mode)?;
    // SAFETY: cname is a valid C string; the flags never follow a symlink and fail if the
    // name exists.
    let fd = unsafe {
        libc::shm_open(
            cname.as_ptr(),
            libc::O_RDWR | libc::O_CREAT | libc::O_EXCL | libc::O_NOFOLLOW | libc::O_CLOEXEC,
            mode,
        )
    };
    if fd < 0 {
        return Err(Error::last_os("shm_open"));
    }
    // SAFETY: fd was just returned by shm_open and is owned by nobody else.
    let file = unsafe { File::from_raw_fd(fd) };
    failpoint::hit(failpoint::INIT_AFTER_OPEN);
    // The init lock comes before anything else (openers read "size > 0, lock free" as "the
    // creator died"). Held by someone else, it can only be a cleaner that opened our fresh
    // object and judged it abandoned: it is about to unlink it, so leave it alone.
    match try_lock(file.as_raw_fd(), INIT_LOCK_BYTE) {
        Ok(true) => {}
        Ok(false) => return Err(Error::Busy { role: "cleaner" }),
        Err(e) => {
            remove_own(&cname, &file);
            return Err(e);
        }
    }
    // A cleaner may also have come and gone already (it unlinked the object and released
    // the lock): then we hold the lock of an object without a name. Once we hold it, no
    // cleaner removes the object without `force`.
    {
        use std::os::unix::fs::MetadataExt;
        let links = file
            .metadata()
            .map_err(|source| Error::Io { op: "fstat", source })?
            .nlink();
        if links == 0 {
            return Err(Error::Busy { role: "cleaner" });
        }
    }
    failpoint::hit(failpoint::INIT_AFTER_LOCK);
    let mapped = (|| {
        // SAFETY: fd is open; fchmod sets the exact mode regardless of the umask.
        if unsafe { libc::fchmod(file.as_raw_fd(), mode) } != 0 {
            return Err(Error::last_os("fchmod"));
        }
        reserve(&file, geom.region_size)?;
        failpoint::hit(failpoint::INIT_AFTER_RESERVE);
        map(&file, geom.region_size)
    })();
    let map = match mapped {
        Ok(map) => map,
        Err(e) => {
            remove_own(&cname, &file);
            return Err(e);
        }
    };
    failpoint::hit(failpoint::INIT_AFTER_MAP);
    let region = ShmRegion {
        map,
        file,
        geom: *geom,
        name: Some(cname),
    };
    // READY is published inside `init`; the lock goes after it (openers that see the lock
    // free look at READY once more).
    if let Err(e) = init(&region.raw()).and_then(|()| lock::release(region.fd(), INIT_LOCK_BYTE)) {
        if let Some(cname) = &region.name {
            remove_own(cname, &region.file);
        }
        return Err(e);
    }
    Ok(region)
}

/// Creates an anonymous region (memfd) for rings shared with children across `fork`. Its
/// size is sealed, so no process can shrink it under another's mapping.
pub fn anonymous(geom: &Geometry, init: impl FnOnce(&RawRing) -> Result<()>) -> Result<ShmRegion> {
    // SAFETY: the name is a valid C string; memfd_create returns a new fd or -1.
    let fd = unsafe { libc::memfd_create(c"ipcring".as_ptr(), libc::MFD_CLOEXEC | libc::MFD_ALLOW_SEALING) };
    if fd < 0 {
        return Err(Error::last_os("memfd_create"));
    }
    // SAFETY: fd was just returned by memfd_create and is owned by nobody else.
    let file = unsafe { File::from_raw_fd(fd) };
    reserve(&file, geom.region_size)?;
    // SAFETY: fd is a memfd created with MFD_ALLOW_SEALING.
    if unsafe {
        libc::fcntl(
            file.as_raw_fd(),
            libc::F_ADD_SEALS,
            libc::F_SEAL_SHRINK | libc::F_SEAL_GROW | libc::F_SEAL_SEAL,
        )
    } != 0
    {
        return Err(Error::last_os("fcntl(F_ADD_SEALS)"));
    }
    let map = map(&file, geom.region_size)?;
    let region = ShmRegion {
        map,
        file,
        geom: *geom,
        name: None,
    };
    init(&region.raw())?;
    Ok(region)
}

fn file_size(file: &File) -> Result<u64> {
    file.metadata()
        .map(|m| m.len())
        .map_err(|source| Error::Io { op: "fstat", source })
}

/// Opens the object `name`: refuses it if group or others may write it (see
/// [`open_perm`]), waits up to `timeout` for its creator's READY mark, validates the header
/// (magic, ABI version, layout hash, sizes) against the object's real size, and maps it.
pub fn open(name: &str, timeout: Duration) -> Result<ShmRegion> {
    open_perm(name, timeout, 0o600)
}

/// [`open`], refusing the object (`PermissionDenied`) only if its mode lets group or others
/// write more than `perm` (the opener's own `perm` / `mode`) allows.
pub fn open_perm(name: &str, timeout: Duration, perm: u32) -> Result<ShmRegion> {
    let cname = validate_name(name)?;
    // SAFETY: cname is a valid C string; O_NOFOLLOW refuses a symlink.
    let fd = unsafe { libc::shm_open(cname.as_ptr(), libc::O_RDWR | libc::O_NOFOLLOW | libc::O_CLOEXEC, 0) };
    if fd < 0 {
        return Err(Error::last_os("shm_open"));
    }
    // SAFETY: fd was just returned by shm_open and is owned by nobody else.
    let file = unsafe { File::from_raw_fd(fd) };
    // Named-object attack fix (tests/open_errors.rs, pre_created_writable_object_is_refused):
    // an object that group or others may write (e.g. pre-created 0666 by someone else) could
    // be rewritten under us by anyone, so it is refused unless the opener asked for that
    // permission itself (`perm=0660` / `RingOptions::mode`). Checked on the open descriptor
    // (fstat), so the name cannot be swapped between the check and the use.
    let mode = {
        use std::os::unix::fs::PermissionsExt;
        file.metadata()
            .map_err(|source| Error::Io { op: "fstat", source })?
            .permissions()
            .mode()
    };
    if mode & 0o022 & !perm != 0 {
        return Err(Error::PermissionDenied);
    }
    let start = Instant::now();
    let mut pause = Duration::from_micros(50);
    let (geom, size) = loop {
        let size = file_size(&file)?;
        if let Some(geom) = ready_geometry(&file, size)? {
            break (geom, size);
        }
        // Not ready. With a size, the creator got past its init lock (it takes the lock
        // before reserving), so a free lock means that nobody is initialising the object.
        if size > 0 && !lock::held_by_other(file.as_raw_fd(), INIT_LOCK_BYTE)? {
            // The creator publishes READY before releasing the lock: look once more.
            let size = file_size(&file)?;
            if let Some(geom) = ready_geometry(&file, size)? {
                break (geom, size);
            }
            return Err(if size < HEADER_SIZE {
                Error::NotARing {
                    reason: "object smaller than a ring header",
                }
            } else {
                Error::CreatorDied
            });
        }
        if start.elapsed() >= timeout {
            return Err(if size > 0 && size < HEADER_SIZE {
                Error::NotARing {
                    reason: "object smaller than a ring header",
                }
            } else {
                Error::NotReady
            });
        }
        crate::wait::nap(pause, &crate::wait::Timeout::Forever)?;
        pause = (pause * 2).min(Duration::from_millis(10));
    };
    let map = map(&file, size)?;
    Ok(ShmRegion {
        map,
        file,
        geom,
        name: Some(cname),
    })
}

/// The geometry of the object open as `file` (`size` bytes, from fstat) if its creator has
/// published READY: reads only the header page. `NotARing` for a wrong magic number.
fn ready_geometry(file: &File, size: u64) -> Result<Option<Geometry>> {
    if size < HEADER_SIZE {
        return Ok(None);
    }
    let head = map(file, HEADER_SIZE)?;
    // SAFETY: the mapping is HEADER_SIZE >= size_of::<Header>() bytes, page-aligned,
    // and every Header field is an atomic or plain bytes, valid for any content.
    let h = unsafe { &*(head.as_ptr() as *const Header) };
    header_geometry(h, size)
}

/// The geometry a header describes if its creator has published READY (validated against
/// the object's real `size`), `None` if not yet; `NotARing` for a wrong magic number. Shared
/// by `open` (over the mapped header page) and `inspect` (over a copy read with `pread`).
pub(crate) fn header_geometry(h: &Header, size: u64) -> Result<Option<Geometry>> {
    if h.id.0.init.load(Ordering::Acquire) == INIT_READY {
        return Geometry::from_header(h, size).map(Some);
    }
    let magic = h.id.0.magic.load(Ordering::Relaxed);
    if magic != 0 && magic != crate::layout::MAGIC {
        return Err(Error::NotARing {
            reason: "bad magic number",
        });
    }
    Ok(None)
}

/// Why the object open as `file` (`size` bytes) cannot be a ring or a ring's creator's
/// leftover, if it cannot: `remove` leaves such objects alone unless forced. Reads the magic
/// number with `pread` (nothing is mapped).
fn not_a_ring(file: &File, size: u64) -> Result<Option<&'static str>> {
    use std::os::unix::fs::FileExt;
    if size == 0 {
        return Ok(None); // a creator killed before reserving
    }
    if size < HEADER_SIZE {
        return Ok(Some("object smaller than a ring header"));
    }
    let mut magic = [0u8; 8];
    file.read_exact_at(&mut magic, 0)
        .map_err(|source| Error::Io { op: "pread", source })?;
    let magic = u64::from_ne_bytes(magic);
    // 0: a creator killed before writing the header.
    Ok((magic != 0 && magic != crate::layout::MAGIC).then_some("bad magic number"))
}

/// Removes the object `name` unless it is in use (see the module docs for the protocol):
/// live endpoints or a live creator still initialising it are [`Error::InUse`] unless
/// `force`. A ring whose endpoints all died, and a dead creator's half-made object, are
/// removed without `force`. Processes that have it mapped keep using it.
///
/// # Errors
///
/// [`Error::NotFound`] if there is no such object, or it was removed (and maybe created
/// again) while we waited for another cleaner; [`Error::Busy`] (`"cleaner"`) if another
/// cleaner held the object for [`CLEANUP_WAIT`]; [`Error::InUse`]; [`Error::NotARing`] for an
/// object that cannot be a ring (unless `force`); [`Error::PermissionDenied`].
///
/// # Examples
///
/// ```
/// use ipcring::{Error, Ring, RingOptions};
/// let name = format!("ipcring-doc-shm-remove-{}", std::process::id());
/// let ring = Ring::create(&name, &RingOptions::new())?;
/// let tx = ring.sender()?;
/// assert!(matches!(ipcring::shm::remove(&name, false), Err(Error::InUse { endpoints: 1, .. })));
/// drop(tx);
/// ipcring::shm::remove(&name, false)?;
/// assert!(matches!(ipcring::shm::remove(&name, false), Err(Error::NotFound)));
/// # Ok::<(), ipcring::Error>(())
/// ```
pub fn remove(name: &str, force: bool) -> Result<()> {
    let cname = validate_name(name)?;
    // SAFETY: cname is a valid C string; O_NOFOLLOW refuses a symlink. Read-write, because
    // the locks below are write locks.
    let fd = unsafe { libc::shm_open(cname.as_ptr(), libc::O_RDWR | libc::O_NOFOLLOW | libc::O_CLOEXEC, 0) };
    if fd < 0 {
        return Err(Error::last_os("shm_open"));
    }
    // SAFETY: fd was just returned by shm_open and is owned by nobody else.
    let file = unsafe { File::from_raw_fd(fd) };
    failpoint::hit(failpoint::CLEANUP_AFTER_OPEN);
    let meta = file.metadata().map_err(|source| Error::Io { op: "fstat", source })?;
    if !meta.file_type().is_file() {
        return Err(Error::NotARing {
            reason: "not a regular file",
        });
    }
    // 1. The cleanup lock, waiting (bounded) for another cleaner.
    let deadline = crate::wait::Timeout::after(CLEANUP_WAIT);
    let mut pause = Duration::from_micros(100);
    while !try_lock(fd, CLEANUP_LOCK_BYTE)? {
        crate::wait::nap(pause, &deadline).map_err(|_| Error::Busy { role: "cleaner" })?;
        pause = (pause * 2).min(Duration::from_millis(10));
    }
    // 2. Still the object the name names? If not, a cleaner removed it while we waited.
    if !same_object(&cname, &file)? {
        return Err(Error::NotFound);
    }
    // 3. Alive? The init lock is taken (not only asked about) so that a creator that has
    //    not locked it yet fails instead of initialising an object we remove.
    let initialising = !try_lock(fd, INIT_LOCK_BYTE)?;
    let mut endpoints = 0u32;
    for byte in 0..MAX_ENDPOINTS {
        if lock::held_by_other(fd, byte)? {
            endpoints += 1;
        }
    }
    let not_ring = not_a_ring(&file, file_size(&file)?)?;
    failpoint::hit(failpoint::CLEANUP_AFTER_CHECK);
    if !force {
        if let Some(reason) = not_ring {
            return Err(Error::NotARing { reason });
        }
        if endpoints > 0 || initialising {
            return Err(Error::InUse {
                endpoints,
                initialising,
            });
        }
    }
    failpoint::hit(failpoint::CLEANUP_BEFORE_UNLINK);
    // SAFETY: cname is a valid C string.
    if unsafe { libc::shm_unlink(cname.as_ptr()) } != 0 {
        return Err(Error::last_os("shm_unlink"));
    }
    failpoint::hit(failpoint::CLEANUP_AFTER_UNLINK);
    // Closing `file` releases both locks.
    Ok(())
}

/// Removes the object `name` (existing mappings stay valid until closed), whatever it is and
/// whoever uses it, without the cleanup lock: prefer [`remove`].
///
/// # Examples
///
/// ```
/// assert!(matches!(ipcring::shm::unlink("ipcring-doc-no-such-ring"), Err(ipcring::Error::NotFound)));
/// ```
pub fn unlink(name: &str) -> Result<()> {
    let cname = validate_name(name)?;
    // SAFETY: cname is a valid C string.
    if unsafe { libc::shm_unlink(cname.as_ptr()) } != 0 {
        return Err(Error::last_os("shm_unlink"));
    }
    Ok(())
}
