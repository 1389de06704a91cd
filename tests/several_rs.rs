//! Peers with several registration servers, and peers that outlive them:
//! two RSs and peers driven through `p2p-di ctl`, the real binary over
//! 127.0.0.1.

mod common;

use common::*;
use std::net::TcpListener;
use std::path::Path;
use std::time::{Duration, Instant};

/// A peer's status.
fn status(peer: &Daemon) -> serde_json::Value {
    get_json(peer.admin(), "/status")
}

/// Whether `peer` sees the RS at index `i` of its list as reachable.
fn reachable(peer: &Daemon, i: usize) -> serde_json::Value {
    status(peer)["rs"][i]["reachable"].clone()
}

/// Records of `host` on the RS `rs`.
fn records_of(rs: &Daemon, host: &str) -> Vec<serde_json::Value> {
    get_json(rs.admin(), "/peers?limit=1000")["peers"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["host"] == host)
        .cloned()
        .collect()
}

/// Waits until `peer` logged its registration with `n` RSs.
fn wait_registered(peer: &Daemon, n: usize) {
    wait_until(Duration::from_secs(10), "registrations", || {
        peer.messages()
            .iter()
            .filter(|m| m["msg"] == "registered with the RS")
            .count()
            >= n
    });
}

/// A port nothing listens on.
fn dead_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Waits until `peer`'s current peer list is older than `ms`, so that
/// the next download asks the RSs again instead of sharing it.
fn wait_list_older_than(peer: &Daemon, ms: u64) {
    wait_until(Duration::from_secs(5), "the peer list aged", || {
        status(peer)["peer_list"]["age_ms"]
            .as_u64()
            .is_some_and(|age| age > ms)
    });
}

fn timed_get(peer: &Daemon, rfc: &str, cwd: &Path) -> (Run, Duration) {
    let clock = Instant::now();
    let run = ctl(peer.admin(), &["get", rfc], cwd);
    (run, clock.elapsed())
}

#[test]
fn downloads_go_on_with_one_rs_gone_then_both_then_fail_cleanly_without_the_holder() {
    let root = tempfile::tempdir().unwrap();
    let cwd = root.path();
    let mut rs1 = start_rs_at(cwd, "rs1", "127.0.0.1:0");
    let mut rs2 = start_rs_at(cwd, "rs2", "127.0.0.1:0");
    let both = format!("{},{}", rs1.addr, rs2.addr);
    let docs: Vec<(u32, usize)> = (1..=6).map(|n| (n, 2000 + n as usize)).collect();
    let b_dir = folder(cwd, "b", &docs, true);
    let mut b = start_peer_with(cwd, &both, &b_dir, "hostB", "", &[]);
    let a = start_peer_with(
        cwd,
        &both,
        &cwd.join("a"),
        "hostA",
        "peer_list_max_age_ms: 200",
        &[],
    );
    wait_registered(&a, 2);
    wait_registered(&b, 2);
    for rs in [&rs1, &rs2] {
        assert_eq!(records_of(rs, "hostA").len(), 1);
        assert_eq!(records_of(rs, "hostB").len(), 1);
    }
    let (got, _) = timed_get(&a, "1", cwd);
    assert!(got.ok(), "{got:?}");
    assert_eq!(status(&a)["peer_list"]["aged"], false);

    // The first RS dies: the second's list serves, and the first is
    // remembered as down (the next download does not pay for it again).
    rs1.kill();
    wait_list_older_than(&a, 200);
    let (got, first) = timed_get(&a, "2", cwd);
    assert!(got.ok(), "{got:?}");
    assert!(first < Duration::from_secs(3), "{first:?}");
    wait_until(Duration::from_secs(5), "RS 1 seen down", || {
        reachable(&a, 0) == false
    });
    assert_eq!(reachable(&a, 1), true);
    assert!(status(&a)["rs"][0]["since"].is_string());
    let (got, next) = timed_get(&a, "3", cwd);
    assert!(got.ok(), "{got:?}");
    assert!(next < Duration::from_secs(3), "{next:?}");

    // Both RSs die: the last list serves, aged, and the peer says so once.
    rs2.kill();
    wait_list_older_than(&a, 200);
    for rfc in ["4", "5"] {
        let (got, took) = timed_get(&a, rfc, cwd);
        assert!(got.ok(), "{rfc}: {got:?}");
        assert!(took < Duration::from_secs(5), "{took:?}");
    }
    let shown = status(&a);
    assert_eq!(shown["peer_list"]["aged"], true, "{shown}");
    assert!(
        shown["peer_list"]["age_ms"].as_u64().unwrap() > 0,
        "{shown}"
    );
    assert_eq!(shown["rs"][1]["reachable"], false, "{shown}");
    let warned = a
        .messages()
        .iter()
        .filter(|m| m["msg"] == "no RS answers; working from the last peer list")
        .count();
    assert_eq!(warned, 1);
    let metrics = http(a.admin(), "GET", "/metrics", &[], None).body;
    for rs in [rs1.addr, rs2.addr] {
        let series = format!("p2pdi_peer_rs_reachable{{rs=\"{rs}\"}}");
        assert_eq!(metric(&metrics, &series), Some(0.0), "{series}\n{metrics}");
    }
    assert!(metric(&metrics, "p2pdi_peer_list_age_seconds").unwrap() > 0.0);

    // The holder dies too: the download fails, cleanly and soon.
    b.kill();
    let (failed, took) = timed_get(&a, "6", cwd);
    assert_eq!(failed.code, Some(1), "{failed:?}");
    assert!(failed.stdout.contains("failed"), "{failed:?}");
    assert!(took < Duration::from_secs(5), "{took:?}");

    // The second RS comes back on its state: the peer is reachable there
    // again (its cookie still holds), and the list is current again.
    let rs2_again = start_rs_at(cwd, "rs2", &rs2.addr.to_string());
    wait_until(Duration::from_secs(10), "RS 2 answering again", || {
        reachable(&a, 1) == true
    });
    let peers = ctl(a.admin(), &["peers"], cwd);
    assert!(peers.ok(), "{peers:?}");
    assert_eq!(status(&a)["peer_list"]["aged"], false);
    assert_eq!(records_of(&rs2_again, "hostA").len(), 1);
    assert!(a.logged("an RS answered again; the peer list is current"));
}

