//! The Rust half of the mixed-language pipeline: a Rust producer or consumer that talks to
//! the C programs `c-examples/pipeline_producer.c` and `c-examples/pipeline_consumer.c`
//! (or to another copy of itself) through one channel: a shared-memory ring, or any other
//! transport (`fifo://`, `mq://`, `unix://`, `tcp://`).
//!
//! ```text
//! cargo run --release --example pipeline -- produce ADDRESS COUNT [PRODUCER_ID]
//! cargo run --release --example pipeline -- consume ADDRESS COUNT
//! ```
//!
//! `ADDRESS` is e.g. `shm://NAME?capacity=1024&msg_size=256` (options as in the C API;
//! `mode=mpmc` and `wake=sem` work too) or `unix:///tmp/p.sock?msg_size=256`. Whichever side
//! starts first creates the channel from the address's options; the other opens it and the
//! options must match, as `ipcring_open` with `IPCRING_CREATE` does on the C side. Messages are `[producer u32][seq u64][payload][fnv1a
//! u64]`, payload length and bytes derived from `(producer, seq)` — the format of
//! `tests/common/msg.rs`, included below, and of `c-examples/pipeline_format.h`. The consumer
//! checks structure, checksum, payload length and bytes, and that each seq is exactly the
//! next, then prints `received N messages, all verified` and exits 0 only if N is COUNT.
//! It removes the channel's name when it is done.
//!
//! C producer → Rust consumer (build the C side with `make -C c-examples`):
//!
//! ```text
//! A='shm://pipeline-demo?capacity=1024&msg_size=256'
//! cargo run --release --example pipeline -- consume "$A" 1000000 &
//! ./pipeline_producer "$A" 1000000
//! wait
//! ```
//!
//! Rust producer → C consumer: `./pipeline_consumer "$A" 1000000 &` then
//! `cargo run --release --example pipeline -- produce "$A" 1000000`.

#[path = "../tests/common/msg.rs"]
mod msg;

use ipcring::{Create, Error, Receiver, Sender};
use std::process::ExitCode;
use std::time::Instant;

const USAGE: &str = "usage: pipeline produce ADDRESS COUNT [PRODUCER_ID]\n       pipeline consume ADDRESS COUNT";

/// The largest payload the ring's messages can carry in this format.
fn max_payload(msg_size: usize) -> Result<usize, String> {
    msg_size.checked_sub(msg::OVERHEAD).ok_or_else(|| {
        format!(
            "the ring's msg_size {msg_size} is below the format's {}-byte overhead",
            msg::OVERHEAD
        )
    })
}

fn rate(what: &str, count: u64, bytes: u64, start: Option<Instant>) -> String {
    let secs = start.map_or(0.0, |s| s.elapsed().as_secs_f64()).max(1e-9);
    format!(
        "{what} in {secs:.3} s: {:.0} msg/s, {:.1} MB/s",
        count as f64 / secs,
        bytes as f64 / secs / 1e6
    )
}

fn produce(address: &str, count: u64, producer: u32) -> Result<(), String> {
    // Create-or-open: whichever side comes first makes the channel (a socket's receiver
    // listens; a sender always connects, at its first send).
    let mut tx = Sender::open(address, Create::IfMissing).map_err(|e| format!("open a sender on {address}: {e}"))?;
    let msg_size = tx.max_msg_size();
    let max = max_payload(msg_size)?;
    let mut buf = vec![0u8; msg_size];
    let mut bytes = 0u64;
    let start = Instant::now();
    for seq in 0..count {
        let n = msg::encode(producer, seq, max, &mut buf);
        tx.send(&buf[..n]).map_err(|e| format!("send seq {seq}: {e}"))?;
        bytes += n as u64;
    }
    // Dropping the sender detaches it: the receiver's end of stream once it has drained.
    drop(tx);
    let what = format!("sent {count} messages (producer {producer}, {bytes} bytes, msg_size {msg_size})");
    println!("{}", rate(&what, count, bytes, Some(start)));
    Ok(())
}

fn consume(address: &str, count: u64) -> Result<(), String> {
    let rx = Receiver::open(address, Create::IfMissing).map_err(|e| format!("open a receiver on {address}: {e}"))?;
    let result = receive_all(rx, count);
    // Both sides are done with the name (or this side failed and nobody will drain it);
    // tcp:// has none.
    match ipcring::unlink(address) {
        Ok(()) | Err(Error::NotFound { .. } | Error::InvalidAddress { .. }) => result,
        Err(e) => result.and(Err(format!("unlink {address}: {e}"))),
    }
}

fn receive_all(mut rx: Receiver, count: u64) -> Result<(), String> {
    let msg_size = rx.max_msg_size();
    let max = max_payload(msg_size)?;
    let mut buf = vec![0u8; msg_size];
    let (mut received, mut bytes, mut stream, mut start) = (0u64, 0u64, 0u32, None);
    loop {
        let n = match rx.recv(&mut buf) {
            Ok(n) => n,
            Err(Error::EndOfStream) => break,
            Err(e) => return Err(format!("recv of message #{received}: {e}")),
        };
        start.get_or_insert_with(Instant::now);
        let (producer, seq) = msg::decode(&buf[..n], Some(max)).map_err(|e| format!("message #{received}: {e}"))?;
        if received == 0 {
            stream = producer;
        }
        if producer != stream {
            return Err(format!(
                "message #{received}: from producer {producer}, expected {stream}"
            ));
        }
        if seq != received {
            let why = if seq < received {
                "duplicate or reordered"
            } else {
                "lost messages"
            };
            return Err(format!("message #{received}: seq {seq}, expected {received} ({why})"));
        }
        received += 1;
        bytes += n as u64;
    }
    drop(rx);
    println!("received {received} messages, all verified");
    let what = format!("consumer: {bytes} bytes from producer {stream}");
    println!("{}", rate(&what, received, bytes, start));
    if received != count {
        return Err(format!("end of stream after {received} messages, expected {count}"));
    }
    Ok(())
}

fn number<T: std::str::FromStr>(s: &str, what: &str) -> Result<T, String> {
    s.parse().map_err(|_| format!("{what} {s:?} is not a number\n{USAGE}"))
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let run = match args[..] {
        ["produce", address, count] => number(count, "COUNT").map(|c| (address, c, None)),
        ["produce", address, count, producer] => {
            number(count, "COUNT").and_then(|c| Ok((address, c, Some(number::<u32>(producer, "PRODUCER_ID")?))))
        }
        ["consume", address, count] => number(count, "COUNT").map(|c| (address, c, None)),
        _ => Err(USAGE.to_string()),
    };
    let (address, count, producer) = match run {
        Ok(r) => r,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let result = if args[0] == "produce" {
        produce(address, count, producer.unwrap_or(0))
    } else {
        consume(address, count)
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("pipeline {}: {e}", args[0]);
            ExitCode::FAILURE
        }
    }
}
