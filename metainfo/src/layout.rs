//! Where every piece's bytes live: the file layout that a storage layer uses
//! without knowing bencode.

use std::ops::Range;

use crate::file::FileEntry;
use crate::merkle::MERKLE_BLOCK_SIZE;

/// The files of a torrent in order, and how pieces map onto them.
///
/// The torrent's byte stream is its files laid end to end in order (BEP 3),
/// pad files included. In a v2-only torrent every file starts on a piece
/// boundary (BEP 52): the gap after a file's last byte belongs to no file,
/// and that file's last piece is shorter than the piece length. In a hybrid
/// torrent BEP 47 pad files fill those same gaps, so both hash schemes see
/// the same pieces.
///
/// ```
/// use bitswarm_metainfo::Metainfo;
/// use bitswarm_bencode::{dict, list, Encode};
///
/// let torrent = dict! {
///     "info" => dict! {
///         "name" => "album",
///         "piece length" => 16384,
///         "pieces" => vec![0u8; 40],
///         "files" => list![
///             dict! { "length" => 10_000, "path" => list!["a.flac"] },
///             dict! { "length" => 0, "path" => list!["empty"] },
///             dict! { "length" => 10_000, "path" => list!["b.flac"] },
///         ],
///     },
/// }
/// .to_bencode();
/// let meta = Metainfo::from_bytes(&torrent)?;
/// let layout = meta.layout();
/// assert_eq!(layout.num_pieces(), 2);
/// // Piece 0 covers all of a.flac, the empty file, and the start of b.flac.
/// let spans: Vec<_> = layout.piece_spans(0).unwrap().collect();
/// assert_eq!(spans.len(), 3);
/// assert_eq!(spans[2].file, 2);
/// assert_eq!((spans[2].file_offset, spans[2].length), (0, 6384));
/// assert_eq!(layout.piece_size(1), Some(20_000 - 16384));
/// # Ok::<(), bitswarm_metainfo::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    pub(crate) files: Vec<FileEntry>,
    pub(crate) piece_length: u64,
    pub(crate) num_pieces: u32,
    pub(crate) stream_length: u64,
    pub(crate) root_folder: Option<String>,
    /// Per file: its v2 piece layer when known (BEP 52); for a file of one
    /// piece, the one entry is its `pieces root`.
    pub(crate) piece_layers: Vec<Option<Vec<[u8; 32]>>>,
    pub(crate) v2: bool,
}

/// One contiguous part of a piece that lies in one file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PieceSpan {
    /// The index of the file in [`Layout::files`]. It may be a pad file
    /// ([`FileEntry::is_pad`]), whose bytes are zeros and never stored.
    pub file: usize,
    /// Where the part starts within the file.
    pub file_offset: u64,
    /// Its length; zero for an empty file that sits in the piece.
    pub length: u64,
}

/// What a v2 piece is checked against (BEP 52).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct V2Piece {
    /// The file the piece belongs to.
    pub file: usize,
    /// The piece's index within that file.
    pub index_in_file: u32,
    /// The expected merkle hash, when the file's piece layer is known
    /// (a torrent from BEP 9 metadata lacks layers until they are fetched).
    pub hash: Option<[u8; 32]>,
    /// How many 16 KiB leaves the hash covers, zero leaves included: pass it
    /// to [`merkle_hash`](crate::merkle_hash).
    pub leaves: usize,
}

impl Layout {
    /// Every file in order, pad files and empty files included.
    pub fn files(&self) -> &[FileEntry] {
        &self.files
    }

    /// The file at `index`.
    pub fn file(&self, index: usize) -> Option<&FileEntry> {
        self.files.get(index)
    }

    /// The nominal piece length.
    pub fn piece_length(&self) -> u64 {
        self.piece_length
    }

    /// The number of pieces.
    pub fn num_pieces(&self) -> u32 {
        self.num_pieces
    }

    /// The length of the byte stream: the end of the last file, pads included.
    pub fn stream_length(&self) -> u64 {
        self.stream_length
    }

    /// The bytes of content: every file's length, pad files excluded.
    pub fn total_length(&self) -> u64 {
        self.files
            .iter()
            .filter(|f| !f.is_pad())
            .map(FileEntry::length)
            .sum()
    }

    /// For a multi-file torrent the folder (`info.name`) that holds its
    /// files; `None` for a single-file torrent, whose one file's path is the
    /// name itself.
    pub fn root_folder(&self) -> Option<&str> {
        self.root_folder.as_deref()
    }

    /// Where piece `piece` starts in the byte stream.
    pub fn piece_offset(&self, piece: u32) -> Option<u64> {
        (piece < self.num_pieces).then(|| u64::from(piece) * self.piece_length)
    }

    /// The number of bytes piece `piece` holds: the piece length, except for
    /// the last piece, and in a v2-only torrent for the last piece of each file.
    pub fn piece_size(&self, piece: u32) -> Option<u64> {
        let range = self.piece_range(piece)?;
        if !self.v2 || self.has_pad_files() {
            return Some(range.end - range.start);
        }
        Some(self.piece_spans(piece)?.map(|s| s.length).sum::<u64>())
    }

