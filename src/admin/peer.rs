//! A peer's admin routes: status, metrics, its index, its peer list, the
//! transfers in flight, downloads by id, and leave, join and rescan.

use super::{metrics_reply, page_limit, page_of, rfc3339, ApiError, Authorized, Common, Page};
use crate::api;
use actix::prelude::*;
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use p2p_di_actors::metrics::Metrics;
use p2p_di_actors::peer::downloader::{
    DownloadError, DownloaderActor, Enqueue, GetDownloads, GetQueue, GetTransfers, RefreshIndex,
    Transfer, WaitDownload, WaitEnded,
};
use p2p_di_actors::peer::link::{
    GetLinkState, GetPeerList, JoinNetwork, LeaveNetwork, LinkError, RsLinkActor, WaitJoined,
};
use p2p_di_actors::peer::store::{GetMissing, GetRecords, GetStoreStats, Rescan, StoreActor};
use p2p_di_actors::peer::PeerHandle;
use p2p_di_actors::server::{GetUploads, UploadView};
use p2p_di_actors::state::index::Holder;
use p2p_di_actors::wire::{PeerEntry, RfcNumber};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// What a peer's routes reach.
pub struct PeerAdmin {
    store: Addr<StoreActor>,
    link: Addr<RsLinkActor>,
    downloader: Addr<DownloaderActor>,
    uploads: Recipient<GetUploads>,
    metrics: Metrics,
    host: String,
    rfc_server: SocketAddr,
    rfc_dir: PathBuf,
    /// How long `POST /join` waits for the registration.
    join_timeout: Duration,
}

impl PeerAdmin {
    /// The routes' view of `peer`.
    pub fn new(peer: &PeerHandle, rfc_dir: PathBuf, join_timeout: Duration) -> Self {
        PeerAdmin {
            store: peer.store.clone(),
            link: peer.link.clone(),
            downloader: peer.downloader.clone(),
            uploads: peer.uploads.clone(),
            metrics: peer.metrics.clone(),
            host: peer.host.clone(),
            rfc_server: peer.local_addr,
            rfc_dir,
            join_timeout,
        }
    }
}

/// A peer's routes.
pub fn routes(config: &mut web::ServiceConfig) {
    config
        .route("/status", web::get().to(status))
        .route("/metrics", web::get().to(metrics))
        .route("/index", web::get().to(index))
        .route("/index/refresh", web::post().to(refresh_index))
        .route("/peers", web::get().to(peers))
        .route("/transfers", web::get().to(transfers))
        .service(
            web::resource("/downloads")
                .app_data(super::json_config(super::MAX_BATCH_BODY_BYTES))
                .route(web::post().to(start_downloads))
                .route(web::get().to(downloads)),
        )
        .route("/downloads/ended", web::get().to(ended))
        .route("/downloads/{id}", web::get().to(download))
        .route("/leave", web::post().to(leave))
        .route("/join", web::post().to(join))
        .route("/rescan", web::post().to(rescan));
}

/// The queue as the API shows it.
async fn status(
    _: Authorized,
    common: web::Data<Common>,
    peer: web::Data<PeerAdmin>,
) -> Result<web::Json<api::Status>, ApiError> {
    let link = peer
        .link
        .send(GetLinkState)
        .await
        .map_err(|_| ApiError::restarting("RS link"))?;
    let store = peer
        .store
        .send(GetStoreStats)
        .await
        .map_err(|_| ApiError::restarting("store"))?;
    let queue = peer
        .downloader
        .send(GetQueue)
        .await
        .map_err(|_| ApiError::restarting("downloader"))?;
    let uploads = peer.uploads.send(GetUploads).await.unwrap_or_default();
    Ok(web::Json(api::Status::Peer(api::PeerStatus {
        version: env!("CARGO_PKG_VERSION").to_owned(),
        uptime_secs: common.uptime_secs(),
        host: peer.host.clone(),
        rfc_server: peer.rfc_server,
        admin: common.admin,
        rs: link.links.iter().map(api::RsReach::from).collect(),
        peer_list: api::PeerListAge {
            peers: link.last_peers.len(),
            age_ms: link.list_age_ms,
            aged: link.list_aged,
        },
        rfc_dir: peer.rfc_dir.display().to_string(),
        joined: link.joined,
        left: link.left,
        registrations: link.registrations,
        documents: store.documents,
        index_records: store.index_records,
        index_records_refused: store.index_refused,
        index_records_evicted: store.index_evicted,
        downloads: queue.into(),
        uploads_running: uploads.len(),
        connections_open: peer.metrics.connections("peer").get(),
        bytes_served: peer.metrics.peer_bytes_served.get(),
        bytes_downloaded: peer.metrics.peer_bytes_downloaded.get(),
    })))
}

