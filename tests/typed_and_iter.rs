//! Typed messages (`send_value` / `recv_value` for `bytemuck::Pod` types) and iteration
//! (`for msg in rx.iter()`), across a real `fork` on the ring (SPSC and MPMC) and on a
//! fallback (`pipe://`): every value's sequence number and checksum is checked, iteration
//! ends exactly at end of stream, and a message of the wrong size is refused as documented
//! (left in the channel where looking at a message does not take it).

mod common;

use bytemuck::{Pod, Zeroable};
use common::*;
use ipcring::{pair, pair_at, Error, ErrorKind, Kind, Receiver, RingOptions, Sender, Timeout};
use std::time::Duration;

const HANG_BOUND: Duration = Duration::from_secs(120);
const VALUES: u64 = 100_000;
const TRAILER: u64 = 1_000;

/// A `#[repr(C)]` record with no padding: 40 bytes, 8-byte aligned.
#[derive(Clone, Copy, Debug, PartialEq, Pod, Zeroable)]
#[repr(C)]
struct Tick {
    seq: u64,
    price: f64,
    qty: u32,
    venue: u32,
    flags: u64,
    check: u64,
}

impl Tick {
    fn new(seq: u64) -> Tick {
        let mut t = Tick {
            seq,
            price: seq as f64 * 0.25,
            qty: (mix(seq) % 10_000) as u32,
            venue: (seq % 7) as u32,
            flags: mix(seq ^ 0xfeed),
            check: 0,
        };
        t.check = t.checksum();
        t
    }

    fn checksum(&self) -> u64 {
        let mut copy = *self;
        copy.check = 0;
        fnv1a(bytemuck::bytes_of(&copy))
    }
}

/// The sending side: `VALUES` ticks, then `TRAILER` byte messages, then it drops the sender.
fn produce(tx: &mut Sender) {
    for seq in 0..VALUES {
        tx.send_value(&Tick::new(seq)).expect("send_value");
    }
    for seq in 0..TRAILER {
        tx.send(&sized_msg(seq, 64)).expect("send");
    }
}

/// The receiving side: every tick in order with a good checksum, then the trailer through
/// `iter()`, which must end at end of stream after exactly `TRAILER` messages.
fn consume(rx: &mut Receiver) {
    for seq in 0..VALUES {
        let t: Tick = rx.recv_value().unwrap_or_else(|e| panic!("tick #{seq}: {e}"));
        assert_eq!(t.seq, seq, "ticks out of order");
        assert_eq!(t.check, t.checksum(), "tick #{seq}: checksum");
        assert_eq!(t, Tick::new(seq), "tick #{seq}: fields");
    }
    let mut n = 0;
    for msg in rx.iter() {
        let msg = msg.unwrap_or_else(|e| panic!("trailer #{n}: {e}"));
        check_msg(n, &msg, 64);
        n += 1;
    }
    assert_eq!(n, TRAILER, "iteration ended early or late");
    // Fused at end of stream: asking again is end of stream again, and the iterator stays done.
    let mut it = rx.iter();
    assert!(it.next().is_none());
    assert!(matches!(rx.recv_vec(), Err(Error::EndOfStream)));
}

fn across_fork(tx: Sender, rx: Receiver) {
    let _s = serial();
    let (mut tx, mut rx) = (Some(tx), Some(rx));
    let child = fork("typed producer", || {
        drop(rx.take());
        produce(tx.as_mut().unwrap());
        drop(tx.take()); // a clean close (a child that exits holding it did not close)
    });
    drop(tx.take());
    consume(rx.as_mut().unwrap());
    child.expect_success(HANG_BOUND);
}

#[test]
fn typed_values_then_iteration_over_an_spsc_ring() {
    let (tx, rx) = pair(&RingOptions::new().capacity(256).msg_size(64)).unwrap();
    across_fork(tx, rx);
}

#[test]
fn typed_values_then_iteration_over_an_mpmc_ring() {
    let (tx, rx) = pair(&RingOptions::new().kind(Kind::Mpmc).capacity(256).msg_size(64)).unwrap();
    across_fork(tx, rx);
}

#[test]
fn typed_values_then_iteration_over_a_pipe() {
    let (tx, rx) = pair_at("pipe://?msg_size=64").unwrap();
    across_fork(tx, rx);
}

#[test]
fn into_iterator_for_mut_receiver() {
    let (mut tx, mut rx) = pair(&RingOptions::new().capacity(8).msg_size(16)).unwrap();
    for seq in 0..5u64 {
        tx.send(&seq.to_le_bytes()).unwrap();
    }
    drop(tx);
    let mut seen = Vec::new();
    for msg in &mut rx {
        seen.push(u64::from_le_bytes(msg.unwrap().try_into().unwrap()));
    }
    assert_eq!(seen, [0, 1, 2, 3, 4]);
}

