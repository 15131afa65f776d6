//! What `unix:///path` ([`super::unix`]) and `tcp://HOST:PORT` ([`super::tcp`]) share: the
//! listening receiver that serves many connections, the lazily connecting sender, the hello
//! exchange, and the socket system calls.
//!
//! # Roles
//!
//! The receiver listens, the sender connects (a FIFO's reader and writer). One receiver per
//! address; any number of senders, each its own connection (`try_clone` is a new one). The
//! receiver polls its listener and every accepted connection with one `ppoll(2)`, accepts
//! newcomers as they come and serves the connections in turn (round robin), so one busy
//! sender cannot starve the others. Order is FIFO per sender, as on an MPSC ring.
//!
//! # Hello
//!
//! The first thing a sender writes on a new connection is a hello: `b"IPCR"`, the protocol
//! version (u32 LE) and its `msg_size` (u32 LE). The receiver checks it when it first reads
//! the connection. Wrong magic or version, or a sender `msg_size` above the receiver's, and the
//! receiver writes a 5-byte reject (`[code u8][its msg_size u32 LE]`, code 1 = not ipcring or
//! another version, 2 = msg_size too large), shuts its side down and discards whatever else
//! comes until the peer leaves: a bad peer (or a port scanner writing garbage) never turns
//! into an error on the receiver. The receiver writes nothing else, ever, so a sender learns
//! of a reject, or of the receiver's end, by peeking at its connection without blocking
//! (`recv(MSG_PEEK | MSG_DONTWAIT)`) before each send. A reject therefore surfaces on the
//! send after the one that connected (whose message the receiver discarded) and stays: every
//! later send of that sender returns the same error ([`Error::Mismatch`] `{ field:
//! "msg_size" }` or [`Error::NotARing`]).
//!
//! # Lazy connect
//!
//! Opening a sender only validates the address; the first send connects, waiting as its
//! timeout allows for a listener to appear (refused, absent or a full backlog: sleeps of 1 ms
//! growing to 50 ms, bounded by the deadline; a TCP handshake in progress is polled). So a
//! request/response server may open its reply sender before the client listens without a
//! deadlock, and a sender started before its receiver waits, as on a ring. If the wait ends
//! (a `NonBlocking` call, or the deadline) and the last attempt was refused, the error is
//! [`Error::NoListener`], naming the address ("connection refused" on `tcp://`, "no
//! listener" on `unix://`), not `WouldBlock` / `TimedOut`, which then mean a listener that
//! did not take the connection or the message in time.
//!
//! # End of stream and disconnection
//!
//! A sender dropped cleanly writes a goodbye before it closes its connection (protocol
//! version 2): a `TAG_BYE` packet on `unix://`, a frame whose length is [`frame::BYE`] on
//! `tcp://`. An accepted sender's connection that ends without one is a sender that died
//! (killed, crashed, or its process exited without dropping it), and from then on this
//! receiver returns [`Error::SenderDied`] where it would return end of stream. Only the
//! process that connected writes the goodbye (a forked child's drop of an inherited sender
//! writes nothing). A receiver's end is not told apart: a sender gets
//! [`Error::Disconnected`] whether the receiver closed or died.
//!
//! The kernel counts the ends: a sender that closes or dies is an EOF (or `ECONNRESET`) on
//! its connection. Once a sender has passed its hello and no connection is open any more
//! (connections still waiting for their hello count as open), a receive with nothing
//! buffered is [`Error::EndOfStream`]; a sender that connects later makes data flow again.
//! Before any sender has come, a receive waits. A sender whose connection has ended gets
//! [`Error::Disconnected`] (never SIGPIPE: every send is `MSG_NOSIGNAL`, and the signal
//! disposition is never touched) and drops the connection; its next send makes one
//! non-blocking connect: a restarted receiver accepts it and data flows again, otherwise it
//! is `Disconnected` again. Only before the first successful connect does a refused connect
//! mean "wait".
//!
//! A consequence of connecting lazily: a sender that has not sent yet (a fresh clone, say)
//! is unknown to the receiver, which may report end of stream while it exists.
//!
//! # fork
//!
//! A child inherits a connected sender's socket like any descriptor. Two processes sending
//! on one connection keep `unix://` packets whole, but `tcp://` frames larger than what one
//! `send` writes may interleave and the receiver then drops the connection as garbage: give
//! each process its own sender (opened, or `try_clone`d, after the fork). A receiver's
//! listener and accepted connections are inherited too; a child that keeps them open keeps
//! senders' connections alive (no `Disconnected` for them) until it exits or closes them.
//!
//! # Framing
//!
//! - [`Framing::Packet`] (`unix://`, `SOCK_SEQPACKET`): one packet per message, boundaries
//!   kept by the kernel. A 0-byte packet would read as EOF, so each packet starts with a tag
//!   byte (hello or data) and the payload is the rest. The receiver learns a packet's length
//!   with `MSG_PEEK | MSG_TRUNC` when the caller's buffer might be too small, so a
//!   `BufferTooSmall` packet stays queued.
//! - [`Framing::Stream`] (`tcp://`): the hello's 12 raw bytes, then `[len u32 LE][payload]`
//!   frames ([`super::frame`]), reassembled per connection by a [`FrameBuf`]. A send that
//!   could write only part of a frame keeps the rest in the sender and returns `Ok`: the
//!   message is accepted, and the rest goes out first thing in the next send (which honours
//!   its own timeout for that, writing nothing new until it has) or when the sender is
//!   dropped (which waits while the receiver is alive). So a send never waits past its
//!   timeout, and frames never interleave or tear. A sender that dies in the middle of a
//!   frame never delivered that message: the receiver drops the partial frame with the
//!   connection.

