//! `nats://` over a real `nats-server` (tests/common/nats.rs starts one per test on a free
//! loopback port with JetStream in a temporary directory): round trip with end of stream,
//! competing receivers in separate processes (every message exactly once between them, each
//! got some), a receiver SIGKILLed while holding an unacknowledged message (redelivered to the
//! other), a sender SIGKILLed (`SenderDied`), a server restart while both ends are mid-stream
//! with a backlog stored (file storage: nothing lost; a duplicate across the restart is
//! possible, as the README says, and counted), a remove without force refused while a
//! receiver process or a sender is attached, and the errors (bad addresses, oversized
//! messages, no server, no channel, mismatches).
#![cfg(feature = "nats")]

mod common;

use common::nats::NatsServer;
use common::*;
use ipcring::{Create, Error, Receiver, Sender, Timeout};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

const MAXP: usize = 200;
const MSG: usize = MAXP + OVERHEAD;

#[test]
fn child_entry() {
    common::child_entry(|role| {
        let addr = std::env::var("ADDR").unwrap();
        match role {
            "record" => {
                let out = std::env::var("OUT").unwrap();
                let n: u64 = std::env::var("N").unwrap().parse().unwrap();
                let mut rx = Receiver::open(&addr, Create::No).unwrap();
                touch(&format!("{out}.ready"));
                let mut rec = FifoRecorder::new(&out, 1, n, Some(MAXP));
                let mut buf = vec![0u8; MSG];
                loop {
                    match rx.recv(&mut buf) {
                        Ok(len) => rec.check_or_panic(&buf[..len]),
                        Err(Error::EndOfStream) => break,
                        Err(e) => panic!("recv: {e}"),
                    }
                }
                rec.finish();
            }
            "hold" => {
                // Peeks one message, says which, and never releases it.
                let mut rx = Receiver::open(&addr, Create::No).unwrap();
                let slot = rx.peek(Timeout::Forever).unwrap();
                let (p, seq) = decode(&slot, Some(MAXP)).unwrap();
                assert_eq!(p, 0);
                std::fs::write(std::env::var("OUT").unwrap(), seq.to_string()).unwrap();
                std::thread::sleep(Duration::from_secs(3600));
            }
            "wait" => {
                // A receiver that waits for messages (none come) until it is killed.
                let mut rx = Receiver::open(&addr, Create::No).unwrap();
                touch(&std::env::var("OUT").unwrap());
                let mut buf = vec![0u8; MSG];
                let r = rx.recv(&mut buf);
                panic!("recv returned {r:?}");
            }
            "send_then_hang" => {
                let n: u64 = std::env::var("N").unwrap().parse().unwrap();
                let mut tx = Sender::open(&addr, Create::No).unwrap();
                for seq in 0..n {
                    tx.send(&encode_vec(0, seq, MAXP)).unwrap();
                }
                touch(&std::env::var("OUT").unwrap());
                std::thread::sleep(Duration::from_secs(3600));
            }
            _ => panic!("unknown role {role}"),
        }
    });
}

fn name(tag: &str) -> String {
    format!("t{}_{tag}", std::process::id())
}

#[test]
fn round_trip_then_end_of_stream() {
    let _g = serial();
    let srv = NatsServer::start();
    let addr = srv.addr(&name("rt"), &format!("msg_size={MSG}"));
    let mut rx = Receiver::open(&addr, Create::IfMissing).unwrap();
    assert_eq!(rx.max_msg_size(), MSG);
    // Nothing yet, and no sender yet: a receive waits (no end of stream before a sender came).
    assert!(matches!(
        rx.recv_vec_with_timeout(Timeout::after(Duration::from_millis(1500))),
        Err(Error::TimedOut)
    ));
    let mut tx = Sender::open(&addr, Create::No).unwrap();
    for seq in 0..2000 {
        tx.send(&encode_vec(0, seq, MAXP)).unwrap();
    }
    drop(tx);
    let mut check = SeqChecker::new(1, Some(MAXP));
    let mut buf = vec![0u8; MSG];
    loop {
        match rx.recv(&mut buf) {
            Ok(n) => check.check_or_panic(&buf[..n]),
            Err(Error::EndOfStream) => break,
            Err(e) => panic!("recv: {e}"),
        }
    }
    check.assert_complete(2000);
    // A later sender makes data flow again.
    let mut tx = Sender::open(&addr, Create::No).unwrap();
    tx.send(b"again").unwrap();
    assert_eq!(rx.recv_vec().unwrap(), b"again");
    drop(tx);
    assert!(matches!(rx.recv_vec(), Err(Error::EndOfStream)));
    ipcring::unlink(&addr).unwrap();
}

