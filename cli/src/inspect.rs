//! `ls`, `stat` and `rm`: what `ipcs` and `ipcrm` are for System V objects, for rings.
//!
//! `ls` and `stat` only read (`ipcring::inspect`: no attach, no mapping, no lock taken);
//! endpoints are *alive* when the kernel says their lock is held, and *stale* when their
//! entry names a sender or receiver whose lock is free (it died, or closed). `rm` is
//! `ipcring::remove`: it refuses rings with live endpoints (or a live creator) unless
//! `--force`, and removes stale rings and dead creators' leftovers.

use crate::{exit, CmdResult, Fail};
use clap::Args;
use ipcring::address::{Address, Transport};
use ipcring::inspect::{self, EndpointRole, Listed, RingInfo, State};
use ipcring::{Error, Kind};
use serde_json::{json, Value};
use std::io::Write;

/// `ipcring ls`.
#[derive(Args, Debug)]
#[command(
    after_help = "Columns: NAME, KIND (spsc or mpmc), CAP (slots), MSG (largest message in bytes), \
                  FILL (messages queued / capacity), SENDERS and RECEIVERS (live endpoints, \
                  '+N stale' for entries whose holder died or closed), STATE: ready, idle-stale (no \
                  live endpoint, some stale: `rm` removes it), initialising (a live creator is at \
                  work), creator-died (its creator died before finishing: `rm` removes it), \
                  poisoned, abi-mismatch / layout-mismatch (made by another version or target), \
                  corrupt: REASON.\n\
                  Liveness is what the kernel says (the endpoints' OFD locks), never a PID."
)]
pub struct LsArgs {
    /// Also list the objects in /dev/shm that are not rings (or cannot be read).
    #[arg(long, short)]
    pub all: bool,
    /// Print a JSON array (one object per ring) instead of the table.
    #[arg(long)]
    pub json: bool,
}

/// `ipcring stat`.
#[derive(Args, Debug)]
#[command(
    after_help = "ADDRESS is shm://NAME or a bare NAME. Options after '?' (capacity=...) are \
                  checked for syntax and otherwise ignored: stat only reads. Exit codes: 0 a usable \
                  ring (ready, or a live creator still initialising it), 3 no such object, 5 a \
                  ring that cannot be used (creator died, poisoned, corrupt, another ABI) or not \
                  a ring at all (what is known is printed first), 2 not a shm:// address."
)]
pub struct StatArgs {
    /// The ring: shm://NAME or NAME.
    pub address: String,
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
}

/// `ipcring rm`.
#[derive(Args, Debug)]
#[command(
    after_help = "ADDRESS is any named channel: shm://NAME (or a bare NAME), fifo:///PATH, \
                  mq://NAME, unix:///PATH. Every address is tried; the exit code is the first \
                  failure's: 4 in use (live endpoints, or a live creator initialising it; \
                  --force removes it anyway, and processes that have it open keep using it), \
                  3 not found, 5 not a ring, 2 bad address."
)]
pub struct RmArgs {
    /// Remove even objects in use (or not rings at all).
    #[arg(long, short)]
    pub force: bool,
    /// What to remove.
    #[arg(required = true, value_name = "ADDRESS")]
    pub addresses: Vec<String>,
}

/// Writes `text` to stdout in one go. A reader that went away (`ipcring ls | head`) is not
/// an error; Rust ignores SIGPIPE, so this is where EPIPE ends up.
fn emit(text: &str) -> CmdResult {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(Fail::new(exit::FAILED, format!("stdout: {e}"))),
    }
}

/// The short word for why a ring cannot be used.
fn invalid_label(e: &Error) -> String {
    match e {
        Error::AbiMismatch { expected, found } => format!("abi-mismatch (ABI {found}, ours {expected})"),
        Error::LayoutMismatch { .. } => "layout-mismatch (another target or build)".to_string(),
        Error::SizeMismatch { expected, actual } => {
            format!("corrupt: object is {actual} bytes, its header implies {expected}")
        }
        Error::Corrupted { what } => format!("corrupt: {what}"),
        other => format!("corrupt: {other}"),
    }
}

/// The STATE column.
fn state_label(info: &RingInfo) -> String {
    match &info.state {
        State::Ready => {
            let poisoned = info.counters.as_ref().is_some_and(|c| c.poisoned);
            let live = info.endpoints.iter().any(|e| e.alive);
            let stale = info.endpoints.iter().any(|e| e.stale());
            if poisoned {
                "poisoned".to_string()
            } else if !live && stale {
                "idle-stale".to_string()
            } else {
                "ready".to_string()
            }
        }
        State::Initialising => "initialising".to_string(),
        State::CreatorDied => "creator-died".to_string(),
        State::Invalid(e) => invalid_label(e),
        _ => "unknown".to_string(),
    }
}

