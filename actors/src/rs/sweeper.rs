//! The TTL sweeper: ticks and tells the registry to expire what is due.

use super::registry::{ExpireDue, RegistryActor};
use actix::prelude::*;
use std::time::Duration;

/// The sweeper's period for a TTL: at least once a second and at least ten
/// times per TTL.
pub fn period(ttl_secs: u64) -> Duration {
    Duration::from_millis((ttl_secs.saturating_mul(100)).clamp(10, 1000))
}

/// The sweeper actor.
pub struct SweeperActor {
    registry: Addr<RegistryActor>,
    period: Duration,
    /// Ticks sent since start (for tests).
    pub ticks: u64,
}

impl SweeperActor {
    /// A sweeper for `registry` ticking every `period`.
    pub fn new(registry: Addr<RegistryActor>, period: Duration) -> Self {
        SweeperActor {
            registry,
            period,
            ticks: 0,
        }
    }
}

impl Actor for SweeperActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.run_interval(self.period, |act, _| {
            act.ticks += 1;
            act.registry.do_send(ExpireDue);
        });
    }
}

impl Supervised for SweeperActor {}

#[cfg(test)]
mod tests {
    use super::period;
    use std::time::Duration;

    #[test]
    fn the_period_is_at_most_a_second_and_a_tenth_of_the_ttl() {
        assert_eq!(period(7200), Duration::from_secs(1));
        assert_eq!(period(10), Duration::from_secs(1));
        assert_eq!(period(2), Duration::from_millis(200));
        assert_eq!(period(1), Duration::from_millis(100));
    }
}
