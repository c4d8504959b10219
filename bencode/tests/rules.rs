//! One test per decoding rule: what strict mode accepts and rejects, with the
//! byte offset each error names.

use bitswarm_bencode::{
    DecodeOptions, Encode, Error, Kind, Mode, Tolerated, decode, decode_prefix,
};

fn err(input: &[u8]) -> Error {
    decode(input).expect_err("input must be rejected")
}

#[test]
fn accepts_every_type() {
    let v = decode(b"d3:agei-42e5:emptyd2:xxdee4:listli1e0:lee4:name5:alicee").unwrap();
    assert_eq!(v.get("age").and_then(|v| v.as_int()), Some(-42));
    assert_eq!(v.get("name").and_then(|v| v.as_str()), Some("alice"));
    let list = v.get("list").and_then(|v| v.as_list()).unwrap();
    assert_eq!(list.len(), 3);
    assert_eq!(list[1].as_bytes(), Some(&b""[..]));
    assert!(matches!(list[2].kind(), Kind::List(items) if items.is_empty()));
    assert!(
        v.get("empty")
            .and_then(|v| v.get("xx"))
            .unwrap()
            .as_dict()
            .unwrap()
            .is_empty()
    );
}

#[test]
fn integer_extremes() {
    assert_eq!(decode(b"i0e").unwrap().as_int(), Some(0));
    assert_eq!(
        decode(b"i9223372036854775807e").unwrap().as_int(),
        Some(i64::MAX)
    );
    assert_eq!(
        decode(b"i-9223372036854775808e").unwrap().as_int(),
        Some(i64::MIN)
    );
}

#[test]
fn integer_outside_i64_is_rejected() {
    assert_eq!(
        err(b"i9223372036854775808e"),
        Error::NumberOverflow { offset: 1 }
    );
    assert_eq!(
        err(b"i-9223372036854775809e"),
        Error::NumberOverflow { offset: 2 }
    );
    assert_eq!(
        err(b"i99999999999999999999999e"),
        Error::NumberOverflow { offset: 1 }
    );
}

#[test]
fn leading_zero_is_rejected() {
    assert_eq!(err(b"i03e"), Error::LeadingZero { offset: 1 });
    assert_eq!(err(b"i00e"), Error::LeadingZero { offset: 1 });
    assert_eq!(err(b"03:abc"), Error::LeadingZero { offset: 0 });
    assert_eq!(err(b"l00:e"), Error::LeadingZero { offset: 1 });
}

#[test]
fn negative_zero_is_rejected() {
    assert_eq!(err(b"i-0e"), Error::NegativeZero { offset: 1 });
    assert_eq!(err(b"i-01e"), Error::NegativeZero { offset: 1 });
}

#[test]
fn plus_sign_is_rejected() {
    // Rust's own integer parsing would accept this.
    assert_eq!(
        err(b"i+1e"),
        Error::UnexpectedByte {
            offset: 1,
            found: b'+',
            expected: "a digit or '-'"
        }
    );
    assert!(matches!(
        err(b"+1:a"),
        Error::UnexpectedByte {
            offset: 0,
            found: b'+',
            ..
        }
    ));
}

#[test]
fn empty_integer_is_rejected() {
    assert_eq!(err(b"ie"), Error::EmptyInteger { offset: 0 });
    assert_eq!(err(b"i-e"), Error::EmptyInteger { offset: 0 });
    assert_eq!(err(b"li1eiee"), Error::EmptyInteger { offset: 4 });
}

#[test]
fn garbage_inside_integer_is_rejected() {
    assert!(matches!(
        err(b"i1x2e"),
        Error::UnexpectedByte {
            offset: 2,
            found: b'x',
            ..
        }
    ));
    assert!(matches!(
        err(b"i--1e"),
        Error::UnexpectedByte {
            offset: 2,
            found: b'-',
            ..
        }
    ));
    assert!(matches!(
        err(b"i 1e"),
        Error::UnexpectedByte {
            offset: 1,
            found: b' ',
            ..
        }
    ));
}

#[test]
fn unsorted_keys_are_rejected() {
    assert_eq!(err(b"d1:bi1e1:ai2ee"), Error::UnsortedKey { offset: 7 });
    // Byte order, not length order: "ab" < "b".
    assert!(decode(b"d2:abi1e1:bi2ee").is_ok());
    assert_eq!(err(b"d1:bi1e2:abi2ee"), Error::UnsortedKey { offset: 7 });
}

#[test]
fn duplicate_keys_are_rejected() {
    assert_eq!(err(b"d1:ai1e1:ai2ee"), Error::DuplicateKey { offset: 7 });
}

