//! The single-producer single-consumer ring: packed variable-length records that announce
//! themselves, so that the consumer reads the record it is about to take and nothing else.
//!
//! The data area (`Geometry::area`, `bytes + 16` bytes) holds records one after another: an
//! 8-byte [`RecordHeader`] (length u32, flags u32, one word), then the
//! payload padded to 8 bytes, so an 8-byte message takes 16 bytes. Where a record does not fit
//! before the end of the area, the producer writes a *padding record* (flags
//! `RECORD_PADDING`) over the rest and starts again at offset 0, so that every record, and a
//! zero-copy reservation of `msg_size` bytes, is one contiguous span (Agrona's ring buffers
//! and the Disruptor-style logs do the same).
//!
//! **A record's header is its publication (ABI 6).** The producer writes the payload, then
//! the header word (length and flags, `RECORD_MESSAGE` or `RECORD_PADDING`) in one Release
//! store; the consumer loads the header word at its position with Acquire, and flags 0 means
//! "nothing yet".
//! So on the message path the consumer touches only the cache lines of the records it takes:
//! it never loads the producer's cursor, and a message crosses from one core to the other as
//! the one line it lives in (the spinning round trip is then one line each way, like the
//! cache-line ping-pong, instead of a cursor line and a record line each way). For the
//! consumer never to mistake the bytes of an older lap for a header, the producer *zeroes the
//! flags of the next header ahead* before publishing a record: the word after the last
//! published record is always 0, and the consumer only ever reads headers at record
//! boundaries up to it. That word must be free, so the producer keeps 8 bytes between its
//! tail and the consumer's head (`SLACK`); head == tail therefore always means empty.
//!
//! Cursors are still published, for the other side's free-space check, for `Ring::len`,
//! `ipcring stat`, and for an end that attaches later: each side's cursor *word* packs the
//! offset into the area (the low `CURSOR_OFFSET_BITS` bits) with the low `COUNT_BITS` bits of
//! the messages it has passed, so the position and the count are one store and always agree;
//! beside it on the same line is the full 64-bit count, stored after the word, which may lag
//! it by the last publish and is brought up to it on every read ([`full_count`]). The
//! producer publishes its word once per call (a batch is one store), after the records'
//! headers: an end that sees the count also sees the messages it counts. The consumer keeps
//! a private position and publishes its word once per batch (`try_recv_batch`, `release_n`)
//! or per message (`release`, the single receives), and at once when it passes a padding
//! record (the producer may be waiting for exactly those bytes, see below). The producer keeps
//! a cached copy of the consumer's position and refreshes it (one Acquire load) only when the
//! ring *looks* full; the consumer needs none. From the cached position the producer derives
//! two bounds, the offset up to which records fit in this lap and the count at which the
//! message bound is reached, so a send that fits is two compares; the bounds move only when
//! the cached position does, at a wrap, or at a padding record.
//!
//! **Crashes.** A producer killed between a record's header and its cursor word leaves the
//! word behind records that are published (and that the consumer may already have taken).
//! The next producer repairs this when it attaches: it walks from the published word over
//! the headers that are set, up to the zeroed one, and publishes the result
//! ([`SpscProducer::new`]). The producer also publishes its word whenever it reloads the
//! consumer's, so the word never trails by a whole area and that walk only crosses records
//! of the current lap. A consumer killed between its word and its full count leaves the
//! count behind, which [`full_count`] makes good. No pair of stores can disagree any more
//! (ABI 5 had a byte cursor and a message count as two words: a sender killed between them
//! left the counts inconsistent for good).
//!
//! A padding record is written whenever a record does not fit before the end and the padding
//! (with the zeroed header after it) fits in the free bytes; if the record then does not fit
//! at offset 0 yet, the padding is published on its own and the data bell rung, since a
//! record of nearly the whole area cannot be placed until the consumer has passed the padding
//! (the consumer publishes its cursor and rings the space bell when it does). So any `bytes
//! >= msg_size` works, with no rule that the area hold two records.
//!
//! Every value read from the shared region is validated before use: a cursor word whose
//! offset is not a multiple of 8 inside the area, or that puts more than the area's bytes
//! (or more than `capacity` messages, or more messages than 8-byte records fit) in flight, a
//! record header with unknown flags, a length above `msg_size`, a record crossing the end of
//! the area, or a padding record that does not reach the end exactly or starts at offset 0
//! poisons the ring and returns `Corrupted`.
//!
//! This file knows nothing about shared memory, processes or blocking: it works on a
//! [`RawRing`] and returns `Ok(None)` when it would have to wait.

