//! What a node serves: announce tokens, the peer store, the BEP 44 item
//! store, and per-source rate limits. Every map here has a bound.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use rand::Rng;
use sha1::{Digest, Sha1};

use crate::bep44::Item;
use crate::id::{NodeId, bep42_exempt};

/// Tokens (BEP 5): a hash of the querier's IP and a secret that rotates;
/// tokens made with the current or the previous secret are accepted.
#[derive(Debug, Clone)]
pub(crate) struct Tokens {
    current: [u8; 16],
    previous: [u8; 16],
}

impl Tokens {
    pub(crate) fn new(rng: &mut impl Rng) -> Self {
        Self {
            current: rng.r#gen(),
            previous: rng.r#gen(),
        }
    }

    pub(crate) fn rotate(&mut self, rng: &mut impl Rng) {
        self.previous = self.current;
        self.current = rng.r#gen();
    }

    fn make(secret: &[u8; 16], ip: IpAddr) -> [u8; 8] {
        let mut h = Sha1::new();
        h.update(secret);
        match ip {
            IpAddr::V4(v4) => h.update(v4.octets()),
            IpAddr::V6(v6) => h.update(v6.octets()),
        }
        let d = h.finalize();
        let mut t = [0u8; 8];
        t.copy_from_slice(&d[..8]);
        t
    }

    pub(crate) fn token_for(&self, ip: IpAddr) -> [u8; 8] {
        Self::make(&self.current, ip)
    }

    pub(crate) fn check(&self, ip: IpAddr, token: &[u8]) -> bool {
        token == Self::make(&self.current, ip) || token == Self::make(&self.previous, ip)
    }
}

/// Peers announced to us, per info-hash, with expiry.
#[derive(Debug, Clone)]
pub(crate) struct PeerStore {
    torrents: HashMap<NodeId, Vec<(SocketAddr, Instant)>>,
    max_torrents: usize,
    max_peers: usize,
    ttl: Duration,
}

impl PeerStore {
    pub(crate) fn new(max_torrents: usize, max_peers: usize, ttl: Duration) -> Self {
        Self {
            torrents: HashMap::new(),
            max_torrents,
            max_peers,
            ttl,
        }
    }

    /// Stores `peer` for `info_hash`; false when the store is full.
    pub(crate) fn announce(&mut self, now: Instant, info_hash: NodeId, peer: SocketAddr) -> bool {
        if !self.torrents.contains_key(&info_hash) && self.torrents.len() >= self.max_torrents {
            self.expire(now);
            if self.torrents.len() >= self.max_torrents {
                return false;
            }
        }
        let peers = self.torrents.entry(info_hash).or_default();
        let until = now + self.ttl;
        if let Some(p) = peers.iter_mut().find(|(a, _)| *a == peer) {
            p.1 = until;
            return true;
        }
        if peers.len() >= self.max_peers {
            // Make room by dropping the entry closest to expiry.
            if let Some(oldest) = peers
                .iter()
                .enumerate()
                .min_by_key(|(_, p)| p.1)
                .map(|(i, _)| i)
            {
                peers.swap_remove(oldest);
            }
        }
        peers.push((peer, until));
        true
    }

    /// Up to `max` live peers of `info_hash` of the given family.
    pub(crate) fn peers(
        &self,
        now: Instant,
        info_hash: &NodeId,
        v6: bool,
        max: usize,
    ) -> Vec<SocketAddr> {
        self.torrents
            .get(info_hash)
            .map(|ps| {
                ps.iter()
                    .filter(|(a, until)| *until > now && a.is_ipv6() == v6)
                    .take(max)
                    .map(|(a, _)| *a)
                    .collect()
            })
            .unwrap_or_default()
    }

    pub(crate) fn expire(&mut self, now: Instant) {
        self.torrents.retain(|_, ps| {
            ps.retain(|(_, until)| *until > now);
            !ps.is_empty()
        });
    }

    pub(crate) fn len(&self) -> usize {
        self.torrents.len()
    }

