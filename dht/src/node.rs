//! The sans-IO DHT node: datagrams and time in, datagrams, timers and events out.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use bitswarm_bencode::{Encode, Kind};
use rand::SeedableRng;
use rand::rngs::StdRng;

use crate::Error;
use crate::bep44::{Item, mutable_target};
use crate::id::{Distance, NodeId, bep42_random_id, bep42_valid};
use crate::krpc::{self, Body, CompactNode, Message, Query, Response, Want};
use crate::routing::{Contact, InsertOutcome, RoutingTable};
use crate::storage::{ItemStore, PeerStore, RateLimiter, Tokens};

/// How a node behaves. `Config::default()` bootstraps from nobody.
#[derive(Debug, Clone)]
pub struct Config {
    /// Our node id; `None` picks a random one, replaced by a BEP 42 id once
    /// our external address is known.
    pub id: Option<NodeId>,
    /// Nodes per bucket and per lookup result (BEP 5: 8).
    pub k: usize,
    /// Queries in flight per lookup (3).
    pub alpha: usize,
    /// How long to wait for a reply.
    pub query_timeout: Duration,
    /// Resends of an unanswered lookup query before the node counts as failed.
    pub max_retries: u8,
    /// BEP 43: answer no queries and ask others not to add us.
    pub read_only: bool,
    /// BEP 42: keep nodes whose ids do not match their public address out of
    /// the routing table. Local addresses are exempt either way.
    pub enforce_node_id: bool,
    /// Addresses to bootstrap from. Empty by default: we contact nobody we
    /// were not given.
    pub bootstrap: Vec<SocketAddr>,
    /// Seed of the node's random numbers (ids, tokens, transaction ids);
    /// `None` seeds from the operating system. Tests give one to be repeatable.
    pub seed: Option<u64>,
    /// Our client version, sent as `v`.
    pub version: Option<[u8; 4]>,
    /// Whether we have an IPv4 socket (asks for `nodes`).
    pub ipv4: bool,
    /// Whether we have an IPv6 socket (asks for `nodes6`, BEP 32).
    pub ipv6: bool,
    /// Most info-hashes in the peer store.
    pub max_torrents: usize,
    /// Most peers per info-hash.
    pub max_peers_per_torrent: usize,
    /// How long an announced peer is kept.
    pub peer_ttl: Duration,
    /// Most BEP 44 items stored.
    pub max_items: usize,
    /// How long a BEP 44 item is kept.
    pub item_ttl: Duration,
    /// Queries served per second per source (see the rate limiter's rules).
    pub rate_per_second: u32,
    /// Queries a source may send in a burst.
    pub rate_burst: u32,
    /// How often the token secret rotates (BEP 5: tokens live 10 minutes).
    pub token_rotation: Duration,
    /// Most lookups running at once.
    pub max_lookups: usize,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            id: None,
            k: 8,
            alpha: 3,
            query_timeout: Duration::from_secs(2),
            max_retries: 1,
            read_only: false,
            enforce_node_id: true,
            bootstrap: Vec::new(),
            seed: None,
            version: Some(*b"BS01"),
            ipv4: true,
            ipv6: false,
            max_torrents: 10_000,
            max_peers_per_torrent: 200,
            peer_ttl: Duration::from_secs(30 * 60),
            max_items: 5_000,
            item_ttl: Duration::from_secs(2 * 3600),
            rate_per_second: 50,
            rate_burst: 100,
            token_rotation: Duration::from_secs(5 * 60),
            max_lookups: 1024,
        }
    }
}

/// A datagram to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    /// Where to.
    pub destination: SocketAddr,
    /// The KRPC message.
    pub payload: Vec<u8>,
}

/// Names a lookup started by a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct QueryId(pub u64);

/// Figures of a finished lookup.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LookupStats {
    /// Queries sent, retries and stores included.
    pub messages: u32,
    /// Replies received.
    pub responses: u32,
    /// Hops from the starting nodes to the closest node that answered.
    pub hops: u32,
    /// The closest nodes that answered, closest first (at most k).
    pub closest: Vec<CompactNode>,
    /// Nodes that accepted an `announce_peer` or `put`.
    pub stored: u32,
}

/// What the node reports, through [`Node::poll_event`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// Peers of a `get_peers` lookup, as they arrive (new ones only).
    Peers {
        /// The lookup.
        query: QueryId,
        /// The peers.
        peers: Vec<SocketAddr>,
    },
    /// A BEP 44 item found by a `get` lookup (the newest so far for a mutable one).
    Item {
        /// The lookup.
        query: QueryId,
        /// The verified item.
        item: Item,
    },
    /// BEP 51 samples from one node.
    Samples {
        /// The lookup.
        query: QueryId,
        /// Who sent them.
        from: SocketAddr,
        /// The info-hashes.
        samples: Vec<NodeId>,
        /// How many the node stores.
        num: Option<i64>,
        /// Seconds before asking it again.
        interval: Option<i64>,
    },
    /// A lookup (and its announce or put, if any) is over.
    Done {
        /// The lookup.
        query: QueryId,
        /// Its figures.
        stats: LookupStats,
    },
    /// A majority of nodes told us our external address (BEP 42).
    ExternalAddress {
        /// The address.
        ip: IpAddr,
        /// Our new id, when the old one did not match the address.
        new_id: Option<NodeId>,
    },
}

/// Counters of a node.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    /// Our node id.
    pub id: NodeId,
    /// Our external address, once known (BEP 42).
    pub external_ip: Option<IpAddr>,
    /// Nodes in the IPv4 routing table.
    pub nodes_v4: usize,
    /// Nodes in the IPv6 routing table.
    pub nodes_v6: usize,
    /// Info-hashes in the peer store.
    pub torrents: usize,
    /// BEP 44 items stored.
    pub items: usize,
    /// Lookups running.
    pub lookups: usize,
    /// Queries awaiting a reply.
    pub in_flight: usize,
    /// Datagrams received.
    pub received: u64,
    /// Datagrams sent.
    pub sent: u64,
    /// Datagrams that were not valid KRPC.
    pub malformed: u64,
    /// Queries dropped by the rate limit.
    pub rate_limited: u64,
    /// Nodes kept out of the table by BEP 42.
    pub bad_ids: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CandState {
    Fresh,
    InFlight,
    Responded,
    Failed,
}

#[derive(Debug, Clone)]
struct Candidate {
    node: CompactNode,
    state: CandState,
    token: Option<Vec<u8>>,
    hop: u32,
    tries: u8,
}