async fn metrics(
    _: Authorized,
    request: HttpRequest,
    common: web::Data<Common>,
    peer: web::Data<PeerAdmin>,
) -> HttpResponse {
    if let Ok(link) = peer.link.send(GetLinkState).await {
        let age = link.list_age_ms.map_or(-1.0, |ms| ms as f64 / 1000.0);
        peer.metrics.peer_list_age_seconds.set(age);
    }
    if let Ok(stats) = peer.store.send(GetStoreStats).await {
        peer.metrics.peer_documents.set(stats.documents as i64);
        peer.metrics
            .peer_index_records
            .set(stats.index_records as i64);
    }
    peer.metrics.uptime_seconds.set(common.uptime_secs() as i64);
    metrics_reply(&request, &peer.metrics)
}

/// `NUMBER:HOST:PORT` as a key (the host may hold colons itself).
fn parse_index_key(key: &str) -> Result<(RfcNumber, Holder), ApiError> {
    let bad = || ApiError::bad_request(format!("after={key:?}: expected NUMBER:HOST:PORT"));
    let (number, rest) = key.split_once(':').ok_or_else(bad)?;
    let (host, port) = rest.rsplit_once(':').ok_or_else(bad)?;
    let number = number.parse().map_err(|_| bad())?;
    let port = port.parse().map_err(|_| bad())?;
    Ok((number, Holder::new(host, port)))
}

async fn index(
    _: Authorized,
    query: web::Query<api::PageQuery>,
    peer: web::Data<PeerAdmin>,
) -> Result<web::Json<api::IndexPage>, ApiError> {
    let limit = page_limit(query.limit)?;
    let after = query.after.as_deref().map(parse_index_key).transpose()?;
    let (records, more) = peer
        .store
        .send(GetRecords { after, limit })
        .await
        .map_err(|_| ApiError::restarting("store"))?;
    let me = (peer.host.as_str(), peer.rfc_server.port());
    let next = match (more, records.last()) {
        (true, Some(last)) => Some(format!("{}:{}:{}", last.number, last.host, last.port)),
        _ => None,
    };
    let records = records
        .into_iter()
        .map(|r| api::IndexRecord {
            local: (r.host.as_str(), r.port) == me,
            rfc: r.number,
            title: r.title,
            host: r.host,
            port: r.port,
            ttl_secs: r.ttl_secs,
        })
        .collect();
    Ok(web::Json(api::IndexPage { records, next }))
}

async fn refresh_index(
    _: Authorized,
    peer: web::Data<PeerAdmin>,
) -> Result<web::Json<api::Refreshed>, ApiError> {
    let reached = peer
        .downloader
        .send(RefreshIndex::all())
        .await
        .map_err(|_| ApiError::restarting("downloader"))?
        .map_err(download_error)?;
    let stats = peer
        .store
        .send(GetStoreStats)
        .await
        .map_err(|_| ApiError::restarting("store"))?;
    Ok(web::Json(api::Refreshed {
        peers_reached: reached,
        index_records: stats.index_records,
    }))
}

fn download_error(err: DownloadError) -> ApiError {
    match err {
        DownloadError::PeerList(link) => link_error(link),
        other => ApiError::new(StatusCode::BAD_GATEWAY, other.to_string()),
    }
}

fn link_error(err: LinkError) -> ApiError {
    let status = match err {
        LinkError::NotJoined => StatusCode::CONFLICT,
        _ => StatusCode::BAD_GATEWAY,
    };
    ApiError::new(status, err.to_string())
}

fn listed(entry: PeerEntry) -> api::ListedPeer {
    api::ListedPeer {
        key: SocketAddr::new(entry.address, entry.port).to_string(),
        host: entry.host,
        address: entry.address,
        port: entry.port,
        ttl_secs: entry.ttl_secs,
        registrations_30d: entry.registrations_30d,
        last_registered: rfc3339(entry.last_registered_unix_secs),
    }
}

