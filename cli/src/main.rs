//! `ipcring`: inspect and clean up rings, pipe shell data through any channel, and benchmark
//! every transport against the machine's limits.
//!
//! ```text
//! ipcring ls                       rings in /dev/shm: kind, size, fill, endpoints (alive or stale)
//! ipcring stat shm://NAME          one ring in full, with its counters
//! ipcring rm [--force] shm://NAME  remove a ring nobody uses (or, forced, one in use)
//! producer | ipcring send ADDRESS  stdin lines (or --records) into a channel
//! ipcring recv ADDRESS | consumer  a channel's messages to stdout
//! ipcring bridge FROM TO           move messages between two channels without loss
//! ipcring bench [--quick]          every transport side by side, with the limits
//! ```
//!
//! Files: `inspect.rs` (ls, stat, rm), `pipe.rs` (send, recv), `bridge.rs` (bridge), `bench/` (bench), `natsd.rs` (a nats-server for bench --nats). Every
//! command returns a [`Fail`] on error; `main` prints it and exits with its code (see
//! [`exit`]).

mod bench;
mod bridge;
mod inspect;
mod natsd;
mod pipe;

use clap::{Parser, Subcommand};
use std::fmt;
use std::process::ExitCode;

/// Exit codes, the same for every subcommand (also in `ipcring --help`).
pub mod exit {
    /// Done.
    pub const OK: u8 = 0;
    /// The operation failed (a system call, a peer, a timeout, a corrupt message...).
    pub const FAILED: u8 = 1;
    /// Bad usage: unknown option, malformed address (clap also exits with 2).
    pub const USAGE: u8 = 2;
    /// The named ring or object does not exist.
    pub const NOT_FOUND: u8 = 3;
    /// Refused because the object is in use (`rm` without `--force`).
    pub const IN_USE: u8 = 4;
    /// The object is not a ring this build can use: corrupt, another ABI, not a ring.
    pub const BAD_OBJECT: u8 = 5;
    /// `recv`: a sender died without closing; what was written may be incomplete.
    pub const SENDER_DIED: u8 = 6;
}

/// A failed command: the message printed on stderr (after `ipcring: `) and the exit code.
#[derive(Debug)]
pub struct Fail {
    /// One of [`exit`]'s codes.
    pub code: u8,
    /// What went wrong, naming the object.
    pub msg: String,
}

impl Fail {
    /// A failure with an explicit code.
    pub fn new(code: u8, msg: impl Into<String>) -> Fail {
        Fail { code, msg: msg.into() }
    }

    /// A library error about `what` (an address or a step), with the code its kind implies.
    pub fn lib(what: &str, e: ipcring::Error) -> Fail {
        use ipcring::ErrorKind as K;
        let code = match e.kind() {
            K::NotFound => exit::NOT_FOUND,
            K::InUse | K::Busy => exit::IN_USE,
            K::InvalidName | K::InvalidAddress | K::InvalidOption => exit::USAGE,
            K::Corrupted
            | K::NotARing
            | K::AbiMismatch
            | K::LayoutMismatch
            | K::SizeMismatch
            | K::Mismatch
            | K::CreatorDied
            | K::NotReady => exit::BAD_OBJECT,
            K::SenderDied => exit::SENDER_DIED,
            _ => exit::FAILED,
        };
        // Errors about a named object name it already; say it once.
        let text = e.to_string();
        if text.contains(what) {
            Fail::new(code, text)
        } else {
            Fail::new(code, format!("{what}: {text}"))
        }
    }
}

impl fmt::Display for Fail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.msg)
    }
}

/// What every command returns.
pub type CmdResult = Result<(), Fail>;

#[derive(Parser, Debug)]
#[command(
    name = "ipcring",
    version,
    about = "Inspect, clean up, pipe data through and benchmark ipcring channels",
    after_help = "Addresses: shm://NAME (the ring), pipe://, fifo:///PATH, mq://NAME, unix:///PATH, \
                  tcp://HOST:PORT, nats://HOST:PORT/NAME, with options after '?' (capacity, msg_size, mode=mpmc, wake=sem, perm).\n\
                  Exit codes: 0 done, 1 failed, 2 bad usage, 3 not found, 4 in use (rm), \
                  5 not a usable ring (corrupt, other ABI, not a ring)."
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// List the rings in /dev/shm: kind, capacity, message size, fill, endpoints (alive or
    /// stale), and objects that look like broken rings.
    Ls(inspect::LsArgs),
    /// Show one ring in full: geometry, cursors, fill, endpoints, wake-up counters.
    Stat(inspect::StatArgs),
    /// Remove rings (or other named channel objects) that nobody uses; `--force` removes them
    /// even with live endpoints.
    Rm(inspect::RmArgs),
    /// Send stdin into a channel: one message per line (default) or length-prefixed records.
    Send(pipe::SendArgs),
    /// Receive a channel's messages to stdout: one line each (default) or length-prefixed
    /// records, until end of stream.
    Recv(pipe::RecvArgs),
    /// Move every message from FROM to TO, taking each from FROM only after TO accepted it
    /// (nothing lost if killed; into nats:// nothing stored twice).
    Bridge(bridge::BridgeArgs),
    /// Benchmark every transport side by side against the machine's limits (raw cache-line
    /// ping-pong, raw futex ping-pong, memcpy), medians over interleaved rounds.
    Bench(bench::BenchArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let res = match cli.cmd {
        Cmd::Ls(a) => inspect::ls(&a),
        Cmd::Stat(a) => inspect::stat(&a),
        Cmd::Rm(a) => inspect::rm(&a),
        Cmd::Send(a) => pipe::send(&a),
        Cmd::Recv(a) => pipe::recv(&a),
        Cmd::Bridge(a) => bridge::bridge(&a),
        Cmd::Bench(a) => bench::run(&a),
    };
    match res {
        Ok(()) => ExitCode::from(exit::OK),
        Err(f) => {
            eprintln!("ipcring: {f}");
            ExitCode::from(f.code)
        }
    }
}
