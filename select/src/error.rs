use bitswarm_core::BlockRef;

use crate::PeerKey;

/// Every way an input to this crate can be refused.
///
/// Inputs that come from a remote peer (bitfields, `have`, blocks, rejects)
/// are checked before they touch any state: a refused input leaves the
/// state machine as it was, so the caller may log the error, disconnect the
/// peer and go on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The peer key is not (or no longer) registered with [`crate::Selector::add_peer`].
    #[error("unknown peer {peer}")]
    UnknownPeer {
        /// The key that was given.
        peer: PeerKey,
    },
    /// [`crate::Selector::add_peer`] was called twice with the same key.
    #[error("peer {peer} is already registered")]
    DuplicatePeer {
        /// The key that was given.
        peer: PeerKey,
    },
    /// The configured peer limit is reached.
    #[error("peer limit of {limit} reached")]
    TooManyPeers {
        /// The configured [`crate::SelectConfig::max_peers`].
        limit: usize,
    },
    /// A piece index at or past the number of pieces.
    #[error("peer {peer:?}: piece {piece} out of range (torrent has {pieces} pieces)")]
    PieceOutOfRange {
        /// The peer that named it, when the index came from the wire.
        peer: Option<PeerKey>,
        /// The index given.
        piece: u32,
        /// The number of pieces of the torrent.
        pieces: u32,
    },
    /// A `bitfield` message that does not fit the torrent (BEP 3: wrong byte
    /// length or a spare bit set).
    #[error("peer {peer}: invalid bitfield: {source}")]
    InvalidBitfield {
        /// The peer that sent it.
        peer: PeerKey,
        /// What was wrong with it.
        source: bitswarm_core::Error,
    },
    /// A block that does not lie inside its piece, or is not one of the
    /// [`bitswarm_core::BLOCK_SIZE`] blocks this crate requests.
    #[error("peer {peer}: block {block:?} does not match the torrent's block layout")]
    BlockOutOfRange {
        /// The peer that named it.
        peer: PeerKey,
        /// The block.
        block: BlockRef,
    },
    /// A priority above [`crate::Priority::MAX`].
    #[error("priority {value} is out of range 0..=7")]
    InvalidPriority {
        /// The value given.
        value: u8,
    },
    /// File lengths that do not add up to the torrent's length, or a
    /// priority list of another length than the file list.
    #[error("file layout does not match the torrent: {what}")]
    FileLayout {
        /// What did not match.
        what: &'static str,
    },
    /// A configuration or torrent shape this crate cannot work with.
    #[error("invalid configuration: {what}")]
    InvalidConfig {
        /// Which setting, and why.
        what: &'static str,
    },
}
