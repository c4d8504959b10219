//! Seeds content with a `bitswarm_session::Session`, making its torrent
//! first when given the content itself.
//!
//! ```text
//! seed album/ --tracker-server 0.0.0.0:6969 --print-magnet     # make album.torrent, run a tracker, seed
//! seed album.torrent --data .                                  # seed an existing torrent's data
//! seed big.iso --listen 127.0.0.1:51413 --torrent-out /tmp/big.torrent --tracker udp://t.example:6969/announce
//! ```
//!
//! Given a file or folder, it builds the torrent with
//! `bitswarm_metainfo::TorrentBuilder` and writes it next to the content
//! (`NAME.torrent`) or to `--torrent-out`. With `--tracker-server ADDR` a
//! `bitswarm-utracker` UDP tracker runs in the same process and its URL goes
//! into the new torrent. It checks the data, prints `listening on ADDR`,
//! the magnet link when asked, then `seeding NAME`, and seeds until Ctrl-C
//! (or `--run-for` seconds). Exit codes: 0 when stopped, 1 on any error.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use bitswarm_examples::init_tracing;
use bitswarm_metainfo::{Metainfo, TorrentBuilder, Version};
use bitswarm_session::{AddTorrent, Session, SessionConfig, TorrentState};
use bitswarm_utracker::{MemoryStore, StoreConfig, TrackerServer, TrackerServerConfig};
use clap::{Parser, ValueEnum};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

#[derive(Debug, Clone, Copy, ValueEnum)]
enum TorrentVersion {
    /// BEP 3 only.
    V1,
    /// BEP 52 only.
    V2,
    /// Both (BEP 52 hybrid).
    Hybrid,
}

/// Seed a file, a folder or a torrent.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// A .torrent file, or the file or folder to make a torrent of.
    path: PathBuf,
    /// With a .torrent: the folder that holds its content (default: the
    /// torrent's folder).
    #[arg(long)]
    data: Option<PathBuf>,
    /// Where to write the torrent made of the content (default: NAME.torrent
    /// next to the content).
    #[arg(long)]
    torrent_out: Option<PathBuf>,
    /// Run a UDP tracker at this address in this process and put its URL in
    /// the new torrent.
    #[arg(long)]
    tracker_server: Option<SocketAddr>,
    /// A tracker URL to put in the new torrent; repeat for several.
    #[arg(long = "tracker")]
    trackers: Vec<String>,
    /// An address to accept peers on; repeat for several (default: port
    /// 6881 on every IPv4 and IPv6 address).
    #[arg(long = "listen")]
    listen: Vec<SocketAddr>,
    /// Print the magnet link (with our address as an `x.pe` peer).
    #[arg(long)]
    print_magnet: bool,
    /// The kind of torrent made of the content.
    #[arg(long, value_enum, default_value = "v1")]
    torrent_version: TorrentVersion,
    /// The piece length of the new torrent, bytes (default: by size).
    #[arg(long)]
    piece_length: Option<u64>,
    /// Stop by itself after this many seconds.
    #[arg(long)]
    run_for: Option<u64>,
}

#[tokio::main]
async fn main() -> ExitCode {
    init_tracing("warn");
    let args = Args::parse();
    let code = match run(args).await {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("seed: {e}");
            1
        }
    };
    // Background work of the engine (disk threads) is not waited for.
    std::process::exit(code)
}

/// Whether `path` names a .torrent file.
fn is_torrent_file(path: &Path) -> bool {
    path.is_file()
        && path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("torrent"))
}

/// A wildcard listen address made concrete for a magnet's `x.pe`.
fn reachable(addr: SocketAddr) -> SocketAddr {
    match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => {
            SocketAddr::from((Ipv4Addr::LOCALHOST, addr.port()))
        }
        IpAddr::V6(ip) if ip.is_unspecified() => {
            SocketAddr::from((Ipv6Addr::LOCALHOST, addr.port()))
        }
        _ => addr,
    }
}

