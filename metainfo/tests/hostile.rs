//! Hostile torrents: each one in `tests/hostile/` gives its own typed error.
//!
//! The files are made by the generators below; `committed_files_match`
//! checks that the directory holds exactly what they make (run with
//! `REGENERATE_HOSTILE=1` to rewrite it). The fuzz target starts from them.
//! Torrents too large to commit (a 100 MB `pieces`, two million files) are
//! generated in memory by the tests at the end.

use std::path::PathBuf;

use bitswarm_bencode::{DictBuilder, Encode, ListBuilder, dict, list};
use bitswarm_metainfo::{Error, Limits, Metainfo, PathProblem, merkle_hash};
use sha2::{Digest, Sha256};

const PL: i64 = 16 * 1024;

/// A valid v1 multi-file torrent whose file list is `files`.
fn v1_multi(files: ListBuilder, total: u64) -> Vec<u8> {
    let pieces = total.div_ceil(PL as u64) as usize;
    dict! {
        "announce" => "udp://127.0.0.1:1/announce",
        "info" => dict! {
            "name" => "root",
            "piece length" => PL,
            "pieces" => vec![7u8; 20 * pieces],
            "files" => files,
        },
    }
    .to_bencode()
}

fn file(path: ListBuilder, length: i64) -> DictBuilder {
    dict! { "length" => length, "path" => path }
}

/// A v2 file of `blocks` full 16 KiB blocks: its data, piece layer (one
/// node per 16 KiB piece) and root.
fn v2_file(blocks: usize, seed: u8) -> (Vec<u8>, Vec<u8>, [u8; 32]) {
    let data: Vec<u8> = (0..blocks * PL as usize)
        .map(|i| (i as u8).wrapping_mul(seed))
        .collect();
    let layer: Vec<u8> = data
        .chunks(PL as usize)
        .flat_map(|b| <[u8; 32]>::from(Sha256::digest(b)))
        .collect();
    let root = merkle_hash(&data, blocks.next_power_of_two());
    (data, layer, root)
}

/// A v2 torrent of one 3-piece file, with `layer` as its piece layer.
fn v2_with_layer(layer: Vec<u8>, root: [u8; 32]) -> Vec<u8> {
    v2_with_layer_keyed(layer, root, root)
}

/// The same, with the layer stored under `key` in `piece layers`.
fn v2_with_layer_keyed(layer: Vec<u8>, root: [u8; 32], key: [u8; 32]) -> Vec<u8> {
    dict! {
        "info" => dict! {
            "name" => "v2.bin",
            "piece length" => PL,
            "meta version" => 2,
            "file tree" => dict! {
                "v2.bin" => dict! { "" => dict! { "length" => 3 * PL, "pieces root" => &root[..] } },
            },
        },
        "piece layers" => dict! { &key[..] => layer },
    }
    .to_bencode()
}

/// A hybrid torrent of two files, the first `first_len` bytes in v1.
fn hybrid(first_len: i64, pad: bool) -> Vec<u8> {
    let (_, _, root_a) = v2_file(1, 3);
    let (_, _, root_b) = v2_file(1, 5);
    let mut files = ListBuilder::new();
    files.push(file(list!["a.bin"], first_len));
    if pad {
        files.push(dict! { "attr" => "p", "length" => 1, "path" => list![".pad", "1"] });
    }
    files.push(file(list!["b.bin"], PL));
    dict! {
        "info" => dict! {
            "name" => "hybrid",
            "piece length" => PL,
            "meta version" => 2,
            "pieces" => vec![1u8; 40],
            "files" => files,
            "file tree" => dict! {
                "a.bin" => dict! { "" => dict! { "length" => PL, "pieces root" => &root_a[..] } },
                "b.bin" => dict! { "" => dict! { "length" => PL, "pieces root" => &root_b[..] } },
            },
        },
    }
    .to_bencode()
}

type Check = fn(&Error) -> bool;

