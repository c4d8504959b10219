//! serde support: `to_bytes` writes canonical bencode, `from_bytes` reads
//! through the strict decoder and borrows `&[u8]` / `&str` fields.
//!
//! Mapping: integers ↔ bencode integers (`bool` as 0/1); strings, chars and
//! bytes ↔ byte strings; sequences and tuples ↔ lists; maps and structs ↔
//! dictionaries (keys sorted on output); `None` fields are left out; unit
//! enum variants ↔ their name; other variants ↔ `{name: content}`. Floats
//! and unit values have no bencode form and are an [`Error::Unsupported`].
//!
//! `Vec<u8>` and `&[u8]` serialize as lists of integers unless marked
//! `#[serde(with = "serde_bytes")]`, as with every serde format.

mod de;
mod ser;

use crate::{Error, Value};

/// Serializes `value` as canonical bencode.
///
/// ```
/// #[derive(serde::Serialize)]
/// struct Announce<'a> {
///     port: u16,
///     #[serde(with = "serde_bytes")]
///     info_hash: &'a [u8],
///     event: Option<&'a str>,
/// }
///
/// let bytes = bitswarm_bencode::to_bytes(&Announce { port: 6881, info_hash: b"12345678901234567890", event: None })?;
/// assert_eq!(bytes, b"d9:info_hash20:123456789012345678904:porti6881ee");
/// # Ok::<(), bitswarm_bencode::Error>(())
/// ```
pub fn to_bytes<T: ::serde::Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, Error> {
    let mut out = Vec::new();
    value.serialize(ser::Serializer::new(&mut out))?;
    if out.is_empty() {
        return Err(Error::Unsupported("None as the whole value"));
    }
    Ok(out)
}

/// Deserializes a `T` from strict bencode, borrowing byte strings from `input`.
///
/// ```
/// #[derive(serde::Deserialize, Debug, PartialEq)]
/// struct File<'a> {
///     length: u64,
///     #[serde(borrow)]
///     path: Vec<&'a str>,
/// }
///
/// let f: File = bitswarm_bencode::from_bytes(b"d6:lengthi5e4:pathl1:a5:b.txtee")?;
/// assert_eq!(f, File { length: 5, path: vec!["a", "b.txt"] });
/// # Ok::<(), bitswarm_bencode::Error>(())
/// ```
pub fn from_bytes<'de, T: ::serde::Deserialize<'de>>(input: &'de [u8]) -> Result<T, Error> {
    let value = crate::decode(input)?;
    from_value(&value)
}

/// Deserializes a `T` from an already decoded [`Value`].
pub fn from_value<'de, T: ::serde::Deserialize<'de>>(value: &Value<'de>) -> Result<T, Error> {
    T::deserialize(de::Deserializer::new(value))
}

impl ::serde::ser::Error for Error {
    fn custom<T: core::fmt::Display>(msg: T) -> Self {
        Self::Custom(msg.to_string())
    }
}

impl ::serde::de::Error for Error {
    fn custom<T: core::fmt::Display>(msg: T) -> Self {
        Self::Custom(msg.to_string())
    }
}
