//! The multi-producer multi-consumer ring: Dmitry Vyukov's bounded MPMC queue, as in
//! crossbeam's `ArrayQueue`, over 64-bit positions and a shared region.
//!
//! Each slot carries a sequence number `seq`, a *stamp* of the position it is ready for. Stamps
//! are twice the position, plus one when the slot is full: for the position `pos` that maps to
//! the slot,
//!
//! - `seq == 2*pos` ([`free_stamp`]): the slot is free for the producer of `pos`;
//! - `seq == 2*pos + 1` ([`full_stamp`]): it holds the message of `pos`, ready for its consumer;
//! - after consumption `seq == 2*(pos + one_lap)`: free for the producer of the next lap.
//!
//! Positions are `lap * one_lap + index` with `index < capacity` and `one_lap` the power of
//! two at or above the capacity (crossbeam's `ArrayQueue`, ABI 5), so any capacity from 1
//! works: the position after `lap * one_lap + capacity - 1` is `(lap + 1) * one_lap`, and a
//! position still wraps cleanly at 2^64 because `one_lap` divides it ([`forward`], [`dist`]).
//! With a power-of-two capacity, `one_lap == capacity` and positions are plain counts. A
//! cursor read from the region whose index is not below the capacity is `Corrupted`.
//!
//! (Vyukov's original uses `pos` and `pos + 1`, which is ambiguous when `capacity == 1`: "full
//! at `pos`" and "free for `pos + 1`" are then the same number, and a producer would overwrite
//! an unread message. crossbeam avoids it with a lap encoding; doubling is the same idea.)
//!
//! A producer claims `pos` by moving `tail` from `pos` to `pos + 1` with a CAS, writes the
//! payload and length, and publishes with a Release store of the full stamp. A consumer claims
//! by moving `head` the same way, reads, and frees the slot with the next lap's free stamp.
//! Batches claim `k` consecutive positions with one CAS.
//!
//! # Crash recovery: who owns a claimed slot
//!
//! A process killed between its claim and its publish (or, as a consumer, between its claim
//! and its release) would freeze the ring: the slot never changes again and every peer waits
//! for it. So each claimer first writes the range it is about to claim, `[claim_lo, claim_hi)`,
//! into its own endpoint entry (`EndpointEntry::claim_lo/hi`), *then* CASes the cursor (and
//! empties the record if the CAS fails). The record stays until the endpoint's next claim,
//! which comes only after it finished the last. A peer stuck on position `p`:
//!
//! 1. loads the cursor `p` was claimed through (Acquire) and sees it past `p`: the claimer's
//!    record, written before its CAS, is now visible;
//! 2. looks for a live endpoint of the claiming role whose record covers `p` (liveness is the
//!    endpoint's OFD lock, released by the kernel at death: `endpoint::live_claim_covers`);
//! 3. finds none, so the claimer is dead, and re-checks that the slot is still unfinished
//!    (a claimer that finished before dying left it finished, never half-way: the stamp is
//!    stored last).
//!
//! Then the slot is recovered (`MpmcConsumer::skip_dead_claim`: a consumer moves `head` past
//! a slot whose producer died before publishing, delivering nothing, so no torn message is
//! ever seen; `MpmcProducer::reclaim_dead_hold`: a producer frees a slot whose consumer died
//! holding it, and that one message is lost: it had been handed to the consumer that died).
//! Recording the owner *in the slot* instead could only happen after the claiming CAS, so a
//! death between the two would leave a stale owner there; the endpoint's own record is written
//! before the CAS and is never stale. Recovery runs only on the slow path, before a caller
//! sleeps, so it costs nothing while the ring moves. A claimer that is alive but stopped (or
//! a `SendSlot` leaked with `mem::forget`) holds its slot: peers wait or time out.
//! After `fork`, a child that inherited an endpoint shares its lock: the claim counts as live
//! until every process holding that endpoint has closed it or died.
//!
//! A producer that gives a claimed slot up (a reservation dropped without commit) publishes a
//! *tombstone* (`len = TOMBSTONE`): consumers free such a slot without delivering anything.
//!
//! Cursor orderings: the CASes on `tail` and `head` are AcqRel and cursor loads Acquire. The
//! algorithm itself only needs the slot stamps' Release/Acquire, but the sanity checks compare
//! the two cursors (tail - head <= capacity, head <= tail), and those comparisons are only
//! sound if a cursor value read carries the history behind it: the consumer's head move that
//! freed the slot a producer reused must be visible to any producer that reads that producer's
//! tail. With Relaxed CASes the loom model `mpmc_2x2` finds a false `Corrupted` (possible
//! on ARM, not on x86, where these orderings cost nothing extra).
//!
//! Hostile regions: a sequence number "ahead" of a cursor that has not moved, a cursor gap
//! larger than `capacity`, a cursor that is not a slot position, or a length above `msg_size`
//! poisons the ring (`Corrupted`) rather than spinning or reading out of bounds.

use crate::error::{Error, Result};
use crate::layout::{Bell, EndpointEntry, Geometry, RawRing, SlotHeader, SlotTable, MAX_ENDPOINTS, MAX_MSG_SIZE, TOMBSTONE};
use crate::sync::{orderings, Ordering};

#[cold]
#[inline(never)]
fn corrupted(ring: &RawRing, what: &'static str) -> Error {
    ring.poison();
    Error::Corrupted { what }
}

/// The stamp of a slot free for the producer of `pos`.
#[inline]
pub fn free_stamp(pos: u64) -> u64 {
    pos.wrapping_mul(2)
}

/// The stamp of a slot holding the message of `pos`.
#[inline]
pub fn full_stamp(pos: u64) -> u64 {
    pos.wrapping_mul(2) | 1
}

/// The position `k <= capacity` positions after `pos`. Positions are `lap * one_lap + index`
/// with `index < capacity` and `one_lap` the power of two at or above the capacity
/// (crossbeam's `ArrayQueue`), so that any capacity works and a position still wraps cleanly
/// at 2^64 (`one_lap` divides it); with a power-of-two capacity this is `pos + k`.
#[inline]
pub fn forward(g: &Geometry, pos: u64, k: u64) -> u64 {
    let one_lap = g.one_lap();
    if one_lap == g.capacity {
        return pos.wrapping_add(k);
    }
    let lap = pos & !(one_lap - 1);
    let i = (pos & (one_lap - 1)) + k;
    if i < g.capacity {
        lap.wrapping_add(i)
    } else {
        lap.wrapping_add(one_lap).wrapping_add(i - g.capacity)
    }
}