/// Every hostile torrent: its file name, its bytes, the error it must give.
fn hostile() -> Vec<(&'static str, Vec<u8>, Check)> {
    let (_, layer, root) = v2_file(3, 9);
    vec![
        (
            "traversal-dotdot",
            v1_multi(list![file(list!["..", "..", "etc", "passwd"], 10)], 10),
            |e| matches!(e, Error::UnsafePath { problem: PathProblem::ParentDir, field, .. } if field == "info.files[0].path[0]"),
        ),
        (
            "absolute-slash",
            v1_multi(list![file(list!["/etc/passwd"], 10)], 10),
            |e| matches!(e, Error::UnsafePath { problem: PathProblem::Slash, .. }),
        ),
        (
            "absolute-empty-component",
            v1_multi(list![file(list!["", "etc", "passwd"], 10)], 10),
            |e| matches!(e, Error::UnsafePath { problem: PathProblem::Empty, .. }),
        ),
        (
            "backslash",
            v1_multi(list![file(list!["..\\..\\windows\\system32"], 10)], 10),
            |e| matches!(e, Error::UnsafePath { problem: PathProblem::Backslash, .. }),
        ),
        (
            "nul-component",
            v1_multi(list![file(list![&b"a\0.txt"[..]], 10)], 10),
            |e| matches!(e, Error::UnsafePath { problem: PathProblem::Nul, .. }),
        ),
        (
            "dot-component",
            v1_multi(list![file(list!["a", ".", "b"], 10)], 10),
            |e| matches!(e, Error::UnsafePath { problem: PathProblem::CurrentDir, field, .. } if field == "info.files[0].path[1]"),
        ),
        (
            "empty-path-list",
            v1_multi(list![file(list![], 10)], 10),
            |e| matches!(e, Error::UnsafePath { problem: PathProblem::Empty, .. }),
        ),
        (
            "name-dotdot",
            dict! { "info" => dict! { "name" => "..", "piece length" => PL, "length" => 10, "pieces" => vec![0u8; 20] } }.to_bencode(),
            |e| matches!(e, Error::UnsafePath { problem: PathProblem::ParentDir, field, .. } if field == "info.name"),
        ),
        (
            "name-utf8-traversal",
            dict! { "info" => dict! { "name" => "ok", "name.utf-8" => "../x", "piece length" => PL, "length" => 10, "pieces" => vec![0u8; 20] } }.to_bencode(),
            |e| matches!(e, Error::UnsafePath { problem: PathProblem::Slash, field, .. } if field == "info.name.utf-8"),
        ),
        (
            "path-utf8-traversal",
            v1_multi(list![dict! { "length" => 10, "path" => list!["fine"], "path.utf-8" => list![".."] }], 10),
            |e| matches!(e, Error::UnsafePath { problem: PathProblem::ParentDir, field, .. } if field == "info.files[0].path.utf-8[0]"),
        ),
        (
            "duplicate-paths",
            v1_multi(list![file(list!["a", "b"], 10), file(list!["c"], 1), file(list!["a", "b"], 20)], 31),
            |e| matches!(e, Error::DuplicatePath { first: 0, second: 2, .. }),
        ),
        (
            "file-is-folder",
            v1_multi(list![file(list!["a"], 10), file(list!["a", "b"], 20)], 30),
            |e| matches!(e, Error::FileIsFolder { file: 0, inner: 1, .. }),
        ),
        (
            "pieces-not-multiple-of-20",
            dict! { "info" => dict! { "name" => "x", "piece length" => PL, "length" => 10, "pieces" => vec![0u8; 21] } }.to_bencode(),
            |e| matches!(e, Error::PiecesNotMultipleOf20 { len: 21, .. }),
        ),
        (
            "pieces-count-mismatch",
            dict! { "info" => dict! { "name" => "x", "piece length" => PL, "length" => 3 * PL, "pieces" => vec![0u8; 40] } }.to_bencode(),
            |e| matches!(e, Error::PieceCountMismatch { found: 2, expected: 3, .. }),
        ),
        (
            "negative-length",
            v1_multi(list![file(list!["a"], -5)], 0),
            |e| matches!(e, Error::InvalidLength { problem: "negative", value: -5, .. }),
        ),
        (
            "huge-length",
            dict! { "info" => dict! { "name" => "x", "piece length" => PL, "length" => i64::MAX, "pieces" => vec![0u8; 20] } }.to_bencode(),
            |e| matches!(e, Error::InvalidLength { problem: "too large", .. }),
        ),
        (
            "lengths-overflow-total",
            v1_multi(list![file(list!["a"], 1 << 49), file(list!["b"], 1 << 49), file(list!["c"], 1 << 49)], 0),
            |e| matches!(e, Error::LimitExceeded { what: "total length", .. }),
        ),
        (
            "piece-length-zero",
            dict! { "info" => dict! { "name" => "x", "piece length" => 0, "length" => 10, "pieces" => vec![0u8; 20] } }.to_bencode(),
            |e| matches!(e, Error::InvalidPieceLength { value: 0, .. }),
        ),
        (
            "piece-length-negative",
            dict! { "info" => dict! { "name" => "x", "piece length" => -16384, "length" => 10, "pieces" => vec![0u8; 20] } }.to_bencode(),
            |e| matches!(e, Error::InvalidPieceLength { value: -16384, .. }),
        ),
        (
            "v2-piece-length-not-power-of-two",
            dict! { "info" => dict! { "name" => "x", "piece length" => 3 * PL, "meta version" => 2,
                "file tree" => dict! { "x" => dict! { "" => dict! { "length" => 1, "pieces root" => vec![0u8; 32] } } } } }.to_bencode(),
            |e| matches!(e, Error::InvalidPieceLength { .. }),
        ),
        (
            "v2-layer-wrong-size",
            v2_with_layer(layer[..64].to_vec(), root),
            |e| matches!(e, Error::PieceLayerSize { found: 64, expected: 96, .. }),
        ),
        (
            "v2-layer-wrong-hashes",
            v2_with_layer(layer.iter().map(|b| b ^ 1).collect(), root),
            |e| matches!(e, Error::PieceLayerMismatch { file: 0, .. }),
        ),
        (
            "v2-layer-missing",
            v2_with_layer_keyed(layer.clone(), root, [0; 32]),
            |e| matches!(e, Error::MissingPieceLayer { file: 0, .. }),
        ),
        (
            "v2-tree-traversal",
            dict! { "info" => dict! { "name" => "x", "piece length" => PL, "meta version" => 2,
                "file tree" => dict! { ".." => dict! { "evil" => dict! { "" => dict! { "length" => 1, "pieces root" => vec![0u8; 32] } } } } } }.to_bencode(),
            |e| matches!(e, Error::UnsafePath { problem: PathProblem::ParentDir, .. }),
        ),
        (
            "v2-file-and-folder",
            dict! { "info" => dict! { "name" => "x", "piece length" => PL, "meta version" => 2,
                "file tree" => dict! { "a" => dict! {
                    "" => dict! { "length" => 1, "pieces root" => vec![0u8; 32] },
                    "b" => dict! { "" => dict! { "length" => 1, "pieces root" => vec![0u8; 32] } },
                } } } }.to_bencode(),
            |e| matches!(e, Error::InvalidField { reason, .. } if reason.contains("both a file and a folder")),
        ),
        (
            "v2-missing-pieces-root",
            dict! { "info" => dict! { "name" => "x", "piece length" => PL, "meta version" => 2,
                "file tree" => dict! { "x" => dict! { "" => dict! { "length" => 5 } } } } }.to_bencode(),
            |e| matches!(e, Error::MissingField { field } if field.ends_with("pieces root")),
        ),
        (
            "meta-version-3",
            dict! { "info" => dict! { "name" => "x", "piece length" => PL, "meta version" => 3, "length" => 1, "pieces" => vec![0u8; 20] } }.to_bencode(),
            |e| matches!(e, Error::UnsupportedMetaVersion { version: 3, .. }),
        ),
        (
            "hybrid-length-mismatch",
            hybrid(PL - 1, true),
            |e| matches!(e, Error::HybridMismatch { detail } if detail.contains("bytes in v1")),
        ),
        (
            "hybrid-unaligned",
            hybrid(PL, true),
            |e| matches!(e, Error::HybridMismatch { detail } if detail.contains("piece boundary")),
        ),
        (
            "symlink-escape",
            v1_multi(list![file(list!["a"], 10), dict! { "attr" => "l", "length" => 0, "path" => list!["link"], "symlink path" => list!["..", "..", "home"] }], 10),
            |e| matches!(e, Error::UnsafePath { problem: PathProblem::ParentDir, field, .. } if field.contains("symlink path")),
        ),
        (
            "symlink-absolute",
            v1_multi(list![file(list!["a"], 10), dict! { "attr" => "l", "length" => 0, "path" => list!["link"], "symlink path" => list!["/etc"] }], 10),
            |e| matches!(e, Error::UnsafePath { problem: PathProblem::Slash, .. }),
        ),
        (
            "symlink-with-data",
            v1_multi(list![dict! { "attr" => "l", "length" => 10, "path" => list!["link"], "symlink path" => list!["b"] }, file(list!["b"], 1)], 11),
            |e| matches!(e, Error::InvalidSymlink { file: 0, .. }),
        ),
        (
            "length-and-files",
            dict! { "info" => dict! { "name" => "x", "piece length" => PL, "length" => 10, "files" => list![file(list!["a"], 10)], "pieces" => vec![0u8; 20] } }.to_bencode(),
            |e| matches!(e, Error::InvalidField { field, .. } if field == "info.files"),
        ),
        (
            "private-2",
            dict! { "info" => dict! { "name" => "x", "piece length" => PL, "length" => 10, "pieces" => vec![0u8; 20], "private" => 2 } }.to_bencode(),
            |e| matches!(e, Error::InvalidField { field, .. } if field == "info.private"),
        ),
        (
            "info-duplicate-key",
            b"d4:infod6:lengthi10e4:name1:x4:name1:y12:piece lengthi16384e6:pieces20:aaaaaaaaaaaaaaaaaaaaee".to_vec(),
            |e| matches!(e, Error::InvalidField { field, offset: 29, .. } if field == "info"),
        ),
        (
            "info-not-a-dict",
            b"d4:infoli1eee".to_vec(),
            |e| matches!(e, Error::WrongType { expected: "dictionary", offset: 7, .. }),
        ),
        (
            "missing-info",
            dict! { "announce" => "udp://x:1" }.to_bencode(),
            |e| matches!(e, Error::MissingField { field } if field == "info"),
        ),
        (
            "missing-pieces",
            dict! { "info" => dict! { "name" => "x", "piece length" => PL, "length" => 10 } }.to_bencode(),
            |e| matches!(e, Error::MissingField { field } if field == "info.pieces"),
        ),
        (
            "deep-nesting",
            {
                let mut b = b"d4:info".to_vec();
                b.extend(std::iter::repeat_n(b'l', 500));
                b.extend(std::iter::repeat_n(b'e', 500));
                b.push(b'e');
                b
            },
            |e| matches!(e, Error::Bencode(bitswarm_bencode::Error::DepthLimit { .. })),
        ),
        (
            "truncated",
            dict! { "info" => dict! { "name" => "x", "piece length" => PL, "length" => 10, "pieces" => vec![0u8; 20] } }.to_bencode()[..40].to_vec(),
            |e| matches!(e, Error::Bencode(bitswarm_bencode::Error::LengthPastEnd { .. } | bitswarm_bencode::Error::UnexpectedEof { .. })),
        ),
    ]
}

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/hostile")
}

