//! The registry's durable state: a snapshot and append-only journals of
//! [`Event`]s, in `state_dir`, in a binary format read without per-record
//! allocation.
//!
//! # Files
//!
//! - `journal.G`: records `[len u32][check u64][seq u64][event]`, where
//!   `check` is the first 8 bytes of the BLAKE3 hash of `seq` and the
//!   event, and `seq` numbers every event the registry ever journaled.
//! - `snapshot`: the table as of generation `G`: a header (magic,
//!   generation), slices `[marker u64][count u32][len u32][records]`, and a
//!   trailer (record count, BLAKE3 of everything before it).
//!
//! # Writing
//!
//! Writes run on a thread of their own ([`Journal`]), so no actor blocks on
//! the disk. Appends that must be durable are batched: the thread takes
//! every append waiting in its queue, writes them, calls `fsync` once, and
//! then acknowledges them all (group commit). Appends that need not be
//! durable (TTL resets) are written with the next batch, no later than
//! [`LAZY_FLUSH`]. A failed or partial write truncates the journal back to
//! the length last written whole, so what follows never lands after a
//! broken record, and every append of the batch is answered with the
//! error: nothing it held is acknowledged. A full disk is one error per
//! episode in the log, never a damaged journal.
//!
//! # Compaction, off the registry's thread
//!
//! A compaction moves appends to `journal.G+1` at once, then receives the
//! table in slices that the registry encodes between requests, writes them
//! to `snapshot.tmp`, and renames it to `snapshot` (the commit point) once
//! the trailer is synced; the journals before `G+1` are removed then. A
//! record's slice carries a marker: the sequence number up to which every
//! event was in the table when the slice was encoded. Recovery skips, for
//! that record, the events of `journal.G+1` up to its marker.
//!
//! # Recovery
//!
//! Recovery reads the snapshot (generation `S`, or none: 0), then replays
//! `journal.S`, `journal.S+1`, ... in order (a compaction that did not
//! commit leaves two). It refuses to guess: a record that fails its
//! checksum or does not parse stops the start with the file and record
//! number named. The only repair made is dropping a torn tail of the last
//! journal (a record cut short by a crash), which no reply acknowledged.

use crate::state::registry::{Event, EventRef, Registry};
use crate::supervise::FatalSender;
use prometheus_client::metrics::histogram::Histogram;
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::oneshot;

/// The longest a TTL reset waits before it is written.
pub(crate) const LAZY_FLUSH: Duration = Duration::from_millis(500);

const SNAPSHOT: &str = "snapshot";
const SNAPSHOT_TMP: &str = "snapshot.tmp";
const SNAPSHOT_MAGIC: &[u8; 8] = b"P2PDISN2";
const TRAILER_MAGIC: &[u8; 8] = b"P2PDIEND";
/// No record is longer (a REGISTER with two 255-byte names is 556 bytes):
/// a longer declared length is damage, not a record cut short.
const MAX_RECORD: usize = 1024;

/// Why the state could not be read or written.
#[derive(Debug, Clone, thiserror::Error)]
pub enum JournalError {
    /// A file operation failed.
    #[error("{path}: {source}")]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// Why.
        source: Arc<std::io::Error>,
    },
    /// A record (numbered from 1; 0 for the file as a whole) is damaged.
    #[error("{path}:{record}: {what}; the state is damaged, refusing to start (move the folder away to start empty)")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// Record number, from 1 (0: the file as a whole).
        record: usize,
        /// What is wrong.
        what: String,
    },
    /// The writer thread is gone.
    #[error("the journal writer stopped")]
    Stopped,
}

impl JournalError {
    /// Whether the disk refused a write for want of space.
    pub fn is_disk_full(&self) -> bool {
        matches!(self, JournalError::Io { source, .. } if source.kind() == std::io::ErrorKind::StorageFull)
    }
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> JournalError + '_ {
    move |source| JournalError::Io {
        path: path.to_owned(),
        source: Arc::new(source),
    }
}

fn check(bytes: &[u8]) -> u64 {
    let hash = blake3::hash(bytes);
    let mut first = [0u8; 8];
    first.copy_from_slice(&hash.as_bytes()[..8]);
    u64::from_le_bytes(first)
}

