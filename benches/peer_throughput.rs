//! GET RFC throughput of `p2p-di peer` on loopback, against a plain tokio
//! copy of the same bytes over a loopback socket, in one run.
//!
//! `cargo bench --bench peer_throughput` (options after `--`: `--secs N`
//! per concurrent phase, `--large-runs N`). Reports, for a 400 KB and a
//! 64 MiB document, bytes per second through the peer and through a server
//! that accepts, reads the request line and writes the same response bytes
//! from memory; their ratio (aim: 0.8 or more for the 64 MiB document);
//! downloads per second of a 77 KB document by 16 concurrent clients; and
//! how much a peer's resident memory grows while it downloads four 64 MiB
//! documents at once (aim: under 32 MiB: documents are streamed to disk).

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const BIN: &str = env!("CARGO_BIN_EXE_p2p-di");
const SMALL: u32 = 1;
const MEAN: u32 = 2;
const LARGE: u32 = 3;
/// Four more 64 MiB documents, downloaded at once by a second peer.
const PARALLEL: [u32; 4] = [11, 12, 13, 14];

struct Daemon(Child, SocketAddr);

/// Resident memory of a process, in KiB.
fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// A second peer downloads the four `PARALLEL` documents from the first at
/// once (`--get`); returns its resident memory when it started listening,
/// its peak while downloading, and the seconds it took.
fn parallel_downloads(root: &Path, rs: &str) -> (u64, u64, f64) {
    let dir = root.join("downloader");
    let get = PARALLEL.map(|n| n.to_string()).join(",");
    let dir_text = dir.display().to_string();
    let started = Instant::now();
    let peer = daemon(
        &[
            "peer",
            "--rs",
            rs,
            "--listen",
            "127.0.0.1:0",
            "--rfc-dir",
            &dir_text,
            "--host",
            "downloader",
            "--get",
            &get,
        ],
        root,
    );
    let pid = peer.0.id();
    let before = rss_kib(pid);
    let mut peak = before;
    let size = 64u64 << 20;
    let done =
        |n: &u32| std::fs::metadata(dir.join(format!("rfc{n}.txt"))).is_ok_and(|m| m.len() == size);
    // bounded in time: four 64 MiB documents on loopback take seconds
    while !PARALLEL.iter().all(done) && started.elapsed() < Duration::from_secs(300) {
        peak = peak.max(rss_kib(pid));
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(PARALLEL.iter().all(done), "the downloads did not finish");
    (before, peak, started.elapsed().as_secs_f64())
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `p2p-di ARGS` with a JSON log and waits for its listening address.
fn daemon(args: &[&str], cwd: &Path) -> Daemon {
    let mut child = Command::new(BIN)
        .args(args)
        // No admin endpoint: its address would be logged first.
        .args([
            "--admin",
            "off",
            "--log-format",
            "json",
            "--log-level",
            "info",
        ])
        .current_dir(cwd)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let mut daemon = Daemon(child, SocketAddr::from(([127, 0, 0, 1], 0)));
    for line in lines.by_ref().map_while(Result::ok) {
        if line.contains("listening") {
            let addr = line
                .split("\"addr\":\"")
                .nth(1)
                .and_then(|r| r.split('"').next())
                .unwrap();
            daemon.1 = addr.parse().unwrap();
            break;
        }
    }
    std::thread::spawn(move || for _ in lines {});
    assert_ne!(daemon.1.port(), 0, "daemon did not start");
    daemon
}

fn document(size: usize) -> Vec<u8> {
    (0..size)
        .map(|i| b"The quick brown fox jumps over the lazy dog.\n"[i % 45])
        .collect()
}

fn response(size: usize) -> Arc<Vec<u8>> {
    let mut bytes = format!("P2P-DI/1.0&*200&*OK&*bench&*Linux&*{size}\r\n").into_bytes();
    bytes.extend_from_slice(&document(size));
    Arc::new(bytes)
}

/// The plain copy: accept, read the request line, write the bytes, close.
async fn plain_server(responses: Vec<(u32, Arc<Vec<u8>>)>) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let responses = responses.clone();
            tokio::spawn(async move {
                let _ = stream.set_nodelay(true);
                let (read, mut write) = stream.into_split();
                let mut line = String::new();
                let _ = tokio::io::BufReader::new(read).read_line(&mut line).await;
                let number: u32 = line
                    .split("&*")
                    .nth(2)
                    .and_then(|n| n.parse().ok())
                    .unwrap_or(0);
                if let Some((_, bytes)) = responses.iter().find(|(n, _)| *n == number) {
                    let _ = write.write_all(bytes).await;
                }
                let _ = write.shutdown().await;
            });
        }
    });
    addr
}

async fn get(addr: SocketAddr, number: u32, expect: usize) -> usize {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let _ = stream.set_nodelay(true);
    stream
        .write_all(format!("GET&*RFC&*{number}&*P2P-DI/1.0&*bench&*Linux\r\n").as_bytes())
        .await
        .unwrap();
    let mut reply = Vec::with_capacity(expect + 128);
    stream.read_to_end(&mut reply).await.unwrap();
    assert!(reply.len() > expect, "short reply: {} bytes", reply.len());
    reply.len()
}

