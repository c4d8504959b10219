use core::fmt;
use std::time::{Duration, Instant};

use bitswarm_core::BlockRef;

use crate::bitset::PieceSet;
use crate::config::PeerOptions;
use crate::rate::RateMeter;

/// The caller's handle for one peer connection: any number unique among
/// the connected peers (a slab index, a connection counter).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct PeerKey(pub u64);

impl fmt::Display for PeerKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// One request in flight.
#[derive(Debug, Clone)]
pub(crate) struct InFlight {
    pub(crate) block: BlockRef,
    pub(crate) deadline: Instant,
}

/// What the selector knows about one connected peer.
#[derive(Debug)]
pub(crate) struct Peer {
    pub(crate) pieces: PieceSet,
    /// Counted in the seed counter rather than per piece.
    pub(crate) seed: bool,
    pub(crate) fast: bool,
    pub(crate) choking_us: bool,
    pub(crate) we_interested: bool,
    pub(crate) interested_in_us: bool,
    pub(crate) we_choking: bool,
    /// Pieces the peer has that we want; we are interested while above 0.
    pub(crate) wanted: u32,
    /// Requests in flight, oldest first; at most `max_pipeline`.
    pub(crate) in_flight: Vec<InFlight>,
    /// Pieces whose blocks timed out or were rejected with this peer; not
    /// asked of it again outside endgame. Allocated on the first failure.
    avoid: Option<PieceSet>,
    pub(crate) allowed_fast: Vec<u32>,
    pub(crate) suggested: Vec<u32>,
    pub(crate) down: RateMeter,
    pub(crate) up: RateMeter,
    pub(crate) snubbed: bool,
    pub(crate) connected_at: Instant,
    pub(crate) unchoked_since: Option<Instant>,
    pub(crate) last_unchoked: Option<Instant>,
    /// Queued in the selector's dirty list.
    pub(crate) queued: bool,
    /// Super-seeding: the piece last revealed to this peer.
    pub(crate) super_piece: Option<u32>,
}

impl Peer {
    pub(crate) fn new(now: Instant, options: PeerOptions, pieces: u32, window: Duration) -> Self {
        Self {
            pieces: PieceSet::new(pieces),
            seed: false,
            fast: options.fast,
            choking_us: true,
            we_interested: false,
            interested_in_us: false,
            we_choking: true,
            wanted: 0,
            in_flight: Vec::new(),
            avoid: None,
            allowed_fast: Vec::new(),
            suggested: Vec::new(),
            down: RateMeter::new(window),
            up: RateMeter::new(window),
            snubbed: false,
            connected_at: now,
            unchoked_since: None,
            last_unchoked: None,
            queued: false,
            super_piece: None,
        }
    }

    pub(crate) fn avoid(&mut self, piece: u32) {
        let len = self.pieces.len();
        self.avoid
            .get_or_insert_with(|| PieceSet::new(len))
            .insert(piece);
    }

    pub(crate) fn avoids(&self, piece: u32) -> bool {
        self.avoid.as_ref().is_some_and(|a| a.get(piece))
    }

    pub(crate) fn avoid_set(&self) -> Option<&PieceSet> {
        self.avoid.as_ref()
    }

    pub(crate) fn heap_bytes(&self) -> usize {
        self.pieces.heap_bytes()
            + self.avoid.as_ref().map_or(0, PieceSet::heap_bytes)
            + self.in_flight.capacity() * size_of::<InFlight>()
            + (self.allowed_fast.capacity() + self.suggested.capacity()) * 4
    }
}
