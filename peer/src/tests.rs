//! Round trips, every split of a stream, and hostile frames.

use bitswarm_core::{BlockRef, PieceIndex};
use bytes::{Bytes, BytesMut};
use proptest::prelude::*;
use tokio_util::codec::Decoder;

use crate::{Block, Error, HashRequest, Hashes, Message, PeerCodec, WriteBatch};

fn arb_block_ref() -> impl Strategy<Value = BlockRef> {
    (any::<u32>(), any::<u32>(), any::<u32>()).prop_map(|(p, o, l)| BlockRef {
        piece: PieceIndex(p),
        offset: o,
        length: l,
    })
}

fn arb_bytes(max: usize) -> impl Strategy<Value = Bytes> {
    proptest::collection::vec(any::<u8>(), 0..max).prop_map(Bytes::from)
}

fn arb_hash_request() -> impl Strategy<Value = HashRequest> {
    (
        any::<[u8; 32]>(),
        any::<u32>(),
        any::<u32>(),
        any::<u32>(),
        any::<u32>(),
    )
        .prop_map(
            |(pieces_root, base_layer, index, length, proof_layers)| HashRequest {
                pieces_root,
                base_layer,
                index,
                length,
                proof_layers,
            },
        )
}

pub(crate) fn arb_message() -> impl Strategy<Value = Message> {
    let piece = || any::<u32>().prop_map(PieceIndex);
    prop_oneof![
        Just(Message::KeepAlive),
        Just(Message::Choke),
        Just(Message::Unchoke),
        Just(Message::Interested),
        Just(Message::NotInterested),
        Just(Message::HaveAll),
        Just(Message::HaveNone),
        piece().prop_map(Message::Have),
        piece().prop_map(Message::Suggest),
        piece().prop_map(Message::AllowedFast),
        arb_bytes(64).prop_map(Message::Bitfield),
        arb_block_ref().prop_map(Message::Request),
        arb_block_ref().prop_map(Message::Cancel),
        arb_block_ref().prop_map(Message::Reject),
        (piece(), any::<u32>(), arb_bytes(2000)).prop_map(|(piece, offset, data)| Message::Piece(
            Block {
                piece,
                offset,
                data
            }
        )),
        any::<u16>().prop_map(Message::Port),
        (any::<u8>(), arb_bytes(200)).prop_map(|(id, payload)| Message::Extended { id, payload }),
        arb_hash_request().prop_map(Message::HashRequest),
        arb_hash_request().prop_map(Message::HashReject),
        (arb_hash_request(), 0usize..8).prop_map(|(request, n)| Message::Hashes(Hashes {
            request,
            hashes: Bytes::from(vec![0x5a; 32 * n]),
        })),
    ]
}

fn decode_all(codec: &mut PeerCodec, buf: &mut BytesMut) -> Vec<Message> {
    let mut out = Vec::new();
    while let Some(m) = codec.decode(buf).expect("valid stream") {
        out.push(m);
    }
    out
}

proptest! {
    #[test]
    fn every_message_round_trips(msg in arb_message()) {
        let bytes = msg.to_bytes();
        prop_assert_eq!(bytes.len(), msg.wire_len());
        let mut buf = BytesMut::from(&bytes[..]);
        let mut codec = PeerCodec::new(1 << 20);
        prop_assert_eq!(codec.decode(&mut buf).unwrap(), Some(msg));
        prop_assert!(buf.is_empty());
    }

    #[test]
    fn write_batch_matches_encode(msgs in proptest::collection::vec(arb_message(), 0..20)) {
        let mut batch = WriteBatch::default();
        let mut plain = BytesMut::new();
        for m in &msgs {
            batch.push(m);
            m.encode(&mut plain);
        }
        prop_assert_eq!(batch.len(), plain.len());
        prop_assert_eq!(batch.to_vec(), plain.to_vec());
    }

    #[test]
    fn write_batch_advances_across_segments(msgs in proptest::collection::vec(arb_message(), 1..10), step in 1usize..700) {
        let mut batch = WriteBatch::default();
        let mut plain = BytesMut::new();
        for m in &msgs {
            batch.push(m);
            m.encode(&mut plain);
        }
        let mut written = Vec::new();
        while !batch.is_empty() {
            let first: Vec<u8> = batch.io_slices(64).iter().flat_map(|s| s.iter().copied()).take(step).collect();
            written.extend_from_slice(&first);
            batch.advance(first.len());
        }
        prop_assert_eq!(written, plain.to_vec());
    }

    #[test]
    fn random_bytes_never_panic(input in proptest::collection::vec(any::<u8>(), 0..300)) {
        let mut codec = PeerCodec::for_torrent(100);
        let mut buf = BytesMut::from(&input[..]);
        while let Ok(Some(_)) = codec.decode(&mut buf) {}
    }
}

fn sample_stream() -> (Vec<Message>, Vec<u8>) {
    let msgs = vec![
        Message::Bitfield(Bytes::from_static(&[0xff, 0xff, 0xf0])),
        Message::Unchoke,
        Message::KeepAlive,
        Message::Request(BlockRef {
            piece: PieceIndex(3),
            offset: 0,
            length: 16384,
        }),
        Message::Piece(Block {
            piece: PieceIndex(3),
            offset: 16384,
            data: Bytes::from((0..300u32).map(|i| i as u8).collect::<Vec<_>>()),
        }),
        Message::Extended {
            id: 0,
            payload: Bytes::from_static(b"d1:md11:ut_metadatai1eee"),
        },
        Message::HaveNone,
        Message::Port(6881),
    ];
    let mut wire = BytesMut::new();
    for m in &msgs {
        m.encode(&mut wire);
    }
    (msgs, wire.to_vec())
}

