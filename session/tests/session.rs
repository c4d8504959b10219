//! Two bitswarm sessions on loopback: transfers, pause and resume, removal,
//! magnets, restarts with resume data, and peers that lie.

use std::path::{Path, PathBuf};
use std::time::Duration;

use bitswarm_metainfo::{Metainfo, TorrentBuilder};
use bitswarm_session::{
    AddTorrent, Session, SessionConfig, SessionEvent, SessionEvents, TorrentId, TorrentState,
};
use bitswarm_testkit::content;

/// Every wait in these tests is bounded by this.
const LIMIT: Duration = Duration::from_secs(60);

/// The files of the test torrent: several sizes, an empty file, a nested one.
const FILES: &[(&str, u64)] = &[
    ("a.bin", 300_000),
    ("empty.txt", 0),
    ("sub/b.bin", 1_000_000),
    ("sub/c.bin", 17),
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

/// Writes the content under `<root>/album` and builds its torrent.
fn make_torrent(root: &Path, piece_length: u64) -> Metainfo {
    let album = root.join("album");
    content::write_tree(&album, FILES, 7).unwrap();
    TorrentBuilder::new(&album)
        .piece_length(piece_length)
        .build()
        .unwrap()
}

/// Waits for an event that `pred` accepts; panics at the time limit.
async fn wait_for(events: &mut SessionEvents, what: &str, pred: impl Fn(&SessionEvent) -> bool) {
    let found = tokio::time::timeout(LIMIT, async {
        while let Some(e) = events.next_event().await {
            if pred(&e) {
                return true;
            }
        }
        false
    })
    .await;
    assert_eq!(found, Ok(true), "no {what} within {LIMIT:?}");
}

fn assert_same_tree(a: &Path, b: &Path) {
    for (name, len) in FILES {
        let left = std::fs::read(a.join(name)).unwrap();
        let right = std::fs::read(b.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(left.len() as u64, *len);
        assert!(left == right, "{name} differs");
    }
}

struct Seeder {
    session: Session,
    torrent: Metainfo,
    id: TorrentId,
    data: PathBuf,
}

async fn seeder(dir: &Path, piece_length: u64) -> Seeder {
    let data = dir.join("seed");
    let torrent = make_torrent(&data, piece_length);
    let session = Session::start(config(&data)).await.unwrap();
    let mut events = session.events();
    let id = session
        .add_torrent(AddTorrent::torrent(torrent.clone()))
        .await
        .unwrap();
    wait_for(&mut events, "seeding", |e| {
        *e == SessionEvent::StateChanged(id, TorrentState::Seeding)
    })
    .await;
    Seeder {
        session,
        torrent,
        id,
        data: data.join("album"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_sessions_transfer_a_multi_file_torrent() {
    let dir = tempfile::tempdir().unwrap();
    let seed = seeder(dir.path(), 32 * 1024).await;

    let leech_dir = dir.path().join("leech");
    let leecher = Session::start(config(&leech_dir)).await.unwrap();
    let mut events = leecher.events();
    let mut add = AddTorrent::torrent(seed.torrent.clone());
    add.peers = seed.session.listen_addrs();
    let id = leecher.add_torrent(add).await.unwrap();
    assert_eq!(id, seed.id);
    wait_for(&mut events, "finish", |e| *e == SessionEvent::Finished(id)).await;

    let status = leecher.status(id).await.unwrap();
    assert_eq!(status.state, TorrentState::Seeding);
    assert_eq!(status.progress, 1.0);
    assert_eq!(status.pieces.0, status.pieces.1);
    // Every file (pad files of the hybrid torrent included) is complete.
    let files = leecher.files(id).await.unwrap();
    for (name, len) in FILES {
        let f = files
            .iter()
            .find(|f| f.path == *name)
            .unwrap_or_else(|| panic!("{name} not listed: {files:?}"));
        assert_eq!(f.length, *len);
    }
    assert!(files.iter().all(|f| f.downloaded == f.length), "{files:?}");
    assert_same_tree(&seed.data, &leech_dir.join("album"));
    let seed_status = seed.session.status(seed.id).await.unwrap();
    assert!(seed_status.uploaded >= seed.torrent.total_length());

    leecher.shutdown().await.unwrap();
    seed.session.shutdown().await.unwrap();
}
