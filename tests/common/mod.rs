//! Helpers for the end-to-end tests: start the real binary, find where it
//! listens from its JSON log, talk to it over 127.0.0.1, wait on
//! conditions with deadlines.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[cfg_attr(unix, path = "os_unix.rs")]
#[cfg_attr(windows, path = "os_windows.rs")]
mod os;
pub use os::*;

pub const BIN: &str = env!("CARGO_BIN_EXE_p2p-di");

/// The OS field our daemons send (`Linux`, `macOS`, `Windows`).
pub const OS: &str = p2p_di_actors::sys::OS_NAME;

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
        Daemon::spawn(args, cwd, env, None)
    }

    /// [`Daemon::start`] with at most `nofile` descriptors (soft and hard
    /// limit, as `prlimit --nofile=N:N` sets them).
    pub fn start_with_nofile(args: &[&str], cwd: &Path, nofile: u64) -> Daemon {
        Daemon::spawn(args, cwd, &[], Some(nofile))
    }

    fn spawn(args: &[&str], cwd: &Path, env: &[(&str, &str)], nofile: Option<u64>) -> Daemon {
        let mut command = Command::new(BIN);
        if let Some(nofile) = nofile {
            limit_descriptors(&mut command, nofile);
        }
        Daemon::spawn_command(command, args, env, cwd)
    }

    /// Starts `command ARGS --log-format json` (another build of p2p-di,
    /// or one run by an emulator) as [`Daemon::start`] does.
    pub fn start_command(command: Command, args: &[&str], cwd: &Path) -> Daemon {
        Daemon::spawn_command(command, args, &[], cwd)
    }

    fn spawn_command(
        mut command: Command,
        args: &[&str],
        env: &[(&str, &str)],
        cwd: &Path,
    ) -> Daemon {
        let mut child = command
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

    /// Asks it to stop (SIGTERM: a peer leaves the network first).
    pub fn terminate(&self) {
        terminate(&self.child);
    }

    /// Asks a peer to rescan its folder (SIGHUP).
    pub fn hang_up(&self) {
        hang_up(&self.child);
    }

    /// Has a peer leave the network and stop: SIGTERM on Unix. On Windows,
    /// where a test under Wine cannot send a console event, `ctl leave`
    /// then a kill (tests/wine.rs checks Ctrl-C from Linux instead).
    pub fn leave_and_stop(&mut self) {
        leave_and_stop(self);
    }

    /// Kills it at once (SIGKILL; TerminateProcess on Windows): nothing
    /// runs after, no LEAVE.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
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

// ---- peers ----

/// A document of `size` bytes for RFC `number`, different for each number.
pub fn document(number: u32, size: usize) -> Vec<u8> {
    let mut doc =
        format!("# RFC {number} {{#rfcnum}}\n\n# Fixture Document {number} {{#title}}\n\n")
            .into_bytes();
    let mut state = u64::from(number).wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    while doc.len() < size {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        doc.push(b"abcdefghij klmnop\n"[(state % 18) as usize]);
    }
    doc.truncate(size);
    doc
}

pub fn folder(root: &Path, name: &str, docs: &[(u32, usize)], titles: bool) -> PathBuf {
    let dir = root.join(name);
    std::fs::create_dir_all(&dir).unwrap();
    let mut tsv = String::new();
    for (number, size) in docs {
        std::fs::write(
            dir.join(format!("rfc{number}.txt")),
            document(*number, *size),
        )
        .unwrap();
        tsv.push_str(&format!("{number}\tTitle of {number}\n"));
    }
    if titles {
        std::fs::write(dir.join("titles.tsv"), tsv).unwrap();
    }
    dir
}

pub fn start_rs(root: &Path) -> Daemon {
    start_rs_at(root, "rs-state", "127.0.0.1:0")
}

/// An RS in `root` keeping its state in `state` and listening on `listen`
/// (`127.0.0.1:0`, or the address of one that ran on that state before).
pub fn start_rs_at(root: &Path, state: &str, listen: &str) -> Daemon {
    Daemon::start(&["rs", "--listen", listen, "--state-dir", state], root)
}

/// Starts an RS in `root` with `config` (RON text) as its config file.
pub fn start_rs_with(root: &Path, config: &str) -> Daemon {
    let path = root.join("rs.ron");
    std::fs::write(&path, config).unwrap();
    Daemon::start(
        &[
            "rs",
            "--config",
            path.to_str().unwrap(),
            "--listen",
            "127.0.0.1:0",
            "--state-dir",
            "state",
        ],
        root,
    )
}

/// A peer config with fast retries and keepalives, a 2 s request limit,
/// and `extra` fields.
pub fn peer_config(root: &Path, extra: &str) -> String {
    static COUNT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = COUNT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let path = root.join(format!("peer-{n}.ron"));
    std::fs::write(
        &path,
        format!("(keepalive_secs: 1, rs_retry_initial_ms: 50, rs_retry_max_ms: 200, transfer_timeout_secs: 5, limits: (request_timeout_secs: 2), {extra})"),
    )
    .unwrap();
    path.display().to_string()
}

pub fn start_peer(root: &Path, rs: SocketAddr, dir: &Path, host: &str, extra: &[&str]) -> Daemon {
    start_peer_with(root, rs, dir, host, "", extra)
}

/// A peer `hostB` in `root/b` holding `rfc` (`size` bytes) and sending
/// at 1 MB/s with a burst of 100 KB: a download of it takes about
/// `size` microseconds, long enough to watch.
pub fn start_slow_holder(root: &Path, rs: SocketAddr, rfc: u32, size: usize) -> Daemon {
    let dir = folder(root, "b", &[(rfc, size)], true);
    start_peer_with(
        root,
        rs,
        &dir,
        "hostB",
        "upload_limit_bytes_per_sec: Some(1000000)",
        &[],
    )
}

pub fn start_peer_with(
    root: &Path,
    rs: impl std::fmt::Display,
    dir: &Path,
    host: &str,
    config_extra: &str,
    extra: &[&str],
) -> Daemon {
    start_peer_command(Command::new(BIN), root, rs, dir, host, config_extra, extra)
}

/// [`start_peer_with`] for the peer `command` runs (another build).
pub fn start_peer_command(
    command: Command,
    root: &Path,
    rs: impl std::fmt::Display,
    dir: &Path,
    host: &str,
    config_extra: &str,
    extra: &[&str],
) -> Daemon {
    let config = peer_config(root, config_extra);
    let rs = rs.to_string();
    let dir = dir.display().to_string();
    let mut args = vec![
        "peer",
        "--config",
        &config,
        "--rs",
        &rs,
        "--listen",
        "127.0.0.1:0",
        "--rfc-dir",
        &dir,
        "--host",
        host,
        "--log-level",
        "debug",
    ];
    args.extend_from_slice(extra);
    let peer = Daemon::start_command(command, &args, root);
    wait_until(Duration::from_secs(20), "the peer to register", || {
        peer.logged("registered with the RS")
    });
    peer
}

// ---- the admin endpoint and the tools ----

impl Daemon {
    /// Where its admin endpoint listens (from its log; 10 s at most).
    pub fn admin(&self) -> SocketAddr {
        let mut found = None;
        wait_until(Duration::from_secs(10), "the admin endpoint", || {
            found = self
                .messages()
                .iter()
                .find(|v| v["msg"] == "admin endpoint listening")
                .and_then(|v| v["addr"].as_str().map(str::to_owned));
            found.is_some()
        });
        found.unwrap().parse().unwrap()
    }
}

/// An HTTP answer: status, head lines (lower-cased names), body.
#[derive(Debug)]
pub struct HttpReply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl HttpReply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
}

