//! The bucketed rarity index behind rarest-first picking.
//!
//! libtorrent's piece picker keeps every piece in one array sorted by a
//! priority key (availability and piece priority combined) with bucket
//! boundaries, so that an availability change is one swap. Removing a
//! piece there shifts every later bucket by one. Here each key has its own
//! bucket (a `Vec` with swap-removal) and a bitset of non-empty keys, so
//! insert, remove and re-key are all O(1), and finding the rarest bucket is
//! a scan over a few words of that bitset.
//!
//! The key is `(7 - priority) * stride + min(availability, stride - 1)`:
//! higher priority always sorts first, then lower availability.

use rand::{Rng, RngCore};

const ABSENT: u32 = u32::MAX;

#[derive(Debug, Clone)]
pub(crate) struct RarityIndex {
    buckets: Vec<Vec<u32>>,
    nonempty: Vec<u64>,
    /// Per piece: its key, or `ABSENT`.
    key: Vec<u32>,
    /// Per piece: its position inside `buckets[key]`.
    slot: Vec<u32>,
    stride: u32,
    len: u32,
}

impl RarityIndex {
    pub(crate) fn new(pieces: u32, stride: u32) -> Self {
        let keys = 7 * stride as usize;
        Self {
            buckets: vec![Vec::new(); keys],
            nonempty: vec![0; keys.div_ceil(64)],
            key: vec![ABSENT; pieces as usize],
            slot: vec![0; pieces as usize],
            stride,
            len: 0,
        }
    }

    /// The key of a piece with `priority` 1..=7 seen by `availability` peers.
    pub(crate) fn key_for(&self, priority: u8, availability: u32) -> u32 {
        debug_assert!((1..=7).contains(&priority));
        u32::from(7 - priority) * self.stride + availability.min(self.stride - 1)
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> u32 {
        self.len
    }

    pub(crate) fn contains(&self, piece: u32) -> bool {
        self.key[piece as usize] != ABSENT
    }

    pub(crate) fn insert(&mut self, piece: u32, key: u32) {
        if self.contains(piece) {
            self.rekey(piece, key);
            return;
        }
        let bucket = &mut self.buckets[key as usize];
        self.slot[piece as usize] = bucket.len() as u32;
        bucket.push(piece);
        self.key[piece as usize] = key;
        self.nonempty[(key / 64) as usize] |= 1 << (key % 64);
        self.len += 1;
    }

    pub(crate) fn remove(&mut self, piece: u32) -> bool {
        let key = self.key[piece as usize];
        if key == ABSENT {
            return false;
        }
        let slot = self.slot[piece as usize] as usize;
        let bucket = &mut self.buckets[key as usize];
        bucket.swap_remove(slot);
        if let Some(&moved) = bucket.get(slot) {
            self.slot[moved as usize] = slot as u32;
        }
        if bucket.is_empty() {
            self.nonempty[(key / 64) as usize] &= !(1 << (key % 64));
        }
        // Pieces drift through many buckets as availability grows (during a
        // burst of bitfields nearly all of them pass through each level);
        // give memory back so that idle buckets do not keep their peak.
        if bucket.capacity() > 64 && bucket.len() < bucket.capacity() / 4 {
            bucket.shrink_to(bucket.capacity() / 2);
        }
        self.key[piece as usize] = ABSENT;
        self.len -= 1;
        true
    }

    /// Moves a piece to another key, if it is in the index.
    pub(crate) fn rekey(&mut self, piece: u32, key: u32) {
        let old = self.key[piece as usize];
        if old == ABSENT || old == key {
            return;
        }
        self.remove(piece);
        self.insert(piece, key);
    }

    /// Keys of non-empty buckets in increasing order (rarest first).
    fn nonempty_keys(&self) -> impl Iterator<Item = u32> + '_ {
        self.nonempty.iter().enumerate().flat_map(|(wi, &w)| {
            let mut word = w;
            core::iter::from_fn(move || {
                if word == 0 {
                    return None;
                }
                let bit = word.trailing_zeros();
                word &= word - 1;
                Some(wi as u32 * 64 + bit)
            })
        })
    }

    /// The first piece in key order that `accept` takes, starting each
    /// bucket at a random position so that ties are broken at random.
    /// Gives up after visiting `budget` pieces and returns `Err(())`, so the
    /// caller can switch to a scan of the peer's own pieces.
    pub(crate) fn find_rarest(
        &self,
        rng: &mut dyn RngCore,
        mut budget: usize,
        mut accept: impl FnMut(u32) -> bool,
    ) -> Result<Option<u32>, ()> {
        for key in self.nonempty_keys() {
            let bucket = &self.buckets[key as usize];
            let n = bucket.len();
            let start = rng.gen_range(0..n);
            for i in 0..n {
                if budget == 0 {
                    return Err(());
                }
                budget -= 1;
                let piece = bucket[(start + i) % n];
                if accept(piece) {
                    return Ok(Some(piece));
                }
            }
        }
        Ok(None)
    }

    pub(crate) fn key_of(&self, piece: u32) -> Option<u32> {
        let k = self.key[piece as usize];
        (k != ABSENT).then_some(k)
    }

    pub(crate) fn heap_bytes(&self) -> usize {
        self.buckets.capacity() * size_of::<Vec<u32>>()
            + self.buckets.iter().map(|b| b.capacity() * 4).sum::<usize>()
            + self.nonempty.capacity() * 8
            + self.key.capacity() * 4
            + self.slot.capacity() * 4
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    #[test]
    fn rarest_bucket_comes_first_and_priority_beats_rarity() {
        let mut idx = RarityIndex::new(10, 5);
        let mut rng = StdRng::seed_from_u64(1);
        idx.insert(0, idx.key_for(4, 3));
        idx.insert(1, idx.key_for(4, 1));
        idx.insert(2, idx.key_for(4, 2));
        assert_eq!(idx.find_rarest(&mut rng, 100, |_| true), Ok(Some(1)));
        idx.rekey(1, idx.key_for(4, 4));
        assert_eq!(idx.find_rarest(&mut rng, 100, |_| true), Ok(Some(2)));
        // A higher priority wins even when more common.
        idx.insert(3, idx.key_for(7, 4));
        assert_eq!(idx.find_rarest(&mut rng, 100, |_| true), Ok(Some(3)));
        assert!(idx.remove(3));
        assert!(!idx.remove(3));
        assert_eq!(idx.len(), 3);
        assert_eq!(idx.find_rarest(&mut rng, 100, |p| p != 2), Ok(Some(0)));
        assert_eq!(idx.find_rarest(&mut rng, 1, |p| p == 1), Err(()));
    }

    #[test]
    fn availability_above_the_stride_shares_the_last_bucket() {
        let idx = RarityIndex::new(1, 4);
        assert_eq!(idx.key_for(7, 3), idx.key_for(7, 1000));
        assert!(idx.key_for(6, 0) > idx.key_for(7, 1000));
    }

    #[test]
    fn ties_are_broken_at_random() {
        let mut idx = RarityIndex::new(8, 2);
        for p in 0..8 {
            idx.insert(p, idx.key_for(4, 1));
        }
        let mut rng = StdRng::seed_from_u64(7);
        let mut seen = [false; 8];
        for _ in 0..200 {
            let p = idx.find_rarest(&mut rng, 100, |_| true).unwrap().unwrap();
            seen[p as usize] = true;
        }
        assert!(
            seen.iter().all(|&s| s),
            "every tied piece is picked sometimes: {seen:?}"
        );
    }
}
