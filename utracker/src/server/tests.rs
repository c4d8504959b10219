//! The client core against the server core and the memory store, in virtual
//! time: every datagram goes through both codecs.

use std::collections::HashSet;
use std::sync::Arc;

use bitswarm_core::{InfoHashV1, PeerId};

use super::*;
use crate::client::{AnnounceParams, Client, ClientConfig, Reply};
use crate::error::Error;
use crate::store::{AccessList, MemoryStore, StoreConfig};
use crate::wire::{AnnounceEvent, Response, UrlData};

const SERVER: &str = "127.0.0.1:6969";

/// One client and one server exchanging datagrams instantly.
struct Pair {
    now: Instant,
    client: Client,
    client_addr: SocketAddr,
    server: Server<Arc<MemoryStore>>,
    server_addr: SocketAddr,
}

impl Pair {
    fn new(client_addr: &str, server_addr: &str, store: StoreConfig) -> Self {
        let now = Instant::now();
        let store = Arc::new(MemoryStore::new(store, now));
        let config = ServerConfig {
            secret: Some([1; 16]),
            ..ServerConfig::default()
        };
        Self {
            now,
            client: Client::new(ClientConfig {
                rng_seed: Some(9),
                ..ClientConfig::default()
            }),
            client_addr: client_addr.parse().unwrap(),
            server: Server::new(&config, store, now),
            server_addr: server_addr.parse().unwrap(),
        }
    }

    fn store(&self) -> &MemoryStore {
        self.server.handler()
    }

    /// Delivers datagrams both ways until the client finishes a request.
    fn drive(&mut self) -> Result<Reply, Error> {
        let mut buf = Vec::new();
        let mut out = Vec::new();
        for _ in 0..100 {
            if let Some(ev) = self.client.poll_event() {
                return ev.result;
            }
            while let Some(t) = self.client.poll_transmit(&mut buf) {
                assert_eq!(t.destination, self.server_addr);
                let handled =
                    self.server
                        .handle_datagram(self.now, self.client_addr, &buf, &mut out);
                if handled.has_reply() {
                    self.client
                        .handle_datagram(self.now, self.server_addr, &out);
                }
            }
        }
        panic!("the request did not finish");
    }

    fn announce(
        &mut self,
        hash: u8,
        port: u16,
        left: u64,
        event: AnnounceEvent,
    ) -> Result<Reply, Error> {
        let mut p =
            AnnounceParams::new(InfoHashV1([hash; 20]), PeerId([port as u8; 20]), port, left);
        p.event = event;
        self.client
            .announce(self.now, self.server_addr, UrlData::default(), p)
            .unwrap();
        self.drive()
    }

    fn scrape(&mut self, hashes: &[u8]) -> Vec<ScrapeStats> {
        self.client
            .scrape(
                self.now,
                self.server_addr,
                hashes.iter().map(|h| InfoHashV1([*h; 20])).collect(),
            )
            .unwrap();
        match self.drive() {
            Ok(Reply::Scrape(s)) => s,
            other => panic!("{other:?}"),
        }
    }
}

fn announced(r: Result<Reply, Error>) -> AnnounceReply {
    match r {
        Ok(Reply::Announce(a)) => a,
        other => panic!("{other:?}"),
    }
}

#[test]
fn leecher_sees_seeder_and_counts_follow_events() {
    let mut p = Pair::new("127.0.0.1:40000", SERVER, StoreConfig::default());
    let seed = announced(p.announce(1, 7001, 0, AnnounceEvent::Started));
    assert_eq!((seed.seeders, seed.leechers), (1, 0));
    assert!(seed.peers.is_empty(), "the announcer is not sent itself");
    let leech = announced(p.announce(1, 7002, 500, AnnounceEvent::Started));
    assert_eq!((leech.seeders, leech.leechers), (1, 1));
    assert_eq!(
        leech.peers,
        vec!["127.0.0.1:7001".parse::<SocketAddr>().unwrap()]
    );
    assert_eq!(leech.interval, 1800);

    let done = announced(p.announce(1, 7002, 0, AnnounceEvent::Completed));
    assert_eq!((done.seeders, done.leechers), (2, 0));
    assert_eq!(
        p.scrape(&[1, 2]),
        vec![
            ScrapeStats {
                seeders: 2,
                completed: 1,
                leechers: 0
            },
            ScrapeStats::default()
        ]
    );
    let gone = announced(p.announce(1, 7001, 0, AnnounceEvent::Stopped));
    assert!(gone.peers.is_empty());
    assert_eq!(p.scrape(&[1])[0].seeders, 1);
}

