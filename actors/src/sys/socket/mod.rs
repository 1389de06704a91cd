//! How a listening socket is prepared.
//!
//! On Unix a server sets `SO_REUSEADDR`, so that a restarted daemon binds
//! its port while connections of its previous life sit in TIME_WAIT. On
//! Windows that option means something else: it lets another socket bind
//! a port already in use, so two peers would share one port. Windows
//! rebinds a listening port past TIME_WAIT without it, so it stays off
//! there (as mio and std do).

use std::io;
use tokio::net::TcpSocket;

#[cfg_attr(unix, path = "unix.rs")]
#[cfg_attr(windows, path = "windows.rs")]
mod platform;

/// Sets what a listening socket needs before `bind`.
pub fn prepare_listener(socket: &TcpSocket) -> io::Result<()> {
    platform::prepare_listener(socket)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_port_in_use_is_never_bound_twice() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let listen = |addr| {
                let socket = TcpSocket::new_v4()?;
                prepare_listener(&socket)?;
                socket.bind(addr)?;
                socket.listen(16)
            };
            let first = listen("127.0.0.1:0".parse().unwrap()).unwrap();
            let addr = first.local_addr().unwrap();
            let err = listen(addr).unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::AddrInUse, "{err}");
            // Once the first is closed, its port binds again.
            drop(first);
            listen(addr).unwrap();
        });
    }
}
