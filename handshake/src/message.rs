use bitswarm_core::{InfoHashV1, PeerId};
use bytes::{Buf, BufMut, BytesMut};

use crate::{Error, Extensions};

/// The protocol string of BEP 3, after its length byte.
pub const PROTOCOL: &[u8; 19] = b"BitTorrent protocol";

/// Bytes of a full handshake: 1 + 19 + 8 + 20 + 20.
pub const HANDSHAKE_LEN: usize = 68;

/// Bytes up to and including the info-hash: what a responder needs before it
/// can choose the torrent and answer (BEP 3).
pub const PREFIX_LEN: usize = 48;

/// The handshake both sides send first (BEP 3).
///
/// ```
/// use bitswarm_core::{InfoHashV1, PeerId};
/// use bitswarm_handshake::{Extensions, Handshake};
///
/// let hs = Handshake {
///     extensions: Extensions::BITSWARM,
///     info_hash: InfoHashV1([0xaa; 20]),
///     peer_id: PeerId([b'x'; 20]),
/// };
/// let bytes = hs.to_bytes();
/// assert_eq!(bytes.len(), 68);
/// assert_eq!(Handshake::decode(&bytes)?, Some(hs));
/// // A partial read asks for more bytes.
/// assert_eq!(Handshake::decode(&bytes[..40])?, None);
/// # Ok::<(), bitswarm_handshake::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Handshake {
    /// The reserved bytes.
    pub extensions: Extensions,
    /// The torrent (the truncated SHA-256 for v2, BEP 52).
    pub info_hash: InfoHashV1,
    /// The sender's id.
    pub peer_id: PeerId,
}

/// The first 48 bytes of a handshake: enough to pick the torrent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct HandshakePrefix {
    /// The reserved bytes.
    pub extensions: Extensions,
    /// The torrent.
    pub info_hash: InfoHashV1,
}

impl Handshake {
    /// Writes the 68 bytes into `out`.
    pub fn encode<B: BufMut>(&self, out: &mut B) {
        out.put_u8(19);
        out.put_slice(PROTOCOL);
        out.put_slice(&self.extensions.0);
        out.put_slice(self.info_hash.as_bytes());
        out.put_slice(self.peer_id.as_bytes());
    }

    /// The 68 bytes.
    pub fn to_bytes(&self) -> [u8; HANDSHAKE_LEN] {
        let mut out = [0u8; HANDSHAKE_LEN];
        self.encode(&mut &mut out[..]);
        out
    }

    /// Reads a handshake from the start of `input`. `Ok(None)` when more bytes
    /// are needed; an error as soon as a byte is wrong, even in a partial read.
    pub fn decode(input: &[u8]) -> Result<Option<Self>, Error> {
        let Some(prefix) = HandshakePrefix::decode(input)? else {
            return Ok(None);
        };
        let Some(id) = input.get(PREFIX_LEN..HANDSHAKE_LEN) else {
            return Ok(None);
        };
        let mut peer_id = [0u8; 20];
        peer_id.copy_from_slice(id);
        Ok(Some(Self {
            extensions: prefix.extensions,
            info_hash: prefix.info_hash,
            peer_id: PeerId(peer_id),
        }))
    }
}

impl HandshakePrefix {
    /// Reads the first 48 bytes; `Ok(None)` when more are needed. The
    /// protocol string is checked byte by byte as it arrives.
    pub fn decode(input: &[u8]) -> Result<Option<Self>, Error> {
        let Some(&len) = input.first() else {
            return Ok(None);
        };
        if len != 19 {
            return Err(Error::ProtocolLength { found: len });
        }
        let have = input.len().min(20);
        if input[1..have] != PROTOCOL[..have - 1] {
            return Err(Error::ProtocolString);
        }
        if input.len() < PREFIX_LEN {
            return Ok(None);
        }
        let mut reserved = [0u8; 8];
        reserved.copy_from_slice(&input[20..28]);
        let mut hash = [0u8; 20];
        hash.copy_from_slice(&input[28..48]);
        Ok(Some(Self {
            extensions: Extensions(reserved),
            info_hash: InfoHashV1(hash),
        }))
    }
}

