use bitswarm_core::{BlockRef, PieceIndex};

use crate::PeerKey;

/// Something the [`crate::Selector`] wants sent to a peer, from
/// [`crate::Selector::poll_action`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Action {
    /// Send `request` for the block (BEP 3).
    Request {
        /// To whom.
        peer: PeerKey,
        /// What.
        block: BlockRef,
    },
    /// Send `cancel` for a block requested earlier: it arrived from another
    /// peer (endgame), timed out, or its piece is no longer needed.
    Cancel {
        /// To whom.
        peer: PeerKey,
        /// What.
        block: BlockRef,
    },
    /// Send `have` for a piece: one that passed its hash check, one
    /// withheld from a lazy bitfield, or one revealed by super-seeding.
    Have {
        /// To whom.
        peer: PeerKey,
        /// Which piece.
        piece: PieceIndex,
    },
    /// Send `interested`.
    Interested {
        /// To whom.
        peer: PeerKey,
    },
    /// Send `not interested`.
    NotInterested {
        /// To whom.
        peer: PeerKey,
    },
    /// Send `choke`; drop the peer's queued requests to us (BEP 3), or
    /// reject them (BEP 6).
    Choke {
        /// To whom.
        peer: PeerKey,
    },
    /// Send `unchoke`.
    Unchoke {
        /// To whom.
        peer: PeerKey,
    },
}

impl Action {
    /// The peer the action is addressed to.
    pub fn peer(&self) -> PeerKey {
        match *self {
            Self::Request { peer, .. }
            | Self::Cancel { peer, .. }
            | Self::Have { peer, .. }
            | Self::Interested { peer }
            | Self::NotInterested { peer }
            | Self::Choke { peer }
            | Self::Unchoke { peer } => peer,
        }
    }
}

/// What [`crate::Selector::block_received`] made of a block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum BlockOutcome {
    /// New data to write; when `piece_complete`, every block of the piece
    /// is in and its hash should be checked.
    Accepted {
        /// The piece has all its blocks.
        piece_complete: bool,
    },
    /// A block we already had (an endgame duplicate that crossed its
    /// cancel): drop it.
    Duplicate,
    /// A block we did not ask this peer for (or whose request timed out
    /// and was cancelled): drop it.
    Unrequested,
}
