//! The fast path of the decoder.
//!
//! It reads input that is valid strict bencode, with every dictionary's keys
//! strictly increasing, and gives up (`None`) at the first thing that is
//! not: an error, an unsorted or repeated key, a limit reached, a number
//! longer than 18 digits. The checked parser in the parent module then reads
//! the same input from the start and says exactly what is wrong, or what
//! lenient mode tolerated. Valid input, the common case, is thus read once,
//! by a loop that keeps its state in locals and never builds an error.
//!
//! The children of every open list or dictionary wait in one scratch vector
//! shared by all depths and move into a vector of exactly their number when
//! their container closes: one allocation per non-empty list or dictionary,
//! none per byte string, no regrowth of what is returned, and besides those
//! only the scratch vector (the stack of open containers stays in place up
//! to eight levels deep). A strings-and-integers walk like this, with no
//! error built and no tolerance noted, is what makes valid input cheap; the
//! allocations of the returned value are most of what remains.

use super::DecodeOptions;
use crate::value::{Dict, Kind, Value};

/// An open list or dictionary.
#[derive(Clone, Copy)]
struct Open<'a> {
    /// Offset of its `l` or `d`.
    start: usize,
    /// Where its children begin in the `children` scratch vector.
    base: usize,
    /// In a dictionary, the last key read: the one whose value is being
    /// read, and the one the next key must be greater than.
    key: &'a [u8],
    dict: bool,
}

/// The stack of open containers: the first [`Frames::INLINE`] levels in
/// place, deeper ones on the heap, so that reading a message of ordinary
/// depth allocates nothing for it.
struct Frames<'a> {
    inline: [Open<'a>; Frames::INLINE],
    /// Levels in use in `inline`; all of them while `deeper` is not empty.
    len: usize,
    deeper: Vec<Open<'a>>,
}

impl<'a> Frames<'a> {
    const INLINE: usize = 8;
    const UNUSED: Open<'static> = Open {
        start: 0,
        base: 0,
        key: &[],
        dict: false,
    };

    fn new() -> Self {
        Self {
            inline: [Self::UNUSED; Self::INLINE],
            len: 0,
            deeper: Vec::new(),
        }
    }

    fn depth(&self) -> usize {
        self.len + self.deeper.len()
    }

    fn push(&mut self, open: Open<'a>) {
        if self.len < Self::INLINE {
            self.inline[self.len] = open;
            self.len += 1;
        } else {
            self.deeper.push(open);
        }
    }

    fn top(&mut self) -> Option<&mut Open<'a>> {
        match self.deeper.last_mut() {
            Some(top) => Some(top),
            None => self.inline[..self.len].last_mut(),
        }
    }

    fn pop(&mut self) {
        if self.deeper.pop().is_none() {
            self.len = self.len.saturating_sub(1);
        }
    }
}

/// Numbers of at most this many decimal digits fit an `i64` and a `u64`
/// with no check; longer ones are left to the checked parser.
const SAFE_DIGITS: usize = 18;

/// The run of decimal digits at `pos`: its value and where it ends. The
/// value is meaningful only when the run is at most [`SAFE_DIGITS`] long.
#[inline(always)]
fn digits_at(input: &[u8], mut pos: usize) -> (u64, usize) {
    let mut n: u64 = 0;
    while let Some(&c) = input.get(pos) {
        let d = c.wrapping_sub(b'0');
        if d > 9 {
            break;
        }
        n = n.wrapping_mul(10).wrapping_add(u64::from(d));
        pos += 1;
    }
    (n, pos)
}

/// `i<digits>e` at `pos`: the integer and the offset after the `e`.
#[inline(always)]
fn int_at(input: &[u8], pos: usize) -> Option<(i64, usize)> {
    let negative = input.get(pos + 1) == Some(&b'-');
    let digits = pos + 1 + usize::from(negative);
    let (n, end) = digits_at(input, digits);
    let count = end - digits;
    if count == 0 || count > SAFE_DIGITS || input.get(end) != Some(&b'e') {
        return None;
    }
    // No leading zero, no `-0`.
    if input[digits] == b'0' && (count > 1 || negative) {
        return None;
    }
    // Below 10^18: fits either way.
    let n = n as i64;
    Some((if negative { -n } else { n }, end + 1))
}

/// `<length>:<bytes>` at `pos`: the bytes and the offset after them.
#[inline(always)]
fn bytes_at(input: &[u8], pos: usize, max_len: usize) -> Option<(&[u8], usize)> {
    // Most lengths are one digit (keys) or two (ids, hashes, peers).
    let (len, colon) = match input.get(pos..pos + 3) {
        Some(&[d, b':', _]) if d.is_ascii_digit() => (u64::from(d - b'0'), pos + 1),
        Some(&[d @ b'1'..=b'9', e @ b'0'..=b'9', b':']) => {
            (u64::from(d - b'0') * 10 + u64::from(e - b'0'), pos + 2)
        }
        _ => digits_at(input, pos),
    };
    let count = colon - pos;
    if count == 0 || count > SAFE_DIGITS || input.get(colon) != Some(&b':') {
        return None;
    }
    if input[pos] == b'0' && count > 1 {
        return None;
    }
    let len = usize::try_from(len).ok().filter(|&len| len <= max_len)?;
    let start = colon + 1;
    let end = start.checked_add(len)?;
    Some((input.get(start..end)?, end))
}

