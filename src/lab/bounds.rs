//! The least time physics allows for a distribution, given file sizes and
//! byte-rate caps: every byte a holder sends passes its upload cap, every
//! byte a peer receives passes its download cap.
//!
//! Two kinds of bound:
//!
//! - [`bound`], the one our caps imply for a planned traffic: a cap is a
//!   token bucket that may start full, so by time `t` it has let through
//!   at most `rate * t + burst` bytes, and `bytes` through one cap take at
//!   least `(bytes - burst) / rate`; the bound is the largest such time
//!   over every cap in the experiment.
//! - [`textbook`], the textbook's (Kurose and Ross, *Computer Networking*,
//!   2.5): distributing `F` bytes to `n` peers from one server takes at
//!   least `max(n·F/u_s, F/d_min)` client-server and
//!   `max(F/u_s, F/d_min, n·F/(u_s + Σu_i))` peer-to-peer.

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
/// `downloads[i]` bytes under their caps `caps[i]` (upload, download);
/// `None` when no cap applies at all.
pub fn bound(
    names: &[String],
    uploads: &[u64],
    downloads: &[u64],
    caps: &[(Option<Cap>, Option<Cap>)],
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
        let (up, down) = caps[i];
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
            &[(up, None); 6],
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
        let caps = [(Some(up), Some(down)); 2];
        let b = bound(&names(2), &[1500, 0], &[0, 1500], &caps).unwrap();
        assert_eq!(b.secs, 15.0);
        assert_eq!(up.secs(1500), 1.0);
        assert_eq!(up.secs(100), 0.0);
    }

    #[test]
    fn without_caps_there_is_no_bound() {
        assert_eq!(bound(&names(2), &[1, 0], &[0, 1], &[(None, None); 2]), None);
    }

    #[test]
    fn a_server_faster_than_its_peers_sets_its_own_bound() {
        let cap = |rate| Some(Cap { rate, burst: 0.0 });
        // P0 (the server) uploads 10 times as fast as the others.
        let caps = [
            (cap(10_000.0), None),
            (cap(1000.0), None),
            (cap(1000.0), None),
        ];
        let b = bound(&names(3), &[20_000, 0, 5_000], &[0, 10_000, 10_000], &caps).unwrap();
        assert_eq!(b.secs, 5.0);
        assert!(b.limited_by.starts_with("P2's upload"));
    }
}

/// A textbook bound, with the formula and the values it was computed from.
#[derive(Debug, Clone, PartialEq)]
pub struct Textbook {
    /// Seconds.
    pub secs: f64,
    /// The formula with its values, for the report.
    pub formula: String,
}

fn rate(bytes_per_sec: Option<u64>) -> f64 {
    bytes_per_sec.map_or(f64::INFINITY, |r| r as f64)
}

fn shown_rate(bytes_per_sec: Option<u64>) -> String {
    bytes_per_sec.map_or("∞".to_owned(), |r| format!("{} MB/s", r as f64 / 1e6))
}

/// Client-server: one server uploading at `up` sends `file` bytes to each
/// of `clients`, each downloading at most at `down`.
pub fn client_server(
    clients: usize,
    file: u64,
    up: Option<u64>,
    down: Option<u64>,
) -> Option<Textbook> {
    up.or(down)?;
    let (f, n) = (file as f64, clients as f64);
    let secs = (n * f / rate(up)).max(f / rate(down));
    Some(Textbook {
        secs,
        formula: format!(
            "max(n·F/u_s, F/d_min) = max({clients} × {:.2} MB / {}, {:.2} MB / {}) = {secs:.2} s",
            f / 1e6,
            shown_rate(up),
            f / 1e6,
            shown_rate(down),
        ),
    })
}

/// Peer-to-peer from a seed: the seed (uploading at `server_up`) holds
/// `file` bytes, `peers` others each want all of it and upload at `up`.
pub fn seeded(
    peers: usize,
    file: u64,
    server_up: Option<u64>,
    up: Option<u64>,
    down: Option<u64>,
) -> Option<Textbook> {
    server_up.or(up).or(down)?;
    let (f, n) = (file as f64, peers as f64);
    let (u_s, u) = (rate(server_up), rate(up));
    let secs = (f / u_s).max(f / rate(down)).max(n * f / (u_s + n * u));
    Some(Textbook {
        secs,
        formula: format!(
            "max(F/u_s, F/d_min, n·F/(u_s + Σu_i)) = max({:.2} MB / {}, {:.2} MB / {}, {peers} × {:.2} MB / ({} + {peers} × {})) = {secs:.2} s",
            f / 1e6,
            shown_rate(server_up),
            f / 1e6,
            shown_rate(down),
            f / 1e6,
            shown_rate(server_up),
            shown_rate(up),
        ),
    })
}

/// Peer-to-peer with no seed: `peers` peers each hold a share and each
/// downloads `file` bytes (what it lacks); all upload at `up`.
pub fn shared(peers: usize, file: u64, up: Option<u64>, down: Option<u64>) -> Option<Textbook> {
    up.or(down)?;
    let (f, n) = (file as f64, peers as f64);
    let secs = (f / rate(down)).max(n * f / (n * rate(up)));
    Some(Textbook {
        secs,
        formula: format!(
            "max(F/d_min, n·F/Σu_i) = max({:.2} MB / {}, {peers} × {:.2} MB / ({peers} × {})) = {secs:.2} s",
            f / 1e6,
            shown_rate(down),
            f / 1e6,
            shown_rate(up),
        ),
    })
}

#[cfg(test)]
mod textbook_tests {
    use super::*;

    #[test]
    fn client_server_grows_with_the_clients_and_p2p_does_not() {
        let mb = 1_000_000;
        let one = client_server(1, 4 * mb, Some(2 * mb), None).unwrap();
        let ten = client_server(10, 4 * mb, Some(2 * mb), None).unwrap();
        assert_eq!((one.secs, ten.secs), (2.0, 20.0));
        assert!(ten
            .formula
            .starts_with("max(n·F/u_s, F/d_min) = max(10 × 4.00 MB / 2 MB/s"));
        let p2p = seeded(10, 4 * mb, Some(2 * mb), Some(2 * mb), None).unwrap();
        // F/u_s = 2 s dominates 10·F/(11·u) = 1.82 s.
        assert_eq!(p2p.secs, 2.0);
        let slow_down = seeded(10, 4 * mb, Some(2 * mb), Some(2 * mb), Some(mb)).unwrap();
        // u_s = 10u: the seed's copy, then every link together.
        let tenfold = seeded(30, 4 * mb, Some(20 * mb), Some(2 * mb), None).unwrap();
        assert_eq!(tenfold.secs, 30.0 * 4.0 / (20.0 + 30.0 * 2.0));
        assert_eq!(slow_down.secs, 4.0);
        let share = shared(6, 5 * mb, Some(2 * mb), None).unwrap();
        assert_eq!(share.secs, 2.5);
        assert_eq!(client_server(3, mb, None, None), None);
    }
}
