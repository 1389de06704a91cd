//! End-to-end tests of `p2p-di rs`: the real binary on 127.0.0.1.

mod common;

use common::*;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

fn rs_config(dir: &Path, extra: &str) -> String {
    let path = dir.join("rs.ron");
    std::fs::write(
        &path,
        format!("(host: Some(\"rs-host\"), limits: (request_timeout_secs: 1), {extra})"),
    )
    .unwrap();
    path.display().to_string()
}

fn start_rs(dir: &Path, extra_config: &str, args: &[&str]) -> Daemon {
    let config = rs_config(dir, extra_config);
    let mut all = vec![
        "rs",
        "--config",
        &config,
        "--listen",
        "127.0.0.1:0",
        "--state-dir",
        "state",
    ];
    all.extend_from_slice(args);
    Daemon::start(&all, dir)
}

/// An RS whose `limits` are as given (and everything else the default).
fn start_rs_limited(dir: &Path, limits: &str) -> Daemon {
    let path = dir.join("limited.ron");
    std::fs::write(
        &path,
        format!("(host: Some(\"rs-host\"), limits: ({limits}))"),
    )
    .unwrap();
    let config = path.display().to_string();
    Daemon::start(
        &[
            "rs",
            "--config",
            &config,
            "--listen",
            "127.0.0.1:0",
            "--state-dir",
            "state",
        ],
        dir,
    )
}

fn ok(extra: &str) -> String {
    format!("P2P-DI/1.0&*200&*OK&*rs-host&*{OS}{extra}\r\n")
}

fn status(code_phrase: &str) -> String {
    format!("P2P-DI/1.0&*{code_phrase}&*rs-host&*{OS}\r\n")
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn rfc3339(secs: u64) -> String {
    humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_secs(secs)).to_string()
}

fn register(addr: std::net::SocketAddr, host: &str, port: u16) -> String {
    cookie_of(&exchange(
        addr,
        format!("REGISTER&*P2P-DI/1.0&*{host}&*{OS}&*{port}\r\n").as_bytes(),
    ))
}

#[test]
fn the_life_cycle_is_exact_on_the_wire() {
    let dir = tempfile::tempdir().unwrap();
    let rs = start_rs(dir.path(), "", &[]);
    let before = unix_now();
    let b = register(rs.addr, "hostB", 65401);
    let a = register(rs.addr, "hostA", 65402);
    let after = unix_now();
    assert_ne!(a, b);
    assert!(
        a.parse::<u64>().unwrap() >= 1 << 52,
        "cookies are large: {a}"
    );

    let reply = text(&exchange(
        rs.addr,
        format!("PQUERY&*P2P-DI/1.0&*{a}&*hostA&*{OS}\r\n").as_bytes(),
    ));
    let candidates: Vec<String> = (before..=after)
        .map(|t| {
            let line = format!("hostB&*127.0.0.1&*65401&*7200&*1&*{}\r\n", rfc3339(t));
            format!("{}{line}", ok(&format!("&*{}", line.len())))
        })
        .collect();
    assert!(candidates.contains(&reply), "{reply:?}");
    assert!(!reply.contains(&b), "the list never shows a cookie");

    let keepalive = format!("KEEPALIVE&*P2P-DI/1.0&*{b}&*hostB&*{OS}\r\n");
    assert_eq!(text(&exchange(rs.addr, keepalive.as_bytes())), ok(""));
    let leave = format!("LEAVE&*P2P-DI/1.0&*{b}&*hostB&*{OS}\r\n");
    assert_eq!(text(&exchange(rs.addr, leave.as_bytes())), ok(""));
    // LEAVE again: 200, nothing changes; KEEPALIVE from the inactive peer: 403
    assert_eq!(text(&exchange(rs.addr, leave.as_bytes())), ok(""));
    assert_eq!(
        text(&exchange(rs.addr, keepalive.as_bytes())),
        status("403&*Forbidden")
    );
    let pquery_a = format!("PQUERY&*P2P-DI/1.0&*{a}&*hostA&*{OS}\r\n");
    assert_eq!(
        text(&exchange(rs.addr, pquery_a.as_bytes())),
        status("404&*No Active Peers")
    );

    // B registers again with its cookie: same cookie, two registrations
    let again = exchange(
        rs.addr,
        format!("REGISTER&*P2P-DI/1.0&*hostB&*{OS}&*65401&*{b}\r\n").as_bytes(),
    );
    assert_eq!(text(&again), ok(&format!("&*{b}")));
    let reply = text(&exchange(rs.addr, pquery_a.as_bytes()));
    assert!(
        reply.contains("hostB&*127.0.0.1&*65401&*7200&*2&*"),
        "{reply}"
    );

    // an unknown cookie: 403 and nothing changes
    let unknown = "KEEPALIVE&*P2P-DI/1.0&*12345&*hostX&*Linux\r\n";
    assert_eq!(
        text(&exchange(rs.addr, unknown.as_bytes())),
        status("403&*Forbidden")
    );
    let unknown_pq = "PQUERY&*P2P-DI/1.0&*12345&*hostX&*Linux\r\n";
    assert_eq!(
        text(&exchange(rs.addr, unknown_pq.as_bytes())),
        status("403&*Forbidden")
    );
    let unknown_leave = "LEAVE&*P2P-DI/1.0&*12345&*hostX&*Linux\r\n";
    assert_eq!(
        text(&exchange(rs.addr, unknown_leave.as_bytes())),
        status("403&*Forbidden")
    );
}

