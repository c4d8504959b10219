//! Our client against our server over real UDP sockets on loopback, IPv4 and IPv6.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bitswarm_core::{InfoHashV1, PeerId};
use bitswarm_utracker::{
    AnnounceEvent, AnnounceParams, ClientConfig, Error, MemoryStore, StoreConfig, TrackerClient,
    TrackerClientConfig, TrackerServer, TrackerServerConfig, WorkerMode,
};

/// Every test finishes well within this, or fails.
const LIMIT: Duration = Duration::from_secs(10);

fn hash(n: u8) -> InfoHashV1 {
    InfoHashV1([n; 20])
}

async fn server(binds: &[&str], workers: usize, mode: WorkerMode) -> TrackerServer {
    let config = TrackerServerConfig {
        binds: binds.iter().map(|b| b.parse().unwrap()).collect(),
        workers,
        mode,
        ..TrackerServerConfig::default()
    };
    let store = MemoryStore::new(StoreConfig::default(), Instant::now());
    TrackerServer::bind(config, store).await.unwrap()
}

async fn client() -> TrackerClient {
    client_with_retries(2).await
}

async fn client_with_retries(max_retransmissions: u32) -> TrackerClient {
    TrackerClient::bind(TrackerClientConfig {
        bind_v4: Some("127.0.0.1:0".parse().unwrap()),
        bind_v6: Some("[::1]:0".parse().unwrap()),
        core: ClientConfig {
            timeout: Duration::from_millis(300),
            max_retransmissions,
            ..ClientConfig::default()
        },
        ..TrackerClientConfig::default()
    })
    .await
    .unwrap()
}

fn url(addr: SocketAddr) -> String {
    format!("udp://{addr}/announce")
}

