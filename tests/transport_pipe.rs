//! The pipe and FIFO transports (`ipcring::transport`) between real processes: framed
//! messages over `pipe2` across `fork`, over a named FIFO between two re-executed test
//! binaries, and the edge cases (sizes, too-small buffers, timeouts, partial frames, end of
//! stream, SIGPIPE).
//!
//! Messages of 20 bytes or more carry `[producer][seq][payload][fnv]` (tests/common/msg.rs)
//! and are decoded (seq and checksum); shorter ones are bytes derived from their seq. The
//! receiver rebuilds the message each seq implies and compares every byte.
//! `IPCRING_PIPE_MESSAGES` (default 100,000) sets the size of the main run.

// It drives the library's building blocks (or its failpoints) directly: only in the test build.
#![cfg(ipcring_test)]

mod common;

use common::*;
use ipcring::transport::{fifo, pipe, stream};
use ipcring::{Error, Timeout};
use std::os::fd::AsRawFd;
use std::path::Path;
use std::time::Duration;

const MSG_SIZE: usize = 1024;

#[test]
fn child_entry() {
    common::child_entry(|role| match role {
        "fifo_writer" => fifo_writer(),
        "fifo_reader" => fifo_reader(),
        other => panic!("unknown role {other:?}"),
    });
}

/// Receives until end of stream, checking every message; returns how many came.
fn drain_checked(rx: &mut stream::FdReceiver, max: usize) -> u64 {
    let mut buf = vec![0u8; max];
    let mut seq = 0;
    loop {
        match rx.recv(&mut buf, Timeout::Forever) {
            Ok(n) => {
                check_msg(seq, &buf[..n], max);
                seq += 1;
            }
            Err(Error::EndOfStream) => return seq,
            Err(e) => panic!("recv after {seq} messages: {e}"),
        }
    }
}

fn send_all(tx: &mut stream::FdSender, n: u64, max: usize) {
    for seq in 0..n {
        let m = sized_msg(seq, max);
        tx.send(&m, Timeout::Forever)
            .unwrap_or_else(|e| panic!("send seq {seq}: {e}"));
    }
}

// ---------------------------------------------------------------------------------------
// pipe:// across fork
// ---------------------------------------------------------------------------------------

fn fork_run(msg_size: usize, n: u64) {
    let (tx, mut rx) = pipe::pair(msg_size).unwrap();
    let mut tx = Some(tx);
    let child = fork("pipe sender", || {
        let mut tx = tx.take().unwrap();
        send_all(&mut tx, n, msg_size);
    });
    // The child has its copy of the sender (the closure ran only there); drop ours.
    drop(tx);
    let got = drain_checked(&mut rx, msg_size);
    assert_eq!(got, n, "received {got} of {n} messages");
    child.expect_success(HANG_BOUND);
}

#[test]
fn pipe_fork_random_sizes() {
    let _g = serial();
    fork_run(MSG_SIZE, env_u64("IPCRING_PIPE_MESSAGES", 100_000));
}

/// Several writers on one pipe: frames of at most PIPE_BUF bytes are written atomically, so
/// they never interleave; per writer the order is FIFO.
#[test]
fn pipe_fork_several_writers() {
    let _g = serial();
    const WRITERS: u32 = 3;
    let max_payload = MSG_SIZE - OVERHEAD;
    let n = env_u64("IPCRING_PIPE_MESSAGES", 100_000) / 4;
    const _: () = assert!(MSG_SIZE + 4 <= stream::PIPE_BUF);
    let (tx, mut rx) = pipe::pair(MSG_SIZE).unwrap();
    let mut tx = Some(tx);
    let children: Vec<_> = (0..WRITERS)
        .map(|p| {
            fork("pipe writer", || {
                let mut tx = tx.take().unwrap();
                let mut buf = vec![0u8; MSG_SIZE];
                for seq in 0..n {
                    let len = encode(p, seq, max_payload, &mut buf);
                    tx.send(&buf[..len], Timeout::Forever)
                        .unwrap_or_else(|e| panic!("writer {p} seq {seq}: {e}"));
                }
            })
        })
        .collect();
    drop(tx);
    let mut check = SeqChecker::new(WRITERS as usize, Some(max_payload));
    let mut buf = vec![0u8; MSG_SIZE];
    loop {
        match rx.recv(&mut buf, Timeout::Forever) {
            Ok(len) => check.check_or_panic(&buf[..len]),
            Err(Error::EndOfStream) => break,
            Err(e) => panic!("recv after {} messages: {e}", check.count),
        }
    }
    check.assert_complete(n);
    for c in children {
        c.expect_success(HANG_BOUND);
    }
}

