//! Pluggable BitTorrent storage: a [`FileSystem`] trait with native and
//! in-memory implementations, and a [`DiskManager`] that caches blocks,
//! verifies pieces (SHA-1 for v1, SHA-256 merkle trees for v2, both for
//! hybrids), writes them, reads them back for seeding, checks existing
//! files on all cores and saves resume data.
//!
//! ```text
//!   DiskHandle ──write_block(Bytes)──▶ write cache (bounded; the caller waits when full)
//!      │                                 │ hashed as blocks arrive, on the blocking pool
//!      │                                 ▼
//!      │                        piece complete ──good──▶ written ──▶ DiskEvent::PieceVerified
//!      │                                       └─bad───▶ dropped ──▶ DiskEvent::PieceFailed (blocks, tags)
//!      ├──read_block──▶ read cache (LRU of whole pieces) ◀── FileSystem
//!      ├──check(Full | Resume)──▶ DiskEvent::CheckProgress ──▶ verified pieces
//!      └──flush / resume_data / resume_io / remove_torrent / shutdown
//! ```
//!
//! ```
//! use std::sync::Arc;
//! use bitswarm_core::{BlockRef, PieceIndex};
//! use bitswarm_disk::{BlockTag, DiskConfig, DiskEvent, DiskManager, MemoryFileSystem, TorrentStorage};
//! use bitswarm_metainfo::{TorrentBuilder, Version};
//! use futures::StreamExt;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // A torrent of one 40 KiB file (two pieces of 32 KiB).
//! let content: Vec<u8> = (0..40_960u32).map(|i| (i % 251) as u8).collect();
//! let dir = tempfile::tempdir()?;
//! std::fs::write(dir.path().join("song.flac"), &content)?;
//! let meta = TorrentBuilder::new(dir.path().join("song.flac"))
//!     .version(Version::V1)
//!     .piece_length(32 * 1024)
//!     .build()?;
//!
//! let (disk, mut events) = DiskManager::start(DiskConfig::default());
//! let fs = Arc::new(MemoryFileSystem::new());
//! let info_hash = meta.info_hash();
//! let storage = TorrentStorage { info: Arc::new(meta.info().clone()), fs: fs.clone() };
//! disk.add_torrent(info_hash, storage).await?;
//!
//! // Blocks arrive from peers (here: from `content`); each piece is
//! // verified and written when its last block comes.
//! for piece in 0..2u32 {
//!     let size = meta.layout().piece_size(piece).unwrap_or(0) as u32;
//!     for block in BlockRef::blocks_of(PieceIndex(piece), size) {
//!         let at = (piece * 32 * 1024 + block.offset) as usize;
//!         let data = content[at..at + block.length as usize].to_vec();
//!         disk.write_block(info_hash, block, data.into(), BlockTag(7)).await?;
//!     }
//! }
//! let mut verified = 0;
//! while verified < 2 {
//!     match events.next().await {
//!         Some(DiskEvent::PieceVerified { .. }) => verified += 1,
//!         other => panic!("unexpected {other:?}"),
//!     }
//! }
//! assert_eq!(fs.contents("song.flac".as_ref()), Some(content.clone()));
//!
//! // Seed: read a block of a verified piece.
//! let block = BlockRef { piece: PieceIndex(1), offset: 0, length: 100 };
//! assert_eq!(disk.read_block(info_hash, block).await?, content[32 * 1024..32 * 1024 + 100]);
//!
//! // Save what we have, for the next start.
//! let resume = disk.resume_data(info_hash).await?;
//! assert!(resume.have.is_full());
//! disk.shutdown().await?;
//! # Ok(())
//! # }
//! ```
//!
//! See the crate README for the write cache and its backpressure, the
//! resume data format, error behaviour and benchmark figures.
#![forbid(unsafe_code)]

mod cache;
mod check;
mod error;
mod fs;
mod manager;
mod piece;
mod resume;

pub use error::Error;
pub use fs::{
    Fault, FaultyFileSystem, FileMetadata, FileSystem, MemoryFileSystem, NativeFileSystem,
};
pub use manager::{
    BlockTag, CheckMode, DiskConfig, DiskEvent, DiskEvents, DiskHandle, DiskManager,
    EVENT_CAPACITY, ResumeData, TorrentStorage,
};
pub use resume::MAX_RESUME_DATA_LEN;