    /// Up to `max` info-hashes, chosen at random (BEP 51 samples).
    pub(crate) fn sample(&self, max: usize, rng: &mut impl Rng) -> Vec<NodeId> {
        let all: Vec<NodeId> = self.torrents.keys().copied().collect();
        if all.len() <= max {
            return all;
        }
        rand::seq::index::sample(rng, all.len(), max)
            .into_iter()
            .map(|i| all[i])
            .collect()
    }
}

/// Why a `put` was refused, with its BEP 44 error code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PutRefusal {
    /// 205: the value is over 1,000 bytes.
    TooBig,
    /// 206: the signature does not verify.
    BadSignature,
    /// 207: the salt is over 64 bytes.
    SaltTooBig,
    /// 301: `cas` does not match the stored sequence number.
    CasMismatch,
    /// 302: the sequence number is lower than the stored one.
    SeqTooLow,
    /// 202: the store is full.
    Full,
}

impl PutRefusal {
    pub(crate) fn code_and_message(self) -> (i64, &'static str) {
        match self {
            Self::TooBig => (205, "message (v field) too big"),
            Self::BadSignature => (206, "invalid signature"),
            Self::SaltTooBig => (207, "salt (salt field) too big"),
            Self::CasMismatch => (301, "the CAS hash mismatched, re-read value and try again"),
            Self::SeqTooLow => (302, "sequence number less than current"),
            Self::Full => (202, "storage full"),
        }
    }
}

/// BEP 44 items stored for others, with expiry.
#[derive(Debug, Clone)]
pub(crate) struct ItemStore {
    items: HashMap<NodeId, (Item, Instant)>,
    max_items: usize,
    ttl: Duration,
}

impl ItemStore {
    pub(crate) fn new(max_items: usize, ttl: Duration) -> Self {
        Self {
            items: HashMap::new(),
            max_items,
            ttl,
        }
    }

    pub(crate) fn get(&self, now: Instant, target: &NodeId) -> Option<&Item> {
        self.items
            .get(target)
            .filter(|(_, until)| *until > now)
            .map(|(i, _)| i)
    }

    pub(crate) fn put(
        &mut self,
        now: Instant,
        item: Item,
        cas: Option<i64>,
    ) -> Result<(), PutRefusal> {
        use crate::Error;
        if let Err(e) = item.verify() {
            return Err(match e {
                Error::InvalidItem { what } if what.starts_with("salt") => PutRefusal::SaltTooBig,
                Error::InvalidItem { what } if what.starts_with("value over") => PutRefusal::TooBig,
                _ => PutRefusal::BadSignature,
            });
        }
        let target = item.target();
        if let (Some((old, until)), Some(seq)) = (self.items.get(&target), item.seq())
            && *until > now
        {
            let old_seq = old.seq().unwrap_or(i64::MIN);
            if cas.is_some_and(|c| c != old_seq) {
                return Err(PutRefusal::CasMismatch);
            }
            if seq < old_seq {
                return Err(PutRefusal::SeqTooLow);
            }
        }
        if !self.items.contains_key(&target) && self.items.len() >= self.max_items {
            self.expire(now);
            if self.items.len() >= self.max_items {
                return Err(PutRefusal::Full);
            }
        }
        self.items.insert(target, (item, now + self.ttl));
        Ok(())
    }

    pub(crate) fn expire(&mut self, now: Instant) {
        self.items.retain(|_, (_, until)| *until > now);
    }

    pub(crate) fn len(&self) -> usize {
        self.items.len()
    }
}

/// A token bucket per source. Public addresses are limited per IP; local
/// ones (loopback, private: BEP 42's exempt set) per IP and port, since many
/// nodes on one machine share an address.
#[derive(Debug, Clone)]
pub(crate) struct RateLimiter {
    buckets: HashMap<SocketAddr, (f64, Instant)>,
    per_second: f64,
    burst: f64,
    max_sources: usize,
}

impl RateLimiter {
    pub(crate) fn new(per_second: u32, burst: u32, max_sources: usize) -> Self {
        Self {
            buckets: HashMap::new(),
            per_second: f64::from(per_second),
            burst: f64::from(burst.max(1)),
            max_sources,
        }
    }

