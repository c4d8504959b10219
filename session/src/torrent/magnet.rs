//! Getting a magnet link's info dictionary from connected peers (BEP 9):
//! 16 KiB pieces asked of peers that announced `ut_metadata` with the same
//! `metadata_size`, assembled, then checked against the info-hash by the
//! caller.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use bitswarm_peer::PeerKey;
use bitswarm_peer::extension::{MAX_METADATA_SIZE, METADATA_PIECE_SIZE};
use bytes::Bytes;

/// A piece request unanswered this long goes to another peer.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// The assembly of one info dictionary.
#[derive(Debug, Default)]
pub(crate) struct MetadataFetch {
    size: Option<u64>,
    pieces: Vec<Option<Bytes>>,
    requested: HashMap<u32, (PeerKey, Instant)>,
    senders: HashMap<u32, PeerKey>,
    /// Rotates requests over the peers.
    turn: usize,
}

/// What a data message did.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Received {
    /// Stored; more pieces are missing.
    Stored,
    /// The last piece: here is the whole dictionary.
    Complete(Vec<u8>),
    /// It does not fit what we asked (size, index, length, unrequested).
    Refused(&'static str),
}

impl MetadataFetch {
    /// A peer announced `size`; returns whether it can serve this fetch.
    pub(crate) fn offer_size(&mut self, size: u64) -> bool {
        if size == 0 || size > MAX_METADATA_SIZE {
            return false;
        }
        match self.size {
            Some(s) => s == size,
            None => {
                self.size = Some(size);
                let n = size.div_ceil(METADATA_PIECE_SIZE as u64) as usize;
                self.pieces = vec![None; n];
                true
            }
        }
    }

    fn piece_len(&self, piece: u32) -> Option<usize> {
        let size = self.size?;
        let start = u64::from(piece) * METADATA_PIECE_SIZE as u64;
        (start < size).then(|| (size - start).min(METADATA_PIECE_SIZE as u64) as usize)
    }

    /// Pieces to ask for now, each given to one of `peers` in turn.
    pub(crate) fn next_requests(&mut self, now: Instant, peers: &[PeerKey]) -> Vec<(PeerKey, u32)> {
        let mut out = Vec::new();
        if peers.is_empty() {
            return out;
        }
        for piece in 0..self.pieces.len() as u32 {
            if self.pieces[piece as usize].is_some() {
                continue;
            }
            if let Some((_, at)) = self.requested.get(&piece) {
                if now.saturating_duration_since(*at) < REQUEST_TIMEOUT {
                    continue;
                }
            }
            let peer = peers[self.turn % peers.len()];
            self.turn = self.turn.wrapping_add(1);
            self.requested.insert(piece, (peer, now));
            out.push((peer, piece));
        }
        out
    }

    /// A `data` message from `peer`.
    pub(crate) fn received(
        &mut self,
        peer: PeerKey,
        piece: u32,
        total_size: u64,
        data: Bytes,
    ) -> Received {
        if Some(total_size) != self.size {
            return Received::Refused("total_size differs from metadata_size");
        }
        if self.requested.get(&piece).map(|r| r.0) != Some(peer) {
            return Received::Refused("piece not requested from this peer");
        }
        if self.piece_len(piece) != Some(data.len()) {
            return Received::Refused("piece of the wrong length");
        }
        self.requested.remove(&piece);
        self.senders.insert(piece, peer);
        if let Some(slot) = self.pieces.get_mut(piece as usize) {
            *slot = Some(data);
        }
        if self.pieces.iter().all(Option::is_some) {
            let mut out = Vec::with_capacity(self.size.unwrap_or(0) as usize);
            for p in self.pieces.iter().flatten() {
                out.extend_from_slice(p);
            }
            Received::Complete(out)
        } else {
            Received::Stored
        }
    }

    /// A `reject` (or the peer left): its requests go to others.
    pub(crate) fn forget_peer(&mut self, peer: PeerKey) {
        self.requested.retain(|_, (p, _)| *p != peer);
    }

    /// The assembled dictionary did not hash to the info-hash: start over;
    /// returns the peers that sent pieces of it.
    pub(crate) fn reset(&mut self) -> Vec<PeerKey> {
        let mut senders: Vec<PeerKey> = self.senders.values().copied().collect();
        senders.sort();
        senders.dedup();
        *self = Self::default();
        senders
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assembles_from_two_peers() {
        let size = METADATA_PIECE_SIZE as u64 + 10;
        let mut f = MetadataFetch::default();
        assert!(f.offer_size(size));
        assert!(!f.offer_size(size + 1));
        let now = Instant::now();
        let reqs = f.next_requests(now, &[PeerKey(1), PeerKey(2)]);
        assert_eq!(reqs, vec![(PeerKey(1), 0), (PeerKey(2), 1)]);
        // Nothing new while both are in flight.
        assert!(f.next_requests(now, &[PeerKey(1)]).is_empty());
        // The wrong peer, size or length is refused.
        let full = Bytes::from(vec![1; METADATA_PIECE_SIZE]);
        assert!(matches!(
            f.received(PeerKey(2), 0, size, full.clone()),
            Received::Refused(_)
        ));
        assert!(matches!(
            f.received(PeerKey(1), 0, size + 1, full.clone()),
            Received::Refused(_)
        ));
        assert!(matches!(
            f.received(PeerKey(2), 1, size, full.clone()),
            Received::Refused(_)
        ));
        assert_eq!(f.received(PeerKey(1), 0, size, full), Received::Stored);
        let Received::Complete(all) = f.received(PeerKey(2), 1, size, Bytes::from(vec![2; 10]))
        else {
            panic!("not complete");
        };
        assert_eq!(all.len() as u64, size);
        assert_eq!(f.reset(), vec![PeerKey(1), PeerKey(2)]);
    }

    #[test]
    fn refuses_absurd_sizes_and_reassigns_after_timeout() {
        let mut f = MetadataFetch::default();
        assert!(!f.offer_size(0));
        assert!(!f.offer_size(MAX_METADATA_SIZE + 1));
        assert!(f.offer_size(100));
        let now = Instant::now();
        assert_eq!(f.next_requests(now, &[PeerKey(1)]), vec![(PeerKey(1), 0)]);
        let later = now + REQUEST_TIMEOUT;
        assert_eq!(f.next_requests(later, &[PeerKey(3)]), vec![(PeerKey(3), 0)]);
        f.forget_peer(PeerKey(3));
        assert_eq!(f.next_requests(later, &[PeerKey(4)]), vec![(PeerKey(4), 0)]);
    }
}
