//! Listening sockets on Windows: nothing to set (`SO_REUSEADDR` would let
//! a second socket bind the same port).

use std::io;
use tokio::net::TcpSocket;

pub fn prepare_listener(_socket: &TcpSocket) -> io::Result<()> {
    Ok(())
}
