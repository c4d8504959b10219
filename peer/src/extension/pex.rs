use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use bitswarm_bencode::{DictBuilder, Encode, Value};
use bytes::Bytes;

use super::decode_dict;
use crate::Error;

const MSG: &str = "ut_pex";

/// BEP 11 flags of an added peer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct PexFlags(pub u8);

impl PexFlags {
    /// Prefers encryption.
    pub const ENCRYPTION: u8 = 0x01;
    /// Is a seed or upload-only.
    pub const SEED: u8 = 0x02;
    /// Supports uTP.
    pub const UTP: u8 = 0x04;
    /// Supports the holepunch extension (BEP 55).
    pub const HOLEPUNCH: u8 = 0x08;
    /// Is reachable: the sender connected to it.
    pub const OUTGOING: u8 = 0x10;

    /// Whether `flag` is set.
    pub fn has(self, flag: u8) -> bool {
        self.0 & flag == flag
    }
}

/// A BEP 11 peer exchange message, IPv4 and IPv6 together.
///
/// ```
/// use bitswarm_peer::extension::{PexFlags, UtPex};
///
/// let pex = UtPex {
///     added: vec![("127.0.0.1:6881".parse()?, PexFlags(PexFlags::SEED)), ("[::1]:6882".parse()?, PexFlags(0))],
///     dropped: vec!["127.0.0.2:6881".parse()?],
/// };
/// assert_eq!(UtPex::decode(&pex.to_bytes())?, pex);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UtPex {
    /// Peers connected since the last message, with their flags.
    pub added: Vec<(SocketAddr, PexFlags)>,
    /// Peers disconnected since the last message.
    pub dropped: Vec<SocketAddr>,
}

fn compact(addrs: impl Iterator<Item = SocketAddr>, v6: bool) -> Vec<u8> {
    let mut out = Vec::new();
    for a in addrs {
        match (a.ip(), v6) {
            (IpAddr::V4(ip), false) => out.extend_from_slice(&ip.octets()),
            (IpAddr::V6(ip), true) => out.extend_from_slice(&ip.octets()),
            _ => continue,
        }
        out.extend_from_slice(&a.port().to_be_bytes());
    }
    out
}

fn parse_compact(
    value: &Value<'_>,
    field: &'static str,
    v6: bool,
) -> Result<Vec<SocketAddr>, Error> {
    let Some(v) = value.get(field) else {
        return Ok(Vec::new());
    };
    let Some(bytes) = v.as_bytes() else {
        return Err(Error::Field {
            message: MSG,
            field,
            problem: "is not a byte string",
        });
    };
    let size = if v6 { 18 } else { 6 };
    if bytes.len() % size != 0 {
        return Err(Error::Field {
            message: MSG,
            field,
            problem: "is not a whole number of compact addresses",
        });
    }
    Ok(bytes
        .chunks_exact(size)
        .map(|c| {
            let (ip, port) = c.split_at(size - 2);
            let ip = if v6 {
                let mut o = [0u8; 16];
                o.copy_from_slice(ip);
                IpAddr::V6(Ipv6Addr::from(o))
            } else {
                IpAddr::V4(Ipv4Addr::new(ip[0], ip[1], ip[2], ip[3]))
            };
            SocketAddr::new(ip, u16::from_be_bytes([port[0], port[1]]))
        })
        .collect())
}

impl UtPex {
    /// The payload.
    pub fn to_bytes(&self) -> Bytes {
        let mut d = DictBuilder::new();
        for v6 in [false, true] {
            let (added, added_f, dropped) = if v6 {
                ("added6", "added6.f", "dropped6")
            } else {
                ("added", "added.f", "dropped")
            };
            let mine = |a: &SocketAddr| a.is_ipv6() == v6;
            d.insert(
                added,
                compact(self.added.iter().map(|(a, _)| *a).filter(mine), v6),
            );
            let flags: Vec<u8> = self
                .added
                .iter()
                .filter(|(a, _)| mine(a))
                .map(|(_, f)| f.0)
                .collect();
            d.insert(added_f, flags);
            d.insert(
                dropped,
                compact(self.dropped.iter().copied().filter(mine), v6),
            );
        }
        Bytes::from(d.to_bencode())
    }

    /// Reads the payload. Missing flags count as 0.
    pub fn decode(payload: &[u8]) -> Result<Self, Error> {
        let value = decode_dict(MSG, payload)?;
        let mut added = Vec::new();
        for (field, flags_field, v6) in [("added", "added.f", false), ("added6", "added6.f", true)]
        {
            let addrs = parse_compact(&value, field, v6)?;
            let flags = value
                .get(flags_field)
                .and_then(|v| v.as_bytes())
                .unwrap_or_default();
            added.extend(
                addrs
                    .into_iter()
                    .enumerate()
                    .map(|(i, a)| (a, PexFlags(flags.get(i).copied().unwrap_or(0)))),
            );
        }
        let mut dropped = parse_compact(&value, "dropped", false)?;
        dropped.extend(parse_compact(&value, "dropped6", true)?);
        Ok(Self { added, dropped })
    }
}
