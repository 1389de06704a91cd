//! The RFC store actor: owns the peer's documents and its RFC index.
//!
//! Documents up to [`CACHED_UP_TO`] bytes are served from an in-memory
//! cache (bounded in bytes) filled from the folder on demand; a larger one
//! is read from its file in chunks as it is sent. The encoded index is
//! kept for the second it is valid in (TTLs are shown in whole seconds)
//! and until the index changes, and shared by every connection sending it.
//!
//! Every blocking folder operation goes through the peer's [`Folder`]
//! worker, in order. A commit (a download made a document) and a rescan
//! (the folder read again) may overlap: what the scan misses because it
//! read the folder before a commit landed is added back when the scan's
//! result is applied. On a restart the caches are dropped, the index's
//! counts repaired, and the folder scanned again: a commit that completed
//! while the store was restarting is found by that scan.

use super::folder::{Folder, LocalDocument, SaveError, Scan};
use crate::now_ms;
use crate::server::DocumentBody;
use crate::state::index::{Holder, IndexLimits, Merged, RfcIndex};
use crate::wire::{IndexRecord, PeerEntry, RfcNumber};
use actix::prelude::*;
use bytes::Bytes;
use slog::{debug, error, info, warn, Logger};
use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;

/// Documents up to this size are cached in memory; larger ones are read
/// from their file as they are sent.
pub(crate) const CACHED_UP_TO: u64 = 1 << 20;

/// The RFC index encoded as a GET RFC-Index body.
#[derive(Debug, Message)]
#[rtype(result = "Bytes")]
pub struct GetIndex;

/// The RFC index as records (for tools).
#[derive(Debug, Message)]
#[rtype(result = "(Vec<IndexRecord>, bool)")]
pub struct GetRecords {
    /// The last record of the previous page (by RFC number, then holder).
    pub after: Option<(RfcNumber, Holder)>,
    /// Most records returned.
    pub limit: usize,
}

/// A document's body, if this peer holds it.
#[derive(Debug, Message)]
#[rtype(result = "Option<DocumentBody>")]
pub struct GetDocument(pub RfcNumber);

/// What the index says of an RFC.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Known {
    /// The RFC.
    pub number: RfcNumber,
    /// Whether this peer holds it.
    pub held: bool,
    /// Its other holders, with the title each gave.
    pub holders: Vec<(Holder, String)>,
}

/// What the index says of these RFCs (one round trip for a batch).
#[derive(Debug, Message)]
#[rtype(result = "Vec<Known>")]
pub struct Lookup(pub Vec<RfcNumber>);

/// Merge a remote index, taking only records of holders on `peers`;
/// answers with what the merge did and the holders of `wanted` after it.
#[derive(Debug, Message)]
#[rtype(result = "MergeOutcome")]
pub struct MergeIndex {
    /// The records received.
    pub records: Vec<IndexRecord>,
    /// The current peer list: only its holders are active.
    pub peers: Arc<Vec<PeerEntry>>,
    /// The RFCs whose holders the caller needs.
    pub wanted: Vec<RfcNumber>,
}

/// The answer to [`MergeIndex`].
#[derive(Debug, Clone, Default)]
pub struct MergeOutcome {
    /// What the merge did.
    pub merged: Merged,
    /// The holders of each wanted RFC, after the merge.
    pub holders: Vec<Known>,
}

/// A downloaded, synced temporary file becomes RFC `number`: renamed into
/// place, titled, indexed, served.
#[derive(Debug, Message)]
#[rtype(result = "Result<(), SaveError>")]
pub struct Commit {
    /// The temporary file.
    pub temp: PathBuf,
    /// Its RFC.
    pub number: RfcNumber,
    /// Its title (from the holder's index record).
    pub title: String,
    /// Its length, as the holder announced it.
    pub length: u64,
}

/// Read the folder again: documents added are served, documents removed
/// are withdrawn.
#[derive(Debug, Message)]
#[rtype(result = "Result<Rescanned, RescanError>")]
pub struct Rescan;

/// What a rescan changed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rescanned {
    /// Documents held now.
    pub documents: usize,
    /// Documents new to the index.
    pub added: Vec<RfcNumber>,
    /// Documents withdrawn.
    pub removed: Vec<RfcNumber>,
    /// Files skipped, with why.
    pub skipped: Vec<String>,
}

