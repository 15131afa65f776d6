//! Blocking across processes, for both wake backends (futex, sem_t) and both ring kinds:
//! parked receivers and senders, timeouts, wake-ups that must cross a process boundary,
//! and the ends of a stream (EndOfStream, Disconnected) reaching a blocked peer.
//!
//! Every test runs once per (kind, wake) combination: `<test>::{spsc,mpmc}_{futex,sem}`, on
//! rings with asymmetric fences (the waiter pays `membarrier`, the default where it works),
//! and once more per kind on a ring with full fences (`fence=full`, the fallback):
//! `<test>::{spsc,mpmc}_futex_full`.
//! Durations are asserted only as lower bounds (a timeout never returns early) and as
//! generous hang bounds, with one exception explained at `cross_process_wake`.

// It drives the library's building blocks (or its failpoints) directly: only in the test build.
#![cfg(ipcring_test)]

mod common;

use common::*;
use ipcring::{Error, FenceMode, Kind, Ring, RingOptions, Timeout, WakeBackend};
use std::time::{Duration, Instant};

const MSG_SIZE: u64 = 64;
const MAX_PAYLOAD: usize = 40;

#[test]
fn child_entry() {
    common::child_entry(|role| match role {
        "slow_producer" => slow_producer(),
        "consumer" => consumer(),
        "fast_producer" => fast_producer(),
        "idle" => idle(),
        "disc_receiver" => disc_receiver(),
        other => panic!("unknown role {other:?}"),
    });
}

fn opts(kind: Kind, wake: WakeBackend, capacity: u64) -> RingOptions {
    RingOptions::new()
        .kind(kind)
        .wake(wake)
        .capacity(capacity)
        .msg_size(MSG_SIZE)
}

fn sleep_us(us: u64) {
    if us > 0 {
        std::thread::sleep(Duration::from_micros(us));
    }
}

/// With LONG_SLICE=1, every sleep of this process lasts up to 300 s unless it is woken: a
/// lost wake-up is then a hang (caught by the parent's bound), not a 100 ms delay that the
/// periodic re-check hides.
fn long_park_slice() {
    if std::env::var("LONG_SLICE").is_ok_and(|v| v == "1") {
        ipcring::timeout::set_park_slice(Duration::from_secs(300));
    }
}

/// Waits for EOF on stdin: the parent closes it (or kills us).
fn wait_for_stdin_eof() {
    let mut sink = Vec::new();
    let _ = std::io::Read::read_to_end(&mut std::io::stdin(), &mut sink);
}

// ---------------------------------------------------------------------------------------
// Child roles
// ---------------------------------------------------------------------------------------

/// Sends COUNT messages, sleeping SLEEP_US before each; touches MARK (if given) when done;
/// then, per EXIT: `drop` (drop the sender), `die` (exit without dropping anything),
/// `hang` (wait to be killed), each after LINGER_MS.
fn slow_producer() {
    let ring = Ring::open(&param("RING")).expect("open");
    let mut tx = ring.sender().expect("sender");
    let n = param_u64("COUNT");
    let pause = param_u64("SLEEP_US");
    let mut buf = [0u8; MSG_SIZE as usize];
    for seq in 0..n {
        sleep_us(pause);
        let len = encode(0, seq, MAX_PAYLOAD, &mut buf);
        tx.send(&buf[..len]).unwrap_or_else(|e| panic!("send seq {seq}: {e}"));
    }
    if let Ok(mark) = std::env::var("MARK") {
        touch(&mark);
    }
    sleep_us(param_u64("LINGER_MS") * 1000);
    match param("EXIT").as_str() {
        "drop" => drop(tx),
        "die" => std::process::exit(0),
        "hang" => {
            wait_for_stdin_eof();
            panic!("the parent was to kill this producer, not let it go");
        }
        other => panic!("unknown EXIT {other:?}"),
    }
}

