//! Runnable binaries built from the bitswarm crates; see `src/bin/`.
//!
//! What the binaries share lives here:
//!
//! ```
//! bitswarm_examples::init_tracing("warn");
//! tracing::warn!("shown on stderr unless RUST_LOG says otherwise");
//! ```

/// Installs the process's log subscriber: `tracing` events go to stderr
/// (stdout stays for a binary's output), filtered by `RUST_LOG` when it is
/// set and valid, else by `default_filter` (an `EnvFilter` directive such as
/// `"warn"` or `"info,bitswarm_session=debug"`).
///
/// # Panics
///
/// If a global subscriber was already installed, or `default_filter` is
/// not a valid directive while `RUST_LOG` is unset or invalid.
pub fn init_tracing(default_filter: &str) {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_filter)),
        )
        .with_writer(std::io::stderr)
        .init();
}
