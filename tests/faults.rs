//! Faults and hostile clients against the real binary: a descriptor limit
//! under a connection flood, one address taking every slot, clients that
//! never read a large document, a peer serving a huge legal index, two
//! peers on one folder, over-long names.

mod common;

use common::*;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::time::{Duration, Instant};

/// A tokio runtime for tests that hold many sockets at once.
fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// Connects from `local` (any 127.x.y.z is this host) to `to`.
async fn connect_from(local: &str, to: SocketAddr) -> std::io::Result<tokio::net::TcpStream> {
    let socket = tokio::net::TcpSocket::new_v4()?;
    socket.bind(format!("{local}:0").parse().unwrap())?;
    socket.connect(to).await
}

/// Reads until the server closes (or resets): what arrived.
async fn read_all(stream: &mut tokio::net::TcpStream) -> Vec<u8> {
    use tokio::io::AsyncReadExt;
    let mut reply = Vec::new();
    let _ = stream.read_to_end(&mut reply).await;
    reply
}

#[test]
#[cfg_attr(
    not(target_os = "linux"),
    ignore = "lowers the RS's descriptor limit and counts its descriptors in /proc"
)]
fn under_a_descriptor_limit_a_flood_of_connections_gets_replies_or_closes_in_time() {
    raise_own_nofile();
    let root = tempfile::tempdir().unwrap();
    let config = root.path().join("rs.ron");
    // a short request timeout keeps the test short; the bound is that + 2 s
    std::fs::write(&config, "(limits: (request_timeout_secs: 3))").unwrap();
    let rs = Daemon::start_with_nofile(
        &[
            "rs",
            "--config",
            config.to_str().unwrap(),
            "--listen",
            "127.0.0.1:0",
            "--state-dir",
            "state",
        ],
        root.path(),
        256,
    );
    let pid = rs.child.id();
    let limit = rs
        .messages()
        .iter()
        .find(|m| m["msg"] == "connection limit")
        .map(|m| m["max_connections"].as_u64().unwrap())
        .expect("the RS logs the limit it chose");
    assert!(limit < 256, "derived from the descriptors: {limit}");
    // Everything started before counting: the admin endpoint (last to
    // start) has answered, so its worker's descriptors are open.
    get_json(rs.admin(), "/status");
    let baseline = open_fds(pid);
    let addr = rs.addr;
    let slowest = runtime().block_on(async move {
        let clients: Vec<_> = (0..1000)
            .map(|i| {
                tokio::spawn(async move {
                    use tokio::io::AsyncWriteExt;
                    let started = Instant::now();
                    let Ok(mut stream) = tokio::net::TcpStream::connect(addr).await else {
                        // refused outright is an answer too
                        return started.elapsed();
                    };
                    // half of them send a request, half say nothing
                    if i % 2 == 0 {
                        let _ = stream
                            .write_all(b"KEEPALIVE&*P2P-DI/1.0&*1&*h&*Linux\r\n")
                            .await;
                    }
                    let limit = Duration::from_secs(30);
                    let _ = tokio::time::timeout(limit, read_all(&mut stream)).await;
                    started.elapsed()
                })
            })
            .collect();
        let mut slowest = Duration::ZERO;
        for client in clients {
            slowest = slowest.max(client.await.unwrap());
        }
        slowest
    });
    assert!(
        slowest <= Duration::from_secs(5),
        "a client waited {slowest:?} for a reply or a close"
    );
    // it serves normally afterwards, its descriptors back to baseline
    cookie_of(&exchange(rs.addr, b"REGISTER&*P2P-DI/1.0&*h&*Linux&*1\r\n"));
    let deadline = Instant::now() + Duration::from_secs(10);
    while open_fds(pid) > baseline + 2 {
        if Instant::now() > deadline {
            let fds: Vec<String> = std::fs::read_dir(format!("/proc/{pid}/fd"))
                .unwrap()
                .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
                .map(|p| p.display().to_string())
                .collect();
            panic!("{} descriptors open, {baseline} before: {fds:?}", fds.len());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn one_address_cannot_take_every_connection() {
    let root = tempfile::tempdir().unwrap();
    let rs = start_rs_with(
        root.path(),
        "(host: Some(\"rs-host\"), limits: (request_timeout_secs: 5, max_connections_per_address: 4))",
    );
    let addr = rs.addr;
    runtime().block_on(async move {
        use tokio::io::AsyncWriteExt;
        // four silent sockets from 127.0.0.1 take that address's share
        let mut held = Vec::new();
        for _ in 0..4 {
            held.push(connect_from("127.0.0.1", addr).await.unwrap());
        }
        let refused =
            format!("P2P-DI/1.0&*503&*Service Unavailable&*rs-host&*{OS}\r\n").into_bytes();
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let mut fifth = connect_from("127.0.0.1", addr).await.unwrap();
            if read_all(&mut fifth).await == refused {
                break;
            }
            assert!(Instant::now() < deadline, "no 503 for the fifth socket");
        }
        // another address is served at once
        let mut other = connect_from("127.0.0.2", addr).await.unwrap();
        other
            .write_all(b"REGISTER&*P2P-DI/1.0&*h&*Linux&*1\r\n")
            .await
            .unwrap();
        let reply = read_all(&mut other).await;
        assert!(
            reply.starts_with(b"P2P-DI/1.0&*200&*OK"),
            "{}",
            text(&reply)
        );
        drop(held);
    });
}

#[test]
fn a_host_name_over_255_bytes_is_a_bad_request() {
    let root = tempfile::tempdir().unwrap();
    let rs = start_rs_with(root.path(), "(host: Some(\"rs-host\"))");
    let long = format!("REGISTER&*P2P-DI/1.0&*{}&*Linux&*1\r\n", "h".repeat(256));
    assert_eq!(
        text(&exchange(rs.addr, long.as_bytes())),
        format!("P2P-DI/1.0&*400&*Bad Request&*rs-host&*{OS}\r\n")
    );
    let fits = format!("REGISTER&*P2P-DI/1.0&*{}&*Linux&*1\r\n", "h".repeat(255));
    cookie_of(&exchange(rs.addr, fits.as_bytes()));
}

#[test]
#[cfg_attr(not(target_os = "linux"), ignore = "reads resident memory in /proc")]
fn clients_that_never_read_a_large_document_cost_the_holder_little_memory() {
    let root = tempfile::tempdir().unwrap();
    let root = root.path();
    let rs = start_rs(root);
    let dir = root.join("b");
    std::fs::create_dir(&dir).unwrap();
    let size = 50_000_000;
    let big = document(9400, size);
    std::fs::write(dir.join("rfc9400.txt"), &big).unwrap();
    // (writes stall out after the test config's 2 s request timeout)
    let b = start_peer(root, rs.addr, &dir, "hostB", &[]);
    let pid = b.child.id();
    let before = rss_kib(pid);
    let request = b"GET&*RFC&*9400&*P2P-DI/1.0&*c&*Linux\r\n";
    let stuck: Vec<TcpStream> = (0..20)
        .map(|_| {
            let mut stream = TcpStream::connect(b.addr).unwrap();
            stream.write_all(request).unwrap();
            stream
        })
        .collect();
    // every writer fills its socket buffers and stalls; memory stays flat
    let mut peak = before;
    let settle = Instant::now();
    while settle.elapsed() < Duration::from_secs(3) {
        peak = peak.max(rss_kib(pid));
        std::thread::sleep(Duration::from_millis(100));
    }
    let grown_mib = peak.saturating_sub(before) / 1024;
    assert!(grown_mib < 64, "resident memory grew by {grown_mib} MiB");
    // an honest client is served the whole document meanwhile
    let reply = exchange(b.addr, request);
    let head = format!("P2P-DI/1.0&*200&*OK&*hostB&*{OS}&*{size}\r\n");
    assert_eq!(&reply[..head.len()], head.as_bytes());
    assert!(reply[head.len()..] == big[..], "the copy differs");
    drop(stuck);
}

/// A peer that registers as `host` and serves an index of `records`
/// records, all naming itself as holder; asked for a document, it answers
/// 404. Serves a few connections, each bounded in time.
fn hostile_holder(rs: SocketAddr, host: &'static str, records: u32) -> std::thread::JoinHandle<()> {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    cookie_of(&exchange(
        rs,
        format!("REGISTER&*P2P-DI/1.0&*{host}&*Linux&*{port}\r\n").as_bytes(),
    ));
    let mut body = String::new();
    for n in 0..records {
        body.push_str(&format!(
            "{}&*Claimed {n}&*{host}&*{port}&*7200\r\n",
            100_000 + n
        ));
    }
    body.push_str(&format!("9300&*Claimed too&*{host}&*{port}&*7200\r\n"));
    std::thread::spawn(move || {
        for stream in listener.incoming().take(4) {
            let mut stream = stream.unwrap();
            stream
                .set_read_timeout(Some(Duration::from_secs(5)))
                .unwrap();
            let mut line = String::new();
            if BufReader::new(&stream).read_line(&mut line).is_err() {
                continue;
            }
            let reply = if line.starts_with("GET&*RFC-Index") {
                format!(
                    "P2P-DI/1.0&*200&*OK&*{host}&*Linux&*{}\r\n{body}",
                    body.len()
                )
            } else {
                format!("P2P-DI/1.0&*404&*Not Found&*{host}&*Linux\r\n")
            };
            let _ = stream.write_all(reply.as_bytes());
        }
    })
}

