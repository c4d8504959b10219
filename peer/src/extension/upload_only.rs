use bytes::Bytes;

use crate::Error;

/// BEP 21 `upload_only` as an extended message: one byte, non-zero when the
/// sender will only upload from now on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UploadOnly(pub bool);

impl UploadOnly {
    /// The payload.
    pub fn to_bytes(&self) -> Bytes {
        Bytes::copy_from_slice(&[u8::from(self.0)])
    }

    /// Reads the payload.
    pub fn decode(payload: &[u8]) -> Result<Self, Error> {
        match payload {
            [b] => Ok(Self(*b != 0)),
            _ => Err(Error::PayloadLength {
                message: "upload_only",
                len: payload.len(),
                expected: "1",
            }),
        }
    }
}
