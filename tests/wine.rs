//! The real Windows binary, run under Wine from Linux, in one network with
//! the Linux build: documents shared both ways, a download falling back
//! past a dead Windows holder, and the console events a test under Wine
//! cannot send itself (SIGINT to the Wine process is Ctrl-C to the
//! program): a Windows peer leaves and stops, a Windows RS keeps its
//! state, a Windows lab writes what finished.
//!
//! Not part of `cargo test`: it needs the Windows build and Wine, which
//! `.ci/run` provides (see `.ci/wine/`):
//!
//! ```text
//! P2P_DI_WINDOWS_BIN=target/x86_64-pc-windows-gnu/release/p2p-di.exe \
//!     cargo test --release --test wine -- --ignored
//! ```
#![cfg(unix)]

mod common;

use common::*;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

/// The Windows binary under Wine: `$P2P_DI_WINE` (default `wine`) running
/// `$P2P_DI_WINDOWS_BIN`.
fn windows() -> Command {
    let exe = std::env::var("P2P_DI_WINDOWS_BIN").expect(
        "P2P_DI_WINDOWS_BIN names the Windows build (cargo build --target x86_64-pc-windows-gnu)",
    );
    assert!(Path::new(&exe).is_file(), "{exe} is not a file");
    let mut command = Command::new(std::env::var("P2P_DI_WINE").unwrap_or_else(|_| "wine".into()));
    command.arg(exe).env("WINEDEBUG", "-all");
    command
}

fn windows_peer(root: &Path, rs: &Daemon, dir: &Path, host: &str) -> Daemon {
    start_peer_command(windows(), root, rs.addr, dir, host, "", &[])
}

