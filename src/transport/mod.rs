//! Fallback transports: the same channel semantics (the README's "Semantics") over kernel objects other
//! than the shared-memory ring, for when `shm://` is not available or not wanted.
//!
//! A transport is a pair of ends, a sender and a receiver, that carry whole messages of
//! `0..=msg_size` bytes with the channel's rules: FIFO order, timeouts (`Timeout::NonBlocking` is
//! `WouldBlock`, a deadline is `TimedOut`, `EINTR` never leaks out), `TooLarge` and
//! `BufferTooSmall` that lose nothing, `EndOfStream` once every sender is gone and the data
//! is drained, `Disconnected` (never SIGPIPE) once every receiver is gone.
//!
//! # Framing
//!
//! Byte-stream transports (`pipe://`, `fifo:///path`, `tcp://`) carry each message as one
//! frame, `[len u32 little-endian][payload]` ([`frame`]); the receiver reassembles frames
//! from whatever `read(2)` returns and keeps partial frames across calls. `unix://` sends
//! one tagged packet per message, and `mq://` one queue message.
//!
//! # Where the fallbacks differ from the ring
//!
//! - Capacity is the kernel's: a pipe's buffer (64 KiB by default), a socket's buffers, or
//!   for `mq://` the queue's `capacity` (any count, within the kernel's limits).
//! - Batches and zero-copy slots are emulated by the channel layer (`adapter`): a batch is
//!   a loop of single sends or receives, a slot an internal buffer.
//! - With several writers on one pipe or FIFO, frames longer than `PIPE_BUF` (4096 bytes)
//!   may interleave and corrupt the stream (`Corrupted`): one sender per pipe for such sizes.
//! - A send that wrote part of a frame finishes it (pipe, FIFO) or keeps the rest for the
//!   next send (TCP), whatever its timeout.
//! - A sender that died mid-frame leaves a truncated frame: a pipe or FIFO receiver reports
//!   `Corrupted { what: "truncated frame ..." }` instead of `EndOfStream`.
//! - Ends are counted by the kernel (open descriptors, connections) or, for `mq://`, by locks
//!   on a companion file, so a dead peer is noticed without anyone closing.
//! - The descriptors are `O_NONBLOCK` on their open file description, which processes
//!   sharing it across `fork` share too.
//!
//! # Readiness
//!
//! Every end has a readiness descriptor ([`MsgSender::fd`], [`MsgReceiver::fd`]; the
//! channel's `AsFd`), made at open: an epoll instance (`transport::readiness::Readiness`) that is
//! *readable*, for a sender as for a receiver, while a non-blocking call in the end's
//! direction would not return `WouldBlock`. Level-triggered in effect; spurious readiness
//! is allowed (the call then returns `WouldBlock`), missed readiness is not. In it:
//!
//! | end | kernel objects watched | eventfd set while | periodic timer (20 ms) while |
//! |---|---|---|---|
//! | pipe / FIFO sender | write end, `EPOLLOUT` (room; `EPOLLERR`: no reader) | a FIFO's reader has gone and not come back (`Disconnected` at once) | a FIFO has not been opened by a reader yet (the lazy open polls for one) |
//! | pipe / FIFO receiver | read end, `EPOLLIN` (`EPOLLHUP`: every writer gone) | a whole frame is buffered | never |
//! | `mq://` sender | queue, `EPOLLOUT` | a send returned an error at once (`Disconnected`) | always (the receivers' end is learnt from companion locks, which nothing signals) |
//! | `mq://` receiver | queue, `EPOLLIN` | a message is kept after `BufferTooSmall`, or end of stream | always (the senders' end, as above) |
//! | `unix://` / `tcp://` sender | the connection (or handshake), `EPOLLOUT` and `EPOLLIN` (a reject or the receiver's end) | not connected after a receiver was seen or rejected (a send returns at once) | no receiver has been reached yet (the lazy connect polls for one) |
//! | `unix://` / `tcp://` receiver | the listener and every accepted connection, `EPOLLIN` | a whole TCP frame is buffered, or end of stream | never |
//!
//! Where the timer runs, the descriptor wakes an event loop up to 50 times a second while
//! the end waits, and a peer's arrival or (for `mq://`) its end is seen within about 20 ms,
//! the same slice the end's blocked calls poll with. Any end also counts as ready, through
//! its eventfd, after a call that returned an error at once (not `WouldBlock`), and the
//! channel layer marks a message held for the next receive (a peeked, unreleased slot).
//! The eventfd and the timer are kept up to date only once the descriptor has been asked
//! for, so an end never used with an event loop pays nothing per message. A descriptor
//! shared across `fork` (an inherited handle) shares the eventfd too: use the handle, and
//! its descriptor, in one process.
//!
//! # Files
//!
//! One module per scheme (`pipe`, `fifo`, `mq/`, `unix`, `tcp`), each exporting the same
//! functions (`open_sender`, `open_receiver`, `unlink`, `remove`, or a `pair`) through its row
//! in [`TABLE`]; `stream` (framed fd ends, for pipe and FIFO), `sock` (what unix and tcp
//! share), `frame` (the codec), `readiness` (the ends' descriptors) and `adapter` (batches
//! and slots over any of them).

