//! The registration server's admin routes: `/status`, `/metrics`, `/peers`.

use super::{metrics_reply, page_limit, rfc3339, ApiError, Authorized, Common};
use crate::api;
use actix::Addr;
use actix_web::{web, HttpRequest, HttpResponse};
use p2p_di_actors::metrics::Metrics;
use p2p_di_actors::rs::registry::{GetPeers, GetStats, RegistryActor};
use p2p_di_actors::state::registry::PeerView;
use serde::Deserialize;
use std::net::SocketAddr;

/// What the RS's routes reach.
pub struct RsAdmin {
    /// The registry.
    pub registry: Addr<RegistryActor>,
    /// The RS's metrics.
    pub metrics: Metrics,
    /// Where the RS listens.
    pub listen: SocketAddr,
    /// The TTL it gives.
    pub ttl_secs: u64,
}

/// The RS's routes.
pub fn routes(config: &mut web::ServiceConfig) {
    config
        .route("/status", web::get().to(status))
        .route("/metrics", web::get().to(metrics))
        .route("/peers", web::get().to(peers));
}

async fn status(
    _: Authorized,
    common: web::Data<Common>,
    rs: web::Data<RsAdmin>,
) -> Result<web::Json<api::Status>, ApiError> {
    let stats = rs
        .registry
        .send(GetStats)
        .await
        .map_err(|_| ApiError::restarting("registry"))?;
    let r = stats.requests;
    Ok(web::Json(api::Status::Rs(api::RsStatus {
        version: env!("CARGO_PKG_VERSION").to_owned(),
        uptime_secs: common.uptime_secs(),
        listen: rs.listen,
        admin: common.admin,
        ttl_secs: rs.ttl_secs,
        serving: stats.serving,
        peers_known: stats.counts.records,
        peers_active: stats.counts.active,
        connections_open: rs.metrics.connections("rs").get(),
        requests: api::RsRequests {
            registered: r.registered,
            kept_alive: r.kept_alive,
            left: r.left,
            queried: r.queried,
            refused: r.refused,
            not_durable: r.not_durable,
        },
    })))
}

async fn metrics(
    _: Authorized,
    request: HttpRequest,
    common: web::Data<Common>,
    rs: web::Data<RsAdmin>,
) -> HttpResponse {
    if let Ok(stats) = rs.registry.send(GetStats).await {
        rs.metrics.rs_peers_known.set(stats.counts.records as i64);
        rs.metrics.rs_peers_active.set(stats.counts.active as i64);
    }
    rs.metrics.uptime_seconds.set(common.uptime_secs() as i64);
    metrics_reply(&request, &rs.metrics)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PeersQuery {
    limit: Option<usize>,
    after: Option<u32>,
}

fn record(view: PeerView) -> api::RsPeer {
    api::RsPeer {
        id: view.id,
        host: view.host,
        os: view.os,
        address: view.address,
        port: view.port,
        active: view.active,
        ttl_secs: view.ttl_secs,
        registrations_30d: view.registrations_30d,
        last_registered: rfc3339(view.last_registered_unix_secs),
        last_registered_unix_secs: view.last_registered_unix_secs,
    }
}

async fn peers(
    _: Authorized,
    query: web::Query<PeersQuery>,
    rs: web::Data<RsAdmin>,
) -> Result<web::Json<api::RsPeers>, ApiError> {
    let limit = page_limit(query.limit)?;
    let from = query.after.map_or(0, |id| id as usize + 1);
    let (views, more) = rs
        .registry
        .send(GetPeers { from, limit })
        .await
        .map_err(|_| ApiError::restarting("registry"))?;
    let next = match more {
        Some(_) => views.last().map(|v| v.id),
        None => None,
    };
    Ok(web::Json(api::RsPeers {
        peers: views.into_iter().map(record).collect(),
        next,
    }))
}
