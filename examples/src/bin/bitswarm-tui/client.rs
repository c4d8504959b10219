//! A small client of bitswarmd's HTTP JSON API (`/v1`).

use std::path::Path;
use std::time::Duration;

use reqwest::{Method, RequestBuilder, Response, StatusCode};
use serde::Deserialize;
use serde::de::DeserializeOwned;

/// The largest .torrent file sent (the daemon's own body limit).
const MAX_TORRENT_FILE: u64 = 16 << 20;

/// One torrent, as `GET /v1/torrents` gives it.
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub(crate) struct Torrent {
    /// 40 hex digits.
    pub(crate) info_hash: String,
    /// Null until metadata.
    pub(crate) name: Option<String>,
    /// `fetching_metadata`, `checking`, `downloading`, `seeding`, `paused` or `error`.
    pub(crate) state: String,
    /// 0..=1.
    pub(crate) progress: f64,
    /// Bytes received.
    pub(crate) downloaded: u64,
    /// Bytes sent.
    pub(crate) uploaded: u64,
    /// Content length, when known.
    pub(crate) total_length: Option<u64>,
    /// Bytes per second received.
    pub(crate) download_rate: u64,
    /// Bytes per second sent.
    pub(crate) upload_rate: u64,
    /// Connected peers.
    pub(crate) peers: u64,
    /// Seconds left.
    pub(crate) eta_seconds: Option<u64>,
    /// What stopped it.
    pub(crate) error: Option<String>,
    /// Its folder.
    #[serde(default)]
    pub(crate) save_path: String,
    /// Verified pieces.
    #[serde(default)]
    pub(crate) pieces_done: u32,
    /// Pieces.
    #[serde(default)]
    pub(crate) pieces_total: u32,
}

impl Torrent {
    /// Its name, or its info-hash while the name is unknown.
    pub(crate) fn display_name(&self) -> &str {
        self.name.as_deref().unwrap_or(&self.info_hash)
    }
}

/// One file of a torrent.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub(crate) struct File {
    /// Its path inside the torrent.
    pub(crate) path: String,
    /// Its length.
    pub(crate) length: u64,
    /// Verified bytes of it.
    pub(crate) downloaded: u64,
    /// 0 skips it; 1..=7.
    pub(crate) priority: u8,
}

/// One connected peer.
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub(crate) struct Peer {
    /// `ip:port`.
    pub(crate) addr: String,
    /// Its client, when known.
    pub(crate) client: Option<String>,
    /// Bytes per second from it.
    pub(crate) download_rate: u64,
    /// Bytes per second to it.
    pub(crate) upload_rate: u64,
    /// Its share of the pieces.
    pub(crate) progress: f64,
}

/// Session totals.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub(crate) struct Stats {
    /// Connected peers.
    pub(crate) peers: u64,
    /// Bytes per second received.
    pub(crate) download_rate: u64,
    /// Bytes per second sent.
    pub(crate) upload_rate: u64,
    /// DHT routing table size.
    pub(crate) dht_nodes: u64,
}

/// An error answer's body.
#[derive(Debug, Deserialize)]
struct ErrorBody {
    error: String,
}

/// A client of one daemon.
#[derive(Debug, Clone)]
pub(crate) struct Client {
    http: reqwest::Client,
    base: String,
    token: Option<String>,
}

