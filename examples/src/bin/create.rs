//! Makes a `.torrent` of a file or a folder (v1, v2 or hybrid), hashing on
//! all cores with a progress bar, and prints its info-hashes and a magnet link.
//!
//! ```text
//! cargo run --release -p bitswarm-examples --bin create -- ~/music/album -o album.torrent \
//!     --tracker udp://tracker.example:6969/announce --piece-size 256
//! ```

use std::path::PathBuf;
use std::process::ExitCode;

use bitswarm_metainfo::{TorrentBuilder, Version};
use clap::{ArgGroup, Parser};
use indicatif::{ProgressBar, ProgressStyle};

/// Create a .torrent file.
#[derive(Parser)]
#[command(version, group(ArgGroup::new("kind").args(["v1", "v2", "hybrid"])))]
struct Args {
    /// The file or folder to share.
    path: PathBuf,
    /// Where to write the torrent.
    #[arg(short, long)]
    output: PathBuf,
    /// Piece size in KiB (a power of two, at least 16); chosen from the
    /// total size when absent.
    #[arg(long, value_name = "KIB")]
    piece_size: Option<u64>,
    /// A v1 torrent (BEP 3), readable by every client.
    #[arg(long)]
    v1: bool,
    /// A v2 torrent (BEP 52).
    #[arg(long)]
    v2: bool,
    /// A hybrid v1 + v2 torrent (the default).
    #[arg(long)]
    hybrid: bool,
    /// Mark the torrent private (BEP 27).
    #[arg(long)]
    private: bool,
    /// A tracker URL, each in a tier of its own; repeat for more.
    #[arg(long, value_name = "URL")]
    tracker: Vec<String>,
    /// A web seed URL (BEP 19); repeat for more.
    #[arg(long, value_name = "URL")]
    web_seed: Vec<String>,
    /// A comment.
    #[arg(long)]
    comment: Option<String>,
    /// Leave out the creation date, so the output depends on the content only.
    #[arg(long)]
    no_date: bool,
    /// Skip files and folders whose name starts with a dot.
    #[arg(long)]
    skip_hidden: bool,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let version = if args.v1 {
        Version::V1
    } else if args.v2 {
        Version::V2
    } else {
        Version::Hybrid
    };
    let mut builder = TorrentBuilder::new(&args.path)
        .version(version)
        .private(args.private)
        .skip_hidden(args.skip_hidden);
    if let Some(kib) = args.piece_size {
        builder = builder.piece_length(kib.saturating_mul(1024));
    }
    for t in &args.tracker {
        builder = builder.tracker(t);
    }
    for w in &args.web_seed {
        builder = builder.web_seed(w);
    }
    if let Some(c) = &args.comment {
        builder = builder.comment(c);
    }
    if args.no_date {
        builder = builder.creation_date(None);
    }

    let total = match builder.total_length() {
        Ok(t) => t,
        Err(e) => return fail(&e),
    };
    let bar = ProgressBar::new(total).with_style(
        ProgressStyle::with_template(
            "{spinner} hashing [{bar:40}] {bytes}/{total_bytes} {binary_bytes_per_sec} {eta}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    let progress = bar.clone();
    let torrent = match builder.progress(move |n| progress.set_position(n)).build() {
        Ok(t) => t,
        Err(e) => {
            bar.abandon();
            return fail(&e);
        }
    };
    bar.finish_and_clear();

    if let Err(e) = std::fs::write(&args.output, torrent.as_bytes()) {
        eprintln!("error: writing {}: {e}", args.output.display());
        return ExitCode::FAILURE;
    }
    println!("wrote {}", args.output.display());
    println!(
        "{} files, {} bytes, {} pieces of {} KiB",
        torrent.files().iter().filter(|f| !f.is_pad()).count(),
        torrent.total_length(),
        torrent.num_pieces(),
        torrent.piece_length() / 1024
    );
    if let Some(h) = torrent.info_hash_v1() {
        println!("info-hash v1: {h}");
    }
    if let Some(h) = torrent.info_hash_v2() {
        println!("info-hash v2: {h}");
    }
    println!("magnet: {}", torrent.magnet());
    ExitCode::SUCCESS
}

fn fail(e: &bitswarm_metainfo::Error) -> ExitCode {
    eprintln!("error: {e}");
    ExitCode::FAILURE
}
