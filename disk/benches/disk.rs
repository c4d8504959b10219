//! The write path: 16 KiB blocks of pieces in random order, from four
//! writer tasks, until every piece is verified and written; into memory
//! (`MemoryFileSystem`) and into files on a tmpfs (`NativeFileSystem` in
//! `/dev/shm`).
//!
//! ```text
//! cargo bench -p bitswarm-disk --bench disk
//! ```
#![allow(missing_docs)]

use std::path::Path;
use std::sync::Arc;

use bitswarm_core::{BlockRef, InfoHash, PieceIndex};
use bitswarm_disk::{
    BlockTag, DiskConfig, DiskEvent, DiskManager, FileSystem, MemoryFileSystem, NativeFileSystem,
    TorrentStorage,
};
use bitswarm_metainfo::{Info, TorrentBuilder, Version};
use bytes::Bytes;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use futures::StreamExt;

const MIB: usize = 64;
const PIECE: usize = 256 * 1024;
const WRITERS: usize = 4;

struct Source {
    info: Arc<Info>,
    info_hash: InfoHash,
    /// Blocks grouped by piece, pieces in a random order.
    pieces: Vec<Vec<(BlockRef, Bytes)>>,
}

fn source() -> Source {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("data.bin");
    let mut x: u64 = 0x1234_5678_9abc_def1;
    let data: Vec<u8> = (0..MIB << 20)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    std::fs::write(&path, &data).unwrap();
    let meta = TorrentBuilder::new(&path)
        .version(Version::V1)
        .piece_length(PIECE as u64)
        .build()
        .unwrap();
    let data = Bytes::from(data);
    let mut pieces: Vec<Vec<(BlockRef, Bytes)>> = (0..meta.num_pieces())
        .map(|p| {
            let size = meta.layout().piece_size(p).unwrap() as u32;
            BlockRef::blocks_of(PieceIndex(p), size)
                .map(|b| {
                    let at = p as usize * PIECE + b.offset as usize;
                    (b, data.slice(at..at + b.length as usize))
                })
                .collect()
        })
        .collect();
    for i in (1..pieces.len()).rev() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        pieces.swap(i, (x % (i as u64 + 1)) as usize);
    }
    Source {
        info: Arc::new(meta.info().clone()),
        info_hash: meta.info_hash(),
        pieces,
    }
}

/// Writes every block and waits for every piece to verify.
async fn download(src: &Source, fs: Arc<dyn FileSystem>) {
    let (disk, mut events) = DiskManager::start(DiskConfig::default());
    let storage = TorrentStorage {
        info: Arc::clone(&src.info),
        fs,
    };
    disk.add_torrent(src.info_hash, storage).await.unwrap();
    let mut writers = Vec::new();
    for w in 0..WRITERS {
        let disk = disk.clone();
        let ih = src.info_hash;
        let blocks: Vec<(BlockRef, Bytes)> = src
            .pieces
            .iter()
            .skip(w)
            .step_by(WRITERS)
            .flatten()
            .cloned()
            .collect();
        writers.push(tokio::spawn(async move {
            for (block, data) in blocks {
                disk.write_block(ih, block, data, BlockTag(w as u64))
                    .await
                    .unwrap();
            }
        }));
    }
    let mut verified = 0;
    while verified < src.pieces.len() {
        match events.next().await {
            Some(DiskEvent::PieceVerified { .. }) => verified += 1,
            other => panic!("{other:?}"),
        }
    }
    for w in writers {
        w.await.unwrap();
    }
    disk.shutdown().await.unwrap();
}

/// Best of three runs, by wall-clock time, with the process's CPU time over
/// the same run: printed before criterion's figures, which are wall-clock
/// only and so depend on what else the machine runs.
fn cpu_report(
    src: &Source,
    runtime: &tokio::runtime::Runtime,
    name: &str,
    make: &dyn Fn(usize) -> Arc<dyn FileSystem>,
) {
    let mut best: Option<(f64, f64)> = None;
    for run in 0..3 {
        let fs = make(run);
        let wall = std::time::Instant::now();
        let cpu = cpu_time::ProcessTime::now();
        runtime.block_on(download(src, fs));
        let (wall, cpu) = (wall.elapsed().as_secs_f64(), cpu.elapsed().as_secs_f64());
        if best.is_none_or(|(w, _)| wall < w) {
            best = Some((wall, cpu));
        }
    }
    if let Some((wall, cpu)) = best {
        let gb = (MIB << 20) as f64 / 1e9;
        eprintln!(
            "{name}: {:.3} s, {:.2} GB/s; CPU time {:.3} s, {:.2} GB per CPU-second",
            wall,
            gb / wall,
            cpu,
            gb / cpu
        );
    }
}

fn write_path(c: &mut Criterion) {
    let src = source();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let shm = Path::new("/dev/shm");
    let report_dir = if shm.is_dir() {
        tempfile::tempdir_in(shm).unwrap()
    } else {
        tempfile::tempdir().unwrap()
    };
    cpu_report(
        &src,
        &runtime,
        &format!("write_path/memory_{MIB}MiB"),
        &|_| Arc::new(MemoryFileSystem::new()),
    );
    cpu_report(
        &src,
        &runtime,
        &format!("write_path/native_tmpfs_{MIB}MiB"),
        &|run| {
            Arc::new(NativeFileSystem::new(
                report_dir.path().join(run.to_string()),
            ))
        },
    );
    drop(report_dir);
    let mut group = c.benchmark_group("write_path");
    group.sample_size(10);
    group.throughput(Throughput::Bytes((MIB << 20) as u64));
    group.bench_function(format!("memory_{MIB}MiB"), |b| {
        b.iter(|| runtime.block_on(download(&src, Arc::new(MemoryFileSystem::new()))));
    });
    let shm = Path::new("/dev/shm");
    let base = if shm.is_dir() {
        tempfile::tempdir_in(shm).unwrap()
    } else {
        tempfile::tempdir().unwrap()
    };
    let mut run = 0;
    group.bench_function(format!("native_tmpfs_{MIB}MiB"), |b| {
        b.iter(|| {
            run += 1;
            let root = base.path().join(run.to_string());
            runtime.block_on(download(&src, Arc::new(NativeFileSystem::new(&root))));
            let _ = std::fs::remove_dir_all(&root);
        });
    });
    group.finish();
}

criterion_group!(benches, write_path);
criterion_main!(benches);
