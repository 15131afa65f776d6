//! An event loop in C (`tests/c/event_loop.c`): epoll on `ipcring_fd`, and `ipcring_poll`,
//! over a UNIX socket, a pipe and three channels of different transports (shm, mq, fifo),
//! with a forked sender: idle CPU under 10% of a core, every message checked, a clean close
//! is `IPCRING_EOF`, a SIGKILLed sender ends every channel. The program prints its figures
//! (idle CPU share, latency from the kill to the last end of stream); no duration is asserted
//! here but the hang bound.

#[path = "../../tests/common/mod.rs"]
mod common;

use common::c::{cc, profile_dir, repo};
use common::{serial, spawn_command, unique_name, wait_all, TempPath};
use std::process::Command;
use std::time::Duration;

const BOUND: Duration = Duration::from_secs(120);

fn run(mode: &str) {
    let out = profile_dir().join("c-abi");
    std::fs::create_dir_all(&out).unwrap();
    let exe = out.join("event_loop");
    let include = format!("-I{}", repo().join("c-examples").display());
    cc(&[&repo().join("tests/c/event_loop.c")], &exe, &[&include]);
    let base = unique_name("evloop");
    let dir = TempPath::new("evloop-fifos");
    std::fs::create_dir_all(dir.path()).unwrap();
    let addrs = |tag: &str| {
        vec![
            format!("shm://{base}-{tag}-shm?mode=spsc&msg_size=64&capacity=64"),
            format!("mq://{base}-{tag}-mq?msg_size=64&capacity=10"),
            format!("fifo://{}/{tag}?msg_size=64", dir.as_str()),
        ]
    };
    let (a, k) = (addrs("a"), addrs("k"));
    let mut cmd = Command::new(&exe);
    cmd.arg(mode).args(&a).args(&k);
    let e = wait_all(vec![spawn_command(&format!("event_loop {mode}"), cmd)], BOUND)
        .pop()
        .unwrap();
    for addr in a.iter().chain(&k) {
        let _ = ipcring::remove(addr, true);
    }
    let _ = std::fs::remove_dir_all(dir.path());
    println!("{}", e.stdout);
    assert!(e.success() && e.stdout.contains("all ok"), "{}", e.describe());
}

#[test]
fn epoll_loop_over_rings_a_socket_and_a_pipe() {
    let _g = serial();
    run("epoll");
}

#[test]
fn ipcring_poll_loop_over_rings_a_socket_and_a_pipe() {
    let _g = serial();
    run("poll");
}
