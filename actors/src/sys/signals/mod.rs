//! What a daemon or a lab run is asked from outside, the same on every
//! platform: stop (leave the network, then exit), or rescan the RFC folder.
//!
//! | | stop | rescan |
//! |---|---|---|
//! | Unix | SIGINT (Ctrl-C), SIGTERM | SIGHUP (daemons only) |
//! | Windows | Ctrl-C, Ctrl-Break, the console closed, log-off, shut-down | none: `p2p-di ctl rescan` |
//!
//! Windows ends a process a few seconds after its console is closed or
//! the user logs off (5 s for a closed console), whatever the process
//! does: such a stop says so in [`Signal::Stop::within`], and the daemon
//! shortens its goodbyes to fit.

use std::io;
use std::time::Duration;

#[cfg_attr(unix, path = "unix.rs")]
#[cfg_attr(windows, path = "windows.rs")]
mod platform;

/// What was asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// Shut down.
    Stop {
        /// What arrived, as the log says it (`SIGTERM`, `Ctrl-Break`).
        by: &'static str,
        /// How long the system lets the process live from now, when it
        /// ends it regardless (a closed console on Windows).
        within: Option<Duration>,
    },
    /// Re-read what can be re-read (the RFC folder).
    Rescan {
        /// What arrived.
        by: &'static str,
    },
}

/// Which signals a process answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Listen {
    /// A daemon: stop, and rescan where the platform has a signal for it
    /// (SIGHUP never kills a daemon).
    Daemon,
    /// A run in a terminal (the lab): stop only; a hang-up of the terminal
    /// keeps its default meaning.
    Run,
}

/// The signals a process answers, listened to from creation to drop, so
/// that none arriving between two waits is lost.
pub struct Signals(platform::Signals);

impl Signals {
    /// Starts listening; must run inside a tokio runtime.
    pub fn new(listen: Listen) -> io::Result<Signals> {
        platform::Signals::new(listen).map(Signals)
    }

    /// Waits for the next one.
    pub async fn next(&mut self) -> Signal {
        self.0.next().await
    }
}

impl std::fmt::Debug for Signals {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Signals")
    }
}
