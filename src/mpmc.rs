//! The multi-producer multi-consumer ring: Dmitry Vyukov's bounded MPMC queue, as in
//! crossbeam's `ArrayQueue`, over 64-bit positions and a shared region.
//!
//! Each slot carries a sequence number `seq`, a *stamp* of the position it is ready for. Stamps
//! are twice the position, plus one when the slot is full: for the position `pos` that maps to
//! the slot,
//!
//! - `seq == 2*pos` ([`free_stamp`]): the slot is free for the producer of `pos`;
//! - `seq == 2*pos + 1` ([`full_stamp`]): it holds the message of `pos`, ready for its consumer;
//! - after consumption `seq == 2*(pos + capacity)`: free for the producer of the next lap.
//!
//! (Vyukov's original uses `pos` and `pos + 1`, which is ambiguous when `capacity == 1`: "full
//! at `pos`" and "free for `pos + 1`" are then the same number, and a producer would overwrite
//! an unread message. crossbeam avoids it with a lap encoding; doubling is the same idea.)
//!
//! A producer claims `pos` by moving `tail` from `pos` to `pos + 1` with a CAS, records its
//! endpoint id in the slot (`owner`: the robustness work uses it to recognise a slot claimed by
//! a process that died), writes the payload and length, and publishes with a Release store of
//! the full stamp. A consumer claims by moving `head` the same way, reads, and frees the slot
//! with the next lap's free stamp. Batches claim `k` consecutive positions with one CAS.
//!
//! A producer that gives a claimed slot up (a reservation dropped without commit) publishes a
//! *tombstone* (`len = TOMBSTONE`): consumers free such a slot without delivering anything.
//!
//! Cursor orderings: the CASes on `tail` and `head` are AcqRel and cursor loads Acquire. The
//! algorithm itself only needs the slot stamps' Release/Acquire, but the sanity checks compare
//! the two cursors (tail - head <= capacity, head <= tail), and those comparisons are only
//! sound if a cursor value read carries the history behind it: the consumer's head move that
//! freed the slot a producer reused must be visible to any producer that reads that producer's
//! tail. With Relaxed CASes the loom model `mpmc_2x2_full` finds a false `Corrupted` (possible
//! on ARM, not on x86, where these orderings cost nothing extra).
//!
//! Hostile regions: a sequence number "ahead" of a cursor that has not moved, a cursor gap
//! larger than `capacity`, or a length above `msg_size` poisons the ring (`Corrupted`) rather
//! than spinning or reading out of bounds.

use crate::error::{Error, Result};
use crate::layout::{RawRing, TOMBSTONE};
use crate::sync::{orderings, Ordering};

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

/// Stamps every slot free for lap 0. Called by the creator before publishing READY.
pub fn init_slots(ring: &RawRing) {
    for i in 0..ring.geom().capacity {
        ring.slot(i).seq.store(free_stamp(i), Ordering::Relaxed);
    }
}

/// The outcome of looking at a slot for a claim.
enum Look {
    /// The slot is ready for the claim at `pos`.
    Ready,
    /// Not yet (full for a producer, empty for a consumer, or a peer mid-operation).
    Wait,
    /// The cursor moved on; retry at this position.
    Retry(u64),
}

/// A producer handle. Any number may exist.
#[derive(Debug)]
pub struct MpmcProducer {
    ring: RawRing,
    owner: u32,
}

impl MpmcProducer {
    /// A producer whose claims record `owner` (an endpoint id).
    pub fn new(ring: RawRing, owner: u32) -> Self {
        MpmcProducer { ring, owner }
    }

