//! The messages of the peer wire protocol and their binary form.

use bitswarm_core::{BlockRef, PieceIndex};
use bytes::{Buf, BufMut, Bytes, BytesMut};

use crate::Error;

/// Message ids (BEP 3, BEP 6, BEP 10, BEP 52).
pub mod id {
    /// BEP 3.
    pub const CHOKE: u8 = 0;
    /// BEP 3.
    pub const UNCHOKE: u8 = 1;
    /// BEP 3.
    pub const INTERESTED: u8 = 2;
    /// BEP 3.
    pub const NOT_INTERESTED: u8 = 3;
    /// BEP 3.
    pub const HAVE: u8 = 4;
    /// BEP 3.
    pub const BITFIELD: u8 = 5;
    /// BEP 3.
    pub const REQUEST: u8 = 6;
    /// BEP 3.
    pub const PIECE: u8 = 7;
    /// BEP 3.
    pub const CANCEL: u8 = 8;
    /// BEP 5 (DHT port).
    pub const PORT: u8 = 9;
    /// BEP 6.
    pub const SUGGEST: u8 = 13;
    /// BEP 6.
    pub const HAVE_ALL: u8 = 14;
    /// BEP 6.
    pub const HAVE_NONE: u8 = 15;
    /// BEP 6.
    pub const REJECT: u8 = 16;
    /// BEP 6.
    pub const ALLOWED_FAST: u8 = 17;
    /// BEP 10.
    pub const EXTENDED: u8 = 20;
    /// BEP 52.
    pub const HASH_REQUEST: u8 = 21;
    /// BEP 52.
    pub const HASHES: u8 = 22;
    /// BEP 52.
    pub const HASH_REJECT: u8 = 23;
}

/// A block of piece data, a slice of the buffer it was read into.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Block {
    /// The piece.
    pub piece: PieceIndex,
    /// Byte offset inside the piece.
    pub offset: u32,
    /// The data (not copied out of the read buffer).
    pub data: Bytes,
}

impl Block {
    /// Where the block lies.
    pub fn block_ref(&self) -> BlockRef {
        BlockRef {
            piece: self.piece,
            offset: self.offset,
            length: self.data.len() as u32,
        }
    }
}

/// A BEP 52 hash request (also the body of a hash reject): which hashes of
/// which file's merkle tree, and how many proof layers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct HashRequest {
    /// The root of the file's piece tree.
    pub pieces_root: [u8; 32],
    /// The layer of the requested hashes (0 = the 16 KiB block layer).
    pub base_layer: u32,
    /// Index of the first hash in that layer.
    pub index: u32,
    /// How many hashes (a power of two, at least 2).
    pub length: u32,
    /// Uncle hashes to include, layers above the base.
    pub proof_layers: u32,
}

/// A BEP 52 `hashes` reply: the request it answers, then the hashes and
/// proofs, 32 bytes each.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hashes {
    /// The request answered.
    pub request: HashRequest,
    /// `32 * n` bytes of hashes.
    pub hashes: Bytes,
}

/// A message of the peer wire protocol.
///
/// Extended messages (BEP 10) travel as [`Message::Extended`] with the id the
/// receiver assigned; [`crate::extension`] gives them their types.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Message {
    /// A zero-length message: the connection is alive (BEP 3).
    KeepAlive,
    /// BEP 3.
    Choke,
    /// BEP 3.
    Unchoke,
    /// BEP 3.
    Interested,
    /// BEP 3.
    NotInterested,
    /// BEP 3: the sender has this piece.
    Have(PieceIndex),
    /// BEP 3: the pieces the sender has, as raw bytes; check it with
    /// [`bitswarm_core::Bitfield::from_payload`] (the codec does when it
    /// knows the piece count).
    Bitfield(Bytes),
    /// BEP 3.
    Request(BlockRef),
    /// BEP 3.
    Piece(Block),
    /// BEP 3.
    Cancel(BlockRef),
    /// BEP 5: the sender's DHT port.
    Port(u16),
    /// BEP 6.
    Suggest(PieceIndex),
    /// BEP 6.
    HaveAll,
    /// BEP 6.
    HaveNone,
    /// BEP 6: a request that will not be served.
    Reject(BlockRef),
    /// BEP 6.
    AllowedFast(PieceIndex),
    /// BEP 10: `id` 0 is the extension handshake.
    Extended {
        /// The extended message id.
        id: u8,
        /// The payload.
        payload: Bytes,
    },
    /// BEP 52.
    HashRequest(HashRequest),
    /// BEP 52.
    Hashes(Hashes),
    /// BEP 52.
    HashReject(HashRequest),
}

/// Bytes of a length prefix.
pub(crate) const LEN_PREFIX: usize = 4;
/// Bytes of a BEP 52 request body.
const HASH_REQUEST_LEN: usize = 48;

