//! The descriptor (Unix) or handle (Windows) budget behind the connection
//! limit.
//!
//! On Unix every connection and open file takes a descriptor, and the
//! soft `RLIMIT_NOFILE` caps them (1,024 by default on Linux, 256 on
//! macOS): a daemon raises it to its hard limit at start, then sizes its
//! connection limit to fit. On Windows a process may hold about 16
//! million handles; no per-process limit applies, and a server meets
//! memory limits (`WSAENOBUFS`) long before.

use std::io;

#[cfg_attr(unix, path = "unix.rs")]
#[cfg_attr(windows, path = "windows.rs")]
mod platform;

/// Raises the open-descriptor limit as far as this process may.
pub fn raise_limit() {
    platform::raise_limit();
}

/// The descriptors this process may hold, or `None` where no per-process
/// limit applies.
pub fn limit() -> Option<u64> {
    platform::limit()
}

/// A descriptor to hold in reserve and free when an accept fails for
/// want of descriptors, so that one connection can still be taken off the
/// queue and refused (`None` where no limit applies).
pub fn reserve() -> Option<std::fs::File> {
    platform::reserve()
}

/// Whether `err` says the process or the system ran out of descriptors
/// (or socket buffers, on Windows).
pub fn exhausted(err: &io::Error) -> bool {
    platform::exhausted(err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_limit_is_known_where_there_is_one_and_a_reserve_comes_with_it() {
        raise_limit();
        match limit() {
            Some(n) => {
                assert!(n >= 256, "{n}");
                assert!(reserve().is_some());
            }
            None => assert!(reserve().is_none()),
        }
    }

    #[test]
    fn other_errors_are_not_exhaustion() {
        for kind in [
            io::ErrorKind::ConnectionReset,
            io::ErrorKind::WouldBlock,
            io::ErrorKind::Interrupted,
        ] {
            assert!(!exhausted(&io::Error::from(kind)));
        }
    }
}
