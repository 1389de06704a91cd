//! The RFC store actor: owns the peer's documents and its RFC index.
//!
//! Documents are served from an in-memory cache (bounded in bytes) filled
//! from the folder on demand. Saving a download runs the folder's atomic
//! save off the actor thread, then records the document as local. On a
//! restart the local records are rebuilt from the folder, which is the
//! truth; remote records are dropped and learned again.

use super::folder;
use crate::now_ms;
use crate::state::index::{Holder, Merged, RfcIndex};
use crate::wire::{IndexRecord, RfcNumber};
use actix::prelude::*;
use bytes::Bytes;
use slog::{error, info, warn, Logger};
use std::collections::HashMap;
use std::path::PathBuf;

/// The RFC index as sent on the wire.
#[derive(Debug, Message)]
#[rtype(result = "Vec<IndexRecord>")]
pub struct GetIndex;

/// A document's bytes, if this peer holds it.
#[derive(Debug, Message)]
#[rtype(result = "Option<Bytes>")]
pub struct GetDocument(pub RfcNumber);

/// Merge a remote index.
#[derive(Debug, Message)]
#[rtype(result = "Merged")]
pub struct MergeIndex(pub Vec<IndexRecord>);

/// The other holders of an RFC, with their titles.
#[derive(Debug, Message)]
#[rtype(result = "Vec<(Holder, String)>")]
pub struct Holders(pub RfcNumber);

/// Whether this peer holds an RFC.
#[derive(Debug, Message)]
#[rtype(result = "bool")]
pub struct HoldsLocally(pub RfcNumber);

/// The RFCs this peer holds.
#[derive(Debug, Message)]
#[rtype(result = "Vec<RfcNumber>")]
pub struct LocalNumbers;

/// Save a downloaded document and serve it from now on.
#[derive(Debug, Message)]
#[rtype(result = "Result<(), String>")]
pub struct SaveDocument {
    /// Its number.
    pub number: RfcNumber,
    /// Its title (from the holder's index record).
    pub title: String,
    /// Its bytes.
    pub body: Bytes,
}

/// The store actor.
pub struct StoreActor {
    dir: PathBuf,
    index: RfcIndex,
    cache: HashMap<RfcNumber, Bytes>,
    cache_bytes: usize,
    cache_limit: usize,
    max_index_records: usize,
    log: Logger,
}

impl StoreActor {
    /// A store over `dir`, whose documents are `documents`, for the peer `me`.
    pub fn new(
        dir: PathBuf,
        me: Holder,
        documents: &[folder::LocalDocument],
        max_index_records: usize,
        cache_limit: usize,
        log: Logger,
    ) -> Self {
        let mut index = RfcIndex::new(me, max_index_records);
        for doc in documents {
            index.add_local(doc.number, &doc.title);
        }
        StoreActor {
            dir,
            index,
            cache: HashMap::new(),
            cache_bytes: 0,
            cache_limit,
            max_index_records,
            log,
        }
    }

    fn cache(&mut self, number: RfcNumber, body: Bytes) {
        if body.len() > self.cache_limit {
            return;
        }
        while self.cache_bytes + body.len() > self.cache_limit {
            let Some(victim) = self.cache.keys().next().copied() else {
                break;
            };
            if let Some(old) = self.cache.remove(&victim) {
                self.cache_bytes -= old.len();
            }
        }
        self.cache_bytes += body.len();
        if let Some(old) = self.cache.insert(number, body) {
            self.cache_bytes -= old.len();
        }
    }
}

impl Actor for StoreActor {
    type Context = Context<Self>;
}

impl Supervised for StoreActor {
    fn restarting(&mut self, _: &mut Self::Context) {
        self.cache.clear();
        self.cache_bytes = 0;
        let me = self.index.me().clone();
        self.index = RfcIndex::new(me, self.max_index_records);
        match folder::scan(&self.dir) {
            Ok(documents) => {
                for doc in &documents {
                    self.index.add_local(doc.number, &doc.title);
                }
                info!(self.log, "store restarted from the folder"; "documents" => documents.len());
            }
            Err(err) => error!(self.log, "store restart could not read the folder"; "err" => %err),
        }
    }
}

impl Handler<GetIndex> for StoreActor {
    type Result = MessageResult<GetIndex>;

    fn handle(&mut self, _: GetIndex, _: &mut Self::Context) -> Self::Result {
        crate::fault::point("store.index");
        let now = now_ms();
        self.index.expire(now);
        MessageResult(self.index.records(now))
    }
}

impl Handler<GetDocument> for StoreActor {
    type Result = ResponseActFuture<Self, Option<Bytes>>;

    fn handle(&mut self, msg: GetDocument, _: &mut Self::Context) -> Self::Result {
        let number = msg.0;
        if !self.index.has_local(number) {
            return Box::pin(actix::fut::ready(None));
        }
        if let Some(body) = self.cache.get(&number) {
            return Box::pin(actix::fut::ready(Some(body.clone())));
        }
        let path = self.dir.join(folder::file_name(number));
        Box::pin(
            async move { tokio::fs::read(&path).await.map(Bytes::from) }
                .into_actor(self)
                .map(move |read, act, _| match read {
                    Ok(body) => {
                        act.cache(number, body.clone());
                        Some(body)
                    }
                    Err(err) => {
                        error!(act.log, "document unreadable"; "rfc" => number, "err" => %err);
                        None
                    }
                }),
        )
    }
}

impl Handler<MergeIndex> for StoreActor {
    type Result = MessageResult<MergeIndex>;

    fn handle(&mut self, msg: MergeIndex, _: &mut Self::Context) -> Self::Result {
        let merged = self.index.merge(&msg.0, now_ms());
        if merged.over_cap > 0 {
            warn!(self.log, "index full; records dropped";
                "dropped" => merged.over_cap, "max_index_records" => self.max_index_records);
        }
        MessageResult(merged)
    }
}

impl Handler<Holders> for StoreActor {
    type Result = MessageResult<Holders>;

    fn handle(&mut self, msg: Holders, _: &mut Self::Context) -> Self::Result {
        MessageResult(self.index.holders(msg.0, now_ms()))
    }
}

impl Handler<HoldsLocally> for StoreActor {
    type Result = bool;

    fn handle(&mut self, msg: HoldsLocally, _: &mut Self::Context) -> bool {
        self.index.has_local(msg.0)
    }
}

impl Handler<LocalNumbers> for StoreActor {
    type Result = MessageResult<LocalNumbers>;

    fn handle(&mut self, _: LocalNumbers, _: &mut Self::Context) -> Self::Result {
        MessageResult(self.index.local_numbers())
    }
}

impl Handler<SaveDocument> for StoreActor {
    type Result = ResponseActFuture<Self, Result<(), String>>;

    fn handle(&mut self, msg: SaveDocument, _: &mut Self::Context) -> Self::Result {
        let dir = self.dir.clone();
        let SaveDocument {
            number,
            title,
            body,
        } = msg;
        let (saved_title, saved_body) = (title.clone(), body.clone());
        let saving = async move {
            tokio::task::spawn_blocking(move || folder::save(&dir, number, &title, &body))
                .await
                .map_err(|err| err.to_string())
                .and_then(|saved| saved.map_err(|err| err.to_string()))
        };
        Box::pin(saving.into_actor(self).map(move |saved, act, _| {
            if saved.is_ok() {
                act.index.add_local(number, &saved_title);
                act.cache(number, saved_body);
            }
            saved
        }))
    }
}
