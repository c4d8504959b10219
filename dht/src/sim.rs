//! A deterministic network of many [`Node`]s in one process: virtual time,
//! latency, packet loss and a seeded RNG. Tests and benchmarks use it; so can
//! anyone who wants to try a change against thousands of nodes.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, HashSet};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::id::bep42_random_id;
use crate::node::{Config, Event, Node, QueryId};

/// The shape of a simulated network.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// How many nodes.
    pub nodes: usize,
    /// Shortest one-way delay.
    pub min_latency: Duration,
    /// Longest one-way delay.
    pub max_latency: Duration,
    /// Fraction of datagrams lost, 0.0 to 1.0.
    pub loss: f64,
    /// Seed of everything random: ids, delays, losses, node RNGs.
    pub seed: u64,
    /// The configuration every node starts from (its id, seed and bootstrap
    /// addresses are set per node).
    pub node: Config,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            nodes: 1000,
            min_latency: Duration::from_millis(10),
            max_latency: Duration::from_millis(150),
            loss: 0.10,
            seed: 1,
            node: Config::default(),
        }
    }
}

#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Packet {
    deliver_at: Instant,
    seq: u64,
    from: SocketAddr,
    to: usize,
    bytes: Vec<u8>,
}

/// Message counts of a simulated network.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SimCounters {
    /// Datagrams sent by all nodes.
    pub sent: u64,
    /// Datagrams lost on the way.
    pub lost: u64,
    /// Datagrams delivered.
    pub delivered: u64,
}

/// The simulated network.
#[derive(Debug)]
pub struct Sim {
    nodes: Vec<Node>,
    addrs: Vec<SocketAddr>,
    index: HashMap<SocketAddr, usize>,
    packets: BinaryHeap<Reverse<Packet>>,
    timers: BinaryHeap<Reverse<(Instant, usize)>>,
    wake: Vec<Option<Instant>>,
    watched: HashSet<(usize, QueryId)>,
    events: HashMap<(usize, QueryId), Vec<Event>>,
    now: Instant,
    rng: StdRng,
    seq: u64,
    config: SimConfig,
    counters: SimCounters,
}

