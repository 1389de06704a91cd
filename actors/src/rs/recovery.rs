//! Reading the registry's state back at start (or after a restart of the
//! registry): the snapshot restored, the journals after it replayed.
//!
//! Recovery reads the snapshot (generation `S`, or none: 0), then replays
//! `journal.S`, `journal.S+1`, ... in order (a compaction that did not
//! commit leaves two). A record's snapshot slice carries a marker, the
//! sequence number up to which every event was in the table when the slice
//! was encoded: replay skips that record's events up to it. Recovery
//! refuses to guess: a record that fails its checksum or does not parse
//! stops the start with the file and record number named. The only repair
//! made is dropping a torn tail of the last journal (a record cut short by
//! a crash), which no reply acknowledged.
//!
//! Its cost is linear in what it reads, with a small constant: a replayed
//! event is one lookup by cookie and the O(1) change it makes, whatever
//! the table holds (see `state::registry`); a restored record is appended,
//! and the indexes are built in one pass, the cookie index on a second
//! core.

use super::format::{self, FormatError, RecordReader, Take};
use super::journal::{io_err, Compacted, JournalError};
use crate::state::registry::{CookieIndex, DuplicateCookie, Inconsistency, Registry, StoredRecord};
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

pub(super) const SNAPSHOT: &str = "snapshot";
pub(super) const SNAPSHOT_TMP: &str = "snapshot.tmp";

