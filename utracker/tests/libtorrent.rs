//! libtorrent (python3-libtorrent) announces and scrapes to our server over UDP
//! on 127.0.0.1, receives the peers our server holds, and connects to them.

use std::io::Read;
use std::net::{SocketAddr, TcpListener};
use std::time::{Duration, Instant};

use bitswarm_core::{InfoHashV1, PeerId};
use bitswarm_testkit::lt_session::{LtSession, SessionSpec, TorrentSpec};
use bitswarm_testkit::{content, libtorrent};
use bitswarm_utracker::{
    AnnounceParams, ClientConfig, MemoryStore, StoreConfig, TrackerClient, TrackerClientConfig,
    TrackerServer, TrackerServerConfig,
};

const LIMIT: Duration = Duration::from_secs(10);
const FAKE_SEEDERS: usize = 3;

/// Accepts one connection on `listener` within `limit` and returns the
/// info-hash of the BitTorrent handshake it sends (BEP 3: bytes 28..48).
fn accept_handshake(listener: &TcpListener, limit: Duration) -> [u8; 20] {
    listener.set_nonblocking(true).unwrap();
    let deadline = Instant::now() + limit;
    let mut stream = loop {
        match listener.accept() {
            Ok((s, _)) => break s,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                assert!(
                    Instant::now() < deadline,
                    "libtorrent never connected to the peer our tracker gave it"
                );
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(e) => panic!("accept: {e}"),
        }
    };
    stream.set_nonblocking(false).unwrap();
    stream.set_read_timeout(Some(limit)).unwrap();
    let mut handshake = [0; 68];
    stream.read_exact(&mut handshake).unwrap();
    assert_eq!(&handshake[..20], b"\x13BitTorrent protocol");
    handshake[28..48].try_into().unwrap()
}

#[test]
#[ignore = "needs opentracker / python3-libtorrent: run scripts/test-all"]
fn libtorrent_announces_to_our_server_and_gets_its_peers() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let _runtime = rt.enter();

    // A small v1 torrent; libtorrent will be its only leecher.
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data.bin");
    content::write_file(&data, 256 * 1024, 7).unwrap();
    let torrent = dir.path().join("data.torrent");
    let hashes = libtorrent::create_torrent(&data, &torrent, true).expect("python3-libtorrent");
    let hash: InfoHashV1 = hashes.v1.expect("a v1 torrent").parse().unwrap();
    let empty = dir.path().join("leech");
    std::fs::create_dir(&empty).unwrap();

    let server = rt
        .block_on(TrackerServer::bind(
            TrackerServerConfig::default(),
            MemoryStore::new(StoreConfig::default(), Instant::now()),
        ))
        .unwrap();
    let tracker = server.local_addrs()[0];
    let url = format!("udp://{tracker}/announce");
    let client = rt
        .block_on(TrackerClient::bind(TrackerClientConfig {
            bind_v4: Some("127.0.0.1:0".parse().unwrap()),
            bind_v6: None,
            core: ClientConfig {
                timeout: Duration::from_millis(500),
                max_retransmissions: 2,
                ..ClientConfig::default()
            },
            ..TrackerClientConfig::default()
        }))
        .unwrap();

    // Seeders that exist only in our tracker: listening sockets of this test.
    let listeners: Vec<TcpListener> = (0..FAKE_SEEDERS)
        .map(|_| TcpListener::bind("127.0.0.1:0").unwrap())
        .collect();
    for (i, l) in listeners.iter().enumerate() {
        let port = l.local_addr().unwrap().port();
        let params = AnnounceParams::new(hash, PeerId([i as u8; 20]), port, 0);
        rt.block_on(tokio::time::timeout(LIMIT, client.announce(&url, params)))
            .unwrap()
            .unwrap();
    }

    let mut settings = serde_json::Map::new();
    settings.insert("allow_multiple_connections_per_ip".into(), true.into());
    let mut session = LtSession::start(&SessionSpec {
        torrents: vec![TorrentSpec {
            torrent: Some(torrent),
            trackers: vec![url.clone()],
            ..TorrentSpec::new(&empty)
        }],
        settings,
        scrape_after_announce: true,
        stop_after: Duration::from_secs(20),
        ..SessionSpec::default()
    })
    .expect("python3-libtorrent session");

    let reply = session
        .wait_for(LIMIT, |e| e["event"] == "tracker_reply")
        .unwrap();
    assert_eq!(reply["num_peers"], FAKE_SEEDERS, "{reply}");

    // libtorrent connects to every peer our tracker handed out.
    for l in &listeners {
        assert_eq!(accept_handshake(l, LIMIT), hash.0);
    }

    // Its scrape agrees with ours: the fake seeders and libtorrent leeching.
    let scrape = session
        .wait_for(LIMIT, |e| e["event"] == "scrape_reply")
        .unwrap();
    let ours = rt
        .block_on(tokio::time::timeout(LIMIT, client.scrape(&url, &[hash])))
        .unwrap()
        .unwrap();
    assert_eq!(
        (ours[0].seeders, ours[0].leechers),
        (FAKE_SEEDERS as u32, 1)
    );
    assert_eq!(scrape["complete"], ours[0].seeders, "{scrape}");
    assert_eq!(scrape["incomplete"], ours[0].leechers, "{scrape}");

    // Our server holds libtorrent at its listening address.
    let mut probe = AnnounceParams::new(hash, PeerId([0xee; 20]), 9, 1);
    probe.num_want = Some(100);
    let seen = rt
        .block_on(tokio::time::timeout(LIMIT, client.announce(&url, probe)))
        .unwrap()
        .unwrap();
    let lt_addr: SocketAddr = format!("127.0.0.1:{}", session.port()).parse().unwrap();
    assert!(
        seen.peers.contains(&lt_addr),
        "{:?} lacks {lt_addr}",
        seen.peers
    );

    drop(session);
    rt.block_on(server.shutdown());
}
