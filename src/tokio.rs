//! tokio integration (feature `tokio`): [`AsyncSender`] and [`AsyncReceiver`] wrap a
//! [`Sender`] / [`Receiver`] of any transport for use in async code, and [`AsyncReceiver`] is a
//! [`Stream`] of messages that ends at end of stream.
//!
//! # How it works
//!
//! Each wrapper registers its handle's descriptor (`AsFd`, see the README's "Event loops")
//! with tokio's reactor through [`AsyncFd`], with *readable* interest for both directions:
//! the descriptor is readable while a non-blocking call in the handle's direction would not
//! return `WouldBlock` (a message, room, end of stream, `Disconnected`, ...). A call then loops:
//! wait for readiness, make the non-blocking call (`try_recv`, `try_send`), and only when it
//! says `WouldBlock` clear tokio's readiness and wait again. On a busy channel readiness stays
//! set, so a receive is the non-blocking call alone: on the ring that is no system call at
//! all; on a fallback it is the transport's own read.
//!
//! # Cancel safety
//!
//! Every future here is cancel-safe: all the work is done by the synchronous non-blocking
//! call after readiness, and no message is ever held across an `.await`. Dropping a
//! [`AsyncReceiver::recv`] / [`AsyncReceiver::recv_vec`] / [`AsyncSender::send`] future (a
//! `tokio::select!` branch that lost, a timeout) therefore never loses, duplicates or
//! reorders a message: either the call happened and the future completed with its result,
//! or it did not happen. The same holds for a [`Stream::poll_next`] that returns `Pending`.
//!
//! # Runtime
//!
//! The wrappers must be made inside a tokio runtime with its I/O driver enabled
//! (`#[tokio::main]`, or a builder with `enable_io`/`enable_all`): outside any runtime,
//! [`AsyncSender::new`] / [`AsyncReceiver::new`] return [`Error::Unsupported`]; in a runtime
//! built without I/O, tokio's `AsyncFd` panics, as tokio's own sockets do.
//!
//! # Example
//!
//! ```no_run
//! # async fn demo() -> ipcring::Result<()> {
//! use ipcring::tokio::{AsyncReceiver, AsyncSender};
//! use ipcring::{Create, Receiver, Sender};
//!
//! let rx = Receiver::open("unix:///tmp/jobs.sock", Create::IfMissing)?;
//! let mut rx = AsyncReceiver::new(rx)?;
//! let mut tx = AsyncSender::new(Sender::open("unix:///tmp/jobs.sock", Create::No)?)?;
//! tx.send(b"hello").await?;
//! let mut buf = [0u8; 256];
//! let n = rx.recv(&mut buf).await?;
//! assert_eq!(&buf[..n], b"hello");
//! drop(tx); // the last sender: the receiver sees end of stream after the data
//! assert!(matches!(rx.recv(&mut buf).await, Err(ipcring::Error::EndOfStream)));
//! # Ok(())
//! # }
//! ```

use crate::channel::{Receiver, Sender};
use crate::error::{Error, Result};
use ::tokio::io::unix::AsyncFd;
use ::tokio::io::Interest;
use futures_core::Stream;
use std::io;
use std::os::fd::AsRawFd;
use std::pin::Pin;
use std::task::{Context, Poll};

/// What tokio's reactor reported, as this crate's error.
fn reactor(e: io::Error) -> Error {
    Error::Io {
        op: "tokio reactor",
        source: e,
    }
}

/// Registers `handle`'s descriptor with the current runtime's reactor, readable interest.
fn register<T: AsRawFd>(handle: T) -> Result<AsyncFd<T>> {
    if ::tokio::runtime::Handle::try_current().is_err() {
        return Err(Error::Unsupported {
            what: "an async ipcring handle made outside a tokio runtime",
        });
    }
    // SAFETY: the descriptor is the handle's own (made when the handle was opened, owned by
    // it, never replaced or closed before the handle drops), so it stays open and the same
    // for as long as the `AsyncFd` owns the handle; no method reachable through `get_mut`
    // swaps it.
    unsafe { AsyncFd::register_with_interest(handle, Interest::READABLE) }.map_err(|e| reactor(e.into_parts().1))
}

/// A [`Sender`] for async code (see the module docs).
#[derive(Debug)]
pub struct AsyncSender {
    io: AsyncFd<Sender>,
}

impl AsyncSender {
    /// Wraps `tx`, registering its descriptor with the current tokio runtime.
    ///
    /// # Errors
    ///
    /// [`Error::Unsupported`] outside a tokio runtime; [`Error::Io`] if the reactor refuses the
    /// descriptor.
    pub fn new(tx: Sender) -> Result<AsyncSender> {
        Ok(AsyncSender { io: register(tx)? })
    }

