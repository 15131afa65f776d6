//! Shared regions: create / open of POSIX shared-memory objects, anonymous
//! (memfd) regions for rings shared across `fork`, size checks and mapping (memmap2 over the
//! object's file descriptor).
//!
//! - Names are validated before any system call (see `region::name`).
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
//! [`INIT_LOCK_BYTE`](super::INIT_LOCK_BYTE) (64; bytes `0..MAX_ENDPOINTS` are the endpoint locks) of the object, and
//! releases it only after publishing READY. The kernel releases it if the creator dies. So an
//! opener that finds the object not READY, with a size (the creator reserves the memory after
//! taking the lock) and the init lock free, knows that no creator is at work on it any more:
//! [`Error::CreatorDied`](crate::error::Error::CreatorDied), at once instead of after the open timeout. A zero-size object with
//! a free lock may be a creator in its first microseconds (between `shm_open` and `fcntl`),
//! so that one is waited for as before ([`Error::NotReady`](crate::error::Error::NotReady) at the timeout).
//!
//!
//! Removing regions is `region::cleanup`'s business.

use super::cleanup::{file_size, remove_own, try_lock, INIT_LOCK_BYTE};
use super::name::validate_name;
use crate::error::{Error, Result};
use crate::failpoint;
use crate::layout::{Geometry, Header, RawRing, HEADER_SIZE, INIT_READY};
use crate::sync::Ordering;
use crate::sys::lock;
use memmap2::{MmapOptions, MmapRaw};
use std::ffi::CString;
use std::fs::File;
use std::os::fd::{AsRawFd, FromRawFd, RawFd};
use std::time::{Duration, Instant};

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
            option: "perm",
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
/// left behind; if a concurrent [`remove`](super::remove) took the fresh object for an abandoned one (it
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

/// Opens the object `name`: refuses it (`PermissionDenied`) if its mode lets group or others
/// write more than `perm` (the opener's own `perm` / `mode`) allows, waits up to `timeout`
/// for its creator's READY mark, validates the header (magic, ABI version, layout hash,
/// sizes) against the object's real size, and maps it.
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
        return Err(Error::PermissionDenied { object: String::new() });
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
        crate::wait::nap(pause, &crate::timeout::Timeout::Forever)?;
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
