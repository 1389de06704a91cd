//! The registry's durable state: a snapshot plus an append-only journal of
//! [`Event`]s, in `state_dir`.
//!
//! Files: `snapshot` (the table as of a generation `g`) and `journal.g`
//! (every event since). Each line is `CHECKSUM RON\n`, the checksum being
//! the first 16 hex digits of the line's BLAKE3 hash, so a flipped bit is
//! found, not replayed.
//!
//! Writes run on a thread of their own ([`Journal`]), so no actor blocks
//! on the disk. Appends that must be durable are batched: the thread takes
//! every append waiting in its queue, writes them, calls `fsync` once, and
//! then acknowledges them all (group commit). Appends that need not be
//! durable (TTL resets) are written with the next batch, no later than
//! [`LAZY_FLUSH`].
//!
//! Compaction writes a new snapshot for generation `g + 1` and an empty
//! `journal.g+1`, renames the snapshot into place (the commit point), and
//! removes `journal.g`. A crash at any step leaves one consistent pair.
//!
//! Recovery refuses to guess: a missing or unreadable folder, a line that
//! fails its checksum or does not parse, stop the start with the file and
//! line named. The only repair made is dropping a torn last line (one with
//! no line end), which no reply ever acknowledged.

use crate::state::registry::{Event, PeerRecord, Registry};
use std::fs::{self, File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;
use tokio::sync::oneshot;

/// The longest a TTL reset waits before it is written.
pub const LAZY_FLUSH: Duration = Duration::from_millis(500);

const SNAPSHOT: &str = "snapshot";
const SNAPSHOT_HEADER: &str = "p2p-di registry snapshot v1 generation ";

/// Why the state could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    /// A file operation failed.
    #[error("{path}: {source}")]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A line is damaged.
    #[error("{path}:{line}: {what}; the state is damaged, refusing to start (move the folder away to start empty)")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// Line number, from 1.
        line: usize,
        /// What is wrong.
        what: String,
    },
    /// The writer thread is gone.
    #[error("the journal writer stopped")]
    Stopped,
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> JournalError + '_ {
    move |source| JournalError::Io {
        path: path.to_owned(),
        source,
    }
}

fn checksum(text: &str) -> String {
    let hash = blake3::hash(text.as_bytes());
    hash.to_hex()[..16].to_owned()
}

fn encode_line(event: &Event, out: &mut Vec<u8>) {
    // An event always serializes: its fields are plain data.
    let text = ron::to_string(event).unwrap_or_default();
    out.extend_from_slice(checksum(&text).as_bytes());
    out.push(b' ');
    out.extend_from_slice(text.as_bytes());
    out.push(b'\n');
}

fn decode_line(line: &str) -> Result<Event, String> {
    let (sum, text) = line.split_once(' ').ok_or("no checksum")?;
    if sum != checksum(text) {
        return Err("checksum mismatch".into());
    }
    ron::from_str(text).map_err(|err| format!("does not parse: {err}"))
}

/// What recovery found.
#[derive(Debug)]
pub struct Recovered {
    /// The rebuilt table.
    pub registry: Registry,
    /// The generation in force.
    pub generation: u64,
    /// Events replayed from the journal (not counting the snapshot).
    pub journal_events: usize,
    /// Whether a torn last line was dropped.
    pub dropped_torn_line: bool,
}

fn journal_path(dir: &Path, generation: u64) -> PathBuf {
    dir.join(format!("journal.{generation}"))
}

/// Reads the state in `dir` into a table with the given TTL and cap.
/// A folder that does not exist is created and starts empty.
pub fn recover(dir: &Path, ttl_secs: u64, max_peers: usize) -> Result<Recovered, JournalError> {
    if !dir.exists() {
        fs::create_dir_all(dir).map_err(io_err(dir))?;
    }
    let mut registry = Registry::new(ttl_secs, max_peers);
    let snapshot = dir.join(SNAPSHOT);
    let generation = if snapshot.exists() {
        read_snapshot(&snapshot, &mut registry)?
    } else {
        0
    };
    let journal = journal_path(dir, generation);
    let (journal_events, dropped_torn_line) = if journal.exists() {
        replay_journal(&journal, &mut registry)?
    } else {
        (0, false)
    };
    registry.check().map_err(|what| JournalError::Corrupt {
        path: journal.clone(),
        line: 0,
        what,
    })?;
    // Journals of other generations are leftovers of a compaction that
    // crashed before or after its commit point: never needed again.
    let entries = fs::read_dir(dir).map_err(io_err(dir))?;
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if let Some(other) = name.strip_prefix("journal.") {
            if other != generation.to_string() {
                let _ = fs::remove_file(entry.path());
            }
        }
    }
    Ok(Recovered {
        registry,
        generation,
        journal_events,
        dropped_torn_line,
    })
}

