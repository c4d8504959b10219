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

/// Makes a v1 torrent like [`create`], hashing with `threads` threads
/// (`-t`), and returns how long `mktorrent` ran: the benchmark's measure.
/// It waits on the process directly (no polling), so the time is exact.
pub fn create_timed(
    content: &Path,
    out: &Path,
    piece_log2: u8,
    threads: usize,
) -> Result<Duration, Error> {
    let program = require("mktorrent", "mktorrent")?;
    let mut cmd = Command::new(program);
    cmd.arg("-d")
        .arg("-t")
        .arg(threads.to_string())
        .arg("-l")
        .arg(piece_log2.to_string())
        .arg("-o")
        .arg(out)
        .arg(content);
    let start = std::time::Instant::now();
    let out = cmd.output().map_err(|e| Error::Spawn {
        program: "mktorrent".into(),
        source: e,
    })?;
    let elapsed = start.elapsed();
    if !out.status.success() {
        return Err(Error::Program {
            program: "mktorrent".into(),
            what: format!("exited with {}", out.status),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        });
    }
    Ok(elapsed)
}
