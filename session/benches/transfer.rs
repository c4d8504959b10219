//! One torrent over loopback TCP, seeder to leecher, in every pairing of
//! bitswarm and libtorrent, in the same run: wall time, throughput and the
//! CPU seconds both ends spent per GiB.
//!
//! ```text
//! cargo bench -p bitswarm-session --bench transfer            # 1 GiB
//! BITSWARM_BENCH_MIB=256 cargo bench -p bitswarm-session --bench transfer
//! ```
//!
//! The content and every leecher's copy live in a tmpfs (`/dev/shm` when
//! present), so the disks of the machine are not measured. libtorrent runs
//! through Debian's `python3-libtorrent` (see `bitswarm-testkit`), with its
//! default settings and with its `high_performance_seed` preset on both
//! ends. Our ends run in this process, with the session's default settings.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use bitswarm_core::PeerId;
use bitswarm_metainfo::Metainfo;
use bitswarm_session::{
    AddTorrent, Session, SessionConfig, SessionEvent, TorrentId, TorrentSource, TorrentState,
};
use bitswarm_testkit::content;
use bitswarm_testkit::lt_session::{LtSession, SessionSpec, TorrentSpec};
use cpu_time::ProcessTime;
use futures::StreamExt;

/// How long one transfer may take before the run is called failed.
const LIMIT: Duration = Duration::from_secs(600);

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The end of one side of a transfer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Peer {
    Bitswarm,
    Libtorrent { preset: Option<&'static str> },
}

impl Peer {
    fn name(self) -> &'static str {
        match self {
            Self::Bitswarm => "bitswarm",
            Self::Libtorrent { preset: None } => "libtorrent",
            Self::Libtorrent { preset: Some(_) } => "libtorrent (high_performance_seed)",
        }
    }
}

/// What one transfer measured.
struct Measured {
    seconds: f64,
    cpu_seconds: f64,
}

