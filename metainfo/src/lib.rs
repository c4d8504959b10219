//! BitTorrent metainfo: `.torrent` files (v1, v2 and hybrid) parsed and
//! validated, the file layout a storage layer needs, magnet links, BEP 9
//! metadata, and torrent creation hashed on all cores.
//!
//! ```text
//!   .torrent bytes ──Metainfo::from_bytes──▶ Metainfo ──layout()──▶ files, piece → file spans,
//!                                             │                      v2 piece layers
//!   magnet:?xt=… ──Magnet::parse──▶ Magnet ───┤ to_metainfo(info bytes from peers, BEP 9)
//!                                             └──magnet()──▶ Magnet ──to_string──▶ magnet:?xt=…
//!   file or folder ──TorrentBuilder::build──▶ Metainfo ──as_bytes()──▶ .torrent bytes
//! ```
//!
//! ```
//! use bitswarm_metainfo::{Magnet, Metainfo, TorrentBuilder, Version};
//!
//! // Create a hybrid torrent of a folder...
//! let dir = tempfile::tempdir()?;
//! std::fs::create_dir(dir.path().join("album"))?;
//! std::fs::write(dir.path().join("album/01.flac"), vec![1u8; 100_000])?;
//! std::fs::write(dir.path().join("album/02.flac"), vec![2u8; 50_000])?;
//! let made = TorrentBuilder::new(dir.path().join("album"))
//!     .version(Version::Hybrid)
//!     .piece_length(32 * 1024)
//!     .tracker("udp://tracker.example:6969/announce")
//!     .build()?;
//!
//! // ...read it back as any .torrent file...
//! let torrent = Metainfo::from_bytes(made.as_bytes())?;
//! assert_eq!(torrent.info_hash_v1(), made.info_hash_v1());
//! assert_eq!(torrent.total_length(), 150_000);
//! // Files in order, with the BEP 47 pad file that aligns the second one.
//! let paths: Vec<String> = torrent.files().iter().map(|f| f.path().to_string()).collect();
//! assert_eq!(paths, ["01.flac", ".pad/31072", "02.flac", ".pad/15536"]);
//! assert_eq!(torrent.files()[2].offset(), 4 * 32 * 1024);
//!
//! // ...and share it as a magnet link.
//! let link = torrent.magnet().to_string();
//! let magnet: Magnet = link.parse()?;
//! assert_eq!(magnet.info_hash_v2, torrent.info_hash_v2());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # What a torrent must satisfy
//!
//! Remote input is hostile. [`Metainfo::from_bytes`] never panics, bounds
//! its memory by the input length and [`Limits`], and rejects with a typed
//! [`Error`] (naming the field and its byte offset) everything that could
//! change which bytes are downloaded or where they are written:
//!
//! - bencode (BEP 3) errors; a key repeated inside `info` (readers could
//!   disagree on which entry counts; elsewhere the first entry wins, as in
//!   libtorrent, and unsorted keys are accepted with a [`Warning`]);
//! - `piece length` zero, negative or over the limit; in a v2 torrent not a
//!   power of two of at least 16 KiB (BEP 52);
//! - `pieces` not a multiple of 20 bytes, or not exactly one hash per piece
//!   of the total length, pad files included (BEP 3);
//! - a length that is negative, over [`Limits::max_total_length`], or that
//!   makes the total overflow; more files or pieces than the limits;
//! - both `length` and `files`; `meta version` other than 2; a v2 `file
//!   tree` entry that is both a file and a folder, or a non-empty file
//!   without a 32-byte `pieces root`;
//! - a v2 file larger than one piece without a `piece layers` entry of
//!   exactly 32 bytes per piece whose merkle root is its `pieces root`;
//! - a hybrid whose v1 files (pads aside) are not the v2 files in the same
//!   order with the same lengths, or whose non-empty files do not start on a
//!   piece boundary of the v1 stream;
//! - paths, see below; a BEP 47 symlink without a target or with data;
//! - `private` other than 0 or 1 (BEP 27).
//!
//! Decorative fields (`announce`, `announce-list`, `url-list`, `nodes`,
//! `creation date`, `comment`, `created by`, `encoding`, `source`,
//! `similar`, `collections`) with a wrong type are skipped with a
//! [`Warning`]; text that is not UTF-8 is decoded lossily. Unknown keys are
//! kept, raw, in [`Metainfo::unknown_fields`] and [`Info::unknown_fields`].
//!
//! # Paths
//!
//! No file of any torrent can map outside the download folder:
//!
//! | field | component empty, `.`, `..`, or with `/`, `\`, NUL | duplicate path, or a file that is another's folder | Windows drive (`C:`) or device name (`CON`, `aux.c`) |
//! | --- | --- | --- | --- |
//! | `info.name` / `name.utf-8` | rejected | — | kept; sanitised on Windows |
//! | `info.files[i].path` / `path.utf-8` | rejected | rejected (pad files aside) | kept; sanitised on Windows |
//! | `info.file tree` keys | rejected | rejected | kept; sanitised on Windows |
//! | `symlink path` (BEP 47) | rejected: the target stays inside the torrent | — | kept; sanitised on Windows |
//!
//! An absolute path is refused by the same rule: its first component
//! would be empty, or contain `/` or `\`. Windows-only names are legal file
//! names elsewhere (the Linux sources have `aux.c`), so they are kept in the
//! torrent's view and sanitised when a path is made for Windows: see
//! [`FilePath::to_path_in`] and [`PathStyle`]. `name.utf-8` and
//! `path.utf-8` are preferred when present; bytes that are not UTF-8 become
//! U+FFFD.
#![forbid(unsafe_code)]

mod build;
mod error;
mod file;
mod layout;
mod limits;
mod magnet;
mod merkle;
mod metadata;
mod metainfo;
mod parse;
mod path;

// The public interface is:
pub use build::{
    AUTO_PIECE_TARGET, CancelToken, MAX_AUTO_PIECE_LENGTH, MIN_PIECE_LENGTH, Symlinks,
    TorrentBuilder, auto_piece_length,
};
pub use error::{Error, PathProblem};
pub use file::{FileAttributes, FileEntry};
pub use layout::{Layout, PieceSpan, PieceSpans, V2Piece};
pub use limits::Limits;
pub use magnet::{MAX_MAGNET_LEN, Magnet};
pub use merkle::{MERKLE_BLOCK_SIZE, merkle_hash};
pub use metainfo::{DhtNode, Info, Metainfo, UnknownField, Version, Warning};
pub use path::{FilePath, PathStyle};