/// One HTTP/1.1 request over a fresh connection (`Connection: close`).
pub fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&str>,
) -> HttpReply {
    let mut stream = TcpStream::connect(addr).expect("connect to the admin endpoint");
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut request = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    if let Some(body) = body {
        if !headers
            .iter()
            .any(|(name, _)| name.eq_ignore_ascii_case("content-type"))
        {
            request.push_str("Content-Type: application/json\r\n");
        }
        request.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    request.push_str("\r\n");
    request.push_str(body.unwrap_or(""));
    stream.write_all(request.as_bytes()).unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).unwrap();
    let raw = String::from_utf8(raw).expect("UTF-8 reply");
    let (head, body) = raw.split_once("\r\n\r\n").expect("a head");
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .expect("a status line");
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let chunked = headers
        .iter()
        .any(|(n, v)| n == "transfer-encoding" && v.contains("chunked"));
    let body = if chunked {
        dechunk(body)
    } else {
        body.to_owned()
    };
    HttpReply {
        status,
        headers,
        body,
    }
}

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    loop {
        let (size, rest) = body.split_once("\r\n").expect("a chunk size");
        let size = usize::from_str_radix(size.trim(), 16).expect("hex chunk size");
        if size == 0 {
            return out;
        }
        out.push_str(&rest[..size]);
        body = &rest[size + 2..];
    }
}

