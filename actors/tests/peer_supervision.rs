//! A peer's store, RS link and downloader come back after a panic, and the
//! peer still serves and downloads: real sockets on 127.0.0.1, in-process.

use p2p_di_actors::config::{PeerConfig, RsConfig};
use p2p_di_actors::fault;
use p2p_di_actors::peer::{self, downloader, link, store};
use p2p_di_actors::rs;
use std::net::SocketAddr;
use std::path::Path;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

async fn exchange(addr: SocketAddr, request: &str) -> Vec<u8> {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut reply = Vec::new();
    stream.read_to_end(&mut reply).await.unwrap();
    reply
}

fn quiet() -> slog::Logger {
    slog::Logger::root(slog::Discard, slog::o!())
}

fn peer_config(rs: SocketAddr, dir: &Path, host: &str) -> PeerConfig {
    PeerConfig {
        rs: rs.to_string(),
        listen: Some("127.0.0.1:0".parse().unwrap()),
        rfc_dir: dir.to_owned(),
        host: Some(host.into()),
        rs_retry_initial_ms: 20,
        rs_retry_max_ms: 100,
        ..PeerConfig::default()
    }
}

#[actix_rt::test]
async fn a_peer_serves_and_downloads_after_its_actors_panic() {
    let root = tempfile::tempdir().unwrap();
    let rs_config = RsConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        state_dir: root.path().join("rs"),
        ..RsConfig::default()
    };
    let rs = rs::start(&rs_config, quiet()).await.unwrap();
    let b_dir = root.path().join("b");
    std::fs::create_dir(&b_dir).unwrap();
    for n in [1u32, 2, 3] {
        std::fs::write(
            b_dir.join(format!("rfc{n}.txt")),
            format!("# Doc {n} {{#title}}\n{}", "x".repeat(1000 * n as usize)),
        )
        .unwrap();
    }
    let b = peer::start(&peer_config(rs.local_addr, &b_dir, "hostB"), quiet())
        .await
        .unwrap();
    let a_dir = root.path().join("a");
    let a = peer::start(&peer_config(rs.local_addr, &a_dir, "hostA"), quiet())
        .await
        .unwrap();
    b.link.send(link::WaitJoined).await.unwrap();
    a.link.send(link::WaitJoined).await.unwrap();

    // B's store panics: it restarts from its folder and serves on.
    fault::arm("store.index", 1);
    assert!(b.store.send(store::GetIndex).await.is_err());
    let reply = exchange(b.local_addr, "GET&*RFC&*2&*P2P-DI/1.0&*t&*Linux\r\n").await;
    assert!(
        reply.starts_with(b"P2P-DI/1.0&*200&*OK&*hostB&*Linux&*"),
        "{}",
        String::from_utf8_lossy(&reply)
    );

    // A's downloader, store and link panic; it still downloads.
    fault::arm("downloader.fetch", 1);
    let fetch = downloader::Fetch { numbers: vec![] };
    assert!(a.downloader.send(fetch).await.is_err());
    fault::arm("store.index", 1);
    assert!(a.store.send(store::GetIndex).await.is_err());
    fault::arm("link.state", 1);
    assert!(a.link.send(link::GetLinkState).await.is_err());
    a.link.send(link::WaitJoined).await.unwrap();
    let state = a.link.send(link::GetLinkState).await.unwrap();
    assert!(state.joined);
    let finished = a
        .downloader
        .send(downloader::Fetch {
            numbers: vec![1, 2, 3],
        })
        .await
        .unwrap();
    for f in &finished {
        assert!(
            matches!(f.outcome, downloader::Outcome::Downloaded { .. }),
            "{f:?}"
        );
    }
    for n in [1u32, 2, 3] {
        let name = format!("rfc{n}.txt");
        assert_eq!(
            std::fs::read(a_dir.join(&name)).unwrap(),
            std::fs::read(b_dir.join(&name)).unwrap()
        );
    }
    // and serves what it downloaded
    let reply = exchange(a.local_addr, "GET&*RFC&*3&*P2P-DI/1.0&*t&*Linux\r\n").await;
    assert!(reply.starts_with(b"P2P-DI/1.0&*200&*OK&*hostA&*Linux&*"));
}
