//! The fence mode of a ring (asymmetric: the waiter pays `membarrier(2)`; full: a SeqCst
//! fence on both sides) across real processes: who picks which, that every process of a ring
//! agrees (the header's word), and that a process that cannot register for the asymmetric
//! barrier is refused with a typed error rather than joining uncovered. "Cannot register" is
//! played by the test-build failpoint `fence.register=fail` (as under a seccomp profile that
//! refuses `membarrier`), armed in a forked child or through `IPCRING_FAILPOINTS` in a
//! spawned one. The wake-up tests of both modes are in `blocking.rs` and `process_spsc.rs`.

// It arms failpoints: only in the test build.
#![cfg(ipcring_test)]

mod common;

use common::*;
use ipcring::failpoint::{self, Action};
use ipcring::{Create, Error, ErrorKind, FenceMode, Receiver, Ring, RingOptions, Sender, Timeout};
use std::time::Duration;

const MSG_SIZE: u64 = 64;
const MAX_PAYLOAD: usize = 40;
const MESSAGES: u64 = 20_000;

#[test]
fn child_entry() {
    common::child_entry(|role| match role {
        "opener" => opener(),
        "creator" => creator(),
        other => panic!("unknown role {other:?}"),
    });
}

fn opts() -> RingOptions {
    RingOptions::new().capacity(16).msg_size(MSG_SIZE)
}

/// Opens RING (armed from the environment to fail registration): must be refused with
/// `FenceUnavailable` through every door (the ring, an address).
fn opener() {
    let name = param("RING");
    expect_refused(&name);
}

/// Creates RING with the default options under whatever IPCRING_FENCE the parent set, and
/// says which mode it got (on stdout: `fence=<name>`).
fn creator() {
    let ring = Ring::create(&param("RING"), &opts()).expect("create");
    println!("fence={}", ring.geometry().fence.name());
}

fn expect_refused(name: &str) {
    match Ring::open(name) {
        Err(e @ Error::FenceUnavailable { .. }) => {
            assert_eq!(e.kind(), ErrorKind::Unsupported);
            let text = e.to_string();
            for needle in ["membarrier", "seccomp", "fence=full", "IPCRING_FENCE=full"] {
                assert!(text.contains(needle), "the error does not name {needle:?}: {text}");
            }
        }
        other => panic!("open of an asymmetric ring without registration: {other:?}"),
    }
    let addr = format!("shm://{name}");
    assert!(
        matches!(Sender::open(&addr, Create::No), Err(Error::FenceUnavailable { .. })),
        "Sender::open did not refuse"
    );
    assert!(
        matches!(Receiver::open(&addr, Create::No), Err(Error::FenceUnavailable { .. })),
        "Receiver::open did not refuse"
    );
}

/// Sends MESSAGES checked messages from a forked child to this process over `ring`.
fn stream_across(ring: &Ring) {
    let mut tx = Some(ring.sender().unwrap());
    let child = fork("sender", || {
        let mut tx = tx.take().unwrap();
        let mut buf = [0u8; MSG_SIZE as usize];
        for seq in 0..MESSAGES {
            let len = encode(0, seq, MAX_PAYLOAD, &mut buf);
            tx.send(&buf[..len]).unwrap_or_else(|e| panic!("send {seq}: {e}"));
        }
    });
    drop(tx.take());
    let mut rx = ring.receiver().unwrap();
    let mut chk = SeqChecker::new(1, Some(MAX_PAYLOAD));
    let mut buf = [0u8; MSG_SIZE as usize];
    let end = loop {
        match rx.recv_with_timeout(&mut buf, Timeout::after(Duration::from_secs(60))) {
            Ok(n) => chk.check_or_panic(&buf[..n]),
            Err(e) => break e,
        }
    };
    assert!(matches!(end, Error::EndOfStream), "ended with {end:?}");
    chk.assert_complete(MESSAGES);
    child.expect_success(HANG_BOUND);
}