/// Appends one journal record for event `seq` to `out`.
pub fn encode_record(seq: u64, event: EventRef<'_>, out: &mut Vec<u8>) {
    let start = out.len();
    out.extend_from_slice(&[0; 12]); // length and check, filled in below
    out.extend_from_slice(&seq.to_le_bytes());
    match event {
        EventRef::Registered {
            cookie,
            host,
            os,
            port,
            address,
            at_ms,
        } => {
            out.push(1);
            out.extend_from_slice(&cookie.to_le_bytes());
            out.extend_from_slice(&at_ms.to_le_bytes());
            out.extend_from_slice(&port.to_le_bytes());
            match address {
                IpAddr::V4(v4) => {
                    out.push(4);
                    out.extend_from_slice(&v4.octets());
                }
                IpAddr::V6(v6) => {
                    out.push(6);
                    out.extend_from_slice(&v6.octets());
                }
            }
            for name in [host, os] {
                // Names are at most 255 bytes (the wire refuses longer).
                let name = &name.as_bytes()[..name.len().min(255)];
                out.push(name.len() as u8);
                out.extend_from_slice(name);
            }
        }
        EventRef::Touched { cookie, at_ms } => {
            out.push(2);
            out.extend_from_slice(&cookie.to_le_bytes());
            out.extend_from_slice(&at_ms.to_le_bytes());
        }
        EventRef::Left { cookie } => {
            out.push(3);
            out.extend_from_slice(&cookie.to_le_bytes());
        }
        EventRef::Evicted { cookie } => {
            out.push(4);
            out.extend_from_slice(&cookie.to_le_bytes());
        }
    }
    let body = start + 12;
    let len = (out.len() - body) as u32;
    let sum = check(&out[body..]);
    out[start..start + 4].copy_from_slice(&len.to_le_bytes());
    out[start + 4..start + 12].copy_from_slice(&sum.to_le_bytes());
}

/// How a record at the start of a buffer reads.
#[derive(Debug)]
pub enum Decoded<'a> {
    /// A whole record: its sequence number, its event, and its length.
    Record(u64, EventRef<'a>, usize),
    /// The buffer ends inside the record.
    Torn,
    /// The record is damaged.
    Damaged(String),
}

/// Reads the journal record at the start of `bytes`.
pub fn decode_record(bytes: &[u8]) -> Decoded<'_> {
    if bytes.len() < 12 {
        return Decoded::Torn;
    }
    let len = u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]) as usize;
    if len > MAX_RECORD {
        return Decoded::Damaged(format!(
            "a record of {len} bytes cannot be (checksum unchecked)"
        ));
    }
    let sum = u64::from_le_bytes(bytes[4..12].try_into().unwrap_or([0; 8]));
    let Some(body) = bytes.get(12..12 + len) else {
        return Decoded::Torn;
    };
    if check(body) != sum {
        return Decoded::Damaged("checksum mismatch".into());
    }
    match parse_event(body) {
        Some((seq, event)) => Decoded::Record(seq, event, 12 + len),
        None => Decoded::Damaged("does not parse".into()),
    }
}

