//! The table over whole histories: any history keeps every index true
//! and replays to the same table; the work of an operation does not grow
//! with the peers behind an address; a million-peer table for the timing
//! probes.

use super::tests::{register, register_from, rng, T0};
use super::*;
use proptest::prelude::*;
use rand::SeedableRng;

/// One operation of a random history.
#[derive(Debug, Clone)]
enum Op {
    Register {
        address: u8,
        port: u16,
        known: Option<usize>,
    },
    KeepAlive(usize),
    Query(usize),
    Leave(usize),
    Expire,
    Wait(u64),
}

fn any_op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (0u8..4, 1u16..6, proptest::option::of(0usize..20))
            .prop_map(|(address, port, known)| Op::Register { address, port, known }),
        2 => (0usize..20).prop_map(Op::KeepAlive),
        1 => (0usize..20).prop_map(Op::Query),
        1 => (0usize..20).prop_map(Op::Leave),
        1 => Just(Op::Expire),
        1 => (0u64..8_000).prop_map(Op::Wait),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn any_history_keeps_the_indexes_true_and_replays_to_the_same_table(
        ops in proptest::collection::vec(any_op(), 1..80)
    ) {
        let mut reg = Registry::new(5, 8, 3);
        let mut journal: Vec<Event> = Vec::new();
        let mut issued: Vec<Cookie> = Vec::new();
        let mut next = 10_000u64;
        let mut now = T0;
        let mut rng = rng();
        for op in ops {
            match op {
                Op::Register { address, port, known } => {
                    let cookie = known.and_then(|i| issued.get(i).copied());
                    let address = IpAddr::V4(Ipv4Addr::new(10, 0, 0, address));
                    let decided = reg.decide_register(
                        Registrant::new("h", "L", port, cookie, address), now,
                        || { next += 1; next });
                    if let Ok(decided) = decided {
                        for event in &decided.events {
                            reg.apply(event);
                        }
                        journal.extend(decided.events);
                        issued.push(decided.cookie);
                    }
                }
                Op::KeepAlive(i) => {
                    if let Some(event) = issued.get(i).and_then(|c| reg.keep_alive(*c, now).ok()) {
                        journal.push(event);
                    }
                }
                Op::Query(i) => {
                    if let Some(c) = issued.get(i) {
                        if let Ok(queried) = reg.query(*c, now, 2, &mut rng) {
                            journal.push(queried.touched);
                        }
                    }
                }
                Op::Leave(i) => {
                    if let Some(Ok(Some(event))) = issued.get(i).map(|c| reg.decide_leave(*c, now)) {
                        reg.apply(&event);
                        journal.push(event);
                    }
                }
                Op::Expire => {
                    reg.expire_due(now, 3);
                }
                Op::Wait(ms) => now += ms,
            }
            prop_assert!(reg.check().is_ok(), "{:?}", reg.check());
            prop_assert!(reg.len() <= 8);
        }
        // Replaying the journal gives the same records (expiry only
        // takes peers off the list that are inactive already).
        let mut replayed = Registry::new(5, 8, 3);
        for event in &journal {
            replayed.apply(event);
        }
        replayed.check().unwrap();
        // By cookie: a record's place in the table may differ.
        let sorted = |reg: &Registry| {
            let mut v = reg.all(now);
            v.sort_by_key(|r| r.cookie);
            v.iter_mut().for_each(|r| r.id = 0);
            v
        };
        prop_assert_eq!(sorted(&replayed), sorted(&reg));
    }
}

/// The cookie of the active record at `address` and `port`.
fn cookie_at(reg: &Registry, address: IpAddr, port: u16) -> Option<Cookie> {
    let address = reg.address_key(address)?;
    let slot = reg.at_endpoint(super::index::Endpoint { address, port })?;
    Some(reg.entries[slot.index()].cookie)
}

/// The records `op` visits on `reg` (its lookups and changes).
fn visits<T>(reg: &mut Registry, op: impl FnOnce(&mut Registry) -> T) -> (T, u64) {
    let before = reg.visits.get();
    let result = op(reg);
    (result, reg.visits.get() - before)
}

/// The most records any one REGISTER (decided and applied), KEEPALIVE,
/// LEAVE, expiry and replayed event visits, with `crowd` active peers
/// registered from the asking peers' address first.
fn most_visits(crowd: u16) -> u64 {
    let here: IpAddr = "10.0.0.1".parse().unwrap();
    let mut reg = Registry::new(10, 200_000, 100_000);
    for port in 1..=crowd {
        register_from(&mut reg, here, port, None, T0).unwrap();
    }
    let mut most = 0;
    let mut journal = Vec::new();
    let mut note = |(events, n): (Vec<Event>, u64)| {
        most = most.max(n);
        journal.extend(events);
    };
    // A new peer, one re-registering, one replacing another's port.
    for (port, again) in [(crowd + 1, false), (crowd + 1, true), (1, false)] {
        let cookie = again.then(|| cookie_at(&reg, here, port)).flatten();
        note(visits(&mut reg, |reg| {
            register_from(reg, here, port, cookie, T0 + 1)
                .unwrap()
                .events
        }));
    }
    let cookie = cookie_at(&reg, here, 2).unwrap();
    note(visits(&mut reg, |reg| {
        vec![reg.keep_alive(cookie, T0 + 2).unwrap()]
    }));
    note(visits(&mut reg, |reg| {
        let left = reg.decide_leave(cookie, T0 + 3).unwrap().unwrap();
        reg.apply(&left);
        vec![left]
    }));
    // Replayed: each event of a fresh table's history.
    let mut replayed = Registry::new(10, 200_000, 100_000);
    for port in 1..=crowd {
        register_from(&mut replayed, here, port, None, T0).unwrap();
    }
    for event in &journal {
        let ((), n) = visits(&mut replayed, |reg| reg.apply(event));
        most = most.max(n);
    }
    // Expiry: a sweep of the crowd, per peer expired.
    let (expiry, n) = visits(&mut reg, |reg| reg.expire_due(T0 + 20_000, usize::MAX));
    assert!(expiry.expired >= usize::from(crowd) - 1);
    reg.check().unwrap();
    most.max(n / expiry.expired as u64)
}

