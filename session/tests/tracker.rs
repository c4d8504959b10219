//! The tracker client against a small HTTP tracker written here (canned
//! replies, query checked byte for byte), bitswarm's own UDP tracker, and
//! opentracker over HTTP and UDP.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bitswarm_bencode::{Encode, dict, list};
use bitswarm_core::{InfoHashV1, PeerId};
use bitswarm_session::tracker::{
    AnnounceEvent, AnnounceRequest, ScrapeCounts, TrackerClient, TrackerClientConfig, TrackerError,
    TrackerTiers,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// An info-hash with every awkward byte: NUL, space, `%`, `&`, `=`, `+`,
/// `?`, `/`, `#`, bytes above 0x7f.
const HASH: InfoHashV1 = InfoHashV1(*b"\x00 %&=+?/#\x7f\x80\xff\xfeAz0-._~");
const PEER: PeerId = PeerId(*b"-BW0100-\x00\x01\xff %&=+?/#~");

fn request(port: u16) -> AnnounceRequest {
    AnnounceRequest {
        info_hash: HASH,
        peer_id: PEER,
        port,
        uploaded: 11,
        downloaded: 22,
        left: 33,
        event: AnnounceEvent::Started,
        num_want: 40,
    }
}

/// What the test tracker answers.
#[derive(Clone)]
enum Reply {
    /// 200 with this body, with a Content-Length.
    Body(Vec<u8>),
    /// This status and body.
    Status(u16, Vec<u8>),
    /// 200 with this body and no Content-Length: the end is the close.
    Unsized(Vec<u8>),
    /// Waits this long before answering `Body`.
    Slow(Duration, Vec<u8>),
    /// 302 to this location.
    Redirect(String),
    /// 302 to itself.
    RedirectLoop,
}

/// A one-route HTTP/1.1 tracker on 127.0.0.1 that records each request
/// target (path and query) and answers every request with `reply`.
struct HttpTracker {
    addr: SocketAddr,
    seen: Arc<Mutex<Vec<String>>>,
}

impl HttpTracker {
    async fn start(reply: Reply) -> Self {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&seen);
        tokio::spawn(async move {
            while let Ok((mut io, _)) = listener.accept().await {
                let reply = reply.clone();
                let log = Arc::clone(&log);
                tokio::spawn(async move {
                    // The request head, bounded.
                    let mut head = Vec::new();
                    let mut buf = [0u8; 1024];
                    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 16384 {
                        match io.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => head.extend_from_slice(&buf[..n]),
                        }
                    }
                    let head = String::from_utf8_lossy(&head).into_owned();
                    let target = head.split(' ').nth(1).unwrap_or_default().to_owned();
                    log.lock().unwrap().push(target);
                    let mut location = None;
                    let (status, body, sized) = match reply {
                        Reply::Redirect(to) => {
                            location = Some(to);
                            (302, Vec::new(), true)
                        }
                        Reply::RedirectLoop => {
                            location = Some(format!("http://{addr}/again"));
                            (302, Vec::new(), true)
                        }
                        Reply::Body(b) => (200, b, true),
                        Reply::Status(s, b) => (s, b, true),
                        Reply::Unsized(b) => (200, b, false),
                        Reply::Slow(d, b) => {
                            tokio::time::sleep(d).await;
                            (200, b, true)
                        }
                    };
                    let mut out = format!("HTTP/1.1 {status} X\r\nContent-Type: text/plain\r\n");
                    if let Some(to) = location {
                        out.push_str(&format!("Location: {to}\r\n"));
                    }
                    if sized {
                        out.push_str(&format!("Content-Length: {}\r\n", body.len()));
                    }
                    out.push_str("Connection: close\r\n\r\n");
                    let _ = io.write_all(out.as_bytes()).await;
                    let _ = io.write_all(&body).await;
                    let _ = io.shutdown().await;
                });
            }
        });
        Self { addr, seen }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    fn seen(&self) -> Vec<String> {
        self.seen.lock().unwrap().clone()
    }
}

/// Decodes `%XX` escapes into raw bytes (no `+` for space: BEP 3 clients
/// escape every byte that is not unreserved).
fn percent_decode(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            let hex = std::str::from_utf8(&b[i + 1..i + 3]).unwrap();
            out.push(u8::from_str_radix(hex, 16).unwrap());
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    out
}

