use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use bitswarm_bencode::{DictBuilder, Encode};
use bytes::Bytes;

use super::{decode_dict, int_field};
use crate::Error;

const MSG: &str = "extension handshake";

/// The BEP 10 extension handshake (extended id 0).
///
/// ```
/// use bitswarm_peer::extension::ExtensionHandshake;
///
/// let hs = ExtensionHandshake::bitswarm(Some(31_337));
/// let back = ExtensionHandshake::decode(&hs.to_bytes())?;
/// assert_eq!(back, hs);
/// assert_eq!(back.m.get("ut_metadata"), Some(&1));
/// # Ok::<(), bitswarm_peer::Error>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ExtensionHandshake {
    /// Extended message names and the ids the sender wants to receive them
    /// under; 0 disables one.
    pub m: BTreeMap<String, u8>,
    /// Client name and version (`v`).
    pub v: Option<String>,
    /// The sender's listen port (`p`).
    pub p: Option<u16>,
    /// Requests the sender keeps queued (`reqq`).
    pub reqq: Option<u32>,
    /// Our address as the sender sees it (`yourip`).
    pub yourip: Option<IpAddr>,
    /// Size of the info dictionary (BEP 9 `metadata_size`).
    pub metadata_size: Option<u64>,
    /// The sender only uploads (BEP 21 `upload_only`).
    pub upload_only: Option<bool>,
}

/// The largest `metadata_size` accepted (64 MiB): far above any real info
/// dictionary, it bounds what a peer can make a BEP 9 fetch allocate.
pub const MAX_METADATA_SIZE: u64 = 64 << 20;

impl ExtensionHandshake {
    /// What bitswarm announces: its extensions under [`super::ExtensionIds::OURS`].
    pub fn bitswarm(metadata_size: Option<u64>) -> Self {
        Self {
            m: super::ExtensionIds::OURS
                .entries()
                .map(|(n, id)| (n.to_owned(), id))
                .collect(),
            v: Some(concat!("bitswarm ", env!("CARGO_PKG_VERSION")).to_owned()),
            reqq: Some(500),
            metadata_size,
            ..Self::default()
        }
    }

    /// The payload.
    pub fn to_bytes(&self) -> Bytes {
        let mut m = DictBuilder::new();
        for (name, id) in &self.m {
            m.insert(name.as_bytes(), i64::from(*id));
        }
        let mut d = DictBuilder::new();
        d.insert("m", m);
        d.insert_opt("metadata_size", self.metadata_size.map(|n| n as i64));
        d.insert_opt("p", self.p.map(i64::from));
        d.insert_opt("reqq", self.reqq.map(i64::from));
        d.insert_opt("upload_only", self.upload_only.map(i64::from));
        d.insert_opt("v", self.v.as_deref());
        d.insert_opt(
            "yourip",
            self.yourip.map(|ip| match ip {
                IpAddr::V4(a) => a.octets().to_vec(),
                IpAddr::V6(a) => a.octets().to_vec(),
            }),
        );
        Bytes::from(d.to_bencode())
    }

    /// Reads the payload; unknown keys are ignored (BEP 10).
    pub fn decode(payload: &[u8]) -> Result<Self, Error> {
        let value = decode_dict(MSG, payload)?;
        let mut m = BTreeMap::new();
        if let Some(mv) = value.get("m") {
            let Some(dict) = mv.as_dict() else {
                return Err(Error::Field {
                    message: MSG,
                    field: "m",
                    problem: "is not a dictionary",
                });
            };
            for (name, id) in dict.iter() {
                let id = match id.as_int() {
                    Some(n @ 0..=255) => n as u8,
                    _ => {
                        return Err(Error::Field {
                            message: MSG,
                            field: "m",
                            problem: "maps a name to something else than an id 0..=255",
                        });
                    }
                };
                m.insert(String::from_utf8_lossy(name).into_owned(), id);
            }
        }
        let v = value
            .get("v")
            .and_then(|v| v.as_bytes())
            .map(|b| String::from_utf8_lossy(b).into_owned());
        let yourip = match value.get("yourip").and_then(|v| v.as_bytes()) {
            None => None,
            Some(b) => match b.len() {
                4 => Some(IpAddr::V4(Ipv4Addr::new(b[0], b[1], b[2], b[3]))),
                16 => {
                    let mut o = [0u8; 16];
                    o.copy_from_slice(b);
                    Some(IpAddr::V6(Ipv6Addr::from(o)))
                }
                _ => {
                    return Err(Error::Field {
                        message: MSG,
                        field: "yourip",
                        problem: "is neither 4 nor 16 bytes",
                    });
                }
            },
        };
        Ok(Self {
            m,
            v,
            p: int_field(MSG, &value, "p", 0..=65535)?
                .map(|n| n as u16)
                .filter(|p| *p != 0),
            reqq: int_field(MSG, &value, "reqq", 0..=i64::from(u32::MAX))?.map(|n| n as u32),
            yourip,
            metadata_size: int_field(MSG, &value, "metadata_size", 0..=MAX_METADATA_SIZE as i64)?
                .map(|n| n as u64),
            upload_only: int_field(MSG, &value, "upload_only", 0..=i64::MAX)?.map(|n| n != 0),
        })
    }
}
