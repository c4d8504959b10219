//! Resume data: what is saved between runs so that a restart does not
//! re-hash everything, and its bencoded form.
//!
//! ```text
//! d
//!   5:files  l d 6:length i<bytes>e 5:mtime i<ns since the Unix epoch>e e   a file on disk
//!              d e                                                          a file not on disk
//!            e
//!   4:have   <bitfield bytes, BEP 3 order: piece 0 is the high bit of byte 0>
//!   9:info-hash <20 bytes (v1) or 32 bytes (v2)>
//!   6:pieces i<number of pieces>e
//!   7:version i1e
//! e
//! ```
//!
//! `mtime` is left out when the storage keeps no modification time, or when
//! it does not fit a bencode integer (after the year 2262): such a file is
//! rechecked on load. Unknown keys are ignored, so that later versions can
//! add fields; everything else is strict.

use bitswarm_bencode::{DecodeOptions, DictBuilder, Encode, ListBuilder, Value};
use bitswarm_core::{Bitfield, InfoHash, InfoHashV1, InfoHashV2};

use crate::Error;

/// The version written in `version`.
const FORMAT_VERSION: i64 = 1;

/// The longest resume data `from_bencode` reads: 64 MiB (a torrent of
/// 10 million files and pieces fits).
pub const MAX_RESUME_DATA_LEN: usize = 64 << 20;

/// What is saved between runs so that a restart does not re-hash
/// everything (bencoded by `to_bencode`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResumeData {
    /// The info-hash it belongs to.
    pub info_hash: InfoHash,
    /// Verified pieces.
    pub have: Bitfield,
    /// Per file of the layout: (length, modification time in nanoseconds
    /// since the Unix epoch) when saved, `None` for a file not on disk.
    pub files: Vec<Option<(u64, Option<u128>)>>,
}

impl ResumeData {
    /// The canonical bencoding (the format is in the module documentation
    /// and the crate README).
    ///
    /// ```
    /// use bitswarm_core::{Bitfield, InfoHash, InfoHashV1};
    /// use bitswarm_disk::ResumeData;
    ///
    /// let data = ResumeData {
    ///     info_hash: InfoHash::V1(InfoHashV1([7; 20])),
    ///     have: Bitfield::full(10),
    ///     files: vec![Some((1000, Some(1_700_000_000_000_000_000))), None],
    /// };
    /// let bytes = data.to_bencode();
    /// assert_eq!(ResumeData::from_bencode(&bytes)?, data);
    /// # Ok::<(), bitswarm_disk::Error>(())
    /// ```
    pub fn to_bencode(&self) -> Vec<u8> {
        let mut files = ListBuilder::new();
        for file in &self.files {
            let mut entry = DictBuilder::new();
            if let Some((length, mtime)) = file {
                entry.insert("length", *length);
                if let Some(ns) = mtime.and_then(|ns| i64::try_from(ns).ok()) {
                    entry.insert("mtime", ns);
                }
            }
            files.push(entry);
        }
        let mut top = DictBuilder::new();
        top.insert("files", files)
            .insert("have", self.have.as_bytes())
            .insert("info-hash", self.info_hash.as_bytes())
            .insert("pieces", self.have.len())
            .insert("version", FORMAT_VERSION);
        top.to_bencode()
    }

    /// Reads resume data written by [`ResumeData::to_bencode`]. Strict:
    /// anything malformed is `Error::BadResumeData` naming the field; it
    /// never panics and allocates at most in proportion to the input.
    pub fn from_bencode(bytes: &[u8]) -> Result<Self, Error> {
        if bytes.len() > MAX_RESUME_DATA_LEN {
            return Err(bad(format!(
                "{} bytes, more than the limit of {MAX_RESUME_DATA_LEN}",
                bytes.len()
            )));
        }
        let options = DecodeOptions {
            max_depth: 4,
            ..DecodeOptions::default()
        };
        let decoded = options
            .decode(bytes)
            .map_err(|e| bad(format!("bencode: {e}")))?;
        let top = decoded.value;
        if top.as_dict().is_none() {
            return Err(bad("not a dictionary"));
        }
        let version = int_field(&top, "version")?;
        if version != FORMAT_VERSION {
            return Err(bad(format!("unsupported version {version}")));
        }
        let info_hash = top
            .get("info-hash")
            .and_then(Value::as_bytes)
            .ok_or_else(|| bad("info-hash missing or not a string"))?;
        let info_hash = match info_hash.len() {
            20 => InfoHash::V1(InfoHashV1::from_slice(info_hash).ok_or_else(|| bad("info-hash"))?),
            32 => InfoHash::V2(InfoHashV2::from_slice(info_hash).ok_or_else(|| bad("info-hash"))?),
            n => return Err(bad(format!("info-hash of {n} bytes"))),
        };
        let pieces =
            u32::try_from(int_field(&top, "pieces")?).map_err(|_| bad("pieces out of range"))?;
        let have = top
            .get("have")
            .and_then(Value::as_bytes)
            .ok_or_else(|| bad("have missing or not a string"))?;
        let have = Bitfield::from_payload(have, pieces).map_err(|e| bad(format!("have: {e}")))?;
        let list = top
            .get("files")
            .and_then(Value::as_list)
            .ok_or_else(|| bad("files missing or not a list"))?;
        let mut files = Vec::with_capacity(list.len());
        for (i, entry) in list.iter().enumerate() {
            let dict = entry
                .as_dict()
                .ok_or_else(|| bad(format!("files[{i}] is not a dictionary")))?;
            if dict.is_empty() {
                files.push(None);
                continue;
            }
            let length = u64::try_from(int_field(entry, "length").map_err(|e| in_file(i, e))?)
                .map_err(|_| bad(format!("files[{i}].length is negative")))?;
            let mtime = match entry.get("mtime") {
                None => None,
                Some(v) => {
                    let ns = v
                        .as_int()
                        .ok_or_else(|| bad(format!("files[{i}].mtime is not an integer")))?;
                    Some(
                        u128::try_from(ns)
                            .map_err(|_| bad(format!("files[{i}].mtime is negative")))?,
                    )
                }
            };
            files.push(Some((length, mtime)));
        }
        Ok(Self {
            info_hash,
            have,
            files,
        })
    }
}