/// The position after `pos`.
#[inline]
pub fn next(g: &Geometry, pos: u64) -> u64 {
    forward(g, pos, 1)
}

/// The position of `pos`'s slot one lap later.
#[inline]
pub fn lap_after(g: &Geometry, pos: u64) -> u64 {
    pos.wrapping_add(g.one_lap())
}

/// The position of `pos`'s slot one lap earlier.
#[inline]
pub fn lap_before(g: &Geometry, pos: u64) -> u64 {
    pos.wrapping_sub(g.one_lap())
}

/// Whether `pos` is a position the ring can make (its index is below the capacity): checked
/// for every cursor value read from the region before it is used.
#[inline]
pub fn valid(g: &Geometry, pos: u64) -> bool {
    pos & (g.one_lap() - 1) < g.capacity
}

/// Positions from `from` to `to`, wrapping (a negative count reads as a huge one, as
/// `to - from` does with a power-of-two capacity, where this is exactly that).
#[inline]
pub fn dist(g: &Geometry, from: u64, to: u64) -> u64 {
    dist_with(g.one_lap(), g.capacity, from, to)
}

/// [`dist`] with an endpoint's cached slot table (no `one_lap` to compute).
#[inline]
fn dist_in(t: &SlotTable, from: u64, to: u64) -> u64 {
    dist_with(t.mask() + 1, t.capacity(), from, to)
}

/// [`dist`] for a ring of `capacity` slots whose laps are `one_lap` positions apart.
#[inline]
fn dist_with(one_lap: u64, capacity: u64, from: u64, to: u64) -> u64 {
    if one_lap == capacity {
        return to.wrapping_sub(from);
    }
    let mask = one_lap - 1;
    let laps = ((to & !mask).wrapping_sub(from & !mask) as i64) >> one_lap.trailing_zeros();
    (laps.wrapping_mul(capacity as i64) as u64)
        .wrapping_add(to & mask)
        .wrapping_sub(from & mask)
}

/// `tail - head` in positions if both are valid positions and `0 <= tail - head <= capacity`.
#[inline]
pub fn distance(g: &Geometry, head: u64, tail: u64) -> Option<u64> {
    let d = dist(g, head, tail);
    (valid(g, head) && valid(g, tail) && d <= g.capacity).then_some(d)
}

/// The position at `pos`, or at the start of the next lap if `pos`'s index is not below the
/// capacity (for the test hook `Ring::debug_start_at`).
pub fn position_near(g: &Geometry, pos: u64) -> u64 {
    if valid(g, pos) {
        pos
    } else {
        (pos | (g.one_lap() - 1)).wrapping_add(1)
    }
}

/// Stamps every slot free for lap 0. Called by the creator before publishing READY.
pub fn init_slots(ring: &RawRing) {
    for i in 0..ring.geom().capacity {
        ring.slot(i).seq.store(free_stamp(i), Ordering::Relaxed);
    }
}

/// Scans of a `held_up_at` before it stops waiting for the cursors to stand still.
const STABLE_SCANS: usize = 16;

/// The outcome of looking at a slot whose stamp is not the one a claim wants (`look_slow`).
enum Look {
    /// Not yet (full for a producer, empty for a consumer, or a peer mid-operation).
    Wait,
    /// The cursor moved on; retry at this position.
    Retry(u64),
}

/// The messages in the ring at this instant: published slots in `[head, tail)` that are not
/// tombstones (a snapshot; a claimed slot still being written is not a message yet, a
/// given-up reservation never is). Scans up to `capacity` slots.
pub fn messages(ring: &RawRing) -> u64 {
    let h = ring.header();
    let head = h.head.0.load(Ordering::Acquire);
    let tail = h.tail.0.load(Ordering::Acquire);
    let g = ring.geom();
    let gap = if valid(g, head) { dist(g, head, tail).min(g.capacity) } else { 0 };
    let mut p = head;
    let mut n = 0;
    for _ in 0..gap {
        let s = ring.slot(p);
        if s.seq.load(Ordering::Acquire) == full_stamp(p) && s.len.load(Ordering::Relaxed) != TOMBSTONE {
            n += 1;
        }
        p = next(g, p);
    }
    n
}

/// The position after `pos` with an endpoint's cached slot table (what [`next`] computes from
/// the geometry): `pos + 1` within a lap, else the start of the next lap. (With a power-of-two
/// capacity always `pos + 1`: a test the compiler hoists out of a batch's loops.)
#[inline]
fn step(t: &SlotTable, pos: u64) -> u64 {
    if t.mask() + 1 == t.capacity() || (pos & t.mask()) + 1 < t.capacity() {
        pos.wrapping_add(1)
    } else {
        (pos | t.mask()).wrapping_add(1)
    }
}

/// [`step`] without the power-of-two test, for the first position of a batch's claim (one
/// step, nothing to hoist).
#[inline]
fn step_one(t: &SlotTable, pos: u64) -> u64 {
    if (pos & t.mask()) + 1 < t.capacity() {
        pos.wrapping_add(1)
    } else {
        (pos | t.mask()).wrapping_add(1)
    }
}

/// [`step_one`] for a single send's or receive's claim, from a *valid* position (index below
/// the capacity: every caller checked it), for which "the next index is below the capacity"
/// is "the next index is not the capacity". The last slot of a lap is the unlikely case, out
/// of line ([`lap_end`]): a branch that is almost never taken costs fewer instructions per
/// claim than the select both cases would need. (In the batch paths, where registers are
/// scarcer, the select is the cheaper of the two: `scripts/hotpath-profile.sh` mpmc-batch.)
#[inline]
fn step_single(t: &SlotTable, pos: u64) -> u64 {
    if (pos & t.mask()) + 1 != t.capacity() {
        pos.wrapping_add(1)
    } else {
        lap_end(t, pos)
    }
}

/// The position after `pos`, the last of its lap: the start of the next lap.
#[cold]
#[inline(never)]
fn lap_end(t: &SlotTable, pos: u64) -> u64 {
    (pos | t.mask()).wrapping_add(1)
}

/// The position `k <= capacity` positions after `pos`, with the cached table ([`forward`]).
#[inline]
fn step_by(t: &SlotTable, pos: u64, k: u64) -> u64 {
    let i = (pos & t.mask()) + k;
    if i < t.capacity() {
        pos.wrapping_add(k)
    } else {
        (pos | t.mask()).wrapping_add(1).wrapping_add(i - t.capacity())
    }
}

