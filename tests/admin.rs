//! The admin endpoint, `p2p-di ctl`, `p2p-di index` and `p2p-di get`,
//! against the real binary over 127.0.0.1.

mod common;

use common::*;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// RS, peer A (empty) and peer B (RFCs 9264 and 9265): the contract's
/// testing scenario.
struct Scenario {
    root: tempfile::TempDir,
    rs: Daemon,
    a: Daemon,
    b: Daemon,
}

const SIZE_9264: usize = 3_000;
const SIZE_9265: usize = 5_000;

fn scenario() -> Scenario {
    let root = tempfile::tempdir().unwrap();
    let rs = start_rs(root.path());
    let b_dir = folder(
        root.path(),
        "b",
        &[(9264, SIZE_9264), (9265, SIZE_9265)],
        true,
    );
    let b = start_peer(root.path(), rs.addr, &b_dir, "hostB", &[]);
    let a_dir = root.path().join("a");
    let a = start_peer(root.path(), rs.addr, &a_dir, "hostA", &[]);
    Scenario { root, rs, a, b }
}

#[test]
fn ctl_drives_the_testing_scenario() {
    let s = scenario();
    let cwd = s.root.path();
    let (a, b, rs) = (s.a.admin(), s.b.admin(), s.rs.admin());

    // The RS's table: both peers, active, never a cookie.
    let listed = ctl(rs, &["peers"], cwd);
    assert!(listed.ok(), "{listed:?}");
    let lines: Vec<&str> = listed.stdout.lines().collect();
    assert!(lines[0].starts_with("ID  HOST"), "{}", listed.stdout);
    assert_eq!(lines.len(), 3, "{}", listed.stdout);
    assert!(listed.stdout.contains("hostA") && listed.stdout.contains("hostB"));
    let json = ctl(rs, &["peers", "--json"], cwd);
    assert!(!json.stdout.contains("cookie"), "{}", json.stdout);

    // A asks the RS for its peer list: B only.
    let peers = ctl(a, &["peers"], cwd);
    assert!(peers.ok(), "{peers:?}");
    assert!(peers.stdout.contains("hostB") && !peers.stdout.contains("hostA"));

    // A fetches the indexes, then downloads 9264 from B.
    let index = ctl(a, &["index", "--refresh"], cwd);
    assert!(index.ok(), "{index:?}");
    assert!(
        index.stdout.contains("9264  Title of 9264  hostB"),
        "{}",
        index.stdout
    );
    let got = ctl(a, &["get", "9264"], cwd);
    assert!(got.ok(), "{got:?}");
    assert!(got.stdout.contains("downloaded"), "{}", got.stdout);
    assert_eq!(
        std::fs::read(cwd.join("a/rfc9264.txt")).unwrap(),
        document(9264, SIZE_9264)
    );

    // B leaves: A's fresh list is empty, B still serves its RFC server.
    let left = ctl(b, &["leave"], cwd);
    assert!(left.ok(), "{left:?}");
    let none = ctl(a, &["peers"], cwd);
    assert!(none.ok(), "{none:?}");
    assert!(none.stdout.contains("no active peers"), "{none:?}");
    let status = get_json(b, "/status");
    assert_eq!(
        (status["joined"].as_bool(), status["left"].as_bool()),
        (Some(false), Some(true))
    );

    // A download with no active holder fails, and ctl says so.
    let failed = ctl(a, &["get", "9265"], cwd);
    assert_eq!(failed.code, Some(1), "{failed:?}");
    assert!(failed.stdout.contains("failed"), "{failed:?}");

    // B joins again with its saved cookie, and A can have 9265.
    let joined = ctl(b, &["join"], cwd);
    assert!(joined.ok(), "{joined:?}");
    let got = ctl(a, &["get", "9265", "--json"], cwd);
    assert!(got.ok(), "{got:?}");
    // One JSON line per download as it ends.
    let lines: Vec<serde_json::Value> = got
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 1, "{}", got.stdout);
    assert_eq!(lines[0]["state"], "downloaded");
    assert_eq!(lines[0]["holder"], format!("hostB:{}", s.b.addr.port()));
    assert_eq!(lines[0]["length"], SIZE_9265);
    // One record per registration: B registered twice, with one cookie.
    let rs_peers = get_json(rs, "/peers");
    let b_record = rs_peers["peers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["host"] == "hostB")
        .unwrap()
        .clone();
    assert_eq!(b_record["registrations_30d"], 2);
    assert_eq!(b_record["active"], true);
    assert_eq!(b_record["address"], "127.0.0.1");
}

