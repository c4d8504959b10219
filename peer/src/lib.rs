//! The BitTorrent peer wire protocol: every message, a bounded zero-copy
//! codec, and a `PeerManager` that runs many connections.
//!
//! - [`Message`]: BEP 3 (keep-alive, choke, unchoke, interested, not
//!   interested, have, bitfield, request, piece, cancel, port), BEP 6
//!   (suggest, have all, have none, reject, allowed fast; and
//!   [`allowed_fast_set`]), BEP 10 extended messages, BEP 52 hash request,
//!   hashes and hash reject.
//! - [`extension`]: the BEP 10 extension handshake and the extended
//!   messages ut_metadata (BEP 9), ut_pex (BEP 11), lt_donthave (BEP 54) and
//!   upload_only (BEP 21).
//! - [`PeerCodec`]: a `tokio_util` codec with a hard bound on message length;
//!   `piece` data comes out as a `Bytes` slice of the read buffer, and
//!   [`WriteBatch`] writes block data vectored, without copying it.
//! - [`PeerManager`]: owns connections; a cloneable [`PeerManagerHandle`]
//!   (add, send, disconnect, stats) and a stream of [`PeerEvent`]s;
//!   keep-alives when idle, a peer silent for two minutes is dropped,
//!   bounded send queues, byte counters and rates per peer.
//!
//! ```
//! use bitswarm_core::{BlockRef, PieceIndex};
//! use bitswarm_peer::{Message, PeerCodec};
//! use bytes::BytesMut;
//! use tokio_util::codec::Decoder;
//!
//! let request = Message::Request(BlockRef { piece: PieceIndex(2), offset: 16384, length: 16384 });
//! let mut wire = BytesMut::new();
//! request.encode(&mut wire);
//! Message::HaveAll.encode(&mut wire);
//!
//! let mut codec = PeerCodec::for_torrent(100);
//! assert_eq!(codec.decode(&mut wire)?, Some(request));
//! assert_eq!(codec.decode(&mut wire)?, Some(Message::HaveAll));
//! assert_eq!(codec.decode(&mut wire)?, None);
//! # Ok::<(), bitswarm_peer::Error>(())
//! ```
#![forbid(unsafe_code)]

mod codec;
mod error;
pub mod extension;
mod fast;
mod liveness;
mod manager;
mod message;
mod rate;

#[cfg(test)]
mod tests;

// The public interface is:
pub use codec::{MAX_FIXED_MESSAGE, PeerCodec, WriteBatch};
pub use error::Error;
pub use fast::allowed_fast_set;
pub use manager::{
    DisconnectReason, PeerEvent, PeerEvents, PeerInfo, PeerKey, PeerManager, PeerManagerConfig,
    PeerManagerHandle, PeerStats,
};
pub use message::{Block, HashRequest, Hashes, Message, id};
pub use rate::RateMeter;
