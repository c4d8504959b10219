//! Magnet links: parse, build, and turn into a torrent once the info
//! dictionary has arrived from peers (BEP 9).

use std::fmt;
use std::ops::RangeInclusive;
use std::str::FromStr;

use bitswarm_core::{InfoHash, InfoHashV1, InfoHashV2};
use url::Url;
use url::form_urlencoded::byte_serialize;

use crate::Error;
use crate::limits::Limits;
use crate::metainfo::Metainfo;

/// The longest magnet link accepted: 64 KiB, room for hundreds of trackers.
pub const MAX_MAGNET_LEN: usize = 64 * 1024;

/// The multihash prefix of a SHA-256 digest (code 0x12, 32 bytes), as used
/// by `urn:btmh:` (BEP 52).
const SHA256_MULTIHASH: &str = "1220";

/// A magnet link (BEP 9, with BEP 52 `btmh` and BEP 53 `so`).
///
/// ```
/// use bitswarm_metainfo::Magnet;
///
/// let link = "magnet:?xt=urn:btih:c12fe1c06bba254a9dc9f519b335aa7c1367a88a\
///             &dn=Big+Buck+Bunny&tr=udp%3A%2F%2Ftracker.example%3A6969&so=0,2-3";
/// let magnet: Magnet = link.parse()?;
/// assert_eq!(magnet.display_name.as_deref(), Some("Big Buck Bunny"));
/// assert_eq!(magnet.trackers, ["udp://tracker.example:6969"]);
/// assert!(magnet.wants_file(3) && !magnet.wants_file(1));
/// // Building gives the same link back.
/// assert_eq!(magnet.to_string(), link);
/// # Ok::<(), bitswarm_metainfo::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct Magnet {
    /// `xt=urn:btih:` (40 hex or 32 base32 characters).
    pub info_hash_v1: Option<InfoHashV1>,
    /// `xt=urn:btmh:1220…` (BEP 52, a SHA-256 multihash).
    pub info_hash_v2: Option<InfoHashV2>,
    /// `dn`: a name to show until the metadata arrives.
    pub display_name: Option<String>,
    /// `tr` (and `tr.1`, `tr.2`...): tracker URLs, in order, without repeats.
    pub trackers: Vec<String>,
    /// `ws`: web seeds (BEP 19).
    pub web_seeds: Vec<String>,
    /// `x.pe`: peers as `host:port` (BEP 9).
    pub peers: Vec<String>,
    /// `so`: the indices of the files to download (BEP 53); empty means all.
    pub select_only: Vec<RangeInclusive<u32>>,
    /// `xl`: the exact total length in bytes.
    pub exact_length: Option<u64>,
}

fn invalid(reason: impl Into<String>) -> Error {
    Error::InvalidMagnet {
        reason: reason.into(),
    }
}

impl Magnet {
    /// Parses a `magnet:?` URI. At least one `urn:btih` or `urn:btmh`
    /// exact topic is required; unknown parameters are ignored.
    pub fn parse(uri: &str) -> Result<Self, Error> {
        if uri.len() > MAX_MAGNET_LEN {
            return Err(invalid(format!(
                "{} bytes long, over the limit of {MAX_MAGNET_LEN}",
                uri.len()
            )));
        }
        let url = Url::parse(uri).map_err(|e| invalid(format!("not a URI: {e}")))?;
        if url.scheme() != "magnet" {
            return Err(invalid(format!(
                "scheme is {:?}, not \"magnet\"",
                url.scheme()
            )));
        }
        let mut m = Self::default();
        for (key, value) in url.query_pairs() {
            let key = key.as_ref();
            let value = value.into_owned();
            match key {
                "xt" => m.exact_topic(&value)?,
                "dn" => {
                    m.display_name.get_or_insert(value);
                }
                "ws" => push_unique(&mut m.web_seeds, value),
                "x.pe" => {
                    check_peer(&value)?;
                    push_unique(&mut m.peers, value);
                }
                "so" => m.select_only.extend(parse_select_only(&value)?),
                "xl" => {
                    m.exact_length = Some(
                        value
                            .parse()
                            .map_err(|_| invalid(format!("xl={value:?} is not a length")))?,
                    );
                }
                _ if is_tracker_key(key) && !value.is_empty() => {
                    push_unique(&mut m.trackers, value);
                }
                _ => {}
            }
        }
        if m.info_hash_v1.is_none() && m.info_hash_v2.is_none() {
            return Err(invalid(
                "no BitTorrent info-hash (xt=urn:btih:… or xt=urn:btmh:…)",
            ));
        }
        Ok(m)
    }

