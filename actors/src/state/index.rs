//! A peer's RFC index, as a pure state machine with time passed in.
//!
//! Records are keyed by (number, holder host, holder port). The peer's own
//! documents are local records: TTL 7200 shown, never aging. A record
//! learned from a remote index gets a deadline 7200 s after it arrives
//! (again each time it arrives) and is dropped when that passes.

use crate::wire::{IndexRecord, RfcNumber};
use std::collections::BTreeMap;

/// The TTL of an index record, in seconds.
pub const RECORD_TTL_SECS: u64 = 7200;

/// The RFC server holding a document: its host name and port, as it
/// registered them with the RS.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Holder {
    /// Host name.
    pub host: String,
    /// Port.
    pub port: u16,
}

impl Holder {
    /// A holder.
    pub fn new(host: impl Into<String>, port: u16) -> Self {
        Holder {
            host: host.into(),
            port,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    title: String,
    /// `None` for a local record.
    deadline_ms: Option<u64>,
}

/// What a merge did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Merged {
    /// Records new to the index.
    pub added: usize,
    /// Records already known, their TTL set back.
    pub refreshed: usize,
    /// Records naming this peer (it knows its own documents).
    pub about_me: usize,
    /// Records dropped because the index is full.
    pub over_cap: usize,
}

/// The RFC index.
#[derive(Debug, Clone)]
pub struct RfcIndex {
    me: Holder,
    max_records: usize,
    records: BTreeMap<(RfcNumber, Holder), Entry>,
}

impl RfcIndex {
    /// An empty index of the peer `me`, holding at most `max_records`.
    pub fn new(me: Holder, max_records: usize) -> Self {
        RfcIndex {
            me,
            max_records,
            records: BTreeMap::new(),
        }
    }

    /// This peer, as holder.
    pub fn me(&self) -> &Holder {
        &self.me
    }

    /// Adds (or retitles) a document this peer holds.
    pub fn add_local(&mut self, number: RfcNumber, title: &str) {
        self.records.insert(
            (number, self.me.clone()),
            Entry {
                title: title.to_owned(),
                deadline_ms: None,
            },
        );
    }

    /// Whether this peer holds `number`.
    pub fn has_local(&self, number: RfcNumber) -> bool {
        self.records.contains_key(&(number, self.me.clone()))
    }

    /// The numbers this peer holds.
    pub fn local_numbers(&self) -> Vec<RfcNumber> {
        self.records
            .iter()
            .filter(|(_, e)| e.deadline_ms.is_none())
            .map(|((n, _), _)| *n)
            .collect()
    }

    /// Merges a remote index received at `now_ms`: a union keyed by
    /// (number, host, port); a record received again gets its TTL back.
    /// Records naming this peer are ignored (it knows its own documents).
    pub fn merge(&mut self, records: &[IndexRecord], now_ms: u64) -> Merged {
        let deadline = now_ms.saturating_add(RECORD_TTL_SECS * 1000);
        let mut merged = Merged::default();
        for record in records {
            let holder = Holder::new(record.host.clone(), record.port);
            if holder == self.me {
                merged.about_me += 1;
                continue;
            }
            let key = (record.number, holder);
            let room = self.records.len() < self.max_records;
            match self.records.get_mut(&key) {
                Some(entry) => {
                    entry.deadline_ms = Some(deadline);
                    entry.title.clone_from(&record.title);
                    merged.refreshed += 1;
                }
                None if room => {
                    self.records.insert(
                        key,
                        Entry {
                            title: record.title.clone(),
                            deadline_ms: Some(deadline),
                        },
                    );
                    merged.added += 1;
                }
                None => merged.over_cap += 1,
            }
        }
        merged
    }

    /// Drops the remote records whose TTL ran out by `now_ms`; returns how many.
    pub fn expire(&mut self, now_ms: u64) -> usize {
        let before = self.records.len();
        self.records
            .retain(|_, entry| entry.deadline_ms.is_none_or(|deadline| deadline > now_ms));
        before - self.records.len()
    }

    /// The index as sent on the wire at `now_ms`, by RFC number.
    pub fn records(&self, now_ms: u64) -> Vec<IndexRecord> {
        self.records
            .iter()
            .filter_map(|((number, holder), entry)| {
                let ttl_secs = match entry.deadline_ms {
                    None => RECORD_TTL_SECS,
                    Some(deadline) if deadline > now_ms => (deadline - now_ms).div_ceil(1000),
                    Some(_) => return None,
                };
                Some(IndexRecord {
                    number: *number,
                    title: entry.title.clone(),
                    host: holder.host.clone(),
                    port: holder.port,
                    ttl_secs,
                })
            })
            .collect()
    }

