//! The table's behaviour, request by request (the histories are in
//! `tests_history.rs`).

use super::*;
use rand::SeedableRng;

pub(super) const LOCAL: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
pub(super) const T0: u64 = 1_795_253_400_000; // 2026-11-21T09:30:00Z
const THIRTY_DAYS_MS: u64 = 30 * 24 * 3600 * 1000;

pub(super) fn cookies() -> impl FnMut() -> Cookie {
    let mut next = 1000;
    move || {
        next += 1;
        next
    }
}

pub(super) fn rng() -> rand::rngs::StdRng {
    rand::rngs::StdRng::seed_from_u64(7)
}

/// Decides and applies a REGISTER, as the RS does once it is durable.
pub(super) fn register_from(
    reg: &mut Registry,
    address: IpAddr,
    port: u16,
    cookie: Option<Cookie>,
    now: u64,
) -> Result<Registration, RegistryError> {
    // Cookies spread over 63 bits, as the RS draws them (the cookie
    // index hashes a cookie to itself).
    let mut next = reg.len() as u64 * 7 + 1000;
    let decided = reg.decide_register(
        Registrant::new("h", "Linux", port, cookie, address),
        now,
        || {
            next += 1;
            next.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 1
        },
    )?;
    for event in &decided.events {
        reg.apply(event);
    }
    Ok(decided)
}

pub(super) fn register(
    reg: &mut Registry,
    port: u16,
    cookie: Option<Cookie>,
    now: u64,
) -> Registration {
    register_from(reg, LOCAL, port, cookie, now).unwrap()
}

pub(super) fn leave(reg: &mut Registry, cookie: Cookie, now: u64) -> Option<Event> {
    let event = reg.decide_leave(cookie, now).unwrap();
    if let Some(event) = &event {
        reg.apply(event);
    }
    event
}

/// The peer list's lines.
pub(super) fn list(
    reg: &mut Registry,
    cookie: Cookie,
    now: u64,
) -> Result<Vec<String>, RegistryError> {
    let queried = reg.query(cookie, now, 1000, &mut rng())?;
    let body = queried.list.unwrap_or_default();
    Ok(String::from_utf8(body.to_vec())
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect())
}

#[test]
fn a_registered_peer_shows_the_full_ttl_and_one_registration() {
    let mut reg = Registry::new(7200, 100, 100);
    let a = register(&mut reg, 1, None, T0).cookie;
    let b = register(&mut reg, 2, None, T0).cookie;
    assert_ne!(a, b);
    assert_eq!(
        list(&mut reg, a, T0).unwrap(),
        ["h&*127.0.0.1&*2&*7200&*1&*2026-11-21T09:30:00Z"]
    );
}

#[test]
fn ttl_counts_down_and_rounds_up() {
    let mut reg = Registry::new(10, 100, 100);
    let a = register(&mut reg, 1, None, T0).cookie;
    let b = register(&mut reg, 2, None, T0).cookie;
    let ttl = |reg: &mut Registry, now| reg.view(b, now).unwrap().ttl_secs;
    reg.keep_alive(a, T0).unwrap();
    assert_eq!(ttl(&mut reg, T0 + 1), 10);
    assert_eq!(ttl(&mut reg, T0 + 4_500), 6);
    assert_eq!(ttl(&mut reg, T0 + 9_999), 1);
    assert!(list(&mut reg, a, T0 + 4_500).unwrap()[0].contains("&*6&*1&*"));
}

#[test]
fn expired_peer_is_not_listed_and_is_refused() {
    let mut reg = Registry::new(10, 100, 100);
    let a = register(&mut reg, 1, None, T0).cookie;
    let b = register(&mut reg, 2, None, T0 + 5_000).cookie;
    // a expires at T0+10s even before the sweeper runs
    assert_eq!(
        reg.keep_alive(a, T0 + 10_000),
        Err(RegistryError::Forbidden)
    );
    assert_eq!(list(&mut reg, b, T0 + 10_000), Ok(Vec::<String>::new()));
    // the second of a's deadline is swept once it is wholly past
    let expiry = reg.expire_due(T0 + 11_000, 100);
    assert_eq!(expiry.expired, 1);
    assert!(!reg.view(a, T0 + 11_000).unwrap().active);
    reg.check().unwrap();
}

