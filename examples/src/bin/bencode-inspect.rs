//! Prints any bencoded file (a .torrent, a resume file, a captured DHT
//! message) as an indented tree with byte offsets, and for a torrent the
//! info-hashes computed over the raw `info` bytes.
//!
//! ```text
//! cargo run -p bitswarm-examples --bin bencode-inspect -- examples/samples/sample.torrent
//! ```

use std::path::PathBuf;
use std::process::ExitCode;

use bitswarm_bencode::{DecodeOptions, Kind, Mode, Tolerated, Value};
use clap::Parser;
use sha1::{Digest, Sha1};
use sha2::Sha256;

/// Print a bencoded file as a tree with byte offsets.
#[derive(Parser)]
#[command(version)]
struct Args {
    /// The file to read.
    file: PathBuf,
    /// Accept unsorted and repeated dictionary keys, and list them.
    #[arg(long)]
    lenient: bool,
    /// Show at most this many bytes of each byte string.
    #[arg(long, default_value_t = 48)]
    show: usize,
    /// Print only this many items of each list or dictionary.
    #[arg(long, default_value_t = 20)]
    items: usize,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let input = match std::fs::read(&args.file) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("error: {}: {e}", args.file.display());
            return ExitCode::FAILURE;
        }
    };
    let opts = DecodeOptions {
        mode: if args.lenient {
            Mode::Lenient
        } else {
            Mode::Strict
        },
        ..DecodeOptions::default()
    };
    let decoded = match opts.decode(&input) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("error: {}: {e}", args.file.display());
            return ExitCode::FAILURE;
        }
    };
    let printer = Printer {
        input: &input,
        show: args.show,
        items: args.items,
    };
    println!("{}: {} bytes", args.file.display(), input.len());
    printer.print(&decoded.value, 0);
    for t in &decoded.tolerated {
        match t {
            Tolerated::UnsortedKey { offset } => {
                println!("tolerated: unsorted key at byte {offset}");
            }
            Tolerated::DuplicateKey { offset } => {
                println!("tolerated: repeated key at byte {offset}");
            }
            _ => println!("tolerated: {t:?}"),
        }
    }
    if let Some(info) = decoded.value.get("info").filter(|v| v.as_dict().is_some()) {
        // The identity of a torrent is the hash of these exact bytes (BEP 3, BEP 52).
        println!(
            "info-hash v1 (SHA-1 of info):   {}",
            hex(&Sha1::digest(info.raw()))
        );
        if info.get("meta version").and_then(Value::as_int) == Some(2) {
            println!(
                "info-hash v2 (SHA-256 of info): {}",
                hex(&Sha256::digest(info.raw()))
            );
        }
    }
    ExitCode::SUCCESS
}

struct Printer<'i> {
    input: &'i [u8],
    show: usize,
    items: usize,
}

impl Printer<'_> {
    fn print(&self, v: &Value<'_>, depth: usize) {
        println!("{}", self.line(v));
        let pad = "  ".repeat(depth + 1);
        match v.kind() {
            Kind::List(items) => {
                for (i, item) in items.iter().take(self.items).enumerate() {
                    print!("{pad}[{i}] ");
                    self.print(item, depth + 1);
                }
                if items.len() > self.items {
                    println!("{pad}... {} more", items.len() - self.items);
                }
            }
            Kind::Dict(d) => {
                for (k, item) in d.iter().take(self.items) {
                    print!("{pad}{} ", self.text(k));
                    self.print(item, depth + 1);
                }
                if d.len() > self.items {
                    println!("{pad}... {} more", d.len() - self.items);
                }
            }
            Kind::Int(_) | Kind::Bytes(_) => {}
        }
    }

    fn line(&self, v: &Value<'_>) -> String {
        let at = v.span_in(self.input).map_or(0, |r| r.start);
        match v.kind() {
            Kind::Int(i) => format!("@{at} {i}"),
            Kind::Bytes(b) => format!("@{at} {} ({} bytes)", self.text(b), b.len()),
            Kind::List(items) => format!("@{at} list of {} ({} bytes)", items.len(), v.raw().len()),
            Kind::Dict(d) => format!("@{at} dictionary of {} ({} bytes)", d.len(), v.raw().len()),
        }
    }

    /// Printable UTF-8 in quotes, anything else as hex; both cut to `show` bytes.
    fn text(&self, b: &[u8]) -> String {
        let cut = &b[..b.len().min(self.show)];
        let more = if b.len() > self.show { "..." } else { "" };
        match std::str::from_utf8(b) {
            Ok(s) if !s.chars().any(char::is_control) => {
                let s: String = s.chars().take(self.show).collect();
                format!("{s:?}{more}")
            }
            _ => format!("0x{}{more}", hex(cut)),
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
