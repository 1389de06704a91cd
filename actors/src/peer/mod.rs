//! The peer: RFC store, RFC server sessions, RS link and downloader, and
//! [`start`], which wires them together.
//!
//! ```text
//! start ─┬─ StoreActor      (supervised; restart = rescan the RFC folder)
//!        │    └─ Folder worker thread (every blocking folder operation, in order)
//!        ├─ RsLinkActor     (supervised; registers, keeps alive, leaves)
//!        ├─ DownloaderActor (supervised; downloads, emits DownloadFinished)
//!        └─ Listener        (supervised) ── Session per connection (temporary)
//! ```

pub mod downloader;
pub mod durable;
pub mod folder;
pub mod link;
pub mod store;

use crate::config::PeerConfig;
use crate::lock::{FolderLock, LockError};
use crate::metrics::Metrics;
use crate::server::{self, Answer, Listener, Service};
use crate::state::index::{Holder, IndexLimits};
use crate::state::throttle::TokenBucket;
use crate::supervise::{fatal_channel, FatalReceiver, Supervision};
use crate::transfer::SharedBucket;
use crate::wire::parse::Role;
use crate::wire::{Origin, Request, Status};
use actix::prelude::*;
use downloader::{DownloaderActor, DownloaderConfig};
use folder::Folder;
use futures_util::future::LocalBoxFuture;
use link::{LinkConfig, RsLinkActor};
use slog::{info, o, warn, Logger};
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
    Config(#[from] crate::config::Invalid),
    /// Another peer holds the RFC folder.
    #[error("RFC folder {dir} is in use by another peer (it holds {lock})")]
    InUse {
        /// The folder.
        dir: String,
        /// Its lock file.
        lock: std::path::PathBuf,
    },
    /// The RFC folder could not be read.
    #[error("RFC folder {dir}: {source}")]
    Folder {
        /// The folder.
        dir: String,
        /// Why.
        source: std::io::Error,
    },
    /// The address could not be bound (or read back once bound).
    #[error("listening on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// No port of the default range was free.
    #[error("listening: no free port in {}-{}", .ports.start(), .ports.end())]
    NoFreePort {
        /// The ports tried.
        ports: std::ops::RangeInclusive<u16>,
    },
}

/// The peer's RFC server as a [`Service`].
#[derive(Clone)]
pub(crate) struct PeerService {
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

    fn call(&self, request: Request, _: SocketAddr) -> LocalBoxFuture<'static, Answer> {
        let store = self.store.clone();
        Box::pin(async move {
            match request {
                Request::IndexQuery { .. } => match store.send(GetIndex).await {
                    Ok(body) => Answer::Body(body),
                    Err(_) => Answer::Status(Status::ServiceUnavailable),
                },
                Request::GetRfc { number, .. } => match store.send(GetDocument(number)).await {
                    Ok(Some(body)) => Answer::Document { number, body },
                    Ok(None) => Answer::Status(Status::NotFound),
                    Err(_) => Answer::Status(Status::ServiceUnavailable),
                },
                _ => Answer::Status(Status::NotImplemented),
            }
        })
    }
}

/// A running peer.
pub struct PeerHandle {
    /// Where its RFC server listens.
    pub local_addr: SocketAddr,
    /// The host name it registers with.
    pub host: String,
    /// The store.
    pub store: Addr<StoreActor>,
    /// The RS link.
    pub link: Addr<RsLinkActor>,
    /// The downloader.
    pub downloader: Addr<DownloaderActor>,
    /// Failures the peer cannot recover from (a supervisor that gave up).
    pub fatal: FatalReceiver,
    /// Its metrics.
    pub metrics: Metrics,
    /// The RFC server's uploads in flight.
    pub uploads: Recipient<server::GetUploads>,
    /// Held so that the supervised listener is restarted (an actor nobody
    /// addresses is not).
    _listener: Addr<Listener<PeerService>>,
    /// The RFC folder's lock, held while the peer runs.
    lock: FolderLock,
}

impl PeerHandle {
    /// Replaces the RFC folder's note (where tools find this peer's admin
    /// endpoint); an empty note removes it.
    pub fn note(&self, note: &str) -> std::io::Result<()> {
        self.lock.note(note)
    }
}

fn bind(config: &PeerConfig) -> Result<TcpListener, PeerError> {
    let backlog = config.limits.listen_backlog;
    if let Some(addr) = config.listen {
        return server::bind(addr, backlog).map_err(|source| PeerError::Bind { addr, source });
    }
    for port in DEFAULT_PORTS {
        if let Ok(listener) = server::bind(SocketAddr::from((Ipv4Addr::UNSPECIFIED, port)), backlog)
        {
            return Ok(listener);
        }
    }
    Err(PeerError::NoFreePort {
        ports: DEFAULT_PORTS,
    })
}

