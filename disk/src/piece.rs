//! Pieces on files: where a piece's bytes live, reading and writing them
//! through a `FileSystem`, and hashing them (SHA-1 for v1, SHA-256 merkle
//! for v2).

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use bitswarm_core::{BLOCK_SIZE, PieceIndex};
use bitswarm_metainfo::{FilePath, Info, MERKLE_BLOCK_SIZE, V2Piece};
use sha1::Sha1;
use sha2::{Digest, Sha256};

use crate::{Error, FileSystem};

/// A torrent's files as the storage sees them: paths made once, and which
/// files were opened (created and sized) already.
#[derive(Debug)]
pub(crate) struct TorrentFiles {
    pub(crate) info: Arc<Info>,
    pub(crate) fs: Arc<dyn FileSystem>,
    /// Per file of the layout, its path in the storage.
    pub(crate) paths: Vec<PathBuf>,
    opened: Vec<AtomicBool>,
}

/// A part of a piece that lies in one file.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Span {
    pub(crate) file: usize,
    pub(crate) file_offset: u64,
    /// Where the span starts in the piece.
    pub(crate) piece_offset: u64,
    pub(crate) length: u64,
    pub(crate) pad: bool,
}

impl TorrentFiles {
    pub(crate) fn new(info: Arc<Info>, fs: Arc<dyn FileSystem>) -> Result<Self, Error> {
        let layout = info.layout();
        let root = match layout.root_folder() {
            Some(folder) => FilePath::new([folder])
                .map_err(|e| Error::InvalidTorrent(format!("root folder {folder:?}: {e:?}")))?
                .to_path_in(std::path::Path::new("")),
            None => PathBuf::new(),
        };
        let paths = layout
            .files()
            .iter()
            .map(|f| f.path().to_path_in(&root))
            .collect();
        let opened = layout
            .files()
            .iter()
            .map(|_| AtomicBool::new(false))
            .collect();
        Ok(Self {
            info,
            fs,
            paths,
            opened,
        })
    }

    pub(crate) fn num_pieces(&self) -> u32 {
        self.info.layout().num_pieces()
    }

    /// The size of `piece`, 0 when out of range.
    pub(crate) fn piece_size(&self, piece: u32) -> u64 {
        self.info.layout().piece_size(piece).unwrap_or(0)
    }

    /// The spans of `piece`, each with its position in the piece.
    pub(crate) fn spans(&self, piece: u32) -> Vec<Span> {
        let layout = self.info.layout();
        let mut at = 0;
        let Some(spans) = layout.piece_spans(piece) else {
            return Vec::new();
        };
        spans
            .map(|s| {
                let span = Span {
                    file: s.file,
                    file_offset: s.file_offset,
                    piece_offset: at,
                    length: s.length,
                    pad: layout.files()[s.file].is_pad(),
                };
                at += s.length;
                span
            })
            .collect()
    }

    /// Opens (creates and sizes) a file once.
    fn ensure_open(&self, file: usize) -> Result<(), Error> {
        if self.opened[file].load(Ordering::Acquire) {
            return Ok(());
        }
        let length = self.info.layout().files()[file].length();
        let path = &self.paths[file];
        self.fs
            .open(path, length)
            .map_err(|e| Error::io("open", path, e))?;
        self.opened[file].store(true, Ordering::Release);
        Ok(())
    }

    /// The files opened so far (to sync on flush).
    pub(crate) fn opened_files(&self) -> Vec<usize> {
        (0..self.opened.len())
            .filter(|&i| self.opened[i].load(Ordering::Acquire))
            .collect()
    }

    /// Forgets which files were opened (after they were deleted).
    pub(crate) fn forget_opened(&self) {
        for o in &self.opened {
            o.store(false, Ordering::Release);
        }
    }

    /// Creates the zero-length files that sit in `piece`.
    pub(crate) fn create_empty_files(&self, spans: &[Span]) -> Result<(), Error> {
        let files = self.info.layout().files();
        for s in spans {
            if !s.pad && files[s.file].length() == 0 && files[s.file].symlink_target().is_none() {
                self.ensure_open(s.file)?;
            }
        }
        Ok(())
    }

