//! Reading torrents: every field, leniency on decorative ones, the
//! info-hash over raw bytes, and no panic on arbitrary or mutated input.

use bitswarm_bencode::{Encode, dict, list};
use bitswarm_metainfo::{DhtNode, Error, Metainfo, PathStyle, Version};
use proptest::prelude::*;
use sha1::{Digest, Sha1};
use sha2::Sha256;

fn single(extra_top: &[(&str, Vec<u8>)], extra_info: &[(&str, Vec<u8>)]) -> Vec<u8> {
    let mut info = dict! {
        "name" => "file.bin",
        "piece length" => 16384,
        "length" => 20000,
        "pieces" => vec![3u8; 40],
    };
    for (k, v) in extra_info {
        info.insert(k, bitswarm_bencode::Raw(v));
    }
    let mut top = dict! { "info" => info };
    for (k, v) in extra_top {
        top.insert(k, bitswarm_bencode::Raw(v));
    }
    top.to_bencode()
}

#[test]
fn every_top_level_field() {
    let bytes = single(
        &[
            ("announce", b"17:udp://first:1/ann".to_vec()),
            (
                "announce-list",
                list![list!["udp://a:1", "udp://b:1"], list![], list!["http://c/"]].to_bencode(),
            ),
            ("url-list", b"14:https://seed/x".to_vec()),
            (
                "nodes",
                list![list!["router.example", 6881], list!["10.0.0.1", 1]].to_bencode(),
            ),
            ("creation date", b"i1700000000e".to_vec()),
            ("comment", b"5:plain".to_vec()),
            ("comment.utf-8", "5:ünï".as_bytes().to_vec()),
            ("created by", b"9:maker 1.0".to_vec()),
            ("encoding", b"5:UTF-8".to_vec()),
            ("x-custom", b"li1ei2ee".to_vec()),
        ],
        &[
            ("source", b"3:SRC".to_vec()),
            ("private", b"i1e".to_vec()),
            ("similar", list![vec![1u8; 20], vec![2u8; 32]].to_bencode()),
            ("collections", list!["c1", "c2"].to_bencode()),
            ("x-info-extra", b"d1:ai1ee".to_vec()),
        ],
    );
    let m = Metainfo::from_bytes(&bytes).unwrap();
    assert_eq!(m.announce(), Some("udp://first:1/ann"));
    // announce-list wins over announce (BEP 12); empty tiers are dropped.
    assert_eq!(
        m.trackers(),
        [vec!["udp://a:1", "udp://b:1"], vec!["http://c/"]]
    );
    assert_eq!(m.web_seeds(), ["https://seed/x"]);
    assert_eq!(
        m.nodes(),
        [
            DhtNode {
                host: "router.example".into(),
                port: 6881
            },
            DhtNode {
                host: "10.0.0.1".into(),
                port: 1
            }
        ]
    );
    assert_eq!(m.creation_date(), Some(1_700_000_000));
    assert_eq!(m.comment(), Some("ünï"), "comment.utf-8 is preferred");
    assert_eq!(m.created_by(), Some("maker 1.0"));
    assert_eq!(m.encoding(), Some("UTF-8"));
    assert_eq!(m.info().source(), Some("SRC"));
    assert!(m.private());
    assert_eq!(m.info().similar().len(), 2);
    assert_eq!(m.info().collections(), ["c1", "c2"]);
    let unknown = &m.unknown_fields()[0];
    assert_eq!(
        (&unknown.key[..], &unknown.raw_value[..]),
        (&b"x-custom"[..], &b"li1ei2ee"[..])
    );
    let unknown = &m.info().unknown_fields()[0];
    assert_eq!(&unknown.raw_value[..], b"d1:ai1ee");
    assert!(m.warnings().is_empty(), "{:?}", m.warnings());
    assert_eq!(m.version(), Version::V1);
    assert_eq!(m.info().piece_hash_v1(1), Some([3; 20]));
    assert_eq!(m.info().piece_hash_v1(2), None);
}

#[test]
fn decorative_fields_of_the_wrong_type_are_skipped_with_a_warning() {
    let bytes = single(
        &[
            ("announce", b"i5e".to_vec()),
            ("announce-list", b"4:oops".to_vec()),
            ("creation date", b"4:soon".to_vec()),
            ("comment", b"li1ee".to_vec()),
            ("nodes", list![list!["host"], 7].to_bencode()),
        ],
        &[],
    );
    let m = Metainfo::from_bytes(&bytes).unwrap();
    assert!(m.trackers().is_empty());
    assert_eq!(m.creation_date(), None);
    assert_eq!(m.comment(), None);
    assert!(m.nodes().is_empty());
    let fields: Vec<&str> = m.warnings().iter().map(|w| w.field.as_str()).collect();
    assert_eq!(
        fields,
        [
            "announce",
            "announce-list",
            "nodes",
            "nodes",
            "creation date",
            "comment"
        ]
    );
    for w in m.warnings() {
        assert!(w.offset > 0 && w.offset < bytes.len());
    }
}