#[test]
fn peek_holds_until_release_and_buffer_too_small_keeps() {
    let _g = serial();
    let srv = NatsServer::start();
    let addr = srv.addr(&name("peek"), "msg_size=64");
    let mut rx = Receiver::open(&addr, Create::IfMissing).unwrap();
    let mut tx = Sender::open(&addr, Create::No).unwrap();
    tx.send(b"first message").unwrap();
    tx.send(b"second").unwrap();
    let mut small = [0u8; 4];
    assert!(matches!(
        rx.recv(&mut small),
        Err(Error::BufferTooSmall { needed: 13, .. })
    ));
    {
        let slot = rx.peek(Timeout::Forever).unwrap();
        assert_eq!(&*slot, b"first message");
        // dropped without release: kept for the next receive
    }
    assert_eq!(rx.recv_vec().unwrap(), b"first message");
    let slot = rx.peek(Timeout::Forever).unwrap();
    assert_eq!(&*slot, b"second");
    slot.release();
    assert!(matches!(rx.try_recv_vec(), Err(Error::WouldBlock)));
}

#[test]
fn competing_receivers_get_every_message_once() {
    let _g = serial();
    let srv = NatsServer::start();
    let addr = srv.addr(&name("compete"), &format!("msg_size={MSG}"));
    let n: u64 = 20_000;
    drop(Receiver::open(&addr, Create::IfMissing).unwrap());
    let files = [TempPath::new("nats-rec-a"), TempPath::new("nats-rec-b")];
    let kids: Vec<_> = files
        .iter()
        .map(|f| {
            spawn(
                "record",
                &[
                    ("ADDR", addr.clone()),
                    ("OUT", f.as_str().to_string()),
                    ("N", n.to_string()),
                ],
            )
        })
        .collect();
    for f in &files {
        wait_for_file(std::path::Path::new(&format!("{}.ready", f.as_str())), HANG_BOUND);
    }
    let mut tx = Sender::open(&addr, Create::No).unwrap();
    for seq in 0..n {
        tx.send(&encode_vec(0, seq, MAXP)).unwrap();
    }
    drop(tx);
    for e in wait_all(kids, HANG_BOUND) {
        assert!(e.success(), "{}", e.describe());
    }
    let got = verify_records(&[files[0].path(), files[1].path()], 1, n);
    eprintln!("competing receivers: {got:?} of {n}");
    assert_eq!(got.iter().sum::<u64>(), n);
    // Both took part: each got some of the stream (20,000 messages, both fetching from the
    // start), so the once-only check above was a check of two competitors.
    assert!(got.iter().all(|&g| g > 0), "a receiver got nothing: {got:?}");
    for f in &files {
        let _ = std::fs::remove_file(format!("{}.ready", f.as_str()));
    }
}

