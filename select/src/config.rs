use std::time::Duration;

use crate::Error;
use crate::reveal::RevealMode;

/// Tuning of a [`crate::Selector`]. The defaults follow libtorrent and the
/// BEP 3 reference client where they have one.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct SelectConfig {
    /// Peers that may be registered at once; also bounds availability
    /// counts and the rarity index. Default 1,000.
    pub max_peers: usize,
    /// Peers unchoked at once, the optimistic unchoke included. Default 4.
    pub upload_slots: usize,
    /// How often the choker runs. Default 10 s.
    pub rechoke_interval: Duration,
    /// How long an optimistic unchoke lasts before it rotates. Default 30 s.
    pub optimistic_interval: Duration,
    /// How long a request may stay unanswered before its block is given to
    /// other peers and the peer is snubbed. Default 20 s.
    pub request_timeout: Duration,
    /// How much time worth of transfer to keep requested from each peer:
    /// the pipeline is `rate × target_latency ÷ 16 KiB` blocks. Default 3 s.
    pub target_latency: Duration,
    /// Fewest requests in flight with an unsnubbed peer. Default 4.
    pub min_pipeline: usize,
    /// Most requests in flight with one peer. Default 250 (libtorrent's
    /// default `max_out_request_queue` is 500; most clients serve fewer).
    pub max_pipeline: usize,
    /// In endgame, how many extra peers may be asked for one block. Default 2.
    pub endgame_max_duplicates: u8,
    /// The rolling window of the transfer rates. Default 20 s.
    pub rate_window: Duration,
    /// How our pieces are revealed.
    pub reveal: RevealMode,
    /// Whether a `have` goes also to peers that already have the piece.
    /// They need no data, but the message tells them our progress (some
    /// clients use it for their own availability statistics). Default true,
    /// as libtorrent's `send_redundant_have`.
    pub redundant_haves: bool,
    /// Suggested pieces kept per peer (BEP 6); older ones drop out. Default 16.
    pub max_suggested: usize,
    /// Allowed-fast pieces kept per peer (BEP 6). Default 32.
    pub max_allowed_fast: usize,
}

impl Default for SelectConfig {
    fn default() -> Self {
        Self {
            max_peers: 1000,
            upload_slots: 4,
            rechoke_interval: Duration::from_secs(10),
            optimistic_interval: Duration::from_secs(30),
            request_timeout: Duration::from_secs(20),
            target_latency: Duration::from_secs(3),
            min_pipeline: 4,
            max_pipeline: 250,
            endgame_max_duplicates: 2,
            rate_window: Duration::from_secs(20),
            reveal: RevealMode::Full,
            redundant_haves: true,
            max_suggested: 16,
            max_allowed_fast: 32,
        }
    }
}

impl SelectConfig {
    pub(crate) fn validate(&self) -> Result<(), Error> {
        let bad = |what| Err(Error::InvalidConfig { what });
        if self.max_peers == 0 || self.max_peers > 65_534 {
            return bad("max_peers must be in 1..=65534");
        }
        if self.min_pipeline == 0 || self.min_pipeline > self.max_pipeline {
            return bad("min_pipeline must be in 1..=max_pipeline");
        }
        if self.max_pipeline > 4096 {
            return bad("max_pipeline must be at most 4096");
        }
        if self.rechoke_interval.is_zero() || self.request_timeout.is_zero() {
            return bad("rechoke_interval and request_timeout must be positive");
        }
        if self.endgame_max_duplicates > 16 {
            return bad("endgame_max_duplicates must be at most 16");
        }
        Ok(())
    }
}

/// Per-connection facts the selector needs at [`crate::Selector::add_peer`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct PeerOptions {
    /// Both sides set the BEP 6 fast extension bit: `have all`/`have none`,
    /// rejects and allowed-fast pieces apply, and a choke does not drop
    /// our requests.
    pub fast: bool,
}

impl PeerOptions {
    /// Options for a peer that does (`true`) or does not support BEP 6.
    pub fn fast(fast: bool) -> Self {
        Self { fast }
    }
}

/// The shape of a torrent: how many pieces, and how long each is.
///
/// ```
/// use bitswarm_select::PieceLayout;
///
/// let layout = PieceLayout::new(10 * 1024 * 1024 + 5, 1024 * 1024)?;
/// assert_eq!(layout.piece_count(), 11);
/// assert_eq!(layout.last_piece_length(), 5);
/// # Ok::<(), bitswarm_select::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PieceLayout {
    total_length: u64,
    piece_length: u32,
    piece_count: u32,
}

impl PieceLayout {
    /// The layout of `total_length` bytes in pieces of `piece_length`
    /// bytes; the last piece holds the remainder.
    pub fn new(total_length: u64, piece_length: u32) -> Result<Self, Error> {
        if piece_length == 0 {
            return Err(Error::InvalidConfig {
                what: "piece length must be positive",
            });
        }
        let count = total_length.div_ceil(u64::from(piece_length));
        let piece_count = u32::try_from(count).map_err(|_| Error::InvalidConfig {
            what: "more than 2^32 - 1 pieces",
        })?;
        Ok(Self {
            total_length,
            piece_length,
            piece_count,
        })
    }

    /// Total bytes.
    pub fn total_length(&self) -> u64 {
        self.total_length
    }

    /// Bytes per piece (all but the last).
    pub fn piece_length(&self) -> u32 {
        self.piece_length
    }

    /// Number of pieces.
    pub fn piece_count(&self) -> u32 {
        self.piece_count
    }

    /// Bytes in the last piece.
    pub fn last_piece_length(&self) -> u32 {
        if self.piece_count == 0 {
            return 0;
        }
        let rest =
            self.total_length - u64::from(self.piece_count - 1) * u64::from(self.piece_length);
        // At most `piece_length`, so it fits.
        rest as u32
    }
}
