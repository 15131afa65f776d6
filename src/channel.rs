//! The channel API every transport shares: [`Sender`] and [`Receiver`], zero-copy
//! [`SendSlot`] / [`RecvSlot`], batches, [`Stats`], and opening a channel by its address
//! ([`Sender::open`], [`Receiver::open`], [`pair_at`], [`unlink`]).
//!
//! An end is either a ring end (the fast path, `shm://`; see [`crate::Ring`]) or an end of a
//! fallback transport (`pipe://`, `fifo://`, `mq://`, `unix://`, `tcp://`; see
//! [`crate::transport`]). The semantics are the same on every transport (DESIGN §3): one send
//! is one message of `0..=msg_size` bytes, a receive returns one whole message, timeouts
//! follow [`Timeout`], `EndOfStream` once every sender has gone and the channel is drained,
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

use crate::address::{Address, Transport};
use crate::error::{Error, Result};
use crate::options::RingOptions;
use crate::ring::{Ring, RingReceiver, RingSender};
use crate::timeout::Timeout;
#[cfg(not(ipcring_loom))]
use crate::transport::{self, MsgReceiver, MsgSender, OpenSpec};
use std::time::Duration;

/// Counters kept by one endpoint (process-local, never shared).
///
/// On fallback transports `parks` and `wakes` stay 0: the kernel does the sleeping and
/// waking inside the system calls.
///
/// # Examples
///
/// ```
/// let (mut tx, _rx) = ipcring::pair(&Default::default())?;
/// tx.send(b"x")?;
/// assert_eq!(tx.stats().messages, 1);
/// # Ok::<(), ipcring::Error>(())
/// ```
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Stats {
    /// Messages sent or received.
    pub messages: u64,
    /// Payload bytes sent or received.
    pub bytes: u64,
    /// Times this endpoint went to sleep (one system call each).
    pub parks: u64,
    /// Times this endpoint woke a parked peer (one system call each, or one per sleeper with
    /// the `sem_t` backend).
    pub wakes: u64,
    /// Every system call this endpoint made on its message path: sleeps and wake-ups, peer
    /// liveness checks (OFD lock queries), and on the fallbacks each read, write, poll, queue
    /// or socket call. A busy ring makes none per message; `syscalls / messages` is the
    /// figure `ipcring bench` reports.
    pub syscalls: u64,
}

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

/// A fallback sender plus what the channel layer adds to it.
#[cfg(not(ipcring_loom))]
#[derive(Debug)]
struct OtherTx {
    end: Box<dyn MsgSender>,
    transport: Transport,
    /// The buffer behind a [`SendSlot`] (allocated on first reserve).
    slot: Vec<u8>,
    stats: Stats,
}

#[derive(Debug)]
enum Tx {
    Ring(RingSender),
    #[cfg(not(ipcring_loom))]
    Other(OtherTx),
}

/// The sending end of a channel.
///
/// Owned by one thread at a time (`Send`, not `Sync`). Dropping it detaches the endpoint;
/// when the last sender has gone, receivers see [`Error::EndOfStream`] once they have
/// drained the channel.
///
/// # Examples
///
/// ```
/// let (mut tx, mut rx) = ipcring::pair(&ipcring::RingOptions::new().capacity(2))?;
/// tx.send(b"a")?;
/// tx.try_send(b"b")?;
/// assert!(matches!(tx.try_send(b"c"), Err(ipcring::Error::WouldBlock)));
/// assert_eq!(rx.recv_vec()?, b"a");
/// # Ok::<(), ipcring::Error>(())
/// ```
#[derive(Debug)]
pub struct Sender {
    inner: Tx,
}

impl Sender {
    pub(crate) fn from_ring(r: RingSender) -> Sender {
        Sender { inner: Tx::Ring(r) }
    }

    #[cfg(not(ipcring_loom))]
    fn from_other(end: Box<dyn MsgSender>, transport: Transport) -> Sender {
        Sender {
            inner: Tx::Other(OtherTx {
                end,
                transport,
                slot: Vec::new(),
                stats: Stats::default(),
            }),
        }
    }

    /// Opens a sender on the channel named by `address` (DESIGN §2), creating the object as
    /// `create` says. `pipe://` and `shm://` without a name are anonymous: use [`pair_at`].
    ///
    /// # Errors
    ///
    /// [`Error::InvalidAddress`] naming the offending part, and the errors of the transport's
    /// open ([`Error::NotFound`], [`Error::AlreadyExists`], [`Error::Mismatch`], ...).
    ///
    /// # Examples
    ///
    /// ```
    /// use ipcring::{Create, Receiver, Sender};
    /// let addr = format!("shm://ipcring-doc-open-{}?capacity=8", std::process::id());
    /// let mut tx = Sender::open(&addr, Create::Exclusive)?;
    /// let mut rx = Receiver::open(&addr, Create::No)?;
    /// tx.send(b"by address")?;
    /// assert_eq!(rx.recv_vec()?, b"by address");
    /// ipcring::unlink(&addr)?;
    /// # Ok::<(), ipcring::Error>(())
    /// ```
    pub fn open(address: &str, create: Create) -> Result<Sender> {
        let addr = Address::parse(address)?;
        let (tx, _) = open_ends(&addr, true, false, create)?;
        tx.ok_or(Error::Unsupported { what: "no sender" })
    }

    /// Another sender on the same channel: on an MPMC ring a new endpoint, on a fallback a
    /// new connection or descriptor. An SPSC ring is [`Error::Busy`]; a transport that cannot
    /// have several senders says why with [`Error::Unsupported`].
    ///
    /// # Examples
    ///
    /// ```
    /// let ring = ipcring::Ring::in_process(&ipcring::RingOptions::new().kind(ipcring::Kind::Mpmc))?;
    /// let tx = ring.sender()?;
    /// let tx2 = tx.try_clone()?;
    /// # drop((tx, tx2)); Ok::<(), ipcring::Error>(())
    /// ```
    pub fn try_clone(&self) -> Result<Sender> {
        match &self.inner {
            Tx::Ring(r) => r.try_clone().map(Sender::from_ring),
            #[cfg(not(ipcring_loom))]
            Tx::Other(o) => Ok(Sender::from_other(o.end.try_clone()?, o.transport)),
        }
    }