/// The query of a request target as (name, raw value) pairs.
fn query(target: &str) -> Vec<(String, Vec<u8>)> {
    let (_, q) = target.split_once('?').expect("a query");
    q.split('&')
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            // Every byte must be unreserved or escaped.
            assert!(
                v.bytes()
                    .all(|c| c.is_ascii_alphanumeric() || b"-._~%".contains(&c)),
                "{k}={v} is not fully escaped"
            );
            (k.to_owned(), percent_decode(v))
        })
        .collect()
}

fn field<'a>(q: &'a [(String, Vec<u8>)], name: &str) -> Option<&'a [u8]> {
    q.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_slice())
}

async fn client() -> TrackerClient {
    TrackerClient::with_config(
        &["127.0.0.1:0".parse().unwrap()],
        TrackerClientConfig {
            http_timeout: Duration::from_secs(2),
            udp_timeout: Duration::from_millis(300),
            udp_retransmissions: 1,
            ..TrackerClientConfig::default()
        },
    )
    .await
    .unwrap()
}

/// A local port that refuses connections.
async fn closed_port() -> u16 {
    let l = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await.unwrap();
    l.local_addr().unwrap().port()
}

#[tokio::test]
async fn http_announce_sends_raw_bytes_and_reads_compact_peers() {
    let body = dict! {
        "complete" => 3,
        "incomplete" => 4,
        "interval" => 1800,
        "min interval" => 30,
        "peers" => vec![127u8, 0, 0, 1, 0x1a, 0xe1, 10, 1, 2, 3, 0xc8, 0xd5],
    }
    .to_bencode();
    let tracker = HttpTracker::start(Reply::Body(body)).await;
    let client = client().await;
    let url = tracker.url("/announce?passkey=s3cr%2Ft");
    let r = client.announce(&url, &request(6881)).await.unwrap();
    assert_eq!(r.interval, Duration::from_secs(1800));
    assert_eq!(r.min_interval, Some(Duration::from_secs(30)));
    assert_eq!((r.seeders, r.leechers), (Some(3), Some(4)));
    assert_eq!(
        r.peers,
        vec![
            "127.0.0.1:6881".parse::<SocketAddr>().unwrap(),
            "10.1.2.3:51413".parse().unwrap()
        ]
    );

    let seen = tracker.seen();
    assert_eq!(seen.len(), 1);
    assert!(
        seen[0].starts_with("/announce?passkey=s3cr%2Ft&"),
        "{}",
        seen[0]
    );
    let q = query(&seen[0]);
    assert_eq!(field(&q, "passkey"), Some(&b"s3cr/t"[..]));
    assert_eq!(field(&q, "info_hash"), Some(&HASH.0[..]));
    assert_eq!(field(&q, "peer_id"), Some(&PEER.0[..]));
    for (name, value) in [
        ("port", "6881"),
        ("uploaded", "11"),
        ("downloaded", "22"),
        ("left", "33"),
        ("compact", "1"),
        ("event", "started"),
        ("numwant", "40"),
    ] {
        assert_eq!(field(&q, name), Some(value.as_bytes()), "{name}");
    }
    let key = field(&q, "key").expect("a key").to_vec();

    // A regular announce sends no event and the same key.
    let mut again = request(6881);
    again.event = AnnounceEvent::None;
    client.announce(&url, &again).await.unwrap();
    let q = query(&tracker.seen()[1]);
    assert_eq!(field(&q, "event"), None);
    assert_eq!(field(&q, "key"), Some(&key[..]));
}

#[tokio::test]
async fn http_announce_reads_dictionary_and_ipv6_peers() {
    let mut peers6 = vec![0u8; 15];
    peers6.push(1);
    peers6.extend_from_slice(&6969u16.to_be_bytes());
    let body = dict! {
        "interval" => 60,
        "peers" => list![
            dict! { "ip" => "192.0.2.1", "peer id" => vec![1u8; 20], "port" => 7000 },
            dict! { "ip" => "2001:db8::2", "port" => 7001 },
        ],
        "peers6" => peers6,
        "warning message" => "be nice",
    }
    .to_bencode();
    let tracker = HttpTracker::start(Reply::Body(body)).await;
    let r = client()
        .await
        .announce(&tracker.url("/announce"), &request(1))
        .await
        .unwrap();
    assert_eq!(
        r.peers,
        vec![
            "192.0.2.1:7000".parse::<SocketAddr>().unwrap(),
            "[2001:db8::2]:7001".parse().unwrap(),
            "[::1]:6969".parse().unwrap(),
        ]
    );
    assert_eq!(r.warning.as_deref(), Some("be nice"));
    assert_eq!((r.seeders, r.leechers), (None, None));
}