    /// Looks at the slot for `pos` (the value of `tail` we loaded).
    #[inline]
    fn look(&self, pos: u64) -> Result<Look> {
        let h = self.ring.header();
        let cap = self.ring.geom().capacity;
        let seq = self.ring.slot(pos).seq.load(Ordering::Acquire);
        let diff = seq.wrapping_sub(free_stamp(pos)) as i64;
        if diff == 0 {
            return Ok(Look::Ready);
        }
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
        let gap = pos.wrapping_sub(head) as i64;
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

    /// Claims up to `max` consecutive positions. Returns `(first, count)`, or `None` when the
    /// first position is not free.
    pub fn claim(&self, max: usize) -> Result<Option<(u64, usize)>> {
        let h = self.ring.header();
        let mut pos = h.tail.0.load(Ordering::Acquire);
        'retry: loop {
            match self.look(pos)? {
                Look::Wait => return Ok(None),
                Look::Retry(p) => {
                    pos = p;
                    continue 'retry;
                }
                Look::Ready => {}
            }
            // Extend the claim over following free slots (a batch).
            let mut n = 1usize;
            while n < max {
                let want = pos.wrapping_add(n as u64);
                if self.ring.slot(want).seq.load(Ordering::Acquire) != free_stamp(want) {
                    break;
                }
                n += 1;
            }
            match h
                .tail
                .0
                .compare_exchange_weak(pos, pos.wrapping_add(n as u64), Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => {
                    for k in 0..n as u64 {
                        let s = self.ring.slot(pos.wrapping_add(k));
                        s.owner.store(self.owner, Ordering::Relaxed);
                        s.tracker.write();
                    }
                    return Ok(Some((pos, n)));
                }
                Err(now) => pos = now,
            }
        }
    }

    /// The payload of a claimed position.
    #[inline]
    pub fn payload(&self, pos: u64) -> *mut u8 {
        self.ring.payload(pos)
    }

    /// Publishes a claimed position holding `len` bytes (or `TOMBSTONE`).
    #[inline]
    pub fn publish(&self, pos: u64, len: u32) {
        let s = self.ring.slot(pos);
        s.len.store(len, Ordering::Relaxed);
        s.seq.store(full_stamp(pos), orderings::MPMC_PUBLISH);
    }

    /// Sends one message if a slot is free. `Ok(false)`: full.
    #[inline]
    pub fn try_send(&self, msg: &[u8]) -> Result<bool> {
        let Some((pos, _)) = self.claim(1)? else {
            return Ok(false);
        };
        // SAFETY: we own the claimed slot until we publish it; msg.len() <= msg_size
        // (checked by the caller) fits its payload.
        unsafe { crate::layout::copy_bytes(msg.as_ptr(), self.payload(pos), msg.len()) };
        self.publish(pos, msg.len() as u32);
        Ok(true)
    }

    /// Sends as many of `msgs` as one claim gets. Returns how many were sent.
    pub fn try_send_batch<M: AsRef<[u8]>>(&self, msgs: &[M]) -> Result<usize> {
        if msgs.is_empty() {
            return Ok(0);
        }
        let Some((pos, n)) = self.claim(msgs.len())? else {
            return Ok(0);
        };
        for (k, m) in msgs[..n].iter().enumerate() {
            let p = pos.wrapping_add(k as u64);
            let m = m.as_ref();
            // SAFETY: as in try_send, for each claimed position.
            unsafe { crate::layout::copy_bytes(m.as_ptr(), self.payload(p), m.len()) };
            self.publish(p, m.len() as u32);
        }
        Ok(n)
    }
}

/// A claimed message for a consumer.
#[derive(Debug, Clone, Copy)]
pub struct Claimed {
    /// Its position.
    pub pos: u64,
    /// Its length (validated).
    pub len: usize,
}

/// A consumer handle. Any number may exist.
#[derive(Debug)]
pub struct MpmcConsumer {
    ring: RawRing,
}

impl MpmcConsumer {
    /// A consumer of `ring`.
    pub fn new(ring: RawRing) -> Self {
        MpmcConsumer { ring }
    }