#[test]
fn ctl_finds_the_daemon_through_its_folder() {
    let s = scenario();
    let status = run(&["ctl", "--dir", "b", "status", "--json"], s.root.path());
    assert!(status.ok(), "{status:?}");
    let status: serde_json::Value = serde_json::from_str(&status.stdout).unwrap();
    assert_eq!(status["host"], "hostB");
    let rs = run(&["ctl", "--dir", "rs-state", "status"], s.root.path());
    assert!(
        rs.ok() && rs.stdout.contains("role                  rs"),
        "{rs:?}"
    );
    // Nothing to find: the message says where it looked.
    let lost = run(&["ctl", "--dir", "nowhere", "status"], s.root.path());
    assert_eq!(lost.code, Some(1));
    assert!(
        lost.stderr.contains("--admin") && lost.stderr.contains("nowhere"),
        "{lost:?}"
    );
}

/// The series docs/ADMIN.md lists for `role` (`RS` or `peer`), each with
/// the label values its row names in backquotes.
fn documented_series(role: &str) -> Vec<(String, Vec<String>)> {
    let doc =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/ADMIN.md")).unwrap();
    doc.lines()
        .filter(|line| line.starts_with("| `p2pdi_"))
        .filter_map(|line| {
            let cells: Vec<&str> = line.split('|').map(str::trim).collect();
            let (series, kind, daemon, meaning) = (cells[1], cells[2], cells[3], cells[4]);
            if daemon != "both" && daemon != role {
                return None;
            }
            let series = series.trim_matches('`');
            let (name, labels) = series.split_once('{').unwrap_or((series, ""));
            let labels: Vec<&str> = labels.trim_end_matches('}').split(',').collect();
            let name = match kind {
                "histogram" => format!("{name}_count"),
                _ => name.to_owned(),
            };
            // For restarts, only the actors of this role.
            let meaning = match meaning.split_once(" in the RS; ") {
                Some((rs, _)) if role == "RS" => rs.to_owned(),
                Some((_, peer)) => peer.to_owned(),
                None => meaning.to_owned(),
            };
            let values = meaning
                .split('`')
                .skip(1)
                .step_by(2)
                .filter(|value| !labels.contains(value))
                .map(str::to_owned)
                .collect();
            Some((name, values))
        })
        .collect()
}

#[test]
fn every_documented_series_is_there_from_the_start_at_zero() {
    let root = tempfile::tempdir().unwrap();
    let rs = start_rs(root.path());
    let b = start_peer(root.path(), rs.addr, &root.path().join("b"), "hostB", &[]);
    for (daemon, role, skip) in [
        (&rs, "RS", &["get_index", "get_rfc", "none"][..]),
        (
            &b,
            "peer",
            &["register", "keepalive", "leave", "pquery", "none"][..],
        ),
    ] {
        let text = http(daemon.admin(), "GET", "/metrics", &[], None).body;
        let samples: Vec<&str> = text.lines().filter(|l| !l.starts_with('#')).collect();
        for (name, values) in documented_series(role) {
            let mine: Vec<&&str> = samples
                .iter()
                .filter(|s| s.split(['{', ' ']).next() == Some(name.as_str()))
                .collect();
            assert!(!mine.is_empty(), "{role}: no {name} in\n{text}");
            for value in values.iter().filter(|v| !skip.contains(&v.as_str())) {
                let label = format!("=\"{value}\"");
                assert!(
                    mine.iter().any(|s| s.contains(&label)),
                    "{role}: no {name} with {label} in\n{text}"
                );
            }
        }
    }
}

