//! The book of a peer's downloads: every download asked for gets an id,
//! and its entry says whether it waits, runs or ended, and how. The ended
//! ones are numbered in the order they ended, so a tool can follow them
//! (everything that ended since the last it saw), and the book keeps a
//! bounded history of them. Pure: the downloader actor keeps one and
//! feeds it; `T` is how a download ended.

use crate::wire::RfcNumber;
use std::collections::BTreeMap;
use std::ops::Bound;

/// A download's id: unique while the peer runs, in the order asked.
pub type DownloadId = u64;

/// Where a download is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stage<T> {
    /// Waiting for room.
    Waiting,
    /// Running.
    Running,
    /// Ended: the how-manyth to end, and how.
    Ended {
        /// Its place in the order downloads ended, from 1.
        seq: u64,
        /// How.
        how: T,
    },
}

/// A download asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry<T> {
    /// Its id.
    pub id: DownloadId,
    /// The RFC.
    pub rfc: RfcNumber,
    /// When it was asked for, in ms since the epoch.
    pub asked_ms: u64,
    /// Where it is.
    pub stage: Stage<T>,
}

/// Why a batch was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{asked} downloads asked while {queued} wait or run: the queue holds at most {bound}")]
pub struct QueueFull {
    /// Downloads asked for.
    pub asked: usize,
    /// Downloads waiting or running.
    pub queued: usize,
    /// The bound.
    pub bound: usize,
}

/// The book.
#[derive(Debug, Clone)]
pub struct Book<T> {
    entries: BTreeMap<DownloadId, Entry<T>>,
    /// Ended entries by the order they ended.
    ended: BTreeMap<u64, DownloadId>,
    next_id: DownloadId,
    last_seq: u64,
    /// Entries waiting or running.
    open: usize,
    /// Entries running.
    running: usize,
    /// Most entries waiting or running.
    queue_bound: usize,
    /// Most ended entries kept.
    history: usize,
}

impl<T: Clone> Book<T> {
    /// A book of at most `queue_bound` downloads waiting or running at
    /// once, keeping the last `history` that ended.
    pub fn new(queue_bound: usize, history: usize) -> Self {
        Book {
            entries: BTreeMap::new(),
            ended: BTreeMap::new(),
            next_id: 1,
            last_seq: 0,
            open: 0,
            running: 0,
            queue_bound: queue_bound.max(1),
            history,
        }
    }

    /// Files `rfcs` as waiting, all or none: the new entries' ids in
    /// order, or why not (the queue cannot take them all).
    pub fn ask(&mut self, rfcs: &[RfcNumber], now_ms: u64) -> Result<Vec<DownloadId>, QueueFull> {
        if self.open + rfcs.len() > self.queue_bound {
            return Err(QueueFull {
                asked: rfcs.len(),
                queued: self.open,
                bound: self.queue_bound,
            });
        }
        let ids = rfcs
            .iter()
            .map(|&rfc| {
                let id = self.next_id;
                self.next_id += 1;
                self.entries.insert(
                    id,
                    Entry {
                        id,
                        rfc,
                        asked_ms: now_ms,
                        stage: Stage::Waiting,
                    },
                );
                id
            })
            .collect();
        self.open += rfcs.len();
        Ok(ids)
    }

    /// Marks `id` running.
    pub fn start(&mut self, id: DownloadId) {
        if let Some(entry) = self.entries.get_mut(&id) {
            if matches!(entry.stage, Stage::Waiting) {
                entry.stage = Stage::Running;
                self.running += 1;
            }
        }
    }

    /// Marks `id` ended, `how`; returns its place in the order of ends
    /// (`None` if it had ended or is unknown). Forgets the oldest ended
    /// entries past the history.
    pub fn end(&mut self, id: DownloadId, how: T) -> Option<u64> {
        let entry = self.entries.get_mut(&id)?;
        match entry.stage {
            Stage::Ended { .. } => return None,
            Stage::Running => self.running -= 1,
            Stage::Waiting => {}
        }
        self.last_seq += 1;
        entry.stage = Stage::Ended {
            seq: self.last_seq,
            how,
        };
        self.open -= 1;
        self.ended.insert(self.last_seq, id);
        while self.ended.len() > self.history {
            if let Some((_, old)) = self.ended.pop_first() {
                self.entries.remove(&old);
            }
        }
        Some(self.last_seq)
    }

