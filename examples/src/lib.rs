//! Runnable binaries built from the bitswarm crates; see `src/bin/`.
