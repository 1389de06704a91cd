//! End-to-end tests of `p2p-di peer`: the real binary on 127.0.0.1.

mod common;

use common::*;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::time::Duration;

fn names_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    names
}

/// The cookie the peer saved in `dir` (written just after it registered:
/// waited for).
fn saved_cookie(dir: &Path) -> String {
    let path = dir.join(".p2p-di-cookie");
    wait_until(Duration::from_secs(5), "the saved cookie", || path.exists());
    let text = std::fs::read_to_string(path).unwrap();
    text.trim().rsplit('\t').next().unwrap().to_owned()
}

/// Asserts that the RS at `rs` lists the peer `host` on `port` (asking as
/// a newly registered probe).
fn assert_listed(rs: SocketAddr, host: &str, port: u16) {
    let me = cookie_of(&exchange(rs, b"REGISTER&*P2P-DI/1.0&*probe&*Linux&*9\r\n"));
    let pquery = format!("PQUERY&*P2P-DI/1.0&*{me}&*probe&*Linux\r\n");
    let list = text(&exchange(rs, pquery.as_bytes()));
    assert!(
        list.contains(&format!("{host}&*127.0.0.1&*{port}&*")),
        "{list}"
    );
}

fn wait_for_file(path: &Path) {
    wait_until(
        Duration::from_secs(15),
        &format!("{}", path.display()),
        || path.exists(),
    );
}

#[test]
fn the_testing_scenario_runs_as_the_original_describes() {
    let root = tempfile::tempdir().unwrap();
    let root = root.path();
    let rs = start_rs(root);
    let b_dir = folder(root, "b", &[(9264, 30_000), (9265, 12_000)], true);
    let a_dir = root.join("a");
    let mut b = start_peer(root, rs.addr, &b_dir, "hostB", &[]);
    let a = start_peer(root, rs.addr, &a_dir, "hostA", &["--get", "9264"]);

    // A gets a byte-identical copy, titled from B's index record
    wait_for_file(&a_dir.join("rfc9264.txt"));
    wait_until(Duration::from_secs(10), "the download to finish", || {
        a.logged("downloads done")
    });
    assert_eq!(
        std::fs::read(a_dir.join("rfc9264.txt")).unwrap(),
        document(9264, 30_000)
    );
    assert_eq!(
        std::fs::read_to_string(a_dir.join("titles.tsv")).unwrap(),
        "9264\tTitle of 9264\n"
    );
    assert_eq!(
        names_in(&a_dir),
        [
            ".p2p-di-cookie",
            ".p2p-di.admin",
            ".p2p-di.lock",
            "rfc9264.txt",
            "titles.tsv"
        ]
    );

    // every message head was logged at debug by the daemon that received it
    let heads = |d: &Daemon| -> Vec<String> {
        d.messages()
            .iter()
            .filter(|m| m["msg"] == "request")
            .map(|m| m["head"].as_str().unwrap().to_owned())
            .collect()
    };
    // ... requests by the RFC server, responses by the client side
    let responses: Vec<String> = a
        .messages()
        .iter()
        .filter(|m| m["msg"] == "response")
        .map(|m| m["head"].as_str().unwrap().to_owned())
        .collect();
    assert!(
        responses.contains(&format!("P2P-DI/1.0&*200&*OK&*hostB&*{OS}&*30000")),
        "{responses:?}"
    );
    // the RS's peer list: one line, `hostB&*127.0.0.1&*PORT&*7200&*1&*TIME`
    // with a 20-byte RFC 3339 time (TTL 7199 or 7200: four digits either way)
    let list_len = format!("hostB&*127.0.0.1&*{}&*7200&*1&*", b.addr.port()).len() + 20 + 2;
    assert!(
        responses
            .iter()
            .any(|h| h.starts_with("P2P-DI/1.0&*200&*OK&*")
                && h.ends_with(&format!("&*{OS}&*{list_len}"))),
        "{responses:?}"
    );
    // B's log is another process's, written asynchronously: wait for it
    wait_until(Duration::from_secs(5), "B's log of A's requests", || {
        let b_heads = heads(&b);
        b_heads.contains(&format!("GET&*RFC-Index&*P2P-DI/1.0&*hostA&*{OS}"))
            && b_heads.contains(&format!("GET&*RFC&*9264&*P2P-DI/1.0&*hostA&*{OS}"))
    });

    // A serves what it downloaded, naming itself as holder
    let index = text(&exchange(
        a.addr,
        b"GET&*RFC-Index&*P2P-DI/1.0&*t&*Linux\r\n",
    ));
    let line = format!("9264&*Title of 9264&*hostA&*{}&*7200\r\n", a.addr.port());
    assert!(index.contains(&line), "{index}");

    // B leaves (on SIGTERM); A's next PQUERY is told no peer is active
    b.leave_and_stop();
    wait_until(Duration::from_secs(5), "B's log of its LEAVE", || {
        b.logged("left the RS")
    });
    let pquery = format!(
        "PQUERY&*P2P-DI/1.0&*{}&*hostA&*Linux\r\n",
        saved_cookie(&a_dir)
    );
    let reply = text(&exchange(rs.addr, pquery.as_bytes()));
    assert!(
        reply.starts_with("P2P-DI/1.0&*404&*No Active Peers&*"),
        "{reply}"
    );
}

