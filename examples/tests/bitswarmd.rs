//! bitswarmd's HTTP JSON API on loopback: the built daemon is started with
//! a temporary config (API on a free port of 127.0.0.1, peers on 127.0.0.1,
//! no DHT, no trackers) and stopped with SIGTERM.
//!
//! - `api_answers_every_error_as_json` needs no other program.
//! - `downloads_a_magnet_from_libtorrent` and `restart_resumes_without_downloading_again`
//!   need Debian's `python3-libtorrent` (a seeder).
//! - `openapi_document_holds_under_schemathesis` needs schemathesis
//!   (`scripts/install-schemathesis`).
//!
//! The last three are ignored in a plain `cargo test`; `scripts/test-all`
//! runs them with `-- --include-ignored`.

use std::fs;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use bitswarm_metainfo::{TorrentBuilder, Version};
use bitswarm_testkit::content;
use bitswarm_testkit::libtorrent;
use bitswarm_testkit::lt_session::{LtSession, SessionSpec, TorrentSpec};
use bitswarm_testkit::process::require;
use reqwest::{Method, StatusCode};
use serde_json::Value;

/// A daemon started by a test; killed if the test ends without stopping it.
struct Daemon {
    child: Option<Child>,
    url: String,
    stderr: PathBuf,
}

/// The config of a daemon in `root`, plus `extra` lines.
fn config(root: &Path, extra: &str) -> String {
    format!(
        "api_bind = \"127.0.0.1:0\"\n\
         listen = [\"127.0.0.1:0\"]\n\
         download_dir = \"{}\"\n\
         state_dir = \"{}\"\n\
         trackers = false\n\
         {extra}\n\
         [dht]\n\
         enabled = false\n",
        root.join("downloads").display(),
        root.join("state").display(),
    )
}

