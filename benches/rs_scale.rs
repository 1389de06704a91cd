//! The RS at scale: a million peers, against a minimal tokio server
//! measured in the same run.
//!
//! `cargo bench --bench rs_scale` (options after `--`: `--peers N`
//! (1,000,000), `--clients N` (16), `--secs S` per rate phase (5),
//! `--pquery-secs S` for the memory watch (60), `--quick`: write the N
//! peers' state off line instead of filling over the wire, and measure
//! only the resident memory and phases 2 and 3). Phases:
//!
//! 1. fill: N REGISTERs over the wire, each from its own loopback address
//!    (127.1.0.0 on), durable (group-committed fsync); resident bytes per
//!    peer after it (the journal is compacted once it holds N events);
//! 2. KEEPALIVE and PQUERY rates (PQUERY: a sample of 1,000 of the N)
//!    against the baseline, with PQUERY's p99 latency;
//! 3. a peer looping PQUERY beside 15 KEEPALIVE clients: their rate with
//!    and without it (twice each, in ABBA order);
//! 4. resident memory across `--pquery-secs` of PQUERY load;
//! 5. restart: time from start to the first answer, bytes on disk per peer;
//! 6. expiry: 100,000 peers whose TTL ends in the same second, and a
//!    compaction of 100,000 records under load: KEEPALIVE's max latency;
//! 7. the REGISTER rate with info logging against logging off (four runs
//!    of each, in ABBA order; medians).

#[path = "support/mod.rs"]
mod support;

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use support::*;

const OK: &[u8] = b"P2P-DI/1.0&*200";
/// The big RS: compacted once its journal holds a quarter as many events
/// as there are records.
const BIG: &str = "(max_peers: 2000000, stats_interval_secs: 0, compact_after_events: 1)";

fn keepalive(cookies: Arc<Vec<u64>>) -> impl Fn(u64) -> Vec<u8> + Send + Sync {
    move |i| {
        let cookie = cookies[(i.wrapping_mul(7919) % cookies.len() as u64) as usize];
        format!("KEEPALIVE&*P2P-DI/1.0&*{cookie}&*peer&*Linux\r\n").into_bytes()
    }
}

fn pquery(cookies: Arc<Vec<u64>>) -> impl Fn(u64) -> Vec<u8> + Send + Sync {
    move |i| {
        let cookie = cookies[(i.wrapping_mul(104_729) % cookies.len() as u64) as usize];
        format!("PQUERY&*P2P-DI/1.0&*{cookie}&*peer&*Linux\r\n").into_bytes()
    }
}

/// REGISTERs from distinct loopback addresses, starting at peer `first`.
fn register_phase(addr: std::net::SocketAddr, clients: usize, count: u64, first: u32) -> Phase {
    let mut phase = Phase::new(addr, clients, 3600.0, OK, move |i| {
        format!(
            "REGISTER&*P2P-DI/1.0&*peer-{}&*Linux&*65400\r\n",
            i + u64::from(first)
        )
        .into_bytes()
    });
    phase.count = count;
    phase.keep_replies = true;
    phase.source = Arc::new(move |i| Some(peer_address(first + i as u32)));
    phase
}

fn now_ms() -> u64 {
    p2p_di_actors::now_ms()
}

fn dir_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .filter_map(|e| e.metadata().ok())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// `--quick`: N peers written off line, then the resident memory and
/// phases 2 and 3.
fn quick(
    rt: &tokio::runtime::Runtime,
    baseline: std::net::SocketAddr,
    root: &Path,
    peers: u32,
    clients: usize,
    secs: f64,
) {
    let state = root.join("quick");
    let cookies = Arc::new(preload(&state, peers, 7200, now_ms()));
    let rs = start_rs(&state, BIG, "info");
    let rss = rss_bytes(rs.pid());
    println!(
        "resident memory: {} MB, {:.0} bytes per peer (including the empty RS's)",
        rss >> 20,
        rss as f64 / f64::from(peers)
    );
    let Rates {
        base1,
        base2,
        keepalives,
        pqueries,
    } = rates(rt, baseline, rs.addr, clients, secs, &cookies);
    let base = (base1.rate + base2.rate) / 2.0;
    println!(
        "baseline {base:.0} /s (mean of 2), KEEPALIVE {:.0} /s ({:.2}), PQUERY {:.0} /s ({:.2} of KEEPALIVE; p50 {:.1} ms, p99 {:.1} ms)",
        keepalives.rate,
        keepalives.rate / base,
        pqueries.rate,
        pqueries.rate / keepalives.rate,
        ms(pqueries.percentile(0.5)),
        ms(pqueries.percentile(0.99))
    );
    let others = clients.saturating_sub(1).max(1);
    let (alone, with, loop_rate) = looper(rt, rs.addr, others, secs, &cookies);
    println!(
        "KEEPALIVE of {others} clients alone / beside a PQUERY loop: {alone:.0} / {with:.0} /s, {:.2} kept (the loop: {loop_rate:.0} /s)",
        with / alone
    );
    drop(rs);
}

