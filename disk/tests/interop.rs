//! Interop with libtorrent (python3-libtorrent): content libtorrent
//! downloaded verifies under our full check, and files we wrote pass
//! libtorrent's full recheck. Hybrid torrents made by libtorrent, with
//! BEP 47 pad files and an empty file, so that v1 and v2 hashes are both
//! checked on our side.
//!
//! ```text
//! cargo test -p bitswarm-disk --test interop -- --include-ignored
//! ```

mod common;

use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use bitswarm_core::PieceIndex;
use bitswarm_disk::{
    BlockTag, CheckMode, DiskConfig, DiskManager, FileSystem, NativeFileSystem, TorrentStorage,
};
use bitswarm_metainfo::Metainfo;
use bitswarm_testkit::content::{AWKWARD_TREE, write_tree};
use bitswarm_testkit::libtorrent;
use bitswarm_testkit::lt_session::{LtSession, SessionSpec, TorrentSpec};
use common::{Seen, events_until};

/// A hybrid torrent of AWKWARD_TREE plus a larger file, made by libtorrent;
/// returns (content parent folder, torrent file, parsed torrent).
fn libtorrent_torrent(
    dir: &Path,
    v1_only: bool,
) -> (std::path::PathBuf, std::path::PathBuf, Metainfo) {
    let parent = dir.join("seed");
    let root = parent.join("tree");
    let mut files: Vec<(&str, u64)> = AWKWARD_TREE.to_vec();
    files.push(("big.bin", 3_000_000));
    write_tree(&root, &files, 77).unwrap();
    let torrent = dir.join("tree.torrent");
    libtorrent::create_torrent(&root, &torrent, v1_only).unwrap_or_else(|e| panic!("{e}"));
    let meta = Metainfo::from_bytes(&std::fs::read(&torrent).unwrap()).unwrap();
    (parent, torrent, meta)
}

async fn our_full_check(meta: &Metainfo, save_path: &Path) -> bitswarm_core::Bitfield {
    let (disk, _events) = DiskManager::start(DiskConfig::default());
    let storage = TorrentStorage {
        info: Arc::new(meta.info().clone()),
        fs: Arc::new(NativeFileSystem::new(save_path)),
    };
    disk.add_torrent(meta.info_hash(), storage).await.unwrap();
    let have = disk.check(meta.info_hash(), CheckMode::Full).await.unwrap();
    disk.shutdown().await.unwrap();
    have
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs python3-libtorrent: run scripts/test-all"]
async fn content_libtorrent_downloaded_verifies_under_our_check() {
    for v1_only in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let (seed_dir, torrent, meta) = libtorrent_torrent(dir.path(), v1_only);
        assert!(v1_only || meta.version().has_v2());
        assert!(
            meta.files().iter().any(|f| f.is_pad()) || v1_only,
            "libtorrent's hybrid has pad files"
        );
        let seeder = LtSession::start(&SessionSpec {
            torrents: vec![TorrentSpec {
                torrent: Some(torrent.clone()),
                seed_mode: true,
                ..TorrentSpec::new(&seed_dir)
            }],
            stop_after: Duration::from_secs(60),
            ..SessionSpec::default()
        })
        .unwrap_or_else(|e| panic!("{e}"));
        let leech_dir = dir.path().join("leech");
        std::fs::create_dir_all(&leech_dir).unwrap();
        let mut leecher = LtSession::start(&SessionSpec {
            torrents: vec![TorrentSpec {
                torrent: Some(torrent.clone()),
                peers: vec![SocketAddr::from((Ipv4Addr::LOCALHOST, seeder.port()))],
                ..TorrentSpec::new(&leech_dir)
            }],
            stop_after: Duration::from_secs(60),
            ..SessionSpec::default()
        })
        .unwrap_or_else(|e| panic!("{e}"));
        leecher
            .wait_for(Duration::from_secs(50), |e| e["event"] == "finished")
            .unwrap_or_else(|e| panic!("libtorrent did not download: {e}"));
        drop(leecher);
        drop(seeder);

        let have = our_full_check(&meta, &leech_dir).await;
        assert!(have.is_full(), "v1_only {v1_only}: {have:?}");

        // And one flipped byte in the middle of big.bin loses its piece only.
        let big = leech_dir.join("tree/big.bin");
        let mut data = std::fs::read(&big).unwrap();
        data[1_500_000] ^= 0x40;
        std::fs::write(&big, &data).unwrap();
        let have = our_full_check(&meta, &leech_dir).await;
        assert_eq!(have.count_ones(), meta.num_pieces() - 1);
        let index = meta
            .files()
            .iter()
            .position(|f| f.path().to_string() == "big.bin")
            .unwrap();
        let bad = (meta.files()[index].offset() + 1_500_000) / meta.piece_length();
        assert!(!have.get(PieceIndex(bad as u32)));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs python3-libtorrent: run scripts/test-all"]
async fn files_we_wrote_pass_libtorrents_recheck() {
    for v1_only in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let (seed_dir, torrent, meta) = libtorrent_torrent(dir.path(), v1_only);
        // The blocks, from the seed's files (pads as zeros).
        let source = NativeFileSystem::new(&seed_dir);
        let layout = meta.layout();
        let save = dir.path().join("ours");
        let (disk, mut events) = DiskManager::start(DiskConfig {
            // Smaller than the torrent: pieces are also spilled and read back.
            write_cache_bytes: 256 * 1024,
            ..DiskConfig::default()
        });
        let storage = TorrentStorage {
            info: Arc::new(meta.info().clone()),
            fs: Arc::new(NativeFileSystem::new(&save)),
        };
        disk.add_torrent(meta.info_hash(), storage).await.unwrap();
        // Pieces in reverse order, blocks within a piece from last to first.
        for p in (0..meta.num_pieces()).rev() {
            let mut piece = Vec::new();
            for s in layout.piece_spans(p).unwrap() {
                let f = &layout.files()[s.file];
                let mut buf = vec![0u8; s.length as usize];
                if !f.is_pad() && s.length > 0 {
                    let path = meta.file_path_in(Path::new(""), s.file).unwrap();
                    source.read_at(&path, s.file_offset, &mut buf).unwrap();
                }
                piece.extend_from_slice(&buf);
            }
            let size = piece.len() as u32;
            let blocks: Vec<_> = bitswarm_core::BlockRef::blocks_of(PieceIndex(p), size).collect();
            for b in blocks.into_iter().rev() {
                let data = bytes::Bytes::copy_from_slice(
                    &piece[b.offset as usize..(b.offset + b.length) as usize],
                );
                disk.write_block(meta.info_hash(), b, data, BlockTag(0))
                    .await
                    .unwrap();
            }
        }
        let n = meta.num_pieces() as usize;
        let mut seen = Seen::default();
        events_until(&mut events, &mut seen, |s| s.verified.len() == n).await;
        assert!(seen.failed.is_empty() && seen.errors.is_empty());
        disk.shutdown().await.unwrap();
        // Pad files were never written.
        for (i, f) in layout.files().iter().enumerate() {
            let path = meta.file_path_in(&save, i).unwrap();
            assert_eq!(path.exists(), !f.is_pad(), "{}", path.display());
        }
        let result = tokio::task::spawn_blocking(move || libtorrent::recheck(&torrent, &save))
            .await
            .unwrap()
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(result.valid, result.pieces, "v1_only {v1_only}");
        assert_eq!(result.pieces, meta.num_pieces());
    }
}
