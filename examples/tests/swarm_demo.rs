//! Runs the `swarm-demo` binary: a tracker, a seeder and leechers on
//! loopback, every copy checked byte for byte.

use std::process::Command;

#[test]
fn swarm_demo_verifies_every_leecher() {
    let out = Command::new(env!("CARGO_BIN_EXE_swarm-demo"))
        .args(["--size", "3MiB", "--leechers", "2", "--files", "3"])
        .args(["--timeout", "120"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{}\n{stdout}\n{stderr}", out.status);
    assert!(
        stdout
            .contains("verified: all 2 leechers have every file byte for byte (6.00 MiB in total)"),
        "{stdout}"
    );
    assert!(stdout.contains("throughput: "), "{stdout}");
    for i in 0..2 {
        assert!(
            stdout.contains(&format!(
                "leecher {i}: 3 files, 3.00 MiB identical to the source"
            )),
            "{stdout}"
        );
    }
    // The temporary folder is gone.
    let folder = stdout
        .lines()
        .find_map(|l| l.strip_prefix("torrent: "))
        .and_then(|l| l.split(" (").next())
        .and_then(|p| {
            std::path::Path::new(p)
                .parent()
                .map(std::path::Path::to_path_buf)
        })
        .expect("the torrent line");
    assert!(!folder.exists(), "{} is left behind", folder.display());
}

#[test]
fn swarm_demo_refuses_bad_arguments() {
    let out = Command::new(env!("CARGO_BIN_EXE_swarm-demo"))
        .args(["--size", "lots"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a size"));
}
