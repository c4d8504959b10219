//! A wrapper that injects faults, for testing how storage errors are handled.

use std::io;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use super::{FileMetadata, FileSystem, check_relative};

/// The most faults a [`FaultyFileSystem`] holds at once; adding one more
/// drops the oldest.
const MAX_FAULTS: usize = 64;

/// A fault for [`FaultyFileSystem`] to inject.
///
/// A `path` of `None` matches every file; `Some(path)` matches that file
/// (compared component by component, so `a//b` is `a/b`). An `offsets`
/// range matches a read or write whose bytes `[offset, offset + len)`
/// overlap it (an empty read or write overlaps nothing); `0..u64::MAX`
/// matches them all.
///
/// Faults stay until [`FaultyFileSystem::clear`]; each call checks every
/// fault, so several may apply to one call (say `Latency` and
/// `ShortWrite`). The errors are real operating-system errors where the
/// platform has them (`ENOSPC`, `EIO` on unix), so they look exactly like
/// what a full or failing disk gives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// The disk is full after `after_bytes` more bytes are written through
    /// the wrapper, counted from when this fault is added. A write that
    /// crosses the budget is cut short at it (as a real disk does); once it
    /// is spent, every write fails with `ENOSPC` (raw OS error 28 on unix),
    /// whose kind is `io::ErrorKind::StorageFull`. `after_bytes: 0` means
    /// full now. Other calls are not affected.
    NoSpace {
        /// How many bytes may still be written.
        after_bytes: u64,
    },
    /// Reads of `path` that touch `offsets` fail with `EIO` (raw OS error 5
    /// on unix).
    ReadError {
        /// The file, or `None` for every file.
        path: Option<PathBuf>,
        /// The bytes whose reading fails.
        offsets: Range<u64>,
    },
    /// Writes to `path` that touch `offsets` fail with `EIO`, writing nothing.
    WriteError {
        /// The file, or `None` for every file.
        path: Option<PathBuf>,
        /// The bytes whose writing fails.
        offsets: Range<u64>,
    },
    /// `open` of `path` fails with `EIO`.
    OpenError {
        /// The file, or `None` for every file.
        path: Option<PathBuf>,
    },
    /// `sync` of `path` fails with `EIO`.
    SyncError {
        /// The file, or `None` for every file.
        path: Option<PathBuf>,
    },
    /// Each write writes at most `max` bytes (and returns that count): a
    /// short write, as a signal or a full pipe gives. `max: 0` makes every
    /// non-empty write return `Ok(0)`.
    ShortWrite {
        /// The most bytes one call writes.
        max: usize,
    },
    /// Every call sleeps this long first (on the calling thread, which is a
    /// blocking-pool thread under the `DiskManager`).
    Latency(Duration),
    /// Bytes read from `path` in `offsets` come back with all their bits
    /// flipped (`!byte`), as a rotting disk gives; the stored bytes are
    /// untouched. Bytes outside the range are returned as stored.
    CorruptRead {
        /// The file.
        path: PathBuf,
        /// The bytes to corrupt.
        offsets: Range<u64>,
    },
}

/// Wraps a file system and injects [`Fault`]s, for tests of what happens
/// when storage fails.
///
/// With no fault added it passes every call through unchanged. Faults can
/// be added and cleared at any time, from any thread, while the wrapper is
/// in use (say, by a `DiskManager` that holds it as `Arc<dyn FileSystem>`).
/// The path rule of the crate's file systems holds here too: a path that is
/// not relative, or has `..` or `.` in it, is `io::ErrorKind::InvalidInput`
/// before any fault is considered.
///
/// ```
/// use std::io::ErrorKind;
/// use std::path::Path;
/// use std::sync::Arc;
/// use bitswarm_disk::{Fault, FaultyFileSystem, FileSystem, MemoryFileSystem};
///
/// let memory = Arc::new(MemoryFileSystem::new());
/// let fs = FaultyFileSystem::new(memory.clone());
/// let path = Path::new("file.bin");
/// fs.open(path, 64)?;
///
/// // Room for 10 more bytes, then the disk is full.
/// fs.add(Fault::NoSpace { after_bytes: 10 });
/// assert_eq!(fs.write_at(path, 0, &[1; 8])?, 8);
/// assert_eq!(fs.write_at(path, 8, &[2; 8])?, 2); // cut short at the budget
/// let full = fs.write_at(path, 10, &[3; 8]).unwrap_err();
/// assert_eq!(full.kind(), ErrorKind::StorageFull);
/// assert_eq!(fs.triggered(), 2);
///
/// // Bytes 4..6 read back corrupted; the stored bytes are intact.
/// fs.clear();
/// fs.add(Fault::CorruptRead { path: path.into(), offsets: 4..6 });
/// let mut buf = [0u8; 8];
/// fs.read_at(path, 0, &mut buf)?;
/// assert_eq!(buf, [1, 1, 1, 1, !1, !1, 1, 1]);
/// assert_eq!(memory.contents(path).unwrap()[..8], [1; 8]);
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug)]
pub struct FaultyFileSystem {
    inner: Arc<dyn FileSystem>,
    rules: Mutex<Vec<Rule>>,
    triggered: AtomicU64,
}

