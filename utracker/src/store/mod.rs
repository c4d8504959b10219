//! The default in-memory swarm store: peers per info-hash, counts, expiry,
//! bounded memory, and an optional allow or deny list.

mod peer_list;

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasher, Hash};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::sync::{Mutex, MutexGuard};
use std::time::Instant;

use bitswarm_core::InfoHashV1;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use self::peer_list::PeerList;
use crate::client::AnnounceReply;
use crate::server::{Announce, Handler, Refusal, Scrape, StoreStats};
use crate::wire::{AnnounceEvent, ScrapeStats};

type V4Key = [u8; 6];
type V6Key = [u8; 18];

/// Which info-hashes the store tracks.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum AccessList {
    /// Every info-hash.
    #[default]
    Open,
    /// Only these (opentracker's whitelist mode).
    Allow(HashSet<InfoHashV1>),
    /// All but these.
    Deny(HashSet<InfoHashV1>),
}

impl AccessList {
    /// Whether `hash` may be tracked.
    pub fn permits(&self, hash: &InfoHashV1) -> bool {
        match self {
            Self::Open => true,
            Self::Allow(set) => set.contains(hash),
            Self::Deny(set) => !set.contains(hash),
        }
    }

    /// Reads one 40-digit hex info-hash per line; blank lines and lines
    /// starting with `#` are skipped. Returns the line number of a bad line.
    pub fn parse_hashes(text: &str) -> Result<HashSet<InfoHashV1>, usize> {
        text.lines()
            .enumerate()
            .map(|(n, l)| (n + 1, l.trim()))
            .filter(|(_, l)| !l.is_empty() && !l.starts_with('#'))
            .map(|(n, l)| l.parse::<InfoHashV1>().map_err(|_| n))
            .collect()
    }
}

/// How the [`MemoryStore`] behaves and how much it may hold.
#[derive(Debug, Clone)]
pub struct StoreConfig {
    /// The announce interval sent to clients, in seconds.
    pub interval: u32,
    /// How long past the interval a silent peer is kept, in seconds.
    pub grace: u32,
    /// Peers returned when the client leaves `num_want` to us.
    pub default_num_want: u32,
    /// The most peers returned in one reply.
    pub max_num_want: u32,
    /// The most peers one swarm holds (per address family); a newcomer
    /// replaces the peer that would expire first among a few random ones.
    pub max_peers_per_swarm: usize,
    /// The most peers held in total; over it, a newcomer replaces a peer of a
    /// random swarm.
    pub max_peers: usize,
    /// Which info-hashes are tracked.
    pub access: AccessList,
    /// Independent locks; more shards, less contention between workers.
    pub shards: usize,
    /// Seeds the peer choice, for reproducible tests; `None` uses the OS.
    pub rng_seed: Option<u64>,
}

impl Default for StoreConfig {
    fn default() -> Self {
        Self {
            interval: 1800,
            grace: 300,
            default_num_want: 50,
            max_num_want: 200,
            max_peers_per_swarm: 100_000,
            max_peers: 20_000_000,
            access: AccessList::Open,
            shards: 64,
            rng_seed: None,
        }
    }
}

#[derive(Debug, Default)]
struct Swarm {
    v4: PeerList<V4Key>,
    v6: PeerList<V6Key>,
    seeders: u32,
    leechers: u32,
    completed: u32,
}

impl Swarm {
    fn is_empty(&self) -> bool {
        self.v4.len() == 0 && self.v6.len() == 0
    }

    fn count(&mut self, seeder: bool, delta: i32) {
        let n = if seeder {
            &mut self.seeders
        } else {
            &mut self.leechers
        };
        *n = n.saturating_add_signed(delta);
    }

    fn stats(&self) -> ScrapeStats {
        ScrapeStats {
            seeders: self.seeders,
            completed: self.completed,
            leechers: self.leechers,
        }
    }
}

