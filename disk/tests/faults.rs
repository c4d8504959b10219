//! Storage faults (through `FaultyFileSystem`): each surfaces as its event,
//! acknowledged blocks are not lost, and nothing is marked good that is not.

mod common;

use std::collections::HashSet;
use std::sync::Arc;

use bitswarm_core::{BlockRef, PieceIndex};
use bitswarm_disk::{
    BlockTag, CheckMode, DiskConfig, DiskHandle, DiskManager, Error, Fault, FaultyFileSystem,
    MemoryFileSystem, TorrentStorage,
};
use bitswarm_metainfo::Version;
use common::{Fixture, Seen, events_until};

struct Rig {
    fx: Fixture,
    memory: Arc<MemoryFileSystem>,
    faulty: Arc<FaultyFileSystem>,
    disk: DiskHandle,
    events: bitswarm_disk::DiskEvents,
    seen: Seen,
}

async fn rig(fx: Fixture, config: DiskConfig) -> Rig {
    let memory = Arc::new(MemoryFileSystem::new());
    let faulty = Arc::new(FaultyFileSystem::new(memory.clone()));
    let (disk, events) = DiskManager::start(config);
    let storage = TorrentStorage {
        info: Arc::clone(&fx.info),
        fs: faulty.clone(),
    };
    disk.add_torrent(fx.info_hash, storage).await.unwrap();
    Rig {
        fx,
        memory,
        faulty,
        disk,
        events,
        seen: Seen::default(),
    }
}

impl Rig {
    /// Every piece the manager says it has is on disk, byte for byte.
    async fn assert_have_is_good(&self) {
        let have = self.disk.have(self.fx.info_hash).await.unwrap();
        for p in have.iter_ones() {
            let mut on_disk = Vec::new();
            for s in self.fx.meta.layout().piece_spans(p.0).unwrap() {
                let (path, data) = &self.fx.files[s.file];
                let range = s.file_offset as usize..(s.file_offset + s.length) as usize;
                if self.fx.meta.files()[s.file].is_pad() {
                    on_disk.extend_from_slice(&data[range]);
                } else {
                    let stored = self.memory.contents(path).unwrap_or_default();
                    on_disk.extend_from_slice(stored.get(range).unwrap_or(&[]));
                }
            }
            assert_eq!(on_disk, self.fx.piece(p.0), "piece {p} marked good is good");
        }
        for v in &self.seen.verified {
            assert!(have.get(PieceIndex(*v)), "verified piece {v} is in have");
        }
    }
}

fn io_error(e: &Error) -> &std::io::Error {
    match e {
        Error::Io { source, .. } => source,
        other => panic!("not an I/O error: {other}"),
    }
}

#[tokio::test]
async fn disk_full_mid_torrent_pauses_and_loses_no_acknowledged_block() {
    let fx = Fixture::single(20 * 32_768, 32_768, Version::V1, 20);
    let mut r = rig(fx, DiskConfig::default()).await;
    // Room for five and a half pieces.
    r.faulty.add(Fault::NoSpace {
        after_bytes: 5 * 32_768 + 16_384,
    });
    let mut refused = Vec::new();
    for (block, data) in r.fx.blocks() {
        match r
            .disk
            .write_block(r.fx.info_hash, block, data.clone(), BlockTag(1))
            .await
        {
            Ok(()) => {}
            Err(Error::Paused(_)) => refused.push((block, data)),
            Err(e) => panic!("{e}"),
        }
        // Let the manager work, so that the pause is seen mid-torrent.
        tokio::task::yield_now().await;
    }
    events_until(&mut r.events, &mut r.seen, |s| !s.errors.is_empty()).await;
    let e = io_error(&r.seen.errors[0]);
    assert_eq!(e.kind(), std::io::ErrorKind::StorageFull);
    assert!(r.seen.verified.len() <= 5, "{:?}", r.seen.verified);
    r.assert_have_is_good().await;
    assert!(matches!(
        r.disk.flush(r.fx.info_hash).await,
        Err(Error::Paused(_))
    ));

    // Room again: resume, and send only what was refused.
    r.faulty.clear();
    r.disk.resume_io(r.fx.info_hash).await.unwrap();
    for (block, data) in refused {
        r.disk
            .write_block(r.fx.info_hash, block, data, BlockTag(1))
            .await
            .unwrap();
    }
    events_until(&mut r.events, &mut r.seen, |s| s.verified.len() == 20).await;
    r.disk.flush(r.fx.info_hash).await.unwrap();
    r.assert_have_is_good().await;
    assert!(r.disk.have(r.fx.info_hash).await.unwrap().is_full());
    let unique: HashSet<_> = r.seen.verified.iter().collect();
    assert_eq!(unique.len(), 20, "each piece verified once");
}

