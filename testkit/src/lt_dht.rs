//! A set of libtorrent DHT nodes on loopback, run by `py/lt_dht.py` under
//! Debian's `/usr/bin/python3`.
//!
//! Every setting goes into the settings pack given to each session's
//! constructor: DHT on, LSD, UPnP and NAT-PMP off, listening on 127.0.0.1
//! only, no bootstrap routers at all, and libtorrent's loopback-hostile
//! restrictions (`dht_restrict_routing_ips`, `dht_restrict_search_ips`,
//! `dht_prefer_verified_node_ids`) off. Nodes start a fraction of a second
//! apart and each is given a couple of neighbours with `add_dht_node`, as
//! libtorrent never puts its bootstrap routers into its routing table.
//! Commands (get_peers, announce, BEP 44 get and put) go to the script
//! through a file it polls; its replies are JSON lines on standard output.
//!
//! ```no_run
//! use bitswarm_testkit::lt_dht::{LtDht, LtDhtSpec};
//! use std::time::Duration;
//!
//! let mut lt = LtDht::start(&LtDhtSpec::default())?;
//! let id = lt.get_peers(0, "c12fe1c06bba254a9dc9f519b335aa7c1367a88a")?;
//! let reply = lt.wait_for(Duration::from_secs(10), |e| e["event"] == "peers" && e["id"] == id)?;
//! println!("{}", reply["peers"]);
//! # Ok::<(), bitswarm_testkit::Error>(())
//! ```

use std::io::Write;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use serde_json::{Value, json};

use crate::libtorrent::PYTHON;
use crate::process::{Spawned, require};
use crate::{Error, free_port};

/// The script, written to a temporary file at each start.
const LT_DHT: &str = include_str!("../py/lt_dht.py");

/// What set of nodes to start.
#[derive(Debug, Clone)]
pub struct LtDhtSpec {
    /// How many libtorrent nodes.
    pub nodes: usize,
    /// Time between node starts.
    pub stagger: Duration,
    /// Nodes outside the set (ours) that every libtorrent node is told of.
    pub extra_nodes: Vec<SocketAddr>,
    /// How often an added torrent is announced to the DHT.
    pub announce_interval: Duration,
    /// When the script exits by itself.
    pub stop_after: Duration,
}

impl Default for LtDhtSpec {
    fn default() -> Self {
        Self {
            nodes: 10,
            stagger: Duration::from_millis(200),
            extra_nodes: Vec::new(),
            announce_interval: Duration::from_secs(5),
            stop_after: Duration::from_secs(90),
        }
    }
}

/// Running libtorrent DHT nodes, killed when dropped.
#[derive(Debug)]
pub struct LtDht {
    process: Spawned,
    ports: Vec<u16>,
    commands: PathBuf,
    next_id: u64,
    _dir: tempfile::TempDir,
}

impl LtDht {
    /// Starts the nodes and waits until all of them are up.
    pub fn start(spec: &LtDhtSpec) -> Result<Self, Error> {
        let python = require(PYTHON, "python3-libtorrent")?;
        let mut ports = Vec::with_capacity(spec.nodes);
        while ports.len() < spec.nodes {
            let p = free_port()?;
            if !ports.contains(&p) {
                ports.push(p);
            }
        }
        let dir = tempfile::tempdir().map_err(|e| Error::io("creating a temporary folder", e))?;
        let script = dir.path().join("lt_dht.py");
        std::fs::write(&script, LT_DHT).map_err(|e| Error::io("writing the DHT script", e))?;
        let spec_json = json!({
            "ports": ports,
            "stagger": spec.stagger.as_secs_f64(),
            "extra_nodes": spec.extra_nodes.iter().map(ToString::to_string).collect::<Vec<_>>(),
            "announce_interval": spec.announce_interval.as_secs().max(1),
            "stop_after": spec.stop_after.as_secs_f64(),
        });
        let spec_path = dir.path().join("spec.json");
        std::fs::write(&spec_path, spec_json.to_string())
            .map_err(|e| Error::io("writing the DHT spec", e))?;
        let commands = dir.path().join("commands");
        std::fs::write(&commands, b"").map_err(|e| Error::io("creating the command file", e))?;
        let mut cmd = Command::new(python);
        cmd.arg(&script)
            .arg(&spec_path)
            .arg(&commands)
            .current_dir(dir.path());
        let process = Spawned::start("python3-libtorrent DHT", cmd)?;
        let mut lt = Self {
            process,
            ports,
            commands,
            next_id: 0,
            _dir: dir,
        };
        let limit = Duration::from_secs(10) + spec.stagger * spec.nodes as u32;
        lt.wait_for(limit, |e| e["event"] == "ready")?;
        Ok(lt)
    }

