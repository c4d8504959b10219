//! Arbitrary bytes as a .torrent and as BEP 9 metadata: never a panic, and
//! whatever is accepted is consistent: hashes over the raw info span, every
//! path component safe, piece spans inside the files, offsets in order.
#![no_main]

use bitswarm_metainfo::Metainfo;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(m) = Metainfo::from_bytes(data) {
        check(&m);
        assert_eq!(&m.as_bytes()[..], data);
        // The info dictionary alone, as BEP 9 delivers it, gives the same
        // torrent, and hashes (SHA-1 or SHA-256 of the raw span) to its
        // info-hash.
        let again = Metainfo::from_info_bytes(&m.info_bytes(), m.info_hash())
            .expect("an accepted info dictionary is accepted again over BEP 9");
        assert_eq!(again.files(), m.files());
        // Its magnet link parses back to the same hashes.
        let magnet = m.magnet();
        let parsed: bitswarm_metainfo::Magnet =
            magnet.to_string().parse().expect("our magnet parses");
        assert_eq!(parsed.info_hash_v1, m.info_hash_v1());
        assert_eq!(parsed.info_hash_v2, m.info_hash_v2());
    }
    if let Ok(m) = Metainfo::from_info_bytes_unchecked(data) {
        check(&m);
    }
});

fn check(m: &Metainfo) {
    let layout = m.layout();
    let mut end = 0;
    for (i, f) in m.files().iter().enumerate() {
        assert!(f.offset() >= end, "files in stream order");
        end = f.end();
        for c in f.path().components() {
            assert!(!c.is_empty() && c != "." && c != "..");
            assert!(!c.contains(['/', '\\', '\0']));
        }
        let p = m.file_path_in(std::path::Path::new("/dl"), i).unwrap();
        assert!(p.starts_with("/dl"));
    }
    assert_eq!(layout.stream_length(), end);
    assert_eq!(u64::from(m.num_pieces()), end.div_ceil(m.piece_length()));
    // A few pieces at each end: their spans lie inside their files.
    let n = m.num_pieces();
    for p in (0..n.min(4)).chain(n.saturating_sub(4)..n) {
        let mut size = 0;
        for span in layout.piece_spans(p).unwrap() {
            let f = &m.files()[span.file];
            assert!(span.file_offset + span.length <= f.length());
            size += span.length;
        }
        assert!(size <= m.piece_length());
        let _ = m.v2_piece(p);
    }
}