fn bad(what: impl Into<String>) -> Error {
    Error::BadResumeData(what.into())
}

fn in_file(i: usize, e: Error) -> Error {
    match e {
        Error::BadResumeData(what) => bad(format!("files[{i}]: {what}")),
        other => other,
    }
}

fn int_field(dict: &Value<'_>, key: &str) -> Result<i64, Error> {
    dict.get(key)
        .ok_or_else(|| bad(format!("{key} missing")))?
        .as_int()
        .ok_or_else(|| bad(format!("{key} is not an integer")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use bitswarm_bencode::dict;
    use bitswarm_core::PieceIndex;
    use proptest::prelude::*;

    fn sample() -> ResumeData {
        let mut have = Bitfield::new(13);
        have.set(PieceIndex(0), true).unwrap();
        have.set(PieceIndex(12), true).unwrap();
        ResumeData {
            info_hash: InfoHash::V2(InfoHashV2([3; 32])),
            have,
            files: vec![Some((5, Some(42))), None, Some((0, None))],
        }
    }

    #[test]
    fn round_trip() {
        let data = sample();
        let bytes = data.to_bencode();
        assert_eq!(ResumeData::from_bencode(&bytes).unwrap(), data);
    }

    #[test]
    fn mtime_past_2262_is_dropped() {
        let mut data = sample();
        data.files[0] = Some((5, Some(u128::MAX)));
        let back = ResumeData::from_bencode(&data.to_bencode()).unwrap();
        assert_eq!(back.files[0], Some((5, None)));
    }

    #[test]
    fn rejects_malformed() {
        let good = sample().to_bencode();
        for bytes in [&b""[..], b"le", b"i1e", &good[..good.len() - 1]] {
            assert!(matches!(
                ResumeData::from_bencode(bytes),
                Err(Error::BadResumeData(_))
            ));
        }
        let wrong = [
            dict! { "files" => bitswarm_bencode::list![], "have" => &[0u8][..], "info-hash" => &[1u8; 20][..], "pieces" => 1, "version" => 2 },
            dict! { "files" => bitswarm_bencode::list![], "have" => &[0u8][..], "info-hash" => &[1u8; 21][..], "pieces" => 1, "version" => 1 },
            dict! { "files" => bitswarm_bencode::list![], "have" => &[0u8, 0][..], "info-hash" => &[1u8; 20][..], "pieces" => 1, "version" => 1 },
            dict! { "files" => bitswarm_bencode::list![], "have" => &[0x40u8][..], "info-hash" => &[1u8; 20][..], "pieces" => 1, "version" => 1 },
            dict! { "files" => bitswarm_bencode::list![], "have" => &[0u8][..], "info-hash" => &[1u8; 20][..], "pieces" => -1, "version" => 1 },
            dict! { "files" => bitswarm_bencode::list![dict! { "length" => -1 }], "have" => &[0u8][..], "info-hash" => &[1u8; 20][..], "pieces" => 1, "version" => 1 },
            dict! { "files" => bitswarm_bencode::list![dict! { "length" => 1, "mtime" => -5 }], "have" => &[0u8][..], "info-hash" => &[1u8; 20][..], "pieces" => 1, "version" => 1 },
            dict! { "files" => bitswarm_bencode::list![dict! { "mtime" => 5 }], "have" => &[0u8][..], "info-hash" => &[1u8; 20][..], "pieces" => 1, "version" => 1 },
            dict! { "files" => bitswarm_bencode::list![1], "have" => &[0u8][..], "info-hash" => &[1u8; 20][..], "pieces" => 1, "version" => 1 },
        ];
        for w in wrong {
            let bytes = w.to_bencode();
            assert!(
                matches!(
                    ResumeData::from_bencode(&bytes),
                    Err(Error::BadResumeData(_))
                ),
                "{}",
                String::from_utf8_lossy(&bytes)
            );
        }
    }

    proptest! {
        #[test]
        fn any_input_is_an_answer_never_a_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            if let Ok(data) = ResumeData::from_bencode(&bytes) {
                prop_assert_eq!(ResumeData::from_bencode(&data.to_bencode()).unwrap(), data);
            }
        }

        #[test]
        fn encoded_data_round_trips(
            pieces in 0u32..200,
            seed in any::<u64>(),
            files in proptest::collection::vec(proptest::option::of((any::<u64>(), proptest::option::of(0u128..(i64::MAX as u128)))), 0..20),
            v2 in any::<bool>(),
        ) {
            let mut have = Bitfield::new(pieces);
            for p in 0..pieces {
                have.set(PieceIndex(p), (seed >> (p % 64)) & 1 == 1).unwrap();
            }
            let info_hash = if v2 { InfoHash::V2(InfoHashV2([9; 32])) } else { InfoHash::V1(InfoHashV1([9; 20])) };
            // Lengths above i64::MAX cannot be bencoded by our decoder's rules.
            let files: Vec<_> = files.into_iter().map(|f| f.map(|(l, m)| (l >> 1, m))).collect();
            let data = ResumeData { info_hash, have, files };
            prop_assert_eq!(ResumeData::from_bencode(&data.to_bencode()).unwrap(), data);
        }
    }
}