/// Why a rescan failed.
#[derive(Debug, thiserror::Error)]
pub enum RescanError {
    /// The folder could not be read.
    #[error("reading the RFC folder: {0}")]
    Folder(#[from] std::io::Error),
    /// A rescan is running already.
    #[error("a rescan is running already")]
    Busy,
}

/// Counts, for status and metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, MessageResponse)]
pub struct StoreStats {
    /// Documents held.
    pub documents: usize,
    /// Index records, local and remote.
    pub index_records: usize,
    /// Remote records refused since start: their holder had its share
    /// (`max_records_per_holder`) or the index was full.
    pub index_refused: u64,
    /// Remote records evicted since start to make room for others.
    pub index_evicted: u64,
}

/// Ask for [`StoreStats`].
#[derive(Debug, Message)]
#[rtype(result = "StoreStats")]
pub struct GetStoreStats;

/// A bounded in-memory cache of small documents.
#[derive(Debug, Default)]
struct DocumentCache {
    documents: HashMap<RfcNumber, Bytes>,
    bytes: usize,
    limit: usize,
}

impl DocumentCache {
    fn insert(&mut self, number: RfcNumber, body: Bytes) {
        if body.len() > self.limit {
            return;
        }
        while self.bytes + body.len() > self.limit {
            let Some(victim) = self.documents.keys().next().copied() else {
                break;
            };
            self.remove(victim);
        }
        self.bytes += body.len();
        if let Some(old) = self.documents.insert(number, body) {
            self.bytes -= old.len();
        }
    }

    fn remove(&mut self, number: RfcNumber) {
        if let Some(old) = self.documents.remove(&number) {
            self.bytes -= old.len();
        }
    }

    fn clear(&mut self) {
        self.documents.clear();
        self.bytes = 0;
    }
}

/// The store actor.
pub struct StoreActor {
    folder: Folder,
    index: RfcIndex,
    /// Local documents and their lengths.
    documents: HashMap<RfcNumber, u64>,
    cache: DocumentCache,
    /// The encoded index and the second it is valid in.
    encoded: Option<(u64, Bytes)>,
    /// While a rescan runs: the documents committed since it started.
    scanning: Option<Vec<LocalDocument>>,
    /// Set by a restart: `started` then scans the folder again.
    restarted: bool,
    /// Remote records refused and evicted over the limits, since start.
    refused: u64,
    evicted: u64,
    log: Logger,
}

impl StoreActor {
    /// A store over `folder`, holding `documents`, for the peer `me`, with
    /// an index within `limits` and a document cache of `cache_bytes`.
    pub fn new(
        folder: Folder,
        me: Holder,
        documents: &[LocalDocument],
        limits: IndexLimits,
        cache_bytes: usize,
        log: Logger,
    ) -> Self {
        let mut store = StoreActor {
            folder,
            index: RfcIndex::new(me, limits),
            documents: HashMap::new(),
            cache: DocumentCache {
                limit: cache_bytes,
                ..DocumentCache::default()
            },
            encoded: None,
            scanning: None,
            restarted: false,
            refused: 0,
            evicted: 0,
            log,
        };
        for doc in documents {
            store.add(doc);
        }
        store
    }

    fn add(&mut self, doc: &LocalDocument) {
        self.index.add_local(doc.number, &doc.title);
        self.documents.insert(doc.number, doc.bytes);
        self.cache.remove(doc.number);
        self.encoded = None;
    }

    fn withdraw(&mut self, number: RfcNumber) {
        self.index.remove_local(number);
        self.documents.remove(&number);
        self.cache.remove(number);
        self.encoded = None;
    }

    fn known(&self, number: RfcNumber, now: u64) -> Known {
        Known {
            number,
            held: self.documents.contains_key(&number),
            holders: self.index.holders(number, now),
        }
    }

