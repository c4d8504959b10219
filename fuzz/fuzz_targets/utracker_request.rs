//! Tracker-side parsing of arbitrary datagrams: `Request::decode` never
//! panics and what it accepts re-encodes to a packet that decodes the same;
//! the server (with the memory store behind it) never panics and replies
//! within one datagram. A valid connection id is patched into the input, so
//! that announces and scrapes reach the store.
#![no_main]

use std::sync::Arc;
use std::time::{Duration, Instant};

use bitswarm_utracker::{
    AddressFamily, MAX_DATAGRAM, MemoryStore, Request, Response, Server, ServerConfig, StoreConfig,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(request) = Request::decode(data) {
        let mut buf = Vec::new();
        request.encode(&mut buf);
        assert_eq!(buf.len(), request.encoded_len());
        assert_eq!(Request::decode(&buf).as_ref(), Ok(&request));
    }

    let now = Instant::now();
    let store = Arc::new(MemoryStore::new(
        StoreConfig {
            shards: 1,
            rng_seed: Some(1),
            ..StoreConfig::default()
        },
        now,
    ));
    let config = ServerConfig {
        secret: Some([3; 16]),
        ..ServerConfig::default()
    };
    let mut server = Server::new(&config, store, now);
    let from = "127.0.0.1:6881".parse().unwrap();
    let mut out = Vec::new();

    // Learn this source's connection id, then present it with the input.
    let mut connect = Vec::new();
    Request::Connect(bitswarm_utracker::ConnectRequest {
        transaction_id: bitswarm_utracker::TransactionId(1),
    })
    .encode(&mut connect);
    assert!(
        server
            .handle_datagram(now, from, &connect, &mut out)
            .has_reply()
    );
    let Ok(Response::Connect(c)) = Response::decode(&out, AddressFamily::V4) else {
        panic!("the server must answer a connect");
    };
    let mut patched = data.to_vec();
    if patched.len() >= 12 && patched[8..12] != [0, 0, 0, 0] {
        patched[..8].copy_from_slice(&c.connection_id.0.to_be_bytes());
    }
    for input in [data, &patched[..]] {
        for at in [now, now + Duration::from_secs(90)] {
            let handled = server.handle_datagram(at, from, input, &mut out);
            if handled.has_reply() {
                assert!(out.len() <= MAX_DATAGRAM);
                assert!(Response::decode(&out, AddressFamily::V4).is_ok());
            } else {
                assert!(out.is_empty());
            }
        }
    }
});