    #[inline]
    fn look(&self, pos: u64) -> Result<Look> {
        let h = self.ring.header();
        let seq = self.ring.slot(pos).seq.load(Ordering::Acquire);
        let diff = seq.wrapping_sub(full_stamp(pos)) as i64;
        if diff == 0 {
            return Ok(Look::Ready);
        }
        let now = h.head.0.load(Ordering::Acquire);
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
    fn len_at(&self, pos: u64) -> Result<u32> {
        let len = self.ring.slot(pos).len.load(Ordering::Relaxed);
        if len != TOMBSTONE && len as u64 > self.ring.geom().msg_size {
            return Err(corrupted(&self.ring, "message length above msg_size"));
        }
        Ok(len)
    }

    /// Claims up to `max` consecutive ready positions, skipping tombstones. `limit` is the
    /// caller's buffer size: if the first message is longer, `BufferTooSmall` is returned and
    /// nothing is claimed (the message stays in the ring). A batch stops before a message
    /// longer than `limit`. Returns `(first, count)` or `None` when empty.
    pub fn claim(&self, max: usize, limit: usize) -> Result<Option<(u64, usize)>> {
        let h = self.ring.header();
        let mut pos = h.head.0.load(Ordering::Acquire);
        loop {
            match self.look(pos)? {
                Look::Wait => return Ok(None),
                Look::Retry(p) => {
                    pos = p;
                    continue;
                }
                Look::Ready => {}
            }
            let len = self.len_at(pos)?;
            if len == TOMBSTONE {
                // Skip a given-up slot: claim it alone and free it.
                if h.head
                    .0
                    .compare_exchange_weak(pos, pos.wrapping_add(1), Ordering::AcqRel, Ordering::Acquire)
                    .is_ok()
                {
                    self.release(pos, 1);
                    pos = pos.wrapping_add(1);
                } else {
                    pos = h.head.0.load(Ordering::Acquire);
                }
                continue;
            }
            if len as usize > limit {
                return Err(Error::BufferTooSmall {
                    needed: len as usize,
                    capacity: limit,
                });
            }
            let mut n = 1usize;
            while n < max {
                let want = pos.wrapping_add(n as u64);
                if self.ring.slot(want).seq.load(Ordering::Acquire) != full_stamp(want) {
                    break;
                }
                let l = self.len_at(want)?;
                if l == TOMBSTONE || l as usize > limit {
                    break;
                }
                n += 1;
            }
            match h
                .head
                .0
                .compare_exchange_weak(pos, pos.wrapping_add(n as u64), Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => return Ok(Some((pos, n))),
                Err(now) => pos = now,
            }
        }
    }

    /// The message at a claimed position: validated length and payload.
    #[inline]
    pub fn message(&self, pos: u64) -> Result<(*const u8, usize)> {
        let len = self.len_at(pos)?;
        if len == TOMBSTONE {
            return Err(corrupted(&self.ring, "claimed slot turned into a tombstone"));
        }
        self.ring.slot(pos).tracker.read();
        Ok((self.ring.payload(pos) as *const u8, len as usize))
    }

    /// Frees `n` claimed positions starting at `pos` for the producers' next lap.
    #[inline]
    pub fn release(&self, pos: u64, n: usize) {
        let cap = self.ring.geom().capacity;
        for k in 0..n as u64 {
            let p = pos.wrapping_add(k);
            self.ring
                .slot(p)
                .seq
                .store(free_stamp(p.wrapping_add(cap)), Ordering::Release);
        }
    }

    /// Receives one message into `buf`. `Ok(None)`: empty.
    #[inline]
    pub fn try_recv(&self, buf: &mut [u8]) -> Result<Option<usize>> {
        let Some((pos, _)) = self.claim(1, buf.len())? else {
            return Ok(None);
        };
        let (ptr, len) = match self.message(pos) {
            Ok(m) => m,
            Err(e) => {
                self.release(pos, 1);
                return Err(e);
            }
        };
        if len > buf.len() {
            // claim checked the length against buf; it changed under us.
            self.release(pos, 1);
            return Err(corrupted(&self.ring, "message length changed while claimed"));
        }
        // SAFETY: ptr points at len <= msg_size payload bytes of a slot we own until release.
        unsafe { crate::layout::copy_bytes(ptr, buf.as_mut_ptr(), len) };
        self.release(pos, 1);
        Ok(Some(len))
    }

    /// Receives up to `max` messages with one claim, handing each to `f` in place.
    pub fn try_recv_batch(&self, max: usize, mut f: impl FnMut(&[u8])) -> Result<usize> {
        let Some((pos, n)) = self.claim(max.max(1), usize::MAX)? else {
            return Ok(0);
        };
        let mut result = Ok(n);
        for k in 0..n as u64 {
            match self.message(pos.wrapping_add(k)) {
                Ok((ptr, len)) => {
                    // SAFETY: the claimed slot is ours until released; len validated.
                    f(unsafe { core::slice::from_raw_parts(ptr, len) })
                }
                Err(e) => {
                    result = Err(e);
                    break;
                }
            }
        }
        self.release(pos, n);
        result
    }

    /// Whether the ring looks empty (the slot at `head` is not published).
    pub fn is_empty(&self) -> Result<bool> {
        let pos = self.ring.header().head.0.load(Ordering::Acquire);
        Ok(matches!(self.look(pos)?, Look::Wait))
    }
}
