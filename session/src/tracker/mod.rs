//! Tracker announces: HTTP(S) (BEP 3, BEP 7 IPv6 peers, BEP 23 compact
//! peers, BEP 48 scrape) and UDP (BEP 15, through `bitswarm-utracker`),
//! tried in the tiers of BEP 12.
//!
//! ```text
//!  TrackerTiers ── tier 1: [a, b] ── tier 2: [c] ...     (BEP 12)
//!        │ first tracker that answers wins, moves to the front of its tier
//!        ▼
//!  TrackerClient ── http(s):// ─► reqwest GET, bencoded reply (BEP 3/7/23/48)
//!                └─ udp://     ─► bitswarm-utracker client (BEP 15)
//! ```

mod http;
mod udp;

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use bitswarm_core::{InfoHashV1, PeerId};
use rand::seq::SliceRandom;

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
    /// The tracker has no scrape URL: the last component of its announce
    /// URL's path does not begin with `announce` (BEP 48).
    #[error("tracker {0} has no scrape convention")]
    ScrapeUnsupported(String),
    /// Every tracker of every tier failed.
    #[error("no tracker answered")]
    AllFailed,
}

/// The placeholder URL that errors of [`decode_http_announce`] and
/// [`decode_http_scrape`] name, since they see only a reply's body.
pub const UNKNOWN_TRACKER_URL: &str = "(HTTP reply)";

/// Decodes the body of an HTTP tracker's announce reply (BEP 3 dictionary
/// peers, BEP 23 compact peers, BEP 7 `peers6`), for a program that sends
/// its announces itself. A `failure reason` becomes
/// [`TrackerError::Failure`]; anything malformed, [`TrackerError::BadResponse`].
/// Peers with port 0 or a host name instead of an address are skipped; a
/// missing `interval` becomes 30 minutes. Errors name
/// [`UNKNOWN_TRACKER_URL`] as the tracker.
///
/// ```
/// use std::time::Duration;
/// use bitswarm_session::tracker::{TrackerError, decode_http_announce};
///
/// // interval 900 s and one compact peer, 10.0.0.1:6881.
/// let reply = b"d8:intervali900e5:peers6:\x0a\x00\x00\x01\x1a\xe1e";
/// let announce = decode_http_announce(reply)?;
/// assert_eq!(announce.interval, Duration::from_secs(900));
/// assert_eq!(announce.peers, ["10.0.0.1:6881".parse()?]);
///
/// let refused = decode_http_announce(b"d14:failure reason7:unknowne");
/// assert!(matches!(refused, Err(TrackerError::Failure { reason, .. }) if reason == "unknown"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn decode_http_announce(body: &[u8]) -> Result<AnnounceResponse, TrackerError> {
    http::parse_announce(UNKNOWN_TRACKER_URL, body)
}

/// Decodes the body of an HTTP tracker's scrape reply (BEP 48) for the
/// torrent `info_hash`. A reply that does not list the torrent gives zero
/// counts. Errors are those of [`decode_http_announce`].
///
/// ```
/// use bitswarm_core::InfoHashV1;
/// use bitswarm_session::tracker::{ScrapeCounts, decode_http_scrape};
///
/// let hash = InfoHashV1([0x61; 20]);
/// let reply = b"d5:filesd20:aaaaaaaaaaaaaaaaaaaad8:completei3e10:downloadedi10e10:incompletei4eeee";
/// let counts = decode_http_scrape(reply, hash)?;
/// assert_eq!(counts, ScrapeCounts { complete: 3, downloaded: 10, incomplete: 4 });
/// assert_eq!(decode_http_scrape(reply, InfoHashV1([0; 20]))?, ScrapeCounts::default());
/// # Ok::<(), bitswarm_session::tracker::TrackerError>(())
/// ```
pub fn decode_http_scrape(
    body: &[u8],
    info_hash: InfoHashV1,
) -> Result<ScrapeCounts, TrackerError> {
    http::parse_scrape(UNKNOWN_TRACKER_URL, body, info_hash)
}

/// Timeouts and limits of a [`TrackerClient`].
#[derive(Debug, Clone)]
pub struct TrackerClientConfig {
    /// Connecting to an HTTP tracker.
    pub http_connect_timeout: Duration,
    /// A whole HTTP request, from connecting to the last byte of the reply.
    pub http_timeout: Duration,
    /// The largest HTTP reply read; a longer one is a
    /// [`TrackerError::BadResponse`].
    pub max_response_len: usize,
    /// The most redirects followed (to http or https URLs only).
    pub max_redirects: usize,
    /// The first UDP retransmission timeout, doubled after each try (BEP 15
    /// says 15 s; shorter suits a client with several trackers per tier).
    pub udp_timeout: Duration,
    /// How many times a UDP request is sent again before giving up.
    pub udp_retransmissions: u32,
}