/// Frames longer than PIPE_BUF are written and read in pieces; one writer keeps them whole.
#[test]
fn pipe_fork_frames_above_pipe_buf() {
    let _g = serial();
    fork_run(200_000, 2_000);
}

#[test]
fn pipe_size_limits() {
    let _g = serial();
    let (mut tx, mut rx) = pipe::pair(MSG_SIZE).unwrap();
    let mut buf = vec![0u8; MSG_SIZE];
    for len in [0, 1, MSG_SIZE] {
        let m: Vec<u8> = (0..len).map(|i| i as u8).collect();
        tx.send(&m, Timeout::NonBlocking).unwrap();
        assert_eq!(rx.recv(&mut buf, Timeout::NonBlocking).unwrap(), len);
        assert_eq!(&buf[..len], &m[..]);
    }
    let err = tx.send(&vec![0u8; MSG_SIZE + 1], Timeout::NonBlocking).unwrap_err();
    assert!(
        matches!(err, Error::TooLarge { len, max } if len == MSG_SIZE + 1 && max == MSG_SIZE),
        "{err}"
    );
    // Nothing was written.
    assert!(matches!(
        rx.recv(&mut buf, Timeout::NonBlocking),
        Err(Error::WouldBlock)
    ));
    assert!(matches!(
        pipe::pair(u32::MAX as usize + 1),
        Err(Error::InvalidOption { option: "msg_size", .. })
    ));
}

#[test]
fn pipe_buffer_too_small_keeps_message() {
    let _g = serial();
    let (mut tx, mut rx) = pipe::pair(MSG_SIZE).unwrap();
    tx.send(&[5u8; 100], Timeout::NonBlocking).unwrap();
    tx.send(b"next", Timeout::NonBlocking).unwrap();
    let mut small = [0u8; 10];
    for _ in 0..2 {
        let err = rx.recv(&mut small, Timeout::NonBlocking).unwrap_err();
        assert!(
            matches!(
                err,
                Error::BufferTooSmall {
                    needed: 100,
                    capacity: 10
                }
            ),
            "{err}"
        );
    }
    let mut big = [0u8; 100];
    assert_eq!(rx.recv(&mut big, Timeout::NonBlocking).unwrap(), 100);
    assert_eq!(big, [5u8; 100]);
    assert_eq!(rx.recv_vec(Timeout::NonBlocking).unwrap(), b"next");
}

#[test]
fn pipe_timeouts() {
    let _g = serial();
    let (mut tx, mut rx) = pipe::pair(MSG_SIZE).unwrap();
    let mut buf = vec![0u8; MSG_SIZE];
    assert!(matches!(
        rx.recv(&mut buf, Timeout::NonBlocking),
        Err(Error::WouldBlock)
    ));
    assert!(matches!(
        rx.recv(&mut buf, Timeout::after(Duration::from_millis(20))),
        Err(Error::TimedOut)
    ));
    // Fill the pipe: frames of 1028 bytes are atomic, so a full pipe refuses whole frames.
    let mut sent = 0u64;
    loop {
        match tx.send(&sized_msg(1, MSG_SIZE), Timeout::NonBlocking) {
            Ok(()) => sent += 1,
            Err(Error::WouldBlock) => break,
            Err(e) => panic!("send: {e}"),
        }
        assert!(sent < 1_000_000, "the pipe never filled");
    }
    assert!(matches!(
        tx.send(&sized_msg(1, MSG_SIZE), Timeout::after(Duration::from_millis(20))),
        Err(Error::TimedOut)
    ));
    // Every whole frame sent is there.
    let mut got = 0;
    while got < sent {
        let n = rx.recv(&mut buf, Timeout::NonBlocking).unwrap();
        check_msg(1, &buf[..n], MSG_SIZE);
        got += 1;
    }
}

