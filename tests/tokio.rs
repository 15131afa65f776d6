//! `ipcring::tokio` (feature `tokio`) between real processes:
//!
//! - cancel safety: a child sends checked messages through an `AsyncSender` whose `send()`
//!   futures race a short random timer in `tokio::select!` (every lost race drops a send
//!   future), while the parent receives through an `AsyncReceiver` whose `recv()` futures race
//!   a timer the same way; every message must arrive exactly once, in order, and the drops
//!   are counted and printed;
//! - a service: one `select!` loop over a TCP listener (and the connection it accepts) and
//!   four channels of different transports, while a child sends on all of them with pauses;
//! - the system calls per message of an async receiver on a busy channel (`Stats::syscalls`),
//!   printed.

#![cfg(feature = "tokio")]

mod common;

use common::chan::{Chan, T};
use common::*;
use futures_core::Stream;
use ipcring::tokio::{AsyncReceiver, AsyncSender};
use ipcring::Error;
use std::pin::Pin;
use std::time::Duration;
use tokio::io::AsyncReadExt;

const BOUND: Duration = Duration::from_secs(120);

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn max_payload(ch: &Chan) -> usize {
    let _ = ch;
    256 - OVERHEAD
}

/// A short random timer for the losing side of a `select!`: one to three yields to the
/// scheduler (so it fires at once whenever the other branch has to wait), or (one time in 16)
/// a sleep of up to 1.5 ms (tokio's timer rounds it up to its millisecond tick).
fn short(r: &mut rng::Rng) -> impl std::future::Future<Output = ()> {
    let (yields, sleep) = match r.below(16) {
        0 => (0, Some(Duration::from_micros(r.below(1500)))),
        k => (1 + k % 3, None),
    };
    async move {
        match sleep {
            Some(d) => tokio::time::sleep(d).await,
            None => {
                for _ in 0..yields {
                    tokio::task::yield_now().await;
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// (a) cancel safety
// ---------------------------------------------------------------------------------------

fn cancel_safety(t: T) {
    let _g = serial();
    let n = env_u64("IPCRING_TOKIO_MESSAGES", 20_000);
    let ch = Chan::sized(t, "tok-cancel", 256, 16);
    let (rx, mut inh) = ch.receiver();
    let report = Pipe::new();
    let inh_ref = &mut inh;
    let child = fork("async sender", || {
        let tx = ch.sender(inh_ref.take());
        let drops = runtime().block_on(async {
            let mut tx = AsyncSender::new(tx).unwrap();
            let mut r = rng::Rng::new(0xca7, 1);
            let mut drops = 0u64;
            let mut seq = 0;
            while seq < n {
                let m = encode_vec(0, seq, max_payload(&ch));
                tokio::select! {
                    res = tx.send(&m) => {
                        res.unwrap_or_else(|e| panic!("send #{seq}: {e}"));
                        seq += 1;
                    }
                    _ = short(&mut r) => drops += 1,
                }
                // Pauses now and then, so the receiver waits too.
                if r.chance(64) {
                    tokio::time::sleep(Duration::from_micros(r.below(1500))).await;
                }
            }
            drops
        });
        report.write(&drops.to_le_bytes());
    });
    drop(inh.take());
    let (got, drops) = runtime().block_on(async {
        let mut rx = AsyncReceiver::new(rx).unwrap();
        let mut r = rng::Rng::new(0xca7, 2);
        let mut checker = SeqChecker::new(1, Some(max_payload(&ch)));
        let mut buf = vec![0u8; 256];
        let mut drops = 0u64;
        loop {
            tokio::select! {
                res = rx.recv(&mut buf) => match res {
                    Ok(len) => {
                        checker.check_or_panic(&buf[..len]);
                        // Now and then the receiver dawdles, so the sender meets a full
                        // channel and its send futures are dropped while waiting for room.
                        if r.chance(64) {
                            tokio::time::sleep(Duration::from_micros(r.below(1500))).await;
                        }
                    }
                    Err(Error::EndOfStream) => break,
                    Err(e) => panic!("recv after {} messages: {e}", checker.count),
                },
                _ = short(&mut r) => drops += 1,
            }
        }
        checker.assert_complete(n);
        (checker.count, drops)
    });
    let mut b = [0u8; 8];
    assert!(report.read_exact(&mut b, BOUND), "the sender did not report");
    let send_drops = u64::from_le_bytes(b);
    child.expect_success(BOUND);
    eprintln!("{t:?}: {got} messages exactly once and in order; dropped futures: {drops} recv(), {send_drops} send()");
    assert!(drops + send_drops > 0, "no future was dropped: the test tested nothing");
}

// ---------------------------------------------------------------------------------------
// (c) system calls per message of a busy async receiver
// ---------------------------------------------------------------------------------------

fn busy_syscalls(t: T) {
    let _g = serial();
    let n = env_u64("IPCRING_TOKIO_BUSY", 100_000);
    let ch = Chan::sized(t, "tok-busy", 64, 4096);
    let (rx, mut inh) = ch.receiver();
    let inh_ref = &mut inh;
    let child = fork("sender", || {
        let mut tx = ch.sender(inh_ref.take());
        for seq in 0..n {
            tx.send(&encode_vec(0, seq, 64 - OVERHEAD)).unwrap();
        }
    });
    drop(inh.take());
    let stats = runtime().block_on(async {
        let mut rx = AsyncReceiver::new(rx).unwrap();
        let mut checker = SeqChecker::new(1, Some(64 - OVERHEAD));
        let mut buf = [0u8; 64];
        loop {
            match rx.recv(&mut buf).await {
                Ok(len) => checker.check_or_panic(&buf[..len]),
                Err(Error::EndOfStream) => break,
                Err(e) => panic!("{e}"),
            }
        }
        checker.assert_complete(n);
        rx.get_ref().stats()
    });
    child.expect_success(BOUND);
    eprintln!(
        "{t:?}: async receiver, {} messages, {} system calls: {:.3} per message",
        stats.messages,
        stats.syscalls,
        stats.syscalls as f64 / stats.messages.max(1) as f64
    );
}

macro_rules! per_transport {
    ($($name:ident => $t:expr;)*) => {$(
        mod $name {
            use super::*;
            #[test]
            fn cancel_safe() {
                cancel_safety($t);
            }
            #[test]
            fn busy_receiver_syscalls() {
                busy_syscalls($t);
            }
        }
    )*};
}

per_transport! {
    pipe => T::Pipe;
    fifo => T::Fifo;
    mq => T::Mq;
    unix => T::Unix;
    tcp => T::Tcp;
    shm_spsc => T::ShmSpsc;
    shm_mpmc => T::ShmMpmc;
}

// ---------------------------------------------------------------------------------------
// (b) a service: a TCP listener and four channels in one select! loop
// ---------------------------------------------------------------------------------------

fn service(kinds: [T; 4]) {
    let _g = serial();
    let per = env_u64("IPCRING_TOKIO_SERVICE", 2_000);
    let chans: Vec<Chan> = kinds.iter().map(|&t| Chan::sized(t, "tok-svc", 256, 16)).collect();
    let mut ends: Vec<_> = chans.iter().map(|c| c.receiver()).collect();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    let ends_ref = &mut ends;
    let child = fork("service client", || {
        let mut txs: Vec<_> = chans
            .iter()
            .zip(ends_ref.iter_mut())
            .map(|(c, (_, inh))| c.sender(inh.take()))
            .collect();
        let mut sock = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        let mut r = rng::Rng::new(0x5e7, 3);
        for seq in 0..per {
            for (p, tx) in txs.iter_mut().enumerate() {
                tx.send(&encode_vec(p as u32, seq, 256 - OVERHEAD)).unwrap();
            }
            if seq % 100 == 0 {
                use std::io::Write;
                sock.write_all(&seq.to_le_bytes()).unwrap();
            }
            if r.chance(40) {
                std::thread::sleep(Duration::from_micros(r.below(2000)));
            }
        }
    });
    let rxs: Vec<_> = ends
        .into_iter()
        .map(|(rx, tx)| {
            drop(tx);
            rx
        })
        .collect();
    runtime().block_on(async move {
        let listener = tokio::net::TcpListener::from_std(listener).unwrap();
        let mut rxs: Vec<AsyncReceiver> = rxs.into_iter().map(|rx| AsyncReceiver::new(rx).unwrap()).collect();
        let mut checker = SeqChecker::new(4, Some(256 - OVERHEAD));
        let mut done = [false; 4];
        let mut conn: Option<tokio::net::TcpStream> = None;
        let (mut ticks, mut tcp_bytes, mut tcp_done) = (0u64, 0usize, false);
        let mut bufs = vec![vec![0u8; 256]; 4];
        let mut tcp_buf = [0u8; 64];
        let [r0, r1, r2, r3] = &mut rxs[..] else { unreachable!() };
        let [b0, b1, b2, b3] = &mut bufs[..] else { unreachable!() };
        let deadline = tokio::time::sleep(BOUND);
        tokio::pin!(deadline);
        let mut interval = tokio::time::interval(Duration::from_millis(5));
        while !(done.iter().all(|&d| d) && tcp_done) {
            let which;
            let res;
            tokio::select! {
                a = listener.accept(), if conn.is_none() && !tcp_done => {
                    conn = Some(a.unwrap().0);
                    continue;
                }
                n = async { conn.as_mut().unwrap().read(&mut tcp_buf).await }, if conn.is_some() => {
                    match n.unwrap() {
                        0 => { conn = None; tcp_done = true; }
                        k => tcp_bytes += k,
                    }
                    continue;
                }
                r = r0.recv(b0), if !done[0] => { which = 0; res = r; }
                r = r1.recv(b1), if !done[1] => { which = 1; res = r; }
                r = r2.recv(b2), if !done[2] => { which = 2; res = r; }
                r = r3.recv(b3), if !done[3] => { which = 3; res = r; }
                _ = interval.tick() => { ticks += 1; continue; }
                _ = &mut deadline => panic!("the service loop hung: done {done:?}, tcp {tcp_done}, {} messages", checker.count),
            }
            match res {
                Ok(len) => checker.check_or_panic(&[&*b0, &*b1, &*b2, &*b3][which][..len]),
                Err(Error::EndOfStream) => done[which] = true,
                Err(e) => panic!("channel {which} ({:?}): {e}", kinds[which]),
            }
        }
        checker.assert_complete(per);
        assert_eq!(tcp_bytes, (per.div_ceil(100) * 8) as usize, "TCP bytes");
        eprintln!(
            "service {kinds:?}: {} checked messages on four channels, {tcp_bytes} TCP bytes, {ticks} timer ticks, one select! loop",
            checker.count
        );
    });
    child.expect_success(BOUND);
}

#[test]
fn service_tcp_listener_and_four_fallbacks() {
    service([T::Pipe, T::Fifo, T::Mq, T::Unix]);
}

#[test]
fn service_tcp_listener_and_four_rings_and_fallbacks() {
    service([T::ShmSpsc, T::ShmMpmc, T::Unix, T::Mq]);
}

// ---------------------------------------------------------------------------------------
// The Stream, and errors
// ---------------------------------------------------------------------------------------

/// The next item of a stream (what `StreamExt::next` does), without futures-util.
async fn next<S: Stream + Unpin>(s: &mut S) -> Option<S::Item> {
    std::future::poll_fn(|cx| Pin::new(&mut *s).poll_next(cx)).await
}

#[test]
fn stream_ends_at_end_of_stream() {
    let _g = serial();
    let ch = Chan::sized(T::Unix, "tok-stream", 256, 16);
    let (rx, _) = ch.receiver();
    let n = 500;
    let child = fork("sender", || {
        let mut tx = ch.sender(None);
        for seq in 0..n {
            tx.send(&encode_vec(0, seq, 256 - OVERHEAD)).unwrap();
        }
    });
    runtime().block_on(async {
        let mut rx = AsyncReceiver::new(rx).unwrap();
        let mut checker = SeqChecker::new(1, Some(256 - OVERHEAD));
        while let Some(m) = next(&mut rx).await {
            checker.check_or_panic(&m.unwrap());
        }
        checker.assert_complete(n);
        assert!(next(&mut rx).await.is_none(), "the stream stays ended");
        let rx = rx.into_inner();
        assert!(matches!(rx.queued(), None | Some(0)));
    });
    child.expect_success(BOUND);
}

#[test]
fn outside_a_runtime_is_an_error() {
    let (tx, rx) = ipcring::pair_at("pipe://?msg_size=64").unwrap();
    assert!(matches!(AsyncSender::new(tx), Err(Error::Unsupported { .. })));
    assert!(matches!(AsyncReceiver::new(rx), Err(Error::Unsupported { .. })));
}

#[test]
fn disconnected_and_too_large() {
    let _g = serial();
    runtime().block_on(async {
        let (tx, rx) = ipcring::pair_at("pipe://?msg_size=64").unwrap();
        let mut tx = AsyncSender::new(tx).unwrap();
        assert!(matches!(tx.send(&[0u8; 65]).await, Err(Error::TooLarge { .. })));
        drop(rx);
        let r = tokio::time::timeout(BOUND, tx.send(b"x")).await.expect("hung");
        assert!(matches!(r, Err(Error::Disconnected)), "{r:?}");
    });
}
