//! The peers of one address family in one swarm: a dense vector for random
//! choice, and an index by address once the swarm is big enough to need one.

use std::collections::HashMap;
use std::hash::Hash;

use rand::Rng;

/// Below this many peers a linear scan beats a hash lookup and saves the
/// index's memory (most swarms are small).
const INDEX_FROM: usize = 24;

/// One peer: its compact address (IP then port, as on the wire), when it
/// expires in whole seconds since the store's epoch, and whether it seeds.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Entry<K> {
    pub(crate) key: K,
    pub(crate) expires: u32,
    pub(crate) seeder: bool,
}

#[derive(Debug)]
pub(crate) struct PeerList<K> {
    entries: Vec<Entry<K>>,
    index: Option<HashMap<K, u32>>,
}

impl<K> Default for PeerList<K> {
    fn default() -> Self {
        Self {
            entries: Vec::new(),
            index: None,
        }
    }
}

impl<K: Copy + Eq + Hash> PeerList<K> {
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    #[cfg(test)]
    pub(crate) fn entries(&self) -> &[Entry<K>] {
        &self.entries
    }

    pub(crate) fn find(&self, key: &K) -> Option<usize> {
        match &self.index {
            Some(index) => index.get(key).map(|&i| i as usize),
            None => self.entries.iter().position(|e| e.key == *key),
        }
    }

    /// Inserts or refreshes `key`; returns the index and whether it was a
    /// seeder before (`None` when new).
    pub(crate) fn upsert(&mut self, key: K, expires: u32, seeder: bool) -> (usize, Option<bool>) {
        if let Some(i) = self.find(&key) {
            let e = &mut self.entries[i];
            let was = e.seeder;
            e.expires = expires;
            e.seeder = seeder;
            return (i, Some(was));
        }
        let i = self.entries.len();
        self.entries.push(Entry {
            key,
            expires,
            seeder,
        });
        match &mut self.index {
            // The list is bounded far below u32::MAX by the store's limits.
            Some(index) => {
                index.insert(key, i as u32);
            }
            None if self.entries.len() > INDEX_FROM => {
                self.index = Some(
                    self.entries
                        .iter()
                        .enumerate()
                        .map(|(i, e)| (e.key, i as u32))
                        .collect(),
                );
            }
            None => {}
        }
        (i, None)
    }

    /// Removes the entry at `i` (the last entry takes its place).
    pub(crate) fn remove_at(&mut self, i: usize) -> Entry<K> {
        let removed = self.entries.swap_remove(i);
        if let Some(index) = &mut self.index {
            index.remove(&removed.key);
            if let Some(moved) = self.entries.get(i) {
                index.insert(moved.key, i as u32);
            }
            if self.entries.len() < INDEX_FROM / 2 {
                self.index = None;
            }
        }
        if self.entries.capacity() > 4 * self.entries.len() + 4 {
            self.entries.shrink_to_fit();
        }
        removed
    }

    pub(crate) fn remove(&mut self, key: &K) -> Option<Entry<K>> {
        self.find(key).map(|i| self.remove_at(i))
    }

    /// Removes every entry that expired before `now`; returns how many
    /// seeders and leechers went.
    pub(crate) fn expire(&mut self, now: u32) -> (u32, u32) {
        let (mut seeders, mut leechers) = (0, 0);
        let mut i = 0;
        while i < self.entries.len() {
            if self.entries[i].expires < now {
                if self.remove_at(i).seeder {
                    seeders += 1;
                } else {
                    leechers += 1;
                }
            } else {
                i += 1;
            }
        }
        (seeders, leechers)
    }

    /// The index of the entry expiring first among a few random ones: a
    /// cheap stand-in for the oldest peer when room must be made.
    pub(crate) fn eviction_candidate(&self, rng: &mut impl Rng) -> Option<usize> {
        if self.entries.is_empty() {
            return None;
        }
        (0..4)
            .map(|_| rng.gen_range(0..self.entries.len()))
            .min_by_key(|&i| self.entries[i].expires)
    }

