//! Who is attached to a ring, decided by the kernel rather than by PIDs or timeouts.
//!
//! Every `Sender` and `Receiver` owns an entry of the header's endpoint table. On a shared
//! region the entry is held by an OFD (open file description) lock on byte `index` of the
//! region's file, taken through a file description of the endpoint's own (a fresh
//! `open("/proc/self/fd/N")`). The kernel releases the lock when the last descriptor of that
//! description closes: at `close`, or at the death of every process holding it. So:
//!
//! - a crashed process's endpoints are free at once, with no PID involved (a recycled PID
//!   cannot look alive, a SIGSTOPped process still holds its lock and is alive);
//! - after `fork` the child shares the parent's description, so closing an inherited handle in
//!   one process does not detach the other's (the `pipe(2)` behaviour `pair` relies on).
//!
//! The entry's `role`, `pid` and `generation` fields describe the holder; they are only
//! meaningful while the lock is held. An in-process (heap) ring has no file: its entries are
//! claimed with a compare-and-swap on `role` and freed on close.
//!
//! # Close or death
//!
//! The entry's `state` word tells a clean close from a death: attach writes "attached", a
//! clean close writes "closed" *before* it releases the lock, so a lock released over
//! "attached" is a holder that died. Whoever notices first (a scan that finds the lock free,
//! or the next attach to take the entry) turns it into "dead" with a compare-and-swap on the
//! whole word (which carries the holder's generation, so a new holder's word is never taken
//! for the old one's) and counts the death once in the header's per-role `*_died` counter.
//! Each attach also bumps a per-role `*_attached` counter. An end snapshots both at its own
//! attach (`Marks`), and so knows whether a peer came, or died, during its life even if it
//! never saw it alive (`ring::peers`). After `fork`, only the process that attached an
//! endpoint marks it closed: a child that drops an inherited copy leaves the mark alone (so
//! the attacher's later death still counts), and once the attacher has closed cleanly, a
//! child that still holds a copy ends it cleanly whether it closes or exits (a child that
//! *uses* an inherited end and is then killed is not told from one that closed).

use crate::error::{Error, Result};
use crate::layout::{EndpointEntry, Kind, RawRing, MAX_ENDPOINTS};
use crate::sync::Ordering;
use crate::sys::lock;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

/// The role of an endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub enum Role {
    /// A sender.
    Sender = 1,
    /// A receiver.
    Receiver = 2,
}

/// `state` status: held by a live attachment (or by one that died, until noticed).
const ST_ATTACHED: u32 = 1;
/// `state` status: closed cleanly.
const ST_CLOSED: u32 = 2;
/// `state` status: found dead and counted.
const ST_DEAD: u32 = 3;

fn state_word(generation: u32, status: u32) -> u32 {
    (generation << 2) | status
}

impl Role {
    fn ever_bit(self) -> u32 {
        self as u32
    }
    /// The other side.
    pub fn peer(self) -> Role {
        match self {
            Role::Sender => Role::Receiver,
            Role::Receiver => Role::Sender,
        }
    }
    fn from_raw(v: u32) -> Option<Role> {
        match v {
            1 => Some(Role::Sender),
            2 => Some(Role::Receiver),
            _ => None,
        }
    }
    /// The header's attach and death counters of this role.
    fn counters(self, ring: &RawRing) -> (&crate::sync::AtomicU32, &crate::sync::AtomicU32) {
        let id = &ring.header().id.0;
        match self {
            Role::Sender => (&id.senders_attached, &id.senders_died),
            Role::Receiver => (&id.receivers_attached, &id.receivers_died),
        }
    }
    /// The word used in errors.
    pub fn name(self) -> &'static str {
        match self {
            Role::Sender => "sender",
            Role::Receiver => "receiver",
        }
    }
}

/// One attachment: the table index, its generation, and (on a shared region) the file
/// description that holds its lock.
#[derive(Debug)]
pub struct Endpoint {
    index: usize,
    generation: u32,
    role: Role,
    lock: Option<OwnedFd>,
    /// The attaching process: only its close marks the entry closed.
    pid: u32,
}

impl Endpoint {
    /// The owner id recorded in slots this endpoint claims: `index << 24 | generation`.
    pub fn owner_id(&self) -> u32 {
        ((self.index as u32) << 24) | (self.generation & 0x00ff_ffff)
    }
    /// The index of this endpoint's entry in the table.
    pub fn index(&self) -> usize {
        self.index
    }
}

fn entry(ring: &RawRing, i: usize) -> &EndpointEntry {
    &ring.header().endpoints[i]
}

