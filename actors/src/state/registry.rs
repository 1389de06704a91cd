//! The registration server's peer table, as a pure state machine.
//!
//! Every change is an [`Event`]: the operations ([`Registry::register`],
//! [`Registry::keep_alive`], ...) decide, build the event and apply it, and
//! the same [`Registry::apply`] replays a journal after a restart. Time is
//! always passed in (`now_ms`, milliseconds since the Unix epoch), so TTLs
//! and the 30-day window are tested with fake clocks.
//!
//! A peer is active while its flag is set and its deadline is ahead of
//! `now`: a peer whose TTL ran out is inactive at once, whether or not
//! [`Registry::expire_due`] has cleared its flag yet.

use crate::wire::{Cookie, PeerEntry};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeSet, HashMap, VecDeque};
use std::net::IpAddr;

/// The window of the registration count.
pub const THIRTY_DAYS_MS: u64 = 30 * 24 * 3600 * 1000;

/// Everything the RS keeps about one peer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerRecord {
    /// The peer's credential.
    pub cookie: Cookie,
    /// Host name it registered with.
    pub host: String,
    /// Operating system it registered with.
    pub os: String,
    /// Its RFC server's port (valid while active).
    pub port: u16,
    /// The address its latest registration came from.
    pub address: IpAddr,
    /// Whether it is active (see also `deadline_ms`).
    pub active: bool,
    /// When its TTL reaches 0, in ms since the epoch.
    pub deadline_ms: u64,
    /// Its registrations of the last 30 days: (second, how many in it).
    pub registrations: VecDeque<(u64, u32)>,
    /// Time of its latest registration, in ms since the epoch.
    pub last_registered_ms: u64,
}

impl PeerRecord {
    /// Whether the peer is active at `now_ms`.
    pub fn is_active(&self, now_ms: u64) -> bool {
        self.active && self.deadline_ms > now_ms
    }

    /// Registrations in the 30 days before `now_ms`.
    pub fn registrations_30d(&self, now_ms: u64) -> u32 {
        let since = now_ms.saturating_sub(THIRTY_DAYS_MS) / 1000;
        self.registrations
            .iter()
            .rev()
            .take_while(|(second, _)| *second > since)
            .map(|(_, count)| *count)
            .fold(0u32, u32::saturating_add)
    }

    /// Seconds left before the TTL reaches 0, rounded up.
    pub fn ttl_secs(&self, now_ms: u64) -> u64 {
        self.deadline_ms.saturating_sub(now_ms).div_ceil(1000)
    }

    fn count_registration(&mut self, at_ms: u64) {
        let second = at_ms / 1000;
        match self.registrations.back_mut() {
            Some((last, count)) if *last == second => *count = count.saturating_add(1),
            _ => self.registrations.push_back((second, 1)),
        }
        let since = at_ms.saturating_sub(THIRTY_DAYS_MS) / 1000;
        while self
            .registrations
            .front()
            .is_some_and(|(second, _)| *second <= since)
        {
            self.registrations.pop_front();
        }
    }
}

/// A change to the peer table: what the journal stores.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Event {
    /// A REGISTER was accepted: the record is created or reactivated.
    Registered {
        /// The record's cookie (new or kept).
        cookie: Cookie,
        /// Host name.
        host: String,
        /// Operating system.
        os: String,
        /// RFC server port.
        port: u16,
        /// Address the registration came from.
        address: IpAddr,
        /// When, in ms since the epoch.
        at_ms: u64,
    },
    /// A KEEPALIVE or PQUERY from an active peer set its TTL back.
    Touched {
        /// The peer.
        cookie: Cookie,
        /// When.
        at_ms: u64,
    },
    /// A LEAVE marked an active peer inactive.
    Left {
        /// The peer.
        cookie: Cookie,
    },
    /// The record was dropped to stay under the cap.
    Evicted {
        /// The peer.
        cookie: Cookie,
    },
    /// A whole record, as a snapshot stores it.
    Restored(PeerRecord),
}

