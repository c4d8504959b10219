//! The parsed torrent and its accessors.

use std::ops::Range;
use std::path::{Path, PathBuf};

use bitswarm_core::{InfoHash, InfoHashV1, InfoHashV2};
use bytes::Bytes;

use crate::Error;
use crate::file::FileEntry;
use crate::layout::{Layout, V2Piece};
use crate::limits::Limits;
use crate::magnet::Magnet;

/// Which hash schemes a torrent carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Version {
    /// BEP 3: SHA-1 pieces, a SHA-1 info-hash.
    V1,
    /// BEP 52: per-file SHA-256 merkle trees, a SHA-256 info-hash.
    V2,
    /// BEP 52 hybrid: both, describing the same files (with BEP 47 pad
    /// files in the v1 part).
    Hybrid,
}

impl Version {
    /// Whether the torrent has v1 `pieces`.
    pub fn has_v1(self) -> bool {
        matches!(self, Self::V1 | Self::Hybrid)
    }

    /// Whether the torrent has a v2 `file tree`.
    pub fn has_v2(self) -> bool {
        matches!(self, Self::V2 | Self::Hybrid)
    }
}

/// A DHT node given in the `nodes` list of a trackerless torrent (BEP 5).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DhtNode {
    /// A host name or an IP address.
    pub host: String,
    /// The UDP port.
    pub port: u16,
}

/// A field that was ignored or read leniently because it is decorative
/// (comment, trackers, dates...), with where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    /// The field.
    pub field: String,
    /// Where its value starts in the input.
    pub offset: usize,
    /// What was wrong with it.
    pub message: String,
}

/// A dictionary entry this crate does not interpret, kept as it was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownField {
    /// The key.
    pub key: Bytes,
    /// The value's raw bencode, ready for
    /// [`bitswarm_bencode::decode`].
    pub raw_value: Bytes,
}

/// The info dictionary: what the info-hash identifies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Info {
    pub(crate) name: String,
    pub(crate) piece_length: u64,
    pub(crate) pieces: Bytes,
    pub(crate) private: bool,
    pub(crate) source: Option<String>,
    pub(crate) similar: Vec<InfoHash>,
    pub(crate) collections: Vec<String>,
    pub(crate) layout: Layout,
    pub(crate) version: Version,
    pub(crate) unknown: Vec<UnknownField>,
}

impl Info {
    /// `name` (or `name.utf-8` when present): the file name of a
    /// single-file torrent, the folder of a multi-file one. It never is
    /// empty, `.` or `..`, and never contains `/`, `\` or NUL: a torrent
    /// whose name would is refused.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// `piece length`.
    pub fn piece_length(&self) -> u64 {
        self.piece_length
    }

    /// Whether the torrent is private (BEP 27: `private` is 1): peers come
    /// from its trackers only.
    pub fn private(&self) -> bool {
        self.private
    }

    /// `source` (set by private trackers to make their info-hash unique).
    pub fn source(&self) -> Option<&str> {
        self.source.as_deref()
    }

    /// `similar`: info-hashes of torrents sharing files with this one (BEP 38).
    pub fn similar(&self) -> &[InfoHash] {
        &self.similar
    }

    /// `collections`: names of collections this torrent belongs to (BEP 38).
    pub fn collections(&self) -> &[String] {
        &self.collections
    }

    /// v1, v2 or hybrid.
    pub fn version(&self) -> Version {
        self.version
    }

    /// The files and how pieces map onto them.
    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    /// The v1 SHA-1 hash of piece `piece` (BEP 3); `None` for v2-only
    /// torrents and pieces out of range.
    pub fn piece_hash_v1(&self, piece: u32) -> Option<[u8; 20]> {
        let start = usize::try_from(piece).ok()?.checked_mul(20)?;
        self.pieces.get(start..start + 20)?.try_into().ok()
    }

    /// Info dictionary entries this crate does not interpret.
    pub fn unknown_fields(&self) -> &[UnknownField] {
        &self.unknown
    }
}

