//! `ipcring ls`, `stat` and `rm`, run as the real binary against real rings whose endpoints
//! live in real child processes.
//!
//! - `ls` shows a ring with the right kind, capacity, message size and fill (after k
//!   messages), and the live endpoints a child holds; after `kill -9` of the child they are
//!   stale and the ring idle-stale; the queued messages are still intact (received and
//!   checked afterwards), and `rm` then removes the ring.
//! - `stat --json` and `ls --json` parse and carry the library's `inspect` numbers.
//! - `rm` without `--force` refuses a ring with a live endpoint (exit 4) and the ring keeps
//!   working (messages sent after it are received, every seq and checksum checked);
//!   `--force` removes a live one; several addresses: every one is tried, the first
//!   failure's code wins.
//! - A creator killed mid-init (faked: an object of the right size, no READY mark, no init
//!   lock) is creator-died and `rm` removes it; with the init lock held it is initialising
//!   and `rm` refuses it.
//! - Corrupt headers (another ABI version, nonsense sizes, truncated objects) are reported by
//!   `ls` and make `stat` exit 5, with no panic; foreign objects appear only with `--all`.
//! - Missing ring: exit 3; bad address: exit 2; every subcommand's `--help`: exit 0.
//!
//! Every command runs under a hang bound (30 s); no other duration is asserted. Each test
//! checks that it left nothing in /dev/shm.

#[path = "../../tests/common/mod.rs"]
mod common;

use common::*;
use ipcring::inspect::{self, EndpointRole, State};
use ipcring::{FenceMode, Kind, Ring, RingOptions};
use serde_json::Value;
use std::os::fd::AsRawFd;
use std::os::unix::fs::FileExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const HANG: Duration = Duration::from_secs(30);

#[test]
fn child_entry() {
    common::child_entry(|role| match role {
        // Attaches SENDERS senders and RECEIVERS receivers, sends SEND messages from the
        // first sender, says so, and holds everything until killed (or stdin closes).
        "hold" => {
            let ring = Ring::open(&param("RING")).expect("open");
            let mut senders: Vec<_> = (0..param_u64("SENDERS"))
                .map(|_| ring.sender().expect("sender"))
                .collect();
            let receivers: Vec<_> = (0..param_u64("RECEIVERS"))
                .map(|_| ring.receiver().expect("receiver"))
                .collect();
            let max = param_u64("MAX_PAYLOAD") as usize;
            for seq in 0..param_u64("SEND") {
                senders[0].send(&encode_vec(0, seq, max)).expect("send");
            }
            touch(&param("READY"));
            let mut sink = Vec::new();
            let _ = std::io::Read::read_to_end(&mut std::io::stdin(), &mut sink);
            drop((senders, receivers));
        }
        // Attaches a receiver, says so, receives COUNT messages and checks every one.
        "recv" => {
            let ring = Ring::open(&param("RING")).expect("open");
            let mut rx = ring.receiver().expect("receiver");
            touch(&param("READY"));
            let mut check = SeqChecker::new(1, Some(param_u64("MAX_PAYLOAD") as usize));
            for _ in 0..param_u64("COUNT") {
                check.check_or_panic(&rx.recv_vec().expect("recv"));
            }
            check.assert_complete(param_u64("COUNT"));
        }
        other => panic!("unknown role {other:?}"),
    });
}

/// What a run of the binary did.
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