impl Event {
    /// Whether the RS must have this event on disk before it replies.
    /// A TTL reset is not: losing one in a crash only shortens a TTL.
    pub fn must_be_durable(&self) -> bool {
        !matches!(self, Event::Touched { .. })
    }
}

/// Why the registry refused an operation; each maps to a wire status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RegistryError {
    /// The cookie is unknown, or the peer is inactive (403).
    #[error("unknown cookie or inactive peer")]
    Forbidden,
    /// The table is full and holds no inactive record to drop (503).
    #[error("peer table full")]
    Full,
    /// PQUERY found no other active peer (404 No Active Peers).
    #[error("no active peers")]
    NoActivePeers,
}

/// Who asks to register: the fields of a REGISTER and where it came from.
#[derive(Debug, Clone, Copy)]
pub struct Registrant<'a> {
    /// Host name.
    pub host: &'a str,
    /// Operating system.
    pub os: &'a str,
    /// RFC server port.
    pub port: u16,
    /// Cookie of an earlier registration, if any.
    pub cookie: Option<Cookie>,
    /// Address the request came from.
    pub address: IpAddr,
}

impl<'a> Registrant<'a> {
    /// A registrant from `address` with host `host`, OS `os`, RFC port `port`.
    pub fn new(
        host: &'a str,
        os: &'a str,
        port: u16,
        cookie: Option<Cookie>,
        address: IpAddr,
    ) -> Self {
        Registrant {
            host,
            os,
            port,
            cookie,
            address,
        }
    }
}

/// The outcome of a REGISTER.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registration {
    /// The cookie to send back.
    pub cookie: Cookie,
    /// Whether the cookie is new.
    pub new: bool,
    /// A record that had the same address and port and was made inactive.
    pub replaced: Option<Cookie>,
    /// The events to journal, in order.
    pub events: Vec<Event>,
}

/// The peer table.
#[derive(Debug, Clone)]
pub struct Registry {
    ttl_ms: u64,
    max_peers: usize,
    records: HashMap<Cookie, PeerRecord>,
    /// (deadline, cookie) of every record whose active flag is set.
    deadlines: BTreeSet<(u64, Cookie)>,
    /// The active record of each (address, port).
    endpoints: HashMap<(IpAddr, u16), Cookie>,
    /// (last registration, cookie) of every record whose flag is clear:
    /// the eviction order.
    inactive: BTreeSet<(u64, Cookie)>,
}

impl Registry {
    /// An empty table with TTL `ttl_secs` and room for `max_peers` records.
    pub fn new(ttl_secs: u64, max_peers: usize) -> Self {
        Registry {
            ttl_ms: ttl_secs.saturating_mul(1000),
            max_peers: max_peers.max(1),
            records: HashMap::new(),
            deadlines: BTreeSet::new(),
            endpoints: HashMap::new(),
            inactive: BTreeSet::new(),
        }
    }

    /// Number of records, active or not.
    pub fn len(&self) -> usize {
        self.records.len()
    }

    /// Whether the table is empty.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// The record of `cookie`.
    pub fn get(&self, cookie: Cookie) -> Option<&PeerRecord> {
        self.records.get(&cookie)
    }

    /// Every record, in no particular order.
    pub fn records(&self) -> impl Iterator<Item = &PeerRecord> {
        self.records.values()
    }

    /// Handles REGISTER. `fresh_cookie` draws a candidate for a new cookie;
    /// it is called again until it gives one not in the table.
    pub fn register(
        &mut self,
        registrant: Registrant<'_>,
        now_ms: u64,
        mut fresh_cookie: impl FnMut() -> Cookie,
    ) -> Result<Registration, RegistryError> {
        let Registrant {
            host,
            os,
            port,
            cookie,
            address,
        } = registrant;
        let mut events = Vec::with_capacity(2);
        let known = cookie.filter(|cookie| self.records.contains_key(cookie));
        let cookie = match known {
            Some(cookie) => cookie,
            None => {
                if self.records.len() >= self.max_peers {
                    let (_, oldest) = *self.inactive.first().ok_or(RegistryError::Full)?;
                    events.push(Event::Evicted { cookie: oldest });
                }
                loop {
                    let candidate = fresh_cookie();
                    if !self.records.contains_key(&candidate) {
                        break candidate;
                    }
                }
            }
        };
        let replaced = self
            .endpoints
            .get(&(address, port))
            .copied()
            .filter(|other| *other != cookie);
        events.push(Event::Registered {
            cookie,
            host: host.to_owned(),
            os: os.to_owned(),
            port,
            address,
            at_ms: now_ms,
        });
        for event in &events {
            self.apply(event);
        }
        Ok(Registration {
            cookie,
            new: known.is_none(),
            replaced,
            events,
        })
    }

