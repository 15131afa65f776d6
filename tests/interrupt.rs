//! Interrupting a blocked call (`Interrupter`, C `ipcring_interrupt`), on every transport,
//! with real threads and processes: a receiver blocked on an empty channel (whose sender then
//! runs in a child process) and a sender blocked on a full one are woken from another thread and return `Interrupted`, with nothing lost or
//! duplicated (every message's sequence number and checksum checked); an interrupt with no
//! call blocked is taken by the next call that has to wait, exactly once; a call that finds
//! work is not affected.

mod common;

use common::chan::{Chan, T};
use common::msg::{check_msg, sized_msg};
use common::{fork, serial};
use ipcring::{Error, ErrorKind, Receiver, Sender, Timeout};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

const MSG_SIZE: usize = 256;
/// A hang bound, never a latency target.
const HANG: Duration = Duration::from_secs(5);
/// How long the main thread lets the other one settle into its wait before interrupting.
const SETTLE: Duration = Duration::from_millis(100);

/// Runs `f` on a thread and returns its result, failing the test if it takes longer than
/// the hang bound after `after` has run.
fn on_thread<R: Send + 'static>(f: impl FnOnce() -> R + Send + 'static, after: impl FnOnce()) -> R {
    let (done_tx, done_rx) = mpsc::channel();
    let h = thread::spawn(move || {
        let r = f();
        let _ = done_tx.send(());
        r
    });
    thread::sleep(SETTLE);
    after();
    done_rx
        .recv_timeout(HANG)
        .expect("the blocked call did not return within the hang bound");
    h.join().expect("thread panicked")
}

fn open(t: T, tag: &str) -> (Chan, Sender, Receiver) {
    let ch = Chan::sized(t, tag, MSG_SIZE, 8);
    let (rx, tx) = ch.receiver();
    let tx = ch.sender(tx);
    (ch, tx, rx)
}

/// Receives `from..to` in order, each checked.
fn expect_msgs(rx: &mut Receiver, from: u64, to: u64) {
    for seq in from..to {
        let got = rx
            .recv_vec_with_timeout(Timeout::after(HANG))
            .unwrap_or_else(|e| panic!("recv #{seq}: {e}"));
        check_msg(seq, &got, MSG_SIZE);
    }
}

fn interrupt_blocked_recv(t: T) {
    let _s = serial();
    // The receiver here; the sender, after the interrupt, in a child process.
    let ch = Chan::sized(t, "intr-recv", MSG_SIZE, 8);
    let (rx, inherited) = ch.receiver();
    let stop = rx.interrupter().expect("interrupter");
    let stop2 = stop.clone();
    let (r, mut rx) = on_thread(
        move || {
            let mut rx = rx;
            let r = rx.recv_vec_with_timeout(Timeout::Forever);
            (r, rx)
        },
        move || stop2.interrupt(),
    );
    assert!(matches!(r, Err(Error::Interrupted)), "{r:?}");
    assert_eq!(r.unwrap_err().kind(), ErrorKind::Interrupted);
    // The token was taken: the messages a child process sends now all arrive, checked, then
    // end of stream.
    let n = 40u64;
    let inherited = std::cell::RefCell::new(inherited);
    let child = fork("sender", || {
        let mut tx = ch.sender(inherited.borrow_mut().take());
        for seq in 0..n {
            tx.send_with_timeout(&sized_msg(seq, MSG_SIZE), Timeout::after(HANG))
                .expect("send");
        }
    });
    drop(inherited.borrow_mut().take());
    expect_msgs(&mut rx, 0, n);
    child.expect_success(HANG * 6);
    let end = rx.recv_vec_with_timeout(Timeout::after(HANG));
    assert!(matches!(end, Err(Error::EndOfStream)), "{end:?}");
    // Where a new sender brings the receiver out of end of stream at once (an attached but
    // silent sender: the ring, mq; a socket sender connects only at its first send), a
    // second interrupt of the same receiver, blocked again, works too.
    if matches!(t, T::ShmSpsc | T::ShmMpmc | T::Mq) {
        let _tx = ch.sender(None);
        let (r, _rx) = on_thread(
            move || {
                let mut rx = rx;
                let r = rx.recv_vec_with_timeout(Timeout::Forever);
                (r, rx)
            },
            move || stop.interrupt(),
        );
        assert!(matches!(r, Err(Error::Interrupted)), "{r:?}");
    }
}

