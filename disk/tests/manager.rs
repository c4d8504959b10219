//! The DiskManager end to end on the in-memory file system.

mod common;

use std::sync::Arc;

use bitswarm_core::{BlockRef, PieceIndex};
use bitswarm_disk::{
    BlockTag, CheckMode, DiskConfig, DiskManager, Error, FileSystem, MemoryFileSystem,
    TorrentStorage,
};
use bitswarm_metainfo::Version;
use common::{Fixture, Seen, events_until};

fn storage(fx: &Fixture, fs: &Arc<MemoryFileSystem>) -> TorrentStorage {
    TorrentStorage {
        info: Arc::clone(&fx.info),
        fs: Arc::clone(fs) as Arc<dyn FileSystem>,
    }
}

/// Writes every block of `fx` in order and waits for every piece to verify.
async fn download(fx: &Fixture, config: DiskConfig) -> (Arc<MemoryFileSystem>, Seen) {
    let (disk, mut events) = DiskManager::start(config);
    let fs = Arc::new(MemoryFileSystem::new());
    disk.add_torrent(fx.info_hash, storage(fx, &fs))
        .await
        .unwrap();
    for (block, data) in fx.blocks() {
        disk.write_block(fx.info_hash, block, data, BlockTag(1))
            .await
            .unwrap();
    }
    let n = fx.num_pieces() as usize;
    let mut seen = Seen::default();
    events_until(&mut events, &mut seen, |s| s.verified.len() == n).await;
    disk.shutdown().await.unwrap();
    (fs, seen)
}

fn assert_files(fx: &Fixture, fs: &MemoryFileSystem) {
    for (path, data) in fx.real_files() {
        assert_eq!(
            fs.contents(&path).as_deref(),
            Some(&data[..]),
            "{}",
            path.display()
        );
    }
    for pad in fx.pad_files() {
        assert_eq!(
            fs.contents(&pad),
            None,
            "pad file {} written",
            pad.display()
        );
    }
}

#[tokio::test]
async fn v1_single_file_is_written_and_verified() {
    let fx = Fixture::single(300_000, 32 * 1024, Version::V1, 1);
    let (fs, seen) = download(&fx, DiskConfig::default()).await;
    assert!(seen.failed.is_empty() && seen.errors.is_empty());
    assert_files(&fx, &fs);
}

#[tokio::test]
async fn hybrid_with_pads_and_empty_files() {
    let fx = Fixture::new(
        &[
            ("a", 40_000),
            ("empty", 0),
            ("b/c", 16_384),
            ("d", 1),
            ("e", 100_000),
        ],
        32 * 1024,
        Version::Hybrid,
        2,
    );
    assert!(!fx.pad_files().is_empty());
    let (fs, seen) = download(&fx, DiskConfig::default()).await;
    assert!(seen.failed.is_empty() && seen.errors.is_empty(), "{seen:?}");
    assert_files(&fx, &fs);
}

#[tokio::test]
async fn v2_only_multi_file() {
    let fx = Fixture::new(
        &[("a", 70_000), ("b", 16_384), ("c", 5), ("d", 200_000)],
        32 * 1024,
        Version::V2,
        3,
    );
    let (fs, seen) = download(&fx, DiskConfig::default()).await;
    assert!(seen.failed.is_empty() && seen.errors.is_empty(), "{seen:?}");
    assert_files(&fx, &fs);
}