use super::frame::{self, FrameBuf};
use super::MsgSender;
use crate::error::{Error, Result};
use crate::sys::fd::{poll as wait_many, wait_fd};
use crate::transport::readiness::{self as ready, Readiness};
use crate::timeout::Timeout;
use std::fmt;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::time::Duration;

/// The first four bytes of a hello.
pub const MAGIC: [u8; 4] = *b"IPCR";
/// The protocol version a hello carries.
pub const VERSION: u32 = 2;
/// Bytes of a hello (magic, version, msg_size), without the packet tag.
pub const HELLO_LEN: usize = 12;
/// Reject code: the peer is not an ipcring sender, or speaks another version.
pub const REJECT_NOT_IPCRING: u8 = 1;
/// Reject code: the sender's `msg_size` exceeds the receiver's.
pub const REJECT_MSG_SIZE: u8 = 2;
/// Bytes of a reject: the code and the receiver's `msg_size` (u32 LE).
pub const REJECT_LEN: usize = 5;

/// Packet tag of a hello (`unix://`).
pub(crate) const TAG_HELLO: u8 = 0x48; // 'H'
/// Packet tag of a message (`unix://`).
pub(crate) const TAG_DATA: u8 = 0x44; // 'D'
/// Packet tag of a goodbye (`unix://`): the sender closes cleanly.
pub(crate) const TAG_BYE: u8 = 0x42; // 'B'

/// How messages are delimited on a connection (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// One tagged `SOCK_SEQPACKET` packet per message.
    Packet,
    /// `[len u32][payload]` frames on a byte stream.
    Stream,
}

/// The hello a sender with `msg_size` writes first.
pub(crate) fn hello(msg_size: usize) -> [u8; HELLO_LEN] {
    let mut h = [0u8; HELLO_LEN];
    h[..4].copy_from_slice(&MAGIC);
    h[4..8].copy_from_slice(&VERSION.to_le_bytes());
    h[8..].copy_from_slice(&(msg_size as u32).to_le_bytes());
    h
}

/// Checks a hello against the receiver's `msg_size`: the sender's `msg_size`, or the reject
/// code.
fn check_hello(h: &[u8], ours: usize) -> std::result::Result<usize, u8> {
    if h.len() != HELLO_LEN || h[..4] != MAGIC || h[4..8] != VERSION.to_le_bytes() {
        return Err(REJECT_NOT_IPCRING);
    }
    let theirs = u32::from_le_bytes(h[8..12].try_into().expect("4 bytes")) as usize;
    if theirs > ours {
        return Err(REJECT_MSG_SIZE);
    }
    Ok(theirs)
}

