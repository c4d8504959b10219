//! A load generator for UDP trackers (BEP 15) on loopback.
//!
//! For each target in turn it keeps `--in-flight` announces outstanding
//! from `--sockets` sockets (one thread each) for `--seconds`, replacing each
//! answered request at once and counting a request unanswered after
//! `--timeout-ms` as lost. It then reports announces answered per second,
//! loss and latency. Targets must be loopback addresses; the run stops by
//! itself.
//!
//! ```text
//! tracker-load --write-whitelist hashes.txt --swarms 1000
//! tracker-load --target ours=127.0.0.1:6969 --target opentracker=127.0.0.1:6970 --seconds 10
//! ```

use std::io::ErrorKind;
use std::net::{SocketAddr, UdpSocket};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use clap::Parser;

/// A target: `ADDR` or `LABEL=ADDR`.
#[derive(Debug, Clone)]
struct Target {
    label: String,
    addr: SocketAddr,
}

fn parse_target(s: &str) -> Result<Target, String> {
    let (label, addr) = match s.split_once('=') {
        Some((l, a)) => (l.to_owned(), a),
        None => (s.to_owned(), s),
    };
    let addr: SocketAddr = addr.parse().map_err(|e| format!("{addr}: {e}"))?;
    if !addr.ip().is_loopback() {
        return Err(format!(
            "{addr} is not a loopback address; this generator only loads 127.0.0.1 or ::1"
        ));
    }
    Ok(Target { label, addr })
}

/// Keep W announces in flight against UDP trackers on loopback and report the rate.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// A tracker to load, `ADDR` or `LABEL=ADDR` (loopback only); repeat to
    /// load several one after the other.
    #[arg(long = "target", value_parser = parse_target, required_unless_present = "write_whitelist")]
    targets: Vec<Target>,
    /// Requests kept in flight in total.
    #[arg(long, default_value_t = 64)]
    in_flight: usize,
    /// Sockets (each with its own thread) sharing the requests.
    #[arg(long, default_value_t = 1)]
    sockets: usize,
    /// Seconds of load per target (at most 50, within one connection id's life).
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..=50))]
    seconds: u64,
    /// Swarms (info-hashes) the announces spread over.
    #[arg(long, default_value_t = 1000)]
    swarms: u64,
    /// Peers asked for in each announce.
    #[arg(long, default_value_t = 50)]
    num_want: i32,
    /// A request unanswered for this long is lost and replaced.
    #[arg(long, default_value_t = 250)]
    timeout_ms: u64,
    /// Seeds the info-hashes and peers.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Write the info-hashes of `--swarms` (one hex per line, an
    /// opentracker whitelist) to this file and exit.
    #[arg(long)]
    write_whitelist: Option<PathBuf>,
}

/// SplitMix64: a small deterministic generator for test traffic.
struct Mix(u64);

impl Mix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

fn info_hash(seed: u64, swarm: u64) -> [u8; 20] {
    let mut m = Mix(seed.wrapping_mul(0x1000_0000_01b3) ^ swarm);
    let mut h = [0; 20];
    for chunk in h.chunks_mut(8) {
        let bytes = m.next().to_be_bytes();
        chunk.copy_from_slice(&bytes[..chunk.len()]);
    }
    h
}

#[derive(Debug, Default)]
struct Tally {
    sent: u64,
    announced: u64,
    errors: u64,
    short: u64,
    lost: u64,
    latencies_us: Vec<u32>,
}

const MAX_SAMPLES: usize = 4_000_000;

fn connect(socket: &UdpSocket, target: SocketAddr) -> Result<u64, String> {
    let mut buf = [0u8; 64];
    for attempt in 0..10u32 {
        let mut req = Vec::with_capacity(16);
        req.extend_from_slice(&0x0417_2710_1980u64.to_be_bytes());
        req.extend_from_slice(&0u32.to_be_bytes());
        req.extend_from_slice(&(0xc0_0000 + attempt).to_be_bytes());
        socket.send_to(&req, target).map_err(|e| e.to_string())?;
        let deadline = Instant::now() + Duration::from_millis(300);
        while Instant::now() < deadline {
            if let Ok((n, from)) = socket.recv_from(&mut buf)
                && from == target
                && n >= 16
                && buf[..4] == [0, 0, 0, 0]
                && buf[4..8] == req[12..16]
            {
                return Ok(u64::from_be_bytes(
                    buf[8..16].try_into().unwrap_or_default(),
                ));
            }
        }
    }
    Err(format!("{target} did not answer a connect"))
}

