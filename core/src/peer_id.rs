use core::fmt;

/// The 20-byte peer id a client sends in its handshake and tracker announces.
///
/// Most clients put a client code and version in the first bytes (BEP 20);
/// [`PeerId::client`] reads them back.
///
/// ```
/// use bitswarm_core::PeerId;
///
/// let id = PeerId::from_prefix_and_random(b"-LT2080-", [7u8; 12]);
/// let client = id.client().expect("an Azureus-style id");
/// assert_eq!(client.name, Some("libtorrent (Rasterbar)"));
/// assert_eq!(client.version, "2.0.8.0");
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct PeerId(pub [u8; 20]);

/// What a peer id says about the client that made it (BEP 20).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientInfo {
    /// The client code as written in the id: two characters (`"LT"`) for the
    /// Azureus style, one (`"S"`) for the Shadow and Mainline styles.
    pub code: String,
    /// The client's name when the code is a well-known one.
    pub name: Option<&'static str>,
    /// The version, as dotted components (`"2.0.8.0"`).
    pub version: String,
    /// Which BEP 20 convention the id follows.
    pub style: IdStyle,
}

/// The BEP 20 peer-id conventions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum IdStyle {
    /// `-XXVVVV-` followed by random bytes (Azureus, libtorrent, Transmission, ...).
    Azureus,
    /// One client letter, then up to five version characters, padded with `-` (Shadow's style).
    Shadow,
    /// `M` then a dash-separated version, as in `M4-3-6--` (the original Mainline client).
    Mainline,
}

/// Two-character Azureus-style codes of well-known clients.
const AZUREUS_CLIENTS: &[(&[u8; 2], &str)] = &[
    (b"AG", "Ares"),
    (b"AZ", "Azureus/Vuze"),
    (b"BC", "BitComet"),
    (b"BI", "BiglyBT"),
    (b"BT", "BitTorrent (mainline)"),
    (b"BW", "bitswarm"),
    (b"DE", "Deluge"),
    (b"FD", "Free Download Manager"),
    (b"KT", "KTorrent"),
    (b"LT", "libtorrent (Rasterbar)"),
    (b"lt", "libTorrent (rakshasa)"),
    (b"qB", "qBittorrent"),
    (b"TR", "Transmission"),
    (b"UM", "\u{b5}Torrent Mac"),
    (b"UT", "\u{b5}Torrent"),
    (b"WW", "WebTorrent"),
    (b"XL", "Xunlei"),
];

/// One-letter Shadow-style codes of well-known clients.
const SHADOW_CLIENTS: &[(u8, &str)] = &[
    (b'A', "ABC"),
    (b'O', "Osprey Permaseed"),
    (b'Q', "BTQueue"),
    (b'R', "Tribler"),
    (b'S', "Shadow"),
    (b'T', "BitTornado"),
    (b'U', "UPnP NAT Bit Torrent"),
];

impl PeerId {
    /// The Azureus-style prefix this crate's version writes: `-BW` + four
    /// version characters + `-` (BEP 20).
    pub fn bitswarm_prefix() -> [u8; 8] {
        fn digit(part: &str) -> u8 {
            // One character per component: 0-9, then A-Z for 10..35, as libtorrent does.
            match part.parse::<u8>() {
                Ok(n @ 0..=9) => b'0' + n,
                Ok(n @ 10..=35) => b'A' + (n - 10),
                _ => b'X',
            }
        }
        [
            b'-',
            b'B',
            b'W',
            digit(env!("CARGO_PKG_VERSION_MAJOR")),
            digit(env!("CARGO_PKG_VERSION_MINOR")),
            digit(env!("CARGO_PKG_VERSION_PATCH")),
            b'0',
            b'-',
        ]
    }

    /// An id made of `prefix` followed by `random` (the remaining 12 bytes).
    /// Pass [`PeerId::bitswarm_prefix`] and bytes from your RNG.
    pub fn from_prefix_and_random(prefix: &[u8; 8], random: [u8; 12]) -> Self {
        let mut id = [0u8; 20];
        id[..8].copy_from_slice(prefix);
        id[8..].copy_from_slice(&random);
        Self(id)
    }

    /// A fresh id with this crate's prefix and 12 bytes from `rand`'s thread RNG.
    #[cfg(feature = "rand")]
    pub fn random() -> Self {
        Self::from_prefix_and_random(&Self::bitswarm_prefix(), rand::random())
    }

    /// The raw 20 bytes.
    pub const fn as_bytes(&self) -> &[u8; 20] {
        &self.0
    }

    /// `None` unless `bytes` is exactly 20 long.
    pub fn from_slice(bytes: &[u8]) -> Option<Self> {
        bytes.try_into().ok().map(Self)
    }

    /// The client and version encoded in the id, when it follows a BEP 20 convention.
    pub fn client(&self) -> Option<ClientInfo> {
        self.azureus()
            .or_else(|| self.mainline())
            .or_else(|| self.shadow())
    }

    fn azureus(&self) -> Option<ClientInfo> {
        let id = &self.0;
        let code = [id[1], id[2]];
        let version = &id[3..7];
        if id[0] != b'-' || id[7] != b'-' || !code.iter().all(u8::is_ascii_alphanumeric) {
            return None;
        }
        if !version.iter().all(u8::is_ascii_alphanumeric) {
            return None;
        }
        let name = AZUREUS_CLIENTS
            .iter()
            .find(|(c, _)| **c == code)
            .map(|(_, n)| *n);
        let version = version
            .iter()
            .map(|&c| shadow_digit(c).map_or_else(|| char::from(c).to_string(), |d| d.to_string()))
            .collect::<Vec<_>>()
            .join(".");
        Some(ClientInfo {
            code: String::from_utf8_lossy(&code).into_owned(),
            name,
            version,
            style: IdStyle::Azureus,
        })
    }

