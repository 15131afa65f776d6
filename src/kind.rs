//! The public enums a ring's header stores as numbers: [`Kind`] (the algorithm),
//! [`WakeBackend`] (how blocked calls sleep) and [`FenceMode`] (who pays the sleep/wake
//! handshake's Store→Load barrier), with their numbers ([`Kind::from_raw`]) and their names
//! (`spsc`/`mpmc`, `futex`/`sem`, `asymmetric`/`full`: the words of addresses, errors and the
//! command line). A leaf: it imports nothing of the crate.

use core::fmt;
use core::str::FromStr;

/// Which algorithm a ring runs.
///
/// # Examples
///
/// ```
/// use ipcring::Kind;
/// assert_eq!(Kind::from_raw(Kind::Mpmc as u32), Some(Kind::Mpmc));
/// assert_eq!("mpmc".parse::<Kind>(), Ok(Kind::Mpmc));
/// assert_eq!(Kind::Spsc.to_string(), "spsc");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u32)]
pub enum Kind {
    /// One sender, one receiver, cached cursors (the fastest).
    Spsc = 1,
    /// Any number of senders and receivers (Vyukov's bounded queue).
    Mpmc = 2,
}

impl Kind {
    /// The kind stored as `raw` in a header, if it is one.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(ipcring::Kind::from_raw(7), None);
    /// ```
    pub fn from_raw(raw: u32) -> Option<Kind> {
        match raw {
            1 => Some(Kind::Spsc),
            2 => Some(Kind::Mpmc),
            _ => None,
        }
    }

    /// The kind's name: `"spsc"` or `"mpmc"` (as in addresses: `?mode=mpmc`).
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(ipcring::Kind::Mpmc.name(), "mpmc");
    /// ```
    pub fn name(self) -> &'static str {
        match self {
            Kind::Spsc => "spsc",
            Kind::Mpmc => "mpmc",
        }
    }
}

/// How blocked senders and receivers sleep and are woken.
///
/// # Examples
///
/// ```
/// use ipcring::WakeBackend;
/// assert_eq!(WakeBackend::default(), WakeBackend::Futex);
/// assert_eq!("sem".parse::<WakeBackend>(), Ok(WakeBackend::Sem));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[repr(u32)]
pub enum WakeBackend {
    /// A shared (never private) 32-bit futex word per side. Linux only; the default.
    #[default]
    Futex = 1,
    /// A process-shared POSIX `sem_t` per side (portable fallback).
    Sem = 2,
}

impl WakeBackend {
    /// The backend stored as `raw` in a header, if it is one.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(ipcring::WakeBackend::from_raw(2), Some(ipcring::WakeBackend::Sem));
    /// ```
    pub fn from_raw(raw: u32) -> Option<WakeBackend> {
        match raw {
            1 => Some(WakeBackend::Futex),
            2 => Some(WakeBackend::Sem),
            _ => None,
        }
    }

    /// The backend's name: `"futex"` or `"sem"` (as in addresses: `?wake=sem`).
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(ipcring::WakeBackend::Sem.name(), "sem");
    /// ```
    pub fn name(self) -> &'static str {
        match self {
            WakeBackend::Futex => "futex",
            WakeBackend::Sem => "sem",
        }
    }
}

/// Which barriers a ring's sleep/wake handshake uses (stored in its header, chosen by its
/// creator, so that every process using the ring agrees; see `wait`'s module docs).
///
/// # Examples
///
/// ```
/// use ipcring::FenceMode;
/// assert_eq!(FenceMode::from_raw(FenceMode::Full as u32), Some(FenceMode::Full));
/// assert_eq!("full".parse::<FenceMode>(), Ok(FenceMode::Full));
/// assert_eq!(FenceMode::Asymmetric.to_string(), "asymmetric");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u32)]
pub enum FenceMode {
    /// A publication pays only a compiler fence; a waiter about to sleep pays
    /// `membarrier(MEMBARRIER_CMD_GLOBAL_EXPEDITED)` after announcing itself. Every process
    /// that maps the ring must register for those barriers (Linux 4.16 or later, and no
    /// seccomp profile refusing `membarrier(2)`); one that cannot is refused at open.
    Asymmetric = 1,
    /// Symmetric full fences: a `SeqCst` fence on every publication and after every
    /// announcement (works everywhere; costs a store-buffer drain per message).
    Full = 2,
}

impl FenceMode {
    /// The mode stored as `raw` in a header, if it is one.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(ipcring::FenceMode::from_raw(0), None);
    /// ```
    pub fn from_raw(raw: u32) -> Option<FenceMode> {
        match raw {
            1 => Some(FenceMode::Asymmetric),
            2 => Some(FenceMode::Full),
            _ => None,
        }
    }

    /// The mode's name: `"asymmetric"` or `"full"` (as in addresses: `?fence=full`).
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(ipcring::FenceMode::Full.name(), "full");
    /// ```
    pub fn name(self) -> &'static str {
        match self {
            FenceMode::Asymmetric => "asymmetric",
            FenceMode::Full => "full",
        }
    }
}

impl FromStr for FenceMode {
    type Err = UnknownName;
    fn from_str(s: &str) -> Result<FenceMode, UnknownName> {
        match s {
            "asymmetric" => Ok(FenceMode::Asymmetric),
            "full" | "symmetric" => Ok(FenceMode::Full),
            _ => Err(UnknownName {
                what: "fence",
                expected: "asymmetric or full",
            }),
        }
    }
}

impl fmt::Display for FenceMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A name that is not one of [`Kind`]'s, [`WakeBackend`]'s or [`FenceMode`]'s.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownName {
    /// What the name was for: `"kind"`, `"wake"` or `"fence"`.
    pub what: &'static str,
    /// The names accepted.
    pub expected: &'static str,
}

impl fmt::Display for UnknownName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} must be {}", self.what, self.expected)
    }
}

impl std::error::Error for UnknownName {}

impl FromStr for Kind {
    type Err = UnknownName;
    fn from_str(s: &str) -> Result<Kind, UnknownName> {
        match s {
            "spsc" => Ok(Kind::Spsc),
            "mpmc" => Ok(Kind::Mpmc),
            _ => Err(UnknownName {
                what: "kind",
                expected: "spsc or mpmc",
            }),
        }
    }
}

impl FromStr for WakeBackend {
    type Err = UnknownName;
    fn from_str(s: &str) -> Result<WakeBackend, UnknownName> {
        match s {
            "futex" => Ok(WakeBackend::Futex),
            "sem" => Ok(WakeBackend::Sem),
            _ => Err(UnknownName {
                what: "wake",
                expected: "futex or sem",
            }),
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl fmt::Display for WakeBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