    fn has_pad_files(&self) -> bool {
        self.files.iter().any(FileEntry::is_pad)
    }

    /// The stream range a piece covers at most (a v2 piece may end earlier).
    fn piece_range(&self, piece: u32) -> Option<Range<u64>> {
        let start = self.piece_offset(piece)?;
        Some(start..(start + self.piece_length).min(self.stream_length))
    }

    /// The parts of files that piece `piece` covers, in stream order: pad
    /// files and empty files included (an empty file belongs to the piece its
    /// offset falls in, or to the last piece when it ends the stream).
    pub fn piece_spans(&self, piece: u32) -> Option<PieceSpans<'_>> {
        let range = self.piece_range(piece)?;
        let start = range.start;
        let first = self
            .files
            .partition_point(|f| f.end() < start || (f.end() == start && f.length > 0));
        Some(PieceSpans {
            files: &self.files,
            next: first,
            range,
            stream_end: self.stream_length,
        })
    }

    /// The pieces that hold bytes of file `index` (empty for an empty file).
    pub fn pieces_of_file(&self, index: usize) -> Option<Range<u32>> {
        let f = self.files.get(index)?;
        if f.length == 0 {
            let p = u32::try_from(f.offset / self.piece_length).unwrap_or(u32::MAX);
            return Some(p..p);
        }
        // Offsets are bounded by the piece count, which fits in u32.
        let first = f.offset / self.piece_length;
        let last = (f.end() - 1) / self.piece_length;
        Some(u32::try_from(first).unwrap_or(u32::MAX)..u32::try_from(last + 1).unwrap_or(u32::MAX))
    }

    /// The BEP 52 piece layer of file `index`: one SHA-256 merkle hash per
    /// piece of the file. For a file of one piece it is the file's `pieces
    /// root`. `None` for empty files, pad files, v1-only torrents, and files
    /// whose layer is not known yet (BEP 9 metadata without `piece layers`).
    pub fn piece_layer(&self, index: usize) -> Option<&[[u8; 32]]> {
        self.piece_layers.get(index)?.as_deref()
    }

    /// What v2 piece `piece` is checked against; `None` for v1-only torrents
    /// and for pieces out of range.
    pub fn v2_piece(&self, piece: u32) -> Option<V2Piece> {
        if !self.v2 {
            return None;
        }
        let span = self
            .piece_spans(piece)?
            .find(|s| s.length > 0 && !self.files[s.file].is_pad())?;
        let file = span.file;
        let entry = &self.files[file];
        let index_in_file = u32::try_from(span.file_offset / self.piece_length).ok()?;
        let per_piece = (self.piece_length / MERKLE_BLOCK_SIZE as u64) as usize;
        let leaves = if entry.length <= self.piece_length {
            (entry.length.div_ceil(MERKLE_BLOCK_SIZE as u64) as usize).next_power_of_two()
        } else {
            per_piece
        };
        let hash = self
            .piece_layer(file)
            .and_then(|layer| layer.get(index_in_file as usize))
            .copied();
        Some(V2Piece {
            file,
            index_in_file,
            hash,
            leaves,
        })
    }
}

/// The parts of files a piece covers: see [`Layout::piece_spans`].
#[derive(Debug, Clone)]
pub struct PieceSpans<'a> {
    files: &'a [FileEntry],
    next: usize,
    range: Range<u64>,
    stream_end: u64,
}

impl Iterator for PieceSpans<'_> {
    type Item = PieceSpan;

    fn next(&mut self) -> Option<PieceSpan> {
        let f = self.files.get(self.next)?;
        let inside = f.offset < self.range.end
            || (f.length == 0 && f.offset == self.range.end && self.range.end == self.stream_end);
        if !inside {
            return None;
        }
        let index = self.next;
        self.next += 1;
        let from = f.offset.max(self.range.start);
        let to = f.end().min(self.range.end);
        Some(PieceSpan {
            file: index,
            file_offset: from - f.offset,
            length: to.saturating_sub(from),
        })
    }
}

#[cfg(test)]
mod tests {
    use bitswarm_bencode::{DictBuilder, Encode, ListBuilder, dict, list};
    use proptest::prelude::*;

    use crate::Metainfo;

    /// A v1 (optionally hybrid-padded) multi-file torrent with these lengths.
    fn v1_torrent(lengths: &[u64], piece_length: u64, pads: bool) -> Metainfo {
        let mut files = ListBuilder::new();
        let mut total = 0;
        for (i, &len) in lengths.iter().enumerate() {
            let name = format!("f{i}");
            files.push(dict! { "length" => len, "path" => list![name.as_str()] });
            total += len;
            let tail = len % piece_length;
            if pads && tail != 0 {
                let pad = piece_length - tail;
                let size = pad.to_string();
                files.push(dict! { "attr" => "p", "length" => pad, "path" => list![".pad", size.as_str()] });
                total += pad;
            }
        }
        let pieces = total.div_ceil(piece_length) as usize;
        let bytes = dict! {
            "info" => dict! {
                "name" => "t",
                "piece length" => piece_length,
                "pieces" => vec![0u8; 20 * pieces],
                "files" => files,
            },
        }
        .to_bencode();
        Metainfo::from_bytes(&bytes).unwrap()
    }

