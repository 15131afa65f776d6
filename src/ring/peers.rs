//! What an end last learned about the other side's endpoints: whether every peer is gone.

use super::Shared;
use crate::endpoint::{self, Role};
use crate::error::Result;
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
}

impl PeerCache {
    pub(super) fn new(peer: Role) -> Self {
        PeerCache {
            peer,
            epoch: 0,
            checked: None,
            gone: false,
            polls: 0,
        }
    }

    /// Makes the next [`gone`](Self::gone) count again, whatever its age (a peer's process
    /// was seen to exit).
    pub(super) fn forget(&mut self) {
        self.checked = None;
    }

    /// Whether every peer is gone (at least one attached once, none now). Recounts when the
    /// attach/close epoch moved; otherwise, because a death does not move the epoch, when the
    /// last count is older than half a park slice. The age is checked before every sleep, and
    /// only every 64th time by calls that do not sleep: a clock read costs as much as a send.
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
        self.gone = endpoint::ever_attached(&shared.raw, self.peer)
            && !endpoint::any_alive(&shared.raw, shared.lock_fd(), self.peer)?;
        self.epoch = epoch;
        self.checked = Some(Instant::now());
        Ok(self.gone)
    }
}
