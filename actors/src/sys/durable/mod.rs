//! Durability: what makes a file's bytes, a new name and a folder survive
//! a power cut on each platform.
//!
//! | | Linux | macOS | Windows |
//! |---|---|---|---|
//! | a file's bytes (`File::sync_all`, std) | `fsync(2)` | `fcntl(F_FULLFSYNC)`: the drive's cache too | `FlushFileBuffers` |
//! | a new name ([`rename`]) | `rename(2)`, then `fsync(2)` of the folder | `rename(2)`, then `F_FULLFSYNC` of the folder (`fsync(2)` where the filesystem refuses it) | `MoveFileExW` with `MOVEFILE_WRITE_THROUGH`: returns once the move is on the disk; retried for up to 0.4 s while another handle holds the target |
//! | a new file's entry ([`sync_dir`]) | `fsync(2)` of the folder | `F_FULLFSYNC` of the folder, as above | nothing to call: NTFS logs the entry, and the next `FlushFileBuffers` of the file commits the log (as SQLite relies on) |
//! | a whole filesystem ([`flush_filesystem`]) | `syncfs(2)` | none: file by file | none: file by file |
//!
//! Callers sync a file's bytes with std (`sync_all`, `sync_data`), which
//! already does the strongest thing each platform offers, and go through
//! this module for names and folders. A file that another handle is
//! reading cannot be replaced on Windows (before Windows 10's POSIX
//! semantics, and under Wine): nothing here replaces a file in use (a peer
//! downloads only documents it does not hold; the journal replaces a
//! snapshot nobody reads).

use std::io;
use std::path::Path;

#[cfg_attr(unix, path = "unix.rs")]
#[cfg_attr(windows, path = "windows.rs")]
mod platform;

/// Renames `from` to `to`, replacing `to` if it exists, and returns once
/// the new name is on the device.
pub fn rename(from: &Path, to: &Path) -> io::Result<()> {
    platform::rename(from, to)
}

/// Makes the entries created in `dir` so far (files written and synced)
/// survive a power cut.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    platform::sync_dir(dir)
}

/// The filesystem that holds `dir`, when this platform can flush a whole
/// filesystem in one cheap call (Linux); `None` elsewhere, where files are
/// synced one by one. Callers with the same answer may share a flush.
pub fn flushable_filesystem(dir: &Path) -> io::Result<Option<u64>> {
    platform::flushable_filesystem(dir)
}

/// Flushes the whole filesystem that holds `dir` to its device; an error
/// of kind `Unsupported` where [`flushable_filesystem`] says `None`.
pub fn flush_filesystem(dir: &Path) -> io::Result<()> {
    platform::flush_filesystem(dir)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn a_rename_replaces_the_target_and_takes_a_source_still_open() {
        let dir = tempfile::tempdir().unwrap();
        let (old, new) = (dir.path().join("doc"), dir.path().join(".doc.part"));
        std::fs::write(&old, b"old bytes").unwrap();
        // The journal renames its snapshot while its writer still holds it
        // (allowed on Windows because std opens with FILE_SHARE_DELETE).
        let mut writer = std::fs::File::create(&new).unwrap();
        writer.write_all(b"new bytes").unwrap();
        writer.sync_all().unwrap();
        rename(&new, &old).unwrap();
        drop(writer);
        assert_eq!(std::fs::read(&old).unwrap(), b"new bytes");
        assert!(!new.exists());
    }

    #[test]
    fn a_rename_waits_out_a_reader_that_holds_the_target_for_a_moment() {
        // On Windows a reader blocks the replacement while it holds the
        // file (a tool reading the peer's cookie, a virus scanner).
        let dir = tempfile::tempdir().unwrap();
        let (old, new) = (dir.path().join("cookie"), dir.path().join("cookie.part"));
        std::fs::write(&old, b"old").unwrap();
        std::fs::write(&new, b"new").unwrap();
        let reader = std::fs::File::open(&old).unwrap();
        let held = std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(50));
            drop(reader);
        });
        rename(&new, &old).unwrap();
        held.join().unwrap();
        assert_eq!(std::fs::read(&old).unwrap(), b"new");
    }

    #[test]
    fn a_rename_of_a_missing_file_fails_and_changes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("doc");
        std::fs::write(&target, b"kept").unwrap();
        let err = rename(&dir.path().join("missing"), &target).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound, "{err}");
        assert_eq!(std::fs::read(&target).unwrap(), b"kept");
    }

    #[test]
    fn a_rename_takes_a_long_path() {
        // Past Windows' 260-character MAX_PATH.
        let dir = tempfile::tempdir().unwrap();
        let mut deep = dir.path().to_owned();
        for _ in 0..6 {
            deep.push("a-folder-name-of-fifty-characters-or-so-0123456789");
        }
        std::fs::create_dir_all(&deep).unwrap();
        let (from, to) = (deep.join(".part"), deep.join("rfc1.txt"));
        std::fs::File::create(&from)
            .unwrap()
            .write_all(b"x")
            .unwrap();
        rename(&from, &to).unwrap();
        assert_eq!(std::fs::read(&to).unwrap(), b"x");
    }

    #[test]
    fn a_folder_syncs_and_a_missing_one_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("new"), b"x").unwrap();
        sync_dir(dir.path()).unwrap();
        let err = sync_dir(&dir.path().join("missing")).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound, "{err}");
    }

    #[test]
    fn a_whole_filesystem_flushes_where_the_platform_can_and_says_so_elsewhere() {
        let dir = tempfile::tempdir().unwrap();
        match flushable_filesystem(dir.path()).unwrap() {
            Some(id) => {
                flush_filesystem(dir.path()).unwrap();
                let inner = dir.path().join("inner");
                std::fs::create_dir(&inner).unwrap();
                assert_eq!(flushable_filesystem(&inner).unwrap(), Some(id));
            }
            None => {
                let err = flush_filesystem(dir.path()).unwrap_err();
                assert_eq!(err.kind(), io::ErrorKind::Unsupported);
            }
        }
        assert_eq!(
            flushable_filesystem(dir.path()).unwrap().is_some(),
            cfg!(target_os = "linux"),
            "only Linux has syncfs(2)"
        );
    }
}