#[derive(Debug)]
struct Shard {
    /// Swarm index by info-hash; the swarms themselves sit densely in `list`
    /// so that eviction can pick one at random.
    index: HashMap<InfoHashV1, u32>,
    list: Vec<(InfoHashV1, Swarm)>,
    peers: usize,
    rng: SmallRng,
}

impl Shard {
    fn swarm(&self, hash: &InfoHashV1) -> Option<&Swarm> {
        self.index.get(hash).map(|&i| &self.list[i as usize].1)
    }

    fn remove_swarm(&mut self, i: usize) {
        let (hash, _) = self.list.swap_remove(i);
        self.index.remove(&hash);
        if let Some((moved, _)) = self.list.get(i) {
            self.index.insert(*moved, i as u32);
        }
    }

    /// Drops one peer of a random swarm to stay within the total bound. The
    /// swarm being announced to may be new and empty, so skip empty ones.
    fn evict_one(&mut self) {
        for _ in 0..16 {
            if self.peers == 0 || self.list.is_empty() {
                return;
            }
            let s = self.rng.gen_range(0..self.list.len());
            let swarm = &mut self.list[s].1;
            let removed = if swarm.v4.len() >= swarm.v6.len() {
                swarm
                    .v4
                    .eviction_candidate(&mut self.rng)
                    .map(|i| swarm.v4.remove_at(i).seeder)
            } else {
                swarm
                    .v6
                    .eviction_candidate(&mut self.rng)
                    .map(|i| swarm.v6.remove_at(i).seeder)
            };
            if let Some(seeder) = removed {
                swarm.count(seeder, -1);
                self.peers -= 1;
                if swarm.is_empty() {
                    self.remove_swarm(s);
                }
                return;
            }
        }
    }

    fn expire(&mut self, now: u32) {
        let mut i = 0;
        while i < self.list.len() {
            let swarm = &mut self.list[i].1;
            let (s4, l4) = swarm.v4.expire(now);
            let (s6, l6) = swarm.v6.expire(now);
            swarm.seeders = swarm.seeders.saturating_sub(s4 + s6);
            swarm.leechers = swarm.leechers.saturating_sub(l4 + l6);
            self.peers -= (s4 + l4 + s6 + l6) as usize;
            if swarm.is_empty() {
                self.remove_swarm(i);
            } else {
                i += 1;
            }
        }
    }
}

/// The default [`Handler`]: every swarm in memory, split into shards behind
/// their own locks.
///
/// - Peers are kept per info-hash and address family (IPv4 and IPv6 apart),
///   keyed by address and port, and expire `interval + grace` seconds after
///   their last announce.
/// - Seeders (`left == 0`), leechers and completed downloads (BEP 15
///   `completed` events) are counted for announce replies and scrapes.
/// - A reply carries a random choice of up to `num_want` live peers other
///   than the announcer.
/// - Memory is bounded per swarm and in total; a swarm whose last peer leaves
///   is dropped with its completed count.
#[derive(Debug)]
pub struct MemoryStore {
    config: StoreConfig,
    epoch: Instant,
    shards: Box<[Mutex<Shard>]>,
    hasher: std::collections::hash_map::RandomState,
}

