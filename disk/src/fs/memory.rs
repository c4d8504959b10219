//! Files held in memory.

use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::SystemTime;

use super::{FileMetadata, FileSystem, check_relative};

/// One file's bytes and when they last changed.
#[derive(Debug)]
struct MemFile {
    data: Vec<u8>,
    modified: SystemTime,
}

/// Files held in memory, for tests and benchmarks.
///
/// Every file lives in one `Vec<u8>` behind a mutex, so memory use is the
/// sum of the files' lengths ([`MemoryFileSystem::total_bytes`]): `open`
/// with a length allocates (zero-filled) that many bytes, unlike a sparse
/// file on disk. That sum is bounded, 4 GiB by default
/// ([`with_max_bytes`](Self::with_max_bytes) to change it): a call that
/// would go over it fails with `io::ErrorKind::StorageFull` and changes
/// nothing, like a full disk. Paths follow the same rule as on disk:
/// relative, only plain components, else `io::ErrorKind::InvalidInput`.
///
/// - `open` creates the file or grows it to `length`, zero-filled;
/// - `read_at` past the end returns the bytes there are (0 at or after the end);
/// - `write_at` grows the file when it writes past the end (an empty write
///   changes nothing, as `pwrite` of no bytes does);
/// - `read_at`, `write_at`, `sync` and `set_len` on a missing file are
///   `io::ErrorKind::NotFound`; `remove` of a missing file is `Ok`.
///
/// ```
/// use std::path::Path;
/// use bitswarm_disk::{FileSystem, MemoryFileSystem};
///
/// let fs = MemoryFileSystem::new();
/// let path = Path::new("album/track01.flac");
/// fs.open(path, 8)?;
/// assert_eq!(fs.write_at(path, 2, b"abc")?, 3);
/// assert_eq!(fs.contents(path).as_deref(), Some(&b"\0\0abc\0\0\0"[..]));
///
/// let mut buf = [0u8; 16];
/// assert_eq!(fs.read_at(path, 4, &mut buf)?, 4); // only 4 bytes left
/// assert_eq!(fs.total_bytes(), 8);
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug)]
pub struct MemoryFileSystem {
    max_bytes: u64,
    state: Mutex<State>,
}

/// The files, and the sum of their lengths.
#[derive(Debug, Default)]
struct State {
    files: HashMap<PathBuf, MemFile>,
    used: u64,
}

impl State {
    /// Resizes `file` to `length` if the total stays within `max_bytes`.
    fn resize(&mut self, key: &Path, length: usize, max_bytes: u64) -> io::Result<()> {
        let file = self.files.get_mut(key).ok_or_else(|| not_found(key))?;
        let old = file.data.len() as u64;
        let used = self.used - old + length as u64;
        if length as u64 > old && used > max_bytes {
            return Err(io::Error::new(
                io::ErrorKind::StorageFull,
                format!("{used} bytes would exceed the {max_bytes} bytes this memory holds"),
            ));
        }
        resize(&mut file.data, length)?;
        file.data.shrink_to(length);
        file.modified = SystemTime::now();
        self.used = used;
        Ok(())
    }
}

impl Default for MemoryFileSystem {
    fn default() -> Self {
        Self::new()
    }
}

/// How many bytes a [`MemoryFileSystem`] holds at most by default.
const DEFAULT_MAX_BYTES: u64 = 4 << 30;

impl MemoryFileSystem {
    /// An empty file system holding at most 4 GiB.
    pub fn new() -> Self {
        Self::with_max_bytes(DEFAULT_MAX_BYTES)
    }

    /// An empty file system holding at most `max_bytes` (the sum of the
    /// files' lengths); more is `io::ErrorKind::StorageFull`.
    pub fn with_max_bytes(max_bytes: u64) -> Self {
        Self {
            max_bytes,
            state: Mutex::new(State::default()),
        }
    }

    /// A copy of the bytes of `path`, or `None` when it does not exist (or
    /// the path is not a valid relative path).
    pub fn contents(&self, path: &Path) -> Option<Vec<u8>> {
        let key = key(path).ok()?;
        self.lock().files.get(&key).map(|file| file.data.clone())
    }

    /// The paths of the files held, sorted.
    pub fn paths(&self) -> Vec<PathBuf> {
        let mut paths: Vec<PathBuf> = self.lock().files.keys().cloned().collect();
        paths.sort();
        paths
    }

