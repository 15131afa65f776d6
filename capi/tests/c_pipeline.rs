//! The mixed-language pipeline: a C producer process feeding a Rust consumer process, and a
//! Rust producer feeding a C consumer, through one named shared-memory ring, every message's
//! seq, length, payload and checksum verified by the consumer.
//!
//! - C side: `c-examples/pipeline_producer.c` / `pipeline_consumer.c` (format in
//!   `c-examples/pipeline_format.h`), built with the examples' Makefile ([`common::c::make_examples`]).
//! - Rust side: `examples/pipeline.rs` (format in `tests/common/msg.rs`), which a plain `cargo
//!   test` builds into `target/PROFILE/examples/pipeline`.
//!
//! The first process started creates the ring and the second opens it (the test waits for
//! the object to appear between the two), so each language takes the creator's part in one
//! test and the opener's in another. Hang bound: no progress of the ring's cursors for
//! [`STALL`]; no duration is asserted. `IPCRING_PIPELINE_MESSAGES` overrides the 1,000,000.
//!
//! The same C programs also run over `fifo:///path` and `unix:///path` (100,000 messages,
//! `IPCRING_PIPELINE_FALLBACK_MESSAGES`), with this test process as the Rust side: see the
//! end of the file.

#[path = "../../tests/common/mod.rs"]
mod common;

use common::{c, env_u64, ring_progress, serial, spawn_command, wait_all, wait_all_progress, ShmName};
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

/// A run that makes no progress for this long is killed as hung.
const STALL: Duration = Duration::from_secs(300);
/// The geometry of every pipeline: 256-byte messages, so payloads of 0..=236 bytes.
const GEOMETRY: &str = "capacity=1024&msg_size=256";

/// `target/PROFILE/examples/pipeline`.
fn rust_pipeline() -> PathBuf {
    let exe = c::profile_dir().join("examples").join("pipeline");
    assert!(
        exe.is_file(),
        "{} is missing. Examples are built by a plain `cargo test{}` (all targets), or by \
         `cargo build{} --example pipeline`; `cargo test --test c_pipeline` alone does not build them.",
        exe.display(),
        profile_flag(),
        profile_flag(),
    );
    // `cargo test --test c_pipeline` does not rebuild it either: refuse a stale one.
    let built = modified(&exe);
    let repo = c::repo();
    let mut sources = vec![repo.join("examples/pipeline.rs"), repo.join("tests/common/msg.rs")];
    let src = std::fs::read_dir(repo.join("src")).expect("read src/");
    sources.extend(src.flatten().map(|e| e.path()).filter(|p| p.is_file()));
    if let Some(newer) = sources.iter().find(|s| modified(s) > built) {
        panic!(
            "{} is older than {}: rebuild it with `cargo build{} --example pipeline` (or run a plain `cargo test`)",
            exe.display(),
            newer.display(),
            profile_flag(),
        );
    }
    exe
}

/// The cargo flag that selects this test binary's profile (" --release", "", " --profile X").
fn profile_flag() -> String {
    match c::profile_dir().file_name().and_then(|n| n.to_str()) {
        Some("debug") => String::new(),
        Some("release") => " --release".into(),
        Some(other) => format!(" --profile {other}"),
        None => String::new(),
    }
}

