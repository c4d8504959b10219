//! Torrent creation throughput on 1 GiB in the page cache, beside mktorrent
//! and libtorrent in the same run, with `openssl speed -evp sha1` (one core)
//! as the limit of SHA-1 on this machine.
//!
//! ```text
//! cargo bench -p bitswarm-metainfo --bench create
//! BENCH_MIB=256 BENCH_RUNS=3 cargo bench -p bitswarm-metainfo --bench create
//! ```
//!
//! Every contender hashes the same file, `BENCH_RUNS` times (5 by default)
//! in interleaved rounds; the table gives the median. mktorrent is timed
//! from start to exit; libtorrent's `set_piece_hashes` is timed inside the
//! interpreter, so Python's start-up is not counted against it. Without
//! `--bench` (as `cargo test --benches` runs it) it only checks that one
//! small build works.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use bitswarm_metainfo::{TorrentBuilder, Version};
use bitswarm_testkit::libtorrent::{self, CreateOptions};
use bitswarm_testkit::{content, mktorrent};

#[derive(Clone, Copy, PartialEq, Eq)]
enum Contender {
    Ours(Version),
    Mktorrent,
    Libtorrent { v1_only: bool },
}

impl Contender {
    fn label(self, threads: usize) -> String {
        match self {
            Self::Ours(Version::V1) => format!("bitswarm v1 ({threads} threads)"),
            Self::Ours(Version::V2) => format!("bitswarm v2 ({threads} threads)"),
            Self::Ours(Version::Hybrid) => format!("bitswarm hybrid ({threads} threads)"),
            Self::Mktorrent => format!("mktorrent -t {threads} (v1)"),
            Self::Libtorrent { v1_only: true } => "libtorrent create_torrent v1-only".into(),
            Self::Libtorrent { v1_only: false } => "libtorrent create_torrent hybrid".into(),
        }
    }

    fn run(self, data: &Path, out_dir: &Path, piece: u64, threads: usize) -> Duration {
        let out = out_dir.join("out.torrent");
        let _ = std::fs::remove_file(&out);
        match self {
            Self::Ours(version) => {
                let start = Instant::now();
                let t = TorrentBuilder::new(data)
                    .version(version)
                    .piece_length(piece)
                    .threads(threads)
                    .creation_date(None)
                    .build()
                    .expect("our build");
                let elapsed = start.elapsed();
                std::fs::write(&out, t.as_bytes()).expect("write");
                elapsed
            }
            Self::Mktorrent => {
                mktorrent::create_timed(data, &out, piece.trailing_zeros() as u8, threads)
                    .expect("mktorrent (Debian package mktorrent)")
            }
            Self::Libtorrent { v1_only } => {
                let options = CreateOptions {
                    v1_only,
                    piece_size: Some(piece),
                };
                libtorrent::create_torrent_with(data, &out, &options)
                    .expect("libtorrent (Debian package python3-libtorrent)")
                    .hashing_time
            }
        }
    }
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// `openssl speed -evp <alg>` on one core, 16 KiB blocks, in MB/s.
fn openssl_speed(alg: &str) -> Option<f64> {
    let out = Command::new("openssl")
        .args(["speed", "-seconds", "2", "-evp", alg])
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().rev().find(|l| l.starts_with(alg))?;
    let last = line.split_whitespace().last()?;
    let kbytes: f64 = last.trim_end_matches('k').parse().ok()?;
    Some(kbytes / 1000.0)
}

fn main() {
    let bench = std::env::args().any(|a| a == "--bench");
    let dir = tempfile::tempdir().expect("temporary folder");
    if !bench {
        let data = dir.path().join("smoke.bin");
        content::write_file(&data, 4 << 20, 1).expect("write");
        let t = TorrentBuilder::new(&data).build().expect("build");
        assert_eq!(t.total_length(), 4 << 20);
        return;
    }

    let mib = env_or("BENCH_MIB", 1024);
    let runs = env_or("BENCH_RUNS", 5) as usize;
    let threads = std::thread::available_parallelism().map_or(1, usize::from);
    let data: PathBuf = dir.path().join("data.bin");
    eprintln!("writing {mib} MiB of test content...");
    content::write_file(&data, mib << 20, 2024).expect("write the content");
    // Read it once so that every contender starts from the page cache.
    let _ = std::fs::read(&data).expect("read back");
    let bytes = (mib << 20) as f64;

    let contenders = [
        Contender::Ours(Version::V1),
        Contender::Mktorrent,
        Contender::Libtorrent { v1_only: true },
        Contender::Ours(Version::Hybrid),
        Contender::Libtorrent { v1_only: false },
        Contender::Ours(Version::V2),
    ];
    let sha1 = openssl_speed("sha1");
    let sha256 = openssl_speed("sha256");

    println!(
        "| piece size | creator | median time | throughput | vs. mktorrent | vs. libtorrent (same kind) |"
    );
    println!("| --- | --- | --- | --- | --- | --- |");
    for piece in [256 * 1024u64, 4 << 20] {
        let mut times: Vec<Vec<Duration>> = vec![Vec::new(); contenders.len()];
        for round in 0..runs {
            // Rotate the order each round so no contender always goes first.
            for k in 0..contenders.len() {
                let i = (k + round) % contenders.len();
                times[i].push(contenders[i].run(&data, dir.path(), piece, threads));
            }
        }
        let medians: Vec<Duration> = times.into_iter().map(median).collect();
        let rate = |i: usize| bytes / medians[i].as_secs_f64() / 1e6;
        let find = |c: Contender| contenders.iter().position(|&x| x == c).unwrap_or(0);
        let mk = rate(find(Contender::Mktorrent));
        for (i, c) in contenders.iter().enumerate() {
            let vs_mk = match c {
                Contender::Ours(Version::V1) => format!("{:.2}×", rate(i) / mk),
                _ => String::new(),
            };
            let vs_lt = match c {
                Contender::Ours(Version::V1) => format!(
                    "{:.2}×",
                    rate(i) / rate(find(Contender::Libtorrent { v1_only: true }))
                ),
                Contender::Ours(Version::Hybrid) => format!(
                    "{:.2}×",
                    rate(i) / rate(find(Contender::Libtorrent { v1_only: false }))
                ),
                _ => String::new(),
            };
            println!(
                "| {} KiB | {} | {:.3} s | {:.0} MB/s | {vs_mk} | {vs_lt} |",
                piece / 1024,
                c.label(threads),
                medians[i].as_secs_f64(),
                rate(i),
            );
        }
    }
    let show = |v: Option<f64>| v.map_or("n/a".into(), |r| format!("{r:.0} MB/s"));
    println!(
        "| — | `openssl speed -evp sha1`, one core, 16 KiB blocks | | {} | | |",
        show(sha1)
    );
    println!(
        "| — | `openssl speed -evp sha256`, one core, 16 KiB blocks | | {} | | |",
        show(sha256)
    );
    println!();
    println!("{mib} MiB in the page cache, {threads} cores, median of {runs} runs.");
}
