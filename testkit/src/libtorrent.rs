//! libtorrent-rasterbar through Debian's `python3-libtorrent`, run with
//! Debian's own `/usr/bin/python3` (a virtualenv cannot import the binding).
//!
//! Creating and reading torrents is offline. [`recheck`] starts a session
//! that listens on 127.0.0.1 only, with DHT, LSD, UPnP and NAT-PMP off from
//! its constructor on, and adds no peer.

use std::ffi::OsStr;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::Error;
use crate::process::{Output, require, run};

/// The driver script, written to a temporary file at each call.
const LT_TOOL: &str = include_str!("../py/lt_tool.py");

/// The interpreter that can import the binding.
pub const PYTHON: &str = "/usr/bin/python3";

/// The info-hashes libtorrent reports for a torrent, as lowercase hex.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InfoHashes {
    /// SHA-1 of the info dictionary, when the torrent is v1 or hybrid.
    pub v1: Option<String>,
    /// SHA-256 of the info dictionary, when the torrent is v2 or hybrid.
    pub v2: Option<String>,
}

/// Runs one `lt_tool.py` command and returns its last line of output (JSON).
fn lt_tool(args: &[&OsStr], limit: Duration) -> Result<Output, Error> {
    let python = require(PYTHON, "python3")?;
    let dir = tempfile::tempdir().map_err(|e| Error::io("creating a temporary folder", e))?;
    let script = dir.path().join("lt_tool.py");
    std::fs::write(&script, LT_TOOL).map_err(|e| Error::io("writing the driver script", e))?;
    let mut cmd = Command::new(python);
    cmd.arg(&script).args(args);
    let out = run("python3-libtorrent", cmd, limit)?;
    if !out
        .stdout
        .lines()
        .last()
        .unwrap_or_default()
        .starts_with('{')
    {
        return Err(bad_output(&out, "printed no JSON result"));
    }
    Ok(out)
}

fn bad_output(out: &Output, what: &str) -> Error {
    Error::Program {
        program: "python3-libtorrent".into(),
        what: what.into(),
        stdout: out.stdout.clone(),
        stderr: out.stderr.clone(),
    }
}

/// The raw JSON token of a top-level field of the result line: `"abc"` or
/// `12` or `null` (the line is flat: no nested objects).
fn json_field<'a>(out: &'a Output, name: &str) -> Option<&'a str> {
    let line = out.stdout.lines().last()?;
    let rest = line.split(&format!("\"{name}\": ")).nth(1)?;
    if let Some(quoted) = rest.strip_prefix('"') {
        return quoted.split('"').next();
    }
    rest.split([',', '}']).next().map(str::trim)
}

fn number<T: std::str::FromStr>(out: &Output, name: &str) -> Result<T, Error> {
    json_field(out, name)
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| bad_output(out, &format!("printed no number `{name}`")))
}

fn parse_hashes(out: &Output) -> InfoHashes {
    let field = |name| {
        json_field(out, name)
            .filter(|v| *v != "null")
            .map(str::to_owned)
    };
    InfoHashes {
        v1: field("v1"),
        v2: field("v2"),
    }
}

/// Creates a torrent of `content` at `out` with libtorrent's `create_torrent`:
/// hybrid v1+v2 by default (with BEP 47 pad files for several files), v1 only
/// when `v1_only`. Returns the info-hashes libtorrent reports for it.
pub fn create_torrent(content: &Path, out: &Path, v1_only: bool) -> Result<InfoHashes, Error> {
    let mut args = vec![OsStr::new("create"), content.as_os_str(), out.as_os_str()];
    if v1_only {
        args.push(OsStr::new("--v1-only"));
    }
    lt_tool(&args, Duration::from_secs(120)).map(|out| parse_hashes(&out))
}

/// The info-hashes libtorrent computes for an existing torrent file.
pub fn info_hashes(torrent: &Path) -> Result<InfoHashes, Error> {
    lt_tool(
        &[OsStr::new("info"), torrent.as_os_str()],
        Duration::from_secs(60),
    )
    .map(|out| parse_hashes(&out))
}

/// How [`create_torrent_with`] makes a torrent.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CreateOptions {
    /// v1 only (`create_torrent.v1_only`); hybrid otherwise.
    pub v1_only: bool,
    /// The piece size in bytes; libtorrent chooses when `None`.
    pub piece_size: Option<u64>,
}

/// What [`create_torrent_with`] reports.
#[derive(Debug, Clone, PartialEq)]
pub struct Created {
    /// The info-hashes of the new torrent.
    pub hashes: InfoHashes,
    /// How long `set_piece_hashes` took, measured inside the interpreter
    /// (its start-up and the import are not counted).
    pub hashing_time: Duration,
}

/// Creates a torrent of `content` at `out` with libtorrent's
/// `create_torrent`, with a given piece size, and times the hashing.
pub fn create_torrent_with(
    content: &Path,
    out: &Path,
    options: &CreateOptions,
) -> Result<Created, Error> {
    let piece_size = options.piece_size.unwrap_or(0).to_string();
    let mut args = vec![
        OsStr::new("create"),
        content.as_os_str(),
        out.as_os_str(),
        OsStr::new("--piece-size"),
        OsStr::new(&piece_size),
    ];
    if options.v1_only {
        args.push(OsStr::new("--v1-only"));
    }
    let result = lt_tool(&args, Duration::from_secs(300))?;
    let seconds: f64 = number(&result, "seconds")?;
    Ok(Created {
        hashes: parse_hashes(&result),
        hashing_time: Duration::from_secs_f64(seconds),
    })
}

/// What libtorrent found when it checked content against a torrent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recheck {
    /// The torrent's info-hashes as libtorrent computes them.
    pub hashes: InfoHashes,
    /// The number of pieces in the torrent.
    pub pieces: u32,
    /// The number of pieces whose data libtorrent found valid.
    pub valid: u32,
}

/// Loads `torrent` in a libtorrent session over the content in `save_path`
/// (the folder that holds the torrent's file or folder) and lets it check
/// every piece. Fails if libtorrent reports an error or the check does not
/// end within a minute.
pub fn recheck(torrent: &Path, save_path: &Path) -> Result<Recheck, Error> {
    let out = lt_tool(
        &[
            OsStr::new("recheck"),
            torrent.as_os_str(),
            save_path.as_os_str(),
            OsStr::new("--timeout"),
            OsStr::new("60"),
        ],
        Duration::from_secs(90),
    )?;
    if json_field(&out, "checked") != Some("true") {
        return Err(bad_output(&out, "did not finish checking the torrent"));
    }
    if !out.stdout.contains("\"errors\": []") {
        return Err(bad_output(&out, "reported errors while checking"));
    }
    Ok(Recheck {
        hashes: parse_hashes(&out),
        pieces: number(&out, "pieces")?,
        valid: number(&out, "valid")?,
    })
}
