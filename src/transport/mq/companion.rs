//! The companion file beside each queue: the OFD locks that say which ends are attached
//! and alive, the markers that say which have ever attached, and its setup.

use super::*;

/// One `fcntl` lock command on one byte; returns the `flock` as the kernel left it.
pub(super) fn ofd_lock(fd: RawFd, byte: usize, cmd: libc::c_int, kind: libc::c_int) -> io::Result<libc::flock> {
    // SAFETY: flock is plain data; zero is a valid starting value.
    let mut fl: libc::flock = unsafe { std::mem::zeroed() };
    fl.l_type = kind as libc::c_short;
    fl.l_whence = libc::SEEK_SET as libc::c_short;
    fl.l_start = byte as libc::off_t;
    fl.l_len = 1;
    fl.l_pid = 0; // required by OFD locks
    retry_eintr(|| {
        crate::sys::count::one();
        // SAFETY: fd is an open descriptor we own; fl is a valid flock for the call.
        if unsafe { libc::fcntl(fd, cmd, &mut fl) } != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    })?;
    Ok(fl)
}

/// One endpoint's description of the companion file: it holds the endpoint's lock and is
/// used to ask about the other role. Dropping it closes it and releases the lock.
#[derive(Debug)]
pub(super) struct Lock {
    fd: OwnedFd,
    role: Role,
    /// Whether a peer has ever attached (cached once seen: the marker only goes back to 0
    /// when the queue is replaced).
    peer_seen: bool,
}

/// The companion's mode: the queue's classes, each widened to read and write.
pub(super) fn companion_mode(queue_mode: u32) -> libc::mode_t {
    let mut m = 0;
    for class in [0o600, 0o060, 0o006] {
        if queue_mode & class != 0 {
            m |= class;
        }
    }
    m as libc::mode_t
}

/// Opens the companion at `path` (creating it with `mode` if missing) as a new open file
/// description, checking it is a regular file.
pub(super) fn open_companion_fd(path: &CString, mode: libc::mode_t) -> Result<OwnedFd> {
    let base = libc::O_RDWR | libc::O_NOFOLLOW | libc::O_CLOEXEC | libc::O_NONBLOCK;
    let open = |flags: libc::c_int| -> io::Result<OwnedFd> {
        retry_eintr(|| {
            // SAFETY: path is a valid C string; the mode argument is read with O_CREAT only.
            let fd = unsafe { libc::open(path.as_ptr(), flags, mode as libc::c_uint) };
            if fd < 0 {
                return Err(io::Error::last_os_error());
            }
            // SAFETY: open just returned fd; nothing else owns it.
            Ok(unsafe { OwnedFd::from_raw_fd(fd) })
        })
    };
    let map = |e: io::Error| match e.raw_os_error() {
        Some(libc::ELOOP) => SYMLINK,
        Some(libc::EISDIR) | Some(libc::ENXIO) => NOT_REGULAR,
        _ => Error::from_io("open (mq companion)", e),
    };
    let fd = loop {
        match open(base | libc::O_CREAT | libc::O_EXCL) {
            Ok(fd) => {
                // SAFETY: fd is the file we just created.
                if unsafe { libc::fchmod(fd.as_raw_fd(), mode) } != 0 {
                    return Err(Error::last_os("fchmod (mq companion)"));
                }
                break fd;
            }
            Err(e) if e.raw_os_error() == Some(libc::EEXIST) => match open(base) {
                Ok(fd) => break fd,
                // Removed in between: create it again.
                Err(e) if e.raw_os_error() == Some(libc::ENOENT) => continue,
                Err(e) => return Err(map(e)),
            },
            Err(e) => return Err(map(e)),
        }
    };
    if fstat(fd.as_raw_fd())?.st_mode & libc::S_IFMT != libc::S_IFREG {
        return Err(NOT_REGULAR);
    }
    Ok(fd)
}

