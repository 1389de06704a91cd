//! What the RS benchmarks share: the minimal baseline server, starting the
//! release binary, a load generator that records latencies, and reading a
//! process's memory.
#![allow(dead_code)]

use p2p_di_actors::rs::recovery;
use p2p_di_actors::state::registry::{Registrant, Registry};
use std::io::{BufRead, BufReader};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket};

pub const BIN: &str = env!("CARGO_BIN_EXE_p2p-di");

/// `--name value` from the command line, or `default`.
pub fn arg<T: std::str::FromStr>(name: &str, default: T) -> T {
    let args: Vec<String> = std::env::args().collect();
    args.windows(2)
        .find(|w| w[0] == name)
        .and_then(|w| w[1].parse().ok())
        .unwrap_or(default)
}

/// The minimal server, on a thread of its own with a one-thread runtime:
/// accept, read a line, write a line, close.
pub fn start_baseline() -> SocketAddr {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            tx.send(listener.local_addr().unwrap()).unwrap();
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                tokio::spawn(async move {
                    let (read, mut write) = stream.into_split();
                    let mut line = String::new();
                    let _ = tokio::io::BufReader::new(read).read_line(&mut line).await;
                    let _ = write
                        .write_all(b"P2P-DI/1.0&*200&*OK&*rs-host&*Linux\r\n")
                        .await;
                    let _ = write.shutdown().await;
                });
            }
        });
    });
    rx.recv().unwrap()
}

/// A daemon of the release binary; killed when dropped.
pub struct Daemon {
    pub child: Child,
    pub addr: SocketAddr,
    pub log: Arc<Mutex<Vec<String>>>,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Daemon {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Whether a log line containing `text` was written.
    pub fn logged(&self, text: &str) -> bool {
        self.log.lock().unwrap().iter().any(|l| l.contains(text))
    }
}

/// Starts `p2p-di rs` on `state` with `config` (RON text) and the JSON log
/// at `level`; waits until it answers.
pub fn start_rs(state: &Path, config: &str, level: &str) -> Daemon {
    let config_path = state.with_extension("ron");
    std::fs::write(&config_path, config).unwrap();
    let mut child = Command::new(BIN)
        // No admin endpoint: its socket would be the first one listening.
        .args([
            "rs",
            "--listen",
            "127.0.0.1:0",
            "--admin",
            "off",
            "--log-format",
            "json",
        ])
        .args(["--log-level", level, "--config"])
        .arg(&config_path)
        .arg("--state-dir")
        .arg(state)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let log = Arc::new(Mutex::new(Vec::new()));
    let lines = log.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            lines.lock().unwrap().push(line);
        }
    });
    let pid = child.id();
    let mut daemon = Daemon {
        child,
        addr: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
        log,
    };
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        if let Some(port) = listening_port(pid) {
            daemon.addr.set_port(port);
            return daemon;
        }
        assert!(Instant::now() < deadline, "rs did not start");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// The port a process listens on, from /proc/net/tcp and its fds.
pub fn listening_port(pid: u32) -> Option<u16> {
    let inodes: Vec<String> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .ok()?
        .flatten()
        .filter_map(|e| std::fs::read_link(e.path()).ok())
        .filter_map(|l| {
            l.to_str()?
                .strip_prefix("socket:[")?
                .strip_suffix(']')
                .map(str::to_owned)
        })
        .collect();
    let table = std::fs::read_to_string("/proc/net/tcp").ok()?;
    table.lines().skip(1).find_map(|line| {
        let f: Vec<&str> = line.split_whitespace().collect();
        (f.get(3) == Some(&"0A") && inodes.iter().any(|i| Some(&i.as_str()) == f.get(9)))
            .then(|| u16::from_str_radix(f[1].rsplit(':').next()?, 16).ok())
            .flatten()
    })
}

/// Resident memory of a process, in bytes.
pub fn rss_bytes(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .unwrap_or(0)
        * 1024
}

/// The loopback address of peer `k` (127.1.0.0 on: distinct per peer).
pub fn peer_address(k: u32) -> IpAddr {
    IpAddr::V4(Ipv4Addr::from(0x7f01_0000 + k))
}

/// What one load phase measured.
#[derive(Debug, Clone)]
pub struct Load {
    /// Exchanges per second that got the expected reply.
    pub rate: f64,
    /// Exchanges that did not.
    pub failed: u64,
    /// Latencies of the exchanges (connect to close), sorted.
    pub latencies: Vec<Duration>,
    /// Replies of the expected kind, kept when asked for (cookies).
    pub replies: Vec<Vec<u8>>,
}

impl Load {
    pub fn percentile(&self, p: f64) -> Duration {
        if self.latencies.is_empty() {
            return Duration::ZERO;
        }
        let at = ((self.latencies.len() - 1) as f64 * p).round() as usize;
        self.latencies[at]
    }