/// A ring made with the default options here (where `membarrier` works) is asymmetric; a
/// process that cannot register is refused at open with the typed error naming the fix, and
/// the ring is untouched by the refusal: a registered process then streams over it.
#[test]
fn opener_that_cannot_register_is_refused() {
    let _s = serial();
    let name = ShmName::new("fence-refuse");
    let ring = Ring::create(name.as_str(), &opts()).expect("create");
    assert_eq!(
        ring.geometry().fence,
        FenceMode::Asymmetric,
        "this machine allows membarrier: the default must be asymmetric"
    );
    // Armed in a forked child (a registration inherited from this process does not help:
    // the failpoint plays a process that never could).
    let n = name.as_str().to_string();
    fork("refused opener", move || {
        failpoint::arm(failpoint::FENCE_REGISTER, Action::Fail, 0).unwrap();
        expect_refused(&n);
    })
    .expect_success(HANG_BOUND);
    // Armed through the environment of a fresh process (no inherited registration at all).
    let child = spawn(
        "opener",
        &[
            ("RING", name.as_str().to_string()),
            ("IPCRING_FAILPOINTS", "fence.register=fail".to_string()),
        ],
    );
    run_all(vec![child], HANG_BOUND);
    let g = Ring::open(name.as_str())
        .expect("a registered process opens it")
        .geometry();
    assert_eq!(g.fence, FenceMode::Asymmetric);
    stream_across(&ring);
}

/// A creator that cannot register falls back to full fences (its ring then works for every
/// process, registered or not); one that requires asymmetric fences gets the typed error;
/// `fence=full` in an address and `IPCRING_FENCE=full` choose full fences outright; an opener
/// that names another mode than the ring's gets `Mismatch`.
#[test]
fn creators_choose_and_every_process_agrees() {
    let _s = serial();
    let fallback = ShmName::new("fence-fallback");
    let n = fallback.as_str().to_string();
    fork("creator that cannot register", move || {
        failpoint::arm(failpoint::FENCE_REGISTER, Action::Fail, 0).unwrap();
        let ring = Ring::create(&n, &opts()).expect("create falls back");
        assert_eq!(ring.geometry().fence, FenceMode::Full);
        let other = format!("{n}-asym");
        assert!(
            matches!(
                Ring::create(&other, &opts().fence(FenceMode::Asymmetric)),
                Err(Error::FenceUnavailable { .. })
            ),
            "a required asymmetric ring was made without registration"
        );
        assert!(
            std::fs::metadata(shm_path(&other)).is_err(),
            "the refused create left {other}"
        );
        // An unregistered process uses a full-fence ring like any other.
        let reopened = Ring::open(&n).expect("open the full ring");
        assert_eq!(reopened.geometry().fence, FenceMode::Full);
    })
    .expect_success(HANG_BOUND);
    let ring = Ring::open(fallback.as_str()).expect("open");
    assert_eq!(
        ring.geometry().fence,
        FenceMode::Full,
        "the header carries the creator's choice"
    );
    assert!(matches!(
        Ring::open_with(fallback.as_str(), &RingOptions::new().fence(FenceMode::Asymmetric)),
        Err(Error::Mismatch { field: "fence", .. })
    ));
    stream_across(&ring);
    drop(ring);

    // The address.
    let by_address = ShmName::new("fence-addr");
    let addr = format!("shm://{}?capacity=16&msg_size=64&fence=full", by_address.as_str());
    let tx = Sender::open(&addr, Create::IfMissing).expect("open by address");
    assert_eq!(
        Ring::open(by_address.as_str()).unwrap().geometry().fence,
        FenceMode::Full
    );
    drop(tx);
    assert!(matches!(
        Sender::open(&format!("shm://{}?fence=partial", by_address.as_str()), Create::No),
        Err(Error::InvalidAddress { .. })
    ));
    // A ring-only option: refused on another transport, naming it.
    match ipcring::pair_at("pipe://?fence=full") {
        Err(Error::InvalidAddress { part, .. }) => assert_eq!(part, "fence"),
        other => panic!("fence on pipe://: {:?}", other.map(|_| ())),
    }

    // The environment, in a fresh creator process (and a bad value is refused).
    for (value, want) in [
        ("full", Some("full")),
        ("asymmetric", Some("asymmetric")),
        ("bogus", None),
    ] {
        let name = ShmName::new("fence-env");
        let child = spawn(
            "creator",
            &[
                ("RING", name.as_str().to_string()),
                ("IPCRING_FENCE", value.to_string()),
            ],
        );
        let exits = wait_all(vec![child], HANG_BOUND);
        match want {
            Some(w) => {
                assert!(exits[0].success(), "{}", exits[0].describe());
                assert!(
                    exits[0].stdout.contains(&format!("fence={w}")),
                    "IPCRING_FENCE={value}: {}",
                    exits[0].describe()
                );
            }
            None => assert!(
                !exits[0].success() && exits[0].describe().contains("IPCRING_FENCE"),
                "IPCRING_FENCE={value} was not refused: {}",
                exits[0].describe()
            ),
        }
    }
}
