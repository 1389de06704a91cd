//! Configuration: serde structs with defaults, and RON loading whose errors
//! name the file, the line, the column and the field.

use crate::supervise::SupervisionConfig;
use crate::wire::WireLimits;
use serde::{Deserialize, Serialize};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A configuration file that could not be read or does not parse.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("reading {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file does not parse, or a field holds a wrong value.
    #[error("{path}:{line}:{column}: {field}{message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// Line of the error, from 1.
        line: usize,
        /// Column of the error, from 1.
        column: usize,
        /// The field at fault, as `field: ` or `outer.inner: `, or empty.
        field: String,
        /// What is wrong.
        message: String,
    },
}

/// Parses `text`, the content of `path`, as a RON config.
pub fn from_ron_str<T: for<'de> Deserialize<'de>>(
    path: &Path,
    text: &str,
) -> Result<T, ConfigError> {
    let parse_error = |span: ron::error::Span, field: String, message: String| ConfigError::Parse {
        path: path.to_owned(),
        line: span.start.line,
        column: span.start.col,
        field: if field.is_empty() || field == "." {
            String::new()
        } else {
            format!("field `{field}`: ")
        },
        message,
    };
    let mut de = ron::Deserializer::from_str(text)
        .map_err(|err| parse_error(err.span, String::new(), err.code.to_string()))?;
    let value: T = serde_path_to_error::deserialize(&mut de).map_err(|err| {
        let field = err.path().to_string();
        let spanned = de.span_error(err.into_inner());
        parse_error(spanned.span, field, spanned.code.to_string())
    })?;
    de.end().map_err(|err| {
        let spanned = de.span_error(err);
        parse_error(spanned.span, String::new(), spanned.code.to_string())
    })?;
    Ok(value)
}

/// Reads and parses the RON config at `path`.
pub fn load<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<T, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_owned(),
        source,
    })?;
    from_ron_str(path, &text)
}

/// A config printed as commented-free, pretty RON, with the same bytes on
/// every platform (lines end in LF on Windows too, where ron's default is
/// CR LF): a file printed on one machine reads the same on another.
pub fn to_ron<T: Serialize>(config: &T) -> String {
    let pretty = ron::ser::PrettyConfig::new()
        .struct_names(true)
        .new_line("\n");
    ron::ser::to_string_pretty(config, pretty).unwrap_or_else(|err| format!("// {err}"))
}

/// How much a log shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    /// Failures only.
    Error,
    /// Misbehaving remotes too.
    Warn,
    /// Lifecycle and registry changes too.
    #[default]
    Info,
    /// Every message head too.
    Debug,
    /// Everything.
    Trace,
}

/// How a downloaded document is made durable before it is renamed into
/// place (and the rename after).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum SyncMode {
    /// The file is fsync'd, renamed, and its folder fsync'd: two device
    /// flushes per document, whatever else the disk is doing.
    #[default]
    EachFile,
    /// Documents committed at the same time on one filesystem (by this
    /// peer's parallel downloads, or by every peer of a lab process) share
    /// one syncfs(2) before their renames and one after: two flushes per
    /// batch. A syncfs also writes whatever else is pending on that
    /// filesystem, so this suits an RFC folder on a filesystem that is not
    /// busy with other writers.
    Grouped,
}

/// How a log is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Term,
    /// One JSON object per line.
    Json,
}

/// Logging settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct LogConfig {
    /// The lowest level written: error, warn, info, debug or trace.
    pub level: LogLevel,
    /// term or json.
    pub format: LogFormat,
}

/// Limits a server enforces on every connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerLimits {
    /// Longest request head, in bytes, not counting its line end (413 past it).
    pub max_head_bytes: usize,
    /// Longest body this side accepts, in bytes.
    pub max_body_bytes: usize,
    /// Seconds a client has, from connecting, to send its whole request
    /// (408 past it); also the longest a reply may stall while being written.
    pub request_timeout_secs: u64,
    /// Connections served at once; past it a new one gets 503. Lowered at
    /// start, if need be, to what the process's descriptor limit allows.
    pub max_connections: usize,
    /// Connections served at once from one client address; past it a new
    /// one from that address gets 503, so one host cannot take every slot.
    pub max_connections_per_address: usize,
    /// Connections the kernel queues before they are accepted.
    pub listen_backlog: u32,
}

