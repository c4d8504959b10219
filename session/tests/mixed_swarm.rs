//! Swarms that mix our sessions and libtorrent (python3-libtorrent) on
//! 127.0.0.1, every peer learning the others from our UDP tracker
//! (`bitswarm-utracker`, in this process): a libtorrent seeder with three of
//! our sessions and two libtorrent sessions downloading, and our seeder with
//! two of ours and two libtorrent sessions downloading. Every leecher must
//! finish and hold exactly the source's bytes; in the second swarm the
//! leechers must also have traded pieces among themselves (our seeder, held
//! to 1 MiB/s, sent less than one copy per leecher).
//!
//! Peers are started one after another, each once the tracker holds the
//! ones before it, so every newcomer is told about every peer already there
//! (announce intervals are at least 30 s: nobody asks twice in a test).
//! libtorrent is told to accept several connections from one IP address,
//! since every peer here is 127.0.0.1.
//!
//! Run with `cargo test -p bitswarm-session --test mixed_swarm -- --include-ignored`.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use bitswarm_core::InfoHashV1;
use bitswarm_metainfo::{Metainfo, TorrentBuilder, Version};
use bitswarm_session::{AddTorrent, Session, SessionConfig, SessionEvent, TorrentId, TorrentState};
use bitswarm_testkit::lt_session::{LtSession, SessionSpec, TorrentSpec};
use bitswarm_testkit::{content, libtorrent};
use bitswarm_utracker::{
    MemoryStore, StoreConfig, TrackerClient, TrackerClientConfig, TrackerServer,
    TrackerServerConfig,
};

mod common;
use common::{Deadline, event_within, with_tracker};

/// How long a libtorrent session lives at most.
const LT_LIFETIME: Duration = Duration::from_secs(90);

const FILES: &[(&str, u64)] = &[
    ("a.bin", 1_200_000),
    ("empty.dat", 0),
    ("sub/b.bin", 2_100_001),
    ("sub/c.txt", 333),
];

/// The tests' session config, announcing to the torrent's tracker.
fn config(download_dir: &Path) -> SessionConfig {
    SessionConfig {
        trackers: true,
        ..common::config(download_dir)
    }
}

/// Our tracker and a client that scrapes it.
struct Tracker {
    server: TrackerServer,
    url: String,
    client: TrackerClient,
}

impl Tracker {
    async fn start() -> Self {
        let server = TrackerServer::bind(
            TrackerServerConfig {
                workers: 1,
                ..TrackerServerConfig::default()
            },
            MemoryStore::new(StoreConfig::default(), Instant::now()),
        )
        .await
        .unwrap();
        let url = format!("udp://{}/announce", server.local_addrs()[0]);
        let client = TrackerClient::bind(TrackerClientConfig {
            bind_v4: Some("127.0.0.1:0".parse().unwrap()),
            bind_v6: None,
            ..TrackerClientConfig::default()
        })
        .await
        .unwrap();
        Self {
            server,
            url,
            client,
        }
    }