#[test]
fn receiver_killed_holding_a_message_it_is_redelivered() {
    let _g = serial();
    let srv = NatsServer::start();
    let addr = srv.addr(&name("held"), &format!("msg_size={MSG}&ack_wait=2"));
    let mut rx = Receiver::open(&addr, Create::IfMissing).unwrap();
    let mut tx = Sender::open(&addr, Create::No).unwrap();
    let n = 50;
    for seq in 0..n {
        tx.send(&encode_vec(0, seq, MAXP)).unwrap();
    }
    drop(tx);
    let flag = TempPath::new("nats-held");
    let mut holder = spawn("hold", &[("ADDR", addr.clone()), ("OUT", flag.as_str().to_string())]);
    wait_for_file(flag.path(), HANG_BOUND);
    holder.kill();
    let _ = wait_all(vec![holder], HANG_BOUND);
    let held: u64 = std::fs::read_to_string(flag.path()).unwrap().trim().parse().unwrap();
    // Every message reaches us exactly once, the held one after the ack wait.
    let mut seen = vec![0u32; n as usize];
    let mut buf = vec![0u8; MSG];
    let t0 = Instant::now();
    loop {
        match rx.recv(&mut buf) {
            Ok(len) => {
                let (_, seq) = decode(&buf[..len], Some(MAXP)).unwrap();
                seen[seq as usize] += 1;
            }
            Err(Error::EndOfStream) => break,
            Err(e) => panic!("recv: {e}"),
        }
        assert!(t0.elapsed() < HANG_BOUND, "hung");
    }
    assert!(seen.iter().all(|&c| c == 1), "counts {seen:?}");
    eprintln!(
        "message {held} held by the killed receiver came back after {:?}",
        t0.elapsed()
    );
}

#[test]
fn sender_killed_is_sender_died() {
    let _g = serial();
    let srv = NatsServer::start();
    let addr = srv.addr(&name("died"), &format!("msg_size={MSG}"));
    let mut rx = Receiver::open(&addr, Create::IfMissing).unwrap();
    let flag = TempPath::new("nats-died");
    let mut kid = spawn(
        "send_then_hang",
        &[
            ("ADDR", addr.clone()),
            ("OUT", flag.as_str().to_string()),
            ("N", "10".into()),
        ],
    );
    wait_for_file(flag.path(), HANG_BOUND);
    let mut check = SeqChecker::new(1, Some(MAXP));
    let mut buf = vec![0u8; MSG];
    for _ in 0..10 {
        let n = rx.recv(&mut buf).unwrap();
        check.check_or_panic(&buf[..n]);
    }
    // Alive: no end.
    assert!(matches!(
        rx.recv_timeout(&mut buf, Duration::from_secs(2)),
        Err(Error::TimedOut)
    ));
    kid.kill();
    let _ = wait_all(vec![kid], HANG_BOUND);
    assert!(matches!(rx.recv_timeout(&mut buf, HANG_BOUND), Err(Error::SenderDied)));
}