pub(crate) mod adapter;
pub mod fifo;
pub mod frame;
pub mod mq;
#[cfg(feature = "nats")]
pub mod nats;
pub mod pipe;
pub mod readiness;
pub mod sock;
pub mod stream;
pub mod tcp;
pub mod unix;

use crate::error::{Error, Result};
use crate::options::RingOptions;
use crate::timeout::Timeout;
use std::fmt;
use std::os::fd::BorrowedFd;

/// One sending end of a fallback transport. The channel's `Sender` wraps it, adding statistics,
/// batches and zero-copy slots (through an internal buffer), so that every transport offers
/// the same API as the ring.
///
/// Contract (the conformance suite checks it): `msg.len() > msg_size()` is
/// [`Error::TooLarge`] before anything is written; a timeout or `Timeout::NonBlocking` that ends
/// the wait leaves nothing written; `EINTR` is retried with the same deadline; no receiver
/// left is [`Error::Disconnected`] (never SIGPIPE). Before the first receiver has appeared a
/// send waits for one, as on a full channel.
pub trait MsgSender: fmt::Debug + Send {
    /// Sends `msg` as one message, waiting as `timeout` allows.
    fn send(&mut self, msg: &[u8], timeout: Timeout) -> Result<()>;
    /// Sends `msg` with a message id by which an engine that de-duplicates (`nats://`,
    /// JetStream's `Nats-Msg-Id`) drops a resend of it; the others ignore the id.
    fn send_with_id(&mut self, msg: &[u8], id: &str, timeout: Timeout) -> Result<()> {
        let _ = id;
        self.send(msg, timeout)
    }
    /// Sends `msgs` in order (with `ids[i]` as the id of `msgs[i]` where given, as
    /// [`send_with_id`](Self::send_with_id)), waiting as `timeout` allows; returns how many
    /// were sent, a prefix: fewer than `msgs.len()` only if the wait ended or an error came
    /// after the first (the next call reports it). The lengths are checked by the caller.
    /// By default one send each; `nats://` has them all in flight at once and then waits
    /// for their acknowledgements.
    fn send_batch(&mut self, msgs: &[&[u8]], ids: Option<&[&str]>, timeout: Timeout) -> Result<usize> {
        for (sent, m) in msgs.iter().enumerate() {
            let r = match ids {
                Some(ids) => self.send_with_id(m, ids[sent], timeout),
                None => self.send(m, timeout),
            };
            match r {
                Ok(()) => {}
                Err(Error::WouldBlock | Error::TimedOut | Error::Interrupted | Error::Disconnected) if sent > 0 => {
                    return Ok(sent)
                }
                Err(e) => return Err(e),
            }
        }
        Ok(msgs.len())
    }
    /// The largest message this end sends.
    fn msg_size(&self) -> usize;
    /// Another sender on the same channel, or [`Error::Unsupported`] saying why not.
    fn try_clone(&self) -> Result<Box<dyn MsgSender>>;
    /// The end's readiness descriptor, made at open and owned by the end (the caller never
    /// reads, writes or closes it): *readable* while a non-blocking send would not return
    /// `WouldBlock` (room, the receivers gone, any other error the call would return at
    /// once). Spurious readiness is allowed, missed readiness is not (see "Readiness" in
    /// the module docs).
    fn fd(&self) -> BorrowedFd<'_>;
    /// Messages waiting in the channel now, where the kernel says (a POSIX queue does).
    fn queued(&self) -> Option<u64> {
        None
    }
    /// How many messages the channel holds, where it has such a limit (a POSIX queue's
    /// `mq_maxmsg`); `None` where the kernel sizes its buffers in bytes.
    fn capacity(&self) -> Option<u64> {
        None
    }
}

