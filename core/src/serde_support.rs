//! Shared pieces of the `serde` feature.

use core::fmt;
use serde::de::{Deserialize, Deserializer, SeqAccess, Visitor};

/// The largest identifier any core type holds (a v2 info-hash is 32 bytes).
const MAX_ID_LEN: usize = 32;

/// A short byte string read from a byte-string or a sequence of `u8`,
/// refused past [`MAX_ID_LEN`] so a hostile input cannot make it grow.
pub(crate) struct ByteBuf(pub(crate) Vec<u8>);

impl<'de> Deserialize<'de> for ByteBuf {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct BytesVisitor;

        impl<'de> Visitor<'de> for BytesVisitor {
            type Value = ByteBuf;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "a byte string of at most {MAX_ID_LEN} bytes")
            }

            fn visit_bytes<E: serde::de::Error>(self, v: &[u8]) -> Result<ByteBuf, E> {
                if v.len() > MAX_ID_LEN {
                    return Err(E::invalid_length(v.len(), &self));
                }
                Ok(ByteBuf(v.to_vec()))
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<ByteBuf, A::Error> {
                let mut out = Vec::new();
                while let Some(b) = seq.next_element::<u8>()? {
                    if out.len() == MAX_ID_LEN {
                        return Err(serde::de::Error::invalid_length(out.len() + 1, &self));
                    }
                    out.push(b);
                }
                Ok(ByteBuf(out))
            }
        }

        d.deserialize_bytes(BytesVisitor)
    }
}