#[test]
fn metrics_move_with_the_traffic() {
    let s = scenario();
    let (a, b, rs) = (s.a.admin(), s.b.admin(), s.rs.admin());
    let scrape = |addr| {
        let reply = http(addr, "GET", "/metrics", &[], None);
        assert_eq!(reply.status, 200);
        assert!(
            reply
                .header("content-type")
                .unwrap()
                .starts_with("text/plain; version=0.0.4"),
            "{reply:?}"
        );
        reply.body
    };
    let before_rs = scrape(rs);
    let register = |text: &str| {
        metric(
            text,
            "p2pdi_requests_total{role=\"rs\",method=\"register\",status=\"200\"}",
        )
        .unwrap_or(0.0)
    };
    assert_eq!(register(&before_rs), 2.0, "{before_rs}");
    assert_eq!(metric(&before_rs, "p2pdi_rs_peers_active"), Some(2.0));
    assert_eq!(metric(&before_rs, "p2pdi_rs_peers_known"), Some(2.0));
    assert!(metric(&before_rs, "p2pdi_rs_journal_fsync_seconds_count").unwrap() >= 1.0);
    assert!(before_rs.contains("# TYPE p2pdi_rs_journal_fsync_seconds histogram"));

    let before_a = scrape(a);
    let downloaded = "p2pdi_peer_downloads_total{outcome=\"downloaded\"}";
    assert_eq!(metric(&before_a, downloaded), Some(0.0), "{before_a}");
    assert_eq!(metric(&before_a, "p2pdi_peer_documents"), Some(0.0));
    assert_eq!(
        metric(&before_a, "p2pdi_connections_open{role=\"peer\"}"),
        Some(0.0)
    );

    let got = ctl(a, &["get", "9264", "9265"], s.root.path());
    assert!(got.ok(), "{got:?}");
    let one_more = run(
        &["get", "1", "--rs", &s.rs.addr.to_string(), "--rfc-dir", "c"],
        s.root.path(),
    );
    assert_eq!(one_more.code, Some(1), "{one_more:?}");

    let after_a = scrape(a);
    assert_eq!(metric(&after_a, downloaded), Some(2.0), "{after_a}");
    assert_eq!(
        metric(&after_a, "p2pdi_peer_bytes_downloaded_total"),
        Some((SIZE_9264 + SIZE_9265) as f64)
    );
    assert_eq!(metric(&after_a, "p2pdi_peer_documents"), Some(2.0));
    let after_b = scrape(b);
    assert_eq!(
        metric(&after_b, "p2pdi_peer_bytes_served_total"),
        Some((SIZE_9264 + SIZE_9265) as f64),
        "{after_b}"
    );
    assert_eq!(
        metric(
            &after_b,
            "p2pdi_requests_total{role=\"peer\",method=\"get_rfc\",status=\"200\"}"
        ),
        Some(2.0)
    );
    assert!(
        metric(
            &after_b,
            "p2pdi_requests_total{role=\"peer\",method=\"get_index\",status=\"200\"}"
        )
        .unwrap()
            >= 1.0
    );
    let after_rs = scrape(rs);
    // `p2p-di get` registered a third peer and left.
    assert_eq!(register(&after_rs), 3.0, "{after_rs}");
    assert_eq!(
        metric(
            &after_rs,
            "p2pdi_requests_total{role=\"rs\",method=\"leave\",status=\"200\"}"
        ),
        Some(1.0)
    );
    assert!(
        metric(
            &after_rs,
            "p2pdi_requests_total{role=\"rs\",method=\"pquery\",status=\"200\"}"
        )
        .unwrap()
            > 0.0
    );
    assert_eq!(metric(&after_rs, "p2pdi_rs_peers_known"), Some(3.0));
    // OpenMetrics for the scrapers that ask for it.
    let open = http(
        rs,
        "GET",
        "/metrics",
        &[("Accept", "application/openmetrics-text; version=1.0.0")],
        None,
    );
    assert!(open
        .header("content-type")
        .unwrap()
        .starts_with("application/openmetrics-text"));
    assert!(open.body.ends_with("# EOF\n"));
}

#[test]
fn a_token_guards_every_data_route() {
    let root = tempfile::tempdir().unwrap();
    let rs = start_rs_with(root.path(), "(admin_token: Some(\"s3cret-token\"))");
    let admin = rs.admin();
    for path in ["/status", "/metrics", "/peers"] {
        let bare = http(admin, "GET", path, &[], None);
        assert_eq!(bare.status, 401, "{path}");
        assert_eq!(
            bare.header("www-authenticate"),
            Some("Bearer realm=\"p2p-di\"")
        );
        assert!(bare.json()["error"].as_str().unwrap().contains("Bearer"));
        let wrong = http(
            admin,
            "GET",
            path,
            &[("Authorization", "Bearer s3cret-tokem")],
            None,
        );
        assert_eq!(wrong.status, 401, "{path}");
        let right = http(
            admin,
            "GET",
            path,
            &[("Authorization", "Bearer s3cret-token")],
            None,
        );
        assert_eq!(right.status, 200, "{path}: {}", right.body);
    }
    // The page holds no data: it loads, and asks for the token itself.
    let page = http(admin, "GET", "/", &[], None);
    assert_eq!(page.status, 200);
    assert!(page.body.contains("<title>p2p-di</title>"));
    // ctl passes the token, from the flag or the environment.
    let admin_text = admin.to_string();
    let denied = run(&["ctl", "--admin", &admin_text, "status"], root.path());
    assert_eq!(denied.code, Some(1));
    assert!(denied.stderr.contains("401"), "{denied:?}");
    let allowed = run(
        &[
            "ctl",
            "--admin",
            &admin_text,
            "--token",
            "s3cret-token",
            "status",
        ],
        root.path(),
    );
    assert!(allowed.ok(), "{allowed:?}");
}

