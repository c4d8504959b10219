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