#[test]
fn a_cookie_is_kept_for_each_rs_and_used_again_after_a_restart() {
    let root = tempfile::tempdir().unwrap();
    let cwd = root.path();
    let rs1 = start_rs_at(cwd, "rs1", "127.0.0.1:0");
    let rs2 = start_rs_at(cwd, "rs2", "127.0.0.1:0");
    let both = format!("{},{}", rs1.addr, rs2.addr);
    let a_dir = cwd.join("a");
    let mut a = start_peer_with(cwd, &both, &a_dir, "hostA", "", &[]);
    wait_registered(&a, 2);
    a.leave_and_stop();
    let cookies = std::fs::read_to_string(a_dir.join(".p2p-di-cookie")).unwrap();
    assert_eq!(cookies.lines().count(), 2, "{cookies}");
    let a = start_peer_with(cwd, &both, &a_dir, "hostA", "", &[]);
    wait_registered(&a, 2);
    for rs in [&rs1, &rs2] {
        let records = records_of(rs, "hostA");
        assert_eq!(
            records.len(),
            1,
            "one record, registered again: {records:?}"
        );
        assert_eq!(records[0]["registrations_30d"], 2);
        assert_eq!(records[0]["active"], true);
    }
}

#[test]
fn get_with_a_dead_rs_first_in_its_list_downloads_from_the_next() {
    let root = tempfile::tempdir().unwrap();
    let cwd = root.path();
    let rs = start_rs(cwd);
    let b_dir = folder(cwd, "b", &[(7, 3000)], true);
    let _b = start_peer(cwd, rs.addr, &b_dir, "hostB", &[]);
    let list = format!("127.0.0.1:{},{}", dead_port(), rs.addr);
    let clock = Instant::now();
    let got = run(
        &[
            "get",
            "7",
            "--rs",
            &list,
            "--rfc-dir",
            "c",
            "--timeout",
            "20",
        ],
        cwd,
    );
    assert!(got.ok(), "{got:?}");
    assert!(
        clock.elapsed() < Duration::from_secs(10),
        "{:?}",
        clock.elapsed()
    );
    assert_eq!(
        std::fs::read(cwd.join("c/rfc7.txt")).unwrap(),
        document(7, 3000)
    );
}

