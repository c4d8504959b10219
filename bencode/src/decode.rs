//! The decoder: iterative (an explicit stack, no recursion), borrowing every
//! byte string from the input.

mod fast;

use crate::Error;
use crate::value::{Dict, Kind, Value};

/// How strictly to read, and the limits that bound the work done on hostile input.
///
/// ```
/// use bitswarm_bencode::{DecodeOptions, Mode, Tolerated};
///
/// // Real-world torrents sometimes have unsorted keys: read them anyway,
/// // and learn what was let through.
/// let opts = DecodeOptions { mode: Mode::Lenient, ..DecodeOptions::default() };
/// let decoded = opts.decode(b"d1:bi1e1:ai2ee")?;
/// assert_eq!(decoded.value.get("a").and_then(|v| v.as_int()), Some(2));
/// assert_eq!(decoded.tolerated, [Tolerated::UnsortedKey { offset: 7 }]);
/// # Ok::<(), bitswarm_bencode::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeOptions {
    /// Strict (the default) or lenient about dictionary key order.
    pub mode: Mode,
    /// How deeply lists and dictionaries may nest; a top-level list is depth 1.
    /// Values above [`DecodeOptions::HARD_MAX_DEPTH`] count as that: dropping,
    /// printing and encoding a [`Value`] recurse, so depth must stay bounded.
    pub max_depth: usize,
    /// The longest byte string accepted.
    pub max_bytes_len: usize,
    /// The most values (integers, byte strings, lists and dictionaries;
    /// dictionary keys not counted) in one input. Each decoded value takes
    /// memory several times its two-byte minimum encoding, so the input
    /// length alone does not bound the memory a hostile input costs.
    pub max_values: usize,
}

/// How a decoder treats dictionaries whose keys are out of order or repeated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    /// Everything BEP 3 forbids is an error. Strictly decoded values re-encode
    /// to exactly their input.
    #[default]
    Strict,
    /// Unsorted and duplicate dictionary keys are accepted and listed in
    /// [`Decoded::tolerated`]; for a repeated key, the first entry wins.
    /// Every other rule stays strict.
    Lenient,
}

/// What lenient mode let through, with where.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Tolerated {
    /// A dictionary key smaller than the key before it.
    UnsortedKey {
        /// Offset of the key.
        offset: usize,
    },
    /// A dictionary key that appeared earlier in the same dictionary.
    DuplicateKey {
        /// Offset of the later occurrence.
        offset: usize,
    },
}

/// A decoded value with what lenient mode tolerated (always empty in strict mode).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decoded<'a> {
    /// The value.
    pub value: Value<'a>,
    /// Deviations from BEP 3 that were accepted, in the order they were found
    /// (a key that repeats a non-adjacent one is found when its dictionary closes).
    pub tolerated: Vec<Tolerated>,
}

impl DecodeOptions {
    /// The default nesting limit. Real torrents and KRPC messages nest at most
    /// five or six levels.
    pub const DEFAULT_MAX_DEPTH: usize = 64;
    /// The deepest nesting any options allow, whatever `max_depth` says.
    pub const HARD_MAX_DEPTH: usize = 512;
    /// The default longest byte string: 64 MiB, well above the `pieces` string
    /// of a 100 GiB torrent with 256 KiB pieces (8 MB).
    pub const DEFAULT_MAX_BYTES_LEN: usize = 64 << 20;
    /// The default most values: 4,194,304, above the largest real torrents
    /// (half a million files take about 2.6 million values) and KRPC
    /// messages by far; at most a few hundred MB of decoded values.
    pub const DEFAULT_MAX_VALUES: usize = 1 << 22;