#[test]
fn keepalive_and_pquery_set_the_ttl_back() {
    let mut reg = Registry::new(10, 100, 100);
    let a = register(&mut reg, 1, None, T0).cookie;
    let b = register(&mut reg, 2, None, T0).cookie;
    reg.keep_alive(a, T0 + 9_000).unwrap();
    list(&mut reg, b, T0 + 9_000).unwrap();
    assert_eq!(reg.expire_due(T0 + 18_999, 100).expired, 0);
    assert_eq!(reg.expire_due(T0 + 20_000, 100).expired, 2);
}

#[test]
fn leave_makes_a_peer_inactive_and_only_register_reactivates() {
    let mut reg = Registry::new(7200, 100, 100);
    let a = register(&mut reg, 1, None, T0).cookie;
    let b = register(&mut reg, 2, None, T0).cookie;
    assert!(leave(&mut reg, b, T0 + 1).is_some());
    assert_eq!(reg.decide_leave(b, T0 + 2), Ok(None));
    assert_eq!(reg.keep_alive(b, T0 + 3), Err(RegistryError::Forbidden));
    assert_eq!(list(&mut reg, b, T0 + 3), Err(RegistryError::Forbidden));
    assert_eq!(list(&mut reg, a, T0 + 3), Ok(Vec::<String>::new()));
    let again = register(&mut reg, 2, Some(b), T0 + 4);
    assert_eq!((again.cookie, again.new), (b, false));
    assert!(list(&mut reg, a, T0 + 5).unwrap()[0].contains("&*2&*7200&*2&*"));
    reg.check().unwrap();
}

#[test]
fn unknown_cookies_are_forbidden_and_change_nothing() {
    let mut reg = Registry::new(7200, 100, 100);
    register(&mut reg, 1, None, T0);
    let before = reg.all(T0);
    assert_eq!(reg.keep_alive(42, T0), Err(RegistryError::Forbidden));
    assert_eq!(reg.decide_leave(42, T0), Err(RegistryError::Forbidden));
    assert_eq!(list(&mut reg, 42, T0), Err(RegistryError::Forbidden));
    assert_eq!(reg.all(T0), before);
}

#[test]
fn register_with_an_unknown_cookie_issues_a_new_one() {
    let mut reg = Registry::new(7200, 100, 100);
    let r = register(&mut reg, 1, Some(777), T0);
    assert!(r.new);
    assert_ne!(r.cookie, 777);
}

#[test]
fn a_new_registration_on_the_same_port_replaces_the_old_record() {
    let mut reg = Registry::new(7200, 100, 100);
    let old = register(&mut reg, 1, None, T0).cookie;
    let other = register(&mut reg, 2, None, T0).cookie;
    let new = register(&mut reg, 1, None, T0 + 1);
    assert_eq!(new.replaced, Some(old));
    assert_eq!(new.events[0], Event::Left { cookie: old });
    assert_eq!(list(&mut reg, other, T0 + 2).unwrap().len(), 1);
    assert!(!reg.view(old, T0 + 2).unwrap().active);
    reg.check().unwrap();
}

#[test]
fn registrations_older_than_thirty_days_are_not_counted() {
    let mut reg = Registry::new(7200, 100, 100);
    let a = register(&mut reg, 1, None, T0).cookie;
    register(&mut reg, 1, Some(a), T0 + 1000);
    register(&mut reg, 1, Some(a), T0 + 1500);
    let count = |reg: &Registry, now| reg.view(a, now).unwrap().registrations_30d;
    assert_eq!(count(&reg, T0 + 2000), 3);
    assert_eq!(count(&reg, T0 + THIRTY_DAYS_MS), 2);
    assert_eq!(count(&reg, T0 + THIRTY_DAYS_MS + 2000), 0);
}

#[test]
fn a_full_table_drops_the_oldest_inactive_record_or_refuses() {
    let mut reg = Registry::new(7200, 2, 100);
    let a = register(&mut reg, 1, None, T0).cookie;
    let b = register(&mut reg, 2, None, T0 + 1000).cookie;
    assert_eq!(
        register_from(&mut reg, LOCAL, 3, None, T0 + 2000).unwrap_err(),
        RegistryError::Full
    );
    leave(&mut reg, b, T0 + 3000);
    leave(&mut reg, a, T0 + 4000);
    let c = register(&mut reg, 3, None, T0 + 5000);
    assert_eq!(c.events[0], Event::Evicted { cookie: a });
    assert_eq!(reg.len(), 2);
    assert!(reg.view(a, T0).is_none());
    // a known cookie re-registers even when full
    register(&mut reg, 2, Some(b), T0 + 6000);
    reg.check().unwrap();
}

