//! BEP 9: a torrent from the info dictionary received from peers.

use bitswarm_bencode::{DecodeOptions, DictBuilder, Encode, ListBuilder, Mode, Raw};
use bitswarm_core::{InfoHash, InfoHashV1, InfoHashV2};
use bytes::Bytes;
use sha1::{Digest, Sha1};
use sha2::Sha256;

use crate::Error;
use crate::error::hash_hex;
use crate::limits::Limits;
use crate::metainfo::Metainfo;

impl Metainfo {
    /// Builds a torrent from info dictionary bytes received over BEP 9 and
    /// checks them against `expected`: the SHA-1 of the bytes for a v1
    /// hash, the SHA-256 for a v2 hash. The bytes are hashed before they are
    /// decoded, so metadata from a lying peer costs one hash.
    ///
    /// The torrent has no trackers (take them from the magnet link with
    /// [`Magnet::to_metainfo`](crate::Magnet::to_metainfo)) and, when v2, no
    /// piece layers until they are fetched.
    ///
    /// ```
    /// use bitswarm_metainfo::Metainfo;
    /// use bitswarm_bencode::{dict, Encode};
    ///
    /// let info = dict! { "name" => "a", "length" => 3, "piece length" => 16384, "pieces" => vec![9u8; 20] }
    ///     .to_bencode();
    /// let expected = Metainfo::from_info_bytes_unchecked(&info)?.info_hash();
    /// let meta = Metainfo::from_info_bytes(&info, expected)?;
    /// assert_eq!(&meta.info_bytes()[..], &info[..]);
    /// // One flipped byte and the metadata is refused.
    /// let mut bad = info.clone();
    /// bad[5] ^= 1;
    /// assert!(Metainfo::from_info_bytes(&bad, expected).is_err());
    /// # Ok::<(), bitswarm_metainfo::Error>(())
    /// ```
    pub fn from_info_bytes(info: &[u8], expected: InfoHash) -> Result<Self, Error> {
        let (v1, v2) = match expected {
            InfoHash::V1(h) => (Some(h), None),
            InfoHash::V2(h) => (None, Some(h)),
        };
        from_info(info, v1, v2, &[], &[], &Limits::default())
    }

    /// Builds a torrent from info dictionary bytes without checking them
    /// against an expected hash (the hashes are still computed from them).
    pub fn from_info_bytes_unchecked(info: &[u8]) -> Result<Self, Error> {
        from_info(info, None, None, &[], &[], &Limits::default())
    }
}

/// Checks `info` against the expected hashes, wraps it in a torrent file
/// with the given trackers and web seeds, and parses that.
pub(crate) fn from_info(
    info: &[u8],
    expected_v1: Option<InfoHashV1>,
    expected_v2: Option<InfoHashV2>,
    trackers: &[String],
    web_seeds: &[String],
    limits: &Limits,
) -> Result<Metainfo, Error> {
    if info.len() > limits.max_input_len {
        return Err(Error::InputTooLarge {
            len: info.len(),
            limit: limits.max_input_len,
        });
    }
    let mismatch = |computed_v1, computed_v2| Error::InfoHashMismatch {
        expected: hash_hex(expected_v1, expected_v2),
        computed: hash_hex(computed_v1, computed_v2),
    };
    let v1 = expected_v1.map(|_| InfoHashV1(Sha1::digest(info).into()));
    let v2 = expected_v2.map(|_| InfoHashV2(Sha256::digest(info).into()));
    if v1 != expected_v1 || v2 != expected_v2 {
        return Err(mismatch(v1, v2));
    }

    // The bytes must be exactly one dictionary: embedded in a torrent file,
    // trailing bytes would otherwise become top-level keys.
    let opts = DecodeOptions {
        mode: Mode::Lenient,
        max_depth: limits.max_depth,
        max_bytes_len: limits.max_input_len,
        max_values: limits.max_values,
    };
    let value = opts.decode(info)?.value;
    if value.as_dict().is_none() {
        return Err(Error::WrongType {
            field: "info".into(),
            offset: 0,
            expected: "dictionary",
            found: value.type_name(),
        });
    }

    let mut torrent = DictBuilder::new();
    torrent.insert("info", Raw(info));
    if let Some(first) = trackers.first() {
        torrent.insert("announce", first.as_str());
        // One tier per tracker: a magnet link says nothing about tiers.
        let tiers: ListBuilder = trackers
            .iter()
            .map(|t| std::iter::once(t.as_str()).collect::<ListBuilder>())
            .collect();
        torrent.insert("announce-list", tiers);
    }
    if !web_seeds.is_empty() {
        let seeds: ListBuilder = web_seeds.iter().map(String::as_str).collect();
        torrent.insert("url-list", seeds);
    }
    let meta = crate::parse::parse(Bytes::from(torrent.to_bencode()), limits, false)?;
    // The hash matched, but the dictionary must also be a torrent of that kind.
    let kind_ok = (expected_v1.is_none() || meta.info_hash_v1.is_some())
        && (expected_v2.is_none() || meta.info_hash_v2.is_some());
    if !kind_ok {
        return Err(mismatch(meta.info_hash_v1, meta.info_hash_v2));
    }
    Ok(meta)
}