/// Phase 2's loads: the baseline before and after KEEPALIVE and PQUERY.
struct Rates {
    base1: Load,
    base2: Load,
    keepalives: Load,
    pqueries: Load,
}

fn rates(
    rt: &tokio::runtime::Runtime,
    baseline: std::net::SocketAddr,
    addr: std::net::SocketAddr,
    clients: usize,
    secs: f64,
    cookies: &Arc<Vec<u64>>,
) -> Rates {
    let base_phase = Phase::new(baseline, clients, secs, OK, |_| {
        b"KEEPALIVE&*P2P-DI/1.0&*1&*peer&*Linux\r\n".to_vec()
    });
    let base1 = run(rt, &base_phase);
    let keepalives = run(
        rt,
        &Phase::new(addr, clients, secs, OK, keepalive(cookies.clone())),
    );
    let pqueries = run(
        rt,
        &Phase::new(addr, clients, secs, OK, pquery(cookies.clone())),
    );
    let base2 = run(rt, &base_phase);
    Rates {
        base1,
        base2,
        keepalives,
        pqueries,
    }
}

/// The KEEPALIVE rate of `others` clients alone and beside one peer
/// looping PQUERY, and the loop's rate: twice each, in ABBA order, so a
/// drift of the machine weighs on both alike; the means.
fn looper(
    rt: &tokio::runtime::Runtime,
    addr: std::net::SocketAddr,
    others: usize,
    secs: f64,
    cookies: &Arc<Vec<u64>>,
) -> (f64, f64, f64) {
    let keepalives = Phase::new(addr, others, secs, OK, keepalive(cookies.clone()));
    // The looper is one peer: one cookie, asking again as soon as it is
    // answered.
    let looping = Phase::new(addr, 1, secs, OK, pquery(Arc::new(vec![cookies[0]])));
    let alone_1 = run(rt, &keepalives);
    let (with_1, looper_1) = beside(rt, &keepalives, &looping);
    let (with_2, looper_2) = beside(rt, &keepalives, &looping);
    let alone_2 = run(rt, &keepalives);
    (
        (alone_1.rate + alone_2.rate) / 2.0,
        (with_1.rate + with_2.rate) / 2.0,
        (looper_1.rate + looper_2.rate) / 2.0,
    )
}

/// Runs `phase` while another thread runs `beside` for as long.
fn beside(rt: &tokio::runtime::Runtime, phase: &Phase, beside: &Phase) -> (Load, Load) {
    let other = beside.clone();
    let handle = std::thread::spawn(move || run(&runtime(), &other));
    let main = run(rt, phase);
    (main, handle.join().unwrap())
}