#[test]
fn an_admin_endpoint_off_loopback_needs_a_token() {
    let root = tempfile::tempdir().unwrap();
    let refused = run(
        &[
            "rs",
            "--listen",
            "127.0.0.1:0",
            "--state-dir",
            "st",
            "--admin",
            "0.0.0.0:0",
        ],
        root.path(),
    );
    assert_eq!(refused.code, Some(1), "{refused:?}");
    assert!(
        refused
            .stderr
            .contains("admin_listen 0.0.0.0:0 is not a loopback address: set admin_token"),
        "{}",
        refused.stderr
    );
    assert_eq!(
        refused.stderr.matches("admin_token").count(),
        1,
        "said once: {}",
        refused.stderr
    );
}

#[test]
fn the_rs_peer_table_comes_in_pages() {
    let root = tempfile::tempdir().unwrap();
    let rs = start_rs(root.path());
    for n in 0..250 {
        let reply = exchange(
            rs.addr,
            format!("REGISTER&*P2P-DI/1.0&*host{n:03}&*Linux&*{}\n", 20_000 + n).as_bytes(),
        );
        cookie_of(&reply);
    }
    let admin = rs.admin();
    let mut seen = Vec::new();
    let mut after: Option<u64> = None;
    let mut pages = 0;
    loop {
        let path = match after {
            Some(id) => format!("/peers?limit=100&after={id}"),
            None => "/peers?limit=100".to_owned(),
        };
        let page = get_json(admin, &path);
        pages += 1;
        let peers = page["peers"].as_array().unwrap();
        assert!(peers.len() <= 100);
        for peer in peers {
            assert!(peer.get("cookie").is_none());
            seen.push(peer["host"].as_str().unwrap().to_owned());
        }
        match page["next"].as_u64() {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    let expected: Vec<String> = (0..250).map(|n| format!("host{n:03}")).collect();
    assert_eq!(seen, expected);
    // The default page, and limits out of bounds.
    assert_eq!(
        get_json(admin, "/peers")["peers"].as_array().unwrap().len(),
        100
    );
    for bad in [
        "/peers?limit=0",
        "/peers?limit=10001",
        "/peers?after=x",
        "/peers?cookie=1",
    ] {
        let reply = http(admin, "GET", bad, &[], None);
        assert_eq!(reply.status, 400, "{bad}: {}", reply.body);
        assert!(reply.json()["error"].is_string());
    }
    assert_eq!(http(admin, "GET", "/index", &[], None).status, 404);
    // ctl walks every page with --all.
    let all = ctl(
        admin,
        &["peers", "--all", "--limit", "64", "--json"],
        root.path(),
    );
    assert!(all.ok(), "{all:?}");
    let all: serde_json::Value = serde_json::from_str(&all.stdout).unwrap();
    assert_eq!(all.as_array().unwrap().len(), 250);
}

#[test]
fn transfers_show_bytes_done_on_both_sides() {
    let root = tempfile::tempdir().unwrap();
    let rs = start_rs(root.path());
    let size = 3_000_000;
    // B sends at 1 MB/s: the transfer takes about three seconds (the
    // peers' limit is five).
    let b = start_slow_holder(root.path(), rs.addr, 42, size);
    let a = start_peer(root.path(), rs.addr, &root.path().join("a"), "hostA", &[]);
    let started = http(a.admin(), "POST", "/downloads", &[], Some("{\"rfc\": 42}"));
    assert_eq!(started.status, 202, "{}", started.body);
    let id = started.json()["downloads"][0]["id"].as_u64().unwrap();
    assert_eq!(started.json()["downloads"][0]["rfc"], 42);
    assert_eq!(
        started.header("location"),
        Some(format!("/downloads/{id}").as_str())
    );
    let mut download = serde_json::Value::Null;
    wait_until(Duration::from_secs(10), "a download under way", || {
        let list = get_json(a.admin(), "/transfers");
        download = list["transfers"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["direction"] == "download")
            .cloned()
            .unwrap_or_default();
        download["done"].as_u64().unwrap_or(0) > 0
    });
    assert_eq!(download["rfc"], 42);
    assert_eq!(download["length"], size);
    assert_eq!(download["peer"], b.addr.to_string());
    let upload = get_json(b.admin(), "/transfers")["transfers"][0].clone();
    assert_eq!(upload["direction"], "upload");
    assert_eq!(upload["rfc"], 42);
    assert_eq!(upload["length"], size);
    assert!(upload["done"].as_u64().unwrap() < size as u64);
    let running = get_json(a.admin(), &format!("/downloads/{id}"));
    assert_eq!(running["state"], "running");
    wait_until(Duration::from_secs(20), "the download to end", || {
        get_json(a.admin(), &format!("/downloads/{id}"))["state"] != "running"
    });
    let done = get_json(a.admin(), &format!("/downloads/{id}"));
    assert_eq!(done["state"], "downloaded", "{done}");
    assert_eq!(done["received"], size);
    assert_eq!(done["holder"], format!("hostB:{}", b.addr.port()));
    assert!(get_json(a.admin(), "/transfers")["transfers"]
        .as_array()
        .unwrap()
        .is_empty());
    // The holder logged the upload at info.
    wait_until(Duration::from_secs(5), "the upload's log line", || {
        b.messages().iter().any(|m| {
            m["msg"] == "rfc uploaded" && m["rfc"] == 42 && m["bytes"].as_u64() > Some(size as u64)
        })
    });
    // Bad asks get a 400 and a reason; an unknown id a 404.
    for body in [
        "{\"rfc\": \"x\"}",
        "{\"rfc\": 0}",
        "{}",
        "not json",
        "{\"rfc\": 1, \"x\": 2}",
        "{\"rfc\": 1, \"rfcs\": [2]}",
        "{\"rfcs\": [1, 0]}",
        "{\"refresh\": true, \"rfcs\": [1]}",
    ] {
        let reply = http(a.admin(), "POST", "/downloads", &[], Some(body));
        assert_eq!(reply.status, 400, "{body}: {}", reply.body);
    }
    // JSON only as JSON: a page elsewhere could send text/plain unasked.
    let plain = http(
        a.admin(),
        "POST",
        "/downloads",
        &[("Content-Type", "text/plain")],
        Some("{\"rfc\": 42}"),
    );
    assert_eq!(plain.status, 400, "{}", plain.body);
    assert_eq!(
        plain.json()["error"],
        "send the body as JSON with Content-Type: application/json"
    );
    assert_eq!(
        http(a.admin(), "GET", "/downloads/999", &[], None).status,
        404
    );
}

/// A peer in `root` serving RFC 1, and its index as text.
fn rescan_fixture(root: &Path) -> (Daemon, Daemon, PathBuf) {
    let rs = start_rs(root);
    let dir = folder(root, "b", &[(1, 100)], true);
    let b = start_peer(root, rs.addr, &dir, "hostB", &[]);
    (rs, b, dir)
}

fn index_of(b: &Daemon) -> String {
    text(&exchange(b.addr, b"GET&*RFC-Index&*P2P-DI/1.0&*t&*Linux\n"))
}

#[test]
#[cfg_attr(
    windows,
    ignore = "Windows has no SIGHUP: a rescan is `ctl rescan` (tested below)"
)]
fn sighup_serves_what_the_folder_holds_now() {
    let root = tempfile::tempdir().unwrap();
    let (_rs, b, dir) = rescan_fixture(root.path());
    std::fs::write(dir.join("rfc2.txt"), document(2, 200)).unwrap();
    std::fs::write(dir.join("notes.txt"), "not an RFC").unwrap();
    b.hang_up();
    wait_until(Duration::from_secs(10), "RFC 2 in the index", || {
        index_of(&b).contains("\n2&*")
    });
    wait_until(Duration::from_secs(5), "the rescan's log line", || {
        b.logged("rfc folder rescanned")
    });
    assert!(b.messages().iter().any(
        |m| m["msg"] == "file skipped" && m["why"].as_str().unwrap_or("").contains("notes.txt")
    ));
    // The daemon is still running after SIGHUP.
    assert!(b.child.id() > 0 && get_json(b.admin(), "/status")["documents"] == 2);
}