/// `1` or `1 (+2 stale)`.
fn endpoints_cell(info: &RingInfo, role: EndpointRole) -> String {
    let (live, stale) = (info.live(role), info.stale(role));
    if stale > 0 {
        format!("{live} (+{stale} stale)")
    } else {
        live.to_string()
    }
}

/// FILL: messages queued over the bound on them (`ls`); an SPSC ring without a capacity
/// shows its bytes in use instead, as a share of its bytes.
fn fill_cell(info: &RingInfo) -> String {
    let c = info.counters.as_ref();
    match (info.geometry, c.and_then(|c| c.fill), c.and_then(|c| c.fill_bytes)) {
        (Some(g), _, Some(b)) if g.kind == Kind::Spsc && g.capacity == 0 => {
            format!("{b}/{} B ({}%)", g.area(), b * 100 / g.area())
        }
        (Some(g), Some(fill), _) if g.capacity > 0 => format!("{fill}/{} ({}%)", g.capacity, fill * 100 / g.capacity),
        _ => "-".to_string(),
    }
}

fn state_word(s: &State) -> &'static str {
    match s {
        State::Ready => "ready",
        State::Initialising => "initialising",
        State::CreatorDied => "creator-died",
        State::Invalid(_) => "invalid",
        _ => "unknown",
    }
}

/// The JSON form of a ring (`stat --json`, one element of `ls --json`).
fn info_json(info: &RingInfo) -> Value {
    let g = info.geometry;
    let c = info.counters.as_ref();
    let bell = |b: Option<ipcring::inspect::BellInfo>| {
        b.map(|b| json!({"seq": b.seq, "waiters": b.waiters, "fd_waiters": b.fd_waiters}))
    };
    let side = |role| json!({"live": info.live(role), "stale": info.stale(role)});
    let endpoints: Vec<Value> = info
        .endpoints
        .iter()
        .map(|e| {
            json!({
                "index": e.index,
                "role": e.role.name(),
                "pid": e.pid,
                "generation": e.generation,
                "alive": e.alive,
                "stale": e.stale(),
                "claim": e.claim.map(|(lo, hi)| json!([lo, hi])),
            })
        })
        .collect();
    json!({
        "name": info.name,
        "address": format!("shm://{}", info.name),
        "ring": true,
        "state": state_word(&info.state),
        "label": state_label(info),
        "error": match &info.state { State::Invalid(e) => Some(e.to_string()), _ => None },
        "kind": g.map(|g| g.kind.name()),
        "wake": g.map(|g| g.wake.name()),
        "fence": g.map(|g| g.fence.name()),
        "capacity": g.map(|g| (g.capacity > 0).then_some(g.capacity)),
        "bytes": g.map(|g| g.bytes),
        "msg_size": g.map(|g| g.msg_size),
        "slot_size": g.map(|g| g.slot_size),
        "region_size": g.map(|g| g.region_size),
        "size": info.size,
        "mode": format!("{:04o}", info.mode),
        "uid": info.uid,
        "creator_pid": info.creator_pid,
        "tail": c.map(|c| c.tail),
        "head": c.map(|c| c.head),
        "sent": c.and_then(|c| c.counts).map(|c| c.0),
        "received": c.and_then(|c| c.counts).map(|c| c.1),
        "fill": c.and_then(|c| c.fill),
        "fill_bytes": c.and_then(|c| c.fill_bytes),
        "poisoned": c.map(|c| c.poisoned),
        "epoch": c.map(|c| c.epoch),
        "ever_sender": c.map(|c| c.ever_sender),
        "ever_receiver": c.map(|c| c.ever_receiver),
        "data_bell": bell(c.map(|c| c.data_bell)),
        "space_bell": bell(c.map(|c| c.space_bell)),
        "senders": side(EndpointRole::Sender),
        "receivers": side(EndpointRole::Receiver),
        "endpoints": endpoints,
        "doorbells": info.doorbells.iter().map(|p| p.display().to_string()).collect::<Vec<_>>(),
    })
}

/// The JSON form of an object that is not a (readable) ring.
fn other_json(name: &str, e: &Error) -> Value {
    json!({"name": name, "ring": false, "error": e.to_string()})
}

