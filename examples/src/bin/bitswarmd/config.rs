//! The daemon's configuration: a TOML file, then command-line overrides.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};

use bitswarm_core::PeerId;
use bitswarm_session::SessionConfig;
use clap::Parser;
use serde::Deserialize;

/// The API address when none is configured: loopback only.
pub(crate) const DEFAULT_API_BIND: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(Ipv4Addr::LOCALHOST), 7246);

/// The largest configuration file read (it is a handful of lines).
const MAX_CONFIG_BYTES: u64 = 1 << 20;

/// Command-line arguments: a config file and overrides of its settings.
#[derive(Debug, Parser)]
#[command(
    version,
    about = "A BitTorrent daemon with an HTTP JSON API (see examples/README.md)"
)]
pub(crate) struct Args {
    /// The TOML configuration file (see examples/bitswarmd.example.toml);
    /// every setting has a default, so it may be left out.
    #[arg(long, short)]
    pub(crate) config: Option<PathBuf>,
    /// Where the HTTP API listens (overrides `api_bind`).
    #[arg(long)]
    pub(crate) api_bind: Option<SocketAddr>,
    /// Addresses to accept peers on (overrides `listen`); repeat for several.
    #[arg(long)]
    pub(crate) listen: Vec<SocketAddr>,
    /// Where downloads go (overrides `download_dir`).
    #[arg(long)]
    pub(crate) download_dir: Option<PathBuf>,
    /// Where torrents and their resume data are kept (overrides `state_dir`).
    #[arg(long)]
    pub(crate) state_dir: Option<PathBuf>,
    /// The most peer connections (overrides `max_connections`).
    #[arg(long)]
    pub(crate) max_connections: Option<usize>,
    /// Download limit in bytes per second, 0 for none (overrides `download_rate_limit`).
    #[arg(long)]
    pub(crate) download_rate_limit: Option<u64>,
    /// Upload limit in bytes per second, 0 for none (overrides `upload_rate_limit`).
    #[arg(long)]
    pub(crate) upload_rate_limit: Option<u64>,
    /// Run no DHT node (overrides `dht.enabled`).
    #[arg(long)]
    pub(crate) no_dht: bool,
}

/// The `[dht]` table.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct DhtSection {
    /// Run a DHT node.
    pub(crate) enabled: bool,
    /// Its UDP address.
    pub(crate) bind: SocketAddr,
    /// Nodes to bootstrap from, `host:port`.
    pub(crate) bootstrap: Vec<String>,
}

impl Default for DhtSection {
    fn default() -> Self {
        Self {
            enabled: true,
            bind: SocketAddr::from(([0, 0, 0, 0], 6881)),
            bootstrap: vec![
                "router.bittorrent.com:6881".to_owned(),
                "dht.transmissionbt.com:6881".to_owned(),
                "router.utorrent.com:6881".to_owned(),
            ],
        }
    }
}

/// The whole configuration file.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct Config {
    /// Where the HTTP API listens.
    pub(crate) api_bind: SocketAddr,
    /// The bearer token the API requires; required when `api_bind` is not loopback.
    pub(crate) api_token: Option<String>,
    /// Addresses to accept peers on.
    pub(crate) listen: Vec<SocketAddr>,
    /// Where downloads go.
    pub(crate) download_dir: PathBuf,
    /// Where resume data is kept.
    pub(crate) state_dir: PathBuf,
    /// The most peer connections, all torrents together.
    pub(crate) max_connections: usize,
    /// The most peer connections of one torrent.
    pub(crate) max_connections_per_torrent: usize,
    /// Bytes per second sent; 0 for no limit.
    pub(crate) upload_rate_limit: u64,
    /// Bytes per second received; 0 for no limit.
    pub(crate) download_rate_limit: u64,
    /// Announce to trackers.
    pub(crate) trackers: bool,
    /// The DHT node.
    pub(crate) dht: DhtSection,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            api_bind: DEFAULT_API_BIND,
            api_token: None,
            listen: vec![SocketAddr::from(([0, 0, 0, 0], 6881))],
            download_dir: PathBuf::from("downloads"),
            state_dir: PathBuf::from("state"),
            max_connections: 200,
            max_connections_per_torrent: 50,
            upload_rate_limit: 0,
            download_rate_limit: 0,
            trackers: true,
            dht: DhtSection::default(),
        }
    }
}

/// Why the configuration cannot be used.
#[derive(Debug)]
pub(crate) enum ConfigError {
    /// The file could not be read.
    Read(PathBuf, std::io::Error),
    /// The file is too large to be a configuration.
    TooLarge(PathBuf),
    /// The file is not valid TOML for this configuration.
    Parse(PathBuf, Box<toml::de::Error>),
    /// A setting is refused.
    Invalid(String),
}

impl std::error::Error for ConfigError {}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Read(p, e) => write!(f, "reading {}: {e}", p.display()),
            Self::TooLarge(p) => write!(
                f,
                "{} is over {MAX_CONFIG_BYTES} bytes: not a configuration file",
                p.display()
            ),
            Self::Parse(p, e) => write!(f, "{}: {e}", p.display()),
            Self::Invalid(what) => f.write_str(what),
        }
    }
}