    /// Sends `msg` as one message, waiting (asynchronously) for room.
    ///
    /// Cancel-safe: dropped before it completes, the message was not sent.
    ///
    /// # Errors
    ///
    /// As [`Sender::try_send`], never `WouldBlock`: [`Error::TooLarge`],
    /// [`Error::Disconnected`], ...
    pub async fn send(&mut self, msg: &[u8]) -> Result<()> {
        loop {
            let mut guard = self.io.readable_mut().await.map_err(reactor)?;
            match guard.get_inner_mut().try_send(msg) {
                Err(Error::WouldBlock) => guard.clear_ready(),
                r => return r,
            }
        }
    }

    /// The wrapped sender.
    pub fn get_ref(&self) -> &Sender {
        self.io.get_ref()
    }

    /// The wrapped sender, for its non-blocking calls (`try_send`, `send_batch` with
    /// `Timeout::NonBlocking`, statistics). A blocking call on it blocks the runtime's thread.
    pub fn get_mut(&mut self) -> &mut Sender {
        self.io.get_mut()
    }

    /// Takes the sender back (out of the reactor).
    pub fn into_inner(self) -> Sender {
        self.io.into_inner()
    }
}

/// A [`Receiver`] for async code, and a [`Stream`] of its messages (see the module docs).
#[derive(Debug)]
pub struct AsyncReceiver {
    io: AsyncFd<Receiver>,
    /// The stream has returned `None` (end of stream) and stays ended.
    ended: bool,
}

impl AsyncReceiver {
    /// Wraps `rx`, registering its descriptor with the current tokio runtime.
    ///
    /// # Errors
    ///
    /// As [`AsyncSender::new`].
    pub fn new(rx: Receiver) -> Result<AsyncReceiver> {
        Ok(AsyncReceiver {
            io: register(rx)?,
            ended: false,
        })
    }

    /// Receives one message into `buf`, waiting (asynchronously) for one; returns its length.
    ///
    /// Cancel-safe: dropped before it completes, no message was taken.
    ///
    /// # Errors
    ///
    /// As [`Receiver::try_recv`], never `WouldBlock`: [`Error::EndOfStream`],
    /// [`Error::BufferTooSmall`] (the message stays), [`Error::Corrupted`], ...
    pub async fn recv(&mut self, buf: &mut [u8]) -> Result<usize> {
        loop {
            let mut guard = self.io.readable_mut().await.map_err(reactor)?;
            match guard.get_inner_mut().try_recv(buf) {
                Err(Error::WouldBlock) => guard.clear_ready(),
                r => return r,
            }
        }
    }

    /// Receives one message as a new vector, waiting (asynchronously) for one.
    ///
    /// Cancel-safe, as [`recv`](Self::recv).
    ///
    /// # Errors
    ///
    /// As [`recv`](Self::recv), never `BufferTooSmall`.
    pub async fn recv_vec(&mut self) -> Result<Vec<u8>> {
        loop {
            let mut guard = self.io.readable_mut().await.map_err(reactor)?;
            match guard.get_inner_mut().try_recv_vec() {
                Err(Error::WouldBlock) => guard.clear_ready(),
                r => return r,
            }
        }
    }

    /// The wrapped receiver.
    pub fn get_ref(&self) -> &Receiver {
        self.io.get_ref()
    }

    /// The wrapped receiver, for its non-blocking calls (`try_recv`, `recv_batch` with
    /// `Timeout::NonBlocking`, statistics). A blocking call on it blocks the runtime's thread.
    pub fn get_mut(&mut self) -> &mut Receiver {
        self.io.get_mut()
    }

    /// Takes the receiver back (out of the reactor).
    pub fn into_inner(self) -> Receiver {
        self.io.into_inner()
    }
}

impl Stream for AsyncReceiver {
    /// A message, or the error a receive returned (the stream goes on after an error;
    /// end of stream ends it).
    type Item = Result<Vec<u8>>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if this.ended {
            return Poll::Ready(None);
        }
        loop {
            let mut guard = match this.io.poll_read_ready_mut(cx) {
                Poll::Ready(Ok(g)) => g,
                Poll::Ready(Err(e)) => return Poll::Ready(Some(Err(reactor(e)))),
                Poll::Pending => return Poll::Pending,
            };
            match guard.get_inner_mut().try_recv_vec() {
                Err(Error::WouldBlock) => guard.clear_ready(),
                Err(Error::EndOfStream) => {
                    this.ended = true;
                    return Poll::Ready(None);
                }
                r => return Poll::Ready(Some(r)),
            }
        }
    }
}