fn parse_event(body: &[u8]) -> Option<(u64, EventRef<'_>)> {
    let mut at = 0;
    let mut take = |n: usize| -> Option<&[u8]> {
        let piece = body.get(at..at + n)?;
        at += n;
        Some(piece)
    };
    let u64_of = |b: &[u8]| b.try_into().ok().map(u64::from_le_bytes);
    let seq = u64_of(take(8)?)?;
    let tag = take(1)?[0];
    let cookie = u64_of(take(8)?)?;
    let event = match tag {
        1 => {
            let at_ms = u64_of(take(8)?)?;
            let port = u16::from_le_bytes(take(2)?.try_into().ok()?);
            let address = match take(1)?[0] {
                4 => IpAddr::V4(Ipv4Addr::from(<[u8; 4]>::try_from(take(4)?).ok()?)),
                6 => IpAddr::V6(Ipv6Addr::from(<[u8; 16]>::try_from(take(16)?).ok()?)),
                _ => return None,
            };
            let host_len = take(1)?[0] as usize;
            let host = std::str::from_utf8(take(host_len)?).ok()?;
            let os_len = take(1)?[0] as usize;
            let os = std::str::from_utf8(take(os_len)?).ok()?;
            EventRef::Registered {
                cookie,
                host,
                os,
                port,
                address,
                at_ms,
            }
        }
        2 => EventRef::Touched {
            cookie,
            at_ms: u64_of(take(8)?)?,
        },
        3 => EventRef::Left { cookie },
        4 => EventRef::Evicted { cookie },
        _ => return None,
    };
    (at == body.len()).then_some((seq, event))
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

fn journal_path(dir: &Path, generation: u64) -> PathBuf {
    dir.join(format!("journal.{generation}"))
}

/// The generations of the journals in `dir`, in order.
fn journal_generations(dir: &Path) -> Result<Vec<u64>, JournalError> {
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
    for (i, generation) in generations.iter().enumerate() {
        let last = i + 1 == generations.len();
        let path = journal_path(dir, *generation);
        let whole = replay_journal(&path, last, &markers, &mut recovered, &mut next_seq)?;
        if last {
            recovered.journal_bytes = whole;
        }
    }
    recovered
        .registry
        .check()
        .map_err(|what| JournalError::Corrupt {
            path: dir.to_owned(),
            record: 0,
            what,
        })?;
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
    let corrupt = |record: usize, what: &str| JournalError::Corrupt {
        path: path.to_owned(),
        record,
        what: what.to_owned(),
    };
    if bytes.len() < 16 + 8 + 8 + 32 || &bytes[..8] != SNAPSHOT_MAGIC {
        return Err(corrupt(0, "not a snapshot"));
    }
    let trailer = bytes.len() - (8 + 8 + 32);
    let (content, end) = bytes.split_at(trailer);
    if &end[..8] != TRAILER_MAGIC {
        return Err(corrupt(0, "no end mark (cut short)"));
    }
    if blake3::hash(content).as_bytes() != &end[16..48] {
        return Err(corrupt(0, "checksum mismatch"));
    }
    let generation = u64::from_le_bytes(content[8..16].try_into().unwrap_or([0; 8]));
    let total = u64::from_le_bytes(end[8..16].try_into().unwrap_or([0; 8])) as usize;
    registry.reserve(total);
    markers.reserve(total);
    let mut at = 16;
    let mut restored = 0;
    while at < content.len() {
        let header = content
            .get(at..at + 16)
            .ok_or_else(|| corrupt(restored + 1, "slice header cut short"))?;
        let marker = u64::from_le_bytes(header[..8].try_into().unwrap_or([0; 8]));
        let count = u32::from_le_bytes(header[8..12].try_into().unwrap_or([0; 4]));
        let len = u32::from_le_bytes(header[12..16].try_into().unwrap_or([0; 4])) as usize;
        at += 16;
        let mut slice = content
            .get(at..at + len)
            .ok_or_else(|| corrupt(restored + 1, "slice cut short"))?;
        at += len;
        for _ in 0..count {
            let done = registry
                .restore_unindexed(slice)
                .map_err(|what| corrupt(restored + 1, &what))?;
            slice = &slice[done.used..];
            restored += 1;
            if markers.len() <= done.slot {
                markers.resize(done.slot + 1, 0);
            }
            markers[done.slot] = marker;
        }
        if !slice.is_empty() {
            return Err(corrupt(restored, "bytes after a slice's records"));
        }
    }
    if restored != total {
        return Err(corrupt(0, "record count does not match"));
    }
    registry
        .index_restored()
        .map_err(|what| corrupt(0, &what))?;
    Ok((generation, restored))
}

/// Replays the journal at `path`; the last journal may end in a torn
/// record, which is cut off. Returns the length of what it holds whole.
fn replay_journal(
    path: &Path,
    last: bool,
    markers: &[u64],
    recovered: &mut Recovered,
    next_seq: &mut u64,
) -> Result<u64, JournalError> {
    let bytes = fs::read(path).map_err(io_err(path))?;
    let mut at = 0;
    let mut record = 0;
    while at < bytes.len() {
        record += 1;
        match decode_record(&bytes[at..]) {
            Decoded::Record(seq, event, used) => {
                at += used;
                *next_seq = (*next_seq).max(seq + 1);
                // The snapshot holds this record as of its slice's marker.
                let held = recovered
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
            Decoded::Torn if last => {
                let file = OpenOptions::new()
                    .write(true)
                    .open(path)
                    .map_err(io_err(path))?;
                file.set_len(at as u64).map_err(io_err(path))?;
                file.sync_all().map_err(io_err(path))?;
                recovered.dropped_torn_tail = true;
                break;
            }
            Decoded::Torn => {
                return Err(JournalError::Corrupt {
                    path: path.to_owned(),
                    record,
                    what: "cut short, and a later journal follows".into(),
                })
            }
            Decoded::Damaged(what) => {
                return Err(JournalError::Corrupt {
                    path: path.to_owned(),
                    record,
                    what,
                })
            }
        }
    }
    Ok(at as u64)
}

/// Writes `registry` whole as the snapshot of a fresh state folder `dir`
/// (generation 0, every record as of sequence number 0), synced: a state
/// prepared off line, e.g. by a benchmark.
pub fn write_snapshot(dir: &Path, registry: &Registry) -> Result<Compacted, JournalError> {
    fs::create_dir_all(dir).map_err(io_err(dir))?;
    let mut content = Vec::with_capacity(registry.len() * 64 + 64);
    content.extend_from_slice(SNAPSHOT_MAGIC);
    content.extend_from_slice(&0u64.to_le_bytes());
    let mut from = Some(0);
    let mut records = 0u64;
    while let Some(at) = from {
        let mut slice = Vec::new();
        let (next, count) = registry.encode_records(at, 65_536, &mut slice);
        content.extend_from_slice(&0u64.to_le_bytes());
        content.extend_from_slice(&count.to_le_bytes());
        content.extend_from_slice(&(slice.len() as u32).to_le_bytes());
        content.extend_from_slice(&slice);
        records += u64::from(count);
        from = next;
    }
    let hash = blake3::hash(&content);
    content.extend_from_slice(TRAILER_MAGIC);
    content.extend_from_slice(&records.to_le_bytes());
    content.extend_from_slice(hash.as_bytes());
    let path = dir.join(SNAPSHOT);
    File::create(&path)
        .and_then(|mut file| {
            file.write_all(&content)?;
            file.sync_all()
        })
        .map_err(io_err(&path))?;
    sync_dir(dir)?;
    Ok(Compacted {
        generation: 0,
        records,
        bytes: content.len() as u64,
    })
}

/// What a finished compaction did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Compacted {
    /// The new generation.
    pub generation: u64,
    /// Records in the snapshot.
    pub records: u64,
    /// Bytes of the snapshot.
    pub bytes: u64,
}

/// A reply channel of the journal.
pub type Done<T> = oneshot::Sender<Result<T, JournalError>>;

enum Op {
    Append {
        events: Vec<u8>,
        done: Option<Done<()>>,
    },
    StartCompaction {
        done: Done<u64>,
    },
    Slice {
        marker: u64,
        count: u32,
        records: Vec<u8>,
    },
    FinishCompaction {
        done: Done<Compacted>,
    },
    Reload {
        ttl_secs: u64,
        max_peers: usize,
        max_peers_per_address: usize,
        done: Done<Recovered>,
    },
}

/// The handle to the journal's writer thread. Cloning it is cheap; the
/// thread ends when every handle is dropped. A panic of the thread is
/// reported as fatal: the registry cannot acknowledge anything without it.
#[derive(Debug, Clone)]
pub struct Journal {
    tx: mpsc::Sender<Op>,
}

impl Journal {
    /// Starts the writer thread on `dir`, appending to the journal of
    /// `recovered.generation` (as [`recover`] returned it, at its whole
    /// length); logs on `log`, escalates its own failure to `fatal`.
    pub fn start(
        dir: &Path,
        recovered: &Recovered,
        log: slog::Logger,
        fatal: FatalSender,
        fsync_seconds: Option<Histogram>,
    ) -> Result<Journal, JournalError> {
        let generation = recovered.generation;
        let path = journal_path(dir, generation);
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(io_err(&path))?;
        let committed = file.metadata().map_err(io_err(&path))?.len();
        sync_dir(dir)?;
        let (tx, rx) = mpsc::channel();
        let writer = Writer {
            dir: dir.to_owned(),
            generation,
            file,
            path,
            committed,
            compaction: None,
            failing: false,
            fsync_seconds,
            log: log.clone(),
        };
        std::thread::Builder::new()
            .name("rs-journal".into())
            .spawn(move || {
                let ran = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| writer.run(rx)));
                if let Err(payload) = ran {
                    let message = crate::supervise::panic_message(payload.as_ref());
                    slog::error!(log, "journal writer failed"; "panic" => &message);
                    fatal.send(format!("the journal writer failed: {message}"));
                }
            })
            .map_err(io_err(dir))?;
        Ok(Journal { tx })
    }

    fn send(&self, op: Op) {
        // A stopped writer drops the op and its reply sender: the caller
        // sees `Stopped`.
        let _ = self.tx.send(op);
    }

    /// Appends events (`(seq, event)`); the receiver resolves once they
    /// are on disk, or with the error that kept them off it.
    pub fn append_durable(
        &self,
        events: &[(u64, Event)],
    ) -> oneshot::Receiver<Result<(), JournalError>> {
        let (done, rx) = oneshot::channel();
        self.send(Op::Append {
            events: encode_all(events),
            done: Some(done),
        });
        rx
    }

    /// Appends events without waiting for them to reach the disk.
    pub fn append_lazy(&self, events: &[(u64, Event)]) {
        self.send(Op::Append {
            events: encode_all(events),
            done: None,
        });
    }

    /// Resolves once everything appended before is on disk.
    pub fn flush(&self) -> oneshot::Receiver<Result<(), JournalError>> {
        self.append_durable(&[])
    }

    /// Starts a compaction: appends go to the next generation from now on;
    /// resolves to that generation.
    pub fn start_compaction(&self) -> oneshot::Receiver<Result<u64, JournalError>> {
        let (done, rx) = oneshot::channel();
        self.send(Op::StartCompaction { done });
        rx
    }

    /// Adds `count` encoded records, taken when every event up to `marker`
    /// was in the table, to the snapshot being written.
    pub fn snapshot_slice(&self, marker: u64, count: u32, records: Vec<u8>) {
        self.send(Op::Slice {
            marker,
            count,
            records,
        });
    }

    /// Finishes the snapshot and commits it.
    pub fn finish_compaction(&self) -> oneshot::Receiver<Result<Compacted, JournalError>> {
        let (done, rx) = oneshot::channel();
        self.send(Op::FinishCompaction { done });
        rx
    }

    /// Waits until every append sent before is written, then reads the
    /// state back from disk, on the writer's thread.
    pub fn reload(
        &self,
        ttl_secs: u64,
        max_peers: usize,
        max_peers_per_address: usize,
    ) -> oneshot::Receiver<Result<Recovered, JournalError>> {
        let (done, rx) = oneshot::channel();
        self.send(Op::Reload {
            ttl_secs,
            max_peers,
            max_peers_per_address,
            done,
        });
        rx
    }
}

