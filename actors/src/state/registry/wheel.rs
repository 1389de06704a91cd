//! Deadlines by second, and the expiry sweep. A record has at most one
//! entry in the wheel (its `filed` flag): a TTL reset leaves the entry
//! where it is, and the sweep files the record again at its later
//! deadline, so the wheel holds one entry per active peer however often
//! they reset.

use super::record::Slot;
use super::{Expiry, Registry};
use std::collections::BTreeMap;

/// Slots by the second of their deadline.
#[derive(Debug, Clone, Default)]
pub(super) struct Wheel {
    seconds: BTreeMap<u64, Vec<Slot>>,
    entries: usize,
}

impl Wheel {
    fn push(&mut self, second: u64, slot: Slot) {
        self.seconds.entry(second).or_default().push(slot);
        self.entries += 1;
    }

    pub(super) fn len(&self) -> usize {
        self.entries
    }

    /// Every (second, slot) entry (for the checks).
    pub(super) fn iter(&self) -> impl Iterator<Item = (u64, Slot)> + '_ {
        self.seconds
            .iter()
            .flat_map(|(second, slots)| slots.iter().map(move |slot| (*second, *slot)))
    }
}

impl Registry {
    /// Puts `slot` in the wheel at its deadline, unless it is there
    /// already (at an earlier second: the sweep files it again then).
    pub(super) fn file(&mut self, slot: Slot) {
        if self.entry(slot).flags.filed() {
            return;
        }
        let second = self.line(slot).deadline_ms / 1000;
        self.entries[slot.index()].flags.set_filed(true);
        self.wheel.push(second, slot);
    }

    /// Takes off the active side at most `max` peers whose TTL ran out by
    /// `now_ms` (a bounded slice, so a burst never holds the caller long).
    pub fn expire_due(&mut self, now_ms: u64, max: usize) -> Expiry {
        let mut expired = 0;
        let mut visited = 0;
        while let Some((&second, _)) = self.wheel.seconds.first_key_value() {
            // A second is swept once it is wholly past.
            if (second + 1) * 1000 > now_ms {
                return Expiry {
                    expired,
                    next_ms: Some((second + 1) * 1000),
                };
            }
            let Some((second, mut slots)) = self.wheel.seconds.pop_first() else {
                break;
            };
            while let Some(slot) = slots.pop() {
                visited += 1;
                self.wheel.entries -= 1;
                self.entries[slot.index()].flags.set_filed(false);
                if !self.entry(slot).flags.used() {
                    // A dropped record's slot, free once its entry is gone.
                    self.free.push(slot);
                    self.unfreed -= 1;
                } else if self.on_active_side(slot) {
                    if self.line(slot).deadline_ms <= now_ms {
                        self.deactivate(slot);
                        expired += 1;
                    } else {
                        // Reset since it was filed: file it at its deadline.
                        self.file(slot);
                    }
                }
                if visited >= max {
                    if !slots.is_empty() {
                        // (Still counted: only taken entries were.)
                        self.wheel.seconds.insert(second, slots);
                    }
                    return Expiry {
                        expired,
                        next_ms: Some(now_ms),
                    };
                }
            }
        }
        Expiry {
            expired,
            next_ms: None,
        }
    }

    /// Files every active record of a restored table (recovery).
    pub(super) fn file_all_active(&mut self) {
        for at in 0..self.active {
            let slot = self.lines[at].slot;
            self.file(slot);
        }
    }
}