#[test]
fn ctl_rescan_serves_what_the_folder_holds_now() {
    let root = tempfile::tempdir().unwrap();
    let (_rs, b, dir) = rescan_fixture(root.path());
    std::fs::write(dir.join("rfc2.txt"), document(2, 200)).unwrap();
    std::fs::remove_file(dir.join("rfc1.txt")).unwrap();
    let rescanned = ctl(b.admin(), &["rescan"], root.path());
    assert!(rescanned.ok(), "{rescanned:?}");
    assert!(
        rescanned
            .stdout
            .contains("1 documents; added: 2; removed: 1"),
        "{rescanned:?}"
    );
    let index = index_of(&b);
    assert!(
        !index.contains("\n1&*") && index.contains("\n2&*"),
        "{index}"
    );
}

#[test]
fn get_exits_zero_only_when_every_rfc_was_saved() {
    let s = scenario();
    let rs = s.rs.addr.to_string();
    let got = run(
        &["get", "9264", "9265", "--rs", &rs, "--rfc-dir", "c"],
        s.root.path(),
    );
    assert!(got.ok(), "{got:?}");
    assert_eq!(
        got.stdout
            .lines()
            .filter(|l| l.contains("downloaded"))
            .count(),
        2
    );
    assert_eq!(
        std::fs::read(s.root.path().join("c/rfc9265.txt")).unwrap(),
        document(9265, SIZE_9265)
    );
    // It left: the RS lists it inactive.
    let left = get_json(s.rs.admin(), "/peers")["peers"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["active"] == false)
        .count();
    assert_eq!(left, 1);
    // No holder of RFC 1.
    let none = run(&["get", "1", "--rs", &rs, "--rfc-dir", "c"], s.root.path());
    assert_eq!(none.code, Some(1), "{none:?}");
    assert!(none.stdout.contains("failed"), "{none:?}");
    assert!(
        none.stderr.contains("1 of 1 RFCs were not saved"),
        "{none:?}"
    );
    // No RS: refused within the timeout, saying why.
    let lonely = run(
        &[
            "get",
            "1",
            "--rs",
            "127.0.0.1:9",
            "--rfc-dir",
            "c",
            "--timeout",
            "1",
        ],
        s.root.path(),
    );
    assert_eq!(lonely.code, Some(1), "{lonely:?}");
    assert!(
        lonely
            .stderr
            .contains("not registered with any RS (127.0.0.1:9) within 1 s"),
        "{lonely:?}"
    );
}