impl Default for ServerLimits {
    fn default() -> Self {
        let wire = WireLimits::default();
        ServerLimits {
            max_head_bytes: wire.max_head_bytes,
            max_body_bytes: wire.max_body_bytes,
            request_timeout_secs: 10,
            max_connections: 1024,
            max_connections_per_address: 256,
            listen_backlog: 1024,
        }
    }
}

impl ServerLimits {
    /// The codec limits.
    pub fn wire(&self) -> WireLimits {
        WireLimits {
            max_head_bytes: self.max_head_bytes,
            max_body_bytes: self.max_body_bytes,
        }
    }

    /// The request timeout as a duration.
    pub fn request_timeout(&self) -> Duration {
        Duration::from_secs(self.request_timeout_secs)
    }
}

/// The registration server's configuration (`p2p-di rs`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RsConfig {
    /// Address and port to listen on.
    pub listen: SocketAddr,
    /// Seconds a peer stays active after REGISTER, KEEPALIVE or PQUERY.
    pub ttl_secs: u64,
    /// Folder of the registry's journal and snapshot; created if missing.
    pub state_dir: PathBuf,
    /// Host name the RS puts in its replies; the machine's name if unset.
    pub host: Option<String>,
    /// Most peer records kept; past it the oldest inactive one is dropped,
    /// and with none inactive a new registration gets 503.
    pub max_peers: usize,
    /// Most active registrations from one address; past it a new one gets
    /// 503, so one host cannot flood the peer list.
    pub max_peers_per_address: usize,
    /// Most peers in one PQUERY reply; with more active peers, a uniform
    /// random sample of this many, fresh for each query.
    pub max_peers_per_reply: usize,
    /// PQUERYs one peer (cookie) may make each second once its burst is
    /// spent; a query past the rate is answered late, not refused, so a
    /// peer that loops PQUERY cannot take the registry from the others.
    /// 0: no pacing.
    pub pquery_per_peer_per_sec: u32,
    /// PQUERYs one peer may make at once before the rate applies.
    pub pquery_burst: u32,
    /// Seconds between stats lines in the log (0: none).
    pub stats_interval_secs: u64,
    /// The journal is compacted into a snapshot once it holds this many
    /// events, or a quarter as many as there are records if that is more.
    pub compact_after_events: u64,
    /// Per-connection limits.
    pub limits: ServerLimits,
    /// Address and port of the admin endpoint (status, metrics, the peer
    /// table; docs/ADMIN.md); port 0 takes a free one, which `p2p-di ctl`
    /// finds in the state folder's note (`admin`). `None`: no admin endpoint.
    pub admin_listen: Option<SocketAddr>,
    /// Bearer token the admin endpoint requires; must be set when
    /// `admin_listen` is not a loopback address.
    pub admin_token: Option<String>,
    /// Restart intensity of the supervised actors.
    pub supervision: SupervisionConfig,
    /// Logging.
    pub log: LogConfig,
}

impl Default for RsConfig {
    fn default() -> Self {
        RsConfig {
            listen: SocketAddr::V4(SocketAddrV4::new(
                Ipv4Addr::UNSPECIFIED,
                crate::wire::RS_PORT,
            )),
            ttl_secs: 7200,
            state_dir: PathBuf::from("p2p-di-rs-state"),
            host: None,
            max_peers: 1_000_000,
            max_peers_per_address: 256,
            max_peers_per_reply: 1000,
            pquery_per_peer_per_sec: 50,
            pquery_burst: 200,
            stats_interval_secs: 60,
            compact_after_events: 100_000,
            limits: ServerLimits::default(),
            admin_listen: Some(loopback_any_port()),
            admin_token: None,
            supervision: SupervisionConfig::default(),
            log: LogConfig::default(),
        }
    }
}

