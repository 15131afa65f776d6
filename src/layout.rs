//! The shared layout: the `#[repr(C)]` header and slot formats, magic, ABI version, the
//! layout hash and the size arithmetic.
//!
//! A region is one header page followed by the messages: `capacity` MPMC slots of
//! `slot_size` bytes, or an SPSC data area of packed records (ABI 5; ABI 6 made a record's
//! flags its publication and packed each SPSC cursor with its message count):
//!
//! ```text
//! offset 0     Header (HEADER_SIZE = 4096 bytes in the std build)
//!   0          identity line: magic, ABI, init state, layout hash, kind, sizes, poison,
//!              attach and death counters per role, fence mode, bytes (ABI 5)
//!   128        tail: the producer cursor (SPSC: offset | count << 37), and the SPSC
//!              full message count beside it
//!   256        head: the consumer cursor, the same
//!   384        data bell: futex word + waiter count + sem_t, where receivers park
//!   512        space bell: the same, where senders park
//!   640        endpoint table: MAX_ENDPOINTS entries of 32 bytes
//! MPMC:
//! 4096         slot 0: SlotHeader (seq u64, len u32, owner u32) then msg_size payload bytes,
//!              rounded up to a multiple of 64 bytes
//! 4096 + k*slot_size   slot k
//! SPSC:
//! 4080         the data area, bytes + 16 long: records of RecordHeader (len u32, flags u32)
//!              and the payload padded to 8 bytes; a padding record where the next one does
//!              not fit before the end; flags 0 where nothing is published yet. The first 16
//!              bytes (the header of the record at offset 0 and the 8 bytes the producer
//!              keeps free after its last record) take the header page's last 16 bytes, so
//!              payloads start page- or 8-byte aligned and the object is HEADER_SIZE + bytes.
//! ```
//!
//! Everything in the region is an atomic (or plain bytes for payloads and the `sem_t`), so a
//! peer writing concurrently is never a data race on our side, and every field is read once
//! into a local and validated before use. Padding has a fixed size: `Pad` is `align(128)`
//! whatever the target, and the offsets are pinned by the const asserts at the bottom.

use crate::error::{Error, Result};
pub use crate::kind::{FenceMode, Kind, WakeBackend};
use crate::options::RingOptions;
use crate::sync::{AccessTracker, AtomicU32, AtomicU64, FutexWord, Ordering, MODEL};
use crate::sys::sem;
pub use crate::sys::sem::SemStorage;
use core::mem::{align_of, size_of};

/// "IPCRING1" read as a little-endian u64: the first eight bytes of every region.
pub const MAGIC: u64 = u64::from_le_bytes(*b"IPCRING1");
/// Bumped whenever the shared layout or the protocol over it changes incompatibly.
pub const ABI_VERSION: u32 = 6;
/// The value of `Identity::init` once the creator has finished ("REDY"). A distinctive value
/// rather than `1`, so that garbage is unlikely to look ready.
pub const INIT_READY: u32 = u32::from_le_bytes(*b"REDY");
/// Slots are laid out at this granularity so that a slot's header never shares a cache line
/// with its neighbour's payload.
pub const SLOT_ALIGN: u64 = 64;
/// The largest capacity accepted (slots of an MPMC ring, queued messages of an SPSC ring).
pub const MAX_CAPACITY: u64 = 1 << 24;
/// SPSC records start at multiples of this many bytes of the data area, and their payloads
/// are padded to it.
pub const RECORD_ALIGN: u64 = 8;
/// Bytes of an SPSC record before its payload: `RecordHeader` (length u32, flags u32).
pub const RECORD_HEADER_SIZE: u64 = 8;
/// `RecordHeader::flags` of an SPSC padding record: the producer wrote it where a record did
/// not fit before the end of the area; the consumer skips to the start of the area.
pub const RECORD_PADDING: u32 = 1;
/// `RecordHeader::flags` of a published SPSC message (ABI 6: 0 is "nothing published here").
pub const RECORD_MESSAGE: u32 = 2;
/// Bytes an SPSC producer keeps free after its last record: the header there, whose flags it
/// zeroes before publishing the record (see `spsc`).
pub const SPSC_SLACK: u64 = 8;
/// Bits of an SPSC cursor word that hold the offset into the data area; the 27 bits above
/// hold the low bits of that side's message count (ABI 6, see `spsc`). 2^37 is above any
/// area (`MAX_REGION_SIZE` is 2^36), and 2^27 above any count in flight (2^24) or moved by
/// one publish.
pub const CURSOR_OFFSET_BITS: u32 = 37;
/// The largest message size accepted (bytes). Also keeps `len` clear of the tombstone bit.
pub const MAX_MSG_SIZE: u64 = 1 << 28;
/// The largest region accepted (bytes): 64 GiB.
pub const MAX_REGION_SIZE: u64 = 1 << 36;
/// Endpoints (senders + receivers) that can be attached at once.
pub const MAX_ENDPOINTS: usize = if MODEL { 4 } else { 64 };
/// Set in a slot's `len` by an MPMC producer that gave its claimed slot up (a reservation
/// dropped without commit): consumers skip the slot without delivering anything.
pub const TOMBSTONE: u32 = 1 << 31;

/// Fixed 128-byte alignment (two 64-byte lines, against adjacent-line prefetch), independent
/// of target and of any crate's notion of a cache line.
#[repr(C, align(128))]
#[derive(Debug)]
pub struct Pad<T>(pub T);

