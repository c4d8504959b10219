//! The storage seam: what a torrent's files are read from and written to.

use std::io;
use std::path::Path;
use std::time::SystemTime;

/// A file's size and modification time, as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileMetadata {
    /// Its length in bytes.
    pub length: u64,
    /// When it was last modified, if the storage keeps such a time.
    pub modified: Option<SystemTime>,
}

/// Storage for a torrent's files, addressed by relative paths.
///
/// Paths are relative to the storage's own root and come from metainfo's
/// sanitised layout; an implementation must refuse (with
/// `io::ErrorKind::InvalidInput`) any absolute path or `..` component.
/// I/O is positional: there is no shared cursor, so calls on one file may
/// run concurrently. The calls are synchronous; the `DiskManager` runs them
/// on tokio's blocking pool.
pub trait FileSystem: Send + Sync + std::fmt::Debug + 'static {
    /// Opens `path`, creating it and its directories when missing, and
    /// makes its length `length` when it is shorter (sparse where the
    /// storage allows).
    fn open(&self, path: &Path, length: u64) -> io::Result<()>;
    /// Reads at `offset` into `buf`; returns how many bytes were read
    /// (fewer only at the end of the file).
    fn read_at(&self, path: &Path, offset: u64, buf: &mut [u8]) -> io::Result<usize>;
    /// Writes `data` at `offset`; returns how many bytes were written,
    /// which may be fewer than asked (a short write).
    fn write_at(&self, path: &Path, offset: u64, data: &[u8]) -> io::Result<usize>;
    /// Makes what was written to `path` durable.
    fn sync(&self, path: &Path) -> io::Result<()>;
    /// Sets the length of `path`.
    fn set_len(&self, path: &Path, length: u64) -> io::Result<()>;
    /// Removes `path`; a missing file is not an error.
    fn remove(&self, path: &Path) -> io::Result<()>;
    /// The metadata of `path`, or `None` when it does not exist.
    fn metadata(&self, path: &Path) -> io::Result<Option<FileMetadata>>;
}

mod fault;
mod memory;
mod native;

pub use fault::{Fault, FaultyFileSystem};
pub use memory::MemoryFileSystem;
pub use native::NativeFileSystem;
