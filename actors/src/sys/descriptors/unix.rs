//! Descriptors on Unix: `RLIMIT_NOFILE`.

use std::io;

pub fn raise_limit() {
    // As far as the hard limit (and, on macOS, kern.maxfilesperproc).
    let _ = rlimit::increase_nofile_limit(u64::MAX);
}

pub fn limit() -> Option<u64> {
    rlimit::getrlimit(rlimit::Resource::NOFILE)
        .map(|(soft, _)| soft)
        .ok()
        .or(Some(1024))
}

pub fn reserve() -> Option<std::fs::File> {
    std::fs::File::open("/dev/null").ok()
}

pub fn exhausted(err: &io::Error) -> bool {
    matches!(err.raw_os_error(), Some(libc::EMFILE | libc::ENFILE))
}

#[cfg(test)]
mod tests {
    #[test]
    fn unix_has_a_limit() {
        assert!(super::limit().is_some());
    }

    #[test]
    fn emfile_and_enfile_are_exhaustion() {
        for code in [libc::EMFILE, libc::ENFILE] {
            assert!(super::exhausted(&std::io::Error::from_raw_os_error(code)));
        }
    }
}