/// Receives until EndOfStream, sleeping SLEEP_US after each message, checking every one;
/// exactly COUNT must arrive. With EXPECT_PARKS=1, the receiver must have slept in the
/// kernel at least once (it really was blocked, not spinning).
fn consumer() {
    long_park_slice();
    let ring = Ring::open(&param("RING")).expect("open");
    let mut rx = ring.receiver().expect("receiver");
    let n = param_u64("COUNT");
    let pause = param_u64("SLEEP_US");
    let mut buf = [0u8; MSG_SIZE as usize];
    let mut chk = SeqChecker::new(1, Some(MAX_PAYLOAD));
    let end = loop {
        match rx.recv(&mut buf) {
            Ok(len) => chk.check_or_panic(&buf[..len]),
            Err(e) => break e,
        }
        sleep_us(pause);
    };
    // END=died: the producer ends without closing (exit or kill), which is not a clean end.
    let died = std::env::var("END").is_ok_and(|v| v == "died");
    assert!(
        if died {
            matches!(end, Error::SenderDied)
        } else {
            matches!(end, Error::EndOfStream)
        },
        "ended with {end:?} after {} messages",
        chk.count
    );
    chk.assert_complete(n);
    let st = rx.stats();
    eprintln!("consumer stats: {st:?}");
    if param_u64("EXPECT_PARKS") == 1 {
        assert!(st.parks > 0, "the consumer never parked: {st:?}");
    }
}

/// Sends COUNT messages as fast as it can into a small ring drained by a slow consumer:
/// it must have parked (been blocked on a full ring).
fn fast_producer() {
    long_park_slice();
    let ring = Ring::open(&param("RING")).expect("open");
    let mut tx = ring.sender().expect("sender");
    let n = param_u64("COUNT");
    let mut buf = [0u8; MSG_SIZE as usize];
    for seq in 0..n {
        let len = encode(0, seq, MAX_PAYLOAD, &mut buf);
        tx.send(&buf[..len]).unwrap_or_else(|e| panic!("send seq {seq}: {e}"));
    }
    let st = tx.stats();
    eprintln!("producer stats: {st:?}");
    assert_eq!(st.messages, n);
    assert!(st.parks > 0, "the producer never parked on the full ring: {st:?}");
}

/// Attaches one endpoint (SIDE = sender | receiver), touches MARK, and idles until stdin
/// closes.
fn idle() {
    let ring = Ring::open(&param("RING")).expect("open");
    let side = param("SIDE");
    let (_tx, _rx) = match side.as_str() {
        "sender" => (Some(ring.sender().expect("sender")), None),
        "receiver" => (None, Some(ring.receiver().expect("receiver"))),
        other => panic!("unknown SIDE {other:?}"),
    };
    touch(&param("MARK"));
    wait_for_stdin_eof();
}

/// Attaches a receiver, touches MARK, receives one message, lingers LINGER_MS, then leaves
/// per EXIT (`drop`, `die`, `hang`).
fn disc_receiver() {
    let ring = Ring::open(&param("RING")).expect("open");
    let mut rx = ring.receiver().expect("receiver");
    touch(&param("MARK"));
    let first = rx.recv_vec_timeout(Duration::from_secs(60)).expect("first message");
    assert_eq!(first, b"first");
    sleep_us(param_u64("LINGER_MS") * 1000);
    match param("EXIT").as_str() {
        "drop" => drop(rx),
        "die" => std::process::exit(0),
        "hang" => {
            wait_for_stdin_eof();
            panic!("the parent was to kill this receiver, not let it go");
        }
        other => panic!("unknown EXIT {other:?}"),
    }
}

// ---------------------------------------------------------------------------------------
// Tests (each run for every kind x wake backend)
// ---------------------------------------------------------------------------------------

