//! The end of a channel as a receiver decides it: the rule of the module docs ("End of
//! stream, exactly") over the senders' entries, their liveness and the stream's count.

use super::stream::{sender_ids, sender_state, Chan, SenderState};
use std::collections::HashSet;

/// How a receiver's channel ended, as its background task found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Ending {
    Clean,
    Died,
}


/// The end-of-stream rule (module docs) for a receiver whose inbox is empty after a fetch.
pub(super) async fn idle_check(ch: &Chan, seen: &mut HashSet<String>, dead: &mut HashSet<String>) -> Option<Ending> {
    let entries = sender_ids(&ch.senders, &ch.name).await?;
    let mut any_died = false;
    for id in entries.iter().chain(seen.clone().iter()) {
        if dead.contains(id) && !seen.contains(id) {
            continue;
        }
        let alive = match sender_state(&ch.client, &ch.senders, &ch.name, id).await {
            SenderState::Closed => continue, // a clean end for this one
            SenderState::Alive => true,
            SenderState::Dead => false,
        };
        if alive {
            seen.insert(id.to_string());
            return None;
        }
        dead.insert(id.to_string());
        any_died |= seen.contains(id);
    }
    if seen.is_empty() {
        return None;
    }
    // Every seen sender is gone: the end, once the stream holds nothing (all acknowledged).
    let mut s = ch.js.get_stream(ch.stream_name()).await.ok()?;
    let n = s.info().await.ok()?.state.messages;
    if n > 0 {
        return None;
    }
    Some(if any_died { Ending::Died } else { Ending::Clean })
}
