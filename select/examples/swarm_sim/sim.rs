//! A deterministic swarm simulator driven only by `bitswarm-select`.
//!
//! Every simulated peer is one [`Selector`]. The simulator plays the part
//! of the network and of each peer's disk and wire code: it carries the
//! selectors' actions as messages between peers after a per-link latency,
//! uploads requested blocks one at a time at each peer's upload capacity
//! (round robin over the peers it unchoked), and feeds every arrival back
//! into the receiving selector. Time is virtual (an event queue ordered by
//! time, then by insertion) and all randomness comes from one seeded RNG,
//! so a run is a pure function of its [`SimConfig`].
//!
//! Peers that complete leave the swarm (the worst case for piece
//! diversity); the initial seed stays. A peer whose connections drop below
//! half the target asks the "tracker" (the simulator) for new ones, and
//! every peer re-announces every 5 minutes, asking for more peers when none
//! of its neighbours has a piece it wants.

#![allow(dead_code)] // Shared by the example binary and the integration test.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap, VecDeque};
use std::time::{Duration, Instant};

use bitswarm_core::{Bitfield, BlockRef, PieceIndex};
use bitswarm_select::{
    Action, BlockOutcome, PeerKey, PeerOptions, PieceLayout, RandomPieces, RarestFirst, Revelation,
    SeedChoker, SeedMode, SelectConfig, Selector, Sequential,
};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// Which piece strategy every leecher uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Strategy {
    /// [`RarestFirst`] with its default random first pieces.
    RarestFirst,
    /// [`RandomPieces`].
    Random,
    /// [`Sequential`] with a window of 8 and no fallback: strict streaming.
    Sequential,
}

impl Strategy {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::RarestFirst => "rarest-first",
            Self::Random => "random",
            Self::Sequential => "sequential (window 8)",
        }
    }
}

/// One simulation run.
#[derive(Debug, Clone)]
pub(crate) struct SimConfig {
    /// Leechers that upload.
    pub(crate) leechers: usize,
    /// Leechers that never upload (they never unchoke anybody).
    pub(crate) free_riders: usize,
    pub(crate) pieces: u32,
    pub(crate) piece_length: u32,
    /// Upload capacity of the initial seed, bytes per second.
    pub(crate) seed_upload: u64,
    /// Leecher upload capacities, bytes per second, drawn uniformly from this list.
    pub(crate) leecher_uploads: Vec<u64>,
    /// One-way access latency of each peer, drawn uniformly from this range
    /// in milliseconds; a link's latency is the sum of both ends'.
    pub(crate) latency_ms: (u64, u64),
    /// Connections each peer opens at the start (it also accepts others').
    pub(crate) connections: usize,
    pub(crate) strategy: Strategy,
    /// Tit-for-tat while leeching; otherwise round-robin unchoking.
    pub(crate) tit_for_tat: bool,
    /// How the initial seed chooses whom to upload to.
    pub(crate) seed_mode: SeedMode,
    /// Upload slots of every peer.
    pub(crate) upload_slots: usize,
    pub(crate) rng_seed: u64,
    /// Simulated time after which the run stops.
    pub(crate) time_limit: Duration,
}

impl SimConfig {
    /// A flash crowd: one seed, `leechers` peers arriving at once.
    pub(crate) fn flash_crowd(leechers: usize, pieces: u32, rng_seed: u64) -> Self {
        Self {
            leechers,
            free_riders: 0,
            pieces,
            piece_length: 64 * 1024,
            seed_upload: 128 * 1024,
            leecher_uploads: vec![32 * 1024, 64 * 1024, 128 * 1024],
            latency_ms: (10, 60),
            connections: 25,
            strategy: Strategy::RarestFirst,
            tit_for_tat: true,
            upload_slots: 4,
            seed_mode: SeedMode::RoundRobin {
                period: Duration::from_secs(10),
            },
            rng_seed,
            time_limit: Duration::from_secs(6 * 3600),
        }
    }
}