    /// The largest message this channel takes.
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, _rx) = ipcring::pair(&ipcring::RingOptions::new().msg_size(16))?;
    /// assert_eq!(tx.max_msg_size(), 16);
    /// # Ok::<(), ipcring::Error>(())
    /// ```
    pub fn max_msg_size(&self) -> usize {
        match &self.inner {
            Tx::Ring(r) => r.max_msg_size(),
            #[cfg(not(ipcring_loom))]
            Tx::Other(o) => o.end.msg_size(),
        }
    }

    /// The transport this end uses.
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, _rx) = ipcring::pair_at("pipe://")?;
    /// assert_eq!(tx.transport(), ipcring::address::Transport::Pipe);
    /// # Ok::<(), ipcring::Error>(())
    /// ```
    pub fn transport(&self) -> Transport {
        match &self.inner {
            Tx::Ring(_) => Transport::Shm,
            #[cfg(not(ipcring_loom))]
            Tx::Other(o) => o.transport,
        }
    }

    /// This endpoint's counters.
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, _rx) = ipcring::pair(&Default::default())?;
    /// assert_eq!(tx.stats().parks, 0);
    /// # Ok::<(), ipcring::Error>(())
    /// ```
    pub fn stats(&self) -> Stats {
        match &self.inner {
            Tx::Ring(r) => r.stats(),
            #[cfg(not(ipcring_loom))]
            Tx::Other(o) => o.stats,
        }
    }

    /// Sends `msg`, waiting as long as `timeout` allows for room.
    ///
    /// Errors: [`Error::TooLarge`] (nothing sent), [`Error::WouldBlock`] / [`Error::TimedOut`]
    /// (nothing sent), [`Error::Disconnected`], [`Error::Corrupted`].
    ///
    /// # Examples
    ///
    /// ```
    /// use ipcring::Timeout;
    /// let (mut tx, _rx) = ipcring::pair(&ipcring::RingOptions::new().capacity(1))?;
    /// tx.send_with_timeout(b"1", Timeout::Never)?;
    /// let full = tx.send_with_timeout(b"2", Timeout::after(std::time::Duration::from_millis(5)));
    /// assert!(matches!(full, Err(ipcring::Error::TimedOut)));
    /// # Ok::<(), ipcring::Error>(())
    /// ```
    #[inline]
    pub fn send_with_timeout(&mut self, msg: &[u8], timeout: Timeout) -> Result<()> {
        match &mut self.inner {
            Tx::Ring(r) => r.send_with_timeout(msg, timeout),
            #[cfg(not(ipcring_loom))]
            Tx::Other(o) => o.send(msg, timeout),
        }
    }

    /// Sends `msg`, waiting for room as long as it takes.
    ///
    /// # Examples
    ///
    /// ```
    /// let (mut tx, mut rx) = ipcring::pair(&Default::default())?;
    /// tx.send(b"")?; // empty messages are messages too
    /// assert_eq!(rx.recv_vec()?.len(), 0);
    /// # Ok::<(), ipcring::Error>(())
    /// ```
    pub fn send(&mut self, msg: &[u8]) -> Result<()> {
        self.send_with_timeout(msg, Timeout::Forever)
    }

    /// Sends `msg` if there is room now; otherwise [`Error::WouldBlock`].
    ///
    /// # Examples
    ///
    /// ```
    /// let (mut tx, _rx) = ipcring::pair(&Default::default())?;
    /// tx.try_send(b"now")?;
    /// # Ok::<(), ipcring::Error>(())
    /// ```
    pub fn try_send(&mut self, msg: &[u8]) -> Result<()> {
        self.send_with_timeout(msg, Timeout::Never)
    }

    /// Sends `msg`, waiting at most `d` for room; otherwise [`Error::TimedOut`].
    ///
    /// # Examples
    ///
    /// ```
    /// let (mut tx, _rx) = ipcring::pair(&Default::default())?;
    /// tx.send_timeout(b"soon", std::time::Duration::from_millis(10))?;
    /// # Ok::<(), ipcring::Error>(())
    /// ```
    pub fn send_timeout(&mut self, msg: &[u8], d: Duration) -> Result<()> {
        self.send_with_timeout(msg, Timeout::after(d))
    }

    /// Sends `msgs` in order. On a ring each run that fits is published with one cursor store
    /// (SPSC) or one claim (MPMC) and one wake-up; on a fallback it is one send each. Waits
    /// for room as `timeout` allows and returns how many were sent: fewer than `msgs.len()`
    /// only if the wait ended (`msgs[n..]` were not sent). Lengths are all checked first: one
    /// too large is [`Error::TooLarge`] with nothing sent.
    ///
    /// # Examples
    ///
    /// ```
    /// use ipcring::Timeout;
    /// let (mut tx, mut rx) = ipcring::pair(&ipcring::RingOptions::new().capacity(4))?;
    /// let sent = tx.send_batch(&[b"a", b"b", b"c", b"d", b"e"], Timeout::Never)?;
    /// assert_eq!(sent, 4);
    /// let mut got = Vec::new();
    /// rx.recv_batch(8, Timeout::Never, |m| got.push(m.to_vec()))?;
    /// assert_eq!(got, [b"a", b"b", b"c", b"d"]);
    /// # Ok::<(), ipcring::Error>(())
    /// ```
    pub fn send_batch<M: AsRef<[u8]>>(&mut self, msgs: &[M], timeout: Timeout) -> Result<usize> {
        match &mut self.inner {
            Tx::Ring(r) => r.send_batch(msgs, timeout),
            #[cfg(not(ipcring_loom))]
            Tx::Other(o) => o.send_batch(msgs, timeout),
        }
    }

    /// Reserves the next slot for a zero-copy write, waiting as `timeout` allows. Write into
    /// [`SendSlot::buf`] and [`commit`](SendSlot::commit). A slot dropped without commit sends
    /// nothing (on MPMC it is published as a tombstone that receivers skip). On a fallback
    /// the slot is an internal buffer and the commit does the write (see the module docs).
    ///
    /// # Examples
    ///
    /// ```
    /// use ipcring::Timeout;
    /// let (mut tx, mut rx) = ipcring::pair(&Default::default())?;
    /// let mut slot = tx.reserve(Timeout::Forever)?;
    /// slot.buf()[..3].copy_from_slice(b"abc");
    /// slot.commit(3)?;
    /// assert_eq!(rx.recv_vec()?, b"abc");
    /// # Ok::<(), ipcring::Error>(())
    /// ```
    pub fn reserve(&mut self, timeout: Timeout) -> Result<SendSlot<'_>> {
        let (ptr, pos) = self.reserve_raw(timeout)?;
        Ok(SendSlot {
            tx: self,
            ptr,
            pos,
            done: false,
        })
    }

    /// [`reserve`](Sender::reserve) without the borrow: the slot's payload pointer
    /// (`msg_size` writable bytes) and its position, to be passed to
    /// [`commit_raw`](Sender::commit_raw) or [`cancel_raw`](Sender::cancel_raw) before any
    /// other send on this sender. The C ABI keeps the pair in its handle between calls.
    #[doc(hidden)]
    pub fn reserve_raw(&mut self, timeout: Timeout) -> Result<(*mut u8, u64)> {
        match &mut self.inner {
            Tx::Ring(r) => r.reserve_raw(timeout),
            #[cfg(not(ipcring_loom))]
            Tx::Other(o) => {
                let _ = timeout; // a fallback cannot reserve room ahead of the write
                let size = o.end.msg_size();
                o.slot.resize(size, 0);
                Ok((o.slot.as_mut_ptr(), 0))
            }
        }
    }

    /// Publishes `len` bytes of the slot reserved at `pos`. `len > msg_size` is
    /// [`Error::TooLarge`] and leaves the reservation standing.
    #[doc(hidden)]
    pub fn commit_raw(&mut self, pos: u64, len: usize) -> Result<()> {
        match &mut self.inner {
            Tx::Ring(r) => r.commit_raw(pos, len),
            #[cfg(not(ipcring_loom))]
            Tx::Other(o) => {
                let max = o.end.msg_size();
                if len > max {
                    return Err(Error::TooLarge { len, max });
                }
                let slot = std::mem::take(&mut o.slot);
                let r = o.send(&slot[..len], Timeout::Forever);
                o.slot = slot;
                r
            }
        }
    }

    /// Gives up the slot reserved at `pos` without sending anything.
    #[doc(hidden)]
    pub fn cancel_raw(&mut self, pos: u64) {
        match &mut self.inner {
            Tx::Ring(r) => r.cancel_raw(pos),
            #[cfg(not(ipcring_loom))]
            Tx::Other(_) => {}
        }
    }

    /// The ring's shape (`None` on a fallback).
    #[cfg_attr(ipcring_loom, allow(dead_code))] // used by ffi, which loom builds leave out
    pub fn geometry(&self) -> Option<crate::Geometry> {
        match &self.inner {
            Tx::Ring(r) => Some(r.geometry()),
            #[cfg(not(ipcring_loom))]
            Tx::Other(_) => None,
        }
    }

    /// Messages in the channel now (a snapshot; `None` where the transport cannot tell).
    #[cfg_attr(ipcring_loom, allow(dead_code))] // used by ffi, which loom builds leave out
    pub fn queued(&self) -> Option<u64> {
        match &self.inner {
            Tx::Ring(r) => Some(r.queued()),
            #[cfg(not(ipcring_loom))]
            Tx::Other(o) => o.end.queued(),
        }
    }
}

