//! One channel of any transport for a multi-process test: its address, how each end is
//! opened, and its removal on drop (`tests/conformance.rs`, `tests/kill_matrix.rs`).

use super::unique_name;
use ipcring::{Create, Receiver, Sender};

/// The transports under test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum T {
    ShmSpsc,
    ShmMpmc,
    Pipe,
    Fifo,
    Mq,
    Unix,
    Tcp,
    /// `nats://` on a server of the test's own (the `nats` feature).
    Nats,
}

/// A channel of transport `t` for one test: its address, removed on drop.
#[derive(Debug)]
pub struct Chan {
    pub t: T,
    pub addr: String,
    /// The server of a `nats://` channel (stopped after the channel is removed).
    pub server: Option<super::nats::NatsServer>,
}

impl std::fmt::Debug for super::nats::NatsServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "NatsServer({})", self.port)
    }
}

pub fn free_tcp_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    l.local_addr().unwrap().port()
}

impl Chan {
    /// A channel with the conformance suite's shape: msg_size 256, capacity 64 (8 on mq).
    pub fn new(t: T, tag: &str) -> Chan {
        Chan::sized(t, &format!("conf-{tag}"), 256, 64)
    }

    /// A channel carrying messages of up to `msg_size` bytes in `capacity` slots (rings; mq
    /// takes at most 8 here, the kernel's default limit being 10).
    pub fn sized(t: T, tag: &str, msg_size: usize, capacity: u64) -> Chan {
        let name = unique_name(tag);
        let tmp = std::env::temp_dir();
        let q = format!("msg_size={msg_size}");
        let mq_cap = capacity.min(8);
        let server = (t == T::Nats).then(super::nats::NatsServer::start);
        let addr = match t {
            T::Nats => {
                let name = name.replace(|c: char| !c.is_ascii_alphanumeric(), "_");
                let name = &name[name.len().saturating_sub(60)..];
                server.as_ref().unwrap().addr(name, &format!("capacity={capacity}&{q}"))
            }
            T::ShmSpsc => format!("shm://{name}?capacity={capacity}&{q}"),
            T::ShmMpmc => format!("shm://{name}?mode=mpmc&capacity={capacity}&{q}"),
            T::Pipe => format!("pipe://?{q}"),
            T::Fifo => format!("fifo://{}/{name}.fifo?{q}", tmp.display()),
            T::Mq => format!("mq://{name}?capacity={mq_cap}&{q}"),
            T::Unix => format!("unix://{}/{name}.sock?{q}", tmp.display()),
            T::Tcp => format!("tcp://127.0.0.1:{}?{q}", free_tcp_port()),
        };
        Chan { t, addr, server }
    }

    pub fn anonymous(&self) -> bool {
        self.t == T::Pipe
    }

    /// The receiving end, creating the channel (and, for a pair, the sender too).
    pub fn receiver(&self) -> (Receiver, Option<Sender>) {
        if self.anonymous() {
            let (tx, rx) = ipcring::pair_at(&self.addr).expect("pair_at");
            (rx, Some(tx))
        } else {
            let rx = Receiver::open(&self.addr, Create::IfMissing)
                .unwrap_or_else(|e| panic!("Receiver::open({}): {e}", self.addr));
            (rx, None)
        }
    }

    /// A sender for a child process: the inherited end of a pair, or a new one by address.
    pub fn sender(&self, inherited: Option<Sender>) -> Sender {
        match inherited {
            Some(tx) => tx,
            None => Sender::open(&self.addr, Create::No).unwrap_or_else(|e| panic!("Sender::open({}): {e}", self.addr)),
        }
    }
}

impl Drop for Chan {
    fn drop(&mut self) {
        if !matches!(self.t, T::Pipe | T::Tcp) {
            let _ = ipcring::unlink(&self.addr);
        }
    }
}
