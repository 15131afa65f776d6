//! The single-producer single-consumer ring: two cursors with cached copies.
//!
//! The design of rigtorp's SPSCQueue and rtrb: each side owns one cursor (the producer
//! `tail`, the consumer `head`), publishes it with a Release store, and keeps a private
//! cached copy of the other side's cursor. The cached copy is refreshed (Acquire load) only
//! when the ring *looks* full (producer) or empty (consumer), so in the steady state neither
//! side reads the other's cache line per message.
//!
//! Positions are 64-bit and never wrap in practice; the slot index is `pos & (capacity-1)`.
//! All cursor arithmetic is wrapping anyway, so a ring whose cursors start near 2^64 works.
//! Every value read from the shared region is validated before use: a cursor that puts more
//! than `capacity` messages in flight, or a length above `msg_size`, poisons the ring and
//! returns `Corrupted`.
//!
//! This file knows nothing about shared memory, processes or blocking: it works on a
//! [`RawRing`] and returns `Ok(None)` when it would have to wait.

use crate::error::{Error, Result};
use crate::layout::RawRing;
use crate::sync::{orderings, Ordering};

fn corrupted(ring: &RawRing, what: &'static str) -> Error {
    ring.poison();
    Error::Corrupted { what }
}

/// The producer side. Owned by exactly one `Sender`.
#[derive(Debug)]
pub struct SpscProducer {
    ring: RawRing,
    /// Our cursor: the next position to write. Only we store to the shared `tail`.
    tail: u64,
    /// The last value of the consumer's `head` that we loaded.
    cached_head: u64,
}

impl SpscProducer {
    /// Takes the producer side, continuing from the cursors in the region.
    pub fn new(ring: RawRing) -> Result<Self> {
        let h = ring.header();
        let tail = h.tail.0.load(Ordering::Acquire);
        let head = h.head.0.load(Ordering::Acquire);
        if tail.wrapping_sub(head) > ring.geom().capacity {
            return Err(corrupted(&ring, "spsc cursors more than capacity apart"));
        }
        Ok(SpscProducer {
            ring,
            tail,
            cached_head: head,
        })
    }

    /// Free slots, refreshing the consumer's cursor only if the cached one says "full".
    #[inline]
    fn free(&mut self, want: u64) -> Result<u64> {
        let cap = self.ring.geom().capacity;
        let mut free = cap - self.tail.wrapping_sub(self.cached_head);
        if free < want {
            // Possibly full: refresh the consumer's cursor and look again.
            let head = self.ring.header().head.0.load(Ordering::Acquire);
            let used = self.tail.wrapping_sub(head);
            if used > cap {
                return Err(corrupted(&self.ring, "spsc head ahead of tail or too far behind"));
            }
            self.cached_head = head;
            free = cap - used;
        }
        Ok(free)
    }

    /// Writes `msg` into the next slot without publishing it. `msg.len() <= msg_size`.
    #[inline]
    fn write(&self, pos: u64, msg: &[u8]) {
        debug_assert!(msg.len() as u64 <= self.ring.geom().msg_size);
        let slot = self.ring.slot(pos);
        slot.tracker.write();
        // SAFETY: the slot at `pos` is free (pos - head < capacity) and only the producer
        // writes it until `tail` passes it; the payload has msg_size >= msg.len() bytes.
        unsafe { crate::copy::copy_bytes(msg.as_ptr(), self.ring.payload(pos), msg.len()) };
        slot.len.store(msg.len() as u32, Ordering::Relaxed);
        crate::failpoint::hit(crate::failpoint::SEND_AFTER_WRITE);
    }

    /// Publishes every written slot up to our cursor (one Release store for a whole batch).
    #[inline]
    fn publish(&self) {
        crate::failpoint::hit(crate::failpoint::SEND_BEFORE_PUBLISH);
        self.ring.header().tail.0.store(self.tail, orderings::SPSC_PUBLISH);
    }