    /// A v2-only torrent with these lengths (layers are not checked for
    /// files of one piece, so only those are generated).
    fn v2_torrent(lengths: &[u64], piece_length: u64) -> Metainfo {
        let mut tree = DictBuilder::new();
        for (i, &len) in lengths.iter().enumerate() {
            let mut leaf = DictBuilder::new();
            leaf.insert("length", len);
            if len > 0 {
                leaf.insert("pieces root", &[i as u8 + 1; 32][..]);
            }
            tree.insert(format!("f{i:03}"), dict! { "" => leaf });
        }
        let bytes = dict! {
            "info" => dict! {
                "name" => "t",
                "piece length" => piece_length,
                "meta version" => 2,
                "file tree" => tree,
            },
        }
        .to_bencode();
        Metainfo::from_bytes(&bytes).unwrap()
    }

    /// Every byte of every file belongs to exactly one piece span, in order.
    fn check_cover(m: &Metainfo) -> Result<(), TestCaseError> {
        let layout = m.layout();
        let mut next_byte: Vec<u64> = vec![0; layout.files().len()];
        let mut empty_seen = vec![false; layout.files().len()];
        for p in 0..layout.num_pieces() {
            let spans: Vec<_> = layout.piece_spans(p).unwrap().collect();
            let size: u64 = spans.iter().map(|s| s.length).sum();
            prop_assert_eq!(Some(size), layout.piece_size(p));
            prop_assert!(size > 0 && size <= layout.piece_length());
            for s in spans {
                let f = &layout.files()[s.file];
                if f.length() == 0 {
                    prop_assert!(!empty_seen[s.file], "empty file listed twice");
                    empty_seen[s.file] = true;
                    continue;
                }
                prop_assert_eq!(s.file_offset, next_byte[s.file], "spans in order, no gap");
                next_byte[s.file] += s.length;
                let pieces = layout.pieces_of_file(s.file).unwrap();
                prop_assert!(pieces.contains(&p));
            }
        }
        for (i, f) in layout.files().iter().enumerate() {
            prop_assert_eq!(next_byte[i], f.length(), "file {} covered", i);
        }
        prop_assert!(layout.piece_spans(layout.num_pieces()).is_none());
        Ok(())
    }

    proptest! {
        #[test]
        fn v1_spans_cover_every_byte_once(
            lengths in proptest::collection::vec(prop_oneof![Just(0u64), 1u64..100_000], 1..12),
            log2 in 14u32..18,
        ) {
            prop_assume!(lengths.iter().sum::<u64>() > 0);
            check_cover(&v1_torrent(&lengths, 1 << log2, false))?;
        }

        #[test]
        fn padded_spans_cover_every_byte_once(
            lengths in proptest::collection::vec(prop_oneof![Just(0u64), 1u64..100_000], 1..12),
            log2 in 14u32..18,
        ) {
            prop_assume!(lengths.iter().sum::<u64>() > 0);
            let m = v1_torrent(&lengths, 1 << log2, true);
            check_cover(&m)?;
            // Every real non-empty file starts on a piece boundary.
            for f in m.files().iter().filter(|f| !f.is_pad() && f.length() > 0) {
                prop_assert_eq!(f.offset() % (1 << log2), 0);
            }
        }

        #[test]
        fn v2_pieces_belong_to_one_file(
            lengths in proptest::collection::vec(prop_oneof![Just(0u64), 1u64..16_384], 1..12),
        ) {
            prop_assume!(lengths.iter().sum::<u64>() > 0);
            let m = v2_torrent(&lengths, 16_384);
            check_cover(&m)?;
            let non_empty = lengths.iter().filter(|&&l| l > 0).count();
            prop_assert_eq!(m.num_pieces() as usize, non_empty);
            for p in 0..m.num_pieces() {
                let v2 = m.v2_piece(p).unwrap();
                let f = &m.files()[v2.file];
                prop_assert_eq!(Some(f.length()), m.layout().piece_size(p));
                prop_assert_eq!(v2.hash, f.pieces_root().copied());
                prop_assert_eq!(v2.leaves, 1);
            }
        }
    }

    #[test]
    fn empty_file_at_the_end_belongs_to_the_last_piece() {
        let m = v1_torrent(&[20_000, 0], 16_384, false);
        let last: Vec<_> = m.layout().piece_spans(1).unwrap().collect();
        assert_eq!(last.len(), 2);
        assert_eq!((last[1].file, last[1].length), (1, 0));
        assert_eq!(m.layout().pieces_of_file(1), Some(1..1));
    }
}
