//! SPSC rings between real processes: a producer process and a consumer process over a named
//! ring (re-executed test binary), and `pair()` across `fork`. Every message carries its
//! sequence number and a checksum; the consumer checks each one (exactly the next seq, the
//! payload its seq implies, the checksum) and that the stream ends with `EndOfStream` once
//! the producer has gone.
//!
//! `IPCRING_SPSC_MESSAGES` (default 10,000,000) sets the size of the main run,
//! `IPCRING_SPSC_SEM_MESSAGES` (default 1,000,000) the Sem-backend run.

mod common;

use common::*;
use ipcring::{pair, Error, FenceMode, Kind, Receiver, Ring, RingOptions, Sender, Timeout, WakeBackend};
use std::time::{Duration, Instant};

const MSG_SIZE: u64 = 64;
const MAX_PAYLOAD: usize = 40;

#[test]
fn child_entry() {
    common::child_entry(|role| match role {
        "producer" => producer(),
        "consumer" => consumer(),
        "hold_sender" => hold_sender(),
        other => panic!("unknown role {other:?}"),
    });
}

fn opts(wake: WakeBackend, capacity: u64, msg_size: u64) -> RingOptions {
    RingOptions::new()
        .kind(Kind::Spsc)
        .capacity(capacity)
        .msg_size(msg_size)
        .wake(wake)
}

// ---------------------------------------------------------------------------------------
// Sized messages (0 ..= msg_size bytes): the ones of 20 bytes or more carry seq and checksum,
// shorter ones are bytes derived from their seq; the receiver compares every byte.
// ---------------------------------------------------------------------------------------

fn sized_len(seq: u64, max: usize) -> usize {
    match seq % 6 {
        0 => 0,
        1 => max,
        2 => max.saturating_sub(1),
        3 => 1.min(max),
        _ => (mix(seq) % (max as u64 + 1)) as usize,
    }
}

fn sized_msg(seq: u64, max: usize) -> Vec<u8> {
    let len = sized_len(seq, max);
    let mut v = vec![0u8; len];
    if len >= OVERHEAD {
        encode_with_payload_len(0, seq, len - OVERHEAD, &mut v);
    } else {
        fill_payload(7, seq, &mut v);
    }
    v
}

// ---------------------------------------------------------------------------------------
// Child roles
// ---------------------------------------------------------------------------------------

