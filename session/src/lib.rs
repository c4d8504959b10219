//! A BitTorrent engine composed from the bitswarm crates.
//!
//! A [`Session`] runs any number of torrents: added from a .torrent file, a
//! magnet link (metadata fetched from peers, BEP 9) or resume data. Peers
//! come from trackers (HTTP and UDP, BEP 3/12/15), the DHT (BEP 5), peer
//! exchange (BEP 11) and the user. Pieces are picked, requested, checked and
//! served with `bitswarm-select`, `bitswarm-peer` and `bitswarm-disk`;
//! peers whose data fails a hash check are banned.
//!
//! ```text
//!  HandshakeManager ─ Connection ─┐
//!                                 ├─► dispatcher ─► one task per torrent ─► PeerManager (wire)
//!  DiskManager ───── DiskEvent ───┘   (info-hash)    Selector, candidates,     DiskManager (blocks)
//!                                                    trackers, DHT, PEX        SessionEvents
//!  Session (API) ── Command ─────────────────────────►
//! ```
//!
//! A seeder and a leecher in one process, on loopback:
//!
//! ```
//! use bitswarm_session::{AddTorrent, Session, SessionConfig, SessionEvent};
//! use bitswarm_metainfo::TorrentBuilder;
//!
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! let dir = tempfile::tempdir()?;
//! let seed_dir = dir.path().join("seed");
//! std::fs::create_dir_all(seed_dir.join("album"))?;
//! std::fs::write(seed_dir.join("album/a.bin"), vec![7u8; 100_000])?;
//! std::fs::write(seed_dir.join("album/b.bin"), vec![9u8; 50_000])?;
//! let torrent = TorrentBuilder::new(seed_dir.join("album")).piece_length(16384).build()?;
//!
//! let config = |name: &str| SessionConfig {
//!     listen: vec!["127.0.0.1:0".parse().unwrap()],
//!     download_dir: dir.path().join(name),
//!     trackers: false,
//!     ..SessionConfig::default()
//! };
//! let seeder = Session::start(config("seed")).await?;
//! seeder.add_torrent(AddTorrent::torrent(torrent.clone())).await?;
//!
//! let leecher = Session::start(config("leech")).await?;
//! let mut events = leecher.events();
//! let mut add = AddTorrent::torrent(torrent);
//! add.peers = seeder.listen_addrs();
//! let id = leecher.add_torrent(add).await?;
//! tokio::time::timeout(std::time::Duration::from_secs(30), async {
//!     while let Some(event) = events.next_event().await {
//!         if event == SessionEvent::Finished(id) {
//!             break;
//!         }
//!     }
//! })
//! .await?;
//! let copy = std::fs::read(dir.path().join("leech/album/b.bin"))?;
//! assert_eq!(copy, vec![9u8; 50_000]);
//! leecher.shutdown().await?;
//! seeder.shutdown().await?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # }).unwrap();
//! ```
#![forbid(unsafe_code)]

mod api;
mod candidates;
mod engine;
mod error;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
pub mod metadata;
mod ratelimit;
mod resume;
mod torrent;
pub mod tracker;

/// Events buffered per [`SessionEvents`] subscriber before it lags.
pub const EVENT_BUFFER: usize = 4096;

// The public interface is:
pub use api::{
    AddTorrent, FileStatus, PeerStatus, Session, SessionConfig, SessionEvent, SessionEvents,
    SessionStats, TorrentId, TorrentSource, TorrentState, TorrentStatus,
};
pub use error::Error;