#[derive(Debug, Clone)]
enum LookupKind {
    FindNode,
    GetPeers {
        announce: Option<(u16, bool)>,
    },
    Get {
        seq: Option<i64>,
        salt: Vec<u8>,
        key: Option<[u8; 32]>,
    },
    Put {
        item: Item,
    },
    Sample,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Search,
    Storing { outstanding: u32 },
}

#[derive(Debug, Clone)]
struct Lookup {
    kind: LookupKind,
    target: NodeId,
    /// Keyed by distance and family (BEP 32: a node reachable over both is
    /// asked over both).
    candidates: BTreeMap<(Distance, bool), Candidate>,
    /// Bootstrap addresses of unknown id, queried once each.
    in_flight: usize,
    phase: Phase,
    stats: LookupStats,
    seen_peers: HashSet<SocketAddr>,
    best_seq: Option<i64>,
}

/// The most peers a lookup remembers, to report only new ones.
const MAX_SEEN_PEERS: usize = 4096;
/// The most candidates a lookup keeps.
const MAX_CANDIDATES: usize = 256;
/// The most queries in flight, all lookups together.
const MAX_IN_FLIGHT: usize = 4096;
/// The most datagrams or events waiting to be polled.
const MAX_QUEUE: usize = 65_536;
/// Peers in one `get_peers` reply (fits a datagram).
const MAX_REPLY_PEERS: usize = 50;
/// Votes needed before an external address is believed (BEP 42).
const EXTERNAL_VOTES: usize = 3;
/// Period of table upkeep: pings, store expiry.
const MAINTENANCE: Duration = Duration::from_secs(60);

#[derive(Debug, Clone, Copy)]
enum Purpose {
    Lookup {
        query: QueryId,
        node: Option<NodeId>,
    },
    Store {
        query: QueryId,
    },
    Ping,
}

#[derive(Debug, Clone)]
struct Outstanding {
    to: SocketAddr,
    node: Option<NodeId>,
    deadline: Instant,
    purpose: Purpose,
    /// The message, kept for a retry.
    payload: Vec<u8>,
    tries: u8,
}

/// A Mainline DHT node with no I/O of its own.
///
/// The caller owns the sockets and the clock, and drives the node in this order:
///
/// 1. hand it every datagram with [`handle_datagram`](Self::handle_datagram)
///    and call [`handle_timeout`](Self::handle_timeout) once the instant
///    returned by [`poll_timeout`](Self::poll_timeout) has passed (early or
///    repeated calls are harmless);
/// 2. give it commands ([`bootstrap`](Self::bootstrap),
///    [`get_peers`](Self::get_peers), [`announce`](Self::announce),
///    [`get`](Self::get_immutable), [`put`](Self::put), ...), each returning a [`QueryId`];
/// 3. send everything [`poll_transmit`](Self::poll_transmit) returns, then
///    read [`poll_timeout`](Self::poll_timeout) and
///    [`poll_event`](Self::poll_event) until they return `None`.
///
/// Time given to it must never go backwards.
#[derive(Debug)]
pub struct Node {
    config: Config,
    id: NodeId,
    table4: RoutingTable,
    table6: RoutingTable,
    rng: StdRng,
    tokens: Tokens,
    peers: PeerStore,
    items: ItemStore,
    limiter: RateLimiter,
    next_tid: u32,
    outstanding: HashMap<u32, Outstanding>,
    deadlines: BTreeSet<(Instant, u32)>,
    lookups: HashMap<QueryId, Lookup>,
    next_query: u64,
    transmits: VecDeque<Transmit>,
    events: VecDeque<Event>,
    rotate_at: Instant,
    maintain_at: Instant,
    votes: HashMap<IpAddr, HashSet<SocketAddr>>,
    external_ip: Option<IpAddr>,
    stats: Stats,
}

impl Node {
    /// A node that starts at `now`. It sends nothing until given a command.
    pub fn new(config: Config, now: Instant) -> Self {
        let mut rng = match config.seed {
            Some(seed) => StdRng::seed_from_u64(seed),
            None => StdRng::from_entropy(),
        };
        let id = config.id.unwrap_or_else(|| NodeId::random(&mut rng));
        let tokens = Tokens::new(&mut rng);
        Self {
            table4: RoutingTable::new(id, config.k, now),
            table6: RoutingTable::new(id, config.k, now),
            peers: PeerStore::new(
                config.max_torrents,
                config.max_peers_per_torrent,
                config.peer_ttl,
            ),
            items: ItemStore::new(config.max_items, config.item_ttl),
            limiter: RateLimiter::new(config.rate_per_second, config.rate_burst, 10_000),
            rotate_at: now + config.token_rotation,
            maintain_at: now + MAINTENANCE,
            id,
            rng,
            tokens,
            next_tid: 0,
            outstanding: HashMap::new(),
            deadlines: BTreeSet::new(),
            lookups: HashMap::new(),
            next_query: 0,
            transmits: VecDeque::new(),
            events: VecDeque::new(),
            votes: HashMap::new(),
            external_ip: None,
            stats: Stats::default(),
            config,
        }
    }

    /// Our node id.
    pub fn id(&self) -> NodeId {
        self.id
    }

    /// Our external address, once a majority of repliers agreed on it.
    pub fn external_ip(&self) -> Option<IpAddr> {
        self.external_ip
    }

    /// The routing table of IPv4 nodes.
    pub fn table_v4(&self) -> &RoutingTable {
        &self.table4
    }

    /// The routing table of IPv6 nodes (BEP 32).
    pub fn table_v6(&self) -> &RoutingTable {
        &self.table6
    }

    /// Counters.
    pub fn stats(&self) -> Stats {
        Stats {
            id: self.id,
            external_ip: self.external_ip,
            nodes_v4: self.table4.len(),
            nodes_v6: self.table6.len(),
            torrents: self.peers.len(),
            items: self.items.len(),
            lookups: self.lookups.len(),
            in_flight: self.outstanding.len(),
            ..self.stats.clone()
        }
    }

    // ---- outputs ---------------------------------------------------------

    /// The next datagram to send.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    /// When [`handle_timeout`](Self::handle_timeout) should next be called.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        let mut t = self.rotate_at.min(self.maintain_at);
        if let Some((d, _)) = self.deadlines.first() {
            t = t.min(*d);
        }
        Some(t)
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    fn push_event(&mut self, e: Event) {
        if self.events.len() < MAX_QUEUE {
            self.events.push_back(e);
        }
    }

