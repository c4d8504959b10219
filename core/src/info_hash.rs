use core::fmt;
use core::str::FromStr;

use crate::Error;
use crate::text::{decode_base32, decode_hex, encode_base32, write_hex};

/// A v1 info-hash: the SHA-1 of the bencoded info dictionary (BEP 3).
///
/// It is also the 20-byte form every wire message, tracker and DHT uses; a v2
/// hash travels there as [`InfoHashV2::truncated`].
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct InfoHashV1(pub [u8; 20]);

/// A v2 info-hash: the SHA-256 of the bencoded info dictionary (BEP 52).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct InfoHashV2(pub [u8; 32]);

/// The identity of a torrent, v1 or v2.
///
/// A hybrid torrent (BEP 52) has one of each; the metainfo crate carries both.
///
/// ```
/// use bitswarm_core::InfoHash;
///
/// let v1: InfoHash = "c12fe1c06bba254a9dc9f519b335aa7c1367a88a".parse()?;
/// assert_eq!(v1.to_string(), "c12fe1c06bba254a9dc9f519b335aa7c1367a88a");
/// // The same hash in the base32 form of older magnet links:
/// let b32: InfoHash = "YEX6DQDLXISUVHOJ6UM3GNNKPQJWPKEK".parse()?;
/// assert_eq!(v1, b32);
/// # Ok::<(), bitswarm_core::Error>(())
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum InfoHash {
    /// SHA-1, 20 bytes.
    V1(InfoHashV1),
    /// SHA-256, 32 bytes.
    V2(InfoHashV2),
}

impl InfoHashV1 {
    /// The raw 20 bytes.
    pub const fn as_bytes(&self) -> &[u8; 20] {
        &self.0
    }

    /// Takes the first 20 bytes of `bytes`; `None` unless it is exactly 20 long.
    pub fn from_slice(bytes: &[u8]) -> Option<Self> {
        bytes.try_into().ok().map(Self)
    }

    /// The 32-character base32 form used by some magnet links.
    pub fn to_base32(&self) -> String {
        encode_base32(&self.0)
    }
}

impl InfoHashV2 {
    /// The raw 32 bytes.
    pub const fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// `None` unless `bytes` is exactly 32 long.
    pub fn from_slice(bytes: &[u8]) -> Option<Self> {
        bytes.try_into().ok().map(Self)
    }

    /// The first 20 bytes, which stand for this hash in the BEP 3 handshake,
    /// in trackers and in the DHT (BEP 52).
    pub fn truncated(&self) -> InfoHashV1 {
        let mut out = [0u8; 20];
        out.copy_from_slice(&self.0[..20]);
        InfoHashV1(out)
    }
}

impl InfoHash {
    /// The 20 bytes that identify the torrent on the wire: the v1 hash itself
    /// or the truncated v2 hash.
    pub fn wire(&self) -> InfoHashV1 {
        match self {
            Self::V1(h) => *h,
            Self::V2(h) => h.truncated(),
        }
    }

    /// The raw bytes: 20 for v1, 32 for v2.
    pub fn as_bytes(&self) -> &[u8] {
        match self {
            Self::V1(h) => &h.0,
            Self::V2(h) => &h.0,
        }
    }

    /// The v1 hash, if this is one.
    pub fn v1(&self) -> Option<InfoHashV1> {
        match self {
            Self::V1(h) => Some(*h),
            Self::V2(_) => None,
        }
    }

    /// The v2 hash, if this is one.
    pub fn v2(&self) -> Option<InfoHashV2> {
        match self {
            Self::V1(_) => None,
            Self::V2(h) => Some(*h),
        }
    }
}

impl From<InfoHashV1> for InfoHash {
    fn from(h: InfoHashV1) -> Self {
        Self::V1(h)
    }
}

impl From<InfoHashV2> for InfoHash {
    fn from(h: InfoHashV2) -> Self {
        Self::V2(h)
    }
}

impl fmt::Display for InfoHashV1 {
    /// Lowercase hex, 40 characters.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_hex(f, &self.0)
    }
}

impl fmt::Display for InfoHashV2 {
    /// Lowercase hex, 64 characters.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_hex(f, &self.0)
    }
}

impl fmt::Display for InfoHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_hex(f, self.as_bytes())
    }
}

impl fmt::Debug for InfoHashV1 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "InfoHashV1({self})")
    }
}

impl fmt::Debug for InfoHashV2 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "InfoHashV2({self})")
    }
}

impl fmt::Debug for InfoHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::V1(h) => fmt::Debug::fmt(h, f),
            Self::V2(h) => fmt::Debug::fmt(h, f),
        }
    }
}

impl FromStr for InfoHashV1 {
    type Err = Error;

    /// 40 hex digits (either case) or 32 base32 characters (either case).
    fn from_str(s: &str) -> Result<Self, Error> {
        const WHAT: &str = "v1 info-hash";
        let mut out = [0u8; 20];
        match s.len() {
            40 => decode_hex(WHAT, s.as_bytes(), &mut out)?,
            32 => decode_base32(WHAT, s.as_bytes(), &mut out)?,
            found => {
                return Err(Error::InvalidLength {
                    what: WHAT,
                    found,
                    expected: "40 hex or 32 base32",
                });
            }
        }
        Ok(Self(out))
    }
}

impl FromStr for InfoHashV2 {
    type Err = Error;

    /// 64 hex digits (either case).
    fn from_str(s: &str) -> Result<Self, Error> {
        const WHAT: &str = "v2 info-hash";
        if s.len() != 64 {
            return Err(Error::InvalidLength {
                what: WHAT,
                found: s.len(),
                expected: "64 hex",
            });
        }
        let mut out = [0u8; 32];
        decode_hex(WHAT, s.as_bytes(), &mut out)?;
        Ok(Self(out))
    }
}

