//! Our session with transmission 3.00 (`transmission-cli`) on loopback: we
//! download a multi-file torrent made by `transmission-create` from a
//! transmission seeder given as a manual peer; and a swarm of a transmission
//! seeder, two of our sessions and a libtorrent session (python3-libtorrent),
//! the peers learned from our UDP tracker, where every leecher finishes.
//!
//! transmission never connects out to 127.0.0.0/8 but accepts incoming
//! loopback connections, so on loopback it can only seed to us; it unchokes
//! on its 10-second rechoke cycle. (transmission downloading from our seeder
//! runs in network namespaces: `examples/tests/transmission.rs`.)
//!
//! Run with `cargo test -p bitswarm-session --test transmission -- --include-ignored`.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bitswarm_metainfo::Metainfo;
use bitswarm_session::{AddTorrent, Session, SessionEvent, SessionEvents, TorrentId, TorrentState};
use bitswarm_testkit::content;
use bitswarm_testkit::lt_session::{LtSession, SessionSpec, TorrentSpec};
use bitswarm_testkit::transmission;
use bitswarm_testkit::transmission_session::{TransmissionSession, TransmissionSpec};

mod common;
use common::{Deadline, assert_same_tree, config, event_within};

/// No empty file: `transmission-create` drops them.
const FILES: &[(&str, u64)] = &[
    ("a.bin", 1_500_000),
    ("sub/b.bin", 700_001),
    ("sub/deeper/c.txt", 333),
    ("z.bin", 65_536),
];

async fn wait_finished(events: &mut SessionEvents, id: TorrentId, deadline: Deadline) -> bool {
    event_within(events, deadline.left(), |e| {
        *e == SessionEvent::Finished(id)
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs transmission-cli: run scripts/test-all"]
async fn we_download_from_a_transmission_seeder() {
    let deadline = Deadline::start();
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
    let seeding = tokio::task::block_in_place(|| seeder.wait_seeding(deadline.left()));
    assert!(seeding.is_ok(), "transmission did not seed: {seeding:?}");
    let seeder_addr = SocketAddr::from(([127, 0, 0, 1], seeder.port()));

    let us = dir.path().join("us");
    let session = Session::start(config(&us)).await.unwrap();
    let mut events = session.events();
    let mut add = AddTorrent::torrent(meta.clone());
    add.peers = vec![seeder_addr];
    let id = session.add_torrent(add).await.unwrap();
    let finished = wait_finished(&mut events, id, deadline).await;
    let status = session.status(id).await.unwrap();
    assert!(
        finished,
        "not finished in time: {status:?}\ntransmission: {:?}\n{}",
        seeder.status(),
        seeder.process().stderr()
    );
    assert_eq!(status.state, TorrentState::Seeding);
    assert_eq!(status.pieces.0, status.pieces.1);
    assert!(status.downloaded >= meta.total_length());
    assert_same_tree(FILES, &album, &us.join("album"));
    session.shutdown().await.unwrap();
    drop(seeder);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs transmission-cli and python3-libtorrent: run scripts/test-all"]
async fn a_transmission_seeder_with_two_of_ours_and_a_libtorrent_leecher() {
    use bitswarm_utracker::{
        MemoryStore, StoreConfig, TrackerClient, TrackerClientConfig, TrackerServer,
        TrackerServerConfig,
    };

    let deadline = Deadline::start();
    let dir = tempfile::tempdir().unwrap();
    let seed_dir = dir.path().join("tr");
    let album = seed_dir.join("album");
    content::write_tree(&album, FILES, 29).unwrap();
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
    let torrent = dir.path().join("album.torrent");
    transmission::create(&album, &torrent, 32, &url).unwrap();
    let meta = Metainfo::from_bytes(&std::fs::read(&torrent).unwrap()).unwrap();
    let hash = meta.wire_info_hash();

    let mut seeder = TransmissionSession::start(&TransmissionSpec {
        time_limit: Duration::from_secs(90),
        ..TransmissionSpec::new(&torrent, &seed_dir)
    })
    .unwrap();
    let seeding = tokio::task::block_in_place(|| seeder.wait_seeding(deadline.left()));
    assert!(seeding.is_ok(), "transmission did not seed: {seeding:?}");

    // Each peer starts once the tracker holds the ones before it, so that
    // each newcomer hears of every peer already there (the next announce is
    // minutes away).
    let scraper = TrackerClient::bind(TrackerClientConfig {
        bind_v4: Some("127.0.0.1:0".parse().unwrap()),
        bind_v6: None,
        ..TrackerClientConfig::default()
    })
    .await
    .unwrap();
    let wait_peers = |n: u32| {
        let scraper = scraper.clone();
        let url = url.clone();
        async move {
            let held = tokio::time::timeout(deadline.left(), async {
                loop {
                    if let Ok(s) = scraper.scrape(&url, &[hash]).await {
                        if s[0].seeders + s[0].leechers >= n {
                            return;
                        }
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            })
            .await;
            assert!(held.is_ok(), "the tracker never held {n} peers");
        }
    };
    wait_peers(1).await;

    let mut ours = Vec::new();
    for i in 0..2u32 {
        let us = dir.path().join(format!("us-{i}"));
        let mut c = config(&us);
        c.trackers = true;
        let session = Session::start(c).await.unwrap();
        let events = session.events();
        let id = session
            .add_torrent(AddTorrent::torrent(meta.clone()))
            .await
            .unwrap();
        ours.push((session, events, id, us));
        wait_peers(i + 2).await;
    }
    let lt_dir = dir.path().join("lt");
    let mut settings = serde_json::Map::new();
    settings.insert("allow_multiple_connections_per_ip".into(), true.into());
    let mut lt = LtSession::start(&SessionSpec {
        settings,
        torrents: vec![TorrentSpec {
            torrent: Some(torrent.clone()),
            ..TorrentSpec::new(&lt_dir)
        }],
        stop_after: Duration::from_secs(90),
        ..SessionSpec::default()
    })
    .unwrap();

    let waits: Vec<_> = ours
        .into_iter()
        .map(|(session, mut events, id, us)| {
            tokio::spawn(async move {
                let finished = wait_finished(&mut events, id, deadline).await;
                let status = session.status(id).await.unwrap();
                (session, finished, status, us)
            })
        })
        .collect();
    let lt_finished =
        tokio::task::block_in_place(|| lt.wait_for(deadline.left(), |e| e["event"] == "finished"));
    for (i, wait) in waits.into_iter().enumerate() {
        let (session, finished, status, us) = wait.await.unwrap();
        assert!(
            finished,
            "our leecher {i} did not finish: {status:?}\ntransmission: {:?}",
            seeder.status()
        );
        assert_same_tree(FILES, &album, &us.join("album"));
        session.shutdown().await.unwrap();
    }
    assert!(
        lt_finished.is_ok(),
        "libtorrent did not finish: {lt_finished:?}"
    );
    assert_same_tree(FILES, &album, &lt_dir.join("album"));
    drop(lt);
    drop(seeder);
    tracker.shutdown().await;
}
