//! KRPC decoding of arbitrary datagrams: `Message::decode` never panics,
//! what it accepts re-encodes to bytes that decode to the same message, and
//! a node handed the datagram (as a query or as a reply) never panics.
#![no_main]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bitswarm_dht::{Config, Message, Node, NodeId};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(message) = Message::decode(data) {
        let bytes = message.to_bytes();
        let again = Message::decode(&bytes).expect("our own encoding decodes");
        assert_eq!(again, message);
    }
    let now = Instant::now();
    let mut node = Node::new(
        Config {
            id: Some(NodeId([7; 20])),
            seed: Some(1),
            ..Config::default()
        },
        now,
    );
    let from = SocketAddr::from(([127, 0, 0, 1], 6881));
    node.handle_datagram(now, from, data);
    node.handle_timeout(now + Duration::from_secs(3600));
    while node.poll_transmit().is_some() {}
    while node.poll_event().is_some() {}
});
