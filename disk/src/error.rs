//! The disk crate's errors.

use std::io;

use bitswarm_core::{InfoHash, PieceIndex};

/// What went wrong in storage.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An I/O call on `path` failed; the `io::ErrorKind` is kept
    /// (`StorageFull` for a full disk).
    #[error("{op} {path}: {source}")]
    Io {
        /// The operation: "read", "write", "open", "sync", "set_len", "remove", "metadata".
        op: &'static str,
        /// The file, relative to the storage root.
        path: String,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// No torrent with this info-hash was added.
    #[error("unknown torrent {0}")]
    UnknownTorrent(InfoHash),
    /// A torrent with this info-hash was already added.
    #[error("torrent {0} is already added")]
    DuplicateTorrent(InfoHash),
    /// The torrent is paused after an I/O error; call `DiskHandle::resume_io`.
    #[error("torrent {0} is paused after an I/O error")]
    Paused(InfoHash),
    /// A block does not fit in its piece, or the piece is out of range.
    #[error("block out of range: piece {piece}, offset {offset}, length {length}")]
    BlockOutOfRange {
        /// The piece.
        piece: PieceIndex,
        /// The offset in the piece.
        offset: u32,
        /// The length.
        length: u32,
    },
    /// Resume data could not be decoded or does not belong to this torrent.
    #[error("bad resume data: {0}")]
    BadResumeData(String),
    /// The manager has shut down.
    #[error("the disk manager has shut down")]
    Shutdown,
    /// `read_block` asked for a piece that is not verified on disk.
    #[error("piece {0} is not verified")]
    PieceNotVerified(PieceIndex),
    /// A block longer than the whole write cache can never be accepted.
    #[error("block of {length} bytes exceeds the write cache of {budget} bytes")]
    BlockTooLarge {
        /// The block's length.
        length: usize,
        /// `DiskConfig::write_cache_bytes`.
        budget: usize,
    },
    /// A piece of a v2-only torrent whose expected hash is not known (BEP 9
    /// metadata without `piece layers`): it can never be marked good.
    #[error("piece {0} has no known v2 hash")]
    PieceHashUnknown(PieceIndex),
    /// A check of this torrent is already running.
    #[error("torrent {0} is being checked")]
    CheckInProgress(InfoHash),
    /// The torrent's layout cannot be stored (a path that cannot be made).
    #[error("invalid torrent: {0}")]
    InvalidTorrent(String),
}

impl Error {
    /// An `Io` error for `op` on `path`.
    pub(crate) fn io(op: &'static str, path: &std::path::Path, source: io::Error) -> Self {
        Self::Io {
            op,
            path: path.display().to_string(),
            source,
        }
    }

    /// A copy to report twice (an event and a reply): an `io::Error`
    /// keeps its kind and message.
    pub(crate) fn duplicate(&self) -> Self {
        match self {
            Self::Io { op, path, source } => Self::Io {
                op,
                path: path.clone(),
                source: io::Error::new(source.kind(), source.to_string()),
            },
            Self::UnknownTorrent(h) => Self::UnknownTorrent(*h),
            Self::DuplicateTorrent(h) => Self::DuplicateTorrent(*h),
            Self::Paused(h) => Self::Paused(*h),
            Self::BlockOutOfRange {
                piece,
                offset,
                length,
            } => Self::BlockOutOfRange {
                piece: *piece,
                offset: *offset,
                length: *length,
            },
            Self::BadResumeData(s) => Self::BadResumeData(s.clone()),
            Self::Shutdown => Self::Shutdown,
            Self::PieceNotVerified(p) => Self::PieceNotVerified(*p),
            Self::BlockTooLarge { length, budget } => Self::BlockTooLarge {
                length: *length,
                budget: *budget,
            },
            Self::PieceHashUnknown(p) => Self::PieceHashUnknown(*p),
            Self::InvalidTorrent(s) => Self::InvalidTorrent(s.clone()),
            Self::CheckInProgress(h) => Self::CheckInProgress(*h),
        }
    }

    /// The `io::ErrorKind` of an `Io` error (`StorageFull` for a full disk).
    pub fn io_kind(&self) -> Option<io::ErrorKind> {
        match self {
            Self::Io { source, .. } => Some(source.kind()),
            _ => None,
        }
    }
}
