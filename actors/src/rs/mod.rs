//! The registration server: registry actor, TTL sweeper, listener and
//! sessions, and [`start`], which wires them together.
//!
//! ```text
//! start ─┬─ RegistryActor   (supervised, panics included; rebuilt from disk)
//!        │    └─ journal thread (group-commit fsync, compaction)
//!        ├─ SweeperActor    (supervised; ticks ExpireDue)
//!        └─ Listener ── Session per connection (temporary)
//! ```
//!
//! On disk: `format.rs` (the bytes of journal records and snapshots),
//! `journal.rs` (the writer thread: group commit, compaction),
//! `recovery.rs` (reading it all back).

pub mod format;
pub mod journal;
pub mod recovery;
pub mod registry;
pub mod sweeper;

use crate::config::RsConfig;
use crate::lock::{FolderLock, LockError};
use crate::metrics::Metrics;
use crate::server::{self, Answer, Listener, Service};
use crate::supervise::{fatal_channel, FatalReceiver, Supervision};
use crate::wire::parse::Role;
use crate::wire::{Origin, Request, Status};
use actix::prelude::*;
use futures_util::future::LocalBoxFuture;
use journal::{Journal, JournalError};
use registry::{KeepAlive, Leave, QueryPeers, Register, RegistryActor, RegistryConfig};
use slog::{info, o, Logger};
use std::net::SocketAddr;
use sweeper::SweeperActor;

/// Why the RS could not start.
#[derive(Debug, thiserror::Error)]
pub enum RsError {
    /// The state folder could not be read or is damaged.
    #[error("state in {dir}: {source}")]
    State {
        /// The folder.
        dir: String,
        /// Why.
        source: JournalError,
    },
    /// The listening socket could not be bound.
    #[error("listening on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// Another registration server holds the state folder.
    #[error("state folder {dir} is in use by another registration server (it holds {lock})")]
    InUse {
        /// The folder.
        dir: String,
        /// Its lock file.
        lock: std::path::PathBuf,
    },
    /// The configuration is invalid.
    #[error("config: {0}")]
    Config(#[from] crate::config::Invalid),
}

/// The RS as a [`Service`]: requests become registry messages.
#[derive(Clone)]
pub(crate) struct RsService {
    registry: Addr<RegistryActor>,
    origin: Origin,
}

fn answer_of<T>(
    result: Result<Result<T, Status>, MailboxError>,
    ok: impl FnOnce(T) -> Answer,
) -> Answer {
    match result {
        Ok(Ok(value)) => ok(value),
        Ok(Err(status)) => Answer::Status(status),
        // The registry is restarting: nothing was acknowledged.
        Err(_) => Answer::Status(Status::ServiceUnavailable),
    }
}

impl Service for RsService {
    fn role(&self) -> Role {
        Role::Registry
    }

    fn origin(&self) -> Origin {
        self.origin.clone()
    }

    fn call(&self, request: Request, peer: SocketAddr) -> LocalBoxFuture<'static, Answer> {
        let registry = self.registry.clone();
        Box::pin(async move {
            match request {
                Request::Register {
                    origin,
                    port,
                    cookie,
                } => {
                    let msg = Register {
                        host: origin.host,
                        os: origin.os,
                        port,
                        cookie,
                        address: peer.ip().to_canonical(),
                    };
                    answer_of(registry.send(msg).await, Answer::Registered)
                }
                Request::KeepAlive { cookie, .. } => {
                    answer_of(registry.send(KeepAlive { cookie }).await, |()| Answer::Done)
                }
                Request::Leave { cookie, .. } => {
                    answer_of(registry.send(Leave { cookie }).await, |()| Answer::Done)
                }
                Request::PeerQuery { cookie, .. } => {
                    answer_of(registry.send(QueryPeers { cookie }).await, Answer::Body)
                }
                Request::IndexQuery { .. } | Request::GetRfc { .. } => {
                    Answer::Status(Status::NotImplemented)
                }
            }
        })
    }
}

/// A running RS.
pub struct RsHandle {
    /// The address it listens on.
    pub local_addr: SocketAddr,
    /// The registry actor.
    pub registry: Addr<RegistryActor>,
    journal: Journal,
    /// Failures the RS cannot recover from (a supervisor that gave up).
    pub fatal: FatalReceiver,
    /// Its metrics.
    pub metrics: Metrics,
    /// The supervised actors nothing else addresses: held so that they are
    /// restarted (an actor nobody addresses is not).
    _sweeper: Addr<SweeperActor>,
    _listener: Addr<Listener<RsService>>,
    /// The state folder's lock, held while the server runs.
    lock: FolderLock,
}

