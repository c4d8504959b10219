//! KRPC decode/encode, routing-table insert and closest-nodes at 10,000
//! nodes, and lookups in a simulated network of 1,000 nodes.

// criterion_group! makes an undocumented public function.
#![allow(missing_docs)]

use std::hint::black_box;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bitswarm_dht::{
    Body, CompactNode, Contact, Message, NodeId, Query, Response, RoutingTable, Sim, SimConfig,
    Want,
};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use rand::SeedableRng;

fn messages() -> (Message, Message) {
    let mut rng = rand::rngs::StdRng::seed_from_u64(1);
    let query = Message {
        transaction_id: b"ab12".to_vec(),
        version: Some(b"BS01".to_vec()),
        ip: None,
        read_only: false,
        body: Body::Query(Query::GetPeers {
            id: NodeId::random(&mut rng),
            info_hash: NodeId::random(&mut rng),
            want: Want::default(),
        }),
    };
    let nodes = (0..8u8)
        .map(|i| CompactNode {
            id: NodeId::random(&mut rng),
            addr: SocketAddr::from(([10, 0, 0, i], 6881)),
        })
        .collect();
    let response = Message {
        transaction_id: b"ab12".to_vec(),
        version: Some(b"BS01".to_vec()),
        ip: Some(SocketAddr::from(([1, 2, 3, 4], 6881))),
        read_only: false,
        body: Body::Response(Response {
            nodes,
            token: Some(vec![7; 8]),
            values: (0..20u16)
                .map(|p| SocketAddr::from(([10, 1, 1, 1], p)))
                .collect(),
            ..Response::new(NodeId::random(&mut rng))
        }),
    };
    (query, response)
}

fn krpc(c: &mut Criterion) {
    let (query, response) = messages();
    let mut g = c.benchmark_group("krpc");
    for (name, m) in [
        ("get_peers query", &query),
        ("get_peers reply 8 nodes 20 peers", &response),
    ] {
        let bytes = m.to_bytes();
        g.throughput(Throughput::Elements(1));
        g.bench_function(format!("decode {name}"), |b| {
            b.iter(|| Message::decode(black_box(&bytes)).unwrap());
        });
        g.bench_function(format!("encode {name}"), |b| {
            let mut out = Vec::with_capacity(1024);
            b.iter(|| {
                out.clear();
                black_box(m).encode(&mut out);
                black_box(out.len())
            });
        });
    }
    g.finish();
}

fn routing(c: &mut Criterion) {
    let mut rng = rand::rngs::StdRng::seed_from_u64(2);
    let now = Instant::now();
    let own = NodeId::random(&mut rng);
    let ids: Vec<(NodeId, SocketAddr)> = (0..10_000u32)
        .map(|i| {
            (
                NodeId::random(&mut rng),
                SocketAddr::from((i.to_be_bytes(), 6881)),
            )
        })
        .collect();
    let mut g = c.benchmark_group("routing");
    g.throughput(Throughput::Elements(ids.len() as u64));
    g.bench_function("insert 10k nodes", |b| {
        b.iter(|| {
            let mut t = RoutingTable::new(own, 8, now);
            for (id, addr) in &ids {
                t.insert(now, *id, *addr, Contact::Responded);
            }
            black_box(t.len())
        });
    });
    let mut t = RoutingTable::new(own, 8, now);
    for (id, addr) in &ids {
        t.insert(now, *id, *addr, Contact::Responded);
    }
    let target = NodeId::random(&mut rng);
    g.throughput(Throughput::Elements(1));
    g.bench_function(
        format!("closest 8 of a table fed 10k nodes ({} kept)", t.len()),
        |b| {
            b.iter(|| black_box(t.closest(now, black_box(&target), 8)));
        },
    );
    g.finish();
}

fn simulated_lookups(c: &mut Criterion) {
    let config = SimConfig {
        nodes: 1000,
        ..SimConfig::default()
    };
    let mut sim = Sim::new(config, Instant::now());
    sim.join_all(Duration::from_millis(20), Duration::from_secs(60));
    let mut rng = rand::rngs::StdRng::seed_from_u64(3);
    let mut g = c.benchmark_group("simulation");
    g.throughput(Throughput::Elements(1));
    g.sample_size(20);
    g.bench_function("get_peers lookup, 1,000 nodes, 10% loss", |b| {
        b.iter(|| {
            let hash = NodeId::random(&mut rng);
            let who = (hash.0[0] as usize * 7) % sim.len();
            let q = sim.command(who, |node, now| node.get_peers(now, hash));
            sim.run_until_done(&[(who, q)], Duration::from_secs(60));
            assert!(sim.is_done(who, q));
        });
    });
    g.finish();
}

criterion_group!(benches, krpc, routing, simulated_lookups);
criterion_main!(benches);
