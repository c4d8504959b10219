//! Two of our peers on loopback: HandshakeManager, then PeerManager, moving
//! every block of a torrent.

mod common;

use std::time::Duration;

use bitswarm_core::{Bitfield, InfoHash, InfoHashV1};
use bitswarm_handshake::{HandshakeConfig, HandshakeEvent, HandshakeManager, Handshaker};
use bitswarm_peer::{
    DisconnectReason, Error, Message, PeerCodec, PeerEvent, PeerInfo, PeerManager,
    PeerManagerConfig,
};
use bytes::Bytes;
use common::{download_all, make_torrent, next_event, serve};

async fn connected_pair(
    info_hash: InfoHash,
) -> (
    bitswarm_handshake::Connection,
    bitswarm_handshake::Connection,
) {
    let (seed_hs, mut seed_conns) =
        HandshakeManager::start(HandshakeConfig::new(bitswarm_handshake::peer_id()), vec![]);
    seed_hs.register(info_hash);
    let addr = seed_hs
        .listen("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let (leech_hs, mut leech_conns) =
        HandshakeManager::start(HandshakeConfig::new(bitswarm_handshake::peer_id()), vec![]);
    leech_hs.connect(addr, info_hash).await.unwrap();
    let Some(HandshakeEvent::Connected(a)) = leech_conns.next_event().await else {
        panic!("outgoing handshake failed")
    };
    let Some(HandshakeEvent::Connected(b)) = seed_conns.next_event().await else {
        panic!("incoming handshake failed")
    };
    (a, b)
}

#[tokio::test]
async fn two_peers_move_every_block() {
    let data = Bytes::from(bitswarm_testkit::content::Rng::new(7).bytes(3 * 1024 * 1024 + 12_345));
    let layout = make_torrent(&data, 256 * 1024);
    let info_hash = InfoHash::V1(InfoHashV1(layout.info_hash));
    let (to_seed, to_leech) = connected_pair(info_hash).await;

    let (seeder, mut seed_events) = PeerManager::start(PeerManagerConfig::default());
    let codec = PeerCodec::for_torrent(layout.pieces());
    // The connection-limit permit lives as long as the peer.
    let seed_key = seeder
        .add_guarded(
            to_leech.transport,
            PeerInfo {
                addr: to_leech.info.addr,
                codec,
            },
            to_leech.permit,
        )
        .unwrap();
    seeder
        .send(
            seed_key,
            Message::Bitfield(Bitfield::full(layout.pieces()).to_bytes()),
        )
        .await
        .unwrap();

    let (leecher, mut leech_events) = PeerManager::start(PeerManagerConfig::default());
    let key = leecher
        .add(
            to_seed.transport,
            PeerInfo {
                addr: to_seed.info.addr,
                codec,
            },
        )
        .unwrap();
    let seed_layout = layout.clone();
    let seed_data = data.clone();
    let seeding = tokio::spawn(async move {
        let reason = serve(
            &seeder,
            &mut seed_events,
            seed_data,
            &seed_layout,
            Duration::from_secs(20),
        )
        .await;
        (reason, seeder.stats(seed_key))
    });

    let (content, _) = download_all(
        &leecher,
        &mut leech_events,
        key,
        &layout,
        64,
        Duration::from_secs(20),
    )
    .await;
    assert_eq!(content, data);
    let stats = leecher.stats(key).unwrap();
    assert_eq!(stats.payload_received, data.len() as u64);
    assert!(stats.bytes_received > stats.payload_received);
    leecher.disconnect(key);
    match next_event(&mut leech_events, Duration::from_secs(5)).await {
        PeerEvent::Disconnected {
            peer,
            reason: DisconnectReason::Requested,
        } => assert_eq!(peer, key),
        other => panic!("{other:?}"),
    }
    let ((reason, served), _) = seeding.await.unwrap();
    assert_eq!(served, data.len() as u64);
    assert!(matches!(reason, DisconnectReason::Closed), "{reason:?}");
}

#[tokio::test]
async fn keep_alives_keep_an_idle_peer_and_silence_drops_it() {
    let info_hash = InfoHash::V1(InfoHashV1([3; 20]));
    let (a, b) = connected_pair(info_hash).await;
    let config = PeerManagerConfig {
        keep_alive_after: Duration::from_millis(100),
        idle_timeout: Duration::from_millis(400),
        ..PeerManagerConfig::default()
    };
    let (left, mut left_events) = PeerManager::start(config.clone());
    let (right, mut right_events) = PeerManager::start(config);
    let codec = PeerCodec::for_torrent(8);
    let l = left
        .add(
            a.transport,
            PeerInfo {
                addr: a.info.addr,
                codec,
            },
        )
        .unwrap();
    let _r = right
        .add(
            b.transport,
            PeerInfo {
                addr: b.info.addr,
                codec,
            },
        )
        .unwrap();
    // Both sides send keep-alives every 100 ms: nobody times out.
    let mut keep_alives = 0;
    while keep_alives < 5 {
        match next_event(&mut left_events, Duration::from_secs(2)).await {
            PeerEvent::Message {
                message: Message::KeepAlive,
                ..
            } => keep_alives += 1,
            other => panic!("{other:?}"),
        }
    }
    assert!(left.stats(l).unwrap().bytes_received >= 20);
    // A raw socket that never answers is dropped after the idle timeout.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let silent_addr = listener.local_addr().unwrap();
    let (stream, accepted) = tokio::join!(
        tokio::net::TcpStream::connect(silent_addr),
        listener.accept()
    );
    let _silent_end = accepted.unwrap();
    let s = right
        .add(
            stream.unwrap(),
            PeerInfo {
                addr: silent_addr,
                codec,
            },
        )
        .unwrap();
    loop {
        match next_event(&mut right_events, Duration::from_secs(3)).await {
            PeerEvent::Disconnected { peer, reason } if peer == s => {
                assert!(
                    matches!(reason, DisconnectReason::IdleTimeout),
                    "{reason:?}"
                );
                break;
            }
            PeerEvent::Message { .. } => {}
            other => panic!("{other:?}"),
        }
    }
}

#[tokio::test]
async fn hostile_frames_disconnect_with_a_typed_error() {
    let (left, mut events) = PeerManager::start(PeerManagerConfig::default());
    let (ours, mut theirs) = tokio::io::duplex(1 << 16);
    let k = left
        .add(
            ours,
            PeerInfo {
                addr: "127.0.0.1:1".parse().unwrap(),
                codec: PeerCodec::for_torrent(8),
            },
        )
        .unwrap();
    tokio::io::AsyncWriteExt::write_all(&mut theirs, b"\x00\x00\x00\x01\x01\x7f\xff\xff\xff")
        .await
        .unwrap();
    assert!(matches!(
        next_event(&mut events, Duration::from_secs(2)).await,
        PeerEvent::Message {
            message: Message::Unchoke,
            ..
        }
    ));
    match next_event(&mut events, Duration::from_secs(2)).await {
        PeerEvent::Disconnected {
            peer,
            reason: DisconnectReason::Error(Error::MessageTooLong { .. }),
        } => {
            assert_eq!(peer, k);
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        left.send(k, Message::Choke).await,
        Err(Error::NoSuchPeer)
    ));
}

#[tokio::test]
async fn full_send_queue_pushes_back_and_shutdown_ends_the_stream() {
    let config = PeerManagerConfig {
        send_queue: 4,
        ..PeerManagerConfig::default()
    };
    let (mgr, mut events) = PeerManager::start(config);
    // The other end never reads: the writer blocks once the pipe is full.
    let (ours, _theirs) = tokio::io::duplex(64);
    let k = mgr
        .add(
            ours,
            PeerInfo {
                addr: "127.0.0.1:1".parse().unwrap(),
                codec: PeerCodec::for_torrent(8),
            },
        )
        .unwrap();
    let big = Message::Bitfield(Bytes::from(vec![0u8; 1000]));
    let mut full = false;
    for _ in 0..20 {
        match mgr.try_send(k, big.clone()) {
            Ok(()) => tokio::task::yield_now().await,
            Err(Error::QueueFull) => {
                full = true;
                break;
            }
            Err(e) => panic!("{e}"),
        }
    }
    assert!(full, "the bounded queue never filled");
    mgr.shutdown();
    assert!(
        tokio::time::timeout(Duration::from_secs(2), events.next_event())
            .await
            .unwrap()
            .is_none()
    );
    assert!(matches!(
        mgr.send(k, Message::Choke).await,
        Err(Error::Shutdown)
    ));
}
