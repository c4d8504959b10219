//! Arbitrary text as a magnet link: never a panic, and what is accepted
//! builds a link that parses back to the same magnet.
#![no_main]

use bitswarm_metainfo::Magnet;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(magnet) = Magnet::parse(text) {
        assert!(magnet.info_hash().is_some());
        let built = magnet.to_string();
        let again = Magnet::parse(&built).expect("a built magnet link parses");
        assert_eq!(again, magnet, "{built}");
    }
    // Any text after a valid topic.
    let link = format!("magnet:?xt=urn:btih:c12fe1c06bba254a9dc9f519b335aa7c1367a88a&{text}");
    if let Ok(magnet) = Magnet::parse(&link) {
        let again = Magnet::parse(&magnet.to_string()).expect("a built magnet link parses");
        assert_eq!(again, magnet);
    }
});