#[test]
fn every_message_head_is_logged_at_debug() {
    let dir = tempfile::tempdir().unwrap();
    let rs = start_rs(dir.path(), "", &["--log-level", "debug"]);
    let b = register(rs.addr, "hostB", 65401);
    let head = format!("REGISTER&*P2P-DI/1.0&*hostB&*{OS}&*65401");
    wait_until(Duration::from_secs(5), "the head in the log", || {
        rs.messages()
            .iter()
            .any(|m| m["msg"] == "request" && m["head"] == head.as_str())
    });
    // the log is written asynchronously: wait for the later line too
    wait_until(
        Duration::from_secs(5),
        "the registry change in the log",
        || rs.logged("peer registered"),
    );
    drop(b);
}

#[test]
fn trace_shows_connection_events_that_debug_does_not() {
    let dir = tempfile::tempdir().unwrap();
    let debug = start_rs(dir.path(), "", &["--log-level", "debug"]);
    let trace_dir = tempfile::tempdir().unwrap();
    let trace = start_rs(trace_dir.path(), "", &["--log-level", "trace"]);
    for rs in [&debug, &trace] {
        register(rs.addr, "hostB", 65401);
    }
    wait_until(Duration::from_secs(5), "trace lines", || {
        trace.logged("connection accepted") && trace.logged("connection closed")
    });
    // debug shows the head, and nothing at trace
    wait_until(Duration::from_secs(5), "the debug head", || {
        debug.logged("request")
    });
    let levels: Vec<String> = debug
        .messages()
        .iter()
        .filter_map(|m| m["level"].as_str().map(str::to_owned))
        .collect();
    assert!(!levels.iter().any(|l| l == "TRCE"), "{levels:?}");
    assert!(!debug.logged("connection accepted"));
}

#[test]
fn a_peer_expires_when_its_ttl_runs_out() {
    let dir = tempfile::tempdir().unwrap();
    let rs = start_rs(dir.path(), "", &["--ttl", "2"]);
    let a = register(rs.addr, "hostA", 1);
    let b = register(rs.addr, "hostB", 2);
    let pquery_a = format!("PQUERY&*P2P-DI/1.0&*{a}&*hostA&*{OS}\r\n");
    let reply = text(&exchange(rs.addr, pquery_a.as_bytes()));
    assert!(reply.contains("hostB&*127.0.0.1&*2&*2&*1&*"), "{reply}");
    // A keeps itself alive (PQUERY resets its TTL); B says nothing.
    let started = Instant::now();
    wait_until(Duration::from_secs(6), "B to expire", || {
        text(&exchange(rs.addr, pquery_a.as_bytes())) == status("404&*No Active Peers")
    });
    assert!(
        started.elapsed() >= Duration::from_millis(1500),
        "expired too early"
    );
    let keepalive_b = format!("KEEPALIVE&*P2P-DI/1.0&*{b}&*hostB&*{OS}\r\n");
    assert_eq!(
        text(&exchange(rs.addr, keepalive_b.as_bytes())),
        status("403&*Forbidden")
    );
    wait_until(Duration::from_secs(5), "the sweeper to log it", || {
        rs.messages()
            .iter()
            .any(|m| m["msg"] == "peers expired" && m["count"] == 1)
    });
}