#[tokio::test]
async fn corrupt_block_fails_its_piece_with_every_tag() {
    for version in [Version::V1, Version::V2, Version::Hybrid] {
        let fx = Fixture::single(100_000, 32 * 1024, version, 4);
        let (disk, mut events) = DiskManager::start(DiskConfig::default());
        let fs = Arc::new(MemoryFileSystem::new());
        disk.add_torrent(fx.info_hash, storage(&fx, &fs))
            .await
            .unwrap();
        let blocks = fx.blocks();
        // Piece 1's second block is corrupt and comes from peer 9.
        for (i, (block, data)) in blocks.iter().enumerate() {
            let (data, tag) = if block.piece.0 == 1 && block.offset > 0 {
                let mut bad = data.to_vec();
                bad[10] ^= 1;
                (bad.into(), BlockTag(9))
            } else {
                (data.clone(), BlockTag(i as u64))
            };
            disk.write_block(fx.info_hash, *block, data, tag)
                .await
                .unwrap();
        }
        let n = fx.num_pieces() as usize;
        let mut seen = Seen::default();
        events_until(&mut events, &mut seen, |s| {
            s.verified.len() + s.failed.len() == n
        })
        .await;
        assert_eq!(seen.failed.len(), 1, "{version:?}");
        let (piece, tags) = &seen.failed[0];
        assert_eq!(*piece, 1);
        assert!(tags.iter().any(|(b, t)| b.offset > 0 && *t == BlockTag(9)));
        assert_eq!(tags.len(), 2, "both blocks of the piece are named");
        let err = disk
            .read_block(
                fx.info_hash,
                BlockRef {
                    piece: PieceIndex(1),
                    offset: 0,
                    length: 10,
                },
            )
            .await
            .unwrap_err();
        assert!(
            matches!(err, Error::PieceNotVerified(PieceIndex(1))),
            "{err}"
        );
        // The good copy arrives: the piece verifies.
        for (block, data) in blocks.iter().filter(|(b, _)| b.piece.0 == 1) {
            disk.write_block(fx.info_hash, *block, data.clone(), BlockTag(3))
                .await
                .unwrap();
        }
        events_until(&mut events, &mut seen, |s| s.verified.len() == n).await;
        disk.flush(fx.info_hash).await.unwrap();
        assert_files(&fx, &fs);
    }
}

#[tokio::test]
async fn read_blocks_and_resume_data_round_trip() {
    let fx = Fixture::new(
        &[("a", 50_000), ("b", 90_000)],
        16 * 1024,
        Version::Hybrid,
        5,
    );
    let (disk, mut events) = DiskManager::start(DiskConfig::default());
    let fs = Arc::new(MemoryFileSystem::new());
    disk.add_torrent(fx.info_hash, storage(&fx, &fs))
        .await
        .unwrap();
    for (block, data) in fx.blocks() {
        disk.write_block(fx.info_hash, block, data, BlockTag(1))
            .await
            .unwrap();
    }
    let n = fx.num_pieces() as usize;
    let mut seen = Seen::default();
    events_until(&mut events, &mut seen, |s| s.verified.len() == n).await;
    for p in 0..fx.num_pieces() {
        let want = fx.piece(p);
        let block = BlockRef {
            piece: PieceIndex(p),
            offset: 3,
            length: (want.len() - 3) as u32,
        };
        let got = disk.read_block(fx.info_hash, block).await.unwrap();
        assert_eq!(&got[..], &want[3..]);
    }
    let resume = disk.resume_data(fx.info_hash).await.unwrap();
    assert!(resume.have.is_full());
    let bytes = resume.to_bencode();
    disk.shutdown().await.unwrap();
    assert!(matches!(
        disk.flush(fx.info_hash).await,
        Err(Error::Shutdown)
    ));

    // A new manager trusts the resume data.
    let (disk, mut events) = DiskManager::start(DiskConfig::default());
    disk.add_torrent(fx.info_hash, storage(&fx, &fs))
        .await
        .unwrap();
    let resume = bitswarm_disk::ResumeData::from_bencode(&bytes).unwrap();
    let have = disk
        .check(fx.info_hash, CheckMode::Resume(resume))
        .await
        .unwrap();
    assert!(have.is_full());
    let mut seen = Seen::default();
    events_until(&mut events, &mut seen, |s| {
        s.progress.last() == Some(&(n as u32, n as u32))
    })
    .await;
    // And a full check agrees.
    let have = disk.check(fx.info_hash, CheckMode::Full).await.unwrap();
    assert!(have.is_full());
}

