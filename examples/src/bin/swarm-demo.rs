//! A whole swarm in one process, offline: a UDP tracker, a seeder and
//! several leechers on 127.0.0.1, then every leecher's files compared byte
//! for byte with the source.
//!
//! ```text
//! swarm-demo                                   # 64 MiB in 3 files, 4 leechers
//! swarm-demo --size 1GiB --leechers 8 --files 10
//! ```
//!
//! It makes deterministic content in a temporary folder, builds a torrent
//! that names the in-process tracker, starts a seeder session and the
//! leecher sessions (they find each other through the tracker), shows a
//! progress bar per leecher, verifies, prints the throughput, removes the
//! temporary folder, and exits 0; it exits 1 on any mismatch or when the
//! swarm does not finish within `--timeout`.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use bitswarm_examples::init_tracing;
use bitswarm_metainfo::{Metainfo, TorrentBuilder, Version};
use bitswarm_session::{
    AddTorrent, Session, SessionConfig, TorrentId, TorrentState, TorrentStatus,
};
use bitswarm_utracker::{MemoryStore, StoreConfig, TrackerServer, TrackerServerConfig};
use clap::Parser;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Run a seeder, leechers and a tracker on 127.0.0.1 and check every copy.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// Total content size (bytes, or with a unit: 512KiB, 64MiB, 1GiB, 10MB).
    #[arg(long, default_value = "64MiB", value_parser = parse_size)]
    size: u64,
    /// Leecher sessions.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..=64))]
    leechers: u32,
    /// Files the content is split into.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=1000))]
    files: u32,
    /// Piece length in bytes (a power of two, at least 16 KiB); chosen from
    /// the size when not given.
    #[arg(long, value_parser = parse_size)]
    piece_length: Option<u64>,
    /// Seed of the generated content.
    #[arg(long, default_value_t = 2024)]
    content_seed: u64,
    /// Give up after this many seconds.
    #[arg(long, default_value_t = 600)]
    timeout: u64,
    /// Keep the temporary folder (its path is printed).
    #[arg(long)]
    keep: bool,
}

/// Parses `1234`, `64MiB`, `1GiB`, `500KB`, `1.5GiB`.
fn parse_size(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: f64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a size such as 64MiB"))?;
    let scale: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kib" => 1 << 10,
        "m" | "mib" => 1 << 20,
        "g" | "gib" => 1 << 30,
        "kb" => 1_000,
        "mb" => 1_000_000,
        "gb" => 1_000_000_000,
        other => return Err(format!("unknown size unit {other:?}")),
    };
    let bytes = number * scale as f64;
    if !(bytes.is_finite() && bytes >= 1.0 && bytes <= (1u64 << 50) as f64) {
        return Err(format!("{text:?} is out of range"));
    }
    Ok(bytes as u64)
}

/// A generated folder, removed when dropped unless kept.
struct TempFolder {
    path: PathBuf,
    keep: bool,
}

impl TempFolder {
    fn create(keep: bool) -> Result<Self, String> {
        let path = std::env::temp_dir().join(format!(
            "bitswarm-swarm-demo-{}-{:08x}",
            std::process::id(),
            rand::random::<u32>()
        ));
        std::fs::create_dir_all(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        Ok(Self { path, keep })
    }
}

impl Drop for TempFolder {
    fn drop(&mut self) {
        if self.keep {
            println!("kept {}", self.path.display());
        } else if let Err(e) = std::fs::remove_dir_all(&self.path) {
            eprintln!("could not remove {}: {e}", self.path.display());
        }
    }
}

/// SplitMix64: fast, seeded, the same bytes on every machine.
struct Generator(u64);

impl Generator {
    fn fill(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^= z >> 31;
            chunk.copy_from_slice(&z.to_le_bytes()[..chunk.len()]);
        }
    }
}

