//! The storage seam: every `FileSystem` of the crate against one contract,
//! the native one's own promises (root, sparse files, handle bound,
//! concurrency, directories), a model check of native against memory, and
//! each injected fault.

use std::io::{self, ErrorKind};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bitswarm_disk::{Fault, FaultyFileSystem, FileSystem, MemoryFileSystem, NativeFileSystem};
use proptest::prelude::*;

type TestResult = Result<(), Box<dyn std::error::Error>>;

/// Paths every file system must refuse with `InvalidInput`.
fn bad_paths() -> Vec<PathBuf> {
    let mut paths: Vec<PathBuf> = [
        "",
        ".",
        "..",
        "../x",
        "a/../../x",
        "a/..",
        "./a",
        "a/./b",
        "/etc/passwd",
        "/",
    ]
    .iter()
    .map(PathBuf::from)
    .collect();
    if cfg!(windows) {
        paths.push(PathBuf::from(r"C:\Windows\x"));
        paths.push(PathBuf::from(r"\\server\share\x"));
    }
    paths
}

/// Every operation on a fresh file system, with the outcomes the trait
/// promises.
fn contract(fs: &dyn FileSystem) -> TestResult {
    let path = Path::new("dir/sub/file.bin");
    let missing = Path::new("dir/missing.bin");
    let mut buf = [0u8; 8];

    // Missing files.
    assert_eq!(fs.metadata(path)?, None);
    for (op, result) in [
        ("read", fs.read_at(missing, 0, &mut buf).map(drop)),
        ("write", fs.write_at(missing, 0, b"x").map(drop)),
        ("sync", fs.sync(missing)),
        ("set_len", fs.set_len(missing, 4)),
    ] {
        assert_eq!(
            result.map_err(|e| e.kind()),
            Err(ErrorKind::NotFound),
            "{op} of a missing file"
        );
    }
    fs.remove(missing)?;

    // Open creates the file and its directories, zero-filled.
    fs.open(path, 16)?;
    let meta = fs.metadata(path)?.ok_or("no metadata after open")?;
    assert_eq!(meta.length, 16);
    assert!(meta.modified.is_some());
    assert_eq!(fs.read_at(path, 0, &mut buf)?, 8);
    assert_eq!(buf, [0; 8]);

    // Positional writes and reads.
    assert_eq!(fs.write_at(path, 4, b"abcd")?, 4);
    assert_eq!(fs.write_at(path, 0, b"01")?, 2);
    let mut all = [0xffu8; 32];
    assert_eq!(
        fs.read_at(path, 0, &mut all)?,
        16,
        "a read stops at the end"
    );
    assert_eq!(&all[..16], b"01\0\0abcd\0\0\0\0\0\0\0\0");
    assert_eq!(fs.read_at(path, 16, &mut buf)?, 0, "a read at the end");
    assert_eq!(fs.read_at(path, 1000, &mut buf)?, 0, "a read past the end");
    assert_eq!(fs.read_at(path, 14, &mut buf)?, 2);
    assert_eq!(fs.read_at(path, 0, &mut [])?, 0);

    // A write past the end grows the file.
    assert_eq!(fs.write_at(path, 20, b"zz")?, 2);
    assert_eq!(fs.metadata(path)?.map(|m| m.length), Some(22));
    assert_eq!(fs.read_at(path, 16, &mut buf)?, 6);
    assert_eq!(&buf[..6], b"\0\0\0\0zz");

    // An empty write changes nothing, even past the end.
    assert_eq!(fs.write_at(path, 100, &[])?, 0);
    assert_eq!(fs.metadata(path)?.map(|m| m.length), Some(22));

    // Open never shrinks; it grows.
    fs.open(path, 4)?;
    assert_eq!(fs.metadata(path)?.map(|m| m.length), Some(22));
    fs.open(path, 30)?;
    assert_eq!(fs.metadata(path)?.map(|m| m.length), Some(30));
    assert_eq!(fs.read_at(path, 4, &mut buf[..4])?, 4);
    assert_eq!(&buf[..4], b"abcd", "open keeps what is there");

    // set_len shrinks and grows (zero-filled).
    fs.set_len(path, 6)?;
    assert_eq!(fs.metadata(path)?.map(|m| m.length), Some(6));
    fs.set_len(path, 10)?;
    assert_eq!(fs.read_at(path, 0, &mut all)?, 10);
    assert_eq!(&all[..10], b"01\0\0ab\0\0\0\0");

    fs.sync(path)?;

    // A second file in the same directory; remove one, then the other.
    let sibling = Path::new("dir/sub/other.bin");
    fs.open(sibling, 0)?;
    assert_eq!(fs.metadata(sibling)?.map(|m| m.length), Some(0));
    fs.remove(path)?;
    assert_eq!(fs.metadata(path)?, None);
    assert_eq!(
        fs.read_at(path, 0, &mut buf).map_err(|e| e.kind()),
        Err(ErrorKind::NotFound)
    );
    fs.remove(path)?;
    assert!(fs.metadata(sibling)?.is_some());
    fs.remove(sibling)?;
    assert_eq!(fs.metadata(sibling)?, None);
    Ok(())
}

