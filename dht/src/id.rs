//! Node ids, XOR distance, and BEP 42 node-id security.

use core::fmt;
use std::net::IpAddr;

use bitswarm_core::InfoHashV1;
use rand::Rng;

/// A 160-bit DHT node id (BEP 5), also used as a lookup target.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct NodeId(pub [u8; 20]);

impl NodeId {
    /// A uniformly random id.
    pub fn random(rng: &mut impl Rng) -> Self {
        let mut id = [0u8; 20];
        rng.fill(&mut id);
        Self(id)
    }

    /// The id in `bytes`, when it is exactly 20 bytes long.
    pub fn from_slice(bytes: &[u8]) -> Option<Self> {
        bytes.try_into().ok().map(Self)
    }

    /// The XOR distance to `other` (BEP 5), compared as a big-endian number.
    pub fn distance(&self, other: &Self) -> Distance {
        let mut d = [0u8; 20];
        for (i, b) in d.iter_mut().enumerate() {
            *b = self.0[i] ^ other.0[i];
        }
        Distance(d)
    }

    /// How many leading bits `self` and `other` share (160 when equal).
    pub fn common_prefix_len(&self, other: &Self) -> usize {
        for i in 0..20 {
            let x = self.0[i] ^ other.0[i];
            if x != 0 {
                return i * 8 + x.leading_zeros() as usize;
            }
        }
        160
    }

    /// A random id that shares exactly `prefix_len` leading bits with `self`
    /// (bit `prefix_len` differs); all 160 bits when `prefix_len >= 160`.
    pub fn random_with_prefix(&self, prefix_len: usize, rng: &mut impl Rng) -> Self {
        if prefix_len >= 160 {
            return *self;
        }
        let mut out = Self::random(rng).0;
        for bit in 0..=prefix_len {
            let (byte, mask) = (bit / 8, 0x80u8 >> (bit % 8));
            let mine = self.0[byte] & mask;
            let want = if bit == prefix_len { mine ^ mask } else { mine };
            out[byte] = (out[byte] & !mask) | want;
        }
        Self(out)
    }
}

impl From<InfoHashV1> for NodeId {
    fn from(h: InfoHashV1) -> Self {
        Self(h.0)
    }
}

impl From<NodeId> for InfoHashV1 {
    fn from(id: NodeId) -> Self {
        Self(id.0)
    }
}

impl fmt::Debug for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NodeId({self})")
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl core::str::FromStr for NodeId {
    type Err = crate::Error;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || crate::Error::InvalidArgument {
            what: "a node id or info-hash must be 40 hex digits",
        };
        if s.len() != 40 || !s.is_ascii() {
            return Err(bad());
        }
        let mut id = [0u8; 20];
        for (i, b) in id.iter_mut().enumerate() {
            *b = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).map_err(|_| bad())?;
        }
        Ok(Self(id))
    }
}

/// An XOR distance between two ids; smaller is closer.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct Distance(pub [u8; 20]);

/// CRC-32C (Castagnoli), the checksum BEP 42 builds ids from.
pub(crate) fn crc32c(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            let mask = (crc & 1).wrapping_neg();
            crc = (crc >> 1) ^ (0x82f6_3b78 & mask);
        }
    }
    !crc
}

/// The BEP 42 checksum of `ip` with the 3-bit random `r`.
fn bep42_crc(ip: IpAddr, r: u8) -> u32 {
    match ip {
        IpAddr::V4(v4) => {
            let mask = [0x03, 0x0f, 0x3f, 0xff];
            let mut b = v4.octets();
            for (x, m) in b.iter_mut().zip(mask) {
                *x &= m;
            }
            b[0] |= (r & 7) << 5;
            crc32c(&b)
        }
        IpAddr::V6(v6) => {
            let mask = [0x01, 0x03, 0x07, 0x0f, 0x1f, 0x3f, 0x7f, 0xff];
            let o = v6.octets();
            let mut b = [0u8; 8];
            for i in 0..8 {
                b[i] = o[i] & mask[i];
            }
            b[0] |= (r & 7) << 5;
            crc32c(&b)
        }
    }
}

/// A node id for external address `ip` by BEP 42: the first 21 bits come from
/// a CRC-32C of the masked address, the last byte is the random `r`, and the
/// bytes between are `rest` (random in practice).
pub fn bep42_id(ip: IpAddr, r: u8, rest: [u8; 17]) -> NodeId {
    let crc = bep42_crc(ip, r);
    let mut id = [0u8; 20];
    id[0] = (crc >> 24) as u8;
    id[1] = (crc >> 16) as u8;
    id[2] = (((crc >> 8) as u8) & 0xf8) | (rest[0] & 0x07);
    id[3..19].copy_from_slice(&rest[1..]);
    id[19] = r;
    NodeId(id)
}