#[cfg(not(ipcring_loom))]
impl OtherTx {
    fn send(&mut self, msg: &[u8], timeout: Timeout) -> Result<()> {
        let end = &mut self.end;
        crate::sys::count::counting(&mut self.stats.syscalls, || end.send(msg, timeout))?;
        self.stats.messages += 1;
        self.stats.bytes += msg.len() as u64;
        Ok(())
    }

    fn send_batch<M: AsRef<[u8]>>(&mut self, msgs: &[M], timeout: Timeout) -> Result<usize> {
        let max = self.end.msg_size();
        if let Some(m) = msgs.iter().find(|m| m.as_ref().len() > max) {
            return Err(Error::TooLarge {
                len: m.as_ref().len(),
                max,
            });
        }
        for (sent, m) in msgs.iter().enumerate() {
            match self.send(m.as_ref(), timeout) {
                Ok(()) => {}
                Err(Error::WouldBlock | Error::TimedOut | Error::Disconnected) if sent > 0 => return Ok(sent),
                Err(e) => return Err(e),
            }
        }
        Ok(msgs.len())
    }
}

/// A reserved slot for a zero-copy send (see [`Sender::reserve`]).
///
/// # Examples
///
/// ```
/// let (mut tx, _rx) = ipcring::pair(&ipcring::RingOptions::new().msg_size(32))?;
/// let mut slot = tx.reserve(ipcring::Timeout::Never)?;
/// assert_eq!(slot.buf().len(), 32);
/// drop(slot); // nothing sent
/// # Ok::<(), ipcring::Error>(())
/// ```
#[derive(Debug)]
pub struct SendSlot<'a> {
    tx: &'a mut Sender,
    ptr: *mut u8,
    pos: u64,
    done: bool,
}

impl SendSlot<'_> {
    /// The slot's payload: `msg_size` bytes to write the message into.
    ///
    /// # Examples
    ///
    /// ```
    /// let (mut tx, _rx) = ipcring::pair(&Default::default())?;
    /// let mut slot = tx.reserve(ipcring::Timeout::Never)?;
    /// slot.buf()[0] = 7;
    /// slot.commit(1)?;
    /// # Ok::<(), ipcring::Error>(())
    /// ```
    pub fn buf(&mut self) -> &mut [u8] {
        // SAFETY: the slot is reserved for us (SPSC: ahead of the published tail; MPMC:
        // claimed and unpublished; fallback: the sender's own buffer, untouched until
        // commit) and it is msg_size bytes long.
        unsafe { core::slice::from_raw_parts_mut(self.ptr, self.tx.max_msg_size()) }
    }

    /// Publishes the first `len` bytes of [`buf`](SendSlot::buf) as one message.
    /// `len > msg_size` is [`Error::TooLarge`] and sends nothing.
    ///
    /// # Examples
    ///
    /// ```
    /// let (mut tx, _rx) = ipcring::pair(&ipcring::RingOptions::new().msg_size(4))?;
    /// let slot = tx.reserve(ipcring::Timeout::Never)?;
    /// assert!(matches!(slot.commit(5), Err(ipcring::Error::TooLarge { .. })));
    /// # Ok::<(), ipcring::Error>(())
    /// ```
    pub fn commit(mut self, len: usize) -> Result<()> {
        self.tx.commit_raw(self.pos, len)?;
        self.done = true;
        Ok(())
    }
}