    /// The entry `id`, if kept.
    pub fn get(&self, id: DownloadId) -> Option<&Entry<T>> {
        self.entries.get(&id)
    }

    /// Up to `limit` entries after id `after` (from the first when
    /// `None`), and whether more follow.
    pub fn page(&self, after: Option<DownloadId>, limit: usize) -> (Vec<Entry<T>>, bool) {
        let from = after.map_or(Bound::Unbounded, Bound::Excluded);
        let mut rest = self.entries.range((from, Bound::Unbounded));
        let page = rest.by_ref().take(limit).map(|(_, e)| e.clone()).collect();
        (page, rest.next().is_some())
    }

    /// Up to `limit` entries that ended after the `since`-th end, in the
    /// order they ended.
    pub fn ended_since(&self, since: u64, limit: usize) -> Vec<Entry<T>> {
        self.ended
            .range((Bound::Excluded(since), Bound::Unbounded))
            .take(limit)
            .filter_map(|(_, id)| self.entries.get(id).cloned())
            .collect()
    }

    /// How many downloads have ended so far (the last end's number).
    pub fn ends(&self) -> u64 {
        self.last_seq
    }

    /// Downloads waiting or running.
    pub fn open(&self) -> usize {
        self.open
    }

    /// Downloads running.
    pub fn running(&self) -> usize {
        self.running
    }

    /// Downloads waiting.
    pub fn waiting(&self) -> usize {
        self.open - self.running
    }

    /// The most downloads waiting or running at once.
    pub fn queue_bound(&self) -> usize {
        self.queue_bound
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_is_filed_whole_or_refused_whole() {
        let mut book: Book<&str> = Book::new(3, 10);
        assert_eq!(book.ask(&[7, 8], 0), Ok(vec![1, 2]));
        assert_eq!(
            book.ask(&[9, 10], 0),
            Err(QueueFull {
                asked: 2,
                queued: 2,
                bound: 3
            })
        );
        assert_eq!(book.open(), 2);
        assert!(book.get(3).is_none(), "nothing of it was filed");
        assert_eq!(book.ask(&[9], 0), Ok(vec![3]));
    }

    #[test]
    fn ends_are_numbered_in_order_and_followed_from_any_point() {
        let mut book: Book<&str> = Book::new(10, 10);
        let ids = book.ask(&[1, 2, 3], 5).unwrap();
        book.start(ids[0]);
        book.start(ids[0]);
        assert_eq!(book.get(ids[0]).unwrap().stage, Stage::Running);
        assert_eq!((book.waiting(), book.running()), (2, 1));
        assert_eq!(book.end(ids[2], "held"), Some(1));
        assert_eq!((book.waiting(), book.running()), (1, 1));
        assert_eq!(book.end(ids[0], "saved"), Some(2));
        assert_eq!(book.end(ids[0], "again"), None, "an end is final");
        assert_eq!(book.ends(), 2);
        let since = |s| {
            book.ended_since(s, 10)
                .into_iter()
                .map(|e| e.rfc)
                .collect::<Vec<_>>()
        };
        assert_eq!(since(0), [3, 1]);
        assert_eq!(since(1), [1]);
        assert!(since(2).is_empty());
        assert_eq!(book.open(), 1);
        assert_eq!((book.waiting(), book.running()), (1, 0));
    }

    #[test]
    fn the_oldest_ended_entries_go_past_the_history_and_open_ones_stay() {
        let mut book: Book<()> = Book::new(100, 2);
        let ids = book.ask(&[1, 2, 3, 4], 0).unwrap();
        for id in &ids[..3] {
            book.end(*id, ());
        }
        assert!(book.get(ids[0]).is_none());
        assert!(book.get(ids[1]).is_some() && book.get(ids[3]).is_some());
        let (page, more) = book.page(None, 10);
        assert_eq!(page.iter().map(|e| e.id).collect::<Vec<_>>(), [2, 3, 4]);
        assert!(!more);
        let (page, more) = book.page(Some(2), 1);
        assert_eq!((page[0].id, more), (3, true));
    }
}
