//! The routing table (BEP 5): k-buckets over the id space, split on our side.
//!
//! Bucket `i` (for `i` below the last) holds nodes whose ids share exactly
//! `i` leading bits with ours; the last bucket holds everything closer. When
//! the last bucket is full it splits, so the table knows many nodes near us
//! and few far away. Each node is good, questionable or bad by BEP 5's
//! 15-minute rules; a full bucket keeps a replacement cache that takes the
//! place of nodes that go bad.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::id::NodeId;
use crate::krpc::CompactNode;

/// BEP 5: a node is good if it answered us, or queried us after having
/// answered once, within this long.
pub const GOOD_FOR: Duration = Duration::from_secs(15 * 60);
/// A bucket not changed for this long is refreshed with a lookup (BEP 5).
pub const REFRESH_AFTER: Duration = Duration::from_secs(15 * 60);
/// Failed queries in a row after which a node is bad.
pub const BAD_AFTER_FAILURES: u8 = 2;

/// What BEP 5 calls a node's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeState {
    /// Answered recently.
    Good,
    /// Quiet for 15 minutes, or never answered: worth a ping before eviction.
    Questionable,
    /// Failed several queries in a row: replaced when something better comes.
    Bad,
}

/// A node in the table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeEntry {
    /// Its id.
    pub id: NodeId,
    /// Its address.
    pub addr: SocketAddr,
    /// When it last answered one of our queries.
    pub last_response: Option<Instant>,
    /// When it last queried us.
    pub last_query: Option<Instant>,
    /// Failed queries in a row.
    pub failures: u8,
}

impl NodeEntry {
    /// Its state at `now` (BEP 5).
    pub fn state(&self, now: Instant) -> NodeState {
        if self.failures >= BAD_AFTER_FAILURES {
            return NodeState::Bad;
        }
        let recent =
            |t: Option<Instant>| t.is_some_and(|t| now.saturating_duration_since(t) < GOOD_FOR);
        if recent(self.last_response) || (self.last_response.is_some() && recent(self.last_query)) {
            NodeState::Good
        } else {
            NodeState::Questionable
        }
    }

    /// The entry as a compact node.
    pub fn compact(&self) -> CompactNode {
        CompactNode {
            id: self.id,
            addr: self.addr,
        }
    }
}

/// How a node came to our notice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Contact {
    /// It answered a query of ours.
    Responded,
    /// It sent us a query.
    Queried,
}

/// What [`RoutingTable::insert`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InsertOutcome {
    /// The node is new in the table.
    Added,
    /// The node was there; its times were updated.
    Updated,
    /// It took the place of a bad node.
    Replaced,
    /// The bucket is full of good or questionable nodes; it went to the
    /// replacement cache, and the caller should ping this questionable node
    /// (BEP 5) to learn whether it is still there.
    Cached {
        /// The most stale questionable node, if any, to ping.
        ping: Option<CompactNode>,
    },
    /// Our own id, an address already used by another id, or an id change
    /// for a known address: not taken.
    Rejected,
}

#[derive(Debug, Clone)]
struct Bucket {
    nodes: Vec<NodeEntry>,
    replacements: Vec<NodeEntry>,
    last_changed: Instant,
}

impl Bucket {
    fn new(now: Instant) -> Self {
        Self {
            nodes: Vec::new(),
            replacements: Vec::new(),
            last_changed: now,
        }
    }
}

/// The k-bucket routing table of one address family.
#[derive(Debug, Clone)]
pub struct RoutingTable {
    own: NodeId,
    k: usize,
    buckets: Vec<Bucket>,
}

impl RoutingTable {
    /// An empty table around our id `own`, with `k` nodes per bucket (8 in BEP 5).
    pub fn new(own: NodeId, k: usize, now: Instant) -> Self {
        Self {
            own,
            k: k.max(1),
            buckets: vec![Bucket::new(now)],
        }
    }

    /// Our id.
    pub fn own_id(&self) -> NodeId {
        self.own
    }

    /// Nodes per bucket.
    pub fn k(&self) -> usize {
        self.k
    }

    /// How many buckets the table has split into.
    pub fn bucket_count(&self) -> usize {
        self.buckets.len()
    }

    /// How many nodes the table holds (not counting replacement caches).
    pub fn len(&self) -> usize {
        self.buckets.iter().map(|b| b.nodes.len()).sum()
    }

    /// Whether the table holds no node.
    pub fn is_empty(&self) -> bool {
        self.buckets.iter().all(|b| b.nodes.is_empty())
    }

    /// Every node in the table, bucket by bucket.
    pub fn iter(&self) -> impl Iterator<Item = &NodeEntry> {
        self.buckets.iter().flat_map(|b| b.nodes.iter())
    }