    pub fn max(&self) -> Duration {
        self.latencies.last().copied().unwrap_or_default()
    }
}

/// A load phase: `clients` concurrent clients, each doing exchanges until
/// `secs` pass or `count` exchanges were made in all (whichever first).
/// Exchange `i` sends `request(i)` from `source(i)` (none: the default
/// source) and expects a reply starting with `expect`.
#[derive(Clone)]
pub struct Phase {
    pub addr: SocketAddr,
    pub clients: usize,
    pub secs: f64,
    pub count: u64,
    pub expect: &'static [u8],
    pub keep_replies: bool,
    pub request: Arc<dyn Fn(u64) -> Vec<u8> + Send + Sync>,
    pub source: Arc<dyn Fn(u64) -> Option<IpAddr> + Send + Sync>,
}

impl Phase {
    /// `clients` clients sending `request(i)` from the default source for
    /// `secs`, expecting `expect`.
    pub fn new(
        addr: SocketAddr,
        clients: usize,
        secs: f64,
        expect: &'static [u8],
        request: impl Fn(u64) -> Vec<u8> + Send + Sync + 'static,
    ) -> Self {
        Phase {
            addr,
            clients,
            secs,
            count: u64::MAX,
            expect,
            keep_replies: false,
            request: Arc::new(request),
            source: Arc::new(|_| None),
        }
    }
}

/// One exchange; the reply is read into `reply` (cleared first, and kept
/// by the caller between exchanges, so a client does not grow a buffer
/// for every 65 KB peer list).
async fn one_exchange(
    addr: SocketAddr,
    request: &[u8],
    source: Option<IpAddr>,
    reply: &mut Vec<u8>,
) -> std::io::Result<()> {
    let socket = TcpSocket::new_v4()?;
    if let Some(source) = source {
        socket.bind(SocketAddr::new(source, 0))?;
    }
    let mut stream = socket.connect(addr).await?;
    stream.write_all(request).await?;
    reply.clear();
    stream.read_to_end(reply).await?;
    Ok(())
}

/// Runs a phase on `rt`.
pub fn run(rt: &tokio::runtime::Runtime, phase: &Phase) -> Load {
    let next = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let deadline = start + Duration::from_secs_f64(phase.secs);
    let results: Vec<(Vec<Duration>, Vec<Vec<u8>>)> = rt.block_on(async {
        let tasks: Vec<_> = (0..phase.clients)
            .map(|_| {
                let (next, failed, phase) = (next.clone(), failed.clone(), phase.clone());
                tokio::spawn(async move {
                    let mut latencies = Vec::new();
                    let mut replies = Vec::new();
                    let mut reply = Vec::with_capacity(128 * 1024);
                    while Instant::now() < deadline {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        if i >= phase.count {
                            break;
                        }
                        let asked = Instant::now();
                        let request = (phase.request)(i);
                        let exchanged =
                            one_exchange(phase.addr, &request, (phase.source)(i), &mut reply).await;
                        match exchanged {
                            Ok(()) if reply.starts_with(phase.expect) => {
                                latencies.push(asked.elapsed());
                                if phase.keep_replies {
                                    replies.push(reply.clone());
                                }
                            }
                            _ => {
                                failed.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                    }
                    (latencies, replies)
                })
            })
            .collect();
        let mut all = Vec::new();
        for task in tasks {
            all.push(task.await.unwrap_or_default());
        }
        all
    });
    let elapsed = start.elapsed().as_secs_f64();
    let mut latencies: Vec<Duration> = results.iter().flat_map(|r| r.0.clone()).collect();
    latencies.sort_unstable();
    let replies = results.into_iter().flat_map(|r| r.1).collect();
    Load {
        rate: latencies.len() as f64 / elapsed,
        failed: failed.load(Ordering::Relaxed),
        latencies,
        replies,
    }
}

/// The cookie of a `200 OK` REGISTER reply.
pub fn cookie_of(reply: &[u8]) -> u64 {
    String::from_utf8_lossy(reply)
        .trim_end()
        .rsplit("&*")
        .next()
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}

pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// A state folder of `n` active peers (`peer-K` from [`peer_address`]`(K)`)
/// registered at `at_ms` with TTL `ttl_secs`, written off line.
pub fn preload(state: &Path, n: u32, ttl_secs: u64, at_ms: u64) -> Vec<u64> {
    let mut registry = Registry::new(ttl_secs, 2_000_000, 256);
    let mut next = 1_000_000_000_000_000u64;
    let cookies = (0..n)
        .map(|k| {
            let host = format!("peer-{k}");
            let registrant = Registrant::new(&host, "Linux", 65400, None, peer_address(k));
            let decided = registry
                .decide_register(registrant, at_ms, || {
                    next += 7919;
                    next
                })
                .unwrap();
            for event in &decided.events {
                registry.apply(event);
            }
            decided.cookie
        })
        .collect();
    recovery::write_snapshot(state, &registry).unwrap();
    cookies
}