/// Under the setup lock, checks that the companion belongs to the queue `ident`
/// (inode, device), initialising it if it is new or belongs to a replaced queue.
pub(super) fn setup_companion(fd: RawFd, ident: (u64, u64)) -> Result<()> {
    ofd_lock(fd, SETUP_BYTE, libc::F_OFD_SETLKW, libc::F_WRLCK).map_err(|source| Error::Io {
        op: "fcntl(F_OFD_SETLKW) (mq companion)",
        source,
    })?;
    let result = (|| {
        let mut head = [0u8; COMPANION_LEN];
        let n = pread_exact(fd, &mut head, 0).map_err(|e| Error::from_io("pread (mq companion)", e))?;
        let size = fstat(fd)?.st_size;
        let fresh = |head: &mut [u8; COMPANION_LEN]| {
            *head = [0; COMPANION_LEN];
            head[8..16].copy_from_slice(MAGIC);
            head[16..24].copy_from_slice(&ident.0.to_le_bytes());
            head[24..32].copy_from_slice(&ident.1.to_le_bytes());
            pwrite_all(fd, head, 0).map_err(|e| Error::from_io("pwrite (mq companion)", e))
        };
        if n == 0 && size == 0 {
            return fresh(&mut head);
        }
        if n != COMPANION_LEN || size != COMPANION_LEN as libc::off_t || &head[8..16] != MAGIC {
            return Err(NOT_OURS);
        }
        if head[2] > 1 || head[3] > 1 {
            return Err(Error::Corrupted {
                what: "mq companion file: a marker byte is neither 0 nor 1",
            });
        }
        let ino = u64::from_le_bytes(head[16..24].try_into().expect("8 bytes"));
        let dev = u64::from_le_bytes(head[24..32].try_into().expect("8 bytes"));
        if (ino, dev) != ident {
            // Left by a queue of the same name that has been replaced: start afresh.
            return fresh(&mut head);
        }
        Ok(())
    })();
    let unlocked = ofd_lock(fd, SETUP_BYTE, libc::F_OFD_SETLK, libc::F_UNLCK);
    result?;
    unlocked.map_err(|source| Error::Io {
        op: "fcntl(F_OFD_SETLK) (mq companion)",
        source,
    })?;
    Ok(())
}

impl Lock {
    /// Opens the companion of the queue `q` (creating or reinitialising it as needed) and
    /// attaches as `role`: takes the role's lock, then sets its marker.
    pub(super) fn attach(path: &CString, q: &Mqd, role: Role) -> Result<Lock> {
        let st = fstat(q.raw())?;
        let fd = open_companion_fd(path, companion_mode(st.st_mode & 0o777))?;
        setup_companion(fd.as_raw_fd(), (st.st_ino, st.st_dev))?;
        Lock::take(fd, role)
    }

    /// Takes `role`'s lock through `fd` (a new description), then sets the role's marker.
    pub(super) fn take(fd: OwnedFd, role: Role) -> Result<Lock> {
        ofd_lock(fd.as_raw_fd(), role.lock_byte(), libc::F_OFD_SETLK, libc::F_RDLCK).map_err(|source| Error::Io {
            op: "fcntl(F_OFD_SETLK) (mq companion)",
            source,
        })?;
        pwrite_all(fd.as_raw_fd(), &[1], role.marker_byte()).map_err(|e| Error::from_io("pwrite (mq companion)", e))?;
        Ok(Lock {
            fd,
            role,
            peer_seen: false,
        })
    }

    /// Another description of the same file (the same inode, even if the path has been
    /// unlinked or replaced since), attached as the same role.
    pub(super) fn try_clone(&self) -> Result<Lock> {
        let path = CString::new(format!("/proc/self/fd/{}", self.fd.as_raw_fd())).expect("no NUL in a number");
        let flags = libc::O_RDWR | libc::O_CLOEXEC | libc::O_NONBLOCK;
        // SAFETY: path is a valid C string; no O_CREAT, so no mode.
        let fd = unsafe { libc::open(path.as_ptr(), flags) };
        if fd < 0 {
            return Err(Error::last_os("open /proc/self/fd (mq companion)"));
        }
        // SAFETY: open just returned fd; nothing else owns it.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        let (a, b) = (fstat(fd.as_raw_fd())?, fstat(self.fd.as_raw_fd())?);
        if (a.st_ino, a.st_dev) != (b.st_ino, b.st_dev) {
            return Err(Error::Unsupported {
                what: "cloning an mq:// endpoint without /proc/self/fd",
            });
        }
        let mut lock = Lock::take(fd, self.role)?;
        lock.peer_seen = self.peer_seen;
        Ok(lock)
    }

    /// Whether every peer has gone: one has attached once and none holds its lock now.
    pub(super) fn peers_gone(&mut self) -> Result<bool> {
        let peer = self.role.peer();
        let fd = self.fd.as_raw_fd();
        if !self.peer_seen {
            let mut b = [0u8; 1];
            let n =
                pread_exact(fd, &mut b, peer.marker_byte()).map_err(|e| Error::from_io("pread (mq companion)", e))?;
            match (n, b[0]) {
                (0, _) | (1, 0) => return Ok(false),
                (1, 1) => self.peer_seen = true,
                _ => {
                    return Err(Error::Corrupted {
                        what: "mq companion file: a marker byte is neither 0 nor 1",
                    })
                }
            }
        }
        // This description locks only our own role's byte, so it can ask about the peer's.
        let fl = ofd_lock(fd, peer.lock_byte(), libc::F_OFD_GETLK, libc::F_WRLCK).map_err(|source| Error::Io {
            op: "fcntl(F_OFD_GETLK) (mq companion)",
            source,
        })?;
        match fl.l_type as libc::c_int {
            libc::F_UNLCK => Ok(true),
            libc::F_RDLCK | libc::F_WRLCK => Ok(false),
            _ => Err(Error::Corrupted {
                what: "fcntl(F_OFD_GETLK) returned an unknown lock type",
            }),
        }
    }
}