// A tombstone is longer than any message, so one comparison with `msg_size` sends both a
// tombstone and a corrupted length off the consumer's fast path.
const _: () = assert!(TOMBSTONE as u64 > MAX_MSG_SIZE);

/// An endpoint's own claim record (`EndpointEntry::claim_lo/hi` of its entry in the region's
/// endpoint table), located once when the handle is made rather than per claim: the entry
/// index is checked against `MAX_ENDPOINTS` there, and the address, inside the header the
/// handle's [`RawRing`] points to, is kept. Nothing about it is read from the region.
#[derive(Debug, Clone, Copy)]
struct ClaimRecord(*const EndpointEntry);

// SAFETY: a pointer to atomics in the header of a region that the owner of the mapping keeps
// alive (as for RawRing, which the handle holding this also holds); all access is atomic.
unsafe impl Send for ClaimRecord {}
// SAFETY: as above.
unsafe impl Sync for ClaimRecord {}

impl ClaimRecord {
    /// The record of endpoint `entry` of `ring`. Panics if `entry` is not below
    /// `MAX_ENDPOINTS` (the index comes from `endpoint::attach`, never from the region).
    fn new(ring: &RawRing, entry: usize) -> Self {
        assert!(entry < MAX_ENDPOINTS, "endpoint index out of range");
        ClaimRecord(&ring.header().endpoints[entry])
    }

    /// The entry.
    #[inline(always)]
    fn entry(&self) -> &EndpointEntry {
        // SAFETY: `new` took the address of an element of the header's endpoint table; the
        // region outlives the handle (RawRing's contract: the mapping outlives every use of
        // the RawRing the handle holds), and the entry is only accessed through atomics.
        unsafe { &*self.0 }
    }

    /// Records `[lo, hi)` as the range this endpoint claims (before the claiming CAS).
    #[inline(always)]
    fn record(&self, lo: u64, hi: u64) {
        if !orderings::MPMC_CLAIM_RECORD {
            return;
        }
        let e = self.entry();
        e.claim_lo.store(lo, Ordering::Release);
        e.claim_hi.store(hi, Ordering::Release);
    }

    /// Empties the record after a failed claim, so that a peer stuck on the position someone
    /// else claimed does not wait for us, and rings `bell` (the side that recovers from our
    /// role's deaths parks there): such a peer may have read our record while it still
    /// covered the position and gone to sleep. (A successful claim needs no extra ring: the
    /// message it sends or frees rings the same bell.) Without this ring such a peer would
    /// still look again at its next park slice; with it, it looks at once, and loom, which
    /// does not model the slice, found the wait without it (a 2x2 variant of
    /// `mpmc_dead_hold`).
    #[cold]
    #[inline(never)]
    fn unrecord(&self, ring: &RawRing, lo: u64, bell: &Bell) {
        self.entry().claim_hi.store(lo, Ordering::Release);
        let _ = crate::wait::notify(bell, ring.geom().wake, ring.geom().fence);
    }
}

/// A producer handle. Any number may exist.
#[derive(Debug)]
pub struct MpmcProducer {
    ring: RawRing,
    /// The slot table, with the lap mask, taken from the geometry once.
    table: SlotTable,
    owner: u32,
    /// This endpoint's claim record.
    claims: ClaimRecord,
}

impl MpmcProducer {
    /// A producer attached as endpoint `entry` (an index into the endpoint table, below
    /// `MAX_ENDPOINTS`), whose claims record `owner` (its endpoint id) in the slot for display.
    pub fn new(ring: RawRing, entry: usize, owner: u32) -> Self {
        MpmcProducer {
            ring,
            table: ring.slot_table(),
            owner,
            claims: ClaimRecord::new(&ring, entry),
        }
    }

    /// Looks at the slot for `pos` (a valid value of `tail` we loaded) whose stamp `seq` is
    /// not the free stamp of `pos`: full, a consumer still on it, the tail moved on, or a
    /// hostile region. Off the fast path.
    #[cold]
    #[inline(never)]
    fn look_slow(&self, pos: u64, seq: u64) -> Result<Look> {
        let h = self.ring.header();
        // The cached table, not the geometry: a polling sender on a full ring comes here on
        // every call, and the geometry computes `one_lap` with a bit scan each time.
        let t = &self.table;
        let cap = t.capacity();
        let diff = seq.wrapping_sub(free_stamp(pos)) as i64;
        let now = h.tail.0.load(Ordering::Acquire);
        if now != pos {
            // Another producer moved the tail: start again from there.
            return Ok(Look::Retry(now));
        }
        if diff > 0 {
            // The slot claims to be ahead of a tail that has not moved.
            return Err(corrupted(&self.ring, "mpmc slot sequence ahead of the tail"));
        }
        // The slot still holds a message of the previous lap: the ring is full, or a consumer
        // has claimed the slot and not yet freed it. Either way wait, after checking that
        // the cursors make sense (head <= tail <= head + capacity).
        let head = h.head.0.load(Ordering::Acquire);
        if !t.valid(head) {
            return Err(corrupted(&self.ring, "mpmc head is not a slot position"));
        }
        let gap = dist_in(t, head, pos) as i64;
        if gap < 0 {
            // head passed our (stale) tail: producers moved on since we loaded it.
            let now = h.tail.0.load(Ordering::Acquire);
            if now == pos {
                return Err(corrupted(&self.ring, "mpmc head ahead of tail"));
            }
            return Ok(Look::Retry(now));
        }
        if gap as u64 > cap {
            return Err(corrupted(&self.ring, "mpmc tail more than capacity ahead of head"));
        }
        Ok(Look::Wait)
    }

    /// Claims up to `max` (at least 1) consecutive positions: `(first, count)` and the first's
    /// slot and payload, or `None` when the first position is not free. The tail is loaded
    /// once (again only after a lost CAS or off the fast path), the slot's stamp once.
    #[inline(always)]
    fn claim_slots(&self, max: usize, stamp: bool) -> Result<Option<(u64, usize, &SlotHeader, *mut u8)>> {
        let pos = self.ring.header().tail.0.load(Ordering::Acquire);
        self.claim_slots_at(pos, max, stamp)
    }