#[test]
fn stream_split_at_every_byte() {
    let (msgs, wire) = sample_stream();
    for cut in 0..=wire.len() {
        let mut codec = PeerCodec::for_torrent(20);
        let mut buf = BytesMut::from(&wire[..cut]);
        let mut got = decode_all(&mut codec, &mut buf);
        buf.extend_from_slice(&wire[cut..]);
        got.extend(decode_all(&mut codec, &mut buf));
        assert_eq!(got, msgs, "cut at {cut}");
        assert!(buf.is_empty());
    }
}

#[test]
fn stream_fed_one_byte_at_a_time() {
    let (msgs, wire) = sample_stream();
    let mut codec = PeerCodec::for_torrent(20);
    let mut buf = BytesMut::new();
    let mut got = Vec::new();
    for b in wire {
        buf.extend_from_slice(&[b]);
        got.extend(decode_all(&mut codec, &mut buf));
    }
    assert_eq!(got, msgs);
}

#[test]
fn piece_data_is_a_slice_of_the_read_buffer() {
    let data = Bytes::from(vec![9u8; 16384]);
    let msg = Message::Piece(Block {
        piece: PieceIndex(0),
        offset: 0,
        data,
    });
    let mut buf = BytesMut::from(&msg.to_bytes()[..]);
    let start = buf.as_ptr() as usize;
    let Some(Message::Piece(block)) = PeerCodec::for_torrent(1).decode(&mut buf).unwrap() else {
        panic!("not a piece")
    };
    // The block points into the buffer the bytes were read into: no copy.
    assert_eq!(block.data.as_ptr() as usize, start + 13);
}

#[test]
fn hostile_frames_are_typed_errors() {
    let mut codec = PeerCodec::for_torrent(20);
    type Check = fn(&Error) -> bool;
    let cases: Vec<(&[u8], Check)> = vec![
        (b"\xff\xff\xff\xff", |e| {
            matches!(e, Error::MessageTooLong { len: u32::MAX, .. })
        }),
        (b"\x00\x00\x00\x01\x63", |e| {
            matches!(e, Error::UnknownMessage { id: 0x63 })
        }),
        (b"\x00\x00\x00\x02\x01\x00", |e| {
            matches!(
                e,
                Error::PayloadLength {
                    message: "unchoke",
                    ..
                }
            )
        }),
        (b"\x00\x00\x00\x04\x04\x00\x00\x00", |e| {
            matches!(
                e,
                Error::PayloadLength {
                    message: "have",
                    ..
                }
            )
        }),
        (b"\x00\x00\x00\x05\x07\x00\x00\x00\x00", |e| {
            matches!(
                e,
                Error::PayloadLength {
                    message: "piece",
                    ..
                }
            )
        }),
        (b"\x00\x00\x00\x01\x14", |e| {
            matches!(
                e,
                Error::PayloadLength {
                    message: "extended",
                    ..
                }
            )
        }),
        (
            b"\x00\x00\x00\x0a\x06\x00\x00\x00\x00\x00\x00\x00\x00\x00",
            |e| {
                matches!(
                    e,
                    Error::PayloadLength {
                        message: "request",
                        ..
                    }
                )
            },
        ),
        // 20 pieces need 3 bytes.
        (b"\x00\x00\x00\x03\x05\xff\xff", |e| {
            matches!(e, Error::Bitfield(_))
        }),
        // Spare bits set past piece 20.
        (b"\x00\x00\x00\x04\x05\xff\xff\xff", |e| {
            matches!(e, Error::Bitfield(_))
        }),
        (&[0, 0, 0, 50, 22, 0], |e| {
            matches!(
                e,
                Error::PayloadLength {
                    message: "hashes",
                    ..
                }
            )
        }),
    ];
    for (input, check) in cases {
        let mut full = input.to_vec();
        // Pad the hashes case to its announced length with a bad size.
        if input.len() == 6 {
            full.resize(54, 0);
        }
        let err = codec.decode(&mut BytesMut::from(&full[..])).unwrap_err();
        assert!(check(&err), "{input:?}: {err}");
    }
}

#[test]
fn length_bound_is_just_above_the_largest_legal_message() {
    let codec = PeerCodec::for_torrent(10);
    assert_eq!(codec.max_len(), crate::MAX_FIXED_MESSAGE);
    assert!(codec.max_len() >= 9 + 16384);
    // A torrent with a huge bitfield raises the bound to fit it.
    assert_eq!(PeerCodec::for_torrent(1_000_000).max_len(), 1 + 125_000);
    // One byte too many is refused before any of it is buffered.
    let mut too_long = BytesMut::new();
    too_long.extend_from_slice(&(crate::MAX_FIXED_MESSAGE + 1).to_be_bytes());
    assert!(matches!(
        PeerCodec::for_torrent(10).decode(&mut too_long),
        Err(Error::MessageTooLong { .. })
    ));
}

#[test]
fn eof_inside_a_message_is_an_error() {
    let mut buf = BytesMut::from(&b"\x00\x00\x00\x05\x04\x00"[..]);
    assert!(matches!(
        PeerCodec::for_torrent(10).decode_eof(&mut buf),
        Err(Error::Truncated { buffered: 6 })
    ));
}
