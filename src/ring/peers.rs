//! What an end last learned about the other side's endpoints: whether every peer that
//! concerns it is gone, and whether one of them died.
//!
//! Endings describe the present, for each endpoint (the README's "Semantics"): a peer
//! concerns an end if it was alive when the end attached, attached after it (the header's
//! per-role attach counter moved since the end's snapshot, even if the end never saw it
//! alive), or, for a receiver, left messages that the receiver found queued at its attach. So
//! a ring left by an earlier run neither ends a new receiver's stream at once nor disconnects
//! a new sender: they wait for a peer, like a FIFO's ends. A sender that attaches to a full
//! ring whose receivers have all gone is the exception: nobody will make room unless a
//! receiver comes, so it is `Disconnected` unless one does.

use super::Shared;
use crate::endpoint::{self, Marks, Role};
use crate::error::{Error, Result};
use crate::sync::MODEL;
use crate::timeout::park_slice;
use crate::wait::Phase;
use std::time::Instant;

/// What this endpoint last learned about the other side's endpoints.
#[derive(Debug)]
pub(super) struct PeerCache {
    peer: Role,
    pub(super) epoch: u32,
    checked: Option<Instant>,
    pub(super) gone: bool,
    polls: u32,
    /// The peer role's counters at this end's attach.
    marks: Marks,
    /// A peer concerns this end (see the module docs); once set, it stays.
    concerned: bool,
    /// A sender that attached to a full ring whose receivers had all gone.
    orphan_full: bool,
    /// With `gone`: a peer died (without closing) since this end attached.
    died: bool,
}

impl PeerCache {
    /// The cache of an end that has just attached: snapshots the peer role's counters and
    /// whether a peer is alive now (for a receiver: or has left messages queued).
    pub(super) fn new(shared: &Shared, peer: Role) -> Result<Self> {
        let attached = endpoint::marks(&shared.raw, peer).attached;
        // The scan counts deaths that happened before this end came, so that the death
        // counter's snapshot below includes them.
        let alive = endpoint::any_alive(&shared.raw, shared.lock_fd(), peer)?;
        let died = endpoint::marks(&shared.raw, peer).died;
        let queued = shared.queued();
        let concerned = alive || (peer == Role::Sender && queued > 0);
        let orphan_full = peer == Role::Receiver
            && !alive
            && endpoint::ever_attached(&shared.raw, Role::Receiver)
            && !shared.has_room();
        Ok(PeerCache {
            peer,
            epoch: endpoint::epoch(&shared.raw),
            checked: None,
            gone: false,
            polls: 0,
            marks: Marks { attached, died },
            concerned,
            orphan_full,
            died: false,
        })
    }

    /// The error for this end once `gone` is true: a sender's `Disconnected` (or
    /// `ReceiverDied`), a receiver's `EndOfStream` (or `SenderDied`).
    pub(super) fn ending(&self) -> Error {
        match (self.peer, self.died) {
            (Role::Sender, false) => Error::EndOfStream,
            (Role::Sender, true) => Error::SenderDied,
            (Role::Receiver, false) => Error::Disconnected,
            (Role::Receiver, true) => Error::ReceiverDied,
        }
    }

    /// Makes the next [`gone`](Self::gone) count again, whatever its age (a peer's process
    /// was seen to exit).
    pub(super) fn forget(&mut self) {
        self.checked = None;
    }

    /// Whether a call that does not sleep may take the cached "not gone" as it is, with no
    /// more than a load of the epoch: the epoch has not moved since the last count, that
    /// count found a peer, and this is not a call on which [`gone`](Self::gone) would read
    /// the clock (every 64th). `false` means: ask `gone` (which then counts this call).
    #[inline]
    pub(super) fn quiet(&mut self, shared: &Shared) -> bool {
        if self.gone || self.checked.is_none() || endpoint::epoch(&shared.raw) != self.epoch {
            return false;
        }
        if self.polls.wrapping_add(1) % 64 == 0 {
            return false;
        }
        self.polls = self.polls.wrapping_add(1);
        true
    }

    /// Whether every peer that concerns this end is gone (at least one concerned it, none
    /// is alive now). Recounts when the attach/close epoch moved; otherwise, because a death
    /// does not move the epoch, when the last count is older than half a park slice. The age
    /// is checked before every sleep, and only every 64th time by calls that do not sleep: a
    /// clock read costs as much as a send.
    pub(super) fn gone(&mut self, shared: &Shared, phase: Phase) -> Result<bool> {
        let epoch = endpoint::epoch(&shared.raw);
        if epoch == self.epoch && self.checked.is_some() {
            if phase != Phase::Park {
                self.polls = self.polls.wrapping_add(1);
                if self.polls % 64 != 0 {
                    return Ok(self.gone);
                }
            }
            // Under the model checker real time must not steer an execution (loom replays
            // them): a death is modelled by a drop, which moves the epoch.
            if MODEL || self.checked.is_some_and(|t| t.elapsed() < park_slice() / 2) {
                return Ok(self.gone);
            }
        }
        // The attach counter before the scan: a peer that attaches after the scan moves the
        // epoch, so the next call recounts.
        let attached = endpoint::marks(&shared.raw, self.peer).attached;
        let alive = endpoint::any_alive(&shared.raw, shared.lock_fd(), self.peer)?;
        let came = attached != self.marks.attached && crate::sync::orderings::PEERS_ATTACH_COUNTER;
        self.concerned |= alive || came;
        self.gone = (self.concerned || self.orphan_full) && !alive;
        if self.gone {
            // After the scan, which counted the deaths it found.
            self.died = endpoint::marks(&shared.raw, self.peer).died != self.marks.died;
        }
        self.epoch = epoch;
        self.checked = Some(Instant::now());
        Ok(self.gone)
    }
}
