//! Console events on Windows: Ctrl-C, Ctrl-Break, close, log-off and
//! shut-down, each a stop.

use super::{Listen, Signal};
use std::io;
use std::time::Duration;
use tokio::signal::windows::{
    ctrl_break, ctrl_c, ctrl_close, ctrl_logoff, ctrl_shutdown, CtrlBreak, CtrlC, CtrlClose,
    CtrlLogoff, CtrlShutdown,
};

/// Windows ends a process this long after its console closed (and, by
/// default, after log-off or shut-down); a little is kept for the exit.
const CLOSE_GRACE: Duration = Duration::from_millis(4500);

pub struct Signals {
    c: CtrlC,
    brk: CtrlBreak,
    close: CtrlClose,
    logoff: CtrlLogoff,
    shutdown: CtrlShutdown,
}

impl Signals {
    pub fn new(_listen: Listen) -> io::Result<Signals> {
        Ok(Signals {
            c: ctrl_c()?,
            brk: ctrl_break()?,
            close: ctrl_close()?,
            logoff: ctrl_logoff()?,
            shutdown: ctrl_shutdown()?,
        })
    }

    pub async fn next(&mut self) -> Signal {
        let stop = |by, within| Signal::Stop { by, within };
        tokio::select! {
            _ = self.c.recv() => stop("Ctrl-C", None),
            _ = self.brk.recv() => stop("Ctrl-Break", None),
            _ = self.close.recv() => stop("console closed", Some(CLOSE_GRACE)),
            _ = self.logoff.recv() => stop("log-off", Some(CLOSE_GRACE)),
            _ = self.shutdown.recv() => stop("shut-down", Some(CLOSE_GRACE)),
        }
    }
}