    /// Handles KEEPALIVE: an active peer's TTL is set back.
    pub fn keep_alive(&mut self, cookie: Cookie, now_ms: u64) -> Result<Event, RegistryError> {
        self.touch(cookie, now_ms)
    }

    fn touch(&mut self, cookie: Cookie, now_ms: u64) -> Result<Event, RegistryError> {
        match self.records.get(&cookie) {
            Some(record) if record.is_active(now_ms) => {
                let event = Event::Touched {
                    cookie,
                    at_ms: now_ms,
                };
                self.apply(&event);
                Ok(event)
            }
            _ => Err(RegistryError::Forbidden),
        }
    }

    /// Handles LEAVE: an active peer turns inactive; an inactive one stays
    /// so and nothing changes (`Ok(None)`).
    pub fn leave(&mut self, cookie: Cookie, now_ms: u64) -> Result<Option<Event>, RegistryError> {
        let record = self.records.get(&cookie).ok_or(RegistryError::Forbidden)?;
        if !record.is_active(now_ms) {
            return Ok(None);
        }
        let event = Event::Left { cookie };
        self.apply(&event);
        Ok(Some(event))
    }

    /// Handles PQUERY: sets the asker's TTL back and lists every other
    /// active peer. Returns the event with the list (or the 404) so the
    /// TTL reset is journaled either way.
    pub fn query(
        &mut self,
        cookie: Cookie,
        now_ms: u64,
    ) -> Result<(Event, Result<Vec<PeerEntry>, RegistryError>), RegistryError> {
        let event = self.touch(cookie, now_ms)?;
        let peers: Vec<PeerEntry> = self
            .deadlines
            .range((now_ms.saturating_add(1), 0)..)
            .filter(|(_, other)| *other != cookie)
            .filter_map(|(_, other)| self.records.get(other))
            .map(|record| PeerEntry {
                host: record.host.clone(),
                address: record.address,
                port: record.port,
                ttl_secs: record.ttl_secs(now_ms),
                registrations_30d: record.registrations_30d(now_ms),
                last_registered_unix_secs: record.last_registered_ms / 1000,
            })
            .collect();
        if peers.is_empty() {
            Ok((event, Err(RegistryError::NoActivePeers)))
        } else {
            Ok((event, Ok(peers)))
        }
    }

    /// Clears the active flag of every peer whose TTL ran out by `now_ms`.
    /// Returns those peers and the next deadline, if any.
    pub fn expire_due(&mut self, now_ms: u64) -> (Vec<Cookie>, Option<u64>) {
        let mut expired = Vec::new();
        while let Some(&(deadline, cookie)) = self.deadlines.first() {
            if deadline > now_ms {
                return (expired, Some(deadline));
            }
            self.deactivate(cookie);
            expired.push(cookie);
        }
        (expired, None)
    }

