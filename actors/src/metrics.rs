//! The daemons' metrics, in the Prometheus text format (through the
//! `prometheus-client` crate). Names are fixed so that dashboards can rely
//! on them:
//!
//! | series | kind | where it counts |
//! |---|---|---|
//! | `p2pdi_requests_total{role,method,status}` | counter | every reply a session sends |
//! | `p2pdi_connections_open{role}` | gauge | sessions open |
//! | `p2pdi_rs_peers_active`, `p2pdi_rs_peers_known` | gauge | the registry, when scraped |
//! | `p2pdi_rs_journal_fsync_seconds` | histogram | the journal's writer, each sync |
//! | `p2pdi_peer_index_records`, `p2pdi_peer_documents` | gauge | the store, when scraped |
//! | `p2pdi_peer_bytes_served_total` | counter | document bodies sent |
//! | `p2pdi_peer_bytes_downloaded_total` | counter | documents saved |
//! | `p2pdi_peer_downloads_total{outcome}` | counter | each download's end |
//! | `p2pdi_peer_discovery_exchanges_total{kind}` | counter | each PQUERY (`pquery`) and GET RFC-Index (`index`) a peer sends |
//! | `p2pdi_peer_discovery_bytes_total{kind}` | counter | their request and response bytes |
//! | `p2pdi_peer_discovery_seconds_total{kind}` | counter | their time, connect to last byte |
//! | `p2pdi_peer_rs_reachable{rs}` | gauge | the RS link, each exchange |
//! | `p2pdi_peer_list_age_seconds` | gauge | the RS link, when scraped |
//! | `p2pdi_actor_restarts_total{actor}` | counter | each supervised restart |
//! | `p2pdi_uptime_seconds` | gauge | when scraped |
//!
//! Every handle is cheap to clone and safe to share across threads.
//!
//! The crate writes OpenMetrics text; [`Metrics::encode`] also gives the
//! classic Prometheus text format (0.0.4), which differs in three ways
//! only: a counter's `# HELP` and `# TYPE` lines name its `_total` series,
//! and there are no `# UNIT` and `# EOF` lines. The admin endpoint serves
//! the one the scraper's `Accept` header asks for.

use crate::wire::parse::Role;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;

/// Labels of a request.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    /// `rs` or `peer`.
    pub role: &'static str,
    /// `register`, `keepalive`, `leave`, `pquery`, `get_index`, `get_rfc`,
    /// or `none` (refused before it parsed, or never sent).
    pub method: &'static str,
    /// The status code answered.
    pub status: u16,
}

/// A daemon's role as a label.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RoleLabel {
    /// `rs` or `peer`.
    pub role: &'static str,
}

/// A download's outcome as a label.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabel {
    /// `downloaded`, `already_held` or `failed`.
    pub outcome: &'static str,
}

/// A kind of discovery exchange as a label.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindLabel {
    /// `pquery` or `index`.
    pub kind: &'static str,
}

/// An RS as a label.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RsLabel {
    /// The RS, `HOST:PORT` as configured.
    pub rs: String,
}

/// An actor's name as a label.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ActorLabel {
    /// The supervised actor.
    pub actor: &'static str,
}

/// Every metric of a daemon, and the registry that encodes them.
#[derive(Debug, Clone)]
pub struct Metrics {
    registry: Arc<Registry>,
    /// `p2pdi_requests_total`.
    pub requests: Family<RequestLabels, Counter>,
    /// `p2pdi_connections_open`.
    pub connections_open: Family<RoleLabel, Gauge>,
    /// `p2pdi_rs_peers_active`.
    pub rs_peers_active: Gauge,
    /// `p2pdi_rs_peers_known`.
    pub rs_peers_known: Gauge,
    /// `p2pdi_rs_journal_fsync_seconds`.
    pub rs_journal_fsync_seconds: Histogram,
    /// `p2pdi_peer_index_records`.
    pub peer_index_records: Gauge,
    /// `p2pdi_peer_documents`.
    pub peer_documents: Gauge,
    /// `p2pdi_peer_bytes_served_total`.
    pub peer_bytes_served: Counter,
    /// `p2pdi_peer_bytes_downloaded_total`.
    pub peer_bytes_downloaded: Counter,
    /// `p2pdi_peer_downloads_total`.
    pub peer_downloads: Family<OutcomeLabel, Counter>,
    /// `p2pdi_peer_discovery_exchanges_total`.
    pub discovery_exchanges: Family<KindLabel, Counter>,
    /// `p2pdi_peer_discovery_bytes_total`.
    pub discovery_bytes: Family<KindLabel, Counter>,
    /// `p2pdi_peer_discovery_seconds_total`.
    pub discovery_seconds: Family<KindLabel, Counter<f64, AtomicU64>>,
    /// `p2pdi_peer_rs_reachable`.
    pub peer_rs_reachable: Family<RsLabel, Gauge>,
    /// `p2pdi_peer_list_age_seconds`.
    pub peer_list_age_seconds: Gauge<f64, AtomicU64>,
    /// `p2pdi_actor_restarts_total`.
    pub actor_restarts: Family<ActorLabel, Counter>,
    /// `p2pdi_uptime_seconds`.
    pub uptime_seconds: Gauge,
}

