//! The state machine that ties availability, picking, request queueing,
//! revelation and choking together for one torrent.

mod requests;
mod super_seed;

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::Instant;

use bitswarm_core::{Bitfield, BlockRef, PieceIndex};
use rand::{Rng, RngCore};

use crate::bitset::PieceSet;
use crate::choke::{ChokeCandidate, Choker, SeedChoker, TitForTat};
use crate::config::{PeerOptions, PieceLayout, SelectConfig};
use crate::peer::{Peer, PeerKey};
use crate::pieces::{Pieces, Received};
use crate::priority::{Priority, pieces_from_files};
use crate::reveal::{RevealMode, Revelation};
use crate::strategy::{PieceStrategy, RarestFirst};
use crate::{Action, BlockOutcome, Error};

/// The most pieces a [`Selector`] accepts (libtorrent's default
/// `max_pieces` is 2^21; 16 KiB pieces of a 256 GiB torrent make 2^24).
pub const MAX_PIECES: u32 = 1 << 24;

/// Every decision a swarm member takes about one torrent: which pieces to
/// ask which peer for, how many requests to keep in flight, when a request
/// has failed, what to reveal about our own pieces, and whom to unchoke.
///
/// It is a pure state machine (sans-IO): it never reads a clock, opens a
/// socket or spawns a task. The caller feeds it what happens, each input
/// with the current time, and carries out the [`Action`]s it returns.
///
/// # How to drive it
///
/// 1. **Inputs** (`add_peer`, `remove_peer`, `peer_*`, `block_received`,
///    `piece_verified`, `block_sent`, the priority setters) change the state.
///    Inputs that carry data from the network return a [`Result`]; an
///    error leaves the state as it was.
/// 2. **[`Selector::poll_action`]** is then called until it returns `None`.
///    Requests are computed lazily there, for the peers whose situation
///    changed, so a burst of inputs costs one pass.
/// 3. **[`Selector::poll_timeout`]** says when to call
///    [`Selector::handle_timeout`] next (request timeouts, rechoking).
///    Calling it early is harmless.
///
/// Time passed in must never go backwards.
///
/// Randomness (tie-breaks, optimistic unchokes, random pieces) comes from
/// the RNG given to [`Selector::new`]; seed it to replay a run exactly.
#[derive(Debug)]
pub struct Selector<R> {
    config: SelectConfig,
    layout: PieceLayout,
    pieces: Pieces,
    peers: BTreeMap<PeerKey, Peer>,
    /// Request deadlines, earliest first.
    timeouts: BTreeSet<(Instant, PeerKey, BlockRef)>,
    actions: VecDeque<Action>,
    /// Peers whose requests should be topped up at the next `poll_action`.
    dirty: VecDeque<PeerKey>,
    /// Peers whose last top-up found nothing to ask for; they are made
    /// dirty again when blocks become open.
    starved: BTreeSet<PeerKey>,
    strategy: Box<dyn PieceStrategy>,
    leech_choker: Box<dyn Choker>,
    seed_choker: Box<dyn Choker>,
    next_rechoke: Option<Instant>,
    unchoked: usize,
    /// Super-seeding: how often each piece has been revealed.
    revealed: Vec<u16>,
    rng: R,
}

impl<R: RngCore> Selector<R> {
    /// A selector for a torrent of the given layout, having no piece yet,
    /// picking rarest first, choking tit-for-tat while leeching and by
    /// fastest upload while seeding.
    pub fn new(config: SelectConfig, layout: PieceLayout, rng: R) -> Result<Self, Error> {
        config.validate()?;
        if layout.piece_count() > MAX_PIECES {
            // Per-piece state is ~22 bytes plus each peer's bitfield; a
            // layout past this bound is a hostile or broken torrent.
            return Err(Error::InvalidConfig {
                what: "more than 2^24 pieces",
            });
        }
        let stride = u32::try_from(config.max_peers.saturating_add(1))
            .unwrap_or(u32::MAX)
            .min(u32::from(u16::MAX));
        Ok(Self {
            pieces: Pieces::new(
                layout.piece_count(),
                layout.piece_length(),
                layout.last_piece_length(),
                stride,
            ),
            leech_choker: Box::new(TitForTat::new(config.optimistic_interval)),
            seed_choker: Box::new(SeedChoker::default()),
            strategy: Box::new(RarestFirst::default()),
            config,
            layout,
            peers: BTreeMap::new(),
            timeouts: BTreeSet::new(),
            actions: VecDeque::new(),
            dirty: VecDeque::new(),
            starved: BTreeSet::new(),
            next_rechoke: None,
            unchoked: 0,
            revealed: Vec::new(),
            rng,
        })
    }