    fn mainline(&self) -> Option<ClientInfo> {
        // `M4-3-6--`: digits separated by single dashes, ending in a double dash.
        let id = &self.0;
        if id[0] != b'M' {
            return None;
        }
        let end = id[1..8].windows(2).position(|w| w == b"--")? + 1;
        let parts: Vec<&[u8]> = id[1..end].split(|&b| b == b'-').collect();
        if parts.is_empty()
            || parts
                .iter()
                .any(|p| p.is_empty() || !p.iter().all(u8::is_ascii_digit))
        {
            return None;
        }
        let version = parts
            .iter()
            .map(|p| String::from_utf8_lossy(p).into_owned())
            .collect::<Vec<_>>()
            .join(".");
        Some(ClientInfo {
            code: "M".to_owned(),
            name: Some("BitTorrent (mainline)"),
            version,
            style: IdStyle::Mainline,
        })
    }

    fn shadow(&self) -> Option<ClientInfo> {
        let id = &self.0;
        let name = SHADOW_CLIENTS
            .iter()
            .find(|(c, _)| *c == id[0])
            .map(|(_, n)| *n)?;
        // Version characters run until the `-` padding, at most five of them.
        let digits: Vec<u8> = id[1..6]
            .iter()
            .take_while(|&&c| c != b'-')
            .map(|&c| shadow_digit(c))
            .collect::<Option<_>>()?;
        if digits.is_empty() || id[1 + digits.len()..6].iter().any(|&c| c != b'-') {
            return None;
        }
        let version = digits
            .iter()
            .map(u8::to_string)
            .collect::<Vec<_>>()
            .join(".");
        Some(ClientInfo {
            code: char::from(id[0]).to_string(),
            name: Some(name),
            version,
            style: IdStyle::Shadow,
        })
    }
}

/// BEP 20's version alphabet: `0-9`, `A-Z` for 10..35, `a-z` for 36..61, `.` 62.
fn shadow_digit(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'A'..=b'Z' => Some(c - b'A' + 10),
        b'a'..=b'z' => Some(c - b'a' + 36),
        b'.' => Some(62),
        _ => None,
    }
}

impl fmt::Display for PeerId {
    /// Printable ASCII as is, every other byte as `%XX`, as trackers log ids.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for &b in &self.0 {
            if b.is_ascii_graphic() && b != b'%' {
                fmt::Write::write_char(f, char::from(b))?;
            } else {
                write!(f, "%{b:02X}")?;
            }
        }
        Ok(())
    }
}

impl fmt::Debug for PeerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PeerId({self})")
    }
}

#[cfg(feature = "serde")]
impl serde::Serialize for PeerId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(&self.0)
    }
}

#[cfg(feature = "serde")]
impl<'de> serde::Deserialize<'de> for PeerId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let b = crate::serde_support::ByteBuf::deserialize(d)?;
        Self::from_slice(&b.0)
            .ok_or_else(|| serde::de::Error::invalid_length(b.0.len(), &"20 bytes"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn id(prefix: &[u8]) -> PeerId {
        let mut raw = [b'x'; 20];
        raw[..prefix.len()].copy_from_slice(prefix);
        PeerId(raw)
    }

    #[test]
    fn azureus_style() {
        let c = id(b"-TR3000-").client().unwrap();
        assert_eq!(c.name, Some("Transmission"));
        assert_eq!(c.code, "TR");
        assert_eq!(c.version, "3.0.0.0");
        assert_eq!(c.style, IdStyle::Azureus);
        let unknown = id(b"-ZZ1234-").client().unwrap();
        assert_eq!(unknown.name, None);
        assert_eq!(unknown.code, "ZZ");
    }

    #[test]
    fn shadow_style_from_bep20() {
        // BEP 20's example: "S58B-----" is Shadow 5.8.11.
        let c = id(b"S58B-----").client().unwrap();
        assert_eq!(c.name, Some("Shadow"));
        assert_eq!(c.version, "5.8.11");
        assert_eq!(c.style, IdStyle::Shadow);
    }

    #[test]
    fn mainline_style() {
        let c = id(b"M4-3-6--").client().unwrap();
        assert_eq!(c.version, "4.3.6");
        assert_eq!(c.style, IdStyle::Mainline);
    }

    #[test]
    fn unknown_style_is_none() {
        assert_eq!(PeerId([0u8; 20]).client(), None);
        assert_eq!(id(b"-T").client(), None);
    }

    #[test]
    fn our_prefix_names_bitswarm() {
        let ours = PeerId::from_prefix_and_random(&PeerId::bitswarm_prefix(), [1; 12]);
        let c = ours.client().unwrap();
        assert_eq!(c.name, Some("bitswarm"));
        assert!(ours.to_string().starts_with("-BW"));
    }

    #[test]
    fn display_escapes_non_printable() {
        let mut raw = *b"-BW0100-abcdefghijkl";
        raw[19] = 0;
        raw[18] = b'%';
        assert_eq!(PeerId(raw).to_string(), "-BW0100-abcdefghij%25%00");
    }

    proptest! {
        #[test]
        fn client_never_panics(raw in any::<[u8; 20]>()) {
            let _ = PeerId(raw).client();
            let _ = PeerId(raw).to_string();
        }
    }
}
