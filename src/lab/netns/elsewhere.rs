//! The lab's network where there are no network namespaces (macOS,
//! Windows): every run is refused before anything starts, and a network
//! or a daemon of one cannot be made.

use super::{Shape, Subnet};
use std::convert::Infallible;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Why `--net netns` cannot run here.
fn unsupported() -> anyhow::Error {
    anyhow::anyhow!(
        "--net netns runs every daemon in a Linux network namespace, which {} does not have; \
         run the lab in-process (the default, `--net in-process`) here, or `--net netns` on \
         Linux; nothing was run",
        p2p_di_actors::wire::os_name()
    )
}

/// Refuses: no namespaces here.
pub fn preflight(_netem: bool) -> anyhow::Result<()> {
    Err(unsupported())
}

/// Nothing to remove: no namespaces were ever made here.
pub fn remove_stale() -> usize {
    0
}

/// Nothing to clean up.
pub fn cleanup_all() {}

/// A lab network; none can be made here.
#[derive(Debug)]
pub struct Network(Infallible);

impl Network {
    /// Refuses.
    pub fn create(_subnet: Subnet, _shapes: &[Shape]) -> anyhow::Result<Network> {
        Err(unsupported())
    }

    /// Node `k`'s namespace.
    pub fn namespace(&self, _k: usize) -> &str {
        match self.0 {}
    }

    /// Node `k`'s address.
    pub fn addr(&self, _k: usize) -> Ipv4Addr {
        match self.0 {}
    }
}

impl Drop for Network {
    fn drop(&mut self) {
        match self.0 {}
    }
}

/// A daemon of a lab network; none can be started here.
#[derive(Debug)]
pub struct Daemon {
    never: Infallible,
    /// Its log.
    pub log: PathBuf,
}

impl Daemon {
    /// Refuses.
    pub fn start(_ns: &str, _args: &[&str], _log: &Path) -> anyhow::Result<Daemon> {
        Err(unsupported())
    }

    /// Kills it.
    pub fn kill(&mut self) {
        match self.never {}
    }

    /// Stops it.
    pub fn stop(&mut self, _grace: Duration) {
        match self.never {}
    }

    /// Whether it has exited.
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        match self.never {}
    }
}

/// Refuses: there is no namespace to connect from.
pub fn http(
    _ns: &str,
    _addr: SocketAddr,
    _method: &str,
    _path: &str,
    _body: Option<&serde_json::Value>,
) -> anyhow::Result<(u16, String)> {
    Err(unsupported())
}
