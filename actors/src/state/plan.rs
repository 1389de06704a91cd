//! Which holders a download may try, in which order.
//!
//! A holder named by the index is reached at the ADDRESS of the peer-list
//! entry with the same HOST and PORT; a holder that is not on the current
//! peer list is not active and is not tried. Holders already tried are
//! skipped, and among the rest those busy with fewer of our transfers come
//! first, so parallel downloads spread over different holders.

use super::index::Holder;
use crate::wire::PeerEntry;
use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;

/// A holder to try, with the address to dial.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    /// The holder as the index names it.
    pub holder: Holder,
    /// Where to reach it.
    pub addr: SocketAddr,
    /// The title its record gives.
    pub title: String,
}

/// The candidates among `holders`, given the active `peers`, the holders
/// already `tried` and how many transfers each address is `busy` with.
pub fn candidates(
    holders: &[(Holder, String)],
    peers: &[PeerEntry],
    tried: &HashSet<SocketAddr>,
    busy: &HashMap<SocketAddr, usize>,
) -> Vec<Candidate> {
    let mut list: Vec<(usize, Candidate)> = holders
        .iter()
        .filter_map(|(holder, title)| {
            let peer = peers
                .iter()
                .position(|p| p.host == holder.host && p.port == holder.port)?;
            let addr = SocketAddr::new(peers[peer].address, peers[peer].port);
            (!tried.contains(&addr)).then(|| {
                (
                    peer,
                    Candidate {
                        holder: holder.clone(),
                        addr,
                        title: title.clone(),
                    },
                )
            })
        })
        .collect();
    // Least busy first; among equals, the peer list's order.
    list.sort_by_key(|(position, c)| (busy.get(&c.addr).copied().unwrap_or(0), *position));
    list.into_iter().map(|(_, c)| c).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{IpAddr, Ipv4Addr};

    fn peer(host: &str, last: u8, port: u16) -> PeerEntry {
        PeerEntry {
            host: host.into(),
            address: IpAddr::V4(Ipv4Addr::new(10, 0, 0, last)),
            port,
            ttl_secs: 7200,
            registrations_30d: 1,
            last_registered_unix_secs: 0,
        }
    }

    fn holder(host: &str, port: u16) -> (Holder, String) {
        (Holder::new(host, port), "t".into())
    }

    #[test]
    fn a_holder_is_dialled_at_its_peer_list_address_and_only_if_listed() {
        let peers = vec![peer("b", 2, 65401), peer("c", 3, 65402)];
        let holders = vec![holder("b", 65401), holder("gone", 65409), holder("c", 1)];
        let list = candidates(&holders, &peers, &HashSet::new(), &HashMap::new());
        assert_eq!(list.len(), 1);
        assert_eq!(list[0].addr, "10.0.0.2:65401".parse().unwrap());
    }

    #[test]
    fn tried_holders_are_skipped_and_idle_ones_come_first() {
        let peers = vec![peer("b", 2, 1), peer("c", 3, 1), peer("d", 4, 1)];
        let holders = vec![holder("b", 1), holder("c", 1), holder("d", 1)];
        let tried: HashSet<_> = ["10.0.0.2:1".parse().unwrap()].into();
        let busy: HashMap<_, _> = [("10.0.0.3:1".parse().unwrap(), 2)].into();
        let list = candidates(&holders, &peers, &tried, &busy);
        let hosts: Vec<_> = list.iter().map(|c| c.holder.host.as_str()).collect();
        assert_eq!(hosts, ["d", "c"]);
    }
}