impl MemoryStore {
    /// An empty store. `epoch` is any instant not after the first request:
    /// expiry times are kept as seconds since it, in 4 bytes.
    pub fn new(config: StoreConfig, epoch: Instant) -> Self {
        let shards = config.shards.max(1);
        let seed = config.rng_seed;
        let shards = (0..shards)
            .map(|i| {
                let rng = match seed {
                    Some(s) => SmallRng::seed_from_u64(s.wrapping_add(i as u64)),
                    None => SmallRng::from_entropy(),
                };
                Mutex::new(Shard {
                    index: HashMap::new(),
                    list: Vec::new(),
                    peers: 0,
                    rng,
                })
            })
            .collect();
        Self {
            config,
            epoch,
            shards,
            hasher: Default::default(),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &StoreConfig {
        &self.config
    }

    fn seconds(&self, now: Instant) -> u32 {
        // u32 seconds last 136 years.
        u32::try_from(now.saturating_duration_since(self.epoch).as_secs()).unwrap_or(u32::MAX)
    }

    fn shard(&self, hash: &InfoHashV1) -> MutexGuard<'_, Shard> {
        let i = (self.hasher.hash_one(hash) % self.shards.len() as u64) as usize;
        // A poisoned lock means a panic elsewhere mid-update; the counts may
        // be off by one but the structure is intact, so go on.
        self.shards[i]
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Removes every expired peer now rather than at the next tick.
    pub fn expire(&self, now: Instant) {
        let now = self.seconds(now);
        for shard in &self.shards {
            shard
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .expire(now);
        }
    }

    /// The counts of one swarm, zero when unknown.
    pub fn swarm_stats(&self, hash: &InfoHashV1) -> ScrapeStats {
        self.shard(hash)
            .swarm(hash)
            .map(Swarm::stats)
            .unwrap_or_default()
    }

    fn shard_capacity(&self) -> usize {
        (self.config.max_peers / self.shards.len()).max(1)
    }
}

fn v4_key(a: &SocketAddrV4) -> V4Key {
    let mut k = [0; 6];
    k[..4].copy_from_slice(&a.ip().octets());
    k[4..].copy_from_slice(&a.port().to_be_bytes());
    k
}

fn v6_key(a: &SocketAddrV6) -> V6Key {
    let mut k = [0; 18];
    k[..16].copy_from_slice(&a.ip().octets());
    k[16..].copy_from_slice(&a.port().to_be_bytes());
    k
}

fn v4_addr(k: &V4Key) -> SocketAddr {
    SocketAddr::new(
        IpAddr::V4(Ipv4Addr::new(k[0], k[1], k[2], k[3])),
        u16::from_be_bytes([k[4], k[5]]),
    )
}

fn v6_addr(k: &V6Key) -> SocketAddr {
    let mut ip = [0; 16];
    ip.copy_from_slice(&k[..16]);
    SocketAddr::new(
        IpAddr::V6(Ipv6Addr::from(ip)),
        u16::from_be_bytes([k[16], k[17]]),
    )
}

/// Inserts, refreshes or removes the announcer `key` in the list `pick`
/// selects, keeps the counts, and pushes up to `want` other live peers.
#[allow(clippy::too_many_arguments)]
fn announce_in<K: Copy + Eq + Hash>(
    shard: &mut Shard,
    s: usize,
    pick: fn(&mut Swarm) -> &mut PeerList<K>,
    key: K,
    (now, expires): (u32, u32),
    (seeder, event): (bool, AnnounceEvent),
    (cap, want): (usize, usize),
    mut out: impl FnMut(&K),
) {
    let swarm = &mut shard.list[s].1;
    if event == AnnounceEvent::Stopped {
        if let Some(e) = pick(swarm).remove(&key) {
            swarm.count(e.seeder, -1);
            shard.peers -= 1;
        }
        return;
    }
    let list = pick(swarm);
    if list.find(&key).is_none() && list.len() >= cap {
        // The swarm is full: the newcomer takes the place of the peer that
        // would expire first among a few random ones.
        if let Some(i) = list.eviction_candidate(&mut shard.rng) {
            let e = list.remove_at(i);
            swarm.count(e.seeder, -1);
            shard.peers -= 1;
        }
    }
    let (me, was) = pick(swarm).upsert(key, expires, seeder);
    match was {
        Some(was) if was != seeder => {
            swarm.count(was, -1);
            swarm.count(seeder, 1);
        }
        Some(_) => {}
        None => {
            swarm.count(seeder, 1);
            shard.peers += 1;
        }
    }
    if event == AnnounceEvent::Completed && was != Some(true) {
        swarm.completed = swarm.completed.saturating_add(1);
    }
    pick(swarm).sample(&mut shard.rng, want, Some(me), now, &mut out);
}

impl Handler for MemoryStore {
    fn announce(
        &self,
        now: Instant,
        announce: &Announce<'_>,
        reply: &mut AnnounceReply,
    ) -> Result<(), Refusal> {
        let request = announce.request;
        let hash = request.info_hash;
        if !self.config.access.permits(&hash) {
            return Err(Refusal::new("info-hash not tracked here"));
        }
        let now_s = self.seconds(now);
        let expires = now_s.saturating_add(self.config.interval.saturating_add(self.config.grace));
        let seeder = request.left == 0;
        let want = request
            .num_want
            .unwrap_or(self.config.default_num_want)
            .min(self.config.max_num_want) as usize;
        let cap = self.config.max_peers_per_swarm.max(1);
        let shard_cap = self.shard_capacity();

        let mut shard = self.shard(&hash);
        let s = match shard.index.get(&hash) {
            Some(&s) => s as usize,
            None if request.event == AnnounceEvent::Stopped => {
                // Nothing to forget, and no swarm to create for it.
                reply.interval = self.config.interval;
                return Ok(());
            }
            None => {
                let s = shard.list.len();
                shard.list.push((hash, Swarm::default()));
                shard.index.insert(hash, s as u32);
                s
            }
        };
        let new_peer = request.event != AnnounceEvent::Stopped
            && match announce.peer {
                SocketAddr::V4(a) => shard.list[s].1.v4.find(&v4_key(&a)).is_none(),
                SocketAddr::V6(a) => shard.list[s].1.v6.find(&v6_key(&a)).is_none(),
            };
        let mut s = s;
        if new_peer && shard.peers >= shard_cap {
            // Over the total bound: drop a random peer of the shard first. It
            // may empty and remove a swarm, so look ours up again.
            shard.evict_one();
            s = match shard.index.get(&hash) {
                Some(&s) => s as usize,
                None => {
                    let s = shard.list.len();
                    shard.list.push((hash, Swarm::default()));
                    shard.index.insert(hash, s as u32);
                    s
                }
            };
        }
        let shard = &mut *shard;
        reply.interval = self.config.interval;
        let times = (now_s, expires);
        let state = (seeder, request.event);
        let limits = (cap, want);
        let peers = &mut reply.peers;
        match announce.peer {
            SocketAddr::V4(a) => announce_in(
                shard,
                s,
                |w| &mut w.v4,
                v4_key(&a),
                times,
                state,
                limits,
                |k| peers.push(v4_addr(k)),
            ),
            SocketAddr::V6(a) => announce_in(
                shard,
                s,
                |w| &mut w.v6,
                v6_key(&a),
                times,
                state,
                limits,
                |k| peers.push(v6_addr(k)),
            ),
        }
        let swarm = &shard.list[s].1;
        reply.seeders = swarm.seeders;
        reply.leechers = swarm.leechers;
        if swarm.is_empty() {
            shard.remove_swarm(s);
        }
        Ok(())
    }

    fn scrape(
        &self,
        _now: Instant,
        scrape: &Scrape<'_>,
        reply: &mut Vec<ScrapeStats>,
    ) -> Result<(), Refusal> {
        for hash in &scrape.request.info_hashes {
            reply.push(self.swarm_stats(hash));
        }
        Ok(())
    }

    fn tick(&self, now: Instant) {
        self.expire(now);
    }

    fn stats(&self) -> Option<StoreStats> {
        let mut stats = StoreStats::default();
        for shard in &self.shards {
            let shard = shard
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            stats.swarms += shard.list.len();
            stats.peers += shard.peers;
            stats.heap_bytes += shard.index.capacity() * (size_of::<(InfoHashV1, u32)>() + 1)
                + shard.list.capacity() * size_of::<(InfoHashV1, Swarm)>()
                + shard
                    .list
                    .iter()
                    .map(|(_, s)| s.v4.heap_bytes() + s.v6.heap_bytes())
                    .sum::<usize>();
        }
        Some(stats)
    }
}

#[cfg(test)]
mod tests;
