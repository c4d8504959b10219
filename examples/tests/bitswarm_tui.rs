//! bitswarm-tui driven in tmux (`send-keys` to type, `capture-pane` to read
//! the screen) against a bitswarmd on loopback that downloads from a
//! libtorrent seeder. Needs Debian's `tmux` and `python3-libtorrent`;
//! ignored in a plain `cargo test`, run by `scripts/test-all`.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use bitswarm_testkit::lt_session::{LtSession, SessionSpec, TorrentSpec};
use bitswarm_testkit::process::require;
use bitswarm_testkit::{content, free_port, libtorrent};

/// A tmux server of the test's own (its own socket), killed at the end.
struct Tmux {
    program: PathBuf,
    socket: String,
}

impl Tmux {
    fn new() -> Self {
        let program = require("tmux", "tmux").unwrap_or_else(|e| panic!("{e}"));
        Self {
            program,
            socket: format!("bitswarm-tui-test-{}", std::process::id()),
        }
    }

    fn run(&self, args: &[&str]) -> Output {
        Command::new(&self.program)
            .arg("-L")
            .arg(&self.socket)
            .args(args)
            .env_remove("TMUX")
            .output()
            .unwrap()
    }

    /// Starts `command` in a detached session `name` of 120 × 32 cells.
    fn start(&self, name: &str, command: &str) {
        let out = self.run(&[
            "new-session",
            "-d",
            "-s",
            name,
            "-x",
            "120",
            "-y",
            "32",
            command,
        ]);
        assert!(out.status.success(), "tmux: {out:?}");
    }

    fn keys(&self, name: &str, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", name];
        args.extend_from_slice(keys);
        assert!(self.run(&args).status.success());
    }

    fn text(&self, name: &str, text: &str) {
        assert!(
            self.run(&["send-keys", "-t", name, "-l", text])
                .status
                .success()
        );
    }