/// Sends COUNT messages in MODE, then leaves as EXIT says: `drop` (drop the sender, then
/// exit) or `die` (exit without dropping anything: the kernel releases the endpoint).
fn producer() {
    let name = param("RING");
    let n = param_u64("COUNT");
    let mode = param("MODE");
    let ring = Ring::open_with(&name, &RingOptions::new().kind(Kind::Spsc)).expect("open ring");
    let mut tx = ring.sender().expect("attach sender");
    let max = tx.max_msg_size();
    let mut buf = vec![0u8; max];
    match mode.as_str() {
        "plain" => {
            for seq in 0..n {
                let len = encode(0, seq, MAX_PAYLOAD, &mut buf);
                tx.send(&buf[..len]).unwrap_or_else(|e| panic!("send seq {seq}: {e}"));
            }
        }
        "batch" => {
            let mut seq = 0;
            let mut batch: Vec<Vec<u8>> = Vec::new();
            while seq < n {
                let k = (1 + mix(seq ^ 0xba7c) % 64).min(n - seq);
                batch.clear();
                for s in seq..seq + k {
                    batch.push(encode_vec(0, s, MAX_PAYLOAD));
                }
                let sent = tx.send_batch(&batch, Timeout::Forever).expect("send_batch");
                assert_eq!(sent as u64, k, "send_batch(Forever) sent {sent} of {k}");
                seq += k;
            }
        }
        "resilient" => {
            // Keeps going through receiver restarts: a send refused with Disconnected (no
            // receiver attached) is retried until a new receiver attaches.
            let mut disconnected = 0u64;
            for seq in 0..n {
                let len = encode(0, seq, MAX_PAYLOAD, &mut buf);
                loop {
                    match tx.send(&buf[..len]) {
                        Ok(()) => break,
                        Err(Error::Disconnected) => {
                            if disconnected == 0 {
                                if let Ok(mark) = std::env::var("MARK") {
                                    touch(&mark);
                                }
                            }
                            disconnected += 1;
                            std::thread::sleep(Duration::from_millis(1));
                        }
                        Err(e) => panic!("send seq {seq}: {e}"),
                    }
                }
            }
            eprintln!("producer: {disconnected} sends refused with Disconnected");
            assert!(disconnected > 0, "the producer never saw the receiver gone");
        }
        "zerocopy" => {
            for seq in 0..n {
                if seq % 101 == 5 {
                    // A reservation dropped without commit sends nothing.
                    let mut slot = tx.reserve(Timeout::Forever).expect("reserve");
                    slot.buf().fill(0xEE);
                    drop(slot);
                }
                if seq % 211 == 7 {
                    // A commit longer than msg_size is refused and sends nothing.
                    let slot = tx.reserve(Timeout::Forever).expect("reserve");
                    match slot.commit(max + 1) {
                        Err(Error::TooLarge { len, max: m }) => assert_eq!((len, m), (max + 1, max)),
                        other => panic!("commit(msg_size + 1): {other:?}"),
                    }
                }
                let mut slot = tx.reserve(Timeout::Forever).expect("reserve");
                assert_eq!(slot.buf().len(), max);
                let len = encode(0, seq, MAX_PAYLOAD, slot.buf());
                slot.commit(len).expect("commit");
            }
        }
        "sizes" => {
            let big = vec![0x5Au8; max + 1000];
            for seq in 0..n {
                let m = sized_msg(seq, max);
                tx.send(&m)
                    .unwrap_or_else(|e| panic!("send seq {seq} ({} bytes): {e}", m.len()));
                if seq % 3 == 0 {
                    refusals(&mut tx, &big, max, seq);
                }
            }
        }
        other => panic!("unknown producer mode {other:?}"),
    }
    assert_eq!(tx.stats().messages, n, "producer stats().messages");
    match param("EXIT").as_str() {
        "drop" => drop(tx),
        "die" => std::process::exit(0),
        other => panic!("unknown EXIT {other:?}"),
    }
}

/// Every way of sending a message longer than msg_size: each is TooLarge and sends nothing.
fn refusals(tx: &mut Sender, big: &[u8], max: usize, seq: u64) {
    let too_large = |r: ipcring::Result<()>, len: usize, what: &str| match r {
        Err(Error::TooLarge { len: l, max: m }) => {
            assert_eq!((l, m), (len, max), "{what}: TooLarge fields");
        }
        other => panic!("seq {seq}: {what} of {len} bytes into msg_size {max}: {other:?}"),
    };
    too_large(tx.send(&big[..max + 1]), max + 1, "send");
    too_large(tx.try_send(&big[..max + 1000]), max + 1000, "try_send");
    too_large(
        tx.send_timeout(&big[..max + 1], Duration::from_millis(1)),
        max + 1,
        "send_timeout",
    );
    // A batch with one message too large sends none of them.
    let ok = sized_msg(u64::MAX, max);
    match tx.send_batch(&[&ok[..], &big[..max + 1]], Timeout::Forever) {
        Err(Error::TooLarge { len, .. }) => assert_eq!(len, max + 1),
        other => panic!("seq {seq}: send_batch with a too-large message: {other:?}"),
    }
    let slot = tx.reserve(Timeout::Forever).expect("reserve");
    too_large(slot.commit(max + 1), max + 1, "commit");
}

