//! Listening sockets on Unix: `SO_REUSEADDR`.

use std::io;
use tokio::net::TcpSocket;

pub fn prepare_listener(socket: &TcpSocket) -> io::Result<()> {
    socket.set_reuseaddr(true)
}
