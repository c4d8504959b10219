//! The session's errors.

/// What went wrong.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The torrent is not in the session.
    #[error("unknown torrent {0}")]
    UnknownTorrent(crate::TorrentId),
    /// The torrent is already in the session.
    #[error("torrent {0} is already in the session")]
    DuplicateTorrent(crate::TorrentId),
    /// A .torrent file or magnet link was refused.
    #[error("bad torrent: {0}")]
    Metainfo(#[from] bitswarm_metainfo::Error),
    /// Storage failed.
    #[error("storage: {0}")]
    Disk(#[from] bitswarm_disk::Error),
    /// A socket or file operation failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// The session has shut down.
    #[error("the session has shut down")]
    Shutdown,
}
