//! Platform code, one module per concern, one file per platform under
//! each: the rest of the code calls `sys::durable::rename(..)` or
//! `sys::descriptors::limit()` and never sees a `cfg`.
//!
//! - [`durable`]: making a file's bytes, a new name and a folder survive a
//!   power cut; a whole-filesystem flush where one is cheap (Linux).
//! - [`descriptors`]: the descriptor (Unix) or handle (Windows) budget
//!   behind the connection limit.
//! - [`socket`]: how a listening socket is prepared.
//! - [`signals`]: what a daemon is asked from outside (stop, rescan):
//!   SIGINT, SIGTERM and SIGHUP on Unix; Ctrl-C, Ctrl-Break, console
//!   close, log-off and shut-down on Windows.
//! - [`ready`]: telling a service manager the daemon serves (systemd on
//!   Linux; nothing elsewhere).
//!
//! The folder locks need no module here: std's `File::try_lock` is
//! `flock(2)` on Unix and `LockFileEx` on Windows, and [`crate::lock`]
//! keeps what other programs read out of the locked file, since Windows
//! locks are mandatory (a locked file cannot be read by anyone else).

pub mod descriptors;
pub mod durable;
pub mod ready;
pub mod signals;
pub mod socket;

/// The operating system's name as people write it (`Linux`, `macOS`,
/// `Windows`, ...): the OS field of every message this build sends.
pub const OS_NAME: &str = if cfg!(target_os = "linux") {
    "Linux"
} else if cfg!(target_os = "macos") {
    "macOS"
} else if cfg!(windows) {
    "Windows"
} else if cfg!(target_os = "freebsd") {
    "FreeBSD"
} else if cfg!(target_os = "openbsd") {
    "OpenBSD"
} else if cfg!(target_os = "netbsd") {
    "NetBSD"
} else {
    std::env::consts::OS
};
