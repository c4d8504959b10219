//! Torrents made by real tools decode strictly, and the SHA-1 (and, for v2,
//! SHA-256) of our raw span of `info` is the info-hash each tool reports.
//!
//! Needs `mktorrent`, `transmission-cli` and `python3-libtorrent` from
//! Debian: `scripts/test-all` installs them and runs these tests.

use std::path::Path;

use bitswarm_bencode::decode;
use bitswarm_testkit::{content, libtorrent, mktorrent, transmission};
use sha1::{Digest, Sha1};
use sha2::Sha256;

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Our v1 and v2 hashes over the raw `info` span, and the decoded file list length.
struct Ours {
    v1: String,
    v2: String,
    has_pieces: bool,
    has_file_tree: bool,
}

fn hash_info(torrent: &Path) -> Ours {
    let bytes = std::fs::read(torrent).unwrap();
    let value = decode(&bytes).unwrap_or_else(|e| panic!("{}: {e}", torrent.display()));
    let info = value.get("info").expect("torrent has an info dictionary");
    let span = info.span_in(&bytes).expect("info lies inside the file");
    assert_eq!(&bytes[span], info.raw());
    Ours {
        v1: hex(&Sha1::digest(info.raw())),
        v2: hex(&Sha256::digest(info.raw())),
        has_pieces: info.get("pieces").is_some(),
        has_file_tree: info.get("file tree").is_some(),
    }
}

fn single_file(dir: &Path) -> std::path::PathBuf {
    let path = dir.join("single.bin");
    content::write_file(&path, 3_000_017, 1).unwrap();
    path
}

fn tree(dir: &Path) -> std::path::PathBuf {
    let root = dir.join("tree");
    content::write_tree(&root, content::AWKWARD_TREE, 2).unwrap();
    root
}

#[test]
#[ignore = "needs mktorrent, transmission-cli and python3-libtorrent: run scripts/test-all"]
fn mktorrent_single_and_multi_file() {
    let dir = tempfile::tempdir().unwrap();
    for (content, piece_log2) in [(single_file(dir.path()), 16), (tree(dir.path()), 15)] {
        let out = dir.path().join(format!("mk-{piece_log2}.torrent"));
        mktorrent::create(&content, &out, piece_log2, &["udp://127.0.0.1:1/announce"]).unwrap();
        let ours = hash_info(&out);
        assert!(ours.has_pieces);
        assert_eq!(
            ours.v1,
            transmission::info_hash(&out).unwrap(),
            "transmission-show"
        );
        assert_eq!(
            Some(ours.v1),
            libtorrent::info_hashes(&out).unwrap().v1,
            "libtorrent"
        );
    }
}

#[test]
#[ignore = "needs mktorrent, transmission-cli and python3-libtorrent: run scripts/test-all"]
fn transmission_create_multi_file() {
    let dir = tempfile::tempdir().unwrap();
    let root = tree(dir.path());
    let out = dir.path().join("tr.torrent");
    transmission::create(&root, &out, 32, "udp://127.0.0.1:1/announce").unwrap();
    let ours = hash_info(&out);
    assert_eq!(ours.v1, transmission::info_hash(&out).unwrap());
    assert_eq!(Some(ours.v1), libtorrent::info_hashes(&out).unwrap().v1);
}

#[test]
#[ignore = "needs mktorrent, transmission-cli and python3-libtorrent: run scripts/test-all"]
fn libtorrent_v1_only() {
    let dir = tempfile::tempdir().unwrap();
    for content in [single_file(dir.path()), tree(dir.path())] {
        let out = dir.path().join("lt-v1.torrent");
        let reported = libtorrent::create_torrent(&content, &out, true).unwrap();
        let ours = hash_info(&out);
        assert!(ours.has_pieces && !ours.has_file_tree);
        assert_eq!(reported.v1, Some(ours.v1));
        assert_eq!(reported.v2, None);
    }
}

#[test]
#[ignore = "needs mktorrent, transmission-cli and python3-libtorrent: run scripts/test-all"]
fn libtorrent_hybrid_v1_and_v2() {
    let dir = tempfile::tempdir().unwrap();
    for content in [single_file(dir.path()), tree(dir.path())] {
        let out = dir.path().join("lt-hybrid.torrent");
        let reported = libtorrent::create_torrent(&content, &out, false).unwrap();
        let ours = hash_info(&out);
        assert!(
            ours.has_pieces && ours.has_file_tree,
            "hybrid has both layouts"
        );
        assert_eq!(reported.v1, Some(ours.v1), "SHA-1 of the raw info span");
        assert_eq!(reported.v2, Some(ours.v2), "SHA-256 of the raw info span");
    }
}