#[tokio::test]
async fn write_error_pauses_and_the_piece_is_written_after_resume() {
    let fx = Fixture::new(
        &[("a", 100_000), ("b", 60_000)],
        32_768,
        Version::Hybrid,
        21,
    );
    let mut r = rig(fx, DiskConfig::default()).await;
    let b =
        r.fx.files
            .iter()
            .find(|(p, _)| p.ends_with("b"))
            .unwrap()
            .0
            .clone();
    r.faulty.add(Fault::WriteError {
        path: Some(b),
        offsets: 0..u64::MAX,
    });
    let blocks = r.fx.blocks();
    for (block, data) in &blocks {
        // Some writes come after the pause.
        let _ = r
            .disk
            .write_block(r.fx.info_hash, *block, data.clone(), BlockTag(2))
            .await;
    }
    events_until(&mut r.events, &mut r.seen, |s| !s.errors.is_empty()).await;
    let e = io_error(&r.seen.errors[0]);
    assert_eq!(e.raw_os_error(), Some(5), "EIO: {e}");
    r.assert_have_is_good().await;
    let have = r.disk.have(r.fx.info_hash).await.unwrap();
    assert!(!have.is_full());

    r.faulty.clear();
    r.disk.resume_io(r.fx.info_hash).await.unwrap();
    // Anything refused while paused comes again (duplicates are dropped).
    for (block, data) in &blocks {
        r.disk
            .write_block(r.fx.info_hash, *block, data.clone(), BlockTag(2))
            .await
            .unwrap();
    }
    let n = r.fx.num_pieces() as usize;
    events_until(&mut r.events, &mut r.seen, |s| {
        s.verified.iter().collect::<HashSet<_>>().len() == n
    })
    .await;
    r.assert_have_is_good().await;
    for (path, data) in r.fx.real_files() {
        assert_eq!(r.memory.contents(&path).unwrap(), data);
    }
}

#[tokio::test]
async fn short_writes_are_continued() {
    let fx = Fixture::new(
        &[("a", 70_000), ("b", 1), ("c", 40_000)],
        16_384,
        Version::V1,
        22,
    );
    let mut r = rig(fx, DiskConfig::default()).await;
    r.faulty.add(Fault::ShortWrite { max: 1000 });
    for (block, data) in r.fx.blocks() {
        r.disk
            .write_block(r.fx.info_hash, block, data, BlockTag(0))
            .await
            .unwrap();
    }
    let n = r.fx.num_pieces() as usize;
    events_until(&mut r.events, &mut r.seen, |s| s.verified.len() == n).await;
    assert!(r.seen.errors.is_empty());
    assert!(r.faulty.triggered() > 0);
    for (path, data) in r.fx.real_files() {
        assert_eq!(r.memory.contents(&path).unwrap(), data);
    }
}

#[tokio::test]
async fn writes_that_make_no_progress_are_errors_not_loops() {
    let fx = Fixture::single(50_000, 16_384, Version::V1, 23);
    let mut r = rig(fx, DiskConfig::default()).await;
    r.faulty.add(Fault::ShortWrite { max: 0 });
    for (block, data) in r.fx.blocks() {
        let _ = r
            .disk
            .write_block(r.fx.info_hash, block, data, BlockTag(0))
            .await;
    }
    events_until(&mut r.events, &mut r.seen, |s| !s.errors.is_empty()).await;
    assert_eq!(
        io_error(&r.seen.errors[0]).kind(),
        std::io::ErrorKind::WriteZero
    );
    r.assert_have_is_good().await;
}

/// Writes all of `fx` to `memory` directly, as if downloaded earlier.
fn store_all(fx: &Fixture, memory: &MemoryFileSystem) {
    use bitswarm_disk::FileSystem;
    for (path, data) in fx.real_files() {
        memory.open(&path, data.len() as u64).unwrap();
        memory.write_at(&path, 0, &data).unwrap();
    }
}

#[tokio::test]
async fn corrupted_reads_fail_the_check_of_their_pieces_only() {
    let fx = Fixture::single(10 * 32_768, 32_768, Version::Hybrid, 24);
    let mut r = rig(fx, DiskConfig::default()).await;
    store_all(&r.fx, &r.memory);
    // One byte of piece 3 and one of piece 7 read back flipped.
    let path = r.fx.files[0].0.clone();
    r.faulty.add(Fault::CorruptRead {
        path: path.clone(),
        offsets: 3 * 32_768 + 5..3 * 32_768 + 6,
    });
    r.faulty.add(Fault::CorruptRead {
        path,
        offsets: 7 * 32_768..7 * 32_768 + 1,
    });
    let have = r.disk.check(r.fx.info_hash, CheckMode::Full).await.unwrap();
    let missing: Vec<u32> = (0..10).filter(|p| !have.get(PieceIndex(*p))).collect();
    assert_eq!(missing, [3, 7]);
    events_until(&mut r.events, &mut r.seen, |s| {
        s.progress.last() == Some(&(10, 10))
    })
    .await;
    let checked: Vec<u32> = r.seen.progress.iter().map(|p| p.0).collect();
    assert!(
        checked.windows(2).all(|w| w[0] <= w[1]),
        "progress only grows"
    );
}

