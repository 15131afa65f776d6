//! A `nats-server` of the command's own, for `ipcring bench --nats`: on a free loopback port
//! with JetStream in a temporary directory (`-js -sd DIR`), stopped and its directory removed
//! on drop. (The tests start theirs with `tests/common/nats.rs`, the same recipe: the root
//! crate's tests cannot reach the command's modules.)

use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running server.
pub struct NatsServer {
    child: Child,
    port: u16,
    dir: PathBuf,
}

fn free_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

fn exe() -> &'static str {
    if std::path::Path::new("/usr/sbin/nats-server").exists() {
        "/usr/sbin/nats-server"
    } else {
        "nats-server"
    }
}

impl NatsServer {
    /// Starts a server and waits (10 s at most) until it accepts connections.
    pub fn start() -> Result<NatsServer, String> {
        let port = free_port().map_err(|e| format!("no free loopback port: {e}"))?;
        let dir = std::env::temp_dir().join(format!("ipcring-bench-{}-natsd-{port}", std::process::id()));
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let child = Command::new(exe())
            .args(["-a", "127.0.0.1", "-p", &port.to_string(), "-js", "-sd"])
            .arg(&dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| {
                let _ = std::fs::remove_dir_all(&dir);
                format!("nats-server not runnable ({e}): install it (scripts/deps.sh, apt-get install nats-server)")
            })?;
        let s = NatsServer { child, port, dir };
        let t0 = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if t0.elapsed() > Duration::from_secs(10) {
                return Err(format!("nats-server did not start on port {port}"));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        // JetStream answers a little after the port opens.
        std::thread::sleep(Duration::from_millis(200));
        Ok(s)
    }

    /// The server's version (`nats-server --version`), if it says.
    pub fn version() -> Option<String> {
        let out = Command::new(exe()).arg("--version").output().ok()?;
        let v = String::from_utf8_lossy(&out.stdout).trim().to_string();
        (!v.is_empty()).then_some(v)
    }

    /// `127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// `nats://127.0.0.1:PORT/NAME?QUERY`.
    pub fn addr(&self, name: &str, query: &str) -> String {
        format!("nats://{}/{name}?{query}", self.url())
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        // SAFETY: kill takes no pointers; the pid is our child's, not yet reaped.
        unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM) };
        let t0 = Instant::now();
        while !matches!(self.child.try_wait(), Ok(Some(_))) {
            if t0.elapsed() > Duration::from_secs(10) {
                let _ = self.child.kill();
                let _ = self.child.wait();
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