/// Blocks of `fx` in an order that holds many pieces incomplete at once:
/// every block but the last of each piece first, then the last ones.
fn interleaved(fx: &Fixture) -> Vec<(BlockRef, bytes::Bytes)> {
    let blocks = fx.blocks();
    let is_last = |b: &BlockRef| b.offset + b.length == fx.piece_size(b.piece.0);
    let mut order: Vec<_> = blocks
        .iter()
        .filter(|(b, _)| !is_last(b))
        .cloned()
        .collect();
    order.extend(blocks.iter().filter(|(b, _)| is_last(b)).cloned());
    order
}

/// Like `interleaved`, but each piece's first block comes last, so that
/// nothing of a piece can be hashed before it completes: spilled blocks
/// must be read back.
fn first_blocks_last(fx: &Fixture) -> Vec<(BlockRef, bytes::Bytes)> {
    let blocks = fx.blocks();
    let is_last = |b: &BlockRef| b.offset == 0;
    let mut order: Vec<_> = blocks
        .iter()
        .filter(|(b, _)| !is_last(b))
        .cloned()
        .collect();
    order.extend(blocks.iter().filter(|(b, _)| is_last(b)).cloned());
    order
}

#[tokio::test]
async fn a_full_cache_of_incomplete_pieces_spills_instead_of_waiting_forever() {
    // 8 pieces of 4 blocks; 3 blocks of every piece come before any last
    // block: 384 KiB in flight against a cache of 64 KiB.
    let fx = Fixture::single(8 * 65_536, 65_536, Version::Hybrid, 6);
    let config = DiskConfig {
        write_cache_bytes: 64 * 1024,
        ..DiskConfig::default()
    };
    let (disk, mut events) = DiskManager::start(config);
    let fs = Arc::new(MemoryFileSystem::new());
    disk.add_torrent(fx.info_hash, storage(&fx, &fs))
        .await
        .unwrap();
    let mut seen = Seen::default();
    for (round, order) in [interleaved(&fx), first_blocks_last(&fx)]
        .into_iter()
        .enumerate()
    {
        if round == 1 {
            disk.remove_torrent(fx.info_hash, true).await.unwrap();
            disk.add_torrent(fx.info_hash, storage(&fx, &fs))
                .await
                .unwrap();
            seen = Seen::default();
        }
        let writes = async {
            for (block, data) in order {
                disk.write_block(fx.info_hash, block, data, BlockTag(2))
                    .await
                    .unwrap();
                assert!(disk.write_cache_used() <= 64 * 1024);
            }
        };
        tokio::time::timeout(common::HANG, writes)
            .await
            .expect("no deadlock");
        events_until(&mut events, &mut seen, |s| s.verified.len() == 8).await;
        assert!(seen.failed.is_empty() && seen.errors.is_empty(), "{seen:?}");
        assert_files(&fx, &fs);
        assert_eq!(disk.write_cache_used(), 0, "every byte is given back");
    }
}

#[tokio::test]
async fn writers_wait_while_the_cache_is_full() {
    // One incomplete piece fills the cache; a writer of another piece waits
    // until the first piece completes (or is spilled), and never pushes the
    // cache past its bound.
    let fx = Fixture::single(4 * 65_536, 65_536, Version::V1, 7);
    let config = DiskConfig {
        write_cache_bytes: 3 * 16_384,
        ..DiskConfig::default()
    };
    let (disk, mut events) = DiskManager::start(config);
    let fs = Arc::new(MemoryFileSystem::new());
    disk.add_torrent(fx.info_hash, storage(&fx, &fs))
        .await
        .unwrap();
    let blocks = fx.blocks();
    let tasks: Vec<_> = blocks
        .into_iter()
        .map(|(block, data)| {
            let disk = disk.clone();
            let ih = fx.info_hash;
            tokio::spawn(async move {
                disk.write_block(ih, block, data, BlockTag(0))
                    .await
                    .unwrap();
                assert!(disk.write_cache_used() <= 3 * 16_384);
            })
        })
        .collect();
    for t in tasks {
        tokio::time::timeout(common::HANG, t)
            .await
            .unwrap()
            .unwrap();
    }
    let mut seen = Seen::default();
    events_until(&mut events, &mut seen, |s| s.verified.len() == 4).await;
    assert_files(&fx, &fs);
}

