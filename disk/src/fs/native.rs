//! Files on the local disk, below one root directory.

use std::collections::{BTreeMap, HashMap};
use std::fs::{File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use super::{FileMetadata, FileSystem, check_relative};

/// How many file handles a [`NativeFileSystem`] keeps open by default.
const DEFAULT_MAX_OPEN_FILES: usize = 256;

/// A torrent's files on the local file system, below one root directory.
///
/// - **Paths** are relative and made only of plain components (metainfo's
///   sanitised layout); each is joined under the root, so no path given to
///   this type reaches outside it. Anything else (an absolute path, `..`,
///   `.`, an empty path) is `io::ErrorKind::InvalidInput`. What is already
///   inside the root (for example a symbolic link the user put there) is
///   trusted and followed.
/// - **Positional I/O**: `pread`/`pwrite` on unix, `seek_read`/`seek_write`
///   on Windows; there is no shared cursor, so many reads and writes may be
///   in flight on one file at once.
/// - **Open handles** are kept in a least-recently-used cache of at most
///   [`max_open_files`](Self::max_open_files) entries, so a torrent of ten
///   thousand files does not run out of file descriptors. The cache's lock
///   is held only to look a handle up or put one in, never during I/O.
/// - **Sparse files**: [`open`](FileSystem::open) creates missing
///   directories and the file, and extends the file with `set_len` only when
///   it is shorter, which allocates no blocks on file systems that support
///   sparse files.
/// - [`remove`](FileSystem::remove) also removes the directories it leaves
///   empty, up to (not including) the root.
///
/// ```
/// use std::path::Path;
/// use bitswarm_disk::{FileSystem, NativeFileSystem};
///
/// let dir = tempfile::tempdir()?;
/// let fs = NativeFileSystem::new(dir.path());
/// let path = Path::new("Some Album/01 - Intro.flac");
/// fs.open(path, 1 << 20)?; // 1 MiB, sparse
/// fs.write_at(path, 4096, b"fLaC")?;
/// fs.sync(path)?;
///
/// let mut buf = [0u8; 4];
/// assert_eq!(fs.read_at(path, 4096, &mut buf)?, 4);
/// assert_eq!(&buf, b"fLaC");
/// assert!(dir.path().join("Some Album").is_dir());
/// assert!(fs.open(Path::new("../escape"), 1).is_err());
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug)]
pub struct NativeFileSystem {
    root: PathBuf,
    handles: Mutex<HandleCache>,
}

impl NativeFileSystem {
    /// Files below `root`, with at most 256 handles open at once. Nothing is
    /// created until the first [`open`](FileSystem::open).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self::with_max_open_files(root, DEFAULT_MAX_OPEN_FILES)
    }

    /// Files below `root`, with at most `max_open_files` handles open at
    /// once (0 is taken as 1).
    pub fn with_max_open_files(root: impl Into<PathBuf>, max_open_files: usize) -> Self {
        Self {
            root: root.into(),
            handles: Mutex::new(HandleCache::new(max_open_files.max(1))),
        }
    }

    /// The directory every path is joined under.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The most handles kept open at once.
    pub fn max_open_files(&self) -> usize {
        self.cache().max
    }

    /// How many handles are open in the cache now.
    pub fn open_files(&self) -> usize {
        self.cache().entries.len()
    }

    /// `path` checked and joined under the root.
    fn full_path(&self, path: &Path) -> io::Result<PathBuf> {
        check_relative(path)?;
        Ok(self.root.join(path))
    }

    fn cache(&self) -> MutexGuard<'_, HandleCache> {
        // The cache holds no invariant a panic elsewhere could break
        // half-way, so a poisoned lock is still usable.
        self.handles
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A handle to the existing file at `full` (opened read and write when
    /// `writable`, else read and write if permitted, read-only otherwise).
    fn handle(&self, full: &Path, writable: bool) -> io::Result<Arc<File>> {
        let cached = self.cache().get(full, writable);
        if let Some(file) = cached {
            return Ok(file);
        }
        let (file, opened_writable) = match OpenOptions::new().read(true).write(true).open(full) {
            Ok(file) => (file, true),
            Err(e) if !writable && e.kind() == io::ErrorKind::PermissionDenied => {
                (OpenOptions::new().read(true).open(full)?, false)
            }
            Err(e) => return Err(e),
        };
        Ok(self
            .cache()
            .insert(full.to_path_buf(), Arc::new(file), opened_writable))
    }
}

