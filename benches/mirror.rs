//! A mirror of the RFC series: a fresh peer fetches every document a
//! holder has with `p2p-di ctl get --all --refresh`, against a plain tokio
//! client and server moving the same files in the same run.
//!
//! `cargo bench --bench mirror` (options after `--`: `--docs N` (10,000),
//! `--age0-docs N` (2,000)). The release binaries: an RS, a holder of N
//! small documents (1 to 8 KB, titles in `titles.tsv`), and a fresh peer
//! with the default config (4 downloads at once, each document fsync'd and
//! renamed durably). Reports:
//!
//! 1. documents a second, start of `ctl get` to its exit; the peer's
//!    resident memory, most and at the end;
//! 2. the time of the first and of the last 1,000 downloads (from the
//!    peer's JSON log): the aim is the last no more than 15% slower;
//! 3. the baseline: a minimal tokio server sending each file on a
//!    connection of its own and a tokio client fetching them 4 at a time,
//!    writing each to a file and renaming it (no fsync), and the same with
//!    each file fsync'd (the peer's durability);
//! 4. the peer list's age: a second fresh peer with
//!    `peer_list_max_age_ms: 0` (a PQUERY per download, paced by the RS)
//!    fetching `--age0-docs` of them, against the default peer on the
//!    same documents.
//!
//! Linux only (it reads /proc for memory).

#[path = "support/mod.rs"]
mod support;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use support::{arg, rss_bytes, runtime, start_rs, BIN};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt};

/// A peer of the release binary, its JSON log in a file; killed when
/// dropped.
struct Peer {
    child: Child,
    log: PathBuf,
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Peer {
    fn start(root: &Path, rs: SocketAddr, name: &str, config: &str) -> Peer {
        let dir = root.join(name);
        let config_path = root.join(format!("{name}.ron"));
        std::fs::write(&config_path, config).unwrap();
        let log = root.join(format!("{name}.log"));
        let child = Command::new(BIN)
            .arg("peer")
            .arg("--config")
            .arg(&config_path)
            .args(["--rs", &rs.to_string(), "--listen", "127.0.0.1:0"])
            .arg("--rfc-dir")
            .arg(&dir)
            .args(["--host", name, "--admin", "127.0.0.1:0"])
            .args(["--log-format", "json", "--log-level", "info"])
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let peer = Peer { child, log };
        let deadline = Instant::now() + Duration::from_secs(30);
        while !peer
            .lines()
            .iter()
            .any(|l| l.contains("registered with the RS"))
        {
            assert!(Instant::now() < deadline, "{name} did not register");
            std::thread::sleep(Duration::from_millis(10));
        }
        peer
    }

    fn lines(&self) -> Vec<String> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect()
    }

    /// Its admin endpoint, from its log.
    fn admin(&self) -> String {
        self.lines()
            .iter()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .find(|v| v["msg"] == "admin endpoint listening")
            .and_then(|v| v["addr"].as_str().map(str::to_owned))
            .expect("the admin endpoint's address in the log")
    }

    /// (start, end) of each download, µs since the epoch, by end.
    fn downloads(&self) -> Vec<(u64, u64)> {
        let mut spans: Vec<(u64, u64)> = self
            .lines()
            .iter()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter(|v| v["msg"] == "rfc downloaded")
            .filter_map(|v| {
                let start = v["started_unix_us"].as_u64()?;
                Some((start, start + v["elapsed_us"].as_u64()?))
            })
            .collect();
        spans.sort_by_key(|&(_, end)| end);
        spans
    }
}

/// The document of RFC `number`: 1 to 8 KB, its number in every line.
fn document(number: u32) -> Vec<u8> {
    let size = 1024 + (number as usize * 7919) % (7 * 1024);
    let line = format!("RFC {number}: mirror benchmark text.\n");
    line.repeat(size / line.len() + 1).into_bytes()[..size].to_vec()
}

/// Runs `ctl get ARGS` against `peer`; the seconds it took.
fn ctl_get(peer: &Peer, args: &[&str]) -> f64 {
    let started = Instant::now();
    let out = Command::new(BIN)
        .args(["ctl", "--admin", &peer.admin(), "--json", "get"])
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "ctl get: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    started.elapsed().as_secs_f64()
}

/// The minimal server: reads a line naming a number, sends that file of
/// `dir`, closes.
fn start_file_server(rt: &tokio::runtime::Runtime, dir: PathBuf) -> SocketAddr {
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let dir = dir.clone();
                tokio::spawn(async move {
                    let (read, mut write) = stream.into_split();
                    let mut line = String::new();
                    let _ = tokio::io::BufReader::new(read).read_line(&mut line).await;
                    let path = dir.join(format!("rfc{}.txt", line.trim()));
                    if let Ok(bytes) = tokio::fs::read(path).await {
                        let _ = write.write_all(&bytes).await;
                    }
                    let _ = write.shutdown().await;
                });
            }
        });
        addr
    })
}