/// Writes `files` files of `size` bytes in total under `root`; returns
/// their paths relative to `root`.
fn write_content(root: &Path, size: u64, files: u32, seed: u64) -> Result<Vec<PathBuf>, String> {
    std::fs::create_dir_all(root).map_err(|e| format!("{}: {e}", root.display()))?;
    let files = u64::from(files).min(size).max(1);
    let mut generator = Generator(seed);
    let mut buf = vec![0u8; 1 << 20];
    let mut paths = Vec::new();
    for i in 0..files {
        // Uneven lengths, so that files do not end on piece boundaries.
        let len = size / files + if i < size % files { 1 } else { 0 };
        let relative = PathBuf::from(format!("file-{i:03}.bin"));
        let path = root.join(&relative);
        let mut out = std::io::BufWriter::new(
            std::fs::File::create(&path).map_err(|e| format!("{}: {e}", path.display()))?,
        );
        let mut left = len;
        while left > 0 {
            let n = left.min(buf.len() as u64) as usize;
            generator.fill(&mut buf[..n]);
            out.write_all(&buf[..n])
                .map_err(|e| format!("{}: {e}", path.display()))?;
            left -= n as u64;
        }
        out.flush()
            .map_err(|e| format!("{}: {e}", path.display()))?;
        paths.push(relative);
    }
    Ok(paths)
}

/// Whether two files have the same bytes; `Err` says where they differ.
fn compare_files(a: &Path, b: &Path) -> Result<u64, String> {
    let open = |p: &Path| {
        std::fs::File::open(p)
            .map(|f| std::io::BufReader::with_capacity(1 << 20, f))
            .map_err(|e| format!("{}: {e}", p.display()))
    };
    let (mut fa, mut fb) = (open(a)?, open(b)?);
    let (mut ba, mut bb) = (vec![0u8; 1 << 16], vec![0u8; 1 << 16]);
    let mut offset = 0u64;
    loop {
        let na = read_full(&mut fa, &mut ba).map_err(|e| format!("{}: {e}", a.display()))?;
        let nb = read_full(&mut fb, &mut bb).map_err(|e| format!("{}: {e}", b.display()))?;
        if let Some(i) = ba[..na.min(nb)]
            .iter()
            .zip(&bb[..na.min(nb)])
            .position(|(x, y)| x != y)
        {
            return Err(format!(
                "{} differs from the source at byte {}",
                b.display(),
                offset + i as u64
            ));
        }
        if na != nb {
            return Err(format!(
                "{} has a different length than the source",
                b.display()
            ));
        }
        if na == 0 {
            return Ok(offset);
        }
        offset += na as u64;
    }
}

/// Reads until `buf` is full or the end of the file.
fn read_full(r: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

fn session_config(dir: PathBuf) -> SessionConfig {
    SessionConfig {
        listen: vec![SocketAddr::from((Ipv4Addr::LOCALHOST, 0))],
        download_dir: dir,
        trackers: true,
        ..SessionConfig::default()
    }
}

fn mib(bytes: f64) -> f64 {
    bytes / f64::from(1u32 << 20)
}

#[tokio::main]
async fn main() -> ExitCode {
    init_tracing("warn");
    let args = Args::parse();
    let code = match run(&args).await {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("swarm-demo: {e}");
            1
        }
    };
    // Sessions left running after an error are not waited for.
    std::process::exit(code)
}