/// One receiving end of a fallback transport (see [`MsgSender`]).
///
/// Contract: one call returns one whole message; a buffer shorter than the next message is
/// [`Error::BufferTooSmall`] `{ needed }` and the message is kept for the next call;
/// [`Error::EndOfStream`] once every sender that came has gone and everything is drained
/// (a sender arriving later makes data flow again where the transport allows it); before
/// the first sender has come, a receive waits.
pub trait MsgReceiver: fmt::Debug + Send {
    /// Receives one message into `buf`, waiting as `timeout` allows; returns its length.
    fn recv(&mut self, buf: &mut [u8], timeout: Timeout) -> Result<usize>;
    /// As [`recv`](Self::recv), but where the engine acknowledges messages (`nats://`) the
    /// message is not acknowledged until [`ack_held`](Self::ack_held): a `peek` holds it so,
    /// and it is delivered again if this process dies first. Elsewhere, `recv`.
    fn recv_held(&mut self, buf: &mut [u8], timeout: Timeout) -> Result<usize> {
        self.recv(buf, timeout)
    }
    /// Acknowledges the message of the last [`recv_held`](Self::recv_held) (`release`).
    fn ack_held(&mut self) {}
    /// The engine's position of the held message (a JetStream stream sequence), 0 where
    /// there is none.
    fn held_position(&self) -> u64 {
        0
    }
    /// The largest message this end receives.
    fn msg_size(&self) -> usize;
    /// Another receiver on the same channel, or [`Error::Unsupported`] saying why not.
    fn try_clone(&self) -> Result<Box<dyn MsgReceiver>>;
    /// The end's readiness descriptor (see [`MsgSender::fd`]): *readable* while a
    /// non-blocking receive would not return `WouldBlock` (a message, end of stream,
    /// `Corrupted`, ...).
    fn fd(&self) -> BorrowedFd<'_>;
    /// The channel layer holds a message received through this end (a peeked slot not
    /// released) that its next receive returns: the descriptor must be readable meanwhile.
    fn set_held(&self, held: bool);
    /// Messages waiting in the channel now, where the kernel says (a POSIX queue does).
    fn queued(&self) -> Option<u64> {
        None
    }
    /// How many messages the channel holds, where it has such a limit (a POSIX queue's
    /// `mq_maxmsg`); `None` where the kernel sizes its buffers in bytes.
    fn capacity(&self) -> Option<u64> {
        None
    }
}

/// What an open of a named fallback transport was asked for: the parts of the address the
/// transport needs (the channel layer parses the address; a transport never sees it whole).
#[derive(Debug, Clone, Copy)]
pub struct OpenSpec<'a> {
    /// The address's scheme (`"fifo"`, `"mq"`, ...), for error messages.
    pub scheme: &'a str,
    /// The name, path or `HOST:PORT` after `SCHEME://` (empty for anonymous channels).
    pub target: &'a str,
    /// The options of the address's query string.
    pub options: &'a RingOptions,
    /// Create the object if it does not exist (FIFO, queue); for sockets, see each module.
    pub create: bool,
    /// With `create`: the object must not exist yet.
    pub excl: bool,
    /// The engine's own options of the query string (`nats://`: `ack_wait`, `dup_window`).
    #[cfg_attr(not(feature = "nats"), allow(dead_code))] // read by the nats transport
    pub params: &'a [(&'static str, u64)],
}

