//! An RS restarted on an uncompacted journal, however many peers share an
//! address, against a restart from a snapshot of as many peers measured in
//! the same run. `cargo bench --bench rs_restart` (options after `--`:
//! `--peers N` (1,000,000), `--crowd N` (60,000 peers an address in the
//! crowded journal)).
//!
//! 1. Replay in process (`recovery::recover`, best of three): events a
//!    second, for a journal of N first registrations at one peer an
//!    address and at `crowd` peers an address. The aim: at least 1,000,000
//!    a second, and the crowded one about as fast as the other.
//! 2. The real binary (release), killed state: start to the first
//!    KEEPALIVE answered 200, on the snapshot and on each journal. The
//!    aim: within 2 s with N = 1,000,000.
//!
//! The journals are written straight to disk in the journal's own format,
//! as an RS killed before its first compaction leaves them.

#[path = "support/mod.rs"]
mod support;

use p2p_di_actors::rs::{format, recovery};
use p2p_di_actors::state::registry::EventRef;
use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;
use std::time::{Duration, Instant};
use support::*;

const OK: &[u8] = b"P2P-DI/1.0&*200";

/// The cookie of peer `k` (distinct, below 2^63).
fn cookie(k: u32) -> u64 {
    (u64::from(k) + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 1
}

/// A journal of `n` first registrations, `per_address` peers to an
/// address (ports differing), in `dir`.
fn write_journal(dir: &Path, n: u32, per_address: u32, at_ms: u64) {
    let mut bytes = Vec::with_capacity(n as usize * 64);
    for k in 0..n {
        let host = format!("peer-{k}");
        let event = EventRef::Registered {
            cookie: cookie(k),
            host: &host,
            os: "Linux",
            port: (1024 + k % per_address) as u16,
            address: IpAddr::V4(Ipv4Addr::from(0x7f01_0000 + k / per_address)),
            at_ms,
        };
        format::put_event(u64::from(k), event, &mut bytes);
    }
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(recovery::journal_path(dir, 0), bytes).unwrap();
}

/// Seconds from starting the RS on `state` to its first KEEPALIVE of
/// `cookie` answered 200.
fn restart_secs(rt: &tokio::runtime::Runtime, state: &Path, config: &str, cookie: u64) -> f64 {
    let started = Instant::now();
    let rs = start_rs(state, config, "info");
    let keepalive =
        move |_| format!("KEEPALIVE&*P2P-DI/1.0&*{cookie}&*bench&*Linux\r\n").into_bytes();
    let mut first = Phase::new(rs.addr, 1, 60.0, OK, keepalive);
    first.count = 1;
    let answered = run(rt, &first);
    assert_eq!(
        answered.failed, 0,
        "the peer was not known after the restart"
    );
    started.elapsed().as_secs_f64()
}

fn main() {
    let peers: u32 = arg("--peers", 1_000_000);
    let crowd: u32 = arg("--crowd", 60_000).clamp(1, 60_000);
    let rt = runtime();
    let now = p2p_di_actors::now_ms();
    let config = format!(
        "(max_peers: {}, max_peers_per_address: {crowd}, compact_after_events: 100000000, stats_interval_secs: 0)",
        peers as usize * 2
    );
    let root = tempfile::tempdir().unwrap();

    // The baseline: the same peers from a snapshot.
    let snapshot = root.path().join("snapshot");
    let snapshot_cookies = preload(&snapshot, peers, 7200, now);
    let base = restart_secs(&rt, &snapshot, &config, snapshot_cookies[0]);

    let mut rows = Vec::new();
    for per_address in [1, crowd] {
        let state = root.path().join(format!("journal-{per_address}"));
        write_journal(&state, peers, per_address, now);
        let bytes = std::fs::metadata(recovery::journal_path(&state, 0))
            .unwrap()
            .len();
        let replay = (0..3)
            .map(|_| {
                let clock = Instant::now();
                let back =
                    recovery::recover(&state, 7200, peers as usize * 2, crowd as usize).unwrap();
                assert_eq!(back.journal_events, peers as usize);
                clock.elapsed()
            })
            .min()
            .unwrap_or(Duration::MAX);
        let restart = restart_secs(&rt, &state, &config, cookie(peers - 1));
        rows.push((per_address, bytes, replay, restart));
    }

    println!("## RS restart on an uncompacted journal of {peers} registrations\n");
    println!(
        "| state | on disk | replay in process | events/s | start to first answer | vs snapshot |"
    );
    println!("|---|---:|---:|---:|---:|---:|");
    println!("| snapshot of {peers} peers (baseline) | | | | {base:.2} s | 1.00 |");
    for (per_address, bytes, replay, restart) in &rows {
        println!(
            "| journal, {per_address} peer(s) an address | {:.0} MB | {:.2} s | {:.0} | {restart:.2} s | {:.2} |",
            *bytes as f64 / 1e6,
            replay.as_secs_f64(),
            f64::from(peers) / replay.as_secs_f64(),
            restart / base
        );
    }
    let (one, many) = (rows[0].2.as_secs_f64(), rows[1].2.as_secs_f64());
    println!(
        "\nreplay at {crowd} peers an address against one: {:.2} (1.00: the crowd costs nothing)",
        many / one
    );
}
