//! `tcp://HOST:PORT`: TCP connections carrying `[len u32 LE][payload]` frames.
//!
//! The roles, the hello, the lazy connect, end of stream and `Disconnected` are those of
//! [`super::sock`] (read its docs first). What is particular to this transport:
//!
//! - A connection is a byte stream: after the 12-byte hello, each message is one frame
//!   ([`super::frame`]), reassembled per connection on the receiver. `msg_size` may be up to
//!   `u32::MAX`.
//! - A send that wrote part of a frame finishes it before returning, waiting as long as it
//!   takes whatever its timeout (half a frame would corrupt everything after it); a timeout
//!   is honoured only while nothing of the frame has been written. A sender that dies in the
//!   middle of a frame never committed that message: the receiver discards the partial frame
//!   along with the connection.
//! - `TCP_NODELAY` on both ends (a message goes out when it is sent); `SO_REUSEADDR` on the
//!   listener, so a restarted receiver can bind its port again at once.
//! - `HOST` is a name or an address, resolved with [`std::net::ToSocketAddrs`] when the end
//!   is opened; a sender tries the addresses in turn, one per connection attempt.
//! - Port 0 for a receiver binds any free port: [`TcpReceiver::local_port`] says which.
//! - A receiver whose port is taken is [`Error::Busy`] `{ role: "receiver" }`.
//! - A receiver that dies is noticed by its senders when the peer's reset comes back: the
//!   send just after the death may still succeed (into the kernel's buffers, lost), the
//!   next one is `Disconnected`. On the same machine that is at most one message.

use super::sock::{self, Attempt, Connector, Framing, SockReceiver, SockSender};
use super::{MsgReceiver, MsgSender, OpenSpec, Ops};
use crate::error::{Error, Result};
use crate::timeout::Timeout;
use std::io;
use std::net::{SocketAddr, TcpListener, ToSocketAddrs};
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};

/// `tcp://HOST:PORT` in the dispatch table: nothing to remove.
pub(crate) const OPS: Ops = Ops {
    scheme: "tcp",
    open_sender: Some(open_sender),
    open_receiver: Some(open_receiver),
    pair: None,
    unlink: Err("a TCP address has no object to remove"),
    remove: Err("a TCP address has no object to remove"),
};

fn check_spec(spec: &OpenSpec) -> Result<usize> {
    spec.refuse_ring_options(false)?;
    let msg_size = spec.msg_size();
    sock::check_msg_size(msg_size)?;
    Ok(msg_size)
}

fn resolve(spec: &OpenSpec) -> Result<Vec<SocketAddr>> {
    let target = spec.target;
    let addrs: Vec<SocketAddr> = target
        .to_socket_addrs()
        .map_err(|e| Error::Io {
            op: "resolve",
            source: e,
        })?
        .collect();
    if addrs.is_empty() {
        return Err(Error::Io {
            op: "resolve",
            source: io::Error::new(io::ErrorKind::NotFound, format!("{target}: no address")),
        });
    }
    Ok(addrs)
}

/// `addr` as a `sockaddr_in` or `sockaddr_in6` in a `sockaddr_storage`, and its length.
fn raw_sockaddr(addr: &SocketAddr) -> (libc::sockaddr_storage, libc::socklen_t) {
    // SAFETY: sockaddr_storage is plain data; all zero is a valid value.
    let mut ss: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let len = match addr {
        SocketAddr::V4(a) => {
            // SAFETY: sockaddr_storage is larger than and aligned for sockaddr_in.
            let sin = unsafe { &mut *(&mut ss as *mut libc::sockaddr_storage).cast::<libc::sockaddr_in>() };
            sin.sin_family = libc::AF_INET as libc::sa_family_t;
            sin.sin_port = a.port().to_be();
            sin.sin_addr = libc::in_addr {
                s_addr: u32::from_ne_bytes(a.ip().octets()),
            };
            std::mem::size_of::<libc::sockaddr_in>()
        }
        SocketAddr::V6(a) => {
            // SAFETY: sockaddr_storage is larger than and aligned for sockaddr_in6.
            let sin6 = unsafe { &mut *(&mut ss as *mut libc::sockaddr_storage).cast::<libc::sockaddr_in6>() };
            sin6.sin6_family = libc::AF_INET6 as libc::sa_family_t;
            sin6.sin6_port = a.port().to_be();
            sin6.sin6_flowinfo = a.flowinfo();
            sin6.sin6_addr = libc::in6_addr {
                s6_addr: a.ip().octets(),
            };
            sin6.sin6_scope_id = a.scope_id();
            std::mem::size_of::<libc::sockaddr_in6>()
        }
    };
    (ss, len as libc::socklen_t)
}

