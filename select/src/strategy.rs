use core::fmt;

use bitswarm_core::PieceIndex;
use rand::RngCore;

use crate::bitset::PieceSet;
use crate::pieces::Pieces;
use crate::priority::Priority;

/// Chooses which new piece to start downloading from one peer.
///
/// The [`crate::Selector`] asks the strategy only after it has tried, in
/// order, the peer's allowed-fast pieces while choked (BEP 6), pieces the
/// peer suggested (BEP 6) and the open blocks of pieces already started
/// ("partial pieces first"); so a strategy only ever starts pieces. It
/// works through a [`PickContext`], which offers only pieces that may be
/// started: not had, not started, priority above 0, and held by the peer.
/// Whatever a strategy returns is checked again; a piece that may not be
/// started is ignored.
pub trait PieceStrategy: Send + fmt::Debug {
    /// The next piece to start from this peer, or `None` if the peer has
    /// nothing this strategy wants.
    fn pick(&mut self, ctx: &PickContext<'_>, rng: &mut dyn RngCore) -> Option<PieceIndex>;
}

/// What a [`PieceStrategy`] may look at: the torrent's pieces as we see
/// them and the one peer being served.
///
/// Every piece this type returns may be started from this peer.
pub struct PickContext<'a> {
    pub(crate) pieces: &'a Pieces,
    pub(crate) peer: &'a PieceSet,
    /// Pieces not to ask this peer for (it timed out or rejected one of their blocks).
    pub(crate) avoid: Option<&'a PieceSet>,
}

impl fmt::Debug for PickContext<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PickContext")
            .field("pieces", &self.pieces.count())
            .field("completed", &self.pieces.completed())
            .field("peer_has", &self.peer.count())
            .finish()
    }
}

impl PickContext<'_> {
    /// Number of pieces in the torrent.
    pub fn piece_count(&self) -> u32 {
        self.pieces.count()
    }

    /// Pieces we have and verified.
    pub fn completed(&self) -> u32 {
        self.pieces.completed()
    }

    /// How many connected peers have the piece (seeds included).
    pub fn availability(&self, piece: PieceIndex) -> u32 {
        if piece.0 < self.pieces.count() {
            self.pieces.availability(piece.0)
        } else {
            0
        }
    }

    /// The piece's priority.
    pub fn priority(&self, piece: PieceIndex) -> Priority {
        if piece.0 < self.pieces.count() {
            Priority::new(self.pieces.priority(piece.0)).unwrap_or(Priority::SKIP)
        } else {
            Priority::SKIP
        }
    }

    /// The lowest piece we still want (not had, priority above 0), started or not.
    pub fn first_missing(&self) -> Option<PieceIndex> {
        let n = self.pieces.count();
        let mut i = 0;
        while let Some(p) = self.pieces.have().next_clear(i, n) {
            if self.pieces.priority(p) > 0 {
                return Some(PieceIndex(p));
            }
            i = p + 1;
        }
        None
    }

    /// Whether the piece may be started from this peer.
    pub fn can_start(&self, piece: PieceIndex) -> bool {
        self.ok(piece.0)
    }

    fn ok(&self, piece: u32) -> bool {
        self.pieces.pickable().get(piece)
            && self.peer.get(piece)
            && !self.avoid.is_some_and(|a| a.get(piece))
    }

    /// The rarest startable piece at the highest priority level, ties broken
    /// at random. Amortised O(1): buckets of equal rarity are visited rarest
    /// first; when the peer has few of the pieces visited, the search falls
    /// back to one pass over the peer's own pieces (O(pieces / 64)).
    pub fn rarest(&self, rng: &mut dyn RngCore) -> Option<PieceIndex> {
        let budget = self.pieces.count() as usize / 64 + 64;
        match self
            .pieces
            .rarity()
            .find_rarest(rng, budget, |p| self.ok(p))
        {
            Ok(found) => found.map(PieceIndex),
            Err(()) => self.rarest_by_scan(rng),
        }
    }

    fn rarest_by_scan(&self, rng: &mut dyn RngCore) -> Option<PieceIndex> {
        use rand::Rng;
        let mut best: Option<(u32, u32)> = None;
        let mut ties = 0u32;
        for p in self.pieces.pickable().iter_and(self.peer) {
            if self.avoid.is_some_and(|a| a.get(p)) {
                continue;
            }
            let Some(key) = self.pieces.rarity().key_of(p) else {
                continue;
            };
            match best {
                Some((k, _)) if key > k => {}
                Some((k, _)) if key == k => {
                    // Reservoir sampling keeps the tie-break uniform.
                    ties += 1;
                    if rng.gen_range(0..ties) == 0 {
                        best = Some((key, p));
                    }
                }
                _ => {
                    best = Some((key, p));
                    ties = 1;
                }
            }
        }
        best.map(|(_, p)| PieceIndex(p))
    }

    /// A uniformly placed random startable piece at the highest priority
    /// level the peer can serve. O(pieces / 64).
    pub fn random(&self, rng: &mut dyn RngCore) -> Option<PieceIndex> {
        for level in (1..=7u8).rev() {
            if self.pieces.pickable_at(level) == 0 {
                continue;
            }
            let found = self.pieces.pickable().cyclic_and_find(self.peer, rng, |p| {
                self.pieces.priority(p) == level && !self.avoid.is_some_and(|a| a.get(p))
            });
            if let Some(p) = found {
                return Some(PieceIndex(p));
            }
        }
        None
    }

    /// The lowest-numbered startable piece in `from..until` at the highest
    /// priority level present there.
    pub fn in_order(&self, from: PieceIndex, until: PieceIndex) -> Option<PieceIndex> {
        for level in (1..=7u8).rev() {
            if self.pieces.pickable_at(level) == 0 {
                continue;
            }
            let mut i = from.0;
            while let Some(p) = self.pieces.pickable().next_and(Some(self.peer), i, until.0) {
                if self.pieces.priority(p) == level && !self.avoid.is_some_and(|a| a.get(p)) {
                    return Some(PieceIndex(p));
                }
                i = p + 1;
            }
        }
        None
    }
}