    /// Applies one event. Replaying a journal's events in order rebuilds
    /// the table exactly; an event about an unknown cookie changes nothing.
    pub fn apply(&mut self, event: &Event) {
        match event {
            Event::Registered {
                cookie,
                host,
                os,
                port,
                address,
                at_ms,
            } => {
                if let Some(other) = self.endpoints.get(&(*address, *port)).copied() {
                    if other != *cookie {
                        self.deactivate(other);
                    }
                }
                self.deactivate(*cookie);
                let record = self.records.entry(*cookie).or_insert_with(|| PeerRecord {
                    cookie: *cookie,
                    host: String::new(),
                    os: String::new(),
                    port: *port,
                    address: *address,
                    active: false,
                    deadline_ms: 0,
                    registrations: VecDeque::new(),
                    last_registered_ms: 0,
                });
                self.inactive.remove(&(record.last_registered_ms, *cookie));
                record.host.clone_from(host);
                record.os.clone_from(os);
                record.port = *port;
                record.address = *address;
                record.active = true;
                record.deadline_ms = at_ms.saturating_add(self.ttl_ms);
                record.last_registered_ms = *at_ms;
                record.count_registration(*at_ms);
                self.deadlines.insert((record.deadline_ms, *cookie));
                self.endpoints.insert((*address, *port), *cookie);
            }
            Event::Touched { cookie, at_ms } => {
                if let Some(record) = self.records.get_mut(cookie) {
                    if record.active {
                        self.deadlines.remove(&(record.deadline_ms, *cookie));
                        record.deadline_ms = at_ms.saturating_add(self.ttl_ms);
                        self.deadlines.insert((record.deadline_ms, *cookie));
                    }
                }
            }
            Event::Left { cookie } => self.deactivate(*cookie),
            Event::Evicted { cookie } => {
                self.deactivate(*cookie);
                if let Some(record) = self.records.remove(cookie) {
                    self.inactive.remove(&(record.last_registered_ms, *cookie));
                }
            }
            Event::Restored(record) => {
                let cookie = record.cookie;
                self.apply(&Event::Evicted { cookie });
                if record.active {
                    self.deadlines.insert((record.deadline_ms, cookie));
                    self.endpoints.insert((record.address, record.port), cookie);
                } else {
                    self.inactive.insert((record.last_registered_ms, cookie));
                }
                self.records.insert(cookie, record.clone());
            }
        }
    }

    fn deactivate(&mut self, cookie: Cookie) {
        let Some(record) = self.records.get_mut(&cookie) else {
            return;
        };
        if !record.active {
            return;
        }
        record.active = false;
        self.deadlines.remove(&(record.deadline_ms, cookie));
        if self.endpoints.get(&(record.address, record.port)) == Some(&cookie) {
            self.endpoints.remove(&(record.address, record.port));
        }
        self.inactive.insert((record.last_registered_ms, cookie));
    }