    /// Reads one `xt` value; other URN kinds (ed2k, sha1...) are ignored.
    fn exact_topic(&mut self, value: &str) -> Result<(), Error> {
        let lower = value.to_ascii_lowercase();
        if let Some(hash) = lower.strip_prefix("urn:btih:") {
            let hash: InfoHashV1 = value[value.len() - hash.len()..]
                .parse()
                .map_err(|e| invalid(format!("xt={value:?}: {e}")))?;
            if self.info_hash_v1.is_some_and(|h| h != hash) {
                return Err(invalid("two different urn:btih info-hashes"));
            }
            self.info_hash_v1 = Some(hash);
        } else if let Some(multihash) = lower.strip_prefix("urn:btmh:") {
            let digest = multihash.strip_prefix(SHA256_MULTIHASH).ok_or_else(|| {
                invalid(format!(
                    "xt={value:?}: only SHA-256 multihashes (1220…) are defined (BEP 52)"
                ))
            })?;
            let hash: InfoHashV2 = digest
                .parse()
                .map_err(|e| invalid(format!("xt={value:?}: {e}")))?;
            if self.info_hash_v2.is_some_and(|h| h != hash) {
                return Err(invalid("two different urn:btmh info-hashes"));
            }
            self.info_hash_v2 = Some(hash);
        }
        Ok(())
    }

    /// The torrent's identity: the v1 hash when given, else the v2 hash.
    pub fn info_hash(&self) -> Option<InfoHash> {
        self.info_hash_v1
            .map(InfoHash::V1)
            .or(self.info_hash_v2.map(InfoHash::V2))
    }

    /// Whether file `index` is selected by `so` (BEP 53); every file is when
    /// `so` is absent.
    pub fn wants_file(&self, index: u32) -> bool {
        self.select_only.is_empty() || self.select_only.iter().any(|r| r.contains(&index))
    }

    /// Turns the info dictionary received from peers (BEP 9) into a
    /// torrent: checks that it hashes to every info-hash of this link, then
    /// parses it with this link's trackers and web seeds. A v2 torrent made
    /// this way has no piece layers yet ([`Metainfo::has_piece_layers`]).
    pub fn to_metainfo(&self, info: &[u8]) -> Result<Metainfo, Error> {
        crate::metadata::from_info(
            info,
            self.info_hash_v1,
            self.info_hash_v2,
            &self.trackers,
            &self.web_seeds,
            &Limits::default(),
        )
    }
}

impl FromStr for Magnet {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        Self::parse(s)
    }
}

impl fmt::Display for Magnet {
    /// The URI: `xt` first (v1, then v2), then `dn`, `xl`, `tr`, `ws`,
    /// `x.pe` and `so`, values percent-encoded.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("magnet:")?;
        let mut sep = '?';
        // `urn:bt…:<hex>` needs no escaping, and every client expects it as is.
        if let Some(h) = self.info_hash_v1 {
            write!(f, "{sep}xt=urn:btih:{h}")?;
            sep = '&';
        }
        if let Some(h) = self.info_hash_v2 {
            write!(f, "{sep}xt=urn:btmh:{SHA256_MULTIHASH}{h}")?;
            sep = '&';
        }
        let mut param = |f: &mut fmt::Formatter<'_>, key: &str, value: &str| {
            let s = sep;
            sep = '&';
            write!(f, "{s}{key}=")?;
            for part in byte_serialize(value.as_bytes()) {
                f.write_str(part)?;
            }
            Ok::<(), fmt::Error>(())
        };
        if let Some(name) = &self.display_name {
            param(f, "dn", name)?;
        }
        if let Some(len) = self.exact_length {
            param(f, "xl", &len.to_string())?;
        }
        for t in &self.trackers {
            param(f, "tr", t)?;
        }
        for w in &self.web_seeds {
            param(f, "ws", w)?;
        }
        for p in &self.peers {
            param(f, "x.pe", p)?;
        }
        if !self.select_only.is_empty() {
            let list: Vec<String> = self
                .select_only
                .iter()
                .map(|r| {
                    if r.start() == r.end() {
                        r.start().to_string()
                    } else {
                        format!("{}-{}", r.start(), r.end())
                    }
                })
                .collect();
            // Commas and dashes need no escaping; keep them readable.
            let s = sep;
            write!(f, "{s}so={}", list.join(","))?;
        }
        Ok(())
    }
}

/// `tr`, or `tr.1`, `tr.2`... as some clients number them.
fn is_tracker_key(key: &str) -> bool {
    key == "tr"
        || key
            .strip_prefix("tr.")
            .is_some_and(|n| n.parse::<u32>().is_ok())
}

fn push_unique(list: &mut Vec<String>, value: String) {
    if !list.contains(&value) {
        list.push(value);
    }
}

/// `x.pe`: `host:port`, `[v6]:port` or `a.b.c.d:port`, with a non-zero port.
fn check_peer(value: &str) -> Result<(), Error> {
    let bad = || invalid(format!("x.pe={value:?} is not host:port"));
    let (host, port) = value.rsplit_once(':').ok_or_else(bad)?;
    let port: u16 = port.parse().map_err(|_| bad())?;
    if port == 0 || host.is_empty() {
        return Err(bad());
    }
    if let Some(v6) = host.strip_prefix('[') {
        let v6 = v6.strip_suffix(']').ok_or_else(bad)?;
        v6.parse::<std::net::Ipv6Addr>().map_err(|_| bad())?;
    } else if !host
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-' || b == b'_')
    {
        return Err(bad());
    }
    Ok(())
}

