//! Helpers shared by the integration tests of this crate; each test crate
//! uses a part of them.
#![allow(dead_code)]

use std::path::Path;
use std::time::{Duration, Instant};

use bitswarm_bencode::{DictBuilder, Encode, Raw};
use bitswarm_metainfo::Metainfo;
use bitswarm_session::{SessionConfig, SessionEvent, SessionEvents};

/// A session listening on 127.0.0.1 (any port), downloading into
/// `download_dir`, not announcing to trackers. Installs the test log
/// subscriber (filtered by `RUST_LOG`) on first use.
pub(crate) fn config(download_dir: &Path) -> SessionConfig {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
    SessionConfig {
        listen: vec!["127.0.0.1:0".parse().unwrap()],
        download_dir: download_dir.to_path_buf(),
        trackers: false,
        ..SessionConfig::default()
    }
}

/// Whether an event that `pred` accepts arrives within `within`; false
/// when the time runs out or the events end first.
pub(crate) async fn event_within(
    events: &mut SessionEvents,
    within: Duration,
    mut pred: impl FnMut(&SessionEvent) -> bool,
) -> bool {
    tokio::time::timeout(within, async {
        while let Some(e) = events.next_event().await {
            if pred(&e) {
                return true;
            }
        }
        false
    })
    .await
    .unwrap_or(false)
}

/// Each test's waits together are bounded by this.
pub(crate) const TEST_TIME: Duration = Duration::from_secs(90);

/// The end of a test's time: every wait gets what is left of it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Deadline(Instant);

impl Deadline {
    /// [`TEST_TIME`] from now.
    pub(crate) fn start() -> Self {
        Self(Instant::now() + TEST_TIME)
    }

    /// What is left until the deadline (zero once it has passed).
    pub(crate) fn left(self) -> Duration {
        self.0.saturating_duration_since(Instant::now())
    }
}

/// Asserts that each of `files` (relative path, length) under `b` holds the
/// same bytes as under `a`, and has that length.
pub(crate) fn assert_same_tree(files: &[(&str, u64)], a: &Path, b: &Path) {
    for (name, len) in files {
        let left = std::fs::read(a.join(name)).unwrap();
        let right = std::fs::read(b.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(left.len() as u64, *len);
        assert!(left == right, "{name} differs");
    }
}

/// The same torrent with `announce` set to `url` (every other key, the info
/// dictionary and the piece layers among them, unchanged).
pub(crate) fn with_tracker(meta: &Metainfo, url: &str) -> Metainfo {
    let original = bitswarm_bencode::decode(meta.as_bytes()).unwrap();
    let mut d = DictBuilder::new();
    for (key, value) in original.as_dict().unwrap().iter() {
        if key != b"announce" && key != b"announce-list" {
            d.insert(key, Raw(value.raw()));
        }
    }
    d.insert("announce", url);
    let out = Metainfo::from_bytes(&d.to_bencode()).unwrap();
    assert_eq!(out.info_hash(), meta.info_hash());
    out
}
