//! [`Stats`]: the counters each endpoint keeps (a leaf: it imports nothing of the crate).

/// Counters kept by one endpoint (process-local, never shared).
///
/// On fallback transports `parks` and `wakes` stay 0: the kernel does the sleeping and
/// waking inside the system calls.
///
/// # Examples
///
/// ```
/// let (mut tx, _rx) = ipcring::pair(&Default::default())?;
/// tx.send(b"x")?;
/// assert_eq!(tx.stats().messages, 1);
/// # Ok::<(), ipcring::Error>(())
/// ```
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Messages sent or received.
    pub messages: u64,
    /// Payload bytes sent or received.
    pub bytes: u64,
    /// Times this endpoint went to sleep (one system call each).
    pub parks: u64,
    /// Times this endpoint woke a parked peer (one system call each, or one per sleeper with
    /// the `sem_t` backend).
    pub wakes: u64,
    /// Every system call this endpoint made on its message path: sleeps and wake-ups, peer
    /// liveness checks (OFD lock queries), and on the fallbacks each read, write, poll, queue
    /// or socket call. A busy ring makes none per message; `syscalls / messages` is the
    /// figure `ipcring bench` reports.
    pub syscalls: u64,
}

/// Field by field, for totals over several endpoints.
impl std::ops::Add for Stats {
    type Output = Stats;
    fn add(self, o: Stats) -> Stats {
        Stats {
            messages: self.messages.wrapping_add(o.messages),
            bytes: self.bytes.wrapping_add(o.bytes),
            parks: self.parks.wrapping_add(o.parks),
            wakes: self.wakes.wrapping_add(o.wakes),
            syscalls: self.syscalls.wrapping_add(o.syscalls),
        }
    }
}

/// Field by field, saturating at 0: what happened between two snapshots of one endpoint.
///
/// # Examples
///
/// ```
/// let (mut tx, _rx) = ipcring::pair(&Default::default())?;
/// tx.send(b"a")?;
/// let before = tx.stats();
/// tx.send(b"bc")?;
/// let delta = tx.stats() - before;
/// assert_eq!((delta.messages, delta.bytes), (1, 2));
/// # Ok::<(), ipcring::Error>(())
/// ```
impl std::ops::Sub for Stats {
    type Output = Stats;
    fn sub(self, o: Stats) -> Stats {
        Stats {
            messages: self.messages.saturating_sub(o.messages),
            bytes: self.bytes.saturating_sub(o.bytes),
            parks: self.parks.saturating_sub(o.parks),
            wakes: self.wakes.saturating_sub(o.wakes),
            syscalls: self.syscalls.saturating_sub(o.syscalls),
        }
    }
}
