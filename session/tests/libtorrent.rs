//! Our session with libtorrent (python3-libtorrent) on loopback: we download
//! a hybrid multi-file torrent (with BEP 47 pad files) made by libtorrent
//! from a libtorrent seeder found through our UDP tracker, through a magnet
//! link alone, and through the DHT alone; and libtorrent downloads from us.
//!
//! Run with `cargo test -p bitswarm-session --test libtorrent -- --include-ignored`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use bitswarm_metainfo::Metainfo;
use bitswarm_session::{AddTorrent, Session, SessionEvent, SessionEvents};
use bitswarm_testkit::lt_dht::{LtDht, LtDhtSpec};
use bitswarm_testkit::lt_session::{LtSession, SessionSpec, TorrentSpec};
use bitswarm_testkit::{content, libtorrent};

mod common;
use common::{assert_same_tree, config, event_within, with_tracker};

/// Every wait is bounded by this.
const LIMIT: Duration = Duration::from_secs(60);

const FILES: &[(&str, u64)] = &[
    ("a.bin", 700_000),
    ("empty.dat", 0),
    ("sub/b.bin", 1_500_001),
    ("sub/c.txt", 333),
];

/// `<dir>/<sub>/album` with the test files, and a hybrid torrent of it made
/// by libtorrent at `<dir>/album.torrent`.
fn content_and_torrent(dir: &Path, sub: &str) -> (PathBuf, PathBuf, Metainfo) {
    let album = dir.join(sub).join("album");
    content::write_tree(&album, FILES, 11).unwrap();
    let path = dir.join("album.torrent");
    libtorrent::create_torrent(&album, &path, false).unwrap();
    let meta = Metainfo::from_bytes(&std::fs::read(&path).unwrap()).unwrap();
    assert!(
        meta.version().has_v2() && meta.version().has_v1(),
        "not hybrid"
    );
    assert!(meta.files().iter().any(|f| f.is_pad()), "no pad files");
    (album, path, meta)
}

fn lt_seeder(save_path: &Path, torrent: &Path, trackers: Vec<String>) -> LtSession {
    let spec = SessionSpec {
        torrents: vec![TorrentSpec {
            torrent: Some(torrent.to_path_buf()),
            trackers,
            ..TorrentSpec::new(save_path)
        }],
        stop_after: Duration::from_secs(120),
        ..SessionSpec::default()
    };
    LtSession::start(&spec).unwrap()
}

