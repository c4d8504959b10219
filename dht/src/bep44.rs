//! BEP 44 items: immutable values stored under their SHA-1, and mutable
//! values signed with ed25519 and stored under the SHA-1 of key and salt.

use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use sha1::{Digest, Sha1};

use crate::Error;
use crate::id::NodeId;
use crate::krpc::{MAX_ITEM_LEN, PutItem};

/// The longest salt BEP 44 allows.
pub const MAX_SALT_LEN: usize = 64;

/// A BEP 44 item, immutable or mutable, with its value bencoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    /// The bencoded value `v`, at most 1,000 bytes.
    pub value: Vec<u8>,
    /// For a mutable item, its key, signature, sequence number and salt.
    pub mutable: Option<MutableParts>,
}

/// What makes an item mutable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MutableParts {
    /// The ed25519 public key `k`.
    pub key: [u8; 32],
    /// The signature `sig` over salt, seq and v.
    pub signature: [u8; 64],
    /// The sequence number `seq`.
    pub seq: i64,
    /// The salt (empty for none).
    pub salt: Vec<u8>,
}

/// The target of an immutable item: SHA-1 of its bencoded value.
pub fn immutable_target(value: &[u8]) -> NodeId {
    NodeId(Sha1::digest(value).into())
}

/// The target of a mutable item: SHA-1 of its key followed by its salt.
pub fn mutable_target(key: &[u8; 32], salt: &[u8]) -> NodeId {
    let mut h = Sha1::new();
    h.update(key);
    h.update(salt);
    NodeId(h.finalize().into())
}

/// The bytes a mutable item's signature covers (BEP 44):
/// `4:salt<n>:<salt>` when salted, then `3:seqi<seq>e1:v<v>`.
pub fn signed_bytes(salt: &[u8], seq: i64, value: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(salt.len() + value.len() + 40);
    if !salt.is_empty() {
        out.extend_from_slice(b"4:salt");
        out.extend_from_slice(format!("{}:", salt.len()).as_bytes());
        out.extend_from_slice(salt);
    }
    out.extend_from_slice(format!("3:seqi{seq}e1:v").as_bytes());
    out.extend_from_slice(value);
    out
}

impl Item {
    /// An immutable item holding the bencoded `value`.
    pub fn immutable(value: Vec<u8>) -> Result<Self, Error> {
        let item = Self {
            value,
            mutable: None,
        };
        item.check_value()?;
        Ok(item)
    }

    /// A mutable item signed with `secret` (an ed25519 seed of 32 bytes).
    pub fn sign_mutable(
        secret: &[u8; 32],
        salt: &[u8],
        seq: i64,
        value: Vec<u8>,
    ) -> Result<Self, Error> {
        let key = SigningKey::from_bytes(secret);
        let signature = key.sign(&signed_bytes(salt, seq, &value)).to_bytes();
        let item = Self {
            value,
            mutable: Some(MutableParts {
                key: key.verifying_key().to_bytes(),
                signature,
                seq,
                salt: salt.to_vec(),
            }),
        };
        item.verify()?;
        Ok(item)
    }

    fn check_value(&self) -> Result<(), Error> {
        if self.value.len() > MAX_ITEM_LEN {
            return Err(Error::InvalidItem {
                what: "value over 1000 bytes",
            });
        }
        let lenient = bitswarm_bencode::DecodeOptions {
            mode: bitswarm_bencode::Mode::Lenient,
            ..Default::default()
        };
        if lenient.decode(&self.value).is_err() {
            return Err(Error::InvalidItem {
                what: "value is not bencoded",
            });
        }
        Ok(())
    }

    /// Checks size, salt length and, for a mutable item, its signature.
    pub fn verify(&self) -> Result<(), Error> {
        self.check_value()?;
        if let Some(m) = &self.mutable {
            if m.salt.len() > MAX_SALT_LEN {
                return Err(Error::InvalidItem {
                    what: "salt over 64 bytes",
                });
            }
            let key = VerifyingKey::from_bytes(&m.key).map_err(|_| Error::InvalidItem {
                what: "bad public key",
            })?;
            key.verify(
                &signed_bytes(&m.salt, m.seq, &self.value),
                &Signature::from_bytes(&m.signature),
            )
            .map_err(|_| Error::InvalidItem {
                what: "bad signature",
            })?;
        }
        Ok(())
    }

    /// Where the item is stored.
    pub fn target(&self) -> NodeId {
        match &self.mutable {
            None => immutable_target(&self.value),
            Some(m) => mutable_target(&m.key, &m.salt),
        }
    }

    /// The sequence number of a mutable item.
    pub fn seq(&self) -> Option<i64> {
        self.mutable.as_ref().map(|m| m.seq)
    }