// ---------------------------------------------------------------------------------------
// Sender
// ---------------------------------------------------------------------------------------

#[derive(Debug, Clone)]
pub(crate) struct TcpConnector {
    addrs: Vec<SocketAddr>,
    next: usize,
}

impl Connector for TcpConnector {
    fn start(&mut self) -> Result<Attempt> {
        let addr = self.addrs[self.next % self.addrs.len()];
        let domain = if addr.is_ipv4() { libc::AF_INET } else { libc::AF_INET6 };
        let fd = sock::socket(domain, libc::SOCK_STREAM)?;
        sock::set_int_opt(fd.as_raw_fd(), libc::IPPROTO_TCP, libc::TCP_NODELAY, 1).map_err(|e| Error::Io {
            op: "setsockopt(TCP_NODELAY)",
            source: e,
        })?;
        let (ss, len) = raw_sockaddr(&addr);
        crate::sys::count::one();
        // SAFETY: ss holds a valid sockaddr of len bytes; fd is our socket.
        let rc = unsafe { libc::connect(fd.as_raw_fd(), (&ss as *const libc::sockaddr_storage).cast(), len) };
        if rc == 0 {
            return Ok(Attempt::Connected(fd));
        }
        let e = io::Error::last_os_error();
        match e.raw_os_error().unwrap_or(0) {
            // EINTR: the handshake goes on in the background, as with EINPROGRESS.
            libc::EINPROGRESS | libc::EINTR => Ok(Attempt::InProgress(fd)),
            // No local port free for now.
            libc::EAGAIN | libc::EADDRNOTAVAIL => Ok(Attempt::Again),
            err if sock::is_refusal(err) => {
                self.failed(err);
                Ok(Attempt::Refused)
            }
            _ => Err(Error::from_io("connect", e)),
        }
    }

    fn failed(&mut self, _err: i32) {
        self.next = self.next.wrapping_add(1);
    }
    fn no_listener(&self) -> Error {
        // The address tried last (the failed one moved `next` on, so look one back).
        let n = self.addrs.len();
        let addr = self.addrs[(self.next + n - 1) % n];
        Error::NoListener {
            address: format!("tcp://{addr}"),
            reason: "connection refused",
        }
    }
}

/// The sending end of `tcp://HOST:PORT` (see the module docs). It connects at its first send.
#[derive(Debug)]
pub struct TcpSender(SockSender<TcpConnector>);

impl TcpSender {
    /// Resolves `spec`'s `HOST:PORT` and prepares a sender. Nothing is connected yet.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidAddress`] (a ring-only option, or port 0), [`Error::InvalidOption`]
    /// (`msg_size` above `u32::MAX`), [`Error::Io`] `{ op: "resolve" }` when the host does
    /// not resolve.
    pub fn open(spec: &OpenSpec) -> Result<TcpSender> {
        let msg_size = check_spec(spec)?;
        let addrs = resolve(spec)?;
        if addrs.iter().any(|a| a.port() == 0) {
            return Err(Error::InvalidAddress {
                address: format!("tcp://{}", spec.target),
                part: "0".to_string(),
                reason: "a sender needs the receiver's real port (0 is for receivers only)",
            });
        }
        let connector = TcpConnector { addrs, next: 0 };
        Ok(TcpSender(SockSender::new(connector, Framing::Stream, msg_size)?))
    }
}

impl sock::SockSend for TcpSender {
    type Conn = TcpConnector;
    fn sock(&self) -> &SockSender<TcpConnector> {
        &self.0
    }
    fn sock_mut(&mut self) -> &mut SockSender<TcpConnector> {
        &mut self.0
    }
    fn from_sock(s: SockSender<TcpConnector>) -> Self {
        TcpSender(s)
    }
}