/// What a run measured.
#[derive(Debug, Clone)]
pub(crate) struct SimReport {
    /// Seconds from the start until each uploading leecher completed.
    pub(crate) completion: Vec<f64>,
    /// Seconds until each free-rider completed.
    pub(crate) free_rider_completion: Vec<f64>,
    /// Leechers (of both kinds) not complete at the time limit.
    pub(crate) unfinished: usize,
    /// Bytes the initial seed uploaded, in units of the torrent size.
    pub(crate) seed_uploaded_copies: f64,
    /// Events processed.
    pub(crate) events: u64,
}

impl SimReport {
    pub(crate) fn mean(&self) -> f64 {
        mean(&self.completion)
    }
    pub(crate) fn last(&self) -> f64 {
        self.completion.iter().copied().fold(0.0, f64::max)
    }
    pub(crate) fn free_rider_mean(&self) -> f64 {
        mean(&self.free_rider_completion)
    }
}

fn mean(v: &[f64]) -> f64 {
    if v.is_empty() {
        f64::NAN
    } else {
        v.iter().sum::<f64>() / v.len() as f64
    }
}

#[derive(Debug, Clone)]
enum Msg {
    Reveal(Revelation),
    Have(PieceIndex),
    Interested,
    NotInterested,
    Choke,
    Unchoke,
    Request(BlockRef),
    Cancel(BlockRef),
    Piece(BlockRef),
    Reject(BlockRef),
}

#[derive(Debug)]
enum Event {
    Deliver {
        to: usize,
        from: usize,
        msg: Msg,
    },
    UploadDone {
        node: usize,
    },
    Timer {
        node: usize,
    },
    /// The peer asks the tracker for more peers when it has too few or
    /// none with pieces it wants.
    Announce {
        node: usize,
    },
}

/// How often a leecher re-announces (real clients: every 5 to 30 minutes).
const ANNOUNCE_INTERVAL: Duration = Duration::from_secs(300);

#[derive(PartialEq, Eq, PartialOrd, Ord)]
struct Key(Duration, u64);

struct Node {
    sel: Selector<StdRng>,
    upload: u64,
    latency: Duration,
    free_rider: bool,
    is_seed: bool,
    alive: bool,
    neighbours: BTreeSet<usize>,
    /// Requests received from each peer we unchoked, served round robin.
    queues: BTreeMap<usize, VecDeque<BlockRef>>,
    uploading: Option<(usize, BlockRef)>,
    rr_cursor: usize,
    timer_at: Option<Duration>,
    done_at: Option<Duration>,
}

/// The simulator state.
pub(crate) struct Sim {
    cfg: SimConfig,
    nodes: Vec<Node>,
    events: BinaryHeap<Reverse<(Key, usize)>>,
    payloads: Vec<Option<Event>>,
    free_slots: Vec<usize>,
    seq: u64,
    now: Duration,
    base: Instant,
    rng: StdRng,
    /// Nodes still in the swarm, for the tracker to hand out.
    live: Vec<usize>,
    uploaded_by_seed: u64,
    processed: u64,
}

/// Requests a peer queues from one other peer at most; more are rejected.
const MAX_QUEUED_PER_PEER: usize = 512;

