//! Signals on Unix: SIGINT, SIGTERM, SIGHUP.

use super::{Listen, Signal};
use std::io;
use tokio::signal::unix::{signal, SignalKind};

pub struct Signals {
    interrupt: tokio::signal::unix::Signal,
    terminate: tokio::signal::unix::Signal,
    hangup: Option<tokio::signal::unix::Signal>,
}

impl Signals {
    pub fn new(listen: Listen) -> io::Result<Signals> {
        Ok(Signals {
            interrupt: signal(SignalKind::interrupt())?,
            terminate: signal(SignalKind::terminate())?,
            hangup: match listen {
                Listen::Daemon => Some(signal(SignalKind::hangup())?),
                Listen::Run => None,
            },
        })
    }

    pub async fn next(&mut self) -> Signal {
        let hangup = async {
            match &mut self.hangup {
                Some(hangup) => hangup.recv().await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = self.interrupt.recv() => Signal::Stop { by: "SIGINT", within: None },
            _ = self.terminate.recv() => Signal::Stop { by: "SIGTERM", within: None },
            _ = hangup => Signal::Rescan { by: "SIGHUP" },
        }
    }
}
