//! Handles on Windows: no per-process limit to size connections by.

use std::io;

/// Winsock's "too many open sockets".
const WSAEMFILE: i32 = 10024;
/// Winsock's "no buffer space": what running out of sockets looks like.
const WSAENOBUFS: i32 = 10055;

pub fn raise_limit() {}

pub fn limit() -> Option<u64> {
    None
}

pub fn reserve() -> Option<std::fs::File> {
    None
}

pub fn exhausted(err: &io::Error) -> bool {
    matches!(err.raw_os_error(), Some(WSAEMFILE | WSAENOBUFS))
}

#[cfg(test)]
mod tests {
    #[test]
    fn windows_has_no_per_process_limit() {
        assert_eq!(super::limit(), None);
    }

    #[test]
    fn winsock_exhaustion_is_exhaustion() {
        for code in [super::WSAEMFILE, super::WSAENOBUFS] {
            assert!(super::exhausted(&std::io::Error::from_raw_os_error(code)));
        }
    }
}
