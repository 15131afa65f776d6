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

use crate::error::{Error, Result};
use crate::layout::{Geometry, Header, RawRing, HEADER_SIZE, INIT_READY};
use crate::sync::Ordering;
use memmap2::{MmapOptions, MmapRaw};
use std::ffi::CString;
use std::fs::File;
use std::os::fd::{AsRawFd, FromRawFd, RawFd};
use std::time::{Duration, Instant};

/// The longest name accepted, not counting the leading `/`.
pub const MAX_NAME_LEN: usize = 250;

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
/// the fresh (zeroed) ring, which must publish READY last. On failure nothing is left behind.
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
    let built = (|| {
        // SAFETY: fd is open; fchmod sets the exact mode regardless of the umask.
        if unsafe { libc::fchmod(file.as_raw_fd(), mode) } != 0 {
            return Err(Error::last_os("fchmod"));
        }
        reserve(&file, geom.region_size)?;
        let map = map(&file, geom.region_size)?;
        let region = ShmRegion {
            map,
            file,
            geom: *geom,
            name: Some(cname.clone()),
        };
        init(&region.raw())?;
        Ok(region)
    })();
    if built.is_err() {
        // SAFETY: cname is a valid C string; we created this object just now.
        unsafe { libc::shm_unlink(cname.as_ptr()) };
    }
    built
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
        if size >= HEADER_SIZE {
            let head = map(&file, HEADER_SIZE)?;
            // SAFETY: the mapping is HEADER_SIZE >= size_of::<Header>() bytes, page-aligned,
            // and every Header field is an atomic or plain bytes, valid for any content.
            let h = unsafe { &*(head.as_ptr() as *const Header) };
            if h.id.0.init.load(Ordering::Acquire) == INIT_READY {
                break (Geometry::from_header(h, size)?, size);
            }
            if h.id.0.magic.load(Ordering::Relaxed) != 0 && h.id.0.magic.load(Ordering::Relaxed) != crate::layout::MAGIC
            {
                return Err(Error::NotARing {
                    reason: "bad magic number",
                });
            }
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

/// Removes the object `name` (existing mappings stay valid until closed).
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
