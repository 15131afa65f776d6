//! The doorbells of a named ring: two FIFOs beside the shared-memory object, which the
//! handles' descriptors (`AsFd`, `ipcring_fd`) listen on.
//!
//! `/dev/shm/NAME.bell-rx` is the bell the receivers listen on (rung when a message or an
//! ending makes a receive possible), `/dev/shm/NAME.bell-tx` the one the senders listen on
//! (room, or the receivers gone). They are reached by name, so unrelated processes need pass
//! no descriptors; they are made with the ring (by the first process that maps it, if an
//! older one did not), with the ring's own permission bits (read off the object, so 0600
//! unless the creator asked otherwise), and every process opens both when it maps the ring,
//! so a ring unlinked while in use keeps them; they are removed with the ring ([`super::remove`], [`super::unlink`]; `ipcring rm`)
//! and listed with it (`ipcring ls`, `ipcring stat`). A FIFO holds no state worth keeping:
//! a bell removed while in use costs its listeners a missed ring until they reopen, never a
//! wrong message. Names ending in one of [`SUFFIXES`] are therefore not ring names.

use crate::error::Result;
use std::ffi::CString;
use std::os::fd::OwnedFd;

/// The two suffixes, in the order (receivers' bell, senders' bell).
pub const SUFFIXES: [&str; 2] = [".bell-rx", ".bell-tx"];

/// Which bell: the one receivers listen on (`false`) or the one senders listen on (`true`).
fn path(shm_name: &str, senders: bool) -> CString {
    let bare = shm_name.trim_start_matches('/');
    let suffix = SUFFIXES[senders as usize];
    CString::new(format!("{}/{bare}{suffix}", super::SHM_DIR)).expect("names hold no NUL")
}

/// What a bell is made for: the ring's permission bits and its object's identity
/// (`st_dev`, `st_ino`).
#[derive(Debug, Clone, Copy)]
pub struct Make {
    /// Permission bits of the ring (the bell gets the same).
    pub mode: u32,
    /// The ring object's device.
    pub dev: u64,
    /// The ring object's inode.
    pub ino: u64,
}

/// Opens (and, with `make`, makes if missing) the bell of the ring `shm_name` (`/NAME`) that
/// senders (`senders`) or receivers listen on: a non-blocking descriptor for reading and
/// ringing (see `sys::ready::fifo_open`). A bell made for a ring that is no longer the one
/// under the name (it was removed meanwhile) is unlinked again at once, so that no bell is
/// left behind: a remover unlinks the ring first and then its bells, so either it removes
/// ours or we see the ring gone.
pub fn open(shm_name: &str, senders: bool, make: Option<Make>) -> Result<OwnedFd> {
    let p = path(shm_name, senders);
    let fd = crate::sys::ready::fifo_open(&p, make.map(|m| m.mode))?;
    if let Some(m) = make {
        use std::os::unix::fs::MetadataExt;
        let ring = std::path::Path::new(super::SHM_DIR).join(shm_name.trim_start_matches('/'));
        let same = std::fs::metadata(ring).is_ok_and(|md| md.dev() == m.dev && md.ino() == m.ino);
        if !same {
            // SAFETY: a valid C string; removing the name only (our descriptor stays usable).
            unsafe { libc::unlink(p.as_ptr()) };
        }
    }
    Ok(fd)
}

/// Removes both bells of `shm_name`, if they exist (after the ring's own removal); whether
/// one was there.
pub fn unlink_both(shm_name: &str) -> bool {
    let mut any = false;
    for senders in [false, true] {
        // SAFETY: the path is a valid C string; a missing file is ENOENT, ignored.
        any |= unsafe { libc::unlink(path(shm_name, senders).as_ptr()) } == 0;
    }
    any
}

/// Removes the bell named `file` (`NAME.bell-rx` or `NAME.bell-tx` in `/dev/shm`), if it is a
/// FIFO.
pub fn unlink_one(file: &str) -> Result<()> {
    use std::os::unix::fs::FileTypeExt;
    let p = std::path::Path::new(super::SHM_DIR).join(file.trim_start_matches('/'));
    match std::fs::symlink_metadata(&p) {
        Ok(m) if m.file_type().is_fifo() => {
            std::fs::remove_file(&p).map_err(|e| crate::error::Error::from_io("unlink (doorbell)", e))
        }
        Ok(_) => Err(crate::error::Error::NotARing {
            reason: "named like a doorbell but not a FIFO",
        }),
        Err(e) => Err(crate::error::Error::from_io("stat (doorbell)", e)),
    }
}

/// If `file` (a name in `/dev/shm`) is a ring's bell, the ring's name.
pub fn ring_of(file: &str) -> Option<&str> {
    SUFFIXES.iter().find_map(|s| file.strip_suffix(s)).filter(|n| !n.is_empty())
}