/// `GET path` as JSON, expecting 200.
pub fn get_json(addr: SocketAddr, path: &str) -> serde_json::Value {
    let reply = http(addr, "GET", path, &[], None);
    assert_eq!(reply.status, 200, "GET {path}: {}", reply.body);
    reply.json()
}

/// What a run of the binary printed and how it exited.
#[derive(Debug)]
pub struct Run {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn ok(&self) -> bool {
        self.code == Some(0)
    }
}

/// Reads `child`'s standard output until a line starts with `prefix`
/// (the lab's result line of an experiment); fails if it ends first.
pub fn read_until_line_starting(child: &mut Child, prefix: &str) {
    let stdout = child.stdout.as_mut().expect("a piped standard output");
    let mut stdout = BufReader::new(stdout);
    let mut line = String::new();
    loop {
        line.clear();
        let read = stdout.read_line(&mut line).unwrap();
        assert!(
            read > 0,
            "the output ended before a line starting {prefix:?}"
        );
        if line.trim_start().starts_with(prefix) {
            return;
        }
    }
}

/// Runs `p2p-di ARGS` to its end (60 s at most).
pub fn run(args: &[&str], cwd: &Path) -> Run {
    run_command(Command::new(BIN), args, cwd)
}

/// Runs `command ARGS` (another build of p2p-di) to its end (60 s at
/// most).
pub fn run_command(mut command: Command, args: &[&str], cwd: &Path) -> Run {
    let mut child = command
        .args(args)
        .current_dir(cwd)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run p2p-di");
    let drain = |mut pipe: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut text = String::new();
            let _ = pipe.read_to_string(&mut text);
            text
        })
    };
    let stdout = drain(Box::new(child.stdout.take().unwrap()));
    let stderr = drain(Box::new(child.stderr.take().unwrap()));
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("p2p-di {args:?} ran over 60 s");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    Run {
        code: status.code(),
        stdout: stdout.join().unwrap(),
        stderr: stderr.join().unwrap(),
    }
}

/// Runs `p2p-di ctl --admin ADMIN ARGS`.
pub fn ctl(admin: SocketAddr, args: &[&str], cwd: &Path) -> Run {
    let admin = admin.to_string();
    let mut all = vec!["ctl", "--admin", admin.as_str()];
    all.extend_from_slice(args);
    run(&all, cwd)
}

/// The value of a sample in Prometheus text (`name{labels}` exactly as
/// written, or `name` alone); `None` when absent. Every line is checked to
/// be a comment or `SERIES VALUE`.
pub fn metric(text: &str, series: &str) -> Option<f64> {
    let mut found = None;
    for line in text.lines() {
        if line.starts_with('#') || line.is_empty() {
            continue;
        }
        let (name, value) = line.rsplit_once(' ').expect("SERIES VALUE");
        let value: f64 = value.parse().expect("a number");
        if name == series {
            found = Some(value);
        }
    }
    found
}
