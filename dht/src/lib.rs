//! The Mainline DHT (BEP 5, 32, 42, 43, 44, 51): a sans-IO core and a tokio driver.
//!
//! The core, [`Node`], is a state machine with no sockets, no clock and no
//! tasks: it takes datagrams and the time, and returns datagrams to send, the
//! next instant it wants to be woken at, and events. The tokio driver,
//! [`Dht`] (feature `tokio`, on by default), runs a node on UDP sockets
//! behind a cloneable handle. [`Sim`] runs thousands of nodes in one process
//! on virtual time, with latency and packet loss.
//!
//! ```text
//!   datagrams ──handle_datagram(now, from, bytes)──►┌──────────┐──poll_transmit()──► datagrams
//!   the clock ──handle_timeout(now)────────────────►│   Node   │──poll_timeout()───► next wake-up
//!   commands ──get_peers(now, hash) -> QueryId─────►└──────────┘──poll_event()─────► peers, items, done
//! ```
//!
//! What it does:
//!
//! - KRPC ([`Message`]): every query of BEP 5, 44 and 51, responses, errors
//!   201–204, `ro` (BEP 43), `ip` (BEP 42), `nodes6` and `want` (BEP 32);
//!   bounded, typed decoding ([`DecodeError`]).
//! - A k-bucket [`RoutingTable`] per address family, with BEP 5's
//!   good/questionable/bad rules, a replacement cache and bucket refresh.
//! - BEP 42: our id follows the external address a majority of repliers
//!   report; nodes whose ids do not match their public address stay out of
//!   the table (local addresses are exempt, as the BEP says).
//! - Iterative lookups (alpha = 3, k = 8, timeouts and a retry):
//!   `find_node`, `get_peers`, announce, BEP 44 `get`/`put`, BEP 51 samples.
//! - Serving: peer and item stores with bounds and expiry, rotating tokens,
//!   rate limits per source, read-only mode.
//!
//! Two nodes, wired by hand:
//!
//! ```
//! use std::time::Instant;
//! use bitswarm_dht::{Config, Event, Node, NodeId};
//!
//! let now = Instant::now();
//! let a_addr = "127.0.0.1:6881".parse()?;
//! let b_addr = "127.0.0.1:6882".parse()?;
//! let mut a = Node::new(Config { seed: Some(1), ..Config::default() }, now);
//! let mut b = Node::new(Config { seed: Some(2), bootstrap: vec![a_addr], ..Config::default() }, now);
//!
//! // b announces itself as a peer of a torrent; a stores it.
//! b.bootstrap(now);
//! let hash = NodeId([0xab; 20]);
//! let mut announce = None;
//! for _ in 0..10 {
//!     while let Some(t) = b.poll_transmit() {
//!         a.handle_datagram(now, b_addr, &t.payload);
//!     }
//!     while let Some(t) = a.poll_transmit() {
//!         b.handle_datagram(now, a_addr, &t.payload);
//!     }
//!     while let Some(e) = b.poll_event() {
//!         if let Event::Done { .. } = e {
//!             announce.get_or_insert_with(|| b.announce(now, hash, Some(51413)));
//!         }
//!     }
//! }
//! // a now stores b as a peer of the torrent.
//! assert_eq!(a.stats().torrents, 1);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![forbid(unsafe_code)]

mod bep44;
#[cfg(feature = "tokio")]
mod driver;
mod error;
mod id;
mod krpc;
mod node;
mod routing;
mod sim;
mod storage;

// The public interface is:
pub use bep44::{Item, MAX_SALT_LEN, MutableParts, immutable_target, mutable_target, signed_bytes};
#[cfg(feature = "tokio")]
pub use driver::{Dht, DhtConfig, PeerStream};
pub use error::{DecodeError, Error};
pub use id::{Distance, NodeId, bep42_exempt, bep42_id, bep42_random_id, bep42_valid};
pub use krpc::{
    Body, CompactNode, MAX_ITEM_LEN, MAX_MESSAGE_LEN, MAX_NODES, MAX_SAMPLES, MAX_SHORT_BYTES,
    MAX_VALUES, Message, PutItem, Query, Response, Want, compact_addr, parse_compact_addr,
    query_transaction_id,
};
pub use node::{Config, Event, LookupStats, Node, QueryId, Stats, Transmit};
pub use routing::{
    BAD_AFTER_FAILURES, Contact, GOOD_FOR, InsertOutcome, NodeEntry, NodeState, REFRESH_AFTER,
    RoutingTable,
};
pub use sim::{Sim, SimConfig, SimCounters};