    fn send(&mut self, destination: SocketAddr, payload: Vec<u8>) {
        if self.transmits.len() < MAX_QUEUE {
            self.stats.sent += 1;
            self.transmits.push_back(Transmit {
                destination,
                payload,
            });
        }
    }

    // ---- commands --------------------------------------------------------

    fn new_query_id(&mut self) -> QueryId {
        self.next_query += 1;
        QueryId(self.next_query)
    }

    fn want(&self) -> Want {
        if self.config.ipv4 && self.config.ipv6 {
            Want { v4: true, v6: true }
        } else {
            Want::default()
        }
    }

    fn start_lookup(
        &mut self,
        now: Instant,
        kind: LookupKind,
        target: NodeId,
        extra: &[SocketAddr],
    ) -> QueryId {
        let query = self.new_query_id();
        let mut lookup = Lookup {
            kind,
            target,
            candidates: BTreeMap::new(),
            in_flight: 0,
            phase: Phase::Search,
            stats: LookupStats::default(),
            seen_peers: HashSet::new(),
            best_seq: None,
        };
        let k = self.config.k;
        let mut seeds = self.table4.closest(now, &target, k * 2);
        seeds.extend(self.table6.closest(now, &target, k * 2));
        for node in seeds {
            lookup.candidates.insert(
                (node.id.distance(&target), node.addr.is_ipv6()),
                Candidate {
                    node,
                    state: CandState::Fresh,
                    token: None,
                    hop: 1,
                    tries: 0,
                },
            );
        }
        if self.lookups.len() >= self.config.max_lookups {
            // Refused at once: reported as a lookup that found nothing.
            self.push_event(Event::Done {
                query,
                stats: LookupStats::default(),
            });
            return query;
        }
        self.lookups.insert(query, lookup);
        // Addresses of unknown id (bootstrap nodes) are asked directly.
        for addr in extra {
            let q = self.lookup_query(query);
            if let Some(q) = q {
                self.send_query(now, *addr, None, q, Purpose::Lookup { query, node: None });
                if let Some(l) = self.lookups.get_mut(&query) {
                    l.in_flight += 1;
                    l.stats.messages += 1;
                }
            }
        }
        self.step_lookup(now, query);
        query
    }

    /// Joins the network: a `find_node` for our own id through the routing
    /// table and the configured bootstrap addresses.
    pub fn bootstrap(&mut self, now: Instant) -> QueryId {
        let extra = self.config.bootstrap.clone();
        let id = self.id;
        self.start_lookup(now, LookupKind::FindNode, id, &extra)
    }

    /// Adds a node by address: it is pinged, and enters the table if it answers.
    pub fn add_node(&mut self, now: Instant, addr: SocketAddr) {
        let q = Query::Ping { id: self.id };
        self.send_query(now, addr, None, q, Purpose::Ping);
    }

    /// An iterative `find_node` lookup for the k nodes closest to `target`.
    pub fn find_node(&mut self, now: Instant, target: NodeId) -> QueryId {
        self.start_lookup(now, LookupKind::FindNode, target, &[])
    }

    /// An iterative `get_peers` lookup: [`Event::Peers`] as they come, then [`Event::Done`].
    pub fn get_peers(&mut self, now: Instant, info_hash: NodeId) -> QueryId {
        self.start_lookup(now, LookupKind::GetPeers { announce: None }, info_hash, &[])
    }

    /// `get_peers`, then `announce_peer` to the k closest nodes that gave a
    /// token. `port` is our peer port; `None` asks them to use the UDP source
    /// port (`implied_port`).
    pub fn announce(&mut self, now: Instant, info_hash: NodeId, port: Option<u16>) -> QueryId {
        let announce = Some((port.unwrap_or(0), port.is_none()));
        self.start_lookup(now, LookupKind::GetPeers { announce }, info_hash, &[])
    }

    /// A BEP 44 `get` of an immutable item.
    pub fn get_immutable(&mut self, now: Instant, target: NodeId) -> QueryId {
        let kind = LookupKind::Get {
            seq: None,
            salt: Vec::new(),
            key: None,
        };
        self.start_lookup(now, kind, target, &[])
    }

    /// A BEP 44 `get` of the mutable item of `key` and `salt`, newer than `seq` if given.
    pub fn get_mutable(
        &mut self,
        now: Instant,
        key: [u8; 32],
        salt: &[u8],
        seq: Option<i64>,
    ) -> QueryId {
        let target = mutable_target(&key, salt);
        let kind = LookupKind::Get {
            seq,
            salt: salt.to_vec(),
            key: Some(key),
        };
        self.start_lookup(now, kind, target, &[])
    }

    /// A BEP 44 `put`: a `get` lookup for tokens, then `put` to the k closest.
    pub fn put(&mut self, now: Instant, item: Item) -> Result<QueryId, Error> {
        item.verify()?;
        let target = item.target();
        Ok(self.start_lookup(now, LookupKind::Put { item }, target, &[]))
    }

    /// A BEP 51 lookup towards `target` that reports the samples of every node asked.
    pub fn sample_infohashes(&mut self, now: Instant, target: NodeId) -> QueryId {
        self.start_lookup(now, LookupKind::Sample, target, &[])
    }

    /// Stops a lookup; no more events come for it.
    pub fn cancel(&mut self, query: QueryId) {
        self.lookups.remove(&query);
    }

    // ---- sending queries -------------------------------------------------

    fn lookup_query(&self, query: QueryId) -> Option<Query> {
        let l = self.lookups.get(&query)?;
        let id = self.id;
        let want = self.want();
        Some(match &l.kind {
            LookupKind::FindNode => Query::FindNode {
                id,
                target: l.target,
                want,
            },
            LookupKind::GetPeers { .. } => Query::GetPeers {
                id,
                info_hash: l.target,
                want,
            },
            LookupKind::Get { seq, .. } => Query::Get {
                id,
                target: l.target,
                seq: *seq,
                want,
            },
            LookupKind::Put { .. } => Query::Get {
                id,
                target: l.target,
                seq: None,
                want,
            },
            LookupKind::Sample => Query::SampleInfohashes {
                id,
                target: l.target,
                want,
            },
        })
    }

