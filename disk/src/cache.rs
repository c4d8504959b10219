//! The read cache: whole verified pieces, least recently used first out,
//! bounded in bytes.

use std::collections::{BTreeMap, HashMap};

use bitswarm_core::InfoHash;
use bytes::Bytes;

/// A cached piece's key.
type Key = (InfoHash, u32);

/// Whole pieces by (torrent, piece), at most `capacity` bytes in all.
#[derive(Debug)]
pub(crate) struct ReadCache {
    capacity: usize,
    used: usize,
    tick: u64,
    entries: HashMap<Key, (Bytes, u64)>,
    by_age: BTreeMap<u64, Key>,
}

impl ReadCache {
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            capacity,
            used: 0,
            tick: 0,
            entries: HashMap::new(),
            by_age: BTreeMap::new(),
        }
    }

    /// Whether a piece of `len` bytes may be cached at all.
    pub(crate) fn fits(&self, len: usize) -> bool {
        len <= self.capacity
    }

    /// The piece, marked as used now.
    pub(crate) fn get(&mut self, key: Key) -> Option<Bytes> {
        self.tick += 1;
        let tick = self.tick;
        let (data, age) = self.entries.get_mut(&key)?;
        self.by_age.remove(age);
        *age = tick;
        self.by_age.insert(tick, key);
        Some(data.clone())
    }

    /// Adds a piece, evicting the least recently used ones to make room.
    pub(crate) fn insert(&mut self, key: Key, data: Bytes) {
        if !self.fits(data.len()) {
            return;
        }
        self.remove(key);
        while self.used + data.len() > self.capacity {
            let Some((_, oldest)) = self.by_age.pop_first() else {
                break;
            };
            if let Some((old, _)) = self.entries.remove(&oldest) {
                self.used -= old.len();
            }
        }
        self.tick += 1;
        self.used += data.len();
        self.by_age.insert(self.tick, key);
        self.entries.insert(key, (data, self.tick));
    }

    /// Drops one piece.
    pub(crate) fn remove(&mut self, key: Key) {
        if let Some((old, age)) = self.entries.remove(&key) {
            self.used -= old.len();
            self.by_age.remove(&age);
        }
    }

    /// Drops every piece of a torrent.
    pub(crate) fn remove_torrent(&mut self, info_hash: InfoHash) {
        let keys: Vec<Key> = self
            .entries
            .keys()
            .filter(|k| k.0 == info_hash)
            .copied()
            .collect();
        for k in keys {
            self.remove(k);
        }
    }

    /// Bytes held.
    #[cfg(test)]
    pub(crate) fn used(&self) -> usize {
        self.used
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bitswarm_core::InfoHashV1;

    #[test]
    fn evicts_least_recently_used_within_capacity() {
        let ih = InfoHash::V1(InfoHashV1([1; 20]));
        let mut c = ReadCache::new(300);
        c.insert((ih, 0), Bytes::from(vec![0; 100]));
        c.insert((ih, 1), Bytes::from(vec![1; 100]));
        c.insert((ih, 2), Bytes::from(vec![2; 100]));
        assert!(c.get((ih, 0)).is_some());
        c.insert((ih, 3), Bytes::from(vec![3; 100]));
        assert!(c.get((ih, 1)).is_none(), "1 was least recently used");
        assert!(c.get((ih, 0)).is_some());
        assert_eq!(c.used(), 300);
        c.insert((ih, 4), Bytes::from(vec![4; 400]));
        assert_eq!(c.used(), 300, "a piece larger than the cache is not kept");
        c.remove_torrent(ih);
        assert_eq!(c.used(), 0);
    }
}