#[test]
fn info_hash_is_over_the_raw_bytes() {
    // Unsorted keys inside `info`: accepted, and hashed as written, not as
    // a canonical re-encoding would be.
    let info = b"d4:name1:x6:lengthi10e12:piece lengthi16384e6:pieces20:aaaaaaaaaaaaaaaaaaaae";
    let mut bytes = b"d4:info".to_vec();
    bytes.extend_from_slice(info);
    bytes.push(b'e');
    let m = Metainfo::from_bytes(&bytes).unwrap();
    assert_eq!(
        m.info_hash_v1().unwrap().0,
        <[u8; 20]>::from(Sha1::digest(info))
    );
    assert_eq!(&m.info_bytes()[..], info);
    assert_eq!(m.info_span(), 7..7 + info.len());
    assert!(!m.warnings().is_empty(), "the unsorted key is reported");
    assert_eq!(m.info_hash_v2(), None);
    // A v2 torrent's hash is the SHA-256 of the same raw span.
    let v2 = dict! {
        "info" => bitswarm_bencode::Raw(b"d9:file treed1:xd0:d6:lengthi1e11:pieces root32:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaeee12:meta versioni2e4:name1:x12:piece lengthi16384ee"),
    }
    .to_bencode();
    let m = Metainfo::from_bytes(&v2).unwrap();
    assert_eq!(m.version(), Version::V2);
    assert_eq!(
        m.info_hash_v2().unwrap().0,
        <[u8; 32]>::from(Sha256::digest(m.info_bytes()))
    );
    assert_eq!(m.wire_info_hash(), m.info_hash_v2().unwrap().truncated());
}

#[test]
fn utf8_names_are_preferred_and_bad_bytes_decoded_lossily() {
    let bytes = dict! {
        "info" => dict! {
            "name" => &b"caf\xe9"[..],
            "piece length" => 16384,
            "pieces" => vec![0u8; 20],
            "files" => list![
                dict! { "length" => 5, "path" => list![&b"\xff\xfe"[..]], "path.utf-8" => list!["ok.txt"] },
                dict! { "length" => 5, "path" => list![&b"bad\xff"[..]] },
            ],
        },
    }
    .to_bencode();
    let m = Metainfo::from_bytes(&bytes).unwrap();
    assert_eq!(m.name(), "caf\u{fffd}");
    assert_eq!(m.files()[0].path().to_string(), "ok.txt");
    assert_eq!(m.files()[1].path().to_string(), "bad\u{fffd}");
}

#[test]
fn windows_names_are_kept_and_sanitised_for_windows() {
    let bytes = dict! {
        "info" => dict! {
            "name" => "linux",
            "piece length" => 16384,
            "pieces" => vec![0u8; 20],
            "files" => list![
                dict! { "length" => 5, "path" => list!["drivers", "aux.c"] },
                dict! { "length" => 5, "path" => list!["C:", "x"] },
            ],
        },
    }
    .to_bencode();
    let m = Metainfo::from_bytes(&bytes).unwrap();
    let aux = m.files()[0].path();
    assert_eq!(aux.to_string(), "drivers/aux.c");
    assert_eq!(aux.sanitized(PathStyle::Windows), ["drivers", "_aux.c"]);
    assert_eq!(
        m.files()[1].path().sanitized(PathStyle::Windows),
        ["C_", "x"]
    );
}

#[test]
fn pad_files_may_repeat_but_real_files_may_not() {
    let pads = |second: &str| {
        dict! {
            "info" => dict! {
                "name" => "t",
                "piece length" => 16384,
                "pieces" => vec![0u8; 60],
                "files" => list![
                    dict! { "length" => 1, "path" => list!["a"] },
                    dict! { "attr" => "p", "length" => 16383, "path" => list![".pad", "16383"] },
                    dict! { "length" => 1, "path" => list![second] },
                    dict! { "attr" => "p", "length" => 16383, "path" => list![".pad", "16383"] },
                    dict! { "length" => 1, "path" => list!["c"] },
                ],
            },
        }
        .to_bencode()
    };
    assert!(Metainfo::from_bytes(&pads("b")).is_ok());
    assert!(matches!(
        Metainfo::from_bytes(&pads("a")),
        Err(Error::DuplicatePath {
            first: 0,
            second: 2,
            ..
        })
    ));
}

/// A small valid torrent for mutation.
fn seed_torrent() -> Vec<u8> {
    dict! {
        "announce" => "udp://t:1",
        "info" => dict! {
            "name" => "t",
            "piece length" => 16384,
            "pieces" => vec![0u8; 40],
            "files" => list![
                dict! { "length" => 20000, "path" => list!["a", "b"] },
                dict! { "length" => 1, "path" => list!["c"], "attr" => "x" },
            ],
        },
    }
    .to_bencode()
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = Metainfo::from_bytes(&bytes);
    }

    #[test]
    fn mutated_torrents_never_panic_and_accepted_ones_are_consistent(
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6)
    ) {
        let mut bytes = seed_torrent();
        for (i, b) in edits {
            let at = i.index(bytes.len());
            bytes[at] = b;
        }
        if let Ok(m) = Metainfo::from_bytes(&bytes) {
            let layout = m.layout();
            let stream: u64 = layout.files().last().map_or(0, |f| f.end());
            prop_assert_eq!(layout.stream_length(), stream);
            prop_assert_eq!(u64::from(m.num_pieces()), stream.div_ceil(m.piece_length()));
            for f in m.files() {
                for c in f.path().components() {
                    prop_assert!(!c.is_empty() && c != "." && c != "..");
                    prop_assert!(!c.contains(['/', '\\', '\0']));
                }
            }
        }
    }
}