    /// Sends one message if there is room. `Ok(false)`: full.
    #[inline]
    pub fn try_send(&mut self, msg: &[u8]) -> Result<bool> {
        if self.free(1)? == 0 {
            return Ok(false);
        }
        crate::failpoint::hit(crate::failpoint::SEND_AFTER_CLAIM);
        self.write(self.tail, msg);
        self.tail = self.tail.wrapping_add(1);
        self.publish();
        Ok(true)
    }

    /// Sends as many of `msgs` as fit, with one publish. Returns how many were sent.
    pub fn try_send_batch<M: AsRef<[u8]>>(&mut self, msgs: &[M]) -> Result<usize> {
        let n = (self.free(msgs.len() as u64)? as usize).min(msgs.len());
        for m in &msgs[..n] {
            self.write(self.tail, m.as_ref());
            self.tail = self.tail.wrapping_add(1);
        }
        if n > 0 {
            self.publish();
        }
        Ok(n)
    }

    /// Reserves the next slot for a zero-copy write: returns its payload pointer, or `None`
    /// when full. Nothing is visible to the consumer until [`commit`](Self::commit).
    pub fn reserve(&mut self) -> Result<Option<*mut u8>> {
        if self.free(1)? == 0 {
            return Ok(None);
        }
        crate::failpoint::hit(crate::failpoint::SEND_AFTER_CLAIM);
        self.ring.slot(self.tail).tracker.write();
        Ok(Some(self.ring.payload(self.tail)))
    }

    /// Publishes the slot returned by the last `reserve` with `len` bytes.
    pub fn commit(&mut self, len: usize) {
        self.ring.slot(self.tail).len.store(len as u32, Ordering::Relaxed);
        self.tail = self.tail.wrapping_add(1);
        self.publish();
    }

}

/// The consumer side. Owned by exactly one `Receiver`.
#[derive(Debug)]
pub struct SpscConsumer {
    ring: RawRing,
    /// Our cursor: the next position to read. Only we store to the shared `head`.
    head: u64,
    /// The last value of the producer's `tail` that we loaded.
    cached_tail: u64,
}

impl SpscConsumer {
    /// Takes the consumer side, continuing from the cursors in the region.
    pub fn new(ring: RawRing) -> Result<Self> {
        let h = ring.header();
        let head = h.head.0.load(Ordering::Acquire);
        let tail = h.tail.0.load(Ordering::Acquire);
        if tail.wrapping_sub(head) > ring.geom().capacity {
            return Err(corrupted(&ring, "spsc cursors more than capacity apart"));
        }
        Ok(SpscConsumer {
            ring,
            head,
            cached_tail: tail,
        })
    }

    /// Published messages not yet consumed, refreshing the producer's cursor only if the
    /// cached one says "empty" (or fewer than `want`).
    #[inline]
    fn available(&mut self, want: u64) -> Result<u64> {
        let mut avail = self.cached_tail.wrapping_sub(self.head);
        if avail < want {
            // Possibly empty: refresh the producer's cursor and look again.
            let tail = self.ring.header().tail.0.load(Ordering::Acquire);
            let n = tail.wrapping_sub(self.head);
            if n > self.ring.geom().capacity {
                return Err(corrupted(&self.ring, "spsc tail behind head or too far ahead"));
            }
            self.cached_tail = tail;
            avail = n;
        }
        Ok(avail)
    }

    /// The validated length of the message at `pos` (which must be published).
    #[inline]
    fn len_at(&self, pos: u64) -> Result<usize> {
        let len = self.ring.slot(pos).len.load(Ordering::Relaxed) as u64;
        if len > self.ring.geom().msg_size {
            return Err(corrupted(&self.ring, "message length above msg_size"));
        }
        Ok(len as usize)
    }

    /// The next message in place, without consuming it: `(pointer, len)`, or `None` if empty.
    #[inline]
    pub fn peek(&mut self) -> Result<Option<(*const u8, usize)>> {
        if self.available(1)? == 0 {
            return Ok(None);
        }
        let len = self.len_at(self.head)?;
        crate::failpoint::hit(crate::failpoint::RECV_AFTER_CLAIM);
        self.ring.slot(self.head).tracker.read();
        Ok(Some((self.ring.payload(self.head) as *const u8, len)))
    }

