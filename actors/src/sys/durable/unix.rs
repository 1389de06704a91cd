//! Durability on Unix: `rename(2)` and `fsync(2)` of the folder;
//! `F_FULLFSYNC` on Apple's systems; `syncfs(2)` on Linux.

use std::fs::File;
use std::io;
use std::path::Path;

pub fn rename(from: &Path, to: &Path) -> io::Result<()> {
    std::fs::rename(from, to)?;
    let (from_dir, to_dir) = (folder_of(from), folder_of(to));
    sync_dir(to_dir)?;
    if from_dir != to_dir {
        sync_dir(from_dir)?;
    }
    Ok(())
}

/// The folder holding `path` (`.` for a bare name).
fn folder_of(path: &Path) -> &Path {
    match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    }
}

pub fn sync_dir(dir: &Path) -> io::Result<()> {
    sync_folder(&File::open(dir)?)
}

#[cfg(target_vendor = "apple")]
fn sync_folder(folder: &File) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    // std's sync_all is F_FULLFSYNC here, which also empties the drive's
    // write cache; a filesystem that refuses it on a folder gets fsync(2).
    match folder.sync_all() {
        Ok(()) => Ok(()),
        Err(err)
            if matches!(
                err.raw_os_error(),
                Some(libc::ENOTSUP | libc::EINVAL | libc::ENOTTY)
            ) =>
        {
            // SAFETY: fsync(2) on a descriptor we own for the whole call.
            if unsafe { libc::fsync(folder.as_raw_fd()) } == 0 {
                Ok(())
            } else {
                Err(io::Error::last_os_error())
            }
        }
        Err(err) => Err(err),
    }
}

#[cfg(not(target_vendor = "apple"))]
fn sync_folder(folder: &File) -> io::Result<()> {
    folder.sync_all()
}

#[cfg(target_os = "linux")]
pub fn flushable_filesystem(dir: &Path) -> io::Result<Option<u64>> {
    use std::os::unix::fs::MetadataExt;
    Ok(Some(std::fs::metadata(dir)?.dev()))
}

#[cfg(target_os = "linux")]
pub fn flush_filesystem(dir: &Path) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    let folder = File::open(dir)?;
    // SAFETY: syncfs(2) on a descriptor we own for the whole call.
    if unsafe { libc::syncfs(folder.as_raw_fd()) } == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

// Elsewhere sync(2) only schedules the writes (macOS, the BSDs): no flush
// that waits for the whole filesystem.
#[cfg(not(target_os = "linux"))]
pub fn flushable_filesystem(dir: &Path) -> io::Result<Option<u64>> {
    std::fs::metadata(dir).map(|_| None)
}

#[cfg(not(target_os = "linux"))]
pub fn flush_filesystem(_dir: &Path) -> io::Result<()> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "no whole-filesystem flush on this platform",
    ))
}
