//! The README's first command: `bencode-inspect` on the bundled sample.

use std::process::Command;

fn inspect(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_bencode-inspect"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("bencode-inspect runs")
}

#[test]
fn sample_torrent_hashes_match_libtorrent() {
    let out = inspect(&["samples/sample.torrent"]);
    assert!(out.status.success());
    let stdout = String::from_utf8(out.stdout).unwrap();
    // The hashes libtorrent reported when it made the sample (samples/README.md).
    assert!(
        stdout.contains("info-hash v1 (SHA-1 of info):   741af03128853b9dbc8a15b117d4119f376b4ab6")
    );
    assert!(stdout.contains(
        "info-hash v2 (SHA-256 of info): 8f79a02355a91b6847fed6278b8be2432db2846b261e3b8390eef98678a51d63"
    ));
    assert!(stdout.contains("\"name\" @408 \"hello\""));
}

#[test]
fn invalid_input_fails_with_the_typed_error() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.torrent");
    std::fs::write(&bad, b"d1:bi1e1:ai2ee").unwrap();
    let out = inspect(&[bad.to_str().unwrap()]);
    assert!(!out.status.success());
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(
        stderr.contains("dictionary key at byte 7 is out of order"),
        "{stderr}"
    );

    let lenient = inspect(&["--lenient", bad.to_str().unwrap()]);
    assert!(lenient.status.success());
    assert!(
        String::from_utf8(lenient.stdout)
            .unwrap()
            .contains("tolerated: unsorted key at byte 7")
    );
}
