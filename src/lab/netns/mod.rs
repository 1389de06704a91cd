//! A lab network in the kernel: one network namespace per daemon, each
//! with one veth into a bridge that lives in a namespace of its own (the
//! hub), addresses from one private /16, links shaped by qdiscs. Nothing
//! is added to the namespace the lab runs in, and nothing is routed
//! outside the bridge.
//!
//! Everything made is recorded as it is made and removed when the
//! [`Network`] is dropped (a normal end, an error, an unwinding panic), by
//! [`cleanup_all`] on a second Ctrl-C, and, for a lab killed outright, by
//! [`remove_stale`] at the next start.
//!
//! Network namespaces are Linux's: elsewhere [`preflight`] refuses the
//! run, naming the platform, before anything starts, and the types of a
//! run cannot be made.

use std::net::Ipv4Addr;

#[cfg_attr(target_os = "linux", path = "linux.rs")]
#[cfg_attr(not(target_os = "linux"), path = "elsewhere.rs")]
mod platform;

pub use platform::{cleanup_all, http, preflight, remove_stale, Daemon, Network};

/// The /16 the lab's addresses come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Subnet {
    base: Ipv4Addr,
}

impl Default for Subnet {
    fn default() -> Self {
        Subnet {
            base: Ipv4Addr::new(10, 77, 0, 0),
        }
    }
}

impl std::str::FromStr for Subnet {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let (addr, bits) = text
            .split_once('/')
            .ok_or_else(|| format!("`{text}`: write a /16, e.g. 10.77.0.0/16"))?;
        if bits != "16" {
            return Err(format!("`{text}`: the lab's network is a /16"));
        }
        let addr: Ipv4Addr = addr
            .parse()
            .map_err(|_| format!("`{text}`: `{addr}` is not an IPv4 address"))?;
        if !addr.is_private() {
            return Err(format!(
                "`{text}`: use a private range (10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16)"
            ));
        }
        let [a, b, _, _] = addr.octets();
        Ok(Subnet {
            base: Ipv4Addr::new(a, b, 0, 0),
        })
    }
}

impl std::fmt::Display for Subnet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/16", self.base)
    }
}

/// A token bucket filter on one direction of a link.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rate {
    /// Bytes per second.
    pub bytes_per_sec: u64,
    /// Bytes let through at once (the bucket's depth).
    pub burst: u64,
}

impl Rate {
    /// How the report states it.
    pub fn describe(self) -> String {
        format!(
            "tbf, rate {} MB/s, burst {} B",
            self.bytes_per_sec as f64 / 1e6,
            self.burst
        )
    }
}

/// How every peer's link is shaped.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Shape {
    /// From the peer (its veth's egress).
    pub upload: Option<Rate>,
    /// To the peer (the bridge side's egress).
    pub download: Option<Rate>,
    /// One-way delay added to the peer's egress (netem).
    pub delay_ms: Option<u64>,
    /// Share of the peer's egress packets dropped, in percent (netem).
    pub loss_percent: Option<f64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_subnet_is_a_private_16() {
        let subnet: Subnet = "10.9.0.0/16".parse().unwrap();
        assert_eq!(subnet.to_string(), "10.9.0.0/16");
        assert_eq!(
            "10.9.7.3/16".parse::<Subnet>().unwrap(),
            subnet,
            "the host part is dropped"
        );
        assert!("10.9.0.0/24".parse::<Subnet>().unwrap_err().contains("/16"));
        assert!("8.8.0.0/16"
            .parse::<Subnet>()
            .unwrap_err()
            .contains("private"));
        assert!("nope/16".parse::<Subnet>().is_err());
    }

    #[test]
    fn a_rate_is_described_for_the_report() {
        let rate = Rate {
            bytes_per_sec: 4_000_000,
            burst: 400_000,
        };
        assert_eq!(rate.describe(), "tbf, rate 4 MB/s, burst 400000 B");
    }
}
