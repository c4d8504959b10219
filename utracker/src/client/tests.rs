//! The client core against a scripted tracker, in virtual time.

use std::collections::HashSet;

use super::*;
use crate::wire::{
    AnnounceResponse, ConnectResponse, ErrorResponse, ScrapeResponse, TransactionId,
};

const TRACKER: &str = "127.0.0.1:6969";

fn tracker() -> SocketAddr {
    TRACKER.parse().unwrap()
}

fn client() -> Client {
    Client::new(ClientConfig {
        rng_seed: Some(7),
        ..ClientConfig::default()
    })
}

fn params(n: u8) -> AnnounceParams {
    AnnounceParams::new(InfoHashV1([n; 20]), PeerId([1; 20]), 6881, 100)
}

/// Every datagram the client wants to send now, decoded.
fn sent(c: &mut Client) -> Vec<(SocketAddr, Request)> {
    let mut buf = Vec::new();
    let mut out = Vec::new();
    while let Some(t) = c.poll_transmit(&mut buf) {
        out.push((t.destination, Request::decode(&buf).unwrap()));
    }
    out
}

fn reply(c: &mut Client, now: Instant, from: SocketAddr, r: Response) {
    let mut buf = Vec::new();
    r.encode(AddressFamily::of(&from), &mut buf);
    c.handle_datagram(now, from, &buf);
}

fn connect_ok(c: &mut Client, now: Instant, request: &Request, id: u64) {
    reply(
        c,
        now,
        tracker(),
        Response::Connect(ConnectResponse {
            transaction_id: request.transaction_id(),
            connection_id: ConnectionId(id),
        }),
    );
}

fn announce_ok(c: &mut Client, now: Instant, request: &Request, seeders: u32) {
    reply(
        c,
        now,
        tracker(),
        Response::Announce(AnnounceResponse {
            transaction_id: request.transaction_id(),
            interval: 1800,
            leechers: 1,
            seeders,
            peers: vec!["127.0.0.2:7000".parse().unwrap()],
        }),
    );
}

#[test]
fn announce_connects_first_then_reuses_the_connection_for_a_minute() {
    let mut c = client();
    let t0 = Instant::now();
    let id = c
        .announce(t0, tracker(), UrlData::default(), params(1))
        .unwrap();
    let out = sent(&mut c);
    assert_eq!(out.len(), 1);
    assert!(matches!(out[0].1, Request::Connect(_)));
    connect_ok(&mut c, t0, &out[0].1, 99);

    let out = sent(&mut c);
    let [(_, Request::Announce(a))] = out.as_slice() else {
        panic!("expected one announce, got {out:?}")
    };
    assert_eq!(a.connection_id, ConnectionId(99));
    assert_eq!(a.info_hash, InfoHashV1([1; 20]));
    assert_eq!(a.event, AnnounceEvent::Started);
    announce_ok(&mut c, t0, &out[0].1, 5);
    let ev = c.poll_event().unwrap();
    assert_eq!(ev.id, id);
    let Ok(Reply::Announce(r)) = ev.result else {
        panic!("{ev:?}")
    };
    assert_eq!((r.interval, r.seeders, r.leechers), (1800, 5, 1));
    assert_eq!(
        r.peers,
        vec!["127.0.0.2:7000".parse::<SocketAddr>().unwrap()]
    );

    // 59 s later: no new connect.
    let t1 = t0 + Duration::from_secs(59);
    c.handle_timeout(t1);
    c.announce(t1, tracker(), UrlData::default(), params(2))
        .unwrap();
    let out = sent(&mut c);
    assert!(matches!(out.as_slice(), [(_, Request::Announce(_))]));
    announce_ok(&mut c, t1, &out[0].1, 0);
    assert!(c.poll_event().unwrap().result.is_ok());

    // 61 s after the connect: the id has expired, connect again.
    let t2 = t0 + Duration::from_secs(61);
    c.handle_timeout(t2);
    c.announce(t2, tracker(), UrlData::default(), params(3))
        .unwrap();
    assert!(matches!(
        sent(&mut c).as_slice(),
        [(_, Request::Connect(_))]
    ));
}