impl Default for TrackerClientConfig {
    fn default() -> Self {
        Self {
            http_connect_timeout: Duration::from_secs(10),
            http_timeout: Duration::from_secs(30),
            max_response_len: 2 << 20,
            max_redirects: 5,
            udp_timeout: Duration::from_secs(5),
            udp_retransmissions: 2,
        }
    }
}

/// Announces to HTTP(S) and UDP trackers; cloneable, shared by all torrents.
#[derive(Debug, Clone)]
pub struct TrackerClient {
    http: reqwest::Client,
    udp: bitswarm_utracker::TrackerClient,
    /// The BEP 3 / BEP 15 `key`: random, the same in all our announces.
    key: u32,
    config: Arc<TrackerClientConfig>,
}

impl TrackerClient {
    /// A client; `udp_bind` are the local addresses for UDP trackers
    /// (IPv4 and/or IPv6, port 0 for any). Given none, it binds the
    /// unspecified address of each family that the host has.
    pub async fn new(udp_bind: &[SocketAddr]) -> Result<Self, TrackerError> {
        Self::with_config(udp_bind, TrackerClientConfig::default()).await
    }

    /// A client with other timeouts and limits than the defaults.
    pub async fn with_config(
        udp_bind: &[SocketAddr],
        config: TrackerClientConfig,
    ) -> Result<Self, TrackerError> {
        let max_redirects = config.max_redirects;
        let redirects = reqwest::redirect::Policy::custom(move |attempt| {
            if attempt.previous().len() > max_redirects {
                attempt.error("too many redirects")
            } else if matches!(attempt.url().scheme(), "http" | "https") {
                attempt.follow()
            } else {
                attempt.stop()
            }
        });
        let http = reqwest::Client::builder()
            .connect_timeout(config.http_connect_timeout)
            .timeout(config.http_timeout)
            .redirect(redirects)
            .user_agent(concat!("bitswarm/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| TrackerError::Unreachable {
                url: "(HTTP client)".into(),
                reason: udp::error_chain(&e),
            })?;
        let (bind_v4, bind_v6) = if udp_bind.is_empty() {
            (
                Some(SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0))),
                Some(SocketAddr::from((Ipv6Addr::UNSPECIFIED, 0))),
            )
        } else {
            (
                udp_bind.iter().copied().find(SocketAddr::is_ipv4),
                udp_bind.iter().copied().find(SocketAddr::is_ipv6),
            )
        };
        let udp_config = bitswarm_utracker::TrackerClientConfig {
            core: bitswarm_utracker::ClientConfig {
                timeout: config.udp_timeout,
                max_retransmissions: config.udp_retransmissions,
                ..bitswarm_utracker::ClientConfig::default()
            },
            bind_v4,
            bind_v6,
            ..bitswarm_utracker::TrackerClientConfig::default()
        };
        let udp = bitswarm_utracker::TrackerClient::bind(udp_config)
            .await
            .map_err(|e| TrackerError::Unreachable {
                url: format!("(UDP sockets on {udp_bind:?})"),
                reason: e.to_string(),
            })?;
        Ok(Self {
            http,
            udp,
            key: rand::random(),
            config: Arc::new(config),
        })
    }

    /// The local addresses of the UDP sockets.
    pub fn udp_local_addrs(&self) -> &[SocketAddr] {
        self.udp.local_addrs()
    }

    /// Announces to one tracker URL (`http://`, `https://` or `udp://`).
    pub async fn announce(
        &self,
        url: &str,
        request: &AnnounceRequest,
    ) -> Result<AnnounceResponse, TrackerError> {
        let result = match Scheme::of(url)? {
            Scheme::Http => {
                let get = http::announce_url(url, request, self.key)?;
                let body = self.get(url, &get).await?;
                http::parse_announce(url, &body)
            }
            Scheme::Udp => udp::announce(&self.udp, url, request, self.key).await,
        };
        match &result {
            Ok(r) => {
                tracing::debug!(url, peers = r.peers.len(), interval = ?r.interval, "announced");
            }
            Err(e) => tracing::debug!(url, error = %e, "announce failed"),
        }
        result
    }

    /// Scrapes one tracker URL for one torrent.
    pub async fn scrape(
        &self,
        url: &str,
        info_hash: InfoHashV1,
    ) -> Result<ScrapeCounts, TrackerError> {
        match Scheme::of(url)? {
            Scheme::Http => {
                let get = http::scrape_url(url, info_hash)?
                    .ok_or_else(|| TrackerError::ScrapeUnsupported(url.to_owned()))?;
                let body = self.get(url, &get).await?;
                http::parse_scrape(url, &body, info_hash)
            }
            Scheme::Udp => udp::scrape(&self.udp, url, info_hash).await,
        }
    }

    /// GETs `get` and reads at most [`TrackerClientConfig::max_response_len`]
    /// bytes of the reply. A reply with an error status is still read: a
    /// tracker may explain itself with a bencoded `failure reason`.
    async fn get(&self, url: &str, get: &str) -> Result<Vec<u8>, TrackerError> {
        let unreachable = |e: &reqwest::Error| TrackerError::Unreachable {
            url: url.to_owned(),
            reason: if e.is_timeout() {
                "timed out".to_owned()
            } else {
                udp::error_chain(e)
            },
        };
        let too_long = || TrackerError::BadResponse {
            url: url.to_owned(),
            reason: format!(
                "the reply is longer than {} bytes",
                self.config.max_response_len
            ),
        };
        let mut response = self
            .http
            .get(get)
            .send()
            .await
            .map_err(|e| unreachable(&e))?;
        let status = response.status();
        let limit = self.config.max_response_len;
        if response.content_length().is_some_and(|n| n > limit as u64) {
            return Err(too_long());
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| unreachable(&e))? {
            if body.len() + chunk.len() > limit {
                return Err(too_long());
            }
            body.extend_from_slice(&chunk);
        }
        if !status.is_success() {
            // A bencoded failure reason says more than the status.
            if let Err(e @ TrackerError::Failure { .. }) = http::decode_reply(url, &body) {
                return Err(e);
            }
            let reason = format!("HTTP status {status}");
            return Err(if status.is_server_error() {
                TrackerError::Unreachable {
                    url: url.to_owned(),
                    reason,
                }
            } else {
                TrackerError::BadResponse {
                    url: url.to_owned(),
                    reason,
                }
            });
        }
        Ok(body)
    }
}

