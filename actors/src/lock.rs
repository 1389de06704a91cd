//! One daemon per folder: a lock file held while the daemon runs, and a
//! note beside it (where its admin endpoint listens, its process id) that
//! `p2p-di ctl` reads.
//!
//! The lock is std's `File::try_lock`: `flock(2)` on Unix, advisory;
//! `LockFileEx` on Windows, mandatory, so that while it is held no other
//! process can read the locked file. The note therefore lives in a file of
//! its own, replaced whole (written beside, then renamed over), so a
//! reader sees the old note or the new one on every platform. The lock
//! goes with the process (a crash included); a note left by a crash names
//! an address nobody answers on, which `ctl` reports as such.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// The file names of a folder's lock and note.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LockNames {
    /// The lock file.
    pub lock: &'static str,
    /// The note tools read.
    pub note: &'static str,
}

/// A peer's RFC folder (dotfiles, since the folder is the user's).
pub const PEER: LockNames = LockNames {
    lock: ".p2p-di.lock",
    note: ".p2p-di.admin",
};

/// The RS's state folder.
pub const RS: LockNames = LockNames {
    lock: "lock",
    note: "admin",
};

/// Why a folder could not be locked.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// Another process holds the lock.
    #[error("it is in use by another daemon (which holds {lock})")]
    InUse {
        /// The lock file.
        lock: PathBuf,
    },
    /// The folder or the lock file could not be made.
    #[error("{path}: {source}")]
    Io {
        /// The folder or file.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
}

/// A held folder lock; released when dropped (or when the process ends).
#[derive(Debug)]
pub struct FolderLock {
    _file: File,
    dir: PathBuf,
    names: LockNames,
}

impl FolderLock {
    /// Creates `dir` if missing and takes its lock. Returns the lock and
    /// whether the folder was created.
    pub fn take(dir: &Path, names: LockNames) -> Result<(FolderLock, bool), LockError> {
        let io = |path: &Path| {
            let path = path.to_owned();
            move |source| LockError::Io { path, source }
        };
        let created = !dir.exists();
        fs::create_dir_all(dir).map_err(io(dir))?;
        let path = dir.join(names.lock);
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(io(&path))?;
        match file.try_lock() {
            Ok(()) => Ok((
                FolderLock {
                    _file: file,
                    dir: dir.to_owned(),
                    names,
                },
                created,
            )),
            Err(fs::TryLockError::WouldBlock) => Err(LockError::InUse { lock: path }),
            Err(fs::TryLockError::Error(err)) => Err(io(&path)(err)),
        }
    }

    /// Replaces the folder's note with `text` (whole: a reader sees the
    /// old text or the new); an empty text removes it.
    pub fn note(&self, text: &str) -> io::Result<()> {
        let path = self.dir.join(self.names.note);
        if text.is_empty() {
            return match fs::remove_file(&path) {
                Err(err) if err.kind() != io::ErrorKind::NotFound => Err(err),
                _ => Ok(()),
            };
        }
        let temp = self.dir.join(format!("{}.part", self.names.note));
        File::create(&temp)?.write_all(text.as_bytes())?;
        // Tools read the note while the daemon runs: it need not outlive a
        // power cut, so a plain rename.
        fs::rename(&temp, &path)
    }
}

/// The note of the daemon holding `dir`, if it wrote one.
pub fn read_note(dir: &Path, names: LockNames) -> io::Result<String> {
    fs::read_to_string(dir.join(names.note))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_on_a_folder_is_refused_until_the_first_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let folder = dir.path().join("new");
        let (held, created) = FolderLock::take(&folder, PEER).unwrap();
        assert!(created);
        let err = FolderLock::take(&folder, PEER).unwrap_err();
        assert!(matches!(&err, LockError::InUse { lock } if lock.ends_with(".p2p-di.lock")));
        assert!(err.to_string().contains(".p2p-di.lock"), "{err}");
        drop(held);
        let (_again, created) = FolderLock::take(&folder, PEER).unwrap();
        assert!(!created);
    }

    #[test]
    fn the_note_is_readable_while_the_lock_is_held_and_replaced_whole() {
        // On Windows the lock file itself cannot be read while locked.
        let dir = tempfile::tempdir().unwrap();
        let (lock, _) = FolderLock::take(dir.path(), RS).unwrap();
        assert_eq!(
            read_note(dir.path(), RS).unwrap_err().kind(),
            io::ErrorKind::NotFound
        );
        lock.note("admin=127.0.0.1:1\npid=1\n").unwrap();
        assert_eq!(
            read_note(dir.path(), RS).unwrap(),
            "admin=127.0.0.1:1\npid=1\n"
        );
        lock.note("pid=2\n").unwrap();
        assert_eq!(read_note(dir.path(), RS).unwrap(), "pid=2\n");
        lock.note("").unwrap();
        assert!(read_note(dir.path(), RS).is_err());
        lock.note("").unwrap();
        let names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(names, ["lock"], "no temporary file is left");
    }
}