async fn seeder_and_leecher(tracker: SocketAddr) {
    let client = client().await;
    let seed = client
        .announce(
            &url(tracker),
            AnnounceParams::new(hash(1), PeerId([1; 20]), 7001, 0),
        )
        .await
        .unwrap();
    assert_eq!((seed.seeders, seed.leechers), (1, 0));
    let leech = client
        .announce(
            &url(tracker),
            AnnounceParams::new(hash(1), PeerId([2; 20]), 7002, 99),
        )
        .await
        .unwrap();
    assert_eq!((leech.seeders, leech.leechers), (1, 1));
    let mut expected = tracker;
    expected.set_port(7001);
    assert_eq!(leech.peers, vec![expected]);
    let counts = client
        .scrape(&url(tracker), &[hash(1), hash(2)])
        .await
        .unwrap();
    assert_eq!((counts[0].seeders, counts[0].leechers), (1, 1));
    assert_eq!((counts[1].seeders, counts[1].leechers), (0, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_and_server_over_ipv4() {
    let server = server(&["127.0.0.1:0"], 2, WorkerMode::ReusePort).await;
    let addr = server.local_addrs()[0];
    tokio::time::timeout(LIMIT, seeder_and_leecher(addr))
        .await
        .unwrap();
    let stats = server.stats();
    assert_eq!((stats.announces, stats.scrapes), (2, 1));
    assert_eq!((stats.swarms, stats.peers), (1, 2));
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_and_server_over_ipv6() {
    let server = server(&["[::1]:0"], 1, WorkerMode::ReusePort).await;
    let addr = server.local_addrs()[0];
    assert!(addr.is_ipv6());
    tokio::time::timeout(LIMIT, seeder_and_leecher(addr))
        .await
        .unwrap();
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_server_on_both_families_keeps_their_peers_apart() {
    let server = server(&["127.0.0.1:0", "[::1]:0"], 2, WorkerMode::SharedSocket).await;
    let (v4, v6) = (server.local_addrs()[0], server.local_addrs()[1]);
    let client = client().await;
    let run = async {
        client
            .announce(
                &url(v4),
                AnnounceParams::new(hash(3), PeerId([1; 20]), 7001, 0),
            )
            .await
            .unwrap();
        let from_v6 = client
            .announce(
                &url(v6),
                AnnounceParams::new(hash(3), PeerId([2; 20]), 7002, 5),
            )
            .await
            .unwrap();
        assert!(from_v6.peers.is_empty(), "{:?}", from_v6.peers);
        assert_eq!((from_v6.seeders, from_v6.leechers), (1, 1));
        let from_v4 = client
            .announce(
                &url(v4),
                AnnounceParams::new(hash(3), PeerId([3; 20]), 7003, 5),
            )
            .await
            .unwrap();
        assert_eq!(from_v4.peers, vec!["127.0.0.1:7001".parse().unwrap()]);
    };
    tokio::time::timeout(LIMIT, run).await.unwrap();
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thousands_of_requests_in_flight_from_one_handle() {
    let server = server(&["127.0.0.1:0"], 2, WorkerMode::ReusePort).await;
    let addr = server.local_addrs()[0];
    // 0.3 + 0.6 + 1.2 + 2.4 s of retransmission timeouts at most.
    let client = client_with_retries(3).await;
    let run = async {
        let mut tasks = Vec::new();
        for i in 0..3000u32 {
            let client = client.clone();
            let url = url(addr);
            tasks.push(tokio::spawn(async move {
                let mut params = AnnounceParams::new(hash((i % 50) as u8), PeerId([0; 20]), 0, 1);
                params.port = 10_000 + i as u16;
                params.event = AnnounceEvent::Started;
                client.announce(&url, params).await
            }));
        }
        let mut ok = 0;
        for t in tasks {
            // Loopback can drop a datagram under a burst; a retransmission
            // then covers it, within the short timeouts of this test.
            if t.await.unwrap().is_ok() {
                ok += 1;
            }
        }
        ok
    };
    let ok = tokio::time::timeout(LIMIT, run).await.unwrap();
    assert_eq!(ok, 3000);
    assert_eq!(server.stats().peers, 3000);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_tracker_times_out_with_a_typed_error() {
    // A bound socket that never answers.
    let silent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = silent.local_addr().unwrap();
    let client = client().await;
    let err = tokio::time::timeout(
        LIMIT,
        client.announce(
            &url(addr),
            AnnounceParams::new(hash(1), PeerId([1; 20]), 1, 0),
        ),
    )
    .await
    .unwrap()
    .unwrap_err();
    assert!(
        matches!(err, Error::Timeout { attempts: 3, tracker } if tracker == addr),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_the_future_cancels_and_the_client_goes_on() {
    let silent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let silent_addr = silent.local_addr().unwrap();
    let server = server(&["127.0.0.1:0"], 1, WorkerMode::ReusePort).await;
    let client = client().await;
    let params = AnnounceParams::new(hash(1), PeerId([1; 20]), 1, 0);
    let dropped = tokio::time::timeout(
        Duration::from_millis(50),
        client.announce(&url(silent_addr), params.clone()),
    )
    .await;
    assert!(dropped.is_err(), "the silent tracker cannot have answered");
    let reply = tokio::time::timeout(
        LIMIT,
        client.announce(&url(server.local_addrs()[0]), params),
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(reply.seeders, 1);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_urls_and_refusals_are_typed_errors() {
    let allowed = [hash(1)].into_iter().collect();
    let store = MemoryStore::new(
        StoreConfig {
            access: bitswarm_utracker::AccessList::Allow(allowed),
            ..StoreConfig::default()
        },
        Instant::now(),
    );
    let server = TrackerServer::bind(TrackerServerConfig::default(), Arc::new(store))
        .await
        .unwrap();
    let client = client().await;
    let params = AnnounceParams::new(hash(2), PeerId([1; 20]), 1, 0);
    let err = client
        .announce("http://127.0.0.1:1/announce", params.clone())
        .await;
    assert!(matches!(err, Err(Error::Url { .. })));
    let err = tokio::time::timeout(
        LIMIT,
        client.announce(&url(server.local_addrs()[0]), params),
    )
    .await
    .unwrap()
    .unwrap_err();
    assert!(
        matches!(err, Error::Tracker { ref message, .. } if message.contains("not tracked")),
        "{err}"
    );
    assert_eq!(server.stats().refused, 1);
    server.shutdown().await;
}