#[test]
fn one_address_gets_at_most_its_share_of_active_registrations() {
    let mut reg = Registry::new(7200, 100, 2);
    let here: IpAddr = "10.0.0.1".parse().unwrap();
    let there: IpAddr = "10.0.0.2".parse().unwrap();
    let a = register_from(&mut reg, here, 1, None, T0).unwrap().cookie;
    register_from(&mut reg, here, 2, None, T0).unwrap();
    assert_eq!(
        register_from(&mut reg, here, 3, None, T0).unwrap_err(),
        RegistryError::AddressFull
    );
    // the same port replaces, a known cookie re-registers, another
    // address is not affected
    register_from(&mut reg, here, 2, None, T0 + 1).unwrap();
    register_from(&mut reg, here, 1, Some(a), T0 + 2).unwrap();
    register_from(&mut reg, there, 3, None, T0 + 3).unwrap();
    // once one leaves, there is room again
    leave(&mut reg, a, T0 + 4);
    register_from(&mut reg, here, 3, None, T0 + 5).unwrap();
    reg.check().unwrap();
}

#[test]
fn a_large_list_is_a_uniform_sample_of_the_others_never_the_asker() {
    let mut reg = Registry::new(7200, 10_000, 10_000);
    let asker = register(&mut reg, 1, None, T0).cookie;
    for port in 2..=101 {
        register(&mut reg, port, None, T0);
    }
    let mut rng = rng();
    // Windows of the others' lines: every one equally likely, whether
    // the sample is a few windows or one long one.
    for (k, lowest, highest) in [(10, 120, 290), (60, 1_080, 1_320)] {
        let mut seen = std::collections::HashMap::<String, u32>::new();
        for _ in 0..2000 {
            let body = reg.query(asker, T0, k, &mut rng).unwrap().list.unwrap();
            let body = String::from_utf8(body.to_vec()).unwrap();
            let lines: Vec<&str> = body.lines().collect();
            assert_eq!(lines.len(), k);
            let distinct: std::collections::HashSet<&str> = lines.iter().copied().collect();
            assert_eq!(distinct.len(), k, "a sample has no repeats");
            for line in lines {
                let port = line.split("&*").nth(2).unwrap().to_owned();
                assert_ne!(port, "1", "never the asker");
                *seen.entry(port).or_default() += 1;
            }
        }
        // 2000 draws of k among 100: each peer about 20k times
        assert_eq!(seen.len(), 100);
        assert!(
            seen.values().all(|n| (lowest..=highest).contains(n)),
            "{k}: {seen:?}"
        );
    }
    // Records that left, and one whose TTL ran out but that the sweep has
    // not moved yet, are never listed, and the others stay as likely.
    for ports in [102..=131, 132..=331] {
        let left: Vec<Cookie> = ports
            .map(|port| register(&mut reg, port, None, T0).cookie)
            .collect();
        for cookie in left {
            leave(&mut reg, cookie, T0);
        }
        only_active_others_uniformly(&mut reg, asker, &mut rng);
    }
}

fn only_active_others_uniformly(reg: &mut Registry, asker: Cookie, rng: &mut impl rand::Rng) {
    let mut seen = std::collections::HashMap::<String, u32>::new();
    for _ in 0..2000 {
        let body = reg.query(asker, T0, 10, rng).unwrap().list.unwrap();
        let body = String::from_utf8(body.to_vec()).unwrap();
        let ports: std::collections::HashSet<String> = body
            .lines()
            .map(|line| line.split("&*").nth(2).unwrap().to_owned())
            .collect();
        assert_eq!(ports.len(), 10, "a sample has no repeats");
        for port in ports {
            let number: u16 = port.parse().unwrap();
            assert!((2..=101).contains(&number), "only the active others");
            *seen.entry(port).or_default() += 1;
        }
    }
    assert_eq!(seen.len(), 100);
    assert!(seen.values().all(|n| (120..=290).contains(n)), "{seen:?}");
}

#[test]
fn a_burst_of_expiries_is_swept_in_bounded_slices() {
    let mut reg = Registry::new(10, 10_000, 10_000);
    for port in 1..=2500 {
        register(&mut reg, port, None, T0);
    }
    let later = T0 + 11_000;
    let first = reg.expire_due(later, 1000);
    assert_eq!((first.expired, first.next_ms), (1000, Some(later)));
    let second = reg.expire_due(later, 1000);
    assert_eq!(second.expired, 1000);
    let last = reg.expire_due(later, 1000);
    assert_eq!((last.expired, last.next_ms), (500, None));
    assert_eq!(reg.counts().active, 0);
    reg.check().unwrap();
}

