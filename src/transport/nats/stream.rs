//! The channel's objects on the server: the stream, its durable consumer and the senders'
//! stream; opening (and creating) them, and removing them.

use super::config::{
    check_name, described, describe, parse_target, senders_name, stream_name, DEFAULT_ACK_WAIT, DEFAULT_DUP_WINDOW,
    FETCH_EXPIRES, HEADER_ROOM,
};
use super::runtime::{connect, nats_err, runtime};
use futures_util::StreamExt;
use crate::error::{Error, Result};
use crate::transport::OpenSpec;
use async_nats::jetstream::{self, consumer::pull, stream};
use std::fmt;
use std::sync::Arc;
use std::time::Duration;
use tokio::runtime::Handle;

/// The connection and handles every end of one channel uses.
pub(super) struct Chan {
    pub(super) rt: Handle,
    pub(super) pid: u32,
    pub(super) client: async_nats::Client,
    pub(super) js: jetstream::Context,
    pub(super) senders: stream::Stream,
    pub(super) name: String,
    pub(super) msg_size: usize,
    pub(super) capacity: Option<u64>,
    pub(super) ack_wait: Duration,
}

impl fmt::Debug for Chan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Chan").field("name", &self.name).field("msg_size", &self.msg_size).finish()
    }
}

impl Chan {
    pub(super) fn stream_name(&self) -> String {
        stream_name(&self.name)
    }
    pub(super) fn subject(&self) -> String {
        format!("ipcring.{}", self.name)
    }
    pub(super) fn entry_subject(&self, id: &str) -> String {
        entry_subject(&self.name, id)
    }
    pub(super) fn alive_subject(&self, id: &str) -> String {
        alive_subject(&self.name, id)
    }
    pub(super) fn check_pid(&self) -> Result<()> {
        if std::process::id() != self.pid {
            return Err(Error::Unsupported {
                what: "a nats:// handle inherited across fork (open a new one in the child)",
            });
        }
        Ok(())
    }
}

