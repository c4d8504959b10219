//! Property tests: canonical round trips, and no input that makes the decoder panic.

use std::collections::BTreeMap;

use bitswarm_bencode::{
    DecodeOptions, DictBuilder, Encode, Kind, ListBuilder, Mode, Value, decode, decode_prefix,
};
use proptest::prelude::*;

/// An owned bencode tree, the model the decoder is checked against.
#[derive(Debug, Clone, PartialEq)]
enum Tree {
    Int(i64),
    Bytes(Vec<u8>),
    List(Vec<Self>),
    Dict(BTreeMap<Vec<u8>, Self>),
}

/// A reference encoder written apart from the crate's own.
fn reference_encode(t: &Tree, out: &mut Vec<u8>) {
    match t {
        Tree::Int(i) => out.extend_from_slice(format!("i{i}e").as_bytes()),
        Tree::Bytes(b) => {
            out.extend_from_slice(format!("{}:", b.len()).as_bytes());
            out.extend_from_slice(b);
        }
        Tree::List(items) => {
            out.push(b'l');
            items.iter().for_each(|i| reference_encode(i, out));
            out.push(b'e');
        }
        Tree::Dict(map) => {
            out.push(b'd');
            for (k, v) in map {
                reference_encode(&Tree::Bytes(k.clone()), out);
                reference_encode(v, out);
            }
            out.push(b'e');
        }
    }
}

/// The same tree through the crate's builders.
fn build(t: &Tree) -> Vec<u8> {
    match t {
        Tree::Int(i) => i.to_bencode(),
        Tree::Bytes(b) => b.to_bencode(),
        Tree::List(items) => items
            .iter()
            .map(build)
            .map(RawBytes)
            .collect::<ListBuilder>()
            .to_bencode(),
        Tree::Dict(map) => {
            let mut d = DictBuilder::new();
            for (k, v) in map {
                d.insert(k, RawBytes(build(v)));
            }
            d.to_bencode()
        }
    }
}

struct RawBytes(Vec<u8>);

impl Encode for RawBytes {
    fn encode<B: bytes::BufMut + ?Sized>(&self, out: &mut B) {
        out.put_slice(&self.0);
    }
}

/// The decoded value as a tree, to compare with the model.
fn to_tree(v: &Value<'_>) -> Tree {
    match v.kind() {
        Kind::Int(i) => Tree::Int(*i),
        Kind::Bytes(b) => Tree::Bytes(b.to_vec()),
        Kind::List(items) => Tree::List(items.iter().map(to_tree).collect()),
        Kind::Dict(d) => Tree::Dict(d.iter().map(|(k, v)| (k.to_vec(), to_tree(v))).collect()),
    }
}

fn tree() -> impl Strategy<Value = Tree> {
    let leaf = prop_oneof![
        any::<i64>().prop_map(Tree::Int),
        prop_oneof![Just(0i64), Just(-1), Just(i64::MIN), Just(i64::MAX)].prop_map(Tree::Int),
        proptest::collection::vec(any::<u8>(), 0..40).prop_map(Tree::Bytes),
    ];
    leaf.prop_recursive(6, 128, 8, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..8).prop_map(Tree::List),
            proptest::collection::btree_map(
                proptest::collection::vec(any::<u8>(), 0..6),
                inner,
                0..8
            )
            .prop_map(Tree::Dict),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// encode → decode → encode is the identity, and the decoder agrees with the model.
    #[test]
    fn canonical_round_trip(t in tree()) {
        let mut reference = Vec::new();
        reference_encode(&t, &mut reference);
        prop_assert_eq!(&build(&t), &reference);
        let v = decode(&reference).unwrap();
        prop_assert_eq!(to_tree(&v), t);
        prop_assert_eq!(v.to_bencode(), reference.clone());
        prop_assert_eq!(v.raw(), &reference[..]);
    }

    /// decode_prefix finds the end of a value whatever follows it.
    #[test]
    fn prefix_stops_at_value_end(t in tree(), tail in proptest::collection::vec(any::<u8>(), 0..16)) {
        let mut bytes = Vec::new();
        reference_encode(&t, &mut bytes);
        let len = bytes.len();
        bytes.extend_from_slice(&tail);
        let (v, used) = decode_prefix(&bytes).unwrap();
        prop_assert_eq!(used, len);
        prop_assert_eq!(to_tree(&v), t);
    }

    /// Arbitrary bytes give a value or a typed error, never a panic.
    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        let lenient = DecodeOptions { mode: Mode::Lenient, ..DecodeOptions::default() };
        if let Ok(v) = decode(&bytes) {
            // Whatever strict mode accepts is canonical.
            prop_assert_eq!(v.to_bencode(), bytes.clone());
        }
        let _ = lenient.decode(&bytes);
        let _ = decode_prefix(&bytes);
    }

    /// Valid input with one byte changed or cut short still never panics, and
    /// an error's offset lies within the input.
    #[test]
    fn mutated_input_never_panics(t in tree(), pos in any::<prop::sample::Index>(), byte in any::<u8>(), cut in any::<bool>()) {
        let mut bytes = Vec::new();
        reference_encode(&t, &mut bytes);
        let i = pos.index(bytes.len());
        if cut { bytes.truncate(i) } else { bytes[i] = byte }
        if let Err(e) = decode(&bytes) {
            prop_assert!(e.offset().is_some_and(|o| o <= bytes.len()), "{e:?} for {} bytes", bytes.len());
        }
    }

    /// Lenient decoding of a dictionary with shuffled keys finds every key.
    #[test]
    fn lenient_reads_shuffled_dicts(map in proptest::collection::btree_map("[a-z]{1,4}", any::<i64>(), 1..10), seed in any::<u64>()) {
        let mut entries: Vec<_> = map.iter().collect();
        // A deterministic shuffle from the seed.
        let mut s = seed;
        for i in (1..entries.len()).rev() {
            s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            entries.swap(i, (s >> 33) as usize % (i + 1));
        }
        let mut bytes = b"d".to_vec();
        for (k, v) in &entries {
            k.as_str().encode(&mut bytes);
            v.encode(&mut bytes);
        }
        bytes.push(b'e');
        let opts = DecodeOptions { mode: Mode::Lenient, ..DecodeOptions::default() };
        let d = opts.decode(&bytes).unwrap();
        for (k, v) in &map {
            prop_assert_eq!(d.value.get(k).and_then(|x| x.as_int()), Some(*v));
        }
        let sorted = entries.windows(2).all(|w| w[0].0 < w[1].0);
        prop_assert_eq!(d.tolerated.is_empty(), sorted);
        prop_assert_eq!(decode(&bytes).is_ok(), sorted);
    }
}