impl RsConfig {
    /// Checks values serde cannot: a TTL of at least one second, a peer cap
    /// and limits above zero.
    pub fn validate(&self) -> Result<(), Invalid> {
        at_least("ttl_secs", self.ttl_secs, 1)?;
        at_least("max_peers", self.max_peers, 1)?;
        at_least("max_peers_per_address", self.max_peers_per_address, 1)?;
        at_least("max_peers_per_reply", self.max_peers_per_reply, 1)?;
        validate_limits(&self.limits)?;
        validate_admin(self.admin_listen, self.admin_token.as_deref())?;
        validate_supervision(&self.supervision)
    }
}

/// Connections the admin endpoint serves at once.
pub const ADMIN_MAX_CONNECTIONS: usize = 64;

/// Descriptors to keep for the admin endpoint, when it runs: its
/// connections, and its threads' own (listener, event loops).
pub fn admin_descriptors(admin_listen: Option<SocketAddr>) -> usize {
    match admin_listen {
        Some(_) => ADMIN_MAX_CONNECTIONS + 16,
        None => 0,
    }
}

/// `127.0.0.1:0`: the admin endpoint's default.
fn loopback_any_port() -> SocketAddr {
    SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 0))
}

/// A value of a config that no type check catches: the field, as written
/// in the file (`limits.max_connections`), and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field} {problem}")]
pub struct Invalid {
    /// The field's path in the file.
    pub field: &'static str,
    /// What is wrong with its value.
    pub problem: Problem,
}

/// What is wrong with a config value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Problem {
    /// Below its least value.
    #[error("must be at least {0}")]
    AtLeast(u64),
    /// Above another field's value.
    #[error("must be at most {0}")]
    AtMost(&'static str),
    /// Not a length in bounds.
    #[error("must be {min} to {max} bytes long")]
    Length {
        /// Least bytes.
        min: usize,
        /// Most bytes.
        max: usize,
    },
    /// Set but empty.
    #[error("must not be empty (leave it unset for none)")]
    Empty,
    /// Not an RS address.
    #[error("{0}")]
    Address(#[from] AddressError),
    /// No RS at all.
    #[error("must name at least one RS")]
    NoRs,
    /// An RS named twice.
    #[error("names {0:?} twice")]
    Twice(String),
    /// An admin endpoint off loopback without a token.
    #[error("{0} is not a loopback address: set admin_token, or listen on 127.0.0.1")]
    NotLoopback(SocketAddr),
}

/// Why a `HOST:PORT` is not one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AddressError {
    /// No `:PORT`.
    #[error("{0:?} has no port: write HOST:PORT, e.g. {0}:65423")]
    NoPort(String),
    /// Nothing before `:PORT`.
    #[error("{0:?} has no host: write HOST:PORT")]
    NoHost(String),
    /// An IPv6 address without brackets.
    #[error("{0:?}: write an IPv6 address in brackets, e.g. [::1]:65423")]
    Unbracketed(String),
    /// Not a port from 1 to 65535.
    #[error("{0:?}: the port must be a number from 1 to 65535")]
    BadPort(String),
}

fn at_least(field: &'static str, value: impl TryInto<u64>, least: u64) -> Result<(), Invalid> {
    if value.try_into().unwrap_or(u64::MAX) < least {
        return Err(Invalid {
            field,
            problem: Problem::AtLeast(least),
        });
    }
    Ok(())
}

/// An admin endpoint off loopback needs a token; a token is never empty.
fn validate_admin(listen: Option<SocketAddr>, token: Option<&str>) -> Result<(), Invalid> {
    if token.is_some_and(|t| t.trim().is_empty()) {
        return Err(Invalid {
            field: "admin_token",
            problem: Problem::Empty,
        });
    }
    match listen {
        Some(addr) if !addr.ip().is_loopback() && token.is_none() => Err(Invalid {
            field: "admin_listen",
            problem: Problem::NotLoopback(addr),
        }),
        _ => Ok(()),
    }
}

