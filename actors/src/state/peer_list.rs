//! The current peer list: what the RSs answered to PQUERY, merged into one
//! list (one entry per HOST and PORT, the freshest registration winning),
//! served to downloads while it is younger than a configured age, and
//! served aged when no RS answers: each entry's TTL counts down from when
//! it arrived, and an entry at 0 is left out. Pure: time passed in, in ms
//! since the epoch.

use crate::wire::PeerEntry;
use std::collections::HashMap;

/// An entry and when it arrived.
#[derive(Debug, Clone)]
struct Listed {
    entry: PeerEntry,
    received_ms: u64,
}

impl Listed {
    /// Seconds of TTL left at `now_ms`, counted down from its arrival.
    fn ttl_secs(&self, now_ms: u64) -> u64 {
        let gone_ms = now_ms.saturating_sub(self.received_ms);
        // Whole seconds, rounded up, as the RS shows them.
        let left_ms = (self.entry.ttl_secs * 1000).saturating_sub(gone_ms);
        left_ms.div_ceil(1000)
    }
}

/// The current peer list.
#[derive(Debug, Clone, Default)]
pub struct PeerList {
    /// The entries, in the order they were first listed.
    entries: Vec<Listed>,
    /// Where each (HOST, PORT) is in `entries`.
    places: HashMap<(String, u16), usize>,
    /// When an RS last answered.
    answered_ms: Option<u64>,
}

impl PeerList {
    /// No list yet.
    pub fn new() -> Self {
        PeerList::default()
    }

    /// Takes the answers of one round of PQUERYs, at `now_ms`: the lists
    /// of the RSs that answered (an RS with no active peer answers an
    /// empty one). They replace the list: a peer no RS lists is gone.
    pub fn replace<I>(&mut self, answers: I, now_ms: u64)
    where
        I: IntoIterator<Item = Vec<PeerEntry>>,
    {
        self.entries.clear();
        self.places.clear();
        for answer in answers {
            self.merge(answer, now_ms);
        }
    }

    /// Adds one RS's answer at `now_ms` (one that came after its round
    /// ended): an entry new to the list joins it; one already there is
    /// kept or replaced, the freshest winning.
    pub fn merge(&mut self, answer: Vec<PeerEntry>, now_ms: u64) {
        self.answered_ms = Some(self.answered_ms.map_or(now_ms, |at| at.max(now_ms)));
        for entry in answer {
            let listed = Listed {
                entry,
                received_ms: now_ms,
            };
            let key = (listed.entry.host.clone(), listed.entry.port);
            match self.places.get(&key) {
                Some(&at) => {
                    if fresher(&listed, &self.entries[at], now_ms) {
                        self.entries[at] = listed;
                    }
                }
                None => {
                    self.places.insert(key, self.entries.len());
                    self.entries.push(listed);
                }
            }
        }
    }

    /// How old the list is at `now_ms` (since an RS last answered), if an
    /// RS ever did.
    pub fn age_ms(&self, now_ms: u64) -> Option<u64> {
        self.answered_ms.map(|at| now_ms.saturating_sub(at))
    }

    /// Whether the list may serve a download starting at `now_ms` without
    /// asking again: an RS answered less than `max_age_ms` ago (never with
    /// an age of 0).
    pub fn fresh(&self, now_ms: u64, max_age_ms: u64) -> bool {
        self.age_ms(now_ms).is_some_and(|age| age < max_age_ms)
    }

    /// The list as of `now_ms`: each entry with the TTL it has left,
    /// counted down from its arrival; entries at 0 are left out.
    pub fn view(&self, now_ms: u64) -> Vec<PeerEntry> {
        self.entries
            .iter()
            .filter_map(|listed| {
                let ttl_secs = listed.ttl_secs(now_ms);
                (ttl_secs > 0).then(|| PeerEntry {
                    ttl_secs,
                    ..listed.entry.clone()
                })
            })
            .collect()
    }

    /// Entries kept (some may have aged to 0).
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no entry is kept.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// Whether `new` says more recent things of its peer than `old`: a later
/// registration, or the same one with more TTL left.
fn fresher(new: &Listed, old: &Listed, now_ms: u64) -> bool {
    let key = |l: &Listed| (l.entry.last_registered_unix_secs, l.ttl_secs(now_ms));
    key(new) > key(old)
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: u64 = 1_795_253_400_000;

    fn entry(host: &str, port: u16, ttl_secs: u64, registered: u64) -> PeerEntry {
        PeerEntry {
            host: host.into(),
            address: "10.0.0.1".parse().unwrap(),
            port,
            ttl_secs,
            registrations_30d: 1,
            last_registered_unix_secs: registered,
        }
    }

    fn names(list: &[PeerEntry]) -> Vec<(&str, u16, u64)> {
        list.iter()
            .map(|e| (e.host.as_str(), e.port, e.ttl_secs))
            .collect()
    }

    #[test]
    fn two_rss_lists_merge_by_host_and_port_and_the_freshest_wins() {
        let mut list = PeerList::new();
        let mut b_later = entry("b", 2, 7000, 500);
        b_later.address = "10.0.0.2".parse().unwrap();
        list.replace(
            [
                vec![entry("a", 1, 7200, 100), entry("b", 2, 7200, 400)],
                vec![
                    b_later.clone(),
                    entry("c", 3, 10, 100),
                    entry("a", 1, 7100, 100),
                ],
            ],
            T0,
        );
        assert_eq!(
            names(&list.view(T0)),
            [("a", 1, 7200), ("b", 2, 7000), ("c", 3, 10)]
        );
        // b's entry is the second RS's: it registered later there.
        assert_eq!(list.view(T0)[1].address, b_later.address);
        // A second round replaces the list: c is no longer listed.
        list.replace([vec![entry("a", 1, 7200, 100)]], T0 + 1000);
        assert_eq!(names(&list.view(T0 + 1000)), [("a", 1, 7200)]);
    }

    #[test]
    fn a_list_is_fresh_for_its_age_and_never_at_an_age_of_zero() {
        let mut list = PeerList::new();
        assert!(!list.fresh(T0, 1000));
        assert_eq!(list.age_ms(T0), None);
        list.replace([Vec::new()], T0);
        assert!(list.fresh(T0 + 999, 1000));
        assert!(!list.fresh(T0 + 1000, 1000));
        assert!(!list.fresh(T0, 0));
        assert_eq!(list.age_ms(T0 + 1500), Some(1500));
    }

    #[test]
    fn an_aged_list_counts_each_ttl_down_from_its_arrival_and_drops_it_at_zero() {
        let mut list = PeerList::new();
        list.replace([vec![entry("a", 1, 30, 100), entry("b", 2, 7200, 100)]], T0);
        list.merge(vec![entry("c", 3, 30, 100)], T0 + 10_000);
        assert_eq!(
            names(&list.view(T0 + 20_500)),
            [("a", 1, 10), ("b", 2, 7180), ("c", 3, 20)]
        );
        assert_eq!(
            names(&list.view(T0 + 30_000)),
            [("b", 2, 7170), ("c", 3, 10)]
        );
        assert_eq!(names(&list.view(T0 + 7_200_000)), []);
        assert_eq!(list.len(), 3, "kept until the next answer replaces it");
        assert_eq!(list.age_ms(T0 + 30_000), Some(20_000));
    }
}
