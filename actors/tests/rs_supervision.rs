//! The registry comes back after a panic, with every acknowledged
//! registration: real sockets on 127.0.0.1, in-process actors.

use p2p_di_actors::config::RsConfig;
use p2p_di_actors::fault;
use p2p_di_actors::rs::{
    self,
    registry::{GetStats, KeepAlive},
};
use p2p_di_actors::sys::OS_NAME as OS;
use std::net::SocketAddr;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

async fn exchange(addr: SocketAddr, request: &str) -> String {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut reply = Vec::new();
    stream.read_to_end(&mut reply).await.unwrap();
    String::from_utf8(reply).unwrap()
}

/// Armed fault points are process-wide: the tests of this file run one at
/// a time so that one's armed point is never reached by another.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn quiet() -> slog::Logger {
    slog::Logger::root(slog::Discard, slog::o!())
}

#[actix_rt::test]
async fn a_panicking_registry_restarts_and_loses_no_registration() {
    let _one = ONE_AT_A_TIME.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let config = RsConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        state_dir: dir.path().join("state"),
        host: Some("rs".into()),
        ..RsConfig::default()
    };
    let rs = rs::start(&config, quiet()).await.unwrap();
    let mut cookies = Vec::new();
    for port in 1..=10 {
        let request = format!("REGISTER&*P2P-DI/1.0&*h{port}&*Linux&*{port}\r\n");
        let reply = exchange(rs.local_addr, &request).await;
        cookies.push(reply.trim_end().rsplit("&*").next().unwrap().to_owned());
    }
    // The panic loses the message that caused it, and only that one; the
    // registry reloads from disk (answering 503 meanwhile) and serves on.
    let first: u64 = cookies[0].parse().unwrap();
    fault::arm("registry.keepalive", 1);
    assert!(rs.registry.send(KeepAlive { cookie: first }).await.is_err());
    let stats = serving(&rs).await;
    assert_eq!(stats.counts.records, 10);

    for (i, cookie) in cookies.iter().enumerate() {
        let request = format!("KEEPALIVE&*P2P-DI/1.0&*{cookie}&*h{}&*Linux\r\n", i + 1);
        let reply = exchange(rs.local_addr, &request).await;
        assert_eq!(reply, format!("P2P-DI/1.0&*200&*OK&*rs&*{OS}\r\n"));
    }
    let reply = exchange(rs.local_addr, "REGISTER&*P2P-DI/1.0&*new&*Linux&*99\r\n").await;
    assert!(
        reply.starts_with(&format!("P2P-DI/1.0&*200&*OK&*rs&*{OS}&*")),
        "{reply}"
    );

    // and it survives a second panic too
    fault::arm("registry.keepalive", 1);
    assert!(rs.registry.send(KeepAlive { cookie: first }).await.is_err());
    assert_eq!(serving(&rs).await.counts.records, 11);
}

/// Waits (10 s at most) until the registry serves again.
async fn serving(rs: &rs::RsHandle) -> p2p_di_actors::rs::registry::RegistryStats {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let stats = rs.registry.send(GetStats).await.unwrap();
        if stats.serving {
            return stats;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the registry never served again"
        );
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
}