    /// Replaces the piece selection strategy.
    pub fn set_strategy(&mut self, strategy: Box<dyn PieceStrategy>) {
        self.strategy = strategy;
    }

    /// Replaces the choker used while we still download.
    pub fn set_leech_choker(&mut self, choker: Box<dyn Choker>) {
        self.leech_choker = choker;
    }

    /// Replaces the choker used once we have every piece.
    pub fn set_seed_choker(&mut self, choker: Box<dyn Choker>) {
        self.seed_choker = choker;
    }

    /// The torrent's layout.
    pub fn layout(&self) -> &PieceLayout {
        &self.layout
    }

    /// The configuration in force.
    pub fn config(&self) -> &SelectConfig {
        &self.config
    }

    /// Marks pieces we already have (from resume data or a check of files
    /// on disk); normally called before any peer connects.
    pub fn set_have(&mut self, have: &Bitfield) -> Result<(), Error> {
        if have.len() != self.pieces.count() {
            return Err(Error::InvalidConfig {
                what: "resume bitfield length differs from the piece count",
            });
        }
        for p in have.iter_ones() {
            self.on_piece_passed(p.0);
        }
        Ok(())
    }

    /// Whether we have (and verified) the piece.
    pub fn has_piece(&self, piece: PieceIndex) -> bool {
        self.pieces.has(piece.0)
    }

    /// Our pieces as a wire bitfield.
    pub fn have_bitfield(&self) -> Bitfield {
        self.pieces.have().to_bitfield()
    }

    /// Whether every piece of priority above 0 is had.
    pub fn is_complete(&self) -> bool {
        self.pieces.wanted_left() == 0
    }

    /// Whether we have every piece of the torrent.
    pub fn is_seed(&self) -> bool {
        self.pieces.have().is_full()
    }

    /// Whether requests are being duplicated: every wanted piece has been
    /// started and the last blocks may be asked of several peers.
    pub fn is_endgame(&self) -> bool {
        self.pieces.pickable_count() == 0 && self.pieces.wanted_left() > 0
    }

    /// How many connected peers have the piece (seeds included).
    pub fn availability(&self, piece: PieceIndex) -> u32 {
        if piece.0 < self.pieces.count() {
            self.pieces.availability(piece.0)
        } else {
            0
        }
    }

    /// A snapshot of counters, for logs and tests.
    pub fn stats(&self) -> SelectStats {
        SelectStats {
            peers: self.peers.len(),
            completed: self.pieces.completed(),
            wanted_left: self.pieces.wanted_left(),
            partial_pieces: self.pieces.partials().len(),
            open_blocks: self.pieces.open_blocks(),
            requests_in_flight: self.timeouts.len(),
            unchoked: self.unchoked,
            endgame: self.is_endgame(),
        }
    }