use crate::error::{Error, Result};
use crate::layout::{
    record_size, RawRing, RecordHeader, CURSOR_OFFSET_BITS, RECORD_ALIGN, RECORD_HEADER_SIZE, RECORD_MESSAGE, RECORD_PADDING,
    SPSC_SLACK,
};
use crate::sync::{orderings, Ordering};

fn corrupted(ring: &RawRing, what: &'static str) -> Error {
    ring.poison();
    Error::Corrupted { what }
}

/// Bits of a cursor word that hold the low bits of its side's message count.
pub const COUNT_BITS: u32 = 64 - CURSOR_OFFSET_BITS;
const OFF_MASK: u64 = (1 << CURSOR_OFFSET_BITS) - 1;
const COUNT_MASK: u64 = (1 << COUNT_BITS) - 1;

/// The offset into the area of the cursor word `word`.
#[inline]
pub fn offset(word: u64) -> u64 {
    word & OFF_MASK
}

/// The low `COUNT_BITS` bits of the message count in the cursor word `word`.
#[inline]
fn count_bits(word: u64) -> u64 {
    word >> CURSOR_OFFSET_BITS
}

/// The cursor word of a side at offset `off` having passed `msgs` messages.
#[inline]
pub fn word(msgs: u64, off: u64) -> u64 {
    (msgs << CURSOR_OFFSET_BITS) | off
}

/// A side's full message count: `full`, the 64-bit count stored after the word (load it
/// *before* the word), brought up to the low bits in `word`, which it may lag by a publish.
#[inline]
pub fn full_count(word: u64, full: u64) -> u64 {
    full.wrapping_add(count_bits(word).wrapping_sub(full) & COUNT_MASK)
}

/// Messages between two cursor words (wrapping in `COUNT_BITS`): the head's and the tail's.
#[inline]
pub fn messages_between(head: u64, tail: u64) -> u64 {
    count_bits(tail).wrapping_sub(count_bits(head)) & COUNT_MASK
}

/// `(bytes, messages)` in flight from the cursor word `head` to `tail` in an area of `area`
/// bytes, or `None` if they make no sense: an offset outside the area or not a multiple of
/// 8, more than the area less `SLACK` bytes apart, or more messages than 8-byte records fit
/// in those bytes (a consumer ahead of the producer's word, seen in a snapshot of two
/// words that a live ring moved between, fails this too).
#[inline]
pub fn used(head: u64, tail: u64, area: u64) -> Option<(u64, u64)> {
    let (ho, to) = (offset(head), offset(tail));
    if ho >= area || to >= area || (ho | to) % RECORD_ALIGN != 0 {
        return None;
    }
    let bytes = if to >= ho { to - ho } else { area - ho + to };
    let msgs = messages_between(head, tail);
    (bytes + SPSC_SLACK <= area && msgs * RECORD_HEADER_SIZE <= bytes).then_some((bytes, msgs))
}

/// Bytes of padding a record of `r` bytes at the offset `off` needs first: 0 if it fits
/// before the end of the area, else the rest of the area (a padding record, see the module
/// docs).
#[inline]
pub fn padding(off: u64, r: u64, area: u64) -> u64 {
    if off + r <= area {
        0
    } else {
        area - off
    }
}

/// The bytes a producer may still write, with `used` bytes and `queued` messages in flight
/// (checked by [`used`]) and at most `max_msgs` queued: the area less `SLACK` (the zeroed
/// header that must follow the last record) less `used`, or 0 at the message bound.
#[inline]
pub fn free_bytes(used: u64, queued: u64, area: u64, max_msgs: u64) -> u64 {
    if queued >= max_msgs {
        return 0;
    }
    area - SPSC_SLACK - used
}

/// Whether a record of `r` bytes would fit after the tail word `tail`, by the head word
/// `head` (padding included): `None` if the two words make no sense together (see [`used`]).
/// What `Ring`'s readiness asks of a snapshot; the producer does the same on its cached copy.
pub fn fits(head: u64, tail: u64, area: u64, max_msgs: u64, r: u64) -> Option<bool> {
    let (used, queued) = used(head, tail, area)?;
    Some(free_bytes(used, queued, area, max_msgs) >= padding(offset(tail), r, area) + r)
}

