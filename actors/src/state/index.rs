//! A peer's RFC index, as a pure state machine with time passed in.
//!
//! Records are keyed by (number, holder host, holder port). The peer's own
//! documents are local records: TTL 7200 shown, never aging, never evicted.
//! A record learned from a remote index gets a deadline 7200 s after it
//! arrives (again each time it arrives) and is dropped when that passes.
//!
//! What a remote index may put here is bounded, since some peers are
//! hostile: a record is taken only for a holder on the current peer list
//! (an active peer) and with a title and host of sane length; at most
//! `max_records_per_holder` records per holder, per source and in all; and
//! when the index is full (in records, or in the bytes it would take to
//! send) the remote records of the holders with the most records go
//! first, so a holder that claims thousands of documents cannot push out
//! an honest holder's few. The index a peer serves never exceeds the body
//! limit its own receivers enforce.

use crate::wire::{write, IndexRecord, RfcNumber, MAX_NAME_BYTES};
use bytes::{Bytes, BytesMut};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

/// The TTL of an index record, in seconds.
pub(crate) const RECORD_TTL_SECS: u64 = 7200;
/// Longest title taken from a remote index, in bytes.
pub(crate) const MAX_TITLE_BYTES: usize = 1024;

/// The RFC server holding a document: its host name and port, as it
/// registered them with the RS. The name is shared: the index keeps one
/// copy per holder however many records name it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Holder {
    /// Host name.
    pub host: Arc<str>,
    /// Port.
    pub port: u16,
}

impl Holder {
    /// A holder.
    pub fn new(host: impl Into<Arc<str>>, port: u16) -> Self {
        Holder {
            host: host.into(),
            port,
        }
    }
}

/// The bounds of an index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IndexLimits {
    /// Most records in all (local ones always fit).
    pub max_records: usize,
    /// Most remote records per holder.
    pub max_records_per_holder: usize,
    /// Most bytes the index may take on the wire.
    pub max_bytes: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    title: Box<str>,
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
    /// Records naming a holder not on the current peer list.
    pub not_listed: usize,
    /// Records with an over-long title or host.
    pub rejected: usize,
    /// Records refused: their holder had its share, or the index was full
    /// of holders with no more records than it.
    pub over_cap: usize,
    /// Remote records evicted to make room.
    pub evicted: usize,
}

/// The RFC index.
#[derive(Debug, Clone)]
pub struct RfcIndex {
    me: Holder,
    limits: IndexLimits,
    records: BTreeMap<(RfcNumber, Holder), Entry>,
    /// The remote records of each holder.
    by_holder: HashMap<Holder, BTreeSet<RfcNumber>>,
    /// Bytes the index takes on the wire (an upper bound: TTLs as 4 digits).
    bytes: usize,
    /// No remote record expires before this (a lower bound).
    next_expiry_ms: u64,
}

/// The bytes one record takes on the wire, at most.
fn line_bytes(number: RfcNumber, title: &str, holder: &Holder) -> usize {
    let digits = |n: u64| n.checked_ilog10().map_or(1, |d| d as usize + 1);
    // NUMBER&*TITLE&*HOST&*PORT&*TTL CR LF, TTL at most 7200.
    digits(u64::from(number))
        + title.len()
        + holder.host.len()
        + digits(u64::from(holder.port))
        + 4
        + 4 * 2
        + 2
}

impl RfcIndex {
    /// An empty index of the peer `me`, within `limits`.
    pub fn new(me: Holder, limits: IndexLimits) -> Self {
        RfcIndex {
            me,
            limits,
            records: BTreeMap::new(),
            by_holder: HashMap::new(),
            bytes: 0,
            next_expiry_ms: u64::MAX,
        }
    }

    /// Its bounds.
    pub fn limits(&self) -> IndexLimits {
        self.limits
    }

    /// This peer, as holder.
    pub fn me(&self) -> &Holder {
        &self.me
    }