#[test]
fn the_index_and_documents_are_served_exactly() {
    let root = tempfile::tempdir().unwrap();
    let root = root.path();
    let rs = start_rs(root);
    let dir = folder(root, "b", &[(9265, 5000), (9264, 7000)], true);
    // a document with no titles.tsv line takes its title from its text
    std::fs::write(dir.join("rfc1.txt"), document(1, 100)).unwrap();
    let b = start_peer(root, rs.addr, &dir, "hostB", &[]);
    let port = b.addr.port();
    let body = format!(
        "1&*Fixture Document 1&*hostB&*{port}&*7200\r\n\
         9264&*Title of 9264&*hostB&*{port}&*7200\r\n\
         9265&*Title of 9265&*hostB&*{port}&*7200\r\n"
    );
    let reply = exchange(b.addr, b"GET&*RFC-Index&*P2P-DI/1.0&*hostA&*Linux\r\n");
    assert_eq!(
        text(&reply),
        format!("P2P-DI/1.0&*200&*OK&*hostB&*{OS}&*{}\r\n{body}", body.len())
    );
    let reply = exchange(b.addr, b"GET&*RFC&*9264&*P2P-DI/1.0&*hostA&*Linux\r\n");
    let mut want = format!("P2P-DI/1.0&*200&*OK&*hostB&*{OS}&*7000\r\n").into_bytes();
    want.extend_from_slice(&document(9264, 7000));
    assert_eq!(reply, want);
}

