//! Creating and opening named rings: every refusal is its own error, made before anything is
//! touched, and hostile or broken objects in /dev/shm are errors, never a panic.
//!
//! Objects are made by hand through /dev/shm (garbage, truncated copies, headers with one
//! field poked), at the offsets the shared layout pins (see `layout.rs`): magic 0,
//! abi_version 8, init 12, layout_hash 16, kind 24, wake 28, capacity 32, msg_size 40,
//! slot_size 48, slots_offset 56, region_size 64, poison 76, fences 104 (ABI 5).

// It drives the library's building blocks (or its failpoints) directly: only in the test build.
#![cfg(ipcring_test)]

mod common;

use common::*;
use ipcring::{Error, Kind, Ring, RingOptions, WakeBackend};
use std::os::unix::fs::{FileExt, PermissionsExt};
use std::time::{Duration, Instant};

const OFF_MAGIC: u64 = 0;
const OFF_ABI: u64 = 8;
const OFF_INIT: u64 = 12;
const OFF_HASH: u64 = 16;
const OFF_KIND: u64 = 24;
const OFF_WAKE: u64 = 28;
const OFF_CAPACITY: u64 = 32;
const OFF_MSG_SIZE: u64 = 40;
const OFF_SLOT_SIZE: u64 = 48;
const OFF_REGION_SIZE: u64 = 64;
const OFF_POISON: u64 = 76;
const OFF_FENCES: u64 = 104;
const OFF_BYTES: u64 = 112;

#[test]
fn child_entry() {
    common::child_entry(|role| panic!("open_errors has no child roles ({role:?})"));
}

fn short() -> RingOptions {
    RingOptions::new().open_timeout(Duration::from_millis(200))
}

fn poke(path: &std::path::Path, offset: u64, bytes: &[u8]) {
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .unwrap_or_else(|e| panic!("open {}: {e}", path.display()));
    f.write_all_at(bytes, offset).expect("poke");
}

/// The bytes of a freshly created ring (its /dev/shm object), and its geometry.
fn valid_ring_bytes(opts: &RingOptions) -> (Vec<u8>, ipcring::Geometry) {
    let name = ShmName::new("template");
    let ring = Ring::create(name.as_str(), opts).expect("create template");
    let bytes = std::fs::read(name.path()).expect("read the template object");
    (bytes, ring.geometry())
}

/// Writes `bytes` as the object `name` (mode 0600, so that a permissive umask does not make
/// it group- or world-writable, which open refuses before reading it) and opens it with a
/// short open timeout.
fn open_bytes(name: &ShmName, bytes: &[u8]) -> ipcring::Result<Ring> {
    write_object(name, bytes, 0o600);
    Ring::open_with(name.as_str(), &short())
}

/// Replaces the object `name` with a plain file holding `bytes`, with exactly `mode`.
fn write_object(name: &ShmName, bytes: &[u8], mode: u32) {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let _ = std::fs::remove_file(name.path());
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(name.path())
        .expect("create object");
    f.write_all(bytes).expect("write object");
    f.set_permissions(std::fs::Permissions::from_mode(mode))
        .expect("chmod object");
}

/// Reopening with options that differ from the ring's is Mismatch naming the field, with the
/// expected and found values; options left unset are not checked; the ring is unharmed.
#[test]
fn reopen_with_wrong_options_is_mismatch() {
    let _serial = serial();
    let name = ShmName::new("mismatch");
    let base = RingOptions::new()
        .kind(Kind::Spsc)
        .capacity(64)
        .msg_size(128)
        .wake(WakeBackend::Futex);
    let ring = Ring::create(name.as_str(), &base).expect("create");
    let cases: [(RingOptions, &str, u64, u64); 4] = [
        (
            RingOptions::new().kind(Kind::Mpmc),
            "kind",
            Kind::Mpmc as u64,
            Kind::Spsc as u64,
        ),
        (RingOptions::new().capacity(128), "capacity", 128, 64),
        (RingOptions::new().msg_size(256), "msg_size", 256, 128),
        (
            RingOptions::new().wake(WakeBackend::Sem),
            "wake",
            WakeBackend::Sem as u64,
            WakeBackend::Futex as u64,
        ),
    ];
    for (opts, field, expected, found) in cases {
        match Ring::open_with(name.as_str(), &opts) {
            Err(Error::Mismatch {
                field: f,
                expected: e,
                found: g,
            }) => assert_eq!((f, e, g), (field, expected, found), "{field}"),
            other => panic!("open_with wrong {field}: {other:?}"),
        }
    }
    // Every option right, a subset right, none set: all open the same ring.
    for opts in [base.clone(), RingOptions::new().capacity(64), RingOptions::new()] {
        let r = Ring::open_with(name.as_str(), &opts).expect("matching open");
        assert_eq!(r.geometry(), ring.geometry());
    }
    let mut tx = ring.sender().unwrap();
    let mut rx = Ring::open(name.as_str()).unwrap().receiver().unwrap();
    tx.send(b"still fine").unwrap();
    assert_eq!(rx.recv_vec().unwrap(), b"still fine");
}