impl Drop for SendSlot<'_> {
    fn drop(&mut self) {
        if !self.done {
            self.tx.cancel_raw(self.pos);
        }
    }
}

/// A fallback receiver plus what the channel layer adds to it.
#[cfg(not(ipcring_loom))]
#[derive(Debug)]
struct OtherRx {
    end: Box<dyn MsgReceiver>,
    transport: Transport,
    /// The buffer behind a [`RecvSlot`], and the length of the message held in it (received
    /// by a peek and not yet released: the next receive returns it).
    slot: Vec<u8>,
    held: Option<usize>,
    stats: Stats,
}

#[derive(Debug)]
enum Rx {
    Ring(RingReceiver),
    #[cfg(not(ipcring_loom))]
    Other(OtherRx),
}

/// The receiving end of a channel.
///
/// Owned by one thread at a time (`Send`, not `Sync`). Dropping it detaches the endpoint;
/// when the last receiver has gone, senders get [`Error::Disconnected`].
///
/// # Examples
///
/// ```
/// let (mut tx, mut rx) = ipcring::pair(&Default::default())?;
/// tx.send(b"hi")?;
/// let mut buf = [0u8; 16];
/// let n = rx.recv(&mut buf)?;
/// assert_eq!(&buf[..n], b"hi");
/// # Ok::<(), ipcring::Error>(())
/// ```
#[derive(Debug)]
pub struct Receiver {
    inner: Rx,
}

impl Receiver {
    pub(crate) fn from_ring(r: RingReceiver) -> Receiver {
        Receiver { inner: Rx::Ring(r) }
    }

    #[cfg(not(ipcring_loom))]
    fn from_other(end: Box<dyn MsgReceiver>, transport: Transport) -> Receiver {
        Receiver {
            inner: Rx::Other(OtherRx {
                end,
                transport,
                slot: Vec::new(),
                held: None,
                stats: Stats::default(),
            }),
        }
    }

    /// Opens a receiver on the channel named by `address`, creating the object as `create`
    /// says (see [`Sender::open`]). On `unix://` and `tcp://` the receiver is the listener.
    ///
    /// # Errors
    ///
    /// As [`Sender::open`].
    ///
    /// # Examples
    ///
    /// ```
    /// use ipcring::{Create, Error, Receiver};
    /// let missing = format!("shm://ipcring-doc-none-{}", std::process::id());
    /// assert!(matches!(Receiver::open(&missing, Create::No), Err(Error::NotFound)));
    /// ```
    pub fn open(address: &str, create: Create) -> Result<Receiver> {
        let addr = Address::parse(address)?;
        let (_, rx) = open_ends(&addr, false, true, create)?;
        rx.ok_or(Error::Unsupported { what: "no receiver" })
    }

    /// Another receiver on the same channel (MPMC ring, POSIX queue); an SPSC ring is
    /// [`Error::Busy`], and a transport where a second reader would split or steal parts of
    /// messages (pipe, FIFO, one socket listener per address) is [`Error::Unsupported`].
    ///
    /// # Examples
    ///
    /// ```
    /// let ring = ipcring::Ring::in_process(&ipcring::RingOptions::new())?;
    /// let rx = ring.receiver()?;
    /// assert!(rx.try_clone().is_err()); // SPSC: one receiver
    /// # Ok::<(), ipcring::Error>(())
    /// ```
    pub fn try_clone(&self) -> Result<Receiver> {
        match &self.inner {
            Rx::Ring(r) => r.try_clone().map(Receiver::from_ring),
            #[cfg(not(ipcring_loom))]
            Rx::Other(o) => Ok(Receiver::from_other(o.end.try_clone()?, o.transport)),
        }
    }

    /// The largest message this channel carries.
    ///
    /// # Examples
    ///
    /// ```
    /// let (_tx, rx) = ipcring::pair(&ipcring::RingOptions::new().msg_size(16))?;
    /// assert_eq!(rx.max_msg_size(), 16);
    /// # Ok::<(), ipcring::Error>(())
    /// ```
    pub fn max_msg_size(&self) -> usize {
        match &self.inner {
            Rx::Ring(r) => r.max_msg_size(),
            #[cfg(not(ipcring_loom))]
            Rx::Other(o) => o.end.msg_size(),
        }
    }

    /// The transport this end uses.
    ///
    /// # Examples
    ///
    /// ```
    /// let (_tx, rx) = ipcring::pair(&Default::default())?;
    /// assert_eq!(rx.transport(), ipcring::address::Transport::Shm);
    /// # Ok::<(), ipcring::Error>(())
    /// ```
    pub fn transport(&self) -> Transport {
        match &self.inner {
            Rx::Ring(_) => Transport::Shm,
            #[cfg(not(ipcring_loom))]
            Rx::Other(o) => o.transport,
        }
    }

    /// This endpoint's counters.
    ///
    /// # Examples
    ///
    /// ```
    /// let (_tx, rx) = ipcring::pair(&Default::default())?;
    /// assert_eq!(rx.stats().messages, 0);
    /// # Ok::<(), ipcring::Error>(())
    /// ```
    pub fn stats(&self) -> Stats {
        match &self.inner {
            Rx::Ring(r) => r.stats(),
            #[cfg(not(ipcring_loom))]
            Rx::Other(o) => o.stats,
        }
    }

    /// Receives one message into `buf`, waiting as `timeout` allows; returns its length.
    ///
    /// Errors: [`Error::BufferTooSmall`] (the message stays in the channel),
    /// [`Error::WouldBlock`] / [`Error::TimedOut`], [`Error::EndOfStream`], [`Error::Corrupted`].
    ///
    /// # Examples
    ///
    /// ```
    /// use ipcring::Timeout;
    /// let (mut tx, mut rx) = ipcring::pair(&Default::default())?;
    /// tx.send(b"four")?;
    /// let mut small = [0u8; 2];
    /// assert!(matches!(rx.recv_with_timeout(&mut small, Timeout::Never), Err(ipcring::Error::BufferTooSmall { needed: 4, .. })));
    /// let mut buf = [0u8; 4];
    /// assert_eq!(rx.recv_with_timeout(&mut buf, Timeout::Never)?, 4);
    /// # Ok::<(), ipcring::Error>(())
    /// ```
    #[inline]
    pub fn recv_with_timeout(&mut self, buf: &mut [u8], timeout: Timeout) -> Result<usize> {
        match &mut self.inner {
            Rx::Ring(r) => r.recv_with_timeout(buf, timeout),
            #[cfg(not(ipcring_loom))]
            Rx::Other(o) => o.recv(buf, timeout),
        }
    }