    /// Up to `want` random live peers other than the one at `skip`.
    ///
    /// It walks the list from a random start with a random step coprime to
    /// the length, so the peers are distinct and spread over the whole
    /// swarm, in O(`want`) time: no allocation and no rejection sampling.
    pub(crate) fn sample(
        &self,
        rng: &mut impl Rng,
        want: usize,
        skip: Option<usize>,
        now: u32,
        mut out: impl FnMut(&K),
    ) {
        let len = self.entries.len();
        if want == 0 || len == 0 {
            return;
        }
        let live = |i: usize| Some(i) != skip && self.entries[i].expires >= now;
        if len <= want + 1 {
            (0..len)
                .filter(|&i| live(i))
                .for_each(|i| out(&self.entries[i].key));
            return;
        }
        let mut step = 1;
        for _ in 0..8 {
            let s = rng.gen_range(1..len);
            if gcd(s, len) == 1 {
                step = s;
                break;
            }
        }
        let mut i = rng.gen_range(0..len);
        let mut found = 0;
        for _ in 0..len {
            if live(i) {
                out(&self.entries[i].key);
                found += 1;
                if found == want {
                    break;
                }
            }
            i += step;
            if i >= len {
                i -= len;
            }
        }
    }

    /// Heap bytes held, for the store's memory estimate.
    pub(crate) fn heap_bytes(&self) -> usize {
        let index = self
            .index
            .as_ref()
            .map_or(0, |m| m.capacity() * (size_of::<(K, u32)>() + 1));
        self.entries.capacity() * size_of::<Entry<K>>() + index
    }
}

fn gcd(mut a: usize, mut b: usize) -> usize {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rand::SeedableRng;
    use rand::rngs::SmallRng;

    proptest! {
        /// Whatever the order of inserts and removals, the list agrees with a
        /// plain map, with and without its index.
        #[test]
        fn agrees_with_a_map(ops in proptest::collection::vec((any::<bool>(), 0u8..60), 0..400)) {
            let mut list = PeerList::<[u8; 1]>::default();
            let mut model = HashMap::new();
            for (insert, k) in ops {
                if insert {
                    list.upsert([k], u32::from(k), k % 2 == 0);
                    model.insert(k, ());
                } else {
                    prop_assert_eq!(list.remove(&[k]).is_some(), model.remove(&k).is_some());
                }
                prop_assert_eq!(list.len(), model.len());
                for k in model.keys() {
                    let i = list.find(&[*k]).unwrap();
                    prop_assert_eq!(list.entries()[i].key, [*k]);
                }
            }
        }
    }

    #[test]
    fn sample_is_distinct_live_and_skips_self() {
        let mut list = PeerList::<[u8; 2]>::default();
        for i in 0..100u16 {
            list.upsert(i.to_be_bytes(), if i < 10 { 5 } else { 100 }, false);
        }
        let mut rng = SmallRng::seed_from_u64(1);
        for _ in 0..50 {
            let mut got = Vec::new();
            list.sample(&mut rng, 30, Some(50), 50, |k| got.push(*k));
            assert!(got.len() <= 30 && got.len() >= 20, "{}", got.len());
            let distinct: std::collections::HashSet<_> = got.iter().collect();
            assert_eq!(distinct.len(), got.len());
            for k in got {
                let n = u16::from_be_bytes(k);
                assert!(n >= 10, "expired peer {n} returned");
                assert_ne!(n, 50, "the announcer got itself");
            }
        }
        let mut all = Vec::new();
        list.sample(&mut rng, 1000, None, 0, |k| all.push(*k));
        assert_eq!(all.len(), 100);
    }

    #[test]
    fn expire_counts_what_it_removes() {
        let mut list = PeerList::<[u8; 2]>::default();
        for i in 0..40u16 {
            list.upsert(i.to_be_bytes(), u32::from(i), i % 4 == 0);
        }
        assert_eq!(list.expire(20), (5, 15));
        assert_eq!(list.len(), 20);
        assert!(list.entries().iter().all(|e| e.expires >= 20));
        assert!(list.find(&25u16.to_be_bytes()).is_some());
    }
}