#[test]
fn every_error_row_is_answered_by_the_rfc_server() {
    let root = tempfile::tempdir().unwrap();
    let root = root.path();
    let rs = start_rs(root);
    let dir = folder(root, "b", &[(9264, 100)], true);
    let b = start_peer(root, rs.addr, &dir, "hostB", &[]);
    let status = |s: &str| format!("P2P-DI/1.0&*{s}&*hostB&*{OS}\r\n");
    let too_long = format!(
        "GET&*RFC-Index&*P2P-DI/1.0&*{}&*Linux\r\n",
        "h".repeat(5000)
    );
    let cases: Vec<(String, String)> = vec![
        (
            "GET&*RFC&*9999&*P2P-DI/1.0&*a&*Linux\r\n".into(),
            status("404&*Not Found"),
        ),
        (
            "GET&*RFC&*../rfc9264.txt&*P2P-DI/1.0&*a&*Linux\r\n".into(),
            status("400&*Bad Request"),
        ),
        (
            "GET&*RFC&*9264&*P2P-DI/1.0&*a\r\n".into(),
            status("400&*Bad Request"),
        ),
        (
            "GET&*RFCS&*P2P-DI/1.0&*a&*Linux\r\n".into(),
            status("400&*Bad Request"),
        ),
        (too_long, status("413&*Request Too Large")),
        (
            "REGISTER&*P2P-DI/1.0&*a&*Linux&*1\r\n".into(),
            status("501&*Not Implemented"),
        ),
        (
            "GET&*RFC&*9264&*P2P-DI/2.0&*a&*Linux\r\n".into(),
            status("505&*P2P-DI Version Not Supported"),
        ),
    ];
    for (request, want) in cases {
        assert_eq!(
            text(&exchange(b.addr, request.as_bytes())),
            want,
            "{request:?}"
        );
    }
    // silence is cut off after the request limit (2 s here)
    let mut idle = TcpStream::connect(b.addr).unwrap();
    idle.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut reply = Vec::new();
    idle.read_to_end(&mut reply).unwrap();
    assert_eq!(text(&reply), status("408&*Request Timeout"));
}

#[test]
fn sixty_four_concurrent_downloads_are_all_byte_identical() {
    let root = tempfile::tempdir().unwrap();
    let root = root.path();
    let rs = start_rs(root);
    let dir = folder(root, "b", &[(9293, 400_000)], true);
    let b = start_peer(root, rs.addr, &dir, "hostB", &[]);
    let mut want = format!("P2P-DI/1.0&*200&*OK&*hostB&*{OS}&*400000\r\n").into_bytes();
    want.extend_from_slice(&document(9293, 400_000));
    let addr = b.addr;
    let threads: Vec<_> = (0..64)
        .map(|_| {
            std::thread::spawn(move || exchange(addr, b"GET&*RFC&*9293&*P2P-DI/1.0&*c&*Linux\r\n"))
        })
        .collect();
    for thread in threads {
        assert!(thread.join().unwrap() == want, "a copy differs");
    }
}

/// How a fake holder fails when asked for the document.
#[derive(Clone, Copy)]
enum Fault {
    /// Sends the head and half the body, then closes.
    HalfBody,
    /// Says nothing (until the client gives up).
    Silent,
    /// Answers 404 Not Found although its index lists the document.
    NotFound,
}

/// A fake peer that registers with the RS as `host`, lists RFC `number`
/// in its index and, asked for it, fails as `fault` says.
fn faulty_holder(
    rs: SocketAddr,
    host: &'static str,
    number: u32,
    size: usize,
    fault: Fault,
) -> std::thread::JoinHandle<()> {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    cookie_of(&exchange(
        rs,
        format!("REGISTER&*P2P-DI/1.0&*{host}&*Linux&*{port}\r\n").as_bytes(),
    ));
    std::thread::spawn(move || {
        // serve at most a few connections, each bounded in time
        for stream in listener.incoming().take(4) {
            let mut stream = stream.unwrap();
            stream
                .set_read_timeout(Some(Duration::from_secs(5)))
                .unwrap();
            let mut line = String::new();
            if BufReader::new(&stream).read_line(&mut line).is_err() {
                continue;
            }
            if line.starts_with("GET&*RFC-Index") {
                let body = format!("{number}&*A copy&*{host}&*{port}&*7200\r\n");
                let head = format!("P2P-DI/1.0&*200&*OK&*{host}&*Linux&*{}\r\n", body.len());
                let _ = stream.write_all(format!("{head}{body}").as_bytes());
                continue;
            }
            match fault {
                Fault::HalfBody => {
                    let head = format!("P2P-DI/1.0&*200&*OK&*{host}&*Linux&*{size}\r\n");
                    let _ = stream.write_all(head.as_bytes());
                    let _ = stream.write_all(&document(number, size)[..size / 2]);
                }
                Fault::Silent => {
                    // hold the connection until the client closes it
                    let mut sink = Vec::new();
                    let _ = stream.read_to_end(&mut sink);
                }
                Fault::NotFound => {
                    let reply = format!("P2P-DI/1.0&*404&*Not Found&*{host}&*Linux\r\n");
                    let _ = stream.write_all(reply.as_bytes());
                }
            }
            return;
        }
    })
}