    /// Claims one position: the single send's fast path. The common case (a valid tail whose
    /// slot is free, and a won CAS) is straight-line code; anything else (not free, a lost
    /// CAS, a cursor that is not a slot position) goes to [`claim_slots_at`](Self::claim_slots_at)
    /// from the position last seen, out of line, which checks it all again. Keeping the
    /// retry loop and its slow-path calls out of here spares the fast path their register
    /// spills.
    #[inline(always)]
    fn claim_one(&self) -> Result<Option<(u64, &SlotHeader, *mut u8)>> {
        let t = &self.table;
        let tail = &self.ring.header().tail.0;
        let mut pos = tail.load(Ordering::Acquire);
        if t.valid(pos) {
            let (slot, payload) = t.slot(pos);
            let seq = slot.seq.load(Ordering::Acquire);
            if seq == free_stamp(pos) {
                let end = step_single(t, pos);
                self.claims.record(pos, end);
                match tail.compare_exchange_weak(pos, end, Ordering::AcqRel, Ordering::Acquire) {
                    Ok(_) => {
                        self.stamp(slot);
                        crate::failpoint::hit(crate::failpoint::SEND_AFTER_CLAIM);
                        return Ok(Some((pos, slot, payload)));
                    }
                    Err(now) => {
                        self.claims.unrecord(&self.ring, pos, &self.ring.header().data_bell);
                        pos = now;
                    }
                }
            } else {
                // Not free. The full ring a polling sender keeps finding is answered here, as
                // `look_slow` would answer it (the tail has not moved, the stamp is not ahead
                // of it, and the head is a slot position at most `capacity` behind the tail),
                // without a call; anything else goes to `claim_one_slow` from the tail as it
                // is now, whose `look_slow` retries or reports it.
                let now = tail.load(Ordering::Acquire);
                if now == pos && (seq.wrapping_sub(free_stamp(pos)) as i64) <= 0 {
                    let head = self.ring.header().head.0.load(Ordering::Acquire);
                    // `dist_in` of a head past the tail is a huge number: not `<= capacity`.
                    if t.valid(head) && dist_in(t, head, pos) <= t.capacity() {
                        return Ok(None);
                    }
                }
                pos = now;
            }
        }
        self.claim_one_slow(pos)
    }

    /// [`claim_one`](Self::claim_one) off its fast path: the general claim from `pos`.
    #[cold]
    #[inline(never)]
    fn claim_one_slow(&self, pos: u64) -> Result<Option<(u64, &SlotHeader, *mut u8)>> {
        Ok(self.claim_slots_at(pos, 1, true)?.map(|(pos, _, slot, payload)| (pos, slot, payload)))
    }

    /// [`claim_slots`](Self::claim_slots) from `pos`, a value of `tail` loaded (not yet
    /// validated). `stamp`: whether to write the claimed slots' `owner` here; `false` leaves
    /// it to a caller that touches each slot anyway before writing it ([`stamp`](Self::stamp),
    /// as `try_send_batch` does: one pass over the slots instead of two).
    #[inline(always)]
    fn claim_slots_at(
        &self,
        mut pos: u64,
        max: usize,
        stamp: bool,
    ) -> Result<Option<(u64, usize, &SlotHeader, *mut u8)>> {
        let t = &self.table;
        let tail = &self.ring.header().tail.0;
        loop {
            if !t.valid(pos) {
                return Err(corrupted(&self.ring, "mpmc tail is not a slot position"));
            }
            let (slot, payload) = t.slot(pos);
            let seq = slot.seq.load(Ordering::Acquire);
            if seq != free_stamp(pos) {
                match self.look_slow(pos, seq)? {
                    Look::Wait => return Ok(None),
                    Look::Retry(p) => {
                        pos = p;
                        continue;
                    }
                }
            }
            // Extend the claim over following free slots (a batch).
            let max = max.min(t.capacity() as usize);
            let mut n = 1usize;
            let mut end = step_one(t, pos);
            while n < max {
                if t.slot(end).0.seq.load(Ordering::Acquire) != free_stamp(end) {
                    break;
                }
                n += 1;
                end = step(t, end);
            }
            self.claims.record(pos, end);
            match tail.compare_exchange_weak(pos, end, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => {
                    if stamp {
                        self.stamp(slot);
                        let mut p = pos;
                        for _ in 1..n {
                            p = step(t, p);
                            self.stamp(t.slot(p).0);
                        }
                    }
                    crate::failpoint::hit(crate::failpoint::SEND_AFTER_CLAIM);
                    return Ok(Some((pos, n, slot, payload)));
                }
                Err(now) => {
                    self.claims.unrecord(&self.ring, pos, &self.ring.header().data_bell);
                    pos = now
                }
            }
        }
    }

    /// Claims one position for a zero-copy reservation with the single send's inline claim
    /// ([`claim_one`](Self::claim_one)): `(position, payload)`, or `None` when the ring is
    /// full. What [`claim`](Self::claim)`(1)` does, for the ring end's inline `reserve_raw`.
    #[inline(always)]
    pub fn reserve_fast(&self) -> Result<Option<(u64, *mut u8)>> {
        Ok(self.claim_one()?.map(|(pos, _, payload)| (pos, payload)))
    }

    /// Claims up to `max` consecutive positions. Returns `(first, count)`, or `None` when the
    /// first position is not free.
    pub fn claim(&self, max: usize) -> Result<Option<(u64, usize)>> {
        Ok(self.claim_slots(max.max(1), true)?.map(|(pos, n, _, _)| (pos, n)))
    }

    /// Marks a slot we just claimed as ours: its `owner` (informational, for display) and,
    /// in the test build, the access tracker's note that we are about to write it.
    #[inline(always)]
    fn stamp(&self, slot: &SlotHeader) {
        slot.owner.store(self.owner, Ordering::Relaxed);
        slot.tracker.write();
    }

    /// The payload of a claimed position.
    #[inline]
    pub fn payload(&self, pos: u64) -> *mut u8 {
        self.table.slot(pos).1
    }

    /// Publishes a claimed position holding `len` bytes (or `TOMBSTONE`).
    #[inline]
    pub fn publish(&self, pos: u64, len: u32) {
        Self::publish_slot(self.table.slot(pos).0, pos, len);
    }

    /// Publishes `slot`, the slot of the claimed position `pos`.
    #[inline]
    fn publish_slot(slot: &SlotHeader, pos: u64, len: u32) {
        crate::failpoint::hit(crate::failpoint::SEND_BEFORE_PUBLISH);
        slot.len.store(len, Ordering::Relaxed);
        slot.seq.store(full_stamp(pos), orderings::MPMC_PUBLISH);
    }