/// The kinds of tracker URL.
enum Scheme {
    Http,
    Udp,
}

impl Scheme {
    fn of(url: &str) -> Result<Self, TrackerError> {
        let scheme = url
            .split_once("://")
            .map(|(s, _)| s.to_ascii_lowercase())
            .unwrap_or_default();
        match scheme.as_str() {
            "http" | "https" => Ok(Self::Http),
            "udp" => Ok(Self::Udp),
            _ => Err(TrackerError::BadUrl(url.to_owned())),
        }
    }
}

/// A torrent's trackers in BEP 12 tiers: each tier shuffled once, tried in
/// order, a tracker that answers moved to the front of its tier.
#[derive(Debug, Clone)]
pub struct TrackerTiers {
    tiers: Vec<Vec<String>>,
    attempt_timeout: Duration,
}

impl TrackerTiers {
    /// How long one tracker may take to answer before the next is tried,
    /// unless [`with_attempt_timeout`](Self::with_attempt_timeout) says otherwise.
    pub const DEFAULT_ATTEMPT_TIMEOUT: Duration = Duration::from_secs(20);

    /// The most trackers kept over all tiers; the rest are dropped.
    pub const MAX_TRACKERS: usize = 256;

    /// Tiers from a torrent's `announce-list` (or `[[announce]]`), or a
    /// magnet's `tr` list as one tier each. Empty URLs, repeated URLs and
    /// empty tiers are dropped.
    pub fn new(tiers: Vec<Vec<String>>) -> Self {
        let mut seen = std::collections::HashSet::new();
        let mut rng = rand::thread_rng();
        let tiers = tiers
            .into_iter()
            .map(|tier| {
                let mut tier: Vec<String> = tier
                    .into_iter()
                    .map(|u| u.trim().to_owned())
                    .filter(|u| {
                        !u.is_empty() && seen.len() < Self::MAX_TRACKERS && seen.insert(u.clone())
                    })
                    .collect();
                tier.shuffle(&mut rng);
                tier
            })
            .filter(|tier| !tier.is_empty())
            .collect();
        Self {
            tiers,
            attempt_timeout: Self::DEFAULT_ATTEMPT_TIMEOUT,
        }
    }

    /// Bounds the time one tracker may take to answer.
    #[must_use]
    pub fn with_attempt_timeout(mut self, timeout: Duration) -> Self {
        self.attempt_timeout = timeout;
        self
    }

    /// Whether there is no tracker at all.
    pub fn is_empty(&self) -> bool {
        self.tiers.is_empty()
    }

    /// The tiers in the order they are tried.
    pub fn tiers(&self) -> &[Vec<String>] {
        &self.tiers
    }

    /// Announces per BEP 12: the first tracker that answers wins. When all
    /// fail, the last error is returned ([`TrackerError::AllFailed`] when
    /// there is no tracker).
    pub async fn announce(
        &mut self,
        client: &TrackerClient,
        request: &AnnounceRequest,
    ) -> Result<AnnounceResponse, TrackerError> {
        let mut last = TrackerError::AllFailed;
        for tier in &mut self.tiers {
            for i in 0..tier.len() {
                let url = &tier[i];
                let attempt =
                    tokio::time::timeout(self.attempt_timeout, client.announce(url, request));
                match attempt.await {
                    Ok(Ok(response)) => {
                        let answered = tier.remove(i);
                        tier.insert(0, answered);
                        return Ok(response);
                    }
                    Ok(Err(e)) => last = e,
                    Err(_) => {
                        last = TrackerError::Unreachable {
                            url: url.clone(),
                            reason: format!("no answer within {:?}", self.attempt_timeout),
                        };
                    }
                }
            }
        }
        Err(last)
    }
}
