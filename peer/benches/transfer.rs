//! Two PeerManagers on loopback TCP moving 1 GiB of blocks, beside two
//! libtorrent sessions doing the same in the same run; prints both rates and
//! their ratio. A plain timed harness: one transfer takes seconds, and
//! libtorrent runs in its own process.
//!
//! ```text
//! cargo bench -p bitswarm-peer --bench transfer
//! BITSWARM_TRANSFER_MIB=256 BITSWARM_TRANSFER_RUNS=5 cargo bench -p bitswarm-peer --bench transfer
//! ```
//!
//! bitswarm: the seeder serves `Bytes` slices of content held in memory; the
//! leecher keeps 256 requests in flight and drops each block after counting
//! it (no disk, no hashing). libtorrent (python3-libtorrent, default
//! settings, TCP): the seeder in seed mode, the leecher writing to a
//! temporary folder and hashing each piece. Times run from the connect to
//! the last block (bitswarm) or to `torrent_finished_alert` (libtorrent).

use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use bitswarm_core::{Bitfield, BlockRef, InfoHash, InfoHashV1, PieceIndex};
use bitswarm_handshake::{HandshakeConfig, HandshakeEvent, HandshakeManager, Handshaker};
use bitswarm_peer::{
    Block, Message, PeerCodec, PeerEvent, PeerInfo, PeerManager, PeerManagerConfig,
};
use bytes::Bytes;

const PIECE: u32 = 1 << 20;
const IN_FLIGHT: usize = 256;

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

