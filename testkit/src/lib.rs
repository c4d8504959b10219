//! Starts real third-party BitTorrent programs for bitswarm's interop tests.
//!
//! Each helper runs a program from Debian's packages with a time limit,
//! captures its output to files for failure messages, and stops it when its
//! guard is dropped. Everything listens on loopback only. A missing program
//! is an [`Error::NotInstalled`] that names the package; `scripts/test-all`
//! installs them all.
//!
//! | module | program | package |
//! | --- | --- | --- |
//! | [`libtorrent`] | libtorrent-rasterbar via `/usr/bin/python3` | `python3-libtorrent` |
//! | [`mktorrent`] | `mktorrent` | `mktorrent` |
//! | [`transmission`] | `transmission-create`, `transmission-show` | `transmission-cli` |
//!
//! Test data comes from [`content`], seeded and deterministic.
//!
//! ```no_run
//! use bitswarm_testkit::{content, mktorrent, transmission};
//!
//! let dir = tempfile::tempdir()?;
//! let data = dir.path().join("data.bin");
//! content::write_file(&data, 1 << 20, 42)?;
//! let torrent = dir.path().join("data.torrent");
//! mktorrent::create(&data, &torrent, 16, &[])?;
//! let hash = transmission::info_hash(&torrent)?;
//! assert_eq!(hash.len(), 40);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![forbid(unsafe_code)]

pub mod content;
mod error;
pub mod libtorrent;
pub mod lt_dht;
pub mod lt_session;
pub mod mktorrent;
pub mod netns;
pub mod opentracker;
mod ports;
pub mod process;
pub mod transmission;
pub mod transmission_session;

// The public interface is:
pub use error::Error;
pub use ports::free_port;