/// What is wrong with a damaged state file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Damage {
    /// A record does not read.
    #[error("{0}")]
    Format(#[from] FormatError),
    /// A journal that is not the last ends inside a record.
    #[error("cut short, and a later journal follows")]
    TornBeforeLater,
    /// The file does not start as a snapshot does.
    #[error("not a snapshot")]
    NotASnapshot,
    /// The snapshot has no trailer.
    #[error("no end mark (cut short)")]
    NoEndMark,
    /// The snapshot's hash does not match its content.
    #[error("checksum mismatch")]
    SnapshotChecksum,
    /// A slice header or its records run past the content.
    #[error("slice cut short")]
    SliceCutShort,
    /// A slice holds bytes after its records.
    #[error("bytes after a slice's records")]
    SliceTrailing,
    /// The trailer's record count is not what the slices hold.
    #[error("record count does not match")]
    RecordCount,
    /// Two records have one cookie.
    #[error("{0}")]
    Duplicate(#[from] DuplicateCookie),
    /// The table read back breaks an invariant.
    #[error("{0}")]
    Inconsistent(#[from] Inconsistency),
}

/// What recovery found.
#[derive(Debug)]
pub struct Recovered {
    /// The rebuilt table.
    pub registry: Registry,
    /// The generation of the journal to append to.
    pub generation: u64,
    /// The sequence number of the next event.
    pub next_seq: u64,
    /// Records restored from the snapshot.
    pub snapshot_records: usize,
    /// Events replayed from the journals.
    pub journal_events: usize,
    /// Events the snapshot held already (skipped).
    pub skipped_events: usize,
    /// Whether a torn tail was dropped.
    pub dropped_torn_tail: bool,
    /// Length of the journal appended to (all of it whole).
    pub journal_bytes: u64,
}

/// Where the journal of `generation` lives in the state folder `dir`
/// (events appended as `format::put_event` writes them).
pub fn journal_path(dir: &Path, generation: u64) -> PathBuf {
    dir.join(format!("journal.{generation}"))
}

/// The generations of the journals in `dir`, in order.
pub(super) fn journal_generations(dir: &Path) -> Result<Vec<u64>, JournalError> {
    let mut generations: Vec<u64> = fs::read_dir(dir)
        .map_err(io_err(dir))?
        .flatten()
        .filter_map(|entry| {
            entry
                .file_name()
                .to_str()?
                .strip_prefix("journal.")?
                .parse()
                .ok()
        })
        .collect();
    generations.sort_unstable();
    Ok(generations)
}

fn corrupt(path: &Path, record: usize, what: impl Into<Damage>) -> JournalError {
    JournalError::Corrupt {
        path: path.to_owned(),
        record,
        what: what.into(),
    }
}

/// Reads the state in `dir` into a table with the given TTL and caps. A
/// folder that does not exist is created and starts empty.
pub fn recover(
    dir: &Path,
    ttl_secs: u64,
    max_peers: usize,
    max_peers_per_address: usize,
) -> Result<Recovered, JournalError> {
    if !dir.exists() {
        fs::create_dir_all(dir).map_err(io_err(dir))?;
    }
    let mut registry = Registry::new(ttl_secs, max_peers, max_peers_per_address);
    let snapshot = dir.join(SNAPSHOT);
    // Per slot, the sequence number its snapshot slice was taken at.
    let mut markers: Vec<u64> = Vec::new();
    let (base, snapshot_records) = if snapshot.exists() {
        read_snapshot(&snapshot, &mut registry, &mut markers)?
    } else {
        (0, 0)
    };
    let mut next_seq = markers.iter().copied().max().map_or(0, |m| m + 1);
    let generations: Vec<u64> = journal_generations(dir)?
        .into_iter()
        .filter(|g| *g >= base)
        .collect();
    let mut recovered = Recovered {
        registry,
        generation: generations.last().copied().unwrap_or(base),
        next_seq: 0,
        snapshot_records,
        journal_events: 0,
        skipped_events: 0,
        dropped_torn_tail: false,
        journal_bytes: 0,
    };
    // Room, at once, for every record the journals could add: a
    // registration takes at least `MIN_REGISTERED` bytes. What is not used
    // is given back after.
    let journal_bytes: u64 = generations
        .iter()
        .filter_map(|g| fs::metadata(journal_path(dir, *g)).ok())
        .map(|m| m.len())
        .sum();
    let could_add = (journal_bytes / format::MIN_REGISTERED as u64) as usize;
    recovered
        .registry
        .reserve(could_add.min(max_peers.saturating_sub(recovered.registry.len())));
    for (i, generation) in generations.iter().enumerate() {
        let last = i + 1 == generations.len();
        let path = journal_path(dir, *generation);
        let whole = replay_journal(&path, last, &markers, &mut recovered, &mut next_seq)?;
        if last {
            recovered.journal_bytes = whole;
        }
    }
    recovered.registry.shrink_reserved();
    recovered
        .registry
        .check()
        .map_err(|what| corrupt(dir, 0, what))?;
    // Journals before the snapshot's generation are leftovers of a
    // compaction that crashed after its commit point.
    for generation in journal_generations(dir)? {
        if generation < base {
            let _ = fs::remove_file(journal_path(dir, generation));
        }
    }
    let _ = fs::remove_file(dir.join(SNAPSHOT_TMP));
    recovered.next_seq = next_seq;
    Ok(recovered)
}

/// Restores the snapshot at `path` into `registry`; fills `markers` per
/// slot. Returns its generation and record count.
fn read_snapshot(
    path: &Path,
    registry: &mut Registry,
    markers: &mut Vec<u64>,
) -> Result<(u64, usize), JournalError> {
    let mut bytes = Vec::new();
    File::open(path)
        .and_then(|mut file| file.read_to_end(&mut bytes))
        .map_err(io_err(path))?;
    if bytes.len() < format::HEADER_LEN + format::TRAILER_LEN
        || &bytes[..8] != format::SNAPSHOT_MAGIC
    {
        return Err(corrupt(path, 0, Damage::NotASnapshot));
    }
    let (content, end) = bytes.split_at(bytes.len() - format::TRAILER_LEN);
    if &end[..8] != format::TRAILER_MAGIC {
        return Err(corrupt(path, 0, Damage::NoEndMark));
    }
    if blake3::hash(content).as_bytes() != &end[16..48] {
        return Err(corrupt(path, 0, Damage::SnapshotChecksum));
    }
    let mut header = Take::new(&content[8..format::HEADER_LEN]);
    let generation = header.u64().map_err(|e| corrupt(path, 0, e))?;
    let total = Take::new(&end[8..16])
        .u64()
        .map_err(|e| corrupt(path, 0, e))? as usize;
    registry.reserve(total);
    markers.reserve(total);
    let mut reader = RecordReader::default();
    let mut restored = 0;
    let mut at = format::HEADER_LEN;
    while at < content.len() {
        let mut head = Take::new(&content[at..]);
        let (marker, count, len) = format::take_slice_header(&mut head)
            .map_err(|_| corrupt(path, restored + 1, Damage::SliceCutShort))?;
        at += format::SLICE_HEADER_LEN;
        let slice = content
            .get(at..at + len)
            .ok_or_else(|| corrupt(path, restored + 1, Damage::SliceCutShort))?;
        at += len;
        let mut records = Take::new(slice);
        for _ in 0..count {
            let record = reader
                .take(&mut records)
                .map_err(|e| corrupt(path, restored + 1, e))?;
            let slot = registry.restore(&record).get() as usize;
            restored += 1;
            if markers.len() <= slot {
                markers.resize(slot + 1, 0);
            }
            markers[slot] = marker;
        }
        if records.read() != slice.len() {
            return Err(corrupt(path, restored, Damage::SliceTrailing));
        }
    }
    if restored != total {
        return Err(corrupt(path, 0, Damage::RecordCount));
    }
    index_restored(registry).map_err(|e| corrupt(path, 0, e))?;
    Ok((generation, restored))
}

/// Indexes a restored table, its cookie index built on a second core.
fn index_restored(registry: &mut Registry) -> Result<(), DuplicateCookie> {
    let cookies = registry.restored_cookies();
    let built = std::thread::scope(|scope| {
        let building = scope.spawn(|| CookieIndex::build(&cookies));
        registry.index_restored();
        building
            .join()
            .unwrap_or_else(|_| CookieIndex::build(&cookies))
    })?;
    registry.install_cookie_index(built);
    Ok(())
}

/// Records checked ahead of replay, in batches, from the second core.
enum Ahead {
    /// Whole records: where each starts and how long it is.
    Records(Vec<(usize, usize)>),
    /// The journal ends inside a record starting here.
    Torn(usize),
    /// The record of this number (from 1; 0: the one after the last
    /// applied) is damaged.
    Damaged(usize, FormatError),
}

/// Records checked per batch handed to replay.
const BATCH: usize = 16_384;

/// Checks every record of `bytes` (length and checksum) in order, handing
/// them over in batches; ends with the first torn or damaged one.
fn check_ahead(bytes: &[u8], to: std::sync::mpsc::SyncSender<Ahead>) {
    let mut batch = Vec::with_capacity(BATCH);
    let mut at = 0;
    let ending = loop {
        if at == bytes.len() {
            break None;
        }
        match format::check_event(&bytes[at..]) {
            format::Checked::Whole(len) => {
                batch.push((at, len));
                at += len;
                if batch.len() == BATCH
                    && to
                        .send(Ahead::Records(std::mem::replace(
                            &mut batch,
                            Vec::with_capacity(BATCH),
                        )))
                        .is_err()
                {
                    return;
                }
            }
            format::Checked::Torn => break Some(Ahead::Torn(at)),
            format::Checked::Damaged(err) => break Some(Ahead::Damaged(0, err)),
        }
    };
    let _ = to.send(Ahead::Records(batch));
    if let Some(ending) = ending {
        let _ = to.send(ending);
    }
}

/// Replays the journal at `path`; the last journal may end in a torn
/// record, which is cut off. Returns the length of what it holds whole.
/// Records are checked on a second core while this one applies them.
fn replay_journal(
    path: &Path,
    last: bool,
    markers: &[u64],
    recovered: &mut Recovered,
    next_seq: &mut u64,
) -> Result<u64, JournalError> {
    let bytes = fs::read(path).map_err(io_err(path))?;
    // Every slot's marker is at most the highest: events after it were
    // never in the snapshot, and need no lookup.
    let highest = markers.iter().copied().max();
    let (to, from) = std::sync::mpsc::sync_channel(4);
    let mut whole = 0;
    let mut record = 0;
    let ending = std::thread::scope(|scope| {
        let bytes = &bytes;
        scope.spawn(move || check_ahead(bytes, to));
        for ahead in from {
            let Ahead::Records(batch) = ahead else {
                return Some(ahead);
            };
            for (at, len) in batch {
                record += 1;
                let (seq, event) = match format::event_of_checked(&bytes[at..at + len]) {
                    Ok(read) => read,
                    Err(err) => return Some(Ahead::Damaged(record, err)),
                };
                whole = at + len;
                *next_seq = (*next_seq).max(seq + 1);
                // The snapshot holds this record as of its slice's marker.
                let held = highest.is_some_and(|highest| seq <= highest)
                    && recovered
                        .registry
                        .slot_index(event.cookie())
                        .and_then(|slot| markers.get(slot))
                        .is_some_and(|marker| seq <= *marker);
                if held {
                    recovered.skipped_events += 1;
                } else {
                    recovered.registry.apply_ref(event);
                    recovered.journal_events += 1;
                }
            }
        }
        None
    });
    match ending {
        None => {}
        Some(Ahead::Torn(at)) if last => {
            let file = OpenOptions::new()
                .write(true)
                .open(path)
                .map_err(io_err(path))?;
            file.set_len(at as u64).map_err(io_err(path))?;
            file.sync_all().map_err(io_err(path))?;
            recovered.dropped_torn_tail = true;
        }
        Some(Ahead::Torn(_)) => {
            return Err(corrupt(path, record + 1, Damage::TornBeforeLater));
        }
        Some(Ahead::Damaged(number, what)) => {
            // Checked ahead: it follows every record applied.
            let number = if number == 0 { record + 1 } else { number };
            return Err(corrupt(path, number, what));
        }
        Some(Ahead::Records(_)) => {}
    }
    Ok(whole as u64)
}

/// Writes `registry` whole as the snapshot of a fresh state folder `dir`
/// (generation 0, every record as of sequence number 0), synced: a state
/// prepared off line, e.g. by a benchmark.
pub fn write_snapshot(dir: &Path, registry: &Registry) -> Result<Compacted, JournalError> {
    fs::create_dir_all(dir).map_err(io_err(dir))?;
    let mut content = Vec::with_capacity(registry.len() * 64 + 64);
    format::put_header(0, &mut content);
    let mut from = Some(0);
    let mut records = 0u64;
    while let Some(at) = from {
        let (slice, count, next) = encode_slice(registry, at, 65_536);
        format::put_slice_header(0, count, slice.len(), &mut content);
        content.extend_from_slice(&slice);
        records += u64::from(count);
        from = next;
    }
    let hash = blake3::hash(&content);
    format::put_trailer(records, &hash, &mut content);
    let path = dir.join(SNAPSHOT);
    File::create(&path)
        .and_then(|mut file| {
            file.write_all(&content)?;
            file.sync_all()
        })
        .map_err(io_err(&path))?;
    crate::sys::durable::sync_dir(dir).map_err(io_err(dir))?;
    Ok(Compacted {
        generation: 0,
        records,
        bytes: content.len() as u64,
    })
}

/// Encodes the records of slots `from..from + max`: the bytes, how many,
/// and the slot to go on from.
pub fn encode_slice(registry: &Registry, from: usize, max: usize) -> (Vec<u8>, u32, Option<usize>) {
    let mut bytes = Vec::with_capacity(max.min(1 << 16) * 48);
    let mut count = 0;
    let next = registry.stored(from, max, |record: StoredRecord<'_>| {
        format::put_record(&record, &mut bytes);
        count += 1;
    });
    (bytes, count, next)
}

#[cfg(test)]
mod timing {
    use super::*;
    use crate::state::registry::EventRef;
    use std::net::{IpAddr, Ipv4Addr};

    /// A journal of `n` first registrations, `per_address` peers to an
    /// address (ports differing), written straight to `dir`.
    pub(crate) fn journal_of(dir: &Path, n: u32, per_address: u32, at_ms: u64) {
        let mut bytes = Vec::with_capacity(n as usize * 64);
        for k in 0..n {
            let address = IpAddr::V4(Ipv4Addr::from(0x7f01_0000 + k / per_address));
            let host = format!("peer-{k}");
            let event = EventRef::Registered {
                cookie: u64::from(k).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 1,
                host: &host,
                os: "Linux",
                port: (1000 + k % per_address) as u16,
                address,
                at_ms,
            };
            format::put_event(u64::from(k), event, &mut bytes);
        }
        fs::create_dir_all(dir).unwrap();
        fs::write(journal_path(dir, 0), bytes).unwrap();
    }

    #[test]
    #[ignore = "a timing probe: cargo test --release -p p2p-di-actors --lib recovery::timing -- --ignored --nocapture"]
    fn time_replaying_a_million_registrations() {
        for per_address in [1, 60_000] {
            let dir = tempfile::tempdir().unwrap();
            journal_of(dir.path(), 1_000_000, per_address, crate::now_ms());
            for _ in 0..2 {
                let started = std::time::Instant::now();
                let back = recover(dir.path(), 7200, 2_000_000, 100_000).unwrap();
                let took = started.elapsed();
                eprintln!(
                    "{per_address} per address: {} events in {took:?} ({:.0} events/s)",
                    back.journal_events,
                    back.journal_events as f64 / took.as_secs_f64()
                );
            }
        }
    }
}