impl FileSystem for NativeFileSystem {
    fn open(&self, path: &Path, length: u64) -> io::Result<()> {
        let full = self.full_path(path)?;
        // Bound first, so that the cache's lock is released before `None`
        // locks it again.
        let cached = self.cache().get(&full, true);
        let file = match cached {
            Some(file) => file,
            None => {
                if let Some(parent) = full.parent() {
                    std::fs::create_dir_all(parent)?;
                }
                let file = OpenOptions::new()
                    .read(true)
                    .write(true)
                    .create(true)
                    .truncate(false)
                    .open(&full)?;
                self.cache().insert(full, Arc::new(file), true)
            }
        };
        if file.metadata()?.len() < length {
            file.set_len(length)?;
        }
        Ok(())
    }

    fn read_at(&self, path: &Path, offset: u64, buf: &mut [u8]) -> io::Result<usize> {
        let full = self.full_path(path)?;
        let file = self.handle(&full, false)?;
        let mut done = 0;
        while done < buf.len() {
            let Some(at) = offset.checked_add(done as u64) else {
                break;
            };
            match positional::read_at(&file, &mut buf[done..], at) {
                Ok(0) => break,
                Ok(n) => done += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(done)
    }

    fn write_at(&self, path: &Path, offset: u64, data: &[u8]) -> io::Result<usize> {
        let full = self.full_path(path)?;
        if offset.checked_add(data.len() as u64).is_none() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "write past u64::MAX",
            ));
        }
        let file = self.handle(&full, true)?;
        loop {
            match positional::write_at(&file, data, offset) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                result => return result,
            }
        }
    }

    fn sync(&self, path: &Path) -> io::Result<()> {
        let full = self.full_path(path)?;
        self.handle(&full, true)?.sync_data()
    }

    fn set_len(&self, path: &Path, length: u64) -> io::Result<()> {
        let full = self.full_path(path)?;
        self.handle(&full, true)?.set_len(length)
    }

    fn remove(&self, path: &Path) -> io::Result<()> {
        let full = self.full_path(path)?;
        // Close our handle first (Windows refuses to delete an open file).
        drop(self.cache().remove(&full));
        match std::fs::remove_file(&full) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e),
        }
        // Remove the directories this left empty, up to the root. A
        // directory that is not empty (or cannot be removed) ends the walk.
        let mut dir = full.parent();
        while let Some(d) = dir {
            if d == self.root || !d.starts_with(&self.root) || std::fs::remove_dir(d).is_err() {
                break;
            }
            dir = d.parent();
        }
        Ok(())
    }

    fn metadata(&self, path: &Path) -> io::Result<Option<FileMetadata>> {
        let full = self.full_path(path)?;
        let meta = match std::fs::metadata(&full) {
            Ok(meta) => meta,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        if meta.is_dir() {
            return Err(io::Error::new(
                io::ErrorKind::IsADirectory,
                format!("a directory, not a file: {}", path.display()),
            ));
        }
        Ok(Some(FileMetadata {
            length: meta.len(),
            modified: meta.modified().ok(),
        }))
    }
}

/// A bounded least-recently-used cache of open handles.
#[derive(Debug)]
struct HandleCache {
    max: usize,
    /// Incremented on every use; the entry with the smallest tick is evicted.
    tick: u64,
    entries: HashMap<PathBuf, CachedHandle>,
    /// Last-use tick to path, oldest first.
    order: BTreeMap<u64, PathBuf>,
}

#[derive(Debug)]
struct CachedHandle {
    file: Arc<File>,
    writable: bool,
    tick: u64,
}

impl HandleCache {
    fn new(max: usize) -> Self {
        Self {
            max,
            tick: 0,
            entries: HashMap::new(),
            order: BTreeMap::new(),
        }
    }