    /// The nodes of bucket `i` and its replacement cache.
    pub fn bucket(&self, i: usize) -> Option<(&[NodeEntry], &[NodeEntry])> {
        self.buckets
            .get(i)
            .map(|b| (&b.nodes[..], &b.replacements[..]))
    }

    /// The bucket that `id` belongs in.
    pub fn bucket_index(&self, id: &NodeId) -> usize {
        self.own.common_prefix_len(id).min(self.buckets.len() - 1)
    }

    /// The node with `id`, if present.
    pub fn get(&self, id: &NodeId) -> Option<&NodeEntry> {
        let b = &self.buckets[self.bucket_index(id)];
        b.nodes.iter().find(|n| n.id == *id)
    }

    /// Adds or refreshes a node seen at `now`, splitting our own bucket when
    /// it is full, replacing a bad node, or caching the newcomer.
    pub fn insert(
        &mut self,
        now: Instant,
        id: NodeId,
        addr: SocketAddr,
        contact: Contact,
    ) -> InsertOutcome {
        if id == self.own {
            return InsertOutcome::Rejected;
        }
        loop {
            let last = self.buckets.len() - 1;
            let i = self.bucket_index(&id);
            let k = self.k;
            let bucket = &mut self.buckets[i];
            if let Some(n) = bucket.nodes.iter_mut().find(|n| n.id == id) {
                if n.addr != addr {
                    // An id does not move: keep the address we verified.
                    return InsertOutcome::Rejected;
                }
                touch(n, now, contact);
                bucket.last_changed = now;
                return InsertOutcome::Updated;
            }
            if bucket.nodes.iter().any(|n| n.addr == addr) {
                return InsertOutcome::Rejected;
            }
            let mut entry = NodeEntry {
                id,
                addr,
                last_response: None,
                last_query: None,
                failures: 0,
            };
            touch(&mut entry, now, contact);
            if bucket.nodes.len() < k {
                bucket.nodes.push(entry);
                bucket.replacements.retain(|r| r.id != id);
                bucket.last_changed = now;
                return InsertOutcome::Added;
            }
            if i == last && last < 159 {
                self.split(now);
                continue;
            }
            if let Some(bad) = bucket
                .nodes
                .iter()
                .position(|n| n.state(now) == NodeState::Bad)
            {
                bucket.nodes[bad] = entry;
                bucket.last_changed = now;
                return InsertOutcome::Replaced;
            }
            // Full of live nodes: keep the newcomer in reserve, most recent last.
            bucket.replacements.retain(|r| r.id != id && r.addr != addr);
            if bucket.replacements.len() >= k {
                bucket.replacements.remove(0);
            }
            bucket.replacements.push(entry);
            let ping = bucket
                .nodes
                .iter()
                .filter(|n| n.state(now) == NodeState::Questionable)
                .min_by_key(|n| n.last_response.max(n.last_query))
                .map(NodeEntry::compact);
            return InsertOutcome::Cached { ping };
        }
    }

    fn split(&mut self, now: Instant) {
        let last = self.buckets.len() - 1;
        let old = std::mem::replace(&mut self.buckets[last], Bucket::new(now));
        self.buckets.push(Bucket::new(now));
        self.buckets[last].last_changed = old.last_changed;
        for n in old.nodes {
            let i = self.bucket_index(&n.id);
            self.buckets[i].nodes.push(n);
        }
        for r in old.replacements {
            let i = self.bucket_index(&r.id);
            if self.buckets[i].replacements.len() < self.k {
                self.buckets[i].replacements.push(r);
            }
        }
        // A bucket that has room takes its replacements at once.
        for b in &mut self.buckets[last..] {
            while b.nodes.len() < self.k {
                let Some(r) = b.replacements.pop() else { break };
                b.nodes.push(r);
            }
        }
    }

    /// Records that the node `id` failed to answer; a node that goes bad is
    /// replaced by the freshest node of its bucket's replacement cache.
    pub fn failed(&mut self, now: Instant, id: &NodeId) {
        let i = self.bucket_index(id);
        let bucket = &mut self.buckets[i];
        let Some(pos) = bucket.nodes.iter().position(|n| n.id == *id) else {
            bucket.replacements.retain(|r| r.id != *id);
            return;
        };
        let n = &mut bucket.nodes[pos];
        n.failures = n.failures.saturating_add(1);
        if n.state(now) == NodeState::Bad {
            if let Some(r) = bucket.replacements.pop() {
                bucket.nodes[pos] = r;
                bucket.last_changed = now;
            } else if n.last_response.is_none() {
                // Never answered at all and nothing better known: drop it.
                bucket.nodes.remove(pos);
            }
        }
    }

