//! The peer wire codec on an arbitrary stream: no panic, no allocation past
//! the length bound; every decoded message re-encodes to exactly the bytes
//! it came from; the stream decodes the same when split in two anywhere.
//! The first byte picks the piece count (0 = unknown) so that the bitfield
//! checks run too.
#![no_main]

use bitswarm_peer::{Message, PeerCodec};
use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use tokio_util::codec::Decoder;

fn run(codec: &mut PeerCodec, parts: &[&[u8]]) -> (Vec<Message>, bool) {
    let mut buf = BytesMut::new();
    let mut out = Vec::new();
    for part in parts {
        buf.extend_from_slice(part);
        loop {
            match codec.decode(&mut buf) {
                Ok(Some(m)) => out.push(m),
                Ok(None) => break,
                Err(_) => return (out, true),
            }
        }
    }
    (out, false)
}

fuzz_target!(|data: &[u8]| {
    let Some((&pieces, stream)) = data.split_first() else {
        return;
    };
    let make = || {
        if pieces == 0 {
            PeerCodec::new(1 << 16)
        } else {
            PeerCodec::for_torrent(u32::from(pieces) * 7)
        }
    };
    let (whole, failed) = run(&mut make(), &[stream]);
    let mut consumed = 0;
    for m in &whole {
        let bytes = m.to_bytes();
        assert_eq!(bytes.len(), m.wire_len());
        assert_eq!(&stream[consumed..consumed + bytes.len()], &bytes[..]);
        consumed += bytes.len();
    }
    let cut = stream.len() / 2 + usize::from(pieces) % 3;
    if cut <= stream.len() {
        let (split, split_failed) = run(&mut make(), &[&stream[..cut], &stream[cut..]]);
        assert_eq!(split, whole);
        assert_eq!(split_failed, failed);
    }
});
