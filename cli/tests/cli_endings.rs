//! Endings from the command line, with real processes: the same `ipcring send` / `ipcring
//! recv` pair run twice on one name, receiver first and sender first, with no `rm` in between,
//! delivers every message both times (shm, fifo, mq, unix: the transports whose name
//! persists); a producer killed with SIGKILL makes `recv` exit with status 6 after what it sent,
//! a clean end with 0 (every transport opened by address).

#[path = "../../tests/common/mod.rs"]
mod common;

use common::chan::free_tcp_port;
use common::{serial, unique_name};
use std::io::Write;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BOUND: Duration = Duration::from_secs(60);

fn ipcring(args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ipcring"));
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

/// `printf 1..=n | ipcring send ADDR --create if-missing`, started.
fn send(addr: &str, n: u32) -> Child {
    let mut child = ipcring(&["send", addr, "--create", "if-missing"])
        .stdin(Stdio::piped())
        .spawn()
        .expect("spawn send");
    let text: String = (1..=n).map(|i| format!("{i}\n")).collect();
    child.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
    child
}

/// Waits for `child` within the bound (killing it past that) and returns its status and
/// output.
fn finish(mut child: Child, what: &str) -> std::process::Output {
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > BOUND {
            let _ = child.kill();
            panic!("{what} did not finish within {BOUND:?}");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    child.wait_with_output().unwrap()
}

fn addresses(tag: &str) -> Vec<String> {
    let name = unique_name(tag);
    let tmp = std::env::temp_dir();
    vec![
        format!("shm://{name}"),
        format!("fifo://{}/{name}.fifo", tmp.display()),
        format!("mq://{name}?capacity=10"),
        format!("unix://{}/{name}.sock", tmp.display()),
    ]
}

fn expect_lines(out: &std::process::Output, n: u32, what: &str) {
    let want: String = (1..=n).map(|i| format!("{i}\n")).collect();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        want,
        "{what}: stderr {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn the_same_pair_twice_in_either_order_delivers_everything() {
    let _s = serial();
    for addr in addresses("rerun") {
        for (round, receiver_first) in [true, true, false, false, true].into_iter().enumerate() {
            let what = format!(
                "{addr} round {round} ({})",
                if receiver_first { "recv first" } else { "send first" }
            );
            let (tx, rx) = if receiver_first {
                let rx = ipcring(&["recv", &addr, "--create", "if-missing"]).spawn().unwrap();
                std::thread::sleep(Duration::from_millis(200));
                (send(&addr, 10), rx)
            } else {
                let tx = send(&addr, 10);
                std::thread::sleep(Duration::from_millis(200));
                (tx, ipcring(&["recv", &addr, "--create", "if-missing"]).spawn().unwrap())
            };
            let out = finish(rx, &what);
            let sent = finish(tx, &what);
            assert!(
                sent.status.success(),
                "{what}: send: {}",
                String::from_utf8_lossy(&sent.stderr)
            );
            assert!(
                out.status.success(),
                "{what}: recv: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            expect_lines(&out, 10, &what);
        }
        let _ = ipcring(&["rm", &addr, "--force"]).output();
    }
}

#[test]
fn a_killed_producer_is_exit_6_a_clean_one_exit_0() {
    let _s = serial();
    let mut addrs = addresses("died");
    addrs.push(format!("tcp://127.0.0.1:{}", free_tcp_port()));
    for addr in addrs {
        for kill in [true, false] {
            let what = format!("{addr} ({})", if kill { "killed" } else { "closed" });
            let rx = ipcring(&["recv", &addr, "--create", "if-missing"]).spawn().unwrap();
            std::thread::sleep(Duration::from_millis(200));
            // The producer sends 3 lines and keeps stdin open, so that it is alive and
            // connected when it is killed (or closed, when stdin ends).
            let mut tx = ipcring(&["send", &addr, "--create", "if-missing"])
                .stdin(Stdio::piped())
                .spawn()
                .unwrap();
            let mut stdin = tx.stdin.take().unwrap();
            stdin.write_all(b"1\n2\n3\n").unwrap();
            stdin.flush().unwrap();
            // Until recv has printed the three lines, we cannot read its stdout without
            // blocking; give the send a moment, generously, then end it.
            std::thread::sleep(Duration::from_millis(500));
            if kill {
                tx.kill().unwrap(); // SIGKILL
            } else {
                drop(stdin);
            }
            let sent = finish(tx, &what);
            let out = finish(rx, &what);
            expect_lines(&out, 3, &what);
            let code = out.status.code();
            if kill {
                assert_eq!(code, Some(6), "{what}: recv: {}", String::from_utf8_lossy(&out.stderr));
                assert!(String::from_utf8_lossy(&out.stderr).contains("died"), "{what}");
            } else {
                assert!(
                    sent.status.success(),
                    "{what}: send: {}",
                    String::from_utf8_lossy(&sent.stderr)
                );
                assert_eq!(code, Some(0), "{what}: recv: {}", String::from_utf8_lossy(&out.stderr));
            }
        }
        let _ = ipcring(&["rm", &addr, "--force"]).output();
    }
}
