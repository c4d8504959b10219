//! A `transmission-cli` (Debian package `transmission-cli`) seeding or
//! downloading one torrent, with a time limit, its progress read from its
//! status line.
//!
//! Each run gets a fresh configuration folder with a `settings.json` that
//! turns DHT, LPD, PEX, uTP, port forwarding, RPC, blocklists and
//! encryption off and binds the given address and port. The program runs
//! under `timeout` (killed at the time limit even if the test process is
//! gone) and `stdbuf -o0` (its status line is buffered otherwise); its
//! process group is killed when the [`TransmissionSession`] is dropped.
//!
//! transmission never connects out to 127.0.0.0/8, but accepts incoming
//! loopback connections; it learns peers only from trackers; it unchokes on
//! its 10-second rechoke cycle. To make it download from a local peer, run
//! it in a network namespace ([`crate::netns`]) with
//! [`TransmissionSpec::netns`].
//!
//! ```no_run
//! use std::time::Duration;
//! use bitswarm_testkit::transmission_session::{TransmissionSession, TransmissionSpec};
//!
//! let dir = tempfile::tempdir()?;
//! let spec = TransmissionSpec::new(&dir.path().join("a.torrent"), dir.path());
//! let mut seeder = TransmissionSession::start(&spec)?;
//! seeder.wait_until(Duration::from_secs(30), |s| s.is_seeding())?;
//! println!("seeding on 127.0.0.1:{}", seeder.port());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::net::{IpAddr, Ipv4Addr};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::json;

use crate::process::{Spawned, require};
use crate::{Error, free_port};

/// What transmission's status line says.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum TransmissionStatus {
    /// Checking local data: the percentage checked.
    Verifying(f64),
    /// Downloading: the percentage complete and the peers it gets data from.
    Downloading {
        /// Percent complete, 0.0 ..= 100.0.
        percent: f64,
        /// Peers sending data.
        peers: u32,
    },
    /// Complete and seeding: the peers it uploads to.
    Seeding {
        /// Peers receiving data.
        peers: u32,
    },
}

impl TransmissionStatus {
    /// Whether it has every piece and seeds.
    pub fn is_seeding(&self) -> bool {
        matches!(self, Self::Seeding { .. })
    }

    /// Parses one status line (`Progress: 45.3%, dl from 1 of 1 peers ...`,
    /// `Seeding, uploading to 1 of 1 peer(s) ...`, `Verifying local files
    /// (12.0%, 100.0% valid)`).
    pub fn parse(line: &str) -> Option<Self> {
        let line = line.trim();
        if let Some(rest) = line.strip_prefix("Progress: ") {
            let (percent, rest) = rest.split_once('%')?;
            let peers = rest
                .split_once("dl from ")
                .and_then(|(_, r)| r.split_whitespace().next())
                .and_then(|n| n.parse().ok())
                .unwrap_or(0);
            return Some(Self::Downloading {
                percent: percent.trim().parse().ok()?,
                peers,
            });
        }
        if let Some(rest) = line.strip_prefix("Seeding, uploading to ") {
            let peers = rest.split_whitespace().next()?.parse().ok()?;
            return Some(Self::Seeding { peers });
        }
        if let Some(rest) = line.strip_prefix("Verifying local files (") {
            let (percent, _) = rest.split_once('%')?;
            return Some(Self::Verifying(percent.trim().parse().ok()?));
        }
        None
    }
}

/// How to run transmission.
#[derive(Debug, Clone)]
pub struct TransmissionSpec {
    /// The .torrent file.
    pub torrent: PathBuf,
    /// The folder that holds (or will hold) the torrent's content.
    pub download_dir: PathBuf,
    /// The address to listen on and connect from.
    pub bind: IpAddr,
    /// The peer port; `None` picks a free one on 127.0.0.1.
    pub port: Option<u16>,
    /// Run inside this network namespace (`ip netns exec`).
    pub netns: Option<String>,
    /// Killed after this long, whatever happens.
    pub time_limit: Duration,
}

impl TransmissionSpec {
    /// `torrent` with its content in `download_dir`, on 127.0.0.1, a free
    /// port, no namespace, killed after 120 s.
    pub fn new(torrent: &Path, download_dir: &Path) -> Self {
        Self {
            torrent: torrent.to_path_buf(),
            download_dir: download_dir.to_path_buf(),
            bind: IpAddr::V4(Ipv4Addr::LOCALHOST),
            port: None,
            netns: None,
            time_limit: Duration::from_secs(120),
        }
    }
}

/// A running `transmission-cli`, killed (with its process group) when dropped.
#[derive(Debug)]
pub struct TransmissionSession {
    process: Spawned,
    port: u16,
    _config: tempfile::TempDir,
}

