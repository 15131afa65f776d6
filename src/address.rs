//! Addresses: the one string that names a channel in Rust, C and on the command line
//! (the README's address table), e.g. `shm://jobs?capacity=1024&msg_size=256&mode=mpmc`.
//!
//! The parser knows every scheme of the design (`shm`, `pipe`, `fifo`, `mq`, `unix`, `tcp`)
//! and checks each one's shape, so a typo is reported as such wherever it is written.
//! Every scheme is served: `shm://` by the ring, the others by `crate::transport`.
//!
//! Creation options ride on the query string:
//!
//! | key | values | meaning |
//! |---|---|---|
//! | `capacity` | `shm://`: any count in 1..=2^24; `mq://`: any count from 1 | messages the ring (SPSC) or queue holds at once, slots of an MPMC ring |
//! | `bytes` | `shm://` SPSC: a multiple of 8, at least `msg_size` | the ring's data area, independent of `msg_size` (messages are packed records of 8 + the payload rounded to 8 bytes) |
//! | `msg_size` | 1..=2^28 | largest message in bytes |
//! | `mode` | `spsc` \| `mpmc` | one sender and one receiver, or any number of each |
//! | `wake` | `futex` \| `sem` | how blocked callers sleep |
//! | `fence` | `asymmetric` \| `full` | the ring's sleep/wake barriers (default: asymmetric where `membarrier(2)` works, see [`FenceMode`]) |
//! | `spin` | `on` \| `off` | whether this process's blocking calls spin before they sleep (default `on`; see [`RingOptions::spin`]) |
//! | `perm` | octal, e.g. `0600` or `0640` | permissions of a created object |
//!
//! When opening an existing ring, the options given must match it (a mismatch is an error
//! naming the field); options left out are not checked. `spin` is this process's own
//! choice: it is never stored in the ring nor checked.

use crate::error::{Error, Result};
use crate::kind::{FenceMode, Kind, WakeBackend};
use crate::options::RingOptions;
use crate::region;
use crate::transport::OpenSpec;

/// The mechanism an address names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Transport {
    /// `shm://NAME`: the ring in shared memory (`shm://` alone: an anonymous ring for `pair`).
    Shm,
    /// `pipe://`: an anonymous pipe shared across `fork`.
    Pipe,
    /// `fifo:///path`: a named pipe.
    Fifo,
    /// `mq://NAME`: a POSIX message queue.
    Mq,
    /// `unix:///path`: a UNIX `SOCK_SEQPACKET` socket.
    Unix,
    /// `tcp://HOST:PORT`: TCP with length-prefixed frames.
    Tcp,
    /// `nats://HOST:PORT/NAME`: a NATS JetStream stream (the crate's `nats` feature).
    Nats,
}

impl Transport {
    /// The transport of a scheme as written in addresses (`"shm"`, `"pipe"`, ...).
    fn from_scheme(scheme: &str) -> Option<Transport> {
        Some(match scheme {
            "shm" => Transport::Shm,
            "pipe" => Transport::Pipe,
            "fifo" => Transport::Fifo,
            "mq" => Transport::Mq,
            "unix" => Transport::Unix,
            "tcp" => Transport::Tcp,
            "nats" => Transport::Nats,
            _ => return None,
        })
    }

    /// The scheme as written in addresses (`"shm"`, `"pipe"`, ...).
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(ipcring::address::Transport::Fifo.scheme(), "fifo");
    /// ```
    pub fn scheme(self) -> &'static str {
        match self {
            Transport::Shm => "shm",
            Transport::Pipe => "pipe",
            Transport::Fifo => "fifo",
            Transport::Mq => "mq",
            Transport::Unix => "unix",
            Transport::Tcp => "tcp",
            Transport::Nats => "nats",
        }
    }
}

/// A parsed address: the transport, its target (name, path or host:port; empty for
/// anonymous channels) and the creation options of its query string.
///
/// # Examples
///
/// ```
/// use ipcring::address::{Address, Transport};
/// let a = Address::parse("shm://jobs?capacity=64&mode=mpmc")?;
/// assert_eq!(a.transport(), Transport::Shm);
/// assert_eq!(a.target(), "jobs");
/// let g = a.options().validate()?;
/// assert_eq!(g.capacity, 64);
/// # Ok::<(), ipcring::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct Address {
    transport: Transport,
    target: String,
    options: RingOptions,
    perm_given: bool,
    params: Vec<(&'static str, u64)>,
}

