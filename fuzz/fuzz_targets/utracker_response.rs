//! Client-side parsing of arbitrary datagrams: `Response::decode` never
//! panics in either address family and what it accepts re-encodes to a
//! packet that decodes the same; the client core, fed the input as the
//! answer to its pending connect and to its pending announce, never panics
//! and finishes or keeps each request.
#![no_main]

use std::time::Instant;

use bitswarm_core::{InfoHashV1, PeerId};
use bitswarm_utracker::{
    AddressFamily, AnnounceParams, Client, ClientConfig, ConnectResponse, ConnectionId, Request,
    Response, UrlData,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for family in [AddressFamily::V4, AddressFamily::V6] {
        if let Ok(response) = Response::decode(data, family) {
            let mut buf = Vec::new();
            response.encode(family, &mut buf);
            assert_eq!(Response::decode(&buf, family).as_ref(), Ok(&response));
        }
    }

    let now = Instant::now();
    let tracker = "127.0.0.1:6969".parse().unwrap();
    let mut client = Client::new(ClientConfig {
        rng_seed: Some(5),
        ..ClientConfig::default()
    });
    let params = AnnounceParams::new(InfoHashV1([1; 20]), PeerId([2; 20]), 6881, 0);
    client
        .announce(now, tracker, UrlData::default(), params)
        .unwrap();
    let mut buf = Vec::new();
    client.poll_transmit(&mut buf).unwrap();
    let Ok(Request::Connect(connect)) = Request::decode(&buf) else {
        panic!("the first packet is a connect");
    };

    // The input as the answer to the connect, its transaction id patched in.
    let mut patched = data.to_vec();
    if patched.len() >= 8 {
        patched[4..8].copy_from_slice(&connect.transaction_id.0.to_be_bytes());
    }
    client.handle_datagram(now, tracker, &patched);
    if client.poll_event().is_some() {
        assert_eq!(client.in_flight(), 0);
        return;
    }

    // Still pending: connect properly, then answer the announce with the input.
    let mut ok = Vec::new();
    Response::Connect(ConnectResponse {
        transaction_id: connect.transaction_id,
        connection_id: ConnectionId(9),
    })
    .encode(AddressFamily::V4, &mut ok);
    client.handle_datagram(now, tracker, &ok);
    while client.poll_transmit(&mut buf).is_some() {
        if let Ok(Request::Announce(a)) = Request::decode(&buf) {
            let mut answer = data.to_vec();
            if answer.len() >= 8 {
                answer[4..8].copy_from_slice(&a.transaction_id.0.to_be_bytes());
            }
            client.handle_datagram(now, tracker, &answer);
        }
    }
    if let Some(event) = client.poll_event() {
        assert_eq!(client.in_flight(), 0);
        let _ = event.result;
    }
});
