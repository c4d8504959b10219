//! Property tests: random swarms and random event orders, with every
//! action of the selector checked against a model of what it was told.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use bitswarm_core::{BLOCK_SIZE, Bitfield, BlockRef, PieceIndex};
use bitswarm_select::{
    Action, BlockOutcome, PeerKey, PeerOptions, PieceLayout, Priority, RandomPieces, RarestFirst,
    SelectConfig, Selector, Sequential,
};
use proptest::prelude::*;
use rand::SeedableRng;
use rand::rngs::StdRng;

#[derive(Debug, Default)]
struct PeerModel {
    has: BTreeSet<u32>,
    fast: bool,
    unchoked_us: bool,
    allowed_fast: BTreeSet<u32>,
    in_flight: BTreeSet<BlockRef>,
    /// Requests the peer lost without answering; the selector still
    /// counts them in flight until they time out or are cancelled.
    lost: BTreeSet<BlockRef>,
    /// Pieces of which a block timed out or was rejected with this peer.
    failed: BTreeSet<u32>,
}

/// Why the actions being drained were produced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cause {
    Other,
    Timeout,
}

struct Harness {
    sel: Selector<StdRng>,
    now: Instant,
    pieces: u32,
    layout: PieceLayout,
    peers: BTreeMap<u64, PeerModel>,
    priority: Vec<u8>,
    have: BTreeSet<u32>,
    /// Blocks whose request timed out and that were not requested again yet.
    awaiting_retry: BTreeSet<BlockRef>,
    requests: u64,
}

impl Harness {
    fn new(pieces: u32, piece_length: u32, strategy: u8, seed: u64) -> Self {
        let layout =
            PieceLayout::new(u64::from(pieces) * u64::from(piece_length), piece_length).unwrap();
        let mut config = SelectConfig::default();
        config.request_timeout = Duration::from_secs(5);
        let mut sel = Selector::new(config, layout, StdRng::seed_from_u64(seed)).unwrap();
        match strategy % 3 {
            0 => sel.set_strategy(Box::new(RarestFirst::default())),
            1 => sel.set_strategy(Box::new(RandomPieces)),
            _ => sel.set_strategy(Box::new(Sequential::default())),
        }
        let t0 = Instant::now();
        Self {
            sel,
            now: t0,
            pieces,
            layout,
            peers: BTreeMap::new(),
            priority: vec![4; pieces as usize],
            have: BTreeSet::new(),
            awaiting_retry: BTreeSet::new(),
            requests: 0,
        }
    }

    fn add_peer(&mut self, key: u64, has: &[bool], fast: bool) {
        let mut bf = Bitfield::new(self.pieces);
        for (i, &h) in has.iter().enumerate() {
            if h {
                bf.set(PieceIndex(i as u32), true).unwrap();
            }
        }
        self.sel
            .add_peer(self.now, PeerKey(key), PeerOptions::fast(fast))
            .unwrap();
        if bf.is_full() && fast {
            self.sel.peer_have_all(PeerKey(key)).unwrap();
        } else {
            self.sel.peer_bitfield(PeerKey(key), &bf).unwrap();
        }
        self.peers.insert(
            key,
            PeerModel {
                has: bf.iter_ones().map(|p| p.0).collect(),
                fast,
                ..PeerModel::default()
            },
        );
        self.drain(Cause::Other);
    }

    fn unchoke(&mut self, key: u64) {
        if let Some(p) = self.peers.get_mut(&key) {
            p.unchoked_us = true;
            self.sel.peer_unchoked_us(self.now, PeerKey(key)).unwrap();
            self.drain(Cause::Other);
        }
    }

    fn choke(&mut self, key: u64) {
        if let Some(p) = self.peers.get_mut(&key) {
            p.unchoked_us = false;
            if !p.fast {
                // BEP 3: the peer discarded our requests.
                p.in_flight.clear();
            }
            self.sel.peer_choked_us(self.now, PeerKey(key)).unwrap();
            self.drain(Cause::Other);
        }
    }

    fn have(&mut self, key: u64, piece: u32) {
        if let Some(p) = self.peers.get_mut(&key) {
            p.has.insert(piece);
            self.sel.peer_have(PeerKey(key), PieceIndex(piece)).unwrap();
            self.drain(Cause::Other);
        }
    }

