//! transmission 3.00 (`transmission-cli`) downloading from our `seed`
//! binary.
//!
//! transmission never connects out to 127.0.0.0/8, so each side gets its own
//! network namespace, joined by a veth pair (`10.X.Y.1` and `10.X.Y.2`,
//! no route anywhere else; both namespaces deleted at the end, also on
//! failure). `seed` runs in namespace A with its own UDP tracker, whose URL
//! goes into the torrent it makes; transmission runs in namespace B and
//! learns our address from that tracker.
//!
//! Run with `cargo test -p bitswarm-examples --test transmission -- --include-ignored`
//! (as root: it creates network namespaces).

use std::time::{Duration, Instant};

use bitswarm_testkit::content;
use bitswarm_testkit::netns::{NetnsPair, Side};
use bitswarm_testkit::process::{Spawned, run};
use bitswarm_testkit::transmission_session::{TransmissionSession, TransmissionSpec};

mod common;
use common::assert_same_tree;

/// The test's waits together are bounded by this.
const TEST_TIME: Duration = Duration::from_secs(90);

/// No empty file: transmission skips them.
const FILES: &[(&str, u64)] = &[
    ("a.bin", 2_000_000),
    ("sub/b.bin", 700_001),
    ("sub/c.txt", 333),
];

#[test]
#[ignore = "needs transmission-cli and iproute2 (and root): run scripts/test-all"]
fn transmission_downloads_from_our_seed_across_network_namespaces() {
    let deadline = Instant::now() + TEST_TIME;
    let left = || deadline.saturating_duration_since(Instant::now());
    // Declared first, dropped last: after every program inside.
    let pair = NetnsPair::create("trseed").unwrap();
    let ours = pair.addr(Side::A);
    let theirs = pair.addr(Side::B);

    let dir = tempfile::tempdir().unwrap();
    let album = dir.path().join("src/album");
    content::write_tree(&album, FILES, 41).unwrap();
    let torrent = dir.path().join("album.torrent");
    let tracker = format!("{ours}:6969");

    let mut seed_cmd = pair.command(Side::A, env!("CARGO_BIN_EXE_seed"));
    seed_cmd
        .arg(&album)
        .arg("--tracker-server")
        .arg(&tracker)
        .arg("--listen")
        .arg(format!("{ours}:6881"))
        .arg("--torrent-out")
        .arg(&torrent)
        .arg("--piece-length")
        .arg("32768")
        .arg("--run-for")
        .arg("90");
    let mut seed = Spawned::start("seed", seed_cmd).unwrap();
    let out = seed
        .wait_for_output(left(), |out| out.contains("seeding album"))
        .unwrap();
    assert!(
        out.contains(&format!("tracker on udp://{tracker}/announce")),
        "{out}"
    );
    let info_hash = out
        .lines()
        .find_map(|l| l.strip_prefix("info-hash "))
        .unwrap()
        .trim()
        .to_owned();

    // transmission asks the tracker once and then not for a minute: let our
    // seeder's own announce reach the tracker first.
    let mut registered = false;
    while !left().is_zero() {
        let mut scrape = pair.command(Side::B, env!("CARGO_BIN_EXE_tracker-announce"));
        scrape
            .arg(format!("udp://{tracker}/announce"))
            .arg("--info-hash")
            .arg(&info_hash)
            .arg("--scrape")
            .arg("--json");
        let reply = run(
            "tracker-announce",
            scrape,
            left().min(Duration::from_secs(20)),
        )
        .unwrap();
        let stats: serde_json::Value = serde_json::from_str(reply.stdout.trim()).unwrap();
        if stats["seeders"] == 1 {
            registered = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(registered, "our seeder never announced to its tracker");

    let download = dir.path().join("transmission");
    let mut transmission = TransmissionSession::start(&TransmissionSpec {
        bind: theirs.into(),
        port: Some(51413),
        netns: Some(pair.name(Side::B).to_owned()),
        time_limit: left() + Duration::from_secs(1),
        ..TransmissionSpec::new(&torrent, &download)
    })
    .unwrap();
    let done = transmission.wait_seeding(left());
    assert!(
        done.is_ok(),
        "transmission did not finish: {done:?}\nseed's stderr: {}",
        seed.stderr()
    );
    assert_same_tree(FILES, &album, &download.join("album"));

    drop(transmission);
    seed.stop();
    drop(seed);
    drop(pair);
}
