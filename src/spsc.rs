//! The single-producer single-consumer ring: packed variable-length records between two
//! byte cursors with cached copies.
//!
//! The data area (`Geometry::area`, `bytes + 8` bytes) holds records one after another: an
//! 8-byte [`RecordHeader`](crate::layout::RecordHeader) (length u32, flags u32), then the
//! payload padded to 8 bytes, so an 8-byte message takes 16 bytes. Where a record does not fit
//! before the end of the area, the producer writes a *padding record* (flags
//! `RECORD_PADDING`) over the rest and starts again at offset 0, so that every record, and a
//! zero-copy reservation of `msg_size` bytes, is one contiguous span (Agrona's ring buffers
//! and the Disruptor-style logs do the same).
//!
//! Cursors are byte positions: the low `CURSOR_OFFSET_BITS` bits are the offset into the area
//! (always a multiple of 8 below `area`), the bits above count laps, wrapping (an area need not
//! be a power of two, so a plain byte count modulo the area would jump where the count wraps
//! at 2^64; a lap field does not). The bytes in flight are the offset difference within a lap,
//! or across one lap boundary. Beside each cursor, on its cache line, is a message count
//! (`CursorLine::1`, wrapping): the producer's bounds the messages queued when the ring has a
//! `capacity`, and both give `Ring::len` without a walk.
//!
//! The design of rigtorp's SPSCQueue and rtrb: each side owns one cursor, publishes it with a
//! Release store, and keeps a private cached copy of the other side's cursor, refreshed
//! (Acquire load) only when the ring *looks* full (producer) or empty (consumer). The consumer
//! keeps a private read position and publishes its cursor once per batch (`try_recv_batch`,
//! `release_n`) or per message (`release`, the API's single receives; publishing lazily there
//! was not measured yet: the store stays in the consumer's own cache line, which the producer
//! reads only when its cached copy says full), and at once when it passes a padding record
//! (the producer may be waiting for exactly those bytes, see below).
//!
//! Known gap: the cursor and its message count are two words. A process killed between the
//! two stores of a publish leaves the count behind the cursor by that batch; a sender that
//! attaches later then finds the counts inconsistent once the receiver has passed those
//! messages, and reports `Corrupted`. Packing the count into the cursor word (offset and a
//! count modulo 2^25, no lap field) would close it, at the price of a message position that
//! wraps at 2^25 for the bridge's ids.
//!
//! A padding record is written whenever a record does not fit before the end and the padding
//! itself fits in the free bytes; if the record then does not fit at offset 0 yet, the padding
//! is published on its own and the data bell rung, since a record of nearly the whole area
//! cannot be placed until the consumer has passed the padding (the consumer publishes its
//! cursor and rings the space bell when it does). So any `bytes >= msg_size` works, with no
//! rule that the area hold two records.
//!
//! Every value read from the shared region is validated before use: a cursor whose offset is
//! not a multiple of 8 inside the area or that puts more than the area's bytes (or more than
//! `capacity` messages) in flight, a record header with unknown flags, a length above
//! `msg_size`, a record crossing the end of the area or the tail, or a padding record that does
//! not reach the end exactly poisons the ring and returns `Corrupted`.
//!
//! This file knows nothing about shared memory, processes or blocking: it works on a
//! [`RawRing`] and returns `Ok(None)` when it would have to wait.

use crate::error::{Error, Result};
use crate::layout::{record_size, RawRing, CURSOR_OFFSET_BITS, RECORD_ALIGN, RECORD_HEADER_SIZE, RECORD_PADDING};
use crate::sync::{orderings, Ordering};

fn corrupted(ring: &RawRing, what: &'static str) -> Error {
    ring.poison();
    Error::Corrupted { what }
}

const OFF_MASK: u64 = (1 << CURSOR_OFFSET_BITS) - 1;
const LAP_MASK: u64 = u64::MAX >> CURSOR_OFFSET_BITS;