    /// Receives one message into `buf`, waiting as long as it takes.
    ///
    /// # Examples
    ///
    /// ```
    /// let (mut tx, mut rx) = ipcring::pair(&Default::default())?;
    /// tx.send(b"x")?;
    /// let mut buf = [0u8; 8];
    /// assert_eq!(rx.recv(&mut buf)?, 1);
    /// # Ok::<(), ipcring::Error>(())
    /// ```
    pub fn recv(&mut self, buf: &mut [u8]) -> Result<usize> {
        self.recv_with_timeout(buf, Timeout::Forever)
    }

    /// Receives one message into `buf` if one is there now; otherwise [`Error::WouldBlock`].
    ///
    /// # Examples
    ///
    /// ```
    /// let (_tx, mut rx) = ipcring::pair(&Default::default())?;
    /// assert!(matches!(rx.try_recv(&mut [0u8; 8]), Err(ipcring::Error::WouldBlock)));
    /// # Ok::<(), ipcring::Error>(())
    /// ```
    pub fn try_recv(&mut self, buf: &mut [u8]) -> Result<usize> {
        self.recv_with_timeout(buf, Timeout::Never)
    }

    /// Receives one message into `buf`, waiting at most `d`; otherwise [`Error::TimedOut`].
    ///
    /// # Examples
    ///
    /// ```
    /// let (_tx, mut rx) = ipcring::pair(&Default::default())?;
    /// let r = rx.recv_timeout(&mut [0u8; 8], std::time::Duration::from_millis(5));
    /// assert!(matches!(r, Err(ipcring::Error::TimedOut)));
    /// # Ok::<(), ipcring::Error>(())
    /// ```
    pub fn recv_timeout(&mut self, buf: &mut [u8], d: Duration) -> Result<usize> {
        self.recv_with_timeout(buf, Timeout::after(d))
    }

    /// Receives one message as an owned `Vec`, waiting as `timeout` allows.
    ///
    /// # Examples
    ///
    /// ```
    /// let (mut tx, mut rx) = ipcring::pair(&Default::default())?;
    /// tx.send(b"owned")?;
    /// assert_eq!(rx.recv_vec_with_timeout(ipcring::Timeout::Never)?, b"owned");
    /// # Ok::<(), ipcring::Error>(())
    /// ```
    pub fn recv_vec_with_timeout(&mut self, timeout: Timeout) -> Result<Vec<u8>> {
        match &mut self.inner {
            Rx::Ring(r) => r.recv_vec_with_timeout(timeout),
            #[cfg(not(ipcring_loom))]
            Rx::Other(o) => {
                let mut v = vec![0; o.end.msg_size()];
                let n = o.recv(&mut v, timeout)?;
                v.truncate(n);
                Ok(v)
            }
        }
    }

    /// Receives one message as an owned `Vec`, waiting as long as it takes.
    ///
    /// # Examples
    ///
    /// ```
    /// let (mut tx, mut rx) = ipcring::pair(&Default::default())?;
    /// tx.send(b"v")?;
    /// assert_eq!(rx.recv_vec()?, b"v");
    /// # Ok::<(), ipcring::Error>(())
    /// ```
    pub fn recv_vec(&mut self) -> Result<Vec<u8>> {
        self.recv_vec_with_timeout(Timeout::Forever)
    }

    /// Receives one message as an owned `Vec` if one is there now.
    ///
    /// # Examples
    ///
    /// ```
    /// let (_tx, mut rx) = ipcring::pair(&Default::default())?;
    /// assert!(rx.try_recv_vec().is_err());
    /// # Ok::<(), ipcring::Error>(())
    /// ```
    pub fn try_recv_vec(&mut self) -> Result<Vec<u8>> {
        self.recv_vec_with_timeout(Timeout::Never)
    }

    /// Receives one message as an owned `Vec`, waiting at most `d`.
    ///
    /// # Examples
    ///
    /// ```
    /// let (_tx, mut rx) = ipcring::pair(&Default::default())?;
    /// assert!(rx.recv_vec_timeout(std::time::Duration::from_millis(1)).is_err());
    /// # Ok::<(), ipcring::Error>(())
    /// ```
    pub fn recv_vec_timeout(&mut self, d: Duration) -> Result<Vec<u8>> {
        self.recv_vec_with_timeout(Timeout::after(d))
    }

    /// Receives up to `max` messages, waiting as `timeout` allows for the first, and hands
    /// each to `f` in place. On a ring they are consumed with one cursor store (SPSC) or one
    /// claim (MPMC) and one wake-up; on a fallback the first waits and the rest are taken
    /// while they are there. Returns how many were received: at least 1, or 0 at once when
    /// `max` is 0.
    ///
    /// # Examples
    ///
    /// ```
    /// use ipcring::Timeout;
    /// let (mut tx, mut rx) = ipcring::pair(&Default::default())?;
    /// tx.send_batch(&[b"1", b"2"], Timeout::Never)?;
    /// let mut total = 0;
    /// let n = rx.recv_batch(10, Timeout::Never, |m| total += m.len())?;
    /// assert_eq!((n, total), (2, 2));
    /// # Ok::<(), ipcring::Error>(())
    /// ```
    pub fn recv_batch(&mut self, max: usize, timeout: Timeout, f: impl FnMut(&[u8])) -> Result<usize> {
        match &mut self.inner {
            Rx::Ring(r) => r.recv_batch(max, timeout, f),
            #[cfg(not(ipcring_loom))]
            Rx::Other(o) => o.recv_batch(max, timeout, f),
        }
    }