#[tokio::test]
async fn spilled_blocks_that_read_back_corrupted_fail_their_piece() {
    use bitswarm_disk::{Fault, FaultyFileSystem};
    let fx = Fixture::single(8 * 65_536, 65_536, Version::V1, 8);
    let memory = Arc::new(MemoryFileSystem::new());
    let faulty = Arc::new(FaultyFileSystem::new(memory.clone()));
    // Every byte of the file reads back flipped: whatever was spilled
    // and read back fails its hash.
    faulty.add(Fault::CorruptRead {
        path: fx.files[0].0.clone(),
        offsets: 0..u64::MAX,
    });
    let config = DiskConfig {
        write_cache_bytes: 64 * 1024,
        ..DiskConfig::default()
    };
    let (disk, mut events) = DiskManager::start(config);
    let storage = TorrentStorage {
        info: Arc::clone(&fx.info),
        fs: faulty.clone(),
    };
    disk.add_torrent(fx.info_hash, storage).await.unwrap();
    for (block, data) in first_blocks_last(&fx) {
        tokio::time::timeout(
            common::HANG,
            disk.write_block(fx.info_hash, block, data, BlockTag(block.piece.0 as u64)),
        )
        .await
        .unwrap()
        .unwrap();
    }
    let mut seen = Seen::default();
    events_until(&mut events, &mut seen, |s| {
        s.verified.len() + s.failed.len() == 8
    })
    .await;
    assert!(
        !seen.failed.is_empty(),
        "some piece was spilled and read back"
    );
    let have = disk.have(fx.info_hash).await.unwrap();
    for p in have.iter_ones() {
        let stored = memory.contents(&fx.files[0].0).unwrap();
        let at = p.0 as usize * 65_536;
        assert_eq!(
            stored[at..at + 65_536],
            fx.piece(p.0)[..],
            "piece {p} good on disk"
        );
    }
    for (p, tags) in &seen.failed {
        assert!(!have.get(PieceIndex(*p)));
        assert!(tags.iter().all(|(_, t)| *t == BlockTag(u64::from(*p))));
    }
}

#[tokio::test]
async fn commands_on_unknown_torrents_and_bad_blocks_are_errors() {
    let fx = Fixture::single(100_000, 32 * 1024, Version::V1, 9);
    let (disk, _events) = DiskManager::start(DiskConfig::default());
    let fs = Arc::new(MemoryFileSystem::new());
    let ih = fx.info_hash;
    let block = BlockRef {
        piece: PieceIndex(0),
        offset: 0,
        length: 16_384,
    };
    let data = bytes::Bytes::from(vec![0u8; 16_384]);
    assert!(matches!(
        disk.write_block(ih, block, data.clone(), BlockTag(0)).await,
        Err(Error::UnknownTorrent(_))
    ));
    disk.add_torrent(ih, storage(&fx, &fs)).await.unwrap();
    assert!(matches!(
        disk.add_torrent(ih, storage(&fx, &fs)).await,
        Err(Error::DuplicateTorrent(_))
    ));
    for bad in [
        BlockRef {
            piece: PieceIndex(4),
            offset: 0,
            length: 16_384,
        },
        BlockRef {
            piece: PieceIndex(0),
            offset: 1,
            length: 16_384,
        },
        BlockRef {
            piece: PieceIndex(0),
            offset: 32_768,
            length: 16_384,
        },
        BlockRef {
            piece: PieceIndex(0),
            offset: 0,
            length: 100,
        },
        BlockRef {
            piece: PieceIndex(3),
            offset: 0,
            length: 16_384,
        },
    ] {
        let len = bad.length as usize;
        let r = disk
            .write_block(ih, bad, data.slice(..len), BlockTag(0))
            .await;
        assert!(
            matches!(r, Err(Error::BlockOutOfRange { .. })),
            "{bad:?}: {r:?}"
        );
    }
    let r = disk
        .read_block(
            ih,
            BlockRef {
                piece: PieceIndex(0),
                offset: 30_000,
                length: 5_000,
            },
        )
        .await;
    assert!(matches!(r, Err(Error::BlockOutOfRange { .. })), "{r:?}");
    let huge = bytes::Bytes::from(vec![0u8; 65 << 20]);
    let r = disk.write_block(ih, block, huge, BlockTag(0)).await;
    assert!(matches!(r, Err(Error::BlockTooLarge { .. })), "{r:?}");
    disk.remove_torrent(ih, false).await.unwrap();
    assert!(matches!(
        disk.flush(ih).await,
        Err(Error::UnknownTorrent(_))
    ));
}

