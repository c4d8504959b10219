//! The full-recheck benchmark: 1 GiB on a tmpfs (in the page cache), our
//! full check against libtorrent's `force_recheck` of the same files in the
//! same run, with OpenSSL's single-core SHA-1 rate as the limit.
//!
//! Run it (release build, nothing else busy on the machine):
//!
//! ```text
//! cargo test --release -p bitswarm-disk --test recheck_bench -- --ignored --nocapture
//! ```
//!
//! `BITSWARM_RECHECK_MIB` changes the size (default 1024 in a release build;
//! 32 and one round in a debug build, where `--include-ignored` runs it as a
//! quick check that both sides find every piece). It prints a table for the
//! README; it asserts only that both checks find every piece.

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bitswarm_disk::{CheckMode, DiskConfig, DiskManager, NativeFileSystem, TorrentStorage};
use bitswarm_metainfo::{TorrentBuilder, Version};

/// Rounds of the three checks: five in a release build, one in a debug build.
const RUNS: usize = if cfg!(debug_assertions) { 1 } else { 5 };

/// OpenSSL's SHA-1 rate on 16 KiB blocks, one core, in bytes per second.
fn openssl_sha1() -> Option<f64> {
    let out = Command::new("openssl")
        .args(["speed", "-evp", "sha1", "-seconds", "3"])
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .rev()
        .find(|l| l.trim_start().starts_with("sha1"))?;
    let last = line.split_whitespace().last()?;
    let kb: f64 = last.trim_end_matches('k').parse().ok()?;
    Some(kb * 1000.0)
}

/// One timed check: wall-clock time and CPU time of the whole process.
#[derive(Debug, Clone, Copy)]
struct Timing {
    wall: Duration,
    cpu: Duration,
}

/// The run with the shortest wall-clock time.
fn best(runs: &[Timing]) -> Timing {
    runs.iter()
        .copied()
        .min_by_key(|t| t.wall)
        .unwrap_or(Timing {
            wall: Duration::ZERO,
            cpu: Duration::ZERO,
        })
}

/// libtorrent's recheck timing and valid pieces.
fn libtorrent_recheck(
    torrent: &Path,
    save_path: &Path,
    threads: Option<usize>,
) -> (Timing, u64, u64) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/lt_recheck.py");
    let mut cmd = Command::new(bitswarm_testkit::libtorrent::PYTHON);
    cmd.arg(script).arg(torrent).arg(save_path);
    if let Some(n) = threads {
        cmd.args(["--hashing-threads", &n.to_string()]);
    }
    let out = cmd.output().expect("python3 runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout.lines().last().unwrap_or_default();
    let v: serde_json::Value = serde_json::from_str(line)
        .unwrap_or_else(|e| panic!("{e}: {stdout} {}", String::from_utf8_lossy(&out.stderr)));
    assert_eq!(v["checked"], true, "{line}");
    (
        Timing {
            wall: Duration::from_secs_f64(v["seconds"].as_f64().unwrap()),
            cpu: Duration::from_secs_f64(v["cpu_seconds"].as_f64().unwrap()),
        },
        v["valid"].as_u64().unwrap(),
        v["pieces"].as_u64().unwrap(),
    )
}

