//! The end of a channel as a receiver decides it: the rule of the module docs ("End of
//! stream, exactly") over the senders' entries, their liveness and the stream's count.

use super::stream::Chan;
use futures_util::StreamExt;
use std::collections::HashSet;

/// How a receiver's channel ended, as its background task found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Ending {
    Clean,
    Died,
}


/// The end-of-stream rule (module docs) for a receiver whose inbox is empty after a fetch.
pub(super) async fn idle_check(ch: &Chan, seen: &mut HashSet<String>, dead: &mut HashSet<String>) -> Option<Ending> {
    let mut entries = Vec::new();
    let prefix = format!("ipcring.{}.senders.", ch.name);
    {
        let info = ch.senders.clone();
        let mut subjects = info.info_with_subjects(format!("{prefix}*")).await.ok()?;
        while let Some(x) = subjects.next().await {
            let (subject, _) = x.ok()?;
            if let Some(id) = subject.strip_prefix(&prefix) {
                entries.push(id.to_string());
            }
        }
    }
    let mut any_died = false;
    for id in entries.iter().chain(seen.clone().iter()) {
        if dead.contains(id) && !seen.contains(id) {
            continue;
        }
        let open = match ch.senders.get_last_raw_message_by_subject(&ch.entry_subject(id)).await {
            Ok(m) => m.payload.as_ref() == b"open",
            Err(_) => false, // gone (removed): no longer a sender to wait for
        };
        if !open {
            continue; // closed (or gone): a clean end for this one
        }
        let alive = match ch.client.request(ch.alive_subject(id), "".into()).await {
            Ok(_) => true,
            Err(e) => e.kind() != async_nats::RequestErrorKind::NoResponders,
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
