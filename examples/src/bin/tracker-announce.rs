//! Announce to (or scrape) a UDP tracker once and print what it says.
//!
//! ```text
//! tracker-announce udp://127.0.0.1:6969/announce --info-hash c12fe1c06bba254a9dc9f519b335aa7c1367a88a
//! tracker-announce udp://127.0.0.1:6969 --info-hash c12f... --scrape --json
//! ```

use std::time::Duration;

use bitswarm_core::{InfoHashV1, PeerId};
use bitswarm_utracker::{
    AnnounceEvent, AnnounceParams, ClientConfig, TrackerClient, TrackerClientConfig,
};
use clap::{Parser, ValueEnum};
use serde_json::json;

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Event {
    None,
    Started,
    Completed,
    Stopped,
}

/// Announce to a UDP tracker (BEP 15) and print interval, seeders, leechers and peers.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// The tracker, `udp://host:port[/path?query]`.
    url: String,
    /// The torrent's v1 info-hash, 40 hex digits.
    #[arg(long)]
    info_hash: InfoHashV1,
    /// Scrape instead of announcing.
    #[arg(long)]
    scrape: bool,
    /// The announce event.
    #[arg(long, value_enum, default_value = "started")]
    event: Event,
    /// The port we claim to listen on.
    #[arg(long, default_value_t = 6881)]
    port: u16,
    /// Bytes left to download (0 announces a seeder).
    #[arg(long, default_value_t = 0)]
    left: u64,
    /// Peers wanted; the tracker decides when absent.
    #[arg(long)]
    num_want: Option<u32>,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
    /// The first retransmission timeout in milliseconds (doubled each retry).
    #[arg(long, default_value_t = 2000)]
    timeout_ms: u64,
    /// Retransmissions before giving up.
    #[arg(long, default_value_t = 3)]
    retries: u32,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let client = TrackerClient::bind(TrackerClientConfig {
        core: ClientConfig {
            timeout: Duration::from_millis(args.timeout_ms),
            max_retransmissions: args.retries,
            ..ClientConfig::default()
        },
        ..TrackerClientConfig::default()
    })
    .await?;
    if args.scrape {
        let stats = client.scrape(&args.url, &[args.info_hash]).await?;
        let s = stats[0];
        if args.json {
            println!(
                "{}",
                json!({"info_hash": args.info_hash.to_string(), "seeders": s.seeders,
                       "completed": s.completed, "leechers": s.leechers})
            );
        } else {
            println!("seeders:   {}", s.seeders);
            println!("completed: {}", s.completed);
            println!("leechers:  {}", s.leechers);
        }
        return Ok(());
    }
    let peer_id = PeerId::from_prefix_and_random(&PeerId::bitswarm_prefix(), rand::random());
    let mut params = AnnounceParams::new(args.info_hash, peer_id, args.port, args.left);
    params.event = match args.event {
        Event::None => AnnounceEvent::None,
        Event::Started => AnnounceEvent::Started,
        Event::Completed => AnnounceEvent::Completed,
        Event::Stopped => AnnounceEvent::Stopped,
    };
    params.num_want = args.num_want;
    params.key = rand::random();
    let reply = client.announce(&args.url, params).await?;
    if args.json {
        let peers: Vec<String> = reply.peers.iter().map(ToString::to_string).collect();
        println!(
            "{}",
            json!({"interval": reply.interval, "seeders": reply.seeders,
                   "leechers": reply.leechers, "peers": peers})
        );
    } else {
        println!("interval: {} s", reply.interval);
        println!("seeders:  {}", reply.seeders);
        println!("leechers: {}", reply.leechers);
        println!("peers:    {}", reply.peers.len());
        for p in &reply.peers {
            println!("  {p}");
        }
    }
    Ok(())
}
