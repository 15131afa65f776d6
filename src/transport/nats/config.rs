//! What a `nats://` address says and the limits the transport works with: the channel's
//! name and server, the engine options' defaults, and the names and description of the
//! objects on the server.

use crate::error::{Error, Result};
use crate::transport::OpenSpec;
use std::time::Duration;

/// Messages a receiver fetches ahead of its caller (unacknowledged until delivered).
pub(super) const PREFETCH: usize = 256;
/// The longest one attempt to publish or to talk to JetStream waits before it is retried.
pub(super) const ATTEMPT: Duration = Duration::from_secs(5);
/// How long a fetch waits on the server for messages before the idle checks run again.
pub(super) const FETCH_EXPIRES: Duration = Duration::from_millis(500);
/// Room for our headers beyond `msg_size` in the stream's `max_msg_size`.
pub(super) const HEADER_ROOM: usize = 512;
pub(super) const DEFAULT_ACK_WAIT: u64 = 30;
pub(super) const DEFAULT_DUP_WINDOW: u64 = 120;

/// What an address names: the server, the channel's name and its options.
#[derive(Debug, Clone)]
pub(super) struct Target {
    pub(super) server: String,
    pub(super) name: String,
}

pub(super) fn parse_target(spec: &OpenSpec) -> Result<Target> {
    let bad = |reason| Error::InvalidAddress {
        address: format!("nats://{}", spec.target),
        part: spec.target.to_string(),
        reason,
    };
    let (server, name) = spec.target.split_once('/').ok_or(bad("needs HOST:PORT/NAME"))?;
    check_name(name).map_err(bad)?;
    Ok(Target {
        server: server.to_string(),
        name: name.to_string(),
    })
}

/// A channel name usable in stream, bucket and subject names: 1-64 of `A-Z a-z 0-9 _ -`.
pub(super) fn check_name(name: &str) -> std::result::Result<(), &'static str> {
    if name.is_empty() || name.len() > 64 || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-') {
        return Err("the channel name must be 1-64 of A-Z a-z 0-9 _ - (nats://HOST:PORT/NAME)");
    }
    Ok(())
}

pub(super) fn stream_name(name: &str) -> String {
    format!("IPCRING_{name}")
}
pub(super) fn senders_name(name: &str) -> String {
    format!("IPCRING_{name}_SENDERS")
}

pub(super) fn describe(msg_size: usize, capacity: Option<u64>) -> String {
    format!("ipcring msg_size={msg_size} capacity={}", capacity.unwrap_or(0))
}

/// `msg_size` and `capacity` (0: unlimited) from a stream's description, if it is ours.
pub(super) fn described(d: Option<&str>) -> Option<(usize, u64)> {
    let rest = d?.strip_prefix("ipcring msg_size=")?;
    let (m, c) = rest.split_once(" capacity=")?;
    Some((m.parse().ok()?, c.parse().ok()?))
}