fn main() -> Result<(), BoxError> {
    // `cargo test --benches` runs bench targets with `--bench`-less
    // arguments; only a real `cargo bench` transfers a gigabyte.
    if !std::env::args().any(|a| a == "--bench") {
        println!("transfer: run with `cargo bench -p bitswarm-session --bench transfer`");
        return Ok(());
    }
    let mib: u64 = std::env::var("BITSWARM_BENCH_MIB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1024);
    let tmp_root = if Path::new("/dev/shm").is_dir() {
        PathBuf::from("/dev/shm")
    } else {
        std::env::temp_dir()
    };
    let work = tempfile::Builder::new()
        .prefix("bitswarm-transfer-")
        .tempdir_in(&tmp_root)?;

    // Four files of a quarter each, deterministic content.
    let seed_dir = work.path().join("seed");
    let content_dir = seed_dir.join("payload");
    let quarter = mib * (1 << 20) / 4;
    content::write_tree(
        &content_dir,
        &[
            ("a.bin", quarter),
            ("b.bin", quarter),
            ("c.bin", quarter),
            ("d.bin", quarter),
        ],
        0x5eed,
    )?;
    let torrent_path = work.path().join("payload.torrent");
    bitswarm_testkit::libtorrent::create_torrent(&content_dir, &torrent_path, true)?;
    let meta = Metainfo::from_bytes(&std::fs::read(&torrent_path)?)?;
    println!(
        "transfer: {} MiB in 4 files, {} pieces of {} KiB, in {}",
        mib,
        meta.num_pieces(),
        meta.piece_length() / 1024,
        tmp_root.display()
    );

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let lt = Peer::Libtorrent { preset: None };
    let lt_fast = Peer::Libtorrent {
        preset: Some("high_performance_seed"),
    };
    let pairs = [
        (lt, lt),
        (lt_fast, lt_fast),
        (lt, Peer::Bitswarm),
        (Peer::Bitswarm, lt),
        (Peer::Bitswarm, Peer::Bitswarm),
    ];
    let mut rows = Vec::new();
    for (n, (seeder, leecher)) in pairs.into_iter().enumerate() {
        let leech_dir = work.path().join(format!("leech-{n}"));
        std::fs::create_dir_all(&leech_dir)?;
        let measured = runtime.block_on(transfer(
            seeder,
            leecher,
            &torrent_path,
            &meta,
            &seed_dir,
            &leech_dir,
        ))?;
        verify(&content_dir, &leech_dir.join("payload"))?;
        std::fs::remove_dir_all(&leech_dir)?;
        println!(
            "transfer: {} -> {}: {:.2} s, {:.0} MB/s, {:.2} CPU s/GiB",
            seeder.name(),
            leecher.name(),
            measured.seconds,
            (mib << 20) as f64 / measured.seconds / 1e6,
            measured.cpu_seconds * 1024.0 / mib as f64
        );
        rows.push((seeder, leecher, measured));
    }

    let base = rows[0].2.seconds;
    println!();
    println!(
        "| seeder → leecher | time | throughput | vs libtorrent → libtorrent | CPU s/GiB (both ends) |"
    );
    println!("| --- | --- | --- | --- | --- |");
    for (seeder, leecher, m) in &rows {
        println!(
            "| {} → {} | {:.2} s | {:.0} MB/s | {:.2}× | {:.2} |",
            seeder.name(),
            leecher.name(),
            m.seconds,
            (mib << 20) as f64 / m.seconds / 1e6,
            base / m.seconds,
            m.cpu_seconds * 1024.0 / mib as f64
        );
    }
    Ok(())
}

/// One transfer from a seeder holding `seed_dir` to an empty `leech_dir`;
/// the clock starts when the seeder is ready and the leecher is told of it,
/// and stops when the leecher has verified every piece.
async fn transfer(
    seeder: Peer,
    leecher: Peer,
    torrent: &Path,
    meta: &Metainfo,
    seed_dir: &Path,
    leech_dir: &Path,
) -> Result<Measured, BoxError> {
    let id = TorrentId(meta.wire_info_hash());
    let hex = id.to_string();

    // The seeder, ready to upload.
    let mut lt_seeder = None;
    let mut our_seeder = None;
    let seeder_addr = match seeder {
        Peer::Libtorrent { preset } => {
            let spec = SessionSpec {
                preset: preset.map(str::to_owned),
                settings: tcp_only(),
                torrents: vec![TorrentSpec {
                    torrent: Some(torrent.to_path_buf()),
                    seed_mode: true,
                    ..TorrentSpec::new(seed_dir)
                }],
                stop_after: LIMIT,
                ..SessionSpec::default()
            };
            let session = LtSession::start(&spec)?;
            let addr = std::net::SocketAddr::from(([127, 0, 0, 1], session.port()));
            lt_seeder = Some(session);
            addr
        }
        Peer::Bitswarm => {
            let session = our_session(seed_dir).await?;
            let mut events = session.events();
            session.add_torrent(add(meta, seed_dir, Vec::new())).await?;
            wait_for_state(&session, &mut events, id, TorrentState::Seeding).await?;
            let addr = session.listen_addrs()[0];
            our_seeder = Some(session);
            addr
        }
    };

    // The clock starts once the leecher runs and is told of the seeder. A
    // libtorrent leecher gets its torrent and peer while it starts, so its
    // clock starts when it listens, a few milliseconds late if anything:
    // its start-up is not counted against it.
    let mut cpu_self = ProcessTime::now();
    let seeder_cpu_before = lt_seeder
        .as_ref()
        .and_then(|s| s.process().id())
        .map_or(0.0, process_cpu_seconds);
    let mut started = Instant::now();
    let mut lt_leecher = None;
    let mut leecher_cpu_before = 0.0;
    match leecher {
        Peer::Libtorrent { preset } => {
            let spec = SessionSpec {
                preset: preset.map(str::to_owned),
                settings: tcp_only(),
                torrents: vec![TorrentSpec {
                    torrent: Some(torrent.to_path_buf()),
                    peers: vec![seeder_addr],
                    ..TorrentSpec::new(leech_dir)
                }],
                stop_after: LIMIT,
                ..SessionSpec::default()
            };
            let mut session = tokio::task::block_in_place(|| LtSession::start(&spec))?;
            started = Instant::now();
            cpu_self = ProcessTime::now();
            leecher_cpu_before = session.process().id().map_or(0.0, process_cpu_seconds);
            tokio::task::block_in_place(|| {
                session.wait_for(LIMIT, |e| {
                    e["event"] == "finished" && e["info_hash"] == hex.as_str()
                })
            })?;
            lt_leecher = Some(session);
        }
        Peer::Bitswarm => {
            let session = our_session(leech_dir).await?;
            let mut events = session.events();
            session
                .add_torrent(add(meta, leech_dir, vec![seeder_addr]))
                .await?;
            wait_for_state(&session, &mut events, id, TorrentState::Seeding).await?;
            session.shutdown().await?;
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    let mut cpu_seconds = cpu_self.elapsed().as_secs_f64();
    if let Some(pid) = lt_seeder.as_ref().and_then(|s| s.process().id()) {
        cpu_seconds += process_cpu_seconds(pid) - seeder_cpu_before;
    }
    if let Some(pid) = lt_leecher.as_ref().and_then(|s| s.process().id()) {
        cpu_seconds += process_cpu_seconds(pid) - leecher_cpu_before;
    }
    if let Some(session) = our_seeder {
        session.shutdown().await?;
    }
    drop(lt_seeder);
    drop(lt_leecher);
    Ok(Measured {
        seconds,
        cpu_seconds,
    })
}

/// libtorrent settings that keep it on TCP: it would try uTP first, which
/// runs at a few MB/s on loopback, and our ends speak TCP only.
fn tcp_only() -> serde_json::Map<String, serde_json::Value> {
    let mut settings = serde_json::Map::new();
    settings.insert("enable_outgoing_utp".into(), false.into());
    settings.insert("enable_incoming_utp".into(), false.into());
    settings
}

async fn our_session(download_dir: &Path) -> Result<Session, BoxError> {
    let config = SessionConfig {
        listen: vec![std::net::SocketAddr::from(([127, 0, 0, 1], 0))],
        download_dir: download_dir.to_path_buf(),
        resume_dir: None,
        peer_id: PeerId::random(),
        dht_bind: None,
        dht_bootstrap: Vec::new(),
        trackers: false,
        ..SessionConfig::default()
    };
    Ok(Session::start(config).await?)
}

fn add(meta: &Metainfo, output: &Path, peers: Vec<std::net::SocketAddr>) -> AddTorrent {
    AddTorrent {
        output: Some(output.to_path_buf()),
        peers,
        ..AddTorrent::new(TorrentSource::Torrent(Box::new(meta.clone())))
    }
}

async fn wait_for_state(
    session: &Session,
    events: &mut bitswarm_session::SessionEvents,
    id: TorrentId,
    state: TorrentState,
) -> Result<(), BoxError> {
    let wait = async {
        loop {
            if session.status(id).await?.state == state {
                return Ok::<(), BoxError>(());
            }
            match events.next().await {
                Some(SessionEvent::TorrentError(t, e)) if t == id => return Err(e.into()),
                Some(_) => {}
                None => return Err("the session's events ended".into()),
            }
        }
    };
    tokio::time::timeout(LIMIT, wait)
        .await
        .map_err(|_| format!("torrent {id} did not reach {state:?} in time"))?
}

/// User and system CPU seconds of a process so far, from `/proc`.
fn process_cpu_seconds(pid: u32) -> f64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0.0;
    };
    // Fields after the parenthesised command name; utime and stime are the
    // 14th and 15th fields of the whole line.
    let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) else {
        return 0.0;
    };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = [11, 12]
        .iter()
        .filter_map(|&i| fields.get(i).and_then(|f| f.parse::<f64>().ok()))
        .sum();
    ticks / clock_ticks_per_second()
}

fn clock_ticks_per_second() -> f64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0)
}

/// Every file of the leecher's copy equals the source.
fn verify(source: &Path, copy: &Path) -> Result<(), BoxError> {
    for name in ["a.bin", "b.bin", "c.bin", "d.bin"] {
        let a = std::fs::read(source.join(name))?;
        let b = std::fs::read(copy.join(name))?;
        if a != b {
            return Err(format!("{name} differs after the transfer").into());
        }
    }
    Ok(())
}
