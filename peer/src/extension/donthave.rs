use bitswarm_core::PieceIndex;
use bytes::Bytes;

use crate::Error;

/// BEP 54 `lt_donthave`: the sender no longer has a piece. The payload is
/// the piece index, 4 bytes big-endian.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DontHave(pub PieceIndex);

impl DontHave {
    /// The payload.
    pub fn to_bytes(&self) -> Bytes {
        Bytes::copy_from_slice(&self.0.0.to_be_bytes())
    }

    /// Reads the payload.
    pub fn decode(payload: &[u8]) -> Result<Self, Error> {
        let bytes: [u8; 4] = payload.try_into().map_err(|_| Error::PayloadLength {
            message: "lt_donthave",
            len: payload.len(),
            expected: "4",
        })?;
        Ok(Self(PieceIndex(u32::from_be_bytes(bytes))))
    }
}
