use core::fmt;
use core::ops::Range;

/// A decoded bencode value that borrows from its input.
///
/// Besides its content, every value keeps the exact bytes it was decoded
/// from ([`Value::raw`]): a metainfo reader hashes the `info` dictionary's raw
/// span, never a re-encoding, so a non-canonical torrent keeps its identity.
#[derive(Clone, PartialEq, Eq)]
pub struct Value<'a> {
    raw: &'a [u8],
    kind: Kind<'a>,
}

/// The content of a [`Value`].
#[derive(Clone, PartialEq, Eq)]
pub enum Kind<'a> {
    /// `i42e`
    Int(i64),
    /// `4:spam`, borrowed from the input.
    Bytes(&'a [u8]),
    /// `l...e`
    List(Vec<Value<'a>>),
    /// `d...e`
    Dict(Dict<'a>),
}

/// A decoded dictionary: entries in input order, with lookup by key.
///
/// Strictly decoded dictionaries are sorted, and lookups binary-search them.
/// A dictionary decoded in lenient mode may be unsorted or repeat a key;
/// lookups then scan it and **the first entry with a key wins**, as in
/// libtorrent. Canonical re-encoding ([`Encode`](crate::Encode)) keeps that same first entry.
#[derive(Clone, PartialEq, Eq)]
pub struct Dict<'a> {
    entries: Vec<(&'a [u8], Value<'a>)>,
    /// Keys strictly increasing: lookups may binary-search.
    sorted: bool,
}

impl<'a> Value<'a> {
    pub(crate) fn new(raw: &'a [u8], kind: Kind<'a>) -> Self {
        Self { raw, kind }
    }

    /// The bytes this value was decoded from, exactly as they were in the input.
    pub fn raw(&self) -> &'a [u8] {
        self.raw
    }

    /// Where [`Value::raw`] lies within `input`, when this value was decoded from `input`.
    pub fn span_in(&self, input: &[u8]) -> Option<Range<usize>> {
        // Address arithmetic only; nothing is dereferenced.
        let start = (self.raw.as_ptr() as usize).checked_sub(input.as_ptr() as usize)?;
        let end = start + self.raw.len();
        (end <= input.len()).then_some(start..end)
    }

    /// The content.
    pub fn kind(&self) -> &Kind<'a> {
        &self.kind
    }

    /// The content, by value.
    pub fn into_kind(self) -> Kind<'a> {
        self.kind
    }

    /// The integer, if this is one.
    pub fn as_int(&self) -> Option<i64> {
        match self.kind {
            Kind::Int(i) => Some(i),
            _ => None,
        }
    }

    /// The byte string, if this is one.
    pub fn as_bytes(&self) -> Option<&'a [u8]> {
        match self.kind {
            Kind::Bytes(b) => Some(b),
            _ => None,
        }
    }

    /// The byte string as UTF-8, if this is a byte string and valid UTF-8.
    pub fn as_str(&self) -> Option<&'a str> {
        self.as_bytes().and_then(|b| core::str::from_utf8(b).ok())
    }

    /// The items, if this is a list.
    pub fn as_list(&self) -> Option<&[Self]> {
        match &self.kind {
            Kind::List(items) => Some(items),
            _ => None,
        }
    }

    /// The dictionary, if this is one.
    pub fn as_dict(&self) -> Option<&Dict<'a>> {
        match &self.kind {
            Kind::Dict(d) => Some(d),
            _ => None,
        }
    }

    /// Shorthand for `self.as_dict()?.get(key)`.
    pub fn get(&self, key: impl AsRef<[u8]>) -> Option<&Self> {
        self.as_dict()?.get(key)
    }

    /// `"integer"`, `"byte string"`, `"list"` or `"dictionary"`, for messages.
    pub fn type_name(&self) -> &'static str {
        match self.kind {
            Kind::Int(_) => "integer",
            Kind::Bytes(_) => "byte string",
            Kind::List(_) => "list",
            Kind::Dict(_) => "dictionary",
        }
    }
}

impl<'a> Dict<'a> {
    pub(crate) fn new(entries: Vec<(&'a [u8], Value<'a>)>, sorted: bool) -> Self {
        Self { entries, sorted }
    }

    /// The value of the first entry whose key is `key`.
    pub fn get(&self, key: impl AsRef<[u8]>) -> Option<&Value<'a>> {
        let key = key.as_ref();
        if self.sorted {
            self.entries
                .binary_search_by(|(k, _)| (*k).cmp(key))
                .ok()
                .map(|i| &self.entries[i].1)
        } else {
            self.entries.iter().find(|(k, _)| *k == key).map(|(_, v)| v)
        }
    }

    /// Entries in input order (duplicates included, in lenient mode).
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (&'a [u8], &Value<'a>)> + '_ {
        self.entries.iter().map(|(k, v)| (*k, v))
    }

    /// Entries in input order.
    pub fn entries(&self) -> &[(&'a [u8], Value<'a>)] {
        &self.entries
    }

    /// Whether keys are strictly increasing (always true in strict mode).
    pub fn is_sorted(&self) -> bool {
        self.sorted
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

/// Byte strings print as text when they are printable UTF-8, as hex otherwise.
struct ShowBytes<'a>(&'a [u8]);

impl fmt::Debug for ShowBytes<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match core::str::from_utf8(self.0) {
            Ok(s) if !s.chars().any(char::is_control) => fmt::Debug::fmt(s, f),
            _ => {
                f.write_str("0x")?;
                for b in self.0.iter().take(64) {
                    write!(f, "{b:02x}")?;
                }
                if self.0.len() > 64 {
                    write!(f, "...({} bytes)", self.0.len())?;
                }
                Ok(())
            }
        }
    }
}

impl fmt::Debug for Value<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.kind, f)
    }
}

impl fmt::Debug for Kind<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Kind::Int(i) => fmt::Debug::fmt(i, f),
            Kind::Bytes(b) => fmt::Debug::fmt(&ShowBytes(b), f),
            Kind::List(items) => f.debug_list().entries(items).finish(),
            Kind::Dict(d) => fmt::Debug::fmt(d, f),
        }
    }
}

impl fmt::Debug for Dict<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(self.entries.iter().map(|(k, v)| (ShowBytes(k), v)))
            .finish()
    }
}
