//! Pluggable BitTorrent storage (work in progress: see `fs.rs` for the
//! `FileSystem` contract and `manager.rs` for the `DiskManager` handle).
#![forbid(unsafe_code)]

mod error;
mod fs;
mod manager;

pub use error::Error;
pub use fs::{
    Fault, FaultyFileSystem, FileMetadata, FileSystem, MemoryFileSystem, NativeFileSystem,
};
pub use manager::{
    BlockTag, CheckMode, DiskConfig, DiskEvent, DiskEvents, DiskHandle, DiskManager, ResumeData,
    TorrentStorage,
};
