use std::net::SocketAddr;

use bitswarm_core::PieceIndex;
use bytes::Bytes;
use proptest::prelude::*;

use super::*;
use crate::Message;

fn arb_addr() -> impl Strategy<Value = SocketAddr> {
    prop_oneof![
        (any::<[u8; 4]>(), any::<u16>()).prop_map(|(ip, port)| SocketAddr::from((ip, port))),
        (any::<[u8; 16]>(), any::<u16>()).prop_map(|(ip, port)| SocketAddr::from((ip, port))),
    ]
}

proptest! {
    #[test]
    fn handshake_round_trips(
        m in proptest::collection::btree_map("[a-z_]{1,12}", any::<u8>(), 0..6),
        v in proptest::option::of("[ -~]{0,20}"),
        p in proptest::option::of(1u16..),
        reqq in proptest::option::of(any::<u32>()),
        yourip in proptest::option::of(arb_addr().prop_map(|a| a.ip())),
        metadata_size in proptest::option::of(0..=MAX_METADATA_SIZE),
        upload_only in proptest::option::of(any::<bool>()),
    ) {
        let hs = ExtensionHandshake { m, v, p, reqq, yourip, metadata_size, upload_only };
        prop_assert_eq!(ExtensionHandshake::decode(&hs.to_bytes()).unwrap(), hs);
    }

    #[test]
    fn pex_round_trips(
        added in proptest::collection::vec((arb_addr(), any::<u8>().prop_map(PexFlags)), 0..10),
        dropped in proptest::collection::vec(arb_addr(), 0..10),
    ) {
        let pex = UtPex { added, dropped };
        let back = UtPex::decode(&pex.to_bytes()).unwrap();
        // IPv4 entries come first on the wire, then IPv6.
        let order = |v: &[(SocketAddr, PexFlags)]| {
            let mut v = v.to_vec();
            v.sort_by_key(|(a, _)| a.is_ipv6());
            v
        };
        prop_assert_eq!(back.added, order(&pex.added));
        let mut d = pex.dropped;
        d.sort_by_key(SocketAddr::is_ipv6);
        prop_assert_eq!(back.dropped, d);
    }

    #[test]
    fn ut_metadata_round_trips(piece in any::<u32>(), total in 0..=MAX_METADATA_SIZE, data in proptest::collection::vec(any::<u8>(), 0..=METADATA_PIECE_SIZE), kind in 0u8..3) {
        let msg = match kind {
            0 => UtMetadata::Request { piece },
            1 => UtMetadata::Reject { piece },
            _ => UtMetadata::Data { piece, total_size: total, data: Bytes::from(data) },
        };
        prop_assert_eq!(UtMetadata::decode(msg.to_bytes()).unwrap(), msg);
    }

    #[test]
    fn typed_messages_round_trip_through_ids(piece in any::<u32>(), flag in any::<bool>()) {
        let ours = ExtensionIds::OURS;
        for msg in [
            ExtendedMessage::DontHave(DontHave(PieceIndex(piece))),
            ExtendedMessage::UploadOnly(UploadOnly(flag)),
            ExtendedMessage::UtMetadata(UtMetadata::Request { piece }),
            ExtendedMessage::Handshake(ExtensionHandshake::bitswarm(None)),
        ] {
            let Some(Message::Extended { id, payload }) = msg.to_message(&ours) else {
                panic!("supported")
            };
            prop_assert_eq!(ExtendedMessage::decode(id, payload, &ours).unwrap(), msg);
        }
    }

    #[test]
    fn arbitrary_payloads_never_panic(id in 0u8..6, payload in proptest::collection::vec(any::<u8>(), 0..200)) {
        let _ = ExtendedMessage::decode(id, Bytes::from(payload), &ExtensionIds::OURS);
    }
}

#[test]
fn unsupported_extensions_are_not_sent() {
    let none = ExtensionIds {
        ut_metadata: 0,
        ut_pex: 0,
        lt_donthave: 0,
        upload_only: 0,
    };
    assert_eq!(
        ExtendedMessage::UploadOnly(UploadOnly(true)).to_message(&none),
        None
    );
}

#[test]
fn libtorrent_style_handshake_decodes() {
    // What libtorrent 2.0 sends (abridged), with keys it adds that we ignore.
    let payload = b"d12:complete_agoi-1e1:md11:lt_donthavei7e10:share_modei8e11:upload_onlyi3e12:ut_holepunchi4e11:ut_metadatai2e6:ut_pexi1ee13:metadata_sizei1234e1:pi6881e4:reqqi500e11:upload_onlyi1e1:v18:libtorrent 2.0.8.06:yourip4:\x7f\x00\x00\x01e";
    let hs = ExtensionHandshake::decode(payload).unwrap();
    let ids = ExtensionIds::from_handshake(&hs);
    assert_eq!(
        ids,
        ExtensionIds {
            ut_metadata: 2,
            ut_pex: 1,
            lt_donthave: 7,
            upload_only: 3
        }
    );
    assert_eq!(hs.metadata_size, Some(1234));
    assert_eq!(hs.p, Some(6881));
    assert_eq!(hs.upload_only, Some(true));
    assert_eq!(hs.yourip, Some("127.0.0.1".parse().unwrap()));
    assert_eq!(hs.v.as_deref(), Some("libtorrent 2.0.8.0"));
}

#[test]
fn malformed_payloads_are_typed_errors() {
    assert!(matches!(
        ExtensionHandshake::decode(b"i1e"),
        Err(Error::Field {
            field: "(top level)",
            ..
        })
    ));
    assert!(matches!(
        ExtensionHandshake::decode(b"d1:mi1ee"),
        Err(Error::Field { field: "m", .. })
    ));
    assert!(matches!(
        ExtensionHandshake::decode(b"d1:md1:ai300eee"),
        Err(Error::Field { field: "m", .. })
    ));
    assert!(matches!(
        ExtensionHandshake::decode(b"d6:yourip3:abce"),
        Err(Error::Field {
            field: "yourip",
            ..
        })
    ));
    assert!(matches!(
        ExtensionHandshake::decode(b"d1:m"),
        Err(Error::Bencode { .. })
    ));
    assert!(matches!(
        UtMetadata::decode(Bytes::from_static(b"d8:msg_typei0ee")),
        Err(Error::Field { field: "piece", .. })
    ));
    assert!(matches!(
        UtMetadata::decode(Bytes::from_static(b"d8:msg_typei1e5:piecei0ee")),
        Err(Error::Field {
            field: "total_size",
            ..
        })
    ));
    assert!(matches!(
        UtMetadata::decode(Bytes::from_static(b"d8:msg_typei9e5:piecei0ee")),
        Err(Error::Field {
            field: "msg_type",
            ..
        })
    ));
    let mut big = b"d8:msg_typei1e5:piecei0e10:total_sizei99999ee".to_vec();
    big.resize(big.len() + METADATA_PIECE_SIZE + 1, 0);
    assert!(matches!(
        UtMetadata::decode(Bytes::from(big)),
        Err(Error::PayloadLength { .. })
    ));
    assert!(matches!(
        UtPex::decode(b"d5:added5:abcdee"),
        Err(Error::Field { field: "added", .. })
    ));
    assert!(matches!(
        DontHave::decode(b"abc"),
        Err(Error::PayloadLength { .. })
    ));
    assert!(matches!(
        UploadOnly::decode(b""),
        Err(Error::PayloadLength { .. })
    ));
}
