//! The serde feature: user types to canonical bencode and back, zero-copy.

use std::collections::BTreeMap;

use bitswarm_bencode::{Error, decode, from_bytes, to_bytes};
use serde::{Deserialize, Serialize};

#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct Info<'a> {
    name: &'a str,
    #[serde(rename = "piece length")]
    piece_length: u32,
    #[serde(with = "serde_bytes")]
    pieces: &'a [u8],
    length: Option<u64>,
    private: Option<bool>,
    #[serde(borrow)]
    files: Option<Vec<File<'a>>>,
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct File<'a> {
    length: u64,
    #[serde(borrow)]
    path: Vec<&'a str>,
}

#[test]
fn struct_round_trip_is_canonical_and_borrows() {
    let pieces = [7u8; 40];
    let info = Info {
        name: "dir",
        piece_length: 16384,
        pieces: &pieces,
        length: None,
        private: Some(true),
        files: Some(vec![File {
            length: 3,
            path: vec!["a", "b.txt"],
        }]),
    };
    let bytes = to_bytes(&info).unwrap();
    // Fields come out sorted by key, `None` fields are left out.
    assert!(bytes.starts_with(
        b"d5:filesld6:lengthi3e4:pathl1:a5:b.txteee4:name3:dir12:piece lengthi16384e6:pieces40:"
    ));
    assert!(bytes.ends_with(b"7:privatei1ee"));
    assert_eq!(
        decode(&bytes).unwrap().raw(),
        &bytes[..],
        "strictly decodable"
    );

    let back: Info<'_> = from_bytes(&bytes).unwrap();
    assert_eq!(back, info);
    // Zero copy: the borrowed fields point into the input.
    let range = bytes.as_ptr_range();
    assert!(range.contains(&back.pieces.as_ptr()));
    assert!(range.contains(&back.name.as_ptr()));
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
enum Message {
    Ping,
    Have(u32),
    Request { index: u32, begin: u32, length: u32 },
    Pair(u8, u8),
}

#[test]
fn enums() {
    for m in [
        Message::Ping,
        Message::Have(7),
        Message::Request {
            index: 1,
            begin: 0,
            length: 16384,
        },
        Message::Pair(1, 2),
    ] {
        let bytes = to_bytes(&m).unwrap();
        assert_eq!(from_bytes::<Message>(&bytes).unwrap(), m);
    }
    assert_eq!(to_bytes(&Message::Ping).unwrap(), b"4:Ping");
    assert_eq!(to_bytes(&Message::Have(7)).unwrap(), b"d4:Havei7ee");
}

#[test]
fn maps_sort_their_keys() {
    let map: BTreeMap<&str, i32> = [("b", 1), ("a", 2)].into();
    assert_eq!(to_bytes(&map).unwrap(), b"d1:ai2e1:bi1ee");
    let mut unsorted = std::collections::HashMap::new();
    for k in ["zz", "aa", "mm", "bb"] {
        unsorted.insert(k, 1);
    }
    assert_eq!(
        to_bytes(&unsorted).unwrap(),
        b"d2:aai1e2:bbi1e2:mmi1e2:zzi1ee"
    );
}

#[test]
fn unsupported_values_are_errors() {
    assert!(matches!(to_bytes(&1.5f64), Err(Error::Unsupported(_))));
    assert!(matches!(to_bytes(&()), Err(Error::Unsupported(_))));
    assert!(matches!(to_bytes(&None::<u8>), Err(Error::Unsupported(_))));
    assert!(matches!(
        to_bytes(&vec![Some(1), None]),
        Err(Error::Unsupported(_))
    ));
    let int_keys: BTreeMap<i32, i32> = [(1, 1)].into();
    assert!(matches!(to_bytes(&int_keys), Err(Error::Unsupported(_))));
    assert!(matches!(to_bytes(&u64::MAX), Err(Error::Unsupported(_))));
}

#[test]
fn type_mismatches_are_errors() {
    assert_eq!(
        from_bytes::<&str>(b"i1e").unwrap_err(),
        Error::WrongType {
            expected: "byte string",
            found: "integer"
        }
    );
    assert!(from_bytes::<u8>(b"i300e").is_err());
    assert!(from_bytes::<bool>(b"i2e").is_err());
    assert!(
        from_bytes::<File<'_>>(b"d6:lengthi1ee").is_err(),
        "missing field"
    );
    // Strict decoding comes first.
    assert_eq!(
        from_bytes::<u8>(b"i01e").unwrap_err(),
        Error::LeadingZero { offset: 1 }
    );
}

#[test]
fn owned_and_bytes_fields() {
    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Owned {
        name: String,
        #[serde(with = "serde_bytes")]
        blob: Vec<u8>,
        list: Vec<i64>,
        flag: bool,
    }
    let o = Owned {
        name: "x".into(),
        blob: vec![0, 255],
        list: vec![-1, 2],
        flag: false,
    };
    let bytes = to_bytes(&o).unwrap();
    assert_eq!(
        bytes,
        b"d4:blob2:\x00\xff4:flagi0e4:listli-1ei2ee4:name1:xe"
    );
    assert_eq!(from_bytes::<Owned>(&bytes).unwrap(), o);
}