#[test]
fn names_and_addresses_are_kept_once_and_freed_with_their_last_record() {
    let mut reg = Registry::new(7200, 2, 100);
    let v6: IpAddr = "::1".parse().unwrap();
    let a = register_from(&mut reg, v6, 1, None, T0).unwrap().cookie;
    register_from(&mut reg, v6, 2, None, T0).unwrap();
    // "Linux" once; "h" is short enough to be kept in each record
    assert_eq!(reg.counts().names, 1);
    assert_eq!(reg.v6.len(), 1);
    leave(&mut reg, a, T0 + 1);
    let decided = reg
        .decide_register(
            Registrant::new("other", "BSD", 3, None, LOCAL),
            T0 + 2,
            cookies(),
        )
        .unwrap();
    for event in &decided.events {
        reg.apply(event);
    }
    assert_eq!(reg.counts().names, 2);
    assert_eq!(reg.view(decided.cookie, T0 + 2).unwrap().host, "other");
    reg.check().unwrap();
}

#[test]
fn a_long_host_name_is_interned_listed_and_freed_with_its_record() {
    let long = "a-host-name-of-forty-bytes.example.org.";
    let mut reg = Registry::new(7200, 10, 10);
    let asker = register(&mut reg, 1, None, T0).cookie;
    let mut decided = reg
        .decide_register(
            Registrant::new(long, "Linux", 2, None, LOCAL),
            T0,
            cookies(),
        )
        .unwrap();
    for event in &decided.events {
        reg.apply(event);
    }
    // "Linux" and the long name
    assert_eq!(reg.counts().names, 2);
    assert_eq!(reg.view(decided.cookie, T0).unwrap().host, long);
    let lines = list(&mut reg, asker, T0).unwrap();
    assert!(
        lines[0].starts_with(&format!("{long}&*127.0.0.1&*2&*")),
        "{lines:?}"
    );
    // a 19-byte name is the longest kept in place
    let fits = "nineteen-bytes-long";
    assert_eq!(fits.len(), 19);
    let registrant = Registrant::new(fits, "Linux", 2, Some(decided.cookie), LOCAL);
    decided = reg.decide_register(registrant, T0 + 1, cookies()).unwrap();
    for event in &decided.events {
        reg.apply(event);
    }
    assert_eq!(
        reg.counts().names,
        1,
        "the long name went with its last use"
    );
    assert_eq!(reg.view(decided.cookie, T0 + 1).unwrap().host, fits);
    reg.check().unwrap();
}

#[test]
fn ttl_resets_keep_one_wheel_entry_per_peer() {
    let mut reg = Registry::new(10, 100, 100);
    let a = register(&mut reg, 1, None, T0).cookie;
    let b = register(&mut reg, 2, None, T0).cookie;
    for step in 1..=1000 {
        reg.keep_alive(a, T0 + step).unwrap();
        list(&mut reg, b, T0 + step).unwrap();
    }
    assert_eq!(reg.counts().wheel_entries, 2);
    // the sweep files them again at their later deadlines, and expires
    // them in time
    assert_eq!(reg.expire_due(T0 + 10_999, 100).expired, 0);
    assert_eq!(reg.counts().wheel_entries, 2);
    assert!(reg.view(a, T0 + 10_999).unwrap().active);
    assert_eq!(reg.expire_due(T0 + 12_000, 100).expired, 2);
    assert_eq!(reg.counts().wheel_entries, 0);
    // leaving and coming back does not add entries either
    let c = register(&mut reg, 3, None, T0 + 20_000).cookie;
    leave(&mut reg, c, T0 + 20_001);
    register(&mut reg, 3, Some(c), T0 + 20_002);
    assert_eq!(reg.counts().wheel_entries, 1);
    reg.check().unwrap();
}

