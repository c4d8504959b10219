//! A fixed-length set of piece indices stored as 64-bit words.
//!
//! The wire format (`bitswarm_core::Bitfield`) is byte-oriented and
//! big-endian per byte; the hot paths here (intersections of "pickable" and
//! "the peer has", cyclic scans from a random start) want whole words, so
//! peers' bitfields are converted once on arrival.

use bitswarm_core::Bitfield;
use rand::{Rng, RngCore};

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct PieceSet {
    words: Vec<u64>,
    len: u32,
    ones: u32,
}

impl PieceSet {
    pub(crate) fn new(len: u32) -> Self {
        Self {
            words: vec![0; len.div_ceil(64) as usize],
            len,
            ones: 0,
        }
    }

    pub(crate) fn full(len: u32) -> Self {
        let mut set = Self {
            words: vec![u64::MAX; len.div_ceil(64) as usize],
            len,
            ones: len,
        };
        let spare = set.words.len() as u32 * 64 - len;
        if let (Some(last), true) = (set.words.last_mut(), spare > 0) {
            *last >>= spare;
        }
        set
    }

    /// Converts a wire bitfield, which must already have `len` pieces.
    pub(crate) fn from_bitfield(bitfield: &Bitfield) -> Self {
        let mut set = Self::new(bitfield.len());
        for (i, byte) in bitfield.as_bytes().iter().enumerate() {
            // Wire order puts piece 8i in the high bit; ours in the low bit.
            set.words[i / 8] |= u64::from(byte.reverse_bits()) << (8 * (i % 8));
        }
        set.ones = set.words.iter().map(|w| w.count_ones()).sum();
        set
    }

    pub(crate) fn to_bitfield(&self) -> Bitfield {
        let mut bf = Bitfield::new(self.len);
        for p in self.iter_ones() {
            // In range by construction.
            let _ = bf.set(bitswarm_core::PieceIndex(p), true);
        }
        bf
    }

    pub(crate) fn len(&self) -> u32 {
        self.len
    }

    pub(crate) fn count(&self) -> u32 {
        self.ones
    }

    pub(crate) fn is_full(&self) -> bool {
        self.ones == self.len
    }

    pub(crate) fn get(&self, i: u32) -> bool {
        i < self.len && self.words[(i / 64) as usize] >> (i % 64) & 1 == 1
    }

    /// Sets bit `i` (which must be in range); returns whether it was clear.
    pub(crate) fn insert(&mut self, i: u32) -> bool {
        let word = &mut self.words[(i / 64) as usize];
        let bit = 1u64 << (i % 64);
        let fresh = *word & bit == 0;
        *word |= bit;
        self.ones += u32::from(fresh);
        fresh
    }

    /// Clears bit `i` (which must be in range); returns whether it was set.
    pub(crate) fn remove(&mut self, i: u32) -> bool {
        let word = &mut self.words[(i / 64) as usize];
        let bit = 1u64 << (i % 64);
        let was = *word & bit != 0;
        *word &= !bit;
        self.ones -= u32::from(was);
        was
    }