/// The line (from 1) of a RON config `text` that sets `field`
/// (`limits.max_connections`: the line of `max_connections:` inside
/// `limits: (...)`), if one does.
pub fn line_of_field(text: &str, field: &str) -> Option<usize> {
    let mut from = 0;
    let mut line = None;
    for key in field.split('.') {
        let (offset, _) = text[from..].match_indices(key).find(|&(at, _)| {
            let at = from + at;
            let line_start = text[..at].rfind('\n').map_or(0, |n| n + 1);
            let before = text[..at].chars().next_back();
            let after = text[at + key.len()..].trim_start();
            !text[line_start..at].contains("//")
                && !before.is_some_and(|c| c.is_alphanumeric() || c == '_')
                && after.starts_with(':')
        })?;
        from += offset + key.len();
        line = Some(text[..from].lines().count());
    }
    line
}

/// Whether `rs` names a host and a port (`host:port`, `[v6]:port`).
pub fn valid_rs_address(rs: &str) -> Result<(), AddressError> {
    let (host, port) = rs
        .rsplit_once(':')
        .ok_or_else(|| AddressError::NoPort(rs.to_owned()))?;
    if host.is_empty() {
        return Err(AddressError::NoHost(rs.to_owned()));
    }
    if host.contains(':') && !(host.starts_with('[') && host.ends_with(']')) {
        return Err(AddressError::Unbracketed(rs.to_owned()));
    }
    match port.parse::<u16>() {
        Ok(0) | Err(_) => Err(AddressError::BadPort(rs.to_owned())),
        Ok(_) => Ok(()),
    }
}

fn validate_supervision(supervision: &SupervisionConfig) -> Result<(), Invalid> {
    at_least(
        "supervision.restart_window_secs",
        supervision.restart_window_secs,
        1,
    )
}

fn validate_limits(limits: &ServerLimits) -> Result<(), Invalid> {
    at_least("limits.max_connections", limits.max_connections, 1)?;
    at_least(
        "limits.max_connections_per_address",
        limits.max_connections_per_address,
        1,
    )?;
    at_least("limits.listen_backlog", limits.listen_backlog, 1)?;
    at_least("limits.max_head_bytes", limits.max_head_bytes, 64)?;
    at_least(
        "limits.request_timeout_secs",
        limits.request_timeout_secs,
        1,
    )
}

/// The registration servers a peer registers with, each `HOST:PORT`: a
/// list in a config file (`rs: ["a:65423", "b:65423"]`), where one string
/// (`rs: "a:65423"`) is read as a list of one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct RsList(Vec<String>);

impl RsList {
    /// A list of one RS.
    pub fn one(rs: impl Into<String>) -> Self {
        RsList(vec![rs.into()])
    }

    /// The RSs, in the order given.
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(String::as_str)
    }

    /// How many.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether it names none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Each RS well formed, none twice, at least one.
    pub fn validate(&self) -> Result<(), Invalid> {
        let invalid = |problem| Invalid {
            field: "rs",
            problem,
        };
        if self.0.is_empty() {
            return Err(invalid(Problem::NoRs));
        }
        for (i, rs) in self.0.iter().enumerate() {
            valid_rs_address(rs).map_err(|err| invalid(err.into()))?;
            if self.0[..i].contains(rs) {
                return Err(invalid(Problem::Twice(rs.clone())));
            }
        }
        Ok(())
    }
}

impl From<Vec<String>> for RsList {
    fn from(list: Vec<String>) -> Self {
        RsList(list)
    }
}

impl std::fmt::Display for RsList {
    /// `a:65423,b:65423`, as `--rs` takes it.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0.join(","))
    }
}