impl RsHandle {
    /// Replaces the state folder's note (where tools find this server's
    /// admin endpoint); an empty note removes it.
    pub fn note(&self, note: &str) -> std::io::Result<()> {
        self.lock.note(note)
    }

    /// Writes whatever the registry and the journal still hold, TTL
    /// resets included, and waits for it.
    pub async fn flush(&self) -> Result<(), JournalError> {
        match self.registry.send(registry::Flush).await {
            Ok(flushed) => flushed,
            // The registry is gone: whatever reached the journal is written.
            Err(_) => self
                .journal
                .flush()
                .await
                .unwrap_or(Err(JournalError::Stopped)),
        }
    }
}

/// Starts the RS in the current actix system.
pub async fn start(config: &RsConfig, log: Logger) -> Result<RsHandle, RsError> {
    config.validate()?;
    let dir = config.state_dir.display().to_string();
    let state_err = |source| RsError::State {
        dir: dir.clone(),
        source,
    };
    // One server per state folder, so two never write one journal.
    let (lock, _) =
        FolderLock::take(&config.state_dir, crate::lock::RS).map_err(|err| match err {
            LockError::InUse { lock } => RsError::InUse {
                dir: dir.clone(),
                lock,
            },
            LockError::Io { path, source } => state_err(JournalError::Io {
                path,
                source: std::sync::Arc::new(source),
            }),
        })?;
    let started = std::time::Instant::now();
    let recovered = recovery::recover(
        &config.state_dir,
        config.ttl_secs,
        config.max_peers,
        config.max_peers_per_address,
    )
    .map_err(state_err)?;
    info!(log, "state recovered"; "dir" => &dir, "records" => recovered.registry.len(),
        "generation" => recovered.generation, "snapshot_records" => recovered.snapshot_records,
        "journal_events" => recovered.journal_events, "dropped_torn_tail" => recovered.dropped_torn_tail,
        "elapsed_ms" => started.elapsed().as_millis() as u64);
    let (fatal, fatal_rx) = fatal_channel();
    let metrics = Metrics::new(Role::Registry);
    let journal = Journal::start(
        &config.state_dir,
        &recovered,
        log.new(o!("actor" => "journal")),
        fatal.clone(),
        Some(metrics.rs_journal_fsync_seconds.clone()),
    )
    .map_err(state_err)?;
    let listener = server::bind(config.listen, config.limits.listen_backlog).map_err(|source| {
        RsError::Bind {
            addr: config.listen,
            source,
        }
    })?;
    let local_addr = listener.local_addr().map_err(|source| RsError::Bind {
        addr: config.listen,
        source,
    })?;

    let supervision =
        Supervision::new(config.supervision, fatal, log.clone()).counting(metrics.clone());
    let registry = supervision.start(
        "registry",
        RegistryActor::new(
            recovered,
            journal.clone(),
            RegistryConfig {
                ttl_secs: config.ttl_secs,
                max_peers: config.max_peers,
                max_peers_per_address: config.max_peers_per_address,
                max_peers_per_reply: config.max_peers_per_reply,
                pquery_pace: crate::state::registry::Pace::new(
                    config.pquery_per_peer_per_sec,
                    config.pquery_burst,
                ),
                stats_interval_secs: config.stats_interval_secs,
                compact_after_events: config.compact_after_events,
            },
            log.new(o!("actor" => "registry")),
        ),
    );
    let sweeper = supervision.start(
        "sweeper",
        SweeperActor::new(registry.clone(), config.ttl_secs),
    );
    let origin = crate::wire::Origin::named(config.host.as_deref());
    let service = RsService {
        registry: registry.clone(),
        origin,
    };
    // One descriptor per connection; the rest for the journal, the state
    // folder, logs, refusals and the admin endpoint.
    let mut limits = config.limits;
    let reserved =
        64 + server::MAX_REFUSING + crate::config::admin_descriptors(config.admin_listen);
    let (max_connections, nofile) = server::connection_budget(limits.max_connections, 1, reserved);
    limits.max_connections = max_connections;
    info!(log, "connection limit"; "max_connections" => max_connections,
        "configured" => config.limits.max_connections, "descriptors" => nofile);
    let listener = Listener::start(
        listener,
        service,
        limits,
        None,
        &supervision,
        metrics.clone(),
        log.new(o!("actor" => "listener")),
    );
    info!(log, "registration server listening"; "addr" => %local_addr, "ttl_secs" => config.ttl_secs);
    Ok(RsHandle {
        local_addr,
        registry,
        journal,
        fatal: fatal_rx,
        metrics,
        _sweeper: sweeper,
        _listener: listener,
        lock,
    })
}
