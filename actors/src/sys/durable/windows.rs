//! Durability on Windows: `MoveFileExW` with `MOVEFILE_WRITE_THROUGH` for
//! names; no folder flush (NTFS logs entries, and flushing a file commits
//! the log); no whole-filesystem flush short of a volume handle, which
//! needs an administrator.

use std::io;
use std::os::windows::ffi::OsStrExt;
use std::path::Path;
use windows_sys::Win32::Storage::FileSystem::{
    MoveFileExW, MOVEFILE_REPLACE_EXISTING, MOVEFILE_WRITE_THROUGH,
};

/// How long to wait, in turn, for whoever holds the target for a moment
/// (a virus scanner, a tool reading the file): Windows refuses to replace
/// a file another handle has open. About 0.4 s in all.
const BUSY_RETRIES_MS: [u64; 8] = [1, 2, 5, 10, 20, 50, 100, 200];

/// ERROR_ACCESS_DENIED, ERROR_SHARING_VIOLATION, ERROR_LOCK_VIOLATION.
fn busy(err: &io::Error) -> bool {
    matches!(err.raw_os_error(), Some(5 | 32 | 33))
}

pub fn rename(from: &Path, to: &Path) -> io::Result<()> {
    let (from, to) = (wide(from)?, wide(to)?);
    let mut waits = BUSY_RETRIES_MS.iter();
    loop {
        // SAFETY: both are NUL-terminated UTF-16 strings that outlive the
        // call.
        let moved = unsafe {
            MoveFileExW(
                from.as_ptr(),
                to.as_ptr(),
                MOVEFILE_REPLACE_EXISTING | MOVEFILE_WRITE_THROUGH,
            )
        };
        if moved != 0 {
            return Ok(());
        }
        let err = io::Error::last_os_error();
        match waits.next() {
            Some(&ms) if busy(&err) => std::thread::sleep(std::time::Duration::from_millis(ms)),
            _ => return Err(err),
        }
    }
}

pub fn sync_dir(dir: &Path) -> io::Result<()> {
    // Nothing to flush (see the module's table); the folder must exist.
    std::fs::metadata(dir).map(|_| ())
}

pub fn flushable_filesystem(dir: &Path) -> io::Result<Option<u64>> {
    std::fs::metadata(dir).map(|_| None)
}

pub fn flush_filesystem(_dir: &Path) -> io::Result<()> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "no whole-filesystem flush on this platform",
    ))
}

/// `path` as a NUL-terminated wide string `MoveFileExW` takes at any
/// length: absolute, and with the `\\?\` prefix once it nears MAX_PATH.
fn wide(path: &Path) -> io::Result<Vec<u16>> {
    let full = std::path::absolute(path)?;
    let text: Vec<u16> = full.as_os_str().encode_wide().collect();
    if text.contains(&0) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "a path with a NUL character",
        ));
    }
    let utf16 = |s: &str| s.encode_utf16().collect::<Vec<u16>>();
    let mut out = Vec::with_capacity(text.len() + 9);
    if text.len() >= 248 && !text.starts_with(&utf16(r"\\?\")) {
        match text.strip_prefix(&utf16(r"\\")[..]) {
            // \\server\share\... becomes \\?\UNC\server\share\...
            Some(unc) => {
                out.extend(utf16(r"\\?\UNC\"));
                out.extend_from_slice(unc);
            }
            None => {
                out.extend(utf16(r"\\?\"));
                out.extend_from_slice(&text);
            }
        }
    } else {
        out.extend_from_slice(&text);
    }
    out.push(0);
    Ok(out)
}