/// Every operation with every bad path is `InvalidInput`.
fn refuses_bad_paths(fs: &dyn FileSystem) {
    let mut buf = [0u8; 4];
    for path in bad_paths() {
        let path = path.as_path();
        let results = [
            ("open", fs.open(path, 4)),
            ("read", fs.read_at(path, 0, &mut buf).map(drop)),
            ("write", fs.write_at(path, 0, b"x").map(drop)),
            ("sync", fs.sync(path)),
            ("set_len", fs.set_len(path, 1)),
            ("remove", fs.remove(path)),
            ("metadata", fs.metadata(path).map(drop)),
        ];
        for (op, result) in results {
            assert_eq!(
                result.map_err(|e| e.kind()),
                Err(ErrorKind::InvalidInput),
                "{op} {path:?}"
            );
        }
    }
}

#[test]
fn memory_contract() -> TestResult {
    let fs = MemoryFileSystem::new();
    contract(&fs)?;
    refuses_bad_paths(&fs);
    assert_eq!(fs.total_bytes(), 0);
    assert!(fs.paths().is_empty());
    Ok(())
}

#[test]
fn native_contract() -> TestResult {
    let outer = tempfile::tempdir()?;
    let root = outer.path().join("root");
    let fs = NativeFileSystem::new(&root);
    assert_eq!(fs.root(), root);
    contract(&fs)?;
    refuses_bad_paths(&fs);
    // Nothing was created beside the root, and the root is kept.
    let beside: Vec<_> = std::fs::read_dir(outer.path())?.collect::<Result<_, _>>()?;
    assert_eq!(beside.len(), 1);
    assert!(root.is_dir());
    assert_eq!(std::fs::read_dir(&root)?.count(), 0);
    Ok(())
}

#[test]
fn faulty_without_faults_is_transparent() -> TestResult {
    let memory = Arc::new(MemoryFileSystem::new());
    let fs = FaultyFileSystem::new(memory.clone());
    contract(&fs)?;
    refuses_bad_paths(&fs);
    assert_eq!(fs.triggered(), 0);
    assert_eq!(memory.total_bytes(), 0);
    assert!(fs.faults().is_empty());

    let dir = tempfile::tempdir()?;
    let fs = FaultyFileSystem::new(Arc::new(NativeFileSystem::new(dir.path())));
    contract(&fs)?;
    refuses_bad_paths(&fs);
    Ok(())
}