/// One socket's share of the load.
fn run_socket(
    target: SocketAddr,
    slots: usize,
    args: &Args,
    thread: u64,
    stop_at: Instant,
) -> Result<Tally, String> {
    let local: SocketAddr = if target.is_ipv4() {
        "127.0.0.1:0".parse().unwrap_or_else(|_| unreachable!())
    } else {
        "[::1]:0".parse().unwrap_or_else(|_| unreachable!())
    };
    let socket = UdpSocket::bind(local).map_err(|e| e.to_string())?;
    socket
        .set_read_timeout(Some(Duration::from_millis(2)))
        .map_err(|e| e.to_string())?;
    let connection_id = connect(&socket, target)?;
    let timeout = Duration::from_millis(args.timeout_ms);
    let mut rng = Mix(args.seed ^ (thread << 48));
    let mut template = [0u8; 98];
    template[..8].copy_from_slice(&connection_id.to_be_bytes());
    template[8..12].copy_from_slice(&1u32.to_be_bytes());
    template[92..96].copy_from_slice(&args.num_want.to_be_bytes());
    let mut tally = Tally::default();
    // Slot i's current transaction id is (generation << 16) | i.
    let mut txids = vec![0u32; slots];
    let mut sent_at = vec![Instant::now(); slots];
    let mut generation = 0u32;
    let mut send = |slot: usize, tally: &mut Tally, txids: &mut [u32], sent_at: &mut [Instant]| {
        generation = generation.wrapping_add(1) & 0xffff;
        let txid = (generation << 16) | slot as u32;
        let mut p = template;
        p[12..16].copy_from_slice(&txid.to_be_bytes());
        p[16..36].copy_from_slice(&info_hash(args.seed, rng.next() % args.swarms.max(1)));
        let r = rng.next();
        p[36..44].copy_from_slice(&r.to_be_bytes());
        // Half seeders, half leechers.
        let left: u64 = if r & 1 == 0 { 0 } else { 1 << 20 };
        p[64..72].copy_from_slice(&left.to_be_bytes());
        p[80..84].copy_from_slice(&2u32.to_be_bytes());
        p[96..98].copy_from_slice(&((r >> 16) as u16).to_be_bytes());
        txids[slot] = txid;
        sent_at[slot] = Instant::now();
        tally.sent += 1;
        let _ = socket.send_to(&p, target);
    };
    for slot in 0..slots {
        send(slot, &mut tally, &mut txids, &mut sent_at);
    }
    let mut buf = [0u8; 4096];
    let mut last_scan = Instant::now();
    while Instant::now() < stop_at {
        match socket.recv_from(&mut buf) {
            Ok((n, from)) if from == target && n >= 8 => {
                let action = u32::from_be_bytes(buf[..4].try_into().unwrap_or_default());
                let txid = u32::from_be_bytes(buf[4..8].try_into().unwrap_or_default());
                let slot = (txid & 0xffff) as usize;
                if slot < slots && txids[slot] == txid {
                    let us = sent_at[slot]
                        .elapsed()
                        .as_micros()
                        .min(u128::from(u32::MAX)) as u32;
                    if tally.latencies_us.len() < MAX_SAMPLES {
                        tally.latencies_us.push(us);
                    }
                    match (action, n) {
                        (1, n) if n >= 20 => tally.announced += 1,
                        (3, _) => tally.errors += 1,
                        _ => tally.short += 1,
                    }
                    send(slot, &mut tally, &mut txids, &mut sent_at);
                }
            }
            Ok(_) => {}
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(e) if e.kind() == ErrorKind::ConnectionRefused => {
                return Err(format!("{target} refused (nothing listening)"));
            }
            Err(e) => return Err(e.to_string()),
        }
        if last_scan.elapsed() >= Duration::from_millis(10) {
            last_scan = Instant::now();
            for slot in 0..slots {
                if sent_at[slot].elapsed() > timeout {
                    tally.lost += 1;
                    send(slot, &mut tally, &mut txids, &mut sent_at);
                }
            }
        }
    }
    Ok(tally)
}

fn percentile(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    f64::from(sorted[i]) / 1000.0
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    if let Some(path) = &args.write_whitelist {
        let mut text = String::new();
        for i in 0..args.swarms {
            for b in info_hash(args.seed, i) {
                text.push_str(&format!("{b:02x}"));
            }
            text.push('\n');
        }
        std::fs::write(path, text)?;
        return Ok(());
    }
    let sockets = args.sockets.max(1);
    let per_socket = (args.in_flight / sockets).clamp(1, 65_536);
    println!(
        "{} s per target, {} in flight over {} socket(s), {} swarms, num_want {}",
        args.seconds,
        per_socket * sockets,
        sockets,
        args.swarms,
        args.num_want
    );
    println!();
    println!("| target | announces/s | loss | p50 ms | p99 ms | max ms | errors |");
    println!("| --- | ---: | ---: | ---: | ---: | ---: | ---: |");
    for target in &args.targets {
        let start = Instant::now();
        let stop_at = start + Duration::from_secs(args.seconds);
        let results: Vec<Result<Tally, String>> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..sockets)
                .map(|t| {
                    let args = &args;
                    s.spawn(move || run_socket(target.addr, per_socket, args, t as u64, stop_at))
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or_else(|_| Err("a thread panicked".into())))
                .collect()
        });
        let elapsed = start.elapsed().as_secs_f64();
        let mut total = Tally::default();
        for r in results {
            let t = r.map_err(|e| format!("{}: {e}", target.label))?;
            total.sent += t.sent;
            total.announced += t.announced;
            total.errors += t.errors + t.short;
            total.lost += t.lost;
            total.latencies_us.extend(t.latencies_us);
        }
        total.latencies_us.sort_unstable();
        println!(
            "| {} | {:.0} | {:.2}% | {:.3} | {:.3} | {:.1} | {} |",
            target.label,
            total.announced as f64 / elapsed,
            100.0 * total.lost as f64 / total.sent.max(1) as f64,
            percentile(&total.latencies_us, 0.5),
            percentile(&total.latencies_us, 0.99),
            percentile(&total.latencies_us, 1.0),
            total.errors,
        );
    }
    Ok(())
}
