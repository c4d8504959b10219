//! `mktorrent` (Debian package `mktorrent`): v1 torrents, hashed on all cores.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::Error;
use crate::process::{Output, require, run};

/// Makes a v1 torrent of `content` at `out` with pieces of `2^piece_log2`
/// bytes, one announce URL per tracker, and no creation date (`-d`) so the
/// output depends on the content only.
pub fn create(
    content: &Path,
    out: &Path,
    piece_log2: u8,
    trackers: &[&str],
) -> Result<Output, Error> {
    let program = require("mktorrent", "mktorrent")?;
    let mut cmd = Command::new(program);
    cmd.arg("-d")
        .arg("-l")
        .arg(piece_log2.to_string())
        .arg("-o")
        .arg(out);
    for t in trackers {
        cmd.arg("-a").arg(t);
    }
    cmd.arg(content);
    run("mktorrent", cmd, Duration::from_secs(120))
}