    /// Starts a rescan on this actor's context; `reply` gets its result.
    fn rescan(
        &mut self,
        ctx: &mut Context<Self>,
        reply: Option<tokio::sync::oneshot::Sender<Result<Rescanned, RescanError>>>,
    ) {
        if self.scanning.is_some() {
            if let Some(reply) = reply {
                let _ = reply.send(Err(RescanError::Busy));
            }
            return;
        }
        self.scanning = Some(Vec::new());
        let folder = self.folder.clone();
        ctx.spawn(
            async move { folder.scan().await }
                .into_actor(self)
                .map(|scanned, act, _| {
                    let committed = act.scanning.take().unwrap_or_default();
                    let result = scanned
                        .map(|scan| act.apply_scan(scan, committed))
                        .map_err(RescanError::from);
                    match &result {
                        Ok(done) => {
                            info!(act.log, "RFC folder scanned"; "documents" => done.documents,
                                "added" => done.added.len(), "removed" => done.removed.len());
                            for skipped in &done.skipped {
                                warn!(act.log, "file skipped"; "why" => skipped);
                            }
                        }
                        Err(err) => error!(act.log, "RFC folder unreadable"; "err" => %err),
                    }
                    if let Some(reply) = reply {
                        let _ = reply.send(result);
                    }
                }),
        );
    }

    /// Makes the local documents what `scan` found, plus what was
    /// committed while it ran.
    fn apply_scan(&mut self, scan: Scan, committed: Vec<LocalDocument>) -> Rescanned {
        let mut found: HashMap<RfcNumber, LocalDocument> = scan
            .documents
            .into_iter()
            .map(|doc| (doc.number, doc))
            .collect();
        for doc in committed {
            found.insert(doc.number, doc);
        }
        let removed: Vec<RfcNumber> = self
            .documents
            .keys()
            .filter(|number| !found.contains_key(number))
            .copied()
            .collect();
        for number in &removed {
            self.withdraw(*number);
        }
        let mut added = Vec::new();
        for doc in found.values() {
            if self.documents.get(&doc.number) != Some(&doc.bytes) {
                if !self.documents.contains_key(&doc.number) {
                    added.push(doc.number);
                }
                self.add(doc);
            }
        }
        added.sort_unstable();
        let mut removed = removed;
        removed.sort_unstable();
        Rescanned {
            documents: self.documents.len(),
            added,
            removed,
            skipped: scan.skipped,
        }
    }
}

impl Actor for StoreActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        if std::mem::take(&mut self.restarted) {
            self.rescan(ctx, None);
        }
    }
}

impl Supervised for StoreActor {
    /// Whatever failed may have left the counts or the caches half-changed:
    /// drop the caches, repair the counts, and read the folder again.
    fn restarting(&mut self, _: &mut Self::Context) {
        self.cache.clear();
        self.encoded = None;
        self.scanning = None;
        self.index.repair();
        self.restarted = true;
        info!(self.log, "store restarting; scanning the folder again");
    }
}

impl Handler<GetIndex> for StoreActor {
    type Result = MessageResult<GetIndex>;

    fn handle(&mut self, _: GetIndex, _: &mut Self::Context) -> Self::Result {
        crate::fault::point("store.index");
        let now = now_ms();
        let second = now / 1000;
        if let Some((at, bytes)) = &self.encoded {
            if *at == second {
                return MessageResult(bytes.clone());
            }
        }
        self.index.expire(now);
        // Shown TTLs round up, so one encoding serves a whole second only
        // if taken at its start: encode for the second's first millisecond.
        let bytes = self.index.encode(second * 1000);
        self.encoded = Some((second, bytes.clone()));
        MessageResult(bytes)
    }
}

impl Handler<GetRecords> for StoreActor {
    type Result = MessageResult<GetRecords>;

    fn handle(&mut self, msg: GetRecords, _: &mut Self::Context) -> Self::Result {
        let now = now_ms();
        self.index.expire(now);
        MessageResult(self.index.page(msg.after.as_ref(), msg.limit, now))
    }
}

impl Handler<GetDocument> for StoreActor {
    type Result = ResponseActFuture<Self, Option<DocumentBody>>;

    fn handle(&mut self, msg: GetDocument, _: &mut Self::Context) -> Self::Result {
        let number = msg.0;
        let Some(&length) = self.documents.get(&number) else {
            return Box::pin(actix::fut::ready(None));
        };
        if let Some(body) = self.cache.documents.get(&number) {
            return Box::pin(actix::fut::ready(Some(DocumentBody::Cached(body.clone()))));
        }
        let path = self.folder.dir().join(super::folder::file_name(number));
        if length > CACHED_UP_TO {
            return Box::pin(actix::fut::ready(Some(DocumentBody::File { path, length })));
        }
        Box::pin(
            async move { tokio::fs::read(&path).await.map(Bytes::from) }
                .into_actor(self)
                .map(move |read, act, _| match read {
                    Ok(body) => {
                        act.cache.insert(number, body.clone());
                        Some(DocumentBody::Cached(body))
                    }
                    Err(err) => {
                        error!(act.log, "document unreadable"; "rfc" => number, "err" => %err);
                        None
                    }
                }),
        )
    }
}