/// Runs `ipcring ARGS` under the hang bound; fails on a signal death or a panic.
fn ipcring(args: &[&str]) -> Run {
    let mut child = Command::new(env!("CARGO_BIN_EXE_ipcring"))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn ipcring");
    let start = Instant::now();
    while child.try_wait().expect("try_wait").is_none() {
        if start.elapsed() > HANG {
            let _ = child.kill();
            panic!("ipcring {args:?} hung for {HANG:?}");
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    let out = child.wait_with_output().expect("wait");
    let run = Run {
        code: out
            .status
            .code()
            .unwrap_or_else(|| panic!("ipcring {args:?} died: {:?}", out.status)),
        stdout: String::from_utf8(out.stdout).expect("utf-8 stdout"),
        stderr: String::from_utf8(out.stderr).expect("utf-8 stderr"),
    };
    assert!(
        !run.stderr.contains("panicked"),
        "ipcring {args:?} panicked:\n{}",
        run.stderr
    );
    run
}

/// Runs `ipcring ARGS` and checks its exit code.
fn expect(code: i32, args: &[&str]) -> Run {
    let r = ipcring(args);
    assert_eq!(
        r.code, code,
        "ipcring {args:?}: exit {} (expected {code})\n--- stdout:\n{}\n--- stderr:\n{}",
        r.code, r.stdout, r.stderr
    );
    r
}

/// The cells of `name`'s row in `ls` output (columns are two or more spaces apart).
fn ls_row(stdout: &str, name: &str) -> Option<Vec<String>> {
    stdout.lines().find_map(|line| {
        let cells: Vec<String> = line
            .split("  ")
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .map(String::from)
            .collect();
        (cells.first().map(String::as_str) == Some(name)).then_some(cells)
    })
}

/// `ipcring ls [--all]`'s row for `name`, checking the header too.
fn ls(name: &str, all: bool) -> Option<Vec<String>> {
    let r = expect(0, if all { &["ls", "--all"][..] } else { &["ls"][..] });
    let header = r.stdout.lines().next().expect("ls prints a header");
    assert_eq!(
        header.split_whitespace().collect::<Vec<_>>(),
        ["NAME", "KIND", "CAP", "MSG", "FILL", "SENDERS", "RECEIVERS", "STATE"]
    );
    ls_row(&r.stdout, name)
}

/// `ipcring ls --json [--all]`'s object for `name`.
fn ls_json(name: &str, all: bool) -> Option<Value> {
    let r = expect(
        0,
        if all {
            &["ls", "--json", "--all"][..]
        } else {
            &["ls", "--json"][..]
        },
    );
    let v: Value = serde_json::from_str(&r.stdout).unwrap_or_else(|e| panic!("ls --json: {e}\n{}", r.stdout));
    v.as_array()
        .expect("ls --json is an array")
        .iter()
        .find(|o| o["name"] == name)
        .cloned()
}

fn row(cells: [&str; 8]) -> Option<Vec<String>> {
    Some(cells.iter().map(|s| s.to_string()).collect())
}

/// Nothing of this process's tests left in /dev/shm.
fn assert_no_leftovers() {
    let prefix = format!("ipcring-test-{}-", std::process::id());
    let left: Vec<String> = std::fs::read_dir("/dev/shm")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.starts_with(&prefix))
        .collect();
    assert!(left.is_empty(), "left in /dev/shm: {left:?}");
}

/// A child holding endpoints of ring `name`, started and attached.
fn hold(name: &ShmName, senders: u64, receivers: u64, send: u64, max_payload: usize) -> ChildProc {
    let ready = TempPath::new("ready");
    let child = spawn(
        "hold",
        &[
            ("RING", name.as_str().to_string()),
            ("SENDERS", senders.to_string()),
            ("RECEIVERS", receivers.to_string()),
            ("SEND", send.to_string()),
            ("MAX_PAYLOAD", max_payload.to_string()),
            ("READY", ready.as_str().to_string()),
        ],
    );
    wait_for_file(ready.path(), HANG);
    child
}

/// SIGKILL, then reap (the kernel has released its locks once it is dead).
fn kill9(mut child: ChildProc) {
    child.kill();
    let exits = wait_all(vec![child], HANG);
    assert!(
        !exits[0].success(),
        "the child was supposed to die: {}",
        exits[0].describe()
    );
}

fn create(name: &ShmName, kind: Kind, capacity: u64, msg_size: u64) {
    // The creating handle is no endpoint: dropping it leaves the ring in place.
    drop(
        Ring::create(
            name.as_str(),
            &RingOptions::new().kind(kind).capacity(capacity).msg_size(msg_size),
        )
        .unwrap(),
    );
}

#[test]
fn ls_shows_live_endpoints_then_stale_after_kill9() {
    let _s = serial();
    {
        let name = ShmName::new("ls");
        let n = name.as_str();
        let max = 128 - OVERHEAD;
        create(&name, Kind::Spsc, 64, 128);
        assert_eq!(
            ls(n, false),
            row([n, "spsc", "64", "128", "0/64 (0%)", "0", "0", "ready"])
        );

        let child = hold(&name, 1, 1, 5, max);
        assert_eq!(
            ls(n, false),
            row([n, "spsc", "64", "128", "5/64 (7%)", "1", "1", "ready"])
        );
        let stat = expect(0, &["stat", &format!("shm://{n}")]).stdout;
        assert!(stat.contains("5/64"), "{stat}");
        let pid = child.pid();
        for index in [0, 1] {
            assert!(
                stat.lines().any(|l| {
                    let w: Vec<&str> = l.split_whitespace().collect();
                    w.len() >= 5 && w[0] == index.to_string() && w[2] == pid.to_string() && w[4] == "alive"
                }),
                "endpoint {index} of pid {pid} not shown alive:\n{stat}"
            );
        }

        kill9(child);
        assert_eq!(
            ls(n, false),
            row([
                n,
                "spsc",
                "64",
                "128",
                "5/64 (7%)",
                "0 (+1 stale)",
                "0 (+1 stale)",
                "idle-stale"
            ])
        );
        let stat = expect(0, &["stat", n]).stdout;
        let stale_rows = stat
            .lines()
            .filter(|l| {
                let w: Vec<&str> = l.split_whitespace().collect();
                w.len() >= 5 && w[2] == pid.to_string() && w[4] == "stale"
            })
            .count();
        assert_eq!(stale_rows, 2, "{stat}");

        // The queued messages survived their sender: every one intact.
        {
            let ring = Ring::open(n).unwrap();
            let mut rx = ring.receiver().unwrap();
            let mut check = SeqChecker::new(1, Some(max));
            for _ in 0..5 {
                check.check_or_panic(&rx.recv_vec().unwrap());
            }
            check.assert_complete(5);
            assert_eq!(
                ls(n, false),
                row([n, "spsc", "64", "128", "0/64 (0%)", "0 (+1 stale)", "1", "ready"])
            );
        }

        let rm = expect(0, &["rm", n]);
        assert_eq!(rm.stdout.trim(), format!("removed shm://{n}"));
        assert!(!name.path().exists(), "rm left the object");
        assert_eq!(ls(n, false), None);
        expect(3, &["stat", n]);
    }
    assert_no_leftovers();
}

/// `ipcring stat` shows each ring's fence mode (the header's choice), in text and JSON: a
/// ring made with `fence=full` says `full`, one made with the default says `asymmetric` where
/// this process can register for `membarrier(2)` (it can on the test machines).
#[test]
fn stat_shows_the_fence_mode() {
    let _s = serial();
    for (mode, word) in [(FenceMode::Full, "full"), (FenceMode::Asymmetric, "asymmetric")] {
        let name = ShmName::new("fence");
        let n = name.as_str();
        drop(Ring::create(n, &RingOptions::new().capacity(8).msg_size(8).fence(mode)).unwrap());
        let stat = expect(0, &["stat", n]).stdout;
        assert!(
            stat.lines().any(|l| l.split_whitespace().take(2).eq(["fences", word])),
            "stat does not say `fences {word}`:\n{stat}"
        );
        let json: Value = serde_json::from_str(&expect(0, &["stat", "--json", n]).stdout).unwrap();
        assert_eq!(json["fence"], word);
    }
}

/// An SPSC ring sized in bytes (ABI 5): `stat` shows its bytes, the records queued and the
/// bytes they fill; `ls` its fill in bytes, since no capacity bounds its messages.
#[test]
fn stat_shows_the_byte_geometry() {
    let _s = serial();
    {
        let name = ShmName::new("bytes");
        let n = name.as_str();
        let ring = Ring::create(n, &RingOptions::new().msg_size(1 << 20).bytes(1 << 20)).unwrap();
        let mut tx = ring.sender().unwrap();
        for _ in 0..3 {
            tx.send(&[7u8; 100]).unwrap();
        }
        // Three records of 8 + 104 bytes.
        let r = expect(0, &["stat", n]);
        for want in [
            "1048576 (data area 1048592 bytes of packed records)",
            "no bound on messages but the bytes",
            "3 messages queued",
            "336 of 1048592 bytes (0%)",
            "3 messages sent",
        ] {
            assert!(r.stdout.contains(want), "stat lacks {want:?}:\n{}", r.stdout);
        }
        let cells = ls(n, false).unwrap();
        assert_eq!(cells[4], "336/1048592 B (0%)", "{cells:?}");
        let v: Value = serde_json::from_str(&expect(0, &["stat", "--json", n]).stdout).unwrap();
        assert_eq!(
            (
                v["bytes"].as_u64(),
                v["capacity"].as_u64(),
                v["fill"].as_u64(),
                v["fill_bytes"].as_u64()
            ),
            (Some(1 << 20), None, Some(3), Some(336))
        );
        assert_eq!((v["sent"].as_u64(), v["received"].as_u64()), (Some(3), Some(0)));
        drop((tx, ring));
        Ring::unlink(n).unwrap();
    }
    assert_no_leftovers();
}

#[test]
fn json_carries_the_library_numbers() {
    let _s = serial();
    {
        let name = ShmName::new("json");
        let n = name.as_str();
        create(&name, Kind::Mpmc, 16, 64);
        let child = hold(&name, 2, 3, 7, 64 - OVERHEAD);
        assert_eq!(
            ls(n, false),
            row([n, "mpmc", "16", "64", "7/16 (43%)", "2", "3", "ready"])
        );

        let lib = inspect::inspect(n).unwrap();
        assert!(matches!(lib.state, State::Ready));
        assert_eq!(
            (lib.live(EndpointRole::Sender), lib.live(EndpointRole::Receiver)),
            (2, 3)
        );
        let g = lib.geometry.unwrap();
        let c = lib.counters.as_ref().unwrap();
        assert_eq!((c.tail, c.head, c.fill), (7, 0, Some(7)));

        let r = expect(0, &["stat", "--json", &format!("shm://{n}?capacity=16")]);
        let stat: Value = serde_json::from_str(&r.stdout).unwrap_or_else(|e| panic!("stat --json: {e}\n{}", r.stdout));
        let listed = ls_json(n, false).expect("ls --json lists the ring");
        for v in [&stat, &listed] {
            assert_eq!(v["ring"], true);
            assert_eq!(v["state"], "ready");
            assert_eq!(v["kind"], "mpmc");
            assert_eq!(v["wake"], "futex");
            assert_eq!(v["fence"], g.fence.name());
            for (key, want) in [
                ("capacity", g.capacity),
                ("msg_size", g.msg_size),
                ("slot_size", g.slot_size),
                ("region_size", g.region_size),
                ("size", lib.size),
                ("tail", c.tail),
                ("head", c.head),
                ("fill", c.fill.unwrap()),
                ("epoch", c.epoch as u64),
                ("uid", lib.uid as u64),
                ("creator_pid", lib.creator_pid.unwrap() as u64),
            ] {
                assert_eq!(v[key].as_u64(), Some(want), "{key} in {v}");
            }
            assert_eq!(v["mode"], format!("{:04o}", lib.mode));
            assert_eq!(v["poisoned"], false);
            assert_eq!(v["data_bell"]["seq"].as_u64(), Some(c.data_bell.seq as u64));
            assert_eq!(v["data_bell"]["waiters"].as_u64(), Some(c.data_bell.waiters as u64));
            assert_eq!(v["space_bell"]["seq"].as_u64(), Some(c.space_bell.seq as u64));
            assert_eq!(v["space_bell"]["waiters"].as_u64(), Some(c.space_bell.waiters as u64));
            assert_eq!(v["senders"]["live"], 2);
            assert_eq!(v["receivers"]["live"], 3);
            let eps = v["endpoints"].as_array().unwrap();
            assert_eq!(eps.len(), lib.endpoints.len());
            for (j, e) in eps.iter().zip(&lib.endpoints) {
                assert_eq!(j["index"].as_u64(), Some(e.index as u64));
                assert_eq!(j["role"], e.role.name());
                assert_eq!(j["pid"].as_u64(), Some(child.pid() as u64));
                assert_eq!(j["pid"].as_u64(), Some(e.pid as u64));
                assert_eq!(j["generation"].as_u64(), Some(e.generation as u64));
                assert_eq!(j["alive"], true);
            }
        }
        kill9(child);
        let v = ls_json(n, false).unwrap();
        assert_eq!(
            (v["senders"]["stale"].as_u64(), v["receivers"]["stale"].as_u64()),
            (Some(2), Some(3))
        );
        assert_eq!(v["label"], "idle-stale");
        expect(0, &["rm", n]);
        assert!(!name.path().exists());
    }
    assert_no_leftovers();
}

#[test]
fn rm_refuses_a_live_ring_which_keeps_working() {
    let _s = serial();
    {
        let name = ShmName::new("rm-live");
        let n = name.as_str();
        let max = 64 - OVERHEAD;
        let count = 100u64;
        create(&name, Kind::Spsc, 8, 64);
        let ready = TempPath::new("ready");
        let rx_child = spawn(
            "recv",
            &[
                ("RING", n.to_string()),
                ("COUNT", count.to_string()),
                ("MAX_PAYLOAD", max.to_string()),
                ("READY", ready.as_str().to_string()),
            ],
        );
        wait_for_file(ready.path(), HANG);

        let r = expect(4, &["rm", n]);
        assert!(
            r.stderr.contains("in use by 1 live endpoint") && r.stderr.contains("--force"),
            "{}",
            r.stderr
        );
        assert!(name.path().exists(), "a refused rm removed the ring");

        // Still works: the receiver child gets every message, checked.
        {
            let ring = Ring::open(n).unwrap();
            let mut tx = ring.sender().unwrap();
            for seq in 0..count {
                tx.send(&encode_vec(0, seq, max)).unwrap();
            }
            run_all(vec![rx_child], HANG);
        }
        assert_eq!(
            ls(n, false),
            row([
                n,
                "spsc",
                "8",
                "64",
                "0/8 (0%)",
                "0 (+1 stale)",
                "0 (+1 stale)",
                "idle-stale"
            ])
        );
        let stat = expect(0, &["stat", "--json", n]).stdout;
        let v: Value = serde_json::from_str(&stat).unwrap();
        // SPSC: the full counts beside the cursor words.
        assert_eq!((v["sent"].as_u64(), v["received"].as_u64()), (Some(count), Some(count)));

        // Several addresses: each tried, the first failure's code wins.
        let missing = ShmName::new("missing");
        let r = expect(3, &["rm", missing.as_str(), &format!("shm://{n}")]);
        assert!(r.stdout.contains(&format!("removed shm://{n}")), "{}", r.stdout);
        assert!(r.stderr.contains(missing.as_str()), "{}", r.stderr);
        assert!(!name.path().exists());
    }
    assert_no_leftovers();
}

#[test]
fn rm_force_removes_a_live_ring() {
    let _s = serial();
    {
        let name = ShmName::new("rm-force");
        let n = name.as_str();
        create(&name, Kind::Mpmc, 8, 32);
        let mut child = hold(&name, 2, 0, 0, 32 - OVERHEAD);
        let r = expect(4, &["rm", &format!("shm://{n}")]);
        assert!(r.stderr.contains("in use by 2 live endpoints"), "{}", r.stderr);
        assert!(name.path().exists());
        let r = expect(0, &["rm", "--force", &format!("shm://{n}")]);
        assert_eq!(r.stdout.trim(), format!("removed shm://{n}"));
        assert!(!name.path().exists(), "rm --force left the object");
        assert_eq!(ls(n, false), None);
        // The holder lives on with its mapping; it ends when its stdin closes.
        child.close_stdin();
        run_all(vec![child], HANG);
    }
    assert_no_leftovers();
}

#[test]
fn creator_died_and_initialising() {
    let _s = serial();
    {
        let name = ShmName::new("init");
        let n = name.as_str();
        // What a creator killed after reserving leaves: the right size, no READY, no lock.
        let g = ipcring::Geometry::new(Kind::Spsc, ipcring::WakeBackend::Futex, 16, 64).unwrap();
        let f = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(name.path())
            .unwrap();
        f.set_len(g.region_size).unwrap();
        assert_eq!(ls(n, false), row([n, "-", "-", "-", "-", "0", "0", "creator-died"]));
        let r = expect(5, &["stat", n]);
        assert!(r.stdout.contains("creator-died"), "{}", r.stdout);
        assert!(r.stderr.contains("creator died"), "{}", r.stderr);

        // A live creator holds the init lock (byte 64) through its own description.
        let holder = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(name.path())
            .unwrap();
        // Byte 64 is the init lock of the shared format (docs/architecture.md), held by a creator.
        ofd_lock(&holder, 64);
        assert_eq!(ls(n, false), row([n, "-", "-", "-", "-", "0", "0", "initialising"]));
        expect(0, &["stat", n]);
        let r = expect(4, &["rm", n]);
        assert!(r.stderr.contains("initialising"), "{}", r.stderr);
        assert!(name.path().exists());
        drop(holder);

        let r = expect(0, &["rm", n]);
        assert_eq!(r.stdout.trim(), format!("removed shm://{n}"));
        assert!(!name.path().exists(), "rm left the dead creator's object");
        drop(f);
    }
    assert_no_leftovers();
}

/// An OFD write lock on `byte` of `file`, as ipcring's creators and endpoints take them.
fn ofd_lock(file: &std::fs::File, byte: usize) {
    // SAFETY: flock is plain data; zero is a valid starting value.
    let mut fl: libc::flock = unsafe { std::mem::zeroed() };
    fl.l_type = libc::F_WRLCK as libc::c_short;
    fl.l_whence = libc::SEEK_SET as libc::c_short;
    fl.l_start = byte as libc::off_t;
    fl.l_len = 1;
    // SAFETY: the fd is open for the call; fl is a valid flock.
    let rc = unsafe { libc::fcntl(file.as_raw_fd(), libc::F_OFD_SETLK, &mut fl) };
    assert_eq!(rc, 0, "F_OFD_SETLK: {}", std::io::Error::last_os_error());
}

#[test]
fn corrupt_headers_are_reported_without_panic() {
    let _s = serial();
    {
        let good = ShmName::new("good");
        create(&good, Kind::Spsc, 8, 32);
        let bytes = std::fs::read(good.path()).unwrap();
        ipcring::Ring::remove(good.as_str(), false).unwrap();

        // (tag, edit of the valid bytes, what ls says)
        type Edit = fn(&mut Vec<u8>);
        let cases: [(&str, Edit, &str); 5] = [
            (
                "abi",
                |b| b[8..12].copy_from_slice(&99u32.to_le_bytes()),
                "abi-mismatch (ABI 99, ours",
            ),
            ("layout", |b| b[16] ^= 1, "layout-mismatch"),
            (
                "sizes",
                // A capacity above 2^24 (any count up to it is a valid SPSC bound).
                |b| b[32..40].copy_from_slice(&((1u64 << 24) + 1).to_le_bytes()),
                "corrupt: header sizes out of range",
            ),
            ("trunc", |b| b.truncate(4096 + 64), "corrupt: object is 4160 bytes"),
            (
                "trunc-header",
                |b| b.truncate(100),
                "corrupt: object truncated below its header",
            ),
        ];
        for (tag, edit, label) in cases {
            let name = ShmName::new(tag);
            let n = name.as_str();
            let mut b = bytes.clone();
            edit(&mut b);
            std::fs::write(name.path(), &b).unwrap();
            let cells = ls(n, false).unwrap_or_else(|| panic!("{tag}: not listed"));
            assert!(cells[7].starts_with(label), "{tag}: {cells:?}");
            assert_eq!(&cells[1..7], ["-", "-", "-", "-", "0", "0"], "{tag}");
            let r = expect(5, &["stat", n]);
            assert!(r.stdout.contains(label), "{tag}: {}", r.stdout);
            let r = expect(5, &["stat", "--json", n]);
            let v: Value = serde_json::from_str(&r.stdout).unwrap();
            assert_eq!(
                (v["ring"].as_bool(), v["state"].as_str()),
                (Some(true), Some("invalid")),
                "{tag}"
            );
            // The library agrees.
            assert!(matches!(inspect::inspect(n).unwrap().state, State::Invalid(_)), "{tag}");
        }
        // A cursor pair no ring can have (tail 1000 on an SPSC area of 8 records of 40 bytes:
        // an offset past the area).
        let name = ShmName::new("cursors");
        let mut b = bytes.clone();
        b[128..136].copy_from_slice(&1000u64.to_le_bytes());
        std::fs::write(name.path(), &b).unwrap();
        let cells = ls(name.as_str(), false).unwrap();
        assert_eq!(cells[7], "corrupt: cursors more than the area apart");
        expect(5, &["stat", name.as_str()]);
        // rm removes a corrupt ring nobody uses.
        expect(0, &["rm", name.as_str()]);
        assert!(!name.path().exists());
    }
    assert_no_leftovers();
}

#[test]
fn foreign_objects_only_with_all() {
    let _s = serial();
    {
        let name = ShmName::new("foreign");
        let n = name.as_str();
        std::fs::write(name.path(), vec![0xabu8; 8192]).unwrap();
        assert_eq!(ls(n, false), None);
        assert_eq!(ls_json(n, false), None);
        assert_eq!(
            ls(n, true),
            row([n, "-", "-", "-", "-", "-", "-", "not a ring: bad magic number"])
        );
        let v = ls_json(n, true).unwrap();
        assert_eq!(v["ring"], false);
        assert!(v["error"].as_str().unwrap().contains("bad magic number"));
        let r = expect(5, &["stat", n]);
        assert!(r.stdout.contains("not a ring: bad magic number"), "{}", r.stdout);
        assert!(r.stdout.contains("8192 bytes"), "{}", r.stdout);
        // Not a ring: rm leaves it unless forced.
        expect(5, &["rm", n]);
        assert!(name.path().exists());
        // The object is not modified by anything above.
        let f = std::fs::File::open(name.path()).unwrap();
        let mut b = vec![0u8; 8192];
        f.read_exact_at(&mut b, 0).unwrap();
        assert!(b.iter().all(|&x| x == 0xab));
        expect(0, &["rm", "--force", n]);
        assert!(!name.path().exists());
    }
    assert_no_leftovers();
}

#[test]
fn usage_errors_missing_rings_and_help() {
    let _s = serial();
    let missing = ShmName::new("missing");
    let m = missing.as_str();
    let r = expect(3, &["stat", m]);
    assert!(r.stderr.contains(m), "{}", r.stderr);
    expect(3, &["stat", &format!("shm://{m}")]);
    expect(3, &["stat", "--json", m]);
    let r = expect(3, &["rm", m]);
    assert!(r.stderr.contains(m), "{}", r.stderr);
    for bad in [
        "tcp://127.0.0.1:1",
        "fifo:///tmp/x",
        "mq://q",
        "smh://x",
        "shm://",
        "a/b",
        "shm://x?capacty=8",
    ] {
        let r = expect(2, &["stat", bad]);
        assert!(r.stderr.contains(bad), "stat {bad}: {}", r.stderr);
    }
    let r = expect(2, &["stat", "unix:///tmp/s"]);
    assert!(r.stderr.contains("stat inspects shm:// rings"), "{}", r.stderr);
    expect(2, &["rm", "bogus://x"]);
    expect(2, &["rm"]);
    expect(2, &["stat"]);
    expect(2, &["ls", "--bogus"]);
    for cmd in ["ls", "stat", "rm"] {
        let r = expect(0, &[cmd, "--help"]);
        assert!(r.stdout.contains("Usage"), "{cmd} --help: {}", r.stdout);
    }
    drop(missing);
    assert_no_leftovers();
}

/// The doorbells (`NAME.bell-rx`, `NAME.bell-tx`, made when an endpoint asks for its
/// descriptor) are shown by `stat` and `ls --json`, removed by `rm` with their ring, and a bell
/// left by a ring that is gone is listed as such and removed by `rm shm://RING`.
#[test]
fn doorbells_are_seen_and_removed() {
    let _g = serial();
    let name = ShmName::new("bells");
    let ring = Ring::create(name.as_str(), &RingOptions::new().capacity(4)).unwrap();
    let rx = ring.receiver().unwrap();
    let tx = ring.sender().unwrap();
    let _ = (rx.as_raw_fd(), tx.as_raw_fd());
    let stat = expect(0, &["stat", name.as_str()]);
    assert!(
        stat.stdout.contains(&format!("{}.bell-rx", name.as_str()))
            && stat.stdout.contains(&format!("{}.bell-tx", name.as_str())),
        "{}",
        stat.stdout
    );
    let j = ls_json(name.as_str(), false).expect("listed");
    assert_eq!(j["doorbells"].as_array().map(Vec::len), Some(2), "{j}");
    // The bells themselves are not listed as objects of their own while the ring is there.
    assert!(ls_json(&format!("{}.bell-rx", name.as_str()), true).is_none());
    drop((rx, tx, ring));
    expect(0, &["rm", &format!("shm://{}", name.as_str())]);
    for s in [".bell-rx", ".bell-tx"] {
        assert!(!shm_path(&format!("{}{s}", name.as_str())).exists(), "{s} left behind");
    }
    // A bell whose ring is gone.
    let orphan = ShmName::new("orphan-bell");
    let bell = format!("{}.bell-tx", orphan.as_str());
    let c = std::ffi::CString::new(format!("/dev/shm/{bell}")).unwrap();
    // SAFETY: a valid path; a FIFO for this test only.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    let j = ls_json(&bell, true).expect("an orphan bell is listed");
    assert!(j.to_string().contains("doorbell of a ring that is gone"), "{j}");
    expect(0, &["rm", &format!("shm://{}", orphan.as_str())]);
    assert!(!shm_path(&bell).exists());
    assert_no_leftovers();
}