fn read_snapshot(path: &Path, registry: &mut Registry) -> Result<u64, JournalError> {
    let file = File::open(path).map_err(io_err(path))?;
    let corrupt = |line: usize, what: String| JournalError::Corrupt {
        path: path.to_owned(),
        line,
        what,
    };
    let mut lines = BufReader::new(file).lines();
    let header = lines
        .next()
        .ok_or_else(|| corrupt(1, "empty snapshot".into()))?
        .map_err(io_err(path))?;
    let generation = header
        .strip_prefix(SNAPSHOT_HEADER)
        .and_then(|g| g.parse::<u64>().ok())
        .ok_or_else(|| corrupt(1, "not a snapshot header".into()))?;
    let mut saw_end = false;
    for (at, line) in lines.enumerate() {
        let line = line.map_err(io_err(path))?;
        if line == "end" {
            saw_end = true;
            continue;
        }
        if saw_end {
            return Err(corrupt(at + 2, "data after the end mark".into()));
        }
        match decode_line(&line).map_err(|what| corrupt(at + 2, what))? {
            event @ Event::Restored(_) => registry.apply(&event),
            _ => return Err(corrupt(at + 2, "not a record".into())),
        }
    }
    if !saw_end {
        return Err(corrupt(0, "snapshot has no end mark".into()));
    }
    Ok(generation)
}

fn replay_journal(path: &Path, registry: &mut Registry) -> Result<(usize, bool), JournalError> {
    let bytes = fs::read(path).map_err(io_err(path))?;
    let complete = match bytes.iter().rposition(|b| *b == b'\n') {
        Some(at) => at + 1,
        None => 0,
    };
    let torn = complete < bytes.len();
    let text = std::str::from_utf8(&bytes[..complete]).map_err(|_| JournalError::Corrupt {
        path: path.to_owned(),
        line: 0,
        what: "not UTF-8".into(),
    })?;
    let mut count = 0;
    for (at, line) in text.lines().enumerate() {
        let event = decode_line(line).map_err(|what| JournalError::Corrupt {
            path: path.to_owned(),
            line: at + 1,
            what,
        })?;
        registry.apply(&event);
        count += 1;
    }
    if torn {
        let file = OpenOptions::new()
            .write(true)
            .open(path)
            .map_err(io_err(path))?;
        file.set_len(complete as u64).map_err(io_err(path))?;
        file.sync_all().map_err(io_err(path))?;
    }
    Ok((count, torn))
}

enum Op {
    Append {
        events: Vec<Event>,
        done: Option<oneshot::Sender<Result<(), String>>>,
    },
    Compact {
        records: Vec<PeerRecord>,
    },
    Reload {
        ttl_secs: u64,
        max_peers: usize,
        reply: mpsc::Sender<Result<Recovered, JournalError>>,
    },
}

/// The handle to the journal's writer thread. Cloning it is cheap; the
/// thread ends when every handle is dropped.
#[derive(Debug, Clone)]
pub struct Journal {
    tx: mpsc::Sender<Op>,
}

/// Outcomes the writer reports (for the registry's log).
pub type CompactionReport = Result<usize, String>;

impl Journal {
    /// Starts the writer thread on `dir`, appending to the journal of
    /// `generation` (as [`recover`] returned it); failures it cannot hand
    /// back to a caller (a compaction) are logged on `log`.
    pub fn start(dir: &Path, generation: u64, log: slog::Logger) -> Result<Journal, JournalError> {
        let path = journal_path(dir, generation);
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(io_err(&path))?;
        sync_dir(dir)?;
        let (tx, rx) = mpsc::channel();
        let writer = Writer {
            dir: dir.to_owned(),
            generation,
            file,
            path,
            log,
        };
        std::thread::Builder::new()
            .name("rs-journal".into())
            .spawn(move || writer.run(rx))
            .map_err(io_err(dir))?;
        Ok(Journal { tx })
    }

