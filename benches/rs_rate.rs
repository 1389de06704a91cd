//! RS exchange rate on loopback against a minimal tokio server, in one run.
//!
//! `cargo bench --bench rs_rate` (options after `--`: `--secs N` per phase,
//! `--clients N`). Each phase runs N concurrent clients for a bounded time;
//! each exchange is connect, one request, read the reply to EOF, close.
//! The baseline is a one-thread tokio server that accepts, reads a line,
//! writes a line and closes (the RS also serves from one thread). The
//! ratio is RS rate / baseline rate; the aim is 0.7 or more for KEEPALIVE.
//! The RS holds 1,000 peers, and the load is spread over all of them, as
//! at scale: every PQUERY comes from another asker (each well within its
//! pace) and lists the other 999. One peer looping PQUERY has a row of its
//! own: it is paced (50 a second after a burst of 200, by default).
//! `cargo bench --bench rs_scale` measures a million peers.

#[path = "support/mod.rs"]
mod support;

use std::sync::Arc;
use std::time::Instant;
use support::*;

const OK: &[u8] = b"P2P-DI/1.0&*200";

fn cycling(requests: Vec<Vec<u8>>) -> impl Fn(u64) -> Vec<u8> + Send + Sync {
    move |i| requests[i as usize % requests.len()].clone()
}

fn keepalives(cookies: &[u64]) -> Vec<Vec<u8>> {
    cookies
        .iter()
        .map(|c| format!("KEEPALIVE&*P2P-DI/1.0&*{c}&*peer&*Linux\r\n").into_bytes())
        .collect()
}

fn main() {
    let secs: f64 = arg("--secs", 2.0);
    let clients: usize = arg("--clients", 16);
    let rt = runtime();
    println!("RS exchange rate on loopback: {clients} clients, {secs} s per phase");
    let baseline = start_baseline();
    let line = || cycling(vec![b"KEEPALIVE&*P2P-DI/1.0&*1&*peer&*Linux\r\n".to_vec()]);
    let config = "(stats_interval_secs: 0)";

    let small = tempfile::tempdir().unwrap();
    let state = small.path().join("state");
    let cookies = preload(&state, 1000, 7200, p2p_di_actors::now_ms());
    let rs = start_rs(&state, config, "warn");
    let registers: Vec<Vec<u8>> = cookies
        .iter()
        .enumerate()
        .map(|(i, c)| {
            format!("REGISTER&*P2P-DI/1.0&*peer&*Linux&*{}&*{c}\r\n", 20_000 + i).into_bytes()
        })
        .collect();
    let pqueries: Vec<Vec<u8>> = cookies
        .iter()
        .map(|c| format!("PQUERY&*P2P-DI/1.0&*{c}&*peer&*Linux\r\n").into_bytes())
        .collect();
    // warm up both
    run(&rt, &Phase::new(baseline, clients, 0.3, OK, line()));
    run(
        &rt,
        &Phase::new(rs.addr, clients, 0.3, OK, cycling(keepalives(&cookies))),
    );
    let base1 = run(&rt, &Phase::new(baseline, clients, secs, OK, line())).rate;
    let keepalive = run(
        &rt,
        &Phase::new(rs.addr, clients, secs, OK, cycling(keepalives(&cookies))),
    )
    .rate;
    let pquery = run(
        &rt,
        &Phase::new(rs.addr, clients, secs, OK, cycling(pqueries.clone())),
    )
    .rate;
    // One peer, asking as fast as the 16 clients can.
    let looper = run(
        &rt,
        &Phase::new(rs.addr, clients, secs, OK, cycling(pqueries[..1].to_vec())),
    )
    .rate;
    // Each peer registers again from its own address, as it did first.
    let mut registering = Phase::new(rs.addr, clients, secs, OK, cycling(registers));
    let peers = cookies.len() as u64;
    registering.source = Arc::new(move |i| Some(peer_address((i % peers) as u32)));
    let registered = run(&rt, &registering);
    assert_eq!(registered.failed, 0, "every REGISTER is answered 200");
    let register = registered.rate;
    let base2 = run(&rt, &Phase::new(baseline, clients, secs, OK, line())).rate;
    drop(rs);
    let base = (base1 + base2) / 2.0;

    let big = tempfile::tempdir().unwrap();
    let state = big.path().join("state");
    let started = Instant::now();
    let many = Arc::new(preload(&state, 100_000, 7200, p2p_di_actors::now_ms()));
    let preload_secs = started.elapsed().as_secs_f64();
    let started = Instant::now();
    let rs = start_rs(&state, config, "warn");
    let recover_secs = started.elapsed().as_secs_f64();
    run(
        &rt,
        &Phase::new(rs.addr, clients, 0.3, OK, cycling(keepalives(&many))),
    );
    let keepalive_100k = run(
        &rt,
        &Phase::new(rs.addr, clients, secs, OK, cycling(keepalives(&many))),
    )
    .rate;
    let base3 = run(&rt, &Phase::new(baseline, clients, secs, OK, line())).rate;
    drop(rs);

    println!();
    println!("| server | exchanges/s | ratio to baseline |");
    println!("|---|---:|---:|");
    println!("| minimal tokio line server (baseline, mean of 2) | {base:.0} | 1.00 |");
    for (name, rate) in [
        ("RS KEEPALIVE (1,000 peers)", keepalive),
        ("RS PQUERY (1,000 askers, 999 listed each)", pquery),
        ("RS REGISTER with cookie (fsync'd journal)", register),
    ] {
        println!("| {name} | {rate:.0} | {:.2} |", rate / base);
    }
    println!(
        "| RS PQUERY of one peer looping (paced: its burst, then its rate) | {looper:.0} | {:.3} |",
        looper / base
    );
    println!(
        "| RS KEEPALIVE (100,000 peers) | {keepalive_100k:.0} | {:.2} (baseline then: {base3:.0}) |",
        keepalive_100k / base3
    );
    println!();
    println!("baseline runs: {base1:.0} and {base2:.0} exchanges/s");
    println!("100,000-peer state written in {preload_secs:.2} s, RS started on it in {recover_secs:.2} s");
}
