//! libtorrent sessions (seeding, leeching, announcing) on loopback, run by
//! `py/lt_session.py` under Debian's `/usr/bin/python3`.
//!
//! Every setting goes into the settings pack given to the session
//! constructor: DHT, LSD, UPnP and NAT-PMP off, listening on 127.0.0.1 only.
//! The script prints one JSON event per line (tracker replies, scrapes, peer
//! connections, progress); [`LtSession::wait_for`] waits for one.
//!
//! ```no_run
//! use bitswarm_testkit::lt_session::{LtSession, SessionSpec, TorrentSpec};
//!
//! let dir = tempfile::tempdir()?;
//! let spec = SessionSpec {
//!     torrents: vec![TorrentSpec {
//!         info_hash: Some("c12fe1c06bba254a9dc9f519b335aa7c1367a88a".into()),
//!         trackers: vec!["udp://127.0.0.1:6969/announce".into()],
//!         ..TorrentSpec::new(dir.path())
//!     }],
//!     ..SessionSpec::default()
//! };
//! let mut session = LtSession::start(&spec)?;
//! let reply = session.wait_for(std::time::Duration::from_secs(5), |e| e["event"] == "tracker_reply")?;
//! println!("{} peers", reply["num_peers"]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::{Map, Value, json};

use crate::libtorrent::PYTHON;
use crate::process::{Spawned, require};
use crate::{Error, free_port};

/// The session script, written to a temporary file at each start.
const LT_SESSION: &str = include_str!("../py/lt_session.py");

/// One torrent of a session.
#[derive(Debug, Clone)]
pub struct TorrentSpec {
    /// A `.torrent` file; or `None` with [`info_hash`](Self::info_hash) set.
    pub torrent: Option<PathBuf>,
    /// A v1 info-hash (40 hex digits) for a torrent without metadata.
    pub info_hash: Option<String>,
    /// The folder of the content.
    pub save_path: PathBuf,
    /// Announce URLs, added to those of the file.
    pub trackers: Vec<String>,
    /// Peers to connect to directly.
    pub peers: Vec<SocketAddr>,
    /// Skip the hash check of content that is complete.
    pub seed_mode: bool,
    /// Never request pieces.
    pub upload_mode: bool,
}

impl TorrentSpec {
    /// A torrent saved in `save_path`, with nothing else set.
    pub fn new(save_path: &Path) -> Self {
        Self {
            torrent: None,
            info_hash: None,
            save_path: save_path.to_path_buf(),
            trackers: Vec::new(),
            peers: Vec::new(),
            seed_mode: false,
            upload_mode: false,
        }
    }

    fn to_json(&self) -> Value {
        json!({
            "torrent": self.torrent,
            "info_hash": self.info_hash,
            "save_path": self.save_path,
            "trackers": self.trackers,
            "peers": self.peers.iter().map(ToString::to_string).collect::<Vec<_>>(),
            "seed_mode": self.seed_mode,
            "upload_mode": self.upload_mode,
        })
    }
}

/// A whole session.
#[derive(Debug, Clone)]
pub struct SessionSpec {
    /// The port on 127.0.0.1; `None` picks a free one.
    pub listen_port: Option<u16>,
    /// One of libtorrent's setting presets (`"high_performance_seed"`,
    /// `"min_memory_usage"`), applied under the loopback defaults and
    /// [`settings`](Self::settings).
    pub preset: Option<String>,
    /// Extra settings-pack entries (they override the loopback defaults).
    pub settings: Map<String, Value>,
    /// The torrents.
    pub torrents: Vec<TorrentSpec>,
    /// Scrape each tracker once after its first announce reply.
    pub scrape_after_announce: bool,
    /// When the session removes its torrents (trackers then get `stopped`)
    /// and exits by itself.
    pub stop_after: Duration,
    /// How often a status line is printed per torrent; zero for never.
    pub status_every: Duration,
}

impl Default for SessionSpec {
    fn default() -> Self {
        Self {
            listen_port: None,
            preset: None,
            settings: Map::new(),
            torrents: Vec::new(),
            scrape_after_announce: false,
            stop_after: Duration::from_secs(30),
            status_every: Duration::ZERO,
        }
    }
}

/// A running libtorrent session, killed when dropped.
#[derive(Debug)]
pub struct LtSession {
    process: Spawned,
    port: u16,
    _dir: tempfile::TempDir,
}

impl LtSession {
    /// Starts the session and waits until it listens.
    pub fn start(spec: &SessionSpec) -> Result<Self, Error> {
        let python = require(PYTHON, "python3-libtorrent")?;
        let port = match spec.listen_port {
            Some(p) => p,
            None => free_port()?,
        };
        let dir = tempfile::tempdir().map_err(|e| Error::io("creating a temporary folder", e))?;
        let script = dir.path().join("lt_session.py");
        std::fs::write(&script, LT_SESSION)
            .map_err(|e| Error::io("writing the session script", e))?;
        let spec_json = json!({
            "listen_port": port,
            "preset": spec.preset,
            "settings": spec.settings,
            "torrents": spec.torrents.iter().map(TorrentSpec::to_json).collect::<Vec<_>>(),
            "scrape_after_announce": spec.scrape_after_announce,
            "stop_after": spec.stop_after.as_secs_f64(),
            "status_every": spec.status_every.as_secs_f64(),
        });
        let spec_path = dir.path().join("spec.json");
        std::fs::write(&spec_path, spec_json.to_string())
            .map_err(|e| Error::io("writing the session spec", e))?;
        let mut cmd = Command::new(python);
        cmd.arg(&script).arg(&spec_path).current_dir(dir.path());
        let process = Spawned::start("python3-libtorrent session", cmd)?;
        let mut session = Self {
            process,
            port,
            _dir: dir,
        };
        session.wait_for(Duration::from_secs(10), |e| e["event"] == "listening")?;
        Ok(session)
    }

    /// The session's listening port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Every event printed so far, in order.
    pub fn events(&self) -> Vec<Value> {
        self.process.json_events()
    }

    /// Waits up to `limit` for an event that `matches`, and returns it.
    pub fn wait_for(
        &mut self,
        limit: Duration,
        matches: impl Fn(&Value) -> bool,
    ) -> Result<Value, Error> {
        self.process.wait_for_json(limit, matches)
    }

    /// The process, for its logs.
    pub fn process(&self) -> &Spawned {
        &self.process
    }
}