impl Sim {
    /// Nodes at public IPv4 addresses with BEP 42 ids made from them, not
    /// yet joined. `start` is the virtual clock's origin.
    pub fn new(config: SimConfig, start: Instant) -> Self {
        let mut rng = StdRng::seed_from_u64(config.seed);
        let mut nodes = Vec::with_capacity(config.nodes);
        let mut addrs = Vec::with_capacity(config.nodes);
        let mut index = HashMap::new();
        for i in 0..config.nodes {
            // 11.0.0.0/8 and up: public addresses, so BEP 42 applies to all.
            let ip = Ipv4Addr::from(0x0b00_0000u32 + (i as u32) * 3 + 1);
            let addr = SocketAddr::new(IpAddr::V4(ip), 6881);
            let mut cfg = config.node.clone();
            cfg.id = Some(bep42_random_id(addr.ip(), &mut rng));
            cfg.seed = Some(rng.r#gen());
            if i > 0 {
                // Each node knows a few that joined before it.
                cfg.bootstrap = (0..2).map(|_| addrs[rng.gen_range(0..i)]).collect();
            }
            nodes.push(Node::new(cfg, start));
            index.insert(addr, i);
            addrs.push(addr);
        }
        Self {
            wake: vec![None; nodes.len()],
            nodes,
            addrs,
            index,
            packets: BinaryHeap::new(),
            timers: BinaryHeap::new(),
            watched: HashSet::new(),
            events: HashMap::new(),
            now: start,
            rng,
            seq: 0,
            config,
            counters: SimCounters::default(),
        }
    }

    /// The virtual time.
    pub fn now(&self) -> Instant {
        self.now
    }

    /// How many nodes.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Whether there are no nodes.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// Node `i`.
    pub fn node(&self, i: usize) -> &Node {
        &self.nodes[i]
    }

    /// Node `i`'s address.
    pub fn addr(&self, i: usize) -> SocketAddr {
        self.addrs[i]
    }

    /// Message counts so far.
    pub fn counters(&self) -> SimCounters {
        self.counters
    }

    /// Bootstraps the nodes one after another, `gap` apart in virtual time,
    /// then lets the network run for `settle`.
    pub fn join_all(&mut self, gap: Duration, settle: Duration) {
        for i in 0..self.nodes.len() {
            self.run_for(gap);
            let now = self.now;
            self.nodes[i].bootstrap(now);
            self.flush(i);
        }
        self.run_for(settle);
    }

    /// Runs a command on node `i` at the current virtual time and records the
    /// events of the lookup it starts.
    pub fn command(&mut self, i: usize, f: impl FnOnce(&mut Node, Instant) -> QueryId) -> QueryId {
        let now = self.now;
        let q = f(&mut self.nodes[i], now);
        self.watched.insert((i, q));
        self.flush(i);
        q
    }

    /// Whether the lookup `q` of node `i` has finished.
    pub fn is_done(&self, i: usize, q: QueryId) -> bool {
        self.events
            .get(&(i, q))
            .is_some_and(|es| es.iter().any(|e| matches!(e, Event::Done { .. })))
    }

    /// The events recorded for lookup `q` of node `i`.
    pub fn events(&self, i: usize, q: QueryId) -> &[Event] {
        self.events.get(&(i, q)).map_or(&[], |v| &v[..])
    }

    /// Runs until every lookup in `queries` is done or `limit` of virtual time passes.
    pub fn run_until_done(&mut self, queries: &[(usize, QueryId)], limit: Duration) {
        let end = self.now + limit;
        while self.now < end && !queries.iter().all(|(i, q)| self.is_done(*i, *q)) {
            if !self.step(end) {
                break;
            }
        }
    }

    /// Runs the network for `d` of virtual time.
    pub fn run_for(&mut self, d: Duration) {
        let end = self.now + d;
        while self.step(end) {}
        self.now = self.now.max(end);
    }

    /// Delivers the next packet or fires the next timer due before `end`;
    /// false when nothing is.
    fn step(&mut self, end: Instant) -> bool {
        let next_packet = self.packets.peek().map(|Reverse(p)| p.deliver_at);
        let next_timer = loop {
            match self.timers.peek() {
                Some(Reverse((t, i))) if self.wake[*i] != Some(*t) => {
                    self.timers.pop();
                }
                Some(Reverse((t, _))) => break Some(*t),
                None => break None,
            }
        };
        let packet_first = match (next_packet, next_timer) {
            (Some(p), Some(t)) => p <= t,
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (None, None) => return false,
        };
        if packet_first {
            let at = next_packet.unwrap_or(end);
            if at > end {
                return false;
            }
            let Some(Reverse(p)) = self.packets.pop() else {
                return false;
            };
            self.now = self.now.max(p.deliver_at);
            self.counters.delivered += 1;
            let now = self.now;
            self.nodes[p.to].handle_datagram(now, p.from, &p.bytes);
            self.flush(p.to);
        } else {
            let Some(Reverse((t, i))) = self.timers.pop() else {
                return false;
            };
            if t > end {
                self.timers.push(Reverse((t, i)));
                return false;
            }
            self.now = self.now.max(t);
            self.wake[i] = None;
            let now = self.now;
            self.nodes[i].handle_timeout(now);
            self.flush(i);
        }
        true
    }

    /// Moves node `i`'s datagrams into the network, its events into the
    /// record, and its next timer into the schedule.
    fn flush(&mut self, i: usize) {
        let from = self.addrs[i];
        while let Some(t) = self.nodes[i].poll_transmit() {
            self.counters.sent += 1;
            let Some(&to) = self.index.get(&t.destination) else {
                continue;
            };
            if self.rng.gen_bool(self.config.loss.clamp(0.0, 1.0)) {
                self.counters.lost += 1;
                continue;
            }
            let (lo, hi) = (
                self.config.min_latency,
                self.config.max_latency.max(self.config.min_latency),
            );
            let delay = lo + (hi - lo).mul_f64(self.rng.r#gen::<f64>());
            self.seq += 1;
            self.packets.push(Reverse(Packet {
                deliver_at: self.now + delay,
                seq: self.seq,
                from,
                to,
                bytes: t.payload,
            }));
        }
        while let Some(e) = self.nodes[i].poll_event() {
            let q = match &e {
                Event::Peers { query, .. }
                | Event::Item { query, .. }
                | Event::Samples { query, .. }
                | Event::Done { query, .. } => *query,
                Event::ExternalAddress { .. } => continue,
            };
            if self.watched.contains(&(i, q)) {
                self.events.entry((i, q)).or_default().push(e);
            }
        }
        let next = self.nodes[i].poll_timeout();
        if next != self.wake[i] {
            self.wake[i] = next;
            if let Some(t) = next {
                self.timers.push(Reverse((t, i)));
            }
        }
    }
}
