//! libtorrent-rasterbar through Debian's `python3-libtorrent`, run with
//! Debian's own `/usr/bin/python3` (a virtualenv cannot import the binding).

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

/// Runs one `lt_tool.py` command and returns its JSON line's hashes.
fn lt_tool(args: &[&std::ffi::OsStr], limit: Duration) -> Result<InfoHashes, Error> {
    let python = require(PYTHON, "python3")?;
    let dir = tempfile::tempdir().map_err(|e| Error::io("creating a temporary folder", e))?;
    let script = dir.path().join("lt_tool.py");
    std::fs::write(&script, LT_TOOL).map_err(|e| Error::io("writing the driver script", e))?;
    let mut cmd = Command::new(python);
    cmd.arg(&script).args(args);
    let out = run("python3-libtorrent", cmd, limit)?;
    parse_hashes(&out)
}

fn parse_hashes(out: &Output) -> Result<InfoHashes, Error> {
    let line = out.stdout.lines().last().unwrap_or_default();
    let field = |name: &str| -> Option<String> {
        // The line is `{"v1": "..." | null, "v2": "..." | null}`.
        let rest = line.split(&format!("\"{name}\": ")).nth(1)?;
        let rest = rest.strip_prefix('"')?;
        Some(rest.split('"').next()?.to_owned())
    };
    if !line.starts_with('{') {
        return Err(Error::Program {
            program: "python3-libtorrent".into(),
            what: "printed no JSON result".into(),
            stdout: out.stdout.clone(),
            stderr: out.stderr.clone(),
        });
    }
    Ok(InfoHashes {
        v1: field("v1"),
        v2: field("v2"),
    })
}

/// Creates a torrent of `content` at `out` with libtorrent's `create_torrent`:
/// hybrid v1+v2 by default (with BEP 47 pad files for several files), v1 only
/// when `v1_only`. Returns the info-hashes libtorrent reports for it.
pub fn create_torrent(content: &Path, out: &Path, v1_only: bool) -> Result<InfoHashes, Error> {
    let mut args = vec![
        std::ffi::OsStr::new("create"),
        content.as_os_str(),
        out.as_os_str(),
    ];
    if v1_only {
        args.push(std::ffi::OsStr::new("--v1-only"));
    }
    lt_tool(&args, Duration::from_secs(120))
}

/// The info-hashes libtorrent computes for an existing torrent file.
pub fn info_hashes(torrent: &Path) -> Result<InfoHashes, Error> {
    lt_tool(
        &[std::ffi::OsStr::new("info"), torrent.as_os_str()],
        Duration::from_secs(60),
    )
}