#[test]
fn a_peer_queries_a_burst_at_once_then_at_the_steady_rate() {
    let mut reg = Registry::new(7200, 100, 100);
    let a = register(&mut reg, 1, None, T0).cookie;
    let b = register(&mut reg, 2, None, T0).cookie;
    let pace = Pace::new(10, 3); // every 100 ms, 3 at once
                                 // Three at once, then each waits one interval more than the last.
    let waits: Vec<u64> = (0..6).map(|_| reg.pace_query(a, T0, pace)).collect();
    assert_eq!(waits, [0, 0, 0, 100, 200, 300]);
    // Another peer is not held up by a's bookings.
    assert_eq!(reg.pace_query(b, T0, pace), 0);
    // A peer that waits as told is answered at once, at the rate.
    let mut reg = Registry::new(7200, 100, 100);
    let a = register(&mut reg, 1, None, T0).cookie;
    for k in 0..3 {
        assert_eq!(reg.pace_query(a, T0, pace), 0, "query {k}");
    }
    for k in 1..=5 {
        assert_eq!(reg.pace_query(a, T0 + 100 * k, pace), 0);
    }
    // After a quiet spell the whole burst is available again.
    let later = T0 + 10_000;
    let waits: Vec<u64> = (0..4).map(|_| reg.pace_query(a, later, pace)).collect();
    assert_eq!(waits, [0, 0, 0, 100]);
    // Bookings long past (the u32 clock wrapped) start afresh.
    let much_later = T0 + 60 * 86_400_000;
    assert_eq!(reg.pace_query(a, much_later, pace), 0);
    // No pacing, an unknown cookie: no wait.
    assert_eq!(reg.pace_query(a, T0, Pace::new(0, 1)), 0);
    assert_eq!(reg.pace_query(42, T0, pace), 0);
}

#[test]
fn stored_records_restore_to_the_same_table() {
    let mut reg = Registry::new(7200, 100, 100);
    let a = register(&mut reg, 1, None, T0).cookie;
    for k in 1..=3 {
        register(&mut reg, 1, Some(a), T0 + 1000 * k);
    }
    register_from(&mut reg, "::1".parse().unwrap(), 2, None, T0).unwrap();
    let long = "a-host-name-longer-than-nineteen-bytes";
    let decided = reg
        .decide_register(Registrant::new(long, "BSD", 4, None, LOCAL), T0, cookies())
        .unwrap();
    decided.events.iter().for_each(|e| reg.apply(e));
    let gone = register(&mut reg, 3, None, T0).cookie;
    leave(&mut reg, gone, T0 + 2);
    let back = restored(&reg);
    // By cookie: a record's place in the table may differ.
    let sorted = |reg: &Registry| {
        let mut v = reg.all(T0 + 5);
        v.sort_by_key(|r| r.cookie);
        v.iter_mut().for_each(|r| r.id = 0);
        v
    };
    assert_eq!(sorted(&back), sorted(&reg));
    assert_eq!(back.view(a, T0 + 5).unwrap().registrations_30d, 4);
    back.check().unwrap();
    // Restored, the table goes on as the original would.
    let (mut reg, mut back) = (reg, back);
    for table in [&mut reg, &mut back] {
        register(table, 1, Some(a), T0 + 9000);
        leave(table, a, T0 + 9001);
    }
    assert_eq!(sorted(&back), sorted(&reg));
    back.check().unwrap();
}

/// `reg` stored and restored into a new table, as recovery does.
pub(super) fn restored(reg: &Registry) -> Registry {
    let mut back = Registry::new(7200, 100, 100);
    let mut from = Some(0);
    while let Some(at) = from {
        let mut records = Vec::new();
        from = reg.stored(at, 2, |record| {
            records.push((
                record.cookie,
                record.deadline_ms,
                record.last_registered_s,
                record.port,
                record.address,
                record.host.to_owned(),
                record.os.to_owned(),
                record.registrations.to_vec(),
            ))
        });
        for (cookie, deadline_ms, last_registered_s, port, address, host, os, times) in &records {
            back.restore(&StoredRecord {
                cookie: *cookie,
                deadline_ms: *deadline_ms,
                last_registered_s: *last_registered_s,
                port: *port,
                address: *address,
                host,
                os,
                registrations: times,
            });
        }
    }
    let cookies = CookieIndex::build(&back.restored_cookies()).unwrap();
    back.index_restored();
    back.install_cookie_index(cookies);
    back
}

#[test]
fn a_restored_peer_registers_again_on_another_port() {
    let mut reg = Registry::new(7200, 100, 100);
    let here: IpAddr = "10.0.0.9".parse().unwrap();
    let a = register_from(&mut reg, here, 1, None, T0).unwrap().cookie;
    let mut back = restored(&reg);
    back.check().unwrap();
    let again = register_from(&mut back, here, 7, Some(a), T0 + 1).unwrap();
    assert_eq!((again.cookie, again.new), (a, false));
    back.check().unwrap();
}