/// The first line of the header: what the region is. Written by the creator before `init`
/// is set to `INIT_READY` (Release); read once by openers after they see it (Acquire).
#[repr(C)]
#[derive(Debug)]
pub struct Identity {
    /// `MAGIC`.
    pub magic: AtomicU64,
    /// `ABI_VERSION`.
    pub abi_version: AtomicU32,
    /// 0 while the creator works, `INIT_READY` once the region may be used.
    pub init: AtomicU32,
    /// `layout_hash()` of the creator's build.
    pub layout_hash: AtomicU64,
    /// `Kind` as u32.
    pub kind: AtomicU32,
    /// `WakeBackend` as u32.
    pub wake: AtomicU32,
    /// MPMC: slots (any count from 1); SPSC: the bound on queued messages, 0 for none.
    pub capacity: AtomicU64,
    /// Largest message in bytes.
    pub msg_size: AtomicU64,
    /// MPMC: bytes per slot (header + payload, rounded to `SLOT_ALIGN`). SPSC: bytes of a
    /// record of `msg_size` (record header + payload rounded to `RECORD_ALIGN`).
    pub slot_size: AtomicU64,
    /// Offset of slot 0 (MPMC) or of the data area (SPSC) from the start of the region.
    pub slots_offset: AtomicU64,
    /// Total size of the region in bytes.
    pub region_size: AtomicU64,
    /// Process that created the region (informational only: never trusted for liveness).
    pub creator_pid: AtomicU32,
    /// Non-zero once any process found the region corrupted.
    pub poison: AtomicU32,
    /// Bit 0: a sender has attached at some time; bit 1: a receiver has.
    pub ever: AtomicU32,
    /// Bumped on every attach and close, so peers know to recount the endpoints.
    pub epoch: AtomicU32,
    /// Sender attaches since the ring was made (monotonic, wrapping): an end that snapshots
    /// it at its own attach knows that a sender came (and maybe left) since, even if it
    /// never saw it alive (ABI 4).
    pub senders_attached: AtomicU32,
    /// Receiver attaches since the ring was made (as `senders_attached`).
    pub receivers_attached: AtomicU32,
    /// Senders found dead (their lock released with no close mark, see `endpoint`), each
    /// counted once by whoever noticed first (ABI 4).
    pub senders_died: AtomicU32,
    /// Receivers found dead (as `senders_died`).
    pub receivers_died: AtomicU32,
    /// `FenceMode` as u32: which barriers the sleep/wake handshake uses, chosen by the
    /// creator so that every process agrees (ABI 5; see `wait`).
    pub fences: AtomicU32,
    /// SPSC: the `bytes` the ring was sized with (its data area is `bytes + 16`, see
    /// `Geometry`). MPMC: `capacity * slot_size` (ABI 5).
    pub bytes: AtomicU64,
}

/// A cursor's cache line (ABI 5): the position, and beside it (SPSC) the count of messages
/// that position covers, so a queued-message count needs no walk over the records.
#[repr(C, align(128))]
#[derive(Debug)]
pub struct CursorLine(
    /// The position: on SPSC a cursor word (the offset into the area, and above
    /// `CURSOR_OFFSET_BITS` the low bits of the side's message count, see `spsc`), on MPMC a
    /// message position.
    pub AtomicU64,
    /// SPSC: messages (not padding records) the side has passed, wrapping at 2^64; stored
    /// after the word, which it may lag by one publish (`spsc::full_count`). Unused by MPMC.
    pub AtomicU64,
);

/// Where one side parks: a futex doorbell, a waiter count, and a process-shared `sem_t` for
/// the `Sem` backend. The futex word is a doorbell, never state: waiters always re-check the
/// cursors after waking.
#[repr(C, align(128))]
#[derive(Debug)]
pub struct Bell {
    /// The futex word; bumped by a waker before it wakes anybody.
    pub seq: FutexWord,
    /// How many waiters have announced themselves (they are parked or about to).
    pub waiters: AtomicU32,
    /// 1 while a waiter has armed the bell since the last ring: set by every waiter before
    /// its re-check, cleared (swapped to 0) by the one waker that rings. Later wakers see 0
    /// and make no system call: the ring in flight wakes every waiter armed before it (see
    /// `wait`).
    pub armed: AtomicU32,
    /// How many endpoints wait on their descriptor (`ipcring_fd`, `AsFd`) for this bell: a
    /// waker that takes the arm writes the ring's doorbell FIFO while this is non-zero (and
    /// wakes the futex only while `waiters` is; see `wait::announce_fd`).
    pub fd_waiters: AtomicU32,
    /// Storage for a process-shared `sem_t` (initialised only for the `Sem` backend).
    pub sem: SemStorage,
}

/// One entry of the endpoint table. The entry's OFD lock byte (see `endpoint`) says whether
/// it is held; these fields describe the holder and are informational until then.
#[repr(C)]
#[derive(Debug)]
pub struct EndpointEntry {
    /// 0 free, 1 sender, 2 receiver.
    pub role: AtomicU32,
    /// The attaching process's pid (for display; never trusted for liveness).
    pub pid: AtomicU32,
    /// Bumped at each attach, so an owner id names one attachment, not a table index.
    pub generation: AtomicU32,
    /// How the holder stands (ABI 4): `generation << 2 | status`, status 1 attached, 2 closed
    /// cleanly, 3 found dead. A clean close writes "closed" before it releases the lock, so
    /// a released lock over "attached" is a death (see `endpoint`).
    pub state: AtomicU32,
    /// MPMC: the positions `[claim_lo, claim_hi)` this endpoint claimed last, written before
    /// the cursor CAS that claims them (and emptied when that CAS fails). A peer that finds a
    /// slot stuck reads these to learn whether a live endpoint may still own it (see `mpmc`).
    pub claim_lo: AtomicU64,
    /// The end of the claimed range (exclusive).
    pub claim_hi: AtomicU64,
}

/// The region header.
#[repr(C, align(128))]
#[derive(Debug)]
pub struct Header {
    /// What the region is.
    pub id: Pad<Identity>,
    /// Producer cursor: positions `< tail` have been published.
    pub tail: CursorLine,
    /// Consumer cursor: positions `< head` have been consumed.
    pub head: CursorLine,
    /// Receivers park here; senders ring it after publishing.
    pub data_bell: Bell,
    /// Senders park here; receivers ring it after consuming.
    pub space_bell: Bell,
    /// Who is attached.
    pub endpoints: [EndpointEntry; MAX_ENDPOINTS],
}

/// The header of one slot; the payload follows it.
#[repr(C)]
#[derive(Debug)]
pub struct SlotHeader {
    /// MPMC: the Vyukov stamp: `2*pos` when free for the producer of `pos`, `2*pos + 1` when
    /// it holds the message of `pos` (see `mpmc`). Unused by SPSC.
    pub seq: AtomicU64,
    /// Payload length in bytes, or `TOMBSTONE` for a skipped MPMC slot.
    pub len: AtomicU32,
    /// MPMC: the endpoint id (`index << 24 | generation`) of the producer that claimed it.
    pub owner: AtomicU32,
    /// Lets loom check payload accesses; zero-sized in the std build.
    pub tracker: AccessTracker,
}

