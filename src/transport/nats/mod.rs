//! `nats://HOST:PORT/NAME`: a channel over NATS JetStream (feature `nats`), for pipelines that
//! span machines (DESIGN §11). The README's transport table lists where it differs from §3.
//!
//! # Objects on the server, per channel `NAME`
//!
//! - Stream `IPCRING_NAME`, subject `ipcring.NAME`: work-queue retention (a message is removed
//!   once acknowledged), file storage, `max_msgs` = `capacity` (unlimited if not given),
//!   discard-new (a full stream refuses a publish: the sender waits and retries),
//!   `max_msg_size` = `msg_size` plus room for our headers, a duplicate window
//!   (`dup_window`, 120 s by default) for `Nats-Msg-Id` de-duplication. Its description
//!   records `msg_size` and `capacity`, which an open checks.
//! - Durable pull consumer `ipcring` on it, explicit acknowledgement, `ack_wait` (30 s by
//!   default): every receiver of the channel fetches from this one consumer (competing
//!   receivers), and a message fetched by a receiver that dies unacknowledged is delivered
//!   again after `ack_wait`.
//! - Stream `IPCRING_NAME_SENDERS`, subjects `ipcring.NAME.senders.ID`, one message kept per
//!   subject: each sender's entry, `open` while it lives, `closed` once it closed (its close
//!   marker, published after its last message was stored).
//!
//! # Ends
//!
//! Each end has its own connection (so the server sees each sender's life) on one runtime
//! shared by the process: a current-thread tokio runtime on a background thread
//! (`ipcring-nats`), started by the first open; a blocking call enters it with
//! `Handle::block_on`. After `fork` the child's handles inherited from the parent refuse
//! every call (`Unsupported`); the child opens its own (a new runtime is started for it).
//!
//! - **Send**: publish with headers `Nats-Msg-Id` (the sender's id and a counter, or the id
//!   the bridge gives) and `Ipcring-Sender`, then wait for JetStream's acknowledgement: the
//!   message counts as sent when the server stored it. A refused publish (stream full) or a
//!   lost connection is retried, with the same message id, until the timeout. A batch
//!   (`send_batch`, `send_batch_with_ids`) publishes up to 1,024 messages before it waits for
//!   their acknowledgements, in order: it returns the prefix stored and never counts a
//!   message the server did not acknowledge. On a stream with a `capacity` a batch keeps
//!   one publish in flight (a full stream refuses one publish and may take the next a moment
//!   later, which would reorder them). Unbounded, the one case a window can reorder is a
//!   connection lost mid-window: a publish lost with it is retried after later ones of the
//!   window that reached the server (those are stored once: same ids).
//! - **Receive**: a background task per receiver keeps up to `PREFETCH` (`config`) fetched messages
//!   (unacknowledged) and sets the end's eventfd while any is buffered or the end is known;
//!   `recv` copies one out and acknowledges it; `peek` holds it and `release` acknowledges
//!   it. A buffered message older than half the `ack_wait` is handed back (NAK) so that the
//!   server does not redeliver it to another receiver while this one still holds it.
//!   Acknowledgements go out without waiting for the server, through a task that confirms
//!   them in groups (the last of each group of up to 256 asks for the server's reply);
//!   until a group is confirmed its sequences are remembered, so that a redelivery of one
//!   (an acknowledgement lost with the connection) is acknowledged again and not delivered.
//!   A receiver closed cleanly waits (5 s at most) for its acknowledgements to be
//!   confirmed, then hands back (NAK) what it fetched and did not deliver.
//!
//! # Remove
//!
//! `remove` without force refuses (`InUse`) while a sender is alive (the rule below) or the
//! consumer shows a receiver: a pull request waiting (`num_waiting`) or messages delivered
//! and not acknowledged (`num_ack_pending`), looked at over two fetch periods.
//!
//! # End of stream, exactly
//!
//! A receiver knows the senders it has *seen*: those whose bucket entry it found `open` and
//! alive during its life, and those whose messages it received. When its buffer is empty and
//! a fetch found nothing, it reads the bucket, then the stream's message count. If it has
//! seen at least one sender, every seen sender's entry is `closed` (or gone) or the sender is
//! dead, and the stream holds no message (every message acknowledged), the receive returns
//! [`Error::EndOfStream`](crate::error::Error::EndOfStream), or
//! [`Error::SenderDied`](crate::error::Error::SenderDied) if one of them is dead. A sender is dead
//! when its entry says `open` but a request to its liveness subject
//! (`_ipcring.NAME.alive.ID`, which the sender's connection subscribes) gets the server's
//! *no responders* answer: the server dropped the subscription because it dropped the
//! connection (at once when the process died, since the kernel closes its socket; after
//! the server's ping interval when the host vanished). A later sender makes data flow again.
//!
//! # Files
//!
//! `config` (what an address says, limits, object names), `runtime` (the tokio runtime,
//! the connection, eventfds), `stream` (the channel's objects on the server: open, create,
//! remove, the senders' entries and liveness), `sender` (publishing, pipelined batches),
//! `receiver` (the fetch task, delivery, the acknowledging task), `ending` (the
//! end-of-stream rule).

mod config;
mod ending;
mod receiver;
mod runtime;
mod sender;
mod stream;

pub use receiver::NatsReceiver;
pub use sender::NatsSender;

use super::{MsgReceiver, MsgSender, OpenSpec, Ops};
use crate::error::Result;
use stream::{open_chan, remove, unlink};

/// The dispatch-table row of `nats://`.
pub const OPS: Ops = Ops {
    scheme: "nats",
    open_sender: Some(open_sender),
    open_receiver: Some(open_receiver),
    pair: None,
    unlink: Ok(unlink),
    remove: Ok(remove),
};

fn open_sender(spec: &OpenSpec) -> Result<Box<dyn MsgSender>> {
    Ok(Box::new(NatsSender::open(open_chan(spec)?)?))
}

fn open_receiver(spec: &OpenSpec) -> Result<Box<dyn MsgReceiver>> {
    Ok(Box::new(NatsReceiver::open(open_chan(spec)?)?))
}