/// Opens (and with `spec.create`, creates) the channel's stream, consumer and bucket.
pub(super) fn open_chan(spec: &OpenSpec) -> Result<Arc<Chan>> {
    spec.refuse_ring_options(true)?;
    let t = parse_target(spec)?;
    let rt = runtime()?;
    let want_size = spec.options().msg_size_given().map(|m| m as usize);
    let want_cap = spec.capacity();
    let ack_wait = Duration::from_secs(spec.param("ack_wait").unwrap_or(DEFAULT_ACK_WAIT));
    let dup = Duration::from_secs(spec.param("dup_window").unwrap_or(DEFAULT_DUP_WINDOW));
    let (create, excl) = (spec.create, spec.excl);
    let object = format!("nats://{}/{}", t.server, t.name);
    rt.block_on(async move {
        let client = connect(&t.server).await?;
        let js = jetstream::new(client.clone());
        let sname = stream_name(&t.name);
        let existing = match js.get_stream(&sname).await {
            Ok(mut s) => Some(s.info().await.map_err(|e| nats_err("read the stream's info", e))?.config.clone()),
            Err(e) if e.to_string().contains("not found") => None,
            Err(e) => return Err(nats_err("look up the stream", e)),
        };
        let (msg_size, capacity) = match existing {
            Some(_) if excl => return Err(Error::AlreadyExists { object }),
            Some(cfg) => {
                let (m, c) = described(cfg.description.as_deref()).ok_or(Error::NotARing {
                    reason: "a NATS stream of that name not made by ipcring",
                })?;
                if let Some(w) = want_size.filter(|w| *w != m) {
                    return Err(Error::Mismatch {
                        field: "msg_size",
                        expected: w as u64,
                        found: m as u64,
                    });
                }
                if let Some(w) = want_cap.filter(|w| *w != c) {
                    return Err(Error::Mismatch {
                        field: "capacity",
                        expected: w,
                        found: c,
                    });
                }
                (m, (c > 0).then_some(c))
            }
            None if !create => return Err(Error::NotFound { object }),
            None => {
                let m = want_size.unwrap_or(crate::options::RingOptions::DEFAULT_MSG_SIZE as usize);
                let cfg = stream::Config {
                    name: sname.clone(),
                    subjects: vec![format!("ipcring.{}", t.name)],
                    retention: stream::RetentionPolicy::WorkQueue,
                    storage: stream::StorageType::File,
                    discard: stream::DiscardPolicy::New,
                    max_messages: want_cap.map_or(-1, |c| c.min(i64::MAX as u64) as i64),
                    max_message_size: (m + HEADER_ROOM).min(i32::MAX as usize) as i32,
                    duplicate_window: dup,
                    description: Some(describe(m, want_cap)),
                    ..Default::default()
                };
                match js.create_stream(cfg).await {
                    Ok(_) => {}
                    // Another creator won the race: fine unless exclusive (checked above).
                    Err(e) if e.to_string().contains("already in use") => {}
                    Err(e) => return Err(nats_err("create the stream", e)),
                }
                (m, want_cap)
            }
        };
        let stream = js.get_stream(&sname).await.map_err(|e| nats_err("open the stream", e))?;
        let ccfg = pull::Config {
            durable_name: Some("ipcring".into()),
            ack_policy: jetstream::consumer::AckPolicy::Explicit,
            ack_wait,
            max_ack_pending: 65536,
            ..Default::default()
        };
        let got = stream.get_consumer::<pull::Config>("ipcring").await;
        let ack_wait = match got {
            Ok(mut c) => c.info().await.map(|i| i.config.ack_wait).unwrap_or(ack_wait),
            Err(_) => {
                stream
                    .get_or_create_consumer("ipcring", ccfg)
                    .await
                    .map_err(|e| nats_err("create the consumer", e))?;
                ack_wait
            }
        };
        let senders = js
            .get_or_create_stream(stream::Config {
                name: senders_name(&t.name),
                subjects: vec![format!("ipcring.{}.senders.*", t.name)],
                max_messages_per_subject: 1,
                storage: stream::StorageType::File,
                ..Default::default()
            })
            .await
            .map_err(|e| nats_err("open the senders' stream", e))?;
        Ok(Arc::new(Chan {
            rt: Handle::current(),
            pid: std::process::id(),
            client,
            js,
            senders,
            name: t.name,
            msg_size,
            capacity,
            ack_wait,
        }))
    })
}

/// `HOST:PORT` and `NAME` of a `target` (`HOST:PORT/NAME`), checked.
fn split_target(target: &str) -> Result<(String, String)> {
    let (server, name) = target.split_once('/').ok_or(Error::InvalidAddress {
        address: format!("nats://{target}"),
        part: target.to_string(),
        reason: "needs HOST:PORT/NAME",
    })?;
    check_name(name).map_err(|reason| Error::InvalidAddress {
        address: format!("nats://{target}"),
        part: name.to_string(),
        reason,
    })?;
    Ok((server.to_string(), name.to_string()))
}

/// Deletes the channel's stream (with its consumer) and bucket. `target` is `HOST:PORT/NAME`.
pub(super) fn unlink(target: &str) -> Result<()> {
    let (server, name) = split_target(target)?;
    let rt = runtime()?;
    rt.block_on(async move {
        let client = connect(&server).await?;
        let js = jetstream::new(client);
        let _ = js.delete_stream(senders_name(&name)).await;
        match js.delete_stream(stream_name(&name)).await {
            Ok(_) => Ok(()),
            Err(e) if e.to_string().contains("not found") => Err(Error::NotFound {
                object: format!("nats://{server}/{name}"),
            }),
            Err(e) => Err(nats_err("delete the stream", e)),
        }
    })
}