    fn send_query(
        &mut self,
        now: Instant,
        to: SocketAddr,
        node: Option<NodeId>,
        q: Query,
        purpose: Purpose,
    ) -> bool {
        if self.outstanding.len() >= MAX_IN_FLIGHT {
            return false;
        }
        self.next_tid = self.next_tid.wrapping_add(1);
        let tid = self.next_tid;
        let msg = Message {
            transaction_id: tid.to_be_bytes().to_vec(),
            version: self.config.version.map(|v| v.to_vec()),
            ip: None,
            read_only: self.config.read_only,
            body: Body::Query(q),
        };
        let payload = msg.to_bytes();
        let deadline = now + self.config.query_timeout;
        self.outstanding.insert(
            tid,
            Outstanding {
                to,
                node,
                deadline,
                purpose,
                payload: payload.clone(),
                tries: 0,
            },
        );
        self.deadlines.insert((deadline, tid));
        self.send(to, payload);
        true
    }

    /// Sends queries while fewer than alpha are in flight, to the closest
    /// fresh candidates among the k closest that have not failed; finishes
    /// the search when none is left.
    fn step_lookup(&mut self, now: Instant, query: QueryId) {
        let (k, alpha) = (self.config.k, self.config.alpha);
        // The k closest of each family we use.
        let k = k * (usize::from(self.config.ipv4) + usize::from(self.config.ipv6)).max(1);
        loop {
            let Some(l) = self.lookups.get_mut(&query) else {
                return;
            };
            if l.phase != Phase::Search {
                return;
            }
            if l.in_flight >= alpha {
                return;
            }
            let mut next = None;
            let mut live = 0;
            for (d, c) in &l.candidates {
                if c.state == CandState::Failed {
                    continue;
                }
                live += 1;
                if live > k {
                    break;
                }
                if c.state == CandState::Fresh {
                    next = Some(*d);
                    break;
                }
            }
            match next {
                Some(d) => {
                    let Some(c) = l.candidates.get_mut(&d) else {
                        return;
                    };
                    c.state = CandState::InFlight;
                    c.tries = 1;
                    let node = c.node;
                    l.in_flight += 1;
                    l.stats.messages += 1;
                    let Some(q) = self.lookup_query(query) else {
                        return;
                    };
                    let purpose = Purpose::Lookup {
                        query,
                        node: Some(node.id),
                    };
                    if !self.send_query(now, node.addr, Some(node.id), q, purpose)
                        && let Some(l) = self.lookups.get_mut(&query)
                    {
                        l.in_flight -= 1;
                        if let Some(c) = l.candidates.get_mut(&d) {
                            c.state = CandState::Failed;
                        }
                    }
                }
                None => {
                    if l.in_flight == 0 {
                        self.finish_search(now, query);
                    }
                    return;
                }
            }
        }
    }

    fn finish_search(&mut self, now: Instant, query: QueryId) {
        let k = self.config.k;
        let Some(l) = self.lookups.get_mut(&query) else {
            return;
        };
        let responded: Vec<&Candidate> = l
            .candidates
            .values()
            .filter(|c| c.state == CandState::Responded)
            .collect();
        l.stats.closest = responded.iter().take(k).map(|c| c.node).collect();
        l.stats.hops = responded.first().map_or(0, |c| c.hop);
        // Stores go to the k closest of each family that gave a token.
        let targets: Vec<(CompactNode, Vec<u8>)> = [false, true]
            .into_iter()
            .flat_map(|v6| {
                responded
                    .iter()
                    .filter(move |c| c.node.addr.is_ipv6() == v6 && c.token.is_some())
                    .take(k)
                    .filter_map(|c| c.token.clone().map(|t| (c.node, t)))
            })
            .collect();
        let store = match &l.kind {
            LookupKind::GetPeers {
                announce: Some((port, implied_port)),
            } => Some((*port, *implied_port, None)),
            LookupKind::Put { item } => {
                let cas = None;
                Some((0, false, Some(item.to_put(cas))))
            }
            _ => None,
        };
        let target = l.target;
        let Some((port, implied_port, put)) = store else {
            self.finish(query);
            return;
        };
        let mut outstanding = 0;
        for (node, token) in targets {
            let q = match &put {
                None => Query::AnnouncePeer {
                    id: self.id,
                    info_hash: target,
                    port,
                    implied_port,
                    token,
                },
                Some(item) => Query::Put {
                    id: self.id,
                    token,
                    item: item.clone(),
                },
            };
            if self.send_query(now, node.addr, Some(node.id), q, Purpose::Store { query }) {
                outstanding += 1;
            }
        }
        if let Some(l) = self.lookups.get_mut(&query) {
            l.stats.messages += outstanding;
            l.phase = Phase::Storing { outstanding };
        }
        if outstanding == 0 {
            self.finish(query);
        }
    }

    fn finish(&mut self, query: QueryId) {
        if let Some(l) = self.lookups.remove(&query) {
            tracing::debug!(
                ?query,
                messages = l.stats.messages,
                hops = l.stats.hops,
                "lookup done"
            );
            self.push_event(Event::Done {
                query,
                stats: l.stats,
            });
        }
    }

    // ---- inputs ----------------------------------------------------------

    /// Handles one datagram from `from`, received at `now`.
    pub fn handle_datagram(&mut self, now: Instant, from: SocketAddr, data: &[u8]) {
        self.stats.received += 1;
        let msg = match Message::decode(data) {
            Ok(m) => m,
            Err(e) => {
                self.stats.malformed += 1;
                tracing::trace!(%from, error = %e, "malformed datagram");
                if !self.config.read_only
                    && let Some(t) = krpc::query_transaction_id(data)
                    && self.limiter.allow(now, from)
                {
                    self.send_error(from, t, e.krpc_code(), &e.to_string());
                }
                return;
            }
        };
        match msg.body {
            Body::Query(q) => self.handle_query(now, from, msg.transaction_id, msg.read_only, q),
            Body::Response(r) => self.handle_reply(now, from, &msg.transaction_id, msg.ip, Ok(r)),
            Body::Error { code, message } => {
                tracing::trace!(%from, code, message, "error reply");
                self.handle_reply(now, from, &msg.transaction_id, None, Err(code));
            }
        }
    }

    fn send_error(&mut self, to: SocketAddr, transaction_id: Vec<u8>, code: i64, message: &str) {
        let msg = Message {
            transaction_id,
            version: self.config.version.map(|v| v.to_vec()),
            ip: None,
            read_only: false,
            body: Body::Error {
                code,
                message: message.to_owned(),
            },
        };
        self.send(to, msg.to_bytes());
    }

    fn send_response(&mut self, to: SocketAddr, transaction_id: Vec<u8>, r: Response) {
        let msg = Message {
            transaction_id,
            version: self.config.version.map(|v| v.to_vec()),
            ip: Some(to),
            read_only: false,
            body: Body::Response(r),
        };
        self.send(to, msg.to_bytes());
    }

