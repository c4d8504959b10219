//! Pick latency at 100,000 pieces and 1,000 peers, memory per piece and
//! per peer, and a have/disconnect storm.
//!
//! ```text
//! cargo bench -p bitswarm-select --bench picker
//! ```
//!
//! Pick latency is measured inside the selector's real state: a probing
//! [`PieceStrategy`] is installed, and each time the selector asks it for a
//! piece it times `iters` calls of the [`PickContext`] method under test
//! (criterion's `iter_custom`), then declines so that the state does not
//! change between samples.

use std::hint::black_box;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bitswarm_core::{Bitfield, PieceIndex};
use bitswarm_select::{
    PeerKey, PeerOptions, PickContext, PieceLayout, PieceStrategy, SelectConfig, Selector,
};
use criterion::{BatchSize, Criterion, criterion_main};
use rand::rngs::StdRng;
use rand::{Rng, RngCore, SeedableRng};

const PIECES: u32 = 100_000;
const PEERS: u64 = 1_000;
const PIECE_LENGTH: u32 = 256 * 1024;

#[derive(Debug, Clone, Copy)]
enum Method {
    Rarest,
    Random,
    InOrder,
}

#[derive(Debug, Default)]
struct ProbeState {
    method: Option<Method>,
    iters: u64,
    elapsed: Duration,
}

/// A strategy that times a [`PickContext`] method and then picks nothing.
#[derive(Debug, Clone)]
struct Probe(Arc<Mutex<ProbeState>>);

impl PieceStrategy for Probe {
    fn pick(&mut self, ctx: &PickContext<'_>, rng: &mut dyn RngCore) -> Option<PieceIndex> {
        let mut state = self.0.lock().unwrap();
        let method = state.method?;
        let start = Instant::now();
        for _ in 0..state.iters {
            black_box(match method {
                Method::Rarest => ctx.rarest(rng),
                Method::Random => ctx.random(rng),
                Method::InOrder => ctx.in_order(PieceIndex(0), PieceIndex(PIECES)),
            });
        }
        state.elapsed = start.elapsed();
        None
    }
}

fn layout() -> PieceLayout {
    PieceLayout::new(u64::from(PIECES) * u64::from(PIECE_LENGTH), PIECE_LENGTH).unwrap()
}

fn random_bitfield(rng: &mut StdRng, share: f64) -> Bitfield {
    let mut bf = Bitfield::new(PIECES);
    for p in 0..PIECES {
        if rng.gen_bool(share) {
            bf.set(PieceIndex(p), true).unwrap();
        }
    }
    bf
}

/// A selector with `PEERS` peers, each holding a uniformly random share of
/// the pieces, so availability spreads over hundreds of buckets.
fn loaded_selector(strategy: Box<dyn PieceStrategy>) -> (Selector<StdRng>, Instant) {
    let mut config = SelectConfig::default();
    config.max_peers = PEERS as usize + 10;
    let mut sel = Selector::new(config, layout(), StdRng::seed_from_u64(1)).unwrap();
    sel.set_strategy(strategy);
    let now = Instant::now();
    let mut rng = StdRng::seed_from_u64(2);
    for k in 0..PEERS {
        sel.add_peer(now, PeerKey(k), PeerOptions::fast(true))
            .unwrap();
        let share = rng.gen_range(0.0..1.0);
        sel.peer_bitfield(PeerKey(k), &random_bitfield(&mut rng, share))
            .unwrap();
    }
    while sel.poll_action(now).is_some() {}
    (sel, now)
}

fn pick_latency(c: &mut Criterion) {
    let probe = Probe(Arc::default());
    let (mut sel, now) = loaded_selector(Box::new(probe.clone()));
    let mut rng = StdRng::seed_from_u64(3);
    // The peers being served: a seed, a peer with half, one with 1 %.
    let probes = [("seed", 1.0), ("half", 0.5), ("one_percent", 0.01)];
    for (i, (_, share)) in probes.iter().enumerate() {
        let key = PeerKey(PEERS + i as u64);
        sel.add_peer(now, key, PeerOptions::fast(true)).unwrap();
        if *share >= 1.0 {
            sel.peer_have_all(key).unwrap();
        } else {
            sel.peer_bitfield(key, &random_bitfield(&mut rng, *share))
                .unwrap();
        }
        sel.peer_unchoked_us(now, key).unwrap();
    }
    while sel.poll_action(now).is_some() {}

    let mut group = c.benchmark_group("pick_100k_pieces_1000_peers");
    for (method, name) in [
        (Method::Rarest, "rarest"),
        (Method::Random, "random"),
        (Method::InOrder, "in_order"),
    ] {
        for (i, (peer, _)) in probes.iter().enumerate() {
            let key = PeerKey(PEERS + i as u64);
            group.bench_function(format!("{name}/{peer}"), |b| {
                b.iter_custom(|iters| {
                    {
                        let mut state = probe.0.lock().unwrap();
                        state.method = Some(method);
                        state.iters = iters;
                    }
                    // Marks the peer for a top-up; the top-up asks the probe.
                    sel.peer_unchoked_us(now, key).unwrap();
                    while sel.poll_action(now).is_some() {}
                    let mut state = probe.0.lock().unwrap();
                    state.method = None;
                    state.elapsed
                });
            });
        }
    }
    group.finish();
}

