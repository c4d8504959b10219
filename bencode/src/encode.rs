//! The canonical encoder: sorted keys, shortest integers, into any `BufMut`.

use std::collections::BTreeMap;

use bytes::{BufMut, Bytes};

use crate::value::{Dict, Kind, Value};

/// A value that can be written as bencode.
///
/// Integers, byte strings (`[u8]`, `str`, `Vec<u8>`, `Bytes`, ...), decoded
/// [`Value`]s, [`Raw`] pre-encoded bytes and the [`DictBuilder`] /
/// [`ListBuilder`] made by [`dict!`](crate::dict) and [`list!`](crate::list)
/// implement it.
///
/// ```
/// use bitswarm_bencode::{dict, list, Encode};
///
/// let announce = dict! {
///     "port" => 6881u16,
///     "info_hash" => &[0xaau8; 20][..],
///     "event" => "started",
///     "tiers" => list!["udp://a", "udp://b"],
/// };
/// // Keys come out sorted whatever order they were written in.
/// assert!(announce.to_bencode().starts_with(b"d5:event7:started9:info_hash20:"));
/// ```
pub trait Encode {
    /// Appends the bencoding of `self` to `out`.
    fn encode<B: BufMut + ?Sized>(&self, out: &mut B);

    /// The bencoding of `self` in a new `Vec`.
    fn to_bencode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode(&mut out);
        out
    }
}

/// Writes `i<n>e`.
pub(crate) fn put_int<B: BufMut + ?Sized>(out: &mut B, n: i64) {
    let mut buf = [0u8; 22];
    let mut pos = buf.len();
    pos -= 1;
    buf[pos] = b'e';
    let mut m = n.unsigned_abs();
    loop {
        pos -= 1;
        buf[pos] = b'0' + (m % 10) as u8;
        m /= 10;
        if m == 0 {
            break;
        }
    }
    if n < 0 {
        pos -= 1;
        buf[pos] = b'-';
    }
    pos -= 1;
    buf[pos] = b'i';
    out.put_slice(&buf[pos..]);
}

/// Writes `<len>:<bytes>`.
pub(crate) fn put_bytes<B: BufMut + ?Sized>(out: &mut B, bytes: &[u8]) {
    let mut buf = [0u8; 21];
    let mut pos = buf.len();
    pos -= 1;
    buf[pos] = b':';
    let mut m = bytes.len();
    loop {
        pos -= 1;
        buf[pos] = b'0' + (m % 10) as u8;
        m /= 10;
        if m == 0 {
            break;
        }
    }
    out.put_slice(&buf[pos..]);
    out.put_slice(bytes);
}

macro_rules! encode_int {
    ($($t:ty),*) => {$(
        impl Encode for $t {
            fn encode<B: BufMut + ?Sized>(&self, out: &mut B) {
                put_int(out, i64::from(*self));
            }
        }
    )*};
}
encode_int!(i8, i16, i32, i64, u16, u32);

macro_rules! encode_wide_int {
    ($($t:ty),*) => {$(
        /// Bencode integers have no width limit; values above `i64::MAX`
        /// are written in full (our decoder, like most, refuses them).
        impl Encode for $t {
            fn encode<B: BufMut + ?Sized>(&self, out: &mut B) {
                match i64::try_from(*self) {
                    Ok(n) => put_int(out, n),
                    Err(_) => {
                        out.put_u8(b'i');
                        out.put_slice(self.to_string().as_bytes());
                        out.put_u8(b'e');
                    }
                }
            }
        }
    )*};
}
encode_wide_int!(u64, usize, isize);

impl Encode for [u8] {
    fn encode<B: BufMut + ?Sized>(&self, out: &mut B) {
        put_bytes(out, self);
    }
}

impl<const N: usize> Encode for [u8; N] {
    fn encode<B: BufMut + ?Sized>(&self, out: &mut B) {
        put_bytes(out, self);
    }
}

impl Encode for Vec<u8> {
    fn encode<B: BufMut + ?Sized>(&self, out: &mut B) {
        put_bytes(out, self);
    }
}

impl Encode for Bytes {
    fn encode<B: BufMut + ?Sized>(&self, out: &mut B) {
        put_bytes(out, self);
    }
}

impl Encode for str {
    fn encode<B: BufMut + ?Sized>(&self, out: &mut B) {
        put_bytes(out, self.as_bytes());
    }
}

impl Encode for String {
    fn encode<B: BufMut + ?Sized>(&self, out: &mut B) {
        put_bytes(out, self.as_bytes());
    }
}

impl<T: Encode + ?Sized> Encode for &T {
    fn encode<B: BufMut + ?Sized>(&self, out: &mut B) {
        (**self).encode(out);
    }
}

impl Encode for Value<'_> {
    /// Canonical re-encoding. A strictly decoded value gives back exactly its
    /// input; a leniently decoded dictionary comes out sorted, keeping the
    /// first entry of a repeated key. To keep the original bytes, use
    /// [`Raw`] with [`Value::raw`].
    fn encode<B: BufMut + ?Sized>(&self, out: &mut B) {
        match self.kind() {
            Kind::Int(i) => put_int(out, *i),
            Kind::Bytes(b) => put_bytes(out, b),
            Kind::List(items) => {
                out.put_u8(b'l');
                for item in items {
                    item.encode(out);
                }
                out.put_u8(b'e');
            }
            Kind::Dict(d) => d.encode(out),
        }
    }

    /// In a vector sized from the value's input span: exact for a strictly
    /// decoded value, close for a lenient one.
    fn to_bencode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.raw().len());
        self.encode(&mut out);
        out
    }
}

