//! The DiskManager: a handle for commands and a stream of events.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bitswarm_core::{Bitfield, BlockRef, InfoHash, PieceIndex};
use bitswarm_metainfo::Info;
use bytes::Bytes;

use crate::{Error, FileSystem};

/// Limits and sizes of a `DiskManager`.
#[derive(Debug, Clone)]
pub struct DiskConfig {
    /// The most bytes of blocks held in the write cache, all torrents together.
    pub write_cache_bytes: usize,
    /// The most bytes of pieces held in the read cache.
    pub read_cache_bytes: usize,
    /// Threads that hash; 0 means one per core.
    pub hash_threads: usize,
}

impl Default for DiskConfig {
    fn default() -> Self {
        Self {
            write_cache_bytes: 64 << 20,
            read_cache_bytes: 32 << 20,
            hash_threads: 0,
        }
    }
}

/// A caller's tag on a written block, given back when its piece fails the
/// hash check: the session puts the sending peer's key here.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct BlockTag(pub u64);

/// Where a torrent's files live and what they should hold.
#[derive(Debug, Clone)]
pub struct TorrentStorage {
    /// The info dictionary: layout and piece hashes.
    pub info: Arc<Info>,
    /// The storage of its files. Each file's path given to it is relative:
    /// the layout's root folder (multi-file torrents) then the file's
    /// components, sanitised for the host (`FilePath::to_path_in("")`).
    pub fs: Arc<dyn FileSystem>,
}

/// How `DiskHandle::check` decides which pieces are present.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckMode {
    /// Trust resume data for files whose size and modification time are
    /// unchanged; hash the pieces of other files.
    Resume(ResumeData),
    /// Hash every piece whose files exist.
    Full,
}

/// What is saved between runs so that a restart does not re-hash
/// everything (bencoded by `to_bencode`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResumeData {
    /// The info-hash it belongs to.
    pub info_hash: InfoHash,
    /// Verified pieces.
    pub have: Bitfield,
    /// Per file of the layout: (length, modification time in nanoseconds
    /// since the Unix epoch) when saved, `None` for a file not on disk.
    pub files: Vec<Option<(u64, Option<u128>)>>,
}

/// What the manager reports.
#[derive(Debug)]
#[non_exhaustive]
pub enum DiskEvent {
    /// A piece passed every hash check and is on disk.
    PieceVerified {
        /// The torrent.
        info_hash: InfoHash,
        /// The piece.
        piece: PieceIndex,
    },
    /// A piece failed its hash check; its blocks were dropped.
    PieceFailed {
        /// The torrent.
        info_hash: InfoHash,
        /// The piece.
        piece: PieceIndex,
        /// Every block of the piece with the tag it was written with.
        blocks: Vec<(BlockRef, BlockTag)>,
    },
    /// Progress of a check.
    CheckProgress {
        /// The torrent.
        info_hash: InfoHash,
        /// Pieces checked so far.
        checked: u32,
        /// Pieces to check.
        total: u32,
    },
    /// An I/O error paused the torrent.
    TorrentError {
        /// The torrent.
        info_hash: InfoHash,
        /// What failed.
        error: Error,
    },
}

/// Starts managers.
#[derive(Debug)]
pub struct DiskManager;

/// Commands to a running manager; cloneable.
#[derive(Debug, Clone)]
pub struct DiskHandle {}

/// The manager's events.
#[derive(Debug)]
pub struct DiskEvents {}

impl futures::Stream for DiskEvents {
    type Item = DiskEvent;
    fn poll_next(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<Option<DiskEvent>> {
        unimplemented!()
    }
}

#[allow(unused_variables, clippy::unused_async)]
impl DiskHandle {
    /// Starts serving a torrent.
    pub async fn add_torrent(
        &self,
        info_hash: InfoHash,
        storage: TorrentStorage,
    ) -> Result<(), Error> {
        unimplemented!()
    }
    /// Finds which pieces are present, with `CheckProgress` events; returns the verified pieces.
    pub async fn check(&self, info_hash: InfoHash, mode: CheckMode) -> Result<Bitfield, Error> {
        unimplemented!()
    }
    /// Takes a block; waits while the write cache is full.
    pub async fn write_block(
        &self,
        info_hash: InfoHash,
        block: BlockRef,
        data: Bytes,
        tag: BlockTag,
    ) -> Result<(), Error> {
        unimplemented!()
    }
    /// Reads a block of a verified piece.
    pub async fn read_block(&self, info_hash: InfoHash, block: BlockRef) -> Result<Bytes, Error> {
        unimplemented!()
    }
    /// Writes out everything cached and syncs.
    pub async fn flush(&self, info_hash: InfoHash) -> Result<(), Error> {
        unimplemented!()
    }
    /// The resume data of a torrent now.
    pub async fn resume_data(&self, info_hash: InfoHash) -> Result<ResumeData, Error> {
        unimplemented!()
    }
    /// Clears the pause an I/O error put on a torrent.
    pub async fn resume_io(&self, info_hash: InfoHash) -> Result<(), Error> {
        unimplemented!()
    }
    /// Stops serving a torrent, deleting its files when asked.
    pub async fn remove_torrent(
        &self,
        info_hash: InfoHash,
        delete_files: bool,
    ) -> Result<(), Error> {
        unimplemented!()
    }
}

impl DiskManager {
    /// Starts a manager.
    pub fn start(config: DiskConfig) -> (DiskHandle, DiskEvents) {
        let _ = config;
        unimplemented!()
    }
}
