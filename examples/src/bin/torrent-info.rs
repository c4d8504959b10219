//! Prints every field of a `.torrent`, like `transmission-show`, with its
//! files as a tree; `--json` prints one JSON object instead. An invalid
//! torrent exits non-zero with the typed error on standard error.
//!
//! ```text
//! cargo run -p bitswarm-examples --bin torrent-info -- examples/samples/sample.torrent
//! cargo run -p bitswarm-examples --bin torrent-info -- --json examples/samples/sample.torrent
//! ```

use std::path::PathBuf;
use std::process::ExitCode;

use bitswarm_metainfo::{FileEntry, Metainfo};
use clap::Parser;
use serde_json::json;

/// Show what a .torrent file holds.
#[derive(Parser)]
#[command(version)]
struct Args {
    /// The torrent file.
    file: PathBuf,
    /// Print one JSON object: name, info_hash_v1, info_hash_v2, version,
    /// piece_length, num_pieces, total_length, private, trackers (tiers),
    /// web_seeds, files (`{path: [components], length}`; pad files left
    /// out), and the decorative fields.
    #[arg(long)]
    json: bool,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let bytes = match std::fs::read(&args.file) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("error: {}: {e}", args.file.display());
            return ExitCode::FAILURE;
        }
    };
    let torrent = match Metainfo::from_bytes(&bytes) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: {}: {e}", args.file.display());
            return ExitCode::FAILURE;
        }
    };
    if args.json {
        println!("{}", to_json(&torrent));
    } else {
        print_text(&args.file, &torrent);
    }
    ExitCode::SUCCESS
}

fn real_files(t: &Metainfo) -> impl Iterator<Item = &FileEntry> {
    t.files().iter().filter(|f| !f.is_pad())
}

fn to_json(t: &Metainfo) -> serde_json::Value {
    let files: Vec<_> = real_files(t)
        .map(|f| {
            let attr = f.attributes().to_attr_string();
            json!({
                "path": f.path().components(),
                "length": f.length(),
                "attr": (!attr.is_empty()).then_some(attr),
            })
        })
        .collect();
    json!({
        "name": t.name(),
        "info_hash_v1": t.info_hash_v1().map(|h| h.to_string()),
        "info_hash_v2": t.info_hash_v2().map(|h| h.to_string()),
        "version": format!("{:?}", t.version()).to_lowercase(),
        "piece_length": t.piece_length(),
        "num_pieces": t.num_pieces(),
        "total_length": t.total_length(),
        "private": t.private(),
        "trackers": t.trackers(),
        "web_seeds": t.web_seeds(),
        "comment": t.comment(),
        "created_by": t.created_by(),
        "creation_date": t.creation_date(),
        "source": t.info().source(),
        "magnet": t.magnet().to_string(),
        "files": files,
    })
}

fn print_text(path: &std::path::Path, t: &Metainfo) {
    println!("Name: {}", t.name());
    println!("File: {}", path.display());
    println!();
    println!("GENERAL");
    println!();
    println!("  Name: {}", t.name());
    if let Some(h) = t.info_hash_v1() {
        println!("  Hash v1: {h}");
    }
    if let Some(h) = t.info_hash_v2() {
        println!("  Hash v2: {h}");
    }
    println!("  Version: {:?}", t.version());
    println!("  Created by: {}", t.created_by().unwrap_or("Unknown"));
    match t.creation_date() {
        Some(d) => println!("  Created on: {d} (seconds since 1970)"),
        None => println!("  Created on: Unknown"),
    }
    if let Some(c) = t.comment() {
        println!("  Comment: {c}");
    }
    if let Some(s) = t.info().source() {
        println!("  Source: {s}");
    }
    println!("  Piece Count: {}", t.num_pieces());
    println!("  Piece Size: {}", human(t.piece_length()));
    println!("  Total Size: {}", human(t.total_length()));
    println!(
        "  Privacy: {}",
        if t.private() {
            "Private torrent"
        } else {
            "Public torrent"
        }
    );
    println!();
    println!("TRACKERS");
    for (i, tier) in t.trackers().iter().enumerate() {
        println!();
        println!("  Tier #{}", i + 1);
        for url in tier {
            println!("  {url}");
        }
    }
    if !t.web_seeds().is_empty() {
        println!();
        println!("WEBSEEDS");
        println!();
        for w in t.web_seeds() {
            println!("  {w}");
        }
    }
    if !t.nodes().is_empty() {
        println!();
        println!("NODES");
        println!();
        for n in t.nodes() {
            println!("  {}:{}", n.host, n.port);
        }
    }
    println!();
    println!("FILES");
    println!();
    if let Some(folder) = t.layout().root_folder() {
        println!("  {folder}/");
    }
    let indent = usize::from(t.layout().root_folder().is_some());
    let mut shown: Vec<String> = Vec::new();
    let mut files: Vec<&FileEntry> = real_files(t).collect();
    files.sort_by(|a, b| a.path().cmp(b.path()));
    for f in files {
        let components = f.path().components();
        let (name, folders) = components.split_last().unwrap_or((&components[0], &[]));
        // Print each folder the first time it is entered.
        let common = shown
            .iter()
            .zip(folders)
            .take_while(|(a, b)| a == b)
            .count();
        shown.truncate(common);
        for folder in &folders[common..] {
            println!("  {}{folder}/", "  ".repeat(indent + shown.len()));
            shown.push(folder.clone());
        }
        let attr = f.attributes().to_attr_string();
        let attr = if attr.is_empty() {
            String::new()
        } else {
            format!(" [{attr}]")
        };
        println!(
            "  {}{name} ({}){attr}",
            "  ".repeat(indent + shown.len()),
            human(f.length())
        );
    }
}

/// Sizes as transmission-show prints them (powers of 1000).
fn human(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "kB", "MB", "GB", "TB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1000.0 && unit < UNITS.len() - 1 {
        value /= 1000.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.2} {}", UNITS[unit])
    }
}
