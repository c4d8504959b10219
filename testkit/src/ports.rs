//! Free loopback ports for programs under test.

use std::net::{Ipv4Addr, SocketAddr, TcpListener, UdpSocket};

use crate::Error;

/// A port on 127.0.0.1 that is free for both TCP and UDP at the time of the call.
///
/// The port is released before it is returned, so another process could take
/// it in between; on a test machine that race is rare, and a program that
/// fails to bind reports it through its log.
pub fn free_port() -> Result<u16, Error> {
    for _ in 0..64 {
        let tcp = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .map_err(|e| Error::io("binding a TCP port on 127.0.0.1", e))?;
        let port = tcp
            .local_addr()
            .map_err(|e| Error::io("reading a port", e))?
            .port();
        if UdpSocket::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, port))).is_ok() {
            return Ok(port);
        }
    }
    Err(Error::io(
        "finding a port free for both TCP and UDP",
        std::io::Error::from(std::io::ErrorKind::AddrInUse),
    ))
}