impl TransmissionSession {
    /// Writes the settings and starts transmission; returns at once (check
    /// progress with [`wait_until`](Self::wait_until)).
    pub fn start(spec: &TransmissionSpec) -> Result<Self, Error> {
        let cli = require("transmission-cli", "transmission-cli")?;
        let timeout = require("timeout", "coreutils")?;
        let stdbuf = require("stdbuf", "coreutils")?;
        let port = match spec.port {
            Some(p) => p,
            None => free_port()?,
        };
        let config =
            tempfile::tempdir().map_err(|e| Error::io("creating a configuration folder", e))?;
        std::fs::write(
            config.path().join("settings.json"),
            settings(spec, port).to_string(),
        )
        .map_err(|e| Error::io("writing settings.json", e))?;
        std::fs::create_dir_all(&spec.download_dir)
            .map_err(|e| Error::io("creating the download folder", e))?;

        let mut cmd = match &spec.netns {
            Some(ns) => {
                let ip = require("ip", "iproute2")?;
                let mut c = Command::new(ip);
                c.arg("netns").arg("exec").arg(ns).arg(timeout);
                c
            }
            None => Command::new(timeout),
        };
        // `timeout` kills transmission at the limit even when nobody else
        // does; it leads its own process group, which Drop kills.
        cmd.arg("-s")
            .arg("KILL")
            .arg(format!("{}s", spec.time_limit.as_secs().max(1)))
            .arg(stdbuf)
            .arg("-o0")
            .arg(cli)
            .arg("-g")
            .arg(config.path())
            .arg("-w")
            .arg(&spec.download_dir)
            .arg("-p")
            .arg(port.to_string())
            .arg(&spec.torrent)
            .current_dir(config.path())
            .process_group(0);
        let process = Spawned::start("transmission-cli", cmd)?;
        Ok(Self {
            process,
            port,
            _config: config,
        })
    }

    /// Its peer port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The latest status line, when it printed one.
    pub fn status(&self) -> Option<TransmissionStatus> {
        latest_status(&self.process.stdout())
    }

    /// Waits up to `limit` until its latest status satisfies `done`, and
    /// returns that status; fails at once if transmission exits.
    pub fn wait_until(
        &mut self,
        limit: Duration,
        done: impl Fn(&TransmissionStatus) -> bool,
    ) -> Result<TransmissionStatus, Error> {
        let mut found = None;
        self.process.wait_for_output(limit, |out| {
            found = latest_status(out).filter(&done);
            found.is_some()
        })?;
        found.ok_or_else(|| Error::Program {
            program: "transmission-cli".into(),
            what: "lost the status it printed".into(),
            stdout: String::new(),
            stderr: String::new(),
        })
    }

    /// Waits until it seeds: done downloading and every piece verified.
    pub fn wait_seeding(&mut self, limit: Duration) -> Result<(), Error> {
        self.wait_until(limit, TransmissionStatus::is_seeding)
            .map(drop)
    }

    /// The process, for its logs (its messages go to standard error).
    pub fn process(&self) -> &Spawned {
        &self.process
    }

    /// Kills transmission and everything in its process group now.
    pub fn stop(&mut self) {
        if let Some(pid) = self.process.id() {
            // `timeout` leads the group; killing only it would leave
            // transmission running until the limit.
            let _ = Command::new("kill")
                .arg("-s")
                .arg("KILL")
                .arg("--")
                .arg(format!("-{pid}"))
                .status();
        }
        self.process.stop();
    }
}

impl Drop for TransmissionSession {
    fn drop(&mut self) {
        self.stop();
    }
}

/// transmission's settings: only TCP to the peers of its trackers, on
/// `spec.bind` and `port`, nothing that talks to anyone else.
fn settings(spec: &TransmissionSpec, port: u16) -> serde_json::Value {
    let (v4, v6) = match spec.bind {
        IpAddr::V4(a) => (a.to_string(), "::1".to_owned()),
        IpAddr::V6(a) => ("127.0.0.1".to_owned(), a.to_string()),
    };
    json!({
        "bind-address-ipv4": v4,
        "bind-address-ipv6": v6,
        "peer-port": port,
        "peer-port-random-on-start": false,
        "port-forwarding-enabled": false,
        "dht-enabled": false,
        "lpd-enabled": false,
        "pex-enabled": false,
        "utp-enabled": false,
        "rpc-enabled": false,
        "blocklist-enabled": false,
        "encryption": 0,
        "download-dir": spec.download_dir,
        "incomplete-dir-enabled": false,
        "rename-partial-files": false,
        "start-added-torrents": true,
        "ratio-limit-enabled": false,
        "idle-seeding-limit-enabled": false,
        "speed-limit-up-enabled": false,
        "speed-limit-down-enabled": false,
        "alt-speed-enabled": false,
        "download-queue-enabled": false,
        "seed-queue-enabled": false,
        "message-level": 2,
    })
}

/// The last status line in `out` (transmission rewrites one line with `\r`).
fn latest_status(out: &str) -> Option<TransmissionStatus> {
    out.rsplit(['\r', '\n']).find_map(TransmissionStatus::parse)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_lines_parse() {
        assert_eq!(
            TransmissionStatus::parse(
                "Progress: 45.3%, dl from 1 of 2 peers (1.2 MB/s), ul to 0 (0 kB/s) [0.00]"
            ),
            Some(TransmissionStatus::Downloading {
                percent: 45.3,
                peers: 1
            })
        );
        assert_eq!(
            TransmissionStatus::parse("Seeding, uploading to 1 of 1 peer(s), 20 kB/s [1.00]"),
            Some(TransmissionStatus::Seeding { peers: 1 })
        );
        assert_eq!(
            TransmissionStatus::parse("Verifying local files (12.0%, 100.0% valid)"),
            Some(TransmissionStatus::Verifying(12.0))
        );
        assert_eq!(TransmissionStatus::parse("Transmission 3.00 started"), None);
        let out = "Progress: 1.0%, dl from 1 of 1 peers\rSeeding, uploading to 0 of 0 peer(s), 0 kB/s [0.00]   \r";
        assert_eq!(
            latest_status(out),
            Some(TransmissionStatus::Seeding { peers: 0 })
        );
    }
}
