//! A BitTorrent engine composed from the bitswarm crates (work in progress:
//! `api.rs` holds the public contract).
#![forbid(unsafe_code)]

mod api;
mod error;
pub(crate) mod metadata;
pub mod tracker;

pub use api::{
    AddTorrent, FileStatus, PeerStatus, Session, SessionConfig, SessionEvent, SessionEvents,
    SessionStats, TorrentId, TorrentSource, TorrentState, TorrentStatus,
};
pub use error::Error;
