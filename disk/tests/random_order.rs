//! Property: blocks written in any order, with duplicates, over pieces
//! that span many small files, empty files and pad files, give files equal
//! to the source, and every piece verifies exactly once.

mod common;

use std::collections::HashSet;
use std::sync::Arc;

use bitswarm_disk::{BlockTag, DiskConfig, DiskManager, MemoryFileSystem, TorrentStorage};
use bitswarm_metainfo::Version;
use common::{Fixture, Seen, events_until};
use proptest::prelude::*;

fn version() -> impl Strategy<Value = Version> {
    prop_oneof![Just(Version::V1), Just(Version::V2), Just(Version::Hybrid)]
}

fn shuffle<T>(items: &mut [T], mut seed: u64) {
    for i in (1..items.len()).rev() {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        items.swap(i, (seed % (i as u64 + 1)) as usize);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 40, ..ProptestConfig::default() })]

    #[test]
    fn any_order_with_duplicates_gives_the_source(
        lengths in proptest::collection::vec(prop_oneof![Just(0usize), 1usize..5_000, 1usize..60_000], 1..14),
        log2 in 14u32..16,
        version in version(),
        order_seed in 1u64..u64::MAX,
        duplicates in 0usize..40,
        small_cache in any::<bool>(),
    ) {
        prop_assume!(lengths.iter().sum::<usize>() > 0);
        let names: Vec<String> = (0..lengths.len()).map(|i| format!("d{}/f{i:02}", i % 3)).collect();
        let files: Vec<(&str, usize)> = names.iter().map(String::as_str).zip(lengths.iter().copied()).collect();
        let fx = Fixture::new(&files, 1 << log2, version, order_seed);
        let mut blocks: Vec<_> = fx.blocks().into_iter().enumerate().collect();
        let copies: Vec<_> = (0..duplicates).map(|i| blocks[(i * 7919) % blocks.len()].clone()).collect();
        blocks.extend(copies);
        shuffle(&mut blocks, order_seed);

        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        runtime.block_on(async {
            let config = DiskConfig {
                // Smaller than the pieces in flight: pieces are spilled.
                write_cache_bytes: if small_cache { 48 * 1024 } else { 64 << 20 },
                ..DiskConfig::default()
            };
            let (disk, mut events) = DiskManager::start(config);
            let memory = Arc::new(MemoryFileSystem::new());
            let storage = TorrentStorage { info: Arc::clone(&fx.info), fs: memory.clone() };
            disk.add_torrent(fx.info_hash, storage).await.unwrap();
            let writes = async {
                for (i, (block, data)) in blocks {
                    disk.write_block(fx.info_hash, block, data, BlockTag(i as u64)).await.unwrap();
                }
            };
            tokio::time::timeout(common::HANG, writes).await.expect("no deadlock");
            let n = fx.num_pieces() as usize;
            let mut seen = Seen::default();
            events_until(&mut events, &mut seen, |s| s.verified.len() >= n || !s.failed.is_empty() || !s.errors.is_empty()).await;
            assert!(seen.failed.is_empty() && seen.errors.is_empty(), "{seen:?}");
            assert_eq!(seen.verified.iter().collect::<HashSet<_>>().len(), n, "each piece once");
            disk.shutdown().await.unwrap();
            for (path, data) in fx.real_files() {
                assert_eq!(memory.contents(&path).as_deref(), Some(&data[..]), "{}", path.display());
            }
            for pad in fx.pad_files() {
                assert_eq!(memory.contents(&pad), None);
            }
        });
    }
}