impl FromStr for InfoHash {
    type Err = Error;

    /// A v1 hash (40 hex or 32 base32) or a v2 hash (64 hex).
    fn from_str(s: &str) -> Result<Self, Error> {
        match s.len() {
            64 => s.parse().map(Self::V2),
            40 | 32 => s.parse().map(Self::V1),
            found => Err(Error::InvalidLength {
                what: "info-hash",
                found,
                expected: "40 hex, 32 base32 or 64 hex",
            }),
        }
    }
}

#[cfg(feature = "serde")]
mod serde_impls {
    use super::*;
    use crate::serde_support::ByteBuf;
    use serde::de::Error as _;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    /// Hex in human-readable formats (JSON), raw bytes otherwise (bencode).
    macro_rules! serde_hash {
        ($t:ty, $n:expr) => {
            impl Serialize for $t {
                fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                    if s.is_human_readable() {
                        s.collect_str(self)
                    } else {
                        s.serialize_bytes(&self.0)
                    }
                }
            }

            impl<'de> Deserialize<'de> for $t {
                fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                    if d.is_human_readable() {
                        let s = String::deserialize(d)?;
                        s.parse().map_err(D::Error::custom)
                    } else {
                        let b = <ByteBuf>::deserialize(d)?;
                        Self::from_slice(&b.0).ok_or_else(|| {
                            D::Error::invalid_length(b.0.len(), &concat!($n, " bytes"))
                        })
                    }
                }
            }
        };
    }

    serde_hash!(InfoHashV1, "20");
    serde_hash!(InfoHashV2, "32");

    impl Serialize for InfoHash {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            match self {
                Self::V1(h) => h.serialize(s),
                Self::V2(h) => h.serialize(s),
            }
        }
    }

    impl<'de> Deserialize<'de> for InfoHash {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            if d.is_human_readable() {
                let s = String::deserialize(d)?;
                s.parse().map_err(D::Error::custom)
            } else {
                let b = <ByteBuf>::deserialize(d)?;
                match b.0.len() {
                    20 => Ok(Self::V1(InfoHashV1::from_slice(&b.0).unwrap_or_default())),
                    32 => Ok(Self::V2(InfoHashV2::from_slice(&b.0).unwrap_or_default())),
                    n => Err(D::Error::invalid_length(n, &"20 or 32 bytes")),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn v2_truncates_to_first_20_bytes() {
        let mut raw = [0u8; 32];
        for (i, b) in raw.iter_mut().enumerate() {
            *b = i as u8;
        }
        let v2 = InfoHashV2(raw);
        assert_eq!(&v2.truncated().0[..], &raw[..20]);
        assert_eq!(InfoHash::V2(v2).wire(), v2.truncated());
    }

    #[test]
    fn rejects_bad_lengths_and_characters() {
        assert!(matches!(
            "abc".parse::<InfoHash>(),
            Err(Error::InvalidLength { found: 3, .. })
        ));
        let bad = "z".repeat(40);
        assert_eq!(
            bad.parse::<InfoHashV1>(),
            Err(Error::InvalidCharacter {
                what: "v1 info-hash",
                offset: 0
            })
        );
        let bad32 = "1".repeat(32);
        assert!(matches!(
            bad32.parse::<InfoHashV1>(),
            Err(Error::InvalidCharacter { offset: 0, .. })
        ));
    }

    #[test]
    fn v2_parses_64_hex_uppercase() {
        let s = "AB".repeat(32);
        let h: InfoHash = s.parse().unwrap();
        assert_eq!(h, InfoHash::V2(InfoHashV2([0xab; 32])));
        assert_eq!(h.to_string(), "ab".repeat(32));
    }

    proptest! {
        #[test]
        fn v1_hex_and_base32_round_trip(bytes in any::<[u8; 20]>()) {
            let h = InfoHashV1(bytes);
            prop_assert_eq!(h.to_string().parse::<InfoHashV1>().unwrap(), h);
            prop_assert_eq!(h.to_base32().parse::<InfoHashV1>().unwrap(), h);
            prop_assert_eq!(h.to_base32().to_lowercase().parse::<InfoHashV1>().unwrap(), h);
        }

        #[test]
        fn v2_hex_round_trip(bytes in any::<[u8; 32]>()) {
            let h = InfoHash::V2(InfoHashV2(bytes));
            prop_assert_eq!(h.to_string().parse::<InfoHash>().unwrap(), h);
        }

        #[test]
        fn parse_never_panics(s in "\\PC{0,80}") {
            let _ = s.parse::<InfoHash>();
        }
    }
}

#[cfg(all(test, feature = "serde"))]
mod serde_tests {
    use super::*;

    #[test]
    fn json_uses_hex_and_rejects_garbage() {
        let h = InfoHash::V1(InfoHashV1([0xab; 20]));
        let json = serde_json::to_string(&h).unwrap();
        assert_eq!(json, format!("\"{}\"", "ab".repeat(20)));
        assert_eq!(serde_json::from_str::<InfoHash>(&json).unwrap(), h);
        assert!(serde_json::from_str::<InfoHash>("\"xyz\"").is_err());
        let peer = crate::PeerId([1; 20]);
        let json = serde_json::to_string(&peer).unwrap();
        assert_eq!(serde_json::from_str::<crate::PeerId>(&json).unwrap(), peer);
        assert!(serde_json::from_str::<crate::PeerId>("[1,2,3]").is_err());
    }
}