/// Lays out rows (the first is the header) in left-aligned columns two spaces apart.
fn table(rows: &[Vec<String>]) -> String {
    let cols = rows.iter().map(Vec::len).max().unwrap_or(0);
    let mut width = vec![0; cols];
    for r in rows {
        for (i, cell) in r.iter().enumerate() {
            width[i] = width[i].max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for r in rows {
        let mut line = String::new();
        for (i, cell) in r.iter().enumerate() {
            if i + 1 == r.len() {
                line.push_str(cell);
            } else {
                line.push_str(&format!("{cell:<w$}  ", w = width[i]));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// Whether `ls` without `--all` shows an object `inspect` could not describe: only if it may
/// be a ring (an I/O error on an object we can read); foreign, unreadable and badly named
/// objects need `--all`.
fn shown_without_all(e: &Error) -> bool {
    !matches!(
        e,
        Error::NotARing { .. } | Error::PermissionDenied { .. } | Error::InvalidName { .. }
    )
}

/// Lists the rings.
pub fn ls(a: &LsArgs) -> CmdResult {
    let listed = inspect::list().map_err(|e| Fail::lib("/dev/shm", e))?;
    let shown: Vec<&Listed> = listed
        .iter()
        .filter(|l| match &l.info {
            Ok(_) => true,
            Err(e) => a.all || shown_without_all(e),
        })
        .collect();
    if a.json {
        let v: Vec<Value> = shown
            .iter()
            .map(|l| match &l.info {
                Ok(info) => info_json(info),
                Err(e) => other_json(&l.name, e),
            })
            .collect();
        let text = serde_json::to_string_pretty(&v).expect("JSON values serialise");
        return emit(&format!("{text}\n"));
    }
    let mut rows = vec![["NAME", "KIND", "CAP", "MSG", "FILL", "SENDERS", "RECEIVERS", "STATE"]
        .map(String::from)
        .to_vec()];
    for l in shown {
        let row = match &l.info {
            Ok(info) => {
                let g = info.geometry;
                vec![
                    l.name.clone(),
                    g.map_or("-".into(), |g| g.kind.name().into()),
                    g.map_or("-".into(), |g| g.capacity.to_string()),
                    g.map_or("-".into(), |g| g.msg_size.to_string()),
                    fill_cell(info),
                    endpoints_cell(info, EndpointRole::Sender),
                    endpoints_cell(info, EndpointRole::Receiver),
                    state_label(info),
                ]
            }
            Err(e) => {
                let state = match e {
                    Error::NotARing { reason } => format!("not a ring: {reason}"),
                    Error::PermissionDenied { .. } => "unreadable: permission denied".to_string(),
                    Error::InvalidName { reason, .. } => format!("not a ring name: {reason}"),
                    other => format!("error: {other}"),
                };
                let mut row = vec![l.name.clone()];
                row.extend(std::iter::repeat("-".to_string()).take(6));
                row.push(state);
                row
            }
        };
        rows.push(row);
    }
    emit(&table(&rows))
}

/// The ring name an address names for `stat`: `shm://NAME[?options]` or a bare `NAME`.
fn stat_target(arg: &str) -> Result<String, Fail> {
    if !arg.contains("://") {
        ipcring::inspect::validate_name(arg).map_err(|e| Fail::lib(arg, e))?;
        return Ok(arg.trim_start_matches('/').to_string());
    }
    let addr = Address::parse(arg).map_err(|e| Fail::lib(arg, e))?;
    match addr.transport() {
        Transport::Shm if !addr.target().is_empty() => Ok(addr.target().trim_start_matches('/').to_string()),
        Transport::Shm => Err(Fail::new(
            exit::USAGE,
            format!("{arg}: names no ring (an anonymous ring has no name to inspect)"),
        )),
        Transport::Mq => Err(Fail::new(
            exit::USAGE,
            format!(
                "{arg}: stat inspects shm:// rings; this is a POSIX message queue (the kernel's \
                 counters for it are in /dev/mqueue/{})",
                addr.target().trim_start_matches('/')
            ),
        )),
        t => Err(Fail::new(
            exit::USAGE,
            format!("{arg}: stat inspects shm:// rings, not {}:// channels", t.scheme()),
        )),
    }
}

/// The `stat` text of a ring.
fn stat_text(info: &RingInfo) -> String {
    let mut rows: Vec<(&str, String)> = vec![("ring", format!("shm://{}", info.name)), ("state", state_label(info))];
    if let State::Invalid(e) = &info.state {
        rows.push(("error", e.to_string()));
    }
    match info.geometry {
        Some(g) => {
            rows.push(("kind", format!("{} (wake-ups: {})", g.kind.name(), g.wake.name())));
            rows.push((
                "fences",
                match g.fence {
                    ipcring::FenceMode::Asymmetric => {
                        "asymmetric (waiters pay membarrier; no fence per message)".into()
                    }
                    _ => format!("{} (a SeqCst fence per message and per wait)", g.fence.name()),
                },
            ));
            match g.kind {
                Kind::Mpmc => {
                    rows.push(("capacity", format!("{} slots", g.capacity)));
                    rows.push(("msg_size", format!("{} bytes (slot {} bytes)", g.msg_size, g.slot_size)));
                }
                _ => {
                    rows.push((
                        "bytes",
                        format!("{} (data area {} bytes of packed records)", g.bytes, g.area()),
                    ));
                    rows.push((
                        "capacity",
                        if g.capacity == 0 {
                            "no bound on messages but the bytes".to_string()
                        } else {
                            format!("{} messages at most", g.capacity)
                        },
                    ));
                    rows.push((
                        "msg_size",
                        format!("{} bytes (record of {} bytes at most)", g.msg_size, g.slot_size),
                    ));
                }
            }
            rows.push((
                "region",
                format!("{} bytes (object {} bytes)", g.region_size, info.size),
            ));
        }
        None => rows.push((
            "object",
            format!("{} bytes (header not valid: geometry unknown)", info.size),
        )),
    }
    rows.push(("owner", format!("uid {}, mode {:04o}", info.uid, info.mode)));
    if let Some(pid) = info.creator_pid {
        rows.push(("creator pid", format!("{pid} (as recorded; informational)")));
    }
    if let Some(c) = &info.counters {
        let mpmc = info.geometry.is_some_and(|g| g.kind == Kind::Mpmc);
        let claimed = if mpmc { ", claimed" } else { "" };
        match c.counts {
            Some((sent, received)) => {
                // The cursor words: the offset in bytes below bit 37, the count's low bits above.
                let at = |word: u64| word & ((1 << 37) - 1);
                rows.push(("tail", format!("{} messages sent (at byte {})", sent, at(c.tail))));
                rows.push((
                    "head",
                    format!("{} messages received (at byte {})", received, at(c.head)),
                ));
            }
            None => {
                rows.push(("tail", format!("{} (messages sent{claimed})", c.tail)));
                rows.push(("head", format!("{} (messages received{claimed})", c.head)));
            }
        }
        rows.push((
            "records",
            c.fill.map_or("-".to_string(), |n| format!("{n} messages queued")),
        ));
        if let (Some(g), Some(b)) = (info.geometry, c.fill_bytes) {
            let area = if g.kind == Kind::Mpmc { g.bytes } else { g.area() };
            rows.push((
                "fill bytes",
                format!("{b} of {area} bytes ({}%)", b * 100 / area.max(1)),
            ));
        }
        rows.push(("fill", fill_cell(info)));
        rows.push(("poisoned", if c.poisoned { "YES" } else { "no" }.to_string()));
        rows.push(("epoch", format!("{} (attaches + closes)", c.epoch)));
        rows.push((
            "ever attached",
            format!(
                "sender {}, receiver {}",
                if c.ever_sender { "yes" } else { "no" },
                if c.ever_receiver { "yes" } else { "no" }
            ),
        ));
        rows.push((
            "data bell",
            format!(
                "seq {}, {} waiting, {} on descriptors (receivers park here)",
                c.data_bell.seq, c.data_bell.waiters, c.data_bell.fd_waiters
            ),
        ));
        rows.push((
            "space bell",
            format!(
                "seq {}, {} waiting, {} on descriptors (senders park here)",
                c.space_bell.seq, c.space_bell.waiters, c.space_bell.fd_waiters
            ),
        ));
    }
    for (label, role) in [("senders", EndpointRole::Sender), ("receivers", EndpointRole::Receiver)] {
        rows.push((label, format!("{} live, {} stale", info.live(role), info.stale(role))));
    }
    rows.push((
        "doorbells",
        if info.doorbells.is_empty() {
            "none (made when a process maps the ring)".to_string()
        } else {
            info.doorbells
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        },
    ));
    let w = rows.iter().map(|(l, _)| l.len()).max().unwrap_or(0);
    let mut out: String = rows.iter().map(|(l, v)| format!("{l:<w$}  {v}\n")).collect();
    if info.endpoints.is_empty() {
        out.push_str("endpoints: none\n");
    } else {
        out.push_str("endpoints:\n");
        let mut t = vec![["INDEX", "ROLE", "PID", "GEN", "STATUS", "CLAIM"]
            .map(String::from)
            .to_vec()];
        for e in &info.endpoints {
            let status = if e.alive {
                "alive"
            } else if e.stale() {
                "stale"
            } else {
                "free"
            };
            t.push(vec![
                e.index.to_string(),
                e.role.name().to_string(),
                e.pid.to_string(),
                e.generation.to_string(),
                status.to_string(),
                e.claim.map_or("-".to_string(), |(lo, hi)| format!("[{lo}, {hi})")),
            ]);
        }
        for line in table(&t).lines() {
            out.push_str("  ");
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

/// Shows one ring.
pub fn stat(a: &StatArgs) -> CmdResult {
    let name = stat_target(&a.address)?;
    let addr = format!("shm://{name}");
    let info = match inspect::inspect(&name) {
        Ok(info) => info,
        Err(e @ Error::NotARing { .. }) => {
            // Say what is known about the object before failing.
            if a.json {
                emit(&format!(
                    "{}\n",
                    serde_json::to_string_pretty(&other_json(&name, &e)).expect("JSON")
                ))?;
            } else {
                let path = std::path::Path::new(ipcring::inspect::SHM_DIR).join(&name);
                let why = match &e {
                    Error::NotARing { reason } => reason,
                    _ => "not an ipcring region",
                };
                let mut text = format!("object  {}\nstate   not a ring: {why}\n", path.display());
                if let Ok(m) = std::fs::symlink_metadata(&path) {
                    use std::os::unix::fs::MetadataExt;
                    text.push_str(&format!(
                        "size    {} bytes\nowner   uid {}, mode {:04o}\n",
                        m.len(),
                        m.uid(),
                        m.mode() & 0o7777
                    ));
                }
                emit(&text)?;
            }
            return Err(Fail::lib(&addr, e));
        }
        Err(e) => return Err(Fail::lib(&addr, e)),
    };
    if a.json {
        let text = serde_json::to_string_pretty(&info_json(&info)).expect("JSON values serialise");
        emit(&format!("{text}\n"))?;
    } else {
        emit(&stat_text(&info))?;
    }
    match info.state {
        State::Invalid(e) => Err(Fail::lib(&addr, e)),
        State::CreatorDied => Err(Fail::lib(&addr, Error::CreatorDied)),
        _ if info.counters.as_ref().is_some_and(|c| c.poisoned) => Err(Fail::new(
            exit::BAD_OBJECT,
            format!("{addr}: poisoned: a process found the ring corrupted"),
        )),
        _ => Ok(()),
    }
}

/// The message for a ring `rm` refused.
fn in_use(addr: &str, endpoints: u32, initialising: bool) -> Fail {
    let mut why = Vec::new();
    if endpoints > 0 {
        let s = if endpoints == 1 { "" } else { "s" };
        why.push(format!("{endpoints} live endpoint{s}"));
    }
    if initialising {
        why.push("a creator still initialising it".to_string());
    }
    Fail::new(
        exit::IN_USE,
        format!("{addr}: in use by {}; not removed (use --force)", why.join(" and ")),
    )
}

/// Removes rings.
pub fn rm(a: &RmArgs) -> CmdResult {
    let mut failures: Vec<Fail> = Vec::new();
    for arg in &a.addresses {
        let addr = if arg.contains("://") {
            arg.clone()
        } else {
            format!("shm://{}", arg.trim_start_matches('/'))
        };
        let fail = match ipcring::remove(&addr, a.force) {
            Ok(()) => {
                emit(&format!("removed {addr}\n"))?;
                continue;
            }
            Err(Error::InUse {
                endpoints,
                initialising,
            }) => in_use(&addr, endpoints, initialising),
            Err(e) => Fail::lib(&addr, e),
        };
        if a.addresses.len() == 1 {
            return Err(fail);
        }
        eprintln!("ipcring: {fail}");
        failures.push(fail);
    }
    match failures.first() {
        None => Ok(()),
        Some(first) => Err(Fail::new(
            first.code,
            format!("rm: {} of {} not removed", failures.len(), a.addresses.len()),
        )),
    }
}