/// Opens a new file description of the region's file, independent of `base_fd`'s.
fn reopen(base_fd: RawFd) -> Result<OwnedFd> {
    let path = std::ffi::CString::new(format!("/proc/self/fd/{base_fd}")).expect("no NUL in a number");
    // SAFETY: path is a valid C string; the flags ask for a new description, close-on-exec.
    let fd = unsafe { libc::open(path.as_ptr(), libc::O_RDWR | libc::O_CLOEXEC) };
    if fd < 0 {
        return Err(Error::last_os("open /proc/self/fd (endpoint lock)"));
    }
    // SAFETY: fd was just returned by open and is owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Attaches an endpoint of `role` to `ring`. `base_fd` is the region's file on a shared
/// region (`None` for a heap ring). On SPSC the sender always uses entry 0 and the receiver
/// entry 1, so a second one of either is `Busy`.
pub fn attach(ring: &RawRing, base_fd: Option<RawFd>, role: Role) -> Result<Endpoint> {
    // MPMC endpoints write their claim records (32-byte entries) at every claim, so the
    // first MAX_ENDPOINTS / 2 to attach take the even entries, one per 64-byte cache line,
    // and only the rest share lines: a producer and a consumer never share one in the usual
    // case. (SPSC endpoints record nothing.)
    let candidates: Box<dyn Iterator<Item = usize>> = match ring.geom().kind {
        Kind::Spsc => Box::new(core::iter::once(if role == Role::Sender { 0 } else { 1 })),
        Kind::Mpmc => Box::new((0..MAX_ENDPOINTS).step_by(2).chain((1..MAX_ENDPOINTS).step_by(2))),
    };
    let lock = match base_fd {
        Some(fd) => Some(reopen(fd)?),
        None => None,
    };
    for i in candidates {
        let e = entry(ring, i);
        let claimed = match &lock {
            Some(fd) => lock::try_take(fd.as_raw_fd(), i, lock::Mode::Write)?,
            None => e
                .role
                .compare_exchange(0, role as u32, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok(),
        };
        if !claimed {
            continue;
        }
        let generation = e.generation.load(Ordering::Relaxed).wrapping_add(1);
        e.generation.store(generation, Ordering::Relaxed);
        // The previous holder left the word "attached": it died, and nobody has counted it
        // yet (a scan that did turned the word to "dead" first).
        let old_role = e.role.load(Ordering::Relaxed);
        let old = e.state.swap(state_word(generation, ST_ATTACHED), Ordering::AcqRel);
        if old & 3 == ST_ATTACHED {
            if let Some(r) = Role::from_raw(old_role) {
                r.counters(ring).1.fetch_add(1, Ordering::AcqRel);
            }
        }
        e.pid.store(std::process::id(), Ordering::Relaxed);
        // A fresh holder has claimed nothing (the previous holder's record must not make a
        // stuck slot look owned by us, nor hide it: it was dead or closed).
        e.claim_lo.store(0, Ordering::Relaxed);
        e.claim_hi.store(0, Ordering::Relaxed);
        e.role.store(role as u32, Ordering::Release);
        let id = &ring.header().id.0;
        role.counters(ring).0.fetch_add(1, Ordering::AcqRel);
        id.ever.fetch_or(role.ever_bit(), Ordering::AcqRel);
        id.epoch.fetch_add(1, Ordering::AcqRel);
        return Ok(Endpoint {
            index: i,
            generation,
            role,
            lock,
            pid: std::process::id(),
        });
    }
    Err(match ring.geom().kind {
        Kind::Spsc => Error::Busy { role: role.name() },
        Kind::Mpmc => Error::TooManyEndpoints,
    })
}

/// Detaches `ep` cleanly: marks the entry closed (in the process that attached it, see the
/// module docs), releases this process's hold on the entry (the lock goes when the last
/// process sharing the description closes it) and bumps the epoch so peers recount.
/// `base_fd` is the region's file on a shared region (as for [`attach`]).
pub fn detach(ring: &RawRing, base_fd: Option<RawFd>, ep: Endpoint) {
    let e = entry(ring, ep.index);
    if ep.pid == std::process::id() {
        // Only over our own word: never over a later holder's.
        let _ = e.state.compare_exchange(
            state_word(ep.generation, ST_ATTACHED),
            state_word(ep.generation, ST_CLOSED),
            Ordering::AcqRel,
            Ordering::Relaxed,
        );
    }
    match ep.lock {
        Some(fd) => {
            drop(fd);
            // A process that inherited the description across `fork` may still hold the
            // entry: then its holder is no longer the process recorded in `pid`, which
            // descriptor waiters must not watch (see `ring::door`). 0 says "unknown".
            if let Some(base) = base_fd {
                if matches!(lock::held_by_other(base, ep.index), Ok(true)) {
                    e.pid.store(0, Ordering::Relaxed);
                }
            }
        }
        None => {
            let _ = e
                .role
                .compare_exchange(ep.role as u32, 0, Ordering::AcqRel, Ordering::Relaxed);
        }
    }
    ring.header().id.0.epoch.fetch_add(1, Ordering::AcqRel);
}

/// Whether any endpoint of `role` is attached now. Entries of `role` found released without
/// a close mark on the way are counted as deaths (see the module docs).
pub fn any_alive(ring: &RawRing, base_fd: Option<RawFd>, role: Role) -> Result<bool> {
    for i in 0..MAX_ENDPOINTS {
        let e = entry(ring, i);
        if e.role.load(Ordering::Acquire) != role as u32 {
            continue;
        }
        // The word before the lock: a close marks it before releasing, so "attached" read
        // before a free lock is a death, unless the word moved since (the compare-and-swap).
        let st = e.state.load(Ordering::Acquire);
        if held(base_fd, i)? {
            return Ok(true);
        }
        if st & 3 == ST_ATTACHED
            && e
                .state
                .compare_exchange(st, (st & !3) | ST_DEAD, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
        {
            role.counters(ring).1.fetch_add(1, Ordering::AcqRel);
        }
    }
    Ok(false)
}

/// What an end snapshots of the other side's counters at its attach.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Marks {
    /// Attaches of the role so far.
    pub attached: u32,
    /// Deaths of the role counted so far.
    pub died: u32,
}

/// The attach and death counters of `role` now.
pub fn marks(ring: &RawRing, role: Role) -> Marks {
    let (a, d) = role.counters(ring);
    Marks {
        attached: a.load(Ordering::Acquire),
        died: d.load(Ordering::Acquire),
    }
}

/// Whether entry `i` is held by a live attachment. On a shared region: whether any file
/// description holds its lock (the kernel drops it when the holder closes or dies). On a heap
/// ring (`base_fd == None`) an entry is freed by `detach` itself, so one in use is held.
fn held(base_fd: Option<RawFd>, i: usize) -> Result<bool> {
    let Some(fd) = base_fd else {
        return Ok(true);
    };
    // Through the base description (which holds no locks): any lock held on the byte by
    // any other description.
    lock::held_by_other(fd, i)
}

/// Whether entry `i` holds an attachment of `role` in its `generation` whose claim record
/// covers position `pos` (no liveness check: that is [`live_claim_covers`]'s system call).
pub fn claim_covers(ring: &RawRing, i: usize, role: Role, generation: u32, pos: u64) -> bool {
    if i >= MAX_ENDPOINTS {
        return false;
    }
    let e = entry(ring, i);
    e.role.load(Ordering::Acquire) == role as u32
        && e.generation.load(Ordering::Acquire) == generation
        && record_covers(e, pos)
}

/// Whether `e`'s claim record covers `pos`: `pos` in `[lo, hi)`, in wrapping arithmetic. A
/// pair torn by the holder moving on to its next claim can miss `pos` only once the holder
/// has published `pos` (it records a new range only after finishing the last), which the
/// caller re-checks after the scan.
fn record_covers(e: &EndpointEntry, pos: u64) -> bool {
    let lo = e.claim_lo.load(Ordering::Acquire);
    let hi = e.claim_hi.load(Ordering::Acquire);
    pos.wrapping_sub(lo) < hi.wrapping_sub(lo)
}

/// The live endpoint of `role` that may own position `pos`, as `(entry index, generation)`:
/// its entry's claim record covers `pos` and the entry is held. `None` is certain only if the
/// caller loaded the cursor that `pos` was claimed through (with Acquire) *before* calling:
/// every claimer records its range before its claiming CAS (see `mpmc`), so that load made
/// the record visible.
pub fn live_claim_covers(ring: &RawRing, base_fd: Option<RawFd>, role: Role, pos: u64) -> Result<Option<(usize, u32)>> {
    for i in 0..MAX_ENDPOINTS {
        let e = entry(ring, i);
        if e.role.load(Ordering::Acquire) != role as u32 {
            continue;
        }
        let generation = e.generation.load(Ordering::Acquire);
        if record_covers(e, pos) && held(base_fd, i)? {
            return Ok(Some((i, generation)));
        }
    }
    Ok(None)
}

/// Whether an endpoint of `role` has ever attached to the ring.
pub fn ever_attached(ring: &RawRing, role: Role) -> bool {
    ring.header().id.0.ever.load(Ordering::Acquire) & role.ever_bit() != 0
}

/// The ring's attach/close epoch.
#[inline]
pub fn epoch(ring: &RawRing) -> u32 {
    ring.header().id.0.epoch.load(Ordering::Acquire)
}

/// The live endpoints of `role` now: `(entry index, generation, pid)` of each held entry (the
/// pid as the attaching process recorded it; see [`still_held`] before trusting it).
pub fn live(ring: &RawRing, base_fd: Option<RawFd>, role: Role) -> Result<Vec<(usize, u32, u32)>> {
    let mut out = Vec::new();
    for i in 0..MAX_ENDPOINTS {
        let e = entry(ring, i);
        if e.role.load(Ordering::Acquire) == role as u32 && held(base_fd, i)? {
            out.push((i, e.generation.load(Ordering::Acquire), e.pid.load(Ordering::Relaxed)));
        }
    }
    Ok(out)
}

/// Whether entry `i` is still held by the attachment `generation` of `role`.
pub fn still_held(ring: &RawRing, base_fd: Option<RawFd>, role: Role, i: usize, generation: u32) -> Result<bool> {
    let e = entry(ring, i);
    Ok(e.role.load(Ordering::Acquire) == role as u32
        && e.generation.load(Ordering::Acquire) == generation
        && held(base_fd, i)?)
}