impl Client {
    /// A client of the daemon at `base` (`http://host:port`).
    pub(crate) fn new(base: &str, token: Option<String>) -> Result<Self, String> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .connect_timeout(Duration::from_secs(2))
            .no_proxy()
            .build()
            .map_err(|e| format!("setting up HTTP: {e}"))?;
        Ok(Self {
            http,
            base: base.trim_end_matches('/').to_owned(),
            token,
        })
    }

    /// The daemon's address, as given.
    pub(crate) fn base(&self) -> &str {
        &self.base
    }

    fn request(&self, method: Method, path: &str) -> RequestBuilder {
        let r = self.http.request(method, format!("{}{path}", self.base));
        match &self.token {
            Some(t) => r.bearer_auth(t),
            None => r,
        }
    }

    async fn send(r: RequestBuilder) -> Result<Response, String> {
        let response = r.send().await.map_err(describe)?;
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        let message = match response.json::<ErrorBody>().await {
            Ok(b) => b.error,
            Err(_) => status
                .canonical_reason()
                .unwrap_or("unexpected answer")
                .to_owned(),
        };
        Err(format!("{}: {message}", status.as_u16()))
    }

    async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, String> {
        Self::send(self.request(Method::GET, path))
            .await?
            .json()
            .await
            .map_err(|e| format!("reading {path}: {e}"))
    }

    /// Every torrent.
    pub(crate) async fn torrents(&self) -> Result<Vec<Torrent>, String> {
        self.get("/v1/torrents").await
    }

    /// Session totals.
    pub(crate) async fn stats(&self) -> Result<Stats, String> {
        self.get("/v1/stats").await
    }

    /// A torrent's files.
    pub(crate) async fn files(&self, hash: &str) -> Result<Vec<File>, String> {
        self.get(&format!("/v1/torrents/{hash}/files")).await
    }

    /// A torrent's peers.
    pub(crate) async fn peers(&self, hash: &str) -> Result<Vec<Peer>, String> {
        self.get(&format!("/v1/torrents/{hash}/peers")).await
    }

    /// Adds a magnet link, or the .torrent file at a path.
    pub(crate) async fn add(&self, what: &str) -> Result<Torrent, String> {
        let what = what.trim();
        let request = if what.starts_with("magnet:") {
            self.request(Method::POST, "/v1/torrents")
                .header(reqwest::header::CONTENT_TYPE, "text/plain")
                .body(what.to_owned())
        } else {
            let path = expand_home(what);
            let bytes = read_torrent_file(Path::new(&path))?;
            self.request(Method::POST, "/v1/torrents")
                .header(reqwest::header::CONTENT_TYPE, "application/x-bittorrent")
                .body(bytes)
        };
        Self::send(request)
            .await?
            .json()
            .await
            .map_err(|e| format!("reading the answer: {e}"))
    }

    /// Pauses or resumes.
    pub(crate) async fn set_paused(&self, hash: &str, paused: bool) -> Result<(), String> {
        let action = if paused { "pause" } else { "resume" };
        Self::send(self.request(Method::POST, &format!("/v1/torrents/{hash}/{action}")))
            .await
            .map(drop)
    }

    /// Hashes the files again.
    pub(crate) async fn recheck(&self, hash: &str) -> Result<(), String> {
        Self::send(self.request(Method::POST, &format!("/v1/torrents/{hash}/recheck")))
            .await
            .map(drop)
    }

    /// Removes a torrent, and its files when asked.
    pub(crate) async fn remove(&self, hash: &str, delete_files: bool) -> Result<(), String> {
        let r = self.request(
            Method::DELETE,
            &format!("/v1/torrents/{hash}?delete_files={delete_files}"),
        );
        let response = Self::send(r).await?;
        if response.status() == StatusCode::NO_CONTENT {
            Ok(())
        } else {
            Err(format!("unexpected answer {}", response.status()))
        }
    }
}

/// A short reason for a failed request, saying when nothing listens.
fn describe(e: reqwest::Error) -> String {
    if e.is_connect() {
        "connection refused: is bitswarmd running?".to_owned()
    } else if e.is_timeout() {
        "no answer in time".to_owned()
    } else {
        e.to_string()
    }
}

/// `~/x` as `$HOME/x`.
fn expand_home(path: &str) -> String {
    match (path.strip_prefix("~/"), std::env::var("HOME")) {
        (Some(rest), Ok(home)) => format!("{home}/{rest}"),
        _ => path.to_owned(),
    }
}

/// The bytes of a .torrent file, refusing what cannot be one.
fn read_torrent_file(path: &Path) -> Result<Vec<u8>, String> {
    let meta = std::fs::metadata(path).map_err(|e| format!("{}: {e}", path.display()))?;
    if !meta.is_file() {
        return Err(format!(
            "{} is not a file (give a magnet: link or a .torrent path)",
            path.display()
        ));
    }
    if meta.len() > MAX_TORRENT_FILE {
        return Err(format!(
            "{} is over 16 MiB: not a .torrent file",
            path.display()
        ));
    }
    std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))
}
