//! The swarm simulator at a size that runs in seconds: every peer
//! completes, a run is a pure function of its seed, and rarest first with
//! tit-for-tat beats random piece selection (Legout et al., "Rarest first
//! and choke algorithms are enough", 2006). The bigger runs behind the
//! README table come from `cargo run --release --example swarm_sim`.

#[path = "../examples/swarm_sim/sim.rs"]
mod sim;

use sim::{Sim, SimConfig, Strategy};

const LEECHERS: usize = 40;
const PIECES: u32 = 32;

fn run(strategy: Strategy, tit_for_tat: bool, seed: u64) -> sim::SimReport {
    let mut cfg = SimConfig::flash_crowd(LEECHERS, PIECES, seed);
    cfg.strategy = strategy;
    cfg.tit_for_tat = tit_for_tat;
    Sim::new(cfg).run()
}

#[test]
fn every_peer_completes_and_runs_replay_exactly() {
    let a = run(Strategy::RarestFirst, true, 11);
    assert_eq!(a.unfinished, 0);
    assert_eq!(a.completion.len(), LEECHERS);
    let b = run(Strategy::RarestFirst, true, 11);
    assert_eq!(a.completion, b.completion);
    assert_eq!(a.events, b.events);
}

#[test]
fn rarest_first_with_tit_for_tat_beats_random() {
    let seeds = 0..3;
    let rarest: f64 = seeds
        .clone()
        .map(|s| run(Strategy::RarestFirst, true, s).last())
        .sum();
    let random: f64 = seeds.map(|s| run(Strategy::Random, true, s).last()).sum();
    assert!(
        rarest < random,
        "rarest first {rarest:.0} s vs random {random:.0} s (sum of last completions over 3 runs)"
    );
}

#[test]
fn every_strategy_and_choker_completes_with_free_riders() {
    for strategy in [
        Strategy::RarestFirst,
        Strategy::Random,
        Strategy::Sequential,
    ] {
        for tft in [true, false] {
            let mut cfg = SimConfig::flash_crowd(20, 16, 5);
            cfg.free_riders = 4;
            cfg.strategy = strategy;
            cfg.tit_for_tat = tft;
            let report = Sim::new(cfg).run();
            assert_eq!(report.unfinished, 0, "{strategy:?} tft={tft}");
            assert_eq!(report.free_rider_completion.len(), 4);
        }
    }
}