/// Receives in MODE until EndOfStream, checking every message, then checks that exactly
/// COUNT arrived and that the end of the stream stays the end.
fn consumer() {
    let name = param("RING");
    let n = param_u64("COUNT");
    let mode = param("MODE");
    let ring = Ring::open_with(&name, &RingOptions::new().kind(Kind::Spsc)).expect("open ring");
    let mut rx = ring.receiver().expect("attach receiver");
    let max = rx.max_msg_size();
    let mut buf = vec![0u8; max];
    let mut chk = SeqChecker::new(1, Some(MAX_PAYLOAD));
    // A producer that leaves with `exit(0)` without dropping its sender did not close: the
    // stream ends in SenderDied (a crash is not a clean end); one that drops it, in EndOfStream.
    let dies = std::env::var("EXIT").is_ok_and(|e| e == "die");
    let the_end = |e: &Error| {
        if dies {
            matches!(e, Error::SenderDied)
        } else {
            matches!(e, Error::EndOfStream)
        }
    };
    let first = std::env::var("FIRST").map_or(0, |v| v.parse().unwrap());
    chk.expect_next(0, first);
    let end = match mode.as_str() {
        "partial" => {
            // Takes exactly LIMIT messages, then leaves (drops the receiver).
            let limit = param_u64("LIMIT");
            for _ in 0..limit {
                let len = rx.recv(&mut buf).expect("recv");
                chk.check_or_panic(&buf[..len]);
            }
            assert_eq!(rx.stats().messages, limit);
            return;
        }
        "plain" => loop {
            match rx.recv(&mut buf) {
                Ok(len) => chk.check_or_panic(&buf[..len]),
                Err(e) => break e,
            }
        },
        "batch" => loop {
            let mut got = 0;
            match rx.recv_batch(48, Timeout::Forever, |m| {
                got += 1;
                chk.check_or_panic(m)
            }) {
                Ok(k) => assert_eq!(k, got, "recv_batch returned {k} but handed over {got}"),
                Err(e) => break e,
            }
        },
        "peek" => loop {
            let slot = match rx.peek(Timeout::Forever) {
                Ok(slot) => slot,
                Err(e) => break e,
            };
            if chk.count % 97 == 3 {
                // Dropped without release: on SPSC the message stays.
                let first = slot.to_vec();
                drop(slot);
                let again = rx.peek(Timeout::NonBlocking).expect("peek after a dropped peek");
                assert_eq!(&*again, &first[..], "the message changed after a dropped peek");
                chk.check_or_panic(&again);
                again.release();
            } else {
                chk.check_or_panic(&slot);
                slot.release();
            }
        },
        "small_buf" => loop {
            // The next message's length is known from its seq: offer one byte less (or
            // nothing), expect BufferTooSmall with the message kept, then take it.
            let seq = chk.count;
            let want = msg_len(0, seq, MAX_PAYLOAD);
            let small = if seq % 3 == 0 { 0 } else { want - 1 };
            let r = if seq % 2 == 0 {
                rx.recv(&mut buf[..small])
            } else {
                rx.recv_timeout(&mut buf[..small], Duration::from_secs(60))
            };
            match r {
                Err(Error::BufferTooSmall { needed, capacity }) => {
                    assert_eq!((needed, capacity), (want, small), "seq {seq}: BufferTooSmall fields");
                }
                Err(e) if seq == n && the_end(&e) => break e,
                other => panic!("seq {seq}: recv into {small} bytes for a {want}-byte message: {other:?}"),
            }
            let got = rx.recv(&mut buf[..want]).expect("recv after BufferTooSmall");
            assert_eq!(got, want, "seq {seq}: length");
            chk.check_or_panic(&buf[..got]);
        },
        "sizes" => loop {
            let seq = chk.count;
            let r = if seq % 2 == 0 {
                rx.recv(&mut buf[..max]).map(|len| buf[..len].to_vec())
            } else {
                rx.recv_vec()
            };
            match r {
                Ok(m) => {
                    let want = sized_msg(seq, max);
                    assert!(
                        m == want,
                        "message {seq}: got {} bytes {:02x?}.., expected {} bytes {:02x?}..",
                        m.len(),
                        &m[..m.len().min(16)],
                        want.len(),
                        &want[..want.len().min(16)]
                    );
                    if m.len() >= OVERHEAD {
                        decode(&m, None).unwrap_or_else(|e| panic!("message {seq}: {e}"));
                    }
                    chk.count += 1;
                }
                Err(e) => break e,
            }
        },
        other => panic!("unknown consumer mode {other:?}"),
    };
    assert!(
        the_end(&end),
        "the stream ended with {end:?} after {} messages (the producer's exit: {})",
        chk.count,
        if dies { "died" } else { "dropped its sender" }
    );
    if mode == "sizes" {
        assert_eq!(chk.count, n, "messages received");
    } else {
        chk.assert_complete(n);
    }
    assert_eq!(rx.stats().messages, n - first, "consumer stats().messages");
    // The end stays the end while no sender is attached.
    assert!(
        matches!(rx.try_recv(&mut buf), Err(e) if the_end(&e)),
        "try_recv after the end"
    );
    assert!(matches!(rx.recv(&mut buf), Err(e) if the_end(&e)), "recv after the end");
    assert!(ring.is_empty(), "ring not drained at the end");
}