    /// Decodes exactly one value that spans the whole input.
    pub fn decode<'a>(&self, input: &'a [u8]) -> Result<Decoded<'a>, Error> {
        let (decoded, consumed) = self.decode_prefix(input)?;
        if consumed != input.len() {
            return Err(Error::TrailingBytes { offset: consumed });
        }
        Ok(decoded)
    }

    /// Decodes one value at the start of `input` and returns it with the
    /// number of bytes it took; what follows is left alone (BEP 9 sends a
    /// piece of metadata right after a bencoded dictionary).
    pub fn decode_prefix<'a>(&self, input: &'a [u8]) -> Result<(Decoded<'a>, usize), Error> {
        // Valid input is read by the fast path alone; anything else, by the
        // checked parser, which gives the exact error or what lenient mode
        // tolerated.
        match fast::decode(input, self) {
            Some((value, consumed)) => {
                // Under the fuzzer, every fast answer is checked against the
                // checked parser.
                #[cfg(fuzzing)]
                match self.decode_prefix_checked(input) {
                    Ok((checked, n)) => {
                        assert_eq!((&checked.value, n), (&value, consumed), "fast path differs");
                        assert!(checked.tolerated.is_empty(), "fast path tolerated");
                    }
                    Err(e) => panic!("fast path accepted what is {e}"),
                }
                let tolerated = Vec::new();
                Ok((Decoded { value, tolerated }, consumed))
            }
            None => self.decode_prefix_checked(input),
        }
    }

    /// [`DecodeOptions::decode_prefix`] by the checked parser alone.
    fn decode_prefix_checked<'a>(&self, input: &'a [u8]) -> Result<(Decoded<'a>, usize), Error> {
        let mut parser = Parser {
            input,
            pos: 0,
            opts: self,
            tolerated: Vec::new(),
            values: 0,
        };
        let value = parser.value()?;
        Ok((
            Decoded {
                value,
                tolerated: parser.tolerated,
            },
            parser.pos,
        ))
    }
}

impl Default for DecodeOptions {
    fn default() -> Self {
        Self {
            mode: Mode::Strict,
            max_depth: Self::DEFAULT_MAX_DEPTH,
            max_bytes_len: Self::DEFAULT_MAX_BYTES_LEN,
            max_values: Self::DEFAULT_MAX_VALUES,
        }
    }
}

/// Decodes one strict bencode value that spans all of `input`, with the
/// default limits.
///
/// ```
/// let value = bitswarm_bencode::decode(b"d4:spaml1:a1:bee")?;
/// let spam = value.get("spam").and_then(|v| v.as_list()).unwrap();
/// assert_eq!(spam[1].as_bytes(), Some(&b"b"[..]));
/// assert_eq!(value.get("spam").unwrap().raw(), b"l1:a1:be");
/// # Ok::<(), bitswarm_bencode::Error>(())
/// ```
pub fn decode(input: &[u8]) -> Result<Value<'_>, Error> {
    DecodeOptions::default().decode(input).map(|d| d.value)
}

/// Decodes one strict value at the start of `input`, returning it and the
/// number of bytes consumed.
///
/// ```
/// // A BEP 9 `data` message: a dictionary, then raw metadata bytes.
/// let msg = b"d8:msg_typei1e5:piecei0ee<metadata>";
/// let (header, used) = bitswarm_bencode::decode_prefix(msg)?;
/// assert_eq!(header.get("piece").and_then(|v| v.as_int()), Some(0));
/// assert_eq!(&msg[used..], b"<metadata>");
/// # Ok::<(), bitswarm_bencode::Error>(())
/// ```
pub fn decode_prefix(input: &[u8]) -> Result<(Value<'_>, usize), Error> {
    DecodeOptions::default()
        .decode_prefix(input)
        .map(|(d, n)| (d.value, n))
}

/// An open list or dictionary on the decoder's stack.
enum Frame<'a> {
    List {
        start: usize,
        items: Vec<Value<'a>>,
    },
    Dict {
        start: usize,
        entries: Vec<(&'a [u8], Value<'a>)>,
        /// The key read, waiting for its value.
        key: Option<&'a [u8]>,
        /// No key so far has been out of order or repeated.
        sorted: bool,
    },
}

struct Parser<'a, 'o> {
    input: &'a [u8],
    pos: usize,
    opts: &'o DecodeOptions,
    tolerated: Vec<Tolerated>,
    /// Values started so far, against `opts.max_values`.
    values: usize,
}

