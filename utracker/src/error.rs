//! The crate's error type, and the decode errors it nests.

use std::fmt;
use std::io;
use std::net::SocketAddr;

/// Which BEP 15 packet a decode error was found in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum PacketKind {
    /// A packet whose action was not read yet.
    Header,
    /// A connect request.
    ConnectRequest,
    /// An announce request.
    AnnounceRequest,
    /// A scrape request.
    ScrapeRequest,
    /// A connect response.
    ConnectResponse,
    /// An announce response.
    AnnounceResponse,
    /// A scrape response.
    ScrapeResponse,
    /// An error response.
    ErrorResponse,
    /// The BEP 41 options after an announce request.
    Options,
}

impl fmt::Display for PacketKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Header => "packet header",
            Self::ConnectRequest => "connect request",
            Self::AnnounceRequest => "announce request",
            Self::ScrapeRequest => "scrape request",
            Self::ConnectResponse => "connect response",
            Self::AnnounceResponse => "announce response",
            Self::ScrapeResponse => "scrape response",
            Self::ErrorResponse => "error response",
            Self::Options => "BEP 41 options",
        })
    }
}

/// Why a datagram is not a valid BEP 15 packet.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The datagram ended before a field. A tracker that answers with a bare
    /// 8-byte header (as opentracker does for an info-hash it does not track)
    /// gives this error with `field` `"interval"`.
    #[error("{packet} truncated: {len} bytes end before `{field}` at offset {offset}")]
    Truncated {
        /// The packet being read.
        packet: PacketKind,
        /// The field that did not fit.
        field: &'static str,
        /// Where the field starts.
        offset: usize,
        /// The datagram's length.
        len: usize,
    },
    /// A list in the datagram does not end on an entry boundary.
    #[error(
        "{packet}: {field} of {len} bytes at offset {offset} is not a whole number of {entry}-byte entries"
    )]
    PartialEntry {
        /// The packet being read.
        packet: PacketKind,
        /// The list.
        field: &'static str,
        /// Where the list starts.
        offset: usize,
        /// The list's length in bytes.
        len: usize,
        /// The size of one entry.
        entry: usize,
    },
    /// The datagram or one of its parts is larger than the protocol allows.
    #[error("{packet}: {field} is {len}, more than the limit of {max}")]
    Oversized {
        /// The packet being read.
        packet: PacketKind,
        /// What is too large.
        field: &'static str,
        /// Its size.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The action field holds no action this side of the protocol knows.
    #[error("unknown action {action} at offset {offset}")]
    UnknownAction {
        /// The value read.
        action: u32,
        /// Where it was read.
        offset: usize,
    },
    /// A connect request without BEP 15's magic protocol id.
    #[error("connect request with protocol id {0:#x} instead of 0x41727101980")]
    BadProtocolId(u64),
    /// An announce request with an event number BEP 15 does not define.
    #[error("announce request with unknown event {0} at offset 80")]
    UnknownEvent(u32),
}

/// Everything that can go wrong in this crate.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A datagram could not be decoded.
    #[error(transparent)]
    Decode(#[from] DecodeError),
    /// A tracker answered a request with something that is not a valid reply
    /// to it: a truncated packet (opentracker's bare header for an unlisted
    /// info-hash), or a packet of the wrong action.
    #[error("bad reply from tracker {tracker}: {reason}")]
    BadReply {
        /// The tracker.
        tracker: SocketAddr,
        /// What was wrong.
        reason: DecodeError,
    },
    /// A tracker answered with the wrong kind of packet.
    #[error("tracker {tracker} answered a {expected} with action {action}")]
    UnexpectedAction {
        /// The tracker.
        tracker: SocketAddr,
        /// The reply that was expected.
        expected: PacketKind,
        /// The action it sent.
        action: u32,
    },
    /// A tracker refused the request with a BEP 15 error packet.
    #[error("tracker {tracker} refused the request: {message}")]
    Tracker {
        /// The tracker.
        tracker: SocketAddr,
        /// Its message.
        message: String,
    },
    /// No reply came after every retransmission BEP 15 allows.
    #[error("tracker {tracker} did not answer after {attempts} attempts")]
    Timeout {
        /// The tracker.
        tracker: SocketAddr,
        /// How many times the request was sent.
        attempts: u32,
    },
    /// The tracker URL is not a usable `udp://host:port` URL.
    #[error("invalid tracker URL {url:?}: {reason}")]
    Url {
        /// The URL given.
        url: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The tracker's host name did not resolve to an address this client can reach.
    #[error("could not resolve tracker host {host:?}: {reason}")]
    Resolve {
        /// The host name.
        host: String,
        /// Why.
        reason: String,
    },
    /// The request is not one this crate can send.
    #[error("invalid request: {0}")]
    InvalidRequest(&'static str),
    /// Too many requests are in flight; try again when some have finished.
    #[error("too many requests in flight (limit {limit})")]
    Busy {
        /// The configured limit.
        limit: usize,
    },
    /// The request was cancelled or its driver stopped.
    #[error("the request was cancelled or the client stopped")]
    Cancelled,
    /// A socket operation failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: &'static str,
        /// The operating system's reason.
        source: io::Error,
    },
}

impl Error {
    #[cfg_attr(not(feature = "tokio"), allow(dead_code))]
    pub(crate) fn io(what: &'static str, source: io::Error) -> Self {
        Self::Io { what, source }
    }
}
