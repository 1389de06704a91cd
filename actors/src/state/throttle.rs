//! A token bucket: caps a byte rate, time passed in.
//!
//! [`TokenBucket::reserve`] debits what a caller is about to send and says
//! how long it must wait first; the balance may go negative, so callers
//! queue up in the order they reserved and the long-run rate never exceeds
//! the cap.

use std::time::{Duration, Instant};

/// A byte-rate cap with a burst allowance.
#[derive(Debug, Clone)]
pub struct TokenBucket {
    rate_bytes_per_sec: f64,
    burst_bytes: f64,
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    /// A bucket refilled at `rate_bytes_per_sec`, holding at most
    /// `burst_bytes`, full at `now`.
    pub fn new(rate_bytes_per_sec: u64, burst_bytes: u64, now: Instant) -> Self {
        TokenBucket {
            rate_bytes_per_sec: rate_bytes_per_sec.max(1) as f64,
            burst_bytes: burst_bytes.max(1) as f64,
            tokens: burst_bytes.max(1) as f64,
            last: now,
        }
    }

    /// The rate.
    pub fn rate_bytes_per_sec(&self) -> u64 {
        self.rate_bytes_per_sec as u64
    }

    /// Debits `bytes` at `now`; returns how long to wait before sending them.
    pub fn reserve(&mut self, bytes: usize, now: Instant) -> Duration {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = self.last.max(now);
        self.tokens = (self.tokens + elapsed * self.rate_bytes_per_sec).min(self.burst_bytes);
        self.tokens -= bytes as f64;
        if self.tokens >= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(-self.tokens / self.rate_bytes_per_sec)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_burst_is_free_and_the_rest_waits_at_the_rate() {
        let t0 = Instant::now();
        let mut bucket = TokenBucket::new(1000, 500, t0);
        assert_eq!(bucket.reserve(500, t0), Duration::ZERO);
        assert_eq!(bucket.reserve(1000, t0), Duration::from_secs(1));
        // a second caller queues behind the first
        assert_eq!(bucket.reserve(1000, t0), Duration::from_secs(2));
        // after 2 s the debt is paid; the bucket refills up to the burst only
        assert_eq!(
            bucket.reserve(0, t0 + Duration::from_secs(10)),
            Duration::ZERO
        );
        assert_eq!(
            bucket.reserve(1000, t0 + Duration::from_secs(10)),
            Duration::from_millis(500)
        );
    }

    #[test]
    fn the_long_run_rate_never_exceeds_the_cap() {
        let t0 = Instant::now();
        let mut bucket = TokenBucket::new(10_000, 1_000, t0);
        let mut clock = t0;
        let mut sent = 0u64;
        for _ in 0..1000 {
            let wait = bucket.reserve(700, clock);
            clock += wait;
            sent += 700;
        }
        let secs = clock.duration_since(t0).as_secs_f64();
        assert!(sent as f64 <= 1_000.0 + 10_000.0 * secs + 1e-6);
        assert!(sent as f64 >= 10_000.0 * secs);
    }
}
