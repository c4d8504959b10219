use core::fmt;

use crate::Error;

/// How much a piece or file is wanted: 0 means skip (never requested), 1 is
/// the lowest level that is downloaded, 7 the highest. The levels follow
/// libtorrent's `download_priority_t`; 4 is the default.
///
/// Higher levels are always picked before lower ones; within a level the
/// [`crate::PieceStrategy`] decides (rarest first, random, sequential).
///
/// ```
/// use bitswarm_select::Priority;
///
/// assert!(Priority::SKIP.is_skip());
/// assert_eq!(Priority::new(7)?, Priority::MAX);
/// assert!(Priority::new(8).is_err());
/// # Ok::<(), bitswarm_select::Error>(())
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Priority(u8);

impl Priority {
    /// Never download.
    pub const SKIP: Self = Self(0);
    /// The lowest level that is downloaded.
    pub const LOW: Self = Self(1);
    /// The level every piece starts with.
    pub const NORMAL: Self = Self(4);
    /// The highest level.
    pub const MAX: Self = Self(7);

    /// A priority from its number, refusing values above 7.
    pub const fn new(value: u8) -> Result<Self, Error> {
        if value > 7 {
            Err(Error::InvalidPriority { value })
        } else {
            Ok(Self(value))
        }
    }

    /// The level as a number, 0..=7.
    pub const fn get(self) -> u8 {
        self.0
    }

    /// True for [`Priority::SKIP`].
    pub const fn is_skip(self) -> bool {
        self.0 == 0
    }
}

impl Default for Priority {
    fn default() -> Self {
        Self::NORMAL
    }
}

impl fmt::Debug for Priority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Priority({})", self.0)
    }
}

impl fmt::Display for Priority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

/// Piece priorities from file priorities: each piece gets the highest
/// priority of the files it overlaps, so that a piece shared by a skipped
/// file and a wanted one is still downloaded. Empty files overlap nothing.
pub(crate) fn pieces_from_files(
    file_lengths: &[u64],
    file_priorities: &[Priority],
    piece_length: u64,
    piece_count: u32,
) -> Result<Vec<Priority>, Error> {
    if file_lengths.len() != file_priorities.len() {
        return Err(Error::FileLayout {
            what: "one priority per file is needed",
        });
    }
    let total = file_lengths
        .iter()
        .try_fold(0u64, |acc, &l| acc.checked_add(l))
        .ok_or(Error::FileLayout {
            what: "file lengths overflow",
        })?;
    let expected_pieces = total.div_ceil(piece_length.max(1));
    if expected_pieces != u64::from(piece_count) {
        return Err(Error::FileLayout {
            what: "file lengths do not add up to the piece count",
        });
    }
    let mut out = vec![Priority::SKIP; piece_count as usize];
    let mut start = 0u64;
    for (&len, &prio) in file_lengths.iter().zip(file_priorities) {
        if len > 0 {
            let first = start / piece_length;
            let last = (start + len - 1) / piece_length;
            for p in first..=last {
                let slot = &mut out[p as usize];
                *slot = (*slot).max(prio);
            }
        }
        start += len;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shared_piece_takes_the_highest_file_priority() {
        // Files of 10, 10, 10 bytes in pieces of 8: pieces 0..4.
        let prios = pieces_from_files(
            &[10, 10, 10],
            &[Priority::SKIP, Priority::MAX, Priority::SKIP],
            8,
            4,
        )
        .unwrap();
        let got: Vec<u8> = prios.iter().map(|p| p.get()).collect();
        // Piece 1 (bytes 8..16) and 2 (16..24) overlap the middle file (10..20).
        assert_eq!(got, [0, 7, 7, 0]);
    }

    #[test]
    fn layout_mismatch_is_an_error() {
        assert!(pieces_from_files(&[10], &[], 8, 2).is_err());
        assert!(pieces_from_files(&[10], &[Priority::NORMAL], 8, 3).is_err());
        assert!(pieces_from_files(&[u64::MAX, 2], &[Priority::NORMAL; 2], 8, 3).is_err());
    }
}