/// Refuses a `msg_size` that a hello (and a frame) cannot describe.
pub(crate) fn check_msg_size(msg_size: usize) -> Result<()> {
    if msg_size > frame::MAX_PAYLOAD {
        return Err(Error::InvalidOption {
            option: "msg_size",
            value: msg_size as u64,
            reason: "a hello and a frame carry it as a u32",
        });
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// System calls
// ---------------------------------------------------------------------------------------

fn errno(e: &io::Error) -> i32 {
    e.raw_os_error().unwrap_or(0)
}

/// `send(2)` with `MSG_NOSIGNAL | MSG_DONTWAIT`: a closed peer is `EPIPE`, never SIGPIPE.
pub(crate) fn send_nosignal(fd: RawFd, buf: &[u8]) -> io::Result<usize> {
    crate::sys::count::one();
    // SAFETY: buf is valid for buf.len() bytes; fd is the caller's open socket.
    let n = unsafe {
        libc::send(
            fd,
            buf.as_ptr().cast(),
            buf.len(),
            libc::MSG_NOSIGNAL | libc::MSG_DONTWAIT,
        )
    };
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}

/// `recv(2)` with `flags | MSG_DONTWAIT`. With `MSG_TRUNC` on a packet socket the result is
/// the packet's real length.
pub(crate) fn recv_flags(fd: RawFd, buf: &mut [u8], flags: libc::c_int) -> io::Result<usize> {
    crate::sys::count::one();
    // SAFETY: buf is valid for buf.len() writable bytes; fd is the caller's open socket.
    let n = unsafe { libc::recv(fd, buf.as_mut_ptr().cast(), buf.len(), flags | libc::MSG_DONTWAIT) };
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}

/// Receives one packet as `[tag][payload]` into `tag` and `out` (`recvmsg` with two iovecs,
/// `flags | MSG_TRUNC | MSG_DONTWAIT`); returns the packet's real length.
fn recv_packet(fd: RawFd, tag: &mut u8, out: &mut [u8], flags: libc::c_int) -> io::Result<usize> {
    let mut iov = [
        libc::iovec {
            iov_base: (tag as *mut u8).cast(),
            iov_len: 1,
        },
        libc::iovec {
            iov_base: out.as_mut_ptr().cast(),
            iov_len: out.len(),
        },
    ];
    // SAFETY: msghdr is plain data; the fields we need are set below, the rest zero.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = iov.as_mut_ptr();
    msg.msg_iovlen = 2;
    crate::sys::count::one();
    // SAFETY: msg points at two iovecs over live, writable buffers; fd is our socket.
    let n = unsafe { libc::recvmsg(fd, &mut msg, flags | libc::MSG_TRUNC | libc::MSG_DONTWAIT) };
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}

/// `setsockopt(fd, level, name, &val)` for an int option.
pub(crate) fn set_int_opt(fd: RawFd, level: libc::c_int, name: libc::c_int, val: libc::c_int) -> io::Result<()> {
    // SAFETY: val is a live int and its size is passed; fd is the caller's socket.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            (&val as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// `getsockopt(fd, level, name)` for an int option.
pub(crate) fn get_int_opt(fd: RawFd, level: libc::c_int, name: libc::c_int) -> io::Result<libc::c_int> {
    let mut val: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    crate::sys::count::one();
    // SAFETY: val and len are live and sized for an int option; fd is the caller's socket.
    let rc = unsafe { libc::getsockopt(fd, level, name, (&mut val as *mut libc::c_int).cast(), &mut len) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(val)
}

/// `socket(domain, kind | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)`.
pub(crate) fn socket(domain: libc::c_int, kind: libc::c_int) -> Result<OwnedFd> {
    // SAFETY: plain system call with constant arguments.
    let fd = unsafe { libc::socket(domain, kind | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(Error::last_os("socket"));
    }
    // SAFETY: socket just returned fd; nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

// ---------------------------------------------------------------------------------------
// The receiver
// ---------------------------------------------------------------------------------------

#[derive(Debug)]
enum ConnState {
    /// Accepted; the hello has not been read yet (`got` bytes of it so far, stream only).
    Pending { hello: [u8; HELLO_LEN], got: usize },
    /// Hello accepted: a sender announcing `peer_msg_size`; `fb` reassembles its frames
    /// (stream only).
    Active { peer_msg_size: usize, fb: Option<FrameBuf> },
    /// Rejected: our side is shut down; what comes is discarded until the peer leaves.
    Draining,
}

#[derive(Debug)]
struct Conn {
    fd: OwnedFd,
    state: ConnState,
    closed: bool,
    /// The sender said goodbye: its end is a clean close.
    bye: bool,
}

impl Conn {
    /// Whether this connection keeps the stream open (a sender, or maybe one).
    fn is_sender(&self) -> bool {
        !self.closed && !matches!(self.state, ConnState::Draining)
    }
}

/// What servicing one connection without blocking gave.
enum Step {
    /// A message of this length is in the caller's buffer.
    Msg(usize),
    /// The next message of this connection needs this many bytes; it stays.
    TooSmall(usize),
    /// Nothing now.
    Idle,
    /// The connection is over (EOF, reset, or a peer that broke the protocol).
    Close,
}

/// How one non-blocking read on a connection went.
enum Flow<T> {
    /// It gave this.
    Go(T),
    /// Interrupted (`EINTR`): read again.
    Retry,
    /// The step ends: [`Step::Idle`] (`EAGAIN`) or [`Step::Close`] (EOF, reset, any error).
    End(Step),
}

/// Sorts a read's result: bytes, `EINTR` (again), `EAGAIN` (idle), EOF or an error (close).
fn classify(r: io::Result<usize>) -> Flow<usize> {
    match r {
        Ok(0) => Flow::End(Step::Close),
        Ok(n) => Flow::Go(n),
        Err(e) if errno(&e) == libc::EINTR => Flow::Retry,
        Err(e) if errno(&e) == libc::EAGAIN => Flow::End(Step::Idle),
        Err(_) => Flow::End(Step::Close),
    }
}

/// A rejected connection: discards what comes (a bounded amount per call) until EOF.
fn drain(fd: RawFd) -> Step {
    let mut scratch = [0u8; 4096];
    for _ in 0..64 {
        if let Flow::End(step) = classify(recv_flags(fd, &mut scratch, libc::MSG_TRUNC)) {
            return step;
        }
    }
    Step::Idle
}

/// Reads (more of) a connection's hello; once it is whole, the verdict: the peer's
/// `msg_size`, or the reject code.
fn read_hello(
    fd: RawFd,
    framing: Framing,
    hello: &mut [u8; HELLO_LEN],
    got: &mut usize,
    ours: usize,
) -> Flow<std::result::Result<usize, u8>> {
    match framing {
        Framing::Packet => {
            let mut tag = 0u8;
            match classify(recv_packet(fd, &mut tag, &mut hello[..], 0)) {
                Flow::Go(n) if n == 1 + HELLO_LEN && tag == TAG_HELLO => Flow::Go(check_hello(&hello[..], ours)),
                Flow::Go(_) => Flow::Go(Err(REJECT_NOT_IPCRING)),
                Flow::Retry => Flow::Retry,
                Flow::End(step) => Flow::End(step),
            }
        }
        Framing::Stream => {
            match classify(recv_flags(fd, &mut hello[*got..], 0)) {
                Flow::Go(n) => *got += n,
                Flow::Retry => return Flow::Retry,
                Flow::End(step) => return Flow::End(step),
            }
            let seen = (*got).min(MAGIC.len());
            if hello[..seen] != MAGIC[..seen] {
                Flow::Go(Err(REJECT_NOT_IPCRING))
            } else if *got < HELLO_LEN {
                Flow::Retry
            } else {
                Flow::Go(check_hello(&hello[..], ours))
            }
        }
    }
}

/// The next packet of an active `unix://` connection into `out` (`None`: read again). Its
/// length is learnt first unless `out` holds any the peer sends; a peer that breaks its
/// hello's promise is dropped.
fn packet_msg(fd: RawFd, peer_msg_size: usize, out: &mut [u8], bye: &mut bool) -> Option<Step> {
    let mut tag = 0u8;
    if out.len() < peer_msg_size {
        match classify(recv_packet(fd, &mut tag, &mut [], libc::MSG_PEEK)) {
            Flow::Go(1) if tag == TAG_BYE => {
                // Take the goodbye; the EOF comes next.
                let _ = recv_packet(fd, &mut tag, &mut [], 0);
                *bye = true;
                return None;
            }
            Flow::Go(n) if tag != TAG_DATA || n - 1 > peer_msg_size => return Some(Step::Close),
            Flow::Go(n) if n - 1 > out.len() => return Some(Step::TooSmall(n - 1)),
            Flow::Go(_) => {}
            Flow::Retry => return None,
            Flow::End(step) => return Some(step),
        }
    }
    match classify(recv_packet(fd, &mut tag, out, 0)) {
        Flow::Go(1) if tag == TAG_BYE => {
            *bye = true;
            None
        }
        Flow::Go(n) if tag != TAG_DATA || n - 1 > out.len() || n - 1 > peer_msg_size => Some(Step::Close),
        Flow::Go(n) => Some(Step::Msg(n - 1)),
        Flow::Retry => None,
        Flow::End(step) => Some(step),
    }
}

/// The next frame of an active `tcp://` connection into `out`, reading more of the stream
/// when no whole frame is buffered (`None`: look again). A frame longer than our `msg_size`
/// is not a stream we can trust: the connection is dropped, and with it a partial frame
/// that was never committed.
fn frame_msg(fd: RawFd, fb: &mut FrameBuf, out: &mut [u8], bye: &mut bool) -> Option<Step> {
    match fb.take_control() {
        Some(frame::BYE) => {
            *bye = true;
            return None;
        }
        Some(_) => return Some(Step::Close), // a hello frame has no business on a tcp:// stream
        None => {}
    }
    match fb.next_frame() {
        Err(_) => return Some(Step::Close),
        Ok(Some(len)) if len > out.len() => return Some(Step::TooSmall(len)),
        Ok(Some(len)) => {
            out[..len].copy_from_slice(fb.frame(len));
            fb.consume(len);
            return Some(Step::Msg(len));
        }
        Ok(None) => {}
    }
    match classify(recv_flags(fd, fb.space(), 0)) {
        Flow::Go(n) => {
            fb.filled(n);
            None
        }
        Flow::Retry => None,
        Flow::End(step) => Some(step),
    }
}

/// The listening end shared by `unix://` and `tcp://` (see the module docs).
///
/// Its readiness descriptor watches the listener and every accepted connection for
/// `EPOLLIN`, plus an eventfd set while a whole TCP frame is buffered here or at end of
/// stream.
#[derive(Debug)]
pub(crate) struct SockReceiver {
    listener: OwnedFd,
    framing: Framing,
    msg_size: usize,
    conns: Vec<Conn>,
    /// The connection served first by the next call (round robin).
    next: usize,
    /// Whether a sender has ever passed its hello.
    sender_seen: bool,
    ready: Readiness,
    /// Whether a sender's connection ended without its goodbye (see the module docs).
    sender_died: bool,
}

impl SockReceiver {
    /// Serves the listening socket `listener` (non-blocking, already listening).
    ///
    /// # Errors
    ///
    /// [`Error::Io`] if the readiness descriptor cannot be made.
    pub(crate) fn new(listener: OwnedFd, framing: Framing, msg_size: usize) -> Result<SockReceiver> {
        let ready = Readiness::new(false)?;
        ready.watch(listener.as_raw_fd(), ready::IN)?;
        Ok(SockReceiver {
            listener,
            framing,
            msg_size,
            conns: Vec::new(),
            next: 0,
            sender_seen: false,
            sender_died: false,
            ready,
        })
    }

    /// The readiness descriptor.
    pub(crate) fn fd(&self) -> BorrowedFd<'_> {
        self.ready.fd()
    }

    /// The channel layer holds a message for the next receive.
    pub(crate) fn set_held(&self, held: bool) {
        self.ready.set_held(held);
    }

    pub(crate) fn msg_size(&self) -> usize {
        self.msg_size
    }

    /// Accepts every pending connection.
    fn accept_all(&mut self) -> Result<()> {
        loop {
            crate::sys::count::one();
            // SAFETY: the listener is our open socket; null address pointers are allowed.
            let fd = unsafe {
                libc::accept4(
                    self.listener.as_raw_fd(),
                    std::ptr::null_mut(),
                    std::ptr::null_mut(),
                    libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
                )
            };
            if fd >= 0 {
                // SAFETY: accept4 just returned fd; nothing else owns it.
                let fd = unsafe { OwnedFd::from_raw_fd(fd) };
                if self.framing == Framing::Stream {
                    // Best effort: the receiver only ever writes a reject.
                    let _ = set_int_opt(fd.as_raw_fd(), libc::IPPROTO_TCP, libc::TCP_NODELAY, 1);
                }
                self.ready.watch(fd.as_raw_fd(), ready::IN)?;
                self.conns.push(Conn {
                    fd,
                    state: ConnState::Pending {
                        hello: [0; HELLO_LEN],
                        got: 0,
                    },
                    closed: false,
                    bye: false,
                });
                continue;
            }
            let e = io::Error::last_os_error();
            match errno(&e) {
                libc::EAGAIN => return Ok(()),
                // A connection that died in the backlog, or a signal: go on.
                libc::EINTR | libc::ECONNABORTED | libc::EPROTO => {}
                _ => {
                    return Err(Error::Io {
                        op: "accept4",
                        source: e,
                    })
                }
            }
        }
    }

    /// Writes the reject `code` to `conn`, shuts our side down and discards what follows.
    fn reject(conn: &mut Conn, code: u8, ours: usize) {
        let mut r = [0u8; REJECT_LEN];
        r[0] = code;
        r[1..].copy_from_slice(&(ours.min(u32::MAX as usize) as u32).to_le_bytes());
        let fd = conn.fd.as_raw_fd();
        // The same 5 bytes on both framings (one untagged packet on unix://). Best effort: a peer that cannot take 5 bytes is dropped all the same.
        let _ = send_nosignal(fd, &r);
        crate::sys::count::one();
        // SAFETY: fd is our open socket.
        unsafe { libc::shutdown(fd, libc::SHUT_WR) };
        conn.state = ConnState::Draining;
    }

    /// Services connection `idx` without blocking: one method per state, round again while
    /// a state changes or a read was interrupted.
    fn service(&mut self, idx: usize, out: &mut [u8]) -> Step {
        let ours = self.msg_size;
        let framing = self.framing;
        let conn = &mut self.conns[idx];
        let fd = conn.fd.as_raw_fd();
        loop {
            let step = match &mut conn.state {
                ConnState::Draining => Some(drain(fd)),
                ConnState::Pending { hello, got } => match read_hello(fd, framing, hello, got, ours) {
                    Flow::Go(Ok(peer_msg_size)) => {
                        conn.state = ConnState::Active {
                            peer_msg_size,
                            fb: (framing == Framing::Stream).then(|| FrameBuf::new(ours)),
                        };
                        self.sender_seen = true;
                        None
                    }
                    Flow::Go(Err(code)) => {
                        Self::reject(conn, code, ours);
                        None
                    }
                    Flow::Retry => None,
                    Flow::End(step) => Some(step),
                },
                ConnState::Active {
                    peer_msg_size,
                    fb: None,
                } => packet_msg(fd, *peer_msg_size, out, &mut conn.bye),
                ConnState::Active { fb: Some(fb), .. } => frame_msg(fd, fb, out, &mut conn.bye),
            };
            if let Some(step) = step {
                return step;
            }
        }
    }

    /// Drops closed connections, keeping `next` on the same connection.
    fn remove_closed(&mut self) {
        if !self.conns.iter().any(|c| c.closed) {
            return;
        }
        let before = self.conns[..self.next.min(self.conns.len())]
            .iter()
            .filter(|c| c.closed)
            .count();
        self.next -= before.min(self.next);
        let ready = &self.ready;
        self.conns.retain(|c| {
            if c.closed {
                ready.unwatch(c.fd.as_raw_fd());
            }
            !c.closed
        });
    }

    /// Whether a whole frame (or one that is not ours: the connection is dropped at once) is
    /// buffered on a connection: the next receive returns without the kernel.
    fn frame_buffered(&self) -> bool {
        self.conns.iter().any(|c| match &c.state {
            ConnState::Active { fb: Some(fb), .. } => !matches!(fb.next_frame(), Ok(None)),
            _ => false,
        })
    }

    /// Receives one whole message (see [`super::MsgReceiver::recv`] and the module docs).
    pub(crate) fn recv(&mut self, out: &mut [u8], timeout: Timeout) -> Result<usize> {
        let r = self.recv_inner(out, timeout);
        self.ready.after(&r, || self.frame_buffered(), || false);
        r
    }

    fn recv_inner(&mut self, out: &mut [u8], timeout: Timeout) -> Result<usize> {
        loop {
            self.accept_all()?;
            let n = self.conns.len();
            let start = if n == 0 { 0 } else { self.next % n };
            let mut result = None;
            for k in 0..n {
                let idx = (start + k) % n;
                match self.service(idx, out) {
                    Step::Msg(len) => {
                        self.next = idx + 1;
                        result = Some(Ok(len));
                        break;
                    }
                    Step::TooSmall(needed) => {
                        self.next = idx;
                        result = Some(Err(Error::BufferTooSmall {
                            needed,
                            capacity: out.len(),
                        }));
                        break;
                    }
                    Step::Idle => {}
                    Step::Close => {
                        let c = &mut self.conns[idx];
                        c.closed = true;
                        if matches!(c.state, ConnState::Active { .. }) && !c.bye {
                            self.sender_died = true;
                        }
                    }
                }
            }
            self.remove_closed();
            if let Some(r) = result {
                return r;
            }
            if self.sender_seen && !self.conns.iter().any(Conn::is_sender) {
                return Err(if self.sender_died {
                    Error::SenderDied
                } else {
                    Error::EndOfStream
                });
            }
            let mut pfds: Vec<libc::pollfd> = std::iter::once(self.listener.as_raw_fd())
                .chain(self.conns.iter().map(|c| c.fd.as_raw_fd()))
                .map(|fd| libc::pollfd {
                    fd,
                    events: libc::POLLIN,
                    revents: 0,
                })
                .collect();
            wait_many(&mut pfds, &timeout)?;
        }
    }
}

// ---------------------------------------------------------------------------------------
// The sender
// ---------------------------------------------------------------------------------------

/// One connection attempt's outcome.
pub(crate) enum Attempt {
    /// Connected (for `unix://`, queued in the listener's backlog).
    Connected(OwnedFd),
    /// A TCP handshake under way: poll for `POLLOUT`, then read `SO_ERROR`.
    InProgress(OwnedFd),
    /// Nobody listens there (refused, or no socket at the path).
    Refused,
    /// A listener is there but cannot take us now (backlog full): try again soon.
    Again,
}

/// How a transport starts a connection.
pub(crate) trait Connector: fmt::Debug + Send + Clone + 'static {
    /// Starts one non-blocking connection attempt.
    fn start(&mut self) -> Result<Attempt>;
    /// A socket prepared by `start` whose handshake has failed with `err` (`SO_ERROR`): let
    /// the next attempt try another address if there is one.
    fn failed(&mut self, _err: i32) {}
    /// The error of a wait that ended with the last attempt refused ([`Error::NoListener`]).
    fn no_listener(&self) -> Error;
}

/// Whether a connect error (or `SO_ERROR`) means "nobody listens there (now)".
pub(crate) fn is_refusal(err: i32) -> bool {
    matches!(
        err,
        libc::ECONNREFUSED
            | libc::ENOENT
            | libc::ECONNRESET
            | libc::ETIMEDOUT
            | libc::EHOSTUNREACH
            | libc::ENETUNREACH
            | libc::ECONNABORTED
    )
}

#[derive(Debug)]
enum State {
    Idle,
    Connecting(OwnedFd),
    Connected(OwnedFd),
}

/// The connecting end shared by `unix://` and `tcp://` (see the module docs).
#[derive(Debug)]
pub(crate) struct SockSender<C: Connector> {
    connector: C,
    framing: Framing,
    msg_size: usize,
    state: State,
    /// Whether a connection ever succeeded: from then on a refused connect means the
    /// receiver has gone (`Disconnected`), not "not yet there".
    receiver_seen: bool,
    /// A reject received from the listener: `(code, its msg_size)`, returned by every send.
    rejected: Option<(u8, u64)>,
    buf: Vec<u8>,
    /// The unwritten tail of the last frame (stream framing only), from `pending_off`.
    pending: Vec<u8>,
    pending_off: usize,
    /// The readiness descriptor: the connection (or handshake) for `EPOLLOUT` and `EPOLLIN`
    /// (a reject, or the receiver's end); the eventfd while a send returns at once without
    /// a connection; the timer while no receiver has been reached yet.
    ready: Readiness,
    /// The socket in `ready` (unwatched before it is closed).
    watched: Option<RawFd>,
    /// The process that made the connection: only it writes the goodbye.
    conn_pid: u32,
}

impl<C: Connector> SockSender<C> {
    /// A sender that connects at its first send.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] if the readiness descriptor cannot be made.
    pub(crate) fn new(connector: C, framing: Framing, msg_size: usize) -> Result<SockSender<C>> {
        Ok(SockSender {
            connector,
            framing,
            msg_size,
            state: State::Idle,
            receiver_seen: false,
            rejected: None,
            buf: Vec::new(),
            pending: Vec::new(),
            pending_off: 0,
            conn_pid: 0,
            ready: Readiness::new(true)?,
            watched: None,
        })
    }

    /// The readiness descriptor.
    pub(crate) fn fd(&self) -> BorrowedFd<'_> {
        self.ready.fd()
    }

    /// Puts `fd` (the socket of the state) in the readiness set.
    fn watch_conn(&mut self, fd: RawFd) -> Result<()> {
        if self.watched == Some(fd) {
            return Ok(());
        }
        self.unwatch_conn();
        self.ready.watch(fd, ready::IN | ready::OUT)?;
        self.watched = Some(fd);
        Ok(())
    }

    /// Takes the socket out of the readiness set: before every close.
    fn unwatch_conn(&mut self) {
        if let Some(fd) = self.watched.take() {
            self.ready.unwatch(fd);
        }
    }

    /// Drops the connection (or handshake), if any.
    fn drop_conn(&mut self) {
        self.unwatch_conn();
        self.state = State::Idle;
    }

    pub(crate) fn msg_size(&self) -> usize {
        self.msg_size
    }

    /// A new, not yet connected sender to the same address. It inherits whether a receiver
    /// has been seen: a clone made after the receiver went away gets `Disconnected`.
    pub(crate) fn clone_unconnected(&self) -> Result<SockSender<C>> {
        let mut s = SockSender::new(self.connector.clone(), self.framing, self.msg_size)?;
        s.receiver_seen = self.receiver_seen;
        Ok(s)
    }

    /// The error a reject stands for.
    fn reject_error(&self, code: u8, found: u64) -> Error {
        match code {
            REJECT_MSG_SIZE => Error::Mismatch {
                field: "msg_size",
                expected: self.msg_size as u64,
                found,
            },
            _ => Error::NotARing {
                reason: "the listener is not an ipcring receiver (or speaks another protocol version)",
            },
        }
    }

    /// Peeks at the connection without blocking: the receiver writes nothing but a reject,
    /// so anything readable is a reject, and EOF or a reset means it has gone.
    fn check_peer(&mut self, fd: RawFd) -> Result<()> {
        let mut b = [0u8; 8];
        loop {
            return match recv_flags(fd, &mut b, libc::MSG_PEEK) {
                Ok(0) => Err(Error::Disconnected),
                Ok(n) => {
                    let found = if n >= REJECT_LEN {
                        u32::from_le_bytes(b[1..5].try_into().expect("4 bytes")) as u64
                    } else {
                        0
                    };
                    self.rejected = Some((b[0], found));
                    Err(self.reject_error(b[0], found))
                }
                Err(e) => match errno(&e) {
                    libc::EAGAIN => Ok(()),
                    libc::EINTR => continue,
                    libc::ECONNRESET | libc::EPIPE | libc::ENOTCONN | libc::ETIMEDOUT => Err(Error::Disconnected),
                    _ => Err(Error::Io { op: "recv", source: e }),
                },
            };
        }
    }

    /// Writes all of `bytes`, waiting with `timeout` while nothing is written and for ever
    /// once something is.
    fn write_all(fd: RawFd, bytes: &[u8], timeout: &Timeout) -> Result<()> {
        let mut off = 0;
        while off < bytes.len() {
            match send_nosignal(fd, &bytes[off..]) {
                Ok(n) => off += n,
                Err(e) => match errno(&e) {
                    libc::EINTR => {}
                    libc::EAGAIN => {
                        // Part of the message is out: the rest goes whatever the timeout,
                        // and an interrupt cannot cut it short either.
                        if off == 0 {
                            wait_fd(fd, libc::POLLOUT, timeout)?;
                        } else {
                            crate::sys::intr::shield(|| wait_fd(fd, libc::POLLOUT, &Timeout::Forever))?;
                        }
                    }
                    libc::EPIPE | libc::ECONNRESET | libc::ENOTCONN => return Err(Error::Disconnected),
                    _ => return Err(Error::Io { op: "send", source: e }),
                },
            }
        }
        Ok(())
    }

    /// Connects if not connected, waiting as `timeout` allows (see the module docs).
    fn connect(&mut self, timeout: &Timeout) -> Result<RawFd> {
        let mut nap = Duration::from_millis(1);
        loop {
            let attempt = match std::mem::replace(&mut self.state, State::Idle) {
                State::Connected(fd) => {
                    let raw = fd.as_raw_fd();
                    self.state = State::Connected(fd);
                    return Ok(raw);
                }
                State::Connecting(fd) => {
                    // Even a call that may not wait learns how a handshake it started ends,
                    // if that takes no longer than a loopback or LAN round trip: otherwise a
                    // gone receiver would read as "would block" rather than `Disconnected`.
                    // So does a call whose deadline passed while it napped after a refusal:
                    // otherwise nothing listening would read as "timed out".
                    let handshake = match timeout {
                        Timeout::NonBlocking => Timeout::after(Duration::from_millis(100)),
                        t if t.remaining().is_err() => Timeout::after(Duration::from_millis(100)),
                        t => *t,
                    };
                    match wait_fd(fd.as_raw_fd(), libc::POLLOUT, &handshake) {
                        Ok(_) => {}
                        Err(e @ (Error::WouldBlock | Error::TimedOut | Error::Interrupted)) => {
                            self.state = State::Connecting(fd);
                            return Err(e);
                        }
                        Err(e) => {
                            self.unwatch_conn();
                            return Err(e);
                        }
                    }
                    let err = match get_int_opt(fd.as_raw_fd(), libc::SOL_SOCKET, libc::SO_ERROR) {
                        Ok(err) => err,
                        Err(e) => {
                            self.unwatch_conn();
                            return Err(Error::Io {
                                op: "getsockopt",
                                source: e,
                            });
                        }
                    };
                    match err {
                        0 => Attempt::Connected(fd),
                        e => {
                            self.unwatch_conn();
                            if !is_refusal(e) {
                                return Err(Error::Io {
                                    op: "connect",
                                    source: io::Error::from_raw_os_error(e),
                                });
                            }
                            self.connector.failed(e);
                            Attempt::Refused
                        }
                    }
                }
                State::Idle => self.connector.start()?,
            };
            match attempt {
                Attempt::Connected(fd) => {
                    self.receiver_seen = true;
                    self.conn_pid = std::process::id();
                    let h = hello(self.msg_size);
                    self.watch_conn(fd.as_raw_fd())?;
                    let r = match self.framing {
                        Framing::Packet => {
                            let mut p = [0u8; 1 + HELLO_LEN];
                            p[0] = TAG_HELLO;
                            p[1..].copy_from_slice(&h);
                            Self::write_all(fd.as_raw_fd(), &p, &Timeout::Forever)
                        }
                        Framing::Stream => Self::write_all(fd.as_raw_fd(), &h, &Timeout::Forever),
                    };
                    if let Err(e) = r {
                        self.unwatch_conn();
                        return Err(e);
                    }
                    let raw = fd.as_raw_fd();
                    self.state = State::Connected(fd);
                    return Ok(raw);
                }
                Attempt::InProgress(fd) => {
                    self.watch_conn(fd.as_raw_fd())?;
                    self.state = State::Connecting(fd);
                }
                Attempt::Refused if self.receiver_seen => return Err(Error::Disconnected),
                Attempt::Refused | Attempt::Again => {
                    let refused = matches!(attempt, Attempt::Refused);
                    match crate::sys::intr::before_nap(timeout).and_then(|()| crate::wait::nap(nap, timeout)) {
                        Err(Error::WouldBlock | Error::TimedOut) if refused => return Err(self.connector.no_listener()),
                        r => r?,
                    }
                    nap = (nap * 2).min(Duration::from_millis(50));
                }
            }
        }
    }

    /// Sends one message (see [`super::MsgSender::send`] and the module docs).
    pub(crate) fn send(&mut self, msg: &[u8], timeout: Timeout) -> Result<()> {
        let r = self.send_inner(msg, timeout);
        let idle = matches!(self.state, State::Idle);
        let (seen, rejected) = (self.receiver_seen, self.rejected.is_some());
        // Without a connection, a send after a receiver was seen (or a reject) returns at
        // once; before, it waits for a listener that only polling notices.
        self.ready
            .after(&r, || rejected || (idle && seen), || idle && !seen && !rejected);
        r
    }

    fn send_inner(&mut self, msg: &[u8], timeout: Timeout) -> Result<()> {
        if msg.len() > self.msg_size {
            return Err(Error::TooLarge {
                len: msg.len(),
                max: self.msg_size,
            });
        }
        if let Some((code, found)) = self.rejected {
            return Err(self.reject_error(code, found));
        }
        if let State::Connected(fd) = &self.state {
            let fd = fd.as_raw_fd();
            if let Err(e) = self.check_peer(fd) {
                self.drop_conn();
                return Err(e);
            }
        }
        let fd = self.connect(&timeout)?;
        let r = match self.framing {
            Framing::Packet => {
                self.buf.clear();
                self.buf.push(TAG_DATA);
                self.buf.extend_from_slice(msg);
                Self::write_all(fd, &self.buf, &timeout)
            }
            Framing::Stream => self.flush_pending(fd, &timeout).and_then(|()| {
                frame::encode_into(msg, &mut self.buf);
                let n = Self::write_some(fd, &self.buf, &timeout)?;
                if n < self.buf.len() {
                    self.pending.clear();
                    self.pending.extend_from_slice(&self.buf[n..]);
                    self.pending_off = 0;
                }
                Ok(())
            }),
        };
        if matches!(r, Err(Error::Disconnected)) {
            self.drop_conn();
            self.pending.clear();
        }
        r
    }

    /// Writes what `bytes` the socket takes, waiting with `timeout` only while none is
    /// written; returns how many went (at least one, unless `bytes` is empty).
    fn write_some(fd: RawFd, bytes: &[u8], timeout: &Timeout) -> Result<usize> {
        let mut off = 0;
        while off < bytes.len() {
            match send_nosignal(fd, &bytes[off..]) {
                Ok(n) => off += n,
                Err(e) => match errno(&e) {
                    libc::EINTR => {}
                    libc::EAGAIN if off > 0 => break,
                    libc::EAGAIN => {
                        wait_fd(fd, libc::POLLOUT, timeout)?;
                    }
                    libc::EPIPE | libc::ECONNRESET | libc::ENOTCONN => return Err(Error::Disconnected),
                    _ => return Err(Error::Io { op: "send", source: e }),
                },
            }
        }
        Ok(off)
    }

    /// Writes the tail of the last frame, waiting as `timeout` allows; `WouldBlock` /
    /// `TimedOut` if it could not all go (what did go is remembered).
    fn flush_pending(&mut self, fd: RawFd, timeout: &Timeout) -> Result<()> {
        while self.pending_off < self.pending.len() {
            let n = Self::write_some(fd, &self.pending[self.pending_off..], timeout)?;
            self.pending_off += n;
        }
        self.pending.clear();
        self.pending_off = 0;
        Ok(())
    }
}

impl<C: Connector> Drop for SockSender<C> {
    /// Delivers the tail of a frame a send accepted, waiting while the receiver is alive
    /// (a dead or closed receiver ends the wait with an error, which is dropped: there is
    /// no one to deliver to).
    /// Then says goodbye (see the module docs), if this process made the connection.
    fn drop(&mut self) {
        let State::Connected(fd) = &self.state else { return };
        let fd = fd.as_raw_fd();
        if self.pending_off < self.pending.len() && self.flush_pending(fd, &Timeout::Forever).is_err() {
            return;
        }
        if self.conn_pid != std::process::id() {
            return;
        }
        let bye: &[u8] = match self.framing {
            Framing::Packet => &[TAG_BYE],
            Framing::Stream => &frame::BYE.to_le_bytes(),
        };
        let _ = crate::sys::intr::shield(|| Self::write_all(fd, bye, &Timeout::Forever));
    }
}

/// A socket transport's sending end (`unix://`, `tcp://`): a newtype over [`SockSender`],
/// whose [`MsgSender`] impl is written once, below.
pub(crate) trait SockSend: fmt::Debug + Send + 'static {
    /// How the transport connects.
    type Conn: Connector;
    fn sock(&self) -> &SockSender<Self::Conn>;
    fn sock_mut(&mut self) -> &mut SockSender<Self::Conn>;
    fn from_sock(s: SockSender<Self::Conn>) -> Self;
}

impl<T: SockSend> MsgSender for T {
    /// Sends `msg` as one packet (`unix://`) or frame (`tcp://`), connecting first if needed
    /// (see the module docs).
    ///
    /// # Errors
    ///
    /// [`Error::TooLarge`], [`Error::WouldBlock`] / [`Error::TimedOut`] (no listener yet, a
    /// handshake under way, or the connection is full; nothing written),
    /// [`Error::Disconnected`], [`Error::Mismatch`] `{ field: "msg_size" }` (the receiver's
    /// `msg_size` is smaller), [`Error::NotARing`] (not an ipcring receiver, or on `unix://`
    /// a symlink / non-socket at the path), [`Error::Io`].
    fn send(&mut self, msg: &[u8], timeout: Timeout) -> Result<()> {
        self.sock_mut().send(msg, timeout)
    }

    fn msg_size(&self) -> usize {
        self.sock().msg_size()
    }

    /// A new sender with its own connection (made at its first send).
    fn try_clone(&self) -> Result<Box<dyn MsgSender>> {
        Ok(Box::new(T::from_sock(self.sock().clone_unconnected()?)))
    }

    fn fd(&self) -> BorrowedFd<'_> {
        self.sock().fd()
    }
}