    /// Adds (or retitles) a document this peer holds. A local record
    /// always fits: when the index is full, a remote record of the holder
    /// with the most goes.
    pub fn add_local(&mut self, number: RfcNumber, title: &str) {
        let key = (number, self.me.clone());
        let line = line_bytes(number, title, &self.me);
        if !self.records.contains_key(&key) {
            let mut merged = Merged::default();
            self.make_room(line, 0, &mut merged);
        }
        let entry = Entry {
            title: title.into(),
            deadline_ms: None,
        };
        if let Some(old) = self.records.insert(key, entry) {
            self.bytes -= line_bytes(number, &old.title, &self.me);
        }
        self.bytes += line;
    }

    /// Withdraws a document this peer no longer holds.
    pub fn remove_local(&mut self, number: RfcNumber) {
        if let Some(old) = self.records.remove(&(number, self.me.clone())) {
            self.bytes -= line_bytes(number, &old.title, &self.me);
        }
    }

    /// Whether this peer holds `number`.
    #[cfg(test)]
    fn has_local(&self, number: RfcNumber) -> bool {
        self.records.contains_key(&(number, self.me.clone()))
    }

    /// The numbers this peer holds.
    #[cfg(test)]
    fn local_numbers(&self) -> Vec<RfcNumber> {
        self.records
            .iter()
            .filter(|(_, e)| e.deadline_ms.is_none())
            .map(|((n, _), _)| *n)
            .collect()
    }

    /// Merges a remote index received at `now_ms`: a union keyed by
    /// (number, host, port); a record received again gets its TTL back.
    /// Records naming this peer are ignored (it knows its own documents),
    /// and so are records whose holder `is_listed` says is not on the
    /// current peer list. See the module's text for the bounds.
    pub fn merge(
        &mut self,
        records: &[IndexRecord],
        is_listed: impl Fn(&Holder) -> bool,
        now_ms: u64,
    ) -> Merged {
        let deadline = now_ms.saturating_add(RECORD_TTL_SECS * 1000);
        let mut merged = Merged::default();
        // Records taken from this source, per holder.
        let mut from_source: HashMap<Holder, usize> = HashMap::new();
        // The holder of the last record: an index lists a holder's
        // records together, so its name is looked up once per run.
        let mut last: Option<Holder> = None;
        for record in records {
            let holder = match &last {
                Some(h) if h.port == record.port && *h.host == *record.host => h.clone(),
                _ => {
                    let holder = self.interned(&record.host, record.port);
                    last = Some(holder.clone());
                    holder
                }
            };
            if holder == self.me {
                merged.about_me += 1;
                continue;
            }
            if record.title.len() > MAX_TITLE_BYTES || record.host.len() > MAX_NAME_BYTES {
                merged.rejected += 1;
                continue;
            }
            if !is_listed(&holder) {
                merged.not_listed += 1;
                continue;
            }
            let taken = from_source.entry(holder.clone()).or_default();
            if *taken >= self.limits.max_records_per_holder {
                merged.over_cap += 1;
                continue;
            }
            let key = (record.number, holder);
            if let Some(entry) = self.records.get_mut(&key) {
                *taken += 1;
                let old = line_bytes(record.number, &entry.title, &key.1);
                entry.deadline_ms = Some(deadline);
                if *entry.title != *record.title {
                    entry.title = record.title.as_str().into();
                }
                self.bytes = self.bytes - old + line_bytes(record.number, &entry.title, &key.1);
                merged.refreshed += 1;
                continue;
            }
            let held = self.by_holder.get(&key.1).map_or(0, BTreeSet::len);
            if held >= self.limits.max_records_per_holder {
                merged.over_cap += 1;
                continue;
            }
            let line = line_bytes(record.number, &record.title, &key.1);
            // Only a holder with more records than this one would then
            // have gives way.
            if !self.make_room(line, held + 1, &mut merged) {
                merged.over_cap += 1;
                continue;
            }
            *taken += 1;
            self.bytes += line;
            self.next_expiry_ms = self.next_expiry_ms.min(deadline);
            self.by_holder
                .entry(key.1.clone())
                .or_default()
                .insert(record.number);
            self.records.insert(
                key,
                Entry {
                    title: record.title.as_str().into(),
                    deadline_ms: Some(deadline),
                },
            );
            merged.added += 1;
        }
        merged
    }

