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
}
