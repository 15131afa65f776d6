//! ABI 5's sizing, with real shared-memory objects and processes: an SPSC ring sized in bytes
//! independently of `msg_size` (issue 15 item 6: a ring for messages of up to 1 MiB holds
//! thousands of 100-byte ones in 1 MiB, and its object is no larger than the bytes plus the
//! header), any capacity as an exact bound on queued messages (the seeds' bounded buffer of
//! 10), and an ABI 4 object refused with the typed `AbiMismatch`. Every message is checked
//! (sequence number, payload, checksum: tests/common/msg.rs).

mod common;

use common::msg::{decode, encode_vec};
use common::{fork, serial, ShmName};
use ipcring::{Error, Kind, Ring, RingOptions};
use std::time::Duration;

/// The ring header page (docs/architecture.md, "Shared layout").
const HEADER_SIZE: u64 = 4096;

/// A bound on a hang only (the machine is noisy): never a performance assertion.
const HANG_BOUND: Duration = Duration::from_secs(60);

/// Issue 15 item 6: `msg_size=1048576&bytes=1048576` takes at least 5,000 messages of 100
/// bytes with `try_send` before any receive, its object is at most bytes + header, and a
/// forked receiver then gets every one, in order, intact; a 1 MiB message still goes through.
#[test]
fn a_one_mib_ring_takes_thousands_of_small_messages() {
    let _g = serial();
    let name = ShmName::new("varlen-mem");
    let addr = format!("shm://{}?msg_size=1048576&bytes=1048576", name.as_str());
    let ring = Ring::create(name.as_str(), &RingOptions::new().msg_size(1 << 20).bytes(1 << 20)).unwrap();
    let size = std::fs::metadata(name.path()).unwrap().len();
    assert!(size <= (1 << 20) + HEADER_SIZE, "object of {size} bytes");
    let mut tx = ring.sender().unwrap();
    let rx = ring.receiver().unwrap();
    // 100-byte messages: 80 payload bytes + the 20-byte [producer][seq]...[checksum] frame.
    let msgs: Vec<Vec<u8>> = (0..5000u64)
        .map(|seq| {
            let mut v = vec![0u8; 100];
            let n = common::msg::encode_with_payload_len(0, seq, 80, &mut v);
            v.truncate(n);
            v
        })
        .collect();
    for (seq, m) in msgs.iter().enumerate() {
        assert_eq!(m.len(), 100);
        match tx.try_send(m) {
            Ok(()) => {}
            Err(e) => panic!("{addr}: try_send of message {seq} of 5000 blocked or failed: {e}"),
        }
    }
    assert_eq!(ring.len(), 5000);
    // How many fit in all: 112 bytes per record.
    let mut extra = 0u64;
    while tx.try_send(&encode_vec(0, 5000 + extra, 80)[..]).is_ok() {
        extra += 1;
    }
    assert!(matches!(
        tx.try_send(&encode_vec(0, 5000 + extra, 80)[..]),
        Err(Error::WouldBlock)
    ));
    eprintln!("{addr}: {} small messages queued before WouldBlock", 5000 + extra);
    let total = 5000 + extra;
    let child = fork("receiver", move || {
        let mut rx = rx;
        for seq in 0..total {
            let m = rx.recv_vec_timeout(HANG_BOUND).unwrap();
            let (p, s) = decode(&m, None).unwrap_or_else(|e| panic!("message {seq}: {e}"));
            assert_eq!((p, s), (0, seq));
        }
        // Then whole-area messages, several laps (padding records at each wrap).
        for seq in 0..20u64 {
            let m = rx.recv_vec_timeout(HANG_BOUND).unwrap();
            assert_eq!(m.len(), if seq % 2 == 0 { 1 << 20 } else { 100 + seq as usize });
            let want = (seq as u8).wrapping_mul(31);
            assert!(m.iter().all(|&b| b == want), "big message {seq}: payload differs");
        }
        // (No end of stream here: this child inherited the parent's sender at the fork.)
    });
    for seq in 0..20u64 {
        let len = if seq % 2 == 0 { 1 << 20 } else { 100 + seq as usize };
        tx.send_timeout(&vec![(seq as u8).wrapping_mul(31); len], HANG_BOUND)
            .unwrap();
    }
    drop(tx);
    child.expect_success(HANG_BOUND);
    drop(ring);
    Ring::unlink(name.as_str()).unwrap();
}

/// Any capacity is an exact bound on the queued messages, SPSC and MPMC, over many laps:
/// `capacity=10` queues exactly 10, and a forked receiver gets each message once, in order.
#[test]
fn capacity_ten_bounds_exactly_ten() {
    let _g = serial();
    for kind in [Kind::Spsc, Kind::Mpmc] {
        for cap in [10u64, 3, 1] {
            let ring = Ring::anonymous(&RingOptions::new().kind(kind).capacity(cap).msg_size(64)).unwrap();
            let mut tx = ring.sender().unwrap();
            let mut rx = ring.receiver().unwrap();
            let mut seq = 0u64;
            let mut got = 0u64;
            for round in 0..50 {
                while tx.try_send(&encode_vec(1, seq, 40)).is_ok() {
                    seq += 1;
                }
                assert_eq!(seq - got, cap, "{kind:?} cap {cap} round {round}: queued");
                assert_eq!(ring.len(), cap);
                let take = 1 + (round as u64 % cap);
                for _ in 0..take {
                    let m = rx.try_recv_vec().unwrap();
                    assert_eq!(decode(&m, Some(40)).unwrap(), (1, got), "{kind:?} cap {cap}");
                    got += 1;
                }
            }
            // Across processes, blocking: the sender waits for room at the bound.
            let n = 20_000u64;
            let start = seq;
            let child = fork("sender", move || {
                let mut tx = tx;
                for s in start..start + n {
                    tx.send_timeout(&encode_vec(1, s, 40), HANG_BOUND).unwrap();
                }
            });
            while got < start + n {
                let m = rx.recv_vec_timeout(HANG_BOUND).unwrap();
                assert_eq!(decode(&m, Some(40)).unwrap(), (1, got), "{kind:?} cap {cap}");
                got += 1;
            }
            child.expect_success(HANG_BOUND);
            assert!(matches!(rx.recv_vec_timeout(HANG_BOUND), Err(Error::EndOfStream)));
        }
    }
}

/// An object of the previous ABI (5: byte cursors with laps, records published by the
/// producer's cursor) is refused with the typed error, at open and by the inspector.
#[test]
fn an_abi_5_ring_is_refused() {
    use std::os::unix::fs::FileExt;
    let _g = serial();
    let name = ShmName::new("varlen-abi5");
    let ring = Ring::create(name.as_str(), &RingOptions::new()).unwrap();
    drop(ring);
    let f = std::fs::OpenOptions::new().write(true).open(name.path()).unwrap();
    f.write_all_at(&5u32.to_le_bytes(), 8).unwrap();
    match Ring::open(name.as_str()) {
        Err(Error::AbiMismatch { expected: 6, found: 5 }) => {}
        other => panic!("expected AbiMismatch, got {other:?}"),
    }
    match ipcring::inspect::inspect(name.as_str()).unwrap().state {
        ipcring::inspect::State::Invalid(Error::AbiMismatch { found: 5, .. }) => {}
        other => panic!("{other:?}"),
    }
    Ring::unlink(name.as_str()).unwrap();
}