#[actix_rt::test]
async fn the_running_rs_compacts_its_journal_and_loses_nothing() {
    let _one = ONE_AT_A_TIME.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let config = RsConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        state_dir: state.clone(),
        compact_after_events: 10_000,
        ..RsConfig::default()
    };
    let rs = rs::start(&config, quiet()).await.unwrap();
    let reply = exchange(rs.local_addr, "REGISTER&*P2P-DI/1.0&*h&*Linux&*1\r\n").await;
    let cookie: u64 = reply
        .trim_end()
        .rsplit("&*")
        .next()
        .unwrap()
        .parse()
        .unwrap();
    // past 10,000 journaled events the registry writes a snapshot
    for _ in 0..10_001 {
        rs.registry
            .send(KeepAlive { cookie })
            .await
            .unwrap()
            .unwrap();
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !state.join("snapshot").exists() {
        assert!(std::time::Instant::now() < deadline, "no snapshot");
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    rs.flush().await.unwrap();
    assert!(state.join("journal.1").exists());
    assert!(!state.join("journal.0").exists());
    let recovered = rs::recovery::recover(&state, 7200, 100, 100).unwrap();
    assert_eq!(recovered.generation, 1);
    assert!(
        recovered
            .registry
            .view(cookie, p2p_di_actors::now_ms())
            .unwrap()
            .active
    );
}

/// An RS on a state folder holding `n` active peers from distinct
/// addresses; returns it with their cookies.
async fn rs_with_peers(state: &std::path::Path, n: u32) -> (rs::RsHandle, Vec<u64>) {
    use p2p_di_actors::state::registry::{Registrant, Registry};
    let now = p2p_di_actors::now_ms();
    let mut registry = Registry::new(7200, 1_000_000, 256);
    let mut next = 1_000_000_000_000_000u64;
    let mut cookies = Vec::new();
    for i in 0..n {
        let address = std::net::IpAddr::V4(std::net::Ipv4Addr::from(0x0a00_0000 + i));
        let decided = registry
            .decide_register(
                Registrant::new("peer", "Linux", 65400, None, address),
                now,
                || {
                    next += 7919;
                    next
                },
            )
            .unwrap();
        for event in &decided.events {
            registry.apply(event);
        }
        cookies.push(decided.cookie);
    }
    rs::recovery::write_snapshot(state, &registry).unwrap();
    let config = RsConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        state_dir: state.to_owned(),
        host: Some("rs".into()),
        ..RsConfig::default()
    };
    (rs::start(&config, quiet()).await.unwrap(), cookies)
}

#[actix_rt::test]
async fn keepalive_is_answered_within_50_ms_while_the_registry_reloads_100000_records() {
    let _one = ONE_AT_A_TIME.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let (rs, cookies) = rs_with_peers(&dir.path().join("state"), 100_000).await;
    let keepalive = format!("KEEPALIVE&*P2P-DI/1.0&*{}&*peer&*Linux\r\n", cookies[0]);
    fault::arm("registry.keepalive", 1);
    assert!(rs
        .registry
        .send(KeepAlive { cookie: cookies[1] })
        .await
        .is_err());
    // the registry reloads on the journal's thread; meanwhile it answers
    let (mut refused, mut slowest) = (0, std::time::Duration::ZERO);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let asked = std::time::Instant::now();
        let reply = exchange(rs.local_addr, &keepalive).await;
        slowest = slowest.max(asked.elapsed());
        if reply == format!("P2P-DI/1.0&*200&*OK&*rs&*{OS}\r\n") {
            break;
        }
        assert_eq!(
            reply,
            format!("P2P-DI/1.0&*503&*Service Unavailable&*rs&*{OS}\r\n")
        );
        refused += 1;
        assert!(std::time::Instant::now() < deadline, "never served again");
    }
    assert!(refused > 0, "the reload was seen");
    assert!(
        slowest < std::time::Duration::from_millis(50),
        "a KEEPALIVE waited {slowest:?}"
    );
    assert_eq!(serving(&rs).await.counts.records, 100_000);
}

#[actix_rt::test]
async fn a_reload_that_fails_answers_503_until_the_state_reads_again() {
    let _one = ONE_AT_A_TIME.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let (rs, cookies) = rs_with_peers(&state, 10).await;
    let keepalive = format!("KEEPALIVE&*P2P-DI/1.0&*{}&*peer&*Linux\r\n", cookies[0]);
    // the snapshot is damaged, then the registry restarts
    let snapshot = std::fs::read(state.join("snapshot")).unwrap();
    std::fs::write(state.join("snapshot"), b"garbage").unwrap();
    fault::arm("registry.keepalive", 1);
    assert!(rs
        .registry
        .send(KeepAlive { cookie: cookies[1] })
        .await
        .is_err());
    for _ in 0..3 {
        assert_eq!(
            exchange(rs.local_addr, &keepalive).await,
            format!("P2P-DI/1.0&*503&*Service Unavailable&*rs&*{OS}\r\n")
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(!rs.registry.send(GetStats).await.unwrap().serving);
    // repaired: the next try reads it and serves
    std::fs::write(state.join("snapshot"), snapshot).unwrap();
    assert_eq!(serving(&rs).await.counts.records, 10);
    assert_eq!(
        exchange(rs.local_addr, &keepalive).await,
        format!("P2P-DI/1.0&*200&*OK&*rs&*{OS}\r\n")
    );
}