#[test]
fn native_files_stay_inside_the_root() -> TestResult {
    let outer = tempfile::tempdir()?;
    let root = outer.path().join("root");
    let fs = NativeFileSystem::new(&root);
    fs.open(Path::new("a/b/c.txt"), 3)?;
    fs.write_at(Path::new("a/b/c.txt"), 0, b"abc")?;
    fs.open(Path::new("top.txt"), 0)?;
    for path in bad_paths() {
        assert!(fs.open(&path, 1).is_err());
        assert!(fs.write_at(&path, 0, b"escape").is_err());
    }
    assert_eq!(std::fs::read(root.join("a/b/c.txt"))?, b"abc");
    assert!(root.join("top.txt").is_file());
    let beside: Vec<PathBuf> = std::fs::read_dir(outer.path())?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<_, _>>()?;
    assert_eq!(beside, vec![root]);
    Ok(())
}

#[cfg(unix)]
#[test]
fn native_open_is_sparse() -> TestResult {
    use std::os::unix::fs::MetadataExt;

    let dir = tempfile::tempdir()?;
    let fs = NativeFileSystem::new(dir.path());
    let path = Path::new("big.iso");
    fs.open(path, 1 << 30)?;
    fs.write_at(path, (1 << 30) - 4, b"tail")?;
    assert_eq!(fs.metadata(path)?.map(|m| m.length), Some(1 << 30));
    let blocks = std::fs::metadata(dir.path().join(path))?.blocks();
    // 512-byte blocks: well under 1 MiB on disk for a 1 GiB file.
    assert!(blocks < 2048, "{blocks} blocks allocated");
    let mut buf = [0xffu8; 4];
    assert_eq!(fs.read_at(path, 1 << 29, &mut buf)?, 4);
    assert_eq!(buf, [0; 4]);
    Ok(())
}

#[test]
fn native_handle_cache_is_bounded() -> TestResult {
    let dir = tempfile::tempdir()?;
    let fs = NativeFileSystem::with_max_open_files(dir.path(), 8);
    assert_eq!(fs.max_open_files(), 8);
    let name = |i: usize| PathBuf::from(format!("d{}/f{i}", i % 7));
    let content = |i: usize| format!("file number {i}").into_bytes();
    for i in 0..500 {
        let data = content(i);
        fs.open(&name(i), data.len() as u64)?;
        assert_eq!(fs.write_at(&name(i), 0, &data)?, data.len());
        assert!(fs.open_files() <= 8);
    }
    // Back to front and front to back, so handles are evicted and reopened.
    for i in (0..500).rev().chain(0..500) {
        let mut buf = vec![0u8; 32];
        let n = fs.read_at(&name(i), 0, &mut buf)?;
        assert_eq!(&buf[..n], content(i).as_slice(), "file {i}");
        assert!(fs.open_files() <= 8);
    }
    for i in 0..500 {
        fs.sync(&name(i))?;
    }
    assert!(fs.open_files() <= 8);
    Ok(())
}

#[test]
fn native_concurrent_positional_writes() -> TestResult {
    const THREADS: usize = 8;
    const BLOCKS: usize = 64;
    const BLOCK: usize = 4096;
    let dir = tempfile::tempdir()?;
    // A small cache, so handles are evicted and reopened under load.
    let fs = NativeFileSystem::with_max_open_files(dir.path(), 2);
    let path = Path::new("shared.bin");
    fs.open(path, (BLOCKS * BLOCK) as u64)?;
    let block = |i: usize| vec![(i % 251) as u8; BLOCK];
    std::thread::scope(|scope| {
        let workers: Vec<_> = (0..THREADS)
            .map(|t| {
                let fs = &fs;
                scope.spawn(move || -> io::Result<()> {
                    for i in (t..BLOCKS).step_by(THREADS) {
                        let data = block(i);
                        let mut done = 0;
                        while done < data.len() {
                            done += fs.write_at(path, (i * BLOCK + done) as u64, &data[done..])?;
                        }
                        // Touch other files, to churn the handle cache.
                        fs.open(Path::new(&format!("other{t}")), 1)?;
                    }
                    Ok(())
                })
            })
            .collect();
        workers.into_iter().try_for_each(|w| {
            w.join()
                .map_err(|_| "a writer panicked")?
                .map_err(Into::into)
        })
    })
    .map_err(|e: Box<dyn std::error::Error>| e)?;
    let stored = std::fs::read(dir.path().join(path))?;
    assert_eq!(stored.len(), BLOCKS * BLOCK);
    for (i, chunk) in stored.chunks(BLOCK).enumerate() {
        assert_eq!(chunk, block(i).as_slice(), "block {i}");
    }
    Ok(())
}