    /// Waits as `timeout` allows for the next message and returns it in place, without a
    /// copy. [`RecvSlot::release`] consumes it. Dropping the slot without release leaves the
    /// message in the channel on SPSC rings and fallbacks; on MPMC the message was claimed
    /// and is consumed either way.
    ///
    /// # Examples
    ///
    /// ```
    /// use ipcring::Timeout;
    /// let (mut tx, mut rx) = ipcring::pair(&Default::default())?;
    /// tx.send(b"in place")?;
    /// let msg = rx.peek(Timeout::Never)?;
    /// assert_eq!(&*msg, b"in place");
    /// msg.release();
    /// # Ok::<(), ipcring::Error>(())
    /// ```
    pub fn peek(&mut self, timeout: Timeout) -> Result<RecvSlot<'_>> {
        let (ptr, len, pos) = self.peek_raw(timeout)?;
        Ok(RecvSlot {
            rx: self,
            ptr,
            len,
            pos,
            done: false,
        })
    }

    /// Waits as `timeout` allows for the next message, then looks at up to `max` messages
    /// in place, handing each to `f` in order, *without consuming them*:
    /// [`RecvBatch::release`]`(k)` consumes the first `k` and leaves the rest in the channel.
    /// This is the batch form of [`peek`](Receiver::peek), for a consumer that must not lose
    /// a message it could not pass on (write them all out, then release the ones that went).
    ///
    /// - SPSC ring: the messages are read in place; those not released stay in the ring, for
    ///   this receiver or the next one.
    /// - MPMC ring: the messages are claimed, and a claim cannot be undone: they are all
    ///   consumed whatever is released (see [`peek_consumes`](Receiver::peek_consumes)).
    /// - Fallback: one message at a time (the one [`peek`](Receiver::peek) would hold); not
    ///   released, it is kept by this receiver for its next receive.
    ///
    /// `max == 0` returns an empty batch at once.
    ///
    /// # Examples
    ///
    /// ```
    /// use ipcring::Timeout;
    /// let (mut tx, mut rx) = ipcring::pair(&Default::default())?;
    /// tx.send_batch(&[b"a", b"b", b"c"], Timeout::Never)?;
    /// let mut seen = Vec::new();
    /// let batch = rx.peek_batch(8, Timeout::Never, |m| seen.push(m.to_vec()))?;
    /// assert_eq!(batch.len(), 3);
    /// batch.release(2); // "c" stays in the ring
    /// assert_eq!(seen, [b"a", b"b", b"c"]);
    /// assert_eq!(rx.recv_vec()?, b"c");
    ///
    /// // MPMC: what was seen was claimed, and is consumed whatever is released.
    /// let ring = ipcring::Ring::in_process(&ipcring::RingOptions::new().kind(ipcring::Kind::Mpmc))?;
    /// let (mut tx, mut rx) = (ring.sender()?, ring.receiver()?);
    /// tx.send_batch(&[b"x", b"y"], Timeout::Never)?;
    /// assert!(rx.peek_consumes());
    /// rx.peek_batch(8, Timeout::Never, |_| {})?.release(1);
    /// assert!(matches!(rx.try_recv_vec(), Err(ipcring::Error::WouldBlock)));
    ///
    /// // A fallback: one message at a time, kept by the receiver until released.
    /// let (mut tx, mut rx) = ipcring::pair_at("pipe://")?;
    /// tx.send(b"p")?;
    /// tx.send(b"q")?;
    /// assert_eq!(rx.peek_batch(8, Timeout::Never, |_| {})?.len(), 1);
    /// assert_eq!(rx.recv_vec()?, b"p");
    /// # Ok::<(), ipcring::Error>(())
    /// ```
    pub fn peek_batch(&mut self, max: usize, timeout: Timeout, f: impl FnMut(&[u8])) -> Result<RecvBatch<'_>> {
        let (pos, n) = if max == 0 {
            (0, 0)
        } else {
            match &mut self.inner {
                Rx::Ring(r) => r.peek_batch_raw(max, timeout, f)?,
                #[cfg(not(ipcring_loom))]
                Rx::Other(o) => {
                    let mut f = f;
                    let len = o.fill_slot(timeout)?;
                    f(&o.slot[..len]);
                    (0, 1)
                }
            }
        };
        Ok(RecvBatch {
            rx: self,
            pos,
            n,
            done: false,
        })
    }

    /// Whether a message seen by [`peek`](Receiver::peek) or
    /// [`peek_batch`](Receiver::peek_batch) is consumed even if it is not released: true on
    /// MPMC rings (looking at a message claims it). Otherwise an unreleased message is kept:
    /// in the ring on SPSC; on a fallback transport in this receiver's memory (it has left
    /// the kernel object already), so it is lost if the process ends before receiving it.
    ///
    /// # Examples
    ///
    /// ```
    /// let (_tx, rx) = ipcring::pair(&Default::default())?;
    /// assert!(!rx.peek_consumes()); // SPSC
    /// # Ok::<(), ipcring::Error>(())
    /// ```
    pub fn peek_consumes(&self) -> bool {
        match &self.inner {
            Rx::Ring(r) => r.is_mpmc(),
            #[cfg(not(ipcring_loom))]
            Rx::Other(_) => false,
        }
    }

    /// [`peek`](Receiver::peek) without the borrow: the message's pointer, length and
    /// position, valid until [`release_raw`](Receiver::release_raw), which must come before
    /// any other receive on this receiver (on MPMC the message is claimed until then).
    #[doc(hidden)]
    pub fn peek_raw(&mut self, timeout: Timeout) -> Result<(*const u8, usize, u64)> {
        match &mut self.inner {
            Rx::Ring(r) => r.peek_raw(timeout),
            #[cfg(not(ipcring_loom))]
            Rx::Other(o) => {
                let len = o.fill_slot(timeout)?;
                Ok((o.slot.as_ptr(), len, 0))
            }
        }
    }

    /// Consumes the message returned by [`peek_raw`](Receiver::peek_raw).
    #[doc(hidden)]
    pub fn release_raw(&mut self, pos: u64, len: usize) {
        match &mut self.inner {
            Rx::Ring(r) => r.release_raw(pos, len),
            #[cfg(not(ipcring_loom))]
            Rx::Other(o) => {
                if o.held.take().is_some() {
                    o.stats.messages += 1;
                    o.stats.bytes += len as u64;
                }
            }
        }
    }

    /// The ring's shape (`None` on a fallback).
    #[cfg_attr(ipcring_loom, allow(dead_code))] // used by ffi, which loom builds leave out
    pub fn geometry(&self) -> Option<crate::Geometry> {
        match &self.inner {
            Rx::Ring(r) => Some(r.geometry()),
            #[cfg(not(ipcring_loom))]
            Rx::Other(_) => None,
        }
    }

    /// Messages in the channel now (a snapshot; `None` where the transport cannot tell).
    #[cfg_attr(ipcring_loom, allow(dead_code))] // used by ffi, which loom builds leave out
    pub fn queued(&self) -> Option<u64> {
        match &self.inner {
            Rx::Ring(r) => Some(r.queued()),
            #[cfg(not(ipcring_loom))]
            Rx::Other(o) => o.end.queued().map(|n| n + o.held.is_some() as u64),
        }
    }
}