async fn run(args: &Args) -> Result<(), String> {
    let folder = TempFolder::create(args.keep)?;
    let root = folder.path.clone();
    let name = "swarm-demo";

    // Content.
    let started = Instant::now();
    let source = root.join("seed").join(name);
    let (size, files, seed) = (args.size, args.files, args.content_seed);
    let source_for_writer = source.clone();
    let relative =
        tokio::task::spawn_blocking(move || write_content(&source_for_writer, size, files, seed))
            .await
            .map_err(|e| e.to_string())??;
    println!(
        "content: {} in {} files under {}",
        human(args.size),
        relative.len(),
        source.display()
    );

    // Tracker.
    let store = MemoryStore::new(
        StoreConfig {
            interval: 30,
            ..StoreConfig::default()
        },
        Instant::now(),
    );
    let tracker = TrackerServer::bind(
        TrackerServerConfig {
            binds: vec![SocketAddr::from((Ipv4Addr::LOCALHOST, 0))],
            workers: 1,
            ..TrackerServerConfig::default()
        },
        store,
    )
    .await
    .map_err(|e| format!("starting the tracker: {e}"))?;
    let tracker_url = format!("udp://{}/announce", tracker.local_addrs()[0]);
    println!("tracker: {tracker_url}");

    // Torrent.
    let mut builder = TorrentBuilder::new(&source)
        .version(Version::V1)
        .tracker(tracker_url.clone());
    if let Some(p) = args.piece_length {
        builder = builder.piece_length(p);
    }
    let torrent: Metainfo = tokio::task::spawn_blocking(move || builder.build())
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| format!("making the torrent: {e}"))?;
    let torrent_path = root.join(format!("{name}.torrent"));
    std::fs::write(&torrent_path, torrent.as_bytes())
        .map_err(|e| format!("{}: {e}", torrent_path.display()))?;
    println!(
        "torrent: {} ({} pieces of {}, info-hash {})",
        torrent_path.display(),
        torrent.num_pieces(),
        human(torrent.piece_length()),
        torrent.wire_info_hash()
    );
    println!("content ready in {:.1} s", started.elapsed().as_secs_f64());

    // Seeder.
    let seeder = Session::start(session_config(root.join("seed")))
        .await
        .map_err(|e| format!("starting the seeder: {e}"))?;
    let id = seeder
        .add_torrent(AddTorrent::torrent(torrent.clone()))
        .await
        .map_err(|e| format!("seeder: adding the torrent: {e}"))?;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(args.timeout);
    wait_for_seeding(&seeder, id, deadline).await?;
    println!(
        "seeder: listening on {}, every piece verified",
        join(&seeder.listen_addrs())
    );

    // Leechers.
    let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr_with_hz(4));
    let style = ProgressStyle::with_template(
        "{prefix:>10} [{bar:32.cyan/blue}] {bytes:>10}/{total_bytes:<10} {binary_bytes_per_sec:>12} {msg}",
    )
    .map_err(|e| e.to_string())?
    .progress_chars("=> ");
    let mut leechers = Vec::new();
    let swarm_started = Instant::now();
    for i in 0..args.leechers {
        let session = Session::start(session_config(root.join(format!("leecher-{i}"))))
            .await
            .map_err(|e| format!("starting leecher {i}: {e}"))?;
        session
            .add_torrent(AddTorrent::torrent(torrent.clone()))
            .await
            .map_err(|e| format!("leecher {i}: adding the torrent: {e}"))?;
        let bar = multi.add(ProgressBar::new(torrent.total_length()));
        bar.set_style(style.clone());
        bar.set_prefix(format!("leecher {i}"));
        leechers.push(Leecher {
            session,
            bar,
            done: None,
        });
    }

    // Progress until every leecher has every piece.
    let mut ticker = tokio::time::interval(Duration::from_millis(200));
    loop {
        ticker.tick().await;
        for (i, l) in leechers.iter_mut().enumerate() {
            if l.done.is_some() {
                continue;
            }
            let status = l
                .session
                .status(id)
                .await
                .map_err(|e| format!("leecher {i}: {e}"))?;
            show(&l.bar, &status);
            if status.state == TorrentState::Error {
                return Err(format!(
                    "leecher {i}: {}",
                    status.error.unwrap_or_else(|| "failed".into())
                ));
            }
            if status.pieces.1 > 0 && status.pieces.0 == status.pieces.1 {
                l.done = Some(swarm_started.elapsed());
                l.bar.finish_with_message("done");
            }
        }
        if leechers.iter().all(|l| l.done.is_some()) {
            break;
        }
        if tokio::time::Instant::now() >= deadline {
            let stalled: Vec<String> = leechers
                .iter()
                .enumerate()
                .filter(|(_, l)| l.done.is_none())
                .map(|(i, l)| format!("leecher {i} at {}", human(l.bar.position())))
                .collect();
            return Err(format!(
                "the swarm did not finish within {} s: {}",
                args.timeout,
                stalled.join(", ")
            ));
        }
    }
    let elapsed = swarm_started.elapsed();
    let _ = multi.clear();
    for (i, l) in leechers.iter().enumerate() {
        if let Some(t) = l.done {
            println!("leecher {i}: complete after {:.2} s", t.as_secs_f64());
        }
    }

    // Verification, byte for byte, against the source.
    let mut verified = 0u64;
    for (i, l) in leechers.iter().enumerate() {
        let status = l
            .session
            .status(id)
            .await
            .map_err(|e| format!("leecher {i}: {e}"))?;
        let copy_root = status.save_path.join(name);
        let (source, files, copy) = (source.clone(), relative.clone(), copy_root.clone());
        let bytes = tokio::task::spawn_blocking(move || {
            let mut total = 0;
            for r in &files {
                total += compare_files(&source.join(r), &copy.join(r))?;
            }
            Ok::<u64, String>(total)
        })
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| format!("MISMATCH: leecher {i}: {e}"))?;
        println!(
            "leecher {i}: {} files, {} identical to the source",
            relative.len(),
            human(bytes)
        );
        verified += bytes;
    }
    println!(
        "verified: all {} leechers have every file byte for byte ({} in total)",
        leechers.len(),
        human(verified)
    );
    let delivered = args.size as f64 * f64::from(args.leechers);
    println!(
        "throughput: {:.1} MiB/s delivered to the swarm ({} × {} in {:.2} s)",
        mib(delivered) / elapsed.as_secs_f64().max(1e-9),
        args.leechers,
        human(args.size),
        elapsed.as_secs_f64()
    );

    for l in &leechers {
        let _ = l.session.shutdown().await;
    }
    let _ = seeder.shutdown().await;
    tracker.shutdown().await;
    drop(folder);
    Ok(())
}

