//! Downloads a torrent or a magnet link with a `bitswarm_session::Session`.
//!
//! ```text
//! download ubuntu.torrent -o downloads
//! download 'magnet:?xt=urn:btih:…' -o downloads --peer 192.0.2.7:6881
//! download file.torrent -o out --listen 127.0.0.1:0 --peer 127.0.0.1:51413 --seed
//! download 'magnet:?xt=urn:btih:…' -o out --dht-bootstrap router.example:6881
//! ```
//!
//! A progress bar shows bytes, rate, peers and the time left. It exits 0
//! once every piece is verified (with `--seed`, it then seeds until Ctrl-C),
//! 1 with a message on any error or when `--timeout` passes, 130 on Ctrl-C.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use bitswarm_examples::init_tracing;
use bitswarm_metainfo::{Magnet, Metainfo};
use bitswarm_session::{
    AddTorrent, Session, SessionConfig, SessionEvent, TorrentState, TorrentStatus,
};
use clap::Parser;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Download a torrent.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// A .torrent file or a magnet link.
    source: String,
    /// The folder to download into.
    #[arg(short, long)]
    output: PathBuf,
    /// A peer to connect to (besides those from trackers and the DHT); repeat for several.
    #[arg(long = "peer")]
    peers: Vec<SocketAddr>,
    /// Keep seeding after the download, until Ctrl-C.
    #[arg(long)]
    seed: bool,
    /// A DHT bootstrap node (`host:port`); given one, a DHT node runs. Repeat for several.
    #[arg(long = "dht-bootstrap")]
    dht_bootstrap: Vec<String>,
    /// Where the DHT node binds, when one runs.
    #[arg(long, default_value = "0.0.0.0:0")]
    dht_bind: SocketAddr,
    /// An address to accept peers on; repeat for several (default: port
    /// 6881 on every IPv4 and IPv6 address).
    #[arg(long = "listen")]
    listen: Vec<SocketAddr>,
    /// Do not announce to trackers.
    #[arg(long)]
    no_trackers: bool,
    /// Give up after this many seconds without the whole torrent.
    #[arg(long)]
    timeout: Option<u64>,
}

/// How the program ends.
enum Outcome {
    Done,
    Interrupted,
}

#[tokio::main]
async fn main() -> ExitCode {
    init_tracing("warn");
    let args = Args::parse();
    let code = match run(args).await {
        Ok(Outcome::Done) => 0,
        Ok(Outcome::Interrupted) => 130,
        Err(e) => {
            eprintln!("download: {e}");
            1
        }
    };
    // Background work of the engine (disk threads) is not waited for.
    std::process::exit(code)
}

/// Reads the source: a magnet link, or the path of a .torrent file.
fn read_source(source: &str) -> Result<AddTorrent, String> {
    if source.starts_with("magnet:") {
        let magnet = Magnet::parse(source).map_err(|e| format!("bad magnet link: {e}"))?;
        return Ok(AddTorrent::magnet(magnet));
    }
    let bytes = std::fs::read(source).map_err(|e| format!("{source}: {e}"))?;
    let meta = Metainfo::from_bytes(&bytes).map_err(|e| format!("{source}: {e}"))?;
    Ok(AddTorrent::torrent(meta))
}

