use std::io;

/// Every way the wire protocol can fail. Each one ends the connection it
/// came from; none panics.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A length prefix above the configured bound.
    #[error("message length {len} exceeds the limit of {max} bytes")]
    MessageTooLong {
        /// The length announced.
        len: u32,
        /// The bound.
        max: u32,
    },
    /// A message id this crate does not know.
    #[error("unknown message id {id}")]
    UnknownMessage {
        /// The id.
        id: u8,
    },
    /// A payload whose length does not fit its message.
    #[error("{message} message: payload of {len} bytes, expected {expected}")]
    PayloadLength {
        /// The message name.
        message: &'static str,
        /// The payload length received.
        len: usize,
        /// What was expected, as text.
        expected: &'static str,
    },
    /// A bitfield of the wrong size or with spare bits set (BEP 3).
    #[error("bitfield message: {0}")]
    Bitfield(#[source] bitswarm_core::Error),
    /// A BEP 10 payload that is not valid bencode.
    #[error("{message} payload: {source}")]
    Bencode {
        /// The extended message.
        message: &'static str,
        /// The decoding error (with its byte offset).
        #[source]
        source: bitswarm_bencode::Error,
    },
    /// A BEP 10 payload with a missing or ill-typed field.
    #[error("{message} payload: field `{field}` {problem}")]
    Field {
        /// The extended message.
        message: &'static str,
        /// The field name.
        field: &'static str,
        /// What is wrong.
        problem: &'static str,
    },
    /// The connection closed in the middle of a message.
    #[error("connection closed inside a message ({buffered} bytes buffered)")]
    Truncated {
        /// Bytes of the incomplete message.
        buffered: usize,
    },
    /// The peer is unknown to the manager (already disconnected).
    #[error("no such peer")]
    NoSuchPeer,
    /// The peer's send queue is full.
    #[error("send queue full")]
    QueueFull,
    /// The manager has shut down.
    #[error("peer manager has shut down")]
    Shutdown,
    /// A socket error.
    #[error("peer I/O: {0}")]
    Io(#[from] io::Error),
}