/// The cursor word near the message count `pos` for an area of `area` bytes: `pos`'s low
/// bits, and `pos` reduced into the area as the offset (the test hook `Ring::debug_start_at`
/// starts rings there).
pub fn cursor_near(pos: u64, area: u64) -> u64 {
    word(pos, (pos % area) & !(RECORD_ALIGN - 1))
}

/// The offset after a record of `r` bytes at `off` (the next lap's 0 at the end of the area).
#[inline]
fn after(off: u64, r: u64, area: u64) -> u64 {
    if off + r >= area {
        0
    } else {
        off + r
    }
}

/// Publishes a side's position: the cursor word, then the full count, both Release (a
/// reader loads the count first, so it never sees a count ahead of the word).
#[inline]
fn store_cursor(line: &crate::layout::CursorLine, msgs: u64, off: u64, order: Ordering) {
    line.0.store(word(msgs, off), order);
    line.1.store(msgs, Ordering::Release);
}

/// Loads a side's position: `(full message count, offset)`, the count brought up to the
/// word.
#[inline]
pub fn load_cursor(line: &crate::layout::CursorLine) -> (u64, u64) {
    let full = line.1.load(Ordering::Acquire);
    let w = line.0.load(Ordering::Acquire);
    (full_count(w, full), offset(w))
}

/// What a published record at an offset is.
enum Rec {
    /// A message: its length and the offset after it.
    Msg(usize, u64),
    /// A padding record (to the end of the area; the next record is at offset 0).
    Pad,
}

/// Reads the header at `off` (a multiple of 8 inside the area of `area` bytes, in a ring of
/// messages of up to `max_len` bytes): `None` if nothing is published there yet, else the
/// record, validated.
#[inline]
fn record_at(ring: &RawRing, off: u64, area: u64, max_len: u64) -> Result<Option<Rec>> {
    let (len, flags) = RecordHeader::unpack(ring.record(off).word.load(Ordering::Acquire));
    if flags == 0 {
        return Ok(None);
    }
    let len = len as u64;
    match flags {
        RECORD_MESSAGE => {
            if len > max_len {
                return Err(corrupted(ring, "message length above msg_size"));
            }
            let r = record_size(len);
            if off + r > area {
                return Err(corrupted(ring, "spsc record crosses the end of the area"));
            }
            Ok(Some(Rec::Msg(len as usize, after(off, r, area))))
        }
        RECORD_PADDING => {
            if off == 0 || off + RECORD_HEADER_SIZE + len != area {
                return Err(corrupted(ring, "spsc padding record does not end the area"));
            }
            Ok(Some(Rec::Pad))
        }
        _ => Err(corrupted(ring, "spsc record with unknown flags")),
    }
}

/// The producer side. Owned by exactly one `Sender`.
#[derive(Debug)]
pub struct SpscProducer {
    ring: RawRing,
    /// The area's length in bytes.
    area: u64,
    /// The most messages queued at once.
    max_msgs: u64,
    /// Where the next record goes. Only we store to the shared `tail`.
    tail: u64,
    /// Messages written below `tail` (full count).
    msgs: u64,
    /// The last consumer cursor word we loaded (and checked).
    cached_head: u64,
    /// The fast path's bound, by `cached_head`: records may be written at offsets up to
    /// `limit` (at most the area's end, so no padding) without looking further. It stays
    /// put as the tail moves into the free bytes (tail + free is constant); a wrap to offset
    /// 0 sets it to 0, so the next call takes the slow path and sets it again.
    limit: u64,
    /// `msgs` at which the message bound is reached, by `cached_head`.
    msgs_limit: u64,
    /// Set when `room` published a padding record alone: the caller rings the data bell
    /// (`take_lone_padding`).
    lone_padding: bool,
}