/// Opens the sending end of a `tcp://HOST:PORT` address (see [`TcpSender::open`]).
///
/// # Errors
///
/// As [`TcpSender::open`].
pub fn open_sender(spec: &OpenSpec) -> Result<Box<dyn MsgSender>> {
    Ok(Box::new(TcpSender::open(spec)?))
}

// ---------------------------------------------------------------------------------------
// Receiver
// ---------------------------------------------------------------------------------------

/// The receiving end of `tcp://HOST:PORT`: the listening socket (see the module docs).
#[derive(Debug)]
pub struct TcpReceiver {
    inner: SockReceiver,
    #[cfg_attr(not(ipcring_test), allow(dead_code))] // read by local_port / local_addr (tests)
    local: SocketAddr,
}

impl TcpReceiver {
    /// Binds `spec`'s `HOST:PORT` (`SO_REUSEADDR`; port 0: any free port) and listens.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidAddress`] (a ring-only option), [`Error::InvalidOption`] (`msg_size`
    /// above `u32::MAX`), [`Error::Busy`] `{ role: "receiver" }` (the port is taken),
    /// [`Error::PermissionDenied`] (a privileged port), [`Error::Io`] (the host does not
    /// resolve or is not local, ...).
    pub fn bind(spec: &OpenSpec) -> Result<TcpReceiver> {
        let msg_size = check_spec(spec)?;
        let addrs = resolve(spec)?;
        let listener = TcpListener::bind(&addrs[..]).map_err(|e| match e.raw_os_error() {
            Some(libc::EADDRINUSE) => Error::Busy { role: "receiver" },
            _ => Error::from_io("bind", e),
        })?;
        listener.set_nonblocking(true).map_err(|e| Error::Io {
            op: "fcntl(F_SETFL)",
            source: e,
        })?;
        let local = listener.local_addr().map_err(|e| Error::Io {
            op: "getsockname",
            source: e,
        })?;
        Ok(TcpReceiver {
            inner: SockReceiver::new(OwnedFd::from(listener), Framing::Stream, msg_size)?,
            local,
        })
    }

    /// The port the receiver listens on (the one the kernel chose for port 0).
    #[cfg(ipcring_test)] // used by the tests that drive this transport directly
    pub fn local_port(&self) -> u16 {
        self.local.port()
    }

    /// The address the receiver listens on.
    #[cfg(ipcring_test)] // used by the tests that drive this transport directly
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

}

impl MsgReceiver for TcpReceiver {
    /// Receives one whole message from any sender (round robin among them).
    ///
    /// # Errors
    ///
    /// [`Error::BufferTooSmall`] (the message stays), [`Error::WouldBlock`] /
    /// [`Error::TimedOut`], [`Error::EndOfStream`] (every sender has gone; a new one makes
    /// data flow again), [`Error::Io`] (`ppoll` or `accept4` failed, e.g. out of
    /// descriptors). A misbehaving peer is dropped, never an error here.
    fn recv(&mut self, buf: &mut [u8], timeout: Timeout) -> Result<usize> {
        self.inner.recv(buf, timeout)
    }

    fn msg_size(&self) -> usize {
        self.inner.msg_size()
    }

    /// Always [`Error::Unsupported`]: one listener per address.
    fn try_clone(&self) -> Result<Box<dyn MsgReceiver>> {
        Err(Error::Unsupported {
            what: "a second receiver on a tcp:// address (one listener per address)",
        })
    }

    fn fd(&self) -> BorrowedFd<'_> {
        self.inner.fd()
    }

    fn set_held(&self, held: bool) {
        self.inner.set_held(held);
    }
}

/// Opens the receiving end of a `tcp://HOST:PORT` address (see [`TcpReceiver::bind`]; use
/// that to learn the port chosen for port 0).
///
/// # Errors
///
/// As [`TcpReceiver::bind`].
pub fn open_receiver(spec: &OpenSpec) -> Result<Box<dyn MsgReceiver>> {
    Ok(Box::new(TcpReceiver::bind(spec)?))
}
