//! The registration server: registry actor, TTL sweeper, listener and
//! sessions, and [`start`], which wires them together.
//!
//! ```text
//! start ─┬─ RegistryActor   (supervised, panics included; rebuilt from disk)
//!        │    └─ journal thread (group-commit fsync, compaction)
//!        ├─ SweeperActor    (supervised; ticks ExpireDue)
//!        └─ Listener ── Session per connection (temporary)
//! ```

pub mod journal;
pub mod registry;
pub mod sweeper;

use crate::config::RsConfig;
use crate::server::{self, Listener, Service};
use crate::supervise::{fatal_channel, FatalReceiver, Supervision};
use crate::wire::parse::Role;
use crate::wire::{Origin, Reply, Request, Status};
use actix::prelude::*;
use futures_util::future::LocalBoxFuture;
use journal::{Journal, JournalError};
use registry::{KeepAlive, Leave, QueryPeers, Register, RegistryActor};
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
    #[error("state folder {dir} is in use by another registration server (it holds {dir}/lock)")]
    InUse {
        /// The folder.
        dir: String,
    },
    /// The configuration is invalid.
    #[error("config: {0}")]
    Config(String),
}

/// Takes the state folder's lock, so two servers never write one journal.
fn lock_state(dir: &std::path::Path) -> Result<std::fs::File, RsError> {
    let shown = dir.display().to_string();
    let io = |source: std::io::Error| RsError::State {
        dir: shown.clone(),
        source: JournalError::Io {
            path: dir.join("lock"),
            source,
        },
    };
    std::fs::create_dir_all(dir).map_err(io)?;
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(dir.join("lock"))
        .map_err(io)?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(RsError::InUse { dir: shown.clone() }),
        Err(std::fs::TryLockError::Error(err)) => Err(io(err)),
    }
}

/// The RS as a [`Service`]: requests become registry messages.
#[derive(Clone)]
pub struct RsService {
    registry: Addr<RegistryActor>,
    origin: Origin,
}

fn reply_of<T>(
    result: Result<Result<T, Status>, MailboxError>,
    ok: impl FnOnce(T) -> Reply,
) -> Reply {
    match result {
        Ok(Ok(value)) => ok(value),
        Ok(Err(status)) => Reply::Status(status),
        // The registry is restarting: nothing was acknowledged.
        Err(_) => Reply::Status(Status::ServiceUnavailable),
    }
}

impl Service for RsService {
    fn role(&self) -> Role {
        Role::Registry
    }

    fn origin(&self) -> Origin {
        self.origin.clone()
    }

    fn call(&self, request: Request, peer: SocketAddr) -> LocalBoxFuture<'static, Reply> {
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
                    reply_of(registry.send(msg).await, |cookie| Reply::Registered {
                        cookie,
                    })
                }
                Request::KeepAlive { cookie, .. } => {
                    reply_of(registry.send(KeepAlive { cookie }).await, |()| Reply::Done)
                }
                Request::Leave { cookie, .. } => {
                    reply_of(registry.send(Leave { cookie }).await, |()| Reply::Done)
                }
                Request::PeerQuery { cookie, .. } => {
                    reply_of(registry.send(QueryPeers { cookie }).await, Reply::Peers)
                }
                Request::IndexQuery { .. } | Request::GetRfc { .. } => {
                    Reply::Status(Status::NotImplemented)
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
    /// The supervised actors nothing else addresses: held so that they are
    /// restarted (an actor nobody addresses is not).
    _sweeper: Addr<SweeperActor>,
    _listener: Addr<Listener<RsService>>,
    /// The state folder's lock, held while the server runs.
    _lock: std::fs::File,
}

impl RsHandle {
    /// Writes whatever the journal still buffers, and waits for it.
    pub async fn flush(&self) {
        let _ = self.journal.append_durable(Vec::new()).await;
    }
}

/// Starts the RS in the current actix system.
pub async fn start(config: &RsConfig, log: Logger) -> Result<RsHandle, RsError> {
    config.validate().map_err(RsError::Config)?;
    let dir = config.state_dir.display().to_string();
    let state_err = |source| RsError::State {
        dir: dir.clone(),
        source,
    };
    let lock = lock_state(&config.state_dir)?;
    let recovered = journal::recover(&config.state_dir, config.ttl_secs, config.max_peers)
        .map_err(state_err)?;
    info!(log, "state recovered"; "dir" => &dir, "records" => recovered.registry.len(),
        "generation" => recovered.generation, "journal_events" => recovered.journal_events,
        "dropped_torn_line" => recovered.dropped_torn_line);
    let journal = Journal::start(
        &config.state_dir,
        recovered.generation,
        log.new(o!("actor" => "journal")),
    )
    .map_err(state_err)?;
    let listener = server::bind(config.listen)
        .await
        .map_err(|source| RsError::Bind {
            addr: config.listen,
            source,
        })?;
    let local_addr = listener.local_addr().map_err(|source| RsError::Bind {
        addr: config.listen,
        source,
    })?;

    let (fatal, fatal_rx) = fatal_channel();
    let supervision = Supervision::new(config.supervision, fatal, log.clone());
    let registry = supervision.start(
        "registry",
        RegistryActor::new(
            recovered.registry,
            journal.clone(),
            config.ttl_secs,
            config.max_peers,
            log.new(o!("actor" => "registry")),
        ),
    );
    let sweeper = supervision.start(
        "sweeper",
        SweeperActor::new(registry.clone(), sweeper::period(config.ttl_secs)),
    );
    let origin = crate::wire::Origin::named(config.host.as_deref());
    let service = RsService {
        registry: registry.clone(),
        origin,
    };
    let listener = Listener::start(
        listener,
        service,
        config.limits,
        None,
        &supervision,
        log.new(o!("actor" => "listener")),
    );
    info!(log, "registration server listening"; "addr" => %local_addr, "ttl_secs" => config.ttl_secs);
    Ok(RsHandle {
        local_addr,
        registry,
        journal,
        fatal: fatal_rx,
        _sweeper: sweeper,
        _listener: listener,
        _lock: lock,
    })
}