async fn wait_finished(events: &mut SessionEvents, id: bitswarm_session::TorrentId) {
    let found = event_within(events, LIMIT, |e| *e == SessionEvent::Finished(id)).await;
    assert!(found, "not finished within {LIMIT:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs python3-libtorrent: run scripts/test-all"]
async fn we_download_from_libtorrent_found_through_our_udp_tracker() {
    use bitswarm_utracker::{MemoryStore, StoreConfig, TrackerServer, TrackerServerConfig};

    let dir = tempfile::tempdir().unwrap();
    let (album, torrent_path, meta) = content_and_torrent(dir.path(), "lt");
    let tracker = TrackerServer::bind(
        TrackerServerConfig {
            workers: 1,
            ..TrackerServerConfig::default()
        },
        MemoryStore::new(StoreConfig::default(), Instant::now()),
    )
    .await
    .unwrap();
    let url = format!("udp://{}/announce", tracker.local_addrs()[0]);
    let mut lt = lt_seeder(&dir.path().join("lt"), &torrent_path, vec![url.clone()]);
    let announced =
        tokio::task::block_in_place(|| lt.wait_for(LIMIT, |e| e["event"] == "tracker_reply"));
    assert!(
        announced.is_ok(),
        "libtorrent did not announce: {announced:?}"
    );

    let us = dir.path().join("us");
    let mut c = config(&us);
    c.trackers = true;
    let session = Session::start(c).await.unwrap();
    let mut events = session.events();
    let id = session
        .add_torrent(AddTorrent::torrent(with_tracker(&meta, &url)))
        .await
        .unwrap();
    wait_finished(&mut events, id).await;
    assert_same_tree(FILES, &album, &us.join("album"));
    session.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs python3-libtorrent: run scripts/test-all"]
async fn we_download_from_libtorrent_with_a_magnet_link_only() {
    let dir = tempfile::tempdir().unwrap();
    let (album, torrent_path, meta) = content_and_torrent(dir.path(), "lt");
    let lt = lt_seeder(&dir.path().join("lt"), &torrent_path, Vec::new());
    let lt_addr = SocketAddr::from(([127, 0, 0, 1], lt.port()));

    let us = dir.path().join("us");
    let session = Session::start(config(&us)).await.unwrap();
    let mut events = session.events();
    let mut magnet = meta.magnet();
    magnet.trackers.clear();
    magnet.peers = vec![lt_addr.to_string()];
    let id = session
        .add_torrent(AddTorrent::magnet(magnet))
        .await
        .unwrap();
    wait_finished(&mut events, id).await;
    assert_same_tree(FILES, &album, &us.join("album"));
    let fetched = session.metainfo(id).await.unwrap().unwrap();
    assert_eq!(fetched.info_bytes(), meta.info_bytes());
    session.shutdown().await.unwrap();
    drop(lt);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs python3-libtorrent: run scripts/test-all"]
async fn libtorrent_downloads_from_us() {
    let dir = tempfile::tempdir().unwrap();
    let (album, _torrent_path, meta) = content_and_torrent(dir.path(), "us");
    let torrent_path = dir.path().join("album.torrent");
    let session = Session::start(config(&dir.path().join("us")))
        .await
        .unwrap();
    let mut events = session.events();
    let id = session
        .add_torrent(AddTorrent::torrent(meta.clone()))
        .await
        .unwrap();
    let seeding = event_within(&mut events, LIMIT, |e| {
        *e == SessionEvent::StateChanged(id, bitswarm_session::TorrentState::Seeding)
    })
    .await;
    assert!(seeding);

    let lt_dir = dir.path().join("lt");
    let spec = SessionSpec {
        torrents: vec![TorrentSpec {
            torrent: Some(torrent_path),
            peers: session.listen_addrs(),
            ..TorrentSpec::new(&lt_dir)
        }],
        stop_after: Duration::from_secs(120),
        ..SessionSpec::default()
    };
    let mut lt = LtSession::start(&spec).unwrap();
    let finished = tokio::task::block_in_place(|| lt.wait_for(LIMIT, |e| e["event"] == "finished"));
    assert!(finished.is_ok(), "libtorrent did not finish: {finished:?}");
    assert_same_tree(FILES, &album, &lt_dir.join("album"));
    assert!(session.status(id).await.unwrap().uploaded >= meta.total_length());
    session.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs python3-libtorrent: run scripts/test-all"]
async fn we_find_a_libtorrent_seeder_through_the_dht_only() {
    let dir = tempfile::tempdir().unwrap();
    let (album, torrent_path, meta) = content_and_torrent(dir.path(), "lt");

    // Our DHT node's port is fixed first so that libtorrent's nodes know it.
    let our_dht = SocketAddr::from(([127, 0, 0, 1], bitswarm_testkit::free_port().unwrap()));
    let cluster = LtDht::start(&LtDhtSpec {
        nodes: 6,
        extra_nodes: vec![our_dht],
        stop_after: Duration::from_secs(120),
        ..LtDhtSpec::default()
    })
    .unwrap();
    let routers: Vec<String> = cluster.addrs().iter().map(ToString::to_string).collect();

    // The libtorrent seeder runs a DHT node too and announces there.
    let lt_spec = SessionSpec {
        torrents: vec![TorrentSpec {
            torrent: Some(torrent_path),
            ..TorrentSpec::new(&dir.path().join("lt"))
        }],
        settings: serde_json_settings(&routers),
        stop_after: Duration::from_secs(120),
        ..SessionSpec::default()
    };
    let _lt = LtSession::start(&lt_spec).unwrap();

    let us = dir.path().join("us");
    let mut c = config(&us);
    c.dht_bind = Some(our_dht);
    c.dht_bootstrap = routers;
    let session = Session::start(c).await.unwrap();
    assert_eq!(session.dht_addr(), Some(our_dht));
    let mut events = session.events();
    let mut magnet = meta.magnet();
    magnet.trackers.clear();
    magnet.peers.clear();
    let id = session
        .add_torrent(AddTorrent::magnet(magnet))
        .await
        .unwrap();
    wait_finished(&mut events, id).await;
    assert_same_tree(FILES, &album, &us.join("album"));
    assert!(session.stats().await.dht_nodes > 0);
    session.shutdown().await.unwrap();
    drop(cluster);
}

/// libtorrent settings for a DHT node on loopback that joins `routers`.
fn serde_json_settings(routers: &[String]) -> serde_json::Map<String, serde_json::Value> {
    let mut s = serde_json::Map::new();
    s.insert("enable_dht".into(), true.into());
    s.insert("dht_bootstrap_nodes".into(), routers.join(",").into());
    s.insert("dht_restrict_routing_ips".into(), false.into());
    s.insert("dht_restrict_search_ips".into(), false.into());
    s.insert("dht_prefer_verified_node_ids".into(), false.into());
    s.insert("dht_announce_interval".into(), 2.into());
    s
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs python3-libtorrent: run scripts/test-all"]
async fn libtorrent_gets_the_metadata_of_a_magnet_from_us() {
    let dir = tempfile::tempdir().unwrap();
    let (album, _torrent_path, meta) = content_and_torrent(dir.path(), "us");
    let session = Session::start(config(&dir.path().join("us")))
        .await
        .unwrap();
    let mut events = session.events();
    let id = session
        .add_torrent(AddTorrent::torrent(meta.clone()))
        .await
        .unwrap();
    let seeding = event_within(&mut events, LIMIT, |e| {
        *e == SessionEvent::StateChanged(id, bitswarm_session::TorrentState::Seeding)
    })
    .await;
    assert!(seeding);

    // libtorrent knows only the v1 info-hash and our address.
    let lt_dir = dir.path().join("lt");
    let spec = SessionSpec {
        torrents: vec![TorrentSpec {
            info_hash: Some(id.to_string()),
            peers: session.listen_addrs(),
            ..TorrentSpec::new(&lt_dir)
        }],
        stop_after: Duration::from_secs(120),
        ..SessionSpec::default()
    };
    let mut lt = LtSession::start(&spec).unwrap();
    let finished = tokio::task::block_in_place(|| lt.wait_for(LIMIT, |e| e["event"] == "finished"));
    assert!(finished.is_ok(), "libtorrent did not finish: {finished:?}");
    assert_same_tree(FILES, &album, &lt_dir.join("album"));
    session.shutdown().await.unwrap();
}