#[tokio::test]
async fn http_failures_are_typed_errors() {
    let client = client().await;
    let failure = dict! { "failure reason" => "torrent not registered" }.to_bencode();

    let t = HttpTracker::start(Reply::Body(failure.clone())).await;
    let err = client
        .announce(&t.url("/announce"), &request(1))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, TrackerError::Failure { reason, .. } if reason == "torrent not registered"),
        "{err}"
    );

    // The reason is read even with an error status.
    let t = HttpTracker::start(Reply::Status(400, failure)).await;
    let err = client
        .announce(&t.url("/announce"), &request(1))
        .await
        .unwrap_err();
    assert!(matches!(err, TrackerError::Failure { .. }), "{err}");

    let t = HttpTracker::start(Reply::Status(404, b"not found".to_vec())).await;
    let err = client
        .announce(&t.url("/announce"), &request(1))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, TrackerError::BadResponse { reason, .. } if reason.contains("404")),
        "{err}"
    );

    let t = HttpTracker::start(Reply::Status(503, Vec::new())).await;
    let err = client
        .announce(&t.url("/announce"), &request(1))
        .await
        .unwrap_err();
    assert!(matches!(err, TrackerError::Unreachable { .. }), "{err}");

    let t = HttpTracker::start(Reply::Body(b"<html>hello</html>".to_vec())).await;
    let err = client
        .announce(&t.url("/announce"), &request(1))
        .await
        .unwrap_err();
    assert!(matches!(err, TrackerError::BadResponse { .. }), "{err}");

    // Compact peers cut in the middle of an entry.
    let t = HttpTracker::start(Reply::Body(b"d8:intervali60e5:peers7:abcdefge".to_vec())).await;
    let err = client
        .announce(&t.url("/announce"), &request(1))
        .await
        .unwrap_err();
    assert!(matches!(err, TrackerError::BadResponse { .. }), "{err}");

    let port = closed_port().await;
    let err = client
        .announce(&format!("http://127.0.0.1:{port}/announce"), &request(1))
        .await
        .unwrap_err();
    assert!(matches!(err, TrackerError::Unreachable { .. }), "{err}");

    for url in ["ftp://127.0.0.1/announce", "wss://x/announce", "not a url"] {
        let err = client.announce(url, &request(1)).await.unwrap_err();
        assert!(matches!(err, TrackerError::BadUrl(_)), "{url}: {err}");
    }
}

#[tokio::test]
async fn redirects_are_followed_to_http_only() {
    let client = client().await;
    let ok = dict! { "interval" => 60, "peers" => vec![10u8, 0, 0, 7, 0, 81] }.to_bencode();
    let target = HttpTracker::start(Reply::Body(ok)).await;
    let redirect = HttpTracker::start(Reply::Redirect(target.url("/announce?via=302"))).await;
    let r = client
        .announce(&redirect.url("/announce"), &request(1))
        .await
        .unwrap();
    assert_eq!(r.peers, vec!["10.0.0.7:81".parse::<SocketAddr>().unwrap()]);
    assert!(
        target.seen()[0].starts_with("/announce?via=302"),
        "{:?}",
        target.seen()
    );

    // Not to another scheme: the redirect itself is the answer, and it is not one.
    let elsewhere = HttpTracker::start(Reply::Redirect("file:///etc/passwd".into())).await;
    let err = client
        .announce(&elsewhere.url("/announce"), &request(1))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, TrackerError::BadResponse { reason, .. } if reason.contains("302")),
        "{err}"
    );

    // Not forever.
    let looping = HttpTracker::start(Reply::RedirectLoop).await;
    let err = client
        .announce(&looping.url("/announce"), &request(1))
        .await
        .unwrap_err();
    // The first request and the redirects allowed, no more.
    let allowed = TrackerClientConfig::default().max_redirects;
    assert_eq!(looping.seen().len(), 1 + allowed, "{:?}", looping.seen());
    assert!(matches!(err, TrackerError::Unreachable { .. }), "{err}");
}

#[tokio::test]
async fn oversize_replies_are_refused_with_or_without_a_length() {
    let client = TrackerClient::with_config(
        &[],
        TrackerClientConfig {
            max_response_len: 64 << 10,
            ..TrackerClientConfig::default()
        },
    )
    .await
    .unwrap();
    // A valid reply, only too long: 100,000 compact peers.
    let big = dict! { "interval" => 60, "peers" => vec![1u8; 600_000] }.to_bencode();
    for reply in [Reply::Body(big.clone()), Reply::Unsized(big)] {
        let t = HttpTracker::start(reply).await;
        let err = client
            .announce(&t.url("/announce"), &request(1))
            .await
            .unwrap_err();
        assert!(
            matches!(&err, TrackerError::BadResponse { reason, .. } if reason.contains("longer than")),
            "{err}"
        );
    }
}

