//! Twenty of our nodes on 127.0.0.1 find each other's announced peers, with
//! BEP 42 enforcement on: loopback is exempt, so the nodes enter each other's
//! tables with ids not derived from their address.
#![cfg(feature = "tokio")]

use std::time::Duration;

use bitswarm_dht::{Config, Dht, DhtConfig, Item, NodeId};
use futures::StreamExt;

const NODES: usize = 20;

async fn start_network() -> Vec<Dht> {
    let mut nodes: Vec<Dht> = Vec::new();
    for i in 0..NODES {
        let mut bootstrap = Vec::new();
        if i > 0 {
            bootstrap.push(nodes[0].local_addr_v4().unwrap());
            bootstrap.push(nodes[i - 1].local_addr_v4().unwrap());
        }
        let config = DhtConfig {
            node: Config {
                bootstrap,
                seed: Some(i as u64 + 100),
                query_timeout: Duration::from_millis(500),
                ..Config::default()
            },
            ..DhtConfig::default()
        };
        assert!(
            config.node.enforce_node_id,
            "BEP 42 stays on: loopback is exempt"
        );
        let dht = Dht::bind(config).await.unwrap();
        dht.bootstrap().await.unwrap();
        nodes.push(dht);
    }
    // A second round lets the early nodes learn of the later ones.
    for dht in &nodes {
        dht.bootstrap().await.unwrap();
    }
    nodes
}

fn hash_of(i: usize) -> NodeId {
    let mut h = [0x5au8; 20];
    h[0] = i as u8;
    NodeId(h)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_nodes_find_each_others_peers() {
    tokio::time::timeout(Duration::from_secs(30), async {
        let nodes = start_network().await;
        for (i, dht) in nodes.iter().enumerate() {
            let stats = dht.stats().await.unwrap();
            assert!(
                stats.nodes_v4 >= 8,
                "node {i} knows only {} nodes",
                stats.nodes_v4
            );
            // Replies told it 127.0.0.1; being exempt, its id was kept.
            assert_eq!(
                stats.external_ip,
                Some("127.0.0.1".parse().unwrap()),
                "node {i}"
            );
            assert_eq!(stats.bad_ids, 0);
        }
        for (i, dht) in nodes.iter().enumerate() {
            let stats = dht
                .announce(hash_of(i), Some(20_000 + i as u16))
                .await
                .unwrap();
            assert!(stats.stored >= 1, "announce of node {i} stored nowhere");
        }
        for (i, dht) in nodes.iter().enumerate() {
            let j = (i + 7) % NODES;
            let peers: Vec<_> = dht.get_peers(hash_of(j)).collect().await;
            assert!(
                peers
                    .iter()
                    .any(|p| p.port() == 20_000 + j as u16 && p.ip().is_loopback()),
                "node {i} did not find node {j}'s peer: {peers:?}"
            );
        }
        // BEP 44 through the driver as well.
        let item = Item::immutable(b"11:hello world".to_vec()).unwrap();
        assert!(nodes[3].put(item.clone()).await.unwrap().stored >= 1);
        assert_eq!(
            nodes[15].get_immutable(item.target()).await.unwrap(),
            Some(item)
        );
        let m = Item::sign_mutable(&[4; 32], b"", 9, b"i9e".to_vec()).unwrap();
        nodes[5].put(m.clone()).await.unwrap();
        let key = m.mutable.as_ref().unwrap().key;
        assert_eq!(nodes[11].get_mutable(key, b"").await.unwrap(), Some(m));
        // BEP 51: samples include announced info-hashes.
        let samples = nodes[2].sample_infohashes(hash_of(4)).await.unwrap();
        assert!(samples.contains(&hash_of(4)), "{samples:?}");
        // A saved table restores a fresh node's view.
        let saved = nodes[0].export_table().await.unwrap();
        let fresh = Dht::bind(DhtConfig::default()).await.unwrap();
        assert!(fresh.import_table(saved).await.unwrap() >= 8);
        let found: Vec<_> = fresh.get_peers(hash_of(1)).collect().await;
        assert!(found.iter().any(|p| p.port() == 20_001), "{found:?}");
        for dht in &nodes {
            dht.shutdown().await;
        }
        assert!(nodes[0].stats().await.is_err(), "stopped after shutdown");
    })
    .await
    .expect("loopback test took over 30 s");
}

#[tokio::test]
async fn read_only_node_is_never_added() {
    let server = Dht::bind(DhtConfig::default()).await.unwrap();
    let ro = Dht::bind(DhtConfig {
        node: Config {
            read_only: true,
            bootstrap: vec![server.local_addr_v4().unwrap()],
            ..Config::default()
        },
        ..DhtConfig::default()
    })
    .await
    .unwrap();
    let s = ro.bootstrap().await.unwrap();
    assert_eq!(s.responses, 1, "the server answers a read-only querier");
    assert_eq!(ro.stats().await.unwrap().nodes_v4, 1);
    assert_eq!(
        server.stats().await.unwrap().nodes_v4,
        0,
        "BEP 43: ro=1 keeps it out"
    );
}

/// BEP 32: dual-stack nodes on 127.0.0.1 and ::1 fill both tables, learn of
/// each other through `nodes6`, and announce over both families.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dual_stack_nodes_use_both_families() {
    tokio::time::timeout(Duration::from_secs(20), async {
        let mut nodes: Vec<Dht> = Vec::new();
        for i in 0..8 {
            let mut bootstrap = Vec::new();
            if let Some(first) = nodes.first() {
                bootstrap.push(first.local_addr_v4().unwrap());
                bootstrap.push(first.local_addr_v6().unwrap());
            }
            let dht = Dht::bind(DhtConfig {
                bind_v4: Some("127.0.0.1:0".parse().unwrap()),
                bind_v6: Some("[::1]:0".parse().unwrap()),
                node: Config {
                    bootstrap,
                    seed: Some(500 + i),
                    query_timeout: Duration::from_millis(500),
                    ..Config::default()
                },
            })
            .await
            .unwrap();
            dht.bootstrap().await.unwrap();
            nodes.push(dht);
        }
        for dht in &nodes {
            dht.bootstrap().await.unwrap();
        }
        let last = nodes.last().unwrap();
        let s = last.stats().await.unwrap();
        // Only node 0 was given to it over IPv6: the rest came in `nodes6`.
        assert!(s.nodes_v6 >= 4, "IPv6 table has {}", s.nodes_v6);
        assert!(s.nodes_v4 >= 4, "IPv4 table has {}", s.nodes_v4);
        let hash = NodeId([0x66; 20]);
        let stored = nodes[1].announce(hash, Some(40_000)).await.unwrap();
        assert!(stored.stored >= 2);
        let peers: Vec<_> = last.get_peers(hash).collect().await;
        assert!(
            peers.iter().any(|p| p.is_ipv6() && p.port() == 40_000),
            "{peers:?}"
        );
        assert!(
            peers.iter().any(|p| p.is_ipv4() && p.port() == 40_000),
            "{peers:?}"
        );
    })
    .await
    .expect("dual-stack test took over 20 s");
}
