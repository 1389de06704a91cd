//! The RFC folder: `rfcNNNN.txt` documents, `titles.tsv`, and dotfiles
//! (temporary downloads, the saved cookie; the lock is [`crate::lock`]'s).
//!
//! The functions here block. Actors never call them on their thread: they
//! go through a [`Folder`], a worker thread that runs every folder
//! operation of one peer in order. Order is what keeps the index true: a
//! rescan queued after a commit sees the committed file, even if whoever
//! asked for the commit was restarted in between.

use super::durable;
use crate::config::SyncMode;
use crate::sys;
use crate::wire::RfcNumber;
use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use tokio::sync::oneshot;

/// The titles file's name.
pub const TITLES: &str = "titles.tsv";
/// The saved cookie's file name.
pub const COOKIE_FILE: &str = ".p2p-di-cookie";

/// The file name of RFC `number`.
pub fn file_name(number: RfcNumber) -> String {
    format!("rfc{number}.txt")
}

/// The RFC number of a document file name (`rfc9264.txt`).
pub fn number_of(name: &str) -> Option<RfcNumber> {
    let digits = name.strip_prefix("rfc")?.strip_suffix(".txt")?;
    crate::wire::parse::number(digits.as_bytes())
}

/// A document found in the folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalDocument {
    /// Its number.
    pub number: RfcNumber,
    /// Its title.
    pub title: String,
    /// Its size in bytes.
    pub bytes: u64,
}

/// Reads `titles.tsv` (`NUMBER<TAB>TITLE` per line); lines that do not
/// parse are skipped.
pub fn read_titles(dir: &Path) -> BTreeMap<RfcNumber, String> {
    read_titles_noting(dir).0
}

/// [`read_titles`], with the lines skipped (line number and text).
pub fn read_titles_noting(dir: &Path) -> (BTreeMap<RfcNumber, String>, Vec<(usize, String)>) {
    let Ok(text) = fs::read_to_string(dir.join(TITLES)) else {
        return (BTreeMap::new(), Vec::new());
    };
    let mut titles = BTreeMap::new();
    let mut skipped = Vec::new();
    for (at, line) in text.lines().enumerate() {
        let parsed = line.split_once('\t').and_then(|(number, title)| {
            let number = crate::wire::parse::number(number.trim().as_bytes())?;
            let title = title.trim();
            (!title.is_empty()).then(|| (number, title.to_owned()))
        });
        match parsed {
            Some((number, title)) => {
                titles.insert(number, title);
            }
            None if line.trim().is_empty() => {}
            None => skipped.push((at + 1, line.to_owned())),
        }
    }
    (titles, skipped)
}

/// The title a document gives itself: a Markdown `# TITLE {#title}`
/// heading, else the first Markdown heading that is not just `RFC NNNN`,
/// else the centred title line of a classic plain-text RFC. `None` when
/// nothing in the first lines looks like a title.
pub fn title_from_document(text: &str) -> Option<String> {
    let head: Vec<&str> = text.lines().take(400).collect();
    if let Some(title) = head
        .iter()
        .filter(|line| line.contains("{#title}"))
        .find_map(|line| heading(line))
    {
        return Some(title.to_owned());
    }
    if let Some(title) = head
        .iter()
        .filter_map(|line| heading(line))
        .find(|h| !is_rfc_label(h))
    {
        return Some(title.to_owned());
    }
    // A classic RFC: after the header block, a line indented and centred,
    // with no column gaps inside it.
    head.iter()
        .take(80)
        .skip_while(|line| !line.trim().is_empty())
        .map(|line| (line.len() - line.trim_start().len(), line.trim()))
        .find(|(indent, line)| {
            *indent >= 6
                && line.len() >= 6
                && !line.contains("   ")
                && !is_rfc_label(line)
                && line.chars().any(char::is_alphabetic)
        })
        .map(|(_, line)| line.to_owned())
}

/// The text of a Markdown `# ` heading, without a `{#id}` suffix.
fn heading(line: &str) -> Option<&str> {
    let rest = line.strip_prefix("# ")?;
    let rest = rest.split(" {#").next().unwrap_or(rest).trim();
    (!rest.is_empty()).then_some(rest)
}

