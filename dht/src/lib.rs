//! The Mainline DHT (BEP 5, 32, 42, 43, 44, 51): a sans-IO core and a tokio driver.
//!
//! Work in progress: the KRPC codec and BEP 42 node ids.
//!
//! ```
//! use bitswarm_dht::{Body, Message, NodeId, Query};
//!
//! let ping = Message {
//!     transaction_id: b"aa".to_vec(),
//!     version: None,
//!     ip: None,
//!     read_only: false,
//!     body: Body::Query(Query::Ping { id: NodeId(*b"abcdefghij0123456789") }),
//! };
//! let bytes = ping.to_bytes();
//! assert_eq!(bytes, b"d1:ad2:id20:abcdefghij0123456789e1:q4:ping1:t2:aa1:y1:qe");
//! assert_eq!(Message::decode(&bytes)?, ping);
//! # Ok::<(), bitswarm_dht::DecodeError>(())
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