    /// The holders of `number` at `now_ms` other than this peer, with the
    /// title each gave.
    pub fn holders(&self, number: RfcNumber, now_ms: u64) -> Vec<(Holder, String)> {
        let low = (number, Holder::new(String::new(), 0));
        self.records
            .range(low..)
            .take_while(|((n, _), _)| *n == number)
            .filter(|((_, holder), entry)| {
                *holder != self.me && entry.deadline_ms.is_some_and(|d| d > now_ms)
            })
            .map(|((_, holder), entry)| (holder.clone(), entry.title.clone()))
            .collect()
    }

    /// Number of records.
    pub fn len(&self) -> usize {
        self.records.len()
    }

    /// Whether the index is empty.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: u64 = 1_000_000_000;

    fn record(number: RfcNumber, host: &str, port: u16, ttl_secs: u64) -> IndexRecord {
        IndexRecord {
            number,
            title: format!("Title {number}"),
            host: host.into(),
            port,
            ttl_secs,
        }
    }

    fn index() -> RfcIndex {
        let mut index = RfcIndex::new(Holder::new("me", 1), 100);
        index.add_local(9264, "Linkset");
        index
    }

    #[test]
    fn local_records_show_7200_and_never_age() {
        let index = index();
        let far = T0 + 365 * 24 * 3_600_000;
        assert_eq!(
            index.records(far),
            vec![IndexRecord {
                number: 9264,
                title: "Linkset".into(),
                host: "me".into(),
                port: 1,
                ttl_secs: 7200,
            }]
        );
    }

    #[test]
    fn remote_records_age_from_their_arrival_and_are_dropped_at_zero() {
        let mut index = index();
        index.merge(&[record(9265, "b", 2, 17)], T0);
        let ttl = |index: &RfcIndex, now| {
            index
                .records(now)
                .iter()
                .find(|r| r.number == 9265)
                .map(|r| r.ttl_secs)
        };
        assert_eq!(ttl(&index, T0), Some(7200));
        assert_eq!(ttl(&index, T0 + 1_500), Some(7199));
        assert_eq!(ttl(&index, T0 + 7_199_001), Some(1));
        assert_eq!(ttl(&index, T0 + 7_200_000), None);
        assert_eq!(index.expire(T0 + 7_200_000), 1);
        assert_eq!(index.len(), 1);
    }

    #[test]
    fn merging_again_sets_the_ttl_back_and_keeps_one_record_per_holder() {
        let mut index = index();
        let first = index.merge(
            &[record(9265, "b", 2, 7200), record(9265, "c", 3, 7200)],
            T0,
        );
        assert_eq!(
            first,
            Merged {
                added: 2,
                ..Merged::default()
            }
        );
        let again = index.merge(&[record(9265, "b", 2, 100)], T0 + 3_600_000);
        assert_eq!(
            again,
            Merged {
                refreshed: 1,
                ..Merged::default()
            }
        );
        let holders = index.holders(9265, T0 + 7_200_000);
        assert_eq!(
            holders,
            vec![(Holder::new("b", 2), "Title 9265".to_owned())]
        );
    }

    #[test]
    fn records_naming_this_peer_are_ignored() {
        let mut index = index();
        let merged = index.merge(&[record(9264, "me", 1, 1), record(1, "me", 1, 1)], T0);
        assert_eq!(merged.about_me, 2);
        assert_eq!(index.records(T0)[0].ttl_secs, 7200);
        assert!(!index.has_local(1));
    }

    #[test]
    fn the_index_is_capped() {
        let mut index = RfcIndex::new(Holder::new("me", 1), 3);
        index.add_local(1, "one");
        let records: Vec<_> = (2..10).map(|n| record(n, "b", 2, 1)).collect();
        let merged = index.merge(&records, T0);
        assert_eq!((merged.added, merged.over_cap), (2, 6));
        assert_eq!(index.len(), 3);
    }

    #[test]
    fn a_downloaded_document_becomes_local() {
        let mut index = index();
        index.merge(&[record(9265, "b", 2, 7200)], T0);
        index.add_local(9265, "Title 9265");
        assert!(index.has_local(9265));
        assert_eq!(index.local_numbers(), vec![9264, 9265]);
        assert_eq!(index.holders(9265, T0).len(), 1, "b still holds it too");
    }
}