#[test]
fn a_bad_or_repeated_rs_is_refused_by_name() {
    let root = tempfile::tempdir().unwrap();
    let cwd = root.path();
    let bad = run(
        &["peer", "--rs", "127.0.0.1:1,localhost", "--print-config"],
        cwd,
    );
    assert_eq!(bad.code, Some(2), "{bad:?}");
    assert!(bad.stderr.contains("\"localhost\" has no port"), "{bad:?}");
    let twice = run(
        &["peer", "--rs", "127.0.0.1:1,127.0.0.1:1", "--print-config"],
        cwd,
    );
    assert_eq!(twice.code, Some(1), "{twice:?}");
    assert!(
        twice
            .stderr
            .contains("command line: rs names \"127.0.0.1:1\" twice"),
        "{twice:?}"
    );
    // A config file may give one RS as a string, or a list.
    for (text, shown) in [
        ("(rs: \"a.example:1\")", "a.example:1"),
        ("(rs: [\"a.example:1\", \"b.example:2\"])", "b.example:2"),
    ] {
        std::fs::write(cwd.join("p.ron"), text).unwrap();
        let printed = run(&["peer", "--config", "p.ron", "--print-config"], cwd);
        assert!(printed.ok(), "{printed:?}");
        assert!(printed.stdout.contains(shown), "{printed:?}");
    }
    std::fs::write(cwd.join("p.ron"), "(rs: [])").unwrap();
    let none = run(&["peer", "--config", "p.ron", "--print-config"], cwd);
    assert!(
        none.stderr
            .contains("p.ron:1: rs must name at least one RS"),
        "{none:?}"
    );
}

/// PQUERYs the RS answered, from its metrics.
fn pqueries(rs: &Daemon) -> f64 {
    let text = http(rs.admin(), "GET", "/metrics", &[], None).body;
    ["200", "404"]
        .iter()
        .filter_map(|status| {
            metric(
                &text,
                &format!(
                    "p2pdi_requests_total{{role=\"rs\",method=\"pquery\",status=\"{status}\"}}"
                ),
            )
        })
        .sum()
}

#[test]
fn one_peer_list_serves_a_burst_of_downloads_and_an_age_of_zero_asks_for_each() {
    let root = tempfile::tempdir().unwrap();
    let cwd = root.path();
    let rs = start_rs(cwd);
    let docs: Vec<(u32, usize)> = (1..=40).map(|n| (n, 1000)).collect();
    let b_dir = folder(cwd, "b", &docs, true);
    let _b = start_peer(cwd, rs.addr, &b_dir, "hostB", &[]);
    for (name, age, burst) in [("a", "", true), ("z", "peer_list_max_age_ms: 0", false)] {
        let peer = start_peer_with(cwd, rs.addr, &cwd.join(name), name, age, &[]);
        let before = pqueries(&rs);
        let clock = Instant::now();
        let got = ctl(peer.admin(), &["get", "1-40"], cwd);
        let secs = clock.elapsed().as_secs_f64();
        assert!(got.ok(), "{got:?}");
        let asked = pqueries(&rs) - before;
        if burst {
            // One round a second at most (and the first).
            assert!(asked <= secs.ceil() + 1.0, "{asked} PQUERYs in {secs:.1} s");
        } else {
            assert!(asked >= 40.0, "{asked} PQUERYs for 40 downloads");
        }
    }
}

#[test]
fn an_rs_that_accepts_and_never_answers_does_not_hold_a_download_up() {
    let root = tempfile::tempdir().unwrap();
    let cwd = root.path();
    let rs = start_rs(cwd);
    // Connections to it are accepted by the kernel and never answered.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let list = format!("{},{}", silent.local_addr().unwrap(), rs.addr);
    let b_dir = folder(cwd, "b", &[(1, 1000), (2, 1000)], true);
    let _b = start_peer(cwd, rs.addr, &b_dir, "hostB", &[]);
    // Exchanges time out after 5 s (the test config).
    let a = start_peer_with(cwd, &list, &cwd.join("a"), "hostA", "", &[]);
    for rfc in ["1", "2"] {
        let (got, took) = timed_get(&a, rfc, cwd);
        assert!(got.ok(), "{got:?}");
        assert!(took < Duration::from_secs(2), "{rfc}: {took:?}");
    }
}