#[test]
fn non_string_keys_are_rejected() {
    assert!(matches!(
        err(b"di1ei2ee"),
        Error::UnexpectedByte {
            offset: 1,
            found: b'i',
            ..
        }
    ));
    assert!(matches!(
        err(b"dlei1ee"),
        Error::UnexpectedByte {
            offset: 1,
            found: b'l',
            ..
        }
    ));
    assert!(matches!(
        err(b"ddei1ee"),
        Error::UnexpectedByte {
            offset: 1,
            found: b'd',
            ..
        }
    ));
}

#[test]
fn dictionary_key_without_value_is_rejected() {
    assert!(matches!(
        err(b"d1:ae"),
        Error::UnexpectedByte {
            offset: 4,
            found: b'e',
            ..
        }
    ));
    assert_eq!(
        err(b"d1:a"),
        Error::UnexpectedEof {
            offset: 4,
            expected: "a value"
        }
    );
}

#[test]
fn length_past_end_is_rejected() {
    assert_eq!(
        err(b"5:abc"),
        Error::LengthPastEnd {
            offset: 0,
            length: 5,
            available: 3
        }
    );
    assert_eq!(
        err(b"9999999:x"),
        Error::LengthPastEnd {
            offset: 0,
            length: 9_999_999,
            available: 1
        }
    );
    // A length over the limit is refused before the input length is consulted.
    assert_eq!(
        err(b"99999999999:x"),
        Error::BytesTooLong {
            offset: 0,
            length: 99_999_999_999,
            limit: 64 << 20
        }
    );
    assert_eq!(
        err(b"184467440737095516160:"),
        Error::NumberOverflow { offset: 0 }
    );
}

#[test]
fn string_length_limit() {
    let opts = DecodeOptions {
        max_bytes_len: 3,
        ..DecodeOptions::default()
    };
    assert!(opts.decode(b"3:abc").is_ok());
    assert_eq!(
        opts.decode(b"l4:abcde").unwrap_err(),
        Error::BytesTooLong {
            offset: 1,
            length: 4,
            limit: 3
        }
    );
}

#[test]
fn trailing_bytes_are_rejected() {
    assert_eq!(err(b"i1ei2e"), Error::TrailingBytes { offset: 3 });
    assert_eq!(err(b"dex"), Error::TrailingBytes { offset: 2 });
}

#[test]
fn truncated_input_is_rejected() {
    assert_eq!(
        err(b""),
        Error::UnexpectedEof {
            offset: 0,
            expected: "a value"
        }
    );
    assert_eq!(
        err(b"i12"),
        Error::UnexpectedEof {
            offset: 3,
            expected: "a digit or 'e'"
        }
    );
    assert_eq!(
        err(b"l"),
        Error::UnexpectedEof {
            offset: 1,
            expected: "a value"
        }
    );
    assert_eq!(
        err(b"d"),
        Error::UnexpectedEof {
            offset: 1,
            expected: "a dictionary key or 'e'"
        }
    );
    assert_eq!(
        err(b"12"),
        Error::UnexpectedEof {
            offset: 2,
            expected: "a digit or ':'"
        }
    );
}

#[test]
fn stray_end_and_unknown_bytes_are_rejected() {
    assert!(matches!(
        err(b"e"),
        Error::UnexpectedByte {
            offset: 0,
            found: b'e',
            ..
        }
    ));
    assert!(matches!(
        err(b"x"),
        Error::UnexpectedByte {
            offset: 0,
            found: b'x',
            ..
        }
    ));
    assert!(matches!(
        err(b"l1:ax"),
        Error::UnexpectedByte {
            offset: 4,
            found: b'x',
            ..
        }
    ));
}

#[test]
fn value_limit() {
    let opts = DecodeOptions {
        max_values: 4,
        ..DecodeOptions::default()
    };
    // A list and three items: four values; dictionary keys do not count.
    assert!(opts.decode(b"li1ei2ei3ee").is_ok());
    assert!(opts.decode(b"d1:ai1e1:bi2e1:ci3ee").is_ok());
    assert_eq!(
        opts.decode(b"li1ei2ei3ei4ee").unwrap_err(),
        Error::TooManyValues {
            offset: 10,
            limit: 4
        }
    );
    assert_eq!(
        opts.decode(b"d1:al1:x1:y1:zee").unwrap_err(),
        Error::TooManyValues {
            offset: 11,
            limit: 4
        }
    );
}