async fn run(args: Args) -> Result<Outcome, String> {
    let mut add = read_source(&args.source)?;
    std::fs::create_dir_all(&args.output).map_err(|e| format!("{}: {e}", args.output.display()))?;
    let mut config = SessionConfig {
        download_dir: args.output.clone(),
        trackers: !args.no_trackers,
        ..SessionConfig::default()
    };
    if !args.listen.is_empty() {
        config.listen = args.listen.clone();
    }
    if !args.dht_bootstrap.is_empty() {
        config.dht_bind = Some(args.dht_bind);
        config.dht_bootstrap = args.dht_bootstrap.clone();
    }
    let session = Session::start(config)
        .await
        .map_err(|e| format!("starting the session: {e}"))?;
    let mut events = session.events();
    add.output = Some(args.output.clone());
    add.peers = args.peers.clone();
    let id = session
        .add_torrent(add)
        .await
        .map_err(|e| format!("adding the torrent: {e}"))?;
    println!("downloading {id} into {}", args.output.display());
    for addr in session.listen_addrs() {
        println!("listening on {addr}");
    }

    let started = Instant::now();
    let deadline = args
        .timeout
        .map(|s| tokio::time::Instant::now() + Duration::from_secs(s));
    let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr_with_hz(4));
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} {prefix} [{bar:30.cyan/blue}] {bytes}/{total_bytes} {binary_bytes_per_sec} {msg} ETA {eta}",
        )
        .map_err(|e| e.to_string())?
        .progress_chars("=> "),
    );
    let mut ticker = tokio::time::interval(Duration::from_millis(250));
    let status = loop {
        tokio::select! {
            _ = ticker.tick() => {
                let status = session.status(id).await.map_err(|e| e.to_string())?;
                show(&bar, &status);
                if let Some(e) = failed(&status) {
                    bar.abandon();
                    let _ = session.shutdown().await;
                    return Err(e);
                }
                if complete(&status) {
                    break status;
                }
                if deadline.is_some_and(|d| tokio::time::Instant::now() >= d) {
                    bar.abandon();
                    let _ = session.shutdown().await;
                    return Err(format!(
                        "not complete after {} s: {}/{} pieces, {} peers",
                        args.timeout.unwrap_or(0),
                        status.pieces.0,
                        status.pieces.1,
                        status.peers
                    ));
                }
            }
            event = events.next_event() => match event {
                Some(SessionEvent::TorrentError(t, message)) if t == id => {
                    bar.println(format!("error: {message}"));
                }
                Some(SessionEvent::MetadataReceived(t)) if t == id => {
                    bar.println("metadata received and verified");
                }
                Some(SessionEvent::PeerBanned(t, addr)) if t == id => {
                    bar.println(format!("banned {addr}"));
                }
                Some(_) => {}
                None => return Err("the session stopped".into()),
            },
            _ = tokio::signal::ctrl_c() => {
                bar.abandon();
                let _ = session.shutdown().await;
                return Ok(Outcome::Interrupted);
            }
        }
    };
    bar.finish();
    let elapsed = started.elapsed().as_secs_f64();
    let total = status.total_length.unwrap_or(0);
    println!(
        "complete: {} ({} bytes, {}/{} pieces verified) in {:.2} s, {:.1} MiB/s, saved in {}",
        status.name.as_deref().unwrap_or("?"),
        total,
        status.pieces.0,
        status.pieces.1,
        elapsed,
        total as f64 / f64::from(1u32 << 20) / elapsed.max(1e-9),
        status.save_path.display()
    );
    if args.seed {
        println!("seeding; Ctrl-C to stop");
        let _ = tokio::signal::ctrl_c().await;
    }
    session
        .shutdown()
        .await
        .map_err(|e| format!("shutting down: {e}"))?;
    Ok(Outcome::Done)
}

/// Every piece verified.
fn complete(status: &TorrentStatus) -> bool {
    status.pieces.1 > 0 && status.pieces.0 == status.pieces.1
}

/// The error that stopped the torrent, if one did.
fn failed(status: &TorrentStatus) -> Option<String> {
    (status.state == TorrentState::Error)
        .then(|| status.error.clone().unwrap_or_else(|| "failed".into()))
}

fn show(bar: &ProgressBar, status: &TorrentStatus) {
    if let Some(total) = status.total_length {
        bar.set_length(total);
        bar.set_position((status.progress.clamp(0.0, 1.0) * total as f64) as u64);
    }
    bar.set_prefix(status.name.clone().unwrap_or_else(|| status.id.to_string()));
    let state = match status.state {
        TorrentState::FetchingMetadata => "fetching metadata, ",
        TorrentState::Checking => "checking, ",
        _ => "",
    };
    bar.set_message(format!("{state}{} peers", status.peers));
}

#[cfg(test)]
mod tests {
    #[test]
    fn arguments_are_consistent() {
        <super::Args as clap::CommandFactory>::command().debug_assert();
    }
}