    fn allowed_fast(&mut self, key: u64, piece: u32) {
        if let Some(p) = self.peers.get_mut(&key) {
            if p.fast {
                p.allowed_fast.insert(piece);
                self.sel
                    .peer_allowed_fast(PeerKey(key), PieceIndex(piece))
                    .unwrap();
                self.drain(Cause::Other);
            }
        }
    }

    fn disconnect(&mut self, key: u64) {
        if self.peers.remove(&key).is_some() {
            self.sel.remove_peer(self.now, PeerKey(key)).unwrap();
            self.drain(Cause::Other);
        }
    }

    fn set_priority(&mut self, piece: u32, prio: u8) {
        self.sel
            .set_piece_priority(PieceIndex(piece), Priority::new(prio).unwrap())
            .unwrap();
        self.priority[piece as usize] = prio;
        self.drain(Cause::Other);
    }

    /// The peer answers its `nth` request in flight (if any).
    fn deliver(&mut self, key: u64, nth: usize) {
        let Some(block) = self.peers.get(&key).and_then(|p| {
            p.in_flight
                .iter()
                .nth(nth % p.in_flight.len().max(1))
                .copied()
        }) else {
            return;
        };
        self.peers.get_mut(&key).unwrap().in_flight.remove(&block);
        // A block that arrives needs no retry, whoever it came from.
        self.awaiting_retry.remove(&block);
        let outcome = self
            .sel
            .block_received(self.now, PeerKey(key), block)
            .unwrap();
        assert_ne!(
            outcome,
            BlockOutcome::Unrequested,
            "{block:?} was requested"
        );
        if outcome
            == (BlockOutcome::Accepted {
                piece_complete: true,
            })
        {
            // Our "disk" always verifies.
            self.sel
                .piece_verified(self.now, block.piece, true)
                .unwrap();
            self.have.insert(block.piece.0);
        }
        self.drain(Cause::Other);
    }

    /// The peer rejects its `nth` request in flight (BEP 6).
    fn reject(&mut self, key: u64, nth: usize) {
        let Some(p) = self.peers.get_mut(&key) else {
            return;
        };
        if !p.fast {
            return;
        }
        let Some(block) = p
            .in_flight
            .iter()
            .nth(nth % p.in_flight.len().max(1))
            .copied()
        else {
            return;
        };
        p.in_flight.remove(&block);
        p.failed.insert(block.piece.0);
        self.sel
            .peer_rejected(self.now, PeerKey(key), block)
            .unwrap();
        self.drain(Cause::Other);
    }

    fn advance(&mut self, by: Duration) {
        self.now += by;
        self.sel.handle_timeout(self.now);
        self.drain(Cause::Timeout);
    }

    fn drain(&mut self, cause: Cause) {
        while let Some(action) = self.sel.poll_action(self.now) {
            self.check(action, cause);
        }
    }

    fn check(&mut self, action: Action, cause: Cause) {
        match action {
            Action::Request { peer, block } => {
                self.requests += 1;
                let endgame = self.sel.is_endgame();
                let piece = block.piece.0;
                let p = self
                    .peers
                    .get_mut(&peer.0)
                    .expect("request to a connected peer");
                assert!(
                    p.has.contains(&piece),
                    "requested {block:?} from {peer} which lacks it"
                );
                assert!(
                    self.priority[piece as usize] > 0,
                    "requested priority-0 {block:?}"
                );
                assert!(
                    !self.have.contains(&piece),
                    "requested {block:?} of a piece we have"
                );
                assert!(
                    p.unchoked_us || (p.fast && p.allowed_fast.contains(&piece)),
                    "requested {block:?} from {peer} while choked"
                );
                assert!(
                    !p.lost.contains(&block) && p.in_flight.insert(block),
                    "requested {block:?} from {peer} twice at once"
                );
                assert!(
                    endgame || !p.failed.contains(&piece),
                    "outside endgame, re-requested from {peer} a piece whose block failed there: {block:?}"
                );
                assert!(block.fits_in(self.piece_len(piece)) && block.offset % BLOCK_SIZE == 0);
                self.awaiting_retry.remove(&block);
            }
            Action::Cancel { peer, block } => {
                if let Some(p) = self.peers.get_mut(&peer.0) {
                    let was = p.in_flight.remove(&block) | p.lost.remove(&block);
                    assert!(was, "cancel of {block:?} not in flight with {peer}");
                    if cause == Cause::Timeout {
                        p.failed.insert(block.piece.0);
                        self.awaiting_retry.insert(block);
                    }
                }
            }
            _ => {}
        }
    }