#[test]
fn native_remove_cleans_empty_directories_but_not_the_root() -> TestResult {
    let dir = tempfile::tempdir()?;
    let root = dir.path().join("downloads");
    let fs = NativeFileSystem::new(&root);
    fs.open(Path::new("album/cd1/01.flac"), 10)?;
    fs.open(Path::new("album/cd1/02.flac"), 10)?;
    fs.open(Path::new("album/cover.jpg"), 10)?;

    fs.remove(Path::new("album/cd1/01.flac"))?;
    assert!(root.join("album/cd1").is_dir(), "cd1 still holds 02.flac");
    fs.remove(Path::new("album/cd1/02.flac"))?;
    assert!(!root.join("album/cd1").exists(), "empty cd1 is removed");
    assert!(root.join("album").is_dir(), "album still holds cover.jpg");
    fs.remove(Path::new("album/cover.jpg"))?;
    assert!(!root.join("album").exists());
    assert!(root.is_dir(), "the root is kept");

    // A missing file is fine, and removes nothing.
    fs.open(Path::new("keep/x"), 1)?;
    fs.remove(Path::new("keep/y"))?;
    assert!(root.join("keep/x").is_file());
    Ok(())
}

#[test]
fn native_metadata_of_a_directory_is_an_error() -> TestResult {
    let dir = tempfile::tempdir()?;
    let fs = NativeFileSystem::new(dir.path());
    fs.open(Path::new("d/f"), 1)?;
    assert!(fs.metadata(Path::new("d")).is_err());
    Ok(())
}

// ---------------------------------------------------------------------------
// Native against memory: the same operations give the same results.

#[derive(Debug, Clone)]
enum Op {
    Open(usize, u64),
    Write(usize, u64, Vec<u8>),
    Read(usize, u64, usize),
    SetLen(usize, u64),
    Sync(usize),
    Remove(usize),
    Metadata(usize),
}

const MODEL_PATHS: [&str; 4] = ["a", "d/b", "d/e/c", "d/e/f"];

fn op() -> impl Strategy<Value = Op> {
    let path = 0..MODEL_PATHS.len();
    let offset = 0u64..3000;
    prop_oneof![
        (path.clone(), 0u64..4000).prop_map(|(p, n)| Op::Open(p, n)),
        (
            path.clone(),
            offset.clone(),
            proptest::collection::vec(any::<u8>(), 0..600)
        )
            .prop_map(|(p, o, d)| Op::Write(p, o, d)),
        (path.clone(), offset, 0usize..1200).prop_map(|(p, o, n)| Op::Read(p, o, n)),
        (path.clone(), 0u64..4000).prop_map(|(p, n)| Op::SetLen(p, n)),
        path.clone().prop_map(Op::Sync),
        path.clone().prop_map(Op::Remove),
        path.prop_map(Op::Metadata),
    ]
}

/// What an operation gave, comparable across file systems.
#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    Done,
    Count(usize),
    Bytes(Vec<u8>),
    Length(Option<u64>),
    Failed(ErrorKind),
}