#[tokio::test]
async fn remove_torrent_deletes_its_files_and_returns_its_cache() {
    let fx = Fixture::new(&[("a", 50_000), ("b", 30_000)], 16 * 1024, Version::V1, 10);
    let (disk, mut events) = DiskManager::start(DiskConfig::default());
    let fs = Arc::new(MemoryFileSystem::new());
    disk.add_torrent(fx.info_hash, storage(&fx, &fs))
        .await
        .unwrap();
    let blocks = fx.blocks();
    let (last, rest) = blocks.split_last().unwrap();
    for (block, data) in rest {
        disk.write_block(fx.info_hash, *block, data.clone(), BlockTag(1))
            .await
            .unwrap();
    }
    let n = fx.num_pieces() as usize - 1;
    let mut seen = Seen::default();
    events_until(&mut events, &mut seen, |s| s.verified.len() == n).await;
    let _ = last;
    assert!(!fs.paths().is_empty());
    disk.remove_torrent(fx.info_hash, true).await.unwrap();
    assert!(fs.paths().is_empty(), "{:?}", fs.paths());
    assert_eq!(disk.write_cache_used(), 0);
}

#[tokio::test]
async fn resume_data_rechecks_only_changed_files() {
    let fx = Fixture::new(
        &[("a", 100_000), ("b", 100_000)],
        16 * 1024,
        Version::Hybrid,
        11,
    );
    let (fs, _) = download(&fx, DiskConfig::default()).await;
    let (disk, _events) = DiskManager::start(DiskConfig::default());
    let faulty = Arc::new(bitswarm_disk::FaultyFileSystem::new(fs.clone()));
    let store = TorrentStorage {
        info: Arc::clone(&fx.info),
        fs: faulty.clone(),
    };
    disk.add_torrent(fx.info_hash, store).await.unwrap();
    let resume = disk.resume_data(fx.info_hash).await.unwrap();
    assert_eq!(
        resume.have.count_ones(),
        0,
        "not checked yet: nothing is verified"
    );
    // Resume data from when everything was there.
    let (disk2, _e2) = DiskManager::start(DiskConfig::default());
    disk2
        .add_torrent(fx.info_hash, storage(&fx, &fs))
        .await
        .unwrap();
    let full = disk2.check(fx.info_hash, CheckMode::Full).await.unwrap();
    assert!(full.is_full());
    let saved = disk2.resume_data(fx.info_hash).await.unwrap();
    assert!(saved.have.is_full());
    drop(disk2);
    drop(disk);

    // File b changes (a byte flipped, its mtime moves); a stays.
    let b = &fx.files.iter().find(|(p, _)| p.ends_with("b")).unwrap().0;
    std::thread::sleep(std::time::Duration::from_millis(5));
    let mut byte = [0u8; 1];
    fs.read_at(b, 0, &mut byte).unwrap();
    fs.write_at(b, 0, &[!byte[0]]).unwrap();
    // Reads of a would be corrupted: if a were rechecked, its pieces
    // would be lost; trusted, they stay.
    let a = fx
        .files
        .iter()
        .find(|(p, _)| p.ends_with("a"))
        .unwrap()
        .0
        .clone();
    let faulty = Arc::new(bitswarm_disk::FaultyFileSystem::new(fs.clone()));
    faulty.add(bitswarm_disk::Fault::CorruptRead {
        path: a,
        offsets: 0..u64::MAX,
    });
    let (disk, _events) = DiskManager::start(DiskConfig::default());
    let store = TorrentStorage {
        info: Arc::clone(&fx.info),
        fs: faulty.clone(),
    };
    disk.add_torrent(fx.info_hash, store).await.unwrap();
    let have = disk
        .check(fx.info_hash, CheckMode::Resume(saved.clone()))
        .await
        .unwrap();
    let b_first = fx
        .meta
        .layout()
        .pieces_of_file(
            fx.meta
                .files()
                .iter()
                .position(|f| f.path().to_string() == "b")
                .unwrap(),
        )
        .unwrap();
    for p in 0..fx.num_pieces() {
        let expect = p != b_first.start;
        assert_eq!(have.get(PieceIndex(p)), expect, "piece {p}");
    }

    // Resume data of another torrent is refused; a full check runs.
    let mut wrong = saved;
    wrong.files.pop();
    let (disk, mut events) = DiskManager::start(DiskConfig::default());
    disk.add_torrent(fx.info_hash, storage(&fx, &fs))
        .await
        .unwrap();
    let have = disk
        .check(fx.info_hash, CheckMode::Resume(wrong))
        .await
        .unwrap();
    assert_eq!(have.count_ones(), fx.num_pieces() - 1);
    let mut seen = Seen::default();
    events_until(&mut events, &mut seen, |s| !s.errors.is_empty()).await;
    assert!(matches!(seen.errors[0], Error::BadResumeData(_)));
}