impl OpenSpec<'_> {
    /// The options of the address.
    pub fn options(&self) -> &RingOptions {
        self.options
    }

    /// `msg_size` from the address, or the default (256).
    pub fn msg_size(&self) -> usize {
        self.options().msg_size_given().unwrap_or(RingOptions::DEFAULT_MSG_SIZE) as usize
    }

    /// `capacity` from the address, if given.
    pub fn capacity(&self) -> Option<u64> {
        self.options().capacity_given()
    }

    /// An engine option of the query string, if given.
    #[cfg_attr(not(feature = "nats"), allow(dead_code))] // used by the nats transport
    pub fn param(&self, key: &str) -> Option<u64> {
        self.params.iter().find(|(k, _)| *k == key).map(|(_, v)| *v)
    }

    /// Permission bits for a created object (0600 unless the address says otherwise).
    pub fn perm(&self) -> u32 {
        self.options().perm_bits()
    }

    /// Refuses the ring-only options (`mode`, `wake`, `fence`, `spin`) and, unless `capacity_ok`, `capacity`:
    /// an option that would silently mean nothing is an error naming it.
    pub fn refuse_ring_options(&self, capacity_ok: bool) -> Result<()> {
        let o = self.options();
        let bad = |part: &str| Error::InvalidAddress {
            address: format!("{}://{}", self.scheme, self.target),
            part: part.to_string(),
            reason: "option applies to shm:// only",
        };
        if o.kind_given().is_some() {
            return Err(bad("mode"));
        }
        if o.wake_given().is_some() {
            return Err(bad("wake"));
        }
        if o.fence_given().is_some() {
            return Err(bad("fence"));
        }
        if o.spin_given().is_some() {
            return Err(bad("spin"));
        }
        if !capacity_ok && o.capacity_given().is_some() {
            return Err(bad("capacity"));
        }
        Ok(())
    }
}

/// Opens a sending end on a named object.
pub type OpenSender = fn(&OpenSpec) -> Result<Box<dyn MsgSender>>;
/// Opens a receiving end on a named object.
pub type OpenReceiver = fn(&OpenSpec) -> Result<Box<dyn MsgReceiver>>;
/// Makes an anonymous (sender, receiver) pair.
pub type OpenPair = fn(&OpenSpec) -> Result<(Box<dyn MsgSender>, Box<dyn MsgReceiver>)>;
/// Removes a named object (`unlink`), or why there is nothing to remove.
pub type Unlink = std::result::Result<fn(&str) -> Result<()>, &'static str>;
/// Removes a named object unless in use (`remove`), or why there is nothing to remove.
pub type Remove = std::result::Result<fn(&str, bool) -> Result<()>, &'static str>;

/// A fallback transport's row in the dispatch table: the functions the channel layer calls
/// on it. Every named transport module exports `open_sender`, `open_receiver`, `unlink` and
/// `remove` with these signatures; adding a transport is a module and one row in [`TABLE`].
#[derive(Debug)]
pub struct Ops {
    /// The scheme the row serves (`Transport::scheme` of the address).
    pub scheme: &'static str,
    /// Opens a sending end on a named object; `None` for an anonymous-only transport.
    pub open_sender: Option<OpenSender>,
    /// Opens a receiving end on a named object; `None` for an anonymous-only transport.
    pub open_receiver: Option<OpenReceiver>,
    /// Makes an anonymous pair (shared across `fork`); `None` where there is none.
    pub pair: Option<OpenPair>,
    /// Removes the named object, or why there is nothing to remove.
    pub unlink: Unlink,
    /// Removes the named object unless it is in use (`true`: whoever uses it).
    pub remove: Remove,
}

/// The one dispatch table: a row per fallback transport (the ring, `shm://`, is not here).
#[cfg(not(feature = "nats"))]
pub static TABLE: [Ops; 5] = [pipe::OPS, fifo::OPS, mq::OPS, unix::OPS, tcp::OPS];
/// The one dispatch table: a row per fallback transport (the ring, `shm://`, is not here).
#[cfg(feature = "nats")]
pub static TABLE: [Ops; 6] = [pipe::OPS, fifo::OPS, mq::OPS, unix::OPS, tcp::OPS, nats::OPS];

/// The row of the fallback transport of `scheme`, if there is one.
pub fn ops(scheme: &str) -> Option<&'static Ops> {
    TABLE.iter().find(|o| o.scheme == scheme)
}