/// Attaches the sender, announces itself with one message, waits for EOF on stdin, then
/// dies without dropping anything.
fn hold_sender() {
    let ring = Ring::open(&param("RING")).expect("open ring");
    let mut tx = ring.sender().expect("attach sender");
    tx.send(b"attached").expect("send");
    let mut sink = Vec::new();
    let _ = std::io::Read::read_to_end(&mut std::io::stdin(), &mut sink);
    std::process::exit(0);
}

// ---------------------------------------------------------------------------------------
// Named-ring tests
// ---------------------------------------------------------------------------------------

struct Run {
    tag: &'static str,
    wake: WakeBackend,
    capacity: u64,
    msg_size: u64,
    count: u64,
    producer_mode: &'static str,
    consumer_mode: &'static str,
    exit: &'static str,
}

/// Creates the ring, starts the consumer then the producer as separate processes, waits for
/// both (each asserts its own half), and checks the ring is drained.
fn run(r: Run) {
    let _serial = serial();
    let name = ShmName::new(r.tag);
    let ring = Ring::create(name.as_str(), &opts(r.wake, r.capacity, r.msg_size)).expect("create");
    let vars = |mode: &str| {
        vec![
            ("RING", name.as_str().to_string()),
            ("COUNT", r.count.to_string()),
            ("MODE", mode.to_string()),
            ("EXIT", r.exit.to_string()),
        ]
    };
    let start = Instant::now();
    let consumer = spawn("consumer", &vars(r.consumer_mode));
    let producer = spawn("producer", &vars(r.producer_mode));
    run_all_progress(vec![consumer, producer], HANG_BOUND, ring_progress(name.as_str()));
    let secs = start.elapsed().as_secs_f64();
    eprintln!(
        "{}: {} messages ({} / {}, {:?}, capacity {}) in {secs:.2} s, {:.2} M msg/s",
        r.tag,
        r.count,
        r.producer_mode,
        r.consumer_mode,
        r.wake,
        r.capacity,
        r.count as f64 / secs / 1e6
    );
    assert!(ring.is_empty(), "ring not empty after both processes finished");
}

#[test]
fn spsc_processes_futex_10m() {
    run(Run {
        tag: "spsc-futex",
        wake: WakeBackend::Futex,
        capacity: 1024,
        msg_size: MSG_SIZE,
        count: env_u64("IPCRING_SPSC_MESSAGES", 10_000_000),
        producer_mode: "plain",
        consumer_mode: "plain",
        exit: "drop",
    });
}

#[test]
fn spsc_processes_sem_1m() {
    run(Run {
        tag: "spsc-sem",
        wake: WakeBackend::Sem,
        capacity: 1024,
        msg_size: MSG_SIZE,
        count: env_u64("IPCRING_SPSC_SEM_MESSAGES", 1_000_000),
        producer_mode: "plain",
        consumer_mode: "plain",
        exit: "die",
    });
}

#[test]
fn spsc_processes_batches() {
    run(Run {
        tag: "spsc-batch",
        wake: WakeBackend::Futex,
        capacity: 256,
        msg_size: MSG_SIZE,
        count: env_u64("IPCRING_SPSC_MESSAGES", 10_000_000) / 5,
        producer_mode: "batch",
        consumer_mode: "batch",
        exit: "drop",
    });
}

#[test]
fn spsc_capacity_one_futex() {
    run(Run {
        tag: "spsc-cap1-futex",
        wake: WakeBackend::Futex,
        capacity: 1,
        msg_size: MSG_SIZE,
        count: 100_000,
        producer_mode: "plain",
        consumer_mode: "plain",
        exit: "drop",
    });
}

#[test]
fn spsc_capacity_one_sem() {
    run(Run {
        tag: "spsc-cap1-sem",
        wake: WakeBackend::Sem,
        capacity: 1,
        msg_size: MSG_SIZE,
        count: 100_000,
        producer_mode: "plain",
        consumer_mode: "plain",
        exit: "die",
    });
}