/// Creating a name that exists is AlreadyExists, whatever the object is, and leaves it be.
#[test]
fn create_existing_name_is_already_exists() {
    let _serial = serial();
    let opts = RingOptions::new().capacity(8).msg_size(32);
    let name = ShmName::new("exists");
    let ring = Ring::create(name.as_str(), &opts).expect("create");
    ring.sender().unwrap().send(b"kept").unwrap();
    for other in [opts.clone(), RingOptions::new().kind(Kind::Mpmc).capacity(4)] {
        assert!(matches!(
            Ring::create(name.as_str(), &other),
            Err(Error::AlreadyExists { .. })
        ));
    }
    assert!(matches!(
        Ring::create(&format!("/{}", name.as_str()), &opts),
        Err(Error::AlreadyExists { .. })
    ));
    let again = Ring::open(name.as_str()).expect("the ring is still there");
    assert_eq!(again.geometry(), ring.geometry());
    assert_eq!(again.receiver().unwrap().recv_vec().unwrap(), b"kept");

    // A plain file of that name: refused, and not clobbered.
    let junk = ShmName::new("exists-junk");
    std::fs::write(junk.path(), b"not a ring").unwrap();
    assert!(matches!(
        Ring::create(junk.as_str(), &opts),
        Err(Error::AlreadyExists { .. })
    ));
    assert_eq!(std::fs::read(junk.path()).unwrap(), b"not a ring");

    // A symlink of that name: refused, and its target untouched.
    let target = TempPath::new("symlink-target");
    std::fs::write(target.path(), b"target").unwrap();
    let link = ShmName::new("exists-link");
    std::os::unix::fs::symlink(target.path(), link.path()).unwrap();
    assert!(matches!(
        Ring::create(link.as_str(), &opts),
        Err(Error::AlreadyExists { .. })
    ));
    assert!(
        Ring::open_with(link.as_str(), &short()).is_err(),
        "open followed a symlink"
    );
    assert_eq!(std::fs::read(target.path()).unwrap(), b"target");
}

/// Opening (or unlinking) a name that does not exist is NotFound.
#[test]
fn open_missing_is_not_found() {
    let name = unique_name("missing");
    assert!(matches!(Ring::open(&name), Err(Error::NotFound { .. })));
    assert!(matches!(Ring::open_with(&name, &short()), Err(Error::NotFound { .. })));
    assert!(matches!(Ring::unlink(&name), Err(Error::NotFound { .. })));
    assert!(!shm_path(&name).exists());
}

/// Bad names are InvalidName (naming the name as given) from create, open and unlink, and
/// nothing is created: not even for a 251-byte name the kernel itself would take.
#[test]
fn bad_names_are_invalid_name_before_any_system_call() {
    let _serial = serial();
    let u = unique_name("badname");
    let long = |n: usize| format!("{u}{}", "x".repeat(n - u.len()));
    let names = [
        String::new(),
        "/".to_string(),
        format!("{u}/b"),
        format!("/{u}/b"),
        format!("//{u}"),
        format!("{u}/"),
        long(241),
        format!("/{}", long(251)),
        long(300),
        format!("{u}\0y"),
        ".".to_string(),
        "..".to_string(),
        "/..".to_string(),
    ];
    let opts = RingOptions::new().capacity(4).msg_size(8);
    for bad in &names {
        let check = |what: &str, r: ipcring::Result<()>| match r {
            Err(Error::InvalidName { name, .. }) => assert_eq!(&name, bad, "{what}: name in the error"),
            other => panic!("{what}({bad:?}): {other:?}, expected InvalidName"),
        };
        check("create", Ring::create(bad, &opts).map(drop));
        check("open", Ring::open(bad).map(drop));
        check("open_with", Ring::open_with(bad, &short()).map(drop));
        check("unlink", Ring::unlink(bad));
        check("region::validate_name", ipcring::region::validate_name(bad).map(drop));
    }
    // Nothing reached /dev/shm.
    for leftover in [
        u.clone(),
        long(241),
        format!("{u}\0y").split('\0').next().unwrap().to_string(),
    ] {
        assert!(!shm_path(&leftover).exists(), "{leftover:?} was created");
    }
    // The longest valid name works.
    let ok = long(240);
    let guard = ShmName::from_name(ok.clone());
    let ring = Ring::create(&ok, &opts).expect("a 240-byte name is valid");
    drop(ring);
    Ring::unlink(&ok).unwrap();
    drop(guard);
}