impl<'de> Deserialize<'de> for RsList {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged, expecting = "an RS as \"HOST:PORT\" or a list of them")]
        enum OneOrMany {
            One(String),
            Many(Vec<String>),
        }
        Ok(match OneOrMany::deserialize(deserializer)? {
            OneOrMany::One(rs) => RsList(vec![rs]),
            OneOrMany::Many(list) => RsList(list),
        })
    }
}

/// A peer's configuration (`p2p-di peer`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PeerConfig {
    /// The registration servers, each `HOST:PORT`: the peer registers with
    /// every one, and merges their peer lists.
    pub rs: RsList,
    /// Address and port of this peer's RFC server; unset, the first free
    /// port in 65400-65500 on all interfaces.
    pub listen: Option<SocketAddr>,
    /// Folder of `rfcNNNN.txt` documents and `titles.tsv`; created if missing.
    pub rfc_dir: PathBuf,
    /// Host name to register with and to name in index records; unset,
    /// the machine's host name.
    pub host: Option<String>,
    /// RFCs to download after joining (the peer keeps serving after).
    pub get: Vec<u32>,
    /// Seconds between KEEPALIVEs: a third of the RS's TTL (7200) by default.
    pub keepalive_secs: u64,
    /// First wait, in ms, before trying an unreachable RS again; doubled
    /// after each failure up to `rs_retry_max_ms`.
    pub rs_retry_initial_ms: u64,
    /// Longest wait, in ms, between tries to reach the RS.
    pub rs_retry_max_ms: u64,
    /// Downloads that start within this many ms of the last PQUERY round
    /// share its peer list instead of asking the RSs again (the contract's
    /// "current peer list"); 0: one PQUERY per download.
    pub peer_list_max_age_ms: u64,
    /// Downloads run at once, at most.
    pub max_parallel_downloads: usize,
    /// Downloads waiting or running at once, at most: a batch asked for
    /// (`ctl get`, `get --all`) is queued whole or refused whole. The RFC
    /// series is about 10,000 documents.
    pub max_queued_downloads: usize,
    /// Ended downloads the peer keeps for tools (`ctl downloads`,
    /// `/downloads/ID`), the oldest forgotten first.
    pub download_history: usize,
    /// Index fetches run at once when refreshing the whole index, at most.
    pub max_parallel_index_fetches: usize,
    /// While downloads wait or run, fetch again the indexes of
    /// `refresh_index_peers` active peers chosen at random every this many
    /// ms, to find holders that appear meanwhile (peers that downloaded a
    /// document serve it too; a merged index also names what its peer
    /// learned from others). 0: never (a download still fetches indexes
    /// when the index names no holder).
    pub refresh_index_ms: u64,
    /// Indexes fetched by each refresh of `refresh_index_ms`.
    pub refresh_index_peers: usize,
    /// Seconds one exchange with another peer or the RS may take in all.
    pub transfer_timeout_secs: u64,
    /// Cap on the bytes per second this peer's RFC server sends, all
    /// transfers together; unset, no cap.
    pub upload_limit_bytes_per_sec: Option<u64>,
    /// Cap on the bytes per second this peer downloads, all transfers
    /// together; unset, no cap.
    pub download_limit_bytes_per_sec: Option<u64>,
    /// Most records the RFC index holds; past it, remote records of the
    /// holders with the most records are evicted first (local records
    /// never are). A record takes about 190 bytes with a 60-byte title
    /// (`actors/tests/index_memory.rs`).
    pub max_index_records: usize,
    /// Most remote records per holder, per source and in all: one peer
    /// cannot fill the index with a holder's records. The RFC series is
    /// about 10,000 documents.
    pub max_records_per_holder: usize,
    /// Bytes of documents kept in memory to serve them.
    pub document_cache_bytes: usize,
    /// How downloaded documents are synced before and after their rename.
    pub sync: SyncMode,
    /// Per-connection limits of the RFC server (and body limit of downloads).
    pub limits: ServerLimits,
    /// Seconds between stats lines in the log (0: none).
    pub stats_interval_secs: u64,
    /// Address and port of the admin endpoint (status, metrics, index,
    /// transfers, downloads; docs/ADMIN.md); port 0 takes a free one, which
    /// `p2p-di ctl` finds in the RFC folder's note (`.p2p-di.admin`). `None`: no admin
    /// endpoint.
    pub admin_listen: Option<SocketAddr>,
    /// Bearer token the admin endpoint requires; must be set when
    /// `admin_listen` is not a loopback address.
    pub admin_token: Option<String>,
    /// Restart intensity of the supervised actors.
    pub supervision: SupervisionConfig,
    /// Logging.
    pub log: LogConfig,
}