#[test]
fn a_hostile_index_cannot_push_out_an_honest_holder() {
    let root = tempfile::tempdir().unwrap();
    let root = root.path();
    let rs = start_rs(root);
    // registered first, so listed (and asked) first
    let _hostile = hostile_holder(rs.addr, "hostile", 100_000);
    let b_dir = folder(root, "b", &[(9300, 20_000)], true);
    let b = start_peer(root, rs.addr, &b_dir, "hostB", &[]);
    let a_dir = root.join("a");
    let a = start_peer_with(
        root,
        rs.addr,
        &a_dir,
        "hostA",
        "max_index_records: 1000",
        &["--get", "9300"],
    );
    wait_until(Duration::from_secs(20), "the download", || {
        a.logged("downloads done")
    });
    assert_eq!(
        std::fs::read(a_dir.join("rfc9300.txt")).unwrap(),
        document(9300, 20_000)
    );
    // A's index stayed within its bound and kept the honest holder
    let index = text(&exchange(
        a.addr,
        b"GET&*RFC-Index&*P2P-DI/1.0&*t&*Linux\r\n",
    ));
    let lines = index.lines().count() - 1;
    assert!(lines <= 1000, "{lines} records");
    assert!(index.contains(&format!("9300&*Title of 9300&*hostB&*{}&*", b.addr.port())));
    wait_until(Duration::from_secs(5), "the refusal in the log", || {
        a.logged("remote index records refused")
    });
}

