//! The `seed` and `download` binaries together on loopback, and `download`
//! from a libtorrent seeder.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use bitswarm_testkit::content;

mod common;
use common::assert_same_tree;

/// A child process killed (by its id) when dropped.
struct Running {
    child: Child,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Running {
    /// Starts `program` with stdout piped and read line by line.
    fn start(program: &str, args: &[&str]) -> Self {
        let mut child = Command::new(program)
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Self {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    /// Reads lines until one starts with `prefix`; returns the rest of it.
    fn wait_for(&mut self, prefix: &str, limit: Duration) -> String {
        let deadline = Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if let Some(rest) = line.strip_prefix(prefix) {
                        return rest.to_owned();
                    }
                }
                Err(e) => panic!("no line {prefix:?} ({e}); output so far: {:#?}", self.seen),
            }
        }
    }

    /// The line that began with `prefix`, among those read.
    fn seen(&self, prefix: &str) -> Option<String> {
        self.seen
            .iter()
            .find_map(|l| l.strip_prefix(prefix))
            .map(str::to_owned)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn download(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_download"))
        .args(args)
        .output()
        .unwrap()
}

fn assert_success(out: &Output) -> String {
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{}\nstdout: {stdout}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// The files of the test content: (path, length).
const FILES: &[(&str, u64)] = &[
    ("a.bin", 3 * 1024 * 1024 + 123),
    ("sub/b.bin", 700_001),
    ("c.bin", 1),
];

#[test]
fn download_from_seed_by_torrent_and_by_magnet() {
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("src/album");
    content::write_tree(&source, FILES, 7).unwrap();
    let torrent = dir.path().join("album.torrent");
    let torrent_arg = torrent.to_str().unwrap();

    let mut seed = Running::start(
        env!("CARGO_BIN_EXE_seed"),
        &[
            source.to_str().unwrap(),
            "--listen",
            "127.0.0.1:0",
            "--torrent-out",
            torrent_arg,
            "--piece-length",
            "32768",
            "--print-magnet",
        ],
    );
    seed.wait_for("seeding ", Duration::from_secs(60));
    let addr: SocketAddr = seed.seen("listening on ").unwrap().parse().unwrap();
    let magnet = seed.seen("magnet: ").unwrap();
    let parsed = bitswarm_metainfo::Magnet::parse(&magnet).unwrap();
    assert_eq!(parsed.peers, vec![addr.to_string()], "{magnet}");
    assert!(torrent.exists());

    // By the .torrent file, from the address given.
    let out_dir = dir.path().join("out1");
    let out = download(&[
        torrent_arg,
        "-o",
        out_dir.to_str().unwrap(),
        "--peer",
        &addr.to_string(),
        "--listen",
        "127.0.0.1:0",
        "--timeout",
        "120",
    ]);
    let stdout = assert_success(&out);
    assert!(stdout.contains("complete: album"), "{stdout}");
    assert_same_tree(FILES, &source, &out_dir.join("album"));

    // By the magnet link: metadata from the seeder (its `x.pe`), then the data.
    let out_dir = dir.path().join("out2");
    let out = download(&[
        &magnet,
        "-o",
        out_dir.to_str().unwrap(),
        "--listen",
        "127.0.0.1:0",
        "--timeout",
        "120",
    ]);
    assert_success(&out);
    assert_same_tree(FILES, &source, &out_dir.join("album"));
}

#[test]
fn download_finds_the_seed_through_its_tracker() {
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("src/album");
    content::write_tree(&source, FILES, 9).unwrap();
    let torrent = dir.path().join("album.torrent");
    let mut seed = Running::start(
        env!("CARGO_BIN_EXE_seed"),
        &[
            source.to_str().unwrap(),
            "--tracker-server",
            "127.0.0.1:0",
            "--listen",
            "127.0.0.1:0",
            "--torrent-out",
            torrent.to_str().unwrap(),
            "--torrent-version",
            "hybrid",
        ],
    );
    let url = seed.wait_for("tracker on ", Duration::from_secs(30));
    seed.wait_for("seeding ", Duration::from_secs(60));
    let meta = bitswarm_metainfo::Metainfo::from_bytes(&std::fs::read(&torrent).unwrap()).unwrap();
    assert_eq!(meta.trackers(), vec![vec![url]]);
    assert_eq!(meta.version(), bitswarm_metainfo::Version::Hybrid);

    // No peer given: the tracker in the torrent names the seeder.
    let out_dir = dir.path().join("out");
    let out = download(&[
        torrent.to_str().unwrap(),
        "-o",
        out_dir.to_str().unwrap(),
        "--listen",
        "127.0.0.1:0",
        "--timeout",
        "120",
    ]);
    assert_success(&out);
    assert_same_tree(FILES, &source, &out_dir.join("album"));
}

#[test]
fn download_keeps_seeding_with_seed_until_interrupted() {
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("src/album");
    content::write_tree(&source, FILES, 13).unwrap();
    let torrent = dir.path().join("album.torrent");
    let torrent_arg = torrent.to_str().unwrap();
    let mut seed = Running::start(
        env!("CARGO_BIN_EXE_seed"),
        &[
            source.to_str().unwrap(),
            "--listen",
            "127.0.0.1:0",
            "--torrent-out",
            torrent_arg,
        ],
    );
    seed.wait_for("seeding ", Duration::from_secs(60));
    let seed_addr = seed.seen("listening on ").unwrap();

    // A downloads from the seed, then keeps seeding.
    let a_dir = dir.path().join("a");
    let mut a = Running::start(
        env!("CARGO_BIN_EXE_download"),
        &[
            torrent_arg,
            "-o",
            a_dir.to_str().unwrap(),
            "--peer",
            &seed_addr,
            "--listen",
            "127.0.0.1:0",
            "--no-trackers",
            "--seed",
        ],
    );
    let a_addr = a.wait_for("listening on ", Duration::from_secs(30));
    a.wait_for("seeding; Ctrl-C to stop", Duration::from_secs(120));
    drop(seed);

    // B gets everything from A alone.
    let b_dir = dir.path().join("b");
    let out = download(&[
        torrent_arg,
        "-o",
        b_dir.to_str().unwrap(),
        "--peer",
        &a_addr,
        "--listen",
        "127.0.0.1:0",
        "--no-trackers",
        "--timeout",
        "120",
    ]);
    assert_success(&out);
    assert_same_tree(FILES, &source, &b_dir.join("album"));

    // Ctrl-C ends A's seeding cleanly.
    let status = Command::new("kill")
        .args(["-INT", &a.child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(30);
    let code = loop {
        if let Some(s) = a.child.try_wait().unwrap() {
            break s.code();
        }
        assert!(Instant::now() < deadline, "download --seed ignored SIGINT");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(code, Some(0));
}

#[test]
fn download_finds_a_peer_through_the_dht() {
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("src/album");
    content::write_tree(&source, FILES, 17).unwrap();
    let torrent = dir.path().join("album.torrent");
    let torrent_arg = torrent.to_str().unwrap();

    // A DHT node on loopback for both downloads to bootstrap from.
    let router = format!("127.0.0.1:{}", bitswarm_testkit::free_port().unwrap());
    let mut node = Running::start(
        env!("CARGO_BIN_EXE_dht-node"),
        &["--bind", &router, "--every", "1"],
    );
    node.wait_for("bootstrap: ", Duration::from_secs(30));

    let mut seed = Running::start(
        env!("CARGO_BIN_EXE_seed"),
        &[
            source.to_str().unwrap(),
            "--listen",
            "127.0.0.1:0",
            "--torrent-out",
            torrent_arg,
        ],
    );
    seed.wait_for("seeding ", Duration::from_secs(60));
    let seed_addr = seed.seen("listening on ").unwrap();

    // A: from the seed by address, then seeding and announcing on the DHT.
    let dht = ["--dht-bootstrap", &router, "--dht-bind", "127.0.0.1:0"];
    let a_dir = dir.path().join("a");
    let mut a_args = vec![
        torrent_arg,
        "-o",
        a_dir.to_str().unwrap(),
        "--peer",
        &seed_addr,
        "--listen",
        "127.0.0.1:0",
        "--no-trackers",
        "--seed",
    ];
    a_args.extend(dht);
    let mut a = Running::start(env!("CARGO_BIN_EXE_download"), &a_args);
    a.wait_for("seeding; Ctrl-C to stop", Duration::from_secs(120));
    drop(seed);

    // B: no peer, no tracker (the torrent has none): only the DHT leads to A.
    let b_dir = dir.path().join("b");
    let mut b_args = vec![
        torrent_arg,
        "-o",
        b_dir.to_str().unwrap(),
        "--listen",
        "127.0.0.1:0",
        "--no-trackers",
        "--timeout",
        "120",
    ];
    b_args.extend(dht);
    let out = download(&b_args);
    assert_success(&out);
    assert_same_tree(FILES, &source, &b_dir.join("album"));
    drop(a);
}

#[test]
fn download_fails_with_a_message() {
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("out");
    let out_arg = out_dir.to_str().unwrap();

    let out = download(&["/nonexistent/x.torrent", "-o", out_arg]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/x.torrent"));

    let junk = dir.path().join("junk.torrent");
    std::fs::write(&junk, b"not bencode").unwrap();
    let out = download(&[junk.to_str().unwrap(), "-o", out_arg]);
    assert_eq!(out.status.code(), Some(1));

    let out = download(&["magnet:?xt=urn:btih:nothex", "-o", out_arg]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("bad magnet link"));

    // No peer at all: it gives up at the timeout, saying so.
    let magnet = "magnet:?xt=urn:btih:0123456789abcdef0123456789abcdef01234567";
    let out = download(&[
        magnet,
        "-o",
        out_arg,
        "--listen",
        "127.0.0.1:0",
        "--no-trackers",
        "--timeout",
        "2",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("not complete after 2 s"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn seed_refuses_incomplete_data() {
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("src/album");
    content::write_tree(&source, FILES, 7).unwrap();
    let torrent = dir.path().join("album.torrent");
    // Make the torrent, then stop.
    let made = Command::new(env!("CARGO_BIN_EXE_seed"))
        .args([source.to_str().unwrap(), "--listen", "127.0.0.1:0"])
        .args(["--torrent-out", torrent.to_str().unwrap(), "--run-for", "0"])
        .output()
        .unwrap();
    assert_success(&made);
    // Damage the data: the check finds it.
    std::fs::write(source.join("a.bin"), b"short").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_seed"))
        .args([torrent.to_str().unwrap(), "--listen", "127.0.0.1:0"])
        .args(["--data", source.parent().unwrap().to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.lines().any(|l| l.starts_with("seed: ")), "{stderr}");
    assert!(!String::from_utf8_lossy(&out.stdout).contains("seeding"));
}

#[test]
#[ignore = "needs python3-libtorrent: run scripts/test-all"]
fn download_from_libtorrent() {
    use bitswarm_testkit::libtorrent;
    use bitswarm_testkit::lt_session::{LtSession, SessionSpec, TorrentSpec};

    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("src/album");
    content::write_tree(&source, FILES, 11).unwrap();
    for (name, v1_only) in [("v1", true), ("hybrid", false)] {
        let torrent = dir.path().join(format!("{name}.torrent"));
        let hashes = libtorrent::create_torrent(&source, &torrent, v1_only).unwrap();
        let spec = SessionSpec {
            torrents: vec![TorrentSpec {
                torrent: Some(torrent.clone()),
                seed_mode: true,
                ..TorrentSpec::new(&dir.path().join("src"))
            }],
            ..SessionSpec::default()
        };
        let seeder = LtSession::start(&spec).unwrap();
        let peer = format!("127.0.0.1:{}", seeder.port());

        let out_dir = dir.path().join(format!("{name}-torrent"));
        let out = download(&[
            torrent.to_str().unwrap(),
            "-o",
            out_dir.to_str().unwrap(),
            "--peer",
            &peer,
            "--listen",
            "127.0.0.1:0",
            "--timeout",
            "120",
        ]);
        assert_success(&out);
        assert_same_tree(FILES, &source, &out_dir.join("album"));

        // A magnet link: the metadata comes from libtorrent (BEP 9).
        let magnet = format!("magnet:?xt=urn:btih:{}", hashes.v1.unwrap());
        let out_dir = dir.path().join(format!("{name}-magnet"));
        let out = download(&[
            &magnet,
            "-o",
            out_dir.to_str().unwrap(),
            "--peer",
            &peer,
            "--listen",
            "127.0.0.1:0",
            "--timeout",
            "120",
        ]);
        assert_success(&out);
        assert_same_tree(FILES, &source, &out_dir.join("album"));
    }
}