#[test]
fn server_restart_mid_stream_loses_nothing() {
    let _g = serial();
    let mut srv = NatsServer::start();
    let addr = srv.addr(&name("restart"), &format!("msg_size={MSG}&ack_wait=2"));
    let mut rx = Receiver::open(&addr, Create::IfMissing).unwrap();
    let n: u64 = 20_000;
    let sent = AtomicU64::new(0);
    let received = AtomicU64::new(0);
    let restarted = AtomicBool::new(false);
    // Messages in flight at the restart come again after ack_wait, so out of order: each
    // must arrive at least once.
    let mut seen = vec![0u32; n as usize];
    let mut at_stop = (0, 0);
    std::thread::scope(|s| {
        s.spawn(|| {
            let mut tx = Sender::open(&addr, Create::No).unwrap();
            for seq in 0..n {
                tx.send(&encode_vec(0, seq, MAXP)).unwrap();
                sent.fetch_add(1, Ordering::SeqCst);
            }
        });
        // The restart, while both ends are mid-stream: the sender has a quarter stored, the
        // receiver (slowed to at most 1,000 msg/s until then, so the stream holds a backlog
        // the file store must keep) has taken at least a twentieth.
        let restarter = s.spawn(|| {
            let t0 = Instant::now();
            while sent.load(Ordering::SeqCst) < n / 4 || received.load(Ordering::SeqCst) < n / 20 {
                assert!(t0.elapsed() < HANG_BOUND, "the stream never got under way");
                std::thread::sleep(Duration::from_millis(1));
            }
            let stop = (sent.load(Ordering::SeqCst), received.load(Ordering::SeqCst));
            srv.restart();
            restarted.store(true, Ordering::SeqCst);
            stop
        });
        let mut buf = vec![0u8; MSG];
        loop {
            match rx.recv_timeout(&mut buf, HANG_BOUND) {
                Ok(len) => {
                    let (_, seq) = decode(&buf[..len], Some(MAXP)).unwrap();
                    seen[seq as usize] += 1;
                    received.fetch_add(1, Ordering::SeqCst);
                }
                Err(Error::EndOfStream) => break,
                Err(e) => panic!("recv after {}: {e}", received.load(Ordering::SeqCst)),
            }
            if !restarted.load(Ordering::SeqCst) {
                std::thread::sleep(Duration::from_millis(1));
            }
        }
        at_stop = restarter.join().unwrap();
    });
    let (sent_at_stop, received_at_stop) = at_stop;
    assert!(
        sent_at_stop < n && received_at_stop < n,
        "the restart came after the stream (sent {sent_at_stop}, received {received_at_stop} of {n})"
    );
    // Nothing lost. Duplicates are possible across a restart (README, nats:// column): a
    // message stored just before the server stopped, whose publish acknowledgement the sender
    // never got, is published again (the restarted server rebuilds its de-duplication window
    // from the messages it still holds); and messages the receiver delivered and acknowledged
    // around the stop whose acknowledgements the restarted server does not have come again.
    // Measured: about 11 per run, the receiver's next ones after the stop (so receiver-side).
    let lost: Vec<_> = seen
        .iter()
        .enumerate()
        .filter(|(_, &c)| c == 0)
        .map(|(s, _)| s)
        .collect();
    assert!(
        lost.is_empty(),
        "lost across the restart: {} (first {:?})",
        lost.len(),
        &lost[..lost.len().min(20)]
    );
    let twice: Vec<_> = seen
        .iter()
        .enumerate()
        .filter(|(_, &c)| c > 1)
        .map(|(s, _)| s)
        .collect();
    // The consumer's acknowledgements survived the restart (file storage): what comes again
    // is a few in flight around the stop, not the stream the receiver had already taken.
    assert!(
        (twice.len() as u64) < received_at_stop / 2,
        "{} of the {received_at_stop} messages received before the restart came again: {:?}",
        twice.len(),
        &twice[..twice.len().min(20)]
    );
    eprintln!(
        "server restarted with {sent_at_stop} of {n} stored and {received_at_stop} received (a backlog of {}): \
         none lost, {} delivered twice {:?}",
        sent_at_stop - received_at_stop,
        twice.len(),
        &twice[..twice.len().min(20)]
    );
}

#[test]
fn errors_are_clear() {
    let _g = serial();
    let srv = NatsServer::start();
    let part = |a: &str| match Receiver::open(a, Create::IfMissing) {
        Err(Error::InvalidAddress { part, .. }) => part,
        other => panic!("{a}: {other:?}"),
    };
    assert_eq!(part("nats://127.0.0.1:4222"), "127.0.0.1:4222");
    assert_eq!(part("nats://127.0.0.1/x"), "127.0.0.1");
    assert_eq!(part("nats://127.0.0.1:4222/a.b"), "a.b");
    assert_eq!(part("nats://127.0.0.1:4222/x?mode=mpmc"), "mode");
    assert_eq!(part("nats://127.0.0.1:4222/x?ack_wait=0"), "ack_wait=0");
    assert_eq!(part("shm://x?ack_wait=5"), "ack_wait=5");
    // No server there.
    let down = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    match Sender::open(&format!("nats://127.0.0.1:{down}/x"), Create::IfMissing) {
        Err(e @ Error::Io { .. }) => assert!(e.to_string().contains("NATS server"), "{e}"),
        other => panic!("server down: {other:?}"),
    }
    // No such channel.
    let missing = srv.addr(&name("missing"), "");
    assert!(matches!(
        Sender::open(&missing, Create::No),
        Err(Error::NotFound { .. })
    ));
    // Exclusive on an existing one; a mismatched msg_size.
    let addr = srv.addr(&name("err"), "msg_size=32");
    let mut tx = Sender::open(&addr, Create::Exclusive).unwrap();
    assert!(matches!(
        Sender::open(&addr, Create::Exclusive),
        Err(Error::AlreadyExists { .. })
    ));
    let other = srv.addr(&name("err"), "msg_size=64");
    assert!(matches!(
        Receiver::open(&other, Create::No),
        Err(Error::Mismatch { field: "msg_size", .. })
    ));
    // Oversized: refused before anything is sent.
    assert!(matches!(tx.send(&[0u8; 33]), Err(Error::TooLarge { len: 33, max: 32 })));
    tx.send(&[7u8; 32]).unwrap();
    let mut rx = Receiver::open(&addr, Create::No).unwrap();
    assert_eq!(rx.recv_vec().unwrap(), vec![7u8; 32]);
}

