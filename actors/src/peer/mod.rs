//! The peer: RFC store, RFC server sessions, RS link and downloader, and
//! [`start`], which wires them together.
//!
//! ```text
//! start ─┬─ StoreActor      (supervised, panics included; rebuilt from the folder)
//!        ├─ RsLinkActor     (supervised; registers, keeps alive, leaves)
//!        ├─ DownloaderActor (supervised; downloads, emits DownloadFinished)
//!        └─ Listener ── Session per connection (temporary)
//! ```

pub mod downloader;
pub mod folder;
pub mod link;
pub mod store;

use crate::config::PeerConfig;
use crate::server::{self, Listener, Service, SharedBucket};
use crate::state::index::Holder;
use crate::state::throttle::TokenBucket;
use crate::supervise::{fatal_channel, FatalReceiver, Supervision};
use crate::wire::parse::Role;
use crate::wire::{Origin, Reply, Request, Status};
use actix::prelude::*;
use downloader::{DownloaderActor, DownloaderDeps};
use futures_util::future::LocalBoxFuture;
use link::{LinkConfig, RsLinkActor};
use slog::{info, o, Logger};
use std::cell::RefCell;
use std::net::{Ipv4Addr, SocketAddr};
use std::rc::Rc;
use std::time::{Duration, Instant};
use store::{GetDocument, GetIndex, StoreActor};
use tokio::net::TcpListener;

/// The ports a peer tries, in order, when no `listen` address is given.
pub const DEFAULT_PORTS: std::ops::RangeInclusive<u16> = 65400..=65500;

/// Why a peer could not start.
#[derive(Debug, thiserror::Error)]
pub enum PeerError {
    /// The configuration is invalid.
    #[error("config: {0}")]
    Config(String),
    /// The RFC folder could not be read.
    #[error("RFC folder {dir}: {source}")]
    Folder {
        /// The folder.
        dir: String,
        /// Why.
        source: std::io::Error,
    },
    /// No port could be bound.
    #[error("listening: {0}")]
    Bind(String),
}

/// The peer's RFC server as a [`Service`].
#[derive(Clone)]
pub struct PeerService {
    store: Addr<StoreActor>,
    origin: Origin,
}

impl Service for PeerService {
    fn role(&self) -> Role {
        Role::Peer
    }

    fn origin(&self) -> Origin {
        self.origin.clone()
    }

    fn call(&self, request: Request, _: SocketAddr) -> LocalBoxFuture<'static, Reply> {
        let store = self.store.clone();
        Box::pin(async move {
            match request {
                Request::IndexQuery { .. } => match store.send(GetIndex).await {
                    Ok(records) => Reply::Index(records),
                    Err(_) => Reply::Status(Status::ServiceUnavailable),
                },
                Request::GetRfc { number, .. } => match store.send(GetDocument(number)).await {
                    Ok(Some(body)) => Reply::Document(body),
                    Ok(None) => Reply::Status(Status::NotFound),
                    Err(_) => Reply::Status(Status::ServiceUnavailable),
                },
                _ => Reply::Status(Status::NotImplemented),
            }
        })
    }
}

/// A running peer.
pub struct PeerHandle {
    /// Where its RFC server listens.
    pub local_addr: SocketAddr,
    /// The store.
    pub store: Addr<StoreActor>,
    /// The RS link.
    pub link: Addr<RsLinkActor>,
    /// The downloader.
    pub downloader: Addr<DownloaderActor>,
    /// Failures the peer cannot recover from (a supervisor that gave up).
    pub fatal: FatalReceiver,
    /// Held so that the supervised listener is restarted (an actor nobody
    /// addresses is not).
    _listener: Addr<Listener<PeerService>>,
}

async fn bind(config: &PeerConfig) -> Result<TcpListener, PeerError> {
    if let Some(addr) = config.listen {
        return server::bind(addr)
            .await
            .map_err(|err| PeerError::Bind(format!("{addr}: {err}")));
    }
    for port in DEFAULT_PORTS {
        if let Ok(listener) = server::bind(SocketAddr::from((Ipv4Addr::UNSPECIFIED, port))).await {
            return Ok(listener);
        }
    }
    Err(PeerError::Bind(format!(
        "no free port in {}-{}",
        DEFAULT_PORTS.start(),
        DEFAULT_PORTS.end()
    )))
}

/// The burst a rate cap allows: a tenth of a second's worth, at least 16 KiB.
pub fn burst_bytes(rate_bytes_per_sec: u64) -> u64 {
    (rate_bytes_per_sec / 10).max(16 * 1024)
}

fn bucket(rate: Option<u64>) -> Option<SharedBucket> {
    rate.map(|rate| {
        Rc::new(RefCell::new(TokenBucket::new(
            rate,
            burst_bytes(rate),
            Instant::now(),
        )))
    })
}

/// Starts a peer in the current actix system.
pub async fn start(config: &PeerConfig, log: Logger) -> Result<PeerHandle, PeerError> {
    config.validate().map_err(PeerError::Config)?;
    let dir = config.rfc_dir.clone();
    let documents = folder::scan(&dir).map_err(|source| PeerError::Folder {
        dir: dir.display().to_string(),
        source,
    })?;
    let listener = bind(config).await?;
    let local_addr = listener
        .local_addr()
        .map_err(|err| PeerError::Bind(err.to_string()))?;
    let origin = crate::wire::Origin::named(config.host.as_deref());
    let me = Holder::new(origin.host.clone(), local_addr.port());

    let (fatal, fatal_rx) = fatal_channel();
    let supervision = Supervision::new(config.supervision, fatal, log.clone());
    let store_log = log.new(o!("actor" => "store"));
    let store = supervision.start(
        "store",
        StoreActor::new(
            dir.clone(),
            me,
            &documents,
            config.max_index_records,
            config.document_cache_bytes,
            store_log,
        ),
    );
    let link = supervision.start(
        "rs-link",
        RsLinkActor::new(
            LinkConfig {
                rs: config.rs.clone(),
                origin: origin.clone(),
                port: local_addr.port(),
                dir,
                keepalive: Duration::from_secs(config.keepalive_secs),
                retry_initial: Duration::from_millis(config.rs_retry_initial_ms),
                retry_max: Duration::from_millis(config.rs_retry_max_ms),
                timeout: config.transfer_timeout(),
                limits: config.limits.wire(),
            },
            log.new(o!("actor" => "rs-link")),
        ),
    );
    let downloader_log = log.new(o!("actor" => "downloader"));
    let downloader = supervision.start(
        "downloader",
        DownloaderActor::new(
            DownloaderDeps {
                store: store.clone(),
                link: link.clone(),
                origin: origin.clone(),
                limits: config.limits.wire(),
                timeout: config.transfer_timeout(),
                download: bucket(config.download_limit_bytes_per_sec),
                busy: Rc::default(),
                log: downloader_log.clone(),
            },
            config.max_parallel_downloads,
            downloader_log,
        ),
    );
    let service = PeerService {
        store: store.clone(),
        origin: origin.clone(),
    };
    let listener = Listener::start(
        listener,
        service,
        config.limits,
        bucket(config.upload_limit_bytes_per_sec),
        &supervision,
        log.new(o!("actor" => "rfc-server")),
    );
    info!(log, "peer listening"; "addr" => %local_addr, "host" => &origin.host,
        "documents" => documents.len(), "rs" => &config.rs);
    Ok(PeerHandle {
        local_addr,
        store,
        link,
        downloader,
        fatal: fatal_rx,
        _listener: listener,
    })
}