#[test]
fn a_second_peer_on_the_same_folder_refuses_to_start_naming_the_lock() {
    let root = tempfile::tempdir().unwrap();
    let root = root.path();
    let rs = start_rs(root);
    let dir = folder(root, "b", &[(9264, 100)], true);
    let first = start_peer(root, rs.addr, &dir, "hostB", &[]);
    let out = std::process::Command::new(BIN)
        .args([
            "peer",
            "--rs",
            &rs.addr.to_string(),
            "--listen",
            "127.0.0.1:0",
        ])
        .arg("--rfc-dir")
        .arg(&dir)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(err.contains("in use by another peer"), "{err}");
    assert!(
        err.contains(&dir.join(".p2p-di.lock").display().to_string()),
        "{err}"
    );
    // the first one serves on
    let reply = exchange(first.addr, b"GET&*RFC&*9264&*P2P-DI/1.0&*a&*Linux\r\n");
    assert!(reply.starts_with(b"P2P-DI/1.0&*200"));
}

#[test]
fn a_holder_logs_each_upload() {
    let root = tempfile::tempdir().unwrap();
    let root = root.path();
    let rs = start_rs(root);
    let dir = folder(root, "b", &[(9264, 12_345)], true);
    let b = start_peer(root, rs.addr, &dir, "hostB", &[]);
    let mut stream = TcpStream::connect(b.addr).unwrap();
    let client = stream.local_addr().unwrap();
    stream
        .write_all(b"GET&*RFC&*9264&*P2P-DI/1.0&*a&*Linux\r\n")
        .unwrap();
    let mut reply = Vec::new();
    stream.read_to_end(&mut reply).unwrap();
    wait_until(Duration::from_secs(5), "the upload in the log", || {
        b.messages().iter().any(|m| {
            m["msg"] == "rfc uploaded"
                && m["rfc"] == 9264
                && m["client"] == client.to_string()
                && m["bytes"].as_u64() == Some(reply.len() as u64)
                && m["elapsed_ms"].is_u64()
                && m["level"] == "INFO"
        })
    });
}

/// A tmpfs of `size` mounted on a folder of its own, unmounted when dropped
/// (lazily, so a daemon still holding it does not keep it mounted).
struct SmallDisk {
    path: std::path::PathBuf,
}

impl SmallDisk {
    /// `None` when this process may not mount (not root).
    fn mount(root: &Path, size: &str) -> Option<SmallDisk> {
        if !is_root() {
            return None;
        }
        let path = root.join("disk");
        std::fs::create_dir(&path).unwrap();
        let mounted = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "p2p-di-test"])
            .arg(&path)
            .status()
            .ok()?;
        mounted.success().then_some(SmallDisk { path })
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.path)
            .status();
    }
}