impl SpscProducer {
    /// Takes the producer side, continuing from the cursors in the region, and first
    /// repairing a cursor that a killed producer left behind its published records (see the
    /// module docs).
    pub fn new(ring: RawRing) -> Result<Self> {
        let h = ring.header();
        let area = ring.geom().area();
        let max_len = ring.geom().msg_size;
        let (mut msgs, mut tail) = load_cursor(&h.tail);
        if tail >= area || tail % RECORD_ALIGN != 0 {
            return Err(corrupted(&ring, "spsc tail outside the area"));
        }
        let mut walked = 0;
        while let Some(rec) = record_at(&ring, tail, area, max_len)? {
            let next = match rec {
                Rec::Msg(_, next) => {
                    msgs = msgs.wrapping_add(1);
                    next
                }
                Rec::Pad => 0,
            };
            walked += if next > tail { next - tail } else { area - tail };
            if walked + SPSC_SLACK > area {
                return Err(corrupted(&ring, "spsc records published past the whole area"));
            }
            tail = next;
        }
        if walked > 0 {
            store_cursor(&h.tail, msgs, tail, Ordering::Release);
        }
        let mut p = SpscProducer {
            ring,
            area,
            max_msgs: ring.geom().max_queued(),
            tail,
            msgs,
            cached_head: 0,
            limit: 0,
            msgs_limit: msgs,
            lone_padding: false,
        };
        p.publish_if_moved();
        p.take_head(h.head.0.load(Ordering::Acquire))?;
        Ok(p)
    }

    /// Publishes our cursor word unless the shared one already says it (only we store it).
    #[inline]
    fn publish_if_moved(&self) {
        let tail = &self.ring.header().tail;
        if tail.0.load(Ordering::Relaxed) != word(self.msgs, self.tail) {
            store_cursor(tail, self.msgs, self.tail, Ordering::Release);
        }
    }

    /// Loads the consumer's cursor word and, if it moved, checks it against ours. Publishes
    /// ours first: a batch that goes on writing as the consumer frees room never runs a
    /// whole area ahead of its published word, so the walk that repairs a word a killed
    /// producer left behind (`new`) only ever crosses records of the current lap. (A word
    /// that did not move was checked when loaded, and ours only moved into the free bytes
    /// since: a poll of a full ring is two loads.)
    #[cold]
    fn refresh(&mut self) -> Result<()> {
        self.publish_if_moved();
        let head = self.ring.header().head.0.load(Ordering::Acquire);
        if head != self.cached_head {
            self.take_head(head)?;
        }
        Ok(())
    }

    /// Checks the consumer's cursor word `head` against ours, and caches it.
    fn take_head(&mut self, head: u64) -> Result<()> {
        match used(head, word(self.msgs, self.tail), self.area) {
            Some((_, n)) if n <= self.max_msgs => {
                self.cached_head = head;
                self.set_limits();
                Ok(())
            }
            _ => Err(corrupted(&self.ring, "spsc head ahead of tail or too far behind")),
        }
    }

    /// Messages queued and free bytes, by the cached consumer cursor (see [`free_bytes`]).
    #[inline]
    fn queued_and_free(&self) -> (u64, u64) {
        let queued = self.msgs.wrapping_sub(count_bits(self.cached_head)) & COUNT_MASK;
        let ho = offset(self.cached_head);
        // The cached word was checked against ours when loaded, and ours only moved into the
        // free bytes since.
        let used = if self.tail >= ho { self.tail - ho } else { self.area - ho + self.tail };
        (queued, free_bytes(used, queued, self.area, self.max_msgs))
    }

    /// Free bytes by the cached consumer cursor.
    #[inline]
    fn free(&self) -> u64 {
        self.queued_and_free().1
    }

    /// Sets the fast path's bounds (`limit`, `msgs_limit`) from the cached consumer cursor.
    fn set_limits(&mut self) {
        let (queued, free) = self.queued_and_free();
        // queued <= max_msgs: checked when the word was cached, and `free` keeps to it.
        self.msgs_limit = self.msgs.wrapping_add(self.max_msgs.saturating_sub(queued));
        self.limit = self.area.min(self.tail + free);
    }

    /// Makes room for a record of `r` bytes at the tail: `Ok(true)` when it can be written at
    /// `self.tail` now. The fast path is two compares against bounds cached from the
    /// consumer's cursor; [`room_slow`](Self::room_slow) does the rest.
    #[inline]
    fn room(&mut self, r: u64) -> Result<bool> {
        if self.tail + r <= self.limit && self.msgs != self.msgs_limit {
            return Ok(true);
        }
        self.room_slow(r)
    }

