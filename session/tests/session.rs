//! Two bitswarm sessions on loopback: transfers, pause and resume, removal,
//! magnets, restarts with resume data, and peers that lie.

use std::path::{Path, PathBuf};
use std::time::Duration;

use bitswarm_metainfo::{Metainfo, TorrentBuilder};
use bitswarm_session::{
    AddTorrent, Session, SessionConfig, SessionEvent, SessionEvents, TorrentId, TorrentState,
};
use bitswarm_testkit::content;

mod common;
use common::{assert_same_tree, config, event_within};

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
    let found = event_within(events, LIMIT, pred).await;
    assert!(found, "no {what} within {LIMIT:?}");
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
    assert_same_tree(FILES, &seed.data, &leech_dir.join("album"));
    let seed_status = seed.session.status(seed.id).await.unwrap();
    assert!(seed_status.uploaded >= seed.torrent.total_length());

    leecher.shutdown().await.unwrap();
    seed.session.shutdown().await.unwrap();
    // Subscriptions end at shutdown.
    let ended = tokio::time::timeout(LIMIT, async {
        while events.next_event().await.is_some() {}
    })
    .await;
    assert!(ended.is_ok(), "events go on after shutdown");
    assert!(matches!(
        leecher.status(id).await,
        Err(bitswarm_session::Error::Shutdown)
    ));
    assert!(matches!(
        leecher
            .add_torrent(AddTorrent::torrent(seed.torrent.clone()))
            .await,
        Err(bitswarm_session::Error::Shutdown)
    ));
}