#[test]
fn full_stream_blocks_the_sender() {
    let _g = serial();
    let srv = NatsServer::start();
    let addr = srv.addr(&name("full"), "msg_size=16&capacity=3");
    let mut tx = Sender::open(&addr, Create::IfMissing).unwrap();
    for i in 0..3u8 {
        tx.send(&[i]).unwrap();
    }
    assert!(matches!(tx.try_send(b"x"), Err(Error::WouldBlock)));
    assert!(matches!(
        tx.send_timeout(b"x", Duration::from_millis(300)),
        Err(Error::TimedOut)
    ));
    let mut rx = Receiver::open(&addr, Create::No).unwrap();
    assert_eq!(rx.recv_vec().unwrap(), [0]);
    // Room again once the message is acknowledged (the ack is asynchronous: wait a little).
    tx.send_timeout(b"y", HANG_BOUND).unwrap();
}

#[test]
fn remove_without_force_refuses_while_an_end_is_attached() {
    let _g = serial();
    let srv = NatsServer::start();
    let addr = srv.addr(&name("inuse"), &format!("msg_size={MSG}"));
    // Made, nobody attached: a remove without force goes through.
    drop(Sender::open(&addr, Create::IfMissing).unwrap());
    ipcring::remove(&addr, false).unwrap();
    assert!(matches!(ipcring::remove(&addr, false), Err(Error::NotFound { .. })));
    // A receiver in another process, waiting for messages.
    drop(Sender::open(&addr, Create::IfMissing).unwrap());
    let flag = TempPath::new("nats-inuse");
    let mut waiter = spawn("wait", &[("ADDR", addr.clone()), ("OUT", flag.as_str().to_string())]);
    wait_for_file(flag.path(), HANG_BOUND);
    for _ in 0..3 {
        match ipcring::remove(&addr, false) {
            Err(Error::InUse { endpoints, .. }) => assert!(endpoints >= 1),
            r => panic!("remove with a live receiver: {r:?}"),
        }
    }
    // Nothing was removed: a sender still reaches that receiver's channel.
    let mut tx = Sender::open(&addr, Create::No).unwrap();
    drop(tx.try_clone().unwrap());
    // A live sender alone keeps it in use too, once the receiver is gone.
    waiter.kill();
    let _ = wait_all(vec![waiter], HANG_BOUND);
    match ipcring::remove(&addr, false) {
        Err(Error::InUse { endpoints, .. }) => assert!(endpoints >= 1),
        r => panic!("remove with a live sender: {r:?}"),
    }
    tx.send(&encode_vec(0, 0, MAXP)).unwrap();
    drop(tx);
    // The message sent is still there: the receiver died before it came, so nothing holds
    // it, and the channel is free; the dead receiver's last pull request expires first.
    let t0 = Instant::now();
    loop {
        match ipcring::remove(&addr, false) {
            Ok(()) => break,
            Err(Error::InUse { .. }) => assert!(t0.elapsed() < HANG_BOUND, "still in use"),
            Err(e) => panic!("remove: {e}"),
        }
    }
    // --force removes whatever is attached.
    let _rx = Receiver::open(&addr, Create::IfMissing).unwrap();
    ipcring::remove(&addr, true).unwrap();
}