/// A parsed and validated `.torrent` file (BEP 3, BEP 52).
///
/// It keeps the file's bytes: [`Metainfo::as_bytes`] gives them back
/// unchanged, and the info-hashes are the SHA-1 and SHA-256 of the info
/// dictionary exactly as it appears in them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Metainfo {
    pub(crate) bytes: Bytes,
    pub(crate) info_span: Range<usize>,
    pub(crate) info_hash_v1: Option<InfoHashV1>,
    pub(crate) info_hash_v2: Option<InfoHashV2>,
    pub(crate) announce: Option<String>,
    pub(crate) announce_list: Vec<Vec<String>>,
    pub(crate) web_seeds: Vec<String>,
    pub(crate) nodes: Vec<DhtNode>,
    pub(crate) creation_date: Option<i64>,
    pub(crate) comment: Option<String>,
    pub(crate) created_by: Option<String>,
    pub(crate) encoding: Option<String>,
    pub(crate) has_piece_layers: bool,
    pub(crate) info: Info,
    pub(crate) unknown: Vec<UnknownField>,
    pub(crate) warnings: Vec<Warning>,
}

impl Metainfo {
    /// Parses and validates a `.torrent` file with the default [`Limits`].
    ///
    /// Every rule that affects which bytes are downloaded and where they go
    /// is checked (see the crate documentation); decorative fields with a
    /// wrong type are skipped and listed in [`Metainfo::warnings`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, Error> {
        Self::from_bytes_with(bytes, &Limits::default())
    }

    /// Parses with explicit limits.
    pub fn from_bytes_with(bytes: &[u8], limits: &Limits) -> Result<Self, Error> {
        if bytes.len() > limits.max_input_len {
            return Err(Error::InputTooLarge {
                len: bytes.len(),
                limit: limits.max_input_len,
            });
        }
        Self::from_shared(Bytes::copy_from_slice(bytes), limits)
    }

    /// Parses bytes already held in a [`Bytes`], without copying them.
    pub fn from_shared(bytes: Bytes, limits: &Limits) -> Result<Self, Error> {
        crate::parse::parse(bytes, limits, true)
    }

    /// The file's bytes, exactly as given.
    pub fn as_bytes(&self) -> &Bytes {
        &self.bytes
    }

    /// The info dictionary's raw bytes: what the info-hashes are computed
    /// over, and what BEP 9 sends as metadata.
    pub fn info_bytes(&self) -> Bytes {
        self.bytes.slice(self.info_span.clone())
    }

    /// Where the info dictionary lies in [`Metainfo::as_bytes`].
    pub fn info_span(&self) -> Range<usize> {
        self.info_span.clone()
    }

    /// The v1 info-hash (SHA-1 of the info dictionary), for v1 and hybrid torrents.
    pub fn info_hash_v1(&self) -> Option<InfoHashV1> {
        self.info_hash_v1
    }

    /// The v2 info-hash (SHA-256 of the info dictionary), for v2 and hybrid
    /// torrents (BEP 52).
    pub fn info_hash_v2(&self) -> Option<InfoHashV2> {
        self.info_hash_v2
    }

    /// The torrent's identity: the v1 hash when there is one, else the v2 hash.
    pub fn info_hash(&self) -> InfoHash {
        match (self.info_hash_v1, self.info_hash_v2) {
            (Some(v1), _) => InfoHash::V1(v1),
            (None, Some(v2)) => InfoHash::V2(v2),
            // The parser always sets one of them.
            (None, None) => InfoHash::V1(InfoHashV1::default()),
        }
    }

    /// The 20 bytes that stand for the torrent in handshakes, trackers and
    /// the DHT: the v1 hash, or the truncated v2 hash of a v2-only torrent.
    pub fn wire_info_hash(&self) -> InfoHashV1 {
        self.info_hash().wire()
    }

    /// The info dictionary.
    pub fn info(&self) -> &Info {
        &self.info
    }

    /// Shorthand for `info().name()`.
    pub fn name(&self) -> &str {
        &self.info.name
    }

    /// v1, v2 or hybrid.
    pub fn version(&self) -> Version {
        self.info.version
    }

    /// Shorthand for `info().layout()`.
    pub fn layout(&self) -> &Layout {
        &self.info.layout
    }

    /// Shorthand for `layout().files()`.
    pub fn files(&self) -> &[FileEntry] {
        &self.info.layout.files
    }

    /// Shorthand for `info().piece_length()`.
    pub fn piece_length(&self) -> u64 {
        self.info.piece_length
    }

    /// Shorthand for `layout().num_pieces()`.
    pub fn num_pieces(&self) -> u32 {
        self.info.layout.num_pieces
    }

    /// Shorthand for `layout().total_length()`: content bytes, pads excluded.
    pub fn total_length(&self) -> u64 {
        self.info.layout.total_length()
    }

    /// Shorthand for `info().private()`.
    pub fn private(&self) -> bool {
        self.info.private
    }

    /// What v2 piece `piece` is checked against (see [`Layout::v2_piece`]).
    pub fn v2_piece(&self, piece: u32) -> Option<V2Piece> {
        self.info.layout.v2_piece(piece)
    }

    /// Where file `index` goes under `download_dir`: inside the torrent's
    /// folder for a multi-file torrent, sanitised for the host platform
    /// (see [`FilePath::to_path_in`](crate::FilePath::to_path_in)). Always
    /// below `download_dir`.
    pub fn file_path_in(&self, download_dir: &Path, index: usize) -> Option<PathBuf> {
        let file = self.info.layout.files.get(index)?;
        let root = match self.info.layout.root_folder() {
            Some(folder) => crate::FilePath::new([folder])
                .ok()?
                .to_path_in(download_dir),
            None => download_dir.to_path_buf(),
        };
        Some(file.path().to_path_in(&root))
    }

    /// `announce`: the tracker of torrents without `announce-list`.
    pub fn announce(&self) -> Option<&str> {
        self.announce.as_deref()
    }

    /// The trackers in tiers (BEP 12): `announce-list` when it has any
    /// tracker, otherwise `announce` alone. Empty for a trackerless torrent.
    pub fn trackers(&self) -> Vec<Vec<String>> {
        if !self.announce_list.is_empty() {
            return self.announce_list.clone();
        }
        self.announce.iter().map(|a| vec![a.clone()]).collect()
    }

    /// `announce-list` as written (BEP 12), empty tiers dropped.
    pub fn announce_list(&self) -> &[Vec<String>] {
        &self.announce_list
    }

    /// `url-list`: web seeds (BEP 19).
    pub fn web_seeds(&self) -> &[String] {
        &self.web_seeds
    }

    /// `nodes`: DHT nodes for a trackerless torrent (BEP 5).
    pub fn nodes(&self) -> &[DhtNode] {
        &self.nodes
    }

    /// `creation date`, seconds since the Unix epoch.
    pub fn creation_date(&self) -> Option<i64> {
        self.creation_date
    }

    /// `comment` (or `comment.utf-8`).
    pub fn comment(&self) -> Option<&str> {
        self.comment.as_deref()
    }

    /// `created by`.
    pub fn created_by(&self) -> Option<&str> {
        self.created_by.as_deref()
    }

    /// `encoding`: the character set the creator claims for text fields.
    pub fn encoding(&self) -> Option<&str> {
        self.encoding.as_deref()
    }

    /// Whether `piece layers` was present (BEP 52). Always true for a
    /// parsed v2 `.torrent`; false for v1 and for BEP 9 metadata.
    pub fn has_piece_layers(&self) -> bool {
        self.has_piece_layers
    }

    /// Top-level entries this crate does not interpret.
    pub fn unknown_fields(&self) -> &[UnknownField] {
        &self.unknown
    }

    /// What was read leniently or skipped.
    pub fn warnings(&self) -> &[Warning] {
        &self.warnings
    }

    /// A magnet link for this torrent: its info-hashes, name, trackers and
    /// web seeds.
    pub fn magnet(&self) -> Magnet {
        Magnet {
            info_hash_v1: self.info_hash_v1,
            info_hash_v2: self.info_hash_v2,
            display_name: Some(self.info.name.clone()),
            trackers: self.trackers().into_iter().flatten().collect(),
            web_seeds: self.web_seeds.clone(),
            ..Magnet::default()
        }
    }
}
