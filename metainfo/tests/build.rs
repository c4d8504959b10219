//! TorrentBuilder end to end, checked independently: every piece we hash is
//! re-read through the layout API and verified with plain SHA-1 and the
//! merkle helper, for v1, v2 and hybrid torrents.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bitswarm_metainfo::{
    CancelToken, Error, Magnet, Metainfo, Symlinks, TorrentBuilder, Version, merkle_hash,
};
use bitswarm_testkit::content;
use sha1::{Digest, Sha1};

fn tree(dir: &Path) -> PathBuf {
    let root = dir.join("tree");
    content::write_tree(&root, content::AWKWARD_TREE, 3).unwrap();
    root
}

fn builder(content: &Path, version: Version, piece_length: u64) -> TorrentBuilder {
    TorrentBuilder::new(content)
        .version(version)
        .piece_length(piece_length)
        .creation_date(None)
}

/// Reads piece `p` from disk through the layout (pads are zeros).
fn read_piece(m: &Metainfo, download_dir: &Path, p: u32) -> Vec<u8> {
    let mut data = Vec::new();
    for span in m.layout().piece_spans(p).unwrap() {
        let f = &m.files()[span.file];
        if f.is_pad() {
            data.extend(std::iter::repeat_n(0u8, span.length as usize));
            continue;
        }
        let bytes = std::fs::read(m.file_path_in(download_dir, span.file).unwrap()).unwrap();
        let start = span.file_offset as usize;
        data.extend_from_slice(&bytes[start..start + span.length as usize]);
    }
    data
}

/// Checks every piece of `m` against the content in `download_dir`.
fn verify_all(m: &Metainfo, download_dir: &Path) {
    assert!(m.num_pieces() > 0);
    for p in 0..m.num_pieces() {
        let data = read_piece(m, download_dir, p);
        if m.version().has_v1() {
            let want = m.info().piece_hash_v1(p).unwrap();
            assert_eq!(<[u8; 20]>::from(Sha1::digest(&data)), want, "v1 piece {p}");
        }
        if m.version().has_v2() {
            let v2 = m.v2_piece(p).unwrap();
            let size = m.files()[v2.file].length() - u64::from(v2.index_in_file) * m.piece_length();
            let real = &data[..size.min(m.piece_length()) as usize];
            assert_eq!(Some(merkle_hash(real, v2.leaves)), v2.hash, "v2 piece {p}");
        }
    }
}

#[test]
fn built_pieces_verify_through_the_layout() {
    let dir = tempfile::tempdir().unwrap();
    let root = tree(dir.path());
    let single = dir.path().join("single.bin");
    content::write_file(&single, 200_001, 4).unwrap();
    for content in [&root, &single] {
        for version in [Version::V1, Version::V2, Version::Hybrid] {
            for piece_length in [16 * 1024, 64 * 1024] {
                let m = builder(content, version, piece_length).build().unwrap();
                assert_eq!(m.version(), version);
                assert_eq!(m.piece_length(), piece_length);
                verify_all(&m, dir.path());
                // The bytes parse back to the same torrent.
                assert_eq!(Metainfo::from_bytes(m.as_bytes()).unwrap(), m);
            }
        }
    }
}

#[test]
fn thread_count_does_not_change_the_output() {
    let dir = tempfile::tempdir().unwrap();
    let big = dir.path().join("big.bin");
    content::write_file(&big, 9 << 20, 5).unwrap();
    for version in [Version::V1, Version::Hybrid] {
        let one = builder(&big, version, 16 * 1024)
            .threads(1)
            .build()
            .unwrap();
        let four = builder(&big, version, 16 * 1024)
            .threads(4)
            .build()
            .unwrap();
        assert_eq!(one.as_bytes(), four.as_bytes());
    }
}

#[test]
fn progress_reports_every_byte() {
    let dir = tempfile::tempdir().unwrap();
    let root = tree(dir.path());
    let total: u64 = content::AWKWARD_TREE.iter().map(|(_, l)| l).sum();
    let seen = Arc::new(AtomicU64::new(0));
    let max = seen.clone();
    let b = builder(&root, Version::Hybrid, 16 * 1024).progress(move |n| {
        max.fetch_max(n, Ordering::Relaxed);
    });
    assert_eq!(b.total_length().unwrap(), total);
    b.build().unwrap();
    assert_eq!(seen.load(Ordering::Relaxed), total);
}