    /// Sends one message if a slot is free. `Ok(false)`: full.
    #[inline(always)]
    pub fn try_send(&self, msg: &[u8]) -> Result<bool> {
        let Some((pos, slot, payload)) = self.claim_one()? else {
            return Ok(false);
        };
        // SAFETY: we own the claimed slot until we publish it; msg.len() <= msg_size
        // (checked by the caller) fits its payload.
        unsafe { crate::copy::copy_bytes(msg.as_ptr(), payload, msg.len()) };
        crate::failpoint::hit(crate::failpoint::SEND_AFTER_WRITE);
        Self::publish_slot(slot, pos, msg.len() as u32);
        Ok(true)
    }

    /// Sends as many of `msgs` as one claim gets. Returns how many were sent.
    pub fn try_send_batch<M: AsRef<[u8]>>(&self, msgs: &[M]) -> Result<usize> {
        if msgs.is_empty() {
            return Ok(0);
        }
        let Some((pos, n, _, _)) = self.claim_slots(msgs.len(), false)? else {
            return Ok(0);
        };
        let t = &self.table;
        let mut p = pos;
        for m in &msgs[..n] {
            let m = m.as_ref();
            let (slot, payload) = t.slot(p);
            self.stamp(slot);
            // SAFETY: as in try_send, for each claimed position.
            unsafe { crate::copy::copy_bytes(m.as_ptr(), payload, m.len()) };
            crate::failpoint::hit(crate::failpoint::SEND_AFTER_WRITE);
            Self::publish_slot(slot, p, m.len() as u32);
            p = step(t, p);
        }
        Ok(n)
    }

    /// Whether the ring is full at this instant by the cursors alone: `tail` read, then
    /// `head` one lap behind it (`tail - head == capacity` in positions). Since `head` only
    /// grows and never passes `tail`, the tail was still that value when the head was read:
    /// every slot held an unconsumed message, none is held by a consumer (nothing for
    /// `held_up_at` or `reclaim_dead_hold` to find), so a non-blocking send may report full
    /// without the slow path's checks beyond the peers'.
    #[inline]
    pub fn cursors_full(&self) -> bool {
        let h = self.ring.header();
        let tail = h.tail.0.load(Ordering::Acquire);
        let head = h.head.0.load(Ordering::Acquire);
        tail == head.wrapping_add(self.table.mask() + 1) && self.table.valid(tail)
    }

/// After a claim found no free slot: the position the slot at `tail` held on the previous
    /// lap (`tail - capacity`, the one its consumer claimed) if the ring is not really full,
    /// only held up there (a consumer has claimed that slot and is still reading it, while a
    /// later slot of that lap is already free again), so a non-blocking
    /// send should wait for that consumer a bounded while rather than report `full`; `None` if
    /// the ring is full at this instant (no slot of the previous lap is free) or the cursors
    /// make no sense (the claim reports that). Slow path only: it scans up to `capacity` slots.
    ///
    /// `None` is a real instant of fullness, as for `MpmcConsumer::held_up_at`: the cursors
    /// read the same before and after a scan that found no slot free again.
    pub fn held_up_at(&self) -> Option<u64> {
        let h = self.ring.header();
        let g = self.ring.geom();
        let cap = g.capacity;
        let mut tail = h.tail.0.load(Ordering::Acquire);
        let mut head = h.head.0.load(Ordering::Acquire);
        for _ in 0..STABLE_SCANS {
            if !valid(g, tail) || !valid(g, head) {
                return None;
            }
            let prev = lap_before(g, tail);
            // Positions of the previous lap that consumers have claimed: [prev, head).
            let claimed = dist(g, prev, head);
            if claimed as i64 <= 0 {
                return None;
            }
            // More than `capacity` claimed: the tail moved on, and the head after it, between
            // the two loads (a pair read while the cursors move), or a corrupted pair; so no
            // scan, only the second reads below: a pair that reads the same again is `None`
            // (the claim reports a corrupted one), a moving one is read afresh. (Answering
            // `None` at once, as this did, could report a ring that was never full as full.)
            let claimed = if claimed > cap { 0 } else { claimed };
            let mut p = prev;
            let mut freed = false;
            for _ in 0..claimed {
                if self.ring.slot(p).seq.load(Ordering::Acquire) == free_stamp(lap_after(g, p)) {
                    freed = true;
                    break;
                }
                p = next(g, p);
            }
            if freed {
                return Some(prev);
            }
            let (t2, h2) = (h.tail.0.load(Ordering::Acquire), h.head.0.load(Ordering::Acquire));
            if (t2, h2) == (tail, head) {
                return None;
            }
            (tail, head) = (t2, h2);
        }
        Some(lap_before(g, tail))
    }

    /// Frees the slot at `tail` if a consumer claimed it on the previous lap and died holding
    /// it (see the module docs). `claim_live(pos)` says whether a live receiver's claim record
    /// covers `pos`. Returns whether a slot was freed (that one message is lost: it had been
    /// handed to the consumer that died). Cheap when there is nothing to do.
    pub fn reclaim_dead_hold(&self, claim_live: impl FnOnce(u64) -> Result<bool>) -> Result<bool> {
        let h = self.ring.header();
        let g = self.ring.geom();
        let cap = g.capacity;
        let t = h.tail.0.load(Ordering::Acquire);
        if !valid(g, t) {
            return Ok(false);
        }
        let slot = self.ring.slot(t);
        let seq = slot.seq.load(Ordering::Acquire);
        let prev = lap_before(g, t);
        // Still the previous lap's: consumed-but-not-released (full stamp), or skipped by a
        // consumer that died before freeing it (free stamp of the previous lap).
        if seq != full_stamp(prev) && seq != free_stamp(prev) {
            return Ok(false);
        }
        // A consumer has moved `head` past it (else the ring is just full). This Acquire load
        // makes the claiming consumer's record visible.
        let head = h.head.0.load(Ordering::Acquire);
        let claimed = dist(g, prev, head);
        if !valid(g, head) || claimed as i64 <= 0 || claimed > cap {
            return Ok(false);
        }
        if claim_live(prev)? {
            return Ok(false);
        }
        // The consumer that held it is dead: free the slot for the lap of `t`, unless it
        // changed meanwhile (then someone else freed it; the CAS keeps two reclaimers apart).
        Ok(slot
            .seq
            .compare_exchange(seq, free_stamp(t), Ordering::AcqRel, Ordering::Acquire)
            .is_ok())
    }
}

