//! Connects to a BitTorrent peer and prints its handshake (client, extension
//! bits), its extension handshake (BEP 10) and how many pieces it has.
//!
//! ```text
//! cargo run -p bitswarm-examples --bin peer-probe -- 127.0.0.1:6881 --info-hash c12fe1c06bba254a9dc9f519b335aa7c1367a88a
//! cargo run -p bitswarm-examples --bin peer-probe -- 127.0.0.1:6881 --info-hash c12f... --json
//! ```

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use bitswarm_core::InfoHash;
use bitswarm_handshake::{
    Connection, HandshakeConfig, HandshakeEvent, HandshakeManager, Handshaker,
};
use bitswarm_peer::extension::{ExtendedMessage, ExtensionHandshake, ExtensionIds};
use bitswarm_peer::{Message, PeerCodec, PeerEvent, PeerInfo, PeerManager, PeerManagerConfig};
use clap::Parser;
use serde_json::{Value, json};

/// Print a peer's handshake, extension handshake and piece count.
#[derive(Parser)]
#[command(version)]
struct Args {
    /// The peer's address, such as 127.0.0.1:6881.
    addr: SocketAddr,
    /// The torrent's info-hash (40 hex digits for v1, 64 for v2).
    #[arg(long)]
    info_hash: InfoHash,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
    /// Seconds to wait for the handshake and then for the peer's messages.
    #[arg(long, default_value_t = 5)]
    timeout: u64,
}

/// What the peer said about its pieces.
#[derive(Debug, Default)]
enum Pieces {
    #[default]
    Unknown,
    All,
    None,
    Bitfield {
        have: u32,
        bits: u32,
    },
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let args = Args::parse();
    match probe(&args).await {
        Ok(report) => {
            if args.json {
                println!("{report}");
            } else {
                print_text(&report);
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn handshake(args: &Args) -> Result<Connection, String> {
    let mut config = HandshakeConfig::new(bitswarm_handshake::peer_id());
    config.timeout = Duration::from_secs(args.timeout);
    let (hs, mut events) = HandshakeManager::start(config, vec![]);
    hs.connect(args.addr, args.info_hash)
        .await
        .map_err(|e| e.to_string())?;
    match events.next_event().await {
        Some(HandshakeEvent::Connected(c)) => Ok(c),
        Some(HandshakeEvent::Failed { error, .. }) => Err(error.to_string()),
        _ => Err("the handshake manager stopped".into()),
    }
}

async fn probe(args: &Args) -> Result<Value, String> {
    let conn = handshake(args).await?;
    let remote = conn.info.remote;
    let client = remote.peer_id.client();
    let (peers, mut events) = PeerManager::start(PeerManagerConfig::default());
    let key = peers
        .add(
            conn.transport,
            PeerInfo {
                addr: conn.info.addr,
                // The piece count is unknown without the metadata.
                codec: PeerCodec::default(),
            },
        )
        .map_err(|e| e.to_string())?;
    let ext_protocol = conn
        .info
        .extensions
        .supports(bitswarm_handshake::Extensions::EXTENSION_PROTOCOL);
    if ext_protocol {
        let hs = ExtendedMessage::Handshake(ExtensionHandshake::bitswarm(None));
        if let Some(m) = hs.to_message(&ExtensionIds::OURS) {
            peers.send(key, m).await.map_err(|e| e.to_string())?;
        }
    }

    let mut ext: Option<ExtensionHandshake> = None;
    let mut pieces = Pieces::Unknown;
    let mut closed = None;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(args.timeout);
    while matches!(pieces, Pieces::Unknown) || (ext_protocol && ext.is_none()) {
        let Ok(Some(event)) = tokio::time::timeout_at(deadline, events.next_event()).await else {
            break;
        };
        match event {
            PeerEvent::Message { message, .. } => match message {
                Message::HaveAll => pieces = Pieces::All,
                Message::HaveNone => pieces = Pieces::None,
                Message::Bitfield(bits) => {
                    pieces = Pieces::Bitfield {
                        have: bits.iter().map(|b| b.count_ones()).sum(),
                        bits: bits.len() as u32 * 8,
                    };
                }
                Message::Extended { id: 0, payload } => {
                    match ExtensionHandshake::decode(&payload) {
                        Ok(h) => ext = Some(h),
                        Err(e) => tracing::warn!(error = %e, "bad extension handshake"),
                    }
                }
                _ => {}
            },
            PeerEvent::Disconnected { reason, .. } => {
                closed = Some(format!("{reason:?}"));
                break;
            }
            _ => {}
        }
    }
    peers.shutdown();

    Ok(json!({
        "addr": conn.info.addr.to_string(),
        "peer_id": remote.peer_id.to_string(),
        "client": client.as_ref().map(|c| json!({
            "code": c.code,
            "name": c.name,
            "version": c.version,
        })),
        "reserved": hex(&remote.extensions.to_bytes()),
        "extensions": remote.extensions.names(),
        "extension_handshake": ext.map(|h| json!({
            "v": h.v,
            "m": h.m,
            "p": h.p,
            "reqq": h.reqq,
            "yourip": h.yourip.map(|ip| ip.to_string()),
            "metadata_size": h.metadata_size,
            "upload_only": h.upload_only,
        })),
        "pieces": match pieces {
            Pieces::Unknown => json!(null),
            Pieces::All => json!("all"),
            Pieces::None => json!(0),
            Pieces::Bitfield { have, bits } => json!({ "have": have, "bitfield_bits": bits }),
        },
        "closed": closed,
    }))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn print_text(r: &Value) {
    println!("peer         {}", r["addr"].as_str().unwrap_or_default());
    println!("peer id      {}", r["peer_id"].as_str().unwrap_or_default());
    match r["client"].as_object() {
        Some(c) => println!(
            "client       {} {} ({})",
            c["name"].as_str().unwrap_or("unknown client"),
            c["version"].as_str().unwrap_or_default(),
            c["code"].as_str().unwrap_or_default()
        ),
        None => println!("client       (peer id follows no known convention)"),
    }
    println!(
        "reserved     {}  {}",
        r["reserved"].as_str().unwrap_or_default(),
        r["extensions"]
            .as_array()
            .map(|a| a
                .iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join(", "))
            .unwrap_or_default()
    );
    match r["extension_handshake"].as_object() {
        Some(h) => {
            println!("extension handshake (BEP 10):");
            for (k, v) in h {
                if !v.is_null() {
                    println!("  {k:<14}{v}");
                }
            }
        }
        None => println!("extension handshake: none"),
    }
    match &r["pieces"] {
        Value::String(s) => println!("pieces       {s}"),
        Value::Number(n) => println!("pieces       {n}"),
        Value::Object(o) => println!(
            "pieces       {} set in a bitfield of {} bits",
            o["have"], o["bitfield_bits"]
        ),
        _ => println!("pieces       not announced"),
    }
    if let Some(c) = r["closed"].as_str() {
        println!("closed       {c}");
    }
}