#[tokio::test]
async fn a_slow_tracker_times_out() {
    let body = dict! { "interval" => 60, "peers" => Vec::<u8>::new() }.to_bencode();
    let t = HttpTracker::start(Reply::Slow(Duration::from_secs(30), body)).await;
    let client = TrackerClient::with_config(
        &[],
        TrackerClientConfig {
            http_timeout: Duration::from_millis(300),
            ..TrackerClientConfig::default()
        },
    )
    .await
    .unwrap();
    let err = client
        .announce(&t.url("/announce"), &request(1))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, TrackerError::Unreachable { reason, .. } if reason.contains("timed out")),
        "{err}"
    );
}

#[tokio::test]
async fn http_scrape_follows_bep_48() {
    let body = dict! {
        "files" => dict! {
            HASH.0 => dict! { "complete" => 5, "downloaded" => 50, "incomplete" => 6 },
        },
    }
    .to_bencode();
    let t = HttpTracker::start(Reply::Body(body)).await;
    let client = client().await;
    let counts = client
        .scrape(&t.url("/x/announce.php?k=v"), HASH)
        .await
        .unwrap();
    assert_eq!(
        counts,
        ScrapeCounts {
            complete: 5,
            downloaded: 50,
            incomplete: 6
        }
    );
    let seen = t.seen();
    assert!(
        seen[0].starts_with("/x/scrape.php?k=v&info_hash="),
        "{}",
        seen[0]
    );
    assert_eq!(field(&query(&seen[0]), "info_hash"), Some(&HASH.0[..]));

    let err = client.scrape(&t.url("/tracker"), HASH).await.unwrap_err();
    assert!(matches!(err, TrackerError::ScrapeUnsupported(_)), "{err}");
    assert_eq!(t.seen().len(), 1, "no request without a scrape URL");
}

#[tokio::test]
async fn tiers_fall_over_and_promote_the_tracker_that_answered() {
    let ok = dict! { "interval" => 60, "peers" => vec![10u8, 0, 0, 9, 0, 80] }.to_bencode();
    let good = HttpTracker::start(Reply::Body(ok)).await;
    let bad = HttpTracker::start(Reply::Body(b"garbage".to_vec())).await;
    let slow = HttpTracker::start(Reply::Slow(Duration::from_secs(30), Vec::new())).await;
    let refused = format!("http://127.0.0.1:{}/announce", closed_port().await);
    let client = client().await;

    // One tier: whichever order the shuffle gave, the good tracker ends up
    // first and is asked alone next time.
    let tier = vec![
        bad.url("/announce"),
        refused.clone(),
        slow.url("/announce"),
        good.url("/announce"),
    ];
    let mut tiers = TrackerTiers::new(vec![tier]).with_attempt_timeout(Duration::from_millis(500));
    let r = tiers.announce(&client, &request(1)).await.unwrap();
    assert_eq!(r.peers, vec!["10.0.0.9:80".parse::<SocketAddr>().unwrap()]);
    assert_eq!(tiers.tiers()[0][0], good.url("/announce"));
    assert_eq!(tiers.tiers()[0].len(), 4);
    let asked = (bad.seen().len(), slow.seen().len());
    tiers.announce(&client, &request(1)).await.unwrap();
    assert_eq!((bad.seen().len(), slow.seen().len()), asked);
    assert_eq!(good.seen().len(), 2);

    // Across tiers: the first tier fails, the second answers; tiers keep
    // their order.
    let mut tiers = TrackerTiers::new(vec![
        vec![bad.url("/announce")],
        vec![good.url("/announce")],
    ]);
    tiers.announce(&client, &request(1)).await.unwrap();
    assert_eq!(
        tiers.tiers(),
        &[vec![bad.url("/announce")], vec![good.url("/announce")]]
    );

    // All failing: the last error.
    let failing = HttpTracker::start(Reply::Body(
        dict! { "failure reason" => "go away" }.to_bencode(),
    ))
    .await;
    let mut tiers = TrackerTiers::new(vec![vec![refused], vec![failing.url("/announce")]]);
    let err = tiers.announce(&client, &request(1)).await.unwrap_err();
    assert!(matches!(err, TrackerError::Failure { .. }), "{err}");

    let mut none = TrackerTiers::new(vec![vec![], vec![String::new()]]);
    assert!(none.is_empty());
    assert_eq!(
        none.announce(&client, &request(1)).await.unwrap_err(),
        TrackerError::AllFailed
    );
}

