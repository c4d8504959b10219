//! What we know about every piece: whether we have it, its priority, how
//! many peers have it, and the block states of pieces being downloaded.

use bitswarm_core::{BLOCK_SIZE, BlockRef, PieceIndex};

use crate::bitset::PieceSet;
use crate::rarity::RarityIndex;

const NO_PARTIAL: u32 = u32::MAX;
/// Block state: nobody has been asked for it.
const OPEN: u8 = 0;
/// Block state: received (in-flight counts are 1..=254).
const RECEIVED: u8 = u8::MAX;

/// A piece some of whose blocks have been requested.
#[derive(Debug, Clone)]
pub(crate) struct Partial {
    pub(crate) piece: u32,
    /// Per block: `OPEN`, the number of peers it is in flight with, or `RECEIVED`.
    blocks: Vec<u8>,
    received: u32,
    open: u32,
}

impl Partial {
    pub(crate) fn open_blocks(&self) -> impl Iterator<Item = u32> + '_ {
        self.blocks
            .iter()
            .enumerate()
            .filter(|(_, s)| **s == OPEN)
            .map(|(i, _)| i as u32)
    }

    /// Blocks not received and in flight with fewer than `limit` peers
    /// (open ones included): what endgame may ask for again.
    pub(crate) fn endgame_blocks(&self, limit: u8) -> impl Iterator<Item = u32> + '_ {
        self.blocks
            .iter()
            .enumerate()
            .filter(move |(_, s)| **s != RECEIVED && **s < limit)
            .map(|(i, _)| i as u32)
    }

    pub(crate) fn has_open(&self) -> bool {
        self.open > 0
    }
}

/// What happened to a received block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Received {
    /// New data; `complete` when it was the piece's last missing block.
    New { complete: bool },
    /// We already had it (an endgame duplicate or a late block).
    Duplicate,
}

#[derive(Debug, Clone)]
pub(crate) struct Pieces {
    count: u32,
    piece_length: u32,
    last_length: u32,
    have: PieceSet,
    priority: Vec<u8>,
    /// Per piece: peers that have it, not counting seeds.
    availability: Vec<u16>,
    seeds: u32,
    rarity: RarityIndex,
    /// Pieces not had, priority above 0 and not started: exactly the
    /// pieces in `rarity`, as a bitset for intersections.
    pickable: PieceSet,
    pickable_per_priority: [u32; 8],
    partial_of: Vec<u32>,
    partials: Vec<Partial>,
    open_blocks: u64,
    wanted_left: u32,
}

impl Pieces {
    pub(crate) fn new(count: u32, piece_length: u32, last_length: u32, stride: u32) -> Self {
        let mut pieces = Self {
            count,
            piece_length,
            last_length,
            have: PieceSet::new(count),
            priority: vec![4; count as usize],
            availability: vec![0; count as usize],
            seeds: 0,
            rarity: RarityIndex::new(count, stride),
            pickable: PieceSet::new(count),
            pickable_per_priority: [0; 8],
            partial_of: vec![NO_PARTIAL; count as usize],
            partials: Vec::new(),
            open_blocks: 0,
            wanted_left: count,
        };
        for p in 0..count {
            pieces.make_pickable(p);
        }
        pieces
    }

    pub(crate) fn count(&self) -> u32 {
        self.count
    }

    pub(crate) fn piece_len(&self, piece: u32) -> u32 {
        if piece + 1 == self.count {
            self.last_length
        } else {
            self.piece_length
        }
    }

    pub(crate) fn blocks_in(&self, piece: u32) -> u32 {
        self.piece_len(piece).div_ceil(BLOCK_SIZE)
    }

    pub(crate) fn block(&self, piece: u32, index: u32) -> BlockRef {
        let offset = index * BLOCK_SIZE;
        BlockRef {
            piece: PieceIndex(piece),
            offset,
            length: (self.piece_len(piece) - offset).min(BLOCK_SIZE),
        }
    }

    /// The block index of `block` if it is exactly one of ours.
    pub(crate) fn block_index(&self, block: &BlockRef) -> Option<u32> {
        let piece = block.piece.0;
        if piece >= self.count || block.offset % BLOCK_SIZE != 0 {
            return None;
        }
        let index = block.offset / BLOCK_SIZE;
        (index < self.blocks_in(piece) && self.block(piece, index) == *block).then_some(index)
    }

    pub(crate) fn have(&self) -> &PieceSet {
        &self.have
    }

    pub(crate) fn has(&self, piece: u32) -> bool {
        self.have.get(piece)
    }

    pub(crate) fn completed(&self) -> u32 {
        self.have.count()
    }

    pub(crate) fn priority(&self, piece: u32) -> u8 {
        self.priority[piece as usize]
    }

    /// Wanted: not had and priority above 0.
    pub(crate) fn wants(&self, piece: u32) -> bool {
        piece < self.count && !self.have.get(piece) && self.priority[piece as usize] > 0
    }

    pub(crate) fn wanted_left(&self) -> u32 {
        self.wanted_left
    }