/// A message of another size is `MessageSize`; on SPSC and on a fallback it is still there
/// for the next receive, on MPMC (looking claims) it is gone, as the docs say.
#[test]
fn wrong_size_is_refused_and_kept_where_documented() {
    let cases: Vec<(&str, (Sender, Receiver), bool)> = vec![
        (
            "spsc",
            pair(&RingOptions::new().capacity(8).msg_size(64)).unwrap(),
            true,
        ),
        ("pipe", pair_at("pipe://?msg_size=64").unwrap(), true),
        (
            "mpmc",
            pair(&RingOptions::new().kind(Kind::Mpmc).capacity(8).msg_size(64)).unwrap(),
            false,
        ),
    ];
    for (label, (mut tx, mut rx), kept) in cases {
        tx.send(b"not a tick").unwrap();
        tx.send_value(&Tick::new(7)).unwrap();
        let e = rx.recv_value::<Tick>().unwrap_err();
        assert!(
            matches!(
                e,
                Error::MessageSize {
                    expected: 40,
                    found: 10
                }
            ),
            "{label}: {e:?}"
        );
        assert_eq!(e.kind(), ErrorKind::MessageSize);
        if kept {
            assert_eq!(
                rx.recv_vec().unwrap(),
                b"not a tick",
                "{label}: the refused message stays"
            );
        }
        assert_eq!(rx.recv_value::<Tick>().unwrap(), Tick::new(7), "{label}");
        assert!(matches!(
            rx.recv_value_with_timeout::<Tick>(Timeout::NonBlocking),
            Err(Error::WouldBlock)
        ));
    }
}

/// On a ring, a payload seen in place starts 8-byte aligned (documented), so a reader may
/// cast it to a `Pod` type with `bytemuck::from_bytes` instead of copying.
#[test]
fn ring_payloads_in_place_are_8_byte_aligned() {
    for kind in [Kind::Spsc, Kind::Mpmc] {
        let (mut tx, mut rx) = pair(&RingOptions::new().kind(kind).capacity(8).msg_size(100)).unwrap();
        for seq in 0..20u64 {
            tx.send_value(&Tick::new(seq)).unwrap();
            let slot = rx.peek(Timeout::NonBlocking).unwrap();
            assert_eq!(slot.as_ptr() as usize % 8, 0, "{kind:?} message #{seq}");
            let t: &Tick = bytemuck::from_bytes(&slot);
            assert_eq!(*t, Tick::new(seq));
            slot.release();
        }
    }
}

/// A larger value than the channel's msg_size is `TooLarge` and sends nothing.
#[test]
fn value_larger_than_msg_size_is_too_large() {
    let (mut tx, mut rx) = pair(&RingOptions::new().capacity(8).msg_size(16)).unwrap();
    let e = tx.send_value(&Tick::new(1)).unwrap_err();
    assert!(matches!(e, Error::TooLarge { len: 40, max: 16 }), "{e:?}");
    assert!(matches!(rx.try_recv_vec(), Err(Error::WouldBlock)));
}

/// Errors about a named object say which address (the C text already did).
#[test]
fn errors_name_the_address() {
    let name = unique_name("named-errors");
    let addr = format!("shm://{name}");
    let e = Receiver::open(&addr, ipcring::Create::No).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound);
    assert!(e.to_string().contains(&addr), "{e}");
    let _rx = Receiver::open(&addr, ipcring::Create::Exclusive).unwrap();
    let e = Sender::open(&addr, ipcring::Create::Exclusive).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::AlreadyExists);
    assert!(e.to_string().contains(&addr), "{e}");
    ipcring::unlink(&addr).unwrap();
    let e = ipcring::unlink(&addr).unwrap_err();
    assert!(e.to_string().contains(&addr), "{e}");
    let q = format!("mq://{name}");
    let e = Sender::open(&q, ipcring::Create::No).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound);
    assert!(e.to_string().contains(&q), "{e}");
}

/// The 0.1 names still compile (with a deprecation warning) and mean what they meant.
#[test]
#[allow(deprecated)]
fn old_names_still_work() {
    assert_eq!(Timeout::Never, Timeout::NonBlocking);
    assert!(matches!(Timeout::from_nanos(0), Timeout::Never));
    let (mut tx, _rx) = pair(&RingOptions::new().capacity(1).msg_size(8)).unwrap();
    tx.send(b"x").unwrap();
    assert!(matches!(
        tx.send_with_timeout(b"y", Timeout::Never),
        Err(Error::WouldBlock)
    ));
    let name = unique_name("old-mode");
    let ring = ipcring::Ring::create(&name, &RingOptions::new().mode(0o640)).unwrap();
    let mode = std::os::unix::fs::MetadataExt::mode(&std::fs::metadata(shm_path(&name)).unwrap());
    assert_eq!(mode & 0o777, 0o640);
    drop(ring);
    ipcring::Ring::unlink(&name).unwrap();
}

// The API types can move to another thread (a field change that breaks this is caught here).
const _: fn() = || {
    fn send<T: Send>() {}
    send::<Sender>();
    send::<Receiver>();
};
