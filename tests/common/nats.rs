//! A real `nats-server` for the `nats://` tests: on a free loopback port, with JetStream in
//! a temporary directory (`-js -sd DIR`), stopped (and the directory removed) on drop.
//! `scripts/deps.sh` installs it (Debian package `nats-server`); a test whose machine has no
//! `nats-server` fails with that hint rather than passing silently.

use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running server; `url()` is `HOST:PORT` for `nats://HOST:PORT/NAME` addresses.
pub struct NatsServer {
    child: Option<Child>,
    pub port: u16,
    pub dir: PathBuf,
}

fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    l.local_addr().expect("local_addr").port()
}

impl NatsServer {
    /// Starts a server and waits until it accepts connections.
    pub fn start() -> NatsServer {
        let dir = std::env::temp_dir().join(format!("ipcring-nats-{}-{}", std::process::id(), free_port()));
        std::fs::create_dir_all(&dir).expect("server dir");
        let mut s = NatsServer {
            child: None,
            port: free_port(),
            dir,
        };
        s.spawn();
        s
    }

    fn spawn(&mut self) {
        let exe = if std::path::Path::new("/usr/sbin/nats-server").exists() {
            "/usr/sbin/nats-server"
        } else {
            "nats-server"
        };
        let child = Command::new(exe)
            .args(["-a", "127.0.0.1", "-p", &self.port.to_string(), "-js", "-sd"])
            .arg(&self.dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("nats-server not runnable ({e}): run scripts/deps.sh (apt-get install nats-server)")
            });
        self.child = Some(child);
        let t0 = Instant::now();
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                t0.elapsed() < Duration::from_secs(30),
                "nats-server did not start on port {}",
                self.port
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        // JetStream answers a little after the port opens.
        std::thread::sleep(Duration::from_millis(200));
    }

    /// `127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// `nats://127.0.0.1:PORT/NAME?QUERY` (no `?` when `query` is empty).
    pub fn addr(&self, name: &str, query: &str) -> String {
        if query.is_empty() {
            format!("nats://{}/{name}", self.url())
        } else {
            format!("nats://{}/{name}?{query}", self.url())
        }
    }

    /// Stops the server (SIGTERM, then waits), keeping its store.
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            // SAFETY: kill takes no pointers; the pid is our child's, not yet reaped.
            unsafe { libc::kill(c.id() as i32, libc::SIGTERM) };
            let t0 = Instant::now();
            loop {
                if let Ok(Some(_)) = c.try_wait() {
                    break;
                }
                if t0.elapsed() > Duration::from_secs(20) {
                    let _ = c.kill();
                    let _ = c.wait();
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }

    /// Starts it again on the same port and store (a restart mid-stream).
    pub fn restart(&mut self) {
        self.stop();
        self.spawn();
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