    /// [`room`](Self::room) past the cached bounds: refreshes the consumer's cursor if the
    /// record does not fit by the cached one (a ring still full by a cursor that did not
    /// move is `Ok(false)` at once: the poll of a spinning sender), writes a padding record
    /// first where the record would cross the end (see the module docs; one that is then
    /// alone is published, and the answer is `Ok(false)`), and sets the bounds again.
    #[inline(never)]
    fn room_slow(&mut self, r: u64) -> Result<bool> {
        let off = self.tail;
        let pad = padding(off, r, self.area);
        let mut free = self.free();
        if free < pad + r {
            // Possibly full: refresh the consumer's cursor and look again.
            let before = self.cached_head;
            self.refresh()?;
            if self.cached_head == before && (pad == 0 || free < pad) {
                // Nothing moved, and no padding record to write alone either.
                return Ok(false);
            }
            free = self.free();
        }
        if pad == 0 {
            self.set_limits();
            return Ok(free >= r);
        }
        // `free` is 0 at the message bound, and pad >= 8: no padding is written then.
        if free < pad {
            return Ok(false);
        }
        // The header after the padding is offset 0's: zero it first (module docs), then
        // publish the padding record.
        self.ring.record(0).word.store(0, Ordering::Relaxed);
        let padding = RecordHeader::pack((pad - RECORD_HEADER_SIZE) as u32, RECORD_PADDING);
        self.ring.record(off).word.store(padding, orderings::SPSC_PUBLISH);
        self.tail = 0;
        self.set_limits();
        if free - pad < r {
            // The record goes at offset 0 once the consumer has passed the padding: publish
            // our cursor and ring, or a consumer parked on an empty ring would never move
            // past it.
            self.publish();
            self.lone_padding = true;
            return Ok(false);
        }
        Ok(true)
    }

    /// Publishes a message record of `len` bytes at the tail (its payload written, room
    /// checked): zeroes the header after it, then sets this one's (module docs).
    #[inline(always)]
    fn seal(&mut self, len: usize) {
        let off = self.tail;
        let next = after(off, record_size(len as u64), self.area);
        if next == 0 {
            // A wrap: `limit` was an offset in the lap behind us (see the field).
            self.limit = 0;
        }
        self.ring.record(next).word.store(0, Ordering::Relaxed);
        crate::failpoint::hit(crate::failpoint::SEND_AFTER_WRITE);
        let word = RecordHeader::pack(len as u32, RECORD_MESSAGE);
        self.ring.record(off).word.store(word, orderings::SPSC_PUBLISH);
        self.tail = next;
        self.msgs = self.msgs.wrapping_add(1);
    }

    /// Writes `msg` as a record at the tail (room checked) and publishes the record.
    #[inline(always)]
    fn write(&mut self, msg: &[u8]) {
        debug_assert!(msg.len() as u64 <= self.ring.geom().msg_size);
        self.ring.record(self.tail).tracker.write();
        // SAFETY: `room` found record_size(msg.len()) free bytes at the tail before the end
        // of the area; only the producer writes them until the consumer's head passes them.
        unsafe { crate::copy::copy_bytes(msg.as_ptr(), self.ring.record_payload(self.tail), msg.len()) };
        self.seal(msg.len());
    }

    /// Publishes our cursor word (one Release store for a batch), then the full count. The
    /// records' headers went first: an end that sees the new count (`Ring::len`, a
    /// receiver's attach snapshot, `poll`) also sees the messages it counts. (The other
    /// order let a receiver count a message it then could not see, and end its stream before
    /// it: the loom model `rerun_receiver_first` found that.)
    #[inline]
    fn publish(&self) {
        crate::failpoint::hit(crate::failpoint::SEND_BEFORE_PUBLISH);
        store_cursor(&self.ring.header().tail, self.msgs, self.tail, Ordering::Release);
    }

    /// Sends one message if there is room. `Ok(false)`: full. `msg.len() <= msg_size`.
    #[inline(always)]
    pub fn try_send(&mut self, msg: &[u8]) -> Result<bool> {
        if !self.room(record_size(msg.len() as u64))? {
            return Ok(false);
        }
        crate::failpoint::hit(crate::failpoint::SEND_AFTER_CLAIM);
        self.write(msg);
        self.publish();
        Ok(true)
    }

