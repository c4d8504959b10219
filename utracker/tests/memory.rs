//! Resident memory of the default store holding 1 M peers over 100 k swarms,
//! read from /proc/self/statm before and after filling it.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Instant;

use bitswarm_core::{InfoHashV1, PeerId};
use bitswarm_utracker::{
    Announce, AnnounceEvent, AnnounceReply, AnnounceRequest, ConnectionId, Handler, MemoryStore,
    StoreConfig, TransactionId, UrlData,
};

const SWARMS: u32 = 100_000;
const PEERS_PER_SWARM: u32 = 10;
const BUDGET_PER_PEER: f64 = 200.0;

/// Resident set size in bytes (second field of statm, in pages).
fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").expect("Linux /proc");
    let pages: u64 = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
    pages * 4096
}

fn hash(swarm: u32) -> InfoHashV1 {
    let mut h = [0x5a; 20];
    h[..4].copy_from_slice(&swarm.to_be_bytes());
    h[4..8].copy_from_slice(&swarm.wrapping_mul(2_654_435_761).to_be_bytes());
    InfoHashV1(h)
}

#[test]
#[ignore = "fills 1 M peers (about a second in release); run scripts/test-all"]
fn one_million_peers_over_100k_swarms_fit_in_200_bytes_each() {
    let now = Instant::now();
    let before = rss_bytes();
    let store = MemoryStore::new(StoreConfig::default(), now);
    let mut reply = AnnounceReply {
        interval: 0,
        leechers: 0,
        seeders: 0,
        peers: Vec::new(),
    };
    let mut request = AnnounceRequest {
        connection_id: ConnectionId(0),
        transaction_id: TransactionId(0),
        info_hash: hash(0),
        peer_id: PeerId([0; 20]),
        downloaded: 0,
        left: 0,
        uploaded: 0,
        event: AnnounceEvent::Started,
        ip: None,
        key: 0,
        num_want: Some(0),
        port: 0,
        url_data: UrlData::default(),
    };
    let mut n = 0u32;
    for swarm in 0..SWARMS {
        request.info_hash = hash(swarm);
        for peer in 0..PEERS_PER_SWARM {
            n += 1;
            request.left = u64::from(peer % 3);
            let peer = SocketAddr::from((Ipv4Addr::from(0x0a00_0000 | n), 6881));
            let ctx = Announce {
                request: &request,
                source: peer,
                peer,
            };
            reply.peers.clear();
            store.announce(now, &ctx, &mut reply).unwrap();
        }
    }
    let after = rss_bytes();
    let stats = store.stats().unwrap();
    assert_eq!(stats.peers, (SWARMS * PEERS_PER_SWARM) as usize);
    assert_eq!(stats.swarms, SWARMS as usize);
    let per_peer = (after - before) as f64 / stats.peers as f64;
    eprintln!(
        "{} peers in {} swarms: RSS grew {:.1} MiB, {per_peer:.1} bytes per peer (store's own estimate {:.1})",
        stats.peers,
        stats.swarms,
        (after - before) as f64 / (1 << 20) as f64,
        stats.heap_bytes as f64 / stats.peers as f64,
    );
    assert!(
        per_peer <= BUDGET_PER_PEER,
        "{per_peer:.1} bytes per peer is over the {BUDGET_PER_PEER} budget"
    );
    drop(store);
}