/// Rarest first with random tie-break, after a few random first pieces.
///
/// A peer with nothing to offer is not worth reciprocating, so the first
/// `random_first` pieces are picked at random (any piece the peer has is
/// likely to be complete soon and tradeable); after that the rarest piece
/// goes first, which keeps every piece replicated (Legout et al., "Rarest
/// first and choke algorithms are enough", 2006; libtorrent does the same).
#[derive(Debug, Clone)]
pub struct RarestFirst {
    /// Pieces picked at random before switching to rarest first.
    pub random_first: u32,
}

impl Default for RarestFirst {
    fn default() -> Self {
        Self { random_first: 4 }
    }
}

impl PieceStrategy for RarestFirst {
    fn pick(&mut self, ctx: &PickContext<'_>, rng: &mut dyn RngCore) -> Option<PieceIndex> {
        if ctx.completed() < self.random_first {
            ctx.random(rng)
        } else {
            ctx.rarest(rng)
        }
    }
}

/// Any piece the peer has, chosen at random: the baseline rarest first is
/// measured against.
#[derive(Debug, Clone, Default)]
pub struct RandomPieces;

impl PieceStrategy for RandomPieces {
    fn pick(&mut self, ctx: &PickContext<'_>, rng: &mut dyn RngCore) -> Option<PieceIndex> {
        ctx.random(rng)
    }
}

/// Streaming order: the lowest-numbered missing piece first, within a
/// window of `window` pieces from the first missing one.
///
/// When the peer has nothing inside the window the strategy falls back to
/// rarest first beyond it, so that the peer's bandwidth is not wasted and
/// the swarm keeps pieces to trade; set `fallback_rarest` to `false` for a
/// strict order.
#[derive(Debug, Clone)]
pub struct Sequential {
    /// How many pieces past the first missing one may be started.
    pub window: u32,
    /// Whether to pick rarest first when the window offers nothing.
    pub fallback_rarest: bool,
}

impl Default for Sequential {
    fn default() -> Self {
        Self {
            window: 16,
            fallback_rarest: true,
        }
    }
}

impl PieceStrategy for Sequential {
    fn pick(&mut self, ctx: &PickContext<'_>, rng: &mut dyn RngCore) -> Option<PieceIndex> {
        let from = ctx.first_missing()?;
        let until = PieceIndex(from.0.saturating_add(self.window.max(1)));
        ctx.in_order(from, until)
            .or_else(|| self.fallback_rarest.then(|| ctx.rarest(rng)).flatten())
    }
}
