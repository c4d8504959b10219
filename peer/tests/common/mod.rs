//! A minimal leecher and seeder on top of the PeerManager, for tests: just
//! enough of a client to move every block of a small torrent and check it.
#![allow(dead_code, unreachable_pub)]

use std::collections::VecDeque;
use std::time::Duration;

use bitswarm_core::{BLOCK_SIZE, Bitfield, BlockRef, PieceIndex};
use bitswarm_peer::extension::{ExtendedMessage, ExtensionHandshake, ExtensionIds};
use bitswarm_peer::{
    Block, DisconnectReason, Message, PeerEvent, PeerEvents, PeerKey, PeerManagerHandle,
};
use bytes::Bytes;
use sha1::{Digest, Sha1};

/// What a test needs of a v1 single-file torrent.
#[derive(Clone, Debug)]
pub struct TorrentLayout {
    pub info_hash: [u8; 20],
    pub info: Vec<u8>,
    pub piece_length: u32,
    pub total_length: u64,
    pub hashes: Vec<[u8; 20]>,
}

impl TorrentLayout {
    /// Reads `piece length`, `length` and `pieces` with the bencode crate.
    pub fn from_torrent(torrent: &[u8]) -> Self {
        let value = bitswarm_bencode::decode(torrent).expect("torrent decodes");
        let info = value.get("info").expect("info");
        Self::from_info(info.raw())
    }

    pub fn from_info(raw: &[u8]) -> Self {
        let info = bitswarm_bencode::decode(raw).expect("info decodes");
        let piece_length = info
            .get("piece length")
            .and_then(|v| v.as_int())
            .expect("piece length") as u32;
        let total_length = info
            .get("length")
            .and_then(|v| v.as_int())
            .expect("single-file length") as u64;
        let pieces = info
            .get("pieces")
            .and_then(|v| v.as_bytes())
            .expect("pieces");
        let hashes = pieces
            .chunks_exact(20)
            .map(|c| c.try_into().unwrap())
            .collect();
        Self {
            info_hash: Sha1::digest(raw).into(),
            info: raw.to_vec(),
            piece_length,
            total_length,
            hashes,
        }
    }

    pub fn pieces(&self) -> u32 {
        self.hashes.len() as u32
    }

    pub fn piece_len(&self, piece: u32) -> u32 {
        let start = u64::from(piece) * u64::from(self.piece_length);
        (self.total_length - start).min(u64::from(self.piece_length)) as u32
    }

    pub fn blocks(&self) -> Vec<BlockRef> {
        (0..self.pieces())
            .flat_map(|p| BlockRef::blocks_of(PieceIndex(p), self.piece_len(p)))
            .collect()
    }
}

/// Makes a torrent of `data` in memory (v1, single file), for tests that
/// involve no third-party program.
pub fn make_torrent(data: &[u8], piece_length: u32) -> TorrentLayout {
    use bitswarm_bencode::{Encode, dict};
    let pieces: Vec<u8> = data
        .chunks(piece_length as usize)
        .flat_map(|c| Sha1::digest(c).to_vec())
        .collect();
    let info = dict! {
        "length" => data.len() as i64,
        "name" => "data.bin",
        "piece length" => i64::from(piece_length),
        "pieces" => pieces,
    }
    .to_bencode();
    TorrentLayout::from_info(&info)
}

pub async fn next_event(events: &mut PeerEvents, limit: Duration) -> PeerEvent {
    tokio::time::timeout(limit, events.next_event())
        .await
        .expect("a peer event in time")
        .expect("event stream open")
}