#[test]
fn generators_give_their_errors() {
    for (name, bytes, check) in hostile() {
        match Metainfo::from_bytes(&bytes) {
            Ok(_) => panic!("{name}: accepted"),
            Err(e) => assert!(check(&e), "{name}: wrong error: {e:?}"),
        }
    }
}

#[test]
fn committed_files_match() {
    let regenerate = std::env::var_os("REGENERATE_HOSTILE").is_some();
    let mut expected: Vec<String> = Vec::new();
    for (name, bytes, _) in hostile() {
        let path = dir().join(format!("{name}.torrent"));
        if regenerate {
            std::fs::create_dir_all(dir()).unwrap();
            std::fs::write(&path, &bytes).unwrap();
        }
        let on_disk = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert_eq!(
            on_disk, bytes,
            "{name}: regenerate with REGENERATE_HOSTILE=1"
        );
        expected.push(format!("{name}.torrent"));
    }
    let mut present: Vec<String> = std::fs::read_dir(dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    present.sort();
    expected.sort();
    assert_eq!(
        present, expected,
        "tests/hostile holds exactly the generated files"
    );
}

#[test]
fn every_committed_file_is_refused() {
    let checks = hostile();
    for entry in std::fs::read_dir(dir()).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_stem().unwrap().to_str().unwrap().to_owned();
        let (_, _, check) = checks
            .iter()
            .find(|(n, _, _)| *n == name)
            .unwrap_or_else(|| panic!("{name} has no generator"));
        let err = Metainfo::from_bytes(&std::fs::read(&path).unwrap()).unwrap_err();
        assert!(check(&err), "{name}: {err}");
        // The message names what and where.
        assert!(!err.to_string().is_empty());
    }
}