fn interrupt_blocked_send(t: T) {
    let _s = serial();
    let (_ch, mut tx, mut rx) = open(t, "intr-send");
    let stop = tx.interrupter().expect("interrupter");
    // Fill the channel.
    let mut seq = 0u64;
    // The first send may wait for the receiver where the transport connects lazily.
    tx.send_with_timeout(&sized_msg(seq, MSG_SIZE), Timeout::after(HANG))
        .expect("first send");
    seq += 1;
    loop {
        match tx.try_send(&sized_msg(seq, MSG_SIZE)) {
            Ok(()) => seq += 1,
            Err(Error::WouldBlock) => break,
            Err(e) => panic!("try_send #{seq}: {e}"),
        }
        assert!(seq < 10_000_000, "never full");
    }
    let filled = seq;
    // Blocked on the full channel, with a message that must not arrive.
    let bogus = vec![0xEEu8; MSG_SIZE];
    let (r, mut tx) = on_thread(
        move || {
            let mut tx = tx;
            let r = tx.send_with_timeout(&bogus, Timeout::Forever);
            (r, tx)
        },
        move || stop.interrupt(),
    );
    assert!(matches!(r, Err(Error::Interrupted)), "{r:?}");
    // The stream continues: `filled..` follows directly, drained concurrently.
    let more = 30u64;
    let sender = thread::spawn(move || {
        for s in filled..filled + more {
            tx.send_with_timeout(&sized_msg(s, MSG_SIZE), Timeout::after(HANG))
                .expect("send after interrupt");
        }
        tx
    });
    expect_msgs(&mut rx, 0, filled + more);
    let _tx = sender.join().unwrap();
    assert!(
        matches!(rx.try_recv_vec(), Err(Error::WouldBlock)),
        "nothing else arrived"
    );
}

fn interrupt_with_nothing_blocked(t: T) {
    let _s = serial();
    let (_ch, mut tx, mut rx) = open(t, "intr-idle");
    let stop = rx.interrupter().expect("interrupter");
    // Raised twice while nobody waits: one token, not two.
    stop.interrupt();
    stop.interrupt();
    // Calls that find work, or may not wait, neither see nor take it.
    tx.send_with_timeout(&sized_msg(0, MSG_SIZE), Timeout::after(HANG))
        .expect("send");
    tx.send_with_timeout(&sized_msg(1, MSG_SIZE), Timeout::after(HANG))
        .expect("send");
    let got = loop {
        // The first message may still be in flight (sockets): retry non-blocking.
        match rx.try_recv_vec() {
            Ok(m) => break m,
            Err(Error::WouldBlock) => thread::sleep(Duration::from_millis(1)),
            Err(e) => panic!("try_recv: {e}"),
        }
    };
    check_msg(0, &got, MSG_SIZE);
    // A receive that has a message waiting (waiting at most until it arrives).
    expect_msgs(&mut rx, 1, 2);
    assert!(matches!(rx.try_recv_vec(), Err(Error::WouldBlock)));
    // The next call that has to wait takes it, once.
    let r = rx.recv_vec_with_timeout(Timeout::after(HANG));
    assert!(matches!(r, Err(Error::Interrupted)), "{r:?}");
    assert!(matches!(
        rx.recv_vec_timeout(Duration::from_millis(30)),
        Err(Error::TimedOut)
    ));
    // And the channel still works.
    tx.send_with_timeout(&sized_msg(2, MSG_SIZE), Timeout::after(HANG))
        .expect("send");
    expect_msgs(&mut rx, 2, 3);
}