/// Out-of-range options are InvalidOption naming the option, from every constructor, and a
/// refused create leaves nothing behind.
#[test]
fn bad_options_are_invalid_option() {
    let _serial = serial();
    let cases: Vec<(RingOptions, &str)> = vec![
        (RingOptions::new().capacity(0), "capacity"),
        (RingOptions::new().capacity(1 << 25), "capacity"),
        (RingOptions::new().kind(Kind::Mpmc).capacity(1 << 24 | 1), "capacity"),
        // bytes (ABI 5): a multiple of 8, at least msg_size, SPSC only.
        (RingOptions::new().bytes(1001), "bytes"),
        (RingOptions::new().msg_size(256).bytes(248), "bytes"),
        (RingOptions::new().bytes(0), "bytes"),
        (RingOptions::new().bytes(1 << 40), "bytes"),
        (RingOptions::new().kind(Kind::Mpmc).bytes(4096), "bytes"),
        (RingOptions::new().capacity(u64::MAX), "capacity"),
        (RingOptions::new().msg_size(0), "msg_size"),
        (RingOptions::new().msg_size(1 << 40), "msg_size"),
        (RingOptions::new().msg_size((1 << 28) + 1), "msg_size"),
        // Each fine alone, too large together (over the 64 GiB region limit).
        (RingOptions::new().capacity(1 << 24).msg_size(1 << 28), "capacity"),
    ];
    for (opts, option) in &cases {
        let check = |what: &str, r: ipcring::Result<()>| match r {
            Err(Error::InvalidOption { option: o, .. }) => assert_eq!(o, *option, "{what} {opts:?}"),
            other => panic!("{what} {opts:?}: {other:?}, expected InvalidOption {{ option: {option} }}"),
        };
        check("validate", opts.validate().map(drop));
        let name = ShmName::new("badopt");
        check("create", Ring::create(name.as_str(), opts).map(drop));
        assert!(!name.path().exists(), "a refused create left {}", name.path().display());
        check("anonymous", Ring::anonymous(opts).map(drop));
        check("in_process", Ring::in_process(opts).map(drop));
        check("pair", ipcring::pair(opts).map(drop));
    }
    // Permission bits only.
    let name = ShmName::new("badmode");
    match Ring::create(name.as_str(), &RingOptions::new().perm(0o4600)) {
        Err(Error::InvalidOption { option: "perm", .. }) => {}
        other => panic!("perm 0o4600: {other:?}"),
    }
    assert!(!name.path().exists());
    // The limits themselves are valid.
    for opts in [
        RingOptions::new().capacity(1),
        RingOptions::new().capacity(1 << 24).msg_size(1),
        RingOptions::new().msg_size(1 << 28).capacity(1),
    ] {
        opts.validate().unwrap_or_else(|e| panic!("{opts:?}: {e}"));
    }
}

/// The object gets exactly the requested mode (0600 by default) whatever the umask. The
/// umask is per process, so this runs in a forked child.
#[test]
fn created_mode_is_exact_regardless_of_umask() {
    let _serial = serial();
    let names: Vec<ShmName> = (0..5).map(|_| ShmName::new("mode")).collect();
    let child = fork("umask", || {
        let mode_of = |n: &ShmName| std::fs::metadata(n.path()).unwrap().permissions().mode() & 0o7777;
        let cases: [(libc::mode_t, Option<u32>, u32); 5] = [
            (0, None, 0o600),
            (0, Some(0o600), 0o600),
            (0, Some(0o640), 0o640),
            (0o077, Some(0o666), 0o666),
            (0o777, Some(0o600), 0o600),
        ];
        for ((umask, mode, want), name) in cases.into_iter().zip(&names) {
            // SAFETY: umask only sets this (single-threaded, forked) process's mask.
            unsafe { libc::umask(umask) };
            let mut opts = RingOptions::new().capacity(4).msg_size(8);
            if let Some(m) = mode {
                opts = opts.perm(m);
            }
            let _ring = Ring::create(name.as_str(), &opts).expect("create");
            let got = mode_of(name);
            let asked = mode.map_or("default".to_string(), |m| format!("{m:o}"));
            assert_eq!(
                got, want,
                "umask {umask:o}, mode {asked}: object mode {got:o}, expected {want:o}"
            );
        }
    });
    child.expect_success(HANG_BOUND);
    assert_eq!(
        std::fs::metadata(names[0].path()).unwrap().permissions().mode() & 0o7777,
        0o600
    );
}