#[test]
fn a_valid_neighbour_of_each_v2_case_parses() {
    // The v2 cases above fail on their one defect only: the same torrent
    // with the right layer is accepted.
    let (_, layer, root) = v2_file(3, 9);
    let m = Metainfo::from_bytes(&v2_with_layer(layer, root)).unwrap();
    assert_eq!(m.num_pieces(), 3);
    assert!(m.layout().piece_layer(0).is_some());
    // And the hybrid with a correct pad.
    assert!(Metainfo::from_bytes(&hybrid(PL - 1, true)).is_err());
    let m = Metainfo::from_bytes(&hybrid_ok()).unwrap();
    assert_eq!(m.files().len(), 3);
}

fn hybrid_ok() -> Vec<u8> {
    let (_, _, root_a) = v2_file(1, 3);
    let (_, _, root_b) = v2_file(1, 5);
    dict! {
        "info" => dict! {
            "name" => "hybrid",
            "piece length" => PL,
            "meta version" => 2,
            "pieces" => vec![1u8; 40],
            "files" => list![
                file(list!["a.bin"], PL - 1),
                dict! { "attr" => "p", "length" => 1, "path" => list![".pad", "1"] },
                file(list!["b.bin"], PL),
            ],
            "file tree" => dict! {
                "a.bin" => dict! { "" => dict! { "length" => PL - 1, "pieces root" => &root_a[..] } },
                "b.bin" => dict! { "" => dict! { "length" => PL, "pieces root" => &root_b[..] } },
            },
        },
    }
    .to_bencode()
}