fn is_rfc_label(text: &str) -> bool {
    let text = text.trim();
    text.strip_prefix("RFC ")
        .is_some_and(|rest| rest.trim().chars().all(|c| c.is_ascii_digit()))
        || text.starts_with("Request for Comments")
}

/// What a scan found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scan {
    /// The documents, by number.
    pub documents: Vec<LocalDocument>,
    /// Files skipped, with why (a name that is no RFC, a bad `titles.tsv`
    /// line), for the operator.
    pub skipped: Vec<String>,
}

/// Scans `dir` for documents and gives each a title (from `titles.tsv`,
/// else the document, else `RFC NNNN`).
pub fn scan(dir: &Path) -> io::Result<Scan> {
    let (titles, bad_lines) = read_titles_noting(dir);
    let mut found = Vec::new();
    let mut skipped: Vec<String> = bad_lines
        .into_iter()
        .map(|(line, text)| format!("{TITLES}:{line}: not NUMBER<TAB>TITLE: {text:?}"))
        .collect();
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with('.') || name == TITLES {
            continue;
        }
        let Some(number) = number_of(&name) else {
            skipped.push(format!("{name}: not named rfcNNNN.txt"));
            continue;
        };
        let meta = entry.metadata()?;
        if !meta.is_file() {
            skipped.push(format!("{name}: not a file"));
            continue;
        }
        let title = match titles.get(&number) {
            Some(title) => title.clone(),
            None => read_prefix(&entry.path(), 64 * 1024)
                .ok()
                .and_then(|text| title_from_document(&text))
                .unwrap_or_else(|| format!("RFC {number}")),
        };
        found.push(LocalDocument {
            number,
            title,
            bytes: meta.len(),
        });
    }
    found.sort_by_key(|d| d.number);
    Ok(Scan {
        documents: found,
        skipped,
    })
}

/// Removes the temporary files interrupted downloads left (at start, when
/// no download runs); returns how many.
pub fn remove_partials(dir: &Path) -> io::Result<usize> {
    let mut removed = 0;
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with('.') && name.ends_with(".part") && fs::remove_file(entry.path()).is_ok()
        {
            removed += 1;
        }
    }
    Ok(removed)
}

/// The path of a new temporary file for a download of RFC `number`.
pub fn partial_path(dir: &Path, number: RfcNumber) -> PathBuf {
    dir.join(format!(
        ".rfc{number}.txt.{:016x}.part",
        rand::random::<u64>()
    ))
}