#[test]
fn what_the_rs_acknowledged_survives_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let mut rs = start_rs(dir.path(), "", &[]);
    let cookies: Vec<String> = (0..20)
        .map(|i| register(rs.addr, &format!("h{i}"), 1000 + i))
        .collect();
    // h0 registers twice; h1 leaves
    let again = format!("REGISTER&*P2P-DI/1.0&*h0&*{OS}&*1000&*{}\r\n", cookies[0]);
    assert_eq!(cookie_of(&exchange(rs.addr, again.as_bytes())), cookies[0]);
    let leave = format!("LEAVE&*P2P-DI/1.0&*{}&*h1&*{OS}\r\n", cookies[1]);
    assert_eq!(text(&exchange(rs.addr, leave.as_bytes())), ok(""));
    rs.kill();
    drop(rs);

    let rs = start_rs(dir.path(), "", &[]);
    for (i, cookie) in cookies.iter().enumerate() {
        let keepalive = format!("KEEPALIVE&*P2P-DI/1.0&*{cookie}&*h{i}&*{OS}\r\n");
        let want = if i == 1 {
            status("403&*Forbidden")
        } else {
            ok("")
        };
        assert_eq!(
            text(&exchange(rs.addr, keepalive.as_bytes())),
            want,
            "peer {i}"
        );
    }
    // the left peer registers again with its cookie and keeps it
    let back = format!("REGISTER&*P2P-DI/1.0&*h1&*{OS}&*1001&*{}\r\n", cookies[1]);
    assert_eq!(cookie_of(&exchange(rs.addr, back.as_bytes())), cookies[1]);
    let pquery = format!("PQUERY&*P2P-DI/1.0&*{}&*h5&*{OS}\r\n", cookies[5]);
    let list = text(&exchange(rs.addr, pquery.as_bytes()));
    assert!(list.contains("h0&*127.0.0.1&*1000&*7200&*2&*"), "{list}");
    assert!(list.contains("h1&*127.0.0.1&*1001&*7200&*2&*"), "{list}");
    assert_eq!(list.matches("\r\n").count(), 1 + 19);
}

#[test]
fn two_hundred_concurrent_registrations_get_distinct_cookies() {
    let dir = tempfile::tempdir().unwrap();
    let rs = start_rs(dir.path(), "", &[]);
    let addr = rs.addr;
    let threads: Vec<_> = (0..200u16)
        .map(|i| std::thread::spawn(move || register(addr, &format!("p{i}"), 20_000 + i)))
        .collect();
    let mut cookies: Vec<String> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    let first = cookies[0].clone();
    cookies.sort();
    cookies.dedup();
    assert_eq!(cookies.len(), 200);
    let reply = exchange(
        addr,
        format!("PQUERY&*P2P-DI/1.0&*{first}&*p0&*{OS}\r\n").as_bytes(),
    );
    let reply = text(&reply);
    let lines: Vec<&str> = reply.split("\r\n").filter(|l| !l.is_empty()).collect();
    assert_eq!(lines.len(), 1 + 199, "head and 199 peers");
    assert!(!reply.contains("p0&*127.0.0.1&*20000&*"));
}

#[test]
fn every_error_row_is_answered_and_the_connection_closed() {
    let dir = tempfile::tempdir().unwrap();
    let rs = start_rs(dir.path(), "", &[]);
    let too_long = format!("PQUERY&*P2P-DI/1.0&*1&*{}&*Linux\r\n", "h".repeat(5000));
    let cases: Vec<(String, &str)> = vec![
        ("\r\n".into(), "400&*Bad Request"),
        (
            "REGISTER&*P2P-DI/1.0&*h&*Linux\r\n".into(),
            "400&*Bad Request",
        ),
        (
            "REGISTER&*P2P-DI/1.0&*h&*Linux&*http\r\n".into(),
            "400&*Bad Request",
        ),
        (
            "REGISTER&*P2P-DI/1.0&*&*Linux&*80\r\n".into(),
            "400&*Bad Request",
        ),
        (
            "KEEPALIVE&*P2P-DI/1.0&*-1&*h&*Linux\r\n".into(),
            "400&*Bad Request",
        ),
        (
            "KEEPALIVE&*P2P-DI/1.0&*77&*h&*Linux\r\n".into(),
            "403&*Forbidden",
        ),
        (too_long, "413&*Request Too Large"),
        (
            "GET&*RFC&*9264&*P2P-DI/1.0&*h&*Linux\r\n".into(),
            "501&*Not Implemented",
        ),
        (
            "DELETE&*P2P-DI/1.0&*1&*h&*Linux\r\n".into(),
            "501&*Not Implemented",
        ),
        (
            "REGISTER&*P2P-DI/2.0&*h&*Linux&*80\r\n".into(),
            "505&*P2P-DI Version Not Supported",
        ),
    ];
    for (request, want) in cases {
        assert_eq!(
            text(&exchange(rs.addr, request.as_bytes())),
            status(want),
            "{request:?}"
        );
    }
    // a head ended by closing the connection is a request
    let reply = exchange_eof(rs.addr, b"REGISTER&*P2P-DI/1.0&*h&*Linux&*80");
    cookie_of(&reply);
    // a connection closed before sending anything gets no reply
    assert_eq!(exchange_eof(rs.addr, b""), b"");
}

