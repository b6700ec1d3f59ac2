//! A real `redis-server` for the shared state's tests: started on a free loopback port with no
//! persistence, stopped (SIGSTOP), continued, killed and restarted on the same port, and killed
//! when dropped.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running `redis-server`.
pub struct RedisServer {
    child: Option<Child>,
    port: u16,
    args: Vec<String>,
    dir: tempfile::TempDir,
}

/// Whether `redis-server` can run here; when it cannot, a test prints why and passes, unless
/// `GOVOPS_REQUIRE_REDIS=1` (CI) where it fails.
pub fn available() -> bool {
    let found = Command::new("redis-server")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !found {
        assert!(
            std::env::var("GOVOPS_REQUIRE_REDIS").as_deref() != Ok("1"),
            "redis-server is not installed, and GOVOPS_REQUIRE_REDIS=1"
        );
        eprintln!("skipped: redis-server is not installed (apt-get install redis-server)");
    }
    found
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

impl RedisServer {
    /// A server on a free port, or `None` (with the reason printed) without `redis-server`.
    pub fn start() -> Option<RedisServer> {
        Self::start_with(&[])
    }

    /// A server with more arguments; `{dir}` in them is its scratch directory.
    pub fn start_with(extra: &[&str]) -> Option<RedisServer> {
        if !available() {
            return None;
        }
        let dir = tempfile::tempdir().expect("a scratch directory");
        let port = free_port();
        let args = extra
            .iter()
            .map(|a| a.replace("{dir}", &dir.path().display().to_string()))
            .collect();
        let mut server = RedisServer {
            child: None,
            port,
            args,
            dir,
        };
        server.spawn();
        Some(server)
    }

    /// The scratch directory.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The port it listens on (TLS, when started for TLS: `--tls-port {port}` in the args).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `redis://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    fn spawn(&mut self) {
        let tls = self.args.iter().any(|a| a == "--tls-port");
        let port = self.port.to_string();
        let mut command = Command::new("redis-server");
        if tls {
            command.args(["--port", "0", "--tls-port", &port]);
        } else {
            command.args(["--port", &port]);
        }
        let args = self.args.iter().filter(|a| *a != "--tls-port");
        command
            .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .args(args)
            .current_dir(self.dir.path())
            .stdout(Stdio::from(log(self.dir.path())))
            .stderr(Stdio::null());
        self.child = Some(command.spawn().expect("redis-server starts"));
        self.wait_listening(tls);
    }

    fn wait_listening(&self, tls: bool) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(mut stream) = TcpStream::connect(("127.0.0.1", self.port)) {
                if tls {
                    return;
                }
                let _ = stream.set_read_timeout(Some(Duration::from_secs(1)));
                let mut pong = [0_u8; 7];
                let answered =
                    stream.write_all(b"PING\r\n").is_ok() && stream.read_exact(&mut pong).is_ok();
                // A password-protected server answers with an error: it is up all the same.
                if answered && (&pong == b"+PONG\r\n" || pong[0] == b'-') {
                    return;
                }
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("redis-server did not come up on port {}", self.port);
    }

    /// Sends `signal` (`STOP`, `CONT`) with `kill(1)`: the root crate's tests have no `unsafe`.
    fn signal(&self, signal: &str) {
        let child = self.child.as_ref().expect("a running server");
        let sent = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(child.id().to_string())
            .status()
            .expect("kill(1) runs");
        assert!(sent.success(), "signal {signal} sent");
    }

    /// Stops the server (SIGSTOP): connections stay open, nothing answers.
    pub fn pause(&self) {
        self.signal("STOP");
    }

    /// Continues a stopped server (SIGCONT).
    pub fn resume(&self) {
        self.signal("CONT");
    }

    /// Kills the server (SIGKILL) and reaps it.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again on the same port, empty (no persistence).
    pub fn restart(&mut self) {
        self.kill();
        self.spawn();
    }
}

fn log(dir: &Path) -> std::fs::File {
    let path: PathBuf = dir.join("redis.log");
    std::fs::File::create(path).expect("the server's log")
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        if self.child.is_some() {
            // A stopped server does not die of SIGKILL before it is continued on every system.
            self.resume();
        }
        self.kill();
    }
}
