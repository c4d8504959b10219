//! A UDP tracker client and server (BEP 15, with BEP 41 URL data).
//!
//! The protocol is a sans-IO core: [`Client`] and [`Server`] take datagrams
//! and time as input and return datagrams to send, with no sockets, clock
//! or tasks inside, so they are tested deterministically in virtual time.
//! With the default `tokio` feature, [`TrackerClient`] and [`TrackerServer`]
//! drive them over UDP sockets.
//!
//! ```text
//!  client                                   tracker
//!    │ connect (magic, tid)  ─────────────────► │  id = SipHash(key, addr, window)
//!    │ ◄───────────────────── connect (tid, id) │  (nothing stored)
//!    │ announce (id, tid, hash, left, …, BEP 41 URL data) ► Handler::announce
//!    │ ◄──────────── announce (interval, seeders, leechers, peers of the family)
//!    │ scrape (id, tid, ≤ 74 hashes) ─────────► Handler::scrape
//!    │ ◄──────────────────────── scrape (seeders, completed, leechers) × n
//! ```
//!
//! The core used directly, a client and a server exchanging datagrams:
//!
//! ```
//! use std::sync::Arc;
//! use std::time::Instant;
//! use bitswarm_core::{InfoHashV1, PeerId};
//! use bitswarm_utracker::{
//!     AnnounceParams, Client, ClientConfig, MemoryStore, Reply, Server, ServerConfig,
//!     StoreConfig, UrlData,
//! };
//!
//! let now = Instant::now();
//! let store = Arc::new(MemoryStore::new(StoreConfig::default(), now));
//! let mut server = Server::new(&ServerConfig::default(), store, now);
//! let mut client = Client::new(ClientConfig::default());
//! let tracker = "127.0.0.1:6969".parse()?;
//! let me = "127.0.0.1:51413".parse()?;
//!
//! let params = AnnounceParams::new(InfoHashV1([7; 20]), PeerId([1; 20]), 51413, 0);
//! let id = client.announce(now, tracker, UrlData::default(), params)?;
//! let (mut datagram, mut reply) = (Vec::new(), Vec::new());
//! let event = loop {
//!     if let Some(event) = client.poll_event() {
//!         break event;
//!     }
//!     let transmit = client.poll_transmit(&mut datagram).expect("a request to send");
//!     if server.handle_datagram(now, me, &datagram, &mut reply).has_reply() {
//!         client.handle_datagram(now, transmit.destination, &reply);
//!     }
//! };
//! assert_eq!(event.id, id);
//! let Reply::Announce(announced) = event.result? else { unreachable!() };
//! assert_eq!(announced.seeders, 1);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Over sockets (see the `tracker-server` and `tracker-announce` examples):
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use bitswarm_core::{InfoHashV1, PeerId};
//! use bitswarm_utracker::{AnnounceParams, TrackerClient, TrackerClientConfig};
//!
//! let client = TrackerClient::bind(TrackerClientConfig::default()).await?;
//! let params = AnnounceParams::new(InfoHashV1([7; 20]), PeerId([1; 20]), 51413, 0);
//! let reply = client.announce("udp://127.0.0.1:6969/announce", params).await?;
//! println!("{} seeders, {} peers", reply.seeders, reply.peers.len());
//! # Ok(()) }
//! ```
#![forbid(unsafe_code)]

mod client;
#[cfg(feature = "tokio")]
mod driver;
mod error;
mod server;
mod store;
mod tracker_url;
mod wire;

// The public interface is:
pub use client::{
    AnnounceParams, AnnounceReply, Client, ClientConfig, ClientEvent, Reply, RequestId, Transmit,
};
#[cfg(feature = "tokio")]
pub use driver::{
    ServerStats, TrackerClient, TrackerClientConfig, TrackerServer, TrackerServerConfig, WorkerMode,
};
pub use error::{DecodeError, Error, PacketKind};
pub use server::{Announce, Handled, Handler, Refusal, Scrape, Server, ServerConfig, StoreStats};
pub use store::{AccessList, MemoryStore, StoreConfig};
pub use tracker_url::TrackerUrl;
pub use wire::{
    AddressFamily, AnnounceEvent, AnnounceRequest, AnnounceResponse, ConnectRequest,
    ConnectResponse, ConnectionId, ErrorResponse, MAX_DATAGRAM, MAX_SCRAPE_HASHES, MAX_URL_DATA,
    PROTOCOL_ID, Request, Response, ScrapeRequest, ScrapeResponse, ScrapeStats, TransactionId,
    UrlData,
};