/// The burst a rate cap allows: 1 ms worth, at least one Ethernet frame
/// (1,514 bytes; a kernel's tbf segments larger GSO packets). Small, so
/// that a capped transfer keeps to its rate from its first bytes and no
/// measurement beats the textbook's bound.
pub fn burst_bytes(rate_bytes_per_sec: u64) -> u64 {
    (rate_bytes_per_sec / 1000).max(1514)
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
    config.validate()?;
    let dir = config.rfc_dir.clone();
    let shown = dir.display().to_string();
    let folder_err = |source| PeerError::Folder {
        dir: shown.clone(),
        source,
    };
    // Before anything runs: one peer per folder, no leftovers of
    // interrupted downloads, and what the folder holds.
    let (lock, created) = FolderLock::take(&dir, crate::lock::PEER).map_err(|err| match err {
        LockError::InUse { lock } => PeerError::InUse {
            dir: shown.clone(),
            lock,
        },
        LockError::Io { source, .. } => folder_err(source),
    })?;
    if created {
        warn!(log, "RFC folder created"; "dir" => &shown);
    }
    folder::remove_partials(&dir).map_err(folder_err)?;
    let scan = folder::scan(&dir).map_err(folder_err)?;
    for skipped in &scan.skipped {
        warn!(log, "file skipped"; "dir" => &shown, "why" => skipped);
    }
    let cookies = folder::read_cookies(&dir);
    let folder = Folder::start(&dir, config.sync).map_err(folder_err)?;
    let listener = bind(config)?;
    let local_addr = listener.local_addr().map_err(|source| PeerError::Bind {
        addr: config
            .listen
            .unwrap_or(SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0))),
        source,
    })?;
    let origin = crate::wire::Origin::named(config.host.as_deref());
    let me = Holder::new(origin.host.clone(), local_addr.port());

    let (fatal, fatal_rx) = fatal_channel();
    let metrics = Metrics::new(Role::Peer);
    let supervision =
        Supervision::new(config.supervision, fatal, log.clone()).counting(metrics.clone());
    let store = supervision.start(
        "store",
        StoreActor::new(
            folder.clone(),
            me,
            &scan.documents,
            IndexLimits {
                max_records: config.max_index_records,
                max_records_per_holder: config.max_records_per_holder,
                max_bytes: config.limits.max_body_bytes,
            },
            config.document_cache_bytes,
            log.new(o!("actor" => "store")),
        ),
    );
    let link = supervision.start(
        "rs-link",
        RsLinkActor::new(
            LinkConfig {
                rs: config.rs.clone(),
                origin: origin.clone(),
                port: local_addr.port(),
                keepalive: Duration::from_secs(config.keepalive_secs),
                retry_initial: Duration::from_millis(config.rs_retry_initial_ms),
                retry_max: Duration::from_millis(config.rs_retry_max_ms),
                timeout: config.transfer_timeout(),
                list_max_age: Duration::from_millis(config.peer_list_max_age_ms),
                limits: config.limits.wire(),
                metrics: metrics.clone(),
            },
            folder.clone(),
            &cookies,
            log.new(o!("actor" => "rs-link")),
        ),
    );
    let downloader = supervision.start(
        "downloader",
        DownloaderActor::new(
            store.clone(),
            link.clone(),
            folder,
            DownloaderConfig {
                origin: origin.clone(),
                limits: config.limits.wire(),
                timeout: config.transfer_timeout(),
                max_parallel: config.max_parallel_downloads,
                max_parallel_indexes: config.max_parallel_index_fetches,
                download: bucket(config.download_limit_bytes_per_sec),
                refresh_index: (config.refresh_index_ms > 0)
                    .then(|| Duration::from_millis(config.refresh_index_ms)),
                refresh_peers: config.refresh_index_peers,
                sync: config.sync,
                metrics: metrics.clone(),
                max_queued: config.max_queued_downloads,
                history: config.download_history,
            },
            log.new(o!("actor" => "downloader")),
        ),
    );
    let service = PeerService {
        store: store.clone(),
        origin: origin.clone(),
    };
    // Up to two descriptors per connection (the socket, a document's file);
    // the rest for downloads (socket and temporary file each), the folder,
    // logs, refusals and the admin endpoint.
    let mut limits = config.limits;
    let reserved = 64
        + server::MAX_REFUSING
        + 4 * config.max_parallel_downloads
        + crate::config::admin_descriptors(config.admin_listen);
    let (max_connections, nofile) = server::connection_budget(limits.max_connections, 2, reserved);
    limits.max_connections = max_connections;
    info!(log, "connection limit"; "max_connections" => max_connections,
        "configured" => config.limits.max_connections, "descriptors" => nofile);
    let listener = Listener::start(
        listener,
        service,
        limits,
        bucket(config.upload_limit_bytes_per_sec),
        &supervision,
        metrics.clone(),
        log.new(o!("actor" => "rfc-server")),
    );
    info!(log, "peer listening"; "addr" => %local_addr, "host" => &origin.host,
        "documents" => scan.documents.len(), "rs" => %config.rs);
    Ok(PeerHandle {
        local_addr,
        host: origin.host.clone(),
        store,
        link,
        downloader,
        fatal: fatal_rx,
        metrics,
        uploads: listener.clone().recipient(),
        _listener: listener,
        lock,
    })
}