    /// The nodes' DHT addresses (UDP on 127.0.0.1; the same port listens for TCP peers).
    pub fn addrs(&self) -> Vec<SocketAddr> {
        self.ports
            .iter()
            .map(|p| SocketAddr::from((Ipv4Addr::LOCALHOST, *p)))
            .collect()
    }

    /// Sends a command to the script; returns its id, echoed in the reply.
    pub fn command(&mut self, mut command: Value) -> Result<u64, Error> {
        self.next_id += 1;
        command["id"] = json!(self.next_id);
        let mut line = command.to_string();
        line.push('\n');
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&self.commands)
            .map_err(|e| Error::io("opening the command file", e))?;
        // One write of a whole line: the script reads complete lines only.
        f.write_all(line.as_bytes())
            .map_err(|e| Error::io("writing a command", e))?;
        Ok(self.next_id)
    }

    /// Node `node` looks up peers of `info_hash` (40 hex digits); the reply
    /// is a `peers` event.
    pub fn get_peers(&mut self, node: usize, info_hash: &str) -> Result<u64, Error> {
        self.command(json!({"cmd": "get_peers", "node": node, "info_hash": info_hash}))
    }

    /// Node `node` announces itself (its listening port) as a peer of
    /// `info_hash`, and again every announce interval.
    pub fn announce(&mut self, node: usize, info_hash: &str) -> Result<u64, Error> {
        self.command(json!({"cmd": "announce", "node": node, "info_hash": info_hash}))
    }

    /// Node `node` gets the BEP 44 immutable item `target`; the reply is an
    /// `immutable` event whose `value` is the bencoded value in hex, or null.
    pub fn get_immutable(&mut self, node: usize, target: &str) -> Result<u64, Error> {
        self.command(json!({"cmd": "get_immutable", "node": node, "target": target}))
    }

    /// Node `node` puts the bencoded `value` as a BEP 44 immutable item; the
    /// reply is a `put` event with `num_success`.
    pub fn put_immutable(&mut self, node: usize, value: &[u8]) -> Result<u64, Error> {
        self.command(json!({"cmd": "put_immutable", "node": node, "value": hex(value)}))
    }

    /// Node `node` gets the BEP 44 mutable item of `key` and `salt`; the
    /// reply is a `mutable` event with `seq` and `value` (bencoded, in hex).
    pub fn get_mutable(&mut self, node: usize, key: &[u8; 32], salt: &[u8]) -> Result<u64, Error> {
        self.command(
            json!({"cmd": "get_mutable", "node": node, "key": hex(key), "salt": hex(salt)}),
        )
    }

    /// Node `node` puts `data` (stored as a bencoded byte string) as a BEP 44
    /// mutable item signed with `private_key`, the 64-byte expanded ed25519
    /// key libtorrent takes; the reply is a `put_mutable` event.
    pub fn put_mutable(
        &mut self,
        node: usize,
        private_key: &[u8; 64],
        public_key: &[u8; 32],
        data: &[u8],
        salt: &[u8],
    ) -> Result<u64, Error> {
        self.command(json!({
            "cmd": "put_mutable",
            "node": node,
            "private_key": hex(private_key),
            "public_key": hex(public_key),
            "data": hex(data),
            "salt": hex(salt),
        }))
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

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