#[tokio::test]
async fn udp_against_bitswarm_utracker() {
    use bitswarm_utracker::{MemoryStore, StoreConfig, TrackerServer, TrackerServerConfig};
    let store = MemoryStore::new(
        StoreConfig {
            interval: 120,
            ..StoreConfig::default()
        },
        Instant::now(),
    );
    let server = TrackerServer::bind(
        TrackerServerConfig {
            workers: 1,
            ..TrackerServerConfig::default()
        },
        store,
    )
    .await
    .unwrap();
    let url = format!("udp://{}/announce", server.local_addrs()[0]);
    let ours = client().await;

    let mut seeder = request(7001);
    seeder.peer_id = PeerId([1; 20]);
    seeder.left = 0;
    let first = ours.announce(&url, &seeder).await.unwrap();
    assert_eq!(first.interval, Duration::from_secs(120));
    assert_eq!(first.seeders, Some(1));

    let other = client().await;
    let leecher = request(7002);
    let r = other.announce(&url, &leecher).await.unwrap();
    assert_eq!((r.seeders, r.leechers), (Some(1), Some(1)));
    let client_addr = ours.udp_local_addrs()[0];
    assert!(
        r.peers.contains(&SocketAddr::new(client_addr.ip(), 7001)),
        "the seeder's address in {:?}",
        r.peers
    );

    let counts = ours.scrape(&url, HASH).await.unwrap();
    assert_eq!(
        counts,
        ScrapeCounts {
            complete: 1,
            downloaded: 0,
            incomplete: 1
        }
    );
    server.shutdown().await;

    // Nobody answers any more: unreachable after the retransmissions.
    let err = ours.announce(&url, &leecher).await.unwrap_err();
    assert!(matches!(err, TrackerError::Unreachable { .. }), "{err}");
}

/// Starts opentracker tracking [`HASH`] (on a blocking thread: the testkit
/// waits synchronously).
async fn opentracker() -> bitswarm_testkit::opentracker::Opentracker {
    let hex = HASH.to_string();
    tokio::task::spawn_blocking(move || {
        bitswarm_testkit::opentracker::Opentracker::start(&[hex]).unwrap()
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs opentracker: run scripts/test-all"]
async fn opentracker_over_http_and_udp() {
    let tracker = opentracker().await;
    let http = format!("http://{}/announce", tracker.addr());
    let udp = tracker.udp_url();
    let ours = client().await;
    let theirs = client().await;

    for (url, (our_port, their_port)) in [(&http, (7101, 7102)), (&udp, (7201, 7202))] {
        // A seeder announces; our announce gets its address back.
        let mut seeder = request(their_port);
        seeder.peer_id = PeerId([2; 20]);
        seeder.left = 0;
        theirs.announce(url, &seeder).await.unwrap();
        let r = ours.announce(url, &request(our_port)).await.unwrap();
        assert!(
            r.peers
                .contains(&SocketAddr::from((Ipv4Addr::LOCALHOST, their_port))),
            "{url}: {:?}",
            r.peers
        );
        assert!(r.interval > Duration::ZERO, "{url}");
        assert!(r.seeders >= Some(1), "{url}: {r:?}");
    }
    // Both announces of both protocols went to the same swarm: two seeders
    // (ports 7102, 7202) and two leechers (7101, 7201).
    for url in [&http, &udp] {
        let counts = ours.scrape(url, HASH).await.unwrap();
        assert_eq!((counts.complete, counts.incomplete), (2, 2), "{url}");
    }

    // A torrent that is not on the whitelist.
    let unlisted = AnnounceRequest {
        info_hash: InfoHashV1([0x5a; 20]),
        ..request(7301)
    };
    let err = ours.announce(&http, &unlisted).await.unwrap_err();
    assert!(matches!(err, TrackerError::Failure { .. }), "{err}");
    let err = ours.announce(&udp, &unlisted).await.unwrap_err();
    assert!(matches!(err, TrackerError::BadResponse { .. }), "{err}");

    // A completed event and a stopped one are accepted too.
    let mut done = request(7101);
    done.event = AnnounceEvent::Completed;
    done.left = 0;
    ours.announce(&http, &done).await.unwrap();
    done.event = AnnounceEvent::Stopped;
    ours.announce(&udp, &done).await.unwrap();
}
