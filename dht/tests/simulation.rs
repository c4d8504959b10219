//! Lookups in a deterministic simulated network: virtual time, 10-150 ms
//! latency, 10% packet loss, public addresses with BEP 42 ids enforced.
//!
//! The default run uses 1,000 nodes; the 5,000-node run is `#[ignore]`d in a
//! plain `cargo test` for time and runs with
//! `cargo test -p bitswarm-dht --release --test simulation -- --include-ignored --nocapture`.

use std::time::{Duration, Instant};

use bitswarm_dht::{Event, Item, LookupStats, NodeId, QueryId, Sim, SimConfig};
use rand::{Rng, SeedableRng};

struct Outcome {
    successes: usize,
    tries: usize,
    hops: Vec<u32>,
    messages: Vec<u32>,
}

impl Outcome {
    fn report(&self, what: &str) {
        let mean = |v: &[u32]| v.iter().map(|&x| f64::from(x)).sum::<f64>() / v.len().max(1) as f64;
        eprintln!(
            "{what}: {}/{} succeeded; mean hops {:.2}, mean messages {:.1} per lookup",
            self.successes,
            self.tries,
            mean(&self.hops),
            mean(&self.messages)
        );
    }

    fn rate(&self) -> f64 {
        self.successes as f64 / self.tries as f64
    }
}

fn done_stats(events: &[Event]) -> Option<&LookupStats> {
    events.iter().find_map(|e| match e {
        Event::Done { stats, .. } => Some(stats),
        _ => None,
    })
}

fn network(nodes: usize, seed: u64) -> Sim {
    let config = SimConfig {
        nodes,
        seed,
        ..SimConfig::default()
    };
    let mut sim = Sim::new(config, Instant::now());
    sim.join_all(Duration::from_millis(20), Duration::from_secs(60));
    sim
}

fn announce_then_get_peers(sim: &mut Sim, lookups: usize, seed: u64) -> Outcome {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let n = sim.len();
    let mut announces = Vec::new();
    let mut hashes = Vec::new();
    for j in 0..lookups {
        let hash = NodeId::random(&mut rng);
        let who = rng.gen_range(0..n);
        let port = 10_000 + j as u16;
        let q = sim.command(who, |node, now| node.announce(now, hash, Some(port)));
        announces.push((who, q));
        hashes.push((hash, sim.addr(who).ip(), port));
    }
    sim.run_until_done(&announces, Duration::from_secs(120));
    for (i, q) in &announces {
        let stats = done_stats(sim.events(*i, *q)).expect("announce finished");
        assert!(stats.stored > 0, "announce stored on no node");
    }
    let mut gets: Vec<(usize, QueryId)> = Vec::new();
    for (hash, _, _) in &hashes {
        let who = rng.gen_range(0..n);
        let hash = *hash;
        gets.push((who, sim.command(who, |node, now| node.get_peers(now, hash))));
    }
    sim.run_until_done(&gets, Duration::from_secs(120));
    let mut out = Outcome {
        successes: 0,
        tries: gets.len(),
        hops: Vec::new(),
        messages: Vec::new(),
    };
    for ((i, q), (_, ip, port)) in gets.iter().zip(&hashes) {
        let events = sim.events(*i, *q);
        let found = events.iter().any(|e| match e {
            Event::Peers { peers, .. } => peers.iter().any(|p| p.ip() == *ip && p.port() == *port),
            _ => false,
        });
        if let Some(stats) = done_stats(events) {
            out.hops.push(stats.hops);
            out.messages.push(stats.messages);
        }
        out.successes += usize::from(found);
    }
    out
}

fn put_then_get(sim: &mut Sim, lookups: usize, seed: u64) -> Outcome {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let n = sim.len();
    let mut puts = Vec::new();
    let mut items = Vec::new();
    for j in 0..lookups {
        let item = if j % 2 == 0 {
            Item::immutable(format!("{}:item {j}", 5 + j.to_string().len()).into_bytes()).unwrap()
        } else {
            let secret: [u8; 32] = rng.r#gen();
            Item::sign_mutable(&secret, b"salt", j as i64, format!("i{j}e").into_bytes()).unwrap()
        };
        let who = rng.gen_range(0..n);
        let it = item.clone();
        puts.push((
            who,
            sim.command(who, |node, now| node.put(now, it).unwrap()),
        ));
        items.push(item);
    }
    sim.run_until_done(&puts, Duration::from_secs(120));
    let mut gets = Vec::new();
    for item in &items {
        let who = rng.gen_range(0..n);
        let q = match &item.mutable {
            None => {
                let t = item.target();
                sim.command(who, |node, now| node.get_immutable(now, t))
            }
            Some(m) => {
                let (key, salt) = (m.key, m.salt.clone());
                sim.command(who, |node, now| node.get_mutable(now, key, &salt, None))
            }
        };
        gets.push((who, q));
    }
    sim.run_until_done(&gets, Duration::from_secs(120));
    let mut out = Outcome {
        successes: 0,
        tries: gets.len(),
        hops: Vec::new(),
        messages: Vec::new(),
    };
    for ((i, q), item) in gets.iter().zip(&items) {
        let events = sim.events(*i, *q);
        let found = events
            .iter()
            .any(|e| matches!(e, Event::Item { item: got, .. } if got == item));
        if let Some(stats) = done_stats(events) {
            out.hops.push(stats.hops);
            out.messages.push(stats.messages);
        }
        out.successes += usize::from(found);
    }
    out
}

fn run(nodes: usize, lookups: usize) {
    let mut sim = network(nodes, 7);
    let filled = (0..sim.len())
        .filter(|&i| sim.node(i).table_v4().len() >= 8)
        .count();
    eprintln!(
        "{nodes} nodes joined; {filled} have at least 8 nodes in their table; {:?} messages",
        sim.counters()
    );
    assert!(filled * 100 >= nodes * 95, "routing tables did not fill");
    let peers = announce_then_get_peers(&mut sim, lookups, 11);
    peers.report(&format!("{nodes} nodes, get_peers after announce"));
    let items = put_then_get(&mut sim, lookups, 13);
    items.report(&format!("{nodes} nodes, BEP 44 get after put"));
    assert!(peers.rate() >= 0.95, "get_peers success {}", peers.rate());
    assert!(items.rate() >= 0.95, "BEP 44 get success {}", items.rate());
}

#[test]
fn thousand_nodes_with_loss() {
    run(1000, 40);
}

#[test]
#[ignore = "5,000 nodes take long in a debug build: run with --release --include-ignored"]
fn five_thousand_nodes_with_loss() {
    run(5000, 100);
}