/// The offset into the area of the byte cursor `pos`.
#[inline]
pub fn offset(pos: u64) -> u64 {
    pos & OFF_MASK
}

/// The cursor at the start of the lap after `pos`'s.
#[inline]
fn next_lap(pos: u64) -> u64 {
    (pos | OFF_MASK).wrapping_add(1)
}

/// The cursor `r` bytes after `pos` (a record that ends at or before the end of the area).
#[inline]
fn advance(pos: u64, r: u64, area: u64) -> u64 {
    if offset(pos) + r >= area {
        next_lap(pos)
    } else {
        pos + r
    }
}

/// Bytes from `head` to `tail` in an area of `area` bytes, or `None` if the cursors make no
/// sense (an offset outside the area or not a multiple of 8, tail behind head, or more than a
/// whole area apart).
#[inline]
pub fn used(head: u64, tail: u64, area: u64) -> Option<u64> {
    let (ho, to) = (offset(head), offset(tail));
    if ho >= area || to >= area || (ho | to) % RECORD_ALIGN != 0 {
        return None;
    }
    match ((tail >> CURSOR_OFFSET_BITS).wrapping_sub(head >> CURSOR_OFFSET_BITS)) & LAP_MASK {
        0 if to >= ho => Some(to - ho),
        1 if to <= ho => Some(area - ho + to),
        _ => None,
    }
}

/// A valid cursor near `pos` for an area of `area` bytes: `pos`'s lap, its offset reduced
/// into the area (the test hook `Ring::debug_start_at` starts rings there).
pub fn cursor_near(pos: u64, area: u64) -> u64 {
    (pos & !OFF_MASK) | ((offset(pos) % area) & !(RECORD_ALIGN - 1))
}

/// Publishes a consumer position: the byte cursor, then the message count, both Release, so
/// that whoever sees the new count also sees the cursor (see `SpscProducer::publish`).
#[inline]
fn store_head(ring: &RawRing, head: u64, msgs: u64) {
    let h = &ring.header().head;
    h.0.store(head, Ordering::Release);
    h.1.store(msgs, Ordering::Release);
}

/// The producer side. Owned by exactly one `Sender`.
#[derive(Debug)]
pub struct SpscProducer {
    ring: RawRing,
    /// The area's length in bytes.
    area: u64,
    /// The most messages queued at once.
    max_msgs: u64,
    /// Our cursor: where the next record goes. Only we store to the shared `tail`.
    tail: u64,
    /// Messages written below `tail`.
    msgs: u64,
    /// The last consumer cursor we loaded, and its message count.
    cached_head: u64,
    cached_head_msgs: u64,
    /// Set when `room` published a padding record alone: the caller rings the data bell
    /// (`take_lone_padding`).
    lone_padding: bool,
}

impl SpscProducer {
    /// Takes the producer side, continuing from the cursors in the region.
    pub fn new(ring: RawRing) -> Result<Self> {
        let h = ring.header();
        let (tail, msgs) = (h.tail.0.load(Ordering::Acquire), h.tail.1.load(Ordering::Acquire));
        let (head, head_msgs) = (h.head.0.load(Ordering::Acquire), h.head.1.load(Ordering::Acquire));
        let g = ring.geom();
        if used(head, tail, g.area()).is_none() || msgs.wrapping_sub(head_msgs) > g.max_queued() {
            return Err(corrupted(&ring, "spsc cursors more than the area apart"));
        }
        Ok(SpscProducer {
            ring,
            area: g.area(),
            max_msgs: g.max_queued(),
            tail,
            msgs,
            cached_head: head,
            cached_head_msgs: head_msgs,
            lone_padding: false,
        })
    }