#[test]
fn a_silent_or_half_line_client_is_cut_off_and_holds_nobody_up() {
    let dir = tempfile::tempdir().unwrap();
    let rs = start_rs(dir.path(), "", &[]); // request timeout 1 s
    let mut silent = TcpStream::connect(rs.addr).unwrap();
    let mut half = TcpStream::connect(rs.addr).unwrap();
    half.write_all(b"REGISTER&*P2P-DI/1.0&*h").unwrap();
    // meanwhile others are served at once
    let served = Instant::now();
    register(rs.addr, "busy", 7);
    assert!(served.elapsed() < Duration::from_millis(900));
    for stream in [&mut silent, &mut half] {
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let mut reply = Vec::new();
        stream.read_to_end(&mut reply).unwrap();
        assert_eq!(text(&reply), status("408&*Request Timeout"));
    }
}

#[test]
fn past_the_connection_limit_a_client_gets_503_and_later_ones_are_served() {
    let dir = tempfile::tempdir().unwrap();
    let rs = start_rs_limited(dir.path(), "request_timeout_secs: 5, max_connections: 4");
    let held: Vec<TcpStream> = (0..4)
        .map(|_| TcpStream::connect(rs.addr).unwrap())
        .collect();
    // Once the four held connections are accepted, every fifth gets 503.
    let register = b"REGISTER&*P2P-DI/1.0&*h&*Linux&*80\r\n";
    wait_until(Duration::from_secs(5), "a 503", || {
        text(&exchange(rs.addr, register)) == status("503&*Service Unavailable")
    });
    drop(held);
    wait_until(Duration::from_secs(5), "a free slot", || {
        exchange(rs.addr, register).starts_with(b"P2P-DI/1.0&*200")
    });
}

#[test]
fn a_bad_config_names_file_line_and_field() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.ron");
    std::fs::write(&path, "(\n  ttl_secs: 10,\n  max_peers: \"lots\",\n)\n").unwrap();
    let out = std::process::Command::new(BIN)
        .args(["rs", "--config", path.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(err.contains("bad.ron:3:"), "{err}");
    assert!(err.contains("max_peers"), "{err}");
}

#[test]
fn a_damaged_state_stops_the_start_and_is_kept() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    std::fs::create_dir(&state).unwrap();
    // a journal record for LEAVE of cookie 1, one bit of it flipped
    let mut record = Vec::new();
    p2p_di_actors::rs::format::put_event(
        1,
        p2p_di_actors::state::registry::EventRef::Left { cookie: 1 },
        &mut record,
    );
    *record.last_mut().unwrap() ^= 0x01;
    std::fs::write(state.join("journal.0"), &record).unwrap();
    let out = std::process::Command::new(BIN)
        .args(["rs", "--listen", "127.0.0.1:0", "--state-dir"])
        .arg(&state)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(
        err.contains("journal.0:1") && err.contains("checksum"),
        "{err}"
    );
    assert!(state.join("journal.0").exists(), "never silently emptied");
}

#[test]
fn print_config_prints_a_config_that_loads() {
    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(BIN)
        .args(["rs", "--print-config"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = text(&out.stdout);
    assert!(text.contains("ttl_secs: 7200"), "{text}");
    assert!(text.contains("65423"), "{text}");
    // it loads back: start an RS from it (on an ephemeral port)
    let rs = start_rs_with(dir.path(), &text);
    register(rs.addr, "x", 1);
}

#[test]
#[cfg_attr(
    windows,
    ignore = "a console event to another process cannot be sent from a test under Wine (tests/wine.rs sends Ctrl-C from Linux)"
)]
fn sigterm_stops_the_rs_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let mut rs = start_rs(dir.path(), "", &[]);
    register(rs.addr, "x", 1);
    rs.terminate();
    let status = rs.wait_exit(Duration::from_secs(5));
    assert!(status.success(), "{status}");
}