/// 0 bytes, exactly msg_size, msg_size - 1, 1, random sizes; after every third message each
/// way of sending msg_size + 1 (or more) bytes is refused with TooLarge, and the consumer
/// still receives exactly the valid messages, in order, byte for byte.
#[test]
fn spsc_message_sizes_and_too_large() {
    for (msg_size, count) in [(64, 6_000), (1, 600), (4093, 3_000)] {
        run(Run {
            tag: "spsc-sizes",
            wake: WakeBackend::Futex,
            capacity: 8,
            msg_size,
            count,
            producer_mode: "sizes",
            consumer_mode: "sizes",
            exit: "drop",
        });
    }
}

/// A receive buffer one byte too small (or empty) is BufferTooSmall with the exact sizes, and
/// the message stays: the next receive with a big enough buffer gets it, intact.
#[test]
fn spsc_buffer_too_small_keeps_message() {
    run(Run {
        tag: "spsc-smallbuf",
        wake: WakeBackend::Futex,
        capacity: 16,
        msg_size: MSG_SIZE,
        count: 20_000,
        producer_mode: "plain",
        consumer_mode: "small_buf",
        exit: "die",
    });
}

/// Zero-copy on both sides: reserve/commit (with reservations dropped uncommitted, and
/// commits of msg_size + 1 refused) and peek/release (with peeks dropped unreleased).
#[test]
fn spsc_zero_copy_reserve_commit_peek_release() {
    for wake in [WakeBackend::Futex, WakeBackend::Sem] {
        run(Run {
            tag: "spsc-zerocopy",
            wake,
            capacity: 64,
            msg_size: MSG_SIZE,
            count: 100_000,
            producer_mode: "zerocopy",
            consumer_mode: "peek",
            exit: "drop",
        });
    }
}

/// SPSC has one sender: while another process holds it, `sender()` is Busy (and a second
/// receiver too); once that process dies, the receiver sees EndOfStream, and a new sender can
/// attach and the channel flows again.
#[test]
fn spsc_busy_while_other_process_holds_sender() {
    let _serial = serial();
    let name = ShmName::new("spsc-busy");
    let ring = Ring::create(name.as_str(), &opts(WakeBackend::Futex, 8, MSG_SIZE)).expect("create");
    let mut rx = ring.receiver().expect("receiver");
    let mut holder = spawn("hold_sender", &[("RING", name.as_str().to_string())]);
    assert_eq!(
        rx.recv_vec_timeout(Duration::from_secs(60)).expect("hello"),
        b"attached"
    );
    assert!(
        matches!(ring.sender(), Err(Error::Busy { role: "sender" })),
        "second sender while another process holds it"
    );
    assert!(
        matches!(
            Ring::open(name.as_str()).unwrap().sender(),
            Err(Error::Busy { role: "sender" })
        ),
        "second sender through another mapping"
    );
    assert!(
        matches!(rx.try_clone(), Err(Error::Busy { role: "receiver" })),
        "second receiver"
    );
    assert!(
        matches!(rx.try_recv_vec(), Err(Error::WouldBlock)),
        "holder alive: not the end"
    );
    holder.close_stdin();
    run_all(vec![holder], HANG_BOUND);
    // It exited without dropping its sender: not a clean end.
    match rx.recv_vec_timeout(Duration::from_secs(30)) {
        Err(Error::SenderDied) => {}
        other => panic!("after the holder died: {other:?}"),
    }
    let mut tx = ring.sender().expect("a sender can attach once the holder is dead");
    tx.send(b"again").unwrap();
    assert_eq!(rx.recv_vec_timeout(Duration::from_secs(30)).unwrap(), b"again");
}