#[test]
fn ipv6_clients_get_ipv6_peers_only() {
    let mut v6 = Pair::new("[::1]:40000", "[::1]:6969", StoreConfig::default());
    announced(v6.announce(1, 7001, 0, AnnounceEvent::Started));
    let r = announced(v6.announce(1, 7002, 10, AnnounceEvent::Started));
    assert_eq!(r.peers, vec!["[::1]:7001".parse::<SocketAddr>().unwrap()]);

    // An IPv4 client of the same store sees none of them.
    let store = v6.server.handler().clone();
    let mut v4 = Pair::new("127.0.0.1:40000", SERVER, StoreConfig::default());
    v4.server = Server::new(
        &ServerConfig {
            secret: Some([1; 16]),
            ..ServerConfig::default()
        },
        store,
        v4.now,
    );
    let r = announced(v4.announce(1, 7003, 10, AnnounceEvent::Started));
    assert!(r.peers.is_empty());
    assert_eq!(
        (r.seeders, r.leechers),
        (1, 2),
        "counts cover both families"
    );
}

#[test]
fn num_want_bounds_the_random_choice() {
    let mut p = Pair::new("127.0.0.1:40000", SERVER, StoreConfig::default());
    for port in 1..=100 {
        announced(p.announce(3, port, 1, AnnounceEvent::Started));
    }
    let mut seen = HashSet::new();
    for _ in 0..20 {
        let mut params = AnnounceParams::new(InfoHashV1([3; 20]), PeerId([0; 20]), 5000, 1);
        params.num_want = Some(10);
        p.client
            .announce(p.now, p.server_addr, UrlData::default(), params)
            .unwrap();
        let r = announced(p.drive());
        assert_eq!(r.peers.len(), 10);
        seen.extend(r.peers);
    }
    assert!(
        seen.len() > 50,
        "peers are chosen at random: {}",
        seen.len()
    );
}

#[test]
fn spoofed_stale_and_foreign_connection_ids_are_dropped() {
    let t0 = Instant::now();
    let store = Arc::new(MemoryStore::new(StoreConfig::default(), t0));
    let mut server = Server::new(&ServerConfig::default(), store, t0);
    let me: SocketAddr = "127.0.0.1:4000".parse().unwrap();
    let mut out = Vec::new();

    let mut connect = Vec::new();
    Request::Connect(crate::wire::ConnectRequest {
        transaction_id: TransactionId(5),
    })
    .encode(&mut connect);
    assert_eq!(
        server.handle_datagram(t0, me, &connect, &mut out),
        Handled::Connect
    );
    let Ok(Response::Connect(c)) = Response::decode(&out, AddressFamily::V4) else {
        panic!("{out:?}")
    };
    assert_eq!(c.transaction_id, TransactionId(5));

    let announce = |id: ConnectionId| {
        let mut b = Vec::new();
        Request::Announce(crate::wire::AnnounceRequest {
            connection_id: id,
            transaction_id: TransactionId(6),
            info_hash: InfoHashV1([1; 20]),
            peer_id: PeerId([1; 20]),
            downloaded: 0,
            left: 0,
            uploaded: 0,
            event: AnnounceEvent::Started,
            ip: None,
            key: 0,
            num_want: None,
            port: 1,
            url_data: UrlData::default(),
        })
        .encode(&mut b);
        b
    };
    let good = announce(c.connection_id);
    assert_eq!(
        server.handle_datagram(t0, me, &good, &mut out),
        Handled::Announce
    );
    let spoofed = announce(ConnectionId(c.connection_id.0.wrapping_add(1)));
    assert_eq!(
        server.handle_datagram(t0, me, &spoofed, &mut out),
        Handled::BadConnectionId
    );
    let elsewhere: SocketAddr = "127.0.0.2:4000".parse().unwrap();
    assert_eq!(
        server.handle_datagram(t0, elsewhere, &good, &mut out),
        Handled::BadConnectionId
    );
    let later = t0 + Duration::from_secs(121);
    assert_eq!(
        server.handle_datagram(later, me, &good, &mut out),
        Handled::BadConnectionId
    );
    assert!(matches!(
        server.handle_datagram(t0, me, &good[..50], &mut out),
        Handled::Invalid(DecodeError::Truncated { .. })
    ));
}