/// Reads one value at the start of `input` and returns it with the number
/// of bytes it took, or `None` where the checked parser must decide.
pub(super) fn decode<'a>(input: &'a [u8], opts: &DecodeOptions) -> Option<(Value<'a>, usize)> {
    let limit = opts.max_depth.min(DecodeOptions::HARD_MAX_DEPTH);
    let max_len = opts.max_bytes_len;
    let mut stack = Frames::new();
    // The children of open containers; a list's items with an empty key.
    let mut children: Vec<(&'a [u8], Value<'a>)> = Vec::with_capacity(16);
    let mut pos = 0;
    let mut values = 0usize;
    'value: loop {
        // A value starts at `pos`.
        let start = pos;
        values += 1;
        if values > opts.max_values {
            return None;
        }
        let mut value = match *input.get(pos)? {
            b'0'..=b'9' => {
                let (bytes, end) = bytes_at(input, pos, max_len)?;
                pos = end;
                Value::new(&input[start..pos], Kind::Bytes(bytes))
            }
            b'i' => {
                let (n, end) = int_at(input, pos)?;
                pos = end;
                Value::new(&input[start..pos], Kind::Int(n))
            }
            b'l' => {
                if stack.depth() >= limit {
                    return None;
                }
                pos += 1;
                if *input.get(pos)? == b'e' {
                    pos += 1;
                    Value::new(&input[start..pos], Kind::List(Vec::new()))
                } else {
                    stack.push(Open {
                        start,
                        base: children.len(),
                        key: &[],
                        dict: false,
                    });
                    continue 'value;
                }
            }
            b'd' => {
                if stack.depth() >= limit {
                    return None;
                }
                pos += 1;
                match *input.get(pos)? {
                    b'e' => {
                        pos += 1;
                        Value::new(&input[start..pos], Kind::Dict(Dict::new(Vec::new(), true)))
                    }
                    b'0'..=b'9' => {
                        let (key, end) = bytes_at(input, pos, max_len)?;
                        pos = end;
                        stack.push(Open {
                            start,
                            base: children.len(),
                            key,
                            dict: true,
                        });
                        continue 'value;
                    }
                    _ => return None,
                }
            }
            _ => return None,
        };

        // Hand the value to its container; each container that this
        // completes is handed on to its own in turn.
        loop {
            let Some(top) = stack.top() else {
                return Some((value, pos));
            };
            let kind = if top.dict {
                children.push((top.key, value));
                match *input.get(pos)? {
                    b'e' => {}
                    b'0'..=b'9' => {
                        let (key, end) = bytes_at(input, pos, max_len)?;
                        if key <= top.key {
                            return None;
                        }
                        top.key = key;
                        pos = end;
                        continue 'value;
                    }
                    _ => return None,
                }
                let entries = if top.base > 0 {
                    children.split_off(top.base)
                } else {
                    // Not `split_off(0)` nor `mem::take`: either would hand
                    // the value the scratch vector's whole capacity.
                    children.drain(top.base..).collect()
                };
                Kind::Dict(Dict::new(entries, true))
            } else {
                children.push((&[], value));
                if *input.get(pos)? != b'e' {
                    continue 'value;
                }
                Kind::List(children.drain(top.base..).map(|(_, item)| item).collect())
            };
            pos += 1;
            let start = top.start;
            stack.pop();
            value = Value::new(&input[start..pos], kind);
        }
    }
}

#[cfg(test)]
mod tests {
    //! The fast path against the checked parser: wherever the fast path
    //! answers, the checked parser must give the same value and length with
    //! nothing tolerated; and on canonical input it must answer.

    use proptest::prelude::*;

    use super::decode;
    use crate::{DecodeOptions, Mode};

    /// Checks the fast path on `input`, and says whether it answered.
    fn agrees(input: &[u8], opts: &DecodeOptions) -> bool {
        let checked = opts.decode_prefix_checked(input);
        let Some((value, consumed)) = decode(input, opts) else {
            return false;
        };
        match checked {
            Ok((d, n)) => {
                assert_eq!(value, d.value, "value of {input:?}");
                assert_eq!(value.raw().as_ptr(), d.value.raw().as_ptr());
                assert_eq!(consumed, n, "length of {input:?}");
                assert!(d.tolerated.is_empty(), "{input:?}: {:?}", d.tolerated);
            }
            Err(e) => panic!("fast path accepted {input:?}, which is {e}"),
        }
        true
    }