async fn peers(
    _: Authorized,
    query: web::Query<api::PeerListQuery>,
    peer: web::Data<PeerAdmin>,
) -> Result<web::Json<api::PeerList>, ApiError> {
    let limit = page_limit(query.limit)?;
    let (list, note) = if query.refresh.unwrap_or(false) {
        match peer.link.send(GetPeerList::fresh()).await {
            Ok(Ok(list)) => (list, None),
            Ok(Err(LinkError::NoActivePeers)) => (Vec::new(), Some("no active peers".to_owned())),
            Ok(Err(err)) => return Err(link_error(err)),
            Err(_) => return Err(ApiError::restarting("RS link")),
        }
    } else {
        let state = peer
            .link
            .send(GetLinkState)
            .await
            .map_err(|_| ApiError::restarting("RS link"))?;
        (state.last_peers, None)
    };
    let views: Vec<api::ListedPeer> = list.into_iter().map(listed).collect();
    let Page { items, next } = page_of(views, |v| v.key.clone(), query.after.clone(), limit);
    Ok(web::Json(api::PeerList {
        peers: items,
        next,
        note,
    }))
}

fn upload_view(u: UploadView) -> api::Transfer {
    api::Transfer {
        key: format!("up-{:012}", u.session),
        direction: "upload".into(),
        rfc: u.number,
        peer: Some(u.client),
        length: Some(u.length),
        done: u.sent,
        waiting: false,
        failed_attempts: 0,
        elapsed_ms: u.elapsed_ms,
    }
}

fn download_transfer(t: Transfer) -> api::Transfer {
    api::Transfer {
        key: format!("down-{:010}", t.number),
        direction: "download".into(),
        rfc: t.number,
        peer: t.holder,
        length: t.length,
        done: t.received,
        waiting: t.waiting,
        failed_attempts: t.failed_attempts,
        elapsed_ms: t.elapsed_ms,
    }
}

async fn transfers(
    _: Authorized,
    query: web::Query<api::PageQuery>,
    peer: web::Data<PeerAdmin>,
) -> Result<web::Json<api::Transfers>, ApiError> {
    let limit = page_limit(query.limit)?;
    let downloads = peer
        .downloader
        .send(GetTransfers)
        .await
        .map_err(|_| ApiError::restarting("downloader"))?;
    let uploads = peer
        .uploads
        .send(GetUploads)
        .await
        .map_err(|_| ApiError::restarting("RFC server"))?;
    let all: Vec<api::Transfer> = downloads
        .into_iter()
        .map(download_transfer)
        .chain(uploads.into_iter().map(upload_view))
        .collect();
    let Page { items, next } = page_of(all, |t| t.key.clone(), query.after.clone(), limit);
    Ok(web::Json(api::Transfers {
        transfers: items,
        next,
    }))
}

/// The RFCs a `POST /downloads` asks for.
async fn asked(ask: &api::DownloadAsk, peer: &PeerAdmin) -> Result<Vec<RfcNumber>, ApiError> {
    let forms =
        usize::from(ask.rfc.is_some()) + usize::from(!ask.rfcs.is_empty()) + usize::from(ask.all);
    if forms != 1 {
        return Err(ApiError::bad_request(
            "ask for one of: \"rfc\": N, \"rfcs\": [N, ...], \"all\": true",
        ));
    }
    if ask.refresh && !ask.all {
        return Err(ApiError::bad_request("\"refresh\" goes with \"all\""));
    }
    if ask.all {
        if ask.refresh {
            peer.downloader
                .send(RefreshIndex::all())
                .await
                .map_err(|_| ApiError::restarting("downloader"))?
                .map_err(download_error)?;
        }
        return peer
            .store
            .send(GetMissing)
            .await
            .map_err(|_| ApiError::restarting("store"));
    }
    let numbers: Vec<RfcNumber> = ask
        .rfc
        .into_iter()
        .chain(ask.rfcs.iter().copied())
        .collect();
    if numbers.contains(&0) {
        return Err(ApiError::bad_request("an RFC number is 1 or more"));
    }
    Ok(numbers)
}

async fn start_downloads(
    _: Authorized,
    ask: web::Json<api::DownloadAsk>,
    peer: web::Data<PeerAdmin>,
) -> Result<HttpResponse, ApiError> {
    let numbers = asked(&ask, &peer).await?;
    let queued = peer
        .downloader
        .send(Enqueue { numbers })
        .await
        .map_err(|_| ApiError::restarting("downloader"))?
        .map_err(|full| ApiError::new(StatusCode::SERVICE_UNAVAILABLE, full.to_string()))?;
    let mut reply = HttpResponse::Accepted();
    if let Some((id, _)) = queued.tickets.first() {
        reply.insert_header(("Location", format!("/downloads/{id}")));
    }
    Ok(reply.json(api::Queued::from(queued)))
}

