//! Fallback transports: the same channel semantics (DESIGN §3) over kernel objects other
//! than the shared-memory ring, for when `shm://` is not available or not wanted.
//!
//! A transport is a pair of ends, a sender and a receiver, that carry whole messages of
//! `0..=msg_size` bytes with the channel's rules: FIFO order, timeouts (`Timeout::Never` is
//! `WouldBlock`, a deadline is `TimedOut`, `EINTR` never leaks out), `TooLarge` and
//! `BufferTooSmall` that lose nothing, `EndOfStream` once every sender is gone and the data
//! is drained, `Disconnected` (never SIGPIPE) once every receiver is gone.
//!
//! # Framing
//!
//! Byte-stream transports (`pipe://`, `fifo:///path`) carry each message as one frame,
//! `[len u32 little-endian][payload]` ([`frame`]). The receiver reassembles frames from
//! whatever `read(2)` returns and keeps partial frames across calls.
//!
//! # Where the fallbacks differ from the ring
//!
//! - Capacity is the kernel's pipe buffer (64 KiB by default), not `capacity` slots.
//! - No zero-copy slots and no batches: every message is a `write` and part of a `read`.
//! - With several writers, frames longer than `PIPE_BUF` (4096 bytes) may interleave and
//!   corrupt the stream (`Corrupted`): one sender per pipe for such sizes.
//! - A send that wrote part of a frame (longer than `PIPE_BUF`) finishes it before returning,
//!   whatever its timeout.
//! - A sender that died mid-frame leaves a truncated frame: the receiver reports
//!   `Corrupted { what: "truncated frame ..." }` instead of `EndOfStream`.
//! - Ends are counted by the kernel (open descriptors), so a dead peer is noticed at once,
//!   and a FIFO reader sees end of stream whenever no writer has it open; a writer that
//!   opens it later makes data flow again.
//! - The descriptors are `O_NONBLOCK` on their open file description, which processes
//!   sharing it across `fork` share too.

pub mod fifo;
pub mod frame;
pub mod pipe;
