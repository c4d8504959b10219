use std::io;
use std::net::SocketAddr;

use bitswarm_core::{InfoHashV1, PeerId};

/// Every way a handshake can fail.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The first byte (the protocol string's length) was not 19 (BEP 3).
    #[error("handshake: protocol string length {found} at byte 0, expected 19")]
    ProtocolLength {
        /// The length byte received.
        found: u8,
    },
    /// The protocol string was not `BitTorrent protocol` (BEP 3).
    #[error("handshake: unknown protocol string at bytes 1..20")]
    ProtocolString,
    /// The connection closed before the handshake was complete.
    #[error("handshake: connection closed after {received} of {expected} bytes")]
    Truncated {
        /// Bytes received.
        received: usize,
        /// Bytes needed.
        expected: usize,
    },
    /// The handshake did not complete within the timeout.
    #[error("handshake with {addr}: timed out")]
    Timeout {
        /// The remote address.
        addr: SocketAddr,
    },
    /// An incoming connection asked for a torrent we do not have.
    #[error("handshake: unknown info-hash {info_hash}")]
    UnknownInfoHash {
        /// The info-hash the peer sent.
        info_hash: InfoHashV1,
    },
    /// The remote answered with another info-hash than the one we asked for.
    #[error("handshake: peer answered info-hash {found}, expected {expected}")]
    InfoHashMismatch {
        /// The hash we sent.
        expected: InfoHashV1,
        /// The hash it sent back.
        found: InfoHashV1,
    },
    /// The remote's peer id is our own: we connected to ourselves.
    #[error("handshake: connected to ourselves")]
    SelfConnection,
    /// The remote's peer id is not the one we expected.
    #[error("handshake: expected peer id {expected}, got {found}")]
    PeerIdMismatch {
        /// The expected id.
        expected: PeerId,
        /// The id received.
        found: PeerId,
    },
    /// A filter refused the connection.
    #[error("handshake with {addr}: refused by filter ({reason})")]
    Filtered {
        /// The remote address.
        addr: SocketAddr,
        /// Why.
        reason: &'static str,
    },
    /// The manager has shut down.
    #[error("handshake manager has shut down")]
    Shutdown,
    /// A socket error.
    #[error("handshake I/O with {addr:?}: {source}")]
    Io {
        /// The remote address, when known.
        addr: Option<SocketAddr>,
        /// The error.
        #[source]
        source: io::Error,
    },
}

impl Error {
    pub(crate) fn io(addr: Option<SocketAddr>, source: io::Error) -> Self {
        Self::Io { addr, source }
    }
}

impl From<io::Error> for Error {
    fn from(source: io::Error) -> Self {
        Self::Io { addr: None, source }
    }
}