fn encode_all(events: &[(u64, Event)]) -> Vec<u8> {
    let mut out = Vec::with_capacity(events.len() * 48);
    for (seq, event) in events {
        encode_record(*seq, event.as_ref(), &mut out);
    }
    out
}

/// Makes the files created in `dir` so far survive a power cut.
fn sync_dir(dir: &Path) -> Result<(), JournalError> {
    crate::sys::durable::sync_dir(dir).map_err(io_err(dir))
}

/// A snapshot being written.
struct Compaction {
    generation: u64,
    file: File,
    hasher: blake3::Hasher,
    records: u64,
    bytes: u64,
    failed: Option<JournalError>,
}

struct Writer {
    dir: PathBuf,
    generation: u64,
    file: File,
    path: PathBuf,
    /// Length of the journal as last written whole.
    committed: u64,
    compaction: Option<Compaction>,
    /// Writes are failing (for one log line per episode).
    failing: bool,
    /// Where each sync's time is counted.
    fsync_seconds: Option<Histogram>,
    log: slog::Logger,
}

impl Writer {
    fn run(mut self, rx: mpsc::Receiver<Op>) {
        let mut buf = Vec::with_capacity(64 * 1024);
        let mut waiting: Vec<Done<()>> = Vec::new();
        loop {
            // Block for the first op (no longer than LAZY_FLUSH while lazy
            // appends are pending); then take whatever else is queued.
            let first = if buf.is_empty() {
                match rx.recv() {
                    Ok(op) => op,
                    Err(_) => return,
                }
            } else {
                match rx.recv_timeout(LAZY_FLUSH) {
                    Ok(op) => op,
                    Err(mpsc::RecvTimeoutError::Timeout) => {
                        self.flush(&mut buf, &mut waiting);
                        continue;
                    }
                    Err(mpsc::RecvTimeoutError::Disconnected) => {
                        self.flush(&mut buf, &mut waiting);
                        return;
                    }
                }
            };
            let mut op = Some(first);
            while let Some(current) = op.take() {
                crate::fault::point("journal.writer");
                match current {
                    Op::Append { events, done } => {
                        buf.extend_from_slice(&events);
                        if let Some(done) = done {
                            waiting.push(done);
                        }
                    }
                    Op::StartCompaction { done } => {
                        self.flush(&mut buf, &mut waiting);
                        let _ = done.send(self.start_compaction());
                    }
                    Op::Slice {
                        marker,
                        count,
                        records,
                    } => self.slice(marker, count, &records),
                    Op::FinishCompaction { done } => {
                        self.flush(&mut buf, &mut waiting);
                        let _ = done.send(self.finish_compaction());
                    }
                    Op::Reload {
                        ttl_secs,
                        max_peers,
                        max_peers_per_address,
                        done,
                    } => {
                        self.flush(&mut buf, &mut waiting);
                        // A compaction the registry started before it
                        // restarted will never be finished: drop it (its
                        // journal switch stands; recovery replays both).
                        if self.compaction.take().is_some() {
                            let _ = fs::remove_file(self.dir.join(SNAPSHOT_TMP));
                        }
                        let recovered =
                            recover(&self.dir, ttl_secs, max_peers, max_peers_per_address);
                        let _ = done.send(recovered);
                    }
                }
                op = rx.try_recv().ok();
            }
            if !waiting.is_empty() {
                self.flush(&mut buf, &mut waiting);
            }
        }
    }

