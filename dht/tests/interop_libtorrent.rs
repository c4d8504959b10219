//! Our node joins a DHT of ten libtorrent nodes on loopback (no public
//! router is ever contacted): each side finds a peer the other announced,
//! and each side gets the BEP 44 items (immutable and mutable) the other put.
#![cfg(feature = "tokio")]

use std::time::{Duration, Instant};

use bitswarm_dht::{Config, Dht, DhtConfig, Item, NodeId, immutable_target};
use bitswarm_testkit::lt_dht::{LtDht, LtDhtSpec};
use futures::StreamExt;

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// The 64-byte expanded ed25519 secret libtorrent signs with: SHA-512 of
/// the seed, its first half clamped as RFC 8032 says.
fn expanded_secret(seed: &[u8; 32]) -> [u8; 64] {
    use sha2::Digest;
    let mut h: [u8; 64] = sha2::Sha512::digest(seed).into();
    h[0] &= 248;
    h[31] &= 63;
    h[31] |= 64;
    h
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

    // BEP 51: libtorrent nodes answer sample_infohashes with what they store.
    let samples = rt.block_on(dht.sample_infohashes(ours_hash)).unwrap();
    assert!(
        samples.contains(&ours_hash) || samples.contains(&lt_hash),
        "libtorrent's samples {samples:?}"
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
    // 5. We put a mutable item (salted); libtorrent gets it, signature checked.
    let ours_m = Item::sign_mutable(&[0x31; 32], b"bs", 3, b"9:from ours".to_vec()).unwrap();
    let key = ours_m.mutable.as_ref().unwrap().key;
    assert!(rt.block_on(dht.put(ours_m.clone())).unwrap().stored >= 1);
    retry(
        Duration::from_secs(10),
        "libtorrent getting our mutable item",
        || {
            let id = lt.get_mutable(7, &key, b"bs").unwrap();
            let reply = lt
                .wait_for(Duration::from_secs(8), |e| {
                    e["event"] == "mutable" && e["id"] == id
                })
                .unwrap();
            reply["value"] == hex(&ours_m.value) && reply["seq"] == 3
        },
    );

    // 6. libtorrent puts a mutable item; we get it and verify its signature.
    let seed = [0x47u8; 32];
    let public = ed25519_dalek::SigningKey::from_bytes(&seed)
        .verifying_key()
        .to_bytes();
    let id = lt
        .put_mutable(4, &expanded_secret(&seed), &public, b"from libtorrent", b"")
        .unwrap();
    let reply = lt
        .wait_for(Duration::from_secs(15), |e| {
            e["event"] == "put_mutable" && e["id"] == id
        })
        .unwrap();
    assert!(reply["num_success"].as_i64().unwrap_or(0) >= 1, "{reply}");
    retry(
        Duration::from_secs(10),
        "our node getting libtorrent's mutable item",
        || {
            let got = rt.block_on(dht.get_mutable(public, b"")).unwrap();
            got.is_some_and(|i| i.value == b"15:from libtorrent" && i.verify().is_ok())
        },
    );
    rt.block_on(dht.shutdown());
    eprintln!("interop run took {:?}", started.elapsed());
}
