//! The storage seam: what a torrent's files are read from and written to.
//!
//! [`FileSystem`] is the trait; [`NativeFileSystem`] (files below one
//! directory), [`MemoryFileSystem`] (tests, benchmarks) and
//! [`FaultyFileSystem`] (a wrapper that injects errors, for tests) implement
//! it. The trait's documentation says why it is synchronous and shows how to
//! implement it for one's own storage.

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
/// The implementations in this crate refuse every path that is not made
/// only of plain components: absolute paths, `..`, `.`, Windows prefixes and
/// the empty path.
/// I/O is positional: there is no shared cursor, so calls on one file may
/// run concurrently. The calls are synchronous; the `DiskManager` runs them
/// on tokio's blocking pool.
///
/// # Contract
///
/// - Errors are `io::Error`s whose [`io::ErrorKind`] says what happened:
///   `NotFound` for a missing file (except in `remove` and `metadata`),
///   `InvalidInput` for a refused path, `StorageFull` for a full disk. The
///   `DiskManager` acts on the kind (a full disk pauses the torrent), so an
///   implementation should keep it rather than wrap everything as `Other`.
/// - `read_at` returns fewer bytes than asked only at the end of the file
///   (0 at or after it); `write_at` may write fewer bytes than given, and the
///   caller writes the rest.
/// - Every method takes `&self` and may be called from many threads at
///   once, on the same file too.
///
/// # Why synchronous, on a blocking pool
///
/// Operating systems offer file I/O as blocking calls (`pread`, `pwrite`,
/// `fsync`); `tokio::fs` itself runs them on tokio's blocking pool. So the
/// trait is the plain synchronous form and the `DiskManager` calls it
/// through `tokio::task::spawn_blocking`, which gives the same behaviour
/// with one hop less and keeps the trait simple to implement: no
/// `async fn` in a trait object, no boxed futures, no runtime assumed by
/// the implementation. Because calls are positional and take `&self`, many
/// blocks of one file can be read and written at once on different
/// threads, which an `async` trait over a shared cursor would serialise.
///
/// Storage that is itself asynchronous (an object store client, a network
/// block device) can still be used: the methods run on a blocking-pool
/// thread, where `tokio::runtime::Handle::block_on` may wait for a future.
/// Keep the handle of the runtime that will call you:
///
/// ```
/// use std::io;
/// use std::path::Path;
/// use tokio::runtime::Handle;
///
/// /// A client whose calls are async (here a stand-in).
/// #[derive(Debug)]
/// struct ObjectStore;
/// impl ObjectStore {
///     async fn get_range(&self, _key: &str, _offset: u64, buf: &mut [u8]) -> io::Result<usize> {
///         buf.fill(7);
///         Ok(buf.len())
///     }
/// }
///
/// #[derive(Debug)]
/// struct ObjectFiles {
///     store: ObjectStore,
///     runtime: Handle,
/// }
///
/// impl ObjectFiles {
///     // The body of `FileSystem::read_at`: called on a blocking-pool
///     // thread, so blocking on the async call is allowed there.
///     fn read_at(&self, path: &Path, offset: u64, buf: &mut [u8]) -> io::Result<usize> {
///         let key = path.to_string_lossy();
///         self.runtime.block_on(self.store.get_range(&key, offset, buf))
///     }
/// }
///
/// # #[tokio::main]
/// # async fn main() -> io::Result<()> {
/// let files = ObjectFiles { store: ObjectStore, runtime: Handle::current() };
/// let buf = tokio::task::spawn_blocking(move || {
///     let mut buf = [0u8; 4];
///     files.read_at(Path::new("a/b"), 0, &mut buf).map(|_| buf)
/// })
/// .await??;
/// assert_eq!(buf, [7; 4]);
/// # Ok(())
/// # }
/// ```
///
/// (Calling `block_on` from an async task, rather than from a blocking-pool
/// thread, panics; the `DiskManager` never calls a `FileSystem` from one.)
///
/// # Implementing `FileSystem` for one's own storage
///
/// A wrapper that stores every byte XORed with a repeating key, around any
/// other `FileSystem`. Positional I/O makes it easy: the key byte for a
/// stored byte depends only on its offset, so reads and writes of any block
/// in any order agree. Path checks, directories and handles are left to the
/// inner file system.
///
/// ```
/// use std::io;
/// use std::path::Path;
/// use std::sync::Arc;
/// use bitswarm_disk::{FileMetadata, FileSystem, MemoryFileSystem};
///
/// /// Stores bytes XORed with `key` (an obfuscation, not encryption).
/// #[derive(Debug)]
/// struct XorFileSystem<F> {
///     inner: F,
///     key: [u8; 8],
/// }
///
/// impl<F> XorFileSystem<F> {
///     fn apply(&self, offset: u64, bytes: &mut [u8]) {
///         for (at, byte) in (offset..).zip(bytes.iter_mut()) {
///             *byte ^= self.key[(at % 8) as usize];
///         }
///     }
/// }
///
/// impl<F: FileSystem> FileSystem for XorFileSystem<F> {
///     fn open(&self, path: &Path, length: u64) -> io::Result<()> {
///         // Bytes never written read back as the key, not as zeros; that
///         // is fine for a torrent, whose pieces are read only once written
///         // and verified.
///         self.inner.open(path, length)
///     }
///
///     fn read_at(&self, path: &Path, offset: u64, buf: &mut [u8]) -> io::Result<usize> {
///         let n = self.inner.read_at(path, offset, buf)?;
///         self.apply(offset, &mut buf[..n]);
///         Ok(n)
///     }
///
///     fn write_at(&self, path: &Path, offset: u64, data: &[u8]) -> io::Result<usize> {
///         let mut stored = data.to_vec();
///         self.apply(offset, &mut stored);
///         // A short write of the inner file system is passed on as is:
///         // the caller writes the rest, at the right offset.
///         self.inner.write_at(path, offset, &stored)
///     }
///
///     fn sync(&self, path: &Path) -> io::Result<()> {
///         self.inner.sync(path)
///     }
///
///     fn set_len(&self, path: &Path, length: u64) -> io::Result<()> {
///         self.inner.set_len(path, length)
///     }
///
///     fn remove(&self, path: &Path) -> io::Result<()> {
///         self.inner.remove(path)
///     }
///
///     fn metadata(&self, path: &Path) -> io::Result<Option<FileMetadata>> {
///         self.inner.metadata(path)
///     }
/// }
///
/// // Used through the trait object, as the `DiskManager` uses it.
/// let memory = Arc::new(MemoryFileSystem::new());
/// let xor = XorFileSystem { inner: Arc::clone(&memory), key: *b"bitswarm" };
/// let fs: Arc<dyn FileSystem> = Arc::new(xor);
///
/// let path = Path::new("movie/part1.mkv");
/// fs.open(path, 16)?;
/// assert_eq!(fs.write_at(path, 3, b"hello, swarm")?, 12);
///
/// let mut buf = [0u8; 5];
/// assert_eq!(fs.read_at(path, 10, &mut buf)?, 5);
/// assert_eq!(&buf, b"swarm");
///
/// // What is stored is not the plain text...
/// let stored = memory.contents(path).unwrap();
/// assert_ne!(&stored[3..15], b"hello, swarm");
/// // ...and errors keep their kind through the wrapper.
/// let err = fs.read_at(Path::new("missing"), 0, &mut buf).unwrap_err();
/// assert_eq!(err.kind(), io::ErrorKind::NotFound);
/// let err = fs.open(Path::new("../outside"), 1).unwrap_err();
/// assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
/// # Ok::<(), io::Error>(())
/// ```
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

/// A shared file system is a file system: an `Arc<MemoryFileSystem>` can be
/// wrapped (say by a [`FaultyFileSystem`] or one's own wrapper) while a
/// test keeps its own `Arc` to look at the contents.
impl<T: FileSystem + ?Sized> FileSystem for std::sync::Arc<T> {
    fn open(&self, path: &Path, length: u64) -> io::Result<()> {
        (**self).open(path, length)
    }

    fn read_at(&self, path: &Path, offset: u64, buf: &mut [u8]) -> io::Result<usize> {
        (**self).read_at(path, offset, buf)
    }

    fn write_at(&self, path: &Path, offset: u64, data: &[u8]) -> io::Result<usize> {
        (**self).write_at(path, offset, data)
    }

    fn sync(&self, path: &Path) -> io::Result<()> {
        (**self).sync(path)
    }

    fn set_len(&self, path: &Path, length: u64) -> io::Result<()> {
        (**self).set_len(path, length)
    }

    fn remove(&self, path: &Path) -> io::Result<()> {
        (**self).remove(path)
    }

    fn metadata(&self, path: &Path) -> io::Result<Option<FileMetadata>> {
        (**self).metadata(path)
    }
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