#[test]
fn cancellation_stops_the_build() {
    let dir = tempfile::tempdir().unwrap();
    let big = dir.path().join("big.bin");
    content::write_file(&big, 32 << 20, 6).unwrap();
    // Cancelled before it starts.
    let token = CancelToken::new();
    token.cancel();
    let err = builder(&big, Version::V1, 16 * 1024)
        .cancel_token(token)
        .build()
        .unwrap_err();
    assert!(matches!(err, Error::Cancelled), "{err}");
    // Cancelled by the first progress report: the rest is not hashed.
    let token = CancelToken::new();
    let from_progress = token.clone();
    let hashed = Arc::new(AtomicU64::new(0));
    let seen = hashed.clone();
    let err = builder(&big, Version::Hybrid, 16 * 1024)
        .threads(1)
        .cancel_token(token)
        .progress(move |n| {
            seen.store(n, Ordering::Relaxed);
            from_progress.cancel();
        })
        .build()
        .unwrap_err();
    assert!(matches!(err, Error::Cancelled), "{err}");
    assert!(hashed.load(Ordering::Relaxed) < 32 << 20);
}

fn paths(m: &Metainfo) -> Vec<String> {
    m.files()
        .iter()
        .filter(|f| !f.is_pad())
        .map(|f| f.path().to_string())
        .collect()
}

#[test]
fn file_order_follows_the_tools() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("order");
    content::write_tree(
        &root,
        &[
            ("a/x", 3),
            ("a b/x", 3),
            ("a-c/x", 3),
            ("a.txt", 2),
            ("zempty", 0),
        ],
        1,
    )
    .unwrap();
    // v1: the `/`-joined path, as mktorrent sorts.
    let v1 = builder(&root, Version::V1, 16 * 1024).build().unwrap();
    assert_eq!(paths(&v1), ["a b/x", "a-c/x", "a.txt", "a/x", "zempty"]);
    // v2 and hybrid: component by component, the file tree's order.
    let hybrid = builder(&root, Version::Hybrid, 16 * 1024).build().unwrap();
    assert_eq!(paths(&hybrid), ["a/x", "a b/x", "a-c/x", "a.txt", "zempty"]);
}

#[test]
fn filters_and_hidden_files() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("f");
    content::write_tree(
        &root,
        &[
            ("keep.bin", 10),
            (".hidden", 10),
            (".git/config", 10),
            ("skip.tmp", 10),
            ("sub/keep2", 10),
        ],
        1,
    )
    .unwrap();
    let m = builder(&root, Version::V1, 16 * 1024)
        .skip_hidden(true)
        .filter(|p| p.extension().is_none_or(|e| e != "tmp"))
        .build()
        .unwrap();
    assert_eq!(paths(&m), ["keep.bin", "sub/keep2"]);
    let all = builder(&root, Version::V1, 16 * 1024).build().unwrap();
    assert_eq!(all.files().len(), 5);
}

#[cfg(unix)]
#[test]
fn symlinks_followed_or_recorded() {
    use std::os::unix::fs::symlink;
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("links");
    content::write_tree(&root, &[("data/real.bin", 1000)], 1).unwrap();
    symlink("data/real.bin", root.join("inside")).unwrap();

    // Followed: the link's target content is a file of its own.
    let followed = builder(&root, Version::Hybrid, 16 * 1024).build().unwrap();
    assert_eq!(paths(&followed), ["data/real.bin", "inside"]);
    assert!(
        followed
            .files()
            .iter()
            .filter(|f| !f.is_pad())
            .all(|f| f.length() == 1000)
    );

    // Recorded (BEP 47): no data, a target inside the torrent.
    let recorded = builder(&root, Version::Hybrid, 16 * 1024)
        .symlinks(Symlinks::Record)
        .build()
        .unwrap();
    let link = recorded
        .files()
        .iter()
        .find(|f| f.path().to_string() == "inside")
        .unwrap();
    assert!(link.attributes().symlink);
    assert_eq!(link.length(), 0);
    assert_eq!(link.symlink_target().unwrap().to_string(), "data/real.bin");
    verify_all(&recorded, dir.path());

    // A link out of the folder cannot be recorded.
    let outside = dir.path().join("secret");
    std::fs::write(&outside, b"secret").unwrap();
    symlink(&outside, root.join("escape")).unwrap();
    let err = builder(&root, Version::V1, 16 * 1024)
        .symlinks(Symlinks::Record)
        .build()
        .unwrap_err();
    assert!(err.to_string().contains("outside"), "{err}");
}

#[cfg(unix)]
#[test]
fn executable_files_get_the_x_attribute() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("exec");
    content::write_tree(&root, &[("run.sh", 100), ("data", 100)], 1).unwrap();
    std::fs::set_permissions(root.join("run.sh"), std::fs::Permissions::from_mode(0o755)).unwrap();
    let m = builder(&root, Version::Hybrid, 16 * 1024).build().unwrap();
    let attrs: Vec<(String, bool)> = m
        .files()
        .iter()
        .filter(|f| !f.is_pad())
        .map(|f| (f.path().to_string(), f.attributes().executable))
        .collect();
    assert_eq!(attrs, [("data".into(), false), ("run.sh".into(), true)]);
}