impl Metrics {
    /// The metrics of a daemon of `role`: those of the other role exist
    /// (so that code can count unconditionally) but are not exposed.
    pub fn new(role: Role) -> Self {
        let (rs, peer) = (role == Role::Registry, role == Role::Peer);
        let mut registry = Registry::default();
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "p2pdi_requests",
            "Requests answered, by role, method and status",
            requests.clone(),
        );
        let connections_open = Family::<RoleLabel, Gauge>::default();
        registry.register(
            "p2pdi_connections_open",
            "Connections being served",
            connections_open.clone(),
        );
        let rs_peers_active = Gauge::default();
        if rs {
            registry.register(
                "p2pdi_rs_peers_active",
                "Peers the RS lists as active",
                rs_peers_active.clone(),
            );
        }
        let rs_peers_known = Gauge::default();
        if rs {
            registry.register(
                "p2pdi_rs_peers_known",
                "Peer records the RS keeps, active or not",
                rs_peers_known.clone(),
            );
        }
        // 50 µs to about 1.6 s
        let rs_journal_fsync_seconds = Histogram::new(exponential_buckets(0.000_05, 2.0, 16));
        if rs {
            registry.register(
                "p2pdi_rs_journal_fsync_seconds",
                "Time of each sync of the RS's journal",
                rs_journal_fsync_seconds.clone(),
            );
        }
        let peer_index_records = Gauge::default();
        if peer {
            registry.register(
                "p2pdi_peer_index_records",
                "Records in the peer's RFC index, local and remote",
                peer_index_records.clone(),
            );
        }
        let peer_documents = Gauge::default();
        if peer {
            registry.register(
                "p2pdi_peer_documents",
                "Documents the peer holds",
                peer_documents.clone(),
            );
        }
        let peer_bytes_served = Counter::default();
        if peer {
            registry.register(
                "p2pdi_peer_bytes_served",
                "Document bytes the peer sent",
                peer_bytes_served.clone(),
            );
        }
        let peer_bytes_downloaded = Counter::default();
        if peer {
            registry.register(
                "p2pdi_peer_bytes_downloaded",
                "Document bytes the peer downloaded and saved",
                peer_bytes_downloaded.clone(),
            );
        }
        let peer_downloads = Family::<OutcomeLabel, Counter>::default();
        if peer {
            registry.register(
                "p2pdi_peer_downloads",
                "Downloads ended, by outcome",
                peer_downloads.clone(),
            );
        }
        let discovery_exchanges = Family::<KindLabel, Counter>::default();
        let discovery_bytes = Family::<KindLabel, Counter>::default();
        let discovery_seconds = Family::<KindLabel, Counter<f64, AtomicU64>>::default();
        if peer {
            registry.register(
                "p2pdi_peer_discovery_exchanges",
                "PQUERY and GET RFC-Index exchanges the peer sent, by kind",
                discovery_exchanges.clone(),
            );
            registry.register(
                "p2pdi_peer_discovery_bytes",
                "Bytes those exchanges moved, both ways, by kind",
                discovery_bytes.clone(),
            );
            registry.register(
                "p2pdi_peer_discovery_seconds",
                "Time those exchanges took, by kind",
                discovery_seconds.clone(),
            );
            for kind in ["pquery", "index"] {
                let _ = discovery_exchanges.get_or_create(&KindLabel { kind });
                let _ = discovery_bytes.get_or_create(&KindLabel { kind });
                let _ = discovery_seconds.get_or_create(&KindLabel { kind });
            }
        }
        let peer_rs_reachable = Family::<RsLabel, Gauge>::default();
        let peer_list_age_seconds = Gauge::<f64, AtomicU64>::default();
        if peer {
            registry.register(
                "p2pdi_peer_rs_reachable",
                "Whether each RS answered the last exchange with it (1) or not (0)",
                peer_rs_reachable.clone(),
            );
            registry.register(
                "p2pdi_peer_list_age_seconds",
                "Age of the current peer list (-1 before any RS answered)",
                peer_list_age_seconds.clone(),
            );
            peer_list_age_seconds.set(-1.0);
        }
        let actor_restarts = Family::<ActorLabel, Counter>::default();
        registry.register(
            "p2pdi_actor_restarts",
            "Restarts of supervised actors",
            actor_restarts.clone(),
        );
        let uptime_seconds = Gauge::default();
        registry.register(
            "p2pdi_uptime_seconds",
            "Seconds since the daemon started",
            uptime_seconds.clone(),
        );
        // The series a dashboard plots from the start show 0 until counted.
        let own = if rs { "rs" } else { "peer" };
        let _ = connections_open.get_or_create(&RoleLabel { role: own });
        let methods: &[&'static str] = if rs {
            &["register", "keepalive", "leave", "pquery"]
        } else {
            &["get_index", "get_rfc"]
        };
        for &method in methods {
            let _ = requests.get_or_create(&RequestLabels {
                role: own,
                method,
                status: 200,
            });
        }
        if peer {
            for outcome in ["downloaded", "already_held", "failed"] {
                let _ = peer_downloads.get_or_create(&OutcomeLabel { outcome });
            }
        }
        Metrics {
            registry: Arc::new(registry),
            requests,
            connections_open,
            rs_peers_active,
            rs_peers_known,
            rs_journal_fsync_seconds,
            peer_index_records,
            peer_documents,
            peer_bytes_served,
            peer_bytes_downloaded,
            peer_downloads,
            discovery_exchanges,
            discovery_bytes,
            discovery_seconds,
            peer_rs_reachable,
            peer_list_age_seconds,
            actor_restarts,
            uptime_seconds,
        }
    }

    /// Counts a reply.
    pub fn request(&self, role: &'static str, method: &'static str, status: u16) {
        self.requests
            .get_or_create(&RequestLabels {
                role,
                method,
                status,
            })
            .inc();
    }

    /// The gauge of open connections of `role`.
    pub fn connections(&self, role: &'static str) -> Gauge {
        self.connections_open
            .get_or_create(&RoleLabel { role })
            .clone()
    }

    /// Whether the RS `rs` answers.
    pub fn rs_reachable(&self, rs: &str, reachable: bool) {
        self.peer_rs_reachable
            .get_or_create(&RsLabel { rs: rs.to_owned() })
            .set(i64::from(reachable));
    }

    /// Shows `actor`'s restarts, at 0 until it restarts.
    pub fn supervising(&self, actor: &'static str) {
        let _ = self.actor_restarts.get_or_create(&ActorLabel { actor });
    }

    /// Counts a restart of `actor`.
    pub fn restarted(&self, actor: &'static str) {
        self.actor_restarts
            .get_or_create(&ActorLabel { actor })
            .inc();
    }

    /// Counts a discovery exchange of `kind` that moved `bytes` in `secs`.
    pub fn discovered(&self, kind: &'static str, bytes: u64, secs: f64) {
        let label = KindLabel { kind };
        self.discovery_exchanges.get_or_create(&label).inc();
        self.discovery_bytes.get_or_create(&label).inc_by(bytes);
        self.discovery_seconds.get_or_create(&label).inc_by(secs);
    }

    /// The discovery totals of `kind`: exchanges, bytes, seconds.
    pub fn discovery(&self, kind: &'static str) -> (u64, u64, f64) {
        let label = KindLabel { kind };
        (
            self.discovery_exchanges.get_or_create(&label).get(),
            self.discovery_bytes.get_or_create(&label).get(),
            self.discovery_seconds.get_or_create(&label).get(),
        )
    }

    /// Counts a download's end.
    pub fn download(&self, outcome: &'static str) {
        self.peer_downloads
            .get_or_create(&OutcomeLabel { outcome })
            .inc();
    }

    /// Everything, in the OpenMetrics text format (what the crate writes).
    pub fn encode_openmetrics(&self) -> String {
        let mut text = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut text, &self.registry);
        text
    }

    /// Everything, in the classic Prometheus text exposition format (0.0.4).
    pub fn encode(&self) -> String {
        classic(&self.encode_openmetrics())
    }
}