/// A leecher session limited to `rate` bytes per second, keeping resume
/// data in `resume_dir` when given.
async fn leecher(dir: &Path, rate: Option<u64>, resume_dir: Option<PathBuf>) -> Session {
    let mut c = config(dir);
    c.download_rate_limit = rate;
    c.resume_dir = resume_dir;
    Session::start(c).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pause_stops_the_transfer_and_resume_finishes_it() {
    let dir = tempfile::tempdir().unwrap();
    let seed = seeder(dir.path(), 32 * 1024).await;
    let leech_dir = dir.path().join("leech");
    let leecher = leecher(&leech_dir, Some(256 * 1024), None).await;
    let mut events = leecher.events();
    let mut add = AddTorrent::torrent(seed.torrent.clone());
    add.peers = seed.session.listen_addrs();
    let id = leecher.add_torrent(add).await.unwrap();
    wait_for(&mut events, "a piece", |e| {
        matches!(e, SessionEvent::PieceDone(..))
    })
    .await;

    leecher.pause(id).await.unwrap();
    wait_for(&mut events, "paused", |e| {
        *e == SessionEvent::StateChanged(id, TorrentState::Paused)
    })
    .await;
    // Peers go; writes in flight may still verify a piece or two; then
    // nothing moves.
    let idle = tokio::time::timeout(LIMIT, async {
        while leecher.status(id).await.unwrap().peers > 0 {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    assert!(idle.is_ok(), "a paused torrent kept its peers");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = leecher.status(id).await.unwrap();
    assert_eq!(before.state, TorrentState::Paused);
    assert_eq!(before.peers, 0);
    assert!(before.pieces.0 < before.pieces.1);
    tokio::time::sleep(Duration::from_secs(1)).await;
    let after = leecher.status(id).await.unwrap();
    assert_eq!(
        after.pieces.0, before.pieces.0,
        "pieces arrived while paused"
    );
    assert_eq!(after.downloaded, before.downloaded);

    leecher.resume(id).await.unwrap();
    wait_for(&mut events, "finish", |e| *e == SessionEvent::Finished(id)).await;
    assert_same_tree(FILES, &seed.data, &leech_dir.join("album"));
    leecher.shutdown().await.unwrap();
    seed.session.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remove_with_files_deletes_them() {
    let dir = tempfile::tempdir().unwrap();
    let seed = seeder(dir.path(), 32 * 1024).await;
    let leech_dir = dir.path().join("leech");
    let leecher = leecher(&leech_dir, None, None).await;
    let mut events = leecher.events();
    let mut add = AddTorrent::torrent(seed.torrent.clone());
    add.peers = seed.session.listen_addrs();
    let id = leecher.add_torrent(add).await.unwrap();
    wait_for(&mut events, "finish", |e| *e == SessionEvent::Finished(id)).await;
    assert!(leech_dir.join("album/sub/b.bin").exists());

    leecher.remove(id, true).await.unwrap();
    wait_for(&mut events, "removal", |e| {
        *e == SessionEvent::TorrentRemoved(id)
    })
    .await;
    assert!(matches!(
        leecher.status(id).await,
        Err(bitswarm_session::Error::UnknownTorrent(_))
    ));
    for (name, _) in FILES {
        assert!(
            !leech_dir.join("album").join(name).exists(),
            "{name} left behind"
        );
    }
    assert!(leecher.torrents().await.is_empty());
    // Removing without deleting keeps the seeder's files.
    seed.session.remove(seed.id, false).await.unwrap();
    assert!(seed.data.join("sub/b.bin").exists());
    leecher.shutdown().await.unwrap();
    seed.session.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn magnet_gets_metadata_from_the_seeder_and_completes() {
    let dir = tempfile::tempdir().unwrap();
    let seed = seeder(dir.path(), 32 * 1024).await;
    let leech_dir = dir.path().join("leech");
    let leecher = leecher(&leech_dir, None, None).await;
    let mut events = leecher.events();
    let mut magnet = seed.torrent.magnet();
    magnet.peers = seed
        .session
        .listen_addrs()
        .iter()
        .map(ToString::to_string)
        .collect();
    let id = leecher
        .add_torrent(AddTorrent::magnet(magnet))
        .await
        .unwrap();
    assert_eq!(id, seed.id);
    wait_for(&mut events, "metadata", |e| {
        *e == SessionEvent::MetadataReceived(id)
    })
    .await;
    wait_for(&mut events, "finish", |e| *e == SessionEvent::Finished(id)).await;
    assert_same_tree(FILES, &seed.data, &leech_dir.join("album"));
    let meta = leecher.metainfo(id).await.unwrap().unwrap();
    assert_eq!(meta.info_bytes(), seed.torrent.info_bytes());
    leecher.shutdown().await.unwrap();
    seed.session.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_with_resume_data_skips_verified_pieces() {
    let dir = tempfile::tempdir().unwrap();
    let seed = seeder(dir.path(), 16 * 1024).await;
    let leech_dir = dir.path().join("leech");
    let resume_dir = dir.path().join("resume");
    let total = seed.torrent.num_pieces();

    // First run: slow, stopped at about a third.
    let first = leecher(&leech_dir, Some(200 * 1024), Some(resume_dir.clone())).await;
    let mut events = first.events();
    let mut add = AddTorrent::torrent(seed.torrent.clone());
    add.peers = seed.session.listen_addrs();
    let id = first.add_torrent(add).await.unwrap();
    let mut first_pieces = 0u32;
    let reached = event_within(&mut events, LIMIT, |e| {
        if matches!(e, SessionEvent::PieceDone(..)) {
            first_pieces += 1;
            first_pieces >= total / 3
        } else {
            false
        }
    })
    .await;
    assert!(reached);
    first.shutdown().await.unwrap();
    assert!(resume_dir.join(format!("{id}.resume")).exists());

    // Second run: the torrent comes back from the resume file.
    let second = leecher(&leech_dir, None, Some(resume_dir.clone())).await;
    let mut events = second.events();
    assert_eq!(second.torrents().await.len(), 1);
    second
        .add_peers(id, seed.session.listen_addrs())
        .await
        .unwrap();
    let mut second_pieces = 0u32;
    let finished = event_within(&mut events, LIMIT, |e| match e {
        SessionEvent::PieceDone(..) => {
            second_pieces += 1;
            false
        }
        SessionEvent::Finished(_) => true,
        _ => false,
    })
    .await;
    assert!(finished);
    // Every piece verified in the first run is on disk and trusted.
    assert!(
        second_pieces + first_pieces <= total,
        "downloaded {second_pieces} of {total} pieces again after {first_pieces} in the first run"
    );
    assert_same_tree(FILES, &seed.data, &leech_dir.join("album"));
    second.shutdown().await.unwrap();
    seed.session.shutdown().await.unwrap();
}

mod fake {
    //! Peers that speak the wire protocol and lie.

    use std::net::SocketAddr;

    use bitswarm_core::{InfoHashV1, PeerId};
    use bitswarm_handshake::{Extensions, HANDSHAKE_LEN, Handshake};
    use bitswarm_peer::{Block, Message, PeerCodec};
    use bytes::{Bytes, BytesMut};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::{TcpListener, TcpStream};
    use tokio_util::codec::Decoder;

    pub(crate) fn handshake(info_hash: InfoHashV1) -> [u8; HANDSHAKE_LEN] {
        Handshake {
            extensions: Extensions::NONE,
            info_hash,
            peer_id: PeerId::random(),
        }
        .to_bytes()
    }

    /// Listens; to every connection it claims every piece and answers each
    /// request with garbage. Returns its address.
    pub(crate) async fn corrupt_seeder(info_hash: InfoHashV1, pieces: u32) -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(serve_garbage(stream, info_hash, pieces));
            }
        });
        addr
    }

    /// Listens; to every connection it offers the torrent's metadata
    /// (BEP 9) of `size` bytes and answers each request with garbage.
    pub(crate) async fn metadata_liar(info_hash: InfoHashV1, size: u64) -> SocketAddr {
        use bitswarm_peer::extension::{ExtensionHandshake, METADATA_PIECE_SIZE, UtMetadata};

        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let mut theirs = [0u8; HANDSHAKE_LEN];
                    if stream.read_exact(&mut theirs).await.is_err() {
                        return;
                    }
                    let mut out = BytesMut::new();
                    out.extend_from_slice(
                        &Handshake {
                            extensions: Extensions::EXTENSION_PROTOCOL,
                            info_hash,
                            peer_id: PeerId::random(),
                        }
                        .to_bytes(),
                    );
                    let mut hs = ExtensionHandshake::default();
                    hs.m.insert("ut_metadata".into(), 3);
                    hs.metadata_size = Some(size);
                    Message::Extended {
                        id: 0,
                        payload: hs.to_bytes(),
                    }
                    .encode(&mut out);
                    if stream.write_all(&out).await.is_err() {
                        return;
                    }
                    let mut codec = PeerCodec::default();
                    let mut buf = BytesMut::new();
                    loop {
                        while let Ok(Some(m)) = codec.decode(&mut buf) {
                            let Message::Extended { id: 3, payload } = m else {
                                continue;
                            };
                            let Ok(UtMetadata::Request { piece }) = UtMetadata::decode(payload)
                            else {
                                continue;
                            };
                            let start = u64::from(piece) * METADATA_PIECE_SIZE as u64;
                            let len = size.saturating_sub(start).min(METADATA_PIECE_SIZE as u64);
                            let data = UtMetadata::Data {
                                piece,
                                total_size: size,
                                data: Bytes::from(vec![b'x'; len as usize]),
                            };
                            // Our extension id for ut_metadata is 1.
                            let reply = Message::Extended {
                                id: 1,
                                payload: data.to_bytes(),
                            };
                            if stream.write_all(&reply.to_bytes()).await.is_err() {
                                return;
                            }
                        }
                        match stream.read_buf(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(_) => {}
                        }
                    }
                });
            }
        });
        addr
    }

    async fn serve_garbage(mut stream: TcpStream, info_hash: InfoHashV1, pieces: u32) {
        let mut theirs = [0u8; HANDSHAKE_LEN];
        if stream.read_exact(&mut theirs).await.is_err() {
            return;
        }
        let mut out = BytesMut::new();
        out.extend_from_slice(&handshake(info_hash));
        let mut all = vec![0xffu8; pieces.div_ceil(8) as usize];
        if pieces % 8 != 0 {
            if let Some(last) = all.last_mut() {
                *last = 0xff << (8 - pieces % 8);
            }
        }
        Message::Bitfield(Bytes::from(all)).encode(&mut out);
        Message::Unchoke.encode(&mut out);
        if stream.write_all(&out).await.is_err() {
            return;
        }
        let mut codec = PeerCodec::for_torrent(pieces);
        let mut buf = BytesMut::new();
        loop {
            while let Ok(Some(m)) = codec.decode(&mut buf) {
                if let Message::Request(r) = m {
                    let piece = Message::Piece(Block {
                        piece: r.piece,
                        offset: r.offset,
                        data: Bytes::from(vec![0x5a; r.length as usize]),
                    });
                    if stream.write_all(&piece.to_bytes()).await.is_err() {
                        return;
                    }
                }
            }
            match stream.read_buf(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_sending_corrupt_blocks_is_banned() {
    let dir = tempfile::tempdir().unwrap();
    let seed = seeder(dir.path(), 32 * 1024).await;
    let liar = fake::corrupt_seeder(seed.id.0, seed.torrent.num_pieces()).await;
    let leech_dir = dir.path().join("leech");
    let leecher = leecher(&leech_dir, None, None).await;
    let mut events = leecher.events();
    // The liar alone first, so that its blocks make whole pieces.
    let mut add = AddTorrent::torrent(seed.torrent.clone());
    add.peers = vec![liar];
    let id = leecher.add_torrent(add).await.unwrap();
    wait_for(&mut events, "the ban", |e| {
        *e == SessionEvent::PeerBanned(id, liar)
    })
    .await;
    wait_for(&mut events, "the liar's disconnection", |e| {
        *e == SessionEvent::PeerDisconnected(id, liar)
    })
    .await;
    assert!(
        leecher
            .peers(id)
            .await
            .unwrap()
            .iter()
            .all(|p| p.addr != liar)
    );

    leecher
        .add_peers(id, seed.session.listen_addrs())
        .await
        .unwrap();
    wait_for(&mut events, "finish", |e| *e == SessionEvent::Finished(id)).await;
    assert_same_tree(FILES, &seed.data, &leech_dir.join("album"));
    // A banned peer is not connected again.
    leecher.add_peers(id, vec![liar]).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        leecher
            .peers(id)
            .await
            .unwrap()
            .iter()
            .all(|p| p.addr != liar)
    );
    leecher.shutdown().await.unwrap();
    seed.session.shutdown().await.unwrap();
}

/// Whether the session closes `stream` (EOF or reset) within the limit,
/// reading and dropping whatever it sends first.
async fn closed_by_peer(stream: &mut tokio::net::TcpStream) -> bool {
    use tokio::io::AsyncReadExt;
    let mut buf = vec![0u8; 64 * 1024];
    let result = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await;
    result.is_ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_from_peers_does_not_disturb_the_session() {
    use bitswarm_core::{BlockRef, PieceIndex};
    use bitswarm_peer::Message;
    use bytes::Bytes;
    use tokio::io::AsyncWriteExt;
    use tokio::net::TcpStream;

    let dir = tempfile::tempdir().unwrap();
    let seed = seeder(dir.path(), 32 * 1024).await;
    let target = seed.session.listen_addrs()[0];
    let pieces = seed.torrent.num_pieces();
    let mut seed_events = seed.session.events();

    // Random bytes instead of a handshake.
    let mut s = TcpStream::connect(target).await.unwrap();
    let mut rng = content::Rng::new(99);
    s.write_all(&rng.bytes(4096)).await.unwrap();
    assert!(
        closed_by_peer(&mut s).await,
        "random bytes: still connected"
    );

    // A handshake for a torrent the session does not have.
    let mut s = TcpStream::connect(target).await.unwrap();
    s.write_all(&fake::handshake(bitswarm_core::InfoHashV1([0x33; 20])))
        .await
        .unwrap();
    assert!(
        closed_by_peer(&mut s).await,
        "unknown torrent: still connected"
    );

    // A good handshake, then random bytes.
    let mut s = TcpStream::connect(target).await.unwrap();
    s.write_all(&fake::handshake(seed.id.0)).await.unwrap();
    s.write_all(&rng.bytes(100_000)).await.unwrap_or(());
    assert!(
        closed_by_peer(&mut s).await,
        "garbage messages: still connected"
    );

    // A bitfield of the wrong size.
    let mut s = TcpStream::connect(target).await.unwrap();
    s.write_all(&fake::handshake(seed.id.0)).await.unwrap();
    let wrong = Message::Bitfield(Bytes::from(vec![0xff; pieces.div_ceil(8) as usize + 3]));
    s.write_all(&wrong.to_bytes()).await.unwrap();
    assert!(
        closed_by_peer(&mut s).await,
        "wrong-size bitfield: still connected"
    );
    wait_for(&mut seed_events, "the bad bitfield reported", |e| {
        matches!(e, SessionEvent::PeerMisbehaved(t, _, why) if *t == seed.id && why.contains("bitfield"))
    })
    .await;

    // Out-of-range haves and requests, over and over.
    let mut s = TcpStream::connect(target).await.unwrap();
    s.write_all(&fake::handshake(seed.id.0)).await.unwrap();
    let mut flood = Vec::new();
    flood.extend_from_slice(&Message::Interested.to_bytes());
    for i in 0..40u32 {
        flood.extend_from_slice(&Message::Have(PieceIndex(pieces + i)).to_bytes());
        let block = BlockRef {
            piece: PieceIndex(pieces + i),
            offset: 0,
            length: 16384,
        };
        flood.extend_from_slice(&Message::Request(block).to_bytes());
        let inside = BlockRef {
            piece: PieceIndex(0),
            offset: 1 << 30,
            length: 1 << 20,
        };
        flood.extend_from_slice(&Message::Request(inside).to_bytes());
    }
    s.write_all(&flood).await.unwrap_or(());
    assert!(
        closed_by_peer(&mut s).await,
        "flood of bad requests: still connected"
    );
    wait_for(&mut seed_events, "the flood reported", |e| {
        matches!(e, SessionEvent::PeerMisbehaved(t, _, why) if *t == seed.id && why.contains("violations"))
    })
    .await;

    // The session still serves an honest leecher.
    assert_eq!(
        seed.session.status(seed.id).await.unwrap().state,
        TorrentState::Seeding
    );
    let leech_dir = dir.path().join("leech");
    let leecher = leecher(&leech_dir, None, None).await;
    let mut events = leecher.events();
    let mut add = AddTorrent::torrent(seed.torrent.clone());
    add.peers = vec![target];
    let id = leecher.add_torrent(add).await.unwrap();
    wait_for(&mut events, "finish", |e| *e == SessionEvent::Finished(id)).await;
    assert_same_tree(FILES, &seed.data, &leech_dir.join("album"));
    leecher.shutdown().await.unwrap();
    seed.session.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recheck_finds_damaged_pieces() {
    let dir = tempfile::tempdir().unwrap();
    let seed = seeder(dir.path(), 32 * 1024).await;
    let mut events = seed.session.events();
    // Damage the start of the big file: its first piece no longer verifies.
    let path = seed.data.join("sub/b.bin");
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[..100].fill(0xee);
    std::fs::write(&path, &bytes).unwrap();

    seed.session.recheck(seed.id).await.unwrap();
    wait_for(&mut events, "checking", |e| {
        *e == SessionEvent::StateChanged(seed.id, TorrentState::Checking)
    })
    .await;
    wait_for(&mut events, "the end of the check", |e| {
        *e == SessionEvent::StateChanged(seed.id, TorrentState::Downloading)
    })
    .await;
    let status = seed.session.status(seed.id).await.unwrap();
    assert_eq!(status.pieces.0 + 1, status.pieces.1);
    let files = seed.session.files(seed.id).await.unwrap();
    let b = files.iter().find(|f| f.path == "sub/b.bin").unwrap();
    assert_eq!(b.downloaded, b.length - 32 * 1024);
    seed.session.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_skipped_file_is_not_downloaded() {
    let dir = tempfile::tempdir().unwrap();
    let seed = seeder(dir.path(), 32 * 1024).await;
    let leech_dir = dir.path().join("leech");
    let leecher = leecher(&leech_dir, None, None).await;
    let mut events = leecher.events();
    let mut add = AddTorrent::torrent(seed.torrent.clone());
    add.peers = seed.session.listen_addrs();
    add.paused = true;
    let id = leecher.add_torrent(add).await.unwrap();
    let files = seed.torrent.files();
    let skipped = files
        .iter()
        .position(|f| f.path().components().join("/") == "sub/b.bin")
        .unwrap();
    let mut priorities = vec![4u8; files.len()];
    priorities[skipped] = 0;
    // Wrong lengths and values are refused.
    assert!(leecher.set_file_priorities(id, vec![4]).await.is_err());
    assert!(
        leecher
            .set_file_priorities(id, vec![9; files.len()])
            .await
            .is_err()
    );
    leecher.set_file_priorities(id, priorities).await.unwrap();
    leecher.set_sequential(id, true).await.unwrap();
    leecher.resume(id).await.unwrap();
    wait_for(&mut events, "finish", |e| *e == SessionEvent::Finished(id)).await;

    let status = leecher.status(id).await.unwrap();
    assert_eq!(status.state, TorrentState::Seeding);
    assert!(status.pieces.0 < status.pieces.1);
    for f in leecher.files(id).await.unwrap() {
        if f.path == "sub/b.bin" {
            assert_eq!(f.priority, 0);
            // Only the pieces it shares with wanted neighbours come.
            assert!(
                f.downloaded <= 2 * 32 * 1024,
                "a skipped file was downloaded"
            );
        } else {
            assert_eq!(f.downloaded, f.length, "{} incomplete", f.path);
        }
    }
    for name in ["a.bin", "sub/c.bin", "z.bin"] {
        let a = std::fs::read(seed.data.join(name)).unwrap();
        let b = std::fs::read(leech_dir.join("album").join(name)).unwrap();
        assert!(a == b, "{name} differs");
    }
    leecher.shutdown().await.unwrap();
    seed.session.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transfer_over_ipv6_loopback() {
    if std::net::TcpListener::bind("[::1]:0").is_err() {
        eprintln!("no IPv6 loopback here: skipped");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("seed");
    let torrent = make_torrent(&data, 64 * 1024);
    let v6 = |d: &Path| SessionConfig {
        listen: vec!["[::1]:0".parse().unwrap()],
        ..config(d)
    };
    let seeder = Session::start(v6(&data)).await.unwrap();
    assert!(seeder.listen_addrs()[0].is_ipv6());
    seeder
        .add_torrent(AddTorrent::torrent(torrent.clone()))
        .await
        .unwrap();
    let leech_dir = dir.path().join("leech");
    let leecher = Session::start(v6(&leech_dir)).await.unwrap();
    let mut events = leecher.events();
    let mut add = AddTorrent::torrent(torrent);
    add.peers = seeder.listen_addrs();
    let id = leecher.add_torrent(add).await.unwrap();
    wait_for(&mut events, "finish", |e| *e == SessionEvent::Finished(id)).await;
    assert_same_tree(FILES, &data.join("album"), &leech_dir.join("album"));
    leecher.shutdown().await.unwrap();
    seeder.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_errors_are_typed() {
    let dir = tempfile::tempdir().unwrap();
    let session = Session::start(config(dir.path())).await.unwrap();
    let torrent = make_torrent(&dir.path().join("data"), 32 * 1024);
    let unknown = TorrentId(bitswarm_core::InfoHashV1([9; 20]));
    assert!(matches!(
        session.status(unknown).await,
        Err(bitswarm_session::Error::UnknownTorrent(_))
    ));
    assert!(matches!(
        session.pause(unknown).await,
        Err(bitswarm_session::Error::UnknownTorrent(_))
    ));
    let id = session
        .add_torrent(AddTorrent::torrent(torrent.clone()))
        .await
        .unwrap();
    assert!(matches!(
        session.add_torrent(AddTorrent::torrent(torrent)).await,
        Err(bitswarm_session::Error::DuplicateTorrent(d)) if d == id
    ));
    // A magnet without metadata cannot take priorities or a recheck.
    let magnet = bitswarm_metainfo::Magnet::parse(
        "magnet:?xt=urn:btih:0123456789abcdef0123456789abcdef01234567",
    )
    .unwrap();
    let m = session
        .add_torrent(AddTorrent::magnet(magnet))
        .await
        .unwrap();
    assert_eq!(
        session.status(m).await.unwrap().state,
        TorrentState::FetchingMetadata
    );
    assert!(matches!(
        session.recheck(m).await,
        Err(bitswarm_session::Error::NoMetadata(_))
    ));
    assert!(session.metainfo(m).await.unwrap().is_none());
    assert_eq!(session.stats().await.torrents, 2);
    session.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_storage_failure_stops_the_torrent_not_the_session() {
    let dir = tempfile::tempdir().unwrap();
    let seed = seeder(dir.path(), 32 * 1024).await;
    // The leecher's download folder is a regular file: nothing can be written.
    let blocked = dir.path().join("not-a-folder");
    std::fs::write(&blocked, b"x").unwrap();
    let leecher = leecher(&blocked, None, None).await;
    let mut events = leecher.events();
    let mut add = AddTorrent::torrent(seed.torrent.clone());
    add.peers = seed.session.listen_addrs();
    let id = leecher.add_torrent(add).await.unwrap();
    wait_for(
        &mut events,
        "a torrent error",
        |e| matches!(e, SessionEvent::TorrentError(t, _) if *t == id),
    )
    .await;
    wait_for(&mut events, "the error state", |e| {
        *e == SessionEvent::StateChanged(id, TorrentState::Error)
    })
    .await;
    let status = leecher.status(id).await.unwrap();
    assert_eq!(status.state, TorrentState::Error);
    assert!(status.error.is_some());
    // Its peers are being disconnected.
    let idle = tokio::time::timeout(LIMIT, async {
        while leecher.status(id).await.unwrap().peers > 0 {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    assert!(idle.is_ok(), "a stopped torrent kept its peers");
    // The session goes on: the torrent can be removed and added elsewhere.
    leecher.remove(id, false).await.unwrap();
    let good = dir.path().join("good");
    let mut add = AddTorrent::torrent(seed.torrent.clone());
    add.peers = seed.session.listen_addrs();
    add.output = Some(good.clone());
    let id = leecher.add_torrent(add).await.unwrap();
    wait_for(&mut events, "finish", |e| *e == SessionEvent::Finished(id)).await;
    assert_same_tree(FILES, &seed.data, &good.join("album"));
    leecher.shutdown().await.unwrap();
    seed.session.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peers_are_learned_through_pex() {
    let dir = tempfile::tempdir().unwrap();
    let seed = seeder(dir.path(), 32 * 1024).await;
    let seed_addr = seed.session.listen_addrs()[0];
    // A knows the seeder; B knows only A.
    let a = leecher(&dir.path().join("a"), None, None).await;
    let mut a_events = a.events();
    let mut add = AddTorrent::torrent(seed.torrent.clone());
    add.peers = vec![seed_addr];
    let id = a.add_torrent(add).await.unwrap();
    wait_for(&mut a_events, "A connected", |e| {
        *e == SessionEvent::PeerConnected(id, seed_addr)
    })
    .await;

    let b_dir = dir.path().join("b");
    let b = leecher(&b_dir, None, None).await;
    let mut b_events = b.events();
    let mut add = AddTorrent::torrent(seed.torrent.clone());
    add.peers = a.listen_addrs();
    b.add_torrent(add).await.unwrap();
    wait_for(&mut b_events, "B connected to the seeder", |e| {
        *e == SessionEvent::PeerConnected(id, seed_addr)
    })
    .await;
    wait_for(&mut b_events, "finish", |e| {
        *e == SessionEvent::Finished(id)
    })
    .await;
    assert_same_tree(FILES, &seed.data, &b_dir.join("album"));
    b.shutdown().await.unwrap();
    a.shutdown().await.unwrap();
    seed.session.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_meet_through_a_udp_tracker_and_announce_stopped() {
    use bitswarm_utracker::{
        MemoryStore, ScrapeStats, StoreConfig, TrackerClient, TrackerClientConfig, TrackerServer,
        TrackerServerConfig,
    };

    let tracker = TrackerServer::bind(
        TrackerServerConfig {
            workers: 1,
            ..TrackerServerConfig::default()
        },
        MemoryStore::new(StoreConfig::default(), std::time::Instant::now()),
    )
    .await
    .unwrap();
    let url = format!("udp://{}/announce", tracker.local_addrs()[0]);
    let scraper = TrackerClient::bind(TrackerClientConfig::default())
        .await
        .unwrap();
    // Polls the tracker until `pred` holds for the torrent's counts.
    let until = |what: &'static str, hash, pred: fn(&ScrapeStats) -> bool| {
        let (scraper, url) = (&scraper, url.clone());
        async move {
            let ok = tokio::time::timeout(LIMIT, async {
                loop {
                    if let Ok(stats) = scraper.scrape(&url, &[hash]).await {
                        if stats.first().is_some_and(pred) {
                            return;
                        }
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            })
            .await;
            assert!(ok.is_ok(), "tracker never saw {what}");
        }
    };

    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("seed");
    content::write_tree(&data.join("album"), FILES, 7).unwrap();
    let torrent = TorrentBuilder::new(data.join("album"))
        .piece_length(32 * 1024)
        .tracker(url.clone())
        .build()
        .unwrap();
    let hash = torrent.wire_info_hash();
    let with_trackers = |d: &Path| SessionConfig {
        trackers: true,
        ..config(d)
    };
    let seeder = Session::start(with_trackers(&data)).await.unwrap();
    seeder
        .add_torrent(AddTorrent::torrent(torrent.clone()))
        .await
        .unwrap();
    until("the seeder", hash, |s| s.seeders == 1).await;

    let leech_dir = dir.path().join("leech");
    let leecher = Session::start(with_trackers(&leech_dir)).await.unwrap();
    let mut events = leecher.events();
    let id = leecher
        .add_torrent(AddTorrent::torrent(torrent))
        .await
        .unwrap();
    wait_for(&mut events, "finish", |e| *e == SessionEvent::Finished(id)).await;
    assert_same_tree(FILES, &data.join("album"), &leech_dir.join("album"));
    until("the completed download", hash, |s| {
        s.seeders == 2 && s.completed >= 1 && s.leechers == 0
    })
    .await;

    leecher.shutdown().await.unwrap();
    seeder.shutdown().await.unwrap();
    until("both stop", hash, |s| s.seeders == 0 && s.leechers == 0).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_trackers_are_reported_and_do_not_stop_the_download() {
    let dir = tempfile::tempdir().unwrap();
    let seed = seeder(dir.path(), 32 * 1024).await;
    // Nothing listens on these ports.
    let closed = bitswarm_testkit::free_port().unwrap();
    let bytes = {
        use bitswarm_bencode::{DictBuilder, Encode, ListBuilder, Raw};
        let mut tier = ListBuilder::new();
        // HTTP fails at once (connection refused); a UDP tracker would take
        // its retransmission time.
        tier.push(format!("http://127.0.0.1:{closed}/announce").as_str());
        let mut tiers = ListBuilder::new();
        tiers.push(tier);
        // Every other key (info, piece layers) as it was.
        let original = bitswarm_bencode::decode(seed.torrent.as_bytes()).unwrap();
        let mut d = DictBuilder::new();
        for (key, value) in original.as_dict().unwrap().iter() {
            if key != b"announce" && key != b"announce-list" {
                d.insert(key, Raw(value.raw()));
            }
        }
        d.insert(
            "announce",
            format!("http://127.0.0.1:{closed}/announce").as_str(),
        );
        d.insert("announce-list", tiers);
        d.to_bencode()
    };
    let torrent = Metainfo::from_bytes(&bytes).unwrap();
    assert_eq!(torrent.info_hash(), seed.torrent.info_hash());

    let leech_dir = dir.path().join("leech");
    let mut c = config(&leech_dir);
    c.trackers = true;
    let leecher = Session::start(c).await.unwrap();
    let mut events = leecher.events();
    let mut add = AddTorrent::torrent(torrent);
    add.peers = seed.session.listen_addrs();
    let id = leecher.add_torrent(add).await.unwrap();
    let (mut finished, mut reported) = (false, false);
    let both = event_within(&mut events, LIMIT, |e| {
        match e {
            SessionEvent::Finished(t) if *t == id => finished = true,
            SessionEvent::TorrentError(t, _) if *t == id => reported = true,
            _ => {}
        }
        finished && reported
    })
    .await;
    assert!(both, "finished: {finished}, tracker error: {reported}");
    assert_same_tree(FILES, &seed.data, &leech_dir.join("album"));
    assert_eq!(
        leecher.status(id).await.unwrap().state,
        TorrentState::Seeding
    );
    leecher.shutdown().await.unwrap();
    seed.session.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_magnet_without_metadata_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let resume_dir = dir.path().join("resume");
    let link = "magnet:?xt=urn:btih:0123456789abcdef0123456789abcdef01234567&dn=later";
    let magnet = bitswarm_metainfo::Magnet::parse(link).unwrap();
    let first = leecher(dir.path(), None, Some(resume_dir.clone())).await;
    let id = first.add_torrent(AddTorrent::magnet(magnet)).await.unwrap();
    first.pause(id).await.unwrap();
    first.shutdown().await.unwrap();

    let second = leecher(dir.path(), None, Some(resume_dir)).await;
    let torrents = second.torrents().await;
    assert_eq!(torrents.len(), 1);
    assert_eq!(torrents[0].id, id);
    assert_eq!(torrents[0].name.as_deref(), Some("later"));
    assert_eq!(torrents[0].state, TorrentState::Paused);
    second.resume(id).await.unwrap();
    assert_eq!(
        second.status(id).await.unwrap().state,
        TorrentState::FetchingMetadata
    );
    second.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_upload_limit_bounds_what_a_seeder_sends() {
    const RATE: u64 = 200 * 1024;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("seed");
    let torrent = make_torrent(&data, 32 * 1024);
    let mut c = config(&data);
    c.upload_rate_limit = Some(RATE);
    let seeder = Session::start(c).await.unwrap();
    let mut seed_events = seeder.events();
    let sid = seeder
        .add_torrent(AddTorrent::torrent(torrent.clone()))
        .await
        .unwrap();
    wait_for(&mut seed_events, "seeding", |e| {
        *e == SessionEvent::StateChanged(sid, TorrentState::Seeding)
    })
    .await;

    let leech_dir = dir.path().join("leech");
    let leecher = leecher(&leech_dir, None, None).await;
    let mut events = leecher.events();
    let start = std::time::Instant::now();
    let mut add = AddTorrent::torrent(torrent.clone());
    add.peers = seeder.listen_addrs();
    let id = leecher.add_torrent(add).await.unwrap();
    wait_for(&mut events, "a piece", |e| {
        matches!(e, SessionEvent::PieceDone(..))
    })
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let sent = seeder.status(sid).await.unwrap().uploaded;
    let elapsed = start.elapsed().as_secs_f64();
    // A token bucket lets through one second of burst plus the rate.
    let bound = (RATE as f64 * (elapsed + 1.0)) as u64;
    assert!(sent > 0);
    assert!(
        sent <= bound,
        "sent {sent} bytes in {elapsed:.2} s, above {bound}"
    );
    wait_for(&mut events, "finish", |e| *e == SessionEvent::Finished(id)).await;
    assert_same_tree(FILES, &data.join("album"), &leech_dir.join("album"));
    leecher.shutdown().await.unwrap();
    seeder.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_that_asks_but_never_reads_is_dropped() {
    use bitswarm_core::{BlockRef, PieceIndex};
    use bitswarm_peer::Message;
    use tokio::io::AsyncWriteExt;
    use tokio::net::TcpStream;

    let dir = tempfile::tempdir().unwrap();
    let seed = seeder(dir.path(), 32 * 1024).await;
    let mut events = seed.session.events();
    let target = seed.session.listen_addrs()[0];
    let pieces = seed.torrent.num_pieces();
    let total = seed.torrent.total_length();

    let mut s = TcpStream::connect(target).await.unwrap();
    let me = s.local_addr().unwrap();
    s.write_all(&fake::handshake(seed.id.0)).await.unwrap();
    s.write_all(&Message::Interested.to_bytes()).await.unwrap();
    // Let the unchoke happen (the peer never reads it), then ask for the
    // torrent over and over: far more than socket buffers and queues hold.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let flood = tokio::spawn(async move {
        for round in 0..200u32 {
            let mut batch = Vec::new();
            for piece in 0..pieces {
                for offset in [0u32, 16 * 1024] {
                    let start = u64::from(piece) * 32 * 1024 + u64::from(offset);
                    if start >= total {
                        continue;
                    }
                    let length = (total - start).min(16 * 1024) as u32;
                    let block = BlockRef {
                        piece: PieceIndex(piece),
                        offset,
                        length,
                    };
                    batch.extend_from_slice(&Message::Request(block).to_bytes());
                }
            }
            if s.write_all(&batch).await.is_err() {
                return round;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        200
    });
    wait_for(
        &mut events,
        "the reader-less peer reported",
        |e| matches!(e, SessionEvent::PeerMisbehaved(t, a, _) if *t == seed.id && *a == me),
    )
    .await;
    wait_for(&mut events, "the reader-less peer dropped", |e| {
        *e == SessionEvent::PeerDisconnected(seed.id, me)
    })
    .await;
    flood.abort();
    assert_eq!(
        seed.session.status(seed.id).await.unwrap().state,
        TorrentState::Seeding
    );
    seed.session.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metadata_that_does_not_match_the_info_hash_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let seed = seeder(dir.path(), 32 * 1024).await;
    let size = seed.torrent.info_bytes().len() as u64;
    let liar = fake::metadata_liar(seed.id.0, size).await;
    let leech_dir = dir.path().join("leech");
    let leecher = leecher(&leech_dir, None, None).await;
    let mut events = leecher.events();
    let mut magnet = seed.torrent.magnet();
    magnet.peers = vec![liar.to_string()];
    let id = leecher
        .add_torrent(AddTorrent::magnet(magnet))
        .await
        .unwrap();
    wait_for(&mut events, "the liar banned", |e| {
        *e == SessionEvent::PeerBanned(id, liar)
    })
    .await;
    assert_eq!(
        leecher.status(id).await.unwrap().state,
        TorrentState::FetchingMetadata
    );
    leecher
        .add_peers(id, seed.session.listen_addrs())
        .await
        .unwrap();
    wait_for(&mut events, "finish", |e| *e == SessionEvent::Finished(id)).await;
    assert_same_tree(FILES, &seed.data, &leech_dir.join("album"));
    leecher.shutdown().await.unwrap();
    seed.session.shutdown().await.unwrap();
}