#[test]
fn a_holder_cut_off_mid_transfer_leaves_no_file_and_another_holder_is_used() {
    let root = tempfile::tempdir().unwrap();
    let root = root.path();
    let rs = start_rs(root);
    // the liar registers first, so it is first on the peer list
    let liar = faulty_holder(rs.addr, "liar", 9300, 50_000, Fault::HalfBody);
    let c_dir = folder(root, "c", &[(9300, 50_000)], true);
    let _c = start_peer(root, rs.addr, &c_dir, "hostC", &[]);
    let a_dir = root.join("a");
    let a = start_peer(root, rs.addr, &a_dir, "hostA", &["--get", "9300"]);
    wait_until(Duration::from_secs(15), "the download", || {
        a.logged("downloads done")
    });
    liar.join().unwrap();
    assert_eq!(
        std::fs::read(a_dir.join("rfc9300.txt")).unwrap(),
        document(9300, 50_000)
    );
    assert_eq!(
        names_in(&a_dir),
        [
            ".p2p-di-cookie",
            ".p2p-di.admin",
            ".p2p-di.lock",
            "rfc9300.txt",
            "titles.tsv"
        ]
    );
    let done = a
        .messages()
        .into_iter()
        .find(|m| m["msg"] == "rfc downloaded")
        .unwrap();
    assert_eq!(done["failed_attempts"], 1, "{done}");
    assert_eq!(done["holder"], format!("hostC:{}", _c.addr.port()));
}

#[test]
fn an_rs_that_comes_up_later_is_joined() {
    let root = tempfile::tempdir().unwrap();
    let root = root.path();
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let rs_addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let dir = folder(root, "b", &[(9264, 100)], true);
    let config = peer_config(root, "");
    let (rs_text, dir_text) = (rs_addr.to_string(), dir.display().to_string());
    let b = Daemon::start(
        &[
            "peer",
            "--config",
            &config,
            "--rs",
            &rs_text,
            "--listen",
            "127.0.0.1:0",
            "--rfc-dir",
            &dir_text,
            "--host",
            "hostB",
        ],
        root,
    );
    // the RFC server serves while the RS is away
    let reply = exchange(b.addr, b"GET&*RFC&*9264&*P2P-DI/1.0&*a&*Linux\r\n");
    assert!(reply.starts_with(b"P2P-DI/1.0&*200"));
    wait_until(Duration::from_secs(5), "a failed try", || {
        b.logged("registration failed; retrying")
    });
    let rs = Daemon::start(
        &["rs", "--listen", &rs_text, "--state-dir", "rs-state"],
        root,
    );
    wait_until(Duration::from_secs(10), "the join", || {
        b.logged("registered with the RS")
    });
    assert_listed(rs.addr, "hostB", b.addr.port());
}

#[test]
fn a_restarted_peer_reuses_its_saved_cookie() {
    let root = tempfile::tempdir().unwrap();
    let root = root.path();
    let rs = start_rs(root);
    let dir = folder(root, "b", &[(9264, 100)], true);
    let mut b = start_peer(root, rs.addr, &dir, "hostB", &[]);
    let first = saved_cookie(&dir);
    b.leave_and_stop();
    let _b = start_peer(root, rs.addr, &dir, "hostB", &[]);
    assert_eq!(saved_cookie(&dir), first);
}