fn keepalive(rs: SocketAddr, cookie: &str) -> String {
    text(&exchange(
        rs,
        format!("KEEPALIVE&*P2P-DI/1.0&*{cookie}&*h&*Linux\r\n").as_bytes(),
    ))
}

/// Registers peers until the RS refuses; returns the cookies it
/// acknowledged and whether it ever acknowledged one after a refusal
/// while the disk was still full.
fn register_until_refused(rs: SocketAddr, first_port: u16) -> Vec<String> {
    let mut acknowledged = Vec::new();
    for port in first_port..first_port + 2000 {
        let reply = exchange(
            rs,
            format!("REGISTER&*P2P-DI/1.0&*h{port}&*Linux&*{port}\r\n").as_bytes(),
        );
        if reply.starts_with(b"P2P-DI/1.0&*200") {
            acknowledged.push(cookie_of(&reply));
        } else {
            assert!(
                reply.starts_with(b"P2P-DI/1.0&*503&*Service Unavailable"),
                "{}",
                text(&reply)
            );
            return acknowledged;
        }
    }
    panic!("the disk never filled");
}

#[test]
#[cfg_attr(not(target_os = "linux"), ignore = "mounts a small tmpfs")]
fn a_full_state_disk_is_answered_503_and_never_bricks_the_rs() {
    let root = tempfile::tempdir().unwrap();
    let Some(disk) = SmallDisk::mount(root.path(), "256k") else {
        eprintln!("skipped: mounting a tmpfs needs root (the fault-injecting writer test covers the logic)");
        return;
    };
    let state = disk.path.join("state");
    let start = |dir: &Path| {
        Daemon::start(
            &[
                "rs",
                "--listen",
                "127.0.0.1:0",
                "--state-dir",
                state.to_str().unwrap(),
            ],
            dir,
        )
    };
    let mut rs = start(root.path());
    // leave a few KiB free
    let filler = disk.path.join("filler");
    let mut file = std::fs::File::create(&filler).unwrap();
    let block = vec![0u8; 4096];
    while file.write_all(&block).is_ok() {}
    drop(file);
    let len = std::fs::metadata(&filler).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&filler)
        .unwrap()
        .set_len(len - 8192)
        .unwrap();
    let mut acknowledged = register_until_refused(rs.addr, 1000);
    // full: changes are refused, reads are served
    for port in 3000..3020 {
        let reply = exchange(
            rs.addr,
            format!("REGISTER&*P2P-DI/1.0&*x&*Linux&*{port}\r\n").as_bytes(),
        );
        if reply.starts_with(b"P2P-DI/1.0&*200") {
            // a smaller change may still fit: then it is on disk
            acknowledged.push(cookie_of(&reply));
        }
    }
    let first = acknowledged[0].clone();
    assert!(keepalive(rs.addr, &first).starts_with("P2P-DI/1.0&*200"));
    let pquery = format!("PQUERY&*P2P-DI/1.0&*{first}&*h&*Linux\r\n");
    assert!(text(&exchange(rs.addr, pquery.as_bytes())).starts_with("P2P-DI/1.0&*200"));
    wait_until(
        Duration::from_secs(5),
        "one error line for the episode",
        || {
            rs.messages()
                .iter()
                .filter(|m| {
                    m["msg"] == "journal write failed; changes are refused until it works again"
                })
                .count()
                == 1
        },
    );
    // space returns: the RS acknowledges again by itself
    std::fs::remove_file(&filler).unwrap();
    let reply = exchange(rs.addr, b"REGISTER&*P2P-DI/1.0&*back&*Linux&*4000\r\n");
    acknowledged.push(cookie_of(&reply));
    wait_until(Duration::from_secs(5), "the recovery in the log", || {
        rs.logged("journal writable again")
    });
    // and a restart on the same folder keeps every acknowledged change
    rs.kill();
    drop(rs);
    let rs = start(root.path());
    for cookie in &acknowledged {
        assert!(
            keepalive(rs.addr, cookie).starts_with("P2P-DI/1.0&*200"),
            "cookie {cookie} lost"
        );
    }
    drop(rs);
    drop(disk);
}