impl<'a> Parser<'a, '_> {
    fn peek(&self, expected: &'static str) -> Result<u8, Error> {
        self.input
            .get(self.pos)
            .copied()
            .ok_or(Error::UnexpectedEof {
                offset: self.pos,
                expected,
            })
    }

    /// Reads one complete value at `pos`.
    fn value(&mut self) -> Result<Value<'a>, Error> {
        let mut stack: Vec<Frame<'a>> = Vec::new();
        loop {
            // Inside a dictionary with no pending key: a key or the end comes next.
            if let Some(Frame::Dict {
                entries,
                key: key @ None,
                sorted,
                ..
            }) = stack.last_mut()
            {
                let offset = self.pos;
                match self.peek("a dictionary key or 'e'")? {
                    b'e' => {}
                    b'0'..=b'9' => {
                        let k = self.bytes()?;
                        if let Some((prev, _)) = entries.last() {
                            if k <= *prev {
                                self.out_of_order(k == *prev, offset)?;
                                *sorted = false;
                            }
                        }
                        *key = Some(k);
                        continue;
                    }
                    found => {
                        return Err(Error::UnexpectedByte {
                            offset,
                            found,
                            expected: "a byte-string dictionary key or 'e'",
                        });
                    }
                }
            }

            let start = self.pos;
            let first = self.peek("a value")?;
            if first != b'e' {
                self.values += 1;
                if self.values > self.opts.max_values {
                    return Err(Error::TooManyValues {
                        offset: start,
                        limit: self.opts.max_values,
                    });
                }
            }
            let value = match first {
                b'i' => {
                    let i = self.int()?;
                    Value::new(&self.input[start..self.pos], Kind::Int(i))
                }
                b'0'..=b'9' => {
                    let b = self.bytes()?;
                    Value::new(&self.input[start..self.pos], Kind::Bytes(b))
                }
                open @ (b'l' | b'd') => {
                    let limit = self.opts.max_depth.min(DecodeOptions::HARD_MAX_DEPTH);
                    if stack.len() >= limit {
                        return Err(Error::DepthLimit {
                            offset: start,
                            limit,
                        });
                    }
                    self.pos += 1;
                    stack.push(if open == b'l' {
                        Frame::List {
                            start,
                            items: Vec::new(),
                        }
                    } else {
                        Frame::Dict {
                            start,
                            entries: Vec::new(),
                            key: None,
                            sorted: true,
                        }
                    });
                    continue;
                }
                b'e' if matches!(
                    stack.last(),
                    Some(Frame::List { .. } | Frame::Dict { key: None, .. })
                ) =>
                {
                    self.pos += 1;
                    match stack.pop() {
                        Some(Frame::List { start, items }) => {
                            Value::new(&self.input[start..self.pos], Kind::List(items))
                        }
                        Some(Frame::Dict {
                            start,
                            entries,
                            sorted,
                            ..
                        }) => {
                            if !sorted {
                                self.note_later_duplicates(&entries);
                            }
                            Value::new(
                                &self.input[start..self.pos],
                                Kind::Dict(Dict::new(entries, sorted)),
                            )
                        }
                        None => unreachable!("checked by the match guard"),
                    }
                }
                found => {
                    return Err(Error::UnexpectedByte {
                        offset: start,
                        found,
                        expected: "'i', 'l', 'd' or a digit",
                    });
                }
            };

            match stack.last_mut() {
                None => return Ok(value),
                Some(Frame::List { items, .. }) => items.push(value),
                Some(Frame::Dict { entries, key, .. }) => {
                    // A dictionary only takes a value once its key is read.
                    if let Some(k) = key.take() {
                        entries.push((k, value));
                    }
                }
            }
        }
    }

    /// A key equal to or smaller than its predecessor: an error in strict
    /// mode, noted in lenient mode.
    fn out_of_order(&mut self, duplicate: bool, offset: usize) -> Result<(), Error> {
        match (self.opts.mode, duplicate) {
            (Mode::Strict, true) => Err(Error::DuplicateKey { offset }),
            (Mode::Strict, false) => Err(Error::UnsortedKey { offset }),
            (Mode::Lenient, true) => {
                self.tolerated.push(Tolerated::DuplicateKey { offset });
                Ok(())
            }
            (Mode::Lenient, false) => {
                self.tolerated.push(Tolerated::UnsortedKey { offset });
                Ok(())
            }
        }
    }

    /// In an unsorted dictionary a key may repeat one that is not its
    /// immediate predecessor; note those (only lenient mode gets here).
    fn note_later_duplicates(&mut self, entries: &[(&'a [u8], Value<'a>)]) {
        let mut keys: Vec<(&[u8], usize)> = entries
            .iter()
            .enumerate()
            .map(|(i, (k, _))| (*k, i))
            .collect();
        keys.sort_unstable();
        let mut found: Vec<usize> = keys
            .windows(2)
            // Repeats of the immediately preceding key were noted when read.
            .filter(|w| w[0].0 == w[1].0 && w[1].1 != w[0].1 + 1)
            .map(|w| self.key_offset(w[1].0))
            .collect();
        found.sort_unstable();
        self.tolerated.extend(
            found
                .into_iter()
                .map(|offset| Tolerated::DuplicateKey { offset }),
        );
    }

    /// The offset of the length prefix of `key`, a slice of the input.
    fn key_offset(&self, key: &[u8]) -> usize {
        let content = key.as_ptr() as usize - self.input.as_ptr() as usize;
        content - 1 - key.len().checked_ilog10().map_or(1, |d| d as usize + 1)
    }

    /// `i<digits>e` at `pos`.
    fn int(&mut self) -> Result<i64, Error> {
        let start = self.pos;
        self.pos += 1; // 'i'
        let negative = self.input.get(self.pos) == Some(&b'-');
        if negative {
            self.pos += 1;
        }
        let digits_start = self.pos;
        let mut n: i64 = 0;
        while let Some(&c) = self.input.get(self.pos) {
            if !c.is_ascii_digit() {
                break;
            }
            // Accumulate negatively so that i64::MIN fits.
            n = n
                .checked_mul(10)
                .and_then(|n| n.checked_sub(i64::from(c - b'0')))
                .ok_or(Error::NumberOverflow {
                    offset: digits_start,
                })?;
            self.pos += 1;
        }
        let digits = &self.input[digits_start..self.pos];
        match self.input.get(self.pos) {
            Some(b'e') => {}
            Some(&found) => {
                return Err(Error::UnexpectedByte {
                    offset: self.pos,
                    found,
                    expected: if digits.is_empty() && !negative {
                        "a digit or '-'"
                    } else {
                        "a digit or 'e'"
                    },
                });
            }
            None => {
                return Err(Error::UnexpectedEof {
                    offset: self.pos,
                    expected: "a digit or 'e'",
                });
            }
        }
        if digits.is_empty() {
            return Err(Error::EmptyInteger { offset: start });
        }
        if digits[0] == b'0' {
            if negative {
                return Err(Error::NegativeZero { offset: start + 1 });
            }
            if digits.len() > 1 {
                return Err(Error::LeadingZero {
                    offset: digits_start,
                });
            }
        }
        self.pos += 1; // 'e'
        if negative {
            Ok(n)
        } else {
            n.checked_neg().ok_or(Error::NumberOverflow {
                offset: digits_start,
            })
        }
    }

    /// `<length>:<bytes>` at `pos`, which holds a digit.
    fn bytes(&mut self) -> Result<&'a [u8], Error> {
        let start = self.pos;
        let mut len: usize = 0;
        while let Some(&c) = self.input.get(self.pos) {
            if !c.is_ascii_digit() {
                break;
            }
            len = len
                .checked_mul(10)
                .and_then(|n| n.checked_add(usize::from(c - b'0')))
                .ok_or(Error::NumberOverflow { offset: start })?;
            self.pos += 1;
        }
        if self.input[start] == b'0' && self.pos - start > 1 {
            return Err(Error::LeadingZero { offset: start });
        }
        match self.input.get(self.pos) {
            Some(b':') => self.pos += 1,
            Some(&found) => {
                return Err(Error::UnexpectedByte {
                    offset: self.pos,
                    found,
                    expected: "a digit or ':'",
                });
            }
            None => {
                return Err(Error::UnexpectedEof {
                    offset: self.pos,
                    expected: "a digit or ':'",
                });
            }
        }
        if len > self.opts.max_bytes_len {
            return Err(Error::BytesTooLong {
                offset: start,
                length: len,
                limit: self.opts.max_bytes_len,
            });
        }
        let available = self.input.len() - self.pos;
        if len > available {
            return Err(Error::LengthPastEnd {
                offset: start,
                length: len,
                available,
            });
        }
        let b = &self.input[self.pos..self.pos + len];
        self.pos += len;
        Ok(b)
    }
}
