//! Helpers for the end-to-end tests: start the real binary, find where it
//! listens from its JSON log, talk to it over 127.0.0.1, wait on
//! conditions with deadlines.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_p2p-di");

/// A daemon started from the real binary; killed when dropped.
pub struct Daemon {
    pub child: Child,
    pub addr: SocketAddr,
    pub log: Arc<Mutex<Vec<serde_json::Value>>>,
}

impl Daemon {
    /// Starts `p2p-di ARGS --log-format json` and waits (10 s at most) for
    /// a log line with `msg` containing `listening`.
    pub fn start(args: &[&str], cwd: &Path) -> Daemon {
        Daemon::start_with_env(args, cwd, &[])
    }

    /// [`Daemon::start`] with environment variables set (`P2P_DI_FAULTS`).
    pub fn start_with_env(args: &[&str], cwd: &Path, env: &[(&str, &str)]) -> Daemon {
        let mut child = Command::new(BIN)
            .args(args)
            .envs(env.iter().copied())
            .args(["--log-format", "json"])
            .current_dir(cwd)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start p2p-di");
        let stderr = child.stderr.take().unwrap();
        let log = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = mpsc::channel();
        let lines = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                match serde_json::from_str::<serde_json::Value>(&line) {
                    Ok(value) => {
                        if value["msg"].as_str().unwrap_or("").contains("listening") {
                            let _ = tx.send(value["addr"].as_str().unwrap_or("").to_owned());
                        }
                        lines.lock().unwrap().push(value);
                    }
                    Err(_) => lines
                        .lock()
                        .unwrap()
                        .push(serde_json::json!({ "msg": "raw", "line": line })),
                }
            }
        });
        let addr = match rx.recv_timeout(Duration::from_secs(10)) {
            Ok(addr) => addr.parse().expect("listening address"),
            Err(_) => {
                let _ = child.kill();
                let status = child.wait().unwrap();
                panic!(
                    "p2p-di {args:?} did not start ({status}): {:#?}",
                    log.lock().unwrap()
                );
            }
        };
        Daemon { child, addr, log }
    }

    /// Sends a signal (SIGTERM, SIGKILL, ...).
    pub fn signal(&self, signal: i32) {
        let pid = self.child.id() as i32;
        // SAFETY: kill(2) on our own child's pid has no memory effects.
        unsafe {
            libc::kill(pid, signal);
        }
    }

    /// Waits (up to `limit`) for the process to exit; returns its status.
    pub fn wait_exit(&mut self, limit: Duration) -> std::process::ExitStatus {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "daemon did not exit in {limit:?}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Log messages so far.
    pub fn messages(&self) -> Vec<serde_json::Value> {
        self.log.lock().unwrap().clone()
    }

    /// Whether a log record with this `msg` was written.
    pub fn logged(&self, msg: &str) -> bool {
        self.messages().iter().any(|v| v["msg"] == msg)
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One exchange: connect, send `request`, read until the server closes.
pub fn exchange(addr: SocketAddr, request: &[u8]) -> Vec<u8> {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    stream.write_all(request).expect("send");
    let mut reply = Vec::new();
    stream.read_to_end(&mut reply).expect("read reply");
    reply
}

/// One exchange whose request ends by closing our side (no line end).
pub fn exchange_eof(addr: SocketAddr, request: &[u8]) -> Vec<u8> {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    stream.write_all(request).expect("send");
    stream.shutdown(Shutdown::Write).unwrap();
    let mut reply = Vec::new();
    stream.read_to_end(&mut reply).expect("read reply");
    reply
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Polls `check` every 20 ms until it is true; fails after `limit`.
pub fn wait_until(limit: Duration, what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The cookie of a `200 OK` REGISTER reply.
pub fn cookie_of(reply: &[u8]) -> String {
    let reply = text(reply);
    assert!(reply.starts_with("P2P-DI/1.0&*200&*OK&*"), "{reply}");
    reply.trim_end().rsplit("&*").next().unwrap().to_owned()
}
