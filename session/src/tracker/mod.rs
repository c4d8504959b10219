//! Tracker announces: HTTP(S) (BEP 3, BEP 7 IPv6 peers, BEP 23 compact
//! peers, BEP 48 scrape) and UDP (BEP 15, through `bitswarm-utracker`),
//! tried in the tiers of BEP 12 (work in progress: the bodies are to come).

use std::net::SocketAddr;
use std::time::Duration;

use bitswarm_core::{InfoHashV1, PeerId};

/// Why an announce is sent (BEP 3 `event`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AnnounceEvent {
    /// A regular re-announce.
    None,
    /// The first announce of a download.
    Started,
    /// The download finished.
    Completed,
    /// The torrent is stopping.
    Stopped,
}

/// What an announce tells the tracker.
#[derive(Debug, Clone)]
pub struct AnnounceRequest {
    /// The torrent.
    pub info_hash: InfoHashV1,
    /// Our peer id.
    pub peer_id: PeerId,
    /// The port we accept peers on.
    pub port: u16,
    /// Payload bytes sent so far.
    pub uploaded: u64,
    /// Payload bytes received so far.
    pub downloaded: u64,
    /// Bytes still wanted.
    pub left: u64,
    /// Why.
    pub event: AnnounceEvent,
    /// How many peers we would like.
    pub num_want: u32,
}

/// What a tracker answered.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AnnounceResponse {
    /// When to announce again.
    pub interval: Duration,
    /// Not sooner than this, when the tracker says.
    pub min_interval: Option<Duration>,
    /// Peers, IPv4 and IPv6.
    pub peers: Vec<SocketAddr>,
    /// Seeders, when told.
    pub seeders: Option<u32>,
    /// Leechers, when told.
    pub leechers: Option<u32>,
    /// A warning message, when sent.
    pub warning: Option<String>,
}

/// Scrape counts of one torrent.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ScrapeCounts {
    /// Seeders.
    pub complete: u32,
    /// Times downloaded.
    pub downloaded: u32,
    /// Leechers.
    pub incomplete: u32,
}

/// Why an announce failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TrackerError {
    /// The URL is not an http, https or udp tracker URL.
    #[error("unsupported tracker URL {0}")]
    BadUrl(String),
    /// The tracker could not be reached or timed out.
    #[error("tracker {url} unreachable: {reason}")]
    Unreachable {
        /// The tracker.
        url: String,
        /// Why.
        reason: String,
    },
    /// The tracker answered with a failure reason.
    #[error("tracker {url} refused: {reason}")]
    Failure {
        /// The tracker.
        url: String,
        /// Its `failure reason`.
        reason: String,
    },
    /// The answer could not be decoded.
    #[error("tracker {url} sent a bad response: {reason}")]
    BadResponse {
        /// The tracker.
        url: String,
        /// What was wrong.
        reason: String,
    },
    /// Every tracker of every tier failed.
    #[error("no tracker answered")]
    AllFailed,
}

/// Announces to HTTP(S) and UDP trackers; cloneable, shared by all torrents.
#[derive(Debug, Clone)]
pub struct TrackerClient {}

#[allow(unused_variables, clippy::unused_async)]
impl TrackerClient {
    /// A client; `udp_bind` are the local addresses for UDP trackers
    /// (IPv4 and/or IPv6, port 0 for any).
    pub async fn new(udp_bind: &[SocketAddr]) -> Result<Self, TrackerError> {
        unimplemented!()
    }
    /// Announces to one tracker URL (`http://`, `https://` or `udp://`).
    pub async fn announce(
        &self,
        url: &str,
        request: &AnnounceRequest,
    ) -> Result<AnnounceResponse, TrackerError> {
        unimplemented!()
    }
    /// Scrapes one tracker URL for one torrent.
    pub async fn scrape(
        &self,
        url: &str,
        info_hash: InfoHashV1,
    ) -> Result<ScrapeCounts, TrackerError> {
        unimplemented!()
    }
}

/// A torrent's trackers in BEP 12 tiers: each tier shuffled once, tried in
/// order, a tracker that answers moved to the front of its tier.
#[derive(Debug, Clone)]
pub struct TrackerTiers {}

#[allow(unused_variables, clippy::unused_async)]
impl TrackerTiers {
    /// Tiers from a torrent's `announce-list` (or `[[announce]]`), or a
    /// magnet's `tr` list as one tier each.
    pub fn new(tiers: Vec<Vec<String>>) -> Self {
        unimplemented!()
    }
    /// Whether there is no tracker at all.
    pub fn is_empty(&self) -> bool {
        unimplemented!()
    }
    /// Announces per BEP 12: the first tracker that answers wins.
    pub async fn announce(
        &mut self,
        client: &TrackerClient,
        request: &AnnounceRequest,
    ) -> Result<AnnounceResponse, TrackerError> {
        unimplemented!()
    }
}