/// The minimal client: fetches each of `numbers` on a connection of its
/// own, four at a time, into `dir` (a temporary file renamed; synced if
/// `sync`). Documents a second.
fn baseline(
    rt: &tokio::runtime::Runtime,
    server: SocketAddr,
    numbers: &[u32],
    dir: &Path,
    sync: bool,
) -> f64 {
    std::fs::create_dir_all(dir).unwrap();
    let next = Arc::new(AtomicU64::new(0));
    let numbers = Arc::new(numbers.to_vec());
    let started = Instant::now();
    rt.block_on(async {
        let workers = (0..4).map(|_| {
            let (next, numbers, dir) = (next.clone(), numbers.clone(), dir.to_owned());
            tokio::spawn(async move {
                use tokio::io::AsyncReadExt;
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed) as usize;
                    let Some(number) = numbers.get(i) else {
                        break;
                    };
                    let mut stream = tokio::net::TcpStream::connect(server).await.unwrap();
                    stream
                        .write_all(format!("{number}\n").as_bytes())
                        .await
                        .unwrap();
                    let mut body = Vec::new();
                    stream.read_to_end(&mut body).await.unwrap();
                    let temp = dir.join(format!(".rfc{number}.part"));
                    let mut file = tokio::fs::File::create(&temp).await.unwrap();
                    file.write_all(&body).await.unwrap();
                    if sync {
                        file.sync_all().await.unwrap();
                    }
                    drop(file);
                    tokio::fs::rename(&temp, dir.join(format!("rfc{number}.txt")))
                        .await
                        .unwrap();
                    if sync {
                        tokio::fs::File::open(&dir)
                            .await
                            .unwrap()
                            .sync_all()
                            .await
                            .unwrap();
                    }
                }
            })
        });
        for worker in futures_util::future::join_all(workers).await {
            worker.unwrap();
        }
    });
    numbers.len() as f64 / started.elapsed().as_secs_f64()
}

/// Samples `pid`'s resident memory until told to stop; the most seen.
fn watch_memory(pid: u32, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<u64> {
    std::thread::spawn(move || {
        let mut most = 0;
        while !stop.load(Ordering::Relaxed) {
            most = most.max(rss_bytes(pid));
            std::thread::sleep(Duration::from_millis(20));
        }
        most
    })
}

fn main() {
    let docs: u32 = arg("--docs", 10_000);
    let age0_docs: u32 = arg("--age0-docs", 2_000).min(docs);
    let root = tempfile::tempdir().unwrap();
    let holder_dir = root.path().join("holder");
    std::fs::create_dir_all(&holder_dir).unwrap();
    let mut titles = String::new();
    for number in 1..=docs {
        std::fs::write(
            holder_dir.join(format!("rfc{number}.txt")),
            document(number),
        )
        .unwrap();
        titles.push_str(&format!("{number}\tMirror benchmark document {number}\n"));
    }
    std::fs::write(holder_dir.join("titles.tsv"), titles).unwrap();

    let rs = start_rs(&root.path().join("rs-state"), "()", "warn");
    let _holder = Peer::start(root.path(), rs.addr, "holder", "()");

    // 1 and 2: the mirror.
    let mirror = Peer::start(root.path(), rs.addr, "mirror", "()");
    let stop = Arc::new(AtomicBool::new(false));
    let watcher = watch_memory(mirror.child.id(), stop.clone());
    let secs = ctl_get(&mirror, &["--all", "--refresh"]);
    stop.store(true, Ordering::Relaxed);
    let most = watcher.join().unwrap();
    let end_rss = rss_bytes(mirror.child.id());
    for number in 1..=docs {
        let copy = std::fs::read(root.path().join(format!("mirror/rfc{number}.txt"))).unwrap();
        assert!(copy == document(number), "RFC {number} differs");
    }
    let spans = mirror.downloads();
    assert_eq!(spans.len(), docs as usize, "one event per download");
    let k = 1000.min(spans.len() / 2).max(1);
    let first_start = spans.iter().map(|&(s, _)| s).min().unwrap_or(0);
    let first = (spans[k - 1].1 - first_start) as f64 / 1e6;
    let last = (spans[spans.len() - 1].1 - spans[spans.len() - 1 - k].1) as f64 / 1e6;
    let rate = f64::from(docs) / secs;

    // 3: the baseline, on the same files.
    let rt = runtime();
    let server = start_file_server(&rt, holder_dir.clone());
    let numbers: Vec<u32> = (1..=docs).collect();
    let plain = baseline(&rt, server, &numbers, &root.path().join("plain"), false);
    let synced = baseline(&rt, server, &numbers, &root.path().join("synced"), true);

    // 4: one PQUERY per download.
    let range = format!("1-{age0_docs}");
    let age0 = Peer::start(root.path(), rs.addr, "age0", "(peer_list_max_age_ms: 0)");
    let age0_secs = ctl_get(&age0, &[&range]);
    let shared = Peer::start(root.path(), rs.addr, "shared", "()");
    let shared_secs = ctl_get(&shared, &[&range]);

    println!("## Mirroring {docs} documents (1 to 8 KB) with `ctl get --all --refresh`\n");
    println!("| measure | value | against |");
    println!("|---|---:|---|");
    println!("| the peer, default config | {rate:.0} documents/s | {secs:.1} s in all |");
    println!(
        "| minimal tokio client and server (baseline) | {plain:.0} documents/s | {:.2} of it |",
        rate / plain
    );
    println!(
        "| the same, each file fsync'd and its folder synced | {synced:.0} documents/s | {:.2} of it |",
        rate / synced
    );
    println!("| first {k} downloads | {first:.2} s | |");
    println!(
        "| last {k} downloads | {last:.2} s | {:.2} of the first |",
        last / first
    );
    println!(
        "| the peer's resident memory, most / at the end | {:.0} / {:.0} MB | |",
        most as f64 / 1e6,
        end_rss as f64 / 1e6
    );
    println!(
        "| {age0_docs} documents, one peer list a second (default) | {:.0} documents/s | |",
        f64::from(age0_docs) / shared_secs
    );
    println!(
        "| {age0_docs} documents, a PQUERY per download (`peer_list_max_age_ms: 0`) | {:.0} documents/s | {:.2} of the default |",
        f64::from(age0_docs) / age0_secs,
        shared_secs / age0_secs
    );
}