async fn run(args: Args) -> Result<(), String> {
    // The tracker first: its URL goes into a new torrent.
    let mut tracker = None;
    let mut trackers = args.trackers.clone();
    if let Some(bind) = args.tracker_server {
        let server = TrackerServer::bind(
            TrackerServerConfig {
                binds: vec![bind],
                workers: 1,
                ..TrackerServerConfig::default()
            },
            MemoryStore::new(
                StoreConfig {
                    interval: 60,
                    ..StoreConfig::default()
                },
                Instant::now(),
            ),
        )
        .await
        .map_err(|e| format!("starting the tracker on {bind}: {e}"))?;
        let bound = server.local_addrs()[0];
        let url = format!("udp://{}/announce", reachable(bound));
        println!("tracker on {url}");
        if bound.ip().is_unspecified() {
            eprintln!(
                "note: the torrent names the tracker by a loopback address; \
                 add --tracker with its public URL for other hosts"
            );
        }
        trackers.insert(0, url);
        tracker = Some(server);
    }

    let (meta, data_dir) = if is_torrent_file(&args.path) {
        let bytes =
            std::fs::read(&args.path).map_err(|e| format!("{}: {e}", args.path.display()))?;
        let meta =
            Metainfo::from_bytes(&bytes).map_err(|e| format!("{}: {e}", args.path.display()))?;
        let data = args
            .data
            .clone()
            .or_else(|| args.path.parent().map(Path::to_path_buf))
            .unwrap_or_else(|| PathBuf::from("."));
        (meta, data)
    } else {
        let meta = make_torrent(&args, &trackers).await?;
        let out = match &args.torrent_out {
            Some(p) => p.clone(),
            None => args.path.with_file_name(format!("{}.torrent", meta.name())),
        };
        std::fs::write(&out, meta.as_bytes()).map_err(|e| format!("{}: {e}", out.display()))?;
        println!("torrent written to {}", out.display());
        let data = args
            .path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
        (meta, data)
    };
    println!("info-hash {}", meta.wire_info_hash());

    let mut config = SessionConfig {
        download_dir: data_dir.clone(),
        ..SessionConfig::default()
    };
    if !args.listen.is_empty() {
        config.listen = args.listen.clone();
    }
    let session = Session::start(config)
        .await
        .map_err(|e| format!("starting the session: {e}"))?;
    let mut add = AddTorrent::torrent(meta.clone());
    add.output = Some(data_dir.clone());
    let id = session
        .add_torrent(add)
        .await
        .map_err(|e| format!("adding the torrent: {e}"))?;

    // The data must be there, whole.
    loop {
        let status = session.status(id).await.map_err(|e| e.to_string())?;
        match status.state {
            TorrentState::Seeding => break,
            TorrentState::Checking => tokio::time::sleep(Duration::from_millis(50)).await,
            TorrentState::Error => {
                return Err(format!(
                    "{}: {}",
                    meta.name(),
                    status.error.unwrap_or_else(|| "failed".into())
                ));
            }
            _ => {
                let _ = session.shutdown().await;
                return Err(format!(
                    "the data in {} is not complete: {}/{} pieces verified",
                    data_dir.display(),
                    status.pieces.0,
                    status.pieces.1
                ));
            }
        }
    }
    for addr in session.listen_addrs() {
        println!("listening on {addr}");
    }
    if args.print_magnet {
        let mut magnet = meta.magnet();
        for addr in session.listen_addrs() {
            magnet.peers.push(reachable(addr).to_string());
        }
        println!("magnet: {magnet}");
    }
    println!("seeding {}", meta.name());

    let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr_with_hz(2));
    bar.set_style(
        ProgressStyle::with_template("{spinner} {prefix} uploaded {msg}")
            .map_err(|e| e.to_string())?,
    );
    bar.set_prefix(meta.name().to_owned());
    let stop = async {
        match args.run_for {
            Some(s) => tokio::time::sleep(Duration::from_secs(s)).await,
            None => std::future::pending().await,
        }
    };
    tokio::pin!(stop);
    let mut ticker = tokio::time::interval(Duration::from_millis(500));
    loop {
        tokio::select! {
            _ = ticker.tick() => {
                if let Ok(s) = session.status(id).await {
                    bar.set_message(format!(
                        "{} ({}/s), {} peers",
                        indicatif::BinaryBytes(s.uploaded),
                        indicatif::BinaryBytes(s.upload_rate),
                        s.peers
                    ));
                    bar.tick();
                }
            }
            _ = tokio::signal::ctrl_c() => break,
            () = &mut stop => break,
        }
    }
    bar.finish_and_clear();
    let uploaded = session.status(id).await.map(|s| s.uploaded).unwrap_or(0);
    session
        .shutdown()
        .await
        .map_err(|e| format!("shutting down: {e}"))?;
    if let Some(t) = tracker {
        t.shutdown().await;
    }
    println!("stopped after uploading {uploaded} bytes");
    Ok(())
}

/// Builds the torrent of the content at `args.path`, hashing on every core.
async fn make_torrent(args: &Args, trackers: &[String]) -> Result<Metainfo, String> {
    if !args.path.exists() {
        return Err(format!("{}: no such file or folder", args.path.display()));
    }
    let mut builder = TorrentBuilder::new(&args.path).version(match args.torrent_version {
        TorrentVersion::V1 => Version::V1,
        TorrentVersion::V2 => Version::V2,
        TorrentVersion::Hybrid => Version::Hybrid,
    });
    for url in trackers {
        builder = builder.tracker(url.clone());
    }
    if let Some(p) = args.piece_length {
        builder = builder.piece_length(p);
    }
    let started = Instant::now();
    let path = args.path.display().to_string();
    let meta = tokio::task::spawn_blocking(move || builder.build())
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| format!("making the torrent of {path}: {e}"))?;
    eprintln!(
        "hashed {} in {:.2} s",
        indicatif::BinaryBytes(meta.total_length()),
        started.elapsed().as_secs_f64()
    );
    Ok(meta)
}

#[cfg(test)]
mod tests {
    #[test]
    fn arguments_are_consistent() {
        <super::Args as clap::CommandFactory>::command().debug_assert();
    }
}
