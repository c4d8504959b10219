//! `opentracker` (Debian package `opentracker`) on 127.0.0.1, UDP and HTTP on
//! one free port.
//!
//! Debian's build tracks only the info-hashes of its whitelist file (`-w`);
//! over UDP an unlisted info-hash gets a bare 8-byte reply. [`Opentracker::start`]
//! writes the whitelist, starts the tracker in a temporary folder (it chroots
//! there when run as root), and waits until it answers a BEP 15 connect.

use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::process::{Spawned, require};
use crate::{Error, free_port};

/// How long opentracker may take to answer its first connect.
const READY_WITHIN: Duration = Duration::from_secs(10);

/// A running opentracker, stopped when dropped.
#[derive(Debug)]
pub struct Opentracker {
    process: Spawned,
    port: u16,
    dir: tempfile::TempDir,
}

impl Opentracker {
    /// Starts opentracker on 127.0.0.1 tracking exactly `whitelist`: info-hashes
    /// as 40 hex digits.
    pub fn start<S: AsRef<str>>(whitelist: &[S]) -> Result<Self, Error> {
        let program = require("opentracker", "opentracker")?;
        let dir = tempfile::tempdir().map_err(|e| Error::io("creating a temporary folder", e))?;
        let list = dir.path().join("whitelist");
        write_whitelist(&list, whitelist)?;
        // Run as root, opentracker drops to user `nobody`, who must still be
        // able to read the list (a reload reads it again).
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755))
                .map_err(|e| Error::io("opening the whitelist folder to opentracker", e))?;
        }
        let port = free_port()?;
        let mut cmd = Command::new(program);
        cmd.current_dir(dir.path())
            .arg("-i")
            .arg("127.0.0.1")
            .arg("-p")
            .arg(port.to_string())
            .arg("-P")
            .arg(port.to_string())
            .arg("-d")
            .arg(dir.path())
            // Relative to the folder, so the path holds before and after
            // opentracker chroots into it.
            .arg("-w")
            .arg("whitelist");
        let process = Spawned::start("opentracker", cmd)?;
        wait_until_ready(&process, port)?;
        Ok(Self { process, port, dir })
    }

    /// The UDP (and HTTP) address.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from((Ipv4Addr::LOCALHOST, self.port))
    }

    /// The UDP announce URL.
    pub fn udp_url(&self) -> String {
        format!("udp://127.0.0.1:{}/announce", self.port)
    }

    /// The whitelist file.
    pub fn whitelist_path(&self) -> PathBuf {
        self.dir.path().join("whitelist")
    }

    /// The process, for its logs.
    pub fn process(&self) -> &Spawned {
        &self.process
    }
}

fn write_whitelist<S: AsRef<str>>(path: &Path, hashes: &[S]) -> Result<(), Error> {
    let mut text = String::new();
    for h in hashes {
        let h = h.as_ref();
        if h.len() != 40 || !h.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(Error::io(
                "writing the whitelist: an info-hash is not 40 hex digits",
                std::io::Error::from(std::io::ErrorKind::InvalidInput),
            ));
        }
        text.push_str(&h.to_ascii_lowercase());
        text.push('\n');
    }
    std::fs::write(path, text).map_err(|e| Error::io("writing the whitelist", e))
}

/// Sends BEP 15 connect requests until one is answered.
fn wait_until_ready(process: &Spawned, port: u16) -> Result<(), Error> {
    let socket = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0))
        .map_err(|e| Error::io("binding a probe socket", e))?;
    socket
        .set_read_timeout(Some(Duration::from_millis(100)))
        .map_err(|e| Error::io("setting a probe timeout", e))?;
    let mut connect = Vec::with_capacity(16);
    connect.extend_from_slice(&0x0417_2710_1980u64.to_be_bytes());
    connect.extend_from_slice(&0u32.to_be_bytes());
    connect.extend_from_slice(&0x5eed_u32.to_be_bytes());
    let deadline = Instant::now() + READY_WITHIN;
    let mut buf = [0; 64];
    while Instant::now() < deadline {
        // Ignore send errors: before the port is bound, ICMP errors come back.
        let _ = socket.send_to(&connect, (Ipv4Addr::LOCALHOST, port));
        if let Ok((n, _)) = socket.recv_from(&mut buf)
            && n >= 16
            && buf[..8] == [0, 0, 0, 0, 0, 0, 0x5e, 0xed]
        {
            return Ok(());
        }
    }
    Err(Error::Program {
        program: "opentracker".into(),
        what: format!("did not answer a UDP connect on port {port} within {READY_WITHIN:?}"),
        stdout: process.stdout(),
        stderr: process.stderr(),
    })
}