    /// The holder `host:port`, sharing the name the index already keeps
    /// for it, if any.
    fn interned(&self, host: &str, port: u16) -> Holder {
        let holder = Holder::new(host, port);
        match self.by_holder.get_key_value(&holder) {
            Some((kept, _)) => kept.clone(),
            None if self.me == holder => self.me.clone(),
            None => holder,
        }
    }

    /// Frees room for a record of `line` bytes by evicting remote records
    /// of holders with more than `above` records (the largest first).
    /// `false` when that is not enough.
    fn make_room(&mut self, line: usize, above: usize, merged: &mut Merged) -> bool {
        let full = |index: &RfcIndex| {
            index.records.len() >= index.limits.max_records
                || index.bytes + line > index.limits.max_bytes
        };
        while full(self) {
            let largest = self
                .by_holder
                .iter()
                .max_by_key(|(holder, numbers)| (numbers.len(), *holder))
                .map(|(holder, numbers)| (holder.clone(), numbers.len()));
            match largest {
                Some((holder, count)) if count > above => {
                    let evicted = self
                        .by_holder
                        .get(&holder)
                        .and_then(|numbers| numbers.last().copied());
                    if let Some(number) = evicted {
                        self.remove_remote(number, &holder);
                        merged.evicted += 1;
                    }
                }
                _ => return false,
            }
        }
        true
    }

    fn remove_remote(&mut self, number: RfcNumber, holder: &Holder) {
        let key = (number, holder.clone());
        if let Some(entry) = self.records.remove(&key) {
            self.bytes -= line_bytes(number, &entry.title, holder);
        }
        if let Some(numbers) = self.by_holder.get_mut(holder) {
            numbers.remove(&number);
            if numbers.is_empty() {
                self.by_holder.remove(holder);
            }
        }
    }

    /// Drops the remote records whose TTL ran out by `now_ms`; returns how many.
    pub fn expire(&mut self, now_ms: u64) -> usize {
        if now_ms < self.next_expiry_ms {
            return 0;
        }
        let expired: Vec<(RfcNumber, Holder)> = self
            .records
            .iter()
            .filter(|(_, e)| e.deadline_ms.is_some_and(|d| d <= now_ms))
            .map(|(key, _)| key.clone())
            .collect();
        for (number, holder) in &expired {
            self.remove_remote(*number, holder);
        }
        self.next_expiry_ms = self
            .records
            .values()
            .filter_map(|e| e.deadline_ms)
            .min()
            .unwrap_or(u64::MAX);
        expired.len()
    }

    /// Rebuilds the per-holder counts and the byte count from the records
    /// (after a failure that may have left them half-changed).
    pub fn repair(&mut self) {
        self.by_holder.clear();
        self.bytes = 0;
        for ((number, holder), entry) in &self.records {
            self.bytes += line_bytes(*number, &entry.title, holder);
            if entry.deadline_ms.is_some() {
                self.by_holder
                    .entry(holder.clone())
                    .or_default()
                    .insert(*number);
            }
        }
        self.next_expiry_ms = 0;
    }

    /// The record TTL shown at `now_ms`, if the record is live.
    fn ttl_secs(entry: &Entry, now_ms: u64) -> Option<u64> {
        match entry.deadline_ms {
            None => Some(RECORD_TTL_SECS),
            Some(deadline) if deadline > now_ms => Some((deadline - now_ms).div_ceil(1000)),
            Some(_) => None,
        }
    }

    /// The index as sent on the wire at `now_ms`, by RFC number.
    pub fn records(&self, now_ms: u64) -> Vec<IndexRecord> {
        self.records
            .iter()
            .filter_map(|((number, holder), entry)| {
                Some(IndexRecord {
                    number: *number,
                    title: entry.title.to_string(),
                    host: holder.host.to_string(),
                    port: holder.port,
                    ttl_secs: Self::ttl_secs(entry, now_ms)?,
                })
            })
            .collect()
    }