macro_rules! every_transport {
    ($($name:ident => $t:expr,)*) => {
        $(
            mod $name {
                use super::*;
                #[test] fn blocked_recv() { interrupt_blocked_recv($t) }
                #[test] fn blocked_send() { interrupt_blocked_send($t) }
                #[test] fn nothing_blocked() { interrupt_with_nothing_blocked($t) }
            }
        )*
    };
}

every_transport! {
    shm_spsc => T::ShmSpsc,
    shm_mpmc => T::ShmMpmc,
    pipe => T::Pipe,
    fifo => T::Fifo,
    mq => T::Mq,
    unix => T::Unix,
    tcp => T::Tcp,
}

#[test]
fn interrupter_is_clone_send_sync() {
    fn check<X: Clone + Send + Sync + 'static>() {}
    check::<ipcring::Interrupter>();
}

/// A lazy sender waiting for its receiver to appear (connection attempts, a FIFO writer's
/// open) is interrupted too: it sleeps in back-off steps and checks the token before each.
fn interrupt_send_waiting_for_receiver(t: T) {
    let _s = serial();
    let ch = Chan::sized(t, "intr-lazy", MSG_SIZE, 8);
    let tx = Sender::open(&ch.addr, ipcring::Create::IfMissing).expect("Sender::open");
    let stop = tx.interrupter().expect("interrupter");
    let (r, _tx) = on_thread(
        move || {
            let mut tx = tx;
            let r = tx.send_with_timeout(&sized_msg(0, MSG_SIZE), Timeout::Forever);
            (r, tx)
        },
        move || stop.interrupt(),
    );
    assert!(matches!(r, Err(Error::Interrupted)), "{r:?}");
}

#[test]
fn tcp_send_waiting_for_receiver() {
    interrupt_send_waiting_for_receiver(T::Tcp)
}

#[test]
fn fifo_send_waiting_for_receiver() {
    interrupt_send_waiting_for_receiver(T::Fifo)
}

/// The ring's `sem_t` wake backend: the interrupter posts the semaphore.
#[test]
fn shm_sem_backend_blocked_recv_and_send() {
    let _s = serial();
    for mode in ["", "&mode=mpmc"] {
        let addr = format!(
            "shm://{}?capacity=4&msg_size={MSG_SIZE}&wake=sem{mode}",
            common::unique_name("intr-sem")
        );
        let mut rx = Receiver::open(&addr, ipcring::Create::IfMissing).expect("open rx");
        let mut tx = Sender::open(&addr, ipcring::Create::No).expect("open tx");
        for _ in 0..2 {
            let stop = rx.interrupter().unwrap();
            let (r, back) = on_thread(
                move || {
                    let r = rx.recv_vec_with_timeout(Timeout::Forever);
                    (r, rx)
                },
                move || stop.interrupt(),
            );
            rx = back;
            assert!(matches!(r, Err(Error::Interrupted)), "{r:?}");
        }
        for seq in 0..4 {
            tx.send_with_timeout(&sized_msg(seq, MSG_SIZE), Timeout::after(HANG))
                .unwrap();
        }
        let stop = tx.interrupter().unwrap();
        let (r, back) = on_thread(
            move || {
                let r = tx.send_with_timeout(&[0xEE; 8], Timeout::Forever);
                (r, tx)
            },
            move || stop.interrupt(),
        );
        tx = back;
        assert!(matches!(r, Err(Error::Interrupted)), "{r:?}");
        tx.send_with_timeout(&sized_msg(4, MSG_SIZE), Timeout::NonBlocking)
            .unwrap_err();
        expect_msgs(&mut rx, 0, 4);
        tx.send_with_timeout(&sized_msg(4, MSG_SIZE), Timeout::after(HANG))
            .unwrap();
        expect_msgs(&mut rx, 4, 5);
        assert!(matches!(rx.try_recv_vec(), Err(Error::WouldBlock)));
        drop(tx);
        drop(rx);
        let _ = ipcring::unlink(&addr);
    }
}
