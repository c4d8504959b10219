//! Shared helpers of the integration tests: torrents built from
//! deterministic content, and event collection.
#![allow(dead_code, unreachable_pub)]

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bitswarm_core::{BlockRef, InfoHash, PieceIndex};
use bitswarm_disk::{DiskEvent, DiskEvents};
use bitswarm_metainfo::{Info, Metainfo, TorrentBuilder, Version};
use futures::StreamExt;

/// A guard against a hang: far above what any test needs.
pub const HANG: Duration = Duration::from_secs(120);

/// Deterministic bytes (xorshift), different per seed.
pub fn bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

/// A torrent made from deterministic files.
pub struct Fixture {
    pub meta: Metainfo,
    pub info: Arc<Info>,
    pub info_hash: InfoHash,
    /// Per file of the layout: its storage path and content (pads: zeros).
    pub files: Vec<(PathBuf, Vec<u8>)>,
    pub dir: tempfile::TempDir,
}

impl Fixture {
    /// `files` under a folder `t` (or one file named `t` when `single`).
    pub fn new(files: &[(&str, usize)], piece_length: u64, version: Version, seed: u64) -> Self {
        Self::build(files, piece_length, version, seed, false)
    }

    /// A single-file torrent.
    pub fn single(len: usize, piece_length: u64, version: Version, seed: u64) -> Self {
        Self::build(&[("t", len)], piece_length, version, seed, true)
    }

    fn build(
        files: &[(&str, usize)],
        piece_length: u64,
        version: Version,
        seed: u64,
        single: bool,
    ) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("t");
        if single {
            std::fs::write(&root, bytes(files[0].1, seed)).unwrap();
        } else {
            for (i, (name, len)) in files.iter().enumerate() {
                let path = root.join(name);
                std::fs::create_dir_all(path.parent().unwrap()).unwrap();
                std::fs::write(&path, bytes(*len, seed + i as u64)).unwrap();
            }
        }
        let meta = TorrentBuilder::new(&root)
            .version(version)
            .piece_length(piece_length)
            .creation_date(None)
            .build()
            .unwrap();
        let layout = meta.layout();
        let files = (0..layout.files().len())
            .map(|i| {
                let rel = meta.file_path_in(Path::new(""), i).unwrap();
                let f = &layout.files()[i];
                let data = if f.is_pad() {
                    vec![0; f.length() as usize]
                } else {
                    std::fs::read(dir.path().join(&rel)).unwrap()
                };
                (rel, data)
            })
            .collect();
        Self {
            info: Arc::new(meta.info().clone()),
            info_hash: meta.info_hash(),
            meta,
            files,
            dir,
        }
    }

    pub fn num_pieces(&self) -> u32 {
        self.meta.num_pieces()
    }

    pub fn piece_size(&self, piece: u32) -> u32 {
        self.meta.layout().piece_size(piece).unwrap() as u32
    }

    /// The bytes of a piece, pads as zeros.
    pub fn piece(&self, piece: u32) -> Vec<u8> {
        let mut out = Vec::new();
        for s in self.meta.layout().piece_spans(piece).unwrap() {
            let data = &self.files[s.file].1;
            out.extend_from_slice(
                &data[s.file_offset as usize..(s.file_offset + s.length) as usize],
            );
        }
        out
    }

    /// Every standard block of the torrent with its data.
    pub fn blocks(&self) -> Vec<(BlockRef, bytes::Bytes)> {
        let mut out = Vec::new();
        for p in 0..self.num_pieces() {
            let data = self.piece(p);
            for b in BlockRef::blocks_of(PieceIndex(p), self.piece_size(p)) {
                let at = b.offset as usize;
                out.push((
                    b,
                    bytes::Bytes::copy_from_slice(&data[at..at + b.length as usize]),
                ));
            }
        }
        out
    }

    /// The non-pad files: (storage path, content).
    pub fn real_files(&self) -> Vec<(PathBuf, Vec<u8>)> {
        let layout = self.meta.layout();
        self.files
            .iter()
            .enumerate()
            .filter(|(i, _)| !layout.files()[*i].is_pad())
            .map(|(_, f)| f.clone())
            .collect()
    }

    /// Pads' storage paths.
    pub fn pad_files(&self) -> Vec<PathBuf> {
        let layout = self.meta.layout();
        self.files
            .iter()
            .enumerate()
            .filter(|(i, _)| layout.files()[*i].is_pad())
            .map(|(_, f)| f.0.clone())
            .collect()
    }
}

/// What a run of events said, per kind.
#[derive(Debug, Default)]
pub struct Seen {
    pub verified: Vec<u32>,
    pub failed: Vec<(u32, Vec<(BlockRef, bitswarm_disk::BlockTag)>)>,
    pub errors: Vec<bitswarm_disk::Error>,
    pub progress: Vec<(u32, u32)>,
}

impl Seen {
    pub fn take(&mut self, event: DiskEvent) {
        match event {
            DiskEvent::PieceVerified { piece, .. } => self.verified.push(piece.0),
            DiskEvent::PieceFailed { piece, blocks, .. } => self.failed.push((piece.0, blocks)),
            DiskEvent::TorrentError { error, .. } => self.errors.push(error),
            DiskEvent::CheckProgress { checked, total, .. } => self.progress.push((checked, total)),
            other => panic!("unexpected event {other:?}"),
        }
    }
}

/// Reads events until `done(&seen)`; panics after `HANG`.
pub async fn events_until(events: &mut DiskEvents, seen: &mut Seen, done: impl Fn(&Seen) -> bool) {
    let wait = async {
        while !done(seen) {
            match events.next().await {
                Some(e) => seen.take(e),
                None => panic!("event stream ended"),
            }
        }
    };
    tokio::time::timeout(HANG, wait)
        .await
        .expect("events in time");
}