    /// Loads the consumer's cursor and checks it against ours.
    #[cold]
    fn refresh(&mut self) -> Result<()> {
        let h = self.ring.header();
        let head = h.head.0.load(Ordering::Acquire);
        let head_msgs = h.head.1.load(Ordering::Acquire);
        if used(head, self.tail, self.area).is_none() || self.msgs.wrapping_sub(head_msgs) > self.max_msgs {
            return Err(corrupted(&self.ring, "spsc head ahead of tail or too far behind"));
        }
        self.cached_head = head;
        self.cached_head_msgs = head_msgs;
        Ok(())
    }

    /// Free bytes by the cached consumer cursor, or 0 when the message bound is reached.
    #[inline]
    fn free(&self) -> u64 {
        if self.msgs.wrapping_sub(self.cached_head_msgs) >= self.max_msgs {
            return 0;
        }
        // The cached cursor was checked against ours when loaded, and ours only moved into
        // the free bytes since: `used` is Some.
        self.area - used(self.cached_head, self.tail, self.area).unwrap_or(self.area)
    }

    /// Makes room for a record of `r` bytes at the tail: `Ok(true)` when it can be written at
    /// `self.tail` now. Writes a padding record first where the record would cross the end
    /// (see the module docs); one that is then alone is published (`Ok(false)`).
    #[inline]
    fn room(&mut self, r: u64) -> Result<bool> {
        let off = offset(self.tail);
        let pad = if off + r <= self.area { 0 } else { self.area - off };
        let mut free = self.free();
        if free < pad + r {
            // Possibly full: refresh the consumer's cursor and look again.
            self.refresh()?;
            free = self.free();
        }
        if pad == 0 {
            return Ok(free >= r);
        }
        // `free` is 0 at the message bound, and pad >= 8: no padding is written then.
        if free < pad {
            return Ok(false);
        }
        let hdr = self.ring.record(off);
        hdr.len.store((pad - RECORD_HEADER_SIZE) as u32, Ordering::Relaxed);
        hdr.flags.store(RECORD_PADDING, Ordering::Relaxed);
        self.tail = next_lap(self.tail);
        if free - pad < r {
            // The record goes at offset 0 once the consumer has passed the padding: publish
            // the padding alone and ring, or a consumer parked on an empty ring would never
            // move past it.
            self.publish();
            self.lone_padding = true;
            return Ok(false);
        }
        Ok(true)
    }

    /// Writes `msg` as a record at the tail (room checked) and moves our private cursor.
    #[inline]
    fn write(&mut self, msg: &[u8]) {
        debug_assert!(msg.len() as u64 <= self.ring.geom().msg_size);
        let off = offset(self.tail);
        let hdr = self.ring.record(off);
        hdr.tracker.write();
        // SAFETY: `room` found record_size(msg.len()) free bytes at `off` before the end of
        // the area; only the producer writes them until `tail` passes them.
        unsafe { crate::copy::copy_bytes(msg.as_ptr(), self.ring.record_payload(off), msg.len()) };
        hdr.len.store(msg.len() as u32, Ordering::Relaxed);
        hdr.flags.store(0, Ordering::Relaxed);
        crate::failpoint::hit(crate::failpoint::SEND_AFTER_WRITE);
        self.tail = advance(self.tail, record_size(msg.len() as u64), self.area);
        self.msgs = self.msgs.wrapping_add(1);
    }

    /// Publishes every record written up to our cursor (one Release store of the cursor for
    /// a batch), then the message count, Release too and after the cursor: an end that sees
    /// the new count (`Ring::len`, a receiver's attach snapshot, `poll`) also sees the cursor,
    /// so the message it counted is there for its next receive. (The other order let a
    /// receiver count a message it then could not see, and end its stream before it: the
    /// loom model `rerun_receiver_first` found that.)
    #[inline]
    fn publish(&self) {
        crate::failpoint::hit(crate::failpoint::SEND_BEFORE_PUBLISH);
        let t = &self.ring.header().tail;
        t.0.store(self.tail, orderings::SPSC_PUBLISH);
        t.1.store(self.msgs, Ordering::Release);
    }

