//! How often one peer may PQUERY: `burst` queries at once, then one every
//! `interval_ms` (a generic cell rate: the classic token bucket, one
//! number per peer, kept in its entry). A query past the rate waits its
//! turn; it is never refused.

use super::Registry;
use crate::wire::Cookie;

/// A peer's PQUERY rate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pace {
    /// Milliseconds between queries at the steady rate (0: no pacing).
    pub interval_ms: u32,
    /// Queries allowed at once.
    pub burst: u32,
}

impl Pace {
    /// `per_sec` queries a second after a burst of `burst` (`per_sec` 0:
    /// no pacing).
    pub fn new(per_sec: u32, burst: u32) -> Pace {
        Pace {
            interval_ms: 1000u32.checked_div(per_sec).map_or(0, |ms| ms.max(1)),
            burst: burst.max(1),
        }
    }
}

impl Registry {
    /// Paces `cookie`'s PQUERYs: how long this one must wait before it is
    /// answered (zero when within the rate). The wait is booked: a peer
    /// that asks again meanwhile waits longer. An unknown cookie is not
    /// paced (its query is refused at once).
    pub fn pace_query(&mut self, cookie: Cookie, now_ms: u64, pace: Pace) -> u64 {
        if pace.interval_ms == 0 {
            return 0;
        }
        let Some(slot) = self.slot_of(cookie) else {
            return 0;
        };
        // Milliseconds in a u32 (49 days around), compared wrapping: a
        // booking is never more than a minute ahead, so anything further
        // ahead (or behind) is old and starts afresh.
        let now = now_ms as u32;
        let allowed = pace.interval_ms.saturating_mul(pace.burst);
        let entry = &mut self.entries[slot.index()];
        let booked = entry.query_due_ms.wrapping_sub(now);
        let due = if entry.query_due_ms == 0 || booked > allowed.saturating_add(60_000) {
            now
        } else {
            entry.query_due_ms
        };
        let next = due.wrapping_add(pace.interval_ms);
        entry.query_due_ms = next.max(1);
        // Within the burst: up to `burst` intervals booked ahead of now.
        u64::from(next.wrapping_sub(now).saturating_sub(allowed))
    }
}
