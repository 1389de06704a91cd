//! The requests decided on the table: REGISTER and LEAVE read it and
//! return the events to journal (applied once durable); KEEPALIVE applies
//! its TTL reset at once.

use super::index::Endpoint;
use super::{Event, Registrant, Registration, Registry, RegistryError};
use crate::wire::Cookie;

impl Registry {
    /// Decides a REGISTER: reads the table and returns the events that
    /// make it, to be journaled and then applied. `fresh_cookie` draws a
    /// candidate for a new cookie; it is called again until it gives one
    /// not in the table (the caller also refuses cookies still pending).
    pub fn decide_register(
        &self,
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
        let mut events = Vec::with_capacity(3);
        let known = cookie.and_then(|cookie| self.slot_of(cookie));
        // The active record at this address and port goes, unless it is
        // the registrant's own; the address's other active records count
        // against its share.
        let mut replaced = None;
        let mut others = 0;
        if let Some(key) = self.address_key(address) {
            others = self.per_address.get(key) as usize;
            let endpoint = Endpoint { address: key, port };
            if let Some(slot) = self.at_endpoint(endpoint) {
                if Some(slot) != known {
                    replaced = Some(self.entry(slot).cookie);
                }
                others -= 1;
            }
            if let Some(own) = known.filter(|own| self.on_active_side(*own)) {
                let line = self.line(own);
                if line.address_key() == key && line.port != port {
                    others -= 1;
                }
            }
        }
        if others >= self.max_peers_per_address {
            return Err(RegistryError::AddressFull);
        }
        let cookie = match known {
            Some(slot) => self.entry(slot).cookie,
            None => {
                if self.len() >= self.max_peers {
                    let (_, oldest) = *self.inactive.first().ok_or(RegistryError::Full)?;
                    events.push(Event::Evicted {
                        cookie: self.entry(oldest).cookie,
                    });
                }
                loop {
                    let candidate = fresh_cookie();
                    if self.slot_of(candidate).is_none() {
                        break candidate;
                    }
                }
            }
        };
        if let Some(other) = replaced {
            events.push(Event::Left { cookie: other });
        }
        events.push(Event::Registered {
            cookie,
            host: host.to_owned(),
            os: os.to_owned(),
            port,
            address,
            at_ms: now_ms,
        });
        Ok(Registration {
            cookie,
            new: known.is_none(),
            replaced,
            events,
        })
    }

    /// Handles KEEPALIVE: an active peer's TTL is set back (applied now).
    pub fn keep_alive(&mut self, cookie: Cookie, now_ms: u64) -> Result<Event, RegistryError> {
        match self.slot_of(cookie) {
            Some(slot) if self.is_active(slot, now_ms) => {
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

    /// Decides a LEAVE: an active peer turns inactive (`Some` event to
    /// journal and apply); an inactive one stays so and nothing changes
    /// (`None`).
    pub fn decide_leave(
        &self,
        cookie: Cookie,
        now_ms: u64,
    ) -> Result<Option<Event>, RegistryError> {
        let slot = self.slot_of(cookie).ok_or(RegistryError::Forbidden)?;
        Ok(self
            .is_active(slot, now_ms)
            .then_some(Event::Left { cookie }))
    }
}