#[test]
#[ignore = "needs python3-libtorrent: run scripts/test-all"]
fn full_recheck_against_libtorrent() {
    let mib: u64 = std::env::var("BITSWARM_RECHECK_MIB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if cfg!(debug_assertions) { 32 } else { 1024 });
    let shm = Path::new("/dev/shm");
    let dir = if shm.is_dir() {
        tempfile::tempdir_in(shm).unwrap()
    } else {
        tempfile::tempdir().unwrap()
    };
    let data = dir.path().join("data.bin");
    bitswarm_testkit::content::write_file(&data, mib << 20, 7).unwrap();
    let piece_length = 256 * 1024;
    let meta = TorrentBuilder::new(&data)
        .version(Version::V1)
        .piece_length(piece_length)
        .build()
        .unwrap();
    let torrent = dir.path().join("data.torrent");
    std::fs::write(&torrent, meta.as_bytes()).unwrap();
    let pieces = meta.num_pieces();
    let cores = std::thread::available_parallelism().map_or(1, usize::from);

    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (disk, events) = runtime.block_on(async {
        let (disk, events) = DiskManager::start(DiskConfig::default());
        let storage = TorrentStorage {
            info: Arc::new(meta.info().clone()),
            fs: Arc::new(NativeFileSystem::new(dir.path())),
        };
        disk.add_torrent(meta.info_hash(), storage).await.unwrap();
        (disk, events)
    });
    // Progress events are not read here: keep the stream from filling.
    let drain = runtime.spawn(async move {
        use futures::StreamExt;
        let mut events = events;
        while events.next().await.is_some() {}
    });

    // The three checks take turns, so that each meets the same load.
    let mut ours = Vec::new();
    let mut lt_default = Vec::new();
    let mut lt_cores = Vec::new();
    for _ in 0..RUNS {
        let start = Instant::now();
        let cpu = cpu_time::ProcessTime::now();
        let have = runtime
            .block_on(disk.check(meta.info_hash(), CheckMode::Full))
            .unwrap();
        ours.push(Timing {
            wall: start.elapsed(),
            cpu: cpu.elapsed(),
        });
        assert!(have.is_full(), "our check finds every piece");
        let (t, valid, n) = libtorrent_recheck(&torrent, dir.path(), None);
        assert_eq!((valid, n), (u64::from(pieces), u64::from(pieces)));
        lt_default.push(t);
        let (t, valid, _) = libtorrent_recheck(&torrent, dir.path(), Some(cores));
        assert_eq!(valid, u64::from(pieces));
        lt_cores.push(t);
    }
    runtime.block_on(disk.shutdown()).unwrap();
    runtime.block_on(drain).unwrap();
    // Eighteen seconds of `openssl speed`: only for the real benchmark.
    let sha1 = if cfg!(debug_assertions) {
        None
    } else {
        openssl_sha1()
    };

    let bytes = (mib << 20) as f64;
    let rate = |d: Duration| bytes / d.as_secs_f64() / 1e9;
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!(
        "\n{mib} MiB, {pieces} pieces of {} KiB, v1, tmpfs, {cores} cores, best of {RUNS}; load average {}\n",
        piece_length / 1024,
        load.split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    );
    println!("| check | time (s) | GB/s | CPU time (s) | GB per CPU-second |");
    println!("| --- | ---: | ---: | ---: | ---: |");
    let lt_cores_name = format!("libtorrent `force_recheck` (`hashing_threads` = {cores})");
    for (name, runs) in [
        ("bitswarm `check(Full)`", &ours),
        ("libtorrent `force_recheck` (default settings)", &lt_default),
        (lt_cores_name.as_str(), &lt_cores),
    ] {
        let t = best(runs);
        println!(
            "| {name} | {:.3} | {:.2} | {:.3} | {:.2} |",
            t.wall.as_secs_f64(),
            rate(t.wall),
            t.cpu.as_secs_f64(),
            rate(t.cpu)
        );
    }
    if let Some(sha1) = sha1 {
        println!(
            "| `openssl speed -evp sha1 -seconds 3` (one core, 16 KiB blocks, CPU time) | | | | {:.2} |",
            sha1 / 1e9
        );
        let ours = best(&ours);
        println!(
            "\nbitswarm: {:.0}% of {cores} cores' SHA-1 rate by wall-clock, {:.0}% of one core's per CPU-second; \
             {:.2}x libtorrent (default), {:.2}x libtorrent ({cores} hashing threads)",
            100.0 * rate(ours.wall) / (cores as f64 * sha1 / 1e9),
            100.0 * rate(ours.cpu) / (sha1 / 1e9),
            best(&lt_default).wall.as_secs_f64() / ours.wall.as_secs_f64(),
            best(&lt_cores).wall.as_secs_f64() / ours.wall.as_secs_f64(),
        );
    }
}