impl Default for PeerConfig {
    fn default() -> Self {
        PeerConfig {
            rs: RsList::one(format!("127.0.0.1:{}", crate::wire::RS_PORT)),
            listen: None,
            rfc_dir: PathBuf::from("rfcs"),
            host: None,
            get: Vec::new(),
            keepalive_secs: 2400,
            rs_retry_initial_ms: 250,
            rs_retry_max_ms: 30_000,
            peer_list_max_age_ms: 1000,
            max_parallel_downloads: 4,
            max_queued_downloads: 100_000,
            download_history: 100_000,
            max_parallel_index_fetches: 8,
            refresh_index_ms: 0,
            refresh_index_peers: 8,
            transfer_timeout_secs: 60,
            upload_limit_bytes_per_sec: None,
            download_limit_bytes_per_sec: None,
            max_index_records: 500_000,
            max_records_per_holder: 100_000,
            document_cache_bytes: 256 * 1024 * 1024,
            sync: SyncMode::EachFile,
            limits: ServerLimits::default(),
            stats_interval_secs: 60,
            admin_listen: Some(loopback_any_port()),
            admin_token: None,
            supervision: SupervisionConfig::default(),
            log: LogConfig::default(),
        }
    }
}

impl PeerConfig {
    /// Checks values serde cannot.
    pub fn validate(&self) -> Result<(), Invalid> {
        self.rs.validate()?;
        at_least("keepalive_secs", self.keepalive_secs, 1)?;
        at_least("max_parallel_downloads", self.max_parallel_downloads, 1)?;
        at_least("max_queued_downloads", self.max_queued_downloads, 1)?;
        at_least(
            "max_parallel_index_fetches",
            self.max_parallel_index_fetches,
            1,
        )?;
        at_least("refresh_index_peers", self.refresh_index_peers, 1)?;
        at_least("max_index_records", self.max_index_records, 1)?;
        at_least("max_records_per_holder", self.max_records_per_holder, 1)?;
        if let Some(host) = &self.host {
            if host.is_empty() || host.len() > crate::wire::MAX_NAME_BYTES {
                return Err(Invalid {
                    field: "host",
                    problem: Problem::Length {
                        min: 1,
                        max: crate::wire::MAX_NAME_BYTES,
                    },
                });
            }
        }
        at_least("transfer_timeout_secs", self.transfer_timeout_secs, 1)?;
        at_least("rs_retry_initial_ms", self.rs_retry_initial_ms, 1)?;
        if self.rs_retry_max_ms < self.rs_retry_initial_ms {
            return Err(Invalid {
                field: "rs_retry_initial_ms",
                problem: Problem::AtMost("rs_retry_max_ms"),
            });
        }
        if let Some(rate) = self.upload_limit_bytes_per_sec {
            at_least("upload_limit_bytes_per_sec", rate, 1)?;
        }
        if let Some(rate) = self.download_limit_bytes_per_sec {
            at_least("download_limit_bytes_per_sec", rate, 1)?;
        }
        validate_limits(&self.limits)?;
        validate_admin(self.admin_listen, self.admin_token.as_deref())?;
        validate_supervision(&self.supervision)
    }

