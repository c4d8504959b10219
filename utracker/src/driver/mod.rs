//! The tokio drivers: sockets and timers around the sans-IO cores.

mod client;
mod server;

use std::net::SocketAddr;

use socket2::{Domain, Protocol, Socket, Type};

use crate::error::Error;

pub use client::{TrackerClient, TrackerClientConfig};
pub use server::{ServerStats, TrackerServer, TrackerServerConfig, WorkerMode};

/// A non-blocking tokio UDP socket bound to `addr` (see [`std_udp_socket`]).
pub(crate) fn udp_socket(addr: SocketAddr) -> Result<tokio::net::UdpSocket, Error> {
    // Room for a burst of replies to thousands of requests in flight.
    let socket = std_udp_socket(addr, false, Some(1 << 20))?;
    socket
        .set_nonblocking(true)
        .map_err(|e| Error::io("making a UDP socket non-blocking", e))?;
    tokio::net::UdpSocket::from_std(socket)
        .map_err(|e| Error::io("registering a UDP socket with tokio", e))
}

/// A UDP socket bound to `addr`: IPv6 sockets carry IPv6 only (IPv4 goes
/// through its own socket, so the families stay apart), and `reuse_port`
/// lets several workers bind the same port.
pub(crate) fn std_udp_socket(
    addr: SocketAddr,
    reuse_port: bool,
    buffer: Option<usize>,
) -> Result<std::net::UdpSocket, Error> {
    let domain = Domain::for_address(addr);
    let socket = Socket::new(domain, Type::DGRAM, Some(Protocol::UDP))
        .map_err(|e| Error::io("creating a UDP socket", e))?;
    if addr.is_ipv6() {
        socket
            .set_only_v6(true)
            .map_err(|e| Error::io("setting IPV6_V6ONLY", e))?;
    }
    if reuse_port {
        socket
            .set_reuse_port(true)
            .map_err(|e| Error::io("setting SO_REUSEPORT", e))?;
    }
    if let Some(size) = buffer {
        // Best effort: the kernel caps it at net.core.rmem_max.
        let _ = socket.set_recv_buffer_size(size);
        let _ = socket.set_send_buffer_size(size);
    }
    socket
        .bind(&addr.into())
        .map_err(|e| Error::io("binding a UDP socket", e))?;
    Ok(socket.into())
}
