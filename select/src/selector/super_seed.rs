//! Super-seeding (BEP 16): revealing one piece at a time to each peer.

use bitswarm_core::PieceIndex;
use rand::{Rng, RngCore};

use super::Selector;
use crate::Action;
use crate::peer::PeerKey;

impl<R: RngCore> Selector<R> {
    pub(super) fn reveal_next_super_piece(&mut self, key: PeerKey) {
        let n = self.pieces.count();
        if n == 0 {
            return;
        }
        if self.revealed.len() != n as usize {
            self.revealed = vec![0; n as usize];
        }
        let Some(peer) = self.peers.get(&key) else {
            return;
        };
        // The least available piece the peer lacks, least revealed among
        // equals, scanning from a random start to break remaining ties.
        let start = self.rng.gen_range(0..n);
        let mut best: Option<(u32, u16, u32)> = None;
        for i in 0..n {
            let p = (start + i) % n;
            if peer.pieces.get(p) {
                continue;
            }
            let score = (self.pieces.availability(p), self.revealed[p as usize]);
            if best.is_none_or(|(a, r, _)| score < (a, r)) {
                best = Some((score.0, score.1, p));
            }
        }
        let Some((_, _, p)) = best else {
            return;
        };
        self.revealed[p as usize] = self.revealed[p as usize].saturating_add(1);
        if let Some(peer) = self.peers.get_mut(&key) {
            peer.super_piece = Some(p);
        }
        self.actions.push_back(Action::Have {
            peer: key,
            piece: PieceIndex(p),
        });
    }

    pub(super) fn super_seed_progress(&mut self, announcer: PeerKey, piece: u32) {
        // BEP 16: a peer that was shown `piece` gets a new one when another
        // peer announces it.
        let waiting: Vec<PeerKey> = self
            .peers
            .iter()
            .filter(|(k, p)| {
                **k != announcer && p.super_piece == Some(piece) && p.pieces.get(piece)
            })
            .map(|(k, _)| *k)
            .collect();
        for key in waiting {
            self.reveal_next_super_piece(key);
        }
        // The announcer itself: when nobody else could spread the piece,
        // or the piece is already spread, reveal on.
        let others = self
            .peers
            .iter()
            .filter(|(k, p)| **k != announcer && !p.seed)
            .count();
        let spread = self
            .peers
            .iter()
            .any(|(k, p)| *k != announcer && p.pieces.get(piece));
        if self
            .peers
            .get(&announcer)
            .is_some_and(|p| p.super_piece == Some(piece))
            && (others == 0 || spread)
        {
            self.reveal_next_super_piece(announcer);
        }
    }
}