impl Daemon {
    /// Starts bitswarmd with `config` written into `root`, and waits for it to be ready.
    fn start(root: &Path, config: &str, args: &[&str]) -> Self {
        let config_path = root.join("bitswarmd.toml");
        fs::write(&config_path, config).unwrap();
        let stdout = root.join(format!("stdout-{}", unique()));
        let stderr = root.join(format!("stderr-{}", unique()));
        let child = Command::new(env!("CARGO_BIN_EXE_bitswarmd"))
            .arg("--config")
            .arg(&config_path)
            .args(args)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(fs::File::create(&stdout).unwrap())
            .stderr(fs::File::create(&stderr).unwrap())
            .spawn()
            .unwrap();
        let mut daemon = Self {
            child: Some(child),
            url: String::new(),
            stderr,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let out = fs::read_to_string(&stdout).unwrap_or_default();
            if let Some(rest) = out.lines().find_map(|l| l.strip_prefix("bitswarmd: api=")) {
                daemon.url = rest.split(' ').next().unwrap().to_owned();
                return daemon;
            }
            if let Some(status) = daemon.child.as_mut().unwrap().try_wait().unwrap() {
                panic!("bitswarmd exited with {status}:\n{}", daemon.log());
            }
            assert!(
                Instant::now() < deadline,
                "bitswarmd not ready:\n{}",
                daemon.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Its log so far.
    fn log(&self) -> String {
        fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    /// Sends SIGTERM and waits for the exit.
    fn stop(mut self) -> ExitStatus {
        let mut child = self.child.take().unwrap();
        let kill = Command::new("kill")
            .arg("-TERM")
            .arg(child.id().to_string())
            .status()
            .unwrap();
        assert!(kill.success());
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                return status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("bitswarmd did not stop on SIGTERM:\n{}", self.log());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
            eprintln!("--- bitswarmd log ---\n{}", self.log());
        }
    }
}

fn unique() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

/// An HTTP client for one daemon.
struct Api {
    http: reqwest::Client,
    base: String,
    token: Option<String>,
}

impl Api {
    fn new(daemon: &Daemon) -> Self {
        Self {
            // A fresh connection per request: a refused oversized body
            // closes its connection, which must not fail the next request.
            http: reqwest::Client::builder()
                .no_proxy()
                .pool_max_idle_per_host(0)
                .timeout(Duration::from_secs(20))
                .build()
                .unwrap(),
            base: daemon.url.clone(),
            token: None,
        }
    }

    /// Sends a request and returns the status, the headers and the body as JSON (`Null` when empty).
    async fn call(
        &self,
        method: Method,
        path: &str,
        content_type: Option<&str>,
        body: Vec<u8>,
    ) -> (StatusCode, reqwest::header::HeaderMap, Value) {
        let mut r = self.http.request(method, format!("{}{path}", self.base));
        if let Some(t) = content_type {
            r = r.header(reqwest::header::CONTENT_TYPE, t);
        }
        if let Some(t) = &self.token {
            r = r.bearer_auth(t);
        }
        let response = r.body(body).send().await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.bytes().await.unwrap();
        let json = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).unwrap_or_else(|e| {
                panic!(
                    "{path}: {status} with a body that is not JSON ({e}): {:?}",
                    String::from_utf8_lossy(&bytes)
                )
            })
        };
        (status, headers, json)
    }

    async fn get(&self, path: &str) -> (StatusCode, Value) {
        let (s, _, v) = self.call(Method::GET, path, None, Vec::new()).await;
        (s, v)
    }

    async fn post(&self, path: &str) -> (StatusCode, Value) {
        let (s, _, v) = self.call(Method::POST, path, None, Vec::new()).await;
        (s, v)
    }

    async fn add_magnet(&self, query: &str, magnet: &str) -> (StatusCode, Value) {
        let (s, _, v) = self
            .call(
                Method::POST,
                &format!("/v1/torrents{query}"),
                Some("text/plain"),
                magnet.as_bytes().to_vec(),
            )
            .await;
        (s, v)
    }

    /// Polls a torrent until `done` holds, failing after `limit`.
    async fn wait_for(&self, hash: &str, limit: Duration, done: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + limit;
        loop {
            let (status, t) = self.get(&format!("/v1/torrents/{hash}")).await;
            assert_eq!(status, StatusCode::OK, "{t}");
            if done(&t) {
                return t;
            }
            assert!(Instant::now() < deadline, "still {t} after {limit:?}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

/// Asserts an error answer: the status, and a JSON `error` string.
fn assert_error(got: (StatusCode, Value), want: StatusCode) {
    assert_eq!(got.0, want, "answer: {}", got.1);
    assert!(
        got.1["error"].as_str().is_some_and(|e| !e.is_empty()),
        "no JSON error: {}",
        got.1
    );
}

const UNKNOWN: &str = "0123456789abcdef0123456789abcdef01234567";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_answers_every_error_as_json() {
    let root = tempfile::tempdir().unwrap();
    let daemon = Daemon::start(root.path(), &config(root.path(), ""), &[]);
    let api = Api::new(&daemon);

    let (status, list) = api.get("/v1/torrents").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list, serde_json::json!([]));

    // 400: not a magnet link, not a torrent, bad parameters, not an info-hash.
    assert_error(
        api.add_magnet("", "magnet:?dn=no-hash").await,
        StatusCode::BAD_REQUEST,
    );
    assert_error(
        api.add_magnet("", "http://example.invalid/").await,
        StatusCode::BAD_REQUEST,
    );
    let (s, _, v) = api
        .call(
            Method::POST,
            "/v1/torrents",
            Some("application/x-bittorrent"),
            b"d4:infoi3ee".to_vec(),
        )
        .await;
    assert_error((s, v), StatusCode::BAD_REQUEST);
    let magnet = format!("magnet:?xt=urn:btih:{}&dn=never", "ab".repeat(20));
    assert_error(
        api.add_magnet("?paused=perhaps", &magnet).await,
        StatusCode::BAD_REQUEST,
    );
    assert_error(
        api.add_magnet("?output=../escape", &magnet).await,
        StatusCode::BAD_REQUEST,
    );
    assert_error(
        api.add_magnet("?output=/etc", &magnet).await,
        StatusCode::BAD_REQUEST,
    );
    assert_error(
        api.get("/v1/torrents/not-a-hash").await,
        StatusCode::BAD_REQUEST,
    );

    // 415: neither media type.
    let (s, _, v) = api
        .call(
            Method::POST,
            "/v1/torrents",
            None,
            magnet.clone().into_bytes(),
        )
        .await;
    assert_error((s, v), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let (s, _, v) = api
        .call(
            Method::POST,
            "/v1/torrents",
            Some("application/json"),
            b"{}".to_vec(),
        )
        .await;
    assert_error((s, v), StatusCode::UNSUPPORTED_MEDIA_TYPE);

    // 413: over the body limit.
    let (s, _, v) = api
        .call(
            Method::POST,
            "/v1/torrents",
            Some("application/x-bittorrent"),
            vec![b'd'; 17 << 20],
        )
        .await;
    assert_error((s, v), StatusCode::PAYLOAD_TOO_LARGE);

    // 201, then 409 for the same torrent.
    let (s, headers, added) = api
        .call(
            Method::POST,
            "/v1/torrents?paused=true&output=sub/dir",
            Some("text/plain; charset=utf-8"),
            magnet.clone().into_bytes(),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{added}");
    let hash = "ab".repeat(20);
    assert_eq!(added["info_hash"], hash.as_str());
    assert_eq!(
        headers[reqwest::header::LOCATION],
        format!("/v1/torrents/{hash}").as_str()
    );
    for field in [
        "name",
        "state",
        "progress",
        "downloaded",
        "uploaded",
        "total_length",
        "download_rate",
        "upload_rate",
        "peers",
        "eta_seconds",
        "error",
    ] {
        assert!(added.get(field).is_some(), "{field} missing from {added}");
    }
    assert_eq!(added["name"], Value::Null, "no metadata yet: {added}");
    assert_eq!(
        added["total_length"],
        Value::Null,
        "no metadata yet: {added}"
    );
    assert_eq!(added["state"], "paused", "{added}");
    assert!(
        added["save_path"]
            .as_str()
            .unwrap()
            .ends_with("downloads/sub/dir"),
        "{added}"
    );
    assert_error(api.add_magnet("", &magnet).await, StatusCode::CONFLICT);
    let (_, list) = api.get("/v1/torrents").await;
    assert_eq!(list.as_array().unwrap().len(), 1);

    // 409: a recheck, or priorities, for a torrent whose files are not known yet.
    assert_error(
        api.post(&format!("/v1/torrents/{hash}/recheck")).await,
        StatusCode::CONFLICT,
    );
    let (s, _, v) = api
        .call(
            Method::PUT,
            &format!("/v1/torrents/{hash}/files"),
            Some("application/json"),
            br#"{"priorities": [4]}"#.to_vec(),
        )
        .await;
    assert_error((s, v), StatusCode::CONFLICT);
    // 400: not a list of priorities.
    let (s, _, v) = api
        .call(
            Method::PUT,
            &format!("/v1/torrents/{hash}/files"),
            Some("application/json"),
            br#"{"priorities": [9]}"#.to_vec(),
        )
        .await;
    assert_error((s, v), StatusCode::BAD_REQUEST);
    let (s, _, v) = api
        .call(
            Method::PUT,
            &format!("/v1/torrents/{hash}/files"),
            Some("application/json"),
            b"{not json".to_vec(),
        )
        .await;
    assert_error((s, v), StatusCode::BAD_REQUEST);

    // 404: an unknown info-hash everywhere, and an unknown route.
    assert_error(
        api.get(&format!("/v1/torrents/{UNKNOWN}")).await,
        StatusCode::NOT_FOUND,
    );
    for action in ["pause", "resume", "recheck"] {
        assert_error(
            api.post(&format!("/v1/torrents/{UNKNOWN}/{action}")).await,
            StatusCode::NOT_FOUND,
        );
    }
    for what in ["files", "peers"] {
        assert_error(
            api.get(&format!("/v1/torrents/{UNKNOWN}/{what}")).await,
            StatusCode::NOT_FOUND,
        );
    }
    let (s, _, v) = api
        .call(
            Method::PUT,
            &format!("/v1/torrents/{UNKNOWN}/files"),
            Some("application/json"),
            br#"{"priorities": [4]}"#.to_vec(),
        )
        .await;
    assert_error((s, v), StatusCode::NOT_FOUND);
    let (s, _, v) = api
        .call(
            Method::DELETE,
            &format!("/v1/torrents/{UNKNOWN}"),
            None,
            Vec::new(),
        )
        .await;
    assert_error((s, v), StatusCode::NOT_FOUND);
    assert_error(api.get("/v1/no-such-thing").await, StatusCode::NOT_FOUND);

    // 405: a known route, another method.
    let (s, headers, v) = api
        .call(Method::PATCH, "/v1/torrents", None, Vec::new())
        .await;
    assert_error((s, v), StatusCode::METHOD_NOT_ALLOWED);
    assert!(headers.contains_key(reqwest::header::ALLOW));

    // Pause, resume, files, peers and stats of the magnet.
    let (s, t) = api.post(&format!("/v1/torrents/{hash}/resume")).await;
    assert_eq!(s, StatusCode::OK, "{t}");
    assert_ne!(t["state"], "paused", "{t}");
    let (s, t) = api.post(&format!("/v1/torrents/{hash}/pause")).await;
    assert_eq!(s, StatusCode::OK, "{t}");
    assert_eq!(t["state"], "paused", "{t}");
    let (s, files) = api.get(&format!("/v1/torrents/{hash}/files")).await;
    assert_eq!((s, files), (StatusCode::OK, serde_json::json!([])));
    let (s, peers) = api.get(&format!("/v1/torrents/{hash}/peers")).await;
    assert_eq!((s, peers), (StatusCode::OK, serde_json::json!([])));
    let (s, stats) = api.get("/v1/stats").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(stats["torrents"], 1, "{stats}");
    assert_eq!(stats["dht_nodes"], 0, "{stats}");
    assert_eq!(stats["dht_addr"], Value::Null, "{stats}");

    // The OpenAPI document lists every route.
    let (s, doc) = api.get("/v1/openapi.json").await;
    assert_eq!(s, StatusCode::OK);
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."), "{doc}");
    assert_eq!(doc["paths"].as_object().unwrap().len(), 10, "{doc}");

    // 204, then it is gone.
    let (s, _, v) = api
        .call(
            Method::DELETE,
            &format!("/v1/torrents/{hash}?delete_files=false"),
            None,
            Vec::new(),
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT, "{v}");
    assert_error(
        api.get(&format!("/v1/torrents/{hash}")).await,
        StatusCode::NOT_FOUND,
    );

    let status = daemon.stop();
    assert!(status.success(), "bitswarmd exited with {status}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_token_is_required_once_set() {
    let root = tempfile::tempdir().unwrap();
    let token = "test-token-0123456789abcdef";
    let cfg = config(root.path(), &format!("api_token = \"{token}\""));
    let daemon = Daemon::start(root.path(), &cfg, &[]);
    let mut api = Api::new(&daemon);

    let (s, headers, v) = api
        .call(Method::GET, "/v1/torrents", None, Vec::new())
        .await;
    assert_error((s, v), StatusCode::UNAUTHORIZED);
    assert!(headers.contains_key(reqwest::header::WWW_AUTHENTICATE));
    api.token = Some("wrong-token-0123456789abcdef".into());
    assert_error(api.get("/v1/stats").await, StatusCode::UNAUTHORIZED);
    api.token = Some(token.into());
    assert_eq!(api.get("/v1/torrents").await.0, StatusCode::OK);
    // The document is public, and says that the rest needs the token.
    api.token = None;
    let (s, doc) = api.get("/v1/openapi.json").await;
    assert_eq!(s, StatusCode::OK);
    assert!(
        doc["components"]["securitySchemes"]["bearer"].is_object(),
        "{doc}"
    );
    assert!(daemon.stop().success());

    // Without a token, the API stays on loopback: the daemon refuses to start.
    let cfg = config(root.path(), "");
    fs::write(root.path().join("open.toml"), cfg).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_bitswarmd"))
        .arg("--config")
        .arg(root.path().join("open.toml"))
        .args(["--api-bind", "0.0.0.0:0"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("api_token"),
        "{out:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn adds_a_torrent_file_and_checks_what_is_on_disk() {
    let root = tempfile::tempdir().unwrap();
    let daemon = Daemon::start(root.path(), &config(root.path(), ""), &[]);
    let api = Api::new(&daemon);
    // Content already in the download folder, as a folder of two files.
    let folder = root.path().join("downloads/album");
    content::write_tree(&folder, &[("a.bin", 100_000), ("b/c.bin", 40_000)], 5).unwrap();
    let made = TorrentBuilder::new(&folder)
        .version(Version::V1)
        .piece_length(16 * 1024)
        .build()
        .unwrap();
    let hash = made.info_hash_v1().unwrap().to_string();
    let (s, headers, added) = api
        .call(
            Method::POST,
            "/v1/torrents?sequential=true",
            Some("application/x-bittorrent"),
            made.as_bytes().to_vec(),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{added}");
    assert_eq!(added["info_hash"], hash.as_str());
    assert_eq!(added["name"], "album");
    assert_eq!(added["total_length"], 140_000);
    assert!(headers.contains_key(reqwest::header::LOCATION));
    let (s, _, v) = api
        .call(
            Method::POST,
            "/v1/torrents",
            Some("application/x-bittorrent"),
            made.as_bytes().to_vec(),
        )
        .await;
    assert_error((s, v), StatusCode::CONFLICT);

    // Everything is on disk: checking finds it all.
    let done = api
        .wait_for(&hash, Duration::from_secs(60), |t| t["state"] == "seeding")
        .await;
    assert_eq!(done["progress"], 1.0, "{done}");
    assert_eq!(done["downloaded"], 0, "nothing came from peers: {done}");
    let (s, files) = api.get(&format!("/v1/torrents/{hash}/files")).await;
    assert_eq!(s, StatusCode::OK);
    let paths: Vec<&str> = files
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().unwrap())
        .collect();
    assert_eq!(paths, ["a.bin", "b/c.bin"], "{files}");
    assert_eq!(files[1]["downloaded"], 40_000, "{files}");

    // Priorities: one per file, 0 to 7.
    let files_path = format!("/v1/torrents/{hash}/files");
    let put = |body: &'static str| {
        api.call(
            Method::PUT,
            &files_path,
            Some("application/json"),
            body.as_bytes().to_vec(),
        )
    };
    let (s, _, files) = put(r#"{"priorities": [0, 7]}"#).await;
    assert_eq!(s, StatusCode::OK, "{files}");
    assert_eq!(files[0]["priority"], 0, "{files}");
    assert_eq!(files[1]["priority"], 7, "{files}");
    let (s, _, v) = put(r#"{"priorities": [4]}"#).await;
    assert_error((s, v), StatusCode::CONFLICT);
    let (s, _, v) = put(r#"{"priorities": [4, 8]}"#).await;
    assert_error((s, v), StatusCode::BAD_REQUEST);

    let (s, _, files) = put(r#"{"priorities": [4, 4.0]}"#).await;
    assert_eq!(s, StatusCode::OK, "{files}");
    assert_eq!(files[0]["priority"], 4, "{files}");

    // A damaged piece is found by a recheck.
    let mut bytes = fs::read(folder.join("a.bin")).unwrap();
    bytes[0] ^= 0xff;
    fs::write(folder.join("a.bin"), bytes).unwrap();
    let (s, _) = api.post(&format!("/v1/torrents/{hash}/recheck")).await;
    assert_eq!(s, StatusCode::OK);
    let rechecked = api
        .wait_for(&hash, Duration::from_secs(60), |t| {
            t["state"] != "checking" && t["progress"].as_f64().unwrap() < 1.0
        })
        .await;
    assert_eq!(
        rechecked["pieces_done"].as_u64().unwrap() + 1,
        rechecked["pieces_total"].as_u64().unwrap(),
        "{rechecked}"
    );

    // Removing with its files deletes them.
    let (s, _, _) = api
        .call(
            Method::DELETE,
            &format!("/v1/torrents/{hash}?delete_files=true"),
            None,
            Vec::new(),
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let deadline = Instant::now() + Duration::from_secs(10);
    while folder.join("a.bin").exists() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(!folder.join("a.bin").exists());
    assert!(daemon.stop().success());
}

/// A libtorrent seeder of `len` deterministic bytes, as one file `name`.
struct Seeder {
    session: LtSession,
    info_hash: String,
    content: PathBuf,
    torrent: PathBuf,
    dir: tempfile::TempDir,
}

fn seeder(name: &str, len: u64, seed: u64) -> Seeder {
    let dir = tempfile::tempdir().unwrap();
    let content = dir.path().join(name);
    content::write_file(&content, len, seed).unwrap();
    let torrent = dir.path().join(format!("{name}.torrent"));
    let hashes =
        libtorrent::create_torrent(&content, &torrent, true).unwrap_or_else(|e| panic!("{e}"));
    let spec = SessionSpec {
        torrents: vec![TorrentSpec {
            torrent: Some(torrent.clone()),
            seed_mode: true,
            ..TorrentSpec::new(dir.path())
        }],
        stop_after: Duration::from_secs(600),
        ..SessionSpec::default()
    };
    let session = LtSession::start(&spec).unwrap_or_else(|e| panic!("{e}"));
    Seeder {
        session,
        info_hash: hashes.v1.unwrap(),
        content,
        torrent,
        dir,
    }
}

impl Seeder {
    /// Another libtorrent seeder of the same content that connects to `peer` itself.
    fn connecting_to(&self, peer: std::net::SocketAddr) -> LtSession {
        let spec = SessionSpec {
            torrents: vec![TorrentSpec {
                torrent: Some(self.torrent.clone()),
                seed_mode: true,
                peers: vec![peer],
                ..TorrentSpec::new(self.dir.path())
            }],
            stop_after: Duration::from_secs(600),
            ..SessionSpec::default()
        };
        LtSession::start(&spec).unwrap_or_else(|e| panic!("{e}"))
    }

    fn magnet(&self, name: &str) -> String {
        format!(
            "magnet:?xt=urn:btih:{}&dn={name}&x.pe=127.0.0.1:{}",
            self.info_hash,
            self.session.port()
        )
    }
}

/// Whether two files hold the same bytes.
fn same_bytes(a: &Path, b: &Path) -> bool {
    fs::read(a).unwrap() == fs::read(b).unwrap()
}

/// Reads server-sent events into a list until the stream ends.
fn listen_to_events(url: String) -> std::sync::Arc<std::sync::Mutex<Vec<Value>>> {
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let out = seen.clone();
    std::thread::spawn(move || {
        // A plain HTTP/1.1 reader: an SSE stream is lines of text.
        let addr = url.trim_start_matches("http://").to_owned();
        let mut stream = std::net::TcpStream::connect(&addr).unwrap();
        use std::io::Write;
        write!(
            stream,
            "GET /v1/events HTTP/1.1\r\nHost: {addr}\r\nAccept: text/event-stream\r\n\r\n"
        )
        .unwrap();
        for line in BufReader::new(stream).lines() {
            let Ok(line) = line else { break };
            if let Some(data) = line.strip_prefix("data: ")
                && let Ok(v) = serde_json::from_str::<Value>(data)
            {
                out.lock().unwrap().push(v);
            }
        }
    });
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs python3-libtorrent: run scripts/test-all"]
async fn downloads_a_magnet_from_libtorrent() {
    require(libtorrent::PYTHON, "python3-libtorrent").unwrap_or_else(|e| panic!("{e}"));
    let seeder = seeder("payload.bin", 3 << 20, 7);
    let root = tempfile::tempdir().unwrap();
    let daemon = Daemon::start(root.path(), &config(root.path(), ""), &[]);
    let api = Api::new(&daemon);
    let events = listen_to_events(daemon.url.clone());
    tokio::time::sleep(Duration::from_millis(300)).await;

    let (s, added) = api.add_magnet("", &seeder.magnet("payload.bin")).await;
    assert_eq!(s, StatusCode::CREATED, "{added}");
    let hash = seeder.info_hash.clone();
    assert_eq!(added["info_hash"], hash.as_str());

    let done = api
        .wait_for(&hash, Duration::from_secs(120), |t| t["state"] == "seeding")
        .await;
    assert_eq!(done["name"], "payload.bin");
    assert_eq!(done["progress"], 1.0);
    assert_eq!(done["total_length"], 3 << 20);
    assert!(done["downloaded"].as_u64().unwrap() >= 3 << 20, "{done}");
    assert_eq!(done["error"], Value::Null);
    let file = root.path().join("downloads/payload.bin");
    assert!(
        same_bytes(&file, &seeder.content),
        "the downloaded file differs"
    );

    let (s, files) = api.get(&format!("/v1/torrents/{hash}/files")).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(files[0]["path"], "payload.bin", "{files}");
    assert_eq!(files[0]["downloaded"], 3 << 20, "{files}");
    let (s, _, files) = api
        .call(
            Method::PUT,
            &format!("/v1/torrents/{hash}/files"),
            Some("application/json"),
            br#"{"priorities": [7]}"#.to_vec(),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{files}");
    assert_eq!(files[0]["priority"], 7, "{files}");
    let (s, _, v) = api
        .call(
            Method::PUT,
            &format!("/v1/torrents/{hash}/files"),
            Some("application/json"),
            br#"{"priorities": [4, 4]}"#.to_vec(),
        )
        .await;
    assert_error((s, v), StatusCode::CONFLICT);
    let (s, peers) = api.get(&format!("/v1/torrents/{hash}/peers")).await;
    assert_eq!(s, StatusCode::OK);
    assert!(peers.is_array(), "{peers}");
    let (_, stats) = api.get("/v1/stats").await;
    assert!(stats["downloaded"].as_u64().unwrap() >= 3 << 20, "{stats}");

    let (s, t) = api.post(&format!("/v1/torrents/{hash}/pause")).await;
    assert_eq!((s, &t["state"]), (StatusCode::OK, &Value::from("paused")));
    let (s, _) = api.post(&format!("/v1/torrents/{hash}/resume")).await;
    assert_eq!(s, StatusCode::OK);
    api.wait_for(&hash, Duration::from_secs(30), |t| t["state"] == "seeding")
        .await;
    let (s, _) = api.post(&format!("/v1/torrents/{hash}/recheck")).await;
    assert_eq!(s, StatusCode::OK);
    let checked = api
        .wait_for(&hash, Duration::from_secs(60), |t| t["state"] == "seeding")
        .await;
    assert_eq!(checked["progress"], 1.0, "{checked}");

    // The event stream told the story.
    let kinds = |events: &[Value]| -> Vec<String> {
        events
            .iter()
            .filter(|e| e["info_hash"] == hash.as_str())
            .map(|e| e["type"].as_str().unwrap().to_owned())
            .collect()
    };
    let seen = kinds(&events.lock().unwrap());
    for kind in ["torrent_added", "metadata_received", "finished"] {
        assert!(seen.iter().any(|k| k == kind), "no {kind} in {seen:?}");
    }

    let (s, _, v) = api
        .call(
            Method::DELETE,
            &format!("/v1/torrents/{hash}?delete_files=true"),
            None,
            Vec::new(),
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT, "{v}");
    assert_error(
        api.get(&format!("/v1/torrents/{hash}")).await,
        StatusCode::NOT_FOUND,
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while file.exists() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(!file.exists(), "delete_files=true left {}", file.display());
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        kinds(&events.lock().unwrap())
            .iter()
            .any(|k| k == "torrent_removed")
    );

    let status = daemon.stop();
    assert!(status.success(), "bitswarmd exited with {status}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs python3-libtorrent: run scripts/test-all"]
async fn restart_resumes_without_downloading_again() {
    require(libtorrent::PYTHON, "python3-libtorrent").unwrap_or_else(|e| panic!("{e}"));
    const LEN: u64 = 8 << 20;
    let seeder = seeder("resume.bin", LEN, 11);
    let root = tempfile::tempdir().unwrap();
    // 512 KiB/s: the 8 MiB take about 16 s, time enough to stop midway.
    let cfg = config(root.path(), "download_rate_limit = 524288");
    let daemon = Daemon::start(root.path(), &cfg, &[]);
    let api = Api::new(&daemon);
    let (s, added) = api.add_magnet("", &seeder.magnet("resume.bin")).await;
    assert_eq!(s, StatusCode::CREATED, "{added}");
    let hash = seeder.info_hash.clone();
    let midway = api
        .wait_for(&hash, Duration::from_secs(120), |t| {
            t["progress"].as_f64().unwrap() >= 0.3
        })
        .await;
    assert_eq!(midway["state"], "downloading", "{midway}");
    let status = daemon.stop();
    assert!(status.success(), "bitswarmd exited with {status}");
    let saved = fs::read_dir(root.path().join("state/resume"))
        .unwrap()
        .count();
    assert!(saved > 0, "no state saved");

    // Again, unlimited: it goes on from what it had.
    let daemon = Daemon::start(root.path(), &cfg, &["--download-rate-limit", "0"]);
    let api = Api::new(&daemon);
    let (s, restored) = api.get(&format!("/v1/torrents/{hash}")).await;
    assert_eq!(s, StatusCode::OK, "not restored: {restored}");
    let before = midway["progress"].as_f64().unwrap();
    assert!(
        restored["progress"].as_f64().unwrap() >= before,
        "verified pieces lost: {restored} after {midway}"
    );
    // Resume data keep no peers and there is no tracker or DHT here: a
    // seeder comes to the daemon.
    let (_, stats) = api.get("/v1/stats").await;
    let listen = stats["listen_addrs"][0].as_str().unwrap().parse().unwrap();
    let _second_seeder = seeder.connecting_to(listen);
    let done = api
        .wait_for(&hash, Duration::from_secs(120), |t| t["state"] == "seeding")
        .await;
    let second_run = done["downloaded"].as_u64().unwrap();
    let left = ((1.0 - before) * LEN as f64) as u64;
    eprintln!("after the restart: {second_run} bytes downloaded, {left} were left of {LEN}");
    assert!(
        second_run <= left + LEN / 10,
        "downloaded {second_run} bytes after the restart; {left} were left"
    );
    assert!(same_bytes(
        &root.path().join("downloads/resume.bin"),
        &seeder.content
    ));
    assert!(daemon.stop().success());
}

/// The schemathesis executable that `scripts/install-schemathesis` installs.
fn schemathesis() -> PathBuf {
    let venv = std::env::var_os("BITSWARM_SCHEMATHESIS_VENV")
        .map(PathBuf::from)
        .or_else(|| {
            let cache = std::env::var_os("XDG_CACHE_HOME")
                .map(PathBuf::from)
                .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))?;
            Some(cache.join("bitswarm/schemathesis-venv"))
        })
        .expect("neither HOME nor BITSWARM_SCHEMATHESIS_VENV is set");
    let st = venv.join("bin/st");
    assert!(
        st.is_file(),
        "schemathesis is not installed at {}: run scripts/install-schemathesis (it installs it from PyPI)",
        st.display()
    );
    st
}

/// Runs schemathesis against a daemon's document with every check, the
/// endless `/v1/events` left out, and fails with its report unless it passes.
fn run_schemathesis(st: &Path, daemon: &Daemon, dir: &Path, extra: &[&str], max_time: u32) {
    let out = Command::new(st)
        .arg("run")
        .arg(format!("{}/v1/openapi.json", daemon.url))
        .args(["--checks", "all"])
        .args(["--exclude-path", "/v1/events"])
        .args(["--max-examples", "25"])
        .args(["--max-time", &max_time.to_string()])
        .args(["--request-timeout", "10"])
        .args(["--seed", "20261123"])
        .args(["--workers", "1"])
        .args(extra)
        .arg("--report-dir")
        .arg(dir.join("schemathesis-report"))
        .current_dir(dir)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "schemathesis found problems ({}):\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    // Every operation but the event stream was exercised.
    assert!(stdout.contains("Tested: 11"), "{stdout}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs schemathesis: run scripts/install-schemathesis, then scripts/test-all"]
async fn openapi_document_holds_under_schemathesis() {
    let st = schemathesis();
    let root = tempfile::tempdir().unwrap();
    let daemon = Daemon::start(root.path(), &config(root.path(), ""), &[]);
    run_schemathesis(&st, &daemon, root.path(), &[], 60);
    // No request made the daemon fall over.
    let (s, _) = Api::new(&daemon).get("/v1/stats").await;
    assert_eq!(s, StatusCode::OK);
    let status = daemon.stop();
    assert!(status.success(), "bitswarmd exited with {status}");

    // With a token: every operation also answers 401 without it, as documented.
    let root = tempfile::tempdir().unwrap();
    let token = "schemathesis-token-0123456789";
    let cfg = config(root.path(), &format!("api_token = \"{token}\""));
    let daemon = Daemon::start(root.path(), &cfg, &[]);
    let header = format!("Authorization: Bearer {token}");
    run_schemathesis(&st, &daemon, root.path(), &["--header", &header], 30);
    let status = daemon.stop();
    assert!(status.success(), "bitswarmd exited with {status}");
}