fn main() {
    let peers: u32 = arg("--peers", 1_000_000);
    let clients: usize = arg("--clients", 16);
    let secs: f64 = arg("--secs", 5.0);
    let pquery_secs: f64 = arg("--pquery-secs", 60.0);
    let rt = runtime();
    let baseline = start_baseline();
    let root = tempfile::tempdir().unwrap();
    println!("RS at scale: {peers} peers, {clients} clients, {secs} s per rate phase");
    if std::env::args().any(|a| a == "--quick") {
        return quick(&rt, baseline, root.path(), peers, clients, secs);
    }

    // 1. fill
    let state = root.path().join("big");
    let rs = start_rs(&state, BIG, "info");
    let empty_rss = rss_bytes(rs.pid());
    let started = Instant::now();
    let fill = run(&rt, &register_phase(rs.addr, clients, u64::from(peers), 0));
    let fill_secs = started.elapsed().as_secs_f64();
    assert_eq!(fill.failed, 0, "registrations failed");
    let cookies: Arc<Vec<u64>> = Arc::new(fill.replies.iter().map(|r| cookie_of(r)).collect());
    // the journal is compacted once it holds as many events as records
    let deadline = Instant::now() + Duration::from_secs(120);
    while !rs.logged("journal compacted") && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    let full_rss = rss_bytes(rs.pid());
    let per_peer = (full_rss.saturating_sub(empty_rss)) as f64 / f64::from(peers);
    let disk_per_peer = dir_bytes(&state) as f64 / f64::from(peers);

    // 2. rates against the baseline
    let Rates {
        base1,
        base2,
        keepalives,
        pqueries,
    } = rates(&rt, baseline, rs.addr, clients, secs, &cookies);
    let base = (base1.rate + base2.rate) / 2.0;

    // 3. one peer looping PQUERY beside 15 KEEPALIVE clients
    let others = clients.saturating_sub(1).max(1);
    let (alone_rate, with_rate, looper_rate) = looper(&rt, rs.addr, others, secs, &cookies);

    // 4. memory across a long PQUERY load
    let watching = Arc::new(AtomicBool::new(true));
    let (pid, watch) = (rs.pid(), watching.clone());
    let sampler = std::thread::spawn(move || {
        let mut samples = Vec::new();
        while watch.load(Ordering::Relaxed) {
            samples.push(rss_bytes(pid));
            std::thread::sleep(Duration::from_millis(500));
        }
        samples
    });
    let long = run(
        &rt,
        &Phase::new(rs.addr, clients, pquery_secs, OK, pquery(cookies.clone())),
    );
    watching.store(false, Ordering::Relaxed);
    let samples = sampler.join().unwrap();
    let (rss_first, rss_last, rss_max) = (
        samples.first().copied().unwrap_or(0),
        samples.last().copied().unwrap_or(0),
        samples.iter().copied().max().unwrap_or(0),
    );

    // 5. restart on the same folder
    drop(rs);
    let started = Instant::now();
    let rs = start_rs(&state, BIG, "info");
    let mut first = Phase::new(rs.addr, 1, 60.0, OK, keepalive(cookies.clone()));
    first.count = 1;
    let answered = run(&rt, &first);
    let restart_secs = started.elapsed().as_secs_f64();
    assert_eq!(answered.failed, 0, "a peer was lost in the restart");
    let recovered = rs
        .log
        .lock()
        .unwrap()
        .iter()
        .find(|l| l.contains("state recovered"))
        .cloned()
        .unwrap_or_default();
    let field = |name: &str| {
        recovered
            .split(&format!("\"{name}\":"))
            .nth(1)
            .and_then(|rest| rest.split([',', '}']).next())
            .unwrap_or("?")
            .to_owned()
    };
    let (recover_ms, tail) = (field("elapsed_ms"), field("journal_events"));
    drop(rs);

    // 6a. 100,000 peers whose TTL ends in the same second
    let burst = root.path().join("burst");
    let ttl = 4;
    preload(&burst, 100_000, ttl, now_ms());
    let rs = start_rs(
        &burst,
        &format!("(ttl_secs: {ttl}, stats_interval_secs: 0)"),
        "info",
    );
    let live = run(&rt, &register_phase(rs.addr, 1, 1, 200_000));
    let live = Arc::new(vec![cookie_of(&live.replies[0])]);
    let during = run(
        &rt,
        &Phase::new(
            rs.addr,
            clients,
            f64::from(ttl as u32) + 3.0,
            OK,
            keepalive(live),
        ),
    );
    let expired = rs.logged("peers expired");
    drop(rs);

    // 6b. a compaction of 100,000 records under KEEPALIVE load
    let compacting = root.path().join("compact");
    let many = Arc::new(preload(&compacting, 100_000, 7200, now_ms()));
    let rs = start_rs(&compacting, "(stats_interval_secs: 0)", "info");
    let started = Instant::now();
    let mut under = Vec::new();
    while !rs.logged("journal compacted") && started.elapsed() < Duration::from_secs(120) {
        under.push(run(
            &rt,
            &Phase::new(rs.addr, clients, 1.0, OK, keepalive(many.clone())),
        ));
    }
    let compacted = rs.logged("journal compacted");
    let compaction_max = under.iter().map(Load::max).max().unwrap_or_default();
    drop(rs);

    // 7. REGISTER with info logging against logging off
    // In ABBA order twice, so a drift of the machine over the phase weighs
    // on both levels alike; each level's median.
    let mut rates = Vec::new();
    let order = [
        "info", "error", "error", "info", "info", "error", "error", "info",
    ];
    for (i, level) in order.iter().enumerate() {
        let state = root.path().join(format!("log-{i}"));
        let rs = start_rs(&state, "(stats_interval_secs: 0)", level);
        let first = 300_000 + 50_000 * i as u32;
        let load = run(&rt, &register_phase(rs.addr, clients, 40_000, first));
        rates.push((level, load.rate));
    }
    let median_of = |wanted: &str| {
        let mut of: Vec<f64> = rates
            .iter()
            .filter(|(level, _)| **level == wanted)
            .map(|(_, rate)| *rate)
            .collect();
        of.sort_by(f64::total_cmp);
        (of[of.len() / 2 - 1] + of[of.len() / 2]) / 2.0
    };
    let info = median_of("info");
    let off = median_of("error");

    println!();
    println!("| measure | value | against |");
    println!("|---|---:|---|");
    println!("| fill: REGISTER from distinct addresses (durable) | {:.0} /s | {peers} peers in {fill_secs:.1} s |", fill.rate);
    println!(
        "| resident memory per peer | {per_peer:.0} bytes | RSS {} MB empty, {} MB full |",
        empty_rss >> 20,
        full_rss >> 20
    );
    println!("| state on disk per peer (after compaction) | {disk_per_peer:.0} bytes | |");
    println!(
        "| minimal tokio server (mean of 2) | {base:.0} /s | {:.0} and {:.0} |",
        base1.rate, base2.rate
    );
    println!(
        "| KEEPALIVE | {:.0} /s | {:.2} of the baseline; p99 {:.1} ms |",
        keepalives.rate,
        keepalives.rate / base,
        ms(keepalives.percentile(0.99))
    );
    println!(
        "| PQUERY (1,000 of {peers}) | {:.0} /s | {:.2} of KEEPALIVE; p50 {:.1} ms, p99 {:.1} ms |",
        pqueries.rate,
        pqueries.rate / keepalives.rate,
        ms(pqueries.percentile(0.5)),
        ms(pqueries.percentile(0.99))
    );
    println!("| KEEPALIVE of {others} clients, alone / beside a PQUERY loop (means of 2, ABBA) | {alone_rate:.0} / {with_rate:.0} /s | {:.2} kept (the loop: {looper_rate:.0} PQUERY/s) |", with_rate / alone_rate);
    println!(
        "| resident memory over {pquery_secs:.0} s of PQUERY ({:.0} /s) | {} → {} MB (max {}) | |",
        long.rate,
        rss_first >> 20,
        rss_last >> 20,
        rss_max >> 20
    );
    println!("| restart with {peers} peers: start to first answer | {restart_secs:.2} s | recovery {recover_ms} ms, a tail of {tail} events |");
    println!("| KEEPALIVE while 100,000 peers expire in one second | max {:.1} ms, p99 {:.1} ms | expiry logged: {expired} |", ms(during.max()), ms(during.percentile(0.99)));
    println!(
        "| KEEPALIVE while 100,000 records are compacted | max {:.1} ms | compacted: {compacted} |",
        ms(compaction_max)
    );
    println!(
        "| REGISTER, info logging / logging off (medians of 4) | {info:.0} / {off:.0} /s | {:.2} |",
        info / off
    );
    for (level, rate) in rates {
        println!("  REGISTER at --log-level {level}: {rate:.0} /s");
    }
}
