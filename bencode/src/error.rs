/// Why a byte string is not the bencode that was expected.
///
/// Every decoding variant names the byte offset, in the input given to the
/// decoder, where the problem was found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The input ended inside a value.
    #[error("unexpected end of input at byte {offset}: expected {expected}")]
    UnexpectedEof {
        /// Where more input was needed.
        offset: usize,
        /// What would have come next.
        expected: &'static str,
    },
    /// A byte that cannot start or continue the value being read.
    #[error("unexpected byte {found:#04x} at byte {offset}: expected {expected}")]
    UnexpectedByte {
        /// Where the byte is.
        offset: usize,
        /// The byte found.
        found: u8,
        /// What was allowed there.
        expected: &'static str,
    },
    /// `ie`: an integer with no digits.
    #[error("empty integer at byte {offset}")]
    EmptyInteger {
        /// Offset of the `i`.
        offset: usize,
    },
    /// `i03e` or `03:abc`: BEP 3 forbids leading zeros.
    #[error("leading zero in number at byte {offset}")]
    LeadingZero {
        /// Offset of the zero.
        offset: usize,
    },
    /// `i-0e`: BEP 3 forbids negative zero.
    #[error("negative zero at byte {offset}")]
    NegativeZero {
        /// Offset of the `-`.
        offset: usize,
    },
    /// An integer outside `i64`, or a length outside `usize`.
    #[error("number at byte {offset} does not fit in 64 bits")]
    NumberOverflow {
        /// Offset of the number's first digit.
        offset: usize,
    },
    /// A byte string longer than [`DecodeOptions::max_bytes_len`](crate::DecodeOptions::max_bytes_len).
    #[error("byte string at byte {offset} is {length} bytes long, over the limit of {limit}")]
    BytesTooLong {
        /// Offset of the length prefix.
        offset: usize,
        /// The declared length.
        length: usize,
        /// The configured limit.
        limit: usize,
    },
    /// A byte string whose declared length runs past the end of the input.
    #[error("byte string at byte {offset} declares {length} bytes but only {available} remain")]
    LengthPastEnd {
        /// Offset of the length prefix.
        offset: usize,
        /// The declared length.
        length: usize,
        /// Bytes left after the `:`.
        available: usize,
    },
    /// Lists and dictionaries nested deeper than the configured limit.
    #[error("nesting deeper than {limit} at byte {offset}")]
    DepthLimit {
        /// Offset of the list or dictionary that went too deep.
        offset: usize,
        /// The configured limit.
        limit: usize,
    },
    /// More values than [`DecodeOptions::max_values`](crate::DecodeOptions::max_values).
    #[error("value at byte {offset} is over the limit of {limit} values")]
    TooManyValues {
        /// Offset of the first value over the limit.
        offset: usize,
        /// The configured limit.
        limit: usize,
    },
    /// A dictionary key smaller than the key before it (strict mode).
    #[error("dictionary key at byte {offset} is out of order")]
    UnsortedKey {
        /// Offset of the key.
        offset: usize,
    },
    /// A dictionary key equal to the key before it (strict mode).
    #[error("duplicate dictionary key at byte {offset}")]
    DuplicateKey {
        /// Offset of the key.
        offset: usize,
    },
    /// Bytes after a complete value where none were allowed.
    #[error("trailing bytes after the value, from byte {offset}")]
    TrailingBytes {
        /// Offset of the first extra byte.
        offset: usize,
    },
    /// A value of one type where another was required (serde, or typed lookups).
    #[error("expected {expected}, found {found}")]
    WrongType {
        /// The type required.
        expected: &'static str,
        /// The type present.
        found: &'static str,
    },
    /// A type or value that bencode cannot represent (floats, unit, non-string keys...).
    #[error("bencode cannot represent {0}")]
    Unsupported(&'static str),
    /// A message from a serde `Serialize` or `Deserialize` implementation.
    #[error("{0}")]
    Custom(String),
}

impl Error {
    /// The byte offset of a decoding error; `None` for errors not tied to a position.
    pub fn offset(&self) -> Option<usize> {
        match *self {
            Self::UnexpectedEof { offset, .. }
            | Self::UnexpectedByte { offset, .. }
            | Self::EmptyInteger { offset }
            | Self::LeadingZero { offset }
            | Self::NegativeZero { offset }
            | Self::NumberOverflow { offset }
            | Self::BytesTooLong { offset, .. }
            | Self::LengthPastEnd { offset, .. }
            | Self::DepthLimit { offset, .. }
            | Self::TooManyValues { offset, .. }
            | Self::UnsortedKey { offset }
            | Self::DuplicateKey { offset }
            | Self::TrailingBytes { offset } => Some(offset),
            Self::WrongType { .. } | Self::Unsupported(_) | Self::Custom(_) => None,
        }
    }
}