    pub(crate) fn availability(&self, piece: u32) -> u32 {
        u32::from(self.availability[piece as usize]) + self.seeds
    }

    pub(crate) fn pickable(&self) -> &PieceSet {
        &self.pickable
    }

    pub(crate) fn pickable_at(&self, priority: u8) -> u32 {
        self.pickable_per_priority[priority as usize]
    }

    pub(crate) fn pickable_count(&self) -> u32 {
        self.pickable.count()
    }

    pub(crate) fn rarity(&self) -> &RarityIndex {
        &self.rarity
    }

    pub(crate) fn open_blocks(&self) -> u64 {
        self.open_blocks
    }

    pub(crate) fn partials(&self) -> &[Partial] {
        &self.partials
    }

    pub(crate) fn partial(&self, piece: u32) -> Option<&Partial> {
        let i = *self.partial_of.get(piece as usize)?;
        self.partials.get(i as usize)
    }

    fn key(&self, piece: u32) -> u32 {
        // Seeds raise every piece alike, so they do not enter the key.
        self.rarity.key_for(
            self.priority[piece as usize],
            u32::from(self.availability[piece as usize]),
        )
    }

    fn make_pickable(&mut self, piece: u32) {
        let prio = self.priority[piece as usize];
        if prio == 0 || self.have.get(piece) || self.partial_of[piece as usize] != NO_PARTIAL {
            return;
        }
        if self.pickable.insert(piece) {
            self.pickable_per_priority[prio as usize] += 1;
            self.rarity.insert(piece, self.key(piece));
        }
    }

    fn make_unpickable(&mut self, piece: u32) {
        if self.pickable.remove(piece) {
            self.pickable_per_priority[self.priority[piece as usize] as usize] -= 1;
            self.rarity.remove(piece);
        }
    }

    pub(crate) fn add_seed(&mut self) {
        self.seeds += 1;
    }

    pub(crate) fn remove_seed(&mut self) {
        self.seeds = self.seeds.saturating_sub(1);
    }

    pub(crate) fn increment(&mut self, piece: u32) {
        let a = &mut self.availability[piece as usize];
        *a = a.saturating_add(1);
        if self.rarity.contains(piece) {
            self.rarity.rekey(piece, self.key(piece));
        }
    }

    pub(crate) fn decrement(&mut self, piece: u32) {
        let a = &mut self.availability[piece as usize];
        *a = a.saturating_sub(1);
        if self.rarity.contains(piece) {
            self.rarity.rekey(piece, self.key(piece));
        }
    }

    pub(crate) fn set_priority(&mut self, piece: u32, priority: u8) {
        let old = self.priority[piece as usize];
        if old == priority {
            return;
        }
        let was_pickable = self.pickable.get(piece);
        self.make_unpickable(piece);
        if !self.have.get(piece) {
            match (old, priority) {
                (0, _) => self.wanted_left += 1,
                (_, 0) => self.wanted_left -= 1,
                _ => {}
            }
        }
        self.priority[piece as usize] = priority;
        if was_pickable || old == 0 {
            self.make_pickable(piece);
        }
    }

    /// Marks a piece as started: it leaves the rarity index and gets block states.
    pub(crate) fn start(&mut self, piece: u32) {
        if self.partial_of[piece as usize] != NO_PARTIAL {
            return;
        }
        self.make_unpickable(piece);
        let blocks = self.blocks_in(piece);
        self.partial_of[piece as usize] = self.partials.len() as u32;
        self.partials.push(Partial {
            piece,
            blocks: vec![OPEN; blocks as usize],
            received: 0,
            open: blocks,
        });
        self.open_blocks += u64::from(blocks);
    }

    fn partial_mut(&mut self, piece: u32) -> Option<&mut Partial> {
        let i = *self.partial_of.get(piece as usize)?;
        self.partials.get_mut(i as usize)
    }

    /// One more peer has this block in flight.
    pub(crate) fn mark_requested(&mut self, piece: u32, index: u32) {
        let mut opened = false;
        if let Some(p) = self.partial_mut(piece) {
            let s = &mut p.blocks[index as usize];
            if *s == OPEN {
                p.open -= 1;
                opened = true;
            }
            if *s != RECEIVED {
                *s = s.saturating_add(1).min(RECEIVED - 1);
            }
        }
        if opened {
            self.open_blocks -= 1;
        }
    }

    /// One peer fewer has this block in flight (timeout, reject, choke,
    /// disconnect, cancel); it becomes open again when nobody has it.
    pub(crate) fn mark_unrequested(&mut self, piece: u32, index: u32) {
        let mut reopened = false;
        if let Some(p) = self.partial_mut(piece) {
            let s = &mut p.blocks[index as usize];
            if *s != OPEN && *s != RECEIVED {
                *s -= 1;
                if *s == OPEN {
                    p.open += 1;
                    reopened = true;
                }
            }
        }
        if reopened {
            self.open_blocks += 1;
        }
    }

