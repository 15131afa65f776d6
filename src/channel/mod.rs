//! The channel API every transport shares: [`Sender`] and [`Receiver`], zero-copy
//! [`SendSlot`] / [`RecvSlot`], batches, and opening a channel by its address
//! ([`Sender::open`], [`Receiver::open`], [`pair_at`], [`unlink`]).
//!
//! An end is either a ring end (the fast path, `shm://`; see [`Ring`]) or an end of a
//! fallback transport (`pipe://`, `fifo://`, `mq://`, `unix://`, `tcp://`; each a file
//! of `src/transport/`). The semantics are the same on every transport (the README's "Semantics"): one send
//! is one message of `0..=msg_size` bytes, a receive returns one whole message, timeouts
//! follow [`Timeout`](crate::timeout::Timeout), `EndOfStream` once every sender has gone and the channel is drained,
//! `Disconnected` once every receiver has gone.
//!
//! The ring-only calls work on every transport:
//! - batches are a loop of single sends / receives on a fallback (same results, no single
//!   publish);
//! - a zero-copy [`SendSlot`] on a fallback is an internal buffer of `msg_size` bytes and
//!   [`SendSlot::commit`] writes it, waiting for room as long as it takes (a fallback cannot
//!   reserve room in the kernel ahead of the write);
//! - a [`RecvSlot`] on a fallback holds a message received into an internal buffer; dropping
//!   it without [`RecvSlot::release`] keeps the message for the next receive, as on an SPSC
//!   ring.
//!
//! Files: `sender.rs` and `receiver.rs` (the API types), `end.rs` (the one dispatch between a
//! ring end and a fallback end, whose emulation lives in `transport::adapter`), and this
//! file: opening by address through the transports' one table (`transport::ops`).

mod end;
mod interrupt;
mod iter;
mod receiver;
mod sender;
mod typed;

pub use interrupt::Interrupter;
pub use iter::Iter;
pub use receiver::{Receiver, RecvBatch, RecvSlot};
pub use sender::{SendSlot, Sender};

use crate::address::{Address, Transport};
use crate::error::{Error, Result};
use crate::ring::{Ring, RingOptions};
use crate::transport;

/// What an open does when the named object does not exist.
///
/// For `unix://` and `tcp://` the receiver always listens (it creates the socket path) and
/// the sender always connects; `Exclusive` refuses to replace a stale socket path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Create {
    /// The object must exist (`NotFound` otherwise).
    #[default]
    No,
    /// Create it from the address's options if it does not exist; open it if it does.
    IfMissing,
    /// Create it; `AlreadyExists` if it is there.
    Exclusive,
}

/// Creates an anonymous ring with both ends attached: the `pipe(2)` pattern. Create, fork,
/// and let each process drop the end it does not use; closing an inherited end in one process
/// does not detach it in the other.
///
/// # Examples
///
/// ```
/// let (mut tx, mut rx) = ipcring::pair(&ipcring::RingOptions::new())?;
/// tx.send(b"ping")?;
/// assert_eq!(rx.recv_vec()?, b"ping");
/// drop(tx);
/// assert!(matches!(rx.recv_vec(), Err(ipcring::Error::EndOfStream)));
/// # Ok::<(), ipcring::Error>(())
/// ```
pub fn pair(opts: &RingOptions) -> Result<(Sender, Receiver)> {
    let ring = Ring::anonymous(opts)?;
    Ok((ring.sender()?, ring.receiver()?))
}

/// An anonymous channel named by an address: `shm://` (a ring, options in the query string)
/// or `pipe://` (a pipe; `msg_size` is its only option). For use across `fork`, like
/// [`pair`].
///
/// # Errors
///
/// [`Error::InvalidAddress`] for a named address or another transport (they are opened by
/// name with [`Sender::open`] / [`Receiver::open`]), and the errors of creating the channel.
///
/// # Examples
///
/// ```
/// let (mut tx, mut rx) = ipcring::pair_at("pipe://?msg_size=64")?;
/// tx.send(b"through a pipe")?;
/// assert_eq!(rx.recv_vec()?, b"through a pipe");
/// # Ok::<(), ipcring::Error>(())
/// ```
pub fn pair_at(address: &str) -> Result<(Sender, Receiver)> {
    pair_addr(&Address::parse(address)?)
}

