//! Our session with transmission 3.00 (`transmission-cli`) on loopback: we
//! download a multi-file torrent made by `transmission-create` from a
//! transmission seeder given as a manual peer.
//!
//! transmission never connects out to 127.0.0.0/8 but accepts incoming
//! loopback connections, so on loopback it can only seed to us; it unchokes
//! on its 10-second rechoke cycle. (transmission downloading from our seeder
//! runs in network namespaces: `examples/tests/transmission.rs`.)
//!
//! Run with `cargo test -p bitswarm-session --test transmission -- --include-ignored`.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use bitswarm_metainfo::Metainfo;
use bitswarm_session::{
    AddTorrent, Session, SessionConfig, SessionEvent, SessionEvents, TorrentId, TorrentState,
};
use bitswarm_testkit::content;
use bitswarm_testkit::transmission;
use bitswarm_testkit::transmission_session::{TransmissionSession, TransmissionSpec};

/// Every wait is bounded by this.
const LIMIT: Duration = Duration::from_secs(60);

/// No empty file: `transmission-create` drops them.
const FILES: &[(&str, u64)] = &[
    ("a.bin", 1_500_000),
    ("sub/b.bin", 700_001),
    ("sub/deeper/c.txt", 333),
    ("z.bin", 65_536),
];

fn config(download_dir: &Path) -> SessionConfig {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
    SessionConfig {
        listen: vec!["127.0.0.1:0".parse().unwrap()],
        download_dir: download_dir.to_path_buf(),
        trackers: false,
        ..SessionConfig::default()
    }
}

async fn wait_finished(events: &mut SessionEvents, id: TorrentId) -> bool {
    tokio::time::timeout(LIMIT, async {
        while let Some(e) = events.next_event().await {
            if e == SessionEvent::Finished(id) {
                return true;
            }
        }
        false
    })
    .await
    .unwrap_or(false)
}

fn assert_same_tree(a: &Path, b: &Path) {
    for (name, len) in FILES {
        let left = std::fs::read(a.join(name)).unwrap();
        let right = std::fs::read(b.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(left.len() as u64, *len);
        assert!(left == right, "{name} differs");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs transmission-cli: run scripts/test-all"]
async fn we_download_from_a_transmission_seeder() {
    let dir = tempfile::tempdir().unwrap();
    let seed_dir = dir.path().join("tr");
    let album = seed_dir.join("album");
    content::write_tree(&album, FILES, 23).unwrap();
    let torrent = dir.path().join("album.torrent");
    // Nothing listens there: transmission's announces fail, which it
    // tolerates, and our session is told not to announce.
    transmission::create(&album, &torrent, 64, "udp://127.0.0.1:9/announce").unwrap();
    let meta = Metainfo::from_bytes(&std::fs::read(&torrent).unwrap()).unwrap();
    assert_eq!(
        meta.wire_info_hash().to_string(),
        transmission::info_hash(&torrent).unwrap(),
        "we and transmission-show disagree on the info-hash"
    );
    assert_eq!(meta.files().len(), FILES.len());

    let mut seeder = TransmissionSession::start(&TransmissionSpec {
        time_limit: Duration::from_secs(90),
        ..TransmissionSpec::new(&torrent, &seed_dir)
    })
    .unwrap();
    let seeding = tokio::task::block_in_place(|| seeder.wait_seeding(LIMIT));
    assert!(seeding.is_ok(), "transmission did not seed: {seeding:?}");
    let seeder_addr = SocketAddr::from(([127, 0, 0, 1], seeder.port()));

    let us = dir.path().join("us");
    let session = Session::start(config(&us)).await.unwrap();
    let mut events = session.events();
    let mut add = AddTorrent::torrent(meta.clone());
    add.peers = vec![seeder_addr];
    let id = session.add_torrent(add).await.unwrap();
    let finished = wait_finished(&mut events, id).await;
    let status = session.status(id).await.unwrap();
    assert!(
        finished,
        "not finished within {LIMIT:?}: {status:?}\ntransmission: {:?}\n{}",
        seeder.status(),
        seeder.process().stderr()
    );
    assert_eq!(status.state, TorrentState::Seeding);
    assert_eq!(status.pieces.0, status.pieces.1);
    assert!(status.downloaded >= meta.total_length());
    assert_same_tree(&album, &us.join("album"));
    session.shutdown().await.unwrap();
    drop(seeder);
}