async fn bitswarm_once(data: Bytes) -> Duration {
    let pieces = (data.len() as u64).div_ceil(u64::from(PIECE)) as u32;
    let info_hash = InfoHash::V1(InfoHashV1([0x42; 20]));
    let (seed_hs, mut seed_conns) =
        HandshakeManager::start(HandshakeConfig::new(bitswarm_handshake::peer_id()), vec![]);
    seed_hs.register(info_hash);
    let addr: SocketAddr = seed_hs
        .listen("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let (seeder, mut seed_events) = PeerManager::start(PeerManagerConfig::default());
    let seed_data = data.clone();
    let seeding = tokio::spawn(async move {
        let Some(HandshakeEvent::Connected(c)) = seed_conns.next_event().await else {
            panic!("incoming handshake failed")
        };
        let codec = PeerCodec::for_torrent(pieces);
        let key = seeder
            .add(
                c.transport,
                PeerInfo {
                    addr: c.info.addr,
                    codec,
                },
            )
            .unwrap();
        seeder
            .send(key, Message::Bitfield(Bitfield::full(pieces).to_bytes()))
            .await
            .unwrap();
        while let Some(event) = seed_events.next_event().await {
            match event {
                PeerEvent::Message {
                    message: Message::Interested,
                    ..
                } => {
                    seeder.send(key, Message::Unchoke).await.unwrap();
                }
                PeerEvent::Message {
                    message: Message::Request(r),
                    ..
                } => {
                    let start = r.piece.0 as usize * PIECE as usize + r.offset as usize;
                    let block = Block {
                        piece: r.piece,
                        offset: r.offset,
                        data: seed_data.slice(start..start + r.length as usize),
                    };
                    if seeder.send(key, Message::Piece(block)).await.is_err() {
                        return;
                    }
                }
                PeerEvent::Disconnected { .. } => return,
                _ => {}
            }
        }
    });

    let start = Instant::now();
    let (leech_hs, mut leech_conns) =
        HandshakeManager::start(HandshakeConfig::new(bitswarm_handshake::peer_id()), vec![]);
    leech_hs.connect(addr, info_hash).await.unwrap();
    let Some(HandshakeEvent::Connected(c)) = leech_conns.next_event().await else {
        panic!("outgoing handshake failed")
    };
    let (leecher, mut events) = PeerManager::start(PeerManagerConfig::default());
    let codec = PeerCodec::for_torrent(pieces);
    let key = leecher
        .add(
            c.transport,
            PeerInfo {
                addr: c.info.addr,
                codec,
            },
        )
        .unwrap();
    leecher.send(key, Message::Interested).await.unwrap();
    let total = data.len() as u64;
    let mut blocks = (0..pieces).flat_map(|p| {
        let len = (total - u64::from(p) * u64::from(PIECE)).min(u64::from(PIECE)) as u32;
        BlockRef::blocks_of(PieceIndex(p), len)
    });
    let mut received = 0u64;
    let mut in_flight = 0usize;
    let mut unchoked = false;
    while received < total {
        if unchoked {
            while in_flight < IN_FLIGHT {
                let Some(b) = blocks.next() else { break };
                leecher.send(key, Message::Request(b)).await.unwrap();
                in_flight += 1;
            }
        }
        match events.next_event().await.expect("events") {
            PeerEvent::Message {
                message: Message::Unchoke,
                ..
            } => unchoked = true,
            PeerEvent::Message {
                message: Message::Piece(b),
                ..
            } => {
                received += b.data.len() as u64;
                in_flight -= 1;
            }
            PeerEvent::Disconnected { reason, .. } => panic!("disconnected: {reason:?}"),
            _ => {}
        }
    }
    let elapsed = start.elapsed();
    leecher.shutdown();
    let _ = seeding.await;
    assert_eq!(received, total);
    elapsed
}

fn libtorrent_once(torrent: &Path, seed_dir: &Path) -> Duration {
    let leech_dir = tempfile::tempdir().unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../testkit/py/lt_peer.py");
    let mut cmd = Command::new(bitswarm_testkit::libtorrent::PYTHON);
    cmd.arg(script)
        .arg("transfer")
        .arg(torrent)
        .arg(seed_dir)
        .arg(leech_dir.path())
        .arg("300");
    let out = bitswarm_testkit::process::run(
        "python3-libtorrent transfer",
        cmd,
        Duration::from_secs(330),
    )
    .expect("python3-libtorrent runs");
    let line = out.stdout.lines().last().unwrap_or_default().to_owned();
    let v: serde_json::Value = serde_json::from_str(&line)
        .unwrap_or_else(|_| panic!("lt_peer.py printed {line:?}; stderr {}", out.stderr));
    let seconds = v["seconds"]
        .as_f64()
        .unwrap_or_else(|| panic!("libtorrent transfer failed: {line}"));
    Duration::from_secs_f64(seconds)
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    // `cargo test --benches` runs bench binaries with `--bench` absent: skip the
    // heavy work there.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let mib = env_or("BITSWARM_TRANSFER_MIB", 1024);
    let runs = env_or("BITSWARM_TRANSFER_RUNS", 3).max(1);
    let bytes = mib << 20;

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("data.bin");
    bitswarm_testkit::content::write_file(&file, bytes, 1).unwrap();
    let data = Bytes::from(std::fs::read(&file).unwrap());
    let torrent = dir.path().join("data.torrent");
    bitswarm_testkit::libtorrent::create_torrent_with(
        &file,
        &torrent,
        &bitswarm_testkit::libtorrent::CreateOptions {
            v1_only: true,
            piece_size: Some(u64::from(PIECE)),
        },
    )
    .expect("libtorrent creates the torrent");

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let mut ours = Vec::new();
    let mut theirs = Vec::new();
    for _ in 0..runs {
        ours.push(rt.block_on(bitswarm_once(data.clone())));
        theirs.push(libtorrent_once(&torrent, dir.path()));
    }
    let rate = |d: Duration| bytes as f64 / d.as_secs_f64() / 1e6;
    let (o, t) = (median(ours.clone()), median(theirs.clone()));
    println!("loopback TCP, {mib} MiB, {runs} runs each (median):");
    println!(
        "  bitswarm -> bitswarm      {:8.1} MB/s  ({:.3} s; runs {:?})",
        rate(o),
        o.as_secs_f64(),
        ours.iter()
            .map(|d| format!("{:.1}", rate(*d)))
            .collect::<Vec<_>>()
    );
    println!(
        "  libtorrent -> libtorrent  {:8.1} MB/s  ({:.3} s; runs {:?})",
        rate(t),
        t.as_secs_f64(),
        theirs
            .iter()
            .map(|d| format!("{:.1}", rate(*d)))
            .collect::<Vec<_>>()
    );
    println!("  ratio bitswarm / libtorrent: {:.2}", rate(o) / rate(t));
}
