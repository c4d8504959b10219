use core::fmt;

use bytes::Bytes;

use crate::{Error, PieceIndex};

/// Which pieces a peer has, in BEP 3 bit order: the high bit of the first
/// byte is piece 0.
///
/// The length in pieces is fixed at creation; bits past it ("spare bits")
/// are always zero, so [`Bitfield::as_bytes`] is a valid `bitfield` message
/// payload.
///
/// ```
/// use bitswarm_core::{Bitfield, PieceIndex};
///
/// // A peer with pieces 0 and 9 of 10 sends two bytes: 1000_0000 0100_0000.
/// let have = Bitfield::from_payload(&[0x80, 0x40], 10)?;
/// assert_eq!(have.count_ones(), 2);
/// assert_eq!(have.iter_ones().collect::<Vec<_>>(), [PieceIndex(0), PieceIndex(9)]);
///
/// // A set spare bit is a protocol violation:
/// assert!(Bitfield::from_payload(&[0x80, 0x60], 10).is_err());
/// # Ok::<(), bitswarm_core::Error>(())
/// ```
#[derive(Clone, PartialEq, Eq, Hash, Default)]
pub struct Bitfield {
    bytes: Vec<u8>,
    len: u32,
}

impl Bitfield {
    /// A bitfield of `len` pieces, none set.
    pub fn new(len: u32) -> Self {
        Self {
            bytes: vec![0; byte_len(len)],
            len,
        }
    }

    /// A bitfield of `len` pieces, all set (what `have all` of BEP 6 means).
    pub fn full(len: u32) -> Self {
        let mut bf = Self {
            bytes: vec![0xff; byte_len(len)],
            len,
        };
        bf.clear_spare_bits();
        bf
    }

    /// Reads a `bitfield` message payload for a torrent of `len` pieces,
    /// checking its length and that spare bits are zero (BEP 3).
    pub fn from_payload(payload: &[u8], len: u32) -> Result<Self, Error> {
        let expected = byte_len(len);
        if payload.len() != expected {
            return Err(Error::BitfieldLength {
                expected,
                found: payload.len(),
            });
        }
        let spare = expected * 8 - len as usize;
        if spare > 0 {
            let last = payload[expected - 1];
            let mask = (1u8 << spare) - 1;
            if last & mask != 0 {
                // Spare bits sit at the low end of the last byte.
                let first_set = 7 - (last & mask).ilog2() as usize;
                return Err(Error::BitfieldSpareBits {
                    bit: (expected - 1) * 8 + first_set,
                });
            }
        }
        Ok(Self {
            bytes: payload.to_vec(),
            len,
        })
    }

    /// The number of pieces this bitfield covers.
    pub fn len(&self) -> u32 {
        self.len
    }

    /// True when it covers no pieces at all.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether the piece is set; `false` for an index past the end.
    pub fn get(&self, piece: PieceIndex) -> bool {
        piece.0 < self.len && self.bytes[(piece.0 / 8) as usize] & mask(piece.0) != 0
    }

    /// Sets or clears a piece; returns whether it was set before.
    pub fn set(&mut self, piece: PieceIndex, value: bool) -> Result<bool, Error> {
        if piece.0 >= self.len {
            return Err(Error::PieceOutOfRange {
                index: piece.0,
                pieces: self.len,
            });
        }
        let byte = &mut self.bytes[(piece.0 / 8) as usize];
        let was = *byte & mask(piece.0) != 0;
        if value {
            *byte |= mask(piece.0);
        } else {
            *byte &= !mask(piece.0);
        }
        Ok(was)
    }

    /// How many pieces are set.
    pub fn count_ones(&self) -> u32 {
        self.bytes.iter().map(|b| b.count_ones()).sum()
    }

    /// True when every piece is set.
    pub fn is_full(&self) -> bool {
        self.count_ones() == self.len
    }

    /// The set pieces in increasing order, skipping empty words eight bytes at a time.
    pub fn iter_ones(&self) -> IterOnes<'_> {
        IterOnes {
            bytes: &self.bytes,
            word_start: 0,
            next_word_start: 0,
            word: 0,
        }
    }

    /// The `bitfield` message payload: BEP 3 bit order, spare bits zero.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The payload as [`Bytes`], for handing to a codec.
    pub fn to_bytes(&self) -> Bytes {
        Bytes::copy_from_slice(&self.bytes)
    }

    fn clear_spare_bits(&mut self) {
        let spare = self.bytes.len() * 8 - self.len as usize;
        if let (Some(last), true) = (self.bytes.last_mut(), spare > 0) {
            *last &= !((1u8 << spare) - 1);
        }
    }
}

