use std::io;
use std::path::PathBuf;

use bitswarm_core::{InfoHashV1, InfoHashV2};

/// Everything that can go wrong reading a `.torrent`, a magnet link or BEP 9
/// metadata, or creating a torrent.
///
/// Errors about a field name it the way it is written in the file
/// (`info.files[3].path[1]`) and, where the value exists, give the byte
/// offset of that value in the input.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The input is not valid bencode (BEP 3); the inner error has the offset.
    #[error("not valid bencode: {0}")]
    Bencode(#[from] bitswarm_bencode::Error),

    /// The input is larger than [`Limits::max_input_len`](crate::Limits::max_input_len).
    #[error("input is {len} bytes long, over the limit of {limit}")]
    InputTooLarge {
        /// The input's length.
        len: usize,
        /// The configured limit.
        limit: usize,
    },

    /// A required field is absent.
    #[error("missing field `{field}`")]
    MissingField {
        /// The field, e.g. `info.piece length`.
        field: String,
    },

    /// A field holds a value of the wrong bencode type.
    #[error("field `{field}` at byte {offset} is a {found}, expected a {expected}")]
    WrongType {
        /// The field.
        field: String,
        /// Where its value starts.
        offset: usize,
        /// The type required.
        expected: &'static str,
        /// The type found.
        found: &'static str,
    },

    /// A field's value breaks a rule; `reason` says which.
    #[error("field `{field}` at byte {offset}: {reason}")]
    InvalidField {
        /// The field.
        field: String,
        /// Where its value starts.
        offset: usize,
        /// The rule broken.
        reason: String,
    },

    /// A length that is negative, too large, or makes a sum overflow.
    #[error("field `{field}` at byte {offset}: length {value} is {problem}")]
    InvalidLength {
        /// The field.
        field: String,
        /// Where its value starts.
        offset: usize,
        /// The value as written.
        value: i64,
        /// `"negative"`, `"too large"`...
        problem: &'static str,
    },

    /// `piece length` is not usable: zero, too large, or (BEP 52) not a
    /// power of two of at least 16 KiB in a v2 torrent.
    #[error("`info.piece length` {value} at byte {offset}: {reason}")]
    InvalidPieceLength {
        /// The value as written.
        value: i64,
        /// Where it is.
        offset: usize,
        /// The rule broken.
        reason: &'static str,
    },

    /// `pieces` is not a whole number of 20-byte SHA-1 hashes (BEP 3).
    #[error("`info.pieces` at byte {offset} is {len} bytes long, not a multiple of 20")]
    PiecesNotMultipleOf20 {
        /// Where the string starts.
        offset: usize,
        /// Its length.
        len: usize,
    },

    /// The number of hashes in `pieces` does not match the total length
    /// divided by the piece length, rounded up (BEP 3).
    #[error(
        "`info.pieces` at byte {offset} has {found} hashes but {total_length} bytes in pieces of {piece_length} need {expected}"
    )]
    PieceCountMismatch {
        /// Where the string starts.
        offset: usize,
        /// Hashes present.
        found: u64,
        /// Hashes required.
        expected: u64,
        /// Total length of the files (pads included).
        total_length: u64,
        /// The piece length.
        piece_length: u64,
    },

    /// More of something than [`Limits`](crate::Limits) allow.
    #[error("{what}: {found} is over the limit of {limit}")]
    LimitExceeded {
        /// What was counted (`"files"`, `"pieces"`, `"total length"`...).
        what: &'static str,
        /// How many were found (or the first count past the limit).
        found: u64,
        /// The configured limit.
        limit: u64,
    },

    /// A path component that could map a file outside the download folder.
    #[error("field `{field}` at byte {offset}: path component {component:?} {problem}")]
    UnsafePath {
        /// The field (`info.files[3].path[1]`, `info.file tree/a/..`).
        field: String,
        /// Where the component is.
        offset: usize,
        /// The component, lossily decoded.
        component: String,
        /// Why it is refused.
        problem: PathProblem,
    },

    /// Two files of the torrent have the same path.
    #[error("two files have the path {path:?} (files {first} and {second})")]
    DuplicatePath {
        /// The path, `/`-joined.
        path: String,
        /// Index of the first file.
        first: usize,
        /// Index of the second file.
        second: usize,
    },

    /// One file's path is a folder on another file's path (`a` and `a/b`).
    #[error("file {file} ({file_path:?}) is a folder in the path of file {inner} ({inner_path:?})")]
    FileIsFolder {
        /// Index of the file used as a folder.
        file: usize,
        /// Its path.
        file_path: String,
        /// Index of the file below it.
        inner: usize,
        /// That file's path.
        inner_path: String,
    },

    /// A BEP 47 symlink that is malformed or points out of the torrent.
    #[error("file {file} ({path:?}): symlink {problem}")]
    InvalidSymlink {
        /// Index of the symlink.
        file: usize,
        /// Its path.
        path: String,
        /// What is wrong.
        problem: &'static str,
    },

    /// `meta version` is not a version this crate reads (BEP 52 defines 2).
    #[error("`info.meta version` at byte {offset} is {version}; only 2 is defined (BEP 52)")]
    UnsupportedMetaVersion {
        /// The version found.
        version: i64,
        /// Where it is.
        offset: usize,
    },

    /// A v2 file larger than one piece has no entry in `piece layers` (BEP 52).
    #[error(
        "file {file} ({path:?}) spans several pieces but `piece layers` has no layer for its root"
    )]
    MissingPieceLayer {
        /// Index of the file.
        file: usize,
        /// Its path.
        path: String,
    },

    /// A piece layer of the wrong size for its file (BEP 52).
    #[error(
        "`piece layers` entry of file {file} ({path:?}) at byte {offset} is {found} bytes, expected {expected} (32 per piece)"
    )]
    PieceLayerSize {
        /// Index of the file.
        file: usize,
        /// Its path.
        path: String,
        /// Where the layer starts.
        offset: usize,
        /// Bytes present.
        found: u64,
        /// Bytes required.
        expected: u64,
    },

    /// A piece layer whose merkle root is not the file's `pieces root` (BEP 52).
    #[error("`piece layers` entry of file {file} ({path:?}) does not hash to its `pieces root`")]
    PieceLayerMismatch {
        /// Index of the file.
        file: usize,
        /// Its path.
        path: String,
    },

    /// The v1 and v2 parts of a hybrid torrent describe different files (BEP 52).
    #[error("hybrid torrent: the v1 and v2 file lists differ: {detail}")]
    HybridMismatch {
        /// The first difference found.
        detail: String,
    },

    /// BEP 9 metadata whose hash is not the info-hash that was asked for.
    #[error("metadata hashes to {computed}, expected {expected}")]
    InfoHashMismatch {
        /// The hash that was expected, as hex.
        expected: String,
        /// The hash of the bytes received, as hex.
        computed: String,
    },

    /// A magnet link that cannot be read (BEP 9, BEP 53).
    #[error("invalid magnet link: {reason}")]
    InvalidMagnet {
        /// What is wrong, and where.
        reason: String,
    },

    /// Torrent creation: a file could not be read or a folder listed.
    #[error("{what} {path}: {source}")]
    Io {
        /// What was being done.
        what: &'static str,
        /// The path involved.
        path: PathBuf,
        /// The operating system's reason.
        source: io::Error,
    },

    /// Torrent creation: a request that cannot make a valid torrent.
    #[error("cannot create the torrent: {reason}")]
    Build {
        /// What is wrong.
        reason: String,
    },

    /// Torrent creation was cancelled through its
    /// [`CancelToken`](crate::CancelToken).
    #[error("torrent creation was cancelled")]
    Cancelled,
}

