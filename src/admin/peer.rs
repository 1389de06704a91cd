//! A peer's admin routes: status, metrics, its index, its peer list, the
//! transfers in flight, downloads by id, and leave, join and rescan.

use super::downloads::{DownloadBookActor, Entry, GetDownload, ListDownloads, StartDownload};
use super::{metrics_reply, page_limit, page_of, rfc3339, ApiError, Authorized, Common, Page};
use actix::prelude::*;
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use p2p_di_actors::metrics::Metrics;
use p2p_di_actors::peer::downloader::{
    DownloadError, DownloaderActor, GetTransfers, Outcome, RefreshIndex, Transfer,
};
use p2p_di_actors::peer::link::{
    GetLinkState, GetPeerList, JoinNetwork, LeaveNetwork, LinkError, RsLinkActor, WaitJoined,
};
use p2p_di_actors::peer::store::{GetRecords, GetStoreStats, Rescan, StoreActor};
use p2p_di_actors::peer::PeerHandle;
use p2p_di_actors::server::{GetUploads, UploadView};
use p2p_di_actors::state::index::Holder;
use p2p_di_actors::wire::{PeerEntry, RfcNumber};
use serde::{Deserialize, Serialize};
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

/// What a peer's routes reach.
pub struct PeerAdmin {
    store: Addr<StoreActor>,
    link: Addr<RsLinkActor>,
    downloader: Addr<DownloaderActor>,
    uploads: Recipient<GetUploads>,
    book: Addr<DownloadBookActor>,
    metrics: Metrics,
    host: String,
    rfc_server: SocketAddr,
    rs: String,
    rfc_dir: PathBuf,
    /// How long `POST /join` waits for the registration.
    join_timeout: Duration,
}