    /// The blocks in flight with a peer, oldest first.
    pub fn requests_of(&self, peer: PeerKey) -> impl Iterator<Item = BlockRef> + '_ {
        self.peers
            .get(&peer)
            .into_iter()
            .flat_map(|p| p.in_flight.iter().map(|r| r.block))
    }

    /// Whether the peer is considered snubbed (a request of ours to it timed
    /// out and no block has arrived since).
    pub fn is_snubbed(&self, peer: PeerKey) -> bool {
        self.peers.get(&peer).is_some_and(|p| p.snubbed)
    }

    /// Whether we are interested in the peer.
    pub fn is_interested_in(&self, peer: PeerKey) -> bool {
        self.peers.get(&peer).is_some_and(|p| p.we_interested)
    }

    /// Whether we are choking the peer.
    pub fn is_choking(&self, peer: PeerKey) -> bool {
        self.peers.get(&peer).is_none_or(|p| p.we_choking)
    }

    /// Heap bytes held, summed from container capacities (an estimate that
    /// leaves out allocator overhead; tree nodes are counted by entry size).
    pub fn heap_bytes(&self) -> usize {
        let peers: usize = self.peers.values().map(Peer::heap_bytes).sum::<usize>()
            + self.peers.len() * (size_of::<Peer>() + size_of::<PeerKey>());
        self.pieces.heap_bytes()
            + peers
            + self.timeouts.len() * size_of::<(Instant, PeerKey, BlockRef)>()
            + self.actions.capacity() * size_of::<Action>()
            + self.dirty.capacity() * size_of::<PeerKey>()
            + self.starved.len() * size_of::<PeerKey>()
            + self.revealed.capacity() * 2
    }

    // ---- priorities ----------------------------------------------------

    /// Sets one piece's priority; [`Priority::SKIP`] stops new requests
    /// for it (blocks already in flight are left to finish).
    pub fn set_piece_priority(
        &mut self,
        piece: PieceIndex,
        priority: Priority,
    ) -> Result<(), Error> {
        self.check_piece(None, piece.0)?;
        self.apply_priority(piece.0, priority.get());
        Ok(())
    }

    /// Sets piece priorities from file priorities: `file_lengths` are the
    /// torrent's files in order, and each piece takes the highest priority
    /// of the files it overlaps.
    pub fn set_file_priorities(
        &mut self,
        file_lengths: &[u64],
        priorities: &[Priority],
    ) -> Result<(), Error> {
        let per_piece = pieces_from_files(
            file_lengths,
            priorities,
            u64::from(self.layout.piece_length()),
            self.pieces.count(),
        )?;
        for (p, prio) in per_piece.into_iter().enumerate() {
            self.apply_priority(p as u32, prio.get());
        }
        Ok(())
    }

    fn apply_priority(&mut self, piece: u32, priority: u8) {
        let was_wanted = self.pieces.wants(piece);
        self.pieces.set_priority(piece, priority);
        let wanted = self.pieces.wants(piece);
        if was_wanted != wanted {
            let keys: Vec<PeerKey> = self
                .peers
                .iter()
                .filter(|(_, p)| p.pieces.get(piece))
                .map(|(k, _)| *k)
                .collect();
            for key in keys {
                if let Some(p) = self.peers.get_mut(&key) {
                    if wanted {
                        p.wanted += 1;
                    } else {
                        p.wanted = p.wanted.saturating_sub(1);
                    }
                }
                self.update_interest(key);
                self.mark_dirty(key);
            }
        }
    }

    // ---- peers ---------------------------------------------------------

    /// Registers a connected peer (after its handshake) and says what to
    /// send it about our pieces.
    pub fn add_peer(
        &mut self,
        now: Instant,
        peer: PeerKey,
        options: PeerOptions,
    ) -> Result<Revelation, Error> {
        if self.peers.contains_key(&peer) {
            return Err(Error::DuplicatePeer { peer });
        }
        if self.peers.len() >= self.config.max_peers {
            return Err(Error::TooManyPeers {
                limit: self.config.max_peers,
            });
        }
        self.next_rechoke
            .get_or_insert(now + self.config.rechoke_interval);
        let state = Peer::new(now, options, self.pieces.count(), self.config.rate_window);
        self.peers.insert(peer, state);
        Ok(self.reveal_to(peer, options.fast))
    }

    fn reveal_to(&mut self, peer: PeerKey, fast: bool) -> Revelation {
        let have = self.pieces.completed();
        let all = self.is_seed() && self.pieces.count() > 0;
        match self.config.reveal {
            RevealMode::SuperSeed if all => {
                self.reveal_next_super_piece(peer);
                if fast {
                    Revelation::HaveNone
                } else {
                    Revelation::Nothing
                }
            }
            _ if have == 0 => {
                if fast {
                    Revelation::HaveNone
                } else {
                    Revelation::Nothing
                }
            }
            RevealMode::Lazy { withheld } if withheld > 0 => {
                let mut shown = self.pieces.have().clone();
                let mut hidden = Vec::new();
                let want = withheld.min(have) as usize;
                // Hide random pieces; a bounded number of tries keeps this
                // O(withheld) even when few pieces are had.
                for _ in 0..want.saturating_mul(8) {
                    if hidden.len() == want {
                        break;
                    }
                    let p = self.rng.gen_range(0..self.pieces.count());
                    if shown.remove(p) {
                        hidden.push(p);
                    }
                }
                for p in hidden {
                    self.actions.push_back(Action::Have {
                        peer,
                        piece: PieceIndex(p),
                    });
                }
                Revelation::Bitfield(shown.to_bitfield())
            }
            _ if all && fast => Revelation::HaveAll,
            _ => Revelation::Bitfield(self.pieces.have().to_bitfield()),
        }
    }

    /// Forgets a disconnected peer: its pieces no longer count towards
    /// availability and its requests become open for others.
    pub fn remove_peer(&mut self, now: Instant, peer: PeerKey) -> Result<(), Error> {
        let mut state = self
            .peers
            .remove(&peer)
            .ok_or(Error::UnknownPeer { peer })?;
        self.drop_requests(peer, &mut state);
        if state.seed {
            self.pieces.remove_seed();
        } else {
            for p in state.pieces.iter_ones() {
                self.pieces.decrement(p);
            }
        }
        self.starved.remove(&peer);
        self.wake_starved();
        if !state.we_choking {
            self.unchoked -= 1;
            // An upload slot left unused until the next rechoke is upload lost.
            self.rechoke(now);
        }
        Ok(())
    }

    fn peer_mut(&mut self, peer: PeerKey) -> Result<&mut Peer, Error> {
        self.peers.get_mut(&peer).ok_or(Error::UnknownPeer { peer })
    }

    fn check_piece(&self, peer: Option<PeerKey>, piece: u32) -> Result<(), Error> {
        if piece < self.pieces.count() {
            Ok(())
        } else {
            Err(Error::PieceOutOfRange {
                peer,
                piece,
                pieces: self.pieces.count(),
            })
        }
    }

    /// The peer's `bitfield` message (BEP 3). A second bitfield replaces
    /// the first.
    pub fn peer_bitfield(&mut self, peer: PeerKey, bitfield: &Bitfield) -> Result<(), Error> {
        if bitfield.len() != self.pieces.count() {
            return Err(Error::InvalidBitfield {
                peer,
                source: bitswarm_core::Error::BitfieldLength {
                    expected: self.pieces.count().div_ceil(8) as usize,
                    found: bitfield.as_bytes().len(),
                },
            });
        }
        self.peer_mut(peer)?;
        let set = PieceSet::from_bitfield(bitfield);
        self.replace_pieces(peer, set);
        Ok(())
    }

    /// BEP 6 `have all`: the peer is a seed. O(1) for availability.
    pub fn peer_have_all(&mut self, peer: PeerKey) -> Result<(), Error> {
        self.peer_mut(peer)?;
        let set = PieceSet::full(self.pieces.count());
        self.replace_pieces(peer, set);
        Ok(())
    }

    /// BEP 6 `have none`.
    pub fn peer_have_none(&mut self, peer: PeerKey) -> Result<(), Error> {
        self.peer_mut(peer)?;
        let set = PieceSet::new(self.pieces.count());
        self.replace_pieces(peer, set);
        Ok(())
    }

    fn replace_pieces(&mut self, key: PeerKey, set: PieceSet) {
        let Some(peer) = self.peers.get_mut(&key) else {
            return;
        };
        // Take back what the peer contributed before.
        if peer.seed {
            self.pieces.remove_seed();
        } else {
            for p in peer.pieces.iter_ones() {
                self.pieces.decrement(p);
            }
        }
        peer.seed = set.is_full() && set.len() > 0;
        if peer.seed {
            self.pieces.add_seed();
            peer.wanted = self.pieces.wanted_left();
        } else {
            let mut wanted = 0;
            for p in set.iter_ones() {
                self.pieces.increment(p);
                wanted += u32::from(self.pieces.wants(p));
            }
            peer.wanted = wanted;
        }
        peer.pieces = set;
        self.update_interest(key);
        self.mark_dirty(key);
    }

    /// The peer's `have` message (BEP 3). O(1).
    pub fn peer_have(&mut self, peer: PeerKey, piece: PieceIndex) -> Result<(), Error> {
        self.check_piece(Some(peer), piece.0)?;
        let wants = self.pieces.wants(piece.0);
        let state = self.peer_mut(peer)?;
        if !state.pieces.insert(piece.0) {
            return Ok(());
        }
        if wants {
            state.wanted += 1;
        }
        if !state.seed {
            self.pieces.increment(piece.0);
        }
        if wants {
            self.update_interest(peer);
            self.mark_dirty(peer);
        }
        if self.config.reveal == RevealMode::SuperSeed && self.is_seed() {
            self.super_seed_progress(peer, piece.0);
        }
        Ok(())
    }

    /// The peer choked us. Without BEP 6 the peer has dropped our requests
    /// (BEP 3), so they become open for others; with BEP 6 it will reject
    /// them one by one, except allowed-fast ones.
    pub fn peer_choked_us(&mut self, _now: Instant, peer: PeerKey) -> Result<(), Error> {
        let state = self.peer_mut(peer)?;
        state.choking_us = true;
        if !state.fast {
            let mut taken = core::mem::take(&mut state.in_flight);
            for r in taken.drain(..) {
                self.forget_request(peer, &r);
            }
            if let Some(state) = self.peers.get_mut(&peer) {
                state.in_flight = taken;
            }
            self.wake_starved();
        }
        Ok(())
    }

    /// The peer unchoked us: requests may be sent.
    pub fn peer_unchoked_us(&mut self, _now: Instant, peer: PeerKey) -> Result<(), Error> {
        self.peer_mut(peer)?.choking_us = false;
        self.mark_dirty(peer);
        Ok(())
    }

    /// The peer is interested in our pieces. If an upload slot is free it
    /// is unchoked at once rather than at the next rechoke.
    pub fn peer_interested(&mut self, now: Instant, peer: PeerKey) -> Result<(), Error> {
        let slots = self.config.upload_slots;
        let unchoked = self.unchoked;
        let state = self.peer_mut(peer)?;
        state.interested_in_us = true;
        if state.we_choking && unchoked < slots {
            self.unchoke(now, peer);
        }
        Ok(())
    }

    /// The peer is no longer interested in our pieces. If it held an
    /// upload slot, the slot is given to another peer at once.
    pub fn peer_not_interested(&mut self, now: Instant, peer: PeerKey) -> Result<(), Error> {
        let state = self.peer_mut(peer)?;
        state.interested_in_us = false;
        if !state.we_choking {
            self.rechoke(now);
        }
        Ok(())
    }

    /// BEP 6 `suggest piece`: the peer suggests a piece (typically one in
    /// its cache); it is tried before the strategy while it is wanted.
    pub fn peer_suggest(&mut self, peer: PeerKey, piece: PieceIndex) -> Result<(), Error> {
        self.check_piece(Some(peer), piece.0)?;
        let limit = self.config.max_suggested;
        let state = self.peer_mut(peer)?;
        push_bounded(&mut state.suggested, piece.0, limit);
        self.mark_dirty(peer);
        Ok(())
    }

    /// BEP 6 `allowed fast`: the piece may be requested even while the peer
    /// chokes us.
    pub fn peer_allowed_fast(&mut self, peer: PeerKey, piece: PieceIndex) -> Result<(), Error> {
        self.check_piece(Some(peer), piece.0)?;
        let limit = self.config.max_allowed_fast;
        let state = self.peer_mut(peer)?;
        push_bounded(&mut state.allowed_fast, piece.0, limit);
        self.mark_dirty(peer);
        Ok(())
    }

    /// BEP 6 `reject request`: the block becomes open for other peers and
    /// its piece is not asked of this peer again outside endgame. A reject
    /// for a block not in flight is ignored.
    pub fn peer_rejected(
        &mut self,
        _now: Instant,
        peer: PeerKey,
        block: BlockRef,
    ) -> Result<(), Error> {
        let state = self.peer_mut(peer)?;
        let Some(pos) = state.in_flight.iter().position(|r| r.block == block) else {
            return Ok(());
        };
        let r = state.in_flight.remove(pos);
        state.avoid(block.piece.0);
        self.forget_request(peer, &r);
        // Allowed-fast pieces that are rejected are not allowed any more.
        if let Some(state) = self.peers.get_mut(&peer) {
            state.allowed_fast.retain(|&p| p != block.piece.0);
        }
        self.mark_dirty(peer);
        self.wake_starved();
        Ok(())
    }

    /// We sent the peer `bytes` of piece data: feeds the upload rate used
    /// by the seeding choker.
    pub fn block_sent(&mut self, now: Instant, peer: PeerKey, bytes: u64) -> Result<(), Error> {
        self.peer_mut(peer)?.up.record(now, bytes);
        Ok(())
    }

    /// A `piece` message arrived with one block. When it completes the
    /// piece the caller checks the hash and reports with
    /// [`Selector::piece_verified`]. In endgame, the other peers asked for
    /// the same block get a `Cancel`.
    pub fn block_received(
        &mut self,
        now: Instant,
        peer: PeerKey,
        block: BlockRef,
    ) -> Result<BlockOutcome, Error> {
        let Some(index) = self.pieces.block_index(&block) else {
            return Err(Error::BlockOutOfRange { peer, block });
        };
        let state = self.peer_mut(peer)?;
        state.down.record(now, u64::from(block.length));
        let Some(pos) = state.in_flight.iter().position(|r| r.block == block) else {
            return Ok(BlockOutcome::Unrequested);
        };
        let r = state.in_flight.remove(pos);
        state.snubbed = false;
        self.timeouts.remove(&(r.deadline, peer, block));
        let piece = block.piece.0;
        let others = self.pieces.in_flight_count(piece, index) > 1;
        let outcome = self.pieces.mark_received(piece, index);
        if others {
            self.cancel_duplicates(peer, block);
        }
        self.mark_dirty(peer);
        Ok(match outcome {
            Received::New { complete } => BlockOutcome::Accepted {
                piece_complete: complete,
            },
            Received::Duplicate => BlockOutcome::Duplicate,
        })
    }

    fn cancel_duplicates(&mut self, except: PeerKey, block: BlockRef) {
        for (&key, state) in self.peers.iter_mut() {
            if key == except {
                continue;
            }
            if let Some(pos) = state.in_flight.iter().position(|r| r.block == block) {
                let r = state.in_flight.remove(pos);
                self.timeouts.remove(&(r.deadline, key, block));
                self.actions.push_back(Action::Cancel { peer: key, block });
                enqueue(&mut self.dirty, key, state);
            }
        }
    }

    /// The result of the hash check of a completed piece. A passed piece is
    /// announced with `have` to every peer (BEP 3); a failed one is
    /// downloaded again from scratch.
    pub fn piece_verified(
        &mut self,
        _now: Instant,
        piece: PieceIndex,
        passed: bool,
    ) -> Result<(), Error> {
        self.check_piece(None, piece.0)?;
        if passed {
            if self.on_piece_passed(piece.0) {
                let redundant = self.config.redundant_haves;
                for (&key, state) in &self.peers {
                    if redundant || !state.pieces.get(piece.0) {
                        self.actions.push_back(Action::Have { peer: key, piece });
                    }
                }
            }
            if self.is_complete() {
                self.cancel_everything();
            }
        } else {
            let in_flight = self.pieces.has_in_flight(piece.0);
            self.pieces.mark_failed(piece.0);
            // Requests still in flight for it would fill a piece we reset.
            if in_flight {
                self.cancel_piece(piece.0);
            }
            self.wake_starved();
        }
        Ok(())
    }

    /// Records a piece as had; returns whether it is new.
    fn on_piece_passed(&mut self, piece: u32) -> bool {
        let was_wanted = self.pieces.wants(piece);
        // Normally every block has arrived and endgame copies were cancelled
        // on arrival; requests remain only when the caller marks a piece
        // had early (resume data, another source).
        let in_flight = self.pieces.has_in_flight(piece);
        if !self.pieces.mark_have(piece) {
            return false;
        }
        if in_flight {
            self.cancel_piece(piece);
        }
        if was_wanted {
            let keys: Vec<PeerKey> = self
                .peers
                .iter_mut()
                .filter(|(_, p)| p.pieces.get(piece))
                .map(|(k, p)| {
                    p.wanted = p.wanted.saturating_sub(1);
                    *k
                })
                .collect();
            for key in keys {
                self.update_interest(key);
            }
        }
        true
    }

    fn cancel_piece(&mut self, piece: u32) {
        for (&key, state) in self.peers.iter_mut() {
            state.in_flight.retain(|r| {
                if r.block.piece.0 == piece {
                    self.timeouts.remove(&(r.deadline, key, r.block));
                    self.actions.push_back(Action::Cancel {
                        peer: key,
                        block: r.block,
                    });
                    false
                } else {
                    true
                }
            });
        }
    }

    fn cancel_everything(&mut self) {
        for (&key, state) in self.peers.iter_mut() {
            for r in state.in_flight.drain(..) {
                self.timeouts.remove(&(r.deadline, key, r.block));
                self.actions.push_back(Action::Cancel {
                    peer: key,
                    block: r.block,
                });
            }
        }
    }

    // ---- time ------------------------------------------------------------

    /// When [`Selector::handle_timeout`] should run next.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        let first = self.timeouts.first().map(|t| t.0);
        match (first, self.next_rechoke) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Expires requests whose deadline passed (they become open for other
    /// peers, the peer is snubbed and gets a `Cancel`) and rechokes when due.
    pub fn handle_timeout(&mut self, now: Instant) {
        let mut expired = false;
        while let Some(&(deadline, key, block)) = self.timeouts.first() {
            if deadline > now {
                break;
            }
            self.timeouts.pop_first();
            expired = true;
            let Some(state) = self.peers.get_mut(&key) else {
                continue;
            };
            if let Some(pos) = state.in_flight.iter().position(|r| r.block == block) {
                let r = state.in_flight.remove(pos);
                state.snubbed = true;
                state.avoid(block.piece.0);
                tracing::debug!(peer = %key, ?block, "request timed out");
                self.actions.push_back(Action::Cancel { peer: key, block });
                if let Some(index) = self.pieces.block_index(&r.block) {
                    self.pieces.mark_unrequested(block.piece.0, index);
                }
                enqueue(&mut self.dirty, key, state);
            }
        }
        if expired {
            self.wake_starved();
        }
        if self.next_rechoke.is_some_and(|at| at <= now) {
            self.rechoke(now);
            self.next_rechoke = Some(now + self.config.rechoke_interval);
        }
    }

    fn rechoke(&mut self, now: Instant) {
        let candidates: Vec<ChokeCandidate> = self
            .peers
            .iter_mut()
            .map(|(&key, p)| ChokeCandidate {
                interested: p.interested_in_us,
                snubbed: p.snubbed,
                download_rate: p.down.rate(now),
                upload_rate: p.up.rate(now),
                unchoked_since: p.unchoked_since,
                last_unchoked: p.last_unchoked,
                ..ChokeCandidate::new(key, p.connected_at)
            })
            .collect();
        let mut unchoke = Vec::with_capacity(self.config.upload_slots);
        let choker = if self.is_seed() {
            &mut self.seed_choker
        } else {
            &mut self.leech_choker
        };
        choker.rechoke(
            now,
            &candidates,
            self.config.upload_slots,
            &mut self.rng,
            &mut unchoke,
        );
        unchoke.truncate(self.config.upload_slots);
        let keys: Vec<PeerKey> = self.peers.keys().copied().collect();
        for key in keys {
            let want = unchoke.contains(&key);
            let choking = self.peers.get(&key).is_some_and(|p| p.we_choking);
            if want && choking {
                self.unchoke(now, key);
            } else if !want && !choking {
                if let Some(p) = self.peers.get_mut(&key) {
                    p.we_choking = true;
                    p.unchoked_since = None;
                }
                self.unchoked -= 1;
                self.actions.push_back(Action::Choke { peer: key });
            }
        }
    }

    fn unchoke(&mut self, now: Instant, key: PeerKey) {
        if let Some(p) = self.peers.get_mut(&key) {
            if p.we_choking {
                p.we_choking = false;
                p.unchoked_since = Some(now);
                p.last_unchoked = Some(now);
                self.unchoked += 1;
                self.actions.push_back(Action::Unchoke { peer: key });
            }
        }
    }

    // ---- output ----------------------------------------------------------

    /// The next thing to do. Call after every input until it returns
    /// `None`; requests are chosen here. `now` stamps request deadlines and
    /// reads the rate that sizes each peer's pipeline.
    pub fn poll_action(&mut self, now: Instant) -> Option<Action> {
        loop {
            if let Some(a) = self.actions.pop_front() {
                return Some(a);
            }
            let key = self.dirty.pop_front()?;
            if let Some(p) = self.peers.get_mut(&key) {
                p.queued = false;
                self.fill(now, key);
            }
        }
    }

    fn mark_dirty(&mut self, key: PeerKey) {
        if let Some(p) = self.peers.get_mut(&key) {
            enqueue(&mut self.dirty, key, p);
        }
    }

    fn wake_starved(&mut self) {
        let starved = core::mem::take(&mut self.starved);
        for key in starved {
            self.mark_dirty(key);
        }
    }

    fn update_interest(&mut self, key: PeerKey) {
        let complete = self.is_complete();
        let Some(p) = self.peers.get_mut(&key) else {
            return;
        };
        let want = p.wanted > 0 && !complete;
        if want != p.we_interested {
            p.we_interested = want;
            self.actions.push_back(if want {
                Action::Interested { peer: key }
            } else {
                Action::NotInterested { peer: key }
            });
        }
    }
}

/// Queues a peer for a top-up once: the queue never holds a peer twice,
/// so it is bounded by the number of peers.
fn enqueue(dirty: &mut VecDeque<PeerKey>, key: PeerKey, peer: &mut Peer) {
    if !peer.queued {
        peer.queued = true;
        dirty.push_back(key);
    }
}

fn push_bounded(list: &mut Vec<u32>, piece: u32, limit: usize) {
    if list.contains(&piece) || limit == 0 {
        return;
    }
    if list.len() >= limit {
        list.remove(0);
    }
    list.push(piece);
}

/// Counters from [`Selector::stats`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SelectStats {
    /// Connected peers.
    pub peers: usize,
    /// Pieces we have.
    pub completed: u32,
    /// Pieces still wanted (not had, priority above 0).
    pub wanted_left: u32,
    /// Pieces started and not finished.
    pub partial_pieces: usize,
    /// Blocks of started pieces that nobody has been asked for.
    pub open_blocks: u64,
    /// Requests in flight, over all peers.
    pub requests_in_flight: usize,
    /// Peers we unchoke.
    pub unchoked: usize,
    /// Whether endgame is on.
    pub endgame: bool,
}