    fn table_for(&mut self, addr: &SocketAddr) -> &mut RoutingTable {
        if addr.is_ipv6() {
            &mut self.table6
        } else {
            &mut self.table4
        }
    }

    /// Adds a node we heard from, if its id is acceptable (BEP 42).
    fn note_node(&mut self, now: Instant, id: NodeId, addr: SocketAddr, contact: Contact) {
        if self.config.enforce_node_id && !bep42_valid(&id, addr.ip()) {
            self.stats.bad_ids += 1;
            return;
        }
        let outcome = self.table_for(&addr).insert(now, id, addr, contact);
        if let InsertOutcome::Cached { ping: Some(stale) } = outcome {
            let already = self.outstanding.values().any(|o| o.to == stale.addr);
            if !already {
                let q = Query::Ping { id: self.id };
                self.send_query(now, stale.addr, Some(stale.id), q, Purpose::Ping);
            }
        }
    }

    fn closest_for(
        &self,
        now: Instant,
        target: &NodeId,
        from: &SocketAddr,
        want: Want,
    ) -> (Vec<CompactNode>, Vec<CompactNode>) {
        let (v4, v6) = if want.is_given() {
            (want.v4, want.v6)
        } else {
            (from.is_ipv4(), from.is_ipv6())
        };
        let k = self.config.k;
        (
            if v4 {
                self.table4.closest(now, target, k)
            } else {
                Vec::new()
            },
            if v6 {
                self.table6.closest(now, target, k)
            } else {
                Vec::new()
            },
        )
    }

    fn handle_query(
        &mut self,
        now: Instant,
        from: SocketAddr,
        t: Vec<u8>,
        read_only: bool,
        q: Query,
    ) {
        if self.config.read_only {
            // BEP 43: a read-only node answers nothing.
            return;
        }
        if !self.limiter.allow(now, from) {
            self.stats.rate_limited += 1;
            return;
        }
        if q.id() == self.id {
            return;
        }
        if !read_only {
            self.note_node(now, q.id(), from, Contact::Queried);
        }
        let mut r = Response::new(self.id);
        match q {
            Query::Ping { .. } => {}
            Query::FindNode { target, want, .. } => {
                (r.nodes, r.nodes6) = self.closest_for(now, &target, &from, want);
            }
            Query::GetPeers {
                info_hash, want, ..
            } => {
                (r.nodes, r.nodes6) = self.closest_for(now, &info_hash, &from, want);
                r.values = self
                    .peers
                    .peers(now, &info_hash, from.is_ipv6(), MAX_REPLY_PEERS);
                r.token = Some(self.tokens.token_for(from.ip()).to_vec());
            }
            Query::AnnouncePeer {
                info_hash,
                port,
                implied_port,
                token,
                ..
            } => {
                if !self.tokens.check(from.ip(), &token) {
                    self.send_error(from, t, 203, "bad token");
                    return;
                }
                let port = if implied_port { from.port() } else { port };
                if !self
                    .peers
                    .announce(now, info_hash, SocketAddr::new(from.ip(), port))
                {
                    self.send_error(from, t, 202, "peer store full");
                    return;
                }
            }
            Query::Get {
                target, seq, want, ..
            } => {
                (r.nodes, r.nodes6) = self.closest_for(now, &target, &from, want);
                r.token = Some(self.tokens.token_for(from.ip()).to_vec());
                if let Some(item) = self.items.get(now, &target) {
                    match &item.mutable {
                        None => r.value = Some(item.value.clone()),
                        Some(m) => {
                            r.seq = Some(m.seq);
                            if seq.is_none_or(|s| m.seq > s) {
                                r.value = Some(item.value.clone());
                                r.key = Some(m.key);
                                r.signature = Some(m.signature);
                            }
                        }
                    }
                }
            }
            Query::Put { token, item, .. } => {
                if !self.tokens.check(from.ip(), &token) {
                    self.send_error(from, t, 203, "bad token");
                    return;
                }
                let cas = item.cas;
                let Some(item) = Item::from_put(&item) else {
                    self.send_error(from, t, 203, "incomplete mutable item");
                    return;
                };
                if let Err(refusal) = self.items.put(now, item, cas) {
                    let (code, message) = refusal.code_and_message();
                    self.send_error(from, t, code, message);
                    return;
                }
            }
            Query::SampleInfohashes { target, want, .. } => {
                (r.nodes, r.nodes6) = self.closest_for(now, &target, &from, want);
                r.samples = Some(self.peers.sample(20, &mut self.rng));
                r.num = Some(self.peers.len() as i64);
                r.interval = Some(300);
            }
        }
        self.send_response(from, t, r);
    }

    fn take_outstanding(&mut self, tid: u32) -> Option<Outstanding> {
        let o = self.outstanding.remove(&tid)?;
        self.deadlines.remove(&(o.deadline, tid));
        Some(o)
    }

    fn handle_reply(
        &mut self,
        now: Instant,
        from: SocketAddr,
        t: &[u8],
        ip: Option<SocketAddr>,
        reply: Result<Response, i64>,
    ) {
        let Ok(tid) = <[u8; 4]>::try_from(t).map(u32::from_be_bytes) else {
            return;
        };
        match self.outstanding.get(&tid) {
            Some(o) if o.to == from => {}
            _ => return,
        }
        if let Ok(r) = &reply
            && let Some(o) = self.outstanding.get(&tid)
            && o.node.is_some_and(|id| id != r.id)
        {
            // A different node answers at this address: not the one we asked.
            return;
        }
        let Some(o) = self.take_outstanding(tid) else {
            return;
        };
        if let Ok(r) = &reply {
            self.note_node(now, r.id, from, Contact::Responded);
            if let Some(ip) = ip {
                self.vote_external(now, from, ip.ip());
            }
        }
        match o.purpose {
            Purpose::Ping => {}
            Purpose::Store { query } => {
                let Some(l) = self.lookups.get_mut(&query) else {
                    return;
                };
                if reply.is_ok() {
                    l.stats.stored += 1;
                    l.stats.responses += 1;
                }
                if let Phase::Storing { outstanding } = &mut l.phase {
                    *outstanding = outstanding.saturating_sub(1);
                    if *outstanding == 0 {
                        self.finish(query);
                    }
                }
            }
            Purpose::Lookup { query, node } => {
                self.lookup_reply(query, from, node, reply);
                self.step_lookup(now, query);
            }
        }
    }

