//! BEP 41 options after an announce request: URL data, NOP, end of options.

use bytes::BufMut;

use super::Reader;
use crate::error::{DecodeError, PacketKind};

/// The most URL data (path and query) a request may carry. BEP 41 allows
/// several 255-byte chunks; this bound keeps a hostile packet from making the
/// tracker hold more.
pub const MAX_URL_DATA: usize = 2048;

const END_OF_OPTIONS: u8 = 0x0;
const NOP: u8 = 0x1;
const URL_DATA: u8 = 0x2;
const CHUNK: usize = 255;

/// The path and query of a tracker URL, carried in BEP 41 URL-data options
/// (for `udp://host:port/announce?auth=x`, the bytes `/announce?auth=x`).
/// Trackers use it for authentication or to tell apart several trackers on
/// one port.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct UrlData(Vec<u8>);

impl UrlData {
    /// URL data of `bytes`, or `None` when longer than [`MAX_URL_DATA`].
    pub fn new(bytes: impl Into<Vec<u8>>) -> Option<Self> {
        let bytes = bytes.into();
        (bytes.len() <= MAX_URL_DATA).then_some(Self(bytes))
    }

    /// The bytes, as the URL had them.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// Whether there is no URL data.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Writes the options: one URL-data option per 255-byte chunk. Nothing at
    /// all when there is no URL data; BEP 41 lets the packet end instead of an
    /// end-of-options byte.
    pub(crate) fn encode(&self, buf: &mut impl BufMut) {
        for chunk in self.0.chunks(CHUNK) {
            buf.put_u8(URL_DATA);
            // A chunk is at most 255 bytes, so the cast keeps every bit.
            buf.put_u8(chunk.len() as u8);
            buf.put_slice(chunk);
        }
    }

    /// The encoded length.
    pub(crate) fn encoded_len(&self) -> usize {
        self.0.len() + 2 * self.0.len().div_ceil(CHUNK)
    }

    /// Reads the options up to end-of-options or the end of the packet.
    /// NOP bytes are skipped and so are options of unknown types (each has a
    /// length byte, BEP 41); URL-data chunks are concatenated.
    pub(crate) fn decode(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let outer = reader.packet();
        reader.set_packet(PacketKind::Options);
        let mut data = Vec::new();
        while !reader.rest().is_empty() {
            match reader.u8("option type")? {
                END_OF_OPTIONS => break,
                NOP => {}
                kind => {
                    let len = usize::from(reader.u8("option length")?);
                    let body = reader.bytes("option data", len)?;
                    if kind == URL_DATA {
                        if data.len() + body.len() > MAX_URL_DATA {
                            return Err(DecodeError::Oversized {
                                packet: PacketKind::Options,
                                field: "URL data",
                                len: data.len() + body.len(),
                                max: MAX_URL_DATA,
                            });
                        }
                        data.extend_from_slice(body);
                    }
                }
            }
        }
        reader.set_packet(outer);
        Ok(Self(data))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(bytes: &[u8]) -> Result<UrlData, DecodeError> {
        UrlData::decode(&mut Reader::new(bytes, PacketKind::AnnounceRequest))
    }

    #[test]
    fn chunks_concatenate_and_nops_and_unknown_options_are_skipped() {
        let bytes = [
            NOP,
            URL_DATA,
            3,
            b'/',
            b'a',
            b'b',
            0x7,
            2,
            9,
            9,
            URL_DATA,
            2,
            b'?',
            b'x',
            END_OF_OPTIONS,
            0xff,
        ];
        assert_eq!(decode(&bytes).unwrap().as_bytes(), b"/ab?x");
    }

    #[test]
    fn long_url_data_splits_into_255_byte_chunks() {
        let data = UrlData::new(vec![b'a'; 600]).unwrap();
        let mut buf = Vec::new();
        data.encode(&mut buf);
        assert_eq!(buf.len(), data.encoded_len());
        assert_eq!(buf.len(), 600 + 6);
        assert_eq!(&buf[..2], &[URL_DATA, 255]);
        assert_eq!(decode(&buf).unwrap(), data);
    }

    #[test]
    fn truncated_option_is_an_error() {
        let err = decode(&[URL_DATA, 5, b'/']).unwrap_err();
        assert!(matches!(
            err,
            DecodeError::Truncated {
                packet: PacketKind::Options,
                field: "option data",
                ..
            }
        ));
    }

    #[test]
    fn too_much_url_data_is_oversized() {
        let mut bytes = Vec::new();
        for _ in 0..10 {
            bytes.extend_from_slice(&[URL_DATA, 255]);
            bytes.extend_from_slice(&[b'a'; 255]);
        }
        assert!(matches!(decode(&bytes), Err(DecodeError::Oversized { .. })));
        assert!(UrlData::new(vec![0; MAX_URL_DATA + 1]).is_none());
    }
}
