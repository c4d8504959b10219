//! HTTP tracker replies from the network, as announce and scrape replies:
//! never a panic; an accepted announce has only usable peer addresses and
//! bounded messages; a failure reason fails both readings alike.
#![no_main]

use bitswarm_core::InfoHashV1;
use bitswarm_session::tracker::{TrackerError, decode_http_announce, decode_http_scrape};
use libfuzzer_sys::fuzz_target;

/// The longest failure reason or warning the parser keeps, in bytes, once
/// lossily decoded (each byte becomes at most 3 bytes of UTF-8).
const MAX_MESSAGE: usize = 512 * 3;

fuzz_target!(|data: &[u8]| {
    let announce = decode_http_announce(data);
    match &announce {
        Ok(reply) => {
            for peer in &reply.peers {
                assert_ne!(peer.port(), 0, "a peer without a port: {peer}");
            }
            assert!(reply.peers.len() <= data.len(), "more peers than bytes");
            if let Some(min) = reply.min_interval {
                assert!(min.as_secs() <= u64::from(u32::MAX));
            }
            assert!(reply.interval.as_secs() <= u64::from(u32::MAX));
            if let Some(w) = &reply.warning {
                assert!(w.len() <= MAX_MESSAGE);
            }
        }
        Err(TrackerError::Failure { reason, .. }) => assert!(reason.len() <= MAX_MESSAGE),
        Err(TrackerError::BadResponse { .. }) => {}
        Err(e) => panic!("unexpected error kind: {e}"),
    }

    // The hash of the first torrent listed, when the input has 20 bytes for
    // it, else a fixed one.
    let hash = data
        .windows(23)
        .find(|w| w.starts_with(b"20:"))
        .and_then(|w| <[u8; 20]>::try_from(&w[3..]).ok())
        .map_or(InfoHashV1([0x61; 20]), InfoHashV1);
    let scrape = decode_http_scrape(data, hash);
    match &scrape {
        Ok(_) | Err(TrackerError::BadResponse { .. } | TrackerError::Failure { .. }) => {}
        Err(e) => panic!("unexpected error kind: {e}"),
    }
    // Both read the same top-level dictionary first: a failure reason is
    // seen by both or by neither, and says the same.
    let failure = |r: Option<&TrackerError>| match r {
        Some(TrackerError::Failure { reason, .. }) => Some(reason.clone()),
        _ => None,
    };
    assert_eq!(
        failure(announce.as_ref().err()),
        failure(scrape.as_ref().err()),
        "announce and scrape disagree on the failure reason"
    );
});