/// A fault and its state.
#[derive(Debug)]
struct Rule {
    fault: Fault,
    /// For `NoSpace`: the bytes that may still be written.
    budget: u64,
}

/// The call being made, for matching faults against it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Call {
    Open,
    Read,
    Write,
    Sync,
    Other,
}

impl FaultyFileSystem {
    /// Wraps `inner`, with no fault yet.
    pub fn new(inner: Arc<dyn FileSystem>) -> Self {
        Self {
            inner,
            rules: Mutex::new(Vec::new()),
            triggered: AtomicU64::new(0),
        }
    }

    /// The wrapped file system.
    pub fn inner(&self) -> &Arc<dyn FileSystem> {
        &self.inner
    }

    /// Adds `fault`; it applies to every call from now until
    /// [`clear`](Self::clear). At most 64 faults are held: adding one more
    /// drops the oldest.
    pub fn add(&self, fault: Fault) {
        let budget = match fault {
            Fault::NoSpace { after_bytes } => after_bytes,
            _ => 0,
        };
        let mut rules = self.rules();
        if rules.len() >= MAX_FAULTS {
            rules.remove(0);
        }
        rules.push(Rule { fault, budget });
    }

    /// Removes every fault; calls pass through unchanged again. The
    /// [`triggered`](Self::triggered) count is kept.
    pub fn clear(&self) {
        self.rules().clear();
    }

    /// The faults in force, oldest first (a `NoSpace` shows its remaining
    /// budget as `after_bytes`).
    pub fn faults(&self) -> Vec<Fault> {
        self.rules()
            .iter()
            .map(|rule| match rule.fault {
                Fault::NoSpace { .. } => Fault::NoSpace {
                    after_bytes: rule.budget,
                },
                ref fault => fault.clone(),
            })
            .collect()
    }

    /// How many times a fault fired: an error returned (once per error
    /// fault matching the call), a write cut short (once per call, whether
    /// by `NoSpace` or `ShortWrite`), a read with corrupted bytes (once per
    /// `CorruptRead` that touched it), or a sleep (once per `Latency`).
    pub fn triggered(&self) -> u64 {
        self.triggered.load(Ordering::Relaxed)
    }

    fn rules(&self) -> MutexGuard<'_, Vec<Rule>> {
        // Rules are replaced whole, so a poisoned lock holds no torn state.
        self.rules
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn fire(&self) {
        self.triggered.fetch_add(1, Ordering::Relaxed);
    }

    /// Sleeps for the `Latency` faults, then fails with `EIO` if an error
    /// fault matches `call` on `path` over `range`.
    fn before(&self, call: Call, path: &Path, range: Range<u64>) -> io::Result<()> {
        check_relative(path)?;
        let mut sleep = Duration::ZERO;
        let mut fails = false;
        {
            let rules = self.rules();
            for rule in rules.iter() {
                let fires = match &rule.fault {
                    Fault::Latency(delay) => {
                        sleep = sleep.saturating_add(*delay);
                        true
                    }
                    Fault::ReadError { path: p, offsets } => {
                        call == Call::Read
                            && matches(p.as_deref(), path)
                            && overlaps(offsets, &range)
                    }
                    Fault::WriteError { path: p, offsets } => {
                        call == Call::Write
                            && matches(p.as_deref(), path)
                            && overlaps(offsets, &range)
                    }
                    Fault::OpenError { path: p } => {
                        call == Call::Open && matches(p.as_deref(), path)
                    }
                    Fault::SyncError { path: p } => {
                        call == Call::Sync && matches(p.as_deref(), path)
                    }
                    Fault::NoSpace { .. }
                    | Fault::ShortWrite { .. }
                    | Fault::CorruptRead { .. } => false,
                };
                if fires {
                    self.fire();
                    fails |= !matches!(rule.fault, Fault::Latency(_));
                }
            }
        }
        if !sleep.is_zero() {
            std::thread::sleep(sleep);
        }
        if fails { Err(eio()) } else { Ok(()) }
    }
}

