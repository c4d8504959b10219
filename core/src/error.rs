use core::fmt;

/// Every way a `bitswarm-core` value can fail to parse or validate.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// A textual hash or id had a length that no accepted encoding has.
    InvalidLength {
        /// What was being parsed (`"info-hash"`, `"peer id"`, ...).
        what: &'static str,
        /// The length that was given.
        found: usize,
        /// The lengths that would have been accepted, as text (`"40 hex or 32 base32"`).
        expected: &'static str,
    },
    /// A character that is not part of the encoding.
    InvalidCharacter {
        /// What was being parsed.
        what: &'static str,
        /// Byte offset of the bad character in the input.
        offset: usize,
    },
    /// A bitfield whose byte length does not match the number of pieces (BEP 3).
    BitfieldLength {
        /// Bytes required for the piece count: `ceil(pieces / 8)`.
        expected: usize,
        /// Bytes received.
        found: usize,
    },
    /// A bitfield with a bit set past the last piece (BEP 3 requires spare bits to be zero).
    BitfieldSpareBits {
        /// Index of the first set spare bit.
        bit: usize,
    },
    /// A piece index at or past the number of pieces.
    PieceOutOfRange {
        /// The index given.
        index: u32,
        /// The number of pieces.
        pieces: u32,
    },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InvalidLength {
                what,
                found,
                expected,
            } => write!(
                f,
                "invalid {what}: length {found}, expected {expected} characters"
            ),
            Self::InvalidCharacter { what, offset } => {
                write!(f, "invalid {what}: bad character at offset {offset}")
            }
            Self::BitfieldLength { expected, found } => write!(
                f,
                "bitfield has {found} bytes, expected {expected} for the piece count"
            ),
            Self::BitfieldSpareBits { bit } => {
                write!(f, "bitfield has spare bit {bit} set past the last piece")
            }
            Self::PieceOutOfRange { index, pieces } => {
                write!(
                    f,
                    "piece index {index} out of range (torrent has {pieces} pieces)"
                )
            }
        }
    }
}

impl std::error::Error for Error {}