    fn all_options() -> [DecodeOptions; 5] {
        let strict = DecodeOptions::default();
        let lenient = DecodeOptions {
            mode: Mode::Lenient,
            ..DecodeOptions::default()
        };
        let shallow = DecodeOptions {
            max_depth: 2,
            max_bytes_len: 3,
            ..DecodeOptions::default()
        };
        let flat = DecodeOptions {
            max_depth: 0,
            ..lenient
        };
        let few = DecodeOptions {
            max_values: 3,
            ..DecodeOptions::default()
        };
        [strict, lenient, shallow, flat, few]
    }

    /// Pieces that bencode is made of, right and wrong.
    fn token() -> impl Strategy<Value = &'static str> {
        const TOKENS: &str = "i e l d - 0 1 9 : x + 1:a 1:b 2:ab 0: 00: 01:a i0e i-0e i01e \
            i-1e ie i-e le de d1:a d1:b i123456789012345678e i1234567890123456789e \
            i-9223372036854775808e i9223372036854775808e i000000000000000000001e \
            1234567890123456789: 99999999999999999999:";
        prop::sample::select(TOKENS.split_whitespace().collect::<Vec<_>>())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4096))]

        #[test]
        fn agrees_on_bencode_like_bytes(tokens in prop::collection::vec(token(), 0..24)) {
            let input = tokens.concat().into_bytes();
            for opts in all_options() {
                agrees(&input, &opts);
            }
        }

        #[test]
        fn agrees_on_any_bytes(input in prop::collection::vec(any::<u8>(), 0..48)) {
            for opts in all_options() {
                agrees(&input, &opts);
            }
        }
    }

    /// Canonical bencode with numbers the fast path reads itself.
    fn canonical() -> impl Strategy<Value = Vec<u8>> {
        let leaf = prop_oneof![
            (-999_999_999_999_999_999i64..=999_999_999_999_999_999)
                .prop_map(|i| format!("i{i}e").into_bytes()),
            prop::collection::vec(any::<u8>(), 0..12).prop_map(|b| {
                let mut out = format!("{}:", b.len()).into_bytes();
                out.extend_from_slice(&b);
                out
            }),
        ];
        leaf.prop_recursive(6, 64, 8, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..8)
                    .prop_map(|items| { [&b"l"[..], &items.concat(), b"e"].concat() }),
                prop::collection::btree_map(prop::collection::vec(b'a'..=b'd', 0..3), inner, 0..6,)
                    .prop_map(|map| {
                        let mut out = vec![b'd'];
                        for (k, v) in map {
                            out.extend_from_slice(format!("{}:", k.len()).as_bytes());
                            out.extend_from_slice(&k);
                            out.extend_from_slice(&v);
                        }
                        out.push(b'e');
                        out
                    }),
            ]
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2048))]

        #[test]
        fn reads_canonical_input_itself(input in canonical(), tail in prop::collection::vec(any::<u8>(), 0..4)) {
            let opts = DecodeOptions::default();
            prop_assert!(agrees(&input, &opts));
            // A prefix followed by anything.
            let followed = [&input[..], &tail].concat();
            prop_assert!(agrees(&followed, &opts));
        }
    }

    #[test]
    fn nests_past_the_inline_frames() {
        // Lists and dictionaries in turn, deeper than `Frames::INLINE`,
        // with siblings before and after each level.
        let nest = |depth: usize| {
            let mut out = Vec::new();
            for level in 0..depth {
                out.extend_from_slice(if level % 2 == 0 {
                    b"li1e"
                } else {
                    b"d1:a0:1:b"
                });
            }
            out.extend_from_slice(b"i0e");
            for level in (0..depth).rev() {
                out.extend_from_slice(if level % 2 == 0 { b"2:zze" } else { b"1:ci2ee" });
            }
            out
        };
        for depth in [1, 7, 8, 9, 17, 64] {
            let input = nest(depth);
            assert!(agrees(&input, &DecodeOptions::default()), "depth {depth}");
            let limited = DecodeOptions {
                max_depth: depth - 1,
                ..DecodeOptions::default()
            };
            assert!(decode(&input, &limited).is_none(), "depth {depth}");
        }
        assert!(decode(&nest(65), &DecodeOptions::default()).is_none());
    }

    #[test]
    fn leaves_the_rest_to_the_checked_parser() {
        let opts = DecodeOptions::default();
        for input in [
            &b"i1234567890123456789e"[..], // more digits than surely fit
            b"1234567890123456789:",
            b"d1:bi1e1:ai2ee", // unsorted
            b"d1:ai1e1:ai2ee", // repeated
            b"i-0e",
            b"i01e",
            b"01:a",
            b"4:abc",
            b"le",
        ] {
            let fast = decode(input, &opts).is_some();
            assert_eq!(fast, input == b"le", "{input:?}");
            assert_eq!(
                opts.decode_prefix(input).map(|(d, n)| (d.value, n)),
                opts.decode_prefix_checked(input).map(|(d, n)| (d.value, n)),
            );
        }
        let limited = DecodeOptions {
            max_depth: 1,
            max_bytes_len: 2,
            ..DecodeOptions::default()
        };
        assert!(decode(b"l2:abe", &limited).is_some());
        assert!(decode(b"l3:abce", &limited).is_none());
        assert!(decode(b"llee", &limited).is_none());
    }
}