#[test]
fn index_prints_one_peers_index() {
    let s = scenario();
    let table = run(&["index", &s.b.addr.to_string()], s.root.path());
    assert!(table.ok(), "{table:?}");
    let port = s.b.addr.port();
    assert_eq!(
        table.stdout,
        format!(
            " RFC  TITLE          HOLDER   PORT   TTL\n\
             9264  Title of 9264  hostB   {port}  7200\n\
             9265  Title of 9265  hostB   {port}  7200\n"
        )
    );
    let json = run(&["index", &s.b.addr.to_string(), "--json"], s.root.path());
    let value: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(value["peer"]["host"], "hostB");
    assert_eq!(value["records"][1]["rfc"], 9265);
    let nobody = run(&["index", "127.0.0.1:9"], s.root.path());
    assert_eq!(nobody.code, Some(1));
    assert!(
        nobody.stderr.contains("GET RFC-Index from 127.0.0.1:9"),
        "{nobody:?}"
    );
}

#[test]
fn the_command_line_is_checked_when_parsed() {
    let dir = tempfile::tempdir().unwrap();
    let no_port = run(&["peer", "--rs", "localhost"], dir.path());
    assert_eq!(no_port.code, Some(2), "{no_port:?}");
    assert!(no_port.stderr.contains("has no port"), "{}", no_port.stderr);
    let get = run(&["get", "1", "--rs", "localhost"], dir.path());
    assert_eq!(get.code, Some(2));
    for sub in ["rs", "peer", "lab", "ctl", "index", "get"] {
        let version = run(&[sub, "--version"], dir.path());
        assert!(version.ok(), "{sub}: {version:?}");
        assert_eq!(
            version.stdout.trim(),
            format!("p2p-di-{sub} {}", env!("CARGO_PKG_VERSION"))
        );
    }
}

#[test]
fn print_config_prints_the_file_and_the_flags_merged() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("peer.ron"),
        "(keepalive_secs: 77, rs: \"rs.example:1\")",
    )
    .unwrap();
    let printed = run(
        &[
            "peer",
            "--config",
            "peer.ron",
            "--host",
            "alice",
            "--admin",
            "off",
            "--print-config",
        ],
        dir.path(),
    );
    assert!(printed.ok(), "{printed:?}");
    let text = printed.stdout;
    // The same bytes on every platform: no CR LF on Windows.
    assert!(!text.contains('\r'), "{text:?}");
    assert!(text.contains("keepalive_secs: 77,"), "{text}");
    assert!(
        text.contains("rs: [\n        \"rs.example:1\",\n    ],"),
        "{text}"
    );
    assert!(text.contains("host: Some(\"alice\"),"), "{text}");
    assert!(text.contains("admin_listen: None,"), "{text}");
    // What it prints runs as a config file.
    std::fs::write(dir.path().join("printed.ron"), &text).unwrap();
    let again = run(
        &["peer", "--config", "printed.ron", "--print-config"],
        dir.path(),
    );
    assert_eq!(again.stdout, text);
    // An invalid merge is refused, naming its source.
    let bad = run(&["rs", "--ttl", "0", "--print-config"], dir.path());
    assert_eq!(bad.code, Some(1));
    assert!(
        bad.stderr
            .contains("command line: ttl_secs must be at least 1"),
        "{bad:?}"
    );
    // A value from a file is named with the file and its line.
    std::fs::write(
        dir.path().join("zero.ron"),
        "(\n  ttl_secs: 60,\n  limits: (\n    max_connections: 0,\n  ),\n)\n",
    )
    .unwrap();
    let zero = run(
        &["rs", "--config", "zero.ron", "--print-config"],
        dir.path(),
    );
    assert_eq!(zero.code, Some(1));
    assert!(
        zero.stderr
            .contains("zero.ron:4: limits.max_connections must be at least 1"),
        "{zero:?}"
    );
}