#[test]
fn the_peer_record_cap_drops_the_oldest_inactive_record_or_answers_503() {
    let dir = tempfile::tempdir().unwrap();
    let rs = start_rs(dir.path(), "max_peers: 2", &[]);
    let a = register(rs.addr, "a", 1);
    register(rs.addr, "b", 2);
    let third = b"REGISTER&*P2P-DI/1.0&*c&*Linux&*3\r\n";
    assert_eq!(
        text(&exchange(rs.addr, third)),
        status("503&*Service Unavailable")
    );
    // once a leaves, its record makes room (and its cookie is forgotten)
    let leave = format!("LEAVE&*P2P-DI/1.0&*{a}&*a&*{OS}\r\n");
    assert_eq!(text(&exchange(rs.addr, leave.as_bytes())), ok(""));
    cookie_of(&exchange(rs.addr, third));
    let keepalive = format!("KEEPALIVE&*P2P-DI/1.0&*{a}&*a&*{OS}\r\n");
    assert_eq!(
        text(&exchange(rs.addr, keepalive.as_bytes())),
        status("403&*Forbidden")
    );
}

#[test]
fn refusals_past_the_connection_limit_are_bounded_too() {
    let dir = tempfile::tempdir().unwrap();
    let rs = start_rs_limited(dir.path(), "request_timeout_secs: 5, max_connections: 1");
    let _held = TcpStream::connect(rs.addr).unwrap();
    let busy = status("503&*Service Unavailable");
    wait_until(Duration::from_secs(5), "a 503", || {
        text(&exchange(rs.addr, b"")) == busy
    });
    // 64 refusals kept open: each read its 503 but has not closed its side
    let refused: Vec<TcpStream> = (0..64)
        .map(|_| {
            let mut stream = TcpStream::connect(rs.addr).unwrap();
            stream
                .set_read_timeout(Some(Duration::from_secs(5)))
                .unwrap();
            let mut reply = Vec::new();
            stream.read_to_end(&mut reply).unwrap();
            assert_eq!(text(&reply), busy);
            stream
        })
        .collect();
    // the next one is closed without a word
    assert_eq!(exchange(rs.addr, b""), b"");
    drop(refused);
    wait_until(Duration::from_secs(5), "503s again", || {
        text(&exchange(rs.addr, b"")) == busy
    });
}