    /// Whether a query from `from` at `now` may be served.
    pub(crate) fn allow(&mut self, now: Instant, from: SocketAddr) -> bool {
        let key = if bep42_exempt(from.ip()) {
            from
        } else {
            SocketAddr::new(from.ip(), 0)
        };
        if !self.buckets.contains_key(&key) && self.buckets.len() >= self.max_sources {
            let (rate, burst) = (self.per_second, self.burst);
            self.buckets.retain(|_, (tokens, last)| {
                *tokens + rate * now.saturating_duration_since(*last).as_secs_f64() < burst
            });
            if self.buckets.len() >= self.max_sources {
                return false;
            }
        }
        let (tokens, last) = self.buckets.entry(key).or_insert((self.burst, now));
        let refill = self.per_second * now.saturating_duration_since(*last).as_secs_f64();
        *tokens = (*tokens + refill).min(self.burst);
        *last = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn tokens_survive_one_rotation_only() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(3);
        let mut t = Tokens::new(&mut rng);
        let ip: IpAddr = "1.2.3.4".parse().unwrap();
        let tok = t.token_for(ip);
        assert!(t.check(ip, &tok));
        assert!(!t.check("1.2.3.5".parse().unwrap(), &tok));
        t.rotate(&mut rng);
        assert!(t.check(ip, &tok));
        t.rotate(&mut rng);
        assert!(!t.check(ip, &tok));
    }

    #[test]
    fn peer_store_is_bounded_and_expires() {
        let now = Instant::now();
        let mut s = PeerStore::new(2, 3, Duration::from_secs(60));
        let h = |b| NodeId([b; 20]);
        for port in 1..10 {
            assert!(s.announce(now, h(1), SocketAddr::from(([1, 1, 1, 1], port))));
        }
        assert_eq!(s.peers(now, &h(1), false, 100).len(), 3);
        assert!(s.announce(now, h(2), SocketAddr::from(([1, 1, 1, 1], 1))));
        assert!(!s.announce(now, h(3), SocketAddr::from(([1, 1, 1, 1], 1))));
        let later = now + Duration::from_secs(61);
        assert!(s.peers(later, &h(1), false, 100).is_empty());
        assert!(s.announce(later, h(3), SocketAddr::from(([1, 1, 1, 1], 1))));
    }

    #[test]
    fn item_store_enforces_seq_and_cas() {
        let now = Instant::now();
        let mut s = ItemStore::new(10, Duration::from_secs(7200));
        let key = [5u8; 32];
        let v1 = Item::sign_mutable(&key, b"", 2, b"i1e".to_vec()).unwrap();
        s.put(now, v1, None).unwrap();
        let old = Item::sign_mutable(&key, b"", 1, b"i0e".to_vec()).unwrap();
        assert_eq!(s.put(now, old, None), Err(PutRefusal::SeqTooLow));
        let v3 = Item::sign_mutable(&key, b"", 3, b"i3e".to_vec()).unwrap();
        assert_eq!(
            s.put(now, v3.clone(), Some(1)),
            Err(PutRefusal::CasMismatch)
        );
        s.put(now, v3.clone(), Some(2)).unwrap();
        assert_eq!(s.get(now, &v3.target()), Some(&v3));
        let mut forged = v3;
        forged.value = b"i4e".to_vec();
        assert_eq!(s.put(now, forged, None), Err(PutRefusal::BadSignature));
    }

    #[test]
    fn rate_limit_per_source() {
        let now = Instant::now();
        let mut r = RateLimiter::new(1, 2, 2);
        let a = SocketAddr::from(([8, 8, 8, 8], 1));
        let same_ip = SocketAddr::from(([8, 8, 8, 8], 2));
        assert!(r.allow(now, a));
        assert!(r.allow(now, same_ip));
        assert!(!r.allow(now, a), "public sources share a bucket per IP");
        let l1 = SocketAddr::from(([127, 0, 0, 1], 1));
        assert!(r.allow(now, l1));
        assert!(r.allow(now + Duration::from_secs(1), a));
    }
}