fn vars(name: &ShmName, extra: &[(&'static str, String)]) -> Vec<(&'static str, String)> {
    let mut v = vec![("RING", name.as_str().to_string())];
    v.extend(extra.iter().cloned());
    v
}

/// A slow producer (100 ms between messages) and a consumer blocked in recv: all arrive, in
/// order, and the consumer parked. (The pauses are long because a blocked call first spins
/// and yields; on a loaded machine the yields alone can last milliseconds.)
fn slow_producer_consumer_parks(kind: Kind, wake: WakeBackend, fence: FenceMode) {
    let _serial = serial();
    let name = ShmName::new("slowprod");
    let _ring = Ring::create(name.as_str(), &opts(kind, wake, 64).fence(fence)).expect("create");
    let n = 10;
    let consumer = spawn(
        "consumer",
        &vars(
            &name,
            &[
                ("COUNT", n.to_string()),
                ("SLEEP_US", "0".into()),
                ("EXPECT_PARKS", "1".into()),
            ],
        ),
    );
    let producer = spawn(
        "slow_producer",
        &vars(
            &name,
            &[
                ("COUNT", n.to_string()),
                ("SLEEP_US", "100000".into()),
                ("LINGER_MS", "0".into()),
                ("EXIT", "drop".into()),
            ],
        ),
    );
    run_all(vec![consumer, producer], HANG_BOUND);
}

/// Many rounds of park and wake across processes, both ways, with every message checked
/// (sequence and checksum) and a 300 s park slice in the parked process, so that one lost
/// wake-up is a hang: a producer that pauses 300 µs before each of 1500 messages (the
/// consumer spins out and parks on nearly every one), then a 2-slot ring filled by a
/// producer as fast as it can while the consumer pauses 300 µs after each message (the
/// producer parks on nearly every one).
fn park_wake_rounds(kind: Kind, wake: WakeBackend, fence: FenceMode) {
    let _serial = serial();
    let n = 1500;
    for (capacity, consumer_pause, producer_pause, fast) in [(64, 0, 300, false), (2, 300, 0, true)] {
        let name = ShmName::new("rounds");
        let ring = Ring::create(name.as_str(), &opts(kind, wake, capacity).fence(fence)).expect("create");
        assert_eq!(ring.geometry().fence, fence);
        let consumer = spawn(
            "consumer",
            &vars(
                &name,
                &[
                    ("COUNT", n.to_string()),
                    ("SLEEP_US", consumer_pause.to_string()),
                    ("EXPECT_PARKS", (!fast as u8).to_string()),
                    ("LONG_SLICE", "1".into()),
                ],
            ),
        );
        let producer = if fast {
            spawn(
                "fast_producer",
                &vars(&name, &[("COUNT", n.to_string()), ("LONG_SLICE", "1".into())]),
            )
        } else {
            spawn(
                "slow_producer",
                &vars(
                    &name,
                    &[
                        ("COUNT", n.to_string()),
                        ("SLEEP_US", producer_pause.to_string()),
                        ("LINGER_MS", "0".into()),
                        ("EXIT", "drop".into()),
                    ],
                ),
            )
        };
        run_all(vec![consumer, producer], HANG_BOUND);
    }
}

/// A slow consumer (100 ms per message) and a producer blocked on a full 2-slot ring: all
/// arrive, and the producer parked.
fn slow_consumer_producer_parks(kind: Kind, wake: WakeBackend, fence: FenceMode) {
    let _serial = serial();
    let name = ShmName::new("slowcons");
    let _ring = Ring::create(name.as_str(), &opts(kind, wake, 2).fence(fence)).expect("create");
    let n = 12;
    let consumer = spawn(
        "consumer",
        &vars(
            &name,
            &[
                ("COUNT", n.to_string()),
                ("SLEEP_US", "100000".into()),
                ("EXPECT_PARKS", "0".into()),
            ],
        ),
    );
    let producer = spawn("fast_producer", &vars(&name, &[("COUNT", n.to_string())]));
    run_all(vec![consumer, producer], HANG_BOUND);
}

/// Runs `f`, which must fail with TimedOut, not before `at_least`, and within a hang bound.
fn expect_timed_out<T: std::fmt::Debug>(what: &str, at_least: Duration, f: impl FnOnce() -> ipcring::Result<T>) {
    let start = Instant::now();
    let r = f();
    let took = start.elapsed();
    assert!(matches!(r, Err(Error::TimedOut)), "{what}: {r:?}, expected TimedOut");
    assert!(
        took >= at_least,
        "{what}: returned TimedOut after {took:?}, before its {at_least:?}"
    );
    assert!(took < Duration::from_secs(10), "{what}: took {took:?} to time out");
}

fn expect_would_block<T: std::fmt::Debug>(what: &str, r: ipcring::Result<T>) {
    assert!(
        matches!(r, Err(Error::WouldBlock)),
        "{what}: {r:?}, expected WouldBlock"
    );
}

/// Timeouts on an empty ring (receive side) and a full ring (send side): `Never` is
/// WouldBlock, a deadline is TimedOut and never early; the same with no peer attached yet
/// and with a live peer in another process; once that peer exits, the same calls report the
/// end (EndOfStream / Disconnected) instead of timing out.
fn timeouts(kind: Kind, wake: WakeBackend, fence: FenceMode) {
    let _serial = serial();
    let ms = Duration::from_millis;

    // Receive side.
    let name = ShmName::new("timeouts-rx");
    let ring = Ring::create(name.as_str(), &opts(kind, wake, 2).fence(fence)).expect("create");
    let mut rx = ring.receiver().expect("receiver");
    let mut buf = [0u8; MSG_SIZE as usize];
    let check_rx = |rx: &mut ipcring::Receiver, buf: &mut [u8], when: &str| {
        expect_would_block(&format!("{when}: try_recv"), rx.try_recv(buf));
        expect_would_block(&format!("{when}: try_recv_vec"), rx.try_recv_vec());
        expect_would_block(
            &format!("{when}: recv_with_timeout(from_nanos(0))"),
            rx.recv_with_timeout(buf, Timeout::from_nanos(0)),
        );
        expect_would_block(
            &format!("{when}: peek(Never)"),
            rx.peek(Timeout::NonBlocking).map(|s| s.len()),
        );
        expect_timed_out(&format!("{when}: recv_timeout(100ms)"), ms(100), || {
            rx.recv_timeout(buf, ms(100))
        });
        expect_timed_out(&format!("{when}: recv_with_timeout(from_nanos(30ms))"), ms(30), || {
            rx.recv_with_timeout(buf, Timeout::from_nanos(30_000_000))
        });
        expect_timed_out(&format!("{when}: recv_vec_timeout(40ms)"), ms(40), || {
            rx.recv_vec_timeout(ms(40))
        });
        expect_timed_out(&format!("{when}: peek(after 50ms)"), ms(50), || {
            rx.peek(Timeout::after(ms(50))).map(|s| s.len())
        });
        expect_timed_out(&format!("{when}: recv_batch(after 50ms)"), ms(50), || {
            rx.recv_batch(8, Timeout::after(ms(50)), |_| {})
        });
    };
    check_rx(&mut rx, &mut buf, "no sender attached yet");
    let mark = TempPath::new("mark");
    let mut sender = spawn(
        "idle",
        &vars(&name, &[("SIDE", "sender".into()), ("MARK", mark.as_str().to_string())]),
    );
    wait_for_file(mark.path(), HANG_BOUND);
    check_rx(&mut rx, &mut buf, "sender idle in another process");
    sender.close_stdin();
    run_all(vec![sender], HANG_BOUND);
    match rx.recv_timeout(&mut buf, Duration::from_secs(10)) {
        Err(Error::EndOfStream) => {}
        other => panic!("after the sender process exited: {other:?}, expected EndOfStream"),
    }
    drop(rx);

    // Send side: a full ring.
    let name = ShmName::new("timeouts-tx");
    let ring = Ring::create(name.as_str(), &opts(kind, wake, 2).fence(fence)).expect("create");
    let mut tx = ring.sender().expect("sender");
    tx.try_send(b"1").expect("room for 1");
    tx.try_send(b"2").expect("room for 2");
    let check_tx = |tx: &mut ipcring::Sender, when: &str| {
        expect_would_block(&format!("{when}: try_send"), tx.try_send(b"x"));
        expect_would_block(
            &format!("{when}: send_with_timeout(from_nanos(0))"),
            tx.send_with_timeout(b"x", Timeout::from_nanos(0)),
        );
        expect_would_block(
            &format!("{when}: reserve(Never)"),
            tx.reserve(Timeout::NonBlocking).map(|_| ()),
        );
        expect_would_block(
            &format!("{when}: send_batch(Never)"),
            tx.send_batch(&[b"x"], Timeout::NonBlocking),
        );
        expect_timed_out(&format!("{when}: send_timeout(100ms)"), ms(100), || {
            tx.send_timeout(b"x", ms(100))
        });
        expect_timed_out(&format!("{when}: send_with_timeout(from_nanos(30ms))"), ms(30), || {
            tx.send_with_timeout(b"x", Timeout::from_nanos(30_000_000))
        });
        expect_timed_out(&format!("{when}: reserve(after 50ms)"), ms(50), || {
            tx.reserve(Timeout::after(ms(50))).map(|_| ())
        });
        expect_timed_out(&format!("{when}: send_batch(after 50ms)"), ms(50), || {
            tx.send_batch(&[b"x", b"y"], Timeout::after(ms(50)))
        });
    };
    check_tx(&mut tx, "no receiver attached yet");
    let mark = TempPath::new("mark");
    let mut receiver = spawn(
        "idle",
        &vars(
            &name,
            &[("SIDE", "receiver".into()), ("MARK", mark.as_str().to_string())],
        ),
    );
    wait_for_file(mark.path(), HANG_BOUND);
    check_tx(&mut tx, "receiver idle in another process");
    // A batch that only partly fits sends what fits and says so.
    let mut rx = Ring::open(name.as_str()).unwrap().receiver();
    if kind == Kind::Mpmc {
        let rx = rx.as_mut().expect("a second receiver on MPMC");
        assert_eq!(rx.recv_vec().unwrap(), b"1");
        let sent = tx
            .send_batch(&[b"a", b"b", b"c"], Timeout::after(ms(50)))
            .expect("partial batch");
        assert_eq!(sent, 1, "send_batch into one free slot");
    } else {
        assert!(matches!(rx, Err(Error::Busy { role: "receiver" })), "{rx:?}");
    }
    drop(rx);
    receiver.close_stdin();
    run_all(vec![receiver], HANG_BOUND);
    match tx.send_timeout(b"x", Duration::from_secs(10)) {
        Err(Error::Disconnected) => {}
        other => panic!("after the receiver process exited: {other:?}, expected Disconnected"),
    }
}

/// A blocked receiver is woken by a send from another process: the futex word (or sem_t)
/// must be shared, not private.
///
/// Every sleep in the library is bounded by a park slice (20 ms by default), after which a
/// parked caller looks again by itself, so with the default slice delivery alone cannot tell a
/// working wake-up from a broken one. The child therefore sets its slice to 60 s: a wake-up
/// that does not cross the process boundary leaves it asleep far past the generous hang bound
/// below, and the test fails on that bound, with no latency assertion.
fn cross_process_wake(kind: Kind, wake: WakeBackend, fence: FenceMode) {
    let _serial = serial();
    const ROUNDS: usize = 5;
    let ring = Ring::anonymous(&opts(kind, wake, 8).fence(fence)).expect("anonymous ring");
    assert_eq!(ring.geometry().fence, fence);
    let mut tx = Some(ring.sender().unwrap());
    let mut rx = Some(ring.receiver().unwrap());
    let (mut ready, mut results) = (Pipe::new(), Pipe::new());
    let child = fork("blocked receiver", || {
        ipcring::timeout::set_park_slice(Duration::from_secs(60));
        drop(tx.take());
        let mut rx = rx.take().unwrap();
        let mut buf = [0u8; 16];
        for round in 0..ROUNDS {
            ready.write(b"r");
            let n = rx.recv_with_timeout(&mut buf, Timeout::Forever).expect("recv");
            assert_eq!(n, 16);
            assert_eq!(u64::from_le_bytes(buf[..8].try_into().unwrap()), round as u64);
        }
        // Any round in which the receiver parked was ended by a wake-up from the parent
        // (its own re-check would have come after 60 s); at least one must have parked.
        let st = rx.stats();
        assert!(
            st.parks >= 1,
            "the receiver never parked, so no wake-up was tested: {st:?}"
        );
        results.write(&st.parks.to_le_bytes());
    });
    // The parent keeps only the read ends, so a child that dies is EOF, not a long wait.
    ready.close_write();
    results.close_write();
    drop(rx.take());
    let mut tx = tx.take().unwrap();
    let mut b = [0u8; 1];
    for round in 0..ROUNDS {
        assert!(ready.read_exact(&mut b, HANG_BOUND), "child gone before round {round}");
        // Give the child time to spin out and park (a send that arrives before it parks is
        // received without sleeping; the child checks that at least one round parked).
        std::thread::sleep(Duration::from_millis(150));
        let mut msg = [0u8; 16];
        msg[..8].copy_from_slice(&(round as u64).to_le_bytes());
        tx.send(&msg).unwrap();
    }
    let mut parks = [0u8; 8];
    let got = results.read_exact(&mut parks, Duration::from_secs(30));
    let exit = child.wait(Duration::from_secs(30));
    assert!(
        got && exit.success(),
        "the blocked receiver was not woken across processes within 30 s (its own re-check \
         comes only after 60 s): {}",
        exit.describe()
    );
    let st = tx.stats();
    assert!(st.wakes > 0, "the sender never saw a parked receiver to wake: {st:?}");
}

/// A receiver blocked in recv gets EndOfStream when the sender's process drops its sender,
/// and SenderDied when it exits without dropping it or is killed with SIGKILL.
fn end_of_stream_wakes_blocked_receiver(kind: Kind, wake: WakeBackend, fence: FenceMode) {
    let _serial = serial();
    for exit in ["drop", "die", "hang"] {
        let name = ShmName::new("eos");
        let _ring = Ring::create(name.as_str(), &opts(kind, wake, 16).fence(fence)).expect("create");
        let mark = TempPath::new("mark");
        let n = 5;
        let consumer = spawn(
            "consumer",
            &vars(
                &name,
                &[
                    ("COUNT", n.to_string()),
                    ("SLEEP_US", "0".into()),
                    ("EXPECT_PARKS", "1".into()),
                    ("END", if exit == "drop" { "eos" } else { "died" }.into()),
                ],
            ),
        );
        let mut producer = spawn(
            "slow_producer",
            &vars(
                &name,
                &[
                    ("COUNT", n.to_string()),
                    ("SLEEP_US", "1000".into()),
                    ("LINGER_MS", "300".into()),
                    ("EXIT", exit.into()),
                    ("MARK", mark.as_str().to_string()),
                ],
            ),
        );
        if exit == "hang" {
            wait_for_file(mark.path(), HANG_BOUND);
            std::thread::sleep(Duration::from_millis(500));
            producer.kill();
            let exits = wait_all(vec![producer, consumer], HANG_BOUND);
            assert!(exits[0].status.is_some_and(|s| !s.success()), "{}", exits[0].describe());
            assert!(exits[1].success(), "sender killed: {}", exits[1].describe());
        } else {
            run_all(vec![consumer, producer], HANG_BOUND);
        }
    }
}

/// A sender blocked on a full ring gets Disconnected (not a hang) when the receiver's process
/// goes: it drops its receiver, exits without dropping it, or is killed with SIGKILL.
fn disconnected_wakes_blocked_sender(kind: Kind, wake: WakeBackend, fence: FenceMode) {
    let _serial = serial();
    for exit in ["drop", "die", "hang"] {
        let name = ShmName::new("disc");
        let ring = Ring::create(name.as_str(), &opts(kind, wake, 4).fence(fence)).expect("create");
        let mut tx = ring.sender().expect("sender");
        let mark = TempPath::new("mark");
        let receiver = spawn(
            "disc_receiver",
            &vars(
                &name,
                &[
                    ("MARK", mark.as_str().to_string()),
                    ("LINGER_MS", "300".into()),
                    ("EXIT", exit.into()),
                ],
            ),
        );
        wait_for_file(mark.path(), HANG_BOUND);
        tx.send(b"first").unwrap();
        let killer = std::thread::spawn(move || {
            let mut receiver = receiver;
            if exit == "hang" {
                std::thread::sleep(Duration::from_millis(300));
                receiver.kill();
            }
            wait_all(vec![receiver], HANG_BOUND)
        });
        let mut sent = 1;
        let end = loop {
            // Fill the ring, then block on it until the receiver goes.
            match tx.send_timeout(b"more", Duration::from_secs(60)) {
                Ok(()) => sent += 1,
                Err(e) => break e,
            }
            assert!(sent < 100, "the ring never filled up");
        };
        let exits = killer.join().unwrap();
        // A receiver that exits without dropping, or is killed, died: ReceiverDied, which
        // is a disconnection to code that asks the kind.
        let expected = if exit == "drop" { "Disconnected" } else { "ReceiverDied" };
        assert!(
            format!("{end:?}") == expected && end.kind() == ipcring::ErrorKind::Disconnected,
            "{exit}: blocked send ended with {end:?}, expected {expected}\n{}",
            exits[0].describe()
        );
        if exit == "hang" {
            assert!(exits[0].status.is_some_and(|s| !s.success()), "{}", exits[0].describe());
        } else {
            assert!(exits[0].success(), "{}", exits[0].describe());
        }
        assert!(tx.try_send(b"x").is_err_and(|e| e.is_disconnected()), "try_send after");
        eprintln!("disconnected ({exit}): sent {sent}, sender {:?}", tx.stats());
    }
}

/// `recv_batch` with `max == 0` while messages are waiting: whatever it returns, it must
/// neither hand over more than `max` messages nor sit out the timeout as if the ring were
/// empty (with `Timeout::Forever` that would be a hang with messages in the ring).
#[test]
fn recv_batch_with_max_zero_neither_waits_nor_over_delivers() {
    let _serial = serial();
    let mut failures = Vec::new();
    for kind in [Kind::Spsc, Kind::Mpmc] {
        let (mut tx, mut rx) = ipcring::pair(&opts(kind, WakeBackend::Futex, 4)).expect("pair");
        tx.send(b"a").unwrap();
        tx.send(b"b").unwrap();
        let mut handed = 0;
        let r = rx.recv_batch(0, Timeout::after(Duration::from_secs(2)), |_| handed += 1);
        if handed > 0 || matches!(r, Ok(n) if n > 0) {
            failures.push(format!(
                "{kind:?}: recv_batch(0) handed over {handed} message(s), returned {r:?}"
            ));
        }
        if matches!(r, Err(Error::TimedOut)) {
            failures.push(format!(
                "{kind:?}: recv_batch(0) waited out its timeout with 2 messages waiting"
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// `spin=off` (`RingOptions::spin(false)`): a blocking call that finds the ring empty (a
/// receiver) or full (a sender) sleeps at once and is still woken across processes. The
/// child arms the failpoint `wait.spin` (hit on every round of the spin before the first
/// sleep) to kill it: with `spin=off` it must never fire, and the call must complete when
/// the parent sends (or receives) 100 ms later, after a sleep. The control runs the same
/// child on a ring opened without `spin=off`, where nothing arrives: the failpoint must kill
/// it, so the failpoint does sit in the spin loop that `spin=off` skips.
fn spin_off_sleeps_at_once(kind: Kind, wake: WakeBackend, fence: FenceMode) {
    use ipcring::failpoint::{self, Action};
    let _serial = serial();
    let kind_s = kind_name(kind);
    let fence_s = match fence {
        FenceMode::Asymmetric => "asymmetric",
        FenceMode::Full => "full",
    };
    for side in ["receiver", "sender"] {
        for spin in [false, true] {
            let addr = format!(
                "shm://?mode={kind_s}&wake={}&fence={fence_s}&capacity=2&msg_size={MSG_SIZE}{}",
                wake_name(wake),
                if spin { "" } else { "&spin=off" }
            );
            let what = format!("{side}, {addr}");
            let (tx, rx) = ipcring::pair_at(&addr).unwrap_or_else(|e| panic!("{what}: {e}"));
            let (mut tx, mut rx) = (Some(tx), Some(rx));
            let mut ready = Pipe::new();
            let child = fork("blocked end", || {
                ipcring::timeout::set_park_slice(Duration::from_secs(60));
                let mut buf = [0u8; MSG_SIZE as usize];
                if side == "receiver" {
                    drop(tx.take());
                    let mut rx = rx.take().unwrap();
                    failpoint::arm(failpoint::WAIT_SPIN, Action::Kill, 0).unwrap();
                    ready.write(b"r");
                    let n = rx
                        .recv_with_timeout(&mut buf, Timeout::after(HANG_BOUND))
                        .expect("recv");
                    assert_eq!(decode(&buf[..n], Some(MAX_PAYLOAD)), Ok((0, 0)), "message 0");
                    assert!(rx.stats().parks >= 1, "the receiver got its message without sleeping");
                } else {
                    drop(rx.take());
                    let mut tx = tx.take().unwrap();
                    // Fill the ring, then block on one more.
                    let mut seq = 0;
                    loop {
                        let len = encode(0, seq, MAX_PAYLOAD, &mut buf);
                        match tx.try_send(&buf[..len]) {
                            Ok(()) => seq += 1,
                            Err(Error::WouldBlock) => break,
                            Err(e) => panic!("fill: {e}"),
                        }
                    }
                    failpoint::arm(failpoint::WAIT_SPIN, Action::Kill, 0).unwrap();
                    ready.write(&[seq as u8]);
                    let len = encode(0, seq, MAX_PAYLOAD, &mut buf);
                    tx.send_with_timeout(&buf[..len], Timeout::after(HANG_BOUND))
                        .expect("send");
                    assert!(tx.stats().parks >= 1, "the sender found room without sleeping");
                }
            });
            ready.close_write();
            let mut b = [0u8; 1];
            assert!(
                ready.read_exact(&mut b, HANG_BOUND),
                "{what}: the child never got ready"
            );
            if spin {
                // The control: nothing arrives; the first spin round kills the child.
                let e = child.wait(HANG_BOUND);
                assert!(
                    !e.timed_out && libc::WIFSIGNALED(e.status) && libc::WTERMSIG(e.status) == libc::SIGKILL,
                    "{what}: spinning did not reach the failpoint `wait.spin`: {}",
                    e.describe()
                );
                continue;
            }
            std::thread::sleep(Duration::from_millis(100));
            let mut buf = [0u8; MSG_SIZE as usize];
            if side == "receiver" {
                let len = encode(0, 0, MAX_PAYLOAD, &mut buf);
                tx.as_mut().unwrap().send(&buf[..len]).unwrap();
                drop(tx.take());
                child.expect_success(HANG_BOUND);
            } else {
                drop(tx.take());
                // Make room: the child's blocked send then completes. Every message, the
                // blocked one last, arrives whole and in order.
                let rx = rx.as_mut().unwrap();
                let filled = u64::from(b[0]);
                for seq in 0..=filled {
                    let n = rx
                        .recv_with_timeout(&mut buf, Timeout::after(HANG_BOUND))
                        .unwrap_or_else(|e| panic!("{what}: message {seq}: {e}"));
                    assert_eq!(
                        decode(&buf[..n], Some(MAX_PAYLOAD)),
                        Ok((0, seq)),
                        "{what}: message {seq}"
                    );
                }
                child.expect_success(HANG_BOUND);
            }
        }
    }
}

macro_rules! for_each_combo {
    ($($test:ident),* $(,)?) => {
        $(
            mod $test {
                use super::*;
                #[test]
                fn spsc_futex() {
                    super::$test(Kind::Spsc, WakeBackend::Futex, FenceMode::Asymmetric)
                }
                #[test]
                fn spsc_sem() {
                    super::$test(Kind::Spsc, WakeBackend::Sem, FenceMode::Asymmetric)
                }
                #[test]
                fn mpmc_futex() {
                    super::$test(Kind::Mpmc, WakeBackend::Futex, FenceMode::Asymmetric)
                }
                #[test]
                fn mpmc_sem() {
                    super::$test(Kind::Mpmc, WakeBackend::Sem, FenceMode::Asymmetric)
                }
                #[test]
                fn spsc_futex_full() {
                    super::$test(Kind::Spsc, WakeBackend::Futex, FenceMode::Full)
                }
                #[test]
                fn mpmc_futex_full() {
                    super::$test(Kind::Mpmc, WakeBackend::Futex, FenceMode::Full)
                }
            }
        )*
    };
}

for_each_combo!(
    slow_producer_consumer_parks,
    slow_consumer_producer_parks,
    park_wake_rounds,
    timeouts,
    cross_process_wake,
    end_of_stream_wakes_blocked_receiver,
    disconnected_wakes_blocked_sender,
    spin_off_sleeps_at_once,
);