/// OpenMetrics text as classic Prometheus text: a counter's descriptor
/// lines name its `_total` series; `# UNIT` and `# EOF` are left out.
fn classic(openmetrics: &str) -> String {
    let counters: std::collections::HashSet<&str> = openmetrics
        .lines()
        .filter_map(|line| line.strip_prefix("# TYPE "))
        .filter_map(|rest| rest.strip_suffix(" counter"))
        .collect();
    let mut text = String::with_capacity(openmetrics.len() + 16 * counters.len());
    for line in openmetrics.lines() {
        if line == "# EOF" || line.starts_with("# UNIT ") {
            continue;
        }
        let descriptor = ["# HELP ", "# TYPE "]
            .into_iter()
            .find_map(|tag| Some((tag, line.strip_prefix(tag)?)));
        match descriptor {
            Some((tag, rest)) => {
                let (name, tail) = rest.split_once(' ').unwrap_or((rest, ""));
                text.push_str(tag);
                text.push_str(name);
                if counters.contains(name) {
                    text.push_str("_total");
                }
                text.push(' ');
                text.push_str(tail);
            }
            None => text.push_str(line),
        }
        text.push('\n');
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_series_have_their_fixed_names() {
        let rs = Metrics::new(Role::Registry);
        rs.request("rs", "register", 200);
        rs.restarted("registry");
        rs.rs_journal_fsync_seconds.observe(0.001);
        let peer = Metrics::new(Role::Peer);
        peer.connections("peer").set(3);
        peer.download("failed");
        peer.peer_bytes_served.inc_by(10);
        assert!(rs.encode_openmetrics().ends_with("# EOF\n"));
        let (rs, peer) = (rs.encode(), peer.encode());
        for line in [
            "p2pdi_requests_total{role=\"rs\",method=\"register\",status=\"200\"} 1",
            "p2pdi_actor_restarts_total{actor=\"registry\"} 1",
            "p2pdi_rs_journal_fsync_seconds_count 1",
            "p2pdi_rs_peers_active 0",
            "p2pdi_rs_peers_known 0",
            "p2pdi_uptime_seconds 0",
            "# TYPE p2pdi_requests_total counter",
            "# HELP p2pdi_requests_total Requests answered, by role, method and status",
            "# TYPE p2pdi_rs_journal_fsync_seconds histogram",
        ] {
            assert!(rs.contains(line), "{line} in\n{rs}");
        }
        for line in [
            "p2pdi_connections_open{role=\"peer\"} 3",
            "p2pdi_peer_downloads_total{outcome=\"failed\"} 1",
            "p2pdi_peer_bytes_served_total 10",
            "p2pdi_peer_bytes_downloaded_total 0",
            "p2pdi_peer_index_records 0",
            "p2pdi_peer_documents 0",
            "# TYPE p2pdi_connections_open gauge",
        ] {
            assert!(peer.contains(line), "{line} in\n{peer}");
        }
        // Each daemon shows its own series only.
        assert!(!rs.contains("p2pdi_peer_"), "{rs}");
        assert!(!peer.contains("p2pdi_rs_"), "{peer}");
        assert!(!rs.contains("# EOF"));
    }

    #[test]
    fn in_the_classic_format_every_sample_belongs_to_the_family_typed_before_it() {
        let metrics = Metrics::new(Role::Registry);
        metrics.request("peer", "get_rfc", 200);
        metrics.download("downloaded");
        metrics.rs_journal_fsync_seconds.observe(0.2);
        let text = metrics.encode();
        let mut family = ("", "");
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                let (name, kind) = rest.split_once(' ').unwrap();
                family = (name, kind);
                continue;
            }
            if line.starts_with('#') {
                continue;
            }
            let sample = line.split(['{', ' ']).next().unwrap();
            let fits = match family.1 {
                "histogram" => ["_bucket", "_sum", "_count"]
                    .iter()
                    .any(|s| sample.strip_suffix(s) == Some(family.0)),
                _ => sample == family.0,
            };
            assert!(fits, "{sample} under {family:?}");
        }
    }
}