#[test]
fn each_daemon_logs_a_stats_line() {
    let root = tempfile::tempdir().unwrap();
    let rs = start_rs_with(root.path(), "(stats_interval_secs: 1)");
    let dir = folder(root.path(), "b", &[(1, 100)], true);
    let b = start_peer_with(
        root.path(),
        rs.addr,
        &dir,
        "hostB",
        "stats_interval_secs: 1",
        &[],
    );
    wait_until(Duration::from_secs(5), "the peer's stats line", || {
        b.messages()
            .iter()
            .any(|m| m["msg"] == "peer stats" && m["documents"] == 1 && m["joined"] == true)
    });
    wait_until(Duration::from_secs(5), "the RS's stats line", || {
        rs.logged("registry stats")
    });
}

#[test]
#[cfg_attr(
    not(target_os = "linux"),
    ignore = "systemd is Linux's: elsewhere a daemon notifies nothing"
)]
fn each_daemon_tells_systemd_when_it_serves() {
    let root = tempfile::tempdir().unwrap();
    let socket_path = root.path().join("notify.sock");
    let socket = Datagrams::bind(&socket_path);
    let notify = socket_path.display().to_string();
    let env = [("NOTIFY_SOCKET", notify.as_str())];
    let read = |socket: &Datagrams| socket.recv();
    let rs = Daemon::start_with_env(
        &["rs", "--listen", "127.0.0.1:0", "--state-dir", "st"],
        root.path(),
        &env,
    );
    let ready = read(&socket);
    assert!(ready.contains("READY=1"), "{ready}");
    assert!(
        ready.contains(&format!("STATUS=registering peers on {}", rs.addr)),
        "{ready}"
    );
    // Ready means serving: the RS answers now.
    cookie_of(&exchange(rs.addr, b"REGISTER&*P2P-DI/1.0&*h&*Linux&*1\n"));
    let dir = folder(root.path(), "b", &[(1, 10)], true);
    let rs_addr = rs.addr.to_string();
    let dir_text = dir.display().to_string();
    let peer = Daemon::start_with_env(
        &[
            "peer",
            "--rs",
            &rs_addr,
            "--listen",
            "127.0.0.1:0",
            "--rfc-dir",
            &dir_text,
        ],
        root.path(),
        &env,
    );
    let ready = read(&socket);
    assert!(ready.contains("READY=1"), "{ready}");
    assert!(
        ready.contains(&format!("STATUS=serving RFCs on {}", peer.addr)),
        "{ready}"
    );
    peer.terminate();
    assert!(read(&socket).contains("STOPPING=1"));
}

#[test]
fn an_error_says_its_cause_once() {
    let dir = tempfile::tempdir().unwrap();
    let missing = run(&["peer", "--config", "missing.ron"], dir.path());
    assert_eq!(missing.code, Some(1));
    // The system's own words for the cause, whatever the platform.
    let not_found = std::fs::File::open(dir.path().join("missing.ron")).unwrap_err();
    assert_eq!(
        missing.stderr.trim(),
        format!("p2p-di: error: reading missing.ron: {not_found}")
    );
    let nobody = run(&["index", "127.0.0.1:9"], dir.path());
    let refused = std::net::TcpStream::connect("127.0.0.1:9").unwrap_err();
    let refused = refused.to_string();
    let cause = refused.split(" (os error").next().unwrap();
    assert_eq!(
        nobody.stderr.matches(cause).count(),
        1,
        "{cause:?} once in {}",
        nobody.stderr
    );
}