/// [`pair_at`] for a parsed address (the C library's `ipcring_pair` calls it too).
///
/// # Errors
///
/// As [`pair_at`].
pub fn pair_addr(addr: &Address) -> Result<(Sender, Receiver)> {
    let address = format!("{}://{}", addr.transport().scheme(), addr.target());
    let t = addr.transport();
    if t == Transport::Shm {
        if addr.target().is_empty() {
            return pair(addr.options());
        }
        return Err(Error::InvalidAddress {
            address: address.clone(),
            part: addr.target().to_string(),
            reason: "a pair is anonymous: give shm:// without a name (open a named ring by name)",
        });
    }
    if let Some(make) = transport::ops(t.scheme()).and_then(|o| o.pair) {
        let (tx, rx) = make(&addr.open_spec(true, false))?;
        return Ok((Sender::from_fallback(tx, t), Receiver::from_fallback(rx, t)));
    }
    Err(Error::InvalidAddress {
        address,
        part: t.scheme().to_string(),
        reason: "a pair is made over shm:// or pipe://; other transports are opened by name",
    })
}

/// Removes the named object of `address` (a ring, FIFO, queue or socket path). Endpoints
/// already open keep working; new opens no longer find it.
///
/// # Errors
///
/// [`Error::NotFound`], [`Error::PermissionDenied`], [`Error::InvalidAddress`] for an
/// anonymous or `tcp://` address (nothing to remove), [`Error::NotARing`] for a path that is
/// not a FIFO or socket.
///
/// # Examples
///
/// ```
/// let missing = format!("shm://ipcring-doc-unlink-{}", std::process::id());
/// assert!(matches!(ipcring::unlink(&missing), Err(ipcring::Error::NotFound { .. })));
/// ```
pub fn unlink(address: &str) -> Result<()> {
    unlink_addr(&Address::parse(address)?)
}

/// [`unlink`] for a parsed address (the C library's `ipcring_unlink` calls it too).
///
/// # Errors
///
/// As [`unlink`].
pub fn unlink_addr(addr: &Address) -> Result<()> {
    remove_or_unlink(addr, None)
}

/// [`unlink`] (`force` is `None`) or [`remove`] through the transport's row.
fn remove_or_unlink(addr: &Address, force: Option<bool>) -> Result<()> {
    let address = format!("{}://{}", addr.transport().scheme(), addr.target());
    remove_or_unlink_at(addr, force, &address).map_err(|e| e.on(&address))
}

fn remove_or_unlink_at(addr: &Address, force: Option<bool>, address: &str) -> Result<()> {
    let target = addr.target();
    let nothing = |reason| Error::InvalidAddress {
        address: address.to_string(),
        part: address.to_string(),
        reason,
    };
    match addr.transport() {
        Transport::Shm if target.is_empty() => Err(nothing("an anonymous ring has no name to remove")),
        Transport::Shm => match force {
            None => Ring::unlink(target),
            Some(force) => Ring::remove(target, force),
        },
        t => {
            let ops = transport::ops(t.scheme()).ok_or(Error::Unsupported {
                what: "this transport in this build (nats:// needs the `nats` feature of the ipcring crate)",
            })?;
            match force {
                None => ops.unlink.map_err(nothing)?(target),
                Some(force) => ops.remove.map_err(nothing)?(target, force),
            }
        }
    }
}

/// Removes the named object of `address` unless it is in use; with `force`, whoever uses it.
///
/// - `shm://NAME`: [`Ring::remove`]: live endpoints (in any process) or a creator still
///   initialising the ring are [`Error::InUse`]; dead ones do not count; safe against other
///   cleaners racing for the same name.
/// - `mq://NAME`: refuses ([`Error::InUse`]) while an ipcring endpoint of either side holds
///   its lock on the queue's companion file, then removes the queue and the companion as
///   [`unlink`] does. Best effort: an endpoint that attaches between the check and the
///   removal is not seen (it is left on the removed queue, as with [`unlink`]).
/// - `nats://HOST:PORT/NAME`: refuses ([`Error::InUse`]) while a sender is alive (its entry
///   in the senders' stream says `open` and the server still has its connection) or a
///   receiver is attached (the durable consumer has a pull request waiting or messages
///   delivered and not acknowledged; looked at for about a second, so a receiver between two
///   pull requests is seen), then deletes the streams as [`unlink`] does. A receiver that
///   died holding messages keeps the channel in use until they are redelivered (`ack_wait`).
/// - `fifo://` and `unix://`: no liveness check; the same as [`unlink`].
///
/// # Errors
///
/// Those of [`unlink`], plus [`Error::InUse`] and, on `shm://`, [`Error::Busy`] (role
/// `"cleaner"`: another remove kept the ring busy for a while).
///
/// # Examples
///
/// ```
/// let name = format!("ipcring-doc-chan-remove-{}", std::process::id());
/// let addr = format!("shm://{name}");
/// let rx = ipcring::Receiver::open(&addr, ipcring::Create::Exclusive)?;
/// assert!(matches!(ipcring::remove(&addr, false), Err(ipcring::Error::InUse { endpoints: 1, .. })));
/// drop(rx);
/// ipcring::remove(&addr, false)?;
/// # Ok::<(), ipcring::Error>(())
/// ```
pub fn remove(address: &str, force: bool) -> Result<()> {
    remove_addr(&Address::parse(address)?, force)
}

