use core::fmt;

/// The 8 reserved bytes of the handshake, with the extension bits named.
///
/// Bits are numbered as BEP 4 does, from the start of the 8 bytes.
///
/// ```
/// use bitswarm_handshake::Extensions;
///
/// let ours = Extensions::EXTENSION_PROTOCOL | Extensions::FAST;
/// assert!(ours.supports(Extensions::FAST));
/// assert_eq!(ours.to_bytes(), [0, 0, 0, 0, 0, 0x10, 0, 0x04]);
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Extensions(pub [u8; 8]);

impl Extensions {
    /// No bits set.
    pub const NONE: Self = Self([0; 8]);
    /// BEP 5: the peer runs a DHT node (byte 7, `0x01`); it will send `port`.
    pub const DHT: Self = Self([0, 0, 0, 0, 0, 0, 0, 0x01]);
    /// BEP 6: the Fast extension (byte 7, `0x04`).
    pub const FAST: Self = Self([0, 0, 0, 0, 0, 0, 0, 0x04]);
    /// BEP 52: the peer can upgrade to the v2 swarm of a hybrid torrent (byte 7, `0x10`).
    pub const V2_UPGRADE: Self = Self([0, 0, 0, 0, 0, 0, 0, 0x10]);
    /// BEP 10: the extension protocol (byte 5, `0x10`).
    pub const EXTENSION_PROTOCOL: Self = Self([0, 0, 0, 0, 0, 0x10, 0, 0]);

    /// What bitswarm advertises by default: the extension protocol and Fast.
    pub const BITSWARM: Self = Self([0, 0, 0, 0, 0, 0x10, 0, 0x04]);

    /// The raw 8 bytes.
    pub const fn to_bytes(self) -> [u8; 8] {
        self.0
    }

    /// Whether every bit of `other` is set here.
    pub fn supports(self, other: Self) -> bool {
        (self & other) == other
    }

    /// The bits both sides set: what a connection may use.
    pub fn common(self, other: Self) -> Self {
        self & other
    }

    /// The names of the known bits that are set.
    pub fn names(self) -> Vec<&'static str> {
        [
            (Self::DHT, "dht"),
            (Self::FAST, "fast"),
            (Self::EXTENSION_PROTOCOL, "extension_protocol"),
            (Self::V2_UPGRADE, "v2_upgrade"),
        ]
        .into_iter()
        .filter(|(bit, _)| self.supports(*bit))
        .map(|(_, name)| name)
        .collect()
    }
}

impl core::ops::BitOr for Extensions {
    type Output = Self;
    fn bitor(self, rhs: Self) -> Self {
        let mut out = self.0;
        for (o, r) in out.iter_mut().zip(rhs.0) {
            *o |= r;
        }
        Self(out)
    }
}

impl core::ops::BitAnd for Extensions {
    type Output = Self;
    fn bitand(self, rhs: Self) -> Self {
        let mut out = self.0;
        for (o, r) in out.iter_mut().zip(rhs.0) {
            *o &= r;
        }
        Self(out)
    }
}

impl fmt::Debug for Extensions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Extensions(")?;
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        write!(f, " {:?})", self.names())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn libtorrent_reserved_bytes_decode_to_named_bits() {
        // What libtorrent 2.0.8 sends for a v1 torrent, DHT off or not
        // (measured with examples/peer-probe).
        let lt = Extensions([0, 0, 0, 0, 0, 0x10, 0, 0x05]);
        assert_eq!(lt.names(), ["dht", "fast", "extension_protocol"]);
        assert!(!lt.supports(Extensions::V2_UPGRADE));
        assert_eq!(lt.common(Extensions::BITSWARM), Extensions::BITSWARM);
        let v2 = lt | Extensions::V2_UPGRADE;
        assert_eq!(v2.to_bytes()[7], 0x15);
        assert_eq!(v2.names().last(), Some(&"v2_upgrade"));
    }
}