#[test]
fn refused_journal_writes_are_503_and_the_rs_resumes_by_itself() {
    // The same episode without root: the journal's writer is told to fail
    // its first two writes as a full disk would.
    let root = tempfile::tempdir().unwrap();
    let start = |faults: &str| {
        Daemon::start_with_env(
            &["rs", "--listen", "127.0.0.1:0", "--state-dir", "state"],
            root.path(),
            &[("P2P_DI_FAULTS", faults)],
        )
    };
    let mut rs = start("journal.disk-full=2");
    let register = |port: u16| {
        exchange(
            rs.addr,
            format!("REGISTER&*P2P-DI/1.0&*h&*Linux&*{port}\r\n").as_bytes(),
        )
    };
    let unavailable = "P2P-DI/1.0&*503&*Service Unavailable&*";
    assert!(text(&register(1)).starts_with(unavailable));
    assert!(text(&register(2)).starts_with(unavailable));
    let kept = cookie_of(&register(3));
    wait_until(Duration::from_secs(5), "the episode in the log", || {
        rs.logged("journal write failed; changes are refused until it works again")
            && rs.logged("journal writable again")
    });
    rs.kill();
    drop(rs);
    let rs = start("");
    assert!(keepalive(rs.addr, &kept).starts_with("P2P-DI/1.0&*200"));
    // the refused registrations are not there: a PQUERY lists nobody
    let pquery = format!("PQUERY&*P2P-DI/1.0&*{kept}&*h&*Linux\r\n");
    assert!(text(&exchange(rs.addr, pquery.as_bytes())).starts_with("P2P-DI/1.0&*404"));
}

#[test]
fn a_journal_writer_that_dies_makes_the_rs_exit_non_zero_and_say_why() {
    let root = tempfile::tempdir().unwrap();
    let mut rs = Daemon::start_with_env(
        &["rs", "--listen", "127.0.0.1:0", "--state-dir", "state"],
        root.path(),
        &[("P2P_DI_FAULTS", "journal.writer=1")],
    );
    // the first change reaches the writer, which panics: not acknowledged
    let mut stream = TcpStream::connect(rs.addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    stream
        .write_all(b"REGISTER&*P2P-DI/1.0&*h&*Linux&*1\r\n")
        .unwrap();
    let mut reply = Vec::new();
    let _ = stream.read_to_end(&mut reply);
    assert!(!reply.starts_with(b"P2P-DI/1.0&*200"), "{}", text(&reply));
    let status = rs.wait_exit(Duration::from_secs(10));
    assert!(!status.success());
    wait_until(Duration::from_secs(5), "the reason", || {
        rs.messages().iter().any(|m| {
            m["line"].as_str().is_some_and(|l| {
                l.contains("the journal writer failed: fault injected at journal.writer")
            })
        })
    });
}

#[test]
fn a_large_peer_list_is_a_fresh_bounded_sample_without_the_asker() {
    let root = tempfile::tempdir().unwrap();
    let rs = start_rs_with(
        root.path(),
        "(host: Some(\"rs-host\"), max_peers_per_reply: 5)",
    );
    let cookies: Vec<String> = (1..=20)
        .map(|port| {
            cookie_of(&exchange(
                rs.addr,
                format!("REGISTER&*P2P-DI/1.0&*h{port}&*Linux&*{port}\r\n").as_bytes(),
            ))
        })
        .collect();
    let pquery = format!("PQUERY&*P2P-DI/1.0&*{}&*h1&*Linux\r\n", cookies[0]);
    let mut samples = std::collections::HashSet::new();
    for _ in 0..10 {
        let reply = text(&exchange(rs.addr, pquery.as_bytes()));
        let mut lines = reply.split("\r\n");
        let head = lines.next().unwrap();
        let body: Vec<&str> = lines.filter(|l| !l.is_empty()).collect();
        assert_eq!(body.len(), 5, "{reply}");
        let length: usize = head.rsplit("&*").next().unwrap().parse().unwrap();
        assert_eq!(length, body.iter().map(|l| l.len() + 2).sum::<usize>());
        let mut hosts: Vec<&str> = body.iter().map(|l| l.split("&*").next().unwrap()).collect();
        assert!(!hosts.contains(&"h1"), "never the asker: {reply}");
        hosts.sort_unstable();
        hosts.dedup();
        assert_eq!(hosts.len(), 5, "no repeats: {reply}");
        samples.insert(hosts.join(","));
    }
    assert!(samples.len() > 1, "a fresh sample each time");
}

#[test]
fn the_registry_logs_a_stats_line_per_interval() {
    let root = tempfile::tempdir().unwrap();
    let rs = start_rs_with(root.path(), "(stats_interval_secs: 1)");
    let cookie = cookie_of(&exchange(rs.addr, b"REGISTER&*P2P-DI/1.0&*h&*Linux&*1\r\n"));
    keepalive(rs.addr, &cookie);
    wait_until(Duration::from_secs(5), "a stats line", || {
        rs.messages().iter().any(|m| {
            m["msg"] == "registry stats"
                && m["peers_active"] == 1
                && m["registered"] == 1
                && m["kept_alive"] == 1
                && m["level"] == "INFO"
        })
    });
}
