//! Framing: a `tokio_util` codec with a hard bound on message length, and a
//! write batch that sends block data without copying it.

use std::collections::VecDeque;
use std::io::IoSlice;

use bitswarm_core::{BLOCK_SIZE, Bitfield};
use bytes::{Buf, Bytes, BytesMut};

use crate::message::LEN_PREFIX;
use crate::{Error, Message};

/// The largest frame (without its length prefix) that any legal message
/// needs apart from a bitfield: a BEP 52 `hashes` reply of 512 hashes with
/// 32 proof hashes (17,457 bytes) is above a 16 KiB `piece` (16,393) and a
/// BEP 9 data message (16 KiB + its dictionary).
pub const MAX_FIXED_MESSAGE: u32 = 1 + 48 + 32 * (512 + 32);

/// Bodies at least this long are written from their own buffer (vectored)
/// instead of being copied next to the headers.
const COPY_BELOW: usize = 512;

/// Frames the peer wire protocol (BEP 3).
///
/// Decoding hands `piece` data on as a slice of the read buffer. A length
/// above [`max_len`](Self::max_len), an unknown id, a short payload or (when
/// the piece count is known) a bitfield of the wrong size is an [`Error`].
///
/// ```
/// use bitswarm_core::PieceIndex;
/// use bitswarm_peer::{Block, Message, PeerCodec};
/// use bytes::{Bytes, BytesMut};
/// use tokio_util::codec::Decoder;
///
/// let piece = Message::Piece(Block { piece: PieceIndex(1), offset: 0, data: Bytes::from(vec![7; 16384]) });
/// let mut buf = BytesMut::from(&piece.to_bytes()[..]);
/// let mut codec = PeerCodec::for_torrent(40);
/// assert_eq!(codec.decode(&mut buf)?, Some(piece));
/// # Ok::<(), bitswarm_peer::Error>(())
/// ```
#[derive(Clone, Copy, Debug)]
pub struct PeerCodec {
    max_len: u32,
    pieces: Option<u32>,
}

impl PeerCodec {
    /// A codec for a torrent of `pieces` pieces: bitfields are checked
    /// against the count and the length bound is just above the largest legal
    /// message for it.
    pub fn for_torrent(pieces: u32) -> Self {
        Self {
            max_len: Self::default_max_len(pieces),
            pieces: Some(pieces),
        }
    }

    /// A codec that does not know the torrent yet (a magnet link): bitfields
    /// are passed on unchecked, up to `max_len` bytes per message.
    pub fn new(max_len: u32) -> Self {
        Self {
            max_len,
            pieces: None,
        }
    }

    /// The default bound for a torrent of `pieces` pieces.
    pub fn default_max_len(pieces: u32) -> u32 {
        (1 + pieces.div_ceil(8))
            .max(MAX_FIXED_MESSAGE)
            .max(9 + BLOCK_SIZE)
    }

    /// Changes the length bound.
    pub fn with_max_len(mut self, max_len: u32) -> Self {
        self.max_len = max_len;
        self
    }

    /// Sets the piece count once known (after BEP 9 metadata arrives).
    pub fn set_pieces(&mut self, pieces: u32) {
        self.pieces = Some(pieces);
        self.max_len = self.max_len.max(1 + pieces.div_ceil(8));
    }

    /// The length bound, without the 4-byte prefix.
    pub fn max_len(&self) -> u32 {
        self.max_len
    }
}

impl Default for PeerCodec {
    fn default() -> Self {
        // 2^20 pieces is more than any torrent needs with sane piece sizes.
        Self::new(Self::default_max_len(1 << 20))
    }
}