/// A full top-up: a peer with half the pieces is unchoked and the selector
/// chooses and requests its whole pipeline (rarest first, 16 blocks per
/// piece). Each sample then chokes it (BEP 3 drops the requests) so the
/// pieces go back to the pool of started pieces.
fn request_top_up(c: &mut Criterion) {
    let mut config = SelectConfig::default();
    config.max_peers = PEERS as usize + 10;
    config.min_pipeline = 64;
    let mut sel = Selector::new(config, layout(), StdRng::seed_from_u64(1)).unwrap();
    let now = Instant::now();
    let mut rng = StdRng::seed_from_u64(2);
    for k in 0..PEERS {
        sel.add_peer(now, PeerKey(k), PeerOptions::fast(false))
            .unwrap();
        let share = rng.gen_range(0.0..1.0);
        sel.peer_bitfield(PeerKey(k), &random_bitfield(&mut rng, share))
            .unwrap();
    }
    while sel.poll_action(now).is_some() {}
    c.bench_function("top_up_64_requests_100k_pieces_1000_peers", |b| {
        let mut k = 0;
        b.iter(|| {
            let key = PeerKey(k % PEERS);
            k += 1;
            sel.peer_unchoked_us(now, key).unwrap();
            let mut n = 0;
            while sel.poll_action(now).is_some() {
                n += 1;
            }
            sel.peer_choked_us(now, key).unwrap();
            black_box(n)
        });
    });
}

/// Every peer sends a bitfield, then 100 `have` each, then disconnects.
fn storm(c: &mut Criterion) {
    let mut group = c.benchmark_group("storm_100k_pieces_1000_peers");
    group.sample_size(10);
    let mut rng = StdRng::seed_from_u64(4);
    let bitfields: Vec<Bitfield> = (0..PEERS)
        .map(|_| {
            let share = rng.gen_range(0.0..1.0);
            random_bitfield(&mut rng, share)
        })
        .collect();
    let haves: Vec<(PeerKey, PieceIndex)> = (0..PEERS * 100)
        .map(|_| {
            (
                PeerKey(rng.gen_range(0..PEERS)),
                PieceIndex(rng.gen_range(0..PIECES)),
            )
        })
        .collect();
    let fresh = || {
        let mut config = SelectConfig::default();
        config.max_peers = PEERS as usize;
        let mut sel = Selector::new(config, layout(), StdRng::seed_from_u64(1)).unwrap();
        let now = Instant::now();
        for k in 0..PEERS {
            sel.add_peer(now, PeerKey(k), PeerOptions::fast(true))
                .unwrap();
        }
        (sel, now)
    };
    group.bench_function("1000_bitfields", |b| {
        b.iter_batched(
            fresh,
            |(mut sel, now)| {
                for (k, bf) in bitfields.iter().enumerate() {
                    sel.peer_bitfield(PeerKey(k as u64), bf).unwrap();
                }
                while sel.poll_action(now).is_some() {}
                sel
            },
            BatchSize::PerIteration,
        );
    });
    let connected = || {
        let (mut sel, now) = fresh();
        for (k, bf) in bitfields.iter().enumerate() {
            sel.peer_bitfield(PeerKey(k as u64), bf).unwrap();
        }
        while sel.poll_action(now).is_some() {}
        (sel, now)
    };
    group.bench_function("100k_haves", |b| {
        b.iter_batched(
            connected,
            |(mut sel, now)| {
                for &(k, p) in &haves {
                    sel.peer_have(k, p).unwrap();
                }
                while sel.poll_action(now).is_some() {}
                sel
            },
            BatchSize::PerIteration,
        );
    });
    group.bench_function("1000_disconnects", |b| {
        b.iter_batched(
            connected,
            |(mut sel, now)| {
                for k in 0..PEERS {
                    sel.remove_peer(now, PeerKey(k)).unwrap();
                }
                sel
            },
            BatchSize::PerIteration,
        );
    });
    group.finish();
}

/// Not a timing: prints heap use per piece and per peer, from
/// [`Selector::heap_bytes`].
fn memory(_: &mut Criterion) {
    let empty = Selector::new(SelectConfig::default(), layout(), StdRng::seed_from_u64(1)).unwrap();
    let base = empty.heap_bytes();
    let (loaded, _) = loaded_selector(Box::new(Probe(Arc::default())));
    let with_peers = loaded.heap_bytes();
    println!(
        "memory: {PIECES} pieces, no peer: {base} B ({:.1} B/piece); with {PEERS} peers: {with_peers} B ({:.0} B/peer = {:.2} B/piece/peer)",
        base as f64 / f64::from(PIECES),
        (with_peers - base) as f64 / PEERS as f64,
        (with_peers - base) as f64 / PEERS as f64 / f64::from(PIECES),
    );
}

// The macro generates an undocumented function.
#[allow(missing_docs)]
mod group {
    criterion::criterion_group!(
        benches,
        super::memory,
        super::pick_latency,
        super::request_top_up,
        super::storm
    );
}
criterion_main!(group::benches);