impl Config {
    /// Reads a configuration file.
    pub(crate) fn load(path: &Path) -> Result<Self, ConfigError> {
        let len = std::fs::metadata(path)
            .map_err(|e| ConfigError::Read(path.to_path_buf(), e))?
            .len();
        if len > MAX_CONFIG_BYTES {
            return Err(ConfigError::TooLarge(path.to_path_buf()));
        }
        let text =
            std::fs::read_to_string(path).map_err(|e| ConfigError::Read(path.to_path_buf(), e))?;
        Self::parse(&text).map_err(|e| ConfigError::Parse(path.to_path_buf(), Box::new(e)))
    }

    /// Parses the text of a configuration file.
    pub(crate) fn parse(text: &str) -> Result<Self, toml::de::Error> {
        toml::from_str(text)
    }

    /// The file's settings with the command line's overrides applied, checked.
    pub(crate) fn with_args(mut self, args: &Args) -> Result<Self, ConfigError> {
        if let Some(bind) = args.api_bind {
            self.api_bind = bind;
        }
        if !args.listen.is_empty() {
            self.listen.clone_from(&args.listen);
        }
        if let Some(dir) = &args.download_dir {
            self.download_dir.clone_from(dir);
        }
        if let Some(dir) = &args.state_dir {
            self.state_dir.clone_from(dir);
        }
        if let Some(n) = args.max_connections {
            self.max_connections = n;
        }
        if let Some(n) = args.download_rate_limit {
            self.download_rate_limit = n;
        }
        if let Some(n) = args.upload_rate_limit {
            self.upload_rate_limit = n;
        }
        if args.no_dht {
            self.dht.enabled = false;
        }
        self.check()?;
        Ok(self)
    }

    /// Refuses settings that would expose the API or make no sense.
    fn check(&self) -> Result<(), ConfigError> {
        if let Some(token) = &self.api_token
            && (token.len() < 16 || token.chars().any(|c| !c.is_ascii_graphic()))
        {
            return Err(ConfigError::Invalid(
                "api_token must be at least 16 printable ASCII characters without spaces".into(),
            ));
        }
        if !self.api_bind.ip().is_loopback() && self.api_token.is_none() {
            return Err(ConfigError::Invalid(format!(
                "api_bind {} is not a loopback address: set api_token so that only holders of it can use the API",
                self.api_bind
            )));
        }
        if self.listen.is_empty() {
            return Err(ConfigError::Invalid(
                "listen needs at least one address".into(),
            ));
        }
        if self.max_connections == 0 || self.max_connections_per_torrent == 0 {
            return Err(ConfigError::Invalid(
                "max_connections and max_connections_per_torrent must be above 0".into(),
            ));
        }
        Ok(())
    }

    /// Where resume data of the session goes, inside the state directory.
    pub(crate) fn resume_dir(&self) -> PathBuf {
        self.state_dir.join("resume")
    }

    /// The session's configuration.
    pub(crate) fn session_config(&self) -> SessionConfig {
        let limit = |n: u64| (n > 0).then_some(n);
        SessionConfig {
            listen: self.listen.clone(),
            download_dir: self.download_dir.clone(),
            resume_dir: Some(self.resume_dir()),
            peer_id: PeerId::random(),
            max_connections: self.max_connections,
            max_connections_per_torrent: self.max_connections_per_torrent,
            upload_rate_limit: limit(self.upload_rate_limit),
            download_rate_limit: limit(self.download_rate_limit),
            dht_bind: self.dht.enabled.then_some(self.dht.bind),
            dht_bootstrap: self.dht.bootstrap.clone(),
            trackers: self.trackers,
            ..SessionConfig::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(extra: &[&str]) -> Args {
        let mut all = vec!["bitswarmd"];
        all.extend_from_slice(extra);
        Args::parse_from(all)
    }

    #[test]
    fn empty_file_is_the_defaults() {
        let c = Config::parse("").unwrap().with_args(&args(&[])).unwrap();
        assert_eq!(c.api_bind, DEFAULT_API_BIND);
        assert!(c.dht.enabled);
    }

    #[test]
    fn the_example_file_parses() {
        let text = include_str!("../../../bitswarmd.example.toml");
        let c = Config::parse(text).unwrap().with_args(&args(&[])).unwrap();
        assert!(c.api_bind.ip().is_loopback());
    }

    #[test]
    fn unknown_keys_are_refused() {
        assert!(Config::parse("api_bnd = \"127.0.0.1:1\"").is_err());
    }

    #[test]
    fn command_line_overrides_the_file() {
        let c = Config::parse("download_rate_limit = 5\n[dht]\nenabled = true")
            .unwrap()
            .with_args(&args(&["--download-rate-limit", "7", "--no-dht"]))
            .unwrap();
        assert_eq!(c.download_rate_limit, 7);
        assert!(!c.dht.enabled);
        assert_eq!(c.session_config().download_rate_limit, Some(7));
        assert_eq!(c.session_config().dht_bind, None);
    }

    #[test]
    fn public_api_needs_a_token() {
        let open = Config::parse("api_bind = \"0.0.0.0:7246\"").unwrap();
        assert!(open.clone().with_args(&args(&[])).is_err());
        let mut guarded = open;
        guarded.api_token = Some("0123456789abcdef0123".into());
        assert!(guarded.with_args(&args(&[])).is_ok());
    }
}
