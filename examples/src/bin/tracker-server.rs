//! A UDP tracker (BEP 15) with the in-memory swarm store.
//!
//! ```text
//! tracker-server --bind 127.0.0.1:6969 --bind [::1]:6969 --workers 2 --stats-interval 10
//! ```
//!
//! It prints `listening on ADDR` for each bound address, logs statistics
//! every `--stats-interval` seconds, and stops cleanly on Ctrl-C (or after
//! `--run-for` seconds).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use bitswarm_examples::init_tracing;
use bitswarm_utracker::{
    AccessList, MemoryStore, ServerStats, StoreConfig, TrackerServer, TrackerServerConfig,
    WorkerMode,
};
use clap::{Parser, ValueEnum};

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Mode {
    /// One socket per worker with SO_REUSEPORT.
    Reuseport,
    /// One socket shared by all workers.
    Shared,
}

/// Serve a UDP tracker.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// Addresses to serve (IPv4 and/or IPv6); repeat for several.
    #[arg(long = "bind", required = true, num_args = 1..)]
    binds: Vec<SocketAddr>,
    /// Workers per address (default: one per core).
    #[arg(long)]
    workers: Option<usize>,
    /// How the workers of one address share it.
    #[arg(long, value_enum, default_value = "reuseport")]
    mode: Mode,
    /// Track only the info-hashes in this file (40 hex digits a line).
    #[arg(long, conflicts_with = "deny_list")]
    allow_list: Option<PathBuf>,
    /// Track all but the info-hashes in this file.
    #[arg(long)]
    deny_list: Option<PathBuf>,
    /// Seconds between statistics lines; 0 for none.
    #[arg(long, default_value_t = 10)]
    stats_interval: u64,
    /// The announce interval sent to clients, seconds.
    #[arg(long, default_value_t = 1800)]
    interval: u32,
    /// The most peers held in total.
    #[arg(long, default_value_t = 20_000_000)]
    max_peers: usize,
    /// Stop by itself after this many seconds.
    #[arg(long)]
    run_for: Option<u64>,
}

fn read_list(
    path: &PathBuf,
) -> Result<std::collections::HashSet<bitswarm_core::InfoHashV1>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    AccessList::parse_hashes(&text).map_err(|line| {
        format!(
            "{}: line {line} is not a 40-digit hex info-hash",
            path.display()
        )
    })
}

fn log_stats(last: &mut (Instant, ServerStats), now: ServerStats) {
    let elapsed = last.0.elapsed().as_secs_f64().max(1e-9);
    let rate = |a: u64, b: u64| (a - b) as f64 / elapsed;
    tracing::info!(
        requests_per_s = rate(now.datagrams(), last.1.datagrams()).round(),
        announces_per_s = rate(now.announces, last.1.announces).round(),
        connects_per_s = rate(now.connects, last.1.connects).round(),
        scrapes_per_s = rate(now.scrapes, last.1.scrapes).round(),
        swarms = now.swarms,
        peers = now.peers,
        dropped = now.invalid + now.bad_connection_id,
        "tracker statistics"
    );
    *last = (Instant::now(), now);
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    init_tracing("info");
    let args = Args::parse();
    let access = match (&args.allow_list, &args.deny_list) {
        (Some(p), _) => AccessList::Allow(read_list(p)?),
        (_, Some(p)) => AccessList::Deny(read_list(p)?),
        _ => AccessList::Open,
    };
    let store = MemoryStore::new(
        StoreConfig {
            interval: args.interval,
            max_peers: args.max_peers,
            access,
            ..StoreConfig::default()
        },
        Instant::now(),
    );
    let mut config = TrackerServerConfig {
        binds: args.binds.clone(),
        mode: match args.mode {
            Mode::Reuseport => WorkerMode::ReusePort,
            Mode::Shared => WorkerMode::SharedSocket,
        },
        ..TrackerServerConfig::default()
    };
    if let Some(w) = args.workers {
        config.workers = w;
    }
    let server = TrackerServer::bind(config, store).await?;
    for addr in server.local_addrs() {
        println!("listening on {addr}");
    }
    let stop_at = args
        .run_for
        .map(|s| tokio::time::Instant::now() + Duration::from_secs(s));
    let every = Duration::from_secs(args.stats_interval.max(1));
    let mut ticker = tokio::time::interval(every);
    ticker.tick().await;
    let mut last = (Instant::now(), server.stats());
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => break,
            () = async {
                match stop_at {
                    Some(t) => tokio::time::sleep_until(t).await,
                    None => std::future::pending().await,
                }
            } => break,
            _ = ticker.tick() => {
                if args.stats_interval > 0 {
                    log_stats(&mut last, server.stats());
                }
            }
        }
    }
    let total = server.stats();
    server.shutdown().await;
    println!(
        "served {} connects, {} announces, {} scrapes; {} swarms, {} peers at exit",
        total.connects, total.announces, total.scrapes, total.swarms, total.peers
    );
    Ok(())
}