#[test]
fn retransmits_after_15_times_2_to_the_n_seconds_then_times_out() {
    let mut c = client();
    let t0 = Instant::now();
    let id = c
        .announce(t0, tracker(), UrlData::default(), params(1))
        .unwrap();
    let mut now = t0;
    let mut waits = Vec::new();
    let mut sends = 0;
    loop {
        sends += sent(&mut c).len();
        if let Some(ev) = c.poll_event() {
            assert_eq!(ev.id, id);
            let Err(Error::Timeout {
                attempts,
                tracker: t,
            }) = ev.result
            else {
                panic!("{ev:?}")
            };
            assert_eq!((attempts, t), (9, tracker()));
            break;
        }
        let next = c.poll_timeout().expect("a retransmission is pending");
        waits.push((next - now).as_secs());
        now = next;
        c.handle_timeout(now);
    }
    assert_eq!(waits, [15, 30, 60, 120, 240, 480, 960, 1920, 3840]);
    assert_eq!(sends, 9);
    assert_eq!(c.in_flight(), 0);
    assert_eq!(c.poll_timeout(), None);
}

#[test]
fn announce_retransmission_reuses_the_transaction_id_and_reconnects_when_stale() {
    let mut c = Client::new(ClientConfig {
        rng_seed: Some(1),
        timeout: Duration::from_secs(40),
        ..ClientConfig::default()
    });
    let t0 = Instant::now();
    c.announce(t0, tracker(), UrlData::default(), params(1))
        .unwrap();
    let out = sent(&mut c);
    connect_ok(&mut c, t0, &out[0].1, 5);
    let first = sent(&mut c);
    // 40 s: the id is still fresh, the same packet goes again.
    let t1 = c.poll_timeout().unwrap();
    assert_eq!(t1 - t0, Duration::from_secs(40));
    c.handle_timeout(t1);
    let second = sent(&mut c);
    assert_eq!(first, second);
    // 60 s: the connection id expires; nothing to send yet.
    let expiry = c.poll_timeout().unwrap();
    assert_eq!(expiry - t0, Duration::from_secs(60));
    c.handle_timeout(expiry);
    assert!(sent(&mut c).is_empty());
    // 120 s: the announce times out again with a stale id, so the client
    // connects first.
    let t2 = c.poll_timeout().unwrap();
    assert_eq!(t2 - t0, Duration::from_secs(120));
    c.handle_timeout(t2);
    assert!(matches!(
        sent(&mut c).as_slice(),
        [(_, Request::Connect(_))]
    ));
}

#[test]
fn replies_from_another_address_or_transaction_are_ignored() {
    let mut c = client();
    let t0 = Instant::now();
    c.announce(t0, tracker(), UrlData::default(), params(1))
        .unwrap();
    let out = sent(&mut c);
    let spoofer: SocketAddr = "127.0.0.9:6969".parse().unwrap();
    reply(
        &mut c,
        t0,
        spoofer,
        Response::Connect(ConnectResponse {
            transaction_id: out[0].1.transaction_id(),
            connection_id: ConnectionId(1),
        }),
    );
    reply(
        &mut c,
        t0,
        tracker(),
        Response::Connect(ConnectResponse {
            transaction_id: TransactionId(out[0].1.transaction_id().0 ^ 1),
            connection_id: ConnectionId(1),
        }),
    );
    c.handle_datagram(t0, tracker(), &[1, 2, 3]);
    assert_eq!(c.ignored_datagrams(), 3);
    assert!(sent(&mut c).is_empty());
    assert!(c.poll_event().is_none());
}

#[test]
fn tracker_error_and_short_reply_are_typed_errors() {
    let mut c = client();
    let t0 = Instant::now();
    let a = c
        .announce(t0, tracker(), UrlData::default(), params(1))
        .unwrap();
    let b = c
        .announce(t0, tracker(), UrlData::default(), params(2))
        .unwrap();
    let out = sent(&mut c);
    assert_eq!(out.len(), 1, "one connect serves both announces");
    connect_ok(&mut c, t0, &out[0].1, 5);
    let out = sent(&mut c);
    assert_eq!(out.len(), 2);
    for (_, r) in &out {
        let Request::Announce(req) = r else { panic!() };
        if req.info_hash == InfoHashV1([1; 20]) {
            reply(
                &mut c,
                t0,
                tracker(),
                Response::Error(ErrorResponse {
                    transaction_id: req.transaction_id,
                    message: "not allowed".into(),
                }),
            );
        } else {
            let mut bare = Vec::new();
            bare.extend_from_slice(&1u32.to_be_bytes());
            bare.extend_from_slice(&req.transaction_id.0.to_be_bytes());
            c.handle_datagram(t0, tracker(), &bare);
        }
    }
    let mut events: Vec<_> = std::iter::from_fn(|| c.poll_event()).collect();
    events.sort_by_key(|e| e.id);
    assert_eq!(events[0].id, a);
    assert!(
        matches!(&events[0].result, Err(Error::Tracker { message, .. }) if message == "not allowed")
    );
    assert_eq!(events[1].id, b);
    assert!(matches!(
        &events[1].result,
        Err(Error::BadReply {
            reason: DecodeError::Truncated {
                field: "interval",
                ..
            },
            ..
        })
    ));
}

