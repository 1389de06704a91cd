//! RS exchange rate on loopback against a minimal tokio server, in one run.
//!
//! `cargo bench --bench rs_rate` (options after `--`: `--secs N` per phase,
//! `--clients N`). Each phase runs N concurrent clients for a bounded time;
//! each exchange is connect, one request, read the reply to EOF, close.
//! The baseline is a one-thread tokio server that accepts, reads a line,
//! writes a line and closes (the RS also serves from one thread). The
//! ratio is RS rate / baseline rate; the aim is 0.7 or more for KEEPALIVE.

use p2p_di_actors::rs::journal;
use p2p_di_actors::state::registry::{Registrant, Registry};
use std::io::{BufRead, BufReader};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const BIN: &str = env!("CARGO_BIN_EXE_p2p-di");

struct Options {
    secs: f64,
    clients: usize,
}

fn options() -> Options {
    let mut options = Options {
        secs: 2.0,
        clients: 16,
    };
    let args: Vec<String> = std::env::args().collect();
    for pair in args.windows(2) {
        match pair[0].as_str() {
            "--secs" => options.secs = pair[1].parse().unwrap_or(options.secs),
            "--clients" => options.clients = pair[1].parse().unwrap_or(options.clients),
            _ => {}
        }
    }
    options
}

/// Runs `clients` loops of exchanges for `secs`; returns exchanges per second.
async fn load(
    addr: SocketAddr,
    requests: Arc<Vec<Vec<u8>>>,
    clients: usize,
    secs: f64,
    expect: &'static [u8],
) -> f64 {
    let done = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let deadline = start + Duration::from_secs_f64(secs);
    let tasks: Vec<_> = (0..clients)
        .map(|c| {
            let (done, failed, requests) = (done.clone(), failed.clone(), requests.clone());
            tokio::spawn(async move {
                let mut i = c;
                // bounded by time and by count
                while Instant::now() < deadline && i < 10_000_000 {
                    let request = &requests[i % requests.len()];
                    i += clients;
                    let ok = async {
                        let mut s = TcpStream::connect(addr).await?;
                        s.write_all(request).await?;
                        let mut reply = Vec::with_capacity(128);
                        s.read_to_end(&mut reply).await?;
                        std::io::Result::Ok(reply.starts_with(expect))
                    };
                    match ok.await {
                        Ok(true) => done.fetch_add(1, Ordering::Relaxed),
                        _ => failed.fetch_add(1, Ordering::Relaxed),
                    };
                }
            })
        })
        .collect();
    for task in tasks {
        let _ = task.await;
    }
    let failed = failed.load(Ordering::Relaxed);
    if failed > 0 {
        eprintln!("  ({failed} exchanges failed)");
    }
    done.load(Ordering::Relaxed) as f64 / start.elapsed().as_secs_f64()
}