    /// Sends one message if there is room. `Ok(false)`: full. `msg.len() <= msg_size`.
    #[inline]
    pub fn try_send(&mut self, msg: &[u8]) -> Result<bool> {
        if !self.room(record_size(msg.len() as u64))? {
            return Ok(false);
        }
        crate::failpoint::hit(crate::failpoint::SEND_AFTER_CLAIM);
        self.write(msg);
        self.publish();
        Ok(true)
    }

    /// Sends as many of `msgs` as fit, with one publish. Returns how many were sent.
    pub fn try_send_batch<M: AsRef<[u8]>>(&mut self, msgs: &[M]) -> Result<usize> {
        let mut n = 0;
        for m in msgs {
            let m = m.as_ref();
            if !self.room(record_size(m.len() as u64))? {
                break;
            }
            self.write(m);
            n += 1;
        }
        if n > 0 {
            self.publish();
        }
        Ok(n)
    }

    /// Reserves room for a record of `msg_size` at the tail for a zero-copy write: returns
    /// its payload pointer (one contiguous span of `msg_size` bytes), or `None` when full.
    /// Nothing is visible to the consumer until [`commit`](Self::commit).
    pub fn reserve(&mut self) -> Result<Option<*mut u8>> {
        if !self.room(self.ring.geom().slot_size)? {
            return Ok(None);
        }
        crate::failpoint::hit(crate::failpoint::SEND_AFTER_CLAIM);
        let off = offset(self.tail);
        self.ring.record(off).tracker.write();
        Ok(Some(self.ring.record_payload(off)))
    }

    /// Publishes the record reserved by the last `reserve` with `len <= msg_size` bytes: it
    /// takes `record_size(len)` bytes of the area, not the whole reservation.
    pub fn commit(&mut self, len: usize) {
        let hdr = self.ring.record(offset(self.tail));
        hdr.len.store(len as u32, Ordering::Relaxed);
        hdr.flags.store(0, Ordering::Relaxed);
        self.tail = advance(self.tail, record_size(len as u64), self.area);
        self.msgs = self.msgs.wrapping_add(1);
        self.publish();
    }

    /// Whether a call since the last one published a padding record with no message after
    /// it (see the module docs): the caller must then ring the data bell as for a message,
    /// or a consumer parked on the empty ring would never pass it.
    #[inline]
    pub fn take_lone_padding(&mut self) -> bool {
        core::mem::take(&mut self.lone_padding)
    }
}

/// What a record at a consumer position is.
enum Rec {
    /// A message: the offset of its record, its length, the position after it.
    Msg(u64, usize, u64),
    /// A padding record: the position after it (the next lap's start).
    Pad(u64),
}

/// The consumer side. Owned by exactly one `Receiver`.
#[derive(Debug)]
pub struct SpscConsumer {
    ring: RawRing,
    /// The area's length in bytes.
    area: u64,
    /// Our read position: records below it are consumed. Published to the shared `head`
    /// by `release`, `release_n`, a batch, and when passing a padding record.
    head: u64,
    /// Messages consumed below `head`.
    msgs: u64,
    /// The last value of the producer's `tail` that we loaded.
    cached_tail: u64,
    /// The position after the message the last `peek` returned.
    peeked: u64,
    /// Set when we passed (and published) a padding record: the caller rings the space bell
    /// (`take_passed_padding`).
    passed_padding: bool,
}

impl SpscConsumer {
    /// Takes the consumer side, continuing from the cursors in the region.
    pub fn new(ring: RawRing) -> Result<Self> {
        let h = ring.header();
        let (head, msgs) = (h.head.0.load(Ordering::Acquire), h.head.1.load(Ordering::Acquire));
        let tail = h.tail.0.load(Ordering::Acquire);
        let area = ring.geom().area();
        if used(head, tail, area).is_none() {
            return Err(corrupted(&ring, "spsc cursors more than the area apart"));
        }
        Ok(SpscConsumer {
            ring,
            area,
            head,
            msgs,
            cached_tail: tail,
            peeked: head,
            passed_padding: false,
        })
    }