impl Encode for Dict<'_> {
    fn encode<B: BufMut + ?Sized>(&self, out: &mut B) {
        out.put_u8(b'd');
        if self.is_sorted() {
            for (k, v) in self.iter() {
                put_bytes(out, k);
                v.encode(out);
            }
        } else {
            // Stable sort keeps input order among equal keys: the first wins.
            let mut entries: Vec<_> = self.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            entries.dedup_by(|later, earlier| later.0 == earlier.0);
            for (k, v) in entries {
                put_bytes(out, k);
                v.encode(out);
            }
        }
        out.put_u8(b'e');
    }
}

/// Bytes that are already bencode, written as they are.
///
/// Use it to embed a value whose exact bytes matter, such as an `info`
/// dictionary whose hash is the torrent's identity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Raw<'a>(pub &'a [u8]);

impl Encode for Raw<'_> {
    fn encode<B: BufMut + ?Sized>(&self, out: &mut B) {
        out.put_slice(self.0);
    }
}

/// A dictionary under construction: entries in any order, written sorted.
///
/// Inserting a key again replaces its value. Usually made with [`dict!`](crate::dict).
///
/// ```
/// use bitswarm_bencode::{DictBuilder, Encode};
///
/// let mut d = DictBuilder::new();
/// d.insert("b", 2).insert("a", "x");
/// assert_eq!(d.to_bencode(), b"d1:a1:x1:bi2ee");
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DictBuilder {
    entries: BTreeMap<Vec<u8>, Vec<u8>>,
}

impl DictBuilder {
    /// An empty dictionary.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets `key` to `value`, replacing any earlier value.
    pub fn insert(&mut self, key: impl AsRef<[u8]>, value: impl Encode) -> &mut Self {
        self.entries
            .insert(key.as_ref().to_vec(), value.to_bencode());
        self
    }

    /// Sets `key` only when `value` is `Some`.
    pub fn insert_opt<V: Encode>(&mut self, key: impl AsRef<[u8]>, value: Option<V>) -> &mut Self {
        if let Some(v) = value {
            self.insert(key, v);
        }
        self
    }

    /// The number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when there are no entries.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

impl Encode for DictBuilder {
    fn encode<B: BufMut + ?Sized>(&self, out: &mut B) {
        out.put_u8(b'd');
        for (k, v) in &self.entries {
            put_bytes(out, k);
            out.put_slice(v);
        }
        out.put_u8(b'e');
    }
}

/// A list under construction. Usually made with [`list!`](crate::list).
///
/// ```
/// use bitswarm_bencode::{Encode, ListBuilder};
///
/// let tiers: ListBuilder = ["udp://a", "udp://b"].into_iter().collect();
/// assert_eq!(tiers.to_bencode(), b"l7:udp://a7:udp://be");
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListBuilder {
    encoded: Vec<u8>,
    len: usize,
}

impl ListBuilder {
    /// An empty list.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends an item.
    pub fn push(&mut self, item: impl Encode) -> &mut Self {
        item.encode(&mut self.encoded);
        self.len += 1;
        self
    }

    /// The number of items.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when there are no items.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl<T: Encode> FromIterator<T> for ListBuilder {
    fn from_iter<I: IntoIterator<Item = T>>(iter: I) -> Self {
        let mut list = Self::new();
        for item in iter {
            list.push(item);
        }
        list
    }
}

impl Encode for ListBuilder {
    fn encode<B: BufMut + ?Sized>(&self, out: &mut B) {
        out.put_u8(b'l');
        out.put_slice(&self.encoded);
        out.put_u8(b'e');
    }
}

/// Builds a [`DictBuilder`]: `dict! { "key" => value, ... }`, values being
/// anything that implements [`Encode`].
#[macro_export]
macro_rules! dict {
    ($($key:expr => $value:expr),* $(,)?) => {{
        let mut d = $crate::DictBuilder::new();
        $( d.insert($key, $value); )*
        d
    }};
}

/// Builds a [`ListBuilder`]: `list![a, b, ...]`, items being anything that
/// implements [`Encode`].
#[macro_export]
macro_rules! list {
    ($($item:expr),* $(,)?) => {{
        let mut l = $crate::ListBuilder::new();
        $( l.push($item); )*
        l
    }};
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_are_shortest() {
        assert_eq!(0i64.to_bencode(), b"i0e");
        assert_eq!((-1i32).to_bencode(), b"i-1e");
        assert_eq!(i64::MIN.to_bencode(), b"i-9223372036854775808e");
        assert_eq!(i64::MAX.to_bencode(), b"i9223372036854775807e");
        assert_eq!(u64::MAX.to_bencode(), b"i18446744073709551615e");
    }

    #[test]
    fn byte_strings() {
        assert_eq!("".to_bencode(), b"0:");
        assert_eq!(b"spam".to_bencode(), b"4:spam");
        assert_eq!(vec![0u8; 10].to_bencode()[..3], *b"10:");
    }

    #[test]
    fn builders_sort_and_nest() {
        let v = dict! {
            "zeta" => 1,
            "alpha" => list![1, "two", dict! { "x" => 0 }],
        };
        assert_eq!(v.to_bencode(), b"d5:alphali1e3:twod1:xi0eee4:zetai1ee");
    }

    #[test]
    fn raw_is_verbatim() {
        let v = dict! { "info" => Raw(b"d1:ai1ee") };
        assert_eq!(v.to_bencode(), b"d4:infod1:ai1eee");
    }
}
