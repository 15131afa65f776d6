//! `ipcring recv ADDR | head -n 3` takes out of the ring only what it wrote to the pipe, and
//! writes at most one pipe's worth ahead of its reader: 10,000 messages are queued in an SPSC
//! ring by a Rust sender (kept open, so the ring is live), the shell pipeline runs, and a Rust
//! receiver then counts what is left, checking every message (seq, checksum, bytes) and that
//! the leftovers are exactly the tail of what was sent.
//!
//! The bound: `head` reads one buffer (coreutils: 8 KiB) and exits after three lines; what
//! `recv` had written beyond that is in the pipe (at most its capacity, 64 KiB by default), so
//! the messages lost are at most those whose lines fit in capacity + 8 KiB. The test prints
//! the figure it measured.

#[path = "../../tests/common/mod.rs"]
mod common;

use common::msg::{check_msg, sized_msg};
use common::{serial, unique_name};
use ipcring::{Create, Error, Receiver, Sender};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const N: u64 = 10_000;
const MSG_SIZE: usize = 256;
/// The default capacity of a Linux pipe.
const PIPE: usize = 64 * 1024;
/// What `head` reads at once (coreutils: BUFSIZ).
const HEAD_READ: usize = 8 * 1024;
/// The bound on the pipeline's run: past it, it is killed and the test fails.
const BOUND: Duration = Duration::from_secs(120);

#[test]
fn recv_into_head_leaves_all_but_a_pipe_full() {
    let _g = serial();
    let name = unique_name("cli-head-left");
    let addr = format!("shm://{name}?capacity=16384&msg_size={MSG_SIZE}");
    let mut tx = Sender::open(&addr, Create::Exclusive).expect("create ring");
    for seq in 0..N {
        tx.send(&sized_msg(seq, MSG_SIZE)).expect("send");
    }

    let script = format!(
        "'{}' recv '{addr}' | head -n 3 > /dev/null",
        env!("CARGO_BIN_EXE_ipcring")
    );
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(&script)
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn sh");
    let start = Instant::now();
    loop {
        if let Some(st) = child.try_wait().expect("wait") {
            assert!(st.success(), "{script}: {st:?}");
            break;
        }
        if start.elapsed() > BOUND {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{script} did not end within {BOUND:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }

    let mut rx = Receiver::open(&addr, Create::No).expect("open receiver");
    let mut first = None;
    let mut left = 0u64;
    loop {
        match rx.try_recv_vec() {
            Ok(m) => {
                let seq = *first.get_or_insert_with(|| {
                    (0..N)
                        .find(|&s| sized_msg(s, MSG_SIZE) == m)
                        .expect("a leftover message is one of those sent")
                }) + left;
                check_msg(seq, &m, MSG_SIZE);
                left += 1;
            }
            Err(Error::WouldBlock | Error::EndOfStream) => break,
            Err(e) => panic!("recv: {e}"),
        }
    }
    drop(tx);
    drop(rx);
    let _ = ipcring::unlink(&addr);

    let first = first.unwrap_or(N);
    assert_eq!(first + left, N, "the leftovers are the tail of what was sent");
    // Messages whose lines (message + '\n') fit in a pipe plus head's read, from seq 0.
    let mut bytes = 0;
    let mut fit = 0u64;
    while fit < N {
        bytes += sized_msg(fit, MSG_SIZE).len() + 1;
        if bytes > PIPE + HEAD_READ {
            break;
        }
        fit += 1;
    }
    eprintln!(
        "recv | head -n 3: {left} of {N} messages left in the ring ({} taken; the bound allows {fit} \
         taken: lines fitting in {PIPE} + {HEAD_READ} bytes)",
        N - left
    );
    assert!(
        left >= N - fit,
        "recv took {} messages, more than fit in the pipe and head's read ({fit})",
        N - left
    );
}