/// A consumer handle. Any number may exist.
#[derive(Debug)]
pub struct MpmcConsumer {
    ring: RawRing,
    /// The slot table, with the lap mask, taken from the geometry once.
    table: SlotTable,
    /// The geometry's `msg_size`.
    msg_size: u64,
    /// This endpoint's claim record.
    claims: ClaimRecord,
}

/// A message claimed by [`MpmcConsumer::take`]: its position, payload and validated length.
/// Hand it back to [`MpmcConsumer::release_taken`] once read (the slot is the caller's until
/// then).
#[derive(Debug)]
pub struct Taken<'a> {
    slot: &'a SlotHeader,
    /// The claimed position.
    pub pos: u64,
    /// The payload (`len` bytes readable until the release).
    pub ptr: *const u8,
    /// The length, read once and validated (at most `msg_size` and the caller's limit).
    pub len: usize,
}

impl<'a> Taken<'a> {
    /// The message of `slot`, whose position `pos` this consumer has just claimed: passes the
    /// claim's failpoint and marks the slot read (the race detector's tracker).
    #[inline(always)]
    fn claimed(slot: &'a SlotHeader, pos: u64, payload: *mut u8, len: u32) -> Self {
        crate::failpoint::hit(crate::failpoint::RECV_AFTER_CLAIM);
        slot.tracker.read();
        Taken {
            slot,
            pos,
            ptr: payload,
            len: len as usize,
        }
    }
}

impl MpmcConsumer {
    /// A consumer of `ring` attached as endpoint `entry` (below `MAX_ENDPOINTS`).
    pub fn new(ring: RawRing, entry: usize) -> Self {
        MpmcConsumer {
            ring,
            table: ring.slot_table(),
            msg_size: ring.geom().msg_size,
            claims: ClaimRecord::new(&ring, entry),
        }
    }

    /// Looks at the slot for `pos` (a valid value of `head` we loaded) whose stamp `seq` is
    /// not the full stamp of `pos`: empty, a producer still on it, the head moved on, or a
    /// hostile region. Off the fast path.
    #[cold]
    #[inline(never)]
    fn look_slow(&self, pos: u64, seq: u64) -> Result<Look> {
        let diff = seq.wrapping_sub(full_stamp(pos)) as i64;
        let now = self.ring.header().head.0.load(Ordering::Acquire);
        if now != pos {
            return Ok(Look::Retry(now));
        }
        if diff < 0 {
            // Not yet published: empty, or a producer is writing it.
            Ok(Look::Wait)
        } else {
            Err(corrupted(&self.ring, "mpmc slot sequence ahead of the head"))
        }
    }

    /// The validated length word of a ready slot (`TOMBSTONE` passes through).
    #[inline]
    fn len_of(&self, slot: &SlotHeader) -> Result<u32> {
        let len = slot.len.load(Ordering::Relaxed);
        if len != TOMBSTONE && len as u64 > self.msg_size {
            return Err(corrupted(&self.ring, "message length above msg_size"));
        }
        Ok(len)
    }

    /// The published slot at `pos` whose length word `len` is not a message for a caller
    /// with a buffer of `limit` bytes: a tombstone is claimed alone and freed (the position
    /// to look at next is returned), a length above `msg_size` is `Corrupted`, one above
    /// `limit` is `BufferTooSmall` (nothing claimed: the message stays in the ring).
    #[cold]
    #[inline(never)]
    fn odd_length(&self, pos: u64, len: u32, limit: usize) -> Result<u64> {
        if len == TOMBSTONE {
            // Skip a given-up slot: claim it alone and free it.
            let next = step(&self.table, pos);
            return Ok(match self.claim_head(pos, next) {
                Ok(()) => {
                    self.release(pos, 1);
                    next
                }
                Err(now) => now,
            });
        }
        if len as u64 > self.msg_size {
            return Err(corrupted(&self.ring, "message length above msg_size"));
        }
        Err(Error::BufferTooSmall {
            needed: len as usize,
            capacity: limit,
        })
    }