/// A receiver process that leaves mid-stream, and a new one that attaches later: the
/// producer sees Disconnected while no receiver is attached, retries, and the new receiver
/// continues exactly where the first one stopped (what was in the ring is kept).
#[test]
fn spsc_receiver_restart_resumes_stream() {
    let _serial = serial();
    let name = ShmName::new("spsc-restart");
    let _ring = Ring::create(name.as_str(), &opts(WakeBackend::Futex, 64, MSG_SIZE)).expect("create");
    let (n, first_part) = (100_000u64, 30_000u64);
    let mark = TempPath::new("disconnected-seen");
    let vars = |mode: &str, first: u64| {
        vec![
            ("RING", name.as_str().to_string()),
            ("MARK", mark.as_str().to_string()),
            ("COUNT", n.to_string()),
            ("MODE", mode.to_string()),
            ("EXIT", "drop".to_string()),
            ("LIMIT", first_part.to_string()),
            ("FIRST", first.to_string()),
        ]
    };
    let first = spawn("consumer", &vars("partial", 0));
    let producer = spawn("producer", &vars("resilient", 0));
    let exits = wait_all_progress(vec![first], HANG_BOUND, ring_progress(name.as_str()));
    assert!(exits[0].success(), "{}", exits[0].describe());
    // The producer must notice that no receiver is attached before the next one comes.
    wait_for_file(mark.path(), HANG_BOUND);
    std::thread::sleep(Duration::from_millis(50));
    let second = spawn("consumer", &vars("plain", first_part));
    run_all_progress(vec![second, producer], HANG_BOUND, ring_progress(name.as_str()));
}

// ---------------------------------------------------------------------------------------
// pair() + fork
// ---------------------------------------------------------------------------------------

const PAIR_MESSAGES: u64 = 200_000;

/// A pair's options: `fence` `None` leaves the choice to the creator (asymmetric where
/// `membarrier(2)` works, as here).
fn pair_opts(wake: WakeBackend, fence: Option<FenceMode>) -> RingOptions {
    let o = opts(wake, 128, MSG_SIZE);
    match fence {
        Some(f) => o.fence(f),
        None => o,
    }
}

fn send_all(tx: &mut Sender, n: u64) {
    let mut buf = [0u8; MSG_SIZE as usize];
    for seq in 0..n {
        let len = encode(0, seq, MAX_PAYLOAD, &mut buf);
        tx.send(&buf[..len]).unwrap_or_else(|e| panic!("send seq {seq}: {e}"));
    }
}

fn recv_all_then_end(rx: &mut Receiver, n: u64) {
    let mut buf = [0u8; MSG_SIZE as usize];
    let mut chk = SeqChecker::new(1, Some(MAX_PAYLOAD));
    let end = loop {
        match rx.recv_timeout(&mut buf, Duration::from_secs(60)) {
            Ok(len) => chk.check_or_panic(&buf[..len]),
            Err(e) => break e,
        }
    };
    assert!(
        matches!(end, Error::EndOfStream),
        "ended with {end:?} after {} messages",
        chk.count
    );
    chk.assert_complete(n);
}

/// The pipe(2) pattern: parent sends, child receives; each drops the end it does not use.
/// The child sees every message, then EndOfStream once the parent drops its sender.
fn pair_parent_to_child(wake: WakeBackend, fence: Option<FenceMode>) {
    let _serial = serial();
    let (tx, rx) = pair(&pair_opts(wake, fence)).expect("pair");
    let (mut tx, mut rx) = (Some(tx), Some(rx));
    let child = fork("pair receiver", || {
        drop(tx.take()); // the end the child does not use
        let mut rx = rx.take().unwrap();
        recv_all_then_end(&mut rx, PAIR_MESSAGES);
    });
    drop(rx.take()); // the end the parent does not use
    let mut tx = tx.take().unwrap();
    send_all(&mut tx, PAIR_MESSAGES);
    drop(tx);
    child.expect_success(HANG_BOUND);
}

/// The reverse: the child sends and dies without dropping its sender; the parent receives
/// everything, then EndOfStream.
fn pair_child_to_parent(wake: WakeBackend, fence: Option<FenceMode>) {
    let _serial = serial();
    let (tx, rx) = pair(&pair_opts(wake, fence)).expect("pair");
    let (mut tx, mut rx) = (Some(tx), Some(rx));
    let child = fork("pair sender", || {
        drop(rx.take());
        send_all(tx.as_mut().unwrap(), PAIR_MESSAGES);
        // Leave without dropping the sender: its death must end the stream.
        // SAFETY: ends the child at once.
        unsafe { libc::_exit(0) };
    });
    drop(tx.take());
    let mut rx = rx.take().unwrap();
    recv_all_then_end(&mut rx, PAIR_MESSAGES);
    child.expect_success(HANG_BOUND);
}

#[test]
fn pair_fork_parent_sends_child_receives_futex() {
    pair_parent_to_child(WakeBackend::Futex, None);
}