/// The header of an SPSC record: the payload follows it, padded to `RECORD_ALIGN`. One
/// 64-bit word, so that one store publishes a record and one load reads it (ABI 6): the
/// payload length in the low 32 bits (offset 0, little-endian), the flags in the high 32
/// (offset 4). See [`RecordHeader::pack`].
#[repr(C)]
#[derive(Debug)]
pub struct RecordHeader {
    /// `pack(len, flags)`. `len`: payload length in bytes (a padding record: the bytes it
    /// covers after its header). `flags`: `RECORD_MESSAGE` for a published message,
    /// `RECORD_PADDING` for a padding record, 0 where nothing is published yet. Stored last,
    /// with Release: the publication.
    pub word: AtomicU64,
    /// Lets loom check payload accesses; zero-sized in the std build.
    pub tracker: AccessTracker,
}

impl RecordHeader {
    /// A record header with every field zero.
    pub fn zeroed() -> Self {
        RecordHeader {
            word: AtomicU64::new(0),
            tracker: AccessTracker::new(),
        }
    }

    /// The header word of a record of `len` bytes with `flags`.
    #[inline]
    pub const fn pack(len: u32, flags: u32) -> u64 {
        (flags as u64) << 32 | len as u64
    }

    /// `(len, flags)` of a header word.
    #[inline]
    pub const fn unpack(word: u64) -> (u32, u32) {
        (word as u32, (word >> 32) as u32)
    }
}

/// Bytes from the start of the region to MPMC slot 0 and to the payload of an SPSC record at
/// offset 0 (one 4 KiB page in the std build). The header of that SPSC record lives in the
/// last `RECORD_HEADER_SIZE` bytes of this page, which the `Header` never reaches.
pub const HEADER_SIZE: u64 = round_up(size_of::<Header>() as u64 + SPSC_LEAD, 4096);

/// Bytes of the SPSC data area beyond `bytes`, taken from the end of the header page: the
/// header of the record at offset 0 and the producer's `SPSC_SLACK`.
pub const SPSC_LEAD: u64 = RECORD_HEADER_SIZE + SPSC_SLACK;

/// The bytes an SPSC record of a `len`-byte payload takes: its header and the payload padded
/// to `RECORD_ALIGN` (an 8-byte message takes 16).
#[inline]
pub const fn record_size(len: u64) -> u64 {
    RECORD_HEADER_SIZE + round_up(len, RECORD_ALIGN)
}
/// Bytes of a slot before its payload.
pub const SLOT_HEADER_SIZE: u64 = round_up(size_of::<SlotHeader>() as u64, 8);

/// Rounds `v` up to a multiple of `to` (a power of two).
pub const fn round_up(v: u64, to: u64) -> u64 {
    (v + to - 1) & !(to - 1)
}

impl Identity {
    fn new() -> Self {
        Identity {
            magic: AtomicU64::new(0),
            abi_version: AtomicU32::new(0),
            init: AtomicU32::new(0),
            layout_hash: AtomicU64::new(0),
            kind: AtomicU32::new(0),
            wake: AtomicU32::new(0),
            capacity: AtomicU64::new(0),
            msg_size: AtomicU64::new(0),
            slot_size: AtomicU64::new(0),
            slots_offset: AtomicU64::new(0),
            region_size: AtomicU64::new(0),
            creator_pid: AtomicU32::new(0),
            poison: AtomicU32::new(0),
            ever: AtomicU32::new(0),
            epoch: AtomicU32::new(0),
            senders_attached: AtomicU32::new(0),
            receivers_attached: AtomicU32::new(0),
            senders_died: AtomicU32::new(0),
            receivers_died: AtomicU32::new(0),
            fences: AtomicU32::new(0),
            bytes: AtomicU64::new(0),
        }
    }
}

impl Bell {
    fn new() -> Self {
        Bell {
            seq: FutexWord::new(0),
            waiters: AtomicU32::new(0),
            armed: AtomicU32::new(0),
            fd_waiters: AtomicU32::new(0),
            sem: SemStorage::zeroed(),
        }
    }
}

impl Header {
    /// A header with every field zero, as a fresh shared-memory object reads. Used to build
    /// heap regions, where the memory does not start out as valid atomics under loom.
    pub fn zeroed() -> Self {
        Header {
            id: Pad(Identity::new()),
            tail: CursorLine(AtomicU64::new(0), AtomicU64::new(0)),
            head: CursorLine(AtomicU64::new(0), AtomicU64::new(0)),
            data_bell: Bell::new(),
            space_bell: Bell::new(),
            endpoints: core::array::from_fn(|_| EndpointEntry {
                role: AtomicU32::new(0),
                pid: AtomicU32::new(0),
                generation: AtomicU32::new(0),
                state: AtomicU32::new(0),
                claim_lo: AtomicU64::new(0),
                claim_hi: AtomicU64::new(0),
            }),
        }
    }
}

impl SlotHeader {
    /// A slot header with every field zero.
    pub fn zeroed() -> Self {
        SlotHeader {
            seq: AtomicU64::new(0),
            len: AtomicU32::new(0),
            owner: AtomicU32::new(0),
            tracker: AccessTracker::new(),
        }
    }
}