    /// Published bytes from `pos` (at or after `head`, below the cached tail) on, refreshing
    /// the producer's cursor when the cached one says there are none.
    #[inline]
    fn available(&mut self, pos: u64) -> Result<u64> {
        // Checked when the tail was loaded, for `head`; `pos` lies between the two.
        let avail = used(pos, self.cached_tail, self.area).unwrap_or(0);
        if avail > 0 {
            return Ok(avail);
        }
        // Possibly empty: refresh the producer's cursor and look again.
        let tail = self.ring.header().tail.0.load(Ordering::Acquire);
        if used(self.head, tail, self.area).is_none() {
            return Err(corrupted(&self.ring, "spsc tail behind head or too far ahead"));
        }
        self.cached_tail = tail;
        Ok(used(pos, tail, self.area).unwrap_or(0))
    }

    /// Reads and validates the record at `pos`, which has `avail > 0` published bytes after it.
    #[inline]
    fn record_at(&self, pos: u64, avail: u64) -> Result<Rec> {
        let off = offset(pos);
        // `used` checked off < area and off % 8 == 0, and area % 8 == 0: the header fits.
        let hdr = self.ring.record(off);
        let len = hdr.len.load(Ordering::Relaxed) as u64;
        match hdr.flags.load(Ordering::Relaxed) {
            0 => {
                if len > self.ring.geom().msg_size {
                    return Err(corrupted(&self.ring, "message length above msg_size"));
                }
                let r = record_size(len);
                if off + r > self.area {
                    return Err(corrupted(&self.ring, "spsc record crosses the end of the area"));
                }
                if r > avail {
                    return Err(corrupted(&self.ring, "spsc record crosses the tail"));
                }
                Ok(Rec::Msg(off, len as usize, advance(pos, r, self.area)))
            }
            RECORD_PADDING => {
                if off + RECORD_HEADER_SIZE + len != self.area || self.area - off > avail {
                    return Err(corrupted(&self.ring, "spsc padding record does not end the area"));
                }
                Ok(Rec::Pad(next_lap(pos)))
            }
            _ => Err(corrupted(&self.ring, "spsc record with unknown flags")),
        }
    }

    /// Passes a padding record at `head`: publishes at once (the caller rings the space
    /// bell, see `take_passed_padding`), since the producer may be waiting for exactly these
    /// bytes (see the module docs).
    #[cold]
    fn pass_padding(&mut self, next: u64) {
        self.head = next;
        store_head(&self.ring, self.head, self.msgs);
        self.passed_padding = true;
    }

    /// Whether a call since the last one passed a padding record: the caller must then ring
    /// the space bell as for a consumed message, even if it found no message after it.
    #[inline]
    pub fn take_passed_padding(&mut self) -> bool {
        core::mem::take(&mut self.passed_padding)
    }

    /// The next message at or after `pos` (`pos == head` passes padding records for good):
    /// `(offset, len, position after it)`, or `None` if there is none published.
    #[inline]
    fn next_from(&mut self, mut pos: u64) -> Result<Option<(u64, usize, u64)>> {
        loop {
            let avail = self.available(pos)?;
            if avail == 0 {
                return Ok(None);
            }
            match self.record_at(pos, avail)? {
                Rec::Msg(off, len, next) => return Ok(Some((off, len, next))),
                Rec::Pad(next) => {
                    if pos == self.head {
                        self.pass_padding(next);
                    }
                    pos = next;
                }
            }
        }
    }

    /// The next message in place, without consuming it: `(pointer, len)`, or `None` if empty.
    #[inline]
    pub fn peek(&mut self) -> Result<Option<(*const u8, usize)>> {
        let Some((off, len, next)) = self.next_from(self.head)? else {
            return Ok(None);
        };
        self.peeked = next;
        crate::failpoint::hit(crate::failpoint::RECV_AFTER_CLAIM);
        self.ring.record(off).tracker.read();
        Ok(Some((self.ring.record_payload(off) as *const u8, len)))
    }

