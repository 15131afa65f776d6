//! The ring algorithms in one process, over a heap region: threads, wrap-around, batches,
//! zero-copy, end-of-stream, and hostile values planted in the region. No system calls are
//! needed (the heap ring has no file and blocking uses the futex, which Miri models), so
//! this file is the one Miri runs: `scripts/miri.sh`.

// It drives the library's building blocks (or its failpoints) directly: only in the test build.
#![cfg(ipcring_test)]

use ipcring::layout::{Geometry, Kind, RecordHeader, WakeBackend};
use ipcring::mpmc::{MpmcConsumer, MpmcProducer};
use ipcring::region::HeapRegion;
use ipcring::spsc::{SpscConsumer, SpscProducer};
use ipcring::{Error, Ring, RingOptions, Timeout};
use std::sync::atomic::Ordering;

/// Fewer messages under Miri, which is slow.
fn scaled(n: u64) -> u64 {
    if cfg!(miri) {
        (n / 1000).max(50)
    } else {
        n
    }
}

fn fnv(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= b as u64;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// A message: [producer u32][seq u64][filler of seq-dependent length][fnv of the rest u64].
fn encode(producer: u32, seq: u64, max: usize, out: &mut Vec<u8>) {
    out.clear();
    out.extend_from_slice(&producer.to_le_bytes());
    out.extend_from_slice(&seq.to_le_bytes());
    let room = max - 12 - 8;
    let fill = (seq.wrapping_mul(2_654_435_761) % (room as u64 + 1)) as usize;
    out.extend((0..fill).map(|i| (seq as usize + i) as u8));
    let sum = fnv(out);
    out.extend_from_slice(&sum.to_le_bytes());
}

/// Checks a message's checksum and returns (producer, seq).
fn decode(m: &[u8]) -> (u32, u64) {
    assert!(m.len() >= 20, "message too short: {} bytes", m.len());
    let (body, sum) = m.split_at(m.len() - 8);
    assert_eq!(
        fnv(body),
        u64::from_le_bytes(sum.try_into().unwrap()),
        "checksum mismatch"
    );
    (
        u32::from_le_bytes(body[..4].try_into().unwrap()),
        u64::from_le_bytes(body[4..12].try_into().unwrap()),
    )
}

fn spsc_threads(wake: WakeBackend, capacity: u64, n: u64) {
    let ring = Ring::in_process(&RingOptions::new().capacity(capacity).msg_size(64).wake(wake)).unwrap();
    let mut tx = ring.sender().unwrap();
    let mut rx = ring.receiver().unwrap();
    let producer = std::thread::spawn(move || {
        let mut buf = Vec::new();
        for seq in 0..n {
            encode(7, seq, 64, &mut buf);
            tx.send(&buf).unwrap();
        }
    });
    let mut buf = [0u8; 64];
    for expect in 0..n {
        let len = rx.recv(&mut buf).unwrap();
        assert_eq!(decode(&buf[..len]), (7, expect));
    }
    producer.join().unwrap();
    assert!(matches!(rx.recv(&mut buf), Err(Error::EndOfStream)));
}

#[test]
fn spsc_threads_every_message_checked() {
    spsc_threads(WakeBackend::Futex, 16, scaled(200_000));
}

#[test]
fn spsc_threads_capacity_one() {
    spsc_threads(WakeBackend::Futex, 1, scaled(20_000));
}

#[test]
#[cfg_attr(miri, ignore = "sem_t is not modelled by Miri")]
fn spsc_threads_sem_backend() {
    spsc_threads(WakeBackend::Sem, 8, scaled(100_000));
}

#[test]
fn mpmc_threads_2x2_no_loss_no_duplicate_fifo_per_producer() {
    let n = scaled(50_000);
    let ring = Ring::in_process(&RingOptions::new().kind(Kind::Mpmc).capacity(8).msg_size(64)).unwrap();
    let producers: Vec<_> = (0..2u32)
        .map(|p| {
            let mut tx = ring.sender().unwrap();
            std::thread::spawn(move || {
                let mut buf = Vec::new();
                for seq in 0..n {
                    encode(p, seq, 64, &mut buf);
                    tx.send(&buf).unwrap();
                }
            })
        })
        .collect();
    let consumers: Vec<_> = (0..2)
        .map(|_| {
            let mut rx = ring.receiver().unwrap();
            std::thread::spawn(move || {
                let mut got: Vec<Vec<u64>> = vec![Vec::new(), Vec::new()];
                let mut buf = [0u8; 64];
                loop {
                    match rx.recv(&mut buf) {
                        Ok(len) => {
                            let (p, seq) = decode(&buf[..len]);
                            let mine = &mut got[p as usize];
                            assert!(mine.last().is_none_or(|&l| l < seq), "FIFO per producer broken");
                            mine.push(seq);
                        }
                        Err(Error::EndOfStream) => return got,
                        Err(e) => panic!("recv: {e}"),
                    }
                }
            })
        })
        .collect();
    drop(ring);
    for p in producers {
        p.join().unwrap();
    }
    let mut all = [Vec::new(), Vec::new()];
    for c in consumers {
        for (p, seqs) in c.join().unwrap().into_iter().enumerate() {
            all[p].extend(seqs);
        }
    }
    for seqs in &mut all {
        seqs.sort_unstable();
        assert_eq!(seqs.len() as u64, n, "lost or duplicated messages");
        assert!(
            seqs.iter().enumerate().all(|(i, &s)| s == i as u64),
            "lost or duplicated messages"
        );
    }
}

#[test]
fn batches_wrap_around_in_order() {
    for kind in [Kind::Spsc, Kind::Mpmc] {
        let ring = Ring::in_process(&RingOptions::new().kind(kind).capacity(8).msg_size(32)).unwrap();
        let mut tx = ring.sender().unwrap();
        let mut rx = ring.receiver().unwrap();
        let n = scaled(30_000);
        let t = std::thread::spawn(move || {
            let mut next = 0u64;
            while next < n {
                let msgs: Vec<Vec<u8>> = (next..(next + 5).min(n)).map(|s| s.to_le_bytes().to_vec()).collect();
                let sent = tx.send_batch(&msgs, Timeout::Forever).unwrap();
                assert_eq!(sent, msgs.len());
                next += sent as u64;
            }
        });
        let mut expect = 0u64;
        while expect < n {
            rx.recv_batch(6, Timeout::Forever, |m| {
                assert_eq!(u64::from_le_bytes(m.try_into().unwrap()), expect);
                expect += 1;
            })
            .unwrap();
        }
        t.join().unwrap();
    }
}

#[test]
fn zero_copy_reserve_commit_peek_release() {
    for kind in [Kind::Spsc, Kind::Mpmc] {
        let ring = Ring::in_process(&RingOptions::new().kind(kind).capacity(4).msg_size(16)).unwrap();
        let mut tx = ring.sender().unwrap();
        let mut rx = ring.receiver().unwrap();
        for i in 0..scaled(10_000) {
            let mut slot = tx.reserve(Timeout::NonBlocking).unwrap();
            slot.buf()[..8].copy_from_slice(&i.to_le_bytes());
            slot.commit(8).unwrap();
            let msg = rx.peek(Timeout::NonBlocking).unwrap();
            assert_eq!(u64::from_le_bytes(msg[..].try_into().unwrap()), i);
            msg.release();
        }
        assert!(matches!(rx.peek(Timeout::NonBlocking), Err(Error::WouldBlock)));
    }
}

#[test]
fn spsc_peek_dropped_without_release_keeps_the_message() {
    let ring = Ring::in_process(&RingOptions::new()).unwrap();
    let mut tx = ring.sender().unwrap();
    let mut rx = ring.receiver().unwrap();
    tx.send(b"keep").unwrap();
    drop(rx.peek(Timeout::NonBlocking).unwrap());
    assert_eq!(rx.recv_vec().unwrap(), b"keep");
}

#[test]
fn mpmc_reservation_dropped_is_skipped() {
    let ring = Ring::in_process(&RingOptions::new().kind(Kind::Mpmc).capacity(4).msg_size(8)).unwrap();
    let mut tx = ring.sender().unwrap();
    let mut rx = ring.receiver().unwrap();
    tx.send(b"one").unwrap();
    drop(tx.reserve(Timeout::NonBlocking).unwrap());
    tx.send(b"two").unwrap();
    assert_eq!(rx.recv_vec().unwrap(), b"one");
    assert_eq!(rx.recv_vec().unwrap(), b"two");
    assert!(matches!(rx.try_recv_vec(), Err(Error::WouldBlock)));
    // The same through zero-copy on both sides (the ring ends' inline reserve and peek):
    // the tombstone is skipped, every message read in place in order.
    for round in 0..scaled(1000) {
        let mut slot = tx.reserve(Timeout::NonBlocking).unwrap();
        slot.buf()[..8].copy_from_slice(&(2 * round).to_le_bytes());
        slot.commit(8).unwrap();
        drop(tx.reserve(Timeout::NonBlocking).unwrap());
        tx.send(&(2 * round + 1).to_le_bytes()).unwrap();
        for want in [2 * round, 2 * round + 1] {
            let msg = rx.peek(Timeout::NonBlocking).unwrap();
            assert_eq!(u64::from_le_bytes(msg[..].try_into().unwrap()), want, "round {round}");
            msg.release();
        }
        assert!(matches!(rx.peek(Timeout::NonBlocking), Err(Error::WouldBlock)));
    }
}

#[test]
fn sizes_zero_exact_and_too_large_lose_nothing() {
    for kind in [Kind::Spsc, Kind::Mpmc] {
        let ring = Ring::in_process(&RingOptions::new().kind(kind).capacity(4).msg_size(10)).unwrap();
        let mut tx = ring.sender().unwrap();
        let mut rx = ring.receiver().unwrap();
        tx.send(b"").unwrap();
        tx.send(&[9u8; 10]).unwrap();
        assert!(matches!(tx.send(&[1u8; 11]), Err(Error::TooLarge { len: 11, max: 10 })));
        assert!(matches!(
            tx.send_batch(&[&b"ok"[..], &[0u8; 11][..]], Timeout::NonBlocking),
            Err(Error::TooLarge { .. })
        ));
        tx.send(b"after").unwrap();
        assert_eq!(rx.recv_vec().unwrap(), b"");
        let mut small = [0u8; 4];
        assert!(matches!(
            rx.try_recv(&mut small),
            Err(Error::BufferTooSmall {
                needed: 10,
                capacity: 4
            })
        ));
        assert_eq!(rx.recv_vec().unwrap(), [9u8; 10]);
        assert_eq!(rx.recv_vec().unwrap(), b"after");
        assert!(matches!(rx.try_recv_vec(), Err(Error::WouldBlock)));
    }
}

#[test]
fn end_of_stream_and_disconnected() {
    for kind in [Kind::Spsc, Kind::Mpmc] {
        let ring = Ring::in_process(&RingOptions::new().kind(kind).capacity(2)).unwrap();
        let mut rx = ring.receiver().unwrap();
        // No sender has attached yet: an empty ring is "not yet", not end of stream.
        assert!(matches!(rx.try_recv_vec(), Err(Error::WouldBlock)));
        let mut tx = ring.sender().unwrap();
        tx.send(b"last words").unwrap();
        drop(tx);
        assert_eq!(rx.recv_vec().unwrap(), b"last words");
        assert!(matches!(rx.recv_vec(), Err(Error::EndOfStream)));
        // A sender that attaches later makes the channel flow again.
        let mut tx = ring.sender().unwrap();
        tx.send(b"again").unwrap();
        assert_eq!(rx.recv_vec().unwrap(), b"again");
        drop(rx);
        assert!(matches!(tx.send(b"nobody"), Err(Error::Disconnected)));
        // The verdict sticks while the ring still has room (it was once reported only once).
        assert!(matches!(tx.send(b"nobody"), Err(Error::Disconnected)));
        assert!(matches!(tx.try_send(b"nobody"), Err(Error::Disconnected)));
        assert!(matches!(
            tx.reserve(ipcring::Timeout::NonBlocking),
            Err(Error::Disconnected)
        ));
        assert!(matches!(
            tx.send_batch(&[b"x"], ipcring::Timeout::NonBlocking),
            Err(Error::Disconnected)
        ));
        // A receiver that attaches later makes it flow again.
        let mut rx = ring.receiver().unwrap();
        tx.send(b"back").unwrap();
        assert_eq!(rx.recv_vec().unwrap(), b"back");
    }
}

#[test]
fn spsc_has_one_sender_and_one_receiver() {
    let ring = Ring::in_process(&RingOptions::new()).unwrap();
    let tx = ring.sender().unwrap();
    assert!(matches!(ring.sender(), Err(Error::Busy { role: "sender" })));
    drop(tx);
    let _tx = ring.sender().unwrap();
    let _rx = ring.receiver().unwrap();
    assert!(matches!(ring.receiver(), Err(Error::Busy { role: "receiver" })));
}

#[test]
fn timeouts() {
    let ring = Ring::in_process(&RingOptions::new().capacity(1)).unwrap();
    let mut tx = ring.sender().unwrap();
    let mut rx = ring.receiver().unwrap();
    let d = std::time::Duration::from_millis(20);
    let t = std::time::Instant::now();
    assert!(matches!(rx.recv_vec_timeout(d), Err(Error::TimedOut)));
    assert!(t.elapsed() >= d);
    tx.send(b"x").unwrap();
    let t = std::time::Instant::now();
    assert!(matches!(tx.send_timeout(b"y", d), Err(Error::TimedOut)));
    assert!(t.elapsed() >= d);
    assert!(matches!(tx.try_send(b"y"), Err(Error::WouldBlock)));
}

// ---- hostile values planted in the region: the algorithms poison the ring, never misbehave.

fn heap(kind: Kind, capacity: u64, msg_size: u64) -> HeapRegion {
    HeapRegion::new(Geometry::new(kind, WakeBackend::Futex, capacity, msg_size).unwrap()).unwrap()
}

#[test]
fn spsc_hostile_cursor_is_corrupted() {
    use ipcring::spsc::word;
    // The producer's word claims 1000 messages are in 16 bytes of a 4-message ring: a
    // producer attaching refuses it.
    let region = heap(Kind::Spsc, 4, 8);
    let raw = region.raw();
    let mut tx = SpscProducer::new(raw).unwrap();
    assert!(tx.try_send(b"a").unwrap());
    raw.header().tail.0.store(word(1000, 16), Ordering::Release);
    assert!(matches!(SpscProducer::new(raw), Err(Error::Corrupted { .. })));
    assert!(raw.is_poisoned());
    // A word whose offset is not a multiple of 8, or lies outside the area.
    for (side, w) in [("tail", 12), ("tail", 1 << 36), ("head", 12), ("head", 1 << 36)] {
        let region = heap(Kind::Spsc, 4, 8);
        let raw = region.raw();
        let line = if side == "tail" {
            &raw.header().tail
        } else {
            &raw.header().head
        };
        line.0.store(w, Ordering::Release);
        let r = if side == "tail" {
            SpscProducer::new(raw).map(drop)
        } else {
            SpscConsumer::new(raw).map(drop)
        };
        assert!(matches!(r, Err(Error::Corrupted { .. })), "{side} = {w:#x}: {r:?}");
    }
    // The consumer moves its cursor backwards past the producer's.
    let region = heap(Kind::Spsc, 4, 8);
    let raw = region.raw();
    let mut tx = SpscProducer::new(raw).unwrap();
    for _ in 0..4 {
        assert!(tx.try_send(b"x").unwrap());
    }
    raw.header().head.0.store(u64::MAX - 3, Ordering::Release);
    assert!(matches!(tx.try_send(b"y"), Err(Error::Corrupted { .. })));
}

/// A producer killed after publishing records but before its cursor word (ABI 6): the
/// consumer takes them at once (a record's header is its publication), and the next producer
/// repairs the word when it attaches, so the counts agree and nothing is written over.
#[test]
fn spsc_producer_killed_before_its_cursor_is_repaired() {
    for consumed_first in [false, true] {
        let region = heap(Kind::Spsc, 8, 8);
        let raw = region.raw();
        let mut tx = SpscProducer::new(raw).unwrap();
        let mut rx = SpscConsumer::new(raw).unwrap();
        assert!(tx.try_send(b"m0").unwrap());
        let before = (
            raw.header().tail.0.load(Ordering::Relaxed),
            raw.header().tail.1.load(Ordering::Relaxed),
        );
        assert!(tx.try_send(b"m1").unwrap());
        assert!(tx.try_send(b"m2").unwrap());
        // "Killed" before its last two publishes: the words go back, the records stay.
        let _ = tx; // "killed": no more use of it
        raw.header().tail.0.store(before.0, Ordering::Relaxed);
        raw.header().tail.1.store(before.1, Ordering::Relaxed);
        let mut got = Vec::new();
        let mut buf = [0u8; 8];
        if consumed_first {
            while let Some(n) = rx.try_recv(&mut buf).unwrap() {
                got.push(buf[..n].to_vec());
            }
        }
        let mut tx = SpscProducer::new(raw).unwrap();
        let tail = raw.header().tail.0.load(Ordering::Relaxed);
        assert_eq!(
            (tail >> 37, raw.header().tail.1.load(Ordering::Relaxed)),
            (3, 3),
            "repaired counts"
        );
        assert!(tx.try_send(b"m3").unwrap());
        while let Some(n) = rx.try_recv(&mut buf).unwrap() {
            got.push(buf[..n].to_vec());
        }
        assert_eq!(
            got,
            [b"m0", b"m1", b"m2", b"m3"].map(|m| m.to_vec()),
            "consumed first: {consumed_first}"
        );
        assert_eq!(rx.position(), 4);
        assert!(!raw.is_poisoned());
    }
}

/// A consumer killed between its cursor word and the full count beside it: the next one
/// brings the count up to the word (`spsc::full_count`).
#[test]
fn spsc_consumer_killed_before_its_count_is_made_good() {
    let region = heap(Kind::Spsc, 8, 8);
    let raw = region.raw();
    let mut tx = SpscProducer::new(raw).unwrap();
    let mut rx = SpscConsumer::new(raw).unwrap();
    for m in [b"a", b"b", b"c"] {
        assert!(tx.try_send(m).unwrap());
    }
    let mut buf = [0u8; 8];
    assert_eq!(rx.try_recv(&mut buf).unwrap(), Some(1));
    assert_eq!(rx.try_recv(&mut buf).unwrap(), Some(1));
    let _ = rx; // "killed"
    raw.header().head.1.store(0, Ordering::Relaxed); // the count's store never happened
    let mut rx = SpscConsumer::new(raw).unwrap();
    assert_eq!(rx.position(), 2);
    assert_eq!(rx.try_recv(&mut buf).unwrap(), Some(1));
    assert_eq!(&buf[..1], b"c");
    assert!(!raw.is_poisoned());
}

/// Sets the length of the record at `off`, keeping its flags.
fn set_len(r: &ipcring::layout::RawRing, off: u64, len: u32) {
    let (_, flags) = RecordHeader::unpack(r.record(off).word.load(Ordering::Relaxed));
    r.record(off)
        .word
        .store(RecordHeader::pack(len, flags), Ordering::Relaxed);
}

#[test]
fn spsc_hostile_length_is_corrupted_and_nothing_is_read() {
    let region = heap(Kind::Spsc, 4, 8);
    let raw = region.raw();
    let mut tx = SpscProducer::new(raw).unwrap();
    let mut rx = SpscConsumer::new(raw).unwrap();
    assert!(tx.try_send(b"abc").unwrap());
    set_len(&raw, 0, 1 << 20);
    let mut buf = vec![0u8; 1 << 21];
    assert!(matches!(rx.try_recv(&mut buf), Err(Error::Corrupted { .. })));
}

/// Every way an SPSC record header can lie (ABI 5's packed records, ABI 6's flags): each is `Corrupted`,
/// poisons the ring, and nothing is delivered.
#[test]
fn spsc_hostile_records_are_corrupted() {
    use ipcring::layout::RECORD_PADDING;
    type Plant = fn(&ipcring::layout::RawRing);
    let cases: [(&str, Plant); 4] = [
        ("length above msg_size", |r| set_len(r, 0, 9)),
        ("unknown flags", |r| {
            r.record(0).word.store(RecordHeader::pack(2, 7), Ordering::Relaxed)
        }),
        ("padding not ending the area", |r| {
            r.record(0)
                .word
                .store(RecordHeader::pack(8, RECORD_PADDING), Ordering::Relaxed);
        }),
        ("padding at offset 0", |r| {
            let area = r.geom().area();
            let pad = RecordHeader::pack((area - 8) as u32, RECORD_PADDING);
            r.record(0).word.store(pad, Ordering::Relaxed);
        }),
    ];
    for (what, plant) in cases {
        let region = heap(Kind::Spsc, 4, 8);
        let raw = region.raw();
        let mut tx = SpscProducer::new(raw).unwrap();
        let mut rx = SpscConsumer::new(raw).unwrap();
        assert!(tx.try_send(b"ab").unwrap());
        plant(&raw);
        let mut buf = [0u8; 64];
        let r = rx.try_recv(&mut buf);
        assert!(matches!(r, Err(Error::Corrupted { .. })), "{what}: {r:?}");
        assert!(raw.is_poisoned(), "{what}: not poisoned");
    }
    // A record that crosses the end of the area: planted at the last 8 bytes of a lap.
    let region = heap(Kind::Spsc, 4, 8);
    let raw = region.raw();
    let area = raw.geom().area();
    let start = area - 8;
    raw.header().tail.0.store(start, Ordering::Relaxed);
    raw.header().head.0.store(start, Ordering::Relaxed);
    let mut rx = SpscConsumer::new(raw).unwrap();
    let rec = RecordHeader::pack(8, ipcring::layout::RECORD_MESSAGE);
    raw.record(start).word.store(rec, Ordering::Release);
    let r = rx.try_recv(&mut [0u8; 64]);
    assert!(
        matches!(r, Err(Error::Corrupted { .. })),
        "record crossing the end: {r:?}"
    );
}

/// A producer that publishes records all the way round the area (over the ones the consumer
/// has not released): a batch receive stops with `Corrupted` once it has walked more bytes
/// than can be in flight, instead of going round for ever.
#[test]
fn spsc_records_round_the_whole_area_are_corrupted() {
    let g = Geometry::sized(Kind::Spsc, WakeBackend::Futex, None, Some(64), 8).unwrap();
    let region = HeapRegion::new(g).unwrap();
    let raw = region.raw();
    let mut rx = SpscConsumer::new(raw).unwrap();
    let area = raw.geom().area();
    assert_eq!(area, 80);
    for off in (0..area).step_by(16) {
        raw.record(off).word.store(
            RecordHeader::pack(8, ipcring::layout::RECORD_MESSAGE),
            Ordering::Release,
        );
    }
    let mut seen = 0;
    let r = rx.try_recv_batch(1000, |_| seen += 1);
    assert!(matches!(r, Err(Error::Corrupted { .. })), "{r:?} after {seen} messages");
    assert!(seen < 5, "{seen} messages handed out");
    assert!(raw.is_poisoned());
}

/// A message of nearly the whole area after a small one: the producer pads to the end,
/// publishes the padding alone, and the record goes at offset 0 once the consumer passed it.
#[test]
fn spsc_padding_alone_then_a_whole_area_record() {
    let g = Geometry::sized(Kind::Spsc, WakeBackend::Futex, None, Some(64), 64).unwrap();
    let region = HeapRegion::new(g).unwrap();
    let raw = region.raw();
    let mut tx = SpscProducer::new(raw).unwrap();
    let mut rx = SpscConsumer::new(raw).unwrap();
    let big = [7u8; 64];
    let mut buf = [0u8; 64];
    for round in 0..50u8 {
        let small = [round; 3];
        assert!(tx.try_send(&small).unwrap(), "round {round}: small");
        assert_eq!(rx.try_recv(&mut buf).unwrap(), Some(3));
        assert_eq!(&buf[..3], &small);
        // 80-byte area, 16 bytes used at the start: the 72-byte record and the 8 bytes kept
        // free after it need offset 0.
        assert!(
            !tx.try_send(&big).unwrap(),
            "round {round}: the big one fits only after the padding"
        );
        assert!(tx.take_lone_padding(), "round {round}: padding published alone");
        assert_eq!(
            rx.try_recv(&mut buf).unwrap(),
            None,
            "round {round}: padding is no message"
        );
        assert!(rx.take_passed_padding());
        assert!(tx.try_send(&big).unwrap(), "round {round}: big");
        assert_eq!(rx.try_recv(&mut buf).unwrap(), Some(64));
        assert_eq!(buf, big);
    }
}

/// Packed records: 8-byte messages take 16 bytes, so a ring of 1 KiB holds 64 of them, and
/// a capacity that is not a power of two bounds the count.
#[test]
fn spsc_packs_records_and_bounds_by_capacity() {
    let g = Geometry::sized(Kind::Spsc, WakeBackend::Futex, None, Some(1024), 256).unwrap();
    let region = HeapRegion::new(g).unwrap();
    let mut tx = SpscProducer::new(region.raw()).unwrap();
    let mut n = 0u64;
    while tx.try_send(&n.to_le_bytes()).unwrap() {
        n += 1;
    }
    assert_eq!(n, (1024 + 8) / 16, "16 bytes per 8-byte message");
    let g = Geometry::sized(Kind::Spsc, WakeBackend::Futex, Some(10), Some(1024), 256).unwrap();
    let region = HeapRegion::new(g).unwrap();
    let mut tx = SpscProducer::new(region.raw()).unwrap();
    let mut rx = SpscConsumer::new(region.raw()).unwrap();
    let mut sent = 0u64;
    let mut got = 0u64;
    let mut buf = [0u8; 256];
    for _ in 0..100 {
        while tx.try_send(&sent.to_le_bytes()).unwrap() {
            sent += 1;
        }
        assert_eq!(sent - got, 10, "capacity 10 bounds the queued messages");
        for _ in 0..7 {
            assert_eq!(rx.try_recv(&mut buf).unwrap(), Some(8));
            assert_eq!(u64::from_le_bytes(buf[..8].try_into().unwrap()), got);
            got += 1;
        }
    }
}

#[test]
fn mpmc_hostile_sequence_and_cursors_are_corrupted() {
    let region = heap(Kind::Mpmc, 4, 8);
    let raw = region.raw();
    let tx = MpmcProducer::new(raw, 0, 1);
    let rx = MpmcConsumer::new(raw, 1);
    assert!(tx.try_send(b"a").unwrap());
    // A slot sequence far ahead of a head that does not move.
    raw.slot(0).seq.store(1 << 40, Ordering::Release);
    let mut buf = [0u8; 8];
    assert!(matches!(rx.try_recv(&mut buf), Err(Error::Corrupted { .. })));

    let region = heap(Kind::Mpmc, 4, 8);
    let raw = region.raw();
    let tx = MpmcProducer::new(raw, 0, 1);
    for _ in 0..4 {
        assert!(tx.try_send(b"a").unwrap());
    }
    // Full ring, but the head claims to be ahead of the tail.
    raw.header().head.0.store(100, Ordering::Release);
    assert!(matches!(tx.try_send(b"b"), Err(Error::Corrupted { .. })));

    let region = heap(Kind::Mpmc, 4, 8);
    let raw = region.raw();
    let tx = MpmcProducer::new(raw, 0, 1);
    let rx = MpmcConsumer::new(raw, 1);
    assert!(tx.try_send(b"a").unwrap());
    raw.slot(0).len.store(9, Ordering::Relaxed);
    assert!(matches!(rx.try_recv(&mut [0u8; 64]), Err(Error::Corrupted { .. })));
}

/// The empty and full rings are answered on the fast paths without `look_slow` (the polling
/// receiver's and sender's common case): a hostile value seen there must still be `Corrupted`,
/// never "empty" or "full", and an honest empty or full ring of any capacity is still just
/// that.
#[test]
fn mpmc_hostile_values_where_empty_and_full_are_answered_inline() {
    let mut buf = [0u8; 8];
    // Empty ring, the slot at the head stamped ahead of it.
    let region = heap(Kind::Mpmc, 4, 8);
    let raw = region.raw();
    let rx = MpmcConsumer::new(raw, 1);
    assert_eq!(rx.try_recv(&mut buf).unwrap(), None, "an honest empty ring");
    raw.slot(0).seq.store(1 << 40, Ordering::Release);
    assert!(matches!(rx.try_recv(&mut buf), Err(Error::Corrupted { .. })));

    // Slot at the tail stamped ahead of an unmoved tail.
    let region = heap(Kind::Mpmc, 4, 8);
    let raw = region.raw();
    let tx = MpmcProducer::new(raw, 0, 1);
    assert!(tx.try_send(b"a").unwrap());
    raw.slot(1).seq.store(1 << 40, Ordering::Release);
    assert!(matches!(tx.try_send(b"b"), Err(Error::Corrupted { .. })));

    // Full ring of capacity 3 whose head is not a slot position (index 3 of a 4-position lap).
    let region = heap(Kind::Mpmc, 3, 8);
    let raw = region.raw();
    let tx = MpmcProducer::new(raw, 0, 1);
    for i in 0..3u64 {
        assert!(tx.try_send(&i.to_le_bytes()).unwrap());
    }
    assert!(!tx.try_send(b"x").unwrap(), "an honest full ring of capacity 3");
    raw.header().head.0.store(3, Ordering::Release);
    assert!(matches!(tx.try_send(b"x"), Err(Error::Corrupted { .. })));

    // Full ring whose tail is more than a capacity ahead of the head (the slot at the tail
    // still holding an older lap's message, as a full ring's does).
    let region = heap(Kind::Mpmc, 4, 8);
    let raw = region.raw();
    let tx = MpmcProducer::new(raw, 0, 1);
    for i in 0..4u64 {
        assert!(tx.try_send(&i.to_le_bytes()).unwrap());
    }
    assert!(!tx.try_send(b"x").unwrap(), "an honest full ring");
    raw.header().tail.0.store(100, Ordering::Release);
    assert!(matches!(tx.try_send(b"x"), Err(Error::Corrupted { .. })));
}

/// A claimed message whose length word changes under the consumer (a live scribble) is
/// `Corrupted` when read, with the reason: a tombstone, or a length above `msg_size`.
#[test]
fn mpmc_claimed_slot_scribbled_is_corrupted() {
    for (scribble, what) in [
        (ipcring::layout::TOMBSTONE, "claimed slot turned into a tombstone"),
        (9, "message length above msg_size"),
    ] {
        let region = heap(Kind::Mpmc, 4, 8);
        let raw = region.raw();
        let tx = MpmcProducer::new(raw, 0, 1);
        let rx = MpmcConsumer::new(raw, 1);
        for i in 0..3u64 {
            assert!(tx.try_send(&i.to_le_bytes()).unwrap());
        }
        let (pos, n) = rx.claim(3, usize::MAX).unwrap().unwrap();
        assert_eq!((pos, n), (0, 3));
        let (ptr, len) = rx.message(0).unwrap();
        // SAFETY: a claimed slot's payload, len <= msg_size bytes, ours until released.
        assert_eq!(unsafe { core::slice::from_raw_parts(ptr, len) }, 0u64.to_le_bytes());
        raw.slot(1).len.store(scribble, Ordering::Relaxed);
        match rx.message(1) {
            Err(Error::Corrupted { what: w }) => assert_eq!(w, what),
            other => panic!("scribbled {scribble}: {other:?}"),
        }
    }
}

#[test]
#[cfg_attr(miri, ignore = "uses a shared-memory object")]
fn poisoned_ring_refuses_new_endpoints_and_stops_waiting() {
    use std::os::unix::fs::FileExt;
    let name = format!("ipcring-test-poison-{}", std::process::id());
    let ring = Ring::create(&name, &RingOptions::new()).unwrap();
    let mut rx = ring.receiver().unwrap();
    let _tx = ring.sender().unwrap();
    // Another process found the ring corrupted: it set the poison word (offset 76).
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(format!("/dev/shm/{name}"))
        .unwrap();
    file.write_all_at(&1u32.to_le_bytes(), 76).unwrap();
    Ring::unlink(&name).unwrap();
    // A blocked receiver gives up with Corrupted at its first sleep instead of waiting.
    assert!(matches!(
        rx.recv_vec_timeout(std::time::Duration::from_secs(5)),
        Err(Error::Corrupted { .. })
    ));
    assert!(matches!(ring.receiver(), Err(Error::Corrupted { .. })));
}

#[test]
fn cursors_near_the_top_of_u64_wrap_without_loss() {
    for kind in [Kind::Spsc, Kind::Mpmc] {
        let region = heap(kind, 4, 8);
        let raw = region.raw();
        let start = u64::MAX - 5;
        let start = match kind {
            Kind::Spsc => {
                // The full counts near 2^64, the words' 27-bit counts near their wrap too.
                raw.header().tail.1.store(start, Ordering::Relaxed);
                raw.header().head.1.store(start, Ordering::Relaxed);
                ipcring::spsc::cursor_near(start, raw.geom().area())
            }
            _ => start,
        };
        raw.header().tail.0.store(start, Ordering::Relaxed);
        raw.header().head.0.store(start, Ordering::Relaxed);
        if kind == Kind::Mpmc {
            for p in start..start + 4 {
                raw.slot(p).seq.store(ipcring::mpmc::free_stamp(p), Ordering::Relaxed);
            }
        }
        let mut out = [0u8; 8];
        match kind {
            Kind::Spsc => {
                let mut tx = SpscProducer::new(raw).unwrap();
                let mut rx = SpscConsumer::new(raw).unwrap();
                for i in 0..20u64 {
                    assert!(tx.try_send(&i.to_le_bytes()).unwrap());
                    assert_eq!(rx.try_recv(&mut out).unwrap(), Some(8));
                    assert_eq!(u64::from_le_bytes(out), i);
                }
            }
            Kind::Mpmc => {
                let tx = MpmcProducer::new(raw, 0, 1);
                let rx = MpmcConsumer::new(raw, 1);
                for i in 0..20u64 {
                    assert!(tx.try_send(&i.to_le_bytes()).unwrap());
                    assert_eq!(rx.try_recv(&mut out).unwrap(), Some(8));
                    assert_eq!(u64::from_le_bytes(out), i);
                }
            }
        }
        let t = (
            raw.header().tail.0.load(Ordering::Relaxed),
            raw.header().tail.1.load(Ordering::Relaxed),
        );
        match kind {
            // The full count wrapped past 2^64, and the word's 27-bit count with it.
            Kind::Spsc => assert_eq!((t.1, t.0 >> 37), (14, 14), "{kind:?}: the counts wrapped"),
            _ => assert_eq!(t.0, 14, "{kind:?}: the position wrapped past 2^64"),
        }
    }
}

/// MPMC with capacities that are not powers of two (ABI 5: positions are `lap * one_lap +
/// index`), across 2^64: every message once, in order, and the capacity is the bound.
#[test]
fn mpmc_any_capacity_wraps_without_loss() {
    for cap in [1u64, 3, 5, 10] {
        let region = heap(Kind::Mpmc, cap, 8);
        let raw = region.raw();
        let g = *raw.geom();
        let start = ipcring::mpmc::position_near(&g, u64::MAX - 25);
        raw.header().tail.0.store(start, Ordering::Relaxed);
        raw.header().head.0.store(start, Ordering::Relaxed);
        let mut p = start;
        for _ in 0..cap {
            raw.slot(p).seq.store(ipcring::mpmc::free_stamp(p), Ordering::Relaxed);
            p = ipcring::mpmc::next(&g, p);
        }
        let tx = MpmcProducer::new(raw, 0, 1);
        let rx = MpmcConsumer::new(raw, 1);
        let (mut sent, mut got) = (0u64, 0u64);
        let mut out = [0u8; 8];
        for _ in 0..40 {
            while tx.try_send(&sent.to_le_bytes()).unwrap() {
                sent += 1;
            }
            assert_eq!(sent - got, cap, "cap {cap}: the ring holds exactly capacity messages");
            let k = 1 + (sent % cap);
            for _ in 0..k {
                assert_eq!(rx.try_recv(&mut out).unwrap(), Some(8), "cap {cap}");
                assert_eq!(u64::from_le_bytes(out), got, "cap {cap}");
                got += 1;
            }
        }
        assert!(
            raw.header().tail.0.load(Ordering::Relaxed) < 1000,
            "cap {cap}: wrapped past 2^64"
        );
    }
}

/// The SPSC producer's free-space bookkeeping (the fast path's cached bounds, the padding
/// record at the wrap, a padding record published alone, the message bound) against a model
/// of the area written from the module docs: over many geometries and random mixes of single
/// sends, batches, zero-copy reservations, single receives and batches, every send succeeds
/// exactly when the model says the record fits by the consumer's real position, and every
/// message arrives once, in order, whole.
#[test]
fn spsc_room_matches_a_model_of_the_area() {
    use ipcring::layout::record_size;
    use std::collections::VecDeque;
    /// The model: the records in flight, `(is_padding, bytes)`, from the consumer's position.
    struct Model {
        area: u64,
        max_msgs: u64,
        tail: u64,
        recs: VecDeque<(bool, u64)>,
    }
    impl Model {
        /// Whether a record of `r` bytes can go at the tail now, writing the padding record
        /// to the end of the area first where it needs one and the free bytes take it (then
        /// published alone if the record does not fit after it).
        fn room(&mut self, r: u64) -> bool {
            let used: u64 = self.recs.iter().map(|r| r.1).sum();
            let msgs = self.recs.iter().filter(|r| !r.0).count() as u64;
            let free = if msgs >= self.max_msgs { 0 } else { self.area - 8 - used };
            let pad = if self.tail + r <= self.area {
                0
            } else {
                self.area - self.tail
            };
            if pad > 0 && free >= pad {
                self.recs.push_back((true, pad));
                self.tail = 0;
            }
            free >= pad + r
        }
        fn push(&mut self, r: u64) {
            self.recs.push_back((false, r));
            self.tail = if self.tail + r == self.area { 0 } else { self.tail + r };
        }
        fn send(&mut self, r: u64) -> bool {
            let fits = self.room(r);
            if fits {
                self.push(r);
            }
            fits
        }
        /// Takes the next message's record. A padding record in front is passed at the first
        /// look of a call (the consumer publishes that), later in a batch only on the way to
        /// a message after it.
        fn recv(&mut self, first: bool) -> bool {
            if self.recs.front().is_some_and(|r| r.0) {
                if !first && self.recs.len() < 2 {
                    return false;
                }
                self.recs.pop_front();
            }
            self.recs.pop_front().is_some()
        }
    }
    let mut rng = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move |n: u64| {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng % n
    };
    // Under Miri (slow), ten geometries of 50 steps: about 15 s.
    for case in 0..if cfg!(miri) { 10 } else { 300 } {
        let msg_size: u64 = [1, 8, 24, 64, 200][next(5) as usize];
        let bytes = msg_size.div_ceil(8) * 8 + 8 * next(40);
        let capacity = [None, Some(1), Some(3), Some(10)][next(4) as usize];
        let g = Geometry::sized(Kind::Spsc, WakeBackend::Futex, capacity, Some(bytes), msg_size).unwrap();
        let region = HeapRegion::new(g).unwrap();
        let mut tx = SpscProducer::new(region.raw()).unwrap();
        let mut rx = SpscConsumer::new(region.raw()).unwrap();
        let mut model = Model {
            area: g.area(),
            max_msgs: g.max_queued(),
            tail: 0,
            recs: VecDeque::new(),
        };
        let what = format!("case {case}: msg_size {msg_size}, bytes {bytes}, capacity {capacity:?}");
        // Message k: its length, and bytes k, k+1, ... so a torn or misplaced one shows.
        let body = |k: u64| {
            let len = (k.wrapping_mul(2_654_435_761) % (msg_size + 1)) as usize;
            (0..len).map(|i| (k as usize + i) as u8).collect::<Vec<u8>>()
        };
        let (mut sent, mut got) = (0u64, 0u64);
        let mut buf = vec![0u8; msg_size as usize];
        let check = |m: &[u8], got: &mut u64| {
            assert_eq!(m, &body(*got)[..], "{what}: message {got}");
            *got += 1;
        };
        for step in 0..scaled(400) {
            match next(6) {
                0 | 1 => {
                    let m = body(sent);
                    let fits = model.send(record_size(m.len() as u64));
                    assert_eq!(tx.try_send(&m).unwrap(), fits, "{what}, step {step}: send {sent}");
                    tx.take_lone_padding();
                    sent += fits as u64;
                }
                2 => {
                    let ms: Vec<Vec<u8>> = (sent..sent + 1 + next(5)).map(body).collect();
                    let fit = ms
                        .iter()
                        .take_while(|m| model.send(record_size(m.len() as u64)))
                        .count();
                    assert_eq!(
                        tx.try_send_batch(&ms).unwrap(),
                        fit,
                        "{what}, step {step}: batch at {sent}"
                    );
                    tx.take_lone_padding();
                    sent += fit as u64;
                }
                3 => {
                    // A reservation needs room for msg_size; the commit keeps only its record.
                    let m = body(sent);
                    let fits = model.room(g.slot_size);
                    match tx.reserve().unwrap() {
                        Some(p) => {
                            assert!(fits, "{what}, step {step}: reserve");
                            // SAFETY: the reservation spans msg_size bytes; m.len() <= msg_size.
                            unsafe { std::ptr::copy_nonoverlapping(m.as_ptr(), p, m.len()) };
                            tx.commit(m.len());
                            model.push(record_size(m.len() as u64));
                            sent += 1;
                        }
                        None => assert!(!fits, "{what}, step {step}: reserve refused"),
                    }
                    tx.take_lone_padding();
                }
                4 => {
                    let r = rx.try_recv(&mut buf).unwrap();
                    assert_eq!(r.is_some(), model.recv(true), "{what}, step {step}: recv {got}");
                    if let Some(n) = r {
                        check(&buf[..n], &mut got);
                    }
                    rx.take_passed_padding();
                }
                _ => {
                    let max = 1 + next(8) as usize;
                    let n = rx.try_recv_batch(max, |m| check(m, &mut got)).unwrap();
                    let mut want = 0;
                    while want < max && model.recv(want == 0) {
                        want += 1;
                    }
                    assert_eq!(n, want, "{what}, step {step}: batch of {max}");
                    rx.take_passed_padding();
                }
            }
        }
        while rx.try_recv_batch(usize::MAX, |m| check(m, &mut got)).unwrap() > 0 {}
        assert_eq!(got, sent, "{what}: every message arrived");
        assert!(!region.raw().is_poisoned(), "{what}");
    }
}