/// A hash of everything two builds must agree on to share a region: sizes, alignments and
/// offsets of the shared types, pointer width, endianness, the ABI version and the table
/// size. FNV-1a over those numbers.
pub fn layout_hash() -> u64 {
    let facts: [u64; 21] = [
        ABI_VERSION as u64,
        size_of::<Header>() as u64,
        align_of::<Header>() as u64,
        core::mem::offset_of!(Header, tail) as u64,
        core::mem::offset_of!(Header, head) as u64,
        core::mem::offset_of!(Header, data_bell) as u64,
        core::mem::offset_of!(Header, space_bell) as u64,
        core::mem::offset_of!(Header, endpoints) as u64,
        size_of::<Bell>() as u64,
        core::mem::offset_of!(Bell, sem) as u64,
        core::mem::offset_of!(Bell, fd_waiters) as u64,
        size_of::<SlotHeader>() as u64,
        size_of::<RecordHeader>() as u64,
        CURSOR_OFFSET_BITS as u64,
        size_of::<EndpointEntry>() as u64,
        size_of::<Identity>() as u64,
        core::mem::offset_of!(Identity, fences) as u64,
        MAX_ENDPOINTS as u64,
        size_of::<usize>() as u64,
        cfg!(target_endian = "little") as u64,
        HEADER_SIZE,
    ];
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for f in facts {
        for b in f.to_le_bytes() {
            h ^= b as u64;
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    h
}

/// The shape of a ring: everything derived from kind, capacity, bytes and msg_size.
///
/// An SPSC ring's data area holds packed records (an 8-byte `RecordHeader`, the payload
/// padded to 8 bytes; a padding record where a record does not fit before the end): it is
/// `bytes + 16` bytes long, starting 16 bytes before the end of the header page (the header
/// of the record at offset 0 and the 8 bytes the producer keeps free after its last record,
/// `SPSC_SLACK`, sit there), so the object is exactly `HEADER_SIZE + bytes` and
/// `bytes >= msg_size` (rounded up to 8) takes one message of `msg_size`. Its `capacity`,
/// when not 0, bounds the messages queued (any value from 1); without `bytes`, the area
/// holds `capacity` records of `msg_size` wherever the wrap falls (`(capacity + 1) * record -
/// 16` bytes: one record's room for the padding and the slack). An MPMC ring has `capacity`
/// fixed slots of `slot_size` bytes.
///
/// # Examples
///
/// ```
/// use ipcring::{Geometry, Kind, WakeBackend};
/// let g = Geometry::new(Kind::Mpmc, WakeBackend::Futex, 1024, 8).unwrap();
/// assert_eq!(g.slot_size % 64, 0);
/// assert_eq!(g.region_size, g.slots_offset + 1024 * g.slot_size);
/// let s = Geometry::sized(Kind::Spsc, WakeBackend::Futex, None, Some(1 << 20), 1 << 20).unwrap();
/// assert_eq!((s.capacity, s.bytes, s.region_size), (0, 1 << 20, 4096 + (1 << 20)));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Geometry {
    /// The algorithm.
    pub kind: Kind,
    /// The wake backend.
    pub wake: WakeBackend,
    /// The sleep/wake barriers ([`FenceMode::Full`] from [`Geometry::new`]; a creator
    /// chooses, see [`RingOptions::fence`]).
    pub fence: FenceMode,
    /// MPMC: slots (any count from 1). SPSC: the most messages queued at once, or 0 for no
    /// bound but the bytes.
    pub capacity: u64,
    /// Largest message in bytes.
    pub msg_size: u64,
    /// MPMC: bytes per slot. SPSC: bytes of a record of `msg_size`.
    pub slot_size: u64,
    /// Offset of slot 0 (MPMC) or of the SPSC data area.
    pub slots_offset: u64,
    /// Total bytes.
    pub region_size: u64,
    /// SPSC: the size asked for (the data area is `bytes + 16`). MPMC: `capacity * slot_size`.
    pub bytes: u64,
}

impl Geometry {
    /// [`sized`](Self::sized) with `capacity` given and `bytes` not: an SPSC ring of
    /// `capacity` messages of `msg_size`, or an MPMC ring of `capacity` slots.
    ///
    /// # Examples
    ///
    /// ```
    /// use ipcring::{Geometry, Kind, WakeBackend};
    /// assert!(Geometry::new(Kind::Mpmc, WakeBackend::Sem, 0, 8).is_err());
    /// assert!(Geometry::new(Kind::Mpmc, WakeBackend::Sem, 3, 8).is_ok());
    /// assert!(Geometry::new(Kind::Mpmc, WakeBackend::Sem, 4, 0).is_err());
    /// ```
    pub fn new(kind: Kind, wake: WakeBackend, capacity: u64, msg_size: u64) -> Result<Geometry> {
        Self::sized(kind, wake, Some(capacity), None, msg_size)
    }

    /// Validates the options and derives the sizes. `capacity`: any count from 1 to 2^24
    /// (MPMC slots; SPSC bound on queued messages); `bytes` (SPSC only): the data area, a
    /// multiple of 8 that holds one message of `msg_size`. Without `bytes`, an SPSC ring
    /// holds `capacity` (default 1024) messages of `msg_size`; with `bytes` and no
    /// `capacity`, its messages are bounded by the bytes only. Nothing is rounded: a value
    /// out of range is refused.
    pub fn sized(
        kind: Kind,
        wake: WakeBackend,
        capacity: Option<u64>,
        bytes: Option<u64>,
        msg_size: u64,
    ) -> Result<Geometry> {
        if let Some(c) = capacity {
            if c == 0 {
                return Err(Error::InvalidOption {
                    option: "capacity",
                    value: 0,
                    reason: "must be at least 1",
                });
            }
            if c > MAX_CAPACITY {
                return Err(Error::InvalidOption {
                    option: "capacity",
                    value: c,
                    reason: "exceeds the limit of 2^24",
                });
            }
        }
        if msg_size == 0 {
            return Err(Error::InvalidOption {
                option: "msg_size",
                value: 0,
                reason: "must be at least 1 byte",
            });
        }
        if msg_size > MAX_MSG_SIZE {
            return Err(Error::InvalidOption {
                option: "msg_size",
                value: msg_size,
                reason: "exceeds the limit of 256 MiB",
            });
        }
        match kind {
            Kind::Mpmc => {
                if let Some(b) = bytes {
                    return Err(Error::InvalidOption {
                        option: "bytes",
                        value: b,
                        reason: "MPMC rings have fixed slots: size them with capacity",
                    });
                }
                let capacity = capacity.unwrap_or(RingOptions::DEFAULT_CAPACITY);
                let slot_size = round_up(SLOT_HEADER_SIZE + msg_size, SLOT_ALIGN);
                let area = capacity.checked_mul(slot_size).filter(|&a| a + HEADER_SIZE <= MAX_REGION_SIZE);
                let area = area.ok_or(Error::InvalidOption {
                    option: "capacity",
                    value: capacity,
                    reason: "capacity * msg_size exceeds the 64 GiB region limit",
                })?;
                Ok(Geometry {
                    kind,
                    wake,
                    fence: FenceMode::Full,
                    capacity,
                    msg_size,
                    slot_size,
                    slots_offset: HEADER_SIZE,
                    region_size: HEADER_SIZE + area,
                    bytes: area,
                })
            }
            Kind::Spsc => {
                let record = record_size(msg_size);
                let (capacity, bytes) = match bytes {
                    Some(b) => {
                        if b % RECORD_ALIGN != 0 || b < round_up(msg_size, RECORD_ALIGN) {
                            return Err(Error::InvalidOption {
                                option: "bytes",
                                value: b,
                                reason: "must be a multiple of 8 of at least msg_size (one message)",
                            });
                        }
                        if b > MAX_REGION_SIZE - HEADER_SIZE {
                            return Err(Error::InvalidOption {
                                option: "bytes",
                                value: b,
                                reason: "exceeds the 64 GiB region limit",
                            });
                        }
                        (capacity.unwrap_or(0), b)
                    }
                    None => {
                        let c = capacity.unwrap_or(RingOptions::DEFAULT_CAPACITY);
                        // Room for `capacity` records of msg_size wherever the tail stands:
                        // c - 1 queued records, a padding record of up to `record - 8` where
                        // they wrap or where the next one does, the next one and the slack:
                        // an area of (c + 1) * record. So the capacity, not the wrap, is what
                        // a sender meets first.
                        let b = (c + 1)
                            .checked_mul(record)
                            .map(|b| b - SPSC_LEAD)
                            .filter(|&b| b + HEADER_SIZE <= MAX_REGION_SIZE);
                        let b = b.ok_or(Error::InvalidOption {
                            option: "capacity",
                            value: c,
                            reason: "capacity * msg_size exceeds the 64 GiB region limit",
                        })?;
                        (c, b)
                    }
                };
                Ok(Geometry {
                    kind,
                    wake,
                    fence: FenceMode::Full,
                    capacity,
                    msg_size,
                    slot_size: record,
                    slots_offset: HEADER_SIZE - SPSC_LEAD,
                    region_size: HEADER_SIZE + bytes,
                    bytes,
                })
            }
        }
    }

    /// SPSC: the length of the data area in bytes (`bytes + 16`, a multiple of 8).
    #[inline]
    pub fn area(&self) -> u64 {
        self.bytes + SPSC_LEAD
    }

    /// The most messages the ring can hold at once: the capacity, or on an SPSC ring without
    /// one, as many empty records as fit in the area.
    #[inline]
    pub fn max_queued(&self) -> u64 {
        match (self.kind, self.capacity) {
            (Kind::Spsc, 0) => (self.area() - SPSC_SLACK) / RECORD_HEADER_SIZE,
            (_, c) => c,
        }
    }

    /// MPMC: positions per lap, the power of two at or above `capacity` (crossbeam's
    /// `one_lap`): a position is `lap * one_lap + index`, `index < capacity`.
    #[inline]
    pub fn one_lap(&self) -> u64 {
        self.capacity.next_power_of_two()
    }

    /// Reads a header's identity once, validates every field, and returns the geometry it
    /// describes. `actual_size` is the object's real size; the header must agree with it.
    /// Call only after `init` was seen as `INIT_READY` with Acquire.
    pub fn from_header(h: &Header, actual_size: u64) -> Result<Geometry> {
        let id = &h.id.0;
        let magic = id.magic.load(Ordering::Relaxed);
        if magic != MAGIC {
            return Err(Error::NotARing {
                reason: "bad magic number",
            });
        }
        let abi = id.abi_version.load(Ordering::Relaxed);
        if abi != ABI_VERSION {
            return Err(Error::AbiMismatch {
                expected: ABI_VERSION,
                found: abi,
            });
        }
        let hash = id.layout_hash.load(Ordering::Relaxed);
        if hash != layout_hash() {
            return Err(Error::LayoutMismatch {
                expected: layout_hash(),
                found: hash,
            });
        }
        let kind = Kind::from_raw(id.kind.load(Ordering::Relaxed)).ok_or(Error::Corrupted {
            what: "unknown ring kind",
        })?;
        let wake = WakeBackend::from_raw(id.wake.load(Ordering::Relaxed)).ok_or(Error::Corrupted {
            what: "unknown wake backend",
        })?;
        // Hostile-region fix (tests/hostile_regions.rs found it): glibc aborts the whole
        // process ("The futex facility returned an unexpected error code.") when a sem_t's
        // `private` word holds futex flags the kernel refuses, so a Sem ring is checked here
        // before any sem_post / sem_clockwait touches it.
        if wake == WakeBackend::Sem && !(sem::looks_shared(&h.data_bell.sem) && sem::looks_shared(&h.space_bell.sem)) {
            return Err(Error::Corrupted {
                what: "sem_t of a bell is not a process-shared semaphore",
            });
        }
        let fence = FenceMode::from_raw(id.fences.load(Ordering::Relaxed)).ok_or(Error::Corrupted {
            what: "unknown fence mode",
        })?;
        let capacity = id.capacity.load(Ordering::Relaxed);
        let msg_size = id.msg_size.load(Ordering::Relaxed);
        let bytes = id.bytes.load(Ordering::Relaxed);
        let g = match kind {
            Kind::Mpmc => Geometry::sized(kind, wake, Some(capacity), None, msg_size),
            Kind::Spsc => Geometry::sized(kind, wake, (capacity != 0).then_some(capacity), Some(bytes), msg_size),
        };
        let g = g
            .map_err(|_| Error::Corrupted {
                what: "header sizes out of range",
            })?
            .with_fence(fence);
        if g.bytes != bytes {
            return Err(Error::Corrupted {
                what: "header bytes inconsistent",
            });
        }
        if id.slot_size.load(Ordering::Relaxed) != g.slot_size
            || id.slots_offset.load(Ordering::Relaxed) != g.slots_offset
        {
            return Err(Error::Corrupted {
                what: "header slot size or offset inconsistent",
            });
        }
        if id.region_size.load(Ordering::Relaxed) != g.region_size || actual_size != g.region_size {
            return Err(Error::SizeMismatch {
                expected: g.region_size,
                actual: actual_size,
            });
        }
        Ok(g)
    }

    /// Writes the identity of a fresh, zeroed region (everything but `init`, with Relaxed
    /// stores: `region::init_ring` publishes READY after the slots and bells, with Release).
    pub fn write_header(&self, h: &Header) {
        let id = &h.id.0;
        id.magic.store(MAGIC, Ordering::Relaxed);
        id.abi_version.store(ABI_VERSION, Ordering::Relaxed);
        id.layout_hash.store(layout_hash(), Ordering::Relaxed);
        id.kind.store(self.kind as u32, Ordering::Relaxed);
        id.wake.store(self.wake as u32, Ordering::Relaxed);
        id.fences.store(self.fence as u32, Ordering::Relaxed);
        id.capacity.store(self.capacity, Ordering::Relaxed);
        id.msg_size.store(self.msg_size, Ordering::Relaxed);
        id.slot_size.store(self.slot_size, Ordering::Relaxed);
        id.slots_offset.store(self.slots_offset, Ordering::Relaxed);
        id.region_size.store(self.region_size, Ordering::Relaxed);
        id.bytes.store(self.bytes, Ordering::Relaxed);
        id.creator_pid.store(std::process::id(), Ordering::Relaxed);
    }

    /// The same geometry with the fence mode `fence`.
    ///
    /// # Examples
    ///
    /// ```
    /// use ipcring::{FenceMode, Geometry, Kind, WakeBackend};
    /// let g = Geometry::new(Kind::Spsc, WakeBackend::Futex, 8, 8).unwrap();
    /// assert_eq!(g.fence, FenceMode::Full);
    /// assert_eq!(g.with_fence(FenceMode::Asymmetric).fence, FenceMode::Asymmetric);
    /// ```
    #[must_use]
    pub fn with_fence(mut self, fence: FenceMode) -> Geometry {
        self.fence = fence;
        self
    }

    /// The largest message as a `usize` (it is at most `MAX_MSG_SIZE`).
    pub fn max_msg(&self) -> usize {
        self.msg_size as usize
    }
}

// The geometry of a ring's options is derived here, beside `Geometry::new`, so that
// `options` stays a leaf.
impl RingOptions {
    /// The geometry these options create, or the error that creating would give.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(ipcring::RingOptions::new().capacity(0).validate().is_err());
    /// ```
    pub fn validate(&self) -> Result<Geometry> {
        Geometry::sized(
            self.kind_given().unwrap_or(Kind::Spsc),
            self.wake_given().unwrap_or_default(),
            self.capacity_given(),
            self.bytes_given(),
            self.msg_size_given().unwrap_or(Self::DEFAULT_MSG_SIZE),
        )
    }

    /// `Mismatch` for the first option set here that `g` (an opened ring's) differs in.
    pub(crate) fn check(&self, g: &Geometry) -> Result<()> {
        let mismatch = |field, expected: u64, found: u64| Err(Error::Mismatch { field, expected, found });
        if let Some(k) = self.kind_given() {
            if k != g.kind {
                return mismatch("kind", k as u64, g.kind as u64);
            }
        }
        if let Some(c) = self.capacity_given() {
            if c != g.capacity {
                return mismatch("capacity", c, g.capacity);
            }
        }
        if let Some(m) = self.msg_size_given() {
            if m != g.msg_size {
                return mismatch("msg_size", m, g.msg_size);
            }
        }
        if let Some(b) = self.bytes_given() {
            if b != g.bytes {
                return mismatch("bytes", b, g.bytes);
            }
        }
        if let Some(w) = self.wake_given() {
            if w != g.wake {
                return mismatch("wake", w as u64, g.wake as u64);
            }
        }
        if let Some(f) = self.fence_given() {
            if f != g.fence {
                return mismatch("fence", f as u64, g.fence as u64);
            }
        }
        Ok(())
    }
}

/// A view of a mapped region: base pointer and geometry. The ring algorithms are written
/// against this, never against shm, so the same code runs over shared memory, a heap
/// allocation (Miri, in-process rings) and loom's model.
#[derive(Debug, Clone, Copy)]
pub struct RawRing {
    base: *mut u8,
    geom: Geometry,
}

// SAFETY: a RawRing is a pointer into a region whose shared parts are all atomics (or bytes
// accessed under the ring protocol); the owner of the mapping keeps it alive.
unsafe impl Send for RawRing {}
// SAFETY: as above: all shared access goes through atomics.
unsafe impl Sync for RawRing {}

impl RawRing {
    /// # Safety
    /// `base` must point to a mapping of at least `geom.region_size` bytes, aligned to 128,
    /// whose header and slot headers are valid (zeroed memory is valid in the std build; a
    /// heap region under loom must be built with `Header::zeroed`/`SlotHeader::zeroed`), and
    /// that outlives every use of the returned value.
    pub unsafe fn new(base: *mut u8, geom: Geometry) -> RawRing {
        RawRing { base, geom }
    }

    /// The geometry.
    #[inline]
    pub fn geom(&self) -> &Geometry {
        &self.geom
    }

    /// The header.
    #[inline]
    pub fn header(&self) -> &Header {
        // SAFETY: `new`'s contract: the region starts with a valid, aligned Header.
        unsafe { &*(self.base as *const Header) }
    }

    /// MPMC: the slot index of position `pos` (`pos & (one_lap - 1)`, below `capacity` for a
    /// position the ring made; a position read from the region is checked by the caller,
    /// and one out of range is clamped here so that no access leaves the region).
    #[inline]
    pub fn index(&self, pos: u64) -> u64 {
        let i = pos & (self.geom.one_lap() - 1);
        if i < self.geom.capacity {
            i
        } else {
            self.geom.capacity - 1
        }
    }

    /// The header of the MPMC slot of position `pos` (see [`index`](Self::index)).
    #[inline]
    pub fn slot(&self, pos: u64) -> &SlotHeader {
        let i = self.index(pos);
        // SAFETY: i < capacity, so the slot lies inside the region (region_size =
        // slots_offset + capacity * slot_size); slot_size is a multiple of 64 and
        // slots_offset of 4096, so the SlotHeader is aligned.
        unsafe {
            &*(self
                .base
                .add((self.geom.slots_offset + i * self.geom.slot_size) as usize) as *const SlotHeader)
        }
    }

    /// MPMC: the slot table, with what addressing a slot needs taken from the geometry
    /// once (see [`SlotTable`]). Only for an MPMC ring (its capacity is at least 1).
    #[inline]
    pub fn slot_table(&self) -> SlotTable {
        debug_assert!(self.geom.capacity >= 1);
        SlotTable {
            // SAFETY: slots_offset < region_size (the header comes first, then at least one
            // slot), so the pointer stays inside the mapping.
            first: unsafe { self.base.add(self.geom.slots_offset as usize) },
            slot_size: self.geom.slot_size,
            capacity: self.geom.capacity,
            mask: self.geom.one_lap() - 1,
        }
    }

    /// SPSC: the header of the record at offset `off` of the data area. The caller has
    /// checked `off % 8 == 0` and `off + 8 <= area` (a record header lies inside the area).
    /// Under the model checker record headers are model objects kept in a table after the
    /// region (one per 8 bytes of area, see `HeapRegion`), since they do not fit in 8 bytes.
    #[inline]
    pub fn record(&self, off: u64) -> &RecordHeader {
        debug_assert!(off % RECORD_ALIGN == 0 && off + RECORD_HEADER_SIZE <= self.geom.area());
        let at = if MODEL {
            self.geom.region_size + (off / RECORD_ALIGN) * size_of::<RecordHeader>() as u64
        } else {
            self.geom.slots_offset + off
        };
        // SAFETY: the caller's check puts the header inside the area (std build: the area
        // is [slots_offset, region_size), slots_offset + off is 8-aligned, RecordHeader is
        // two u32 atomics); under the model, entry off/8 of the table `HeapRegion` allocates
        // and initialises after the region.
        unsafe { &*(self.base.add(at as usize) as *const RecordHeader) }
    }

    /// SPSC: the payload of the record at offset `off` (its header's 8 bytes on). The caller
    /// has checked that the bytes it touches lie inside the area.
    #[inline]
    pub fn record_payload(&self, off: u64) -> *mut u8 {
        // SAFETY: slots_offset + off + 8 <= region_size by the caller's check; the pointer
        // stays inside (or one past) the mapping.
        unsafe { self.base.add((self.geom.slots_offset + off + RECORD_HEADER_SIZE) as usize) }
    }

    /// Marks the ring corrupted for every process that uses it.
    pub fn poison(&self) {
        self.header().id.0.poison.store(1, Ordering::Relaxed);
    }

    /// Whether any process has marked the ring corrupted.
    #[inline]
    pub fn is_poisoned(&self) -> bool {
        self.header().id.0.poison.load(Ordering::Relaxed) != 0
    }
}

/// MPMC: a ring's slot table as an endpoint keeps it: slot 0's address, the slot size, the
/// capacity and the lap mask (`one_lap - 1`, which [`Geometry::one_lap`] computes with a bit
/// scan), taken from the validated geometry once at attach rather than per slot access
/// (`mpmc`'s fast paths). Nothing here is read from the region; like [`RawRing`] it is a
/// view that the owner of the mapping keeps alive.
#[derive(Debug, Clone, Copy)]
pub struct SlotTable {
    first: *mut u8,
    slot_size: u64,
    capacity: u64,
    mask: u64,
}

// SAFETY: as for RawRing: a pointer into a region whose shared parts are atomics (or bytes
// accessed under the ring protocol), kept alive by the mapping's owner.
unsafe impl Send for SlotTable {}
// SAFETY: as above.
unsafe impl Sync for SlotTable {}

impl SlotTable {
    /// Slots (at least 1).
    #[inline]
    pub fn capacity(&self) -> u64 {
        self.capacity
    }

    /// `one_lap - 1`: a position is `lap * one_lap + index`, `index = pos & mask`.
    #[inline]
    pub fn mask(&self) -> u64 {
        self.mask
    }

    /// Whether `pos` is a position the ring can make (its index is below the capacity).
    #[inline]
    pub fn valid(&self, pos: u64) -> bool {
        pos & self.mask < self.capacity
    }

    /// The slot of `pos` and its payload (`msg_size` bytes after the slot header). An index
    /// not below the capacity (a position the caller has not validated) is clamped, as
    /// [`RawRing::index`] does, so that no access leaves the region; after a `valid` check
    /// the compiler drops the clamp.
    #[inline]
    pub fn slot(&self, pos: u64) -> (&SlotHeader, *mut u8) {
        let i = pos & self.mask;
        let i = if i < self.capacity { i } else { self.capacity - 1 };
        // SAFETY: i < capacity, so the slot lies inside the region (region_size =
        // slots_offset + capacity * slot_size, and `first` is slot 0); slot_size is a
        // multiple of 64 and slots_offset of 4096, so the SlotHeader is aligned, and
        // SLOT_HEADER_SIZE + msg_size <= slot_size puts the payload inside the slot.
        unsafe {
            let at = self.first.add((i * self.slot_size) as usize);
            (&*(at as *const SlotHeader), at.add(SLOT_HEADER_SIZE as usize))
        }
    }
}

// The shared layout, pinned. A change here is an ABI change: bump ABI_VERSION. (Not under
// the model checker, whose types are larger model objects.)
const _: () = if !MODEL {
    use core::mem::offset_of;
    assert!(size_of::<Pad<AtomicU64>>() == 128);
    assert!(align_of::<Pad<AtomicU64>>() == 128);
    assert!(size_of::<CursorLine>() == 128);
    assert!(align_of::<CursorLine>() == 128);
    assert!(size_of::<Identity>() == 120);
    assert!(size_of::<Pad<Identity>>() == 128);
    assert!(offset_of!(Identity, magic) == 0);
    assert!(offset_of!(Identity, abi_version) == 8);
    assert!(offset_of!(Identity, init) == 12);
    assert!(offset_of!(Identity, layout_hash) == 16);
    assert!(offset_of!(Identity, kind) == 24);
    assert!(offset_of!(Identity, wake) == 28);
    assert!(offset_of!(Identity, capacity) == 32);
    assert!(offset_of!(Identity, msg_size) == 40);
    assert!(offset_of!(Identity, slot_size) == 48);
    assert!(offset_of!(Identity, slots_offset) == 56);
    assert!(offset_of!(Identity, region_size) == 64);
    assert!(offset_of!(Identity, creator_pid) == 72);
    assert!(offset_of!(Identity, poison) == 76);
    assert!(offset_of!(Identity, ever) == 80);
    assert!(offset_of!(Identity, epoch) == 84);
    assert!(offset_of!(Identity, senders_attached) == 88);
    assert!(offset_of!(Identity, receivers_attached) == 92);
    assert!(offset_of!(Identity, senders_died) == 96);
    assert!(offset_of!(Identity, receivers_died) == 100);
    assert!(offset_of!(Identity, fences) == 104);
    assert!(offset_of!(Identity, bytes) == 112);
    assert!(size_of::<FutexWord>() == 4);
    assert!(size_of::<Bell>() == 128);
    assert!(offset_of!(Bell, seq) == 0);
    assert!(offset_of!(Bell, waiters) == 4);
    assert!(offset_of!(Bell, armed) == 8);
    assert!(offset_of!(Bell, fd_waiters) == 12);
    assert!(offset_of!(Bell, sem) == 16);
    assert!(size_of::<EndpointEntry>() == 32);
    assert!(offset_of!(EndpointEntry, state) == 12);
    assert!(offset_of!(EndpointEntry, claim_lo) == 16);
    assert!(offset_of!(Header, id) == 0);
    assert!(offset_of!(Header, tail) == 128);
    assert!(offset_of!(Header, head) == 256);
    assert!(offset_of!(Header, data_bell) == 384);
    assert!(offset_of!(Header, space_bell) == 512);
    assert!(offset_of!(Header, endpoints) == 640);
    assert!(size_of::<Header>() == 2688);
    assert!(HEADER_SIZE == 4096);
    // The header of the SPSC record at offset 0 sits in the page's last 8 bytes.
    assert!(size_of::<Header>() as u64 + SPSC_LEAD <= HEADER_SIZE);
    assert!(size_of::<RecordHeader>() == 8);
    assert!(offset_of!(RecordHeader, word) == 0);
    // The word's halves where the ABI 5 fields were, on the little-endian targets we build.
    assert!(RecordHeader::pack(1, 2).to_le_bytes()[0] == 1 && RecordHeader::pack(1, 2).to_le_bytes()[4] == 2);
    assert!(RECORD_HEADER_SIZE == 8 && RECORD_ALIGN == 8);
    assert!(MAX_REGION_SIZE < 1 << CURSOR_OFFSET_BITS);
    assert!(size_of::<SlotHeader>() == 16);
    assert!(offset_of!(SlotHeader, seq) == 0);
    assert!(offset_of!(SlotHeader, len) == 8);
    assert!(offset_of!(SlotHeader, owner) == 12);
    assert!(SLOT_HEADER_SIZE == 16);
    assert!(MAX_MSG_SIZE < TOMBSTONE as u64);
    // The payload alignment the API documents (`Receiver::recv_value`, the README): slots
    // start at multiples of SLOT_ALIGN after a page-aligned header, payloads SLOT_HEADER_SIZE
    // into them, so every payload is at least 8-byte aligned in every process's mapping.
    assert!(HEADER_SIZE % SLOT_ALIGN == 0 && SLOT_ALIGN % 8 == 0 && SLOT_HEADER_SIZE % 8 == 0);
    // SPSC records start at 8-byte offsets of an area at HEADER_SIZE - 16: payloads at
    // HEADER_SIZE + offset, 8-byte aligned too.
    assert!((HEADER_SIZE - SPSC_LEAD) % 8 == 0 && RECORD_ALIGN % 8 == 0);
};

#[cfg(test)]
mod tests {
    use super::*;

    fn geom() -> Geometry {
        Geometry::new(Kind::Mpmc, WakeBackend::Futex, 8, 100).unwrap()
    }

    #[test]
    fn geometry_rounds_slots_and_refuses_bad_options() {
        let g = geom();
        // The shared layout's sizes: under the model checker (`sync::MODEL`) the slot header
        // is made of larger model objects.
        if !MODEL {
            assert_eq!(
                g.slot_size, 128,
                "16-byte slot header + 100 payload bytes, rounded to 64"
            );
            assert_eq!(g.slots_offset, 4096);
            assert_eq!(g.region_size, 4096 + 8 * 128);
        }
        for (cap, msg, option) in [
            (0, 8, "capacity"),
            (MAX_CAPACITY * 2, 8, "capacity"),
            (8, 0, "msg_size"),
            (8, MAX_MSG_SIZE + 1, "msg_size"),
            (MAX_CAPACITY, MAX_MSG_SIZE, "capacity"),
        ] {
            match Geometry::new(Kind::Spsc, WakeBackend::Futex, cap, msg) {
                Err(Error::InvalidOption { option: o, .. }) => assert_eq!(o, option, "cap {cap} msg {msg}"),
                other => panic!("cap {cap} msg {msg}: expected InvalidOption({option}), got {other:?}"),
            }
        }
    }

    #[test]
    fn spsc_geometry_in_bytes() {
        // Any capacity; without bytes, capacity records of msg_size.
        let g = Geometry::new(Kind::Spsc, WakeBackend::Futex, 10, 100).unwrap();
        assert_eq!((g.capacity, g.slot_size, g.bytes), (10, 112, 11 * 112 - 16));
        assert_eq!(g.region_size, HEADER_SIZE + 11 * 112 - 16);
        assert_eq!(g.area(), 11 * 112);
        // bytes alone: no message bound but the bytes; the object is header + bytes.
        let g = Geometry::sized(Kind::Spsc, WakeBackend::Futex, None, Some(1 << 20), 1 << 20).unwrap();
        assert_eq!((g.capacity, g.region_size), (0, HEADER_SIZE + (1 << 20)));
        assert_eq!(g.max_queued(), ((1 << 20) + 8) / 8);
        for (cap, bytes, msg, option) in [
            (None, Some(12), 8, "bytes"),
            (None, Some(8), 9, "bytes"),
            (None, Some(0), 1, "bytes"),
            (Some(0), Some(64), 8, "capacity"),
            (None, Some(MAX_REGION_SIZE), 8, "bytes"),
        ] {
            match Geometry::sized(Kind::Spsc, WakeBackend::Futex, cap, bytes, msg) {
                Err(Error::InvalidOption { option: o, .. }) => assert_eq!(o, option, "{cap:?} {bytes:?} {msg}"),
                other => panic!("{cap:?} {bytes:?} {msg}: expected InvalidOption({option}), got {other:?}"),
            }
        }
        assert!(matches!(
            Geometry::sized(Kind::Mpmc, WakeBackend::Futex, None, Some(64), 8),
            Err(Error::InvalidOption { option: "bytes", .. })
        ));
    }

    #[test]
    fn layout_hash_is_stable_within_a_build() {
        assert_eq!(layout_hash(), layout_hash());
        assert_ne!(layout_hash(), 0);
    }
}