#[cfg(not(ipcring_loom))]
impl OtherRx {
    fn count(&mut self, len: usize) -> usize {
        self.stats.messages += 1;
        self.stats.bytes += len as u64;
        len
    }

    fn recv(&mut self, buf: &mut [u8], timeout: Timeout) -> Result<usize> {
        let Some(len) = self.held else {
            let end = &mut self.end;
            let n = crate::sys::count::counting(&mut self.stats.syscalls, || end.recv(buf, timeout))?;
            return Ok(self.count(n));
        };
        if buf.len() < len {
            return Err(Error::BufferTooSmall {
                needed: len,
                capacity: buf.len(),
            });
        }
        buf[..len].copy_from_slice(&self.slot[..len]);
        self.held = None;
        Ok(self.count(len))
    }

    /// Receives the next message into the slot buffer (unless one is held there already).
    fn fill_slot(&mut self, timeout: Timeout) -> Result<usize> {
        if let Some(len) = self.held {
            return Ok(len);
        }
        let size = self.end.msg_size();
        self.slot.resize(size, 0);
        let (end, slot) = (&mut self.end, &mut self.slot);
        let len = crate::sys::count::counting(&mut self.stats.syscalls, || end.recv(slot, timeout))?;
        self.held = Some(len);
        Ok(len)
    }

    fn recv_batch(&mut self, max: usize, timeout: Timeout, mut f: impl FnMut(&[u8])) -> Result<usize> {
        let mut n = 0;
        while n < max {
            let t = if n == 0 { timeout } else { Timeout::Never };
            match self.fill_slot(t) {
                Ok(len) => {
                    f(&self.slot[..len]);
                    self.held = None;
                    self.count(len);
                    n += 1;
                }
                Err(Error::WouldBlock | Error::EndOfStream) if n > 0 => break,
                Err(e) => return Err(e),
            }
        }
        Ok(n)
    }
}

/// A message seen in place (see [`Receiver::peek`]). Dereferences to its bytes.
///
/// # Examples
///
/// ```
/// let (mut tx, mut rx) = ipcring::pair(&Default::default())?;
/// tx.send(b"abc")?;
/// let slot = rx.peek(ipcring::Timeout::Never)?;
/// assert_eq!(slot.len(), 3);
/// slot.release();
/// # Ok::<(), ipcring::Error>(())
/// ```
#[derive(Debug)]
pub struct RecvSlot<'a> {
    rx: &'a mut Receiver,
    ptr: *const u8,
    len: usize,
    pos: u64,
    done: bool,
}

impl RecvSlot<'_> {
    /// Consumes the message, freeing its slot for senders.
    ///
    /// # Examples
    ///
    /// ```
    /// let (mut tx, mut rx) = ipcring::pair(&Default::default())?;
    /// tx.send(b"z")?;
    /// rx.peek(ipcring::Timeout::Never)?.release();
    /// assert!(rx.try_recv_vec().is_err());
    /// # Ok::<(), ipcring::Error>(())
    /// ```
    pub fn release(mut self) {
        self.finish();
    }

    fn finish(&mut self) {
        self.done = true;
        self.rx.release_raw(self.pos, self.len);
    }
}

impl core::ops::Deref for RecvSlot<'_> {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        // SAFETY: the message is published and ours until released (SPSC: at head; MPMC:
        // claimed; fallback: held in the receiver's buffer, which the borrow keeps alive and
        // unchanged); len was validated against msg_size.
        unsafe { core::slice::from_raw_parts(self.ptr, self.len) }
    }
}

impl Drop for RecvSlot<'_> {
    fn drop(&mut self) {
        if !self.done && self.rx.peek_consumes() {
            self.finish();
        }
    }
}

/// Messages seen in place by [`Receiver::peek_batch`], not yet consumed.
///
/// [`release`](RecvBatch::release) consumes the first of them; dropping the batch without
/// release consumes none (except on MPMC rings, where every message seen was claimed and is
/// consumed either way).
#[derive(Debug)]
pub struct RecvBatch<'a> {
    rx: &'a mut Receiver,
    pos: u64,
    n: usize,
    done: bool,
}

impl RecvBatch<'_> {
    /// How many messages were seen.
    pub fn len(&self) -> usize {
        self.n
    }

    /// Whether no message was seen (only when `max` was 0).
    pub fn is_empty(&self) -> bool {
        self.n == 0
    }

    /// Consumes the first `k` messages seen (all of them if `k >= len()`), freeing their
    /// slots for senders with one cursor store and one wake-up; the others stay in the
    /// channel (not on MPMC, see [`Receiver::peek_batch`]).
    ///
    /// # Examples
    ///
    /// ```
    /// use ipcring::Timeout;
    /// let (mut tx, mut rx) = ipcring::pair(&Default::default())?;
    /// tx.send_batch(&[b"1", b"2"], Timeout::Never)?;
    /// rx.peek_batch(8, Timeout::Never, |_| {})?.release(0); // nothing consumed
    /// let n = rx.recv_batch(8, Timeout::Never, |_| {})?;
    /// assert_eq!(n, 2);
    /// # Ok::<(), ipcring::Error>(())
    /// ```
    pub fn release(mut self, k: usize) {
        self.finish(k);
    }

    fn finish(&mut self, k: usize) {
        self.done = true;
        let k = k.min(self.n);
        match &mut self.rx.inner {
            Rx::Ring(r) if self.n > 0 => r.release_batch_raw(self.pos, self.n, k),
            Rx::Ring(_) => {}
            #[cfg(not(ipcring_loom))]
            Rx::Other(o) => {
                if k > 0 {
                    if let Some(len) = o.held.take() {
                        o.count(len);
                    }
                }
            }
        }
    }
}