    /// Removes the node `id`.
    pub fn remove(&mut self, id: &NodeId) -> bool {
        let i = self.bucket_index(id);
        let b = &mut self.buckets[i];
        let before = b.nodes.len();
        b.nodes.retain(|n| n.id != *id);
        before != b.nodes.len()
    }

    /// Up to `n` non-bad nodes closest to `target`, closest first.
    pub fn closest(&self, now: Instant, target: &NodeId, n: usize) -> Vec<CompactNode> {
        let mut all: Vec<(crate::id::Distance, CompactNode)> = self
            .iter()
            .filter(|e| e.state(now) != NodeState::Bad)
            .map(|e| (e.id.distance(target), e.compact()))
            .collect();
        if all.len() > n && n > 0 {
            all.select_nth_unstable_by_key(n - 1, |(d, _)| *d);
            all.truncate(n);
        }
        all.sort_unstable_by_key(|(d, _)| *d);
        all.truncate(n);
        all.into_iter().map(|(_, c)| c).collect()
    }

    /// For each bucket unchanged for [`REFRESH_AFTER`], a random id in its
    /// range to look up (BEP 5), marking the bucket as refreshed at `now`.
    pub fn take_refresh_targets(&mut self, now: Instant, rng: &mut impl rand::Rng) -> Vec<NodeId> {
        let mut out = Vec::new();
        let last = self.buckets.len() - 1;
        for (i, b) in self.buckets.iter_mut().enumerate() {
            if now.saturating_duration_since(b.last_changed) >= REFRESH_AFTER {
                b.last_changed = now;
                out.push(if i == last {
                    self.own.random_with_prefix(i.min(159), rng)
                } else {
                    self.own.random_with_prefix(i, rng)
                });
            }
        }
        out
    }

    /// The earliest time a bucket will need a refresh.
    pub fn next_refresh(&self) -> Option<Instant> {
        self.buckets
            .iter()
            .map(|b| b.last_changed + REFRESH_AFTER)
            .min()
    }

    /// Questionable nodes to ping, at most `max`, most stale first.
    pub fn questionable(&self, now: Instant, max: usize) -> Vec<CompactNode> {
        let mut q: Vec<&NodeEntry> = self
            .iter()
            .filter(|n| n.state(now) == NodeState::Questionable && n.failures == 0)
            .collect();
        q.sort_by_key(|n| n.last_response.max(n.last_query));
        q.into_iter().take(max).map(NodeEntry::compact).collect()
    }

    /// Checks the table's invariants; used by tests.
    pub fn check_invariants(&self) -> Result<(), String> {
        let last = self.buckets.len() - 1;
        let mut seen = std::collections::HashSet::new();
        for (i, b) in self.buckets.iter().enumerate() {
            if b.nodes.len() > self.k || b.replacements.len() > self.k {
                return Err(format!("bucket {i} over k"));
            }
            for n in b.nodes.iter().chain(&b.replacements) {
                let p = self.own.common_prefix_len(&n.id);
                if n.id == self.own {
                    return Err("own id in table".into());
                }
                if (i < last && p != i) || (i == last && p < i) {
                    return Err(format!("node {} in bucket {i} with prefix {p}", n.id));
                }
            }
            for n in &b.nodes {
                if !seen.insert(n.id) {
                    return Err(format!("duplicate {}", n.id));
                }
            }
        }
        Ok(())
    }
}

