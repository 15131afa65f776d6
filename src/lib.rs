//! ipcring: a lock-free ring buffer in POSIX shared memory, for messages between processes
//! written in C or Rust.
//!
//! A ring is a region (`/dev/shm/NAME`, an anonymous memfd shared across `fork`, or plain
//! heap memory for threads) holding a header and `capacity` fixed-size slots. One sender
//! and one receiver ([`Kind::Spsc`], cached cursors, no shared-line traffic per message in
//! the steady state) or any number of each ([`Kind::Mpmc`], Vyukov's bounded queue). Blocked
//! calls spin briefly, then sleep on a shared futex word (or a process-shared `sem_t`), and
//! a busy ring makes no system call per message.
//!
//! ```
//! use ipcring::{Ring, RingOptions, Kind};
//! let name = format!("ipcring-doc-lib-{}", std::process::id());
//! let ring = Ring::create(&name, &RingOptions::new().kind(Kind::Spsc).capacity(1024).msg_size(64))?;
//! let mut tx = ring.sender()?;
//! // ... in another process: Ring::open(&name)?.receiver()?
//! let mut rx = ring.receiver()?;
//! tx.send(b"hello")?;
//! assert_eq!(rx.recv_vec()?, b"hello");
//! Ring::unlink(&name)?;
//! # Ok::<(), ipcring::Error>(())
//! ```
//!
//! Module map (data flows one way, top to bottom): [`channel`] (the API, any transport) →
//! [`ring`] (the shared-memory ring's ends) or `transport` (the fallbacks) → `spsc` / `mpmc`
//! (the algorithms, over a raw region) → [`wait`] (blocking) → `layout` (the shared format)
//! and `sync` (the std/loom switch); `shm` maps regions (and removes them: [`remove`]);
//! `endpoint` tracks who is attached; [`inspect`] describes rings read-only (`ipcring ls` and
//! `stat`); [`failpoint`] is test support (the `failpoints`
//! feature: kill, stop or pause the process at a named step).
//! See `docs/architecture.md` in the repository.

#![deny(missing_docs)]
#![warn(clippy::undocumented_unsafe_blocks)]

pub mod address;
pub mod channel;
pub mod error;
pub mod failpoint;
#[cfg(not(ipcring_loom))]
pub mod ffi;
#[cfg(not(ipcring_loom))]
pub mod inspect;
pub mod ring;
mod stats;
pub mod wait;

// The building blocks below are public so that the integration tests, the loom models, the
// benchmarks and (later) the fuzz targets can drive the algorithms over a raw region. They
// are not a stable API: use `Ring`, `Sender` and `Receiver`.
#[doc(hidden)]
pub mod endpoint;
#[doc(hidden)]
pub mod layout;
#[doc(hidden)]
pub mod mpmc;
#[doc(hidden)]
pub mod shm;
#[doc(hidden)]
pub mod spsc;
mod sync;
mod sys;
#[doc(hidden)]
#[cfg(not(ipcring_loom))]
pub mod transport;

pub use channel::{pair, pair_at, remove, unlink, Create, Receiver, RecvBatch, RecvSlot, SendSlot, Sender};
pub use error::{Error, Result};
pub use layout::{Geometry, Kind, WakeBackend};
pub use ring::{Ring, RingOptions};
pub use stats::Stats;
pub use wait::Timeout;