    /// [`try_send`](Self::try_send)'s fast path alone, for the ring end's inline send: when
    /// `msg` is no longer than `msg_size` and fits by the cached bounds (two compares),
    /// writes and publishes it and returns `true`. Otherwise `false`, having done nothing:
    /// the caller goes on to `try_send`, which does the rest (a refresh of the consumer's
    /// cursor, a wrap, padding, full).
    #[inline(always)]
    pub fn send_fast(&mut self, msg: &[u8]) -> bool {
        let len = msg.len() as u64;
        // The length first: `record_size` of a length above msg_size could wrap.
        if len > self.ring.geom().msg_size || self.tail + record_size(len) > self.limit || self.msgs == self.msgs_limit {
            return false;
        }
        crate::failpoint::hit(crate::failpoint::SEND_AFTER_CLAIM);
        self.write(msg);
        self.publish();
        true
    }

    /// Sends as many of `msgs` as fit, with one publish of our cursor. Returns how many were
    /// sent.
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
        Ok(Some(self.reserved()))
    }

    /// [`reserve`](Self::reserve)'s fast path alone, for the ring end's inline reservation:
    /// the payload pointer when a whole slot fits by the cached bounds (two compares);
    /// otherwise `None`, having done nothing (the caller goes on to `reserve`).
    #[inline(always)]
    pub fn reserve_fast(&mut self) -> Option<*mut u8> {
        if self.tail + self.ring.geom().slot_size > self.limit || self.msgs == self.msgs_limit {
            return None;
        }
        Some(self.reserved())
    }

    /// The reservation at the tail, room checked: its payload pointer.
    #[inline(always)]
    fn reserved(&mut self) -> *mut u8 {
        crate::failpoint::hit(crate::failpoint::SEND_AFTER_CLAIM);
        self.ring.record(self.tail).tracker.write();
        self.ring.record_payload(self.tail)
    }

    /// Publishes the record reserved by the last `reserve` with `len <= msg_size` bytes: it
    /// takes `record_size(len)` bytes of the area, not the whole reservation.
    pub fn commit(&mut self, len: usize) {
        self.seal(len);
        self.publish();
    }

    /// Whether a call since the last one published a padding record with no message after
    /// it (see the module docs): the caller must then ring the data bell as for a message,
    /// or a consumer parked on the empty ring would never pass it.
    #[inline]
    pub fn take_lone_padding(&mut self) -> bool {
        core::mem::take(&mut self.lone_padding)
    }

    /// [`take_lone_padding`](Self::take_lone_padding) without taking it.
    #[inline]
    pub fn lone_padding(&self) -> bool {
        self.lone_padding
    }
}

/// The consumer side. Owned by exactly one `Receiver`.
#[derive(Debug)]
pub struct SpscConsumer {
    ring: RawRing,
    /// The area's length in bytes.
    area: u64,
    /// The largest message (`msg_size`).
    max_len: u64,
    /// Our read position (an offset): records below it are consumed. Published to the shared
    /// `head` by `release`, `release_n`, a batch, and when passing a padding record.
    head: u64,
    /// Messages consumed below `head` (full count).
    msgs: u64,
    /// The offset after the message the last `peek` returned.
    peeked: u64,
    /// Set when we passed (and published) a padding record: the caller rings the space bell
    /// (`take_passed_padding`).
    passed_padding: bool,
}

impl SpscConsumer {
    /// Takes the consumer side, continuing from the cursor in the region. (The producer's
    /// cursor is not checked against ours: we may have taken records its word does not
    /// count yet, see the module docs.)
    pub fn new(ring: RawRing) -> Result<Self> {
        let (msgs, head) = load_cursor(&ring.header().head);
        if head >= ring.geom().area() || head % RECORD_ALIGN != 0 {
            return Err(corrupted(&ring, "spsc head outside the area"));
        }
        Ok(SpscConsumer {
            ring,
            area: ring.geom().area(),
            max_len: ring.geom().msg_size,
            head,
            msgs,
            peeked: head,
            passed_padding: false,
        })
    }

    #[inline]
    fn publish(&self) {
        store_cursor(&self.ring.header().head, self.msgs, self.head, Ordering::Release);
    }

    /// Passes a padding record at `head`: publishes at once (the caller rings the space
    /// bell, see `take_passed_padding`), since the producer may be waiting for exactly these
    /// bytes (see the module docs).
    #[cold]
    fn pass_padding(&mut self) {
        self.head = 0;
        self.publish();
        self.passed_padding = true;
    }