fn apply(fs: &dyn FileSystem, op: &Op) -> Outcome {
    let path = |p: &usize| Path::new(MODEL_PATHS[*p]);
    let result = match op {
        Op::Open(p, n) => fs.open(path(p), *n).map(|()| Outcome::Done),
        Op::Write(p, o, d) => fs.write_at(path(p), *o, d).map(Outcome::Count),
        Op::Read(p, o, n) => {
            let mut buf = vec![0u8; *n];
            fs.read_at(path(p), *o, &mut buf).map(|k| {
                buf.truncate(k);
                Outcome::Bytes(buf)
            })
        }
        Op::SetLen(p, n) => fs.set_len(path(p), *n).map(|()| Outcome::Done),
        Op::Sync(p) => fs.sync(path(p)).map(|()| Outcome::Done),
        Op::Remove(p) => fs.remove(path(p)).map(|()| Outcome::Done),
        Op::Metadata(p) => fs
            .metadata(path(p))
            .map(|m| Outcome::Length(m.map(|m| m.length))),
    };
    result.unwrap_or_else(|e| Outcome::Failed(e.kind()))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn native_behaves_like_memory(ops in proptest::collection::vec(op(), 1..40)) {
        let dir = tempfile::tempdir().map_err(|e| TestCaseError::fail(e.to_string()))?;
        let native = NativeFileSystem::with_max_open_files(dir.path(), 2);
        let memory = MemoryFileSystem::new();
        for (i, op) in ops.iter().enumerate() {
            let want = apply(&memory, op);
            let got = apply(&native, op);
            prop_assert_eq!(got, want, "op {} {:?}", i, op);
        }
        for (p, name) in MODEL_PATHS.iter().enumerate() {
            let on_disk = std::fs::read(dir.path().join(name)).ok();
            prop_assert_eq!(on_disk, memory.contents(Path::new(name)), "file {}", p);
        }
    }
}

// ---------------------------------------------------------------------------
// Faults.

/// A faulty file system over memory, with `file.bin` of 1 KiB holding
/// `i % 256` at offset `i`.
fn faulty() -> Result<(Arc<MemoryFileSystem>, FaultyFileSystem, &'static Path), io::Error> {
    let memory = Arc::new(MemoryFileSystem::new());
    let fs = FaultyFileSystem::new(memory.clone());
    let path = Path::new("file.bin");
    fs.open(path, 1024)?;
    let pattern: Vec<u8> = (0..1024).map(|i| (i % 256) as u8).collect();
    assert_eq!(fs.write_at(path, 0, &pattern)?, 1024);
    Ok((memory, fs, path))
}

fn pattern(range: std::ops::Range<usize>) -> Vec<u8> {
    range.map(|i| (i % 256) as u8).collect()
}

#[test]
fn fault_no_space_after_budget() -> TestResult {
    let (memory, fs, path) = faulty()?;
    fs.add(Fault::NoSpace { after_bytes: 100 });
    assert_eq!(fs.write_at(path, 0, &[1; 64])?, 64);
    assert_eq!(fs.write_at(path, 64, &[2; 64])?, 36, "cut at the budget");
    assert_eq!(fs.triggered(), 1);
    let err = fs.write_at(path, 100, &[3; 8]).err().ok_or("no error")?;
    assert_eq!(err.kind(), ErrorKind::StorageFull);
    #[cfg(unix)]
    assert_eq!(err.raw_os_error(), Some(28));
    assert_eq!(fs.triggered(), 2);
    // Reads, syncs and empty writes still work; nothing more was written.
    let mut buf = [0u8; 4];
    assert_eq!(fs.read_at(path, 100, &mut buf)?, 4);
    fs.sync(path)?;
    assert_eq!(fs.write_at(path, 0, &[])?, 0);
    let stored = memory.contents(path).ok_or("missing")?;
    assert_eq!(&stored[..64], &[1; 64]);
    assert_eq!(&stored[64..100], &[2; 36]);
    assert_eq!(&stored[100..], pattern(100..1024).as_slice());
    assert_eq!(fs.faults(), vec![Fault::NoSpace { after_bytes: 0 }]);

    fs.clear();
    assert_eq!(fs.write_at(path, 100, &[3; 8])?, 8);
    assert_eq!(fs.triggered(), 2);

    // Full right away.
    fs.add(Fault::NoSpace { after_bytes: 0 });
    assert_eq!(
        fs.write_at(path, 0, b"x").map_err(|e| e.kind()),
        Err(ErrorKind::StorageFull)
    );
    Ok(())
}

