//! A peer's store, RS link and downloader come back after a panic, and the
//! peer still serves and downloads: real sockets on 127.0.0.1, in-process.

use p2p_di_actors::config::{PeerConfig, RsConfig};
use p2p_di_actors::fault;
use p2p_di_actors::peer::{self, downloader, link, store};
use p2p_di_actors::rs;
use p2p_di_actors::sys::OS_NAME as OS;
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

/// Armed fault points are process-wide: the tests of this file run one at
/// a time so that one's armed point is never reached by another.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn quiet() -> slog::Logger {
    slog::Logger::root(slog::Discard, slog::o!())
}

fn peer_config(rs: SocketAddr, dir: &Path, host: &str) -> PeerConfig {
    PeerConfig {
        rs: p2p_di_actors::config::RsList::one(rs.to_string()),
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
    let _one = ONE_AT_A_TIME.lock().await;
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
        reply.starts_with(format!("P2P-DI/1.0&*200&*OK&*hostB&*{OS}&*").as_bytes()),
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
    assert!(reply.starts_with(format!("P2P-DI/1.0&*200&*OK&*hostA&*{OS}&*").as_bytes()));
}

async fn rs_and_holder(
    root: &Path,
    docs: &[(u32, usize)],
    upload: Option<u64>,
) -> (rs::RsHandle, peer::PeerHandle) {
    let rs_config = RsConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        state_dir: root.join("rs"),
        ..RsConfig::default()
    };
    let rs = rs::start(&rs_config, quiet()).await.unwrap();
    let b_dir = root.join("b");
    std::fs::create_dir(&b_dir).unwrap();
    for (n, size) in docs {
        std::fs::write(
            b_dir.join(format!("rfc{n}.txt")),
            vec![b'a' + (*n % 26) as u8; *size],
        )
        .unwrap();
    }
    let mut config = peer_config(rs.local_addr, &b_dir, "hostB");
    config.upload_limit_bytes_per_sec = upload;
    let b = peer::start(&config, quiet()).await.unwrap();
    b.link.send(link::WaitJoined).await.unwrap();
    (rs, b)
}

fn partials(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok()?.file_name().into_string().ok())
                .filter(|name| name.starts_with(".rfc") && name.ends_with(".part"))
                .collect()
        })
        .unwrap_or_default()
}

async fn wait_for(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !check() {
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
}

#[actix_rt::test]
async fn a_downloader_restart_ends_its_downloads_as_interrupted_and_removes_their_files() {
    let _one = ONE_AT_A_TIME.lock().await;
    let root = tempfile::tempdir().unwrap();
    // 2 MB at 500 KB/s: the transfer runs for seconds
    let (rs, b) = rs_and_holder(root.path(), &[(7, 2_000_000), (8, 1000)], Some(500_000)).await;
    let a_dir = root.path().join("a");
    let a = peer::start(&peer_config(rs.local_addr, &a_dir, "hostA"), quiet())
        .await
        .unwrap();
    a.link.send(link::WaitJoined).await.unwrap();
    let running = a.downloader.send(downloader::Fetch { numbers: vec![7] });
    let running = actix_rt::spawn(running);
    wait_for("the transfer to start", || !partials(&a_dir).is_empty()).await;
    fault::arm("downloader.fetch", 1);
    let panicked = a
        .downloader
        .send(downloader::Fetch { numbers: vec![] })
        .await;
    assert!(panicked.is_err(), "{panicked:?}");
    let finished = running.await.unwrap().unwrap();
    assert_eq!(finished.len(), 1);
    assert!(
        matches!(
            finished[0].outcome,
            downloader::Outcome::Failed(downloader::DownloadError::Interrupted)
        ),
        "{:?}",
        finished[0].outcome
    );
    wait_for("the temporary file to go", || partials(&a_dir).is_empty()).await;
    assert!(!a_dir.join("rfc7.txt").exists());
    // and it downloads again
    let finished = a
        .downloader
        .send(downloader::Fetch { numbers: vec![8] })
        .await
        .unwrap();
    assert!(matches!(
        finished[0].outcome,
        downloader::Outcome::Downloaded { .. }
    ));
    drop(b);
}

#[actix_rt::test]
async fn a_commit_in_flight_when_the_store_restarts_is_indexed_and_served() {
    let _one = ONE_AT_A_TIME.lock().await;
    let root = tempfile::tempdir().unwrap();
    let (rs, _b) = rs_and_holder(root.path(), &[(9, 30_000)], None).await;
    let a_dir = root.path().join("a");
    let a = peer::start(&peer_config(rs.local_addr, &a_dir, "hostA"), quiet())
        .await
        .unwrap();
    a.link.send(link::WaitJoined).await.unwrap();
    // the store panics once the document is on disk, before indexing it
    fault::arm("store.commit", 1);
    let finished = a
        .downloader
        .send(downloader::Fetch { numbers: vec![9] })
        .await
        .unwrap();
    assert!(
        matches!(
            finished[0].outcome,
            downloader::Outcome::Downloaded { bytes: 30_000, .. }
        ),
        "{:?}",
        finished[0].outcome
    );
    // the store's restart scanned the folder: A serves it
    let mut served = Vec::new();
    for _ in 0..200 {
        served = exchange(a.local_addr, "GET&*RFC&*9&*P2P-DI/1.0&*t&*Linux\r\n").await;
        if served.starts_with(b"P2P-DI/1.0&*200") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert!(served.starts_with(format!("P2P-DI/1.0&*200&*OK&*hostA&*{OS}&*30000\r\n").as_bytes()));
    let stats = a.store.send(store::GetStoreStats).await.unwrap();
    assert_eq!(stats.documents, 1);
}
