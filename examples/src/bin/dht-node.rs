//! Run a DHT node and print its stats now and then.
//!
//! ```text
//! dht-node --bind 127.0.0.1:6881 --bootstrap 127.0.0.1:6882 --state dht.state
//! dht-node --bind 0.0.0.0:6881 --bootstrap router.bittorrent.com:6881 --state dht.state
//! ```
//!
//! It contacts only the bootstrap nodes given (and the nodes they lead to);
//! with `--state`, it loads the routing table saved there at start and saves
//! it again every minute and when stopped (Ctrl-C or SIGTERM), so a restart need not bootstrap.

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::time::Duration;

use bitswarm_dht::{Config, Dht, DhtConfig};
use clap::Parser;

/// Run a Mainline DHT node (BEP 5) and print its stats.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// The UDP address to listen on (IPv4 or IPv6).
    #[arg(long, default_value = "127.0.0.1:6881")]
    bind: SocketAddr,
    /// Nodes to bootstrap from, `host:port`; none by default.
    #[arg(long, num_args = 1..)]
    bootstrap: Vec<String>,
    /// Where to load and save the routing table.
    #[arg(long)]
    state: Option<PathBuf>,
    /// Seconds between stats lines.
    #[arg(long, default_value_t = 10)]
    every: u64,
    /// Answer no queries (BEP 43).
    #[arg(long)]
    read_only: bool,
}

fn resolve(hosts: &[String]) -> Result<Vec<SocketAddr>, String> {
    let mut out = Vec::new();
    for h in hosts {
        let addrs = h.to_socket_addrs().map_err(|e| format!("{h}: {e}"))?;
        out.extend(addrs);
    }
    Ok(out)
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .init();
    let args = Args::parse();
    let bootstrap = resolve(&args.bootstrap)?;
    let (bind_v4, bind_v6) = if args.bind.is_ipv6() {
        (None, Some(args.bind))
    } else {
        (Some(args.bind), None)
    };
    let dht = Dht::bind(DhtConfig {
        bind_v4,
        bind_v6,
        node: Config {
            bootstrap,
            read_only: args.read_only,
            ..Config::default()
        },
    })
    .await?;
    if let Some(path) = &args.state
        && let Ok(saved) = std::fs::read(path)
    {
        let n = dht.import_table(saved).await?;
        println!("loaded {n} nodes from {}", path.display());
    }
    let joined = dht.bootstrap().await?;
    println!(
        "bootstrap: {} replies to {} queries, {} hops to the closest",
        joined.responses, joined.messages, joined.hops
    );
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let mut tick = tokio::time::interval(Duration::from_secs(args.every.max(1)));
    let mut ticks = 0u64;
    loop {
        tokio::select! {
            _ = tick.tick() => {
                let s = dht.stats().await?;
                println!(
                    "id {} nodes v4 {} v6 {} torrents {} items {} lookups {} in flight {} sent {} received {} malformed {} rate-limited {}",
                    s.id, s.nodes_v4, s.nodes_v6, s.torrents, s.items, s.lookups, s.in_flight,
                    s.sent, s.received, s.malformed, s.rate_limited
                );
                ticks += 1;
                if ticks % 6 == 0 {
                    save(&dht, args.state.as_ref()).await?;
                }
            }
            _ = tokio::signal::ctrl_c() => break,
            _ = terminate.recv() => break,
        }
    }
    save(&dht, args.state.as_ref()).await?;
    dht.shutdown().await;
    Ok(())
}

async fn save(dht: &Dht, path: Option<&PathBuf>) -> Result<(), Box<dyn std::error::Error>> {
    if let Some(path) = path {
        std::fs::write(path, dht.export_table().await?)?;
    }
    Ok(())
}
