//! Compares piece strategies and chokers in the deterministic swarm
//! simulator and prints a Markdown table (the one in the crate README).
//!
//! ```text
//! cargo run --release -p bitswarm-select --example swarm_sim -- --leechers 100,500 --runs 10
//! cargo run --release -p bitswarm-select --example swarm_sim -- --leechers 100,500 --runs 3 --seed-kib 512 --leecher-kib 16,32,64
//! ```

mod sim;

use std::time::Duration;

use bitswarm_select::SeedMode;
use clap::Parser;
use sim::{Sim, SimConfig, SimReport, Strategy};

/// Time for every peer of a flash crowd to complete, per strategy and choker.
#[derive(Parser, Debug)]
struct Args {
    /// Swarm sizes (leechers besides the one seed), comma separated.
    #[arg(long, value_delimiter = ',', default_value = "100,500")]
    leechers: Vec<usize>,
    /// Pieces of 64 KiB in the torrent.
    #[arg(long, default_value_t = 128)]
    pieces: u32,
    /// Runs (RNG seeds) averaged per row.
    #[arg(long, default_value_t = 3)]
    runs: u64,
    /// Share of free-riders in the free-rider rows, in percent of the leechers.
    #[arg(long, default_value_t = 20)]
    free_riders_percent: usize,
    /// Upload capacity of the seed, KiB/s.
    #[arg(long, default_value_t = 128)]
    seed_kib: u64,
    /// Leecher upload capacities to draw from, KiB/s, comma separated.
    #[arg(long, value_delimiter = ',', default_value = "32,64,128")]
    leecher_kib: Vec<u64>,
    /// Connections each peer opens at the start (it accepts others' too).
    #[arg(long, default_value_t = 25)]
    connections: usize,
    /// The initial seed's choker: `rr<seconds>` (round robin) or `fastest`.
    #[arg(long, default_value = "rr10")]
    seed_choker: String,
}

struct Row {
    mean: f64,
    last: f64,
    free_mean: f64,
    seed_copies: f64,
    unfinished: usize,
}

fn average(reports: &[SimReport]) -> Row {
    let n = reports.len() as f64;
    Row {
        mean: reports.iter().map(SimReport::mean).sum::<f64>() / n,
        last: reports.iter().map(SimReport::last).sum::<f64>() / n,
        free_mean: reports.iter().map(SimReport::free_rider_mean).sum::<f64>() / n,
        seed_copies: reports.iter().map(|r| r.seed_uploaded_copies).sum::<f64>() / n,
        unfinished: reports.iter().map(|r| r.unfinished).sum(),
    }
}

fn main() {
    let args = Args::parse();
    let seed_mode = match args.seed_choker.strip_prefix("rr") {
        Some(secs) => SeedMode::RoundRobin {
            period: Duration::from_secs(secs.parse().expect("rr<seconds>")),
        },
        None => SeedMode::FastestUpload,
    };
    println!(
        "| leechers | free-riders | strategy | choker | mean completion (s) | last completion (s) | free-rider mean (s) | seed uploaded (copies) | unfinished |"
    );
    println!("|---:|---:|---|---|---:|---:|---:|---:|---:|");
    for &leechers in &args.leechers {
        let free = leechers * args.free_riders_percent / 100;
        let mut cases = Vec::new();
        for tft in [true, false] {
            for strategy in [
                Strategy::RarestFirst,
                Strategy::Random,
                Strategy::Sequential,
            ] {
                cases.push((strategy, tft, 0));
            }
        }
        for tft in [true, false] {
            cases.push((Strategy::RarestFirst, tft, free));
        }
        for (strategy, tft, free_riders) in cases {
            let reports: Vec<SimReport> = (0..args.runs)
                .map(|seed| {
                    let mut cfg = SimConfig::flash_crowd(leechers - free_riders, args.pieces, seed);
                    cfg.free_riders = free_riders;
                    cfg.strategy = strategy;
                    cfg.tit_for_tat = tft;
                    cfg.seed_mode = seed_mode;
                    cfg.connections = args.connections;
                    cfg.seed_upload = args.seed_kib * 1024;
                    cfg.leecher_uploads = args.leecher_kib.iter().map(|k| k * 1024).collect();
                    Sim::new(cfg).run()
                })
                .collect();
            let row = average(&reports);
            let free_col = if free_riders > 0 {
                format!("{:.0}", row.free_mean)
            } else {
                "-".to_owned()
            };
            println!(
                "| {leechers} | {free_riders} | {} | {} | {:.0} | {:.0} | {free_col} | {:.1} | {} |",
                strategy.name(),
                if tft { "tit-for-tat" } else { "round-robin" },
                row.mean,
                row.last,
                row.seed_copies,
                row.unfinished,
            );
        }
    }
}