    fn screen(&self, name: &str) -> String {
        let out = self.run(&["capture-pane", "-p", "-t", name]);
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn resize(&self, name: &str, width: u16, height: u16) {
        let (w, h) = (width.to_string(), height.to_string());
        let out = self.run(&["resize-window", "-t", name, "-x", &w, "-y", &h]);
        assert!(out.status.success(), "tmux: {out:?}");
    }

    fn alive(&self, name: &str) -> bool {
        self.run(&["has-session", "-t", name]).status.success()
    }

    /// Waits until the screen of `name` satisfies `ready`, and returns it.
    fn wait_for(&self, name: &str, limit: Duration, ready: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + limit;
        loop {
            let screen = self.screen(name);
            if ready(&screen) {
                return screen;
            }
            assert!(
                Instant::now() < deadline,
                "the screen is not as expected after {limit:?}:\n{screen}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.run(&["kill-server"]);
    }
}

/// bitswarmd on loopback, without DHT or trackers; killed at the end.
struct Daemon {
    child: Child,
    url: String,
}

impl Daemon {
    fn start(root: &Path) -> Self {
        let config = root.join("bitswarmd.toml");
        fs::write(
            &config,
            format!(
                "api_bind = \"127.0.0.1:0\"\nlisten = [\"127.0.0.1:0\"]\n\
                 download_dir = \"{}\"\nstate_dir = \"{}\"\ntrackers = false\n\
                 [dht]\nenabled = false\n",
                root.join("downloads").display(),
                root.join("state").display()
            ),
        )
        .unwrap();
        let stdout = root.join("stdout");
        let child = Command::new(env!("CARGO_BIN_EXE_bitswarmd"))
            .arg("--config")
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(fs::File::create(&stdout).unwrap())
            .stderr(fs::File::create(root.join("stderr")).unwrap())
            .spawn()
            .unwrap();
        // Killed by `drop` if it never gets ready.
        let mut daemon = Self {
            child,
            url: String::new(),
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let out = fs::read_to_string(&stdout).unwrap_or_default();
            if let Some(rest) = out.lines().find_map(|l| l.strip_prefix("bitswarmd: api=")) {
                daemon.url = rest.split(' ').next().unwrap().to_owned();
                return daemon;
            }
            assert!(Instant::now() < deadline, "bitswarmd is not ready");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
#[ignore = "needs tmux and python3-libtorrent: run scripts/test-all"]
fn tui_adds_a_magnet_and_shows_it_finish() {
    let tmux = Tmux::new();
    require(libtorrent::PYTHON, "python3-libtorrent").unwrap_or_else(|e| panic!("{e}"));
    let tui = env!("CARGO_BIN_EXE_bitswarm-tui");

    // With no daemon, it says so.
    let nobody = format!("http://127.0.0.1:{}", free_port().unwrap());
    tmux.start("lonely", &format!("{tui} --url {nobody} --refresh-ms 200"));
    tmux.wait_for("lonely", Duration::from_secs(20), |s| {
        s.contains(&format!("Cannot reach bitswarmd at {nobody}"))
            && s.contains("is bitswarmd running?")
    });
    tmux.keys("lonely", &["q"]);

    // A seeder of 2 MiB, and a daemon.
    let seed_dir = tempfile::tempdir().unwrap();
    let data = seed_dir.path().join("big-buck-bytes.bin");
    content::write_file(&data, 2 << 20, 99).unwrap();
    let torrent = seed_dir.path().join("data.torrent");
    let hashes =
        libtorrent::create_torrent(&data, &torrent, true).unwrap_or_else(|e| panic!("{e}"));
    let seeder = LtSession::start(&SessionSpec {
        torrents: vec![TorrentSpec {
            torrent: Some(torrent),
            seed_mode: true,
            ..TorrentSpec::new(seed_dir.path())
        }],
        stop_after: Duration::from_secs(600),
        ..SessionSpec::default()
    })
    .unwrap_or_else(|e| panic!("{e}"));
    let root = tempfile::tempdir().unwrap();
    let daemon = Daemon::start(root.path());

    tmux.start(
        "tui",
        &format!("{tui} --url {} --refresh-ms 250", daemon.url),
    );
    tmux.wait_for("tui", Duration::from_secs(20), |s| {
        s.contains("No torrents yet")
    });
    let hash = hashes.v1.unwrap();
    let magnet = format!(
        "magnet:?xt=urn:btih:{hash}&dn=big-buck-bytes.bin&x.pe=127.0.0.1:{}",
        seeder.port()
    );
    tmux.keys("tui", &["a"]);
    tmux.wait_for("tui", Duration::from_secs(5), |s| {
        s.contains("magnet or .torrent:")
    });
    tmux.text("tui", &magnet);
    tmux.keys("tui", &["Enter"]);
    tmux.wait_for("tui", Duration::from_secs(120), |s| {
        s.contains("big-buck-bytes.bin") && s.contains("seeding") && s.contains("100.0%")
    });
    // A short window for the capture kept in examples/README.md.
    tmux.resize("tui", 120, 9);
    let finished = tmux.wait_for("tui", Duration::from_secs(10), |s| {
        // Redrawn at the new size: the footer is on the last line.
        s.lines().count() == 9
            && s.contains("100.0%")
            && s.lines().last().is_some_and(|l| l.contains("q quit"))
    });
    // The name is known only once the metadata is: either names it.
    assert!(
        finished.contains(&format!("added {hash}"))
            || finished.contains("added big-buck-bytes.bin"),
        "{finished}"
    );
    let capture = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("bitswarm-tui-list.txt");
    fs::write(&capture, &finished).unwrap();
    println!("--- {} ---\n{finished}", capture.display());
    assert_eq!(
        fs::read(root.path().join("downloads/big-buck-bytes.bin")).unwrap(),
        fs::read(&data).unwrap(),
        "the downloaded file differs"
    );

    // The detail view lists the file, complete.
    tmux.resize("tui", 120, 24);
    tmux.keys("tui", &["Enter"]);
    let detail = tmux.wait_for("tui", Duration::from_secs(10), |s| {
        s.contains("Files (1)") && s.contains(&format!("info-hash {hash}"))
    });
    fs::write(capture.with_file_name("bitswarm-tui-detail.txt"), &detail).unwrap();
    println!("--- detail ---\n{detail}");
    assert!(detail.contains("2.0 MiB"), "{detail}");

    // Back, pause, resume.
    tmux.keys("tui", &["Escape"]);
    tmux.wait_for("tui", Duration::from_secs(10), |s| s.contains("Torrents"));
    tmux.keys("tui", &["p"]);
    tmux.wait_for("tui", Duration::from_secs(10), |s| s.contains("paused"));
    tmux.keys("tui", &["p"]);
    tmux.wait_for("tui", Duration::from_secs(30), |s| s.contains("seeding"));

    // Remove (files kept), after saying yes.
    tmux.keys("tui", &["d"]);
    tmux.wait_for("tui", Duration::from_secs(5), |s| s.contains("(y/n)"));
    tmux.keys("tui", &["y"]);
    tmux.wait_for("tui", Duration::from_secs(10), |s| {
        s.contains("removed, files kept") && s.contains("No torrents yet")
    });
    assert!(root.path().join("downloads/big-buck-bytes.bin").exists());

    tmux.keys("tui", &["q"]);
    let deadline = Instant::now() + Duration::from_secs(10);
    while tmux.alive("tui") && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(!tmux.alive("tui"), "q did not quit");
    drop(daemon);
}
