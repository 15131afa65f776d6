//! Removing named regions: [`remove`] (careful) and [`unlink`] (unconditional), the
//! cleanup and init lock bytes, and a creator's own way out ([`remove_own`]).
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

use super::name::{validate_name, SHM_DIR};
use crate::error::{Error, Result};
use crate::failpoint;
use crate::layout::{HEADER_SIZE, MAX_ENDPOINTS};
use crate::sys::lock;
use std::ffi::CString;
use std::fs::File;
use std::os::fd::{AsRawFd, FromRawFd, RawFd};
use std::time::Duration;

/// The byte of a named ring's object that its creator write-locks (OFD) from just after
/// `shm_open` until READY is published (see `region::shm`'s module docs).
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
pub(super) fn try_lock(fd: RawFd, byte: usize) -> Result<bool> {
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
pub(super) fn remove_own(cname: &CString, file: &File) {
    if matches!(try_lock(file.as_raw_fd(), CLEANUP_LOCK_BYTE), Ok(false)) {
        return; // a cleaner is at it
    }
    if same_object(cname, file).unwrap_or(false) {
        // SAFETY: cname is a valid C string; the name is still our object.
        unsafe { libc::shm_unlink(cname.as_ptr()) };
    }
}

pub(super) fn file_size(file: &File) -> Result<u64> {
    file.metadata()
        .map(|m| m.len())
        .map_err(|source| Error::Io { op: "fstat", source })
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
pub fn remove(name: &str, force: bool) -> Result<()> {
    // A doorbell named by itself (as `ipcring ls` lists one whose ring is gone): removed
    // unless its ring is there (then the ring's removal takes it).
    if let Some(ring) = super::bell::ring_of(name.trim_start_matches('/')) {
        validate_name(ring)?;
        if std::path::Path::new(super::SHM_DIR).join(ring.trim_start_matches('/')).exists() {
            return Err(Error::InUse {
                endpoints: 0,
                initialising: false,
            });
        }
        return super::bell::unlink_one(name);
    }
    let cname = validate_name(name)?;
    // SAFETY: cname is a valid C string; O_NOFOLLOW refuses a symlink. Read-write, because
    // the locks below are write locks.
    let fd = unsafe { libc::shm_open(cname.as_ptr(), libc::O_RDWR | libc::O_NOFOLLOW | libc::O_CLOEXEC, 0) };
    if fd < 0 {
        let err = Error::last_os("shm_open");
        // The ring is gone: its doorbells, if left, go now.
        if matches!(err, Error::NotFound { .. }) && super::bell::unlink_both(name) {
            return Ok(());
        }
        return Err(err);
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
    let deadline = crate::timeout::Timeout::after(CLEANUP_WAIT);
    let mut pause = Duration::from_micros(100);
    while !try_lock(fd, CLEANUP_LOCK_BYTE)? {
        crate::wait::nap(pause, &deadline).map_err(|_| Error::Busy { role: "cleaner" })?;
        pause = (pause * 2).min(Duration::from_millis(10));
    }
    // 2. Still the object the name names? If not, a cleaner removed it while we waited.
    if !same_object(&cname, &file)? {
        return Err(Error::NotFound { object: String::new() });
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
    super::bell::unlink_both(name);
    // Closing `file` releases both locks.
    Ok(())
}

/// Removes the object `name` (existing mappings stay valid until closed), whatever it is and
/// whoever uses it, without the cleanup lock: prefer [`remove`].
pub fn unlink(name: &str) -> Result<()> {
    let cname = validate_name(name)?;
    // SAFETY: cname is a valid C string.
    let rc = unsafe { libc::shm_unlink(cname.as_ptr()) };
    let err = (rc != 0).then(|| Error::last_os("shm_unlink"));
    // The bells go too, even if the ring had gone already (they are named after it).
    super::bell::unlink_both(name);
    err.map_or(Ok(()), Err)
}

#[cfg(all(test, not(miri)))] // real sockets, pipes, shm objects or /proc: foreign calls Miri cannot run
mod examples {
    //! What the items above do, shown as tests (their module is not public API, so these
    //! are unit tests, not doc examples).


    #[test]
    fn unlink() {
        assert!(matches!(crate::region::unlink("ipcring-doc-no-such-ring"), Err(crate::error::Error::NotFound { .. })));
    }
}
