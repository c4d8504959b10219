//! Interop with libtorrent-rasterbar (python3-libtorrent) on loopback:
//! handshake and extension handshake, downloading every block from a
//! libtorrent seeder, serving a libtorrent leecher, and fetching the info
//! dictionary over ut_metadata (BEP 9) from the info-hash alone.

mod common;

use std::path::Path;
use std::time::Duration;

use bitswarm_core::{Bitfield, InfoHash, InfoHashV1};
use bitswarm_handshake::{
    Connection, Extensions, HandshakeConfig, HandshakeEvent, HandshakeManager, Handshaker,
};
use bitswarm_peer::extension::{ExtendedMessage, ExtensionHandshake, ExtensionIds, UtMetadata};
use bitswarm_peer::{Message, PeerCodec, PeerEvent, PeerInfo, PeerManager, PeerManagerConfig};
use bitswarm_testkit::lt_session::{LtSession, SessionSpec, TorrentSpec};
use bitswarm_testkit::{content, libtorrent};
use bytes::Bytes;
use common::{TorrentLayout, download_all, next_event, serve};
use sha1::{Digest, Sha1};

/// Content and a v1 torrent of it made by libtorrent.
fn make_torrent(dir: &Path, len: u64) -> (TorrentLayout, std::path::PathBuf) {
    let data = dir.join("data.bin");
    content::write_file(&data, len, 0x5eed).unwrap();
    let torrent = dir.join("data.torrent");
    libtorrent::create_torrent(&data, &torrent, true).unwrap();
    let layout = TorrentLayout::from_torrent(&std::fs::read(&torrent).unwrap());
    (layout, torrent)
}

fn seeder_spec(dir: &Path, torrent: &Path) -> SessionSpec {
    SessionSpec {
        torrents: vec![TorrentSpec {
            torrent: Some(torrent.to_path_buf()),
            seed_mode: true,
            ..TorrentSpec::new(dir)
        }],
        stop_after: Duration::from_secs(30),
        ..SessionSpec::default()
    }
}

async fn start_session(spec: SessionSpec) -> LtSession {
    tokio::task::spawn_blocking(move || LtSession::start(&spec))
        .await
        .unwrap()
        .expect("libtorrent session starts (python3-libtorrent installed?)")
}

async fn connect_to(port: u16, info_hash: InfoHash) -> Connection {
    let (hs, mut conns) =
        HandshakeManager::start(HandshakeConfig::new(bitswarm_handshake::peer_id()), vec![]);
    hs.connect(format!("127.0.0.1:{port}").parse().unwrap(), info_hash)
        .await
        .unwrap();
    match tokio::time::timeout(Duration::from_secs(10), conns.next_event()).await {
        Ok(Some(HandshakeEvent::Connected(c))) => c,
        other => panic!("handshake with libtorrent: {other:?}"),
    }
}

fn ext_handshake(metadata_size: Option<u64>) -> Message {
    ExtendedMessage::Handshake(ExtensionHandshake::bitswarm(metadata_size))
        .to_message(&ExtensionIds::OURS)
        .unwrap()
}

