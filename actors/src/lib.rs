//! The P2P-DI/1.0 actor engine.
//!
//! # Layout
//!
//! - [`wire`]: the `&*` wire format, sans IO: typed requests and responses,
//!   pure parse and write functions, and the tokio-util codecs.
//! - [`state`]: pure state machines with time passed in: the RS's peer
//!   table (a folder of modules), a peer's RFC index, the download plan
//!   and the book of downloads, the current peer list and each RS's
//!   reachability, the token bucket.
//! - [`server`]: the listener and per-connection session actors both
//!   daemons run, around a [`server::Service`].
//! - [`rs`]: the registration server's actors, its durable journal, the
//!   journal's and snapshot's format (one file) and recovery.
//! - [`peer`]: the peer's RFC store, RS link and downloader actors, its
//!   RFC folder worker, and grouped syncing of downloads.
//! - [`metrics`]: the Prometheus metrics both daemons count.
//! - [`client`]: one client exchange (connect, request, response).
//! - [`transfer`]: what both ends of a transfer share (the rate cap, the
//!   chunk, the progress), so `server` and `client` need not import each
//!   other.
//! - [`lock`]: one daemon per folder, and the note tools read beside it.
//! - [`sys`]: platform code, one module per concern (durability,
//!   descriptors, listening sockets, signals, readiness); the only place
//!   with a `cfg` for the platform.
//! - [`supervise`]: supervision with restart intensity; panics included.
//! - [`fault`]: named panic points for the tests (a cargo feature).
//! - [`config`]: serde configs and RON loading.
//!
//! # Supervision
//!
//! Every long-lived actor runs under a [`supervise::Supervision`]: a panic
//! in `started`, `restarting`, a handler or a future spawned on its context
//! restarts it (after a yield to the runtime); more than `max_restarts`
//! failures within `restart_window_secs` and the supervisor gives up, and
//! the daemon exits non-zero with the reason. Sessions are temporary: one
//! per connection, never restarted.
//!
//! ```text
//! System
//! ├── RS:   RegistryActor   ── supervised (restart = reload from the journal)
//! │         SweeperActor    ── supervised
//! │         Listener        ── supervised (the socket outlives a restart)
//! │           └── Session × N (one per connection, temporary)
//! │         journal thread  (owned by the registry's Journal handle)
//! └── peer: StoreActor      ── supervised (restart = rescan the RFC folder)
//!           RsLinkActor     ── supervised (restart = register again)
//!           DownloaderActor ── supervised
//!           Listener        ── supervised
//!             └── Session × N
//!           folder thread   (owned by the store's Folder handle: scans,
//!                            commits in order, grouped syncs)
//! ```
//!
//! The binary adds each daemon's admin endpoint (actix-web, on a thread
//! of its own) beside this tree. docs/ARCHITECTURE.md walks a REGISTER and
//! a download through these modules.
#![deny(missing_docs)]
#![warn(clippy::unwrap_used, clippy::expect_used)]

pub mod client;
pub mod config;
pub mod fault;
pub mod lock;
pub mod metrics;
pub mod peer;
pub mod rs;
pub mod server;
pub mod state;
pub mod supervise;
pub mod sys;
pub mod transfer;
pub mod wire;

/// Milliseconds since the Unix epoch, now: the one clock the actors read
/// and pass into the pure state machines.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}