    /// Checks the table's indexes against its records; `Err` names the
    /// first inconsistency. Used after a restart and by the tests.
    pub fn check(&self) -> Result<(), String> {
        let active = self.records.values().filter(|r| r.active).count();
        if active != self.deadlines.len() {
            return Err(format!(
                "{active} active records, {} deadlines",
                self.deadlines.len()
            ));
        }
        if self.records.len() - active != self.inactive.len() {
            return Err("inactive index out of step".into());
        }
        for (deadline, cookie) in &self.deadlines {
            match self.records.get(cookie) {
                Some(record) if record.active && record.deadline_ms == *deadline => {}
                _ => return Err(format!("deadline of {cookie} out of step")),
            }
        }
        for ((address, port), cookie) in &self.endpoints {
            match self.records.get(cookie) {
                Some(r) if r.active && r.address == *address && r.port == *port => {}
                _ => return Err(format!("endpoint of {cookie} out of step")),
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    const LOCAL: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
    const T0: u64 = 1_795_253_400_000; // 2026-11-21T09:30:00Z

    fn cookies() -> impl FnMut() -> Cookie {
        let mut next = 1000;
        move || {
            next += 1;
            next
        }
    }

    fn register(reg: &mut Registry, port: u16, cookie: Option<Cookie>, now: u64) -> Registration {
        reg.register(
            Registrant::new("h", "Linux", port, cookie, LOCAL),
            now,
            cookies(),
        )
        .unwrap()
    }

    #[test]
    fn a_registered_peer_shows_the_full_ttl_and_one_registration() {
        let mut reg = Registry::new(7200, 100);
        let a = register(&mut reg, 1, None, T0).cookie;
        let b = register(&mut reg, 2, None, T0).cookie;
        assert_ne!(a, b);
        let (_, peers) = reg.query(a, T0).unwrap();
        let peers = peers.unwrap();
        assert_eq!(peers.len(), 1);
        assert_eq!(peers[0].port, 2);
        assert_eq!(peers[0].ttl_secs, 7200);
        assert_eq!(peers[0].registrations_30d, 1);
        assert_eq!(peers[0].last_registered_unix_secs, T0 / 1000);
    }

    #[test]
    fn ttl_counts_down_and_rounds_up() {
        let mut reg = Registry::new(10, 100);
        let a = register(&mut reg, 1, None, T0).cookie;
        register(&mut reg, 2, None, T0);
        let ttl = |reg: &mut Registry, now| reg.query(a, now).unwrap().1.unwrap()[0].ttl_secs;
        assert_eq!(ttl(&mut reg, T0 + 1), 10);
        assert_eq!(ttl(&mut reg, T0 + 4_500), 6);
        assert_eq!(ttl(&mut reg, T0 + 9_999), 1);
    }

    #[test]
    fn expired_peer_is_not_listed_and_is_refused() {
        let mut reg = Registry::new(10, 100);
        let a = register(&mut reg, 1, None, T0).cookie;
        let b = register(&mut reg, 2, None, T0 + 5_000).cookie;
        // a expires at T0+10s even before the sweeper runs
        assert_eq!(
            reg.keep_alive(a, T0 + 10_000),
            Err(RegistryError::Forbidden)
        );
        let (_, peers) = reg.query(b, T0 + 10_000).unwrap();
        assert_eq!(peers, Err(RegistryError::NoActivePeers));
        let (expired, next) = reg.expire_due(T0 + 10_000);
        assert_eq!(expired, vec![a]);
        assert_eq!(next, Some(T0 + 20_000)); // b was touched by its PQUERY
        reg.check().unwrap();
    }

    #[test]
    fn keepalive_and_pquery_set_the_ttl_back() {
        let mut reg = Registry::new(10, 100);
        let a = register(&mut reg, 1, None, T0).cookie;
        let b = register(&mut reg, 2, None, T0).cookie;
        reg.keep_alive(a, T0 + 9_000).unwrap();
        reg.query(b, T0 + 9_000).unwrap().1.unwrap();
        assert_eq!(reg.expire_due(T0 + 18_999).0, Vec::<Cookie>::new());
        assert_eq!(reg.expire_due(T0 + 19_000).0.len(), 2);
    }

    #[test]
    fn leave_makes_a_peer_inactive_and_only_register_reactivates() {
        let mut reg = Registry::new(7200, 100);
        let a = register(&mut reg, 1, None, T0).cookie;
        let b = register(&mut reg, 2, None, T0).cookie;
        assert!(reg.leave(b, T0 + 1).unwrap().is_some());
        assert_eq!(reg.leave(b, T0 + 2), Ok(None));
        assert_eq!(reg.keep_alive(b, T0 + 3), Err(RegistryError::Forbidden));
        assert_eq!(reg.query(b, T0 + 3).unwrap_err(), RegistryError::Forbidden);
        assert_eq!(
            reg.query(a, T0 + 3).unwrap().1,
            Err(RegistryError::NoActivePeers)
        );
        let again = register(&mut reg, 2, Some(b), T0 + 4);
        assert_eq!((again.cookie, again.new), (b, false));
        let peers = reg.query(a, T0 + 5).unwrap().1.unwrap();
        assert_eq!(peers[0].registrations_30d, 2);
        reg.check().unwrap();
    }

    #[test]
    fn unknown_cookies_are_forbidden_and_change_nothing() {
        let mut reg = Registry::new(7200, 100);
        register(&mut reg, 1, None, T0);
        let before = reg.records().cloned().collect::<Vec<_>>();
        assert_eq!(reg.keep_alive(42, T0), Err(RegistryError::Forbidden));
        assert_eq!(reg.leave(42, T0), Err(RegistryError::Forbidden));
        assert_eq!(reg.query(42, T0).unwrap_err(), RegistryError::Forbidden);
        assert_eq!(reg.records().cloned().collect::<Vec<_>>(), before);
    }

    #[test]
    fn register_with_an_unknown_cookie_issues_a_new_one() {
        let mut reg = Registry::new(7200, 100);
        let r = register(&mut reg, 1, Some(777), T0);
        assert!(r.new);
        assert_ne!(r.cookie, 777);
    }

    #[test]
    fn a_new_registration_on_the_same_port_replaces_the_old_record() {
        let mut reg = Registry::new(7200, 100);
        let old = register(&mut reg, 1, None, T0).cookie;
        let other = register(&mut reg, 2, None, T0).cookie;
        let new = register(&mut reg, 1, None, T0 + 1);
        assert_eq!(new.replaced, Some(old));
        let peers = reg.query(other, T0 + 2).unwrap().1.unwrap();
        assert_eq!(peers.len(), 1);
        assert!(!reg.get(old).unwrap().active);
        reg.check().unwrap();
    }

    #[test]
    fn registrations_older_than_thirty_days_are_not_counted() {
        let mut reg = Registry::new(7200, 100);
        let a = register(&mut reg, 1, None, T0).cookie;
        register(&mut reg, 1, Some(a), T0 + 1000);
        register(&mut reg, 1, Some(a), T0 + 1500);
        let record = reg.get(a).unwrap();
        assert_eq!(record.registrations_30d(T0 + 2000), 3);
        assert_eq!(record.registrations_30d(T0 + THIRTY_DAYS_MS), 2);
        assert_eq!(record.registrations_30d(T0 + THIRTY_DAYS_MS + 1000), 0);
    }

    #[test]
    fn a_full_table_drops_the_oldest_inactive_record_or_refuses() {
        let mut reg = Registry::new(7200, 2);
        let a = register(&mut reg, 1, None, T0).cookie;
        let b = register(&mut reg, 2, None, T0 + 1).cookie;
        assert_eq!(
            reg.register(Registrant::new("h", "L", 3, None, LOCAL), T0 + 2, cookies()),
            Err(RegistryError::Full)
        );
        reg.leave(b, T0 + 3).unwrap();
        reg.leave(a, T0 + 4).unwrap();
        let c = register(&mut reg, 3, None, T0 + 5);
        assert_eq!(c.events[0], Event::Evicted { cookie: a });
        assert_eq!(reg.len(), 2);
        assert!(reg.get(a).is_none());
        // a known cookie re-registers even when full
        register(&mut reg, 2, Some(b), T0 + 6);
        reg.check().unwrap();
    }

    #[test]
    fn replaying_the_events_rebuilds_the_same_table() {
        let mut reg = Registry::new(10, 3);
        let mut log = Vec::new();
        let mut next = cookies();
        let mut reg_at = |reg: &mut Registry, log: &mut Vec<Event>, port, cookie, now| {
            let r = reg
                .register(
                    Registrant::new("h", "L", port, cookie, LOCAL),
                    now,
                    &mut next,
                )
                .unwrap();
            log.extend(r.events);
            r.cookie
        };
        let a = reg_at(&mut reg, &mut log, 1, None, T0);
        let b = reg_at(&mut reg, &mut log, 2, None, T0);
        log.push(reg.keep_alive(a, T0 + 5_000).unwrap());
        log.push(reg.leave(b, T0 + 6_000).unwrap().unwrap());
        let c = reg_at(&mut reg, &mut log, 3, None, T0 + 7_000);
        reg_at(&mut reg, &mut log, 4, None, T0 + 8_000); // evicts b
        reg_at(&mut reg, &mut log, 3, Some(c), T0 + 9_000);

        let mut replayed = Registry::new(10, 3);
        for event in &log {
            replayed.apply(event);
        }
        let sorted = |reg: &Registry| {
            let mut v = reg.records().cloned().collect::<Vec<_>>();
            v.sort_by_key(|r| r.cookie);
            v
        };
        assert_eq!(sorted(&replayed), sorted(&reg));
        replayed.check().unwrap();

        // and a snapshot of it restores the same table
        let mut restored = Registry::new(10, 3);
        for record in reg.records() {
            restored.apply(&Event::Restored(record.clone()));
        }
        assert_eq!(sorted(&restored), sorted(&reg));
        restored.check().unwrap();
    }
}