#[tokio::test]
async fn read_errors_in_a_check_pause_the_torrent() {
    let fx = Fixture::single(10 * 32_768, 32_768, Version::V1, 25);
    let mut r = rig(fx, DiskConfig::default()).await;
    store_all(&r.fx, &r.memory);
    r.faulty.add(Fault::ReadError {
        path: None,
        offsets: 100_000..100_001,
    });
    let e = r
        .disk
        .check(r.fx.info_hash, CheckMode::Full)
        .await
        .unwrap_err();
    assert!(matches!(e, Error::Io { .. }), "{e}");
    events_until(&mut r.events, &mut r.seen, |s| !s.errors.is_empty()).await;
    assert_eq!(io_error(&r.seen.errors[0]).raw_os_error(), Some(5));
    let block = BlockRef {
        piece: PieceIndex(0),
        offset: 0,
        length: 16_384,
    };
    let data = bytes::Bytes::from(r.fx.piece(0)[..16_384].to_vec());
    assert!(matches!(
        r.disk
            .write_block(r.fx.info_hash, block, data, BlockTag(0))
            .await,
        Err(Error::Paused(_))
    ));
    // After resume_io and with the fault gone, a check finds everything.
    r.faulty.clear();
    r.disk.resume_io(r.fx.info_hash).await.unwrap();
    let have = r.disk.check(r.fx.info_hash, CheckMode::Full).await.unwrap();
    assert!(have.is_full());
}

#[tokio::test]
async fn read_errors_while_seeding_are_reported() {
    let fx = Fixture::single(4 * 32_768, 32_768, Version::V1, 26);
    let mut r = rig(fx, DiskConfig::default()).await;
    store_all(&r.fx, &r.memory);
    assert!(
        r.disk
            .check(r.fx.info_hash, CheckMode::Full)
            .await
            .unwrap()
            .is_full()
    );
    r.faulty.add(Fault::ReadError {
        path: None,
        offsets: 0..u64::MAX,
    });
    let block = BlockRef {
        piece: PieceIndex(1),
        offset: 0,
        length: 16_384,
    };
    let e = r.disk.read_block(r.fx.info_hash, block).await.unwrap_err();
    assert!(matches!(e, Error::Io { .. }), "{e}");
    events_until(&mut r.events, &mut r.seen, |s| !s.errors.is_empty()).await;
    r.faulty.clear();
    let got = r.disk.read_block(r.fx.info_hash, block).await.unwrap();
    assert_eq!(&got[..], &r.fx.piece(1)[..16_384]);
}

#[tokio::test]
async fn sync_errors_fail_flush() {
    let fx = Fixture::single(2 * 16_384, 16_384, Version::V1, 27);
    let mut r = rig(fx, DiskConfig::default()).await;
    for (block, data) in r.fx.blocks() {
        r.disk
            .write_block(r.fx.info_hash, block, data, BlockTag(0))
            .await
            .unwrap();
    }
    events_until(&mut r.events, &mut r.seen, |s| s.verified.len() == 2).await;
    r.faulty.add(Fault::SyncError { path: None });
    let e = r.disk.flush(r.fx.info_hash).await.unwrap_err();
    assert!(matches!(e, Error::Io { op: "sync", .. }), "{e}");
    events_until(&mut r.events, &mut r.seen, |s| !s.errors.is_empty()).await;
    assert!(matches!(r.seen.errors[0], Error::Io { op: "sync", .. }));
}

#[tokio::test]
async fn a_paused_torrent_keeps_its_blocks_and_shutdown_frees_waiting_writers() {
    // The cache holds one block; torrent A's only piece fails to write and
    // A pauses, keeping the block (acknowledged, not lost).
    let config = DiskConfig {
        write_cache_bytes: 16_384,
        ..DiskConfig::default()
    };
    let a = Fixture::single(16_384, 16_384, Version::V1, 28);
    let mut r = rig(a, config).await;
    r.faulty.add(Fault::WriteError {
        path: None,
        offsets: 0..u64::MAX,
    });
    let (block, data) = r.fx.blocks().remove(0);
    r.disk
        .write_block(r.fx.info_hash, block, data, BlockTag(0))
        .await
        .unwrap();
    events_until(&mut r.events, &mut r.seen, |s| !s.errors.is_empty()).await;
    assert_eq!(
        r.disk.write_cache_used(),
        16_384,
        "the failed piece's block is kept"
    );

    // Torrent B's writer waits for room that only A's resume can give.
    let b = Fixture::single(32_768, 32_768, Version::V1, 29);
    let memory = Arc::new(MemoryFileSystem::new());
    let storage = TorrentStorage {
        info: Arc::clone(&b.info),
        fs: memory,
    };
    r.disk.add_torrent(b.info_hash, storage).await.unwrap();
    let (block, data) = b.blocks().remove(0);
    let disk = r.disk.clone();
    let ih = b.info_hash;
    let waiter = tokio::spawn(async move { disk.write_block(ih, block, data, BlockTag(1)).await });
    tokio::task::yield_now().await;
    assert!(!waiter.is_finished());
    r.disk.shutdown().await.unwrap();
    let result = tokio::time::timeout(common::HANG, waiter)
        .await
        .unwrap()
        .unwrap();
    assert!(matches!(result, Err(Error::Shutdown)), "{result:?}");
}