/// [`remove`] for a parsed address (the C library's `ipcring_remove` calls it too).
///
/// # Errors
///
/// As [`remove`].
pub fn remove_addr(addr: &Address, force: bool) -> Result<()> {
    remove_or_unlink(addr, Some(force))
}

/// Opens the ends asked for on the channel at `addr`: the one place that maps an address to
/// its transport (the Rust API and the C library both come here). The receiver is opened
/// first: it is the one that creates a FIFO, queue or listening socket the sender then finds.
///
/// # Errors
///
/// [`Error::InvalidAddress`] for an anonymous address (make those with [`pair_addr`]), and
/// the errors of the transport's open.
pub fn open_ends(addr: &Address, send: bool, recv: bool, create: Create) -> Result<(Option<Sender>, Option<Receiver>)> {
    open_ends_at(addr, send, recv, create)
        .map_err(|e| e.on(&format!("{}://{}", addr.transport().scheme(), addr.target())))
}

fn open_ends_at(addr: &Address, send: bool, recv: bool, create: Create) -> Result<(Option<Sender>, Option<Receiver>)> {
    let target = addr.target();
    let t = addr.transport();
    if target.is_empty() {
        return Err(Error::InvalidAddress {
            address: format!("{}://", t.scheme()),
            part: format!("{}://", t.scheme()),
            reason: "an anonymous channel is made with a pair (ipcring_pair / pair_at), not opened",
        });
    }
    if t == Transport::Shm {
        let opts = addr.options();
        let ring = match create {
            Create::No => Ring::open_with(target, opts),
            Create::Exclusive => Ring::create(target, opts),
            Create::IfMissing => match Ring::create(target, opts) {
                Err(Error::AlreadyExists { .. }) => Ring::open_with(target, opts),
                r => r,
            },
        }?;
        let tx = send.then(|| ring.sender()).transpose()?;
        let rx = recv.then(|| ring.receiver()).transpose()?;
        return Ok((tx, rx));
    }
    {
        let unsupported = || Error::Unsupported {
            what: "opening this transport by name",
        };
        let ops = transport::ops(t.scheme()).ok_or(Error::Unsupported {
            what: "this transport in this build (nats:// needs the `nats` feature of the ipcring crate)",
        })?;
        let spec = addr.open_spec(create != Create::No, create == Create::Exclusive);
        let rx = if recv {
            let open = ops.open_receiver.ok_or_else(unsupported)?;
            Some(Receiver::from_fallback(open(&spec)?, t))
        } else {
            None
        };
        // With a receiver just opened, the object exists: the sender opens it as it is.
        let spec = if recv { addr.open_spec(false, false) } else { spec };
        let tx = if send {
            let open = ops.open_sender.ok_or_else(unsupported)?;
            Some(Sender::from_fallback(open(&spec)?, t))
        } else {
            None
        };
        Ok((tx, rx))
    }
}

/// A ring's ends as API types (here rather than in `ring`, which sits below the API and does
/// not know `Sender` / `Receiver`).
impl Ring {
    /// Attaches a sender. On SPSC a second live sender is [`Error::Busy`].
    ///
    /// # Examples
    ///
    /// ```
    /// let ring = ipcring::Ring::in_process(&ipcring::RingOptions::new())?;
    /// let _tx = ring.sender()?;
    /// assert!(matches!(ring.sender(), Err(ipcring::Error::Busy { role: "sender" })));
    /// # Ok::<(), ipcring::Error>(())
    /// ```
    pub fn sender(&self) -> Result<Sender> {
        self.attach_sender().map(Sender::from_ring)
    }

    /// Attaches a receiver. On SPSC a second live receiver is [`Error::Busy`].
    ///
    /// # Examples
    ///
    /// ```
    /// let ring = ipcring::Ring::in_process(&ipcring::RingOptions::new())?;
    /// let rx = ring.receiver()?;
    /// # drop(rx); Ok::<(), ipcring::Error>(())
    /// ```
    pub fn receiver(&self) -> Result<Receiver> {
        self.attach_receiver().map(Receiver::from_ring)
    }
}