    /// Appends `events`; the receiver resolves once they are on disk.
    pub fn append_durable(&self, events: Vec<Event>) -> oneshot::Receiver<Result<(), String>> {
        let (done, rx) = oneshot::channel();
        if let Err(mpsc::SendError(Op::Append {
            done: Some(done), ..
        })) = self.tx.send(Op::Append {
            events,
            done: Some(done),
        }) {
            let _ = done.send(Err("the journal writer stopped".into()));
        }
        rx
    }

    /// Appends `events` without waiting for them to reach the disk.
    pub fn append_lazy(&self, events: Vec<Event>) {
        let _ = self.tx.send(Op::Append { events, done: None });
    }

    /// Replaces the journal by a snapshot of `records`.
    pub fn compact(&self, records: Vec<PeerRecord>) {
        let _ = self.tx.send(Op::Compact { records });
    }

    /// Waits until every append sent before is written, then reads the
    /// state back from disk. Blocks the caller: for a restart only.
    pub fn reload(&self, ttl_secs: u64, max_peers: usize) -> Result<Recovered, JournalError> {
        let (reply, rx) = mpsc::channel();
        self.tx
            .send(Op::Reload {
                ttl_secs,
                max_peers,
                reply,
            })
            .map_err(|_| JournalError::Stopped)?;
        rx.recv().map_err(|_| JournalError::Stopped)?
    }
}

fn sync_dir(dir: &Path) -> Result<(), JournalError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_err(dir))
}

struct Writer {
    dir: PathBuf,
    generation: u64,
    file: File,
    path: PathBuf,
    log: slog::Logger,
}