    fn lookup_reply(
        &mut self,
        query: QueryId,
        from: SocketAddr,
        node: Option<NodeId>,
        reply: Result<Response, i64>,
    ) {
        let enforce = self.config.enforce_node_id;
        let (use_v4, use_v6) = (self.config.ipv4, self.config.ipv6);
        let own = self.id;
        let Some(l) = self.lookups.get_mut(&query) else {
            return;
        };
        l.in_flight = l.in_flight.saturating_sub(1);
        let key = node.map(|id| (id.distance(&l.target), from.is_ipv6()));
        let parent_hop = key.and_then(|d| l.candidates.get(&d)).map_or(0, |c| c.hop);
        let Ok(r) = reply else {
            if let Some(c) = key.and_then(|d| l.candidates.get_mut(&d)) {
                c.state = CandState::Failed;
            }
            return;
        };
        l.stats.responses += 1;
        match key.and_then(|d| l.candidates.get_mut(&d)) {
            Some(c) => {
                c.state = CandState::Responded;
                c.token = r.token.clone();
            }
            None => {
                // A bootstrap node of unknown id: now we know it.
                let d = (r.id.distance(&l.target), from.is_ipv6());
                l.candidates.entry(d).or_insert(Candidate {
                    node: CompactNode {
                        id: r.id,
                        addr: from,
                    },
                    state: CandState::Responded,
                    token: r.token.clone(),
                    hop: 1,
                    tries: 1,
                });
            }
        }
        for n in r.nodes.iter().chain(&r.nodes6) {
            let usable = if n.addr.is_ipv6() { use_v6 } else { use_v4 };
            if !usable
                || n.id == own
                || n.addr.port() == 0
                || (enforce && !bep42_valid(&n.id, n.addr.ip()))
            {
                continue;
            }
            let d = (n.id.distance(&l.target), n.addr.is_ipv6());
            if l.candidates.len() >= MAX_CANDIDATES {
                match l.candidates.last_key_value() {
                    Some((far, _)) if *far > d => {
                        let far = *far;
                        if l.candidates
                            .get(&far)
                            .is_some_and(|c| c.state == CandState::InFlight)
                        {
                            continue;
                        }
                        l.candidates.remove(&far);
                    }
                    _ => continue,
                }
            }
            l.candidates.entry(d).or_insert(Candidate {
                node: *n,
                state: CandState::Fresh,
                token: None,
                hop: parent_hop + 1,
                tries: 0,
            });
        }
        let target = l.target;
        let mut new_event = None;
        match &l.kind {
            LookupKind::GetPeers { .. } => {
                let fresh: Vec<SocketAddr> = r
                    .values
                    .iter()
                    .filter(|p| l.seen_peers.len() < MAX_SEEN_PEERS && l.seen_peers.insert(**p))
                    .copied()
                    .collect();
                if !fresh.is_empty() {
                    new_event = Some(Event::Peers {
                        query,
                        peers: fresh,
                    });
                }
            }
            LookupKind::Get { key, salt, .. } => {
                if let Some(v) = r.value.clone() {
                    let item = match (key, r.key, r.signature, r.seq) {
                        (None, _, _, _) => Item {
                            value: v,
                            mutable: None,
                        },
                        (Some(k), Some(rk), Some(sig), Some(seq)) if *k == rk => Item {
                            value: v,
                            mutable: Some(crate::bep44::MutableParts {
                                key: rk,
                                signature: sig,
                                seq,
                                salt: salt.clone(),
                            }),
                        },
                        _ => Item {
                            value: Vec::new(),
                            mutable: None,
                        },
                    };
                    let newer = item.seq().is_none_or(|s| l.best_seq.is_none_or(|b| s > b));
                    if item.target() == target && item.verify().is_ok() && newer {
                        l.best_seq = item.seq().or(l.best_seq);
                        let done_immutable = item.mutable.is_none();
                        new_event = Some(Event::Item { query, item });
                        if done_immutable {
                            // An immutable item is the same everywhere: stop here.
                            for c in l.candidates.values_mut() {
                                if c.state == CandState::Fresh {
                                    c.state = CandState::Failed;
                                }
                            }
                        }
                    }
                }
            }
            LookupKind::Sample => {
                if let Some(samples) = r.samples.clone() {
                    new_event = Some(Event::Samples {
                        query,
                        from,
                        samples,
                        num: r.num,
                        interval: r.interval,
                    });
                }
            }
            LookupKind::FindNode | LookupKind::Put { .. } => {}
        }
        if let Some(e) = new_event {
            self.push_event(e);
        }
    }

    fn vote_external(&mut self, now: Instant, voter: SocketAddr, ip: IpAddr) {
        // One vote per public address, so that one host on many ports cannot
        // outvote the rest; local voters (many nodes on one machine) count
        // per port, as in the rate limiter.
        let voter = if crate::id::bep42_exempt(voter.ip()) {
            voter
        } else {
            SocketAddr::new(voter.ip(), 0)
        };
        if self.votes.len() >= 64 && !self.votes.contains_key(&ip) {
            return;
        }
        let voters = self.votes.entry(ip).or_default();
        if voters.len() < 64 {
            voters.insert(voter);
        }
        let (best, count) = self
            .votes
            .iter()
            .map(|(ip, v)| (*ip, v.len()))
            .max_by_key(|(_, n)| *n)
            .unwrap_or((ip, 0));
        if count < EXTERNAL_VOTES || self.external_ip == Some(best) {
            return;
        }
        self.external_ip = Some(best);
        let mut new_id = None;
        if self.config.id.is_none() && !bep42_valid(&self.id, best) {
            let id = bep42_random_id(best, &mut self.rng);
            self.set_id(now, id);
            new_id = Some(id);
        }
        tracing::info!(%best, ?new_id, "external address");
        self.push_event(Event::ExternalAddress { ip: best, new_id });
    }

    fn set_id(&mut self, now: Instant, id: NodeId) {
        self.id = id;
        for table in [&mut self.table4, &mut self.table6] {
            let old = std::mem::replace(table, RoutingTable::new(id, self.config.k, now));
            for n in old.iter() {
                table.insert(now, n.id, n.addr, Contact::Responded);
            }
        }
    }

