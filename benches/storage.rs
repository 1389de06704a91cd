//! The RS's storage, ours against a well-kept embedded store (redb), on
//! the same figures. `cargo bench --bench storage` (options after `--`:
//! `--peers N` (1,000,000), `--secs S` (5), `--clients N` (16)).
//!
//! 1. Durable REGISTERs: `clients` writers each hand over one registration
//!    and wait until it is on disk; each store commits together whatever
//!    is queued (group commit: one fsync, one transaction).
//! 2. N peers on disk: bytes per peer; then a restart: the store opened and
//!    the RS's in-memory table rebuilt from it (the RS needs it for TTLs
//!    and sampling whichever store keeps the records), and the resident
//!    memory that takes (each store in a process of its own, so that one's
//!    freed memory does not flatter the other).
//! 3. A full disk (as root: a 1 MiB tmpfs): write until the store refuses,
//!    free the space, write again without a restart, then reopen: are all
//!    acknowledged writes there, and does the store start at all?

#[path = "support/mod.rs"]
mod support;

use p2p_di_actors::rs::journal::Journal;
use p2p_di_actors::rs::{format, recovery};
use p2p_di_actors::state::registry::{Event, Registrant, Registry};
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use std::path::Path;
use std::sync::mpsc;
use std::time::{Duration, Instant};
use support::*;

const PEERS: TableDefinition<u64, &[u8]> = TableDefinition::new("peers");

fn registered(cookie: u64, k: u32) -> Event {
    Event::Registered {
        cookie,
        host: format!("peer-{k}"),
        os: "Linux".into(),
        port: 65400,
        address: peer_address(k),
        at_ms: p2p_di_actors::now_ms(),
    }
}

/// The bytes a store keeps for an event: the journal's record.
fn record(seq: u64, event: &Event) -> Vec<u8> {
    let mut out = Vec::with_capacity(80);
    format::put_event(seq, event.as_ref(), &mut out);
    out
}

/// A store the RS could keep its changes in.
trait Store: Send {
    /// Makes these events durable together.
    fn commit(&mut self, events: &[(u64, Event)]) -> Result<(), String>;
}

/// Our journal: its writer thread does the grouping itself.
struct Ours(Journal);

impl Store for Ours {
    fn commit(&mut self, events: &[(u64, Event)]) -> Result<(), String> {
        self.0
            .append_durable(events)
            .blocking_recv()
            .map_err(|e| e.to_string())?
            .map_err(|e| e.to_string())
    }
}

/// redb: one write transaction per group, committed durably.
struct Redb(Database);

impl Store for Redb {
    fn commit(&mut self, events: &[(u64, Event)]) -> Result<(), String> {
        let txn = self.0.begin_write().map_err(|e| e.to_string())?;
        {
            let mut table = txn.open_table(PEERS).map_err(|e| e.to_string())?;
            for (seq, event) in events {
                table
                    .insert(event.cookie(), record(*seq, event).as_slice())
                    .map_err(|e| e.to_string())?;
            }
        }
        txn.commit().map_err(|e| e.to_string())
    }
}

type Ack = mpsc::Sender<Result<(), String>>;