#[test]
fn depth_limit_without_recursion() {
    let opts = DecodeOptions {
        max_depth: 3,
        ..DecodeOptions::default()
    };
    assert!(opts.decode(b"llleee").is_ok());
    assert_eq!(
        opts.decode(b"lllleeee").unwrap_err(),
        Error::DepthLimit {
            offset: 3,
            limit: 3
        }
    );
    assert_eq!(
        opts.decode(b"ld1:aldeee").unwrap_err(),
        Error::DepthLimit {
            offset: 6,
            limit: 3
        }
    );

    // Input a million levels deep is refused at the limit, and even a limit
    // asked to be unbounded stays at the hard maximum, because dropping,
    // printing and encoding a value recurse over its depth.
    let deep = [vec![b'l'; 1_000_000], vec![b'e'; 1_000_000]].concat();
    assert_eq!(
        decode(&deep).unwrap_err(),
        Error::DepthLimit {
            offset: 64,
            limit: 64
        }
    );
    let unbounded = DecodeOptions {
        max_depth: usize::MAX,
        ..DecodeOptions::default()
    };
    let hard = DecodeOptions::HARD_MAX_DEPTH;
    assert_eq!(
        unbounded.decode(&deep).unwrap_err(),
        Error::DepthLimit {
            offset: hard,
            limit: hard
        }
    );
    let deepest = [vec![b'l'; hard], vec![b'e'; hard]].concat();
    let v = unbounded.decode(&deepest).unwrap().value;
    assert_eq!(v.to_bencode(), deepest);
}

#[test]
fn lenient_accepts_unsorted_and_reports_it() {
    let opts = DecodeOptions {
        mode: Mode::Lenient,
        ..DecodeOptions::default()
    };
    let d = opts.decode(b"d1:bi1e1:ai2ee").unwrap();
    assert_eq!(d.tolerated, [Tolerated::UnsortedKey { offset: 7 }]);
    assert_eq!(d.value.get("a").and_then(|v| v.as_int()), Some(2));
    assert_eq!(d.value.get("b").and_then(|v| v.as_int()), Some(1));
    assert!(!d.value.as_dict().unwrap().is_sorted());
}

#[test]
fn lenient_duplicate_keys_first_wins() {
    let opts = DecodeOptions {
        mode: Mode::Lenient,
        ..DecodeOptions::default()
    };
    // Adjacent duplicate.
    let d = opts.decode(b"d1:ai1e1:ai2ee").unwrap();
    assert_eq!(d.tolerated, [Tolerated::DuplicateKey { offset: 7 }]);
    assert_eq!(d.value.get("a").and_then(|v| v.as_int()), Some(1));
    // A repeat that is not adjacent: b, a, b.
    let d = opts.decode(b"d1:bi1e1:ai2e1:bi3ee").unwrap();
    assert_eq!(
        d.tolerated,
        [
            Tolerated::UnsortedKey { offset: 7 },
            Tolerated::DuplicateKey { offset: 13 }
        ]
    );
    assert_eq!(d.value.get("b").and_then(|v| v.as_int()), Some(1));
    // Re-encoding keeps the winner and sorts.
    assert_eq!(d.value.to_bencode(), b"d1:ai2e1:bi1ee");
    // Every entry stays visible in input order.
    assert_eq!(d.value.as_dict().unwrap().len(), 3);
}

#[test]
fn lenient_keeps_every_other_rule() {
    let opts = DecodeOptions {
        mode: Mode::Lenient,
        ..DecodeOptions::default()
    };
    assert_eq!(
        opts.decode(b"i03e").unwrap_err(),
        Error::LeadingZero { offset: 1 }
    );
    assert_eq!(
        opts.decode(b"i1ex").unwrap_err(),
        Error::TrailingBytes { offset: 3 }
    );
}

#[test]
fn strict_reports_nothing_tolerated() {
    let d = DecodeOptions::default().decode(b"d1:ai1ee").unwrap();
    assert!(d.tolerated.is_empty());
}

#[test]
fn raw_spans_are_exact() {
    let input = b"d4:infod6:lengthi5e4:name1:xe5:otherli1eee";
    let v = decode(input).unwrap();
    let info = v.get("info").unwrap();
    assert_eq!(info.raw(), b"d6:lengthi5e4:name1:xe");
    assert_eq!(info.span_in(input), Some(7..29));
    assert_eq!(info.get("length").unwrap().raw(), b"i5e");
    assert_eq!(v.get("other").unwrap().as_list().unwrap()[0].raw(), b"i1e");
    assert_eq!(v.raw(), &input[..]);
    assert_eq!(info.span_in(b"unrelated"), None);
}

#[test]
fn decode_prefix_returns_consumed_length() {
    let (v, used) = decode_prefix(b"d1:ai1eeREST").unwrap();
    assert_eq!(used, 8);
    assert_eq!(v.raw(), b"d1:ai1ee");
    assert_eq!(
        decode_prefix(b"i1").unwrap_err(),
        Error::UnexpectedEof {
            offset: 2,
            expected: "a digit or 'e'"
        }
    );
}

#[test]
fn canonical_input_re_encodes_identically() {
    let input: &[u8] =
        b"d8:announce3:url4:infod5:filesld6:lengthi1e4:pathl1:aeee4:name1:xe1:zi-3ee";
    assert_eq!(decode(input).unwrap().to_bencode(), input);
}

#[test]
fn errors_say_where() {
    let e = err(b"d1:ai1e1:ai2ee");
    assert_eq!(e.offset(), Some(7));
    assert_eq!(e.to_string(), "duplicate dictionary key at byte 7");
}