    /// Handles timers due at `now`: query timeouts and retries, token
    /// rotation, bucket refresh, pings of questionable nodes, store expiry.
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some(&(deadline, tid)) = self.deadlines.first() {
            if deadline > now {
                break;
            }
            self.deadlines.pop_first();
            let Some(mut o) = self.outstanding.remove(&tid) else {
                continue;
            };
            let is_lookup = matches!(o.purpose, Purpose::Lookup { .. });
            if is_lookup && o.tries < self.config.max_retries {
                o.tries += 1;
                o.deadline = now + self.config.query_timeout;
                self.deadlines.insert((o.deadline, tid));
                let (to, payload) = (o.to, o.payload.clone());
                if let Purpose::Lookup { query, .. } = o.purpose
                    && let Some(l) = self.lookups.get_mut(&query)
                {
                    l.stats.messages += 1;
                }
                self.outstanding.insert(tid, o);
                self.send(to, payload);
                continue;
            }
            if let Some(id) = o.node {
                if o.to.is_ipv6() {
                    self.table6.failed(now, &id);
                } else {
                    self.table4.failed(now, &id);
                }
            }
            match o.purpose {
                Purpose::Ping => {}
                Purpose::Store { query } => {
                    if let Some(l) = self.lookups.get_mut(&query)
                        && let Phase::Storing { outstanding } = &mut l.phase
                    {
                        *outstanding = outstanding.saturating_sub(1);
                        if *outstanding == 0 {
                            self.finish(query);
                        }
                    }
                }
                Purpose::Lookup { query, node } => {
                    self.lookup_reply(query, o.to, node, Err(0));
                    self.step_lookup(now, query);
                }
            }
        }
        if now >= self.rotate_at {
            self.tokens.rotate(&mut self.rng);
            self.rotate_at = now + self.config.token_rotation;
        }
        if now >= self.maintain_at {
            self.maintain_at = now + MAINTENANCE;
            self.peers.expire(now);
            self.items.expire(now);
            for n in self
                .table4
                .questionable(now, 2)
                .into_iter()
                .chain(self.table6.questionable(now, 2))
            {
                let q = Query::Ping { id: self.id };
                self.send_query(now, n.addr, Some(n.id), q, Purpose::Ping);
            }
            if !self.table4.is_empty() || !self.table6.is_empty() {
                let mut targets = self.table4.take_refresh_targets(now, &mut self.rng);
                targets.extend(self.table6.take_refresh_targets(now, &mut self.rng));
                for t in targets.into_iter().take(4) {
                    self.find_node(now, t);
                }
            }
        }
    }

    // ---- saved state -----------------------------------------------------

    /// The routing table, bencoded: `id`, `nodes` and `nodes6` (compact), to
    /// be given to [`import_table`](Self::import_table) after a restart.
    pub fn export_table(&self) -> Vec<u8> {
        let enc = |t: &RoutingTable| {
            let mut b = Vec::new();
            for n in t.iter() {
                b.extend_from_slice(&n.id.0);
                krpc::compact_addr(&n.addr, &mut b);
            }
            b
        };
        let mut d = bitswarm_bencode::DictBuilder::new();
        d.insert("id", &self.id.0[..]);
        d.insert("nodes", enc(&self.table4));
        d.insert("nodes6", enc(&self.table6));
        d.to_bencode()
    }

    /// Adds the nodes of a saved table as questionable entries (they are
    /// pinged before they count as good) and returns how many were taken.
    pub fn import_table(&mut self, now: Instant, saved: &[u8]) -> Result<usize, Error> {
        let bad = |what| Error::InvalidState { what };
        let v = bitswarm_bencode::decode(saved).map_err(|_| bad("not bencode"))?;
        let mut count = 0;
        for (field, len) in [("nodes", 26usize), ("nodes6", 38)] {
            let Some(b) = v.get(field) else { continue };
            let Kind::Bytes(b) = b.kind() else {
                return Err(bad("nodes is not a byte string"));
            };
            if b.len() % len != 0 {
                return Err(bad("nodes length"));
            }
            for c in b.chunks_exact(len).take(4096) {
                let (Some(id), Some(addr)) = (
                    NodeId::from_slice(&c[..20]),
                    krpc::parse_compact_addr(&c[20..]),
                ) else {
                    continue;
                };
                if self.config.enforce_node_id && !bep42_valid(&id, addr.ip()) {
                    continue;
                }
                let t = self.table_for(&addr);
                if matches!(
                    t.insert(now, id, addr, Contact::Queried),
                    InsertOutcome::Added
                ) {
                    count += 1;
                }
            }
        }
        Ok(count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::id::bep42_id;

    fn node(now: Instant) -> Node {
        Node::new(
            Config {
                id: Some(NodeId([0x42; 20])),
                seed: Some(5),
                ..Config::default()
            },
            now,
        )
    }

    fn query(q: Query, t: &[u8]) -> Vec<u8> {
        Message {
            transaction_id: t.to_vec(),
            version: None,
            ip: None,
            read_only: false,
            body: Body::Query(q),
        }
        .to_bytes()
    }

    fn reply(n: &mut Node) -> Message {
        let t = n.poll_transmit().expect("a reply");
        Message::decode(&t.payload).unwrap()
    }

    #[test]
    fn unknown_method_gets_204_and_bad_query_203() {
        let now = Instant::now();
        let mut n = node(now);
        let from = SocketAddr::from(([127, 0, 0, 1], 9));
        n.handle_datagram(
            now,
            from,
            b"d1:ad2:id20:abcdefghij0123456789e1:q3:foo1:t2:xy1:y1:qe",
        );
        let r = reply(&mut n);
        assert_eq!(r.transaction_id, b"xy");
        assert!(matches!(r.body, Body::Error { code: 204, .. }), "{r:?}");
        n.handle_datagram(now, from, b"d1:ad2:id2:abe1:q4:ping1:t2:zz1:y1:qe");
        let r = reply(&mut n);
        assert!(matches!(r.body, Body::Error { code: 203, .. }), "{r:?}");
        // Not a query: no reply at all.
        n.handle_datagram(now, from, b"garbage");
        assert!(n.poll_transmit().is_none());
        assert_eq!(n.stats().malformed, 3);
    }

    #[test]
    fn announce_needs_a_valid_token() {
        let now = Instant::now();
        let mut n = node(now);
        let from = SocketAddr::from(([127, 0, 0, 1], 9));
        let id = NodeId([1; 20]);
        let hash = NodeId([9; 20]);
        let bad = query(
            Query::AnnouncePeer {
                id,
                info_hash: hash,
                port: 5,
                implied_port: false,
                token: b"nope".to_vec(),
            },
            b"a",
        );
        n.handle_datagram(now, from, &bad);
        assert!(matches!(reply(&mut n).body, Body::Error { code: 203, .. }));
        n.handle_datagram(
            now,
            from,
            &query(
                Query::GetPeers {
                    id,
                    info_hash: hash,
                    want: Want::default(),
                },
                b"b",
            ),
        );
        let Body::Response(r) = reply(&mut n).body else {
            panic!()
        };
        let token = r.token.unwrap();
        let good = query(
            Query::AnnouncePeer {
                id,
                info_hash: hash,
                port: 5,
                implied_port: true,
                token,
            },
            b"c",
        );
        n.handle_datagram(now, from, &good);
        assert!(matches!(reply(&mut n).body, Body::Response(_)));
        n.handle_datagram(
            now,
            from,
            &query(
                Query::GetPeers {
                    id,
                    info_hash: hash,
                    want: Want::default(),
                },
                b"d",
            ),
        );
        let Body::Response(r) = reply(&mut n).body else {
            panic!()
        };
        assert_eq!(r.values, vec![from], "implied_port takes the source port");
    }

    #[test]
    fn bep42_keeps_non_conforming_public_ids_out() {
        let now = Instant::now();
        let mut n = node(now);
        let public = SocketAddr::from(([124, 31, 75, 21], 6881));
        n.handle_datagram(
            now,
            public,
            &query(
                Query::Ping {
                    id: NodeId([1; 20]),
                },
                b"a",
            ),
        );
        assert!(
            matches!(reply(&mut n).body, Body::Response(_)),
            "still answered"
        );
        assert_eq!(n.table_v4().len(), 0);
        assert_eq!(n.stats().bad_ids, 1);
        let good = bep42_id(public.ip(), 1, [3; 17]);
        n.handle_datagram(now, public, &query(Query::Ping { id: good }, b"b"));
        assert_eq!(n.table_v4().len(), 1);
        // Loopback is exempt: any id enters.
        let local = SocketAddr::from(([127, 0, 0, 1], 7));
        n.handle_datagram(
            now,
            local,
            &query(
                Query::Ping {
                    id: NodeId([2; 20]),
                },
                b"c",
            ),
        );
        assert_eq!(n.table_v4().len(), 2);
    }

    #[test]
    fn rate_limit_drops_floods_from_one_source() {
        let now = Instant::now();
        let mut n = node(now);
        let from = SocketAddr::from(([8, 8, 8, 8], 1));
        for i in 0..500u32 {
            n.handle_datagram(
                now,
                from,
                &query(
                    Query::Ping {
                        id: NodeId([1; 20]),
                    },
                    &i.to_be_bytes(),
                ),
            );
        }
        let mut replies = 0;
        while n.poll_transmit().is_some() {
            replies += 1;
        }
        assert_eq!(replies, Config::default().rate_burst as usize);
        assert_eq!(n.stats().rate_limited, 500 - replies as u64);
    }

    #[test]
    fn external_address_by_majority_gives_a_bep42_id() {
        let now = Instant::now();
        let mut n = Node::new(
            Config {
                seed: Some(1),
                ..Config::default()
            },
            now,
        );
        let me: IpAddr = "84.124.73.14".parse().unwrap();
        for i in 0..3u8 {
            let peer = SocketAddr::from(([127, 0, 0, 1], 100 + u16::from(i)));
            n.add_node(now, peer);
            let t = n.poll_transmit().unwrap();
            let q = Message::decode(&t.payload).unwrap();
            let r = Message {
                transaction_id: q.transaction_id,
                version: None,
                ip: Some(SocketAddr::new(me, 6881)),
                read_only: false,
                body: Body::Response(Response::new(NodeId([i + 1; 20]))),
            };
            n.handle_datagram(now, peer, &r.to_bytes());
        }
        assert_eq!(n.external_ip(), Some(me));
        assert!(bep42_valid(&n.id(), me));
        assert_eq!(n.table_v4().len(), 3, "the table survives the id change");
        assert!(matches!(
            n.poll_event(),
            Some(Event::ExternalAddress {
                new_id: Some(_),
                ..
            })
        ));
    }

    #[test]
    fn one_public_host_on_many_ports_is_one_vote() {
        let now = Instant::now();
        let mut n = Node::new(
            Config {
                seed: Some(1),
                enforce_node_id: false,
                ..Config::default()
            },
            now,
        );
        let liar: IpAddr = "6.6.6.6".parse().unwrap();
        for port in 1..=5u16 {
            let peer = SocketAddr::from(([9, 9, 9, 9], port));
            n.add_node(now, peer);
            let q = Message::decode(&n.poll_transmit().unwrap().payload).unwrap();
            let r = Message {
                transaction_id: q.transaction_id,
                version: None,
                ip: Some(SocketAddr::new(liar, 1)),
                read_only: false,
                body: Body::Response(Response::new(NodeId([port as u8; 20]))),
            };
            n.handle_datagram(now, peer, &r.to_bytes());
        }
        assert_eq!(n.external_ip(), None);
    }

    #[test]
    fn lookup_retries_then_fails_over_and_finishes() {
        let now = Instant::now();
        let mut n = node(now);
        let peer = SocketAddr::from(([127, 0, 0, 1], 5));
        n.handle_datagram(
            now,
            peer,
            &query(
                Query::Ping {
                    id: NodeId([1; 20]),
                },
                b"a",
            ),
        );
        n.poll_transmit();
        let q = n.find_node(now, NodeId([3; 20]));
        assert!(n.poll_transmit().is_some());
        let t1 = n.poll_timeout().unwrap();
        n.handle_timeout(t1);
        assert!(n.poll_transmit().is_some(), "one retry");
        let t2 = n.poll_timeout().unwrap();
        n.handle_timeout(t2);
        let done = std::iter::from_fn(|| n.poll_event()).find(|e| matches!(e, Event::Done { .. }));
        let Some(Event::Done { query, stats }) = done else {
            panic!("no Done")
        };
        assert_eq!(query, q);
        assert_eq!(stats.messages, 2);
        assert_eq!(stats.responses, 0);
    }

    #[test]
    fn saved_table_round_trips() {
        let now = Instant::now();
        let mut a = node(now);
        for i in 1..20u8 {
            let from = SocketAddr::from(([127, 0, 0, 1], u16::from(i)));
            a.handle_datagram(
                now,
                from,
                &query(
                    Query::Ping {
                        id: NodeId([i; 20]),
                    },
                    b"a",
                ),
            );
        }
        let saved = a.export_table();
        let mut b = node(now);
        let taken = b.import_table(now, &saved).unwrap();
        assert_eq!(taken, a.table_v4().len());
        assert!(b.import_table(now, b"garbage").is_err());
    }
}