#[test]
fn pair_fork_parent_sends_child_receives_sem() {
    pair_parent_to_child(WakeBackend::Sem, None);
}

/// The same on a ring with full fences (`fence=full`).
#[test]
fn pair_fork_parent_sends_child_receives_futex_full() {
    pair_parent_to_child(WakeBackend::Futex, Some(FenceMode::Full));
}

#[test]
fn pair_fork_child_sends_parent_receives_futex() {
    pair_child_to_parent(WakeBackend::Futex, None);
}

/// The same on a ring with full fences (`fence=full`).
#[test]
fn pair_fork_child_sends_parent_receives_futex_full() {
    pair_child_to_parent(WakeBackend::Futex, Some(FenceMode::Full));
}

#[test]
fn pair_fork_child_sends_parent_receives_sem() {
    pair_child_to_parent(WakeBackend::Sem, None);
}

/// A child that drops its inherited copy of the sender (and is still alive, then exits)
/// does not end the parent's stream while the parent holds its sender.
#[test]
fn pair_fork_child_dropping_inherited_sender_does_not_end_stream() {
    let _serial = serial();
    let (tx, rx) = pair(&pair_opts(WakeBackend::Futex, None)).expect("pair");
    let (mut tx, mut rx) = (Some(tx), Some(rx));
    let (mut to_parent, mut to_child) = (Pipe::new(), Pipe::new());
    let child = fork("drops inherited ends", || {
        drop(tx.take());
        drop(rx.take());
        to_parent.write(b"d");
        let mut b = [0u8; 1];
        to_child.read_exact(&mut b, Duration::from_secs(60));
    });
    to_parent.close_write();
    to_child.close_read();
    let mut tx = tx.take().unwrap();
    let mut rx = rx.take().unwrap();
    let mut b = [0u8; 1];
    assert!(
        to_parent.read_exact(&mut b, Duration::from_secs(60)),
        "child did not report"
    );
    let mut check = |when: &str| {
        let mut buf = [0u8; 64];
        match rx.try_recv(&mut buf) {
            Err(Error::WouldBlock) => {}
            other => panic!("{when}: try_recv {other:?}, expected WouldBlock"),
        }
        // Long enough for the receiver to recount the senders (it parks and re-checks).
        match rx.recv_timeout(&mut buf, Duration::from_millis(400)) {
            Err(Error::TimedOut) => {}
            other => panic!("{when}: recv_timeout {other:?}, expected TimedOut"),
        }
        tx.send(when.as_bytes()).expect("the parent's sender still works");
        let n = rx.recv(&mut buf).expect("recv");
        assert_eq!(&buf[..n], when.as_bytes());
    };
    check("child alive, its copies dropped");
    to_child.write(b"x");
    child.expect_success(HANG_BOUND);
    check("child exited");
    drop(tx);
    assert!(
        matches!(rx.recv_vec_timeout(Duration::from_secs(30)), Err(Error::EndOfStream)),
        "EndOfStream once the parent's sender is dropped"
    );
}

/// The mirror image: a child dropping its inherited receiver does not make the parent's
/// sender Disconnected while the parent holds its receiver.
#[test]
fn pair_fork_child_dropping_inherited_receiver_does_not_disconnect() {
    let _serial = serial();
    let (tx, rx) = pair(&opts(WakeBackend::Futex, 2, MSG_SIZE)).expect("pair");
    let (mut tx, mut rx) = (Some(tx), Some(rx));
    let child = fork("drops inherited receiver", || {
        drop(rx.take());
        drop(tx.take());
    });
    child.expect_success(HANG_BOUND);
    let mut tx = tx.take().unwrap();
    let mut rx = rx.take().unwrap();
    tx.send(b"1").unwrap();
    tx.send(b"2").unwrap();
    match tx.send_timeout(b"3", Duration::from_millis(400)) {
        Err(Error::TimedOut) => {}
        other => panic!("full ring, parent's receiver alive: {other:?}, expected TimedOut"),
    }
    assert_eq!(rx.recv_vec().unwrap(), b"1");
    tx.send(b"3").unwrap();
    drop(rx);
    match tx.send_timeout(b"4", Duration::from_secs(30)) {
        Err(Error::Disconnected) => {}
        other => panic!("after the last receiver dropped: {other:?}, expected Disconnected"),
    }
}