fn byte_len(len: u32) -> usize {
    len.div_ceil(8) as usize
}

fn mask(index: u32) -> u8 {
    0x80 >> (index % 8)
}

/// Iterator over the set pieces of a [`Bitfield`], from [`Bitfield::iter_ones`].
#[derive(Debug, Clone)]
pub struct IterOnes<'a> {
    bytes: &'a [u8],
    /// Bit index of the most significant bit of `word`.
    word_start: u64,
    /// Bit index at which the next word loaded from `bytes` starts.
    next_word_start: u64,
    /// Remaining set bits of the current 64-bit word, most significant first.
    word: u64,
}

impl Iterator for IterOnes<'_> {
    type Item = PieceIndex;

    fn next(&mut self) -> Option<PieceIndex> {
        while self.word == 0 {
            if self.bytes.is_empty() {
                return None;
            }
            let take = self.bytes.len().min(8);
            let mut chunk = [0u8; 8];
            chunk[..take].copy_from_slice(&self.bytes[..take]);
            self.word = u64::from_be_bytes(chunk);
            self.word_start = self.next_word_start;
            self.next_word_start += 64;
            self.bytes = &self.bytes[take..];
        }
        let lead = u64::from(self.word.leading_zeros());
        self.word &= !(1u64 << (63 - lead));
        // Spare bits are always zero, so the index is below `len`, a `u32`.
        Some(PieceIndex((self.word_start + lead) as u32))
    }
}

impl fmt::Debug for Bitfield {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Bitfield({}/{}: ", self.count_ones(), self.len)?;
        for i in 0..self.len.min(64) {
            f.write_str(if self.get(PieceIndex(i)) { "1" } else { "0" })?;
        }
        if self.len > 64 {
            f.write_str("...")?;
        }
        f.write_str(")")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn wrong_length_is_rejected() {
        assert_eq!(
            Bitfield::from_payload(&[0, 0], 17),
            Err(Error::BitfieldLength {
                expected: 3,
                found: 2
            })
        );
    }

    #[test]
    fn spare_bit_reports_first_set_bit() {
        // 10 pieces: bits 10..15 are spare; set bit 12 and 15.
        assert_eq!(
            Bitfield::from_payload(&[0, 0b0000_1001], 10),
            Err(Error::BitfieldSpareBits { bit: 12 })
        );
    }

    #[test]
    fn full_has_no_spare_bits() {
        let bf = Bitfield::full(13);
        assert_eq!(bf.as_bytes(), &[0xff, 0xf8]);
        assert!(bf.is_full());
        assert_eq!(Bitfield::from_payload(bf.as_bytes(), 13).unwrap(), bf);
    }

    #[test]
    fn set_out_of_range_is_an_error() {
        let mut bf = Bitfield::new(8);
        assert_eq!(
            bf.set(PieceIndex(8), true),
            Err(Error::PieceOutOfRange {
                index: 8,
                pieces: 8
            })
        );
        assert!(!bf.get(PieceIndex(100)));
    }

    #[test]
    fn empty_bitfield() {
        let bf = Bitfield::new(0);
        assert!(bf.is_empty());
        assert!(bf.is_full());
        assert_eq!(bf.iter_ones().count(), 0);
        assert!(Bitfield::from_payload(&[], 0).is_ok());
    }

    proptest! {
        #[test]
        fn iter_ones_matches_get(len in 0u32..2000, seed in proptest::collection::vec(any::<u32>(), 0..200)) {
            let mut bf = Bitfield::new(len);
            let mut expected = std::collections::BTreeSet::new();
            for s in seed {
                if len > 0 {
                    let i = s % len;
                    bf.set(PieceIndex(i), true).unwrap();
                    expected.insert(i);
                }
            }
            let got: Vec<u32> = bf.iter_ones().map(|p| p.0).collect();
            prop_assert_eq!(&got, &expected.iter().copied().collect::<Vec<_>>());
            prop_assert_eq!(bf.count_ones() as usize, expected.len());
            prop_assert_eq!(Bitfield::from_payload(bf.as_bytes(), len).unwrap(), bf);
        }

        #[test]
        fn from_payload_never_panics(payload in proptest::collection::vec(any::<u8>(), 0..40), len in 0u32..400) {
            let _ = Bitfield::from_payload(&payload, len);
        }
    }
}
