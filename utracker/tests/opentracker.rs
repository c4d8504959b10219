//! Our client against opentracker (Debian's whitelist-only build) on 127.0.0.1.

use std::time::Duration;

use bitswarm_core::{InfoHashV1, PeerId};
use bitswarm_testkit::opentracker::Opentracker;
use bitswarm_utracker::{
    AnnounceParams, ClientConfig, DecodeError, Error, PacketKind, TrackerClient,
    TrackerClientConfig,
};

const LIMIT: Duration = Duration::from_secs(10);

async fn client() -> TrackerClient {
    TrackerClient::bind(TrackerClientConfig {
        bind_v4: Some("127.0.0.1:0".parse().unwrap()),
        bind_v6: None,
        core: ClientConfig {
            timeout: Duration::from_millis(500),
            max_retransmissions: 2,
            ..ClientConfig::default()
        },
        ..TrackerClientConfig::default()
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs opentracker / python3-libtorrent: run scripts/test-all"]
async fn announce_scrape_and_unlisted_hash_against_opentracker() {
    let listed = InfoHashV1([0x11; 20]);
    let unlisted = InfoHashV1([0x22; 20]);
    let tracker = Opentracker::start(&[listed.to_string()]).expect("opentracker must start");
    let url = tracker.udp_url();
    let client = client().await;

    let run = async {
        let mut seed = AnnounceParams::new(listed, PeerId([1; 20]), 7001, 0);
        seed.num_want = Some(50);
        let r = client.announce(&url, seed).await.expect("seeder announce");
        assert_eq!(r.seeders, 1, "{r:?}");

        let leech = AnnounceParams::new(listed, PeerId([2; 20]), 7002, 1000);
        let r = client
            .announce(&url, leech)
            .await
            .expect("leecher announce");
        assert_eq!((r.seeders, r.leechers), (1, 1), "{r:?}");
        assert!(r.interval > 0);
        assert!(
            r.peers.contains(&"127.0.0.1:7001".parse().unwrap()),
            "the leecher sees the seeder: {:?}",
            r.peers
        );

        let counts = client.scrape(&url, &[listed]).await.expect("scrape");
        assert_eq!(
            (counts[0].seeders, counts[0].leechers),
            (1, 1),
            "{counts:?}"
        );

        let err = client
            .announce(
                &url,
                AnnounceParams::new(unlisted, PeerId([3; 20]), 7003, 0),
            )
            .await
            .expect_err("opentracker does not track an unlisted hash");
        assert!(
            matches!(
                err,
                Error::BadReply {
                    reason: DecodeError::Truncated {
                        packet: PacketKind::AnnounceResponse,
                        field: "interval",
                        len: 8,
                        ..
                    },
                    ..
                }
            ),
            "{err}"
        );
    };
    if tokio::time::timeout(LIMIT, run).await.is_err() {
        panic!(
            "opentracker test timed out; its log:\n{}\n{}",
            tracker.process().stdout(),
            tracker.process().stderr()
        );
    }
}