/// Objects that are not rings: random bytes, all-ones, a directory. Errors, never a panic.
#[test]
fn garbage_objects_are_not_a_ring() {
    let _serial = serial();
    let g = RingOptions::new().capacity(16).msg_size(64).validate().unwrap();
    let name = ShmName::new("garbage");
    let mut random = vec![0u8; g.region_size as usize];
    for (i, c) in random.chunks_mut(8).enumerate() {
        c.copy_from_slice(&mix(i as u64).to_le_bytes());
    }
    match open_bytes(&name, &random) {
        Err(Error::NotARing { .. }) => {}
        other => panic!("random bytes: {other:?}"),
    }
    match open_bytes(&name, &vec![0xFF; g.region_size as usize]) {
        Err(Error::NotARing { .. }) => {}
        other => panic!("all 0xFF: {other:?}"),
    }
    // Random bytes after a right magic: never initialised, and nobody holds the init lock
    // (no creator at work), so CreatorDied at once, without waiting for the open timeout.
    random[..8].copy_from_slice(b"IPCRING1");
    let long = RingOptions::new().open_timeout(Duration::from_secs(30));
    write_object(&name, &random, 0o600);
    let start = Instant::now();
    match Ring::open_with(name.as_str(), &long) {
        Err(Error::CreatorDied) => assert!(start.elapsed() < Duration::from_secs(10), "{:?}", start.elapsed()),
        other => panic!("magic then random bytes: {other:?}"),
    }
    // A directory.
    let dir = ShmName::new("garbage-dir");
    std::fs::create_dir(dir.path()).unwrap();
    assert!(
        Ring::open_with(dir.as_str(), &short()).is_err(),
        "a directory opened as a ring"
    );
    assert!(Ring::create(dir.as_str(), &RingOptions::new()).is_err());
}

/// A valid ring's header with one field made wrong: each the error it deserves.
#[test]
fn damaged_headers_are_refused() {
    let _serial = serial();
    // MPMC: its capacity sizes the region (an SPSC ring's `bytes` does; its cases follow).
    let (bytes, g) = valid_ring_bytes(&RingOptions::new().kind(Kind::Mpmc).capacity(16).msg_size(64));
    assert_eq!(&bytes[..8], b"IPCRING1");
    let name = ShmName::new("damaged");
    let with = |offset: u64, field: &[u8]| {
        let mut b = bytes.clone();
        b[offset as usize..offset as usize + field.len()].copy_from_slice(field);
        b
    };
    // The untouched copy opens.
    let ring = open_bytes(&name, &bytes).expect("a byte-for-byte copy of a ring opens");
    assert_eq!(ring.geometry(), g);
    drop(ring);

    let abi = u32::from_le_bytes(bytes[8..12].try_into().unwrap());
    let hash = u64::from_le_bytes(bytes[16..24].try_into().unwrap());
    type Expect = fn(&Error) -> bool;
    let cases: Vec<(&str, Vec<u8>, Expect)> = vec![
        ("magic", with(OFF_MAGIC, b"IPCRING2"), |e| {
            matches!(e, Error::NotARing { .. })
        }),
        ("abi_version", with(OFF_ABI, &(abi + 1).to_le_bytes()), |e| {
            matches!(e, Error::AbiMismatch { .. })
        }),
        ("layout_hash", with(OFF_HASH, &(hash ^ 1).to_le_bytes()), |e| {
            matches!(e, Error::LayoutMismatch { .. })
        }),
        ("kind", with(OFF_KIND, &7u32.to_le_bytes()), |e| {
            matches!(e, Error::Corrupted { .. })
        }),
        ("wake", with(OFF_WAKE, &9u32.to_le_bytes()), |e| {
            matches!(e, Error::Corrupted { .. })
        }),
        ("fences 0", with(OFF_FENCES, &0u32.to_le_bytes()), |e| {
            matches!(
                e,
                Error::Corrupted {
                    what: "unknown fence mode"
                }
            )
        }),
        ("fences 3", with(OFF_FENCES, &3u32.to_le_bytes()), |e| {
            matches!(
                e,
                Error::Corrupted {
                    what: "unknown fence mode"
                }
            )
        }),
        (
            "capacity 2^24 + 1",
            with(OFF_CAPACITY, &((1u64 << 24) + 1).to_le_bytes()),
            |e| matches!(e, Error::Corrupted { .. }),
        ),
        (
            "capacity 3 (smaller than the object)",
            with(OFF_CAPACITY, &3u64.to_le_bytes()),
            |e| matches!(e, Error::SizeMismatch { .. } | Error::Corrupted { .. }),
        ),
        ("bytes", with(OFF_BYTES, &8u64.to_le_bytes()), |e| {
            matches!(e, Error::Corrupted { .. })
        }),
        ("capacity 0", with(OFF_CAPACITY, &0u64.to_le_bytes()), |e| {
            matches!(e, Error::Corrupted { .. })
        }),
        (
            "capacity 32 (larger than the object)",
            with(OFF_CAPACITY, &32u64.to_le_bytes()),
            |e| matches!(e, Error::SizeMismatch { .. } | Error::Corrupted { .. }),
        ),
        ("msg_size 0", with(OFF_MSG_SIZE, &0u64.to_le_bytes()), |e| {
            matches!(e, Error::Corrupted { .. })
        }),
        ("msg_size huge", with(OFF_MSG_SIZE, &u64::MAX.to_le_bytes()), |e| {
            matches!(e, Error::Corrupted { .. })
        }),
        (
            "slot_size",
            with(OFF_SLOT_SIZE, &(g.slot_size + 64).to_le_bytes()),
            |e| matches!(e, Error::Corrupted { .. }),
        ),
        (
            "region_size",
            with(OFF_REGION_SIZE, &(g.region_size * 2).to_le_bytes()),
            |e| matches!(e, Error::SizeMismatch { .. }),
        ),
    ];
    for (what, b, ok) in cases {
        match open_bytes(&name, &b) {
            Err(e) if ok(&e) => {}
            other => panic!("header with a bad {what}: {other:?}"),
        }
    }
    // Never initialised (init word 0) and no creator holds the init lock: CreatorDied.
    match open_bytes(&name, &with(OFF_INIT, &0u32.to_le_bytes())) {
        Err(Error::CreatorDied) => {}
        other => panic!("init word 0: {other:?}"),
    }

    // SPSC (ABI 5): `bytes` sizes the region; `capacity` is a bound on messages (0: none),
    // so a different capacity in range is a valid ring of that bound, and one out of range
    // is not.
    let (bytes, g) = valid_ring_bytes(&RingOptions::new().capacity(16).msg_size(64));
    let with = |offset: u64, field: &[u8]| {
        let mut b = bytes.clone();
        b[offset as usize..offset as usize + field.len()].copy_from_slice(field);
        b
    };
    let cases: Vec<(&str, Vec<u8>, Expect)> = vec![
        (
            "spsc bytes not a multiple of 8",
            with(OFF_BYTES, &(g.bytes - 4).to_le_bytes()),
            |e| matches!(e, Error::Corrupted { .. }),
        ),
        (
            "spsc bytes below msg_size",
            with(OFF_BYTES, &32u64.to_le_bytes()),
            |e| matches!(e, Error::Corrupted { .. }),
        ),
        (
            "spsc bytes larger than the object",
            with(OFF_BYTES, &(g.bytes * 2).to_le_bytes()),
            |e| matches!(e, Error::SizeMismatch { .. } | Error::Corrupted { .. }),
        ),
        (
            "spsc capacity 2^24 + 1",
            with(OFF_CAPACITY, &((1u64 << 24) + 1).to_le_bytes()),
            |e| matches!(e, Error::Corrupted { .. }),
        ),
        (
            "spsc slot_size",
            with(OFF_SLOT_SIZE, &(g.slot_size + 8).to_le_bytes()),
            |e| matches!(e, Error::Corrupted { .. }),
        ),
    ];
    for (what, b, ok) in cases {
        match open_bytes(&name, &b) {
            Err(e) if ok(&e) => {}
            other => panic!("header with a bad {what}: {other:?}"),
        }
    }
    for cap in [0u64, 3, 1 << 24] {
        let r = open_bytes(&name, &with(OFF_CAPACITY, &cap.to_le_bytes()))
            .unwrap_or_else(|e| panic!("spsc capacity {cap}: {e}"));
        assert_eq!((r.geometry().capacity, r.geometry().bytes), (cap, g.bytes));
    }
}

