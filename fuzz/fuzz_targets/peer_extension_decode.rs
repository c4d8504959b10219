//! Extended message payloads (BEP 10 handshake, BEP 9 ut_metadata, BEP 11
//! ut_pex, BEP 54 lt_donthave, BEP 21 upload_only) from arbitrary bytes: no
//! panic, and what decodes re-encodes to a payload that decodes the same.
//! The first byte is the extended id (0 = handshake, 1..=4 our ids).
#![no_main]

use bitswarm_peer::Message;
use bitswarm_peer::extension::{ExtendedMessage, ExtensionIds};
use bytes::Bytes;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&id, payload)) = data.split_first() else {
        return;
    };
    let ours = ExtensionIds::OURS;
    let id = id % 6;
    if let Ok(msg) = ExtendedMessage::decode(id, Bytes::copy_from_slice(payload), &ours) {
        let Some(Message::Extended { id: id2, payload: again }) = msg.to_message(&ours) else {
            panic!("our own ids are all supported");
        };
        assert_eq!(id2, id);
        let back = ExtendedMessage::decode(id2, again, &ours).expect("re-encoded payload decodes");
        assert_eq!(back, msg);
    }
});