    /// Claims the message at `head` if one of at most `limit` bytes is ready there, skipping
    /// tombstones: the receive's fast path. The head is loaded once (again only after a lost
    /// CAS), the slot's stamp and length once each, and the length is validated before the
    /// claim (a longer message is `BufferTooSmall` and stays in the ring). `None`: the slot
    /// at `head` is not published (empty, or a producer is writing it).
    ///
    /// The length read before the claim is the message's: a producer writes the slot only
    /// after a consumer freed it, which needs a claim of `pos`, and only one CAS moves `head`
    /// from `pos` (a hostile writer changing it later changes nothing here: the validated
    /// value is the one used).
    ///
    /// The common case (a valid head whose slot holds a message that fits, and a won CAS) is
    /// straight-line code; anything else goes to [`take_at`](Self::take_at) from the position
    /// last seen, out of line, which checks it all again (the retry loop and its slow-path
    /// calls would otherwise cost the fast path register spills).
    #[inline(always)]
    pub fn take(&self, limit: usize) -> Result<Option<Taken<'_>>> {
        let t = &self.table;
        let head = &self.ring.header().head.0;
        let mut pos = head.load(Ordering::Acquire);
        if t.valid(pos) {
            let (slot, payload) = t.slot(pos);
            let seq = slot.seq.load(Ordering::Acquire);
            if seq == full_stamp(pos) {
                let len = slot.len.load(Ordering::Relaxed);
                if len as u64 <= self.msg_size && len as usize <= limit {
                    match self.claim_head(pos, step_single(t, pos)) {
                        Ok(()) => {
                            return Ok(Some(Taken::claimed(slot, pos, payload, len)));
                        }
                        Err(now) => pos = now,
                    }
                }
            } else {
                // Not published. The empty ring a polling receiver keeps finding is answered
                // here, as `look_slow` would answer it (the head has not moved and the stamp
                // is behind the full one), without a call; a moved head is retried from
                // where it is now, and a stamp ahead of an unmoved head goes to `take_at`,
                // whose `look_slow` reports it.
                let now = head.load(Ordering::Acquire);
                if now == pos && (seq.wrapping_sub(full_stamp(pos)) as i64) < 0 {
                    return Ok(None);
                }
                pos = now;
            }
        }
        self.take_at(pos, limit)
    }

    /// [`take`](Self::take) off its fast path: the general take from `pos`, a value of `head`
    /// loaded (not yet validated).
    #[cold]
    #[inline(never)]
    fn take_at(&self, mut pos: u64, limit: usize) -> Result<Option<Taken<'_>>> {
        let t = &self.table;
        loop {
            if !t.valid(pos) {
                return Err(corrupted(&self.ring, "mpmc head is not a slot position"));
            }
            let (slot, payload) = t.slot(pos);
            let seq = slot.seq.load(Ordering::Acquire);
            if seq != full_stamp(pos) {
                match self.look_slow(pos, seq)? {
                    Look::Wait => return Ok(None),
                    Look::Retry(p) => {
                        pos = p;
                        continue;
                    }
                }
            }
            let len = slot.len.load(Ordering::Relaxed);
            if len as u64 > self.msg_size || len as usize > limit {
                pos = self.odd_length(pos, len, limit)?;
                continue;
            }
            match self.claim_head(pos, step_one(t, pos)) {
                Ok(()) => {
                    return Ok(Some(Taken::claimed(slot, pos, payload, len)));
                }
                Err(now) => pos = now,
            }
        }
    }

    /// Frees the slot of a [`take`](Self::take)n message for the producers' next lap.
    #[inline]
    pub fn release_taken(&self, m: Taken<'_>) {
        crate::failpoint::hit(crate::failpoint::RECV_BEFORE_RELEASE);
        let next_lap = m.pos.wrapping_add(self.table.mask() + 1);
        m.slot.seq.store(free_stamp(next_lap), Ordering::Release);
    }

    /// Claims up to `max` consecutive ready positions, skipping tombstones. `limit` is the
    /// caller's buffer size: if the first message is longer, `BufferTooSmall` is returned and
    /// nothing is claimed (the message stays in the ring). A batch stops before a message
    /// longer than `limit`. Returns `(first, count)` or `None` when empty.
    pub fn claim(&self, max: usize, limit: usize) -> Result<Option<(u64, usize)>> {
        let t = &self.table;
        let head = &self.ring.header().head.0;
        let mut pos = head.load(Ordering::Acquire);
        loop {
            if !t.valid(pos) {
                return Err(corrupted(&self.ring, "mpmc head is not a slot position"));
            }
            let slot = t.slot(pos).0;
            let seq = slot.seq.load(Ordering::Acquire);
            if seq != full_stamp(pos) {
                match self.look_slow(pos, seq)? {
                    Look::Wait => return Ok(None),
                    Look::Retry(p) => {
                        pos = p;
                        continue;
                    }
                }
            }
            let len = slot.len.load(Ordering::Relaxed);
            if len as u64 > self.msg_size || len as usize > limit {
                pos = self.odd_length(pos, len, limit)?;
                continue;
            }
            let max = max.min(t.capacity() as usize);
            let mut n = 1usize;
            let mut want = step_one(t, pos);
            while n < max {
                let s = t.slot(want).0;
                if s.seq.load(Ordering::Acquire) != full_stamp(want) {
                    break;
                }
                let l = self.len_of(s)?;
                if l == TOMBSTONE || l as usize > limit {
                    break;
                }
                n += 1;
                want = step(t, want);
            }
            match self.claim_head(pos, want) {
                Ok(()) => {
                    crate::failpoint::hit(crate::failpoint::RECV_AFTER_CLAIM);
                    return Ok(Some((pos, n)));
                }
                Err(now) => pos = now,
            }
        }
    }

    /// Moves `head` from `pos` to `end`, recording the claim first. `Err` holds the head a
    /// lost CAS found.
    #[inline]
    fn claim_head(&self, pos: u64, end: u64) -> core::result::Result<(), u64> {
        self.claims.record(pos, end);
        match self.ring.header().head.0.compare_exchange_weak(pos, end, Ordering::AcqRel, Ordering::Acquire) {
            Ok(_) => Ok(()),
            Err(now) => {
                self.claims.unrecord(&self.ring, pos, &self.ring.header().space_bell);
                Err(now)
            }
        }
    }

    /// Whether the ring is empty at this instant by the cursors alone: `head` read, then
    /// `tail` equal to it. Since `head` only grows and never passes `tail`, the head was still
    /// that value when the tail was read: nothing claimed, nothing to take (nothing for
    /// `held_up_at` or `skip_dead_claim` to find), so a non-blocking receive may report empty
    /// without the slow path's checks beyond the peers'.
    #[inline]
    pub fn cursors_empty(&self) -> bool {
        let h = self.ring.header();
        let head = h.head.0.load(Ordering::Acquire);
        let tail = h.tail.0.load(Ordering::Acquire);
        head == tail && self.table.valid(head)
    }

    /// After a claim found nothing: the position at `head` if the ring is not really empty,
    /// only held up there (a producer has claimed the slot at `head` and is still writing it,
    /// while a later message is already published), so a non-blocking receive should wait
    /// for that producer a bounded while rather than report `empty`; `None` if no message in
    /// `[head, tail)` is ready at this instant (the ring is empty: an unpublished claim is
    /// not a message yet) or the cursors make no sense (the claim reports that). Slow path
    /// only: it scans up to `capacity` slots.
    ///
    /// `None` is a real instant of emptiness: the scan finds no ready slot in `[head, tail)`
    /// and both cursors read the same again after it. A slot seen unready was unready at the
    /// first reads too (a message stays ready until a consumer moves `head` past it, and
    /// `head` did not move), and no position joined (`tail` did not move). Without the second
    /// reads, a message published behind the scan while the ones ahead were consumed, and one
    /// beyond the `tail` first read, could both be missed by a ring that was never empty (the
    /// ported `linearizable` test found it once in a few million rounds). While the cursors
    /// keep moving the answer is the current `head`: the caller tries again.
    pub fn held_up_at(&self) -> Option<u64> {
        let h = self.ring.header();
        let mut head = h.head.0.load(Ordering::Acquire);
        let mut tail = h.tail.0.load(Ordering::Acquire);
        let g = self.ring.geom();
        for _ in 0..STABLE_SCANS {
            // A pair that makes no sense (`tail - head` above the capacity) is also what the
            // two loads give when the head moved on, and the tail after it, between them: no
            // scan then, only the second reads below, which tell the two apart (a pair that
            // reads the same again is `None`, and the claim reports a corrupted one). Answering
            // `None` at once, as this did, could report a ring that was never empty as empty.
            let gap = distance(g, head, tail).unwrap_or(0);
            let mut p = head;
            let mut ready = false;
            for _ in 0..gap {
                if self.ready_message(p) {
                    ready = true;
                    break;
                }
                p = next(g, p);
            }
            if ready {
                return Some(head);
            }
            let (h2, t2) = (h.head.0.load(Ordering::Acquire), h.tail.0.load(Ordering::Acquire));
            if (h2, t2) == (head, tail) {
                return None;
            }
            (head, tail) = (h2, t2);
        }
        Some(head)
    }

    /// Whether the slot of `pos` holds a published message (not a tombstone) of `pos`.
    #[inline]
    fn ready_message(&self, pos: u64) -> bool {
        let s = self.ring.slot(pos);
        s.seq.load(Ordering::Acquire) == full_stamp(pos) && s.len.load(Ordering::Relaxed) != TOMBSTONE
    }

    /// Skips the slot at `head` if a producer claimed it and died before publishing (see the
    /// module docs): nothing is delivered for it, so no torn message is ever seen.
    /// `claim_live(pos)` says whether a live sender's claim record covers `pos`. Returns
    /// whether a slot was skipped. Cheap when there is nothing to do.
    pub fn skip_dead_claim(&self, claim_live: impl FnOnce(u64) -> Result<bool>) -> Result<bool> {
        let h = self.ring.header();
        let g = self.ring.geom();
        let pos = h.head.0.load(Ordering::Acquire);
        if !valid(g, pos) {
            return Ok(false);
        }
        let slot = self.ring.slot(pos);
        if slot.seq.load(Ordering::Acquire) != free_stamp(pos) {
            return Ok(false);
        }
        // Claimed by a producer (tail past it)? This Acquire load makes its record visible.
        let tail = h.tail.0.load(Ordering::Acquire);
        let gap = dist(g, pos, tail);
        if !valid(g, tail) || gap as i64 <= 0 || gap > g.capacity {
            return Ok(false);
        }
        if claim_live(pos)? {
            return Ok(false);
        }
        // Its producer is dead. Unpublished still? (A producer that published before dying
        // left a whole message, which the caller takes normally.)
        if slot.seq.load(Ordering::Acquire) != free_stamp(pos) {
            return Ok(false);
        }
        if self.claim_head(pos, step(&self.table, pos)).is_err() {
            return Ok(false);
        }
        self.release(pos, 1);
        Ok(true)
    }

    /// The position `k` after `pos` (a batch's `k`-th claimed position).
    #[inline]
    pub fn position_after(&self, pos: u64, k: u64) -> u64 {
        step_by(&self.table, pos, k)
    }

    /// The message at a claimed position: validated length and payload.
    #[inline]
    pub fn message(&self, pos: u64) -> Result<(*const u8, usize)> {
        let (slot, payload) = self.table.slot(pos);
        let len = slot.len.load(Ordering::Relaxed);
        if len as u64 > self.msg_size {
            return Err(self.odd_claimed(len));
        }
        slot.tracker.read();
        Ok((payload as *const u8, len as usize))
    }

    /// Frees `n` claimed positions starting at `pos` for the producers' next lap.
    #[inline]
    pub fn release(&self, pos: u64, n: usize) {
        crate::failpoint::hit(crate::failpoint::RECV_BEFORE_RELEASE);
        let t = &self.table;
        let one_lap = t.mask() + 1;
        let mut p = pos;
        for _ in 0..n {
            t.slot(p).0.seq.store(free_stamp(p.wrapping_add(one_lap)), Ordering::Release);
            p = step(t, p);
        }
    }

    /// Receives one message into `buf`. `Ok(None)`: empty.
    #[inline]
    #[cfg(ipcring_test)] // the tests and Miri drive it directly
    pub fn try_recv(&self, buf: &mut [u8]) -> Result<Option<usize>> {
        let Some(m) = self.take(buf.len())? else {
            return Ok(None);
        };
        let len = m.len;
        // SAFETY: the payload holds len <= min(msg_size, buf.len()) bytes of a slot we own
        // until the release.
        unsafe { crate::copy::copy_bytes(m.ptr, buf.as_mut_ptr(), len) };
        self.release_taken(m);
        Ok(Some(len))
    }

    /// Receives up to `max` messages with one claim, handing each to `f` in place. Each
    /// length is read from its slot once, after the claim, and validated (a tombstone is
    /// longer than any message, so one comparison with `msg_size` catches a claimed slot that
    /// turned into one as well as a corrupted length).
    pub fn try_recv_batch(&self, max: usize, mut f: impl FnMut(&[u8])) -> Result<usize> {
        let Some((pos, n)) = self.claim(max.max(1), usize::MAX)? else {
            return Ok(0);
        };
        let t = &self.table;
        let mut result = Ok(n);
        let mut p = pos;
        for _ in 0..n {
            let (slot, payload) = t.slot(p);
            let len = slot.len.load(Ordering::Relaxed);
            if len as u64 > self.msg_size {
                result = Err(self.odd_claimed(len));
                break;
            }
            slot.tracker.read();
            // SAFETY: the claimed slot is ours until released; len <= msg_size validated, and
            // the payload holds msg_size bytes.
            f(unsafe { core::slice::from_raw_parts(payload as *const u8, len as usize) });
            p = step(t, p);
        }
        self.release(pos, n);
        result
    }

    /// The error for a claimed slot whose length word is above `msg_size`.
    #[cold]
    #[inline(never)]
    fn odd_claimed(&self, len: u32) -> Error {
        corrupted(
            &self.ring,
            if len == TOMBSTONE {
                "claimed slot turned into a tombstone"
            } else {
                "message length above msg_size"
            },
        )
    }

    /// Whether the ring looks empty (the slot at `head` is not published).
    #[cfg(ipcring_test)] // the tests and Miri drive it directly
    pub fn is_empty(&self) -> Result<bool> {
        let pos = self.ring.header().head.0.load(Ordering::Acquire);
        if !self.table.valid(pos) {
            return Err(corrupted(&self.ring, "mpmc head is not a slot position"));
        }
        let seq = self.table.slot(pos).0.seq.load(Ordering::Acquire);
        if seq == full_stamp(pos) {
            return Ok(false);
        }
        Ok(matches!(self.look_slow(pos, seq)?, Look::Wait))
    }
}
