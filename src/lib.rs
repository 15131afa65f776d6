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
//! Module map, by layer (imports point down; DESIGN.md §1): [`channel`] (the API, any
//! transport) and `address` → [`ring`] (the shared-memory ring's ends) or `transport` (the
//! fallbacks) → `region` (heap, named and anonymous regions; removing them: [`remove`]) →
//! `spsc` / `mpmc` (the algorithms, over a raw region; `copy`, their memcpy) → [`wait`]
//! (blocking) and `endpoint` (who is attached) → `layout` (the shared format) → `sync` (the
//! std/loom switch) → `sys` (the system calls) → the leaves (`error`, `kind`, `options`,
//! `timeout`). [`inspect`] describes rings read-only (`ipcring ls` and `stat`); [`failpoint`]
//! is test support (the `failpoints` feature: kill, stop or pause the process at a named step).
//! See `docs/architecture.md` in the repository.

#![deny(missing_docs)]
#![warn(clippy::undocumented_unsafe_blocks)]

pub mod address;
pub mod channel;
pub mod error;
#[cfg(not(ipcring_loom))]
pub mod inspect;
mod kind;
mod options;
pub mod ring;
mod timeout;
mod stats;
pub mod wait;

/// Declares the building blocks: private in a normal build, public (and hidden from the docs)
/// under `--cfg ipcring_test` or `--cfg ipcring_loom`, so that the integration tests, the loom
/// models and the benchmarks can drive the algorithms over a raw region. Neither cfg is a
/// cargo feature: no dependent can make these modules part of the API.
macro_rules! internal {
    ($($(#[$attr:meta])* mod $name:ident;)*) => {$(
        $(#[$attr])*
        #[cfg(any(ipcring_test, ipcring_loom))]
        #[doc(hidden)]
        pub mod $name;
        $(#[$attr])*
        #[cfg(not(any(ipcring_test, ipcring_loom)))]
        mod $name;
    )*};
}

internal! {
    mod copy;
    mod endpoint;
    mod failpoint;
    mod layout;
    mod mpmc;
    mod region;
    mod spsc;
    mod sync;
    mod sys;
    #[cfg(not(ipcring_loom))]
    mod transport;
}

pub use channel::{pair, pair_at, remove, unlink, Create, Receiver, RecvBatch, RecvSlot, SendSlot, Sender};
pub use error::{Error, Result};
pub use kind::{Kind, WakeBackend};
pub use layout::Geometry;
pub use options::RingOptions;
pub use ring::Ring;
pub use stats::Stats;
pub use timeout::Timeout;
