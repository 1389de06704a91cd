//! The registry comes back after a panic, with every acknowledged
//! registration: real sockets on 127.0.0.1, in-process actors.

use p2p_di_actors::config::RsConfig;
use p2p_di_actors::fault;
use p2p_di_actors::rs::{
    self,
    registry::{GetStats, KeepAlive},
};
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
        assert_eq!(reply, "P2P-DI/1.0&*200&*OK&*rs&*Linux\r\n");
    }
    let reply = exchange(rs.local_addr, "REGISTER&*P2P-DI/1.0&*new&*Linux&*99\r\n").await;
    assert!(
        reply.starts_with("P2P-DI/1.0&*200&*OK&*rs&*Linux&*"),
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
    rs.flush().await;
    assert!(state.join("journal.1").exists());
    assert!(!state.join("journal.0").exists());
    let recovered = rs::journal::recover(&state, 7200, 100, 100).unwrap();
    assert_eq!(recovered.generation, 1);
    assert!(
        recovered
            .registry
            .view(cookie, p2p_di_actors::now_ms())
            .unwrap()
            .active
    );
}