/// The minimal server, on a thread of its own with a one-thread runtime.
fn start_baseline() -> SocketAddr {
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

struct Rs(Child, SocketAddr);

impl Drop for Rs {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_rs(state: &Path) -> Rs {
    let mut child = Command::new(BIN)
        .args([
            "rs",
            "--listen",
            "127.0.0.1:0",
            "--log-level",
            "warn",
            "--state-dir",
        ])
        .arg(state)
        .args(["--log-format", "term"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Find the port: the RS logs at warn here, so probe the listening
    // socket through /proc instead of the log.
    let stderr = child.stderr.take().unwrap();
    std::thread::spawn(move || for _ in BufReader::new(stderr).lines() {});
    let pid = child.id();
    let mut rs = Rs(child, SocketAddr::from((Ipv4Addr::LOCALHOST, 0)));
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(port) = listening_port(pid) {
            rs.1.set_port(port);
            return rs;
        }
        assert!(Instant::now() < deadline, "rs did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The port a process listens on, from /proc/net/tcp and its fds.
fn listening_port(pid: u32) -> Option<u16> {
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

/// Writes a state folder holding `n` active peers; returns their cookies.
fn preload(state: &Path, n: u32) -> Vec<u64> {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    let mut registry = Registry::new(7200, 1_000_000, 256);
    let mut next = 1_000_000_000_000_000u64;
    let mut cookies = Vec::new();
    for i in 0..n {
        let address = IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + i));
        let decided = registry
            .decide_register(
                Registrant::new("peer", "Linux", 65400, None, address),
                now,
                || {
                    next += 7919;
                    next
                },
            )
            .unwrap();
        for event in &decided.events {
            registry.apply(event);
        }
        cookies.push(decided.cookie);
    }
    journal::write_snapshot(state, &registry).unwrap();
    cookies
}

fn keepalives(cookies: &[u64]) -> Arc<Vec<Vec<u8>>> {
    Arc::new(
        cookies
            .iter()
            .map(|c| format!("KEEPALIVE&*P2P-DI/1.0&*{c}&*peer&*Linux\r\n").into_bytes())
            .collect(),
    )
}

fn main() {
    let options = options();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (secs, clients) = (options.secs, options.clients);
    println!("RS exchange rate on loopback: {clients} clients, {secs} s per phase");
    let baseline_addr = start_baseline();
    let line = Arc::new(vec![b"KEEPALIVE&*P2P-DI/1.0&*1&*peer&*Linux\r\n".to_vec()]);
    let ok: &'static [u8] = b"P2P-DI/1.0&*200";

    let small = tempfile::tempdir().unwrap();
    let cookies = preload(small.path(), 10);
    let rs = start_rs(small.path());
    let registers = Arc::new(
        cookies
            .iter()
            .enumerate()
            .map(|(i, c)| {
                format!("REGISTER&*P2P-DI/1.0&*peer&*Linux&*{}&*{c}\r\n", 65400 + i).into_bytes()
            })
            .collect::<Vec<_>>(),
    );
    let pqueries = Arc::new(
        cookies
            .iter()
            .map(|c| format!("PQUERY&*P2P-DI/1.0&*{c}&*peer&*Linux\r\n").into_bytes())
            .collect::<Vec<_>>(),
    );
    let (base1, keepalive, pquery, register, base2) = rt.block_on(async {
        // warm up both
        load(baseline_addr, line.clone(), clients, 0.3, ok).await;
        load(rs.1, keepalives(&cookies), clients, 0.3, ok).await;
        let base1 = load(baseline_addr, line.clone(), clients, secs, ok).await;
        let keepalive = load(rs.1, keepalives(&cookies), clients, secs, ok).await;
        let pquery = load(rs.1, pqueries.clone(), clients, secs, ok).await;
        let register = load(rs.1, registers.clone(), clients, secs, ok).await;
        let base2 = load(baseline_addr, line.clone(), clients, secs, ok).await;
        (base1, keepalive, pquery, register, base2)
    });
    drop(rs);
    let baseline = (base1 + base2) / 2.0;

    let big = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let many = preload(big.path(), 100_000);
    let preload_secs = started.elapsed().as_secs_f64();
    let started = Instant::now();
    let rs = start_rs(big.path());
    let recover_secs = started.elapsed().as_secs_f64();
    let (keepalive_100k, base3) = rt.block_on(async {
        load(rs.1, keepalives(&many), clients, 0.3, ok).await;
        let k = load(rs.1, keepalives(&many), clients, secs, ok).await;
        let b = load(baseline_addr, line.clone(), clients, secs, ok).await;
        (k, b)
    });
    drop(rs);

    println!();
    println!("| server | exchanges/s | ratio to baseline |");
    println!("|---|---:|---:|");
    println!("| minimal tokio line server (baseline, mean of 2) | {baseline:.0} | 1.00 |");
    for (name, rate) in [
        ("RS KEEPALIVE (10 peers)", keepalive),
        ("RS PQUERY (10 peers, 9 listed)", pquery),
        ("RS REGISTER with cookie (fsync'd journal)", register),
    ] {
        println!("| {name} | {rate:.0} | {:.2} |", rate / baseline);
    }
    println!(
        "| RS KEEPALIVE (100,000 peers) | {keepalive_100k:.0} | {:.2} (baseline then: {base3:.0}) |",
        keepalive_100k / base3
    );
    println!();
    println!("baseline runs: {base1:.0} and {base2:.0} exchanges/s");
    println!("100,000-peer state written in {preload_secs:.2} s, RS started on it in {recover_secs:.2} s");
}