#[test]
fn fault_no_space_on_native() -> TestResult {
    let dir = tempfile::tempdir()?;
    let fs = FaultyFileSystem::new(Arc::new(NativeFileSystem::new(dir.path())));
    let path = Path::new("x/y");
    fs.open(path, 16)?;
    fs.add(Fault::NoSpace { after_bytes: 10 });
    let mut written = 0;
    let err = loop {
        match fs.write_at(path, written as u64, &[9; 16][written..]) {
            Ok(n) => written += n,
            Err(e) => break e,
        }
    };
    assert_eq!(written, 10);
    assert_eq!(err.kind(), ErrorKind::StorageFull);
    assert_eq!(
        &std::fs::read(dir.path().join(path))?[..11],
        b"\x09\x09\x09\x09\x09\x09\x09\x09\x09\x09\0"
    );
    Ok(())
}

#[test]
fn fault_io_errors_only_in_range() -> TestResult {
    let (memory, fs, path) = faulty()?;
    fs.add(Fault::ReadError {
        path: Some(path.to_path_buf()),
        offsets: 100..200,
    });
    let mut buf = [0u8; 50];
    let is_eio = |r: io::Result<usize>| match r {
        Err(e) => cfg!(not(unix)) || e.raw_os_error() == Some(5),
        Ok(_) => false,
    };
    assert_eq!(fs.read_at(path, 50, &mut buf)?, 50, "[50, 100) is before");
    assert_eq!(fs.read_at(path, 200, &mut buf)?, 50, "[200, 250) is after");
    assert!(is_eio(fs.read_at(path, 60, &mut buf)), "[60, 110) overlaps");
    assert!(
        is_eio(fs.read_at(path, 199, &mut buf)),
        "[199, 249) overlaps"
    );
    assert!(is_eio(fs.read_at(path, 120, &mut buf[..1])), "inside");
    assert_eq!(fs.triggered(), 3);
    assert_eq!(fs.write_at(path, 100, &[7; 100])?, 100, "writes pass");

    // Another file is not affected.
    fs.open(Path::new("other"), 1024)?;
    assert_eq!(fs.read_at(Path::new("other"), 100, &mut buf)?, 50);

    // Writes, on any file.
    fs.clear();
    fs.add(Fault::WriteError {
        path: None,
        offsets: 512..513,
    });
    assert!(is_eio(fs.write_at(path, 500, &[1; 20])));
    assert!(is_eio(fs.write_at(Path::new("other"), 512, &[1])));
    assert_eq!(fs.write_at(path, 513, &[1; 20])?, 20);
    assert_eq!(fs.write_at(path, 492, &[1; 20])?, 20);
    assert_eq!(
        memory.contents(path).ok_or("missing")?[512],
        0,
        "a failed write writes nothing"
    );
    assert_eq!(fs.read_at(path, 500, &mut buf)?, 50);

    // Open and sync.
    fs.clear();
    fs.add(Fault::OpenError {
        path: Some(PathBuf::from("new/file")),
    });
    fs.add(Fault::SyncError { path: None });
    assert!(fs.open(Path::new("new/file"), 1).is_err());
    assert_eq!(memory.contents(Path::new("new/file")), None);
    fs.open(Path::new("new/other"), 1)?;
    assert!(fs.sync(path).is_err());
    assert!(fs.sync(Path::new("new/other")).is_err());
    #[cfg(unix)]
    assert_eq!(fs.sync(path).err().and_then(|e| e.raw_os_error()), Some(5));
    Ok(())
}

#[test]
fn fault_short_writes() -> TestResult {
    let (memory, fs, path) = faulty()?;
    fs.add(Fault::ShortWrite { max: 3 });
    assert_eq!(fs.write_at(path, 0, &[0xaa; 10])?, 3);
    assert_eq!(fs.write_at(path, 3, &[0xaa; 2])?, 2, "short enough already");
    let stored = memory.contents(path).ok_or("missing")?;
    assert_eq!(&stored[..5], &[0xaa; 5]);
    assert_eq!(&stored[5..8], pattern(5..8).as_slice());
    assert_eq!(fs.triggered(), 1);

    // A caller that loops writes everything.
    let data = [0x55u8; 20];
    let mut done = 0;
    while done < data.len() {
        done += fs.write_at(path, 100 + done as u64, &data[done..])?;
    }
    assert_eq!(&memory.contents(path).ok_or("missing")?[100..120], &data);
    assert_eq!(fs.triggered(), 1 + 6);
    Ok(())
}

