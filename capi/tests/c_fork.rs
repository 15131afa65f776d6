//! Fork safety of the C library: `tests/c/fork_pool.c` forks a multi-threaded parent 500 times
//! while three other threads open and close handles, and every child must open, use and close
//! its own handles and exit 0. With the handle-shell pool behind a lock, a fork taken while a
//! thread held it left the child's copy locked for ever (the child hung at its first open);
//! the program kills any child that has not exited after 20 s and fails, naming the fork.

#[path = "../../tests/common/mod.rs"]
mod common;

use common::c::{cc, profile_dir, repo};
use common::{serial, spawn_command, wait_all};
use std::process::Command;
use std::time::Duration;

/// The whole program's bound; a hung child is killed by the program itself after 20 s.
const BOUND: Duration = Duration::from_secs(300);

#[test]
fn children_of_a_threaded_parent_open_and_close_handles() {
    let _g = serial();
    let dir = profile_dir().join("c-fork");
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("create {}: {e}", dir.display()));
    let exe = dir.join("fork_pool");
    cc(&[&repo().join("tests/c/fork_pool.c")], &exe, &["-pthread"]);
    let mut cmd = Command::new(&exe);
    cmd.arg("500");
    let e = wait_all(vec![spawn_command("fork_pool", cmd)], BOUND)
        .pop()
        .expect("one child");
    assert!(e.success(), "{}", e.describe());
    assert!(e.stdout.contains("fork_pool: 500 forks"), "{}", e.describe());
}
