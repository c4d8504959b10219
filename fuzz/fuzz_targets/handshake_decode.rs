//! The BEP 3 handshake decoder on arbitrary bytes: no panic; a partial read
//! of a valid handshake asks for more, never errs; what decodes re-encodes to
//! the same 68 bytes; the streaming codec agrees with the one-shot decoder.
#![no_main]

use bitswarm_handshake::{HANDSHAKE_LEN, Handshake, HandshakeCodec, HandshakePrefix};
use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use tokio_util::codec::Decoder;

fuzz_target!(|data: &[u8]| {
    let one_shot = Handshake::decode(data);
    let _ = HandshakePrefix::decode(data);
    if let Ok(Some(hs)) = &one_shot {
        assert_eq!(&hs.to_bytes()[..], &data[..HANDSHAKE_LEN]);
        for cut in 0..HANDSHAKE_LEN {
            assert!(matches!(Handshake::decode(&data[..cut]), Ok(None)));
        }
    }
    let mut codec = HandshakeCodec;
    let mut buf = BytesMut::from(data);
    match codec.decode_eof(&mut buf) {
        Ok(Some(hs)) => assert_eq!(Some(hs), one_shot.ok().flatten()),
        Ok(None) => assert!(data.is_empty()),
        Err(_) => assert!(!matches!(one_shot, Ok(Some(_)))),
    }
});