struct Leecher {
    session: Session,
    bar: ProgressBar,
    done: Option<Duration>,
}

fn show(bar: &ProgressBar, status: &TorrentStatus) {
    let total = status.total_length.unwrap_or(bar.length().unwrap_or(0));
    bar.set_length(total);
    bar.set_position((status.progress.clamp(0.0, 1.0) * total as f64) as u64);
    bar.set_message(format!(
        "{} peers, {}/{} pieces",
        status.peers, status.pieces.0, status.pieces.1
    ));
}

/// Waits until a session seeds the torrent (its check of the data is done).
async fn wait_for_seeding(
    session: &Session,
    id: TorrentId,
    deadline: tokio::time::Instant,
) -> Result<(), String> {
    loop {
        let status = session.status(id).await.map_err(|e| e.to_string())?;
        match status.state {
            TorrentState::Seeding => return Ok(()),
            TorrentState::Error => {
                return Err(format!(
                    "seeder: {}",
                    status.error.unwrap_or_else(|| "failed".into())
                ));
            }
            _ if tokio::time::Instant::now() >= deadline => {
                return Err(format!(
                    "the seeder did not finish checking its data ({}/{} pieces)",
                    status.pieces.0, status.pieces.1
                ));
            }
            _ => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

fn join(addrs: &[SocketAddr]) -> String {
    addrs
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

fn human(bytes: u64) -> String {
    indicatif::BinaryBytes(bytes).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_are_consistent() {
        <Args as clap::CommandFactory>::command().debug_assert();
    }

    #[test]
    fn sizes_parse() {
        assert_eq!(parse_size("64MiB"), Ok(64 << 20));
        assert_eq!(parse_size("1GiB"), Ok(1 << 30));
        assert_eq!(parse_size("1.5k"), Ok(1536));
        assert_eq!(parse_size("10MB"), Ok(10_000_000));
        assert_eq!(parse_size("4096"), Ok(4096));
        assert!(parse_size("0").is_err());
        assert!(parse_size("lots").is_err());
        assert!(parse_size("3 parsecs").is_err());
    }

    #[test]
    fn content_is_deterministic_and_compared_exactly() {
        let dir = std::env::temp_dir().join(format!("swarm-demo-test-{}", std::process::id()));
        let a = write_content(&dir.join("a"), 100_001, 3, 7).unwrap();
        let b = write_content(&dir.join("b"), 100_001, 3, 7).unwrap();
        assert_eq!(a, b);
        let total: u64 = a
            .iter()
            .map(|r| compare_files(&dir.join("a").join(r), &dir.join("b").join(r)).unwrap())
            .sum();
        assert_eq!(total, 100_001);
        // One flipped byte is found, with its offset.
        let victim = dir.join("b").join(&a[1]);
        let mut bytes = std::fs::read(&victim).unwrap();
        bytes[1234] ^= 1;
        std::fs::write(&victim, bytes).unwrap();
        let err = compare_files(&dir.join("a").join(&a[1]), &victim).unwrap_err();
        assert!(err.contains("byte 1234"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
