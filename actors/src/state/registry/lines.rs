//! A PQUERY answered: the asker's TTL set back, and the peer list written
//! from the active lines, all of them or a sample of windows (see
//! `sample.rs`), each line straight from its record's line.

use super::record::Line;
use super::{sample, Queried, Registry, RegistryError};
use crate::wire::{write, Cookie};
use bytes::Bytes;
use std::net::{IpAddr, Ipv4Addr};

impl Registry {
    /// Handles PQUERY: sets the asker's TTL back (applied now) and writes
    /// the peer list: every other active peer, or, when there are more
    /// than `max_peers`, a sample of `max_peers` in which every other
    /// active peer is equally likely, drawn with `rng`.
    pub fn query(
        &mut self,
        cookie: Cookie,
        now_ms: u64,
        max_peers: usize,
        rng: &mut impl rand::Rng,
    ) -> Result<Queried, RegistryError> {
        let touched = self.keep_alive(cookie, now_ms)?;
        let me = self
            .slot_of(cookie)
            .map(|slot| self.entry(slot).line as usize)
            .ok_or(RegistryError::Forbidden)?;
        // The others' positions, the asker's left out: position `v` is the
        // line at `v`, or at `v + 1` from the asker's on.
        let others = self.active - 1;
        let mut body = Vec::with_capacity(others.min(max_peers) * 72);
        let mut lines = write::PeerLines::new(&mut body);
        for range in sample::windows(others, max_peers, rng) {
            let (start, end) = (range.start, range.end);
            // At most two runs of lines: before the asker's, and after it.
            let before = start..end.min(me);
            let after = start.max(me) + 1..end.max(me) + 1;
            for at in before.chain(after) {
                self.write_line(&self.lines[at], now_ms, &mut lines);
            }
        }
        let list = (!body.is_empty()).then(|| Bytes::from(body));
        Ok(Queried { touched, list })
    }

    /// Writes the peer-list line of `line` (nothing if its TTL has run
    /// out and the sweep has not moved it yet).
    fn write_line(&self, line: &Line, now_ms: u64, lines: &mut write::PeerLines<'_>) {
        if !line.alive(now_ms) {
            return;
        }
        let address = if line.flags.v6() {
            IpAddr::V6(*self.v6.get(line.address.into()))
        } else {
            IpAddr::V4(Ipv4Addr::from(line.address))
        };
        let now_s = (now_ms / 1000) as u32;
        let registrations = if line.flags.spilled() {
            self.times(line.slot).within_30_days(now_s)
        } else {
            let since = now_s.saturating_sub(super::record::THIRTY_DAYS_S);
            u32::from(line.last_registered_s > since)
                + u32::from(line.previous_s > since && line.previous_s != 0)
        };
        // Names are kept sanitized (see `apply_registered`).
        lines.line(
            line.host.as_bytes(&self.names),
            address,
            line.port,
            line.ttl_secs(now_ms),
            registrations,
            u64::from(line.last_registered_s),
        );
    }
}
