//! The HandshakeManager on loopback TCP (IPv4 and IPv6).

use std::sync::Arc;
use std::time::Duration;

use bitswarm_core::{InfoHash, InfoHashV1, InfoHashV2};
use bitswarm_handshake::{
    BanList, Connections, Direction, Error, Extensions, HandshakeConfig, HandshakeEvent,
    HandshakeManager, Handshaker,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const V1: InfoHash = InfoHash::V1(InfoHashV1([0x11; 20]));

fn config() -> HandshakeConfig {
    HandshakeConfig::new(bitswarm_handshake::peer_id())
}

async fn next(events: &mut Connections) -> HandshakeEvent {
    tokio::time::timeout(Duration::from_secs(5), events.next_event())
        .await
        .expect("an event within 5 s")
        .expect("stream open")
}

#[tokio::test]
async fn v1_and_v2_on_ipv4_and_ipv6() {
    let v2 = InfoHash::V2(InfoHashV2([0x22; 32]));
    let (server, mut incoming) = HandshakeManager::start(config(), vec![]);
    server.register(V1);
    server.register(v2);
    let a4 = server.listen("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let a6 = server.listen("[::1]:0".parse().unwrap()).await.unwrap();
    let (client, mut outgoing) = HandshakeManager::start(config(), vec![]);
    for (addr, hash) in [(a4, V1), (a6, v2)] {
        client.connect(addr, hash).await.unwrap();
        let HandshakeEvent::Connected(out) = next(&mut outgoing).await else {
            panic!("outgoing failed")
        };
        let HandshakeEvent::Connected(inc) = next(&mut incoming).await else {
            panic!("incoming failed")
        };
        assert_eq!(out.info.direction, Direction::Outgoing);
        assert_eq!(inc.info.direction, Direction::Incoming);
        // The server maps the truncated v2 hash back to the full one.
        assert_eq!(inc.info.info_hash, hash);
        assert_eq!(inc.info.remote.info_hash, hash.wire());
        assert_eq!(inc.info.remote.peer_id, client.peer_id());
        assert_eq!(out.info.remote.peer_id, server.peer_id());
        assert_eq!(out.info.extensions, Extensions::BITSWARM);
        assert_eq!(out.info.addr.is_ipv6(), addr.is_ipv6());
    }
}

#[tokio::test]
async fn bytes_after_the_handshake_stay_in_the_transport() {
    let (server, mut incoming) = HandshakeManager::start(config(), vec![]);
    server.register(V1);
    let addr = server.listen("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let mut raw = tokio::net::TcpStream::connect(addr).await.unwrap();
    let hs = bitswarm_handshake::Handshake {
        extensions: Extensions::NONE,
        info_hash: V1.wire(),
        peer_id: bitswarm_core::PeerId([5; 20]),
    };
    let mut bytes = hs.to_bytes().to_vec();
    bytes.extend_from_slice(b"\x00\x00\x00\x01\x02"); // interested, same segment
    raw.write_all(&bytes).await.unwrap();
    let HandshakeEvent::Connected(mut conn) = next(&mut incoming).await else {
        panic!("handshake failed")
    };
    let mut after = [0u8; 5];
    conn.transport.read_exact(&mut after).await.unwrap();
    assert_eq!(&after, b"\x00\x00\x00\x01\x02");
    let mut reply = [0u8; 68];
    raw.read_exact(&mut reply).await.unwrap();
    assert_eq!(
        bitswarm_handshake::Handshake::decode(&reply)
            .unwrap()
            .unwrap()
            .peer_id,
        server.peer_id()
    );
}

#[tokio::test]
async fn refuses_ourselves_unknown_torrents_and_bans() {
    let bans = BanList::new();
    let (server, mut events) = HandshakeManager::start(config(), vec![Arc::new(bans.clone())]);
    server.register(V1);
    let addr = server.listen("127.0.0.1:0".parse().unwrap()).await.unwrap();

    // Connecting to our own listener: both ends see our own id.
    server.connect(addr, V1).await.unwrap();
    for _ in 0..2 {
        match next(&mut events).await {
            HandshakeEvent::Failed { error, .. } => assert!(
                matches!(
                    error,
                    Error::SelfConnection | Error::Truncated { .. } | Error::Io { .. }
                ),
                "{error}"
            ),
            HandshakeEvent::Connected(c) => panic!("connected to ourselves: {c:?}"),
            _ => unreachable!(),
        }
    }

    let (client, mut out) = HandshakeManager::start(config(), vec![]);
    let unknown = InfoHash::V1(InfoHashV1([0x99; 20]));
    client.connect(addr, unknown).await.unwrap();
    match next(&mut events).await {
        HandshakeEvent::Failed {
            error: Error::UnknownInfoHash { info_hash },
            ..
        } => {
            assert_eq!(info_hash, unknown.wire());
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        next(&mut out).await,
        HandshakeEvent::Failed { .. }
    ));

    bans.ban_peer_id(client.peer_id());
    client.connect(addr, V1).await.unwrap();
    match next(&mut events).await {
        HandshakeEvent::Failed {
            error: Error::Filtered { reason, .. },
            ..
        } => {
            assert_eq!(reason, "banned peer id");
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn per_torrent_limit_and_release() {
    let mut cfg = config();
    cfg.max_connections_per_torrent = 1;
    let (server, mut events) = HandshakeManager::start(cfg, vec![]);
    server.register(V1);
    let addr = server.listen("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let (client, mut out) = HandshakeManager::start(config(), vec![]);
    client.connect(addr, V1).await.unwrap();
    let HandshakeEvent::Connected(first) = next(&mut events).await else {
        panic!()
    };
    let _ = next(&mut out).await;
    client.connect(addr, V1).await.unwrap();
    match next(&mut events).await {
        HandshakeEvent::Failed {
            error: Error::Filtered { reason, .. },
            ..
        } => {
            assert_eq!(reason, "per-torrent connection limit");
        }
        other => panic!("{other:?}"),
    }
    let _ = next(&mut out).await;
    drop(first);
    client.connect(addr, V1).await.unwrap();
    assert!(matches!(
        next(&mut events).await,
        HandshakeEvent::Connected(_)
    ));
}

#[tokio::test]
async fn silent_peer_times_out_and_shutdown_ends_the_stream() {
    let mut cfg = config();
    cfg.timeout = Duration::from_millis(200);
    let (server, mut events) = HandshakeManager::start(cfg, vec![]);
    server.register(V1);
    let addr = server.listen("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let _silent = tokio::net::TcpStream::connect(addr).await.unwrap();
    match next(&mut events).await {
        HandshakeEvent::Failed {
            error: Error::Timeout { .. },
            direction,
            ..
        } => {
            assert_eq!(direction, Direction::Incoming);
        }
        other => panic!("{other:?}"),
    }
    drop(server);
    assert!(
        tokio::time::timeout(Duration::from_secs(5), events.next_event())
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn global_limit_counts_every_torrent() {
    let other = InfoHash::V1(InfoHashV1([0x12; 20]));
    let mut cfg = config();
    cfg.max_connections = 1;
    let (server, mut events) = HandshakeManager::start(cfg, vec![]);
    server.register(V1);
    server.register(other);
    let addr = server.listen("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let (client, mut out) = HandshakeManager::start(config(), vec![]);
    client.connect(addr, V1).await.unwrap();
    let HandshakeEvent::Connected(_first) = next(&mut events).await else {
        panic!()
    };
    let _ = next(&mut out).await;
    client.connect(addr, other).await.unwrap();
    match next(&mut events).await {
        HandshakeEvent::Failed {
            error: Error::Filtered { reason, .. },
            ..
        } => assert_eq!(reason, "global connection limit"),
        other => panic!("{other:?}"),
    }
}