    /// Up to `limit` records after `after` (by RFC number, then holder) at
    /// `now_ms`, and whether more follow: a page for tools.
    pub fn page(
        &self,
        after: Option<&(RfcNumber, Holder)>,
        limit: usize,
        now_ms: u64,
    ) -> (Vec<IndexRecord>, bool) {
        use std::ops::Bound;
        let from = after.map_or(Bound::Unbounded, Bound::Excluded);
        let mut live =
            self.records
                .range((from, Bound::Unbounded))
                .filter_map(|((number, holder), entry)| {
                    Some(IndexRecord {
                        number: *number,
                        title: entry.title.to_string(),
                        host: holder.host.to_string(),
                        port: holder.port,
                        ttl_secs: Self::ttl_secs(entry, now_ms)?,
                    })
                });
        let page: Vec<IndexRecord> = live.by_ref().take(limit).collect();
        let more = live.next().is_some();
        (page, more)
    }

    /// The index encoded as a GET RFC-Index body at `now_ms`.
    pub fn encode(&self, now_ms: u64) -> Bytes {
        let mut buf = BytesMut::with_capacity(self.bytes);
        for ((number, holder), entry) in &self.records {
            if let Some(ttl) = Self::ttl_secs(entry, now_ms) {
                write::index_fields(
                    *number,
                    &entry.title,
                    &holder.host,
                    holder.port,
                    ttl,
                    &mut buf,
                );
            }
        }
        buf.freeze()
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
            .map(|((_, holder), entry)| (holder.clone(), entry.title.to_string()))
            .collect()
    }

    /// The RFCs some live remote record names that this peer does not
    /// hold, in order.
    pub fn missing(&self, now_ms: u64) -> Vec<RfcNumber> {
        let mut missing = Vec::new();
        let mut held = None;
        for ((number, holder), entry) in &self.records {
            if held == Some(*number) {
                continue;
            }
            if *holder == self.me {
                // Sorted by holder within a number: drop what came before.
                held = Some(*number);
                if missing.last() == Some(number) {
                    missing.pop();
                }
            } else if entry.deadline_ms.is_some_and(|d| d > now_ms)
                && missing.last() != Some(number)
            {
                missing.push(*number);
            }
        }
        missing
    }

    /// The distinct holders named by remote records.
    #[cfg(test)]
    fn remote_holders(&self) -> std::collections::HashSet<&Holder> {
        self.by_holder.keys().collect()
    }

    /// Number of records.
    pub fn len(&self) -> usize {
        self.records.len()
    }