/// A `tokio_util` codec for the handshake: decodes one [`Handshake`] from a
/// stream of any split, encodes ours.
#[derive(Debug, Default, Clone, Copy)]
pub struct HandshakeCodec;

impl tokio_util::codec::Decoder for HandshakeCodec {
    type Item = Handshake;
    type Error = Error;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Handshake>, Error> {
        let hs = Handshake::decode(src)?;
        if hs.is_some() {
            src.advance(HANDSHAKE_LEN);
        }
        Ok(hs)
    }

    fn decode_eof(&mut self, src: &mut BytesMut) -> Result<Option<Handshake>, Error> {
        match self.decode(src)? {
            Some(hs) => Ok(Some(hs)),
            None if src.is_empty() => Ok(None),
            None => Err(Error::Truncated {
                received: src.len(),
                expected: HANDSHAKE_LEN,
            }),
        }
    }
}

impl tokio_util::codec::Encoder<Handshake> for HandshakeCodec {
    type Error = Error;

    fn encode(&mut self, item: Handshake, dst: &mut BytesMut) -> Result<(), Error> {
        dst.reserve(HANDSHAKE_LEN);
        item.encode(dst);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use tokio_util::codec::Decoder;

    fn arb_handshake() -> impl Strategy<Value = Handshake> {
        (any::<[u8; 8]>(), any::<[u8; 20]>(), any::<[u8; 20]>()).prop_map(|(r, h, p)| Handshake {
            extensions: Extensions(r),
            info_hash: InfoHashV1(h),
            peer_id: PeerId(p),
        })
    }

    proptest! {
        #[test]
        fn round_trip(hs in arb_handshake()) {
            prop_assert_eq!(Handshake::decode(&hs.to_bytes()).unwrap(), Some(hs));
        }

        #[test]
        fn arbitrary_input_never_panics(input in proptest::collection::vec(any::<u8>(), 0..100)) {
            let _ = Handshake::decode(&input);
        }

        #[test]
        fn two_handshakes_split_anywhere(a in arb_handshake(), b in arb_handshake(), cut in 0usize..=136) {
            let mut stream = a.to_bytes().to_vec();
            stream.extend_from_slice(&b.to_bytes());
            let mut codec = HandshakeCodec;
            let mut buf = BytesMut::new();
            let mut out = Vec::new();
            for part in [&stream[..cut], &stream[cut..]] {
                buf.extend_from_slice(part);
                while let Some(hs) = codec.decode(&mut buf).unwrap() {
                    out.push(hs);
                }
            }
            prop_assert_eq!(out, vec![a, b]);
        }
    }

    #[test]
    fn split_at_every_byte() {
        let hs = Handshake {
            extensions: Extensions::BITSWARM,
            info_hash: InfoHashV1([7; 20]),
            peer_id: PeerId([9; 20]),
        };
        let bytes = hs.to_bytes();
        for cut in 0..=HANDSHAKE_LEN {
            let mut codec = HandshakeCodec;
            let mut buf = BytesMut::from(&bytes[..cut]);
            let first = codec.decode(&mut buf).unwrap();
            if cut < HANDSHAKE_LEN {
                assert_eq!(first, None, "cut {cut}");
                buf.extend_from_slice(&bytes[cut..]);
                assert_eq!(codec.decode(&mut buf).unwrap(), Some(hs));
            } else {
                assert_eq!(first, Some(hs));
            }
            assert!(buf.is_empty());
        }
    }

    #[test]
    fn wrong_protocol_rejected_early() {
        assert!(matches!(
            Handshake::decode(b"\x13BitTorrent protocoX"),
            Err(Error::ProtocolString)
        ));
        assert!(matches!(
            Handshake::decode(b"\x13Bx"),
            Err(Error::ProtocolString)
        ));
        assert!(matches!(
            Handshake::decode(b"GET / HTTP/1.1"),
            Err(Error::ProtocolLength { found: b'G' })
        ));
    }

    #[test]
    fn truncated_at_eof() {
        let mut buf = BytesMut::from(&b"\x13BitTorrent protocol"[..]);
        assert!(matches!(
            HandshakeCodec.decode_eof(&mut buf),
            Err(Error::Truncated {
                received: 20,
                expected: 68
            })
        ));
    }
}