#[test]
fn fault_latency() -> TestResult {
    let (_, fs, path) = faulty()?;
    fs.add(Fault::Latency(Duration::from_millis(30)));
    let start = Instant::now();
    let mut buf = [0u8; 4];
    fs.read_at(path, 0, &mut buf)?;
    fs.write_at(path, 0, &buf)?;
    assert!(start.elapsed() >= Duration::from_millis(60));
    assert_eq!(fs.triggered(), 2);
    fs.clear();
    fs.read_at(path, 0, &mut buf)?;
    assert_eq!(fs.triggered(), 2, "no sleep once cleared");
    Ok(())
}

#[test]
fn fault_corrupt_read_changes_exactly_the_range() -> TestResult {
    let (memory, fs, path) = faulty()?;
    fs.add(Fault::CorruptRead {
        path: path.to_path_buf(),
        offsets: 300..310,
    });
    let stored = memory.contents(path).ok_or("missing")?;

    let mut all = vec![0u8; 1024];
    assert_eq!(fs.read_at(path, 0, &mut all)?, 1024);
    for (i, (got, want)) in all.iter().zip(&stored).enumerate() {
        if (300..310).contains(&i) {
            assert_ne!(got, want, "byte {i} should be corrupted");
        } else {
            assert_eq!(got, want, "byte {i} should be intact");
        }
    }

    // A read that only partly overlaps.
    let mut buf = [0u8; 8];
    assert_eq!(fs.read_at(path, 305, &mut buf)?, 8);
    for (i, byte) in buf.iter().enumerate() {
        let at = 305 + i;
        assert_eq!(*byte != stored[at], at < 310, "byte {at}");
    }
    // A read outside the range, and of another file, is untouched.
    assert_eq!(fs.read_at(path, 310, &mut buf)?, 8);
    assert_eq!(buf.as_slice(), &stored[310..318]);
    fs.open(Path::new("other"), 400)?;
    assert_eq!(fs.read_at(Path::new("other"), 300, &mut buf)?, 8);
    assert_eq!(buf, [0; 8]);
    assert_eq!(fs.triggered(), 2);
    // What is stored never changed.
    assert_eq!(memory.contents(path), Some(stored));

    fs.clear();
    assert_eq!(fs.read_at(path, 0, &mut all)?, 1024);
    assert_eq!(all, pattern(0..1024));
    assert_eq!(fs.triggered(), 2);
    Ok(())
}

#[test]
fn fault_counts_and_clear() -> TestResult {
    let (_, fs, path) = faulty()?;
    assert_eq!(fs.triggered(), 0);
    fs.add(Fault::ShortWrite { max: 1 });
    fs.add(Fault::SyncError { path: None });
    assert_eq!(fs.faults().len(), 2);
    fs.write_at(path, 0, b"ab")?;
    assert!(fs.sync(path).is_err());
    assert_eq!(fs.triggered(), 2);
    fs.clear();
    assert!(fs.faults().is_empty());
    assert_eq!(fs.write_at(path, 0, b"ab")?, 2);
    fs.sync(path)?;
    assert_eq!(fs.triggered(), 2, "clear keeps the count");
    // The wrapped file system is reachable.
    assert_eq!(fs.inner().metadata(path)?.map(|m| m.length), Some(1024));
    Ok(())
}

#[test]
fn fault_list_is_bounded() -> TestResult {
    let (_, fs, _) = faulty()?;
    for i in 0..1000 {
        fs.add(Fault::Latency(Duration::from_nanos(i)));
    }
    assert!(fs.faults().len() <= 64);
    assert_eq!(
        fs.faults().last(),
        Some(&Fault::Latency(Duration::from_nanos(999)))
    );
    Ok(())
}
