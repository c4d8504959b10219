//! Codec throughput on piece messages, in process: encode 64 blocks of
//! 16 KiB into a write batch (block data not copied), copy the batch into a
//! read buffer (the one copy a socket read makes), decode every message
//! (block data handed on as slices of that buffer).
//!
//! ```text
//! cargo bench -p bitswarm-peer --bench codec
//! ```

use std::time::Duration;

use bitswarm_core::{BLOCK_SIZE, PieceIndex};
use bitswarm_peer::{Block, Message, PeerCodec, WriteBatch};
use bytes::{Bytes, BytesMut};
use criterion::{Criterion, Throughput, black_box, criterion_group, criterion_main};

use tokio_util::codec::Decoder;

const BLOCKS: usize = 64;

fn blocks() -> Vec<Message> {
    let data = Bytes::from(vec![0xa5u8; BLOCKS * BLOCK_SIZE as usize]);
    (0..BLOCKS)
        .map(|i| {
            let start = i * BLOCK_SIZE as usize;
            Message::Piece(Block {
                piece: PieceIndex((i / 16) as u32),
                offset: (i % 16) as u32 * BLOCK_SIZE,
                data: data.slice(start..start + BLOCK_SIZE as usize),
            })
        })
        .collect()
}

fn codec(c: &mut Criterion) {
    let msgs = blocks();
    let wire_len: usize = msgs.iter().map(Message::wire_len).sum();
    let mut group = c.benchmark_group("piece_messages");
    group.throughput(Throughput::Bytes(wire_len as u64));

    group.bench_function("encode_write_batch", |b| {
        let mut batch = WriteBatch::default();
        b.iter(|| {
            for m in &msgs {
                batch.push(m);
            }
            black_box(batch.segments().count());
            batch.clear();
        });
    });

    let mut wire = BytesMut::new();
    for m in &msgs {
        m.encode(&mut wire);
    }
    let wire = wire.freeze();
    group.bench_function("decode", |b| {
        let mut codec = PeerCodec::for_torrent(4);
        b.iter(|| {
            let mut buf = BytesMut::from(&wire[..]);
            let mut n = 0;
            while let Some(Message::Piece(block)) = codec.decode(&mut buf).unwrap() {
                n += block.data.len();
            }
            assert_eq!(n, BLOCKS * BLOCK_SIZE as usize);
        });
    });

    group.bench_function("encode_copy_into_read_buffer_decode", |b| {
        let mut codec = PeerCodec::for_torrent(4);
        let mut batch = WriteBatch::default();
        b.iter(|| {
            for m in &msgs {
                batch.push(m);
            }
            // Stands for the socket: the only copy of each block.
            let mut buf = BytesMut::with_capacity(wire_len);
            for s in batch.segments() {
                buf.extend_from_slice(s);
            }
            batch.clear();
            let mut n = 0;
            while let Some(Message::Piece(block)) = codec.decode(&mut buf).unwrap() {
                n += block.data.len();
            }
            assert_eq!(n, BLOCKS * BLOCK_SIZE as usize);
        });
    });
    group.finish();
}

// The macro generates an undocumented function.
#[allow(missing_docs)]
mod group {
    use super::*;

    criterion_group! {
        name = benches;
        config = Criterion::default()
            .warm_up_time(Duration::from_secs(1))
            .measurement_time(Duration::from_secs(3));
        targets = codec
    }
}
criterion_main!(group::benches);