impl Writer {
    fn run(mut self, rx: mpsc::Receiver<Op>) {
        let mut buf = Vec::with_capacity(64 * 1024);
        let mut waiting: Vec<oneshot::Sender<Result<(), String>>> = Vec::new();
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
                        let _ = self.flush(&mut buf, &mut waiting);
                        continue;
                    }
                    Err(mpsc::RecvTimeoutError::Disconnected) => {
                        let _ = self.flush(&mut buf, &mut waiting);
                        return;
                    }
                }
            };
            let mut op = Some(first);
            while let Some(current) = op.take() {
                match current {
                    Op::Append { events, done } => {
                        for event in &events {
                            encode_line(event, &mut buf);
                        }
                        if let Some(done) = done {
                            waiting.push(done);
                        }
                    }
                    Op::Compact { records } => {
                        let _ = self.flush(&mut buf, &mut waiting);
                        if let Err(err) = self.compact(&records) {
                            slog::error!(self.log, "journal compaction failed"; "err" => %err);
                        }
                    }
                    Op::Reload {
                        ttl_secs,
                        max_peers,
                        reply,
                    } => {
                        let flushed = self.flush(&mut buf, &mut waiting);
                        let result = flushed.and_then(|()| recover(&self.dir, ttl_secs, max_peers));
                        let _ = reply.send(result);
                    }
                }
                op = rx.try_recv().ok();
            }
            if !waiting.is_empty() {
                let _ = self.flush(&mut buf, &mut waiting);
            }
        }
    }

    /// Writes the buffer; fsyncs and acknowledges when anyone waits.
    fn flush(
        &mut self,
        buf: &mut Vec<u8>,
        waiting: &mut Vec<oneshot::Sender<Result<(), String>>>,
    ) -> Result<(), JournalError> {
        let mut result = self.file.write_all(buf).map_err(io_err(&self.path));
        buf.clear();
        if result.is_ok() && !waiting.is_empty() {
            result = self.file.sync_data().map_err(io_err(&self.path));
        }
        let shown = result.as_ref().map(|_| ()).map_err(|err| err.to_string());
        for done in waiting.drain(..) {
            let _ = done.send(shown.clone());
        }
        result
    }

    fn compact(&mut self, records: &[PeerRecord]) -> Result<(), JournalError> {
        let next = self.generation + 1;
        let tmp = self.dir.join("snapshot.tmp");
        let mut out = Vec::with_capacity(records.len() * 160 + 64);
        out.extend_from_slice(format!("{SNAPSHOT_HEADER}{next}\n").as_bytes());
        for record in records {
            encode_line(&Event::Restored(record.clone()), &mut out);
        }
        out.extend_from_slice(b"end\n");
        let mut file = File::create(&tmp).map_err(io_err(&tmp))?;
        file.write_all(&out).map_err(io_err(&tmp))?;
        file.sync_all().map_err(io_err(&tmp))?;
        let next_path = journal_path(&self.dir, next);
        let next_file = OpenOptions::new()
            .create(true)
            .truncate(true)
            .write(true)
            .open(&next_path)
            .map_err(io_err(&next_path))?;
        next_file.sync_all().map_err(io_err(&next_path))?;
        sync_dir(&self.dir)?;
        let snapshot = self.dir.join(SNAPSHOT);
        fs::rename(&tmp, &snapshot).map_err(io_err(&snapshot))?;
        sync_dir(&self.dir)?;
        // Committed: from here on the new generation is the state.
        let old = std::mem::replace(&mut self.path, next_path);
        self.file = next_file;
        self.generation = next;
        let _ = fs::remove_file(old);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::registry::Registrant;
    use std::net::{IpAddr, Ipv4Addr};

    const LOCAL: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

    fn quiet() -> slog::Logger {
        slog::Logger::root(slog::Discard, slog::o!())
    }

    fn fill(registry: &mut Registry, journal: &Journal, n: u16, now: u64) -> Vec<u64> {
        let mut next = 100;
        (1..=n)
            .map(|port| {
                let r = registry
                    .register(Registrant::new("h", "L", port, None, LOCAL), now, || {
                        next += 1;
                        next
                    })
                    .unwrap();
                drop(journal.append_durable(r.events));
                r.cookie
            })
            .collect()
    }

    fn sorted(registry: &Registry) -> Vec<PeerRecord> {
        let mut v: Vec<_> = registry.records().cloned().collect();
        v.sort_by_key(|r| r.cookie);
        v
    }

    #[test]
    fn what_was_appended_is_recovered() {
        let dir = tempfile::tempdir().unwrap();
        let rec = recover(dir.path(), 60, 100).unwrap();
        let mut registry = rec.registry;
        let journal = Journal::start(dir.path(), rec.generation, quiet()).unwrap();
        let cookies = fill(&mut registry, &journal, 5, 1_000_000);
        journal.append_lazy(vec![registry.keep_alive(cookies[0], 1_001_000).unwrap()]);
        let back = journal.reload(60, 100).unwrap();
        assert_eq!(sorted(&back.registry), sorted(&registry));
        assert_eq!(back.journal_events, 6);
    }

    #[test]
    fn compaction_keeps_the_state_and_starts_a_new_generation() {
        let dir = tempfile::tempdir().unwrap();
        let rec = recover(dir.path(), 60, 100).unwrap();
        let mut registry = rec.registry;
        let journal = Journal::start(dir.path(), rec.generation, quiet()).unwrap();
        let cookies = fill(&mut registry, &journal, 5, 1_000_000);
        journal.compact(registry.records().cloned().collect());
        let event = registry.leave(cookies[1], 1_000_500).unwrap().unwrap();
        drop(journal.append_durable(vec![event]));
        let back = journal.reload(60, 100).unwrap();
        assert_eq!(back.generation, 1);
        assert_eq!(back.journal_events, 1);
        assert_eq!(sorted(&back.registry), sorted(&registry));
        assert!(!dir.path().join("journal.0").exists());
    }

    #[test]
    fn a_torn_last_line_is_dropped_and_a_damaged_line_refuses_the_start() {
        let dir = tempfile::tempdir().unwrap();
        let rec = recover(dir.path(), 60, 100).unwrap();
        let mut registry = rec.registry;
        let journal = Journal::start(dir.path(), 0, quiet()).unwrap();
        fill(&mut registry, &journal, 3, 1_000_000);
        journal.reload(60, 100).unwrap();
        let path = dir.path().join("journal.0");
        let mut bytes = fs::read(&path).unwrap();
        bytes.extend_from_slice(b"0123456789abcdef (Regis");
        fs::write(&path, &bytes).unwrap();
        let back = recover(dir.path(), 60, 100).unwrap();
        assert!(back.dropped_torn_line);
        assert_eq!(back.registry.len(), 3);

        // flip one byte inside the second line
        let mut bytes = fs::read(&path).unwrap();
        let second = bytes.iter().position(|b| *b == b'\n').unwrap() + 30;
        bytes[second] ^= 0x01;
        fs::write(&path, &bytes).unwrap();
        let err = recover(dir.path(), 60, 100).unwrap_err().to_string();
        assert!(err.contains("journal.0:2"), "{err}");
    }

    #[test]
    fn a_damaged_snapshot_refuses_the_start() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join(SNAPSHOT), "garbage\n").unwrap();
        let err = recover(dir.path(), 60, 100).unwrap_err().to_string();
        assert!(err.contains("snapshot:1"), "{err}");
    }
}
