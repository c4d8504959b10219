//! The crate's error type.

/// Everything that can go wrong in this crate.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A datagram that is not a valid KRPC message.
    #[error("invalid KRPC message: {0}")]
    Decode(#[from] DecodeError),
    /// A caller passed something unusable.
    #[error("invalid argument: {what}")]
    InvalidArgument {
        /// What was wrong.
        what: &'static str,
    },
    /// A BEP 44 item that breaks the rules (size, signature, sequence).
    #[error("invalid BEP 44 item: {what}")]
    InvalidItem {
        /// Which rule it broke.
        what: &'static str,
    },
    /// A saved routing table that cannot be read.
    #[error("invalid saved routing table: {what}")]
    InvalidState {
        /// What was wrong with it.
        what: &'static str,
    },
    /// The driver has shut down.
    #[error("the DHT has shut down")]
    Shutdown,
    /// An I/O error of the driver.
    #[error("I/O error while {what}: {message}")]
    Io {
        /// What the driver was doing.
        what: &'static str,
        /// The operating system's message.
        message: String,
    },
}

/// Why a datagram is not a KRPC message, and where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// Larger than [`MAX_MESSAGE_LEN`](crate::MAX_MESSAGE_LEN).
    #[error("message of {len} bytes is over the limit")]
    TooLong {
        /// Its length.
        len: usize,
    },
    /// Not bencode at all.
    #[error("bad bencode: {0}")]
    Bencode(#[from] bitswarm_bencode::Error),
    /// The top level is not a dictionary.
    #[error("top level is not a dictionary")]
    NotADict,
    /// A required key is missing.
    #[error("missing key {field}")]
    Missing {
        /// The key.
        field: &'static str,
    },
    /// A key holds the wrong kind of value.
    #[error("key {field} should be {expected}")]
    WrongType {
        /// The key.
        field: &'static str,
        /// What it should hold.
        expected: &'static str,
    },
    /// A byte string of the wrong length.
    #[error("key {field} has {len} bytes")]
    BadLength {
        /// The key.
        field: &'static str,
        /// Its length.
        len: usize,
    },
    /// An integer out of its range.
    #[error("key {field} is out of range")]
    OutOfRange {
        /// The key.
        field: &'static str,
    },
    /// `y` is not `q`, `r` or `e`.
    #[error("unknown message type")]
    UnknownType,
    /// A query whose method we do not implement (KRPC error 204).
    #[error("unknown method")]
    UnknownMethod {
        /// The transaction id, so that an error reply can be sent.
        transaction_id: Vec<u8>,
    },
}

impl DecodeError {
    /// The KRPC error code to answer with (BEP 5): 204 for an unknown method,
    /// 203 (protocol error) for everything else.
    pub fn krpc_code(&self) -> i64 {
        match self {
            Self::UnknownMethod { .. } => 204,
            _ => 203,
        }
    }
}