/// Durable registrations per second by `clients` writers for `secs`: a
/// committer thread takes every queued registration and commits them
/// together (for ours, the journal's own thread groups them too).
fn durable_rate(mut store: Box<dyn Store>, clients: usize, secs: f64) -> f64 {
    let (tx, rx) = mpsc::channel::<((u64, Event), Ack)>();
    let committer = std::thread::spawn(move || {
        while let Ok(first) = rx.recv() {
            let mut batch = vec![first];
            while let Ok(more) = rx.try_recv() {
                batch.push(more);
            }
            let events: Vec<(u64, Event)> = batch.iter().map(|(e, _)| e.clone()).collect();
            let result = store.commit(&events);
            for (_, ack) in batch {
                let _ = ack.send(result.clone());
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs_f64(secs);
    let writers: Vec<_> = (0..clients)
        .map(|c| {
            let tx = tx.clone();
            std::thread::spawn(move || {
                let mut done = 0u64;
                while Instant::now() < deadline && done < 10_000_000 {
                    let k = (c as u64 * 10_000_000 + done) as u32;
                    let (ack, acked) = mpsc::channel();
                    let event = (u64::from(k), registered(1 + u64::from(k), k));
                    if tx.send((event, ack)).is_err() || !matches!(acked.recv(), Ok(Ok(()))) {
                        break;
                    }
                    done += 1;
                }
                done
            })
        })
        .collect();
    drop(tx);
    let started = Instant::now();
    let total: u64 = writers.into_iter().map(|w| w.join().unwrap_or(0)).sum();
    let rate = total as f64 / started.elapsed().as_secs_f64();
    let _ = committer.join();
    rate
}

fn quiet() -> slog::Logger {
    slog::Logger::root(slog::Discard, slog::o!())
}

fn ours_at(dir: &Path) -> (Journal, p2p_di_actors::supervise::FatalReceiver) {
    let recovered = recovery::recover(dir, 7200, 2_000_000, 256).unwrap();
    let (fatal, fatal_rx) = p2p_di_actors::supervise::fatal_channel();
    (
        Journal::start(dir, &recovered, quiet(), fatal, None).unwrap(),
        fatal_rx,
    )
}

/// N registrations applied to a table (what both stores are filled with).
fn table_of(n: u32) -> (Registry, Vec<(u64, Event)>) {
    let mut registry = Registry::new(7200, 2_000_000, 256);
    let now = p2p_di_actors::now_ms();
    let mut next = 1_000_000_000_000_000u64;
    let mut events = Vec::with_capacity(n as usize);
    for k in 0..n {
        let host = format!("peer-{k}");
        let decided = registry
            .decide_register(
                Registrant::new(&host, "Linux", 65400, None, peer_address(k)),
                now,
                || {
                    next += 7919;
                    next
                },
            )
            .unwrap();
        for event in decided.events {
            registry.apply(&event);
            events.push((u64::from(k), event));
        }
    }
    (registry, events)
}

fn file_bytes(path: &Path) -> u64 {
    if path.is_dir() {
        std::fs::read_dir(path)
            .map(|d| d.flatten().map(|e| file_bytes(&e.path())).sum())
            .unwrap_or(0)
    } else {
        std::fs::metadata(path).map_or(0, |m| m.len())
    }
}

struct AtScale {
    disk_bytes: u64,
    restart: Duration,
    rss_bytes: u64,
}

/// Ours: the table written as a snapshot, then recovered.
fn ours_at_scale(dir: &Path, registry: &Registry) -> AtScale {
    recovery::write_snapshot(dir, registry).unwrap();
    let before = rss_bytes(std::process::id());
    let started = Instant::now();
    let recovered = recovery::recover(dir, 7200, 2_000_000, 256).unwrap();
    let restart = started.elapsed();
    let rss = rss_bytes(std::process::id()).saturating_sub(before);
    assert_eq!(recovered.registry.len(), registry.len());
    AtScale {
        disk_bytes: file_bytes(dir),
        restart,
        rss_bytes: rss,
    }
}

/// redb: the records inserted in transactions of 10,000, then the store
/// reopened and the table rebuilt from it.
fn redb_at_scale(path: &Path, events: &[(u64, Event)]) -> AtScale {
    {
        let db = Database::create(path).unwrap();
        for chunk in events.chunks(10_000) {
            let txn = db.begin_write().unwrap();
            {
                let mut table = txn.open_table(PEERS).unwrap();
                for (seq, event) in chunk {
                    table
                        .insert(event.cookie(), record(*seq, event).as_slice())
                        .unwrap();
                }
            }
            txn.commit().unwrap();
        }
    }
    let before = rss_bytes(std::process::id());
    let started = Instant::now();
    let db = Database::open(path).unwrap();
    let mut registry = Registry::new(7200, 2_000_000, 256);
    {
        let txn = db.begin_read().unwrap();
        let table = txn.open_table(PEERS).unwrap();
        for entry in table.iter().unwrap() {
            let (_, value) = entry.unwrap();
            if let format::Decoded::Record(_, event, _) = format::take_event(value.value()) {
                registry.apply_ref(event);
            }
        }
    }
    let restart = started.elapsed();
    let rss = rss_bytes(std::process::id()).saturating_sub(before);
    assert_eq!(registry.len(), events.len());
    drop(db);
    AtScale {
        disk_bytes: file_bytes(path),
        restart,
        rss_bytes: rss,
    }
}

/// A tmpfs of 1 MiB, unmounted when dropped; `None` when it cannot be
/// mounted (not root, or not Linux).
struct SmallDisk(std::path::PathBuf);

impl SmallDisk {
    fn mount(dir: &Path) -> Option<SmallDisk> {
        std::fs::create_dir_all(dir).ok()?;
        let ok = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=1m", "p2p-di-bench"])
            .arg(dir)
            .status()
            .ok()?
            .success();
        ok.then(|| SmallDisk(dir.to_owned()))
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.0)
            .status();
    }
}

/// What a full disk did to a store.
struct FullDisk {
    acknowledged: usize,
    refused_cleanly: bool,
    wrote_after_space_returned: bool,
    reopened: Result<usize, String>,
}

/// Writes one registration at a time until `commit` refuses, frees the
/// filler, writes once more, then counts what `reopen` finds.
fn full_disk(
    disk: &Path,
    mut store: Box<dyn Store>,
    reopen: impl FnOnce(Box<dyn Store>) -> Result<Vec<u64>, String>,
) -> FullDisk {
    // leave a few KiB free
    let filler = disk.join("filler");
    {
        use std::io::Write;
        let mut file = std::fs::File::create(&filler).unwrap();
        while file.write_all(&[0u8; 4096]).is_ok() {}
    }
    let len = std::fs::metadata(&filler).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&filler)
        .unwrap()
        .set_len(len.saturating_sub(64 * 1024))
        .unwrap();
    let mut acknowledged = Vec::new();
    let mut refused = false;
    for k in 0..100_000u32 {
        let cookie = 1 + u64::from(k);
        match store.commit(&[(u64::from(k), registered(cookie, k))]) {
            Ok(()) => acknowledged.push(cookie),
            Err(_) => {
                refused = true;
                break;
            }
        }
    }
    std::fs::remove_file(&filler).unwrap();
    let again = store
        .commit(&[(9_999_999, registered(9_999_999, 9_999_999))])
        .is_ok();
    if again {
        acknowledged.push(9_999_999);
    }
    let reopened = reopen(store).map(|found| {
        acknowledged
            .iter()
            .filter(|cookie| found.contains(cookie))
            .count()
    });
    FullDisk {
        acknowledged: acknowledged.len(),
        refused_cleanly: refused,
        wrote_after_space_returned: again,
        reopened,
    }
}

fn describe(full: &Option<FullDisk>) -> String {
    match full {
        None => "not measured (needs root for a tmpfs)".into(),
        Some(f) => format!(
            "refused cleanly: {}; wrote again once space returned: {}; reopened with {} of {} acknowledged",
            f.refused_cleanly,
            f.wrote_after_space_returned,
            f.reopened.as_ref().map_or_else(|e| format!("an error ({e})"), |n| n.to_string()),
            f.acknowledged
        ),
    }
}

fn lines_of_code(path: &str) -> usize {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let code = text.split("#[cfg(test)]").next().unwrap_or("");
    code.lines()
        .filter(|l| {
            let l = l.trim();
            !l.is_empty() && !l.starts_with("//")
        })
        .count()
}

/// Phase 2 for one store, in this process: prints its figures on a line.
fn scale_only(store: &str, peers: u32) {
    let root = tempfile::tempdir().unwrap();
    let (registry, events) = table_of(peers);
    let at = if store == "ours" {
        drop(events);
        ours_at_scale(&root.path().join("ours-scale"), &registry)
    } else {
        drop(registry);
        redb_at_scale(&root.path().join("scale.redb"), &events)
    };
    println!(
        "SCALE {} {} {}",
        at.disk_bytes,
        at.restart.as_secs_f64(),
        at.rss_bytes
    );
}

/// Phase 2 for `store` in a child process of this benchmark.
fn scale_in_child(store: &str, peers: u32) -> AtScale {
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--scale-only", store, "--peers", &peers.to_string()])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .find_map(|l| l.strip_prefix("SCALE "))
        .unwrap_or_else(|| panic!("{store}: {text} {}", String::from_utf8_lossy(&out.stderr)));
    let f: Vec<f64> = line.split(' ').map(|v| v.parse().unwrap()).collect();
    AtScale {
        disk_bytes: f[0] as u64,
        restart: Duration::from_secs_f64(f[1]),
        rss_bytes: f[2] as u64,
    }
}

fn main() {
    let peers: u32 = arg("--peers", 1_000_000);
    let only: String = arg("--scale-only", String::new());
    if !only.is_empty() {
        scale_only(&only, peers);
        return;
    }
    let secs: f64 = arg("--secs", 5.0);
    let clients: usize = arg("--clients", 16);
    let root = tempfile::tempdir().unwrap();
    println!("Storage: ours against redb; {clients} writers, {peers} peers");

    // 1. durable group-committed registrations
    let ours_dir = root.path().join("ours-rate");
    let (journal, _fatal) = ours_at(&ours_dir);
    let ours_rate = durable_rate(Box::new(Ours(journal)), clients, secs);
    let redb_rate = durable_rate(
        Box::new(Redb(
            Database::create(root.path().join("rate.redb")).unwrap(),
        )),
        clients,
        secs,
    );

    // 2. N peers on disk, and a restart
    let ours = scale_in_child("ours", peers);
    let redb = scale_in_child("redb", peers);

    // 3. a full disk
    let (ours_full, redb_full) = match SmallDisk::mount(&root.path().join("disk")) {
        None => (None, None),
        Some(disk) => {
            let dir = disk.0.join("ours");
            let (journal, _fatal) = ours_at(&dir);
            let ours_full = full_disk(&disk.0, Box::new(Ours(journal)), |store| {
                drop(store);
                recovery::recover(&dir, 7200, 2_000_000, 256)
                    .map(|r| {
                        r.registry
                            .all(p2p_di_actors::now_ms())
                            .iter()
                            .map(|p| p.cookie)
                            .collect()
                    })
                    .map_err(|e| e.to_string())
            });
            let _ = std::fs::remove_dir_all(&dir);
            let path = disk.0.join("peers.redb");
            let db = Database::create(&path).unwrap();
            let redb_full = full_disk(&disk.0, Box::new(Redb(db)), |store| {
                drop(store);
                let db = Database::open(&path).map_err(|e| e.to_string())?;
                let txn = db.begin_read().map_err(|e| e.to_string())?;
                let table = txn.open_table(PEERS).map_err(|e| e.to_string())?;
                let mut found = Vec::new();
                for entry in table.iter().map_err(|e| e.to_string())? {
                    found.push(entry.map_err(|e| e.to_string())?.0.value());
                }
                Ok(found)
            });
            drop(disk);
            (Some(ours_full), Some(redb_full))
        }
    };

    let per_peer = |bytes: u64| bytes as f64 / f64::from(peers);
    let ours_code: usize = ["journal", "format", "recovery"]
        .iter()
        .map(|file| {
            lines_of_code(&format!(
                "{}/actors/src/rs/{file}.rs",
                env!("CARGO_MANIFEST_DIR")
            ))
        })
        .sum();
    println!();
    println!("| figure | ours (journal + snapshot) | redb 4 |");
    println!("|---|---:|---:|");
    println!("| durable REGISTERs/s, {clients} writers, group commit | {ours_rate:.0} | {redb_rate:.0} |");
    println!(
        "| bytes on disk per peer at {peers} | {:.0} | {:.0} |",
        per_peer(ours.disk_bytes),
        per_peer(redb.disk_bytes)
    );
    println!(
        "| restart at {peers}: open and rebuild the table | {:.2} s | {:.2} s |",
        ours.restart.as_secs_f64(),
        redb.restart.as_secs_f64()
    );
    println!(
        "| resident memory of the rebuilt table, per peer | {:.0} bytes | {:.0} bytes |",
        per_peer(ours.rss_bytes),
        per_peer(redb.rss_bytes)
    );
    println!(
        "| full disk | {} | {} |",
        describe(&ours_full),
        describe(&redb_full)
    );
    println!("| storage code of our own (lines, without tests) | {ours_code} | the same table-rebuild code, plus a store adapter |");
}
