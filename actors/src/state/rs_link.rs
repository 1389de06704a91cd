//! What a peer knows of one RS it registers with: the cookie it holds
//! there, whether it is registered, and whether the RS answers. An RS that
//! fails is remembered as down until a retry time that backs off, so
//! downloads skip it instead of paying its time-out each time. Pure: time
//! passed in, in ms since the epoch.

use crate::wire::Cookie;

/// Whether an RS answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reach {
    /// Not asked yet.
    Unknown,
    /// It answered; it has since `since_ms` without a failure.
    Up {
        /// The first answer after the last failure.
        since_ms: u64,
    },
    /// It failed since `since_ms`; it is asked again from `retry_ms`.
    Down {
        /// The first failure after the last answer.
        since_ms: u64,
        /// When it may be asked again.
        retry_ms: u64,
    },
}

/// Waits between tries of an RS that fails: doubling from `initial_ms` up
/// to `max_ms`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// The first wait.
    pub initial_ms: u64,
    /// The longest wait.
    pub max_ms: u64,
}

/// One RS as a peer sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RsLink {
    /// The RS, as configured (`HOST:PORT`).
    pub rs: String,
    /// The cookie it issued, if it did.
    pub cookie: Option<Cookie>,
    /// Registered there now.
    pub joined: bool,
    /// Registrations there since the peer started.
    pub registrations: u32,
    reach: Reach,
    /// The next wait after a failure.
    next_wait_ms: u64,
}

impl RsLink {
    /// An RS not asked yet, with the `cookie` saved for it (if any).
    pub fn new(rs: impl Into<String>, cookie: Option<Cookie>, backoff: Backoff) -> Self {
        RsLink {
            rs: rs.into(),
            cookie,
            joined: false,
            registrations: 0,
            reach: Reach::Unknown,
            next_wait_ms: backoff.initial_ms,
        }
    }

    /// Whether it answers, as far as known.
    pub fn reach(&self) -> Reach {
        self.reach
    }

    /// It answered at `now_ms` (whatever it said: it is up).
    pub fn answered(&mut self, now_ms: u64, backoff: Backoff) {
        if !matches!(self.reach, Reach::Up { .. }) {
            self.reach = Reach::Up { since_ms: now_ms };
        }
        self.next_wait_ms = backoff.initial_ms;
    }

    /// It did not answer at `now_ms`: down, until a retry time that backs
    /// off. Returns the wait before the next try, in ms.
    pub fn failed(&mut self, now_ms: u64, backoff: Backoff) -> u64 {
        let wait_ms = self.next_wait_ms.clamp(1, backoff.max_ms.max(1));
        let since_ms = match self.reach {
            Reach::Down { since_ms, .. } => since_ms,
            _ => now_ms,
        };
        self.reach = Reach::Down {
            since_ms,
            retry_ms: now_ms + wait_ms,
        };
        self.next_wait_ms = wait_ms.saturating_mul(2).min(backoff.max_ms.max(1));
        wait_ms
    }

    /// Whether to ask it at `now_ms`: not known to be down, or due again.
    pub fn askable(&self, now_ms: u64) -> bool {
        match self.reach {
            Reach::Down { retry_ms, .. } => now_ms >= retry_ms,
            _ => true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: u64 = 1_795_253_400_000;
    const BACKOFF: Backoff = Backoff {
        initial_ms: 100,
        max_ms: 1000,
    };

    #[test]
    fn a_failing_rs_is_skipped_until_its_retry_time_and_the_wait_doubles_to_its_bound() {
        let mut link = RsLink::new("a:1", None, BACKOFF);
        assert!(link.askable(T0));
        assert_eq!(link.failed(T0, BACKOFF), 100);
        assert!(!link.askable(T0 + 99));
        assert!(link.askable(T0 + 100));
        let waits: Vec<u64> = (1..=5).map(|i| link.failed(T0 + i, BACKOFF)).collect();
        assert_eq!(waits, [200, 400, 800, 1000, 1000]);
        // Down since the first failure.
        assert_eq!(
            link.reach(),
            Reach::Down {
                since_ms: T0,
                retry_ms: T0 + 5 + 1000
            }
        );
        // An answer: up from then, and the next failure waits the least.
        link.answered(T0 + 3000, BACKOFF);
        link.answered(T0 + 4000, BACKOFF);
        assert_eq!(
            link.reach(),
            Reach::Up {
                since_ms: T0 + 3000
            }
        );
        assert_eq!(link.failed(T0 + 5000, BACKOFF), 100);
    }
}