#[test]
fn refused_info_hash_reaches_the_client_as_a_tracker_error() {
    let allowed = [InfoHashV1([1; 20])].into_iter().collect();
    let mut p = Pair::new(
        "127.0.0.1:40000",
        SERVER,
        StoreConfig {
            access: AccessList::Allow(allowed),
            ..StoreConfig::default()
        },
    );
    announced(p.announce(1, 7001, 0, AnnounceEvent::Started));
    let err = p.announce(2, 7001, 0, AnnounceEvent::Started).unwrap_err();
    assert!(matches!(err, Error::Tracker { ref message, .. } if message.contains("not tracked")));
}

#[test]
fn silent_peers_expire_after_interval_and_grace() {
    let mut p = Pair::new(
        "127.0.0.1:40000",
        SERVER,
        StoreConfig {
            interval: 100,
            grace: 20,
            ..StoreConfig::default()
        },
    );
    announced(p.announce(1, 7001, 0, AnnounceEvent::Started));
    announced(p.announce(2, 7001, 0, AnnounceEvent::Started));
    assert_eq!(p.store().stats().unwrap().peers, 2);
    p.now += Duration::from_secs(100);
    announced(p.announce(2, 7001, 0, AnnounceEvent::None));
    p.now += Duration::from_secs(21);
    p.store().tick(p.now);
    let stats = p.store().stats().unwrap();
    assert_eq!((stats.swarms, stats.peers), (1, 1));
    assert_eq!(p.scrape(&[1])[0], ScrapeStats::default());
}

/// BEP 41 authentication as an operator would write it: a wrapper handler
/// that checks the URL data before the store sees the request.
struct RequireToken(Arc<MemoryStore>);

impl Handler for RequireToken {
    fn announce(
        &self,
        now: Instant,
        announce: &Announce<'_>,
        reply: &mut AnnounceReply,
    ) -> Result<(), Refusal> {
        if announce.request.url_data.as_bytes() != b"/announce?token=s3cret" {
            return Err(Refusal::new("bad token"));
        }
        self.0.announce(now, announce, reply)
    }

    fn scrape(
        &self,
        now: Instant,
        scrape: &Scrape<'_>,
        reply: &mut Vec<ScrapeStats>,
    ) -> Result<(), Refusal> {
        self.0.scrape(now, scrape, reply)
    }
}

#[test]
fn a_handler_can_authenticate_with_bep_41_url_data() {
    let t0 = Instant::now();
    let store = Arc::new(MemoryStore::new(StoreConfig::default(), t0));
    let mut server = Server::new(&ServerConfig::default(), RequireToken(store), t0);
    let mut client = Client::new(ClientConfig {
        rng_seed: Some(1),
        ..ClientConfig::default()
    });
    let tracker: SocketAddr = SERVER.parse().unwrap();
    let me: SocketAddr = "127.0.0.1:9".parse().unwrap();
    let mut results = Vec::new();
    for data in ["/announce?token=s3cret", "/announce?token=guess"] {
        let params = AnnounceParams::new(InfoHashV1([1; 20]), PeerId([1; 20]), 1, 0);
        client
            .announce(t0, tracker, UrlData::new(data).unwrap(), params)
            .unwrap();
        let (mut buf, mut out) = (Vec::new(), Vec::new());
        let result = loop {
            if let Some(ev) = client.poll_event() {
                break ev.result;
            }
            let t = client.poll_transmit(&mut buf).expect("something to send");
            assert_eq!(t.destination, tracker);
            if server.handle_datagram(t0, me, &buf, &mut out).has_reply() {
                client.handle_datagram(t0, tracker, &out);
            }
        };
        results.push(result);
    }
    assert!(matches!(results[0], Ok(Reply::Announce(_))));
    assert!(matches!(&results[1], Err(Error::Tracker { message, .. }) if message == "bad token"));
}

#[test]
fn arbitrary_datagrams_never_panic_the_server() {
    use proptest::prelude::*;
    let t0 = Instant::now();
    let store = Arc::new(MemoryStore::new(StoreConfig::default(), t0));
    let server = std::cell::RefCell::new(Server::new(&ServerConfig::default(), store, t0));
    proptest!(|(data in proptest::collection::vec(any::<u8>(), 0..200))| {
        let mut out = Vec::new();
        let h = server.borrow_mut().handle_datagram(t0, "127.0.0.1:1".parse().unwrap(), &data, &mut out);
        prop_assert!(h.has_reply() || out.is_empty());
    });
}
