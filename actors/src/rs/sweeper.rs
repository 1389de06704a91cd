//! The TTL sweeper: asks the registry to take expired peers off the active
//! list, then sleeps until the next deadline the registry returns.
//!
//! A burst of expiries is swept in bounded slices, the next one right after
//! whatever else waits for the registry. With no active peer it sleeps a
//! whole TTL: every deadline set from now on is at least a TTL away, so
//! none can fall due sooner (a peer whose TTL ran out is inactive at once
//! anyway; the sweep only takes it off the list).

use super::registry::{ExpireDue, RegistryActor};
use crate::now_ms;
use actix::prelude::*;
use std::time::Duration;

/// The sweeper actor.
pub struct SweeperActor {
    registry: Addr<RegistryActor>,
    ttl: Duration,
}

impl SweeperActor {
    /// A sweeper for `registry`, whose TTL is `ttl_secs`.
    pub fn new(registry: Addr<RegistryActor>, ttl_secs: u64) -> Self {
        SweeperActor {
            registry,
            ttl: Duration::from_secs(ttl_secs.max(1)),
        }
    }

    fn sweep(&mut self, ctx: &mut Context<Self>) {
        ctx.spawn(
            self.registry
                .send(ExpireDue)
                .into_actor(self)
                .map(|expiry, act, ctx| {
                    let wait = match expiry {
                        Ok(expiry) => match expiry.next_ms {
                            Some(next) => {
                                Duration::from_millis(next.saturating_sub(now_ms())).min(act.ttl)
                            }
                            None => act.ttl,
                        },
                        // The registry is restarting: ask again shortly.
                        Err(_) => Duration::from_secs(1),
                    };
                    ctx.run_later(wait, |act, ctx| act.sweep(ctx));
                }),
        );
    }
}

impl Actor for SweeperActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        self.sweep(ctx);
    }
}

impl Supervised for SweeperActor {}