#[test]
fn cancelled_request_reports_nothing_and_its_late_reply_is_ignored() {
    let mut c = client();
    let t0 = Instant::now();
    let id = c
        .announce(t0, tracker(), UrlData::default(), params(1))
        .unwrap();
    let out = sent(&mut c);
    connect_ok(&mut c, t0, &out[0].1, 5);
    let out = sent(&mut c);
    c.cancel(id);
    announce_ok(&mut c, t0, &out[0].1, 1);
    assert!(c.poll_event().is_none());
    assert_eq!(c.in_flight(), 0);
    assert_eq!(c.ignored_datagrams(), 1);
}

#[test]
fn scrape_limits_and_counts() {
    let mut c = client();
    let t0 = Instant::now();
    assert!(matches!(
        c.scrape(t0, tracker(), vec![InfoHashV1([0; 20]); 75]),
        Err(Error::InvalidRequest(_))
    ));
    let id = c
        .scrape(
            t0,
            tracker(),
            vec![InfoHashV1([1; 20]), InfoHashV1([2; 20])],
        )
        .unwrap();
    let out = sent(&mut c);
    connect_ok(&mut c, t0, &out[0].1, 5);
    let out = sent(&mut c);
    let [(_, Request::Scrape(s))] = out.as_slice() else {
        panic!("{out:?}")
    };
    assert_eq!(s.info_hashes.len(), 2);
    let stats = vec![
        ScrapeStats {
            seeders: 1,
            completed: 2,
            leechers: 3,
        },
        ScrapeStats::default(),
    ];
    reply(
        &mut c,
        t0,
        tracker(),
        Response::Scrape(ScrapeResponse {
            transaction_id: s.transaction_id,
            stats: stats.clone(),
        }),
    );
    let ev = c.poll_event().unwrap();
    assert_eq!(ev.id, id);
    assert_eq!(ev.result.unwrap(), Reply::Scrape(stats));
}

#[test]
fn thousands_in_flight_share_one_connect_and_get_distinct_transaction_ids() {
    let mut c = client();
    let t0 = Instant::now();
    for i in 0..5000u32 {
        let mut p = params(0);
        p.info_hash.0[..4].copy_from_slice(&i.to_be_bytes());
        c.announce(t0, tracker(), UrlData::default(), p).unwrap();
    }
    let out = sent(&mut c);
    assert_eq!(out.len(), 1);
    connect_ok(&mut c, t0, &out[0].1, 5);
    let out = sent(&mut c);
    assert_eq!(out.len(), 5000);
    let ids: HashSet<_> = out.iter().map(|(_, r)| r.transaction_id()).collect();
    assert_eq!(ids.len(), 5000);
    for (_, r) in &out {
        announce_ok(&mut c, t0, r, 1);
    }
    let done = std::iter::from_fn(|| c.poll_event())
        .filter(|e| e.result.is_ok())
        .count();
    assert_eq!(done, 5000);
    assert_eq!(c.in_flight(), 0);
}

#[test]
fn busy_when_over_the_in_flight_limit() {
    let mut c = Client::new(ClientConfig {
        max_in_flight: 2,
        rng_seed: Some(3),
        ..ClientConfig::default()
    });
    let t0 = Instant::now();
    c.announce(t0, tracker(), UrlData::default(), params(1))
        .unwrap();
    c.announce(t0, tracker(), UrlData::default(), params(2))
        .unwrap();
    assert!(matches!(
        c.announce(t0, tracker(), UrlData::default(), params(3)),
        Err(Error::Busy { limit: 2 })
    ));
}

#[test]
fn connect_timeout_fails_every_waiting_request() {
    let mut c = Client::new(ClientConfig {
        max_retransmissions: 2,
        timeout: Duration::from_secs(1),
        rng_seed: Some(3),
        ..ClientConfig::default()
    });
    let t0 = Instant::now();
    c.announce(t0, tracker(), UrlData::default(), params(1))
        .unwrap();
    c.scrape(t0, tracker(), vec![InfoHashV1([1; 20])]).unwrap();
    let mut now = t0;
    let mut connects = 0;
    while let Some(next) = c.poll_timeout() {
        connects += sent(&mut c).len();
        now = next;
        c.handle_timeout(now);
    }
    assert_eq!(connects, 3);
    assert_eq!(now - t0, Duration::from_secs(1 + 2 + 4));
    let events: Vec<_> = std::iter::from_fn(|| c.poll_event()).collect();
    assert_eq!(events.len(), 2);
    assert!(
        events
            .iter()
            .all(|e| matches!(e.result, Err(Error::Timeout { attempts: 3, .. })))
    );
}