fn assert_libtorrent_handshake(conn: &Connection) {
    let client = conn.info.remote.peer_id.client().expect("a BEP 20 peer id");
    assert_eq!(client.code, "LT", "{:?}", conn.info.remote.peer_id);
    let ext = conn.info.remote.extensions;
    assert!(ext.supports(Extensions::EXTENSION_PROTOCOL), "{ext:?}");
    assert!(ext.supports(Extensions::FAST), "{ext:?}");
    assert_eq!(conn.info.extensions, Extensions::BITSWARM);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs python3-libtorrent: run scripts/test-all"]
async fn downloads_every_block_from_a_libtorrent_seeder() {
    let dir = tempfile::tempdir().unwrap();
    let (layout, torrent) = make_torrent(dir.path(), 3 * 1024 * 1024 + 777);
    let session = start_session(seeder_spec(dir.path(), &torrent)).await;
    let info_hash = InfoHash::V1(InfoHashV1(layout.info_hash));

    let conn = connect_to(session.port(), info_hash).await;
    assert_libtorrent_handshake(&conn);
    assert_eq!(conn.info.remote.info_hash, info_hash.wire());

    let (peers, mut events) = PeerManager::start(PeerManagerConfig::default());
    let key = peers
        .add(
            conn.transport,
            PeerInfo {
                addr: conn.info.addr,
                codec: PeerCodec::for_torrent(layout.pieces()),
            },
        )
        .unwrap();
    peers.send(key, ext_handshake(None)).await.unwrap();
    peers.send(key, Message::HaveNone).await.unwrap();

    let (content, ext) = download_all(
        &peers,
        &mut events,
        key,
        &layout,
        64,
        Duration::from_secs(20),
    )
    .await;
    assert_eq!(content, std::fs::read(dir.path().join("data.bin")).unwrap());
    let ext = ext.expect("libtorrent sent its extension handshake");
    assert_eq!(ext.metadata_size, Some(layout.info.len() as u64));
    let ids = ExtensionIds::from_handshake(&ext);
    assert_ne!(ids.ut_metadata, 0);
    assert!(
        ext.v
            .as_deref()
            .unwrap_or_default()
            .starts_with("libtorrent"),
        "{:?}",
        ext.v
    );
    assert_eq!(ext.yourip, Some("127.0.0.1".parse().unwrap()));
    assert_eq!(
        peers.stats(key).unwrap().payload_received,
        layout.total_length
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs python3-libtorrent: run scripts/test-all"]
async fn libtorrent_leeches_a_torrent_from_us() {
    let seed_dir = tempfile::tempdir().unwrap();
    let (layout, torrent) = make_torrent(seed_dir.path(), 2 * 1024 * 1024 + 4321);
    let data = Bytes::from(std::fs::read(seed_dir.path().join("data.bin")).unwrap());
    let info_hash = InfoHash::V1(InfoHashV1(layout.info_hash));

    let (hs, mut conns) =
        HandshakeManager::start(HandshakeConfig::new(bitswarm_handshake::peer_id()), vec![]);
    hs.register(info_hash);
    let addr = hs.listen("127.0.0.1:0".parse().unwrap()).await.unwrap();

    let leech_dir = tempfile::tempdir().unwrap();
    let spec = SessionSpec {
        torrents: vec![TorrentSpec {
            torrent: Some(torrent.clone()),
            peers: vec![addr],
            ..TorrentSpec::new(leech_dir.path())
        }],
        ..SessionSpec::default()
    };
    let mut session = start_session(spec).await;

    let conn = match tokio::time::timeout(Duration::from_secs(10), conns.next_event()).await {
        Ok(Some(HandshakeEvent::Connected(c))) => c,
        other => panic!("libtorrent did not connect: {other:?}"),
    };
    assert_libtorrent_handshake(&conn);
    let (peers, mut events) = PeerManager::start(PeerManagerConfig::default());
    let key = peers
        .add(
            conn.transport,
            PeerInfo {
                addr: conn.info.addr,
                codec: PeerCodec::for_torrent(layout.pieces()),
            },
        )
        .unwrap();
    peers
        .send(key, ext_handshake(Some(layout.info.len() as u64)))
        .await
        .unwrap();
    peers
        .send(
            key,
            Message::Bitfield(Bitfield::full(layout.pieces()).to_bytes()),
        )
        .await
        .unwrap();
    let serving = {
        let layout = layout.clone();
        let peers = peers.clone();
        tokio::spawn(async move {
            serve(&peers, &mut events, data, &layout, Duration::from_secs(30)).await
        })
    };
    let finished = tokio::task::spawn_blocking(move || {
        let r = session.wait_for(Duration::from_secs(20), |e| e["event"] == "finished");
        (r, session)
    })
    .await
    .unwrap();
    let (finished, session) = finished;
    finished.expect("libtorrent finished the download");
    assert_eq!(
        std::fs::read(leech_dir.path().join("data.bin")).unwrap(),
        std::fs::read(seed_dir.path().join("data.bin")).unwrap()
    );
    drop(session);
    // libtorrent closes the connection once it is a seed too.
    let (_, served) = tokio::time::timeout(Duration::from_secs(10), serving)
        .await
        .expect("libtorrent disconnected")
        .unwrap();
    assert!(
        served >= layout.total_length,
        "served {served} of {}",
        layout.total_length
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs python3-libtorrent: run scripts/test-all"]
async fn fetches_the_info_dictionary_over_ut_metadata() {
    let dir = tempfile::tempdir().unwrap();
    // Several metadata pieces: 40 MiB in 16 KiB pieces is 2560 hashes (51 KiB).
    let data = dir.path().join("data.bin");
    content::write_file(&data, 40 << 20, 9).unwrap();
    let torrent = dir.path().join("data.torrent");
    let created = libtorrent::create_torrent_with(
        &data,
        &torrent,
        &libtorrent::CreateOptions {
            v1_only: true,
            piece_size: Some(16 * 1024),
        },
    )
    .unwrap();
    let hex = created.hashes.v1.expect("a v1 hash");
    let info_hash: InfoHash = hex.parse().unwrap();
    let session = start_session(seeder_spec(dir.path(), &torrent)).await;

    let conn = connect_to(session.port(), info_hash).await;
    assert_libtorrent_handshake(&conn);
    let (peers, mut events) = PeerManager::start(PeerManagerConfig::default());
    // Without the metadata we do not know the piece count: no bitfield check.
    let codec = PeerCodec::new(PeerCodec::default_max_len(1 << 20));
    let key = peers
        .add(
            conn.transport,
            PeerInfo {
                addr: conn.info.addr,
                codec,
            },
        )
        .unwrap();
    peers.send(key, ext_handshake(None)).await.unwrap();

    let (size, theirs) = loop {
        if let PeerEvent::Message {
            message: Message::Extended { id: 0, payload },
            ..
        } = next_event(&mut events, Duration::from_secs(10)).await
        {
            let hs = ExtensionHandshake::decode(&payload).unwrap();
            break (
                hs.metadata_size.expect("metadata_size") as usize,
                ExtensionIds::from_handshake(&hs),
            );
        }
    };
    assert!(
        size > 2 * 16384,
        "the test wants several metadata pieces, got {size} bytes"
    );
    let count = size.div_ceil(16384) as u32;
    for piece in 0..count {
        let msg = ExtendedMessage::UtMetadata(UtMetadata::Request { piece });
        peers
            .send(key, msg.to_message(&theirs).expect("ut_metadata"))
            .await
            .unwrap();
    }
    let mut info = vec![0u8; size];
    let mut got = 0;
    while got < count {
        let PeerEvent::Message {
            message: Message::Extended { id, payload },
            ..
        } = next_event(&mut events, Duration::from_secs(10)).await
        else {
            continue;
        };
        match ExtendedMessage::decode(id, payload, &ExtensionIds::OURS).unwrap() {
            ExtendedMessage::UtMetadata(UtMetadata::Data {
                piece,
                total_size,
                data,
            }) => {
                assert_eq!(total_size as usize, size);
                let start = piece as usize * 16384;
                info[start..start + data.len()].copy_from_slice(&data);
                got += 1;
            }
            ExtendedMessage::UtMetadata(other) => panic!("{other:?}"),
            _ => {}
        }
    }
    // The rule: the info dictionary hashes to the info-hash.
    assert_eq!(
        InfoHash::V1(InfoHashV1(Sha1::digest(&info).into())),
        info_hash
    );
    let layout = TorrentLayout::from_info(&info);
    assert_eq!(layout.total_length, 40 << 20);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs python3-libtorrent: run scripts/test-all"]
async fn handshakes_with_the_v2_hash_of_a_hybrid_torrent() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data.bin");
    content::write_file(&data, 1 << 20, 11).unwrap();
    let torrent = dir.path().join("hybrid.torrent");
    let hashes = libtorrent::create_torrent(&data, &torrent, false).unwrap();
    let v2: InfoHash = hashes
        .v2
        .expect("a hybrid torrent has a v2 hash")
        .parse()
        .unwrap();
    assert!(v2.v2().is_some());
    let session = start_session(seeder_spec(dir.path(), &torrent)).await;

    // BEP 52: the v2 swarm is addressed by the truncated SHA-256.
    let conn = connect_to(session.port(), v2).await;
    assert_eq!(conn.info.info_hash, v2);
    assert_eq!(conn.info.remote.info_hash, v2.wire());
    // libtorrent 2.0.8 leaves the BEP 52 upgrade bit clear here: the
    // connection already names the v2 swarm, there is nothing to upgrade.
    // And the wire protocol goes on: libtorrent sends its extension handshake.
    let (peers, mut events) = PeerManager::start(PeerManagerConfig::default());
    let key = peers
        .add(
            conn.transport,
            PeerInfo {
                addr: conn.info.addr,
                codec: PeerCodec::default(),
            },
        )
        .unwrap();
    peers.send(key, ext_handshake(None)).await.unwrap();
    loop {
        match next_event(&mut events, Duration::from_secs(10)).await {
            PeerEvent::Message {
                message: Message::Extended { id: 0, payload },
                ..
            } => {
                let hs = ExtensionHandshake::decode(&payload).unwrap();
                assert!(hs.metadata_size.is_some());
                break;
            }
            PeerEvent::Disconnected { reason, .. } => panic!("{reason:?}"),
            _ => {}
        }
    }
}
