//! Bounds on the work and memory hostile input can cause.

/// Limits applied while parsing a `.torrent` or BEP 9 metadata.
///
/// Decoding allocates a small, bounded amount per bencode value, so the
/// input length bounds memory; the other limits reject torrents that would
/// make later stages (piece tables, file tables, offsets) large or overflow.
///
/// ```
/// use bitswarm_metainfo::{Error, Limits, Metainfo};
/// use bitswarm_bencode::{dict, Encode};
///
/// let tiny = Limits { max_input_len: 10, ..Limits::default() };
/// let torrent = dict! { "info" => dict! { "name" => "x" } }.to_bencode();
/// assert!(matches!(
///     Metainfo::from_bytes_with(&torrent, &tiny),
///     Err(Error::InputTooLarge { .. })
/// ));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// The largest input accepted: 64 MiB by default, far above the largest
    /// real torrents (a 1 TiB torrent with 1 MiB pieces is about 20 MB of
    /// hashes, v1 and v2 together).
    pub max_input_len: usize,
    /// The most entries in `info.files` or `info.file tree`, pad files
    /// included: 524,288 by default.
    pub max_files: usize,
    /// The most pieces: 2,097,152 by default (libtorrent's default too),
    /// that is 40 MiB of v1 hashes.
    pub max_pieces: u64,
    /// The largest piece length: 256 MiB by default.
    pub max_piece_length: u64,
    /// The largest total length, pads included: 2^50 bytes (1 PiB) by
    /// default. Every offset and sum stays far from `u64` overflow.
    pub max_total_length: u64,
    /// The deepest bencode nesting: 100 by default (libtorrent's default).
    /// A v2 `file tree` nests two levels per path component.
    pub max_depth: usize,
    /// The most bencode values in the input: 4,194,304 by default. Half a
    /// million files, the `max_files` default, take about 2.6 million; each
    /// value costs memory several times its size in the input, so this
    /// bounds what a hostile torrent of tiny entries costs before it is refused.
    pub max_values: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_input_len: 64 << 20,
            max_files: 1 << 19,
            max_pieces: 1 << 21,
            max_piece_length: 256 << 20,
            max_total_length: 1 << 50,
            max_depth: 100,
            max_values: 1 << 22,
        }
    }
}