    /// The cached handle for `path` (if `writable`, only a writable one),
    /// marked as just used.
    fn get(&mut self, path: &Path, writable: bool) -> Option<Arc<File>> {
        self.tick += 1;
        let tick = self.tick;
        let entry = self.entries.get_mut(path)?;
        if writable && !entry.writable {
            return None;
        }
        if let Some(p) = self.order.remove(&entry.tick) {
            self.order.insert(tick, p);
        }
        entry.tick = tick;
        Some(Arc::clone(&entry.file))
    }

    /// Puts `file` in the cache (replacing any handle for `path`), closing
    /// the least recently used handles beyond the bound; returns `file`.
    fn insert(&mut self, path: PathBuf, file: Arc<File>, writable: bool) -> Arc<File> {
        self.tick += 1;
        let tick = self.tick;
        drop(self.remove(&path));
        self.order.insert(tick, path.clone());
        self.entries.insert(
            path,
            CachedHandle {
                file: Arc::clone(&file),
                writable,
                tick,
            },
        );
        while self.entries.len() > self.max {
            let Some((_, oldest)) = self.order.pop_first() else {
                break;
            };
            // A handle still in use elsewhere closes when that use ends.
            self.entries.remove(&oldest);
        }
        file
    }

    fn remove(&mut self, path: &Path) -> Option<Arc<File>> {
        let entry = self.entries.remove(path)?;
        self.order.remove(&entry.tick);
        Some(entry.file)
    }
}

/// Positional reads and writes, which leave no shared cursor behind.
mod positional {
    use std::fs::File;
    use std::io;

    #[cfg(unix)]
    pub(super) fn read_at(file: &File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        std::os::unix::fs::FileExt::read_at(file, buf, offset)
    }

    #[cfg(unix)]
    pub(super) fn write_at(file: &File, data: &[u8], offset: u64) -> io::Result<usize> {
        std::os::unix::fs::FileExt::write_at(file, data, offset)
    }

    // `seek_read`/`seek_write` move the handle's cursor, but every call
    // here names its offset, so the cursor is never relied on.
    #[cfg(windows)]
    pub(super) fn read_at(file: &File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        std::os::windows::fs::FileExt::seek_read(file, buf, offset)
    }

    #[cfg(windows)]
    pub(super) fn write_at(file: &File, data: &[u8], offset: u64) -> io::Result<usize> {
        std::os::windows::fs::FileExt::seek_write(file, data, offset)
    }

    #[cfg(not(any(unix, windows)))]
    pub(super) fn read_at(_: &File, _: &mut [u8], _: u64) -> io::Result<usize> {
        Err(io::ErrorKind::Unsupported.into())
    }

    #[cfg(not(any(unix, windows)))]
    pub(super) fn write_at(_: &File, _: &[u8], _: u64) -> io::Result<usize> {
        Err(io::ErrorKind::Unsupported.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_evicts_least_recently_used() -> io::Result<()> {
        let dir = tempfile::tempdir()?;
        let fs = NativeFileSystem::with_max_open_files(dir.path(), 2);
        for name in ["a", "b", "c"] {
            fs.open(Path::new(name), 1)?;
        }
        assert_eq!(fs.open_files(), 2);
        let cache = fs.cache();
        assert!(!cache.entries.contains_key(&dir.path().join("a")));
        assert_eq!(cache.order.len(), 2);
        drop(cache);
        // Using "b" makes "c" the oldest.
        let mut buf = [0u8; 1];
        fs.read_at(Path::new("b"), 0, &mut buf)?;
        fs.open(Path::new("d"), 1)?;
        let cache = fs.cache();
        assert!(cache.entries.contains_key(&dir.path().join("b")));
        assert!(!cache.entries.contains_key(&dir.path().join("c")));
        Ok(())
    }

    #[test]
    fn zero_max_is_one() {
        let fs = NativeFileSystem::with_max_open_files("/nonexistent", 0);
        assert_eq!(fs.max_open_files(), 1);
    }
}