    fn piece_len(&self, piece: u32) -> u32 {
        if piece + 1 == self.layout.piece_count() {
            self.layout.last_piece_length()
        } else {
            self.layout.piece_length()
        }
    }

    fn wanted_pieces(&self) -> BTreeSet<u32> {
        (0..self.pieces)
            .filter(|&p| self.priority[p as usize] > 0)
            .collect()
    }
}

#[derive(Debug, Clone)]
enum Op {
    Unchoke(u64),
    Choke(u64),
    Have(u64, u32),
    AllowedFast(u64, u32),
    Deliver(u64, usize),
    Reject(u64, usize),
    Advance(u64),
    Disconnect(u64),
    Reconnect(u64, Vec<bool>, bool),
    Priority(u32, u8),
}

fn op(peers: u64, pieces: u32) -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (0..peers).prop_map(Op::Unchoke),
        1 => (0..peers).prop_map(Op::Choke),
        2 => (0..peers, 0..pieces).prop_map(|(k, p)| Op::Have(k, p)),
        1 => (0..peers, 0..pieces).prop_map(|(k, p)| Op::AllowedFast(k, p)),
        8 => (0..peers, any::<usize>()).prop_map(|(k, n)| Op::Deliver(k, n)),
        1 => (0..peers, any::<usize>()).prop_map(|(k, n)| Op::Reject(k, n)),
        2 => (0u64..8000).prop_map(Op::Advance),
        1 => (0..peers).prop_map(Op::Disconnect),
        1 => (0..peers, proptest::collection::vec(any::<bool>(), pieces as usize), any::<bool>())
            .prop_map(|(k, has, fast)| Op::Reconnect(k, has, fast)),
        1 => (0..pieces, 0u8..8).prop_map(|(p, v)| Op::Priority(p, v)),
    ]
}

/// Pieces, piece length, each peer's pieces and fast-extension support,
/// strategy selector and RNG seed.
type Swarm = (u32, u32, Vec<(Vec<bool>, bool)>, u8, u64);

