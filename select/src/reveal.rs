//! What we tell peers about our own pieces.

use bitswarm_core::Bitfield;

/// How the pieces we have are revealed to peers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum RevealMode {
    /// A full `bitfield` (or BEP 6 `have all` / `have none`) at connection,
    /// then a `have` for every piece that passes its hash check.
    #[default]
    Full,
    /// A `bitfield` with up to `withheld` of our pieces left out, followed
    /// at once by `have` messages for them. Some ISPs used to throttle
    /// connections whose bitfield looked complete; the lazy bitfield hides
    /// that while revealing the same pieces.
    Lazy {
        /// How many pieces to move from the bitfield into `have` messages.
        withheld: u32,
    },
    /// Super-seeding (BEP 16), used only while we are a seed: each peer is
    /// shown one piece (the rarest, preferring pieces not shown to others)
    /// through a `have`; the next is revealed only when another peer
    /// announces the piece, proof that the first peer passed it on. A peer
    /// that is the only leecher connected gets its next piece once it has
    /// the last one, so that a lone downloader is not stalled forever.
    /// Before we are a seed this behaves like [`RevealMode::Full`].
    SuperSeed,
}

/// What to send a newly connected peer about our pieces, returned by
/// [`crate::Selector::add_peer`]. Any `have` messages that must follow it
/// come out of [`crate::Selector::poll_action`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Revelation {
    /// Send nothing (we have no pieces, and the peer does not support BEP 6;
    /// BEP 3 allows leaving the bitfield out), or super-seeding without BEP 6.
    Nothing,
    /// Send BEP 6 `have none`.
    HaveNone,
    /// Send BEP 6 `have all`.
    HaveAll,
    /// Send this `bitfield`.
    Bitfield(Bitfield),
}
