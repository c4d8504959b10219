//! Shared identity types for the bitswarm BitTorrent crates.
//!
//! Every crate of the workspace that names a torrent, a peer, a piece or a
//! block uses these types, so that an application composing several crates
//! (a tracker and a DHT, say) holds one [`InfoHash`], not one per crate.
//! The crate depends on nothing beyond `std` and `bytes`; `serde` and `rand`
//! support are optional features.
//!
//! ```
//! use bitswarm_core::{Bitfield, BlockRef, InfoHash, PeerId, PieceIndex};
//!
//! // A torrent's identity, as it appears in a magnet link.
//! let info_hash: InfoHash = "c12fe1c06bba254a9dc9f519b335aa7c1367a88a".parse()?;
//! assert_eq!(info_hash.wire().as_bytes().len(), 20);
//!
//! // Who we are on the wire (BEP 20 prefix + random bytes).
//! let me = PeerId::from_prefix_and_random(&PeerId::bitswarm_prefix(), [42; 12]);
//! assert_eq!(me.client().unwrap().name, Some("bitswarm"));
//!
//! // What a peer has, from its `bitfield` message, and what to ask for.
//! let theirs = Bitfield::from_payload(&[0b1010_0000], 3)?;
//! let wanted: Vec<BlockRef> = theirs
//!     .iter_ones()
//!     .flat_map(|piece| BlockRef::blocks_of(piece, 32 * 1024))
//!     .collect();
//! assert_eq!(wanted.len(), 4);
//! assert_eq!(wanted[2].piece, PieceIndex(2));
//! # Ok::<(), bitswarm_core::Error>(())
//! ```
#![forbid(unsafe_code)]

mod bitfield;
mod error;
mod info_hash;
mod peer_id;
mod piece;
#[cfg(feature = "serde")]
mod serde_support;
mod text;

// The public interface is:
pub use bitfield::{Bitfield, IterOnes};
pub use error::Error;
pub use info_hash::{InfoHash, InfoHashV1, InfoHashV2};
pub use peer_id::{ClientInfo, IdStyle, PeerId};
pub use piece::{BLOCK_SIZE, BlockRef, PieceIndex};