#[test]
fn the_work_of_an_operation_does_not_grow_with_the_peers_at_its_address() {
    let alone = most_visits(1);
    let crowded = most_visits(60_000);
    assert!(alone <= 24, "{alone} records visited by one operation");
    // (A hash probe may compare a record more or less: not one per peer.)
    assert!(
        crowded <= alone + 4,
        "{crowded} with 60,000 peers at the address, {alone} alone"
    );
}

#[test]
fn two_active_records_at_one_endpoint_in_a_snapshot_are_settled_by_replay() {
    // A snapshot written in slices while the table serves: a record's
    // slice, then another took its port (a Left, then a Registered),
    // then the newcomer's slice.
    let mut reg = Registry::new(7200, 100, 100);
    let old = register(&mut reg, 1, None, T0).cookie;
    let mut early = super::tests::restored(&reg);
    let decided = register(&mut reg, 1, None, T0 + 1);
    assert_eq!(decided.replaced, Some(old));
    let late = super::tests::restored(&reg);
    // Both active at port 1 until the journal's tail is replayed.
    let mut both = Registry::new(7200, 100, 100);
    for table in [&early, &late] {
        let view = table.all(T0 + 1);
        let record = view.iter().find(|v| v.active).unwrap();
        both.restore(&StoredRecord {
            cookie: record.cookie,
            deadline_ms: Some(T0 + 7_200_000),
            last_registered_s: record.last_registered_unix_secs as u32,
            port: record.port,
            address: record.address,
            host: &record.host,
            os: &record.os,
            registrations: &[record.last_registered_unix_secs as u32],
        });
    }
    let cookies = CookieIndex::build(&both.restored_cookies()).unwrap();
    both.index_restored();
    both.install_cookie_index(cookies);
    assert!(both.check().is_err(), "two at one endpoint");
    for event in &decided.events {
        both.apply(event);
        early.apply(event);
    }
    both.check().unwrap();
    assert!(!both.view(old, T0 + 2).unwrap().active);
    assert!(both.view(decided.cookie, T0 + 2).unwrap().active);
}

/// A table of `n` peers registered at `now_ms` (`peer-K` on 127.1.x.x),
/// and their cookies: for the timing probes.
pub(crate) fn filled(n: u32, now_ms: u64) -> (Registry, Vec<Cookie>) {
    let mut registry = Registry::new(7200, 2_000_000, 256);
    let mut next = 1_000_000_000_000_000u64;
    let mut cookies = Vec::new();
    for k in 0..n {
        let address = IpAddr::V4(Ipv4Addr::from(0x7f01_0000 + k));
        let host = format!("peer-{k}");
        let registrant = Registrant::new(&host, "Linux", 65400, None, address);
        let decided = registry
            .decide_register(registrant, now_ms, || {
                next += 7919;
                next
            })
            .expect("room for every peer");
        for e in &decided.events {
            registry.apply(e);
        }
        cookies.push(decided.cookie);
    }
    (registry, cookies)
}

#[test]
#[ignore = "a timing probe: cargo test --release -p p2p-di-actors --lib time_a -- --ignored --nocapture"]
fn time_a_thousand_line_reply() {
    let now = 1_795_253_400_000;
    let peers: u32 = std::env::var("PEERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let (mut reg, cookies) = filled(peers, now);
    let mut rng = rand::rngs::StdRng::seed_from_u64(1);
    let started = std::time::Instant::now();
    let mut bytes = 0;
    for i in 0..2000 {
        let queried = reg
            .query(cookies[i * 499 % cookies.len()], now + 1, 1000, &mut rng)
            .unwrap();
        bytes += queried.list.unwrap().len();
    }
    let per = started.elapsed() / 2000;
    eprintln!(
        "query: {per:?} per 1000-line reply ({} bytes each)",
        bytes / 2000
    );
    // The text alone, from fields already at hand.
    let started = std::time::Instant::now();
    let mut body = Vec::with_capacity(72_000);
    for round in 0..2000u32 {
        body.clear();
        let mut lines = crate::wire::write::PeerLines::new(&mut body);
        for k in 0..1000u32 {
            lines.line(
                b"peer-123456",
                IpAddr::V4(Ipv4Addr::from(0x7f01_0000 + k)),
                65400,
                7199,
                1,
                1_795_253_400 + u64::from(round),
            );
        }
        std::hint::black_box(&body);
    }
    eprintln!("text alone: {:?}", started.elapsed() / 2000);
}
