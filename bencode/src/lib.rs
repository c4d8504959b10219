//! Bencode (BEP 3): the encoding of .torrent files, the extension protocol
//! and the DHT.
//!
//! - [`decode`] reads one strict value and borrows every byte string from the
//!   input: no allocation per string. Each [`Value`] keeps its raw byte span
//!   ([`Value::raw`]), so an `info` dictionary can be hashed exactly as
//!   received.
//! - Strict mode (the default) rejects everything BEP 3 forbids: leading
//!   zeros, `-0`, `+`, empty and out-of-range integers, unsorted or repeated
//!   keys, non-string keys, lengths past the end, trailing bytes. Nesting and
//!   string length are bounded ([`DecodeOptions`]); the decoder never
//!   recurses. [`Mode::Lenient`] accepts unsorted and repeated keys for
//!   real-world torrents and reports them.
//! - [`Encode`] writes canonical bencode into any `bytes::BufMut`;
//!   [`dict!`] and [`list!`] build values in code.
//! - With the `serde` feature, `to_bytes` / `from_bytes` for your own types,
//!   zero-copy for `&[u8]` and `&str` fields.
//!
//! ```text
//!   bytes ──decode──▶ Value<'a> ──get/as_*──▶ your fields
//!                      │  raw() ──▶ SHA-1 = info-hash
//!   dict!{..} ──Encode──┴──────────▶ canonical bytes
//! ```
//!
//! ```
//! use bitswarm_bencode::{decode, dict, Encode};
//!
//! let torrent = dict! {
//!     "announce" => "udp://tracker.example:6969",
//!     "info" => dict! { "name" => "hello.txt", "length" => 5, "piece length" => 16384 },
//! }
//! .to_bencode();
//!
//! let value = decode(&torrent)?;
//! let info = value.get("info").expect("info present");
//! assert_eq!(info.get("name").and_then(|v| v.as_str()), Some("hello.txt"));
//! // The info-hash is the SHA-1 of exactly these bytes:
//! assert!(info.raw().starts_with(b"d6:lengthi5e"));
//! # Ok::<(), bitswarm_bencode::Error>(())
//! ```
#![forbid(unsafe_code)]

mod decode;
mod encode;
mod error;
#[cfg(feature = "serde")]
mod serde_impl;
mod value;

// The public interface is:
pub use decode::{DecodeOptions, Decoded, Mode, Tolerated, decode, decode_prefix};
pub use encode::{DictBuilder, Encode, ListBuilder, Raw};
pub use error::Error;
#[cfg(feature = "serde")]
pub use serde_impl::{from_bytes, from_value, to_bytes};
pub use value::{Dict, Kind, Value};