/// Whether a fault's `pattern` path matches `path`.
fn matches(pattern: Option<&Path>, path: &Path) -> bool {
    pattern.is_none_or(|p| p == path)
}

/// Whether the two ranges share a byte.
fn overlaps(a: &Range<u64>, b: &Range<u64>) -> bool {
    a.start < b.end && b.start < a.end && !a.is_empty() && !b.is_empty()
}

/// The bytes `[offset, offset + len)`, clamped at `u64::MAX`.
fn span(offset: u64, len: usize) -> Range<u64> {
    offset..offset.saturating_add(len as u64)
}

#[cfg(unix)]
fn eio() -> io::Error {
    io::Error::from_raw_os_error(5)
}

#[cfg(not(unix))]
fn eio() -> io::Error {
    io::Error::other("input/output error (injected)")
}

#[cfg(unix)]
fn enospc() -> io::Error {
    io::Error::from_raw_os_error(28)
}

#[cfg(not(unix))]
fn enospc() -> io::Error {
    io::Error::new(
        io::ErrorKind::StorageFull,
        "no space left on device (injected)",
    )
}

impl FileSystem for FaultyFileSystem {
    fn open(&self, path: &Path, length: u64) -> io::Result<()> {
        self.before(Call::Open, path, 0..length)?;
        self.inner.open(path, length)
    }

    fn read_at(&self, path: &Path, offset: u64, buf: &mut [u8]) -> io::Result<usize> {
        self.before(Call::Read, path, span(offset, buf.len()))?;
        let n = self.inner.read_at(path, offset, buf)?;
        let read = span(offset, n.min(buf.len()));
        let mut corrupted = 0u64;
        for rule in self.rules().iter() {
            let Fault::CorruptRead { path: p, offsets } = &rule.fault else {
                continue;
            };
            if p != path || !overlaps(offsets, &read) {
                continue;
            }
            let start = offsets.start.max(read.start) - read.start;
            let end = offsets.end.min(read.end) - read.start;
            // Both are at most `n`, which is a `usize`.
            let (Ok(start), Ok(end)) = (usize::try_from(start), usize::try_from(end)) else {
                continue;
            };
            for byte in &mut buf[start..end] {
                *byte = !*byte;
            }
            corrupted += 1;
        }
        for _ in 0..corrupted {
            self.fire();
        }
        Ok(n)
    }

    fn write_at(&self, path: &Path, offset: u64, data: &[u8]) -> io::Result<usize> {
        self.before(Call::Write, path, span(offset, data.len()))?;
        let mut allowed = data.len();
        {
            let rules = self.rules();
            let mut full = false;
            for rule in rules.iter() {
                match rule.fault {
                    Fault::NoSpace { .. } if !data.is_empty() => {
                        if rule.budget == 0 {
                            full = true;
                        } else if (rule.budget as u128) < allowed as u128 {
                            // Fits in usize: it is less than `allowed`.
                            allowed = usize::try_from(rule.budget).unwrap_or(allowed);
                        }
                    }
                    Fault::ShortWrite { max } if max < allowed => allowed = max,
                    _ => {}
                }
            }
            if full {
                self.fire();
                return Err(enospc());
            }
        }
        if allowed < data.len() {
            self.fire();
        }
        let written = self.inner.write_at(path, offset, &data[..allowed])?;
        for rule in self.rules().iter_mut() {
            if matches!(rule.fault, Fault::NoSpace { .. }) {
                rule.budget = rule.budget.saturating_sub(written as u64);
            }
        }
        Ok(written)
    }

    fn sync(&self, path: &Path) -> io::Result<()> {
        self.before(Call::Sync, path, 0..0)?;
        self.inner.sync(path)
    }

    fn set_len(&self, path: &Path, length: u64) -> io::Result<()> {
        self.before(Call::Other, path, 0..0)?;
        self.inner.set_len(path, length)
    }

    fn remove(&self, path: &Path) -> io::Result<()> {
        self.before(Call::Other, path, 0..0)?;
        self.inner.remove(path)
    }

    fn metadata(&self, path: &Path) -> io::Result<Option<FileMetadata>> {
        self.before(Call::Other, path, 0..0)?;
        self.inner.metadata(path)
    }
}
