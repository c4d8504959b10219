//! Our node joins a DHT of ten libtorrent nodes on loopback (no public
//! router is ever contacted): each side finds a peer the other announced,
//! and each side gets a BEP 44 item the other put.
#![cfg(feature = "tokio")]

use std::time::{Duration, Instant};

use bitswarm_dht::{Config, Dht, DhtConfig, Item, NodeId, immutable_target};
use bitswarm_testkit::lt_dht::{LtDht, LtDhtSpec};
use futures::StreamExt;

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Retries `attempt` until it returns true or `limit` passes.
fn retry(limit: Duration, what: &str, mut attempt: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if attempt() {
            return;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    panic!("{what}: not within {limit:?}");
}

#[test]
#[ignore = "needs python3-libtorrent: run scripts/test-all"]
fn our_node_in_a_libtorrent_dht() {
    let started = Instant::now();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let config = DhtConfig {
        node: Config {
            query_timeout: Duration::from_millis(800),
            ..Config::default()
        },
        ..DhtConfig::default()
    };
    // BEP 42 stays enforced: libtorrent's loopback nodes pass as exempt.
    assert!(config.node.enforce_node_id);
    let dht = rt.block_on(Dht::bind(config)).unwrap();
    let ours = dht.local_addr_v4().unwrap();
    let mut lt = LtDht::start(&LtDhtSpec {
        extra_nodes: vec![ours],
        ..LtDhtSpec::default()
    })
    .expect("libtorrent DHT nodes start");
    for addr in lt.addrs() {
        rt.block_on(dht.add_node(addr)).unwrap();
    }
    std::thread::sleep(Duration::from_secs(3));
    rt.block_on(dht.bootstrap()).unwrap();
    let stats = rt.block_on(dht.stats()).unwrap();
    assert!(
        stats.nodes_v4 >= 8,
        "we know {} libtorrent nodes",
        stats.nodes_v4
    );

    // 1. We announce; libtorrent's get_peers finds us.
    let ours_hash = NodeId([0x11; 20]);
    let our_port = 34_567;
    let announced = rt
        .block_on(dht.announce(ours_hash, Some(our_port)))
        .unwrap();
    assert!(
        announced.stored >= 1,
        "no libtorrent node took our announce"
    );
    retry(
        Duration::from_secs(15),
        "libtorrent finding our peer",
        || {
            let id = lt.get_peers(5, &ours_hash.to_string()).unwrap();
            let reply = lt
                .wait_for(Duration::from_secs(8), |e| {
                    e["event"] == "peers" && e["id"] == id
                })
                .unwrap();
            let want = format!("127.0.0.1:{our_port}");
            reply["peers"]
                .as_array()
                .unwrap()
                .iter()
                .any(|p| p == &want)
        },
    );

    // 2. libtorrent announces; our get_peers finds it.
    let lt_hash = NodeId([0x22; 20]);
    lt.announce(3, &lt_hash.to_string()).unwrap();
    let lt_peer = lt.addrs()[3];
    retry(
        Duration::from_secs(15),
        "our node finding libtorrent's peer",
        || {
            let peers: Vec<_> = rt.block_on(dht.get_peers(lt_hash).collect());
            peers.contains(&lt_peer)
        },
    );

    // 3. We put an immutable item; libtorrent gets it.
    // A byte string: the 2.0.8 binding cannot hand a dictionary item to Python.
    let item = Item::immutable(b"19:stored by bitswarm!".to_vec()).unwrap();
    let put = rt.block_on(dht.put(item.clone())).unwrap();
    assert!(put.stored >= 1, "no libtorrent node took our put");
    retry(
        Duration::from_secs(15),
        "libtorrent getting our item",
        || {
            let id = lt.get_immutable(6, &item.target().to_string()).unwrap();
            let reply = lt
                .wait_for(Duration::from_secs(8), |e| {
                    e["event"] == "immutable" && e["id"] == id
                })
                .unwrap();
            reply["value"] == hex(&item.value)
        },
    );

    // 4. libtorrent puts an immutable item; we get it.
    let value = b"l4:from10:libtorrente".to_vec();
    let id = lt.put_immutable(2, &value).unwrap();
    let reply = lt
        .wait_for(Duration::from_secs(15), |e| {
            e["event"] == "put" && e["id"] == id
        })
        .unwrap();
    assert!(reply["num_success"].as_i64().unwrap_or(0) >= 1, "{reply}");
    let target = immutable_target(&value);
    assert_eq!(reply["target"], target.to_string());
    retry(
        Duration::from_secs(10),
        "our node getting libtorrent's item",
        || {
            let got = rt.block_on(dht.get_immutable(target)).unwrap();
            got.is_some_and(|i| i.value == value)
        },
    );
    rt.block_on(dht.shutdown());
    eprintln!("interop run took {:?}", started.elapsed());
}