impl Message {
    /// The message's name, for errors and logs.
    pub fn name(&self) -> &'static str {
        match self {
            Self::KeepAlive => "keep-alive",
            Self::Choke => "choke",
            Self::Unchoke => "unchoke",
            Self::Interested => "interested",
            Self::NotInterested => "not interested",
            Self::Have(_) => "have",
            Self::Bitfield(_) => "bitfield",
            Self::Request(_) => "request",
            Self::Piece(_) => "piece",
            Self::Cancel(_) => "cancel",
            Self::Port(_) => "port",
            Self::Suggest(_) => "suggest",
            Self::HaveAll => "have all",
            Self::HaveNone => "have none",
            Self::Reject(_) => "reject",
            Self::AllowedFast(_) => "allowed fast",
            Self::Extended { .. } => "extended",
            Self::HashRequest(_) => "hash request",
            Self::Hashes(_) => "hashes",
            Self::HashReject(_) => "hash reject",
        }
    }

    /// The payload that follows the header unchanged, for a write that does
    /// not copy it.
    fn body(&self) -> Option<&Bytes> {
        match self {
            Self::Bitfield(b) => Some(b),
            Self::Piece(b) => Some(&b.data),
            Self::Extended { payload, .. } => Some(payload),
            Self::Hashes(h) => Some(&h.hashes),
            _ => None,
        }
    }

    /// Bytes on the wire, length prefix included.
    pub fn wire_len(&self) -> usize {
        let fixed = match self {
            Self::KeepAlive => 0,
            Self::Choke | Self::Unchoke | Self::Interested | Self::NotInterested => 1,
            Self::HaveAll | Self::HaveNone => 1,
            Self::Have(_) | Self::Suggest(_) | Self::AllowedFast(_) => 5,
            Self::Bitfield(_) => 1,
            Self::Request(_) | Self::Cancel(_) | Self::Reject(_) => 13,
            Self::Piece(_) => 9,
            Self::Port(_) => 3,
            Self::Extended { .. } => 2,
            Self::HashRequest(_) | Self::HashReject(_) | Self::Hashes(_) => 1 + HASH_REQUEST_LEN,
        };
        LEN_PREFIX + fixed + self.body().map_or(0, Bytes::len)
    }

    /// Writes the length prefix and everything before the body; returns the
    /// body, which the caller writes next (or appends, see [`Message::encode`]).
    pub fn encode_header(&self, out: &mut BytesMut) -> Option<&Bytes> {
        let len = (self.wire_len() - LEN_PREFIX) as u32;
        out.reserve(LEN_PREFIX + 1 + HASH_REQUEST_LEN);
        out.put_u32(len);
        let block = |out: &mut BytesMut, id: u8, b: &BlockRef| {
            out.put_u8(id);
            out.put_u32(b.piece.0);
            out.put_u32(b.offset);
            out.put_u32(b.length);
        };
        match self {
            Self::KeepAlive => {}
            Self::Choke => out.put_u8(id::CHOKE),
            Self::Unchoke => out.put_u8(id::UNCHOKE),
            Self::Interested => out.put_u8(id::INTERESTED),
            Self::NotInterested => out.put_u8(id::NOT_INTERESTED),
            Self::HaveAll => out.put_u8(id::HAVE_ALL),
            Self::HaveNone => out.put_u8(id::HAVE_NONE),
            Self::Have(p) | Self::Suggest(p) | Self::AllowedFast(p) => {
                out.put_u8(match self {
                    Self::Have(_) => id::HAVE,
                    Self::Suggest(_) => id::SUGGEST,
                    _ => id::ALLOWED_FAST,
                });
                out.put_u32(p.0);
            }
            Self::Bitfield(_) => out.put_u8(id::BITFIELD),
            Self::Request(b) => block(out, id::REQUEST, b),
            Self::Cancel(b) => block(out, id::CANCEL, b),
            Self::Reject(b) => block(out, id::REJECT, b),
            Self::Piece(b) => {
                out.put_u8(id::PIECE);
                out.put_u32(b.piece.0);
                out.put_u32(b.offset);
            }
            Self::Port(p) => {
                out.put_u8(id::PORT);
                out.put_u16(*p);
            }
            Self::Extended { id: ext, .. } => {
                out.put_u8(id::EXTENDED);
                out.put_u8(*ext);
            }
            Self::HashRequest(r) => put_hash_request(out, id::HASH_REQUEST, r),
            Self::HashReject(r) => put_hash_request(out, id::HASH_REJECT, r),
            Self::Hashes(h) => put_hash_request(out, id::HASHES, &h.request),
        }
        self.body()
    }

    /// Writes the whole message into `out` (copying the body).
    pub fn encode(&self, out: &mut BytesMut) {
        if let Some(body) = self.encode_header(out) {
            out.extend_from_slice(body);
        }
    }

    /// The whole message as bytes.
    pub fn to_bytes(&self) -> Bytes {
        let mut out = BytesMut::with_capacity(self.wire_len());
        self.encode(&mut out);
        out.freeze()
    }

    /// Parses one frame: `frame` is the message without its length prefix
    /// (empty for a keep-alive). Bodies are slices of `frame`, not copies.
    pub fn decode_frame(frame: Bytes) -> Result<Self, Error> {
        let Some(&msg_id) = frame.first() else {
            return Ok(Self::KeepAlive);
        };
        let payload = &frame[1..];
        let exact = |message: &'static str, n: usize, expected: &'static str| {
            if payload.len() == n {
                Ok(())
            } else {
                Err(Error::PayloadLength {
                    message,
                    len: payload.len(),
                    expected,
                })
            }
        };
        let u32_at = |i: usize| {
            u32::from_be_bytes([payload[i], payload[i + 1], payload[i + 2], payload[i + 3]])
        };
        let block_ref = || BlockRef {
            piece: PieceIndex(u32_at(0)),
            offset: u32_at(4),
            length: u32_at(8),
        };
        Ok(match msg_id {
            id::CHOKE => exact("choke", 0, "0").map(|()| Self::Choke)?,
            id::UNCHOKE => exact("unchoke", 0, "0").map(|()| Self::Unchoke)?,
            id::INTERESTED => exact("interested", 0, "0").map(|()| Self::Interested)?,
            id::NOT_INTERESTED => exact("not interested", 0, "0").map(|()| Self::NotInterested)?,
            id::HAVE_ALL => exact("have all", 0, "0").map(|()| Self::HaveAll)?,
            id::HAVE_NONE => exact("have none", 0, "0").map(|()| Self::HaveNone)?,
            id::HAVE => exact("have", 4, "4").map(|()| Self::Have(PieceIndex(u32_at(0))))?,
            id::SUGGEST => {
                exact("suggest", 4, "4").map(|()| Self::Suggest(PieceIndex(u32_at(0))))?
            }
            id::ALLOWED_FAST => {
                exact("allowed fast", 4, "4").map(|()| Self::AllowedFast(PieceIndex(u32_at(0))))?
            }
            id::REQUEST => exact("request", 12, "12").map(|()| Self::Request(block_ref()))?,
            id::CANCEL => exact("cancel", 12, "12").map(|()| Self::Cancel(block_ref()))?,
            id::REJECT => exact("reject", 12, "12").map(|()| Self::Reject(block_ref()))?,
            id::PORT => exact("port", 2, "2")
                .map(|()| Self::Port(u16::from_be_bytes([payload[0], payload[1]])))?,
            id::BITFIELD => Self::Bitfield(frame.slice(1..)),
            id::PIECE => {
                if payload.len() < 8 {
                    return Err(Error::PayloadLength {
                        message: "piece",
                        len: payload.len(),
                        expected: "at least 8",
                    });
                }
                Self::Piece(Block {
                    piece: PieceIndex(u32_at(0)),
                    offset: u32_at(4),
                    data: frame.slice(9..),
                })
            }
            id::EXTENDED => {
                let Some(&ext) = payload.first() else {
                    return Err(Error::PayloadLength {
                        message: "extended",
                        len: 0,
                        expected: "at least 1",
                    });
                };
                Self::Extended {
                    id: ext,
                    payload: frame.slice(2..),
                }
            }
            id::HASH_REQUEST => {
                exact("hash request", HASH_REQUEST_LEN, "48")?;
                Self::HashRequest(get_hash_request(payload))
            }
            id::HASH_REJECT => {
                exact("hash reject", HASH_REQUEST_LEN, "48")?;
                Self::HashReject(get_hash_request(payload))
            }
            id::HASHES => {
                let hashes = payload.len().checked_sub(HASH_REQUEST_LEN);
                match hashes {
                    Some(n) if n % 32 == 0 => Self::Hashes(Hashes {
                        request: get_hash_request(payload),
                        hashes: frame.slice(1 + HASH_REQUEST_LEN..),
                    }),
                    _ => {
                        return Err(Error::PayloadLength {
                            message: "hashes",
                            len: payload.len(),
                            expected: "48 + a multiple of 32",
                        });
                    }
                }
            }
            other => return Err(Error::UnknownMessage { id: other }),
        })
    }
}

fn put_hash_request(out: &mut BytesMut, msg_id: u8, r: &HashRequest) {
    out.put_u8(msg_id);
    out.put_slice(&r.pieces_root);
    out.put_u32(r.base_layer);
    out.put_u32(r.index);
    out.put_u32(r.length);
    out.put_u32(r.proof_layers);
}

fn get_hash_request(mut p: &[u8]) -> HashRequest {
    let mut pieces_root = [0u8; 32];
    p.copy_to_slice(&mut pieces_root);
    HashRequest {
        pieces_root,
        base_layer: p.get_u32(),
        index: p.get_u32(),
        length: p.get_u32(),
        proof_layers: p.get_u32(),
    }
}
