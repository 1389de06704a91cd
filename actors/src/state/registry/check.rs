//! The table's invariants, checked against its records: after a restart,
//! and by the tests after every step of any history.

use super::index::Endpoint;
use super::record::Slot;
use super::Registry;
use crate::wire::Cookie;

/// The first invariant [`Registry::check`] found broken.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Inconsistency {
    /// A record is not found by its cookie.
    #[error("cookie {0} is not indexed")]
    CookieNotIndexed(Cookie),
    /// The cookie index holds entries of no record.
    #[error("the cookie index holds {indexed} entries for {records} records")]
    CookieIndexSize {
        /// Entries.
        indexed: usize,
        /// Records.
        records: usize,
    },
    /// An entry and its line do not point at each other.
    #[error("the line of cookie {0} does not point back at its slot")]
    LineOutOfStep(Cookie),
    /// An active record is not the one at its address and port.
    #[error("active cookie {0} is not the record at its address and port")]
    EndpointNotIndexed(Cookie),
    /// The endpoint index holds entries of no active record.
    #[error("the endpoint index holds {indexed} entries for {active} active records")]
    EndpointIndexSize {
        /// Entries.
        indexed: usize,
        /// Active records.
        active: usize,
    },
    /// The addresses' counts do not add up to the active records.
    #[error("the addresses count {counted} active records, the table has {active}")]
    AddressCounts {
        /// Counted.
        counted: u64,
        /// Active records.
        active: usize,
    },
    /// An inactive record is not in the eviction order.
    #[error("inactive cookie {0} is not filed for eviction")]
    NotEvictable(Cookie),
    /// The eviction order holds other entries.
    #[error("the eviction order holds {filed} entries for {inactive} inactive records")]
    EvictionSize {
        /// Entries.
        filed: usize,
        /// Inactive records.
        inactive: usize,
    },
    /// An active record has no wheel entry.
    #[error("active cookie {0} has no deadline in the wheel")]
    NotFiled(Cookie),
    /// The wheel's entries and the records' flags disagree.
    #[error("{flagged} records are flagged as filed, the wheel holds {entries}")]
    WheelSize {
        /// Records flagged.
        flagged: usize,
        /// Entries.
        entries: usize,
    },
    /// The free slots do not add up.
    #[error("{slots} slots: {records} records, {free} free, {unfreed} waiting")]
    Slots {
        /// Slots.
        slots: usize,
        /// Records.
        records: usize,
        /// Free slots.
        free: usize,
        /// Dropped records' slots waiting for their wheel entry.
        unfreed: usize,
    },
}

impl Registry {
    /// Checks the table's indexes against its records; names the first
    /// inconsistency.
    pub fn check(&self) -> Result<(), Inconsistency> {
        let mut used = 0;
        for (index, entry) in self.entries.iter().enumerate() {
            if !entry.flags.used() {
                continue;
            }
            used += 1;
            let slot = Slot(index as u32);
            let cookie = entry.cookie;
            if self.slot_of(cookie) != Some(slot) {
                return Err(Inconsistency::CookieNotIndexed(cookie));
            }
            let line = self.lines.get(entry.line as usize);
            if line.map(|l| l.slot) != Some(slot) {
                return Err(Inconsistency::LineOutOfStep(cookie));
            }
            let line = self.line(slot);
            if self.on_active_side(slot) {
                let endpoint = Endpoint {
                    address: line.address_key(),
                    port: line.port,
                };
                if self.at_endpoint(endpoint) != Some(slot) {
                    return Err(Inconsistency::EndpointNotIndexed(cookie));
                }
                if !entry.flags.filed() {
                    return Err(Inconsistency::NotFiled(cookie));
                }
            } else if !self.inactive.contains(&(line.last_registered_s, slot)) {
                return Err(Inconsistency::NotEvictable(cookie));
            }
        }
        let records = self.lines.len();
        if self.by_cookie.len() != records || used != records {
            return Err(Inconsistency::CookieIndexSize {
                indexed: self.by_cookie.len(),
                records,
            });
        }
        if self.by_endpoint.len() != self.active {
            return Err(Inconsistency::EndpointIndexSize {
                indexed: self.by_endpoint.len(),
                active: self.active,
            });
        }
        let counted = self.per_address.total();
        if counted != self.active as u64 {
            return Err(Inconsistency::AddressCounts {
                counted,
                active: self.active,
            });
        }
        if self.inactive.len() != records - self.active {
            return Err(Inconsistency::EvictionSize {
                filed: self.inactive.len(),
                inactive: records - self.active,
            });
        }
        let flagged = self.entries.iter().filter(|e| e.flags.filed()).count();
        if flagged != self.wheel.len() || self.wheel.iter().count() != self.wheel.len() {
            return Err(Inconsistency::WheelSize {
                flagged,
                entries: self.wheel.len(),
            });
        }
        if self.entries.len() != records + self.free.len() + self.unfreed {
            return Err(Inconsistency::Slots {
                slots: self.entries.len(),
                records,
                free: self.free.len(),
                unfreed: self.unfreed,
            });
        }
        Ok(())
    }
}