    /// Writes `data`, which sits at `offset` in a piece with `spans`, to
    /// its files: pad spans are skipped, short writes continued.
    pub(crate) fn write(&self, spans: &[Span], offset: u64, data: &[u8]) -> Result<(), Error> {
        let end = offset + data.len() as u64;
        for s in spans {
            let (from, to) = (
                s.piece_offset.max(offset),
                (s.piece_offset + s.length).min(end),
            );
            if s.pad || from >= to {
                continue;
            }
            self.ensure_open(s.file)?;
            let path = &self.paths[s.file];
            let mut chunk = &data[(from - offset) as usize..(to - offset) as usize];
            let mut at = s.file_offset + (from - s.piece_offset);
            while !chunk.is_empty() {
                let n = self
                    .fs
                    .write_at(path, at, chunk)
                    .map_err(|e| Error::io("write", path, e))?;
                if n == 0 {
                    return Err(Error::io(
                        "write",
                        path,
                        std::io::Error::from(std::io::ErrorKind::WriteZero),
                    ));
                }
                chunk = &chunk[n.min(chunk.len())..];
                at += n as u64;
            }
        }
        Ok(())
    }

    /// Reads the bytes at `offset` in a piece with `spans` into `buf`; pad
    /// spans read as zeros. With `open`, files are opened (created and
    /// sized) first; a check reads without opening, so that it changes
    /// nothing on disk.
    pub(crate) fn read(
        &self,
        spans: &[Span],
        offset: u64,
        buf: &mut [u8],
        open: bool,
    ) -> Result<(), Error> {
        let end = offset + buf.len() as u64;
        for s in spans {
            let (from, to) = (
                s.piece_offset.max(offset),
                (s.piece_offset + s.length).min(end),
            );
            if from >= to {
                continue;
            }
            let chunk = &mut buf[(from - offset) as usize..(to - offset) as usize];
            if s.pad {
                chunk.fill(0);
                continue;
            }
            if open {
                self.ensure_open(s.file)?;
            }
            read_exact(
                &*self.fs,
                &self.paths[s.file],
                s.file_offset + (from - s.piece_offset),
                chunk,
            )?;
        }
        Ok(())
    }
}

/// Reads exactly `buf.len()` bytes at `at`; a file that ends first is an
/// `UnexpectedEof` error.
pub(crate) fn read_exact(
    fs: &dyn FileSystem,
    path: &std::path::Path,
    mut at: u64,
    mut buf: &mut [u8],
) -> Result<(), Error> {
    while !buf.is_empty() {
        let n = fs
            .read_at(path, at, buf)
            .map_err(|e| Error::io("read", path, e))?;
        if n == 0 {
            return Err(Error::io(
                "read",
                path,
                std::io::Error::from(std::io::ErrorKind::UnexpectedEof),
            ));
        }
        let n = n.min(buf.len());
        buf = &mut buf[n..];
        at += n as u64;
    }
    Ok(())
}

/// What a piece is checked against.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Expected {
    v1: Option<[u8; 20]>,
    v2: Option<V2Piece>,
    /// Bytes of the piece (from its start) that are the v2 file's data.
    v2_len: u64,
    has_v1: bool,
}

impl Expected {
    pub(crate) fn of(files: &TorrentFiles, piece: u32) -> Self {
        let info = &files.info;
        let v2 = info.layout().v2_piece(piece);
        let v2_len = v2.map_or(0, |v| {
            files
                .spans(piece)
                .iter()
                .filter(|s| s.file == v.file)
                .map(|s| s.piece_offset + s.length)
                .max()
                .unwrap_or(0)
        });
        // A v2 file's data must start at the piece's start (BEP 52 and the
        // BEP 47 alignment of hybrids); a layout where it does not is
        // verified by v1 alone, or not at all.
        let v2_starts_at_zero = v2.is_none_or(|v| {
            files
                .spans(piece)
                .iter()
                .find(|s| s.file == v.file)
                .is_some_and(|s| s.piece_offset == 0)
        });
        Self {
            v1: info.piece_hash_v1(piece),
            v2: if v2_starts_at_zero { v2 } else { None },
            v2_len,
            has_v1: info.version().has_v1(),
        }
    }
}