impl PeerAdmin {
    /// The routes' view of `peer` (starts its download book).
    pub fn new(peer: &PeerHandle, rs: String, rfc_dir: PathBuf, join_timeout: Duration) -> Self {
        PeerAdmin {
            store: peer.store.clone(),
            link: peer.link.clone(),
            downloader: peer.downloader.clone(),
            uploads: peer.uploads.clone(),
            book: DownloadBookActor::new(peer.downloader.clone()).start(),
            metrics: peer.metrics.clone(),
            host: peer.host.clone(),
            rfc_server: peer.local_addr,
            rs,
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
        .route("/downloads", web::post().to(start_download))
        .route("/downloads", web::get().to(downloads))
        .route("/downloads/{id}", web::get().to(download))
        .route("/leave", web::post().to(leave))
        .route("/join", web::post().to(join))
        .route("/rescan", web::post().to(rescan));
}

#[derive(Serialize)]
struct Status {
    role: &'static str,
    version: &'static str,
    uptime_secs: u64,
    host: String,
    rfc_server: SocketAddr,
    admin: SocketAddr,
    rs: String,
    rfc_dir: String,
    joined: bool,
    left: bool,
    registrations: u32,
    documents: usize,
    index_records: usize,
    downloads_running: usize,
    downloads_waiting: usize,
    uploads_running: usize,
    connections_open: i64,
    bytes_served: u64,
    bytes_downloaded: u64,
}

async fn status(
    _: Authorized,
    common: web::Data<Common>,
    peer: web::Data<PeerAdmin>,
) -> Result<web::Json<Status>, ApiError> {
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
    let downloads = peer
        .downloader
        .send(GetTransfers)
        .await
        .map_err(|_| ApiError::restarting("downloader"))?;
    let uploads = peer.uploads.send(GetUploads).await.unwrap_or_default();
    let waiting = downloads.iter().filter(|t| t.waiting).count();
    Ok(web::Json(Status {
        role: "peer",
        version: env!("CARGO_PKG_VERSION"),
        uptime_secs: common.uptime_secs(),
        host: peer.host.clone(),
        rfc_server: peer.rfc_server,
        admin: common.admin,
        rs: peer.rs.clone(),
        rfc_dir: peer.rfc_dir.display().to_string(),
        joined: link.joined,
        left: link.left,
        registrations: link.registrations,
        documents: store.documents,
        index_records: store.index_records,
        downloads_running: downloads.len() - waiting,
        downloads_waiting: waiting,
        uploads_running: uploads.len(),
        connections_open: peer.metrics.connections("peer").get(),
        bytes_served: peer.metrics.peer_bytes_served.get(),
        bytes_downloaded: peer.metrics.peer_bytes_downloaded.get(),
    }))
}

async fn metrics(
    _: Authorized,
    request: HttpRequest,
    common: web::Data<Common>,
    peer: web::Data<PeerAdmin>,
) -> HttpResponse {
    if let Ok(stats) = peer.store.send(GetStoreStats).await {
        peer.metrics.peer_documents.set(stats.documents as i64);
        peer.metrics
            .peer_index_records
            .set(stats.index_records as i64);
    }
    peer.metrics.uptime_seconds.set(common.uptime_secs() as i64);
    metrics_reply(&request, &peer.metrics)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct IndexQuery {
    limit: Option<usize>,
    /// `NUMBER:HOST:PORT`, the last record of the previous page.
    after: Option<String>,
}

#[derive(Serialize)]
struct IndexRecordView {
    rfc: RfcNumber,
    title: String,
    host: String,
    port: u16,
    ttl_secs: u64,
    /// Held by this peer.
    local: bool,
}

#[derive(Serialize)]
struct IndexPage {
    records: Vec<IndexRecordView>,
    next: Option<String>,
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
    query: web::Query<IndexQuery>,
    peer: web::Data<PeerAdmin>,
) -> Result<web::Json<IndexPage>, ApiError> {
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
        .map(|r| IndexRecordView {
            local: (r.host.as_str(), r.port) == me,
            rfc: r.number,
            title: r.title,
            host: r.host,
            port: r.port,
            ttl_secs: r.ttl_secs,
        })
        .collect();
    Ok(web::Json(IndexPage { records, next }))
}

#[derive(Serialize)]
struct Refreshed {
    /// Peers whose index arrived and was merged.
    peers_reached: usize,
    index_records: usize,
}

async fn refresh_index(
    _: Authorized,
    peer: web::Data<PeerAdmin>,
) -> Result<web::Json<Refreshed>, ApiError> {
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
    Ok(web::Json(Refreshed {
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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PeersQuery {
    limit: Option<usize>,
    /// `ADDRESS:PORT` of the last peer of the previous page.
    after: Option<String>,
    /// Ask the RS now (PQUERY) instead of showing the last list.
    refresh: Option<bool>,
}

#[derive(Serialize)]
struct PeerView {
    key: String,
    host: String,
    address: IpAddr,
    port: u16,
    ttl_secs: u64,
    registrations_30d: u32,
    last_registered: String,
}

impl From<PeerEntry> for PeerView {
    fn from(entry: PeerEntry) -> Self {
        PeerView {
            key: SocketAddr::new(entry.address, entry.port).to_string(),
            host: entry.host,
            address: entry.address,
            port: entry.port,
            ttl_secs: entry.ttl_secs,
            registrations_30d: entry.registrations_30d,
            last_registered: rfc3339(entry.last_registered_unix_secs),
        }
    }
}

#[derive(Serialize)]
struct PeersPage {
    peers: Vec<PeerView>,
    next: Option<String>,
    /// The RS's answer when it had no list (`no active peers`, ...).
    note: Option<String>,
}

async fn peers(
    _: Authorized,
    query: web::Query<PeersQuery>,
    peer: web::Data<PeerAdmin>,
) -> Result<web::Json<PeersPage>, ApiError> {
    let limit = page_limit(query.limit)?;
    let (list, note) = if query.refresh.unwrap_or(false) {
        match peer.link.send(GetPeerList).await {
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
    let views: Vec<PeerView> = list.into_iter().map(PeerView::from).collect();
    let Page { items, next } = page_of(views, |v| v.key.clone(), query.after.clone(), limit);
    Ok(web::Json(PeersPage {
        peers: items,
        next,
        note,
    }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PageQuery {
    limit: Option<usize>,
    after: Option<String>,
}

/// An upload or a download in flight.
#[derive(Serialize)]
struct TransferView {
    /// `up-SESSION` or `down-RFC`: unique while it runs.
    key: String,
    direction: &'static str,
    rfc: RfcNumber,
    /// The client (upload) or the holder (download; `null` while it looks
    /// for one).
    peer: Option<SocketAddr>,
    /// The document's length, once known.
    length: Option<u64>,
    /// Bytes sent or received so far.
    done: u64,
    /// Waiting for room to start.
    waiting: bool,
    failed_attempts: usize,
    elapsed_ms: u64,
}

fn upload_view(u: UploadView) -> TransferView {
    TransferView {
        key: format!("up-{:012}", u.session),
        direction: "upload",
        rfc: u.number,
        peer: Some(u.client),
        length: Some(u.length),
        done: u.sent,
        waiting: false,
        failed_attempts: 0,
        elapsed_ms: u.elapsed_ms,
    }
}

fn download_view(t: Transfer) -> TransferView {
    TransferView {
        key: format!("down-{:010}", t.number),
        direction: "download",
        rfc: t.number,
        peer: t.holder,
        length: t.length,
        done: t.received,
        waiting: t.waiting,
        failed_attempts: t.failed_attempts,
        elapsed_ms: t.elapsed_ms,
    }
}

#[derive(Serialize)]
struct TransfersPage {
    transfers: Vec<TransferView>,
    next: Option<String>,
}

async fn transfers(
    _: Authorized,
    query: web::Query<PageQuery>,
    peer: web::Data<PeerAdmin>,
) -> Result<web::Json<TransfersPage>, ApiError> {
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
    let all: Vec<TransferView> = downloads
        .into_iter()
        .map(download_view)
        .chain(uploads.into_iter().map(upload_view))
        .collect();
    let Page { items, next } = page_of(all, |t| t.key.clone(), query.after.clone(), limit);
    Ok(web::Json(TransfersPage {
        transfers: items,
        next,
    }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DownloadAsk {
    rfc: RfcNumber,
}

#[derive(Serialize)]
struct AttemptView {
    address: SocketAddr,
    stage: &'static str,
    error: String,
}

/// A download asked for through the endpoint, as `GET /downloads/ID`
/// shows it.
#[derive(Serialize)]
struct DownloadView {
    id: u64,
    rfc: RfcNumber,
    /// `running`, `downloaded`, `already_held` or `failed`.
    state: &'static str,
    asked: String,
    elapsed_ms: u64,
    /// The holder it came from, when downloaded.
    holder: Option<String>,
    /// The holder being tried (running) or it came from (downloaded).
    address: Option<SocketAddr>,
    length: Option<u64>,
    received: u64,
    /// Tries that failed, in order.
    attempts: Vec<AttemptView>,
    error: Option<String>,
}

fn describe(entry: Entry, running: Option<&Transfer>) -> DownloadView {
    let asked = rfc3339(
        entry
            .asked
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
    );
    let mut view = DownloadView {
        id: entry.id,
        rfc: entry.rfc,
        state: "running",
        asked,
        elapsed_ms: entry.clock.elapsed().as_millis() as u64,
        holder: None,
        address: running.and_then(|t| t.holder),
        length: running.and_then(|t| t.length),
        received: running.map_or(0, |t| t.received),
        attempts: Vec::new(),
        error: None,
    };
    let Some(finished) = entry.finished else {
        return view;
    };
    view.elapsed_ms = finished.elapsed.as_millis() as u64;
    view.attempts = finished
        .failed_attempts
        .iter()
        .map(|a| AttemptView {
            address: a.addr,
            stage: a.stage.as_str(),
            error: a.error.to_string(),
        })
        .collect();
    match finished.outcome {
        Outcome::Downloaded {
            holder,
            addr,
            bytes,
        } => {
            view.state = "downloaded";
            view.holder = Some(format!("{}:{}", holder.host, holder.port));
            view.address = Some(addr);
            view.length = Some(bytes);
            view.received = bytes;
        }
        Outcome::AlreadyHeld => {
            view.state = "already_held";
            view.address = None;
        }
        Outcome::Failed(err) => {
            view.state = "failed";
            view.address = None;
            view.error = Some(err.to_string());
        }
    }
    view
}

async fn start_download(
    _: Authorized,
    ask: web::Json<DownloadAsk>,
    peer: web::Data<PeerAdmin>,
) -> Result<HttpResponse, ApiError> {
    let rfc = ask.rfc;
    if rfc == 0 {
        return Err(ApiError::bad_request("rfc must be a number from 1"));
    }
    let id = peer
        .book
        .send(StartDownload(rfc))
        .await
        .map_err(|_| ApiError::restarting("download book"))?
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "too many downloads running; try again when some have ended",
            )
        })?;
    Ok(HttpResponse::Accepted()
        .insert_header(("Location", format!("/downloads/{id}")))
        .json(serde_json::json!({ "id": id, "rfc": rfc, "state": "running" })))
}

async fn running_transfers(peer: &PeerAdmin) -> Vec<Transfer> {
    peer.downloader.send(GetTransfers).await.unwrap_or_default()
}

async fn download(
    _: Authorized,
    id: web::Path<u64>,
    peer: web::Data<PeerAdmin>,
) -> Result<web::Json<DownloadView>, ApiError> {
    let id = id.into_inner();
    let entry = peer
        .book
        .send(GetDownload(id))
        .await
        .map_err(|_| ApiError::restarting("download book"))?
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, format!("no download {id}")))?;
    let transfers = if entry.finished.is_none() {
        running_transfers(&peer).await
    } else {
        Vec::new()
    };
    let running = transfers.iter().find(|t| t.number == entry.rfc);
    Ok(web::Json(describe(entry, running)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DownloadsQuery {
    limit: Option<usize>,
    after: Option<u64>,
}

#[derive(Serialize)]
struct DownloadsPage {
    downloads: Vec<DownloadView>,
    next: Option<u64>,
}

async fn downloads(
    _: Authorized,
    query: web::Query<DownloadsQuery>,
    peer: web::Data<PeerAdmin>,
) -> Result<web::Json<DownloadsPage>, ApiError> {
    let limit = page_limit(query.limit)?;
    let (entries, more) = peer
        .book
        .send(ListDownloads {
            after: query.after,
            limit,
        })
        .await
        .map_err(|_| ApiError::restarting("download book"))?;
    let transfers = running_transfers(&peer).await;
    let next = if more {
        entries.last().map(|e| e.id)
    } else {
        None
    };
    let downloads = entries
        .into_iter()
        .map(|e| {
            let running = transfers.iter().find(|t| t.number == e.rfc);
            describe(e, running)
        })
        .collect();
    Ok(web::Json(DownloadsPage { downloads, next }))
}

async fn leave(_: Authorized, peer: web::Data<PeerAdmin>) -> Result<HttpResponse, ApiError> {
    peer.link
        .send(LeaveNetwork)
        .await
        .map_err(|_| ApiError::restarting("RS link"))?
        .map_err(link_error)?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "joined": false, "left": true })))
}

async fn join(_: Authorized, peer: web::Data<PeerAdmin>) -> Result<HttpResponse, ApiError> {
    peer.link
        .send(JoinNetwork)
        .await
        .map_err(|_| ApiError::restarting("RS link"))?;
    match tokio::time::timeout(peer.join_timeout, peer.link.send(WaitJoined)).await {
        Ok(Ok(())) => {
            Ok(HttpResponse::Ok().json(serde_json::json!({ "joined": true, "left": false })))
        }
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

#[derive(Serialize)]
struct RescanView {
    documents: usize,
    added: Vec<RfcNumber>,
    removed: Vec<RfcNumber>,
    skipped: Vec<String>,
}

async fn rescan(
    _: Authorized,
    peer: web::Data<PeerAdmin>,
) -> Result<web::Json<RescanView>, ApiError> {
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
    Ok(web::Json(RescanView {
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