impl tokio_util::codec::Decoder for PeerCodec {
    type Item = Message;
    type Error = Error;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Message>, Error> {
        let Some(prefix) = src.get(..LEN_PREFIX) else {
            return Ok(None);
        };
        let len = u32::from_be_bytes([prefix[0], prefix[1], prefix[2], prefix[3]]);
        if len > self.max_len {
            return Err(Error::MessageTooLong {
                len,
                max: self.max_len,
            });
        }
        let total = LEN_PREFIX + len as usize;
        if src.len() < total {
            src.reserve(total - src.len());
            return Ok(None);
        }
        src.advance(LEN_PREFIX);
        let frame = src.split_to(len as usize).freeze();
        let msg = Message::decode_frame(frame)?;
        if let (Message::Bitfield(bits), Some(pieces)) = (&msg, self.pieces) {
            Bitfield::from_payload(bits, pieces).map_err(Error::Bitfield)?;
        }
        Ok(Some(msg))
    }

    fn decode_eof(&mut self, src: &mut BytesMut) -> Result<Option<Message>, Error> {
        match self.decode(src)? {
            Some(m) => Ok(Some(m)),
            None if src.is_empty() => Ok(None),
            None => Err(Error::Truncated {
                buffered: src.len(),
            }),
        }
    }
}

impl tokio_util::codec::Encoder<Message> for PeerCodec {
    type Error = Error;

    fn encode(&mut self, item: Message, dst: &mut BytesMut) -> Result<(), Error> {
        item.encode(dst);
        Ok(())
    }
}

/// Messages queued for one vectored write: headers and small messages are
/// packed together, block data stays in its own `Bytes`.
///
/// ```
/// use bitswarm_peer::{Message, WriteBatch};
///
/// let mut batch = WriteBatch::default();
/// batch.push(&Message::Interested);
/// batch.push(&Message::Unchoke);
/// assert_eq!(batch.len(), 10);
/// ```
#[derive(Debug, Default)]
pub struct WriteBatch {
    segments: VecDeque<Bytes>,
    scratch: BytesMut,
    len: usize,
}

impl WriteBatch {
    /// Appends a message.
    pub fn push(&mut self, msg: &Message) {
        self.len += msg.wire_len();
        if let Some(body) = msg.encode_header(&mut self.scratch) {
            if body.len() < COPY_BELOW {
                self.scratch.extend_from_slice(body);
            } else {
                let headers = self.scratch.split().freeze();
                self.segments.push_back(headers);
                self.segments.push_back(body.clone());
            }
        }
    }

    /// Bytes queued.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Moves the packed headers into the segment list.
    fn seal(&mut self) {
        if !self.scratch.is_empty() {
            let tail = self.scratch.split().freeze();
            self.segments.push_back(tail);
        }
    }

    /// The queued bytes as slices for `write_vectored`, at most `max` of them.
    pub fn io_slices(&mut self, max: usize) -> Vec<IoSlice<'_>> {
        self.seal();
        self.segments
            .iter()
            .filter(|s| !s.is_empty())
            .take(max)
            .map(|s| IoSlice::new(s))
            .collect()
    }

    /// Drops `n` written bytes from the front.
    pub fn advance(&mut self, mut n: usize) {
        self.seal();
        self.len -= n.min(self.len);
        while n > 0 {
            let Some(front) = self.segments.front_mut() else {
                return;
            };
            if n >= front.len() {
                n -= front.len();
                self.segments.pop_front();
            } else {
                front.advance(n);
                n = 0;
            }
        }
        while self.segments.front().is_some_and(Bytes::is_empty) {
            self.segments.pop_front();
        }
    }

    /// Every queued byte in one buffer (copies; for tests and benchmarks).
    pub fn to_vec(&mut self) -> Vec<u8> {
        self.seal();
        self.segments
            .iter()
            .flat_map(|s| s.iter().copied())
            .collect()
    }

    /// The queued segments, headers and bodies in order (no copy).
    pub fn segments(&mut self) -> impl Iterator<Item = &Bytes> {
        self.seal();
        self.segments.iter()
    }

    /// Empties the batch.
    pub fn clear(&mut self) {
        self.segments.clear();
        self.scratch.clear();
        self.len = 0;
    }
}
