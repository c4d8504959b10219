//! The storage seam: what a torrent's files are read from and written to.

use std::io;
use std::path::{Component, Path};
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

/// Checks that `path` is relative and made only of normal components
/// (no root, prefix, `.` or `..`, and not empty), as every [`FileSystem`]
/// of this crate requires; anything else is `io::ErrorKind::InvalidInput`.
pub(crate) fn check_relative(path: &Path) -> io::Result<()> {
    let mut components = 0usize;
    for component in path.components() {
        match component {
            Component::Normal(_) => components += 1,
            Component::Prefix(_)
            | Component::RootDir
            | Component::CurDir
            | Component::ParentDir => {
                return Err(invalid_path(path));
            }
        }
    }
    // `Path::components` drops interior `.` parts; refuse them as written.
    let has_cur_dir = path
        .as_os_str()
        .as_encoded_bytes()
        .split(|&b| b == b'/' || (cfg!(windows) && b == b'\\'))
        .any(|part| part == b".");
    if components == 0 || has_cur_dir {
        return Err(invalid_path(path));
    }
    Ok(())
}

fn invalid_path(path: &Path) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        format!(
            "not a relative path of plain components: {}",
            path.display()
        ),
    )
}

mod fault;
mod memory;
mod native;

pub use fault::{Fault, FaultyFileSystem};
pub use memory::MemoryFileSystem;
pub use native::NativeFileSystem;