impl Drop for RecvBatch<'_> {
    fn drop(&mut self) {
        if !self.done {
            self.finish(0);
        }
    }
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

/// [`pair_at`] for a parsed address.
pub fn pair_addr(addr: &Address) -> Result<(Sender, Receiver)> {
    let address = format!("{}://{}", addr.transport().scheme(), addr.target());
    let anonymous_only = |reason| Error::InvalidAddress {
        address: address.clone(),
        part: addr.target().to_string(),
        reason,
    };
    match addr.transport() {
        Transport::Shm if addr.target().is_empty() => pair(addr.options()),
        Transport::Shm => Err(anonymous_only(
            "a pair is anonymous: give shm:// without a name (open a named ring by name)",
        )),
        #[cfg(not(ipcring_loom))]
        Transport::Pipe => {
            let spec = OpenSpec {
                address: addr,
                create: true,
                excl: false,
            };
            spec.refuse_ring_options(false)?;
            let (tx, rx) = transport::pipe::pair(spec.msg_size())?;
            Ok((
                Sender::from_other(Box::new(tx), Transport::Pipe),
                Receiver::from_other(Box::new(rx), Transport::Pipe),
            ))
        }
        t => Err(Error::InvalidAddress {
            address,
            part: t.scheme().to_string(),
            reason: "a pair is made over shm:// or pipe://; other transports are opened by name",
        }),
    }
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
/// assert!(matches!(ipcring::unlink(&missing), Err(ipcring::Error::NotFound)));
/// ```
pub fn unlink(address: &str) -> Result<()> {
    unlink_addr(&Address::parse(address)?)
}

/// [`unlink`] for a parsed address.
pub fn unlink_addr(addr: &Address) -> Result<()> {
    let address = format!("{}://{}", addr.transport().scheme(), addr.target());
    let target = addr.target();
    let nothing = |reason| Error::InvalidAddress {
        address: address.clone(),
        part: address.clone(),
        reason,
    };
    match addr.transport() {
        Transport::Shm if target.is_empty() => Err(nothing("an anonymous ring has no name to remove")),
        Transport::Shm => Ring::unlink(target),
        Transport::Pipe => Err(nothing("a pipe has no name to remove")),
        Transport::Tcp => Err(nothing("a TCP address has no object to remove")),
        #[cfg(not(ipcring_loom))]
        Transport::Fifo => transport::fifo::unlink(std::path::Path::new(target)),
        #[cfg(not(ipcring_loom))]
        Transport::Mq => transport::mq::unlink(target),
        #[cfg(not(ipcring_loom))]
        Transport::Unix => transport::unix::unlink(std::path::Path::new(target)),
        #[cfg(ipcring_loom)]
        _ => Err(nothing("not in loom builds")),
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

/// [`remove`] for a parsed address.
pub fn remove_addr(addr: &Address, force: bool) -> Result<()> {
    let target = addr.target();
    match addr.transport() {
        Transport::Shm if !target.is_empty() => Ring::remove(target, force),
        #[cfg(not(ipcring_loom))]
        Transport::Mq if !target.is_empty() => transport::mq::remove(target, force),
        _ => unlink_addr(addr),
    }
}

/// Opens the ends asked for on the channel at `addr`: the one place that maps an address to
/// its transport (the Rust API and the C ABI both come here).
pub fn open_ends(addr: &Address, send: bool, recv: bool, create: Create) -> Result<(Option<Sender>, Option<Receiver>)> {
    let target = addr.target();
    if target.is_empty() {
        return Err(Error::InvalidAddress {
            address: format!("{}://", addr.transport().scheme()),
            part: format!("{}://", addr.transport().scheme()),
            reason: "an anonymous channel is made with a pair (ipcring_pair / pair_at), not opened",
        });
    }
    if addr.transport() == Transport::Shm {
        let opts = addr.options();
        let ring = match create {
            Create::No => Ring::open_with(target, opts),
            Create::Exclusive => Ring::create(target, opts),
            Create::IfMissing => match Ring::create(target, opts) {
                Err(Error::AlreadyExists) => Ring::open_with(target, opts),
                r => r,
            },
        }?;
        let tx = send.then(|| ring.sender()).transpose()?;
        let rx = recv.then(|| ring.receiver()).transpose()?;
        return Ok((tx, rx));
    }
    #[cfg(not(ipcring_loom))]
    {
        let spec = OpenSpec {
            address: addr,
            create: create != Create::No,
            excl: create == Create::Exclusive,
        };
        let t = addr.transport();
        // The receiver first: it is the one that creates a FIFO, queue or listening socket
        // the sender then finds.
        let rx = if recv {
            let end: Box<dyn MsgReceiver> = match t {
                Transport::Fifo => transport::fifo::open_receiver_spec(&spec)?,
                Transport::Mq => transport::mq::open_receiver(&spec)?,
                Transport::Unix => transport::unix::open_receiver(&spec)?,
                Transport::Tcp => transport::tcp::open_receiver(&spec)?,
                Transport::Shm | Transport::Pipe => unreachable!("handled above"),
            };
            Some(Receiver::from_other(end, t))
        } else {
            None
        };
        // With a receiver just opened, the object exists: the sender opens it as it is.
        let spec = if recv {
            OpenSpec {
                create: false,
                excl: false,
                ..spec
            }
        } else {
            spec
        };
        let tx = if send {
            let end: Box<dyn MsgSender> = match t {
                Transport::Fifo => transport::fifo::open_sender_spec(&spec)?,
                Transport::Mq => transport::mq::open_sender(&spec)?,
                Transport::Unix => transport::unix::open_sender(&spec)?,
                Transport::Tcp => transport::tcp::open_sender(&spec)?,
                Transport::Shm | Transport::Pipe => unreachable!("handled above"),
            };
            Some(Sender::from_other(end, t))
        } else {
            None
        };
        Ok((tx, rx))
    }
    #[cfg(ipcring_loom)]
    {
        let _ = (send, recv);
        Err(Error::Unsupported {
            what: "fallback transports in loom builds",
        })
    }
}