/// The RS's record of `host` (its admin endpoint's peer table).
fn record(rs: &Daemon, host: &str) -> serde_json::Value {
    let peers = get_json(rs.admin(), "/peers");
    peers["peers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["host"] == host)
        .unwrap_or_else(|| panic!("no record of {host}: {peers}"))
        .clone()
}

/// Sends SIGINT (Ctrl-C to the Windows program) and waits for the exit.
fn ctrl_c(daemon: &mut Daemon) -> std::process::ExitStatus {
    interrupt(&daemon.child);
    daemon.wait_exit(Duration::from_secs(20))
}

#[test]
#[ignore = "needs the Windows build and Wine: run by .ci/run"]
fn windows_and_linux_peers_share_documents_both_ways_and_fall_back() {
    let root = tempfile::tempdir().unwrap();
    let root = root.path();
    let rs = start_rs(root);
    let w_dir = folder(root, "w", &[(9264, 30_000), (9265, 2_000)], true);
    let l_dir = folder(root, "l", &[(9266, 5_000)], true);
    let g_dir = root.join("g");
    let mut w = windows_peer(root, &rs, &w_dir, "hostW");
    let l = start_peer(root, rs.addr, &l_dir, "hostL", &[]);
    let g = windows_peer(root, &rs, &g_dir, "hostG");
    assert_eq!(record(&rs, "hostW")["os"], "Windows");
    assert_eq!(record(&rs, "hostL")["os"], "Linux");

    // Linux downloads from Windows.
    let got = ctl(l.admin(), &["get", "9264"], root);
    assert!(got.ok(), "{got:?}");
    assert_eq!(
        std::fs::read(l_dir.join("rfc9264.txt")).unwrap(),
        document(9264, 30_000)
    );
    // Windows downloads from Windows, asked by the Windows `ctl`, which
    // finds the peer's admin endpoint in the note beside its (mandatory)
    // lock; G now knows W as a fast holder.
    let g_dir_text = g_dir.display().to_string();
    let windows_ctl =
        |rfcs: &str| run_command(windows(), &["ctl", "--dir", &g_dir_text, "get", rfcs], root);
    let got = windows_ctl("9265");
    assert!(got.ok(), "{got:?}");
    // W dies (no LEAVE: still listed, and first in G's plan for 9264, as
    // the holder it knows to be fast): G falls back to the Linux holder.
    w.kill();
    let got = windows_ctl("9264");
    assert!(got.ok(), "{got:?}");
    let done = g
        .messages()
        .into_iter()
        .find(|m| m["msg"] == "rfc downloaded" && m["rfc"] == 9264)
        .expect("G's log of 9264");
    assert_eq!(done["holder"], format!("hostL:{}", l.addr.port()), "{done}");
    assert!(done["failed_attempts"].as_u64() >= Some(1), "{done}");
    for (number, size) in [(9264, 30_000), (9265, 2_000)] {
        let saved = std::fs::read(g_dir.join(format!("rfc{number}.txt"))).unwrap();
        assert!(saved == document(number, size), "rfc{number} differs");
    }
    let titles = std::fs::read_to_string(g_dir.join("titles.tsv")).unwrap();
    assert_eq!(titles, "9265\tTitle of 9265\n9264\tTitle of 9264\n");

    // A one-shot Windows `get` downloads from Linux.
    let rs_text = rs.addr.to_string();
    let got = run_command(
        windows(),
        &["get", "9266", "--rs", &rs_text, "--rfc-dir", "o"],
        root,
    );
    assert!(got.ok(), "{got:?}");
    assert_eq!(
        std::fs::read(root.join("o/rfc9266.txt")).unwrap(),
        document(9266, 5_000)
    );
}

#[test]
#[ignore = "needs the Windows build and Wine: run by .ci/run"]
fn ctrl_c_has_a_windows_peer_leave_and_a_windows_rs_keep_its_state() {
    let root = tempfile::tempdir().unwrap();
    let root = root.path();
    let rs_args = ["rs", "--listen", "127.0.0.1:0", "--state-dir", "wrs"];
    let mut rs = Daemon::start_command(windows(), &rs_args, root);
    // While it runs, the Windows `ctl` finds it through its state folder.
    let status = run_command(
        windows(),
        &["ctl", "--dir", "wrs", "--json", "status"],
        root,
    );
    assert!(status.ok(), "{status:?}");
    let status: serde_json::Value = serde_json::from_str(&status.stdout).unwrap();
    assert_eq!(status["role"], "rs");
    assert_eq!(status["listen"], rs.addr.to_string());

    let l_dir = folder(root, "l", &[(1, 100)], true);
    let _l = start_peer(root, rs.addr, &l_dir, "hostL", &[]);
    let w_dir = folder(root, "w", &[(2, 100)], true);
    let mut w = windows_peer(root, &rs, &w_dir, "hostW");
    assert_eq!(record(&rs, "hostW")["active"], true);

    // Ctrl-C: the Windows peer leaves, then exits 0.
    let exit = ctrl_c(&mut w);
    assert!(exit.success(), "{exit}");
    assert!(w
        .messages()
        .iter()
        .any(|m| m["msg"] == "shutting down" && m["signal"] == "Ctrl-C"));
    assert!(w.logged("left the RS"), "{:#?}", w.messages());
    assert_eq!(record(&rs, "hostW")["active"], false);
    assert!(!w_dir.join(".p2p-di.admin").exists(), "the note is removed");

    // Ctrl-C: the Windows RS writes out its journal and exits 0; started
    // again on its folder it knows both peers.
    let exit = ctrl_c(&mut rs);
    assert!(exit.success(), "{exit}");
    assert!(rs.logged("registration server stopped"));
    assert!(!root.join("wrs/admin").exists(), "the note is removed");
    let rs = Daemon::start_command(windows(), &rs_args, root);
    assert_eq!(record(&rs, "hostL")["active"], true);
    assert_eq!(record(&rs, "hostW")["active"], false);
}

#[test]
#[ignore = "needs the Windows build and Wine: run by .ci/run"]
fn ctrl_c_stops_a_windows_lab_and_it_writes_what_finished() {
    let root = tempfile::tempdir().unwrap();
    let out = root.path().join("results");
    let mut child = windows()
        .args([
            "lab",
            "--size-scale",
            "0.05",
            "--repeat",
            "1",
            "--out",
            "results",
        ])
        .current_dir(root.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    read_until_line_starting(&mut child, "task1");
    interrupt(&child);
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(std::time::Instant::now() < deadline, "the lab did not stop");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(status.code(), Some(130));
    let report = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(report.contains("**Incomplete**"), "{report}");
    assert!(!out.join("work").exists(), "the work folder is removed");
}