    pub(crate) fn iter_ones(&self) -> impl Iterator<Item = u32> + '_ {
        self.words.iter().enumerate().flat_map(|(wi, &w)| {
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

    /// Pieces set in both `self` and `other`, in increasing order.
    pub(crate) fn iter_and<'a>(&'a self, other: &'a Self) -> impl Iterator<Item = u32> + 'a {
        self.words
            .iter()
            .zip(&other.words)
            .enumerate()
            .flat_map(|(wi, (&a, &b))| {
                let mut word = a & b;
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

    /// The lowest index `>= from` set in both sets (or in `self` when
    /// `other` is `None`), below `until`.
    pub(crate) fn next_and(&self, other: Option<&Self>, from: u32, until: u32) -> Option<u32> {
        let until = until.min(self.len);
        if from >= until {
            return None;
        }
        let mut wi = (from / 64) as usize;
        let mut mask = u64::MAX << (from % 64);
        while (wi as u32) * 64 < until {
            let mut word = self.words[wi] & mask;
            if let Some(o) = other {
                word &= o.words.get(wi).copied().unwrap_or(0);
            }
            if word != 0 {
                let i = wi as u32 * 64 + word.trailing_zeros();
                return (i < until).then_some(i);
            }
            wi += 1;
            mask = u64::MAX;
        }
        None
    }

    /// The lowest index `>= from` and below `until` that is not set.
    pub(crate) fn next_clear(&self, from: u32, until: u32) -> Option<u32> {
        let until = until.min(self.len);
        if from >= until {
            return None;
        }
        let mut wi = (from / 64) as usize;
        let mut mask = u64::MAX << (from % 64);
        while (wi as u32) * 64 < until {
            let word = !self.words[wi] & mask;
            if word != 0 {
                let i = wi as u32 * 64 + word.trailing_zeros();
                return (i < until).then_some(i);
            }
            wi += 1;
            mask = u64::MAX;
        }
        None
    }

    /// A uniformly chosen word to start a cyclic scan from, then every set
    /// bit of `self & other` in cyclic order from there, filtered by `keep`.
    /// Returns the first match. Cost: one pass over the words at most.
    pub(crate) fn cyclic_and_find(
        &self,
        other: &Self,
        rng: &mut dyn RngCore,
        mut keep: impl FnMut(u32) -> bool,
    ) -> Option<u32> {
        let n = self.words.len();
        if n == 0 {
            return None;
        }
        let start = rng.gen_range(0..n);
        // A random bit offset inside the first word too, so that pieces of
        // one word are not always tried in the same order.
        let rot = rng.gen_range(0..64u32);
        for step in 0..=n {
            let wi = (start + step) % n;
            let mut word = self.words[wi] & other.words.get(wi).copied().unwrap_or(0);
            if step == 0 {
                word &= u64::MAX << rot;
            } else if step == n {
                word &= !(u64::MAX << rot);
            }
            while word != 0 {
                let bit = word.trailing_zeros();
                word &= word - 1;
                let i = wi as u32 * 64 + bit;
                if keep(i) {
                    return Some(i);
                }
            }
        }
        None
    }

    /// Heap bytes held.
    pub(crate) fn heap_bytes(&self) -> usize {
        self.words.capacity() * 8
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bitswarm_core::PieceIndex;
    use proptest::prelude::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    #[test]
    fn full_has_no_spare_bits() {
        let s = PieceSet::full(70);
        assert_eq!(s.count(), 70);
        assert_eq!(s.iter_ones().count(), 70);
        assert!(!s.get(70));
        assert!(PieceSet::full(0).is_full());
    }

    proptest! {
        #[test]
        fn bitfield_round_trip(len in 0u32..300, picks in proptest::collection::vec(any::<u32>(), 0..64)) {
            let mut bf = Bitfield::new(len);
            for p in &picks {
                if len > 0 {
                    bf.set(PieceIndex(p % len), true).unwrap();
                }
            }
            let set = PieceSet::from_bitfield(&bf);
            prop_assert_eq!(set.count(), bf.count_ones());
            let ours: Vec<u32> = set.iter_ones().collect();
            let wire: Vec<u32> = bf.iter_ones().map(|p| p.0).collect();
            prop_assert_eq!(ours, wire);
            prop_assert_eq!(set.to_bitfield(), bf);
        }

        #[test]
        fn cyclic_find_finds_every_common_bit(len in 1u32..300, a in proptest::collection::vec(any::<u32>(), 0..64), b in proptest::collection::vec(any::<u32>(), 0..64), seed: u64) {
            let mut x = PieceSet::new(len);
            let mut y = PieceSet::new(len);
            for p in &a { x.insert(p % len); }
            for p in &b { y.insert(p % len); }
            let common: Vec<u32> = x.iter_and(&y).collect();
            let mut rng = StdRng::seed_from_u64(seed);
            let mut seen = Vec::new();
            let found = x.cyclic_and_find(&y, &mut rng, |i| { seen.push(i); false });
            prop_assert_eq!(found, None);
            seen.sort_unstable();
            prop_assert_eq!(&seen, &common);
            for from in [0, len / 2, len.saturating_sub(1)] {
                let expect = common.iter().copied().find(|&i| i >= from);
                prop_assert_eq!(x.next_and(Some(&y), from, len), expect);
            }
        }
    }
}