/// Downloads every block from `peer`, `in_flight` requests at a time, and
/// checks each piece against its SHA-1. Returns the content and what the
/// peer sent as its extension handshake, if any.
pub async fn download_all(
    handle: &PeerManagerHandle,
    events: &mut PeerEvents,
    peer: PeerKey,
    layout: &TorrentLayout,
    in_flight: usize,
    limit: Duration,
) -> (Vec<u8>, Option<ExtensionHandshake>) {
    let deadline = tokio::time::Instant::now() + limit;
    let mut content = vec![0u8; layout.total_length as usize];
    let mut wanted: VecDeque<BlockRef> = layout.blocks().into();
    let mut pending: Vec<BlockRef> = Vec::new();
    let mut have_pieces = Bitfield::new(layout.pieces());
    let mut got_in_piece = vec![0u32; layout.pieces() as usize];
    let mut unchoked = false;
    let mut ext = None;
    handle.send(peer, Message::Interested).await.unwrap();
    while have_pieces.count_ones() < layout.pieces() {
        if unchoked {
            while pending.len() < in_flight {
                let Some(b) = wanted.pop_front() else { break };
                handle.send(peer, Message::Request(b)).await.unwrap();
                pending.push(b);
            }
        }
        let event = tokio::time::timeout_at(deadline, events.next_event())
            .await
            .expect("download finished in time")
            .expect("stream open");
        let message = match event {
            PeerEvent::Message { peer: p, message } if p == peer => message,
            PeerEvent::Disconnected { peer: p, reason } if p == peer => {
                panic!("peer disconnected during download: {reason:?}")
            }
            _ => continue,
        };
        match message {
            Message::Unchoke => unchoked = true,
            Message::Choke => {
                unchoked = false;
                // Without the Fast extension a choke drops our requests.
                for b in pending.drain(..).rev() {
                    wanted.push_front(b);
                }
            }
            Message::Reject(b) => {
                if let Some(i) = pending.iter().position(|p| *p == b) {
                    pending.swap_remove(i);
                    wanted.push_back(b);
                }
            }
            Message::Extended { id: 0, payload } => {
                if let Ok(ExtendedMessage::Handshake(h)) =
                    ExtendedMessage::decode(0, payload, &ExtensionIds::OURS)
                {
                    ext = Some(h);
                }
            }
            Message::Piece(block) => {
                let r = block.block_ref();
                let Some(i) = pending.iter().position(|p| *p == r) else {
                    panic!("unrequested block {r:?}")
                };
                pending.swap_remove(i);
                let start =
                    u64::from(r.piece.0) * u64::from(layout.piece_length) + u64::from(r.offset);
                content[start as usize..start as usize + block.data.len()]
                    .copy_from_slice(&block.data);
                let p = r.piece.0 as usize;
                got_in_piece[p] += r.length;
                if got_in_piece[p] == layout.piece_len(r.piece.0) {
                    let s = p * layout.piece_length as usize;
                    let piece = &content[s..s + layout.piece_len(r.piece.0) as usize];
                    assert_eq!(
                        <[u8; 20]>::from(Sha1::digest(piece)),
                        layout.hashes[p],
                        "piece {p} hash"
                    );
                    have_pieces.set(r.piece, true).unwrap();
                }
            }
            _ => {}
        }
    }
    (content, ext)
}

/// Serves every request from `data` until the peer disconnects, and returns
/// why and how many block bytes were queued for it; blocks are `Bytes` slices of `data`, not copies.
pub async fn serve(
    handle: &PeerManagerHandle,
    events: &mut PeerEvents,
    data: Bytes,
    layout: &TorrentLayout,
    limit: Duration,
) -> (DisconnectReason, u64) {
    let mut served = 0u64;
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        let event = tokio::time::timeout_at(deadline, events.next_event())
            .await
            .expect("peer left in time")
            .expect("stream open");
        match event {
            PeerEvent::Message {
                peer,
                message: Message::Interested,
            } => {
                let _ = handle.send(peer, Message::Unchoke).await;
            }
            PeerEvent::Message {
                peer,
                message: Message::Request(r),
            } => {
                if !r.fits_in(layout.piece_len(r.piece.0).min(layout.piece_length))
                    || r.length > BLOCK_SIZE
                {
                    let _ = handle.send(peer, Message::Reject(r)).await;
                    continue;
                }
                let start = r.piece.0 as usize * layout.piece_length as usize + r.offset as usize;
                let block = Block {
                    piece: r.piece,
                    offset: r.offset,
                    data: data.slice(start..start + r.length as usize),
                };
                if handle.send(peer, Message::Piece(block)).await.is_ok() {
                    served += u64::from(r.length);
                }
            }
            PeerEvent::Disconnected { reason, .. } => return (reason, served),
            _ => {}
        }
    }
}