#[test]
fn pipe_partial_frame_kept_across_calls() {
    let _g = serial();
    let (tx, mut rx) = pipe::pair(MSG_SIZE).unwrap();
    let mut frame = Vec::new();
    ipcring::transport::frame::encode_into(b"a partial message", &mut frame);
    let raw = |bytes: &[u8]| {
        // SAFETY: bytes is valid; the descriptor is the sender's open write end.
        let n = unsafe { libc::write(tx.as_raw_fd(), bytes.as_ptr().cast(), bytes.len()) };
        assert_eq!(n, bytes.len() as isize);
    };
    let mut buf = vec![0u8; MSG_SIZE];
    raw(&frame[..2]);
    assert!(matches!(
        rx.recv(&mut buf, Timeout::NonBlocking),
        Err(Error::WouldBlock)
    ));
    raw(&frame[2..9]);
    assert!(matches!(
        rx.recv(&mut buf, Timeout::after(Duration::from_millis(10))),
        Err(Error::TimedOut)
    ));
    raw(&frame[9..]);
    let n = rx.recv(&mut buf, Timeout::NonBlocking).unwrap();
    assert_eq!(&buf[..n], b"a partial message");
    // Half a frame, then the writer goes: a truncated frame, not end of stream.
    raw(&frame[..6]);
    drop(tx);
    for _ in 0..2 {
        let err = rx.recv(&mut buf, Timeout::Forever).unwrap_err();
        assert!(
            matches!(err, Error::Corrupted { what } if what.starts_with("truncated frame")),
            "{err}"
        );
    }
}

#[test]
fn pipe_end_of_stream_at_boundary() {
    let _g = serial();
    let (mut tx, mut rx) = pipe::pair(MSG_SIZE).unwrap();
    tx.send(b"last", Timeout::NonBlocking).unwrap();
    drop(tx);
    assert_eq!(rx.recv_vec(Timeout::Forever).unwrap(), b"last");
    for _ in 0..2 {
        assert!(matches!(rx.recv_vec(Timeout::Forever), Err(Error::EndOfStream)));
    }
}

fn sigpipe_state() -> (bool, bool, libc::sighandler_t) {
    // SAFETY: plain-data sigsets and sigaction filled by the calls; querying only.
    unsafe {
        let mut mask: libc::sigset_t = std::mem::zeroed();
        let mut pend: libc::sigset_t = std::mem::zeroed();
        let mut act: libc::sigaction = std::mem::zeroed();
        libc::pthread_sigmask(libc::SIG_BLOCK, std::ptr::null(), &mut mask);
        libc::sigpending(&mut pend);
        libc::sigaction(libc::SIGPIPE, std::ptr::null(), &mut act);
        (
            libc::sigismember(&mask, libc::SIGPIPE) == 1,
            libc::sigismember(&pend, libc::SIGPIPE) == 1,
            act.sa_sigaction,
        )
    }
}