fn modified(p: &std::path::Path) -> std::time::SystemTime {
    std::fs::metadata(p)
        .and_then(|m| m.modified())
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// `target/PROFILE/c-examples/NAME`, built by the examples' Makefile.
fn c_program(name: &str) -> PathBuf {
    let exe = c::make_examples().join(name);
    assert!(exe.is_file(), "the c-examples Makefile did not build {}", exe.display());
    exe
}

#[derive(Clone, Copy, Debug)]
enum Lang {
    C,
    Rust,
}

#[derive(Clone, Copy, Debug)]
enum Starts {
    Producer,
    Consumer,
}

fn command(lang: Lang, role: &str, address: &str, count: u64) -> Command {
    let mut cmd = match lang {
        Lang::C => Command::new(c_program(match role {
            "produce" => "pipeline_producer",
            _ => "pipeline_consumer",
        })),
        Lang::Rust => {
            let mut cmd = Command::new(rust_pipeline());
            cmd.arg(role);
            cmd
        }
    };
    cmd.arg(address).arg(count.to_string());
    cmd
}

/// Runs `producer` → `consumer` over a fresh ring with `options` and checks that both exit 0
/// and that the consumer verified exactly `count` messages.
fn pipeline(producer: Lang, consumer: Lang, options: &str, count: u64, first: Starts) {
    let name = ShmName::new("pipeline");
    let address = format!("shm://{}?{options}", name.as_str());
    let p = command(producer, "produce", &address, count);
    let c = command(consumer, "consume", &address, count);
    let (p_label, c_label) = (format!("{producer:?} producer"), format!("{consumer:?} consumer"));
    let (first_cmd, first_label, second_cmd, second_label) = match first {
        Starts::Producer => (p, p_label, c, c_label),
        Starts::Consumer => (c, c_label, p, p_label),
    };
    let mut first_child = spawn_command(&first_label, first_cmd);
    // The first process creates the ring; the second then opens the existing one.
    let start = Instant::now();
    while !name.path().exists() {
        if start.elapsed() > Duration::from_secs(60) {
            first_child.kill();
            let e = wait_all(vec![first_child], Duration::from_secs(10));
            panic!("{} never created {address}:\n{}", first_label, e[0].describe());
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    let second_child = spawn_command(&second_label, second_cmd);
    let exits = wait_all_progress(vec![first_child, second_child], STALL, ring_progress(name.as_str()));

    let failed: Vec<String> = exits.iter().filter(|e| !e.success()).map(|e| e.describe()).collect();
    assert!(
        failed.is_empty(),
        "{producer:?} -> {consumer:?} over {address}: {} of 2 processes failed:\n{}",
        failed.len(),
        failed.join("\n")
    );
    for e in &exits {
        for line in e.stdout.lines() {
            eprintln!("{producer:?} -> {consumer:?} [{options}] {}: {line}", e.label);
        }
    }
    let consumer_exit = exits
        .iter()
        .find(|e| e.label.contains("consumer"))
        .expect("the consumer ran");
    let want = format!("received {count} messages, all verified");
    assert!(
        consumer_exit.stdout.lines().any(|l| l == want),
        "the consumer did not report {want:?}:\n{}",
        consumer_exit.describe()
    );
    let producer_exit = exits
        .iter()
        .find(|e| e.label.contains("producer"))
        .expect("the producer ran");
    assert!(
        producer_exit.stdout.starts_with(&format!("sent {count} messages")),
        "the producer did not report {count} messages sent:\n{}",
        producer_exit.describe()
    );
    // The consumer removes the ring's name when it is done.
    assert!(
        !name.path().exists(),
        "{} is still there after the consumer finished",
        name.path().display()
    );
}

fn messages() -> u64 {
    env_u64("IPCRING_PIPELINE_MESSAGES", 1_000_000)
}

#[test]
fn c_producer_to_rust_consumer() {
    let _g = serial();
    pipeline(Lang::C, Lang::Rust, GEOMETRY, messages(), Starts::Producer);
}

#[test]
fn rust_producer_to_c_consumer() {
    let _g = serial();
    pipeline(Lang::Rust, Lang::C, GEOMETRY, messages(), Starts::Producer);
}

#[test]
fn c_producer_to_rust_consumer_mpmc_sem() {
    let _g = serial();
    let options = format!("{GEOMETRY}&mode=mpmc&wake=sem");
    pipeline(Lang::C, Lang::Rust, &options, messages() / 10, Starts::Consumer);
}

#[test]
fn rust_producer_to_c_consumer_mpmc_sem() {
    let _g = serial();
    let options = format!("{GEOMETRY}&mode=mpmc&wake=sem");
    pipeline(Lang::Rust, Lang::C, &options, messages() / 10, Starts::Consumer);
}

// ---------------------------------------------------------------------------------------
// Over the fallback transports: the test process is the Rust side
// ---------------------------------------------------------------------------------------
//
// `examples/pipeline.rs` serves shm:// only, so over `fifo:///path` and `unix:///path` the
// Rust side is this test process itself, through the channel API (`ipcring::Receiver::open`
// / `Sender::open`) and the same checker (`common::SeqChecker`). Fewer messages (every one
// is a system call each way). Hang bound: no message for [`STALL`].

/// How many messages the fallback runs send (`IPCRING_PIPELINE_FALLBACK_MESSAGES`).
fn fallback_messages() -> u64 {
    env_u64("IPCRING_PIPELINE_FALLBACK_MESSAGES", 100_000)
}

/// `fifo:///tmp/...` or `unix:///tmp/...` with msg_size 256, and the path it names (removed
/// on drop).
fn fallback_address(scheme: &str) -> (String, common::TempPath) {
    let path = common::TempPath::new(&format!("pipeline-{scheme}"));
    (format!("{scheme}://{}?msg_size=256", path.as_str()), path)
}

/// The C producer sends `count` messages over `address` to a Rust receiver in this process,
/// which verifies each one.
fn c_producer_to_rust_receiver(address: &str, count: u64) {
    // The receiver first: on unix:// it listens; the producer's first send waits for it.
    let mut rx = ipcring::Receiver::open(address, ipcring::Create::IfMissing)
        .unwrap_or_else(|e| panic!("open the receiver of {address}: {e}"));
    let producer = spawn_command("C producer", command(Lang::C, "produce", address, count));
    let msg_size = rx.max_msg_size();
    let mut checker = common::SeqChecker::new(1, Some(msg_size - common::OVERHEAD));
    let mut buf = vec![0u8; msg_size];
    let failure = loop {
        match rx.recv_timeout(&mut buf, STALL) {
            Ok(n) => {
                if let Err(e) = checker.check(&buf[..n]) {
                    break Some(e);
                }
            }
            Err(ipcring::Error::EndOfStream) => break None,
            Err(e) => break Some(format!("receive after {} messages: {e}", checker.count)),
        }
    };
    drop(rx);
    let mut producer = producer;
    if failure.is_some() {
        producer.kill();
    }
    let exit = wait_all(vec![producer], STALL).remove(0);
    if let Some(f) = failure {
        panic!("C producer -> Rust receiver over {address}: {f}\n{}", exit.describe());
    }
    assert!(exit.success(), "the C producer failed:\n{}", exit.describe());
    assert!(
        exit.stdout.starts_with(&format!("sent {count} messages")),
        "the C producer did not report {count} messages sent:\n{}",
        exit.describe()
    );
    checker.assert_complete(count);
    let _ = ipcring::unlink(address);
}

/// A Rust sender in this process sends `count` messages over `address` to the C consumer,
/// which verifies each one and removes the name.
fn rust_sender_to_c_consumer(address: &str, count: u64, path: &std::path::Path) {
    let mut consumer = spawn_command("C consumer", command(Lang::C, "consume", address, count));
    let sent = (|| -> Result<(), String> {
        let mut tx = ipcring::Sender::open(address, ipcring::Create::IfMissing).map_err(|e| format!("open: {e}"))?;
        let msg_size = tx.max_msg_size();
        let max = msg_size - common::OVERHEAD;
        let mut buf = vec![0u8; msg_size];
        for seq in 0..count {
            let n = common::encode(0, seq, max, &mut buf);
            tx.send_timeout(&buf[..n], STALL)
                .map_err(|e| format!("send seq {seq}: {e}"))?;
        }
        Ok(())
    })();
    if sent.is_err() {
        consumer.kill();
    }
    let exit = wait_all(vec![consumer], STALL).remove(0);
    if let Err(e) = sent {
        panic!("Rust sender -> C consumer over {address}: {e}\n{}", exit.describe());
    }
    assert!(exit.success(), "the C consumer failed:\n{}", exit.describe());
    let want = format!("received {count} messages, all verified");
    assert!(
        exit.stdout.lines().any(|l| l == want),
        "the C consumer did not report {want:?}:\n{}",
        exit.describe()
    );
    assert!(
        !path.exists(),
        "{} is still there after the consumer finished",
        path.display()
    );
}

#[test]
fn c_producer_to_rust_receiver_fifo() {
    let _g = serial();
    let (address, _path) = fallback_address("fifo");
    c_producer_to_rust_receiver(&address, fallback_messages());
}

#[test]
fn rust_sender_to_c_consumer_fifo() {
    let _g = serial();
    let (address, path) = fallback_address("fifo");
    rust_sender_to_c_consumer(&address, fallback_messages(), path.path());
}

#[test]
fn c_producer_to_rust_receiver_unix() {
    let _g = serial();
    let (address, _path) = fallback_address("unix");
    c_producer_to_rust_receiver(&address, fallback_messages());
}

#[test]
fn rust_sender_to_c_consumer_unix() {
    let _g = serial();
    let (address, path) = fallback_address("unix");
    rust_sender_to_c_consumer(&address, fallback_messages(), path.path());
}
