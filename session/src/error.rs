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
    /// An argument does not fit the torrent or the session (a priority list
    /// of the wrong length, a magnet link without an info-hash, ...).
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// The operation needs the torrent's metadata, which a magnet link has
    /// not fetched yet.
    #[error("torrent {0} has no metadata yet")]
    NoMetadata(crate::TorrentId),
    /// Listening or connecting failed.
    #[error("peer connections: {0}")]
    Handshake(#[from] bitswarm_handshake::Error),
    /// The DHT node could not be started.
    #[error("DHT: {0}")]
    Dht(#[from] bitswarm_dht::Error),
    /// The tracker client could not be started.
    #[error("trackers: {0}")]
    Tracker(#[from] crate::tracker::TrackerError),
    /// A resume file could not be read.
    #[error("resume file {path}: {reason}")]
    Resume {
        /// The file.
        path: String,
        /// What was wrong.
        reason: String,
    },
}

impl Error {
    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Self::Io {
            context: context.into(),
            source,
        }
    }
}
