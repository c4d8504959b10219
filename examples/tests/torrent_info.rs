//! `create` then `torrent-info --json`: the JSON carries what the torrent
//! holds; an invalid file exits non-zero with the typed error.

use std::process::Command;

fn run(bin: &str, args: &[&str]) -> std::process::Output {
    Command::new(bin)
        .args(args)
        .output()
        .expect("the binary runs")
}

#[test]
fn create_then_show_as_json() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("album");
    std::fs::create_dir_all(root.join("disc 1")).unwrap();
    std::fs::write(root.join("disc 1/01.flac"), vec![1u8; 70_000]).unwrap();
    std::fs::write(root.join("cover.jpg"), vec![2u8; 5_000]).unwrap();
    std::fs::write(root.join("empty"), b"").unwrap();
    let torrent = dir.path().join("album.torrent");

    let made = run(
        env!("CARGO_BIN_EXE_create"),
        &[
            root.to_str().unwrap(),
            "-o",
            torrent.to_str().unwrap(),
            "--hybrid",
            "--piece-size",
            "16",
            "--tracker",
            "udp://127.0.0.1:1/announce",
            "--tracker",
            "http://127.0.0.1:2/announce",
            "--private",
            "--no-date",
        ],
    );
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    let printed = String::from_utf8(made.stdout).unwrap();
    let v1_line = printed
        .lines()
        .find_map(|l| l.strip_prefix("info-hash v1: "))
        .unwrap();
    assert!(printed.contains("magnet: magnet:?xt=urn:btih:"));

    let shown = run(
        env!("CARGO_BIN_EXE_torrent-info"),
        &["--json", torrent.to_str().unwrap()],
    );
    assert!(shown.status.success());
    let json: serde_json::Value = serde_json::from_slice(&shown.stdout).unwrap();
    assert_eq!(json["name"], "album");
    assert_eq!(json["info_hash_v1"], v1_line);
    let v2 = json["info_hash_v2"].as_str().unwrap();
    assert!(
        v2.len() == 64
            && v2
                .bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
    );
    assert_eq!(json["piece_length"], 16384);
    assert_eq!(json["total_length"], 75_000);
    // Hybrid: 01.flac takes 5 pieces, cover.jpg one (sorted: cover.jpg,
    // disc 1/01.flac, empty).
    assert_eq!(json["num_pieces"], 6);
    assert_eq!(json["private"], true);
    assert_eq!(
        json["trackers"],
        serde_json::json!([
            ["udp://127.0.0.1:1/announce"],
            ["http://127.0.0.1:2/announce"]
        ])
    );
    let files: Vec<(Vec<String>, u64)> = json["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            let path = f["path"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c.as_str().unwrap().to_owned())
                .collect();
            (path, f["length"].as_u64().unwrap())
        })
        .collect();
    assert_eq!(
        files,
        [
            (vec!["cover.jpg".to_owned()], 5_000),
            (vec!["disc 1".to_owned(), "01.flac".to_owned()], 70_000),
            (vec!["empty".to_owned()], 0),
        ]
    );

    // The text form shows the tree.
    let text = run(
        env!("CARGO_BIN_EXE_torrent-info"),
        &[torrent.to_str().unwrap()],
    );
    let text = String::from_utf8(text.stdout).unwrap();
    assert!(text.contains("Privacy: Private torrent"), "{text}");
    assert!(
        text.contains("  album/\n    cover.jpg (5.00 kB)\n    disc 1/\n      01.flac (70.00 kB)"),
        "{text}"
    );
}

#[test]
fn v1_torrent_has_a_null_v2_hash() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("one.bin");
    std::fs::write(&file, vec![7u8; 40_000]).unwrap();
    let torrent = dir.path().join("one.torrent");
    let made = run(
        env!("CARGO_BIN_EXE_create"),
        &[
            file.to_str().unwrap(),
            "-o",
            torrent.to_str().unwrap(),
            "--v1",
        ],
    );
    assert!(made.status.success());
    let shown = run(
        env!("CARGO_BIN_EXE_torrent-info"),
        &["--json", torrent.to_str().unwrap()],
    );
    let json: serde_json::Value = serde_json::from_slice(&shown.stdout).unwrap();
    assert!(json["info_hash_v1"].is_string());
    assert!(json["info_hash_v2"].is_null());
    assert_eq!(json["files"][0]["path"], serde_json::json!(["one.bin"]));
}

#[test]
fn invalid_torrent_exits_non_zero_with_the_typed_error() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.torrent");
    std::fs::write(
        &bad,
        b"d4:infod5:filesld6:lengthi1e4:pathl2:..6:passwdeee4:name1:x12:piece lengthi16384e6:pieces20:aaaaaaaaaaaaaaaaaaaaee",
    )
    .unwrap();
    for args in [
        vec!["--json", bad.to_str().unwrap()],
        vec![bad.to_str().unwrap()],
    ] {
        let out = run(env!("CARGO_BIN_EXE_torrent-info"), &args);
        assert!(!out.status.success());
        assert!(out.stdout.is_empty());
        let stderr = String::from_utf8(out.stderr).unwrap();
        assert!(
            stderr.contains(
                "field `info.files[0].path[0]` at byte 35: path component \"..\" is `..`"
            ),
            "{stderr}"
        );
    }
}