impl Address {
    /// Parses `text`. Every malformed part is an [`Error::InvalidAddress`] naming it.
    ///
    /// # Examples
    ///
    /// ```
    /// use ipcring::{address::Address, Error};
    /// let err = Address::parse("shm://x?capacty=8").unwrap_err();
    /// assert!(matches!(err, Error::InvalidAddress { ref part, .. } if part == "capacty=8"));
    /// assert!(Address::parse("smh://x").is_err());
    /// ```
    pub fn parse(text: &str) -> Result<Address> {
        let bad = |part: &str, reason: &'static str| Error::InvalidAddress {
            address: text.to_string(),
            part: part.to_string(),
            reason,
        };
        let (scheme, rest) = text
            .split_once("://")
            .ok_or_else(|| bad(text, "missing \"SCHEME://\" (e.g. shm://NAME)"))?;
        let transport = Transport::from_scheme(scheme).ok_or_else(|| {
            bad(
                scheme,
                "unknown scheme (expected shm, pipe, fifo, mq, unix, tcp or nats)",
            )
        })?;
        let (target, query) = match rest.split_once('?') {
            Some((t, q)) => (t, Some(q)),
            None => (rest, None),
        };
        check_target(transport, target).map_err(|(part, reason)| bad(part.unwrap_or(text), reason))?;
        let (options, perm_given, params) =
            parse_query(transport, query).map_err(|(part, reason)| bad(part, reason))?;
        Ok(Address {
            transport,
            target: target.to_string(),
            options,
            perm_given,
            params,
        })
    }

    internal_fn! {
        /// What a fallback transport's open needs of this address (an `OpenSpec`). Public only
        /// in the test build, for the tests that drive a transport directly.
        fn open_spec(&self, create: bool, excl: bool) -> OpenSpec<'_> {
            OpenSpec {
                scheme: self.transport.scheme(),
                target: &self.target,
                options: &self.options,
                create,
                excl,
                params: &self.params,
            }
        }
    }

    /// The mechanism.
    ///
    /// # Examples
    ///
    /// ```
    /// use ipcring::address::{Address, Transport};
    /// assert_eq!(Address::parse("tcp://127.0.0.1:9000")?.transport(), Transport::Tcp);
    /// # Ok::<(), ipcring::Error>(())
    /// ```
    pub fn transport(&self) -> Transport {
        self.transport
    }

    /// The name, path or `HOST:PORT`; empty for an anonymous channel.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(ipcring::address::Address::parse("fifo:///tmp/f")?.target(), "/tmp/f");
    /// # Ok::<(), ipcring::Error>(())
    /// ```
    pub fn target(&self) -> &str {
        &self.target
    }

    /// The creation options of the query string (unset ones left unset).
    ///
    /// # Examples
    ///
    /// ```
    /// let a = ipcring::address::Address::parse("shm://x?msg_size=64")?;
    /// assert_eq!(a.options().validate()?.msg_size, 64);
    /// # Ok::<(), ipcring::Error>(())
    /// ```
    pub fn options(&self) -> &RingOptions {
        &self.options
    }

    /// Whether the query string set `perm`.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(ipcring::address::Address::parse("shm://x?perm=0640")?.perm_given());
    /// # Ok::<(), ipcring::Error>(())
    /// ```
    pub fn perm_given(&self) -> bool {
        self.perm_given
    }
}

/// A part of an address that is wrong (`None`: the whole address), and why.
type Bad<'a> = (Option<&'a str>, &'static str);

/// Checks the target's shape for `transport` (a name, an absolute path, `HOST:PORT`).
fn check_target(transport: Transport, target: &str) -> std::result::Result<(), Bad<'_>> {
    match transport {
        Transport::Shm | Transport::Mq => {
            if transport == Transport::Mq && target.is_empty() {
                return Err((None, "mq:// needs a queue name"));
            }
            if !target.is_empty() && region::validate_name(target).is_err() {
                return Err((
                    Some(target),
                    "not a valid name (1-240 bytes, no '/', not . or .., not ending in .bell-rx or .bell-tx)",
                ));
            }
        }
        Transport::Pipe if !target.is_empty() => return Err((Some(target), "pipe:// takes no name (it is anonymous)")),
        Transport::Pipe => {}
        Transport::Fifo | Transport::Unix => {
            if !target.starts_with('/') || target.len() < 2 {
                return Err((Some(target), "needs an absolute path (fifo:///path, unix:///path)"));
            }
            if target.contains('\0') {
                return Err((Some(target), "path contains a NUL byte"));
            }
        }
        Transport::Nats => {
            let (server, name) = target.split_once('/').ok_or((Some(target), "needs HOST:PORT/NAME"))?;
            let (host, port) = server.rsplit_once(':').ok_or((Some(server), "needs HOST:PORT"))?;
            if host.is_empty() {
                return Err((Some(server), "empty host"));
            }
            port.parse::<u16>()
                .map_err(|_| (Some(port), "port is not a number in 0..=65535"))?;
            if name.is_empty()
                || name.len() > 64
                || !name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
            {
                return Err((Some(name), "channel name must be 1-64 of A-Z a-z 0-9 _ -"));
            }
        }
        Transport::Tcp => {
            let (host, port) = target.rsplit_once(':').ok_or((Some(target), "needs HOST:PORT"))?;
            if host.is_empty() {
                return Err((Some(target), "empty host"));
            }
            port.parse::<u16>()
                .map_err(|_| (Some(port), "port is not a number in 0..=65535"))?;
        }
    }
    Ok(())
}