    /// Writes the buffer; fsyncs and acknowledges when anyone waits. On a
    /// failure the journal is cut back to its last whole length and every
    /// waiter gets the error.
    fn flush(&mut self, buf: &mut Vec<u8>, waiting: &mut Vec<Done<()>>) {
        if buf.is_empty() && waiting.is_empty() {
            return;
        }
        let result = self.write(buf, !waiting.is_empty());
        buf.clear();
        match &result {
            Ok(()) if self.failing => {
                self.failing = false;
                slog::info!(self.log, "journal writable again"; "path" => %self.path.display());
            }
            Ok(()) => {}
            Err(err) if !self.failing => {
                self.failing = true;
                slog::error!(self.log, "journal write failed; changes are refused until it works again";
                    "err" => %err, "disk_full" => err.is_disk_full());
            }
            Err(_) => {}
        }
        for done in waiting.drain(..) {
            let _ = done.send(result.clone());
        }
    }

    fn write(&mut self, buf: &[u8], sync: bool) -> Result<(), JournalError> {
        // A failure of an earlier episode may have left the cut undone.
        self.cut_back()?;
        let written = if crate::fault::take("journal.disk-full") {
            Err(std::io::Error::from(std::io::ErrorKind::StorageFull))
        } else {
            self.file.write_all(buf)
        };
        let result = written.and_then(|()| {
            if !sync {
                return Ok(());
            }
            let started = std::time::Instant::now();
            let synced = self.file.sync_data();
            if let Some(histogram) = &self.fsync_seconds {
                histogram.observe(started.elapsed().as_secs_f64());
            }
            synced
        });
        match result {
            Ok(()) => {
                self.committed += buf.len() as u64;
                Ok(())
            }
            Err(err) => {
                let err = io_err(&self.path)(err);
                // Nothing may land after a broken record.
                let _ = self.cut_back();
                Err(err)
            }
        }
    }