#[test]
fn a_document_nobody_holds_fails_cleanly_and_the_peer_keeps_serving() {
    let root = tempfile::tempdir().unwrap();
    let root = root.path();
    let rs = start_rs(root);
    let b_dir = folder(root, "b", &[(9264, 100)], true);
    let _b = start_peer(root, rs.addr, &b_dir, "hostB", &[]);
    let a_dir = folder(root, "a", &[(1, 100)], true);
    let a = start_peer(root, rs.addr, &a_dir, "hostA", &["--get", "4242"]);
    wait_until(Duration::from_secs(10), "the failure", || {
        a.logged("rfc download failed")
    });
    assert!(!a_dir.join("rfc4242.txt").exists());
    let reply = exchange(a.addr, b"GET&*RFC&*1&*P2P-DI/1.0&*x&*Linux\r\n");
    assert!(reply.starts_with(b"P2P-DI/1.0&*200"));
}

#[test]
fn a_download_falls_back_past_a_refused_a_silent_and_a_refusing_holder() {
    let root = tempfile::tempdir().unwrap();
    let root = root.path();
    let rs = start_rs(root);
    // Listed before the real holder, in this order: a peer whose port is
    // closed, a holder that never answers, and one that answers 404.
    let closed = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    cookie_of(&exchange(
        rs.addr,
        format!("REGISTER&*P2P-DI/1.0&*gone&*Linux&*{closed}\r\n").as_bytes(),
    ));
    let silent = faulty_holder(rs.addr, "silent", 9301, 20_000, Fault::Silent);
    let refusing = faulty_holder(rs.addr, "refusing", 9301, 20_000, Fault::NotFound);
    let c_dir = folder(root, "c", &[(9301, 20_000)], true);
    let c = start_peer(root, rs.addr, &c_dir, "hostC", &[]);
    let a_dir = root.join("a");
    // transfer_timeout_secs is 5 in the test config: the silent one costs that
    let a = start_peer(root, rs.addr, &a_dir, "hostA", &["--get", "9301"]);
    wait_until(Duration::from_secs(20), "the download", || {
        a.logged("downloads done")
    });
    silent.join().unwrap();
    refusing.join().unwrap();
    assert_eq!(
        std::fs::read(a_dir.join("rfc9301.txt")).unwrap(),
        document(9301, 20_000)
    );
    let done = a
        .messages()
        .into_iter()
        .find(|m| m["msg"] == "rfc downloaded")
        .unwrap();
    assert_eq!(done["holder"], format!("hostC:{}", c.addr.port()));
    // the closed port fails at its index; the other two at the document
    assert_eq!(done["failed_attempts"], 3, "{done}");
    assert!(
        done["elapsed_ms"].as_u64().unwrap() >= 4_900,
        "the silent holder timed out"
    );
}

#[test]
fn a_peer_registers_again_when_the_rs_forgets_it() {
    let root = tempfile::tempdir().unwrap();
    let root = root.path();
    let mut rs = start_rs(root);
    let rs_addr = rs.addr.to_string();
    let dir = folder(root, "b", &[(9264, 100)], true);
    let b = start_peer(root, rs.addr, &dir, "hostB", &[]);
    let first = saved_cookie(&dir);
    // The RS comes back on the same port with an empty state: it answers
    // the next KEEPALIVE 403, and the peer registers again.
    rs.kill();
    let rs = Daemon::start(
        &["rs", "--listen", &rs_addr, "--state-dir", "other-state"],
        root,
    );
    wait_until(Duration::from_secs(15), "a new cookie", || {
        dir.join(".p2p-di-cookie").exists() && saved_cookie(&dir) != first
    });
    wait_until(
        Duration::from_secs(5),
        "the log of the failed keepalive",
        || b.logged("keepalive failed; registering again"),
    );
    assert_listed(rs.addr, "hostB", b.addr.port());
}