/// `so` (BEP 53): comma-separated indices and inclusive ranges `a-b`.
fn parse_select_only(value: &str) -> Result<Vec<RangeInclusive<u32>>, Error> {
    let bad = |part: &str| invalid(format!("so={value:?}: {part:?} is not an index or a range"));
    value
        .split(',')
        .map(|part| {
            let (a, b) = part.split_once('-').unwrap_or((part, part));
            let a: u32 = a.parse().map_err(|_| bad(part))?;
            let b: u32 = b.parse().map_err(|_| bad(part))?;
            if a > b {
                return Err(bad(part));
            }
            Ok(a..=b)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const V1: &str = "c12fe1c06bba254a9dc9f519b335aa7c1367a88a";
    const V2: &str = "8f79a02355a91b6847fed6278b8be2432db2846b261e3b8390eef98678a51d63";

    #[test]
    fn hybrid_round_trip() {
        let link = format!(
            "magnet:?xt=urn:btih:{V1}&xt=urn:btmh:1220{V2}&dn=a+b%26c&xl=42\
             &tr=udp%3A%2F%2Ft1%3A1&tr=http%3A%2F%2Ft2%2Fannounce&ws=https%3A%2F%2Fw%2F\
             &x.pe=10.0.0.1%3A6881&x.pe=%5B%3A%3A1%5D%3A51413&so=0,2-4"
        );
        let m = Magnet::parse(&link).unwrap();
        assert_eq!(m.info_hash_v1.unwrap().to_string(), V1);
        assert_eq!(m.info_hash_v2.unwrap().to_string(), V2);
        assert_eq!(m.display_name.as_deref(), Some("a b&c"));
        assert_eq!(m.exact_length, Some(42));
        assert_eq!(m.trackers, ["udp://t1:1", "http://t2/announce"]);
        assert_eq!(m.web_seeds, ["https://w/"]);
        assert_eq!(m.peers, ["10.0.0.1:6881", "[::1]:51413"]);
        assert_eq!(m.select_only, [0..=0, 2..=4]);
        assert_eq!(m.to_string(), link);
        assert_eq!(Magnet::parse(&m.to_string()).unwrap(), m);
    }

    #[test]
    fn base32_and_indexed_trackers() {
        let m = Magnet::parse(
            "magnet:?xt=urn:btih:YEX6DQDLXISUVHOJ6UM3GNNKPQJWPKEK&tr.1=udp://a:1&tr.2=udp://b:2&tr=udp://a:1",
        )
        .unwrap();
        assert_eq!(m.info_hash_v1.unwrap().to_string(), V1);
        assert_eq!(m.trackers, ["udp://a:1", "udp://b:2"]);
    }

    #[test]
    fn refused_links() {
        for (link, needle) in [
            ("http://x/?xt=urn:btih:".to_owned() + V1, "scheme"),
            ("magnet:?dn=nothing".to_owned(), "no BitTorrent info-hash"),
            ("magnet:?xt=urn:btih:abcd".to_owned(), "info-hash"),
            (format!("magnet:?xt=urn:btmh:1114{V2}"), "SHA-256"),
            (
                format!("magnet:?xt=urn:btih:{V1}&xt=urn:btih:{}", "0".repeat(40)),
                "two different",
            ),
            (format!("magnet:?xt=urn:btih:{V1}&so=3-1"), "so="),
            (format!("magnet:?xt=urn:btih:{V1}&so=a"), "so="),
            (format!("magnet:?xt=urn:btih:{V1}&x.pe=nope"), "x.pe"),
            (format!("magnet:?xt=urn:btih:{V1}&x.pe=h:0"), "x.pe"),
            (format!("magnet:?xt=urn:btih:{V1}&xl=-1"), "xl"),
            ("not a uri".to_owned(), "not a URI"),
            (
                format!("magnet:?xt=urn:btih:{V1}&{}", "a".repeat(MAX_MAGNET_LEN)),
                "limit",
            ),
        ] {
            let err = Magnet::parse(&link).unwrap_err();
            assert!(matches!(err, Error::InvalidMagnet { .. }), "{link}: {err}");
            assert!(err.to_string().contains(needle), "{link}: {err}");
        }
    }

    #[test]
    fn ignores_other_topics() {
        let m = Magnet::parse(&format!(
            "magnet:?xt=urn:ed2k:354B15E68FB8F36D7CD88FF94116CDC1&xt=urn:btih:{V1}&kt=x"
        ))
        .unwrap();
        assert_eq!(m.info_hash().unwrap().to_string(), V1);
        assert!(m.wants_file(7));
    }
}
