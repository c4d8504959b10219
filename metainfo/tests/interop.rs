//! Against real programs: torrents made by mktorrent, transmission-create
//! and libtorrent parse and give the info-hashes each tool reports; torrents
//! we make load in libtorrent with our hashes and pass its full recheck; where
//! our file order matches a tool's, our info-hashes equal its.
//!
//! Needs `mktorrent`, `transmission-cli` and `python3-libtorrent` from
//! Debian: `scripts/test-all` installs them and runs these tests. A missing
//! program fails the test.

use std::path::{Path, PathBuf};

use bitswarm_metainfo::{Metainfo, TorrentBuilder, Version};
use bitswarm_testkit::libtorrent::{self, CreateOptions};
use bitswarm_testkit::{content, mktorrent, transmission};

const TRACKER: &str = "udp://127.0.0.1:1/announce";

/// One big file (about 3 MB, not a multiple of any piece size).
fn single_file(dir: &Path) -> PathBuf {
    let path = dir.join("single file.bin");
    content::write_file(&path, 3_000_017, 11).unwrap();
    path
}

/// Nested folders, a space in a name, an empty file, files smaller and
/// larger than a piece.
fn tree(dir: &Path) -> PathBuf {
    let root = dir.join("tree");
    content::write_tree(&root, content::AWKWARD_TREE, 12).unwrap();
    root
}

fn read(torrent: &Path) -> Metainfo {
    let bytes = std::fs::read(torrent).unwrap();
    Metainfo::from_bytes(&bytes).unwrap_or_else(|e| panic!("{}: {e}", torrent.display()))
}

fn hex_v1(m: &Metainfo) -> Option<String> {
    m.info_hash_v1().map(|h| h.to_string())
}

fn hex_v2(m: &Metainfo) -> Option<String> {
    m.info_hash_v2().map(|h| h.to_string())
}

/// The content's files as (path, length), empty files included or not.
fn expected_files(content: &Path, with_empty: bool) -> Vec<(String, u64)> {
    if content.is_file() {
        let name = content.file_name().unwrap().to_str().unwrap().to_owned();
        return vec![(name, std::fs::metadata(content).unwrap().len())];
    }
    let mut files: Vec<(String, u64)> = content::AWKWARD_TREE
        .iter()
        .filter(|(_, len)| with_empty || *len > 0)
        .map(|(p, len)| ((*p).to_owned(), *len))
        .collect();
    files.sort();
    files
}

fn our_files(m: &Metainfo) -> Vec<(String, u64)> {
    let mut files: Vec<(String, u64)> = m
        .files()
        .iter()
        .filter(|f| !f.is_pad())
        .map(|f| (f.path().to_string(), f.length()))
        .collect();
    files.sort();
    files
}

#[test]
#[ignore = "needs mktorrent, transmission-cli and python3-libtorrent: run scripts/test-all"]
fn mktorrent_torrents_parse_with_its_hash() {
    let dir = tempfile::tempdir().unwrap();
    for (content, log2) in [(single_file(dir.path()), 18), (tree(dir.path()), 15)] {
        let out = dir.path().join(format!("mk-{log2}.torrent"));
        mktorrent::create(&content, &out, log2, &[TRACKER]).unwrap();
        let m = read(&out);
        assert_eq!(m.version(), Version::V1);
        assert_eq!(hex_v1(&m).unwrap(), transmission::info_hash(&out).unwrap());
        assert_eq!(hex_v1(&m), libtorrent::info_hashes(&out).unwrap().v1);
        assert_eq!(m.piece_length(), 1 << log2);
        assert_eq!(m.trackers(), [[TRACKER]]);
        // mktorrent keeps empty files.
        assert_eq!(our_files(&m), expected_files(&content, true));
    }
}

#[test]
#[ignore = "needs mktorrent, transmission-cli and python3-libtorrent: run scripts/test-all"]
fn transmission_torrents_parse_with_its_hash() {
    let dir = tempfile::tempdir().unwrap();
    for content in [single_file(dir.path()), tree(dir.path())] {
        let out = dir.path().join("tr.torrent");
        let _ = std::fs::remove_file(&out);
        transmission::create(&content, &out, 32, TRACKER).unwrap();
        let m = read(&out);
        assert_eq!(hex_v1(&m).unwrap(), transmission::info_hash(&out).unwrap());
        assert_eq!(hex_v1(&m), libtorrent::info_hashes(&out).unwrap().v1);
        // transmission-create writes `private` = 0 and drops empty files.
        assert!(!m.private());
        assert_eq!(our_files(&m), expected_files(&content, false));
    }
}