/// What a query string gives: the options, whether `perm` was given, the engine's options.
type Query = (RingOptions, bool, Vec<(&'static str, u64)>);

/// Parses the query string into options (and whether `perm` was given), then checks their
/// ranges, reporting a range error against the option as written.
fn parse_query(transport: Transport, query: Option<&str>) -> std::result::Result<Query, (&str, &'static str)> {
    let pairs = || query.into_iter().flat_map(|q| q.split('&'));
    let mut options = RingOptions::new();
    let mut perm_given = false;
    let mut seen: Vec<&str> = Vec::new();
    let mut params = Vec::new();
    for pair in pairs() {
        let (key, value) = pair.split_once('=').ok_or((pair, "option without \"=VALUE\""))?;
        if seen.contains(&key) {
            return Err((pair, "option given twice"));
        }
        seen.push(key);
        if let Some(k) = ["ack_wait", "dup_window"].into_iter().find(|k| *k == key) {
            if transport != Transport::Nats {
                return Err((pair, "option applies to nats:// only"));
            }
            let secs = value
                .parse::<u64>()
                .ok()
                .filter(|v| (1..=86_400).contains(v))
                .ok_or((pair, "value must be whole seconds in 1..=86400"))?;
            params.push((k, secs));
            continue;
        }
        perm_given |= key == "perm";
        options = parse_option(options, key, value).map_err(|reason| (pair, reason))?;
    }
    // Range errors (capacity 0, bytes not a multiple of 8, ...) are reported against the
    // address. The ring's capacity rule (at most 2^24) is the ring's: another transport with
    // a capacity (mq://) takes any count from 1 and lets the kernel set the limit. Only a ring
    // is sized in bytes.
    if transport != Transport::Shm && options.bytes_given().is_some() {
        let part = pairs()
            .find(|p| p.split('=').next() == Some("bytes"))
            .unwrap_or("bytes");
        return Err((part, "bytes sizes shm:// rings only"));
    }
    let check = match options.capacity_given() {
        Some(c) if transport != Transport::Shm && c >= 1 => options.clone().capacity(RingOptions::DEFAULT_CAPACITY),
        _ => options.clone(),
    };
    if let Err(Error::InvalidOption { option, reason, .. }) = check.validate() {
        let part = pairs().find(|p| p.split('=').next() == Some(option)).unwrap_or(option);
        return Err((part, reason));
    }
    Ok((options, perm_given, params))
}

/// Applies one `key=value` option; the reason when either is wrong.
fn parse_option(options: RingOptions, key: &str, value: &str) -> std::result::Result<RingOptions, &'static str> {
    let number = || value.parse::<u64>().map_err(|_| "value is not a decimal number");
    Ok(match key {
        "capacity" => options.capacity(number()?),
        "bytes" => options.bytes(number()?),
        "msg_size" => options.msg_size(number()?),
        "mode" => options.kind(match value {
            "spsc" => Kind::Spsc,
            "mpmc" => Kind::Mpmc,
            _ => return Err("mode must be spsc or mpmc"),
        }),
        "wake" => options.wake(match value {
            "futex" => WakeBackend::Futex,
            "sem" => WakeBackend::Sem,
            _ => return Err("wake must be futex or sem"),
        }),
        "fence" => options.fence(match value {
            "asymmetric" => FenceMode::Asymmetric,
            "full" => FenceMode::Full,
            _ => return Err("fence must be asymmetric or full"),
        }),
        "spin" => options.spin(match value {
            "on" => true,
            "off" => false,
            _ => return Err("spin must be on or off"),
        }),
        "perm" => {
            let mode = u32::from_str_radix(value, 8)
                .ok()
                .filter(|m| *m <= 0o777 && !value.is_empty())
                .ok_or("perm must be octal permission bits (0000-0777)")?;
            options.perm(mode)
        }
        _ => return Err(
            "unknown option (expected capacity, bytes, msg_size, mode, wake, fence, spin or perm; nats://: ack_wait, dup_window)",
        ),
    })
}

#[cfg(test)]
mod tests {

    #[test]
    fn open_spec_carries_the_transport_parts() {
        let a = Address::parse("mq://jobs?capacity=10").unwrap();
        let spec = a.open_spec(true, false);
        assert_eq!((spec.scheme, spec.target, spec.capacity()), ("mq", "jobs", Some(10)));
        assert!(spec.create && !spec.excl);
    }
    use super::*;

    fn part(text: &str) -> String {
        match Address::parse(text) {
            Err(Error::InvalidAddress { part, .. }) => part,
            other => panic!("{text}: expected InvalidAddress, got {other:?}"),
        }
    }

    #[test]
    fn good_addresses() {
        let a = Address::parse("shm://jobs?capacity=1024&msg_size=256&mode=mpmc&wake=sem&perm=0640").unwrap();
        let g = a.options().validate().unwrap();
        assert_eq!(
            (g.capacity, g.msg_size, g.kind, g.wake),
            (1024, 256, Kind::Mpmc, WakeBackend::Sem)
        );
        assert!(a.perm_given());
        assert_eq!(Address::parse("shm://").unwrap().target(), "");
        assert_eq!(Address::parse("pipe://").unwrap().transport(), Transport::Pipe);
        assert_eq!(Address::parse("mq://q").unwrap().target(), "q");
        assert_eq!(Address::parse("unix:///run/x.sock").unwrap().target(), "/run/x.sock");
        assert_eq!(Address::parse("tcp://[::1]:80").unwrap().target(), "[::1]:80");
        assert_eq!(
            Address::parse("shm://x?spin=off").unwrap().options().spin_given(),
            Some(false)
        );
        assert_eq!(
            Address::parse("shm://x?spin=on").unwrap().options().spin_given(),
            Some(true)
        );
        assert!(!Address::parse("shm://x?spin=off").unwrap().options().spins());
        assert!(Address::parse("shm://x").unwrap().options().spins());
    }

    #[test]
    fn each_bad_part_is_named() {
        assert_eq!(part("jobs"), "jobs");
        assert_eq!(part("shmm://jobs"), "shmm");
        assert_eq!(part("shm://a/b"), "a/b");
        assert_eq!(part("shm://x?capacity=0"), "capacity=0");
        assert_eq!(part("shm://x?bytes=12"), "bytes=12");
        assert_eq!(part("shm://x?mode=mpmc&bytes=64"), "bytes=64");
        assert_eq!(part("mq://q?bytes=64"), "bytes=64");
        assert_eq!(part("shm://x?capacity=abc"), "capacity=abc");
        assert_eq!(part("shm://x?msg_size=0"), "msg_size=0");
        assert_eq!(part("shm://x?mode=fast"), "mode=fast");
        assert_eq!(part("shm://x?wake=poll"), "wake=poll");
        assert_eq!(part("shm://x?spin=yes"), "spin=yes");
        assert_eq!(part("shm://x?perm=999"), "perm=999");
        assert_eq!(part("shm://x?perm="), "perm=");
        assert_eq!(part("shm://x?colour=red"), "colour=red");
        assert_eq!(part("shm://x?capacity"), "capacity");
        assert_eq!(part("shm://x?capacity=8&capacity=8"), "capacity=8");
        assert_eq!(part("pipe://name"), "name");
        assert_eq!(part("fifo://relative"), "relative");
        assert_eq!(part("mq://"), "mq://");
        assert_eq!(part("tcp://host"), "host");
        assert_eq!(part("tcp://host:99999"), "99999");
        assert_eq!(part("tcp://:80"), ":80");
        assert_eq!(part("mq://q?capacity=0"), "capacity=0");
    }

    #[test]
    fn mq_capacity_need_not_be_a_power_of_two() {
        let a = Address::parse("mq://q?capacity=10").unwrap();
        assert_eq!(a.options().capacity_given(), Some(10));
        // Rings take any capacity too (ABI 5), and SPSC rings a size in bytes.
        let g = Address::parse("shm://x?capacity=10")
            .unwrap()
            .options()
            .validate()
            .unwrap();
        assert_eq!(g.capacity, 10);
        let g = Address::parse("shm://x?mode=mpmc&capacity=10")
            .unwrap()
            .options()
            .validate()
            .unwrap();
        assert_eq!(g.capacity, 10);
        let g = Address::parse("shm://x?msg_size=1048576&bytes=1048576")
            .unwrap()
            .options()
            .validate()
            .unwrap();
        assert_eq!((g.capacity, g.bytes, g.msg_size), (0, 1 << 20, 1 << 20));
    }

    #[test]
    fn every_scheme_parses_with_its_target() {
        for (text, t, target) in [
            ("shm://jobs", Transport::Shm, "jobs"),
            ("pipe://", Transport::Pipe, ""),
            ("fifo:///tmp/x", Transport::Fifo, "/tmp/x"),
            ("mq://q", Transport::Mq, "q"),
            ("unix:///run/s.sock", Transport::Unix, "/run/s.sock"),
            ("tcp://127.0.0.1:9000", Transport::Tcp, "127.0.0.1:9000"),
        ] {
            let a = Address::parse(text).unwrap();
            assert_eq!((a.transport(), a.target()), (t, target), "{text}");
        }
    }
}