/// The RFCs the index names that this peer does not hold, in order.
#[derive(Debug, Message)]
#[rtype(result = "Vec<RfcNumber>")]
pub struct GetMissing;

impl Handler<GetMissing> for StoreActor {
    type Result = MessageResult<GetMissing>;

    fn handle(&mut self, _: GetMissing, _: &mut Self::Context) -> Self::Result {
        MessageResult(self.index.missing(now_ms()))
    }
}

impl Handler<Lookup> for StoreActor {
    type Result = MessageResult<Lookup>;

    fn handle(&mut self, msg: Lookup, _: &mut Self::Context) -> Self::Result {
        let now = now_ms();
        MessageResult(msg.0.into_iter().map(|n| self.known(n, now)).collect())
    }
}

impl Handler<MergeIndex> for StoreActor {
    type Result = MessageResult<MergeIndex>;

    fn handle(&mut self, msg: MergeIndex, _: &mut Self::Context) -> Self::Result {
        let now = now_ms();
        let listed: HashSet<(&str, u16)> = msg
            .peers
            .iter()
            .map(|p| (p.host.as_str(), p.port))
            .collect();
        let merged = self.index.merge(
            &msg.records,
            |holder| listed.contains(&(&*holder.host, holder.port)),
            now,
        );
        if merged.added > 0 || merged.evicted > 0 {
            self.encoded = None;
        }
        self.refused += merged.over_cap as u64;
        self.evicted += merged.evicted as u64;
        if merged.over_cap > 0 || merged.rejected > 0 {
            warn!(self.log, "remote index records refused";
                "over_cap" => merged.over_cap, "rejected" => merged.rejected, "evicted" => merged.evicted,
                "max_records_per_holder" => self.index.limits().max_records_per_holder,
                "max_index_records" => self.index.limits().max_records);
        }
        debug!(self.log, "index merged"; "added" => merged.added, "refreshed" => merged.refreshed,
            "not_listed" => merged.not_listed);
        let holders = msg.wanted.iter().map(|n| self.known(*n, now)).collect();
        MessageResult(MergeOutcome { merged, holders })
    }
}

impl Handler<Commit> for StoreActor {
    type Result = ResponseActFuture<Self, Result<(), SaveError>>;

    fn handle(&mut self, msg: Commit, _: &mut Self::Context) -> Self::Result {
        let folder = self.folder.clone();
        let Commit {
            temp,
            number,
            title,
            length,
        } = msg;
        Box::pin(
            async move { folder.commit(temp, number, title, length).await }
                .into_actor(self)
                .map(|committed, act, _| {
                    let doc = committed?;
                    crate::fault::point("store.commit");
                    if let Some(pending) = act.scanning.as_mut() {
                        pending.push(doc.clone());
                    }
                    act.add(&doc);
                    Ok(())
                }),
        )
    }
}

impl Handler<Rescan> for StoreActor {
    type Result = ResponseFuture<Result<Rescanned, RescanError>>;

    fn handle(&mut self, _: Rescan, ctx: &mut Self::Context) -> Self::Result {
        // The scan runs on this actor's context; this future only waits.
        let (reply, rx) = tokio::sync::oneshot::channel();
        self.rescan(ctx, Some(reply));
        Box::pin(async move {
            rx.await.unwrap_or_else(|_| {
                Err(RescanError::Folder(std::io::Error::other(
                    "the store restarted during the rescan",
                )))
            })
        })
    }
}

impl Handler<GetStoreStats> for StoreActor {
    type Result = StoreStats;

    fn handle(&mut self, _: GetStoreStats, _: &mut Self::Context) -> StoreStats {
        StoreStats {
            documents: self.documents.len(),
            index_records: self.index.len(),
            index_refused: self.refused,
            index_evicted: self.evicted,
        }
    }
}
