//! The registry's journal: every change appended and made durable on a
//! thread of its own, and compactions written there.
//!
//! The files, their bytes (`format.rs`) and how they are read back
//! (`recovery.rs`):
//!
//! - `journal.G`: the events of generation `G`, each numbered (`seq`).
//! - `snapshot`: the table as of generation `G`, written in slices.
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

use super::format;
use super::recovery::{
    journal_generations, journal_path, recover, Damage, Recovered, SNAPSHOT, SNAPSHOT_TMP,
};
use crate::state::registry::Event;
use crate::supervise::FatalSender;
use prometheus_client::metrics::histogram::Histogram;
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::oneshot;

/// The longest a TTL reset waits before it is written.
pub(crate) const LAZY_FLUSH: Duration = Duration::from_millis(500);

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
        what: Damage,
    },
    /// A compaction was asked to start while one runs (a mistake of the
    /// registry's, not damage).
    #[error("a compaction is running already")]
    CompactionRunning,
    /// A compaction was asked to finish while none runs.
    #[error("no compaction is running")]
    NoCompaction,
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

pub(super) fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> JournalError + '_ {
    move |source| JournalError::Io {
        path: path.to_owned(),
        source: Arc::new(source),
    }
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
        format::put_event(*seq, event.as_ref(), &mut out);
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
            return Err(JournalError::CompactionRunning);
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
        let mut header = Vec::with_capacity(format::HEADER_LEN);
        format::put_header(next, &mut header);
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
        let mut header = Vec::with_capacity(format::SLICE_HEADER_LEN);
        format::put_slice_header(marker, count, records.len(), &mut header);
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
            return Err(JournalError::NoCompaction);
        };
        let result = (|| {
            if let Some(err) = compaction.failed.take() {
                return Err(err);
            }
            let mut trailer = Vec::with_capacity(format::TRAILER_LEN);
            format::put_trailer(
                compaction.records,
                &compaction.hasher.finalize(),
                &mut trailer,
            );
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
    use super::super::recovery::encode_slice;
    use super::*;
    use crate::state::registry::{Registrant, Registry};
    use std::net::{IpAddr, Ipv4Addr};

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
            let (records, count, next) = encode_slice(&f.registry, at, 2);
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
        let (records, count, _) = encode_slice(&f.registry, 0, usize::MAX);
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
        super::super::recovery::write_snapshot(dir.path(), &registry).unwrap();
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