    /// Whether a call since the last one passed a padding record: the caller must then ring
    /// the space bell as for a consumed message, even if it found no message after it.
    #[inline]
    pub fn take_passed_padding(&mut self) -> bool {
        core::mem::take(&mut self.passed_padding)
    }

    /// [`take_passed_padding`](Self::take_passed_padding) without taking it.
    #[inline]
    pub fn passed_padding(&self) -> bool {
        self.passed_padding
    }

    /// The next message at or after the offset `pos` (`pos == head` passes a padding record
    /// for good): `(offset, len, offset after it)`, or `None` if none is published.
    #[inline]
    fn next_from(&mut self, mut pos: u64) -> Result<Option<(u64, usize, u64)>> {
        loop {
            match record_at(&self.ring, pos, self.area, self.max_len)? {
                None => return Ok(None),
                Some(Rec::Msg(len, next)) => return Ok(Some((pos, len, next))),
                Some(Rec::Pad) => {
                    // Never twice in a row: a padding record at offset 0 is refused.
                    if pos == self.head {
                        self.pass_padding();
                    }
                    pos = 0;
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

    /// [`peek`](Self::peek)'s fast path alone, for the ring end's inline receive: the
    /// message record published at our position, `(pointer, len)`, when its header is a
    /// valid message's (`len <= msg_size`, inside the area). Otherwise `Err`, having done
    /// nothing: `Err(true)` when no record is published there (what `peek` answers `None`
    /// to at once); `Err(false)` for a padding record or a corrupted header, which `peek`
    /// tells apart. Release the message with [`release`](Self::release) as after `peek`.
    #[inline(always)]
    pub fn peek_fast(&mut self) -> core::result::Result<(*const u8, usize), bool> {
        let off = self.head;
        let (len, flags) = RecordHeader::unpack(self.ring.record(off).word.load(Ordering::Acquire));
        let len = len as u64;
        if flags != RECORD_MESSAGE || len > self.max_len || off + record_size(len) > self.area {
            return Err(flags == 0);
        }
        self.peeked = after(off, record_size(len), self.area);
        crate::failpoint::hit(crate::failpoint::RECV_AFTER_CLAIM);
        self.ring.record(off).tracker.read();
        Ok((self.ring.record_payload(off) as *const u8, len as usize))
    }

    /// Whether a message is published at our position (passing a padding record there).
    #[inline]
    pub fn has_message(&mut self) -> Result<bool> {
        Ok(self.next_from(self.head)?.is_some())
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
        self.publish();
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
        // SAFETY: the record at head is published (its flags loaded with Acquire) and the
        // producer does not touch it until we release it; len <= msg_size was validated.
        unsafe { crate::copy::copy_bytes(ptr, buf.as_mut_ptr(), len) };
        self.release();
        Ok(Some(len))
    }

    /// Hands up to `max` messages from `head` on to `f` in place; returns how many and the
    /// offset after the last.
    #[inline]
    fn walk(&mut self, max: usize, f: &mut impl FnMut(&[u8])) -> Result<(usize, u64)> {
        let mut pos = self.head;
        let mut n = 0;
        // Bytes walked past `head`: more than a producer can have in flight means records
        // written over the ones we are walking (a hostile producer could otherwise keep a
        // large batch going round the area for ever).
        let mut walked = 0;
        while n < max {
            let Some((off, len, next)) = self.next_from(pos)? else { break };
            // To the message (across a padding record, if it is at offset 0 behind us), then
            // its record.
            walked += if off >= pos { off - pos } else { self.area - pos + off } + record_size(len as u64);
            if walked + SPSC_SLACK > self.area {
                return Err(corrupted(&self.ring, "spsc records published past the whole area"));
            }
            self.ring.record(off).tracker.read();
            // SAFETY: the record is published (its flags loaded with Acquire), lies inside
            // the area (checked by `record_at`) and is ours until we move head past it.
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
            self.publish();
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
        self.publish();
    }

    /// Whether the ring is empty right now.
    #[cfg(ipcring_test)] // the tests and Miri drive it directly
    pub fn is_empty(&mut self) -> Result<bool> {
        Ok(self.next_from(self.head)?.is_none())
    }
}