/// The ABI version and layout hash, poked in a live ring's object through /dev/shm, make
/// later opens fail with the values in the error.
#[test]
fn poked_abi_version_and_layout_hash_in_place() {
    let _serial = serial();
    let opts = RingOptions::new().capacity(8).msg_size(32);

    let name = ShmName::new("abi");
    let ring = Ring::create(name.as_str(), &opts).unwrap();
    poke(&name.path(), OFF_ABI, &0xABCDu32.to_le_bytes());
    match Ring::open_with(name.as_str(), &short()) {
        Err(Error::AbiMismatch { expected, found }) => {
            assert_eq!(found, 0xABCD);
            assert_ne!(expected, found);
        }
        other => panic!("poked abi_version: {other:?}"),
    }
    drop(ring);

    let name = ShmName::new("layout");
    let ring = Ring::create(name.as_str(), &opts).unwrap();
    let hash = u64::from_le_bytes(std::fs::read(name.path()).unwrap()[16..24].try_into().unwrap());
    poke(&name.path(), OFF_HASH, &(!hash).to_le_bytes());
    match Ring::open_with(name.as_str(), &short()) {
        Err(Error::LayoutMismatch { expected, found }) => assert_eq!((expected, found), (hash, !hash)),
        other => panic!("poked layout_hash: {other:?}"),
    }
    drop(ring);

    // A ring marked poisoned opens, but refuses new endpoints.
    let name = ShmName::new("poison");
    let ring = Ring::create(name.as_str(), &opts).unwrap();
    poke(&name.path(), OFF_POISON, &1u32.to_le_bytes());
    let again = Ring::open(name.as_str()).expect("a poisoned ring still opens");
    assert!(matches!(again.sender(), Err(Error::Corrupted { .. })));
    assert!(matches!(ring.receiver(), Err(Error::Corrupted { .. })));
}

