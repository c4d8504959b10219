use bitswarm_bencode::{DecodeOptions, Encode, Mode, dict};
use bytes::{BufMut, Bytes, BytesMut};

use super::int_field;
use crate::Error;

const MSG: &str = "ut_metadata";

/// The size of each piece of the info dictionary (BEP 9): 16 KiB, the last
/// one shorter.
pub const METADATA_PIECE_SIZE: usize = 16 * 1024;

/// A BEP 9 message.
///
/// ```
/// use bitswarm_peer::extension::UtMetadata;
/// use bytes::Bytes;
///
/// let data = UtMetadata::Data { piece: 0, total_size: 3, data: Bytes::from_static(b"d1e") };
/// assert_eq!(UtMetadata::decode(data.to_bytes())?, data);
/// # Ok::<(), bitswarm_peer::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UtMetadata {
    /// `msg_type` 0: asks for a piece.
    Request {
        /// The piece.
        piece: u32,
    },
    /// `msg_type` 1: a piece, its bytes following the dictionary.
    Data {
        /// The piece.
        piece: u32,
        /// Size of the whole info dictionary.
        total_size: u64,
        /// The piece's bytes (a slice of the received message).
        data: Bytes,
    },
    /// `msg_type` 2: the sender will not give this piece.
    Reject {
        /// The piece.
        piece: u32,
    },
}

impl UtMetadata {
    /// The payload.
    pub fn to_bytes(&self) -> Bytes {
        let mut out = BytesMut::new();
        match self {
            Self::Request { piece } => {
                dict! { "msg_type" => 0, "piece" => i64::from(*piece) }.encode(&mut out);
            }
            Self::Reject { piece } => {
                dict! { "msg_type" => 2, "piece" => i64::from(*piece) }.encode(&mut out);
            }
            Self::Data {
                piece,
                total_size,
                data,
            } => {
                dict! {
                    "msg_type" => 1,
                    "piece" => i64::from(*piece),
                    "total_size" => *total_size as i64,
                }
                .encode(&mut out);
                out.put_slice(data);
            }
        }
        out.freeze()
    }

    /// Reads the payload; the data of a `Data` message is a slice of it.
    pub fn decode(payload: Bytes) -> Result<Self, Error> {
        let options = DecodeOptions {
            mode: Mode::Lenient,
            ..DecodeOptions::default()
        };
        let (decoded, used) = options
            .decode_prefix(&payload)
            .map_err(|source| Error::Bencode {
                message: MSG,
                source,
            })?;
        let value = decoded.value;
        if value.as_dict().is_none() {
            return Err(Error::Field {
                message: MSG,
                field: "(top level)",
                problem: "is not a dictionary",
            });
        }
        let required = |field: &'static str, max: i64| {
            int_field(MSG, &value, field, 0..=max)?.ok_or(Error::Field {
                message: MSG,
                field,
                problem: "is missing",
            })
        };
        let piece = required("piece", i64::from(u32::MAX))? as u32;
        let msg = match required("msg_type", 2)? {
            0 => Self::Request { piece },
            2 => Self::Reject { piece },
            _ => {
                let total_size =
                    required("total_size", super::handshake::MAX_METADATA_SIZE as i64)? as u64;
                let data = payload.slice(used..);
                if data.len() > METADATA_PIECE_SIZE {
                    return Err(Error::PayloadLength {
                        message: MSG,
                        len: data.len(),
                        expected: "at most 16384 bytes of data",
                    });
                }
                Self::Data {
                    piece,
                    total_size,
                    data,
                }
            }
        };
        Ok(msg)
    }
}