#[tokio::test]
async fn v2_pieces_without_known_hashes_are_never_marked_good() {
    // From BEP 9 metadata: the info dictionary alone, no piece layers. A
    // file of one piece still has its hash (its pieces root); the pieces of
    // a larger file have none.
    for version in [Version::V2, Version::Hybrid] {
        let fx = Fixture::new(
            &[("big", 100_000), ("small", 10_000)],
            32 * 1024,
            version,
            12,
        );
        let meta =
            bitswarm_metainfo::Metainfo::from_info_bytes_unchecked(&fx.meta.info_bytes()).unwrap();
        assert!(!meta.has_piece_layers());
        let (disk, mut events) = DiskManager::start(DiskConfig::default());
        let fs = Arc::new(MemoryFileSystem::new());
        let info = Arc::new(meta.info().clone());
        disk.add_torrent(
            fx.info_hash,
            TorrentStorage {
                info,
                fs: fs.clone(),
            },
        )
        .await
        .unwrap();
        for (block, data) in fx.blocks() {
            disk.write_block(fx.info_hash, block, data, BlockTag(0))
                .await
                .unwrap();
        }
        let n = fx.num_pieces() as usize;
        let mut seen = Seen::default();
        events_until(&mut events, &mut seen, |s| {
            s.verified.len() + s.errors.len() == n
        })
        .await;
        let have = disk.have(fx.info_hash).await.unwrap();
        let unknown = seen
            .errors
            .iter()
            .filter(|e| matches!(e, Error::PieceHashUnknown(_)))
            .count();
        match version {
            // big.bin's 4 pieces cannot be verified; small's one can.
            Version::V2 => {
                assert_eq!(unknown, 4, "{seen:?}");
                assert_eq!(have.count_ones(), 1);
            }
            // In a hybrid, v1 decides.
            _ => {
                assert_eq!(unknown, 0, "{seen:?}");
                assert!(have.is_full());
            }
        }
    }
}