    /// The item as the arguments of a `put` query.
    pub fn to_put(&self, cas: Option<i64>) -> PutItem {
        PutItem {
            value: self.value.clone(),
            key: self.mutable.as_ref().map(|m| m.key),
            signature: self.mutable.as_ref().map(|m| m.signature),
            seq: self.seq(),
            cas,
            salt: self
                .mutable
                .as_ref()
                .filter(|m| !m.salt.is_empty())
                .map(|m| m.salt.clone()),
        }
    }

    /// The item a `put` query carries; `None` when its fields do not make one.
    pub fn from_put(p: &PutItem) -> Option<Self> {
        let mutable = match (p.key, p.signature, p.seq) {
            (Some(key), Some(signature), Some(seq)) => Some(MutableParts {
                key,
                signature,
                seq,
                salt: p.salt.clone().unwrap_or_default(),
            }),
            (None, None, None) => None,
            _ => return None,
        };
        Some(Self {
            value: p.value.clone(),
            mutable,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    const PUBLIC_KEY: &str = "77ff84905a91936367c01360803104f92432fcd904a43511876df5cdf3e7e548";

    fn vector_item(salt: &[u8], sig: &str) -> Item {
        Item {
            value: b"12:Hello World!".to_vec(),
            mutable: Some(MutableParts {
                key: hex(PUBLIC_KEY).try_into().unwrap(),
                signature: hex(sig).try_into().unwrap(),
                seq: 1,
                salt: salt.to_vec(),
            }),
        }
    }

    /// BEP 44 test vector 1: a mutable item without salt. (The BEP gives the
    /// private key in its expanded 64-byte form, so the vector is checked by
    /// verifying its signature, and our own signing by a round trip below.)
    #[test]
    fn bep44_vector_mutable_without_salt() {
        let item = vector_item(
            b"",
            concat!(
                "305ac8aeb6c9c151fa120f120ea2cfb923564e11552d06a5d856091e5e853cff",
                "1260d3f39e4999684aa92eb73ffd136e6f4f3ecbfda0ce53a1608ecd7ae21f01"
            ),
        );
        item.verify().unwrap();
        assert_eq!(
            item.target().to_string(),
            "4a533d47ec9c7d95b1ad75f576cffc641853b750"
        );
        assert_eq!(
            signed_bytes(b"", 1, b"12:Hello World!"),
            b"3:seqi1e1:v12:Hello World!"
        );
        let mut wrong_seq = item;
        wrong_seq.mutable.as_mut().unwrap().seq = 2;
        assert!(wrong_seq.verify().is_err());
    }

    /// BEP 44 test vector 2: the same with salt "foobar".
    #[test]
    fn bep44_vector_mutable_with_salt() {
        let item = vector_item(
            b"foobar",
            concat!(
                "6834284b6b24c3204eb2fea824d82f88883a3d95e8b4a21b8c0ded553d17d17d",
                "df9a8a7104b1258f30bed3787e6cb896fca78c58f8e03b5f18f14951a87d9a08"
            ),
        );
        item.verify().unwrap();
        assert_eq!(
            item.target().to_string(),
            "411eba73b6f087ca51a3795d9c8c938d365e32c1"
        );
        assert_eq!(
            signed_bytes(b"foobar", 1, b"12:Hello World!"),
            b"4:salt6:foobar3:seqi1e1:v12:Hello World!"
        );
    }

    #[test]
    fn our_signatures_verify() {
        let item = Item::sign_mutable(&[9u8; 32], b"salt", 42, b"l1:ae".to_vec()).unwrap();
        item.verify().unwrap();
        let back = Item::from_put(&item.to_put(None)).unwrap();
        assert_eq!(back, item);
    }

    /// BEP 44 test vector 3: an immutable item.
    #[test]
    fn bep44_vector_immutable() {
        let item = Item::immutable(b"12:Hello World!".to_vec()).unwrap();
        assert_eq!(
            item.target().to_string(),
            "e5f96f6f38320f0f33959cb4d3d656452117aadb"
        );
    }

    #[test]
    fn tampering_and_oversize_are_refused() {
        let seed = [7u8; 32];
        let mut item = Item::sign_mutable(&seed, b"s", 5, b"i1e".to_vec()).unwrap();
        item.value = b"i2e".to_vec();
        assert!(item.verify().is_err());
        let big = format!("1000:{}", "x".repeat(1000)).into_bytes();
        assert!(Item::immutable(big).is_err());
        assert!(Item::sign_mutable(&seed, &[0u8; 65], 1, b"i1e".to_vec()).is_err());
    }
}
