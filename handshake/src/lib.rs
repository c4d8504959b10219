//! The BitTorrent handshake (BEP 3) and a manager that runs it on TCP.
//!
//! - [`Handshake`] is the 68-byte greeting: protocol string, the reserved
//!   bytes as named [`Extensions`] bits (BEP 5 DHT, BEP 6 Fast, BEP 10
//!   extension protocol, BEP 52 v2 upgrade), info-hash and peer id. Decoding
//!   handles partial reads and fails early with a typed [`Error`].
//! - [`HandshakeManager`] connects out (bounded concurrency), accepts on
//!   IPv4 and IPv6 listeners, finishes each handshake within a timeout, finds
//!   the torrent of an incoming info-hash among those registered (v1 and v2),
//!   refuses connections to ourselves, applies [`Filter`]s (ban lists,
//!   connection limits), and yields each completed [`Connection`] (transport
//!   and [`HandshakeInfo`]) on a `Stream`. The transport is boxed
//!   `AsyncRead + AsyncWrite` so encryption or uTP can slot in.
//! - The exchange itself is a sans-IO typestate ([`Initiator`],
//!   [`AwaitingReply`]; [`AwaitingPrefix`], [`PrefixReceived`],
//!   [`AwaitingPeerId`]) that takes bytes and never more than it needs; the
//!   manager only moves bytes and keeps the clock.
//! - [`peer_id`] makes our BEP 20 peer id; [`bitswarm_core::PeerId::client`]
//!   names well-known clients.
//!
//! ```
//! use bitswarm_core::{InfoHash, InfoHashV1};
//! use bitswarm_handshake::{HandshakeConfig, HandshakeEvent, HandshakeManager, Handshaker};
//!
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! let torrent = InfoHash::V1(InfoHashV1([0x11; 20]));
//! let (server, mut incoming) = HandshakeManager::start(HandshakeConfig::new(bitswarm_handshake::peer_id()), vec![]);
//! server.register(torrent);
//! let addr = server.listen("127.0.0.1:0".parse().unwrap()).await?;
//!
//! let (client, mut outgoing) = HandshakeManager::start(HandshakeConfig::new(bitswarm_handshake::peer_id()), vec![]);
//! client.connect(addr, torrent).await?;
//! let Some(HandshakeEvent::Connected(conn)) = outgoing.next_event().await else { panic!() };
//! assert_eq!(conn.info.info_hash, torrent);
//! let Some(HandshakeEvent::Connected(conn)) = incoming.next_event().await else { panic!() };
//! assert_eq!(conn.info.remote.peer_id, client.peer_id());
//! # Ok::<(), bitswarm_handshake::Error>(())
//! # }).unwrap();
//! ```
#![forbid(unsafe_code)]

mod error;
mod exchange;
mod extensions;
mod filter;
mod manager;
mod message;
mod state;

/// A fresh peer id with bitswarm's BEP 20 prefix (`-BW0100-` for 0.1.0) and
/// 12 random bytes.
pub fn peer_id() -> bitswarm_core::PeerId {
    bitswarm_core::PeerId::random()
}

// The public interface is:
pub use error::Error;
pub use exchange::initiate;
pub use extensions::Extensions;
pub use filter::{BanList, Direction, Filter, FilterDecision};
pub use manager::{
    BoxedTransport, Connection, ConnectionPermit, Connections, HandshakeConfig, HandshakeEvent,
    HandshakeHandle, HandshakeInfo, HandshakeManager, Handshaker, PeerTransport,
};
pub use message::{
    HANDSHAKE_LEN, Handshake, HandshakeCodec, HandshakePrefix, PREFIX_LEN, PROTOCOL,
};
pub use state::{AwaitingPeerId, AwaitingPrefix, AwaitingReply, Initiator, PrefixReceived, Step};