    /// Waits until the swarm of `hash` (seeders and leechers) holds `peers`
    /// peers. (libtorrent announces a hybrid torrent under its truncated v2
    /// hash too, so the tracker's total would count it twice.)
    async fn wait_peers(&self, hash: InfoHashV1, peers: u32, deadline: Deadline) {
        let mut last = None;
        let held = tokio::time::timeout(deadline.left(), async {
            loop {
                if let Ok(stats) = self.client.scrape(&self.url, &[hash]).await {
                    if stats[0].seeders + stats[0].leechers >= peers {
                        return;
                    }
                    last = Some(stats[0]);
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
        .await;
        assert!(
            held.is_ok(),
            "the tracker holds {last:?}, not {peers} peers"
        );
    }

    async fn shutdown(self) {
        self.server.shutdown().await;
    }
}

/// A libtorrent session with one torrent, announcing to `url`, accepting
/// several peers from 127.0.0.1.
fn lt_peer(torrent: &Path, save_path: &Path, url: &str) -> LtSession {
    let mut settings = serde_json::Map::new();
    settings.insert("allow_multiple_connections_per_ip".into(), true.into());
    let spec = SessionSpec {
        settings,
        torrents: vec![TorrentSpec {
            torrent: Some(torrent.to_path_buf()),
            trackers: vec![url.to_owned()],
            ..TorrentSpec::new(save_path)
        }],
        stop_after: LT_LIFETIME,
        ..SessionSpec::default()
    };
    LtSession::start(&spec).unwrap()
}

/// One of our sessions with the torrent added; the subscription to its
/// events was taken before the torrent was added.
struct Ours {
    session: Session,
    id: TorrentId,
    events: bitswarm_session::SessionEvents,
    dir: PathBuf,
}

async fn our_peer(meta: &Metainfo, dir: &Path) -> Ours {
    our_peer_with(meta, config(dir)).await
}

async fn our_peer_with(meta: &Metainfo, config: SessionConfig) -> Ours {
    let dir = config.download_dir.clone();
    let session = Session::start(config).await.unwrap();
    let events = session.events();
    let id = session
        .add_torrent(AddTorrent::torrent(meta.clone()))
        .await
        .unwrap();
    Ours {
        session,
        id,
        events,
        dir,
    }
}

impl Ours {
    /// Waits for `Finished`; returns whether it came before the deadline.
    async fn finished(&mut self, deadline: Deadline) -> bool {
        let id = self.id;
        event_within(&mut self.events, deadline.left(), |e| {
            *e == SessionEvent::Finished(id)
        })
        .await
    }

    async fn wait_state(&mut self, state: TorrentState, deadline: Deadline) -> bool {
        let id = self.id;
        if self.session.status(id).await.unwrap().state == state {
            return true;
        }
        event_within(&mut self.events, deadline.left(), |e| {
            *e == SessionEvent::StateChanged(id, state)
        })
        .await
    }
}

fn assert_same_tree(source: &Path, copy: &Path) {
    for (name, len) in FILES {
        let left = std::fs::read(source.join(name)).unwrap();
        let right = std::fs::read(copy.join(name))
            .unwrap_or_else(|e| panic!("{}: {e}", copy.join(name).display()));
        assert_eq!(left.len() as u64, *len);
        assert!(left == right, "{} differs", copy.join(name).display());
    }
}

/// Waits for each of our leechers to finish (concurrently) and for each
/// libtorrent leecher to print `finished`; then checks every copy.
async fn all_finish(
    ours: Vec<Ours>,
    lts: Vec<(LtSession, PathBuf)>,
    source: &Path,
    deadline: Deadline,
) {
    let waits: Vec<_> = ours
        .into_iter()
        .map(|mut o| {
            tokio::spawn(async move {
                let done = o.finished(deadline).await;
                let status = o.session.status(o.id).await.unwrap();
                (o, done, status)
            })
        })
        .collect();
    let lt_results: Vec<_> = tokio::task::block_in_place(|| {
        lts.into_iter()
            .map(|(mut lt, dir)| {
                let r = lt.wait_for(deadline.left(), |e| e["event"] == "finished");
                (lt, dir, r)
            })
            .collect()
    });
    let mut sessions = Vec::new();
    for (i, wait) in waits.into_iter().enumerate() {
        let (o, done, status) = wait.await.unwrap();
        assert!(done, "our leecher {i} did not finish: {status:?}");
        assert_eq!(status.pieces.0, status.pieces.1);
        assert_same_tree(source, &o.dir.join("album"));
        sessions.push(o.session);
    }
    for (i, (lt, dir, r)) in lt_results.into_iter().enumerate() {
        assert!(r.is_ok(), "libtorrent leecher {i} did not finish: {r:?}");
        assert_same_tree(source, &dir.join("album"));
        drop(lt);
    }
    for s in sessions {
        s.shutdown().await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs python3-libtorrent: run scripts/test-all"]
async fn a_libtorrent_seeder_with_three_of_ours_and_two_libtorrent_leechers() {
    let deadline = Deadline::start();
    let dir = tempfile::tempdir().unwrap();
    let seed_dir = dir.path().join("seed");
    let album = seed_dir.join("album");
    content::write_tree(&album, FILES, 31).unwrap();
    let tracker = Tracker::start().await;
    let url = tracker.url.clone();
    // A hybrid torrent with pad files, made by libtorrent, announcing to us.
    let torrent = dir.path().join("album.torrent");
    libtorrent::create_torrent(&album, &torrent, false).unwrap();
    let meta = with_tracker(
        &Metainfo::from_bytes(&std::fs::read(&torrent).unwrap()).unwrap(),
        &url,
    );

    let mut seeder = lt_peer(&torrent, &seed_dir, &url);
    let announced = tokio::task::block_in_place(|| {
        seeder.wait_for(deadline.left(), |e| e["event"] == "tracker_reply")
    });
    assert!(
        announced.is_ok(),
        "the seeder did not announce: {announced:?}"
    );
    tracker.wait_peers(meta.wire_info_hash(), 1, deadline).await;

    // Leechers, alternating ours and libtorrent's, each announced before
    // the next starts.
    let mut ours = Vec::new();
    let mut lts = Vec::new();
    for i in 0..5u32 {
        let leecher_dir = dir.path().join(format!("leecher-{i}"));
        if i % 2 == 0 {
            ours.push(our_peer(&meta, &leecher_dir).await);
        } else {
            lts.push((lt_peer(&torrent, &leecher_dir, &url), leecher_dir));
        }
        tracker
            .wait_peers(meta.wire_info_hash(), i + 2, deadline)
            .await;
    }
    assert_eq!((ours.len(), lts.len()), (3, 2));
    all_finish(ours, lts, &album, deadline).await;
    drop(seeder);
    tracker.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs python3-libtorrent: run scripts/test-all"]
async fn our_seeder_with_two_of_ours_and_two_libtorrent_leechers() {
    let deadline = Deadline::start();
    let dir = tempfile::tempdir().unwrap();
    let seed_dir = dir.path().join("seed");
    let album = seed_dir.join("album");
    content::write_tree(&album, FILES, 37).unwrap();
    let tracker = Tracker::start().await;
    let url = tracker.url.clone();
    // A v1 torrent made by us; libtorrent reads it from a file.
    let builder = TorrentBuilder::new(&album)
        .version(Version::V1)
        .piece_length(32 * 1024)
        .tracker(url.clone());
    let meta = tokio::task::spawn_blocking(move || builder.build())
        .await
        .unwrap()
        .unwrap();
    let torrent = dir.path().join("album.torrent");
    std::fs::write(&torrent, meta.as_bytes()).unwrap();

    // The seeder sends at most 1 MiB/s, so the leechers finish sooner by
    // trading pieces among themselves than by each waiting for every piece
    // from it.
    let mut seeder = our_peer_with(
        &meta,
        SessionConfig {
            upload_rate_limit: Some(1 << 20),
            ..config(&seed_dir)
        },
    )
    .await;
    assert!(
        seeder.wait_state(TorrentState::Seeding, deadline).await,
        "our seeder did not seed: {:?}",
        seeder.session.status(seeder.id).await
    );
    tracker.wait_peers(meta.wire_info_hash(), 1, deadline).await;

    let mut ours = Vec::new();
    let mut lts = Vec::new();
    for i in 0..4u32 {
        let leecher_dir = dir.path().join(format!("leecher-{i}"));
        if i % 2 == 0 {
            lts.push((lt_peer(&torrent, &leecher_dir, &url), leecher_dir));
        } else {
            ours.push(our_peer(&meta, &leecher_dir).await);
        }
        tracker
            .wait_peers(meta.wire_info_hash(), i + 2, deadline)
            .await;
    }
    all_finish(ours, lts, &album, deadline).await;
    let uploaded = seeder.session.status(seeder.id).await.unwrap().uploaded;
    assert!(uploaded > 0, "our seeder sent nothing");
    assert!(
        uploaded < 4 * meta.total_length(),
        "our seeder sent {uploaded} bytes: every leecher got every piece from it"
    );
    seeder.session.shutdown().await.unwrap();
    drop(seeder);
    tracker.shutdown().await;
}
