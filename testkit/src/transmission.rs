//! transmission's command-line tools (Debian package `transmission-cli`).

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::Error;
use crate::process::{Output, require, run};

/// Makes a torrent with `transmission-create`. It always writes `private`
/// into the info dictionary and skips empty files (see shared notes on peers).
pub fn create(content: &Path, out: &Path, piece_kib: u32, tracker: &str) -> Result<Output, Error> {
    let program = require("transmission-create", "transmission-cli")?;
    let mut cmd = Command::new(program);
    cmd.arg("-o")
        .arg(out)
        .arg("-s")
        .arg(piece_kib.to_string())
        .arg("-t")
        .arg(tracker)
        .arg(content);
    run("transmission-create", cmd, Duration::from_secs(120))
}

/// The v1 info-hash (lowercase hex) that `transmission-show` reports for a torrent.
pub fn info_hash(torrent: &Path) -> Result<String, Error> {
    let program = require("transmission-show", "transmission-cli")?;
    let mut cmd = Command::new(program);
    cmd.arg(torrent);
    let out = run("transmission-show", cmd, Duration::from_secs(30))?;
    out.stdout
        .lines()
        .find_map(|l| l.trim().strip_prefix("Hash: "))
        .map(|h| h.trim().to_ascii_lowercase())
        .ok_or_else(|| Error::Program {
            program: "transmission-show".into(),
            what: "printed no `Hash:` line".into(),
            stdout: out.stdout.clone(),
            stderr: out.stderr.clone(),
        })
}