fn read_prefix(path: &Path, limit: u64) -> io::Result<String> {
    let mut bytes = Vec::new();
    File::open(path)?.take(limit).read_to_end(&mut bytes)?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// Why a document could not be saved.
#[derive(Debug, thiserror::Error)]
pub enum SaveError {
    /// A file operation failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// What reached the disk is not what was received.
    #[error("{path}: {written} bytes on disk, {expected} expected")]
    Short {
        /// The temporary file.
        path: PathBuf,
        /// Bytes on disk.
        written: u64,
        /// Bytes expected.
        expected: u64,
    },
    /// The folder's worker is gone (the peer is stopping).
    #[error("the RFC folder's worker stopped")]
    Stopped,
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> SaveError + '_ {
    move |source| SaveError::Io {
        path: path.to_owned(),
        source,
    }
}

/// The numbers `titles.tsv` names, read once and kept up to date by the
/// folder's worker (its only writer), so a commit appends without reading
/// the file again: the work of a commit does not grow with the folder.
/// Read again when the folder is scanned (someone may have edited it).
#[derive(Debug, Default)]
pub struct Titled(Option<std::collections::HashSet<RfcNumber>>);

impl Titled {
    /// Nothing read yet.
    pub fn new() -> Self {
        Titled(None)
    }

    /// Forgets what it read: the next append reads the file again.
    pub fn forget(&mut self) {
        self.0 = None;
    }

    fn numbers(&mut self, dir: &Path) -> &mut std::collections::HashSet<RfcNumber> {
        self.0
            .get_or_insert_with(|| read_titles(dir).into_keys().collect())
    }
}

/// Makes the downloaded, synced temporary file `temp` RFC `number`: its
/// length checked against `length`, renamed into place durably
/// ([`sys::durable::rename`]); then its title appended to `titles.tsv`. On any failure the temporary
/// file is removed and nothing else has changed.
pub fn commit(
    dir: &Path,
    titled: &mut Titled,
    temp: &Path,
    number: RfcNumber,
    title: &str,
    length: u64,
) -> Result<LocalDocument, SaveError> {
    let result = check_length(temp, length).and_then(|()| place_durably(dir, temp, number));
    if let Err(err) = result {
        let _ = fs::remove_file(temp);
        return Err(err);
    }
    let title = clean_title(title);
    append_titles(dir, titled, &[(number, &title)])?;
    Ok(LocalDocument {
        number,
        title,
        bytes: length,
    })
}

/// Commits, with [`SyncMode::Grouped`], temporary files that were written
/// but not synced: their lengths checked; where the platform has a cheap
/// whole-filesystem flush, one grouped flush (the files' data), the
/// renames, another (the folder); elsewhere each file synced and renamed
/// durably; then the titles in one append. Each outcome is in the order of
/// `batch`.
pub fn commit_grouped(
    dir: &Path,
    titled: &mut Titled,
    batch: &[Pending],
) -> Vec<Result<LocalDocument, SaveError>> {
    let mut outcomes: Vec<Result<(), SaveError>> = batch
        .iter()
        .map(|p| check_length(&p.temp, p.length))
        .collect();
    match durable::group_of(dir) {
        Ok(Some(group)) => {
            let sync = |outcomes: &mut Vec<Result<(), SaveError>>| {
                if let Err(err) = group.sync(|| sys::durable::flush_filesystem(dir)) {
                    fail_all(outcomes, dir, &err);
                }
            };
            if outcomes.iter().any(Result::is_ok) {
                sync(&mut outcomes);
            }
            for (pending, outcome) in batch.iter().zip(outcomes.iter_mut()) {
                if outcome.is_ok() {
                    *outcome = place(dir, &pending.temp, pending.number);
                }
            }
            if outcomes.iter().any(Result::is_ok) {
                sync(&mut outcomes);
            }
        }
        Ok(None) => {
            for (pending, outcome) in batch.iter().zip(outcomes.iter_mut()) {
                if outcome.is_ok() {
                    *outcome = sync_file(&pending.temp)
                        .and_then(|()| place_durably(dir, &pending.temp, pending.number));
                }
            }
        }
        Err(err) => fail_all(&mut outcomes, dir, &err),
    }
    let titles: Vec<String> = batch.iter().map(|p| clean_title(&p.title)).collect();
    let shown: Vec<(RfcNumber, &str)> = batch
        .iter()
        .zip(&titles)
        .zip(&outcomes)
        .filter(|(_, outcome)| outcome.is_ok())
        .map(|((p, title), _)| (p.number, title.as_str()))
        .collect();
    let appended = append_titles(dir, titled, &shown);
    batch
        .iter()
        .zip(titles)
        .zip(outcomes)
        .map(|((pending, title), outcome)| {
            if let Err(err) = outcome {
                let _ = fs::remove_file(&pending.temp);
                return Err(err);
            }
            if let Err(err) = &appended {
                return Err(SaveError::Io {
                    path: dir.join(TITLES),
                    source: io::Error::other(err.to_string()),
                });
            }
            Ok(LocalDocument {
                number: pending.number,
                title,
                bytes: pending.length,
            })
        })
        .collect()
}

/// A downloaded temporary file waiting to be committed.
#[derive(Debug)]
pub struct Pending {
    /// The temporary file.
    pub temp: PathBuf,
    /// The RFC it holds.
    pub number: RfcNumber,
    /// Its title.
    pub title: String,
    /// The length the holder announced.
    pub length: u64,
}

/// Whether `temp` holds the `length` bytes the holder announced.
fn check_length(temp: &Path, length: u64) -> Result<(), SaveError> {
    let written = fs::metadata(temp).map_err(io_err(temp))?.len();
    if written == length {
        Ok(())
    } else {
        Err(SaveError::Short {
            path: temp.to_owned(),
            written,
            expected: length,
        })
    }
}

/// Marks every outcome still good as failed by `err`, a failure of the
/// folder as a whole.
fn fail_all(outcomes: &mut [Result<(), SaveError>], dir: &Path, err: &io::Error) {
    for outcome in outcomes.iter_mut().filter(|o| o.is_ok()) {
        *outcome = Err(SaveError::Io {
            path: dir.to_owned(),
            source: io::Error::new(err.kind(), err.to_string()),
        });
    }
}

/// Syncs a written file's bytes (opened for writing: Windows flushes only
/// through a handle that may write).
fn sync_file(path: &Path) -> Result<(), SaveError> {
    OpenOptions::new()
        .write(true)
        .open(path)
        .and_then(|file| file.sync_all())
        .map_err(io_err(path))
}

/// Renames `temp` into place as RFC `number`; durable once the folder is
/// flushed.
fn place(dir: &Path, temp: &Path, number: RfcNumber) -> Result<(), SaveError> {
    let final_path = dir.join(file_name(number));
    fs::rename(temp, &final_path).map_err(io_err(&final_path))
}

/// Renames `temp` into place as RFC `number`, durably.
fn place_durably(dir: &Path, temp: &Path, number: RfcNumber) -> Result<(), SaveError> {
    let final_path = dir.join(file_name(number));
    sys::durable::rename(temp, &final_path).map_err(io_err(&final_path))
}

fn clean_title(title: &str) -> String {
    title.replace(['\t', '\r', '\n'], " ")
}

/// Appends to `titles.tsv` the titles of documents it does not name yet.
fn append_titles(
    dir: &Path,
    titled: &mut Titled,
    titles: &[(RfcNumber, &str)],
) -> Result<(), SaveError> {
    if titles.is_empty() {
        return Ok(());
    }
    let known = titled.numbers(dir);
    let new: Vec<&(RfcNumber, &str)> = titles
        .iter()
        .filter(|(number, _)| !known.contains(number))
        .collect();
    if new.is_empty() {
        return Ok(());
    }
    let lines: String = new
        .iter()
        .map(|(number, title)| format!("{number}\t{title}\n"))
        .collect();
    let path = dir.join(TITLES);
    let written = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .and_then(|mut file| file.write_all(lines.as_bytes()))
        .map_err(io_err(&path));
    match written {
        Ok(()) => known.extend(new.iter().map(|(number, _)| *number)),
        // What reached the file is not known: read it again next time.
        Err(_) => titled.forget(),
    }
    written
}

/// Saves `body` as RFC `number` in one go: a temporary file written and
/// synced, then [`commit`].
#[cfg(test)]
fn save(dir: &Path, number: RfcNumber, title: &str, body: &[u8]) -> Result<(), SaveError> {
    let temp = partial_path(dir, number);
    let written = (|| {
        let mut file = File::create(&temp).map_err(io_err(&temp))?;
        file.write_all(body).map_err(io_err(&temp))?;
        file.sync_all().map_err(io_err(&temp))
    })();
    if let Err(err) = written {
        let _ = fs::remove_file(&temp);
        return Err(err);
    }
    commit(
        dir,
        &mut Titled::new(),
        &temp,
        number,
        title,
        body.len() as u64,
    )
    .map(|_| ())
}

/// The cookies saved, by RS (`HOST:PORT\tCOOKIE` lines; a line that does
/// not read is ignored: the RS then issues a new cookie).
pub fn read_cookies(dir: &Path) -> BTreeMap<String, u64> {
    let text = fs::read_to_string(dir.join(COOKIE_FILE)).unwrap_or_default();
    text.lines()
        .filter_map(|line| {
            let (rs, cookie) = line.trim().split_once('\t')?;
            Some((rs.to_owned(), cookie.parse().ok()?))
        })
        .collect()
}

/// The cookie saved for the RS at `rs`, if any.
pub fn read_cookie(dir: &Path, rs: &str) -> Option<u64> {
    read_cookies(dir).get(rs).copied()
}

/// Saves the cookie issued by the RS at `rs` beside the others
/// (atomically, synced). The folder worker runs one write at a time.
pub fn write_cookie(dir: &Path, rs: &str, cookie: u64) -> io::Result<()> {
    let mut cookies = read_cookies(dir);
    cookies.insert(rs.to_owned(), cookie);
    let text: String = cookies
        .iter()
        .map(|(rs, cookie)| format!("{rs}\t{cookie}\n"))
        .collect();
    let temp = dir.join(format!("{COOKIE_FILE}.part"));
    let mut file = File::create(&temp)?;
    file.write_all(text.as_bytes())?;
    file.sync_all()?;
    drop(file);
    sys::durable::rename(&temp, &dir.join(COOKIE_FILE))
}

enum Op {
    Scan(oneshot::Sender<io::Result<Scan>>),
    Commit(Pending, oneshot::Sender<Result<LocalDocument, SaveError>>),
    WriteCookie {
        rs: String,
        cookie: u64,
        done: oneshot::Sender<io::Result<()>>,
    },
    Remove(Vec<PathBuf>),
}

/// One peer's folder worker: a thread that runs folder operations in the
/// order they were asked for. Cheap to clone; the thread ends when every
/// handle is dropped. An operation that panics is reported as failed and
/// the worker goes on.
#[derive(Debug, Clone)]
pub struct Folder {
    dir: PathBuf,
    tx: mpsc::Sender<Op>,
}

impl Folder {
    /// Starts the worker for `dir`, committing downloads as `sync` says
    /// (with [`SyncMode::Grouped`], the commits waiting when it gets to
    /// them form one batch).
    pub fn start(dir: &Path, sync: SyncMode) -> io::Result<Folder> {
        let (tx, rx) = mpsc::channel::<Op>();
        let worker_dir = dir.to_owned();
        std::thread::Builder::new()
            .name("rfc-folder".into())
            .spawn(move || {
                let dir = &worker_dir;
                let mut titled = Titled::new();
                let mut next = None;
                while let Some(op) = next.take().or_else(|| rx.recv().ok()) {
                    let mut batch = Vec::new();
                    match op {
                        Op::Commit(pending, done) if sync == SyncMode::Grouped => {
                            batch.push((pending, done));
                            while let Ok(op) = rx.try_recv() {
                                match op {
                                    Op::Commit(pending, done) => batch.push((pending, done)),
                                    other => {
                                        next = Some(other);
                                        break;
                                    }
                                }
                            }
                        }
                        op => {
                            // A panic fails this operation only (its reply
                            // is dropped).
                            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                                run(dir, &mut titled, op)
                            }));
                            continue;
                        }
                    }
                    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        crate::fault::point("folder.commit");
                        let (pending, done): (Vec<_>, Vec<_>) = batch.into_iter().unzip();
                        for (outcome, done) in commit_grouped(dir, &mut titled, &pending)
                            .into_iter()
                            .zip(done)
                        {
                            let _ = done.send(outcome);
                        }
                    }));
                }
            })?;
        Ok(Folder {
            dir: dir.to_owned(),
            tx,
        })
    }

    /// The folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Scans the folder.
    pub async fn scan(&self) -> io::Result<Scan> {
        let (done, rx) = oneshot::channel();
        self.send(Op::Scan(done));
        rx.await
            .unwrap_or_else(|_| Err(io::Error::other("the RFC folder's worker stopped")))
    }

    /// Commits a downloaded temporary file as RFC `number` (see [`commit`]).
    pub async fn commit(
        &self,
        temp: PathBuf,
        number: RfcNumber,
        title: String,
        length: u64,
    ) -> Result<LocalDocument, SaveError> {
        let (done, rx) = oneshot::channel();
        let pending = Pending {
            temp,
            number,
            title,
            length,
        };
        self.send(Op::Commit(pending, done));
        rx.await.unwrap_or(Err(SaveError::Stopped))
    }

    /// Saves the cookie the RS at `rs` issued.
    pub async fn write_cookie(&self, rs: String, cookie: u64) -> io::Result<()> {
        let (done, rx) = oneshot::channel();
        self.send(Op::WriteCookie { rs, cookie, done });
        rx.await
            .unwrap_or_else(|_| Err(io::Error::other("the RFC folder's worker stopped")))
    }

    /// Removes files (temporary files of dropped downloads), in order with
    /// everything else, without waiting.
    pub fn remove(&self, paths: Vec<PathBuf>) {
        if !paths.is_empty() {
            self.send(Op::Remove(paths));
        }
    }

    fn send(&self, op: Op) {
        // A closed channel drops the op and its reply sender: the caller
        // sees the "stopped" error.
        let _ = self.tx.send(op);
    }
}