/// As [`unlink`], but without `force` a channel in use is refused with [`Error::InUse`]
/// (nothing removed): a live sender (its entry `open` and its connection answering, as the
/// end-of-stream rule decides) or a live receiver, which the durable consumer shows by a
/// pull request waiting (`num_waiting`: an idle receiver always has one out, renewed every
/// `FETCH_EXPIRES`) or messages delivered and not acknowledged (`num_ack_pending`: a
/// receiver with a full inbox fetches nothing). The consumer is looked at for a little
/// longer than two fetch periods, so a receiver between two pull requests is seen. A
/// receiver that died holding messages keeps the channel in use until they are redelivered
/// (`ack_wait`); `--force` removes it anyway. `endpoints` counts the live senders plus the
/// waiting pull requests (at least 1 for held messages).
pub(super) fn remove(target: &str, force: bool) -> Result<()> {
    if !force {
        in_use(target)?;
    }
    unlink(target)
}

fn in_use(target: &str) -> Result<()> {
    let (server, name) = split_target(target)?;
    let rt = runtime()?;
    let endpoints = rt.block_on(async move {
        let client = connect(&server).await?;
        let js = jetstream::new(client.clone());
        let stream = match js.get_stream(stream_name(&name)).await {
            Ok(s) => s,
            Err(e) if e.to_string().contains("not found") => {
                return Err(Error::NotFound {
                    object: format!("nats://{server}/{name}"),
                })
            }
            Err(e) => return Err(nats_err("look up the stream", e)),
        };
        let mut live = 0u32;
        if let Ok(senders) = js.get_stream(senders_name(&name)).await {
            for id in sender_ids(&senders, &name).await.unwrap_or_default() {
                if sender_state(&client, &senders, &name, &id).await == SenderState::Alive {
                    live += 1;
                }
            }
        }
        let t0 = tokio::time::Instant::now();
        let mut receivers = 0u32;
        while receivers == 0 && t0.elapsed() < FETCH_EXPIRES * 2 + Duration::from_millis(200) {
            let mut c = match stream.get_consumer::<pull::Config>("ipcring").await {
                Ok(c) => c,
                Err(_) => break, // no consumer: no receiver
            };
            let info = c.info().await.map_err(|e| nats_err("read the consumer's info", e))?;
            receivers = u32::try_from(info.num_waiting).unwrap_or(u32::MAX);
            if receivers == 0 && info.num_ack_pending > 0 {
                receivers = 1;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Ok::<_, Error>(live.saturating_add(receivers))
    })?;
    if endpoints > 0 {
        return Err(Error::InUse {
            endpoints,
            initialising: false,
        });
    }
    Ok(())
}

/// What a sender's entry and its connection say about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum SenderState {
    /// Its entry says `closed`, or it has none (removed).
    Closed,
    /// Its entry says `open` and its liveness subject answers.
    Alive,
    /// Its entry says `open` and the server says *no responders*: its connection dropped.
    Dead,
}

/// The ids of the senders that have an entry in the senders' stream `senders`.
pub(super) async fn sender_ids(senders: &stream::Stream, name: &str) -> Option<Vec<String>> {
    let prefix = format!("ipcring.{name}.senders.");
    let mut ids = Vec::new();
    let mut subjects = senders.clone().info_with_subjects(format!("{prefix}*")).await.ok()?;
    while let Some(x) = subjects.next().await {
        let (subject, _) = x.ok()?;
        if let Some(id) = subject.strip_prefix(&prefix) {
            ids.push(id.to_string());
        }
    }
    Some(ids)
}

/// Sender `id`'s state (the module docs' "dead": decided by the server).
pub(super) async fn sender_state(
    client: &async_nats::Client,
    senders: &stream::Stream,
    name: &str,
    id: &str,
) -> SenderState {
    let open = match senders.get_last_raw_message_by_subject(&entry_subject(name, id)).await {
        Ok(m) => m.payload.as_ref() == b"open",
        Err(_) => false, // gone (removed): no longer a sender to wait for
    };
    if !open {
        return SenderState::Closed;
    }
    match client.request(alive_subject(name, id), "".into()).await {
        Err(e) if e.kind() == async_nats::RequestErrorKind::NoResponders => SenderState::Dead,
        _ => SenderState::Alive,
    }
}

fn entry_subject(name: &str, id: &str) -> String {
    format!("ipcring.{name}.senders.{id}")
}

fn alive_subject(name: &str, id: &str) -> String {
    format!("_ipcring.{name}.alive.{id}")
}