#[tokio::test]
async fn the_manager_stops_when_every_handle_is_dropped() {
    use futures::StreamExt;
    let (disk, mut events) = DiskManager::start(DiskConfig::default());
    let other = disk.clone();
    drop(disk);
    drop(other);
    let end = tokio::time::timeout(common::HANG, events.next())
        .await
        .unwrap();
    assert!(end.is_none(), "the event stream ends");
}

/// Counts reads, to see what the read cache saves.
#[derive(Debug)]
struct CountingFs {
    inner: MemoryFileSystem,
    reads: std::sync::atomic::AtomicUsize,
}

impl FileSystem for CountingFs {
    fn open(&self, path: &std::path::Path, length: u64) -> std::io::Result<()> {
        self.inner.open(path, length)
    }
    fn read_at(
        &self,
        path: &std::path::Path,
        offset: u64,
        buf: &mut [u8],
    ) -> std::io::Result<usize> {
        self.reads.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        self.inner.read_at(path, offset, buf)
    }
    fn write_at(&self, path: &std::path::Path, offset: u64, data: &[u8]) -> std::io::Result<usize> {
        self.inner.write_at(path, offset, data)
    }
    fn sync(&self, path: &std::path::Path) -> std::io::Result<()> {
        self.inner.sync(path)
    }
    fn set_len(&self, path: &std::path::Path, length: u64) -> std::io::Result<()> {
        self.inner.set_len(path, length)
    }
    fn remove(&self, path: &std::path::Path) -> std::io::Result<()> {
        self.inner.remove(path)
    }
    fn metadata(
        &self,
        path: &std::path::Path,
    ) -> std::io::Result<Option<bitswarm_disk::FileMetadata>> {
        self.inner.metadata(path)
    }
}

#[tokio::test]
async fn a_seeder_reading_blocks_in_order_reads_each_piece_once() {
    let fx = Fixture::single(8 * 65_536, 65_536, Version::V1, 13);
    let counting = Arc::new(CountingFs {
        inner: MemoryFileSystem::new(),
        reads: std::sync::atomic::AtomicUsize::new(0),
    });
    for (path, data) in fx.real_files() {
        counting.inner.open(&path, data.len() as u64).unwrap();
        counting.inner.write_at(&path, 0, &data).unwrap();
    }
    let config = DiskConfig {
        read_cache_bytes: 2 * 65_536,
        ..DiskConfig::default()
    };
    let (disk, _events) = DiskManager::start(config);
    let storage = TorrentStorage {
        info: Arc::clone(&fx.info),
        fs: counting.clone(),
    };
    disk.add_torrent(fx.info_hash, storage).await.unwrap();
    assert!(
        disk.check(fx.info_hash, CheckMode::Full)
            .await
            .unwrap()
            .is_full()
    );
    let after_check = counting.reads.load(std::sync::atomic::Ordering::SeqCst);
    for (block, data) in fx.blocks() {
        assert_eq!(disk.read_block(fx.info_hash, block).await.unwrap(), data);
    }
    let reads = counting.reads.load(std::sync::atomic::Ordering::SeqCst) - after_check;
    assert_eq!(reads, 8, "one read per piece, not per block");
    // Concurrent reads of one piece share one disk read too.
    let piece0: Vec<_> = fx
        .blocks()
        .into_iter()
        .filter(|(b, _)| b.piece.0 == 0)
        .collect();
    let reads_before = counting.reads.load(std::sync::atomic::Ordering::SeqCst);
    let all = futures::future::join_all(
        piece0
            .iter()
            .map(|(b, _)| disk.read_block(fx.info_hash, *b)),
    )
    .await;
    for ((_, want), got) in piece0.iter().zip(all) {
        assert_eq!(&got.unwrap(), want);
    }
    let reads = counting.reads.load(std::sync::atomic::Ordering::SeqCst) - reads_before;
    assert_eq!(reads, 1);
}