fn run(dir: &Path, titled: &mut Titled, op: Op) {
    match op {
        Op::Scan(done) => {
            titled.forget();
            let _ = done.send(scan(dir));
        }
        Op::Commit(p, done) => {
            crate::fault::point("folder.commit");
            let _ = done.send(commit(dir, titled, &p.temp, p.number, &p.title, p.length));
        }
        Op::WriteCookie { rs, cookie, done } => {
            let _ = done.send(write_cookie(dir, &rs, cookie));
        }
        Op::Remove(paths) => {
            for path in paths {
                let _ = fs::remove_file(path);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn titles_come_from_the_document_when_titles_tsv_is_silent() {
        let markdown = "  RFC 9264   Linkset   July 2022\n\n# RFC 9264 {#rfcnum}\n\n# Linkset: Media Types {#title}\n";
        assert_eq!(
            title_from_document(markdown).as_deref(),
            Some("Linkset: Media Types")
        );
        let plain_heading = "# RFC 1\n\n# A Plain Heading\n";
        assert_eq!(
            title_from_document(plain_heading).as_deref(),
            Some("A Plain Heading")
        );
        let classic = "Network Working Group                                   J. Postel\nRequest for Comments: 793                                      ISI\n                                                      September 1981\n\n\n                   TRANSMISSION CONTROL PROTOCOL\n";
        assert_eq!(
            title_from_document(classic).as_deref(),
            Some("TRANSMISSION CONTROL PROTOCOL")
        );
        assert_eq!(title_from_document("just text\nmore text\n"), None);
    }

    #[test]
    fn a_scan_uses_titles_tsv_then_the_document_then_the_number() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("rfc1.txt"), "# One {#title}\n").unwrap();
        fs::write(dir.path().join("rfc2.txt"), "# Two {#title}\n").unwrap();
        fs::write(dir.path().join("rfc3.txt"), "no title here\n").unwrap();
        fs::write(dir.path().join("notes.txt"), "x").unwrap();
        fs::write(dir.path().join(".rfc4.txt.abc.part"), "half").unwrap();
        fs::write(dir.path().join(TITLES), "2\tThe Second\nbad line\n").unwrap();
        let scan = scan(dir.path()).unwrap();
        let titles: Vec<_> = scan
            .documents
            .iter()
            .map(|d| (d.number, d.title.as_str()))
            .collect();
        assert_eq!(titles, [(1, "One"), (2, "The Second"), (3, "RFC 3")]);
        assert_eq!(
            scan.skipped,
            [
                "titles.tsv:2: not NUMBER<TAB>TITLE: \"bad line\"",
                "notes.txt: not named rfcNNNN.txt"
            ]
        );
        // temporary files are left to remove_partials, at start only
        assert!(dir.path().join(".rfc4.txt.abc.part").exists());
        assert_eq!(remove_partials(dir.path()).unwrap(), 1);
        assert!(!dir.path().join(".rfc4.txt.abc.part").exists());
    }

    #[test]
    fn a_save_leaves_the_document_and_its_title_and_nothing_else() {
        let dir = tempfile::tempdir().unwrap();
        save(dir.path(), 9264, "Linkset\tx", b"body").unwrap();
        save(dir.path(), 9264, "Again", b"body").unwrap();
        let mut names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert_eq!(names, ["rfc9264.txt", "titles.tsv"]);
        assert_eq!(fs::read(dir.path().join("rfc9264.txt")).unwrap(), b"body");
        assert_eq!(
            fs::read_to_string(dir.path().join(TITLES)).unwrap(),
            "9264\tLinkset x\n"
        );
    }

    #[test]
    fn a_short_temporary_file_is_not_committed_and_is_removed() {
        let dir = tempfile::tempdir().unwrap();
        let temp = partial_path(dir.path(), 7);
        fs::write(&temp, b"half").unwrap();
        let err = commit(dir.path(), &mut Titled::new(), &temp, 7, "t", 8).unwrap_err();
        assert!(
            matches!(
                err,
                SaveError::Short {
                    written: 4,
                    expected: 8,
                    ..
                }
            ),
            "{err}"
        );
        assert!(!temp.exists());
        assert!(!dir.path().join("rfc7.txt").exists());
    }

    #[test]
    fn a_grouped_batch_commits_each_file_on_its_own_merits() {
        let dir = tempfile::tempdir().unwrap();
        let pending = |number: RfcNumber, body: &[u8], length: u64| {
            let temp = partial_path(dir.path(), number);
            fs::write(&temp, body).unwrap();
            Pending {
                temp,
                number,
                title: format!("Title\t{number}"),
                length,
            }
        };
        let batch = [
            pending(1, b"one", 3),
            pending(2, b"tw", 3),
            pending(3, b"three", 5),
        ];
        let outcomes = commit_grouped(dir.path(), &mut Titled::new(), &batch);
        assert_eq!(outcomes[0].as_ref().unwrap().title, "Title 1");
        assert!(matches!(
            outcomes[1],
            Err(SaveError::Short { written: 2, .. })
        ));
        assert_eq!(outcomes[2].as_ref().unwrap().bytes, 5);
        assert_eq!(fs::read(dir.path().join("rfc1.txt")).unwrap(), b"one");
        assert_eq!(fs::read(dir.path().join("rfc3.txt")).unwrap(), b"three");
        assert!(!dir.path().join("rfc2.txt").exists());
        assert!(batch.iter().all(|p| !p.temp.exists()));
        assert_eq!(
            fs::read_to_string(dir.path().join(TITLES)).unwrap(),
            "1\tTitle 1\n3\tTitle 3\n"
        );
    }

    #[tokio::test]
    async fn a_grouped_folder_batches_what_waits_and_answers_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let folder = Folder::start(dir.path(), SyncMode::Grouped).unwrap();
        let commits = (1..=20u32).map(|number| {
            let temp = partial_path(dir.path(), number);
            fs::write(&temp, number.to_string()).unwrap();
            let length = number.to_string().len() as u64;
            folder.commit(temp, number, format!("t{number}"), length)
        });
        let saved = futures_util::future::join_all(commits).await;
        for (number, outcome) in (1..=20u32).zip(saved) {
            assert_eq!(outcome.unwrap().number, number);
            assert_eq!(
                fs::read_to_string(dir.path().join(file_name(number))).unwrap(),
                number.to_string()
            );
        }
        assert_eq!(read_titles(dir.path()).len(), 20);
        // What follows a batch still runs, in order.
        assert_eq!(folder.scan().await.unwrap().documents.len(), 20);
    }

    #[test]
    fn the_cookie_is_kept_per_rs() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(read_cookie(dir.path(), "a:1"), None);
        write_cookie(dir.path(), "a:1", 42).unwrap();
        assert_eq!(read_cookie(dir.path(), "a:1"), Some(42));
        assert_eq!(read_cookie(dir.path(), "b:1"), None);
        write_cookie(dir.path(), "b:1", 7).unwrap();
        write_cookie(dir.path(), "a:1", 43).unwrap();
        assert_eq!(read_cookie(dir.path(), "a:1"), Some(43));
        assert_eq!(read_cookie(dir.path(), "b:1"), Some(7));
        assert_eq!(
            std::fs::read_to_string(dir.path().join(COOKIE_FILE)).unwrap(),
            "a:1\t43\nb:1\t7\n"
        );
    }
}