    /// The sum of the lengths of all files held.
    pub fn total_bytes(&self) -> u64 {
        self.lock().used
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave a file half-updated in
        // a way that breaks an invariant here, so a poisoned lock is usable.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// The map key for `path`: checked, and rebuilt from its components so that
/// `a//b` and `a/b` name the same file.
fn key(path: &Path) -> io::Result<PathBuf> {
    check_relative(path)?;
    Ok(path.components().collect())
}

fn not_found(path: &Path) -> io::Error {
    io::Error::new(
        io::ErrorKind::NotFound,
        format!("no such file: {}", path.display()),
    )
}

/// `length` as an in-memory size, or `OutOfMemory` when it cannot be one.
fn mem_len(length: u64) -> io::Result<usize> {
    usize::try_from(length).map_err(|_| {
        io::Error::new(
            io::ErrorKind::OutOfMemory,
            format!("{length} bytes do not fit in memory"),
        )
    })
}

/// Resizes `data` to `length`, zero-filling, reporting an allocation failure
/// as `OutOfMemory` instead of aborting.
fn resize(data: &mut Vec<u8>, length: usize) -> io::Result<()> {
    if length > data.len() {
        data.try_reserve_exact(length - data.len()).map_err(|e| {
            io::Error::new(
                io::ErrorKind::OutOfMemory,
                format!("cannot grow a file to {length} bytes: {e}"),
            )
        })?;
    }
    data.resize(length, 0);
    Ok(())
}

impl FileSystem for MemoryFileSystem {
    fn open(&self, path: &Path, length: u64) -> io::Result<()> {
        let key = key(path)?;
        let length = mem_len(length)?;
        let mut state = self.lock();
        let created = !state.files.contains_key(&key);
        if created {
            state.files.insert(
                key.clone(),
                MemFile {
                    data: Vec::new(),
                    modified: SystemTime::now(),
                },
            );
        }
        let current = state.files.get(&key).map_or(0, |file| file.data.len());
        if current < length {
            if let Err(e) = state.resize(&key, length, self.max_bytes) {
                if created {
                    state.files.remove(&key);
                }
                return Err(e);
            }
        }
        Ok(())
    }

    fn read_at(&self, path: &Path, offset: u64, buf: &mut [u8]) -> io::Result<usize> {
        let key = key(path)?;
        let state = self.lock();
        let file = state.files.get(&key).ok_or_else(|| not_found(path))?;
        let Ok(start) = usize::try_from(offset) else {
            return Ok(0);
        };
        let Some(rest) = file.data.get(start..) else {
            return Ok(0);
        };
        let n = rest.len().min(buf.len());
        buf[..n].copy_from_slice(&rest[..n]);
        Ok(n)
    }

    fn write_at(&self, path: &Path, offset: u64, data: &[u8]) -> io::Result<usize> {
        let key = key(path)?;
        let end = offset
            .checked_add(data.len() as u64)
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "write past u64::MAX"))?;
        let mut state = self.lock();
        let current = state
            .files
            .get(&key)
            .ok_or_else(|| not_found(path))?
            .data
            .len();
        if data.is_empty() {
            return Ok(0);
        }
        let end = mem_len(end)?;
        if current < end {
            state.resize(&key, end, self.max_bytes)?;
        }
        let file = state.files.get_mut(&key).ok_or_else(|| not_found(path))?;
        file.data[end - data.len()..end].copy_from_slice(data);
        file.modified = SystemTime::now();
        Ok(data.len())
    }

    fn sync(&self, path: &Path) -> io::Result<()> {
        let key = key(path)?;
        if self.lock().files.contains_key(&key) {
            Ok(())
        } else {
            Err(not_found(path))
        }
    }

    fn set_len(&self, path: &Path, length: u64) -> io::Result<()> {
        let key = key(path)?;
        let length = mem_len(length)?;
        self.lock().resize(&key, length, self.max_bytes)
    }

    fn remove(&self, path: &Path) -> io::Result<()> {
        let key = key(path)?;
        let mut state = self.lock();
        if let Some(file) = state.files.remove(&key) {
            state.used -= file.data.len() as u64;
        }
        Ok(())
    }

    fn metadata(&self, path: &Path) -> io::Result<Option<FileMetadata>> {
        let key = key(path)?;
        Ok(self.lock().files.get(&key).map(|file| FileMetadata {
            length: file.data.len() as u64,
            modified: Some(file.modified),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_total() -> io::Result<()> {
        let fs = MemoryFileSystem::with_max_bytes(100);
        fs.open(Path::new("a"), 60)?;
        let full = |r: io::Result<usize>| r.map_err(|e| e.kind());
        assert_eq!(
            fs.open(Path::new("b"), 41).map_err(|e| e.kind()),
            Err(io::ErrorKind::StorageFull)
        );
        assert_eq!(
            fs.metadata(Path::new("b"))?,
            None,
            "a failed open creates nothing"
        );
        fs.open(Path::new("b"), 40)?;
        assert_eq!(
            full(fs.write_at(Path::new("b"), 40, b"x")),
            Err(io::ErrorKind::StorageFull)
        );
        assert_eq!(fs.write_at(Path::new("b"), 39, b"x")?, 1);
        fs.set_len(Path::new("a"), 10)?;
        assert_eq!(fs.total_bytes(), 50);
        fs.remove(Path::new("b"))?;
        assert_eq!(fs.total_bytes(), 10);
        assert_eq!(
            fs.write_at(Path::new("a"), 5000, b"")?,
            0,
            "an empty write changes nothing"
        );
        assert_eq!(fs.total_bytes(), 10);
        Ok(())
    }

    #[test]
    fn open_read_write_grow() -> io::Result<()> {
        let fs = MemoryFileSystem::new();
        let p = Path::new("a/b");
        fs.open(p, 4)?;
        assert_eq!(fs.write_at(p, 6, b"xy")?, 2);
        assert_eq!(fs.contents(p), Some(b"\0\0\0\0\0\0xy".to_vec()));
        let mut buf = [0u8; 4];
        assert_eq!(fs.read_at(p, 8, &mut buf)?, 0);
        assert_eq!(fs.read_at(p, u64::MAX, &mut buf)?, 0);
        assert_eq!(fs.read_at(p, 7, &mut buf)?, 1);
        fs.open(p, 2)?; // never shrinks
        assert_eq!(fs.total_bytes(), 8);
        assert_eq!(fs.contents(Path::new("a//b")).map(|d| d.len()), Some(8));
        Ok(())
    }

    #[test]
    fn huge_lengths_are_errors_not_aborts() {
        let fs = MemoryFileSystem::with_max_bytes(u64::MAX);
        let p = Path::new("big");
        assert!(fs.open(p, u64::MAX).is_err());
        assert!(fs.open(p, 0).is_ok());
        assert_eq!(
            fs.write_at(p, u64::MAX, b"x").map_err(|e| e.kind()),
            Err(io::ErrorKind::InvalidInput)
        );
    }
}
