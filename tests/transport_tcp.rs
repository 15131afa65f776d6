//! The `tcp://HOST:PORT` transport (`ipcring::transport::tcp`) over real sockets on
//! 127.0.0.1: sizes, too-small buffers, timeouts, both start orders, several senders,
//! senders killed with SIGKILL, receivers that go away (never SIGPIPE) and come back, and
//! peers that are not ipcring senders or do not agree on `msg_size`.
//!
//! Receivers bind port 0 and senders get the real port. The tests after the adapter
//! (`Site`) are shared with `transport_unix.rs`, in `tests/common/sock_suite.rs`.
//! `IPCRING_SOCK_MESSAGES` (default 100,000) sets the size of the main cross-process run.

// It drives the library's building blocks (or its failpoints) directly: only in the test build.
#![cfg(ipcring_test)]

mod common;
#[path = "common/sock_suite.rs"]
mod sock_suite;

use common::*;
use ipcring::address::Address;
use ipcring::transport::{tcp, MsgReceiver, MsgSender, OpenSpec};
use ipcring::{Error, Timeout};
use sock_suite::{Adapter, RawClient, MSG_SIZE};
use std::io::{Read, Write};
use std::time::Duration;

// ---------------------------------------------------------------------------------------
// The adapter: where a channel lives, and its two ends
// ---------------------------------------------------------------------------------------

/// A channel's address: a port on 127.0.0.1, fixed once its first receiver has bound.
struct Site {
    port: u16,
}

impl Adapter for Site {
    type Raw = Raw;

    fn open_tx(address: &str) -> Box<dyn MsgSender> {
        open_tx(address)
    }

    fn open_sender(spec: &OpenSpec) -> ipcring::Result<Box<dyn MsgSender>> {
        tcp::open_sender(spec)
    }

    fn open_receiver(spec: &OpenSpec) -> ipcring::Result<Box<dyn MsgReceiver>> {
        tcp::open_receiver(spec)
    }

    /// A site whose port the first receiver picks (port 0).
    fn new(_tag: &str) -> Site {
        Site { port: 0 }
    }

    /// A site on a port where nobody listens (for senders started before their receiver).
    fn unused(_tag: &str) -> Site {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        drop(l);
        Site { port }
    }

    fn address(&self, msg_size: usize) -> String {
        format!("tcp://127.0.0.1:{}?msg_size={msg_size}", self.port)
    }

    fn rx(&mut self, msg_size: usize) -> Box<dyn MsgReceiver> {
        Box::new(
            self.try_rx(msg_size)
                .unwrap_or_else(|e| panic!("bind {}: {e}", self.address(msg_size))),
        )
    }

    fn tx(&self, msg_size: usize) -> Box<dyn MsgSender> {
        assert_ne!(self.port, 0, "start a receiver first (or use Site::unused)");
        open_tx(&self.address(msg_size))
    }

    /// A raw client of the listener, for protocol-breaking peers.
    fn raw_client(&self) -> Raw {
        let s = std::net::TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        s.set_read_timeout(Some(HANG_BOUND)).unwrap();
        Raw(s)
    }
}

impl Site {
    fn try_rx(&mut self, msg_size: usize) -> ipcring::Result<tcp::TcpReceiver> {
        let a = Address::parse(&self.address(msg_size)).unwrap();
        let rx = tcp::TcpReceiver::bind(&spec(&a))?;
        if self.port == 0 {
            self.port = rx.local_port();
        }
        assert_eq!(rx.local_port(), self.port);
        Ok(rx)
    }
}

struct Raw(std::net::TcpStream);

impl RawClient for Raw {
    fn write(&mut self, bytes: &[u8]) {
        self.0.write_all(bytes).unwrap();
    }
    /// Sends `h` as a hello (on TCP, its raw bytes).
    fn write_hello(&mut self, h: &[u8]) {
        self.write(h);
    }
    /// Reads until EOF (bounded): what the receiver wrote.
    fn read_to_eof(&mut self) -> Vec<u8> {
        let mut v = Vec::new();
        self.0.read_to_end(&mut v).unwrap();
        v
    }
}

fn spec(a: &Address) -> OpenSpec<'_> {
    a.open_spec(true, false)
}

fn open_tx(address: &str) -> Box<dyn MsgSender> {
    let a = Address::parse(address).unwrap();
    tcp::open_sender(&spec(&a)).unwrap_or_else(|e| panic!("open sender {address}: {e}"))
}

// ---------------------------------------------------------------------------------------
// TCP only
// ---------------------------------------------------------------------------------------

#[test]
fn tcp_port_taken_is_busy() {
    let _g = serial();
    let mut site = Site::new("busy");
    let _rx = site.rx(MSG_SIZE);
    let err = site.try_rx(MSG_SIZE).unwrap_err();
    assert!(matches!(err, Error::Busy { role: "receiver" }), "{err}");
}

#[test]
fn tcp_sender_needs_a_port_and_a_host() {
    let _g = serial();
    let a = Address::parse("tcp://127.0.0.1:0").unwrap();
    let err = tcp::open_sender(&spec(&a)).unwrap_err();
    assert!(matches!(err, Error::InvalidAddress { .. }), "{err}");
    let a = Address::parse("tcp://no-such-host.invalid:9").unwrap();
    let err = tcp::open_sender(&spec(&a)).unwrap_err();
    assert!(matches!(err, Error::Io { op: "resolve", .. }), "{err}");
}

/// A sender that dies in the middle of a frame: the partial frame is dropped with the
/// connection, the whole frames before it are delivered, then end of stream.
#[test]
fn tcp_partial_frame_then_eof_is_dropped() {
    let _g = serial();
    let mut site = Site::new("partial");
    let mut rx = site.rx(MSG_SIZE);
    let mut raw = site.raw_client();
    let mut hello = Vec::new();
    hello.extend_from_slice(b"IPCR");
    hello.extend_from_slice(&ipcring::transport::sock::VERSION.to_le_bytes());
    hello.extend_from_slice(&(MSG_SIZE as u32).to_le_bytes());
    let mut frame = Vec::new();
    ipcring::transport::frame::encode_into(b"whole", &mut frame);
    hello.extend_from_slice(&frame);
    ipcring::transport::frame::encode_into(b"never finished", &mut frame);
    hello.extend_from_slice(&frame[..7]);
    raw.write(&hello);
    let mut buf = vec![0u8; MSG_SIZE];
    let n = rx.recv(&mut buf, Timeout::after(HANG_BOUND)).unwrap();
    assert_eq!(&buf[..n], b"whole");
    assert!(matches!(
        rx.recv(&mut buf, Timeout::after(Duration::from_millis(20))),
        Err(Error::TimedOut)
    ));
    drop(raw);
    // The peer left without a goodbye (and mid-frame): a sender that died.
    let err = rx.recv(&mut buf, Timeout::after(HANG_BOUND)).unwrap_err();
    assert!(matches!(err, Error::SenderDied), "{err}");
}

// ---------------------------------------------------------------------------------------
// The same tests as transport_unix.rs
// ---------------------------------------------------------------------------------------

// The tests shared with the other socket transport (see tests/common/sock_suite.rs).
sock_suite::sock_suite!(Site);