    /// Cuts the journal back to its last whole length, if it is longer.
    fn cut_back(&mut self) -> Result<(), JournalError> {
        let len = self.file.metadata().map_err(io_err(&self.path))?.len();
        if len != self.committed {
            self.file
                .set_len(self.committed)
                .and_then(|()| self.file.sync_data())
                .map_err(io_err(&self.path))?;
        }
        Ok(())
    }

    fn start_compaction(&mut self) -> Result<u64, JournalError> {
        if self.compaction.is_some() {
            return Err(JournalError::Corrupt {
                path: self.dir.clone(),
                record: 0,
                what: "a compaction is running already".into(),
            });
        }
        let next = self.generation + 1;
        let next_path = journal_path(&self.dir, next);
        // A new, empty journal (the writer always appends to the highest
        // generation, so none exists above it), synced, opened to append.
        let next_file = File::create(&next_path)
            .and_then(|file| file.sync_all())
            .and_then(|()| OpenOptions::new().append(true).open(&next_path))
            .map_err(io_err(&next_path))?;
        sync_dir(&self.dir)?;
        // From here on, appends go to the next generation.
        self.file = next_file;
        self.path = next_path;
        self.committed = 0;
        self.generation = next;
        let tmp = self.dir.join(SNAPSHOT_TMP);
        let mut file = File::create(&tmp).map_err(io_err(&tmp))?;
        let mut header = Vec::with_capacity(16);
        header.extend_from_slice(SNAPSHOT_MAGIC);
        header.extend_from_slice(&next.to_le_bytes());
        let mut hasher = blake3::Hasher::new();
        hasher.update(&header);
        let failed = file.write_all(&header).err().map(io_err(&tmp));
        self.compaction = Some(Compaction {
            generation: next,
            file,
            hasher,
            records: 0,
            bytes: header.len() as u64,
            failed,
        });
        Ok(next)
    }

    fn slice(&mut self, marker: u64, count: u32, records: &[u8]) {
        let Some(compaction) = self.compaction.as_mut() else {
            return;
        };
        if compaction.failed.is_some() {
            return;
        }
        let mut header = Vec::with_capacity(16);
        header.extend_from_slice(&marker.to_le_bytes());
        header.extend_from_slice(&count.to_le_bytes());
        header.extend_from_slice(&(records.len() as u32).to_le_bytes());
        compaction.hasher.update(&header);
        compaction.hasher.update(records);
        let tmp = self.dir.join(SNAPSHOT_TMP);
        let written = compaction
            .file
            .write_all(&header)
            .and_then(|()| compaction.file.write_all(records));
        match written {
            Ok(()) => {
                compaction.records += u64::from(count);
                compaction.bytes += (header.len() + records.len()) as u64;
            }
            Err(err) => compaction.failed = Some(io_err(&tmp)(err)),
        }
    }