/// A child with the default SIGPIPE disposition (which kills) writes to a pipe whose reader
/// has gone: `Disconnected`, and it exits normally with its signal state unchanged.
#[test]
fn pipe_disconnected_without_sigpipe() {
    let _g = serial();
    let (tx, rx) = pipe::pair(MSG_SIZE).unwrap();
    drop(rx);
    let mut tx = Some(tx);
    let child = fork("sigpipe default", || {
        let mut tx = tx.take().unwrap();
        // SAFETY: the child is single-threaded here; the default disposition is the point.
        unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
        let before = sigpipe_state();
        assert_eq!(before, (false, false, libc::SIG_DFL));
        for len in [0, 10, MSG_SIZE] {
            let err = tx.send(&vec![1u8; len], Timeout::Forever).unwrap_err();
            assert!(matches!(err, Error::Disconnected), "{err}");
        }
        assert_eq!(sigpipe_state(), before, "signal state changed");
    });
    drop(tx);
    child.expect_success(HANG_BOUND);

    // A SIGPIPE the caller already had pending (blocked) is left pending.
    let (tx, rx) = pipe::pair(MSG_SIZE).unwrap();
    drop(rx);
    let mut tx = Some(tx);
    let child = fork("sigpipe pending", || {
        let mut tx = tx.take().unwrap();
        // SAFETY: as above; then block SIGPIPE and raise one, so it is pending.
        unsafe {
            libc::signal(libc::SIGPIPE, libc::SIG_DFL);
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            libc::sigaddset(&mut set, libc::SIGPIPE);
            libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
            libc::raise(libc::SIGPIPE);
        }
        let before = sigpipe_state();
        assert_eq!(before, (true, true, libc::SIG_DFL));
        let err = tx.send(b"x", Timeout::Forever).unwrap_err();
        assert!(matches!(err, Error::Disconnected), "{err}");
        assert_eq!(sigpipe_state(), before, "the caller's pending SIGPIPE was consumed");
    });
    drop(tx);
    child.expect_success(HANG_BOUND);
}

// ---------------------------------------------------------------------------------------
// fifo:///path
// ---------------------------------------------------------------------------------------

fn mode_of(p: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::symlink_metadata(p).unwrap().permissions().mode() & 0o777
}

#[test]
fn fifo_create_mode_ignores_umask() {
    let _g = serial();
    for umask in [0o077, 0o000, 0o022] {
        for perm in [fifo::DEFAULT_PERM, 0o640, 0o666] {
            let p = TempPath::new("fifo-mode");
            // SAFETY: umask is process-wide; the tests of this binary run one at a time.
            let old = unsafe { libc::umask(umask) };
            let r = fifo::create(p.path(), perm);
            // SAFETY: as above, restoring.
            unsafe { libc::umask(old) };
            assert!(r.unwrap(), "created");
            assert_eq!(mode_of(p.path()), perm, "umask {umask:o} perm {perm:o}");
            // An existing FIFO is accepted and left alone.
            assert!(!fifo::create(p.path(), 0o644).unwrap());
            assert_eq!(mode_of(p.path()), perm);
        }
    }
}

#[test]
fn fifo_refuses_non_fifo_and_symlink() {
    let _g = serial();
    let file = TempPath::new("fifo-file");
    std::fs::write(file.path(), b"not a fifo").unwrap();
    assert!(matches!(fifo::create(file.path(), 0o600), Err(Error::NotARing { .. })));
    assert!(matches!(
        fifo::open_receiver_at(file.path(), 64),
        Err(Error::NotARing { .. })
    ));
    assert!(matches!(
        fifo::open_sender_at(file.path(), 64, Timeout::NonBlocking),
        Err(Error::NotARing { .. })
    ));
    assert_eq!(std::fs::read(file.path()).unwrap(), b"not a fifo", "file untouched");

    let target = TempPath::new("fifo-target");
    fifo::create(target.path(), 0o600).unwrap();
    let link = TempPath::new("fifo-link");
    std::os::unix::fs::symlink(target.path(), link.path()).unwrap();
    for r in [
        fifo::create(link.path(), 0o600).map(|_| ()),
        fifo::open_receiver_at(link.path(), 64).map(|_| ()),
        fifo::open_sender_at(link.path(), 64, Timeout::NonBlocking).map(|_| ()),
    ] {
        let err = r.unwrap_err();
        assert!(
            matches!(err, Error::NotARing { reason } if reason.contains("symbolic link")),
            "{err}"
        );
    }
    let missing = TempPath::new("fifo-missing");
    assert!(matches!(
        fifo::open_receiver_at(missing.path(), 64),
        Err(Error::NotFound { .. })
    ));
}

