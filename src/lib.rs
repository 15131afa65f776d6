//! ipcring: a lock-free ring buffer in POSIX shared memory, for messages between processes
//! written in C or Rust.
//!
//! A ring is a region (`/dev/shm/NAME`, an anonymous memfd shared across `fork`, or plain
//! heap memory for threads) holding a header and the messages. One sender and one receiver
//! ([`Kind::Spsc`]: packed variable-length records in an area sized in bytes, cached
//! cursors, no shared-line traffic per message in the steady state) or any number of each
//! ([`Kind::Mpmc`]: Vyukov's bounded queue over `capacity` fixed slots, any capacity). Blocked
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
//! The API is [`Sender`] / [`Receiver`] (any transport, by address: [`Sender::open`],
//! [`pair_at`]), [`Ring`] (the shared-memory ring itself), [`RingOptions`], [`Timeout`] and
//! [`Error`]; [`inspect`] describes rings read-only (what `ipcring ls` and `stat` show);
//! [`address`] parses the address strings that Rust, C and the command share.
//!
//! Inside, the files form layers and every import points down (`docs/architecture.md` draws
//! them and says what each file owns): the API (`channel/`, `address`) → the ring (`ring/`)
//! and the fallbacks (`transport/`) → regions (`region/`) → the algorithms (`spsc`, `mpmc`,
//! `copy`) → blocking and liveness (`wait`, `endpoint`) → the shared format (`layout`) →
//! the std/loom switch (`sync`) → the system calls (`sys/`) → the leaves (`error`, `kind`,
//! `options`, `stats`, `timeout`). `failpoint` is test support, compiled in only under
//! `--cfg ipcring_test`.
//! See `docs/architecture.md` in the repository.

#![deny(missing_docs)]
#![warn(clippy::undocumented_unsafe_blocks)]

/// Declares the building blocks: private in a normal build, public (and hidden from the docs)
/// under `--cfg ipcring_test` or `--cfg ipcring_loom`, so that the integration tests and the
/// loom models can drive the algorithms over a raw region. Neither cfg is a
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

/// The same for one method of a public type (`internal_fn! { /// docs  fn name(..) {..} }`):
/// `pub(crate)` in a normal build, public (and hidden from the docs) under `--cfg ipcring_test`
/// or `--cfg ipcring_loom`, e.g. `Ring::attach_sender`, which the loom models call.
macro_rules! internal_fn {
    ($(#[$attr:meta])* fn $($rest:tt)*) => {
        $(#[$attr])*
        #[cfg(any(ipcring_test, ipcring_loom))]
        #[doc(hidden)]
        pub fn $($rest)*
        $(#[$attr])*
        #[cfg(not(any(ipcring_test, ipcring_loom)))]
        pub(crate) fn $($rest)*
    };
}

// Loom builds (`--cfg ipcring_loom`) hold only what the models drive: the ring's ends and
// everything below them. The API types, addresses, the fallback transports and the
// inspector are left out here, at their `mod` lines, and name no cfg of their own.
#[cfg(not(ipcring_loom))]
pub mod address;
#[cfg(not(ipcring_loom))]
pub mod channel;
pub mod error;
#[cfg(not(ipcring_loom))]
pub mod inspect;
mod kind;
mod options;
#[cfg(not(ipcring_loom))]
mod poll;
mod stats;
#[cfg(all(feature = "tokio", not(ipcring_loom)))]
pub mod tokio;

internal! {
    mod copy;
    mod endpoint;
    mod failpoint;
    mod layout;
    mod mpmc;
    mod region;
    mod ring;
    mod spsc;
    mod sync;
    mod sys;
    mod timeout;
    #[cfg(not(ipcring_loom))]
    mod transport;
    mod wait;
}

#[cfg(not(ipcring_loom))]
pub use channel::{
    pair, pair_at, remove, unlink, Create, Interrupter, Iter, Receiver, RecvBatch, RecvSlot, SendSlot, Sender,
};
pub use error::{Error, ErrorKind, Result};
pub use kind::{FenceMode, Kind, UnknownName, WakeBackend};
pub use layout::Geometry;
pub use options::RingOptions;
#[cfg(not(ipcring_loom))]
pub use poll::{poll, Events, PollItem};
pub use ring::Ring;
pub use stats::Stats;
pub use timeout::{Deadline, Timeout};