fn swarm() -> impl Strategy<Value = Swarm> {
    (1u32..24, 1u32..4, 1u64..6).prop_flat_map(|(pieces, blocks, peers)| {
        let piece_length = blocks * BLOCK_SIZE - if blocks > 1 { 100 } else { 0 };
        (
            Just(pieces),
            Just(piece_length),
            proptest::collection::vec(
                (
                    proptest::collection::vec(any::<bool>(), pieces as usize),
                    any::<bool>(),
                ),
                peers as usize,
            ),
            any::<u8>(),
            any::<u64>(),
        )
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// Every request names a piece the peer has, of priority above 0, that
    /// we lack, to a peer that unchoked us (or allowed it fast), never twice
    /// at once to one peer, and outside endgame never again to a peer with
    /// which a block of that piece timed out or was rejected.
    #[test]
    fn requests_respect_what_the_selector_was_told(
        (pieces, piece_length, peers, strategy, seed) in swarm(),
        ops in proptest::collection::vec(op(6, 24), 1..120),
    ) {
        let mut h = Harness::new(pieces, piece_length, strategy, seed);
        for (k, (has, fast)) in peers.iter().enumerate() {
            h.add_peer(k as u64, has, *fast);
        }
        for op in ops {
            match op {
                Op::Unchoke(k) => h.unchoke(k),
                Op::Choke(k) => h.choke(k),
                Op::Have(k, p) if p < pieces => h.have(k, p),
                Op::AllowedFast(k, p) if p < pieces => h.allowed_fast(k, p),
                Op::Deliver(k, n) => h.deliver(k, n),
                Op::Reject(k, n) => h.reject(k, n),
                Op::Advance(ms) => h.advance(Duration::from_millis(ms)),
                Op::Disconnect(k) => h.disconnect(k),
                Op::Reconnect(k, has, fast) if !h.peers.contains_key(&k) => {
                    h.add_peer(k, &has[..pieces as usize], fast);
                }
                Op::Priority(p, v) if p < pieces => h.set_priority(p, v),
                _ => {}
            }
        }
    }

    /// With peers that between them have every piece, that answer slowly,
    /// drop some requests silently and reject others, the download always
    /// completes (endgame included), every timed-out block is asked for
    /// again, and no request is left in flight at the end.
    #[test]
    fn endgame_always_completes(
        (pieces, piece_length, peers, strategy, seed) in swarm(),
        behaviour in proptest::collection::vec((0u8..10, 0u64..3000), 1..64),
    ) {
        let mut h = Harness::new(pieces, piece_length, strategy, seed);
        for (k, (has, fast)) in peers.iter().enumerate() {
            let mut has = has.clone();
            if k == 0 {
                // Whatever nobody else has, the first peer has.
                for p in 0..pieces as usize {
                    if !peers.iter().any(|(h, _)| h[p]) {
                        has[p] = true;
                    }
                }
            }
            h.add_peer(k as u64, &has, *fast);
            h.unchoke(k as u64);
        }
        let mut step = 0usize;
        while h.have.len() < h.wanted_pieces().len() {
            prop_assert!(step < 20_000, "no completion after {step} steps: {:?}", h.sel.stats());
            let (kind, ms) = behaviour[step % behaviour.len()];
            step += 1;
            let keys: Vec<u64> = h.peers.keys().copied().collect();
            let key = keys[step % keys.len()];
            match kind {
                // Mostly answer; the timeline must move.
                0..=5 => h.deliver(key, step),
                6 => {
                    // Lose a request: the peer never answers it.
                    let p = h.peers.get_mut(&key).unwrap();
                    if let Some(b) = p.in_flight.pop_first() {
                        p.lost.insert(b);
                    }
                }
                7 => h.reject(key, step),
                _ => h.advance(Duration::from_millis(ms)),
            }
            if step % 50 == 0 {
                // Slow but alive: after the timeouts, every peer answers
                // one request now and then.
                h.advance(Duration::from_secs(6));
                for k in keys {
                    h.deliver(k, 0);
                }
            }
        }
        // Requests of dropped blocks are answered by a timeout and a
        // cancel, or cancelled when the block came from elsewhere.
        h.advance(Duration::from_secs(6));
        prop_assert_eq!(h.sel.stats().requests_in_flight, 0);
        for p in h.peers.values() {
            prop_assert!(p.in_flight.is_empty(), "left in flight: {:?}", p.in_flight);
            prop_assert!(p.lost.is_empty(), "lost and never cancelled: {:?}", p.lost);
        }
        prop_assert!(h.awaiting_retry.is_empty(), "never re-requested: {:?}", h.awaiting_retry);
        prop_assert!(h.sel.is_complete());
    }
}

/// A peer that never answers: every block it was asked for times out and
/// is then requested from the other peer, which completes the download.
#[test]
fn timed_out_blocks_move_to_another_peer() {
    let mut h = Harness::new(8, 2 * BLOCK_SIZE, 0, 1);
    h.add_peer(0, &[true; 8], true);
    h.unchoke(0);
    let silent: BTreeSet<BlockRef> = h.peers[&0].in_flight.clone();
    assert!(!silent.is_empty());
    h.advance(Duration::from_secs(3));
    h.add_peer(1, &[true; 8], true);
    h.unchoke(1);
    // Peer 0's requests are 6 s old (timeout 5 s), peer 1's only 3 s.
    h.advance(Duration::from_secs(3));
    assert!(h.sel.is_snubbed(PeerKey(0)));
    // Every silent request timed out and was cancelled.
    assert_eq!(h.awaiting_retry, silent);
    // A snubbed peer may get one new request, never a timed-out block.
    assert!(h.peers[&0].in_flight.len() <= 1);
    assert!(h.peers[&0].in_flight.is_disjoint(&silent));
    let mut guard = 0;
    while !h.sel.is_complete() {
        guard += 1;
        assert!(guard < 1000);
        h.deliver(1, 0);
        if h.peers[&1].in_flight.is_empty() {
            h.advance(Duration::from_secs(6));
        }
    }
    assert!(h.awaiting_retry.is_empty());
}