#[test]
fn fifo_waits_for_the_other_end() {
    let _g = serial();
    let p = TempPath::new("fifo-wait");
    fifo::create(p.path(), 0o600).unwrap();
    // No reader: the writer's open waits.
    assert!(matches!(
        fifo::open_sender_at(p.path(), 64, Timeout::NonBlocking),
        Err(Error::WouldBlock)
    ));
    assert!(matches!(
        fifo::open_sender_at(p.path(), 64, Timeout::after(Duration::from_millis(20))),
        Err(Error::TimedOut)
    ));
    // A reader opened before any writer waits for data, it does not see end of stream.
    let mut rx = fifo::open_receiver_at(p.path(), 64).unwrap();
    assert!(matches!(rx.recv_vec(Timeout::NonBlocking), Err(Error::WouldBlock)));
    assert!(matches!(
        rx.recv_vec(Timeout::after(Duration::from_millis(20))),
        Err(Error::TimedOut)
    ));
    let mut tx = fifo::open_sender_at(p.path(), 64, Timeout::NonBlocking).unwrap();
    tx.send(b"one", Timeout::NonBlocking).unwrap();
    assert_eq!(rx.recv_vec(Timeout::Forever).unwrap(), b"one");
    drop(tx);
    assert!(matches!(rx.recv_vec(Timeout::Forever), Err(Error::EndOfStream)));
    // A writer that comes later makes it flow again.
    let mut tx = fifo::open_sender_at(p.path(), 64, Timeout::NonBlocking).unwrap();
    tx.send(b"two", Timeout::NonBlocking).unwrap();
    assert_eq!(rx.recv_vec(Timeout::Forever).unwrap(), b"two");
    // The reader goes: Disconnected.
    drop(rx);
    assert!(matches!(tx.send(b"three", Timeout::Forever), Err(Error::Disconnected)));
}

/// A reader opened before any writer, whose writer comes and goes without writing: end of
/// stream, not a wait forever.
#[test]
fn fifo_writer_that_leaves_without_writing() {
    let _g = serial();
    let p = TempPath::new("fifo-empty");
    fifo::create(p.path(), 0o600).unwrap();
    let mut rx = fifo::open_receiver_at(p.path(), 64).unwrap();
    drop(fifo::open_sender_at(p.path(), 64, Timeout::NonBlocking).unwrap());
    assert!(matches!(
        rx.recv_vec(Timeout::after(HANG_BOUND)),
        Err(Error::EndOfStream)
    ));
}

fn fifo_writer() {
    let path = param("FIFO");
    let n = param_u64("COUNT");
    let mut tx = fifo::open_sender_at(Path::new(&path), MSG_SIZE, Timeout::Forever).expect("open sender");
    send_all(&mut tx, n, MSG_SIZE);
}

fn fifo_reader() {
    let path = param("FIFO");
    let n = param_u64("COUNT");
    let mut rx = fifo::open_receiver_at(Path::new(&path), MSG_SIZE).expect("open receiver");
    let got = drain_checked(&mut rx, MSG_SIZE);
    assert_eq!(got, n, "received {got} of {n} messages");
}

/// Writer and reader as two unrelated processes, in both start orders.
#[test]
fn fifo_two_processes() {
    let _g = serial();
    let n = env_u64("IPCRING_PIPE_MESSAGES", 100_000) / 4;
    for writer_first in [true, false] {
        let p = TempPath::new("fifo-procs");
        fifo::create(p.path(), 0o600).unwrap();
        let vars = [("FIFO", p.as_str().to_string()), ("COUNT", n.to_string())];
        let (a, b) = if writer_first {
            ("fifo_writer", "fifo_reader")
        } else {
            ("fifo_reader", "fifo_writer")
        };
        let first = spawn(a, &vars);
        std::thread::sleep(Duration::from_millis(50));
        let second = spawn(b, &vars);
        run_all(vec![first, second], HANG_BOUND);
    }
}