#[test]
fn hundred_megabyte_pieces_is_refused() {
    let pieces = vec![0u8; 100_000_000];
    let bytes = dict! { "info" => dict! { "name" => "x", "piece length" => PL, "length" => 1, "pieces" => pieces } }
        .to_bencode();
    assert!(matches!(
        Metainfo::from_bytes(&bytes),
        Err(Error::InputTooLarge { .. })
    ));
    // Even when the input limit lets it in, the piece limit does not.
    let roomy = Limits {
        max_input_len: 200 << 20,
        ..Limits::default()
    };
    assert!(matches!(
        Metainfo::from_bytes_with(&bytes, &roomy),
        Err(Error::LimitExceeded {
            what: "pieces",
            found: 5_000_000,
            ..
        })
    ));
}

#[test]
fn two_million_files_are_refused() {
    let mut files = ListBuilder::new();
    for _ in 0..2_000_000 {
        files.push(file(list!["a"], 0));
    }
    let bytes = v1_multi(files, 0);
    assert!(bytes.len() < Limits::default().max_input_len);
    // Four values per entry: the decoder stops at its value limit, halfway
    // through, before the entries are all held in memory.
    assert!(matches!(
        Metainfo::from_bytes(&bytes),
        Err(Error::Bencode(bitswarm_bencode::Error::TooManyValues {
            limit: 4_194_304,
            ..
        }))
    ));
    // With room for the values, the file limit still refuses it.
    let roomy = Limits {
        max_values: 10_000_000,
        ..Limits::default()
    };
    assert!(matches!(
        Metainfo::from_bytes_with(&bytes, &roomy),
        Err(Error::LimitExceeded {
            what: "files",
            found: 2_000_000,
            ..
        })
    ));
}

#[test]
fn v2_tree_with_too_many_files_is_refused() {
    let mut tree = DictBuilder::new();
    for i in 0..600_000u32 {
        tree.insert(format!("{i:08}"), dict! { "" => dict! { "length" => 0 } });
    }
    let bytes = dict! { "info" => dict! { "name" => "x", "piece length" => PL, "meta version" => 2, "file tree" => tree } }
        .to_bencode();
    assert!(matches!(
        Metainfo::from_bytes(&bytes),
        Err(Error::LimitExceeded { what: "files", .. })
    ));
}
