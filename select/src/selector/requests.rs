//! Topping up a peer's requests: where the next piece comes from, how
//! many requests to keep in flight, and endgame duplicates.

use std::time::Instant;

use bitswarm_core::BLOCK_SIZE;
use rand::RngCore;

use super::Selector;
use crate::Action;
use crate::config::SelectConfig;
use crate::peer::{InFlight, Peer, PeerKey};
use crate::strategy::PickContext;

impl<R: RngCore> Selector<R> {
    /// The number of requests to keep in flight with a peer: its rate times
    /// the target latency, in blocks, within the configured bounds.
    fn pipeline_len(config: &SelectConfig, peer: &mut Peer, now: Instant) -> usize {
        if peer.snubbed {
            return 1;
        }
        let rate = u128::from(peer.down.rate(now));
        let blocks = rate * config.target_latency.as_millis() / (1000 * u128::from(BLOCK_SIZE));
        (blocks as usize).clamp(config.min_pipeline, config.max_pipeline)
    }

    pub(super) fn fill(&mut self, now: Instant, key: PeerKey) {
        let Some(peer) = self.peers.get_mut(&key) else {
            return;
        };
        if !peer.we_interested {
            return;
        }
        let target = Self::pipeline_len(&self.config, peer, now);
        let choked = peer.choking_us;
        if choked && (!peer.fast || peer.allowed_fast.is_empty()) {
            return;
        }
        let mut starved = false;
        while self
            .peers
            .get(&key)
            .is_some_and(|p| p.in_flight.len() < target)
        {
            let Some(piece) = self.next_piece(key, choked) else {
                starved = true;
                break;
            };
            match piece {
                Next::Open(piece) => self.request_open_blocks(now, key, piece, target),
                Next::Endgame(piece, index) => self.request(now, key, piece, index),
            }
        }
        if starved {
            self.starved.insert(key);
        }
    }

    fn request_open_blocks(&mut self, now: Instant, key: PeerKey, piece: u32, target: usize) {
        self.pieces.start(piece);
        if self.pieces.pickable_count() == 0 {
            // Endgame begins: idle peers may now duplicate requests.
            self.wake_starved();
        }
        let open: Vec<u32> = match self.pieces.partial(piece) {
            Some(p) => p.open_blocks().collect(),
            None => return,
        };
        for index in open {
            if self
                .peers
                .get(&key)
                .is_none_or(|p| p.in_flight.len() >= target)
            {
                break;
            }
            self.request(now, key, piece, index);
        }
    }

    fn request(&mut self, now: Instant, key: PeerKey, piece: u32, index: u32) {
        let block = self.pieces.block(piece, index);
        let deadline = now + self.config.request_timeout;
        let Some(peer) = self.peers.get_mut(&key) else {
            return;
        };
        peer.in_flight.push(InFlight { block, deadline });
        self.pieces.mark_requested(piece, index);
        self.timeouts.insert((deadline, key, block));
        self.actions.push_back(Action::Request { peer: key, block });
    }

    pub(super) fn forget_request(&mut self, key: PeerKey, r: &InFlight) {
        self.timeouts.remove(&(r.deadline, key, r.block));
        if let Some(index) = self.pieces.block_index(&r.block) {
            self.pieces.mark_unrequested(r.block.piece.0, index);
        }
    }

    pub(super) fn drop_requests(&mut self, key: PeerKey, state: &mut Peer) {
        for r in state.in_flight.drain(..) {
            self.timeouts.remove(&(r.deadline, key, r.block));
            if let Some(index) = self.pieces.block_index(&r.block) {
                self.pieces.mark_unrequested(r.block.piece.0, index);
            }
        }
    }

    /// Where the next requests to `key` come from, in order: allowed-fast
    /// pieces while choked (BEP 6), suggested pieces (BEP 6), open blocks of
    /// started pieces, a new piece from the strategy, then endgame
    /// duplicates.
    fn next_piece(&mut self, key: PeerKey, choked: bool) -> Option<Next> {
        let peer = self.peers.get(&key)?;
        let usable = |p: u32| {
            self.pieces.wants(p)
                && peer.pieces.get(p)
                && !peer.avoids(p)
                && (self.pieces.pickable().get(p)
                    || self.pieces.partial(p).is_some_and(|x| x.has_open()))
        };
        if choked {
            return peer
                .allowed_fast
                .iter()
                .copied()
                .find(|&p| usable(p))
                .map(Next::Open);
        }
        if let Some(p) = peer.suggested.iter().copied().find(|&p| usable(p)) {
            return Some(Next::Open(p));
        }
        if let Some(p) = self
            .pieces
            .partials()
            .iter()
            .find(|x| x.has_open() && usable(x.piece))
        {
            return Some(Next::Open(p.piece));
        }
        let ctx = PickContext {
            pieces: &self.pieces,
            peer: &peer.pieces,
            avoid: peer.avoid_set(),
        };
        if let Some(p) = self.strategy.pick(&ctx, &mut self.rng) {
            if ctx.can_start(p) {
                return Some(Next::Open(p.0));
            }
            tracing::warn!(piece = %p, "piece strategy returned a piece that cannot be started");
        }
        if self.pieces.pickable_count() == 0 {
            return self.endgame_block(key);
        }
        None
    }

    /// A block not received, in flight with fewer peers than the duplicate
    /// limit and not with this one. Open blocks count too: they are the ones
    /// whose only holders timed out or rejected them, which endgame retries.
    fn endgame_block(&self, key: PeerKey) -> Option<Next> {
        let peer = self.peers.get(&key)?;
        let limit = self.config.endgame_max_duplicates.saturating_add(1);
        self.pieces
            .partials()
            .iter()
            .filter(|x| self.pieces.wants(x.piece) && peer.pieces.get(x.piece))
            .flat_map(|x| x.endgame_blocks(limit).map(move |i| (x.piece, i)))
            .find(|&(piece, i)| {
                let block = self.pieces.block(piece, i);
                !peer.in_flight.iter().any(|r| r.block == block)
            })
            .map(|(piece, i)| Next::Endgame(piece, i))
    }
}

enum Next {
    /// Start (if needed) this piece and request its open blocks.
    Open(u32),
    /// Request this block again, from one more peer.
    Endgame(u32, u32),
}
