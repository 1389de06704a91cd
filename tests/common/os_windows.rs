//! What the end-to-end tests do to processes on Windows. A test cannot
//! send a console event to another process under Wine 8
//! (`GenerateConsoleCtrlEvent` fails with ERROR_INVALID_ACCESS), so the
//! tests that stop a daemon gracefully are ignored here and the Windows
//! binary's console events are tested from Linux (tests/wine.rs, which
//! sends the Wine process SIGINT: Ctrl-C to the program). Calling these
//! from a test that runs is a mistake in the test.

use std::process::{Child, Command};

/// Why the helpers below cannot run here.
const NO_CONSOLE_EVENTS: &str =
    "a console event to another process cannot be sent from a test under Wine";

pub fn terminate(_child: &Child) {
    panic!("{NO_CONSOLE_EVENTS}");
}

/// Has a peer leave (through its admin endpoint), then kills it.
pub fn leave_and_stop(daemon: &mut super::Daemon) {
    let left = super::ctl(daemon.admin(), &["leave"], &std::env::temp_dir());
    assert!(left.ok(), "{left:?}");
    daemon.kill();
}

pub fn interrupt(_child: &Child) {
    panic!("{NO_CONSOLE_EVENTS}");
}

pub fn hang_up(_child: &Child) {
    panic!("Windows has no SIGHUP");
}

pub fn limit_descriptors(_command: &mut Command, _nofile: u64) {
    panic!("Windows has no descriptor limit to lower");
}

pub fn raise_own_nofile() {}

pub fn is_root() -> bool {
    false
}

pub fn rss_kib(_pid: u32) -> u64 {
    panic!("no /proc on Windows");
}

pub fn open_fds(_pid: u32) -> usize {
    panic!("no /proc on Windows");
}

/// No Unix datagram sockets on Windows.
pub struct Datagrams(std::convert::Infallible);

impl Datagrams {
    pub fn bind(_path: &std::path::Path) -> Datagrams {
        panic!("no Unix datagram sockets on Windows");
    }

    pub fn pair_as_stdio() -> (Datagrams, std::process::Stdio) {
        panic!("no Unix datagram sockets on Windows");
    }

    pub fn recv(&self) -> String {
        match self.0 {}
    }
}