impl Sim {
    pub(crate) fn new(cfg: SimConfig) -> Self {
        let mut rng = StdRng::seed_from_u64(cfg.rng_seed);
        let layout = PieceLayout::new(
            u64::from(cfg.pieces) * u64::from(cfg.piece_length),
            cfg.piece_length,
        )
        .expect("valid layout");
        let total = 1 + cfg.leechers + cfg.free_riders;
        let mut nodes = Vec::with_capacity(total);
        for i in 0..total {
            let mut config = SelectConfig::default();
            config.upload_slots = cfg.upload_slots;
            config.max_peers = total.max(2);
            let node_rng = StdRng::seed_from_u64(rng.r#gen());
            let mut sel = Selector::new(config, layout, node_rng).expect("valid config");
            match cfg.strategy {
                Strategy::RarestFirst => sel.set_strategy(Box::new(RarestFirst::default())),
                Strategy::Random => sel.set_strategy(Box::new(RandomPieces)),
                Strategy::Sequential => sel.set_strategy(Box::new(Sequential {
                    window: 8,
                    fallback_rarest: false,
                })),
            }
            if !cfg.tit_for_tat {
                sel.set_leech_choker(Box::new(SeedChoker::new(SeedMode::RoundRobin {
                    period: Duration::from_secs(30),
                })));
            }
            let is_seed = i == 0;
            sel.set_seed_choker(Box::new(SeedChoker::new(cfg.seed_mode)));
            if is_seed {
                sel.set_have(&Bitfield::full(cfg.pieces))
                    .expect("length matches");
            }
            let free_rider = i > cfg.leechers;
            let upload = if is_seed {
                cfg.seed_upload
            } else if free_rider {
                0
            } else {
                cfg.leecher_uploads[rng.gen_range(0..cfg.leecher_uploads.len())]
            };
            let latency = Duration::from_millis(rng.gen_range(cfg.latency_ms.0..=cfg.latency_ms.1));
            nodes.push(Node {
                sel,
                upload,
                latency,
                free_rider,
                is_seed,
                alive: true,
                neighbours: BTreeSet::new(),
                queues: BTreeMap::new(),
                uploading: None,
                rr_cursor: 0,
                timer_at: None,
                done_at: None,
            });
        }
        let mut sim = Self {
            cfg,
            nodes,
            events: BinaryHeap::new(),
            payloads: Vec::new(),
            free_slots: Vec::new(),
            seq: 0,
            now: Duration::ZERO,
            base: Instant::now(),
            rng,
            live: (0..total).collect(),
            uploaded_by_seed: 0,
            processed: 0,
        };
        for i in 0..total {
            sim.find_neighbours(i, sim.cfg.connections);
        }
        for i in 0..total {
            sim.after_input(i);
            let first = Duration::from_millis(sim.rng.gen_range(0..300_000));
            sim.schedule(first, Event::Announce { node: i });
        }
        sim
    }

    fn instant(&self) -> Instant {
        self.base + self.now
    }

    fn schedule(&mut self, at: Duration, event: Event) {
        let slot = match self.free_slots.pop() {
            Some(s) => {
                self.payloads[s] = Some(event);
                s
            }
            None => {
                self.payloads.push(Some(event));
                self.payloads.len() - 1
            }
        };
        self.seq += 1;
        self.events.push(Reverse((Key(at, self.seq), slot)));
    }

    fn send(&mut self, from: usize, to: usize, msg: Msg) {
        let at = self.now + self.nodes[from].latency + self.nodes[to].latency;
        self.schedule(at, Event::Deliver { to, from, msg });
    }

    /// Connects `node` to up to `want` random live peers it is not yet connected to.
    fn find_neighbours(&mut self, node: usize, want: usize) {
        let mut tries = 0;
        let mut added = 0;
        while added < want && tries < want * 8 && !self.live.is_empty() {
            tries += 1;
            let other = self.live[self.rng.gen_range(0..self.live.len())];
            if other == node || self.nodes[node].neighbours.contains(&other) {
                continue;
            }
            self.connect(node, other);
            added += 1;
        }
    }

    fn announce(&mut self, node: usize) {
        let n = &self.nodes[node];
        let wants_something = n
            .neighbours
            .iter()
            .any(|&j| n.sel.is_interested_in(PeerKey(j as u64)));
        let have = n.neighbours.len();
        if !wants_something {
            self.find_neighbours(node, self.cfg.connections / 2);
        } else if have < self.cfg.connections {
            self.find_neighbours(node, self.cfg.connections - have);
        }
        let next = self.now + ANNOUNCE_INTERVAL;
        self.schedule(next, Event::Announce { node });
    }

    fn connect(&mut self, a: usize, b: usize) {
        let now = self.instant();
        for (x, y) in [(a, b), (b, a)] {
            self.nodes[x].neighbours.insert(y);
            let rev = self.nodes[x]
                .sel
                .add_peer(now, PeerKey(y as u64), PeerOptions::fast(true))
                .expect("peer limit covers the swarm");
            self.send(x, y, Msg::Reveal(rev));
        }
    }

    /// Runs until every leecher completed or the time limit.
    pub(crate) fn run(mut self) -> SimReport {
        let leechers = self.cfg.leechers + self.cfg.free_riders;
        let mut complete = 0;
        while complete < leechers {
            let Some(Reverse((Key(at, _), slot))) = self.events.pop() else {
                break;
            };
            if at > self.cfg.time_limit {
                break;
            }
            self.now = at;
            let Some(event) = self.payloads[slot].take() else {
                continue;
            };
            self.free_slots.push(slot);
            self.processed += 1;
            let node = match event {
                Event::Deliver { to, from, msg } => {
                    if !self.nodes[to].alive || !self.nodes[from].alive {
                        continue;
                    }
                    if !self.nodes[to].neighbours.contains(&from) {
                        continue;
                    }
                    self.deliver(to, from, msg);
                    to
                }
                Event::UploadDone { node } => {
                    if !self.nodes[node].alive {
                        continue;
                    }
                    self.upload_done(node);
                    node
                }
                Event::Announce { node } => {
                    if !self.nodes[node].alive || self.nodes[node].is_seed {
                        continue;
                    }
                    self.announce(node);
                    node
                }
                Event::Timer { node } => {
                    if !self.nodes[node].alive || self.nodes[node].timer_at != Some(at) {
                        continue;
                    }
                    self.nodes[node].timer_at = None;
                    let now = self.instant();
                    self.nodes[node].sel.handle_timeout(now);
                    node
                }
            };
            self.after_input(node);
            if self.nodes[node].done_at.is_none()
                && !self.nodes[node].is_seed
                && self.nodes[node].sel.is_complete()
            {
                self.nodes[node].done_at = Some(self.now);
                complete += 1;
                self.leave(node);
            }
        }
        let mut completion = Vec::new();
        let mut free_rider_completion = Vec::new();
        let mut unfinished = 0;
        for n in &self.nodes[1..] {
            match (n.done_at, n.free_rider) {
                (Some(t), false) => completion.push(t.as_secs_f64()),
                (Some(t), true) => free_rider_completion.push(t.as_secs_f64()),
                (None, _) => unfinished += 1,
            }
        }
        let size = f64::from(self.cfg.pieces) * f64::from(self.cfg.piece_length);
        SimReport {
            completion,
            free_rider_completion,
            unfinished,
            seed_uploaded_copies: self.uploaded_by_seed as f64 / size,
            events: self.processed,
        }
    }

    fn leave(&mut self, node: usize) {
        self.nodes[node].alive = false;
        self.live.retain(|&n| n != node);
        let now = self.instant();
        let neighbours: Vec<usize> = self.nodes[node].neighbours.iter().copied().collect();
        for other in neighbours {
            self.nodes[other].neighbours.remove(&node);
            self.nodes[other].queues.remove(&node);
            let _ = self.nodes[other].sel.remove_peer(now, PeerKey(node as u64));
            if self.nodes[other].neighbours.len() < self.cfg.connections / 2 {
                let want = self.cfg.connections - self.nodes[other].neighbours.len();
                self.find_neighbours(other, want);
            }
            self.after_input(other);
        }
    }

    fn deliver(&mut self, to: usize, from: usize, msg: Msg) {
        let now = self.instant();
        let key = PeerKey(from as u64);
        let node = &mut self.nodes[to];
        let sel = &mut node.sel;
        let result = match msg {
            Msg::Reveal(Revelation::HaveAll) => sel.peer_have_all(key),
            Msg::Reveal(Revelation::HaveNone | Revelation::Nothing) => sel.peer_have_none(key),
            Msg::Reveal(Revelation::Bitfield(bf)) => sel.peer_bitfield(key, &bf),
            Msg::Reveal(_) => Ok(()),
            Msg::Have(p) => sel.peer_have(key, p),
            Msg::Interested => sel.peer_interested(now, key),
            Msg::NotInterested => sel.peer_not_interested(now, key),
            Msg::Choke => sel.peer_choked_us(now, key),
            Msg::Unchoke => sel.peer_unchoked_us(now, key),
            Msg::Request(block) => {
                let queue = node.queues.entry(from).or_default();
                if sel.is_choking(key) || queue.len() >= MAX_QUEUED_PER_PEER {
                    self.send(to, from, Msg::Reject(block));
                } else {
                    queue.push_back(block);
                    self.start_upload(to);
                }
                Ok(())
            }
            Msg::Cancel(block) => {
                if let Some(q) = node.queues.get_mut(&from) {
                    q.retain(|b| *b != block);
                }
                Ok(())
            }
            Msg::Piece(block) => match sel.block_received(now, key, block) {
                Ok(BlockOutcome::Accepted {
                    piece_complete: true,
                }) => sel.piece_verified(now, block.piece, true),
                Ok(_) => Ok(()),
                Err(e) => Err(e),
            },
            Msg::Reject(block) => sel.peer_rejected(now, key, block),
        };
        if let Err(e) = result {
            panic!("node {to}: input from {from} refused: {e}");
        }
    }

    fn start_upload(&mut self, node: usize) {
        let n = &mut self.nodes[node];
        if n.uploading.is_some() || n.upload == 0 {
            return;
        }
        let peers: Vec<usize> = n.queues.keys().copied().collect();
        if peers.is_empty() {
            return;
        }
        let start = peers.partition_point(|&p| p < n.rr_cursor);
        for i in 0..peers.len() {
            let p = peers[(start + i) % peers.len()];
            if let Some(block) = n.queues.get_mut(&p).and_then(VecDeque::pop_front) {
                n.uploading = Some((p, block));
                n.rr_cursor = p + 1;
                let secs = f64::from(block.length) / n.upload as f64;
                let at = self.now + Duration::from_secs_f64(secs);
                self.schedule(at, Event::UploadDone { node });
                return;
            }
        }
    }

    fn upload_done(&mut self, node: usize) {
        let Some((to, block)) = self.nodes[node].uploading.take() else {
            return;
        };
        if self.nodes[to].alive && self.nodes[node].neighbours.contains(&to) {
            let now = self.instant();
            let _ =
                self.nodes[node]
                    .sel
                    .block_sent(now, PeerKey(to as u64), u64::from(block.length));
            if self.nodes[node].is_seed {
                self.uploaded_by_seed += u64::from(block.length);
            }
            self.send(node, to, Msg::Piece(block));
        }
        self.start_upload(node);
    }

    /// Drains a node's actions into messages and re-arms its timer.
    fn after_input(&mut self, node: usize) {
        let now = self.instant();
        while let Some(action) = self.nodes[node].sel.poll_action(now) {
            let to = action.peer().0 as usize;
            if !self.nodes[to].alive {
                continue;
            }
            let msg = match action {
                Action::Request { block, .. } => Msg::Request(block),
                Action::Cancel { block, .. } => Msg::Cancel(block),
                Action::Have { piece, .. } => Msg::Have(piece),
                Action::Interested { .. } => Msg::Interested,
                Action::NotInterested { .. } => Msg::NotInterested,
                Action::Choke { .. } => {
                    // BEP 6: a choke rejects every queued request.
                    if let Some(q) = self.nodes[node].queues.remove(&to) {
                        for block in q {
                            self.send(node, to, Msg::Reject(block));
                        }
                    }
                    Msg::Choke
                }
                Action::Unchoke { .. } => {
                    if self.nodes[node].free_rider {
                        continue;
                    }
                    Msg::Unchoke
                }
                _ => continue,
            };
            self.send(node, to, msg);
        }
        if let Some(at) = self.nodes[node].sel.poll_timeout() {
            let at = at.saturating_duration_since(self.base).max(self.now);
            if self.nodes[node].timer_at.is_none_or(|t| at < t) {
                self.nodes[node].timer_at = Some(at);
                self.schedule(at, Event::Timer { node });
            }
        }
    }
}