/// Why a path component is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PathProblem {
    /// `""`: an empty component.
    #[error("is empty")]
    Empty,
    /// `.`: the folder itself.
    #[error("is `.`")]
    CurrentDir,
    /// `..`: the parent folder, out of the torrent.
    #[error("is `..`")]
    ParentDir,
    /// It contains `/`, a separator everywhere (and the mark of an absolute path).
    #[error("contains `/`")]
    Slash,
    /// It contains `\`, a separator on Windows.
    #[error("contains `\\`")]
    Backslash,
    /// It contains a NUL byte, which ends a path for the operating system.
    #[error("contains a NUL byte")]
    Nul,
}

/// The hex form of a v1 or v2 hash, for [`Error::InfoHashMismatch`].
pub(crate) fn hash_hex(v1: Option<InfoHashV1>, v2: Option<InfoHashV2>) -> String {
    match (v1, v2) {
        (Some(a), Some(b)) => format!("{a} / {b}"),
        (Some(a), None) => a.to_string(),
        (None, Some(b)) => b.to_string(),
        (None, None) => "nothing".to_owned(),
    }
}

pub(crate) fn field_error(
    field: impl Into<String>,
    offset: usize,
    reason: impl Into<String>,
) -> Error {
    Error::InvalidField {
        field: field.into(),
        offset,
        reason: reason.into(),
    }
}
