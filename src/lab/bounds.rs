//! The least time physics allows for a distribution, given file sizes and
//! byte-rate caps: every byte a holder sends passes its upload cap, every
//! byte a peer receives passes its download cap.
//!
//! A cap is a token bucket that may start full: by time `t` it has let
//! through at most `rate * t + burst` bytes. So `bytes` through one cap
//! take at least `(bytes - burst) / rate`; the bound is the largest such
//! time over every cap in the experiment.

/// A byte-rate cap.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Cap {
    /// Bytes per second.
    pub rate: f64,
    /// Bytes it may let through at once.
    pub burst: f64,
}

impl Cap {
    /// The cap of a configured rate, with the burst the peer allows.
    pub fn of(rate: Option<u64>) -> Option<Cap> {
        rate.map(|rate| Cap {
            rate: rate as f64,
            burst: p2p_di_actors::peer::burst_bytes(rate) as f64,
        })
    }

    /// Least seconds for `bytes` to pass.
    pub fn secs(&self, bytes: u64) -> f64 {
        ((bytes as f64 - self.burst) / self.rate).max(0.0)
    }
}

/// The bound and the cap that sets it.
#[derive(Debug, Clone, PartialEq)]
pub struct Bound {
    /// Seconds.
    pub secs: f64,
    /// What sets it, in words.
    pub limited_by: String,
}

/// The bound for peers that each upload `uploads[i]` bytes and download
/// `downloads[i]` bytes (`None` when no cap applies at all).
pub fn bound(
    names: &[String],
    uploads: &[u64],
    downloads: &[u64],
    up: Option<Cap>,
    down: Option<Cap>,
) -> Option<Bound> {
    let mut best: Option<Bound> = None;
    let mut consider = |secs: f64, what: String| {
        if best.as_ref().is_none_or(|b| secs > b.secs) {
            best = Some(Bound {
                secs,
                limited_by: what,
            });
        }
    };
    for (i, name) in names.iter().enumerate() {
        if let Some(cap) = up {
            if uploads[i] > 0 {
                consider(
                    cap.secs(uploads[i]),
                    format!("{name}'s upload of {:.2} MB", uploads[i] as f64 / 1e6),
                );
            }
        }
        if let Some(cap) = down {
            if downloads[i] > 0 {
                consider(
                    cap.secs(downloads[i]),
                    format!("{name}'s download of {:.2} MB", downloads[i] as f64 / 1e6),
                );
            }
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("P{i}")).collect()
    }

    #[test]
    fn centralized_is_bound_by_the_servers_upload() {
        let up = Some(Cap {
            rate: 1000.0,
            burst: 0.0,
        });
        // P0 uploads 5 x 10_000 bytes; each client downloads 10_000
        let b = bound(
            &names(6),
            &[50_000, 0, 0, 0, 0, 0],
            &[0, 10_000, 10_000, 10_000, 10_000, 10_000],
            up,
            None,
        )
        .unwrap();
        assert_eq!(b.secs, 50.0);
        assert!(b.limited_by.starts_with("P0's upload"));
    }

    #[test]
    fn a_download_cap_can_be_the_bottleneck_and_a_burst_is_free() {
        let up = Cap {
            rate: 1000.0,
            burst: 500.0,
        };
        let down = Cap {
            rate: 100.0,
            burst: 0.0,
        };
        let b = bound(&names(2), &[1500, 0], &[0, 1500], Some(up), Some(down)).unwrap();
        assert_eq!(b.secs, 15.0);
        assert_eq!(up.secs(1500), 1.0);
        assert_eq!(up.secs(100), 0.0);
    }

    #[test]
    fn without_caps_there_is_no_bound() {
        assert_eq!(bound(&names(2), &[1, 0], &[0, 1], None, None), None);
    }
}