#[test]
fn a_batch_is_queued_whole_or_refused_whole_and_ranges_and_all_are_fetched() {
    let root = tempfile::tempdir().unwrap();
    let rs = start_rs(root.path());
    let docs: Vec<(u32, usize)> = (1..=10).map(|n| (n, 500 + n as usize)).collect();
    let b_dir = folder(root.path(), "b", &docs, true);
    let _b = start_peer(root.path(), rs.addr, &b_dir, "hostB", &[]);
    let a_dir = root.path().join("a");
    let a = start_peer_with(
        root.path(),
        rs.addr,
        &a_dir,
        "hostA",
        "max_queued_downloads: 6",
        &[],
    );
    // Past the bound: refused whole, nothing queued.
    let refused = http(
        a.admin(),
        "POST",
        "/downloads",
        &[],
        Some("{\"rfcs\": [1, 2, 3, 4, 5, 6, 7]}"),
    );
    assert_eq!(refused.status, 503, "{}", refused.body);
    assert!(
        refused.json()["error"]
            .as_str()
            .unwrap()
            .contains("7 downloads asked while 0 wait or run: the queue holds at most 6"),
        "{}",
        refused.body
    );
    assert!(get_json(a.admin(), "/downloads")["downloads"]
        .as_array()
        .unwrap()
        .is_empty());
    // A batch far larger than a small body: refused for the queue, not
    // for its size.
    let big = ctl(a.admin(), &["get", "1-20000"], root.path());
    assert_eq!(big.code, Some(1), "{big:?}");
    assert!(
        big.stderr
            .contains("20000 downloads asked while 0 wait or run: the queue holds at most 6"),
        "{big:?}"
    );
    // A range and a number, in one request.
    let got = ctl(a.admin(), &["get", "1-3,7"], root.path());
    assert!(got.ok(), "{got:?}");
    assert!(
        got.stderr
            .contains("4 downloads: 4 downloaded, 0 held already, 0 failed"),
        "{}",
        got.stderr
    );
    // Everything the index names that A lacks: the other six.
    let all = ctl(a.admin(), &["get", "--all", "--refresh"], root.path());
    assert!(all.ok(), "{all:?}");
    assert!(
        all.stderr
            .contains("6 downloads: 6 downloaded, 0 held already, 0 failed"),
        "{}",
        all.stderr
    );
    for (number, size) in &docs {
        assert_eq!(
            std::fs::read(a_dir.join(format!("rfc{number}.txt"))).unwrap(),
            document(*number, *size)
        );
    }
    // Nothing left to fetch.
    let none = ctl(a.admin(), &["get", "--all"], root.path());
    assert!(none.ok(), "{none:?}");
    assert!(
        none.stderr.contains("nothing to download"),
        "{}",
        none.stderr
    );
    // Bad specs are refused when parsed, naming the value.
    let bad = ctl(a.admin(), &["get", "5-3"], root.path());
    assert_eq!(bad.code, Some(2), "{bad:?}");
    assert!(bad.stderr.contains("\"5-3\""), "{}", bad.stderr);
}

#[test]
fn a_long_poll_answers_when_the_download_ends_not_when_the_wait_does() {
    let root = tempfile::tempdir().unwrap();
    let rs = start_rs(root.path());
    let size = 1_500_000;
    // 1 MB/s: the download takes about a second and a half.
    let _b = start_slow_holder(root.path(), rs.addr, 42, size);
    let a = start_peer(root.path(), rs.addr, &root.path().join("a"), "hostA", &[]);
    let queued = http(
        a.admin(),
        "POST",
        "/downloads",
        &[],
        Some("{\"rfcs\": [42]}"),
    )
    .json();
    let id = queued["downloads"][0]["id"].as_u64().unwrap();
    let since = queued["ended_before"].as_u64().unwrap();
    let asked = Instant::now();
    let done = get_json(a.admin(), &format!("/downloads/{id}?wait=30"));
    let took = asked.elapsed();
    assert_eq!(done["state"], "downloaded", "{done}");
    assert!(took < Duration::from_secs(10), "answered after {took:?}");
    // The feed of ends has it; past it, a poll waits its time and comes
    // back empty.
    let ended = get_json(a.admin(), &format!("/downloads/ended?since={since}"));
    assert_eq!(ended["downloads"][0]["id"], id);
    let next = ended["next"].as_u64().unwrap();
    let asked = Instant::now();
    let quiet = get_json(a.admin(), &format!("/downloads/ended?since={next}&wait=1"));
    assert!(asked.elapsed() >= Duration::from_millis(900));
    assert!(quiet["downloads"].as_array().unwrap().is_empty());
    assert_eq!(quiet["next"], next);
}

#[test]
fn records_dropped_over_the_index_limits_are_reported_where_the_user_looks() {
    let root = tempfile::tempdir().unwrap();
    let rs = start_rs(root.path());
    let docs: Vec<(u32, usize)> = (1..=30).map(|n| (n, 300)).collect();
    let b_dir = folder(root.path(), "b", &docs, true);
    let _b = start_peer(root.path(), rs.addr, &b_dir, "hostB", &[]);
    let a = start_peer_with(
        root.path(),
        rs.addr,
        &root.path().join("a"),
        "hostA",
        "max_records_per_holder: 20",
        &[],
    );
    let got = ctl(a.admin(), &["get", "1-30", "--json"], root.path());
    assert_eq!(got.code, Some(1), "{got:?}");
    let ended: Vec<serde_json::Value> = got
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let failed: Vec<&serde_json::Value> = ended.iter().filter(|d| d["state"] == "failed").collect();
    assert_eq!(failed.len(), 10, "{}", got.stdout);
    for download in failed {
        let error = download["error"].as_str().unwrap();
        assert!(
            error.contains("records over its limits") && error.contains("max_records_per_holder"),
            "{error}"
        );
    }
    let status = get_json(a.admin(), "/status");
    assert!(
        status["index_records_refused"].as_u64().unwrap() >= 10,
        "{status}"
    );
    assert!(a.logged("remote index records refused"));
}