/// Truncated or extended objects: SizeMismatch (a whole header that disagrees with the size)
/// or NotARing / NotReady (less than a header).
#[test]
fn truncated_objects_are_refused() {
    let _serial = serial();
    let (bytes, g) = valid_ring_bytes(&RingOptions::new().capacity(16).msg_size(64));
    let name = ShmName::new("truncated");
    let header = 4096usize;
    for (what, b) in [
        ("header only", bytes[..header].to_vec()),
        ("one slot short", bytes[..bytes.len() - g.slot_size as usize].to_vec()),
        ("one byte short", bytes[..bytes.len() - 1].to_vec()),
        ("a page too long", [&bytes[..], &[0u8; 4096][..]].concat()),
    ] {
        match open_bytes(&name, &b) {
            Err(Error::SizeMismatch { expected, actual }) => {
                assert_eq!((expected, actual), (g.region_size, b.len() as u64), "{what}");
            }
            other => panic!("{what} ({} bytes): {other:?}", b.len()),
        }
    }
    for (what, b) in [("100 bytes of a ring", bytes[..100].to_vec()), ("one byte", vec![1u8])] {
        match open_bytes(&name, &b) {
            Err(Error::NotARing { .. } | Error::NotReady | Error::SizeMismatch { .. }) => {}
            other => panic!("{what}: {other:?}"),
        }
    }
    // Truncating a ring's object in place (its creator no longer maps it).
    let live = ShmName::new("truncated-live");
    drop(Ring::create(live.as_str(), &RingOptions::new().capacity(16).msg_size(64)).unwrap());
    std::fs::OpenOptions::new()
        .write(true)
        .open(live.path())
        .unwrap()
        .set_len(4096 + 64)
        .unwrap();
    assert!(matches!(
        Ring::open_with(live.as_str(), &short()),
        Err(Error::SizeMismatch { .. })
    ));
}

/// A zero-length object (a creator that never got past shm_open) is NotReady once the open
/// timeout has passed, not before.
#[test]
fn zero_length_object_is_not_ready_after_open_timeout() {
    let _serial = serial();
    let name = ShmName::new("empty");
    std::fs::write(name.path(), b"").unwrap();
    for timeout in [Duration::from_millis(50), Duration::from_millis(300)] {
        let start = Instant::now();
        match Ring::open_with(name.as_str(), &RingOptions::new().open_timeout(timeout)) {
            Err(Error::NotReady) => {}
            other => panic!("zero-length object: {other:?}"),
        }
        let took = start.elapsed();
        assert!(
            took >= timeout,
            "NotReady after {took:?}, before the {timeout:?} open timeout"
        );
        assert!(took < Duration::from_secs(10), "open took {took:?}");
    }
}

// ---------------------------------------------------------------------------------------
// Names pre-created by someone else
// ---------------------------------------------------------------------------------------

/// A name pre-created by someone else as a regular file of garbage: open is a typed error,
/// and neither open nor create changes a byte of it (or its mode).
#[test]
fn pre_created_garbage_file_is_refused_and_untouched() {
    let _serial = serial();
    let name = ShmName::new("precreated-garbage");
    let garbage: Vec<u8> = (0..3 * 4096u64).map(|i| mix(i) as u8).collect();
    write_object(&name, &garbage, 0o600);
    match Ring::open_with(name.as_str(), &short()) {
        Err(Error::NotARing { .. } | Error::NotReady) => {}
        other => panic!("garbage file: {other:?}"),
    }
    assert!(matches!(
        Ring::create(name.as_str(), &RingOptions::new()),
        Err(Error::AlreadyExists { .. })
    ));
    let meta = std::fs::metadata(name.path()).unwrap();
    assert_eq!(std::fs::read(name.path()).unwrap(), garbage, "the garbage was modified");
    assert_eq!(meta.permissions().mode() & 0o7777, 0o600);
}

/// A name that is a symlink to a real, valid ring: open (with or without options, and through
/// an address) does not follow it, and the ring behind it is not modified; the error is the
/// typed PermissionDenied (ELOOP from O_NOFOLLOW). The earlier test links to a non-ring file,
/// where following it would fail anyway; here following it would succeed.
#[test]
fn symlink_to_a_valid_ring_is_not_followed() {
    let _serial = serial();
    let real = ShmName::new("symlink-real");
    let ring = Ring::create(real.as_str(), &RingOptions::new().capacity(4).msg_size(16)).unwrap();
    ring.sender().unwrap().send(b"behind the link").unwrap();
    let before = std::fs::read(real.path()).unwrap();
    let link = ShmName::new("symlink-to-ring");
    std::os::unix::fs::symlink(real.path(), link.path()).unwrap();
    for (what, r) in [
        ("open", Ring::open(link.as_str()).map(drop)),
        ("open_with", Ring::open_with(link.as_str(), &short()).map(drop)),
        (
            "Receiver::open",
            ipcring::Receiver::open(&format!("shm://{}", link.as_str()), ipcring::Create::No).map(drop),
        ),
        (
            "Receiver::open IfMissing",
            ipcring::Receiver::open(&format!("shm://{}", link.as_str()), ipcring::Create::IfMissing).map(drop),
        ),
        ("create", Ring::create(link.as_str(), &RingOptions::new()).map(drop)),
    ] {
        match r {
            Err(Error::PermissionDenied { .. } | Error::AlreadyExists { .. }) => {}
            other => panic!("{what} through a symlink: {other:?}"),
        }
    }
    assert!(
        std::fs::symlink_metadata(link.path()).unwrap().file_type().is_symlink(),
        "the symlink itself was replaced"
    );
    assert_eq!(
        std::fs::read(real.path()).unwrap(),
        before,
        "the ring behind the link changed"
    );
    assert_eq!(ring.len(), 1);
    // A symlink to a file outside /dev/shm: the same, and the file is untouched.
    let outside = TempPath::new("symlink-outside");
    std::fs::write(outside.path(), &before).unwrap();
    let link2 = ShmName::new("symlink-outside");
    std::os::unix::fs::symlink(outside.path(), link2.path()).unwrap();
    assert!(matches!(
        Ring::open(link2.as_str()),
        Err(Error::PermissionDenied { .. })
    ));
    assert_eq!(std::fs::read(outside.path()).unwrap(), before);
}