    /// The transfer timeout as a duration.
    pub fn transfer_timeout(&self) -> Duration {
        Duration::from_secs(self.transfer_timeout_secs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wrong_field_is_named_with_its_line_and_column() {
        let text = "(\n  ttl_secs: 60,\n  limits: (\n    max_connections: \"many\",\n  ),\n)\n";
        let err = from_ron_str::<RsConfig>(Path::new("rs.ron"), text).unwrap_err();
        let shown = err.to_string();
        assert!(shown.starts_with("rs.ron:4:"), "{shown}");
        assert!(shown.contains("limits.max_connections"), "{shown}");
    }

    #[test]
    fn an_rs_address_needs_a_host_and_a_port() {
        for good in ["127.0.0.1:65423", "rs.example:1", "[::1]:65423"] {
            assert_eq!(valid_rs_address(good), Ok(()), "{good}");
        }
        for (bad, why) in [
            ("localhost", "has no port"),
            (":65423", "has no host"),
            ("::1:65423", "in brackets"),
            ("host:0", "from 1 to 65535"),
            ("host:70000", "from 1 to 65535"),
            ("host:x", "from 1 to 65535"),
        ] {
            let err = valid_rs_address(bad).unwrap_err().to_string();
            assert!(err.contains(why), "{bad}: {err}");
        }
        let config = PeerConfig {
            rs: RsList::one("localhost"),
            ..PeerConfig::default()
        };
        assert_eq!(
            config.validate(),
            Err(Invalid {
                field: "rs",
                problem: Problem::Address(AddressError::NoPort("localhost".into()))
            })
        );
    }

    #[test]
    fn an_admin_endpoint_off_loopback_needs_a_token() {
        let open = RsConfig {
            admin_listen: Some("0.0.0.0:8423".parse().unwrap()),
            ..RsConfig::default()
        };
        assert_eq!(
            open.validate().unwrap_err().problem,
            Problem::NotLoopback("0.0.0.0:8423".parse().unwrap())
        );
        let guarded = RsConfig {
            admin_token: Some("s3cret".into()),
            ..open.clone()
        };
        assert_eq!(guarded.validate(), Ok(()));
        let empty = RsConfig {
            admin_token: Some(" ".into()),
            ..RsConfig::default()
        };
        assert_eq!(
            empty.validate().unwrap_err().to_string(),
            "admin_token must not be empty (leave it unset for none)"
        );
        let ipv6_loopback = PeerConfig {
            admin_listen: Some("[::1]:0".parse().unwrap()),
            ..PeerConfig::default()
        };
        assert_eq!(ipv6_loopback.validate(), Ok(()));
    }

    #[test]
    fn a_bad_value_is_found_on_its_line_past_comments_and_longer_names() {
        let text = "(\n  // limits: (max_connections: 1)\n  max_connections_x: 3,\n  limits: (\n    listen_backlog: 4,\n    max_connections: 0,\n  ),\n)\n";
        assert_eq!(line_of_field(text, "limits.max_connections"), Some(6));
        assert_eq!(line_of_field(text, "limits"), Some(4));
        assert_eq!(line_of_field(text, "ttl_secs"), None);
        let config = RsConfig {
            limits: ServerLimits {
                max_connections: 0,
                ..ServerLimits::default()
            },
            ..RsConfig::default()
        };
        assert_eq!(
            config.validate().unwrap_err().to_string(),
            "limits.max_connections must be at least 1"
        );
    }

    #[test]
    fn an_unknown_field_is_refused() {
        let err = from_ron_str::<RsConfig>(Path::new("x.ron"), "(ttl: 5)").unwrap_err();
        let shown = err.to_string();
        assert!(shown.starts_with("x.ron:1:"), "{shown}");
        assert!(shown.contains("ttl"), "{shown}");
    }

    #[test]
    fn an_empty_struct_is_the_default() {
        let config: RsConfig = from_ron_str(Path::new("x.ron"), "()").unwrap();
        assert_eq!(config, RsConfig::default());
    }

    #[test]
    fn the_printed_default_parses_back() {
        let text = to_ron(&RsConfig::default());
        let config: RsConfig = from_ron_str(Path::new("x.ron"), &text).unwrap();
        assert_eq!(config, RsConfig::default());
    }
}
