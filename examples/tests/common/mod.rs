//! Helpers shared by the integration tests of the example binaries; each
//! test crate uses a part of them.
#![allow(dead_code)]

use std::path::Path;

/// Asserts that each of `files` (relative path, length) under `copy` holds
/// the same bytes as under `source`, and has that length.
pub(crate) fn assert_same_tree(files: &[(&str, u64)], source: &Path, copy: &Path) {
    for (path, len) in files {
        let a = std::fs::read(source.join(path)).unwrap();
        let b = std::fs::read(copy.join(path))
            .unwrap_or_else(|e| panic!("{}: {e}", copy.join(path).display()));
        assert_eq!(a.len() as u64, *len);
        assert!(a == b, "{path} differs");
    }
}
