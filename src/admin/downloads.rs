//! The downloads asked for through the admin endpoint, by id: each runs
//! the contract's download algorithm in the peer's downloader, and its
//! entry keeps how it ended for tools to read (`GET /downloads/ID`).

use actix::prelude::*;
use p2p_di_actors::peer::downloader::{DownloadFinished, DownloaderActor, Fetch};
use p2p_di_actors::wire::RfcNumber;
use std::collections::BTreeMap;
use std::time::{Instant, SystemTime};

/// Entries kept; past it, the oldest finished ones are forgotten.
const MAX_ENTRIES: usize = 10_000;
/// Downloads asked for and not ended, at most.
const MAX_RUNNING: usize = 1_000;

/// A download asked for.
#[derive(Debug, Clone)]
pub struct Entry {
    /// Its id.
    pub id: u64,
    /// The RFC.
    pub rfc: RfcNumber,
    /// When it was asked for.
    pub asked: SystemTime,
    /// Its clock.
    pub clock: Instant,
    /// How it ended, once it has.
    pub finished: Option<DownloadFinished>,
}

/// Start downloading `rfc`; the answer is the new entry's id, or `None`
/// when too many are running already.
#[derive(Debug, Message)]
#[rtype(result = "Option<u64>")]
pub struct StartDownload(pub RfcNumber);

/// The entries after id `after` (all when `None`), `limit` of them, and
/// whether more follow.
#[derive(Debug, Message)]
#[rtype(result = "(Vec<Entry>, bool)")]
pub struct ListDownloads {
    /// The last id of the previous page.
    pub after: Option<u64>,
    /// Most entries.
    pub limit: usize,
}

/// The entry `0`, if still kept.
#[derive(Debug, Message)]
#[rtype(result = "Option<Entry>")]
pub struct GetDownload(pub u64);

/// The book of downloads asked for through the admin endpoint.
pub struct DownloadBookActor {
    downloader: Addr<DownloaderActor>,
    entries: BTreeMap<u64, Entry>,
    next_id: u64,
    running: usize,
}

impl DownloadBookActor {
    /// A book that asks `downloader`.
    pub fn new(downloader: Addr<DownloaderActor>) -> Self {
        DownloadBookActor {
            downloader,
            entries: BTreeMap::new(),
            next_id: 1,
            running: 0,
        }
    }

    /// Forgets the oldest finished entries past [`MAX_ENTRIES`].
    fn trim(&mut self) {
        while self.entries.len() > MAX_ENTRIES {
            let oldest_finished = self
                .entries
                .iter()
                .find(|(_, e)| e.finished.is_some())
                .map(|(id, _)| *id);
            match oldest_finished {
                Some(id) => {
                    self.entries.remove(&id);
                }
                None => return,
            }
        }
    }
}

impl Actor for DownloadBookActor {
    type Context = Context<Self>;
}

impl Handler<StartDownload> for DownloadBookActor {
    type Result = Option<u64>;

    fn handle(&mut self, msg: StartDownload, ctx: &mut Self::Context) -> Option<u64> {
        if self.running >= MAX_RUNNING {
            return None;
        }
        let id = self.next_id;
        self.next_id += 1;
        self.running += 1;
        self.entries.insert(
            id,
            Entry {
                id,
                rfc: msg.0,
                asked: SystemTime::now(),
                clock: Instant::now(),
                finished: None,
            },
        );
        self.trim();
        let fetch = self.downloader.send(Fetch {
            numbers: vec![msg.0],
        });
        ctx.spawn(fetch.into_actor(self).map(move |ended, act, _| {
            act.running -= 1;
            let finished = match ended {
                Ok(mut finished) => finished.pop(),
                Err(_) => None,
            };
            if let Some(entry) = act.entries.get_mut(&id) {
                entry.finished = Some(finished.unwrap_or_else(|| DownloadFinished {
                    number: entry.rfc,
                    outcome: p2p_di_actors::peer::downloader::Outcome::Failed(
                        p2p_di_actors::peer::downloader::DownloadError::Interrupted,
                    ),
                    started: entry.asked,
                    elapsed: entry.clock.elapsed(),
                    transfer: None,
                    failed_attempts: Vec::new(),
                }));
            }
        }));
        Some(id)
    }
}

impl Handler<ListDownloads> for DownloadBookActor {
    type Result = MessageResult<ListDownloads>;

    fn handle(&mut self, msg: ListDownloads, _: &mut Self::Context) -> Self::Result {
        use std::ops::Bound;
        let from = msg.after.map_or(Bound::Unbounded, Bound::Excluded);
        let mut after = self.entries.range((from, Bound::Unbounded));
        let page: Vec<Entry> = after
            .by_ref()
            .take(msg.limit)
            .map(|(_, e)| e.clone())
            .collect();
        let more = after.next().is_some();
        MessageResult((page, more))
    }
}

impl Handler<GetDownload> for DownloadBookActor {
    type Result = Option<Entry>;

    fn handle(&mut self, msg: GetDownload, _: &mut Self::Context) -> Option<Entry> {
        self.entries.get(&msg.0).cloned()
    }
}
