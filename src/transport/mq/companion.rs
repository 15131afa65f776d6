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
/// used to ask about the other role. Dropping it counts a clean close (in the process that
/// attached it) and closes it, which releases the lock.
#[derive(Debug)]
pub(super) struct Lock {
    fd: OwnedFd,
    role: Role,
    /// The process that attached (only its drop counts as a clean close).
    pid: u32,
    /// The peer role's attach and death counters when this end attached.
    attached0: u32,
    died0: u32,
    /// A peer concerns this end (alive at its attach, attached since, or messages queued).
    concerned: bool,
    /// A sender that attached to a full queue whose receivers had all gone.
    orphan_full: bool,
    /// With a `peers_gone` verdict: a peer died since this end attached.
    died: bool,
}

/// The counter index of `what` (0 attached, 1 closed, 2 died) for `role`.
fn counter(what: usize, role: Role) -> usize {
    COUNTERS + 4 * (2 * what + role as usize)
}

/// Runs `f` under the companion's byte-4 write lock (waiting for it).
fn with_setup<T>(fd: RawFd, f: impl FnOnce() -> Result<T>) -> Result<T> {
    ofd_lock(fd, SETUP_BYTE, libc::F_OFD_SETLKW, libc::F_WRLCK).map_err(|source| Error::Io {
        op: "fcntl(F_OFD_SETLKW) (mq companion)",
        source,
    })?;
    let r = f();
    let unlocked = ofd_lock(fd, SETUP_BYTE, libc::F_OFD_SETLK, libc::F_UNLCK);
    let r = r?;
    unlocked.map_err(|source| Error::Io {
        op: "fcntl(F_OFD_SETLK) (mq companion)",
        source,
    })?;
    Ok(r)
}

fn read_u32(fd: RawFd, off: usize) -> Result<u32> {
    let mut b = [0u8; 4];
    match pread_exact(fd, &mut b, off).map_err(|e| Error::from_io("pread (mq companion)", e))? {
        4 => Ok(u32::from_le_bytes(b)),
        _ => Err(Error::Corrupted {
            what: "mq companion file: truncated counters",
        }),
    }
}

fn add_u32(fd: RawFd, off: usize, v: u32) -> Result<u32> {
    let n = read_u32(fd, off)?.wrapping_add(v);
    pwrite_all(fd, &n.to_le_bytes(), off).map_err(|e| Error::from_io("pwrite (mq companion)", e))?;
    Ok(n)
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
        let mut lock = Lock {
            fd,
            role,
            pid: std::process::id(),
            attached0: 0,
            died0: 0,
            concerned: false,
            orphan_full: false,
            died: false,
        };
        let raw = lock.fd.as_raw_fd();
        if let Err(e) = with_setup(raw, || add_u32(raw, counter(0, role), 1)) {
            lock.pid = 0; // not counted as attached: not to be counted as closed either
            return Err(e);
        }
        Ok(lock)
    }

    /// Snapshots the peer role's counters at this end's attach (see the module docs);
    /// `queued` and `capacity` are the queue's now.
    pub(super) fn snapshot(&mut self, queued: u64, capacity: u64) -> Result<()> {
        let peer = self.role.peer();
        let fd = self.fd.as_raw_fd();
        let (alive, attached, died, receivers_ever) = with_setup(fd, || {
            let alive = self.peer_alive()?;
            let died = if alive {
                read_u32(fd, counter(2, peer))?
            } else {
                self.settle_deaths(peer)?
            };
            Ok((alive, read_u32(fd, counter(0, peer))?, died, read_u32(fd, counter(0, Role::Receiver))?))
        })?;
        self.attached0 = attached;
        self.died0 = died;
        self.concerned = alive || (self.role == Role::Receiver && queued > 0);
        self.orphan_full = self.role == Role::Sender && !alive && receivers_ever != 0 && queued >= capacity;
        Ok(())
    }

    /// With no endpoint of `peer` alive (and the setup lock held): every attach of it has
    /// ended in a clean close or a death, so attaches minus closes is its deaths; records
    /// and returns that.
    fn settle_deaths(&self, peer: Role) -> Result<u32> {
        let fd = self.fd.as_raw_fd();
        let d = read_u32(fd, counter(0, peer))?.wrapping_sub(read_u32(fd, counter(1, peer))?);
        if read_u32(fd, counter(2, peer))? != d {
            pwrite_all(fd, &d.to_le_bytes(), counter(2, peer)).map_err(|e| Error::from_io("pwrite (mq companion)", e))?;
        }
        Ok(d)
    }

    /// The error for this end once `peers_gone` said yes.
    pub(super) fn ending(&self) -> Error {
        match (self.role, self.died) {
            (Role::Receiver, false) => Error::EndOfStream,
            (Role::Receiver, true) => Error::SenderDied,
            (Role::Sender, false) => Error::Disconnected,
            (Role::Sender, true) => Error::ReceiverDied,
        }
    }

    /// Whether an endpoint of the other role holds its lock now.
    fn peer_alive(&self) -> Result<bool> {
        // This description locks only our own role's byte, so it can ask about the peer's.
        let fl = ofd_lock(self.fd.as_raw_fd(), self.role.peer().lock_byte(), libc::F_OFD_GETLK, libc::F_WRLCK)
            .map_err(|source| Error::Io {
                op: "fcntl(F_OFD_GETLK) (mq companion)",
                source,
            })?;
        match fl.l_type as libc::c_int {
            libc::F_UNLCK => Ok(false),
            libc::F_RDLCK | libc::F_WRLCK => Ok(true),
            _ => Err(Error::Corrupted {
                what: "fcntl(F_OFD_GETLK) returned an unknown lock type",
            }),
        }
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
        lock.attached0 = self.attached0;
        lock.died0 = self.died0;
        lock.concerned = self.concerned;
        lock.orphan_full = self.orphan_full;
        Ok(lock)
    }

    /// Whether every peer that concerns this end has gone (see the module docs); then
    /// [`ending`](Lock::ending) says which error. One `fcntl` while a peer is alive.
    pub(super) fn peers_gone(&mut self) -> Result<bool> {
        if self.peer_alive()? {
            self.concerned = true;
            return Ok(false);
        }
        let peer = self.role.peer();
        let fd = self.fd.as_raw_fd();
        // Again under the setup lock, which attaches and closes count under: no peer is
        // between its lock and its count while we hold it.
        let verdict = with_setup(fd, || {
            if self.peer_alive()? {
                return Ok(None);
            }
            Ok(Some((read_u32(fd, counter(0, peer))?, self.settle_deaths(peer)?)))
        })?;
        let Some((attached, died)) = verdict else {
            self.concerned = true;
            return Ok(false);
        };
        self.concerned |= attached != self.attached0;
        self.died = died != self.died0;
        Ok(self.concerned || self.orphan_full)
    }
}

impl Drop for Lock {
    /// A clean close: counted (by the process that attached) before the lock goes with the
    /// description.
    fn drop(&mut self) {
        if self.pid == std::process::id() {
            let fd = self.fd.as_raw_fd();
            let _ = with_setup(fd, || add_u32(fd, counter(1, self.role), 1));
        }
    }

}
