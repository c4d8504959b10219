//! Strict and lenient decoding of arbitrary bytes: never a panic, and what
//! strict mode accepts re-encodes to exactly the input.
#![no_main]

use bitswarm_bencode::{DecodeOptions, Encode, Mode, decode, decode_prefix};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(value) = decode(data) {
        assert_eq!(value.to_bencode(), data, "strict input must be canonical");
        assert_eq!(value.raw(), data);
    }
    if let Ok((value, used)) = decode_prefix(data) {
        assert!(used <= data.len());
        assert_eq!(value.raw(), &data[..used]);
    }
    let lenient = DecodeOptions {
        mode: Mode::Lenient,
        ..DecodeOptions::default()
    };
    if let Ok(decoded) = lenient.decode(data) {
        // Canonical re-encoding of a lenient value must itself decode strictly.
        let canonical = decoded.value.to_bencode();
        assert!(decode(&canonical).is_ok());
    }
});