    /// Messages ever consumed from the ring (wrapping): what `peek` returns is this message
    /// until `release`. Stable across receivers, so a bridge derives message ids from it.
    #[inline]
    pub fn position(&self) -> u64 {
        self.msgs
    }

    /// Consumes the message returned by the last successful `peek`, publishing our cursor.
    #[inline]
    pub fn release(&mut self) {
        crate::failpoint::hit(crate::failpoint::RECV_BEFORE_RELEASE);
        self.head = self.peeked;
        self.msgs = self.msgs.wrapping_add(1);
        store_head(&self.ring, self.head, self.msgs);
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
        // SAFETY: the record at head is published (below the Acquire-loaded tail) and the
        // producer does not touch it until we release it; len <= msg_size was validated.
        unsafe { crate::copy::copy_bytes(ptr, buf.as_mut_ptr(), len) };
        self.release();
        Ok(Some(len))
    }

    /// Hands up to `max` messages from `head` on to `f` in place; returns how many and the
    /// position after the last.
    #[inline]
    fn walk(&mut self, max: usize, f: &mut impl FnMut(&[u8])) -> Result<(usize, u64)> {
        let mut pos = self.head;
        let mut n = 0;
        while n < max {
            let Some((off, len, next)) = self.next_from(pos)? else { break };
            self.ring.record(off).tracker.read();
            // SAFETY: the record is published (below the Acquire-loaded tail), lies inside the
            // area (checked by `record_at`) and is ours until we move head past it.
            f(unsafe { core::slice::from_raw_parts(self.ring.record_payload(off), len) });
            pos = next;
            n += 1;
        }
        Ok((n, pos))
    }

    /// Receives up to `max` messages, handing each to `f` in place, with one cursor store.
    pub fn try_recv_batch(&mut self, max: usize, mut f: impl FnMut(&[u8])) -> Result<usize> {
        let (n, pos) = self.walk(max, &mut f)?;
        if n > 0 {
            crate::failpoint::hit(crate::failpoint::RECV_BEFORE_RELEASE);
            self.head = pos;
            self.msgs = self.msgs.wrapping_add(n as u64);
            store_head(&self.ring, self.head, self.msgs);
        }
        Ok(n)
    }

    /// Looks at up to `max` messages in place without consuming them, handing each to `f`;
    /// returns how many. [`release_n`](Self::release_n) consumes the first of them.
    pub fn peek_batch(&mut self, max: usize, mut f: impl FnMut(&[u8])) -> Result<usize> {
        Ok(self.walk(max, &mut f)?.0)
    }

    /// Consumes the first `n` messages seen by the last [`peek_batch`](Self::peek_batch)
    /// (`n` at most what it returned), with one cursor store. Walks the records again; one
    /// that changed since (a hostile producer) poisons the ring, and the walk stops there.
    pub fn release_n(&mut self, n: usize) {
        if n == 0 {
            return;
        }
        crate::failpoint::hit(crate::failpoint::RECV_BEFORE_RELEASE);
        let mut pos = self.head;
        let mut done = 0;
        while done < n {
            match self.next_from(pos) {
                Ok(Some((_, _, next))) => {
                    pos = next;
                    done += 1;
                }
                _ => {
                    self.ring.poison();
                    break;
                }
            }
        }
        self.head = pos;
        self.msgs = self.msgs.wrapping_add(done as u64);
        store_head(&self.ring, self.head, self.msgs);
    }

    /// Whether the ring is empty right now (refreshes the producer's cursor).
    #[cfg(ipcring_test)] // the tests and Miri drive it directly
    pub fn is_empty(&mut self) -> Result<bool> {
        Ok(self.next_from(self.head)?.is_none())
    }
}