/// A random BEP 42 id for external address `ip`.
pub fn bep42_random_id(ip: IpAddr, rng: &mut impl Rng) -> NodeId {
    let mut rest = [0u8; 17];
    rng.fill(&mut rest);
    bep42_id(ip, rng.r#gen(), rest)
}

/// Whether BEP 42 exempts `ip` from node-id checks: loopback, private,
/// link-local and unique-local addresses.
pub fn bep42_exempt(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            v4.is_loopback() || v4.is_private() || v4.is_link_local() || v4.is_unspecified()
        }
        IpAddr::V6(v6) => {
            let seg0 = v6.segments()[0];
            v6.is_loopback()
                || v6.is_unspecified()
                || (seg0 & 0xfe00) == 0xfc00
                || (seg0 & 0xffc0) == 0xfe80
                || v6
                    .to_ipv4_mapped()
                    .is_some_and(|v4| bep42_exempt(IpAddr::V4(v4)))
        }
    }
}

/// Whether `id` is a valid BEP 42 id for a node at `ip`: its first 21 bits
/// match the checksum of the address with the id's last byte as `r`.
/// Exempt addresses ([`bep42_exempt`]) always pass.
pub fn bep42_valid(id: &NodeId, ip: IpAddr) -> bool {
    if bep42_exempt(ip) {
        return true;
    }
    let crc = bep42_crc(ip, id.0[19]);
    id.0[0] == (crc >> 24) as u8
        && id.0[1] == (crc >> 16) as u8
        && (id.0[2] & 0xf8) == ((crc >> 8) as u8 & 0xf8)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The published vectors of BEP 42: (address, r, id prefix of 3 bytes, masked).
    const VECTORS: [(&str, u8, [u8; 3]); 5] = [
        ("124.31.75.21", 1, [0x5f, 0xbf, 0xbf]),
        ("21.75.31.124", 86, [0x5a, 0x3c, 0xe9]),
        ("65.23.51.170", 22, [0xa5, 0xd4, 0x32]),
        ("84.124.73.14", 65, [0x1b, 0x03, 0x21]),
        ("43.213.53.83", 90, [0xe5, 0x6f, 0x6c]),
    ];

    #[test]
    fn crc32c_check_value() {
        assert_eq!(crc32c(b"123456789"), 0xe306_9283);
    }

    #[test]
    fn bep42_published_vectors() {
        for (ip, r, prefix) in VECTORS {
            let ip: IpAddr = ip.parse().unwrap();
            // The vectors' ids have the random bits of byte 2 as in the BEP.
            let id = bep42_id(ip, r, [prefix[2] & 7; 17]);
            assert_eq!(id.0[0], prefix[0], "{ip}");
            assert_eq!(id.0[1], prefix[1], "{ip}");
            assert_eq!(id.0[2] & 0xf8, prefix[2] & 0xf8, "{ip}");
            assert_eq!(id.0[19], r);
            assert!(bep42_valid(&id, ip));
        }
    }

    #[test]
    fn bep42_full_published_ids_validate() {
        let ids = [
            ("124.31.75.21", "5fbfbff10c5d6a4ec8a88e4c6ab4c28b95eee401"),
            ("21.75.31.124", "5a3ce9c14e7a08645677bbd1cfe7d8f956d53256"),
            ("65.23.51.170", "a5d43220bc8f112a3d426c84764f8c2a1150e616"),
            ("84.124.73.14", "1b0321dd1bb1fe518101ceef99462b947a01ff41"),
            ("43.213.53.83", "e56f6cbf5b7c4be0237986d5243b87aa6d51305a"),
        ];
        for (ip, id) in ids {
            let ip: IpAddr = ip.parse().unwrap();
            let id: NodeId = id.parse().unwrap();
            assert!(bep42_valid(&id, ip), "{ip} {id}");
            let mut bad = id;
            bad.0[0] ^= 0x80;
            assert!(!bep42_valid(&bad, ip), "{ip} flipped");
        }
    }

    #[test]
    fn local_addresses_are_exempt() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "192.168.0.9",
            "::1",
            "fd00::1",
            "fe80::2",
        ] {
            let ip: IpAddr = ip.parse().unwrap();
            assert!(bep42_exempt(ip));
            assert!(bep42_valid(&NodeId([0xab; 20]), ip));
        }
        assert!(!bep42_exempt("8.8.8.8".parse().unwrap()));
        assert!(!bep42_valid(
            &NodeId([0xab; 20]),
            "8.8.8.8".parse().unwrap()
        ));
    }

    proptest! {
        #[test]
        fn random_with_prefix_shares_exactly(seed: [u8; 20], n in 0usize..160, s: u64) {
            use rand::SeedableRng;
            let mut rng = rand::rngs::StdRng::seed_from_u64(s);
            let me = NodeId(seed);
            let id = me.random_with_prefix(n, &mut rng);
            prop_assert_eq!(me.common_prefix_len(&id), n);
        }

        #[test]
        fn generated_ids_validate(a: [u8; 4], s: u64) {
            use rand::SeedableRng;
            let mut rng = rand::rngs::StdRng::seed_from_u64(s);
            let ip = IpAddr::from(a);
            let id = bep42_random_id(ip, &mut rng);
            prop_assert!(bep42_valid(&id, ip));
        }
    }
}