#[test]
fn refused_requests() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("x");
    std::fs::write(&file, b"x").unwrap();
    for pl in [0, 1000, 8 * 1024, 3 * 16 * 1024] {
        let err = builder(&file, Version::V1, pl).build().unwrap_err();
        assert!(matches!(err, Error::Build { .. }), "{pl}: {err}");
    }
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    assert!(matches!(
        builder(&empty, Version::V1, 16 * 1024).build(),
        Err(Error::Build { .. })
    ));
    std::fs::write(empty.join("zero"), b"").unwrap();
    assert!(matches!(
        builder(&empty, Version::V1, 16 * 1024).build(),
        Err(Error::Build { .. })
    ));
    assert!(matches!(
        builder(&dir.path().join("missing"), Version::V1, 16 * 1024).build(),
        Err(Error::Io { .. })
    ));
}

#[test]
fn top_level_fields_are_written() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("x.bin");
    content::write_file(&file, 50_000, 1).unwrap();
    let m = TorrentBuilder::new(&file)
        .version(Version::V1)
        .tracker_tier(["udp://a:1", "udp://b:2"])
        .tracker("http://c/announce")
        .web_seed("https://seed.example/x.bin")
        .comment("a comment")
        .source("SRC")
        .private(true)
        .name("renamed.bin")
        .creation_date(Some(1_700_000_000))
        .build()
        .unwrap();
    assert_eq!(
        m.trackers(),
        [vec!["udp://a:1", "udp://b:2"], vec!["http://c/announce"]]
    );
    assert_eq!(m.announce(), Some("udp://a:1"));
    assert_eq!(m.web_seeds(), ["https://seed.example/x.bin"]);
    assert_eq!(m.comment(), Some("a comment"));
    assert_eq!(m.info().source(), Some("SRC"));
    assert!(m.private());
    assert_eq!(m.name(), "renamed.bin");
    assert_eq!(m.files()[0].path().to_string(), "renamed.bin");
    assert_eq!(m.creation_date(), Some(1_700_000_000));
    assert!(m.created_by().unwrap().starts_with("bitswarm"));
    assert!(m.warnings().is_empty());
}

#[test]
fn metadata_from_peers_is_verified_against_the_magnet() {
    let dir = tempfile::tempdir().unwrap();
    let root = tree(dir.path());
    for version in [Version::V1, Version::V2, Version::Hybrid] {
        let made = builder(&root, version, 16 * 1024)
            .tracker("udp://127.0.0.1:1")
            .build()
            .unwrap();
        let magnet: Magnet = made.magnet().to_string().parse().unwrap();
        assert_eq!(magnet.display_name.as_deref(), Some("tree"));
        let info = made.info_bytes();
        let got = magnet.to_metainfo(&info).unwrap();
        assert_eq!(got.info_hash_v1(), made.info_hash_v1());
        assert_eq!(got.info_hash_v2(), made.info_hash_v2());
        assert_eq!(got.trackers(), [["udp://127.0.0.1:1"]]);
        assert_eq!(got.files(), made.files());
        if version.has_v2() {
            // No piece layers over BEP 9: a multi-piece file waits for them.
            assert!(!got.has_piece_layers());
            let big = got
                .files()
                .iter()
                .position(|f| f.length() > 16 * 1024)
                .unwrap();
            assert!(got.layout().piece_layer(big).is_none());
            assert!(made.layout().piece_layer(big).is_some());
        }
        // A single changed byte is refused before decoding.
        let mut bad = info.to_vec();
        let last = bad.len() - 2;
        bad[last] ^= 1;
        assert!(matches!(
            magnet.to_metainfo(&bad),
            Err(Error::InfoHashMismatch { .. })
        ));
        // Trailing bytes after the dictionary are refused, hash or not.
        let mut trailing = info.to_vec();
        trailing.extend_from_slice(b"4:spami1e");
        assert!(Metainfo::from_info_bytes_unchecked(&trailing).is_err());
    }
}

#[test]
fn file_paths_stay_in_the_download_folder() {
    let dir = tempfile::tempdir().unwrap();
    let root = tree(dir.path());
    let m = builder(&root, Version::Hybrid, 16 * 1024).build().unwrap();
    let download = Path::new("/downloads");
    for i in 0..m.files().len() {
        let p = m.file_path_in(download, i).unwrap();
        assert!(p.starts_with("/downloads/tree"), "{}", p.display());
    }
    assert_eq!(
        m.file_path_in(download, 0).unwrap(),
        Path::new("/downloads/tree/a/b/c/tiny")
    );
}