#[test]
#[ignore = "needs mktorrent, transmission-cli and python3-libtorrent: run scripts/test-all"]
fn libtorrent_torrents_parse_with_its_hashes() {
    let dir = tempfile::tempdir().unwrap();
    for content in [single_file(dir.path()), tree(dir.path())] {
        for v1_only in [true, false] {
            let out = dir.path().join("lt.torrent");
            let options = CreateOptions {
                v1_only,
                piece_size: Some(32 * 1024),
            };
            let created = libtorrent::create_torrent_with(&content, &out, &options).unwrap();
            let m = read(&out);
            assert_eq!(hex_v1(&m), created.hashes.v1);
            assert_eq!(hex_v2(&m), created.hashes.v2);
            let version = if v1_only {
                Version::V1
            } else {
                Version::Hybrid
            };
            assert_eq!(m.version(), version);
            assert_eq!(our_files(&m), expected_files(&content, true));
            if !v1_only {
                // Every piece layer was checked against its root while parsing.
                assert!(m.has_piece_layers());
                let big = m
                    .files()
                    .iter()
                    .position(|f| f.length() > 32 * 1024)
                    .unwrap();
                assert!(m.layout().piece_layer(big).unwrap().len() > 1);
            }
        }
    }
}

/// Builds a torrent of `content` with our builder and writes it next to it.
fn build(content: &Path, version: Version, piece_length: u64, out: &Path) -> Metainfo {
    let m = TorrentBuilder::new(content)
        .version(version)
        .piece_length(piece_length)
        .tracker(TRACKER)
        .creation_date(None)
        .threads(2)
        .build()
        .unwrap();
    std::fs::write(out, m.as_bytes()).unwrap();
    m
}

#[test]
#[ignore = "needs mktorrent, transmission-cli and python3-libtorrent: run scripts/test-all"]
fn our_torrents_load_and_recheck_in_libtorrent() {
    let dir = tempfile::tempdir().unwrap();
    for content in [single_file(dir.path()), tree(dir.path())] {
        for version in [Version::V1, Version::V2, Version::Hybrid] {
            let out = dir.path().join(format!("ours-{version:?}.torrent"));
            let m = build(&content, version, 32 * 1024, &out);
            let check = libtorrent::recheck(&out, dir.path()).unwrap();
            let what = format!("{version:?} {}", content.display());
            assert_eq!(check.hashes.v1, hex_v1(&m), "{what}");
            assert_eq!(check.hashes.v2, hex_v2(&m), "{what}");
            assert_eq!(check.pieces, m.num_pieces(), "{what}");
            assert_eq!(check.valid, check.pieces, "{what}: every piece valid");
        }
    }
}

#[test]
#[ignore = "needs mktorrent, transmission-cli and python3-libtorrent: run scripts/test-all"]
fn libtorrent_recheck_finds_a_corrupt_piece() {
    // The recheck above could not pass by finding every piece valid
    // whatever the data: one changed byte costs exactly one piece.
    let dir = tempfile::tempdir().unwrap();
    let content = tree(dir.path());
    let out = dir.path().join("ours.torrent");
    let m = build(&content, Version::Hybrid, 32 * 1024, &out);
    let victim = content.join("z-last.bin");
    let mut bytes = std::fs::read(&victim).unwrap();
    bytes[100_000] ^= 0xff;
    std::fs::write(&victim, bytes).unwrap();
    let check = libtorrent::recheck(&out, dir.path()).unwrap();
    assert_eq!(check.pieces, m.num_pieces());
    assert_eq!(check.valid, check.pieces - 1);
}

#[test]
#[ignore = "needs mktorrent, transmission-cli and python3-libtorrent: run scripts/test-all"]
fn v1_hashes_equal_mktorrent() {
    let dir = tempfile::tempdir().unwrap();
    for (content, log2) in [
        (single_file(dir.path()), 16),
        (single_file(dir.path()), 20),
        (tree(dir.path()), 15),
        (tree(dir.path()), 17),
    ] {
        let theirs = dir.path().join(format!("mk-{log2}.torrent"));
        let _ = std::fs::remove_file(&theirs);
        mktorrent::create(&content, &theirs, log2, &[TRACKER]).unwrap();
        let ours = build(
            &content,
            Version::V1,
            1 << log2,
            &dir.path().join("ours.torrent"),
        );
        let theirs = read(&theirs);
        assert_eq!(
            ours.info_bytes(),
            theirs.info_bytes(),
            "{}",
            content.display()
        );
        assert_eq!(ours.info_hash_v1(), theirs.info_hash_v1());
    }
}

#[test]
#[ignore = "needs mktorrent, transmission-cli and python3-libtorrent: run scripts/test-all"]
fn hybrid_hashes_equal_libtorrent() {
    let dir = tempfile::tempdir().unwrap();
    for (content, piece_size) in [
        (single_file(dir.path()), 64 * 1024),
        (tree(dir.path()), 16 * 1024),
        (tree(dir.path()), 32 * 1024),
        (tree(dir.path()), 1024 * 1024),
    ] {
        let theirs = dir.path().join("lt.torrent");
        let options = CreateOptions {
            v1_only: false,
            piece_size: Some(piece_size),
        };
        let created = libtorrent::create_torrent_with(&content, &theirs, &options).unwrap();
        let ours = build(
            &content,
            Version::Hybrid,
            piece_size,
            &dir.path().join("ours.torrent"),
        );
        let what = format!("{} with {piece_size}-byte pieces", content.display());
        assert_eq!(ours.info_bytes(), read(&theirs).info_bytes(), "{what}");
        assert_eq!(hex_v1(&ours), created.hashes.v1, "{what}");
        assert_eq!(hex_v2(&ours), created.hashes.v2, "{what}");
    }
}