/// A valid-looking ring object pre-created with mode 0666 (or any mode that lets group or
/// others write) is refused at open with PermissionDenied, before its header is trusted:
/// anyone could rewrite it under us. An opener that asks for that permission itself
/// (`perm=0666`, `RingOptions::mode`) shares it knowingly and opens it; group/other *read*
/// alone is not refused. Nothing is modified either way.
#[test]
fn pre_created_writable_object_is_refused() {
    let _serial = serial();
    let (bytes, g) = valid_ring_bytes(&RingOptions::new().capacity(8).msg_size(32));
    let name = ShmName::new("precreated-0666");
    for mode in [0o666, 0o622, 0o620, 0o602, 0o660, 0o777] {
        write_object(&name, &bytes, mode);
        for (what, r) in [
            ("open", Ring::open(name.as_str()).map(drop)),
            ("open_with", Ring::open_with(name.as_str(), &short()).map(drop)),
            (
                "Sender::open",
                ipcring::Sender::open(&format!("shm://{}", name.as_str()), ipcring::Create::No).map(drop),
            ),
            (
                "Receiver::open IfMissing",
                ipcring::Receiver::open(&format!("shm://{}", name.as_str()), ipcring::Create::IfMissing).map(drop),
            ),
        ] {
            match r {
                Err(Error::PermissionDenied { .. }) => {}
                other => panic!("{what} of a mode {mode:o} object: {other:?}"),
            }
        }
        assert_eq!(
            std::fs::read(name.path()).unwrap(),
            bytes,
            "mode {mode:o}: object modified"
        );
        let got = std::fs::metadata(name.path()).unwrap().permissions().mode() & 0o777;
        assert_eq!(got, mode, "mode changed by a refused open");
        // Asked for: opens.
        let r = Ring::open_with(name.as_str(), &short().perm(mode)).expect("the opener asked for this mode");
        assert_eq!(r.geometry(), g);
        drop(r);
        let addr = format!("shm://{}?perm=0{mode:o}", name.as_str());
        drop(ipcring::Sender::open(&addr, ipcring::Create::No).expect("perm in the address"));
    }
    // Readable by others, writable only by the owner: opens.
    for mode in [0o644, 0o640, 0o604, 0o400 | 0o200] {
        write_object(&name, &bytes, mode);
        let r = Ring::open_with(name.as_str(), &short()).unwrap_or_else(|e| panic!("mode {mode:o}: {e}"));
        assert_eq!(r.geometry(), g);
    }
    // The library's own group-shared ring: its creator asked for 0660, so do its peers.
    let shared = ShmName::new("group-shared");
    let opts = RingOptions::new().capacity(4).msg_size(8).perm(0o660);
    let ring = Ring::create(shared.as_str(), &opts).unwrap();
    assert!(matches!(
        Ring::open(shared.as_str()),
        Err(Error::PermissionDenied { .. })
    ));
    let peer = Ring::open_with(shared.as_str(), &RingOptions::new().perm(0o660)).unwrap();
    ring.sender().unwrap().send(b"g").unwrap();
    assert_eq!(peer.receiver().unwrap().recv_vec().unwrap(), b"g");
}

