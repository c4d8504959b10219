//! The memory store's bounds and counts, called directly.

use std::time::Duration;

use bitswarm_core::PeerId;
use proptest::prelude::*;

use super::*;
use crate::wire::{AnnounceRequest, ConnectionId, TransactionId, UrlData};

fn request(hash: u8, port: u16, left: u64, event: AnnounceEvent) -> AnnounceRequest {
    AnnounceRequest {
        connection_id: ConnectionId(0),
        transaction_id: TransactionId(0),
        info_hash: InfoHashV1([hash; 20]),
        peer_id: PeerId([0; 20]),
        downloaded: 0,
        left,
        uploaded: 0,
        event,
        ip: None,
        key: 0,
        num_want: Some(1000),
        port,
        url_data: UrlData::default(),
    }
}

fn announce(
    store: &MemoryStore,
    now: Instant,
    peer: SocketAddr,
    r: &AnnounceRequest,
) -> AnnounceReply {
    let mut reply = AnnounceReply {
        interval: 0,
        leechers: 0,
        seeders: 0,
        peers: Vec::new(),
    };
    store
        .announce(
            now,
            &Announce {
                request: r,
                source: peer,
                peer,
            },
            &mut reply,
        )
        .unwrap();
    reply
}

fn addr(i: u32, port: u16) -> SocketAddr {
    SocketAddr::from((Ipv4Addr::from(0x0a00_0000 + i), port))
}

#[test]
fn a_full_swarm_replaces_peers_instead_of_growing() {
    let t0 = Instant::now();
    let store = MemoryStore::new(
        StoreConfig {
            max_peers_per_swarm: 50,
            rng_seed: Some(1),
            ..StoreConfig::default()
        },
        t0,
    );
    for i in 0..200 {
        let r = request(1, 1, 1, AnnounceEvent::Started);
        let reply = announce(&store, t0, addr(i, 1), &r);
        assert!(reply.leechers <= 50);
    }
    let stats = store.stats().unwrap();
    assert_eq!(stats.peers, 50);
    assert_eq!(store.swarm_stats(&InfoHashV1([1; 20])).leechers, 50);
}

#[test]
fn the_total_bound_holds_across_swarms() {
    let t0 = Instant::now();
    let store = MemoryStore::new(
        StoreConfig {
            max_peers: 400,
            shards: 4,
            rng_seed: Some(2),
            ..StoreConfig::default()
        },
        t0,
    );
    for i in 0..5000u32 {
        let r = request((i % 251) as u8, 1, 0, AnnounceEvent::Started);
        announce(&store, t0, addr(i, 1), &r);
    }
    let stats = store.stats().unwrap();
    assert!(stats.peers <= 400, "{stats:?}");
    assert!(stats.peers >= 390, "{stats:?}");
    let counted: u32 = (0..=250u8)
        .map(|h| store.swarm_stats(&InfoHashV1([h; 20])).seeders)
        .sum();
    assert_eq!(
        counted as usize, stats.peers,
        "counts agree with the peers held"
    );
}

#[test]
fn stopped_on_an_unknown_swarm_creates_nothing() {
    let t0 = Instant::now();
    let store = MemoryStore::new(StoreConfig::default(), t0);
    let r = request(1, 1, 0, AnnounceEvent::Stopped);
    let reply = announce(&store, t0, addr(1, 1), &r);
    assert_eq!((reply.seeders, reply.leechers), (0, 0));
    assert_eq!(store.stats().unwrap().swarms, 0);
}

#[test]
fn access_lists_parse_and_filter() {
    let set = AccessList::parse_hashes("# comment\n\nC12FE1C06BBA254A9DC9F519B335AA7C1367A88A\n")
        .unwrap();
    let hash: InfoHashV1 = "c12fe1c06bba254a9dc9f519b335aa7c1367a88a".parse().unwrap();
    assert!(AccessList::Allow(set.clone()).permits(&hash));
    assert!(!AccessList::Deny(set).permits(&hash));
    assert_eq!(AccessList::parse_hashes("abc\n"), Err(1));
}

#[derive(Debug, Clone)]
enum Op {
    Announce {
        hash: u8,
        peer: u8,
        left: u64,
        event: u32,
    },
    Advance(u16),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0u8..4, 0u8..30, 0u64..3, 0u32..4)
            .prop_map(|(hash, peer, left, event)| Op::Announce { hash, peer, left, event }),
        1 => (0u16..400).prop_map(Op::Advance),
    ]
}

proptest! {
    /// After any sequence of announces, expiries and time jumps, each swarm's
    /// counts equal what a plain model of the live peers says.
    #[test]
    fn counts_match_a_model(ops in proptest::collection::vec(op(), 0..300)) {
        let t0 = Instant::now();
        let store = MemoryStore::new(
            StoreConfig { interval: 100, grace: 50, rng_seed: Some(3), ..StoreConfig::default() },
            t0,
        );
        // (hash, peer) -> (seeder, expires at second)
        let mut model: HashMap<(u8, u8), (bool, u64)> = Default::default();
        let mut now = 0u64;
        for op in ops {
            match op {
                Op::Advance(s) => {
                    now += u64::from(s);
                    store.tick(t0 + Duration::from_secs(now));
                    model.retain(|_, (_, e)| *e >= now);
                }
                Op::Announce { hash, peer, left, event } => {
                    let event = AnnounceEvent::from_wire(event).unwrap();
                    let r = request(hash, 1, left, event);
                    announce(&store, t0 + Duration::from_secs(now), addr(u32::from(peer), 1), &r);
                    if event == AnnounceEvent::Stopped {
                        model.remove(&(hash, peer));
                    } else {
                        model.insert((hash, peer), (left == 0, now + 150));
                    }
                }
            }
            store.tick(t0 + Duration::from_secs(now));
            model.retain(|_, (_, e)| *e >= now);
            for hash in 0..4u8 {
                let s = store.swarm_stats(&InfoHashV1([hash; 20]));
                let seeders = model.iter().filter(|((h, _), (seed, _))| *h == hash && *seed).count();
                let leechers = model.iter().filter(|((h, _), (seed, _))| *h == hash && !*seed).count();
                prop_assert_eq!((s.seeders as usize, s.leechers as usize), (seeders, leechers));
            }
            prop_assert_eq!(store.stats().unwrap().peers, model.len());
        }
    }
}