fn touch(n: &mut NodeEntry, now: Instant, contact: Contact) {
    match contact {
        Contact::Responded => {
            n.last_response = Some(now);
            n.failures = 0;
        }
        Contact::Queried => n.last_query = Some(now),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rand::SeedableRng;

    fn addr(i: u32) -> SocketAddr {
        SocketAddr::from(([10, (i >> 16) as u8, (i >> 8) as u8, i as u8], 6881))
    }

    #[test]
    fn own_bucket_splits_and_far_buckets_fill_up() {
        let now = Instant::now();
        let own = NodeId([0; 20]);
        let mut t = RoutingTable::new(own, 8, now);
        // Ids with top bit set are all in the far half.
        for i in 0..20u32 {
            let mut id = [0u8; 20];
            id[0] = 0x80;
            id[19] = i as u8;
            t.insert(now, NodeId(id), addr(i), Contact::Responded);
        }
        assert_eq!(t.bucket(0).unwrap().0.len(), 8);
        assert_eq!(
            t.bucket(0).unwrap().1.len(),
            8,
            "replacement cache is bounded by k"
        );
        t.check_invariants().unwrap();
    }

    #[test]
    fn bad_nodes_are_replaced_from_the_cache() {
        let now = Instant::now();
        let own = NodeId([0; 20]);
        let mut t = RoutingTable::new(own, 2, now);
        let far = |b: u8| {
            let mut id = [0u8; 20];
            id[0] = 0x80;
            id[19] = b;
            NodeId(id)
        };
        // Fill: with k = 2, the table splits until bucket 0 holds far ids.
        t.insert(now, far(1), addr(1), Contact::Responded);
        t.insert(now, far(2), addr(2), Contact::Responded);
        let out = t.insert(now, far(3), addr(3), Contact::Responded);
        assert!(matches!(out, InsertOutcome::Cached { .. }), "{out:?}");
        t.failed(now, &far(1));
        assert!(t.get(&far(1)).is_some(), "one failure is not bad yet");
        t.failed(now, &far(1));
        assert!(t.get(&far(1)).is_none());
        assert!(t.get(&far(3)).is_some());
    }

    #[test]
    fn states_follow_the_fifteen_minute_rules() {
        let now = Instant::now();
        let mut n = NodeEntry {
            id: NodeId([1; 20]),
            addr: addr(1),
            last_response: Some(now),
            last_query: None,
            failures: 0,
        };
        assert_eq!(n.state(now), NodeState::Good);
        let later = now + GOOD_FOR;
        assert_eq!(n.state(later), NodeState::Questionable);
        n.last_query = Some(later);
        assert_eq!(
            n.state(later),
            NodeState::Good,
            "queried us after answering once"
        );
        n.failures = BAD_AFTER_FAILURES;
        assert_eq!(n.state(later), NodeState::Bad);
    }

    #[test]
    fn known_id_cannot_move_address() {
        let now = Instant::now();
        let mut t = RoutingTable::new(NodeId([0; 20]), 8, now);
        assert_eq!(
            t.insert(now, NodeId([9; 20]), addr(1), Contact::Responded),
            InsertOutcome::Added
        );
        assert_eq!(
            t.insert(now, NodeId([9; 20]), addr(2), Contact::Responded),
            InsertOutcome::Rejected
        );
        assert_eq!(
            t.insert(now, NodeId([0; 20]), addr(3), Contact::Responded),
            InsertOutcome::Rejected
        );
    }

    #[test]
    fn stale_buckets_get_refresh_targets_in_range() {
        let now = Instant::now();
        let own = NodeId([0x55; 20]);
        let mut t = RoutingTable::new(own, 1, now);
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        for _ in 0..50 {
            let id = NodeId::random(&mut rng);
            t.insert(
                now,
                id,
                addr(id.0[0] as u32 * 256 + id.0[1] as u32),
                Contact::Responded,
            );
        }
        assert!(t.take_refresh_targets(now, &mut rng).is_empty());
        let later = now + REFRESH_AFTER;
        let targets = t.take_refresh_targets(later, &mut rng);
        assert_eq!(targets.len(), t.bucket_count());
        for (i, target) in targets.iter().enumerate() {
            assert_eq!(t.bucket_index(target), i);
        }
    }

    proptest! {
        #[test]
        fn invariants_hold_under_random_operations(
            own: [u8; 20],
            ops in proptest::collection::vec((any::<[u8; 20]>(), 0u32..64, 0u8..3, 0u64..2000), 1..400),
            k in 1usize..9,
        ) {
            let start = Instant::now();
            let mut t = RoutingTable::new(NodeId(own), k, start);
            let mut ids = Vec::new();
            for (id, a, op, secs) in ops {
                let now = start + Duration::from_secs(secs);
                let id = NodeId(id);
                match op {
                    0 => { t.insert(now, id, addr(a), Contact::Responded); ids.push(id); }
                    1 => { t.insert(now, id, addr(a), Contact::Queried); }
                    _ => if let Some(id) = ids.get(a as usize) { t.failed(now, id); },
                }
                prop_assert!(t.check_invariants().is_ok(), "{:?}", t.check_invariants());
            }
            let target = NodeId([0xaa; 20]);
            let close = t.closest(start, &target, 8);
            prop_assert!(close.len() <= 8);
            prop_assert!(close.windows(2).all(|w| w[0].id.distance(&target) <= w[1].id.distance(&target)));
            // Nothing in the table is closer than the last one returned, unless bad.
            if close.len() == 8 {
                let worst = close[7].id.distance(&target);
                let closer = t.iter().filter(|n| n.id.distance(&target) < worst && n.state(start) != NodeState::Bad).count();
                prop_assert!(closer <= 7);
            }
        }
    }
}
