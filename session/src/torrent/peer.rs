//! What a torrent task knows about one connected peer.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::AtomicUsize;
use std::time::Instant;

use bitswarm_core::{Bitfield, PeerId, PieceIndex};
use bitswarm_handshake::{Direction, Extensions};
use bitswarm_peer::extension::ExtensionIds;
use bytes::Bytes;

/// `have` messages kept for a peer that arrived before the torrent could
/// use them (metadata or check pending).
pub(crate) const MAX_EARLY_HAVES: usize = 1 << 16;

/// One connected peer.
#[derive(Debug)]
pub(crate) struct PeerState {
    pub(crate) addr: SocketAddr,
    pub(crate) peer_id: PeerId,
    pub(crate) direction: Direction,
    pub(crate) extensions: Extensions,
    pub(crate) connected_at: Instant,
    /// Their extension ids, once their extension handshake arrived.
    pub(crate) their_ids: Option<ExtensionIds>,
    /// Their listen port from the extension handshake (`p`).
    pub(crate) listen_port: Option<u16>,
    /// They announced ut_metadata with the size we are fetching.
    pub(crate) metadata_source: bool,
    /// Registered with the selector.
    pub(crate) in_selector: bool,
    /// Our bitfield (or have none) has been sent; later pieces go as `have`.
    pub(crate) revealed: bool,
    /// What they said before the selector existed.
    pub(crate) early_bitfield: Option<Bytes>,
    pub(crate) early_have_all: bool,
    pub(crate) early_haves: Vec<u32>,
    pub(crate) choking_us: bool,
    pub(crate) interested_in_us: bool,
    /// They said `have all`.
    pub(crate) seed: bool,
    /// Pieces they have, once the piece count is known.
    pub(crate) pieces: Option<Bitfield>,
    /// Block reads queued for them.
    pub(crate) uploads_pending: usize,
    /// Protocol violations seen.
    pub(crate) violations: u32,
    /// The first PEX message went out.
    pub(crate) pex_started: bool,
    /// Messages waiting for room in its full send queue.
    pub(crate) waiting_sends: Arc<AtomicUsize>,
}

impl PeerState {
    pub(crate) fn new(
        addr: SocketAddr,
        peer_id: PeerId,
        direction: Direction,
        extensions: Extensions,
        now: Instant,
    ) -> Self {
        Self {
            addr,
            peer_id,
            direction,
            extensions,
            connected_at: now,
            their_ids: None,
            listen_port: None,
            metadata_source: false,
            in_selector: false,
            revealed: false,
            early_bitfield: None,
            early_have_all: false,
            early_haves: Vec::new(),
            choking_us: true,
            interested_in_us: false,
            seed: false,
            pieces: None,
            uploads_pending: 0,
            violations: 0,
            pex_started: false,
            waiting_sends: Arc::default(),
        }
    }

    /// A `have` of a torrent of `count` pieces (the index is checked).
    pub(crate) fn note_have(&mut self, piece: u32, count: u32) {
        if !self.seed {
            let pieces = self.pieces.get_or_insert_with(|| Bitfield::new(count));
            let _ = pieces.set(PieceIndex(piece), true);
        }
    }

    /// How many of the torrent's `count` pieces they have.
    pub(crate) fn have_count(&self, count: u32) -> u32 {
        if self.seed {
            count
        } else {
            self.pieces
                .as_ref()
                .map_or(0, Bitfield::count_ones)
                .min(count)
        }
    }

    /// Whether both sides set the BEP 6 bit.
    pub(crate) fn fast(&self) -> bool {
        self.extensions.supports(Extensions::FAST)
    }

    /// Where the peer accepts connections, when known: the address we
    /// dialled, or its address with the port of its extension handshake.
    pub(crate) fn listen_addr(&self) -> Option<SocketAddr> {
        match self.direction {
            Direction::Outgoing => Some(self.addr),
            _ => self
                .listen_port
                .filter(|p| *p != 0)
                .map(|p| SocketAddr::new(self.addr.ip(), p)),
        }
    }
}
