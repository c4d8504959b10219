use core::fmt;

/// The usual request size: 16 KiB. BEP 3 clients refuse larger requests, and
/// BEP 52 hashes v2 files in leaves of this size.
pub const BLOCK_SIZE: u32 = 16 * 1024;

/// The zero-based index of a piece within a torrent.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(transparent))]
pub struct PieceIndex(pub u32);

impl PieceIndex {
    /// The index as a `usize`, for indexing piece tables.
    pub const fn as_usize(self) -> usize {
        self.0 as usize
    }
}

impl From<u32> for PieceIndex {
    fn from(i: u32) -> Self {
        Self(i)
    }
}

impl fmt::Display for PieceIndex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl fmt::Debug for PieceIndex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PieceIndex({})", self.0)
    }
}

/// One block of a piece: what a `request`, `piece` or `cancel` message names.
///
/// ```
/// use bitswarm_core::{BlockRef, PieceIndex, BLOCK_SIZE};
///
/// // The blocks of a 40 KiB piece: two full ones and an 8 KiB tail.
/// let blocks: Vec<BlockRef> = BlockRef::blocks_of(PieceIndex(3), 40 * 1024).collect();
/// assert_eq!(blocks.len(), 3);
/// assert_eq!(blocks[2], BlockRef { piece: PieceIndex(3), offset: 2 * BLOCK_SIZE, length: 8 * 1024 });
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct BlockRef {
    /// The piece the block belongs to.
    pub piece: PieceIndex,
    /// Byte offset of the block within the piece.
    pub offset: u32,
    /// Length of the block in bytes.
    pub length: u32,
}

impl BlockRef {
    /// The blocks of [`BLOCK_SIZE`] that cover a piece of `piece_length` bytes,
    /// the last one shorter when the length is not a multiple.
    pub fn blocks_of(piece: PieceIndex, piece_length: u32) -> impl Iterator<Item = Self> {
        (0..piece_length.div_ceil(BLOCK_SIZE)).map(move |i| {
            let offset = i * BLOCK_SIZE;
            Self {
                piece,
                offset,
                length: (piece_length - offset).min(BLOCK_SIZE),
            }
        })
    }

    /// The offset just past the block; `None` if it would overflow `u32`.
    pub fn end(&self) -> Option<u32> {
        self.offset.checked_add(self.length)
    }

    /// Whether the block lies inside a piece of `piece_length` bytes and is not empty.
    pub fn fits_in(&self, piece_length: u32) -> bool {
        self.length > 0 && self.end().is_some_and(|end| end <= piece_length)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_cover_piece_exactly() {
        for len in [
            1,
            BLOCK_SIZE - 1,
            BLOCK_SIZE,
            BLOCK_SIZE + 1,
            4 * 1024 * 1024,
        ] {
            let blocks: Vec<_> = BlockRef::blocks_of(PieceIndex(0), len).collect();
            assert_eq!(blocks.iter().map(|b| b.length).sum::<u32>(), len);
            assert!(blocks.iter().all(|b| b.fits_in(len)));
            assert!(blocks.windows(2).all(|w| w[0].end() == Some(w[1].offset)));
        }
        assert_eq!(BlockRef::blocks_of(PieceIndex(0), 0).count(), 0);
    }

    #[test]
    fn fits_in_rejects_overflow_and_empty() {
        let b = BlockRef {
            piece: PieceIndex(0),
            offset: u32::MAX,
            length: 2,
        };
        assert_eq!(b.end(), None);
        assert!(!b.fits_in(u32::MAX));
        let empty = BlockRef {
            piece: PieceIndex(0),
            offset: 0,
            length: 0,
        };
        assert!(!empty.fits_in(10));
    }
}