/// Hashes a piece incrementally: its bytes must be fed in order.
#[derive(Clone)]
pub(crate) struct PieceHasher {
    expected: Expected,
    sha1: Option<Sha1>,
    /// SHA-256 of each 16 KiB leaf of the v2 file's data so far.
    leaves: Vec<[u8; 32]>,
    /// Bytes fed so far.
    fed: u64,
    /// A partial leaf (only when fed in pieces not aligned to 16 KiB).
    partial: Vec<u8>,
}

impl std::fmt::Debug for PieceHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PieceHasher")
            .field("fed", &self.fed)
            .field("leaves", &self.leaves.len())
            .finish_non_exhaustive()
    }
}

/// The result of checking a piece.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    Good,
    Bad,
    /// A v2-only piece whose hash is unknown.
    Unknown,
}

impl PieceHasher {
    pub(crate) fn new(expected: Expected) -> Self {
        Self {
            sha1: expected.has_v1.then(Sha1::new),
            leaves: Vec::new(),
            fed: 0,
            partial: Vec::new(),
            expected,
        }
    }

    /// Feeds the next bytes of the piece.
    pub(crate) fn update(&mut self, mut data: &[u8]) {
        if let Some(sha1) = &mut self.sha1 {
            sha1.update(data);
        }
        let v2_len = if self.expected.v2.is_some() {
            self.expected.v2_len
        } else {
            0
        };
        let leaf = MERKLE_BLOCK_SIZE as u64;
        while !data.is_empty() {
            if self.fed >= v2_len {
                // Past the v2 file's data: pad bytes, or a v1-only piece.
                self.fed += data.len() as u64;
                break;
            }
            let leaf_start = self.fed - self.fed % leaf;
            let leaf_end = (leaf_start + leaf).min(v2_len);
            let take = (leaf_end - self.fed).min(data.len() as u64) as usize;
            let (now, rest) = data.split_at(take);
            if self.partial.is_empty()
                && self.fed == leaf_start
                && take as u64 == leaf_end - leaf_start
            {
                self.leaves.push(Sha256::digest(now).into());
            } else {
                self.partial.extend_from_slice(now);
                if self.fed + take as u64 == leaf_end {
                    self.leaves.push(Sha256::digest(&self.partial).into());
                    self.partial.clear();
                }
            }
            self.fed += take as u64;
            data = rest;
        }
    }

    /// Whether the piece's hashes match.
    pub(crate) fn finish(self) -> Verdict {
        let v1_ok = match (self.expected.v1, self.sha1) {
            (Some(want), Some(sha1)) => <[u8; 20]>::from(sha1.finalize()) == want,
            (Some(_), None) => false,
            (None, _) => !self.expected.has_v1,
        };
        if !v1_ok {
            return Verdict::Bad;
        }
        match self.expected.v2 {
            None => {
                if self.expected.has_v1 {
                    Verdict::Good
                } else {
                    Verdict::Unknown
                }
            }
            Some(v2) => match v2.hash {
                Some(want) => {
                    if self.leaves.len() <= v2.leaves
                        && v2.leaves.is_power_of_two()
                        && merkle_root(&self.leaves, v2.leaves) == want
                    {
                        Verdict::Good
                    } else {
                        Verdict::Bad
                    }
                }
                // BEP 52 hybrid without piece layers yet: v1 decides.
                None if self.expected.has_v1 => Verdict::Good,
                None => Verdict::Unknown,
            },
        }
    }
}

/// Hashes a whole piece held in memory.
pub(crate) fn verify(files: &TorrentFiles, piece: u32, data: &[u8]) -> Verdict {
    let mut h = PieceHasher::new(Expected::of(files, piece));
    h.update(data);
    h.finish()
}