#[test]
fn a_second_rs_on_the_same_state_folder_refuses_to_start() {
    let dir = tempfile::tempdir().unwrap();
    let rs = start_rs(dir.path(), "", &[]);
    let cookie = register(rs.addr, "a", 1);
    let out = std::process::Command::new(BIN)
        .args(["rs", "--listen", "127.0.0.1:0", "--state-dir", "state"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(
        err.contains("in use by another registration server"),
        "{err}"
    );
    // the first one is undisturbed
    let keepalive = format!("KEEPALIVE&*P2P-DI/1.0&*{cookie}&*a&*{OS}\r\n");
    assert_eq!(text(&exchange(rs.addr, keepalive.as_bytes())), ok(""));
}

#[test]
fn an_actor_that_keeps_failing_makes_the_rs_exit_non_zero_and_say_why() {
    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(BIN)
        .args(["rs", "--listen", "127.0.0.1:0", "--state-dir", "state"])
        .env("P2P_DI_FAULTS", "registry.started=1000")
        .env("RUST_BACKTRACE", "0")
        .current_dir(dir.path())
        .output()
        .unwrap();
    let err = text(&out.stderr);
    assert!(!out.status.success(), "{}: {err}", out.status);
    assert!(err.contains("supervisor gave up"), "{}: {err}", out.status);
    assert!(
        err.contains("p2p-di: error: the registration server stopped: actor registry failed more than 5 times in 30 s (last: panicked: fault injected at registry.started)"),
        "{err}"
    );
}

#[test]
fn a_listener_that_panics_is_restarted_and_serves_on() {
    let dir = tempfile::tempdir().unwrap();
    let config = rs_config(dir.path(), "");
    let rs = Daemon::start_with_env(
        &[
            "rs",
            "--config",
            &config,
            "--listen",
            "127.0.0.1:0",
            "--state-dir",
            "state",
        ],
        dir.path(),
        &[("P2P_DI_FAULTS", "listener.accept=1")],
    );
    // the first connection meets the panic and is closed without a reply
    let mut first = TcpStream::connect(rs.addr).unwrap();
    first
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    first
        .write_all(b"REGISTER&*P2P-DI/1.0&*h&*Linux&*1\r\n")
        .unwrap();
    let mut reply = Vec::new();
    match first.read_to_end(&mut reply) {
        Ok(_) => assert_eq!(text(&reply), ""),
        Err(err) => assert_eq!(err.kind(), std::io::ErrorKind::ConnectionReset),
    }
    wait_until(Duration::from_secs(5), "the restart in the log", || {
        rs.messages()
            .iter()
            .any(|m| m["msg"] == "actor failed; restarting" && m["actor"] == "listener")
    });
    register(rs.addr, "h", 1);
}

#[test]
fn a_peer_that_loops_pquery_is_answered_at_its_rate_and_others_are_not_held_up() {
    let dir = tempfile::tempdir().unwrap();
    // Ten PQUERYs a second after a burst of two.
    let rs = start_rs(
        dir.path(),
        "pquery_per_peer_per_sec: 10, pquery_burst: 2",
        &[],
    );
    let looper = register(rs.addr, "hostL", 65401);
    let other = register(rs.addr, "hostO", 65402);
    let query = format!("PQUERY&*P2P-DI/1.0&*{looper}&*hostL&*{OS}\r\n");
    let started = std::time::Instant::now();
    let mut replies = Vec::new();
    for _ in 0..4 {
        replies.push(text(&exchange(rs.addr, query.as_bytes())));
    }
    let elapsed = started.elapsed();
    // The burst is answered at once; the third and fourth 100 ms apart.
    assert!(elapsed >= Duration::from_millis(200), "{elapsed:?}");
    assert!(elapsed < Duration::from_secs(3), "{elapsed:?}");
    // Late is not different: every reply is the whole list.
    for reply in &replies {
        assert!(reply.starts_with("P2P-DI/1.0&*200&*OK"), "{reply}");
        assert!(reply.contains("hostO&*127.0.0.1&*65402"), "{reply}");
    }
    // While the looper waits for its turn, another peer is answered at once.
    let waiting = std::thread::spawn({
        let (addr, query) = (rs.addr, query.clone());
        move || {
            for _ in 0..3 {
                exchange(addr, query.as_bytes());
            }
        }
    });
    let keepalive = format!("KEEPALIVE&*P2P-DI/1.0&*{other}&*hostO&*{OS}\r\n");
    let asked = std::time::Instant::now();
    assert_eq!(text(&exchange(rs.addr, keepalive.as_bytes())), ok(""));
    assert!(
        asked.elapsed() < Duration::from_millis(100),
        "{:?}",
        asked.elapsed()
    );
    waiting.join().unwrap();
}

#[test]
#[cfg_attr(
    windows,
    ignore = "needs a Unix datagram socket as standard error to see write boundaries"
)]
fn each_log_record_is_written_whole_in_one_write() {
    // A datagram socket as standard error keeps the boundaries of the
    // daemon's writes: each datagram is one write(2).
    let (ours, theirs) = Datagrams::pair_as_stdio();
    let dir = tempfile::tempdir().unwrap();
    // Killed when dropped, so a failed assertion leaves no daemon behind.
    struct Killed(std::process::Child);
    impl Drop for Killed {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let _child = Killed(
        std::process::Command::new(BIN)
            .args([
                "rs",
                "--listen",
                "127.0.0.1:0",
                "--admin",
                "off",
                "--state-dir",
            ])
            .arg(dir.path().join("state"))
            .args(["--log-format", "json", "--log-level", "info"])
            .stdout(std::process::Stdio::null())
            .stderr(theirs)
            .spawn()
            .unwrap(),
    );
    let mut seen = Vec::new();
    while !seen.iter().any(|l: &String| l.contains("listening")) {
        let write = ours.recv();
        assert!(write.ends_with('\n'), "a record in pieces: {write:?}");
        assert_eq!(write.matches('\n').count(), 1, "{write:?}");
        serde_json::from_str::<serde_json::Value>(write.trim_end()).unwrap();
        seen.push(write);
    }
    assert!(seen.len() >= 2, "{seen:?}");
}