/// Longest a request waits for downloads to end.
const MAX_WAIT_SECS: u64 = 60;

async fn download(
    _: Authorized,
    id: web::Path<u64>,
    query: web::Query<api::WaitQuery>,
    peer: web::Data<PeerAdmin>,
) -> Result<web::Json<api::Download>, ApiError> {
    let id = id.into_inner();
    let wait = Duration::from_secs(query.wait.unwrap_or(0).min(MAX_WAIT_SECS));
    let entry = peer
        .downloader
        .send(WaitDownload { id, wait })
        .await
        .map_err(|_| ApiError::restarting("downloader"))?
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, format!("no download {id}")))?;
    Ok(web::Json(api::Download::from(entry)))
}

async fn ended(
    _: Authorized,
    query: web::Query<api::EndedQuery>,
    peer: web::Data<PeerAdmin>,
) -> Result<web::Json<api::EndedPage>, ApiError> {
    let since = query.since.unwrap_or(0);
    let limit = page_limit(query.limit)?;
    let wait = Duration::from_secs(query.wait.unwrap_or(0).min(MAX_WAIT_SECS));
    let ended = peer
        .downloader
        .send(WaitEnded { since, limit, wait })
        .await
        .map_err(|_| ApiError::restarting("downloader"))?;
    Ok(web::Json(api::EndedPage::after(since, ended)))
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct DownloadsQuery {
    limit: Option<usize>,
    after: Option<u64>,
}

async fn downloads(
    _: Authorized,
    query: web::Query<DownloadsQuery>,
    peer: web::Data<PeerAdmin>,
) -> Result<web::Json<api::Downloads>, ApiError> {
    let limit = page_limit(query.limit)?;
    let (entries, more) = peer
        .downloader
        .send(GetDownloads {
            after: query.after,
            limit,
        })
        .await
        .map_err(|_| ApiError::restarting("downloader"))?;
    let next = if more {
        entries.last().map(|e| e.entry.id)
    } else {
        None
    };
    Ok(web::Json(api::Downloads {
        downloads: entries.into_iter().map(api::Download::from).collect(),
        next,
    }))
}

async fn leave(_: Authorized, peer: web::Data<PeerAdmin>) -> Result<HttpResponse, ApiError> {
    peer.link
        .send(LeaveNetwork)
        .await
        .map_err(|_| ApiError::restarting("RS link"))?
        .map_err(link_error)?;
    Ok(HttpResponse::Ok().json(api::Membership {
        joined: false,
        left: true,
    }))
}

async fn join(_: Authorized, peer: web::Data<PeerAdmin>) -> Result<HttpResponse, ApiError> {
    peer.link
        .send(JoinNetwork)
        .await
        .map_err(|_| ApiError::restarting("RS link"))?;
    match tokio::time::timeout(peer.join_timeout, peer.link.send(WaitJoined)).await {
        Ok(Ok(())) => Ok(HttpResponse::Ok().json(api::Membership {
            joined: true,
            left: false,
        })),
        Ok(Err(_)) => Err(ApiError::restarting("RS link")),
        Err(_) => Err(ApiError::new(
            StatusCode::GATEWAY_TIMEOUT,
            format!(
                "not registered within {} s; the peer keeps trying",
                peer.join_timeout.as_secs()
            ),
        )),
    }
}

async fn rescan(
    _: Authorized,
    peer: web::Data<PeerAdmin>,
) -> Result<web::Json<api::Rescanned>, ApiError> {
    let done = peer
        .store
        .send(Rescan)
        .await
        .map_err(|_| ApiError::restarting("store"))?
        .map_err(|err| match err {
            p2p_di_actors::peer::store::RescanError::Busy => {
                ApiError::new(StatusCode::CONFLICT, err.to_string())
            }
            other => ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, other.to_string()),
        })?;
    Ok(web::Json(api::Rescanned {
        documents: done.documents,
        added: done.added,
        removed: done.removed,
        skipped: done.skipped,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_keys_take_hosts_with_colons() {
        let (number, holder) = parse_index_key("9264:fe80::1:65401").unwrap();
        assert_eq!((number, holder), (9264, Holder::new("fe80::1", 65401)));
        assert!(parse_index_key("9264").is_err());
        assert!(parse_index_key("x:h:1").is_err());
        assert!(parse_index_key("1:h:99999").is_err());
    }
}