    /// The position of the next message (messages ever consumed from the ring): what `peek`
    /// returns is at this position until `release`. Stable across receivers, so a bridge
    /// derives message ids from it.
    #[inline]
    pub fn position(&self) -> u64 {
        self.head
    }

    /// Consumes the message returned by the last successful `peek`.
    #[inline]
    pub fn release(&mut self) {
        crate::failpoint::hit(crate::failpoint::RECV_BEFORE_RELEASE);
        self.head = self.head.wrapping_add(1);
        self.ring.header().head.0.store(self.head, Ordering::Release);
    }

    /// Receives one message into `buf`. `Ok(None)`: empty. A message longer than `buf` is
    /// `BufferTooSmall` and stays in the ring.
    #[inline]
    #[cfg(ipcring_test)] // the tests and Miri drive it directly
    pub fn try_recv(&mut self, buf: &mut [u8]) -> Result<Option<usize>> {
        let Some((ptr, len)) = self.peek()? else {
            return Ok(None);
        };
        if len > buf.len() {
            return Err(Error::BufferTooSmall {
                needed: len,
                capacity: buf.len(),
            });
        }
        // SAFETY: the slot at head is published (head < tail, Acquire-loaded) and the
        // producer does not touch it until we release it; len <= msg_size was validated.
        unsafe { crate::copy::copy_bytes(ptr, buf.as_mut_ptr(), len) };
        self.release();
        Ok(Some(len))
    }

    /// Receives up to `max` messages, handing each to `f` in place, with one cursor store.
    pub fn try_recv_batch(&mut self, max: usize, mut f: impl FnMut(&[u8])) -> Result<usize> {
        let n = (self.available(max as u64)? as usize).min(max);
        let mut pos = self.head;
        for _ in 0..n {
            let len = self.len_at(pos)?;
            self.ring.slot(pos).tracker.read();
            // SAFETY: positions head..head+n are published and owned by us until released;
            // len was validated against msg_size.
            let msg = unsafe { core::slice::from_raw_parts(self.ring.payload(pos), len) };
            f(msg);
            pos = pos.wrapping_add(1);
        }
        if n > 0 {
            crate::failpoint::hit(crate::failpoint::RECV_BEFORE_RELEASE);
            self.head = pos;
            self.ring.header().head.0.store(self.head, Ordering::Release);
        }
        Ok(n)
    }

    /// Looks at up to `max` messages in place without consuming them, handing each to `f`;
    /// returns how many. [`release_n`](Self::release_n) consumes the first of them.
    pub fn peek_batch(&mut self, max: usize, mut f: impl FnMut(&[u8])) -> Result<usize> {
        let n = (self.available(max as u64)? as usize).min(max);
        let mut pos = self.head;
        for _ in 0..n {
            let len = self.len_at(pos)?;
            self.ring.slot(pos).tracker.read();
            // SAFETY: positions head..head+n are published (below the Acquire-loaded tail)
            // and the producer does not touch them until we move head past them; len was
            // validated against msg_size.
            f(unsafe { core::slice::from_raw_parts(self.ring.payload(pos), len) });
            pos = pos.wrapping_add(1);
        }
        Ok(n)
    }

    /// Consumes the first `n` messages seen by the last [`peek_batch`](Self::peek_batch)
    /// (`n` at most what it returned), with one cursor store.
    pub fn release_n(&mut self, n: usize) {
        if n == 0 {
            return;
        }
        crate::failpoint::hit(crate::failpoint::RECV_BEFORE_RELEASE);
        self.head = self.head.wrapping_add(n as u64);
        self.ring.header().head.0.store(self.head, Ordering::Release);
    }

    /// Whether the ring is empty right now (refreshes the producer's cursor).
    #[cfg(ipcring_test)] // the tests and Miri drive it directly
    pub fn is_empty(&mut self) -> Result<bool> {
        Ok(self.available(1)? == 0)
    }
}
