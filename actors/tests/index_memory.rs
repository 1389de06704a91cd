//! What an RFC index record costs in memory: the heap an index grows by
//! per remote record, counted by a wrapping allocator (this test binary's
//! own), for a mirror-sized index.

use p2p_di_actors::state::index::{Holder, IndexLimits, RfcIndex};
use p2p_di_actors::wire::IndexRecord;
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

struct Counting;

thread_local! {
    /// Heap bytes live, as counted on this thread (tests run on threads of
    /// their own, side by side).
    static LIVE: Cell<isize> = const { Cell::new(0) };
}

fn count(bytes: isize) {
    // A thread being torn down has no counter left: not counted.
    let _ = LIVE.try_with(|live| live.set(live.get() + bytes));
}

fn live() -> isize {
    LIVE.with(Cell::get)
}

// SAFETY: every call is forwarded to the system allocator unchanged; the
// counter (a thread-local cell that allocates nothing) only adds and
// subtracts the sizes asked for.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count(layout.size() as isize);
        // SAFETY: the caller's layout, passed on.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        count(-(layout.size() as isize));
        // SAFETY: a pointer this allocator gave, with its layout.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count(new_size as isize - layout.size() as isize);
        // SAFETY: as for alloc and dealloc.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Bytes a typical RFC title takes (the series' mean is about 60).
const TITLE: &str = "A Title of Sixty Bytes for an RFC, as the Series Has Them";

#[test]
fn an_index_record_costs_under_two_hundred_bytes() {
    const HOLDERS: usize = 4;
    const PER_HOLDER: u32 = 25_000;
    let records: Vec<Vec<IndexRecord>> = (0..HOLDERS)
        .map(|h| {
            (1..=PER_HOLDER)
                .map(|number| IndexRecord {
                    number,
                    title: TITLE.into(),
                    host: format!("mirror-{h}.lab.example"),
                    port: 65400,
                    ttl_secs: 7200,
                })
                .collect()
        })
        .collect();
    let limits = IndexLimits {
        max_records: 1_000_000,
        max_records_per_holder: 100_000,
        max_bytes: 64 << 20,
    };
    let before = live();
    let mut index = RfcIndex::new(Holder::new("me", 1), limits);
    for batch in &records {
        index.merge(batch, |_| true, 0);
    }
    let grown = live() - before;
    let per_record = grown as f64 / (HOLDERS as f64 * f64::from(PER_HOLDER));
    eprintln!("{per_record:.0} bytes of heap per index record");
    assert_eq!(index.len(), HOLDERS * PER_HOLDER as usize);
    assert!(per_record < 200.0, "{per_record:.0} bytes a record");
}

fn records(host: &str, numbers: std::ops::Range<u32>, title: &str) -> Vec<IndexRecord> {
    numbers
        .map(|number| IndexRecord {
            number,
            title: title.into(),
            host: host.into(),
            port: 65400,
            ttl_secs: 7200,
        })
        .collect()
}

#[test]
fn hostile_holders_with_a_million_records_push_out_no_honest_one_at_the_default_limits() {
    let defaults = p2p_di_actors::config::PeerConfig::default();
    let limits = IndexLimits {
        max_records: defaults.max_index_records,
        max_records_per_holder: defaults.max_records_per_holder,
        max_bytes: defaults.limits.max_body_bytes,
    };
    let mut index = RfcIndex::new(Holder::new("me", 1), limits);
    // An honest mirror of the series, and a small honest holder.
    let mirror = index.merge(&records("mirror", 1..10_001, TITLE), |_| true, 0);
    assert_eq!(mirror.added, 10_000);
    index.merge(&records("small", 1..51, TITLE), |_| true, 0);
    // One hostile holder claims a million records: its share is taken.
    let flood = index.merge(&records("hostile-0", 1..1_000_001, "x"), |_| true, 0);
    assert_eq!(flood.added, defaults.max_records_per_holder);
    assert_eq!(flood.over_cap, 1_000_000 - defaults.max_records_per_holder);
    // More hostile names fill the index past its bound: they push one
    // another out, never an honest record.
    for k in 1..6 {
        let host = format!("hostile-{k}");
        index.merge(&records(&host, 1..100_001, "x"), |_| true, 0);
    }
    assert!(index.len() <= defaults.max_index_records);
    for number in [1, 5000, 10_000] {
        let holders = index.holders(number, 0);
        assert!(
            holders.iter().any(|(h, _)| &*h.host == "mirror"),
            "RFC {number}: {} holders, the mirror not among them",
            holders.len()
        );
    }
    assert!(index
        .holders(50, 0)
        .iter()
        .any(|(h, _)| &*h.host == "small"));
}