    /// Whether the index is empty.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// Bytes the index takes on the wire, at most.
    #[cfg(test)]
    fn wire_bytes(&self) -> usize {
        self.bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: u64 = 1_000_000_000;

    fn limits(max_records: usize) -> IndexLimits {
        IndexLimits {
            max_records,
            max_records_per_holder: 1000,
            max_bytes: 64 << 20,
        }
    }

    fn record(number: RfcNumber, host: &str, port: u16, ttl_secs: u64) -> IndexRecord {
        IndexRecord {
            number,
            title: format!("Title {number}"),
            host: host.into(),
            port,
            ttl_secs,
        }
    }

    fn anyone(_: &Holder) -> bool {
        true
    }

    fn index() -> RfcIndex {
        let mut index = RfcIndex::new(Holder::new("me", 1), limits(100));
        index.add_local(9264, "Linkset");
        index
    }

    #[test]
    fn missing_rfcs_are_those_named_by_live_remote_records_and_not_held() {
        let mut index = index();
        index.merge(
            &[
                // held here too, from a holder sorted before and after me
                record(9264, "a", 7, 100),
                record(9264, "z", 7, 100),
                record(9265, "b", 2, 100),
                record(9265, "c", 2, 100),
                record(1, "c", 3, 100),
            ],
            anyone,
            T0,
        );
        index.merge(&[record(7, "c", 3, 100)], anyone, T0 + 60_000);
        assert_eq!(index.missing(T0), [1, 7, 9265]);
        // Learned a minute apart: the first records run out first.
        assert_eq!(index.missing(T0 + 7_230_000), [7]);
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
    fn pages_walk_the_index_by_number_then_holder_without_gaps() {
        let mut index = index();
        index.merge(
            &[
                record(9265, "b", 2, 100),
                record(9264, "a", 7, 100),
                record(1, "c", 3, 100),
                record(9265, "a", 2, 1),
            ],
            anyone,
            T0,
        );
        let key = |r: &IndexRecord| (r.number, Holder::new(r.host.clone(), r.port));
        let mut seen = Vec::new();
        let mut after = None;
        loop {
            let (page, more) = index.page(after.as_ref(), 2, T0 + 10_000);
            assert!(page.len() <= 2);
            seen.extend(page.iter().map(key));
            after = page.last().map(key);
            if !more {
                break;
            }
        }
        // Ordered, each once.
        assert_eq!(
            seen,
            vec![
                (1, Holder::new("c", 3)),
                (9264, Holder::new("a", 7)),
                (9264, Holder::new("me", 1)),
                (9265, Holder::new("a", 2)),
                (9265, Holder::new("b", 2)),
            ]
        );
        // Remote records whose TTL ran out are not shown.
        let (late, _) = index.page(None, 10, T0 + 7_201_000);
        assert_eq!(
            late.iter().map(key).collect::<Vec<_>>(),
            vec![(9264, Holder::new("me", 1))]
        );
        assert_eq!(index.page(None, 0, T0), (Vec::new(), true));
    }

    #[test]
    fn remote_records_age_from_their_arrival_and_are_dropped_at_zero() {
        let mut index = index();
        index.merge(&[record(9265, "b", 2, 17)], anyone, T0);
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
        assert_eq!(index.expire(T0 + 7_199_999), 0);
        assert_eq!(index.expire(T0 + 7_200_000), 1);
        assert_eq!(index.len(), 1);
    }

    #[test]
    fn merging_again_sets_the_ttl_back_and_keeps_one_record_per_holder() {
        let mut index = index();
        let first = index.merge(
            &[record(9265, "b", 2, 7200), record(9265, "c", 3, 7200)],
            anyone,
            T0,
        );
        assert_eq!(
            first,
            Merged {
                added: 2,
                ..Merged::default()
            }
        );
        let again = index.merge(&[record(9265, "b", 2, 100)], anyone, T0 + 3_600_000);
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
        let merged = index.merge(
            &[record(9264, "me", 1, 1), record(1, "me", 1, 1)],
            anyone,
            T0,
        );
        assert_eq!(merged.about_me, 2);
        assert_eq!(index.records(T0)[0].ttl_secs, 7200);
        assert!(!index.has_local(1));
    }

    #[test]
    fn the_index_is_capped() {
        let mut index = RfcIndex::new(Holder::new("me", 1), limits(3));
        index.add_local(1, "one");
        let records: Vec<_> = (2..10).map(|n| record(n, "b", 2, 1)).collect();
        let merged = index.merge(&records, anyone, T0);
        assert_eq!((merged.added, merged.over_cap), (2, 6));
        assert_eq!(index.len(), 3);
    }

    #[test]
    fn a_downloaded_document_becomes_local() {
        let mut index = index();
        index.merge(&[record(9265, "b", 2, 7200)], anyone, T0);
        index.add_local(9265, "Title 9265");
        assert!(index.has_local(9265));
        assert_eq!(index.local_numbers(), vec![9264, 9265]);
        assert_eq!(index.holders(9265, T0).len(), 1, "b still holds it too");
    }

    #[test]
    fn only_holders_on_the_peer_list_are_taken() {
        let mut index = index();
        let listed = |holder: &Holder| &*holder.host == "b";
        let merged = index.merge(&[record(2, "b", 2, 1), record(3, "gone", 9, 1)], listed, T0);
        assert_eq!((merged.added, merged.not_listed), (1, 1));
        assert!(index.holders(3, T0).is_empty());
    }

    #[test]
    fn over_long_titles_and_hosts_are_refused() {
        let mut index = index();
        let mut long_title = record(2, "b", 2, 1);
        long_title.title = "t".repeat(MAX_TITLE_BYTES + 1);
        let long_host = record(3, &"h".repeat(MAX_NAME_BYTES + 1), 2, 1);
        let merged = index.merge(&[long_title, long_host], anyone, T0);
        assert_eq!(merged.rejected, 2);
        assert_eq!(index.len(), 1);
    }

    #[test]
    fn one_holder_gets_at_most_its_share_per_source_and_in_all() {
        let mut index = RfcIndex::new(
            Holder::new("me", 1),
            IndexLimits {
                max_records: 100,
                max_records_per_holder: 3,
                max_bytes: 1 << 20,
            },
        );
        let flood: Vec<_> = (1..=10).map(|n| record(n, "x", 7, 1)).collect();
        let merged = index.merge(&flood, anyone, T0);
        assert_eq!((merged.added, merged.over_cap), (3, 7));
        // another source naming the same holder adds nothing more
        let merged = index.merge(&flood[5..], anyone, T0);
        assert_eq!((merged.added, merged.over_cap), (0, 5));
    }

    #[test]
    fn a_full_index_evicts_the_largest_holder_never_an_honest_one_or_a_local_one() {
        let mut index = RfcIndex::new(Holder::new("me", 1), limits(20));
        index.add_local(1, "mine");
        index.merge(&[record(500, "honest", 2, 1)], anyone, T0);
        // a hostile holder fills the index
        let flood: Vec<_> = (1000..1100).map(|n| record(n, "hostile", 3, 1)).collect();
        let merged = index.merge(&flood, anyone, T0);
        assert_eq!(index.len(), 20);
        assert_eq!(merged.added, 18);
        // an honest holder's new record pushes one of the hostile ones out
        let merged = index.merge(&[record(501, "honest2", 4, 1)], anyone, T0);
        assert_eq!((merged.added, merged.evicted), (1, 1));
        assert_eq!(index.len(), 20);
        assert!(index.has_local(1));
        // so does a document this peer downloads
        index.add_local(2, "mine too");
        assert_eq!(index.len(), 20);
        assert_eq!(index.holders(500, T0).len(), 1);
        assert_eq!(index.holders(501, T0).len(), 1);
        // the hostile holder cannot push honest ones out in turn
        let merged = index.merge(&[record(2000, "hostile", 3, 1)], anyone, T0);
        assert_eq!(merged.added, 0);
        assert_eq!(index.holders(501, T0).len(), 1);
    }

    #[test]
    fn what_the_index_sends_never_exceeds_its_byte_bound() {
        let max_bytes = 2_000;
        let mut index = RfcIndex::new(
            Holder::new("me", 1),
            IndexLimits {
                max_records: 10_000,
                max_records_per_holder: 10_000,
                max_bytes,
            },
        );
        for host in ["a", "b", "c"] {
            let records: Vec<_> = (1..500)
                .map(|n| {
                    let mut r = record(n, host, 9, 1);
                    r.title = "t".repeat(40);
                    r
                })
                .collect();
            index.merge(&records, anyone, T0);
            assert!(index.wire_bytes() <= max_bytes);
            assert!(index.encode(T0).len() <= index.wire_bytes());
        }
        assert_eq!(index.encode(T0).len(), index.wire_bytes());
    }

    #[test]
    fn repair_rebuilds_the_counts() {
        let mut index = index();
        index.merge(&[record(2, "b", 2, 1), record(3, "b", 2, 1)], anyone, T0);
        let bytes = index.wire_bytes();
        index.bytes = 0;
        index.by_holder.clear();
        index.repair();
        assert_eq!(index.wire_bytes(), bytes);
        assert_eq!(index.remote_holders().len(), 1);
    }
}