/// Bytes per second of `runs` sequential GETs.
async fn throughput(addr: SocketAddr, number: u32, size: usize, runs: usize) -> f64 {
    get(addr, number, size).await; // warm up (fills the peer's cache)
    let start = Instant::now();
    let mut bytes = 0;
    for _ in 0..runs {
        bytes += get(addr, number, size).await;
    }
    bytes as f64 / start.elapsed().as_secs_f64()
}

/// Downloads per second by `clients` concurrent clients for `secs`.
async fn rate(addr: SocketAddr, number: u32, size: usize, clients: usize, secs: f64) -> f64 {
    let done = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let deadline = start + Duration::from_secs_f64(secs);
    let tasks: Vec<_> = (0..clients)
        .map(|_| {
            let done = done.clone();
            tokio::spawn(async move {
                let mut count = 0;
                while Instant::now() < deadline && count < 1_000_000 {
                    get(addr, number, size).await;
                    done.fetch_add(1, Ordering::Relaxed);
                    count += 1;
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    done.load(Ordering::Relaxed) as f64 / start.elapsed().as_secs_f64()
}

fn arg(name: &str, default: f64) -> f64 {
    let args: Vec<String> = std::env::args().collect();
    args.windows(2)
        .find(|w| w[0] == name)
        .and_then(|w| w[1].parse().ok())
        .unwrap_or(default)
}

fn main() {
    let secs = arg("--secs", 2.0);
    let large_runs = arg("--large-runs", 6.0) as usize;
    let sizes = [
        (SMALL, 400_000usize),
        (MEAN, 77_000),
        (LARGE, 64 * 1024 * 1024),
    ];
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("rfcs");
    std::fs::create_dir(&dir).unwrap();
    for (number, size) in sizes {
        std::fs::write(dir.join(format!("rfc{number}.txt")), document(size)).unwrap();
    }
    for number in PARALLEL {
        std::fs::write(dir.join(format!("rfc{number}.txt")), document(64 << 20)).unwrap();
    }
    let rs = daemon(
        &["rs", "--listen", "127.0.0.1:0", "--state-dir", "rs"],
        root.path(),
    );
    let rs_addr = rs.1.to_string();
    let dir_text = dir.display().to_string();
    let peer = daemon(
        &[
            "peer",
            "--rs",
            &rs_addr,
            "--listen",
            "127.0.0.1:0",
            "--rfc-dir",
            &dir_text,
            "--host",
            "bench",
        ],
        root.path(),
    );
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (small_peer, small_plain, large_peer, large_plain, rate_peer, rate_plain) =
        rt.block_on(async {
            let plain = plain_server(sizes.iter().map(|(n, s)| (*n, response(*s))).collect()).await;
            let small_plain = throughput(plain, SMALL, 400_000, 200).await;
            let small_peer = throughput(peer.1, SMALL, 400_000, 200).await;
            let large_plain = throughput(plain, LARGE, 64 << 20, large_runs).await;
            let large_peer = throughput(peer.1, LARGE, 64 << 20, large_runs).await;
            let rate_plain = rate(plain, MEAN, 77_000, 16, secs).await;
            let rate_peer = rate(peer.1, MEAN, 77_000, 16, secs).await;
            (
                small_peer,
                small_plain,
                large_peer,
                large_plain,
                rate_peer,
                rate_plain,
            )
        });
    let (before, peak, took) = parallel_downloads(root.path(), &rs_addr);
    let mib = |b: f64| b / (1024.0 * 1024.0);
    println!("GET RFC throughput on loopback (peer vs plain tokio copy of the same bytes)");
    println!();
    println!("| measure | p2p-di peer | plain copy | ratio |");
    println!("|---|---:|---:|---:|");
    println!(
        "| 400 KB document, 200 sequential GETs | {:.0} MiB/s | {:.0} MiB/s | {:.2} |",
        mib(small_peer),
        mib(small_plain),
        small_peer / small_plain
    );
    println!(
        "| 64 MiB document, {large_runs} sequential GETs | {:.0} MiB/s | {:.0} MiB/s | {:.2} |",
        mib(large_peer),
        mib(large_plain),
        large_peer / large_plain
    );
    println!(
        "| 77 KB document, 16 concurrent clients | {rate_peer:.0} downloads/s | {rate_plain:.0} downloads/s | {:.2} |",
        rate_peer / rate_plain
    );
    println!();
    println!(
        "A peer downloading four 64 MiB documents at once: resident memory {} MiB at start, {} MiB at its peak (+{} MiB); {took:.1} s, {:.0} MiB/s in all",
        before / 1024,
        peak / 1024,
        peak.saturating_sub(before) / 1024,
        256.0 / took
    );
    drop(peer);
    drop(rs);
}