    /// Whether any block of the piece is in flight with some peer.
    pub(crate) fn has_in_flight(&self, piece: u32) -> bool {
        self.partial(piece)
            .is_some_and(|p| p.blocks.iter().any(|&s| s != OPEN && s != RECEIVED))
    }

    pub(crate) fn in_flight_count(&self, piece: u32, index: u32) -> u8 {
        self.partial(piece)
            .map_or(0, |p| match p.blocks[index as usize] {
                RECEIVED => 0,
                n => n,
            })
    }

    pub(crate) fn mark_received(&mut self, piece: u32, index: u32) -> Received {
        let Some(p) = self.partial_mut(piece) else {
            return Received::Duplicate;
        };
        let s = &mut p.blocks[index as usize];
        if *s == RECEIVED {
            return Received::Duplicate;
        }
        let was_open = *s == OPEN;
        *s = RECEIVED;
        p.received += 1;
        if was_open {
            p.open -= 1;
        }
        let complete = p.received as usize == p.blocks.len();
        if was_open {
            self.open_blocks -= 1;
        }
        Received::New { complete }
    }

    fn drop_partial(&mut self, piece: u32) {
        let i = self.partial_of[piece as usize];
        if i == NO_PARTIAL {
            return;
        }
        self.partial_of[piece as usize] = NO_PARTIAL;
        let removed = self.partials.swap_remove(i as usize);
        self.open_blocks -= u64::from(removed.open);
        if let Some(moved) = self.partials.get(i as usize) {
            self.partial_of[moved.piece as usize] = i;
        }
    }

    /// The piece passed its hash check (or was had from the start).
    pub(crate) fn mark_have(&mut self, piece: u32) -> bool {
        self.drop_partial(piece);
        self.make_unpickable(piece);
        let fresh = self.have.insert(piece);
        if fresh && self.priority[piece as usize] > 0 {
            self.wanted_left -= 1;
        }
        fresh
    }

    /// The piece failed its hash check: every block is wanted again.
    pub(crate) fn mark_failed(&mut self, piece: u32) {
        if self.have.get(piece) {
            return;
        }
        self.drop_partial(piece);
        self.make_pickable(piece);
    }

    pub(crate) fn heap_bytes(&self) -> usize {
        self.have.heap_bytes()
            + self.priority.capacity()
            + self.availability.capacity() * 2
            + self.rarity.heap_bytes()
            + self.pickable.heap_bytes()
            + self.partial_of.capacity() * 4
            + self.partials.capacity() * size_of::<Partial>()
            + self
                .partials
                .iter()
                .map(|p| p.blocks.capacity())
                .sum::<usize>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn block_states_round_trip() {
        let mut p = Pieces::new(3, 40 * 1024, 20 * 1024, 8);
        assert_eq!(p.blocks_in(0), 3);
        assert_eq!(p.blocks_in(2), 2);
        assert_eq!(p.pickable_count(), 3);
        p.start(1);
        assert_eq!(p.pickable_count(), 2);
        assert_eq!(p.open_blocks(), 3);
        p.mark_requested(1, 0);
        p.mark_requested(1, 0);
        assert_eq!(p.in_flight_count(1, 0), 2);
        assert_eq!(p.open_blocks(), 2);
        p.mark_unrequested(1, 0);
        p.mark_unrequested(1, 0);
        assert_eq!(p.open_blocks(), 3);
        assert_eq!(p.mark_received(1, 0), Received::New { complete: false });
        assert_eq!(p.mark_received(1, 0), Received::Duplicate);
        assert_eq!(p.mark_received(1, 1), Received::New { complete: false });
        assert_eq!(p.mark_received(1, 2), Received::New { complete: true });
        assert_eq!(p.open_blocks(), 0);
        p.mark_failed(1);
        assert!(p.pickable().get(1));
        assert!(p.partial(1).is_none());
        assert!(p.mark_have(1));
        assert!(!p.pickable().get(1));
        assert_eq!(p.wanted_left(), 2);
    }

    #[test]
    fn block_index_rejects_foreign_layouts() {
        let p = Pieces::new(2, 40 * 1024, 20 * 1024, 8);
        let ok = p.block(1, 1);
        assert_eq!(p.block_index(&ok), Some(1));
        let mut bad = ok;
        bad.length = BLOCK_SIZE;
        assert_eq!(p.block_index(&bad), None);
        bad = ok;
        bad.offset = 1;
        assert_eq!(p.block_index(&bad), None);
        bad = ok;
        bad.piece = PieceIndex(2);
        assert_eq!(p.block_index(&bad), None);
    }

    #[test]
    fn priority_zero_leaves_the_pickable_set() {
        let mut p = Pieces::new(4, BLOCK_SIZE, BLOCK_SIZE, 8);
        p.set_priority(2, 0);
        assert!(!p.pickable().get(2));
        assert_eq!(p.wanted_left(), 3);
        p.set_priority(2, 7);
        assert!(p.pickable().get(2));
        assert_eq!(p.pickable_at(7), 1);
        assert_eq!(p.wanted_left(), 4);
    }
}
