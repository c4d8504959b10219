//! Look up the peers of an info-hash in the DHT and print them.
//!
//! ```text
//! dht-lookup c12fe1c06bba254a9dc9f519b335aa7c1367a88a --bootstrap 127.0.0.1:6881
//! dht-lookup c12fe1c06bba254a9dc9f519b335aa7c1367a88a --bootstrap router.bittorrent.com:6881 --json
//! ```
//!
//! It contacts only the bootstrap nodes given and the nodes they lead to.

use std::net::{SocketAddr, ToSocketAddrs};
use std::time::{Duration, Instant};

use bitswarm_core::InfoHashV1;
use bitswarm_dht::{Config, Dht, DhtConfig, NodeId};
use clap::Parser;
use futures::StreamExt;
use serde_json::json;

/// Find peers of a torrent through the Mainline DHT (BEP 5).
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// The torrent's v1 info-hash, 40 hex digits.
    info_hash: InfoHashV1,
    /// Nodes to bootstrap from, `host:port` (at least one).
    #[arg(long, num_args = 1.., required = true)]
    bootstrap: Vec<String>,
    /// The local UDP address.
    #[arg(long, default_value = "0.0.0.0:0")]
    bind: SocketAddr,
    /// Print one JSON object instead of one peer per line.
    #[arg(long)]
    json: bool,
    /// Give up after this many seconds.
    #[arg(long, default_value_t = 60)]
    timeout: u64,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    let mut bootstrap = Vec::new();
    for h in &args.bootstrap {
        bootstrap.extend(h.to_socket_addrs().map_err(|e| format!("{h}: {e}"))?);
    }
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
            // A one-shot lookup serves nobody (BEP 43).
            read_only: true,
            ..Config::default()
        },
    })
    .await?;
    let started = Instant::now();
    let run = async {
        dht.bootstrap().await?;
        let mut peers = Vec::new();
        let mut stream = dht.get_peers(NodeId::from(args.info_hash));
        while let Some(p) = stream.next().await {
            if !args.json {
                println!("{p}");
            }
            peers.push(p);
        }
        Ok::<_, bitswarm_dht::Error>(peers)
    };
    let peers = tokio::time::timeout(Duration::from_secs(args.timeout), run)
        .await
        .map_err(|_| "timed out")??;
    if args.json {
        let out = json!({
            "info_hash": args.info_hash.to_string(),
            "peers": peers.iter().map(ToString::to_string).collect::<Vec<_>>(),
            "seconds": started.elapsed().as_secs_f64(),
        });
        println!("{out}");
    } else {
        eprintln!(
            "{} peers in {:.1} s",
            peers.len(),
            started.elapsed().as_secs_f64()
        );
    }
    dht.shutdown().await;
    Ok(())
}