    fn finish_compaction(&mut self) -> Result<Compacted, JournalError> {
        let tmp = self.dir.join(SNAPSHOT_TMP);
        let Some(mut compaction) = self.compaction.take() else {
            return Err(JournalError::Corrupt {
                path: tmp,
                record: 0,
                what: "no compaction is running".into(),
            });
        };
        let result = (|| {
            if let Some(err) = compaction.failed.take() {
                return Err(err);
            }
            let mut trailer = Vec::with_capacity(48);
            trailer.extend_from_slice(TRAILER_MAGIC);
            trailer.extend_from_slice(&compaction.records.to_le_bytes());
            trailer.extend_from_slice(compaction.hasher.finalize().as_bytes());
            compaction
                .file
                .write_all(&trailer)
                .and_then(|()| compaction.file.sync_all())
                .map_err(io_err(&tmp))?;
            let snapshot = self.dir.join(SNAPSHOT);
            crate::sys::durable::rename(&tmp, &snapshot).map_err(io_err(&snapshot))?;
            Ok(Compacted {
                generation: compaction.generation,
                records: compaction.records,
                bytes: compaction.bytes + trailer.len() as u64,
            })
        })();
        match &result {
            Ok(done) => {
                // Committed: the journals before it are never needed again.
                for generation in journal_generations(&self.dir).unwrap_or_default() {
                    if generation < done.generation {
                        let _ = fs::remove_file(journal_path(&self.dir, generation));
                    }
                }
            }
            Err(_) => {
                let _ = fs::remove_file(&tmp);
            }
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::registry::Registrant;

    const LOCAL: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
    const T0: u64 = 1_795_253_400_000;

    fn quiet() -> slog::Logger {
        slog::Logger::root(slog::Discard, slog::o!())
    }

    /// Fault points are process-wide: these tests run one at a time.
    fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
        static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
        LOCK.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A registry and its journal on a fresh folder, with the sequence
    /// numbers handed out as the registry actor does.
    struct Fixture {
        dir: tempfile::TempDir,
        registry: Registry,
        journal: Journal,
        seq: u64,
        _fatal: crate::supervise::FatalReceiver,
        _one: std::sync::MutexGuard<'static, ()>,
    }

    impl Fixture {
        fn new() -> Self {
            let one = one_at_a_time();
            let dir = tempfile::tempdir().unwrap();
            let recovered = recover(dir.path(), 60, 100, 100).unwrap();
            let (fatal, fatal_rx) = crate::supervise::fatal_channel();
            let journal = Journal::start(dir.path(), &recovered, quiet(), fatal, None).unwrap();
            Fixture {
                dir,
                registry: recovered.registry,
                journal,
                seq: recovered.next_seq,
                _fatal: fatal_rx,
                _one: one,
            }
        }

        fn numbered(&mut self, events: Vec<Event>) -> Vec<(u64, Event)> {
            events
                .into_iter()
                .map(|event| {
                    self.seq += 1;
                    (self.seq, event)
                })
                .collect()
        }

        /// Registers `n` peers on ports 1..=n, durably, and applies them.
        fn fill(&mut self, n: u16, now: u64) -> Vec<u64> {
            let mut next = 100;
            (1..=n)
                .map(|port| {
                    let decided = self
                        .registry
                        .decide_register(Registrant::new("h", "L", port, None, LOCAL), now, || {
                            next += 1;
                            next
                        })
                        .unwrap();
                    let events = self.numbered(decided.events.clone());
                    block(self.journal.append_durable(&events)).unwrap();
                    for (_, event) in &events {
                        self.registry.apply(event);
                    }
                    decided.cookie
                })
                .collect()
        }

        fn reload(&self) -> Recovered {
            block(self.journal.reload(60, 100, 100)).unwrap()
        }
    }

    fn block<T>(rx: oneshot::Receiver<Result<T, JournalError>>) -> Result<T, JournalError> {
        rx.blocking_recv().unwrap_or(Err(JournalError::Stopped))
    }

    fn sorted(registry: &Registry) -> Vec<crate::state::registry::PeerView> {
        let mut v = registry.all(T0);
        v.sort_by_key(|r| r.cookie);
        v
    }

    #[test]
    fn every_event_round_trips_through_a_record() {
        let events = [
            Event::Registered {
                cookie: 7,
                host: "h".into(),
                os: "Linux".into(),
                port: 65401,
                address: IpAddr::V6(Ipv6Addr::LOCALHOST),
                at_ms: T0,
            },
            Event::Touched {
                cookie: 7,
                at_ms: T0 + 1,
            },
            Event::Left { cookie: 7 },
            Event::Evicted { cookie: 7 },
        ];
        for (seq, event) in events.iter().enumerate() {
            let mut out = Vec::new();
            encode_record(seq as u64, event.as_ref(), &mut out);
            match decode_record(&out) {
                Decoded::Record(got_seq, got, used) => {
                    assert_eq!(
                        (got_seq, got, used),
                        (seq as u64, event.as_ref(), out.len())
                    );
                }
                other => panic!("{other:?}"),
            }
            for cut in 0..out.len() {
                assert!(
                    matches!(decode_record(&out[..cut]), Decoded::Torn),
                    "cut at {cut}"
                );
            }
        }
    }

    #[test]
    fn what_was_appended_is_recovered() {
        let mut f = Fixture::new();
        let cookies = f.fill(5, T0);
        let touched = f.registry.keep_alive(cookies[0], T0 + 1000).unwrap();
        let lazy = f.numbered(vec![touched]);
        f.journal.append_lazy(&lazy);
        let back = f.reload();
        assert_eq!(sorted(&back.registry), sorted(&f.registry));
        assert_eq!(back.journal_events, 6);
        assert_eq!(back.next_seq, f.seq + 1);
    }

    #[test]
    fn a_compaction_written_in_slices_keeps_the_state_and_starts_a_new_generation() {
        let mut f = Fixture::new();
        let cookies = f.fill(5, T0);
        let generation = block(f.journal.start_compaction()).unwrap();
        assert_eq!(generation, 1);
        // a change after the switch, before its slice: in the journal and
        // in the snapshot; recovery must not count it twice
        let left = f
            .registry
            .decide_leave(cookies[1], T0 + 500)
            .unwrap()
            .unwrap();
        let events = f.numbered(vec![left]);
        block(f.journal.append_durable(&events)).unwrap();
        f.registry.apply(&events[0].1);
        let mut from = Some(0);
        while let Some(at) = from {
            let mut records = Vec::new();
            let (next, count) = f.registry.encode_records(at, 2, &mut records);
            f.journal.snapshot_slice(f.seq, count, records);
            from = next;
        }
        let done = block(f.journal.finish_compaction()).unwrap();
        assert_eq!(done.records, 5);
        // a change after its slice: in the journal only
        let again = f
            .registry
            .decide_leave(cookies[2], T0 + 600)
            .unwrap()
            .unwrap();
        let events = f.numbered(vec![again]);
        block(f.journal.append_durable(&events)).unwrap();
        f.registry.apply(&events[0].1);
        let back = f.reload();
        assert_eq!(back.generation, 1);
        assert_eq!(back.snapshot_records, 5);
        assert_eq!((back.skipped_events, back.journal_events), (1, 1));
        assert_eq!(sorted(&back.registry), sorted(&f.registry));
        assert!(!f.dir.path().join("journal.0").exists());
    }

    #[test]
    fn a_compaction_that_did_not_commit_leaves_two_journals_that_both_replay() {
        let mut f = Fixture::new();
        f.fill(3, T0);
        block(f.journal.start_compaction()).unwrap();
        f.fill(2, T0 + 1000);
        // no slice, no finish: as if the registry restarted here
        let back = f.reload();
        assert_eq!(back.generation, 1);
        assert_eq!(back.registry.len(), 5);
        assert!(f.dir.path().join("journal.0").exists());
        assert!(!f.dir.path().join(SNAPSHOT_TMP).exists());
        // the next compaction starts and commits
        assert_eq!(block(f.journal.start_compaction()).unwrap(), 2);
        let mut records = Vec::new();
        let (_, count) = f.registry.encode_records(0, usize::MAX, &mut records);
        f.journal.snapshot_slice(f.seq, count, records);
        block(f.journal.finish_compaction()).unwrap();
        let back = f.reload();
        assert_eq!((back.generation, back.registry.len()), (2, 5));
        assert!(!f.dir.path().join("journal.0").exists());
        assert!(!f.dir.path().join("journal.1").exists());
    }

    #[test]
    fn a_torn_tail_is_dropped_and_a_damaged_record_refuses_the_start() {
        let mut f = Fixture::new();
        f.fill(3, T0);
        f.reload();
        let path = f.dir.path().join("journal.0");
        let whole = fs::read(&path).unwrap();
        let mut torn = whole.clone();
        torn.extend_from_slice(&whole[..20]);
        fs::write(&path, &torn).unwrap();
        let back = recover(f.dir.path(), 60, 100, 100).unwrap();
        assert!(back.dropped_torn_tail);
        assert_eq!(back.registry.len(), 3);
        assert_eq!(
            fs::read(&path).unwrap(),
            whole,
            "cut back to the whole records"
        );

        // flip one byte inside the second record
        let mut damaged = whole.clone();
        let second = 12 + u32::from_le_bytes(whole[..4].try_into().unwrap()) as usize + 30;
        damaged[second] ^= 0x01;
        fs::write(&path, &damaged).unwrap();
        let err = recover(f.dir.path(), 60, 100, 100).unwrap_err().to_string();
        assert!(err.contains("journal.0:2: checksum mismatch"), "{err}");
    }

    #[test]
    fn text_in_a_journal_is_damage_and_the_journal_is_kept() {
        let _one = one_at_a_time();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journal.0");
        fs::write(&path, "0000000000000000 Left(cookie:1)\n").unwrap();
        let err = recover(dir.path(), 60, 100, 100).unwrap_err().to_string();
        assert!(err.contains("journal.0:1: a record of"), "{err}");
        assert_eq!(
            fs::read(&path).unwrap(),
            b"0000000000000000 Left(cookie:1)\n",
            "never silently emptied"
        );
    }

    #[test]
    fn a_damaged_snapshot_refuses_the_start() {
        let _one = one_at_a_time();
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join(SNAPSHOT), "garbage\n").unwrap();
        let err = recover(dir.path(), 60, 100, 100).unwrap_err().to_string();
        assert!(err.contains("snapshot:0: not a snapshot"), "{err}");
    }

    #[test]
    fn a_failed_write_is_cut_back_answered_and_forgotten_and_the_next_one_lands() {
        let mut f = Fixture::new();
        f.fill(2, T0);
        let path = f.dir.path().join("journal.0");
        let before = fs::read(&path).unwrap();
        crate::fault::arm("journal.disk-full", 1);
        let decided = f
            .registry
            .decide_register(Registrant::new("x", "L", 9, None, LOCAL), T0, || 999)
            .unwrap();
        let events = f.numbered(decided.events);
        let err = block(f.journal.append_durable(&events)).unwrap_err();
        assert!(err.is_disk_full(), "{err}");
        assert_eq!(fs::read(&path).unwrap(), before, "nothing half-written");
        // space is back: the next append lands, and a restart reads all
        let cookies = f.fill(1, T0 + 1);
        let back = f.reload();
        assert_eq!(back.registry.len(), 3);
        assert!(back.registry.view(cookies[0], T0 + 2).is_some());
        assert!(back.registry.view(999, T0 + 2).is_none());
    }
}

#[cfg(test)]
mod timing {
    use super::*;

    #[test]
    #[ignore = "a timing probe: cargo test --release -p p2p-di-actors --lib journal::timing -- --ignored --nocapture"]
    fn time_recovering_a_million_peers() {
        let dir = tempfile::tempdir().unwrap();
        let (registry, _) = crate::state::registry::filled(1_000_000, crate::now_ms());
        write_snapshot(dir.path(), &registry).unwrap();
        for _ in 0..3 {
            let started = std::time::Instant::now();
            let back = recover(dir.path(), 7200, 2_000_000, 256).unwrap();
            eprintln!(
                "recovered {} in {:?}",
                back.registry.len(),
                started.elapsed()
            );
        }
    }
}