#[test]
fn an_upload_cap_paces_what_the_rfc_server_sends() {
    let root = tempfile::tempdir().unwrap();
    let root = root.path();
    let rs = start_rs(root);
    // 1 MB/s, with a burst of 100 KB: 1 MB takes at least 0.9 s
    let b = start_slow_holder(root, rs.addr, 9264, 1_000_000);
    let clock = std::time::Instant::now();
    let reply = exchange(b.addr, b"GET&*RFC&*9264&*P2P-DI/1.0&*a&*Linux\r\n");
    let took = clock.elapsed();
    assert_eq!(
        reply.len(),
        1_000_000 + format!("P2P-DI/1.0&*200&*OK&*hostB&*{OS}&*1000000\r\n").len()
    );
    assert!(
        took >= Duration::from_millis(880),
        "{took:?}: faster than the cap allows"
    );
    assert!(
        took < Duration::from_secs(5),
        "{took:?}: far slower than the cap"
    );
}

#[test]
fn a_download_cap_paces_what_the_downloader_receives() {
    let root = tempfile::tempdir().unwrap();
    let root = root.path();
    let rs = start_rs(root);
    let b_dir = folder(root, "b", &[(9264, 1_000_000)], true);
    let _b = start_peer(root, rs.addr, &b_dir, "hostB", &[]);
    let a_dir = root.join("a");
    let a = start_peer_with(
        root,
        rs.addr,
        &a_dir,
        "hostA",
        "download_limit_bytes_per_sec: Some(1000000)",
        &["--get", "9264"],
    );
    wait_until(Duration::from_secs(10), "the download", || {
        a.logged("rfc downloaded")
    });
    let done = a
        .messages()
        .into_iter()
        .find(|m| m["msg"] == "rfc downloaded")
        .unwrap();
    let elapsed_ms = done["elapsed_ms"].as_u64().unwrap();
    assert!(
        elapsed_ms >= 880,
        "{elapsed_ms} ms: faster than the cap allows"
    );
    assert_eq!(
        std::fs::read(a_dir.join("rfc9264.txt")).unwrap(),
        document(9264, 1_000_000)
    );
}

#[test]
fn a_refresh_while_busy_fetches_a_sample_of_the_indexes() {
    let root = tempfile::tempdir().unwrap();
    let rs = start_rs(root.path());
    // B sends a 2 MB document at 1 MB/s: A's download runs about two
    // seconds, refreshing every 50 ms meanwhile. C, D and E are active too.
    let _b = start_slow_holder(root.path(), rs.addr, 42, 2_000_000);
    let _others: Vec<Daemon> = ["hostC", "hostD", "hostE"]
        .iter()
        .map(|host| start_peer(root.path(), rs.addr, &root.path().join(host), host, &[]))
        .collect();
    let a = start_peer_with(
        root.path(),
        rs.addr,
        &root.path().join("a"),
        "hostA",
        // Each refresh asks the RS (no shared list), so PQUERYs count them.
        "refresh_index_ms: 50, refresh_index_peers: 1, peer_list_max_age_ms: 0",
        &[],
    );
    let started = http(a.admin(), "POST", "/downloads", &[], Some("{\"rfc\": 42}"));
    assert_eq!(started.status, 202, "{}", started.body);
    let id = started.json()["downloads"][0]["id"].as_u64().unwrap();
    wait_until(Duration::from_secs(20), "the download to end", || {
        let state = get_json(a.admin(), &format!("/downloads/{id}"))["state"].clone();
        state != "waiting" && state != "running"
    });
    let text = http(a.admin(), "GET", "/metrics", &[], None).body;
    let count = |kind: &str| {
        metric(
            &text,
            &format!("p2pdi_peer_discovery_exchanges_total{{kind=\"{kind}\"}}"),
        )
        .unwrap_or(0.0)
    };
    let (pqueries, indexes) = (count("pquery"), count("index"));
    // It refreshed many times while the download ran...
    assert!(pqueries >= 5.0, "{pqueries} PQUERYs");
    // ...each time fetching one index (a sample of one of the four peers),
    // beyond the up to four the download fetched to find B.
    assert!(
        indexes <= pqueries + 4.0,
        "{indexes} indexes, {pqueries} PQUERYs"
    );
}