/// The merkle root over `leaves`, padded with zero leaves up to `width`
/// (a power of two, at least `leaves.len()`) as BEP 52 says.
pub(crate) fn merkle_root(leaves: &[[u8; 32]], width: usize) -> [u8; 32] {
    let mut level: Vec<[u8; 32]> = leaves.to_vec();
    let mut pad = [0u8; 32];
    let mut width = width.max(1);
    if level.is_empty() {
        level.push(pad);
    }
    while width > 1 {
        level = level
            .chunks(2)
            .map(|pair| {
                let mut h = Sha256::new();
                h.update(pair[0]);
                h.update(pair.get(1).unwrap_or(&pad));
                h.finalize().into()
            })
            .collect();
        let mut h = Sha256::new();
        h.update(pad);
        h.update(pad);
        pad = h.finalize().into();
        width /= 2;
    }
    level[0]
}

/// The number of standard blocks in a piece of `size` bytes.
pub(crate) fn blocks_in(size: u64) -> usize {
    size.div_ceil(u64::from(BLOCK_SIZE)) as usize
}

/// The index of `piece` as a `PieceIndex`.
pub(crate) fn index(piece: u32) -> PieceIndex {
    PieceIndex(piece)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bitswarm_metainfo::merkle_hash;

    /// A hybrid-like expectation: v2 data of `v2_len` bytes then pad, v1
    /// over everything.
    fn expected(data: &[u8], v2_len: usize, leaves: usize, v1: bool) -> Expected {
        use sha1::Digest as _;
        Expected {
            v1: v1.then(|| Sha1::digest(data).into()),
            v2: Some(V2Piece {
                file: 0,
                index_in_file: 0,
                hash: Some(merkle_hash(&data[..v2_len], leaves)),
                leaves,
            }),
            v2_len: v2_len as u64,
            has_v1: v1,
        }
    }

    proptest::proptest! {
        #[test]
        fn any_chunking_hashes_like_the_whole(
            len in 1usize..5 * MERKLE_BLOCK_SIZE,
            pad in 0usize..MERKLE_BLOCK_SIZE,
            cuts in proptest::collection::vec(1usize..40_000, 0..8),
            v1 in proptest::bool::ANY,
        ) {
            let data: Vec<u8> = (0..len + pad).map(|i| if i < len { (i * 31 % 256) as u8 } else { 0 }).collect();
            let leaves = len.div_ceil(MERKLE_BLOCK_SIZE).next_power_of_two();
            let want = expected(&data, len, leaves, v1);
            let mut h = PieceHasher::new(want);
            let mut rest = &data[..];
            for cut in cuts {
                let (now, later) = rest.split_at(cut.min(rest.len()));
                h.update(now);
                rest = later;
            }
            h.update(rest);
            proptest::prop_assert_eq!(h.finish(), Verdict::Good);
            // One flipped bit anywhere in the file's data fails.
            let mut bad = data.clone();
            bad[len / 2] ^= 1;
            let mut h = PieceHasher::new(want);
            h.update(&bad);
            proptest::prop_assert_eq!(h.finish(), Verdict::Bad);
        }
    }

    #[test]
    fn v2_only_without_a_hash_is_unknown() {
        let data = vec![1u8; 1000];
        let mut want = expected(&data, 1000, 1, false);
        if let Some(v2) = &mut want.v2 {
            v2.hash = None;
        }
        let mut h = PieceHasher::new(want);
        h.update(&data);
        assert_eq!(h.finish(), Verdict::Unknown);
        // In a hybrid, v1 decides.
        let mut want = expected(&data, 1000, 1, true);
        if let Some(v2) = &mut want.v2 {
            v2.hash = None;
        }
        let mut h = PieceHasher::new(want);
        h.update(&data);
        assert_eq!(h.finish(), Verdict::Good);
    }

    #[test]
    fn merkle_root_matches_metainfo() {
        for blocks in [1usize, 2, 3, 5, 8, 16] {
            let data: Vec<u8> = (0..blocks * MERKLE_BLOCK_SIZE - 100)
                .map(|i| (i * 7) as u8)
                .collect();
            let leaves: Vec<[u8; 32]> = data
                .chunks(MERKLE_BLOCK_SIZE)
                .map(|c| Sha256::digest(c).into())
                .collect();
            for width in [blocks.next_power_of_two(), 32] {
                assert_eq!(merkle_root(&leaves, width), merkle_hash(&data, width));
            }
        }
    }
}
