//! The channel's objects on the server: the stream, its durable consumer and the senders'
//! stream; opening (and creating) them, and removing them.

use super::config::{
    check_name, described, describe, parse_target, senders_name, stream_name, DEFAULT_ACK_WAIT, DEFAULT_DUP_WINDOW,
    HEADER_ROOM,
};
use super::runtime::{connect, nats_err, runtime};
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
        format!("ipcring.{}.senders.{id}", self.name)
    }
    pub(super) fn alive_subject(&self, id: &str) -> String {
        format!("_ipcring.{}.alive.{id}", self.name)
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

/// Deletes the channel's stream (with its consumer) and bucket. `target` is `HOST:PORT/NAME`.
pub(super) fn unlink(target: &str) -> Result<()> {
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
    let rt = runtime()?;
    let (server, name) = (server.to_string(), name.to_string());
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

/// As [`unlink`]: the server cannot tell whether a receiver is attached (a pull consumer has
/// no members), so `force` changes nothing.
pub(super) fn remove(target: &str, _force: bool) -> Result<()> {
    unlink(target)
}