/// Wrong sizes on an otherwise valid object, pre-created by hand: shorter or longer than the
/// header claims by amounts the earlier test does not use (half a slot, a byte over, a huge
/// sparse tail), and a header claiming a larger region than the object: SizeMismatch, the
/// object untouched.
#[test]
fn pre_created_wrong_size_is_size_mismatch() {
    let _serial = serial();
    let (bytes, g) = valid_ring_bytes(&RingOptions::new().kind(Kind::Mpmc).capacity(8).msg_size(32));
    let name = ShmName::new("precreated-size");
    let cases: Vec<(&str, u64)> = vec![
        ("half a slot short", g.region_size - g.slot_size / 2),
        ("one byte over", g.region_size + 1),
        ("a slot over", g.region_size + g.slot_size),
        ("1 GiB sparse tail", g.region_size + (1 << 30)),
        ("header plus one byte", 4097),
    ];
    for (what, len) in cases {
        write_object(&name, &bytes, 0o600);
        std::fs::OpenOptions::new()
            .write(true)
            .open(name.path())
            .unwrap()
            .set_len(len)
            .unwrap();
        match Ring::open_with(name.as_str(), &short()) {
            Err(Error::SizeMismatch { expected, actual }) => {
                assert_eq!((expected, actual), (g.region_size, len), "{what}")
            }
            other => panic!("{what} ({len} bytes): {other:?}"),
        }
        assert_eq!(
            std::fs::metadata(name.path()).unwrap().len(),
            len,
            "{what}: size changed"
        );
    }
    // The header claims twice the region (consistent capacity and region_size), the object
    // is the original size.
    let mut big = bytes.clone();
    big[OFF_CAPACITY as usize..OFF_CAPACITY as usize + 8].copy_from_slice(&16u64.to_le_bytes());
    let claimed = 4096 + 16 * g.slot_size;
    big[OFF_REGION_SIZE as usize..OFF_REGION_SIZE as usize + 8].copy_from_slice(&claimed.to_le_bytes());
    big[OFF_BYTES as usize..OFF_BYTES as usize + 8].copy_from_slice(&(16 * g.slot_size).to_le_bytes());
    match open_bytes(&name, &big) {
        Err(Error::SizeMismatch { expected, actual }) => assert_eq!((expected, actual), (claimed, g.region_size)),
        other => panic!("header claims {claimed} bytes: {other:?}"),
    }
}

/// A ring object owned by another user.
///
/// Decision: ownership alone is not refused. A ring that another uid created and shared with
/// us on purpose (a service's group-shared ring, `perm=0660`) is legitimate, and whether we
/// may use it at all is the kernel's permission check (EACCES → PermissionDenied). What the
/// library refuses is a mode letting group or others write beyond what the opener asked
/// for (see `pre_created_writable_object_is_refused`), whoever the owner.
///
/// Needs root (to chown); as an ordinary user it checks the kernel's refusal instead, on an
/// object without our permission bits.
#[test]
fn foreign_owned_object() {
    let _serial = serial();
    let (bytes, g) = valid_ring_bytes(&RingOptions::new().capacity(8).msg_size(32));
    let name = ShmName::new("foreign");
    write_object(&name, &bytes, 0o600);
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        // Not root: an object we cannot read or write is PermissionDenied from the kernel.
        std::fs::set_permissions(name.path(), std::fs::Permissions::from_mode(0o000)).unwrap();
        assert!(matches!(
            Ring::open_with(name.as_str(), &short()),
            Err(Error::PermissionDenied { .. })
        ));
        eprintln!("foreign_owned_object: not root, chown part skipped");
        return;
    }
    let f = std::fs::File::open(name.path()).unwrap();
    use std::os::fd::AsRawFd;
    // SAFETY: f is an open descriptor of the object; 65534 is nobody/nogroup.
    assert_eq!(unsafe { libc::fchown(f.as_raw_fd(), 65534, 65534) }, 0, "fchown");
    drop(f);
    // Owned by nobody, mode 0600: root may use it (DAC override), and the library does not
    // refuse it for its owner: it opens and works.
    let ring = Ring::open_with(name.as_str(), &short()).expect("a foreign-owned 0600 ring the kernel lets us open");
    assert_eq!(ring.geometry(), g);
    let (mut tx, mut rx) = (ring.sender().unwrap(), ring.receiver().unwrap());
    tx.send(b"shared").unwrap();
    assert_eq!(rx.recv_vec().unwrap(), b"shared");
    drop((tx, rx, ring));
    // Owned by nobody and writable by others: refused as for any owner.
    std::fs::set_permissions(name.path(), std::fs::Permissions::from_mode(0o666)).unwrap();
    assert!(matches!(
        Ring::open_with(name.as_str(), &short()),
        Err(Error::PermissionDenied { .. })
    ));
    // The kernel's own refusal, seen by an unprivileged opener: a forked child that drops to
    // another uid (neither owner nor in a group) gets PermissionDenied, not a crash.
    std::fs::set_permissions(name.path(), std::fs::Permissions::from_mode(0o600)).unwrap();
    let child = fork("setuid", || {
        // SAFETY: this forked, single-threaded child changes only its own credentials.
        assert_eq!(unsafe { libc::setgid(65533) }, 0, "setgid");
        // SAFETY: as above.
        assert_eq!(unsafe { libc::setuid(65533) }, 0, "setuid");
        match Ring::open_with(name.as_str(), &short()) {
            Err(Error::PermissionDenied { .. }) => {}
            other => panic!("uid 65533 opening a 0600 object of uid 65534: {other:?}"),
        }
    });
    child.expect_success(HANG_BOUND);
}
