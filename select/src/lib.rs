//! Piece revelation, selection, request queueing and choking for
//! BitTorrent, as pure state machines.
//!
//! A swarm member keeps deciding: which piece to ask which peer for, how
//! many requests to keep in flight with each, when a request has failed,
//! when to ask for the last blocks twice, what to tell peers about its own
//! pieces, and whom to upload to. [`Selector`] takes all these decisions
//! for one torrent. It is sans-IO: it reads no clock (every input carries
//! `now`), opens no socket, spawns nothing, and draws randomness only from
//! the RNG it is given, so a seeded run replays exactly.
//!
//! ```text
//!   peer wire events ──► Selector::peer_* / block_received ──┐
//!   hash results     ──► Selector::piece_verified           ─┤  state
//!   timer            ──► Selector::handle_timeout(now)      ─┘
//!                                                              │
//!   Request / Cancel / Have / (Not)Interested / (Un)Choke ◄── Selector::poll_action(now)
//!   next timer deadline                                    ◄── Selector::poll_timeout()
//! ```
//!
//! What it decides, and where the rule comes from:
//!
//! - **Availability** of each piece from `bitfield`, `have` (BEP 3),
//!   `have all`/`have none` (BEP 6) and disconnects, O(1) per piece event;
//!   seeds are one counter, so a `have all` is O(1).
//! - **Selection** through a [`PieceStrategy`]: [`RarestFirst`] (random
//!   tie-break, random first pieces), [`RandomPieces`], [`Sequential`]
//!   (streaming window). Whatever the strategy, priorities (0 = skip … 7)
//!   come first, started pieces are finished first, suggested and
//!   allowed-fast pieces (BEP 6) are honoured, and endgame duplicates the
//!   last blocks and cancels them when one arrives.
//! - **Request queueing**: a pipeline per peer of `rate × target latency ÷
//!   16 KiB` requests, timeouts that give the block to other peers and snub
//!   the peer, rejects (BEP 6), cancels.
//! - **Revelation**: `have` broadcast, lazy bitfield, super-seeding (BEP 16).
//! - **Choking** through a [`Choker`]: [`TitForTat`] while leeching,
//!   [`SeedChoker`] while seeding, optimistic unchoke favouring new peers,
//!   anti-snubbing, configurable slots.
//!
//! ```
//! use std::time::{Duration, Instant};
//! use bitswarm_core::{Bitfield, PieceIndex};
//! use bitswarm_select::{Action, BlockOutcome, PeerKey, PeerOptions, PieceLayout, Revelation, SelectConfig, Selector};
//! use rand::SeedableRng;
//!
//! // A 4-piece torrent of 32 KiB pieces (two blocks each).
//! let layout = PieceLayout::new(4 * 32 * 1024, 32 * 1024)?;
//! let rng = rand::rngs::StdRng::seed_from_u64(7);
//! let mut sel = Selector::new(SelectConfig::default(), layout, rng)?;
//! let t0 = Instant::now(); // the driver's clock; the selector never reads one
//!
//! // A seed connects; we have nothing to show it.
//! let seed = PeerKey(1);
//! assert_eq!(sel.add_peer(t0, seed, PeerOptions::fast(true))?, Revelation::HaveNone);
//! sel.peer_have_all(seed)?;
//! assert_eq!(sel.poll_action(t0), Some(Action::Interested { peer: seed }));
//!
//! // Once it unchokes us, requests flow.
//! sel.peer_unchoked_us(t0, seed)?;
//! let mut requested = Vec::new();
//! while let Some(action) = sel.poll_action(t0) {
//!     if let Action::Request { block, .. } = action {
//!         requested.push(block);
//!     }
//! }
//! assert_eq!(requested.len(), 4); // the minimum pipeline, for a peer with no rate yet
//!
//! // Blocks arrive; a complete piece is hashed by the caller and reported.
//! let t1 = t0 + Duration::from_millis(50);
//! for block in &requested {
//!     if sel.block_received(t1, seed, *block)? == (BlockOutcome::Accepted { piece_complete: true }) {
//!         sel.piece_verified(t1, block.piece, true)?;
//!     }
//! }
//! assert_eq!(sel.stats().completed, 2);
//! # Ok::<(), bitswarm_select::Error>(())
//! ```
#![forbid(unsafe_code)]

mod action;
mod bitset;
mod choke;
mod config;
mod error;
mod peer;
mod pieces;
mod priority;
mod rarity;
mod rate;
mod reveal;
mod selector;
mod strategy;

// The public interface is:
pub use action::{Action, BlockOutcome};
pub use choke::{ChokeCandidate, Choker, SeedChoker, SeedMode, TitForTat};
pub use config::{PeerOptions, PieceLayout, SelectConfig};
pub use error::Error;
pub use peer::PeerKey;
pub use priority::Priority;
pub use rate::RateMeter;
pub use reveal::{RevealMode, Revelation};
pub use selector::{MAX_PIECES, SelectStats, Selector};
pub use strategy::{PickContext, PieceStrategy, RandomPieces, RarestFirst, Sequential};
